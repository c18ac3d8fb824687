/* nl_link: RTM_{NEW,DEL,GET}LINK requests. */
#include "lib/nl_link.h"

#include <errno.h>
#include <linux/if_link.h>
#include <linux/veth.h>
#include <linux/if_bridge.h>
#include <stdio.h>
#include <string.h>

#include "lib/err.h"
#include "lib/nl.h"

static struct nlmsghdr *link_msg(uint16_t type, uint16_t flags, int ifindex)
{
	struct nlmsghdr *nlh = nl_msg(type, flags);
	struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));

	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = ifindex;
	return nlh;
}

static int link_parse_info(const struct nlattr *info, struct nl_link *l)
{
	const struct nlattr *a;

	mnl_attr_for_each_nested(a, info) {
		if (mnl_attr_get_type(a) == IFLA_INFO_KIND &&
		    mnl_attr_validate(a, MNL_TYPE_STRING) == 0)
			snprintf(l->kind, sizeof(l->kind), "%s", mnl_attr_get_str(a));
	}
	return 0;
}

static int link_parse(const struct nlmsghdr *nlh, struct nl_link *l)
{
	const struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *a;

	memset(l, 0, sizeof(*l));
	l->ifindex = ifi->ifi_index;
	l->flags = ifi->ifi_flags;
	l->type = ifi->ifi_type;
	mnl_attr_for_each(a, nlh, sizeof(*ifi)) {
		switch (mnl_attr_get_type(a)) {
		case IFLA_IFNAME:
			if (mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0)
				snprintf(l->name, sizeof(l->name), "%s", mnl_attr_get_str(a));
			break;
		case IFLA_ADDRESS:
			if (mnl_attr_get_payload_len(a) == 6)
				memcpy(l->mac, mnl_attr_get_payload(a), 6);
			break;
		case IFLA_MTU:
			if (mnl_attr_validate(a, MNL_TYPE_U32) == 0)
				l->mtu = mnl_attr_get_u32(a);
			break;
		case IFLA_MASTER:
			if (mnl_attr_validate(a, MNL_TYPE_U32) == 0)
				l->master = (int)mnl_attr_get_u32(a);
			break;
		case IFLA_LINKINFO:
			link_parse_info(a, l);
			break;
		case IFLA_IFALIAS:
			if (mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0 &&
			    strlen(mnl_attr_get_str(a)) < sizeof(l->alias))
				snprintf(l->alias, sizeof(l->alias), "%s", mnl_attr_get_str(a));
			break;
		}
	}
	return 0;
}

static int link_get_cb(const struct nlmsghdr *nlh, void *data)
{
	link_parse(nlh, data);
	return MNL_CB_OK;
}

static int link_get(const char *name, int ifindex, struct nl_link *out)
{
	struct nlmsghdr *nlh = link_msg(RTM_GETLINK, 0, ifindex);
	int rc;

	if (name)
		mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	mnl_attr_put_u32(nlh, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
	memset(out, 0, sizeof(*out));
	rc = nl_get(nlh, link_get_cb, out);
	if (rc == -ENODEV)
		return name ? err_set(rc, "%s: no such interface", name)
			    : err_set(rc, "interface #%d: no such interface", ifindex);
	return rc;
}

int nl_link_get(const char *name, struct nl_link *out)
{
	return link_get(name, 0, out);
}

int nl_link_get_index(int ifindex, struct nl_link *out)
{
	return link_get(NULL, ifindex, out);
}

bool nl_link_exists(const char *name)
{
	struct nl_link l;

	return link_get(name, 0, &l) == 0;
}

int nl_bridge_create(const char *name)
{
	struct nlmsghdr *nlh = link_msg(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, 0);
	struct nlattr *info, *data;

	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	info = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
	mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "bridge");
	data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
	/* As Xen's create_bridge: no STP, ports forward at once. */
	mnl_attr_put_u32(nlh, IFLA_BR_STP_STATE, 0);
	mnl_attr_put_u32(nlh, IFLA_BR_FORWARD_DELAY, 0);
	/* Bridged frames need no IP, IPv6 or ARP hooks from netd (its
	 * filters are in the bridge family): said out loud, though it is the
	 * default and the namespace's bridge-nf-call-* sysctls, which the
	 * kernel ORs with these, are not netd's to change. */
	mnl_attr_put_u8(nlh, IFLA_BR_NF_CALL_IPTABLES, 0);
	mnl_attr_put_u8(nlh, IFLA_BR_NF_CALL_IP6TABLES, 0);
	mnl_attr_put_u8(nlh, IFLA_BR_NF_CALL_ARPTABLES, 0);
	mnl_attr_nest_end(nlh, data);
	mnl_attr_nest_end(nlh, info);
	return nl_request(nlh);
}

