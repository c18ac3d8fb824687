/* hv_sim: hv.h for the simulated hypervisor, the backend's half.
 *
 * hvsim's broker (hv_broker.c) hands over a domain's memory and grant table
 * as memfds and each event channel as a pair of eventfds; from then on the
 * data path touches no socket: a grant copy reads the guest's grant entry
 * once, checks it as Xen's GNTTABOP_copy does (same GNTST_* codes) and
 * copies through this process's mapping of the guest memfd. The backend is
 * dom0: it may reach a page only if the guest granted it to domain 0.
 *
 * Event channels: one epoll fd over the bound ports' incoming eventfds, each
 * armed with EPOLLONESHOT, so a port that fired stays silent until
 * hv_evtchn_unmask() re-arms it, as /dev/xen/evtchn masks delivered ports. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hypervisor/hv_impl.h"
#include "hypervisor/sim/hv_sim_evq.h"
#include "hypervisor/sim/hv_sim_proto.h"
#include "lib/err.h"

/* A guest domain as this backend sees it. */
struct sim_dom {
	uint16_t domid;
	int memfd;
	uint8_t *mem;		/* all of the guest's memory, shared */
	unsigned pages;
	uint8_t *gnt;		/* grant table memfd, read-only */
	const struct hv_sim_gnt_hdr *hdr;
	const uint64_t *ents;	/* grant_entry_v1, read as one word each */
};

struct sim_port {
	bool used;
	uint16_t domid;
	uint32_t remote;
	int in, out;		/* eventfds: from the guest, to the guest */
};

struct sim_map {
	void *addr;
	unsigned n;
};

struct hv_sim {
	struct hv base;
	int sock;		/* the broker */
	int epfd;
	struct sim_dom *doms;
	unsigned n_doms;
	struct sim_port *ports;	/* index = local port; 0 unused */
	unsigned n_ports;
	struct sim_map *maps;
	unsigned n_maps;
	struct hv_sim_evq evq;	/* ports that fired, not yet served */
};

#define SIM(hv) ((struct hv_sim *)(hv))

static void dom_unmap(struct sim_dom *d)
{
	if (d->mem)
		munmap(d->mem, (size_t)d->pages * HV_PAGE_SIZE);
	if (d->gnt)
		munmap(d->gnt, hv_sim_gnt_size());
	if (d->memfd >= 0)
		close(d->memfd);
	memset(d, 0, sizeof(*d));
	d->memfd = -1;
}

static bool dom_is_dead(const struct sim_dom *d)
{
	return __atomic_load_n(&d->hdr->dead, __ATOMIC_ACQUIRE) != 0;
}

/* The size we map, sealed so that it stays so: an access through a
 * mapping of a memfd truncated under it would be SIGBUS. */
static int fd_size_is(int fd, size_t size)
{
	const int seals = F_SEAL_SHRINK | F_SEAL_GROW;
	struct stat st;
	int have;

	if (fstat(fd, &st))
		return -errno;
	have = fcntl(fd, F_GET_SEALS);
	if (have < 0 || (have & seals) != seals)
		return -EPROTO;
	return (size_t)st.st_size == size ? 0 : -EPROTO;
}

/* Fetches domid's memfds from the broker into d. */
static int dom_fetch(struct hv_sim *s, uint16_t domid, struct sim_dom *d)
{
	struct hv_sim_msg m = { .op = HV_SIM_OP_DOMAIN, .domid = domid };
	int fds[2], rc;
	void *p;

	rc = hv_sim_call(s->sock, &m, fds, 2);
	if (rc)
		return err_prefix(rc, "domain %u", (unsigned)domid);
	memset(d, 0, sizeof(*d));
	d->memfd = fds[0];
	d->domid = domid;
	d->pages = m.arg;
	if (d->pages == 0 || d->pages > HV_SIM_PAGES_MAX ||
	    fd_size_is(fds[0], (size_t)d->pages * HV_PAGE_SIZE) ||
	    fd_size_is(fds[1], hv_sim_gnt_size())) {
		rc = err_set(-EPROTO, "domain %u: broker sent memory of the wrong size",
			     (unsigned)domid);
		goto fail;
	}
	p = mmap(NULL, (size_t)d->pages * HV_PAGE_SIZE, PROT_READ | PROT_WRITE,
		 MAP_SHARED, fds[0], 0);
	if (p == MAP_FAILED) {
		rc = err_set(-errno, "domain %u: map memory: %s", (unsigned)domid,
			     strerror(errno));
		goto fail;
	}
	d->mem = p;
	p = mmap(NULL, hv_sim_gnt_size(), PROT_READ, MAP_SHARED, fds[1], 0);
	if (p == MAP_FAILED) {
		rc = err_set(-errno, "domain %u: map grant table: %s", (unsigned)domid,
			     strerror(errno));
		goto fail;
	}
	d->gnt = p;
	d->hdr = p;
	d->ents = (const uint64_t *)(d->gnt + HV_PAGE_SIZE);
	close(fds[1]);
	return 0;
fail:
	close(fds[1]);
	dom_unmap(d);
	return rc;
}

