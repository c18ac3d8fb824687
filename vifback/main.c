/* vifback: a userspace netback. Serves Xen's netif protocol for every vif
 * under /local/domain/0/backend/vif and gives each one a TAP vifD.N (or
 * its vifname) that the hotplug scripts or netd's no-fork mode plug as
 * they plug netback's interfaces.
 *
 * The supervisor (this process) watches xenstore and walks each vif's
 * handshake (netback/, the library dpswitch shares); a worker process per guest domain moves the
 * packets (worker.c). Workers are cloned by a small spawner process
 * (spawner.c) cloned first thing, so they share no page the supervisor
 * goes on writing. One poll loop: the xenstore connection, the workers'
 * sockets, a signalfd (SIGCHLD: a worker died; SIGTERM/SIGINT: stop). */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "lib/dec.h"
#include "lib/err.h"
#include "lib/log.h"
#include "vif/xsvif.h"
#include "vifback/sanitizer.h"
#include "vifback/sup.h"
#include "vifback/worker.h"

#define VB_MAX_POLL 256
#define VB_STATS_DIR "/run/vifback"

static void usage(FILE *f)
{
	fprintf(f, "usage: vifback [-v] [--hv xen|sim] [--max-queues N] [--stats-dir DIR] "
		   "[--no-seccomp] [--not-bridge NAME]...\n");
}

static int loop(struct vb_sup *s, int sfd)
{
	int rc;

	for (;;) {
		struct pollfd pfd[VB_MAX_POLL];
		struct vb_worker *wk[VB_MAX_POLL];
		unsigned n = 0;

		pfd[n] = (struct pollfd){ .fd = sfd, .events = POLLIN };
		wk[n++] = NULL;
		pfd[n] = (struct pollfd){ .fd = nb_back_fd(&s->nb), .events = POLLIN };
		wk[n++] = NULL;
		for (struct vb_worker *w = s->workers; w && n < VB_MAX_POLL; w = w->next) {
			pfd[n] = (struct pollfd){ .fd = w->sock, .events = POLLIN };
			wk[n++] = w;
		}
		/* -1 unless a held reconnect ends (+1: not a spin just before) */
		int hold_ms = nb_back_timeout_ms(&s->nb);

		if (poll(pfd, n, nb_back_busy(&s->nb) ? 0 : hold_ms < 0 ? -1 : hold_ms + 1) < 0 &&
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
		rc = nb_back_run(&s->nb);
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
		{ "stats-dir", required_argument, NULL, 'D' },
		{ "not-bridge", required_argument, NULL, 'B' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct vb_sup s;
	sigset_t mask;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	int c, sfd, rc;

	memset(&s, 0, sizeof(s));
	nb_back_init(&s.nb);
	s.nb.ops = &vb_nb_ops;
	s.nb.gso = true;
	s.spawner = -1;
	s.confine = true;
	s.stats_dir = VB_STATS_DIR;
	s.nb.max_queues = ncpu < 1 ? 1 : ncpu > (long)VB_MAX_QUEUES ? VB_MAX_QUEUES : (unsigned)ncpu;
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
			uint64_t q;

			if (dec_arg("--max-queues", NULL, optarg, 1, VB_MAX_QUEUES, &q) < 0) {
				fprintf(stderr, "vifback: %s\n", err_msg());
				return 2;
			}
			s.nb.max_queues = (unsigned)q;
			break;
		}
		case 'S':
			s.confine = false;
			break;
		case 'D':
			if (optarg[0] != '/' || strlen(optarg) > VB_STATS_PATH_MAX - 32) {
				fprintf(stderr, "vifback: --stats-dir: expected an absolute path, got '%s'\n",
					optarg);
				return 2;
			}
			s.stats_dir = optarg;
			break;
		case 'B':
			if (s.n_not_bridge == 16 || !vif_ifname_is_valid(optarg)) {
				fprintf(stderr, "vifback: --not-bridge: '%s': %s\n", optarg,
					s.n_not_bridge == 16 ? "too many" : "not an interface name");
				return 2;
			}
			s.not_bridge[s.n_not_bridge++] = optarg;
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
	/* before the spawner is cloned: workers inherit the timeouts from it */
	if (vb_worker_timeouts_from_env() < 0 ||
	    nb_hold_cfg_from_env(&s.nb.hold, "VIFBACK") < 0) {
		fprintf(stderr, "vifback: %s\n", err_msg());
		return 2;
	}
	/* workers inherit this from the spawner */
	signal(SIGPIPE, SIG_IGN);
	/* and, sanitized builds, what their reports need (see sanitizer.c),
	 * once here rather than in every worker */
	vb_sanitizer_prepare();
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
	if (vb_stats_init(&s) < 0) {
		/* the data path does not need them: serve, say what is missing */
		log_warn("vifback: vifs' counters not kept: %s", err_msg());
		s.stats_dir = NULL;
	}
	rc = xsc_open(&s.nb.xs, s.nb.xs_timeout_ms);
	if (rc < 0) {
		log_err("vifback: xenstore: %s", err_msg());
		return 1;
	}
	/* the watch before the sweep: a device removed after the sweep read
	 * its directory has an event naming it, whose look finds the
	 * directory gone and has its TAP forgotten (set after, a removal in
	 * between was seen by neither, and its TAP stayed) */
	rc = nb_back_watch(&s.nb);
	if (rc == 0) {
		vb_orphans_remove(&s);
		log_info("vifback: serving %s (up to %u queues per vif)", XSVIF_ROOT,
			 s.nb.max_queues);
		rc = loop(&s, sfd);
	}
	if (rc < 0)
		log_err("vifback: %s", err_msg());
	nb_back_shutdown(&s.nb);
	vb_worker_stop_all(&s);
	vb_spawner_stop(&s);
	xsc_close(s.nb.xs);
	close(sfd);
	return rc < 0 ? 1 : 0;
}
