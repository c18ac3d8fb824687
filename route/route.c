/* route: route mode, Xen's network-route and vif-route in one daemon.
 *
 * up: IPv4 forwarding and proxy ARP on the physdev (what network-route did),
 * and, when the physdev has a global IPv6 address, IPv6 forwarding and proxy
 * NDP on it. Each sysctl is a named, fault-injectable step. Forwarding is
 * one switch per namespace, and a physdev's proxy settings may serve two
 * route networks, so all four are held through netd's registry
 * (netd/sysctl_hold.h): it keeps the values found before, and the last
 * network (route or nat) to let go restores them, on down, on a rollback, or
 * in a netd started after a crash. Guests are plugged by plug.c. */
#include "route/route.h"

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
#include "lib/sysctl.h"
#include "netd/sysctl_hold.h"
#include "netd/txn.h"
#include "route/host.h"
#include "antispoof/antispoof.h"
#include "antispoof/as_gw.h"

struct rt_knob {
	const char *step;
	const char *path; /* under /proc/sys; NULL: per physdev, net/<family>/conf/<physdev>/<key> */
	const char *family, *key;
	bool v6;
};

static const struct rt_knob knob_table[] = {
	{ "ip-forward", "net/ipv4/ip_forward", NULL, NULL, false },
	{ "ipv6-forward", "net/ipv6/conf/all/forwarding", NULL, NULL, true },
	{ "proxy-arp", NULL, "ipv4", "proxy_arp", false },
	{ "proxy-ndp", NULL, "ipv6", "proxy_ndp", true },
};
#define N_KNOBS (sizeof(knob_table) / sizeof(knob_table[0]))

static void knob_path(const struct rt_knob *k, const char *physdev, char *buf, size_t len)
{
	if (k->path)
		snprintf(buf, len, "%s", k->path);
	else
		snprintf(buf, len, "net/%s/conf/%s/%s", k->family, physdev, k->key);
}

static const char *const *rt_steps(const struct netd_net_conf *c)
{
	static const char *names[N_KNOBS + 1];

	for (size_t i = 0; i < N_KNOBS; i++)
		names[i] = knob_table[i].step;
	return names;
}

/* Does the host show every sysctl the setup needs? */
static bool rt_is_applied(const struct rt_priv *p)
{
	char path[RT_SYSCTL_PATH_MAX], val[RT_SYSCTL_VALUE_MAX];

	for (size_t i = 0; i < N_KNOBS; i++) {
		if (knob_table[i].v6 && !p->ipv6)
			continue;
		knob_path(&knob_table[i], p->physdev, path, sizeof(path));
		if (sysctl_read(path, val, sizeof(val)) || strcmp(val, "1"))
			return false;
	}
	return true;
}

/* Step i: hold knob i at 1 (one the host lacks, IPv6 without IPv6, is
 * skipped after its fault point). */
static int rt_txn_run(struct netd_net *net, void *data, size_t i)
{
	struct rt_priv *p = data;
	char path[RT_SYSCTL_PATH_MAX];
	int rc;

	if (knob_table[i].v6 && !p->ipv6)
		return 0;
	knob_path(&knob_table[i], p->physdev, path, sizeof(path));
	rc = netd_sysctl_hold(net, path, "1");
	return rc < 0 ? rc : 0;
}

static int rt_restore(struct netd_net *net, struct rt_priv *p);

static int rt_txn_undo(struct netd_net *net, void *p)
{
	return rt_restore(net, p);
}

static const struct netd_txn rt_txn = { .run = rt_txn_run, .undo = rt_txn_undo };

/* Hold every sysctl the setup needs at 1 (steps in order). Used by a fresh
 * up, to repair a drifted setup, and by adoption (faults: false), where it
 * only makes sure netd's registry counts this network as a holder. */
static int knobs_apply(struct netd_net *net, struct rt_priv *p, bool faults)
{
	return netd_txn_steps(net, &rt_txn, p, faults);
}

/* Let go of every sysctl the setup may hold, last step first; releasing
 * one not held is a no-op, so a setup that stopped half-way is covered. */
static int knobs_release(struct netd_net *net, struct rt_priv *p)
{
	char path[RT_SYSCTL_PATH_MAX], msg[ERR_MSG_MAX] = "";
	int first = 0;

	for (size_t i = N_KNOBS; i-- > 0;) {
		int rc;

		knob_path(&knob_table[i], p->physdev, path, sizeof(path));
		rc = netd_sysctl_release(net, path);
		if (rc && !first) {
			first = rc;
			snprintf(msg, sizeof(msg), "%s", err_msg());
		}
	}
	return first ? err_set(first, "%s", msg) : 0;
}

