/* ruleset: the nftables tables a nat network owns, `table ip netd_<bridge>`
 * and, with address6, `table ip6 netd_<bridge>`: one builder for both.
 *
 * A whole table is (re)built in one transaction, so the kernel holds the
 * old table or the new one, never a mix; nothing outside the tables is ever
 * listed, flushed or changed. Port forwards are elements of one map keyed by
 * protocol and port, so adding or removing one forward changes one element:
 *
 *   map forwards { type inet_proto . inet_service : ipv4_addr . inet_service }
 *                (IPv6: ipv6_addr)
 *   set fwdports { type inet_proto . inet_service }     (the map's keys)
 *   bridged:     (raw) entering another bridge than ours or the uplink
 *                (one inline test for all other packets) -> bridged_pass:
 *                for a local address not on it, forwarded
 *                port, and replies back                   -> notrack (the
 *                br_netfilter pass before a classic eth0: ruleset.c).
 *                Only while the table has a forward: it can match nothing
 *                else, and every packet would pay its hook; it comes and
 *                goes with the first and last forward's elements.
 *   prerouting:  from the uplink to a local address      -> dnat via @forwards
 *                from the bridge to a local address other
 *                than the gateway (hairpin)               -> dnat via @forwards
 *                (IPv6: never to a link-local address)
 *   postrouting: private -> out of the uplink             -> masquerade (IPv4
 *                                                            always; IPv6 with
 *                                                            nat6 = masquerade,
 *                                                            routed: none,
 *                                                            upstream routes the
 *                                                            /64 to Dom0)
 *                private -> private, DNATed (hairpin)     -> masquerade, so the
 *                                                            reply comes back via dom0
 *   forward:     guests out and replies back first (one rule each); into the
 *                bridge only replies and forwards (ICMP errors such as
 *                packet-too-big are replies: related); nothing spoofed out.
 *
 * With `flowtable = yes` the IPv4 table also holds `flowtable ft` on the
 * bridge and the uplink, and the forward chain's first rule offloads every
 * TCP and UDP connection the rules below it accept once it is established:
 * later packets of it go from the ingress hook of one device straight to
 * the other (NAT applied, forward hook and conntrack lookup skipped). A
 * kernel without nf_flow_table refuses the network (nat_rs_flowtable_check). */
#ifndef NAT_RULESET_H
#define NAT_RULESET_H

#include <net/if.h>
#include <stdbool.h>

#include "nat/forward.h"
#include "netd/config.h"

struct nat_rs {
	char table[IFNAMSIZ + 8]; /* netd_<bridge> */
	char bridge[IFNAMSIZ];
	char uplink[IFNAMSIZ];
	struct netd_cidr gw; /* gateway address / subnet prefix (IPv6: the /64) */
	bool v6;             /* the ip6 table */
	bool masquerade;     /* out of the uplink: IPv4 always, IPv6 nat6 = masquerade */
	bool flowtable;      /* the flowtable fast path (config key flowtable; IPv4 only) */
};

/* v6: the ip6 table (its gw may be unset: a network without address6
 * still deletes a table a crashed run may have left). */
void nat_rs_init(struct nat_rs *rs, bool v6, const char *bridge, const char *uplink,
		 const struct netd_cidr *gw, bool masquerade, bool flowtable);

/* Whether this kernel can hold rs's flowtable: 0, or -EOPNOTSUPP with a
 * message saying so, checked without changing anything (nft --check). */
int nat_rs_flowtable_check(const struct nat_rs *rs);

/* Replace the table with the full definition and every forward of its
 * family. */
int nat_rs_apply(const struct nat_rs *rs, const struct nat_fwds *fwds);
/* Delete the table; absent already is success. */
int nat_rs_delete(const struct nat_rs *rs);
/* 1 if the table exists, 0 if not, -errno. */
int nat_rs_exists(const struct nat_rs *rs);

/* One forward's elements, in one transaction. first: the table has no
 * forward yet, so the bridged chains are added with it; last: f is its
 * only forward, so they are deleted with it. */
int nat_rs_fwd_add(const struct nat_rs *rs, const struct nat_fwd *f, bool first);
int nat_rs_fwd_del(const struct nat_rs *rs, const struct nat_fwd *f, bool last);

#endif
