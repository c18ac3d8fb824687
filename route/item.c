/* item: apply, undo and persist one host change of route mode (see item.h). */
#include "route/item.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_addr.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "lib/log.h"
#include "lib/nl_addr.h"
#include "lib/nl_link.h"
#include "lib/nl_neigh.h"
#include "lib/nl_route.h"
#include "lib/sysctl.h"
#include "route/host.h"

static const char *const kind_names[] = {
	[RT_ITEM_SYSCTL] = "sysctl", [RT_ITEM_LINK_UP] = "up", [RT_ITEM_ADDR] = "addr",
	[RT_ITEM_ROUTE] = "route",   [RT_ITEM_PROXY] = "proxy",
};

static size_t alen(int family)
{
	return family == AF_INET ? 4 : 16;
}

/* 0 and *ifindex, or -ENODEV with the device named. */
static int dev_index(const struct rt_item *it, int *ifindex)
{
	*ifindex = (int)if_nametoindex(it->dev);
	if (*ifindex <= 0)
		return err_set(-ENODEV, "%s: no such interface", it->dev);
	return 0;
}

static int addr_has(int ifindex, const struct rt_item *it)
{
	struct nl_blobs list = { 0 };
	int rc = nl_addr_list(ifindex, it->family, &list), found = 0;

	for (size_t i = 0; rc == 0 && i < list.n && !found; i++) {
		const struct nlmsghdr *nlh = (const struct nlmsghdr *)list.v[i].data;
		const struct ifaddrmsg *ifa = mnl_nlmsg_get_payload(nlh);
		const struct nlattr *a;

		if (ifa->ifa_prefixlen != it->plen)
			continue;
		mnl_attr_for_each(a, nlh, sizeof(*ifa)) {
			int t = mnl_attr_get_type(a);

			if ((t == IFA_LOCAL || (t == IFA_ADDRESS && it->family == AF_INET6)) &&
			    mnl_attr_get_payload_len(a) == alen(it->family) &&
			    !memcmp(mnl_attr_get_payload(a), &it->addr, alen(it->family)))
				found = 1;
		}
	}
	nl_blobs_free(&list);
	return rc ? rc : found;
}

static int apply_sysctl(struct rt_item *it)
{
	char cur[RT_SYSCTL_VALUE_MAX];
	int rc = sysctl_read(it->path, cur, sizeof(cur));

	if (rc)
		return rc;
	if (!strcmp(cur, "1"))
		return 0;
	/* A value remembered earlier (crash recovery, re-online) is the
	 * original; never replace it with what someone set since. */
	if (!it->old[0])
		snprintf(it->old, sizeof(it->old), "%s", cur);
	rc = sysctl_write(it->path, "1");
	return rc ? rc : 1;
}

static int apply_route(struct rt_item *it, int ifindex)
{
	char name[IFNAMSIZ];
	int rc = nl_route_add_dev(it->family, &it->addr, it->plen, ifindex,
				  it->has_src ? &it->src : NULL, it->metric);
	int owner;

	if (rc != -EEXIST)
		return rc ? err_prefix(rc, "%s", rt_item_str(it)) : 1;
	owner = rt_route_owner(it->family, &it->addr, it->plen, it->metric);
	if (owner < 0)
		return owner;
	if (owner == ifindex)
		return 0;
	if (owner == 0 || !if_indextoname((unsigned)owner, name))
		snprintf(name, sizeof(name), "another device");
	return err_set(-EEXIST, "%s is already routed via %s (metric %u)", rt_item_addr_str(it),
		       name, it->metric);
}