/* Everything back: guests' routes first, then the network's sysctls. */
static int rt_restore(struct netd_net *net, struct rt_priv *p)
{
	char msg[ERR_MSG_MAX] = "";
	int rc = rt_vifs_unplug_all(p), rc2;

	if (rc)
		snprintf(msg, sizeof(msg), "%s", err_msg());
	rc2 = knobs_release(net, p);
	if (rc)
		return err_set(rc, "%s", msg);
	if (rc2)
		return rc2;
	p->have_state = false;
	return 0;
}

static bool physdev_has_v6(int ifindex)
{
	struct in6_addr a[1];
	size_t n = 0;

	return rt_host_v6_addrs(ifindex, a, 1, &n) == 0 && n > 0;
}

static int rt_load_saved(struct rt_priv *p, json_t *saved)
{
	json_t *ms = json_object_get(saved, "mode_state"), *v;
	const char *physdev = json_string_value(json_object_get(ms, "physdev"));
	size_t i;
	int rc;

	if (!physdev || !physdev[0] || strlen(physdev) >= IFNAMSIZ ||
	    !json_is_boolean(json_object_get(ms, "ipv6")))
		return err_set(-EINVAL, "route mode state incomplete");
	snprintf(p->physdev, sizeof(p->physdev), "%s", physdev);
	p->ipv6 = json_is_true(json_object_get(ms, "ipv6"));
	/* The values to restore are netd's registry's (netd-sysctl-registry.json). A state
	 * file from before it ("knobs": [...]) is read all the same: those
	 * values are not taken over, the sysctls stay 1 after down. */
	json_array_foreach(json_object_get(ms, "vifs"), i, v) {
		const char *ifname = json_string_value(json_object_get(v, "ifname"));
		struct rt_vif *rv;

		if (!ifname || !ifname[0] || strlen(ifname) >= IFNAMSIZ)
			return err_set(-EINVAL, "vif %zu: bad name", i);
		rv = calloc(1, sizeof(*rv));
		if (!rv)
			return err_set(-ENOMEM, "out of memory");
		snprintf(rv->ifname, sizeof(rv->ifname), "%s", ifname);
		rv->next = p->vifs;
		p->vifs = rv;
		rc = rt_items_from_json(json_object_get(v, "items"), &rv->items);
		if (rc)
			return err_prefix(rc, "%s", ifname);
	}
	return 0;
}

static void rt_state_free(struct rt_priv *p)
{
	rt_vifs_free(p);
	p->have_state = false;
}

static const char *what_up(const struct rt_priv *p)
{
	return p->ipv6 ? "IPv4 and IPv6 forwarding, proxy ARP and NDP"
		       : "IPv4 forwarding, proxy ARP";
}

/* A setup is on the host already (up twice, or adopted): repair it if
 * someone reset a sysctl, without touching the guests' routes. */
static int rt_converge(struct netd_net *net, struct rt_priv *p)
{
	int rc;

	if (rt_is_applied(p))
		return 0;
	log_warn("%s: forwarding or proxy settings were changed behind netd's back; re-applying",
		 net->conf.name);
	rc = knobs_apply(net, p, true);
	if (rc == 0)
		rc = net->checkpoint(net, "applied");
	return rc ? err_prefix(rc, "%s", net->conf.name) : 0;
}

static int rt_vif_online(struct netd_net *net, const struct vif *vif);

/* The vifs netd remembers that the setup's record does not route, routed
 * again, as bridge and nat mode make theirs ports again; their filters are
 * put back too. After a rollback that is all of them (rt_restore() took
 * their routes, addresses, proxy entries and sysctls with it); at an
 * adoption, those a netd killed while it routed them again left half-done
 * (its state file written before), or whose routing again failed. What such
 * a cut plug made goes first, as a vif offline without a record removes it
 * (by address, netd's marked routes only): found in place, the plug would
 * not count it as its own, and the sweep would remove such a route. The
 * state file then lists what each plug made, for the next down, or netd,
 * to undo. */
static void rt_replug(struct netd_net *net, struct rt_priv *p)
{
	bool any = false;

	for (struct netd_vif *v = net->vifs; v; v = v->next) {
		if (rt_vif_find(p, v->vif.ifname))
			continue;
		if (rt_vif_unplug(net, p, &v->vif) || rt_vif_online(net, &v->vif))
			log_err("%s: %s not routed again: %s", net->conf.name, v->vif.ifname,
				err_msg());
		else
			any = true;
	}
	if (any && net->checkpoint(net, "applied"))
		log_err("%s: state not saved: %s", net->conf.name, err_msg());
}

