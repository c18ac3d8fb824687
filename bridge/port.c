/* port: vif bridge ports (see port.h). */
#include "bridge/port.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "lib/log.h"
#include "lib/nl_link.h"
#include "netd/mode.h"
#include "vif/vif.h"

static const uint8_t port_mac[6] = { 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff };

int br_port_plug(const char *bridge, const char *ifname, unsigned mtu)
{
	struct nl_link br, l, other;
	char v6[VIF_SYSCTL_LEN];
	int rc;

	rc = nl_link_get(bridge, &br);
	if (rc)
		return err_set(rc, "%s: bridge %s does not exist", ifname, bridge);
	if (strcmp(br.kind, "bridge"))
		return err_set(-EINVAL, "%s: %s is not a bridge", ifname, bridge);
	rc = nl_link_get(ifname, &l);
	if (rc)
		return err_set(rc, "%s: no such interface", ifname);
	/* A port already (a re-plug): Dom0's IPv6 off all the same, in case
	 * an older netd, or someone since, left it on. */
	if (l.master == br.ifindex)
		return vif_port_ipv6_off(ifname, v6) ?: 1;
	if (l.master) {
		const char *name = nl_link_get_index(l.master, &other) == 0 ? other.name : "?";

		return err_set(-EBUSY, "%s: already a port of %s", ifname, name);
	}
	if (!strcmp(l.kind, "bridge"))
		return err_set(-EINVAL, "%s: is a bridge, not a vif", ifname);
	if (!mtu)
		mtu = br.mtu;

	/* As Xen's setup_bridge_port: down, the largest non-broadcast MAC (so
	 * the bridge never adopts a vif's MAC as its own), MTU, enslave, up.
	 * A new vif is down already; the rest is one request. Unlike Xen,
	 * Dom0's own IPv6 off first (vif_port_ipv6_off(): the port needs none). */
	v6[0] = '\0';
	rc = l.flags & IFF_UP ? nl_link_set_up(l.ifindex, false) : 0;
	if (rc == 0)
		rc = vif_port_ipv6_off(ifname, v6);
	if (rc == 0)
		rc = nl_link_setup(l.ifindex, memcmp(l.mac, port_mac, 6) ? port_mac : NULL,
				   l.mtu != mtu ? mtu : 0, br.ifindex, true);
	/* An MTU raised to 1280 or more has just given it IPv6 (with the
	 * namespace's defaults), now that it is up: off again. */
	if (rc == 0 && !v6[0])
		rc = vif_port_ipv6_off(ifname, v6);
	if (rc == 0)
		return 0;

	err_prefix(rc, "%s: cannot plug into %s", ifname, bridge);
	{
		/* Put the vif back as it was; keep the first error's message. */
		char msg[ERR_MSG_MAX];

		strcpy(msg, err_msg());
		nl_link_set_master(l.ifindex, 0);
		nl_link_set_mtu(l.ifindex, l.mtu);
		nl_link_set_mac(l.ifindex, l.mac);
		vif_port_ipv6_restore(ifname, v6);
		nl_link_set_up(l.ifindex, l.flags & IFF_UP);
		return err_set(rc, "%s", msg);
	}
}

int br_port_unplug(const char *bridge, const char *ifname)
{
	struct nl_link br, l;
	int rc;

	if (nl_link_get(ifname, &l) < 0)
		return 0;
	if (nl_link_get(bridge, &br) == 0 && l.master && l.master != br.ifindex)
		return err_set(-EINVAL, "%s: is not a port of %s", ifname, bridge);
	rc = nl_link_set_up(l.ifindex, false);
	if (rc == 0 && l.master)
		rc = nl_link_set_master(l.ifindex, 0);
	if (rc)
		return err_prefix(rc, "%s: cannot unplug from %s", ifname, bridge);
	/* Off the bridge: unplugged, whatever becomes of Dom0's IPv6 on it.
	 * Failing here kept the vif listed as a port it no longer was, and
	 * failed its hotplug offline for nothing. */
	if (vif_port_ipv6_restore(ifname, NULL))
		log_warn("%s (unplugged from %s all the same)", err_msg(), bridge);
	return 0;
}

