/* nl_addr: RTM_{NEW,DEL,GET}ADDR. */
#include "lib/nl_addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_addr.h>
#include <stdio.h>
#include <string.h>

#include "lib/err.h"

struct addr_walk {
	int ifindex;
	struct nl_blobs *out;
	int rc;
};

static int addr_list_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct ifaddrmsg *ifa = mnl_nlmsg_get_payload(nlh);
	struct addr_walk *w = data;

	if ((int)ifa->ifa_index != w->ifindex)
		return MNL_CB_OK;
	if (ifa->ifa_family == AF_INET6 && ifa->ifa_scope == RT_SCOPE_LINK)
		return MNL_CB_OK;
	w->rc = nl_blobs_push(w->out, nlh);
	return w->rc ? MNL_CB_ERROR : MNL_CB_OK;
}

int nl_addr_list(int ifindex, int family, struct nl_blobs *out)
{
	struct nlmsghdr *nlh = nl_msg(RTM_GETADDR, 0);
	struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	struct addr_walk w = { ifindex, out, 0 };
	int rc;

	ifa->ifa_family = (uint8_t)family;
	ifa->ifa_index = (uint32_t)ifindex; /* filtered by the kernel under strict check */
	rc = nl_dump(nlh, addr_list_cb, &w);
	return w.rc ? w.rc : rc;
}

struct addr_each {
	int (*cb)(int ifindex, int family, const void *addr, uint8_t plen, void *data);
	void *data;
	int rc;
};

static int addr_each_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct ifaddrmsg *ifa = mnl_nlmsg_get_payload(nlh);
	struct addr_each *w = data;
	size_t want = ifa->ifa_family == AF_INET ? 4 : ifa->ifa_family == AF_INET6 ? 16 : 0;
	const void *local = NULL, *address = NULL;
	const struct nlattr *a;

	/* Never MNL_CB_STOP: the rest of the dump would be left on the
	 * socket for the next request to trip over. */
	if (!want || w->rc)
		return MNL_CB_OK;
	/* IFA_LOCAL is ours; IFA_ADDRESS is the peer's on point-to-point
	 * links, and ours (the only one given) elsewhere. */
	mnl_attr_for_each(a, nlh, sizeof(*ifa)) {
		if (mnl_attr_get_payload_len(a) != want)
			continue;
		if (mnl_attr_get_type(a) == IFA_LOCAL)
			local = mnl_attr_get_payload(a);
		else if (mnl_attr_get_type(a) == IFA_ADDRESS)
			address = mnl_attr_get_payload(a);
	}
	if (!local)
		local = address;
	if (!local)
		return MNL_CB_OK;
	w->rc = w->cb((int)ifa->ifa_index, ifa->ifa_family, local, ifa->ifa_prefixlen, w->data);
	return MNL_CB_OK;
}

int nl_addr_for_each(int (*cb)(int ifindex, int family, const void *addr, uint8_t plen,
			       void *data),
		     void *data)
{
	struct nlmsghdr *nlh = nl_msg(RTM_GETADDR, 0);
	struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	struct addr_each w = { cb, data, 0 };
	int rc;

	ifa->ifa_family = AF_UNSPEC;
	rc = nl_dump(nlh, addr_each_cb, &w);
	return w.rc ? w.rc : rc;
}

/* Re-send a dumped address with a new ifindex. Kernel-computed parts (the
 * cache timestamps, the "secondary" flag) are recomputed by the kernel. */
static int addr_send(const struct nl_blob *addr, int ifindex, uint16_t type, uint16_t flags)
{
	const struct nlmsghdr *src = (const struct nlmsghdr *)addr->data;
	const struct ifaddrmsg *sifa = mnl_nlmsg_get_payload(src);
	struct nlmsghdr *nlh = nl_msg(type, flags);
	struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	const struct nlattr *a;

	*ifa = *sifa;
	ifa->ifa_index = (uint32_t)ifindex;
	mnl_attr_for_each(a, src, sizeof(*sifa)) {
		switch (mnl_attr_get_type(a)) {
		case IFA_ADDRESS:
		case IFA_LOCAL:
		case IFA_BROADCAST:
		case IFA_LABEL:
		case IFA_FLAGS:
		case IFA_RT_PRIORITY:
		case IFA_PROTO:
			mnl_attr_put(nlh, mnl_attr_get_type(a), mnl_attr_get_payload_len(a),
				     mnl_attr_get_payload(a));
			break;
		case IFA_CACHEINFO: {
			/* Keep finite lifetimes; forever is the default. */
			const struct ifa_cacheinfo *ci = mnl_attr_get_payload(a);

			if (type == RTM_NEWADDR && ci->ifa_valid != 0xFFFFFFFFu) {
				struct ifa_cacheinfo c = { .ifa_prefered = ci->ifa_prefered,
							   .ifa_valid = ci->ifa_valid };
				mnl_attr_put(nlh, IFA_CACHEINFO, sizeof(c), &c);
			}
			break;
		}
		}
	}
	return nl_request(nlh);
}

