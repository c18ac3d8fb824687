/* Unit tests for the simulated netfront's ring and packet code
 * (hypervisor/sim/netfront_ring.c, nf_pkt.c).
 *
 * A tiny backend lives in this file and works on the same pages as the
 * frontend, the way netback would: it finds a buffer by its grant
 * reference, reads requests and writes responses at the ring's slots,
 * publishes rsp_prod and decides to notify from rsp_event / req_event.
 * So each test checks what a backend sees (slot layout, sizes, flags, GSO
 * extra info, event thresholds) and what the frontend makes of what a
 * backend, good or bad, answers. The interop tests put the project's
 * backend library (vif/netif) on the other side of the same pages, and
 * the wire structures are checked against Xen's own netif.h. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include <xen/io/netif.h>

#include "hypervisor/sim/nf_pkt.h"
#include "hypervisor/sim/nf_ring.h"
#include "vif/netif.h"

#define GREF_BASE 1000u	/* refs are not page numbers, as in Xen */

struct world {
	uint8_t *pages;	/* tx ring, rx ring, 256 tx buffers, 256 rx buffers */
	void *txb[NF_RING_SIZE], *rxb[NF_RING_SIZE];
	uint32_t txr[NF_RING_SIZE], rxr[NF_RING_SIZE];
	struct nf_txq tx;
	struct nf_rxq rx;
	/* backend side */
	uint32_t tx_req_cons, tx_rsp_prod, rx_req_cons, rx_rsp_prod;
};

static void *page(struct world *w, unsigned i)
{
	return w->pages + (size_t)i * NF_PAGE_SIZE;
}

static int setup(void **state)
{
	struct world *w = calloc(1, sizeof(*w));
	unsigned i;

	assert_non_null(w);
	w->pages = aligned_alloc(NF_PAGE_SIZE, (2 + 2 * NF_RING_SIZE) * NF_PAGE_SIZE);
	assert_non_null(w->pages);
	for (i = 0; i < NF_RING_SIZE; i++) {
		w->txb[i] = page(w, 2 + i);
		w->rxb[i] = page(w, 2 + NF_RING_SIZE + i);
		w->txr[i] = GREF_BASE + 2 + i;
		w->rxr[i] = GREF_BASE + 2 + NF_RING_SIZE + i;
	}
	nf_txq_init(&w->tx, page(w, 0), w->txb, w->txr, NF_RING_SIZE, true);
	nf_rxq_init(&w->rx, page(w, 1), w->rxb, w->rxr);
	*state = w;
	return 0;
}

static int teardown(void **state)
{
	struct world *w = *state;

	free(w->pages);
	free(w);
	return 0;
}

/* ---- the in-test backend ---- */

static uint8_t *be_page(struct world *w, uint32_t gref)
{
	assert_true(gref >= GREF_BASE && gref < GREF_BASE + 2 + 2 * NF_RING_SIZE);
	return page(w, gref - GREF_BASE);
}

static struct nf_sring_hdr *txh(struct world *w)
{
	return page(w, 0);
}

static struct nf_sring_hdr *rxh(struct world *w)
{
	return page(w, 1);
}

/* RING_PUSH_RESPONSES_AND_CHECK_NOTIFY */
static bool be_push(struct nf_sring_hdr *h, uint32_t new_prod)
{
	uint32_t old = h->rsp_prod;

	__atomic_store_n(&h->rsp_prod, new_prod, __ATOMIC_RELEASE);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return (uint32_t)(new_prod - h->rsp_event) < (uint32_t)(new_prod - old);
}

/* What the backend took from one TX packet. */
struct be_txpkt {
	uint8_t data[NF_MAX_TX_SIZE];
	size_t len;
	uint16_t flags;
	unsigned slots;
	struct nf_extra gso;
	bool has_gso;
};

/* Consume one packet's requests as netback does (first slot's size is the
 * whole frame, the first fragment gets what the others leave), answer
 * each slot. Returns false when no request is pending. */
static bool be_tx_one(struct world *w, struct be_txpkt *p, int16_t status)
{
	union nf_tx_slot *ring = nf_tx_slots(page(w, 0));
	uint32_t prod = __atomic_load_n(&txh(w)->req_prod, __ATOMIC_ACQUIRE);
	uint32_t first_idx = w->tx_req_cons, i;
	struct nf_tx_req first, r;
	size_t rest = 0, first_len;
	uint16_t flags;

	if (w->tx_req_cons == prod)
		return false;
	memset(p, 0, sizeof(*p));
	first = ring[w->tx_req_cons++ & 255].req;
	p->flags = first.flags;
	p->slots = 1;
	flags = first.flags;
	if (flags & NF_TXF_EXTRA_INFO) {
		p->gso = ring[w->tx_req_cons++ & 255].extra;
		p->has_gso = true;
		p->slots++;
	}
	/* sizes of the following slots first, to size the first fragment */
	for (i = w->tx_req_cons; flags & NF_TXF_MORE_DATA; i++) {
		r = ring[i & 255].req;
		rest += r.size;
		flags = r.flags;
	}
	first_len = first.size - rest;
	memcpy(p->data, be_page(w, first.gref) + first.offset, first_len);
	p->len = first_len;
	flags = first.flags;
	while (flags & NF_TXF_MORE_DATA) {
		r = ring[w->tx_req_cons++ & 255].req;
		memcpy(p->data + p->len, be_page(w, r.gref) + r.offset, r.size);
		p->len += r.size;
		flags = r.flags;
		p->slots++;
	}
	assert_int_equal(p->len, first.size);
	/* responses, one per slot, NULL for the extra */
	for (i = first_idx; i != w->tx_req_cons; i++) {
		struct nf_tx_req q = ring[i & 255].req;
		bool is_extra = (i == first_idx + 1) && p->has_gso;

		ring[i & 255].rsp = (struct nf_tx_rsp){
			.id = q.id, .status = is_extra ? NF_RSP_NULL : status,
		};
	}
	w->tx_rsp_prod = w->tx_req_cons;
	return true;
}

/* Deliver a frame into posted RX buffers: chunk bytes per slot at offset
 * off, GSO extra after the first slot when gso_type. Responses in the slot
 * of the request consumed. Returns slots used, 0 if too few buffers. */
static unsigned be_rx_put(struct world *w, const uint8_t *data, size_t len, uint16_t flags,
			  uint8_t gso_type, uint16_t gso_size, size_t chunk, uint16_t off)
{
	union nf_rx_slot *ring = nf_rx_slots(page(w, 1));
	uint32_t prod = __atomic_load_n(&rxh(w)->req_prod, __ATOMIC_ACQUIRE);
	unsigned need = (unsigned)((len + chunk - 1) / chunk) + (gso_type ? 1 : 0), n = 0;
	size_t done = 0;

	if (prod - w->rx_req_cons < need)
		return 0;
	while (done < len) {
		uint32_t s = w->rx_req_cons++ & 255;
		struct nf_rx_req q = ring[s].req;
		size_t c = len - done < chunk ? len - done : chunk;
		struct nf_rx_rsp r = { .id = q.id, .offset = off, .status = (int16_t)c };

		memcpy(be_page(w, q.gref) + off, data + done, c);
		done += c;
		if (done < len)
			r.flags |= NF_RXF_MORE_DATA;
		if (n == 0) {
			r.flags |= flags;
			if (gso_type)
				r.flags |= NF_RXF_EXTRA_INFO;
		}
		ring[s].rsp = r;
		n++;
		if (n == 1 && gso_type) {
			struct nf_extra e = { .type = NF_EXTRA_GSO };

			s = w->rx_req_cons++ & 255;
			e.u.gso.size = gso_size;
			e.u.gso.type = gso_type;
			ring[s].extra = e;
			n++;
		}
	}
	w->rx_rsp_prod = w->rx_req_cons;
	return n;
}

