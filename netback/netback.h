/* netback: the control half of a vif backend — the xenbus handshake of
 * every vif under /local/domain/0/backend/vif (xenbus.c), the xenstore
 * watch that drives it (watch.c) and the frontend's connect keys (fekeys.c),
 * as Linux netback's xenbus.c does them. The data half is vif/netif.h.
 *
 * One implementation, two consumers: vifback (a TAP per vif, rings served
 * by a worker process per domain) and dpswitch (rings served straight into
 * a DPDK switch). A consumer fills struct nb_ops: what to do when a vif is
 * probed (vifback: create its TAP), when its frontend connects (hand the
 * rings to whatever serves them), disconnects, goes away, or its rate=
 * changes. The state machine, the checks of everything the guest and the
 * toolstack wrote, and the error reporting a toolstack looks for are here,
 * once. */
#ifndef NETBACK_NETBACK_H
#define NETBACK_NETBACK_H

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>

#include "lib/xs_client.h"
#include "lib/xs_retry.h"
#include "vif/netif.h"
#include "vif/vif.h"

#define NB_MAX_QUEUES 8u
#define NB_PATH_MAX 96

struct nb_queue_cfg {
	uint32_t tx_ref, rx_ref;
	uint32_t evtchn_tx, evtchn_rx; /* equal unless split */
	bool split;
};

/* The frontend's keys, read once and checked (fekeys.c). */
struct nb_fe_cfg {
	struct netif_features feat;
	unsigned nqueues;
	struct nb_queue_cfg q[NB_MAX_QUEUES];
};

/* Frontend keys read at connect, in nb_fe_parse()'s order. */
enum nb_fe_key {
	NB_FK_REQUEST_RX_COPY,
	NB_FK_RX_NOTIFY,
	NB_FK_SG,
	NB_FK_GSO_TCPV4,
	NB_FK_GSO_TCPV6,
	NB_FK_NO_CSUM_OFFLOAD,
	NB_FK_IPV6_CSUM_OFFLOAD,
	NB_FK_NUM_QUEUES,
	NB_FK_COUNT
};
/* Per-queue keys: top level for one queue, queue-N/ for several. */
enum nb_fq_key { NB_FQ_TX_REF, NB_FQ_RX_REF, NB_FQ_EVTCHN, NB_FQ_EVTCHN_TX, NB_FQ_EVTCHN_RX, NB_FQ_COUNT };

const char *nb_fe_key_name(enum nb_fe_key k);
const char *nb_fq_key_name(enum nb_fq_key k);

/* Number of queues the frontend asks for (multi-queue-num-queues, absent:
 * 1), checked against 1..max_queues. -EINVAL with err_msg(). */
int nb_fe_num_queues(const char *val, unsigned max_queues, unsigned *n);
/* The whole configuration from values as read (NULL: absent); q[i] are
 * queue i's keys. -EINVAL (-EOPNOTSUPP for a frontend that does not ask
 * for rx-copy) with err_msg() naming the key and the value. */
int nb_fe_parse(const char *const fe[NB_FK_COUNT], const char *const q[][NB_FQ_COUNT],
		unsigned nqueues, struct nb_fe_cfg *out);

/* ---- the handshake (xenbus.c, watch.c) ---- */

/* Xen's enum xenbus_state */
enum {
	XB_UNKNOWN = 0,
	XB_INITIALISING = 1,
	XB_INITWAIT = 2,
	XB_INITIALISED = 3,
	XB_CONNECTED = 4,
	XB_CLOSING = 5,
	XB_CLOSED = 6,
};

/* ---- the reconnect hold of a frontend that broke the protocol (hold.c) ---- */

/* 200 ms: a frontend that broke the ring once (a guest kernel's bug)
 * reconnects before anyone notices, and a reconnect loop drops from some
 * 35 a second to 5 at once; doubling, 8 violations in a row reach the cap.
 * 30 s: libxl's patience is 10 s per step, a held guest sees the backend
 * Closed meanwhile, as after any fatal error. 60 s connected cleanly: the
 * frontend works; what it did before is forgiven. */
#define NB_HOLD_FIRST_MS 200u
#define NB_HOLD_MAX_MS 30000u
#define NB_HOLD_FORGIVE_MS 60000u

