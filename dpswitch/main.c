/* dpswitch: a learning switch on DPDK between guests' netif rings and
 * NICs (see dps.h for its parts, docs/dpswitch.md for its use).
 *
 *   dpswitch [-v] [--hv xen|sim] --socket PATH --bridge NAME... [--mac-age S]
 *            [--state FILE] [--supervise] [-- EAL arguments]
 *
 * It serves the vifs whose backend key bridge= names one of its --bridge
 * networks (vifback serves the others, see vifback --not-bridge), through
 * netback's handshake, and every ethdev EAL probes is an uplink port.
 *
 * One thread: a pass polls the ready ports for a burst each (dps.h),
 * switches, flushes the output queues that have frames. While passes move
 * frames (take some, or give a guest those that waited for its buffers)
 * it does not sleep, and after the last one that did it looks on
 * for DPSWITCH_SPIN_US (50 us, netback/spin.h: as vifback's workers and
 * netback's NAPI), yielding the CPU before each look, the guests it polls
 * meanwhile not asked to kick it; under a stream the next frames come
 * within that, and a sleep and a wake-up every few frames cost more. Then
 * (or after a pass that found none, when no frames came before it: an
 * idle or a storming guest never makes it look on) it sleeps in ppoll(2)
 * on the event channels, the af_packet NIC ports' sockets (nic.c),
 * xenstore, the control socket and signals: with no other NIC port, until
 * something comes; otherwise DPS_SLEEP_MIN_US at first, twice as long each
 * time it stays idle, up to DPS_SLEEP_MAX_US (such a NIC has no event to
 * wake us: its latency is that sleep; nor has a NIC's queue waiting for
 * room). Frames waiting for a guest's buffers wait for its kick
 * (dirty_timed). It does not spin longer: on a Dom0
 * whose CPUs the guests' backends and the kernel share, a spin is CPU they
 * lose.
 *
 * xenstored restarted, or not answering for 2 s, ends nothing: netback
 * keeps the rings connected served and opens its connection again
 * (netback/watch.c).
 *
 * --supervise: a parent process restarts dpswitch when it dies of a
 * signal or an error (kill -9 included) and stops it on SIGTERM (exiting
 * with the stopped dpswitch's status); the
 * guests reconnect through the handshake, and with --state their ports
 * are plugged again as they were (plugs.c). */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "dpswitch/dps.h"
#include "hypervisor/hv.h"
#include "lib/dec.h"
#include "lib/env_ms.h"
#include "lib/err.h"
#include "lib/log.h"
#include "vif/xsvif.h"

#define DPS_SLEEP_MIN_US 50	  /* after a pass without frames it sleeps this long, doubling ... */
#define DPS_SLEEP_MAX_US 8000u /* ... up to this */
#define DPS_CTL_EVERY 64 /* passes between looks at xenstore and the socket while busy */
#define DPS_WAKE_FDS 16	 /* NIC sockets slept on (more NICs: timed sleeps) */
#define DPS_EV_EVERY 16	 /* passes between looks at the event channels while busy */
#define DPS_ARENA (NETIF_BURST * (NETIF_MAX_PKT + 1))

static void usage(FILE *f)
{
	fprintf(f, "usage: dpswitch [-v] [--hv xen|sim] --socket PATH --bridge NAME... "
		   "[--mac-age SECONDS] [--mbufs N] [--state FILE] [--kernel-port IFACE]... "
		   "[--supervise] "
		   "[-- EAL arguments]\n");
}

/* A NIC port whose socket was empty at the last look (dps.h), and that
 * ppoll watches. */
static bool quiet(const struct dps_port *p)
{
	return p->quiet && p->wake_fd >= 0;
}

/* Whether a port with frames queued needs the sleep to end by itself:
 * a NIC's queue waits for room no event announces (a socket's buffer, a
 * device's TX ring). A guest's does not: netif_rx_burst left its RX
 * req_event where the guest's next posted buffer kicks us (feature-rx-
 * notify), so a timed sleep would only wake us to find its ring as it
 * was (towards a guest in a TCP stream, a fifth of dpswitch's sleeps
 * were such timeouts: docs/dpswitch.md). A guest without rx-notify
 * never kicks for buffers: its queue is looked at when the sleep ends. */