/* The domain's view, fetched once. A dead one is fetched again only when
 * asked (bind, map: a guest that restarted under the same domid), never
 * for copies, so a dead guest costs its backend no round trips. */
static int dom_get(struct hv_sim *s, uint16_t domid, bool refetch_dead, struct sim_dom **out)
{
	struct sim_dom *d, fresh;
	unsigned i;
	int rc;

	for (i = 0; i < s->n_doms; i++) {
		d = &s->doms[i];
		if (d->domid != domid)
			continue;
		if (dom_is_dead(d)) {
			if (!refetch_dead)
				return err_set(-ESRCH, "domain %u is gone", (unsigned)domid);
			rc = dom_fetch(s, domid, &fresh);
			if (rc)
				return rc;
			dom_unmap(d);
			*d = fresh;
		}
		*out = d;
		return 0;
	}
	rc = dom_fetch(s, domid, &fresh);
	if (rc)
		return rc;
	d = realloc(s->doms, (s->n_doms + 1) * sizeof(*d));
	if (!d) {
		dom_unmap(&fresh);
		return err_set(-ENOMEM, "out of memory");
	}
	s->doms = d;
	s->doms[s->n_doms] = fresh;
	*out = &s->doms[s->n_doms++];
	return 0;
}

static struct hv_sim_gnt_entry gnt_read(const struct sim_dom *d, uint32_t ref)
{
	uint64_t raw = __atomic_load_n(&d->ents[ref], __ATOMIC_ACQUIRE);
	struct hv_sim_gnt_entry e;

	memcpy(&e, &raw, sizeof(e));
	return e;
}

/* Xen's checks of a grant entry (_set_status_v1, acquire_grant_for_copy):
 * a GNTST_* code. */
static int16_t gnt_check(const struct sim_dom *d, uint32_t ref, bool write, uint32_t *frame)
{
	struct hv_sim_gnt_entry e;

	if (ref >= HV_SIM_GNT_ENTRIES)
		return HV_GNTST_BAD_GNTREF;
	e = gnt_read(d, ref);
	if ((e.flags & (HV_GTF_type_mask | HV_GTF_sub_page)) != HV_GTF_permit_access ||
	    e.domid != HV_SIM_BACKEND_DOMID)
		return HV_GNTST_GENERAL_ERROR;
	if (write && (e.flags & HV_GTF_readonly))
		return HV_GNTST_GENERAL_ERROR;
	if (e.frame >= d->pages)
		return HV_GNTST_BAD_PAGE;
	*frame = e.frame;
	return HV_GNTST_OKAY;
}

static int sim_grant_copy(struct hv *hv, struct hv_copy *segs, unsigned n)
{
	struct hv_sim *s = SIM(hv);
	struct sim_dom *d = NULL;
	int missing = -1;	/* a domid the broker just denied */
	unsigned i;

	for (i = 0; i < n; i++) {
		struct hv_copy *c = &segs[i];
		uint32_t frame = 0;
		uint8_t *page;

		if (!d || d->domid != c->domid) {
			d = NULL;
			if (c->domid == missing || dom_get(s, c->domid, false, &d)) {
				missing = c->domid;
				c->status = HV_GNTST_BAD_DOMAIN;
				continue;
			}
		}
		if (dom_is_dead(d)) {
			c->status = HV_GNTST_BAD_DOMAIN;
			continue;
		}
		if ((unsigned)c->offset + c->len > HV_PAGE_SIZE) {
			c->status = HV_GNTST_BAD_COPY_ARG;
			continue;
		}
		if (!c->local && c->len) {
			c->status = HV_GNTST_BAD_VIRT_ADDR;
			continue;
		}
		c->status = gnt_check(d, c->ref, c->to_guest, &frame);
		if (c->status != HV_GNTST_OKAY)
			continue;
		page = d->mem + (size_t)frame * HV_PAGE_SIZE + c->offset;
		if (c->to_guest)
			memcpy(page, c->local, c->len);
		else
			memcpy(c->local, page, c->len);
	}
	/* Failed lookups left a message nobody asked for. */
	err_clear();
	return 0;
}