static void fill(uint8_t *p, size_t len, unsigned seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = (uint8_t)(i * 7 + seed);
}

/* ---- TX ---- */

static void test_tx_single(void **state)
{
	struct world *w = *state;
	static uint8_t frame[100];
	struct nf_txpkt pkt = { .data = frame, .len = sizeof(frame) };
	static struct be_txpkt got;
	bool more;

	fill(frame, sizeof(frame), 1);
	assert_int_equal(nf_txq_slots_needed(&w->tx, &pkt), 1);
	assert_int_equal(nf_txq_put(&w->tx, &pkt), 0);
	/* Not visible to the backend before the push. */
	assert_int_equal(txh(w)->req_prod, 0);
	assert_true(nf_txq_push(&w->tx));	/* req_event starts at 1 */
	assert_int_equal(nf_txq_space(&w->tx), NF_RING_SIZE - 1);

	assert_true(be_tx_one(w, &got, NF_RSP_OKAY));
	assert_int_equal(got.len, sizeof(frame));
	assert_int_equal(got.slots, 1);
	assert_int_equal(got.flags, 0);
	assert_memory_equal(got.data, frame, sizeof(frame));
	assert_false(be_tx_one(w, &got, NF_RSP_OKAY));

	/* nf_txq_gc armed rsp_event? Only after a gc: before, the initial 1. */
	assert_true(be_push(txh(w), w->tx_rsp_prod));
	assert_int_equal(nf_txq_gc(&w->tx, &more), 1);
	assert_false(more);
	assert_int_equal(txh(w)->rsp_event, 2);	/* rsp_cons + 1 */
	assert_int_equal(nf_txq_space(&w->tx), NF_RING_SIZE);
	assert_int_equal(w->tx.n_free, NF_RING_SIZE);
	assert_int_equal(w->tx.st.errors, 0);
}

static void test_tx_chain_gso(void **state)
{
	struct world *w = *state;
	static uint8_t frame[9000];
	static struct be_txpkt got;
	struct nf_txpkt pkt = {
		.data = frame, .len = sizeof(frame), .gso_type = NF_GSO_TCPV4, .gso_size = 1448,
		.flags = NF_TXF_CSUM_BLANK | NF_TXF_DATA_VALIDATED,
	};
	union nf_tx_slot *ring = nf_tx_slots(page(w, 0));
	bool more;

	fill(frame, sizeof(frame), 3);
	/* 9000 bytes: three pages plus the GSO extra. */
	assert_int_equal(nf_txq_slots_needed(&w->tx, &pkt), 4);
	assert_int_equal(nf_txq_put(&w->tx, &pkt), 0);
	nf_txq_push(&w->tx);

	/* The layout netback expects: first (whole size, extra_info,
	 * more_data), the extra, then the fragments. */
	assert_int_equal(ring[0].req.size, 9000);
	assert_int_equal(ring[0].req.flags, NF_TXF_CSUM_BLANK | NF_TXF_DATA_VALIDATED |
						 NF_TXF_EXTRA_INFO | NF_TXF_MORE_DATA);
	assert_int_equal(ring[1].extra.type, NF_EXTRA_GSO);
	assert_int_equal(ring[1].extra.flags, 0);
	assert_int_equal(ring[1].extra.u.gso.size, 1448);
	assert_int_equal(ring[1].extra.u.gso.type, NF_GSO_TCPV4);
	assert_int_equal(ring[2].req.size, 4096);
	assert_int_equal(ring[2].req.flags, NF_TXF_MORE_DATA);
	assert_int_equal(ring[3].req.size, 9000 - 8192);
	assert_int_equal(ring[3].req.flags, 0);
	/* Distinct ids, each naming its own granted buffer. */
	assert_int_not_equal(ring[0].req.id, ring[2].req.id);
	assert_int_equal(ring[2].req.gref, w->txr[ring[2].req.id]);

	assert_true(be_tx_one(w, &got, NF_RSP_OKAY));
	assert_int_equal(got.slots, 4);
	assert_true(got.has_gso);
	assert_int_equal(got.len, sizeof(frame));
	assert_memory_equal(got.data, frame, sizeof(frame));
	be_push(txh(w), w->tx_rsp_prod);
	/* Three data slots come back; the extra's NULL frees nothing. */
	assert_int_equal(nf_txq_gc(&w->tx, &more), 3);
	assert_int_equal(w->tx.n_free, NF_RING_SIZE);
}

static void test_tx_limits(void **state)
{
	struct world *w = *state;
	static uint8_t frame[NF_MAX_TX_SIZE + 1];
	struct nf_txpkt pkt = { .data = frame };
	static struct be_txpkt got;
	unsigned i;
	bool more;

	pkt.len = 13;	/* shorter than an Ethernet header */
	assert_int_equal(nf_txq_put(&w->tx, &pkt), -EMSGSIZE);
	pkt.len = NF_MAX_TX_SIZE + 1;
	assert_int_equal(nf_txq_put(&w->tx, &pkt), -EMSGSIZE);
	pkt.len = NF_MAX_TX_SIZE;	/* the largest: 16 pages */
	assert_int_equal(nf_txq_slots_needed(&w->tx, &pkt), 16);
	pkt.gso_type = NF_GSO_TCPV6;
	pkt.gso_size = 0;	/* GSO without a size */
	assert_int_equal(nf_txq_put(&w->tx, &pkt), -EMSGSIZE);
	pkt.gso_type = 9;
	pkt.gso_size = 1000;
	assert_int_equal(nf_txq_put(&w->tx, &pkt), -EMSGSIZE);
	pkt.gso_type = 0;
	/* No feature-sg: one page at most. */
	w->tx.sg = false;
	pkt.len = NF_PAGE_SIZE + 1;
	assert_int_equal(nf_txq_put(&w->tx, &pkt), -EMSGSIZE);
	pkt.len = NF_PAGE_SIZE;
	assert_int_equal(nf_txq_slots_needed(&w->tx, &pkt), 1);
	w->tx.sg = true;

	/* Fill the ring with one-slot frames: the 257th waits. */
	pkt.len = 60;
	for (i = 0; i < NF_RING_SIZE; i++)
		assert_int_equal(nf_txq_put(&w->tx, &pkt), 0);
	assert_int_equal(nf_txq_space(&w->tx), 0);
	assert_int_equal(nf_txq_put(&w->tx, &pkt), -ENOSPC);
	nf_txq_push(&w->tx);
	for (i = 0; i < 10; i++)
		assert_true(be_tx_one(w, &got, NF_RSP_OKAY));
	be_push(txh(w), w->tx_rsp_prod);
	assert_int_equal(nf_txq_gc(&w->tx, &more), 10);
	assert_int_equal(nf_txq_space(&w->tx), 10);
	assert_int_equal(nf_txq_put(&w->tx, &pkt), 0);
	/* Ring indices wrap freely past the ring's size. */
	nf_txq_push(&w->tx);
	while (be_tx_one(w, &got, NF_RSP_DROPPED))
		;
	be_push(txh(w), w->tx_rsp_prod);
	assert_int_equal(nf_txq_gc(&w->tx, &more), NF_RING_SIZE - 9);
	assert_int_equal(w->tx.st.errors, NF_RING_SIZE - 9);	/* DROPPED counted */
	assert_int_equal(w->tx.n_free, NF_RING_SIZE);
}