static int rt_up(struct netd_net *net, json_t *saved)
{
	const struct netd_net_conf *c = &net->conf;
	struct rt_priv *p = net->priv;
	struct nl_link phys;
	int rc;

	if (!p) {
		p = net->priv = calloc(1, sizeof(*p));
		if (!p)
			return err_set(-ENOMEM, "out of memory");
	}
	if (p->have_state)
		return rt_converge(net, p);

	if (saved) {
		const char *phase = json_string_value(json_object_get(saved, "phase"));

		rc = rt_load_saved(p, saved);
		if (rc) {
			rt_state_free(p);
			net->record_unreadable = true;
			return err_prefix(rc, "%s: unreadable state", c->name);
		}
		p->have_state = true;
		if (phase && !strcmp(phase, "applied") && !strcmp(p->physdev, c->physdev)) {
			if (rt_is_applied(p)) {
				rc = knobs_apply(net, p, false);
				if (rc)
					return err_prefix(rc, "%s", c->name);
				log_info("%s: adopted the running route setup of a previous netd on %s",
					 c->name, p->physdev);
			} else if ((rc = rt_converge(net, p))) {
				return rc;
			}
			rt_replug(net, p);
			return 0;
		}
		log_warn("%s: previous netd left a %s route setup on %s; rolling it back first",
			 c->name, phase ? phase : "unknown", p->physdev);
		rc = rt_restore(net, p);
		if (rc)
			return err_prefix(rc, "%s: cannot roll back the previous setup", c->name);
		net->prev_undone = true;
		rt_state_free(p);
	}

	rc = nl_link_get(c->physdev, &phys);
	if (rc)
		return err_set(rc, "%s: physdev %s does not exist", c->name, c->physdev);
	snprintf(p->physdev, sizeof(p->physdev), "%s", c->physdev);
	p->ipv6 = physdev_has_v6(phys.ifindex);
	p->have_state = true;
	/* The registry records each value before it changes it. */
	rc = netd_txn_apply(net, &rt_txn, p);
	if (rc == 0) {
		as_gw_invalidate(); /* Dom0 has new addresses, routes */
		rt_replug(net, p);
		log_info("%s: route mode up on %s (%s)", c->name, p->physdev, what_up(p));
		return 0;
	}
	rt_state_free(p);
	return rc;
}

static int rt_down(struct netd_net *net)
{
	struct rt_priv *p = net->priv;
	int rc;

	if (!p || !p->have_state)
		return 0;
	rc = rt_restore(net, p);
	if (rc) {
		/* Keep what could not be undone in the state file for a retry. */
		net->checkpoint(net, "applied");
		return err_prefix(rc, "%s", net->conf.name);
	}
	rt_state_free(p);
	/* The vifs are unrouted now; their filters go too. Failing here must
	 * not undo a down. */
	for (struct netd_vif *v = net->vifs; v; v = v->next)
		if (as_vif_unprotect(&v->vif, AS_FAM_INET, net->conf.antispoof))
			log_warn("%s: %s", net->conf.name, err_msg());
	log_info("%s: route mode down, %s restored", net->conf.name, p->physdev);
	return 0;
}

/* Routes first, then the vif's filters (inet family: a routed vif is an L3
 * interface). A failure unplugs again, unless the vif was online already (a
 * re-plug keeps its old filters, which the failed transaction left alone). */
static int rt_vif_online(struct netd_net *net, const struct vif *vif)
{
	struct rt_priv *p = net->priv;
	char msg[ERR_MSG_MAX];
	bool was_online;
	int rc;

	if (!p || !p->have_state)
		return err_set(-ENETDOWN, "%s: network %s is down", vif->ifname, net->conf.name);
	was_online = rt_vif_find(p, vif->ifname) != NULL;
	rc = rt_vif_plug(net, p, vif);
	if (rc)
		return rc;
	rc = FAULT_POINT("vif-antispoof"); /* tests: routed, not yet filtered */
	if (rc == 0)
		rc = as_vif_protect(vif, AS_FAM_INET, net->conf.antispoof);
	if (rc == 0 || was_online)
		return rc;
	snprintf(msg, sizeof(msg), "%s", err_msg());
	if (rt_vif_unplug(net, p, vif))
		log_err("%s: %s", net->conf.name, err_msg());
	return err_set(rc, "%s", msg);
}

