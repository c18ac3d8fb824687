/* vif_guard: what a vif may not claim on this host, checked before netd
 * plugs it (Dom0's addresses and gateways, other vifs' names and MACs).
 * Read-only; errors name the vif, the value and the reason. */
#ifndef NETD_VIF_GUARD_H
#define NETD_VIF_GUARD_H

#include "netd/daemon.h"
#include "netd/mode.h"

/* ip= against the host: not Dom0's own address, not a gateway it routes
 * through (the network's gatewayip, or a next hop of a route through its
 * bridge, physdev or uplink), not the network or broadcast address of a
 * subnet Dom0 is on. 0, or
 * -EADDRNOTAVAIL (or a netlink error) with err_msg(). */
int netd_vif_guard_ips(const struct netd_net *net, const struct vif *v);

/* The interface a plug would touch (the vif's name, and the backend's
 * vifD.N[-emu] it renames) may not be another vif's that netd has plugged:
 * 0, or -EBUSY naming that vif. */
int netd_vif_guard_names(const struct netd *d, const struct vif *v);

/* mac= in a network whose guests share a link (bridge, nat): not another
 * guest's there (the emulated NIC and PV vif of one guest share theirs, as
 * only one is active at a time), not Dom0's MAC on the network (the bridge,
 * physdev, uplink), not fe:ff:ff:ff:ff:ff (Dom0's side of every vif).
 * Route mode gives each guest a link of its own: nothing to check. 0, or
 * -EADDRINUSE with err_msg(). */
int netd_vif_guard_mac(const struct netd_net *net, const struct vif *v);

#endif
