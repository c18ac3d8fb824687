/* gso: a guest's TCP GSO packet (netfront's 64 KiB frames with an MSS)
 * cut into wire-sized frames, as the kernel's software GSO does: headers
 * copied to each, payload chunks of gso_size, IPv4 total length, id and
 * header checksum, IPv6 payload length, TCP sequence number and flags (FIN
 * and PSH on the last only, CWR on the first only) and a whole TCP
 * checksum per frame. This is where a guest's GSO ends unless its
 * destination is a NIC port that takes the packet whole (tso.h): a guest
 * port, a NIC without TSO, or a packet no TSO rule admits.
 * The kernel's UDP GSO packets (a kernel port's, UDP_SEGMENT) are cut here
 * too, into datagrams of gso_size (IPv4 length, id and header checksum,
 * IPv6 payload length, UDP length and a whole UDP checksum each): netif
 * has no GSO type for them, so no guest takes one whole.
 * Pure: no allocation; the guest's headers are checked before use. */
#ifndef DPSWITCH_GSO_H
#define DPSWITCH_GSO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The kernel's UDP GSO (VIRTIO_NET_HDR_GSO_UDP_L4), either family: not one
 * of netif's types (a guest cannot send it: netif refuses any but TCP). */
#define DPS_GSO_UDP_L4 0x40

/* A GSO packet's headers, as dps_gso_parse found them. */
struct dps_gso_hdr {
	uint8_t l2_len;	  /* Ethernet, with one VLAN tag if there is one */
	uint16_t l3_len;  /* IPv4 with options, IPv6 with extension headers */
	uint8_t l4_len;	  /* TCP with options, UDP's 8 */
	bool v6;
	uint32_t payload; /* TCP (UDP) payload bytes */
	unsigned nseg;	  /* frames it makes at its MSS */
	bool lens_ok;	  /* the IP header's length field is the packet's */
};

/* pkt/len with gso_type and mss as the guest gave them: 0 and *h filled,
 * or -EINVAL when no frame can be made of it: not TCP, gso_type not the
 * headers' family (nor TCPV4/V6 at all), an MSS of 0, headers longer than
 * the packet. With DPS_GSO_UDP_L4: not UDP, or a gso_size not smaller
 * than the payload (the kernel's own rule: that is no GSO packet). */
int dps_gso_parse(const uint8_t *pkt, uint32_t len, uint8_t gso_type, uint16_t mss,
		  struct dps_gso_hdr *h);

/* pkt/len: the linear packet (Ethernet, one optional VLAN tag, IPv4 or
 * IPv6, TCP or UDP); gso_type XEN_NETIF_GSO_TYPE_TCPV4/V6 or
 * DPS_GSO_UDP_L4; mss its gso_size. Writes the frames one after another
 * into out (cap bytes), their lengths in seg_len[0..*nseg). -EINVAL: what
 * dps_gso_parse refuses, or an MSS that makes more than max_segs frames;
 * -ENOSPC: out too small. */
int dps_gso_segment(const uint8_t *pkt, uint32_t len, uint8_t gso_type, uint16_t mss,
		    uint8_t *out, size_t cap, uint32_t *seg_len, unsigned max_segs,
		    unsigned *nseg);

#endif
