/* rings: a queue's rings mapped and its event channels bound (see
 * rings.h). */
#include "netback/rings.h"

#include <string.h>
#include <time.h>

#include "hypervisor/hv.h"
#include "lib/err.h"

/* Whether producer p is news: past the furthest one a kick saw (*seen,
 * which it becomes), and no further past rsp, the responses published,
 * than the ring holds (a producer beyond is the next burst's violation).
 * Without a response in between, *seen - rsp only grows: size times at
 * most. A *seen that responses have passed (or none yet) is behind rsp:
 * anything the ring holds is past it. */
static bool prod_news(RING_IDX p, RING_IDX *seen, RING_IDX rsp, unsigned size)
{
	if (p - rsp > size)
		return false;
	if (*seen - rsp <= size && p - rsp <= *seen - rsp)
		return false;
	*seen = p;
	return true;
}

uint64_t nb_spurious_kick(struct nb_spurious *s, struct netif_queue *nq, uint64_t now_us)
{
	RING_IDX tx_prod, rx_prod;
	bool tx_news, rx_news;
	unsigned sh;

	/* a guest that moved a producer back broke its ring: no news to
	 * judge (nor any ring to serve) */
	if (netif_req_prods(nq, &tx_prod, &rx_prod) < 0)
		return 0;
	tx_news = prod_news(tx_prod, &s->seen_tx, nq->tx_rsp_prod_pvt, NETIF_TX_RING_SIZE);
	rx_news = prod_news(rx_prod, &s->seen_rx, nq->rx_rsp_prod_pvt, NETIF_RX_RING_SIZE);
	if (tx_news || rx_news) {
		s->run = 0;
	} else {
		s->events++;
		if (s->run < UINT8_MAX)
			s->run++;
	}
	if (s->run <= NB_SPURIOUS_FREE)
		return 0;
	sh = s->run - NB_SPURIOUS_FREE - 1;
	/* 1 ms << 9 is the last step under NB_SPURIOUS_MAX_US */
	return now_us + (sh < 10 ? NB_SPURIOUS_FIRST_US << sh : NB_SPURIOUS_MAX_US);
}

uint64_t nb_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int grant_copy(void *ctx, struct hv_copy *segs, unsigned n)
{
	return hv_grant_copy(ctx, segs, n);
}

/* A ring page, writable: we write responses into it. */
static int map_ring(struct hv *hv, uint16_t domid, const uint32_t *ref, void **page,
		    const char *key)
{
	int rc = hv_grant_map(hv, domid, ref, 1, true, page);

	/* the key and the guest's value, not the hypervisor layer's words
	 * alone: what a toolstack's error node should point at */
	return rc < 0 ? err_prefix(rc, "%s %u", key, *ref) : 0;
}

static int bind_port(struct hv *hv, uint16_t domid, uint32_t remote, uint32_t *local, bool *bound,
		     const char *key)
{
	int rc = hv_evtchn_bind(hv, domid, remote, local);

	if (rc < 0)
		return err_prefix(rc, "%s", key);
	*bound = true;
	return 0;
}

int nb_rings_connect(struct nb_rings *r, struct hv *hv, uint16_t domid,
		     const struct nb_queue_cfg *qc, const struct netif_features *feat,
		     struct netif_queue *nq, struct netif_scratch *scratch)
{
	int rc;

	memset(r, 0, sizeof(*r));
	if ((rc = map_ring(hv, domid, &qc->tx_ref, &r->tx_page, nb_fq_key_name(NB_FQ_TX_REF))) < 0 ||
	    (rc = map_ring(hv, domid, &qc->rx_ref, &r->rx_page, nb_fq_key_name(NB_FQ_RX_REF))) < 0 ||
	    (rc = bind_port(hv, domid, qc->evtchn_tx, &r->port_tx, &r->bound_tx,
			    nb_fq_key_name(qc->split ? NB_FQ_EVTCHN_TX : NB_FQ_EVTCHN))) < 0)
		goto fail;
	if (qc->split) {
		rc = bind_port(hv, domid, qc->evtchn_rx, &r->port_rx, &r->bound_rx,
			       nb_fq_key_name(NB_FQ_EVTCHN_RX));
		if (rc < 0)
			goto fail;
	} else {
		r->port_rx = r->port_tx;
	}
	netif_queue_init(nq, domid, feat, r->tx_page, r->rx_page, grant_copy, hv, scratch);
	/* after XSA-332 a bound port starts masked */
	hv_evtchn_unmask(hv, r->port_tx);
	if (r->bound_rx)
		hv_evtchn_unmask(hv, r->port_rx);
	return 0;
fail:
	nb_rings_disconnect(r, hv);
	return rc;
}

void nb_rings_disconnect(struct nb_rings *r, struct hv *hv)
{
	if (r->bound_tx)
		hv_evtchn_unbind(hv, r->port_tx);
	if (r->bound_rx)
		hv_evtchn_unbind(hv, r->port_rx);
	if (r->tx_page)
		hv_grant_unmap(hv, r->tx_page, 1);
	if (r->rx_page)
		hv_grant_unmap(hv, r->rx_page, 1);
	memset(r, 0, sizeof(*r));
}

int nb_rings_tx_burst(const struct nb_rings *r, struct hv *hv, struct netif_queue *nq,
		      struct netif_tx_arena *arena, uint64_t now_us, struct netif_pkt *pkts,
		      unsigned max, unsigned *n, bool *more, bool *notify, uint64_t *wait_us)
{
	bool ntf = false;
	int rc = netif_tx_burst(nq, arena, now_us, pkts, max, n, more, &ntf, wait_us);

	if (netif_queue_is_fatal(nq))
		return rc;
	if (ntf && *n)
		nb_rings_notify(r, hv, nq, true, false);
	else
		*notify |= ntf;
	return rc;
}

void nb_rings_notify(const struct nb_rings *r, struct hv *hv, struct netif_queue *nq, bool tx,
		     bool rx)
{
	if (r->port_tx != r->port_rx) {
		if (tx)
			hv_evtchn_notify(hv, r->port_tx);
		if (rx)
			hv_evtchn_notify(hv, r->port_rx);
	} else if (tx || rx) {
		hv_evtchn_notify(hv, r->port_tx);
	}
	if (tx || rx)
		nq->stats.notifies++;
}
