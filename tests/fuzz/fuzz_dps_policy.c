/* libFuzzer harness for dpswitch's anti-spoofing policy (dpswitch/policy.c),
 * which reads every frame a guest puts on its TX ring: the first input byte
 * picks the port's policy (mac= or not, ip= or not, Dom0's addresses or
 * not, guarded or not), the rest is the frame. Besides the sanitizers
 * (a read past the frame) it checks the policy's promises on what passes:
 * its own source MAC, IP, ARP or IPv6 only, never an RA, a redirect or a
 * DHCP server's reply where they sit right after the IP header or a first
 * fragment's header.
 *
 * The policy's source is included, not linked: only this translation unit
 * is built with -fsanitize=fuzzer, and the fuzzer needs its coverage. */
#include "dpswitch/policy.c"

#include <arpa/inet.h>
#include <stdint.h>
#include <string.h>

#include "vif/vif.h"

#include "tests/fuzz/fuzz_check.h"

static const uint8_t me[6] = { 0x00, 0x16, 0x3e, 0, 0, 5 };

static void make(struct dps_policy *p, unsigned sel)
{
	static const char *const spec[4] = {
		"bridge=dps0",
		"mac=00:16:3e:00:00:05",
		"ip=203.0.113.15 2001:db8:1::15",
		"mac=00:16:3e:00:00:05,ip=203.0.113.15 2001:db8:1::15",
	};
	struct vif v;

	vif_init(&v, 5, 0);
	CHECK(vif_parse_spec(&v, spec[sel & 3]) == 0);
	dps_pol_from_vif(p, &v, !(sel & 8));
	if (sel & 4) {
		CHECK(dps_pol_parse_gw(p, "203.0.113.254 2001:db8:1::fe fe80::1") == 0);
	}
}

/* The ICMP or ICMPv6 type or UDP source port at l4 must not be one no
 * guest sends: a redirect, an RA, a DHCP (v6: DHCPv6) server's reply. */
static void check_l4(bool v6, uint8_t proto, const uint8_t *l4, size_t left)
{
	if (!v6 && proto == 1 && left >= 1)
		CHECK(l4[0] != 5);
	if (v6 && proto == 58 && left >= 1)
		CHECK(l4[0] != 134 && l4[0] != 137);
	if (proto == 17 && left >= 2)
		CHECK(be16(l4) != (v6 ? 547 : 67));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct dps_policy pol[16];
	static int made;
	const struct dps_policy *p;
	const uint8_t *f;
	enum dps_verdict v;
	size_t len;

	if (!made) {
		for (unsigned i = 0; i < 16; i++)
			make(&pol[i], i);
		made = 1;
	}
	if (size < 1 || size - 1 > UINT32_MAX)
		return 0;
	p = &pol[data[0] & 15];
	f = data + 1;
	len = size - 1;
	v = dps_pol_check(p, f, (uint32_t)len);
	CHECK((unsigned)v < DPS_POL_COUNT);
	CHECK(strcmp(dps_pol_reason(v), "?"));
	if (!p->guard) {
		CHECK(v == DPS_POL_OK);
		return 0;
	}
	if (v != DPS_POL_OK)
		return 0;
	CHECK(len >= 14);
	CHECK(!(f[6] & 1));
	CHECK(!p->has_mac || !memcmp(f + 6, me, 6));
	switch (be16(f + 12)) {
	case ETH_P_IP:
		CHECK(len >= 34);
		if ((be16(f + 20) & 0x1fff) == 0 && (f[14] & 15) == 5)
			check_l4(false, f[23], f + 34, len - 34);
		break;
	case ETH_P_ARP:
		CHECK(len >= 42 && !memcmp(f + 22, f + 6, 6));
		break;
	case ETH_P_IPV6:
		CHECK(len >= 54);
		check_l4(true, f[20], f + 54, len - 54);
		/* a first fragment right after the IPv6 header */
		if (f[20] == 44 && len >= 62 && (be16(f + 56) & 0xfff8) == 0)
			check_l4(true, f[54], f + 62, len - 62);
		break;
	default:
		CHECK(0);
	}
	return 0;
}
