/* watch: what drives the handshake — one watch on the backend root. A
 * watch event only marks the vif its path names; the marked vifs are
 * looked at once each after the events are drained, so a transaction of a
 * dozen keys is one look. Events for the root or a domain's directory
 * rescan that level (the watch fires on registration: the first look is a
 * full scan). A frontend's state event names its vif by its path, so each
 * event costs a hash lookup, not a walk of every vif.
 *
 * xenstored may go away (restarted) or stop answering (a batch not
 * answered in xs_timeout_ms): the rings connected go on being served,
 * which needs no xenstore, and the connection is opened again on
 * lib/xs_retry.h's backoff, as netd's watch does. Then the watch is set
 * again, and its first event is the full scan: every vif is looked at
 * again (its frontend's watch set again, a step missed meanwhile taken,
 * a vif whose directory went torn down). */
#include "netback/netback.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "lib/fault.h"
#include "lib/log.h"
#include "vif/xsvif.h"

#define BE_TOKEN "nb-be"
#define NB_EVENTS_PER_WAKE 4096

#define foreach_name(name, op)                                                      \
	for (const char *name = (op)->reply; name && name < (op)->reply + (op)->len; \
	     name += strlen(name) + 1)

static void mark_domain(struct nb_back *b, struct nb_vif *v, void *arg)
{
	const uint32_t *domid = arg;

	if (!domid || v->domid == *domid)
		nb_vif_mark(b, v);
}

/* -errno only when xenstore is gone. A refused listing (of the root, or
 * of a domain's directory in it) is taken again later (lib/xs_retry.h's
 * xs_relist): the devices in it that we do not know (added while the
 * backend was down: the first scan is such a listing) have no event of
 * their own to bring them. */
static int rescan(struct nb_back *b, const char *path, int depth, uint32_t domid)
{
	unsigned refusals = b->relist.refusals;
	struct xsc_op op;
	int rc = xsc_list(b->xs, 0, path, &op);

	if (rc < 0)
		return rc;
	if (op.err && op.err != -ENOENT) {
		/* nothing known of what is there: what we knew stays */
		xs_relist_refused(&b->relist, path, depth == 0, domid, op.err, nb_now_ms());
		if (b->relist.due_ms)
			nb_back_wake_at(b, b->relist.due_ms);
		xsc_ops_free(&op, 1);
		return 0;
	}
	/* what we knew under it may have gone with it */
	nb_vif_foreach(b, mark_domain, depth == 0 ? NULL : &domid);
	foreach_name(name, &op) {
		char sub[XSVIF_DIR_MAX];
		uint32_t d, n;

		snprintf(sub, sizeof(sub), "%s/%s", path, name);
		if (depth == 0) {
			if (xsvif_path_depth(sub, &d, &n) == 1 && (rc = rescan(b, sub, 1, d)) < 0)
				break; /* xenstore gone */
		} else if (xsvif_path_depth(sub, &d, &n) == 2) {
			struct nb_vif *v = nb_vif_get(b, d, n, true);

			if (v)
				nb_vif_mark(b, v);
		}
	}
	xsc_ops_free(&op, 1);
	/* listed, each domain's directory too for the root: a run of
	 * refusals of it is over */
	if (rc == 0 && b->relist.refusals == refusals)
		xs_relist_listed(&b->relist, depth == 0, domid);
	return rc;
}

/* The refused listing, once its wait is over. */
static int rescan_due(struct nb_back *b)
{
	char path[XSVIF_DIR_MAX];

	if (!xs_relist_due(&b->relist, nb_now_ms(), path, sizeof(path)))
		return 0;
	return rescan(b, path, b->relist.relist_root ? 0 : 1, b->relist.domid);
}

static int on_event(struct nb_back *b, const struct xsc_event *ev)
{
	uint32_t domid = 0, devid = 0;
	struct nb_vif *v;
	int depth;

	if (!strcmp(ev->token, BE_TOKEN)) {
		depth = xsvif_path_depth(ev->path, &domid, &devid);
		if (depth == 0 || depth == 1)
			return rescan(b, ev->path, depth, domid);
		if (depth == 2) {
			v = nb_vif_get(b, domid, devid, true);
			if (v)
				nb_vif_mark(b, v);
		}
		return 0;
	}
	/* a frontend's state: /local/domain/D/device/vif/N/state */
	if (sscanf(ev->path, "/local/domain/%u/device/vif/%u", &domid, &devid) == 2 &&
	    (v = nb_vif_get(b, domid, devid, false)) && v->fe[0] &&
	    !strncmp(ev->path, v->fe, strlen(v->fe)))
		nb_vif_mark(b, v);
	return 0;
}

