/* nf_ring: the frontend's half of Xen's netif rings (netif.h, ring.h), on
 * plain memory, for the simulated guest (`hvsim guest`).
 *
 * A TX and an RX ring page per queue, each a 64-byte header then 256
 * entries; indices are free-running uint32 masked by 255. Buffers are
 * pages the guest granted once when the queue was set up (Linux netfront
 * grants per packet; a persistent pool keeps the broker out of the packet
 * path and changes nothing the backend can see: it still copies through
 * grant references named in each request).
 *
 * TX: a frame lies in up to NF_TX_FRAME_PAGES pages of a pool of
 * NF_TX_POOL, one request per page-sized chunk, the first carrying the
 * whole size, followed by a GSO extra-info slot when the frame is GSO (as
 * netfront lays them out). The caller takes pages from the pool and has
 * its stack's frame read straight into them (nf_txq_put_pages), as Linux
 * netfront grants the skb's own pages: a byte is not copied once more
 * inside the guest. A request holds its page until answered. RX: each
 * posted request's buffer is the page of its ring slot, since Linux
 * netfront ignores a response's id and the backend answers in the slot of
 * the request it consumed; a packet is handed out as the pieces of those
 * pages it lies in (nf_rxq_get_iov), to be written from there.
 *
 * Nothing here talks to the hypervisor: the caller grants pages, fills
 * the grefs and sends the notifications these functions ask for. The
 * backend is not trusted: every response is read once and checked. */
#ifndef HV_SIM_NF_RING_H
#define HV_SIM_NF_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define NF_PAGE_SIZE		4096u
#define NF_RING_SIZE		256u	/* __CONST_RING_SIZE for TX and RX, 4 KiB page */
#define NF_MAX_TX_SIZE		0xffffu	/* XEN_NETIF_MAX_TX_SIZE */
#define NF_MAX_SLOTS		18u	/* XEN_NETIF_NR_SLOTS_MIN: what a backend must take */
#define NF_RX_MAX_SLOTS		18u	/* MAX_SKB_FRAGS + 1, as netfront drops beyond */
#define NF_MAX_EXTRAS		4u	/* XEN_NETIF_EXTRA_TYPE_MAX - 1 */
/* Pages a TX frame may need: a read from the stack (64 KiB at most) is
 * laid into this many before its size is known. */
#define NF_TX_FRAME_PAGES	16u
/* TX pages per queue: a ring's worth in flight and a batch of 32 reads of
 * NF_TX_FRAME_PAGES each taken at once. */
#define NF_TX_POOL		(NF_RING_SIZE + 32u * NF_TX_FRAME_PAGES)

/* TX request flags (NETTXF_*) */
#define NF_TXF_CSUM_BLANK	(1u << 0)
#define NF_TXF_DATA_VALIDATED	(1u << 1)
#define NF_TXF_MORE_DATA	(1u << 2)
#define NF_TXF_EXTRA_INFO	(1u << 3)
/* RX response flags (NETRXF_*) */
#define NF_RXF_DATA_VALIDATED	(1u << 0)
#define NF_RXF_CSUM_BLANK	(1u << 1)
#define NF_RXF_MORE_DATA	(1u << 2)
#define NF_RXF_EXTRA_INFO	(1u << 3)
/* Response status (NETIF_RSP_*) */
#define NF_RSP_DROPPED		(-2)
#define NF_RSP_ERROR		(-1)
#define NF_RSP_OKAY		0
#define NF_RSP_NULL		1
/* Extra info (XEN_NETIF_EXTRA_*) */
#define NF_EXTRA_GSO		1u
#define NF_EXTRA_MCAST_ADD	2u
#define NF_EXTRA_MCAST_DEL	3u
#define NF_EXTRA_HASH		4u
#define NF_EXTRA_TYPE_MAX	5u
#define NF_EXTRA_FLAG_MORE	(1u << 0)
#define NF_GSO_TCPV4		1u
#define NF_GSO_TCPV6		2u

/* Wire structures, byte for byte as netif.h and ring.h lay them out. */
struct nf_sring_hdr {
	uint32_t req_prod, req_event, rsp_prod, rsp_event;
	uint8_t pvt[4];
	uint8_t pad[44];
};

struct nf_tx_req {
	uint32_t gref;
	uint16_t offset, flags, id, size;
};

