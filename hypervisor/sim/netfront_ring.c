/* netfront_ring: TX and RX ring logic of the simulated netfront (see
 * nf_ring.h). Pure memory work: no hypervisor, no sockets, so the unit test
 * runs it against a backend loop on the same pages. */
#include <errno.h>
#include <string.h>

#include "hypervisor/sim/nf_ring.h"

#define MASK(i) ((i) & (NF_RING_SIZE - 1))
#define ETH_HLEN_MIN 14u

static struct nf_sring_hdr *hdr(void *page)
{
	return page;
}

void nf_sring_init(void *page)
{
	struct nf_sring_hdr *h = hdr(page);

	memset(page, 0, NF_PAGE_SIZE);
	h->req_event = 1;
	h->rsp_event = 1;
}

bool nf_sring_push_requests(void *page, uint32_t req_prod_pvt)
{
	struct nf_sring_hdr *h = hdr(page);
	uint32_t old = __atomic_load_n(&h->req_prod, __ATOMIC_RELAXED);
	uint32_t ev;

	/* Requests before the index (wmb), the index before reading the
	 * backend's req_event (mb): otherwise both sides can go to sleep. */
	__atomic_store_n(&h->req_prod, req_prod_pvt, __ATOMIC_RELEASE);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	ev = __atomic_load_n(&h->req_event, __ATOMIC_RELAXED);
	return (uint32_t)(req_prod_pvt - ev) < (uint32_t)(req_prod_pvt - old);
}

uint32_t nf_sring_rsp_prod(const void *page)
{
	const struct nf_sring_hdr *h = page;

	return __atomic_load_n(&h->rsp_prod, __ATOMIC_ACQUIRE);
}

