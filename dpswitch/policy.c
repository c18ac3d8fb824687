/* policy: see policy.h. Offsets are checked against the frame's length
 * before every read: the frame is a guest's. */
#include "dpswitch/policy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "lib/err.h"

#define ETH_P_IP 0x0800
#define ETH_P_ARP 0x0806
#define ETH_P_IPV6 0x86dd
/* IPv6 extension headers walked before a frame is refused */
#define DPS_POL_MAX_EXT 8u

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

void dps_pol_from_vif(struct dps_policy *p, const struct vif *v, bool guard)
{
	memset(p, 0, sizeof(*p));
	p->guard = guard;
	p->has_mac = v->has_mac;
	memcpy(p->mac, v->mac, 6);
	p->ipfree = v->n_ips == 0;
	for (unsigned i = 0; i < v->n_ips; i++) {
		if (v->ips[i].family == AF_INET)
			p->v4[p->n4++] = v->ips[i].addr.v4;
		else
			p->v6[p->n6++] = v->ips[i].addr.v6;
	}
	if (v->has_mac) {
		/* the MAC's link-local address, as the kernel and netd make it */
		vif_eui64(v->mac, NULL, &p->v6[p->n6++]);
	}
}

/* Link-local ones included (Dom0's own, which ip= would refuse): not
 * vif_ip_list_parse. Parsed aside, so a refused list leaves p as it was. */
int dps_pol_parse_gw(struct dps_policy *p, const char *s)
{
	struct in_addr v4[DPS_POL_GW_MAX];
	struct in6_addr v6[DPS_POL_GW_MAX];
	unsigned n4 = 0, n6 = 0;

	while (*s) {
		char tok[INET6_ADDRSTRLEN];
		size_t len = strcspn(s, " ");
		struct in6_addr a;

		if (!len) {
			s++;
			continue;
		}
		if (len >= sizeof(tok))
			return err_set(-EINVAL, "'%.48s': not an address", s);
		memcpy(tok, s, len);
		tok[len] = '\0';
		s += len;
		if (inet_pton(AF_INET, tok, &a) == 1) {
			if (n4 == DPS_POL_GW_MAX)
				return err_set(-E2BIG, "more than %u IPv4 addresses", DPS_POL_GW_MAX);
			memcpy(&v4[n4++], &a, sizeof(v4[0]));
		} else if (inet_pton(AF_INET6, tok, &a) == 1) {
			if (n6 == DPS_POL_GW_MAX)
				return err_set(-E2BIG, "more than %u IPv6 addresses", DPS_POL_GW_MAX);
			v6[n6++] = a;
		} else {
			return err_set(-EINVAL, "'%s': not an address", tok);
		}
	}
	memcpy(p->gw4, v4, n4 * sizeof(v4[0]));
	memcpy(p->gw6, v6, n6 * sizeof(v6[0]));
	p->ngw4 = n4;
	p->ngw6 = n6;
	return 0;
}

/* Its mac= (unicast and not all-zero: vif.c refuses others), or without
 * one any but multicast and all-zero, no station's (the Linux bridge drops
 * such a source before netd's rules see it). Inline: every frame takes it,
 * and with the all-zero test gcc -O2 made it a call (a nanosecond a frame,
 * as v6_of). */
static inline bool mac_ok(const struct dps_policy *p, const uint8_t *mac)
{
	static const uint8_t zero[6];

	if (p->has_mac)
		return !memcmp(mac, p->mac, 6);
	return !(mac[0] & 1) && memcmp(mac, zero, 6);
}

static bool v4_ok(const struct dps_policy *p, const uint8_t *a)
{
	for (unsigned i = 0; i < p->ngw4; i++)
		if (!memcmp(a, &p->gw4[i], 4))
			return false;
	if (p->ipfree)
		return true;
	for (unsigned i = 0; i < p->n4; i++)
		if (!memcmp(a, &p->v4[i], 4))
			return true;
	return false;
}

static bool is_ll(const uint8_t *a)
{
	return a[0] == 0xfe && (a[1] & 0xc0) == 0x80;
}

/* An IPv6 address as the vif's: its own (ip=, its link-local), another
 * link-local one when it has no MAC to derive its own from (a source
 * limited to a few kinds of packet while it has ip=: see v6_src), or
 * another one at all (no ip=); never one of Dom0's. */
enum v6_kind { V6_NOT, V6_OWN, V6_LL };

static inline enum v6_kind v6_of(const struct dps_policy *p, const uint8_t *a)
{
	for (unsigned i = 0; i < p->ngw6; i++)
		if (!memcmp(a, &p->gw6[i], 16))
			return V6_NOT;
	for (unsigned i = 0; i < p->n6; i++)
		if (!memcmp(a, &p->v6[i], 16))
			return V6_OWN;
	if (p->ipfree)
		return is_ll(a) && p->has_mac ? V6_NOT : V6_OWN;
	return is_ll(a) && !p->has_mac ? V6_LL : V6_NOT;
}

