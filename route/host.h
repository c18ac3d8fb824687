/* host: what route mode reads from the kernel (the physdev's IPv6 addresses
 * and gateway, who owns a route) and the one route add that must tell
 * "created" from "already there". */
#ifndef ROUTE_HOST_H
#define ROUTE_HOST_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Global (not link-local) IPv6 addresses of ifindex, up to max. */
int rt_host_v6_addrs(int ifindex, struct in6_addr *out, size_t max, size_t *n);

/* Gateway of the lowest-metric IPv6 default route through ifindex in the
 * main table, static or learned from router advertisements: 1 and *gw, 0 if
 * there is none, or -errno. */
int rt_host_v6_gateway(int ifindex, struct in6_addr *gw);

/* The output device of the main-table route dst/plen with this metric:
 * its ifindex, 0 if there is no such route, or -errno. */
int rt_route_owner(int family, const void *dst, uint8_t plen, uint32_t metric);

#endif
