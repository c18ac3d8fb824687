/* item: one change route mode makes to the host, and its undo.
 *
 * Route mode remembers exactly what it did (sysctl values it replaced, the
 * /32 it gave a vif, its host routes, proxy neighbour entries, a link it
 * brought up) as a list of items, kept in the state file. Undo walks the list
 * backwards, so `down`, `vif offline` and every rollback remove what netd
 * created and nothing else, even after a restart. An item that was already so
 * before netd looked (someone else's route, a sysctl already 1) is never
 * recorded, so it is never undone either. */
#ifndef ROUTE_ITEM_H
#define ROUTE_ITEM_H

#include <jansson.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum rt_item_kind {
	RT_ITEM_SYSCTL,  /* path = "1"; undo writes old back */
	RT_ITEM_LINK_UP, /* dev up; undo takes it down */
	RT_ITEM_ADDR,    /* addr/plen on dev */
	RT_ITEM_ROUTE,   /* addr/plen dev [src] metric */
	RT_ITEM_PROXY,   /* proxy neighbour entry for addr on dev */
};

union rt_addr {
	struct in_addr v4;
	struct in6_addr v6;
};

#define RT_SYSCTL_PATH_MAX 96
#define RT_SYSCTL_VALUE_MAX 32

struct rt_item {
	enum rt_item_kind kind;
	char dev[IFNAMSIZ];
	int family;
	union rt_addr addr;
	uint8_t plen;
	bool has_src;
	union rt_addr src;
	uint32_t metric;
	char path[RT_SYSCTL_PATH_MAX]; /* relative to /proc/sys */
	char old[RT_SYSCTL_VALUE_MAX]; /* "" until read */
};

struct rt_items {
	struct rt_item *v;
	size_t n;
};

/* Make the item so on the host: 1 if this call changed the host (the item is
 * ours to undo), 0 if it already was so, or -errno with err_msg() naming it.
 * A route that exists on another device with the same metric is -EEXIST. */
int rt_item_apply(struct rt_item *it);
/* Put back what apply changed. Gone already (device removed, route deleted
 * by someone) counts as done. */
int rt_item_undo(const struct rt_item *it);

bool rt_item_same(const struct rt_item *a, const struct rt_item *b);
/* "route 198.51.100.10/32 dev vif1.0 metric 2", for messages and status. */
const char *rt_item_str(const struct rt_item *it);
/* "198.51.100.10/32" (route, addr), "2001:db8::1" (proxy). */
const char *rt_item_addr_str(const struct rt_item *it);

int rt_items_push(struct rt_items *l, const struct rt_item *it);
void rt_items_free(struct rt_items *l);
/* Undo l backwards; items that could not be undone stay in l (in order),
 * the others are dropped. Returns the first failure, its message kept. */
int rt_items_undo(struct rt_items *l);
bool rt_items_has(const struct rt_items *l, const struct rt_item *it);

json_t *rt_items_to_json(const struct rt_items *l);
/* Validates every field (the state file is input): device names, sysctl
 * paths under net/ipv4 or net/ipv6, addresses. */
int rt_items_from_json(json_t *j, struct rt_items *l);

#endif
