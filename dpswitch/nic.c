/* nic: NIC ports — every ethdev EAL probed (a --vdev such as
 * net_af_packet0,iface=eth1 or net_af_xdp0,iface=eth1, or a NIC bound to
 * vfio-pci), one RX and one TX queue each, promiscuous: the switch
 * forwards for every guest MAC behind it. */
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <stdio.h>
#include <string.h>

#include "dpswitch/dps.h"
#include "lib/err.h"
#include "lib/log.h"

#define DPS_NIC_DESC 512

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
		d->ports[idx].connected = true;
		d->ports[idx].plugged = true;
		dps_port_update(d, (unsigned)idx);
		log_info("dpswitch: port %d is ethdev %s (%s)", idx, name, pname);
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
