/* Unit tests for the netif protocol library (vif/netif_*.c) on rings in
 * plain memory with a fake grant copier (netif_fake.h): the packets a
 * well-behaved frontend sends and receives, and every hostile ring the
 * library must survive — each one either drops that packet with error
 * responses (netback's "buggy frontend") or marks the queue fatal with a
 * reason ("malicious frontend"), and never answers a slot twice or not at
 * all. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "lib/err.h"
#include "netback/spin.h"
#include "tests/unit/netif_fake.h"

static const struct netif_features all_features = {
	.sg = true, .gso_tcpv4 = true, .gso_tcpv6 = true, .csum = true, .ipv6_csum = true,
	.rx_notify = true,
};

struct env {
	struct fake_guest g;
	struct netif_queue *q;
	struct netif_tx_arena arena;
	struct netif_pkt pkts[NETIF_BURST];
	unsigned n;
	bool more, notify;
	uint64_t wait_us;
};

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));

	fake_init(&e->g);
	e->q = calloc(1, sizeof(*e->q));
	fake_queue(&e->g, e->q, &all_features);
	e->arena.cap = 4 * 65536;
	e->arena.buf = malloc(e->arena.cap);
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;

	fake_free(&e->g);
	free(e->q);
	free(e->arena.buf);
	free(e);
	return 0;
}

static int tx_burst(struct env *e)
{
	return netif_tx_burst(e->q, &e->arena, 0, e->pkts, NETIF_BURST, &e->n, &e->more,
			      &e->notify, &e->wait_us);
}

static struct netif_tx_response tx_rsp(struct env *e, RING_IDX i)
{
	return e->g.tx->ring[i % NETIF_TX_RING_SIZE].rsp;
}

/* Fills guest page ref with a recognisable pattern. */
static void fill(struct env *e, unsigned ref, uint8_t seed)
{
	uint8_t *p = fake_page(&e->g, ref);

	for (unsigned i = 0; i < NETIF_PAGE_SIZE; i++)
		p[i] = (uint8_t)(seed + i * 7);
}

/* Every slot the frontend published is answered exactly once. */
static void assert_all_answered(struct env *e)
{
	assert_int_equal(e->g.tx->rsp_prod, e->g.tx->req_prod);
	assert_int_equal(e->q->tx_req_cons, e->g.tx->req_prod);
}

static void assert_fatal(struct env *e, int rc, const char *substr)
{
	assert_int_equal(rc, -EPROTO);
	assert_true(netif_queue_is_fatal(e->q));
	if (!strstr(netif_queue_fatal_reason(e->q), substr))
		fail_msg("reason \"%s\" lacks \"%s\"", netif_queue_fatal_reason(e->q), substr);
	assert_int_equal(e->n, 0);
	/* a fatal queue does nothing more */
	assert_int_equal(tx_burst(e), -EPROTO);
}

/* ---- TX: well-formed ---- */

static void test_tx_single_slot(void **state)
{
	struct env *e = *state;

	fill(e, 3, 1);
	fake_tx(&e->g, 3, 100, NETTXF_data_validated, 42, 60);
	fake_tx_publish(&e->g);
	assert_int_equal(tx_burst(e), 0);
	assert_int_equal(e->n, 1);
	assert_int_equal(e->pkts[0].len, 60);
	assert_memory_equal(e->pkts[0].data, fake_page(&e->g, 3) + 100, 60);
	assert_int_equal(e->pkts[0].flags, NETIF_PKT_DATA_VALIDATED);
	assert_int_equal(tx_rsp(e, 0).id, 42);
	assert_int_equal(tx_rsp(e, 0).status, NETIF_RSP_OKAY);
	assert_all_answered(e);
	assert_true(e->notify); /* rsp_event 1 from SHARED_RING_INIT */
	assert_false(e->more);
	assert_int_equal(e->g.tx->req_event, 2); /* final check armed the next event */
	assert_int_equal(e->g.copy_calls, 1);
}

/* A burst's packets lie in the arena one after the other, each from the
 * next 64-byte boundary: the grant copy into a packet and the copy out of
 * it run on aligned memory, as in the guest's pages. */
static void test_tx_packets_start_on_cache_lines(void **state)
{
	struct env *e = *state;
	static const uint16_t len[] = { 60, 100, 1000, 64, 65 };
	size_t at = 0;

	for (unsigned i = 0; i < 5; i++) {
		fill(e, 3 + i, (uint8_t)i);
		fake_tx(&e->g, 3 + i, 0, 0, (uint16_t)i, len[i]);
	}
	fake_tx_publish(&e->g);
	assert_int_equal(tx_burst(e), 0);
	assert_int_equal(e->n, 5);
	for (unsigned i = 0; i < 5; i++) {
		assert_int_equal(e->pkts[i].data - e->arena.buf, at);
		assert_int_equal(e->pkts[i].len, len[i]);
		assert_memory_equal(e->pkts[i].data, fake_page(&e->g, 3 + i), len[i]);
		at += (len[i] + 63u) / 64u * 64u;
	}
	assert_int_equal(NETIF_TX_ARENA_MAX, (size_t)NETIF_BURST * 65536);
}

/* A polled queue (tx_polling) takes one request (id 42) and empties its
 * ring: req_event stays where it was, so the frontend's next push asks
 * for no event. */
static void polled_burst_of_one(struct env *e)
{
	assert_true(e->q->tx_polling);
	fill(e, 3, 1);
	fake_tx(&e->g, 3, 100, NETTXF_data_validated, 42, 60);
	fake_tx_publish(&e->g);
	assert_int_equal(tx_burst(e), 0);
	assert_int_equal(e->n, 1);
	assert_false(e->more);
	assert_int_equal(e->g.tx->req_event, 1); /* not armed: no kick for the next */
}

/* A polling backend (tx_polling): a burst that empties the ring leaves
 * req_event behind, so the frontend's next push asks for no event; the
 * backend sees the request by looking (netif_tx_pending), and
 * netif_tx_arm() asks for an event again and reports a request that came
 * before it did: none is left to an event that will not come. */
static void test_tx_polling_defers_req_event_and_arm_loses_nothing(void **state)
{
	struct env *e = *state;

	e->q->tx_polling = true;
	polled_burst_of_one(e);
	assert_false(netif_tx_pending(e->q));
	fake_tx(&e->g, 3, 100, NETTXF_data_validated, 43, 60);
	fake_tx_publish(&e->g);
	assert_true(netif_tx_pending(e->q));
	/* the poll ends with that request unseen: arm says it waits */
	assert_true(netif_tx_arm(e->q));
	assert_false(e->q->tx_polling);
	assert_int_equal(tx_burst(e), 0);
	assert_int_equal(e->n, 1);
	assert_int_equal(tx_rsp(e, 1).id, 43);
	assert_int_equal(e->g.tx->req_event, 3); /* not polling: armed at the next */
	/* nothing came: armed, and nothing to do */
	assert_false(netif_tx_arm(e->q));
	assert_int_equal(e->g.tx->req_event, 3);
}

/* netback/spin.h, the window both backends poll in after packets: only
 * a start opens it (us 0: never), a start while open extends it, it
 * says LOOK until its end, CLOSE once, then OFF. A queue polled in it
 * keeps req_event behind; a look sees a request the guest pushed without
 * a kick; the close arms req_event and reports a request that came just
 * before, so nothing waits for an event that will not come; after it the
 * guest's next push asks for an event again. */
