/* nat: nat mode, a private bridge behind dom0 (what libvirt calls virbr0).
 *
 *   guests ── vifD.N ──┐
 *                      virbr0 (gateway 203.0.113.1/24) ── dom0 routing ── uplink (eth0)
 *   nft table ip netd_virbr0: masquerade out of the uplink, port forwards
 *   (DNAT, hairpin), filter into the bridge (ruleset.h)
 *   dnsmasq: DHCP (range + static leases) and DNS (dom<D> names) on virbr0 only
 *   guests: bridge ports filtered by antispoof/; one without ip= is bound to
 *   one address of the range, its static lease (bind.h)
 *   IPv6 (address6): the gateway's /64 on virbr0 too, router advertisements
 *   and DHCPv6 from the same dnsmasq, nft table ip6 netd_virbr0 (NAT66 or a
 *   routed prefix, forwards, ruleset.h); a guest without IPv6 in ip= is
 *   bound to the EUI-64 address of its MAC in the /64, which is what SLAAC
 *   gives it and what its DHCPv6 static lease says
 *
 * up runs named steps (fault-injectable); a failure at any step, `down`,
 * and the rollback of a setup a crashed netd left half-done all go through
 * nat_restore(), the one undo path. A complete setup left by a crashed netd
 * is adopted: same table (replaced in place), same dnsmasq, same leases. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/netfilter.h>
#include <unistd.h>

#include "bridge/port.h"
#include "lib/dec.h"
#include "lib/err.h"
#include "lib/fault.h"
#include "lib/log.h"
#include "lib/nfnl_watch.h"
#include "lib/nl_addr.h"
#include "lib/nl_link.h"
#include "antispoof/antispoof.h"
#include "antispoof/as_gw.h"
#include "nat/bind.h"
#include "nat/dnsmasq.h"
#include "nat/forward.h"
#include "nat/hosts.h"
#include "nat/ruleset.h"
#include "netd/mode.h"
#include "netd/sysctl_hold.h"
#include "netd/txn.h"

#define IP_FORWARD "net/ipv4/ip_forward"
#define IP6_FORWARD "net/ipv6/conf/all/forwarding"
/* Coalesces the burst of events a `nft flush ruleset` makes. */
#define RESTORE_DELAY_USEC 50000

/* Everything the mode needs lives here, not in struct netd_net: netd moves
 * that struct on reload, and event sources keep a pointer to this one. */
struct nat_priv {
	char bridge[IFNAMSIZ];
	char uplink[IFNAMSIZ];
	struct netd_cidr gw;
	bool has6; /* address6: the IPv6 half below is in use */
	struct netd_cidr gw6;
	bool masq6;
	char run_dir[NAT_PATH_MAX], journal[NAT_PATH_MAX];
	char pub_dir[NAT_PATH_MAX]; /* dnsmasq's host files, readable as its user */
	struct nat_rs rs;
	struct nat_rs rs6;
	struct nat_fwds fwds, fwds6;
	struct nat_hosts hosts;
	struct nat_dnsmasq dns;
	sd_event *ev;
	struct nfnl_watch *watch, *watch6;
	sd_event_source *watch_io, *watch6_io, *restore_timer;
	struct nfnl_watch_event last_event;
	bool touched4, touched6; /* which table the events were about */
	unsigned table_restores;
	size_t journal_lines; /* appended since the last rewrite */
	bool applied; /* the complete setup is on the host */
};

struct nat_step {
	const char *name;
	int (*run)(struct netd_net *net, struct nat_priv *p);
};

static void cidr_str(const struct netd_cidr *c, char *buf, size_t len)
{
	char a[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &c->addr.v4, a, sizeof(a));
	snprintf(buf, len, "%s/%u", a, c->prefixlen);
}

static void subnet_str(const struct netd_cidr *c, char *buf, size_t len)
{
	uint32_t m = c->prefixlen ? htonl(~0u << (32 - c->prefixlen)) : 0;
	struct in_addr n = { .s_addr = c->addr.v4.s_addr & m };
	char a[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &n, a, sizeof(a));
	snprintf(buf, len, "%s/%u", a, c->prefixlen);
}

static bool in_subnet(const struct netd_cidr *c, struct in_addr a)
{
	uint32_t m = c->prefixlen ? htonl(~0u << (32 - c->prefixlen)) : 0;

	return (a.s_addr & m) == (c->addr.v4.s_addr & m);
}

/* ---- the table watch: someone else changed or deleted our table ---- */

/* One table (IPv4's or IPv6's) put back after a foreign change. */
static void table_restore(struct nat_priv *p, bool v6)
{
	struct nfnl_watch_event *ev = &p->last_event;
	const char *fam = v6 ? "ip6" : "ip", *t = v6 ? p->rs6.table : p->rs.table;
	int rc;

	if (ev->lost && !ev->pid) {
		/* Events were dropped, maybe only our own: act on what the
		 * kernel has, not on a guess. */
		rc = v6 ? nat_rs_exists(&p->rs6) : nat_rs_exists(&p->rs);
		if (rc == 1)
			return;
	}
	rc = v6 ? nat_rs_apply(&p->rs6, &p->fwds6) : nat_rs_apply(&p->rs, &p->fwds);
	if (rc) {
		log_err("%s: cannot restore nftables table %s %s: %s", p->bridge, fam, t, err_msg());
		return;
	}
	p->table_restores++;
	if (ev->pid)
		log_warn("%s: nftables table %s %s was changed or deleted by %s (pid %d); restored it",
			 p->bridge, fam, t, ev->comm[0] ? ev->comm : "?", (int)ev->pid);
	else
		log_warn("%s: nftables table %s %s was missing; restored it", p->bridge, fam, t);
}

static int on_restore_timer(sd_event_source *s, uint64_t usec, void *data)
{
	struct nat_priv *p = data;
	bool t4 = p->touched4, t6 = p->touched6;

	p->restore_timer = sd_event_source_disable_unref(p->restore_timer);
	p->touched4 = p->touched6 = false;
	if (!p->applied)
		return 0;
	if (t4)
		table_restore(p, false);
	if (t6 && p->has6)
		table_restore(p, true);
	return 0;
}

static int nft_event(struct nat_priv *p, struct nfnl_watch *w, bool v6)
{
	struct nfnl_watch_event ev;
	int rc = nfnl_watch_read(w, &ev);

	if (rc < 0) {
		log_err("%s: %s", p->bridge, err_msg());
		return 0;
	}
	if (rc == 0)
		return 0;
	if (ev.pid || !p->restore_timer)
		p->last_event = ev;
	if (v6)
		p->touched6 = true;
	else
		p->touched4 = true;
	if (!p->restore_timer)
		sd_event_add_time_relative(p->ev, &p->restore_timer, CLOCK_MONOTONIC,
					   RESTORE_DELAY_USEC, 0, on_restore_timer, p);
	return 0;
}

static int on_nft_event(sd_event_source *s, int fd, uint32_t revents, void *data)
{
	struct nat_priv *p = data;

	return nft_event(p, p->watch, false);
}

static int on_nft6_event(sd_event_source *s, int fd, uint32_t revents, void *data)
{
	struct nat_priv *p = data;

	return nft_event(p, p->watch6, true);
}

static void watch_stop(struct nat_priv *p)
{
	p->restore_timer = sd_event_source_disable_unref(p->restore_timer);
	p->watch_io = sd_event_source_disable_unref(p->watch_io);
	p->watch6_io = sd_event_source_disable_unref(p->watch6_io);
	nfnl_watch_close(p->watch);
	nfnl_watch_close(p->watch6);
	p->watch = p->watch6 = NULL;
	p->touched4 = p->touched6 = false;
}

static int watch_one(struct nat_priv *p, int family, const char *table, struct nfnl_watch **w,
		     sd_event_source **io, sd_event_io_handler_t cb)
{
	int rc = nfnl_watch_open(family, table, w);

	if (rc)
		return rc;
	rc = sd_event_add_io(p->ev, io, nfnl_watch_fd(*w), EPOLLIN, cb, p);
	if (rc < 0)
		return err_set(rc, "cannot watch nftables events: %s", strerror(-rc));
	return 0;
}

static int watch_start(struct nat_priv *p)
{
	int rc;

	if (p->watch || !p->ev)
		return 0;
	rc = watch_one(p, NFPROTO_IPV4, p->rs.table, &p->watch, &p->watch_io, on_nft_event);
	if (rc == 0 && p->has6)
		rc = watch_one(p, NFPROTO_IPV6, p->rs6.table, &p->watch6, &p->watch6_io,
			       on_nft6_event);
	if (rc)
		watch_stop(p);
	return rc;
}

/* ---- steps ---- */

static int bridge_index(const struct nat_priv *p)
{
	struct nl_link l;
	int rc = nl_link_get(p->bridge, &l);

	return rc ? err_set(rc, "bridge %s is gone", p->bridge) : l.ifindex;
}

static int step_create_bridge(struct netd_net *net, struct nat_priv *p)
{
	return nl_bridge_create(p->bridge);
}

