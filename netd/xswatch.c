/* xswatch: netd plugs vifs on xenstore events (xenstore_watch = yes).
 *
 * One xenstore watch on /local/domain/0/backend/vif; its events arrive on
 * the connection's fd, an io source of netd's loop. An event only marks the vif its
 * path names as pending; a defer source then looks at each pending vif once,
 * so the dozen nodes a toolstack writes for one vif (one transaction) make
 * one plug. A look at vif D.N:
 *
 *   backend dir gone, or online = 0    -> unplug it (if netd has it)
 *   not answered, online not 0 or 1,
 *   or script empty                    -> hotplug-error naming the key and
 *                                         value (libxl would wait 40 s)
 *   online = 1, hotplug-status "" or
 *   absent, script set, netback ready  -> plug from the keys (vif/xsvif.c,
 *                                         as `netdctl hotplug` reads them),
 *                                         write hotplug-status
 *   the same, netback not ready        -> nothing yet (see backend_ready())
 *   anything else (connected, error)   -> nothing: already answered
 *
 * A vif not answered yet is looked at by reading its whole directory once
 * (one batch of requests, lib/xs_client.h); one answered costs one batch of
 * two reads (online, hotplug-status). The event our own hotplug-status
 * write fires is recognised and skipped; were it not, it would land in the
 * last row, so nothing can loop. The script's mode hint comes from the
 * `script` key: vif-route / vif-nat plug only into route / nat networks.
 *
 * xenstored may go away: the connection is then closed, and reopened with
 * backoff (lib/xs_retry.h: 50 ms doubling to 2 s); the watch firing on registration makes
 * the first look after a reconnect a full rescan, which also unplugs vifs
 * whose directory vanished meanwhile (only vifs seen in xenstore before:
 * vifs plugged by hand are not ours to remove). A xenstored that is alive
 * but stops answering holds the loop for at most XSW_TIMEOUT_MS per batch;
 * then it counts as gone. */
#include "netd/xswatch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xen/io/xenbus.h>

#include "lib/dec.h"
#include "lib/err.h"
#include "lib/log.h"
#include "lib/nl_link.h"
#include "lib/nl_linkwatch.h"
#include "lib/xs_retry.h"
#include "netd/daemon.h"
#include "vif/xsvif.h"

#define XSW_TOKEN "netd-xswatch"
#define XSW_BUCKETS 1024
#define XSW_DRAIN_MAX 4096   /* events per wakeup; the rest next iteration */
#define XSW_BATCH 64         /* vifs looked at per iteration: the socket stays served */
#define XSW_ALIVE_MS 1000
#define XSW_TIMEOUT_MS 2000 /* a batch not answered by then: xenstored is hung */

/* Where a vif's backend directory is, as far as the watch knows; vif_step()
 * is the one place that changes it. */
enum xsw_state {
	XSW_UNSEEN,    /* no backend directory at the last look (or never looked) */
	XSW_SEEN,      /* a directory, no hotplug-status: the next look reads it whole */
	XSW_ANSWERED,  /* hotplug-status set by someone else, or an error by us */
	XSW_CONNECTED, /* we plugged it and wrote "connected" */
	XSW_REASKED,   /* plugged by us, but its answer was withdrawn (hotplug-status
			* cleared, directory rewritten): looked at whole again */
};

/* What a look (or a report) found out about a vif. */
enum xsw_event {
	XSW_EV_DIR,       /* its directory is there */
	XSW_EV_ANSWERED,  /* it has a hotplug-status (someone's, or ours) */
	XSW_EV_CONNECTED, /* we wrote "connected" for our plug */
	XSW_EV_WITHDRAWN, /* its hotplug-status is gone, the directory is not */
	XSW_EV_UNPLUGGED, /* we unplugged it (or netd lost it) */
	XSW_EV_GONE,      /* its directory is gone (unplugged first if it was ours) */
};

struct xsw_vif {
	uint32_t domid, devid;
	enum xsw_state state;
	/* Not part of the state: */
	bool pending; /* in the queue */
	bool echo;    /* the next hotplug-status event is our own write */
	bool emu;     /* we plugged its emulated NIC's tap (see emu_plug()) */
	char vifname[IFNAMSIZ]; /* its vifname key, "" if none */
	struct xsw_report *retry; /* its report, to be written again (see retry_later()) */
	struct xsw_vif *hnext, *qnext, *rnext;
};

/* A plug done, its hotplug-status not written yet (see on_defer()). */
struct xsw_report {
	struct xsw_vif *v;
	struct xsvif x;
	bool failed;
	char msg[ERR_MSG_MAX];
	unsigned mtu;
	unsigned tries;   /* written again so many times (retry_later()) */
	uint64_t due_ms;  /* then, on CLOCK_MONOTONIC */
};

struct netd_xswatch {
	struct netd *d;
	struct xsc *xs; /* the watch, and every read and write */
	sd_event_source *io, *timer, *defer, *link_io, *retry_timer;
	struct nl_linkwatch *links; /* for HVM guests' taps */
	/* the wait before the next attempt (lib/xs_retry.h): a hung
	 * xenstored (which still accepts connections) holds the loop 2 s a
	 * minute at most, not all the time */
	struct xs_retry retry;
	bool warned; /* "cannot connect" logged once per outage */
	struct xsw_vif *hash[XSW_BUCKETS];
	struct xsw_vif *qhead, **qtail;
	struct xsw_report reports[XSW_BATCH];
	unsigned n_reports;
	struct xsw_vif *retries; /* vifs with a report to write again */
	/* A refused listing, taken again on retry_timer (lib/xs_retry.h) */
	struct xs_relist relist;
};