static void test_spin_window_polls_then_arms_and_loses_nothing(void **state)
{
	struct env *e = *state;
	struct nb_spin off = { .us = 0 }, s = { .us = 50 };

	nb_spin_start(&off, 1000);
	assert_int_equal(nb_spin_step(&off, 1000), NB_SPIN_OFF);
	assert_false(nb_spin_open(&off));
	assert_int_equal(off.windows, 0);

	assert_int_equal(nb_spin_step(&s, 1000), NB_SPIN_OFF); /* nothing moved yet */
	nb_spin_start(&s, 1000);
	assert_int_equal(nb_spin_step(&s, 1049), NB_SPIN_LOOK);
	nb_spin_start(&s, 1040); /* more packets: until 1090 */
	assert_int_equal(s.windows, 1);
	assert_int_equal(nb_spin_step(&s, 1089), NB_SPIN_LOOK);
	assert_true(nb_spin_open(&s));

	/* a burst in the window empties the ring: req_event stays behind */
	nb_spin_queue_poll(e->q);
	polled_burst_of_one(e);
	assert_false(nb_spin_queue(e->q, NB_SPIN_LOOK));
	/* the guest pushes without a kick (req_event behind): a look sees it */
	fake_tx(&e->g, 3, 100, NETTXF_data_validated, 43, 60);
	fake_tx_publish(&e->g);
	assert_true(nb_spin_queue(e->q, NB_SPIN_LOOK));
	assert_int_equal(tx_burst(e), 0);
	assert_int_equal(e->n, 1);
	/* one more just before the window closes: the close reports it */
	fake_tx(&e->g, 3, 100, NETTXF_data_validated, 44, 60);
	fake_tx_publish(&e->g);
	assert_int_equal(nb_spin_step(&s, 1090), NB_SPIN_CLOSE);
	assert_true(nb_spin_queue(e->q, NB_SPIN_CLOSE));
	assert_false(e->q->tx_polling);
	assert_int_equal(nb_spin_step(&s, 1091), NB_SPIN_OFF);
	assert_false(nb_spin_open(&s));
	assert_int_equal(tx_burst(e), 0);
	assert_int_equal(e->n, 1);
	assert_int_equal(tx_rsp(e, 2).id, 44);
	/* not polling: the burst armed req_event for the guest's next push */
	assert_int_equal(e->g.tx->req_event, 4);
	assert_false(nb_spin_queue(e->q, NB_SPIN_CLOSE));
	/* a look outside a window, or at a fatal queue, finds nothing */
	assert_false(nb_spin_queue(e->q, NB_SPIN_OFF));
	netif_queue_set_fatal(e->q, "test");
	assert_false(nb_spin_queue(e->q, NB_SPIN_CLOSE));
}

static void test_spin_env(void **state)
{
	static const char *const bad[] = { "", "-1", "1001", "5us", "99999999999999999999" };
	struct nb_spin s = { .us = NB_SPIN_US };

	unsetenv("NBT_SPIN_US");
	assert_int_equal(nb_spin_cfg_from_env(&s, "NBT"), 0);
	assert_int_equal(s.us, NB_SPIN_US);
	setenv("NBT_SPIN_US", "0", 1);
	assert_int_equal(nb_spin_cfg_from_env(&s, "NBT"), 0);
	assert_int_equal(s.us, 0);
	setenv("NBT_SPIN_US", "1000", 1);
	assert_int_equal(nb_spin_cfg_from_env(&s, "NBT"), 0);
	assert_int_equal(s.us, 1000);
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		setenv("NBT_SPIN_US", bad[i], 1);
		assert_int_equal(nb_spin_cfg_from_env(&s, "NBT"), -EINVAL);
		assert_non_null(strstr(err_msg(), "NBT_SPIN_US: expected microseconds, 0..1000"));
		assert_int_equal(s.us, 1000); /* unchanged */
	}
	unsetenv("NBT_SPIN_US");
	(void)state;
}

/* 18 slots (first + 17 follow-ons) and the most netback accepts, 19 (first
 * + 18): one packet, linear, in slot order. */
static void tx_chain_ok(struct env *e, unsigned slots)
{
	unsigned frag = 1000, total = frag * slots;

	for (unsigned i = 0; i < slots; i++) {
		fill(e, i, (uint8_t)i);
		fake_tx(&e->g, i, 8, i + 1 < slots ? NETTXF_more_data : 0, (uint16_t)(500 + i),
			i == 0 ? (uint16_t)total : (uint16_t)frag);
	}
	fake_tx_publish(&e->g);
	assert_int_equal(tx_burst(e), 0);
	assert_int_equal(e->n, 1);
	assert_int_equal(e->pkts[0].len, total);
	for (unsigned i = 0; i < slots; i++) {
		assert_memory_equal(e->pkts[0].data + i * frag, fake_page(&e->g, i) + 8, frag);
		assert_int_equal(tx_rsp(e, i).id, 500 + i);
		assert_int_equal(tx_rsp(e, i).status, NETIF_RSP_OKAY);
	}
	assert_all_answered(e);
	assert_false(netif_queue_is_fatal(e->q));
}

static void test_tx_18_slots(void **state)
{
	tx_chain_ok(*state, 18);
}

static void test_tx_19_slots(void **state)
{
	tx_chain_ok(*state, NETIF_TX_MAX_FOLLOW + 1);
}

/* 20 and 21 slots (19, 20 follow-ons): dropped, every slot answered with
 * an error, the queue usable; the next packet goes through. */
static void tx_chain_dropped(struct env *e, unsigned slots)
{
	for (unsigned i = 0; i < slots; i++)
		fake_tx(&e->g, i, 0, i + 1 < slots ? NETTXF_more_data : 0, (uint16_t)i,
			i == 0 ? 60000 : 100);
	fake_tx(&e->g, 1, 0, 0, 999, 64);
	fake_tx_publish(&e->g);
	assert_int_equal(tx_burst(e), 0);
	assert_false(netif_queue_is_fatal(e->q));
	assert_int_equal(e->n, 1);
	assert_int_equal(e->pkts[0].len, 64);
	for (unsigned i = 0; i < slots; i++) {
		assert_int_equal(tx_rsp(e, i).id, i);
		assert_int_equal(tx_rsp(e, i).status, NETIF_RSP_ERROR);
	}
	assert_int_equal(tx_rsp(e, slots).id, 999);
	assert_int_equal(tx_rsp(e, slots).status, NETIF_RSP_OKAY);
	assert_int_equal(e->q->stats.tx_dropped, 1);
	assert_all_answered(e);
}

static void test_tx_20_slots_dropped(void **state)
{
	tx_chain_dropped(*state, 20);
}

static void test_tx_21_slots_dropped(void **state)
{
	tx_chain_dropped(*state, 21);
}

static void test_tx_22_slots_fatal(void **state)
{
	struct env *e = *state;

	for (unsigned i = 0; i < 22; i++)
		fake_tx(&e->g, i, 0, i + 1 < 22 ? NETTXF_more_data : 0, (uint16_t)i,
			i == 0 ? 60000 : 100);
	fake_tx_publish(&e->g);
	assert_fatal(e, tx_burst(e), "malicious");
}

/* A whole ring of more_data: the slot limit stops it long before. */
static void test_tx_ring_size_slots_fatal(void **state)
{
	struct env *e = *state;

	for (unsigned i = 0; i < NETIF_TX_RING_SIZE; i++)
		fake_tx(&e->g, 0, 0, NETTXF_more_data, (uint16_t)i, 100);
	fake_tx_publish(&e->g);
	assert_fatal(e, tx_burst(e), "malicious");
	assert_int_equal(e->g.copy_calls, 0);
}

/* more_data on the last published slot: the chain never ends. */
static void test_tx_endless_more_data_fatal(void **state)
{
	struct env *e = *state;

	fake_tx(&e->g, 0, 0, NETTXF_more_data, 1, 200);
	fake_tx(&e->g, 1, 0, NETTXF_more_data, 2, 100);
	fake_tx_publish(&e->g);
	assert_fatal(e, tx_burst(e), "past the producer");
}

static void test_tx_bad_prod_fatal(void **state)
{
	static const RING_IDX prods[] = { NETIF_TX_RING_SIZE + 1, 0x80000000u, 0xffffffffu };

	for (unsigned i = 0; i < sizeof(prods) / sizeof(prods[0]); i++) {
		struct env *e;

		teardown(state);
		setup(state);
		e = *state;
		e->g.tx->req_prod = prods[i];
		assert_fatal(e, tx_burst(e), "impossible request producer");
		assert_int_equal(e->g.tx->rsp_prod, 0);
	}
}

/* A full ring is legal. */
static void test_tx_full_ring(void **state)
{
	struct env *e = *state;
	unsigned total = 0;

	for (unsigned i = 0; i < NETIF_TX_RING_SIZE; i++)
		fake_tx(&e->g, i % FAKE_PAGES, 0, 0, (uint16_t)i, 64);
	fake_tx_publish(&e->g);
	for (unsigned round = 0; round < 16 && total < NETIF_TX_RING_SIZE; round++) {
		assert_int_equal(tx_burst(e), 0);
		assert_true(e->n <= NETIF_BURST);
		total += e->n;
		if (total < NETIF_TX_RING_SIZE)
			assert_true(e->more); /* bounded work: the rest waits for the next call */
	}
	assert_int_equal(total, NETIF_TX_RING_SIZE);
	assert_false(e->more);
	assert_all_answered(e);
}

/* ---- TX: sizes and offsets ---- */

static void test_tx_size_0_dropped(void **state)
{
	struct env *e = *state;

	fake_tx(&e->g, 0, 0, 0, 5, 0);
	fake_tx(&e->g, 0, 0, 0, 6, 13); /* shorter than an Ethernet header */
	fake_tx_publish(&e->g);
	assert_int_equal(tx_burst(e), 0);
	assert_int_equal(e->n, 0);
	assert_int_equal(tx_rsp(e, 0).status, NETIF_RSP_ERROR);
	assert_int_equal(tx_rsp(e, 1).status, NETIF_RSP_ERROR);
	assert_int_equal(e->q->stats.tx_dropped, 2);
	assert_all_answered(e);
	assert_false(netif_queue_is_fatal(e->q));
}

