/* backend: vifback's steps of the xenbus handshake (netback/xenbus.c walks
 * it): a vif's port is its TAP, made at probe; its rings go to the
 * domain's worker at connect, with the TAP's queues. */
#include "vifback/sup.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/err.h"
#include "lib/log.h"
#include "lib/nl_link.h"
#include "vif/vif.h"
#include "vif/xsvif.h"
#include "vifback/tap.h"

static struct vb_sup *sup_of(struct nb_back *b)
{
	return (struct vb_sup *)((char *)b - offsetof(struct vb_sup, nb));
}

/* A vif whose bridge= dpswitch serves is dpswitch's, not ours. */
static bool serves(struct nb_back *b, const struct nb_vif *v, const char *bridge)
{
	struct vb_sup *s = sup_of(b);

	for (unsigned i = 0; bridge && i < s->n_not_bridge; i++)
		if (!strcmp(bridge, s->not_bridge[i]))
			return false;
	return true;
}

/* Unmarked (a vifback older than the mark made it), the TAP named
 * vifname (vifname=) is the one an earlier vifback made for the vif whose
 * own name is backend only if netd renamed it from that name, as netd's
 * mark says (vif/rename.c): two vifs the toolstack gave the
 * same vifname= both find the TAP of the one renamed first, which the
 * other must neither take (its guest would be served another's traffic)
 * nor remove. -ENODEV: no TAP of this vif's by that name. */
static int adopt_renamed(const struct nb_vif *v, const char *backend, const char *vifname,
			 int *fd)
{
	char from[IFNAMSIZ];
	struct nl_link l;
	bool marked;
	int rc;

	rc = nl_link_get(vifname, &l);
	if (rc < 0)
		return rc == -ENODEV ? rc : err_prefix(rc, "%s", vifname);
	marked = vif_renamed_from(l.alias, from);
	if (marked && !strcmp(from, backend))
		return vb_tap_adopt(vifname, fd);
	if (marked)
		log_warn("vif%u.%u: %s (its vifname=) is the interface netd renamed from %s, "
			 "another vif's: not taken",
			 v->domid, v->devid, vifname, from);
	else
		log_warn("vif%u.%u: %s (its vifname=) is no interface netd renamed from %s: "
			 "not taken",
			 v->domid, v->devid, vifname, backend);
	return -ENODEV;
}

struct tap_held {
	const char *name;
	bool held;
};

static void tap_held_one(struct nb_back *b, struct nb_vif *v, void *arg)
{
	struct tap_held *t = arg;
	char name[IFNAMSIZ];

	(void)b;
	if (v->port < 0 || t->held)
		return;
	vb_tap_name(v->port, name);
	t->held = !strcmp(name, t->name);
}

/* fd is vif D.N's TAP (its mark says so), left by an earlier vifback
 * for a device that is gone (why, in what): removed, as release would have
 * removed it; nobody else would. One a vif of ours holds stays. */
static void remove_left(struct vb_sup *s, uint32_t domid, uint32_t devid, int fd, const char *why)
{
	char name[IFNAMSIZ];
	struct tap_held t = { name, false };
	struct nb_vif gone = { .domid = domid, .devid = devid, .port = -1 };

	vb_tap_name(fd, name);
	nb_vif_foreach(&s->nb, tap_held_one, &t);
	if (t.held) {
		close(fd);
		return;
	}
	vb_tap_remove(fd);
	log_info("vif%u.%u: %s, left by an earlier vifback%s, removed", domid, devid, name, why);
	vb_stats_forget(s, &gone);
}

/* The TAP an earlier vifback made for this vif, by its mark: under the
 * vif's name or its vifname= (renamed by netd or a script). Under any
 * other it was made for an earlier device of the same D.N (a vifname=
 * is the device's for its life), removed while no vifback ran and made
 * again since: it goes. -ENODEV: none to take. */
static int adopt_marked(struct nb_back *b, struct nb_vif *v, const char *vifname,
			const char *mark)
{
	char name[IFNAMSIZ];
	int fd, rc;

	rc = vb_tap_adopt_marked(mark, &fd);
	if (rc < 0)
		return rc;
	vb_tap_name(fd, name);
	if (!strcmp(name, v->ifname) || (vifname && !strcmp(name, vifname))) {
		v->port = fd;
		return 0;
	}
	remove_left(sup_of(b), v->domid, v->devid, fd, " for an earlier device");
	return -ENODEV;
}

/* A TAP of an older vifback, which did not mark its TAPs: under the vif's
 * name, or the vifname= netd renamed it to (adopt_renamed), marked now.
 * One that holds another vif's mark is that vif's. A TAP left unmarked
 * (a kernel without altnames) still serves; it is only not known for
 * vifback's once its vif is gone. -ENODEV: none to take. */
