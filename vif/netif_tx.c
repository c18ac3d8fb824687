/* netif_tx: the guest's transmit ring -> linear packets in private memory.
 *
 * Per packet, as Linux netback's xenvif_tx_build_gops/xenvif_count_requests
 * (drivers/net/xen-netback/netback.c) with every request copied once:
 *   first request [extra-info records] [follow-on requests while more_data]
 * The first request's size is the whole packet; follow-on sizes are their
 * fragments; the first fragment is what is left. Faults netback calls
 * malicious make the queue fatal; lesser ones drop the packet with an
 * error response on each of its slots. Every slot gets exactly one
 * response (NETIF_RSP_NULL for extra-info slots), in ring order. A
 * grant the copy cannot use fails its packet (error responses), not the
 * queue, as in netback. */
#include "vif/netif.h"

#include <errno.h>
#include <string.h>

#include "vif/netif-internal.h"


static struct netif_tx_request tx_req_copy(const struct netif_queue *q, RING_IDX idx)
{
	/* RING_COPY_REQUEST: one volatile read of the slot (XSA-155). */
	return *(volatile struct netif_tx_request *)&q->tx->ring[idx & (NETIF_TX_RING_SIZE - 1)].req;
}

/* Extra-info records after the first request. 0, or -EPROTO (fatal). */
static int tx_get_extras(struct netif_queue *q, RING_IDX cons, RING_IDX *idx, int avail,
			 struct netif_tx_plan *pl, struct netif_tx_rsp *rsp, unsigned *nrsp, bool *mcast)
{
	unsigned seen = 0;
	bool more = true;

	while (more) {
		struct netif_tx_request raw;
		struct netif_extra_info ex;

		if ((int)(*idx - cons) >= avail)
			return netif_queue_set_fatal(q, "tx: extra info missing past the producer");
		raw = tx_req_copy(q, *idx);
		memcpy(&ex, &raw, sizeof(ex));
		(*idx)++;
		rsp[(*nrsp)++] = (struct netif_tx_rsp){ raw.id, NETIF_RSP_NULL };
		if (ex.type == XEN_NETIF_EXTRA_TYPE_NONE || ex.type >= XEN_NETIF_EXTRA_TYPE_MAX)
			return netif_queue_set_fatal(q, "tx: unknown extra info type %u", ex.type);
		if (seen & (1u << ex.type))
			return netif_queue_set_fatal(q, "tx: extra info type %u twice in a packet",
						     ex.type);
		seen |= 1u << ex.type;
		switch (ex.type) {
		case XEN_NETIF_EXTRA_TYPE_GSO:
			if (ex.u.gso.size == 0)
				return netif_queue_set_fatal(q, "tx: GSO size 0");
			if (ex.u.gso.type != XEN_NETIF_GSO_TYPE_TCPV4 &&
			    ex.u.gso.type != XEN_NETIF_GSO_TYPE_TCPV6)
				return netif_queue_set_fatal(q, "tx: unknown GSO type %u",
							     ex.u.gso.type);
			pl->pkt.gso_type = ex.u.gso.type;
			pl->pkt.gso_size = ex.u.gso.size;
			break;
		case XEN_NETIF_EXTRA_TYPE_MCAST_ADD:
		case XEN_NETIF_EXTRA_TYPE_MCAST_DEL:
			/* We offer no multicast control: acknowledged, not a packet. */
			*mcast = true;
			break;
		default: /* HASH: a hint we do not use */
			break;
		}
		more = ex.flags & XEN_NETIF_EXTRA_FLAG_MORE;
	}
	return 0;
}

/* One packet at cons. 0 with *used slots consumed; 1 when it must wait
 * (credit, arena) and nothing was consumed; -EPROTO fatal. */
static int tx_gather(struct netif_queue *q, RING_IDX cons, int avail, uint8_t *dst,
		     size_t room, uint64_t now_us, uint64_t *wait_us, struct netif_tx_plan *pl,
		     struct netif_tx_rsp *rsp, unsigned *nrsp, unsigned *nseg, unsigned *used)
{
	struct netif_tx_request first = tx_req_copy(q, cons), txp;
	struct hv_copy *seg;
	RING_IDX idx = cons + 1;
	unsigned follow = 0, first_seg = *nseg;
	uint32_t rest, off;
	bool more, drop = false, mcast = false;
	int rc;