/* Fragments adding up to more than the first slot's 65535: > 64 KiB. */
static void test_tx_over_64k_dropped(void **state)
{
	struct env *e = *state;

	fake_tx(&e->g, 0, 0, NETTXF_more_data, 0, 65535);
	for (unsigned i = 1; i <= 17; i++)
		fake_tx(&e->g, i, 0, i < 17 ? NETTXF_more_data : 0, (uint16_t)i, 4096);
	fake_tx_publish(&e->g);
	assert_int_equal(tx_burst(e), 0);
	assert_int_equal(e->n, 0);
	for (unsigned i = 0; i <= 17; i++)
		assert_int_equal(tx_rsp(e, i).status, NETIF_RSP_ERROR);
	assert_all_answered(e);
	assert_false(netif_queue_is_fatal(e->q));
	assert_int_equal(e->g.copy_calls, 0);
}

static void test_tx_first_crosses_page_fatal(void **state)
{
	struct env *e = *state;

	fake_tx(&e->g, 0, 4000, 0, 1, 200);
	fake_tx_publish(&e->g);
	assert_fatal(e, tx_burst(e), "crosses its page");
}

static void test_tx_follow_crosses_page_fatal(void **state)
{
	struct env *e = *state;

	fake_tx(&e->g, 0, 0, NETTXF_more_data, 1, 300);
	fake_tx(&e->g, 1, 4000, 0, 2, 200);
	fake_tx_publish(&e->g);
	assert_fatal(e, tx_burst(e), "crosses its page");
}

/* XSA-448: empty follow-on slots are answered OKAY and never copied (their
 * gref is not even looked at: 9999 is no grant). */
static void test_tx_zero_size_follow_on(void **state)
{
	struct env *e = *state;

	fill(e, 0, 3);
	fill(e, 1, 4);
	fake_tx(&e->g, 0, 0, NETTXF_more_data, 1, 100);
	fake_tx(&e->g, 9999, 0, NETTXF_more_data, 2, 0);
	fake_tx(&e->g, 1, 0, NETTXF_more_data, 3, 40);
	fake_tx(&e->g, 9999, 4095, 0, 4, 0);
	fake_tx_publish(&e->g);
	assert_int_equal(tx_burst(e), 0);
	assert_int_equal(e->n, 1);
	assert_int_equal(e->pkts[0].len, 100);
	assert_memory_equal(e->pkts[0].data, fake_page(&e->g, 0), 60);
	assert_memory_equal(e->pkts[0].data + 60, fake_page(&e->g, 1), 40);
	assert_int_equal(e->g.copies, 2);
	for (unsigned i = 0; i < 4; i++) {
		assert_int_equal(tx_rsp(e, i).id, i + 1);
		assert_int_equal(tx_rsp(e, i).status, NETIF_RSP_OKAY);
	}
	assert_all_answered(e);
}

/* A revoked (or foreign, or bogus) grant fails its packet with error
 * responses on every slot, as netback does; the next packet goes through. */
static void test_tx_bad_gref(void **state)
{
	struct env *e = *state;

	e->g.granted[5] = false; /* revoked */
	fake_tx(&e->g, 1, 0, NETTXF_more_data, 1, 100);
	fake_tx(&e->g, 5, 0, 0, 2, 40);
	fake_tx(&e->g, 9999, 0, 0, 3, 60); /* beyond the table */
	fake_tx(&e->g, 2, 0, 0, 4, 60);
	fake_tx_publish(&e->g);
	assert_int_equal(tx_burst(e), 0);
	assert_false(netif_queue_is_fatal(e->q));
	assert_int_equal(e->n, 1);
	assert_int_equal(e->pkts[0].len, 60);
	assert_memory_equal(e->pkts[0].data, fake_page(&e->g, 2), 60);
	assert_int_equal(tx_rsp(e, 0).status, NETIF_RSP_ERROR);
	assert_int_equal(tx_rsp(e, 1).status, NETIF_RSP_ERROR);
	assert_int_equal(tx_rsp(e, 2).status, NETIF_RSP_ERROR);
	assert_int_equal(tx_rsp(e, 3).status, NETIF_RSP_OKAY);
	assert_int_equal(e->q->stats.tx_errors, 2);
	assert_all_answered(e);
}

/* Our copier failing is not the guest's fault: error responses, queue ok. */
static void test_tx_copier_failure(void **state)
{
	struct env *e = *state;

	e->g.fail_rc = -EIO;
	fake_tx(&e->g, 1, 0, 0, 1, 60);
	fake_tx_publish(&e->g);
	assert_int_equal(tx_burst(e), -EIO);
	assert_int_equal(e->n, 0);
	assert_int_equal(tx_rsp(e, 0).status, NETIF_RSP_ERROR);
	assert_all_answered(e);
	assert_false(netif_queue_is_fatal(e->q));
}

/* ---- TX: extra info ---- */

static void test_tx_gso(void **state)
{
	struct env *e = *state;

	fake_tx(&e->g, 0, 0, NETTXF_extra_info | NETTXF_more_data, 1, 5000);
	fake_tx_extra(&e->g, XEN_NETIF_EXTRA_TYPE_GSO, 0, 1448, XEN_NETIF_GSO_TYPE_TCPV6);
	fake_tx(&e->g, 1, 0, 0, 3, 1000);
	fake_tx_publish(&e->g);
	assert_int_equal(tx_burst(e), 0);
	assert_int_equal(e->n, 1);
	assert_int_equal(e->pkts[0].len, 5000);
	assert_int_equal(e->pkts[0].gso_type, XEN_NETIF_GSO_TYPE_TCPV6);
	assert_int_equal(e->pkts[0].gso_size, 1448);
	assert_true(e->pkts[0].flags & NETIF_PKT_CSUM_BLANK);
	assert_int_equal(tx_rsp(e, 0).status, NETIF_RSP_OKAY);
	assert_int_equal(tx_rsp(e, 1).status, NETIF_RSP_NULL);
	assert_int_equal(tx_rsp(e, 2).id, 3);
	assert_int_equal(tx_rsp(e, 2).status, NETIF_RSP_OKAY);
	assert_all_answered(e);
}

static void tx_extra_fatal(void **state, uint8_t type, uint16_t gso_size, uint8_t gso_type,
			   const char *reason)
{
	struct env *e = *state;

	fake_tx(&e->g, 0, 0, NETTXF_extra_info, 1, 100);
	fake_tx_extra(&e->g, type, 0, gso_size, gso_type);
	fake_tx_publish(&e->g);
	assert_fatal(e, tx_burst(e), reason);
}

static void test_tx_gso_size_0_fatal(void **state)
{
	tx_extra_fatal(state, XEN_NETIF_EXTRA_TYPE_GSO, 0, XEN_NETIF_GSO_TYPE_TCPV4, "GSO size 0");
}

static void test_tx_gso_type_unknown_fatal(void **state)
{
	tx_extra_fatal(state, XEN_NETIF_EXTRA_TYPE_GSO, 1400, 3, "unknown GSO type 3");
	teardown(state);
	setup(state);
	tx_extra_fatal(state, XEN_NETIF_EXTRA_TYPE_GSO, 1400, XEN_NETIF_GSO_TYPE_NONE,
		       "unknown GSO type 0");
}

static void test_tx_extra_unknown_fatal(void **state)
{
	tx_extra_fatal(state, XEN_NETIF_EXTRA_TYPE_MAX, 0, 0, "unknown extra info type 5");
	teardown(state);
	setup(state);
	tx_extra_fatal(state, XEN_NETIF_EXTRA_TYPE_NONE, 0, 0, "unknown extra info type 0");
	teardown(state);
	setup(state);
	tx_extra_fatal(state, 200, 0, 0, "unknown extra info type 200");
}

static void test_tx_extra_duplicate_fatal(void **state)
{
	struct env *e = *state;

	fake_tx(&e->g, 0, 0, NETTXF_extra_info, 1, 100);
	fake_tx_extra(&e->g, XEN_NETIF_EXTRA_TYPE_GSO, XEN_NETIF_EXTRA_FLAG_MORE, 1400, 1);
	fake_tx_extra(&e->g, XEN_NETIF_EXTRA_TYPE_GSO, 0, 1400, 1);
	fake_tx_publish(&e->g);
	assert_fatal(e, tx_burst(e), "twice");
}

