/* nf_datapath: the packet side of the simulated netfront — the guest's TAP
 * (IFF_VNET_HDR, multi-queue, offloads as negotiated) and the event loop
 * that moves its frames onto TX rings and RX responses back into it.
 *
 * One thread. Work per wake-up is bounded (NF_BUDGET frames per queue and
 * direction); leftover work makes the next poll not sleep, so a backend
 * that floods us cannot starve xenstore or the other queues. */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "hypervisor/sim/hv_guest.h"
#include "hypervisor/sim/netfront.h"
#include "hypervisor/sim/nf_datapath.h"
#include "hypervisor/sim/nf_pkt.h"
#include "lib/batchio.h"
#include "lib/env_ms.h"
#include "lib/err.h"
#include "lib/log.h"
#include "lib/nl.h"
#include "lib/nl_link.h"
#include "lib/xs_client.h"

#define NF_BUDGET	64
#define VNET_HLEN	sizeof(struct virtio_net_hdr)
#define FRAME_MAX	(NF_MAX_TX_SIZE + 1u)
/* netfront: tso_max_size = XEN_NETIF_MAX_TX_SIZE - MAX_TCP_HEADER, so a
 * GSO frame with its headers still fits one request's 16-bit size. */
#define NF_GSO_MAX	(NF_MAX_TX_SIZE - 320u)
#define NF_MTU_NO_SG	1500u
#define NF_TXQLEN	4096u

/* netfront's RX_COPY_THRESHOLD: the bytes of a received packet it pulls
 * into the skb's own memory (its headers); the rest stays in the pages
 * the backend copied it into, and goes up the stack from there. */
#define NF_RX_HEAD	256u
#define TX_IOV		(1u + NF_TX_FRAME_PAGES)
#define TX_READS_MIN	4u

/* Frames go in batches each way, read or written with one system call
 * (batchio): a guest's kernel would not pay a system call per frame
 * either. Each frame is read into, or written from, the granted pages
 * themselves (nf_ring.h), as Linux netfront's skbs are: no copy of the
 * guest's own between its stack and the backend's grant copy. */
static struct batchio bio;

/* After a pass that moved frames, the loop looks at the rings and TAPs
 * again for spin_us before it sleeps, yielding the CPU before each look
 * (as vifback's worker does, see VB_SPIN_US there); meanwhile RX does not
 * ask for an event (rsp_event stays), so the backend does not kick a
 * netfront that looks anyway. moved: this pass moved frames.
 * HVSIM_SPIN_US sets spin_us (0: never poll). */
static uint64_t spin_us = 50, spin_until;
static bool polling, moved;

static uint64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* RX: a batch of packets to write, each its virtio header, its head and
 * the rest of its pages (iov[], cnt[i] entries for packet i). */
static struct rx_batch {
	struct iovec iov[BATCHIO_MAX * (2 + NF_RX_MAX_SLOTS)];
	unsigned cnt[BATCHIO_MAX];
	unsigned m, n_iov;
	struct virtio_net_hdr vh[BATCHIO_MAX];
	uint8_t head[BATCHIO_MAX][NF_RX_HEAD];
} rxb;
/* a packet whose headers outrun its head, made linear (rare) */
static uint8_t rx_linear[BATCHIO_MAX][FRAME_MAX];

/* TX reads a batch of frames per TAP queue, each into pages taken from
 * its queue's pool: as Linux netfront, a frame goes while the ring has
 * room for one of the largest kind (19 slots), so a batch of small frames
 * fills the ring, and the frames of a batch that did not fit wait here,
 * parsed, in their pages, in order, for the backend's responses
 * (pkt[first .. first + n)). */
static struct tx_pend {
	unsigned first, n;
	/* reads to ask for next time: twice what the last drained batch
	 * found (at least TX_READS_MIN), all of them after a full one. A
	 * paced TCP sender (BBR) hands the TAP a frame or two per wake-up:
	 * 32 reads each time would mostly find nothing, at a cost each */
	unsigned want;
	bool found;	/* the last batch found frames: worth a read unasked */
	struct nf_txpkt pkt[BATCHIO_MAX];
	uint16_t pages[BATCHIO_MAX][NF_TX_FRAME_PAGES];
} tx_pend[NF_MAX_QUEUES];

/* The largest GSO frame netfront takes, and a queue that holds back
 * what a guest would: a guest's netfront stops its queue when its ring is
 * full, so its qdisc queues and its senders wait for socket buffer; a
 * TAP never stops its sender and drops past txqueuelen frames (1000), so
 * a netfront that waits a few milliseconds for a CPU would lose frames a
 * guest never loses. */
