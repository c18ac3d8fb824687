/* plug: vif online / offline in route mode, as Xen's vif-route does it, plus IPv6.
 *
 *   guest 198.51.100.10 ── vif1.0 (192.0.2.2/32, proxy_arp) ══ Dom0 routes ══ eth0 ── LAN
 *   198.51.100.10/32 dev vif1.0 src 192.0.2.2 metric 2
 *
 * IPv4: the vif takes Dom0's primary address of the physdev as /32 (the
 * guest's gateway), proxy ARP on the vif answers the guest for anything
 * routed elsewhere, and one host route per guest address.
 * IPv6 has no proxy_ndp-for-everything: an entry per address is needed, on
 * the physdev for each guest address (the LAN asks for the guest) and on the
 * vif for each upstream address the guest asks for as on-link (Dom0's own
 * addresses and the gateway), plus one /128 route per guest address.
 *
 * Everything one `vif online` creates is recorded as items (item.h); a
 * failure undoes exactly those, and `vif offline` undoes the record. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "lib/fault.h"
#include "lib/log.h"
#include "lib/nl_addr.h"
#include "lib/nl_link.h"
#include "lib/nl_route.h"
#include "lib/sysctl.h"
#include "route/host.h"
#include "route/route.h"

enum {
	VS_ADDR,
	VS_PROXY_ARP,
	VS_UP,
	VS_ROUTE,
	VS_PROXY_NDP,
	VS_ROUTE6,
	VS_PROXY_GUEST,
	VS_PROXY_UPSTREAM,
};

const char *const rt_vif_steps[] FAULT_TABLE = {
	[VS_ADDR] = "vif-addr",
	[VS_PROXY_ARP] = "vif-proxy-arp",
	[VS_UP] = "vif-up",
	[VS_ROUTE] = "vif-route",
	[VS_PROXY_NDP] = "vif-proxy-ndp",
	[VS_ROUTE6] = "vif-route6",
	[VS_PROXY_GUEST] = "vif-proxy-guest",
	[VS_PROXY_UPSTREAM] = "vif-proxy-upstream",
	NULL,
};

#define MAX_UPSTREAM 16
/* addr, proxy_arp, up, proxy_ndp, then per guest address a route and a
 * proxy entry, then the upstream entries */
#define MAX_WANT (4 + 2 * VIF_MAX_IPS + MAX_UPSTREAM + 1)

struct want {
	struct rt_item it;
	int step;
};

struct plan {
	struct want v[MAX_WANT];
	size_t n;
};

static struct rt_item *plan_add(struct plan *pl, int step, enum rt_item_kind kind,
				const char *dev)
{
	struct want *w = &pl->v[pl->n++];

	memset(w, 0, sizeof(*w));
	w->step = step;
	w->it.kind = kind;
	snprintf(w->it.dev, sizeof(w->it.dev), "%s", dev);
	return &w->it;
}

static void plan_sysctl(struct plan *pl, int step, const char *family, const char *dev,
			const char *key)
{
	struct rt_item *it = plan_add(pl, step, RT_ITEM_SYSCTL, dev);

	snprintf(it->path, sizeof(it->path), "net/%s/conf/%s/%s", family, dev, key);
}

/* As Xen's vif-route: an HVM guest's emulated NIC (the tap vifD.N-emu) gets
 * one less than its PV vif, so that the emulated NIC's routes win while both
 * exist. IPv6 has no metric 0: the kernel makes it 1024. */
static uint32_t vif_metric(const struct netd_net_conf *c, const struct vif *vif, int family)
{
	uint32_t m = c->metric;

	if (vif->emu && m > 0)
		m--;
	return family == AF_INET6 && m == 0 ? 1024 : m;
}

struct rt_vif *rt_vif_find(struct rt_priv *p, const char *ifname)
{
	for (struct rt_vif *v = p->vifs; v; v = v->next)
		if (!strcmp(v->ifname, ifname))
			return v;
	return NULL;
}

/* The addresses a guest must reach as on-link neighbours: Dom0's own global
 * addresses on the physdev and the IPv6 gateway. */
