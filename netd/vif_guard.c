/* vif_guard: what a vif may not claim, checked before netd plugs it.
 *
 * The vif parser (vif/vif.c) refuses what is wrong anywhere (multicast,
 * link-local, loopback...). What is wrong only on this host is checked
 * here, against the kernel's view and the vifs netd already has:
 *  - ip= may not be Dom0's own address, a gateway Dom0 routes through (the
 *    configured gatewayip, or a next hop of the routes through the
 *    network's bridge, physdev or uplink), nor the network or broadcast
 *    address of a subnet Dom0 is on. One route lookup per address, and a
 *    dump the kernel filters by device: only a few routes come back, though
 *    the kernel still walks the table (route mode's per-vif host routes:
 *    about 0.5 us per routed vif, measured with 400). Route mode would route the
 *    address to the guest and answer ARP/NS for it on the LAN; bridge and
 *    nat mode's filters would let the guest send as it.
 *  - its interface, and the backend's vifD.N[-emu] a vifname renames, may
 *    not be another vif's: the plug would take over that guest's interface
 *    (a vif plugged by an older netd under another vif's name, say).
 *  - in bridge and nat mode, where guests share one link, mac= may not be
 *    another guest's (either could take the other's traffic through the
 *    bridge's learning) nor Dom0's: the bridge's, the physdev's or uplink's
 *    (a guest sending from it would re-point the bridge's FDB entry for
 *    Dom0), nor fe:ff:ff:ff:ff:ff, the MAC of Dom0's side of every vif.
 *    Only the network's own interfaces are looked at, by name: a dump of
 *    every link would make each plug cost more with every vif there is.
 * Every check only reads; a refusal names the vif, the value and why. */
#include "netd/vif_guard.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>

#include "lib/err.h"
#include "lib/nl_link.h"
#include "lib/nl_route.h"

struct ip_walk {
	const struct vif *v;
};

static bool ip_equal(const struct vif_ip *ip, int family, const void *addr)
{
	return ip->family == family &&
	       !memcmp(&ip->addr, addr, family == AF_INET ? 4 : 16);
}

static int refuse(const struct vif *v, const struct vif_ip *ip, const char *why)
{
	char a[INET6_ADDRSTRLEN];

	inet_ntop(ip->family, &ip->addr, a, sizeof(a));
	return err_set(-EADDRNOTAVAIL, "%s: ip %s refused: %s", v->ifname, a, why);
}

static int check_gateway(int family, const void *gw, void *data)
{
	struct ip_walk *w = data;

	for (unsigned i = 0; i < w->v->n_ips; i++)
		if (ip_equal(&w->v->ips[i], family, gw))
			return refuse(w->v, &w->v->ips[i],
				      "it is a gateway Dom0 routes through");
	return 0;
}

/* The prefix of addr/plen with its host bits all zero (to_ones false) or
 * all one (true), in out (4 or 16 bytes). */
static void prefix_fill(int family, const void *addr, uint8_t plen, bool to_ones, uint8_t *out)
{
	unsigned bytes = family == AF_INET ? 4 : 16;

	memcpy(out, addr, bytes);
	for (unsigned bit = plen; bit < bytes * 8; bit++) {
		uint8_t m = (uint8_t)(0x80u >> (bit % 8));

		out[bit / 8] = to_ones ? out[bit / 8] | m : out[bit / 8] & (uint8_t)~m;
	}
}

/* One address against the kernel's own view, in one lookup whatever the
 * number of vifs: the route it would take (ip route get A fibmatch) is a
 * local one for Dom0's addresses (on any interface), a broadcast one for
 * its subnets' broadcast addresses, and the subnet's own (protocol
 * kernel) for an address of a subnet Dom0 is on. */
