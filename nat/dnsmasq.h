/* dnsmasq: one supervised dnsmasq (from dnsmasq-base) per nat network, for
 * DHCP and DNS on that network's bridge only, and with address6 router
 * advertisements and DHCPv6 there too.
 *
 * netd starts it in the foreground in its own session, watches it with a
 * pidfd in the event loop and restarts it with a backoff if it dies. After
 * a netd crash the next netd adopts the running instance through its pid
 * file, once /proc/<pid>/cmdline shows it is our dnsmasq for this bridge in
 * this network namespace. Guests are announced through files (see hosts.h)
 * that dnsmasq re-reads on SIGHUP: a guest coming or going never restarts it.
 *
 * Two ways to run it:
 * - as an instance of a systemd template unit (netd-dnsmasq@.service,
 *   named by NETD_DNSMASQ_UNIT, which netd.service sets): systemd starts
 *   it as the unit's own user with only the capabilities dnsmasq needs,
 *   and signals and stops it for netd (unit.h); its pid and lease files
 *   are in a directory of its own in pubdir (owndir, group of the unit's
 *   user, 0770: netd, its owner, reads and removes them). netd still
 *   watches its pid and restarts it; an adopted one is the unit's main pid;
 * - else (netd outside systemd: tests, make demo) netd forks it, and it
 *   drops root for dnsmasq_user (--user) once it has bound its sockets and
 *   opened its pid, lease and log files in netd's private run directory;
 *   what it reads after that, the host files, lives in pubdir, a directory
 *   of their own that every user can read (netd_net_pub_dir()). */
#ifndef NAT_DNSMASQ_H
#define NAT_DNSMASQ_H

#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

#include "nat/unit.h"
#include "netd/config.h"

#define NAT_PATH_MAX 320

struct nat_dnsmasq {
	char bridge[IFNAMSIZ];
	struct netd_cidr gw;
	bool has_range;
	struct in_addr first, last;
	/* IPv6: router advertisements for the /64, DHCPv6 stateless (SLAAC
	 * plus DNS) or stateful (static leases, hosts.h, and with has_range6
	 * leases from first6-last6 for guests without one) */
	bool has6;
	struct netd_cidr gw6;
	enum nat_dhcp6 dhcp6;
	bool has_range6;
	struct in6_addr first6, last6;
	char pidfile[NAT_PATH_MAX], leasefile[NAT_PATH_MAX], logfile[NAT_PATH_MAX];
	char hostsfile[NAT_PATH_MAX], addnhosts[NAT_PATH_MAX]; /* in pubdir */
	char user[33];
	/* unit mode: the unit, its directory and the file its ExecStart=
	 * reads dnsmasq's arguments from; unit[0] == '\0' otherwise */
	char unit[NAT_UNIT_NAME_MAX];
	char owndir[NAT_PATH_MAX], argsfile[NAT_PATH_MAX];

	pid_t pid;      /* 0: not running */
	int pidfd;      /* -1 when pid is 0 */
	bool child;     /* started by this netd (so we reap it), not adopted */
	sd_event *ev;
	sd_event_source *io, *timer;
	unsigned backoff_ms;
	uint64_t started_usec; /* CLOCK_MONOTONIC */
	unsigned restarts;
	pid_t wedged_pid; /* did not read the files again in time (reload_wait) */
};

/* dir is the network's run directory, pubdir the one for the host files;
 * the files above are named in them. user: what a forked dnsmasq runs as.
 * unit_tmpl: NULL or "" to fork it, else the template unit to run it as
 * (instance: the network's name, which must be pubdir's last component,
 * and pubdir in NAT_DNSMASQ_UNIT_DIR, where the shipped template looks). */
int nat_dnsmasq_init(struct nat_dnsmasq *d, sd_event *ev, const char *bridge, const char *dir,
		     const char *pubdir, const char *user, const char *unit_tmpl,
		     const char *instance, const struct netd_net_conf *c);

#define NAT_DNSMASQ_UNIT_DIR "/run/netd-dnsmasq"

/* Start it and wait (bounded) until it has bound its sockets; on failure
 * the error names dnsmasq's own reason. Then supervise it. */
int nat_dnsmasq_start(struct nat_dnsmasq *d);

/* Take over the instance a previous netd left running: 1 if adopted (and
 * supervised from now on), 0 if none of ours is running. */
int nat_dnsmasq_adopt(struct nat_dnsmasq *d);

/* Stop ours (supervised or only named by the pid file; nothing else is
 * ever signalled), wait for it to exit. */
int nat_dnsmasq_stop(struct nat_dnsmasq *d);

/* SIGHUP: re-read hostsfile and addn-hosts. Not running: nothing to do
 * (it reads the files when it starts). */
int nat_dnsmasq_reload(struct nat_dnsmasq *d);

/* The same, then wait (bounded, 5 s; 100 ms while this dnsmasq has not
 * read them again since a wait timed out) until dnsmasq has read
 * dhcp-hosts again: from then on it answers DHCP from the new file.
 * -ETIMEDOUT with err_msg() if it has not. */
int nat_dnsmasq_reload_wait(struct nat_dnsmasq *d);

/* Stop supervising without stopping it (netd exits, leaving networks up). */
void nat_dnsmasq_detach(struct nat_dnsmasq *d);

/* Does the running instance have exactly the command line this netd would
 * start (same range, gateway, files)? An adopted one may predate a config change. */
bool nat_dnsmasq_is_current(const struct nat_dnsmasq *d);

/* Is pid our dnsmasq for this bridge and pid file, in our namespace? */
bool nat_dnsmasq_is_ours(const struct nat_dnsmasq *d, pid_t pid);

#endif
