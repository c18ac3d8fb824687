/* gso: see gso.h. */
#include "dpswitch/gso.h"

#include <errno.h>
#include <string.h>
#include <xen/io/netif.h>

#include "lib/inet_csum.h"
#include "vif/netif.h"

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

int dps_gso_parse(const uint8_t *pkt, uint32_t len, uint8_t gso_type, uint16_t mss,
		  struct dps_gso_hdr *h)
{
	uint32_t l3_off, l4_off, hdr, iplen;
	uint16_t l3_proto;
	uint8_t l4_proto;
	bool udp = gso_type == DPS_GSO_UDP_L4;

	if (!mss || netif_hdr_l4(pkt, len, &l3_proto, &l4_off, &l4_proto) < 0 ||
	    l4_proto != (udp ? 17 : 6))
		return -EINVAL;
	if (!udp && ((gso_type == XEN_NETIF_GSO_TYPE_TCPV4) != (l3_proto == 0x0800) ||
		     (gso_type != XEN_NETIF_GSO_TYPE_TCPV4 && gso_type != XEN_NETIF_GSO_TYPE_TCPV6)))
		return -EINVAL;
	/* as netif_hdr_l4: one tag, 802.1Q or 802.1ad */
	l3_off = get16(pkt + 12) == 0x8100 || get16(pkt + 12) == 0x88a8 ? 18 : 14;
	if (udp) {
		hdr = l4_off + 8;
		if (hdr > len || len - hdr <= mss)
			return -EINVAL;
	} else {
		if (len < l4_off + 20 || (pkt[l4_off + 12] >> 4) < 5)
			return -EINVAL;
		hdr = l4_off + (uint32_t)(pkt[l4_off + 12] >> 4) * 4;
		if (hdr > len)
			return -EINVAL;
	}
	h->l2_len = (uint8_t)l3_off;
	h->l3_len = (uint16_t)(l4_off - l3_off);
	h->l4_len = (uint8_t)(hdr - l4_off);
	h->v6 = l3_proto != 0x0800;
	h->payload = len - hdr;
	h->nseg = h->payload ? (h->payload + mss - 1) / mss : 1;
	iplen = h->v6 ? get16(pkt + l3_off + 4) + 40u : get16(pkt + l3_off + 2);
	h->lens_ok = iplen == len - l3_off;
	return 0;
}

int dps_gso_segment(const uint8_t *pkt, uint32_t len, uint8_t gso_type, uint16_t mss,
		    uint8_t *out, size_t cap, uint32_t *seg_len, unsigned max_segs,
		    unsigned *nseg)
{
	uint32_t l3_off, l4_off, hdr, payload, seq, off = 0;
	uint16_t l3_proto, ip_id = 0;
	uint8_t flags, proto = gso_type == DPS_GSO_UDP_L4 ? 17 : 6;
	struct dps_gso_hdr h;
	unsigned n;

	if (dps_gso_parse(pkt, len, gso_type, mss, &h) < 0)
		return -EINVAL;
	l3_proto = h.v6 ? 0x86dd : 0x0800;
	l3_off = h.l2_len;
	l4_off = l3_off + h.l3_len;
	hdr = l4_off + h.l4_len;
	payload = h.payload;
	n = h.nseg;
	if (n > max_segs)
		return -EINVAL;
	if ((size_t)n * hdr + payload > cap)
		return -ENOSPC;
	seq = (uint32_t)get16(pkt + l4_off + 4) << 16 | get16(pkt + l4_off + 6);
	flags = proto == 6 ? pkt[l4_off + 13] : 0;
	if (l3_proto == 0x0800)
		ip_id = get16(pkt + l3_off + 4);
	for (unsigned i = 0; i < n; i++) {
		uint32_t chunk = payload - i * mss < mss ? payload - i * mss : mss;
		uint32_t l4_len = hdr - l4_off + chunk, s, sl = hdr + chunk;
		uint8_t *f = out + off, *ip = f + l3_off, *l4 = f + l4_off;

		memcpy(f, pkt, hdr);
		memcpy(f + hdr, pkt + hdr + i * mss, chunk);
		if (proto == 17) {
			put16(l4 + 4, (uint16_t)l4_len);
		} else {
			put16(l4 + 4, (uint16_t)((seq + i * mss) >> 16));
			put16(l4 + 6, (uint16_t)(seq + i * mss));
			l4[13] = (uint8_t)(flags & ~((i + 1 < n ? 0x09 : 0) | (i ? 0x80 : 0)));
		}
		if (l3_proto == 0x0800) {
			put16(ip + 2, (uint16_t)(l4_off - l3_off + l4_len));
			put16(ip + 4, (uint16_t)(ip_id + i));
			put16(ip + 10, 0);
			put16(ip + 10, (uint16_t)~inet_csum_fold(inet_csum_add(ip, (size_t)(ip[0] & 15) * 4, 0)));
			s = inet_csum_add(ip + 12, 8, proto + l4_len);
		} else {
			put16(ip + 4, (uint16_t)(l4_off - l3_off - 40 + l4_len));
			s = inet_csum_add(ip + 8, 32, proto + l4_len);
		}
		/* the pseudo-header's sum in the field, then the whole sum
		 * over the segment (netif's completion of a partial checksum) */
		put16(l4 + netif_hdr_csum_field(proto), inet_csum_fold(s));
		netif_hdr_csum_complete(f, sl);
		seg_len[i] = sl;
		off += sl;
	}
	*nseg = n;
	return 0;
}
