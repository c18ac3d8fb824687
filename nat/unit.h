/* unit: the few requests netd makes to systemd (PID 1) over D-Bus to run a
 * helper as a service unit of its own, here each nat network's dnsmasq as
 * an instance of netd-dnsmasq@.service: start, stop, signal, and read the
 * unit's main pid and group.
 *
 * Why a unit and not a child: the helper then runs as its own user with its
 * own sandbox, and netd needs neither CAP_SETUID to make it that user nor
 * CAP_KILL to signal it (systemd does both), which keeps netd.service small.
 *
 * Each call opens its own connection, to systemd's private socket (root's,
 * no D-Bus daemon needed, as systemctl does) or else the system bus, and
 * is bounded in time: netd's event loop waits for it. */
#ifndef NAT_UNIT_H
#define NAT_UNIT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Longest unit name built here ("netd-dnsmasq@" + an escaped name). */
#define NAT_UNIT_NAME_MAX 256

/* tmpl "x@.service" and an instance: "x@<instance, escaped>.service". */
int nat_unit_instance(char *buf, size_t len, const char *tmpl, const char *instance);

/* Start it and wait (at most timeout_ms) until systemd's start job is
 * over; *pid is then its main process, or 0 if it is no longer running. */
int nat_unit_start(const char *unit, int timeout_ms, pid_t *pid);

/* Stop it and wait until systemd's stop job is over (systemd escalates to
 * SIGKILL after the unit's TimeoutStopSec=). A unit systemd does not know
 * is stopped already. */
int nat_unit_stop(const char *unit, int timeout_ms);

/* Send sig to its main process only. */
int nat_unit_kill(const char *unit, int sig);

/* Its main pid (0: not running, or unknown to systemd). */
int nat_unit_main_pid(const char *unit, pid_t *pid);

/* Is systemd taking the system down (its SystemState "stopping": a
 * poweroff, reboot or halt under way)? Then it stops every unit and starts
 * none; false also when systemd cannot be asked. */
bool nat_unit_system_stopping(void);

/* The group it runs as: Group=, else User='s primary group. -ENOENT with a
 * message if the unit is not installed or names neither. */
int nat_unit_gid(const char *unit, gid_t *gid);

#endif