int rt_item_apply(struct rt_item *it)
{
	struct nl_link l;
	int ifindex = 0, rc;

	if (it->kind == RT_ITEM_SYSCTL)
		return apply_sysctl(it);
	rc = dev_index(it, &ifindex);
	if (rc)
		return rc;
	switch (it->kind) {
	case RT_ITEM_LINK_UP:
		rc = nl_link_get_index(ifindex, &l);
		if (rc == 0 && (l.flags & IFF_UP))
			return 0;
		rc = rc ? rc : nl_link_set_up(ifindex, true);
		return rc ? err_prefix(rc, "%s: cannot bring it up", it->dev) : 1;
	case RT_ITEM_ADDR:
		rc = addr_has(ifindex, it);
		if (rc)
			return rc < 0 ? rc : 0;
		rc = nl_addr_add(ifindex, it->family, &it->addr, it->plen);
		return rc ? err_prefix(rc, "%s", rt_item_str(it)) : 1;
	case RT_ITEM_ROUTE:
		return apply_route(it, ifindex);
	case RT_ITEM_PROXY:
		rc = nl_neigh_proxy_exists(ifindex, it->family, &it->addr);
		if (rc)
			return rc < 0 ? err_prefix(rc, "%s", rt_item_str(it)) : 0;
		rc = nl_neigh_proxy_add(ifindex, it->family, &it->addr);
		return rc ? err_prefix(rc, "%s", it->dev) : 1;
	default:
		return err_set(-EINVAL, "unknown item");
	}
}

/* Deleting the last IPv4 address of a device makes the kernel flush every
 * route through it (fib_disable_ip), other people's included. Those routes
 * are listed first and put back (ours are gone by then: undo runs backwards,
 * and the address was made before the routes). */
static int addr_del_keep_routes(int ifindex, const struct rt_item *it)
{
	struct nl_blobs addrs = { 0 }, routes = { 0 };
	int rc;

	if (it->family == AF_INET && nl_addr_list(ifindex, AF_INET, &addrs) == 0 && addrs.n <= 1 &&
	    nl_route_list(ifindex, AF_INET, &routes))
		nl_blobs_free(&routes);
	nl_blobs_free(&addrs);
	rc = nl_addr_del(ifindex, it->family, &it->addr, it->plen);
	for (size_t i = 0; rc == 0 && i < routes.n; i++)
		if (nl_route_replay(&routes.v[i], ifindex))
			log_warn("%s: cannot put back %s after removing %s: %s", it->dev,
				 nl_route_blob_str(&routes.v[i]), rt_item_addr_str(it), err_msg());
	nl_blobs_free(&routes);
	return rc;
}

int rt_item_undo(const struct rt_item *it)
{
	int ifindex, rc;

	if (it->kind == RT_ITEM_SYSCTL) {
		if (!it->old[0])
			return 0;
		rc = sysctl_write(it->path, it->old);
		/* The device went away, and its setting with it. */
		return rc == -ENOENT ? 0 : rc;
	}
	ifindex = (int)if_nametoindex(it->dev);
	if (ifindex <= 0)
		return 0;
	switch (it->kind) {
	case RT_ITEM_LINK_UP:
		rc = nl_link_set_up(ifindex, false);
		break;
	case RT_ITEM_ADDR:
		rc = addr_del_keep_routes(ifindex, it);
		break;
	case RT_ITEM_ROUTE:
		/* Any protocol: a record from before netd marked its routes. */
		rc = nl_route_del_dev(it->family, &it->addr, it->plen, ifindex, it->metric, 0);
		if (rc == -ENODEV)
			rc = 0;
		break;
	case RT_ITEM_PROXY:
		return nl_neigh_proxy_del(ifindex, it->family, &it->addr);
	default:
		return 0;
	}
	return rc ? err_prefix(rc, "cannot remove %s", rt_item_str(it)) : 0;
}

bool rt_item_same(const struct rt_item *a, const struct rt_item *b)
{
	if (a->kind != b->kind)
		return false;
	if (a->kind == RT_ITEM_SYSCTL)
		return !strcmp(a->path, b->path);
	if (strcmp(a->dev, b->dev))
		return false;
	if (a->kind == RT_ITEM_LINK_UP)
		return true;
	if (a->family != b->family || memcmp(&a->addr, &b->addr, alen(a->family)))
		return false;
	if (a->kind == RT_ITEM_PROXY)
		return true;
	if (a->plen != b->plen)
		return false;
	return a->kind == RT_ITEM_ADDR || a->metric == b->metric;
}

