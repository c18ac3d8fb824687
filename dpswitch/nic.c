/* nic: NIC ports — every ethdev EAL probed (a --vdev such as
 * net_af_packet0,iface=eth1 or net_af_xdp0,iface=eth1, or a NIC bound to
 * vfio-pci), one RX and one TX queue each, promiscuous: the switch
 * forwards for every guest MAC behind it.
 *
 * A NIC port brings no event when frames arrive, so a sleeping switch
 * sees them only when its sleep ends (TCP's acknowledgements among them).
 * An af_packet port has a socket that polls readable while its mapped RX
 * ring holds frames for us (packet_poll): dpswitch sleeps on it too.
 *
 * A port whose dev_info offers TSO (with the checksums and multi-mbuf
 * packets it needs) is configured with those TX offloads, and a guest's
 * GSO packet goes to it whole (tso.h); any other is given frames. */
#include <dirent.h>
#include <linux/if_packet.h>
#include <rte_bus.h>
#include <rte_dev.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_mbuf_pool_ops.h>
#include <rte_mempool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dpswitch/dps.h"
#include "lib/err.h"
#include "lib/log.h"

/* The af_packet PMD's socket on ifindex, found among our descriptors
 * (DPDK 22.11 offers no RX interrupt for it); -1 when there is none. */
static int af_packet_fd(int ifindex)
{
	DIR *dir = opendir("/proc/self/fd");
	struct dirent *e;
	int found = -1;

	if (!dir)
		return -1;
	while (found < 0 && (e = readdir(dir))) {
		struct sockaddr_ll sll;
		socklen_t len = sizeof(sll);
		int fd = atoi(e->d_name), dom = 0;
		socklen_t dlen = sizeof(dom);

		if (e->d_name[0] < '0' || e->d_name[0] > '9' || fd == dirfd(dir))
			continue;
		if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &dom, &dlen) < 0 || dom != AF_PACKET)
			continue;
		if (getsockname(fd, (struct sockaddr *)&sll, &len) == 0 && sll.sll_ifindex == ifindex)
			found = fd;
	}
	closedir(dir);
	return found;
}

static int wake_fd(const struct rte_eth_dev_info *info)
{
	if (!info->driver_name || strcmp(info->driver_name, "net_af_packet") || !info->if_index)
		return -1;
	return af_packet_fd((int)info->if_index);
}

#define DPS_TSO_OFFLOADS                                                                     \
	(RTE_ETH_TX_OFFLOAD_TCP_TSO | RTE_ETH_TX_OFFLOAD_MULTI_SEGS |                        \
	 RTE_ETH_TX_OFFLOAD_IPV4_CKSUM | RTE_ETH_TX_OFFLOAD_TCP_CKSUM)

/* The TX offloads to ask of port id, and what it then takes whole. */
static uint64_t tso_offloads(const struct rte_eth_dev_info *info, struct dps_tso_caps *c)
{
	bool tap = info->driver_name && !strcmp(info->driver_name, "net_tap");

	memset(c, 0, sizeof(*c));
	if ((info->tx_offload_capa & DPS_TSO_OFFLOADS) != DPS_TSO_OFFLOADS)
		return 0;
	c->v4 = true;
	/* DPDK 22.11's net_tap segments with rte_gso, which has no TCP/IPv6:
	 * it would write the whole packet as one frame */
	c->v6 = !tap;
	/* net_tap takes at most 64 segments from rte_gso (MAX_GSO_MBUFS),
	 * and refuses (for good: the packet would stay at the head of the
	 * queue) a segment whose whole frame, Ethernet header included, is
	 * over its MTU */
	c->max_segs = tap ? 64 : DPS_GSO_MAX_SEGS;
	c->mtu_has_l2 = tap;
	c->max_chain = info->tx_desc_lim.nb_seg_max;
	return DPS_TSO_OFFLOADS;
}

/* The descriptors of port id's rings: what DPDK's own queue setup takes
 * for 0 (the PMD's default ring size, dev_info's default_rxportconf and
 * default_txportconf, else 512), within the PMD's limits (rx_desc_lim,
 * tx_desc_lim: a count outside them is refused with EINVAL). */
static int ring_descs(uint16_t id, const struct rte_eth_dev_info *info, uint16_t *rxd,
		      uint16_t *txd)
{
	*rxd = info->default_rxportconf.ring_size ? info->default_rxportconf.ring_size
						  : RTE_ETH_DEV_FALLBACK_RX_RINGSIZE;
	*txd = info->default_txportconf.ring_size ? info->default_txportconf.ring_size
						  : RTE_ETH_DEV_FALLBACK_TX_RINGSIZE;
	return rte_eth_dev_adjust_nb_rx_tx_desc(id, rxd, txd);
}

