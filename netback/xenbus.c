/* xenbus: a vif's handshake, as Linux netback's xenbus.c walks it.
 *
 *   toolstack writes backend dir (online=1)
 *        |  probe: check frontend/frontend-id, advertise features,
 *        v         the consumer makes the port (vifback: the TAP)
 *   InitWait (2) ......... hotplug script / netd plugs the port, writes
 *        |                 hotplug-status=connected
 *        |  frontend Connected (4): read and check its keys, the consumer
 *        v  maps the rings and binds the channels (ops->connect)
 *   Connected (4)  only once hotplug-status is "connected" (so the vif is
 *        |         bridged and filtered before the guest sends)
 *        |  frontend Closing/Closed, a protocol violation, a dead server
 *        v
 *   Closing (5) -> Closed (6) --frontend Initialising--> InitWait (2)
 *
 *   online=0 (toolstack teardown, any state): rings dropped, port removed,
 *   Closed (6), then nothing until the directory goes. A vif we never
 *   probed (the backend restarted meanwhile) at online=0 and Closing (5)
 *   is closed too, once what an earlier run left for it is gone.
 *
 * nb_vif_look() reads the keys that decide (one batch), compares with what
 * we last did and takes at most one step; every write is conditional on a
 * change, so the watch events our own writes fire find nothing to do, and
 * on the backend directory still being there (be_write: a transaction),
 * so a directory the toolstack removed is never made again.
 * Errors a frontend causes are written where xenbus_dev_fatal writes them
 * (error/backend/vif/D/N/error = "<errno> <message>") and logged once,
 * naming the vif. */
#include "netback/netback.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/dec.h"
#include "lib/err.h"
#include "lib/log.h"
#include "vif/xsvif.h"

#define FE_TOKEN "nb-fe"

static unsigned hash_of(uint32_t domid, uint32_t devid)
{
	return (domid * 2654435761u ^ devid * 40503u) % NB_HASH;
}

void nb_back_init(struct nb_back *b)
{
	memset(b, 0, sizeof(*b));
	b->qtail = &b->qhead;
	b->max_queues = 1;
	b->xs_timeout_ms = NB_XS_TIMEOUT_MS;
	xs_retry_init(&b->xs_retry);
	xs_relist_init(&b->relist, "", XSVIF_ROOT);
	nb_hold_cfg_default(&b->hold);
}

struct nb_vif *nb_vif_get(struct nb_back *b, uint32_t domid, uint32_t devid, bool create)
{
	struct nb_vif **head = &b->hash[hash_of(domid, devid)], *v;

	for (v = *head; v; v = v->next)
		if (v->domid == domid && v->devid == devid)
			return v;
	if (!create)
		return NULL;
	v = calloc(1, sizeof(*v));
	if (!v)
		return NULL;
	v->domid = domid;
	v->devid = devid;
	v->port = -1;
	snprintf(v->be, sizeof(v->be), "%s/%u/%u", XSVIF_ROOT, domid, devid);
	v->next = *head;
	if (*head)
		(*head)->pprev = &v->next;
	v->pprev = head;
	*head = v;
	b->nvifs++;
	return v;
}

void nb_vif_forget(struct nb_back *b, struct nb_vif *v)
{
	if (v->pending) {
		/* out of the look queue first */
		struct nb_vif **pp = &b->qhead;

		while (*pp != v)
			pp = &(*pp)->qnext;
		*pp = v->qnext;
		if (b->qtail == &v->qnext)
			b->qtail = pp;
	}
	*v->pprev = v->next;
	if (v->next)
		v->next->pprev = v->pprev;
	b->nvifs--;
	free(v);
}

void nb_vif_foreach(struct nb_back *b, void (*fn)(struct nb_back *b, struct nb_vif *v, void *arg),
		    void *arg)
{
	for (unsigned h = 0; h < NB_HASH; h++)
		for (struct nb_vif *v = b->hash[h]; v; v = v->next)
			fn(b, v, arg);
}

void nb_vif_mark(struct nb_back *b, struct nb_vif *v)
{
	if (v->pending)
		return;
	v->pending = true;
	v->qnext = NULL;
	*b->qtail = v;
	b->qtail = &v->qnext;
}

/* A write transaction that conflicts (the toolstack changed the directory
 * meanwhile) starts again, this many times at most (Linux: for ever; a
 * conflict every time is a toolstack writing without pause, and the watch
 * event of its next write brings the vif back here). */
#define NB_TX_TRIES 8
/* the most writes one transaction makes (advertise's), after its two reads */
#define NB_TX_WRITES 8

/* The backend state read in a write's transaction: is the directory
 * still the device we wrote a state to? The toolstack makes a device's
 * directory with state Initialising (1), a state we never write: missing
 * or 1 after we wrote one, it is a new device's (removed and added again
 * since our look) or no device's (the state removed: Linux's
 * __xenbus_switch_state writes nothing then either). Before our first
 * state (the probe) any will do. A read xenstored refused otherwise
 * (EACCES, EIO, ...) tells nothing of the device: not a new one, which
 * would tear a working vif down; the caller fails on the error instead
 * (state_unreadable()), and the vif is looked at again. */
static bool same_device(const struct nb_vif *v, const struct xsc_op *state)
{
	if (v->state == XB_UNKNOWN || (state->err && state->err != -ENOENT))
		return true;
	return !state->err && state->reply && strcmp(state->reply, "1");
}

/* The state's read (or another's) refused (see same_device): -errno,
 * else 0. */
static int state_unreadable(const struct nb_vif *v, const struct xsc_op *state)
{
	if (!state->err || state->err == -ENOENT)
		return 0;
	return err_set(state->err, "vif%u.%u: read %s: %s", v->domid, v->devid, state->path,
		       strerror(-state->err));
}

