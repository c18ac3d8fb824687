/* xenstored: sockets and the poll loop around the xenstore protocol engine
 * (xs_store.c). Everything protocol-shaped happens in the store; this file
 * only accepts, reads, writes and closes. */
#include "hypervisor/sim/xenstored.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "hypervisor/sim/hv_broker.h"
#include "hypervisor/sim/xs_store.h"
#include "lib/log.h"
#include "lib/unix_listen.h"

struct dom_listener {
	uint32_t domid;
	int fd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
};

struct xsd {
	struct xs_store st;
	const char *path;
	int lfd;
	int sfd;
	struct dom_listener *dls;
	unsigned n_dls;
	struct pollfd *pfds;
	unsigned cap_pfds;
	unsigned polled_dls;	/* domain listeners in pfds */
	struct hv_brk *brk;	/* grants and event channels, same domains */
	unsigned brk_first;	/* its pfds start here */
};

int hv_xsd_domain_socket(const char *socket_path, uint32_t domid, char *buf,
			 size_t len)
{
	size_t max = sizeof(((struct sockaddr_un *)0)->sun_path);
	int n = snprintf(buf, len, "%s.d%u", socket_path, (unsigned)domid);

	if (n < 0 || (size_t)n >= len || (size_t)n >= max)
		return -ENAMETOOLONG;
	return 0;
}

const char *hv_xsd_default_path(char *buf, size_t len)
{
	const char *p = getenv("XENSTORED_PATH");
	const char *rundir = getenv("XENSTORED_RUNDIR");

	if (p && *p)
		return p;
	snprintf(buf, len, "%s/socket",
		 rundir && *rundir ? rundir : "/var/run/xenstored");
	return buf;
}

static int mkdir_parents(const char *path)
{
	char dir[PATH_MAX];
	char *s;

	if (strlen(path) >= sizeof(dir))
		return -ENAMETOOLONG;
	strcpy(dir, path);
	s = strrchr(dir, '/');
	if (!s || s == dir)
		return 0;
	*s = '\0';
	for (s = dir + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(dir, 0755) && errno != EEXIST)
			return -errno;
		*s = '/';
	}
	if (mkdir(dir, 0755) && errno != EEXIST)
		return -errno;
	return 0;
}

static int dom_add(void *arg, uint32_t domid)
{
	struct xsd *d = arg;
	struct dom_listener *dls, *dl;
	int rc;

	dls = realloc(d->dls, (d->n_dls + 1) * sizeof(*dls));
	if (!dls)
		return -ENOMEM;
	d->dls = dls;
	dl = &d->dls[d->n_dls];
	dl->domid = domid;
	rc = hv_xsd_domain_socket(d->path, domid, dl->path, sizeof(dl->path));
	if (rc)
		return rc;
	dl->fd = unix_listen(dl->path, SOCK_STREAM, 0600);
	if (dl->fd < 0) {
		log_err("xenstored: cannot listen on %s: %s", dl->path,
			strerror(-dl->fd));
		return -EIO;
	}
	rc = hv_brk_domain_add(d->brk, domid);
	if (rc) {
		close(dl->fd);
		unlink(dl->path);
		return -EIO;
	}
	d->n_dls++;
	log_info("xenstored: domain %u socket %s", (unsigned)domid, dl->path);
	return 0;
}

static void dom_close(struct dom_listener *dl)
{
	close(dl->fd);
	unlink(dl->path);
}

static void dom_del(void *arg, uint32_t domid)
{
	struct xsd *d = arg;
	unsigned i;

	hv_brk_domain_del(d->brk, domid);
	for (i = 0; i < d->n_dls; i++) {
		if (d->dls[i].domid == domid) {
			dom_close(&d->dls[i]);
			d->dls[i] = d->dls[--d->n_dls];
			return;
		}
	}
}

static const struct xs_store_hooks xsd_hooks = {
	.domain_add = dom_add,
	.domain_del = dom_del,
};

static void conn_close(struct xs_conn *c)
{
	log_debug("xenstored: conn %u dom%u closed", c->id, c->domid);
	if (c->fd >= 0)
		close(c->fd);
	xs_conn_free(c);
}

static void accept_all(struct xsd *d, int lfd, uint32_t domid)
{
	struct xs_conn *c;
	int fd;

	for (;;) {
		fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR)
				log_warn("xenstored: accept: %s", strerror(errno));
			return;
		}
		if (d->st.n_conns >= HV_XSD_CONNS_MAX) {
			log_warn("xenstored: too many connections, refusing one");
			close(fd);
			continue;
		}
		c = xs_conn_new(&d->st, domid);
		if (!c) {
			close(fd);
			continue;
		}
		c->fd = fd;
		log_debug("xenstored: conn %u dom%u opened", c->id, c->domid);
	}
}

/* Returns false when the connection has to go. */
static bool conn_read(struct xs_conn *c)
{
	uint8_t buf[XS_HDR_LEN + XS_PAYLOAD_MAX];
	ssize_t n = recv(c->fd, buf, sizeof(buf), 0);

	if (n == 0)
		return false;
	if (n < 0)
		return errno == EAGAIN || errno == EINTR;
	xs_conn_feed(c, buf, (size_t)n);
	return true;
}

static bool conn_flush(struct xs_conn *c)
{
	const uint8_t *p;
	size_t len;
	ssize_t n;

	while ((p = xs_conn_out_peek(c, &len))) {
		n = send(c->fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0)
			return errno == EAGAIN || errno == EINTR;
		xs_conn_out_consume(c, (size_t)n);
	}
	return true;
}

enum { PFD_SIGNAL, PFD_MAIN, PFD_FIRST_DOM };