/* The pool every port draws on. rte_pktmbuf_pool_create keeps each mbuf
 * within one page, so that it is IOVA-contiguous for a device reading
 * physical addresses. Without hugepages (--no-huge: 4 KiB pages) an
 * mbuf's 2,368 bytes (header, struct rte_mbuf, 2,176 of data room) leave
 * no room for a second in a page: 4 KiB an mbuf, 42 % of the pool
 * padding. And net_af_xdp (DPDK 22.11's xdp_umem_configure) registers as
 * its UMEM populated_size x 2,368 bytes from the pool's first page, as if
 * the mbufs were packed: the top 42 % lay outside it. The kernel skips
 * such an address in the fill ring and such a frame on the TX ring
 * (invalid descriptors), and the mbuf never comes back: with a pool of
 * 4095 a TCP stream guest -> LAN through the port stalled within its
 * first MiBs.
 *
 * Where EAL's IOVAs are virtual addresses (always without hugepages) an
 * object contiguous in memory is contiguous for a device too, and a
 * virtual device (af_xdp, af_packet, tap...) reads no IOVA at all: the
 * pool is made packed (RTE_MEMPOOL_F_NO_IOVA_CONTIG), as
 * rte_pktmbuf_pool_create makes it otherwise, and a UMEM is all of it.
 * Only a bus device (a NIC under vfio-pci) with physical IOVAs keeps the
 * mbufs within pages (umem_fits then refuses an AF_XDP port beside it). */
static bool pool_packed(void)
{
	uint16_t id;

	if (!rte_eal_has_hugepages() || rte_eal_iova_mode() == RTE_IOVA_VA)
		return true;
	RTE_ETH_FOREACH_DEV(id) {
		struct rte_eth_dev_info info;

		if (rte_eth_dev_info_get(id, &info) != 0 || !info.device ||
		    strcmp(rte_bus_name(rte_dev_bus(info.device)), "vdev"))
			return false;
	}
	return true;
}