static unsigned bucket(uint32_t domid, uint32_t devid)
{
	return (domid * 2654435761u ^ devid * 40503u) % XSW_BUCKETS;
}

static struct xsw_vif *vif_get(struct netd_xswatch *w, uint32_t domid, uint32_t devid,
			       bool create)
{
	unsigned b = bucket(domid, devid);
	struct xsw_vif *v;

	for (v = w->hash[b]; v; v = v->hnext)
		if (v->domid == domid && v->devid == devid)
			return v;
	if (!create)
		return NULL;
	v = calloc(1, sizeof(*v));
	if (!v)
		return NULL;
	v->domid = domid;
	v->devid = devid;
	v->hnext = w->hash[b];
	w->hash[b] = v;
	return v;
}

static const char *state_name(enum xsw_state st)
{
	static const char *const names[] = {
		[XSW_UNSEEN] = "unseen", [XSW_SEEN] = "seen", [XSW_ANSWERED] = "answered",
		[XSW_CONNECTED] = "connected", [XSW_REASKED] = "reasked",
	};

	return (unsigned)st < sizeof(names) / sizeof(names[0]) ? names[st] : "?";
}

/* The one place a vif's state changes (transitions logged at debug level).
 * The usual life, left to right, and the ways back:
 *
 *   UNSEEN -DIR-> SEEN -ANSWERED-> ANSWERED -CONNECTED-> CONNECTED -WITHDRAWN-> REASKED
 *                  ^--WITHDRAWN------'  ^-----UNPLUGGED-----'  ^-----ANSWERED-------'
 *
 * and all of it:
 *
 *   from \ event  DIR    ANSWERED   CONNECTED  WITHDRAWN  UNPLUGGED  GONE
 *   UNSEEN        SEEN   ANSWERED   REASKED*   .          .          .
 *   SEEN          .      ANSWERED   REASKED*   .          .          UNSEEN
 *   ANSWERED      .      .          CONNECTED  SEEN       .          UNSEEN
 *   CONNECTED     .      .          .          REASKED    ANSWERED   UNSEEN
 *   REASKED       .      CONNECTED  .          .          SEEN       UNSEEN
 *
 * (. : stays.) An unreadable directory is answered at once (UNSEEN ->
 * ANSWERED). GONE comes after the unplug of a vif that was ours. *: our
 * "connected" for a vif whose directory changed between our plug and our
 * report: plugged, and to be looked at again. */
static void vif_step(struct xsw_vif *v, enum xsw_event ev)
{
	enum xsw_state from = v->state, to = from;

	switch (ev) {
	case XSW_EV_DIR:
		if (from == XSW_UNSEEN)
			to = XSW_SEEN;
		break;
	case XSW_EV_ANSWERED:
		if (from == XSW_UNSEEN || from == XSW_SEEN)
			to = XSW_ANSWERED;
		else if (from == XSW_REASKED)
			to = XSW_CONNECTED;
		break;
	case XSW_EV_CONNECTED:
		if (from == XSW_ANSWERED)
			to = XSW_CONNECTED;
		else if (from == XSW_UNSEEN || from == XSW_SEEN)
			to = XSW_REASKED;
		break;
	case XSW_EV_WITHDRAWN:
		if (from == XSW_ANSWERED)
			to = XSW_SEEN;
		else if (from == XSW_CONNECTED)
			to = XSW_REASKED;
		break;
	case XSW_EV_UNPLUGGED:
		if (from == XSW_CONNECTED)
			to = XSW_ANSWERED;
		else if (from == XSW_REASKED)
			to = XSW_SEEN;
		break;
	case XSW_EV_GONE:
		to = XSW_UNSEEN;
		break;
	}
	if (to == from)
		return;
	log_debug("vif%u.%u: xenstore watch: %s -> %s", v->domid, v->devid, state_name(from),
		  state_name(to));
	v->state = to;
}

/* Had a backend directory at the last look. */
static bool vif_is_seen(const struct xsw_vif *v)
{
	return v->state != XSW_UNSEEN;
}

/* Its hotplug-status is set (by us or anyone): a look reads two keys only. */
static bool vif_is_answered(const struct xsw_vif *v)
{
	return v->state == XSW_ANSWERED || v->state == XSW_CONNECTED;
}

/* We plugged it and said so. */
static bool vif_is_connected(const struct xsw_vif *v)
{
	return v->state == XSW_CONNECTED || v->state == XSW_REASKED;
}

static void vif_forget(struct netd_xswatch *w, struct xsw_vif *v)
{
	struct xsw_vif **pp = &w->hash[bucket(v->domid, v->devid)];

	while (*pp != v)
		pp = &(*pp)->hnext;
	*pp = v->hnext;
	free(v);
}

static void mark(struct netd_xswatch *w, uint32_t domid, uint32_t devid)
{
	struct xsw_vif *v = vif_get(w, domid, devid, true);

	if (!v) {
		log_err("xenstore watch: out of memory, vif%u.%u not looked at", domid, devid);
		return;
	}
	if (v->pending)
		return;
	v->pending = true;
	v->qnext = NULL;
	*w->qtail = v;
	w->qtail = &v->qnext;
	sd_event_source_set_enabled(w->defer, SD_EVENT_ONESHOT);
}

static void disconnect(struct netd_xswatch *w, const char *why);

/* After each batch: did xenstored answer (lib/xs_retry.h)? */
static void note_reply(struct netd_xswatch *w, int rc)
{
	xs_retry_reply(&w->retry, rc);
}
static void drain(struct netd_xswatch *w);

