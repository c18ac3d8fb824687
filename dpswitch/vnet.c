/* vnet: see vnet.h. */
#include "dpswitch/vnet.h"

#include <errno.h>
#include <string.h>
#include <xen/io/netif.h>

#include "lib/inet_csum.h"

/* Linux 6.2's uapi (Debian 12's headers are 6.1's): what a packet socket
 * shows for SKB_GSO_UDP_L4 (a UDP_SEGMENT sender's packet) */
#ifndef VIRTIO_NET_HDR_GSO_UDP_L4
#define VIRTIO_NET_HDR_GSO_UDP_L4 5
#endif

void dps_vnet_tx_gso(struct virtio_net_hdr *vh, uint8_t *pkt, uint32_t len,
		     const struct dps_gso_hdr *h, uint16_t mss)
{
	uint32_t l4 = (uint32_t)h->l2_len + h->l3_len, hdr = l4 + h->l4_len;
	const uint8_t *ip = pkt + h->l2_len;
	uint16_t s;

	/* the kernel's byte order for these (a legacy virtio header):
	 * the host's */
	memset(vh, 0, sizeof(*vh));
	vh->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	vh->gso_type = h->v6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4;
	vh->gso_size = mss;
	vh->hdr_len = (uint16_t)hdr;
	vh->csum_start = (uint16_t)l4;
	vh->csum_offset = 16;
	s = inet_csum_fold(inet_csum_add(h->v6 ? ip + 8 : ip + 12, h->v6 ? 32 : 8, 6u + (len - l4)));
	pkt[l4 + 16] = (uint8_t)(s >> 8);
	pkt[l4 + 17] = (uint8_t)s;
	if (!h->v6) {
		/* TSO's zero: the kernel rewrites it in each segment it cuts,
		 * but a packet a veth hands on whole reaches an IP stack that
		 * checks it */
		uint8_t *v4 = pkt + h->l2_len;

		v4[10] = v4[11] = 0;
		s = (uint16_t)~inet_csum_fold(inet_csum_add(v4, h->l3_len, 0));
		v4[10] = (uint8_t)(s >> 8);
		v4[11] = (uint8_t)s;
	}
}

int dps_vnet_rx(const struct virtio_net_hdr *vh, uint8_t *pkt, uint32_t len,
		uint8_t *gso_type)
{
	uint32_t start = vh->csum_start, at = start + vh->csum_offset;
	bool partial = vh->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM;
	uint16_t s;

	if (partial && at + 2 > len)
		return -EINVAL;
	switch (vh->gso_type & (uint8_t)~VIRTIO_NET_HDR_GSO_ECN) {
	case VIRTIO_NET_HDR_GSO_NONE:
		break;
	case VIRTIO_NET_HDR_GSO_TCPV4:
		*gso_type = XEN_NETIF_GSO_TYPE_TCPV4;
		return 1; /* gso.c writes every checksum of the frames it cuts */
	case VIRTIO_NET_HDR_GSO_TCPV6:
		*gso_type = XEN_NETIF_GSO_TYPE_TCPV6;
		return 1;
	case VIRTIO_NET_HDR_GSO_UDP_L4:
		*gso_type = DPS_GSO_UDP_L4;
		return 1;
	default:
		return -EINVAL;
	}
	if (!partial)
		return 0;
	/* the field holds the pseudo-header's sum */
	s = inet_csum_partial_done(pkt + start, len - start);
	pkt[at] = (uint8_t)(s >> 8);
	pkt[at + 1] = (uint8_t)s;
	return 0;
}
