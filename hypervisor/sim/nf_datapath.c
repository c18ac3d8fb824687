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
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/uio.h>
#include <unistd.h>

#include "hypervisor/sim/hv_guest.h"
#include "hypervisor/sim/netfront.h"
#include "hypervisor/sim/nf_datapath.h"
#include "hypervisor/sim/nf_pkt.h"
#include "lib/batchio.h"
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

/* A batch of frames each way, read or written with one system call
 * (batchio): a guest's kernel would not pay a system call per frame
 * either. */
static uint8_t frames[BATCHIO_MAX][VNET_HLEN + FRAME_MAX + NF_PAGE_SIZE];
static struct batchio bio;

/* TX reads a batch of frames per TAP queue into buffers of its own: as
 * Linux netfront, a frame goes while the ring has room for one of the
 * largest kind (19 slots), so a batch of small frames fills the ring,
 * and the frames of a batch that did not fit wait here, parsed, in
 * order, for the backend's responses (pkt[first .. first + n)). */
static uint8_t tx_frames[NF_MAX_QUEUES][BATCHIO_MAX][VNET_HLEN + FRAME_MAX + NF_PAGE_SIZE];
static struct tx_pend {
	unsigned first, n;
	struct nf_txpkt pkt[BATCHIO_MAX];
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

/* Writes frames[0..m) (their headers in vh) to the TAP. */
static void rx_flush(struct nf_dev *d, int fd, struct virtio_net_hdr *vh, const uint32_t *len,
		     unsigned m)
{
	struct iovec iov[BATCHIO_MAX * 2];
	int res[BATCHIO_MAX];

	for (unsigned i = 0; i < m; i++) {
		iov[2 * i] = (struct iovec){ .iov_base = &vh[i], .iov_len = sizeof(vh[i]) };
		iov[2 * i + 1] = (struct iovec){ .iov_base = frames[i], .iov_len = len[i] };
	}
	batchio_writev(&bio, fd, iov, 2, m, res);
	for (unsigned i = 0; i < m; i++)
		if (res[i] < 0)
			d->rx_dropped++;
}

static bool rx_deliver(struct nf_dev *d, struct nf_queue *q)
{
	int fd = d->tap_fds[q->idx % d->n_taps];
	struct virtio_net_hdr vh[BATCHIO_MAX];
	uint32_t len[BATCHIO_MAX];
	unsigned n, m = 0;
	bool notify;

	for (n = 0; n < NF_BUDGET; n++) {
		struct nf_rxpkt pkt;
		int rc;

		if (m == BATCHIO_MAX) {
			rx_flush(d, fd, vh, len, m);
			m = 0;
		}
		rc = nf_rxq_get(&q->rx, frames[m], FRAME_MAX, &pkt);
		if (rc == -EAGAIN) {
			if (!nf_rxq_final_check(&q->rx))
				break;
			continue;
		}
		if (rc || nf_pkt_to_vnet(&pkt, frames[m], pkt.len, &vh[m])) {
			d->rx_dropped++;
			continue;
		}
		len[m++] = pkt.len;
	}
	rx_flush(d, fd, vh, len, m);
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

/* pkt onto q's ring: 0 (sent or dropped, counted), or -ENOSPC when it
 * does not fit now. */
static int tx_put(struct nf_dev *d, struct nf_queue *q, const struct nf_txpkt *pkt)
{
	int rc = nf_txq_put(&q->tx, pkt);

	if (rc == -ENOSPC) {
		tx_gc(q);
		rc = nf_txq_put(&q->tx, pkt);
	}
	if (rc == -ENOSPC)
		return rc;
	if (rc)
		d->tx_dropped++;
	return 0;
}

static bool tx_from_tap(struct nf_dev *d, unsigned t, struct nf_queue *q)
{
	struct tx_pend *pd = &tx_pend[t];
	unsigned n = 0;

	/* what did not fit last time goes first */
	while (pd->n) {
		if (tx_put(d, q, &pd->pkt[pd->first]) < 0)
			goto out; /* the backend's responses wake us */
		pd->first++;
		pd->n--;
	}
	pd->first = 0;
	while (n < NF_BUDGET) {
		void *bufs[BATCHIO_MAX];
		int res[BATCHIO_MAX];
		unsigned want = BATCHIO_MAX;

		if (!tx_room(q))
			tx_gc(q);
		if (!tx_room(q))
			break;	/* the backend's responses wake us */
		if (want > NF_BUDGET - n)
			want = NF_BUDGET - n;
		for (unsigned i = 0; i < want; i++)
			bufs[i] = tx_frames[t][i];
		batchio_read(&bio, d->tap_fds[t], bufs, sizeof(tx_frames[t][0]), want, res);
		for (unsigned i = 0; i < want; i++) {
			struct nf_txpkt pkt;

			if (res[i] < 0 || (size_t)res[i] <= VNET_HLEN)
				continue;
			if (nf_pkt_from_vnet((struct virtio_net_hdr *)tx_frames[t][i],
					     tx_frames[t][i] + VNET_HLEN, (size_t)res[i] - VNET_HLEN,
					     d->feat.ipv6_csum, &pkt)) {
				d->tx_dropped++;
				continue;
			}
			/* in order: once one waits, the rest of the batch does */
			if (pd->n || tx_put(d, q, &pkt) < 0)
				pd->pkt[pd->n++] = pkt;
		}
		n += want;
		if (pd->n || res[want - 1] < 0)
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

/* The device's link went down: what waited to be sent is lost. */
static void tx_pend_drop(struct nf_dev *d)
{
	for (unsigned t = 0; t < d->n_taps; t++) {
		d->tx_dropped += tx_pend[t].n;
		tx_pend[t].n = 0;
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

	for (;;) {
		unsigned i, nfds = 3;
		int timeout = again || xsc_events_queued(d->xs) ? 0 : nf_dev_timeout(d);

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
		for (i = 0; i < d->nq; i++) {
			tx_gc(&d->q[i]);
			again |= rx_deliver(d, &d->q[i]);
		}
		for (i = 0; i < d->n_taps; i++)
			if ((p[3 + i].revents & POLLIN) || tx_pend[i].n)
				again |= tx_from_tap(d, i, &d->q[i % d->nq]);
	}
	batchio_exit(&bio);
	close(sfd);
	return rc;
}