/* be_write's judge: the directory there and still the device (1: gone or
 * a new device's), then every write made. */
static int be_judge(const struct xsc_op *ops, unsigned n, void *arg)
{
	const struct nb_vif *v = arg;

	if (ops[0].err == -ENOENT || !same_device(v, &ops[1]))
		return 1;
	if (ops[0].err)
		return err_set(ops[0].err, "read %s: %s", v->be, strerror(-ops[0].err));
	if (state_unreadable(v, &ops[1]))
		return err_code();
	for (unsigned i = 2; i < n; i++)
		if (ops[i].err)
			return err_set(ops[i].err, "write %s: %s", ops[i].path,
				       strerror(-ops[i].err));
	return 0;
}

/* Writes ops[0..n) (WRITEs under v's backend directory, or its error node)
 * only while the directory exists, atomically: in a transaction that
 * reads the directory first and aborts when it is gone, as Linux's
 * __xenbus_switch_state reads state. A plain write after the toolstack
 * removed the directory (xl destroy, network-detach) would make it again
 * (xenstored creates the missing parents): a node nobody removes, and a
 * vif the backend watch sees again. A directory removed and made again
 * since our look (same_device) is not ours to write either. 0: written;
 * 1: the directory is gone or a new device's, nothing written (the vif
 * is looked at again: the removal forgets it, a new device renews it);
 * -EAGAIN: a conflict every time; -ENOSPC/-EDQUOT: xenstored's quota
 * (look_pending tries again later); -errno (xenstored's refusal of a
 * write, or the connection's failure). */
static int be_write(struct nb_back *b, struct nb_vif *v, const struct xsc_op *ops, unsigned n)
{
	struct xsc_op tx_ops[2 + NB_TX_WRITES];
	char spath[NB_PATH_MAX + 8];
	int rc;

	if (n > NB_TX_WRITES)
		return err_set(-E2BIG, "%s: %u writes in one transaction", v->be, n);
	snprintf(spath, sizeof(spath), "%s/state", v->be);
	tx_ops[0] = (struct xsc_op){ .type = XS_MSG_READ, .path = v->be };
	tx_ops[1] = (struct xsc_op){ .type = XS_MSG_READ, .path = spath };
	memcpy(tx_ops + 2, ops, n * sizeof(*ops));
	rc = xsc_tx_write_if(b->xs, tx_ops, n + 2, NB_TX_TRIES, be_judge, v);
	if (rc == -EAGAIN)
		return err_set(-EAGAIN, "%s: its writes conflicted %u times", v->be, NB_TX_TRIES);
	if (rc == 1) {
		log_debug("vif%u.%u: directory removed (or a new device's): nothing written",
			  v->domid, v->devid);
		v->removed = true;
		nb_vif_mark(b, v);
	}
	return rc;
}

static void state_written(struct nb_vif *v, int state)
{
	log_info("vif%u.%u: backend state %d -> %d", v->domid, v->devid, v->state, state);
	v->state = state;
}

/* Linux's xenbus_switch_state: nothing when the directory is gone. */
static int set_state(struct nb_back *b, struct nb_vif *v, int state)
{
	char path[NB_PATH_MAX + 8], val[4];
	struct xsc_op op = { .type = XS_MSG_WRITE, .path = path, .arg = val };
	int rc;

	if (v->state == state)
		return 0;
	snprintf(path, sizeof(path), "%s/state", v->be);
	op.vlen = (unsigned)snprintf(val, sizeof(val), "%d", state);
	rc = be_write(b, v, &op, 1);
	if (rc == 0)
		state_written(v, state);
	return rc < 0 ? rc : 0;
}

/* xenbus_dev_fatal: the reason where the toolstack looks, then Closing,
 * both in one transaction, and neither once the toolstack has removed the
 * backend directory (the device is gone: the reason is only logged). An
 * error node written is left as Linux and libxl leave it (for whoever
 * asks why an attach failed, after libxl removed the device). */
static int fatal(struct nb_back *b, struct nb_vif *v, int rc, const char *msg)
{
	char epath[NB_PATH_MAX + 32], spath[NB_PATH_MAX + 8], val[ERR_MSG_MAX + 16];
	struct xsc_op ops[2] = {
		{ .type = XS_MSG_WRITE, .path = epath, .arg = val },
		{ .type = XS_MSG_WRITE, .path = spath, .arg = "5", .vlen = 1 },
	};
	bool to_closing = v->state != XB_CLOSING;

	log_err("vif%u.%u: %s", v->domid, v->devid, msg);
	snprintf(epath, sizeof(epath), "/local/domain/0/error/backend/vif/%u/%u/error", v->domid,
		 v->devid);
	snprintf(spath, sizeof(spath), "%s/state", v->be);
	ops[0].vlen = (unsigned)snprintf(val, sizeof(val), "%d %s", rc < 0 ? -rc : rc, msg);
	if (ops[0].vlen >= sizeof(val))
		ops[0].vlen = sizeof(val) - 1;
	rc = be_write(b, v, ops, to_closing ? 2 : 1);
	if (rc == 0 && to_closing)
		state_written(v, XB_CLOSING);
	return rc < 0 ? rc : 0;
}

static void disconnect(struct nb_back *b, struct nb_vif *v)
{
	if (!v->connected)
		return;
	v->connected = false;
	nb_hold_disconnected(&v->hold, &b->hold, nb_now_ms());
	b->ops->disconnect(b, v);
}

