/* backend_stats: per-vif counters of a userspace backend (vifback) for
 * `status` (see backend_stats.c). */
#ifndef NETD_BACKEND_STATS_H
#define NETD_BACKEND_STATS_H

#include <jansson.h>

#include "netd/daemon.h"

/* {ifname: {"backend": "vifback", "rx_packets": N, ... (vif_stats_json)}}
 * for the network's vifs that have a counter file; {ifname: {"error":
 * "..."}} for one that cannot be read. */
json_t *netd_backend_stats(const struct netd *d, const struct netd_net *net);

#endif
