/* nic: NIC ports — every ethdev EAL probed (a --vdev such as
 * net_af_packet0,iface=eth1 or net_af_xdp0,iface=eth1, or a NIC bound to
 * vfio-pci), one RX and one TX queue each, promiscuous: the switch
 * forwards for every guest MAC behind it.
 *
 * A NIC port brings no event when frames arrive, so a sleeping switch
 * sees them only when its sleep ends (TCP's acknowledgements among them).
 * An af_packet port has a socket that polls readable while its mapped RX
 * ring holds frames for us (packet_poll): dpswitch sleeps on it too. */
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

#define DPS_NIC_DESC 512

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

static int wake_fd(uint16_t id)
{
	struct rte_eth_dev_info info;

	if (rte_eth_dev_info_get(id, &info) < 0 || !info.driver_name ||
	    strcmp(info.driver_name, "net_af_packet") || !info.if_index)
		return -1;
	return af_packet_fd((int)info.if_index);
}

int dps_nic_setup(struct dps *d)
{
	uint16_t id;

	RTE_ETH_FOREACH_DEV(id) {
		struct rte_eth_conf conf = { 0 };
		char name[RTE_ETH_NAME_MAX_LEN], pname[16];
		int rc, idx;

		rte_eth_dev_get_name_by_port(id, name);
		rc = rte_eth_dev_configure(id, 1, 1, &conf);
		if (rc == 0)
			rc = rte_eth_rx_queue_setup(id, 0, DPS_NIC_DESC, rte_eth_dev_socket_id(id),
						    NULL, d->pool);
		if (rc == 0)
			rc = rte_eth_tx_queue_setup(id, 0, DPS_NIC_DESC, rte_eth_dev_socket_id(id),
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
		d->ports[idx].wake_fd = wake_fd(id);
		d->ports[idx].connected = true;
		d->ports[idx].plugged = true;
		dps_port_update(d, (unsigned)idx);
		log_info("dpswitch: port %d is ethdev %s (%s)%s", idx, name, pname,
			 d->ports[idx].wake_fd >= 0 ? ", woken by its socket" : "");
	}
	return 0;
}

void dps_nic_poll(struct dps *d, unsigned idx)
{
	struct rte_mbuf *m[DPS_BURST];
	uint16_t n = rte_eth_rx_burst(d->ports[idx].eth, 0, m, DPS_BURST);

	if (n)
		dps_fwd(d, idx, m, n);
}

void dps_nic_flush(struct dps *d, unsigned idx)
{
	struct dps_port *p = &d->ports[idx];
	uint32_t len[DPS_OUTQ];
	uint16_t sent;

	/* lengths first: the PMD may free what it sent before returning */
	for (unsigned i = 0; i < p->nout; i++)
		len[i] = rte_pktmbuf_pkt_len(p->outq[i]);
	sent = rte_eth_tx_burst(p->eth, 0, p->outq, (uint16_t)p->nout);
	p->c.tx_pkts += sent;
	for (unsigned i = 0; i < sent; i++)
		p->c.tx_bytes += len[i];
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
