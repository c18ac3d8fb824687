/* nl_route: RTM_{NEW,DEL,GET}ROUTE. */
#include "lib/nl_route.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "lib/err.h"

struct route_walk {
	int ifindex;
	struct nl_blobs *out;
	int rc;
};

static int route_oif(const struct nlmsghdr *nlh)
{
	const struct nlattr *a;

	mnl_attr_for_each(a, nlh, sizeof(struct rtmsg))
		if (mnl_attr_get_type(a) == RTA_OIF && mnl_attr_validate(a, MNL_TYPE_U32) == 0)
			return (int)mnl_attr_get_u32(a);
	return 0;
}

static uint32_t route_table(const struct nlmsghdr *nlh)
{
	const struct rtmsg *rtm = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *a;

	mnl_attr_for_each(a, nlh, sizeof(*rtm))
		if (mnl_attr_get_type(a) == RTA_TABLE && mnl_attr_validate(a, MNL_TYPE_U32) == 0)
			return mnl_attr_get_u32(a);
	return rtm->rtm_table;
}

/*
 * Dumps the routes of one family, or of both when family is AF_UNSPEC.
 * table and ifindex, when not 0, ask the kernel to filter (strict checking).
 * The callback records its own failure in *cb_rc and skips the rest instead of
 * stopping the dump (see nl_addr_for_each()); that failure wins.
 */
static int route_dump(int family, uint32_t table, int ifindex, mnl_cb_t cb, void *data,
		      const int *cb_rc)
{
	static const int families[] = { AF_INET, AF_INET6 };

	for (size_t i = 0; i < 2; i++) {
		struct nlmsghdr *nlh;
		struct rtmsg *rtm;
		int rc;

		if (family != AF_UNSPEC && family != families[i])
			continue;
		nlh = nl_msg(RTM_GETROUTE, 0);
		rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
		rtm->rtm_family = (uint8_t)families[i];
		if (table) {
			rtm->rtm_table = (uint8_t)table;
			mnl_attr_put_u32(nlh, RTA_TABLE, table);
		}
		if (ifindex)
			mnl_attr_put_u32(nlh, RTA_OIF, (uint32_t)ifindex);
		rc = nl_dump(nlh, cb, data);
		if (*cb_rc)
			return *cb_rc;
		if (rc)
			return rc;
	}
	return 0;
}

static int route_list_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct rtmsg *rtm = mnl_nlmsg_get_payload(nlh);
	struct route_walk *w = data;

	if (route_oif(nlh) != w->ifindex || route_table(nlh) == RT_TABLE_LOCAL)
		return MNL_CB_OK;
	if (rtm->rtm_protocol == RTPROT_KERNEL || rtm->rtm_protocol == RTPROT_RA ||
	    rtm->rtm_type != RTN_UNICAST || (rtm->rtm_flags & RTM_F_CLONED))
		return MNL_CB_OK;
	w->rc = nl_blobs_push(w->out, nlh);
	return w->rc ? MNL_CB_ERROR : MNL_CB_OK;
}

int nl_route_list(int ifindex, int family, struct nl_blobs *out)
{
	struct route_walk w = { ifindex, out, 0 };

	return route_dump(family, 0, 0, route_list_cb, &w, &w.rc);
}

struct gw_each {
	int (*cb)(int family, const void *gw, void *data);
	void *data;
	int rc;
};

static int gw_attr(const struct nlattr *a, int family, struct gw_each *w)
{
	size_t want = family == AF_INET ? 4 : 16;

	if (mnl_attr_get_type(a) != RTA_GATEWAY || mnl_attr_get_payload_len(a) != want)
		return 0;
	w->rc = w->cb(family, mnl_attr_get_payload(a), w->data);
	return w->rc;
}

