/* policy: what a guest port may send into dpswitch — the same policy as
 * netd's nftables sets for a guarded vif (antispoof/antispoof.h), checked
 * on the frame as it leaves the guest's ring, before the switch learns
 * from it:
 *
 *   - its own source MAC (mac=; without one, any unicast MAC);
 *   - IPv4 from its ip= addresses, or DHCP from 0.0.0.0 (udp 68->67);
 *   - ARP whose sender is its MAC and one of its addresses (or 0.0.0.0,
 *     RFC 5227 probes);
 *   - IPv6 from its ip= addresses and its link-local, the EUI-64 one of
 *     its mac= (without mac= but with ip=: another link-local only for
 *     RS, NS, NA, MLD reports and DHCPv6 requests); from :: only RS, MLD
 *     reports and DAD (NS); neighbour advertisements only for its own
 *     addresses, link-local included; NS, NA and RS of a vif with mac=
 *     with no extension header and at most one option of 8 bytes, whose
 *     link-layer address is its MAC;
 *   - never, with or without ip=: RA, ICMP and ICMPv6 redirects, DHCP or
 *     DHCPv6 server replies (udp from port 67 or 547);
 *   - nothing else (other ethertypes, VLAN tags, a first fragment without
 *     its upper-layer header, RFC 7112).
 * ICMPv6 and UDP are found past IPv6 extension headers (Hop-by-Hop, where
 * MLD always is, routing, destination options, a first fragment's header;
 * more than 8 or cut short: malformed), as netd's nftables rules find
 * them, and past AH, where nft stops; a later fragment counts by its
 * source alone. Where this
 * differs from netd's rules, and why: docs/dpswitch.md.
 * A vif without ip= may use any address (Xen's semantics), but still only
 * its MAC and its link-local. Neither it nor one without mac= may claim
 * Dom0's own addresses or its routers' (netd's gw4 and gw6 sets, given by
 * port-add's "gw") as a source, in ARP or in ND.
 *
 * Pure: a frame in, a verdict out, no allocation. */
#ifndef DPSWITCH_POLICY_H
#define DPSWITCH_POLICY_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include "vif/vif.h"

/* Dom0's addresses a port keeps (netd's as_gw.h keeps as many) */
#define DPS_POL_GW_MAX 64

/* Why a frame was dropped; DPS_POL_OK: it passes. */
enum dps_verdict {
	DPS_POL_OK = 0,
	DPS_POL_MAC,	   /* source MAC not its own, or multicast */
	DPS_POL_IP,	   /* IPv4/IPv6 source not its own */
	DPS_POL_ARP,	   /* ARP sender MAC or address not its own */
	DPS_POL_ND,	   /* ND target or link-layer option not its own */
	DPS_POL_FORBIDDEN, /* RA, redirect, DHCP/DHCPv6 server */
	DPS_POL_MALFORMED, /* headers cut short, other ethertypes */
	DPS_POL_COUNT
};

struct dps_policy {
	bool guard; /* false: everything passes */
	bool has_mac;
	uint8_t mac[6];
	bool ipfree; /* no ip=: any address */
	unsigned n4, n6;
	struct in_addr v4[VIF_MAX_IPS];
	struct in6_addr v6[VIF_MAX_IPS + 1]; /* ip= and the link-local */
	unsigned ngw4, ngw6;
	struct in_addr gw4[DPS_POL_GW_MAX]; /* never its own: Dom0's and its routers' */
	struct in6_addr gw6[DPS_POL_GW_MAX];
};

/* From the vif's keys; guard: anti-spoofing on for it. */
void dps_pol_from_vif(struct dps_policy *p, const struct vif *v, bool guard);
/* The addresses the port may never claim: s is port-add's "gw", IPv4 and
 * IPv6 addresses separated by spaces. 0, or -EINVAL (not an address),
 * -E2BIG (past DPS_POL_GW_MAX of a family) and err_msg(), p unchanged. */
int dps_pol_parse_gw(struct dps_policy *p, const char *s);
enum dps_verdict dps_pol_check(const struct dps_policy *p, const uint8_t *frame, uint32_t len);
const char *dps_pol_reason(enum dps_verdict v);

#endif
