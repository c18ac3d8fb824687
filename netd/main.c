/* netd: applies the configured networks, serves the control socket, and
 * restores the host on SIGTERM (unless restore_on_exit = no). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/syscall.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "lib/atomic_file.h"
#include "lib/err.h"
#include "lib/fault.h"
#include "lib/log.h"
#include "lib/nl.h"
#include "netd/ctl.h"
#include "netd/daemon.h"
#include "netd/metrics_file.h"
#include "netd/sysctl_hold.h"
#include "netd/xswatch.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: netd [-c FILE] [-f] [-n [-v]] [--socket PATH] [--state-dir DIR]\n"
		   "            [--list-steps] [--debug]\n"
		   "  -c FILE         config (default %s)\n"
		   "  -f              stay in the foreground (netd always does; for compatibility)\n"
		   "  -n              check the config and exit; -v also prints it\n"
		   "  --list-steps    print each network's up steps and the other fault points (NETD_FAULT), exit\n",
		NETD_DEFAULT_CONF);
}

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *data)
{
	struct netd *d = data;

	if (si->ssi_signo == SIGHUP) {
		if (netd_reload(d))
			log_err("reload: %s", err_msg());
		else
			log_info("configuration reloaded");
		return 0;
	}
	return sd_event_exit(d->ev, 0);
}

/* Each network's up steps (its mode's step table), then every other fault
 * point of the program (lib/fault.h: registered where the code names it;
 * the label has spaces, so no network is called that). */
static int list_steps(const struct netd_conf *conf)
{
	const char *names[64];
	size_t n;

	for (size_t i = 0; i < conf->n_nets; i++) {
		const struct netd_mode_ops *ops = netd_net_ops_for(&conf->nets[i]);
		const char *const *steps = ops && ops->steps ? ops->steps(&conf->nets[i]) : NULL;

		printf("%s:", conf->nets[i].name);
		for (size_t j = 0; steps && steps[j]; j++)
			printf(" %s", steps[j]);
		printf("\n");
	}
	n = fault_names(names, sizeof(names) / sizeof(names[0]));
	printf("other fault points:");
	for (size_t i = 0; i < n && i < sizeof(names) / sizeof(names[0]); i++)
		printf(" %s", names[i]);
	printf("\n");
	return 0;
}

static bool has_state(const struct netd_conf *conf)
{
	char path[512];

	for (size_t i = 0; i < conf->n_nets; i++) {
		snprintf(path, sizeof(path), "%s/%s.json", conf->state_dir, conf->nets[i].name);
		if (access(path, F_OK) == 0)
			return true;
	}
	return false;
}

/* netd's own keys against the host, and its networks': one network whose
 * device is missing (a NIC whose driver loads late) fails alone at its up,
 * and is tried again; only when every network would fail so does the start
 * stop here, with the first one's error, before anything changes. */
static int check_host_at_start(const struct netd_conf *conf)
{
	char first[ERR_MSG_MAX];
	int rc = netd_conf_check_daemon(conf), frc = 0;

	for (size_t i = 0; rc == 0 && i < conf->n_nets; i++) {
		if (netd_conf_check_net_host(conf, &conf->nets[i]) == 0)
			return 0;
		if (!frc) {
			frc = err_code();
			snprintf(first, sizeof(first), "%s", err_msg());
		}
	}
	return rc ? rc : frc ? err_set(frc, "%s", first) : 0;
}

/* Start-up failed: leave nothing half-configured by this start, and report
 * the first error, not what the restore may have said. */
static int start_failed(struct netd *d, int rc)
{
	char msg[ERR_MSG_MAX];

	snprintf(msg, sizeof(msg), "%s", err_msg());
	ctl_server_stop(d->ctl);
	d->ctl = NULL;
	netd_retry_stop(d);
	if (netd_down(d, NULL))
		log_err("%s", err_msg());
	return err_set(rc, "%s", msg);
}