static int build_pfds(struct xsd *d, unsigned *n_out)
{
	unsigned want = PFD_FIRST_DOM + d->n_dls + d->st.n_conns +
			hv_brk_nfds(d->brk), i = 0;
	struct xs_conn *c;

	if (want > d->cap_pfds) {
		struct pollfd *p = realloc(d->pfds, want * sizeof(*p));

		if (!p)
			return -ENOMEM;
		d->pfds = p;
		d->cap_pfds = want;
	}
	d->pfds[i++] = (struct pollfd){ .fd = d->sfd, .events = POLLIN };
	d->pfds[i++] = (struct pollfd){ .fd = d->lfd, .events = POLLIN };
	for (unsigned k = 0; k < d->n_dls; k++)
		d->pfds[i++] = (struct pollfd){ .fd = d->dls[k].fd,
						.events = POLLIN };
	d->polled_dls = d->n_dls;
	for (c = d->st.conns; c; c = c->next) {
		short ev = 0;

		/* A client that does not read its replies stops being
		 * read: backpressure instead of unbounded queues. */
		if (c->out_bytes < XS_OUT_SOFT_MAX)
			ev |= POLLIN;
		if (xs_conn_out_pending(c))
			ev |= POLLOUT;
		d->pfds[i++] = (struct pollfd){ .fd = c->fd, .events = ev };
	}
	d->brk_first = i;
	i += hv_brk_pollfds(d->brk, d->pfds + i);
	*n_out = i;
	return 0;
}

static int serve(struct xsd *d)
{
	struct xs_conn *c, *next;
	unsigned n, i;
	int rc;

	for (;;) {
		rc = build_pfds(d, &n);
		if (rc)
			return rc;
		if (poll(d->pfds, n, -1) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (d->pfds[PFD_SIGNAL].revents) {
			struct signalfd_siginfo si;

			if (read(d->sfd, &si, sizeof(si)) == sizeof(si))
				log_info("xenstored: signal %u, stopping",
					 si.ssi_signo);
			return 0;
		}
		/* Connections first: pfds past the listeners map onto the
		 * connection list as it was when they were built. */
		i = PFD_FIRST_DOM + d->polled_dls;
		for (c = d->st.conns; c && i < d->brk_first; c = next, i++) {
			short re = d->pfds[i].revents;

			next = c->next;
			if (c->dead || !re)
				continue;
			if ((re & (POLLIN | POLLHUP | POLLERR)) && !conn_read(c))
				c->dead = true;
		}
		if (d->pfds[PFD_MAIN].revents)
			accept_all(d, d->lfd, 0);
		for (i = 0; i < d->n_dls && i < d->polled_dls; i++) {
			/* INTRODUCE / RELEASE above may have changed dls. */
			if (d->pfds[PFD_FIRST_DOM + i].fd == d->dls[i].fd &&
			    d->pfds[PFD_FIRST_DOM + i].revents)
				accept_all(d, d->dls[i].fd, d->dls[i].domid);
		}
		/* After xenstore's requests: an INTRODUCE has opened the
		 * guest's broker socket before the guest is told to use it. */
		hv_brk_dispatch(d->brk, d->pfds + d->brk_first, n - d->brk_first);
		/* Any request may have queued events for any connection. */
		for (c = d->st.conns; c; c = next) {
			next = c->next;
			if (!conn_flush(c) || c->dead)
				conn_close(c);
		}
	}
}

static int write_pid_file(const char *path)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return -errno;
	fprintf(f, "%ld\n", (long)getpid());
	if (fclose(f))
		return -errno;
	return 0;
}

int hv_xsd_run(const struct hv_xsd_opts *o)
{
	struct xsd d = { .path = o->socket_path, .lfd = -1, .sfd = -1 };
	sigset_t mask;
	unsigned i;
	int rc;

	if (o->verbose)
		log_set_level(LOG_LVL_DEBUG);
	rc = xs_store_init(&d.st);
	if (rc) {
		log_err("xenstored: %s", strerror(-rc));
		return rc;
	}
	xs_store_set_hooks(&d.st, &xsd_hooks, &d);

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	d.sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (d.sfd < 0) {
		rc = -errno;
		log_err("xenstored: signalfd: %s", strerror(errno));
		goto out;
	}
	rc = mkdir_parents(o->socket_path);
	if (rc) {
		log_err("xenstored: cannot create directory for %s: %s",
			o->socket_path, strerror(-rc));
		goto out;
	}
	d.lfd = unix_listen(o->socket_path, SOCK_STREAM, 0600);
	if (d.lfd < 0) {
		rc = d.lfd;
		log_err("xenstored: cannot listen on %s: %s", o->socket_path,
			rc == -EADDRINUSE ? "a xenstored is already running there" :
					    strerror(-rc));
		goto out;
	}
	rc = hv_brk_open(o->socket_path, &d.brk);
	if (rc)
		goto out;
	if (o->pid_file) {
		rc = write_pid_file(o->pid_file);
		if (rc) {
			log_err("xenstored: %s: %s", o->pid_file, strerror(-rc));
			goto out;
		}
	}
	log_info("xenstored: listening on %s", o->socket_path);
	if (o->print_ready) {
		printf("ready\n");
		fflush(stdout);
	}
	rc = serve(&d);
	if (rc)
		log_err("xenstored: %s", strerror(-rc));
out:
	while (d.st.conns)
		conn_close(d.st.conns);
	for (i = 0; i < d.n_dls; i++)
		dom_close(&d.dls[i]);
	free(d.dls);
	free(d.pfds);
	hv_brk_close(d.brk);
	if (d.lfd >= 0) {
		close(d.lfd);
		unlink(o->socket_path);
	}
	if (o->pid_file && d.lfd >= 0)
		unlink(o->pid_file);
	if (d.sfd >= 0)
		close(d.sfd);
	xs_store_fini(&d.st);
	return rc;
}
