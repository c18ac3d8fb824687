/* hv_guest: the guest's half of the simulated hypervisor (hv_guest.h).
 *
 * Domain D registers with hvsim's broker on its own socket
 * (<xenstored socket>.hv.dD, there from INTRODUCE to RELEASE of D) and gets
 * its memory and grant table as memfds. Granting is what a PV kernel does:
 * fill a grant_entry_v1 (frame and domid, then flags, as one 64-bit store
 * so a backend never sees half an entry). Event channel ports come from the
 * broker, an eventfd each way. */
#include "hypervisor/sim/hv_guest.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <unistd.h>

#include "hypervisor/sim/hv_sim_evq.h"
#include "hypervisor/sim/hv_sim_proto.h"
#include "lib/err.h"

struct guest_port {
	bool used;
	int in, out;		/* eventfds: from the backend, to it */
};

struct hv_guest {
	uint16_t domid;
	int sock;
	uint8_t *mem;
	unsigned pages;
	uint8_t *gnt;		/* header read-only, entries writable */
	uint64_t *ents;
	uint32_t next_ref;	/* where the search for a free entry starts */
	int epfd;
	struct hv_sim_evq evq;	/* ports that fired, not yet served */
	struct guest_port ports[HV_SIM_PORTS_MAX];
};

unsigned hv_guest_pages(const struct hv_guest *g)
{
	return g->pages;
}

void *hv_guest_page(struct hv_guest *g, unsigned pfn)
{
	if (pfn >= g->pages)
		return NULL;
	return g->mem + (size_t)pfn * HV_PAGE_SIZE;
}

void hv_guest_close(struct hv_guest *g)
{
	unsigned i;

	if (!g)
		return;
	for (i = 0; i < HV_SIM_PORTS_MAX; i++) {
		if (!g->ports[i].used)
			continue;
		close(g->ports[i].in);
		close(g->ports[i].out);
	}
	if (g->mem)
		munmap(g->mem, (size_t)g->pages * HV_PAGE_SIZE);
	if (g->gnt)
		munmap(g->gnt, hv_sim_gnt_size());
	if (g->epfd >= 0)
		close(g->epfd);
	/* Closing the socket is what tells the broker this domain is gone. */
	if (g->sock >= 0)
		close(g->sock);
	free(g);
}

int hv_guest_open(uint16_t domid, unsigned pages, struct hv_guest **out)
{
	struct hv_sim_msg m = { .op = HV_SIM_OP_REGISTER, .arg = pages };
	struct hv_guest *g = calloc(1, sizeof(*g));
	char path[128];
	int fds[2], rc;
	void *p;

	if (!g)
		return err_set(-ENOMEM, "domain %u: out of memory", (unsigned)domid);
	g->domid = domid;
	g->sock = -1;
	g->next_ref = HV_SIM_GNT_FIRST_REF;
	g->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (g->epfd < 0) {
		rc = err_set(-errno, "epoll: %s", strerror(errno));
		goto fail;
	}
	if (pages == 0 || pages > HV_SIM_PAGES_MAX) {
		rc = err_set(-EINVAL, "%u pages: expected 1 to %u", pages, HV_SIM_PAGES_MAX);
		goto fail;
	}
	rc = hv_sim_sock_path(NULL, domid, path, sizeof(path));
	if (!rc)
		rc = hv_sim_connect(path, &g->sock);
	if (!rc)
		rc = hv_sim_call(g->sock, &m, fds, 2);
	if (rc)
		goto fail;
	p = mmap(NULL, (size_t)pages * HV_PAGE_SIZE, PROT_READ | PROT_WRITE,
		 MAP_SHARED, fds[0], 0);
	if (p != MAP_FAILED) {
		g->mem = p;
		g->pages = pages;
		p = mmap(NULL, hv_sim_gnt_size(), PROT_READ | PROT_WRITE, MAP_SHARED,
			 fds[1], 0);
	}
	rc = p == MAP_FAILED ? -errno : 0;
	close(fds[0]);
	close(fds[1]);
	if (rc) {
		err_set(rc, "map memory: %s", strerror(-rc));
		goto fail;
	}
	g->gnt = p;
	g->ents = (uint64_t *)(g->gnt + HV_PAGE_SIZE);
	/* The header is the broker's to write. */
	mprotect(g->gnt, HV_PAGE_SIZE, PROT_READ);
	*out = g;
	return 0;
fail:
	hv_guest_close(g);
	return err_prefix(rc, "domain %u", (unsigned)domid);
}

static void entry_store(struct hv_guest *g, uint32_t ref, const struct hv_sim_gnt_entry *e)
{
	uint64_t raw;

	memcpy(&raw, e, sizeof(raw));
	__atomic_store_n(&g->ents[ref], raw, __ATOMIC_RELEASE);
}

static uint16_t entry_flags(struct hv_guest *g, uint32_t ref)
{
	uint64_t raw = __atomic_load_n(&g->ents[ref], __ATOMIC_ACQUIRE);
	struct hv_sim_gnt_entry e;

	memcpy(&e, &raw, sizeof(e));
	return e.flags;
}

