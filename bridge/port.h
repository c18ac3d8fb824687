/* port: plug a vif into a bridge the way Xen's vif-bridge does, and back. */
#ifndef BRIDGE_PORT_H
#define BRIDGE_PORT_H

#include <stdbool.h>
#include <stddef.h>

/* Prepare ifname as a bridge port (down, MAC fe:ff:ff:ff:ff:ff, MTU = mtu or
 * the bridge's), enslave it to bridge and bring it up. Refuses a missing
 * interface or one that is a port of another bridge; on failure the vif is
 * left as it was. 0: plugged; 1: a port of `bridge` already (nothing
 * changes); -errno with err_msg(). */
int br_port_plug(const char *bridge, const char *ifname, unsigned mtu);

/* Down and out of the bridge, Dom0's IPv6 on it given back (the namespace's
 * default); a failure to give it back is logged, the vif unplugged all the
 * same. A vif that is already gone is success. */
int br_port_unplug(const char *bridge, const char *ifname);

/* Unplugs every port of bridge named as Xen names a guest's vif (vifD.N,
 * vifD.N-emu, D > 0: Dom0's vif0.N is the classic style's own veth), or
 * that netd renamed from such a name and marked so (vif_renamed_from()),
 * that keep() does not claim: a plug a crash cut short, or whose record was
 * lost. A renamed one gets its backend's name back. The bridge must be
 * netd's. Returns the first failure. */
int br_port_sweep(const char *bridge, bool (*keep)(const char *ifname, void *data), void *data);

struct netd_net;

/* A mode's sweep (netd/mode.h): br_port_sweep() of each network's bridge,
 * as bridge_of() names it (NULL: not applied, nothing to sweep), keeping
 * the ports named as a vif the network remembers. The first failure,
 * prefixed with its network. */
int br_port_sweep_nets(struct netd_net *const *nets, size_t n,
		       const char *(*bridge_of)(const struct netd_net *net));

#endif
