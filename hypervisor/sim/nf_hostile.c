/* nf_hostile: `hvsim guest D.N --hostile CASE` — a frontend that completes
 * the handshake as netfront does, then writes one bad ring state (the
 * cases of Xen's netback advisories) and reports on stdout, as one JSON
 * object, what the backend answered: its TX responses, its producer
 * indices and its xenbus state. The backend's hostile-guest tests judge
 * that report; this tool judges nothing.
 *
 * Each case is bounded: it writes at most one ring's worth of requests and
 * an event storm stops after NF_STORM_MAX notifications or 2 s; rx-one-slot
 * posts its buffers one at a time for --wait. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hypervisor/sim/hv_guest.h"
#include "hypervisor/sim/netfront.h"
#include "lib/err.h"
#include "lib/log.h"
#include "lib/xs_client.h"

#define CONNECT_WAIT_MS	10000	/* libxl's own patience with a backend */
#define NF_STORM_MAX	100000u
#define NF_STORM_MS	2000
#define SLOT_BYTES	64u
#define NF_RX_FILL_MS	10000	/* rx-prod-back: for the backend to fill buffers */
#define NF_RX_LATE_MS	2000	/* rx-prod-overflow-late: watched after the write */

struct hctx {
	struct nf_dev *d;
	struct nf_queue *q;
	union nf_tx_slot *ring;
	uint32_t prod;		/* TX requests written */
	unsigned expect;	/* TX responses that answer them all */
	uint32_t extra_ref;	/* a grant of ours to revoke after */
	bool has_extra_ref;
	unsigned notifies;	/* event storm */
	unsigned wait_ms;	/* --wait: a case that spends it itself (rx-one-slot) */
};

static void req(struct hctx *h, uint32_t gref, uint16_t off, uint16_t flags, uint16_t id,
		uint16_t size)
{
	struct nf_tx_req r = { .gref = gref, .offset = off, .flags = flags, .id = id, .size = size };

	h->ring[h->prod++ & (NF_RING_SIZE - 1)].req = r;
	h->expect++;
}

static void extra(struct hctx *h, uint8_t type, uint8_t flags, uint16_t gso_size, uint8_t gso_type)
{
	struct nf_extra e = { .type = type, .flags = flags };

	e.u.gso.size = gso_size;
	e.u.gso.type = gso_type;
	h->ring[h->prod++ & (NF_RING_SIZE - 1)].extra = e;
	h->expect++;	/* answered NULL */
}

/* A frame that harms nobody if a backend takes it: broadcast, our MAC, a
 * local-experimental ethertype. */
static void fill_frame(struct hctx *h)
{
	uint8_t *p = h->q->tx.buf[0];

	memset(p, 0xff, 6);
	memcpy(p + 6, h->d->mac, 6);
	p[12] = 0x88;
	p[13] = 0xb5;
}

static uint32_t ref(struct hctx *h, unsigned id)
{
	return h->q->tx.gref[id];
}

/* ---- cases ---- */

static int c_valid(struct hctx *h, unsigned arg)
{
	req(h, ref(h, 0), 0, 0, 0, 60);
	return 0;
}

static int c_slots(struct hctx *h, unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++)
		req(h, ref(h, i), 0, i + 1 < n ? NF_TXF_MORE_DATA : 0, (uint16_t)i,
		    (uint16_t)(i ? SLOT_BYTES : n * SLOT_BYTES));
	return 0;
}

static int c_size(struct hctx *h, unsigned size)
{
	req(h, ref(h, 0), 0, 0, 0, (uint16_t)size);
	return 0;
}

static int c_size_64k(struct hctx *h, unsigned arg)
{
	unsigned i;

	/* 0xffff announced, 17 full pages follow: the chain outgrows it. */
	req(h, ref(h, 0), 0, NF_TXF_MORE_DATA, 0, NF_MAX_TX_SIZE);
	for (i = 1; i <= 17; i++)
		req(h, ref(h, i), 0, i < 17 ? NF_TXF_MORE_DATA : 0, (uint16_t)i, NF_PAGE_SIZE);
	return 0;
}

