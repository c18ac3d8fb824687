/* netif_fake: a guest in plain memory for the netif library's unit tests
 * and fuzz harness — its two shared ring pages, a grant table of pages it
 * owns, and a grant copier that enforces what Xen's GNTTABOP_copy does
 * (granted, not revoked, writable for copies to the guest, in the page).
 * Header only: each test binary includes it once. */
#ifndef TESTS_NETIF_FAKE_H
#define TESTS_NETIF_FAKE_H

#include <stdlib.h>
#include <string.h>

#include "vif/netif.h"

#define FAKE_PAGES 64u

struct fake_guest {
	netif_tx_sring_t *tx;
	netif_rx_sring_t *rx;
	RING_IDX tx_prod, rx_prod; /* the frontend's req_prod_pvt */
	uint8_t *pages;		   /* FAKE_PAGES pages, gref = index */
	bool granted[FAKE_PAGES];
	bool readonly[FAKE_PAGES];
	unsigned copies, copy_calls;
	int fail_rc; /* the copier as a whole fails with this when set */
};

static inline int fake_copy(void *ctx, struct hv_copy *segs, unsigned n)
{
	struct fake_guest *g = ctx;

	g->copy_calls++;
	if (g->fail_rc)
		return g->fail_rc;
	for (unsigned i = 0; i < n; i++) {
		struct hv_copy *s = &segs[i];
		uint8_t *page;

		if (s->ref >= FAKE_PAGES || !g->granted[s->ref]) {
			s->status = HV_GNTST_BAD_GNTREF;
			continue;
		}
		if ((unsigned)s->offset + s->len > NETIF_PAGE_SIZE || s->len == 0) {
			s->status = HV_GNTST_BAD_COPY_ARG;
			continue;
		}
		if (s->to_guest && g->readonly[s->ref]) {
			s->status = HV_GNTST_PERMISSION_DENIED;
			continue;
		}
		page = g->pages + (size_t)s->ref * NETIF_PAGE_SIZE;
		if (s->to_guest)
			memcpy(page + s->offset, s->local, s->len);
		else
			memcpy(s->local, page + s->offset, s->len);
		s->status = HV_GNTST_OKAY;
		g->copies++;
	}
	return 0;
}

static inline void fake_init(struct fake_guest *g)
{
	memset(g, 0, sizeof(*g));
	g->tx = aligned_alloc(NETIF_PAGE_SIZE, NETIF_PAGE_SIZE);
	g->rx = aligned_alloc(NETIF_PAGE_SIZE, NETIF_PAGE_SIZE);
	g->pages = aligned_alloc(NETIF_PAGE_SIZE, (size_t)FAKE_PAGES * NETIF_PAGE_SIZE);
	memset(g->tx, 0, NETIF_PAGE_SIZE);
	memset(g->rx, 0, NETIF_PAGE_SIZE);
	memset(g->pages, 0, (size_t)FAKE_PAGES * NETIF_PAGE_SIZE);
	/* SHARED_RING_INIT */
	g->tx->req_event = g->tx->rsp_event = 1;
	g->rx->req_event = g->rx->rsp_event = 1;
	for (unsigned i = 0; i < FAKE_PAGES; i++)
		g->granted[i] = true;
}

static inline void fake_free(struct fake_guest *g)
{
	free(g->tx);
	free(g->rx);
	free(g->pages);
}

static inline uint8_t *fake_page(struct fake_guest *g, unsigned ref)
{
	return g->pages + (size_t)ref * NETIF_PAGE_SIZE;
}

static inline void fake_tx(struct fake_guest *g, uint32_t gref, uint16_t offset, uint16_t flags,
		    uint16_t id, uint16_t size)
{
	struct netif_tx_request *r = &g->tx->ring[g->tx_prod++ % NETIF_TX_RING_SIZE].req;

	r->gref = gref;
	r->offset = offset;
	r->flags = flags;
	r->id = id;
	r->size = size;
}

static inline void fake_tx_extra(struct fake_guest *g, uint8_t type, uint8_t flags, uint16_t gso_size,
			  uint8_t gso_type)
{
	struct netif_extra_info ex;

	memset(&ex, 0, sizeof(ex));
	ex.type = type;
	ex.flags = flags;
	ex.u.gso.size = gso_size;
	ex.u.gso.type = gso_type;
	memcpy(&g->tx->ring[g->tx_prod++ % NETIF_TX_RING_SIZE], &ex, sizeof(ex));
}

static inline void fake_tx_publish(struct fake_guest *g)
{
	__atomic_store_n(&g->tx->req_prod, g->tx_prod, __ATOMIC_RELEASE);
}

static inline void fake_rx_post(struct fake_guest *g, uint16_t id, uint32_t gref)
{
	struct netif_rx_request *r = &g->rx->ring[g->rx_prod++ % NETIF_RX_RING_SIZE].req;

	r->id = id;
	r->gref = gref;
	__atomic_store_n(&g->rx->req_prod, g->rx_prod, __ATOMIC_RELEASE);
}

static inline void fake_queue(struct fake_guest *g, struct netif_queue *q, const struct netif_features *f)
{
	static struct netif_scratch scratch;

	netif_queue_init(q, 7, f, g->tx, g->rx, fake_copy, g, &scratch);
}

#endif
