/* fwd: the switch. A burst of frames from one port: a guest port's
 * policy first (a frame it may not send is dropped and counted by
 * reason, never learnt from), then the source is learnt, the destination
 * looked up; a known unicast goes to its port's output queue, anything
 * else to every other forwarding port (the same mbuf, its reference count
 * raised: nothing is copied to flood). Queues are flushed once per pass,
 * so a port gets bursts, not single frames. No allocation, no log line. */
#include <poll.h>
#include <stdlib.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>
#include <string.h>

#include "dpswitch/dps.h"
#include "lib/err.h"

static const char *const drop_names[DPS_DROP_COUNT] = {
	[DPS_DROP_SPOOF_MAC] = "spoof_mac",   [DPS_DROP_SPOOF_IP] = "spoof_ip",
	[DPS_DROP_SPOOF_ARP] = "spoof_arp",   [DPS_DROP_SPOOF_ND] = "spoof_nd",
	[DPS_DROP_FORBIDDEN] = "forbidden",   [DPS_DROP_MALFORMED] = "malformed",
	[DPS_DROP_UNPLUGGED] = "unplugged",   [DPS_DROP_QUEUE_FULL] = "queue_full",
	[DPS_DROP_NO_MBUF] = "no_mbuf",	      [DPS_DROP_OVERSIZE] = "oversize",
	[DPS_DROP_RING] = "ring",	      [DPS_DROP_TX_ERROR] = "tx_error",
	[DPS_DROP_NO_BUFFERS] = "no_buffers",
	[DPS_DROP_POOL_LOW] = "pool_low",
	[DPS_DROP_STALLED] = "stalled",
};

const char *dps_drop_name(enum dps_drop why)
{
	return why < DPS_DROP_COUNT ? drop_names[why] : "?";
}

int dps_queued_off = -1;

int dps_queued_register(void)
{
	static const struct rte_mbuf_dynfield f = {
		.name = "dpswitch_queued_ms",
		.size = sizeof(uint32_t),
		.align = __alignof__(uint32_t),
	};

	dps_queued_off = rte_mbuf_dynfield_register(&f);
	if (dps_queued_off < 0)
		return err_set(-rte_errno, "an mbuf field for the drain: %s",
			       rte_strerror(rte_errno));
	return 0;
}

void dps_drop(struct dps_port *p, enum dps_drop why, struct rte_mbuf *m)
{
	p->c.drops[why]++;
	if (m)
		rte_pktmbuf_free(m);
}

int dps_port_alloc(struct dps *d, enum dps_port_kind kind, const char *name)
{
	unsigned idx = d->free_head;
	struct dps_port *p;

	/* a slot given back first; else the next never used, whose pages
	 * this touches first (dps.h) */
	if (idx < DPS_MAX_PORTS)
		d->free_head = d->ports[idx].next_free;
	else if (d->nslots < DPS_MAX_PORTS)
		idx = d->nslots++;
	else
		return err_set(-ENOSPC, "%s: no free port (%u in use)", name, DPS_MAX_PORTS);
	p = &d->ports[idx];
	memset(p, 0, offsetof(struct dps_port, outq));
	p->nout = 0;
	p->vif = NULL;
	p->wake_fd = -1;
	p->kp = NULL;
	memset(&p->q, 0, sizeof(p->q));
	p->kind = kind;
	p->active = p->ready = p->dirty = -1;
	snprintf(p->name, sizeof(p->name), "%s", name);
	return (int)idx;
}

void dps_port_ready(struct dps *d, unsigned idx)
{
	struct dps_port *p = &d->ports[idx];

	if (p->ready >= 0 || p->active < 0)
		return;
	p->ready = (int)d->nready;
	d->ready[d->nready++] = (uint16_t)idx;
}

void dps_port_unready(struct dps *d, unsigned idx)
{
	struct dps_port *p = &d->ports[idx];
	unsigned last;

	if (p->ready < 0)
		return;
	/* swap-remove: the last ready port takes its place (a pass walks
	 * the array from its end, so that one was polled already) */
	last = d->ready[--d->nready];
	d->ready[p->ready] = (uint16_t)last;
	d->ports[last].ready = p->ready;
	p->ready = -1;
}

static void dirty_add(struct dps *d, unsigned idx)
{
	struct dps_port *p = &d->ports[idx];

	if (p->dirty >= 0)
		return;
	p->dirty = (int)d->ndirty;
	d->dirty[d->ndirty++] = (uint16_t)idx;
}

static void dirty_del(struct dps *d, unsigned idx)
{
	struct dps_port *p = &d->ports[idx];
	unsigned last;

	if (p->dirty < 0)
		return;
	last = d->dirty[--d->ndirty];
	d->dirty[p->dirty] = (uint16_t)last;
	d->ports[last].dirty = p->dirty;
	p->dirty = -1;
}