static int c_offset_cross(struct hctx *h, unsigned arg)
{
	req(h, ref(h, 0), 4000, 0, 0, 200);
	return 0;
}

static int c_gref_foreign(struct hctx *h, unsigned arg)
{
	uint16_t other = (uint16_t)(h->d->backend_id + 1);
	int rc;

	if (other == h->d->domid)
		other++;
	/* A page of ours granted to a domain that is not the backend. */
	rc = hv_guest_grant(h->d->g, other, NF_PAGES_PER_QUEUE, true, &h->extra_ref);
	if (rc)
		return err_prefix(rc, "grant to domain %u", other);
	h->has_extra_ref = true;
	memcpy(hv_guest_page(h->d->g, NF_PAGES_PER_QUEUE), h->q->tx.buf[0], 64);
	req(h, h->extra_ref, 0, 0, 0, 60);
	return 0;
}

static int c_gref_revoked(struct hctx *h, unsigned arg)
{
	uint32_t r;
	int rc = hv_guest_grant(h->d->g, h->d->backend_id, NF_PAGES_PER_QUEUE, true, &r);

	if (!rc)
		rc = hv_guest_revoke(h->d->g, r);
	if (rc)
		return err_prefix(rc, "grant and revoke");
	req(h, r, 0, 0, 0, 60);
	return 0;
}

static int c_gref_bogus(struct hctx *h, unsigned arg)
{
	req(h, 0xfffffff0u, 0, 0, 0, 60);
	return 0;
}

/* First slot with an extra-info slot of the given type / GSO fields. */
static int c_extra(struct hctx *h, unsigned type, unsigned gso_size, unsigned gso_type)
{
	req(h, ref(h, 0), 0, NF_TXF_EXTRA_INFO | NF_TXF_CSUM_BLANK | NF_TXF_DATA_VALIDATED, 0, 60);
	extra(h, (uint8_t)type, 0, (uint16_t)gso_size, (uint8_t)gso_type);
	return 0;
}

static int c_gso_size_0(struct hctx *h, unsigned arg)
{
	return c_extra(h, NF_EXTRA_GSO, 0, NF_GSO_TCPV4);
}

static int c_gso_type_unknown(struct hctx *h, unsigned arg)
{
	return c_extra(h, NF_EXTRA_GSO, 1400, 7);
}

static int c_extra_type_unknown(struct hctx *h, unsigned arg)
{
	return c_extra(h, 9, 0, 0);
}

static int c_extra_type_none(struct hctx *h, unsigned arg)
{
	return c_extra(h, 0, 0, 0);
}

/* A TCP/IPv4 GSO packet (8000 bytes of payload, gso_size 1000) to
 * 02:00:00:00:00:01 from our MAC, 203.0.113.15:40000 -> 203.0.113.1:9,
 * written whole into our pages and sent in 4096-byte slots with its GSO
 * extra: arg 0 as it should be, 1 gso_size 1 (8000 segments), 2 the
 * TCPV6 type on IPv4 headers, 3 a TCP data offset of 15 on a packet that
 * ends after 20 bytes of TCP, 4 an IP total length of 65535, 5 as 0 but
 * with a first slot of 20 bytes (the headers run on into the next). What a
 * backend does with the packet is for the caller to observe on the wire
 * and in the backend's counters: the ring itself answers each slot OK. */