static int sim_grant_map(struct hv *hv, uint16_t domid, const uint32_t *refs,
			 unsigned n, bool writable, void **addr)
{
	struct hv_sim *s = SIM(hv);
	int prot = PROT_READ | (writable ? PROT_WRITE : 0);
	struct sim_map *maps;
	struct sim_dom *d;
	uint8_t *base;
	unsigned i;
	int rc;

	rc = dom_get(s, domid, true, &d);
	if (rc)
		return rc;
	if (n > HV_SIM_GNT_ENTRIES)
		return err_set(-EINVAL, "map of %u grants of domain %u: too many", n,
			       (unsigned)domid);
	maps = realloc(s->maps, (s->n_maps + 1) * sizeof(*maps));
	if (!maps)
		return err_set(-ENOMEM, "out of memory");
	s->maps = maps;
	/* Reserve the range, then lay each granted page over its slot. */
	base = mmap(NULL, (size_t)n * HV_PAGE_SIZE, PROT_NONE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (base == MAP_FAILED)
		return err_set(-errno, "map grants: %s", strerror(errno));
	for (i = 0; i < n; i++) {
		uint32_t frame = 0;
		int16_t st = gnt_check(d, refs[i], writable, &frame);
		void *p;

		if (st != HV_GNTST_OKAY) {
			rc = st == HV_GNTST_BAD_GNTREF ? -EINVAL : -EPERM;
			err_set(rc, "map grant ref %u of domain %u: %s", (unsigned)refs[i],
				(unsigned)domid, hv_gntst_str(st));
			goto fail;
		}
		p = mmap(base + (size_t)i * HV_PAGE_SIZE, HV_PAGE_SIZE, prot,
			 MAP_SHARED | MAP_FIXED, d->memfd, (off_t)frame * HV_PAGE_SIZE);
		if (p == MAP_FAILED) {
			rc = err_set(-errno, "map grant ref %u of domain %u: %s",
				     (unsigned)refs[i], (unsigned)domid, strerror(errno));
			goto fail;
		}
	}
	s->maps[s->n_maps++] = (struct sim_map){ .addr = base, .n = n };
	*addr = base;
	return 0;
fail:
	munmap(base, (size_t)n * HV_PAGE_SIZE);
	return rc;
}

static int sim_grant_unmap(struct hv *hv, void *addr, unsigned n)
{
	struct hv_sim *s = SIM(hv);
	unsigned i;

	for (i = 0; i < s->n_maps; i++) {
		if (s->maps[i].addr != addr)
			continue;
		if (s->maps[i].n != n)
			return err_set(-EINVAL, "unmap of %u pages of a %u-page grant mapping",
				       n, s->maps[i].n);
		munmap(addr, (size_t)n * HV_PAGE_SIZE);
		s->maps[i] = s->maps[--s->n_maps];
		return 0;
	}
	return err_set(-EINVAL, "unmap: %p is no grant mapping", addr);
}

static struct sim_port *port_get(struct hv_sim *s, uint32_t local)
{
	if (local == 0 || local >= s->n_ports || !s->ports[local].used) {
		err_set(-EINVAL, "event channel %u is not bound", (unsigned)local);
		return NULL;
	}
	return &s->ports[local];
}

static int port_arm(struct hv_sim *s, uint32_t local, int op)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLONESHOT, .data.u32 = local };

	if (epoll_ctl(s->epfd, op, s->ports[local].in, &ev))
		return err_set(-errno, "event channel %u: epoll: %s", (unsigned)local,
			       strerror(errno));
	return 0;
}

static int sim_evtchn_fd(struct hv *hv)
{
	return SIM(hv)->epfd;
}

static int sim_evtchn_bind(struct hv *hv, uint16_t domid, uint32_t remote_port,
			   uint32_t *local_port)
{
	struct hv_sim *s = SIM(hv);
	struct hv_sim_msg m = { .op = HV_SIM_OP_BIND, .domid = domid, .port = remote_port };
	struct sim_port *p;
	struct sim_dom *d;
	unsigned i;
	int fds[2], rc;

	/* A guest that restarted has new memory: see it before its rings. */
	rc = dom_get(s, domid, true, &d);
	if (rc)
		return rc;
	for (i = 1; i < s->n_ports; i++)
		if (!s->ports[i].used)
			break;
	if (i >= s->n_ports) {
		unsigned cap = s->n_ports ? s->n_ports * 2 : 8;

		p = realloc(s->ports, cap * sizeof(*p));
		if (!p)
			return err_set(-ENOMEM, "out of memory");
		memset(p + s->n_ports, 0, (cap - s->n_ports) * sizeof(*p));
		s->ports = p;
		i = s->n_ports ? s->n_ports : 1;
		s->n_ports = cap;
	}
	rc = hv_sim_call(s->sock, &m, fds, 2);
	if (rc)
		return err_prefix(rc, "bind event channel %u of domain %u",
				  (unsigned)remote_port, (unsigned)domid);
	p = &s->ports[i];
	*p = (struct sim_port){ .used = true, .domid = domid, .remote = remote_port,
				.in = fds[0], .out = fds[1] };
	rc = port_arm(s, i, EPOLL_CTL_ADD);
	if (rc) {
		hv_evtchn_unbind(hv, i);
		return rc;
	}
	*local_port = i;
	return 0;
}

