/* hv_broker: hvsim's broker of guest memory, grant tables and event
 * channels (see hv_broker.h). The broker hands out descriptors and keeps
 * the book of who bound what; it never copies a byte of guest memory:
 * backends do that themselves through the memfds, checking the grant
 * table as Xen does (hypervisor/sim/hv_sim.c). */
#include "hypervisor/sim/hv_broker.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "hypervisor/sim/hv_sim_proto.h"
#include "lib/log.h"
#include "lib/unix_listen.h"

/* Requests served per connection and wake-up: one busy client cannot
 * starve the others (or xenstored, which shares the loop). */
#define BRK_BURST 32
/* Xen's DOMID_FIRST_RESERVED: no domain has an id at or above it. */
#define BRK_DOMID_MAX 0x7FF0u
/* Connections at once; more are refused (as xenstored's). */
#define BRK_CONNS_MAX 512u

enum { PORT_FREE, PORT_UNBOUND, PORT_BOUND };

struct brk_conn {
	struct brk_conn *next;
	int fd;
	int domid;		/* -1: a backend (dom0 socket) */
};

struct brk_port {
	uint8_t state;
	uint16_t remote;
	int to_guest, to_back;	/* eventfds */
	const struct brk_conn *bound_by;
};

/* A registered domain: exists from a guest's REGISTER until its
 * connection closes. */
struct brk_dom {
	struct brk_dom *next;
	uint32_t domid;
	const struct brk_conn *guest;
	int memfd, gntfd;
	unsigned pages;
	struct hv_sim_gnt_hdr *hdr;
	struct brk_port ports[HV_SIM_PORTS_MAX];
};

struct brk_listener {
	int domid;
	int fd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
};

struct hv_brk {
	char xs_path[PATH_MAX];
	struct brk_listener main;
	struct brk_listener *dls;
	unsigned n_dls;
	struct brk_conn *conns;
	unsigned n_conns;
	struct brk_dom *doms;
};

static int listener_open(struct hv_brk *b, struct brk_listener *l, int domid)
{
	int rc = hv_sim_sock_path(b->xs_path, domid, l->path, sizeof(l->path));

	if (rc)
		return rc;
	l->domid = domid;
	l->fd = unix_listen(l->path, SOCK_SEQPACKET, 0600);
	if (l->fd < 0) {
		rc = l->fd;
		log_err("hv broker: cannot listen on %s: %s", l->path,
			rc == -EADDRINUSE ? "a broker is already running there" :
			strerror(-rc));
		return rc;
	}
	return 0;
}

static void listener_close(struct brk_listener *l)
{
	if (l->fd < 0)
		return;
	close(l->fd);
	unlink(l->path);
	l->fd = -1;
}

/* Two memfds per domain, two eventfds per port, a socket per client: the
 * default soft limit of 1024 would make a few busy guests everybody's
 * problem. */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int hv_brk_open(const char *xs_path, struct hv_brk **out)
{
	struct hv_brk *b = calloc(1, sizeof(*b));
	int rc;

	if (!b)
		return -ENOMEM;
	if (strlen(xs_path) >= sizeof(b->xs_path)) {
		free(b);
		return -ENAMETOOLONG;
	}
	strcpy(b->xs_path, xs_path);
	raise_fd_limit();
	rc = listener_open(b, &b->main, -1);
	if (rc) {
		free(b);
		return rc;
	}
	log_info("hv broker: listening on %s", b->main.path);
	*out = b;
	return 0;
}

static struct brk_dom *dom_find(struct hv_brk *b, uint32_t domid)
{
	struct brk_dom *d;

	for (d = b->doms; d; d = d->next)
		if (d->domid == domid)
			return d;
	return NULL;
}

static void port_free(struct brk_port *p)
{
	if (p->state == PORT_FREE)
		return;
	close(p->to_guest);
	close(p->to_back);
	memset(p, 0, sizeof(*p));
}

/* The guest is gone: backends' mappings stay (they hold the memfd), the
 * header tells their copies, and the domain can register anew. */