static int upstream_v6(const struct netd_net_conf *c, int phys, struct in6_addr *out, size_t *n)
{
	struct in6_addr gw;
	int rc = rt_host_v6_addrs(phys, out, MAX_UPSTREAM, n);

	if (rc)
		return err_prefix(rc, "cannot list the addresses of %s", c->physdev);
	if (c->has_gatewayip && c->gatewayip.family == AF_INET6) {
		gw = c->gatewayip.addr.v6;
	} else {
		rc = rt_host_v6_gateway(phys, &gw);
		if (rc < 0)
			return err_prefix(rc, "cannot read the IPv6 default route of %s", c->physdev);
		if (rc == 0)
			return 0;
	}
	for (size_t i = 0; i < *n; i++)
		if (!memcmp(&out[i], &gw, sizeof(gw)))
			return 0;
	out[(*n)++] = gw;
	return 0;
}

/* What `vif online` must make true, in order. */
static int plan_vif(const struct netd_net_conf *c, const struct rt_priv *p,
		    const struct vif *vif, struct plan *pl)
{
	const char *ifn = vif->ifname;
	struct in6_addr up6[MAX_UPSTREAM + 1];
	struct in_addr dom0;
	unsigned n4 = 0, n6 = 0;
	size_t nup = 0;
	uint8_t plen;
	int phys, rc;

	for (unsigned i = 0; i < vif->n_ips; i++)
		vif->ips[i].family == AF_INET ? n4++ : n6++;
	phys = (int)if_nametoindex(p->physdev);
	if (phys <= 0)
		return err_set(-ENODEV, "%s: physdev %s does not exist", ifn, p->physdev);
	if (n6 && !p->ipv6)
		return err_set(-EAFNOSUPPORT,
			       "%s: IPv6 guest address given, but %s had no global IPv6 address when "
			       "%s came up, so IPv6 is not routed", ifn, p->physdev, c->name);
	if (n4) {
		rc = nl_addr_primary_v4(phys, &dom0, &plen);
		if (rc)
			return err_set(rc, "%s: %s has no IPv4 address to give the vif", ifn,
				       p->physdev);
	}
	if (n6) {
		rc = upstream_v6(c, phys, up6, &nup);
		if (rc)
			return err_prefix(rc, "%s", ifn);
	}

	pl->n = 0;
	if (n4) {
		struct rt_item *it = plan_add(pl, VS_ADDR, RT_ITEM_ADDR, ifn);

		it->family = AF_INET;
		it->addr.v4 = dom0;
		it->plen = 32;
		plan_sysctl(pl, VS_PROXY_ARP, "ipv4", ifn, "proxy_arp");
	}
	plan_add(pl, VS_UP, RT_ITEM_LINK_UP, ifn);
	for (unsigned i = 0; i < vif->n_ips; i++) {
		struct rt_item *it;

		if (vif->ips[i].family != AF_INET)
			continue;
		it = plan_add(pl, VS_ROUTE, RT_ITEM_ROUTE, ifn);
		it->family = AF_INET;
		it->addr.v4 = vif->ips[i].addr.v4;
		it->plen = 32;
		it->metric = vif_metric(c, vif, AF_INET);
		it->has_src = true;
		it->src.v4 = dom0;
	}
	if (!n6)
		return 0;
	plan_sysctl(pl, VS_PROXY_NDP, "ipv6", ifn, "proxy_ndp");
	for (unsigned i = 0; i < vif->n_ips; i++) {
		struct rt_item *it;

		if (vif->ips[i].family != AF_INET6)
			continue;
		it = plan_add(pl, VS_ROUTE6, RT_ITEM_ROUTE, ifn);
		it->family = AF_INET6;
		it->addr.v6 = vif->ips[i].addr.v6;
		it->plen = 128;
		it->metric = vif_metric(c, vif, AF_INET6);
	}
	for (unsigned i = 0; i < vif->n_ips; i++) {
		struct rt_item *it;

		if (vif->ips[i].family != AF_INET6)
			continue;
		it = plan_add(pl, VS_PROXY_GUEST, RT_ITEM_PROXY, p->physdev);
		it->family = AF_INET6;
		it->addr.v6 = vif->ips[i].addr.v6;
	}
	for (size_t i = 0; i < nup; i++) {
		struct rt_item *it = plan_add(pl, VS_PROXY_UPSTREAM, RT_ITEM_PROXY, ifn);

		it->family = AF_INET6;
		it->addr.v6 = up6[i];
	}
	return 0;
}