int nl_veth_create(const char *name, const char *peer)
{
	struct nlmsghdr *nlh = link_msg(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, 0);
	struct nlattr *info, *data, *pinfo;
	struct ifinfomsg *pifi;

	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	info = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
	mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "veth");
	data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
	pinfo = mnl_attr_nest_start(nlh, VETH_INFO_PEER);
	pifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*pifi));
	memset(pifi, 0, sizeof(*pifi));
	mnl_attr_put_strz(nlh, IFLA_IFNAME, peer);
	mnl_attr_nest_end(nlh, pinfo);
	mnl_attr_nest_end(nlh, data);
	mnl_attr_nest_end(nlh, info);
	return nl_request(nlh);
}

int nl_link_delete(int ifindex)
{
	return nl_request(link_msg(RTM_DELLINK, 0, ifindex));
}

int nl_link_rename(int ifindex, const char *name)
{
	struct nlmsghdr *nlh = link_msg(RTM_NEWLINK, 0, ifindex);

	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	return nl_request(nlh);
}

/* The kernel takes the alias without its NUL; an empty one removes it. */
int nl_link_set_alias(int ifindex, const char *alias)
{
	struct nlmsghdr *nlh = link_msg(RTM_NEWLINK, 0, ifindex);

	mnl_attr_put(nlh, IFLA_IFALIAS, strlen(alias), alias);
	return nl_request(nlh);
}

static int link_set_flags(int ifindex, unsigned mask, unsigned value)
{
	struct nlmsghdr *nlh = link_msg(RTM_NEWLINK, 0, ifindex);
	struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);

	ifi->ifi_change = mask;
	ifi->ifi_flags = value;
	return nl_request(nlh);
}

int nl_link_set_up(int ifindex, bool up)
{
	return link_set_flags(ifindex, IFF_UP, up ? IFF_UP : 0);
}

int nl_link_set_arp(int ifindex, bool on)
{
	return link_set_flags(ifindex, IFF_NOARP, on ? 0 : IFF_NOARP);
}

int nl_link_set_mac(int ifindex, const uint8_t mac[6])
{
	struct nlmsghdr *nlh = link_msg(RTM_NEWLINK, 0, ifindex);

	mnl_attr_put(nlh, IFLA_ADDRESS, 6, mac);
	return nl_request(nlh);
}

int nl_link_set_mtu(int ifindex, unsigned mtu)
{
	struct nlmsghdr *nlh = link_msg(RTM_NEWLINK, 0, ifindex);

	mnl_attr_put_u32(nlh, IFLA_MTU, mtu);
	return nl_request(nlh);
}

int nl_link_setup(int ifindex, const uint8_t *mac, unsigned mtu, int master, bool up)
{
	struct nlmsghdr *nlh = link_msg(RTM_NEWLINK, 0, ifindex);
	struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);

	ifi->ifi_change = IFF_UP;
	ifi->ifi_flags = up ? IFF_UP : 0;
	if (mac)
		mnl_attr_put(nlh, IFLA_ADDRESS, 6, mac);
	if (mtu)
		mnl_attr_put_u32(nlh, IFLA_MTU, mtu);
	if (master >= 0)
		mnl_attr_put_u32(nlh, IFLA_MASTER, (uint32_t)master);
	return nl_request(nlh);
}

