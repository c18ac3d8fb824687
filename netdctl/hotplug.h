/* hotplug: `netdctl hotplug`, the C core of the vif-bridge / vif-route /
 * vif-nat scripts that Xen's toolstack runs for every vif. */
#ifndef NETD_HOTPLUG_H
#define NETD_HOTPLUG_H

/* argv as the scripts get it: online|offline|add|remove and KEY=VALUE args
 * (type_if=vif|tap, mode=bridge|route|nat, vif keys as defaults), with
 * libxl's environment (vif, XENBUS_PATH, INTERFACE, netdev). socket: netd's
 * control socket. Returns the exit status: 0 done, 1 failed (the reason on
 * stderr and, for online/add, in the backend's hotplug-error), 2 usage. */
int netd_hotplug_main(int argc, char **argv, const char *socket);

#endif
