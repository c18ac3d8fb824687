/* port: vif bridge ports (see port.h). */
#include "bridge/port.h"

#include <errno.h>
#include <string.h>

#include "lib/err.h"
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
