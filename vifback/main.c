/* vifback: a userspace netback. Serves Xen's netif protocol for every vif
 * under /local/domain/0/backend/vif and gives each one a TAP vifD.N (or
 * its vifname) that the hotplug scripts or netd's no-fork mode plug as
 * they plug netback's interfaces.
 *
 * The supervisor (this process) watches xenstore and walks each vif's
 * handshake (xenbus.c); a worker process per guest domain moves the
 * packets (worker.c). Workers are forked by a small spawner process
 * (spawner.c) forked first thing, so they share no page the supervisor
 * goes on writing. One poll loop: the xenstore connection, the workers'
 * sockets, a signalfd (SIGCHLD: a worker died; SIGTERM/SIGINT: stop).
 *
 * A watch event only marks the vif its path names; the marked vifs are
 * looked at once each after the events are drained, so a transaction of a
 * dozen keys is one look. Events for the root or a domain's directory
 * rescan that level (the watch fires on registration: the first look is a
 * full scan). */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "lib/err.h"
#include "lib/log.h"
#include "vif/xsvif.h"
#include "vifback/sup.h"
#include "vifback/worker.h"

#define BE_TOKEN "vb-be"
#define VB_XS_TIMEOUT_MS 2000
#define VB_EVENTS_PER_WAKE 4096
#define VB_MAX_POLL 256

static void usage(FILE *f)
{
	fprintf(f, "usage: vifback [-v] [--hv xen|sim] [--max-queues N] [--no-seccomp]\n");
}

static void forget(struct vb_sup *s, struct vb_vif *v)
{
	struct vb_vif **pp = &s->vifs;

	while (*pp != v)
		pp = &(*pp)->next;
	*pp = v->next;
	free(v);
}

#define foreach_name(name, op)                                                      \
	for (const char *name = (op)->reply; name && name < (op)->reply + (op)->len; \
	     name += strlen(name) + 1)

static int rescan(struct vb_sup *s, const char *path, int depth, uint32_t domid)
{
	struct xsc_op op = { .type = XS_MSG_DIRECTORY, .path = path };
	int rc = xsc_run(s->xs, &op, 1);

	if (rc < 0)
		return rc;
	/* what we knew under it may have gone with it */
	for (struct vb_vif *v = s->vifs; v; v = v->next)
		if (depth == 0 || v->domid == domid)
			vb_vif_mark(s, v);
	foreach_name(name, &op) {
		char sub[XSVIF_DIR_MAX];
		uint32_t d, n;

		snprintf(sub, sizeof(sub), "%s/%s", path, name);
		if (depth == 0) {
			if (xsvif_path_depth(sub, &d, &n) == 1)
				rescan(s, sub, 1, d);
		} else if (xsvif_path_depth(sub, &d, &n) == 2) {
			struct vb_vif *v = vb_vif_get(s, d, n, true);

			if (v)
				vb_vif_mark(s, v);
		}
	}
	xsc_ops_free(&op, 1);
	return 0;
}

static int on_event(struct vb_sup *s, const struct xsc_event *ev)
{
	uint32_t domid = 0, devid = 0;
	int depth;

	if (!strcmp(ev->token, BE_TOKEN)) {
		depth = xsvif_path_depth(ev->path, &domid, &devid);
		if (depth == 0 || depth == 1)
			return rescan(s, ev->path, depth, domid);
		if (depth == 2) {
			struct vb_vif *v = vb_vif_get(s, domid, devid, true);

			if (v)
				vb_vif_mark(s, v);
		}
		return 0;
	}
	/* a frontend's state: /local/domain/D/device/vif/N/state */
	for (struct vb_vif *v = s->vifs; v; v = v->next) {
		size_t len = strlen(v->fe);

		if (len && !strncmp(ev->path, v->fe, len) &&
		    (ev->path[len] == '/' || !ev->path[len]))
			vb_vif_mark(s, v);
	}
	return 0;
}

static int look_pending(struct vb_sup *s)
{
	while (s->qhead) {
		struct vb_vif *v = s->qhead;
		int rc;

		s->qhead = v->qnext;
		if (!s->qhead)
			s->qtail = &s->qhead;
		v->pending = false;
		rc = vb_vif_look(s, v);
		if (rc == 1)
			forget(s, v);
		else if (rc < 0 && rc != -EINVAL && rc != -EOPNOTSUPP && rc != -EEXIST)
			return rc; /* xenstore is gone */
		else if (rc < 0)
			log_err("vif%u.%u: %s", v->domid, v->devid, err_msg());
	}
	return 0;
}