static void test_tx_event_suppression(void **state)
{
	struct world *w = *state;
	static uint8_t frame[60];
	struct nf_txpkt pkt = { .data = frame, .len = sizeof(frame) };

	/* A backend that is awake has moved req_event past what it saw:
	 * no notification for requests it will find anyway. */
	assert_int_equal(nf_txq_put(&w->tx, &pkt), 0);
	assert_true(nf_txq_push(&w->tx));	/* req_event 1: wanted */
	assert_int_equal(nf_txq_put(&w->tx, &pkt), 0);
	assert_false(nf_txq_push(&w->tx));	/* req_event still 1 */
	/* The backend goes to sleep: RING_FINAL_CHECK_FOR_REQUESTS. */
	txh(w)->req_event = txh(w)->req_prod + 1;
	assert_int_equal(nf_txq_put(&w->tx, &pkt), 0);
	assert_int_equal(nf_txq_put(&w->tx, &pkt), 0);
	assert_true(nf_txq_push(&w->tx));	/* crosses req_event */

	/* The other way: the frontend armed rsp_event at cons + 1 = 1;
	 * one response crosses it, the next does not until gc re-arms. */
	{
		static struct be_txpkt got;
		bool more;

		assert_true(be_tx_one(w, &got, NF_RSP_OKAY));
		assert_true(be_push(txh(w), w->tx_rsp_prod));
		assert_true(be_tx_one(w, &got, NF_RSP_OKAY));
		assert_false(be_push(txh(w), w->tx_rsp_prod));
		assert_int_equal(nf_txq_gc(&w->tx, &more), 2);
		assert_int_equal(txh(w)->rsp_event, 3);
		assert_true(be_tx_one(w, &got, NF_RSP_OKAY));
		assert_true(be_push(txh(w), w->tx_rsp_prod));
	}
}

/* lazy_events (the data path's): a reap with room to spare leaves
 * rsp_event where it was, so a backend answering a busy ring sends no
 * events; once less than a frame of the largest kind fits, the reap arms
 * it and the next response brings one. */
static void test_tx_lazy_events(void **state)
{
	struct world *w = *state;
	static uint8_t frame[60];
	struct nf_txpkt pkt = { .data = frame, .len = sizeof(frame) };
	static struct be_txpkt got;
	unsigned i;
	bool more;

	w->tx.lazy_events = true;
	for (i = 0; i < 4; i++)
		assert_int_equal(nf_txq_put(&w->tx, &pkt), 0);
	nf_txq_push(&w->tx);
	/* the first response crosses the initial rsp_event 1 */
	assert_true(be_tx_one(w, &got, NF_RSP_OKAY));
	assert_true(be_push(txh(w), w->tx_rsp_prod));
	assert_int_equal(nf_txq_gc(&w->tx, &more), 1);
	assert_false(more);
	assert_int_equal(txh(w)->rsp_event, 1);	/* not re-armed */
	assert_true(be_tx_one(w, &got, NF_RSP_OKAY));
	assert_false(be_push(txh(w), w->tx_rsp_prod));	/* no event */
	/* a response the reap finds is still taken, and says so */
	assert_int_equal(nf_txq_gc(&w->tx, &more), 1);
	assert_true(be_tx_one(w, &got, NF_RSP_OKAY));
	assert_false(be_push(txh(w), w->tx_rsp_prod));
	/* short of room, even after the reap below frees a slot: fill the
	 * ring to NF_MAX_SLOTS - 1 free slots */
	while (nf_txq_space(&w->tx) > NF_MAX_SLOTS - 1)
		assert_int_equal(nf_txq_put(&w->tx, &pkt), 0);
	nf_txq_push(&w->tx);
	assert_int_equal(nf_txq_gc(&w->tx, &more), 1);	/* the third; now armed */
	assert_int_equal(txh(w)->rsp_event, w->tx.rsp_cons + 1);
	assert_true(be_tx_one(w, &got, NF_RSP_OKAY));
	assert_true(be_push(txh(w), w->tx_rsp_prod));	/* an event */
}

static void test_tx_bad_backend(void **state)
{
	struct world *w = *state;
	static uint8_t frame[60];
	struct nf_txpkt pkt = { .data = frame, .len = sizeof(frame) };
	union nf_tx_slot *ring = nf_tx_slots(page(w, 0));
	bool more;

	assert_int_equal(nf_txq_put(&w->tx, &pkt), 0);
	nf_txq_push(&w->tx);
	/* More responses than requests: none taken. */
	__atomic_store_n(&txh(w)->rsp_prod, 5, __ATOMIC_RELEASE);
	assert_int_equal(nf_txq_gc(&w->tx, &more), 0);
	assert_int_equal(w->tx.st.bad_rsp, 1);
	assert_int_equal(w->tx.rsp_cons, 0);
	/* An id we never sent, then the real one: the bad one frees nothing. */
	ring[0].rsp = (struct nf_tx_rsp){ .id = 200, .status = NF_RSP_OKAY };
	__atomic_store_n(&txh(w)->rsp_prod, 1, __ATOMIC_RELEASE);
	assert_int_equal(nf_txq_gc(&w->tx, &more), 0);
	assert_int_equal(w->tx.st.bad_rsp, 2);
	assert_int_equal(w->tx.n_free, NF_RING_SIZE - 1);
	/* An id out of range. */
	assert_int_equal(nf_txq_put(&w->tx, &pkt), 0);
	nf_txq_push(&w->tx);
	ring[1].rsp = (struct nf_tx_rsp){ .id = 0xffff, .status = NF_RSP_OKAY };
	__atomic_store_n(&txh(w)->rsp_prod, 2, __ATOMIC_RELEASE);
	assert_int_equal(nf_txq_gc(&w->tx, &more), 0);
	assert_int_equal(w->tx.st.bad_rsp, 3);
}

/* A frame read straight into pages of the pool (as the data path reads
 * its TAP): the requests name those pages' grants, in order, the pages
 * are held until answered, and a frame that does not fit leaves them the
 * caller's. */