/* FLAG_MORE on the last published slot. */
static void test_tx_extra_missing_fatal(void **state)
{
	struct env *e = *state;

	fake_tx(&e->g, 0, 0, NETTXF_extra_info, 1, 100);
	fake_tx_extra(&e->g, XEN_NETIF_EXTRA_TYPE_HASH, XEN_NETIF_EXTRA_FLAG_MORE, 0, 0);
	fake_tx_publish(&e->g);
	assert_fatal(e, tx_burst(e), "extra info missing");
}

/* ---- TX: notification ---- */

/* The frontend asked for an event only later (rsp_event far ahead): none
 * now; a burst of several packets asks for at most one. */
static void test_tx_notify_suppressed(void **state)
{
	struct env *e = *state;

	e->g.tx->rsp_event = 100;
	for (unsigned i = 0; i < 5; i++)
		fake_tx(&e->g, i, 0, 0, (uint16_t)i, 60);
	fake_tx_publish(&e->g);
	assert_int_equal(tx_burst(e), 0);
	assert_int_equal(e->n, 5);
	assert_false(e->notify);
	e->g.tx->rsp_event = 7; /* inside the next burst's (5, 8] */
	for (unsigned i = 0; i < 3; i++)
		fake_tx(&e->g, i, 0, 0, (uint16_t)i, 60);
	fake_tx_publish(&e->g);
	assert_int_equal(tx_burst(e), 0);
	assert_true(e->notify);
	assert_int_equal(e->g.copy_calls, 2); /* one batch per burst */
}

/* Nothing to do: no response, no notify, req_event armed. */
static void test_tx_idle(void **state)
{
	struct env *e = *state;

	assert_int_equal(tx_burst(e), 0);
	assert_int_equal(e->n, 0);
	assert_false(e->notify);
	assert_false(e->more);
	assert_int_equal(e->g.tx->req_event, 1);
	assert_int_equal(e->g.copy_calls, 0);
}

/* ---- TX: credit (rate=) ---- */

static void test_tx_credit(void **state)
{
	struct env *e = *state;

	/* 1000 bytes per 10 ms */
	netif_credit_set(&e->q->credit, 1000, 10000, 0);
	fake_tx(&e->g, 0, 0, 0, 1, 600);
	fake_tx(&e->g, 1, 0, 0, 2, 600);
	fake_tx_publish(&e->g);
	assert_int_equal(netif_tx_burst(e->q, &e->arena, 0, e->pkts, NETIF_BURST, &e->n, &e->more,
					 &e->notify, &e->wait_us),
			 0);
	assert_int_equal(e->n, 1);
	assert_int_equal(e->wait_us, 10000);
	assert_false(e->more);
	/* the second request is untouched until the window ends */
	assert_int_equal(e->q->tx_req_cons, 1);
	assert_int_equal(netif_tx_burst(e->q, &e->arena, 5000, e->pkts, NETIF_BURST, &e->n,
					 &e->more, &e->notify, &e->wait_us),
			 0);
	assert_int_equal(e->n, 0);
	assert_int_equal(e->wait_us, 5000);
	assert_int_equal(netif_tx_burst(e->q, &e->arena, 10000, e->pkts, NETIF_BURST, &e->n,
					 &e->more, &e->notify, &e->wait_us),
			 0);
	assert_int_equal(e->n, 1);
	assert_all_answered(e);
}

/* A 64 KiB packet at a rate below it still passes once the carried-over
 * credit reaches the 128 KiB burst floor. */
static void test_credit_burst_floor(void **state)
{
	struct netif_credit c;
	uint64_t now = 0, wait = 0;
	unsigned windows = 0;

	netif_credit_set(&c, 1000, 1000, 0);
	while (!netif_credit_take(&c, 65535, now, &wait)) {
		assert_true(wait > 0);
		now += wait;
		assert_true(++windows < 100);
	}
	assert_int_equal(windows, 65);
	(void)state;
}

/* ---- RX ---- */

static int rx_burst(struct env *e, struct netif_pkt *p, unsigned n, unsigned *done)
{
	return netif_rx_burst(e->q, p, n, done, &e->notify);
}

static struct netif_rx_response rx_rsp(struct env *e, RING_IDX i)
{
	return e->g.rx->ring[i % NETIF_RX_RING_SIZE].rsp;
}

static void test_rx_basic(void **state)
{
	struct env *e = *state;
	uint8_t data[100];
	struct netif_pkt p = { .data = data, .len = sizeof(data),
			       .flags = NETIF_PKT_DATA_VALIDATED };
	unsigned done;

	for (unsigned i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)i;
	fake_rx_post(&e->g, 11, 20);
	fake_rx_post(&e->g, 12, 21);
	assert_int_equal(rx_burst(e, &p, 1, &done), 0);
	assert_int_equal(done, 1);
	assert_memory_equal(fake_page(&e->g, 20), data, sizeof(data));
	assert_int_equal(rx_rsp(e, 0).id, 11);
	assert_int_equal(rx_rsp(e, 0).status, 100);
	assert_int_equal(rx_rsp(e, 0).offset, 0);
	assert_int_equal(rx_rsp(e, 0).flags, NETRXF_data_validated);
	assert_int_equal(e->g.rx->rsp_prod, 1);
	assert_true(e->notify);
}

/* Responses land in the slot of the request they answer, whatever the ids. */
static void test_rx_same_slot(void **state)
{
	struct env *e = *state;
	uint8_t data[64] = { 0 };
	struct netif_pkt p[3] = { { .data = data, .len = 60 }, { .data = data, .len = 61 },
				  { .data = data, .len = 62 } };
	unsigned done;

	fake_rx_post(&e->g, 200, 1);
	fake_rx_post(&e->g, 7, 2);
	fake_rx_post(&e->g, 0, 3);
	assert_int_equal(rx_burst(e, p, 3, &done), 0);
	assert_int_equal(done, 3);
	assert_int_equal(rx_rsp(e, 0).id, 200);
	assert_int_equal(rx_rsp(e, 0).status, 60);
	assert_int_equal(rx_rsp(e, 1).id, 7);
	assert_int_equal(rx_rsp(e, 1).status, 61);
	assert_int_equal(rx_rsp(e, 2).id, 0);
	assert_int_equal(rx_rsp(e, 2).status, 62);
	assert_int_equal(e->g.copy_calls, 1);
}

/* 9000 bytes: three buffers, more_data on all but the last; GSO adds its
 * extra info in the second slot. */
static void test_rx_split_gso(void **state)
{
	struct env *e = *state;
	static uint8_t data[9000];
	struct netif_pkt p = { .data = data, .len = sizeof(data), .flags = NETIF_PKT_CSUM_BLANK,
			       .gso_type = XEN_NETIF_GSO_TYPE_TCPV4, .gso_size = 1448 };
	struct netif_extra_info ex;
	unsigned done;

	for (unsigned i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 13);
	/* IPv4/TCP headers so the checksum flags can be decided */
	memset(data, 0, 54);
	data[12] = 0x08;
	data[14] = 0x45;
	data[23] = 6;
	for (unsigned i = 0; i < 4; i++)
		fake_rx_post(&e->g, (uint16_t)(i + 1), 30 + i);
	assert_int_equal(netif_rx_slots_needed(e->q, &p), 4);
	assert_int_equal(rx_burst(e, &p, 1, &done), 0);
	assert_int_equal(done, 1);
	assert_int_equal(rx_rsp(e, 0).id, 1);
	assert_int_equal(rx_rsp(e, 0).status, 4096);
	assert_int_equal(rx_rsp(e, 0).flags, NETRXF_more_data | NETRXF_extra_info |
						     NETRXF_csum_blank | NETRXF_data_validated);
	memcpy(&ex, &e->g.rx->ring[1], sizeof(ex));
	assert_int_equal(ex.type, XEN_NETIF_EXTRA_TYPE_GSO);
	assert_int_equal(ex.flags, 0);
	assert_int_equal(ex.u.gso.type, XEN_NETIF_GSO_TYPE_TCPV4);
	assert_int_equal(ex.u.gso.size, 1448);
	assert_int_equal(rx_rsp(e, 2).id, 3);
	assert_int_equal(rx_rsp(e, 2).status, 4096);
	assert_int_equal(rx_rsp(e, 2).flags, NETRXF_more_data);
	assert_int_equal(rx_rsp(e, 3).id, 4);
	assert_int_equal(rx_rsp(e, 3).status, 9000 - 8192);
	assert_int_equal(rx_rsp(e, 3).flags, 0);
	assert_memory_equal(fake_page(&e->g, 30), data, 4096);
	assert_memory_equal(fake_page(&e->g, 32), data + 4096, 4096);
	assert_memory_equal(fake_page(&e->g, 33), data + 8192, 9000 - 8192);
}

/* Without feature-sg a packet must fit one buffer; GSO the frontend did
 * not ask for cannot be delivered: both dropped, counted, nothing used. */