static int check_vif(const struct rt_priv *p, const struct vif *vif)
{
	const char *ifn = vif->ifname;
	struct nl_link l, m;
	int rc;

	if (!vif->n_ips)
		return err_set(-EINVAL, "%s: route mode needs ip= (nothing to route to)", ifn);
	rc = nl_link_get(ifn, &l);
	if (rc)
		return err_set(rc, "%s: no such interface", ifn);
	if (!strcmp(ifn, p->physdev))
		return err_set(-EINVAL, "%s: is the physdev itself", ifn);
	if (l.master)
		return err_set(-EBUSY, "%s: is a port of %s; route mode routes to the vif itself", ifn,
			       nl_link_get_index(l.master, &m) == 0 ? m.name : "another device");
	return 0;
}

int rt_vif_plug(struct netd_net *net, struct rt_priv *p, const struct vif *vif)
{
	struct rt_items done = { 0 }, rec = { 0 };
	struct rt_vif *old = rt_vif_find(p, vif->ifname);
	char msg[ERR_MSG_MAX];
	struct plan *pl;
	int rc;

	rc = check_vif(p, vif);
	if (rc)
		return rc;
	pl = calloc(1, sizeof(*pl));
	if (!pl)
		return err_set(-ENOMEM, "out of memory");
	rc = plan_vif(&net->conf, p, vif, pl);
	for (size_t i = 0; rc == 0 && i < pl->n; i++) {
		struct rt_item it = pl->v[i].it;
		bool ours = false;

		/* Online again: what the first online made stays ours, with the
		 * sysctl values it found. */
		for (size_t k = 0; old && k < old->items.n && !ours; k++)
			if (rt_item_same(&old->items.v[k], &it)) {
				it = old->items.v[k];
				ours = true;
			}
		rc = fault_check(rt_vif_steps[pl->v[i].step]);
		if (rc == 0)
			rc = rt_item_apply(&it);
		if (rc == 1) {
			ours = true;
			rc = rt_items_push(&done, &it);
		}
		if (rc == 0 && ours)
			rc = rt_items_push(&rec, &it);
	}
	free(pl);
	if (rc) {
		snprintf(msg, sizeof(msg), "%s", err_msg());
		if (rt_items_undo(&done))
			log_err("%s: rollback incomplete: %s", vif->ifname, err_msg());
		rt_items_free(&done);
		rt_items_free(&rec);
		if (!strncmp(msg, vif->ifname, strlen(vif->ifname)) && msg[strlen(vif->ifname)] == ':')
			return err_set(rc, "%s", msg);
		return err_set(rc, "%s: %s", vif->ifname, msg);
	}
	rt_items_free(&done);

	if (old) {
		/* The address list changed: what is no longer wanted goes. */
		struct rt_items stale = { 0 };

		for (size_t k = 0; k < old->items.n; k++)
			if (!rt_items_has(&rec, &old->items.v[k]))
				rt_items_push(&stale, &old->items.v[k]);
		if (rt_items_undo(&stale))
			log_err("%s: cannot remove what the previous online made: %s", vif->ifname,
				err_msg());
		rt_items_free(&stale);
		rt_items_free(&old->items);
		old->items = rec;
	} else {
		struct rt_vif *v = calloc(1, sizeof(*v));

		if (!v) {
			rt_items_undo(&rec);
			rt_items_free(&rec);
			return err_set(-ENOMEM, "out of memory");
		}
		snprintf(v->ifname, sizeof(v->ifname), "%s", vif->ifname);
		v->items = rec;
		v->next = p->vifs;
		p->vifs = v;
	}
	log_info("%s: routed (%u address%s) via %s", vif->ifname, vif->n_ips,
		 vif->n_ips == 1 ? "" : "es", p->physdev);
	return 0;
}

/* No record of a vif's own settings: what the plan sets on the vif
 * (proxy_arp with an IPv4 address, proxy_ndp with an IPv6 one), found at 1,
 * goes back to the value the kernel gave the interface when it was made, the
 * namespace's conf/default one. (Its upstream proxy entries go with the link
 * going down: the kernel drops a device's proxy entries then.) */