static void test_tx_put_pages(void **state)
{
	struct world *w = *state;
	static uint8_t frame[9000];
	static struct be_txpkt got;
	struct nf_txpkt pkt = {
		.len = sizeof(frame), .gso_type = NF_GSO_TCPV4, .gso_size = 1448,
		.flags = NF_TXF_CSUM_BLANK | NF_TXF_DATA_VALIDATED,
	};
	union nf_tx_slot *ring = nf_tx_slots(page(w, 0));
	uint16_t pages[NF_TX_FRAME_PAGES];
	unsigned k;
	bool more;

	fill(frame, sizeof(frame), 21);
	/* three pages taken out of order: the frame lies where it was read */
	for (k = 0; k < 5; k++)
		pages[k] = (uint16_t)nf_txq_page_take(&w->tx);
	pages[0] ^= pages[4];
	pages[4] ^= pages[0];
	pages[0] ^= pages[4];
	for (k = 0; k < 3; k++)
		memcpy(nf_txq_page(&w->tx, pages[k]), frame + k * NF_PAGE_SIZE,
		       k < 2 ? NF_PAGE_SIZE : sizeof(frame) - 2 * NF_PAGE_SIZE);
	assert_int_equal(w->tx.n_free_pages, NF_RING_SIZE - 5);
	assert_int_equal(nf_txq_put_pages(&w->tx, &pkt, pages), 0);
	nf_txq_page_give(&w->tx, pages[4]);
	nf_txq_page_give(&w->tx, pages[3]);
	nf_txq_push(&w->tx);
	assert_int_equal(ring[0].req.gref, w->txr[pages[0]]);
	assert_int_equal(ring[2].req.gref, w->txr[pages[1]]);
	assert_int_equal(ring[3].req.gref, w->txr[pages[2]]);
	assert_true(be_tx_one(w, &got, NF_RSP_OKAY));
	assert_int_equal(got.len, sizeof(frame));
	assert_memory_equal(got.data, frame, sizeof(frame));
	/* held by their requests until answered */
	assert_int_equal(w->tx.n_free_pages, NF_RING_SIZE - 3);
	be_push(txh(w), w->tx_rsp_prod);
	assert_int_equal(nf_txq_gc(&w->tx, &more), 3);
	assert_int_equal(w->tx.n_free_pages, NF_RING_SIZE);

	/* a full ring: -ENOSPC, the pages stay the caller's */
	pkt.len = 60;
	pkt.gso_type = 0;
	while (nf_txq_space(&w->tx))
		assert_int_equal(nf_txq_put(&w->tx, &(struct nf_txpkt){ .data = frame, .len = 60 }),
				 0);
	pages[0] = (uint16_t)nf_txq_page_take(&w->tx);
	k = w->tx.n_free_pages;
	assert_int_equal(nf_txq_put_pages(&w->tx, &pkt, pages), -ENOSPC);
	assert_int_equal(w->tx.n_free_pages, k);
	/* and one it can never send */
	pkt.len = 5;
	assert_int_equal(nf_txq_put_pages(&w->tx, &pkt, pages), -EMSGSIZE);
	nf_txq_page_give(&w->tx, pages[0]);
	nf_txq_push(&w->tx);
	while (be_tx_one(w, &got, NF_RSP_OKAY))
		;
	be_push(txh(w), w->tx_rsp_prod);
	while (nf_txq_gc(&w->tx, &more), more)
		;
	nf_txq_gc(&w->tx, &more);
	/* every page back once: the pool never holds one twice */
	assert_int_equal(w->tx.n_free_pages, NF_RING_SIZE);
	nf_txq_page_give(&w->tx, 0);
	assert_int_equal(w->tx.n_free_pages, NF_RING_SIZE);
	for (k = 0; k < NF_RING_SIZE; k++)
		assert_true(nf_txq_page_take(&w->tx) >= 0);
	assert_int_equal(nf_txq_page_take(&w->tx), -ENOSPC);
}

/* A frame's pages, answered, come back out of the pool in the order it
 * had them (lowest first): the next frame read into them lies in the same
 * run of adjacent pages (one iovec for the reader, not one per page). */
static void test_tx_pages_back_in_order(void **state)
{
	struct world *w = *state;
	static uint8_t frame[3 * NF_PAGE_SIZE];
	static struct be_txpkt got;
	struct nf_txpkt pkt = { .data = frame, .len = sizeof(frame) };
	uint16_t first[2][3];
	bool more;

	fill(frame, sizeof(frame), 5);
	/* two frames, each in three pages, answered in one reap */
	for (unsigned f = 0; f < 2; f++) {
		for (unsigned k = 0; k < 3; k++) {
			first[f][k] = (uint16_t)nf_txq_page_take(&w->tx);
			if (k)
				assert_ptr_equal(nf_txq_page(&w->tx, first[f][k]),
						 (uint8_t *)nf_txq_page(&w->tx, first[f][k - 1]) +
							 NF_PAGE_SIZE);
		}
		assert_int_equal(nf_txq_put_pages(&w->tx, &pkt, first[f]), 0);
	}
	nf_txq_push(&w->tx);
	assert_true(be_tx_one(w, &got, NF_RSP_OKAY));
	assert_true(be_tx_one(w, &got, NF_RSP_OKAY));
	be_push(txh(w), w->tx_rsp_prod);
	assert_int_equal(nf_txq_gc(&w->tx, &more), 6);
	/* out again in the order the frames had them, first frame first */
	for (unsigned f = 0; f < 2; f++)
		for (unsigned k = 0; k < 3; k++)
			assert_int_equal(nf_txq_page_take(&w->tx), first[f][k]);
}

/* Small frames, each read into a frame's worth of pages and sending only
 * its first, answered one by one: the pages come out of the pool again as
 * one run of adjacent pages, lowest first, so the next frame is read with
 * one iovec for its pages. (A stack of pages handed the answered ones
 * back first, scattered a frame's worth apart: a 64 B read had 16.) */
static void test_tx_small_frames_leave_runs(void **state)
{
	struct world *w = *state;
	static uint8_t frame[60];
	static struct be_txpkt got;
	struct nf_txpkt pkt = { .data = frame, .len = sizeof(frame) };
	uint16_t pages[4][NF_TX_FRAME_PAGES];
	unsigned f, k, p0;
	bool more;

	fill(frame, sizeof(frame), 9);
	/* a batch of four reads, as the data path makes them */
	for (f = 0; f < 4; f++)
		for (k = 0; k < NF_TX_FRAME_PAGES; k++)
			pages[f][k] = (uint16_t)nf_txq_page_take(&w->tx);
	for (f = 4; f-- > 0;)
		for (k = NF_TX_FRAME_PAGES; k-- > 1;)
			nf_txq_page_give(&w->tx, pages[f][k]);
	for (f = 0; f < 4; f++) {
		memcpy(nf_txq_page(&w->tx, pages[f][0]), frame, sizeof(frame));
		assert_int_equal(nf_txq_put_pages(&w->tx, &pkt, pages[f]), 0);
	}
	nf_txq_push(&w->tx);
	for (f = 0; f < 4; f++) {
		assert_true(be_tx_one(w, &got, NF_RSP_OKAY));
		assert_memory_equal(got.data, frame, sizeof(frame));
	}
	be_push(txh(w), w->tx_rsp_prod);
	assert_int_equal(nf_txq_gc(&w->tx, &more), 4);
	assert_int_equal(w->tx.n_free_pages, NF_RING_SIZE);
	for (k = 0; k < NF_TX_FRAME_PAGES; k++)
		assert_int_equal(nf_txq_page_take(&w->tx), k);
	/* a run is cut where a page is held, and goes on past 64 pages */
	assert_int_equal(nf_txq_run_take(&w->tx, 100, &p0), 100);
	assert_int_equal(p0, NF_TX_FRAME_PAGES);
	nf_txq_page_give(&w->tx, 3);
	nf_txq_page_give(&w->tx, 4);
	nf_txq_page_give(&w->tx, 6);
	assert_int_equal(nf_txq_run_take(&w->tx, 16, &p0), 2);
	assert_int_equal(p0, 3);
	assert_int_equal(nf_txq_run_take(&w->tx, 16, &p0), 1);
	assert_int_equal(p0, 6);
	assert_int_equal(nf_txq_run_take(&w->tx, 16, &p0), 16);
	assert_int_equal(p0, NF_TX_FRAME_PAGES + 100);
	assert_int_equal(w->tx.n_free_pages, NF_RING_SIZE - 132);
}

/* ---- RX ---- */

static void test_rx_refill(void **state)
{
	struct world *w = *state;
	union nf_rx_slot *ring = nf_rx_slots(page(w, 1));
	unsigned i;

	assert_true(nf_rxq_refill(&w->rx));
	assert_int_equal(rxh(w)->req_prod, NF_RING_SIZE);
	for (i = 0; i < NF_RING_SIZE; i++) {
		assert_int_equal(ring[i].req.id, i);
		assert_int_equal(ring[i].req.gref, w->rxr[i]);
	}
	/* Full: nothing more to post. */
	assert_false(nf_rxq_refill(&w->rx));
}