/* An ND target: its own, any link-local one without mac=, any other one
 * without ip= (netd's as_tgt). */
static bool v6_ok(const struct dps_policy *p, const uint8_t *a)
{
	return v6_of(p, a) != V6_NOT;
}

static enum dps_verdict check_ipv4(const struct dps_policy *p, const uint8_t *ip, uint32_t len)
{
	uint32_t ihl;
	uint8_t proto;
	static const uint8_t zero[4];

	if (len < 20 || ip[0] >> 4 != 4 || (ihl = (uint32_t)(ip[0] & 15) * 4) < 20 || ihl > len)
		return DPS_POL_MALFORMED;
	proto = ip[9];
	/* later fragments carry no L4 header to check: their source is */
	if ((be16(ip + 6) & 0x1fff) == 0) {
		if (proto == 17 && len >= ihl + 4) {
			uint16_t sport = be16(ip + ihl), dport = be16(ip + ihl + 2);

			if (sport == 67)
				return DPS_POL_FORBIDDEN;
			if (!memcmp(ip + 12, zero, 4))
				return sport == 68 && dport == 67 ? DPS_POL_OK : DPS_POL_IP;
		} else if (proto == 1 && len >= ihl + 1 && ip[ihl] == 5) {
			return DPS_POL_FORBIDDEN; /* redirect */
		} else if ((proto == 17 || proto == 6) && len < ihl + 4) {
			return DPS_POL_MALFORMED;
		}
	}
	return v4_ok(p, ip + 12) ? DPS_POL_OK : DPS_POL_IP;
}

static enum dps_verdict check_arp(const struct dps_policy *p, const uint8_t *eth_src,
				  const uint8_t *a, uint32_t len)
{
	static const uint8_t zero[4];

	/* Ethernet/IPv4 ARP only: hardware 1, protocol 0x0800, lengths 6/4 */
	if (len < 28 || be16(a) != 1 || be16(a + 2) != ETH_P_IP || a[4] != 6 || a[5] != 4)
		return DPS_POL_MALFORMED;
	if (memcmp(a + 8, eth_src, 6) || !mac_ok(p, a + 8))
		return DPS_POL_ARP;
	if (!memcmp(a + 14, zero, 4))
		return DPS_POL_OK; /* probe */
	return v4_ok(p, a + 14) ? DPS_POL_OK : DPS_POL_ARP;
}

/* ND's options, for a vif with a MAC (without one, any: netd's as_ndopt
 * is entered for vifs with a MAC only): at most one, of 8 bytes, as
 * netd's rules pin them (nft cannot walk options, and stacks send one);
 * a link-layer address option (source or target, either) must be its MAC. */
static enum dps_verdict nd_options(const struct dps_policy *p, const uint8_t *o, uint32_t len)
{
	if (!p->has_mac || !len)
		return DPS_POL_OK;
	if (len != 8 || o[1] != 1)
		return DPS_POL_ND;
	if ((o[0] == 1 || o[0] == 2) && !mac_ok(p, o + 2))
		return DPS_POL_ND;
	return DPS_POL_OK;
}

/* What a source that is another link-local address (V6_LL: a vif with
 * ip= and no mac=) may send, as netd's as_ip6 lets it: RS, NS, NA and MLD
 * reports (not a query), and DHCPv6 requests. */
static bool ll_use_ok(uint8_t next, const uint8_t *l4, uint32_t l4len)
{
	if (next == 17)
		return l4len >= 4 && be16(l4) == 546 && be16(l4 + 2) == 547;
	if (next != 58)
		return false;
	switch (l4[0]) {
	case 131: case 132: case 133: case 135: case 136: case 143:
		return true;
	default:
		return false;
	}
}

static enum dps_verdict check_ipv6(const struct dps_policy *p, const uint8_t *ip, uint32_t len)
{
	static const uint8_t any[16];
	const uint8_t *src = ip + 8, *l4;
	uint32_t l4len, off = 40;
	uint8_t type, next;
	bool unspec, first = false, later = false;
	enum v6_kind kind;