static int set_gso_max_and_qlen(int ifindex)
{
	struct nlmsghdr *nlh = nl_msg(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK);
	struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));

	ifi->ifi_index = ifindex;
	mnl_attr_put_u32(nlh, IFLA_GSO_MAX_SIZE, NF_GSO_MAX);
	mnl_attr_put_u32(nlh, IFLA_TXQLEN, NF_TXQLEN);
	return nl_request(nlh);
}

int nf_tap_open(struct nf_dev *d, const char *name, unsigned nqueues)
{
	struct nl_link l;
	unsigned i;
	int rc;

	if (strlen(name) >= IFNAMSIZ)
		return err_set(-EINVAL, "interface name too long: %s", name);
	if (nqueues > NF_MAX_QUEUES)
		nqueues = NF_MAX_QUEUES;
	for (i = 0; i < nqueues; i++) {
		struct ifreq ifr = { 0 };
		int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);

		if (fd < 0)
			return err_set(-errno, "/dev/net/tun: %s", strerror(errno));
		ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
		if (nqueues > 1)
			ifr.ifr_flags |= IFF_MULTI_QUEUE;
		snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
		if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
			rc = -errno;
			close(fd);
			return err_set(rc, "TAP %s: %s", name, strerror(-rc));
		}
		d->tap_fds[d->n_taps++] = fd;
	}
	nf_tap_set_link(d, false);
	rc = nl_link_get(name, &l);
	if (!rc) {
		d->tap_ifindex = l.ifindex;
		rc = nl_link_setup(l.ifindex, d->mac, d->mtu, -1, true);
	}
	if (!rc)
		rc = set_gso_max_and_qlen(l.ifindex);
	if (rc)
		return err_prefix(rc, "TAP %s", name);
	return 0;
}

void nf_tap_close(struct nf_dev *d)
{
	unsigned i;

	for (i = 0; i < d->n_taps; i++)
		close(d->tap_fds[i]);
	d->n_taps = 0;
}

void nf_tap_set_link(struct nf_dev *d, bool up)
{
	unsigned off = 0;
	int carrier = up;

	if (!d->n_taps)
		return;
	/* Offloads the backend took: the TAP then hands us partial
	 * checksums and GSO frames only of those kinds (no SG, no TSO). */
	if (up) {
		off = TUN_F_CSUM;
		if (d->feat.sg && d->feat.gso4)
			off |= TUN_F_TSO4;
		if (d->feat.sg && d->feat.gso6 && d->feat.ipv6_csum)
			off |= TUN_F_TSO6;
	}
	/* Without feature-sg a frame must fit one slot: netfront caps the
	 * MTU at ETH_DATA_LEN (xennet_fix_features), so do we. */
	if (up && !d->feat.sg && d->mtu > NF_MTU_NO_SG) {
		if (nl_link_set_mtu(d->tap_ifindex, NF_MTU_NO_SG))
			log_warn("vif%u.%u: MTU %u: %s", d->domid, d->devid, NF_MTU_NO_SG, err_msg());
		else
			log_info("vif%u.%u: backend without feature-sg: MTU %u, not %u", d->domid,
				 d->devid, NF_MTU_NO_SG, d->mtu);
		d->mtu = NF_MTU_NO_SG;
	}
	if (ioctl(d->tap_fds[0], TUNSETOFFLOAD, off) < 0)
		log_warn("vif%u.%u: TUNSETOFFLOAD: %s", d->domid, d->devid, strerror(errno));
	if (ioctl(d->tap_fds[0], TUNSETCARRIER, &carrier) < 0)
		log_warn("vif%u.%u: TUNSETCARRIER: %s", d->domid, d->devid, strerror(errno));
}

/* ---- RX: ring -> TAP ---- */

static void gather(uint8_t *to, const struct iovec *seg, unsigned nseg, size_t len)
{
	for (unsigned k = 0; k < nseg && len; k++) {
		size_t c = seg[k].iov_len < len ? seg[k].iov_len : len;

		memcpy(to, seg[k].iov_base, c);
		to += c;
		len -= c;
	}
}

/* Writes the batch to the TAP. */
static void rx_flush(struct nf_dev *d, int fd)
{
	int res[BATCHIO_MAX];

	if (!rxb.m)
		return;
	batchio_writevs(&bio, fd, rxb.iov, rxb.cnt, rxb.m, res);
	for (unsigned i = 0; i < rxb.m; i++)
		if (res[i] < 0)
			d->rx_dropped++;
	rxb.m = 0;
	rxb.n_iov = 0;
}

