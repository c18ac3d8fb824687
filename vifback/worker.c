/* worker: the data path of one guest domain's vifs, in a process of its
 * own (cloned by the spawner as the supervisor's child, seccomp-confined
 * once its hypervisor handles are open).
 *
 * It maps the rings the supervisor names in a CONNECT message, binds their
 * event channels and moves packets: TX ring -> TAP (netif_tx_burst, then a
 * writev of virtio_net_hdr + packet), TAP -> RX ring (reads into a
 * backlog of one burst, netif_rx_burst into the guest's buffers).
 *
 * Bounded everywhere: a wake-up runs at most VB_BURSTS_PER_WAKE TX bursts
 * and as many RX bursts per queue before polling again; a port that fired stays masked until its
 * queue has been served (XSA-332: an event storm costs one pass per
 * unmask), and longer while its kicks bring nothing new (XSA-391, see
 * nb_spurious_kick); the RX backlog is one burst per queue and the TAP is not read
 * while it is full (the kernel's queue drops, as XSA-392 wants); a backlog
 * the guest does not drain for the drain timeout is dropped. A queue whose
 * next packet cannot fit in the buffers the guest posted for the stall
 * timeout is stalled, as netback's (XSA-392): the TAP's carrier goes off,
 * so the bridge stops forwarding to a guest that takes nothing, and comes
 * back on when that guest posts buffers again. A queue whose
 * frontend breaks the protocol is torn down here and reported (FATAL); the
 * other vifs carry on. */
#include "vifback/worker.h"

#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include "lib/batchio.h"
#include "lib/env_ms.h"
#include "lib/err.h"
#include "lib/log.h"
#include "netback/rings.h"
#include "netback/spin.h"
#include "vif/vifstats.h"
#include "vifback/seccomp.h"
#include "vifback/tap.h"

#define VB_MAX_VIFS 64
#define VB_BURSTS_PER_WAKE 4
#define VB_READS_MIN 4u
_Static_assert(NETIF_BURST <= 32, "the RX backlog's buffers in a 32-bit mask");
#define VB_PKT_BUF (sizeof(struct virtio_net_hdr) + NETIF_MAX_PKT + 1)
#define VB_RX_DRAIN_MS 10000u /* netback's rx_drain_timeout_msecs */
#define VB_RX_STALL_MS 60000u /* netback's rx_stall_timeout_msecs */
#define VB_RX_POLL_US 30000ull /* no feature-rx-notify: look every 30 ms */
/* the counter file is rewritten at most this often while they move */
#define VB_STATS_PERIOD_US 1000000ull
/* idle this long: the pages packets went through go back to the kernel */
#define VB_TRIM_US 500000ull

/* After a pass that moved packets, the worker looks at its rings and
 * TAPs again for NB_SPIN_US before it arms the event channels and sleeps
 * (netback/spin.h, netback's NAPI): a sleep and a wake-up cost more CPU
 * than a few looks on a virtual machine. Each look first yields the CPU,
 * so the guest or the TCP peer that shares it with us fills the ring
 * meanwhile rather than wait for our sleep. bench/vifback, one TCP
 * stream: 2-30x fewer sleeps, netfront + worker CPU per 64 KiB down
 * 5-30 % (docs/xen.md); without the yield the look took the CPU the
 * other side needed, and cost more than the sleeps it saved. */

/* Set once by vb_worker_timeouts_from_env() in the supervisor, before any
 * worker is cloned. */
static uint64_t rx_drain_us = VB_RX_DRAIN_MS * 1000ull;
static uint64_t rx_stall_us = VB_RX_STALL_MS * 1000ull;
static uint64_t spin_us = NB_SPIN_US;

struct wq {
	struct netif_queue *nq; /* &nqs: the ring state, a few hundred bytes */
	struct netif_queue nqs;
	struct nb_rings r;
	int tap;
	bool kicked_tx, kicked_rx; /* fired, masked until served */
	/* spurious events (netback/rings.h, XSA-391), and when the ports
	 * held masked for them are unmasked (0: none is) */
	struct nb_spurious sp;
	bool held_tx, held_rx;
	uint64_t unmask_at;
	bool tx_more;
	/* the window closed with the buffers the backlog waits for already
	 * posted (netif_rx_arm): no kick will say so, look without sleeping */
	bool rx_retry;
	/* reads to ask the TAP for next (0: a burst's worth): twice what
	 * the last drained batch found, at least VB_READS_MIN; a paced TCP
	 * sender queues a frame or two per wake-up, and each read asked
	 * for costs even when it finds nothing */
	uint8_t rd_want;
	bool rd_found; /* the last batch found frames: worth a read unasked */
	uint64_t tx_wait_until; /* credit */
	/* RX backlog: packets read from the TAP the guest has no room for yet,
	 * in order, each in the one of the NETIF_BURST buffers of bl_buf it
	 * was read into: what the guest took gives its buffers back, the
	 * rest stays where it is (a 64 KiB packet is never moved to keep
	 * the backlog in order) */
	uint8_t *bl_buf;
	struct netif_pkt bl[NETIF_BURST];
	unsigned bl_n;
	uint64_t bl_since;
	/* since when the next packet cannot fit (0: it can, or none waits) */
	uint64_t rx_blocked_since;
	bool stalled;
	/* what the worker counts itself (the ring's are in nq->stats) */
	uint64_t rx_pkts, rx_bytes, rx_drop_header, rx_drop_tap;
	uint64_t tx_drop_header, tx_drop_no_buffers, tx_stalls;
};