static void dom_kill(struct hv_brk *b, struct brk_dom *d)
{
	struct brk_dom **pp;
	unsigned i;

	__atomic_store_n(&d->hdr->dead, 1, __ATOMIC_RELEASE);
	for (i = 0; i < HV_SIM_PORTS_MAX; i++)
		port_free(&d->ports[i]);
	munmap(d->hdr, HV_PAGE_SIZE);
	close(d->memfd);
	close(d->gntfd);
	for (pp = &b->doms; *pp; pp = &(*pp)->next) {
		if (*pp == d) {
			*pp = d->next;
			break;
		}
	}
	log_info("hv broker: domain %u gone", (unsigned)d->domid);
	free(d);
}

static void conn_close(struct hv_brk *b, struct brk_conn *c)
{
	struct brk_conn **pp;
	struct brk_dom *d, *next;
	unsigned i;

	for (d = b->doms; d; d = next) {
		next = d->next;
		if (d->guest == c) {
			dom_kill(b, d);
			continue;
		}
		for (i = 0; i < HV_SIM_PORTS_MAX; i++)
			if (d->ports[i].state == PORT_BOUND && d->ports[i].bound_by == c) {
				d->ports[i].state = PORT_UNBOUND;
				d->ports[i].bound_by = NULL;
			}
	}
	for (pp = &b->conns; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	close(c->fd);
	b->n_conns--;
	free(c);
}

void hv_brk_close(struct hv_brk *b)
{
	unsigned i;

	if (!b)
		return;
	while (b->conns)
		conn_close(b, b->conns);
	while (b->doms)
		dom_kill(b, b->doms);
	for (i = 0; i < b->n_dls; i++)
		listener_close(&b->dls[i]);
	free(b->dls);
	listener_close(&b->main);
	free(b);
}

int hv_brk_domain_add(struct hv_brk *b, uint32_t domid)
{
	struct brk_listener *dls;
	unsigned i;
	int rc;

	for (i = 0; i < b->n_dls; i++)
		if (b->dls[i].domid == (int)domid)
			return 0;
	dls = realloc(b->dls, (b->n_dls + 1) * sizeof(*dls));
	if (!dls)
		return -ENOMEM;
	b->dls = dls;
	rc = listener_open(b, &b->dls[b->n_dls], (int)domid);
	if (rc)
		return rc;
	log_info("hv broker: domain %u socket %s", (unsigned)domid, b->dls[b->n_dls].path);
	b->n_dls++;
	return 0;
}

void hv_brk_domain_del(struct hv_brk *b, uint32_t domid)
{
	struct brk_conn *c, *next;
	unsigned i;

	for (i = 0; i < b->n_dls; i++) {
		if (b->dls[i].domid == (int)domid) {
			listener_close(&b->dls[i]);
			b->dls[i] = b->dls[--b->n_dls];
			break;
		}
	}
	for (c = b->conns; c; c = next) {
		next = c->next;
		if (c->domid == (int)domid)
			conn_close(b, c);
	}
}

unsigned hv_brk_nfds(const struct hv_brk *b)
{
	return 1 + b->n_dls + b->n_conns;
}

unsigned hv_brk_pollfds(struct hv_brk *b, struct pollfd *p)
{
	struct brk_conn *c;
	unsigned n = 0, i;

	p[n++] = (struct pollfd){ .fd = b->main.fd, .events = POLLIN };
	for (i = 0; i < b->n_dls; i++)
		p[n++] = (struct pollfd){ .fd = b->dls[i].fd, .events = POLLIN };
	for (c = b->conns; c; c = c->next)
		p[n++] = (struct pollfd){ .fd = c->fd, .events = POLLIN };
	return n;
}

static int memfd_sealed(const char *name, size_t size)
{
	int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	int rc;

	if (fd < 0)
		return -errno;
	/* Fixed size for good: a guest that could shrink its memory would
	 * turn a backend's next access into SIGBUS. */
	if (ftruncate(fd, (off_t)size) ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)) {
		rc = -errno;
		close(fd);
		return rc;
	}
	return fd;
}