static void test_rx_single_and_multi(void **state)
{
	struct world *w = *state;
	static uint8_t frame[10000], out[NF_MAX_TX_SIZE + NF_PAGE_SIZE];
	struct nf_rxpkt pkt;
	unsigned i;

	nf_rxq_refill(&w->rx);
	assert_int_equal(nf_rxq_get(&w->rx, out, sizeof(out), &pkt), -EAGAIN);
	assert_false(nf_rxq_final_check(&w->rx));
	assert_int_equal(rxh(w)->rsp_event, 1);

	fill(frame, 100, 5);
	assert_int_equal(be_rx_put(w, frame, 100, NF_RXF_DATA_VALIDATED, 0, 0, 4096, 0), 1);
	assert_true(be_push(rxh(w), w->rx_rsp_prod));
	assert_int_equal(nf_rxq_get(&w->rx, out, sizeof(out), &pkt), 0);
	assert_int_equal(pkt.len, 100);
	assert_int_equal(pkt.flags, NF_RXF_DATA_VALIDATED);
	assert_int_equal(pkt.gso_type, 0);
	assert_memory_equal(out, frame, 100);

	/* 10000 bytes in 1000-byte slots at offset 10, with GSO: 11 slots. */
	fill(frame, sizeof(frame), 9);
	assert_int_equal(be_rx_put(w, frame, sizeof(frame), NF_RXF_CSUM_BLANK |
				   NF_RXF_DATA_VALIDATED, NF_GSO_TCPV6, 1440, 1000, 10), 11);
	be_push(rxh(w), w->rx_rsp_prod);
	assert_int_equal(nf_rxq_get(&w->rx, out, sizeof(out), &pkt), 0);
	assert_int_equal(pkt.len, sizeof(frame));
	assert_int_equal(pkt.flags, NF_RXF_CSUM_BLANK | NF_RXF_DATA_VALIDATED);
	assert_int_equal(pkt.gso_type, NF_GSO_TCPV6);
	assert_int_equal(pkt.gso_size, 1440);
	assert_memory_equal(out, frame, sizeof(frame));
	assert_int_equal(nf_rxq_get(&w->rx, out, sizeof(out), &pkt), -EAGAIN);
	assert_int_equal(w->rx.st.packets, 2);

	/* The 12 used buffers go back, in their own slots; the wrap works. */
	nf_rxq_refill(&w->rx);
	assert_int_equal(rxh(w)->req_prod, NF_RING_SIZE + 12);
	for (i = 0; i < 300; i++) {
		assert_int_equal(be_rx_put(w, frame, 60, 0, 0, 0, 4096, 0), 1);
		be_push(rxh(w), w->rx_rsp_prod);
		assert_int_equal(nf_rxq_get(&w->rx, out, sizeof(out), &pkt), 0);
		assert_int_equal(pkt.len, 60);
		nf_rxq_refill(&w->rx);
	}
}

static void test_rx_partial_then_complete(void **state)
{
	struct world *w = *state;
	static uint8_t frame[5000], out[NF_MAX_TX_SIZE + NF_PAGE_SIZE];
	struct nf_rxpkt pkt;

	nf_rxq_refill(&w->rx);
	fill(frame, sizeof(frame), 11);
	assert_int_equal(be_rx_put(w, frame, sizeof(frame), 0, 0, 0, 4096, 0), 2);
	/* Only the first slot published: wait, consume nothing. */
	be_push(rxh(w), 1);
	assert_int_equal(nf_rxq_get(&w->rx, out, sizeof(out), &pkt), -EAGAIN);
	assert_int_equal(w->rx.rsp_cons, 0);
	be_push(rxh(w), 2);
	assert_int_equal(nf_rxq_get(&w->rx, out, sizeof(out), &pkt), 0);
	assert_int_equal(pkt.len, sizeof(frame));
	assert_memory_equal(out, frame, sizeof(frame));
}

/* Each bad layout is dropped (-EIO), counted, and the next good packet
 * still comes through. */
static void rx_expect_drop_then_good(struct world *w)
{
	static uint8_t frame[60], out[NF_MAX_TX_SIZE + NF_PAGE_SIZE];
	struct nf_rxpkt pkt;
	uint64_t errs = w->rx.st.errors;

	assert_int_equal(nf_rxq_get(&w->rx, out, sizeof(out), &pkt), -EIO);
	assert_int_equal(w->rx.st.errors, errs + 1);
	nf_rxq_refill(&w->rx);
	fill(frame, sizeof(frame), 2);
	assert_int_equal(be_rx_put(w, frame, sizeof(frame), 0, 0, 0, 4096, 0), 1);
	be_push(rxh(w), w->rx_rsp_prod);
	assert_int_equal(nf_rxq_get(&w->rx, out, sizeof(out), &pkt), 0);
	assert_int_equal(pkt.len, sizeof(frame));
	assert_memory_equal(out, frame, sizeof(frame));
}

static void rx_rsp(struct world *w, struct nf_rx_rsp r)
{
	union nf_rx_slot *ring = nf_rx_slots(page(w, 1));

	ring[w->rx_req_cons++ & 255].rsp = r;
	w->rx_rsp_prod = w->rx_req_cons;
}

static void rx_extra(struct world *w, uint8_t type, uint8_t flags, uint16_t size, uint8_t gtype)
{
	union nf_rx_slot *ring = nf_rx_slots(page(w, 1));
	struct nf_extra e = { .type = type, .flags = flags };

	e.u.gso.size = size;
	e.u.gso.type = gtype;
	ring[w->rx_req_cons++ & 255].extra = e;
	w->rx_rsp_prod = w->rx_req_cons;
}

/* The same packets handed out in place: the pieces name the posted
 * buffers at the backend's offsets, in order, and checks are those of
 * nf_rxq_get (a bad layout is dropped and counted). */
static void test_rx_get_iov(void **state)
{
	struct world *w = *state;
	static uint8_t frame[10000], out[sizeof(frame)];
	struct iovec iov[NF_RX_MAX_SLOTS];
	struct nf_rxpkt pkt;
	unsigned n, k;
	size_t at = 0;

	nf_rxq_refill(&w->rx);
	assert_int_equal(nf_rxq_get_iov(&w->rx, iov, &n, &pkt), -EAGAIN);
	fill(frame, sizeof(frame), 13);
	/* 10000 bytes in 1000-byte slots at offset 10, with GSO: 11 slots */
	assert_int_equal(be_rx_put(w, frame, sizeof(frame), NF_RXF_CSUM_BLANK |
				   NF_RXF_DATA_VALIDATED, NF_GSO_TCPV4, 1448, 1000, 10), 11);
	be_push(rxh(w), w->rx_rsp_prod);
	assert_int_equal(nf_rxq_get_iov(&w->rx, iov, &n, &pkt), 0);
	assert_int_equal(pkt.len, sizeof(frame));
	assert_int_equal(pkt.gso_type, NF_GSO_TCPV4);
	assert_int_equal(pkt.gso_size, 1448);
	assert_int_equal(n, 10);
	/* slot 1 held the extra: the data is in the buffers of 0, 2, 3... */
	assert_ptr_equal(iov[0].iov_base, (uint8_t *)w->rxb[0] + 10);
	assert_ptr_equal(iov[1].iov_base, (uint8_t *)w->rxb[2] + 10);
	for (k = 0; k < n; k++) {
		assert_int_equal(iov[k].iov_len, 1000);
		memcpy(out + at, iov[k].iov_base, iov[k].iov_len);
		at += iov[k].iov_len;
	}
	assert_memory_equal(out, frame, sizeof(frame));
	/* data past the end of its page: dropped, counted, nothing named */
	rx_rsp(w, (struct nf_rx_rsp){ .offset = 4000, .status = 200 });
	be_push(rxh(w), w->rx_rsp_prod);
	assert_int_equal(nf_rxq_get_iov(&w->rx, iov, &n, &pkt), -EIO);
	assert_int_equal(w->rx.st.errors, 1);
	assert_int_equal(w->rx.st.packets, 1);
}