static void test_rx_unfit_dropped(void **state)
{
	struct env *e = *state;
	static uint8_t data[5000];
	struct netif_features f = { .csum = true };
	struct netif_pkt p[2] = { { .data = data, .len = 5000 },
				  { .data = data, .len = 1000, .gso_type = 1, .gso_size = 500 } };
	unsigned done;

	fake_queue(&e->g, e->q, &f);
	fake_rx_post(&e->g, 1, 1);
	assert_int_equal(rx_burst(e, p, 2, &done), 0);
	assert_int_equal(done, 2);
	assert_int_equal(e->q->stats.rx_dropped, 2);
	assert_int_equal(e->g.rx->rsp_prod, 0);
	assert_int_equal(e->g.copy_calls, 0);
}

/* Whether a frontend that moves req_prod from old to new kicks the
 * backend (RING_PUSH_REQUESTS_AND_CHECK_NOTIFY, as Linux netfront). */
static bool rx_push_kicks(struct env *e, RING_IDX old, RING_IDX new)
{
	RING_IDX ev = e->g.rx->req_event;

	return (RING_IDX)(new - ev) < (RING_IDX)(new - old);
}

/* No buffers posted: nothing consumed, and req_event asks for a kick once
 * the last buffer the packet needs is posted (feature-rx-notify). */
static void test_rx_no_buffers(void **state)
{
	struct env *e = *state;
	uint8_t data[9000] = { 0 };
	struct netif_pkt p = { .data = data, .len = 9000 }, two[2] = { p, p };
	unsigned done;

	assert_int_equal(rx_burst(e, &p, 1, &done), 0);
	assert_int_equal(done, 0);
	assert_int_equal(e->g.rx->req_event, 3); /* 9000 bytes: three buffers */
	assert_int_equal(e->q->rx_need, 3);
	assert_int_equal(e->q->stats.rx_full, 1);
	/* one buffer of the three it needs: still waits, event at the third */
	fake_rx_post(&e->g, 1, 1);
	assert_int_equal(rx_burst(e, &p, 1, &done), 0);
	assert_int_equal(done, 0);
	assert_int_equal(e->g.rx->req_event, 3);
	assert_int_equal(e->q->rx_req_cons, 0);
	/* the same packet tried again: the same wait, counted once */
	assert_int_equal(e->q->stats.rx_full, 1);
	fake_rx_post(&e->g, 2, 2);
	fake_rx_post(&e->g, 3, 3);
	assert_int_equal(rx_burst(e, &p, 1, &done), 0);
	assert_int_equal(done, 1);
	assert_int_equal(e->q->stats.rx_full, 1);
	assert_int_equal(e->q->stats.rx_pkts, 1);
	/* the next packet waits: a second wait, though the last burst
	 * stopped at none (and one that delivers and then stops, a third) */
	assert_int_equal(rx_burst(e, &p, 1, &done), 0);
	assert_int_equal(done, 0);
	assert_int_equal(e->q->stats.rx_full, 2);
	fake_rx_post(&e->g, 4, 4);
	fake_rx_post(&e->g, 5, 5);
	fake_rx_post(&e->g, 6, 6);
	assert_int_equal(rx_burst(e, two, 2, &done), 0);
	assert_int_equal(done, 1);
	assert_int_equal(e->q->stats.rx_full, 3);
}

/* A frontend that posts its buffers one at a time kicks the backend once,
 * when the one that completes what the waiting packet needs is posted: a
 * 64 KiB GSO packet needs 17, and a kick at the first would wake the
 * backend for nothing 16 times (netback asks at the next buffer). */
static void test_rx_kick_only_when_the_waiting_packet_fits(void **state)
{
	struct env *e = *state;
	static uint8_t data[65535];
	struct netif_pkt p = { .data = data, .len = sizeof(data), .gso_type = 1, .gso_size = 1448,
			       .flags = NETIF_PKT_CSUM_BLANK };
	unsigned need = netif_rx_slots_needed(e->q, &p), done, kicks = 0;

	/* an Ethernet + IPv4 + TCP header for the partial checksum */
	data[12] = 0x08;
	data[14] = 0x45;
	data[23] = 6;
	data[46] = 0x50;
	assert_int_equal(need, 17);
	assert_int_equal(rx_burst(e, &p, 1, &done), 0);
	assert_int_equal(done, 0);
	for (unsigned i = 0; i < need; i++) {
		RING_IDX old = e->g.rx_prod;

		fake_rx_post(&e->g, (uint16_t)i, i + 1);
		if (rx_push_kicks(e, old, e->g.rx_prod)) {
			kicks++;
			assert_int_equal(i + 1, need); /* the kick comes with the last */
		}
	}
	assert_int_equal(kicks, 1);
	assert_int_equal(rx_burst(e, &p, 1, &done), 0);
	assert_int_equal(done, 1);
	assert_int_equal(e->q->rx_need, 0);
	assert_int_equal(e->q->stats.rx_pkts, 1);
	assert_int_equal(e->g.rx->rsp_prod, need);
}

/* A polling consumer (rx_polling) retries a waiting packet itself: a burst
 * that stops for lack of buffers leaves req_event where it was, so the
 * frontend's refill does not kick; netif_rx_arm() ends the polling, asks
 * for the event the burst would have asked for, and reports buffers that
 * came before it did, which no kick will announce. */
static void test_rx_polling_defers_req_event_and_arm_loses_nothing(void **state)
{
	struct env *e = *state;
	uint8_t data[9000] = { 0 };
	struct netif_pkt p = { .data = data, .len = 9000 };
	unsigned done;

	/* nothing waits: arm asks for nothing */
	e->q->rx_polling = true;
	assert_int_equal(netif_rx_arm(e->q), 0);
	assert_false(e->q->rx_polling);
	assert_int_equal(e->g.rx->req_event, 1); /* SHARED_RING_INIT's */

	e->q->rx_polling = true;
	assert_int_equal(rx_burst(e, &p, 1, &done), 0);
	assert_int_equal(done, 0);
	assert_int_equal(e->q->stats.rx_full, 1);
	assert_int_equal(e->g.rx->req_event, 1); /* not armed */
	/* the frontend posts two: with req_event behind, no kick */
	fake_rx_post(&e->g, 1, 1);
	fake_rx_post(&e->g, 2, 2);
	assert_false(rx_push_kicks(e, 1, 2));
	assert_int_equal(rx_burst(e, &p, 1, &done), 0);
	assert_int_equal(done, 0);
	assert_int_equal(e->g.rx->req_event, 1);
	/* the polling ends two short of three: armed at the third, waits */
	assert_int_equal(netif_rx_arm(e->q), 0);
	assert_false(e->q->rx_polling);
	assert_int_equal(e->g.rx->req_event, 3);
	assert_true(rx_push_kicks(e, 2, 3));
	/* the third came just before the next poll ends: arm reports it */
	e->q->rx_polling = true;
	fake_rx_post(&e->g, 3, 3);
	assert_int_equal(netif_rx_arm(e->q), 1);
	assert_int_equal(rx_burst(e, &p, 1, &done), 0);
	assert_int_equal(done, 1);
	assert_int_equal(e->q->stats.rx_pkts, 1);
	assert_int_equal(netif_rx_arm(e->q), 0); /* nothing waits any more */
	/* a fatal queue: arm says so */
	netif_queue_set_fatal(e->q, "test");
	assert_int_equal(netif_rx_arm(e->q), -EPROTO);
}

static void test_rx_bad_prod_fatal(void **state)
{
	struct env *e = *state;
	uint8_t data[60] = { 0 };
	struct netif_pkt p = { .data = data, .len = 60 };
	unsigned done;

	e->g.rx->req_prod = 1000;
	assert_int_equal(rx_burst(e, &p, 1, &done), -EPROTO);
	assert_true(netif_queue_is_fatal(e->q));
	assert_non_null(strstr(netif_queue_fatal_reason(e->q), "rx: impossible"));
	assert_int_equal(e->g.rx->rsp_prod, 0);
}

/* A buffer granted read-only (or revoked) is answered with an error, the
 * next one is used. */
static void test_rx_readonly_gref(void **state)
{
	struct env *e = *state;
	uint8_t data[60] = { 0 };
	struct netif_pkt p[2] = { { .data = data, .len = 60 }, { .data = data, .len = 50 } };
	unsigned done;

	e->g.readonly[4] = true;
	fake_rx_post(&e->g, 1, 4);
	fake_rx_post(&e->g, 2, 5);
	assert_int_equal(rx_burst(e, p, 2, &done), 0);
	assert_int_equal(done, 2);
	assert_false(netif_queue_is_fatal(e->q));
	assert_int_equal(rx_rsp(e, 0).status, NETIF_RSP_ERROR);
	assert_int_equal(rx_rsp(e, 1).status, 50);
	/* a grant error, not a packet the frontend cannot take */
	assert_int_equal(e->q->stats.rx_errors, 1);
	assert_int_equal(e->q->stats.rx_dropped, 0);
	assert_int_equal(e->q->stats.rx_pkts, 1);
	assert_int_equal(e->q->stats.rx_bytes, 50);
}

