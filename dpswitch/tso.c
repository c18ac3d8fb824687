/* tso: see tso.h. */
#include "dpswitch/tso.h"

#include "lib/inet_csum.h"

bool dps_tso_fits(const struct dps_tso_caps *c, const struct dps_gso_hdr *h, uint16_t mss,
		  unsigned chain)
{
	if (!(h->v6 ? c->v6 : c->v4) || mss < DPS_TSO_MIN_MSS || h->payload <= mss || !h->lens_ok)
		return false;
	/* l4_len (TCP, at most 60) always fits its 8 bits */
	if (h->l2_len > DPS_TSO_MAX_L2 || h->l3_len > DPS_TSO_MAX_L3)
		return false;
	if ((c->mtu_has_l2 ? h->l2_len : 0u) + h->l3_len + h->l4_len + mss > c->mtu ||
	    h->nseg > c->max_segs)
		return false;
	return !c->max_chain || chain <= c->max_chain;
}

void dps_tso_headers(uint8_t *pkt, const struct dps_gso_hdr *h)
{
	uint8_t *ip = pkt + h->l2_len, *tcp = ip + h->l3_len;
	const uint8_t *a = h->v6 ? ip + 8 : ip + 12;
	unsigned alen = h->v6 ? 32 : 8;
	/* the protocol (6); the length is left out */
	uint16_t s = inet_csum_fold(inet_csum_add(a, alen, 6));

	tcp[16] = (uint8_t)(s >> 8);
	tcp[17] = (uint8_t)s;
	if (!h->v6) {
		ip[10] = 0;
		ip[11] = 0;
	}
}
