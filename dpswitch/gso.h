/* gso: a guest's TCP GSO packet (netfront's 64 KiB frames with an MSS)
 * cut into wire-sized frames, as the kernel's software GSO does: headers
 * copied to each, payload chunks of gso_size, IPv4 total length, id and
 * header checksum, IPv6 payload length, TCP sequence number and flags (FIN
 * and PSH on the last only, CWR on the first only) and a whole TCP
 * checksum per frame. dpswitch's frames are single 2 KiB mbufs and its
 * NIC ports offer no TSO, so this is where a guest's GSO ends.
 * Pure: no allocation; the guest's headers are checked before use. */
#ifndef DPSWITCH_GSO_H
#define DPSWITCH_GSO_H

#include <stddef.h>
#include <stdint.h>

/* pkt/len: the linear packet (Ethernet, one optional VLAN tag, IPv4 or
 * IPv6, TCP); gso_type XEN_NETIF_GSO_TYPE_TCPV4/V6; mss its gso_size.
 * Writes the frames one after another into out (cap bytes), their lengths
 * in seg_len[0..*nseg). -EINVAL: not a TCP packet of that family, or an
 * MSS of 0 or that makes more than max_segs frames; -ENOSPC: out too small. */
int dps_gso_segment(const uint8_t *pkt, uint32_t len, uint8_t gso_type, uint16_t mss,
		    uint8_t *out, size_t cap, uint32_t *seg_len, unsigned max_segs,
		    unsigned *nseg);

#endif