/* Runs a batch; false when the connection is gone (it is closed then). */
static bool run(struct netd_xswatch *w, struct xsc_op *ops, unsigned n)
{
	int rc = xsc_run(w->xs, ops, n);

	note_reply(w, rc);
	if (rc == 0)
		return true;
	disconnect(w, err_msg());
	return false;
}

static uint64_t now_ms(void);
static void retry_arm(struct netd_xswatch *w);

/* The names under path: a NUL-separated list in op->reply (NULL if the
 * node is absent); false when the connection is gone or the listing
 * refused (listed again later: lib/xs_retry.h's xs_relist). */
static bool list(struct netd_xswatch *w, const char *path, bool root, uint32_t domid,
		 struct xsc_op *op)
{
	int rc = xsc_list(w->xs, 0, path, op);

	note_reply(w, rc);
	if (rc) {
		disconnect(w, err_msg());
		return false;
	}
	if (op->err && op->err != -ENOENT) {
		/* nothing known of what is there: what we knew stays */
		xs_relist_refused(&w->relist, path, root, domid, op->err, now_ms());
		retry_arm(w);
		xsc_ops_free(op, 1);
		return false;
	}
	return true;
}

#define foreach_name(name, op) \
	for (const char *name = (op)->reply; name && name < (op)->reply + (op)->len; \
	     name += strlen(name) + 1)

/* All vifs of one domain: those in xenstore, and those we knew (a removed
 * domain directory fires one event, for the directory). */
static void rescan_domain(struct netd_xswatch *w, uint32_t domid)
{
	char path[XSVIF_DIR_MAX];
	struct xsc_op kids;

	snprintf(path, sizeof(path), "%s/%u", XSVIF_ROOT, domid);
	if (!list(w, path, false, domid, &kids))
		return;
	if (xs_relist_listed(&w->relist, false, domid))
		retry_arm(w);
	foreach_name(name, &kids) {
		char kid[XSVIF_DIR_MAX + 16];
		uint32_t d, devid;

		snprintf(kid, sizeof(kid), "%s/%s", path, name);
		if (xsvif_path_depth(kid, &d, &devid) == 2)
			mark(w, domid, devid);
	}
	xsc_ops_free(&kids, 1);
	for (unsigned b = 0; b < XSW_BUCKETS; b++)
		for (struct xsw_vif *v = w->hash[b]; v; v = v->hnext)
			if (v->domid == domid && vif_is_seen(v))
				mark(w, v->domid, v->devid);
}

/* After (re)connecting: every vif in xenstore, and every vif we knew. */
static void rescan_all(struct netd_xswatch *w)
{
	struct xsc_op doms;
	unsigned refusals = w->relist.refusals;

	if (!list(w, XSVIF_ROOT, true, 0, &doms))
		return;
	foreach_name(name, &doms) {
		char dom[XSVIF_DIR_MAX];
		uint32_t domid, devid;

		if (!w->xs)
			break;
		snprintf(dom, sizeof(dom), "%s/%s", XSVIF_ROOT, name);
		if (xsvif_path_depth(dom, &domid, &devid) == 1)
			rescan_domain(w, domid);
	}
	xsc_ops_free(&doms, 1);
	/* every domain listed too: whatever run of refusals there was is over */
	if (w->xs && w->relist.refusals == refusals && xs_relist_listed(&w->relist, true, 0))
		retry_arm(w);
	for (unsigned b = 0; b < XSW_BUCKETS && w->xs; b++)
		for (struct xsw_vif *v = w->hash[b]; v; v = v->hnext)
			if (vif_is_seen(v))
				mark(w, v->domid, v->devid);
}

static void on_event(struct netd_xswatch *w, const char *path)
{
	uint32_t domid = 0, devid = 0;

	switch (xsvif_path_depth(path, &domid, &devid)) {
	case 0:
		rescan_all(w);
		break;
	case 1:
		rescan_domain(w, domid);
		break;
	case 2: {
		struct xsw_vif *v = vif_get(w, domid, devid, false);
		size_t n = strlen(path);

		/* Our own hotplug-status write, back as an event: nothing new.
		 * Events come in order, so it is the first one after the write;
		 * any other change to the vif still brings a look. */
		if (v && v->echo && n > 15 && !strcmp(path + n - 15, "/hotplug-status")) {
			v->echo = false;
			break;
		}
		mark(w, domid, devid);
		break;
	}
	default:
		break; /* not a vif (a stray node under the root) */
	}
}

/* netd's vif-online from a vif's backend keys, as `netdctl hotplug` asks. */
static int online(struct netd_xswatch *w, const char *id, const struct xsvif *x, json_t **result)
{
	json_t *args = NULL;
	const char *mode;
	int rc = xsvif_args(x, NULL, &args, NULL);

	if (rc == 0) {
		mode = xsvif_script_mode(x->val[XK_SCRIPT]);
		if (mode)
			json_object_set_new(args, "mode", json_string(mode));
		rc = netd_vif_online(w->d, id, args, result);
	}
	json_decref(args);
	return rc;
}

static void offline(struct netd_xswatch *w, const char *id, const char *why)
{
	if (netd_vif_offline(w->d, id) == 0)
		log_info("vif%s unplugged (%s)", id, why);
	else if (err_code() != -ENOENT)
		log_err("vif%s: unplug (%s): %s", id, why, err_msg());
}