/* A packet in the pieces seg[0 .. nseg) of its buffers into the batch.
 * Its headers are read from a copy of our own (the head), so the virtio
 * header says what the frame written says even if the backend, which
 * still holds the pages' grants, writes them meanwhile. -EINVAL: its
 * offloads do not fit the frame (nf_pkt_to_vnet). */
static int rx_add(const struct iovec *seg, unsigned nseg, const struct nf_rxpkt *pkt)
{
	unsigned m = rxb.m, c = 2;
	size_t hl = pkt->len < NF_RX_HEAD ? pkt->len : NF_RX_HEAD, skip = hl;
	struct iovec *out = rxb.iov + rxb.n_iov;

	gather(rxb.head[m], seg, nseg, hl);
	out[0] = (struct iovec){ .iov_base = &rxb.vh[m], .iov_len = VNET_HLEN };
	if (nf_pkt_to_vnet(pkt, rxb.head[m], hl, &rxb.vh[m])) {
		if (hl == pkt->len)
			return -EINVAL;
		/* headers longer than netfront pulls: all of it, linear */
		gather(rx_linear[m], seg, nseg, pkt->len);
		if (nf_pkt_to_vnet(pkt, rx_linear[m], pkt->len, &rxb.vh[m]))
			return -EINVAL;
		out[1] = (struct iovec){ .iov_base = rx_linear[m], .iov_len = pkt->len };
	} else {
		out[1] = (struct iovec){ .iov_base = rxb.head[m], .iov_len = hl };
		for (unsigned k = 0; k < nseg; k++) {
			if (skip >= seg[k].iov_len) {
				skip -= seg[k].iov_len;
				continue;
			}
			uint8_t *base = (uint8_t *)seg[k].iov_base + skip;

			/* the buffers of adjacent slots are adjacent pages: one
			 * piece, one iovec (fewer for the kernel to walk) */
			if (c > 2 && (uint8_t *)out[c - 1].iov_base + out[c - 1].iov_len == base)
				out[c - 1].iov_len += seg[k].iov_len - skip;
			else
				out[c++] = (struct iovec){ .iov_base = base,
							   .iov_len = seg[k].iov_len - skip };
			skip = 0;
		}
	}
	rxb.cnt[m] = c;
	rxb.n_iov += c;
	rxb.m++;
	return 0;
}

/* *wrote: packets went to the TAP. Returns true when the budget ran out. */
static bool rx_deliver(struct nf_dev *d, struct nf_queue *q, bool *wrote)
{
	int fd = d->tap_fds[q->idx % d->n_taps];
	unsigned n;
	bool notify;

	for (n = 0; n < NF_BUDGET; n++) {
		struct iovec seg[NF_RX_MAX_SLOTS];
		struct nf_rxpkt pkt;
		unsigned nseg;
		int rc;

		if (rxb.m == BATCHIO_MAX)
			rx_flush(d, fd);
		rc = nf_rxq_get_iov(&q->rx, seg, &nseg, &pkt);
		if (rc == -EAGAIN) {
			if (polling || !nf_rxq_final_check(&q->rx))
				break;
			continue;
		}
		if (rc || rx_add(seg, nseg, &pkt))
			d->rx_dropped++;
	}
	/* written before their buffers are posted again */
	*wrote = rxb.m || n;
	moved |= n > 0;
	rx_flush(d, fd);
	notify = nf_rxq_refill(&q->rx);
	if (notify)
		nf_queue_kick_rx(d, q);
	return n == NF_BUDGET;
}

/* ---- TX: TAP -> ring ---- */

static bool tx_room(const struct nf_queue *q)
{
	return nf_txq_space(&q->tx) >= NF_MAX_SLOTS + 1 && q->tx.n_free >= NF_MAX_SLOTS;
}

static void tx_gc(struct nf_queue *q)
{
	bool more;
	unsigned guard = 4;

	while (nf_txq_gc(&q->tx, &more), more && --guard)
		;
}

static unsigned tx_pages_of(size_t len)
{
	return (unsigned)((len + NF_PAGE_SIZE - 1) / NF_PAGE_SIZE);
}

static void tx_pages_give(struct nf_queue *q, const uint16_t *pages, unsigned n)
{
	while (n)
		nf_txq_page_give(&q->tx, pages[--n]);
}