struct nb_hold_cfg {
	uint64_t first_ms, max_ms, forgive_ms;
};

struct nb_hold {
	uint64_t backoff_ms; /* the last hold's length; 0: nothing to hold against */
	uint64_t until_ms;   /* no reconnect before (0: none) */
	uint64_t since_ms;   /* connected since (0: not connected) */
	unsigned violations; /* faults so far: violations, servers lost twice */
	bool told;	     /* this hold was logged (once per violation) */
	bool server_died;    /* the last fault: nb_vif_lost's second death */
};

/* The clock holds run on: CLOCK_MONOTONIC in ms, never 0. */
uint64_t nb_now_ms(void);
void nb_hold_cfg_default(struct nb_hold_cfg *c);
/* <PREFIX>_HOLD_FIRST_MS, _HOLD_MAX_MS and _HOLD_FORGIVE_MS over *c when
 * set; -EINVAL with err_msg() for a value that is not 1..ENV_MS_MAX (lib/env_ms.h)
 * or a first hold above the cap (*c unchanged). */
int nb_hold_cfg_from_env(struct nb_hold_cfg *c, const char *prefix);
/* The rings are served from now (ms on a monotonic clock, > 0). */
void nb_hold_connected(struct nb_hold *h, uint64_t now);
/* They are not any more, cleanly: forgiven if they were for forgive_ms. */
void nb_hold_disconnected(struct nb_hold *h, const struct nb_hold_cfg *c, uint64_t now);
/* The frontend broke the protocol now: the next hold (first_ms, doubled
 * per violation not forgiven, at most max_ms), which this returns. */
uint64_t nb_hold_violation(struct nb_hold *h, const struct nb_hold_cfg *c, uint64_t now);
/* How long a reconnect still waits (0: none). */
uint64_t nb_hold_left(const struct nb_hold *h, uint64_t now);

struct nb_vif {
	uint32_t domid, devid;
	char be[NB_PATH_MAX]; /* our backend directory */
	char fe[NB_PATH_MAX]; /* the frontend's, checked against domid/devid */
	char ifname[IFNAMSIZ];
	int state;	 /* the backend state we last wrote, XB_UNKNOWN before (or the
			  * toolstack's Closing of a vif torn down before we probed it) */
	bool probed;	 /* features advertised, the consumer's probe done */
	bool fe_watched; /* watch on <fe>/state registered */
	bool connected;	 /* the consumer serves its rings */
	bool gone;	 /* torn down for the toolstack: nothing until the dir goes */
	bool removed;	 /* a write found the dir gone: one seen after is a new device's */
	bool pending;	 /* in the look queue */
	bool ignored;	 /* the consumer does not serve it (another backend's) */
	int port;	 /* the consumer's: vifback's TAP fd, dpswitch's port; -1 none */
	bool held;	 /* its reconnect waits for hold.until_ms */
	bool resume;	 /* its server died: serve its rings again (nb_vif_lost) */
	uint64_t resumed_ms; /* when that last happened; 0: not since it connected */
	struct nb_hold hold;
	/* xenstored refused one of its look's requests (its quota, EACCES,
	 * EIO...): looked at again at refused_ms (0: not waiting), the
	 * refused_tries-th refusal in a row */
	uint64_t refused_ms;
	unsigned refused_tries;
	struct nb_fe_cfg cfg;
	struct vif_rate rate;
	struct nb_vif *next, *qnext; /* hash chain, look queue */
	struct nb_vif **pprev;	     /* where the hash chain points at us */
};

struct nb_back;

/* What a consumer does at each step. Each returns 0 or -errno with
 * err_msg(); a failure of probe or connect is reported as the vif's
 * (error node, Closing), never the process's. */