/* RX buffers whose grant was revoked or lies beyond the table: each gets
 * an error response in its own slot, the queue goes on, the next buffer
 * is filled. */
static void test_rx_revoked_and_bogus_gref(void **state)
{
	struct env *e = *state;
	uint8_t data[60];
	struct netif_pkt p[3] = { { .data = data, .len = 60 }, { .data = data, .len = 59 },
				  { .data = data, .len = 58 } };
	unsigned done;

	memset(data, 0x5a, sizeof(data));
	e->g.granted[4] = false;
	fake_rx_post(&e->g, 1, 4);
	fake_rx_post(&e->g, 2, 0xfffffff0u);
	fake_rx_post(&e->g, 3, 6);
	assert_int_equal(rx_burst(e, p, 3, &done), 0);
	assert_int_equal(done, 3);
	assert_false(netif_queue_is_fatal(e->q));
	assert_int_equal(rx_rsp(e, 0).id, 1);
	assert_int_equal(rx_rsp(e, 0).status, NETIF_RSP_ERROR);
	assert_int_equal(rx_rsp(e, 1).id, 2);
	assert_int_equal(rx_rsp(e, 1).status, NETIF_RSP_ERROR);
	assert_int_equal(rx_rsp(e, 2).id, 3);
	assert_int_equal(rx_rsp(e, 2).status, 58);
	assert_memory_equal(fake_page(&e->g, 6), data, 58);
	assert_int_equal(e->q->stats.rx_errors, 2);
	assert_int_equal(e->q->stats.rx_pkts, 1);
	assert_int_equal(e->g.rx->rsp_prod, 3);
}

/* A producer that moves back between bursts, behind what the backend has
 * consumed and answered: it cannot be (RING_REQUEST_PROD_OVERFLOW). */
static void test_rx_prod_moved_back_fatal(void **state)
{
	struct env *e = *state;
	uint8_t data[60] = { 0 };
	struct netif_pkt p[2] = { { .data = data, .len = 60 }, { .data = data, .len = 60 } };
	unsigned done;

	fake_rx_post(&e->g, 1, 1);
	fake_rx_post(&e->g, 2, 2);
	assert_int_equal(rx_burst(e, p, 2, &done), 0);
	assert_int_equal(done, 2);
	__atomic_store_n(&e->g.rx->req_prod, 1, __ATOMIC_RELEASE);
	assert_int_equal(rx_burst(e, p, 1, &done), -EPROTO);
	assert_int_equal(done, 0);
	assert_non_null(strstr(netif_queue_fatal_reason(e->q), "rx: impossible"));
	assert_int_equal(e->q->rx_req_cons, 2);
	assert_int_equal(e->g.rx->rsp_prod, 2);
}

static void test_tx_prod_moved_back_fatal(void **state)
{
	struct env *e = *state;

	fake_tx(&e->g, 1, 0, 0, 1, 60);
	fake_tx(&e->g, 2, 0, 0, 2, 60);
	fake_tx_publish(&e->g);
	assert_int_equal(tx_burst(e), 0);
	assert_int_equal(e->n, 2);
	__atomic_store_n(&e->g.tx->req_prod, 1, __ATOMIC_RELEASE);
	assert_fatal(e, tx_burst(e), "tx: impossible request producer");
	assert_int_equal(e->g.tx->rsp_prod, 2);
}

/* Buffers posted, seen by the backend and taken back before it used them
 * (req_prod back behind a producer it read, still ahead of its consumer):
 * a producer only grows, so this is the frontend's violation. Left alone,
 * a guest could show buffers to the stall check (its carrier back on, its
 * stall clock started over) and withdraw them before they were filled. */
static void test_rx_prod_taken_back_fatal(void **state)
{
	struct env *e = *state;
	unsigned avail;

	for (uint16_t i = 0; i < 4; i++)
		fake_rx_post(&e->g, i, i);
	assert_int_equal(netif_rx_slots_avail(e->q, &avail), 0);
	assert_int_equal(avail, 4);
	__atomic_store_n(&e->g.rx->req_prod, 2, __ATOMIC_RELEASE);
	assert_int_equal(netif_rx_slots_avail(e->q, &avail), -EPROTO);
	assert_int_equal(avail, 0);
	assert_non_null(strstr(netif_queue_fatal_reason(e->q), "rx: request producer 2 moved back"));
	assert_int_equal(e->q->rx_req_cons, 0);
}

/* The same on TX: a request seen (its packet waiting for credit) taken
 * back before it was consumed. */
static void test_tx_prod_taken_back_fatal(void **state)
{
	struct env *e = *state;

	netif_credit_set(&e->q->credit, 1000, 10000, 0);
	fake_tx(&e->g, 0, 0, 0, 1, 600);
	fake_tx(&e->g, 1, 0, 0, 2, 600);
	fake_tx_publish(&e->g);
	assert_int_equal(tx_burst(e), 0);
	assert_int_equal(e->n, 1);
	assert_int_equal(e->q->tx_req_cons, 1);
	__atomic_store_n(&e->g.tx->req_prod, 1, __ATOMIC_RELEASE);
	e->n = 0;
	assert_fatal(e, netif_tx_burst(e->q, &e->arena, 10000, e->pkts, NETIF_BURST, &e->n,
				       &e->more, &e->notify, &e->wait_us),
		     "tx: request producer 1 moved back");
	assert_int_equal(e->g.tx->rsp_prod, 1);
}

/* The frontend moves its RX producer back while a burst runs, between the
 * backend's first look and its second (rx_wait_for looks again when the
 * next packet does not fit). To make "between" exact, the ring page is
 * read-only during the burst: the backend's first write to it is the
 * req_event it sets before looking again, and that write's fault is where
 * the "frontend" moves req_prod back behind the consumer, as another CPU
 * could at that moment. The backend must take that as fatal, not as
 * 2^32 - 1 buffers posted (it took up to a burst of buffers never posted,
 * past the ring's 256 responses). */
/* A backend restarted under a connected frontend gets the rings its
 * predecessor served (Linux netfront keeps them): it starts where the
 * last responses were published, here just before the indices wrap.
 * What the last one took and never answered is served, none twice. */
static void test_restarted_backend_resumes_on_the_rings(void **state)
{
	struct env *e = *state;
	const RING_IDX at = 0xfffffffeu;
	uint8_t data[60] = { 1, 2, 3 };
	struct netif_pkt p = { .data = data, .len = sizeof(data) };
	unsigned done;

	e->g.tx->rsp_prod = e->g.tx->req_prod = e->g.tx_prod = at;
	e->g.rx->rsp_prod = e->g.rx->req_prod = e->g.rx_prod = at;
	e->g.tx->req_event = e->g.tx->rsp_event = at + 1;
	e->g.rx->req_event = e->g.rx->rsp_event = at + 1;
	fill(e, 3, 1);
	fake_tx(&e->g, 3, 0, 0, 40, 60); /* published before the restart */
	fake_tx_publish(&e->g);
	fake_rx_post(&e->g, 11, 20);
	fake_queue(&e->g, e->q, &all_features); /* the new backend */
	fake_tx(&e->g, 3, 100, 0, 41, 70);
	fake_tx_publish(&e->g);
	assert_int_equal(tx_burst(e), 0);
	assert_false(netif_queue_is_fatal(e->q));
	assert_int_equal(e->n, 2);
	assert_int_equal(e->pkts[0].len, 60);
	assert_int_equal(e->pkts[1].len, 70);
	assert_int_equal(tx_rsp(e, at).id, 40);
	assert_int_equal(tx_rsp(e, at + 1).id, 41);
	assert_all_answered(e);
	assert_int_equal(e->g.tx->rsp_prod, at + 2);
	assert_true(e->notify);
	assert_int_equal(rx_burst(e, &p, 1, &done), 0);
	assert_int_equal(done, 1);
	assert_int_equal(rx_rsp(e, at).id, 11);
	assert_int_equal(rx_rsp(e, at).status, 60);
	assert_memory_equal(fake_page(&e->g, 20), data, sizeof(data));
	assert_int_equal(e->g.rx->rsp_prod, at + 1);
}

static netif_rx_sring_t *race_rx;
static RING_IDX race_prod;