/* pkt, in pages, onto q's ring: 0 (sent, or dropped and its pages given
 * back, counted), or -ENOSPC when it does not fit now. */
static int tx_put(struct nf_dev *d, struct nf_queue *q, const struct nf_txpkt *pkt,
		  const uint16_t *pages)
{
	int rc = nf_txq_put_pages(&q->tx, pkt, pages);

	if (rc == -ENOSPC) {
		tx_gc(q);
		rc = nf_txq_put_pages(&q->tx, pkt, pages);
	}
	if (rc == -ENOSPC)
		return rc;
	if (rc) {
		tx_pages_give(q, pages, tx_pages_of(pkt->len));
		d->tx_dropped++;
	}
	return 0;
}

/* A frame read into pages as a TX packet: its offloads from the virtio
 * header. nf_pkt_from_vnet reads the frame only to complete an IPv6
 * checksum the backend cannot take; for that a frame of more than a page
 * is made linear and put back (rare: a backend without
 * feature-ipv6-csum-offload and frames past 4 KiB). Otherwise it is
 * shown the first page at most, where every header lies. */
static int tx_meta(struct nf_dev *d, struct nf_queue *q, const struct virtio_net_hdr *vh,
		   const uint16_t *pages, size_t len, struct nf_txpkt *pkt)
{
	static uint8_t lin[FRAME_MAX];
	unsigned n = tx_pages_of(len), k;
	int rc;

	if (n > 1 && (vh->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) && !d->feat.ipv6_csum) {
		for (k = 0; k < n; k++)
			memcpy(lin + (size_t)k * NF_PAGE_SIZE, nf_txq_page(&q->tx, pages[k]),
			       k + 1 < n ? NF_PAGE_SIZE : len - (size_t)k * NF_PAGE_SIZE);
		rc = nf_pkt_from_vnet(vh, lin, len, d->feat.ipv6_csum, pkt);
		for (k = 0; !rc && k < n; k++)
			memcpy(nf_txq_page(&q->tx, pages[k]), lin + (size_t)k * NF_PAGE_SIZE,
			       k + 1 < n ? NF_PAGE_SIZE : len - (size_t)k * NF_PAGE_SIZE);
	} else {
		rc = nf_pkt_from_vnet(vh, nf_txq_page(&q->tx, pages[0]),
				      len < NF_PAGE_SIZE ? len : NF_PAGE_SIZE, d->feat.ipv6_csum, pkt);
	}
	pkt->data = NULL;
	pkt->len = len;
	return rc;
}

/* Up to want frames from TAP queue t, each straight into pages of q's
 * pool, onto the ring or into pd. Returns how many reads were made;
 * *drained: the TAP had no more. */
