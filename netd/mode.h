/* mode: the one interface between netd and the network modes.
 *
 * Each mode (bridge, route, nat) fills a struct netd_mode_ops; netd dispatches
 * through it without knowing the modes' insides. Every op either completes or
 * leaves the host exactly as before, and returns 0 or -errno with err_msg(). */
#ifndef NETD_MODE_H
#define NETD_MODE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <systemd/sd-event.h>

#include "lib/err.h"
#include "netd/config.h"
#include "vif/vif.h"

struct netd_net;

struct netd_mode_ops {
	const char *name;
	/* Apply the network. `saved` is the mode's state from a previous netd
	 * (after a crash) or NULL: the mode adopts a complete setup untouched and
	 * rolls back a half-done one before applying. Called again on a
	 * network that is up (`netdctl up`, a reload keeping it), it repairs
	 * what was damaged behind netd's back or fails, and in both cases
	 * keeps how to restore the host as before the first up: netd keeps
	 * the state file and the vifs of a network up already. */
	int (*up)(struct netd_net *net, json_t *saved);
	/* Restore the host to what it was before up. */
	int (*down)(struct netd_net *net);
	int (*vif_online)(struct netd_net *net, const struct vif *vif);
	int (*vif_offline)(struct netd_net *net, const struct vif *vif);
	/* Mode details for `status` (a JSON object, new reference). */
	json_t *(*status)(struct netd_net *net);
	/* What the mode needs to undo, for the state file (new reference). */
	json_t *(*save)(struct netd_net *net);
	/* save() records per-vif undo state (route: each vif's routes and
	 * proxy entries): a vif change rewrites the state file instead of
	 * appending to the vif journal. */
	bool save_has_vifs;
	/* A failed up undoes nothing the state file records (dpdk: the plugs
	 * are dpswitch's and outlive netd): a previous netd's record stays
	 * for the next start rather than going with the failure. */
	bool up_keeps_record;
	/* A re-plug of a vif the network holds is journalled as an intent
	 * ('~') before it touches the host, when this says so (NULL: never).
	 * dpdk: unless dpswitch shows each port's keys, which tell the next
	 * netd a re-plug it was killed in the middle of. */
	bool (*replug_intent)(struct netd_net *net);
	/* Applied, but what serves it is not there yet (dpdk: dpswitch,
	 * which netd does not wait for at start): why, for status and a
	 * plug's reply, while plugs are queued; NULL when it serves (and
	 * NULL op: never waits). */
	const char *(*waiting)(struct netd_net *net);
	void (*free)(struct netd_net *net);
	/* Mode-specific control commands (nat: "forward-add", "forward-del",
	 * "forward-list"); the whole request is passed. -EOPNOTSUPP: not mine. */
	int (*command)(struct netd_net *net, const char *cmd, json_t *req, json_t **result);
	/* The commands command() answers (NULL-terminated): when no network of
	 * the mode takes one, netd says why instead of "unknown command". */
	const char *const *commands;
	/* Step names for fault injection (NULL-terminated), by style if any. */
	const char *const *(*steps)(const struct netd_net_conf *conf);
	/* At start, every network up and its record loaded: remove what this
	 * mode puts on the host for a vif (bridge ports, marked routes) that
	 * none of nets (the mode's networks that are up; n may be 0)
	 * remembers, and nothing that is not provably netd's. NULL: nothing
	 * to sweep. Anti-spoofing elements are swept by netd itself. */
	int (*sweep)(struct netd_net *const *nets, size_t n);
};

#define NETD_VIF_BUCKETS 1024
/* A network whose first up failed is tried again after 1 s, then after
 * twice the last wait, up to this (docs/control.md, "Degraded start"). */
#define NETD_RETRY_MAX_S 60

/* A vif plugged into a network, as remembered in the state file. */
struct netd_vif {
	struct vif vif;
	char *state; /* its entry in the state file, serialised once (NULL: not yet) */
	struct netd_vif *next, *prev; /* the network's list */
	struct netd_vif *hnext;       /* its bucket in the network's vif_hash, by id */
	struct netd_vif *nnext;       /* ... by interface name (netd_vif_name_bucket) */
	struct netd_vif *mnext;       /* ... by MAC, if it has one (netd_vif_mac_bucket) */
	struct netd_vif *unext;       /* plugged while checkpoints were deferred */
	/* the mode's adoption found it held by another network netd runs
	 * and left it to that one (ovs): dropped from this network's vifs
	 * and record once its up is done */
	bool elsewhere;
};

/* Where a network is in its life; netd_net_set_state() (netd/daemon.c) is
 * the one place that changes it, and draws the graph. */