static int loop(struct vb_sup *s, int sfd)
{
	struct xsc_op watch = { .type = XS_MSG_WATCH, .path = XSVIF_ROOT, .arg = BE_TOKEN };
	int rc = xsc_run(s->xs, &watch, 1);

	if (rc == 0 && watch.err)
		rc = err_set(watch.err, "watch %s: %s", XSVIF_ROOT, strerror(-watch.err));
	xsc_ops_free(&watch, 1);
	if (rc < 0)
		return rc;
	for (;;) {
		struct pollfd pfd[VB_MAX_POLL];
		struct vb_worker *wk[VB_MAX_POLL];
		unsigned n = 0;

		pfd[n] = (struct pollfd){ .fd = sfd, .events = POLLIN };
		wk[n++] = NULL;
		pfd[n] = (struct pollfd){ .fd = xsc_fd(s->xs), .events = POLLIN };
		wk[n++] = NULL;
		for (struct vb_worker *w = s->workers; w && n < VB_MAX_POLL; w = w->next) {
			pfd[n] = (struct pollfd){ .fd = w->sock, .events = POLLIN };
			wk[n++] = w;
		}
		if (poll(pfd, n, xsc_events_queued(s->xs) || s->qhead ? 0 : -1) < 0 &&
		    errno != EINTR)
			return err_set(-errno, "poll: %s", strerror(errno));
		if (pfd[0].revents) {
			struct signalfd_siginfo si;

			while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
				if (si.ssi_signo == SIGCHLD)
					vb_worker_reap(s);
				else
					return 0;
			}
		}
		for (unsigned i = 2; i < n; i++) {
			/* a reaped worker is freed: only use those still listed */
			for (struct vb_worker *w = s->workers; w; w = w->next)
				if (w == wk[i] && pfd[i].revents) {
					vb_worker_input(s, w);
					break;
				}
		}
		for (unsigned k = 0; k < VB_EVENTS_PER_WAKE; k++) {
			struct xsc_event *ev = xsc_event_next(s->xs, &rc);

			if (!ev) {
				if (rc < 0)
					return rc;
				break;
			}
			rc = on_event(s, ev);
			free(ev);
			if (rc < 0)
				return rc;
		}
		rc = look_pending(s);
		if (rc < 0)
			return rc;
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "hv", required_argument, NULL, 'H' },
		{ "max-queues", required_argument, NULL, 'q' },
		{ "no-seccomp", no_argument, NULL, 'S' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct vb_sup s;
	sigset_t mask;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	int c, sfd, rc;

	memset(&s, 0, sizeof(s));
	s.qtail = &s.qhead;
	s.spawner = -1;
	s.confine = true;
	s.max_queues = ncpu < 1 ? 1 : ncpu > (long)VB_MAX_QUEUES ? VB_MAX_QUEUES : (unsigned)ncpu;
	log_set_level(LOG_LVL_INFO);
	while ((c = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
		switch (c) {
		case 'H':
			if (strcmp(optarg, "xen") && strcmp(optarg, "sim")) {
				fprintf(stderr, "vifback: --hv: expected xen or sim, got '%s'\n", optarg);
				return 2;
			}
			s.hv_kind = optarg;
			break;
		case 'q': {
			char *end;
			unsigned long q = strtoul(optarg, &end, 10);

			if (*end || !optarg[0] || q < 1 || q > VB_MAX_QUEUES) {
				fprintf(stderr, "vifback: --max-queues: expected 1..%u, got '%s'\n",
					VB_MAX_QUEUES, optarg);
				return 2;
			}
			s.max_queues = (unsigned)q;
			break;
		}
		case 'S':
			s.confine = false;
			break;
		case 'v':
			log_set_level(LOG_LVL_DEBUG);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	/* before the spawner forks: workers inherit the timeouts from it */
	if (vb_worker_timeouts_from_env() < 0) {
		fprintf(stderr, "vifback: %s\n", err_msg());
		return 2;
	}
	/* workers inherit this from the spawner */
	signal(SIGPIPE, SIG_IGN);
	rc = vb_spawner_start(&s);
	if (rc < 0) {
		log_err("vifback: worker spawner: %s", err_msg());
		return 1;
	}
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (sfd < 0) {
		log_err("vifback: signalfd: %s", strerror(errno));
		return 1;
	}
	rc = xsc_open(&s.xs, VB_XS_TIMEOUT_MS);
	if (rc < 0) {
		log_err("vifback: xenstore: %s", err_msg());
		return 1;
	}
	log_info("vifback: serving %s (up to %u queues per vif)", XSVIF_ROOT, s.max_queues);
	rc = loop(&s, sfd);
	if (rc < 0)
		log_err("vifback: %s", err_msg());
	for (struct vb_vif *v = s.vifs; v; v = v->next)
		vb_vif_shutdown(&s, v);
	vb_worker_stop_all(&s);
	vb_spawner_stop(&s);
	vb_vif_free_all(&s);
	xsc_close(s.xs);
	close(sfd);
	return rc < 0 ? 1 : 0;
}