/* Out of the polled set (rings gone). */
static void deactivate(struct dps *d, unsigned idx)
{
	struct dps_port *p = &d->ports[idx];
	unsigned last;

	if (p->active < 0)
		return;
	dps_port_unready(d, idx);
	/* swap-remove: the last active port takes its place */
	last = d->active[--d->nactive];
	d->active[p->active] = (uint16_t)last;
	d->ports[last].active = p->active;
	p->active = -1;
}

void dps_port_update(struct dps *d, unsigned idx)
{
	struct dps_port *p = &d->ports[idx];
	bool polled = p->kind == DPS_PORT_NIC || p->connected;
	bool fwd = polled && p->plugged;

	if (polled && p->active < 0) {
		p->active = (int)d->nactive;
		d->active[d->nactive++] = (uint16_t)idx;
		/* a first look: requests may be there before any event */
		dps_port_ready(d, idx);
	} else if (!polled) {
		deactivate(d, idx);
	}
	if (p->forwarding && !fwd) {
		/* every MAC learnt on it is gone with this (mac_table.h), and
		 * what waited for it */
		d->gen[idx]++;
		d->ports_gone++;
		while (p->nout)
			dps_drop(p, DPS_DROP_UNPLUGGED, p->outq[--p->nout]);
		dirty_del(d, idx);
		d->nfwd--;
		dps_held_share(d);
	} else if (!p->forwarding && fwd) {
		d->nfwd++;
		dps_held_share(d);
	}
	p->forwarding = fwd;
}

void dps_port_free(struct dps *d, unsigned idx)
{
	struct dps_port *p = &d->ports[idx];

	p->connected = p->plugged = false;
	free(p->keys);
	p->keys = NULL;
	dps_port_update(d, idx);
	p->kind = DPS_PORT_FREE;
	p->next_free = d->free_head;
	d->free_head = idx;
}

static void enqueue(struct dps *d, unsigned out, struct rte_mbuf *m)
{
	struct dps_port *p = &d->ports[out];

	/* a stalled guest takes nothing until it posts buffers again (a
	 * look at its ring: netback's carrier off, and on at its next
	 * buffer); its ring may prove broken there, as in a flush below */
	if (p->kind == DPS_PORT_GUEST && p->q.stalled && !dps_guest_ready(d, out)) {
		dps_drop(p, p->forwarding ? DPS_DROP_STALLED : DPS_DROP_UNPLUGGED, m);
		return;
	}
	if (p->nout >= DPS_OUTQ) {
		/* a GSO packet's frames can fill a queue within one pass:
		 * hand what waits to the port now rather than drop */
		if (p->kind == DPS_PORT_NIC)
			dps_nic_flush(d, out);
		else
			dps_guest_flush(d, out);
	}
	/* a guest whose ring the flush found broken left the switch there
	 * (guest.c's lost: its queue dropped, its port no longer forwarding
	 * nor active): the frame goes as its queue went, not onto a port
	 * that is never flushed again */
	if (!p->forwarding) {
		dps_drop(p, DPS_DROP_UNPLUGGED, m);
		return;
	}
	if (p->nout >= DPS_OUTQ) {
		dps_drop(p, DPS_DROP_QUEUE_FULL, m);
		return;
	}
	if (!p->nout) {
		dirty_add(d, out);
		p->held = 0;
	}
	if (p->kind == DPS_PORT_GUEST) {
		if (!dps_guest_admits(d, out, m, m->nb_segs)) {
			dps_drop(p, DPS_DROP_POOL_LOW, m);
			return;
		}
		p->held += m->nb_segs;
	}
	if (p->kind == DPS_PORT_GUEST)
		DPS_QUEUED_MS(m) = (uint32_t)d->now_ms;
	p->outq[p->nout++] = m;
}

/* A GSO packet handed whole (guest.c's tso_fwd) that port out cannot
 * take whole: its frames, cut from the guest's packet, go there instead. */
static bool takes_whole(struct dps *d, unsigned in, unsigned out, const struct rte_mbuf *m)
{
	const struct dps_port *p = &d->ports[out];

	/* from a kernel port (its GSO packet, kport.c): to a guest that
	 * asked for GSO only; its checksum field is the kernel's, not the
	 * one TSO wants */
	if (d->ports[in].kind == DPS_PORT_NIC)
		return dps_guest_takes_gso(d, out, &d->gso_hdr, m->tso_segsz, m->pkt_len);

	/* one that points into the TX arena goes to a kernel port only
	 * (dps_kport_settle): it would not outlive the pass elsewhere */
	if (RTE_MBUF_HAS_EXTBUF(m) && !p->kp)
		return false;
	return p->kind == DPS_PORT_NIC && p->nout < DPS_TSO_QUEUED &&
	       dps_tso_fits(&p->tso, &d->gso_hdr, m->tso_segsz, m->nb_segs);
}

static void enqueue_cut(struct dps *d, unsigned in, unsigned out)
{
	struct rte_mbuf *seg[DPS_GSO_MAX_SEGS];
	unsigned n = dps_guest_gso_cut(d, in, seg);

	for (unsigned j = 0; j < n; j++)
		enqueue(d, out, seg[j]);
}

