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
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

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

int dps_nic_setup(struct dps *d)
{
	uint16_t id;

	if (rings_fit(d) < 0)
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