static unsigned tx_read(struct nf_dev *d, unsigned t, struct nf_queue *q, unsigned want,
			bool *drained)
{
	static struct iovec iov[BATCHIO_MAX * TX_IOV];
	struct virtio_net_hdr vh[BATCHIO_MAX];
	uint16_t pages[BATCHIO_MAX][NF_TX_FRAME_PAGES];
	struct tx_pend *pd = &tx_pend[t];
	int res[BATCHIO_MAX];
	unsigned cnt[BATCHIO_MAX], i, k, at = 0;

	if (want > q->tx.n_free_pages / NF_TX_FRAME_PAGES)
		want = q->tx.n_free_pages / NF_TX_FRAME_PAGES;
	if (!want)
		return 0;
	for (i = 0; i < want; i++) {
		unsigned first = at;

		iov[at++] = (struct iovec){ .iov_base = &vh[i], .iov_len = VNET_HLEN };
		/* the pool hands out runs of pages (nf_txq_run_take), lowest
		 * first: pages adjacent in memory are one iovec, and the frame
		 * is read in a few pieces, not one a page. Taken one at a time
		 * from a stack, a small frame's pages, answered one by one,
		 * came back scattered: a read of 64 B had ~16 iovecs for the
		 * kernel to import and the pool 16 pages to pop and 15 to push */
		for (k = 0; k < NF_TX_FRAME_PAGES;) { /* want: never short of pages */
			unsigned p0, run = nf_txq_run_take(&q->tx, NF_TX_FRAME_PAGES - k, &p0);

			for (unsigned j = 0; j < run; j++, k++) {
				uint8_t *page = nf_txq_page(&q->tx, p0 + j);

				pages[i][k] = (uint16_t)(p0 + j);
				if (k && (uint8_t *)iov[at - 1].iov_base + iov[at - 1].iov_len == page)
					iov[at - 1].iov_len += NF_PAGE_SIZE;
				else
					iov[at++] = (struct iovec){ .iov_base = page,
								    .iov_len = NF_PAGE_SIZE };
			}
		}
		cnt[i] = at - first;
	}
	batchio_readvs(&bio, d->tap_fds[t], iov, cnt, want, res);
	/* the pages no frame filled go back: the pool hands out the lowest
	 * free first, so the same few pages are used over again */
	for (i = want; i-- > 0;) {
		unsigned used = res[i] > (int)VNET_HLEN ? tx_pages_of((size_t)res[i] - VNET_HLEN) : 0;

		for (k = NF_TX_FRAME_PAGES; k-- > used;)
			nf_txq_page_give(&q->tx, pages[i][k]);
	}
	for (i = 0; i < want; i++) {
		struct nf_txpkt pkt;
		size_t len;

		if (res[i] <= (int)VNET_HLEN)
			continue;
		len = (size_t)res[i] - VNET_HLEN;
		if (tx_meta(d, q, &vh[i], pages[i], len, &pkt)) {
			tx_pages_give(q, pages[i], tx_pages_of(len));
			d->tx_dropped++;
			continue;
		}
		/* in order: once one waits, the rest of the batch does */
		if (pd->n || tx_put(d, q, &pkt, pages[i]) < 0) {
			pd->pkt[pd->n] = pkt;
			memcpy(pd->pages[pd->n], pages[i], sizeof(pages[i]));
			pd->n++;
		}
	}
	*drained = res[want - 1] < 0;
	if (*drained) {
		unsigned found = 0;

		while (found < want && res[found] >= 0)
			found++;
		pd->want = 2 * found < TX_READS_MIN ? TX_READS_MIN : 2 * found;
		pd->found = found > 0;
	} else {
		pd->want = BATCHIO_MAX;
		pd->found = true;
	}
	return want;
}

static bool tx_from_tap(struct nf_dev *d, unsigned t, struct nf_queue *q)
{
	struct tx_pend *pd = &tx_pend[t];
	unsigned n = 0;

	/* what did not fit last time goes first */
	while (pd->n) {
		if (tx_put(d, q, &pd->pkt[pd->first], pd->pages[pd->first]) < 0)
			goto out; /* the backend's responses wake us */
		pd->first++;
		pd->n--;
	}
	pd->first = 0;
	while (n < NF_BUDGET) {
		unsigned want = pd->want && pd->want < BATCHIO_MAX ? pd->want : BATCHIO_MAX, got;
		bool drained = false;

		if (!tx_room(q))
			tx_gc(q);
		if (!tx_room(q))
			break;	/* the backend's responses wake us */
		if (want > NF_BUDGET - n)
			want = NF_BUDGET - n;
		got = tx_read(d, t, q, want, &drained);
		if (!got)
			break;	/* no pages free: the backend's responses wake us */
		n += got;
		moved = true;
		if (pd->n || drained)
			break;	/* full, or the TAP is drained */
	}
out:
	if (nf_txq_push(&q->tx))
		nf_queue_kick_tx(d, q);
	/* short of room: the reap arms the event its responses bring
	 * (lazy_events), or finds room came meanwhile: look again */
	if (!tx_room(q)) {
		tx_gc(q);
		if (tx_room(q))
			return true;
	}
	return n >= NF_BUDGET;
}

/* The device's link went down: what waited to be sent is lost, its pages
 * back to their pool (a pool set up afresh since is full: it takes none). */
static void tx_pend_drop(struct nf_dev *d)
{
	for (unsigned t = 0; t < d->n_taps; t++) {
		struct tx_pend *pd = &tx_pend[t];
		struct nf_queue *q = &d->q[t % (d->nq ? d->nq : 1)];

		for (unsigned i = pd->first; i < pd->first + pd->n; i++)
			tx_pages_give(q, pd->pages[i], tx_pages_of(pd->pkt[i].len));
		d->tx_dropped += pd->n;
		pd->n = 0;
		pd->first = 0;
	}
}

/* ---- loop ---- */

static int drain_xenstore(struct nf_dev *d, bool *changed)
{
	struct xsc_event *ev;
	int err = 0;
	bool any = false;

	while ((ev = xsc_event_next(d->xs, &err))) {
		free(ev);
		any = true;
	}
	if (err)
		return err_set(err, "connection to xenstored lost");
	if (any) {
		bool was = d->data_on;

		if (nf_dev_step(d))
			log_err("vif%u.%u: %s", d->domid, d->devid, err_msg());
		*changed = was != d->data_on;
	}
	return 0;
}

