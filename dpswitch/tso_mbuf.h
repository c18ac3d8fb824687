/* tso_mbuf: the mbuf fields of a TCP GSO packet handed whole to a TSO
 * port (tso.h decides and fixes its headers): RTE_MBUF_F_TX_TCP_SEG (which
 * implies the TCP checksum), IPV4 with IP_CKSUM or IPV6, the header
 * lengths and the MSS, as rte_mbuf_core.h describes TSO. Separate from
 * tso.h because it needs DPDK's types; the unit test builds it when DPDK
 * is there. */
#ifndef DPSWITCH_TSO_MBUF_H
#define DPSWITCH_TSO_MBUF_H

#include <rte_mbuf.h>

#include "dpswitch/tso.h"

#define DPS_TSO_OL_MASK                                                                      \
	(RTE_MBUF_F_TX_TCP_SEG | RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IPV6 |                   \
	 RTE_MBUF_F_TX_IP_CKSUM | RTE_MBUF_F_TX_L4_MASK)

static inline void dps_tso_mbuf(struct rte_mbuf *m, const struct dps_gso_hdr *h, uint16_t mss)
{
	m->ol_flags = (m->ol_flags & ~DPS_TSO_OL_MASK) | RTE_MBUF_F_TX_TCP_SEG |
		      (h->v6 ? RTE_MBUF_F_TX_IPV6 : RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM);
	m->l2_len = h->l2_len;
	m->l3_len = h->l3_len;
	m->l4_len = h->l4_len;
	m->tso_segsz = mss;
}

#endif
