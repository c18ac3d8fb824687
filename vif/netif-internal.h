/* netif-internal: shared-ring access for the netif sources (ring.h's
 * semantics with explicit barriers). Not part of the module's API.
 *
 * The frontend writes req_prod and each request; we write rsp_prod and
 * each response. Everything the frontend wrote is read through these
 * helpers exactly once: an index with an acquire load (the rmb ring.h puts
 * after reading req_prod), a request with a volatile copy into private
 * memory (RING_COPY_REQUEST, XSA-155). */
#ifndef VIF_NETIF_INTERNAL_H
#define VIF_NETIF_INTERNAL_H

#include <stdbool.h>
#include <string.h>

#include "vif/netif.h"

static inline RING_IDX netif_idx_read(const RING_IDX *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

/* Requests the frontend has published past cons, or -1 after marking the
 * queue fatal when that is more than a ring holds (RING_REQUEST_PROD_OVERFLOW
 * against our own response producer: requests we consumed but have not
 * answered yet still occupy slots), or when the producer went back behind
 * *seen, the furthest one read here before (never behind cons: every
 * request consumed was read here first). A producer only grows: one back
 * behind requests we already consumed would otherwise read as 2^32 - 1
 * requests, or leave consumed slots unanswered (a burst looks again
 * before its responses are out, netif_rx.c); one back behind requests
 * only seen takes back buffers the stall check counted, or requests a
 * packet waiting for credit was to be made of. *seen becomes the
 * producer read. */
static inline int netif_req_avail(struct netif_queue *q, const RING_IDX *req_prod,
				  RING_IDX cons, RING_IDX rsp_prod_pvt, unsigned size,
				  const char *ring, RING_IDX *seen, RING_IDX *prod)
{
	RING_IDX p = netif_idx_read(req_prod);

	if (p - rsp_prod_pvt > size) {
		netif_queue_set_fatal(q, "%s: impossible request producer %u (consumer %u, ring of %u)",
				      ring, p, cons, size);
		return -1;
	}
	if (p - rsp_prod_pvt < *seen - rsp_prod_pvt) {
		netif_queue_set_fatal(q,
				      "%s: request producer %u moved back behind %u, read before "
				      "(consumer %u)",
				      ring, p, *seen, cons);
		return -1;
	}
	*seen = p;
	*prod = p;
	return (int)(p - cons);
}

/* RING_PUSH_RESPONSES_AND_CHECK_NOTIFY: responses become visible before
 * the index; the frontend wants an event iff rsp_event lies in (old, new]. */
static inline bool netif_rsp_push(RING_IDX *rsp_prod, const RING_IDX *rsp_event, RING_IDX new)
{
	RING_IDX old = *rsp_prod, ev;

	__atomic_store_n(rsp_prod, new, __ATOMIC_RELEASE);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	ev = __atomic_load_n(rsp_event, __ATOMIC_RELAXED);
	return (RING_IDX)(new - ev) < (RING_IDX)(new - old);
}

/* RING_FINAL_CHECK_FOR_REQUESTS: before sleeping, ask for an event at the
 * next request, then look again (it may have come in between). */
static inline bool netif_req_final_check(RING_IDX *req_event, const RING_IDX *req_prod,
					 RING_IDX cons)
{
	if (netif_idx_read(req_prod) != cons)
		return true;
	__atomic_store_n(req_event, cons + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return netif_idx_read(req_prod) != cons;
}

#endif