static int look_pending(struct nb_back *b)
{
	while (b->qhead) {
		struct nb_vif *v = b->qhead;
		int rc;

		b->qhead = v->qnext;
		if (!b->qhead)
			b->qtail = &b->qhead;
		v->pending = false;
		/* tests: a vif listed, not yet looked at (a failure is taken
		 * as xenstored's refusal) */
		rc = FAULT_POINT("vif-look");
		if (rc == 0)
			rc = nb_vif_look(b, v);
		if (rc == 1) {
			nb_vif_forget(b, v);
		} else if (rc < 0 && xsc_broken(b->xs)) {
			return rc; /* xenstore is gone */
		} else if (rc < 0 && rc != -EINVAL && rc != -EOPNOTSUPP && rc != -EEXIST &&
			   rc != -EAGAIN) {
			/* xenstored refused this vif's request (its quota of
			 * transactions, or of nodes: ENOSPC; EACCES, EIO...):
			 * that vif's, looked at again after a backoff */
			nb_vif_backoff(b, v);
		} else {
			if (rc < 0)
				log_err("vif%u.%u: %s", v->domid, v->devid, err_msg());
			if (v->refused_tries && rc == 0)
				log_info("vif%u.%u: xenstore took its transaction again", v->domid,
					 v->devid);
			v->refused_tries = 0;
			v->refused_ms = 0;
		}
	}
	return 0;
}

int nb_back_watch(struct nb_back *b)
{
	struct xsc_op watch = { .type = XS_MSG_WATCH, .path = XSVIF_ROOT, .arg = BE_TOKEN };
	int rc = xsc_run(b->xs, &watch, 1);

	if (rc == 0 && watch.err)
		rc = err_set(watch.err, "watch %s: %s", XSVIF_ROOT, strerror(-watch.err));
	xsc_ops_free(&watch, 1);
	return rc;
}

bool nb_back_busy(struct nb_back *b)
{
	if (b->xs_retry_ms)
		return nb_now_ms() >= b->xs_retry_ms;
	return xsc_events_queued(b->xs) || b->qhead || nb_back_hold_due(b);
}

int nb_back_fd(const struct nb_back *b)
{
	return b->xs_retry_ms ? -1 : xsc_fd(b->xs);
}

/* The connection failed (rc, err_msg()): logged once, the next try
 * scheduled. The look queue is dropped, and so is a listing to take
 * again: the scan after reconnecting looks at every vif. */
static void xs_lost(struct nb_back *b, int rc)
{
	uint64_t now = nb_now_ms();

	/* err_msg() names xenstore */
	log_err("%s; vifs connected are served on, reconnecting", err_msg());
	xs_retry_reply(&b->xs_retry, rc);
	xs_retry_reset(&b->xs_retry);
	xsc_hangup(b->xs);
	nb_back_conn_lost(b);
	while (b->qhead) {
		b->qhead->pending = false;
		b->qhead = b->qhead->qnext;
	}
	b->qtail = &b->qhead;
	b->xs_lost_ms = now;
	b->xs_tries = 0;
	b->xs_retry_ms = now + xs_retry_wait(&b->xs_retry);
}

/* One try at a new connection and its watch: 0, or -errno and the next
 * try scheduled (each try is logged at debug level only: a loss is one
 * line, however long it lasts). */
static int xs_reconnect(struct nb_back *b)
{
	struct xsc *lost = b->xs, *c = NULL;
	int rc = xsc_open(&c, b->xs_timeout_ms);

	b->xs_tries++;
	if (rc == 0) {
		xsc_wait_hook(c, b->xs_wait, b->xs_wait_arg);
		b->xs = c;
		rc = nb_back_watch(b);
		xs_retry_reply(&b->xs_retry, rc);
	}
	if (rc < 0) {
		log_debug("xenstore: try %u: %s", b->xs_tries, err_msg());
		b->xs = lost;
		xsc_close(c);
		b->xs_retry_ms = nb_now_ms() + xs_retry_wait(&b->xs_retry);
		xs_retry_failed(&b->xs_retry);
		return rc;
	}
	xsc_close(lost);
	b->xs_retry_ms = 0;
	b->xs_reconnects++;
	xs_retry_reset(&b->xs_retry);
	log_info("xenstore: connected again after %llu ms (%u tr%s); watch set again, every vif "
		 "looked at again",
		 (unsigned long long)(nb_now_ms() - b->xs_lost_ms), b->xs_tries,
		 b->xs_tries == 1 ? "y" : "ies");
	return 0;
}

static int run(struct nb_back *b)
{
	int rc = rescan_due(b);

	if (rc < 0)
		return rc;
	nb_back_holds_end(b);
	for (unsigned k = 0; k < NB_EVENTS_PER_WAKE; k++) {
		struct xsc_event *ev = xsc_event_next(b->xs, &rc);

		if (!ev) {
			if (rc < 0)
				return rc;
			break;
		}
		rc = on_event(b, ev);
		free(ev);
		if (rc < 0)
			return rc;
	}
	return look_pending(b);
}

int nb_back_run(struct nb_back *b)
{
	int rc;

	if (b->xs_retry_ms && (nb_now_ms() < b->xs_retry_ms || xs_reconnect(b) < 0))
		return 0;
	/* every failure here is the connection's (a refusal is a vif's,
	 * handled where it comes) */
	rc = run(b);
	if (rc < 0)
		xs_lost(b, xsc_broken(b->xs) ?: rc);
	return 0;
}