static int adopt_unmarked(struct nb_vif *v, const char *vifname, const char *mark)
{
	int rc;

	rc = vb_tap_adopt(v->ifname, &v->port);
	if (rc == -ENODEV && vifname)
		rc = adopt_renamed(v, v->ifname, vifname, &v->port);
	if (rc < 0)
		return rc;
	rc = vb_tap_mark(v->port, mark);
	if (rc == -EEXIST) {
		close(v->port);
		v->port = -1;
		return rc;
	}
	if (rc < 0)
		log_warn("vif%u.%u: %s: not marked, not removed if its vif goes while no vifback "
			 "runs",
			 v->domid, v->devid, err_msg());
	return 0;
}

static int probe(struct nb_back *b, struct nb_vif *v, const char *vifname, const char *bridge)
{
	char mark[VB_TAP_MARK_MAX];
	int rc;

	/* a TAP an earlier vifback left (it persists): under its name, or
	 * the vifname= a script renamed it to; it is still bridged */
	vb_tap_mark_name(v->domid, v->devid, mark);
	rc = adopt_marked(b, v, vifname, mark);
	if (rc == -ENODEV)
		rc = adopt_unmarked(v, vifname, mark);
	if (rc == 0) {
		char name[IFNAMSIZ];

		vb_tap_name(v->port, name);
		log_info("vif%u.%u: %s taken over", v->domid, v->devid, name);
	} else if (rc == -ENODEV) {
		rc = vb_tap_create(v->ifname, mark, &v->port);
		if (rc == 0)
			log_info("vif%u.%u: %s created", v->domid, v->devid, v->ifname);
		/* a new TAP: counters a vif of that name left start over */
		vb_stats_forget(sup_of(b), v);
	}
	return rc;
}

static int connect_rings(struct nb_back *b, struct nb_vif *v)
{
	struct vb_sup *s = sup_of(b);
	int fds[VB_MAX_FDS], rc;
	struct vb_worker *w;
	struct vb_msg m;
	unsigned nfds = 0;

	rc = vb_tap_set_offload(v->port, &v->cfg.feat);
	if (rc < 0)
		return rc;
	fds[nfds++] = v->port;
	for (unsigned i = 1; i < v->cfg.nqueues; i++) {
		rc = vb_tap_queue_open(v->port, &fds[nfds]);
		if (rc < 0)
			break;
		nfds++;
	}
	w = rc == 0 ? vb_worker_get(s, (uint16_t)v->domid) : NULL;
	if (rc == 0 && !w)
		rc = err_code() ? err_code() : err_set(-ENOMEM, "out of memory");
	/* last, after the queues: the worker keeps the counters there */
	if (rc == 0 && (fds[nfds] = vb_stats_open(s, v)) >= 0)
		nfds++;
	if (rc == 0) {
		memset(&m, 0, sizeof(m));
		m.type = VB_MSG_CONNECT;
		m.devid = v->devid;
		m.cfg = v->cfg;
		m.rate_bytes = v->rate.bytes_per_interval;
		m.rate_usecs = v->rate.interval_usecs;
		rc = vb_worker_call(s, w, &m, fds, nfds);
	}
	for (unsigned i = 1; i < nfds; i++)
		close(fds[i]); /* the worker holds its own copies */
	if (rc < 0 && w)
		vb_worker_put(s, (uint16_t)v->domid);
	return rc;
}

static void disconnect(struct nb_back *b, struct nb_vif *v)
{
	struct vb_sup *s = sup_of(b);
	struct vb_worker *w = vb_worker_find(s, (uint16_t)v->domid);
	struct vb_msg m;

	if (!w)
		return;
	memset(&m, 0, sizeof(m));
	m.type = VB_MSG_DISCONNECT;
	m.devid = v->devid;
	if (vb_worker_call(s, w, &m, NULL, 0) < 0) {
		log_warn("vif%u.%u: disconnect: %s", v->domid, v->devid, err_msg());
		m.text[0] = '\0';
	}
	log_info("vif%u.%u: rings disconnected%s%s", v->domid, v->devid, m.text[0] ? ": " : "",
		 m.text);
	vb_worker_put(s, (uint16_t)v->domid);
}

static void release(struct nb_back *b, struct nb_vif *v)
{
	if (v->port >= 0) {
		char name[IFNAMSIZ];

		vb_tap_name(v->port, name);
		vb_tap_remove(v->port); /* gone with its last queue */
		log_info("vif%u.%u: %s removed", v->domid, v->devid, name);
		vb_stats_forget(sup_of(b), v);
	}
	vb_worker_put(sup_of(b), (uint16_t)v->domid);
}

static void rate(struct nb_back *b, struct nb_vif *v)
{
	struct vb_worker *w = vb_worker_find(sup_of(b), (uint16_t)v->domid);
	struct vb_msg m;

	if (!w)
		return;
	memset(&m, 0, sizeof(m));
	m.type = VB_MSG_RATE;
	m.devid = v->devid;
	m.rate_bytes = v->rate.bytes_per_interval;
	m.rate_usecs = v->rate.interval_usecs;
	vb_msg_send(w->sock, &m, NULL, 0);
}

