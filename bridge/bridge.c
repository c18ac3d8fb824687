/* bridge: bridge mode, Xen's classic renaming dance and the modern style.
 *
 * classic (Xen's historic network-bridge):
 *   eth0 ──rename──> peth0 (MAC fe:ff:ff:ff:ff:ff, NOARP) ─┐
 *   veth0 ─rename──> eth0 (eth0's MAC, addresses, routes)  │ veth pair
 *                    vif0.0 ───────────────────────────────┤
 *                                                  xenbr0 ─┘ (ports: peth0, vif0.0, vifD.N…)
 * modern (Debian, Xen 4.x docs): eth0 becomes a port of xenbr0, which takes
 *   eth0's MAC, addresses and routes.
 *
 * Both run as a list of named steps (fault-injectable, netd_txn_apply());
 * any failure, and `down`, go through br_snapshot_restore(), the single undo
 * path. */
#include <errno.h>
#include <net/if_arp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/port.h"
#include "bridge/snapshot.h"
#include "lib/err.h"
#include "lib/fault.h"
#include "lib/log.h"
#include "lib/nl_addr.h"
#include "lib/nl_link.h"
#include "lib/nl_route.h"
#include "netd/mode.h"
#include "netd/txn.h"
#include "antispoof/antispoof.h"
#include "antispoof/as_gw.h"

struct br_priv {
	struct br_snapshot snap;
	struct br_created created;
	char pdev[IFNAMSIZ]; /* classic: peth0 */
	enum br_style style; /* of the setup on the host, which may predate the config */
	bool have_snap;
};

struct br_step {
	const char *name;
	int (*run)(struct netd_net *net, struct br_priv *p);
};

static const uint8_t port_mac[6] = { 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff };

static int ifindex_of(const char *name)
{
	struct nl_link l;
	int rc = nl_link_get(name, &l);

	return rc ? rc : l.ifindex;
}

/* ---- steps shared by both styles ---- */

/* Pin the bridge's MTU. The kernel only marks a bridge MTU as the user's (and
 * stops lowering it to its smallest port's) when the value actually changes,
 * so set a different value first. */
static int pin_mtu(int br, unsigned mtu)
{
	int rc = nl_link_set_mtu(br, mtu > 68 ? mtu - 1 : mtu + 1);

	return rc ? rc : nl_link_set_mtu(br, mtu);
}

static int step_create_bridge(struct netd_net *net, struct br_priv *p)
{
	return nl_bridge_create(p->created.bridge);
}

/* Routes leave the physdev first: an identical route on two devices would
 * make the second add fail with EEXIST. */
static int move_routes(struct br_priv *p, const char *to)
{
	int dst = ifindex_of(to), rc = 0;

	if (dst < 0)
		return dst;
	for (size_t i = 0; i < p->snap.routes.n && rc == 0; i++) {
		rc = nl_route_remove(&p->snap.routes.v[i], p->snap.ifindex);
		if (rc == 0)
			rc = nl_route_replay(&p->snap.routes.v[i], dst);
	}
	return rc;
}

/* ---- classic ---- */

/* The bridge keeps the LAN's MTU whatever a guest's vif asks for (pinned, so
 * vifs plugged later still get the LAN's MTU), and does not answer ARP: it
 * holds no address, but with arp_ignore=0 the kernel would answer for eth0's
 * addresses with the bridge's MAC, as Xen's network-bridge knew. */
static int step_bridge_setup(struct netd_net *net, struct br_priv *p)
{
	int br = ifindex_of(p->created.bridge), rc;

	if (br < 0)
		return br;
	rc = pin_mtu(br, p->snap.mtu);
	return rc ? rc : nl_link_set_arp(br, false);
}

static int step_physdev_down(struct netd_net *net, struct br_priv *p)
{
	return nl_link_set_up(p->snap.ifindex, false);
}