int nf_run(struct nf_dev *d)
{
	struct pollfd p[3 + NF_MAX_QUEUES];
	sigset_t ss;
	int sfd, rc = 0;
	bool again = false, changed = false;

	sigemptyset(&ss);
	sigaddset(&ss, SIGTERM);
	sigaddset(&ss, SIGINT);
	sigprocmask(SIG_BLOCK, &ss, NULL);
	sfd = signalfd(-1, &ss, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0)
		return err_set(-errno, "signalfd: %s", strerror(errno));
	if (batchio_init(&bio) < 0)
		log_warn("vif%u.%u: %s: a system call per frame", d->domid, d->devid, err_msg());
	if (nf_dev_step(d))
		log_err("vif%u.%u: %s", d->domid, d->devid, err_msg());
	nf_tap_set_link(d, d->data_on);
	if (env_num("HVSIM_SPIN_US", "microseconds", 0, 1000, &spin_us) < 0)
		log_warn("vif%u.%u: %s: %llu us", d->domid, d->devid, err_msg(),
			 (unsigned long long)spin_us);

	for (;;) {
		unsigned i, nfds = 3;
		int timeout;

		/* polled long enough: ask for events again, then look once
		 * more, so a response that came meanwhile is not left to an
		 * event that will not come */
		if (polling && mono_us() >= spin_until) {
			polling = false;
			for (i = 0; d->data_on && i < d->nq; i++)
				again |= nf_rxq_final_check(&d->q[i].rx);
		}
		timeout = again || polling || xsc_events_queued(d->xs) ? 0 : nf_dev_timeout(d);
		if (polling)
			sched_yield();

		p[0] = (struct pollfd){ .fd = sfd, .events = POLLIN };
		p[1] = (struct pollfd){ .fd = xsc_fd(d->xs), .events = POLLIN };
		p[2] = (struct pollfd){ .fd = hv_guest_evtchn_fd(d->g), .events = POLLIN };
		for (i = 0; i < d->n_taps; i++) {
			struct nf_queue *q = &d->q[i % (d->nq ? d->nq : 1)];

			p[nfds++] = (struct pollfd){
				.fd = d->tap_fds[i],
				.events = d->data_on && tx_room(q) && !tx_pend[i].n ? POLLIN : 0,
			};
		}
		if (poll(p, nfds, timeout) < 0 && errno != EINTR) {
			rc = err_set(-errno, "poll: %s", strerror(errno));
			break;
		}
		if (p[0].revents)
			break;
		again = false;
		changed = false;
		if (d->reconnect_due && !nf_dev_timeout(d) && nf_dev_step(d))
			log_err("vif%u.%u: %s", d->domid, d->devid, err_msg());
		if (p[1].revents || xsc_events_queued(d->xs)) {
			rc = drain_xenstore(d, &changed);
			if (rc)
				break;
			if (changed) {
				nf_tap_set_link(d, d->data_on);
				/* Responses that came before we were told the
				 * backend is Connected notified nobody: look. */
				again = d->data_on;
			}
		}
		if (p[2].revents) {
			uint32_t port;
			unsigned n = 0;

			while (n++ < 4 * NF_MAX_QUEUES && !hv_guest_evtchn_pending(d->g, &port))
				;
		}
		if (!d->data_on) {
			tx_pend_drop(d);
			continue;
		}
		bool wrote_any = false;

		for (i = 0; i < d->nq; i++) {
			bool wrote = false;

			tx_gc(&d->q[i]);
			again |= rx_deliver(d, &d->q[i], &wrote);
			wrote_any |= wrote;
		}
		/* What we just wrote (a TCP sender's ACKs) made the stack
		 * send more, into the TAP, within that write: looked for now,
		 * not after a poll that would only say so; only while the
		 * TAP has had frames to send (not under a one-way flood in). */
		for (i = 0; i < d->n_taps; i++)
			if ((p[3 + i].revents & POLLIN) || tx_pend[i].n ||
			    (wrote_any && p[3 + i].events && tx_pend[i].found))
				again |= tx_from_tap(d, i, &d->q[i % d->nq]);
		if (moved && spin_us) {
			moved = false;
			polling = true;
			spin_until = mono_us() + spin_us;
		}
	}
	batchio_exit(&bio);
	close(sfd);
	return rc;
}