/* A frontend's state watch whose UNWATCH xenstored refused (ENOMEM,
 * EIO...): still registered there, counted against the connection's
 * quota of watches (a backend losing one per refusal would at last have
 * every new vif's watch refused), and firing for a vif we may have
 * forgotten (on_event finds no vif, or one not probed: nothing done).
 * Asked again after the backoff of refusals, for as long as it is
 * refused (at most every XS_REFUSED_MAX_MS: bounded), until the vif's
 * watch is set again, which takes it back (fe_watch: EEXIST, ours). */
struct nb_unwatch {
	struct nb_unwatch *next;
	uint64_t due_ms;
	unsigned tries;
	char path[NB_PATH_MAX + 8];
};

/* The watch on path is ours again: not to be removed. */
static void unwatch_cancel(struct nb_back *b, const char *path)
{
	for (struct nb_unwatch **pp = &b->unwatch; *pp; pp = &(*pp)->next)
		if (!strcmp((*pp)->path, path)) {
			struct nb_unwatch *u = *pp;

			*pp = u->next;
			free(u);
			return;
		}
}

/* u's UNWATCH refused (err): asked again after a backoff. */
static void unwatch_later(struct nb_back *b, struct nb_unwatch *u, int err)
{
	u->due_ms = nb_now_ms() + xs_refused_wait_ms(u->tries);
	if (++u->tries == XS_REFUSED_TRIES)
		log_err("unwatch %s: refused %u times in a row (%s): asked again every %u ms",
			u->path, u->tries, strerror(-err), XS_REFUSED_MAX_MS);
	else if (u->tries == 1)
		log_warn("unwatch %s: %s: asked again later", u->path, strerror(-err));
	nb_back_wake_at(b, u->due_ms);
}

/* UNWATCH path (our token). 0: removed (or not there: ENOENT); a
 * refusal: kept for later (unwatch_due); -errno: xenstore gone. */
static int unwatch(struct nb_back *b, const char *path, struct nb_unwatch *u)
{
	struct xsc_op op = { .type = XS_MSG_UNWATCH, .path = path, .arg = FE_TOKEN };
	int rc = xsc_run(b->xs, &op, 1);

	if (rc < 0)
		return rc;
	xsc_ops_free(&op, 1);
	if (!op.err || op.err == -ENOENT) {
		if (u && u->tries)
			log_info("unwatch %s: taken at last", path);
		return 0;
	}
	if (!u) {
		u = calloc(1, sizeof(*u));
		if (!u) {
			log_err("unwatch %s: %s, and out of memory to ask again", path,
				strerror(-op.err));
			return 0;
		}
		snprintf(u->path, sizeof(u->path), "%s", path);
		u->next = b->unwatch;
		b->unwatch = u;
	}
	unwatch_later(b, u, op.err);
	return 1;
}

static void fe_unwatch(struct nb_back *b, struct nb_vif *v)
{
	char path[NB_PATH_MAX + 8];

	if (!v->fe_watched)
		return;
	v->fe_watched = false;
	snprintf(path, sizeof(path), "%s/state", v->fe);
	unwatch(b, path, NULL);
}

/* The refused UNWATCHes whose wait is over are asked again. */
static void unwatch_due(struct nb_back *b, uint64_t now)
{
	struct nb_unwatch **pp = &b->unwatch;

	while (*pp) {
		struct nb_unwatch *u = *pp;
		int rc = 0;

		if (now < u->due_ms) {
			nb_back_wake_at(b, u->due_ms);
		} else if ((rc = unwatch(b, u->path, u)) == 0) {
			*pp = u->next;
			free(u);
			continue;
		} else if (rc < 0) {
			return; /* xenstore gone: the loop finds out at its next request */
		}
		pp = &u->next;
	}
}

static void unwatch_free(struct nb_back *b)
{
	while (b->unwatch) {
		struct nb_unwatch *u = b->unwatch;

		b->unwatch = u->next;
		free(u);
	}
}

static void fe_unwatched(struct nb_back *b, struct nb_vif *v, void *arg)
{
	v->fe_watched = false;
}

void nb_back_conn_lost(struct nb_back *b)
{
	nb_vif_foreach(b, fe_unwatched, NULL);
	unwatch_free(b);
	xs_relist_reset(&b->relist);
}

/* Rings, port and watch gone; the vif stays known until its directory goes. */
static void teardown(struct nb_back *b, struct nb_vif *v)
{
	disconnect(b, v);
	fe_unwatch(b, v);
	if (v->probed)
		b->ops->release(b, v);
	v->port = -1;
	v->probed = false;
}

/* fatal() for rings that stopped outside a look: one that could not write
 * Closing (its transaction gave up) has the vif looked at, whose step
 * writes it (its rings stopped, its state still Connected). */
static void fatal_outside(struct nb_back *b, struct nb_vif *v, const char *why)
{
	if (fatal(b, v, EPROTO, why) < 0) {
		log_warn("vif%u.%u: %s", v->domid, v->devid, err_msg());
		nb_vif_mark(b, v);
	}
}

void nb_vif_lost(struct nb_back *b, struct nb_vif *v, const char *why)
{
	uint64_t now = nb_now_ms();
	bool was = v->connected;

	/* whatever served the rings has let go already; not the
	 * frontend's doing: nothing held against it */
	if (was)
		nb_hold_disconnected(&v->hold, &b->hold, now);
	v->connected = false;
	if (was && (!v->resumed_ms || now - v->resumed_ms >= b->hold.forgive_ms)) {
		log_warn("vif%u.%u: %s: serving its rings again", v->domid, v->devid, why);
		v->resume = true;
		v->resumed_ms = now;
		nb_vif_mark(b, v);
		return;
	}
	/* dead again so soon: the rings may be what kills it, and a frontend
	 * that reconnects at once would have a new server die in a loop */
	nb_hold_violation(&v->hold, &b->hold, now);
	v->hold.server_died = true;
	fatal_outside(b, v, why);
}