static int step_create_veth(struct netd_net *net, struct br_priv *p)
{
	return nl_veth_create(p->created.veth, p->created.vif0);
}

static int step_copy_mac(struct netd_net *net, struct br_priv *p)
{
	int veth = ifindex_of(p->created.veth), vif0 = ifindex_of(p->created.vif0), rc;

	if (veth < 0 || vif0 < 0)
		return veth < 0 ? veth : vif0;
	rc = nl_link_set_mac(veth, p->snap.mac);
	if (rc == 0)
		rc = nl_link_set_mtu(veth, p->snap.mtu);
	if (rc == 0)
		rc = nl_link_set_mtu(vif0, p->snap.mtu);
	return rc;
}

static int step_copy_addrs(struct netd_net *net, struct br_priv *p)
{
	int veth = ifindex_of(p->created.veth), rc = 0;

	if (veth < 0)
		return veth;
	for (size_t i = 0; i < p->snap.addrs.n && rc == 0; i++)
		rc = nl_addr_replay(&p->snap.addrs.v[i], veth);
	return rc;
}

static int step_flush_addrs(struct netd_net *net, struct br_priv *p)
{
	int rc = 0;

	/* Backwards: secondaries before their primary. */
	for (size_t i = p->snap.addrs.n; i-- > 0 && rc == 0;)
		rc = nl_addr_remove(&p->snap.addrs.v[i], p->snap.ifindex);
	return rc;
}

static int step_rename_physdev(struct netd_net *net, struct br_priv *p)
{
	return nl_link_rename(p->snap.ifindex, p->pdev);
}

static int step_rename_veth(struct netd_net *net, struct br_priv *p)
{
	int veth = ifindex_of(p->created.veth);

	return veth < 0 ? veth : nl_link_rename(veth, p->snap.name);
}

static int step_port_mac(struct netd_net *net, struct br_priv *p)
{
	return nl_link_set_mac(p->snap.ifindex, port_mac);
}

static int step_arp_off(struct netd_net *net, struct br_priv *p)
{
	return nl_link_set_arp(p->snap.ifindex, false);
}

static int step_enslave_classic(struct netd_net *net, struct br_priv *p)
{
	int br = ifindex_of(p->created.bridge), vif0 = ifindex_of(p->created.vif0), rc;

	if (br < 0 || vif0 < 0)
		return br < 0 ? br : vif0;
	rc = nl_link_set_master(p->snap.ifindex, br);
	return rc ? rc : nl_link_set_master(vif0, br);
}

static int step_links_up_classic(struct netd_net *net, struct br_priv *p)
{
	const char *names[] = { p->pdev, p->created.vif0, p->created.bridge, p->snap.name };
	int rc = 0;

	for (size_t i = 0; i < 4 && rc == 0; i++) {
		int idx = ifindex_of(names[i]);

		rc = idx < 0 ? idx : nl_link_set_up(idx, true);
	}
	return rc;
}

static int step_move_routes_classic(struct netd_net *net, struct br_priv *p)
{
	return move_routes(p, p->snap.name);
}

/* ---- modern ---- */

static int step_bridge_mac(struct netd_net *net, struct br_priv *p)
{
	int br = ifindex_of(p->created.bridge), rc;

	/* The bridge answers for eth0 now: it takes eth0's MAC (pinned, so it
	 * no longer follows its ports) and MTU. */
	if (br < 0)
		return br;
	rc = nl_link_set_mac(br, p->snap.mac);
	return rc ? rc : pin_mtu(br, p->snap.mtu);
}

static int step_enslave_modern(struct netd_net *net, struct br_priv *p)
{
	int br = ifindex_of(p->created.bridge);

	return br < 0 ? br : nl_link_set_master(p->snap.ifindex, br);
}

