/* vnet: the virtio-net header a kernel port (kport.c) puts before each
 * frame on its AF_PACKET socket (PACKET_VNET_HDR), and reads before each
 * frame it receives; the pure part, so it is unit-tested without a socket.
 *
 * Out: a frame is sent as it is (gso_type NONE, its checksums already
 * whole: guest.c completes a guest's partial one as it enters). A guest's
 * GSO packet that tso.h admitted whole (the same rules as for a NIC's TSO)
 * goes as one packet with gso_type TCPV4/TCPV6, gso_size its MSS, hdr_len
 * its headers and NEEDS_CSUM over its TCP header: the kernel cuts it, in
 * the NIC or in its software GSO, or hands it whole to a veth peer. Its
 * TCP checksum field then holds the pseudo-header's sum with the TCP
 * length, as a CHECKSUM_PARTIAL skb has it (tcp_gso_segment adjusts it by
 * each segment's length), not TSO's sum without one.
 *
 * In: a frame the kernel hands over may be a GSO packet (GRO, or a veth
 * peer's TSO) or carry a partial checksum; dpswitch sends guests frames,
 * so the one is cut (gso.c) and the other completed here. */
#ifndef DPSWITCH_VNET_H
#define DPSWITCH_VNET_H

#include <linux/virtio_net.h>
#include <stdint.h>

#include "dpswitch/gso.h"

/* vh for the GSO packet pkt (its headers parsed into h, len bytes in all,
 * the first hdr_len bytes at pkt) cut at mss; in pkt, the TCP checksum
 * field and an IPv4 header checksum (TSO's 0) rewritten from the headers
 * (so twice is as once). */
void dps_vnet_tx_gso(struct virtio_net_hdr *vh, uint8_t *pkt, uint32_t len,
		     const struct dps_gso_hdr *h, uint16_t mss);

/* What a received frame (pkt/len after vh) is: 0 a frame ready to go
 * (a partial checksum completed in pkt), 1 a GSO packet (*gso_type the
 * XEN_NETIF_GSO_TYPE_TCPV4/V6 or DPS_GSO_UDP_L4 that gso.c cuts with
 * vh->gso_size), -EINVAL one that cannot be used (another GSO type: UFO,
 * a checksum place outside the frame). */
int dps_vnet_rx(const struct virtio_net_hdr *vh, uint8_t *pkt, uint32_t len,
		uint8_t *gso_type);

#endif