static void test_rx_bad_backend(void **state)
{
	struct world *w = *state;
	unsigned i;

	nf_rxq_refill(&w->rx);
	/* an error status */
	rx_rsp(w, (struct nf_rx_rsp){ .status = NF_RSP_ERROR });
	be_push(rxh(w), w->rx_rsp_prod);
	rx_expect_drop_then_good(w);
	/* data past the end of the page */
	rx_rsp(w, (struct nf_rx_rsp){ .offset = 4000, .status = 200 });
	be_push(rxh(w), w->rx_rsp_prod);
	rx_expect_drop_then_good(w);
	/* a zero-length packet */
	rx_rsp(w, (struct nf_rx_rsp){ .status = 0 });
	be_push(rxh(w), w->rx_rsp_prod);
	rx_expect_drop_then_good(w);
	/* 19 slots: more than netfront takes */
	for (i = 0; i < 19; i++)
		rx_rsp(w, (struct nf_rx_rsp){ .status = 10,
					      .flags = i < 18 ? NF_RXF_MORE_DATA : 0 });
	be_push(rxh(w), w->rx_rsp_prod);
	rx_expect_drop_then_good(w);
	/* GSO extra with size 0, with a bad type, an unknown extra type */
	rx_rsp(w, (struct nf_rx_rsp){ .status = 60, .flags = NF_RXF_EXTRA_INFO });
	rx_extra(w, NF_EXTRA_GSO, 0, 0, NF_GSO_TCPV4);
	be_push(rxh(w), w->rx_rsp_prod);
	rx_expect_drop_then_good(w);
	rx_rsp(w, (struct nf_rx_rsp){ .status = 60, .flags = NF_RXF_EXTRA_INFO });
	rx_extra(w, NF_EXTRA_GSO, 0, 1400, 5);
	be_push(rxh(w), w->rx_rsp_prod);
	rx_expect_drop_then_good(w);
	rx_rsp(w, (struct nf_rx_rsp){ .status = 60, .flags = NF_RXF_EXTRA_INFO });
	rx_extra(w, 0, 0, 0, 0);
	be_push(rxh(w), w->rx_rsp_prod);
	rx_expect_drop_then_good(w);
	/* a chain of extras that never ends, over every posted buffer */
	{
		uint32_t posted = w->rx.req_prod_pvt;

		rx_rsp(w, (struct nf_rx_rsp){ .status = 60, .flags = NF_RXF_EXTRA_INFO });
		while (w->rx_req_cons != posted)
			rx_extra(w, NF_EXTRA_HASH, NF_EXTRA_FLAG_MORE, 0, 0);
		be_push(rxh(w), w->rx_rsp_prod);
		rx_expect_drop_then_good(w);
	}
	/* more_data on every posted buffer: nothing more can come */
	{
		uint32_t posted = w->rx.req_prod_pvt;

		while (w->rx_req_cons != posted)
			rx_rsp(w, (struct nf_rx_rsp){ .status = 1, .flags = NF_RXF_MORE_DATA });
		be_push(rxh(w), w->rx_rsp_prod);
		rx_expect_drop_then_good(w);
	}
	/* rsp_prod beyond every posted buffer */
	__atomic_store_n(&rxh(w)->rsp_prod, w->rx.req_prod_pvt + 5, __ATOMIC_RELEASE);
	{
		static uint8_t out[NF_MAX_TX_SIZE + NF_PAGE_SIZE];
		struct nf_rxpkt pkt;

		assert_int_equal(nf_rxq_get(&w->rx, out, sizeof(out), &pkt), -EIO);
		assert_int_equal(w->rx.rsp_cons, w->rx.req_prod_pvt);
	}
}

/* ---- packet helpers ---- */

/* Ethernet + IPv4 + TCP (20-byte header) + payload; checksum field holds
 * the pseudo-header sum as a CHECKSUM_PARTIAL stack would leave it. */
static size_t build_tcp4(uint8_t *p, size_t payload)
{
	size_t len = 14 + 20 + 20 + payload;

	memset(p, 0, len);
	p[12] = 0x08;
	p[14] = 0x45;
	p[16] = (uint8_t)((len - 14) >> 8);
	p[17] = (uint8_t)(len - 14);
	p[22] = 64;
	p[23] = IPPROTO_TCP;
	memcpy(p + 26, "\xc0\x00\x02\x01\xc0\x00\x02\x02", 8);	/* 192.0.2.1 -> .2 */
	p[34 + 12] = 5 << 4;
	fill(p + 54, payload, 4);
	return len;
}