bool nf_sring_final_check(void *page, uint32_t rsp_cons)
{
	struct nf_sring_hdr *h = hdr(page);

	if (nf_sring_rsp_prod(page) != rsp_cons)
		return true;
	__atomic_store_n(&h->rsp_event, rsp_cons + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return nf_sring_rsp_prod(page) != rsp_cons;
}

/* One read of a shared slot into private memory (XSA-155 in reverse: the
 * backend is not trusted either). Slots are 4- (TX) and 8-byte (RX) aligned. */
static struct nf_tx_rsp tx_rsp_read(const union nf_tx_slot *s)
{
	uint32_t v = __atomic_load_n((const uint32_t *)(const void *)s, __ATOMIC_RELAXED);
	struct nf_tx_rsp r;

	memcpy(&r, &v, sizeof(r));
	return r;
}

static union nf_rx_slot rx_slot_read(const union nf_rx_slot *s)
{
	uint64_t v = __atomic_load_n((const uint64_t *)(const void *)s, __ATOMIC_RELAXED);
	union nf_rx_slot r;

	memcpy(&r, &v, sizeof(r));
	return r;
}

/* ---- TX ---- */

void nf_txq_init(struct nf_txq *q, void *sring, void *const *buf, const uint32_t *gref,
		 unsigned npages, bool sg)
{
	unsigned i;

	if (npages > NF_TX_POOL)
		npages = NF_TX_POOL;
	memset(q, 0, sizeof(*q));
	q->sring = sring;
	q->sg = sg;
	nf_sring_init(sring);
	for (i = 0; i < npages; i++) {
		q->buf[i] = buf[i];
		q->gref[i] = gref[i];
		q->free_map[i / 64] |= 1ull << (i % 64);
	}
	q->n_pages = npages;
	q->n_free_pages = npages;
	for (i = 0; i < NF_RING_SIZE; i++) {
		/* Low ids first, so a short test sees ids 0, 1, 2... */
		q->free_ids[i] = (uint16_t)(NF_RING_SIZE - 1 - i);
	}
	q->n_free = NF_RING_SIZE;
}

int nf_txq_page_take(struct nf_txq *q)
{
	unsigned first;

	return nf_txq_run_take(q, 1, &first) ? (int)first : -ENOSPC;
}

unsigned nf_txq_run_take(struct nf_txq *q, unsigned max, unsigned *first)
{
	const unsigned words = (q->n_pages + 63) / 64;
	unsigned w = 0, b, n = 0;

	while (w < words && !q->free_map[w])
		w++;
	if (w == words || !max)
		return 0;
	b = (unsigned)__builtin_ctzll(q->free_map[w]);
	*first = w * 64 + b;
	/* the run of set bits from b on, into the next words while it lasts */
	while (n < max && w < words) {
		uint64_t rest = q->free_map[w] >> b;
		unsigned ones = ~rest ? (unsigned)__builtin_ctzll(~rest) : 64 - b;

		if (ones > max - n)
			ones = max - n;
		q->free_map[w] &= ~((ones == 64 ? ~0ull : (1ull << ones) - 1) << b);
		n += ones;
		if (b + ones < 64)
			break;
		w++;
		b = 0;
	}
	q->n_free_pages -= n;
	return n;
}

void nf_txq_page_give(struct nf_txq *q, unsigned page)
{
	uint64_t bit = 1ull << (page % 64);

	if (page >= q->n_pages || (q->free_map[page / 64] & bit))
		return;
	q->free_map[page / 64] |= bit;
	q->n_free_pages++;
}

unsigned nf_txq_space(const struct nf_txq *q)
{
	return NF_RING_SIZE - (q->req_prod_pvt - q->rsp_cons);
}

unsigned nf_txq_slots_needed(const struct nf_txq *q, const struct nf_txpkt *pkt)
{
	unsigned n;

	if (pkt->len < ETH_HLEN_MIN || pkt->len > NF_MAX_TX_SIZE)
		return 0;
	n = (unsigned)((pkt->len + NF_PAGE_SIZE - 1) / NF_PAGE_SIZE);
	if (n > 1 && !q->sg)
		return 0;
	if (pkt->gso_type) {
		if (pkt->gso_type != NF_GSO_TCPV4 && pkt->gso_type != NF_GSO_TCPV6)
			return 0;
		if (!pkt->gso_size)
			return 0;
		n++;
	}
	return n;
}

static uint16_t tx_take_id(struct nf_txq *q, uint16_t page)
{
	uint16_t id = q->free_ids[--q->n_free];

	q->in_flight[id] = true;
	q->id_page[id] = page;
	return id;
}

int nf_txq_put_pages(struct nf_txq *q, const struct nf_txpkt *pkt, const uint16_t *pages)
{
	union nf_tx_slot *ring = nf_tx_slots(q->sring);
	unsigned need = nf_txq_slots_needed(q, pkt), dslots, k;
	uint32_t i = q->req_prod_pvt;
	size_t off = 0;

	if (!need)
		return -EMSGSIZE;
	dslots = need - (pkt->gso_type ? 1 : 0);
	if (need > nf_txq_space(q) || dslots > q->n_free)
		return -ENOSPC;
	for (k = 0; k < dslots; k++) {
		size_t chunk = pkt->len - off < NF_PAGE_SIZE ? pkt->len - off : NF_PAGE_SIZE;
		struct nf_tx_req r = { 0 };
		uint16_t id = tx_take_id(q, pages[k]);

		r.gref = q->gref[pages[k]];
		r.offset = 0;
		r.id = id;
		if (k == 0) {
			/* The first slot carries the whole frame's size. */
			r.size = (uint16_t)pkt->len;
			r.flags = pkt->flags & (NF_TXF_CSUM_BLANK | NF_TXF_DATA_VALIDATED);
			if (pkt->gso_type)
				r.flags |= NF_TXF_EXTRA_INFO;
		} else {
			r.size = (uint16_t)chunk;
		}
		if (k + 1 < dslots)
			r.flags |= NF_TXF_MORE_DATA;
		ring[MASK(i)].req = r;
		i++;
		if (k == 0 && pkt->gso_type) {
			struct nf_extra e = { .type = NF_EXTRA_GSO };

			e.u.gso.size = pkt->gso_size;
			e.u.gso.type = pkt->gso_type;
			ring[MASK(i)].extra = e;
			i++;
		}
		off += chunk;
	}
	q->req_prod_pvt = i;
	q->st.packets++;
	q->st.bytes += pkt->len;
	q->st.slots += need;
	return 0;
}

int nf_txq_put(struct nf_txq *q, const struct nf_txpkt *pkt)
{
	unsigned need = nf_txq_slots_needed(q, pkt), dslots, k;
	uint16_t pages[NF_TX_FRAME_PAGES + 1] = { 0 };
	int rc;

	if (!need)
		return -EMSGSIZE;
	dslots = need - (pkt->gso_type ? 1 : 0);
	if (need > nf_txq_space(q) || dslots > q->n_free || dslots > q->n_free_pages)
		return -ENOSPC;
	for (k = 0; k < dslots; k++) {
		size_t off = (size_t)k * NF_PAGE_SIZE;
		size_t chunk = pkt->len - off < NF_PAGE_SIZE ? pkt->len - off : NF_PAGE_SIZE;

		pages[k] = (uint16_t)nf_txq_page_take(q);
		memcpy(q->buf[pages[k]], pkt->data + off, chunk);
	}
	rc = nf_txq_put_pages(q, pkt, pages);
	if (rc)
		while (k)
			nf_txq_page_give(q, pages[--k]);
	return rc;
}

bool nf_txq_push(struct nf_txq *q)
{
	return nf_sring_push_requests(q->sring, q->req_prod_pvt);
}

unsigned nf_txq_gc(struct nf_txq *q, bool *more)
{
	const union nf_tx_slot *ring = nf_tx_slots(q->sring);
	unsigned n = 0;
	uint32_t prod;

	*more = false;
	prod = nf_sring_rsp_prod(q->sring);
	/* More responses than requests outstanding: a backend gone wrong;
	 * take none of them (RING_RESPONSE_PROD_OVERFLOW). */
	if ((uint32_t)(prod - q->rsp_cons) > (uint32_t)(q->req_prod_pvt - q->rsp_cons)) {
		q->st.bad_rsp++;
		return 0;
	}
	for (; q->rsp_cons != prod; q->rsp_cons++) {
		struct nf_tx_rsp r = tx_rsp_read(&ring[MASK(q->rsp_cons)]);

		if (r.status == NF_RSP_NULL)
			continue;	/* an extra-info slot */
		if (r.id >= NF_RING_SIZE || !q->in_flight[r.id]) {
			q->st.bad_rsp++;
			continue;
		}
		q->in_flight[r.id] = false;
		q->free_ids[q->n_free++] = r.id;
		/* at most once a page: each id is answered once */
		nf_txq_page_give(q, q->id_page[r.id]);
		if (r.status != NF_RSP_OKAY)
			q->st.errors++;
		n++;
	}
	if (q->lazy_events && nf_txq_space(q) >= NF_MAX_SLOTS + 1 && q->n_free >= NF_MAX_SLOTS) {
		*more = nf_sring_rsp_prod(q->sring) != q->rsp_cons;
		return n;
	}
	*more = nf_sring_final_check(q->sring, q->rsp_cons);
	return n;
}

/* ---- RX ---- */

void nf_rxq_init(struct nf_rxq *q, void *sring, void *const *buf, const uint32_t *gref)
{
	unsigned i;

	memset(q, 0, sizeof(*q));
	q->sring = sring;
	nf_sring_init(sring);
	for (i = 0; i < NF_RING_SIZE; i++) {
		q->buf[i] = buf[i];
		q->gref[i] = gref[i];
	}
}

bool nf_rxq_refill(struct nf_rxq *q)
{
	union nf_rx_slot *ring = nf_rx_slots(q->sring);
	uint32_t start = q->req_prod_pvt;

	while ((uint32_t)(q->req_prod_pvt - q->rsp_cons) < NF_RING_SIZE) {
		uint32_t s = MASK(q->req_prod_pvt);
		struct nf_rx_req r = { .id = (uint16_t)s, .gref = q->gref[s] };

		ring[s].req = r;
		q->req_prod_pvt++;
	}
	if (q->req_prod_pvt == start)
		return false;
	return nf_sring_push_requests(q->sring, q->req_prod_pvt);
}

/* Walk one packet's responses from rsp_cons: extras first (when the first
 * slot says so), then the data chain, copied into out or, without out,
 * named in iov. Returns the index after the packet, or the error: -EAGAIN
 * (incomplete, nothing consumed), -EIO (consume up to *end and drop). */
static int rx_walk(struct nf_rxq *q, uint32_t prod, uint8_t *out, size_t cap,
		   struct iovec *iov, unsigned *niov, struct nf_rxpkt *pkt, uint32_t *end)
{
	const union nf_rx_slot *ring = nf_rx_slots(q->sring);
	uint32_t i = q->rsp_cons, cur = i;	/* cur: the slot s was read from */
	union nf_rx_slot first = rx_slot_read(&ring[MASK(i)]), s;
	uint16_t flags = first.rsp.flags;
	unsigned nslots = 0;
	bool bad = false;

	memset(pkt, 0, sizeof(*pkt));
	pkt->flags = first.rsp.flags & (NF_RXF_DATA_VALIDATED | NF_RXF_CSUM_BLANK);
	s = first;
	if (first.rsp.flags & NF_RXF_EXTRA_INFO) {
		uint8_t eflags;

		do {
			if (++i == prod)
				goto incomplete;
			s = rx_slot_read(&ring[MASK(i)]);
			eflags = s.extra.flags;
			if (!s.extra.type || s.extra.type >= NF_EXTRA_TYPE_MAX) {
				bad = true;
			} else if (s.extra.type == NF_EXTRA_GSO) {
				if (!s.extra.u.gso.size ||
				    (s.extra.u.gso.type != NF_GSO_TCPV4 &&
				     s.extra.u.gso.type != NF_GSO_TCPV6))
					bad = true;
				pkt->gso_type = s.extra.u.gso.type;
				pkt->gso_size = s.extra.u.gso.size;
			}
		} while (eflags & NF_EXTRA_FLAG_MORE);
		s = first;
	}
	for (;;) {
		int16_t st = s.rsp.status;

		if (st < 0 || s.rsp.offset + (unsigned)st > NF_PAGE_SIZE ||
		    pkt->len + (unsigned)st > cap || ++nslots > NF_RX_MAX_SLOTS) {
			bad = true;
		} else if (!bad) {
			uint8_t *src = (uint8_t *)q->buf[MASK(cur)] + s.rsp.offset;

			if (out)
				memcpy(out + pkt->len, src, (size_t)st);
			else if (st)
				iov[(*niov)++] = (struct iovec){ .iov_base = src,
								 .iov_len = (size_t)st };
			pkt->len += (size_t)st;
		}
		if (!(flags & NF_RXF_MORE_DATA))
			break;
		if (++i == prod)
			goto incomplete;
		cur = i;
		s = rx_slot_read(&ring[MASK(i)]);
		flags = s.rsp.flags;
	}
	*end = i + 1;
	return bad || !pkt->len ? -EIO : 0;
incomplete:
	/* Every posted buffer answered and still no end: nothing more can
	 * come, the packet is garbage. Otherwise wait for the rest. */
	*end = prod;
	return prod == q->req_prod_pvt ? -EIO : -EAGAIN;
}

static int rx_get(struct nf_rxq *q, uint8_t *out, size_t cap, struct iovec *iov, unsigned *niov,
		  struct nf_rxpkt *pkt)
{
	uint32_t prod = nf_sring_rsp_prod(q->sring), end;
	int rc;

	if (prod == q->rsp_cons)
		return -EAGAIN;
	if ((uint32_t)(prod - q->rsp_cons) > (uint32_t)(q->req_prod_pvt - q->rsp_cons)) {
		/* Answers to requests never posted: drop every posted buffer's
		 * worth and let the caller see errors, never read past. */
		q->st.errors++;
		q->rsp_cons = q->req_prod_pvt;
		return -EIO;
	}
	rc = rx_walk(q, prod, out, cap, iov, niov, pkt, &end);
	if (rc == -EAGAIN)
		return rc;
	q->rsp_cons = end;
	if (rc) {
		q->st.errors++;
		return rc;
	}
	q->st.packets++;
	q->st.bytes += pkt->len;
	return 0;
}

int nf_rxq_get(struct nf_rxq *q, uint8_t *out, size_t cap, struct nf_rxpkt *pkt)
{
	return rx_get(q, out, cap, NULL, NULL, pkt);
}

int nf_rxq_get_iov(struct nf_rxq *q, struct iovec *iov, unsigned *niov, struct nf_rxpkt *pkt)
{
	*niov = 0;
	return rx_get(q, NULL, NF_MAX_TX_SIZE + 1u, iov, niov, pkt);
}

bool nf_rxq_final_check(struct nf_rxq *q)
{
	return nf_sring_final_check(q->sring, q->rsp_cons);
}
