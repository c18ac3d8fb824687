/* tcp_pkt: the guest GSO packet dpswitch's unit tests (test_dps_tso,
 * test_dps_vnet) feed its TSO hand-off and kernel ports. Header only: each
 * test binary includes it once. */
#ifndef TESTS_TCP_PKT_H
#define TESTS_TCP_PKT_H

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* Ethernet (with a VLAN tag if asked), IPv4 or IPv6, TCP with 12 bytes
 * of options, payload bytes of data; the IP length is the packet's, the
 * IPv4 header and TCP checksums stale (what is sent whole must replace
 * them). */
static uint32_t tcp_pkt_build(uint8_t *pkt, bool v6, bool vlan, uint32_t payload)
{
	uint32_t l3 = vlan ? 18 : 14, l4 = l3 + (v6 ? 40 : 20), len = l4 + 32 + payload;

	memset(pkt, 0, len);
	memset(pkt, 0x02, 12);
	if (vlan) {
		pkt[12] = 0x81;
		pkt[15] = 5;
	}
	pkt[l3 - 2] = v6 ? 0x86 : 0x08;
	pkt[l3 - 1] = v6 ? 0xdd : 0x00;
	if (v6) {
		pkt[l3] = 0x60;
		pkt[l3 + 4] = (uint8_t)((len - l3 - 40) >> 8);
		pkt[l3 + 5] = (uint8_t)(len - l3 - 40);
		pkt[l3 + 6] = 6;
		inet_pton(AF_INET6, "2001:db8:1::15", pkt + l3 + 8);
		inet_pton(AF_INET6, "2001:db8:1::1", pkt + l3 + 24);
	} else {
		pkt[l3] = 0x45;
		pkt[l3 + 2] = (uint8_t)((len - l3) >> 8);
		pkt[l3 + 3] = (uint8_t)(len - l3);
		pkt[l3 + 8] = 64;
		pkt[l3 + 9] = 6;
		pkt[l3 + 10] = 0xab;
		inet_pton(AF_INET, "203.0.113.15", pkt + l3 + 12);
		inet_pton(AF_INET, "203.0.113.1", pkt + l3 + 16);
	}
	pkt[l4 + 12] = 8 << 4;
	pkt[l4 + 13] = 0x18;
	pkt[l4 + 16] = 0x55;
	for (uint32_t i = 0; i < payload; i++)
		pkt[l4 + 32 + i] = (uint8_t)i;
	return len;
}

#endif