struct nf_tx_rsp {
	uint16_t id;
	int16_t status;
};

struct nf_rx_req {
	uint16_t id, pad;
	uint32_t gref;
};

struct nf_rx_rsp {
	uint16_t id, offset, flags;
	int16_t status;
};

struct nf_extra {
	uint8_t type, flags;
	union {
		struct {
			uint16_t size;
			uint8_t type, pad;
			uint16_t features;
		} gso;
		uint8_t raw[6];
	} u;
};

union nf_tx_slot {
	struct nf_tx_req req;
	struct nf_tx_rsp rsp;
	struct nf_extra extra;
};

union nf_rx_slot {
	struct nf_rx_req req;
	struct nf_rx_rsp rsp;
	struct nf_extra extra;
};

_Static_assert(sizeof(struct nf_sring_hdr) == 64, "ring header");
_Static_assert(sizeof(union nf_tx_slot) == 12, "tx slot");
_Static_assert(sizeof(union nf_rx_slot) == 8, "rx slot");
_Static_assert(sizeof(struct nf_extra) == 8, "extra info");

/* Ring page layout helpers (also for test backends). */
static inline union nf_tx_slot *nf_tx_slots(void *page)
{
	return (union nf_tx_slot *)((char *)page + sizeof(struct nf_sring_hdr));
}

static inline union nf_rx_slot *nf_rx_slots(void *page)
{
	return (union nf_rx_slot *)((char *)page + sizeof(struct nf_sring_hdr));
}

/* SHARED_RING_INIT plus FRONT_RING_INIT on a zeroed page. */
void nf_sring_init(void *page);

/* RING_PUSH_REQUESTS_AND_CHECK_NOTIFY: publish req_prod; true when the
 * backend asked (req_event) to be told about it. */
bool nf_sring_push_requests(void *page, uint32_t req_prod_pvt);
/* RING_FINAL_CHECK_FOR_RESPONSES: arm rsp_event at cons + 1; true when
 * responses arrived meanwhile (the caller must not sleep). */
bool nf_sring_final_check(void *page, uint32_t rsp_cons);
/* rsp_prod, read once (acquire). */
uint32_t nf_sring_rsp_prod(const void *page);

/* ---- TX ---- */

struct nf_txq_stats {
	uint64_t packets, bytes, slots;
	uint64_t errors;	/* responses with ERROR or DROPPED */
	uint64_t bad_rsp;	/* responses that answer nothing we sent */
};

struct nf_txq {
	void *sring;			/* ring page */
	uint32_t req_prod_pvt, rsp_cons;
	void *buf[NF_TX_POOL];		/* granted pages */
	uint32_t gref[NF_TX_POOL];
	unsigned n_pages;
	/* bit p set: page p is free. Taken lowest first, so a light load
	 * touches few pages, and the free pages of a busy pool come out in
	 * runs of adjacent ones (nf_txq_run_take) */
	uint64_t free_map[(NF_TX_POOL + 63) / 64];
	unsigned n_free_pages;
	uint16_t id_page[NF_RING_SIZE];	/* the page a request in flight holds */
	bool in_flight[NF_RING_SIZE];
	uint16_t free_ids[NF_RING_SIZE];
	unsigned n_free;
	bool sg;			/* backend takes slot chains (feature-sg) */
	/* ask for an event on responses only while short of room (the
	 * data path reaps on every pass anyway): a busy TX does not cost the
	 * backend an event, and us a wake-up, per burst it answers */
	bool lazy_events;
	struct nf_txq_stats st;
};

/* What the stack hands the frontend: a frame and its offloads; data: the
 * frame, linear, for nf_txq_put (nf_txq_put_pages does not read it). */
struct nf_txpkt {
	const uint8_t *data;
	size_t len;
	uint16_t flags;		/* NF_TXF_CSUM_BLANK | NF_TXF_DATA_VALIDATED */
	uint8_t gso_type;	/* 0, NF_GSO_TCPV4, NF_GSO_TCPV6 */
	uint16_t gso_size;
};

/* sring: a ring page; buf/gref: npages (NF_RING_SIZE to NF_TX_POOL)
 * buffer pages and the refs they were granted under. */
void nf_txq_init(struct nf_txq *q, void *sring, void *const *buf, const uint32_t *gref,
		 unsigned npages, bool sg);
