/* guest: guest ports. The handshake is netback's (netback/xenbus.c), the
 * same code vifback runs; these are its steps for a port of the switch:
 * probe takes a port slot (the vif is dpswitch's when its bridge= is one
 * of ours), connect maps the rings and binds the event channels in this
 * process (netback/rings.c, as a vifback worker does), and the port
 * forwards once it is also plugged over the control socket (its policy
 * known). Frames cross with vif/netif: TX
 * bursts copied out of the guest's grants into a private arena, then into
 * mbufs; RX bursts copied from mbufs into the guest's posted buffers.
 * A port is polled from its event until its TX ring is empty and its
 * req_event re-armed (netif's final check), then waits for the next. */
#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "dpswitch/dps.h"
#include "dpswitch/gso.h"
#include "dpswitch/tso_mbuf.h"
#include "hypervisor/hv.h"
#include "lib/err.h"
#include "lib/log.h"
#include "netback/rings.h"

/* a queue's ring state and its burst scratch, one mapping */
#define DPS_NQ_MAP (sizeof(struct netif_queue) + sizeof(struct netif_scratch))
_Static_assert(sizeof(struct netif_queue) % _Alignof(struct netif_scratch) == 0,
	       "the scratch right after the queue is aligned");

static struct dps *dps_of(struct nb_back *b)
{
	return (struct dps *)((char *)b - offsetof(struct dps, nb));
}

/* Our copy of the network bridge names (--bridge), which outlives the
 * reply bridge came in; NULL when it is none of ours. */
static const char *our_bridge(const struct dps *d, const char *bridge)
{
	for (unsigned i = 0; bridge && i < d->nbridges; i++)
		if (!strcmp(bridge, d->bridges[i]))
			return d->bridges[i];
	return NULL;
}

static bool serves(struct nb_back *b, const struct nb_vif *v, const char *bridge)
{
	return our_bridge(dps_of(b), bridge) != NULL;
}

static int probe(struct nb_back *b, struct nb_vif *v, const char *vifname, const char *bridge)
{
	struct dps *d = dps_of(b);
	int idx = dps_port_alloc(d, DPS_PORT_GUEST, v->ifname);

	if (idx < 0)
		return idx;
	d->ports[idx].vif = v;
	d->ports[idx].bridge = our_bridge(d, bridge);
	v->port = idx;
	log_info("vif%u.%u: port %d", v->domid, v->devid, idx);
	/* plugged before a restart: plugged again, before the guest connects */
	dps_ctl_replug(d, v);
	return 0;
}

static void evport_set(struct dps *d, uint32_t local, int idx)
{
	if (local < DPS_EVTCHN_MAX)
		d->evport[local] = (uint16_t)(idx + 1);
}

/* Port idx's queue is no longer held masked (its ports unmasked, or gone
 * with it). */
static void held_drop(struct dps *d, unsigned idx)
{
	for (unsigned k = 0; k < d->nheld; k++)
		if (d->held[k] == idx) {
			d->held[k] = d->held[--d->nheld];
			break;
		}
	if (!d->nheld)
		d->held_next = 0;
}

/* Guest port idx's queue: its rings let go, nothing of it held. */
static void queue_free(struct dps *d, unsigned idx)
{
	struct dps_gq *q = &d->ports[idx].q;

	if (q->unmask_at)
		held_drop(d, idx);
	if (q->r.bound_tx)
		evport_set(d, q->r.port_tx, -1);
	if (q->r.bound_rx)
		evport_set(d, q->r.port_rx, -1);
	nb_rings_disconnect(&q->r, d->hv);
	if (q->nq)
		munmap(q->nq, DPS_NQ_MAP);
	memset(q, 0, sizeof(*q));
}