/* A MAC of its own (locally administered): left alone, the bridge takes its
 * lowest port's, and every vif port is fe:ff:ff:ff:ff:ff. It is derived from
 * the bridge name, so it is the same every time the network comes up: guests
 * keep the gateway's ARP entry across a down/up or a rollback, where a new
 * MAC would cut them off until their entry goes stale. */
static int step_bridge_mac(struct netd_net *net, struct nat_priv *p)
{
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
	uint8_t mac[6];
	int br = bridge_index(p);

	if (br < 0)
		return br;
	for (const char *c = "netd-nat:"; *c; c++)
		h = (h ^ (uint8_t)*c) * 0x100000001b3ull;
	for (const char *c = p->bridge; *c; c++)
		h = (h ^ (uint8_t)*c) * 0x100000001b3ull;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)(h >> (8 * i));
	mac[0] = (mac[0] & 0xfc) | 0x02;
	return nl_link_set_mac(br, mac);
}

static int step_bridge_address(struct netd_net *net, struct nat_priv *p)
{
	int br = bridge_index(p);

	return br < 0 ? br : nl_addr_add(br, AF_INET, &p->gw.addr.v4, p->gw.prefixlen);
}

/* Without DAD (the bridge may have no port yet, and an address waiting for
 * its carrier could not be bound by dnsmasq): the /64 is the network's own. */
static int step_bridge_address6(struct netd_net *net, struct nat_priv *p)
{
	int br;

	if (!p->has6)
		return 0;
	br = bridge_index(p);
	return br < 0 ? br : nl_addr_add(br, AF_INET6, &p->gw6.addr.v6, p->gw6.prefixlen);
}

static int step_bridge_up(struct netd_net *net, struct nat_priv *p)
{
	int br = bridge_index(p);

	return br < 0 ? br : nl_link_set_up(br, true);
}

/* ip_forward is one switch for the namespace, shared with every other nat
 * or route network: netd's registry keeps the value to restore. */
static int step_ip_forward(struct netd_net *net, struct nat_priv *p)
{
	return netd_sysctl_hold(net, IP_FORWARD, "1");
}

/* Dom0 forwarding IPv6 stops taking router advertisements on its own
 * interfaces (accept_ra = 1): an uplink configured by SLAAC needs
 * accept_ra = 2 (docs/config.md). */
static int step_ip6_forward(struct netd_net *net, struct nat_priv *p)
{
	return p->has6 ? netd_sysctl_hold(net, IP6_FORWARD, "1") : 0;
}

static int step_nft_table(struct netd_net *net, struct nat_priv *p)
{
	return nat_rs_apply(&p->rs, &p->fwds);
}

static int step_nft_table6(struct netd_net *net, struct nat_priv *p)
{
	return p->has6 ? nat_rs_apply(&p->rs6, &p->fwds6) : 0;
}

static int step_forwards_journal(struct netd_net *net, struct nat_priv *p)
{
	return nat_fwd_journal_rewrite(p->journal, &p->fwds, &p->fwds6);
}

static int step_dnsmasq_files(struct netd_net *net, struct nat_priv *p)
{
	int rc = netd_net_pub_dir(net, true, p->pub_dir, sizeof(p->pub_dir));

	return rc ? rc : nat_hosts_write(&p->hosts, p->dns.hostsfile, p->dns.addnhosts);
}

static int step_dnsmasq_start(struct netd_net *net, struct nat_priv *p)
{
	return nat_dnsmasq_start(&p->dns);
}

static int step_nft_watch(struct netd_net *net, struct nat_priv *p)
{
	return watch_start(p);
}

static const struct nat_step nat_steps[] = {
	{ "create-bridge", step_create_bridge },
	{ "bridge-mac", step_bridge_mac },
	{ "bridge-address", step_bridge_address },
	{ "bridge-address6", step_bridge_address6 },
	{ "bridge-up", step_bridge_up },
	{ "ip-forward", step_ip_forward },
	{ "ip6-forward", step_ip6_forward },
	{ "nft-table", step_nft_table },
	{ "nft-table6", step_nft_table6 },
	{ "forwards-journal", step_forwards_journal },
	{ "dnsmasq-files", step_dnsmasq_files },
	{ "dnsmasq-start", step_dnsmasq_start },
	{ "nft-watch", step_nft_watch },
	{ NULL, NULL },
};

static const char *const *nat_step_names(const struct netd_net_conf *c)
{
	static const char *names[sizeof(nat_steps) / sizeof(nat_steps[0])];

	for (size_t i = 0; nat_steps[i].name; i++)
		names[i] = nat_steps[i].name;
	return names;
}

static int nat_txn_run(struct netd_net *net, void *p, size_t i)
{
	return nat_steps[i].run(net, p);
}

static void replug_vifs(struct netd_net *net, struct nat_priv *p);

/* Every step done, before the "applied" checkpoint. save() records the
 * setup as applied only from here on. The vifs netd remembers (of a setup
 * rolled back at start, or repaired) are ports again, with their filters:
 * a netd killed meanwhile leaves the record "applying", so the next rolls
 * the half-plugged setup back and applies it again; an "applied" one it
 * would adopt as it is, a guest without its port. A first up has no vifs
 * yet. */
static void nat_txn_done(struct netd_net *net, void *data)
{
	struct nat_priv *p = data;

	p->applied = true;
	as_gw_invalidate(); /* Dom0 has new addresses, routes */
	replug_vifs(net, p);
}

static int nat_restore(struct netd_net *net, struct nat_priv *p);
static void vifs_unprotect(struct netd_net *net, struct nat_priv *p);

/* The host restored, the bridge with the vifs' ports gone: their
 * anti-spoofing elements go too, as at down. nat_txn_done may have made
 * them (an `applied` checkpoint that failed after it left them, filters
 * of ports of nothing, until the next start's sweep); a repair's restore
 * takes the old ones before its apply makes them again. */
static int nat_txn_undo(struct netd_net *net, void *p)
{
	int rc = nat_restore(net, p);

	if (rc == 0)
		vifs_unprotect(net, p);
	return rc;
}

static const struct netd_txn nat_txn = {
	.run = nat_txn_run, .done = nat_txn_done, .undo = nat_txn_undo,
};

/* ---- the one undo path ---- */

/* dhcp-hosts and hosts: in pub_dir, and in the run directory of a netd
 * from before dnsmasq had a user of its own. */
static const char *const run_files[] = {
	"dnsmasq.pid", "dnsmasq.leases", "dnsmasq.log", "dhcp-hosts", "hosts", "forwards",
};
static const char *const pub_files[] = { "dhcp-hosts", "hosts", "dnsmasq.args" };
/* dnsmasq's own directory in pub_dir when it runs as a unit (dnsmasq.h) */
static const char *const own_files[] = { "dnsmasq.pid", "dnsmasq.leases" };

/* Idempotent: each part is undone if present, whatever step the setup
 * reached (or a previous netd reached before it died). Only the bridge
 * this network created is deleted: up refuses a bridge that exists.
 * Forwarding stays on while another network (nat or route) still holds it. */