static int sim_evtchn_unbind(struct hv *hv, uint32_t local_port)
{
	struct hv_sim *s = SIM(hv);
	struct sim_port *p = port_get(s, local_port);
	struct hv_sim_msg m = { .op = HV_SIM_OP_UNBIND };
	int rc;

	if (!p)
		return err_code();
	m.domid = p->domid;
	m.port = p->remote;
	epoll_ctl(s->epfd, EPOLL_CTL_DEL, p->in, NULL);
	hv_sim_evq_forget(&s->evq, local_port);
	close(p->in);
	close(p->out);
	memset(p, 0, sizeof(*p));
	/* Locally unbound whatever the broker says: it frees the guest's end
	 * on its own when this connection closes. */
	rc = hv_sim_call(s->sock, &m, NULL, 0);
	if (rc)
		return err_prefix(rc, "unbind event channel %u", (unsigned)local_port);
	return 0;
}

static int sim_evtchn_notify(struct hv *hv, uint32_t local_port)
{
	struct sim_port *p = port_get(SIM(hv), local_port);
	uint64_t one = 1;

	if (!p)
		return err_code();
	/* EAGAIN: the counter is saturated, the guest has a kick pending. */
	if (write(p->out, &one, sizeof(one)) < 0 && errno != EAGAIN)
		return err_set(-errno, "notify event channel %u: %s",
			       (unsigned)local_port, strerror(errno));
	return 0;
}

static int sim_evtchn_pending(struct hv *hv, uint32_t *local_port)
{
	struct hv_sim *s = SIM(hv);
	uint32_t port = UINT32_MAX;
	uint64_t cnt;
	int rc;

	do {
		rc = hv_sim_evq_next(&s->evq, s->epfd, &port);
		if (rc == -EAGAIN)
			return rc;
		if (rc < 0)
			return err_set(rc, "event channels: epoll: %s", strerror(-rc));
		/* a port closed since the look: the next one */
	} while (port >= s->n_ports || !s->ports[port].used);
	/* Consume the kicks: after unmask only new ones fire again. */
	if (read(s->ports[port].in, &cnt, sizeof(cnt)) < 0 && errno != EAGAIN)
		return err_set(-errno, "event channel %u: %s", (unsigned)port, strerror(errno));
	*local_port = port;
	return 0;
}

static int sim_evtchn_unmask(struct hv *hv, uint32_t local_port)
{
	struct hv_sim *s = SIM(hv);

	if (!port_get(s, local_port))
		return err_code();
	return port_arm(s, local_port, EPOLL_CTL_MOD);
}

static void sim_close(struct hv *hv)
{
	struct hv_sim *s = SIM(hv);
	unsigned i;

	for (i = 0; i < s->n_maps; i++)
		munmap(s->maps[i].addr, (size_t)s->maps[i].n * HV_PAGE_SIZE);
	for (i = 1; i < s->n_ports; i++) {
		if (!s->ports[i].used)
			continue;
		close(s->ports[i].in);
		close(s->ports[i].out);
	}
	for (i = 0; i < s->n_doms; i++)
		dom_unmap(&s->doms[i]);
	if (s->epfd >= 0)
		close(s->epfd);
	if (s->sock >= 0)
		close(s->sock);
	free(s->maps);
	free(s->ports);
	free(s->doms);
	free(s);
}

/* the broker's calls are sendmsg/recvmsg, eventfds and memfds: no ioctl */
const struct hv_ops hv_sim_ops = {
	.kind = "sim",
	.close = sim_close,
	.evtchn_fd = sim_evtchn_fd,
	.evtchn_bind = sim_evtchn_bind,
	.evtchn_unbind = sim_evtchn_unbind,
	.evtchn_notify = sim_evtchn_notify,
	.evtchn_pending = sim_evtchn_pending,
	.evtchn_unmask = sim_evtchn_unmask,
	.grant_map = sim_grant_map,
	.grant_unmap = sim_grant_unmap,
	.grant_copy = sim_grant_copy,
};

int hv_sim_open(struct hv **out)
{
	struct hv_sim *s = calloc(1, sizeof(*s));
	char path[128];
	int rc;

	if (!s)
		return err_set(-ENOMEM, "hv sim: out of memory");
	s->base.ops = &hv_sim_ops;
	s->sock = -1;
	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (s->epfd < 0) {
		rc = err_set(-errno, "hv sim: epoll: %s", strerror(errno));
		goto fail;
	}
	rc = hv_sim_sock_path(NULL, -1, path, sizeof(path));
	if (!rc)
		rc = hv_sim_connect(path, &s->sock);
	if (rc)
		goto fail;
	*out = &s->base;
	return 0;
fail:
	sim_close(&s->base);
	return err_prefix(rc, "hv sim");
}
