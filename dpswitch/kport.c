/* kport: kernel ports (--kernel-port IFACE). A NIC port on an interface
 * the kernel keeps (a PV Dom0's NIC very often stays with its kernel
 * driver: no vfio, no hugepages), through dpswitch's own AF_PACKET socket
 * rather than an ethdev, because none of DPDK 22.11's PMDs for a kernel
 * interface takes a GSO packet whole (net_af_packet has no
 * PACKET_VNET_HDR, net_tap segments in software, virtio_user needs
 * /dev/vhost-net).
 *
 * The socket has PACKET_VNET_HDR (a virtio-net header before each frame,
 * vnet.h), so a guest's GSO packet that tso.h admits whole goes to the
 * kernel as one packet, which its NIC's TSO or its software GSO cuts (or
 * a veth hands on whole, as the kernel path's TAP and bridge do), and a
 * GSO packet the kernel hands us goes whole to a guest that asked for
 * that GSO type (netif's GSO extra info) and is cut here (gso.c) for any
 * other port (a UDP one, UDP_SEGMENT's, always: netif has no UDP GSO);
 * PACKET_IGNORE_OUTGOING (the host's own frames on it are not ours to
 * switch). Not PACKET_QDISC_BYPASS: its dev_direct_xmit drops a GSO
 * packet the device cannot take whole (no TSO for it, TSO turned off, no
 * checksum offload) instead of cutting it, since the software GSO would
 * make a list of skbs, and drops rather than queues while the NIC's queue
 * is stopped; through the qdisc both are cut or queued, as the kernel
 * path's frames are (a veth's noqueue sends at once). Each flush is one
 * sendmmsg (one message a frame, an mbuf chain as its iovec, the kernel
 * copies it), each poll one recvmmsg of up to a burst into free read
 * slots; the socket is what the loop sleeps on. A GSO packet that goes
 * whole to a guest is not copied again: its mbuf points into its slot,
 * and the guest's grant copy reads it there, as vifback's reads it where
 * its TAP read put it (copied into mbufs and again into one piece for the
 * ring, it cost dpswitch about twice vifback's CPU per byte towards a
 * guest). Rings (TPACKET_V2/V3) would save the kernel's copy only for
 * small frames: a GSO packet would be copied into the ring first.
 *
 * The interface's MTU is followed while dpswitch runs (an operator may
 * lower it at any time): a GSO packet goes with its segment size cut to
 * what the MTU leaves, and a TCP frame over the MTU goes as a GSO packet
 * of that size, so the kernel cuts both into frames that fit (TCP takes
 * segments smaller than its MSS anywhere); any other frame over it is
 * dropped (oversize), as a bridge drops it. */
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
#include <xen/io/netif.h>

#include "dpswitch/dps.h"
#include "dpswitch/tso.h"
#include "dpswitch/vnet.h"
#include "lib/err.h"
#include "lib/log.h"

/* mbufs one GSO packet may span here (its iovec, with the header) */
#define DPS_KPORT_CHAIN 64u
/* a received frame: 64 KiB of IP and an Ethernet header with a tag */
#define DPS_KPORT_FRAME (65536u + 32u)
/* frames received are read into these slots; a GSO packet handed whole
 * to a guest keeps its slot until the guest took it (rx_whole): two
 * bursts' worth, so that a guest's ring (some 14 whole packets a pass)
 * leaves room for the next burst */
#define DPS_KPORT_SLOTS (2u * DPS_BURST)
/* every slot held for this long by guests short of buffers: what they
 * hold is copied out (rx_settle), so that the port reads again for the
 * others */
#define DPS_KPORT_HOLD_US 1000u
/* socket buffers: a burst of whole GSO packets each way */
#define DPS_KPORT_SOCKBUF (4 << 20)
/* how often the interface's MTU is looked at again while frames go out */
#define DPS_KPORT_MTU_MS 100u