void nb_vif_broke(struct nb_back *b, struct nb_vif *v, const char *why)
{
	v->connected = false;
	nb_hold_violation(&v->hold, &b->hold, nb_now_ms());
	v->hold.server_died = false;
	fatal_outside(b, v, why);
}

void nb_back_wake_at(struct nb_back *b, uint64_t ms)
{
	if (!b->hold_next || ms < b->hold_next)
		b->hold_next = ms;
}

static void wake_min(struct nb_back *b, uint64_t ms)
{
	nb_back_wake_at(b, ms);
}

/* The next end of a hold the loop must wake for is v's, if sooner. */
static void hold_next_min(struct nb_back *b, const struct nb_vif *v)
{
	wake_min(b, v->hold.until_ms);
}

/* A request xenstored refused, on a connection that still serves: a
 * transaction for its quota (C xenstored's is a guest's: a backend in a
 * driver domain shares its domain's 10 with whatever else runs there),
 * which clears as the others end theirs, a node quota or a full store
 * (ENOSPC), or any other refusal (EACCES, EIO...), which may clear too
 * and is this vif's alone. Whatever the reason, the same backoff: the
 * vif's look is taken again after XS_REFUSED_FIRST_MS, doubled each refusal in a
 * row up to XS_REFUSED_MAX_MS, XS_REFUSED_TRIES times (about 15 s); then its
 * next watch event brings it back, as a write that conflicted every try. */
void nb_vif_backoff(struct nb_back *b, struct nb_vif *v)
{
	uint64_t ms = xs_refused_wait_ms(v->refused_tries);

	if (v->refused_tries >= XS_REFUSED_TRIES) {
		log_err("vif%u.%u: %s: refused %u times in a row, given up until the vif changes",
			v->domid, v->devid, err_msg(), v->refused_tries);
		v->refused_tries = 0;
		v->refused_ms = 0;
		return;
	}
	v->refused_tries++;
	v->refused_ms = nb_now_ms() + ms;
	wake_min(b, v->refused_ms);
	log_warn("vif%u.%u: %s: looked at again in %llu ms", v->domid, v->devid, err_msg(),
		 (unsigned long long)ms);
}

/* A frontend that broke the protocol starts over (Initialising) before its
 * hold ends: nothing is written (it sees Closing or Closed as after the
 * violation) until the hold ends and the watch loop looks again. true
 * while held. */
static bool reconnect_held(struct nb_back *b, struct nb_vif *v)
{
	uint64_t now = nb_now_ms(), left = nb_hold_left(&v->hold, now);

	v->held = left > 0;
	if (!left)
		return false;
	hold_next_min(b, v);
	if (!v->hold.told) {
		v->hold.told = true;
		log_warn("vif%u.%u: %s (%u time%s): its reconnect held %llu ms", v->domid, v->devid,
			 v->hold.server_died ? "its rings' server died twice within the forgive time"
					     : "frontend broke the protocol",
			 v->hold.violations, v->hold.violations > 1 ? "s" : "",
			 (unsigned long long)v->hold.backoff_ms);
		if (b->ops->held)
			b->ops->held(b, v, v->hold.backoff_ms);
	}
	return true;
}

static void hold_due(struct nb_back *b, struct nb_vif *v, void *arg)
{
	uint64_t now = *(const uint64_t *)arg;

	if (v->refused_ms && now >= v->refused_ms) {
		v->refused_ms = 0;
		nb_vif_mark(b, v);
	} else if (v->refused_ms) {
		wake_min(b, v->refused_ms);
	}
	if (!v->held)
		return;
	if (nb_hold_left(&v->hold, now) == 0) {
		v->held = false;
		nb_vif_mark(b, v);
	} else {
		hold_next_min(b, v);
	}
}

bool nb_back_hold_due(struct nb_back *b)
{
	/* a look needs xenstore: nothing is due without it */
	return !b->xs_retry_ms && b->hold_next && nb_now_ms() >= b->hold_next;
}

void nb_back_holds_end(struct nb_back *b)
{
	uint64_t now = nb_now_ms();

	if (!b->hold_next || now < b->hold_next)
		return;
	/* rare (at most once per hold or quota retry): a walk of every vif is fine */
	b->hold_next = 0;
	nb_vif_foreach(b, hold_due, &now);
	unwatch_due(b, now);
	if (b->relist.due_ms)
		wake_min(b, b->relist.due_ms); /* nb_back_run's, when due */
}

int nb_back_timeout_ms(struct nb_back *b)
{
	uint64_t now, next = b->xs_retry_ms ? b->xs_retry_ms : b->hold_next;

	if (!next)
		return -1;
	now = nb_now_ms();
	if (now >= next)
		return 0;
	return next - now > 3600000u ? 3600000 : (int)(next - now);
}

static void shutdown_one(struct nb_back *b, struct nb_vif *v, void *arg)
{
	if (v->connected)
		set_state(b, v, XB_CLOSING);
	v->connected = false; /* the consumer stops serving with us */
	fe_unwatch(b, v);
	if (v->probed && b->ops->close)
		b->ops->close(b, v);
	v->port = -1;
}

void nb_back_shutdown(struct nb_back *b)
{
	nb_vif_foreach(b, shutdown_one, NULL);
	for (unsigned h = 0; h < NB_HASH; h++)
		while (b->hash[h]) {
			b->qhead = NULL; /* nothing is looked at any more */
			b->hash[h]->pending = false;
			nb_vif_forget(b, b->hash[h]);
		}
	b->qtail = &b->qhead;
	/* the connection closes next: xenstored drops its watches then */
	unwatch_free(b);
}

