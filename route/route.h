/* route: route mode's own state, shared by route.c (the network) and plug.c
 * (the vifs). Not a public interface: netd sees only rt_mode_ops. */
#ifndef ROUTE_ROUTE_H
#define ROUTE_ROUTE_H

#include <net/if.h>
#include <stdbool.h>

#include "netd/mode.h"
#include "route/item.h"

/* What one `vif online` did, kept until `vif offline` undoes it. */
struct rt_vif {
	char ifname[IFNAMSIZ];
	struct rt_items items; /* in the order they were made */
	struct rt_vif *next;
};

struct rt_priv {
	bool have_state;        /* a setup is on the host (sysctls held, vifs) */
	char physdev[IFNAMSIZ]; /* the one the setup was made on */
	bool ipv6;              /* the physdev had a global IPv6 address at up */
	struct rt_vif *vifs;
};

/* vif online / offline (plug.c). */
int rt_vif_plug(struct netd_net *net, struct rt_priv *p, const struct vif *vif);
int rt_vif_unplug(struct netd_net *net, struct rt_priv *p, const struct vif *vif);
/* Undo every vif's items (down, rollback of a previous netd's setup). */
int rt_vifs_unplug_all(struct rt_priv *p);
void rt_vifs_free(struct rt_priv *p);
struct rt_vif *rt_vif_find(struct rt_priv *p, const char *ifname);

/* Routes carrying netd's mark (NL_RTPROT_NETD) that no vif of nets (every
 * route network that is up) has in its record: removed. */
int rt_sweep_routes(struct netd_net *const *nets, size_t n);

/* Fault-injection points of vif online, in the order they are reached. */
extern const char *const rt_vif_steps[];

#endif
