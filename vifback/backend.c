/* backend: vifback's steps of the xenbus handshake (netback/xenbus.c walks
 * it): a vif's port is its TAP, made at probe; its rings go to the
 * domain's worker at connect, with the TAP's queues. */
#include "vifback/sup.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
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

/* The TAP named vifname (vifname=) is the one an earlier vifback made
 * for the vif whose own name is backend only if netd renamed it from that
 * name, as its mark says (vif/rename.c): two vifs the toolstack gave the
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

static int probe(struct nb_back *b, struct nb_vif *v, const char *vifname, const char *bridge)
{
	int rc;

	/* a TAP an earlier vifback left (it persists): under its name, or
	 * the vifname= a script renamed it to; it is still bridged */
	rc = vb_tap_adopt(v->ifname, &v->port);
	if (rc == -ENODEV && vifname)
		rc = adopt_renamed(v, v->ifname, vifname, &v->port);
	if (rc == 0) {
		char name[IFNAMSIZ];

		vb_tap_name(v->port, name);
		log_info("vif%u.%u: %s taken over", v->domid, v->devid, name);
	} else if (rc == -ENODEV) {
		rc = vb_tap_create(v->ifname, &v->port);
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

/* A vif torn down before this vifback probed it (it was restarted while
 * the toolstack removed the device): the TAP an earlier vifback left
 * (persistent: nobody else would remove it), under its name or the
 * vifname= a script renamed it to, goes as release would have removed
 * it. One a vif of ours holds (a vifname= taken since by another) stays. */
static void forget(struct nb_back *b, struct nb_vif *v, const char *vifname)
{
	char name[IFNAMSIZ];
	struct tap_held t = { name, false };
	int fd, rc;

	snprintf(name, sizeof(name), "vif%u.%u", v->domid, v->devid);
	rc = vb_tap_adopt(name, &fd);
	if (rc == -ENODEV && vifname)
		rc = adopt_renamed(v, name, vifname, &fd);
	if (rc == -ENODEV)
		return;
	if (rc < 0) {
		log_warn("vif%u.%u: %s", v->domid, v->devid, err_msg());
		return;
	}
	vb_tap_name(fd, name);
	nb_vif_foreach(b, tap_held_one, &t);
	if (t.held) {
		close(fd);
		return;
	}
	vb_tap_remove(fd);
	log_info("vif%u.%u: %s, left by an earlier vifback, removed", v->domid, v->devid, name);
	vb_stats_forget(sup_of(b), v);
}

/* One batch of vb_orphans_remove: the TAPs named in names[0..n) whose
 * backend directory is gone go. -errno: xenstore gone (the loop finds
 * out). */
static int orphans_batch(struct vb_sup *s, char (*names)[IFNAMSIZ], unsigned n)
{
	char paths[VB_ORPHANS_BATCH][NB_PATH_MAX];
	struct xsc_op ops[VB_ORPHANS_BATCH];
	/* each name's domain and device, parsed once (vb_orphans_remove
	 * took only names vifD.N) */
	uint32_t domid[VB_ORPHANS_BATCH], devid[VB_ORPHANS_BATCH];
	int rc;

	for (unsigned i = 0; i < n; i++) {
		domid[i] = devid[i] = 0;
		sscanf(names[i], "vif%u.%u", &domid[i], &devid[i]);
		snprintf(paths[i], sizeof(paths[i]), "%s/%u/%u", XSVIF_ROOT, domid[i], devid[i]);
		ops[i] = (struct xsc_op){ .type = XS_MSG_READ, .path = paths[i] };
	}
	rc = xsc_run(s->nb.xs, ops, n);
	if (rc < 0)
		return rc;
	for (unsigned i = 0; i < n; i++) {
		struct nb_vif v = { .domid = domid[i], .devid = devid[i], .port = -1 };
		int fd;

		/* gone, not unreadable: a refusal says nothing of the device */
		if (ops[i].err != -ENOENT || vb_tap_adopt(names[i], &fd) < 0)
			continue; /* there, or not our TAP (Linux netback's netdev) */
		vb_tap_remove(fd);
		log_info("vif%u.%u: %s, left by an earlier vifback for a device since removed, "
			 "removed",
			 v.domid, v.devid, names[i]);
		vb_stats_forget(s, &v);
	}
	xsc_ops_free(ops, n);
	return 0;
}

void vb_orphans_remove(struct vb_sup *s)
{
	char names[VB_ORPHANS_BATCH][IFNAMSIZ];
	struct if_nameindex *ifs = if_nameindex();
	unsigned n = 0;
	int rc = 0;

	if (!ifs) {
		log_warn("vifback: interfaces not listed, none left over removed: %s",
			 strerror(errno));
		return;
	}
	for (struct if_nameindex *i = ifs; i->if_index; i++) {
		char canon[IFNAMSIZ];
		uint32_t d, k;

		/* vifD.N as vifback names a TAP, nothing else (vif05.0,
		 * vif5.0-emu: not one of ours) */
		if (sscanf(i->if_name, "vif%u.%u", &d, &k) != 2)
			continue;
		snprintf(canon, sizeof(canon), "vif%u.%u", d, k);
		if (strcmp(canon, i->if_name))
			continue;
		memcpy(names[n++], canon, IFNAMSIZ);
		if (n == VB_ORPHANS_BATCH) {
			rc = orphans_batch(s, names, n);
			n = 0;
			if (rc < 0)
				break;
		}
	}
	if (n && rc == 0)
		orphans_batch(s, names, n);
	if_freenameindex(ifs);
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
