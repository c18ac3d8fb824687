/* Unit tests for dpswitch's parts without DPDK: the MAC table
 * (dpswitch/mac_table.c: learning, lookup, ageing, moves, a port's MACs
 * gone with its generation, a full bucket) and the anti-spoofing policy
 * (dpswitch/policy.c: frames built byte by byte, each rule of
 * antispoof.h's list with a frame that passes and one that does not,
 * and frames cut short at every length). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xen/io/netif.h>

#include "dpswitch/gso.h"
#include "dpswitch/mac_table.h"
#include "dpswitch/policy.h"
#include "lib/err.h"
#include "vif/vif.h"

static uint32_t gen[8];

static void mac_n(uint8_t m[6], unsigned n)
{
	const uint8_t base[6] = { 0x00, 0x16, 0x3e, 0, 0, 0 };

	memcpy(m, base, 6);
	m[3] = (uint8_t)(n >> 16);
	m[4] = (uint8_t)(n >> 8);
	m[5] = (uint8_t)n;
}

static void test_mac_learn_lookup_age(void **state)
{
	struct dps_mac_table t;
	uint8_t a[6], b[6];

	memset(gen, 0, sizeof(gen));
	assert_int_equal(dps_mac_init(&t, gen, 1000), 0);
	mac_n(a, 1);
	mac_n(b, 2);
	assert_int_equal(dps_mac_lookup(&t, a, 0), DPS_MAC_NONE);
	assert_false(dps_mac_learn(&t, a, 3, 10));
	assert_int_equal(dps_mac_lookup(&t, a, 10), 3);
	assert_int_equal(dps_mac_lookup(&t, b, 10), DPS_MAC_NONE);
	/* aged after 1000 ms without being seen, refreshed by a learn */
	assert_int_equal(dps_mac_lookup(&t, a, 1010), 3);
	assert_int_equal(dps_mac_lookup(&t, a, 1011), DPS_MAC_NONE);
	assert_false(dps_mac_learn(&t, a, 3, 1500));
	assert_int_equal(dps_mac_lookup(&t, a, 2400), 3);
	assert_int_equal(dps_mac_count(&t, 2400), 1);
	dps_mac_free(&t);
}

