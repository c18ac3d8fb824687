/* tso: a guest's TCP GSO packet handed whole to a NIC port that does the
 * segmentation itself (TSO), the pure part: which ports may take which
 * packets, and the headers as DPDK's TSO wants them (the pseudo-header
 * sum without a length in the TCP checksum, a zero IPv4 header checksum).
 * Everything that fails a rule here is cut in software instead (gso.c),
 * so a PMD never sees a packet it could choke on: what no rule can mend
 * (gso.h's refusals) is dropped before either. The mbuf's own fields are
 * set by tso_mbuf.h (DPDK's types). */
#ifndef DPSWITCH_TSO_H
#define DPSWITCH_TSO_H

#include <stdbool.h>
#include <stdint.h>

#include "dpswitch/gso.h"

/* An MSS below this is cut in software: some NICs refuse or hang on it
 * (Linux's i40e and ice fall back to software GSO below 64). */
#define DPS_TSO_MIN_MSS 64u
/* DPDK's mbuf fields: l2_len 7 bits, l3_len 9 (l4_len 8, TCP's 60 fit) */
#define DPS_TSO_MAX_L2 127u
#define DPS_TSO_MAX_L3 511u

/* What a NIC port takes whole (set from its dev_info at setup). */
struct dps_tso_caps {
	bool v4, v6;	    /* TSO for TCP over IPv4, IPv6 */
	uint16_t mtu;	    /* a segment's IP packet is at most this */
	bool mtu_has_l2;    /* ...its whole frame, Ethernet header too (net_tap) */
	unsigned max_segs;  /* segments one packet may make */
	unsigned max_chain; /* mbufs one packet may span (0: no limit) */
};

/* True when a port with caps c takes packet h (its mss, in chain mbufs)
 * whole: the family offered, an MSS of DPS_TSO_MIN_MSS or more and more
 * than one segment's payload, the IP header's length the packet's, header
 * lengths DPDK's fields hold, segments within the MTU and the port's
 * counts. */
bool dps_tso_fits(const struct dps_tso_caps *c, const struct dps_gso_hdr *h, uint16_t mss,
		  unsigned chain);

/* The packet's headers (pkt, parsed into h) as the DPDK docs require for
 * RTE_MBUF_F_TX_TCP_SEG: the TCP checksum field holds the pseudo-header's
 * sum with a length of 0 (rte_ipv4/ipv6_phdr_cksum), an IPv4 header
 * checksum is 0 (RTE_MBUF_F_TX_IP_CKSUM: the NIC writes each). */
void dps_tso_headers(uint8_t *pkt, const struct dps_gso_hdr *h);

#endif
