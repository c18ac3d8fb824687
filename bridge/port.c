/* port: vif bridge ports (see port.h). */
#include "bridge/port.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "lib/log.h"
#include "lib/nl_link.h"

static const uint8_t port_mac[6] = { 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff };

int br_port_plug(const char *bridge, const char *ifname, unsigned mtu)
{
	struct nl_link br, l, other;
	int rc;

	rc = nl_link_get(bridge, &br);
	if (rc)
		return err_set(rc, "%s: bridge %s does not exist", ifname, bridge);
	if (strcmp(br.kind, "bridge"))
		return err_set(-EINVAL, "%s: %s is not a bridge", ifname, bridge);
	rc = nl_link_get(ifname, &l);
	if (rc)
		return err_set(rc, "%s: no such interface", ifname);
	if (l.master == br.ifindex)
		return 1;
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
	 * A new vif is down already; the rest is one request. */
	rc = l.flags & IFF_UP ? nl_link_set_up(l.ifindex, false) : 0;
	if (rc == 0)
		rc = nl_link_setup(l.ifindex, memcmp(l.mac, port_mac, 6) ? port_mac : NULL,
				   l.mtu != mtu ? mtu : 0, br.ifindex, true);
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
	return rc ? err_prefix(rc, "%s: cannot unplug from %s", ifname, bridge) : 0;
}

/* vifD.N or vifD.N-emu with D > 0, exactly as Xen writes them. */
static bool is_guest_vif_name(const char *name)
{
	unsigned d, n;
	char back[IFNAMSIZ + 8];

	if (sscanf(name, "vif%u.%u", &d, &n) != 2 || d == 0)
		return false;
	snprintf(back, sizeof(back), "vif%u.%u", d, n);
	return !strcmp(name, back) || (!strncmp(name, back, strlen(back)) &&
				       !strcmp(name + strlen(back), "-emu"));
}

struct port_names {
	char (*v)[IFNAMSIZ];
	size_t n;
	int rc;
};

static int collect_port(const struct nl_link *l, void *data)
{
	struct port_names *pn = data;
	char (*v)[IFNAMSIZ];

	if (!is_guest_vif_name(l->name))
		return 0;
	v = realloc(pn->v, (pn->n + 1) * sizeof(*v));
	if (!v)
		return pn->rc = err_set(-ENOMEM, "out of memory");
	pn->v = v;
	snprintf(pn->v[pn->n++], IFNAMSIZ, "%s", l->name);
	return 0;
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
		if (keep(pn.v[i], data))
			continue;
		log_warn("%s: a port of %s, but netd does not remember plugging it; unplugging it",
			 pn.v[i], bridge);
		if (br_port_unplug(bridge, pn.v[i]) && !first)
			first = err_code();
	}
	free(pn.v);
	return rc ? err_prefix(rc, "%s: cannot list its ports", bridge) : first;
}
