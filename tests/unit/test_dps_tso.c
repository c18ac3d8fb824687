/* Unit tests for dpswitch's TSO hand-off (dpswitch/tso.c, tso_mbuf.h):
 * a guest's GSO packet parsed (gso.c's dps_gso_parse), which ports take
 * it whole and which cases are cut in software or refused (a hostile
 * guest's metadata: MSS 0 or tiny, a GSO type that is not the headers',
 * headers past the packet, an IP length that is not the packet's), the
 * headers as DPDK's TSO wants them, and, where DPDK's headers are there,
 * the mbuf's offload fields for IPv4 and IPv6, with the pseudo-header sum
 * checked against DPDK's own rte_ipv4/ipv6_phdr_cksum. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <xen/io/netif.h>

#include "dpswitch/gso.h"
#include "dpswitch/tso.h"
#include "tests/unit/tcp_pkt.h"
#ifdef NETD_TEST_DPDK
#include <rte_ip.h>

#include "dpswitch/tso_mbuf.h"
#endif

static const struct dps_tso_caps nic = { .v4 = true, .v6 = true, .mtu = 1500, .max_segs = 128 };

static uint8_t pkt[65536 + 64];

static void test_parse_and_fits(void **state)
{
	struct dps_gso_hdr h;
	uint32_t len;

	for (int v6 = 0; v6 < 2; v6++) {
		uint8_t type = v6 ? XEN_NETIF_GSO_TYPE_TCPV6 : XEN_NETIF_GSO_TYPE_TCPV4;
		/* an MTU of 1500 less IP, TCP and timestamps */
		uint16_t mss = v6 ? 1428 : 1448;

		len = tcp_pkt_build(pkt, v6, false, 60000);
		assert_int_equal(dps_gso_parse(pkt, len, type, mss, &h), 0);
		assert_int_equal(h.l2_len, 14);
		assert_int_equal(h.l3_len, v6 ? 40 : 20);
		assert_int_equal(h.l4_len, 32);
		assert_int_equal(h.v6, v6);
		assert_int_equal(h.payload, 60000);
		assert_int_equal(h.nseg, (60000u + mss - 1) / mss);
		assert_true(h.lens_ok);
		assert_true(dps_tso_fits(&nic, &h, mss, 32));
		/* the other family's port, a port without TSO */
		assert_false(dps_tso_fits(&(struct dps_tso_caps){ .v4 = v6, .v6 = !v6, .mtu = 1500,
								  .max_segs = 128 },
					  &h, mss, 32));
		assert_false(dps_tso_fits(&(struct dps_tso_caps){ 0 }, &h, mss, 32));
		/* a segment over the MTU; with the Ethernet header counted
		 * (net_tap), mss + 52 + 14 is over 1500 */
		assert_false(dps_tso_fits(&nic, &h, (uint16_t)(1500 - h.l3_len - 32 + 1), 32));
		assert_true(dps_tso_fits(&nic, &h, (uint16_t)(1500 - h.l3_len - 32), 32));
		assert_false(dps_tso_fits(&(struct dps_tso_caps){ .v4 = true, .v6 = true, .mtu = 1500,
								  .mtu_has_l2 = true, .max_segs = 128 },
					  &h, (uint16_t)(1500 - h.l3_len - 32), 32));
		/* more segments than the port takes, more mbufs than it chains */
		assert_false(dps_tso_fits(&(struct dps_tso_caps){ .v4 = true, .v6 = true, .mtu = 1500,
								  .max_segs = h.nseg - 1 },
					  &h, mss, 32));
		assert_false(dps_tso_fits(&(struct dps_tso_caps){ .v4 = true, .v6 = true, .mtu = 1500,
								  .max_segs = 128, .max_chain = 31 },
					  &h, mss, 32));

		/* hostile metadata */
		/* MSS 0: nothing can be made of it */
		assert_int_equal(dps_gso_parse(pkt, len, type, 0, &h), -EINVAL);
		/* a tiny MSS: never to a NIC (cut in software, where more than
		 * 128 frames is refused) */
		assert_int_equal(dps_gso_parse(pkt, len, type, 1, &h), 0);
		assert_false(dps_tso_fits(&nic, &h, 1, 32));
		assert_false(dps_tso_fits(&nic, &h, DPS_TSO_MIN_MSS - 1, 32));
		assert_int_equal(dps_gso_parse(pkt, len, type, DPS_TSO_MIN_MSS - 1, &h), 0);
		assert_true(h.nseg > 128);
		/* the other family's GSO type, or no TCP GSO type at all */
		assert_int_equal(dps_gso_parse(pkt, len,
					       v6 ? XEN_NETIF_GSO_TYPE_TCPV4 : XEN_NETIF_GSO_TYPE_TCPV6,
					       1448, &h),
				 -EINVAL);
		assert_int_equal(dps_gso_parse(pkt, len, 7, 1448, &h), -EINVAL);
		/* headers that end past the packet (a TCP data offset of 15) */
		len = tcp_pkt_build(pkt, v6, false, 0);
		pkt[len - 32 + 12] = 15 << 4;
		assert_int_equal(dps_gso_parse(pkt, len, type, 1448, &h), -EINVAL);
		/* an IP length that is not the packet's (claims more than
		 * there is, or less): never whole to a NIC */
		len = tcp_pkt_build(pkt, v6, false, 30000);
		pkt[v6 ? 18 : 16] ^= 0x40;
		assert_int_equal(dps_gso_parse(pkt, len, type, 1448, &h), 0);
		assert_false(h.lens_ok);
		assert_false(dps_tso_fits(&nic, &h, 1448, 16));
		/* one segment's worth: a frame, not a TSO packet */
		len = tcp_pkt_build(pkt, v6, false, 1000);
		assert_int_equal(dps_gso_parse(pkt, len, type, 1448, &h), 0);
		assert_false(dps_tso_fits(&nic, &h, 1448, 1));
		/* cut short anywhere: refused, or parsed within what is there */
		len = tcp_pkt_build(pkt, v6, true, 100);
		for (uint32_t cut = 0; cut < len; cut++)
			if (dps_gso_parse(pkt, cut, type, 64, &h) == 0)
				assert_true((uint32_t)h.l2_len + h.l3_len + h.l4_len <= cut);
	}
	/* a VLAN tag is part of l2_len */
	len = tcp_pkt_build(pkt, false, true, 5000);
	assert_int_equal(dps_gso_parse(pkt, len, XEN_NETIF_GSO_TYPE_TCPV4, 1448, &h), 0);
	assert_int_equal(h.l2_len, 18);
	assert_true(h.lens_ok);
}