struct dps_kport {
	int fd;
	char ifname[IF_NAMESIZE];
	uint32_t mtu;	 /* the interface's, as last read (mtu_read) */
	uint64_t mtu_ms; /* when */
	struct virtio_net_hdr txh[DPS_OUTQ];
	struct mmsghdr txm[DPS_OUTQ];
	struct iovec txiov[DPS_OUTQ][DPS_KPORT_CHAIN + 1];
	struct virtio_net_hdr rxh[DPS_BURST];
	struct mmsghdr rxm[DPS_BURST];
	struct iovec rxiov[DPS_BURST][2];
	uint8_t rxslot[DPS_BURST]; /* the slot message i is read into */
	uint8_t *rxbuf; /* DPS_KPORT_SLOTS frames of DPS_KPORT_FRAME */
	/* a slot's refcnt: 1 while an mbuf points into it (a GSO packet
	 * handed whole to a guest, rx_whole), 0 when it is free */
	struct rte_mbuf_ext_shared_info rxsh[DPS_KPORT_SLOTS];
	uint64_t full_since; /* every slot held since (µs), 0: not full */
};

static struct dps_kport *kports[DPS_MAX_KPORTS];
static unsigned nkports;

static void kport_free(struct dps_kport *k)
{
	if (k->fd >= 0)
		close(k->fd);
	if (k->rxbuf && k->rxbuf != MAP_FAILED)
		munmap(k->rxbuf, (size_t)DPS_KPORT_SLOTS * DPS_KPORT_FRAME);
	free(k);
}

static void rx_unheld(void *addr, void *opaque)
{
	(void)addr;
	(void)opaque; /* rxbuf is the port's: nothing to give back */
}

static int setopt(int fd, int level, int name, int val, const char *what, const char *ifname)
{
	if (setsockopt(fd, level, name, &val, sizeof(val)) < 0)
		return err_set(-errno, "kernel port %s: %s: %s", ifname, what, strerror(errno));
	return 0;
}

static int bufsize(int fd, int force, int plain, const char *what, const char *ifname)
{
	int val = DPS_KPORT_SOCKBUF;

	/* past the sysctl's limit needs CAP_NET_ADMIN, which a switch on
	 * a kernel interface has anyway; the plain one is the fallback */
	if (setsockopt(fd, SOL_SOCKET, force, &val, sizeof(val)) == 0)
		return 0;
	return setopt(fd, SOL_SOCKET, plain, val, what, ifname);
}

/* The interface's MTU into k->mtu (kept as it was if it cannot be read:
 * the interface is going). Looked at again at most every DPS_KPORT_MTU_MS
 * while frames go out, and at once when the kernel refuses a frame as
 * too long: one comparison per flush and an ioctl per 100 ms of traffic.
 * Not rtnetlink's RTM_NEWLINK: one more socket in the loop's poll set and
 * a parser, for a change a port sees once in its life, and the MTU
 * matters only while frames go out. */
static int mtu_read(struct dps_kport *k, uint64_t now_ms)
{
	struct ifreq ifr = { 0 };

	k->mtu_ms = now_ms;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", k->ifname);
	if (ioctl(k->fd, SIOCGIFMTU, &ifr) < 0)
		return err_set(-errno, "kernel port %s: MTU: %s", k->ifname, strerror(errno));
	k->mtu = ifr.ifr_mtu > 0 ? (uint32_t)ifr.ifr_mtu : 0;
	return 0;
}

static int kport_open(struct dps_kport *k, int ifindex)
{
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL),
				   .sll_ifindex = ifindex };
	struct packet_mreq mr = { .mr_ifindex = ifindex, .mr_type = PACKET_MR_PROMISC };
	int rc;

	/* protocol 0: it takes nothing until bound to the one interface */
	k->fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (k->fd < 0)
		return err_set(-errno, "kernel port %s: AF_PACKET socket: %s", k->ifname,
			       strerror(errno));
	if ((rc = setopt(k->fd, SOL_PACKET, PACKET_VNET_HDR, 1, "PACKET_VNET_HDR", k->ifname)) ||
	    (rc = setopt(k->fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, 1, "PACKET_IGNORE_OUTGOING",
			 k->ifname)) ||
	    (rc = bufsize(k->fd, SO_SNDBUFFORCE, SO_SNDBUF, "SO_SNDBUF", k->ifname)) ||
	    (rc = bufsize(k->fd, SO_RCVBUFFORCE, SO_RCVBUF, "SO_RCVBUF", k->ifname)))
		return rc;
	if (bind(k->fd, (struct sockaddr *)&sll, sizeof(sll)) < 0)
		return err_set(-errno, "kernel port %s: bind: %s", k->ifname, strerror(errno));
	/* promiscuous for as long as the socket lives: the switch forwards
	 * for every guest MAC behind it */
	if (setsockopt(k->fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof(mr)) < 0)
		return err_set(-errno, "kernel port %s: promiscuous: %s", k->ifname,
			       strerror(errno));
	return mtu_read(k, nb_now_us() / 1000);
}