	if (first.size > room)
		return 1;
	if (q->credit.usecs && !netif_credit_take(&q->credit, first.size, now_us, wait_us))
		return 1;
	memset(pl, 0, sizeof(*pl));
	pl->first_rsp = *nrsp;
	pl->first_seg = first_seg;
	rsp[(*nrsp)++] = (struct netif_tx_rsp){ first.id, NETIF_RSP_OKAY };
	if (first.flags & NETTXF_extra_info) {
		rc = tx_get_extras(q, cons, &idx, avail, pl, rsp, nrsp, &mcast);
		if (rc < 0)
			return rc;
	}
	/* Follow-on slots (xenvif_count_requests). */
	rest = first.size;
	off = 0;
	(*nseg)++; /* the first fragment's segment, filled in below */
	more = first.flags & NETTXF_more_data;
	while (more) {
		if ((int)(idx - cons) >= avail)
			return netif_queue_set_fatal(q, "tx: packet runs past the producer (%u slots)",
						     idx - cons);
		if (follow >= NETIF_TX_FATAL_FOLLOW)
			return netif_queue_set_fatal(q, "tx: malicious frontend: more than %u slots",
						     NETIF_TX_FATAL_FOLLOW + 1);
		if (follow >= NETIF_TX_MAX_FOLLOW)
			drop = true;
		txp = tx_req_copy(q, idx);
		idx++;
		follow++;
		rsp[(*nrsp)++] = (struct netif_tx_rsp){ txp.id, NETIF_RSP_OKAY };
		if ((uint32_t)txp.offset + txp.size > NETIF_PAGE_SIZE)
			return netif_queue_set_fatal(q, "tx: slot crosses its page (offset %u size %u)",
						     txp.offset, txp.size);
		if (txp.size > rest)
			drop = true; /* buggy, not malicious: frames of >= 64 KiB */
		else
			rest -= txp.size;
		more = txp.flags & NETTXF_more_data;
		/* XSA-448: an empty slot is answered, never copied, its gref unread. */
		if (drop || txp.size == 0)
			continue;
		seg = &q->scratch->segs[(*nseg)++];
		*seg = (struct hv_copy){ .domid = q->domid, .ref = txp.gref, .offset = txp.offset,
					 .len = txp.size };
	}
	*used = idx - cons;
	if (!drop && rest < NETIF_ETH_HLEN)
		drop = true; /* the Ethernet header must be in the first slot */
	if (!drop && (uint32_t)first.offset + rest > NETIF_PAGE_SIZE)
		return netif_queue_set_fatal(q, "tx: first slot crosses its page (offset %u size %u)",
					     first.offset, rest);
	if (drop || mcast) {
		*nseg = first_seg;
		pl->nrsp = *nrsp - pl->first_rsp;
		if (drop) {
			for (unsigned i = pl->first_rsp; i < *nrsp; i++)
				if (rsp[i].status == NETIF_RSP_OKAY)
					rsp[i].status = NETIF_RSP_ERROR;
			q->stats.tx_dropped++;
		}
		return 0;
	}
	q->scratch->segs[first_seg] = (struct hv_copy){ .domid = q->domid, .ref = first.gref,
					       .offset = first.offset, .len = (uint16_t)rest };
	/* Lay the fragments out one after the other: the packet is linear. */
	off = 0;
	for (unsigned i = first_seg; i < *nseg; i++) {
		q->scratch->segs[i].to_guest = false;
		q->scratch->segs[i].local = dst + off;
		off += q->scratch->segs[i].len;
	}
	pl->first_seg = first_seg;
	pl->nseg = *nseg - first_seg;
	pl->nrsp = *nrsp - pl->first_rsp;
	pl->deliver = true;
	pl->pkt.data = dst;
	pl->pkt.len = first.size;
	if (first.flags & NETTXF_csum_blank)
		pl->pkt.flags |= NETIF_PKT_CSUM_BLANK;
	if (first.flags & NETTXF_data_validated)
		pl->pkt.flags |= NETIF_PKT_DATA_VALIDATED;
	/* netback forces GSO frames to a partial checksum */
	if (pl->pkt.gso_type != XEN_NETIF_GSO_TYPE_NONE)
		pl->pkt.flags |= NETIF_PKT_CSUM_BLANK;
	return 0;
}

/* Writes rsp[0..n) in ring order. */
static void tx_respond(struct netif_queue *q, const struct netif_tx_rsp *rsp, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		struct netif_tx_response *r =
			&q->tx->ring[q->tx_rsp_prod_pvt++ & (NETIF_TX_RING_SIZE - 1)].rsp;

		r->id = rsp[i].id;
		r->status = rsp[i].status;
	}
}

/* The copier gave up on the whole batch: every packet of it is an error. */
static void tx_fail_all(struct netif_queue *q, struct netif_tx_plan *plans, unsigned np,
			struct netif_tx_rsp *rsp)
{
	for (unsigned p = 0; p < np; p++) {
		if (!plans[p].deliver)
			continue;
		plans[p].deliver = false;
		q->stats.tx_errors++;
		for (unsigned i = plans[p].first_rsp; i < plans[p].first_rsp + plans[p].nrsp; i++)
			if (rsp[i].status == NETIF_RSP_OKAY)
				rsp[i].status = NETIF_RSP_ERROR;
	}
}

