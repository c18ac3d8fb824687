/* rings: a queue's shared rings and event channels in the process that
 * serves them, the step between the handshake (netback.h: the frontend's
 * keys, read and checked) and the data path (vif/netif.h). Linux netback's
 * xenvif_map_frontend_data_rings() and xenvif_connect_data(), once, for
 * both consumers: vifback's workers (packets to a TAP) and dpswitch
 * (packets to mbufs). Needs an hv (hypervisor/hv.h): its own library,
 * netd_nbrings, built where netd_hv is. */
#ifndef NETBACK_RINGS_H
#define NETBACK_RINGS_H

#include <stdbool.h>
#include <stdint.h>

#include "netback/netback.h"
#include "vif/netif.h"

struct hv;

/* One queue's rings as this process holds them. All zero: nothing held. */
struct nb_rings {
	void *tx_page, *rx_page;
	uint32_t port_tx, port_rx; /* local ports; equal unless split */
	bool bound_tx, bound_rx;
};

/* The clock netif's credit scheduler runs on (now_us of netif_tx_burst):
 * CLOCK_MONOTONIC in microseconds. */
uint64_t nb_now_us(void);

/* Maps the ring pages qc names (granted by domid), binds its event
 * channel(s), starts nq on them (netif_queue_init, with grant copies
 * through hv; scratch: see struct netif_scratch) and unmasks the ports.
 * 0, or -errno with err_msg() naming the frontend key whose value failed
 * (`tx-ring-ref 8: ...`, `event-channel-tx: ...`) and nothing held. */
int nb_rings_connect(struct nb_rings *r, struct hv *hv, uint16_t domid,
		     const struct nb_queue_cfg *qc, const struct netif_features *feat,
		     struct netif_queue *nq, struct netif_scratch *scratch);
/* Unbinds and unmaps what r holds (any part of it, after a connect that
 * failed half-way too); r is all zero after. */
void nb_rings_disconnect(struct nb_rings *r, struct hv *hv);
/* Spurious events (XSA-391): a kick that brought no news, no request
 * producer past the furthest one a kick saw. After NB_SPURIOUS_FREE of
 * them in a row, the queue's ports stay masked NB_SPURIOUS_FIRST_US,
 * doubling with each further one up to NB_SPURIOUS_MAX_US, as Linux's
 * lateeoi does for netback: a guest's event storm then costs its backend
 * next to nothing, and a guest that kicks only with new requests is never
 * delayed. A producer moved back (a buffer taken back) or further than
 * its ring holds past the responses out breaks the ring; between two
 * responses of ours, each of which is work it asked for, a guest's kicks
 * bring news a ring's worth of times at most. */
#define NB_SPURIOUS_FREE 8u
#define NB_SPURIOUS_FIRST_US 1000ull
#define NB_SPURIOUS_MAX_US 1000000ull

struct nb_spurious {
	RING_IDX seen_tx, seen_rx; /* the furthest producers a kick saw */
	uint8_t run;		   /* spurious kicks in a row */
	uint64_t events;	   /* spurious kicks counted (spurious_events) */
};

/* A kick of queue nq: its request producers (the guest's to write) read
 * once each and checked as a burst checks them (netif_req_prods: one
 * impossible, or moved back, makes the queue fatal, and the kick is not
 * held: the caller sees the queue fatal). 0 when its ports may be
 * unmasked now, else the time (nb_now_us) they stay masked until. */
uint64_t nb_spurious_kick(struct nb_spurious *s, struct netif_queue *nq, uint64_t now_us);

/* One TX burst (netif_tx_burst, same arguments and return), the frontend
 * told at once when it asked for an event and packets came: it fills its
 * ring again while the caller sends them on (a TAP write, a kernel port's
 * send: each takes the packets through Dom0's stack, the receiver's TCP
 * included), not after. An event it asked for without packets is left
 * for the pass's last (*notify set, never cleared). No event for a queue
 * that is fatal. */
int nb_rings_tx_burst(const struct nb_rings *r, struct hv *hv, struct netif_queue *nq,
		      struct netif_tx_arena *arena, uint64_t now_us, struct netif_pkt *pkts,
		      unsigned max, unsigned *n, bool *more, bool *notify, uint64_t *wait_us);
/* The frontend told that responses are out on its TX ring (tx) and/or RX
 * ring (rx): one event for both when they share a channel. Counted in
 * nq->stats.notifies. */
void nb_rings_notify(const struct nb_rings *r, struct hv *hv, struct netif_queue *nq, bool tx,
		     bool rx);

#endif