static const enum dps_drop verdict_drop[DPS_POL_COUNT] = {
	[DPS_POL_MAC] = DPS_DROP_SPOOF_MAC,	[DPS_POL_IP] = DPS_DROP_SPOOF_IP,
	[DPS_POL_ARP] = DPS_DROP_SPOOF_ARP,	[DPS_POL_ND] = DPS_DROP_SPOOF_ND,
	[DPS_POL_FORBIDDEN] = DPS_DROP_FORBIDDEN, [DPS_POL_MALFORMED] = DPS_DROP_MALFORMED,
};

void dps_fwd(struct dps *d, unsigned in, struct rte_mbuf **m, unsigned n)
{
	struct dps_port *ip = &d->ports[in];
	/* the last frame's addresses and where they went: a flow's frames
	 * come in runs, and a frame with the same destination and source as
	 * the one before, from the same port in the same pass, learns
	 * nothing new and goes the same way, unless a port went meanwhile */
	uint8_t last[12];
	uint16_t last_out = DPS_MAC_NONE;
	uint32_t last_gone = d->ports_gone;
	bool cached = false;

	d->taken += n;
	for (unsigned i = 0; i < n; i++) {
		const uint8_t *f = rte_pktmbuf_mtod(m[i], const uint8_t *);
		/* a GSO packet handed whole is a chain: its headers are in
		 * the first mbuf, which is what the policy reads */
		uint32_t len = rte_pktmbuf_data_len(m[i]);
		bool whole = m[i]->ol_flags & RTE_MBUF_F_TX_TCP_SEG;
		uint16_t out;

		if (!ip->forwarding) {
			dps_drop(ip, DPS_DROP_UNPLUGGED, m[i]);
			continue;
		}
		if (len < 14) {
			dps_drop(ip, DPS_DROP_MALFORMED, m[i]);
			continue;
		}
		if (ip->kind == DPS_PORT_GUEST) {
			enum dps_verdict v = dps_pol_check(&ip->pol, f, len);

			if (v != DPS_POL_OK) {
				dps_drop(ip, verdict_drop[v], m[i]);
				continue;
			}
		}
		ip->c.rx_pkts++;
		ip->c.rx_bytes += rte_pktmbuf_pkt_len(m[i]);
		if (cached && last_gone == d->ports_gone && !memcmp(f, last, sizeof(last))) {
			out = last_out;
		} else {
			if (!(f[6] & 1))
				dps_mac_learn(&d->macs, f + 6, (uint16_t)in, d->now_ms);
			out = f[0] & 1 ? DPS_MAC_NONE : dps_mac_lookup(&d->macs, f, d->now_ms);
			memcpy(last, f, sizeof(last));
			last_out = out;
			last_gone = d->ports_gone;
			cached = true;
		}
		if (out != DPS_MAC_NONE) {
			if (out == in || !d->ports[out].forwarding) {
				rte_pktmbuf_free(m[i]); /* hairpin: a bridge does not send it back */
			} else if (whole && !takes_whole(d, in, out, m[i])) {
				enqueue_cut(d, in, out);
				rte_pktmbuf_free(m[i]);
			} else {
				enqueue(d, out, m[i]);
			}
			continue;
		}
		d->flooded++;
		if (whole) {
			/* flooded (the destination went between guest.c's look
			 * and here): each port gets the frames. From the end, as
			 * below */
			for (unsigned k = d->nactive; k-- > 0;)
				if (d->active[k] != in && d->ports[d->active[k]].forwarding)
					enqueue_cut(d, in, d->active[k]);
			rte_pktmbuf_free(m[i]);
			continue;
		}
		/* flood: one reference per other forwarding port (it is one).
		 * From the end: a guest lost as its full queue is flushed
		 * (enqueue) leaves the active ports, the last taking its place,
		 * which this way was given its reference already; from the
		 * start it would be skipped, and its reference never freed */
		if (d->nfwd > 1)
			rte_mbuf_refcnt_update(m[i], (int16_t)(d->nfwd - 2));
		else
			rte_pktmbuf_free(m[i]);
		d->flood = m[i];
		d->flood_counted = false;
		for (unsigned k = d->nactive; k-- > 0;)
			if (d->active[k] != in && d->ports[d->active[k]].forwarding)
				enqueue(d, d->active[k], m[i]);
		/* freed by the last port, its address may be the next frame's */
		d->flood = NULL;
	}
}

bool dps_flush(struct dps *d)
{
	/* from the end: a port emptied is swapped out with one already seen */
	for (unsigned k = d->ndirty; k-- > 0;) {
		unsigned idx = d->dirty[k];
		struct dps_port *p = &d->ports[idx];

		if (p->nout && p->forwarding) {
			uint64_t sent = p->c.tx_pkts;

			if (p->kind == DPS_PORT_NIC)
				dps_nic_flush(d, idx);
			else
				dps_guest_flush(d, idx);
			d->sent += p->c.tx_pkts - sent;
		}
		if (!p->nout)
			dirty_del(d, idx);
	}
	return d->ndirty != 0;
}
