/* dnsmasq: start, adopt, supervise, reload and stop (see dnsmasq.h). */
#include "nat/dnsmasq.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/atomic_file.h"
#include "lib/dec.h"
#include "lib/err.h"
#include "lib/log.h"

#define DNSMASQ_BIN "/usr/sbin/dnsmasq"
#define READY_TIMEOUT_MS 5000
#define STOP_TIMEOUT_MS 3000
#define REREAD_TIMEOUT_MS 5000
/* ...and, once one reload has timed out, while that dnsmasq has not read
 * again: a wedged dnsmasq costs netd's loop one full bound, not one per
 * plug (a host starting 50 guests would wait 250 s) */
#define REREAD_WEDGED_MS 100
#define BACKOFF_MIN_MS 200
#define BACKOFF_MAX_MS 30000
#define STABLE_USEC (30ull * 1000000) /* ran this long: the next crash starts over */

static int sys_pidfd_open(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

static int sys_pidfd_signal(int pidfd, int sig)
{
	return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
}

static uint64_t now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static int path_in(char *buf, const char *dir, const char *name)
{
	if (snprintf(buf, NAT_PATH_MAX, "%s/%s", dir, name) >= NAT_PATH_MAX)
		return err_set(-ENAMETOOLONG, "%s/%s: path too long", dir, name);
	return 0;
}

int nat_dnsmasq_init(struct nat_dnsmasq *d, sd_event *ev, const char *bridge, const char *dir,
		     const char *pubdir, const char *user, const char *unit_tmpl,
		     const char *instance, const struct netd_net_conf *c)
{
	char want[NAT_PATH_MAX];
	int rc;

	memset(d, 0, sizeof(*d));
	d->pidfd = -1;
	d->ev = ev;
	snprintf(d->bridge, sizeof(d->bridge), "%s", bridge);
	snprintf(d->user, sizeof(d->user), "%s", user);
	d->gw = c->address;
	d->has_range = c->has_dhcp_range;
	d->first = c->dhcp_first;
	d->last = c->dhcp_last;
	d->has6 = c->has_address6;
	d->gw6 = c->address6;
	d->dhcp6 = c->dhcp6;
	d->has_range6 = c->has_dhcp6_range && c->dhcp6 == NAT_DHCP6_STATEFUL;
	d->first6 = c->dhcp6_first;
	d->last6 = c->dhcp6_last;
	d->backoff_ms = BACKOFF_MIN_MS;
	if (unit_tmpl && unit_tmpl[0]) {
		rc = nat_unit_instance(d->unit, sizeof(d->unit), unit_tmpl, instance);
		if (rc)
			return err_prefix(rc, "%s: NETD_DNSMASQ_UNIT", bridge);
		/* The template reads NAT_DNSMASQ_UNIT_DIR/%I: nowhere else. */
		snprintf(want, sizeof(want), "%s/%s", NAT_DNSMASQ_UNIT_DIR, instance);
		if (strcmp(pubdir, want))
			return err_set(-EINVAL,
				       "%s: %s runs dnsmasq from %s/<network>: dnsmasq_dir must be %s",
				       bridge, unit_tmpl, NAT_DNSMASQ_UNIT_DIR, NAT_DNSMASQ_UNIT_DIR);
		if (!rc)
			rc = path_in(d->owndir, pubdir, "dnsmasq");
		if (!rc)
			rc = path_in(d->argsfile, pubdir, "dnsmasq.args");
		if (!rc)
			rc = path_in(d->pidfile, d->owndir, "dnsmasq.pid");
		if (!rc)
			rc = path_in(d->leasefile, d->owndir, "dnsmasq.leases");
		/* no log file: it logs to the unit's journal */
	} else {
		rc = path_in(d->pidfile, dir, "dnsmasq.pid");
		if (!rc)
			rc = path_in(d->leasefile, dir, "dnsmasq.leases");
		if (!rc)
			rc = path_in(d->logfile, dir, "dnsmasq.log");
	}
	if (!rc)
		rc = path_in(d->hostsfile, pubdir, "dhcp-hosts");
	if (!rc)
		rc = path_in(d->addnhosts, pubdir, "hosts");
	return rc;
}

/* ---- identity ---- */

static pid_t pidfile_read(const struct nat_dnsmasq *d)
{
	char *text;
	uint64_t v;
	int rc;

	rc = file_read_all(d->pidfile, &text, NULL, 64);
	if (rc)
		return 0;
	/* dnsmasq writes "PID\n" */
	rc = dec_parse(text, strcspn(text, "\n"), (1 << 22) - 1, &v);
	free(text);
	return rc == 0 && v > 1 ? (pid_t)v : 0;
}

/* Whether pid lives in our network namespace, told by the inode of its
 * namespace's proc entry net/dev (one per namespace). Not /proc/PID/ns/net:
 * that needs ptrace access, which a dnsmasq that changed its group (it
 * takes group dip) denies to a netd without CAP_SYS_PTRACE, as under
 * netd.service, and the adoption after a crash would fail. */
static bool same_netns(pid_t pid)
{
	char path[64];
	struct stat a, b;

	snprintf(path, sizeof(path), "/proc/%d/net/dev", (int)pid);
	return stat(path, &a) == 0 && stat("/proc/self/net/dev", &b) == 0 &&
	       a.st_ino == b.st_ino && a.st_dev == b.st_dev;
}

bool nat_dnsmasq_is_ours(const struct nat_dnsmasq *d, pid_t pid)
{
	char path[64], want_if[IFNAMSIZ + 16], want_pid[NAT_PATH_MAX + 16], *text, *arg;
	bool is_dnsmasq = false, has_if = false, has_pid = false;
	size_t len;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	if (file_read_all(path, &text, &len, 1 << 16))
		return false;
	snprintf(want_if, sizeof(want_if), "--interface=%s", d->bridge);
	snprintf(want_pid, sizeof(want_pid), "--pid-file=%s", d->pidfile);
	for (arg = text; arg < text + len; arg += strlen(arg) + 1) {
		if (arg == text) {
			const char *base = strrchr(arg, '/');

			is_dnsmasq = !strcmp(base ? base + 1 : arg, "dnsmasq");
		}
		has_if |= !strcmp(arg, want_if);
		has_pid |= !strcmp(arg, want_pid);
	}
	free(text);
	return is_dnsmasq && has_if && has_pid && same_netns(pid);
}

/* ---- waiting ---- */

/* Wait for pidfd to report exit; reap when it is our child. */
static bool wait_exit(struct nat_dnsmasq *d, int timeout_ms)
{
	struct pollfd p = { .fd = d->pidfd, .events = POLLIN };
	int n;

	do
		n = poll(&p, 1, timeout_ms);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return false;
	if (d->child)
		waitpid(d->pid, NULL, 0);
	return true;
}

static void forget(struct nat_dnsmasq *d)
{
	d->io = sd_event_source_disable_unref(d->io);
	if (d->pidfd >= 0)
		close(d->pidfd);
	d->pidfd = -1;
	d->pid = 0;
	d->child = false;
}

/* dnsmasq explains a failed start on its last log line. */
static void last_log_line(const struct nat_dnsmasq *d, char *buf, size_t len)
{
	char *text, *end, *line;
	size_t n;

	buf[0] = '\0';
	if (file_read_all(d->logfile, &text, &n, 1 << 20))
		return;
	end = text + n;
	while (end > text && end[-1] == '\n')
		*--end = '\0';
	line = strrchr(text, '\n');
	line = line ? line + 1 : text;
	snprintf(buf, len, "%s", line);
	free(text);
}

/* ---- supervision ---- */

static int watch(struct nat_dnsmasq *d);
static int spawn(struct nat_dnsmasq *d);

/* A unit's dnsmasq stopped by systemd taking the system down: no units are
 * started then (a start is refused as destructive), and netd's own stop,
 * which may come much later (units ordered after netd, xendomains.service,
 * stop first), finds it stopped already. A child is netd's to restart. */
static bool going_down(const struct nat_dnsmasq *d)
{
	return d->unit[0] && nat_unit_system_stopping();
}

static int on_restart_timer(sd_event_source *s, uint64_t usec, void *data)
{
	struct nat_dnsmasq *d = data;
	int rc;

	d->timer = sd_event_source_disable_unref(d->timer);
	if (going_down(d)) {
		log_info("%s: dnsmasq not restarted: the system is going down", d->bridge);
		return 0;
	}
	rc = spawn(d);
	if (rc == 0)
		rc = watch(d);
	if (rc == 0) {
		d->restarts++;
		log_info("%s: dnsmasq restarted (pid %d)", d->bridge, (int)d->pid);
		return 0;
	}
	log_err("%s: dnsmasq restart failed: %s", d->bridge, err_msg());
	forget(d);
	d->backoff_ms = d->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : d->backoff_ms * 2;
	sd_event_add_time_relative(d->ev, &d->timer, CLOCK_MONOTONIC,
				   (uint64_t)d->backoff_ms * 1000, 0, on_restart_timer, d);
	return 0;
}

static int on_exit_event(sd_event_source *s, int fd, uint32_t revents, void *data)
{
	struct nat_dnsmasq *d = data;
	char status[64] = "exited";
	pid_t pid = d->pid;
	int st;

	if (d->child && waitpid(pid, &st, WNOHANG) == pid) {
		if (WIFEXITED(st))
			snprintf(status, sizeof(status), "exited with status %d", WEXITSTATUS(st));
		else if (WIFSIGNALED(st))
			snprintf(status, sizeof(status), "was killed by signal %d", WTERMSIG(st));
	}
	forget(d);
	if (going_down(d)) {
		log_info("%s: dnsmasq (pid %d) %s; not restarted: the system is going down",
			 d->bridge, (int)pid, status);
		return 0;
	}
	if (now_usec() - d->started_usec > STABLE_USEC)
		d->backoff_ms = BACKOFF_MIN_MS;
	log_warn("%s: dnsmasq (pid %d) %s; restarting in %u ms", d->bridge, (int)pid, status,
		 d->backoff_ms);
	sd_event_add_time_relative(d->ev, &d->timer, CLOCK_MONOTONIC,
				   (uint64_t)d->backoff_ms * 1000, 0, on_restart_timer, d);
	d->backoff_ms = d->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : d->backoff_ms * 2;
	return 0;
}

static int watch(struct nat_dnsmasq *d)
{
	int rc;

	if (!d->ev)
		return 0;
	rc = sd_event_add_io(d->ev, &d->io, d->pidfd, EPOLLIN, on_exit_event, d);
	return rc < 0 ? err_set(rc, "cannot watch dnsmasq: %s", strerror(-rc)) : 0;
}

/* ---- start ---- */

/* The command line, built in one place so that an adopted instance can be
 * compared with what this netd would start. */
struct dm_argv {
	char a_if[IFNAMSIZ + 16], a_range[128], a_router[64], a_lease[NAT_PATH_MAX + 32],
		a_pid[NAT_PATH_MAX + 32], a_hosts[NAT_PATH_MAX + 32], a_addn[NAT_PATH_MAX + 32],
		a_log[NAT_PATH_MAX + 32], a_range6[2 * INET6_ADDRSTRLEN + 32], a_user[48];
	char *argv[28];
	int argc;
};

static void build_argv(const struct nat_dnsmasq *d, struct dm_argv *a)
{
	char first[INET_ADDRSTRLEN], last[INET_ADDRSTRLEN], gw[INET_ADDRSTRLEN],
		net[INET_ADDRSTRLEN], mask[INET_ADDRSTRLEN];
	uint32_t m = d->gw.prefixlen ? htonl(~0u << (32 - d->gw.prefixlen)) : 0;
	struct in_addr ma = { .s_addr = m }, na = { .s_addr = d->gw.addr.v4.s_addr & m };
	int n = 0;

	inet_ntop(AF_INET, &d->gw.addr.v4, gw, sizeof(gw));
	inet_ntop(AF_INET, &ma, mask, sizeof(mask));
	inet_ntop(AF_INET, &na, net, sizeof(net));
	inet_ntop(AF_INET, &d->first, first, sizeof(first));
	inet_ntop(AF_INET, &d->last, last, sizeof(last));
	snprintf(a->a_if, sizeof(a->a_if), "--interface=%s", d->bridge);
	if (d->has_range)
		snprintf(a->a_range, sizeof(a->a_range), "--dhcp-range=%s,%s,%s,1h", first, last,
			 mask);
	else /* static leases only */
		snprintf(a->a_range, sizeof(a->a_range), "--dhcp-range=%s,static,%s,1h", net, mask);
	snprintf(a->a_router, sizeof(a->a_router), "--dhcp-option=option:router,%s", gw);
	snprintf(a->a_lease, sizeof(a->a_lease), "--dhcp-leasefile=%s", d->leasefile);
	snprintf(a->a_pid, sizeof(a->a_pid), "--pid-file=%s", d->pidfile);
	snprintf(a->a_hosts, sizeof(a->a_hosts), "--dhcp-hostsfile=%s", d->hostsfile);
	snprintf(a->a_addn, sizeof(a->a_addn), "--addn-hosts=%s", d->addnhosts);
	/* a unit's dnsmasq logs to its journal (stderr) */
	snprintf(a->a_log, sizeof(a->a_log), "--log-facility=%s", d->unit[0] ? "-" : d->logfile);
	a->argv[n++] = "dnsmasq";
	a->argv[n++] = "--conf-file=/dev/null";
	a->argv[n++] = "--keep-in-foreground";
	/* a unit's dnsmasq starts as its user already (User=) */
	snprintf(a->a_user, sizeof(a->a_user), "--user=%s", d->user);
	if (!d->unit[0])
		a->argv[n++] = a->a_user;
	a->argv[n++] = "--bind-interfaces";
	a->argv[n++] = a->a_if;
	a->argv[n++] = "--except-interface=lo";
	a->argv[n++] = "--no-hosts";
	a->argv[n++] = a->a_range;
	a->argv[n++] = a->a_router;
	a->argv[n++] = "--dhcp-authoritative";
	a->argv[n++] = a->a_lease;
	a->argv[n++] = a->a_pid;
	a->argv[n++] = a->a_hosts;
	a->argv[n++] = a->a_addn;
	a->argv[n++] = a->a_log;
	if (d->has6) {
		struct in6_addr p6 = d->gw6.addr.v6;
		char pfx[INET6_ADDRSTRLEN];

		memset(p6.s6_addr + 8, 0, 8); /* the /64 */
		inet_ntop(AF_INET6, &p6, pfx, sizeof(pfx));
		/* Stateless: RA with the autonomous flag (SLAAC) and the
		 * other-config flag (DNS by DHCPv6). Stateful: RA with the
		 * managed flag and a prefix guests do not autoconfigure from;
		 * addresses as static leases, one per known MAC, the one its
		 * filter allows, and with dhcp6_range from the range to the
		 * others (a guest without ip= may use any free address of the
		 * /64: see nat.c's vif_as_bound). */
		if (d->dhcp6 == NAT_DHCP6_STATEFUL && d->has_range6) {
			char f6[INET6_ADDRSTRLEN], l6[INET6_ADDRSTRLEN];

			inet_ntop(AF_INET6, &d->first6, f6, sizeof(f6));
			inet_ntop(AF_INET6, &d->last6, l6, sizeof(l6));
			snprintf(a->a_range6, sizeof(a->a_range6), "--dhcp-range=%s,%s,64,1h", f6,
				 l6);
		} else {
			snprintf(a->a_range6, sizeof(a->a_range6), "--dhcp-range=%s,%s,64,1h", pfx,
				 d->dhcp6 == NAT_DHCP6_STATEFUL ? "static" : "ra-stateless");
		}
		a->argv[n++] = "--enable-ra";
		a->argv[n++] = a->a_range6;
	}
	a->argv[n] = NULL;
	a->argc = n;
}

bool nat_dnsmasq_is_current(const struct nat_dnsmasq *d)
{
	struct dm_argv a;
	char path[64], *text, *arg;
	size_t len;
	int i = 0;
	bool same = true;

	if (!d->pid)
		return false;
	build_argv(d, &a);
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)d->pid);
	if (file_read_all(path, &text, &len, 1 << 16))
		return false;
	for (arg = text; arg < text + len && same; arg += strlen(arg) + 1, i++)
		same = i < a.argc && (i == 0 || !strcmp(arg, a.argv[i]));
	free(text);
	return same && i == a.argc;
}