static int unplug_vif_sysctls(const struct vif *vif)
{
	static const char *const fam[2] = { "ipv4", "ipv6" }, *const key[2] = { "proxy_arp",
										 "proxy_ndp" };
	bool has[2] = { false, false };
	int first = 0;

	for (unsigned i = 0; i < vif->n_ips; i++)
		has[vif->ips[i].family == AF_INET6] = true;
	for (int f = 0; f < 2; f++) {
		struct rt_item it = { .kind = RT_ITEM_SYSCTL };
		char def[RT_SYSCTL_PATH_MAX], cur[RT_SYSCTL_VALUE_MAX];
		int rc;

		snprintf(it.path, sizeof(it.path), "net/%s/conf/%s/%s", fam[f], vif->ifname, key[f]);
		snprintf(def, sizeof(def), "net/%s/conf/default/%s", fam[f], key[f]);
		if (!has[f] || sysctl_read(it.path, cur, sizeof(cur)) || strcmp(cur, "1") ||
		    sysctl_read(def, it.old, sizeof(it.old)) || !strcmp(it.old, "1"))
			continue;
		rc = rt_item_undo(&it);
		if (rc && !first)
			first = err_prefix(rc, "cannot restore %s", it.path);
	}
	return first;
}

/* No record (a vif netd was plugging when it stopped, or a state file from
 * before records were kept): remove what a vif online would have made for
 * these addresses, routes only where they carry netd's mark. */
static int unplug_by_ips(struct netd_net *net, struct rt_priv *p, const struct vif *vif)
{
	int first = 0;

	for (unsigned i = 0; i < vif->n_ips; i++) {
		const struct vif_ip *ip = &vif->ips[i];
		struct rt_item it = { .kind = RT_ITEM_ROUTE, .family = ip->family,
				      .metric = vif_metric(&net->conf, vif, ip->family) };
		int ifindex = (int)if_nametoindex(vif->ifname), rc = 0;

		snprintf(it.dev, sizeof(it.dev), "%s", vif->ifname);
		memcpy(&it.addr, &ip->addr, sizeof(ip->addr));
		it.plen = ip->family == AF_INET ? 32 : 128;
		if (ifindex > 0)
			rc = nl_route_del_dev(it.family, &it.addr, it.plen, ifindex, it.metric,
					      NL_RTPROT_NETD);
		if (rc && rc != -ENODEV)
			rc = err_prefix(rc, "cannot remove %s", rt_item_str(&it));
		if (rc == -ENODEV)
			rc = 0;
		if (rc == 0 && ip->family == AF_INET6) {
			it.kind = RT_ITEM_PROXY;
			snprintf(it.dev, sizeof(it.dev), "%s", p->physdev);
			rc = rt_item_undo(&it);
		}
		if (rc && !first)
			first = rc;
	}
	if (!first && if_nametoindex(vif->ifname) > 0)
		first = unplug_vif_sysctls(vif);
	/* On the vif itself: Dom0's address as /32 and the link up, which only
	 * a vif online gives a guest's vif (removing an address it lacks, or
	 * downing a link that is down, changes nothing). */
	if (!first && if_nametoindex(vif->ifname) > 0) {
		struct rt_item a = { .kind = RT_ITEM_ADDR, .family = AF_INET, .plen = 32 };
		int phys = (int)if_nametoindex(p->physdev), rc = 0;
		uint8_t plen;

		snprintf(a.dev, sizeof(a.dev), "%s", vif->ifname);
		if (phys > 0 && nl_addr_primary_v4(phys, &a.addr.v4, &plen) == 0)
			rc = rt_item_undo(&a);
		a.kind = RT_ITEM_LINK_UP;
		if (rc == 0)
			rc = rt_item_undo(&a);
		first = rc;
	}
	return first;
}

/* A proxy entry on the physdev serves every vif routing that guest address
 * (an HVM guest's emulated NIC and its PV vif): the vif going offline hands
 * it to another one that still routes the address instead of removing it. */
static void hand_over_shared(struct rt_priv *p, struct rt_vif *v)
{
	size_t kept = 0;

	for (size_t i = 0; i < v->items.n; i++) {
		struct rt_item *it = &v->items.v[i];
		struct rt_vif *heir = NULL;

		if (it->kind == RT_ITEM_PROXY && !strcmp(it->dev, p->physdev))
			for (struct rt_vif *o = p->vifs; o && !heir; o = o->next)
				for (size_t k = 0; o != v && k < o->items.n && !heir; k++)
					if (o->items.v[k].kind == RT_ITEM_ROUTE &&
					    o->items.v[k].family == it->family &&
					    !memcmp(&o->items.v[k].addr, &it->addr, sizeof(it->addr)))
						heir = o;
		if (heir && rt_items_push(&heir->items, it) == 0)
			continue;
		v->items.v[kept++] = *it;
	}
	v->items.n = kept;
}

