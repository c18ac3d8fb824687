/* netif_rx: packets -> the buffers the guest posted on its receive ring.
 *
 * As Linux netback's rx.c: a packet fills 4 KiB buffers from offset 0, one
 * response per consumed request in the same ring slot (Linux netfront
 * ignores the response id and reads slot by slot); a GSO packet's extra
 * info overlays the response of the second slot it consumed, flagged on
 * the first. All copies of a burst go to the copier at once. */
#include "vif/netif.h"

#include <errno.h>
#include <string.h>

#include "vif/netif-internal.h"


int netif_rx_slots_avail(struct netif_queue *q, unsigned *avail)
{
	RING_IDX prod;
	int n;

	*avail = 0;
	if (q->fatal)
		return -EPROTO;
	n = netif_req_avail(q, &q->rx->req_prod, q->rx_req_cons, q->rx_rsp_prod_pvt,
			    NETIF_RX_RING_SIZE, "rx", &q->rx_req_seen, &prod);
	if (n < 0)
		return -EPROTO;
	*avail = (unsigned)n;
	return 0;
}

unsigned netif_rx_slots_needed(const struct netif_queue *q, const struct netif_pkt *p)
{
	unsigned slots;

	if (p->len == 0 || p->len > NETIF_MAX_PKT)
		return 0;
	slots = (p->len + NETIF_PAGE_SIZE - 1) / NETIF_PAGE_SIZE;
	if (slots > 1 && !q->feat.sg)
		return 0;
	switch (p->gso_type) {
	case XEN_NETIF_GSO_TYPE_NONE:
		return slots;
	case XEN_NETIF_GSO_TYPE_TCPV4:
		return q->feat.gso_tcpv4 && p->gso_size ? slots + 1 : 0;
	case XEN_NETIF_GSO_TYPE_TCPV6:
		return q->feat.gso_tcpv6 && p->gso_size ? slots + 1 : 0;
	default:
		return 0;
	}
}

/* Asks the frontend for an event once the buffer that completes `need`
 * from the consumer is posted, then looks once more (the post may have
 * come between the last look and the write). Where netback's
 * xenvif_rx_ring_slots_available asks at the next buffer posted, this asks
 * at the last one the waiting packet needs: a frontend that posts a few
 * buffers at a time does not kick a backend that cannot use them yet (a
 * 64 KiB GSO packet needs 17). Linux netfront posts at least
 * NET_RX_SLOTS_MIN (19) at a time: it kicks as before. */
