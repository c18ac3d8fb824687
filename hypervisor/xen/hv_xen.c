/* hv_xen: hv.h on real Xen, through libxenevtchn (/dev/xen/evtchn) and
 * libxengnttab (/dev/xen/gntdev). Thin on purpose: the kernel drivers do
 * the checking; this file translates arguments and errors. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include <xenevtchn.h>
#include <xengnttab.h>
#include <xen/grant_table.h>
#include <xen/sys/evtchn.h>
#include <xen/sys/gntdev.h>

#include "hypervisor/hv_impl.h"
#include "lib/err.h"

struct hv_xen {
	struct hv base;
	xenevtchn_handle *xce;
	xengnttab_handle *xgt;
	/* One ioctl per hv_grant_copy(): the segments translated here. */
	xengnttab_grant_copy_segment_t *segs;
	unsigned cap;
};

#define XEN(hv) ((struct hv_xen *)(hv))

static void xen_close(struct hv *hv)
{
	struct hv_xen *x = XEN(hv);

	if (x->xgt)
		xengnttab_close(x->xgt);
	if (x->xce)
		xenevtchn_close(x->xce);
	free(x->segs);
	free(x);
}

static int xen_evtchn_fd(struct hv *hv)
{
	return xenevtchn_fd(XEN(hv)->xce);
}

static int xen_evtchn_bind(struct hv *hv, uint16_t domid, uint32_t remote_port,
			   uint32_t *local_port)
{
	struct hv_xen *x = XEN(hv);
	xenevtchn_port_or_error_t p;
	int rc;

	p = xenevtchn_bind_interdomain(x->xce, domid, remote_port);
	if (p < 0)
		return err_set(-errno, "bind event channel %u of domain %u: %s",
			       (unsigned)remote_port, (unsigned)domid, strerror(errno));
	/* Since XSA-332 the kernel binds user ports masked. */
	if (xenevtchn_unmask(x->xce, (evtchn_port_t)p)) {
		rc = -errno;
		xenevtchn_unbind(x->xce, (evtchn_port_t)p);
		return err_set(rc, "unmask event channel %d: %s", p, strerror(-rc));
	}
	*local_port = (uint32_t)p;
	return 0;
}

static int xen_evtchn_unbind(struct hv *hv, uint32_t local_port)
{
	if (xenevtchn_unbind(XEN(hv)->xce, local_port))
		return err_set(-errno, "unbind event channel %u: %s",
			       (unsigned)local_port, strerror(errno));
	return 0;
}

static int xen_evtchn_notify(struct hv *hv, uint32_t local_port)
{
	if (xenevtchn_notify(XEN(hv)->xce, local_port))
		return err_set(-errno, "notify event channel %u: %s",
			       (unsigned)local_port, strerror(errno));
	return 0;
}

static int xen_evtchn_pending(struct hv *hv, uint32_t *local_port)
{
	xenevtchn_port_or_error_t p = xenevtchn_pending(XEN(hv)->xce);

	if (p < 0) {
		/* The fd is non-blocking (xen_open): nothing pending. */
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return -EAGAIN;
		return err_set(-errno, "event channel pending: %s", strerror(errno));
	}
	*local_port = (uint32_t)p;
	return 0;
}

static int xen_evtchn_unmask(struct hv *hv, uint32_t local_port)
{
	if (xenevtchn_unmask(XEN(hv)->xce, local_port))
		return err_set(-errno, "unmask event channel %u: %s",
			       (unsigned)local_port, strerror(errno));
	return 0;
}

static int xen_grant_map(struct hv *hv, uint16_t domid, const uint32_t *refs,
			 unsigned n, bool writable, void **addr)
{
	void *p;

	/* libxengnttab takes refs non-const but only reads them. */
	p = xengnttab_map_domain_grant_refs(XEN(hv)->xgt, n, domid, (uint32_t *)refs,
					    PROT_READ | (writable ? PROT_WRITE : 0));
	if (!p)
		return err_set(errno ? -errno : -EPERM,
			       "map %u grant(s) of domain %u (first ref %u): %s", n,
			       (unsigned)domid, (unsigned)refs[0], strerror(errno ? errno : EPERM));
	*addr = p;
	return 0;
}

static int xen_grant_unmap(struct hv *hv, void *addr, unsigned n)
{
	if (xengnttab_unmap(XEN(hv)->xgt, addr, n))
		return err_set(-errno, "unmap %u grant(s): %s", n, strerror(errno));
	return 0;
}