	if (len < 40 || ip[0] >> 4 != 6)
		return DPS_POL_MALFORMED;
	unspec = !memcmp(src, any, 16);
	/* past extension headers, as netd's rules (nft's icmpv6 type, th)
	 * look past them: MLD always comes behind a Hop-by-Hop header (its
	 * router alert), and an RA or a DHCPv6 server's reply behind one
	 * must not slip past the checks below. A first fragment (offset 0)
	 * is walked through: it must hold the upper-layer header (RFC 7112,
	 * netd's as_frag) and is judged by it, so an RA or a DHCPv6 reply in
	 * one is found; a later fragment stops the walk: only its source
	 * counts, as in nft, where it has no transport header */
	next = ip[6];
	for (unsigned i = 0; next == 0 || next == 43 || next == 44 || next == 60 || next == 51;
	     i++) {
		uint32_t hl;

		if (i == DPS_POL_MAX_EXT || len < off + 8)
			return DPS_POL_MALFORMED;
		if (next == 44) {
			if (be16(ip + off + 2) & 0xfff8) {
				later = true;
				break;
			}
			first = true;
			hl = 8;
		} else if (next == 51) {
			/* AH counts 4-byte words less 2, the others 8-byte ones less 1 */
			hl = ((uint32_t)ip[off + 1] + 2) * 4;
		} else {
			hl = ((uint32_t)ip[off + 1] + 1) * 8;
		}
		next = ip[off];
		off += hl;
	}
	if (off > len)
		return DPS_POL_MALFORMED;
	l4 = ip + off;
	l4len = len - off;
	if (later) {
		if (unspec)
			return DPS_POL_IP;
		return v6_of(p, src) == V6_OWN ? DPS_POL_OK : DPS_POL_IP;
	}
	if (first && l4len < 4)
		return DPS_POL_MALFORMED;
	if (next == 17 && l4len >= 2 && be16(l4) == 547) /* nft reads the port alone */
		return DPS_POL_FORBIDDEN;
	kind = unspec ? V6_NOT : v6_of(p, src);
	if (next != 58) {
		/* not ICMPv6 (extension headers included): only its addresses */
		if (kind == V6_LL && ll_use_ok(next, l4, l4len))
			return DPS_POL_OK;
		return kind == V6_OWN ? DPS_POL_OK : DPS_POL_IP;
	}
	if (l4len < 4)
		return DPS_POL_MALFORMED;
	type = l4[0];
	if (type == 134 || type == 137) /* RA, redirect */
		return DPS_POL_FORBIDDEN;
	/* ND from a vif with a MAC has no extension header (netd's
	 * as_ndopt): behind a fragment header its options could sit in a
	 * later fragment, and no stack adds one to ND (RFC 6980) */
	if ((type == 133 || type == 135 || type == 136) && p->has_mac && off != 40)
		return DPS_POL_ND;
	if (unspec) {
		/* RS, MLD reports (130, a query, would win the querier
		 * election) and DAD probes (NS) only */
		if (type != 133 && type != 135 && type != 131 && type != 132 && type != 143)
			return DPS_POL_IP;
	} else if (kind == V6_NOT || (kind == V6_LL && !ll_use_ok(next, l4, l4len))) {
		return DPS_POL_IP;
	}
	switch (type) {
	case 133: /* RS: reserved 4 bytes, then options */
		if (l4len < 8)
			return DPS_POL_MALFORMED;
		return nd_options(p, l4 + 8, l4len - 8);
	case 135: /* NS: a DAD probe's target must be its own */
	case 136: /* NA: the target must be its own */
		if (l4len < 24)
			return DPS_POL_MALFORMED;
		if ((type == 136 || unspec) && !v6_ok(p, l4 + 8))
			return DPS_POL_ND;
		return nd_options(p, l4 + 24, l4len - 24);
	default:
		return DPS_POL_OK;
	}
}

enum dps_verdict dps_pol_check(const struct dps_policy *p, const uint8_t *f, uint32_t len)
{
	uint16_t type;

	if (!p->guard)
		return DPS_POL_OK;
	if (len < 14)
		return DPS_POL_MALFORMED;
	if (!mac_ok(p, f + 6))
		return DPS_POL_MAC;
	type = be16(f + 12);
	switch (type) {
	case ETH_P_IP:
		return check_ipv4(p, f + 14, len - 14);
	case ETH_P_ARP:
		return check_arp(p, f + 6, f + 14, len - 14);
	case ETH_P_IPV6:
		return check_ipv6(p, f + 14, len - 14);
	default:
		return DPS_POL_MALFORMED;
	}
}

const char *dps_pol_reason(enum dps_verdict v)
{
	static const char *const names[DPS_POL_COUNT] = {
		[DPS_POL_OK] = "ok",	      [DPS_POL_MAC] = "spoof_mac",
		[DPS_POL_IP] = "spoof_ip",    [DPS_POL_ARP] = "spoof_arp",
		[DPS_POL_ND] = "spoof_nd",    [DPS_POL_FORBIDDEN] = "forbidden",
		[DPS_POL_MALFORMED] = "malformed",
	};

	return v < DPS_POL_COUNT ? names[v] : "?";
}