static int rx_arm(struct netif_queue *q, unsigned need, unsigned *avail)
{
	int rc;

	__atomic_store_n(&q->rx->req_event, q->rx_req_cons + need, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	rc = netif_rx_slots_avail(q, avail);
	if (rc < 0)
		return rc;
	return *avail >= need;
}

/* Whether `need` buffers are posted; if not, asks for the event above,
 * unless the consumer polls (rx_polling: it looks again itself, and
 * netif_rx_arm() asks when it stops). */
static int rx_wait_for(struct netif_queue *q, unsigned need, unsigned *avail)
{
	int rc;

	if (*avail >= need)
		return 1;
	q->rx_need = need;
	if (q->rx_polling)
		return 0;
	rc = rx_arm(q, need, avail);
	if (rc == 1)
		q->rx_need = 0; /* posted meanwhile: it does not wait */
	return rc;
}

int netif_rx_arm(struct netif_queue *q)
{
	unsigned avail = 0;
	int rc;

	q->rx_polling = false;
	if (q->fatal)
		return -EPROTO;
	if (!q->rx_need)
		return 0;
	rc = rx_arm(q, q->rx_need, &avail);
	return rc < 0 ? -EPROTO : rc;
}

/* Flags for the first response; completes a checksum the frontend cannot
 * take blank. false: drop the packet (headers not parseable). */
static bool rx_csum(const struct netif_queue *q, struct netif_pkt *p, uint16_t *flags)
{
	uint16_t l3;
	uint32_t l4_off;
	uint8_t l4;
	bool blank_ok;

	*flags = 0;
	if (p->flags & NETIF_PKT_CSUM_BLANK) {
		if (netif_hdr_l4(p->data, p->len, &l3, &l4_off, &l4) < 0)
			return false;
		blank_ok = l3 == 0x0800 ? q->feat.csum : q->feat.ipv6_csum;
		if (blank_ok || p->gso_type != XEN_NETIF_GSO_TYPE_NONE) {
			*flags = NETRXF_csum_blank | NETRXF_data_validated;
			return true;
		}
		if (netif_hdr_csum_complete(p->data, p->len) < 0)
			return false;
		/* done once, even if the packet waits for buffers */
		p->flags = (p->flags & ~NETIF_PKT_CSUM_BLANK) | NETIF_PKT_DATA_VALIDATED;
		*flags = NETRXF_data_validated;
		return true;
	}
	if (p->flags & NETIF_PKT_DATA_VALIDATED)
		*flags = NETRXF_data_validated;
	return true;
}

static void rx_respond(struct netif_queue *q, const struct netif_rx_slot *s, unsigned n,
		       const struct netif_pkt *gso_of[])
{
	for (unsigned i = 0; i < n; i++) {
		union netif_rx_sring_entry *e =
			&q->rx->ring[q->rx_rsp_prod_pvt++ & (NETIF_RX_RING_SIZE - 1)];

		if (s[i].extra) {
			struct netif_extra_info ex;

			memset(&ex, 0, sizeof(ex));
			ex.type = XEN_NETIF_EXTRA_TYPE_GSO;
			ex.u.gso.type = gso_of[i]->gso_type;
			ex.u.gso.size = gso_of[i]->gso_size;
			memcpy(e, &ex, sizeof(ex));
			continue;
		}
		e->rsp.id = s[i].id;
		e->rsp.offset = 0;
		e->rsp.flags = s[i].flags;
		e->rsp.status = s[i].status;
	}
}

int netif_rx_burst(struct netif_queue *q, struct netif_pkt *pkts, unsigned n, unsigned *done,
		   bool *notify)
{
	struct netif_rx_slot *slots = q->scratch->u.rx.slots;
	uint16_t *seg_slot = q->scratch->u.rx.seg_slot;
	uint8_t *seg_pkt = q->scratch->u.rx.seg_pkt;
	bool *failed = q->scratch->u.rx.failed;
	const struct netif_pkt **gso_of = q->scratch->u.rx.gso_of;
	unsigned avail, nslot = 0, nseg = 0, delivered = 0;
	bool waited = q->rx_need != 0;
	int rc;

	*done = 0;
	*notify = false;
	q->rx_need = 0;
	rc = netif_rx_slots_avail(q, &avail);
	if (rc < 0)
		return rc;
	if (n > NETIF_BURST)
		n = NETIF_BURST;
	for (unsigned i = 0; i < n; i++) {
		struct netif_pkt *p = &pkts[i];
		unsigned need = netif_rx_slots_needed(q, p), first = nslot;
		uint32_t off = 0;
		uint16_t flags;

		if (need == 0 || !rx_csum(q, p, &flags)) {
			q->stats.rx_dropped++;
			(*done)++;
			continue;
		}
		rc = rx_wait_for(q, need, &avail);
		if (rc < 0)
			return rc;
		if (rc == 0) {
			/* a wait, not a retry: the packet the last burst
			 * stopped at is first again unless this one moved on */
			if (!waited || *done)
				q->stats.rx_full++;
			break;
		}
		for (unsigned k = 0; k < need; k++) {
			struct netif_rx_request req = *(volatile struct netif_rx_request *)&q->rx
				->ring[(q->rx_req_cons + k) & (NETIF_RX_RING_SIZE - 1)].req;
			struct netif_rx_slot *s = &slots[nslot++];

			*s = (struct netif_rx_slot){ .id = req.id };
			if (k == 1 && p->gso_type != XEN_NETIF_GSO_TYPE_NONE) {
				s->extra = true;
				gso_of[nslot - 1] = p;
				continue;
			}
			uint32_t len = p->len - off < NETIF_PAGE_SIZE ? p->len - off : NETIF_PAGE_SIZE;
			seg_slot[nseg] = (uint16_t)(nslot - 1);
			seg_pkt[nseg] = (uint8_t)i;
			q->scratch->segs[nseg++] = (struct hv_copy){ .to_guest = true, .domid = q->domid,
							    .ref = req.gref, .offset = 0,
							    .len = (uint16_t)len, .local = p->data + off };
			s->status = (int16_t)len;
			off += len;
			if (off < p->len)
				s->flags |= NETRXF_more_data;
		}
		slots[first].flags |= flags;
		if (p->gso_type != XEN_NETIF_GSO_TYPE_NONE)
			slots[first].flags |= NETRXF_extra_info;
		q->rx_req_cons += need;
		avail -= need;
		q->stats.rx_pkts++;
		q->stats.rx_bytes += p->len;
		delivered++;
		(*done)++;
	}
	if (nseg) {
		rc = q->copy(q->copy_ctx, q->scratch->segs, nseg);
		if (rc == 0) {
			/* a buffer the guest's grant refused (foreign, revoked,
			 * read-only): that slot says so and the frontend drops the
			 * packet, as netback's xenvif_rx_copy_flush answers */
			memset(failed, 0, sizeof(q->scratch->u.rx.failed));
			for (unsigned i = 0; i < nseg; i++)
				if (q->scratch->segs[i].status != HV_GNTST_OKAY) {
					const struct netif_pkt *p = &pkts[seg_pkt[i]];

					slots[seg_slot[i]].status = NETIF_RSP_ERROR;
					if (failed[seg_pkt[i]])
						continue;
					failed[seg_pkt[i]] = true;
					q->stats.rx_pkts--;
					q->stats.rx_bytes -= p->len;
					q->stats.rx_errors++;
				}
		} else {
			/* The buffers are consumed; give them back empty. */
			for (unsigned i = 0; i < nslot; i++)
				slots[i] = (struct netif_rx_slot){ .id = slots[i].id,
							     .status = NETIF_RSP_ERROR };
			for (unsigned i = 0; i < nseg; i++)
				if (i == 0 || seg_pkt[i] != seg_pkt[i - 1])
					q->stats.rx_bytes -= pkts[seg_pkt[i]].len;
			q->stats.rx_pkts -= delivered;
			q->stats.rx_errors += delivered;
		}
	}
	rx_respond(q, slots, nslot, gso_of);
	if (nslot)
		*notify = netif_rsp_push(&q->rx->rsp_prod, &q->rx->rsp_event, q->rx_rsp_prod_pvt);
	return rc;
}