int dps_kport_setup(struct dps *d, const char *ifname)
{
	struct dps_kport *k;
	struct dps_port *p;
	int ifindex, rc, idx = -1;

	if (nkports == DPS_MAX_KPORTS)
		return err_set(-ENOSPC, "kernel port %s: at most %u", ifname, DPS_MAX_KPORTS);
	ifindex = (int)if_nametoindex(ifname);
	if (!ifindex)
		return err_set(-ENODEV, "kernel port %s: no such interface", ifname);
	k = calloc(1, sizeof(*k));
	if (!k)
		return err_set(-ENOMEM, "kernel port %s: out of memory", ifname);
	snprintf(k->ifname, sizeof(k->ifname), "%s", ifname);
	k->fd = -1;
	for (unsigned i = 0; i < DPS_KPORT_SLOTS; i++)
		k->rxsh[i].free_cb = rx_unheld;
	k->rxbuf = mmap(NULL, (size_t)DPS_KPORT_SLOTS * DPS_KPORT_FRAME, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (k->rxbuf == MAP_FAILED) {
		kport_free(k);
		return err_set(-ENOMEM, "kernel port %s: out of memory", ifname);
	}
	rc = kport_open(k, ifindex);
	if (rc == 0 && (idx = dps_port_alloc(d, DPS_PORT_NIC, ifname)) < 0)
		rc = idx;
	if (rc < 0) {
		kport_free(k);
		return rc;
	}
	for (unsigned i = 0; i < DPS_BURST; i++) {
		k->rxiov[i][0] = (struct iovec){ &k->rxh[i], sizeof(k->rxh[i]) };
		k->rxiov[i][1] = (struct iovec){ NULL, DPS_KPORT_FRAME }; /* rx_slots */
		k->rxm[i].msg_hdr = (struct msghdr){ .msg_iov = k->rxiov[i], .msg_iovlen = 2 };
	}
	kports[nkports++] = k;
	p = &d->ports[idx];
	p->kp = k;
	p->eth = UINT16_MAX;
	/* what the kernel takes whole: what tso.h admits for a NIC, both
	 * families, any segment size: tx_msg cuts it to the MTU of the
	 * moment */
	p->tso = (struct dps_tso_caps){ .v4 = true, .v6 = true, .mtu = UINT16_MAX,
					.max_segs = DPS_GSO_MAX_SEGS, .max_chain = DPS_KPORT_CHAIN };
	p->wake_fd = k->fd;
	p->connected = p->plugged = true;
	dps_port_update(d, (unsigned)idx);
	log_info("dpswitch: port %d is kernel interface %s (AF_PACKET with virtio-net headers, "
		 "GSO kept whole, MTU %u)", idx, ifname, k->mtu);
	return 0;
}

static bool rx_whole(struct dps *d, unsigned idx, struct dps_kport *k, unsigned slot,
		     struct rte_mbuf *m, uint32_t len, uint8_t gso_type, uint16_t mss);
static void rx_settle(struct dps *d, struct dps_kport *k);

/* The free slots (up to a burst) as the messages' buffers; their count.
 * None free: the guests hold every slot. The port then stops reading
 * (the kernel's socket buffer queues, and its socket is not slept on, or
 * the loop would spin on it) until they take some or, past
 * DPS_KPORT_HOLD_US, what they hold is copied out. */
static unsigned rx_slots(struct dps *d, struct dps_port *p, struct dps_kport *k)
{
	unsigned n = 0;

	for (unsigned s = 0; s < DPS_KPORT_SLOTS && n < DPS_BURST; s++)
		if (!rte_mbuf_ext_refcnt_read(&k->rxsh[s])) {
			k->rxslot[n] = (uint8_t)s;
			k->rxiov[n++][1].iov_base = k->rxbuf + (size_t)s * DPS_KPORT_FRAME;
		}
	if (!n) {
		if (!k->full_since)
			k->full_since = d->now_us;
		if (d->now_us - k->full_since < DPS_KPORT_HOLD_US) {
			p->wake_fd = -1;
			return 0;
		}
		rx_settle(d, k);
		return rx_slots(d, p, k);
	}
	k->full_since = 0;
	p->wake_fd = k->fd;
	return n;
}

void dps_kport_poll(struct dps *d, unsigned idx)
{
	struct dps_port *p = &d->ports[idx];
	struct dps_kport *k = p->kp;
	struct rte_mbuf *m[DPS_BURST], *seg[DPS_GSO_MAX_SEGS];
	unsigned nm = 0, want = rx_slots(d, p, k);
	int n;

	if (!want)
		return;
	n = recvmmsg(k->fd, k->rxm, want, MSG_DONTWAIT, NULL);
	/* less than asked for: empty now (main.c's pass reads it again only
	 * in a pass that found work elsewhere) */
	p->quiet = n < (int)want;
	if (n <= 0)
		return;
	if (rte_pktmbuf_alloc_bulk(d->pool, m, (unsigned)n) < 0) {
		p->c.drops[DPS_DROP_NO_MBUF] += (unsigned)n;
		return;
	}
	for (int i = 0; i < n; i++) {
		uint8_t *pkt = k->rxbuf + (size_t)k->rxslot[i] * DPS_KPORT_FRAME, gso_type = 0;
		uint32_t got = k->rxm[i].msg_len, len;
		int rc;

		if (k->rxm[i].msg_hdr.msg_flags & MSG_TRUNC) {
			dps_drop(p, DPS_DROP_OVERSIZE, m[i]);
			continue;
		}
		if (got < sizeof(k->rxh[i]) + 14) {
			dps_drop(p, DPS_DROP_MALFORMED, m[i]);
			continue;
		}
		len = got - (uint32_t)sizeof(k->rxh[i]);
		rc = dps_vnet_rx(&k->rxh[i], pkt, len, &gso_type);
		if (rc < 0) {
			dps_drop(p, DPS_DROP_MALFORMED, m[i]);
			continue;
		}
		if (rc == 1) {
			/* a GSO packet (GRO, a veth peer's TSO): whole to a
			 * guest that asked for GSO, else cut into frames. In
			 * order: what came before it goes first */
			unsigned ns;

			if (nm)
				dps_fwd(d, idx, m, nm);
			nm = 0;
			if (rx_whole(d, idx, k, k->rxslot[i], m[i], len, gso_type,
				     k->rxh[i].gso_size))
				continue;
			rte_pktmbuf_free(m[i]);
			ns = dps_gso_cut(d, idx, pkt, len, gso_type, k->rxh[i].gso_size, seg);
			if (ns)
				dps_fwd(d, idx, seg, ns);
			continue;
		}
		if (len > rte_pktmbuf_tailroom(m[i])) {
			dps_drop(p, DPS_DROP_OVERSIZE, m[i]);
			continue;
		}
		memcpy(rte_pktmbuf_mtod(m[i], void *), pkt, len);
		m[i]->data_len = (uint16_t)len;
		m[i]->pkt_len = len;
		m[nm++] = m[i];
	}
	if (nm)
		dps_fwd(d, idx, m, nm);
}

/* A GSO packet from the kernel whole to a guest that asked for GSO
 * (dps_guest_takes_gso): one mbuf pointing at it where recvmmsg put it
 * (an external buffer: no copy; the guest's grant copy reads it there,
 * in the pass's flush), with its type and MSS, into the switch with the
 * packet at hand (d->gso_pkt) for any port that must have frames
 * instead. What the guest could not take by the next recvmmsg is copied
 * then (rx_settle). false: not for a guest that takes it (the caller
 * cuts it). */
static bool rx_whole(struct dps *d, unsigned idx, struct dps_kport *k, unsigned slot,
		     struct rte_mbuf *m, uint32_t len, uint8_t gso_type, uint16_t mss)
{
	uint8_t *pkt = k->rxbuf + (size_t)slot * DPS_KPORT_FRAME;
	struct netif_pkt pk = { .data = pkt, .len = len, .gso_type = gso_type, .gso_size = mss,
				.flags = NETIF_PKT_CSUM_BLANK };
	struct dps_gso_hdr h;
	uint16_t out;

	/* netif has no UDP GSO: those are always cut */
	if ((pkt[0] & 1) || gso_type == DPS_GSO_UDP_L4 ||
	    dps_gso_parse(pkt, len, gso_type, mss, &h) < 0)
		return false;
	out = dps_mac_lookup(&d->macs, pkt, d->now_ms);
	/* takes_gso: len within netif's 64 KiB, so within an mbuf's buf_len */
	if (out == DPS_MAC_NONE || !dps_guest_takes_gso(d, out, &h, mss, len))
		return false;
	rte_pktmbuf_attach_extbuf(m, pkt, RTE_BAD_IOVA, (uint16_t)len, &k->rxsh[slot]);
	rte_mbuf_ext_refcnt_set(&k->rxsh[slot], 1);
	m->data_len = (uint16_t)len;
	m->pkt_len = len;
	m->ol_flags |= RTE_MBUF_F_TX_TCP_SEG | (h.v6 ? RTE_MBUF_F_TX_IPV6 : RTE_MBUF_F_TX_IPV4);
	m->l2_len = h.l2_len;
	m->l3_len = h.l3_len;
	m->l4_len = h.l4_len;
	m->tso_segsz = mss;
	d->gso_pkt = &pk;
	d->gso_hdr = h;
	dps_fwd(d, idx, &m, 1);
	d->gso_pkt = NULL;
	return true;
}

#define DPS_MBUF_ROOM (RTE_MBUF_DEFAULT_BUF_SIZE - RTE_PKTMBUF_HEADROOM)

/* The mbufs rx_copy makes of a packet of len bytes. */
static unsigned rx_copy_mbufs(uint32_t len)
{
	return (len + DPS_MBUF_ROOM - 1) / DPS_MBUF_ROOM;
}

/* m (a whole GSO packet in rxbuf) copied into a chain of pool mbufs with
 * its GSO fields; NULL when the pool is short. */
static struct rte_mbuf *rx_copy(struct dps *d, const struct rte_mbuf *m)
{
	const uint8_t *pkt = rte_pktmbuf_mtod(m, const uint8_t *);
	uint32_t room = DPS_MBUF_ROOM, off = 0;
	unsigned n = rx_copy_mbufs(m->pkt_len);
	struct rte_mbuf *c[DPS_KPORT_CHAIN];

	if (n > DPS_KPORT_CHAIN || rte_pktmbuf_alloc_bulk(d->pool, c, n) < 0)
		return NULL;
	for (unsigned i = 0; i < n; i++) {
		uint32_t k = m->pkt_len - off < room ? m->pkt_len - off : room;

		memcpy(rte_pktmbuf_mtod(c[i], void *), pkt + off, k);
		c[i]->data_len = (uint16_t)k;
		off += k;
		if (i)
			c[i - 1]->next = c[i];
	}
	c[0]->nb_segs = (uint16_t)n;
	c[0]->pkt_len = m->pkt_len;
	c[0]->ol_flags = m->ol_flags & ~RTE_MBUF_F_EXTERNAL;
	c[0]->l2_len = m->l2_len;
	c[0]->l3_len = m->l3_len;
	c[0]->l4_len = m->l4_len;
	c[0]->tso_segsz = m->tso_segsz;
	return c[0];
}

/* Guest port idx's queued packets that point into k's slots replaced by
 * copies (dropped if the pool is short, no_mbuf, or low, pool_low). */
static void rx_settle_port(struct dps *d, struct dps_kport *k, unsigned idx)
{
	struct dps_port *p = &d->ports[idx];
	unsigned n = 0;

	for (unsigned i = 0; i < p->nout; i++) {
		struct rte_mbuf *m = p->outq[i], *c;

		if (RTE_MBUF_HAS_EXTBUF(m) && m->shinfo >= k->rxsh &&
		    m->shinfo < k->rxsh + DPS_KPORT_SLOTS) {
			/* the copy's mbufs instead of the one it replaces: a
			 * copy in one mbuf costs the pool nothing, and is
			 * never refused for it */
			unsigned more = rx_copy_mbufs(m->pkt_len) - 1;

			if (more && !dps_guest_admits(d, idx, NULL, more)) {
				p->held--;
				dps_drop(p, DPS_DROP_POOL_LOW, m);
				continue;
			}
			c = rx_copy(d, m);
			if (!c) {
				p->held--;
				dps_drop(p, DPS_DROP_NO_MBUF, m);
				continue;
			}
			p->held += more;
			/* it waits on its own clock still */
			DPS_QUEUED_MS(c) = DPS_QUEUED_MS(m);
			rte_pktmbuf_free(m);
			m = c;
		}
		p->outq[n++] = m;
	}
	p->nout = n;
}

/* Every slot held for DPS_KPORT_HOLD_US by guests short of buffers: what
 * waits in their queues is copied out of the slots, so the port reads
 * for the other ports again. Rare (a guest that stopped taking its
 * packets for a while): the pass's flush gives a guest its packets
 * straight from their slots. */
static void rx_settle(struct dps *d, struct dps_kport *k)
{
	for (unsigned i = 0; i < d->ndirty; i++)
		rx_settle_port(d, k, d->dirty[i]);
	k->full_since = 0;
}

/* The TCP payload a segment of h may carry within the port's MTU, 0 when
 * it leaves less than tso.h's smallest MSS (such a packet goes as it is). */
static uint16_t mtu_mss(const struct dps_kport *k, const struct dps_gso_hdr *h)
{
	uint32_t hdr = (uint32_t)h->l3_len + h->l4_len;

	return k->mtu >= hdr + DPS_TSO_MIN_MSS && k->mtu - hdr < UINT16_MAX
		       ? (uint16_t)(k->mtu - hdr)
		       : 0;
}

/* A plain frame over the MTU that is TCP: *h filled, and the MSS it is
 * sent with as a GSO packet (the kernel cuts it) returned; 0 when it is
 * not (it goes as it is, and the kernel refuses one too long). Only a
 * frame of one mbuf that no other port shares: its checksum field is
 * rewritten. */
static uint16_t over_mtu(const struct dps_kport *k, struct rte_mbuf *m, struct dps_gso_hdr *h)
{
	const uint8_t *f = rte_pktmbuf_mtod(m, const uint8_t *);
	uint32_t len = m->pkt_len;
	uint16_t mss;

	/* the kernel's own test: an Ethernet header, 4 more with a tag */
	if (len <= k->mtu + 14 || m->nb_segs != 1 || RTE_MBUF_HAS_EXTBUF(m) ||
	    rte_mbuf_refcnt_read(m) != 1)
		return 0;
	if (dps_gso_parse(f, len, XEN_NETIF_GSO_TYPE_TCPV4, 1, h) < 0 &&
	    dps_gso_parse(f, len, XEN_NETIF_GSO_TYPE_TCPV6, 1, h) < 0)
		return 0;
	if (len - h->l2_len <= k->mtu)
		return 0; /* a tagged frame within the MTU */
	mss = mtu_mss(k, h);
	return h->payload > mss ? mss : 0;
}

/* Message i for mbuf m: its virtio-net header, then its mbufs. */
static void tx_msg(struct dps_kport *k, unsigned i, struct rte_mbuf *m)
{
	struct virtio_net_hdr *vh = &k->txh[i];
	struct dps_gso_hdr h;
	unsigned niov = 1;
	uint16_t mss;

	if (m->ol_flags & RTE_MBUF_F_TX_TCP_SEG) {
		/* tso.h admitted it (dps_tso_fits): headers in the first
		 * mbuf, lengths in its fields; its segments cut to the MTU */
		h = (struct dps_gso_hdr){ .l2_len = (uint8_t)m->l2_len,
					  .l3_len = (uint16_t)m->l3_len,
					  .l4_len = (uint8_t)m->l4_len,
					  .v6 = m->ol_flags & RTE_MBUF_F_TX_IPV6 };
		mss = mtu_mss(k, &h);
		if (!mss || mss > m->tso_segsz)
			mss = (uint16_t)m->tso_segsz;
		dps_vnet_tx_gso(vh, rte_pktmbuf_mtod(m, uint8_t *), m->pkt_len, &h, mss);
	} else if ((mss = over_mtu(k, m, &h))) {
		dps_vnet_tx_gso(vh, rte_pktmbuf_mtod(m, uint8_t *), m->pkt_len, &h, mss);
	} else {
		memset(vh, 0, sizeof(*vh));
	}
	k->txiov[i][0] = (struct iovec){ vh, sizeof(*vh) };
	for (; m && niov <= DPS_KPORT_CHAIN; m = m->next)
		k->txiov[i][niov++] = (struct iovec){ rte_pktmbuf_mtod(m, void *), m->data_len };
	k->txm[i].msg_hdr = (struct msghdr){ .msg_iov = k->txiov[i], .msg_iovlen = niov };
}

void dps_kport_flush(struct dps *d, unsigned idx)
{
	struct dps_port *p = &d->ports[idx];
	struct dps_kport *k = p->kp;
	unsigned n = 0, done = 0;
	bool reread = false;

	if (d->now_ms - k->mtu_ms >= DPS_KPORT_MTU_MS)
		mtu_read(k, d->now_ms);
	/* a chain longer than the iovec cannot be (tso.h's max_chain): were
	 * it there, it would go truncated, so it does not go */
	for (unsigned i = 0; i < p->nout; i++) {
		if (p->outq[i]->nb_segs > DPS_KPORT_CHAIN)
			dps_drop(p, DPS_DROP_OVERSIZE, p->outq[i]);
		else
			p->outq[n++] = p->outq[i];
	}
	p->nout = n;
	for (unsigned i = 0; i < n; i++)
		tx_msg(k, i, p->outq[i]);
	while (done < n) {
		int r = sendmmsg(k->fd, k->txm + done, n - done, MSG_DONTWAIT);

		if (r > 0) {
			for (unsigned i = done; i < done + (unsigned)r; i++) {
				struct rte_mbuf *m = p->outq[i];

				p->c.tx_pkts++;
				p->c.tx_bytes += m->pkt_len;
				p->c.tx_tso += !!(m->ol_flags & RTE_MBUF_F_TX_TCP_SEG);
				rte_pktmbuf_free(m);
			}
			done += (unsigned)r;
			continue;
		}
		/* the socket's buffer is full (a busy NIC): the rest waits
		 * for the next pass, up to a full queue */
		if (r == 0 || errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			break;
		if (errno == EMSGSIZE && !reread) {
			/* longer than the MTU: if the MTU changed since it was
			 * read, what is left goes again as the new one says */
			uint32_t mtu = k->mtu;

			reread = true;
			if (mtu_read(k, d->now_ms) == 0 && k->mtu != mtu) {
				for (unsigned i = done; i < n; i++)
					tx_msg(k, i, p->outq[i]);
				continue;
			}
			errno = EMSGSIZE;
		}
		/* the head frame refused by the kernel; ENOBUFS: dropped on
		 * its way (the qdisc full, the driver's refusal) */
		dps_drop(p,
			 errno == ENOBUFS    ? DPS_DROP_QUEUE_FULL
			 : errno == EMSGSIZE ? DPS_DROP_OVERSIZE
			 : errno == EINVAL   ? DPS_DROP_MALFORMED
					     : DPS_DROP_TX_ERROR,
			 p->outq[done]);
		done++;
	}
	if (done < n)
		memmove(p->outq, p->outq + done, (n - done) * sizeof(p->outq[0]));
	p->nout = n - done;
}

void dps_kport_settle(struct dps *d, unsigned idx)
{
	struct dps_port *p = &d->ports[idx];
	unsigned n = 0;

	if (!p->nout)
		return;
	dps_kport_flush(d, idx);
	/* what is still queued waits for a socket buffer full of whole
	 * packets (4 MiB) to drain: one pointing into the arena is dropped
	 * there, as a full qdisc drops, rather than copied */
	for (unsigned i = 0; i < p->nout; i++) {
		if (RTE_MBUF_HAS_EXTBUF(p->outq[i]))
			dps_drop(p, DPS_DROP_QUEUE_FULL, p->outq[i]);
		else
			p->outq[n++] = p->outq[i];
	}
	p->nout = n;
}

void dps_kport_stop(struct dps *d)
{
	(void)d;
	while (nkports)
		kport_free(kports[--nkports]);
}