struct nb_ops {
	/* Serve this vif? bridge is its backend key (NULL: absent). NULL
	 * hook: every vif. A vif refused stays untouched (another backend's). */
	bool (*serves)(struct nb_back *b, const struct nb_vif *v, const char *bridge);
	/* Before InitWait: make the vif's port (v->port); vifname and bridge
	 * are the backend keys (bridge as serves saw it), NULL when absent,
	 * vifname also when not a valid name. */
	int (*probe)(struct nb_back *b, struct nb_vif *v, const char *vifname, const char *bridge);
	/* Frontend Connected: serve the rings v->cfg describes, at v->rate. */
	int (*connect)(struct nb_back *b, struct nb_vif *v);
	/* Stop serving the rings (frontend closing, vif going). */
	void (*disconnect)(struct nb_back *b, struct nb_vif *v);
	/* The vif is gone (online=0 or its directory removed): its port too. */
	void (*release)(struct nb_back *b, struct nb_vif *v);
	/* rate= changed while connected (v->rate is the new one). */
	void (*rate)(struct nb_back *b, struct nb_vif *v);
	/* Daemon shutdown: let go of the port without removing it. */
	void (*close)(struct nb_back *b, struct nb_vif *v);
	/* A vif of ours first seen torn down (online=0), never probed by
	 * this process: it was restarted while the toolstack removed the
	 * device. What an earlier run left for it goes, as release would
	 * have taken it (vifback: its persistent TAP; dpswitch: the plug
	 * kept for it); nothing is made. vifname as for probe. Also for a
	 * vif never probed whose directory is gone at its look (removed
	 * after the run started, before the look), unless serves refused
	 * it at an earlier look: its bridge unknown then (vifname NULL),
	 * the hook takes only what it alone makes (a TAP, a plug it kept),
	 * which makes the vif its own. Optional; may come more than once
	 * for a vif. */
	void (*forget)(struct nb_back *b, struct nb_vif *v, const char *vifname);
	/* A reconnect of a frontend that broke the protocol is held ms
	 * (once per violation; optional: vifback counts it). */
	void (*held)(struct nb_back *b, struct nb_vif *v, uint64_t ms);
};

#define NB_HASH 1024u
/* A batch not answered by then: xenstored counts as gone (hung). */
#define NB_XS_TIMEOUT_MS 2000u

/* An UNWATCH xenstored refused (xenbus.c): the watch still counts
 * against the connection's quota there, so it is asked again. */
struct nb_unwatch;

struct nb_back {
	struct xsc *xs;
	unsigned max_queues;
	bool gso; /* advertise feature-gso-tcpv4/v6 */
	const struct nb_ops *ops;
	struct nb_vif *hash[NB_HASH]; /* by domid and devid: O(1) at any count */
	unsigned nvifs;
	struct nb_vif *qhead, **qtail;
	struct nb_hold_cfg hold; /* defaults from nb_back_init() */
	uint64_t hold_next;	 /* the earliest held vif's end of hold, or quota retry (0: none) */
	/* A listing of the backend root or of a domain's directory that
	 * xenstored refused (watch.c), taken again (lib/xs_retry.h). What
	 * else xenstored refuses is asked again after the same backoff
	 * (XS_REFUSED_*): a vif's look and a listing XS_REFUSED_TRIES times,
	 * then they wait for their next watch event. */
	struct xs_relist relist;
	struct nb_unwatch *unwatch; /* refused UNWATCHes, asked again */
	/* xenstore lost (watch.c): the rings connected are served on, the
	 * connection is opened again at xs_retry_ms (0: connected), on
	 * lib/xs_retry.h's backoff; xs is the lost one meanwhile (hung up:
	 * every call on it fails at once) */
	unsigned xs_timeout_ms; /* for xsc_open: NB_XS_TIMEOUT_MS */
	uint64_t xs_retry_ms, xs_lost_ms;
	unsigned xs_tries;
	unsigned xs_reconnects; /* connections opened again so far */
	struct xs_retry xs_retry;
	/* the consumer's work while a request waits (xsc_wait_hook), on
	 * every connection watch.c opens again; NULL: none (vifback, whose
	 * workers serve the rings). The caller sets it on the first one. */
	xsc_wait_fn *xs_wait;
	void *xs_wait_arg;
};

/* The loop must wake at ms (nb_now_ms's clock), if sooner than for
 * anything else (nb_back_timeout_ms). */
void nb_back_wake_at(struct nb_back *b, uint64_t ms);
/* The connection to xenstore is gone (watch.c): what xenstored kept for
 * it went with it (the frontends' watches, a refused UNWATCH to ask
 * again), and a refused listing is not taken again (the scan after
 * reconnecting lists everything). */