static int c_tcp_gso(struct hctx *h, unsigned arg)
{
	static const uint8_t dst[6] = { 0x02, 0, 0, 0, 0, 0x01 };
	uint8_t pkt[14 + 20 + 20 + 8000];
	uint32_t len = arg == 3 ? 14 + 20 + 20 : sizeof(pkt), off = 0;
	uint8_t *ip = pkt + 14, *tcp = ip + 20;
	unsigned id = 0;

	memset(pkt, 0, sizeof(pkt));
	memcpy(pkt, dst, 6);
	memcpy(pkt + 6, h->d->mac, 6);
	pkt[12] = 0x08;
	ip[0] = 0x45;
	ip[2] = (uint8_t)(arg == 4 ? 0xff : (len - 14) >> 8);
	ip[3] = (uint8_t)(arg == 4 ? 0xff : len - 14);
	ip[8] = 64;
	ip[9] = 6;
	memcpy(ip + 12, (const uint8_t[]){ 203, 0, 113, 15, 203, 0, 113, 1 }, 8);
	tcp[0] = 40000 >> 8;
	tcp[1] = 40000 & 0xff;
	tcp[3] = 9;
	tcp[12] = (uint8_t)((arg == 3 ? 15 : 5) << 4);
	tcp[13] = 0x18; /* PSH, ACK */
	tcp[14] = 0xff;
	/* the pseudo-header's sum, as a guest's partial checksum has it */
	{
		uint32_t sum = 6 + (len - 34);

		for (unsigned i = 0; i < 8; i += 2)
			sum += (uint32_t)(ip[12 + i] << 8 | ip[13 + i]);
		while (sum >> 16)
			sum = (sum & 0xffff) + (sum >> 16);
		tcp[16] = (uint8_t)(sum >> 8);
		tcp[17] = (uint8_t)sum;
	}
	for (uint32_t i = 54; i < len; i++)
		pkt[i] = (uint8_t)('a' + i % 26);
	/* the IPv4 header checksum */
	{
		uint32_t sum = 0;

		for (unsigned i = 0; i < 20; i += 2)
			sum += (uint32_t)(ip[i] << 8 | ip[i + 1]);
		while (sum >> 16)
			sum = (sum & 0xffff) + (sum >> 16);
		ip[10] = (uint8_t)(~sum >> 8);
		ip[11] = (uint8_t)~sum;
	}
	while (off < len) {
		uint32_t n = len - off < NF_PAGE_SIZE ? len - off : NF_PAGE_SIZE;

		if (arg == 5 && !off)
			n = 20;
		memcpy(h->q->tx.buf[id], pkt + off, n);
		if (!off) {
			req(h, ref(h, id), 0,
			    (uint16_t)(NF_TXF_EXTRA_INFO | NF_TXF_CSUM_BLANK | NF_TXF_DATA_VALIDATED |
				       (len > n ? NF_TXF_MORE_DATA : 0)),
			    (uint16_t)id, (uint16_t)len);
			extra(h, NF_EXTRA_GSO, 0, arg == 1 ? 1 : 1000,
			      arg == 2 ? NF_GSO_TCPV6 : NF_GSO_TCPV4);
		} else {
			req(h, ref(h, id), 0, (uint16_t)(off + n < len ? NF_TXF_MORE_DATA : 0),
			    (uint16_t)id, (uint16_t)n);
		}
		off += n;
		id++;
	}
	return 0;
}

static int c_more_data_forever(struct hctx *h, unsigned arg)
{
	unsigned i;

	/* Every slot of the ring says "more follows"; none ends the packet. */
	req(h, ref(h, 0), 0, NF_TXF_MORE_DATA, 0, NF_MAX_TX_SIZE);
	for (i = 1; i < NF_RING_SIZE; i++)
		req(h, ref(h, i), 0, NF_TXF_MORE_DATA, (uint16_t)i, 1);
	return 0;
}

static int c_req_prod_overflow(struct hctx *h, unsigned arg)
{
	/* One valid request, then a producer index a ring cannot hold. */
	req(h, ref(h, 0), 0, 0, 0, 60);
	h->prod = NF_RING_SIZE + 44;
	return 0;
}

static int c_rx_prod_overflow(struct hctx *h, unsigned arg)
{
	struct nf_sring_hdr *s = h->q->rx.sring;

	__atomic_store_n(&s->req_prod, h->q->rx.req_prod_pvt + NF_RING_SIZE + 44,
			 __ATOMIC_RELEASE);
	nf_queue_kick_rx(h->d, h->q);
	return 0;
}

