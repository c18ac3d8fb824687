/* Unit tests for the virtio-net headers of dpswitch's kernel ports
 * (dpswitch/vnet.c): a guest's GSO packet that goes whole to the kernel
 * (IPv4, IPv4 behind a VLAN tag, IPv6), its header fields and the TCP
 * checksum field a CHECKSUM_PARTIAL skb needs (checked by completing it as
 * the kernel would and verifying the result against the pseudo-header
 * with the length), the IPv4 header checksum TSO zeroed made whole again;
 * and what the kernel hands over: GSO types taken or refused, partial
 * checksums completed, a checksum place outside the frame refused (of a
 * GSO packet too). */
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
#include "dpswitch/vnet.h"
#include "tests/unit/tcp_pkt.h"

static uint32_t add(const uint8_t *p, uint32_t n, uint32_t sum)
{
	for (uint32_t i = 0; i < n; i++)
		sum += i & 1 ? p[i] : (uint32_t)p[i] << 8;
	return sum;
}

static uint16_t fold16(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

/* The TCP checksum of a whole segment verifies: the pseudo-header with
 * the length plus the segment sums to 0xffff. */
static bool tcp_ok(const uint8_t *pkt, uint32_t len, uint32_t l3, uint32_t l4, bool v6)
{
	uint32_t sum = add(pkt + l3 + (v6 ? 8 : 12), v6 ? 32 : 8, 6 + (len - l4));

	return fold16(add(pkt + l4, len - l4, sum)) == 0xffff;
}

static uint8_t pkt[65536 + 64];

static void test_tx_gso(void **state)
{
	static const struct {
		bool v6, vlan;
	} cases[] = { { false, false }, { false, true }, { true, false } };

	(void)state;
	for (unsigned c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		bool v6 = cases[c].v6;
		uint8_t type = v6 ? XEN_NETIF_GSO_TYPE_TCPV6 : XEN_NETIF_GSO_TYPE_TCPV4;
		uint32_t l3 = cases[c].vlan ? 18 : 14, l4 = l3 + (v6 ? 40 : 20);
		uint32_t len = tcp_pkt_build(pkt, v6, cases[c].vlan, 60001);
		struct virtio_net_hdr vh, rx = { 0 };
		struct dps_gso_hdr h;
		uint8_t field[2], got;

		assert_int_equal(dps_gso_parse(pkt, len, type, 1448, &h), 0);
		/* as dpswitch hands it over: TSO's headers first (no length
		 * in the pseudo-header sum, an IPv4 header checksum of 0) */
		dps_tso_headers(pkt, &h);
		dps_vnet_tx_gso(&vh, pkt, len, &h, 1448);
		assert_int_equal(vh.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
		assert_int_equal(vh.gso_type, v6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4);
		assert_int_equal(vh.gso_size, 1448);
		assert_int_equal(vh.hdr_len, l4 + 32);
		assert_int_equal(vh.csum_start, l4);
		assert_int_equal(vh.csum_offset, 16);
		/* the field is the pseudo-header's sum with the TCP length */
		assert_int_equal(pkt[l4 + 16] << 8 | pkt[l4 + 17],
				 fold16(add(pkt + l3 + (v6 ? 8 : 12), v6 ? 32 : 8, 6 + (len - l4))));
		/* an IPv4 header checksum that verifies */
		if (!v6)
			assert_int_equal(fold16(add(pkt + l3, 20, 0)), 0xffff);
		/* twice is as once (a frame sent again after EAGAIN) */
		memcpy(field, pkt + l4 + 16, 2);
		dps_vnet_tx_gso(&vh, pkt, len, &h, 1448);
		assert_memory_equal(field, pkt + l4 + 16, 2);
		/* completed as the kernel completes a CHECKSUM_PARTIAL packet
		 * sent as one segment, it is a valid TCP checksum */
		rx.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
		rx.csum_start = (uint16_t)l4;
		rx.csum_offset = 16;
		assert_int_equal(dps_vnet_rx(&rx, pkt, len, &got), 0);
		assert_true(tcp_ok(pkt, len, l3, l4, v6));
	}
}

static void test_rx(void **state)
{
	struct virtio_net_hdr vh = { 0 };
	uint8_t type = 0, copy[200];
	uint32_t len;

	(void)state;
	/* GSO packets: cut by gso.c (the ECN bit changes nothing) */
	len = tcp_pkt_build(pkt, false, false, 4000);
	vh.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
	vh.gso_size = 1448;
	assert_int_equal(dps_vnet_rx(&vh, pkt, len, &type), 1);
	assert_int_equal(type, XEN_NETIF_GSO_TYPE_TCPV4);
	vh.gso_type = VIRTIO_NET_HDR_GSO_TCPV4 | VIRTIO_NET_HDR_GSO_ECN;
	assert_int_equal(dps_vnet_rx(&vh, pkt, len, &type), 1);
	assert_int_equal(type, XEN_NETIF_GSO_TYPE_TCPV4);
	vh.gso_type = VIRTIO_NET_HDR_GSO_TCPV6;
	assert_int_equal(dps_vnet_rx(&vh, pkt, len, &type), 1);
	assert_int_equal(type, XEN_NETIF_GSO_TYPE_TCPV6);
	/* UDP fragmentation offload refused, UDP segmentation cut by gso.c,
	 * anything else refused */
	vh.gso_type = VIRTIO_NET_HDR_GSO_UDP;
	assert_int_equal(dps_vnet_rx(&vh, pkt, len, &type), -EINVAL);
	vh.gso_type = 5; /* VIRTIO_NET_HDR_GSO_UDP_L4 */
	assert_int_equal(dps_vnet_rx(&vh, pkt, len, &type), 1);
	assert_int_equal(type, DPS_GSO_UDP_L4);
	vh.gso_type = 7;
	assert_int_equal(dps_vnet_rx(&vh, pkt, len, &type), -EINVAL);
	/* a GSO packet's checksum place outside it: refused too */
	vh.gso_type = 5;
	vh.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	vh.csum_start = (uint16_t)(len - 1);
	vh.csum_offset = 6;
	assert_int_equal(dps_vnet_rx(&vh, pkt, len, &type), -EINVAL);

	/* a frame with a whole checksum: left as it is */
	memset(&vh, 0, sizeof(vh));
	len = tcp_pkt_build(pkt, true, false, 100);
	memcpy(copy, pkt, len);
	assert_int_equal(dps_vnet_rx(&vh, pkt, len, &type), 0);
	assert_memory_equal(copy, pkt, len);

	/* partial checksums (the pseudo-header's sum in the field, as a
	 * veth peer's stack leaves it): completed, IPv4 and IPv6 */
	for (int v6 = 0; v6 < 2; v6++) {
		uint32_t l4 = 14 + (v6 ? 40 : 20);
		uint16_t s;

		len = tcp_pkt_build(pkt, v6, false, 101);
		s = fold16(add(pkt + 14 + (v6 ? 8 : 12), v6 ? 32 : 8, 6 + (len - l4)));
		pkt[l4 + 16] = (uint8_t)(s >> 8);
		pkt[l4 + 17] = (uint8_t)s;
		assert_false(tcp_ok(pkt, len, 14, l4, v6));
		vh.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
		vh.csum_start = (uint16_t)l4;
		vh.csum_offset = 16;
		assert_int_equal(dps_vnet_rx(&vh, pkt, len, &type), 0);
		assert_true(tcp_ok(pkt, len, 14, l4, v6));
	}
	/* a checksum place outside the frame: refused, nothing written */
	memcpy(copy, pkt, len);
	vh.csum_start = (uint16_t)(len - 1);
	vh.csum_offset = 0;
	assert_int_equal(dps_vnet_rx(&vh, pkt, len, &type), -EINVAL);
	vh.csum_start = 14;
	vh.csum_offset = 0xffff;
	assert_int_equal(dps_vnet_rx(&vh, pkt, len, &type), -EINVAL);
	vh.csum_start = 0xffff;
	vh.csum_offset = 0xffff;
	assert_int_equal(dps_vnet_rx(&vh, pkt, len, &type), -EINVAL);
	assert_memory_equal(copy, pkt, len);
	/* right at the end: the last two bytes */
	vh.csum_start = (uint16_t)(len - 2);
	vh.csum_offset = 0;
	assert_int_equal(dps_vnet_rx(&vh, pkt, len, &type), 0);

	/* a checksum that comes to 0 goes as 0xffff, as the kernel's
	 * skb_checksum_help writes it: the same to a TCP receiver, but a UDP
	 * checksum of 0 means none (IPv4) or is invalid (IPv6) */
	memset(pkt, 0, 64);
	pkt[14] = 0xed;
	pkt[15] = 0xcb;
	pkt[20] = 0x12; /* the field: a pseudo-header sum of 0x1234 */
	pkt[21] = 0x34;
	vh.csum_start = 14;
	vh.csum_offset = 6;
	assert_int_equal(dps_vnet_rx(&vh, pkt, 64, &type), 0);
	assert_int_equal(pkt[20], 0xff);
	assert_int_equal(pkt[21], 0xff);
	assert_int_equal(fold16(add(pkt + 14, 50, 0x1234)), 0xffff);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tx_gso),
		cmocka_unit_test(test_rx),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