static int step_move_addrs(struct netd_net *net, struct br_priv *p)
{
	int br = ifindex_of(p->created.bridge), rc = 0;

	if (br < 0)
		return br;
	for (size_t i = 0; i < p->snap.addrs.n && rc == 0; i++)
		rc = nl_addr_replay(&p->snap.addrs.v[i], br);
	for (size_t i = p->snap.addrs.n; i-- > 0 && rc == 0;)
		rc = nl_addr_remove(&p->snap.addrs.v[i], p->snap.ifindex);
	return rc;
}

static int step_links_up_modern(struct netd_net *net, struct br_priv *p)
{
	int br = ifindex_of(p->created.bridge), rc;

	if (br < 0)
		return br;
	rc = nl_link_set_up(p->snap.ifindex, true);
	return rc ? rc : nl_link_set_up(br, true);
}

static int step_move_routes_modern(struct netd_net *net, struct br_priv *p)
{
	return move_routes(p, p->created.bridge);
}

static const struct br_step classic_steps[] = {
	{ "create-bridge", step_create_bridge },
	{ "bridge-setup", step_bridge_setup },
	{ "physdev-down", step_physdev_down },
	{ "create-veth", step_create_veth },
	{ "copy-mac", step_copy_mac },
	{ "copy-addrs", step_copy_addrs },
	{ "flush-addrs", step_flush_addrs },
	{ "rename-physdev", step_rename_physdev },
	{ "rename-veth", step_rename_veth },
	{ "port-mac", step_port_mac },
	{ "arp-off", step_arp_off },
	{ "enslave", step_enslave_classic },
	{ "links-up", step_links_up_classic },
	{ "move-routes", step_move_routes_classic },
	{ NULL, NULL },
};

static const struct br_step modern_steps[] = {
	{ "create-bridge", step_create_bridge },
	{ "bridge-mac", step_bridge_mac },
	{ "enslave", step_enslave_modern },
	{ "move-addrs", step_move_addrs },
	{ "links-up", step_links_up_modern },
	{ "move-routes", step_move_routes_modern },
	{ NULL, NULL },
};

static const struct br_step *steps_for(const struct netd_net_conf *c)
{
	return c->style == BR_STYLE_CLASSIC ? classic_steps : modern_steps;
}

static const char *const *br_steps(const struct netd_net_conf *c)
{
	static const char *names[2][16];
	const struct br_step *s = steps_for(c);
	const char **out = names[c->style == BR_STYLE_CLASSIC];

	for (size_t i = 0; s[i].name; i++)
		out[i] = s[i].name;
	return out;
}

/* ---- names, adoption, checks ---- */

/* Xen derives the classic names from the physdev's number: eth1 → veth1, vif0.1. */
static int br_names(const struct netd_net_conf *c, struct br_priv *p)
{
	const char *d = c->physdev + strlen(c->physdev);
	unsigned long n;

	while (d > c->physdev && d[-1] >= '0' && d[-1] <= '9')
		d--;
	n = *d ? strtoul(d, NULL, 10) : 0;
	memset(&p->created, 0, sizeof(p->created));
	p->pdev[0] = '\0';
	p->style = c->style;
	snprintf(p->created.bridge, IFNAMSIZ, "%s", c->name);
	if (c->style != BR_STYLE_CLASSIC)
		return 0;
	if (strlen(c->physdev) + 1 >= IFNAMSIZ || n > 9999)
		return err_set(-EINVAL, "%s: physdev name %s too long for classic style (p%s)",
			       c->name, c->physdev, c->physdev);
	snprintf(p->pdev, IFNAMSIZ, "p%.14s", c->physdev);
	snprintf(p->created.veth, IFNAMSIZ, "veth%lu", n);
	snprintf(p->created.vif0, IFNAMSIZ, "vif0.%lu", n);
	return 0;
}