static int connect_rings(struct nb_back *b, struct nb_vif *v)
{
	struct dps *d = dps_of(b);
	struct dps_port *p = &d->ports[v->port];
	const struct nb_queue_cfg *qc = &v->cfg.q[0];
	struct dps_gq *q = &p->q;
	void *nq;
	int rc;

	/* mapped, not calloc'ed: an idle queue's copy segments (its
	 * netif_scratch, right after it) stay unbacked */
	nq = mmap(NULL, DPS_NQ_MAP, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (nq == MAP_FAILED)
		return err_set(-ENOMEM, "out of memory");
	rc = nb_rings_connect(&q->r, d->hv, (uint16_t)v->domid, qc, &v->cfg.feat, nq,
			      (struct netif_scratch *)((struct netif_queue *)nq + 1));
	if (rc < 0) {
		munmap(nq, DPS_NQ_MAP);
		return rc;
	}
	q->nq = nq;
	/* an event fired already waits in the hypervisor layer: it is read
	 * later in the loop, after this */
	evport_set(d, q->r.port_tx, v->port);
	evport_set(d, q->r.port_rx, v->port);
	q->always_ready = q->r.port_tx >= DPS_EVTCHN_MAX || q->r.port_rx >= DPS_EVTCHN_MAX;
	netif_credit_set(&q->nq->credit, v->rate.bytes_per_interval, v->rate.interval_usecs,
			 nb_now_us());
	p->connected = true;
	dps_port_update(d, (unsigned)v->port);
	return 0;
}

static void log_counters(const struct nb_vif *v, const struct dps_port *p)
{
	log_info("vif%u.%u: rings disconnected: from guest %llu packets %llu bytes, "
		 "to guest %llu packets %llu bytes",
		 v->domid, v->devid, (unsigned long long)p->c.rx_pkts,
		 (unsigned long long)p->c.rx_bytes, (unsigned long long)p->c.tx_pkts,
		 (unsigned long long)p->c.tx_bytes);
}

static void disconnect(struct nb_back *b, struct nb_vif *v)
{
	struct dps *d = dps_of(b);
	struct dps_port *p = &d->ports[v->port];

	p->connected = false;
	dps_port_update(d, (unsigned)v->port);
	queue_free(d, (unsigned)v->port);
	log_counters(v, p);
}

/* Port idx's broken rings are not to be told any more (the port goes). */
static void broke_cancel(struct dps *d, unsigned idx)
{
	if (!d->ports[idx].broke[0])
		return;
	d->ports[idx].broke[0] = '\0';
	for (unsigned k = 0; k < d->nbroke; k++)
		if (d->broke[k] == idx) {
			d->broke[k] = d->broke[--d->nbroke];
			break;
		}
}

static void release(struct nb_back *b, struct nb_vif *v)
{
	struct dps *d = dps_of(b);

	if (v->port < 0)
		return;
	broke_cancel(d, (unsigned)v->port);
	queue_free(d, (unsigned)v->port);
	dps_port_free(d, (unsigned)v->port);
	/* the vif is gone: a later one with its id is another guest's */
	if (dps_plugs_find(v->domid, v->devid) && dps_plugs_record(v->domid, v->devid, NULL) < 0)
		log_warn("vif%u.%u: %s", v->domid, v->devid, err_msg());
	log_info("vif%u.%u: port %d removed", v->domid, v->devid, v->port);
}

static void rate(struct nb_back *b, struct nb_vif *v)
{
	struct dps *d = dps_of(b);
	struct dps_gq *q = &d->ports[v->port].q;

	if (!q->nq)
		return;
	netif_credit_set(&q->nq->credit, v->rate.bytes_per_interval, v->rate.interval_usecs,
			 nb_now_us());
	q->tx_wait_until = 0;
}

static void close_port(struct nb_back *b, struct nb_vif *v)
{
	struct dps *d = dps_of(b);

	if (v->port < 0)
		return;
	broke_cancel(d, (unsigned)v->port);
	queue_free(d, (unsigned)v->port);
	/* the slot is not given back at a stop, its keys are: the port
	 * table is mapped memory, which LeakSanitizer does not scan */
	free(d->ports[v->port].keys);
	d->ports[v->port].keys = NULL;
}

static void held(struct nb_back *b, struct nb_vif *v, uint64_t ms)
{
	struct dps *d = dps_of(b);

	(void)ms;
	if (v->port >= 0)
		d->ports[v->port].c.holds++;
}

/* A vif torn down before this dpswitch probed it (killed and started
 * again while the toolstack removed the device): the plug kept for it
 * (--state) goes, as release forgets it; else a later vif of the same
 * number (another guest's) would be plugged with it. */
static void forget(struct nb_back *b, struct nb_vif *v, const char *vifname)
{
	(void)b;
	(void)vifname;
	if (!dps_plugs_find(v->domid, v->devid))
		return;
	if (dps_plugs_record(v->domid, v->devid, NULL) < 0)
		log_warn("vif%u.%u: %s", v->domid, v->devid, err_msg());
	else
		log_info("vif%u.%u: torn down before it was probed: its kept plug forgotten",
			 v->domid, v->devid);
}

const struct nb_ops dps_nb_ops = {
	.serves = serves,
	.probe = probe,
	.connect = connect_rings,
	.disconnect = disconnect,
	.release = release,
	.rate = rate,
	.close = close_port,
	.held = held,
	.forget = forget,
};

/* The guest broke its rings (found in a pass): they are served no more
 * from now, and netback is told after the pass (dps_guest_broke_tell).
 * Not here: nb_vif_broke writes to xenstore, and a request that waits
 * forwards the other guests' frames meanwhile (main.c's xs_wait), a pass
 * inside this one, whose port arrays it walks. */
static void lost(struct dps *d, struct dps_port *p)
{
	unsigned idx = (unsigned)p->vif->port;

	if (!p->broke[0])
		d->broke[d->nbroke++] = (uint16_t)idx;
	snprintf(p->broke, sizeof(p->broke), "%s", netif_queue_fatal_reason(p->q.nq));
	if (!p->broke[0]) /* never empty: "" is none */
		snprintf(p->broke, sizeof(p->broke), "ring broken");
	p->connected = false;
	dps_port_update(d, idx);
	queue_free(d, idx);
	/* when it was found: the error is logged as netback is told */
	log_debug("%s: rings broken (%s): served no more", p->name, p->broke);
}

void dps_guest_broke_tell(struct dps *d)
{
	/* one at a time: a wait in nb_vif_broke may add more */
	while (d->nbroke) {
		struct dps_port *p = &d->ports[d->broke[--d->nbroke]];
		char why[DPS_WHY_MAX];

		snprintf(why, sizeof(why), "%s", p->broke);
		p->broke[0] = '\0';
		/* netback may have disconnected it meanwhile (the frontend
		 * closed): still a violation, held as one */
		nb_vif_broke(&d->nb, p->vif, why);
	}
}

unsigned dps_gso_cut(struct dps *d, unsigned idx, const uint8_t *pkt, uint32_t plen,
		     uint8_t gso_type, uint16_t mss, struct rte_mbuf **m)
{
	struct dps_port *p = &d->ports[idx];
	uint32_t len[DPS_GSO_MAX_SEGS];
	unsigned n = 0, off = 0;

	if (dps_gso_segment(pkt, plen, gso_type, mss, d->gso_buf, DPS_GSO_BUF, len,
			    DPS_GSO_MAX_SEGS, &n) < 0) {
		p->c.drops[DPS_DROP_MALFORMED]++;
		return 0;
	}
	if (rte_pktmbuf_alloc_bulk(d->pool, m, n) < 0) {
		p->c.drops[DPS_DROP_NO_MBUF] += n;
		return 0;
	}
	for (unsigned i = 0; i < n; i++) {
		if (len[i] > rte_pktmbuf_tailroom(m[i])) {
			/* an MSS larger than an mbuf: every frame is */
			for (unsigned j = i; j < n; j++)
				dps_drop(p, DPS_DROP_OVERSIZE, m[j]);
			return i;
		}
		memcpy(rte_pktmbuf_mtod(m[i], void *), d->gso_buf + off, len[i]);
		m[i]->data_len = (uint16_t)len[i];
		m[i]->pkt_len = len[i];
		off += len[i];
	}
	return n;
}

static unsigned gso_cut(struct dps *d, unsigned idx, const struct netif_pkt *pk,
			struct rte_mbuf **m)
{
	return dps_gso_cut(d, idx, pk->data, pk->len, pk->gso_type, pk->gso_size, m);
}

unsigned dps_guest_gso_cut(struct dps *d, unsigned in, struct rte_mbuf **m)
{
	return d->gso_pkt ? gso_cut(d, in, d->gso_pkt, m) : 0;
}

/* The NIC port a GSO packet may go to whole: its destination is known
 * unicast on a forwarding NIC port whose TSO takes it (tso.h), or -1.
 * Only a look: dps_fwd checks the policy, learns and looks up again (a
 * different answer there is cut in software). */
static int tso_port(struct dps *d, unsigned in, const struct netif_pkt *pk,
		    const struct dps_gso_hdr *h, unsigned chain)
{
	uint16_t out;
	const struct dps_port *p;

	if (pk->data[0] & 1)
		return -1;
	out = dps_mac_lookup(&d->macs, pk->data, d->now_ms);
	if (out == DPS_MAC_NONE || out == in)
		return -1;
	p = &d->ports[out];
	if (p->kind != DPS_PORT_NIC || !p->forwarding || p->nout >= DPS_TSO_QUEUED ||
	    !dps_tso_fits(&p->tso, h, pk->gso_size, chain))
		return -1;
	return out;
}

static void arena_free(void *addr, void *opaque)
{
	(void)addr;
	(void)opaque; /* the arena is netif's: nothing to give back */
}

/* the external buffer of the GSO packets handed to kernel ports straight
 * from the TX arena: its refcnt counts their mbufs (none is left queued
 * once a burst is settled: settle_arena) */
static struct rte_mbuf_ext_shared_info arena_shinfo = { .free_cb = arena_free };

/* pk whole as one mbuf chain with TSO's fields, into the switch, for NIC
 * port out. false when it cannot be (mbufs short): the caller cuts it
 * instead. For a kernel port the chain's mbufs point into the TX arena
 * (external buffers) instead of holding a copy: the kernel copies the
 * packet as it is sent, and settle_arena sends it (or drops it if it must
 * wait) as the burst ends, before the arena's next one: the burst's
 * packets in one sendmmsg, not a system call each. */
static bool tso_fwd(struct dps *d, unsigned idx, const struct netif_pkt *pk,
		    const struct dps_gso_hdr *h, unsigned chain, uint16_t room, unsigned out)
{
	struct rte_mbuf *m[NETIF_MAX_PKT / 1024 + 2];
	bool ext = d->ports[out].kp != NULL;
	uint32_t off = 0, step = ext ? DPS_EXT_CHUNK : room;

	if (ext)
		chain = (pk->len + DPS_EXT_CHUNK - 1) / DPS_EXT_CHUNK;
	if (chain > RTE_DIM(m) || rte_pktmbuf_alloc_bulk(d->pool, m, chain) < 0)
		return false;
	if (ext)
		rte_mbuf_ext_refcnt_update(&arena_shinfo, (int16_t)chain);
	for (unsigned i = 0; i < chain; i++) {
		uint32_t n = pk->len - off < step ? pk->len - off : step;

		if (ext)
			rte_pktmbuf_attach_extbuf(m[i], pk->data + off, RTE_BAD_IOVA, (uint16_t)n,
						  &arena_shinfo);
		else
			memcpy(rte_pktmbuf_mtod(m[i], void *), pk->data + off, n);
		m[i]->data_len = (uint16_t)n;
		off += n;
		if (i)
			m[i - 1]->next = m[i];
	}
	m[0]->nb_segs = (uint16_t)chain;
	m[0]->pkt_len = pk->len;
	/* the headers are all in the first mbuf: tso.h's limits on their
	 * lengths keep them under an mbuf's room */
	dps_tso_headers(rte_pktmbuf_mtod(m[0], uint8_t *), h);
	dps_tso_mbuf(m[0], h, pk->gso_size);
	d->gso_pkt = pk;
	d->gso_hdr = *h;
	dps_fwd(d, idx, m, 1);
	d->gso_pkt = NULL;
	if (ext) {
		unsigned i = 0;

		/* a kernel port once: there are DPS_MAX_KPORTS at most */
		while (i < d->narena_out && d->arena_out[i] != out)
			i++;
		if (i == d->narena_out)
			d->arena_out[d->narena_out++] = (uint16_t)out;
	}
	return true;
}

/* The kernel ports given packets in the TX arena this burst: sent now, or
 * dropped, before the arena's next burst overwrites them. */
static void settle_arena(struct dps *d)
{
	while (d->narena_out)
		dps_kport_settle(d, d->arena_out[--d->narena_out]);
}

/* A GSO packet: whole to a NIC port that does TSO, else cut here. */
static void gso_fwd(struct dps *d, unsigned idx, const struct netif_pkt *pk, uint16_t room)
{
	struct rte_mbuf *m[DPS_GSO_MAX_SEGS];
	struct dps_gso_hdr h;
	unsigned n, chain = (pk->len + room - 1u) / room;
	int out;

	if (dps_gso_parse(pk->data, pk->len, pk->gso_type, pk->gso_size, &h) < 0) {
		/* nothing can be made of it: dropped for this vif alone */
		d->ports[idx].c.drops[DPS_DROP_MALFORMED]++;
		return;
	}
	out = tso_port(d, idx, pk, &h, chain);
	if (out >= 0 && tso_fwd(d, idx, pk, &h, chain, room, (unsigned)out))
		return;
	n = gso_cut(d, idx, pk, m);
	if (n)
		dps_fwd(d, idx, m, n);
}

/* One burst of the TX ring into the switch. false when the queue was
 * lost (fatal), else *more / *ntf as netif_tx_burst says. */
static bool poll_burst(struct dps *d, unsigned idx, bool *more, bool *ntf)
{
	struct dps_port *p = &d->ports[idx];
	struct dps_gq *q = &p->q;
	struct rte_mbuf *m[DPS_BURST];
	unsigned n = 0, k = 0;
	uint64_t wait = 0;
	int rc;

	/* an empty ring goes through the burst too: its final check re-arms
	 * req_event, so the guest's next request brings an event; the guest
	 * is told as soon as the burst is copied out, and refills its ring
	 * while we switch and send */
	rc = nb_rings_tx_burst(&q->r, d->hv, q->nq, &d->arena, d->now_us, d->pkts, DPS_BURST, &n,
			       more, ntf, &wait);
	if (rc < 0 && netif_queue_is_fatal(q->nq)) {
		lost(d, p);
		return false;
	}
	if (wait)
		q->tx_wait_until = d->now_us + wait;
	if (n && rte_pktmbuf_alloc_bulk(d->pool, m, n) < 0) {
		p->c.drops[DPS_DROP_NO_MBUF] += n;
		n = 0;
	}
	for (unsigned i = 0; i < n; i++) {
		struct netif_pkt *pk = &d->pkts[i];

		if (pk->gso_type != XEN_NETIF_GSO_TYPE_NONE) {
			/* in order: what came before it goes first */
			if (k)
				dps_fwd(d, idx, m, k);
			k = 0;
			gso_fwd(d, idx, pk, rte_pktmbuf_tailroom(m[i]));
			rte_pktmbuf_free(m[i]);
			continue;
		}
		if (pk->len > rte_pktmbuf_tailroom(m[i])) {
			dps_drop(p, DPS_DROP_OVERSIZE, m[i]);
			continue;
		}
		/* a partial checksum is completed here, once, so every port
		 * (a NIC without offloads, several guests) gets a whole frame */
		if (pk->flags & NETIF_PKT_CSUM_BLANK)
			netif_hdr_csum_complete(pk->data, pk->len);
		memcpy(rte_pktmbuf_mtod(m[i], void *), pk->data, pk->len);
		m[i]->data_len = (uint16_t)pk->len;
		m[i]->pkt_len = pk->len;
		m[k++] = m[i];
	}
	if (k)
		dps_fwd(d, idx, m, k);
	settle_arena(d);
	return true;
}

bool dps_guest_poll(struct dps *d, unsigned idx)
{
	struct dps_port *p = &d->ports[idx];
	struct dps_gq *q = &p->q;
	bool more = false, ntf = false;

	if (!q->nq)
		return false;
	/* its event may say it posted buffers again */
	if (q->stalled && !dps_guest_ready(d, idx) && !q->nq)
		return false;
	if (q->tx_wait_until) {
		if (d->now_us < q->tx_wait_until)
			return true;
		q->tx_wait_until = 0;
	}
	/* with adaptive polling on, an emptied ring's req_event stays behind
	 * until the loop arms it (dps_guest_arm): after the pass, when it
	 * found nothing; when a window of polling closes, if it did */
	if (d->spin.us)
		nb_spin_queue_poll(q->nq);
	/* Up to DPS_POLL_BURSTS bursts while the ring has more: a pass then
	 * hands the NIC DPS_POLL_BURSTS times as many frames per system call
	 * (each burst's responses pushed, and the guest told if it asked, as
	 * soon as the burst is copied out: poll_burst). */
	for (unsigned b = 0; b < DPS_POLL_BURSTS; b++) {
		if (!poll_burst(d, idx, &more, &ntf))
			return false;
		if (!more || q->tx_wait_until || !q->nq)
			break;
	}
	if (!q->nq)
		return false;
	nb_rings_notify(&q->r, d->hv, q->nq, ntf, false);
	d->guest_more |= more;
	return more || q->tx_wait_until || q->always_ready || q->nq->tx_polling;
}

bool dps_guest_arm(struct dps *d)
{
	bool more = false;

	/* from the end: a port leaving is swapped out with one already seen */
	for (unsigned k = d->nready; k-- > 0;) {
		unsigned idx = d->ready[k];
		struct dps_gq *q = &d->ports[idx].q;

		if (d->ports[idx].kind != DPS_PORT_GUEST || !q->nq || !q->nq->tx_polling)
			continue;
		if (nb_spin_queue(q->nq, NB_SPIN_CLOSE))
			more = true;
		else if (!q->tx_wait_until && !q->always_ready)
			dps_port_unready(d, idx);
	}
	return more;
}

/* The first n of p's output queue are gone (sent or freed). */
static void outq_shift(struct dps_port *p, unsigned n)
{
	if (!n)
		return;
	memmove(p->outq, p->outq + n, (p->nout - n) * sizeof(p->outq[0]));
	p->nout -= n;
}

/* The buffers the frame m needs in the guest's ring (netif's count: GSO
 * extra included), 1 at least (one it cannot take at all is dropped by
 * the ring, which takes none for it). */
static unsigned rx_need(const struct netif_queue *nq, const struct rte_mbuf *m)
{
	struct netif_pkt pk = { .len = m->pkt_len };
	unsigned need;

	if (m->ol_flags & RTE_MBUF_F_TX_TCP_SEG) {
		pk.gso_type = m->ol_flags & RTE_MBUF_F_TX_IPV6 ? XEN_NETIF_GSO_TYPE_TCPV6
							       : XEN_NETIF_GSO_TYPE_TCPV4;
		pk.gso_size = m->tso_segsz;
	}
	need = netif_rx_slots_needed(nq, &pk);
	return need ? need : 1;
}

static void stall(struct dps *d, struct dps_port *p)
{
	p->q.stalled = true;
	p->c.stalls++;
	log_warn("%s: no receive buffer for its next frame for %llu ms: stalled; frames for it "
		 "are dropped until it posts buffers again",
		 p->name, (unsigned long long)(d->rx_stall_us / 1000u));
}

static void unstall(struct dps_port *p)
{
	p->q.stalled = false;
	p->q.rx_blocked_since = 0; /* netback's carrier on: the stall clock starts again */
	log_info("%s: the guest posts receive buffers again: ready", p->name);
}

bool dps_guest_ready(struct dps *d, unsigned idx)
{
	struct dps_port *p = &d->ports[idx];
	struct dps_gq *q = &p->q;
	unsigned avail = 0;

	if (!q->stalled)
		return true;
	if (!q->nq)
		return false;
	/* the producer is the guest's: an impossible one breaks the ring */
	if (netif_rx_slots_avail(q->nq, &avail) < 0) {
		lost(d, p);
		return false;
	}
	/* netback's xenvif_rx_queue_ready, judged as vifback judges it: the
	 * frame that waits fits (a 64 KiB GSO packet needs 17 buffers, and
	 * one at a time would stall again at once), or with none waiting,
	 * any buffer */
	if (avail < (p->nout ? rx_need(q->nq, p->outq[0]) : 1u))
		return false;
	unstall(p);
	return true;
}

/* XSA-392 (CVE-2021-28715), after a flush that gave the guest `took` of
 * its queue's frames: what waits holds mbufs of the pool every port
 * draws on. As netback: each frame that has waited rx_drain_us is
 * dropped (its rx_drain_timeout, per skb), so a guest that crawls loses
 * only what is that old, and one whose next frame has not fit for
 * rx_stall_us with none taken is stalled (its rx_stall_timeout, the
 * carrier off): nothing more is queued for it until it posts buffers. */
static void rx_age(struct dps *d, unsigned idx, unsigned took)
{
	struct dps_port *p = &d->ports[idx];
	struct dps_gq *q = &p->q;
	unsigned n = 0;

	if (took && q->stalled)
		unstall(p);
	if (!p->nout) {
		q->rx_blocked_since = 0;
		return;
	}
	if (took || !q->rx_blocked_since)
		q->rx_blocked_since = d->now_us ? d->now_us : 1;
	/* in the order they came: the oldest first */
	while (n < p->nout &&
	       (uint64_t)(uint32_t)((uint32_t)d->now_ms - DPS_QUEUED_MS(p->outq[n])) * 1000u >=
		       d->rx_drain_us)
		p->held -= p->outq[n++]->nb_segs;
	for (unsigned i = 0; i < n; i++)
		dps_drop(p, DPS_DROP_NO_BUFFERS, p->outq[i]);
	outq_shift(p, n);
	if (!q->stalled && d->now_us - q->rx_blocked_since >= d->rx_stall_us)
		stall(d, p);
}

bool dps_guest_takes_gso(const struct dps *d, unsigned idx, const struct dps_gso_hdr *h,
			 uint16_t mss, uint32_t len)
{
	const struct dps_port *p = &d->ports[idx];
	const struct netif_queue *nq = p->q.nq;

	if (p->kind != DPS_PORT_GUEST || !nq || !nq->feat.sg ||
	    !(h->v6 ? nq->feat.gso_tcpv6 : nq->feat.gso_tcpv4))
		return false;
	return mss && h->lens_ok && len <= NETIF_MAX_PKT && h->nseg <= DPS_GSO_MAX_SEGS &&
	       p->nout < DPS_TSO_QUEUED;
}

/* At least `drop` mbufs of guest port idx's queue dropped, its oldest
 * frames first (pool_low). */
static void held_trim(struct dps *d, unsigned idx, unsigned drop)
{
	struct dps_port *p = &d->ports[idx];
	unsigned n = 0, freed = 0;

	while (n < p->nout && freed < drop)
		freed += p->outq[n++]->nb_segs;
	p->held -= freed < p->held ? freed : p->held;
	for (unsigned i = 0; i < n; i++)
		dps_drop(p, DPS_DROP_POOL_LOW, p->outq[i]);
	outq_shift(p, n);
}

void dps_held_share(struct dps *d)
{
	unsigned old = d->held_share, share = d->nfwd ? d->pool_low / (2 * d->nfwd) : DPS_HELD_LOW;

	d->held_share = share < DPS_HELD_LOW ? share : DPS_HELD_LOW;
	/* A port joined: the shares are smaller. What a port took within
	 * its old share, without a look at the pool, after the pool ran low
	 * would stay past the new one until its guest takes it: the ports
	 * that joined take theirs on top, and the quarter of the pool the
	 * shares keep free was not (down to some pool_low / (2 x the ports
	 * there were) however many joined). So while the pool is low, each
	 * port's queue gives back what its share shrank by, as far as it
	 * holds more than the new one; what it holds past its old share it
	 * took with a look at the pool, before it ran low, and keeps. Only
	 * at a port's join (connect or plug), never inside a pass. */
	if (d->held_share >= old || !d->pool || rte_mempool_avail_count(d->pool) >= d->pool_low)
		return;
	for (unsigned k = 0; k < d->ndirty; k++) {
		unsigned idx = d->dirty[k];
		const struct dps_port *p = &d->ports[idx];

		if (p->kind == DPS_PORT_GUEST && p->nout && p->held > d->held_share)
			held_trim(d, idx,
				  p->held - d->held_share < old - d->held_share ? p->held - d->held_share
										 : old - d->held_share);
	}
}

/* The pool's free mbufs now (rte_mempool_avail_count walks every lcore's
 * cache), as pool_free and pool_read. */
static void pool_look(struct dps *d)
{
	d->pool_at = d->now_us;
	d->pool_free = d->pool_read = rte_mempool_avail_count(d->pool);
}

/* The receive buffers guest port p has posted and not had filled: what of
 * its queue goes into its ring at this pass's flush (0 for a ring not
 * served, stalled, or broken, which the flush finds). */
static unsigned ring_room(const struct dps_port *p)
{
	unsigned avail = 0;

	if (!p->q.nq || p->q.stalled || netif_rx_slots_avail(p->q.nq, &avail) < 0)
		return 0;
	return avail;
}

bool dps_guest_admits(struct dps *d, unsigned idx, const struct rte_mbuf *m, unsigned more)
{
	const struct dps_port *p = &d->ports[idx];
	/* a flooded frame is one mbuf however many queues hold it: counted
	 * once, not once a guest (a flood to four stopped guests made a
	 * pool of 1023 with some 700 free look low) */
	bool flood = m && m == d->flood;
	unsigned cost = flood && d->flood_counted ? 0 : more;

	/* within what any port may hold, the pool is not read */
	if (p->held + more <= d->held_share)
		return true;
	/* nor past it, as far as the guest has posted buffers for: that much
	 * of its queue goes into its ring at the flush, and gives the pool its
	 * mbufs back at once. So a guest that takes its frames is not held to
	 * its share a pass while the pool is low (one that joined then lost
	 * its bursts past a share of a dozen); one that stopped has no
	 * buffers left once its ring is full, and holds its share at most, so
	 * however many stop a quarter of the pool stays free. Counted in
	 * mbufs against buffers: a frame of several mbufs (2 KiB each) needs
	 * fewer 4 KiB buffers, so this admits less, never more. */
	if (p->held + more <= d->held_share + ring_room(p))
		return true;
	if (d->pool_at != d->now_us)
		pool_look(d);
	/* What a pass admits counts at once: a kernel port's settle copies
	 * up to 64 GSO packets of 33 mbufs in one. That is an estimate,
	 * which only goes down: the frames guests took meanwhile gave their
	 * mbufs back (a flood's first 256 into each ring, then its queue
	 * filled again in the same pass), so before a frame is refused the
	 * pool itself is asked, if anything was counted since it last was.
	 * A frame that costs nothing more is still refused at the reserve:
	 * the queues of guests that stopped hold the pool's mbufs, shared
	 * or not. */
	if (d->pool_free < d->pool_low + cost && d->pool_free != d->pool_read)
		pool_look(d);
	if (d->pool_free < d->pool_low + cost)
		return false;
	d->pool_free -= cost;
	d->flood_counted |= flood;
	return true;
}

void dps_guest_flush(struct dps *d, unsigned idx)
{
	struct dps_port *p = &d->ports[idx];
	struct dps_gq *q = &p->q;
	struct netif_pkt pk[DPS_BURST];
	unsigned off = 0;
	bool ntf = false;
	uint64_t dropped, pkts, bytes;
	unsigned whole;

	if (!q->nq) {
		while (p->nout)
			dps_drop(p, DPS_DROP_UNPLUGGED, p->outq[--p->nout]);
		return;
	}
	/* what the frontend cannot take, and what its grants refused */
	dropped = q->nq->stats.rx_dropped + q->nq->stats.rx_errors;
	pkts = q->nq->stats.rx_pkts;
	bytes = q->nq->stats.rx_bytes;
	/* the whole queue in bursts, while the guest has buffers for them;
	 * one event for them all, after the last */
	while (off < p->nout) {
		unsigned n = p->nout - off < DPS_BURST ? p->nout - off : DPS_BURST, done = 0;
		bool bntf = false;

		whole = 0;
		for (unsigned i = 0; i < n; i++) {
			struct rte_mbuf *m = p->outq[off + i];

			pk[i] = (struct netif_pkt){ .data = rte_pktmbuf_mtod(m, uint8_t *),
						    .len = rte_pktmbuf_data_len(m) };
			if (!(m->ol_flags & RTE_MBUF_F_TX_TCP_SEG))
				continue;
			/* a kernel port's GSO packet (dps_guest_takes_gso):
			 * whole, in one piece, its checksum partial */
			if (m->nb_segs > 1)
				pk[i].data = (uint8_t *)rte_pktmbuf_read(
					m, 0, m->pkt_len, d->rx_lin + (size_t)i * (NETIF_MAX_PKT + 1));
			pk[i].len = m->pkt_len;
			pk[i].gso_type = m->ol_flags & RTE_MBUF_F_TX_IPV6 ? XEN_NETIF_GSO_TYPE_TCPV6
									 : XEN_NETIF_GSO_TYPE_TCPV4;
			pk[i].gso_size = m->tso_segsz;
			pk[i].flags = NETIF_PKT_CSUM_BLANK;
			whole |= 1u << i;
		}
		if (netif_rx_burst(q->nq, pk, n, &done, &bntf) < 0 &&
		    netif_queue_is_fatal(q->nq)) {
			/* what went before is freed: out of the queue first */
			outq_shift(p, off);
			lost(d, p);
			return;
		}
		ntf |= bntf;
		p->c.tx_tso += (unsigned)__builtin_popcount(whole & (done < 32 ? (1u << done) - 1 : ~0u));
		for (unsigned i = 0; i < done; i++)
			p->held -= p->outq[off + i]->nb_segs;
		rte_pktmbuf_free_bulk(p->outq + off, done);
		off += done;
		if (done < n)
			break; /* out of buffers: the rest waits for the next pass */
	}
	p->c.drops[DPS_DROP_RING] += q->nq->stats.rx_dropped + q->nq->stats.rx_errors - dropped;
	/* delivered only: a frame the ring refused is a drop, not a send */
	p->c.tx_pkts += q->nq->stats.rx_pkts - pkts;
	p->c.tx_bytes += q->nq->stats.rx_bytes - bytes;
	outq_shift(p, off);
	rx_age(d, idx, off);
	nb_rings_notify(&q->r, d->hv, q->nq, false, ntf);
}

/* A kick on local port of guest port idx: true when the port stays
 * masked for a while (the kicks are spurious: nb_spurious_kick), or is
 * gone (the kick found the ring broken: lost). */
static bool kick_held(struct dps *d, unsigned idx, uint32_t port)
{
	struct dps_port *p = &d->ports[idx];
	struct dps_gq *q = &p->q;
	uint64_t events, until;

	if (p->kind != DPS_PORT_GUEST || !q->nq)
		return false;
	events = q->sp.events;
	until = nb_spurious_kick(&q->sp, q->nq, nb_now_us());
	p->c.spurious_events += q->sp.events - events;
	if (netif_queue_is_fatal(q->nq)) {
		/* a producer moved back: the port is unbound with the rings */
		lost(d, p);
		return true;
	}
	if (!until)
		return false;
	if (!q->unmask_at)
		d->held[d->nheld++] = (uint16_t)idx;
	q->unmask_at = until;
	q->held_tx |= port == q->r.port_tx;
	q->held_rx |= port == q->r.port_rx;
	if (!d->held_next || until < d->held_next)
		d->held_next = until;
	return true;
}

void dps_guest_unhold(struct dps *d, uint64_t now_us)
{
	if (!d->held_next || now_us < d->held_next)
		return;
	d->held_next = 0;
	for (unsigned k = 0; k < d->nheld;) {
		struct dps_gq *q = &d->ports[d->held[k]].q;

		if (q->unmask_at > now_us) {
			if (!d->held_next || q->unmask_at < d->held_next)
				d->held_next = q->unmask_at;
			k++;
			continue;
		}
		if (q->held_tx)
			hv_evtchn_unmask(d->hv, q->r.port_tx);
		if (q->held_rx && q->r.port_rx != q->r.port_tx)
			hv_evtchn_unmask(d->hv, q->r.port_rx);
		q->held_tx = q->held_rx = false;
		q->unmask_at = 0;
		dps_port_ready(d, d->held[k]); /* kicks it missed meanwhile */
		d->held[k] = d->held[--d->nheld];
	}
}

bool dps_guest_events(struct dps *d)
{
	uint32_t port;

	/* the port is polled until its ring is empty, so the event can be
	 * unmasked at once (a storm costs a wake-up each, not a poll each),
	 * unless its kicks keep bringing nothing (XSA-391: held masked) */
	for (unsigned n = 0; n < DPS_EV_MAX; n++) {
		if (hv_evtchn_pending(d->hv, &port) < 0)
			return false;
		if (port < DPS_EVTCHN_MAX && d->evport[port]) {
			dps_port_ready(d, d->evport[port] - 1u);
			if (kick_held(d, d->evport[port] - 1u, port))
				continue;
		}
		hv_evtchn_unmask(d->hv, port);
	}
	/* stopped before "none": ports the hypervisor layer already took
	 * from its fd (hv_sim takes a batch) may wait in it, unseen by poll */
	return true;
}

uint64_t dps_guest_wait_us(struct dps *d, uint64_t now_us)
{
	uint64_t at = UINT64_MAX;

	/* a port waiting for credit stays ready */
	for (unsigned k = 0; k < d->nready; k++) {
		const struct dps_port *p = &d->ports[d->ready[k]];


		if (p->kind == DPS_PORT_GUEST && p->q.tx_wait_until && p->q.tx_wait_until < at)
			at = p->q.tx_wait_until;
	}
	/* the oldest frame waiting for a guest's buffers is dropped then,
	 * and a guest blocked that long stalls (rx_age): the wake-ups a
	 * stopped guest costs */
	for (unsigned k = 0; k < d->ndirty; k++) {
		const struct dps_port *p = &d->ports[d->dirty[k]];
		uint64_t age_us, t;

		if (p->kind != DPS_PORT_GUEST || !p->nout)
			continue;
		age_us = (uint64_t)(uint32_t)((uint32_t)(now_us / 1000u) -
					      DPS_QUEUED_MS(p->outq[0])) * 1000u;
		t = age_us < d->rx_drain_us ? now_us + d->rx_drain_us - age_us : now_us;
		if (t < at)
			at = t;
		if (!p->q.stalled && p->q.rx_blocked_since &&
		    p->q.rx_blocked_since + d->rx_stall_us < at)
			at = p->q.rx_blocked_since + d->rx_stall_us;
	}
	/* ports held masked are unmasked then (dps_guest_unhold) */
	if (d->held_next && d->held_next < at)
		at = d->held_next;
	if (at == UINT64_MAX)
		return 0;
	return at > now_us ? at - now_us : 1;
}