struct wvif {
	uint32_t devid;
	unsigned nq;
	unsigned stalled; /* queues stalled: the carrier is off while > 0 */
	/* the counter file (-1: none): base is what it said at connect,
	 * shown what we last wrote there */
	int stats_fd;
	struct vif_stats base, shown;
	uint64_t stats_due;
	bool stats_moving; /* served since the last look: look again */
	bool stats_failed; /* a write failed: logged once */
	struct wq q[]; /* nq of them: an idle vif's heap is what it uses */
};

/* which queue a pollfd is for: looked up again after on_message(), which
 * may have freed it */
struct wpoll {
	unsigned slot, qi;
	uint32_t devid;
};

/* What one burst passes to and from the TAP, in the spare half of the
 * ring's first page. */
struct wburst {
	struct iovec iov[NETIF_BURST * 2];
	struct netif_pkt pkts[NETIF_BURST];
	struct virtio_net_hdr hdrs[NETIF_BURST];
	int res[NETIF_BURST];
};

struct worker {
	struct hv *hv;
	int sock;
	uint16_t domid;
	struct wvif *vifs[VB_MAX_VIFS];
	struct netif_tx_arena arena;
	struct netif_scratch *scratch; /* every queue's, one burst at a time */
	/* a burst's TAP writes and reads (batchio): one io_uring call for a
	 * burst, not one per frame (a TAP takes or gives a frame per call;
	 * on this project's test VM a TAP writev costs 5.75 us, a batch
	 * through io_uring 0.98 us a frame). The ring is made before the
	 * worker confines itself (a confined worker may not make one: it
	 * would act past the filter; nor can one be lent, Linux refuses
	 * io_uring descriptors in SCM_RIGHTS) and lives in ringmem, two
	 * pages of which it uses half each, the burst's arrays the other
	 * half of the first: both pages are pinned, so the ring costs an
	 * idle vif ~6 KiB (bench/vifback, 100 idle vifs: 56.4 -> 61.8 KiB
	 * PSS per vif). Without a ring in user memory (before Linux 6.6):
	 * a call per frame. */
	struct batchio bio;
	uint8_t *ringmem;
	struct wburst *b;
	/* poll set, sized to the queues there are (the socket and the event
	 * channel fd first): for the maxima, 514 entries, the loop's frame
	 * would span pages of stack an idle worker never needs */
	struct pollfd *pfd;
	struct wpoll *pq;
	unsigned npoll_cap;
	/* the data path moved something this pass (or a message or a
	 * counter-file write took the stack deep); when it last did; its
	 * buffers' pages given back since */
	bool busy;
	uint64_t busy_at;
	bool trimmed;
	/* the lowest byte of the stack this runs on (NULL: not known) */
	uint8_t *stack_lo;
	/* packets moved this pass; the window in which the worker polls
	 * (netback/spin.h), its queues' tx_polling set meanwhile */
	bool moved;
	struct nb_spin spin;
};

_Static_assert(sizeof(struct wburst) <= BATCHIO_MEM_SPARE, "a burst's arrays outgrow the ring page");

static void reply(struct worker *w, uint32_t type, uint32_t devid, int rc, const char *text)
{
	struct vb_msg m;

	memset(&m, 0, sizeof(m));
	m.type = type;
	m.devid = devid;
	m.rc = rc;
	snprintf(m.text, sizeof(m.text), "%s", text ? text : "");
	if (vb_msg_send(w->sock, &m, NULL, 0) < 0)
		log_err("worker d%u: %s", w->domid, err_msg());
}

/* Large buffers are mapped, not malloc'ed or calloc'ed, so the pages an
 * idle or small-packet queue never reaches are never backed: calloc would
 * zero, and so dirty, all of the grant-copy segments of a burst of the
 * largest packets (~20 KiB, the worker's netif_scratch, shared by its
 * queues: a queue's own ring state lives in its vif's heap block), and
 * malloc writes a chunk header into the first page of every 2 MiB buffer
 * (the TX arena, each queue's RX backlog), a dirty page each for nothing. */