static void held(struct nb_back *b, struct nb_vif *v, uint64_t ms)
{
	(void)ms;
	vb_stats_held(sup_of(b), v);
}

static void close_port(struct nb_back *b, struct nb_vif *v)
{
	/* the TAP persists for the next vifback to adopt */
	if (v->port >= 0)
		close(v->port);
}

/* A vif torn down before this vifback probed it (it was restarted while
 * the toolstack removed the device), or whose directory went before its
 * first look: the TAP an earlier vifback made for it (persistent: nobody
 * else would remove it), found by its mark under whatever name it has now,
 * goes as release would have removed it. An interface without the mark is
 * not ours to remove, whatever its name (vifname unused: the mark finds a
 * renamed TAP too). */
static void forget(struct nb_back *b, struct nb_vif *v, const char *vifname)
{
	char mark[VB_TAP_MARK_MAX];
	int fd, rc;

	(void)vifname;
	vb_tap_mark_name(v->domid, v->devid, mark);
	rc = vb_tap_adopt_marked(mark, &fd);
	if (rc == -ENODEV)
		return;
	if (rc < 0) {
		log_warn("vif%u.%u: %s", v->domid, v->devid, err_msg());
		return;
	}
	remove_left(sup_of(b), v->domid, v->devid, fd, "");
}

/* A vif a mark names (vb_orphans_remove). */
struct orphan {
	uint32_t domid, devid;
};

/* One batch of vb_orphans_remove: the TAPs marked for vifs[0..n) whose
 * backend directory is gone go. -errno: xenstore gone (the loop finds
 * out). */
static int orphans_batch(struct vb_sup *s, const struct orphan *vifs, unsigned n)
{
	char paths[VB_ORPHANS_BATCH][NB_PATH_MAX];
	struct xsc_op ops[VB_ORPHANS_BATCH];
	int rc;

	for (unsigned i = 0; i < n; i++) {
		snprintf(paths[i], sizeof(paths[i]), "%s/%u/%u", XSVIF_ROOT, vifs[i].domid,
			 vifs[i].devid);
		ops[i] = (struct xsc_op){ .type = XS_MSG_READ, .path = paths[i] };
	}
	rc = xsc_run(s->nb.xs, ops, n);
	if (rc < 0)
		return rc;
	for (unsigned i = 0; i < n; i++) {
		char mark[VB_TAP_MARK_MAX];
		int fd;

		/* gone, not unreadable: a refusal says nothing of the device */
		if (ops[i].err != -ENOENT)
			continue;
		vb_tap_mark_name(vifs[i].domid, vifs[i].devid, mark);
		rc = vb_tap_adopt_marked(mark, &fd);
		if (rc == 0)
			remove_left(s, vifs[i].domid, vifs[i].devid, fd,
				    " for a device since removed");
		else if (rc != -ENODEV) /* -ENODEV: removed since the listing */
			log_warn("vif%u.%u: %s", vifs[i].domid, vifs[i].devid, err_msg());
	}
	xsc_ops_free(ops, n);
	return 0;
}

struct orphans {
	struct orphan *vifs;
	unsigned n, cap;
};

/* A mark, whichever interface holds it: a TAP vifback made (checked when
 * taken: vb_tap_adopt_marked), under its name or the one it was given. */
static int orphans_list_one(const struct nl_link *l, const char *altname, void *arg)
{
	struct orphans *o = arg;
	uint32_t d, k;

	(void)l;
	if (!vb_tap_mark_parse(altname, &d, &k))
		return 0;
	if (o->n == o->cap) {
		unsigned cap = o->cap ? 2 * o->cap : VB_ORPHANS_BATCH;
		struct orphan *v = realloc(o->vifs, cap * sizeof(*v));

		if (!v)
			return err_set(-ENOMEM, "out of memory");
		o->vifs = v;
		o->cap = cap;
	}
	o->vifs[o->n++] = (struct orphan){ d, k };
	return 0;
}

void vb_orphans_remove(struct vb_sup *s)
{
	struct orphans o = { NULL, 0, 0 };
	int rc;

	/* listed first, taken after: netlink is not to be asked from within
	 * its own dump */
	rc = nl_link_for_each_altname(orphans_list_one, &o);
	if (rc < 0)
		log_warn("vifback: interfaces not listed, none left over removed: %s", err_msg());
	for (unsigned i = 0; rc == 0 && i < o.n; i += VB_ORPHANS_BATCH)
		rc = orphans_batch(s, o.vifs + i,
				   o.n - i < VB_ORPHANS_BATCH ? o.n - i : VB_ORPHANS_BATCH);
	free(o.vifs);
}

const struct nb_ops vb_nb_ops = {
	.serves = serves,
	.probe = probe,
	.connect = connect_rings,
	.disconnect = disconnect,
	.release = release,
	.rate = rate,
	.close = close_port,
	.held = held,
	.forget = forget,
};
