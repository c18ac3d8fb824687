/* as_gw: the addresses no guest may claim (see as_gw.h). */
#include "antispoof/as_gw.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#include "lib/err.h"
#include "lib/log.h"
#include "lib/nl_addr.h"
#include "lib/nl_route.h"

static struct as_gw cache;
static struct timespec loaded; /* CLOCK_MONOTONIC */
static bool have, warned;

static bool is_loopback(int family, const void *a)
{
	const uint8_t *p = a;

	if (family == AF_INET)
		return p[0] == 127;
	return IN6_IS_ADDR_LOOPBACK((const struct in6_addr *)a);
}

static int add(struct as_gw *g, int family, const void *a)
{
	size_t len = family == AF_INET ? 4 : 16;

	if ((family != AF_INET && family != AF_INET6) || is_loopback(family, a))
		return 0;
	for (unsigned i = 0; i < g->n; i++)
		if (g->ips[i].family == family && !memcmp(&g->ips[i].addr, a, len))
			return 0;
	if (g->n == AS_GW_MAX) {
		if (!warned)
			log_warn("antispoof: more than %d addresses of Dom0 and its routers; "
				 "guests without ip= are kept off the first %d only", AS_GW_MAX,
				 AS_GW_MAX);
		warned = true;
		return 0;
	}
	memset(&g->ips[g->n], 0, sizeof(g->ips[g->n]));
	g->ips[g->n].family = family;
	memcpy(&g->ips[g->n++].addr, a, len);
	return 0;
}

static int add_addr(int ifindex, int family, const void *addr, uint8_t plen, void *data)
{
	(void)ifindex;
	(void)plen;
	return add(data, family, addr);
}

static int add_gw(int family, const void *gw, void *data)
{
	return add(data, family, gw);
}

const struct as_gw *as_gw_get(void)
{
	struct timespec now;
	struct as_gw g = { .n = 0 };
	int rc;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (have && now.tv_sec - loaded.tv_sec < AS_GW_TTL_SEC)
		return &cache;
	rc = nl_route_for_each_gateway(0, AF_UNSPEC, add_gw, &g);
	if (rc == 0)
		rc = nl_addr_for_each(add_addr, &g);
	if (rc) {
		log_warn("antispoof: cannot read Dom0's addresses and routers (keeping the last "
			 "list): %s", err_msg());
		return &cache;
	}
	cache = g;
	loaded = now;
	have = true;
	return &cache;
}

void as_gw_invalidate(void)
{
	have = false;
}
