/* nf_pkt: header walk and checksum completion for the simulated netfront
 * (see nf_pkt.h). */
#include <errno.h>
#include <linux/if_ether.h>
#include <netinet/in.h>
#include <string.h>

#include "hypervisor/sim/nf_pkt.h"
#include "lib/inet_csum.h"

#define IPV6_MAX_EXT	8u	/* extension headers walked before giving up */

static unsigned be16(const uint8_t *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

int nf_pkt_parse(const uint8_t *p, size_t len, struct nf_l4 *out)
{
	unsigned off = ETH_HLEN, type, l4len, i;

	memset(out, 0, sizeof(*out));
	if (len < ETH_HLEN)
		return -EINVAL;
	type = be16(p + 12);
	for (i = 0; i < 2 && (type == ETH_P_8021Q || type == ETH_P_8021AD); i++) {
		if (len < off + 4)
			return -EINVAL;
		type = be16(p + off + 2);
		off += 4;
	}
	if (type == ETH_P_IP) {
		unsigned ihl;

		if (len < off + 20 || (p[off] >> 4) != 4)
			return -EINVAL;
		ihl = (p[off] & 0xfu) * 4u;
		if (ihl < 20 || len < off + ihl)
			return -EINVAL;
		/* A fragment (MF set or an offset) has no whole L4 header. */
		if (be16(p + off + 6) & 0x3fffu)
			return -EPROTONOSUPPORT;
		out->proto = p[off + 9];
		off += ihl;
	} else if (type == ETH_P_IPV6) {
		uint8_t nh;

		if (len < off + 40 || (p[off] >> 4) != 6)
			return -EINVAL;
		out->v6 = true;
		nh = p[off + 6];
		off += 40;
		for (i = 0; i < IPV6_MAX_EXT; i++) {
			if (nh != 0 && nh != 43 && nh != 60)	/* hop-by-hop, routing, dest opts */
				break;
			if (len < off + 8)
				return -EINVAL;
			nh = p[off];
			off += (p[off + 1] + 1u) * 8u;
		}
		if (i == IPV6_MAX_EXT)
			return -EPROTONOSUPPORT;
		out->proto = nh;	/* 44 (fragment) is refused below */
	} else {
		return -EPROTONOSUPPORT;
	}
	if (out->proto == IPPROTO_TCP) {
		if (len < off + 20)
			return -EINVAL;
		l4len = (p[off + 12] >> 4) * 4u;
		if (l4len < 20 || len < off + l4len)
			return -EINVAL;
		out->csum_off = 16;
	} else if (out->proto == IPPROTO_UDP) {
		l4len = 8;
		if (len < off + l4len)
			return -EINVAL;
		out->csum_off = 6;
	} else {
		return -EPROTONOSUPPORT;
	}
	out->l4off = off;
	out->hdr_len = off + l4len;
	return 0;
}

int nf_pkt_csum_fill(uint8_t *p, size_t len, unsigned start, unsigned off)
{
	uint16_t c;

	if ((size_t)start + off + 2 > len)
		return -EINVAL;
	c = inet_csum_partial_done(p + start, len - start);
	p[start + off] = (uint8_t)(c >> 8);
	p[start + off + 1] = (uint8_t)c;
	return 0;
}

int nf_pkt_from_vnet(const struct virtio_net_hdr *vh, uint8_t *frame, size_t len,
		     bool ipv6_csum, struct nf_txpkt *out)
{
	struct nf_l4 l4;

	memset(out, 0, sizeof(*out));
	out->data = frame;
	out->len = len;
	switch (vh->gso_type & ~VIRTIO_NET_HDR_GSO_ECN) {
	case VIRTIO_NET_HDR_GSO_NONE:
		break;
	case VIRTIO_NET_HDR_GSO_TCPV4:
		out->gso_type = NF_GSO_TCPV4;
		out->gso_size = vh->gso_size;
		break;
	case VIRTIO_NET_HDR_GSO_TCPV6:
		out->gso_type = NF_GSO_TCPV6;
		out->gso_size = vh->gso_size;
		break;
	default:
		return -EOPNOTSUPP;
	}
	if (vh->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
		if (!ipv6_csum && !out->gso_type && !nf_pkt_parse(frame, len, &l4) && l4.v6) {
			/* The backend would take a blank IPv6 checksum as
			 * garbage: finish it here, as the stack would have. */
			if (nf_pkt_csum_fill(frame, len, vh->csum_start, vh->csum_offset))
				return -EINVAL;
			out->flags = NF_TXF_DATA_VALIDATED;
		} else {
			out->flags = NF_TXF_CSUM_BLANK | NF_TXF_DATA_VALIDATED;
		}
	} else if (vh->flags & VIRTIO_NET_HDR_F_DATA_VALID) {
		out->flags = NF_TXF_DATA_VALIDATED;
	}
	return 0;
}

int nf_pkt_to_vnet(const struct nf_rxpkt *rp, const uint8_t *frame, size_t len,
		   struct virtio_net_hdr *vh)
{
	struct nf_l4 l4;

	memset(vh, 0, sizeof(*vh));
	if (rp->gso_type && !(rp->flags & NF_RXF_CSUM_BLANK))
		return -EINVAL;
	if (rp->flags & NF_RXF_CSUM_BLANK) {
		if (nf_pkt_parse(frame, len, &l4))
			return -EINVAL;
		vh->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
		vh->csum_start = (uint16_t)l4.l4off;
		vh->csum_offset = (uint16_t)l4.csum_off;
		if (rp->gso_type) {
			if (l4.proto != IPPROTO_TCP ||
			    l4.v6 != (rp->gso_type == NF_GSO_TCPV6))
				return -EINVAL;
			vh->gso_type = rp->gso_type == NF_GSO_TCPV6 ? VIRTIO_NET_HDR_GSO_TCPV6
								    : VIRTIO_NET_HDR_GSO_TCPV4;
			vh->gso_size = rp->gso_size;
			vh->hdr_len = (uint16_t)l4.hdr_len;
		}
	} else if (rp->flags & NF_RXF_DATA_VALIDATED) {
		vh->flags = VIRTIO_NET_HDR_F_DATA_VALID;
	}
	return 0;
}