static int check_ip(const struct vif *v, const struct vif_ip *ip)
{
	char dev[IF_NAMESIZE] = "?", why[160], a[INET6_ADDRSTRLEN];
	unsigned host = ip->family == AF_INET ? 32 : 128;
	struct nl_route_match m;
	uint8_t net[16], bcast[16];
	int rc = nl_route_fib_match(ip->family, &ip->addr, &m);

	if (rc == -ENETUNREACH || rc == -EHOSTUNREACH || rc == -ENOENT || rc == -ESRCH)
		return 0; /* no route at all: on no subnet of Dom0's */
	if (rc)
		return err_prefix(rc, "%s: cannot look up ip", v->ifname);
	if (m.oif)
		if_indextoname((unsigned)m.oif, dev);
	if (m.type == RTN_LOCAL)
		return refuse(v, ip, "it is Dom0's own address");
	if (m.type == RTN_BROADCAST) {
		snprintf(why, sizeof(why), "it is the broadcast address of a subnet Dom0 is on (%s)",
			 dev);
		return refuse(v, ip, why);
	}
	/* IPv6 with forwarding on: the kernel answers a subnet's anycast
	 * address itself (RFC 4291 2.6.1). */
	if (m.type == RTN_ANYCAST) {
		snprintf(why, sizeof(why),
			 "it is the subnet-router anycast address of a subnet Dom0 is on (%s)", dev);
		return refuse(v, ip, why);
	}
	/* /31 and /32 (RFC 3021), /127 and /128 (RFC 6164) have no
	 * network or broadcast address: every address is a host's. */
	if (m.type != RTN_UNICAST || m.protocol != RTPROT_KERNEL || m.dst_len == 0 ||
	    m.dst_len + 1u >= host)
		return 0;
	prefix_fill(ip->family, m.dst, m.dst_len, false, net);
	prefix_fill(ip->family, m.dst, m.dst_len, true, bcast);
	inet_ntop(ip->family, net, a, sizeof(a));
	if (ip_equal(ip, ip->family, net)) {
		snprintf(why, sizeof(why), "it is the %s of %s/%u (on %s)",
			 ip->family == AF_INET ? "network address" : "subnet-router anycast address",
			 a, m.dst_len, dev);
		return refuse(v, ip, why);
	}
	if (ip->family == AF_INET && ip_equal(ip, ip->family, bcast)) {
		snprintf(why, sizeof(why), "it is the broadcast address of %s/%u (on %s)", a,
			 m.dst_len, dev);
		return refuse(v, ip, why);
	}
	return 0;
}

int netd_vif_guard_ips(const struct netd_net *net, const struct vif *v)
{
	/* Where the network reaches the LAN: its bridge (bridge, nat), physdev
	 * (bridge, route) or uplink (nat). Their routes' next hops are the
	 * gateways; only they are dumped, so the cost does not grow with the
	 * routes route mode gives every vif. */
	const char *ifs[] = { net->conf.name, net->conf.physdev, net->conf.uplink };
	struct ip_walk w = { v };
	bool v4 = false, v6 = false;
	int rc = 0;

	if (!v->n_ips)
		return 0;
	for (unsigned i = 0; i < v->n_ips; i++) {
		v4 |= v->ips[i].family == AF_INET;
		v6 |= v->ips[i].family == AF_INET6;
	}
	if (net->conf.has_gatewayip) {
		const struct netd_cidr *gw = &net->conf.gatewayip;

		for (unsigned i = 0; i < v->n_ips; i++)
			if (ip_equal(&v->ips[i], gw->family, &gw->addr))
				return refuse(v, &v->ips[i],
					      "it is the gateway (gatewayip) of the network");
	}
	for (size_t i = 0; i < sizeof(ifs) / sizeof(ifs[0]) && rc == 0; i++) {
		unsigned ifindex = ifs[i][0] ? if_nametoindex(ifs[i]) : 0;

		if (ifindex && (i == 0 || strcmp(ifs[i], ifs[0])))
			rc = nl_route_for_each_gateway((int)ifindex,
						       v4 && v6 ? AF_UNSPEC : v4 ? AF_INET : AF_INET6,
						       check_gateway, &w);
	}
	for (unsigned i = 0; i < v->n_ips && rc == 0; i++)
		rc = check_ip(v, &v->ips[i]);
	return rc;
}

