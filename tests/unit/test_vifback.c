/* Unit tests for vifback's parts that need no hypervisor: the frontend's
 * connect keys (every value a guest writes, good and hostile), the
 * virtio_net_hdr <-> netif metadata mapping, and the supervisor <-> worker
 * messages with descriptors attached; netback's reconnect hold. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/err.h"
#include "netback/netback.h"
#include "netback/rings.h"
#include "vifback/tap.h"
#include "vifback/vb.h"

/* ---- frontend keys ---- */

struct fe_case {
	const char *fe[NB_FK_COUNT];
	const char *q[2][NB_FQ_COUNT];
	unsigned nq;
};

static const struct fe_case linux_netfront = {
	.fe = { [NB_FK_REQUEST_RX_COPY] = "1", [NB_FK_RX_NOTIFY] = "1", [NB_FK_SG] = "1",
		[NB_FK_GSO_TCPV4] = "1", [NB_FK_GSO_TCPV6] = "1",
		[NB_FK_IPV6_CSUM_OFFLOAD] = "1" },
	.q = { { [NB_FQ_TX_REF] = "8", [NB_FQ_RX_REF] = "9", [NB_FQ_EVTCHN_TX] = "17",
		 [NB_FQ_EVTCHN_RX] = "18" } },
	.nq = 1,
};

static int parse(const struct fe_case *c, struct nb_fe_cfg *out)
{
	return nb_fe_parse(c->fe, c->q, c->nq, out);
}

static void test_fe_linux_netfront(void **state)
{
	struct nb_fe_cfg cfg;

	assert_int_equal(parse(&linux_netfront, &cfg), 0);
	assert_int_equal(cfg.nqueues, 1);
	assert_true(cfg.feat.sg && cfg.feat.gso_tcpv4 && cfg.feat.gso_tcpv6);
	assert_true(cfg.feat.csum);	 /* no feature-no-csum-offload */
	assert_true(cfg.feat.ipv6_csum);
	assert_true(cfg.feat.rx_notify);
	assert_int_equal(cfg.q[0].tx_ref, 8);
	assert_int_equal(cfg.q[0].rx_ref, 9);
	assert_true(cfg.q[0].split);
	assert_int_equal(cfg.q[0].evtchn_tx, 17);
	assert_int_equal(cfg.q[0].evtchn_rx, 18);
	(void)state;
}

/* qemu's xen_nic-like minimal frontend: one channel, no features. */
static void test_fe_minimal(void **state)
{
	struct fe_case c = { .fe = { [NB_FK_REQUEST_RX_COPY] = "1" },
			     .q = { { [NB_FQ_TX_REF] = "0", [NB_FQ_RX_REF] = "4294967295",
				      [NB_FQ_EVTCHN] = "5" } },
			     .nq = 1 };
	struct nb_fe_cfg cfg;

	assert_int_equal(parse(&c, &cfg), 0);
	assert_false(cfg.feat.sg || cfg.feat.gso_tcpv4 || cfg.feat.ipv6_csum || cfg.feat.rx_notify);
	assert_true(cfg.feat.csum);
	assert_false(cfg.q[0].split);
	assert_int_equal(cfg.q[0].evtchn_tx, 5);
	assert_int_equal(cfg.q[0].evtchn_rx, 5);
	assert_int_equal(cfg.q[0].rx_ref, 4294967295u);
	/* GSO without SG is not offered to the stack */
	c.fe[NB_FK_GSO_TCPV4] = "1";
	assert_int_equal(parse(&c, &cfg), 0);
	assert_false(cfg.feat.gso_tcpv4);
	(void)state;
}

static void test_fe_multi_queue(void **state)
{
	struct fe_case c = linux_netfront;
	struct nb_fe_cfg cfg;

	c.nq = 2;
	c.q[1][NB_FQ_TX_REF] = "10";
	c.q[1][NB_FQ_RX_REF] = "11";
	c.q[1][NB_FQ_EVTCHN] = "19";
	assert_int_equal(parse(&c, &cfg), 0);
	assert_int_equal(cfg.nqueues, 2);
	assert_int_equal(cfg.q[1].tx_ref, 10);
	assert_false(cfg.q[1].split);
	c.q[1][NB_FQ_TX_REF] = NULL;
	assert_int_equal(parse(&c, &cfg), -EINVAL);
	assert_string_equal(err_msg(), "queue-1: frontend key tx-ring-ref missing");
	(void)state;
}

