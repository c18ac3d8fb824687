/* host: kernel lookups for route mode (see host.h). */
#include "route/host.h"

#include <errno.h>
#include <linux/if_addr.h>
#include <string.h>

#include "lib/err.h"
#include "lib/nl.h"
#include "lib/nl_addr.h"

int rt_host_v6_addrs(int ifindex, struct in6_addr *out, size_t max, size_t *n)
{
	struct nl_blobs list = { 0 };
	int rc = nl_addr_list(ifindex, AF_INET6, &list);

	*n = 0;
	for (size_t i = 0; rc == 0 && i < list.n && *n < max; i++) {
		const struct nlmsghdr *nlh = (const struct nlmsghdr *)list.v[i].data;
		const struct ifaddrmsg *ifa = mnl_nlmsg_get_payload(nlh);
		const struct nlattr *a;

		if (ifa->ifa_family != AF_INET6 || ifa->ifa_scope != RT_SCOPE_UNIVERSE)
			continue;
		mnl_attr_for_each(a, nlh, sizeof(*ifa)) {
			if (mnl_attr_get_type(a) == IFA_ADDRESS && mnl_attr_get_payload_len(a) == 16) {
				memcpy(&out[(*n)++], mnl_attr_get_payload(a), 16);
				break;
			}
		}
	}
	nl_blobs_free(&list);
	return rc;
}

/* One walk over a route dump, shared by the two lookups below. */
struct route_find {
	/* what to match */
	int family;
	const void *dst; /* NULL: default routes */
	uint8_t plen;
	int oif;          /* 0: any */
	bool any_metric;
	uint32_t metric;
	/* what was found (the first match wins: the kernel dumps by metric) */
	bool found;
	int found_oif;
	bool has_gw;
	uint8_t gw[16];
};

static int route_find_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct rtmsg *rtm = mnl_nlmsg_get_payload(nlh);
	struct route_find *f = data;
	const struct nlattr *a;
	uint32_t table = rtm->rtm_table, metric = 0;
	const void *dst = NULL, *gw = NULL;
	size_t alen = f->family == AF_INET ? 4 : 16;
	int oif = 0;

	if (f->found || nlh->nlmsg_type != RTM_NEWROUTE || rtm->rtm_family != f->family ||
	    rtm->rtm_dst_len != f->plen || rtm->rtm_type != RTN_UNICAST ||
	    (rtm->rtm_flags & RTM_F_CLONED))
		return MNL_CB_OK;
	mnl_attr_for_each(a, nlh, sizeof(*rtm)) {
		switch (mnl_attr_get_type(a)) {
		case RTA_TABLE:
			if (mnl_attr_validate(a, MNL_TYPE_U32) == 0)
				table = mnl_attr_get_u32(a);
			break;
		case RTA_PRIORITY:
			if (mnl_attr_validate(a, MNL_TYPE_U32) == 0)
				metric = mnl_attr_get_u32(a);
			break;
		case RTA_OIF:
			if (mnl_attr_validate(a, MNL_TYPE_U32) == 0)
				oif = (int)mnl_attr_get_u32(a);
			break;
		case RTA_DST:
			if (mnl_attr_get_payload_len(a) == alen)
				dst = mnl_attr_get_payload(a);
			break;
		case RTA_GATEWAY:
			if (mnl_attr_get_payload_len(a) == alen)
				gw = mnl_attr_get_payload(a);
			break;
		}
	}
	if (table != RT_TABLE_MAIN || (f->oif && oif != f->oif))
		return MNL_CB_OK;
	if (!f->any_metric && metric != f->metric)
		return MNL_CB_OK;
	if (f->dst && (!dst || memcmp(dst, f->dst, alen)))
		return MNL_CB_OK;
	if (!f->dst && f->plen == 0 && !gw)
		return MNL_CB_OK; /* a default route without a gateway names no router */
	f->found = true;
	f->found_oif = oif;
	if (gw) {
		f->has_gw = true;
		memcpy(f->gw, gw, alen);
	}
	return MNL_CB_OK;
}

static int route_find(struct route_find *f)
{
	struct nlmsghdr *nlh = nl_msg(RTM_GETROUTE, 0);
	struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));

	rtm->rtm_family = (uint8_t)f->family;
	rtm->rtm_table = RT_TABLE_MAIN; /* a filter under strict checking */
	mnl_attr_put_u32(nlh, RTA_TABLE, RT_TABLE_MAIN);
	return nl_dump(nlh, route_find_cb, f);
}

int rt_host_v6_gateway(int ifindex, struct in6_addr *gw)
{
	struct route_find f = { .family = AF_INET6, .oif = ifindex, .any_metric = true };
	int rc = route_find(&f);

	if (rc)
		return rc;
	if (!f.found || !f.has_gw)
		return 0;
	memcpy(gw, f.gw, 16);
	return 1;
}

int rt_route_owner(int family, const void *dst, uint8_t plen, uint32_t metric)
{
	struct route_find f = { .family = family, .dst = dst, .plen = plen, .metric = metric };
	int rc = route_find(&f);

	if (rc)
		return rc;
	return f.found ? f.found_oif : 0;
}