int rt_vif_unplug(struct netd_net *net, struct rt_priv *p, const struct vif *vif)
{
	struct rt_vif **pp, *v;
	int rc;

	for (pp = &p->vifs; *pp && strcmp((*pp)->ifname, vif->ifname); pp = &(*pp)->next)
		;
	v = *pp;
	if (!v) {
		rc = unplug_by_ips(net, p, vif);
		return rc ? err_prefix(rc, "%s", vif->ifname) : 0;
	}
	hand_over_shared(p, v);
	rc = rt_items_undo(&v->items);
	if (rc)
		return err_prefix(rc, "%s", vif->ifname);
	*pp = v->next;
	free(v);
	log_info("%s: routes removed", vif->ifname);
	return 0;
}

int rt_vifs_unplug_all(struct rt_priv *p)
{
	char msg[ERR_MSG_MAX] = "";
	struct rt_vif **pp = &p->vifs;
	int first = 0;

	while (*pp) {
		struct rt_vif *v = *pp;
		int rc = rt_items_undo(&v->items);

		if (rc) {
			if (!first) {
				first = rc;
				snprintf(msg, sizeof(msg), "%s: %s", v->ifname, err_msg());
			}
			pp = &v->next;
			continue;
		}
		*pp = v->next;
		free(v);
	}
	return first ? err_set(first, "%s", msg) : 0;
}

void rt_vifs_free(struct rt_priv *p)
{
	while (p->vifs) {
		struct rt_vif *v = p->vifs;

		p->vifs = v->next;
		rt_items_free(&v->items);
		free(v);
	}
}

/* A listed route as an item: 0, or -EINVAL for one with no destination or
 * device (never made by netd). */
static int route_item(const struct nl_blob *b, struct rt_item *it)
{
	const struct nlmsghdr *nlh = (const struct nlmsghdr *)b->data;
	const struct rtmsg *rtm = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *a;
	bool has_dst = false;
	int oif = nl_route_blob_oif(b);

	memset(it, 0, sizeof(*it));
	it->kind = RT_ITEM_ROUTE;
	it->family = rtm->rtm_family;
	it->plen = rtm->rtm_dst_len;
	if ((it->family != AF_INET && it->family != AF_INET6) || oif <= 0 ||
	    !if_indextoname((unsigned)oif, it->dev))
		return -EINVAL;
	mnl_attr_for_each(a, nlh, sizeof(*rtm)) {
		int t = mnl_attr_get_type(a);
		size_t len = it->family == AF_INET ? 4 : 16;

		if (t == RTA_DST && mnl_attr_get_payload_len(a) == len) {
			memcpy(&it->addr, mnl_attr_get_payload(a), len);
			has_dst = true;
		} else if (t == RTA_PRIORITY && mnl_attr_validate(a, MNL_TYPE_U32) == 0) {
			it->metric = mnl_attr_get_u32(a);
		}
	}
	return has_dst ? 0 : -EINVAL;
}

static bool route_remembered(struct netd_net *const *nets, size_t n, const struct rt_item *it)
{
	for (size_t i = 0; i < n; i++) {
		struct rt_priv *p = nets[i]->priv;

		for (struct rt_vif *v = p ? p->vifs : NULL; v; v = v->next)
			for (size_t k = 0; k < v->items.n; k++)
				if (rt_item_same(&v->items.v[k], it))
					return true;
	}
	return false;
}

int rt_sweep_routes(struct netd_net *const *nets, size_t n)
{
	struct nl_blobs routes = { 0 };
	int rc = nl_route_list_proto(NL_RTPROT_NETD, &routes), first = 0;

	if (rc)
		return err_prefix(rc, "cannot list netd's routes");
	for (size_t i = 0; i < routes.n; i++) {
		struct rt_item it;

		if (route_item(&routes.v[i], &it) < 0 || route_remembered(nets, n, &it))
			continue;
		log_warn("%s: netd's, but no network remembers it (a plug cut short?); removing it",
			 rt_item_str(&it));
		rc = nl_route_remove(&routes.v[i], nl_route_blob_oif(&routes.v[i]));
		if (rc && !first)
			first = rc;
	}
	nl_blobs_free(&routes);
	return first;
}