static void test_fe_num_queues(void **state)
{
	static const struct {
		const char *val;
		int rc;
		unsigned n;
	} cases[] = {
		{ NULL, 0, 1 },	    { "1", 0, 1 },	{ "4", 0, 4 },	  { "0", -EINVAL, 0 },
		{ "5", -EINVAL, 0 }, { "01", -EINVAL, 0 }, { "-1", -EINVAL, 0 }, { "", -EINVAL, 0 },
		{ "4294967297", -EINVAL, 0 }, { "1 ", -EINVAL, 0 },
	};

	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		unsigned n = 0;
		int rc = nb_fe_num_queues(cases[i].val, 4, &n);

		if (rc != cases[i].rc)
			fail_msg("'%s': rc %d, expected %d", cases[i].val ? cases[i].val : "(absent)",
				 rc, cases[i].rc);
		if (rc == 0)
			assert_int_equal(n, cases[i].n);
		else
			assert_non_null(strstr(err_msg(), "multi-queue-num-queues"));
	}
	(void)state;
}

/* Each hostile value is refused with the key and the value named. */
static void test_fe_hostile(void **state)
{
	static const struct {
		int fk, fq; /* which key to spoil (-1: none) */
		const char *val, *msg;
		int rc;
	} cases[] = {
		{ NB_FK_REQUEST_RX_COPY, -1, "0", "does not request rx-copy", -EOPNOTSUPP },
		{ NB_FK_REQUEST_RX_COPY, -1, NULL, "does not request rx-copy (absent)", -EOPNOTSUPP },
		{ NB_FK_REQUEST_RX_COPY, -1, "yes", "request-rx-copy: 'yes'", -EINVAL },
		{ NB_FK_SG, -1, "1\n", "feature-sg: '1\\x0a'", -EINVAL },
		{ -1, NB_FQ_TX_REF, "4294967296", "tx-ring-ref: '4294967296'", -EINVAL },
		{ -1, NB_FQ_RX_REF, "0x10", "rx-ring-ref: '0x10'", -EINVAL },
		{ -1, NB_FQ_RX_REF, NULL, "rx-ring-ref missing", -EINVAL },
		{ -1, NB_FQ_EVTCHN_TX, "0", "event-channel-tx: '0': port 0", -EINVAL },
		{ -1, NB_FQ_EVTCHN_RX, "17", "the same port as event-channel-tx", -EINVAL },
		{ -1, NB_FQ_EVTCHN_RX, NULL, "event-channel-rx missing", -EINVAL },
		{ -1, NB_FQ_EVTCHN_TX, "", "event-channel-tx: ''", -EINVAL },
	};

	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct fe_case c = linux_netfront;
		struct nb_fe_cfg cfg;
		int rc;

		if (cases[i].fk >= 0)
			c.fe[cases[i].fk] = cases[i].val;
		else
			c.q[0][cases[i].fq] = cases[i].val;
		memset(&cfg, 0xa5, sizeof(cfg));
		rc = parse(&c, &cfg);
		if (rc != cases[i].rc || !strstr(err_msg(), cases[i].msg))
			fail_msg("case %u: rc %d '%s', expected %d '%s'", i, rc, err_msg(),
				 cases[i].rc, cases[i].msg);
	}
	(void)state;
}

/* ---- virtio_net_hdr mapping ---- */

static void tcp4(uint8_t *p, unsigned len)
{
	memset(p, 0, len);
	p[12] = 0x08;
	p[14] = 0x45;
	p[23] = 6;
	p[34 + 12] = 0x80; /* TCP header of 32 bytes */
}

/* The mark names the vif as vifback writes it, and nothing else is read
 * as one: the sweep removes what a mark names. */
static void test_tap_mark(void **state)
{
	static const char *const not_marks[] = {
		"vifback-05.0", "vifback-5.00", "vifback-5.0x", "vifback-5", "vifback-+5.0",
		"vifback- 5.0", "vifback-5.0 ", "vif5.0", "vifback5.0", "Vifback-5.0",
		"vifback-5.-1", "vifback-4294967296.0", "",
	};
	char mark[VB_TAP_MARK_MAX];
	uint32_t d = 0, n = 0;

	(void)state;
	vb_tap_mark_name(5, 0, mark);
	assert_string_equal(mark, "vifback-5.0");
	assert_true(vb_tap_mark_parse(mark, &d, &n));
	assert_int_equal(d, 5);
	assert_int_equal(n, 0);
	vb_tap_mark_name(32752, 4294967295u, mark);
	assert_true(vb_tap_mark_parse(mark, &d, &n));
	assert_int_equal(d, 32752);
	assert_int_equal(n, 4294967295u);
	for (size_t i = 0; i < sizeof(not_marks) / sizeof(not_marks[0]); i++)
		if (vb_tap_mark_parse(not_marks[i], &d, &n))
			fail_msg("'%s' taken for a mark", not_marks[i]);
}