static bool dirty_timed(const struct dps *d)
{
	for (unsigned k = 0; k < d->ndirty; k++) {
		const struct dps_port *p = &d->ports[d->dirty[k]];

		if (p->kind != DPS_PORT_GUEST || !p->forwarding || !p->q.nq ||
		    !p->q.nq->feat.rx_notify)
			return true;
	}
	return false;
}

/* Polls the ready ports, switches, flushes the queued ones; nonzero when
 * it took frames from some port or gave some to one. */
static int pass(struct dps *d)
{
	uint64_t before = d->taken, sent = d->sent;

	d->guest_more = false;
	d->now_us = nb_now_us();
	d->now_ms = d->now_us / 1000;
	/* from the end: a port leaving is swapped out with one already polled */
	for (unsigned k = d->nready; k-- > 0;) {
		unsigned idx = d->ready[k];

		if (d->ports[idx].kind == DPS_PORT_NIC) {
			if (!quiet(&d->ports[idx]))
				dps_nic_poll(d, idx);
		} else if (!dps_guest_poll(d, idx)) {
			dps_port_unready(d, idx);
		}
	}
	/* the quiet ones only in a pass that found work: it goes on (their
	 * frames, a stream's acknowledgements, as soon as before); a pass
	 * that found none ends in ppoll, which watches their sockets, where
	 * a read would have found nothing (half a kernel port's recvmmsg
	 * calls in a TCP stream to a guest) */
	for (unsigned k = d->nready; d->taken != before && k-- > 0;)
		if (d->ports[d->ready[k]].kind == DPS_PORT_NIC && quiet(&d->ports[d->ready[k]]))
			dps_nic_poll(d, d->ready[k]);
	dps_flush(d);
	return d->taken != before || d->sent != sent;
}

/* The NIC ports' sockets a sleep watches (DPS_WAKE_FDS at most) into
 * pfd, their ports into wake_port; how many. */
static int wake_fds(const struct dps *d, struct pollfd *pfd, uint16_t *wake_port)
{
	int n = 0;

	for (unsigned k = 0; k < d->nready && n < (int)DPS_WAKE_FDS; k++)
		if (d->ports[d->ready[k]].kind == DPS_PORT_NIC && d->ports[d->ready[k]].wake_fd >= 0) {
			wake_port[n] = d->ready[k];
			pfd[n++] = (struct pollfd){ .fd = d->ports[d->ready[k]].wake_fd,
						    .events = POLLIN };
		}
	return n;
}

/* A NIC port that would wake nobody from a sleep (no socket, or past
 * DPS_WAKE_FDS) is ready. */
static bool nic_unwatched(const struct dps *d)
{
	unsigned nw = 0;

	for (unsigned k = 0; k < d->nready; k++) {
		const struct dps_port *p = &d->ports[d->ready[k]];

		if (p->kind != DPS_PORT_NIC)
			continue;
		if (p->wake_fd < 0 || nw++ >= DPS_WAKE_FDS)
			return true;
	}
	return false;
}

/* While netback waits for xenstored (lib/xs_client.h's hook, on every
 * connection): the guests' frames go on being forwarded. A xenstored
 * that hangs (a request waits NB_XS_TIMEOUT_MS, 2 s, for each try) or
 * crawls (a big transaction, many domains made at once) held the whole
 * switch, every guest's traffic, for as long; vifback's per-domain
 * workers forward by themselves. Here the wait is the loop's own, cut
 * down: a pass, the window of polling, then a sleep on xenstore's fd,
 * the event channels and the NICs' sockets. A pass never calls into
 * netback (a guest's broken rings are told after it, by the loop:
 * dps_guest_broke_tell), and nothing else is done here: the control
 * socket and signals wait for the request's end (2 s at most). */
