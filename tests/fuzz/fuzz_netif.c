/* libFuzzer harness for the netif protocol library: the input is what a
 * hostile frontend controls — both rings' producer indices and slots,
 * which of its grants are revoked or read-only, and its features. The
 * backend runs TX and RX bursts over it. Besides the sanitizers it checks
 * the library's promises: every consumed TX slot is answered exactly once
 * (or the queue is fatal and answers nothing more), packets are between an
 * Ethernet header and 64 KiB and lie inside the arena, RX never consumes
 * more buffers than were posted, and a fatal queue stays fatal with a
 * reason. Then the guest kicks with producers the input sets (XSA-391):
 * its kicks bring news a ring's worth of times at most per ring, whatever
 * it does to its producers between two responses of the backend.
 *
 * Input layout: [0..4) tx req_prod, [4..8) rx req_prod, [8] features,
 * [9] grant flags seed, then TX ring slots, then RX ring slots; the
 * kicks' producers are read from [10..) again, 8 bytes a kick.
 *
 * The library's sources are included, not linked: only this translation
 * unit is built with -fsanitize=fuzzer. */
#include "vif/netif_ring.c"
#include "vif/netif_tx.c"
#include "vif/netif_rx.c"
#include "vif/netif_credit.c"
#include "vif/netif_hdr.c"
#include "netback/rings.c"

#include <stdio.h>
#include <stdlib.h>

#include "tests/unit/netif_fake.h"

#include "tests/fuzz/fuzz_check.h"

#define ROUNDS 24

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void check_fatal(struct netif_queue *q, int rc)
{
	CHECK(rc == -EPROTO);
	CHECK(q->fatal && q->reason[0]);
}

static void run_tx(struct fake_guest *g, struct netif_queue *q, struct netif_tx_arena *arena)
{
	struct netif_pkt pkts[NETIF_BURST];
	uint64_t now = 0, wait;
	unsigned n;
	bool more, notify;

	for (unsigned r = 0; r < ROUNDS; r++) {
		RING_IDX cons_before = q->tx_req_cons;
		int rc = netif_tx_burst(q, arena, now, pkts, NETIF_BURST, &n, &more, &notify, &wait);

		if (rc == -EPROTO) {
			check_fatal(q, rc);
			return;
		}
		CHECK(rc == 0);
		CHECK(n <= NETIF_BURST);
		CHECK(q->tx_req_cons - cons_before <= NETIF_TX_RING_SIZE);
		/* exactly one response per consumed slot, all published */
		CHECK(q->tx_rsp_prod_pvt == q->tx_req_cons);
		/* nothing consumed past the furthest producer read */
		CHECK(q->tx_req_seen - q->tx_rsp_prod_pvt <= NETIF_TX_RING_SIZE);
		CHECK(g->tx->rsp_prod == q->tx_rsp_prod_pvt);
		for (unsigned i = 0; i < n; i++) {
			CHECK(pkts[i].len >= NETIF_ETH_HLEN && pkts[i].len <= NETIF_MAX_PKT);
			CHECK(pkts[i].data >= arena->buf &&
			      pkts[i].data + pkts[i].len <= arena->buf + arena->cap);
			if (pkts[i].gso_type)
				CHECK(pkts[i].gso_size > 0 && pkts[i].gso_type <= 2);
		}
		if (!more && !wait)
			return;
		now += wait ? wait : 1;
	}
}

