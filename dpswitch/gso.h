/* gso: a guest's TCP GSO packet (netfront's 64 KiB frames with an MSS)
 * cut into wire-sized frames, as the kernel's software GSO does: headers
 * copied to each, payload chunks of gso_size, IPv4 total length, id and
 * header checksum, IPv6 payload length, TCP sequence number and flags (FIN
 * and PSH on the last only, CWR on the first only) and a whole TCP
 * checksum per frame. This is where a guest's GSO ends unless its
 * destination is a NIC port that takes the packet whole (tso.h): a guest
 * port, a NIC without TSO, or a packet no TSO rule admits.
 * Pure: no allocation; the guest's headers are checked before use. */
#ifndef DPSWITCH_GSO_H
#define DPSWITCH_GSO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A GSO packet's headers, as dps_gso_parse found them. */
struct dps_gso_hdr {
	uint8_t l2_len;	  /* Ethernet, with one VLAN tag if there is one */
	uint16_t l3_len;  /* IPv4 with options, IPv6 with extension headers */
	uint8_t l4_len;	  /* TCP with options */
	bool v6;
	uint32_t payload; /* TCP payload bytes */
	unsigned nseg;	  /* frames it makes at its MSS */
	bool lens_ok;	  /* the IP header's length field is the packet's */
};

/* pkt/len with gso_type and mss as the guest gave them: 0 and *h filled,
 * or -EINVAL when no frame can be made of it: not TCP, gso_type not the
 * headers' family (nor TCPV4/V6 at all), an MSS of 0, headers longer than
 * the packet. */
int dps_gso_parse(const uint8_t *pkt, uint32_t len, uint8_t gso_type, uint16_t mss,
		  struct dps_gso_hdr *h);

/* pkt/len: the linear packet (Ethernet, one optional VLAN tag, IPv4 or
 * IPv6, TCP); gso_type XEN_NETIF_GSO_TYPE_TCPV4/V6; mss its gso_size.
 * Writes the frames one after another into out (cap bytes), their lengths
 * in seg_len[0..*nseg). -EINVAL: not a TCP packet of that family, or an
 * MSS of 0 or that makes more than max_segs frames; -ENOSPC: out too small. */
int dps_gso_segment(const uint8_t *pkt, uint32_t len, uint8_t gso_type, uint16_t mss,
		    uint8_t *out, size_t cap, uint32_t *seg_len, unsigned max_segs,
		    unsigned *nseg);

#endif