/* A page of the pool for the caller to fill: its index (the lowest
 * free), or -ENOSPC. */
int nf_txq_page_take(struct nf_txq *q);
/* Up to max pages of the pool with adjacent indices, from the lowest free
 * one: how many (0: none free), the first at *first. */
unsigned nf_txq_run_take(struct nf_txq *q, unsigned max, unsigned *first);
/* A page taken and not given to a request goes back (one that is free
 * already, or not of the pool, is ignored). */
void nf_txq_page_give(struct nf_txq *q, unsigned page);
static inline void *nf_txq_page(const struct nf_txq *q, unsigned page)
{
	return q->buf[page];
}
/* Slots pkt would need (data slots plus the GSO extra), 0 if it cannot be
 * sent at all (empty, over 64 KiB, needs a chain the backend cannot take). */
unsigned nf_txq_slots_needed(const struct nf_txq *q, const struct nf_txpkt *pkt);
/* Slots free on the ring now. */
unsigned nf_txq_space(const struct nf_txq *q);
/* Queue pkt (not yet published), copied into pages of the pool. -ENOSPC:
 * ring (or pool) full, try after responses; -EMSGSIZE: pkt cannot go at
 * all (see nf_txq_slots_needed). */
int nf_txq_put(struct nf_txq *q, const struct nf_txpkt *pkt);
/* The same for a frame already in pages taken from the pool: byte k in
 * pages[k / NF_PAGE_SIZE] at k % NF_PAGE_SIZE. On 0 the requests hold
 * the pages its data slots need (the caller gives back any others);
 * otherwise they are still the caller's. */
int nf_txq_put_pages(struct nf_txq *q, const struct nf_txpkt *pkt, const uint16_t *pages);
/* Publish queued requests; true when the backend must be notified. */
bool nf_txq_push(struct nf_txq *q);
/* Reap responses (freeing their buffers); returns how many. *more: more
 * arrived after the final check, call again. With lazy_events, the check
 * arms rsp_event only when less than a frame of the largest kind fits. */
unsigned nf_txq_gc(struct nf_txq *q, bool *more);

/* ---- RX ---- */

struct nf_rxq_stats {
	uint64_t packets, bytes;
	uint64_t errors;	/* error responses, bad layout: packet dropped */
};

struct nf_rxq {
	void *sring;
	uint32_t req_prod_pvt, rsp_cons;
	void *buf[NF_RING_SIZE];	/* buffer of ring slot i & 255 */
	uint32_t gref[NF_RING_SIZE];
	struct nf_rxq_stats st;
};

struct nf_rxpkt {
	size_t len;
	uint16_t flags;		/* NF_RXF_DATA_VALIDATED | NF_RXF_CSUM_BLANK of the first slot */
	uint8_t gso_type;
	uint16_t gso_size;
};

void nf_rxq_init(struct nf_rxq *q, void *sring, void *const *buf, const uint32_t *gref);
/* Post a request for every free slot; true when the backend must be
 * notified (feature-rx-notify). */
bool nf_rxq_refill(struct nf_rxq *q);
/* Next packet into out (cap bytes, at least NF_RX_MAX_SLOTS pages' worth
 * is never needed: 64 KiB + a page suffices). 0: *pkt filled. -EAGAIN: no
 * complete packet yet. -EIO: a packet the backend answered with an error
 * or laid out badly was consumed and dropped (counted); call again. */
int nf_rxq_get(struct nf_rxq *q, uint8_t *out, size_t cap, struct nf_rxpkt *pkt);
/* The same without copying: iov[0 .. *niov) (room for NF_RX_MAX_SLOTS)
 * are the pieces of the buffers the packet lies in, checked, at most
 * NF_MAX_TX_SIZE + 1 bytes in all. They stay ours until the next
 * nf_rxq_refill() posts them again; the backend may still write them
 * (it holds their grants): read what must not change (headers) once, into
 * memory of one's own. */
int nf_rxq_get_iov(struct nf_rxq *q, struct iovec *iov, unsigned *niov, struct nf_rxpkt *pkt);
/* After the last -EAGAIN: arm rsp_event; true if responses came meanwhile. */
bool nf_rxq_final_check(struct nf_rxq *q);

#endif