/* CAP_CHOWN served once: the control socket's group, set when it is made.
 * Gone from netd's own sets after that, so nothing netd does later can give
 * files away (its dnsmasq still gets what the bounding set allows). */
static void drop_chown(void)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct c[_LINUX_CAPABILITY_U32S_3];

	if (syscall(SYS_capget, &h, c) < 0 || !(c[0].permitted & (1u << CAP_CHOWN)))
		return;
	c[0].effective &= ~(1u << CAP_CHOWN);
	c[0].permitted &= ~(1u << CAP_CHOWN);
	c[0].inheritable &= ~(1u << CAP_CHOWN);
	if (syscall(SYS_capset, &h, c) < 0)
		log_warn("cannot drop CAP_CHOWN: %s", strerror(errno));
}

/* One netd per state directory. A second one (started by hand next to the
 * service, say) would adopt the first one's networks, sweep what it plugs
 * meanwhile and, failing to get the socket, take everything down: it must
 * stop before it touches the host. The lock lives as long as the process. */
static int lock_state_dir(const char *dir)
{
	char path[512], pid[32] = "";
	int fd;

	if (snprintf(path, sizeof(path), "%s/netd.lock", dir) >= (int)sizeof(path))
		return err_set(-ENAMETOOLONG, "state_dir too long: %s", dir);
	if (mkdir_p(dir, 0700) < 0 ||
	    (fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0)
		return err_set(-errno, "%s: %s", path, strerror(errno));
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int rc = -errno;
		ssize_t n = read(fd, pid, sizeof(pid) - 1);

		close(fd);
		if (rc != -EWOULDBLOCK)
			return err_set(rc, "%s: %s", path, strerror(-rc));
		pid[n > 0 ? strcspn(pid, "\n") : 0] = '\0';
		return err_set(-EBUSY, "another netd (pid %s) uses state_dir %s",
			       pid[0] ? pid : "?", dir);
	}
	snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, strlen(pid), 0) < 0)
		log_warn("%s: %s", path, strerror(errno));
	return 0; /* fd stays open: the lock is held until exit */
}