/* ---- as a unit ---- */

/* dnsmasq's own directory: owned by root (netd reads and removes what is
 * in it), group the unit's, 0770 (dnsmasq writes there; other users see
 * nothing of the leases). Made with that fsgid, as netd's control socket
 * is (CAP_SETGID), since netd has no CAP_CHOWN. */
static int own_dir(struct nat_dnsmasq *d)
{
	struct stat st;
	gid_t gid;
	int rc, old;

	rc = nat_unit_gid(d->unit, &gid);
	if (rc)
		return rc;
	old = setfsgid(gid);
	rc = mkdir(d->owndir, 0770) && errno != EEXIST ? -errno : 0;
	setfsgid(old);
	if (rc)
		return err_set(rc, "%s: %s", d->owndir, strerror(-rc));
	if (lstat(d->owndir, &st) < 0)
		return err_set(-errno, "%s: %s", d->owndir, strerror(errno));
	if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid())
		return err_set(-EEXIST, "%s: not a directory of netd's", d->owndir);
	if (st.st_gid != gid && chown(d->owndir, (uid_t)-1, gid) < 0)
		return err_set(-errno, "%s: cannot give it group %u (netd needs CAP_SETGID): %s",
			       d->owndir, (unsigned)gid, strerror(errno));
	if (chmod(d->owndir, 0770) < 0)
		return err_set(-errno, "%s: %s", d->owndir, strerror(errno));
	return 0;
}