/* HVM guests: QEMU's emulated NIC is a tap, vifD.N-emu, which libxl has
 * plugged with its vif's keys (the script with type_if=tap, renaming it
 * NAME-emu for vifname=NAME) once QEMU made it; xenstore says nothing of
 * it. With no scripts, netd plugs it when it appears after its vif was
 * connected, or when its vif gets connected after it appeared, and unplugs
 * it when it goes, or when its vif does. */
static void emu_name(const struct xsw_vif *v, bool renamed, char *buf, size_t len)
{
	if (renamed && v->vifname[0])
		snprintf(buf, len, "%s-emu", v->vifname);
	else
		snprintf(buf, len, "vif%u.%u-emu", v->domid, v->devid);
}

static bool emu_exists(const struct xsw_vif *v)
{
	char name[IFNAMSIZ + 16];

	emu_name(v, false, name, sizeof(name));
	if (if_nametoindex(name))
		return true;
	emu_name(v, true, name, sizeof(name));
	return if_nametoindex(name) != 0;
}

/* keys: the vif's backend keys when the caller has just read them, NULL to
 * read them here. */
static void emu_plug(struct netd_xswatch *w, struct xsw_vif *v, const struct xsvif *keys)
{
	char dir[XSVIF_DIR_MAX], id[40], name[IFNAMSIZ + 16];
	struct xsvif x = { 0 };
	int rc = 0;

	if (v->emu || !vif_is_connected(v) || !w->xs || !emu_exists(v))
		return;
	emu_name(v, true, name, sizeof(name));
	if (!keys) {
		snprintf(dir, sizeof(dir), "%s/%u/%u", XSVIF_ROOT, v->domid, v->devid);
		rc = xsvif_read(w->xs, dir, &x);
		note_reply(w, rc);
		if (rc && rc != -EINVAL) {
			disconnect(w, err_msg());
			return;
		}
		keys = &x;
	}
	snprintf(id, sizeof(id), "%u.%u-emu", v->domid, v->devid);
	if (rc == 0)
		rc = online(w, id, keys, NULL);
	if (rc)
		log_err("%s: %s", name, err_msg());
	else
		log_info("%s plugged (xenstore watch: emulated NIC of vif%u.%u)", name, v->domid,
			 v->devid);
	v->emu = rc == 0;
	xsvif_free(&x);
}

static void emu_unplug(struct netd_xswatch *w, struct xsw_vif *v, const char *why)
{
	char id[40];

	if (!v->emu)
		return;
	v->emu = false;
	snprintf(id, sizeof(id), "%u.%u-emu", v->domid, v->devid);
	offline(w, id, why);
}

static void on_link(const struct nl_link_event *ev, void *data)
{
	struct netd_xswatch *w = data;
	size_t n = strlen(ev->name);
	struct xsw_vif *v = NULL;
	uint32_t domid, devid;
	char base[IFNAMSIZ], c;

	if (n <= 4 || strcmp(ev->name + n - 4, "-emu"))
		return;
	snprintf(base, sizeof(base), "%.*s", (int)(n - 4), ev->name);
	if (sscanf(base, "vif%u.%u%c", &domid, &devid, &c) == 2)
		v = vif_get(w, domid, devid, false);
	else /* NAME-emu, renamed: the vif whose vifname is NAME */
		for (unsigned b = 0; b < XSW_BUCKETS && !(v && !strcmp(v->vifname, base)); b++)
			for (v = w->hash[b]; v && strcmp(v->vifname, base); v = v->hnext)
				;
	if (!v)
		return;
	if (ev->gone)
		emu_unplug(w, v, "its tap is gone");
	else
		emu_plug(w, v, NULL);
}

static int on_link_io(sd_event_source *s, int fd, uint32_t events, void *data)
{
	struct netd_xswatch *w = data;
	int rc = nl_linkwatch_read(w->links, on_link, w);

	if (rc < 0) {
		log_err("xenstore watch: %s", err_msg());
	} else if (rc > 0) { /* events lost: look at every tap we care about */
		for (unsigned b = 0; b < XSW_BUCKETS; b++)
			for (struct xsw_vif *v = w->hash[b]; v; v = v->hnext) {
				if (v->emu && !emu_exists(v))
					emu_unplug(w, v, "its tap is gone");
				emu_plug(w, v, NULL);
			}
	}
	return 0;
}

static void unplug(struct netd_xswatch *w, struct xsw_vif *v, const char *why)
{
	char id[32], reason[128];

	snprintf(reason, sizeof(reason), "xenstore: %s", why);
	emu_unplug(w, v, reason);
	vif_step(v, XSW_EV_UNPLUGGED);
	snprintf(id, sizeof(id), "%u.%u", v->domid, v->devid);
	offline(w, id, reason);
}

/* What `netdctl hotplug online` does, in-process, from keys read already;
 * x becomes the report's, written after the batch's state file. */
static void plug(struct netd_xswatch *w, struct xsw_vif *v, struct xsvif *x)
{
	struct xsw_report *r = &w->reports[w->n_reports++];
	json_t *result = NULL;
	const char *mode, *ifname;
	char id[32];
	int rc;

	r->v = v;
	r->x = *x;
	memset(x, 0, sizeof(*x));
	r->mtu = 0;
	r->tries = 0;
	snprintf(id, sizeof(id), "%u.%u", v->domid, v->devid);
	rc = online(w, id, &r->x, &result);
	r->failed = rc != 0;
	if (rc) {
		snprintf(r->msg, sizeof(r->msg), "%s", err_msg());
		log_err("vif%s: %s", id, r->msg);
	} else {
		mode = json_string_value(json_object_get(result, "mode"));
		ifname = json_string_value(json_object_get(result, "ifname"));
		/* As vif-bridge: the frontend learns the MTU its backend got. */
		if (mode && !strcmp(mode, "bridge") && ifname) {
			struct nl_link l;

			if (nl_link_get(ifname, &l) == 0)
				r->mtu = l.mtu;
		}
		log_info("%s plugged into %s (xenstore watch)", ifname ? ifname : id,
			 json_string_value(json_object_get(result, "network")) ?: "?");
	}
	vif_step(v, XSW_EV_ANSWERED);
	json_decref(result);
}

