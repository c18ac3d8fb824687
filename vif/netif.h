/* netif: the backend half of Xen's netif protocol (xen/io/netif.h), for
 * any consumer of a guest's packets: vifback hands them to a TAP, a DPDK
 * switch would hand them to mbufs. Nothing here knows where packets go.
 *
 * One struct netif_queue per queue of a vif: its TX ring (guest -> us) and
 * RX ring (us -> guest), already mapped by the caller, and a grant copier
 * (hv_grant_copy in production, plain memory in the unit tests).
 *
 * The guest is hostile. Every index, flag, size, offset and extra-info
 * record is read once from the shared page into private memory and only
 * the copy is checked and used (XSA-155). A violation that Linux netback
 * treats as malicious marks the queue fatal with a reason (the caller
 * disconnects that vif, see netif_queue_fatal()); lesser faults drop the
 * packet with error responses, as netback does. Work per call is bounded
 * by NETIF_BURST packets and the ring size: no ring content can make a
 * call loop or block. */
#ifndef VIF_NETIF_H
#define VIF_NETIF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <xen/io/netif.h>

#include "hypervisor/hv.h"

#define NETIF_PAGE_SIZE 4096u
/* __CONST_RING_SIZE(netif_tx, 4096) and netif_rx: both 256 (checked in
 * netif_ring.c against Xen's own layout). */
#define NETIF_TX_RING_SIZE 256u
#define NETIF_RX_RING_SIZE 256u
/* Packets per call, as DPDK's and OVS's fixed burst. */
#define NETIF_BURST 32u
/* Follow-on slots after a packet's first (Linux netback,
 * XEN_NETBK_LEGACY_SLOTS_MAX and fatal_skb_slots): up to 18 are accepted
 * (19 slots in all, above XEN_NETIF_NR_SLOTS_MIN), the 19th and 20th drop
 * the packet, a 21st marks the frontend malicious. */
#define NETIF_TX_MAX_FOLLOW 18u
#define NETIF_TX_FATAL_FOLLOW 20u
#define NETIF_MAX_PKT 65535u
#define NETIF_ETH_HLEN 14u
/* Copy segments a burst may need: every slot of every packet. */
#define NETIF_TX_MAX_SEGS (NETIF_BURST * (NETIF_TX_MAX_FOLLOW + 1))
/* An RX packet of NETIF_MAX_PKT bytes in 4 KiB buffers. */
#define NETIF_RX_MAX_SLOTS ((NETIF_MAX_PKT + NETIF_PAGE_SIZE - 1) / NETIF_PAGE_SIZE)
#define NETIF_RX_MAX_SEGS (NETIF_BURST * NETIF_RX_MAX_SLOTS)

/* What the frontend asked for (frontend keys read at connect). */
struct netif_features {
	bool sg;	 /* feature-sg: packets may span slots */
	bool gso_tcpv4;	 /* feature-gso-tcpv4 */
	bool gso_tcpv6;	 /* feature-gso-tcpv6 */
	bool csum;	 /* !feature-no-csum-offload: IPv4 checksums may be left blank */
	bool ipv6_csum;	 /* feature-ipv6-csum-offload */
	bool rx_notify;	 /* feature-rx-notify: it kicks us when it posts RX buffers */
};

/* Packet metadata in both directions. */
#define NETIF_PKT_CSUM_BLANK (1u << 0)	   /* L4 checksum is partial (pseudo-header only) */
#define NETIF_PKT_DATA_VALIDATED (1u << 1) /* checksum known good */

struct netif_pkt {
	uint8_t *data;
	uint32_t len;
	uint8_t flags;	   /* NETIF_PKT_* */
	uint8_t gso_type;  /* XEN_NETIF_GSO_TYPE_NONE/TCPV4/TCPV6 */
	uint16_t gso_size; /* MSS when gso_type != NONE */
};

/* Grant copies for a burst: hv_grant_copy's contract (0 and a GNTST_* code
 * per segment, or -errno when nothing is reliable). */
typedef int (*netif_copy_fn)(void *ctx, struct hv_copy *segs, unsigned n);

/* netback's credit scheduler (rate=): `bytes` per `usecs` window; usecs 0
 * is unlimited. */
struct netif_credit {
	uint64_t bytes, usecs;
	uint64_t remaining;
	uint64_t window_start_us;
};

/* Per queue; tx is the guest's transmit ring, rx its receive ring. */
struct netif_stats {
	uint64_t tx_pkts, tx_bytes;
	uint64_t tx_dropped; /* requests netback drops (slot counts, sizes) */
	uint64_t tx_errors;  /* a grant the copy refused, or the copy failed */
	uint64_t rx_pkts, rx_bytes;
	uint64_t rx_dropped; /* packets the frontend cannot take */
	uint64_t rx_errors;  /* a buffer's grant refused, or the copy failed */
	uint64_t rx_full;    /* packets that waited for posted buffers (a wait, not each retry) */
	uint64_t notifies;
};

