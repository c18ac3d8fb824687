/* nf_pkt: what the simulated netfront needs to know about a frame to move
 * offload metadata between a TAP's virtio-net header and netif flags:
 * where L4 starts and which checksum field it has, and a software checksum
 * for when the backend does not take an offload the TAP handed us.
 * Frames come from the guest's own stack or from the (untrusted) backend:
 * every offset is bounded by the frame's length. */
#ifndef HV_SIM_NF_PKT_H
#define HV_SIM_NF_PKT_H

#include <linux/virtio_net.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hypervisor/sim/nf_ring.h"

struct nf_l4 {
	bool v6;
	uint8_t proto;		/* IPPROTO_TCP or IPPROTO_UDP */
	unsigned l4off;		/* start of the TCP/UDP header */
	unsigned csum_off;	/* checksum field, from l4off */
	unsigned hdr_len;	/* every header up to the L4 payload */
};

/* Ethernet (up to two VLAN tags), IPv4 or IPv6 (extension headers walked,
 * fragments refused), TCP or UDP. 0, or -EPROTONOSUPPORT / -EINVAL. */
int nf_pkt_parse(const uint8_t *p, size_t len, struct nf_l4 *out);
/* Complete a partial checksum: the ones' complement of the sum from start
 * to the end of the frame, written at start + off. -EINVAL if out of bounds. */
int nf_pkt_csum_fill(uint8_t *p, size_t len, unsigned start, unsigned off);

/* A frame read from the TAP (with its virtio header) as a TX packet.
 * ipv6_csum: the backend takes IPv6 checksum offload; if not, an IPv6
 * partial checksum is completed here. -EOPNOTSUPP for GSO kinds netif
 * cannot carry (UDP), -EINVAL for a header that does not fit the frame. */
int nf_pkt_from_vnet(const struct virtio_net_hdr *vh, uint8_t *frame, size_t len,
		     bool ipv6_csum, struct nf_txpkt *out);
/* An RX packet's netif metadata as a virtio header for the TAP. -EINVAL:
 * the backend's flags do not fit the frame (partial checksum or GSO on a
 * frame that is not TCP/UDP, GSO without a partial checksum). */
int nf_pkt_to_vnet(const struct nf_rxpkt *rp, const uint8_t *frame, size_t len,
		   struct virtio_net_hdr *vh);

#endif