static int xen_grant_copy(struct hv *hv, struct hv_copy *segs, unsigned n)
{
	struct hv_xen *x = XEN(hv);
	unsigned i;

	if (n > x->cap) {
		xengnttab_grant_copy_segment_t *s = realloc(x->segs, n * sizeof(*s));

		if (!s)
			return err_set(-ENOMEM, "grant copy of %u segments: out of memory", n);
		x->segs = s;
		x->cap = n;
	}
	for (i = 0; i < n; i++) {
		xengnttab_grant_copy_segment_t *s = &x->segs[i];
		const struct hv_copy *c = &segs[i];

		memset(s, 0, sizeof(*s));
		s->len = c->len;
		if (c->to_guest) {
			s->flags = GNTCOPY_dest_gref;
			s->source.virt = c->local;
			s->dest.foreign.ref = c->ref;
			s->dest.foreign.offset = c->offset;
			s->dest.foreign.domid = c->domid;
		} else {
			s->flags = GNTCOPY_source_gref;
			s->source.foreign.ref = c->ref;
			s->source.foreign.offset = c->offset;
			s->source.foreign.domid = c->domid;
			s->dest.virt = c->local;
		}
	}
	if (xengnttab_grant_copy(x->xgt, n, x->segs))
		return err_set(-errno, "grant copy of %u segments: %s", n, strerror(errno));
	for (i = 0; i < n; i++)
		segs[i].status = x->segs[i].status;
	return 0;
}

/* What libxenevtchn and libxengnttab (Xen 4.17, tools/libs/{evtchn,gnttab}/
 * linux.c) issue for the calls above once open: bind, unbind and notify
 * (unmask and pending are write and read); map (a mapping fails:
 * unmap), unmap (the offset of the address first), copy. Not SET_MAX_GRANTS
 * nor RESTRICT_DOMID (at open, before a worker is confined), not
 * SET_UNMAP_NOTIFY (we ask for no notify), no privcmd (neither library
 * opens it). */
static const uint32_t xen_ioctls[] = {
	IOCTL_EVTCHN_BIND_INTERDOMAIN, IOCTL_EVTCHN_UNBIND, IOCTL_EVTCHN_NOTIFY,
	IOCTL_GNTDEV_MAP_GRANT_REF, IOCTL_GNTDEV_UNMAP_GRANT_REF,
	IOCTL_GNTDEV_GET_OFFSET_FOR_VADDR, IOCTL_GNTDEV_GRANT_COPY,
};

const struct hv_ops hv_xen_ops = {
	.kind = "xen",
	.ioctls = xen_ioctls,
	.n_ioctls = sizeof(xen_ioctls) / sizeof(xen_ioctls[0]),
	.close = xen_close,
	.evtchn_fd = xen_evtchn_fd,
	.evtchn_bind = xen_evtchn_bind,
	.evtchn_unbind = xen_evtchn_unbind,
	.evtchn_notify = xen_evtchn_notify,
	.evtchn_pending = xen_evtchn_pending,
	.evtchn_unmask = xen_evtchn_unmask,
	.grant_map = xen_grant_map,
	.grant_unmap = xen_grant_unmap,
	.grant_copy = xen_grant_copy,
};

int hv_xen_open(struct hv **out)
{
	struct hv_xen *x = calloc(1, sizeof(*x));
	int fd, fl, rc;

	if (!x)
		return err_set(-ENOMEM, "hv xen: out of memory");
	x->base.ops = &hv_xen_ops;
	x->xce = xenevtchn_open(NULL, 0);
	if (!x->xce) {
		rc = errno ? -errno : -ENODEV;
		xen_close(&x->base);
		return err_set(rc, "cannot open /dev/xen/evtchn: %s", strerror(-rc));
	}
	x->xgt = xengnttab_open(NULL, 0);
	if (!x->xgt) {
		rc = errno ? -errno : -ENODEV;
		xen_close(&x->base);
		return err_set(rc, "cannot open /dev/xen/gntdev: %s", strerror(-rc));
	}
	/* hv_evtchn_pending() must answer -EAGAIN, not block, when the
	 * caller's poll woke for another fd. */
	fd = xenevtchn_fd(x->xce);
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK)) {
		rc = -errno;
		xen_close(&x->base);
		return err_set(rc, "event channel fd: %s", strerror(-rc));
	}
	*out = &x->base;
	return 0;
}