static int rt_vif_offline(struct netd_net *net, const struct vif *vif)
{
	struct rt_priv *p = net->priv;
	int rc;

	if (!p || !p->have_state)
		return 0;
	rc = rt_vif_unplug(net, p, vif);
	return rc ? rc : as_vif_unprotect(vif, AS_FAM_INET, net->conf.antispoof);
}

static json_t *rt_status(struct netd_net *net)
{
	struct rt_priv *p = net->priv;
	const char *physdev = p && p->have_state ? p->physdev : net->conf.physdev;
	char a[INET6_ADDRSTRLEN] = "", val[RT_SYSCTL_VALUE_MAX], fwd[32] = "";
	json_t *routes = json_array(), *per_vif = json_object(), *j, *all;
	struct in_addr dom0;
	uint8_t plen;
	int phys = (int)if_nametoindex(physdev);

	if (phys > 0 && nl_addr_primary_v4(phys, &dom0, &plen) == 0)
		inet_ntop(AF_INET, &dom0, a, sizeof(a));
	if (sysctl_read("net/ipv4/ip_forward", val, sizeof(val)) == 0 && !strcmp(val, "1"))
		strcat(fwd, "ipv4");
	if (sysctl_read("net/ipv6/conf/all/forwarding", val, sizeof(val)) == 0 && !strcmp(val, "1"))
		strcat(fwd, fwd[0] ? ",ipv6" : "ipv6");
	/* The routes each plugged vif is meant to have, from its ip= list. */
	for (struct netd_vif *v = net->vifs; v; v = v->next) {
		json_t *list = json_array();

		for (unsigned i = 0; i < v->vif.n_ips; i++) {
			char ip[INET6_ADDRSTRLEN], r[INET6_ADDRSTRLEN + IFNAMSIZ + 32];
			int fam = v->vif.ips[i].family;

			inet_ntop(fam, &v->vif.ips[i].addr, ip, sizeof(ip));
			snprintf(r, sizeof(r), "%s/%d dev %s", ip, fam == AF_INET ? 32 : 128,
				 v->vif.ifname);
			json_array_append_new(routes, json_string(r));
			snprintf(r, sizeof(r), "%s/%d", ip, fam == AF_INET ? 32 : 128);
			json_array_append_new(list, json_string(r));
		}
		json_object_set_new(per_vif, v->vif.ifname, list);
	}
	j = json_pack("{s:s, s:s, s:s, s:s, s:I, s:o, s:o}", "physdev", physdev, "dom0_ip", a,
		      "forwarding", fwd[0] ? fwd : "off", "ipv6",
		      p && p->have_state && p->ipv6 ? "yes" : "no", "metric",
		      (json_int_t)net->conf.metric, "routes", routes, "vif_routes", per_vif);
	if (net->conf.has_gatewayip) {
		inet_ntop(net->conf.gatewayip.family, &net->conf.gatewayip.addr, a, sizeof(a));
		json_object_set_new(j, "gatewayip", json_string(a));
	}
	all = as_status_begin(j, AS_FAM_INET);
	for (struct netd_vif *v = net->vifs; v; v = v->next)
		as_status_put(j, all, v->vif.ifname);
	as_status_end(all);
	return j;
}

static json_t *rt_save(struct netd_net *net)
{
	struct rt_priv *p = net->priv;
	json_t *vifs;

	if (!p || !p->have_state)
		return json_object();
	vifs = json_array();
	for (struct rt_vif *v = p->vifs; v; v = v->next)
		json_array_append_new(vifs, json_pack("{s:s, s:o}", "ifname", v->ifname, "items",
						      rt_items_to_json(&v->items)));
	return json_pack("{s:s, s:b, s:o}", "physdev", p->physdev, "ipv6", p->ipv6, "vifs", vifs);
}

static void rt_free(struct netd_net *net)
{
	struct rt_priv *p = net->priv;

	if (p)
		rt_state_free(p);
	free(p);
	net->priv = NULL;
}

const struct netd_mode_ops rt_mode_ops = {
	.name = "route",
	.up = rt_up,
	.down = rt_down,
	.vif_online = rt_vif_online,
	.vif_offline = rt_vif_offline,
	.status = rt_status,
	.save = rt_save,
	.save_has_vifs = true,
	.free = rt_free,
	.steps = rt_steps,
	.sweep = rt_sweep_routes,
};
