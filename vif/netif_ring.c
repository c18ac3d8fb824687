/* netif_ring: a queue's set-up and its fatal state (see netif.h). */
#include "vif/netif.h"
#include "vif/netif-internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Our ring sizes are Xen's: layout taken from its own header. */
_Static_assert(sizeof(struct netif_tx_request) == 12, "netif_tx_request is 12 bytes");
_Static_assert(sizeof(struct netif_tx_response) == 4, "netif_tx_response is 4 bytes");
_Static_assert(sizeof(struct netif_rx_request) == 8, "netif_rx_request is 8 bytes");
_Static_assert(sizeof(struct netif_rx_response) == 8, "netif_rx_response is 8 bytes");
_Static_assert(sizeof(struct netif_extra_info) == 8, "netif_extra_info is 8 bytes");
_Static_assert(offsetof(struct netif_tx_sring, ring) == 64, "ring header is 64 bytes");
_Static_assert(__CONST_RING_SIZE(netif_tx, NETIF_PAGE_SIZE) == NETIF_TX_RING_SIZE,
	       "TX ring of 256");
_Static_assert(__CONST_RING_SIZE(netif_rx, NETIF_PAGE_SIZE) == NETIF_RX_RING_SIZE,
	       "RX ring of 256");

void netif_queue_init(struct netif_queue *q, uint16_t domid, const struct netif_features *feat,
		      void *tx, void *rx, netif_copy_fn copy, void *copy_ctx,
		      struct netif_scratch *scratch)
{
	memset(q, 0, sizeof(*q));
	q->scratch = scratch;
	q->domid = domid;
	q->feat = *feat;
	q->tx = tx;
	q->rx = rx;
	q->copy = copy;
	q->copy_ctx = copy_ctx;
	/* BACK_RING_INIT would start at 0, which is where the frontend's
	 * SHARED_RING_INIT left fresh rings. A backend restarted under a
	 * connected frontend gets the rings its predecessor served: Linux
	 * netfront keeps them (it ignores InitWait while Connected), so we
	 * resume where the last responses were published. What was taken
	 * but not answered is served again: a packet may go twice, none is
	 * lost and no slot is answered twice. Any value is safe: each burst
	 * checks the producer against these (netif_req_avail). */
	q->tx_req_cons = q->tx_rsp_prod_pvt = q->tx_req_seen = netif_idx_read(&q->tx->rsp_prod);
	q->rx_req_cons = q->rx_rsp_prod_pvt = q->rx_req_seen = netif_idx_read(&q->rx->rsp_prod);
}

int netif_queue_set_fatal(struct netif_queue *q, const char *fmt, ...)
{
	va_list ap;

	if (q->fatal)
		return -EPROTO;
	q->fatal = true;
	va_start(ap, fmt);
	vsnprintf(q->reason, sizeof(q->reason), fmt, ap);
	va_end(ap);
	return -EPROTO;
}

int netif_req_prods(struct netif_queue *q, RING_IDX *tx_prod, RING_IDX *rx_prod)
{
	if (q->fatal ||
	    netif_req_avail(q, &q->tx->req_prod, q->tx_req_cons, q->tx_rsp_prod_pvt,
			    NETIF_TX_RING_SIZE, "tx", &q->tx_req_seen, tx_prod) < 0 ||
	    netif_req_avail(q, &q->rx->req_prod, q->rx_req_cons, q->rx_rsp_prod_pvt,
			    NETIF_RX_RING_SIZE, "rx", &q->rx_req_seen, rx_prod) < 0)
		return -EPROTO;
	return 0;
}
