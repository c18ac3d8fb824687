/* nl_neigh: RTM_{NEW,DEL,GET}NEIGH for proxy entries (see nl_neigh.h). */
#include "lib/nl_neigh.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/neighbour.h>
#include <string.h>

#include "lib/err.h"
#include "lib/nl.h"

static size_t addr_len(int family)
{
	return family == AF_INET ? 4 : 16;
}

static struct nlmsghdr *proxy_msg(uint16_t type, uint16_t flags, int ifindex, int family,
				  const void *addr)
{
	struct nlmsghdr *nlh = nl_msg(type, flags);
	struct ndmsg *ndm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ndm));

	ndm->ndm_family = (uint8_t)family;
	ndm->ndm_ifindex = ifindex;
	ndm->ndm_flags = NTF_PROXY;
	if (type == RTM_NEWNEIGH)
		ndm->ndm_state = NUD_PERMANENT;
	mnl_attr_put(nlh, NDA_DST, addr_len(family), addr);
	return nlh;
}

static const char *addr_str(int family, const void *addr)
{
	static char buf[INET6_ADDRSTRLEN];

	return inet_ntop(family, addr, buf, sizeof(buf)) ? buf : "?";
}

int nl_neigh_proxy_add(int ifindex, int family, const void *addr)
{
	int rc = nl_request(proxy_msg(RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE, ifindex, family,
				      addr));

	return rc ? err_prefix(rc, "proxy neighbour %s", addr_str(family, addr)) : 0;
}

int nl_neigh_proxy_del(int ifindex, int family, const void *addr)
{
	int rc = nl_request(proxy_msg(RTM_DELNEIGH, 0, ifindex, family, addr));

	if (rc == -ENOENT || rc == -ENODEV) {
		err_clear();
		return 0;
	}
	return rc ? err_prefix(rc, "proxy neighbour %s", addr_str(family, addr)) : 0;
}

static int found_cb(const struct nlmsghdr *nlh, void *data)
{
	if (nlh->nlmsg_type == RTM_NEWNEIGH)
		*(int *)data = 1;
	return MNL_CB_OK;
}

int nl_neigh_proxy_exists(int ifindex, int family, const void *addr)
{
	int found = 0;
	int rc = nl_get(proxy_msg(RTM_GETNEIGH, 0, ifindex, family, addr), found_cb, &found);

	if (rc == -ENOENT) {
		err_clear();
		return 0;
	}
	return rc ? rc : found;
}

struct proxy_walk {
	int ifindex;
	int (*cb)(int ifindex, int family, const void *addr, void *data);
	void *data;
	int rc;
};

static int walk_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct ndmsg *ndm = mnl_nlmsg_get_payload(nlh);
	struct proxy_walk *w = data;
	const struct nlattr *a;

	/* After cb said stop, the rest of the dump is still read (and
	 * ignored) so that no stale reply is left on the shared socket. */
	if (w->rc || nlh->nlmsg_type != RTM_NEWNEIGH || !(ndm->ndm_flags & NTF_PROXY))
		return MNL_CB_OK;
	if (w->ifindex && ndm->ndm_ifindex != w->ifindex)
		return MNL_CB_OK;
	mnl_attr_for_each(a, nlh, sizeof(*ndm)) {
		if (mnl_attr_get_type(a) != NDA_DST ||
		    mnl_attr_get_payload_len(a) != addr_len(ndm->ndm_family))
			continue;
		w->rc = w->cb(ndm->ndm_ifindex, ndm->ndm_family, mnl_attr_get_payload(a), w->data);
		break;
	}
	return MNL_CB_OK;
}

int nl_neigh_proxy_for_each(int ifindex, int family,
			    int (*cb)(int ifindex, int family, const void *addr, void *data),
			    void *data)
{
	struct proxy_walk w = { ifindex, cb, data, 0 };
	struct nlmsghdr *nlh = nl_msg(RTM_GETNEIGH, 0);
	struct ndmsg *ndm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ndm));
	int rc;

	/* Under strict checking the header's ifindex must be 0: the device
	 * filter is an attribute. NTF_PROXY alone selects the proxy table. */
	ndm->ndm_family = (uint8_t)family;
	ndm->ndm_flags = NTF_PROXY;
	if (ifindex)
		mnl_attr_put_u32(nlh, NDA_IFINDEX, (uint32_t)ifindex);
	rc = nl_dump(nlh, walk_cb, &w);
	return w.rc ? w.rc : rc;
}