static int xs_wait(void *arg, int fd, short events, int ms)
{
	struct dps *d = arg;
	struct pollfd pfd[2 + DPS_WAKE_FDS];
	uint16_t wake_port[DPS_WAKE_FDS];
	uint64_t timeout_us = (uint64_t)ms * 1000u, wait;
	struct timespec ts;
	bool moved = pass(d), more = d->guest_more || d->ev_more;
	enum nb_spin_step spin;
	int n = 0, nw;

	if (moved)
		nb_spin_start(&d->spin, d->now_us);
	spin = nb_spin_step(&d->spin, moved ? d->now_us : nb_now_us());
	if (spin != NB_SPIN_LOOK && d->spin.us)
		more |= dps_guest_arm(d);
	if (moved || more || spin == NB_SPIN_LOOK) {
		timeout_us = 0;
	} else {
		/* what the loop's sleep is bounded by, at its shortest */
		if ((nic_unwatched(d) || dirty_timed(d)) && timeout_us > DPS_SLEEP_MIN_US)
			timeout_us = DPS_SLEEP_MIN_US;
		wait = dps_guest_wait_us(d, nb_now_us());
		if (wait && wait < timeout_us)
			timeout_us = wait;
	}
	pfd[n++] = (struct pollfd){ .fd = fd, .events = events };
	pfd[n++] = (struct pollfd){ .fd = hv_evtchn_fd(d->hv), .events = POLLIN };
	nw = wake_fds(d, pfd + n, wake_port);
	n += nw;
	ts = (struct timespec){ .tv_sec = (time_t)(timeout_us / 1000000u),
				.tv_nsec = (long)(timeout_us % 1000000u) * 1000 };
	if (ppoll(pfd, (nfds_t)n, &ts, NULL) < 0)
		return -errno;
	for (int i = 0; i < nw; i++)
		d->ports[wake_port[i]].quiet = !pfd[2 + i].revents;
	dps_guest_unhold(d, nb_now_us());
	if (pfd[1].revents || d->ev_more)
		d->ev_more = dps_guest_events(d);
	return pfd[0].revents != 0;
}