static int run(struct netd *d, const struct netd_conf *conf)
{
	struct netd_xswatch *xsw = NULL;
	struct netd_metrics_file *mf = NULL;
	uint64_t idle_usec;
	int rc;

	/* the environment checked before the host is touched: failing later
	 * would take down the networks a previous netd left up */
	rc = ctl_idle_timeout(&idle_usec);
	if (rc)
		return rc;
	rc = sd_event_default(&d->ev);
	if (rc < 0)
		return err_set(rc, "event loop: %s", strerror(-rc));
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sd_event_add_signal(d->ev, NULL, SIGTERM, on_signal, d);
	sd_event_add_signal(d->ev, NULL, SIGINT, on_signal, d);
	sd_event_add_signal(d->ev, NULL, SIGHUP, on_signal, d);

	rc = lock_state_dir(conf->state_dir);
	if (rc)
		return rc;
	netd_restore_orphans(d);
	/* Each network on its own: one that fails is left failed (its own
	 * changes undone) and tried again, the others serve. Only when none
	 * is up does the start fail, as before: nothing would serve, and the
	 * service's failure (systemd restarting it) says so best. */
	rc = netd_up(d, NULL);
	if (rc && !netd_n_applied(d))
		return start_failed(d, rc);
	for (size_t i = 0; i < d->n_nets; i++)
		if (d->nets[i].up_failed)
			netd_log_failed(&d->nets[i]);
	netd_sysctl_sweep(d);
	netd_reconcile(d);
	rc = ctl_server_start(d, conf->socket, conf->socket_group, idle_usec, &d->ctl);
	if (rc)
		return start_failed(d, rc);
	drop_chown();
	if (conf->xenstore_watch) {
		rc = netd_xswatch_start(d, &xsw);
		if (rc)
			return start_failed(d, rc);
	}
	rc = netd_metrics_file_start(d, &mf);
	if (rc)
		return start_failed(d, rc);
	netd_notify_ready(d);
	if (netd_n_applied(d) < d->n_nets)
		log_warn("ready, degraded: %zu of %zu network(s) up (`netdctl status` says why "
			 "the others are not), control socket %s", netd_n_applied(d), d->n_nets,
			 conf->socket);
	else
		log_info("ready, %zu network(s), control socket %s", d->n_nets, conf->socket);
	rc = sd_event_loop(d->ev);
	sd_notify(0, "STOPPING=1");
	netd_retry_stop(d);
	netd_xswatch_stop(xsw);
	netd_metrics_file_stop(mf);
	ctl_server_stop(d->ctl);
	d->ctl = NULL;
	if (d->conf.restore_on_exit) {
		unsigned kept;

		rc = netd_stop(d, &kept);
		if (rc)
			return rc;
		if (kept)
			log_info("host restored, but for %u network%s kept for the next start", kept,
				 kept == 1 ? "" : "s");
		else
			log_info("host restored");
	} else {
		log_info("leaving the networks up (restore_on_exit = no)");
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 'S' },
		{ "state-dir", required_argument, NULL, 'D' },
		{ "list-steps", no_argument, NULL, 'L' },
		{ "debug", no_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *conf_path = NETD_DEFAULT_CONF, *sock = NULL, *state = NULL;
	bool check = false, verbose = false, steps = false;
	struct netd_conf conf;
	struct netd d;
	int c, rc;

	while ((c = getopt_long(argc, argv, "c:fnvh", opts, NULL)) != -1) {
		switch (c) {
		case 'c': conf_path = optarg; break;
		case 'f': break;
		case 'n': check = true; break;
		case 'v': verbose = true; break;
		case 'S': sock = optarg; break;
		case 'D': state = optarg; break;
		case 'L': steps = true; break;
		case 'd': log_set_level(LOG_LVL_DEBUG); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	memset(&conf, 0, sizeof(conf));
	rc = netd_conf_load(conf_path, &conf);
	if (rc) {
		fprintf(stderr, "netd: %s\n", err_msg());
		return 1;
	}
	if (sock && snprintf(conf.socket, sizeof(conf.socket), "%s", sock) >= (int)sizeof(conf.socket))
		return fprintf(stderr, "netd: --socket path too long\n"), netd_conf_free(&conf), 2;
	if (state && snprintf(conf.state_dir, sizeof(conf.state_dir), "%s", state) >= (int)sizeof(conf.state_dir))
		return fprintf(stderr, "netd: --state-dir path too long\n"), netd_conf_free(&conf), 2;
	/* After a crash mid-setup the physdev may be renamed; the modes check it
	 * themselves once they have looked at the state file. */
	if (!steps && check)
		rc = netd_conf_check_host(&conf);
	else if (!steps && !has_state(&conf))
		rc = check_host_at_start(&conf);
	if (rc) {
		fprintf(stderr, "netd: %s\n", err_msg());
		netd_conf_free(&conf);
		return 1;
	}
	if (steps || check) {
		if (steps)
			list_steps(&conf);
		if (check && verbose) {
			static char buf[1 << 16];

			if (netd_conf_write(&conf, buf, sizeof(buf)) == 0)
				fputs(buf, stdout);
		}
		netd_conf_free(&conf);
		return 0;
	}

	memset(&d, 0, sizeof(d));
	snprintf(d.conf_path, sizeof(d.conf_path), "%s", conf_path);
	rc = netd_init(&d, &conf);
	if (rc == 0)
		rc = run(&d, &conf);
	if (rc)
		fprintf(stderr, "netd: %s\n", err_msg());
	netd_fini(&d);
	netd_conf_free(&conf);
	sd_event_unref(d.ev);
	nl_close();
	return rc ? 1 : 0;
}