const char *rt_item_addr_str(const struct rt_item *it)
{
	static char buf[INET6_ADDRSTRLEN + 8];

	if (!inet_ntop(it->family, &it->addr, buf, sizeof(buf)))
		return "?";
	if (it->kind == RT_ITEM_ADDR || it->kind == RT_ITEM_ROUTE)
		snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "/%u", it->plen);
	return buf;
}

const char *rt_item_str(const struct rt_item *it)
{
	static char buf[RT_SYSCTL_PATH_MAX + 2 * INET6_ADDRSTRLEN + 64];
	char src[INET6_ADDRSTRLEN] = "";

	switch (it->kind) {
	case RT_ITEM_SYSCTL:
		snprintf(buf, sizeof(buf), "sysctl %s (was %s)", it->path, it->old);
		break;
	case RT_ITEM_LINK_UP:
		snprintf(buf, sizeof(buf), "link %s up", it->dev);
		break;
	case RT_ITEM_ADDR:
		snprintf(buf, sizeof(buf), "address %s dev %s", rt_item_addr_str(it), it->dev);
		break;
	case RT_ITEM_ROUTE:
		if (it->has_src)
			inet_ntop(it->family, &it->src, src, sizeof(src));
		snprintf(buf, sizeof(buf), "route %s dev %s%s%s metric %u", rt_item_addr_str(it),
			 it->dev, src[0] ? " src " : "", src, it->metric);
		break;
	case RT_ITEM_PROXY:
		snprintf(buf, sizeof(buf), "proxy %s dev %s", rt_item_addr_str(it), it->dev);
		break;
	}
	return buf;
}

int rt_items_push(struct rt_items *l, const struct rt_item *it)
{
	struct rt_item *v = realloc(l->v, (l->n + 1) * sizeof(*v));

	if (!v)
		return err_set(-ENOMEM, "out of memory");
	l->v = v;
	l->v[l->n++] = *it;
	return 0;
}