static uint16_t ones_sum(const uint8_t *p, size_t len, uint32_t sum)
{
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

static void test_pkt_parse(void **state)
{
	static uint8_t p[2000];
	struct nf_l4 l4;
	size_t len = build_tcp4(p, 100);

	assert_int_equal(nf_pkt_parse(p, len, &l4), 0);
	assert_false(l4.v6);
	assert_int_equal(l4.proto, IPPROTO_TCP);
	assert_int_equal(l4.l4off, 34);
	assert_int_equal(l4.csum_off, 16);
	assert_int_equal(l4.hdr_len, 54);
	/* truncated TCP header, IPv4 fragment, ARP */
	assert_int_equal(nf_pkt_parse(p, 40, &l4), -EINVAL);
	p[20] = 0x20;	/* MF */
	assert_int_equal(nf_pkt_parse(p, len, &l4), -EPROTONOSUPPORT);
	p[20] = 0;
	p[13] = 0x06;
	assert_int_equal(nf_pkt_parse(p, len, &l4), -EPROTONOSUPPORT);
	/* a TCP data offset pointing past the frame */
	p[13] = 0x00;
	p[34 + 12] = 15 << 4;
	assert_int_equal(nf_pkt_parse(p, 34 + 40, &l4), -EINVAL);

	/* IPv6 in a VLAN tag, a hop-by-hop header, then UDP */
	memset(p, 0, sizeof(p));
	p[12] = 0x81;
	p[16] = 0x86;
	p[17] = 0xdd;
	p[18] = 0x60;
	p[18 + 6] = 0;		/* next: hop-by-hop */
	p[58] = IPPROTO_UDP;	/* hop-by-hop: next UDP, length 0 (8 bytes) */
	assert_int_equal(nf_pkt_parse(p, 18 + 40 + 8 + 8 + 4, &l4), 0);
	assert_true(l4.v6);
	assert_int_equal(l4.proto, IPPROTO_UDP);
	assert_int_equal(l4.l4off, 18 + 40 + 8);
	assert_int_equal(l4.csum_off, 6);
	/* an IPv6 fragment header */
	p[58] = 44;
	assert_int_equal(nf_pkt_parse(p, 18 + 40 + 8 + 8 + 4, &l4), -EPROTONOSUPPORT);
	/* extension header length running off the frame */
	p[58] = IPPROTO_UDP;
	p[59] = 200;
	assert_int_equal(nf_pkt_parse(p, 18 + 40 + 8 + 8 + 4, &l4), -EINVAL);
}

static void test_pkt_csum(void **state)
{
	static uint8_t p[2000];
	size_t len = build_tcp4(p, 101);	/* odd length */
	uint32_t pseudo = 0xc000 + 0x0201 + 0xc000 + 0x0202 + IPPROTO_TCP + (uint32_t)(len - 34);
	uint16_t ps = ones_sum((const uint8_t *)"", 0, pseudo);

	/* partial: the field holds the folded pseudo-header sum */
	p[50] = (uint8_t)(ps >> 8);
	p[51] = (uint8_t)ps;
	assert_int_equal(nf_pkt_csum_fill(p, len, 34, 16), 0);
	/* a verifier sums pseudo header and segment to 0xffff */
	assert_int_equal(ones_sum(p + 34, len - 34, pseudo), 0xffff);
	assert_int_equal(nf_pkt_csum_fill(p, len, (unsigned)len - 1, 16), -EINVAL);
}

static void test_pkt_vnet(void **state)
{
	static uint8_t p[2000];
	size_t len = build_tcp4(p, 100);
	struct virtio_net_hdr vh = { 0 };
	struct nf_txpkt tx;
	struct nf_rxpkt rx = { 0 };

	/* TAP -> netif */
	vh.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	vh.csum_start = 34;
	vh.csum_offset = 16;
	vh.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
	vh.gso_size = 1448;
	assert_int_equal(nf_pkt_from_vnet(&vh, p, len, false, &tx), 0);
	assert_int_equal(tx.flags, NF_TXF_CSUM_BLANK | NF_TXF_DATA_VALIDATED);
	assert_int_equal(tx.gso_type, NF_GSO_TCPV4);
	assert_int_equal(tx.gso_size, 1448);
	vh.gso_type = VIRTIO_NET_HDR_GSO_UDP;
	assert_int_equal(nf_pkt_from_vnet(&vh, p, len, false, &tx), -EOPNOTSUPP);
	vh.gso_type = 0;
	vh.flags = VIRTIO_NET_HDR_F_DATA_VALID;
	assert_int_equal(nf_pkt_from_vnet(&vh, p, len, false, &tx), 0);
	assert_int_equal(tx.flags, NF_TXF_DATA_VALIDATED);

	/* netif -> TAP */
	rx.flags = NF_RXF_CSUM_BLANK | NF_RXF_DATA_VALIDATED;
	rx.gso_type = NF_GSO_TCPV4;
	rx.gso_size = 1448;
	assert_int_equal(nf_pkt_to_vnet(&rx, p, len, &vh), 0);
	assert_int_equal(vh.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
	assert_int_equal(vh.csum_start, 34);
	assert_int_equal(vh.csum_offset, 16);
	assert_int_equal(vh.gso_type, VIRTIO_NET_HDR_GSO_TCPV4);
	assert_int_equal(vh.gso_size, 1448);
	assert_int_equal(vh.hdr_len, 54);
	/* GSO claimed for IPv6 on an IPv4 frame; GSO without partial csum */
	rx.gso_type = NF_GSO_TCPV6;
	assert_int_equal(nf_pkt_to_vnet(&rx, p, len, &vh), -EINVAL);
	rx.gso_type = NF_GSO_TCPV4;
	rx.flags = NF_RXF_DATA_VALIDATED;
	assert_int_equal(nf_pkt_to_vnet(&rx, p, len, &vh), -EINVAL);
	rx.gso_type = 0;
	assert_int_equal(nf_pkt_to_vnet(&rx, p, len, &vh), 0);
	assert_int_equal(vh.flags, VIRTIO_NET_HDR_F_DATA_VALID);
	/* partial checksum on a frame that is not TCP/UDP */
	rx.flags = NF_RXF_CSUM_BLANK;
	p[23] = 1;	/* ICMP */
	assert_int_equal(nf_pkt_to_vnet(&rx, p, len, &vh), -EINVAL);
}


/* ---- the wire format, against Xen's netif.h ---- */

static void test_wire_layout(void **state)
{
	assert_int_equal(sizeof(struct nf_tx_req), sizeof(struct netif_tx_request));
	assert_int_equal(offsetof(struct nf_tx_req, gref), offsetof(struct netif_tx_request, gref));
	assert_int_equal(offsetof(struct nf_tx_req, offset), offsetof(struct netif_tx_request, offset));
	assert_int_equal(offsetof(struct nf_tx_req, flags), offsetof(struct netif_tx_request, flags));
	assert_int_equal(offsetof(struct nf_tx_req, id), offsetof(struct netif_tx_request, id));
	assert_int_equal(offsetof(struct nf_tx_req, size), offsetof(struct netif_tx_request, size));
	assert_int_equal(sizeof(struct nf_tx_rsp), sizeof(struct netif_tx_response));
	assert_int_equal(offsetof(struct nf_tx_rsp, status), offsetof(struct netif_tx_response, status));
	assert_int_equal(sizeof(struct nf_rx_req), sizeof(struct netif_rx_request));
	assert_int_equal(offsetof(struct nf_rx_req, gref), offsetof(struct netif_rx_request, gref));
	assert_int_equal(sizeof(struct nf_rx_rsp), sizeof(struct netif_rx_response));
	assert_int_equal(offsetof(struct nf_rx_rsp, offset), offsetof(struct netif_rx_response, offset));
	assert_int_equal(offsetof(struct nf_rx_rsp, flags), offsetof(struct netif_rx_response, flags));
	assert_int_equal(offsetof(struct nf_rx_rsp, status), offsetof(struct netif_rx_response, status));
	assert_int_equal(sizeof(struct nf_extra), sizeof(struct netif_extra_info));
	assert_int_equal(offsetof(struct nf_extra, u.gso.size),
			 offsetof(struct netif_extra_info, u.gso.size));
	assert_int_equal(offsetof(struct nf_extra, u.gso.type),
			 offsetof(struct netif_extra_info, u.gso.type));
	assert_int_equal((uintptr_t)nf_tx_slots(NULL) , offsetof(struct netif_tx_sring, ring));
	assert_int_equal((uintptr_t)nf_rx_slots(NULL), offsetof(struct netif_rx_sring, ring));
	assert_int_equal(offsetof(struct nf_sring_hdr, rsp_event),
			 offsetof(struct netif_tx_sring, rsp_event));
	assert_int_equal(NF_RING_SIZE, __CONST_RING_SIZE(netif_tx, 4096));
	assert_int_equal(NF_RING_SIZE, __CONST_RING_SIZE(netif_rx, 4096));
	assert_int_equal(NF_TXF_CSUM_BLANK, NETTXF_csum_blank);
	assert_int_equal(NF_TXF_DATA_VALIDATED, NETTXF_data_validated);
	assert_int_equal(NF_TXF_MORE_DATA, NETTXF_more_data);
	assert_int_equal(NF_TXF_EXTRA_INFO, NETTXF_extra_info);
	assert_int_equal(NF_RXF_DATA_VALIDATED, NETRXF_data_validated);
	assert_int_equal(NF_RXF_CSUM_BLANK, NETRXF_csum_blank);
	assert_int_equal(NF_RXF_MORE_DATA, NETRXF_more_data);
	assert_int_equal(NF_RXF_EXTRA_INFO, NETRXF_extra_info);
	assert_int_equal(NF_EXTRA_GSO, XEN_NETIF_EXTRA_TYPE_GSO);
	assert_int_equal(NF_EXTRA_TYPE_MAX, XEN_NETIF_EXTRA_TYPE_MAX);
	assert_int_equal(NF_GSO_TCPV4, XEN_NETIF_GSO_TYPE_TCPV4);
	assert_int_equal(NF_GSO_TCPV6, XEN_NETIF_GSO_TYPE_TCPV6);
	assert_int_equal(NF_RSP_NULL, NETIF_RSP_NULL);
	assert_int_equal(NF_RSP_DROPPED, NETIF_RSP_DROPPED);
}

/* ---- interop: our frontend, the project's backend library ---- */

/* GNTTABOP_copy on the world's pages: refs are GREF_BASE + page, TX
 * buffers are granted read-only. */
static int world_copy(void *ctx, struct hv_copy *segs, unsigned n)
{
	struct world *w = ctx;
	unsigned i;

	for (i = 0; i < n; i++) {
		struct hv_copy *c = &segs[i];
		uint32_t pg = c->ref - GREF_BASE;

		if (c->ref < GREF_BASE || pg >= 2 + 2 * NF_RING_SIZE || pg < 2) {
			c->status = HV_GNTST_BAD_GNTREF;
		} else if ((unsigned)c->offset + c->len > NF_PAGE_SIZE) {
			c->status = HV_GNTST_BAD_COPY_ARG;
		} else if (c->to_guest && pg < 2 + NF_RING_SIZE) {
			c->status = HV_GNTST_PERMISSION_DENIED;
		} else {
			if (c->to_guest)
				memcpy((uint8_t *)page(w, pg) + c->offset, c->local, c->len);
			else
				memcpy(c->local, (uint8_t *)page(w, pg) + c->offset, c->len);
			c->status = HV_GNTST_OKAY;
		}
	}
	return 0;
}

static struct netif_queue *backend_queue(struct world *w)
{
	static const struct netif_features all = {
		.sg = true, .gso_tcpv4 = true, .gso_tcpv6 = true, .csum = true,
		.ipv6_csum = true, .rx_notify = true,
	};
	struct netif_queue *q = calloc(1, sizeof(*q));

	assert_non_null(q);
	static struct netif_scratch scratch; /* both ends' queues, served in turn */

	netif_queue_init(q, 5, &all, page(w, 0), page(w, 1), world_copy, w, &scratch);
	return q;
}

static void test_interop_tx(void **state)
{
	struct world *w = *state;
	struct netif_queue *bq = backend_queue(w);
	static uint8_t small[60], big[NF_MAX_TX_SIZE], arena_buf[4 * 65536];
	struct netif_tx_arena arena = { .buf = arena_buf, .cap = sizeof(arena_buf) };
	struct netif_pkt pkts[NETIF_BURST];
	size_t blen = build_tcp4(big, NF_MAX_TX_SIZE - 54);
	struct nf_txpkt p1 = { .data = small, .len = sizeof(small), .flags = NF_TXF_DATA_VALIDATED };
	struct nf_txpkt p2 = {
		.data = big, .len = blen, .gso_type = NF_GSO_TCPV4, .gso_size = 1448,
		.flags = NF_TXF_CSUM_BLANK | NF_TXF_DATA_VALIDATED,
	};
	unsigned n = 0;
	uint64_t wait = 0;
	bool more, notify, fe_more;

	fill(small, sizeof(small), 7);
	assert_int_equal(nf_txq_put(&w->tx, &p1), 0);
	assert_int_equal(nf_txq_put(&w->tx, &p2), 0);
	nf_txq_push(&w->tx);
	assert_int_equal(netif_tx_burst(bq, &arena, 0, pkts, NETIF_BURST, &n, &more, &notify,
					&wait), 0);
	assert_false(netif_queue_is_fatal(bq));
	assert_int_equal(n, 2);
	assert_int_equal(pkts[0].len, sizeof(small));
	assert_memory_equal(pkts[0].data, small, sizeof(small));
	assert_int_equal(pkts[0].flags, NETIF_PKT_DATA_VALIDATED);
	assert_int_equal(pkts[1].len, blen);
	assert_memory_equal(pkts[1].data, big, blen);
	assert_int_equal(pkts[1].gso_type, XEN_NETIF_GSO_TYPE_TCPV4);
	assert_int_equal(pkts[1].gso_size, 1448);
	assert_true(pkts[1].flags & NETIF_PKT_CSUM_BLANK);
	assert_true(notify);	/* rsp_event was 1 */
	/* Every slot answered OKAY (or NULL): all buffers come back. */
	assert_int_equal(nf_txq_gc(&w->tx, &fe_more), 1 + 16);
	assert_int_equal(w->tx.st.errors, 0);
	assert_int_equal(w->tx.st.bad_rsp, 0);
	assert_int_equal(w->tx.n_free, NF_RING_SIZE);
	free(bq);
}

static void test_interop_rx(void **state)
{
	struct world *w = *state;
	struct netif_queue *bq = backend_queue(w);
	static uint8_t small[60], big[20000], out[NF_MAX_TX_SIZE + NF_PAGE_SIZE];
	size_t blen = build_tcp4(big, sizeof(big) - 54);
	struct netif_pkt pkts[2] = {
		{ .data = small, .len = sizeof(small), .flags = NETIF_PKT_DATA_VALIDATED },
		{ .data = big, .len = (uint32_t)blen, .gso_type = XEN_NETIF_GSO_TYPE_TCPV4,
		  .gso_size = 1448, .flags = NETIF_PKT_CSUM_BLANK | NETIF_PKT_DATA_VALIDATED },
	};
	unsigned avail = 0, done = 0;
	struct nf_rxpkt pkt;
	bool notify;

	fill(small, sizeof(small), 13);
	/* Nothing posted: the backend has no buffer. */
	assert_int_equal(netif_rx_slots_avail(bq, &avail), 0);
	assert_int_equal(avail, 0);
	assert_true(nf_rxq_refill(&w->rx));
	assert_int_equal(netif_rx_slots_avail(bq, &avail), 0);
	assert_int_equal(avail, NF_RING_SIZE);
	assert_int_equal(netif_rx_burst(bq, pkts, 2, &done, &notify), 0);
	assert_int_equal(done, 2);
	assert_false(netif_queue_is_fatal(bq));

	assert_int_equal(nf_rxq_get(&w->rx, out, sizeof(out), &pkt), 0);
	assert_int_equal(pkt.len, sizeof(small));
	assert_memory_equal(out, small, sizeof(small));
	assert_true(pkt.flags & NF_RXF_DATA_VALIDATED);
	assert_int_equal(pkt.gso_type, 0);
	assert_int_equal(nf_rxq_get(&w->rx, out, sizeof(out), &pkt), 0);
	assert_int_equal(pkt.len, blen);
	assert_memory_equal(out, big, blen);
	assert_int_equal(pkt.gso_type, NF_GSO_TCPV4);
	assert_int_equal(pkt.gso_size, 1448);
	assert_true(pkt.flags & NF_RXF_CSUM_BLANK);
	assert_int_equal(nf_rxq_get(&w->rx, out, sizeof(out), &pkt), -EAGAIN);
	assert_int_equal(w->rx.st.errors, 0);
	free(bq);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_tx_single, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx_chain_gso, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx_event_suppression, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx_lazy_events, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx_bad_backend, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx_put_pages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx_pages_back_in_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx_small_frames_leave_runs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_refill, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_single_and_multi, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_partial_then_complete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_get_iov, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_bad_backend, setup, teardown),
		cmocka_unit_test(test_pkt_parse),
		cmocka_unit_test(test_pkt_csum),
		cmocka_unit_test(test_pkt_vnet),
		cmocka_unit_test(test_wire_layout),
		cmocka_unit_test_setup_teardown(test_interop_tx, setup, teardown),
		cmocka_unit_test_setup_teardown(test_interop_rx, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