static int op_register(struct hv_brk *b, struct brk_conn *c, struct hv_sim_msg *m,
		       int *fds, unsigned *nfds)
{
	char name[64];
	struct brk_dom *d;
	void *hdr;
	int rc;

	if (dom_find(b, (uint32_t)c->domid))
		return -EBUSY;
	if (m->arg == 0 || m->arg > HV_SIM_PAGES_MAX)
		return -EINVAL;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->domid = (uint32_t)c->domid;
	d->guest = c;
	d->pages = m->arg;
	snprintf(name, sizeof(name), "hvsim-d%d-memory", c->domid);
	d->memfd = memfd_sealed(name, (size_t)d->pages * HV_PAGE_SIZE);
	snprintf(name, sizeof(name), "hvsim-d%d-gnttab", c->domid);
	d->gntfd = memfd_sealed(name, hv_sim_gnt_size());
	if (d->memfd < 0 || d->gntfd < 0) {
		rc = d->memfd < 0 ? d->memfd : d->gntfd;
		goto fail;
	}
	hdr = mmap(NULL, HV_PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, d->gntfd, 0);
	if (hdr == MAP_FAILED) {
		rc = -errno;
		goto fail;
	}
	d->hdr = hdr;
	d->hdr->magic = HV_SIM_GNT_MAGIC;
	d->hdr->domid = d->domid;
	d->hdr->nr_entries = HV_SIM_GNT_ENTRIES;
	d->hdr->pages = d->pages;
	d->next = b->doms;
	b->doms = d;
	fds[0] = d->memfd;
	fds[1] = d->gntfd;
	*nfds = 2;
	log_info("hv broker: domain %u registered, %u pages", (unsigned)d->domid, d->pages);
	return 0;
fail:
	if (d->memfd >= 0)
		close(d->memfd);
	if (d->gntfd >= 0)
		close(d->gntfd);
	free(d);
	return rc;
}

static int op_alloc(struct hv_brk *b, struct brk_conn *c, struct hv_sim_msg *m,
		    int *fds, unsigned *nfds)
{
	struct brk_dom *d = dom_find(b, (uint32_t)c->domid);
	struct brk_port *p;
	unsigned i;

	if (!d || d->guest != c)
		return -ENOENT;
	if (m->arg >= BRK_DOMID_MAX)
		return -EINVAL;
	for (i = 1; i < HV_SIM_PORTS_MAX; i++)
		if (d->ports[i].state == PORT_FREE)
			break;
	if (i == HV_SIM_PORTS_MAX)
		return -ENOSPC;
	p = &d->ports[i];
	p->to_guest = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	p->to_back = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (p->to_guest < 0 || p->to_back < 0) {
		int rc = -errno;

		if (p->to_guest >= 0)
			close(p->to_guest);
		if (p->to_back >= 0)
			close(p->to_back);
		memset(p, 0, sizeof(*p));
		return rc;
	}
	p->state = PORT_UNBOUND;
	p->remote = (uint16_t)m->arg;
	m->port = i;
	fds[0] = p->to_guest;
	fds[1] = p->to_back;
	*nfds = 2;
	return 0;
}

static int op_close(struct hv_brk *b, struct brk_conn *c, struct hv_sim_msg *m)
{
	struct brk_dom *d = dom_find(b, (uint32_t)c->domid);

	if (!d || d->guest != c)
		return -ENOENT;
	if (m->port == 0 || m->port >= HV_SIM_PORTS_MAX || d->ports[m->port].state == PORT_FREE)
		return -EINVAL;
	port_free(&d->ports[m->port]);
	return 0;
}

static int op_domain(struct hv_brk *b, struct hv_sim_msg *m, int *fds, unsigned *nfds)
{
	struct brk_dom *d = dom_find(b, m->domid);

	if (!d)
		return -ESRCH;
	m->arg = d->pages;
	fds[0] = d->memfd;
	fds[1] = d->gntfd;
	*nfds = 2;
	return 0;
}

/* evtchn_bind_interdomain: only a port the guest allocated for us, and
 * only once until it is unbound again. */
static int op_bind(struct hv_brk *b, struct brk_conn *c, struct hv_sim_msg *m,
		   int *fds, unsigned *nfds)
{
	struct brk_dom *d = dom_find(b, m->domid);
	struct brk_port *p;

	if (!d)
		return -ESRCH;
	if (m->port == 0 || m->port >= HV_SIM_PORTS_MAX)
		return -EINVAL;
	p = &d->ports[m->port];
	if (p->state != PORT_UNBOUND || p->remote != HV_SIM_BACKEND_DOMID)
		return -EINVAL;
	p->state = PORT_BOUND;
	p->bound_by = c;
	fds[0] = p->to_back;
	fds[1] = p->to_guest;
	*nfds = 2;
	return 0;
}