static void run_rx(struct fake_guest *g, struct netif_queue *q, const uint8_t *data, size_t size)
{
	static uint8_t buf[3][9000];
	struct netif_pkt pkts[3];
	unsigned done;
	bool notify;
	int rc;

	/* an IPv4/TCP packet with a blank checksum, a jumbo, a GSO frame */
	memset(buf, 0, sizeof(buf));
	memcpy(buf[0], data, size < sizeof(buf[0]) ? size : sizeof(buf[0]));
	buf[0][12] = 0x08;
	buf[0][14] = 0x45;
	buf[0][23] = 6;
	buf[0][20] = buf[0][21] = 0;
	pkts[0] = (struct netif_pkt){ .data = buf[0], .len = 200, .flags = NETIF_PKT_CSUM_BLANK };
	pkts[1] = (struct netif_pkt){ .data = buf[1], .len = 9000 };
	pkts[2] = (struct netif_pkt){ .data = buf[2], .len = 5000, .gso_type = 1, .gso_size = 1000 };
	for (unsigned r = 0; r < 4; r++) {
		RING_IDX cons_before = q->rx_req_cons;
		RING_IDX posted = g->rx->req_prod;

		rc = netif_rx_burst(q, pkts, 3, &done, &notify);
		if (rc == -EPROTO) {
			check_fatal(q, rc);
			return;
		}
		CHECK(rc == 0);
		CHECK(done <= 3);
		CHECK(q->rx_req_cons - cons_before <= posted - cons_before);
		CHECK(q->rx_rsp_prod_pvt == q->rx_req_cons);
		CHECK(q->rx_req_seen - q->rx_rsp_prod_pvt <= NETIF_RX_RING_SIZE);
	}
}

/* A kick's producers: a byte past the responses out, or any index. */
static RING_IDX kick_prod(const uint8_t *p, RING_IDX rsp)
{
	return p[0] & 1 ? get32(p) : rsp + p[1];
}

static void run_kicks(struct netif_queue *q, const uint8_t *data, size_t size)
{
	struct nb_spurious s = { 0 };
	unsigned news = 0;

	for (size_t i = 10; i + 8 <= size && i < 10 + 8 * 2048; i += 8) {
		uint64_t before = s.events;

		q->tx->req_prod = kick_prod(data + i, q->tx_rsp_prod_pvt);
		q->rx->req_prod = kick_prod(data + i + 4, q->rx_rsp_prod_pvt);
		nb_spurious_kick(&s, q, 1000000);
		if (q->fatal)
			break; /* the ring broken: nothing more is judged */
		news += s.events == before;
	}
	CHECK(news <= NETIF_TX_RING_SIZE + 1 + NETIF_RX_RING_SIZE + 1);
	/* a producer moved back or impossible breaks the ring, as in a burst */
	CHECK(!q->fatal || q->reason[0]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fake_guest g;
	struct netif_queue *q;
	struct netif_tx_arena arena;
	struct netif_features f;
	size_t ring_bytes = NETIF_TX_RING_SIZE * sizeof(union netif_tx_sring_entry), off = 10, n;

	if (size < 10)
		return 0;
	fake_init(&g);
	q = malloc(sizeof(*q));
	arena.cap = 2 * 65536;
	arena.buf = malloc(arena.cap);
	if (!q || !arena.buf)
		abort();
	f = (struct netif_features){ .sg = data[8] & 1, .gso_tcpv4 = data[8] & 2,
				     .gso_tcpv6 = data[8] & 4, .csum = data[8] & 8,
				     .ipv6_csum = data[8] & 16, .rx_notify = data[8] & 32 };
	for (unsigned i = 0; i < FAKE_PAGES; i++) {
		g.granted[i] = (i * 37 + data[9]) % 11 != 0;
		g.readonly[i] = (i * 13 + data[9]) % 7 == 0;
	}
	n = size - off < ring_bytes ? size - off : ring_bytes;
	memcpy(g.tx->ring, data + off, n);
	off += n;
	n = size - off < NETIF_RX_RING_SIZE * sizeof(union netif_rx_sring_entry)
		    ? size - off
		    : NETIF_RX_RING_SIZE * sizeof(union netif_rx_sring_entry);
	memcpy(g.rx->ring, data + off, n);
	g.tx->req_prod = get32(data);
	g.rx->req_prod = get32(data + 4);
	fake_queue(&g, q, &f);
	run_tx(&g, q, &arena);
	if (!q->fatal)
		run_rx(&g, q, data, size);
	if (!q->fatal)
		run_kicks(q, data, size);
	free(arena.buf);
	free(q);
	fake_free(&g);
	return 0;
}