/* Is the kernel still showing the finished setup we recorded? */
static bool br_is_applied(const struct br_priv *p)
{
	struct nl_link br, phys, l;

	if (nl_link_get(p->created.bridge, &br) || strcmp(br.kind, "bridge"))
		return false;
	if (nl_link_get_index(p->snap.ifindex, &phys) || phys.master != br.ifindex)
		return false;
	if (p->style == BR_STYLE_MODERN)
		return !strcmp(phys.name, p->snap.name);
	return !strcmp(phys.name, p->pdev) && nl_link_get(p->snap.name, &l) == 0 &&
	       !strcmp(l.kind, "veth") && nl_link_get(p->created.vif0, &l) == 0 &&
	       l.master == br.ifindex;
}

static int br_precheck(const struct netd_net_conf *c, const struct br_priv *p)
{
	const char *mine[] = { p->created.bridge, p->created.veth, p->created.vif0, p->pdev };
	struct nl_link l;
	int rc;

	rc = nl_link_get(c->physdev, &l);
	if (rc)
		return err_set(rc, "%s: physdev %s does not exist", c->name, c->physdev);
	if (l.master)
		return err_set(-EBUSY, "%s: physdev %s is already a port of another device",
			       c->name, c->physdev);
	if (!strcmp(l.kind, "bridge"))
		return err_set(-EINVAL, "%s: physdev %s is a bridge", c->name, c->physdev);
	if (l.type != ARPHRD_ETHER)
		return err_set(-EINVAL, "%s: physdev %s is not an Ethernet device", c->name,
			       c->physdev);
	for (size_t i = 0; i < 4; i++)
		if (mine[i][0] && nl_link_exists(mine[i]))
			return err_set(-EEXIST, "%s: %s already exists; refusing to take it over",
				       c->name, mine[i]);
	return 0;
}

/* The saved names win over the config's: the config may have changed since. */
static int br_load_saved(struct br_priv *p, json_t *saved)
{
	json_t *ms = json_object_get(saved, "mode_state");
	json_t *snap = json_object_get(ms, "physdev");
	const char *style, *bridge, *veth, *vif0, *pdev;
	json_error_t e;

	if (!snap || json_unpack_ex(ms, &e, 0, "{s:s, s:s, s:s, s:s, s:s}", "style", &style,
				    "bridge", &bridge, "veth", &veth, "vif0", &vif0, "pdev", &pdev))
		return err_set(-EINVAL, "state: bridge mode state incomplete");
	if (strlen(bridge) >= IFNAMSIZ || strlen(veth) >= IFNAMSIZ || strlen(vif0) >= IFNAMSIZ ||
	    strlen(pdev) >= IFNAMSIZ)
		return err_set(-EINVAL, "state: interface name too long");
	p->style = strcmp(style, "classic") ? BR_STYLE_MODERN : BR_STYLE_CLASSIC;
	snprintf(p->created.bridge, IFNAMSIZ, "%s", bridge);
	snprintf(p->created.veth, IFNAMSIZ, "%s", veth);
	snprintf(p->created.vif0, IFNAMSIZ, "%s", vif0);
	snprintf(p->pdev, IFNAMSIZ, "%s", pdev);
	return br_snapshot_from_json(snap, &p->snap);
}

static int br_txn_run(struct netd_net *net, void *p, size_t i)
{
	return steps_for(&net->conf)[i].run(net, p);
}

/* The bridge goes, and the remembered vifs' ports with it: their
 * anti-spoofing elements go too, as at down. br_txn_done may have made
 * them (an `applied` checkpoint that failed after it: left, a guest's
 * filters outlived its port until the next start's sweep); a repair's
 * restore takes the old ones before its apply makes them again. A
 * failure is logged, not the undo's: the host is as before the network
 * was up but for elements the next start sweeps. */
static int br_txn_undo(struct netd_net *net, void *data)
{
	struct br_priv *p = data;
	int rc = br_snapshot_restore(&p->snap, &p->created);

	if (rc)
		return rc;
	for (struct netd_vif *v = net->vifs; v; v = v->next)
		if (as_vif_unprotect(&v->vif, AS_FAM_BRIDGE, net->conf.antispoof))
			log_warn("%s: %s", net->conf.name, err_msg());
	return 0;
}