int nl_link_set_master(int ifindex, int master)
{
	struct nlmsghdr *nlh = link_msg(RTM_NEWLINK, 0, ifindex);

	mnl_attr_put_u32(nlh, IFLA_MASTER, (uint32_t)master);
	return nl_request(nlh);
}

int nl_link_get_altname(const char *name, struct nl_link *out)
{
	struct nlmsghdr *nlh = link_msg(RTM_GETLINK, 0, 0);
	int rc;

	/* IFLA_IFNAME takes at most IFNAMSIZ; the kernel looks this one up
	 * among names and altnames alike */
	mnl_attr_put_strz(nlh, IFLA_ALT_IFNAME, name);
	mnl_attr_put_u32(nlh, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
	memset(out, 0, sizeof(*out));
	rc = nl_get(nlh, link_get_cb, out);
	if (rc == -ENODEV)
		return err_set(rc, "%s: no such interface", name);
	return rc;
}

int nl_link_add_altname(int ifindex, const char *altname)
{
	struct nlmsghdr *nlh = link_msg(RTM_NEWLINKPROP, NLM_F_EXCL, ifindex);
	struct nlattr *list = mnl_attr_nest_start(nlh, IFLA_PROP_LIST);

	mnl_attr_put_strz(nlh, IFLA_ALT_IFNAME, altname);
	mnl_attr_nest_end(nlh, list);
	return nl_request(nlh);
}

struct altname_walk {
	int (*cb)(const struct nl_link *l, const char *altname, void *data);
	void *data;
	int rc;
};

static int altname_walk_cb(const struct nlmsghdr *nlh, void *data)
{
	struct altname_walk *w = data;
	const struct nlattr *a, *n;
	struct nl_link l;

	link_parse(nlh, &l);
	mnl_attr_for_each(a, nlh, sizeof(struct ifinfomsg)) {
		if (mnl_attr_get_type(a) != IFLA_PROP_LIST)
			continue;
		mnl_attr_for_each_nested(n, a) {
			if (mnl_attr_get_type(n) != IFLA_ALT_IFNAME ||
			    mnl_attr_validate(n, MNL_TYPE_NUL_STRING) < 0)
				continue;
			w->rc = w->cb(&l, mnl_attr_get_str(n), w->data);
			if (w->rc)
				return MNL_CB_STOP;
		}
	}
	return MNL_CB_OK;
}

int nl_link_for_each_altname(int (*cb)(const struct nl_link *l, const char *altname, void *data),
			     void *data)
{
	struct nlmsghdr *nlh = link_msg(RTM_GETLINK, 0, 0);
	struct altname_walk w = { cb, data, 0 };
	int rc;

	mnl_attr_put_u32(nlh, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
	rc = nl_dump(nlh, altname_walk_cb, &w);
	return rc ? rc : w.rc;
}

struct port_walk {
	int master;
	int (*cb)(const struct nl_link *l, void *data);
	void *data;
	int rc;
};

static int port_walk_cb(const struct nlmsghdr *nlh, void *data)
{
	struct port_walk *w = data;
	struct nl_link l;

	link_parse(nlh, &l);
	if (l.master != w->master)
		return MNL_CB_OK;
	w->rc = w->cb(&l, w->data);
	return w->rc ? MNL_CB_STOP : MNL_CB_OK;
}

int nl_link_for_each_port(int master, int (*cb)(const struct nl_link *l, void *data), void *data)
{
	struct nlmsghdr *nlh = link_msg(RTM_GETLINK, 0, 0);
	struct port_walk w = { master, cb, data, 0 };
	int rc;

	/* Strict checking lets the kernel filter by master for us. */
	mnl_attr_put_u32(nlh, IFLA_MASTER, (uint32_t)master);
	mnl_attr_put_u32(nlh, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
	rc = nl_dump(nlh, port_walk_cb, &w);
	return rc ? rc : w.rc;
}

int nl_mac_format(const uint8_t mac[6], char buf[18])
{
	return snprintf(buf, 18, "%02x:%02x:%02x:%02x:%02x:%02x",
			mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
}