/* A copy the guest's grant refused (foreign, revoked, bogus ref): that
 * packet is answered with errors, as netback's xenvif_tx_check_gop does;
 * the queue goes on. */
static void tx_check_copies(struct netif_queue *q, struct netif_tx_plan *plans, unsigned np,
			    struct netif_tx_rsp *rsp)
{
	for (unsigned p = 0; p < np; p++) {
		const struct netif_tx_plan *pl = &plans[p];
		bool ok = true;

		if (!pl->deliver)
			continue;
		for (unsigned i = pl->first_seg; i < pl->first_seg + pl->nseg; i++)
			ok &= q->scratch->segs[i].status == HV_GNTST_OKAY;
		if (ok)
			continue;
		plans[p].deliver = false;
		q->stats.tx_errors++;
		for (unsigned i = plans[p].first_rsp; i < plans[p].first_rsp + plans[p].nrsp; i++)
			if (rsp[i].status == NETIF_RSP_OKAY)
				rsp[i].status = NETIF_RSP_ERROR;
	}
}

int netif_tx_burst(struct netif_queue *q, struct netif_tx_arena *arena, uint64_t now_us,
		   struct netif_pkt *pkts, unsigned max, unsigned *n, bool *more, bool *notify,
		   uint64_t *wait_us)
{
	struct netif_tx_rsp *rsp = q->scratch->u.tx.rsp;
	struct netif_tx_plan *plans = q->scratch->u.tx.plans;
	unsigned np = 0, nrsp = 0, nseg = 0;
	size_t used_bytes = 0;
	RING_IDX prod;
	int avail, rc = 0, copy_rc = 0;
	bool stopped = false;

	*n = 0;
	*more = *notify = false;
	*wait_us = 0;
	if (q->fatal)
		return -EPROTO;
	if (max > NETIF_BURST)
		max = NETIF_BURST;
	if (arena->cap < NETIF_MAX_PKT)
		return -EINVAL;
	avail = netif_req_avail(q, &q->tx->req_prod, q->tx_req_cons, q->tx_rsp_prod_pvt,
				NETIF_TX_RING_SIZE, "tx", &q->tx_req_seen, &prod);
	if (avail < 0)
		return -EPROTO;
	while (avail > 0 && np < max) {
		unsigned slots = 0;

		rc = tx_gather(q, q->tx_req_cons, avail, arena->buf + used_bytes,
			       arena->cap - used_bytes, now_us, wait_us, &plans[np], rsp, &nrsp,
			       &nseg, &slots);
		if (rc < 0)
			return rc;
		if (rc > 0) {
			stopped = true;
			break;
		}
		q->tx_req_cons += slots;
		avail -= (int)slots;
		/* the next packet on a cache line of its own: the grant copy
		 * into it and the consumer's copy out of it (a TAP write) run
		 * aligned, as the guest's pages do (bench/vifback, one TCP
		 * stream guest -> Dom0: the worker's CPU per 64 KiB 10 %
		 * lower, docs/xen.md) */
		if (plans[np].deliver)
			used_bytes = (used_bytes + plans[np].pkt.len + NETIF_ARENA_ALIGN - 1) &
				     ~(size_t)(NETIF_ARENA_ALIGN - 1);
		if (used_bytes > arena->cap)
			used_bytes = arena->cap;
		np++;
	}
	if (nseg) {
		copy_rc = q->copy(q->copy_ctx, q->scratch->segs, nseg);
		if (copy_rc < 0) {
			tx_fail_all(q, plans, np, rsp);
		} else {
			tx_check_copies(q, plans, np, rsp);
		}
	}
	for (unsigned p = 0; p < np; p++) {
		if (!plans[p].deliver)
			continue;
		pkts[(*n)++] = plans[p].pkt;
		q->stats.tx_pkts++;
		q->stats.tx_bytes += plans[p].pkt.len;
	}
	tx_respond(q, rsp, nrsp);
	if (nrsp)
		*notify = netif_rsp_push(&q->tx->rsp_prod, &q->tx->rsp_event, q->tx_rsp_prod_pvt);
	if (*wait_us)
		*more = false; /* the credit timer calls again */
	else if (stopped || avail > 0)
		*more = true;
	else if (q->tx_polling)
		*more = false; /* the caller looks again itself */
	else
		*more = netif_req_final_check(&q->tx->req_event, &q->tx->req_prod, q->tx_req_cons);
	return copy_rc;
}

bool netif_tx_pending(const struct netif_queue *q)
{
	return __atomic_load_n(&q->tx->req_prod, __ATOMIC_ACQUIRE) != q->tx_req_cons;
}

bool netif_tx_arm(struct netif_queue *q)
{
	q->tx_polling = false;
	if (q->fatal)
		return false;
	return netif_req_final_check(&q->tx->req_event, &q->tx->req_prod, q->tx_req_cons);
}
