/* nl_qdisc: the root qdisc netd puts on a vif to shape what its guest
 * receives (rate_in): a token bucket filter (TBF) on the interface's egress,
 * over rtnetlink like every other kernel change here (no tc fork).
 *
 * netd's root qdiscs carry their own handle (NL_QDISC_NETD_MAJOR), so that
 * only a qdisc netd made is ever replaced or deleted: someone else's root
 * qdisc on the interface is refused, not overwritten. */
#ifndef LIB_NL_QDISC_H
#define LIB_NL_QDISC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NL_QDISC_NETD_MAJOR 0x4e44u /* "ND": handle 4e44: */

/* Make (or replace) netd's root TBF on ifindex: rate bytes/s, burst bytes
 * (the bucket), limit bytes (the queue behind it). An interface whose root
 * qdisc is someone else's (not the default one): -EBUSY with err_msg(). */
int nl_qdisc_tbf_set(int ifindex, uint64_t rate, uint32_t burst, uint32_t limit);

/* Delete netd's root qdisc on ifindex; none (or not ours) is success. */
int nl_qdisc_netd_del(int ifindex);

/* What is at the root of ifindex: kind ("tbf", "noqueue", ...), handle and,
 * for a TBF, its rate in bytes/s (0 otherwise). -ENOENT if nothing. */
struct nl_qdisc_root {
	char kind[16];
	uint32_t handle;
	uint64_t rate;
	uint32_t burst;
};
int nl_qdisc_root_get(int ifindex, struct nl_qdisc_root *out);

/* Is the root of ifindex netd's TBF? */
bool nl_qdisc_root_is_netd(const struct nl_qdisc_root *r);

#endif