enum {
	BK_ONLINE,
	BK_FRONTEND,
	BK_FRONTEND_ID,
	BK_HOTPLUG,
	BK_RATE,
	BK_VIFNAME,
	BK_BRIDGE,
	BK_STATE,
	BK_DIR,
	BK_FE_STATE,
	BK_N
};
static const char *const bk_names[BK_N] = { "online",  "frontend", "frontend-id", "hotplug-status",
					    "rate",    "vifname",  "bridge",      "state",
					    NULL,      NULL };

/* The frontend directory must be the one the toolstack makes for this
 * domain and device: nothing else is ours to read or watch. */
static int check_frontend(struct nb_vif *v, const struct xsc_op *ops)
{
	char want[NB_PATH_MAX], id[16];

	snprintf(want, sizeof(want), "/local/domain/%u/device/vif/%u", v->domid, v->devid);
	snprintf(id, sizeof(id), "%u", v->domid);
	if (!ops[BK_FRONTEND].reply || strcmp(ops[BK_FRONTEND].reply, want))
		return err_set(-EINVAL, "backend key frontend is not %s", want);
	if (!ops[BK_FRONTEND_ID].reply || strcmp(ops[BK_FRONTEND_ID].reply, id))
		return err_set(-EINVAL, "backend key frontend-id is not %s", id);
	snprintf(v->fe, sizeof(v->fe), "%s", want);
	return 0;
}

static int advertise(struct nb_back *b, struct nb_vif *v)
{
	static const char *const keys[][2] = {
		{ "feature-sg", "1" },	       { "feature-gso-tcpv4", "1" },
		{ "feature-gso-tcpv6", "1" },  { "feature-ipv6-csum-offload", "1" },
		{ "feature-rx-copy", "1" },    { "feature-rx-flip", "0" },
		{ "feature-split-event-channels", "1" },
	};
	enum { NK = sizeof(keys) / sizeof(keys[0]) };
	_Static_assert(NK + 1 <= NB_TX_WRITES, "advertise's writes fit a transaction");
	char paths[NK + 1][NB_PATH_MAX + 40], maxq[12];
	struct xsc_op ops[NK + 1];

	for (unsigned i = 0; i < NK; i++) {
		snprintf(paths[i], sizeof(paths[i]), "%s/%s", v->be, keys[i][0]);
		/* a consumer that cannot forward GSO packets offers none */
		bool gso = !strncmp(keys[i][0], "feature-gso-", 12);

		ops[i] = (struct xsc_op){ .type = XS_MSG_WRITE, .path = paths[i],
					  .arg = gso && !b->gso ? "0" : keys[i][1], .vlen = 1 };
	}
	snprintf(paths[NK], sizeof(paths[NK]), "%s/multi-queue-max-queues", v->be);
	snprintf(maxq, sizeof(maxq), "%u", b->max_queues);
	ops[NK] = (struct xsc_op){ .type = XS_MSG_WRITE, .path = paths[NK], .arg = maxq,
				   .vlen = (unsigned)strlen(maxq) };
	/* in one transaction, nothing once the directory is gone (1) */
	return be_write(b, v, ops, NK + 1);
}

/* The frontend's state changes reach us through this watch. One refused
 * (xenstored's quota of watches, EACCES, EIO) fails the look, as any
 * refusal: the vif is looked at again and the watch set then (left
 * unset, the frontend's Connected was never seen). EEXIST: ours is
 * there already (an unwatch of ours refused, asked again till now). */
static int fe_watch(struct nb_back *b, struct nb_vif *v)
{
	char path[NB_PATH_MAX + 8];
	struct xsc_op op = { .type = XS_MSG_WATCH, .path = path, .arg = FE_TOKEN };
	int rc;

	snprintf(path, sizeof(path), "%s/state", v->fe);
	rc = xsc_run(b->xs, &op, 1);
	if (rc < 0)
		return rc;
	xsc_ops_free(&op, 1);
	if (op.err && op.err != -EEXIST)
		return err_set(op.err, "vif%u.%u: watch %s: %s", v->domid, v->devid, path,
			       strerror(-op.err));
	/* an UNWATCH of that path still owed (EEXIST: refused, the watch
	 * still there) would remove the one this vif needs */
	unwatch_cancel(b, path);
	v->fe_watched = true;
	return 0;
}

static int probe(struct nb_back *b, struct nb_vif *v, const struct xsc_op *ops)
{
	const char *vifname = ops[BK_VIFNAME].err ? NULL : ops[BK_VIFNAME].reply;
	int rc;

	rc = check_frontend(v, ops);
	if (rc < 0)
		return fatal(b, v, rc, err_msg());
	/* vifD.N, as netback names its netdev: vifname= is the hotplug
	 * script's (or netd's) rename, and they look for vifD.N to do it */
	snprintf(v->ifname, sizeof(v->ifname), "vif%u.%u", v->domid, v->devid);
	rc = advertise(b, v);
	if (rc)
		return rc < 0 ? rc : 0; /* 1: the directory went, the vif goes */
	rc = b->ops->probe(b, v, vifname && vif_ifname_is_valid(vifname) ? vifname : NULL,
			   ops[BK_BRIDGE].err ? NULL : ops[BK_BRIDGE].reply);
	if (rc < 0)
		return fatal(b, v, rc, err_msg());
	v->probed = true;
	rc = fe_watch(b, v);
	if (rc < 0)
		return rc;
	/* libxl runs the hotplug script (netd plugs) once it sees InitWait:
	 * the port is there by then */
	return set_state(b, v, XB_INITWAIT);
}