/* The unit's ExecStart= splits $DNSMASQ_ARGS at blanks, and systemd reads
 * quotes, backslashes and '$' in an environment file: none may occur. */
static int write_args(const struct nat_dnsmasq *d, const struct dm_argv *a)
{
	char buf[4096];
	size_t o;

	o = (size_t)snprintf(buf, sizeof(buf), "DNSMASQ_ARGS=");
	for (int i = 1; i < a->argc; i++) {
		if (strpbrk(a->argv[i], " \t\n\\\"'$`"))
			return err_set(-EINVAL, "dnsmasq argument '%s' cannot go in %s", a->argv[i],
				       d->argsfile);
		if (o + strlen(a->argv[i]) + 2 >= sizeof(buf))
			return err_set(-E2BIG, "%s: dnsmasq's arguments are too long", d->argsfile);
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s%s", i > 1 ? " " : "",
				      a->argv[i]);
	}
	buf[o++] = '\n';
	return atomic_file_write(d->argsfile, buf, o, 0644);
}

static int spawn_unit(struct nat_dnsmasq *d)
{
	struct dm_argv a;
	pid_t pid = 0;
	int rc;

	build_argv(d, &a);
	rc = write_args(d, &a);
	if (!rc)
		rc = own_dir(d);
	if (rc)
		return rc;
	unlink(d->pidfile); /* readiness is "the pid file names the main pid" */
	rc = nat_unit_start(d->unit, READY_TIMEOUT_MS, &pid);
	if (rc)
		return rc;
	if (!pid)
		return err_set(-EIO, "dnsmasq exited at startup (journalctl -u %s)", d->unit);
	d->pidfd = sys_pidfd_open(pid);
	if (d->pidfd < 0) {
		rc = -errno;
		nat_unit_stop(d->unit, 2 * STOP_TIMEOUT_MS);
		return err_set(rc, "pidfd_open: %s", strerror(-rc));
	}
	d->pid = pid;
	d->child = false;
	d->started_usec = now_usec();
	for (int waited = 0; waited < READY_TIMEOUT_MS; waited += 5) {
		struct pollfd p = { .fd = d->pidfd, .events = POLLIN };

		if (pidfile_read(d) == pid)
			return 0;
		if (poll(&p, 1, 5) > 0) {
			forget(d);
			return err_set(-EIO, "dnsmasq exited at startup (journalctl -u %s)",
				       d->unit);
		}
	}
	forget(d);
	nat_unit_stop(d->unit, 2 * STOP_TIMEOUT_MS);
	return err_set(-ETIMEDOUT, "dnsmasq did not become ready within %d ms", READY_TIMEOUT_MS);
}