static int loop(struct dps *d, int sfd, int lfd)
{
	unsigned n_pass = 0;
	uint64_t sleep_us = DPS_SLEEP_MIN_US;
	int rc = nb_back_watch(&d->nb);

	if (rc < 0)
		return rc;
	for (;;) {
		/* the signals, xenstore, the event channels, the NICs'
		 * sockets, the control socket and its clients */
		struct pollfd pfd[3 + DPS_WAKE_FDS + 1 + DPS_CTL_CLIENTS];
		uint16_t wake_port[DPS_WAKE_FDS];
		struct timespec ts, *tsp = &ts;
		uint64_t timeout_us = 0;
		int n = 0, nctl, nwake_polled;
		bool nic = false, moved = pass(d), more = d->guest_more;
		enum nb_spin_step spin;

		/* rings a guest broke in the pass: netback writes why (a
		 * request that may wait, forwarding meanwhile: xs_wait) */
		if (d->nbroke)
			dps_guest_broke_tell(d);

		/* adaptive polling (netback/spin.h): frames moved, so look
		 * again for d->spin.us before sleeping; the guests polled
		 * meanwhile are armed when the window closes, or after this
		 * pass when none is open (a guest that kicked without
		 * requests: XSA-391's masking is unchanged) */
		if (moved)
			nb_spin_start(&d->spin, d->now_us);
		spin = nb_spin_step(&d->spin, moved ? d->now_us : nb_now_us());
		if (spin != NB_SPIN_LOOK && d->spin.us)
			more |= dps_guest_arm(d);
		if (moved) {
			sleep_us = DPS_SLEEP_MIN_US;
			if (++n_pass % DPS_CTL_EVERY) {
				/* other guests' events while one keeps us busy */
				if (n_pass % DPS_EV_EVERY == 0)
					d->ev_more = dps_guest_events(d);
				continue;
			}
		} else if (spin == NB_SPIN_LOOK || more) {
			/* a look at the events, sockets and xenstore without
			 * waiting, then the next pass; in the window, the CPU
			 * offered first to whoever fills our rings and sockets
			 * (a guest, the TCP peer) if they share ours */
			if (spin == NB_SPIN_LOOK)
				sched_yield();
		} else if (!nb_back_busy(&d->nb)) {
			/* nothing came: sleep rather than spin (a spin is a CPU
			 * the guests and the kernel do not get); a guest's event
			 * or a NIC's socket ends the sleep */
			uint64_t wait = dps_guest_wait_us(d, nb_now_us());
			int hold_ms = nb_back_timeout_ms(&d->nb);

			/* a NIC without a socket to wake us is looked at again
			 * when the sleep ends */
			nic = nic_unwatched(d);
			timeout_us = nic || dirty_timed(d) ? sleep_us : UINT64_MAX;
			if (wait && wait < timeout_us)
				timeout_us = wait;
			/* a held reconnect's end (+1 ms: not a spin just before it) */
			uint64_t hold_us = hold_ms < 0 ? UINT64_MAX : (uint64_t)hold_ms * 1000u + 1000u;

			if (hold_us < timeout_us)
				timeout_us = hold_us;
			/* a client that reads nothing of its reply, dropped on time */
			uint64_t ctl_us = dps_ctl_wait_us(nb_now_us());

			if (ctl_us < timeout_us)
				timeout_us = ctl_us;
			if (d->ev_more)
				timeout_us = 0;
			if (sleep_us < DPS_SLEEP_MAX_US)
				sleep_us *= 2;
		}
		if (timeout_us)
			d->sleeps++;
		if (timeout_us == UINT64_MAX)
			tsp = NULL;
		else
			ts = (struct timespec){ .tv_sec = (time_t)(timeout_us / 1000000u),
						.tv_nsec = (long)(timeout_us % 1000000u) * 1000 };
		pfd[n++] = (struct pollfd){ .fd = sfd, .events = POLLIN };
		pfd[n++] = (struct pollfd){ .fd = nb_back_fd(&d->nb), .events = POLLIN };
		pfd[n++] = (struct pollfd){ .fd = hv_evtchn_fd(d->hv), .events = POLLIN };
		nwake_polled = wake_fds(d, pfd + n, wake_port);
		n += nwake_polled;
		nctl = dps_ctl_fds(lfd, pfd + n, (unsigned)RTE_DIM(pfd) - (unsigned)n);
		n += nctl;
		if (ppoll(pfd, (nfds_t)n, tsp, NULL) < 0 && errno != EINTR)
			return err_set(-errno, "poll: %s", strerror(errno));
		if (pfd[0].revents) {
			struct signalfd_siginfo si;

			if (read(sfd, &si, sizeof(si)) == sizeof(si))
				return 0;
		}
		/* a socket the poll saw empty is not read in the next pass */
		for (int i = 0; i < nwake_polled; i++)
			d->ports[wake_port[i]].quiet = !pfd[3 + i].revents;
		dps_guest_unhold(d, nb_now_us());
		if (pfd[2].revents || d->ev_more)
			d->ev_more = dps_guest_events(d);
		bool ctl = dps_ctl_wait_us(nb_now_us()) == 0;

		for (int i = 3 + nwake_polled; i < n; i++)
			ctl |= pfd[i].revents != 0;
		if (ctl)
			dps_ctl_run(d, lfd);
		if (pfd[1].revents || nb_back_busy(&d->nb)) {
			rc = nb_back_run(&d->nb);
			if (rc < 0)
				return rc;
		}
	}
}

/* --supervise: the parent's loop. Restarts with a growing pause (up to
 * 5 s) so a dpswitch that cannot start does not spin. */