/* The frontend's connect keys, read once (two batches at most). */
static int read_frontend(struct nb_back *b, struct nb_vif *v, struct nb_fe_cfg *cfg)
{
	char fpath[NB_FK_COUNT][NB_PATH_MAX + 40];
	char qpath[NB_MAX_QUEUES][NB_FQ_COUNT][NB_PATH_MAX + 40];
	struct xsc_op fops[NB_FK_COUNT + NB_FQ_COUNT], qops[NB_MAX_QUEUES * NB_FQ_COUNT];
	const char *fe[NB_FK_COUNT], *q[NB_MAX_QUEUES][NB_FQ_COUNT];
	unsigned nq = 0, nqops = 0;
	int rc;

	memset(q, 0, sizeof(q));
	for (unsigned k = 0; k < NB_FK_COUNT; k++) {
		snprintf(fpath[k], sizeof(fpath[k]), "%s/%s", v->fe, nb_fe_key_name(k));
		fops[k] = (struct xsc_op){ .type = XS_MSG_READ, .path = fpath[k] };
	}
	for (unsigned k = 0; k < NB_FQ_COUNT; k++) {
		snprintf(qpath[0][k], sizeof(qpath[0][k]), "%s/%s", v->fe, nb_fq_key_name(k));
		fops[NB_FK_COUNT + k] = (struct xsc_op){ .type = XS_MSG_READ, .path = qpath[0][k] };
	}
	rc = xsc_run(b->xs, fops, NB_FK_COUNT + NB_FQ_COUNT);
	if (rc < 0)
		return rc;
	for (unsigned k = 0; k < NB_FK_COUNT; k++)
		fe[k] = fops[k].err ? NULL : fops[k].reply;
	rc = nb_fe_num_queues(fe[NB_FK_NUM_QUEUES], b->max_queues, &nq);
	if (rc == 0 && nq == 1) {
		for (unsigned k = 0; k < NB_FQ_COUNT; k++)
			q[0][k] = fops[NB_FK_COUNT + k].err ? NULL : fops[NB_FK_COUNT + k].reply;
	} else if (rc == 0) {
		for (unsigned i = 0; i < nq; i++)
			for (unsigned k = 0; k < NB_FQ_COUNT; k++) {
				snprintf(qpath[i][k], sizeof(qpath[i][k]), "%s/queue-%u/%s", v->fe,
					 i, nb_fq_key_name(k));
				qops[nqops++] = (struct xsc_op){ .type = XS_MSG_READ,
								 .path = qpath[i][k] };
			}
		rc = xsc_run(b->xs, qops, nqops);
		if (rc < 0) {
			xsc_ops_free(fops, NB_FK_COUNT + NB_FQ_COUNT);
			return rc;
		}
		for (unsigned i = 0; i < nq; i++)
			for (unsigned k = 0; k < NB_FQ_COUNT; k++) {
				const struct xsc_op *o = &qops[i * NB_FQ_COUNT + k];

				q[i][k] = o->err ? NULL : o->reply;
			}
	}
	if (rc == 0)
		rc = nb_fe_parse(fe, (const char *const(*)[NB_FQ_COUNT])q, nq, cfg);
	/* -EINVAL/-EOPNOTSUPP are the frontend's: the caller fails the vif */
	if (rc < 0 && rc != -EINVAL && rc != -EOPNOTSUPP)
		rc = -EINVAL;
	xsc_ops_free(fops, NB_FK_COUNT + NB_FQ_COUNT);
	xsc_ops_free(qops, nqops);
	return rc;
}

static void read_rate(struct nb_vif *v, const char *val, struct vif_rate *r)
{
	memset(r, 0, sizeof(*r));
	if (val && val[0] && vif_rate_parse_xenstore(val, r) < 0) {
		/* netback: a bad rate is no rate, with a warning */
		log_warn("vif%u.%u: rate: %s; unlimited", v->domid, v->devid, err_msg());
		memset(r, 0, sizeof(*r));
	}
}

/* Frontend Connected: its rings to the consumer. 0, or the frontend's
 * fault already reported (Closing), or -errno from xenstore. */
static int connect_rings(struct nb_back *b, struct nb_vif *v, const char *rate)
{
	int rc = read_frontend(b, v, &v->cfg);

	if (rc == -EINVAL || rc == -EOPNOTSUPP) {
		/* keys no netfront writes: a violation too, held as one */
		nb_hold_violation(&v->hold, &b->hold, nb_now_ms());
		return fatal(b, v, rc, err_msg());
	}
	if (rc < 0)
		return rc;
	read_rate(v, rate, &v->rate);
	rc = b->ops->connect(b, v);
	if (rc < 0) {
		/* a ring or a port the frontend named that cannot be mapped or
		 * bound (-EINVAL) is its doing, as bad keys are; anything else
		 * may be Dom0's (a worker that would not start) */
		if (rc == -EINVAL)
			nb_hold_violation(&v->hold, &b->hold, nb_now_ms());
		return fatal(b, v, rc, err_msg());
	}
	v->connected = true;
	nb_hold_connected(&v->hold, nb_now_ms());
	log_info("vif%u.%u: rings connected (%u queue%s, %s event channel%s)", v->domid, v->devid,
		 v->cfg.nqueues, v->cfg.nqueues > 1 ? "s" : "", v->cfg.q[0].split ? "split" : "one",
		 v->cfg.q[0].split ? "s" : "");
	return 0;
}