static int br_vif_online(struct netd_net *net, const struct vif *vif);

/* Every step done, before the "applied" checkpoint: the vifs the network
 * remembers (of a setup rolled back at start, or repaired: a bridge
 * deleted by hand took them with it) ports of its bridge again, with their
 * filters; Dom0's addresses, which the filters name, have moved with the
 * setup. A netd killed meanwhile leaves the record "applying", so the next
 * rolls the half-plugged setup back and applies it again; an "applied" one
 * it would adopt as it is, a guest without its port. A first up has no
 * vifs yet. */
static void br_txn_done(struct netd_net *net, void *data)
{
	as_gw_invalidate();
	for (struct netd_vif *v = net->vifs; v; v = v->next)
		if (br_vif_online(net, &v->vif))
			log_err("%s: %s not a port again: %s", net->conf.name, v->vif.ifname,
				err_msg());
}

static const struct netd_txn br_txn = {
	.run = br_txn_run,
	.done = br_txn_done,
	.undo = br_txn_undo,
};

/* The names of the setup to apply (the config's), once the host is
 * restored: checked before they replace the recorded ones, which a
 * restore still needs if not. The names come from the config's physdev,
 * so the snapshot the steps apply must be of that device too: one the
 * config names anew gets its own, taken now, before netd touched it; the
 * recorded one, of the device just restored, has served. (A start no
 * longer adopts a setup on another device (br_same_setup()): kept as the
 * one place that holds names and snapshot to one device.) */
static int br_repair_names(struct netd_net *net, void *data)
{
	struct br_priv *p = data, want = { 0 };
	int rc = br_names(&net->conf, &want);

	if (rc == 0)
		rc = br_precheck(&net->conf, &want);
	if (rc)
		return rc;
	if (strcmp(net->conf.physdev, p->snap.name)) {
		rc = br_snapshot_take(net->conf.physdev, &want.snap);
		if (rc)
			return err_prefix(rc, "%s", net->conf.name);
		log_warn("%s: physdev is %s in the config, was %s: applying the setup on %s",
			 net->conf.name, net->conf.physdev, p->snap.name, net->conf.physdev);
		br_snapshot_free(&p->snap);
		p->snap = want.snap;
	}
	p->created = want.created;
	memcpy(p->pdev, want.pdev, sizeof(p->pdev));
	p->style = want.style;
	return 0;
}

/* Up on a network that is up whose setup was damaged behind netd's back
 * (its bridge deleted, the physdev renamed back): the host goes back to
 * what the snapshot of the first up says, and the setup is applied again
 * from that same snapshot. A new one would record the damage as the host's
 * own (eth0 without the addresses the deleted bridge took with it), and
 * `down` would restore that. Whatever fails, the snapshot stays: `down`,
 * SIGTERM and the next netd restore the host from it. */
FAULT_DECLARE(br_repair_step, "bridge-repair");

static int br_repair(struct netd_net *net, struct br_priv *p)
{
	const struct netd_net_conf *c = &net->conf;
	const struct netd_repair r = {
		.step = br_repair_step,
		.restores = p->snap.name,
		.prepare = br_repair_names,
	};
	int rc;

	log_warn("%s: the bridge setup is no longer what netd applied; restoring %s and "
		 "applying it again", c->name, p->snap.name);
	rc = netd_txn_repair(net, &br_txn, &r, p);
	if (rc)
		return rc;
	log_info("%s: bridge mode (%s) on %s repaired", c->name,
		 c->style == BR_STYLE_CLASSIC ? "classic" : "modern", c->physdev);
	return 0;
}

static const char *br_style_name(enum br_style style)
{
	return style == BR_STYLE_CLASSIC ? "classic" : "modern";
}

/* Is the recorded setup the config's (its physdev and style)? One that is
 * not is rolled back and the config's applied, as route and nat mode do:
 * adopted, it stayed on the old device (or with the old names) while
 * status showed the config's. */
