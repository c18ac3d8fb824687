/* l2port: Dom0's own IPv6 on a vif that is only a switch port.
 *
 * A vif on a bridge (bridge and nat modes) or an Open vSwitch port hands
 * every frame it receives to its switch: Dom0 needs no address of its own
 * there. With IPv6 left on, each port still makes a link-local address
 * (the same fe80::fcff:ffff:feff:ffff on every one: all carry
 * fe:ff:ff:ff:ff:ff), sends its DAD, router solicitation and MLD reports
 * to the guest, adds an fe80::/64 route per port to Dom0's table (which
 * every IPv6 route lookup and dump then walks), and, where frames also
 * reach Dom0's stack (OVS's userspace datapath), could take a guest's
 * router advertisement as Dom0's own. Xen's scripts and netback leave all
 * of that on; netd turns it off per port. Route mode does not come here:
 * there the vif is the guest's IPv6 link (proxy NDP, routes). */
#include "vif/vif.h"

#include <errno.h>
#include <string.h>

#include "lib/err.h"
#include "lib/fault.h"
#include "lib/sysctl.h"

/* ifname goes into a /proc/sys path: "all" and "default" there are the
 * namespace's own keys (no interface may take those names), and anything
 * else that is no interface name is refused too. */
static int port_name_check(const char *ifname)
{
	if (!vif_ifname_is_valid(ifname) || !strcmp(ifname, "all") || !strcmp(ifname, "default"))
		return err_set(-EINVAL, "%s: not an interface name", ifname);
	return 0;
}

int vif_port_ipv6_off(const char *ifname, char was[VIF_SYSCTL_LEN])
{
	int rc = port_name_check(ifname);

	was[0] = '\0';
	if (rc)
		return rc;
	rc = sysctl_if_read("ipv6", ifname, "disable_ipv6", was, VIF_SYSCTL_LEN);

	/* No such key: a kernel without IPv6, or an interface it keeps none
	 * for (MTU below 1280). Nothing to turn off. */
	if (rc == -ENOENT) {
		was[0] = '\0';
		return 0;
	}
	if (rc == 0 && strcmp(was, "1"))
		rc = sysctl_if_write("ipv6", ifname, "disable_ipv6", "1");
	return rc ? err_prefix(rc, "%s: cannot turn Dom0's IPv6 off on the port", ifname) : 0;
}

int vif_port_ipv6_restore(const char *ifname, const char *was)
{
	char def[VIF_SYSCTL_LEN];
	int rc = port_name_check(ifname);

	if (rc)
		return rc;
	/* As a new interface gets it: the namespace's default. */
	if (!was) {
		rc = sysctl_read("net/ipv6/conf/default/disable_ipv6", def, sizeof(def));
		was = def;
	}
	if (rc == 0)
		rc = FAULT_POINT("vif-ipv6-restore"); /* tests: the write refused */
	if (rc == 0 && was[0])
		rc = sysctl_if_write("ipv6", ifname, "disable_ipv6", was);
	if (rc == -ENOENT)
		return 0;
	return rc ? err_prefix(rc, "%s: cannot give Dom0's IPv6 back to it", ifname) : 0;
}
