/* nl_neigh: proxy neighbour entries (NTF_PROXY), `ip neigh add proxy ADDR dev DEV`.
 *
 * IPv6 proxy NDP is per address: with proxy_ndp=1 a device answers neighbour
 * solicitations only for the addresses that have a proxy entry on it. The
 * kernel's RTM_NEWNEIGH silently accepts an entry that is already there, so
 * callers that must know what they created ask nl_neigh_proxy_exists() first. */
#ifndef LIB_NL_NEIGH_H
#define LIB_NL_NEIGH_H

#include <stdbool.h>

/* addr is 4 or 16 bytes by family (AF_INET / AF_INET6). */
int nl_neigh_proxy_add(int ifindex, int family, const void *addr);
/* An entry that is not there is success. */
int nl_neigh_proxy_del(int ifindex, int family, const void *addr);
/* 1 if the entry is there, 0 if not, or -errno. */
int nl_neigh_proxy_exists(int ifindex, int family, const void *addr);

/* Calls cb for every proxy entry of family (AF_UNSPEC: both) on ifindex
 * (0: every device); stops at the first nonzero return and returns it. */
int nl_neigh_proxy_for_each(int ifindex, int family,
			    int (*cb)(int ifindex, int family, const void *addr, void *data),
			    void *data);

#endif