void rt_items_free(struct rt_items *l)
{
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

bool rt_items_has(const struct rt_items *l, const struct rt_item *it)
{
	for (size_t i = 0; i < l->n; i++)
		if (rt_item_same(&l->v[i], it))
			return true;
	return false;
}

int rt_items_undo(struct rt_items *l)
{
	char msg[ERR_MSG_MAX] = "";
	bool *failed = calloc(l->n ? l->n : 1, sizeof(*failed));
	size_t kept = 0;
	int first = 0;

	if (!failed)
		return err_set(-ENOMEM, "out of memory");
	for (size_t i = l->n; i-- > 0;) {
		int rc = rt_item_undo(&l->v[i]);

		if (rc == 0)
			continue;
		failed[i] = true;
		if (!first) {
			first = rc;
			snprintf(msg, sizeof(msg), "%s", err_msg());
		}
	}
	for (size_t i = 0; i < l->n; i++)
		if (failed[i])
			l->v[kept++] = l->v[i];
	free(failed);
	l->n = kept;
	if (!kept)
		rt_items_free(l);
	return first ? err_set(first, "%s", msg) : 0;
}

/* ---- JSON ---- */

static bool dev_ok(const char *d)
{
	return d[0] && strlen(d) < IFNAMSIZ && !strchr(d, '/') && strcmp(d, ".") && strcmp(d, "..");
}

static json_t *item_to_json(const struct rt_item *it)
{
	char a[INET6_ADDRSTRLEN];
	json_t *j = json_pack("{s:s}", "kind", kind_names[it->kind]);

	if (it->kind == RT_ITEM_SYSCTL) {
		json_object_set_new(j, "path", json_string(it->path));
		json_object_set_new(j, "old", json_string(it->old));
		return j;
	}
	json_object_set_new(j, "dev", json_string(it->dev));
	if (it->kind == RT_ITEM_LINK_UP)
		return j;
	inet_ntop(it->family, &it->addr, a, sizeof(a));
	json_object_set_new(j, "addr", json_string(a));
	if (it->kind == RT_ITEM_PROXY)
		return j;
	json_object_set_new(j, "plen", json_integer(it->plen));
	if (it->kind == RT_ITEM_ADDR)
		return j;
	json_object_set_new(j, "metric", json_integer(it->metric));
	if (it->has_src) {
		inet_ntop(it->family, &it->src, a, sizeof(a));
		json_object_set_new(j, "src", json_string(a));
	}
	return j;
}

json_t *rt_items_to_json(const struct rt_items *l)
{
	json_t *a = json_array();

	for (size_t i = 0; i < l->n; i++)
		json_array_append_new(a, item_to_json(&l->v[i]));
	return a;
}

static int parse_addr(const char *s, int *family, union rt_addr *out)
{
	if (s && inet_pton(AF_INET, s, &out->v4) == 1)
		*family = AF_INET;
	else if (s && inet_pton(AF_INET6, s, &out->v6) == 1)
		*family = AF_INET6;
	else
		return -EINVAL;
	return 0;
}

static int item_from_json(json_t *j, struct rt_item *it)
{
	const char *kind = json_string_value(json_object_get(j, "kind"));
	const char *s;
	json_int_t n;
	size_t k;

	memset(it, 0, sizeof(*it));
	for (k = 0; k < sizeof(kind_names) / sizeof(kind_names[0]); k++)
		if (kind && !strcmp(kind, kind_names[k]))
			break;
	if (k == sizeof(kind_names) / sizeof(kind_names[0]))
		return err_set(-EINVAL, "unknown item kind '%s'", kind ? kind : "");
	it->kind = (enum rt_item_kind)k;
	if (it->kind == RT_ITEM_SYSCTL) {
		const char *path = json_string_value(json_object_get(j, "path"));
		const char *old = json_string_value(json_object_get(j, "old"));

		if (!path || strlen(path) >= sizeof(it->path) || !sysctl_path_is_valid(path))
			return err_set(-EINVAL, "bad sysctl path");
		if (!old || strlen(old) >= sizeof(it->old) || !sysctl_value_is_valid(old))
			return err_set(-EINVAL, "bad sysctl value for %s", path);
		strcpy(it->path, path);
		strcpy(it->old, old);
		return 0;
	}
	s = json_string_value(json_object_get(j, "dev"));
	if (!s || !dev_ok(s))
		return err_set(-EINVAL, "bad device name");
	strcpy(it->dev, s);
	if (it->kind == RT_ITEM_LINK_UP)
		return 0;
	if (parse_addr(json_string_value(json_object_get(j, "addr")), &it->family, &it->addr))
		return err_set(-EINVAL, "%s: bad address", it->dev);
	if (it->kind == RT_ITEM_PROXY)
		return 0;
	n = json_integer_value(json_object_get(j, "plen"));
	if (!json_is_integer(json_object_get(j, "plen")) || n < 0 ||
	    n > (it->family == AF_INET ? 32 : 128))
		return err_set(-EINVAL, "%s: bad prefix length", it->dev);
	it->plen = (uint8_t)n;
	if (it->kind == RT_ITEM_ADDR)
		return 0;
	n = json_integer_value(json_object_get(j, "metric"));
	if (!json_is_integer(json_object_get(j, "metric")) || n < 0 || n > UINT32_MAX)
		return err_set(-EINVAL, "%s: bad metric", it->dev);
	it->metric = (uint32_t)n;
	s = json_string_value(json_object_get(j, "src"));
	if (s) {
		int fam;

		if (parse_addr(s, &fam, &it->src) || fam != it->family)
			return err_set(-EINVAL, "%s: bad source address", it->dev);
		it->has_src = true;
	}
	return 0;
}

int rt_items_from_json(json_t *j, struct rt_items *l)
{
	struct rt_item it;
	json_t *v;
	size_t i;
	int rc;

	if (!json_is_array(j))
		return err_set(-EINVAL, "items: not a list");
	json_array_foreach(j, i, v) {
		rc = item_from_json(v, &it);
		if (rc == 0)
			rc = rt_items_push(l, &it);
		if (rc) {
			rt_items_free(l);
			return err_prefix(rc, "item %zu", i);
		}
	}
	return 0;
}