/* ---- forked ---- */

static int spawn_child(struct nat_dnsmasq *d)
{
	struct dm_argv a;
	char why[256];
	int logfd;
	pid_t pid;

	if (access(DNSMASQ_BIN, X_OK))
		return err_set(-ENOENT, "%s not found (install dnsmasq-base)", DNSMASQ_BIN);
	build_argv(d, &a);

	unlink(d->pidfile); /* readiness is "the pid file names the child" */
	logfd = open(d->logfile, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (logfd < 0)
		return err_set(-errno, "%s: %s", d->logfile, strerror(errno));
	pid = fork();
	if (pid < 0) {
		close(logfd);
		return err_set(-errno, "fork: %s", strerror(errno));
	}
	if (pid == 0) {
		sigset_t none;
		int null = open("/dev/null", O_RDWR);

		/* netd blocks the signals sd-event handles; dnsmasq needs them. */
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		setsid(); /* outlives netd: a restarted netd adopts it */
		if (null >= 0)
			dup2(null, 0);
		dup2(logfd, 1);
		dup2(logfd, 2);
		close_range(3, ~0u, 0);
		execv(DNSMASQ_BIN, a.argv);
		_exit(127);
	}
	close(logfd);
	d->pid = pid;
	d->child = true;
	d->started_usec = now_usec();
	d->pidfd = sys_pidfd_open(pid);
	if (d->pidfd < 0) {
		int rc = -errno;

		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		d->pid = 0;
		return err_set(rc, "pidfd_open: %s", strerror(-rc));
	}
	for (int waited = 0; waited < READY_TIMEOUT_MS; waited += 5) {
		struct pollfd p = { .fd = d->pidfd, .events = POLLIN };

		if (pidfile_read(d) == pid)
			return 0;
		if (poll(&p, 1, 5) > 0) {
			int st = 0;

			waitpid(pid, &st, 0);
			forget(d);
			last_log_line(d, why, sizeof(why));
			return err_set(-EIO, "dnsmasq exited at startup (status %d): %s",
				       WIFEXITED(st) ? WEXITSTATUS(st) : -1,
				       why[0] ? why : "no message");
		}
	}
	sys_pidfd_signal(d->pidfd, SIGKILL);
	wait_exit(d, STOP_TIMEOUT_MS);
	forget(d);
	return err_set(-ETIMEDOUT, "dnsmasq did not become ready within %d ms", READY_TIMEOUT_MS);
}

static int spawn(struct nat_dnsmasq *d)
{
	return d->unit[0] ? spawn_unit(d) : spawn_child(d);
}

int nat_dnsmasq_start(struct nat_dnsmasq *d)
{
	int rc = spawn(d);

	if (rc == 0)
		rc = watch(d);
	if (rc && d->pid)
		nat_dnsmasq_stop(d);
	return rc;
}

int nat_dnsmasq_adopt(struct nat_dnsmasq *d)
{
	pid_t pid = 0;
	int fd, rc;

	/* A unit's: systemd knows its pid. */
	if (d->unit[0]) {
		rc = nat_unit_main_pid(d->unit, &pid);
		if (rc)
			return rc;
	} else {
		pid = pidfile_read(d);
	}
	if (!pid)
		return 0;
	fd = sys_pidfd_open(pid);
	if (fd < 0)
		return 0; /* gone */
	/* Checked after pidfd_open: the fd pins the process we checked. */
	if (!nat_dnsmasq_is_ours(d, pid)) {
		close(fd);
		return 0;
	}
	d->pid = pid;
	d->pidfd = fd;
	d->child = false;
	d->started_usec = now_usec();
	rc = watch(d);
	if (rc) {
		forget(d);
		return rc;
	}
	return 1;
}

int nat_dnsmasq_stop(struct nat_dnsmasq *d)
{
	pid_t pid;

	d->timer = sd_event_source_disable_unref(d->timer);
	d->io = sd_event_source_disable_unref(d->io);
	if (d->unit[0]) {
		/* systemd stops only the unit's own processes */
		int rc = nat_unit_stop(d->unit, 3 * STOP_TIMEOUT_MS);

		if (rc == 0 && d->pid && !wait_exit(d, STOP_TIMEOUT_MS))
			rc = err_set(-ETIMEDOUT, "dnsmasq (pid %d) does not exit", (int)d->pid);
		forget(d);
		if (rc)
			return rc;
		unlink(d->pidfile);
		d->backoff_ms = BACKOFF_MIN_MS;
		return 0;
	}
	if (!d->pid) {
		/* Not supervised by us (rollback after a crash): the pid file
		 * may still name one of ours. */
		pid = pidfile_read(d);
		if (pid) {
			int fd = sys_pidfd_open(pid);

			if (fd >= 0 && nat_dnsmasq_is_ours(d, pid)) {
				d->pid = pid;
				d->pidfd = fd;
				d->child = false;
			} else if (fd >= 0) {
				close(fd);
			}
		}
	}
	if (d->pid) {
		pid = d->pid;
		sys_pidfd_signal(d->pidfd, SIGTERM);
		if (!wait_exit(d, STOP_TIMEOUT_MS)) {
			log_warn("%s: dnsmasq (pid %d) ignored SIGTERM; killing it", d->bridge,
				 (int)pid);
			sys_pidfd_signal(d->pidfd, SIGKILL);
			if (!wait_exit(d, STOP_TIMEOUT_MS)) {
				forget(d);
				return err_set(-ETIMEDOUT, "dnsmasq (pid %d) does not exit",
					       (int)pid);
			}
		}
		forget(d);
	}
	unlink(d->pidfile);
	d->backoff_ms = BACKOFF_MIN_MS;
	return 0;
}

int nat_dnsmasq_reload(struct nat_dnsmasq *d)
{
	if (!d->pid)
		return 0;
	if (d->unit[0])
		return nat_unit_kill(d->unit, SIGHUP);
	if (sys_pidfd_signal(d->pidfd, SIGHUP) < 0 && errno != ESRCH)
		return err_set(-errno, "cannot signal dnsmasq: %s", strerror(errno));
	return 0;
}

/* dnsmasq reads the hosts files in its SIGHUP handling, closes them and
 * only then goes back to its sockets: once the dhcp-hosts file netd just
 * wrote (a new inode: hosts.c replaces it by rename) has been closed by a
 * reader, a DHCP request is answered from it. The watch is on that inode,
 * made before the signal; nothing else reads the file. */
int nat_dnsmasq_reload_wait(struct nat_dnsmasq *d)
{
	bool wedged = d->pid && d->wedged_pid == d->pid;
	int bound_ms = wedged ? REREAD_WEDGED_MS : REREAD_TIMEOUT_MS;
	uint64_t end = now_usec() + (uint64_t)bound_ms * 1000ull;
	union {
		struct inotify_event ev; /* a watch on a file: events carry no name */
		char b[256];
	} buf;
	int fd, rc;

	if (!d->pid)
		return 0;
	fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (fd < 0)
		return err_set(-errno, "cannot watch %s: %s", d->hostsfile, strerror(errno));
	if (inotify_add_watch(fd, d->hostsfile, IN_CLOSE_NOWRITE) < 0) {
		rc = err_set(-errno, "cannot watch %s: %s", d->hostsfile, strerror(errno));
		close(fd);
		return rc;
	}
	rc = nat_dnsmasq_reload(d);
	while (rc == 0) {
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		uint64_t now = now_usec();
		int n;

		if (now >= end) {
			rc = err_set(-ETIMEDOUT,
				     "dnsmasq (pid %d) has not read %s again within %d ms of SIGHUP%s",
				     (int)d->pid, d->hostsfile, bound_ms,
				     wedged ? " (nor the last time: waiting less until it does)" : "");
			d->wedged_pid = d->pid;
			break;
		}
		n = poll(&pf, 1, (int)((end - now + 999) / 1000));
		if (n < 0 && errno != EINTR)
			rc = err_set(-errno, "poll: %s", strerror(errno));
		else if (n > 0 && read(fd, &buf, sizeof(buf)) > 0) {
			if (wedged)
				log_info("%s: dnsmasq (pid %d) reads its files again", d->bridge,
					 (int)d->pid);
			d->wedged_pid = 0;
			break;
		}
	}
	close(fd);
	return rc;
}

void nat_dnsmasq_detach(struct nat_dnsmasq *d)
{
	d->timer = sd_event_source_disable_unref(d->timer);
	if (d->child && d->pid)
		log_info("%s: leaving dnsmasq (pid %d) running", d->bridge, (int)d->pid);
	forget(d);
}
