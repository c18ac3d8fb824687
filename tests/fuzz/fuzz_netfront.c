/* libFuzzer harness for the simulated netfront's ring and packet code
 * (hypervisor/sim/netfront_ring.c, nf_pkt.c): the input is what a hostile
 * backend controls (XSA-391's direction) — both rings' response producers
 * and response slots, and the bytes it copies into our RX buffers. The
 * frontend first queues a few TX packets and posts every RX buffer, then
 * reaps and parses whatever the backend wrote. Besides the sanitizers it
 * checks the code's promises: TX ids are never freed twice nor lost (free
 * plus in flight is always the ring size), the consumer never passes what
 * was posted, an RX packet is non-empty and inside the caller's buffer, and
 * a virtio header made from it points inside the frame.
 *
 * Input layout: [0..4) TX rsp_prod, [4..8) RX rsp_prod, [8] TX packets to
 * queue first (mod 16), then TX slots (12 bytes each), RX slots (8 bytes
 * each), then up to a page copied into every RX buffer.
 *
 * The sources are included, not linked: only this translation unit is
 * built with -fsanitize=fuzzer. */
#include "hypervisor/sim/netfront_ring.c"
#include "hypervisor/sim/nf_pkt.c"

#include <stdio.h>
#include <stdlib.h>

#include "tests/fuzz/fuzz_check.h"

#define NPAGES (2 + 2 * NF_RING_SIZE)

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint8_t *pages;
static uint8_t frame[NF_MAX_TX_SIZE + NF_PAGE_SIZE];

static void check_tx(const struct nf_txq *q)
{
	unsigned i, flying = 0;

	for (i = 0; i < NF_RING_SIZE; i++)
		flying += q->in_flight[i];
	CHECK(q->n_free + flying == NF_RING_SIZE);
	/* every page is free or held by a request in flight, never both */
	CHECK(q->n_free_pages + flying == q->n_pages);
	/* the free map says the same, and holds no page past the pool */
	unsigned set = 0;
	for (i = 0; i < sizeof(q->free_map) / sizeof(q->free_map[0]); i++)
		set += (unsigned)__builtin_popcountll(q->free_map[i]);
	CHECK(set == q->n_free_pages);
	for (i = q->n_pages; i < NF_TX_POOL; i++)
		CHECK(!(q->free_map[i / 64] & (1ull << (i % 64))));
	CHECK((uint32_t)(q->req_prod_pvt - q->rsp_cons) <= NF_RING_SIZE);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	void *txb[NF_RING_SIZE], *rxb[NF_RING_SIZE];
	uint32_t txr[NF_RING_SIZE], rxr[NF_RING_SIZE];
	static struct nf_txq tx;
	static struct nf_rxq rx;
	const uint8_t *p = data + 9, *end = data + size;
	unsigned i, npkts;
	size_t n;
	bool more;

	if (size < 9)
		return 0;
	if (!pages && !(pages = aligned_alloc(NF_PAGE_SIZE, (size_t)NPAGES * NF_PAGE_SIZE)))
		abort();
	memset(pages, 0, (size_t)NPAGES * NF_PAGE_SIZE);
	for (i = 0; i < NF_RING_SIZE; i++) {
		txb[i] = pages + (size_t)(2 + i) * NF_PAGE_SIZE;
		rxb[i] = pages + (size_t)(2 + NF_RING_SIZE + i) * NF_PAGE_SIZE;
		txr[i] = 100 + i;
		rxr[i] = 400 + i;
	}
	nf_txq_init(&tx, pages, txb, txr, NF_RING_SIZE, true);
	nf_rxq_init(&rx, pages + NF_PAGE_SIZE, rxb, rxr);
	nf_rxq_refill(&rx);

	/* Our own packets: sizes 60 .. 64 KiB, some GSO. */
	npkts = data[8] % 16;
	for (i = 0; i < npkts; i++) {
		struct nf_txpkt pkt = { .data = frame, .len = 60 + (size_t)i * 4093,
					.flags = NF_TXF_CSUM_BLANK };

		if (i & 1) {
			pkt.gso_type = NF_GSO_TCPV4;
			pkt.gso_size = 1448;
		}
		CHECK(nf_txq_put(&tx, &pkt) == 0 || nf_txq_space(&tx) < 18);
	}
	nf_txq_push(&tx);
	check_tx(&tx);

	/* The backend's TX responses and producer. */
	n = (size_t)(end - p) < NF_RING_SIZE * 12 ? (size_t)(end - p) : NF_RING_SIZE * 12;
	memcpy(nf_tx_slots(pages), p, n);
	p += n;
	((struct nf_sring_hdr *)pages)->rsp_prod = get32(data);
	for (i = 0; i < 4; i++) {
		nf_txq_gc(&tx, &more);
		check_tx(&tx);
	}

	/* The backend's RX responses, producer and what it copied to us. */
	n = (size_t)(end - p) < NF_RING_SIZE * 8 ? (size_t)(end - p) : NF_RING_SIZE * 8;
	memcpy(nf_rx_slots(pages + NF_PAGE_SIZE), p, n);
	p += n;
	n = (size_t)(end - p) < NF_PAGE_SIZE ? (size_t)(end - p) : NF_PAGE_SIZE;
	for (i = 0; n && i < NF_RING_SIZE; i++)
		memcpy(rxb[i], p, n);
	((struct nf_sring_hdr *)(pages + NF_PAGE_SIZE))->rsp_prod = get32(data + 4);
	for (i = 0; i < 2 * NF_RING_SIZE; i++) {
		struct nf_rxpkt pkt;
		struct virtio_net_hdr vh;
		int rc = nf_rxq_get(&rx, frame, sizeof(frame), &pkt);

		CHECK((uint32_t)(rx.req_prod_pvt - rx.rsp_cons) <= NF_RING_SIZE);
		if (rc == -EAGAIN)
			break;
		CHECK(rc == 0 || rc == -EIO);
		if (rc)
			continue;
		CHECK(pkt.len > 0 && pkt.len <= sizeof(frame));
		if (!nf_pkt_to_vnet(&pkt, frame, pkt.len, &vh) &&
		    (vh.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM)) {
			CHECK((size_t)vh.csum_start + vh.csum_offset + 2 <= pkt.len);
			CHECK(!vh.gso_type || vh.hdr_len <= pkt.len);
			CHECK(nf_pkt_csum_fill(frame, pkt.len, vh.csum_start, vh.csum_offset) == 0);
		}
	}
	nf_rxq_refill(&rx);
	CHECK(rx.req_prod_pvt - rx.rsp_cons == NF_RING_SIZE);
	return 0;
}