int hv_guest_grant(struct hv_guest *g, uint16_t to, unsigned pfn, bool readonly, uint32_t *ref)
{
	struct hv_sim_gnt_entry e = {
		.flags = HV_GTF_permit_access | (readonly ? HV_GTF_readonly : 0),
		.domid = to,
		.frame = pfn,
	};
	uint32_t r = g->next_ref, n;

	if (pfn >= g->pages)
		return err_set(-EINVAL, "domain %u: grant of page %u beyond its %u pages",
			       (unsigned)g->domid, pfn, g->pages);
	for (n = 0; n < HV_SIM_GNT_ENTRIES - HV_SIM_GNT_FIRST_REF; n++) {
		if (r >= HV_SIM_GNT_ENTRIES)
			r = HV_SIM_GNT_FIRST_REF;
		if (entry_flags(g, r) == 0) {
			entry_store(g, r, &e);
			g->next_ref = r + 1;
			*ref = r;
			return 0;
		}
		r++;
	}
	return err_set(-ENOSPC, "domain %u: grant table full", (unsigned)g->domid);
}

int hv_guest_revoke(struct hv_guest *g, uint32_t ref)
{
	static const struct hv_sim_gnt_entry none;

	if (ref < HV_SIM_GNT_FIRST_REF || ref >= HV_SIM_GNT_ENTRIES || entry_flags(g, ref) == 0)
		return err_set(-EINVAL, "domain %u: grant ref %u is not in use",
			       (unsigned)g->domid, (unsigned)ref);
	entry_store(g, ref, &none);
	return 0;
}

int hv_guest_evtchn_alloc(struct hv_guest *g, uint16_t remote, uint32_t *port)
{
	struct hv_sim_msg m = { .op = HV_SIM_OP_ALLOC, .arg = remote };
	struct epoll_event ev = { .events = EPOLLIN };
	struct guest_port *p;
	int fds[2], rc;

	rc = hv_sim_call(g->sock, &m, fds, 2);
	if (rc)
		return err_prefix(rc, "domain %u: event channel for domain %u",
				  (unsigned)g->domid, (unsigned)remote);
	if (m.port == 0 || m.port >= HV_SIM_PORTS_MAX || g->ports[m.port].used) {
		close(fds[0]);
		close(fds[1]);
		return err_set(-EPROTO, "domain %u: broker gave port %u twice",
			       (unsigned)g->domid, (unsigned)m.port);
	}
	p = &g->ports[m.port];
	*p = (struct guest_port){ .used = true, .in = fds[0], .out = fds[1] };
	ev.data.u32 = m.port;
	if (epoll_ctl(g->epfd, EPOLL_CTL_ADD, p->in, &ev)) {
		rc = err_set(-errno, "domain %u: epoll: %s", (unsigned)g->domid,
			     strerror(errno));
		hv_guest_evtchn_close(g, m.port);
		return rc;
	}
	*port = m.port;
	return 0;
}

static struct guest_port *port_get(struct hv_guest *g, uint32_t port)
{
	if (port == 0 || port >= HV_SIM_PORTS_MAX || !g->ports[port].used) {
		err_set(-EINVAL, "domain %u: event channel %u is not allocated",
			(unsigned)g->domid, (unsigned)port);
		return NULL;
	}
	return &g->ports[port];
}

int hv_guest_evtchn_close(struct hv_guest *g, uint32_t port)
{
	struct hv_sim_msg m = { .op = HV_SIM_OP_CLOSE, .port = port };
	struct guest_port *p = port_get(g, port);

	if (!p)
		return err_code();
	epoll_ctl(g->epfd, EPOLL_CTL_DEL, p->in, NULL);
	hv_sim_evq_forget(&g->evq, port);
	close(p->in);
	close(p->out);
	memset(p, 0, sizeof(*p));
	return hv_sim_call(g->sock, &m, NULL, 0);
}

int hv_guest_evtchn_notify(struct hv_guest *g, uint32_t port)
{
	struct guest_port *p = port_get(g, port);
	uint64_t one = 1;

	if (!p)
		return err_code();
	if (write(p->out, &one, sizeof(one)) < 0 && errno != EAGAIN)
		return err_set(-errno, "domain %u: notify event channel %u: %s",
			       (unsigned)g->domid, (unsigned)port, strerror(errno));
	return 0;
}

int hv_guest_evtchn_fd(struct hv_guest *g)
{
	return g->epfd;
}

int hv_guest_evtchn_pending(struct hv_guest *g, uint32_t *port)
{
	uint32_t p = UINT32_MAX;
	uint64_t cnt;
	int rc;

	do {
		rc = hv_sim_evq_next(&g->evq, g->epfd, &p);
		if (rc == -EAGAIN)
			return rc;
		if (rc < 0)
			return err_set(rc, "domain %u: epoll: %s", (unsigned)g->domid,
				       strerror(-rc));
		/* a port closed since the look: the next one */
	} while (p >= HV_SIM_PORTS_MAX || !g->ports[p].used);
	if (read(g->ports[p].in, &cnt, sizeof(cnt)) < 0 && errno != EAGAIN)
		return err_set(-errno, "domain %u: event channel %u: %s", (unsigned)g->domid,
			       (unsigned)p, strerror(errno));
	*port = p;
	return 0;
}