/* A burst's bookkeeping (netif_tx.c, netif_rx.c; not API). */
struct netif_tx_rsp {
	uint16_t id;
	int16_t status;
};
/* A packet being gathered: its slots' responses are rsp[first_rsp..). */
struct netif_tx_plan {
	unsigned first_rsp, nrsp;
	unsigned first_seg, nseg;
	bool deliver;
	struct netif_pkt pkt;
};
/* What goes in one consumed RX slot's response. */
struct netif_rx_slot {
	uint16_t id;
	bool extra;
	uint16_t flags;
	int16_t status;
};

/* What one burst needs besides the queue: its grant copies and its
 * bookkeeping, off the stack. Only used inside a call, so the queues a
 * consumer serves one after another may share one (vifback: one per
 * worker, mapped lazily: an idle worker never touches it, a queue's own
 * state stays a few hundred bytes, and a burst's stack frame a few). */
#define NETIF_MAX_SEGS (NETIF_TX_MAX_SEGS > NETIF_RX_MAX_SEGS ? NETIF_TX_MAX_SEGS : NETIF_RX_MAX_SEGS)
struct netif_scratch {
	struct hv_copy segs[NETIF_MAX_SEGS];
	union {
		struct {
			struct netif_tx_rsp rsp[NETIF_TX_RING_SIZE];
			struct netif_tx_plan plans[NETIF_BURST];
		} tx;
		struct {
			struct netif_rx_slot slots[NETIF_RX_RING_SIZE];
			uint16_t seg_slot[NETIF_RX_MAX_SEGS]; /* which slot a copy fills */
			uint8_t seg_pkt[NETIF_RX_MAX_SEGS];   /* and for which packet */
			bool failed[NETIF_BURST];
			const struct netif_pkt *gso_of[NETIF_RX_RING_SIZE];
		} rx;
	} u;
};

struct netif_queue {
	uint16_t domid;
	struct netif_features feat;
	netif_tx_sring_t *tx;
	netif_rx_sring_t *rx;
	RING_IDX tx_req_cons, tx_rsp_prod_pvt;
	RING_IDX rx_req_cons, rx_rsp_prod_pvt;
	/* the furthest request producers read (the guest's may not go back) */
	RING_IDX tx_req_seen, rx_req_seen;
	netif_copy_fn copy;
	void *copy_ctx;
	struct netif_credit credit;
	struct netif_stats stats;
	bool fatal;
	char reason[160];
	struct netif_scratch *scratch; /* a burst allocates nothing */
	/* the backend polls the TX ring for a while (netif_tx_pending): a
	 * burst that empties it leaves req_event where it was, so the
	 * frontend does not kick a backend that looks anyway (netback's
	 * NAPI); netif_tx_arm() ends it */
	bool tx_polling;
	/* the same for RX, set by a consumer that retries a packet waiting
	 * for buffers on each look while it polls: a burst that stops for
	 * lack of buffers leaves req_event where it was, so the frontend's
	 * refill does not kick a backend that looks anyway; netif_rx_arm()
	 * ends it. rx_need: the buffers the packet the last burst stopped
	 * at needs (0: it stopped at none) */
	bool rx_polling;
	unsigned rx_need;
};

/* ---- netif_ring.c ---- */

/* tx and rx are the mapped shared pages (4 KiB each), which the frontend
 * initialised (SHARED_RING_INIT) before connecting. Reads each ring's
 * response producer once and starts there: 0 on fresh rings, where the
 * last backend stopped on rings a frontend kept across its restart.
 * scratch: see struct netif_scratch. */
void netif_queue_init(struct netif_queue *q, uint16_t domid, const struct netif_features *feat,
		      void *tx, void *rx, netif_copy_fn copy, void *copy_ctx,
		      struct netif_scratch *scratch);
/* Marks the queue broken by its frontend; later calls do nothing. The
 * first reason is kept. Returns -EPROTO. */
