/* port: plug a vif into a bridge the way Xen's vif-bridge does, and back. */
#ifndef BRIDGE_PORT_H
#define BRIDGE_PORT_H

/* Prepare ifname as a bridge port (down, MAC fe:ff:ff:ff:ff:ff, MTU = mtu or
 * the bridge's), enslave it to bridge and bring it up. Refuses a missing
 * interface or one that is a port of another bridge; on failure the vif is
 * left as it was. 0: plugged; 1: a port of `bridge` already (nothing
 * changes); -errno with err_msg(). */
int br_port_plug(const char *bridge, const char *ifname, unsigned mtu);

/* Down and out of the bridge. A vif that is already gone is success. */
int br_port_unplug(const char *bridge, const char *ifname);

#endif