static void race_segv(int sig, siginfo_t *si, void *uc)
{
	uint8_t *a = si->si_addr, *page = (uint8_t *)race_rx;

	(void)sig;
	(void)uc;
	if (a < page || a >= page + NETIF_PAGE_SIZE)
		abort(); /* a real fault: not ours to hide */
	mprotect(race_rx, NETIF_PAGE_SIZE, PROT_READ | PROT_WRITE);
	race_rx->req_prod = race_prod;
}

static void test_rx_prod_moved_back_mid_burst_fatal(void **state)
{
	struct env *e = *state;
	static uint8_t data[60];
	struct netif_pkt p[NETIF_BURST];
	struct sigaction sa, old;
	unsigned done;
	int rc;

	race_rx = mmap(NULL, NETIF_PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1, 0);
	assert_true(race_rx != MAP_FAILED);
	race_rx->req_event = race_rx->rsp_event = 1;
	netif_queue_init(e->q, 7, &all_features, e->g.tx, race_rx, fake_copy, &e->g,
			 e->q->scratch);
	for (unsigned i = 0; i < NETIF_RX_RING_SIZE; i++)
		race_rx->ring[i].req = (struct netif_rx_request){ .id = (uint16_t)i,
								  .gref = 1 + i % 8 };
	race_rx->req_prod = 1; /* one buffer posted */
	race_prod = 0;	       /* then the producer goes back behind the consumer */
	for (unsigned i = 0; i < NETIF_BURST; i++)
		p[i] = (struct netif_pkt){ .data = data, .len = sizeof(data) };
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = race_segv;
	sa.sa_flags = SA_SIGINFO;
	assert_int_equal(sigaction(SIGSEGV, &sa, &old), 0);
	assert_int_equal(mprotect(race_rx, NETIF_PAGE_SIZE, PROT_READ), 0);
	rc = netif_rx_burst(e->q, p, NETIF_BURST, &done, &e->notify);
	mprotect(race_rx, NETIF_PAGE_SIZE, PROT_READ | PROT_WRITE);
	sigaction(SIGSEGV, &old, NULL);
	/* the one buffer posted, never more */
	assert_true(e->q->rx_req_cons <= 1);
	assert_true(e->q->rx_rsp_prod_pvt <= 1);
	assert_int_equal(rc, -EPROTO);
	if (!strstr(netif_queue_fatal_reason(e->q), "rx: request producer 0 moved back"))
		fail_msg("reason \"%s\"", netif_queue_fatal_reason(e->q));
	munmap(race_rx, NETIF_PAGE_SIZE);
}

/* XSA-155: the frontend rewrites every slot of both rings while the
 * backend copies (any moment after it read them): the answers and the
 * packets are what it read the first time, never a second read. */
static int rewriting_copy(void *ctx, struct hv_copy *segs, unsigned n)
{
	struct fake_guest *g = ctx;

	memset(g->tx->ring, 0xff, sizeof(g->tx->ring[0]) * NETIF_TX_RING_SIZE);
	memset(g->rx->ring, 0xff, sizeof(g->rx->ring[0]) * NETIF_RX_RING_SIZE);
	return fake_copy(ctx, segs, n);
}

static void test_tx_ring_rewritten_during_copy(void **state)
{
	struct env *e = *state;

	netif_queue_init(e->q, 7, &all_features, e->g.tx, e->g.rx, rewriting_copy, &e->g,
			 e->q->scratch);
	fill(e, 1, 3);
	fill(e, 2, 9);
	fake_tx(&e->g, 1, 10, NETTXF_more_data | NETTXF_extra_info, 41, 300);
	fake_tx_extra(&e->g, XEN_NETIF_EXTRA_TYPE_GSO, 0, 100, XEN_NETIF_GSO_TYPE_TCPV4);
	fake_tx(&e->g, 2, 0, 0, 42, 200);
	fake_tx(&e->g, 3, 0, 0, 43, 60);
	fake_tx_publish(&e->g);
	assert_int_equal(tx_burst(e), 0);
	assert_false(netif_queue_is_fatal(e->q));
	assert_int_equal(e->n, 2);
	assert_int_equal(e->pkts[0].len, 300);
	assert_int_equal(e->pkts[0].gso_size, 100);
	assert_int_equal(e->pkts[0].gso_type, XEN_NETIF_GSO_TYPE_TCPV4);
	assert_memory_equal(e->pkts[0].data, fake_page(&e->g, 1) + 10, 100);
	assert_memory_equal(e->pkts[0].data + 100, fake_page(&e->g, 2), 200);
	assert_int_equal(e->pkts[1].len, 60);
	assert_int_equal(tx_rsp(e, 0).id, 41);
	assert_int_equal(tx_rsp(e, 0).status, NETIF_RSP_OKAY);
	assert_int_equal(tx_rsp(e, 1).status, NETIF_RSP_NULL);
	assert_int_equal(tx_rsp(e, 2).id, 42);
	assert_int_equal(tx_rsp(e, 2).status, NETIF_RSP_OKAY);
	assert_int_equal(tx_rsp(e, 3).id, 43);
	assert_int_equal(tx_rsp(e, 3).status, NETIF_RSP_OKAY);
	assert_all_answered(e);
}

static void test_rx_ring_rewritten_during_copy(void **state)
{
	struct env *e = *state;
	uint8_t data[100];
	struct netif_pkt p[2] = { { .data = data, .len = 100 }, { .data = data, .len = 70 } };
	unsigned done;

	for (unsigned i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 5);
	netif_queue_init(e->q, 7, &all_features, e->g.tx, e->g.rx, rewriting_copy, &e->g,
			 e->q->scratch);
	fake_rx_post(&e->g, 11, 20);
	fake_rx_post(&e->g, 12, 21);
	assert_int_equal(rx_burst(e, p, 2, &done), 0);
	assert_int_equal(done, 2);
	assert_memory_equal(fake_page(&e->g, 20), data, 100);
	assert_memory_equal(fake_page(&e->g, 21), data, 70);
	assert_int_equal(rx_rsp(e, 0).id, 11);
	assert_int_equal(rx_rsp(e, 0).status, 100);
	assert_int_equal(rx_rsp(e, 0).flags, 0);
	assert_int_equal(rx_rsp(e, 1).id, 12);
	assert_int_equal(rx_rsp(e, 1).status, 70);
	assert_int_equal(e->g.rx->rsp_prod, 2);
}

/* XSA-155 within a burst: every byte of a request slot is read at most
 * once. The ring page is PROT_NONE while the burst runs; each access
 * faults, the handler counts it (reads only: responses are written into
 * the same slots), opens the page for that one instruction and sets the
 * trap flag, and the trap after it closes the page again. So a second
 * look at a slot's size or flags (checked, then used) counts twice.
 * x86-64 Linux only (the trap flag and the page fault's error code). */
#if defined(__x86_64__) && defined(__linux__)
#include <ucontext.h>

static struct {
	uint8_t *page;
	unsigned reads[NETIF_PAGE_SIZE];
	bool armed;
} df;

static void df_segv(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;
	uint8_t *a = si->si_addr;

	(void)sig;
	if (a < df.page || a >= df.page + NETIF_PAGE_SIZE)
		abort(); /* a real fault: not ours to hide */
	if (!(uc->uc_mcontext.gregs[REG_ERR] & 2)) /* not a write */
		df.reads[a - df.page]++;
	mprotect(df.page, NETIF_PAGE_SIZE, PROT_READ | PROT_WRITE);
	uc->uc_mcontext.gregs[REG_EFL] |= 0x100;
}

static void df_trap(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;

	(void)sig;
	(void)si;
	uc->uc_mcontext.gregs[REG_EFL] &= ~0x100;
	if (df.armed)
		mprotect(df.page, NETIF_PAGE_SIZE, PROT_NONE);
}

static void df_arm(struct sigaction *old_segv, struct sigaction *old_trap)
{
	struct sigaction sa;

	memset(df.reads, 0, sizeof(df.reads));
	memset(&sa, 0, sizeof(sa));
	sa.sa_flags = SA_SIGINFO;
	sa.sa_sigaction = df_segv;
	assert_int_equal(sigaction(SIGSEGV, &sa, old_segv), 0);
	sa.sa_sigaction = df_trap;
	assert_int_equal(sigaction(SIGTRAP, &sa, old_trap), 0);
	df.armed = true;
	assert_int_equal(mprotect(df.page, NETIF_PAGE_SIZE, PROT_NONE), 0);
}

static void df_disarm(const struct sigaction *old_segv, const struct sigaction *old_trap)
{
	df.armed = false;
	mprotect(df.page, NETIF_PAGE_SIZE, PROT_READ | PROT_WRITE);
	sigaction(SIGSEGV, old_segv, NULL);
	sigaction(SIGTRAP, old_trap, NULL);
}