static void test_hdr_from_pkt(void **state)
{
	uint8_t buf[200];
	struct netif_pkt p = { .data = buf, .len = sizeof(buf), .flags = NETIF_PKT_CSUM_BLANK };
	struct virtio_net_hdr h;

	tcp4(buf, sizeof(buf));
	assert_int_equal(vb_tap_hdr_from_pkt(&p, &h), 0);
	assert_int_equal(h.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
	assert_int_equal(h.csum_start, 34);
	assert_int_equal(h.csum_offset, 16);
	assert_int_equal(h.gso_type, VIRTIO_NET_HDR_GSO_NONE);
	p.gso_type = XEN_NETIF_GSO_TYPE_TCPV4;
	p.gso_size = 1448;
	assert_int_equal(vb_tap_hdr_from_pkt(&p, &h), 0);
	assert_int_equal(h.gso_type, VIRTIO_NET_HDR_GSO_TCPV4);
	assert_int_equal(h.gso_size, 1448);
	assert_int_equal(h.hdr_len, 34 + 32);
	/* a TCPv6 GSO request on an IPv4 packet: netback's checksum_setup fails */
	p.gso_type = XEN_NETIF_GSO_TYPE_TCPV6;
	assert_int_equal(vb_tap_hdr_from_pkt(&p, &h), -EINVAL);
	/* TCP GSO on a UDP packet (whose checksum could be completed): not
	 * TCP, nothing to segment */
	p.gso_type = XEN_NETIF_GSO_TYPE_TCPV4;
	buf[23] = 17;
	assert_int_equal(vb_tap_hdr_from_pkt(&p, &h), -EINVAL);
	buf[23] = 6;
	/* a TCP header shorter than 20 bytes */
	buf[34 + 12] = 0x40;
	assert_int_equal(vb_tap_hdr_from_pkt(&p, &h), -EINVAL);
	buf[34 + 12] = 0x80;
	/* blank checksum on something that is not TCP/UDP */
	p.gso_type = 0;
	buf[23] = 1;
	assert_int_equal(vb_tap_hdr_from_pkt(&p, &h), -EINVAL);
	/* headers cut short */
	buf[23] = 6;
	p.len = 40;
	assert_int_equal(vb_tap_hdr_from_pkt(&p, &h), -EINVAL);
	p.flags = NETIF_PKT_DATA_VALIDATED;
	assert_int_equal(vb_tap_hdr_from_pkt(&p, &h), 0);
	assert_int_equal(h.flags, VIRTIO_NET_HDR_F_DATA_VALID);
	(void)state;
}

static void test_pkt_from_hdr(void **state)
{
	struct virtio_net_hdr h = { .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
				    .gso_type = VIRTIO_NET_HDR_GSO_TCPV6, .gso_size = 1400 };
	struct netif_pkt p;

	assert_int_equal(vb_tap_pkt_from_hdr(&h, &p), 0);
	assert_int_equal(p.flags, NETIF_PKT_CSUM_BLANK);
	assert_int_equal(p.gso_type, XEN_NETIF_GSO_TYPE_TCPV6);
	assert_int_equal(p.gso_size, 1400);
	h.gso_type = VIRTIO_NET_HDR_GSO_UDP;
	assert_int_equal(vb_tap_pkt_from_hdr(&h, &p), -EINVAL);
	h.gso_type = VIRTIO_NET_HDR_GSO_TCPV4 | VIRTIO_NET_HDR_GSO_ECN;
	assert_int_equal(vb_tap_pkt_from_hdr(&h, &p), -EINVAL);
	h.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
	h.gso_size = 0;
	assert_int_equal(vb_tap_pkt_from_hdr(&h, &p), -EINVAL);
	(void)state;
}

/* ---- supervisor <-> worker messages ---- */

static void test_ipc(void **state)
{
	int sv[2], fd = open("/dev/null", O_RDONLY), got[NB_MAX_QUEUES];
	struct vb_msg m, r;
	struct stat a, b;
	unsigned n = NB_MAX_QUEUES;

	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	memset(&m, 0, sizeof(m));
	m.type = VB_MSG_CONNECT;
	m.devid = 3;
	m.cfg.nqueues = 1;
	snprintf(m.text, sizeof(m.text), "hello");
	assert_int_equal(vb_msg_send(sv[0], &m, &fd, 1), 0);
	assert_int_equal(vb_msg_recv(sv[1], &r, got, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(r.devid, 3);
	assert_string_equal(r.text, "hello");
	assert_int_equal(fstat(fd, &a), 0);
	assert_int_equal(fstat(got[0], &b), 0);
	assert_true(a.st_ino == b.st_ino && a.st_dev == b.st_dev);
	close(got[0]);
	/* nothing more: -EAGAIN, never a wait */
	n = NB_MAX_QUEUES;
	assert_int_equal(vb_msg_recv(sv[1], &r, got, &n), -EAGAIN);
	/* a short datagram is malformed; its fds are not leaked */
	assert_int_equal(send(sv[0], "x", 1, 0), 1);
	n = NB_MAX_QUEUES;
	assert_int_equal(vb_msg_recv(sv[1], &r, got, &n), -EPROTO);
	assert_int_equal(n, 0);
	/* an unterminated text is cut, not read past */
	memset(m.text, 'A', sizeof(m.text));
	assert_int_equal(vb_msg_send(sv[0], &m, NULL, 0), 0);
	n = NB_MAX_QUEUES;
	assert_int_equal(vb_msg_recv(sv[1], &r, got, &n), 0);
	assert_int_equal(strlen(r.text), sizeof(r.text) - 1);
	close(sv[0]);
	n = NB_MAX_QUEUES;
	assert_int_equal(vb_msg_recv(sv[1], &r, got, &n), -ECONNRESET);
	close(sv[1]);
	close(fd);
	(void)state;
}

/* ---- the reconnect hold of a frontend that broke the protocol ---- */

/* A queue on rings of its own whose producers the tests set by hand, for
 * nb_spurious_kick. */
struct kick_rings {
	_Alignas(4096) uint8_t tx[NETIF_PAGE_SIZE];
	_Alignas(4096) uint8_t rx[NETIF_PAGE_SIZE];
	struct netif_queue q;
};

static struct netif_queue *kick_rings_init(struct kick_rings *k)
{
	static const struct netif_features feat = { 0 };

	memset(k, 0, sizeof(*k));
	netif_queue_init(&k->q, 7, &feat, k->tx, k->rx, NULL, NULL, NULL);
	return &k->q;
}

/* The guest's producers now tx and rx, and a kick. */
static uint64_t kick(struct nb_spurious *s, struct netif_queue *q, RING_IDX tx, RING_IDX rx,
		     uint64_t now)
{
	q->tx->req_prod = tx;
	q->rx->req_prod = rx;
	return nb_spurious_kick(s, q, now);
}

/* XSA-391: kicks that move no producer are let go 8 in a row, then hold
 * the ports masked 1 ms, doubling to 1 s; a kick with a new request
 * starts over. */
static void test_spurious_kick_backoff(void **state)
{
	static struct kick_rings k;
	struct netif_queue *q = kick_rings_init(&k);
	struct nb_spurious s = { 0 };
	const uint64_t now = 5000000;
	uint64_t want = 1000;

	(void)state;
	assert_int_equal(kick(&s, q, 3, 7, now), 0); /* producers moved */
	assert_int_equal(s.events, 0);
	for (unsigned i = 0; i < NB_SPURIOUS_FREE; i++)
		assert_int_equal(kick(&s, q, 3, 7, now), 0);
	for (unsigned i = 0; i < 12; i++) {
		assert_int_equal(kick(&s, q, 3, 7, now), now + want);
		want = want * 2 > NB_SPURIOUS_MAX_US ? NB_SPURIOUS_MAX_US : want * 2;
	}
	assert_int_equal(s.events, NB_SPURIOUS_FREE + 12);
	for (unsigned i = 0; i < 300; i++) /* the run counter saturates */
		assert_int_equal(kick(&s, q, 3, 7, now), now + NB_SPURIOUS_MAX_US);
	assert_int_equal(kick(&s, q, 3, 8, now), 0); /* a new RX buffer */
	assert_int_equal(kick(&s, q, 3, 8, now), 0);
	assert_int_equal(s.events, NB_SPURIOUS_FREE + 12 + 300 + 1);
}

/* A guest that moves its RX producer one buffer back and forward again
 * with each kick (no buffer it posts is ever new, so every kick would
 * look like news) breaks its ring at the first move back, and a producer
 * further ahead than the ring holds at once: the queue is fatal, the
 * kick not held (the vif goes). Past the furthest seen is news, a ring's
 * worth of times at most until a response of ours. */
static void test_spurious_kick_toggled_producer(void **state)
{
	static struct kick_rings k;
	struct netif_queue *q = kick_rings_init(&k);
	struct nb_spurious s = { 0 };
	const uint64_t now = 5000000;
	uint64_t events;

	(void)state;
	assert_int_equal(kick(&s, q, 3, 8, now), 0); /* producers moved */
	assert_false(netif_queue_is_fatal(q));
	assert_int_equal(kick(&s, q, 3, 7, now), 0);
	assert_true(netif_queue_is_fatal(q));
	assert_non_null(strstr(netif_queue_fatal_reason(q), "rx: request producer 7 moved back"));
	assert_int_equal(kick(&s, q, 3, 8, now), 0); /* a fatal queue: nothing */
	assert_int_equal(s.events, 0);
	/* half the index space ahead, a ring and more ahead: impossible */
	q = kick_rings_init(&k);
	assert_int_equal(kick(&s, q, 3, 8 + 0x80000000u, now), 0);
	assert_non_null(strstr(netif_queue_fatal_reason(q), "rx: impossible request producer"));
	q = kick_rings_init(&k);
	assert_int_equal(kick(&s, q, 3 + NETIF_TX_RING_SIZE + 1, 8, now), 0);
	assert_non_null(strstr(netif_queue_fatal_reason(q), "tx: impossible request producer"));
	/* each buffer posted anew is news, up to a full ring */
	q = kick_rings_init(&k);
	memset(&s, 0, sizeof(s));
	for (RING_IDX p = 1; p <= NETIF_RX_RING_SIZE; p++)
		assert_int_equal(kick(&s, q, 0, p, now), 0);
	assert_int_equal(s.events, 0);
	for (unsigned i = 0; i < NB_SPURIOUS_FREE; i++)
		assert_int_equal(kick(&s, q, 0, NETIF_RX_RING_SIZE, now), 0);
	assert_int_not_equal(kick(&s, q, 0, NETIF_RX_RING_SIZE, now), 0);
	assert_false(netif_queue_is_fatal(q));
	/* once 8 buffers were filled and answered, the guest may post more */
	q->rx_rsp_prod_pvt = q->rx_req_cons = 8;
	events = s.events;
	assert_int_equal(kick(&s, q, 0, NETIF_RX_RING_SIZE + 1, now), 0);
	assert_int_equal(s.events, events);
	kick(&s, q, 0, NETIF_RX_RING_SIZE + 1, now);
	assert_int_equal(s.events, events + 1);
	/* the TX ring: new requests */
	assert_int_equal(kick(&s, q, 1, NETIF_RX_RING_SIZE + 1, now), 0);
	assert_int_equal(s.events, events + 1);
	assert_false(netif_queue_is_fatal(q));
}

static void test_hold_backoff(void **state)
{
	struct nb_hold_cfg c = { .first_ms = 200, .max_ms = 30000, .forgive_ms = 60000 };
	struct nb_hold h;
	const uint64_t want[] = { 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 30000, 30000 };
	uint64_t t = 1000;

	memset(&h, 0, sizeof(h));
	/* never broke anything: never held */
	assert_int_equal(nb_hold_left(&h, t), 0);
	nb_hold_connected(&h, t);
	nb_hold_disconnected(&h, &c, t + 10);
	assert_int_equal(nb_hold_left(&h, t + 10), 0);
	/* each violation soon after the reconnect its hold allowed: doubled,
	 * up to the cap */
	for (unsigned i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		nb_hold_connected(&h, t);
		assert_int_equal(nb_hold_violation(&h, &c, t + 5), want[i]);
		assert_false(h.told);
		assert_int_equal(h.violations, i + 1);
		assert_int_equal(nb_hold_left(&h, t + 5), want[i]);
		assert_int_equal(nb_hold_left(&h, t + 5 + want[i] - 1), 1);
		assert_int_equal(nb_hold_left(&h, t + 5 + want[i]), 0);
		t += 5 + want[i];
	}
	/* a clean restart after the hold: nothing more held, the backoff kept */
	nb_hold_connected(&h, t);
	nb_hold_disconnected(&h, &c, t + 1000);
	assert_int_equal(nb_hold_left(&h, t + 1000), 0);
	assert_int_equal(nb_hold_violation(&h, &c, t + 2000), 30000);
	t += 2000 + 30000;
	/* connected cleanly for forgive_ms, then a violation: the first hold */
	nb_hold_connected(&h, t);
	assert_int_equal(nb_hold_violation(&h, &c, t + 60000), 200);
	t += 60200;
	/* forgiven as well when it closed cleanly after forgive_ms */
	assert_int_equal(nb_hold_violation(&h, &c, t), 400);
	t += 400;
	nb_hold_connected(&h, t);
	nb_hold_disconnected(&h, &c, t + 60000);
	assert_int_equal(nb_hold_violation(&h, &c, t + 70000), 200);
	/* 59.999 s is not enough */
	t += 70200;
	nb_hold_connected(&h, t);
	assert_int_equal(nb_hold_violation(&h, &c, t + 59999), 400);
	(void)state;
}

static void test_hold_cap_not_a_power_of_two(void **state)
{
	struct nb_hold_cfg c = { .first_ms = 3, .max_ms = 10, .forgive_ms = 1 };
	struct nb_hold h;

	memset(&h, 0, sizeof(h));
	assert_int_equal(nb_hold_violation(&h, &c, 1), 3);
	assert_int_equal(nb_hold_violation(&h, &c, 2), 6);
	assert_int_equal(nb_hold_violation(&h, &c, 3), 10);
	assert_int_equal(nb_hold_violation(&h, &c, 4), 10);
	(void)state;
}

static void test_hold_env(void **state)
{
	static const char *const bad[] = { "", "0", "-5", "12x", "3600001", "99999999999999999999" };
	struct nb_hold_cfg c;

	unsetenv("NBT_HOLD_FIRST_MS");
	unsetenv("NBT_HOLD_MAX_MS");
	unsetenv("NBT_HOLD_FORGIVE_MS");
	nb_hold_cfg_default(&c);
	assert_int_equal(nb_hold_cfg_from_env(&c, "NBT"), 0);
	assert_int_equal(c.first_ms, NB_HOLD_FIRST_MS);
	assert_int_equal(c.max_ms, NB_HOLD_MAX_MS);
	assert_int_equal(c.forgive_ms, NB_HOLD_FORGIVE_MS);
	setenv("NBT_HOLD_FIRST_MS", "50", 1);
	setenv("NBT_HOLD_MAX_MS", "400", 1);
	setenv("NBT_HOLD_FORGIVE_MS", "3000", 1);
	assert_int_equal(nb_hold_cfg_from_env(&c, "NBT"), 0);
	assert_int_equal(c.first_ms, 50);
	assert_int_equal(c.max_ms, 400);
	assert_int_equal(c.forgive_ms, 3000);
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		setenv("NBT_HOLD_MAX_MS", bad[i], 1);
		assert_int_equal(nb_hold_cfg_from_env(&c, "NBT"), -EINVAL);
		assert_non_null(strstr(err_msg(), "NBT_HOLD_MAX_MS"));
		assert_int_equal(c.max_ms, 400); /* unchanged */
	}
	/* a first hold above the cap */
	setenv("NBT_HOLD_MAX_MS", "40", 1);
	assert_int_equal(nb_hold_cfg_from_env(&c, "NBT"), -EINVAL);
	assert_non_null(strstr(err_msg(), "above"));
	unsetenv("NBT_HOLD_FIRST_MS");
	unsetenv("NBT_HOLD_MAX_MS");
	unsetenv("NBT_HOLD_FORGIVE_MS");
	(void)state;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fe_linux_netfront),
		cmocka_unit_test(test_fe_minimal),
		cmocka_unit_test(test_fe_multi_queue),
		cmocka_unit_test(test_fe_num_queues),
		cmocka_unit_test(test_fe_hostile),
		cmocka_unit_test(test_tap_mark),
		cmocka_unit_test(test_hdr_from_pkt),
		cmocka_unit_test(test_pkt_from_hdr),
		cmocka_unit_test(test_ipc),
		cmocka_unit_test(test_spurious_kick_backoff),
		cmocka_unit_test(test_spurious_kick_toggled_producer),
		cmocka_unit_test(test_hold_backoff),
		cmocka_unit_test(test_hold_cap_not_a_power_of_two),
		cmocka_unit_test(test_hold_env),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