int netif_queue_set_fatal(struct netif_queue *q, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static inline bool netif_queue_is_fatal(const struct netif_queue *q)
{
	return q->fatal;
}
static inline const char *netif_queue_fatal_reason(const struct netif_queue *q)
{
	return q->reason;
}

/* The request producers at an event (a kick), read once each and checked
 * as a burst checks them: one more than a ring ahead of the responses, or
 * back behind one read before, makes the queue fatal. 0, or -EPROTO. */
int netif_req_prods(struct netif_queue *q, RING_IDX *tx_prod, RING_IDX *rx_prod);

/* ---- netif_tx.c: guest -> us ---- */

/* Where a TX burst puts packets: `cap` bytes of private memory; each packet
 * is copied linear into it (headers contiguous, XSA-423), each after the
 * last on the next NETIF_ARENA_ALIGN bytes from buf (give an aligned one).
 * A burst of NETIF_BURST of the largest packets needs NETIF_TX_ARENA_MAX;
 * in a smaller arena the packets that do not fit wait for the next. */
#define NETIF_ARENA_ALIGN 64u
#define NETIF_TX_ARENA_MAX \
	((size_t)NETIF_BURST * ((NETIF_MAX_PKT + NETIF_ARENA_ALIGN - 1) & ~(NETIF_ARENA_ALIGN - 1)))
struct netif_tx_arena {
	uint8_t *buf;
	size_t cap;
};

/* Takes up to `max` (≤ NETIF_BURST) packets from the TX ring into
 * pkts[0..*n) inside `arena`, answers every slot they used exactly once,
 * publishes the responses. now_us feeds the credit scheduler.
 * Returns 0; *more tells whether requests are left (call again before
 * sleeping: the event that announced them may already be consumed);
 * *notify whether the frontend wants an event for the responses (send one
 * per burst, for TX and RX together when they share a channel);
 * *wait_us > 0 when the credit ran out (poll again after that long).
 * -EPROTO when the queue is (or just became) fatal; -errno when the copier
 * failed (ours: the queue stays usable, that burst's packets are answered
 * with errors). A grant the copy refuses fails its packet only. */
int netif_tx_burst(struct netif_queue *q, struct netif_tx_arena *arena, uint64_t now_us,
		   struct netif_pkt *pkts, unsigned max, unsigned *n, bool *more, bool *notify,
		   uint64_t *wait_us);

/* Whether TX requests wait (a look at the producer, for a polling
 * backend; netif_tx_burst checks what it finds). */
bool netif_tx_pending(const struct netif_queue *q);
/* Ends tx_polling: asks for an event at the next request, then looks once
 * more (RING_FINAL_CHECK_FOR_REQUESTS); true when requests wait, which no
 * event will announce. */
bool netif_tx_arm(struct netif_queue *q);

/* ---- netif_rx.c: us -> guest ---- */

/* RX buffers the guest has posted and not yet had filled. -EPROTO when its
 * producer index is impossible (the queue becomes fatal). */
int netif_rx_slots_avail(struct netif_queue *q, unsigned *avail);
/* Slots a packet needs in the guest's 4 KiB buffers (GSO extra included),
 * or 0 when this frontend cannot take it at all (too big without
 * feature-sg, GSO it did not ask for). */
unsigned netif_rx_slots_needed(const struct netif_queue *q, const struct netif_pkt *p);
/* Copies pkts[0..n) (at most NETIF_BURST) into posted buffers, in order,
 * until one does not fit; *done = packets consumed (delivered, or dropped
 * when the frontend cannot take them: counted in stats.rx_dropped). A
 * partial checksum the frontend cannot take (feature-no-csum-offload,
 * IPv6 without feature-ipv6-csum-offload) is completed in place first.
 * When it stops for lack of buffers (counted in stats.rx_full) it arms
 * req_event at the last buffer the waiting packet needs, so a frontend
 * with feature-rx-notify kicks us once that is posted, not before
 * (unless rx_polling: see netif_rx_arm). *notify as for
 * TX. -EPROTO: fatal (bad index); -errno: the copier failed (those packets
 * are lost, counted in stats.rx_errors). A buffer whose grant the copy
 * refuses gets an error response (its packet counted in stats.rx_errors). */
int netif_rx_burst(struct netif_queue *q, struct netif_pkt *pkts, unsigned n, unsigned *done,
		   bool *notify);

/* Ends rx_polling: when the last burst stopped at a packet short of
 * buffers, asks for the event netif_rx_burst would have asked for, then
 * looks once more. 1: the buffers it waits for are posted, which no event
 * will announce (call netif_rx_burst again); 0: none waits, or the event
 * will come; -EPROTO: fatal. */
int netif_rx_arm(struct netif_queue *q);

/* ---- netif_credit.c ---- */

void netif_credit_set(struct netif_credit *c, uint64_t bytes, uint64_t usecs, uint64_t now_us);
/* true: `size` bytes may go now (and are charged); false: *wait_us until
 * the next window. */
bool netif_credit_take(struct netif_credit *c, uint32_t size, uint64_t now_us, uint64_t *wait_us);

/* ---- netif_hdr.c: headers of a linear packet ---- */

/* Where a packet's L4 header starts and its protocol (6 TCP, 17 UDP), from
 * Ethernet (one optional VLAN tag), IPv4 or IPv6 (extension headers
 * skipped, bounded). -EINVAL when the headers do not fit in len or are not
 * IP. */
int netif_hdr_l4(const uint8_t *data, uint32_t len, uint16_t *l3_proto, uint32_t *l4_off,
		 uint8_t *l4_proto);
/* Offset of the checksum field inside the L4 header: 16 TCP, 6 UDP, 0 if
 * neither. */
unsigned netif_hdr_csum_field(uint8_t l4_proto);
/* Completes a partial checksum in place (the pseudo-header sum already in
 * the field, as NETTXF_csum_blank and CHECKSUM_PARTIAL leave it). */
int netif_hdr_csum_complete(uint8_t *data, uint32_t len);

#endif