static void *map_lazy(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

static void queue_free(struct worker *w, struct wq *q)
{
	nb_rings_disconnect(&q->r, w->hv);
	if (q->tap >= 0)
		close(q->tap);
	if (q->bl_buf)
		munmap(q->bl_buf, NETIF_BURST * VB_PKT_BUF);
	memset(q, 0, sizeof(*q));
	q->tap = -1;
	q->nq = &q->nqs;
}

static void vif_free(struct worker *w, unsigned slot)
{
	struct wvif *v = w->vifs[slot];

	if (!v)
		return;
	for (unsigned i = 0; i < v->nq; i++)
		queue_free(w, &v->q[i]);
	if (v->stats_fd >= 0)
		close(v->stats_fd);
	free(v);
	w->vifs[slot] = NULL;
}

/* Room in the poll set for `more` queues besides those connected. */
static int poll_reserve(struct worker *w, unsigned more)
{
	unsigned need = 2 + more;
	struct pollfd *pfd;
	struct wpoll *pq;

	for (unsigned s = 0; s < VB_MAX_VIFS; s++)
		if (w->vifs[s])
			need += w->vifs[s]->nq;
	if (need <= w->npoll_cap)
		return 0;
	pfd = realloc(w->pfd, need * sizeof(*pfd));
	if (!pfd)
		return err_set(-ENOMEM, "out of memory");
	w->pfd = pfd;
	pq = realloc(w->pq, need * sizeof(*pq));
	if (!pq)
		return err_set(-ENOMEM, "out of memory");
	w->pq = pq;
	w->npoll_cap = need;
	return 0;
}

static int vif_slot(struct worker *w, uint32_t devid)
{
	for (unsigned i = 0; i < VB_MAX_VIFS; i++)
		if (w->vifs[i] && w->vifs[i]->devid == devid)
			return (int)i;
	return -1;
}

static int queue_setup(struct worker *w, struct wq *q, const struct nb_fe_cfg *cfg,
		       const struct nb_queue_cfg *qc)
{
	int rc;

	q->bl_buf = map_lazy(NETIF_BURST * VB_PKT_BUF);
	if (!q->bl_buf)
		return err_set(-ENOMEM, "out of memory");
	rc = nb_rings_connect(&q->r, w->hv, w->domid, qc, &cfg->feat, q->nq, w->scratch);
	if (rc < 0)
		return rc;
	/* look once anyway: requests may predate the binding */
	q->tx_more = true;
	return 0;
}

static void on_connect(struct worker *w, const struct vb_msg *m, int *fds, unsigned nfds)
{
	struct wvif *v = NULL;
	int slot = -1, rc;

	/* the TAP's queues, and the counter file if one is kept */
	if (vif_slot(w, m->devid) >= 0 || m->cfg.nqueues < 1 || m->cfg.nqueues > VB_MAX_QUEUES ||
	    (nfds != m->cfg.nqueues && nfds != m->cfg.nqueues + 1)) {
		for (unsigned i = 0; i < nfds; i++)
			close(fds[i]);
		reply(w, VB_MSG_RESULT, m->devid, -EINVAL, "bad connect request");
		return;
	}
	for (unsigned i = 0; i < VB_MAX_VIFS && slot < 0; i++)
		if (!w->vifs[i])
			slot = (int)i;
	if (slot < 0 || poll_reserve(w, m->cfg.nqueues) < 0 ||
	    !(v = calloc(1, sizeof(*v) + m->cfg.nqueues * sizeof(v->q[0])))) {
		for (unsigned i = 0; i < nfds; i++)
			close(fds[i]);
		reply(w, VB_MSG_RESULT, m->devid, slot < 0 ? -ENOSPC : -ENOMEM,
		      slot < 0 ? "no room for another vif" : "out of memory");
		return;
	}
	v->devid = m->devid;
	v->nq = m->cfg.nqueues;
	for (unsigned i = 0; i < v->nq; i++) {
		v->q[i].tap = fds[i];
		v->q[i].nq = &v->q[i].nqs;
	}
	v->stats_fd = nfds > v->nq ? fds[v->nq] : -1;
	/* counters carry on from where the TAP's earlier connections left them */
	if (v->stats_fd >= 0 && vif_stats_read_fd(v->stats_fd, &v->base) < 0) {
		log_warn("worker d%u: vif %u: counters start over: %s", w->domid, v->devid,
			 err_msg());
		memset(&v->base, 0, sizeof(v->base));
	}
	v->shown = v->base;
	w->vifs[slot] = v;
	for (unsigned i = 0; i < v->nq; i++) {
		rc = queue_setup(w, &v->q[i], &m->cfg, &m->cfg.q[i]);
		if (rc < 0) {
			char msg[sizeof(m->text)];

			snprintf(msg, sizeof(msg), "%s", err_msg());
			vif_free(w, (unsigned)slot);
			reply(w, VB_MSG_RESULT, m->devid, rc, msg);
			return;
		}
	}
	if (m->rate_bytes)
		for (unsigned i = 0; i < v->nq; i++)
			netif_credit_set(&v->q[i].nq->credit, m->rate_bytes, m->rate_usecs, nb_now_us());
	/* a persistent TAP may keep the carrier an earlier worker turned off
	 * for a stalled guest: a new connection starts with the carrier on */
	if (vb_tap_set_carrier(v->q[0].tap, true) < 0) {
		char name[IFNAMSIZ];

		/* the vif still works; only a stall would go unseen by the bridge */
		vb_tap_name(v->q[0].tap, name);
		log_warn("%s: %s", name, err_msg());
	}
	reply(w, VB_MSG_RESULT, m->devid, 0, "");
}

/* The vif's counters: the file's at connect plus every queue's since. */
static void vif_sum(const struct wvif *v, struct vif_stats *t)
{
	*t = v->base;
	for (unsigned i = 0; i < v->nq; i++) {
		const struct wq *q = &v->q[i];
		const struct netif_stats *s = &q->nq->stats;

		t->v[VIF_ST_RX_PACKETS] += q->rx_pkts;
		t->v[VIF_ST_RX_BYTES] += q->rx_bytes;
		t->v[VIF_ST_TX_PACKETS] += s->rx_pkts;
		t->v[VIF_ST_TX_BYTES] += s->rx_bytes;
		t->v[VIF_ST_RX_DROP_MALFORMED] += s->tx_dropped;
		t->v[VIF_ST_RX_DROP_GRANT] += s->tx_errors;
		t->v[VIF_ST_RX_DROP_HEADER] += q->rx_drop_header;
		t->v[VIF_ST_RX_DROP_TAP] += q->rx_drop_tap;
		t->v[VIF_ST_TX_DROP_UNFIT] += s->rx_dropped;
		t->v[VIF_ST_TX_DROP_GRANT] += s->rx_errors;
		t->v[VIF_ST_TX_DROP_HEADER] += q->tx_drop_header;
		t->v[VIF_ST_TX_DROP_NO_BUFFERS] += q->tx_drop_no_buffers;
		t->v[VIF_ST_TX_RING_FULL] += s->rx_full;
		t->v[VIF_ST_TX_STALLS] += q->tx_stalls;
		t->v[VIF_ST_EVENTS] += s->notifies;
		t->v[VIF_ST_SPURIOUS_EVENTS] += q->sp.events;
	}
}

/* Rewrites the vif's counter file when its counters changed, at most once
 * per VB_STATS_PERIOD_US unless forced (the vif goes). */
static void stats_flush(struct worker *w, struct wvif *v, uint64_t now, bool force)
{
	struct vif_stats t;

	if (v->stats_fd < 0 || (!force && now < v->stats_due))
		return;
	vif_sum(v, &t);
	v->stats_due = now + VB_STATS_PERIOD_US;
	v->stats_moving = memcmp(&t, &v->shown, sizeof(t)) != 0;
	if (!v->stats_moving)
		return;
	/* printf's frames: the stack is trimmed again after this, the
	 * counters' last write, which comes after the traffic's trim */
	w->busy = true;
	if (vif_stats_write_fd(v->stats_fd, &t) < 0) {
		if (!v->stats_failed)
			log_warn("worker d%u: vif %u: counters: %s", w->domid, v->devid, err_msg());
		v->stats_failed = true;
		return;
	}
	v->shown = t;
}

/* The vif's counters for the supervisor's log. */
static void vif_stats_text(const struct wvif *v, char *buf, size_t len)
{
	struct vif_stats t;
	uint64_t rx_drops = 0, tx_drops = 0;

	vif_sum(v, &t);
	for (unsigned i = VIF_ST_RX_DROP_MALFORMED; i <= VIF_ST_RX_DROP_TAP; i++)
		rx_drops += t.v[i];
	for (unsigned i = VIF_ST_TX_DROP_UNFIT; i <= VIF_ST_TX_DROP_NO_BUFFERS; i++)
		tx_drops += t.v[i];
	snprintf(buf, len,
		 "from guest %llu packets %llu bytes (%llu dropped), "
		 "to guest %llu packets %llu bytes (%llu dropped)",
		 (unsigned long long)t.v[VIF_ST_RX_PACKETS], (unsigned long long)t.v[VIF_ST_RX_BYTES],
		 (unsigned long long)rx_drops, (unsigned long long)t.v[VIF_ST_TX_PACKETS],
		 (unsigned long long)t.v[VIF_ST_TX_BYTES], (unsigned long long)tx_drops);
}

static void on_message(struct worker *w, bool *quit)
{
	struct vb_msg m;
	int fds[VB_MAX_FDS], slot;
	unsigned nfds = VB_MAX_FDS;
	int rc = vb_msg_recv(w->sock, &m, fds, &nfds);

	if (rc == -EAGAIN)
		return;
	if (rc < 0) {
		*quit = true; /* the supervisor is gone: so are we */
		return;
	}
	switch (m.type) {
	case VB_MSG_CONNECT:
		on_connect(w, &m, fds, nfds);
		return;
	case VB_MSG_DISCONNECT: {
		char stats[sizeof(m.text)] = "";

		slot = vif_slot(w, m.devid);
		if (slot >= 0) {
			stats_flush(w, w->vifs[slot], nb_now_us(), true);
			vif_stats_text(w->vifs[slot], stats, sizeof(stats));
			vif_free(w, (unsigned)slot);
		}
		reply(w, VB_MSG_RESULT, m.devid, slot >= 0 ? 0 : -ENOENT, stats);
		break;
	}
	case VB_MSG_RATE:
		slot = vif_slot(w, m.devid);
		for (unsigned i = 0; slot >= 0 && i < w->vifs[slot]->nq; i++) {
			struct wq *q = &w->vifs[slot]->q[i];

			netif_credit_set(&q->nq->credit, m.rate_bytes, m.rate_usecs, nb_now_us());
			/* a packet held for the old rate is looked at again now */
			q->tx_wait_until = 0;
			q->tx_more = true;
		}
		break;
	default:
		break;
	}
	for (unsigned i = 0; i < nfds; i++)
		close(fds[i]);
}

/* A TX burst's n packets to the TAP, with one system call. */
static void tx_write(struct worker *w, struct wq *q, unsigned n)
{
	struct wburst *b = w->b;
	unsigned m = 0;

	for (unsigned i = 0; i < n; i++) {
		if (vb_tap_hdr_from_pkt(&b->pkts[i], &b->hdrs[m]) < 0) {
			q->rx_drop_header++;
			continue;
		}
		b->iov[2 * m] = (struct iovec){ &b->hdrs[m], sizeof(b->hdrs[m]) };
		b->iov[2 * m + 1] = (struct iovec){ b->pkts[i].data, b->pkts[i].len };
		m++;
	}
	if (!m)
		return;
	batchio_writev(&w->bio, q->tap, b->iov, 2, m, b->res);
	for (unsigned i = 0; i < m; i++) {
		if (b->res[i] < 0) {
			q->rx_drop_tap++;
			continue;
		}
		q->rx_pkts++;
		q->rx_bytes += b->iov[2 * i + 1].iov_len;
	}
}

/* TX: ring -> TAP. *wrote: packets went to the TAP. */
static void tx_work(struct worker *w, struct wq *q, bool *notify, bool *wrote)
{
	uint64_t now = nb_now_us();

	if (q->tx_wait_until && now < q->tx_wait_until)
		return;
	q->tx_wait_until = 0;
	for (unsigned b = 0; b < VB_BURSTS_PER_WAKE; b++) {
		unsigned n = 0;
		bool more = false;
		uint64_t wait = 0;
		/* the guest told as soon as the burst is copied out: it
		 * refills its ring while we write to the TAP */
		int rc = nb_rings_tx_burst(&q->r, w->hv, q->nq, &w->arena, now, w->b->pkts,
					   NETIF_BURST, &n, &more, notify, &wait);

		tx_write(w, q, n);
		*wrote |= n > 0;
		w->moved |= n > 0;
		q->tx_more = more;
		if (wait)
			q->tx_wait_until = now + wait;
		if (rc < 0 || !more)
			return;
	}
}

static void vif_carrier(struct worker *w, struct wvif *v, unsigned qi, bool on)
{
	char name[IFNAMSIZ];
	struct wq *q = &v->q[qi];

	vb_tap_name(q->tap, name);
	if (vb_tap_set_carrier(q->tap, on) < 0) {
		log_err("%s: %s", name, err_msg());
		return;
	}
	if (on)
		log_info("%s: queue %u: the guest posts receive buffers again: carrier on", name, qi);
	else
		log_warn("%s: queue %u: no receive buffer for the next packet for %llu ms: "
			 "carrier off (d%u)",
			 name, qi, (unsigned long long)(rx_stall_us / 1000), w->domid);
}

/* netback's xenvif_rx_queue_stalled/ready, judged on the packet that
 * waits (a 64 KiB GSO packet needs 17 buffers, not one): stalled when it
 * has not fit for rx_stall_us; ready again when it fits, or, with nothing
 * waiting (the backlog was drained), when any buffer is posted. The
 * carrier is the vif's: off with its first stalled queue, on with the
 * last one back. */
static void rx_check_stall(struct worker *w, struct wvif *v, struct wq *q)
{
	unsigned avail = 0, need = 1;
	uint64_t now;

	if (netif_rx_slots_avail(q->nq, &avail) < 0)
		return; /* fatal: the vif goes */
	if (q->bl_n && netif_rx_slots_needed(q->nq, &q->bl[0]) > need)
		need = netif_rx_slots_needed(q->nq, &q->bl[0]);
	if (avail >= need) {
		q->rx_blocked_since = 0;
		if (q->stalled) {
			q->stalled = false;
			if (--v->stalled == 0)
				vif_carrier(w, v, (unsigned)(q - v->q), true);
		}
		return;
	}
	if (!q->bl_n || q->stalled)
		return;
	now = nb_now_us();
	if (!q->rx_blocked_since)
		q->rx_blocked_since = now;
	else if (now - q->rx_blocked_since >= rx_stall_us) {
		q->stalled = true;
		q->tx_stalls++;
		if (v->stalled++ == 0)
			vif_carrier(w, v, (unsigned)(q - v->q), false);
	}
}

/* RX: TAP -> backlog -> ring. */
static void rx_work(struct worker *w, struct wvif *v, struct wq *q, bool tap_readable,
		    bool *notify, bool *more)
{
	unsigned done = 0;
	bool ntf = false, drained = false;

	/* a batch of reads per system call, into the backlog's free buffers;
	 * what they found is kept in order, at the front */
	while (tap_readable && q->bl_n < NETIF_BURST) {
		unsigned want = NETIF_BURST - q->bl_n, found = 0, b = 0;
		void *bufs[NETIF_BURST];
		uint32_t used = 0;

		if (q->rd_want && want > q->rd_want)
			want = q->rd_want;
		/* the free buffers: those no backlog entry lies in */
		for (unsigned i = 0; i < q->bl_n; i++)
			used |= 1u << (((uint8_t *)q->bl[i].data - q->bl_buf) / VB_PKT_BUF);
		for (unsigned i = 0; i < want; i++, b++) {
			while (used & (1u << b))
				b++;
			bufs[i] = q->bl_buf + (size_t)b * VB_PKT_BUF;
		}
		batchio_read(&w->bio, q->tap, bufs, VB_PKT_BUF, want, w->b->res);
		for (unsigned i = 0; i < want; i++) {
			uint8_t *buf = bufs[i];
			struct netif_pkt *p = &q->bl[q->bl_n];
			int n = w->b->res[i];

			if (n < 0)
				continue;
			found++;
			if ((size_t)n <= sizeof(struct virtio_net_hdr) + NETIF_ETH_HLEN ||
			    (size_t)n > sizeof(struct virtio_net_hdr) + NETIF_MAX_PKT) {
				q->tx_drop_header++;
				continue;
			}
			p->data = buf + sizeof(struct virtio_net_hdr);
			p->len = (uint32_t)((size_t)n - sizeof(struct virtio_net_hdr));
			if (vb_tap_pkt_from_hdr((const struct virtio_net_hdr *)buf, p) < 0) {
				q->tx_drop_header++;
				continue;
			}
			if (q->bl_n++ == 0)
				q->bl_since = nb_now_us();
		}
		q->rd_found = found > 0;
		if (w->b->res[want - 1] < 0) {
			q->rd_want = (uint8_t)(2 * found < VB_READS_MIN ? VB_READS_MIN : 2 * found);
			drained = true;
			break;
		}
		q->rd_want = 0;
	}
	/* the TAP may hold more, and the guest took all we read */
	*more = tap_readable && !drained;
	if (!q->bl_n) {
		if (q->stalled)
			rx_check_stall(w, v, q);
		return;
	}
	if (netif_rx_burst(q->nq, q->bl, q->bl_n, &done, &ntf) < 0 && netif_queue_is_fatal(q->nq))
		return;
	*notify |= ntf;
	*more &= done && done == q->bl_n;
	w->moved |= done > 0;
	if (done) {
		/* keep the rest in order; their data stays where it is */
		memmove(q->bl, q->bl + done, (q->bl_n - done) * sizeof(q->bl[0]));
		q->bl_n -= done;
		q->bl_since = nb_now_us();
	}
	/* before the drain below: its clock runs on with nothing waiting */
	rx_check_stall(w, v, q);
	if (!done && q->bl_n && nb_now_us() - q->bl_since > rx_drain_us) {
		/* the guest stopped taking packets: drop, never hoard */
		q->tx_drop_no_buffers += q->bl_n;
		q->bl_n = 0;
	}
}

/* poll()'s timeout until `at` (microseconds): milliseconds rounded up, 0
 * once it is past. */
static int ms_until(uint64_t at, uint64_t now)
{
	return at > now ? (int)((at - now) / 1000 + 1) : 0;
}

/* The sooner of two poll() timeouts, -1 meaning none. */
static int sooner(int a, int b)
{
	return a < 0 || (b >= 0 && b < a) ? b : a;
}

/* Milliseconds until this queue's RX needs a look without an event, or
 * -1: the drain and stall deadlines, and polling when the frontend does
 * not kick us for new buffers. */
static int rx_timeout_ms(const struct wq *q, uint64_t now)
{
	uint64_t at = UINT64_MAX;

	if (!q->bl_n && !q->stalled)
		return -1;
	if (!q->nq->feat.rx_notify)
		return (int)(VB_RX_POLL_US / 1000);
	if (q->bl_n)
		at = q->bl_since + rx_drain_us;
	if (q->bl_n && q->rx_blocked_since && !q->stalled &&
	    q->rx_blocked_since + rx_stall_us < at)
		at = q->rx_blocked_since + rx_stall_us;
	if (at == UINT64_MAX)
		return -1; /* stalled, nothing waiting: the guest kicks when it posts */
	return ms_until(at, now);
}

static void report_fatal(struct worker *w, unsigned slot)
{
	struct wvif *v = w->vifs[slot];

	for (unsigned i = 0; i < v->nq; i++)
		if (netif_queue_is_fatal(v->q[i].nq)) {
			char msg[200];

			snprintf(msg, sizeof(msg), "queue %u: %s", i,
				 netif_queue_fatal_reason(v->q[i].nq));
			reply(w, VB_MSG_FATAL, v->devid, -EPROTO, msg);
			break;
		}
	stats_flush(w, v, nb_now_us(), true);
	vif_free(w, slot);
}

static struct wq *find_port(struct worker *w, uint32_t port, bool *is_rx)
{
	for (unsigned s = 0; s < VB_MAX_VIFS; s++) {
		struct wvif *v = w->vifs[s];

		for (unsigned i = 0; v && i < v->nq; i++) {
			if (v->q[i].r.port_tx == port) {
				*is_rx = false;
				return &v->q[i];
			}
			if (v->q[i].r.port_rx == port) {
				*is_rx = true;
				return &v->q[i];
			}
		}
	}
	return NULL;
}

/* At most 4096 events a pass (a storming guest); true when it stopped
 * there: the hypervisor layer may hold ports it already took from its fd
 * (hv_sim takes a batch), which no poll would show, so look again before
 * sleeping. */
static bool drain_events(struct worker *w)
{
	uint32_t port;

	for (unsigned n = 0; n < 4096; n++) {
		bool is_rx;
		struct wq *q;

		if (hv_evtchn_pending(w->hv, &port) < 0)
			return false;
		q = find_port(w, port, &is_rx);
		if (!q)
			continue;
		if (is_rx)
			q->kicked_rx = true;
		else
			q->kicked_tx = true;
	}
	return true;
}

/* An address a little below the caller's stack pointer: this call's
 * frame (not a local's address, which ASan may keep on a heap "fake
 * stack", and which clang refuses to return) */
static __attribute__((noinline)) uintptr_t stack_here(void)
{
	return (uintptr_t)__builtin_frame_address(0);
}

/* An idle worker gives back the pages its last packets went through (the
 * TX arena, the grant-copy scratch, empty RX backlogs): a vif that once
 * carried a burst of 64 KiB packets would otherwise keep megabytes it
 * no longer uses. Their next use faults fresh zero pages in. So do the
 * stack's pages below the main loop's: what went deeper (opening the
 * hypervisor's handles, a connect, printf's frames in a log line or a
 * counter file, about 5 KiB) is over; the loop itself fits in the top
 * page. (Half a KiB below this frame stays: the call to madvise.) */
static void trim(struct worker *w)
{
	if (w->stack_lo) {
		uintptr_t pg = (uintptr_t)getpagesize();
		uintptr_t lo = (uintptr_t)w->stack_lo, hi = (stack_here() - 512) & ~(pg - 1);

		if (hi > lo)
			madvise(w->stack_lo, hi - lo, MADV_DONTNEED);
	}
	madvise(w->arena.buf, w->arena.cap, MADV_DONTNEED);
	madvise(w->scratch, sizeof(*w->scratch), MADV_DONTNEED);
	for (unsigned s = 0; s < VB_MAX_VIFS; s++) {
		struct wvif *v = w->vifs[s];

		for (unsigned i = 0; v && i < v->nq; i++)
			if (v->q[i].bl_buf && !v->q[i].bl_n)
				madvise(v->q[i].bl_buf, NETIF_BURST * VB_PKT_BUF, MADV_DONTNEED);
	}
	w->trimmed = true;
}

static void unhold(struct worker *w, struct wq *q)
{
	if (q->held_tx)
		hv_evtchn_unmask(w->hv, q->r.port_tx);
	if (q->held_rx)
		hv_evtchn_unmask(w->hv, q->r.port_rx);
	q->held_tx = q->held_rx = false;
	q->unmask_at = 0;
}

/* The ports that fired, served: unmasked, or held masked a while when
 * the kicks were spurious (nb_spurious_kick). */
static void rearm(struct worker *w, struct wq *q)
{
	q->held_tx |= q->kicked_tx;
	q->held_rx |= q->kicked_rx;
	q->kicked_tx = q->kicked_rx = false;
	q->unmask_at = nb_spurious_kick(&q->sp, q->nq, nb_now_us());
	if (!q->unmask_at)
		unhold(w, q);
}

static void serve(struct worker *w, struct wvif *v, struct wq *q, bool tap_readable)
{
	bool notify_tx = false, notify_rx = false, wrote = false;

	if (q->unmask_at && nb_now_us() >= q->unmask_at)
		unhold(w, q);
	q->rx_retry = false;
	if (q->kicked_tx || q->kicked_rx || q->tx_more || tap_readable || q->bl_n) {
		v->stats_moving = true;
		w->busy = true;
	}
	if (q->kicked_tx || q->tx_more || q->tx_wait_until)
		tx_work(w, q, &notify_tx, &wrote);
	/* What TX wrote went through Dom0's stack within the write, and
	 * its answers (a TCP receiver's ACKs) may wait in the TAP already:
	 * read now, with this pass's event, not after a poll that would
	 * only say so; only while the TAP has had frames for the guest
	 * (not under a one-way flood out of it). */
	tap_readable |= wrote && q->rd_found;
	/* as TX: up to VB_BURSTS_PER_WAKE bursts while each was a full one
	 * the guest took whole, one event for them all */
	for (unsigned b = 0; b < VB_BURSTS_PER_WAKE && !netif_queue_is_fatal(q->nq); b++) {
		bool more = false;

		rx_work(w, v, q, tap_readable, &notify_rx, &more);
		if (!more)
			break;
	}
	if (netif_queue_is_fatal(q->nq))
		return;
	/* one event per pass, for both rings when they share a channel */
	nb_rings_notify(&q->r, w->hv, q->nq, notify_tx, notify_rx);
	if (q->kicked_tx || q->kicked_rx)
		rearm(w, q);
}

/* Packets moved: the window opens (again), the frontends not asked to
 * kick for TX meanwhile, nor for the RX buffers a backlog waits for: each
 * pass retries the backlog anyway (serve), and a kick per refill cost the
 * guest a notification and us an event to take and unmask (bench/vifback,
 * one TCP stream to the guest: its kicks fell from 0.07 to 0.02-0.03 per
 * 64 KiB, docs/xen.md). */
static void spin_start(struct worker *w, uint64_t now)
{
	w->moved = false;
	nb_spin_start(&w->spin, now);
	for (unsigned s = 0; s < VB_MAX_VIFS; s++) {
		struct wvif *v = w->vifs[s];

		for (unsigned i = 0; v && i < v->nq; i++) {
			nb_spin_queue_poll(v->q[i].nq);
			v->q[i].nq->rx_polling = true;
		}
	}
}

/* While the window is open the TX rings are looked at here (the TAPs and
 * the event channels by a poll() that does not wait); as it closes each
 * TX ring asks for an event again and is looked at once more. */
static void spin_step(struct worker *w, uint64_t now)
{
	enum nb_spin_step step = nb_spin_step(&w->spin, now);

	if (step == NB_SPIN_OFF)
		return;
	for (unsigned s = 0; s < VB_MAX_VIFS; s++) {
		struct wvif *v = w->vifs[s];

		for (unsigned i = 0; v && i < v->nq; i++) {
			struct wq *q = &v->q[i];

			if (nb_spin_queue(q->nq, step))
				q->tx_more = true;
			/* as it closes, a backlog short of buffers asks for
			 * the guest's kick (a fatal queue is reported after
			 * the pass) */
			if (step == NB_SPIN_CLOSE && netif_rx_arm(q->nq) > 0)
				q->rx_retry = true;
		}
	}
}

int vb_worker_run(int sock, uint16_t domid, const char *kind, bool confine, void *stack_lo)
{
	struct worker w;
	struct pollfd *pfd;
	struct wpoll *pq;
	bool quit = false;
	int rc;

	memset(&w, 0, sizeof(w));
	w.spin.us = spin_us;
	w.sock = sock;
	w.domid = domid;
	w.stack_lo = stack_lo;
	w.arena.cap = NETIF_TX_ARENA_MAX;
	w.arena.buf = map_lazy(w.arena.cap);
	w.scratch = map_lazy(sizeof(*w.scratch));
	w.ringmem = map_lazy(BATCHIO_MEM_SIZE);
	if (!w.arena.buf || !w.scratch || !w.ringmem || poll_reserve(&w, 0) < 0)
		return -ENOMEM;
	w.b = (struct wburst *)(w.ringmem + BATCHIO_MEM_SPARE_OFF);
	if (batchio_init_mem(&w.bio, w.ringmem) < 0)
		log_warn("worker d%u: %s: a system call per frame", domid, err_msg());
	rc = hv_open(kind, &w.hv);
	if (rc < 0) {
		log_err("worker d%u: %s", domid, err_msg());
		return rc;
	}
	if (confine) {
		const uint32_t *reqs;
		unsigned nreq;

		rc = hv_ioctl_requests(hv_kind(w.hv), &reqs, &nreq);
		if (rc == 0)
			rc = vb_seccomp_confine(reqs, nreq);
		if (rc < 0) {
			log_err("worker d%u: %s", domid, err_msg());
			return rc;
		}
	}
	bool ev_more = false; /* events left to read (drain_events) */

	while (!quit) {
		unsigned n = 0;
		int timeout = -1;
		uint64_t now = nb_now_us();

		spin_step(&w, now);

		/* on_connect() made room for every queue there is */
		pfd = w.pfd;
		pq = w.pq;
		pfd[n++] = (struct pollfd){ .fd = sock, .events = POLLIN };
		pfd[n++] = (struct pollfd){ .fd = hv_evtchn_fd(w.hv), .events = POLLIN };
		for (unsigned s = 0; s < VB_MAX_VIFS; s++) {
			struct wvif *v = w.vifs[s];

			for (unsigned i = 0; v && i < v->nq; i++) {
				struct wq *q = &v->q[i];
				int t = -1;

				pfd[n] = (struct pollfd){ .fd = q->tap,
							  .events = q->bl_n < NETIF_BURST ? POLLIN : 0 };
				pq[n].slot = s;
				pq[n].qi = i;
				pq[n++].devid = v->devid;
				if ((q->tx_more && !q->tx_wait_until) || q->rx_retry)
					t = 0;
				else if (q->tx_wait_until)
					t = ms_until(q->tx_wait_until, now);
				if (q->unmask_at)
					t = sooner(t, ms_until(q->unmask_at, now));
				timeout = sooner(timeout, sooner(t, rx_timeout_ms(q, now)));
			}
			/* the counters' last moves reach the file without traffic */
			if (v && v->stats_moving && v->stats_fd >= 0)
				timeout = sooner(timeout, ms_until(v->stats_due, now));
		}
		if (!w.trimmed)
			timeout = sooner(timeout, ms_until(w.busy_at + VB_TRIM_US, now));
		if (ev_more || nb_spin_open(&w.spin))
			timeout = 0;
		if (nb_spin_open(&w.spin))
			sched_yield();
		if (poll(pfd, n, timeout) < 0 && errno != EINTR)
			return -errno;
		if (pfd[0].revents) {
			on_message(&w, &quit);
			/* a connect goes deep into the stack: trimmed too */
			w.busy = true;
		}
		/* a CONNECT grew the poll set: realloc moved it, and what poll
		 * filled in moved with it */
		pfd = w.pfd;
		pq = w.pq;
		if (pfd[1].revents || ev_more)
			ev_more = drain_events(&w);
		for (unsigned k = 2; k < n; k++) {
			struct wvif *v = w.vifs[pq[k].slot];

			/* the vif may have gone (or come anew) in on_message() */
			if (!v || v->devid != pq[k].devid || pq[k].qi >= v->nq)
				continue;
			serve(&w, v, &v->q[pq[k].qi], pfd[k].revents & POLLIN);
		}
		now = nb_now_us();
		if (w.moved && spin_us)
			spin_start(&w, now);
		if (w.busy) {
			w.busy = false;
			w.busy_at = now;
			w.trimmed = false;
		} else if (!w.trimmed && now - w.busy_at >= VB_TRIM_US) {
			trim(&w);
		}
		for (unsigned s = 0; s < VB_MAX_VIFS; s++) {
			struct wvif *v = w.vifs[s];

			for (unsigned i = 0; v && i < v->nq; i++)
				if (netif_queue_is_fatal(v->q[i].nq)) {
					report_fatal(&w, s);
					v = NULL;
					break;
				}
			if (v)
				stats_flush(&w, v, now, false);
		}
	}
	for (unsigned s = 0; s < VB_MAX_VIFS; s++) {
		if (w.vifs[s])
			stats_flush(&w, w.vifs[s], nb_now_us(), true);
		vif_free(&w, s);
	}
	batchio_exit(&w.bio);
	munmap(w.ringmem, BATCHIO_MEM_SIZE);
	hv_close(w.hv);
	munmap(w.arena.buf, w.arena.cap);
	munmap(w.scratch, sizeof(*w.scratch));
	free(w.pfd);
	free(w.pq);
	return 0;
}

int vb_worker_timeouts_from_env(void)
{
	uint64_t drain = VB_RX_DRAIN_MS, stall = VB_RX_STALL_MS;
	struct nb_spin spin = { .us = spin_us };
	int rc = env_ms("VIFBACK_RX_DRAIN_MS", &drain);

	if (rc == 0)
		rc = env_ms("VIFBACK_RX_STALL_MS", &stall);
	/* how long to poll after packets (0: never) */
	if (rc == 0)
		rc = nb_spin_cfg_from_env(&spin, "VIFBACK");
	if (rc < 0)
		return rc;
	rx_drain_us = drain * 1000u;
	rx_stall_us = stall * 1000u;
	spin_us = spin.us;
	return 0;
}