static int op_unbind(struct hv_brk *b, struct brk_conn *c, struct hv_sim_msg *m)
{
	struct brk_dom *d = dom_find(b, m->domid);
	struct brk_port *p;

	/* The guest went away (or closed the port) first: nothing to undo. */
	if (!d || m->port == 0 || m->port >= HV_SIM_PORTS_MAX)
		return 0;
	p = &d->ports[m->port];
	if (p->state != PORT_BOUND || p->bound_by != c)
		return 0;
	p->state = PORT_UNBOUND;
	p->bound_by = NULL;
	return 0;
}

static int handle(struct hv_brk *b, struct brk_conn *c, struct hv_sim_msg *m,
		  int *fds, unsigned *nfds)
{
	bool guest = c->domid >= 0;

	switch (m->op) {
	case HV_SIM_OP_DOMAIN:
		return guest ? -EPERM : op_domain(b, m, fds, nfds);
	case HV_SIM_OP_BIND:
		return guest ? -EPERM : op_bind(b, c, m, fds, nfds);
	case HV_SIM_OP_UNBIND:
		return guest ? -EPERM : op_unbind(b, c, m);
	case HV_SIM_OP_REGISTER:
		return guest ? op_register(b, c, m, fds, nfds) : -EPERM;
	case HV_SIM_OP_ALLOC:
		return guest ? op_alloc(b, c, m, fds, nfds) : -EPERM;
	case HV_SIM_OP_CLOSE:
		return guest ? op_close(b, c, m) : -EPERM;
	default:
		return -ENOSYS;
	}
}

/* Serves what c sent; false when c has to go. */
static bool conn_serve(struct hv_brk *b, struct brk_conn *c)
{
	struct hv_sim_msg m;
	int fds[HV_SIM_FDS_MAX];
	unsigned nfds, k;
	int rc;

	for (k = 0; k < BRK_BURST; k++) {
		rc = hv_sim_recv(c->fd, &m, NULL, 0, NULL);
		if (rc == -EAGAIN)
			return true;
		if (rc)
			return false;	/* closed, or not our protocol */
		nfds = 0;
		m.rc = handle(b, c, &m, fds, &nfds);
		log_debug("hv broker: dom%d op %u domid %u port %u: %d", c->domid,
			  m.op, m.domid, m.port, m.rc);
		/* A client that does not read its replies is dropped, never
		 * waited for. */
		if (hv_sim_send(c->fd, &m, fds, m.rc ? 0 : nfds))
			return false;
	}
	return true;
}

static struct brk_conn *conn_by_fd(struct hv_brk *b, int fd)
{
	struct brk_conn *c;

	for (c = b->conns; c; c = c->next)
		if (c->fd == fd)
			return c;
	return NULL;
}

static void accept_all(struct hv_brk *b, int lfd, int domid)
{
	struct brk_conn *c;
	int fd;

	for (;;) {
		fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR)
				log_warn("hv broker: accept: %s", strerror(errno));
			return;
		}
		if (b->n_conns >= BRK_CONNS_MAX) {
			log_warn("hv broker: too many connections, refusing one");
			close(fd);
			continue;
		}
		c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			return;
		}
		c->fd = fd;
		c->domid = domid;
		c->next = b->conns;
		b->conns = c;
		b->n_conns++;
	}
}

void hv_brk_dispatch(struct hv_brk *b, const struct pollfd *p, unsigned n)
{
	struct brk_conn *c;
	unsigned i, pass;

	/* Guests and closing connections first: a guest (or a backend) that
	 * went away before a request was sent is gone before that request is
	 * answered, whatever order poll saw them in. */
	for (pass = 0; pass < 2; pass++) {
		for (i = 0; i < n; i++) {
			bool first;

			if (!p[i].revents)
				continue;
			c = conn_by_fd(b, p[i].fd);
			if (!c)
				continue;
			first = c->domid >= 0 || (p[i].revents & (POLLHUP | POLLERR));
			if (first != (pass == 0))
				continue;
			if (!conn_serve(b, c))
				conn_close(b, c);
		}
	}
	for (i = 0; i < n; i++) {
		if (!p[i].revents)
			continue;
		if (p[i].fd == b->main.fd) {
			accept_all(b, b->main.fd, -1);
			continue;
		}
		for (unsigned k = 0; k < b->n_dls; k++)
			if (b->dls[k].fd == p[i].fd)
				accept_all(b, b->dls[k].fd, b->dls[k].domid);
	}
}