/* Slots' bytes read more than once (the 64-byte header's indices are
 * looked at again by design: RING_FINAL_CHECK). */
static unsigned df_rereads(void)
{
	unsigned n = 0;

	for (unsigned i = 64; i < NETIF_PAGE_SIZE; i++)
		if (df.reads[i] > 1) {
			print_message("slot byte %u read %u times\n", i, df.reads[i]);
			n++;
		}
	return n;
}

static void test_tx_each_slot_read_once(void **state)
{
	struct env *e = *state;
	struct sigaction os, ot;
	netif_tx_sring_t *tx, *orig;
	unsigned reads = 0;
	int rc;

	tx = mmap(NULL, NETIF_PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
		  0);
	assert_true(tx != MAP_FAILED);
	memcpy(tx, e->g.tx, NETIF_PAGE_SIZE);
	orig = e->g.tx;
	e->g.tx = tx;
	netif_queue_init(e->q, 7, &all_features, tx, e->g.rx, fake_copy, &e->g, e->q->scratch);
	/* every kind of slot: a GSO packet with extra info in 3 slots, an
	 * empty follow-on, a 20-slot drop, a bad grant */
	fake_tx(&e->g, 1, 10, NETTXF_more_data | NETTXF_extra_info, 1, 300);
	fake_tx_extra(&e->g, XEN_NETIF_EXTRA_TYPE_GSO, 0, 100, XEN_NETIF_GSO_TYPE_TCPV4);
	fake_tx(&e->g, 2, 0, NETTXF_more_data, 2, 0);
	fake_tx(&e->g, 3, 0, 0, 3, 200);
	for (unsigned i = 0; i < 20; i++)
		fake_tx(&e->g, 4, 0, i < 19 ? NETTXF_more_data : 0, (uint16_t)(10 + i),
			i ? 64 : 20 * 64);
	fake_tx(&e->g, 9999, 0, 0, 40, 60);
	fake_tx(&e->g, 5, 0, 0, 41, 60);
	fake_tx_publish(&e->g);
	df.page = (uint8_t *)tx;
	df_arm(&os, &ot);
	rc = tx_burst(e);
	df_disarm(&os, &ot);
	/* back to the page fake_free() frees before anything can fail */
	memcpy(orig, tx, NETIF_PAGE_SIZE);
	e->g.tx = orig;
	e->q->tx = orig;
	munmap(tx, NETIF_PAGE_SIZE);
	assert_int_equal(rc, 0);
	assert_int_equal(e->n, 2);
	assert_all_answered(e);
	for (unsigned i = 64; i < NETIF_PAGE_SIZE; i++)
		reads += df.reads[i] > 0;
	assert_true(reads >= 4); /* the trap saw the slots read */
	assert_int_equal(df_rereads(), 0);
}

static void test_rx_each_slot_read_once(void **state)
{
	struct env *e = *state;
	static uint8_t data[9000];
	struct netif_pkt p[3] = { { .data = data, .len = 9000, .gso_type = XEN_NETIF_GSO_TYPE_TCPV4,
				    .gso_size = 1448 },
				  { .data = data, .len = 60 },
				  { .data = data, .len = 60 } };
	struct sigaction os, ot;
	netif_rx_sring_t *rx, *orig;
	unsigned done;
	int rc;

	rx = mmap(NULL, NETIF_PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
		  0);
	assert_true(rx != MAP_FAILED);
	memcpy(rx, e->g.rx, NETIF_PAGE_SIZE);
	orig = e->g.rx;
	e->g.rx = rx;
	netif_queue_init(e->q, 7, &all_features, e->g.tx, rx, fake_copy, &e->g, e->q->scratch);
	for (unsigned i = 0; i < 5; i++)
		fake_rx_post(&e->g, (uint16_t)(i + 1), 1 + i);
	df.page = (uint8_t *)rx;
	df_arm(&os, &ot);
	/* the third packet does not fit: the burst looks at req_prod again */
	rc = rx_burst(e, p, 3, &done);
	df_disarm(&os, &ot);
	memcpy(orig, rx, NETIF_PAGE_SIZE);
	e->g.rx = orig;
	e->q->rx = orig;
	munmap(rx, NETIF_PAGE_SIZE);
	assert_int_equal(rc, 0);
	assert_int_equal(done, 2);
	assert_int_equal(df_rereads(), 0);
}
#endif

/* ---- headers and checksums ---- */

static uint16_t sum16(const uint8_t *p, size_t n, uint32_t sum)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (n & 1)
		sum += (uint32_t)p[n - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

/* A UDP/IPv4 packet with its pseudo-header sum in the checksum field, as
 * CHECKSUM_PARTIAL leaves it: completed, the whole sums to 0xffff. */
static void test_hdr_csum_complete(void **state)
{
	uint8_t pkt[14 + 20 + 8 + 11] = { 0 };
	uint8_t pseudo[12] = { 192, 0, 2, 1, 192, 0, 2, 2, 0, 17, 0, 19 };
	uint16_t l3, ps;
	uint32_t l4_off;
	uint8_t l4;

	pkt[12] = 0x08;
	pkt[14] = 0x45;
	pkt[14 + 9] = 17;
	memcpy(pkt + 26, pseudo, 8);
	pkt[42 - 4] = 0; /* UDP length 19 */
	pkt[42 - 3] = 19;
	memcpy(pkt + 42, "hello world", 11);
	ps = sum16(pseudo, sizeof(pseudo), 0);
	pkt[40] = (uint8_t)(ps >> 8);
	pkt[41] = (uint8_t)ps;
	assert_int_equal(netif_hdr_l4(pkt, sizeof(pkt), &l3, &l4_off, &l4), 0);
	assert_int_equal(l3, 0x0800);
	assert_int_equal(l4_off, 34);
	assert_int_equal(l4, 17);
	assert_int_equal(netif_hdr_csum_complete(pkt, sizeof(pkt)), 0);
	assert_int_equal(sum16(pkt + 34, sizeof(pkt) - 34, sum16(pseudo, sizeof(pseudo), 0)),
			 0xffff);
	/* truncated headers are refused, never read past the end */
	for (uint32_t len = 0; len < 42; len++)
		assert_int_equal(netif_hdr_csum_complete(pkt, len), -EINVAL);
	(void)state;
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_tx_single_slot),
		T(test_tx_packets_start_on_cache_lines),
		T(test_tx_polling_defers_req_event_and_arm_loses_nothing),
		T(test_rx_kick_only_when_the_waiting_packet_fits),
		T(test_rx_polling_defers_req_event_and_arm_loses_nothing),
		T(test_spin_window_polls_then_arms_and_loses_nothing),
		cmocka_unit_test(test_spin_env),
		T(test_tx_18_slots),
		T(test_tx_19_slots),
		T(test_tx_20_slots_dropped),
		T(test_tx_21_slots_dropped),
		T(test_tx_22_slots_fatal),
		T(test_tx_ring_size_slots_fatal),
		T(test_tx_endless_more_data_fatal),
		T(test_tx_bad_prod_fatal),
		T(test_tx_full_ring),
		T(test_tx_size_0_dropped),
		T(test_tx_over_64k_dropped),
		T(test_tx_first_crosses_page_fatal),
		T(test_tx_follow_crosses_page_fatal),
		T(test_tx_zero_size_follow_on),
		T(test_tx_bad_gref),
		T(test_tx_copier_failure),
		T(test_tx_gso),
		T(test_tx_gso_size_0_fatal),
		T(test_tx_gso_type_unknown_fatal),
		T(test_tx_extra_unknown_fatal),
		T(test_tx_extra_duplicate_fatal),
		T(test_tx_extra_missing_fatal),
		T(test_tx_notify_suppressed),
		T(test_tx_idle),
		T(test_tx_credit),
		cmocka_unit_test(test_credit_burst_floor),
		T(test_rx_basic),
		T(test_rx_same_slot),
		T(test_rx_split_gso),
		T(test_rx_unfit_dropped),
		T(test_rx_no_buffers),
		T(test_rx_bad_prod_fatal),
		T(test_rx_readonly_gref),
		T(test_rx_revoked_and_bogus_gref),
		T(test_rx_prod_moved_back_fatal),
		T(test_tx_prod_moved_back_fatal),
		T(test_rx_prod_taken_back_fatal),
		T(test_tx_prod_taken_back_fatal),
		T(test_rx_prod_moved_back_mid_burst_fatal),
		T(test_restarted_backend_resumes_on_the_rings),
		T(test_tx_ring_rewritten_during_copy),
		T(test_rx_ring_rewritten_during_copy),
#if defined(__x86_64__) && defined(__linux__)
		T(test_tx_each_slot_read_once),
		T(test_rx_each_slot_read_once),
#endif
		cmocka_unit_test(test_hdr_csum_complete),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
