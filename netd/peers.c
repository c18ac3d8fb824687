/* peers: what a mode may ask about the other networks netd runs.
 *
 * Modes never walk netd's array of networks (it moves on reload, and most of
 * what it holds is netd's own business): they ask here for the peers that
 * matter to them, and read only a peer's config and, being its mode, its
 * priv. See the interface in netd/mode.h. Also what the modes do alike
 * with their own network's vifs. */
#include <string.h>

#include "lib/err.h"
#include "lib/log.h"
#include "netd/daemon.h"
#include "netd/mode.h"
#include "vif/vif.h"

const char *netd_net_conf_uplink(const struct netd_net_conf *c)
{
	const char *dev = c->mode == NETD_MODE_NAT ? c->uplink : c->physdev;

	return dev[0] ? dev : NULL;
}

struct netd_net *netd_net_peer_next(const struct netd_net *net, const struct netd_net *prev,
				    const char *uplink)
{
	const struct netd *d = net->daemon;
	size_t i = 0;

	if (!d || !d->n_nets)
		return NULL;
	if (prev)
		i = (size_t)(prev - d->nets) + 1;
	for (; i < d->n_nets; i++) {
		struct netd_net *o = &d->nets[i];
		const char *dev;

		if (o == net || o->ops != net->ops || !netd_net_is_up(o) || !o->priv || o->priv == net->priv)
			continue;
		if (uplink) {
			dev = netd_net_conf_uplink(&o->conf);
			if (!dev || strcmp(dev, uplink))
				continue;
		}
		return o;
	}
	return NULL;
}

unsigned netd_vif_bucket(uint32_t domid, uint32_t devid, bool emu)
{
	return (domid * 2654435761u ^ devid * 40503u ^ (unsigned)emu) % NETD_VIF_BUCKETS;
}

unsigned netd_vif_name_bucket(const char *ifname)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	for (; *ifname; ifname++)
		h = (h ^ (uint8_t)*ifname) * 16777619u;
	return NETD_VIF_BUCKETS + h % NETD_VIF_BUCKETS;
}

unsigned netd_vif_mac_bucket(const uint8_t mac[6])
{
	uint32_t h = 2166136261u;

	for (int i = 0; i < 6; i++)
		h = (h ^ mac[i]) * 16777619u;
	return 2 * NETD_VIF_BUCKETS + h % NETD_VIF_BUCKETS;
}

struct netd_vif *netd_net_vif_find(const struct netd_net *net, uint32_t domid, uint32_t devid,
				   bool emu)
{
	if (!net->vif_hash)
		return NULL;
	for (struct netd_vif *v = net->vif_hash[netd_vif_bucket(domid, devid, emu)]; v;
	     v = v->hnext)
		if (v->vif.domid == domid && v->vif.devid == devid && v->vif.emu == emu)
			return v;
	return NULL;
}

void netd_net_vifs_ipv6_restore(struct netd_net *net)
{
	if (net->vifs_stay_ports)
		return;
	/* not on a vif another network holds now: its IPv6 is that one's */
	for (struct netd_vif *v = net->vifs; v; v = v->next)
		if (!netd_vif_held_elsewhere(net, &v->vif) &&
		    vif_port_ipv6_restore(v->vif.ifname, NULL))
			log_warn("%s: %s", net->conf.name, err_msg());
}