/* A report xenstored did not take, but may take later: its transaction
 * conflicted every try (the toolstack, or anyone, writing what it reads),
 * or could not start (xenstored's quota of open transactions, a driver
 * domain's). Left alone, the vif would stay plugged with no
 * hotplug-status, and libxl would fail the guest's start at its timeout. */
static bool report_again(const struct netd_xswatch *w, int rc)
{
	return w->xs && (rc == -EAGAIN || rc == -EDQUOT);
}

/* hotplug-status for a plug, once netd's state file has it. Returns
 * xsvif_report's answer; when report_again() says so for it, nothing
 * else is done and r->x is kept, for retry_later(). */
static int report(struct netd_xswatch *w, struct xsw_report *r)
{
	int rc = 0; /* no connection: the rescan after reconnecting looks again */

	if (w->xs) {
		rc = xsvif_report(w->xs, &r->x, r->failed ? r->msg : NULL, r->mtu);
		note_reply(w, rc);
	}
	if (report_again(w, rc))
		return rc;
	r->v->echo = w->xs && rc == 0 && !r->failed;
	if (r->v->echo) {
		vif_step(r->v, XSW_EV_CONNECTED);
		snprintf(r->v->vifname, sizeof(r->v->vifname), "%s", r->x.val[XK_VIFNAME] ?: "");
		emu_plug(w, r->v, &r->x);
	}
	/* Nothing written: the directory went, or is not the one the plug
	 * was made from (a new device's); the look its events bring plugs
	 * whatever is there now. */
	if (rc == -ENOENT)
		unplug(w, r->v, "backend directory removed while being plugged");
	else if (rc == -ESTALE)
		unplug(w, r->v, "backend directory changed while being plugged");
	else if (rc)
		log_err("vif%u.%u: %s", r->v->domid, r->v->devid, err_msg());
	xsvif_free(&r->x);
	return rc;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The retry timer at the soonest report or listing due; off when none is. */
static void retry_arm(struct netd_xswatch *w)
{
	uint64_t due = w->relist.due_ms;

	for (struct xsw_vif *v = w->retries; v; v = v->rnext)
		if (!due || v->retry->due_ms < due)
			due = v->retry->due_ms;
	if (!due) {
		sd_event_source_set_enabled(w->retry_timer, SD_EVENT_OFF);
		return;
	}
	sd_event_source_set_time(w->retry_timer, due * 1000);
	sd_event_source_set_enabled(w->retry_timer, SD_EVENT_ONESHOT);
}

/* v's report is not written again: written, given up, or superseded (a
 * look at v decides afresh, a lost connection's rescan looks again). */
static void retry_drop(struct netd_xswatch *w, struct xsw_vif *v)
{
	struct xsw_vif **pp = &w->retries;

	if (!v->retry)
		return;
	while (*pp != v)
		pp = &(*pp)->rnext;
	*pp = v->rnext;
	xsvif_free(&v->retry->x);
	free(v->retry);
	v->retry = NULL;
	retry_arm(w);
}

/* r (a batch's report, or its vif's retry) is written again later, with
 * backoff, on the loop's timer (never waited for), XS_REFUSED_TRIES times
 * at most; err_msg() is why it was not written now (xsvif_report's, which
 * names the vif). */
static void retry_later(struct netd_xswatch *w, struct xsw_report *r)
{
	struct xsw_vif *v = r->v;
	struct xsw_report *c;
	unsigned ms;

	if (r->tries >= XS_REFUSED_TRIES) {
		log_err("%s: hotplug-status not written, given up after %u tries", err_msg(),
			r->tries + 1);
		retry_drop(w, v);
		return;
	}
	if (v->retry != r) {
		retry_drop(w, v);
		c = malloc(sizeof(*c));
		if (!c) {
			log_err("%s: hotplug-status not written (out of memory)", err_msg());
			xsvif_free(&r->x);
			return;
		}
		*c = *r;
		memset(&r->x, 0, sizeof(r->x));
		c->tries = 0;
		v->retry = c;
		v->rnext = w->retries;
		w->retries = v;
		r = c;
	}
	ms = xs_refused_wait_ms(r->tries);
	r->tries++;
	r->due_ms = now_ms() + ms;
	log_warn("%s: hotplug-status written again in %u ms", err_msg(), ms);
	retry_arm(w);
}

/* The listing due, taken again (its vifs marked, looked at by on_defer). */
static void relist(struct netd_xswatch *w, uint64_t now)
{
	if (!w->xs || !xs_relist_due(&w->relist, now, NULL, 0))
		return;
	if (w->relist.relist_root)
		rescan_all(w);
	else
		rescan_domain(w, w->relist.domid);
}

/* The listing and reports due, taken and written again. */
static int on_retry(sd_event_source *s, uint64_t usec, void *data)
{
	struct netd_xswatch *w = data;
	uint64_t now = now_ms();
	struct xsw_vif *v;

	relist(w, now);
	for (;;) {
		struct xsw_report *r;
		char id[32];
		int rc;

		for (v = w->retries; v && v->retry->due_ms > now; v = v->rnext)
			;
		if (!v || !w->xs)
			break;
		r = v->retry;
		snprintf(id, sizeof(id), "%u.%u", v->domid, v->devid);
		/* unplugged meanwhile (by hand: netd losing it says so
		 * itself, see on_vif_lost): not "connected" */
		if (!r->failed && !netd_vif_is_online(w->d, id)) {
			r->failed = true;
			snprintf(r->msg, sizeof(r->msg),
				 "vif%s: unplugged while its hotplug-status waited to be written", id);
		}
		rc = report(w, r);
		if (report_again(w, rc)) {
			retry_later(w, r); /* due later than now: not found again */
			continue;
		}
		if (rc == 0)
			log_info("vif%u.%u: hotplug-status written (try %u)", v->domid, v->devid,
				 r->tries + 1);
		retry_drop(w, v);
	}
	/* Events that came in among the replies, as after on_defer's. */
	if (w->xs && xsc_events_queued(w->xs))
		drain(w);
	retry_arm(w);
	return 0;
}

/* Has netback created vifD.N? libxl runs a script only once the backend
 * is in InitWait (state 2): Linux netback's probe creates the interface
 * before that, but after the toolstack's transaction that wrote the
 * directory (online = 1, state = 1, script...). Under real Xen (4.17,
 * Linux 6.1) a plug on that first event found no interface and answered
 * hotplug-error "no such interface". An interface that exists is ready
 * whatever the state says (a simulated backend; a vif a plug renamed);
 * a missing one waits for InitWait (2) to Connected (4), whose write is
 * another event. Closing and Closed are not ready: a directory removed
 * and made again at once may carry the old backend's Closed until the
 * new one's probe writes InitWait (netback/xenbus.c's renew), and a plug
 * then would find no interface and answer hotplug-error. */
static bool backend_ready(struct netd_xswatch *w, struct xsw_vif *v, const char *dir)
{
	char ifname[32], path[XSVIF_DIR_MAX + 16];
	struct xsc_op op = { .type = XS_MSG_READ, .path = path };
	bool ready;
	uint64_t state;

	snprintf(ifname, sizeof(ifname), "vif%u.%u", v->domid, v->devid);
	if (if_nametoindex(ifname) || errno != ENODEV)
		return true; /* there, or the lookup failed: the plug tells */
	snprintf(path, sizeof(path), "%s/state", dir);
	if (!run(w, &op, 1))
		return false;
	ready = op.reply && dec_parse(op.reply, strlen(op.reply), XenbusStateConnected, &state) == 0 &&
		state >= XenbusStateInitWait;
	xsc_ops_free(&op, 1);
	return ready;
}

/* A vif not answered yet: its whole directory, read once, decides. */
/* A directory no plug can come of: its reason as hotplug-error, now (there
 * is nothing in netd's state to wait for). */
static void refuse(struct netd_xswatch *w, struct xsw_vif *v, const struct xsvif *x)
{
	int rc;

	log_err("%s", err_msg());
	rc = xsvif_report(w->xs, x, err_msg(), 0);
	note_reply(w, rc);
	if (rc)
		log_err("%s", err_msg());
	vif_step(v, XSW_EV_ANSWERED);
}

static void look_fresh(struct netd_xswatch *w, struct xsw_vif *v, const char *dir)
{
	const char *script, *status;
	struct xsvif x;
	int rc;

	rc = xsvif_read(w->xs, dir, &x);
	note_reply(w, rc);
	if (rc == -EINVAL) {
		/* A value we cannot even read (a NUL byte): the toolstack's answer. */
		log_err("%s", err_msg());
		if (xsvif_report(w->xs, &x, err_msg(), 0))
			log_err("%s", err_msg());
		vif_step(v, XSW_EV_DIR);
		vif_step(v, XSW_EV_ANSWERED);
		return;
	}
	if (rc) {
		disconnect(w, err_msg());
		return;
	}
	if (!x.exists) {
		if (vif_is_seen(v))
			unplug(w, v, "backend directory removed");
		vif_step(v, XSW_EV_GONE);
		return;
	}
	vif_step(v, XSW_EV_DIR);
	script = x.val[XK_SCRIPT];
	status = x.val[XK_HOTPLUG_STATUS];
	if (!x.val[XK_ONLINE] || !script)
		; /* a directory still being written: its last key brings an event */
	else if (!strcmp(x.val[XK_ONLINE], "0"))
		unplug(w, v, "online = 0");
	else if (status && status[0])
		vif_step(v, XSW_EV_ANSWERED); /* connected or error: someone answered */
	else if (xsvif_check_control(&x) < 0)
		refuse(w, v, &x); /* libxl would wait 40 s for nothing */
	else if (backend_ready(w, v, dir))
		plug(w, v, &x);
	xsvif_free(&x);
}

/* One look at one vif (see the table at the top). A vif we answered costs
 * one batch of two reads: our own hotplug-status write comes back as an
 * event. */
static void look(struct netd_xswatch *w, struct xsw_vif *v)
{
	char dir[XSVIF_DIR_MAX], online[XSVIF_DIR_MAX + 16], status[XSVIF_DIR_MAX + 32];
	struct xsc_op ops[3] = {
		{ .type = XS_MSG_READ, .path = online },
		{ .type = XS_MSG_READ, .path = status },
		{ .type = XS_MSG_READ, .path = dir },
	};

	/* whatever it finds decides, a report to write again with it */
	retry_drop(w, v);
	snprintf(dir, sizeof(dir), "%s/%u/%u", XSVIF_ROOT, v->domid, v->devid);
	if (!vif_is_answered(v)) {
		look_fresh(w, v, dir);
		return;
	}
	snprintf(online, sizeof(online), "%s/online", dir);
	snprintf(status, sizeof(status), "%s/hotplug-status", dir);
	if (!run(w, ops, 3))
		return;
	if (!ops[0].reply) {
		/* No online key: the directory is being rewritten, or gone. */
		if (!ops[2].reply && vif_is_seen(v))
			unplug(w, v, "backend directory removed");
		vif_step(v, ops[2].reply ? XSW_EV_WITHDRAWN : XSW_EV_GONE);
	} else if (strcmp(ops[0].reply, "1")) {
		unplug(w, v, "online = 0");
	} else if (!ops[1].reply || !ops[1].reply[0]) {
		/* Cleared (a toolstack that wants the vif plugged again): from scratch. */
		vif_step(v, XSW_EV_WITHDRAWN);
		look_fresh(w, v, dir);
	}
	xsc_ops_free(ops, 3);
}

/* Up to XSW_BATCH pending vifs, plugged with one write of netd's state
 * file; each vif's hotplug-status only after it, so whoever sees
 * "connected" may count on netd remembering the vif across a crash. */
static int on_defer(sd_event_source *s, void *data)
{
	struct netd_xswatch *w = data;

	netd_defer_checkpoints(w->d, true);
	for (unsigned i = 0; i < XSW_BATCH && w->qhead && w->xs; i++) {
		struct xsw_vif *v = w->qhead;

		w->qhead = v->qnext;
		if (!w->qhead)
			w->qtail = &w->qhead;
		v->pending = false;
		look(w, v);
		/* A vif with a report to come is not forgotten before it. */
		if (v->state == XSW_UNSEEN && !v->pending && w->xs)
			vif_forget(w, v);
	}
	if (netd_defer_checkpoints(w->d, false)) {
		/* Their state could not be saved: netd unplugged them again,
		 * and says so rather than "connected". */
		for (unsigned i = 0; i < w->n_reports; i++) {
			struct xsw_report *r = &w->reports[i];
			char id[32];

			snprintf(id, sizeof(id), "%u.%u", r->v->domid, r->v->devid);
			if (r->failed || netd_vif_is_online(w->d, id))
				continue;
			r->failed = true;
			snprintf(r->msg, sizeof(r->msg), "not plugged, its state cannot be saved: %s",
				 err_msg());
		}
	}
	for (unsigned i = 0; i < w->n_reports; i++)
		if (report_again(w, report(w, &w->reports[i])))
			retry_later(w, &w->reports[i]);
	w->n_reports = 0;
	/* Events that came in among the replies: the fd does not say so. */
	if (w->xs && xsc_events_queued(w->xs))
		drain(w);
	if (w->qhead && w->xs)
		sd_event_source_set_enabled(w->defer, SD_EVENT_ONESHOT);
	return 0;
}

/* Every queued event, each turned into marks. The pipe stays readable
 * while events remain, so stopping at XSW_DRAIN_MAX loses nothing. */
static void drain(struct netd_xswatch *w)
{
	for (unsigned i = 0; i < XSW_DRAIN_MAX && w->xs; i++) {
		int rc;
		struct xsc_event *ev = xsc_event_next(w->xs, &rc);

		if (!ev) {
			if (rc)
				disconnect(w, err_msg());
			return;
		}
		if (!strcmp(ev->token, XSW_TOKEN))
			on_event(w, ev->path);
		free(ev);
	}
}

static int on_io(sd_event_source *s, int fd, uint32_t events, void *data)
{
	drain(data);
	return 0;
}

static int try_connect(struct netd_xswatch *w);

/* The timer in ms from now: from the clock, not sd_event_now(), which is
 * the start of this loop iteration and may be a timed-out batch ago. */
static void arm_timer(struct netd_xswatch *w, unsigned ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	sd_event_source_set_time(w->timer, (uint64_t)ts.tv_sec * 1000000 +
						   (uint64_t)ts.tv_nsec / 1000 + ms * 1000ull);
	sd_event_source_set_enabled(w->timer, SD_EVENT_ONESHOT);
}

/* Connected: the liveness check. Disconnected: the next attempt. */
static int on_timer(sd_event_source *s, uint64_t usec, void *data)
{
	struct netd_xswatch *w = data;

	if (w->xs) {
		drain(w);
	} else if (try_connect(w) == 0) {
		drain(w); /* the watch's first event came with its reply */
	} else {
		arm_timer(w, xs_retry_wait(&w->retry));
		xs_retry_failed(&w->retry);
		return 0;
	}
	if (w->xs) /* else disconnect() armed it */
		arm_timer(w, XSW_ALIVE_MS);
	return 0;
}

static void disconnect(struct netd_xswatch *w, const char *why)
{
	if (!w->xs)
		return;
	log_err("xenstore watch: %s; reconnecting", why);
	w->d->stats.xs_reconnects++;
	w->io = sd_event_source_unref(w->io);
	xsc_close(w->xs);
	w->xs = NULL;
	/* The rescan after reconnecting looks at everything again; echoes
	 * of writes made before are lost with the connection. */
	for (unsigned b = 0; b < XSW_BUCKETS; b++)
		for (struct xsw_vif *v = w->hash[b]; v; v = v->hnext)
			v->echo = false;
	while (w->retries)
		retry_drop(w, w->retries);
	xs_relist_reset(&w->relist); /* the rescan after reconnecting lists all */
	retry_arm(w);
	while (w->qhead) {
		w->qhead->pending = false;
		w->qhead = w->qhead->qnext;
	}
	w->qtail = &w->qhead;
	xs_retry_reset(&w->retry);
	w->warned = false;
	arm_timer(w, xs_retry_wait(&w->retry));
}

static int try_connect(struct netd_xswatch *w)
{
	struct xsc_op watch = { .type = XS_MSG_WATCH, .path = XSVIF_ROOT, .arg = XSW_TOKEN };
	int rc;

	rc = xsc_open(&w->xs, XSW_TIMEOUT_MS);
	if (rc)
		goto fail;
	/* Fires once at once: the full rescan. */
	rc = xsc_run(w->xs, &watch, 1);
	if (rc == -ETIMEDOUT) /* an answer to WATCH alone says little */
		note_reply(w, rc);
	rc = rc ?: watch.err;
	xsc_ops_free(&watch, 1);
	if (rc == 0)
		rc = sd_event_add_io(w->d->ev, &w->io, xsc_fd(w->xs), EPOLLIN, on_io, w);
	if (rc < 0)
		goto fail;
	log_info("xenstore watch on %s", XSVIF_ROOT);
	w->warned = false;
	xs_retry_reset(&w->retry);
	return 0;
fail:
	xsc_close(w->xs);
	w->xs = NULL;
	if (!w->warned)
		log_warn("xenstore watch: cannot reach xenstored (%s); retrying", strerror(-rc));
	w->warned = true;
	return rc;
}

/* netd lost a vif it had plugged (see struct netd's vif_lost): a PV vif
 * this watch told "connected" is told "error" with the reason instead,
 * while its directory still says our "connected": a device removed and
 * added again since (hotplug-status cleared) waits for its own plug, and
 * is not failed for the old one's loss. */
static void on_vif_lost(void *data, const struct vif *vif, const char *why)
{
	struct netd_xswatch *w = data;
	struct xsw_vif *v = vif_get(w, vif->domid, vif->devid, false);
	char dir[XSVIF_DIR_MAX];
	const char *status;
	struct xsvif x;
	int rc;

	if (v && v->retry && !v->retry->failed && !vif->emu) {
		/* its "connected" not written yet: the error instead */
		v->retry->failed = true;
		snprintf(v->retry->msg, sizeof(v->retry->msg), "%s", why);
		return;
	}
	if (!v || !vif_is_connected(v) || vif->emu || !w->xs)
		return;
	vif_step(v, XSW_EV_UNPLUGGED);
	snprintf(dir, sizeof(dir), "%s/%u/%u", XSVIF_ROOT, vif->domid, vif->devid);
	rc = xsvif_read(w->xs, dir, &x);
	note_reply(w, rc);
	status = x.val[XK_HOTPLUG_STATUS];
	/* x as read: the report writes only while the directory is so */
	if (rc == 0 && x.exists && status && !strcmp(status, "connected"))
		rc = xsvif_report(w->xs, &x, why, 0);
	note_reply(w, rc);
	if (rc)
		log_err("vif%u.%u: %s", vif->domid, vif->devid, err_msg());
	xsvif_free(&x);
}

int netd_xswatch_start(struct netd *d, struct netd_xswatch **out)
{
	struct netd_xswatch *w = calloc(1, sizeof(*w));
	int rc;

	if (!w)
		return err_set(-ENOMEM, "out of memory");
	w->d = d;
	w->qtail = &w->qhead;
	xs_retry_init(&w->retry);
	xs_relist_init(&w->relist, "xenstore watch: ", XSVIF_ROOT);
	rc = sd_event_add_defer(d->ev, &w->defer, on_defer, w);
	if (rc >= 0)
		rc = sd_event_source_set_enabled(w->defer, SD_EVENT_OFF);
	if (rc >= 0)
		rc = sd_event_add_time_relative(d->ev, &w->timer, CLOCK_MONOTONIC, 0, 0, on_timer, w);
	if (rc >= 0)
		rc = sd_event_add_time(d->ev, &w->retry_timer, CLOCK_MONOTONIC, 0, 0, on_retry, w);
	if (rc >= 0)
		rc = sd_event_source_set_enabled(w->retry_timer, SD_EVENT_OFF);
	if (rc >= 0 && nl_linkwatch_open(&w->links) < 0) {
		netd_xswatch_stop(w);
		return err_code();
	}
	if (rc >= 0)
		rc = sd_event_add_io(d->ev, &w->link_io, nl_linkwatch_fd(w->links), EPOLLIN,
				     on_link_io, w);
	if (rc < 0) {
		netd_xswatch_stop(w);
		return err_set(rc, "xenstore watch: event loop: %s", strerror(-rc));
	}
	/* The timer's first run (at once) connects. */
	d->vif_lost = on_vif_lost;
	d->vif_lost_data = w;
	*out = w;
	return 0;
}

void netd_xswatch_stop(struct netd_xswatch *w)
{
	if (!w)
		return;
	if (w->d->vif_lost_data == w) {
		w->d->vif_lost = NULL;
		w->d->vif_lost_data = NULL;
	}
	sd_event_source_unref(w->io);
	sd_event_source_unref(w->timer);
	sd_event_source_unref(w->retry_timer);
	sd_event_source_unref(w->defer);
	sd_event_source_unref(w->link_io);
	nl_linkwatch_close(w->links);
	xsc_close(w->xs);
	for (unsigned b = 0; b < XSW_BUCKETS; b++)
		while (w->hash[b]) {
			struct xsw_vif *v = w->hash[b];

			w->hash[b] = v->hnext;
			if (v->retry)
				xsvif_free(&v->retry->x);
			free(v->retry);
			free(v);
		}
	free(w);
}