static bool br_same_setup(const struct br_priv *p, const struct netd_net_conf *c)
{
	return p->style == c->style && !strcmp(p->snap.name, c->physdev);
}

static int br_up(struct netd_net *net, json_t *saved)
{
	const struct netd_net_conf *c = &net->conf;
	struct br_priv *p = net->priv;
	int rc;

	if (!p) {
		p = net->priv = calloc(1, sizeof(*p));
		if (!p)
			return err_set(-ENOMEM, "out of memory");
	}
	if (p->have_snap) /* up twice: the setup as recorded, or mended */
		return br_is_applied(p) ? 0 : br_repair(net, p);
	rc = br_names(c, p);
	if (rc)
		return rc;

	if (saved && !p->have_snap) {
		const char *phase = json_string_value(json_object_get(saved, "phase"));

		rc = br_load_saved(p, saved);
		if (rc) {
			br_snapshot_free(&p->snap);
			net->record_unreadable = true;
			return err_prefix(rc, "%s: unreadable state", c->name);
		}
		p->have_snap = true;
		if (phase && !strcmp(phase, "applied") && br_same_setup(p, c) && br_is_applied(p)) {
			log_info("%s: adopted the running bridge setup of a previous netd", c->name);
			return 0;
		}
		if (br_same_setup(p, c))
			log_warn("%s: previous netd left a %s setup; rolling it back first", c->name,
				 phase ? phase : "unknown");
		else
			log_warn("%s: previous netd left a %s setup on %s, the config is %s on %s; "
				 "rolling it back first", c->name, br_style_name(p->style),
				 p->snap.name, br_style_name(c->style), c->physdev);
		rc = FAULT_POINT("rollback-previous"); /* tests: a rollback that fails */
		if (rc == 0)
			rc = br_snapshot_restore(&p->snap, &p->created);
		br_snapshot_free(&p->snap);
		p->have_snap = false;
		if (rc)
			return err_prefix(rc, "%s: cannot roll back the previous setup", c->name);
		net->prev_undone = true;
		rc = br_names(c, p);
		if (rc)
			return rc;
	}

	rc = br_precheck(c, p);
	if (rc)
		return rc;
	rc = br_snapshot_take(c->physdev, &p->snap);
	if (rc)
		return err_prefix(rc, "%s", c->name);
	p->have_snap = true;
	/* The vifs of a setup rolled back (its bridge deleted took them
	 * with it; a netd killed mid-repair) are remembered: ports again
	 * (br_txn_done), as nat and ovs mode plug theirs. */
	rc = netd_txn_apply(net, &br_txn, p);
	if (rc == 0) {
		log_info("%s: bridge mode (%s) up on %s", c->name,
			 c->style == BR_STYLE_CLASSIC ? "classic" : "modern", c->physdev);
		return 0;
	}
	br_snapshot_free(&p->snap);
	p->have_snap = false;
	return rc;
}

static int br_down(struct netd_net *net)
{
	struct br_priv *p = net->priv;
	int rc;

	if (!p || !p->have_snap)
		return 0;
	rc = br_snapshot_restore(&p->snap, &p->created);
	if (rc)
		return err_prefix(rc, "%s", net->conf.name);
	br_snapshot_free(&p->snap);
	p->have_snap = false;
	/* The vifs are off the bridge now; their filters go too (and the
	 * table with the last of them), and Dom0's IPv6 comes back on them
	 * (a reload may plug them into a route network, which needs it;
	 * one that plugs them into a switch again leaves it off).
	 * Failing here must not undo a down. */
	for (struct netd_vif *v = net->vifs; v; v = v->next)
		if (as_vif_unprotect(&v->vif, AS_FAM_BRIDGE, net->conf.antispoof))
			log_warn("%s: %s", net->conf.name, err_msg());
	netd_net_vifs_ipv6_restore(net);
	log_info("%s: bridge mode down, %s restored", net->conf.name, p->snap.name);
	return 0;
}