int dps_pool_create(struct dps *d)
{
	struct rte_pktmbuf_pool_private priv = {
		.mbuf_data_room_size = RTE_MBUF_DEFAULT_BUF_SIZE,
	};
	struct rte_mempool *mp;
	int rc;

	if (!pool_packed()) {
		d->pool = rte_pktmbuf_pool_create("dps", d->mbufs, DPS_POOL_CACHE, 0,
						  RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
		return d->pool ? 0 : err_set(-rte_errno, "a pool of %u mbufs: %s", d->mbufs,
					     rte_strerror(rte_errno));
	}
	mp = rte_mempool_create_empty("dps", d->mbufs,
				      sizeof(struct rte_mbuf) + RTE_MBUF_DEFAULT_BUF_SIZE,
				      DPS_POOL_CACHE, sizeof(priv), SOCKET_ID_ANY,
				      RTE_MEMPOOL_F_NO_IOVA_CONTIG);
	if (!mp)
		return err_set(-rte_errno, "a pool of %u mbufs: %s", d->mbufs,
			       rte_strerror(rte_errno));
	rc = rte_mempool_set_ops_byname(mp, rte_mbuf_best_mempool_ops(), NULL);
	if (rc == 0) {
		rte_pktmbuf_pool_init(mp, &priv);
		rc = rte_mempool_populate_default(mp);
		/* a partial fill is a pool smaller than asked */
		rc = rc < 0 ? rc : rc != (int)d->mbufs ? -ENOMEM : 0;
	}
	if (rc < 0) {
		rte_mempool_free(mp);
		return err_set(rc, "a pool of %u mbufs: %s", d->mbufs, rte_strerror(-rc));
	}
	rte_mempool_obj_iter(mp, rte_pktmbuf_init, NULL);
	d->pool = mp;
	return 0;
}

/* What an AF_XDP port's UMEM covers of the pool (see dps_pool_create):
 * from its first chunk's page, populated_size objects of the pool's
 * object size. */
struct umem_span {
	uintptr_t lo, hi;
	size_t hdr, tail;
	unsigned outside;
};

static void umem_check_obj(struct rte_mempool *mp, void *arg, void *obj, unsigned idx)
{
	struct umem_span *u = arg;
	uintptr_t o = (uintptr_t)obj;

	(void)mp;
	(void)idx;
	if (o - u->hdr < u->lo || o + u->tail > u->hi)
		u->outside++;
}

/* The mbufs of the pool an AF_XDP port's UMEM would not hold: 0 with
 * dps_pool_create's packed pool; a pool kept within pages (hugepages
 * with physical IOVAs) has a few per page. */
static unsigned umem_outside(struct rte_mempool *mp)
{
	const struct rte_mempool_memhdr *first = STAILQ_FIRST(&mp->mem_list);
	size_t pg = (size_t)getpagesize();
	struct umem_span u = { 0 };

	if (!first)
		return 0;
	u.lo = (uintptr_t)first->addr & ~(pg - 1);
	u.hi = (uintptr_t)first->addr + (uint64_t)mp->populated_size *
		rte_mempool_calc_obj_size(mp->elt_size, mp->flags, NULL);
	u.hdr = mp->header_size;
	u.tail = mp->elt_size + mp->trailer_size;
	rte_mempool_obj_iter(mp, umem_check_obj, &u);
	return u.outside;
}

/* The PMDs whose receive ring holds none of the pool: they put each frame
 * into an mbuf as they read it (af_packet from its own mapped ring, null
 * and ring making them). Every other ring is filled from the pool as it
 * is set up, a descriptor an mbuf (a NIC's, net_tap's), and holds them
 * for good; net_af_xdp's fill queue takes its default ring size (2048 in
 * DPDK 22.11), whatever it is given, its umem the pool's own memory. */
static bool ring_holds_none(const char *driver)
{
	static const char *const none[] = { "net_af_packet", "net_null", "net_ring" };

	for (unsigned i = 0; i < RTE_DIM(none); i++)
		if (!strcmp(driver, none[i]))
			return true;
	return false;
}

/* The mbufs port id's receive ring takes of the pool as it is set up and
 * holds for good (0: none); -errno when its device info cannot be read. */
static int ring_mbufs(uint16_t id, unsigned *n)
{
	struct rte_eth_dev_info info;
	uint16_t rxd, txd;
	int rc = rte_eth_dev_info_get(id, &info);

	*n = 0;
	if (rc == 0 && info.driver_name && ring_holds_none(info.driver_name))
		return 0;
	if (rc == 0)
		rc = ring_descs(id, &info, &rxd, &txd);
	if (rc < 0)
		return rc;
	*n = rxd;
	return 0;
}

/* The smallest pool (2^n - 1, as --mbufs is best sized) that gives the
 * rings what they take and leaves DPS_MBUFS_MIN for the rest. */
static unsigned mbufs_for(unsigned rings)
{
	uint64_t n = 1;

	while (n - 1 < (uint64_t)rings + DPS_MBUFS_MIN && n - 1 < DPS_MBUFS_MAX)
		n <<= 1;
	return (unsigned)(n - 1);
}

/* Every port's receive ring gets what it takes of the pool: checked
 * before any is set up, since the PMD says only EINVAL (net_af_xdp's
 * "Failed to configure xdp socket"). 0, or -ENOBUFS naming the first
 * port the pool cannot fill and what to pass. */
static int rings_fit(const struct dps *d)
{
	unsigned avail = rte_mempool_avail_count(d->pool), before = 0;
	uint16_t id;

	RTE_ETH_FOREACH_DEV(id) {
		char name[RTE_ETH_NAME_MAX_LEN];
		unsigned need;
		int rc = ring_mbufs(id, &need);

		rte_eth_dev_get_name_by_port(id, name);
		if (rc < 0)
			return err_set(rc, "ethdev %s: no device info: %s", name, rte_strerror(-rc));
		if (before + need <= avail) {
			before += need;
			continue;
		}
		return err_set(-ENOBUFS,
			       "ethdev %s: its receive ring takes %u mbufs of the pool for good, "
			       "and the pool has %u%s (--mbufs %u): pass --mbufs %u or more",
			       name, need, avail - before, before ? " after the rings before it" : "",
			       d->mbufs, mbufs_for(d->mbufs - avail + before + need));
	}
	return 0;
}

/* An AF_XDP port is refused by name, not left to lose the mbufs its UMEM
 * does not hold (see dps_pool_create). */
static int umem_fits(const struct dps *d)
{
	unsigned outside = umem_outside(d->pool);
	uint16_t id;

	RTE_ETH_FOREACH_DEV(id) {
		struct rte_eth_dev_info info;
		char name[RTE_ETH_NAME_MAX_LEN];

		if (!outside || rte_eth_dev_info_get(id, &info) != 0 || !info.driver_name ||
		    strcmp(info.driver_name, "net_af_xdp"))
			continue;
		rte_eth_dev_get_name_by_port(id, name);
		return err_set(-EINVAL,
			       "ethdev %s: %u of the pool's %u mbufs lie outside the UMEM "
			       "net_af_xdp makes of it: the pool is not one packed block (kept "
			       "within hugepages for a device reading physical IOVAs: run EAL "
			       "with --iova-mode=va)",
			       name, outside, d->mbufs);
	}
	return 0;
}

int dps_nic_setup(struct dps *d)
{
	uint16_t id;

	if (rings_fit(d) < 0 || umem_fits(d) < 0)
		return err_code();
	RTE_ETH_FOREACH_DEV(id) {
		struct rte_eth_conf conf = { 0 };
		struct rte_eth_dev_info info;
		struct dps_tso_caps tso;
		char name[RTE_ETH_NAME_MAX_LEN], pname[16];
		uint16_t mtu = RTE_ETHER_MTU, rxd, txd;
		int rc, idx;

		rte_eth_dev_get_name_by_port(id, name);
		rc = rte_eth_dev_info_get(id, &info);
		if (rc == 0)
			rc = ring_descs(id, &info, &rxd, &txd);
		if (rc < 0)
			return err_set(rc, "ethdev %s: no device info: %s", name, rte_strerror(-rc));
		conf.txmode.offloads = tso_offloads(&info, &tso);
		rc = rte_eth_dev_configure(id, 1, 1, &conf);
		if (rc == 0)
			rc = rte_eth_dev_get_mtu(id, &mtu);
		tso.mtu = mtu;
		if (rc == 0)
			rc = rte_eth_rx_queue_setup(id, 0, rxd, rte_eth_dev_socket_id(id),
						    NULL, d->pool);
		if (rc == 0)
			rc = rte_eth_tx_queue_setup(id, 0, txd, rte_eth_dev_socket_id(id),
						    NULL);
		if (rc == 0)
			rc = rte_eth_dev_start(id);
		if (rc < 0)
			return err_set(rc, "ethdev %s: cannot start: %s", name, rte_strerror(-rc));
		rte_eth_promiscuous_enable(id);
		snprintf(pname, sizeof(pname), "nic%u", id);
		idx = dps_port_alloc(d, DPS_PORT_NIC, pname);
		if (idx < 0)
			return idx;
		d->ports[idx].eth = id;
		d->ports[idx].tso = tso;
		d->ports[idx].tx_prepare = conf.txmode.offloads != 0;
		d->ports[idx].wake_fd = wake_fd(&info);
		d->ports[idx].connected = true;
		d->ports[idx].plugged = true;
		dps_port_update(d, (unsigned)idx);
		log_info("dpswitch: port %d is ethdev %s (%s)%s%s", idx, name, pname,
			 d->ports[idx].wake_fd >= 0 ? ", woken by its socket" : "",
			 tso.v4 && tso.v6 ? ", TSO" : tso.v4 ? ", TSO for IPv4" : "");
	}
	return 0;
}

void dps_nic_poll(struct dps *d, unsigned idx)
{
	struct rte_mbuf *m[DPS_BURST];
	uint16_t n;

	if (d->ports[idx].kp) {
		dps_kport_poll(d, idx);
		return;
	}
	n = rte_eth_rx_burst(d->ports[idx].eth, 0, m, DPS_BURST);
	if (n)
		dps_fwd(d, idx, m, n);
}

void dps_nic_flush(struct dps *d, unsigned idx)
{
	struct dps_port *p = &d->ports[idx];
	uint32_t len[DPS_OUTQ];
	bool whole[DPS_OUTQ];
	uint16_t sent;

	if (p->kp) {
		dps_kport_flush(d, idx);
		return;
	}
	/* with offloads on, the PMD's own checks (and fix-ups) first; what it
	 * refuses is dropped here rather than handed to the NIC (tso.h's
	 * rules should leave nothing for it) */
	while (p->tx_prepare && p->nout) {
		uint16_t ok = rte_eth_tx_prepare(p->eth, 0, p->outq, (uint16_t)p->nout);

		if (ok >= p->nout)
			break;
		dps_drop(p, DPS_DROP_MALFORMED, p->outq[ok]);
		memmove(p->outq + ok, p->outq + ok + 1, (p->nout - ok - 1) * sizeof(p->outq[0]));
		p->nout--;
	}
	/* lengths first: the PMD may free what it sent before returning */
	for (unsigned i = 0; i < p->nout; i++) {
		len[i] = rte_pktmbuf_pkt_len(p->outq[i]);
		whole[i] = p->outq[i]->ol_flags & RTE_MBUF_F_TX_TCP_SEG;
	}
	sent = rte_eth_tx_burst(p->eth, 0, p->outq, (uint16_t)p->nout);
	p->c.tx_pkts += sent;
	for (unsigned i = 0; i < sent; i++) {
		p->c.tx_bytes += len[i];
		p->c.tx_tso += whole[i];
	}
	if (sent < p->nout) {
		/* the NIC is busy: keep the rest for the next pass, up to a full queue */
		memmove(p->outq, p->outq + sent, (p->nout - sent) * sizeof(p->outq[0]));
	}
	p->nout -= sent;
}

void dps_nic_stop(struct dps *d)
{
	uint16_t id;

	RTE_ETH_FOREACH_DEV(id) {
		rte_eth_dev_stop(id);
		rte_eth_dev_close(id);
	}
}
