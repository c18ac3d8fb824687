/* netif_hdr: finding and completing L4 checksums in a linear packet, for
 * the checksum offload both directions negotiate (a TX packet marked
 * csum_blank becomes a virtio_net_hdr with csum_start/csum_offset; an RX
 * packet with a partial checksum for a frontend that cannot take it is
 * completed here). Every offset is checked against the packet's length:
 * the headers come from a guest or from the network. */
#include "vif/netif.h"

#include <errno.h>

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86dd
#define ETH_P_8021Q 0x8100
#define ETH_P_8021AD 0x88a8
/* IPv6 extension headers walked before giving up. */
#define NETIF_HDR_MAX_EXT 8

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static int hdr_ipv6(const uint8_t *data, uint32_t len, uint32_t off, uint32_t *l4_off,
		    uint8_t *l4_proto)
{
	uint8_t next;

	if (len < off + 40)
		return -EINVAL;
	next = data[off + 6];
	off += 40;
	for (unsigned i = 0; i < NETIF_HDR_MAX_EXT; i++) {
		switch (next) {
		case 0:	 /* hop-by-hop */
		case 43: /* routing */
		case 60: /* destination options */
			if (len < off + 8)
				return -EINVAL;
			next = data[off];
			off += ((uint32_t)data[off + 1] + 1) * 8;
			break;
		case 51: /* AH */
			if (len < off + 8)
				return -EINVAL;
			next = data[off];
			off += ((uint32_t)data[off + 1] + 2) * 4;
			break;
		default: /* a fragment (44) has no checksum we could complete */
			if (next == 44)
				return -EINVAL;
			*l4_off = off;
			*l4_proto = next;
			return off <= len ? 0 : -EINVAL;
		}
	}
	return -EINVAL;
}

int netif_hdr_l4(const uint8_t *data, uint32_t len, uint16_t *l3_proto, uint32_t *l4_off,
		 uint8_t *l4_proto)
{
	uint32_t off = NETIF_ETH_HLEN, ihl;
	uint16_t type;

	if (len < NETIF_ETH_HLEN)
		return -EINVAL;
	type = get16(data + 12);
	if (type == ETH_P_8021Q || type == ETH_P_8021AD) {
		if (len < off + 4)
			return -EINVAL;
		type = get16(data + 16);
		off += 4;
	}
	*l3_proto = type;
	if (type == ETH_P_IPV6)
		return hdr_ipv6(data, len, off, l4_off, l4_proto);
	if (type != ETH_P_IP || len < off + 20 || (data[off] >> 4) != 4)
		return -EINVAL;
	ihl = (uint32_t)(data[off] & 0xf) * 4;
	if (ihl < 20 || len < off + ihl)
		return -EINVAL;
	/* a fragment: the checksum covers bytes we do not have */
	if (get16(data + off + 6) & 0x3fff)
		return -EINVAL;
	*l4_off = off + ihl;
	*l4_proto = data[off + 9];
	return 0;
}

unsigned netif_hdr_csum_field(uint8_t l4_proto)
{
	return l4_proto == 6 ? 16 : l4_proto == 17 ? 6 : 0;
}

int netif_hdr_csum_complete(uint8_t *data, uint32_t len)
{
	uint16_t l3;
	uint32_t l4_off, sum = 0, i;
	uint8_t l4;
	unsigned field;

	if (netif_hdr_l4(data, len, &l3, &l4_off, &l4) < 0)
		return -EINVAL;
	field = netif_hdr_csum_field(l4);
	if (!field || len < l4_off + field + 2)
		return -EINVAL;
	/* The field holds the pseudo-header sum (CHECKSUM_PARTIAL). */
	for (i = l4_off; i + 1 < len; i += 2)
		sum += get16(data + i);
	if (i < len)
		sum += (uint32_t)data[i] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	sum = ~sum & 0xffff;
	if (l4 == 17 && sum == 0)
		sum = 0xffff;
	data[l4_off + field] = (uint8_t)(sum >> 8);
	data[l4_off + field + 1] = (uint8_t)sum;
	return 0;
}