/* As rx-prod-overflow, after --wait with no receive buffer posted: a
 * backend's queue for it is full by then if it is sent frames, and the
 * bad producer comes while it is (the backend may find it as it flushes
 * that full queue to make room for the next frame). Then watched for
 * NF_RX_LATE_MS. */
static int c_rx_prod_overflow_late(struct hctx *h, unsigned arg)
{
	poll(NULL, 0, (int)h->wait_ms);
	h->wait_ms = NF_RX_LATE_MS;
	return c_rx_prod_overflow(h, arg);
}

static int c_nothing(struct hctx *h, unsigned arg)
{
	return 0;	/* no-rx-buffers: the setup did it (no_rx_post) */
}

/* A connect-time case (arg: netfront.h's bad_evtchn): nf_hostile_run()
 * does it while connecting, this marks it. */
static int c_at_connect(struct hctx *h, unsigned arg)
{
	return 0;
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static int c_event_storm(struct hctx *h, unsigned arg)
{
	long end = now_ms() + NF_STORM_MS;

	while (h->notifies < NF_STORM_MAX && now_ms() < end) {
		nf_queue_kick_tx(h->d, h->q);
		nf_queue_kick_rx(h->d, h->q);
		h->notifies += 2;
	}
	/* Then one good packet: a backend that survived answers it. */
	return c_valid(h, 0);
}

/* An event storm whose every kick seems to bring news: each one moves
 * the RX producer, alternately one buffer back (taking back the last
 * buffer posted) and forward again (posting it anew), so no two kicks in
 * a row see the same producers, yet the backend gets nothing to do. The
 * ring stays as it was (ending where it started), then one good packet. */
static int c_event_storm_rx_toggle(struct hctx *h, unsigned arg)
{
	struct nf_sring_hdr *s = h->q->rx.sring;
	uint32_t prod = h->q->rx.req_prod_pvt;
	long end = now_ms() + NF_STORM_MS;

	if (prod == h->q->rx.rsp_cons)
		return err_set(-EINVAL, "event-storm-rx-toggle: no receive buffer posted");
	while (h->notifies < NF_STORM_MAX && now_ms() < end) {
		__atomic_store_n(&s->req_prod, prod - (h->notifies & 1 ? 0 : 1), __ATOMIC_RELEASE);
		nf_queue_kick_rx(h->d, h->q);
		h->notifies++;
	}
	__atomic_store_n(&s->req_prod, prod, __ATOMIC_RELEASE);
	return c_valid(h, 0);
}

/* Waits until the backend has filled receive buffers (the LAN's
 * broadcasts reach every bridge port), then moves the RX producer back
 * behind buffers it has already answered. */
static int c_rx_prod_back(struct hctx *h, unsigned arg)
{
	struct nf_sring_hdr *s = h->q->rx.sring;
	long end = now_ms() + NF_RX_FILL_MS;
	uint32_t rsp;

	while ((rsp = nf_sring_rsp_prod(s)) < 2) {
		if (now_ms() >= end)
			return err_set(-ETIMEDOUT,
				       "rx-prod-back: the backend filled no receive buffer in %d s "
				       "(send the guest some broadcasts)",
				       NF_RX_FILL_MS / 1000);
		poll(NULL, 0, 20);
	}
	__atomic_store_n(&s->req_prod, rsp - 1, __ATOMIC_RELEASE);
	nf_queue_kick_rx(h->d, h->q);
	return 0;
}

/* CVE-2021-28714: exactly one receive buffer posted at any time, the next
 * one only once the backend has answered it, for --wait: a guest that is
 * alive (it takes every packet that fits in one buffer) but never has room
 * for a packet that needs more (a GSO packet, a frame over a page). netback
 * before the fix never judged such a queue stalled and hoarded what came
 * for it. */
static int c_rx_one_slot(struct hctx *h, unsigned arg)
{
	struct nf_rxq *rx = &h->q->rx;
	union nf_rx_slot *ring = nf_rx_slots(rx->sring);
	long end = now_ms() + h->wait_ms;

	do {
		uint32_t rsp = nf_sring_rsp_prod(rx->sring);

		if (rsp == rx->req_prod_pvt) {
			uint32_t s = rx->req_prod_pvt & (NF_RING_SIZE - 1);
			struct nf_rx_req r = { .id = (uint16_t)s, .gref = rx->gref[s] };

			rx->rsp_cons = rsp; /* what it held is dropped: not read */
			ring[s].req = r;
			rx->req_prod_pvt++;
			if (nf_sring_push_requests(rx->sring, rx->req_prod_pvt))
				nf_queue_kick_rx(h->d, h->q);
		}
		poll(NULL, 0, 5);
	} while (now_ms() < end);
	h->wait_ms = 0; /* spent */
	return 0;
}

static const struct hcase {
	const char *name;
	int (*fn)(struct hctx *h, unsigned arg);
	unsigned arg;
	bool no_rx;
	const char *what;
} cases[] = {
	{ "valid", c_valid, 0, false, "one good 60-byte frame (control case)" },
	{ "slots-N", c_slots, 0, false,
	  "one frame in N slots of 64 bytes, N = 2..256 (netback: 19 ok, 20-21 dropped, more fatal)" },
	{ "size-0", c_size, 0, false, "a first slot of size 0" },
	{ "size-13", c_size, 13, false, "a frame shorter than an Ethernet header" },
	{ "size-64k", c_size_64k, 0, false, "0xffff announced, 17 pages chained (> 64 KiB)" },
	{ "offset-cross", c_offset_cross, 0, false, "offset 4000 + size 200 crosses the page" },
	{ "gref-foreign", c_gref_foreign, 0, false, "a gref granted to another domain" },
	{ "gref-revoked", c_gref_revoked, 0, false, "a gref granted, then revoked" },
	{ "gref-bogus", c_gref_bogus, 0, false, "a gref beyond the grant table" },
	{ "gso-size-0", c_gso_size_0, 0, false, "GSO extra with size 0" },
	{ "gso-type-unknown", c_gso_type_unknown, 0, false, "GSO extra of type 7" },
	{ "extra-type-unknown", c_extra_type_unknown, 0, false, "extra info of type 9" },
	{ "extra-type-none", c_extra_type_none, 0, false, "extra info of type 0" },
	{ "tcp-gso", c_tcp_gso, 0, false,
	  "a TCP/IPv4 GSO packet, 8000 bytes at gso_size 1000, to 02:00:00:00:00:01" },
	{ "tcp-gso-mss-1", c_tcp_gso, 1, false, "the same with gso_size 1 (8000 segments)" },
	{ "tcp-gso-type-v6", c_tcp_gso, 2, false, "the same with GSO type TCPV6 on IPv4" },
	{ "tcp-gso-hdr-past", c_tcp_gso, 3, false,
	  "TCP data offset 15 on a packet ending 20 bytes into TCP" },
	{ "tcp-gso-iplen", c_tcp_gso, 4, false, "the same with an IPv4 total length of 65535" },
	{ "tcp-gso-split-hdr", c_tcp_gso, 5, false,
	  "the valid packet with a first slot of 20 bytes: headers across slots" },
	{ "more-data-forever", c_more_data_forever, 0, false,
	  "256 slots, every one with more_data" },
	{ "req-prod-overflow", c_req_prod_overflow, 0, false,
	  "TX req_prod - req_cons = 300 > ring size" },
	{ "rx-prod-overflow", c_rx_prod_overflow, 0, false,
	  "RX req_prod 300 ahead of the posted buffers" },
	{ "rx-prod-overflow-late", c_rx_prod_overflow_late, 0, true,
	  "no RX buffer posted for --wait (send it frames), then RX req_prod 300 ahead" },
	{ "rx-prod-back", c_rx_prod_back, 0, false,
	  "RX req_prod moved back behind buffers the backend filled (needs traffic to the guest)" },
	{ "no-rx-buffers", c_nothing, 0, true, "connect with an empty RX ring, never post" },
	{ "rx-one-slot", c_rx_one_slot, 0, true,
	  "one RX buffer posted at a time, the next once it is answered, for --wait" },
	{ "event-storm", c_event_storm, 0, false,
	  "100000 notifications (2 s at most), then one good frame" },
	{ "event-storm-rx-toggle", c_event_storm_rx_toggle, 0, false,
	  "an event storm whose kicks move the RX producer back and forth by one, then one "
	  "good frame" },
	{ "evtchn-unbound", c_at_connect, NF_EVTCHN_UNBOUND, false,
	  "at connect: the TX event channel key names a port never allocated" },
	{ "evtchn-foreign", c_at_connect, NF_EVTCHN_FOREIGN, false,
	  "at connect: the TX event channel key names a port allocated for another domain" },
	{ "evtchn-huge", c_at_connect, NF_EVTCHN_HUGE, false,
	  "at connect: the TX event channel key is 4294967295" },
};

void nf_hostile_list(FILE *f)
{
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		fprintf(f, "%-20s %s\n", cases[i].name, cases[i].what);
}

static const struct hcase *find_case(const char *name, unsigned *arg)
{
	size_t i;

	if (!strncmp(name, "slots-", 6)) {
		char *end;
		unsigned long n = strtoul(name + 6, &end, 10);

		if (*end || end == name + 6 || n < 2 || n > NF_RING_SIZE)
			return NULL;
		*arg = (unsigned)n;
		return &cases[1];
	}
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (!strcmp(cases[i].name, name) && strcmp(name, "slots-N")) {
			*arg = cases[i].arg;
			return &cases[i];
		}
	return NULL;
}

bool nf_hostile_known(const char *name)
{
	unsigned arg;

	return find_case(name, &arg) != NULL;
}

/* Drive the state machine until the backend is Connected. */
static int connect_wait(struct nf_dev *d)
{
	long end = now_ms() + CONNECT_WAIT_MS;
	int rc;

	for (;;) {
		struct pollfd p = { .fd = xsc_fd(d->xs), .events = POLLIN };
		struct xsc_event *ev;
		int err = 0;
		long left;

		rc = nf_dev_step(d);
		if (rc)
			return rc;
		if (d->data_on)
			return 0;
		left = end - now_ms();
		if (left <= 0)
			return err_set(-ETIMEDOUT, "backend did not connect within %d s (backend %s)",
				       CONNECT_WAIT_MS / 1000, nf_state_name(nf_xs_state(d, d->be)));
		if (!xsc_events_queued(d->xs))
			poll(&p, 1, (int)(left < 200 ? left : 200));
		while ((ev = xsc_event_next(d->xs, &err)))
			free(ev);
		if (err)
			return err_set(err, "connection to xenstored lost");
	}
}

/* A connect-time case: drive the state machine until the backend has
 * answered our Connected, by Connected or by closing; its state. */
static int connect_answer(struct nf_dev *d, int *be)
{
	long end = now_ms() + CONNECT_WAIT_MS;

	for (;;) {
		struct pollfd p = { .fd = xsc_fd(d->xs), .events = POLLIN };
		struct xsc_event *ev;
		int err = 0, rc;

		*be = nf_xs_state(d, d->be);
		if (d->fe_state == 4 && (*be == 4 || *be >= 5)) /* Connected; Closing, Closed */
			return 0;
		if (d->fe_state != 4 && (rc = nf_dev_step(d)))
			return rc;
		if (now_ms() >= end)
			return err_set(-ETIMEDOUT, "backend did not answer within %d s (backend %s)",
				       CONNECT_WAIT_MS / 1000, nf_state_name(*be));
		if (!xsc_events_queued(d->xs))
			poll(&p, 1, 200);
		while ((ev = xsc_event_next(d->xs, &err)))
			free(ev);
		if (err)
			return err_set(err, "connection to xenstored lost");
	}
}

/* Watch the backend until it has answered every request, left Connected,
 * or wait_ms passed. */
static int observe(struct nf_dev *d, struct hctx *h, unsigned wait_ms)
{
	long end = now_ms() + wait_ms;
	int be;

	for (;;) {
		struct xsc_event *ev;
		int err = 0;

		be = nf_xs_state(d, d->be);
		if (be != 4)
			return be;
		if (h->expect && nf_sring_rsp_prod(h->q->tx.sring) >= h->expect)
			return be;
		if (now_ms() >= end)
			return be;
		poll(NULL, 0, 20);
		while ((ev = xsc_event_next(d->xs, &err)))
			free(ev);
	}
}

static void report(struct nf_dev *d, const char *name, struct hctx *h, int be)
{
	const union nf_tx_slot *ring = nf_tx_slots(h->q->tx.sring);
	const struct nf_sring_hdr *txs = h->q->tx.sring, *rxs = h->q->rx.sring;
	uint32_t prod = nf_sring_rsp_prod(txs), i, n = prod < NF_RING_SIZE ? prod : NF_RING_SIZE;

	printf("{\"case\": \"%s\", \"vif\": \"%u.%u\", \"backend_state\": %d, "
	       "\"backend_state_name\": \"%s\", \"tx_req_prod\": %u, \"tx_rsp_prod\": %u, "
	       "\"rx_req_prod\": %u, \"rx_rsp_prod\": %u, \"notifications\": %u, "
	       "\"tx_responses\": [",
	       name, d->domid, d->devid, be, nf_state_name(be),
	       __atomic_load_n(&txs->req_prod, __ATOMIC_RELAXED), prod,
	       __atomic_load_n(&rxs->req_prod, __ATOMIC_RELAXED), nf_sring_rsp_prod(rxs),
	       h->notifies);
	for (i = 0; i < n; i++) {
		struct nf_tx_rsp r;

		memcpy(&r, (const void *)&ring[i], sizeof(r));
		printf("%s{\"id\": %u, \"status\": %d}", i ? ", " : "", r.id, r.status);
	}
	printf("]}\n");
	fflush(stdout);
}

int nf_hostile_run(struct nf_dev *d, const char *name, unsigned wait_ms)
{
	const struct hcase *c;
	struct hctx h = { .d = d, .wait_ms = wait_ms };
	unsigned arg = 0;
	int rc, be;

	c = find_case(name, &arg);
	if (!c)
		return err_set(-EINVAL, "unknown hostile case `%s' (hvsim guest --hostile list)", name);
	d->no_rx_post = c->no_rx;
	if (c->fn == c_at_connect) {
		d->bad_evtchn = arg;
		rc = connect_answer(d, &be);
		if (rc)
			return rc;
		printf("{\"case\": \"%s\", \"vif\": \"%u.%u\", \"backend_state\": %d, "
		       "\"backend_state_name\": \"%s\"}\n",
		       name, d->domid, d->devid, be, nf_state_name(be));
		fflush(stdout);
		nf_dev_shutdown(d);
		return 0;
	}
	rc = connect_wait(d);
	if (rc)
		return rc;
	h.q = &d->q[0];
	h.ring = nf_tx_slots(h.q->tx.sring);
	fill_frame(&h);
	rc = c->fn(&h, arg);
	if (rc)
		return rc;
	if (h.prod) {
		h.q->tx.req_prod_pvt = h.prod;
		nf_sring_push_requests(h.q->tx.sring, h.prod);
		nf_queue_kick_tx(d, h.q);
	}
	log_info("vif%u.%u: hostile case %s written (%u TX slots)", d->domid, d->devid, name,
		 h.prod);
	if (h.expect > NF_RING_SIZE || h.prod > h.expect)
		h.expect = 0;	/* nothing to count on: watch the state only */
	be = observe(d, &h, h.wait_ms);
	report(d, name, &h, be);
	if (h.has_extra_ref)
		hv_guest_revoke(d->g, h.extra_ref);
	nf_dev_shutdown(d);
	return 0;
}