/* Port first (it checks the vif exists and is free), then its filters: with
 * Xen the guest cannot send before hotplug reports back, so there is no
 * window. A failure unplugs again, unless the vif was a port already (a
 * re-plug, whose old filters the failed transaction left in place). */
static int br_vif_online(struct netd_net *net, const struct vif *vif)
{
	char msg[ERR_MSG_MAX];
	bool was_port;
	int rc;

	rc = br_port_plug(net->conf.name, vif->ifname, vif->mtu);
	if (rc < 0)
		return rc;
	was_port = rc == 1;
	rc = FAULT_POINT("vif-antispoof"); /* tests: a port up, its filter not yet there */
	if (rc == 0)
		rc = as_vif_protect(vif, AS_FAM_BRIDGE, net->conf.antispoof);
	if (rc == 0 || was_port)
		return rc;
	snprintf(msg, sizeof(msg), "%s", err_msg());
	if (br_port_unplug(net->conf.name, vif->ifname))
		log_err("%s: %s", net->conf.name, err_msg());
	return err_set(rc, "%s", msg);
}

static int br_vif_offline(struct netd_net *net, const struct vif *vif)
{
	int rc = br_port_unplug(net->conf.name, vif->ifname);

	return rc ? rc : as_vif_unprotect(vif, AS_FAM_BRIDGE, net->conf.antispoof);
}

static int status_port(const struct nl_link *l, void *data)
{
	json_array_append_new(data, json_string(l->name));
	return 0;
}

static json_t *br_status(struct netd_net *net)
{
	struct br_priv *p = net->priv;
	json_t *ports = json_array(), *st, *all;
	struct nl_link br;

	if (p && nl_link_get(p->created.bridge, &br) == 0)
		nl_link_for_each_port(br.ifindex, status_port, ports);
	/* the setup as applied (the record's), not as configured */
	st = json_pack("{s:s, s:s, s:s, s:o, s:s}", "style",
		       br_style_name(p && p->have_snap ? p->style : net->conf.style), "physdev",
		       p && p->have_snap ? p->snap.name : net->conf.physdev, "bridge",
		       net->conf.name, "ports", ports,
		       "antispoof", net->conf.antispoof ? "yes" : "no");
	all = as_status_begin(st, AS_FAM_BRIDGE);
	for (struct netd_vif *v = net->vifs; v; v = v->next)
		as_status_put(st, all, v->vif.ifname);
	as_status_end(all);
	return st;
}

static json_t *br_save(struct netd_net *net)
{
	struct br_priv *p = net->priv;

	if (!p || !p->have_snap)
		return json_object();
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:o}",
			 "style", p->style == BR_STYLE_CLASSIC ? "classic" : "modern",
			 "bridge", p->created.bridge, "veth", p->created.veth, "vif0", p->created.vif0,
			 "pdev", p->pdev, "physdev", br_snapshot_to_json(&p->snap));
}

static const char *br_swept_bridge(const struct netd_net *net)
{
	const struct br_priv *p = net->priv;

	return p && p->have_snap ? p->created.bridge : NULL;
}

/* Guest ports of each bridge netd set up that its network does not remember. */
static int br_sweep(struct netd_net *const *nets, size_t n)
{
	return br_port_sweep_nets(nets, n, br_swept_bridge);
}

static void br_free(struct netd_net *net)
{
	struct br_priv *p = net->priv;

	if (p && p->have_snap)
		br_snapshot_free(&p->snap);
	free(p);
	net->priv = NULL;
}

const struct netd_mode_ops br_mode_ops = {
	.name = "bridge",
	.up = br_up,
	.down = br_down,
	.vif_online = br_vif_online,
	.vif_offline = br_vif_offline,
	.status = br_status,
	.save = br_save,
	.free = br_free,
	.steps = br_steps,
	.sweep = br_sweep,
};
