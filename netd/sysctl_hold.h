/* sysctl_hold: one owner for sysctls that several networks need at once.
 *
 * net/ipv4/ip_forward, net/ipv6/conf/all/forwarding (and a physdev's
 * proxy_arp when two route networks share it) belong to the network
 * namespace, not to a network: a nat network and a route network both need
 * ip_forward = 1, and neither may put back "its" original while the other is
 * still up. So netd keeps one registry of held sysctls: the first holder
 * records the original value, later holders join, the last one out restores
 * the original. Holders are networks, by name.
 *
 * The registry lives in <state_dir>/netd-sysctl-registry.json, written atomically before a
 * sysctl is changed and after an original is restored, so that after a crash
 * at any point a new netd still knows what to put back:
 *   {"version":1, "held": {"net/ipv4/ip_forward":
 *        {"orig":"0", "value":"1", "holders":["routed","virbr0"]}}}
 * The file is removed when nothing is held. A network that adopts its setup
 * after a crash holds again (idempotent); holders that are not networks up
 * after netd's start or a reload (removed from the config while netd was
 * dead, or failed) are released by netd_sysctl_sweep(). */
#ifndef NETD_SYSCTL_HOLD_H
#define NETD_SYSCTL_HOLD_H

#include "netd/mode.h"

struct netd; /* netd/daemon.h: netd's own, not the modes' */

/* path as lib/sysctl.h (relative to /proc/sys, '/' separators), under
 * net/ipv4/ or net/ipv6/. The first holder reads and records the current
 * value, persists the record, then writes value; a later holder joins, and
 * the value is written again if someone changed it behind netd's back
 * (logged). Holding twice is one hold. Another value than the one the
 * sysctl is held at is refused (-EBUSY). On failure nothing changed. */
int netd_sysctl_hold(struct netd_net *net, const char *path, const char *value);

/* The net lets go of path; the last holder writes the original back (a
 * device gone meanwhile counts as restored) and drops the record. Releasing
 * what the net does not hold is success. On failure the hold stays, so that
 * a retry can finish. */
int netd_sysctl_release(struct netd_net *net, const char *path);

/* Releases every hold whose holder is not a network of d that is up. Run
 * once every configured network has been applied or adopted (netd start,
 * reload). Failures are logged (the hold stays for the next sweep);
 * err_msg() is left as it was. */
void netd_sysctl_sweep(struct netd *d);

#endif