/* The same vif: the same device of the same domain, PV vif or tap alike. */
static bool vif_same(const struct vif *a, const struct vif *b)
{
	return a->domid == b->domid && a->devid == b->devid && a->emu == b->emu;
}

/* Another vif of net named name (through the name index). */
static const struct netd_vif *named(const struct netd_net *net, const char *name,
				    const struct vif *v)
{
	if (!net->vif_hash)
		return NULL;
	for (const struct netd_vif *o = net->vif_hash[netd_vif_name_bucket(name)]; o;
	     o = o->nnext)
		if (!vif_same(&o->vif, v) && !strcmp(o->vif.ifname, name))
			return o;
	return NULL;
}

int netd_vif_guard_names(const struct netd *d, const struct vif *v)
{
	char def[IFNAMSIZ + 8];

	snprintf(def, sizeof(def), "vif%u.%u%s", v->domid, v->devid, v->emu ? "-emu" : "");
	for (size_t i = 0; i < d->n_nets; i++) {
		const struct netd_vif *o = named(&d->nets[i], v->ifname, v);
		const char *name = v->ifname;

		/* A vifname that exists is the rename's to refuse, in its own
		 * words; one that does not (the other guest's interface went
		 * away) would be taken. */
		if (o && strcmp(v->ifname, def) && nl_link_exists(v->ifname))
			o = NULL;
		if (!o && strcmp(v->ifname, def)) {
			o = named(&d->nets[i], def, v);
			name = def;
		}
		if (o)
			return err_set(-EBUSY, "%s: interface %s belongs to vif %u.%u%s (in %s)",
				       v->ifname, name, o->vif.domid, o->vif.devid,
				       o->vif.emu ? "-emu" : "", d->nets[i].conf.name);
	}
	return 0;
}

int netd_vif_guard_mac(const struct netd_net *net, const struct vif *v)
{
	static const uint8_t vif_side[6] = { 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff };
	const char *dom0[] = { net->conf.name, net->conf.physdev, net->conf.uplink };
	char mac[VIF_MAC_STRLEN];

	if (!v->has_mac || net->conf.mode == NETD_MODE_ROUTE)
		return 0;
	vif_mac_format(v->mac, mac, sizeof(mac));
	for (const struct netd_vif *o = net->vif_hash ? net->vif_hash[netd_vif_mac_bucket(v->mac)]
						      : NULL;
	     o; o = o->mnext) {
		if (!o->vif.has_mac || memcmp(o->vif.mac, v->mac, sizeof(v->mac)))
			continue;
		/* Itself (a re-plug), or its PV vif / emulated NIC pair. */
		if (o->vif.domid == v->domid && o->vif.devid == v->devid)
			continue;
		return err_set(-EADDRINUSE, "%s: mac %s refused: it is already vif %u.%u%s's (%s) in %s",
			       v->ifname, mac, o->vif.domid, o->vif.devid, o->vif.emu ? "-emu" : "",
			       o->vif.ifname, net->conf.name);
	}
	if (!memcmp(v->mac, vif_side, sizeof(vif_side)))
		return err_set(-EADDRINUSE, "%s: mac %s refused: it is the MAC of Dom0's side of "
			       "every vif", v->ifname, mac);
	for (size_t i = 0; i < sizeof(dom0) / sizeof(dom0[0]); i++) {
		struct nl_link l;

		if (!dom0[i][0] || nl_link_get(dom0[i], &l) < 0)
			continue;
		if (!memcmp(l.mac, v->mac, sizeof(v->mac)))
			return err_set(-EADDRINUSE, "%s: mac %s refused: it is Dom0's (%s)",
				       v->ifname, mac, dom0[i]);
	}
	return 0;
}
