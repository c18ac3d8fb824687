/* as_gw: the addresses no guest may claim, with or without ip=: Dom0's own
 * (every interface, link-local included) and every router Dom0 sends
 * through (the next hops of its routes). A routed vif always has ip=,
 * which may not be gatewayip (netd/vif_guard.c), so route mode's gatewayip
 * needs no place here.
 *
 * A vif without ip= may use any address (Xen's semantics), but claiming
 * one of these in ARP or ND points Dom0's neighbours, or its own table, at
 * the guest. Such a vif (and one without mac=, whose link-local is free)
 * gets these as elements of its own (gw4, gw6, gw6nd in antispoof.c), so
 * the rules stay fixed. Dom0's addresses may change after a network is up
 * (DHCP on Dom0's uplink), so the list is read again when it is older than
 * AS_GW_TTL_SEC at the next plug; reading it walks every interface's
 * addresses, which a burst of plugs must not pay each time. */
#ifndef AS_AS_GW_H
#define AS_AS_GW_H

#include "vif/vif.h"

#define AS_GW_MAX 64     /* more are left out, with a warning */
#define AS_GW_TTL_SEC 10

struct as_gw {
	struct vif_ip ips[AS_GW_MAX];
	unsigned n;
};

/* The list, read again when stale. On a read failure the last list is
 * kept (empty at first) and the failure logged: a plug goes on. */
const struct as_gw *as_gw_get(void);

/* Dom0's addresses or routes changed (a network came up): the next
 * as_gw_get reads them again. */
void as_gw_invalidate(void);

#endif
