/* ruleset6: the nftables table of a nat network's IPv6 (`table ip6
 * netd_<bridge>`), made only when the network has address6.
 *
 * The IPv4 table's twin (ruleset.h), kept apart so that IPv4 alone stays
 * as it was: the same transaction rules, the same shape, with the guests'
 * /64 and the uplink's IPv6 address:
 *
 *   map forwards { type inet_proto . inet_service : ipv6_addr . inet_service }
 *   set fwdports and chain bridged: as in the IPv4 table (link-local excluded)
 *   prerouting:  from the uplink to a local address      -> dnat via @forwards
 *                from the bridge to a local global address
 *                other than the gateway (hairpin)         -> dnat via @forwards
 *   postrouting: private -> out of the uplink             -> masquerade (nat6 =
 *                                                            masquerade; routed:
 *                                                            none, upstream routes
 *                                                            the /64 to Dom0)
 *                private -> private, DNATed (hairpin)     -> masquerade
 *   forward:     into the bridge only replies and forwards (ICMPv6 errors such
 *                as packet-too-big are replies: related); nothing spoofed out. */
#ifndef NAT_RULESET6_H
#define NAT_RULESET6_H

#include <net/if.h>
#include <stdbool.h>

#include "nat/forward.h"
#include "netd/config.h"

struct nat_rs6 {
	char table[IFNAMSIZ + 8]; /* netd_<bridge> */
	char bridge[IFNAMSIZ];
	char uplink[IFNAMSIZ];
	struct netd_cidr gw; /* the gateway's IPv6 address / 64 */
	bool masquerade;
};

void nat_rs6_init(struct nat_rs6 *rs, const char *bridge, const char *uplink,
		  const struct netd_cidr *gw, bool masquerade);

/* Replace the table with the full definition and every IPv6 forward. */
int nat_rs6_apply(const struct nat_rs6 *rs, const struct nat_fwds *fwds6);
/* Delete the table; absent already is success. */
int nat_rs6_delete(const struct nat_rs6 *rs);
/* 1 if the table exists, 0 if not, -errno. */
int nat_rs6_exists(const struct nat_rs6 *rs);

int nat_rs6_fwd_add(const struct nat_rs6 *rs, const struct nat_fwd *f);
int nat_rs6_fwd_del(const struct nat_rs6 *rs, const struct nat_fwd *f);

#endif