static uint16_t sum16(const uint8_t *p, size_t n, uint32_t sum)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

static void headers_case(bool v6)
{
	struct dps_gso_hdr h;
	uint32_t len = tcp_pkt_build(pkt, v6, false, 20000);
	uint8_t *ip = pkt + 14, *tcp = ip + (v6 ? 40 : 20);
	uint16_t want = v6 ? sum16(ip + 8, 32, 6) : sum16(ip + 12, 8, 6);

	assert_int_equal(dps_gso_parse(pkt, len,
				       v6 ? XEN_NETIF_GSO_TYPE_TCPV6 : XEN_NETIF_GSO_TYPE_TCPV4,
				       1448, &h),
			 0);
	dps_tso_headers(pkt, &h);
	/* the pseudo-header's sum without a length, not inverted */
	assert_int_equal(tcp[16] << 8 | tcp[17], want);
	if (!v6)
		assert_int_equal(ip[10] << 8 | ip[11], 0);
	/* nothing else moved */
	assert_int_equal(tcp[13], 0x18);
	assert_int_equal(pkt[len - 1], (uint8_t)(20000 - 1));
#ifdef NETD_TEST_DPDK
	{
		struct rte_mbuf m;
		uint64_t fl;

		memset(&m, 0, sizeof(m));
		m.ol_flags = RTE_MBUF_F_TX_UDP_CKSUM | RTE_MBUF_F_TX_VLAN; /* stale L4, kept VLAN */
		dps_tso_mbuf(&m, &h, 1448);
		fl = m.ol_flags;
		assert_true(fl & RTE_MBUF_F_TX_TCP_SEG);
		assert_true(fl & RTE_MBUF_F_TX_VLAN);
		assert_int_equal(fl & RTE_MBUF_F_TX_L4_MASK, 0);
		if (v6) {
			assert_true(fl & RTE_MBUF_F_TX_IPV6);
			assert_false(fl & (RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM));
		} else {
			assert_true(fl & RTE_MBUF_F_TX_IPV4);
			assert_true(fl & RTE_MBUF_F_TX_IP_CKSUM);
			assert_false(fl & RTE_MBUF_F_TX_IPV6);
		}
		assert_int_equal(m.l2_len, 14);
		assert_int_equal(m.l3_len, v6 ? 40 : 20);
		assert_int_equal(m.l4_len, 32);
		assert_int_equal(m.tso_segsz, 1448);
		/* DPDK's own pseudo-header sum for a TSO packet: the same
		 * (both in network order in the field) */
		if (v6)
			assert_int_equal(rte_ipv6_phdr_cksum((const struct rte_ipv6_hdr *)ip, fl),
					 (uint16_t)(tcp[17] << 8 | tcp[16]));
		else
			assert_int_equal(rte_ipv4_phdr_cksum((const struct rte_ipv4_hdr *)ip, fl),
					 (uint16_t)(tcp[17] << 8 | tcp[16]));
	}
#endif
}

static void test_headers_and_mbuf_v4(void **state)
{
	headers_case(false);
}

static void test_headers_and_mbuf_v6(void **state)
{
	headers_case(true);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_and_fits),
		cmocka_unit_test(test_headers_and_mbuf_v4),
		cmocka_unit_test(test_headers_and_mbuf_v6),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