static int gw_each_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct rtmsg *rtm = mnl_nlmsg_get_payload(nlh);
	struct gw_each *w = data;
	const struct nlattr *a;

	/* Never MNL_CB_STOP (see nl_addr_for_each()): skip instead. */
	if (w->rc || route_table(nlh) != RT_TABLE_MAIN ||
	    (rtm->rtm_family != AF_INET && rtm->rtm_family != AF_INET6))
		return MNL_CB_OK;
	mnl_attr_for_each(a, nlh, sizeof(*rtm)) {
		if (gw_attr(a, rtm->rtm_family, w))
			return MNL_CB_OK;
		if (mnl_attr_get_type(a) == RTA_MULTIPATH) {
			const char *p = mnl_attr_get_payload(a);
			size_t left = mnl_attr_get_payload_len(a);

			/* rtnexthop records, each followed by its attributes. */
			while (left >= sizeof(struct rtnexthop)) {
				const struct rtnexthop *nh = (const void *)p;
				size_t len = nh->rtnh_len, step = RTNH_ALIGN(len);
				const struct nlattr *na = (const void *)(p + sizeof(*nh));
				int alen;

				if (len < sizeof(*nh) || len > left)
					break;
				alen = (int)(len - sizeof(*nh));
				while (mnl_attr_ok(na, alen)) {
					if (gw_attr(na, rtm->rtm_family, w))
						return MNL_CB_OK;
					alen -= (int)MNL_ALIGN(mnl_attr_get_len(na));
					na = mnl_attr_next(na);
				}
				p += step;
				left = left > step ? left - step : 0;
			}
		}
	}
	return MNL_CB_OK;
}

int nl_route_for_each_gateway(int ifindex, int family,
			      int (*cb)(int family, const void *gw, void *data), void *data)
{
	struct gw_each w = { cb, data, 0 };

	return route_dump(family, RT_TABLE_MAIN, ifindex, gw_each_cb, &w, &w.rc);
}

static int fib_match_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct rtmsg *rtm = mnl_nlmsg_get_payload(nlh);
	struct nl_route_match *m = data;
	size_t alen = rtm->rtm_family == AF_INET ? 4 : 16;
	const struct nlattr *a;

	m->type = rtm->rtm_type;
	m->protocol = rtm->rtm_protocol;
	m->dst_len = rtm->rtm_dst_len;
	mnl_attr_for_each(a, nlh, sizeof(*rtm)) {
		if (mnl_attr_get_type(a) == RTA_DST && mnl_attr_get_payload_len(a) == alen)
			memcpy(m->dst, mnl_attr_get_payload(a), alen);
		else if (mnl_attr_get_type(a) == RTA_OIF && mnl_attr_validate(a, MNL_TYPE_U32) == 0)
			m->oif = (int)mnl_attr_get_u32(a);
	}
	return MNL_CB_OK;
}

int nl_route_fib_match(int family, const void *addr, struct nl_route_match *out)
{
	struct nlmsghdr *nlh = nl_msg(RTM_GETROUTE, 0);
	struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	size_t alen = family == AF_INET ? 4 : 16;

	memset(out, 0, sizeof(*out));
	rtm->rtm_family = (uint8_t)family;
	rtm->rtm_dst_len = (uint8_t)(alen * 8);
	rtm->rtm_flags = RTM_F_FIB_MATCH;
	mnl_attr_put(nlh, RTA_DST, alen, addr);
	return nl_get(nlh, fib_match_cb, out);
}

static int route_send(const struct nl_blob *route, int ifindex, uint16_t type, uint16_t flags)
{
	const struct nlmsghdr *src = (const struct nlmsghdr *)route->data;
	const struct rtmsg *srtm = mnl_nlmsg_get_payload(src);
	struct nlmsghdr *nlh = nl_msg(type, flags);
	struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	const struct nlattr *a;

	*rtm = *srtm;
	rtm->rtm_flags &= ~(unsigned)(RTNH_F_DEAD | RTNH_F_LINKDOWN | RTNH_F_OFFLOAD | RTNH_F_TRAP);
	mnl_attr_for_each(a, src, sizeof(*srtm)) {
		switch (mnl_attr_get_type(a)) {
		case RTA_OIF:
			mnl_attr_put_u32(nlh, RTA_OIF, (uint32_t)ifindex);
			break;
		case RTA_CACHEINFO: /* kernel bookkeeping, not configuration */
			break;
		default:
			mnl_attr_put(nlh, mnl_attr_get_type(a), mnl_attr_get_payload_len(a),
				     mnl_attr_get_payload(a));
		}
	}
	return nl_request(nlh);
}

int nl_route_replay(const struct nl_blob *route, int ifindex)
{
	int rc = route_send(route, ifindex, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL);

	if (rc == -EEXIST)
		return 0;
	return rc ? err_prefix(rc, "route %s", nl_route_blob_str(route)) : 0;
}