static void rate_changed(struct nb_back *b, struct nb_vif *v, const char *val)
{
	struct vif_rate r;

	read_rate(v, val, &r);
	if (r.bytes_per_interval == v->rate.bytes_per_interval &&
	    r.interval_usecs == v->rate.interval_usecs)
		return;
	v->rate = r;
	if (b->ops->rate)
		b->ops->rate(b, v);
}

/* A vif first seen torn down (online=0), never probed by this process:
 * its backend was restarted (vifback's service, dpswitch's supervisor)
 * while the toolstack removed the device. libxl writes online=0 and
 * Closing (5) in one transaction, waits 10 s for Closed (6), and only then
 * removes the device, forced, without the hotplug script's offline (an
 * xl network-detach waits twice); xend wrote the two keys apart (the
 * second's event brings the vif back here). So for a vif we serve: what
 * an earlier run of ours left for it goes (ops->forget), and at Closing
 * its state is taken as the toolstack wrote it, for the step to write
 * Closed as for any vif torn down, and only to that device (same_device:
 * not to one made again at Initialising since). Closed already (libxl
 * never writes Closing over it): nobody waits, nothing written; so at any
 * other state (a device the toolstack makes has state 1 and online 1).
 * Another backend's vif is never touched. true: Closed is to be written. */
static bool adopt_teardown(struct nb_back *b, struct nb_vif *v, const struct xsc_op *ops)
{
	const char *vifname = ops[BK_VIFNAME].err ? NULL : ops[BK_VIFNAME].reply;
	const char *state = ops[BK_STATE].err ? NULL : ops[BK_STATE].reply;

	if (b->ops->serves) {
		v->ignored = !b->ops->serves(b, v, ops[BK_BRIDGE].err ? NULL : ops[BK_BRIDGE].reply);
		if (v->ignored)
			return false;
	}
	if (b->ops->forget)
		b->ops->forget(b, v, vifname && vif_ifname_is_valid(vifname) ? vifname : NULL);
	if (!state || strcmp(state, "5"))
		return false;
	log_info("vif%u.%u: torn down before this backend probed it: closing it", v->domid,
		 v->devid);
	v->state = XB_CLOSING;
	return true;
}

/* A vif never probed whose directory is gone at its look: removed after
 * this run started and before the look (vifback's start-up sweep of the
 * TAPs an earlier run left saw it still there, a few ms before). What an
 * earlier run left for it goes, as for one first seen torn down
 * (adopt_teardown), else nothing would ever take it. Not for a vif
 * serves refused at an earlier look (another backend's), nor one this
 * run wrote a state to (failed probe, closed teardown: its own, or what
 * adopt_teardown found); one never judged, its bridge unknowable now,
 * is the consumer's to recognise by what it alone makes (ops->forget). */
static void forget_gone(struct nb_back *b, struct nb_vif *v)
{
	if (v->probed || v->state != XB_UNKNOWN || v->ignored || !b->ops->forget)
		return;
	log_debug("vif%u.%u: removed before this backend probed it", v->domid, v->devid);
	b->ops->forget(b, v, NULL);
}

static int step(struct nb_back *b, struct nb_vif *v, const struct xsc_op *ops)
{
	const char *online = ops[BK_ONLINE].err ? NULL : ops[BK_ONLINE].reply;
	const char *hotplug = ops[BK_HOTPLUG].err ? NULL : ops[BK_HOTPLUG].reply;
	const char *rate = ops[BK_RATE].err ? NULL : ops[BK_RATE].reply;
	int fe_state = XB_UNKNOWN, rc;
	uint64_t st;
	/* a resume is for the look nb_vif_lost asked for, in the state it saw */
	bool resume = v->resume;

	v->resume = false;
	if (online && !strcmp(online, "0")) {
		/* the toolstack's teardown (online=0, state=5): Closed fast */
		if (!v->probed && v->state == XB_UNKNOWN && !adopt_teardown(b, v, ops))
			return 0;
		teardown(b, v);
		/* gone only once Closed is written (libxl waits for it): a
		 * transaction that gave up has the next look write it, and a
		 * gone vif is not looked at */
		rc = set_state(b, v, XB_CLOSED);
		v->gone = rc == 0;
		return rc;
	}
	if (!online || strcmp(online, "1"))
		return 0; /* not written yet */
	if (!v->probed && v->state == XB_UNKNOWN && b->ops->serves) {
		/* another backend's vif: not a key of it is ours to write.
		 * Judged until we write a state (a failed probe writes
		 * Closing): from then on the device is ours until it goes,
		 * whatever its bridge key says later, and its teardown is
		 * answered by us. */
		v->ignored = !b->ops->serves(b, v, ops[BK_BRIDGE].err ? NULL : ops[BK_BRIDGE].reply);
		if (v->ignored)
			return 0;
	}
	if (!v->probed)
		/* after a failed probe, nothing until the toolstack acts */
		return v->state == XB_CLOSING ? 0 : probe(b, v, ops);
	if (!v->fe_watched && (rc = fe_watch(b, v)) < 0)
		return rc; /* refused at the probe, or since */
	if (v->state == XB_UNKNOWN)
		/* probed, but its InitWait not written (the transaction gave up) */
		return set_state(b, v, XB_INITWAIT);
	/* the guest's key: anything but a plain decimal state is Unknown,
	 * as a failed scanf is to Linux's xenbus_read_driver_state */
	if (ops[BK_FE_STATE].reply && !ops[BK_FE_STATE].err &&
	    dec_parse(ops[BK_FE_STATE].reply, strlen(ops[BK_FE_STATE].reply), INT_MAX, &st) == 0)
		fe_state = (int)st;
	if (v->connected)
		rate_changed(b, v, rate);
	switch (fe_state) {
	case XB_CONNECTED:
		if (!v->connected && v->state == XB_CONNECTED && !resume)
			/* rings stopped (a violation, a dead server) whose
			 * Closing was not written: the transaction gave up */
			return set_state(b, v, XB_CLOSING);
		if (!v->connected && (v->state == XB_INITWAIT || resume)) {
			if (!resume)
				v->resumed_ms = 0; /* the frontend connects anew */
			rc = connect_rings(b, v, rate);
			if (rc < 0 || !v->connected)
				return rc;
		}
		/* netback's hotplug_status_changed */
		if (v->connected && hotplug && !strcmp(hotplug, "connected"))
			return set_state(b, v, XB_CONNECTED);
		return 0;
	case XB_CLOSING:
		disconnect(b, v);
		return set_state(b, v, XB_CLOSING);
	case XB_INITIALISING:
		/* a frontend starting over after we closed: prepare for
		 * reconnect, unless it broke the protocol a moment ago */
		if (v->state == XB_CLOSING || v->state == XB_CLOSED) {
			if (reconnect_held(b, v))
				return 0;
			rc = set_state(b, v, XB_CLOSED);
			return rc < 0 ? rc : set_state(b, v, XB_INITWAIT);
		}
		return 0;
	case XB_INITWAIT:
	case XB_INITIALISED:
		return 0; /* netback waits for Connected */
	default: /* Closed, Unknown, gone */
		disconnect(b, v);
		return v->state == XB_INITWAIT && fe_state == XB_UNKNOWN
			       ? 0 /* frontend not there yet */
			       : set_state(b, v, XB_CLOSED);
	}
}