/* A guest's vif on the bridge: named by its backend, or renamed by netd
 * (vifname=) and marked so. */
struct guest_port {
	char name[IFNAMSIZ];
	char backend[IFNAMSIZ]; /* "": not renamed */
	int ifindex;
};

struct port_names {
	struct guest_port *v;
	size_t n;
	int rc;
};

static int collect_port(const struct nl_link *l, void *data)
{
	struct port_names *pn = data;
	struct guest_port g = { .ifindex = l->ifindex };
	struct guest_port *v;

	if (!vif_is_backend_name(l->name) && !vif_renamed_from(l->alias, g.backend))
		return 0;
	snprintf(g.name, sizeof(g.name), "%s", l->name);
	v = realloc(pn->v, (pn->n + 1) * sizeof(*v));
	if (!v)
		return pn->rc = err_set(-ENOMEM, "out of memory");
	pn->v = v;
	pn->v[pn->n++] = g;
	return 0;
}

/* Its backend's name back, as a plug cut short gets it (netd/daemon.c), so
 * that the toolstack finds its interface and the same plug works again. */
static void port_rename_back(const struct guest_port *g)
{
	if (nl_link_exists(g->backend))
		log_warn("%s: not renamed back to %s: there is an interface of that name", g->name,
			 g->backend);
	else if (vif_link_rename_back(g->ifindex, g->backend))
		log_err("%s: cannot rename back to %s: %s", g->name, g->backend, err_msg());
	else
		log_warn("%s: renamed back to %s", g->name, g->backend);
}

int br_port_sweep(const char *bridge, bool (*keep)(const char *ifname, void *data), void *data)
{
	struct port_names pn = { 0 };
	struct nl_link br;
	int rc, first = 0;

	if (nl_link_get(bridge, &br) < 0 || strcmp(br.kind, "bridge"))
		return 0;
	rc = nl_link_for_each_port(br.ifindex, collect_port, &pn);
	if (rc == 0)
		rc = pn.rc;
	for (size_t i = 0; rc == 0 && i < pn.n; i++) {
		char v6[VIF_SYSCTL_LEN];

		/* A port netd remembers, adopted as it is but for Dom0's IPv6,
		 * which a netd before vif_port_ipv6_off() left on. */
		if (keep(pn.v[i].name, data)) {
			if (vif_port_ipv6_off(pn.v[i].name, v6))
				log_warn("%s", err_msg());
			continue;
		}
		log_warn("%s: a port of %s, but netd does not remember plugging it; unplugging it",
			 pn.v[i].name, bridge);
		if (br_port_unplug(bridge, pn.v[i].name)) {
			if (!first)
				first = err_code();
		} else if (pn.v[i].backend[0]) {
			port_rename_back(&pn.v[i]);
		}
	}
	free(pn.v);
	return rc ? err_prefix(rc, "%s: cannot list its ports", bridge) : first;
}

static bool net_has_vif(const char *ifname, void *data)
{
	const struct netd_net *net = data;

	for (const struct netd_vif *v = net->vifs; v; v = v->next)
		if (!strcmp(v->vif.ifname, ifname))
			return true;
	return false;
}

int br_port_sweep_nets(struct netd_net *const *nets, size_t n,
		       const char *(*bridge_of)(const struct netd_net *net))
{
	int first = 0;

	for (size_t i = 0; i < n; i++) {
		const char *bridge = bridge_of(nets[i]);
		int rc;

		if (!bridge)
			continue;
		rc = br_port_sweep(bridge, net_has_vif, nets[i]);
		if (rc && !first)
			first = err_prefix(rc, "%s", nets[i]->conf.name);
	}
	return first;
}