int nl_route_remove(const struct nl_blob *route, int ifindex)
{
	int rc = route_send(route, ifindex, RTM_DELROUTE, 0);

	if (rc == -ESRCH || rc == -ENOENT)
		return 0;
	return rc ? err_prefix(rc, "route %s", nl_route_blob_str(route)) : 0;
}

struct proto_walk {
	uint8_t proto;
	struct nl_blobs *out;
	int rc;
};

static int route_proto_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct rtmsg *rtm = mnl_nlmsg_get_payload(nlh);
	struct proto_walk *w = data;

	if (rtm->rtm_protocol != w->proto || route_table(nlh) != RT_TABLE_MAIN ||
	    (rtm->rtm_flags & RTM_F_CLONED))
		return MNL_CB_OK;
	w->rc = nl_blobs_push(w->out, nlh);
	return w->rc ? MNL_CB_ERROR : MNL_CB_OK;
}

int nl_route_list_proto(uint8_t proto, struct nl_blobs *out)
{
	struct proto_walk w = { proto, out, 0 };

	return route_dump(AF_UNSPEC, 0, 0, route_proto_cb, &w, &w.rc);
}

int nl_route_blob_oif(const struct nl_blob *route)
{
	return route_oif((const struct nlmsghdr *)route->data);
}

static struct nlmsghdr *route_dev_msg(uint16_t type, uint16_t flags, int family,
				      const void *dst, uint8_t plen, int ifindex, uint32_t metric,
				      uint8_t proto)
{
	struct nlmsghdr *nlh = nl_msg(type, flags);
	struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));

	rtm->rtm_family = (uint8_t)family;
	rtm->rtm_dst_len = plen;
	rtm->rtm_table = RT_TABLE_MAIN;
	rtm->rtm_protocol = proto;
	rtm->rtm_scope = RT_SCOPE_LINK;
	rtm->rtm_type = RTN_UNICAST;
	mnl_attr_put(nlh, RTA_DST, family == AF_INET ? 4 : 16, dst);
	mnl_attr_put_u32(nlh, RTA_OIF, (uint32_t)ifindex);
	mnl_attr_put_u32(nlh, RTA_PRIORITY, metric);
	return nlh;
}

int nl_route_add_dev(int family, const void *dst, uint8_t plen, int ifindex,
		     const void *src, uint32_t metric)
{
	struct nlmsghdr *nlh = route_dev_msg(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, family,
					     dst, plen, ifindex, metric, NL_RTPROT_NETD);

	if (src)
		mnl_attr_put(nlh, RTA_PREFSRC, family == AF_INET ? 4 : 16, src);
	return nl_request(nlh);
}

int nl_route_del_dev(int family, const void *dst, uint8_t plen, int ifindex, uint32_t metric,
		     uint8_t proto)
{
	int rc = nl_request(route_dev_msg(RTM_DELROUTE, 0, family, dst, plen, ifindex, metric,
					  proto));

	return rc == -ESRCH ? 0 : rc;
}

const char *nl_route_blob_str(const struct nl_blob *route)
{
	static char buf[2 * INET6_ADDRSTRLEN + 32];
	const struct nlmsghdr *nlh = (const struct nlmsghdr *)route->data;
	const struct rtmsg *rtm = mnl_nlmsg_get_payload(nlh);
	char dst[INET6_ADDRSTRLEN] = "default", gw[INET6_ADDRSTRLEN] = "";
	const struct nlattr *a;

	mnl_attr_for_each(a, nlh, sizeof(*rtm)) {
		if (mnl_attr_get_type(a) == RTA_DST)
			inet_ntop(rtm->rtm_family, mnl_attr_get_payload(a), dst, sizeof(dst));
		else if (mnl_attr_get_type(a) == RTA_GATEWAY)
			inet_ntop(rtm->rtm_family, mnl_attr_get_payload(a), gw, sizeof(gw));
	}
	if (rtm->rtm_dst_len)
		snprintf(buf, sizeof(buf), "%s/%u%s%s", dst, rtm->rtm_dst_len, gw[0] ? " via " : "", gw);
	else
		snprintf(buf, sizeof(buf), "%s%s%s", dst, gw[0] ? " via " : "", gw);
	return buf;
}
