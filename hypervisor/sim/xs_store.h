/* xs_store: the simulated xenstored's state and its protocol engine,
 * independent of sockets.
 *
 * A store holds the node tree, the introduced domains and the client
 * connections. A connection is fed raw bytes (xs_conn_feed) and produces
 * raw reply bytes (xs_conn_out_*); the daemon (xenstored.c) moves those
 * between sockets and the store, the unit tests and the fuzz harness call
 * the same functions directly. */
#ifndef HV_SIM_XS_STORE_H
#define HV_SIM_XS_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hypervisor/sim/xs_tree.h"
#include "lib/xs_wire.h"

/* Per-connection and store-wide bounds (xenstored's quotas, simplified).
 * Open transactions: a guest's connection 16, every guest's together 64;
 * Dom0's none, as C xenstored (whose quota, 10 a domain, never applies to
 * the privileged domain) and oxenstored: Dom0's daemons are never refused
 * one because guests or other Dom0 clients hold theirs. */
#define XS_CONN_WATCHES_MAX	128
#define XS_CONN_TXNS_MAX	16
#define XS_STORE_TXNS_MAX	64
#define XS_STORE_DOMAINS_MAX	1024
#define XS_TXN_ACCESS_MAX	32768
/* Queued output above which watch events are dropped, not queued: a
 * client that never reads must not grow dom0's memory. */
#define XS_OUT_EVENTS_MAX	(256 * 1024)
/* Queued output above which the daemon stops reading requests. */
#define XS_OUT_SOFT_MAX		(64 * 1024)

#define XS_DOMID_SELF		0x7ff0u

/* Which watches a change event matches. */
enum xs_ev {
	XS_EV_NONE,
	XS_EV_EXACT,	/* watches on exactly this path (removed children) */
	XS_EV_SUBTREE,	/* watches on this path or any ancestor */
};

struct xs_watch {
	struct xs_watch *next;
	unsigned prefix_len;	/* strip from event paths: relative watch */
	int depth;		/* -1: unlimited */
	char *path;		/* canonical (absolute or @special) */
	char *token;
};

/* One path a transaction touched. */
struct xs_acc {
	struct xs_acc *hnext;
	struct xs_acc *next;
	uint64_t gen;		/* generation when first touched; 0: absent */
	bool written;
	uint8_t event;		/* enum xs_ev fired at commit */
	char path[];
};

#define XS_TXN_HASH	1024

struct xs_txn {
	struct xs_txn *next;
	uint32_t id;
	struct xs_tree tree;	/* its overlay of the store's tree */
	struct xs_acc *hash[XS_TXN_HASH];
	struct xs_acc *acc_head, **acc_tail;
	unsigned n_acc;
};

struct xs_out {
	struct xs_out *next;
	size_t len, off;
	uint8_t data[];
};

struct xs_store;

struct xs_conn {
	struct xs_conn *prev, *next;
	struct xs_store *st;
	unsigned id;
	uint32_t domid;
	bool priv;		/* dom0: bypasses permission checks */
	bool dead;		/* close once queued output is flushed */
	int fd;			/* the daemon's; -1 when not on a socket */

	/* Input: a header, then its payload (+1 for a guard NUL). */
	uint8_t in_hdr[XS_HDR_LEN];
	unsigned hdr_used;
	bool in_payload;
	struct xs_msg_hdr hdr;
	char in_buf[XS_PAYLOAD_MAX + 1];
	unsigned buf_used;

	struct xs_out *out_head, *out_tail;
	size_t out_bytes;
	unsigned long events_dropped;

	struct xs_watch *watches;
	unsigned n_watches;
	struct xs_txn *txns;
	unsigned n_txns;
	uint32_t next_txid;
};

/* The daemon's side of domain introduction: open / close the per-domain
 * socket. Either may be NULL. */
struct xs_store_hooks {
	int (*domain_add)(void *arg, uint32_t domid);
	void (*domain_del)(void *arg, uint32_t domid);
};

struct xs_special {
	const char *name;	/* "@introduceDomain", "@releaseDomain" */
	struct xs_acl *acl;
};

struct xs_store {
	struct xs_tree tree;
	uint64_t gen;
	struct xs_conn *conns;
	unsigned n_conns;
	unsigned next_conn_id;
	unsigned n_txns;	/* the guests' open transactions (Dom0's not counted) */
	uint32_t *domains;	/* introduced domids */
	unsigned n_domains;
	struct xs_special special[2];
	const struct xs_store_hooks *hooks;
	void *hooks_arg;
};

/* Initial tree: /, /local, /local/domain, /local/domain/0, /tool, all
 * owned by dom0 with no access for others. */
int xs_store_init(struct xs_store *st);
void xs_store_fini(struct xs_store *st);
void xs_store_set_hooks(struct xs_store *st, const struct xs_store_hooks *h,
			void *arg);
bool xs_store_has_domain(const struct xs_store *st, uint32_t domid);

/* A client acting as domid (dom0 is privileged). */
struct xs_conn *xs_conn_new(struct xs_store *st, uint32_t domid);
/* Drops its watches, transactions and queued output. */
void xs_conn_free(struct xs_conn *c);

/* Consumes len bytes of client input, handling each complete request.
 * Never fails: protocol errors become ERROR replies or mark c->dead. */
void xs_conn_feed(struct xs_conn *c, const void *data, size_t len);

/* Queued output, oldest first. */
bool xs_conn_out_pending(const struct xs_conn *c);
const uint8_t *xs_conn_out_peek(const struct xs_conn *c, size_t *len);
void xs_conn_out_consume(struct xs_conn *c, size_t n);

/* Queue a reply / error / watch event on c. */
void xs_conn_reply(struct xs_conn *c, uint32_t type, uint32_t req_id,
		   uint32_t tx_id, const void *data, size_t len);
void xs_conn_error(struct xs_conn *c, const struct xs_msg_hdr *req, int err);
void xs_conn_event(struct xs_conn *c, const char *path, const char *token);

/* xs_ops.c: handle one complete request (payload NUL-guarded at len). */
void xs_ops_handle(struct xs_conn *c, const struct xs_msg_hdr *h,
		   char *payload, unsigned len);

/* xs_watch.c */
int xs_watch_add(struct xs_conn *c, const char *path, const char *token,
		 unsigned prefix_len, int depth);
int xs_watch_del(struct xs_conn *c, const char *path, const char *token);
void xs_watch_clear(struct xs_conn *c);
/* Sends path's change event to every connection with a matching watch
 * that may see it (old_acl: the ACL before a SET_PERMS, or NULL). */
void xs_watch_fire(struct xs_store *st, const char *path, enum xs_ev ev,
		   const struct xs_acl *old_acl);
/* @introduceDomain / @releaseDomain for domid. */
void xs_watch_fire_special(struct xs_store *st, const char *name,
			   uint32_t domid);
struct xs_special *xs_store_special(struct xs_store *st, const char *name);

/* xs_txn.c */
int xs_txn_start(struct xs_conn *c, struct xs_txn **out);
struct xs_txn *xs_txn_find(struct xs_conn *c, uint32_t id);
/* Record that the transaction read / changed path (n: its node in the
 * transaction tree before the change, NULL if absent). */
int xs_txn_note(struct xs_txn *t, const char *path, const struct xs_node *n,
		bool written, enum xs_ev ev);
/* Ends t (always freed): commit → 0, -EAGAIN on conflict, -ENOSPC. */
int xs_txn_end(struct xs_conn *c, struct xs_txn *t, bool commit);
void xs_txn_clear(struct xs_conn *c);

#endif