static int supervise(void)
{
	unsigned pause_ms = 100;
	sigset_t mask, old;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGCHLD);
	sigprocmask(SIG_BLOCK, &mask, &old);
	for (;;) {
		int sfd, status;
		pid_t pid = fork();
		struct signalfd_siginfo si;

		if (pid < 0) {
			log_err("dpswitch: fork: %s", strerror(errno));
			return 1;
		}
		if (pid == 0) {
			sigprocmask(SIG_SETMASK, &old, NULL);
			prctl(PR_SET_PDEATHSIG, SIGTERM);
			return -1; /* the child goes on to serve */
		}
		log_info("dpswitch: serving in pid %d", (int)pid);
		sfd = signalfd(-1, &mask, SFD_CLOEXEC);
		for (;;) {
			if (read(sfd, &si, sizeof(si)) != sizeof(si))
				continue;
			if (si.ssi_signo != SIGCHLD) {
				kill(pid, SIGTERM);
				waitpid(pid, &status, 0);
				close(sfd);
				/* the stopped dpswitch's status is ours: a
				 * stop that failed is not hidden */
				return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
			}
			if (waitpid(pid, &status, WNOHANG) == pid)
				break;
		}
		close(sfd);
		if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
			return 0;
		if (WIFEXITED(status) && WEXITSTATUS(status) == 2)
			return 2; /* usage: no restart can fix it */
		log_warn("dpswitch: pid %d %s %d; restarting in %u ms", (int)pid,
			 WIFSIGNALED(status) ? "killed by signal" : "exited with status",
			 WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status), pause_ms);
		usleep(pause_ms * 1000);
		if (pause_ms < 5000)
			pause_ms *= 2;
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "hv", required_argument, NULL, 'H' },
		{ "socket", required_argument, NULL, 's' },
		{ "bridge", required_argument, NULL, 'b' },
		{ "supervise", no_argument, NULL, 'S' },
		{ "mac-age", required_argument, NULL, 'a' },
		{ "mbufs", required_argument, NULL, 'm' },
		{ "state", required_argument, NULL, 'f' },
		{ "kernel-port", required_argument, NULL, 'k' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static struct dps d;
	const char *bridges[DPS_MAX_BRIDGES], *sock = NULL, *state = NULL;
	const char *kifs[DPS_MAX_KPORTS];
	unsigned nkifs = 0, free_mbufs;
	char *eal_argv[64], rundir[256];
	int c, eal_argc = 0, sfd = -1, lfd = -1, rc = -1;
	bool sup = false;
	uint64_t age_s = 300;
	uint64_t drain_ms = DPS_RX_DRAIN_MS, stall_ms = DPS_RX_STALL_MS;
	uint64_t idle_s = DPS_CTL_IDLE_S;
	sigset_t mask;

	log_set_level(LOG_LVL_INFO);
	nb_back_init(&d.nb);
	d.nb.ops = &dps_nb_ops;
	d.nb.gso = true; /* a guest's GSO packets are cut into frames as they enter (gso.c) */
	d.nb.max_queues = 1;
	d.spin.us = NB_SPIN_US;
	d.mbufs = DPS_MBUFS;
	while ((c = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
		switch (c) {
		case 'H':
			if (strcmp(optarg, "xen") && strcmp(optarg, "sim")) {
				fprintf(stderr, "dpswitch: --hv: expected xen or sim, got '%s'\n", optarg);
				return 2;
			}
			d.hv_kind = optarg;
			break;
		case 's':
			sock = optarg;
			break;
		case 'b':
			if (d.nbridges == DPS_MAX_BRIDGES || !vif_ifname_is_valid(optarg)) {
				fprintf(stderr, "dpswitch: --bridge: '%s': %s\n", optarg,
					d.nbridges == DPS_MAX_BRIDGES ? "too many" : "not an interface name");
				return 2;
			}
			bridges[d.nbridges++] = optarg;
			break;
		case 'a':
			if (dec_arg("--mac-age", "seconds", optarg, 1, 86400, &age_s) < 0) {
				fprintf(stderr, "dpswitch: %s\n", err_msg());
				return 2;
			}
			break;
		case 'm': {
			uint64_t n;

			if (dec_arg("--mbufs", NULL, optarg, DPS_MBUFS_MIN, DPS_MBUFS_MAX, &n) < 0) {
				fprintf(stderr, "dpswitch: %s\n", err_msg());
				return 2;
			}
			d.mbufs = (unsigned)n;
			break;
		}
		case 'S':
			sup = true;
			break;
		case 'f':
			if (optarg[0] != '/') {
				fprintf(stderr, "dpswitch: --state: expected an absolute path, got '%s'\n",
					optarg);
				return 2;
			}
			state = optarg;
			break;
		case 'k':
			if (nkifs == DPS_MAX_KPORTS || !vif_ifname_is_valid(optarg)) {
				fprintf(stderr, "dpswitch: --kernel-port: '%s': %s\n", optarg,
					nkifs == DPS_MAX_KPORTS ? "too many" : "not an interface name");
				return 2;
			}
			kifs[nkifs++] = optarg;
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
	if (!sock || !d.nbridges) {
		fprintf(stderr, "dpswitch: --socket and at least one --bridge are needed\n");
		usage(stderr);
		return 2;
	}
	/* the reconnect hold of a frontend that broke the protocol, the
	 * polling window, how long frames wait for a guest's buffers
	 * (netback's drain timeout) and a guest without them may go before
	 * it stalls (its stall timeout), and a silent control client waits */
	if (nb_hold_cfg_from_env(&d.nb.hold, "DPSWITCH") < 0 ||
	    nb_spin_cfg_from_env(&d.spin, "DPSWITCH") < 0 ||
	    env_ms("DPSWITCH_RX_DRAIN_MS", &drain_ms) < 0 ||
	    env_ms("DPSWITCH_RX_STALL_MS", &stall_ms) < 0 ||
	    env_num("DPSWITCH_CTL_IDLE_TIMEOUT_S", "seconds", 1, 3600, &idle_s) < 0) {
		fprintf(stderr, "dpswitch: %s\n", err_msg());
		return 2;
	}
	d.rx_drain_us = drain_ms * 1000u;
	d.rx_stall_us = stall_ms * 1000u;
	d.bridges = bridges;
	if (sup && (rc = supervise()) >= 0)
		return rc;
	/* before EAL starts its threads: they inherit the mask, and one with
	 * SIGTERM unblocked would die of it instead of our clean stop */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	eal_argv[eal_argc++] = argv[0];
	for (int i = optind; i < argc && eal_argc < 63; i++)
		eal_argv[eal_argc++] = argv[i];
	eal_argv[eal_argc] = NULL;
	if (rte_eal_init(eal_argc, eal_argv) < 0) {
		log_err("dpswitch: EAL: %s", rte_strerror(rte_errno));
		return 1;
	}
	/* mapped: only the pages of slots (channels) in use get backed */
	d.ports = mmap(NULL, DPS_MAX_PORTS * sizeof(*d.ports), PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	d.evport = mmap(NULL, DPS_EVTCHN_MAX * sizeof(*d.evport), PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	d.arena.cap = DPS_ARENA;
	d.arena.buf = mmap(NULL, DPS_ARENA, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
			   0);
	d.gso_buf = mmap(NULL, DPS_GSO_BUF, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			 -1, 0);
	d.rx_lin = mmap(NULL, DPS_RX_LIN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			-1, 0);
	if (d.ports == MAP_FAILED || d.arena.buf == MAP_FAILED || d.gso_buf == MAP_FAILED ||
	    d.rx_lin == MAP_FAILED || d.evport == MAP_FAILED) {
		log_err("dpswitch: out of memory");
		goto stop;
	}
	d.free_head = DPS_MAX_PORTS; /* none given back: slots come from nslots */
	if (dps_mac_init(&d.macs, d.gen, age_s * 1000) < 0) {
		log_err("dpswitch: %s", err_msg());
		goto stop;
	}
	if (dps_queued_register() < 0) {
		log_err("dpswitch: %s", err_msg());
		goto stop;
	}
	if (dps_pool_create(&d) < 0) {
		log_err("dpswitch: %s", err_msg());
		goto stop;
	}
	if (state && dps_plugs_load(state) < 0) {
		log_err("dpswitch: plugs kept: %s", err_msg());
		goto stop;
	}
	if (dps_nic_setup(&d) < 0) {
		log_err("dpswitch: %s", err_msg());
		goto stop;
	}
	for (unsigned i = 0; i < nkifs; i++)
		if (dps_kport_setup(&d, kifs[i]) < 0) {
			log_err("dpswitch: %s", err_msg());
			goto stop;
		}
	/* what the NICs' receive rings took is theirs for good: half of the
	 * rest is kept (DPS_HELD_LOW) */
	free_mbufs = rte_mempool_avail_count(d.pool);
	d.pool_low = free_mbufs / 2;
	dps_held_share(&d);
	if (free_mbufs < d.mbufs)
		log_info("dpswitch: the NICs' receive rings hold %u of the pool's %u mbufs; "
			 "guests' queues are held to %u mbufs each at most (less with many ports) "
			 "while fewer than %u are free",
			 d.mbufs - free_mbufs, d.mbufs, DPS_HELD_LOW, d.pool_low);
	if (hv_open(d.hv_kind, &d.hv) < 0) {
		log_err("dpswitch: hypervisor: %s", err_msg());
		goto stop;
	}
	signal(SIGPIPE, SIG_IGN);
	sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	lfd = dps_ctl_open(sock, idle_s * 1000000u);
	if (sfd < 0 || lfd < 0) {
		log_err("dpswitch: %s", lfd < 0 ? err_msg() : strerror(errno));
		goto stop;
	}
	if (xsc_open(&d.nb.xs, d.nb.xs_timeout_ms) < 0) {
		log_err("dpswitch: xenstore: %s", err_msg());
		goto stop;
	}
	/* frames forwarded while a request waits, on this connection and
	 * every one netback opens again */
	d.nb.xs_wait = xs_wait;
	d.nb.xs_wait_arg = &d;
	xsc_wait_hook(d.nb.xs, xs_wait, &d);
	log_info("dpswitch: serving %s for %u network%s, %u NIC port%s, control socket %s",
		 XSVIF_ROOT, d.nbridges, d.nbridges > 1 ? "s" : "", d.nactive,
		 d.nactive == 1 ? "" : "s", sock);
	printf("ready\n");
	fflush(stdout);
	/* Under systemd (Type=notify; NotifyAccess=all, as with --supervise
	 * this is the supervisor's child): xendomains.service, ordered after
	 * the unit, starts guests with the socket answering. Without
	 * NOTIFY_SOCKET it does nothing. */
	sd_notify(0, "READY=1");
	rc = loop(&d, sfd, lfd);
	sd_notify(0, "STOPPING=1");
	if (rc < 0)
		log_err("dpswitch: %s", err_msg());
	else
		log_info("dpswitch: stopping");
stop:
	/* no more forwarding while the shutdown's requests wait: the ports
	 * go with them */
	d.nb.xs_wait = NULL;
	if (d.nb.xs)
		xsc_wait_hook(d.nb.xs, NULL, NULL);
	/* also after a failed start: ports started (an AF_XDP port's XDP
	 * program on its interface), the EAL's directory */
	nb_back_shutdown(&d.nb);
	xsc_close(d.nb.xs);
	dps_nic_stop(&d);
	dps_kport_stop(&d);
	hv_close(d.hv);
	if (lfd >= 0)
		unlink(sock); /* ours: not one another dpswitch serves */
	/* EAL leaves its (empty, with --no-shconf) runtime directory behind */
	snprintf(rundir, sizeof(rundir), "%s", rte_eal_get_runtime_dir());
	rte_eal_cleanup();
	rmdir(rundir);
	return rc < 0 ? 1 : 0;
}