void nb_back_conn_lost(struct nb_back *b);

/* b->xs (xsc_open with b->xs_timeout_ms), max_queues, gso and ops are
 * the caller's to set after this. */
void nb_back_init(struct nb_back *b);
/* Watches the backend root (the watch fires at once: a full scan). */
int nb_back_watch(struct nb_back *b);
/* Drains xenstore's events (at most a bounded number) and takes the steps
 * they call for. A connection lost or timed out is not the caller's
 * error: the vifs connected stay served, and the connection is opened
 * again here (logged once per loss), its watch set again and every vif
 * looked at again (the watch's first event is a full scan), on
 * lib/xs_retry.h's backoff (nb_back_timeout_ms says when). Returns 0. */
int nb_back_run(struct nb_back *b);
/* Something to do without waiting for the xenstore fd (a hold ended
 * too, or a reconnect is due). */
bool nb_back_busy(struct nb_back *b);
/* The fd to poll for xenstore's events, -1 while xenstore is lost. */
int nb_back_fd(const struct nb_back *b);
/* Milliseconds until a held reconnect (or a quota retry, or a new
 * connection to xenstore) is due (for poll), -1: none. */
int nb_back_timeout_ms(struct nb_back *b);
/* A hold (or a quota retry's wait) has ended (nb_back_busy asks). */
bool nb_back_hold_due(struct nb_back *b);
/* The vifs whose hold ended are looked at again (nb_back_run calls it). */
void nb_back_holds_end(struct nb_back *b);
/* Daemon shutdown: Closing for vifs we serve, ports closed, all freed. */
void nb_back_shutdown(struct nb_back *b);

/* Calls fn for every vif known (fn must not free it). */
void nb_vif_foreach(struct nb_back *b, void (*fn)(struct nb_back *b, struct nb_vif *v, void *arg),
		    void *arg);
struct nb_vif *nb_vif_get(struct nb_back *b, uint32_t domid, uint32_t devid, bool create);
void nb_vif_mark(struct nb_back *b, struct nb_vif *v);
/* Looks at a vif's keys and the frontend's state and takes the step the
 * handshake calls for. 1: the directory is gone (the caller frees the vif
 * with nb_vif_forget); -errno with xsc_broken(b->xs): xenstore is gone;
 * -EINVAL, -EOPNOTSUPP, -EEXIST, -EAGAIN: this vif's step failed (logged);
 * any other -errno: xenstored refused one of this vif's requests
 * (-EDQUOT: a transaction, for its quota; -ENOSPC: a write or commit, for
 * its node quota or a full store; -EACCES, -EIO, ...: nb_vif_backoff). */
int nb_vif_look(struct nb_back *b, struct nb_vif *v);
/* Its look's request was refused (-EDQUOT: xenstored's quota of open
 * transactions, held by others; -ENOSPC: of nodes; any refusal of a
 * connection that still serves): not xenstore gone, and not the other
 * vifs'; it is looked at again after a backoff (nb_back_timeout_ms), a
 * bounded number of times. */
void nb_vif_backoff(struct nb_back *b, struct nb_vif *v);
void nb_vif_forget(struct nb_back *b, struct nb_vif *v);
/* Whatever served the rings died (the consumer has let go of them), not
 * through the frontend's fault: the rings are served again, resumed where
 * the last responses went, with the frontend kept Connected. A frontend
 * such as Linux's does not reconnect after a backend's Closing: it would
 * be without network until re-attached. Once per frontend connection, and
 * again only hold.forgive_ms after the last time: when the server dies
 * again sooner (a bug the rings trigger), error node and Closing, and the
 * frontend's reconnect (with new rings) is held as after a violation: a
 * guest whose rings kill every server costs two deaths per hold. */
void nb_vif_lost(struct nb_back *b, struct nb_vif *v, const char *why);
/* As nb_vif_lost, but the frontend broke the protocol: its next reconnect
 * is held (hold.c). */
void nb_vif_broke(struct nb_back *b, struct nb_vif *v, const char *why);

#endif