int nl_addr_replay(const struct nl_blob *addr, int ifindex)
{
	int rc = addr_send(addr, ifindex, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL);

	if (rc == -EEXIST)
		return 0;
	return rc ? err_prefix(rc, "address %s", nl_addr_blob_str(addr)) : 0;
}

int nl_addr_remove(const struct nl_blob *addr, int ifindex)
{
	int rc = addr_send(addr, ifindex, RTM_DELADDR, 0);

	if (rc == -EADDRNOTAVAIL || rc == -ENOENT)
		return 0;
	return rc ? err_prefix(rc, "address %s", nl_addr_blob_str(addr)) : 0;
}

static int addr_simple(uint16_t type, uint16_t flags, int ifindex, int family,
		       const void *addr, uint8_t prefixlen)
{
	struct nlmsghdr *nlh = nl_msg(type, flags);
	struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	size_t len = family == AF_INET ? 4 : 16;

	ifa->ifa_family = (uint8_t)family;
	ifa->ifa_prefixlen = prefixlen;
	ifa->ifa_index = (uint32_t)ifindex;
	ifa->ifa_scope = RT_SCOPE_UNIVERSE;
	mnl_attr_put(nlh, IFA_LOCAL, len, addr);
	mnl_attr_put(nlh, IFA_ADDRESS, len, addr);
	if (family == AF_INET6)
		mnl_attr_put_u32(nlh, IFA_FLAGS, IFA_F_NODAD);
	return nl_request(nlh);
}

int nl_addr_add(int ifindex, int family, const void *addr, uint8_t prefixlen)
{
	int rc = addr_simple(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, ifindex, family, addr, prefixlen);

	return rc == -EEXIST ? 0 : rc;
}

int nl_addr_del(int ifindex, int family, const void *addr, uint8_t prefixlen)
{
	int rc = addr_simple(RTM_DELADDR, 0, ifindex, family, addr, prefixlen);

	return rc == -EADDRNOTAVAIL ? 0 : rc;
}

int nl_addr_primary_v4(int ifindex, void *addr4, uint8_t *prefixlen)
{
	struct nl_blobs list = { 0 };
	int rc = nl_addr_list(ifindex, AF_INET, &list);

	if (rc == 0 && list.n == 0)
		rc = err_set(-ENOENT, "interface #%d has no IPv4 address", ifindex);
	if (rc == 0) {
		const struct nlmsghdr *nlh = (const struct nlmsghdr *)list.v[0].data;
		const struct ifaddrmsg *ifa = mnl_nlmsg_get_payload(nlh);
		const struct nlattr *a;

		*prefixlen = ifa->ifa_prefixlen;
		mnl_attr_for_each(a, nlh, sizeof(*ifa))
			if (mnl_attr_get_type(a) == IFA_LOCAL && mnl_attr_get_payload_len(a) == 4)
				memcpy(addr4, mnl_attr_get_payload(a), 4);
	}
	nl_blobs_free(&list);
	return rc;
}

const char *nl_addr_blob_str(const struct nl_blob *addr)
{
	static char buf[INET6_ADDRSTRLEN + 8];
	const struct nlmsghdr *nlh = (const struct nlmsghdr *)addr->data;
	const struct ifaddrmsg *ifa = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *a;
	const void *p = NULL;

	mnl_attr_for_each(a, nlh, sizeof(*ifa)) {
		int t = mnl_attr_get_type(a);

		if (t == IFA_LOCAL || (t == IFA_ADDRESS && !p))
			p = mnl_attr_get_payload(a);
	}
	if (!p || !inet_ntop(ifa->ifa_family, p, buf, sizeof(buf)))
		return "?";
	snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "/%u", ifa->ifa_prefixlen);
	return buf;
}