static void test_mac_move_and_port_gone(void **state)
{
	struct dps_mac_table t;
	uint8_t a[6], bc[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

	memset(gen, 0, sizeof(gen));
	assert_int_equal(dps_mac_init(&t, gen, 300000), 0);
	mac_n(a, 7);
	assert_false(dps_mac_learn(&t, a, 1, 0));
	assert_true(dps_mac_learn(&t, a, 2, 1)); /* moved */
	assert_int_equal(t.moves, 1);
	assert_false(dps_mac_learn(&t, a, 2, 2)); /* same port: no move */
	assert_int_equal(dps_mac_lookup(&t, a, 2), 2);
	/* port 2 removed: its MACs with it, no walk */
	gen[2]++;
	assert_int_equal(dps_mac_lookup(&t, a, 3), DPS_MAC_NONE);
	/* learnt again on a port of the same index: not a move from a dead port */
	assert_false(dps_mac_learn(&t, a, 1, 4));
	assert_int_equal(t.moves, 1);
	/* never a multicast source */
	assert_false(dps_mac_learn(&t, bc, 1, 5));
	assert_int_equal(dps_mac_lookup(&t, bc, 5), DPS_MAC_NONE);
	dps_mac_free(&t);
}

static void test_mac_many(void **state)
{
	struct dps_mac_table t;
	unsigned n = DPS_MAC_BUCKETS * DPS_MAC_WAYS / 2, found = 0;
	uint8_t m[6];

	memset(gen, 0, sizeof(gen));
	assert_int_equal(dps_mac_init(&t, gen, 300000), 0);
	for (unsigned i = 0; i < n; i++) {
		mac_n(m, i + 1);
		dps_mac_learn(&t, m, (uint16_t)(i % 8), i);
	}
	for (unsigned i = 0; i < n; i++) {
		mac_n(m, i + 1);
		if (dps_mac_lookup(&t, m, n) == i % 8)
			found++;
	}
	/* a full bucket evicts its oldest: at half load nearly all stay */
	assert_true(found >= n * 95 / 100);
	assert_int_equal(found + t.evicted, n);
	/* a full table still learns the newest */
	for (unsigned i = 0; i < 2 * n; i++) {
		mac_n(m, 1000000 + i);
		dps_mac_learn(&t, m, 1, n + i);
	}
	assert_int_equal(dps_mac_lookup(&t, m, 3 * n), 1);
	dps_mac_free(&t);
}

/* ---- policy ---- */

#define ME_MAC "00:16:3e:00:00:05"
static const uint8_t me_mac[6] = { 0x00, 0x16, 0x3e, 0, 0, 5 };
static const uint8_t other_mac[6] = { 0x02, 0, 0, 0, 0, 0x66 };

struct frame {
	uint8_t b[256];
	uint32_t len;
};

static void eth(struct frame *f, const uint8_t *src, uint16_t type)
{
	memset(f->b, 0, sizeof(f->b));
	memset(f->b, 0xff, 6);
	memcpy(f->b + 6, src, 6);
	f->b[12] = (uint8_t)(type >> 8);
	f->b[13] = (uint8_t)type;
	f->len = 14;
}

static void ipv4(struct frame *f, const char *src, uint8_t proto, uint16_t sport, uint16_t dport)
{
	uint8_t *ip = f->b + 14;

	ip[0] = 0x45;
	ip[8] = 64;
	ip[9] = proto;
	inet_pton(AF_INET, src, ip + 12);
	inet_pton(AF_INET, "203.0.113.1", ip + 16);
	ip[20] = (uint8_t)(sport >> 8);
	ip[21] = (uint8_t)sport;
	ip[22] = (uint8_t)(dport >> 8);
	ip[23] = (uint8_t)dport;
	f->len = 14 + 20 + 8;
}

static void arp(struct frame *f, const uint8_t *sha, const char *spa)
{
	uint8_t *a = f->b + 14;

	a[1] = 1;
	a[2] = 0x08;
	a[4] = 6;
	a[5] = 4;
	a[7] = 1;
	memcpy(a + 8, sha, 6);
	inet_pton(AF_INET, spa, a + 14);
	inet_pton(AF_INET, "203.0.113.1", a + 24);
	f->len = 14 + 28;
}

/* ICMPv6 of type with a target (NS/NA) and an optional link-layer option */
static void icmp6(struct frame *f, const char *src, uint8_t type, const char *target,
		  const uint8_t *lladdr)
{
	uint8_t *ip = f->b + 14, *l4 = ip + 40;
	uint32_t l4len = 8;

	ip[0] = 0x60;
	ip[6] = 58;
	ip[7] = 255;
	inet_pton(AF_INET6, src, ip + 8);
	inet_pton(AF_INET6, "ff02::1", ip + 24);
	l4[0] = type;
	if (target) {
		inet_pton(AF_INET6, target, l4 + 8);
		l4len = 24;
	}
	if (lladdr) {
		l4[l4len] = type == 136 ? 2 : 1;
		l4[l4len + 1] = 1;
		memcpy(l4 + l4len + 2, lladdr, 6);
		l4len += 8;
	}
	f->len = 14 + 40 + l4len;
}

/* n IPv6 extension headers of kind (0 Hop-by-Hop, 60 destination
 * options, 51 AH) put before what follows the IPv6 header, 8 bytes each */
static void ext6(struct frame *f, uint8_t kind, unsigned n)
{
	uint8_t *ip = f->b + 14;

	for (unsigned i = 0; i < n; i++) {
		memmove(ip + 48, ip + 40, f->len - 54);
		memset(ip + 40, 0, 8);
		ip[40] = ip[6];
		ip[41] = 0; /* 8 bytes: AH's (0 + 2) words of 4, the others' (0 + 1) of 8 */
		ip[42] = 5; /* a router alert (MLD's), then PadN */
		ip[43] = 2;
		ip[46] = 1;
		ip[6] = kind;
		f->len += 8;
	}
}

/* A fragment header put before what follows the IPv6 header: offset in
 * 8-byte units, more: the M flag. The bytes after it stay what they were
 * (a later fragment's are data). */
static void frag6(struct frame *f, uint16_t offset, bool more)
{
	uint8_t *ip = f->b + 14;

	memmove(ip + 48, ip + 40, f->len - 54);
	memset(ip + 40, 0, 8);
	ip[40] = ip[6];
	ip[42] = (uint8_t)(offset >> 5);
	ip[43] = (uint8_t)(offset << 3 | (more ? 1 : 0));
	ip[47] = 7; /* identification */
	ip[6] = 44;
	f->len += 8;
}

/* UDP over IPv6 from src, sport to dport */
static void udp6(struct frame *f, const char *src, uint16_t sport, uint16_t dport)
{
	uint8_t *l4 = f->b + 14 + 40;

	icmp6(f, src, 128, NULL, NULL);
	f->b[14 + 6] = 17;
	l4[0] = (uint8_t)(sport >> 8);
	l4[1] = (uint8_t)sport;
	l4[2] = (uint8_t)(dport >> 8);
	l4[3] = (uint8_t)dport;
}

static void policy(struct dps_policy *p, const char *spec, bool guard)
{
	struct vif v;

	vif_init(&v, 5, 0);
	assert_int_equal(vif_parse_spec(&v, spec), 0);
	dps_pol_from_vif(p, &v, guard);
}

static void test_policy_rules(void **state)
{
	struct dps_policy p, free_ip, off;
	struct frame f;
	const char *ll = "fe80::216:3eff:fe00:5";

	policy(&p, "mac=" ME_MAC ",ip=203.0.113.15 2001:db8:1::15", true);
	policy(&free_ip, "mac=" ME_MAC, true);
	policy(&off, "mac=" ME_MAC ",ip=203.0.113.15", false);

	eth(&f, me_mac, 0x0800);
	ipv4(&f, "203.0.113.15", 17, 1000, 9);
	assert_int_equal(dps_pol_check(&p, f.b, f.len), DPS_POL_OK);
	ipv4(&f, "203.0.113.99", 17, 1000, 9);
	assert_int_equal(dps_pol_check(&p, f.b, f.len), DPS_POL_IP);
	assert_int_equal(dps_pol_check(&free_ip, f.b, f.len), DPS_POL_OK); /* no ip=: any */
	assert_int_equal(dps_pol_check(&off, f.b, f.len), DPS_POL_OK);	   /* not guarded */
	ipv4(&f, "0.0.0.0", 17, 68, 67); /* DHCP discover */
	assert_int_equal(dps_pol_check(&p, f.b, f.len), DPS_POL_OK);
	ipv4(&f, "0.0.0.0", 17, 1000, 9);
	assert_int_equal(dps_pol_check(&p, f.b, f.len), DPS_POL_IP);
	ipv4(&f, "203.0.113.15", 17, 67, 68); /* a DHCP server: never */
	assert_int_equal(dps_pol_check(&p, f.b, f.len), DPS_POL_FORBIDDEN);
	assert_int_equal(dps_pol_check(&free_ip, f.b, f.len), DPS_POL_FORBIDDEN);
	ipv4(&f, "203.0.113.15", 1, 0x0500, 0); /* ICMP redirect */
	assert_int_equal(dps_pol_check(&p, f.b, f.len), DPS_POL_FORBIDDEN);

	eth(&f, other_mac, 0x0800);
	ipv4(&f, "203.0.113.15", 17, 1000, 9);
	assert_int_equal(dps_pol_check(&p, f.b, f.len), DPS_POL_MAC);
	assert_int_equal(dps_pol_check(&free_ip, f.b, f.len), DPS_POL_MAC);

	eth(&f, me_mac, 0x0806);
	arp(&f, me_mac, "203.0.113.15");
	assert_int_equal(dps_pol_check(&p, f.b, f.len), DPS_POL_OK);
	arp(&f, me_mac, "0.0.0.0"); /* RFC 5227 probe */
	assert_int_equal(dps_pol_check(&p, f.b, f.len), DPS_POL_OK);
	arp(&f, me_mac, "203.0.113.99");
	assert_int_equal(dps_pol_check(&p, f.b, f.len), DPS_POL_ARP);
	arp(&f, other_mac, "203.0.113.15");
	assert_int_equal(dps_pol_check(&p, f.b, f.len), DPS_POL_ARP);

	eth(&f, me_mac, 0x86dd);
	icmp6(&f, ll, 136, ll, me_mac); /* NA for its link-local, its MAC */
	assert_int_equal(dps_pol_check(&p, f.b, f.len), DPS_POL_OK);
	icmp6(&f, ll, 136, "2001:db8:1::15", NULL);
	assert_int_equal(dps_pol_check(&p, f.b, f.len), DPS_POL_OK);
	icmp6(&f, ll, 136, "2001:db8:1::99", NULL);
	assert_int_equal(dps_pol_check(&p, f.b, f.len), DPS_POL_ND);
	icmp6(&f, ll, 135, "2001:db8:1::1", other_mac); /* NS with another's MAC */
	assert_int_equal(dps_pol_check(&p, f.b, f.len), DPS_POL_ND);
	icmp6(&f, ll, 135, "2001:db8:1::1", me_mac);
	assert_int_equal(dps_pol_check(&p, f.b, f.len), DPS_POL_OK);
	icmp6(&f, "::", 135, "2001:db8:1::15", NULL); /* DAD for its own */
	assert_int_equal(dps_pol_check(&p, f.b, f.len), DPS_POL_OK);
	icmp6(&f, "::", 135, "2001:db8:1::99", NULL); /* DAD for another's */
	assert_int_equal(dps_pol_check(&p, f.b, f.len), DPS_POL_ND);
	icmp6(&f, "::", 128, NULL, NULL); /* echo from :: */
	assert_int_equal(dps_pol_check(&p, f.b, f.len), DPS_POL_IP);
	icmp6(&f, ll, 134, NULL, NULL); /* RA */
	assert_int_equal(dps_pol_check(&p, f.b, f.len), DPS_POL_FORBIDDEN);
	icmp6(&f, ll, 137, NULL, NULL); /* redirect */
	assert_int_equal(dps_pol_check(&free_ip, f.b, f.len), DPS_POL_FORBIDDEN);
	icmp6(&f, "fe80::1", 128, NULL, NULL); /* another link-local */
	assert_int_equal(dps_pol_check(&p, f.b, f.len), DPS_POL_IP);
	assert_int_equal(dps_pol_check(&free_ip, f.b, f.len), DPS_POL_IP);
	icmp6(&f, "2001:db8:1::15", 128, NULL, NULL);
	assert_int_equal(dps_pol_check(&p, f.b, f.len), DPS_POL_OK);
	icmp6(&f, "2001:db8:1::16", 128, NULL, NULL);
	assert_int_equal(dps_pol_check(&p, f.b, f.len), DPS_POL_IP);
	assert_int_equal(dps_pol_check(&free_ip, f.b, f.len), DPS_POL_OK);

	/* past extension headers: MLD from :: (a guest's first report, during
	 * its DAD) behind its Hop-by-Hop header passes; an RA, a forged NA,
	 * an echo from :: or a DHCPv6 server's reply behind them does not */
	icmp6(&f, "::", 143, NULL, NULL);
	ext6(&f, 0, 1);
	assert_int_equal(dps_pol_check(&p, f.b, f.len), DPS_POL_OK);
	icmp6(&f, ll, 134, NULL, NULL);
	ext6(&f, 0, 1);
	assert_int_equal(dps_pol_check(&p, f.b, f.len), DPS_POL_FORBIDDEN);
	icmp6(&f, ll, 134, NULL, NULL);
	ext6(&f, 60, 2);
	ext6(&f, 51, 1);
	ext6(&f, 0, 1);
	assert_int_equal(dps_pol_check(&free_ip, f.b, f.len), DPS_POL_FORBIDDEN);
	icmp6(&f, ll, 136, "2001:db8:1::99", NULL);
	ext6(&f, 60, 1);
	assert_int_equal(dps_pol_check(&p, f.b, f.len), DPS_POL_ND);
	icmp6(&f, "::", 128, NULL, NULL);
	ext6(&f, 0, 1);
	assert_int_equal(dps_pol_check(&p, f.b, f.len), DPS_POL_IP);
	icmp6(&f, ll, 128, NULL, NULL);
	ext6(&f, 0, 1);
	f.b[14 + 40] = 17; /* UDP from 547 */
	f.b[14 + 48] = 547 >> 8;
	f.b[14 + 49] = 547 & 0xff;
	assert_int_equal(dps_pol_check(&free_ip, f.b, f.len), DPS_POL_FORBIDDEN);
	/* too many of them, one longer than the frame, one cut short */
	icmp6(&f, ll, 134, NULL, NULL);
	ext6(&f, 60, 9);
	assert_int_equal(dps_pol_check(&p, f.b, f.len), DPS_POL_MALFORMED);
	icmp6(&f, ll, 128, NULL, NULL);
	ext6(&f, 0, 1);
	f.b[14 + 41] = 200;
	assert_int_equal(dps_pol_check(&p, f.b, f.len), DPS_POL_MALFORMED);
	f.b[14 + 41] = 0;
	f.len = 14 + 40 + 4;
	assert_int_equal(dps_pol_check(&p, f.b, f.len), DPS_POL_MALFORMED);

	eth(&f, me_mac, 0x8100); /* a VLAN tag, another ethertype */
	f.len = 60;
	assert_int_equal(dps_pol_check(&p, f.b, f.len), DPS_POL_MALFORMED);
	assert_int_equal(dps_pol_check(&off, f.b, f.len), DPS_POL_OK);
}

/* What netd's nft rules (antispoof.c) drop, dpswitch drops; what they let
 * through, it lets through (the cases an audit of the two found apart). */
static void test_policy_netd_parity(void **state)
{
	struct dps_policy p, nomac, nomac_ip;
	struct frame f;
	const char *ll = "fe80::216:3eff:fe00:5";
	static const uint8_t zero_mac[6];

	(void)state;
	policy(&p, "mac=" ME_MAC ",ip=203.0.113.15 2001:db8:1::15", true);
	policy(&nomac, "bridge=dps0", true);
	policy(&nomac_ip, "ip=2001:db8:1::15", true);
	eth(&f, me_mac, 0x86dd);

	/* a first fragment is judged by the upper-layer header it must
	 * hold (RFC 7112; netd's as_frag, then `icmpv6 type` and `udp
	 * sport`, which find it past the fragment header): an RA, a
	 * redirect or a DHCPv6 server's reply in one is forbidden */
	icmp6(&f, ll, 134, NULL, NULL);
	frag6(&f, 0, true);
	assert_int_equal(dps_pol_check(&p, f.b, f.len), DPS_POL_FORBIDDEN);
	assert_int_equal(dps_pol_check(&nomac, f.b, f.len), DPS_POL_FORBIDDEN);
	icmp6(&f, ll, 137, NULL, NULL);
	frag6(&f, 0, false); /* an atomic fragment (RFC 6946) */
	assert_int_equal(dps_pol_check(&p, f.b, f.len), DPS_POL_FORBIDDEN);
	udp6(&f, "2001:db8:1::15", 547, 546);
	frag6(&f, 0, true);
	assert_int_equal(dps_pol_check(&p, f.b, f.len), DPS_POL_FORBIDDEN);
	ext6(&f, 0, 1);
	assert_int_equal(dps_pol_check(&nomac, f.b, f.len), DPS_POL_FORBIDDEN);
	udp6(&f, ll, 547, 546); /* its source port alone is enough for nft */
	f.len = 14 + 40 + 2;
	assert_int_equal(dps_pol_check(&nomac, f.b, f.len), DPS_POL_FORBIDDEN);
	/* ... and one without it (the UDP header pushed into a later
	 * fragment by a destination options header) is refused */
	udp6(&f, "2001:db8:1::15", 547, 546);
	ext6(&f, 60, 1);
	frag6(&f, 0, true);
	f.len = 14 + 40 + 8 + 8;
	assert_int_equal(dps_pol_check(&p, f.b, f.len), DPS_POL_MALFORMED);
	/* own traffic in fragments passes: the first with its header, a
	 * later one by its source alone (not from ::) */
	udp6(&f, "2001:db8:1::15", 1000, 9);
	frag6(&f, 0, true);
	assert_int_equal(dps_pol_check(&p, f.b, f.len), DPS_POL_OK);
	udp6(&f, "2001:db8:1::15", 547, 546);
	frag6(&f, 1, false);
	assert_int_equal(dps_pol_check(&p, f.b, f.len), DPS_POL_OK);
	udp6(&f, "2001:db8:1::99", 1000, 9);
	frag6(&f, 1, false);
	assert_int_equal(dps_pol_check(&p, f.b, f.len), DPS_POL_IP);
	icmp6(&f, "::", 143, NULL, NULL);
	frag6(&f, 1, false);
	assert_int_equal(dps_pol_check(&p, f.b, f.len), DPS_POL_IP);
	/* a forged NA in a fragment: its target is still read */
	icmp6(&f, "fe80::2", 136, "2001:db8:1::99", NULL);
	frag6(&f, 0, false);
	assert_int_equal(dps_pol_check(&nomac_ip, f.b, f.len), DPS_POL_ND);

	/* ND from a vif with a MAC: no extension header (its options
	 * could hide in a later fragment; no stack adds one) and at most
	 * one option of 8 bytes, whose link-layer address is its MAC */
	icmp6(&f, ll, 136, ll, me_mac);
	ext6(&f, 60, 1);
	assert_int_equal(dps_pol_check(&p, f.b, f.len), DPS_POL_ND);
	icmp6(&f, ll, 136, ll, me_mac);
	frag6(&f, 0, false);
	assert_int_equal(dps_pol_check(&p, f.b, f.len), DPS_POL_ND);
	icmp6(&f, ll, 135, "2001:db8:1::1", NULL); /* SLLA of length 2: another's MAC */
	f.b[14 + 40 + 24] = 1;
	f.b[14 + 40 + 25] = 2;
	memcpy(f.b + 14 + 40 + 26, other_mac, 6);
	f.len += 16;
	assert_int_equal(dps_pol_check(&p, f.b, f.len), DPS_POL_ND);
	f.b[14 + 40 + 24] = 14; /* a nonce of 14 bytes: a second option's room */
	assert_int_equal(dps_pol_check(&p, f.b, f.len), DPS_POL_ND);
	f.b[14 + 40 + 25] = 1; /* one of 6: what DAD sends */
	f.len -= 8;
	assert_int_equal(dps_pol_check(&p, f.b, f.len), DPS_POL_OK);
	/* without mac=, options are not looked at (two of them here) */
	icmp6(&f, "fe80::2", 135, "2001:db8:1::1", other_mac);
	f.b[14 + 40 + 32] = 14;
	f.b[14 + 40 + 33] = 1;
	f.len += 8;
	assert_int_equal(dps_pol_check(&nomac_ip, f.b, f.len), DPS_POL_OK);
	assert_int_equal(dps_pol_check(&p, f.b, f.len), DPS_POL_IP);

	/* without mac= but with ip=: another link-local address only for
	 * RS, NS, NA, MLD reports and DHCPv6 requests, as netd's as_ip6 */
	icmp6(&f, "fe80::2", 133, NULL, NULL);
	assert_int_equal(dps_pol_check(&nomac_ip, f.b, f.len), DPS_POL_OK);
	icmp6(&f, "fe80::2", 143, NULL, NULL);
	ext6(&f, 0, 1);
	assert_int_equal(dps_pol_check(&nomac_ip, f.b, f.len), DPS_POL_OK);
	udp6(&f, "fe80::2", 546, 547);
	assert_int_equal(dps_pol_check(&nomac_ip, f.b, f.len), DPS_POL_OK);
	udp6(&f, "fe80::2", 1000, 9);
	assert_int_equal(dps_pol_check(&nomac_ip, f.b, f.len), DPS_POL_IP);
	assert_int_equal(dps_pol_check(&nomac, f.b, f.len), DPS_POL_OK); /* no ip=: any */
	icmp6(&f, "fe80::2", 128, NULL, NULL);
	assert_int_equal(dps_pol_check(&nomac_ip, f.b, f.len), DPS_POL_IP);
	icmp6(&f, "fe80::2", 130, NULL, NULL); /* an MLD query */
	assert_int_equal(dps_pol_check(&nomac_ip, f.b, f.len), DPS_POL_IP);
	icmp6(&f, "2001:db8:1::15", 128, NULL, NULL);
	assert_int_equal(dps_pol_check(&nomac_ip, f.b, f.len), DPS_POL_OK);

	/* from :: no MLD query (it would win the querier election) */
	icmp6(&f, "::", 130, NULL, NULL);
	ext6(&f, 0, 1);
	assert_int_equal(dps_pol_check(&p, f.b, f.len), DPS_POL_IP);

	/* stricter than netd on purpose: 802.1Q and 802.1ad tags (double
	 * ones start with either) never pass, not even from a vif without
	 * ip=, whose other ethertypes netd's bridge table lets through (and
	 * with them a tagged RA into the LAN's VLANs) */
	eth(&f, me_mac, 0x88a8);
	f.len = 60;
	assert_int_equal(dps_pol_check(&p, f.b, f.len), DPS_POL_MALFORMED);
	assert_int_equal(dps_pol_check(&nomac, f.b, f.len), DPS_POL_MALFORMED);
	eth(&f, me_mac, 0x8100);
	f.len = 60;
	assert_int_equal(dps_pol_check(&nomac, f.b, f.len), DPS_POL_MALFORMED);

	/* the all-zero MAC is no station's: the Linux bridge drops it
	 * before netd's rules see it */
	eth(&f, zero_mac, 0x0800);
	ipv4(&f, "203.0.113.15", 17, 1000, 9);
	assert_int_equal(dps_pol_check(&nomac, f.b, f.len), DPS_POL_MAC);
}

/* Dom0's addresses (port-add's "gw"): never a source, ARP sender or ND
 * target of a guest, with or without ip= and mac=. */
static void test_policy_gw(void **state)
{
	/* a link-local of Dom0's among them, which ip= would refuse */
	const char *gw = " 203.0.113.254  2001:db8:1::fe fe80::1";
	struct dps_policy free_ip, nomac;
	char many[(DPS_POL_GW_MAX + 1) * 16] = "";
	struct frame f;
	const char *ll = "fe80::216:3eff:fe00:5";

	(void)state;
	policy(&free_ip, "mac=" ME_MAC, true);
	policy(&nomac, "bridge=dps0", true);
	assert_int_equal(dps_pol_parse_gw(&free_ip, gw), 0);
	assert_int_equal(dps_pol_parse_gw(&nomac, gw), 0);
	assert_int_equal(free_ip.ngw4, 1);
	assert_int_equal(free_ip.ngw6, 2);

	eth(&f, me_mac, 0x0800);
	ipv4(&f, "203.0.113.254", 17, 1000, 9);
	assert_int_equal(dps_pol_check(&free_ip, f.b, f.len), DPS_POL_IP);
	ipv4(&f, "203.0.113.77", 17, 1000, 9);
	assert_int_equal(dps_pol_check(&free_ip, f.b, f.len), DPS_POL_OK);
	eth(&f, me_mac, 0x0806);
	arp(&f, me_mac, "203.0.113.254");
	assert_int_equal(dps_pol_check(&free_ip, f.b, f.len), DPS_POL_ARP);
	assert_int_equal(dps_pol_check(&nomac, f.b, f.len), DPS_POL_ARP);
	arp(&f, me_mac, "203.0.113.77");
	assert_int_equal(dps_pol_check(&free_ip, f.b, f.len), DPS_POL_OK);
	eth(&f, me_mac, 0x86dd);
	icmp6(&f, ll, 136, "2001:db8:1::fe", NULL);
	assert_int_equal(dps_pol_check(&free_ip, f.b, f.len), DPS_POL_ND);
	icmp6(&f, "2001:db8:1::fe", 128, NULL, NULL);
	assert_int_equal(dps_pol_check(&free_ip, f.b, f.len), DPS_POL_IP);
	/* without mac= any link-local, but not Dom0's */
	icmp6(&f, "fe80::1", 128, NULL, NULL);
	assert_int_equal(dps_pol_check(&nomac, f.b, f.len), DPS_POL_IP);
	icmp6(&f, "fe80::2", 128, NULL, NULL);
	assert_int_equal(dps_pol_check(&nomac, f.b, f.len), DPS_POL_OK);
	icmp6(&f, "fe80::2", 136, "fe80::1", NULL);
	assert_int_equal(dps_pol_check(&nomac, f.b, f.len), DPS_POL_ND);

	/* a refused list leaves the policy as it was */
	for (unsigned i = 0; i <= DPS_POL_GW_MAX; i++)
		snprintf(many + strlen(many), sizeof(many) - strlen(many), " 192.0.2.%u", i);
	assert_int_equal(dps_pol_parse_gw(&free_ip, many), -E2BIG);
	assert_string_equal(err_msg(), "more than 64 IPv4 addresses");
	assert_int_equal(dps_pol_parse_gw(&free_ip, "203.0.113.254 fe80::1%eth0"), -EINVAL);
	assert_string_equal(err_msg(), "'fe80::1%eth0': not an address");
	assert_int_equal(dps_pol_parse_gw(&free_ip, "2001:db8:0:0:0:0:0:0:1"), -EINVAL);
	assert_int_equal(free_ip.ngw4, 1);
	assert_int_equal(free_ip.ngw6, 2);
	icmp6(&f, "2001:db8:1::fe", 128, NULL, NULL);
	assert_int_equal(dps_pol_check(&free_ip, f.b, f.len), DPS_POL_IP);
	*strrchr(many, ' ') = '\0'; /* the 64 before the 65th */
	assert_int_equal(dps_pol_parse_gw(&free_ip, many), 0);
	assert_int_equal(free_ip.ngw4, 64);
	assert_int_equal(free_ip.ngw6, 0);
}

/* Every frame cut at every length: never a read past it (ASan), and
 * never a pass for a frame too short to hold what was checked. */
static void test_policy_truncated(void **state)
{
	struct dps_policy p;
	struct frame f[4];
	/* what each needs whole: the UDP ports, the ARP body, the NA's
	 * target, the RS's reserved word (an option cut off whole is none) */
	const uint32_t need[4] = { 14 + 20 + 4, 14 + 28, 14 + 40 + 24, 14 + 40 + 8 };
	const char *ll = "fe80::216:3eff:fe00:5";

	policy(&p, "mac=" ME_MAC ",ip=203.0.113.15", true);
	eth(&f[0], me_mac, 0x0800);
	ipv4(&f[0], "203.0.113.15", 17, 1000, 9);
	eth(&f[1], me_mac, 0x0806);
	arp(&f[1], me_mac, "203.0.113.15");
	eth(&f[2], me_mac, 0x86dd);
	icmp6(&f[2], ll, 136, ll, me_mac);
	eth(&f[3], me_mac, 0x86dd);
	icmp6(&f[3], ll, 133, NULL, me_mac);
	for (unsigned k = 0; k < 4; k++) {
		assert_int_equal(dps_pol_check(&p, f[k].b, f[k].len), DPS_POL_OK);
		for (uint32_t len = 0; len < f[k].len; len++) {
			uint8_t *copy = malloc(len ? len : 1);

			memcpy(copy, f[k].b, len);
			if (dps_pol_check(&p, copy, len) != DPS_POL_OK)
				;
			else if (k == 0)
				assert_true(len >= need[k]);
			else /* ND: without its option, never with part of one */
				assert_int_equal(len, need[k]);
			free(copy);
		}
	}
}

/* ---- GSO ---- */

static uint32_t csum_acc(const uint8_t *p, size_t n, uint32_t sum)
{
	size_t i;

	for (i = 0; i + 1 < n; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (i < n)
		sum += (uint32_t)p[i] << 8;
	return sum;
}

static uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

/* A 3000-byte TCP payload at MSS 1000 (and 1400: a short last frame):
 * frames of headers + MSS, sequence numbers advancing by the MSS, FIN
 * and PSH on the last only, IPv4 ids counting up, every IPv4 header
 * checksum and every TCP checksum whole (summing to 0xffff). */
static void gso_case(bool v6, uint16_t mss)
{
	static uint8_t pkt[4096], out[8192];
	uint32_t l3 = 14, l4 = v6 ? 54 : 34, hdr = l4 + 20, payload = 3000, len[16];
	unsigned n, want = (payload + mss - 1) / mss;

	memset(pkt, 0, sizeof(pkt));
	memcpy(pkt + 6, me_mac, 6);
	pkt[12] = v6 ? 0x86 : 0x08;
	pkt[13] = v6 ? 0xdd : 0x00;
	if (v6) {
		pkt[l3] = 0x60;
		pkt[l3 + 6] = 6;
		inet_pton(AF_INET6, "2001:db8:1::15", pkt + l3 + 8);
		inet_pton(AF_INET6, "2001:db8:1::1", pkt + l3 + 24);
	} else {
		pkt[l3] = 0x45;
		pkt[l3 + 4] = 0x12; /* id 0x1234 */
		pkt[l3 + 5] = 0x34;
		pkt[l3 + 9] = 6;
		inet_pton(AF_INET, "203.0.113.15", pkt + l3 + 12);
		inet_pton(AF_INET, "203.0.113.1", pkt + l3 + 16);
	}
	pkt[l4 + 4] = 0x10; /* seq 0x10000000 */
	pkt[l4 + 12] = 5 << 4;
	pkt[l4 + 13] = 0x19; /* ACK, PSH, FIN */
	for (uint32_t i = 0; i < payload; i++)
		pkt[hdr + i] = (uint8_t)(i * 7);
	assert_int_equal(dps_gso_segment(pkt, hdr + payload,
					 v6 ? XEN_NETIF_GSO_TYPE_TCPV6 : XEN_NETIF_GSO_TYPE_TCPV4,
					 mss, out, sizeof(out), len, 16, &n), 0);
	assert_int_equal(n, want);
	for (unsigned i = 0, off = 0; i < n; off += len[i], i++) {
		const uint8_t *f = out + off, *tcp = f + l4;
		uint32_t chunk = i + 1 < n ? mss : payload - i * mss, tcp_len = 20 + chunk;
		uint32_t seq = (uint32_t)tcp[4] << 24 | (uint32_t)tcp[5] << 16 | tcp[6] << 8 | tcp[7];
		uint32_t ps;

		assert_int_equal(len[i], hdr + chunk);
		assert_int_equal(seq, 0x10000000u + i * mss);
		assert_int_equal(tcp[13], i + 1 < n ? 0x10 : 0x19);
		assert_memory_equal(f + hdr, pkt + hdr + i * mss, chunk);
		if (v6) {
			assert_int_equal(f[l3 + 4] << 8 | f[l3 + 5], tcp_len);
			ps = csum_acc(f + l3 + 8, 32, 6 + tcp_len);
		} else {
			assert_int_equal(f[l3 + 2] << 8 | f[l3 + 3], 20 + tcp_len);
			assert_int_equal(f[l3 + 4] << 8 | f[l3 + 5], 0x1234 + i);
			assert_int_equal(csum_fold(csum_acc(f + l3, 20, 0)), 0xffff);
			ps = csum_acc(f + l3 + 12, 8, 6 + tcp_len);
		}
		assert_int_equal(csum_fold(csum_acc(tcp, tcp_len, ps)), 0xffff);
	}
	/* refused: MSS 0, the wrong family, too many frames, too little room */
	assert_int_equal(dps_gso_segment(pkt, hdr + payload, XEN_NETIF_GSO_TYPE_TCPV4, 0, out,
					 sizeof(out), len, 16, &n), -EINVAL);
	assert_int_equal(dps_gso_segment(pkt, hdr + payload,
					 v6 ? XEN_NETIF_GSO_TYPE_TCPV4 : XEN_NETIF_GSO_TYPE_TCPV6,
					 mss, out, sizeof(out), len, 16, &n), -EINVAL);
	assert_int_equal(dps_gso_segment(pkt, hdr + payload,
					 v6 ? XEN_NETIF_GSO_TYPE_TCPV6 : XEN_NETIF_GSO_TYPE_TCPV4,
					 1, out, sizeof(out), len, 16, &n), -EINVAL);
	assert_int_equal(dps_gso_segment(pkt, hdr + payload,
					 v6 ? XEN_NETIF_GSO_TYPE_TCPV6 : XEN_NETIF_GSO_TYPE_TCPV4,
					 mss, out, 100, len, 16, &n), -ENOSPC);
	/* cut short anywhere: refused or segmented within what there is (ASan) */
	for (uint32_t cut = 0; cut < hdr + 1; cut++) {
		uint8_t *copy = malloc(cut ? cut : 1);

		memcpy(copy, pkt, cut);
		if (dps_gso_segment(copy, cut, v6 ? XEN_NETIF_GSO_TYPE_TCPV6 : XEN_NETIF_GSO_TYPE_TCPV4,
				    mss, out, sizeof(out), len, 16, &n) == 0)
			assert_true(cut >= hdr);
		free(copy);
	}
}

/* The kernel's UDP GSO (DPS_GSO_UDP_L4), behind a VLAN tag or not: 3000
 * bytes at 1000 and 1400 make datagrams of gso_size (the last short), the
 * data in order, each with its UDP length, IP length, IPv4 ids counting up
 * and a whole header checksum, a whole UDP checksum. Refused: gso_size 0,
 * one not smaller than the payload (no GSO packet: the kernel's rule), TCP
 * headers, the UDP header cut short. */
static void udp_gso_case(bool v6, bool vlan, uint16_t mss)
{
	static uint8_t pkt[4096], out[8192];
	uint32_t l3 = vlan ? 18 : 14, l4 = l3 + (v6 ? 40 : 20), hdr = l4 + 8, payload = 3000;
	uint32_t len[16];
	unsigned n, want = (payload + mss - 1) / mss;

	memset(pkt, 0, sizeof(pkt));
	memcpy(pkt + 6, me_mac, 6);
	if (vlan) {
		pkt[12] = 0x81;
		pkt[15] = 7;
	}
	pkt[l3 - 2] = v6 ? 0x86 : 0x08;
	pkt[l3 - 1] = v6 ? 0xdd : 0x00;
	if (v6) {
		pkt[l3] = 0x60;
		pkt[l3 + 6] = 17;
		inet_pton(AF_INET6, "2001:db8:1::1", pkt + l3 + 8);
		inet_pton(AF_INET6, "2001:db8:1::15", pkt + l3 + 24);
	} else {
		pkt[l3] = 0x45;
		pkt[l3 + 4] = 0xff; /* id 0xfffe: it wraps */
		pkt[l3 + 5] = 0xfe;
		pkt[l3 + 9] = 17;
		inet_pton(AF_INET, "203.0.113.1", pkt + l3 + 12);
		inet_pton(AF_INET, "203.0.113.15", pkt + l3 + 16);
	}
	pkt[l4] = 0x13; /* ports 0x1389 -> 0x138d, a partial checksum's junk */
	pkt[l4 + 1] = 0x89;
	pkt[l4 + 2] = 0x13;
	pkt[l4 + 3] = 0x8d;
	pkt[l4 + 6] = 0xab;
	for (uint32_t i = 0; i < payload; i++)
		pkt[hdr + i] = (uint8_t)(i * 7);
	assert_int_equal(dps_gso_segment(pkt, hdr + payload, DPS_GSO_UDP_L4, mss, out, sizeof(out),
					 len, 16, &n), 0);
	assert_int_equal(n, want);
	for (unsigned i = 0, off = 0; i < n; off += len[i], i++) {
		const uint8_t *f = out + off, *udp = f + l4;
		uint32_t chunk = i + 1 < n ? mss : payload - i * mss, udp_len = 8 + chunk, ps;

		assert_int_equal(len[i], hdr + chunk);
		assert_memory_equal(f, pkt, l3); /* Ethernet, tag */
		assert_int_equal(udp[4] << 8 | udp[5], udp_len);
		assert_memory_equal(udp, pkt + l4, 4);
		assert_memory_equal(f + hdr, pkt + hdr + i * mss, chunk);
		assert_int_not_equal(udp[6] << 8 | udp[7], 0);
		if (v6) {
			assert_int_equal(f[l3 + 4] << 8 | f[l3 + 5], udp_len);
			ps = csum_acc(f + l3 + 8, 32, 17 + udp_len);
		} else {
			assert_int_equal(f[l3 + 2] << 8 | f[l3 + 3], 20 + udp_len);
			assert_int_equal(f[l3 + 4] << 8 | f[l3 + 5], (0xfffe + i) & 0xffff);
			assert_int_equal(csum_fold(csum_acc(f + l3, 20, 0)), 0xffff);
			ps = csum_acc(f + l3 + 12, 8, 17 + udp_len);
		}
		assert_int_equal(csum_fold(csum_acc(udp, udp_len, ps)), 0xffff);
	}
	assert_int_equal(dps_gso_segment(pkt, hdr + payload, DPS_GSO_UDP_L4, 0, out, sizeof(out),
					 len, 16, &n), -EINVAL);
	assert_int_equal(dps_gso_segment(pkt, hdr + payload, DPS_GSO_UDP_L4, 3000, out,
					 sizeof(out), len, 16, &n), -EINVAL);
	assert_int_equal(dps_gso_segment(pkt, hdr + payload, DPS_GSO_UDP_L4, 60000, out,
					 sizeof(out), len, 16, &n), -EINVAL);
	assert_int_equal(dps_gso_segment(pkt, hdr + payload, DPS_GSO_UDP_L4, 100, out,
					 sizeof(out), len, 16, &n), -EINVAL); /* 30 > 16 frames */
	pkt[v6 ? l3 + 6 : l3 + 9] = 6;
	assert_int_equal(dps_gso_segment(pkt, hdr + payload, DPS_GSO_UDP_L4, mss, out, sizeof(out),
					 len, 16, &n), -EINVAL);
	pkt[v6 ? l3 + 6 : l3 + 9] = 17;
	for (uint32_t cut = 0; cut < hdr + 1; cut++) {
		uint8_t *copy = malloc(cut ? cut : 1);

		memcpy(copy, pkt, cut);
		assert_int_equal(dps_gso_segment(copy, cut, DPS_GSO_UDP_L4, mss, out, sizeof(out),
						 len, 16, &n), -EINVAL);
		free(copy);
	}
}

static void test_gso(void **state)
{
	gso_case(false, 1000);
	gso_case(false, 1400);
	gso_case(true, 1000);
	gso_case(true, 1448);
	udp_gso_case(false, false, 1000);
	udp_gso_case(false, true, 1400);
	udp_gso_case(true, false, 1000);
	udp_gso_case(true, true, 1400);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mac_learn_lookup_age),
		cmocka_unit_test(test_mac_move_and_port_gone),
		cmocka_unit_test(test_mac_many),
		cmocka_unit_test(test_policy_rules),
		cmocka_unit_test(test_policy_netd_parity),
		cmocka_unit_test(test_policy_gw),
		cmocka_unit_test(test_policy_truncated),
		cmocka_unit_test(test_gso),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