static int nat_restore(struct netd_net *net, struct nat_priv *p)
{
	char path[NAT_PATH_MAX + 32], first[ERR_MSG_MAX] = "";
	struct nl_link l;
	int rc, ret = 0;

#define KEEP_FIRST(expr)                                                                 \
	do {                                                                             \
		rc = (expr);                                                             \
		if (rc && !ret) {                                                        \
			ret = rc;                                                        \
			snprintf(first, sizeof(first), "%s", err_msg());                 \
		}                                                                        \
	} while (0)

	p->applied = false;
	watch_stop(p);
	KEEP_FIRST(nat_dnsmasq_stop(&p->dns));
	KEEP_FIRST(nat_rs_delete(&p->rs));
	/* Whatever this run says: the state of a crashed one may have had IPv6. */
	KEEP_FIRST(nat_rs_delete(&p->rs6));
	KEEP_FIRST(netd_sysctl_release(net, IP_FORWARD));
	KEEP_FIRST(netd_sysctl_release(net, IP6_FORWARD));
	if (nl_link_get(p->bridge, &l) == 0 && !strcmp(l.kind, "bridge"))
		KEEP_FIRST(nl_link_delete(l.ifindex));
	for (size_t i = 0; i < sizeof(run_files) / sizeof(run_files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", p->run_dir, run_files[i]);
		if (unlink(path) && errno != ENOENT)
			KEEP_FIRST(err_set(-errno, "%s: %s", path, strerror(errno)));
	}
	/* Temp files an interrupted atomic write may have left. */
	for (size_t i = 0; i < sizeof(run_files) / sizeof(run_files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s.tmp", p->run_dir, run_files[i]);
		unlink(path);
	}
	if (p->run_dir[0])
		rmdir(p->run_dir);
	for (size_t i = 0; p->pub_dir[0] && i < sizeof(pub_files) / sizeof(pub_files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", p->pub_dir, pub_files[i]);
		if (unlink(path) && errno != ENOENT)
			KEEP_FIRST(err_set(-errno, "%s: %s", path, strerror(errno)));
	}
	for (size_t i = 0; p->dns.owndir[0] && i < sizeof(own_files) / sizeof(own_files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", p->dns.owndir, own_files[i]);
		if (unlink(path) && errno != ENOENT)
			KEEP_FIRST(err_set(-errno, "%s: %s", path, strerror(errno)));
	}
	if (p->dns.owndir[0])
		rmdir(p->dns.owndir);
	if (p->pub_dir[0])
		rmdir(p->pub_dir);
#undef KEEP_FIRST
	return ret ? err_set(ret, "%s", first) : 0;
}

/* ---- up ---- */

/* gw6 NULL: no IPv6. */
static int priv_setup(struct netd_net *net, struct nat_priv *p, const char *bridge,
		      const char *uplink, const struct netd_cidr *gw,
		      const struct netd_cidr *gw6, bool masq6)
{
	int rc;

	snprintf(p->bridge, sizeof(p->bridge), "%s", bridge);
	snprintf(p->uplink, sizeof(p->uplink), "%s", uplink);
	p->gw = *gw;
	p->has6 = gw6 != NULL;
	memset(&p->gw6, 0, sizeof(p->gw6));
	if (gw6)
		p->gw6 = *gw6;
	p->masq6 = masq6;
	p->hosts.leases6 = p->has6 && net->conf.dhcp6 == NAT_DHCP6_STATEFUL;
	p->ev = netd_net_event(net);
	nat_rs_init(&p->rs, false, p->bridge, p->uplink, &p->gw, true, net->conf.flowtable);
	nat_rs_init(&p->rs6, true, p->bridge, p->uplink, &p->gw6, masq6, false);
	rc = netd_net_run_dir(net, p->run_dir, sizeof(p->run_dir));
	if (rc == 0)
		rc = netd_net_pub_dir(net, false, p->pub_dir, sizeof(p->pub_dir));
	if (rc)
		return rc;
	if (snprintf(p->journal, sizeof(p->journal), "%s/forwards", p->run_dir) >=
	    (int)sizeof(p->journal))
		return err_set(-ENAMETOOLONG, "%s: run directory path too long", p->bridge);
	return nat_dnsmasq_init(&p->dns, p->ev, p->bridge, p->run_dir, p->pub_dir,
				netd_net_helper_user(net), getenv("NETD_DNSMASQ_UNIT"),
				net->conf.name, &net->conf);
}

static bool in_subnet6(const struct netd_cidr *c, const struct in6_addr *a)
{
	return !memcmp(c->addr.v6.s6_addr, a->s6_addr, 8); /* a /64 (config.c) */
}

/* The address SLAAC gives a guest with this MAC in the /64 (RFC 4291's
 * modified EUI-64), which its DHCPv6 static lease repeats. */
static void eui64_addr(const struct netd_cidr *gw6, const uint8_t mac[6], struct in6_addr *out)
{
	vif_eui64(mac, &gw6->addr.v6, out);
}

/* The IPv6 half of vif_host: its first ip= address (each must be in the /64:
 * one outside could never be routed, and every one is the guest's own, see
 * vif_as_bound), or with bind and a MAC, the EUI-64 one. */
static int vif_host6(struct nat_priv *p, const struct vif *vif, bool bind, struct nat_host *h)
{
	char a[INET6_ADDRSTRLEN], s[INET6_ADDRSTRLEN];
	const struct vif_ip *outside = NULL;
	static const uint8_t zero[8];

	if (!p->has6)
		return 0;
	for (unsigned i = 0; i < vif->n_ips && !outside; i++) {
		const struct vif_ip *ip = &vif->ips[i];

		if (ip->family != AF_INET6)
			continue;
		if (!in_subnet6(&p->gw6, &ip->addr.v6)) {
			outside = ip;
			continue;
		}
		inet_ntop(AF_INET6, &ip->addr.v6, a, sizeof(a));
		if (!memcmp(&ip->addr.v6, &p->gw6.addr.v6, 16) ||
		    !memcmp(ip->addr.v6.s6_addr + 8, zero, 8))
			return err_set(-EINVAL,
				       "%s: ip %s is the gateway or subnet-router anycast address of %s's /64",
				       vif->ifname, a, p->bridge);
		if (!h->has_ip6)
			h->ip6 = ip->addr.v6;
		h->has_ip6 = true;
	}
	if (outside) {
		inet_ntop(AF_INET6, &outside->addr.v6, a, sizeof(a));
		inet_ntop(AF_INET6, &p->gw6.addr.v6, s, sizeof(s));
		return err_set(-EINVAL, "%s: ip %s is not inside %s/64 (address6) of %s", vif->ifname,
			       a, s, p->bridge);
	}
	if (!h->has_ip6 && bind && vif->has_mac) {
		eui64_addr(&p->gw6, vif->mac, &h->ip6);
		h->has_ip6 = h->bound6 = true;
	}
	return 0;
}

/* The vif's guest address in this subnet: its ip= one, or with bind (its
 * anti-spoofing is on) and a MAC but no ip=, the address it is bound to
 * (bind.h), kept across re-plugs; and the same for IPv6 (vif_host6). */
static int vif_host(struct nat_priv *p, const struct vif *vif, bool bind,
		    struct nat_host *h)
{
	char a[INET_ADDRSTRLEN], s[INET_ADDRSTRLEN + 4];
	uint32_t m = p->gw.prefixlen ? htonl(~0u << (32 - p->gw.prefixlen)) : 0;
	const struct vif_ip *outside = NULL;
	int rc;

	memset(h, 0, sizeof(*h));
	h->domid = vif->domid;
	h->devid = vif->devid;
	h->has_mac = vif->has_mac;
	memcpy(h->mac, vif->mac, 6);
	rc = vif_host6(p, vif, bind, h);
	if (rc)
		return rc;
	for (unsigned i = 0; i < vif->n_ips && !h->has_ip; i++) {
		const struct vif_ip *ip = &vif->ips[i];
		uint32_t x = ip->addr.v4.s_addr;

		if (ip->family != AF_INET)
			continue;
		if (!in_subnet(&p->gw, ip->addr.v4)) {
			outside = outside ? outside : ip;
			continue;
		}
		inet_ntop(AF_INET, &ip->addr.v4, a, sizeof(a));
		subnet_str(&p->gw, s, sizeof(s));
		if (x == p->gw.addr.v4.s_addr || x == (x & m) || x == (x | ~m))
			return err_set(-EINVAL,
				       "%s: ip %s is the gateway, network or broadcast address of %s",
				       vif->ifname, a, s);
		h->has_ip = true;
		h->ip = ip->addr.v4;
	}
	if (!h->has_ip && outside) {
		inet_ntop(AF_INET, &outside->addr.v4, a, sizeof(a));
		subnet_str(&p->gw, s, sizeof(s));
		return err_set(-EINVAL, "%s: ip %s is not inside %s of %s", vif->ifname, a, s,
			       p->bridge);
	}
	if (!h->has_ip && bind && vif->has_mac) {
		struct nat_host *cur = nat_hosts_find(&p->hosts, h->domid, h->devid);

		if (cur && cur->bound && !memcmp(cur->mac, vif->mac, 6))
			h->ip = cur->ip;
		else
			rc = nat_bind_pick(&p->dns, &p->hosts, h->domid, h->devid, vif->mac, &h->ip);
		if (rc)
			return err_prefix(rc, "%s", vif->ifname);
		h->has_ip = h->bound = true;
	}
	return 0;
}

/* v as its filter sees it: with the addresses it is bound to (h: its hosts
 * entry, NULL if none) among its own, its own IPv6 address and, without
 * ip=, its free /64 (vif.h). */
static void vif_as_bound(const struct vif *vif, const struct nat_host *h, struct vif *eff)
{
	*eff = *vif;
	if (h && h->bound && eff->n_ips < VIF_MAX_IPS) {
		eff->ips[eff->n_ips].family = AF_INET;
		memset(&eff->ips[eff->n_ips].addr, 0, sizeof(eff->ips[eff->n_ips].addr));
		eff->ips[eff->n_ips++].addr.v4 = h->ip;
	}
	if (h && h->bound6 && eff->n_ips < VIF_MAX_IPS) {
		eff->ips[eff->n_ips].family = AF_INET6;
		eff->ips[eff->n_ips++].addr.v6 = h->ip6;
	}
	/* Its IPv6 addresses in the /64 are its own, every ip= one (all in
	 * it: vif_host6) or the one it is bound to: no guest without ip= may
	 * take them. A guest without any ip= is bound to its EUI-64 address,
	 * but may use any other address of the /64 no guest owns: the
	 * temporary (RFC 4941) or stable-privacy (RFC 7217) ones its stack
	 * forms from the advertised prefix, one DHCPv6 leases it from
	 * dhcp6_range. */
	eff->has_own6 = h && h->has_ip6;
	eff->has_free6 = h && h->bound6 && vif->n_ips == 0;
	if (eff->has_free6)
		eff->free6 = h->ip6;
}

static void hosts_from_vifs(struct netd_net *net, struct nat_priv *p)
{
	for (struct netd_vif *v = net->vifs; v; v = v->next) {
		struct nat_host h;
		int rc = vif_host(p, &v->vif, net->conf.antispoof, &h);

		/* a vif with neither mac= nor ip= has no host entry, and no
		 * error either: err_msg() would be a stale one */
		if (rc == 0 && (h.has_mac || h.has_ip || h.has_ip6))
			nat_hosts_set(&p->hosts, &h);
		else if (rc && net->conf.antispoof)
			log_warn("%s: %s", net->conf.name, err_msg());
	}
}

static void conf_fwd(const struct netd_forward *cf, struct nat_fwd *f)
{
	*f = (struct nat_fwd){ .proto = cf->proto, .port = cf->port, .dport = cf->dport,
			       .v6 = cf->dest.family == AF_INET6 };
	if (f->v6)
		f->dest6 = cf->dest.addr.v6;
	else
		f->dest = cf->dest.addr.v4;
}

#define fwd_equal nat_fwd_equal

/* The list of f's family. */
static struct nat_fwds *fwds_of(struct nat_priv *p, const struct nat_fwd *f)
{
	return f->v6 ? &p->fwds6 : &p->fwds;
}

static const struct netd_cidr *gw6_of(const struct nat_priv *p)
{
	return p->has6 ? &p->gw6 : NULL;
}

static int forwards_from_conf(const struct netd_net_conf *c, struct nat_priv *p)
{
	for (size_t i = 0; i < c->n_forwards; i++) {
		const struct netd_forward *cf = &c->forwards[i];
		struct nat_fwd f;
		int rc;

		conf_fwd(cf, &f);
		rc = nat_fwd_check(&f, &p->gw, gw6_of(p), p->bridge);
		if (rc == 0 && nat_fwds_find(fwds_of(p, &f), f.proto, f.port))
			rc = err_set(-EEXIST, "%s%s %u forwarded twice", f.v6 ? "IPv6 " : "",
				     nat_proto_name(f.proto), f.port);
		if (rc == 0)
			rc = nat_fwds_add(fwds_of(p, &f), &f);
		if (rc)
			return err_prefix(rc, "%s: line %d", c->name, cf->line);
	}
	return 0;
}

struct uplink_clash {
	int ifindex;
	const struct netd_cidr *sn;
	struct netd_cidr hit; /* the uplink's address whose subnet overlaps */
};

static int uplink_addr_clash(int ifindex, int family, const void *addr, uint8_t plen,
			     void *data)
{
	struct uplink_clash *u = data;
	unsigned p = plen < u->sn->prefixlen ? plen : u->sn->prefixlen;
	uint32_t mask = p ? htonl(~0u << (32 - p)) : 0, a;

	if (ifindex != u->ifindex || family != AF_INET)
		return 0;
	memcpy(&a, addr, sizeof(a));
	if ((a & mask) != (u->sn->addr.v4.s_addr & mask))
		return 0;
	memset(&u->hit, 0, sizeof(u->hit));
	u->hit.family = AF_INET;
	u->hit.addr.v4.s_addr = a;
	u->hit.prefixlen = plen;
	return 1;
}

/* The same for the uplink's global IPv6 addresses and the guests' /64. */
static int uplink_addr_clash6(int ifindex, int family, const void *addr, uint8_t plen,
			      void *data)
{
	struct uplink_clash *u = data;
	unsigned p = plen < 64 ? plen : 64;
	const uint8_t *a = addr, *b = u->sn->addr.v6.s6_addr;

	if (ifindex != u->ifindex || family != AF_INET6 || (a[0] == 0xfe && (a[1] & 0xc0) == 0x80))
		return 0;
	if (memcmp(a, b, p / 8) ||
	    (p % 8 && ((a[p / 8] ^ b[p / 8]) & (uint8_t)(0xff00 >> (p % 8)))))
		return 0;
	memset(&u->hit, 0, sizeof(u->hit));
	u->hit.family = AF_INET6;
	memcpy(&u->hit.addr.v6, a, 16);
	u->hit.prefixlen = plen;
	return 1;
}

static int precheck6(const struct netd_net_conf *c, int uplink)
{
	struct uplink_clash clash = { .ifindex = uplink, .sn = &c->address6 };
	char a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN];
	int rc;

	if (!c->has_address6)
		return 0;
	rc = nl_addr_for_each(uplink_addr_clash6, &clash);
	if (rc < 0)
		return err_prefix(rc, "%s: cannot read uplink %s's addresses", c->name, c->uplink);
	if (rc == 0)
		return 0;
	inet_ntop(AF_INET6, &c->address6.addr.v6, a, sizeof(a));
	inet_ntop(AF_INET6, &clash.hit.addr.v6, b, sizeof(b));
	return err_set(-EADDRINUSE,
		       "%s: address6 %s/64 overlaps the subnet of uplink %s (%s/%u); give the guests a subnet of their own",
		       c->name, a, c->uplink, b, clash.hit.prefixlen);
}

static int precheck(const struct netd_net_conf *c)
{
	struct uplink_clash clash = { .sn = &c->address };
	char a[INET_ADDRSTRLEN + 4], b[INET_ADDRSTRLEN + 4];
	struct nl_link l;
	int rc;

	if (c->address.family != AF_INET)
		return err_set(-EINVAL,
			       "%s: nat mode needs an IPv4 address (got an IPv6 one; IPv6 goes in address6)",
			       c->name);
	rc = nl_link_get(c->uplink, &l);
	if (rc)
		return err_set(rc, "%s: uplink %s does not exist", c->name, c->uplink);
	/* Guests' private subnet inside the LAN's: the same addresses on both
	 * sides, and masquerade would hide LAN hosts behind the gateway. Only
	 * the running host knows the uplink's subnet, so it is checked here. */
	clash.ifindex = l.ifindex;
	rc = nl_addr_for_each(uplink_addr_clash, &clash);
	if (rc < 0)
		return err_prefix(rc, "%s: cannot read uplink %s's addresses", c->name, c->uplink);
	if (rc > 0) {
		cidr_str(&c->address, a, sizeof(a));
		cidr_str(&clash.hit, b, sizeof(b));
		return err_set(-EADDRINUSE,
			       "%s: address %s overlaps the subnet of uplink %s (%s); give the guests a subnet of their own",
			       c->name, a, c->uplink, b);
	}
	rc = precheck6(c, l.ifindex);
	if (rc)
		return rc;
	if (nl_link_exists(c->name))
		return err_set(-EEXIST, "%s: %s already exists; refusing to take it over", c->name,
			       c->name);
	if (c->flowtable) {
		struct nat_rs rs;

		nat_rs_init(&rs, false, c->name, c->uplink, &c->address, true, true);
		return nat_rs_flowtable_check(&rs);
	}
	return 0;
}

struct has_addr6 {
	int ifindex;
	const struct netd_cidr *want;
};

static int addr6_is(int ifindex, int family, const void *addr, uint8_t plen, void *data)
{
	const struct has_addr6 *h = data;

	return ifindex == h->ifindex && family == AF_INET6 && plen == h->want->prefixlen &&
	       !memcmp(addr, &h->want->addr.v6, 16);
}

/* Is the bridge of a recorded setup still there, up, with its gateway
 * addresses? */
static bool bridge_is_applied(const struct nat_priv *p)
{
	struct nl_link l;
	uint8_t plen;
	struct in_addr a;

	if (nl_link_get(p->bridge, &l) || strcmp(l.kind, "bridge") || !(l.flags & IFF_UP))
		return false;
	if (p->has6) {
		struct has_addr6 h = { l.ifindex, &p->gw6 };

		if (nl_addr_for_each(addr6_is, &h) != 1)
			return false;
	}
	return nl_addr_primary_v4(l.ifindex, &a, &plen) == 0 &&
	       a.s_addr == p->gw.addr.v4.s_addr && plen == p->gw.prefixlen;
}

/* load_saved() cannot read the record: nothing done yet (netd sets the
 * file aside and applies afresh, see record_unreadable). */
static int bad_record(struct netd_net *net, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static int bad_record(struct netd_net *net, const char *fmt, ...)
{
	char msg[ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	net->record_unreadable = true;
	return err_set(-EINVAL, "state: %s", msg);
}

static int load_saved(struct netd_net *net, struct nat_priv *p, json_t *saved)
{
	json_t *ms = json_object_get(saved, "mode_state");
	const char *bridge, *uplink, *address;
	struct netd_cidr gw = { .family = AF_INET };
	char buf[INET_ADDRSTRLEN + 4], buf6[INET6_ADDRSTRLEN + 4], *slash;
	uint64_t plen;
	json_error_t e;

	/* A state file written before netd's sysctl registry also has
	 * "ip_forward" (the value then to restore): ignored, the registry
	 * (netd-sysctl-registry.json) keeps it now. */
	if (json_unpack_ex(ms, &e, 0, "{s:s, s:s, s:s}", "bridge", &bridge, "uplink", &uplink,
			   "address", &address))
		return bad_record(net, "nat mode state incomplete");
	if (strlen(bridge) >= IFNAMSIZ || strlen(uplink) >= IFNAMSIZ ||
	    strlen(address) >= sizeof(buf) || strcmp(bridge, net->conf.name))
		return bad_record(net, "bad nat mode state");
	strcpy(buf, address);
	slash = strchr(buf, '/');
	if (!slash)
		return bad_record(net, "bad address '%s'", address);
	*slash = '\0';
	if (dec_parse(slash + 1, strlen(slash + 1), 32, &plen) < 0 ||
	    inet_pton(AF_INET, buf, &gw.addr.v4) != 1)
		return bad_record(net, "bad address '%s'", address);
	gw.prefixlen = (uint8_t)plen;
	/* IPv6: "address6" (a /64) and "nat6", absent before netd had them */
	address = json_string_value(json_object_get(ms, "address6"));
	if (address) {
		const char *nat6 = json_string_value(json_object_get(ms, "nat6"));
		struct netd_cidr gw6 = { .family = AF_INET6, .prefixlen = 64 };

		if (strlen(address) >= sizeof(buf6) || !nat6)
			return bad_record(net, "bad address6");
		strcpy(buf6, address);
		slash = strchr(buf6, '/');
		if (!slash || strcmp(slash, "/64"))
			return bad_record(net, "bad address6 '%s'", address);
		*slash = '\0';
		if (inet_pton(AF_INET6, buf6, &gw6.addr.v6) != 1)
			return bad_record(net, "bad address6 '%s'", address);
		return priv_setup(net, p, bridge, uplink, &gw, &gw6, strcmp(nat6, "routed") != 0);
	}
	return priv_setup(net, p, bridge, uplink, &gw, NULL, false);
}

/* The forwards are the journal's (run-time changes included). If the config's
 * forward lines changed while no netd ran, the change applies on top: new
 * lines are added, lines gone from the config are removed. */
static int forwards_reconcile(struct netd_net *net, struct nat_priv *p, json_t *saved)
{
	json_t *old = json_object_get(json_object_get(saved, "mode_state"), "conf_forwards"), *v;
	const struct netd_net_conf *c = &net->conf;
	char spec[NAT_FWD_STRLEN];
	size_t i, j;
	int rc;

	if (!json_is_array(old))
		return 0;
	for (i = 0; i < c->n_forwards; i++) {
		struct nat_fwd f, *cur;
		bool known = false;

		conf_fwd(&c->forwards[i], &f);
		nat_fwd_format(&f, spec, sizeof(spec));
		json_array_foreach(old, j, v)
			known |= !strcmp(json_string_value(v) ?: "", spec);
		if (known || nat_fwd_check(&f, &p->gw, gw6_of(p), p->bridge))
			continue;
		cur = nat_fwds_find(fwds_of(p, &f), f.proto, f.port);
		if (cur)
			*cur = f;
		else if ((rc = nat_fwds_add(fwds_of(p, &f), &f)))
			return rc;
		log_info("%s: forward %s added to the config; applying it", p->bridge, spec);
	}
	json_array_foreach(old, j, v) {
		struct nat_fwd f, *cur;
		bool kept = false;

		if (nat_fwd_parse(json_string_value(v) ?: "", false, &f, NULL))
			continue;
		for (i = 0; i < c->n_forwards && !kept; i++) {
			struct nat_fwd cf;

			conf_fwd(&c->forwards[i], &cf);
			kept = fwd_equal(&cf, &f);
		}
		cur = kept ? NULL : nat_fwds_find(fwds_of(p, &f), f.proto, f.port);
		if (cur && fwd_equal(cur, &f)) {
			nat_fwds_del(fwds_of(p, &f), cur);
			log_info("%s: forward %s removed from the config; removing it", p->bridge,
				 json_string_value(v));
		}
	}
	return 0;
}

/* The setup a crashed netd completed: keep the bridge, the dnsmasq and its
 * leases; put the table back as it must be (one transaction, replacing it
 * in place, or recreating it if someone deleted it meanwhile). */
static int adopt(struct netd_net *net, struct nat_priv *p, json_t *saved)
{
	const char *name = p->bridge;
	int rc, had_table;

	rc = nat_fwd_journal_load(p->journal, &p->fwds, &p->fwds6);
	if (rc == 0)
		rc = forwards_reconcile(net, p, saved);
	else if (rc == -ENOENT)
		rc = forwards_from_conf(&net->conf, p);
	if (rc)
		return rc;
	hosts_from_vifs(net, p);
	had_table = nat_rs_exists(&p->rs);
	rc = nat_rs_apply(&p->rs, &p->fwds);
	if (rc == 0 && had_table == 0)
		log_warn("%s: nftables table ip %s was missing; restored it", name, p->rs.table);
	if (rc == 0)
		rc = netd_sysctl_hold(net, IP_FORWARD, "1");
	if (rc == 0 && p->has6) {
		had_table = nat_rs_exists(&p->rs6);
		rc = nat_rs_apply(&p->rs6, &p->fwds6);
		if (rc == 0 && had_table == 0)
			log_warn("%s: nftables table ip6 %s was missing; restored it", name,
				 p->rs6.table);
		if (rc == 0)
			rc = netd_sysctl_hold(net, IP6_FORWARD, "1");
	}
	if (rc == 0)
		rc = nat_fwd_journal_rewrite(p->journal, &p->fwds, &p->fwds6);
	if (rc == 0)
		rc = netd_net_pub_dir(net, true, p->pub_dir, sizeof(p->pub_dir));
	if (rc == 0)
		rc = nat_hosts_write(&p->hosts, p->dns.hostsfile, p->dns.addnhosts);
	if (rc)
		return rc;
	rc = nat_dnsmasq_adopt(&p->dns);
	if (rc == 1 && !nat_dnsmasq_is_current(&p->dns)) {
		log_warn("%s: dnsmasq (pid %d) runs with other settings than the config's; restarting it",
			 name, (int)p->dns.pid);
		rc = nat_dnsmasq_stop(&p->dns);
		if (rc == 0)
			rc = nat_dnsmasq_start(&p->dns);
	} else if (rc == 1) {
		log_info("%s: adopted dnsmasq (pid %d)", name, (int)p->dns.pid);
		rc = nat_dnsmasq_reload(&p->dns); /* the files were rewritten */
	} else if (rc == 0) {
		log_warn("%s: dnsmasq of the previous netd is not running; starting one", name);
		rc = nat_dnsmasq_start(&p->dns);
	}
	if (rc == 0)
		rc = watch_start(p);
	return rc;
}

/* The vifs a rolled-back setup had, on the new bridge; their filters again
 * too, as the address a vif without ip= is bound to may have changed with
 * the new run directory (replacing what the kernel still holds for them). */
static void replug_vifs(struct netd_net *net, struct nat_priv *p)
{
	for (struct netd_vif *v = net->vifs; v; v = v->next) {
		struct vif eff;

		vif_as_bound(&v->vif, nat_hosts_find(&p->hosts, v->vif.domid, v->vif.devid), &eff);
		if (br_port_plug(p->bridge, v->vif.ifname, v->vif.mtu) < 0 ||
		    /* tests: a port up, its filter not yet there */
		    FAULT_POINT("vif-antispoof") ||
		    as_vif_protect(&eff, AS_FAM_BRIDGE, net->conf.antispoof))
			log_warn("%s: %s", p->bridge, err_msg());
	}
}

static void priv_reset(struct nat_priv *p)
{
	watch_stop(p);
	nat_dnsmasq_detach(&p->dns);
	nat_fwds_free(&p->fwds);
	nat_fwds_free(&p->fwds6);
	nat_hosts_free(&p->hosts);
	p->journal_lines = 0;
	p->applied = false;
}

/* Does the recorded setup have the config's IPv6 (none, or the same /64
 * leaving the same way)? DHCPv6's kind is dnsmasq's: adopt() restarts it. */
static bool same_v6(const struct nat_priv *p, const struct netd_net_conf *c)
{
	if (p->has6 != c->has_address6)
		return false;
	return !p->has6 || (!memcmp(&p->gw6.addr.v6, &c->address6.addr.v6, 16) &&
			    p->masq6 == (c->out6 == NAT_OUT6_MASQUERADE));
}

/* The restore removed the run directory, the leases with it: made again,
 * and a vif without ip= bound again. */
static int nat_repair_prepare(struct netd_net *net, void *data)
{
	struct nat_priv *p = data;
	int rc = netd_net_run_dir(net, p->run_dir, sizeof(p->run_dir));

	if (rc)
		return rc;
	nat_hosts_free(&p->hosts);
	hosts_from_vifs(net, p);
	p->journal_lines = 0;
	return 0;
}

/* Up of a network that is up whose bridge is gone or changed (`ip link del
 * virbr0`), or whose repair failed before: the host restored, then the same
 * setup applied again, its forwards (run-time ones too: the restore deleted
 * their journal, the list is kept) and its vifs ports again. Nothing is
 * applied over a host the restore did not finish; the network stays up, its
 * record (run_dir, the state file netd keeps) what `down` restores from. */
FAULT_DECLARE(nat_repair_step, "nat-repair");

static int nat_repair(struct netd_net *net, struct nat_priv *p)
{
	const struct netd_net_conf *c = &net->conf;
	const struct netd_repair r = {
		.step = nat_repair_step,
		.restores = "the host",
		.prepare = nat_repair_prepare,
	};
	int rc;

	log_warn("%s: bridge %s is no longer set up; restoring the host and applying it again",
		 c->name, p->bridge);
	rc = netd_txn_repair(net, &nat_txn, &r, p);
	if (rc)
		return rc;
	log_info("%s: nat mode repaired, %zu forward(s), dnsmasq pid %d", c->name,
		 p->fwds.n + p->fwds6.n, (int)p->dns.pid);
	return 0;
}

static int nat_up(struct netd_net *net, json_t *saved)
{
	const struct netd_net_conf *c = &net->conf;
	struct nat_priv *p = net->priv;
	int rc;

	if (!p) {
		p = net->priv = calloc(1, sizeof(*p));
		if (!p)
			return err_set(-ENOMEM, "out of memory");
		p->dns.pidfd = -1;
	}
	if (netd_net_is_up(net)) /* up twice: the setup as applied, or mended */
		return p->applied && bridge_is_applied(p) ? 0 : nat_repair(net, p);

	if (saved) {
		const char *phase = json_string_value(json_object_get(saved, "phase"));

		rc = load_saved(net, p, saved);
		if (rc)
			return err_prefix(rc, "%s: unreadable state", c->name);
		if (phase && !strcmp(phase, "applied") && bridge_is_applied(p) &&
		    !strcmp(p->uplink, c->uplink) && p->gw.addr.v4.s_addr == c->address.addr.v4.s_addr &&
		    p->gw.prefixlen == c->address.prefixlen && same_v6(p, c)) {
			rc = adopt(net, p, saved);
			if (rc == 0) {
				p->applied = true;
				rc = net->checkpoint(net, "applied");
			}
			if (rc == 0) {
				log_info("%s: adopted the running nat setup of a previous netd", c->name);
				return 0;
			}
			log_warn("%s: cannot adopt the previous setup (%s); rolling it back", c->name,
				 err_msg());
		} else {
			log_warn("%s: previous netd left a %s setup; rolling it back first", c->name,
				 phase ? phase : "unknown");
		}
		rc = nat_restore(net, p);
		priv_reset(p);
		if (rc)
			return err_prefix(rc, "%s: cannot roll back the previous setup", c->name);
		net->prev_undone = true;
	}

	rc = precheck(c);
	if (rc)
		return rc;
	rc = priv_setup(net, p, c->name, c->uplink, &c->address,
			c->has_address6 ? &c->address6 : NULL, c->out6 == NAT_OUT6_MASQUERADE);
	if (rc == 0)
		rc = forwards_from_conf(c, p);
	if (rc) {
		priv_reset(p);
		return rc;
	}
	hosts_from_vifs(net, p);
	/* The vifs of a setup rolled back are remembered: ports again
	 * (nat_txn_done). */
	rc = netd_txn_apply(net, &nat_txn, p);
	if (rc == 0) {
		char a[INET_ADDRSTRLEN + 4];

		cidr_str(&p->gw, a, sizeof(a));
		log_info("%s: nat mode up, %s%s via %s, %zu forward(s), dnsmasq pid %d", c->name, a,
			 p->has6 ? (p->masq6 ? " and IPv6 (NAT66)" : " and IPv6 (routed)") : "",
			 c->uplink, p->fwds.n + p->fwds6.n, (int)p->dns.pid);
		return 0;
	}
	priv_reset(p);
	return rc;
}

/* The remembered vifs' filters, gone with their ports (the bridge
 * restored away). Failing here must not undo a down, nor an undo. */
static void vifs_unprotect(struct netd_net *net, struct nat_priv *p)
{
	for (struct netd_vif *v = net->vifs; v; v = v->next) {
		struct vif eff;

		vif_as_bound(&v->vif, nat_hosts_find(&p->hosts, v->vif.domid, v->vif.devid), &eff);
		if (as_vif_unprotect(&eff, AS_FAM_BRIDGE, net->conf.antispoof))
			log_warn("%s: %s", net->conf.name, err_msg());
	}
}

static int nat_down(struct netd_net *net)
{
	struct nat_priv *p = net->priv;
	int rc;

	if (!p || !p->run_dir[0])
		return 0;
	rc = nat_restore(net, p);
	if (rc)
		return err_prefix(rc, "%s", net->conf.name);
	vifs_unprotect(net, p);
	/* off the bridge: Dom0's IPv6 back, as bridge mode's down */
	netd_net_vifs_ipv6_restore(net);
	priv_reset(p);
	log_info("%s: nat mode down, host restored", net->conf.name);
	return 0;
}

/* ---- vifs ---- */

static int hosts_apply(struct nat_priv *p)
{
	int rc = nat_hosts_write(&p->hosts, p->dns.hostsfile, p->dns.addnhosts);

	return rc ? rc : nat_dnsmasq_reload(&p->dns);
}

/* hosts_apply, returning once dnsmasq has read the files again. A dnsmasq
 * that is slower than the bound is logged, not an error: the guest's DHCP
 * retries, and a wedged dnsmasq is the supervisor's business. */
static int hosts_apply_wait(struct nat_priv *p, const char *ifname)
{
	int rc = nat_hosts_write(&p->hosts, p->dns.hostsfile, p->dns.addnhosts);

	if (rc == 0)
		rc = nat_dnsmasq_reload_wait(&p->dns);
	if (rc == -ETIMEDOUT) {
		log_warn("%s: %s: %s", p->bridge, ifname, err_msg());
		rc = 0;
	}
	return rc;
}

/* The vif of net other than domid.devid with a among its ip= addresses
 * (any of them: hosts entries hold the first only), NULL if none. */
static const struct vif *ip6_user(const struct netd_net *net, const struct in6_addr *a,
				  uint32_t domid, uint32_t devid)
{
	for (const struct netd_vif *nv = net->vifs; nv; nv = nv->next) {
		const struct vif *o = &nv->vif;

		if (o->domid == domid && o->devid == devid)
			continue;
		for (unsigned i = 0; i < o->n_ips; i++)
			if (o->ips[i].family == AF_INET6 && !memcmp(&o->ips[i].addr.v6, a, 16))
				return o;
	}
	return NULL;
}

/* Every IPv6 address vif would own (each ip= one, or h's bound one) is no
 * other guest's, bound or given in ip=: owned6 holds each address once. */
static int clash6(const struct netd_net *net, const struct nat_priv *p, const struct vif *vif,
		  const struct nat_host *h)
{
	char a[INET6_ADDRSTRLEN], n[32];
	const struct nat_host *hc;
	const struct vif *vc;

	for (unsigned i = 0; i <= vif->n_ips; i++) {
		const struct in6_addr *x = i < vif->n_ips ? &vif->ips[i].addr.v6 : &h->ip6;

		if (i < vif->n_ips ? vif->ips[i].family != AF_INET6 : !h->bound6)
			continue;
		hc = nat_hosts_find_ip6(&p->hosts, x, h->domid, h->devid);
		vc = hc ? NULL : ip6_user(net, x, h->domid, h->devid);
		if (!hc && !vc)
			continue;
		inet_ntop(AF_INET6, x, a, sizeof(a));
		if (hc)
			nat_host_name(hc, n, sizeof(n));
		else
			snprintf(n, sizeof(n), "dom%u", vc->domid);
		return err_set(-EADDRINUSE, "%s: ip %s%s is already the address of %s (vif%u.%u)",
			       vif->ifname, a, i == vif->n_ips ? " (the EUI-64 one of its MAC)" : "",
			       n, hc ? hc->domid : vc->domid, hc ? hc->devid : vc->devid);
	}
	return 0;
}

static int nat_vif_online(struct netd_net *net, const struct vif *vif)
{
	struct nat_priv *p = net->priv;
	struct nat_host h, old, *cur;
	const struct nat_host *clash;
	struct vif eff;
	bool had, plugged = false;
	int rc;

	if (!p || !p->applied)
		return err_set(-ENETDOWN, "%s: network %s is down", vif->ifname, net->conf.name);
	rc = vif_host(p, vif, net->conf.antispoof, &h);
	if (rc)
		return rc;
	clash = h.has_ip ? nat_hosts_find_ip(&p->hosts, h.ip, h.domid, h.devid) : NULL;
	if (clash) {
		char a[INET_ADDRSTRLEN], n[32];

		inet_ntop(AF_INET, &h.ip, a, sizeof(a));
		nat_host_name(clash, n, sizeof(n));
		return err_set(-EADDRINUSE, "%s: ip %s is already the address of %s (vif%u.%u)",
			       vif->ifname, a, n, clash->domid, clash->devid);
	}
	rc = p->has6 ? clash6(net, p, vif, &h) : 0;
	if (rc)
		return rc;
	cur = nat_hosts_find(&p->hosts, h.domid, h.devid);
	had = cur != NULL;
	if (had)
		old = *cur;
	rc = 0;
	if (h.has_mac || h.has_ip || h.has_ip6)
		rc = nat_hosts_set(&p->hosts, &h);
	else
		nat_hosts_del(&p->hosts, h.domid, h.devid);
	/* dnsmasq knows the guest's static lease before the guest can ask:
	 * a client already waiting on a hot-plugged vif (issue 12) would
	 * otherwise get an address of dhcp_range that its filter drops. */
	if (rc == 0)
		rc = hosts_apply_wait(p, vif->ifname);
	if (rc == 0) {
		rc = br_port_plug(p->bridge, vif->ifname, vif->mtu);
		plugged = rc >= 0;
		rc = rc < 0 ? rc : 0;
	}
	/* Guests are bridge ports here, filtered like bridge mode's; one
	 * without ip= may use only the address it is bound to. */
	vif_as_bound(vif, &h, &eff);
	if (rc == 0)
		rc = as_vif_protect(&eff, AS_FAM_BRIDGE, net->conf.antispoof);
	if (rc == 0)
		return 0;
	/* Back as before: the entry and the port. */
	{
		char msg[ERR_MSG_MAX];

		snprintf(msg, sizeof(msg), "%s", err_msg());
		if (had)
			nat_hosts_set(&p->hosts, &old);
		else
			nat_hosts_del(&p->hosts, h.domid, h.devid);
		nat_hosts_write(&p->hosts, p->dns.hostsfile, p->dns.addnhosts);
		if (plugged)
			br_port_unplug(p->bridge, vif->ifname);
		return err_set(rc, "%s: %s", vif->ifname, msg);
	}
}

static int nat_vif_offline(struct netd_net *net, const struct vif *vif)
{
	struct nat_priv *p = net->priv;
	struct vif eff;
	int rc;

	/* the elements it was given: with its bound address */
	vif_as_bound(vif, p ? nat_hosts_find(&p->hosts, vif->domid, vif->devid) : NULL, &eff);
	if (p && p->applied && nat_hosts_del(&p->hosts, vif->domid, vif->devid)) {
		rc = hosts_apply(p);
		if (rc)
			log_warn("%s: %s", vif->ifname, err_msg());
	}
	rc = br_port_unplug(p ? p->bridge : net->conf.name, vif->ifname);
	return rc ? rc : as_vif_unprotect(&eff, AS_FAM_BRIDGE, net->conf.antispoof);
}

/* ---- status, state ---- */

static json_t *nat_status(struct netd_net *net)
{
	struct nat_priv *p = net->priv;
	char a[INET_ADDRSTRLEN + 4], t[IFNAMSIZ + 16], r[2 * INET_ADDRSTRLEN + 2];
	char f[INET_ADDRSTRLEN], l[INET_ADDRSTRLEN];
	json_t *o, *all, *bound, *bound6 = NULL;

	if (!p)
		return json_object();
	cidr_str(&p->gw, a, sizeof(a));
	snprintf(t, sizeof(t), "ip %s", p->rs.table);
	o = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I}", "bridge", p->bridge, "address", a,
		      "uplink", p->uplink, "table", t, "forwards", (json_int_t)(p->fwds.n + p->fwds6.n),
		      "dnsmasq_pid", (json_int_t)p->dns.pid, "table_restores",
		      (json_int_t)p->table_restores);
	if (net->conf.has_dhcp_range) {
		inet_ntop(AF_INET, &net->conf.dhcp_first, f, sizeof(f));
		inet_ntop(AF_INET, &net->conf.dhcp_last, l, sizeof(l));
		snprintf(r, sizeof(r), "%s-%s", f, l);
		json_object_set_new(o, "dhcp_range", json_string(r));
	}
	if (p->has6) {
		char a6[INET6_ADDRSTRLEN + 4];

		inet_ntop(AF_INET6, &p->gw6.addr.v6, a6, sizeof(a6));
		strcat(a6, "/64");
		snprintf(t, sizeof(t), "ip6 %s", p->rs6.table);
		json_object_set_new(o, "address6", json_string(a6));
		json_object_set_new(o, "table6", json_string(t));
		json_object_set_new(o, "nat6", json_string(p->masq6 ? "masquerade" : "routed"));
		json_object_set_new(o, "dhcp6", json_string(net->conf.dhcp6 == NAT_DHCP6_STATEFUL ?
								    "stateful" : "stateless"));
		if (p->dns.has_range6) {
			char f6[INET6_ADDRSTRLEN], l6[INET6_ADDRSTRLEN], r6[2 * INET6_ADDRSTRLEN];

			inet_ntop(AF_INET6, &net->conf.dhcp6_first, f6, sizeof(f6));
			inet_ntop(AF_INET6, &net->conf.dhcp6_last, l6, sizeof(l6));
			snprintf(r6, sizeof(r6), "%s-%s", f6, l6);
			json_object_set_new(o, "dhcp6_range", json_string(r6));
		}
		bound6 = json_array();
	}
	/* Guests are bridge ports: their counters are in the bridge family's table. */
	bound = json_array();
	all = as_status_begin(o, AS_FAM_BRIDGE);
	for (struct netd_vif *v = net->vifs; v; v = v->next) {
		const struct nat_host *h = nat_hosts_find(&p->hosts, v->vif.domid, v->vif.devid);

		as_status_put(o, all, v->vif.ifname);
		if (h && h->bound) {
			inet_ntop(AF_INET, &h->ip, f, sizeof(f));
			snprintf(r, sizeof(r), "%s:%s", v->vif.ifname, f);
			json_array_append_new(bound, json_string(r));
		}
		if (h && h->bound6 && bound6) {
			char a6[INET6_ADDRSTRLEN], r6[IFNAMSIZ + INET6_ADDRSTRLEN + 2];

			inet_ntop(AF_INET6, &h->ip6, a6, sizeof(a6));
			snprintf(r6, sizeof(r6), "%s=%s", v->vif.ifname, a6);
			json_array_append_new(bound6, json_string(r6));
		}
	}
	as_status_end(all);
	/* the addresses guests without ip= are bound to (bind.h), and their
	 * EUI-64 IPv6 ones ("vif5.0=2001:db8:1::...": the address has colons) */
	json_object_set_new(o, "bound", bound);
	if (bound6)
		json_object_set_new(o, "bound6", bound6);
	return o;
}

static json_t *nat_save(struct netd_net *net)
{
	struct nat_priv *p = net->priv;
	char a[INET_ADDRSTRLEN + 4], spec[NAT_FWD_STRLEN];
	json_t *cf, *ms;

	if (!p || !p->run_dir[0])
		return json_object();
	cidr_str(&p->gw, a, sizeof(a));
	/* The config's forward lines as applied, so that a netd adopting this
	 * setup can tell config changes from run-time ones (journal). */
	cf = json_array();
	for (size_t i = 0; i < net->conf.n_forwards; i++) {
		struct nat_fwd f;

		conf_fwd(&net->conf.forwards[i], &f);
		nat_fwd_format(&f, spec, sizeof(spec));
		json_array_append_new(cf, json_string(spec));
	}
	ms = json_pack("{s:s, s:s, s:s, s:s, s:o}", "bridge", p->bridge, "uplink", p->uplink,
		       "address", a, "table", p->rs.table, "conf_forwards", cf);
	if (ms && p->has6) {
		char a6[INET6_ADDRSTRLEN + 4];

		inet_ntop(AF_INET6, &p->gw6.addr.v6, a6, sizeof(a6));
		strcat(a6, "/64");
		json_object_set_new(ms, "address6", json_string(a6));
		json_object_set_new(ms, "nat6", json_string(p->masq6 ? "masquerade" : "routed"));
	}
	return ms;
}

static const char *nat_swept_bridge(const struct netd_net *net)
{
	const struct nat_priv *p = net->priv;

	return p && p->applied ? p->bridge : NULL;
}

/* Guest ports of each NAT bridge that its network does not remember. */
static int nat_sweep(struct netd_net *const *nets, size_t n)
{
	return br_port_sweep_nets(nets, n, nat_swept_bridge);
}

/* netd exits (or forgets the network) without down: leave the host as it is. */
static void nat_free(struct netd_net *net)
{
	struct nat_priv *p = net->priv;

	if (!p)
		return;
	priv_reset(p);
	free(p);
	net->priv = NULL;
}

/* ---- forwards at run time ---- */

/* Is f's destination a guest of p's subnet of its family? */
static bool fwd_dest_in(const struct nat_priv *p, const struct nat_fwd *f)
{
	return f->v6 ? p->has6 && in_subnet6(&p->gw6, &f->dest6) : in_subnet(&p->gw, f->dest);
}

/* Does p forward proto:port, in f's family or (by port alone) in either? */
static bool fwd_port_in(struct nat_priv *p, const struct nat_fwd *f, bool has_dest)
{
	if (has_dest)
		return nat_fwds_find(fwds_of(p, f), f->proto, f->port) != NULL;
	return nat_fwds_find(&p->fwds, f->proto, f->port) ||
	       nat_fwds_find(&p->fwds6, f->proto, f->port);
}

/* With no network named, a forward belongs to the nat network whose subnet
 * holds its destination (or, for a delete by port, the one forwarding that
 * port); -EOPNOTSUPP passes the request on to that network. */
static bool belongs_elsewhere(struct netd_net *net, const struct nat_fwd *f, bool has_dest)
{
	struct nat_priv *me = net->priv;

	if (has_dest ? fwd_dest_in(me, f) : fwd_port_in(me, f, false))
		return false;
	for (struct netd_net *peer = NULL; (peer = netd_net_peer_next(net, peer, NULL));) {
		struct nat_priv *o = peer->priv;

		if (has_dest ? fwd_dest_in(o, f) : fwd_port_in(o, f, false))
			return true;
	}
	return false;
}

static bool other_nat_up(struct netd_net *net)
{
	for (struct netd_net *peer = NULL; (peer = netd_net_peer_next(net, peer, NULL));)
		if (((struct nat_priv *)peer->priv)->applied)
			return true;
	return false;
}

/* The journal grows by a line per change; rewriting it once it holds four
 * times the live forwards keeps it O(forwards) at O(1) amortized per change. */
static void journal_note(struct nat_priv *p)
{
	if (++p->journal_lines < 1024 || p->journal_lines < 4 * (p->fwds.n + p->fwds6.n))
		return;
	if (nat_fwd_journal_rewrite(p->journal, &p->fwds, &p->fwds6))
		log_warn("%s: cannot compact the forwards journal: %s", p->bridge, err_msg());
	else
		p->journal_lines = 0;
}

/* f's elements into its family's table, or out of it; others: how many
 * other forwards that family's table has. The bridged chains come with the
 * first forward and go with the last (ruleset.h). */
static int rs_fwd_add(struct nat_priv *p, const struct nat_fwd *f, size_t others)
{
	return nat_rs_fwd_add(f->v6 ? &p->rs6 : &p->rs, f, others == 0);
}

static int rs_fwd_del(struct nat_priv *p, const struct nat_fwd *f, size_t others)
{
	return nat_rs_fwd_del(f->v6 ? &p->rs6 : &p->rs, f, others == 0);
}

static int fwd_add(struct netd_net *net, struct nat_priv *p, const struct nat_fwd *f,
		   const char *spec)
{
	struct nat_fwd *old = nat_fwds_find(fwds_of(p, f), f->proto, f->port);
	const char *fam = f->v6 ? "IPv6 " : "";
	char cur[NAT_FWD_STRLEN];
	int rc;

	if (old) {
		nat_fwd_format(old, cur, sizeof(cur));
		return err_set(-EEXIST, "forward '%s': %s%s port %u is already forwarded (%s)", spec,
			       fam, nat_proto_name(f->proto), f->port, cur);
	}
	/* One outside port on one uplink leads to one guest, as in the config. */
	for (struct netd_net *peer = NULL; (peer = netd_net_peer_next(net, peer, p->uplink));) {
		struct nat_priv *o = peer->priv;

		if (!o->applied)
			continue;
		old = nat_fwds_find(fwds_of(o, f), f->proto, f->port);
		if (old) {
			nat_fwd_format(old, cur, sizeof(cur));
			return err_set(-EEXIST,
				       "forward '%s': %s%s port %u on uplink %s is already forwarded by %s (%s)",
				       spec, fam, nat_proto_name(f->proto), f->port, p->uplink,
				       o->bridge, cur);
		}
	}
	rc = rs_fwd_add(p, f, fwds_of(p, f)->n);
	if (rc)
		return err_prefix(rc, "forward '%s'", spec);
	rc = nat_fwd_journal_append(p->journal, true, f);
	if (rc == 0)
		rc = nat_fwds_add(fwds_of(p, f), f);
	if (rc) {
		char msg[ERR_MSG_MAX];

		snprintf(msg, sizeof(msg), "%s", err_msg());
		rs_fwd_del(p, f, fwds_of(p, f)->n);
		return err_set(rc, "forward '%s': %s", spec, msg);
	}
	journal_note(p);
	return 0;
}

static int fwd_del_one(struct nat_priv *p, struct nat_fwds *l, struct nat_fwd *old,
		       const char *spec)
{
	struct nat_fwd keep = *old;
	int rc;

	rc = rs_fwd_del(p, old, l->n - 1);
	if (rc)
		return err_prefix(rc, "forward '%s'", spec);
	rc = nat_fwd_journal_append(p->journal, false, old);
	if (rc) {
		char msg[ERR_MSG_MAX];

		snprintf(msg, sizeof(msg), "%s", err_msg());
		rs_fwd_add(p, &keep, l->n - 1);
		return err_set(rc, "forward '%s': %s", spec, msg);
	}
	nat_fwds_del(l, old);
	journal_note(p);
	return 0;
}

/* PROTO:PORT removes the port's forward in each family that has one; with
 * a destination, the one of its family, if it is that one. */
static int fwd_del(struct nat_priv *p, const struct nat_fwd *f, bool has_dest, const char *spec)
{
	struct nat_fwd *old4 = nat_fwds_find(&p->fwds, f->proto, f->port);
	struct nat_fwd *old6 = nat_fwds_find(&p->fwds6, f->proto, f->port);
	char cur[NAT_FWD_STRLEN];
	int rc = 0;

	if (has_dest) {
		struct nat_fwd *old = f->v6 ? old6 : old4;

		if (!old)
			return err_set(-ENOENT, "forward '%s': %s%s port %u is not forwarded in %s",
				       spec, f->v6 ? "IPv6 " : "", nat_proto_name(f->proto),
				       f->port, p->bridge);
		if (!nat_fwd_equal(old, f)) {
			nat_fwd_format(old, cur, sizeof(cur));
			return err_set(-ENOENT, "forward '%s': %s port %u is forwarded elsewhere (%s)",
				       spec, nat_proto_name(f->proto), f->port, cur);
		}
		return fwd_del_one(p, fwds_of(p, f), old, spec);
	}
	if (!old4 && !old6)
		return err_set(-ENOENT, "forward '%s': %s port %u is not forwarded in %s", spec,
			       nat_proto_name(f->proto), f->port, p->bridge);
	if (old4)
		rc = fwd_del_one(p, &p->fwds, old4, spec);
	if (rc == 0 && old6)
		rc = fwd_del_one(p, &p->fwds6, old6, spec);
	return rc;
}

static void fwd_list_add(json_t *arr, const struct nat_fwds *l)
{
	struct nat_fwd *v;
	char s[NAT_FWD_STRLEN];

	if (nat_fwds_sorted(l, &v))
		return;
	for (size_t i = 0; i < l->n; i++) {
		nat_fwd_format(&v[i], s, sizeof(s));
		json_array_append_new(arr, json_string(s));
	}
	free(v);
}

/* IPv4's first, then IPv6's, each by protocol and port. */
static json_t *fwd_list(struct nat_priv *p)
{
	json_t *arr = json_array();

	fwd_list_add(arr, &p->fwds);
	fwd_list_add(arr, &p->fwds6);
	return json_pack("{s:s, s:o}", "network", p->bridge, "forwards", arr);
}

static int nat_command(struct netd_net *net, const char *cmd, json_t *req, json_t **result)
{
	struct nat_priv *p = net->priv;
	bool add = !strcmp(cmd, "forward-add"), has_dest = false, named;
	const char *spec;
	struct nat_fwd f;
	char canon[NAT_FWD_STRLEN];
	int rc;

	if (!add && strcmp(cmd, "forward-del") && strcmp(cmd, "forward-list"))
		return -EOPNOTSUPP;
	named = json_object_get(req, "net") != NULL;
	if (!p || !p->applied) {
		if (!named && other_nat_up(net))
			return -EOPNOTSUPP; /* that one answers */
		return err_set(-ENETDOWN, "network %s is down", net->conf.name);
	}
	if (!strcmp(cmd, "forward-list")) {
		*result = fwd_list(p);
		return 0;
	}
	spec = json_string_value(json_object_get(req, "forward"));
	if (!spec)
		return err_set(-EINVAL, "'%s' needs a 'forward' string (PROTO:PORT:ADDRESS:PORT)", cmd);
	rc = nat_fwd_parse(spec, !add, &f, &has_dest);
	if (rc)
		return rc;
	if (!named && belongs_elsewhere(net, &f, has_dest))
		return -EOPNOTSUPP;
	if (add) {
		rc = nat_fwd_check(&f, &p->gw, gw6_of(p), p->bridge);
		if (rc == 0)
			rc = fwd_add(net, p, &f, spec);
	} else {
		rc = fwd_del(p, &f, has_dest, spec);
	}
	if (rc)
		return rc;
	if (add || has_dest)
		nat_fwd_format(&f, canon, sizeof(canon));
	else
		snprintf(canon, sizeof(canon), "%s:%u", nat_proto_name(f.proto), f.port);
	*result = json_pack("{s:s, s:s}", "network", p->bridge, "forward", canon);
	return 0;
}

static const char *const nat_commands[] = { "forward-add", "forward-del", "forward-list", NULL };

const struct netd_mode_ops nat_mode_ops = {
	.name = "nat",
	.up = nat_up,
	.down = nat_down,
	.vif_online = nat_vif_online,
	.vif_offline = nat_vif_offline,
	.status = nat_status,
	.save = nat_save,
	.free = nat_free,
	.command = nat_command,
	.commands = nat_commands,
	.steps = nat_step_names,
	.sweep = nat_sweep,
};
