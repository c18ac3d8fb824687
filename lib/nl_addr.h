/* nl_addr: IPv4/IPv6 addresses: add, delete, list, and verbatim replay. */
#ifndef LIB_NL_ADDR_H
#define LIB_NL_ADDR_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/nl.h"

/* Appends every address of ifindex (family AF_UNSPEC for both) as raw
 * RTM_NEWADDR messages, in kernel order (primary before secondary).
 * Link-local IPv6 addresses are skipped: the kernel derives them itself. */
int nl_addr_list(int ifindex, int family, struct nl_blobs *out);

/* Replays a listed address onto ifindex (EEXIST is success), or deletes it. */
int nl_addr_replay(const struct nl_blob *addr, int ifindex);
int nl_addr_remove(const struct nl_blob *addr, int ifindex);

/* Simple forms for the modes: addr is 4 or 16 bytes by family. */
int nl_addr_add(int ifindex, int family, const void *addr, uint8_t prefixlen);
int nl_addr_del(int ifindex, int family, const void *addr, uint8_t prefixlen);

/* The first (primary) global IPv4 address of ifindex; -ENOENT if none. */
int nl_addr_primary_v4(int ifindex, void *addr4, uint8_t *prefixlen);

/* Every address of every interface (both families, link-local included),
 * for checks against what the host owns: cb gets the interface, the
 * family, the local address (4 or 16 bytes) and its prefix length; a
 * non-zero return stops the walk and is returned. */
int nl_addr_for_each(int (*cb)(int ifindex, int family, const void *addr, uint8_t plen,
			       void *data),
		     void *data);

/* "192.0.2.1/24" for messages. */
const char *nl_addr_blob_str(const struct nl_blob *addr);

#endif