/* A vif torn down for the toolstack (online=0) whose directory went and
 * came back between two looks (the device removed and added again at
 * once; the toolstack never writes online=1 to a device it tears down):
 * a new vif of the same number, from the start. What the old one left in
 * xenstore (a Closed we wrote as its directory was being made again) is
 * overwritten by the probe. */
static void renew(struct nb_vif *v)
{
	log_info("vif%u.%u: added again", v->domid, v->devid);
	v->fe[0] = '\0';
	v->state = XB_UNKNOWN;
	v->probed = v->fe_watched = v->connected = v->gone = v->ignored = v->held = false;
	v->removed = false;
	v->port = -1;
	memset(&v->hold, 0, sizeof(v->hold));
	memset(&v->cfg, 0, sizeof(v->cfg));
	memset(&v->rate, 0, sizeof(v->rate));
}

/* A key of the backend directory (or the directory) whose read xenstored
 * refused (EACCES, EIO...), not found missing: -errno, else 0. Taken for
 * missing, a refused online read left a teardown (online 0) unanswered
 * and the vif never looked at again, and a refused frontend read failed
 * the probe for a bad key (Closing, and nothing until the toolstack
 * acts). The frontend's state is the guest's (which may make it
 * unreadable): read as Unknown, as Linux reads it, not a refusal that
 * would keep the vif from its teardown. */
static int backend_unreadable(const struct nb_vif *v, const struct xsc_op *ops)
{
	for (unsigned k = 0; k <= BK_DIR; k++)
		if (state_unreadable(v, &ops[k]))
			return err_code();
	return 0;
}

int nb_vif_look(struct nb_back *b, struct nb_vif *v)
{
	char paths[BK_N][NB_PATH_MAX + 24];
	struct xsc_op ops[BK_N];
	unsigned n = v->fe[0] ? BK_N : BK_N - 1;
	int rc;

	for (unsigned k = 0; k < BK_DIR; k++) {
		snprintf(paths[k], sizeof(paths[k]), "%s/%s", v->be, bk_names[k]);
		ops[k] = (struct xsc_op){ .type = XS_MSG_READ, .path = paths[k] };
	}
	ops[BK_DIR] = (struct xsc_op){ .type = XS_MSG_READ, .path = v->be };
	snprintf(paths[BK_FE_STATE], sizeof(paths[BK_FE_STATE]), "%s/state", v->fe);
	ops[BK_FE_STATE] = (struct xsc_op){ .type = XS_MSG_READ, .path = paths[BK_FE_STATE],
					    .err = -ENOENT };
	rc = xsc_run(b->xs, ops, n);
	if (rc < 0)
		return rc;
	if (ops[BK_DIR].err == -ENOENT) {
		/* directory removed: forget the vif (the caller frees it).
		 * The directory itself, not its keys: a toolstack that
		 * removed online, frontend and frontend-id one by one still
		 * has a device whose state we wrote, and its teardown
		 * (online=0) waits for our Closed. */
		forget_gone(b, v);
		teardown(b, v);
		xsc_ops_free(ops, n);
		return 1;
	}
	rc = backend_unreadable(v, ops);
	if (rc) {
		/* nothing known of the device: as it was, looked at again */
		xsc_ops_free(ops, n);
		return rc;
	}
	if (v->gone && !ops[BK_ONLINE].err && ops[BK_ONLINE].reply &&
	    !strcmp(ops[BK_ONLINE].reply, "1"))
		renew(v);
	if (v->removed || (!v->gone && !same_device(v, &ops[BK_STATE]))) {
		/* a write found the directory gone, and here it is; or its
		 * state is missing or Initialising after we wrote one (the
		 * toolstack's for a device it makes): the device removed and
		 * added again in between (the events of both seen at this one
		 * look), a new vif */
		teardown(b, v);
		renew(v);
	}
	rc = v->gone ? 0 : step(b, v, ops);
	xsc_ops_free(ops, n);
	return rc;
}