enum netd_net_state {
	NETD_NET_DOWN,    /* not applied (or taken down): nothing of it on the host */
	NETD_NET_UP,      /* applied, its state file tells all of it */
	NETD_NET_UNSAVED, /* applied, vifs changed while checkpoints were deferred */
	/* up again (a repair) failed: the setup is not what netd applied (the
	 * host restored, or half of it), the record of the first up kept for
	 * `down` and the next up; the reason in net->error */
	NETD_NET_FAILED,
};

struct netd_net {
	struct netd_net_conf conf; /* own copy: survives reloads */
	const struct netd_mode_ops *ops;
	enum netd_net_state state;
	char error[ERR_MSG_MAX]; /* why it is NETD_NET_FAILED */
	void *priv; /* the mode's own state */
	struct netd_vif *vifs;
	/* 3 * NETD_VIF_BUCKETS chains: by domid.devid[-emu] (the first
	 * NETD_VIF_BUCKETS), by interface name, by MAC; so that what a plug
	 * checks against every other vif (netd/vif_guard.c) costs the same at
	 * the 1000th vif as at the first. */
	struct netd_vif **vif_hash;
	unsigned n_vifs;
	/* Vif changes not in the state file: records appended to its journal
	 * (<state_dir>/<net>.vifs) at the next checkpoint, so plugging the
	 * 1000th vif writes one line, not the 1000 before it. */
	char *journal;
	size_t journal_len, journal_cap;
	unsigned journal_records; /* in the journal file already */
	/* Plugs a previous netd began and did not finish ('~' records), from
	 * the journal read at up until pending_undo() undid them; then this
	 * netd's own until a record of the vif ends them (a refused plug
	 * may leave one: its request unanswered, its rollback incomplete).
	 * A checkpoint meanwhile (the mode's up, a fold) keeps them in the
	 * journal it folds, or a crash after it would lose them. */
	json_t *pending;
	/* Vifs plugged since checkpoints were deferred (by unext): undone if
	 * the deferred checkpoint fails, as a plug whose state cannot be
	 * saved is refused. */
	struct netd_vif *unsaved;
	/* The network's own config as INI, kept in its state file so that a netd
	 * whose config no longer has the network can still take it down. */
	char *conf_text;
	/* Set by the mode's up once it has rolled back a previous netd's
	 * setup in full (`saved`, not adopted): a failure after that leaves
	 * none of that setup on the host. Cleared by netd before each up. */
	bool prev_undone;
	/* Set by netd_txn_apply() when its rollback of a failed apply did
	 * not complete (logged "rollback incomplete"). Cleared likewise. */
	bool undo_incomplete;
	/* Set by the mode's up when it cannot read the state file it was
	 * given (`saved`: its mode_state incomplete or bad), before it did
	 * anything on the host: netd moves the file aside and applies the
	 * network afresh (docs/state.md). Cleared likewise. */
	bool record_unreadable;
	/* Set by the mode's up when it refused the network before touching
	 * a previous netd's setup it can still adopt later (ovs: a bridge
	 * netd did not create, gone until its owner makes it again): the
	 * record stays for that up, as the mode's error says, without
	 * netd's note that the host is not as before. Cleared likewise. */
	bool record_waits;
	/* Set by a reload that takes the network down to plug its vifs again
	 * into a switch (bridge, nat or ovs mode, kernel datapath): the down
	 * then leaves Dom0's IPv6 off on them, which giving it back until the
	 * re-plug would have them send the guests DAD, router solicitations
	 * and MLD reports meanwhile. Cleared once the network is down. */
	bool vifs_stay_ports;
	/* A first up that failed (at start, a reload, `netdctl up`, a retry): the network
	 * DOWN, nothing of it held in memory, the reason in error; `status`
	 * shows it failed. netd tries it again by itself (netd_retry_arm())
	 * unless up_held. Cleared by an up that succeeds, or a `down`. */
	bool up_failed;
	/* ... and that failure left the host part-changed: its state file
	 * kept because the host is not as before (an undo or rollback that
	 * did not complete, a previous netd's setup not undone). Tried again
	 * only when the operator says so (`netdctl up`, a reload changing
	 * it), never by the timer: an up over a half-undone setup is blind. */
	bool up_held;
	/* ... and its state file (and vifs) stay on disk for the next up:
	 * up_held, or a record kept on purpose (record_waits, up_keeps_record).
	 * The start's sweeps leave what such a record's vifs hold alone. */
	bool record_kept;
	unsigned retry_s;  /* the wait before the next try, doubling to NETD_RETRY_MAX_S */
	uint64_t retry_at; /* CLOCK_MONOTONIC usec of the next try; 0 none */
	/* Persist the mode's state now (mid-operation checkpoints). */
	int (*checkpoint)(struct netd_net *net, const char *phase);
	void *daemon;
};

