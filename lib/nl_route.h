/* nl_route: routes: list by device, verbatim replay onto another device, and
 * the host routes of route mode. */
#ifndef LIB_NL_ROUTE_H
#define LIB_NL_ROUTE_H

#include <stdint.h>

#include "lib/nl.h"

/* Appends the routes through ifindex that someone configured (every table but
 * `local`; not the kernel's own prefix routes nor RA-learned ones, which the
 * kernel re-creates), as raw RTM_NEWROUTE messages in kernel order. */
int nl_route_list(int ifindex, int family, struct nl_blobs *out);

/* Adds a listed route with its output device replaced by ifindex
 * (EEXIST is success), or deletes it from ifindex (ESRCH is success). */
int nl_route_replay(const struct nl_blob *route, int ifindex);
int nl_route_remove(const struct nl_blob *route, int ifindex);

/* The routing protocol number (`ip route ... proto 78`) of the host routes
 * netd adds: a route carrying it is netd's, so a netd started after a crash
 * can find and remove one it has no record of, and never anyone else's.
 * Unused by the kernel and by iproute2's rt_protos. */
#define NL_RTPROT_NETD 78

/* Host route: dst/plen dev ifindex [src] metric, proto NL_RTPROT_NETD. src
 * may be NULL. The add is exclusive: -EEXIST when the route exists (on any
 * device), so the caller can tell whose it is. */
int nl_route_add_dev(int family, const void *dst, uint8_t plen, int ifindex,
		     const void *src, uint32_t metric);
/* proto 0 deletes the route whoever added it; NL_RTPROT_NETD only netd's. */
int nl_route_del_dev(int family, const void *dst, uint8_t plen, int ifindex, uint32_t metric,
		     uint8_t proto);

/* Appends every main-table route (v4 and v6) of protocol proto, as raw
 * RTM_NEWROUTE messages; nl_route_remove(route, its RTA_OIF) deletes one. */
int nl_route_list_proto(uint8_t proto, struct nl_blobs *out);
/* The output device of a listed route (0: none). */
int nl_route_blob_oif(const struct nl_blob *route);

/* Every next-hop gateway of the main table's routes through ifindex (0:
 * any device; multipath hops included): the routers the host reaches
 * there. family AF_UNSPEC for both. The kernel filters by device, so only those
 * routes are sent. cb gets the family and the address (4 or 16 bytes); its
 * first non-zero return ends the walk and is returned. */
int nl_route_for_each_gateway(int ifindex, int family,
			      int (*cb)(int family, const void *gw, void *data), void *data);

/* The route the kernel would use for addr, as configured (ip route get
 * ADDR fibmatch): its type (RTN_LOCAL: an address of this host;
 * RTN_BROADCAST...), protocol, prefix and device. -ENETUNREACH (and the
 * like) when there is none. */
struct nl_route_match {
	uint8_t type, protocol, dst_len;
	uint8_t dst[16];
	int oif;
};
int nl_route_fib_match(int family, const void *addr, struct nl_route_match *out);

const char *nl_route_blob_str(const struct nl_blob *route);

#endif