/* Does netd hold the network's record (its mode's up succeeded and no
 * down since): applied, or failed since, when `down` still restores the
 * host from the record and up repairs it? */
static inline bool netd_net_is_up(const struct netd_net *net)
{
	return net->state != NETD_NET_DOWN;
}

/* Applied as netd recorded it, so vifs can be plugged into it? */
static inline bool netd_net_is_applied(const struct netd_net *net)
{
	return net->state == NETD_NET_UP || net->state == NETD_NET_UNSAVED;
}

extern const struct netd_mode_ops br_mode_ops;
extern const struct netd_mode_ops rt_mode_ops;
extern const struct netd_mode_ops nat_mode_ops;
extern const struct netd_mode_ops ovs_mode_ops;
/* mode = bridge with datapath = dpdk (dpswitch/mode.c) */
extern const struct netd_mode_ops dps_mode_ops;

const struct netd_mode_ops *netd_mode_ops_for(enum netd_mode mode);
/* The ops of a network: its mode's, or dpswitch's for datapath = dpdk. */
const struct netd_mode_ops *netd_net_ops_for(const struct netd_net_conf *c);
/* The mode whose command() answers cmd (its commands), or NULL. */
const struct netd_mode_ops *netd_mode_of_command(const char *cmd);

/* netd's event loop, for modes that watch things (child processes, netlink). */
sd_event *netd_net_event(struct netd_net *net);
/* A mode that waited (its ops' waiting) and is served now: the plugs a
 * previous netd began and did not finish, which net's up left for then,
 * are undone (or, for a vif netd holds, made again with its keys). */
void netd_net_undo_pending(struct netd_net *net);
/* The network's vifs are off its switch (its down): Dom0's IPv6 comes back
 * on each, unless a reload plugs them into a switch again
 * (vifs_stay_ports), nor on one another network holds now. A failure is
 * logged, not returned: it must not undo a down. */
void netd_net_vifs_ipv6_restore(struct netd_net *net);
/* The directory for the network's runtime files (state_dir/<net>/), created on demand. */
int netd_net_run_dir(struct netd_net *net, char *buf, size_t len);
/* For files a helper that is not root must read (nat's dnsmasq: its host
 * files): dnsmasq_dir/<net>/, created on demand, both searchable and
 * readable by all (state_dir is netd's alone). Only the path with create
 * false (a restore removes it). */
int netd_net_pub_dir(struct netd_net *net, bool create, char *buf, size_t len);
/* The user a helper of the network runs as (nat's dnsmasq: dnsmasq_user). */
const char *netd_net_helper_user(struct netd_net *net);

/* ---- What a mode may ask of its peers (netd/peers.c) ----
 * A mode sees other networks only through these, never through netd's own
 * array. A peer of net is another network that is up and run by the same
 * mode; its conf and (being the same mode's) its priv may be read, nothing
 * else, and only within the call that obtained it: netd moves networks on
 * reload. */

/* The device a network leaves the host by: nat's uplink, bridge's and
 * route's physdev; NULL if it has none. */
const char *netd_net_conf_uplink(const struct netd_net_conf *c);
/* The peer of net after prev (NULL: the first), NULL after the last. With
 * uplink set, only peers leaving by that device (netd_net_conf_uplink). */
struct netd_net *netd_net_peer_next(const struct netd_net *net, const struct netd_net *prev,
				    const char *uplink);

/* The network netd runs, other than net, that holds v (by its id or its
 * name), or NULL: a vif a record names but that is not plugged here (a
 * record set aside, an ovs record older than the host) may be another
 * network's now, and is neither plugged here again nor touched. Only the
 * networks whose records are read by then count (at start: those before
 * net in the config; all of them by the sweep). Read within the call
 * only (see above). */
const struct netd_net *netd_vif_held_elsewhere(const struct netd_net *net, const struct vif *v);
/* The same by interface name alone (an interface a mode found on the host,
 * marked as net's, that no record of net names). */
const struct netd_net *netd_ifname_held_elsewhere(const struct netd_net *net, const char *ifname);
/* A network's record of vif domid.devid (emu: its HVM tap), or NULL. */
struct netd_vif *netd_net_vif_find(const struct netd_net *net, uint32_t domid, uint32_t devid,
				   bool emu);
unsigned netd_vif_bucket(uint32_t domid, uint32_t devid, bool emu);
/* Indexes into vif_hash of the name and MAC chains. */
unsigned netd_vif_name_bucket(const char *ifname);
unsigned netd_vif_mac_bucket(const uint8_t mac[6]);

#endif
