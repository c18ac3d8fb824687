/* ovs: Open vSwitch mode, vifs as ports of an OVS bridge, bound by OVN.
 *
 * netd talks OVSDB (RFC 7047, ovsdb.h) to the host's ovsdb-server: no
 * ovs-vsctl per vif. The network's section names the bridge; netd creates
 * it when it is missing (and then owns it: removed at down) or uses the
 * one there (and then removes only its ports; should it be deleted by
 * hand, a repair makes it again, still not netd's). A plug is one
 * transaction: Interface and Port rows with what OVN's integration (OVS's
 * Documentation/topics/integration.rst) asks of a hypervisor, in
 * external_ids:
 *   iface-id      the logical port: the backend key iface-id, else the
 *                 network's iface_id template (default xen-{uuid}-{devid})
 *   attached-mac  the vif's mac=
 *   vm-id         the domain's UUID; xen-vm-name its name
 *   iface-status  active, or inactive for the one of an HVM guest's pair
 *                 (vifD.N and its emulated NIC's tap vifD.N-emu share the
 *                 iface-id) that is not in use: the PV vif wins once it
 *                 is plugged, the tap is active again when it goes
 *   netd-net      the network: what netd's sweep and down remove by
 * then the wait for ovs-vswitchd to apply it (cur_cfg, as ovs-vsctl
 * does), the anti-spoofing rules (flows.h) or, with ovn = yes, the wait
 * for ovn-controller's ovn-installed. Any failure takes the port out
 * again. VLANs: vif-openvswitch's bridge=BR.TAG:TRUNK:TRUNK and xl's
 * vlan= (PVID → tag, other VLANs → trunks; both: native-untagged). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/err.h"
#include "lib/fault.h"
#include "lib/log.h"
#include "lib/nl_link.h"
#include "netd/mode.h"
#include "netd/txn.h"
#include "ovs/flows.h"
#include "ovs/ovs_msg.h"
#include "ovs/ovsdb.h"

/* How long ovs-vswitchd may take to apply a change: it reconfigures every
 * port of every bridge at each change, which takes a while with thousands
 * of ports on a loaded host; and a plug must answer well inside libxl's
 * 40 s. */
#define OVS_CFG_WAIT_MS 15000

struct ovs_priv {
	struct ovsdb db;
	char bridge[IFNAMSIZ];
	char mgmt[NETD_PATH_MAX + 32]; /* ovs-ofctl's target: unix:<rundir>/<bridge>.mgmt */
	bool created; /* netd created the bridge: down removes it */
	/* The bridge was there, not netd's, when the network came up: one
	 * made again (deleted by hand, then a repair) is not netd's either,
	 * so that down leaves it as it leaves the one it found. */
	bool foreign;
	bool applied;
	/* Time plugs and unplugs spent waiting on OVS (ovsdb-server,
	 * ovs-vswitchd, ovs-ofctl), in microseconds: `status` shows it so
	 * that bench/ovs can tell netd's own part of a plug from OVS's. */
	unsigned long long ovs_wait_us;
};

static const char *const ovs_step_names[] = { "ovsdb", "bridge", NULL };

static const char *const *ovs_steps(const struct netd_net_conf *c)
{
	return ovs_step_names;
}

static int db_wait_cfg(struct ovs_priv *p, long long cfg)
{
	int rc;

	if (cfg < 0)
		return (int)cfg;
	rc = ovsdb_transact(&p->db, ovs_msg_wait_cfg(cfg, OVS_CFG_WAIT_MS),
			    OVS_CFG_WAIT_MS + 1000, NULL);
	if (rc == -ETIMEDOUT)
		return err_set(rc, "ovs-vswitchd did not apply the change within %d s (is it running?)",
			       OVS_CFG_WAIT_MS / 1000);
	return rc;
}

/* 1 and the bridge's owner/ports, 0: no such bridge. */
static int bridge_lookup(struct ovs_priv *p, char *uuid, size_t ulen, char *owner, size_t olen,
			 size_t *n_ports)
{
	json_t *res = NULL;
	const char *u, *o;
	int rc;

	rc = ovsdb_transact(&p->db, ovs_msg_bridge_find(p->bridge), OVSDB_CALL_TIMEOUT_MS, &res);
	if (rc == 0)
		rc = ovs_msg_bridge_found(res, &u, &o, n_ports);
	if (rc == 1) {
		snprintf(uuid, ulen, "%s", u);
		snprintf(owner, olen, "%s", o ? o : "");
	}
	json_decref(res);
	return rc;
}

static int step_ovsdb(struct netd_net *net, struct ovs_priv *p)
{
	char uuid[64], owner[IFNAMSIZ + 1];
	size_t n;
	int rc = bridge_lookup(p, uuid, sizeof(uuid), owner, sizeof(owner), &n);

	return rc < 0 ? rc : 0;
}

static int bridge_add(struct ovs_priv *p, const struct netd_net_conf *c, const char *owner)
{
	json_t *res = NULL;
	int rc = ovsdb_transact(&p->db, ovs_msg_bridge_add(p->bridge, c->datapath_type, owner),
				OVSDB_CALL_TIMEOUT_MS, &res);

	if (rc == 0)
		rc = db_wait_cfg(p, ovs_msg_cfg(res));
	json_decref(res);
	return rc ? err_prefix(rc, "cannot create OVS bridge %s", p->bridge) : 0;
}

/* The bridge someone else made is gone (deleted by hand, or by whoever
 * owns it): not made again. netd would make it with the config's
 * datapath_type and nothing else, and so lose what its owner set
 * (datapath_type, fail_mode, controller, protocols, other_config), a
 * bridge then netd's in all but name; and its owner may have deleted it
 * on purpose. The up or repair fails saying so; the network keeps its
 * record and vifs, which are plugged again into the bridge made again
 * by its owner at the next up (a repair's, or an adoption's at start:
 * ovs_up). */
static int foreign_gone(const struct ovs_priv *p, const char *net)
{
	return err_set(-ENOENT, "OVS bridge %s, which netd did not create, is gone: not made "
		       "again, as its owner's settings are not netd's to guess; make it again, "
		       "then `netdctl up %s` (or start netd)", p->bridge, net);
}

static int step_bridge(struct netd_net *net, struct ovs_priv *p)
{
	char uuid[64], owner[IFNAMSIZ + 1];
	size_t n;
	int rc = bridge_lookup(p, uuid, sizeof(uuid), owner, sizeof(owner), &n);

	if (rc < 0)
		return rc;
	if (rc == 1) {
		/* Marked ours but in no state file: a netd whose state was
		 * lost made it; it is still ours to remove. */
		p->created = !strcmp(owner, net->conf.name);
		p->foreign |= !p->created;
		return 0;
	}
	if (p->foreign)
		return foreign_gone(p, net->conf.name);
	/* Recorded before it exists: a crash between the two leaves a
	 * record of a bridge that may not be there, which undo tolerates. */
	p->created = true;
	rc = net->checkpoint(net, "applying");
	return rc ? rc : bridge_add(p, &net->conf, net->conf.name);
}

static int ovs_txn_run(struct netd_net *net, void *data, size_t i)
{
	struct ovs_priv *p = data;

	return i == 0 ? step_ovsdb(net, p) : step_bridge(net, p);
}

/* Every port marked with the network, then the bridge if netd made it and
 * nobody else put a port on it meanwhile. Idempotent. */
struct port_list {
	/* name -> uuid: a hash, as a repair looks each vif up in it */
	json_t *mine;
	size_t others;
	const char *net, *bridge;
};

static int collect_port(const char *name, const char *uuid, const char *owner, void *data)
{
	struct port_list *l = data;

	if (!owner || strcmp(owner, l->net)) {
		l->others += strcmp(name, l->bridge) != 0;
		return 0;
	}
	if (json_object_set_new(l->mine, name, json_string(uuid)))
		return err_set(-ENOMEM, "out of memory");
	return 0;
}

/* l->mine from res, ovs_msg_ports_list()'s result (*l set up first). */
static int ports_collect(struct port_list *l, const json_t *res)
{
	l->mine = json_object();
	return l->mine ? ovs_msg_ports_each(res, collect_port, l)
		       : err_set(-ENOMEM, "out of memory");
}

static int ports_mine(struct ovs_priv *p, const char *net, struct port_list *l)
{
	json_t *res = NULL;
	int rc;

	memset(l, 0, sizeof(*l));
	l->net = net;
	l->bridge = p->bridge;
	rc = ovsdb_transact(&p->db, ovs_msg_ports_list(p->bridge), OVSDB_CALL_TIMEOUT_MS, &res);
	if (rc == 0)
		rc = ports_collect(l, res);
	json_decref(res);
	return rc;
}

static void ports_free(struct port_list *l)
{
	json_decref(l->mine);
	l->mine = NULL;
}

static int port_remove(struct ovs_priv *p, const char *uuid, const char *twin, bool twin_active)
{
	json_t *res = NULL;
	int rc = ovsdb_transact(&p->db, ovs_msg_unplug(p->bridge, uuid, twin, twin_active),
				OVSDB_CALL_TIMEOUT_MS, &res);

	json_decref(res);
	return rc;
}

static int ovs_restore(struct netd_net *net, struct ovs_priv *p)
{
	char uuid[64], owner[IFNAMSIZ + 1];
	struct port_list l;
	json_t *res = NULL, *uuid_j;
	const char *name;
	size_t n;
	int rc;

	rc = ports_mine(p, net->conf.name, &l);
	json_object_foreach(l.mine, name, uuid_j) {
		if (rc == 0)
			rc = port_remove(p, json_string_value(uuid_j), NULL, false);
	}
	ports_free(&l);
	if (rc || !p->created)
		return rc;
	rc = bridge_lookup(p, uuid, sizeof(uuid), owner, sizeof(owner), &n);
	if (rc <= 0)
		return rc;
	if (strcmp(owner, net->conf.name)) {
		log_warn("%s: OVS bridge %s is no longer marked netd's; leaving it", net->conf.name,
			 p->bridge);
		return 0;
	}
	if (l.others) {
		log_warn("%s: OVS bridge %s has %zu ports netd did not add; leaving it",
			 net->conf.name, p->bridge, l.others);
		return 0;
	}
	rc = ovsdb_transact(&p->db, ovs_msg_bridge_del(uuid), OVSDB_CALL_TIMEOUT_MS, &res);
	json_decref(res);
	return rc;
}

/* v's OpenFlow rules gone. A bridge that is gone took them with it: a
 * foreign one deleted leaves the network failed, not down (foreign_gone),
 * and a guest's vif offline meanwhile (its shutdown) must not fail for
 * rules nobody can reach. Looked up on a failure only. */
static int vif_flows_del(struct ovs_priv *p, const struct vif *v)
{
	char uuid[64], owner[IFNAMSIZ + 1];
	size_t n;
	int rc = ovs_flows_del(p->mgmt, v);

	if (rc && bridge_lookup(p, uuid, sizeof(uuid), owner, sizeof(owner), &n) == 0)
		return 0;
	return rc;
}

/* The remembered vifs' OpenFlow rules (antispoof, without OVN), as at
 * down: they live in the bridge's flow table, not on its ports, so a
 * bridge netd did not create keeps them when their ports go. */
static void vifs_flows_del(struct netd_net *net, struct ovs_priv *p)
{
	if (!net->conf.antispoof || net->conf.ovn)
		return;
	for (struct netd_vif *v = net->vifs; v; v = v->next)
		if (vif_flows_del(p, &v->vif))
			log_warn("%s: %s", net->conf.name, err_msg());
}

/* The ports go (and a bridge netd made); the rules ovs_txn_done gave the
 * remembered vifs go too (p->applied: it ran, or the setup a repair
 * restores was applied): an `applied` checkpoint that failed after done
 * left them in a foreign bridge's table. A bridge that is gone took its
 * rules with it. */
static int ovs_txn_undo(struct netd_net *net, void *data)
{
	struct ovs_priv *p = data;
	char uuid[64], owner[IFNAMSIZ + 1];
	size_t n;

	if (p->applied && bridge_lookup(p, uuid, sizeof(uuid), owner, sizeof(owner), &n) == 1)
		vifs_flows_del(net, p);
	return ovs_restore(net, p);
}

static void ovs_txn_done(struct netd_net *net, void *data);

static const struct netd_txn ovs_txn = {
	.run = ovs_txn_run,
	.done = ovs_txn_done,
	.undo = ovs_txn_undo,
};

static int priv_init(struct netd_net *net)
{
	struct ovs_priv *p = net->priv;
	const char *slash;

	if (!p) {
		p = net->priv = calloc(1, sizeof(*p));
		if (!p)
			return err_set(-ENOMEM, "out of memory");
		ovsdb_init(&p->db, net->conf.ovsdb);
	}
	snprintf(p->bridge, sizeof(p->bridge), "%s", net->conf.name);
	/* ovs-vswitchd's OpenFlow socket sits beside ovsdb-server's in the
	 * run directory both are given (OVS_RUNDIR). */
	slash = strrchr(net->conf.ovsdb, '/');
	snprintf(p->mgmt, sizeof(p->mgmt), "unix:%.*s/%s.mgmt",
		 (int)(slash ? slash - net->conf.ovsdb : 0), net->conf.ovsdb, p->bridge);
	return 0;
}

static int ovs_vif_online(struct netd_net *net, const struct vif *vif);

/* Is ifname a port of the bridge marked the network's (l: ports_mine())? */
static bool port_listed(const struct port_list *l, const char *ifname)
{
	return json_object_get(l->mine, ifname) != NULL;
}

/* ifname's port is not as netd made it: off the list, to be plugged again. */
static void port_unlist(struct port_list *l, const char *ifname)
{
	json_object_del(l->mine, ifname);
}

static const char *port_changed(struct netd_net *net, const json_t *index,
				const struct vif *vif);

/* Does another network netd runs hold v, a vif this one's record names?
 * Plugged there after this record was written (a record older than the
 * host, the vif moved by hand meanwhile): it is that network's now, and
 * nothing of this one touches it (its MTU, Dom0's IPv6 on it, its state,
 * its port), where a plug again set them as this record says before OVSDB
 * refused the port, or made it a port of both. said: what is left undone,
 * logged; NULL: not logged (said already). */
static bool vif_elsewhere(const struct netd_net *net, const struct vif *v, const char *said)
{
	const struct netd_net *o = netd_vif_held_elsewhere(net, v);

	if (o && said)
		log_warn("%s: %s is network %s's now: %s", net->conf.name, v->ifname, o->conf.name,
			 said);
	return o != NULL;
}

/* What of the setup netd applied is no longer there (why: the first thing
 * missing). */
enum ovs_damage {
	OVS_INTACT,
	/* a remembered vif's port: gone, not the network's, or changed by
	 * hand (its iface-id, attached-mac, VLANs: the guest then in
	 * another logical port or VLAN than its keys say) */
	OVS_PORT_GONE,
	OVS_BRIDGE_GONE, /* the bridge, and every port with it */
};

/* The damage, or -errno when OVSDB cannot tell; *l the network's ports
 * as they should be, a changed one left off (ports_free() it, whatever
 * the result). */
static int ovs_damage(struct netd_net *net, struct ovs_priv *p, struct port_list *l, char *why,
		      size_t len)
{
	char uuid[64], owner[IFNAMSIZ + 1];
	json_t *res = NULL, *index = NULL;
	const char *what;
	size_t n;
	int rc = bridge_lookup(p, uuid, sizeof(uuid), owner, sizeof(owner), &n);

	memset(l, 0, sizeof(*l));
	if (rc == 0)
		snprintf(why, len, "OVS bridge %s is gone", p->bridge);
	if (rc <= 0)
		return rc < 0 ? rc : OVS_BRIDGE_GONE;
	l->net = net->conf.name;
	l->bridge = p->bridge;
	rc = ovsdb_transact(&p->db, ovs_msg_ports_list(p->bridge), OVSDB_CALL_TIMEOUT_MS, &res);
	if (rc == 0)
		rc = ports_collect(l, res);
	/* Each vif's rows looked up by name, not found by a walk of every
	 * row: that made the check of n vifs n^2 (at 4000 vifs, nothing
	 * damaged, about a second of netd's CPU per up; 0.2 s by name). */
	if (rc == 0 && !(index = ovs_msg_ports_index(res)))
		rc = err_set(-ENOMEM, "out of memory");
	for (struct netd_vif *v = net->vifs; rc >= 0 && v; v = v->next) {
		/* every vif looked at (each changed one unlisted), the
		 * first found said; another network's is none of this
		 * one's damage (vifs_plug_again() passes it over) */
		if (vif_elsewhere(net, &v->vif, "left as it is, not plugged again")) {
			v->elsewhere = true;
			continue;
		}
		if (!port_listed(l, v->vif.ifname)) {
			if (rc == OVS_INTACT)
				snprintf(why, len, "%s is no longer a port of OVS bridge %s",
					 v->vif.ifname, p->bridge);
			rc = OVS_PORT_GONE;
		} else if ((what = port_changed(net, index, &v->vif))) {
			if (rc == OVS_INTACT)
				snprintf(why, len, "%s's port on OVS bridge %s has another %s than "
					 "netd gave it", v->vif.ifname, p->bridge, what);
			port_unlist(l, v->vif.ifname);
			rc = OVS_PORT_GONE;
		}
	}
	json_decref(index);
	json_decref(res);
	return rc;
}

/* The remembered vifs ports again, their rules with them; with l
 * (ovs_damage()'s, which said those another network holds), only those it
 * does not list. Another network's vif is left as it is. */
static void vifs_plug_again(struct netd_net *net, const struct port_list *l)
{
	for (struct netd_vif *v = net->vifs; v; v = v->next) {
		if (l && port_listed(l, v->vif.ifname))
			continue;
		if (vif_elsewhere(net, &v->vif, l ? NULL : "left as it is, not plugged again")) {
			v->elsewhere = true;
			continue;
		}
		if (ovs_vif_online(net, &v->vif))
			log_err("%s: %s not a port again: %s", net->conf.name, v->vif.ifname,
				err_msg());
	}
}

/* Every step done, before the "applied" checkpoint: the remembered vifs
 * (of a setup rolled back at start, or repaired) ports again, with their
 * rules. A netd killed meanwhile leaves the record "applying", so the next
 * rolls the half-plugged setup back and applies it again; an "applied"
 * one it would adopt as it is, a guest without its port or its rules. A
 * first up has no vifs yet. */
static void ovs_txn_done(struct netd_net *net, void *data)
{
	struct ovs_priv *p = data;

	p->applied = true; /* vif_online plugs into an applied setup only */
	vifs_plug_again(net, NULL);
}

/* Up of a network that is up whose bridge was deleted behind netd's back
 * (ovs-vsctl del-br): its ports and the bridge if netd made it go, then
 * the setup is applied again and the vifs plugged again, as bridge and nat
 * mode repair theirs. A bridge that is there with some vifs' ports taken
 * away (del-port) keeps its other ports: only the vifs whose port is gone,
 * or not the network's, are plugged again. A re-plug of every vif cut
 * every guest off for a moment and, with ovn = yes, waited for
 * ovn-installed (up to ovn_wait) once per vif. */
FAULT_DECLARE(ovs_repair_step, "ovs-repair");

static int ovs_repair(struct netd_net *net, struct ovs_priv *p)
{
	const struct netd_repair r = {
		.step = ovs_repair_step,
		.restores = "the host",
	};
	char why[IFNAMSIZ * 2 + 64];
	struct port_list l;
	int rc = ovs_damage(net, p, &l, why, sizeof(why));

	/* OVSDB not answering (ovsdb-server restarting): nothing is known
	 * damaged, nothing was touched, so the network stays up rather than
	 * failed (which would refuse plugs once OVSDB answers again). */
	if (rc < 0)
		log_warn("%s: cannot tell whether the setup is as applied, left as it is: %s",
			 net->conf.name, err_msg());
	if (rc == OVS_PORT_GONE) {
		log_warn("%s: %s; plugging the vifs whose ports are gone again", net->conf.name,
			 why);
		vifs_plug_again(net, &l);
	}
	ports_free(&l);
	if (rc != OVS_BRIDGE_GONE)
		return 0;
	log_warn("%s: %s; restoring the host and applying it again", net->conf.name, why);
	rc = netd_txn_repair(net, &ovs_txn, &r, p);
	if (rc)
		return rc;
	log_info("%s: ovs mode repaired on %s bridge %s", net->conf.name,
		 p->created ? "its own" : "the existing", p->bridge);
	return 0;
}

static int ovs_up(struct netd_net *net, json_t *saved)
{
	struct ovs_priv *p;
	int rc;

	rc = priv_init(net);
	if (rc)
		return rc;
	p = net->priv;
	if (p->applied) /* up twice: the setup as applied, or mended */
		return ovs_repair(net, p);
	if (saved) {
		json_t *ms = json_object_get(saved, "mode_state");
		const char *phase = json_string_value(json_object_get(saved, "phase"));
		const char *br = json_string_value(json_object_get(ms, "bridge"));
		char uuid[64], owner[IFNAMSIZ + 1];
		size_t n;

		if (br && strlen(br) < sizeof(p->bridge))
			snprintf(p->bridge, sizeof(p->bridge), "%s", br);
		p->created = json_is_true(json_object_get(ms, "created"));
		/* a record from before the key: applied without creating it */
		p->foreign = json_object_get(ms, "foreign")
				     ? json_is_true(json_object_get(ms, "foreign"))
				     : phase && !strcmp(phase, "applied") && !p->created;
		rc = bridge_lookup(p, uuid, sizeof(uuid), owner, sizeof(owner), &n);
		if (rc < 0)
			return err_prefix(rc, "%s", net->conf.name);
		/* refused before anything is rolled back, so that the record
		 * and its vifs stay for the start after the bridge is back */
		if (rc == 0 && p->foreign) {
			net->record_waits = true;
			return err_prefix(foreign_gone(p, net->conf.name), "%s", net->conf.name);
		}
		if (phase && !strcmp(phase, "applied") && rc == 1) {
			p->applied = true;
			log_info("%s: adopted OVS bridge %s of a previous netd", net->conf.name,
				 p->bridge);
			/* the vifs whose ports went meanwhile (a bridge deleted
			 * and made again by its owner) plugged again */
			return ovs_repair(net, p);
		}
		log_warn("%s: previous netd left a %s setup; rolling it back first", net->conf.name,
			 phase ? phase : "unknown");
		rc = ovs_restore(net, p);
		if (rc)
			return err_prefix(rc, "%s: cannot roll back the previous setup",
					  net->conf.name);
		net->prev_undone = true;
		p->created = false;
		priv_init(net);
	}
	/* The vifs of a setup rolled back (a netd killed mid-repair left
	 * the bridge gone) are remembered: ports again (ovs_txn_done), as
	 * nat mode's. */
	rc = netd_txn_apply(net, &ovs_txn, p);
	p->applied = rc == 0;
	if (rc)
		return rc;
	log_info("%s: ovs mode up on %s bridge %s%s", net->conf.name,
		 p->created ? "its own" : "the existing", p->bridge, net->conf.ovn ? " (OVN)" : "");
	return 0;
}

static int ovs_down(struct netd_net *net)
{
	struct ovs_priv *p = net->priv;
	int rc;

	if (!p || !p->applied)
		return 0;
	vifs_flows_del(net, p);
	rc = ovs_restore(net, p);
	if (rc)
		return err_prefix(rc, "%s", net->conf.name);
	/* no longer ports: Dom0's IPv6 back, as bridge mode's down */
	netd_net_vifs_ipv6_restore(net);
	p->applied = false;
	p->foreign = false; /* the next up looks again */
	log_info("%s: ovs mode down, %s", net->conf.name,
		 p->created ? "bridge removed" : "its ports removed");
	return 0;
}

/* ---- vifs ---- */

/* {uuid} {domid} {devid} {name} in the network's template. A domain with
 * no known UUID gives "dom<domid>" for {uuid}, so the id stays unique. */
static int iface_id_make(const struct netd_net_conf *c, const struct vif *v, char *buf,
			 size_t len)
{
	const char *t = c->iface_id;
	size_t used = 0;

	if (v->iface_id[0]) {
		snprintf(buf, len, "%s", v->iface_id);
		return 0;
	}
	buf[0] = '\0';
	while (*t) {
		char piece[80];
		size_t n;

		if (!strncmp(t, "{uuid}", 6)) {
			if (v->vm_uuid[0])
				snprintf(piece, sizeof(piece), "%s", v->vm_uuid);
			else
				snprintf(piece, sizeof(piece), "dom%u", v->domid);
			t += 6;
		} else if (!strncmp(t, "{domid}", 7)) {
			snprintf(piece, sizeof(piece), "%u", v->domid);
			t += 7;
		} else if (!strncmp(t, "{devid}", 7)) {
			snprintf(piece, sizeof(piece), "%u", v->devid);
			t += 7;
		} else if (!strncmp(t, "{name}", 6)) {
			snprintf(piece, sizeof(piece), "%s", v->vm_name[0] ? v->vm_name : "");
			t += 6;
		} else {
			piece[0] = *t++;
			piece[1] = '\0';
		}
		n = strlen(piece);
		if (used + n >= len)
			return err_set(-ENAMETOOLONG, "%s: iface-id longer than %zu characters",
				       v->ifname, len - 1);
		memcpy(buf + used, piece, n + 1);
		used += n;
	}
	return 0;
}

struct vlan_cfg {
	int tag;
	uint16_t trunks[VIF_VLAN_ID_MAX];
	size_t n;
	const char *mode;
};

/* bridge=BR.TAG:TRUNK... wins over vlan= (vif-openvswitch reads only
 * bridge=). */
static int vlan_cfg(const struct vif *v, struct vlan_cfg *vc)
{
	struct vif_vlan vl;
	int rc;

	vc->tag = -1;
	vc->n = 0;
	vc->mode = NULL;
	if (v->bridge_vlan[0]) {
		rc = vif_bridge_vlan_parse(v->bridge_vlan, &vc->tag, vc->trunks, VIF_TRUNKS_MAX,
					   &vc->n);
	} else if (v->vlan[0]) {
		rc = vif_vlan_parse(v->vlan, &vl);
		for (unsigned vid = 1; rc == 0 && vid <= VIF_VLAN_ID_MAX; vid++) {
			if (!vif_vlan_is_member(&vl, vid) || vid == vl.pvid)
				continue;
			if (vif_vlan_is_untagged(&vl, vid))
				rc = err_set(-EINVAL,
					     "vlan=%s: VLAN %u untagged besides the PVID; an OVS port has one untagged VLAN",
					     v->vlan, vid);
			vc->trunks[vc->n++] = (uint16_t)vid;
		}
		vc->tag = vl.pvid ? vl.pvid : -1;
	} else {
		return 0;
	}
	if (rc == 0 && vc->tag >= 0 && vc->n)
		vc->mode = "native-untagged"; /* the PVID untagged, the trunks tagged */
	return rc ? err_prefix(rc, "%s", v->ifname) : 0;
}

static const struct netd_vif *twin_of(struct netd_net *net, const struct vif *v)
{
	return netd_net_vif_find(net, v->domid, v->devid, !v->emu);
}

/* A port already named like the vif: netd's (a re-plug) goes, anyone
 * else's is refused. */
static int port_clear(struct netd_net *net, struct ovs_priv *p, const struct vif *v)
{
	const char *uuid, *owner;
	json_t *res = NULL;
	int rc;

	rc = ovsdb_transact(&p->db, ovs_msg_port_find(v->ifname), OVSDB_CALL_TIMEOUT_MS, &res);
	if (rc == 0)
		rc = ovs_msg_port_found(res, &uuid, &owner);
	if (rc == 0 && (!owner || strcmp(owner, net->conf.name)))
		rc = err_set(-EBUSY, "%s: already a port in Open vSwitch, not netd's for %s",
			     v->ifname, net->conf.name);
	else if (rc == 0)
		rc = port_remove(p, uuid, NULL, false);
	json_decref(res);
	return rc == -ENOENT ? 0 : rc;
}

static int port_add(struct netd_net *net, struct ovs_priv *p, const struct vif *v,
		    const struct ovs_port *port)
{
	json_t *res = NULL;
	long long cfg;
	int rc;

	rc = ovsdb_transact(&p->db, ovs_msg_plug(port), OVSDB_CALL_TIMEOUT_MS, &res);
	if (rc == -EEXIST) {
		json_decref(res);
		res = NULL;
		rc = port_clear(net, p, v);
		if (rc == 0)
			rc = ovsdb_transact(&p->db, ovs_msg_plug(port), OVSDB_CALL_TIMEOUT_MS, &res);
	}
	if (rc) {
		json_decref(res);
		return err_prefix(rc, "%s: cannot add to OVS bridge %s", v->ifname, p->bridge);
	}
	cfg = ovs_msg_plug_cfg(res, p->bridge);
	json_decref(res);
	if (cfg < 0)
		return err_prefix((int)cfg, "%s", v->ifname);
	return db_wait_cfg(p, cfg);
}

/* Take v's port away (by name), with the twin's status. */
static int port_del(struct netd_net *net, struct ovs_priv *p, const struct vif *v,
		    const char *twin, bool twin_active)
{
	const char *uuid, *owner;
	json_t *res = NULL;
	int rc;

	rc = ovsdb_transact(&p->db, ovs_msg_port_find(v->ifname), OVSDB_CALL_TIMEOUT_MS, &res);
	if (rc == 0)
		rc = ovs_msg_port_found(res, &uuid, &owner);
	if (rc == 0 && owner && strcmp(owner, net->conf.name))
		rc = err_set(-EBUSY, "%s: a port of network %s, not %s", v->ifname, owner,
			     net->conf.name);
	else if (rc == 0)
		rc = port_remove(p, uuid, twin, twin_active);
	json_decref(res);
	if (rc == -ENOENT)
		return 0;
	return rc ? err_prefix(rc, "%s: cannot take off OVS bridge %s", v->ifname, p->bridge) : 0;
}

static long long mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

/* ovs-ofctl's fork and run count as OVS's time too. */
static int flows_add_timed(struct ovs_priv *p, const struct vif *vif, bool trunked,
			   bool replace)
{
	long long t = mono_us();
	int rc = ovs_flows_add(p->mgmt, vif, trunked, replace);

	p->ovs_wait_us += (unsigned long long)(mono_us() - t);
	return rc;
}

/* As vif-openvswitch: the vif's mtu= if given, and up (ovs-vswitchd
 * opens the device but leaves its state to whoever plugged it). A vif
 * that is missing is refused before OVSDB hears of it. */
static int link_prepare(const struct vif *vif)
{
	char was[VIF_SYSCTL_LEN];
	struct nl_link l;
	int rc = nl_link_get(vif->ifname, &l);

	if (rc)
		return err_set(rc, "%s: no such interface", vif->ifname);
	if (vif->mtu && l.mtu != vif->mtu) {
		rc = nl_link_set_mtu(l.ifindex, vif->mtu);
		if (rc)
			return err_prefix(rc, "%s: mtu %u", vif->ifname, vif->mtu);
	}
	/* Dom0's own IPv6 off before the port is up (vif_port_ipv6_off():
	 * frames on it are the switch's; with the userspace datapath Dom0's
	 * stack would see them too, a guest's router advertisements included);
	 * on one up already (a re-plug, a port an older netd left with IPv6
	 * on) as well. */
	rc = vif_port_ipv6_off(vif->ifname, was);
	if (rc)
		return rc;
	rc = l.flags & IFF_UP ? 0 : nl_link_set_up(l.ifindex, true);
	return rc ? err_prefix(rc, "%s: cannot bring up", vif->ifname) : 0;
}

/* The port a plug of vif makes, but for the HVM pair's status: the
 * strings in iface_id (128 bytes) and mac, the VLANs in *vc. */
static int port_want(struct netd_net *net, const struct vif *vif, struct ovs_port *port,
		     struct vlan_cfg *vc, char *iface_id, char mac[VIF_MAC_STRLEN])
{
	struct ovs_priv *p = net->priv;
	int rc = iface_id_make(&net->conf, vif, iface_id, 128);

	if (rc == 0)
		rc = vlan_cfg(vif, vc);
	if (rc)
		return rc;
	if (vif->has_mac)
		vif_mac_format(vif->mac, mac, VIF_MAC_STRLEN);
	*port = (struct ovs_port){
		.bridge = p->bridge,
		.ifname = vif->ifname,
		.net = net->conf.name,
		.iface_id = iface_id,
		.mac = vif->has_mac ? mac : NULL,
		.vm_id = vif->vm_uuid[0] ? vif->vm_uuid : NULL,
		.vm_name = vif->vm_name[0] ? vif->vm_name : NULL,
		.active = true,
		.tag = vc->tag,
		.trunks = vc->trunks,
		.n_trunks = vc->n,
		.vlan_mode = vc->mode,
	};
	return 0;
}

/* What of vif's port (in index, ovs_msg_ports_index()'s) is not what its
 * plug made (ovs_msg_port_differs()), or NULL: as made, or what it should
 * be cannot be told (logged; not a reason to re-plug). */
static const char *port_changed(struct netd_net *net, const json_t *index,
				const struct vif *vif)
{
	struct vlan_cfg *vc = malloc(sizeof(*vc));
	char iface_id[128], mac[VIF_MAC_STRLEN];
	struct ovs_port want;
	const char *why = NULL;
	int rc = vc ? port_want(net, vif, &want, vc, iface_id, mac)
		    : err_set(-ENOMEM, "out of memory");

	if (rc)
		log_warn("%s: %s: its port not checked: %s", net->conf.name, vif->ifname,
			 err_msg());
	else
		why = ovs_msg_port_differs(index, &want);
	free(vc);
	return why;
}

/* A plug undone: the vif is no port, its IPv6 the namespace's default
 * again (as vif offline leaves it); a failure is logged, the plug's own
 * error is the one reported. */
static void port_ipv6_back(struct netd_net *net, const struct vif *vif)
{
	if (vif_port_ipv6_restore(vif->ifname, NULL))
		log_err("%s: %s", net->conf.name, err_msg());
}

static int vif_online_do(struct netd_net *net, const struct vif *vif)
{
	struct ovs_priv *p = net->priv;
	const struct netd_vif *twin = twin_of(net, vif);
	char iface_id[128], mac[VIF_MAC_STRLEN], msg[ERR_MSG_MAX];
	struct vlan_cfg *vc;
	struct ovs_port port = { 0 };
	bool replug = netd_net_vif_find(net, vif->domid, vif->devid, vif->emu) != NULL;
	int rc;

	if (!p || !p->applied)
		return err_set(-ENETDOWN, "%s: network %s is down", vif->ifname, net->conf.name);
	vc = malloc(sizeof(*vc));
	if (!vc)
		return err_set(-ENOMEM, "out of memory");
	rc = port_want(net, vif, &port, vc, iface_id, mac);
	if (rc) {
		free(vc);
		return rc;
	}
	/* The HVM pair: the PV vif is the one in use once it is plugged. */
	port.active = !(vif->emu && twin);
	if (twin && !vif->emu) {
		port.twin = twin->vif.ifname;
		port.twin_active = false;
	}
	rc = link_prepare(vif);
	if (rc == 0)
		rc = port_add(net, p, vif, &port);
	free(vc);
	if (rc) {
		/* No port made: Dom0's IPv6 as a vif off the switch has it
		 * (link_prepare turned it off). A re-plug's port stays. */
		if (!replug) {
			snprintf(msg, sizeof(msg), "%s", err_msg());
			port_ipv6_back(net, vif);
			err_set(rc, "%s", msg);
		}
		return rc;
	}

	rc = FAULT_POINT("vif-antispoof"); /* tests: a port up, its rules not yet there */
	if (rc == 0 && net->conf.antispoof && !net->conf.ovn)
		rc = flows_add_timed(p, vif, port.n_trunks > 0, replug);
	if (rc == 0 && net->conf.ovn && port.active) {
		rc = ovsdb_transact(&p->db, ovs_msg_wait_ovn(vif->ifname, (int)net->conf.ovn_wait_ms),
				    (int)net->conf.ovn_wait_ms + OVSDB_CALL_TIMEOUT_MS, NULL);
		if (rc == -ETIMEDOUT)
			err_set(rc, "%s: OVN did not install iface-id %s within %u.%03u s (is the logical port there, ovn-controller running?)",
				vif->ifname, iface_id, net->conf.ovn_wait_ms / 1000,
				net->conf.ovn_wait_ms % 1000);
	}
	if (rc == 0)
		return 0;
	snprintf(msg, sizeof(msg), "%s", err_msg());
	if (net->conf.antispoof && !net->conf.ovn && ovs_flows_del(p->mgmt, vif))
		log_err("%s: %s", net->conf.name, err_msg());
	if (port_del(net, p, vif, port.twin, true))
		log_err("%s: %s", net->conf.name, err_msg());
	else
		port_ipv6_back(net, vif);
	return err_set(rc, "%s", msg);
}

static int ovs_vif_online(struct netd_net *net, const struct vif *vif)
{
	struct ovs_priv *p = net->priv;
	unsigned long long before = p ? p->db.busy_us : 0;
	int rc = vif_online_do(net, vif);

	if (p)
		p->ovs_wait_us += p->db.busy_us - before;
	return rc;
}

static int ovs_vif_offline(struct netd_net *net, const struct vif *vif)
{
	struct ovs_priv *p = net->priv;
	const struct netd_vif *twin = twin_of(net, vif);
	struct nl_link l;
	int rc;

	if (!p || !p->applied)
		return 0;
	/* The PV vif going: its tap (if plugged) is the one in use again. */
	rc = port_del(net, p, vif, twin && !vif->emu ? twin->vif.ifname : NULL, true);
	if (rc == 0 && net->conf.antispoof && !net->conf.ovn)
		rc = vif_flows_del(p, vif);
	if (rc)
		return rc;
	/* Off the switch, its rules gone: unplugged, whatever becomes of the
	 * rest, which is the vif's tidying (logged). Failing here kept it
	 * listed as a port it no longer was, and failed its hotplug offline
	 * for nothing. */
	if (nl_link_get(vif->ifname, &l) == 0 && (l.flags & IFF_UP) &&
	    nl_link_set_up(l.ifindex, false)) /* as bridge mode leaves a vif */
		log_warn("%s: %s: cannot bring down (unplugged all the same): %s", net->conf.name,
			 vif->ifname, err_msg());
	if (vif_port_ipv6_restore(vif->ifname, NULL))
		log_warn("%s: %s (unplugged all the same)", net->conf.name, err_msg());
	return 0;
}

static int status_port(const char *name, const char *uuid, const char *owner, void *data)
{
	json_t *st = data;

	if (owner)
		json_array_append_new(json_object_get(st, "ports"), json_string(name));
	else
		json_array_append_new(json_object_get(st, "other_ports"), json_string(name));
	return 0;
}

static json_t *ovs_status(struct netd_net *net)
{
	struct ovs_priv *p = net->priv;
	const char *as;
	json_t *st, *res = NULL;

	if (net->conf.ovn)
		as = "port_security of the OVN logical port (the CMS's job)";
	else
		as = net->conf.antispoof ? "openflow" : "no";
	st = json_pack("{s:s, s:s, s:s, s:b, s:s, s:[], s:[]}", "bridge",
		       p ? p->bridge : net->conf.name, "ovsdb", net->conf.ovsdb, "datapath_type",
		       net->conf.datapath_type[0] ? net->conf.datapath_type : "default", "ovn",
		       net->conf.ovn, "antispoof", as, "ports", "other_ports");
	if (p) {
		json_object_set_new(st, "created", json_boolean(p->created));
		/* before this status's own transaction below */
		json_object_set_new(st, "ovs_wait_us", json_integer((json_int_t)p->ovs_wait_us));
		if (ovsdb_transact(&p->db, ovs_msg_ports_list(p->bridge), OVSDB_CALL_TIMEOUT_MS,
				   &res) == 0)
			ovs_msg_ports_each(res, status_port, st);
		else
			json_object_set_new(st, "ovsdb_error", json_string(err_msg()));
		json_decref(res);
	}
	return st;
}

static json_t *ovs_save(struct netd_net *net)
{
	struct ovs_priv *p = net->priv;

	if (!p)
		return json_object();
	return json_pack("{s:s, s:b, s:b}", "bridge", p->bridge, "created", p->created, "foreign",
			 p->foreign);
}

/* Ports marked with a network that its record does not hold: a plug a
 * crash cut short after its transaction. */
static int ovs_sweep(struct netd_net *const *nets, size_t n)
{
	int first = 0;

	for (size_t i = 0; i < n; i++) {
		struct ovs_priv *p = nets[i]->priv;
		const struct netd_net *holder;
		struct port_list l;
		const char *name;
		json_t *uuid;
		int rc;

		if (!p || !p->applied)
			continue;
		rc = ports_mine(p, nets[i]->conf.name, &l);
		/* the remembered ones off the list (a hash), the rest go; the
		 * remembered ones get Dom0's IPv6 off, which a netd before
		 * vif_port_ipv6_off() left on, but for another network's
		 * (vif_elsewhere(), said at the up) */
		for (const struct netd_vif *v = nets[i]->vifs; rc == 0 && v; v = v->next) {
			char was[VIF_SYSCTL_LEN];

			port_unlist(&l, v->vif.ifname);
			if (!vif_elsewhere(nets[i], &v->vif, NULL) &&
			    vif_port_ipv6_off(v->vif.ifname, was))
				log_warn("%s: %s", nets[i]->conf.name, err_msg());
		}
		json_object_foreach(l.mine, name, uuid) {
			if (rc)
				break;
			log_warn("%s: a port of OVS bridge %s, but netd does not remember plugging it; removing it",
				 name, p->bridge);
			rc = port_remove(p, json_string_value(uuid), NULL, false);
			if (rc || !nl_link_exists(name))
				continue;
			/* as bridge mode's sweep (br_port_unplug) leaves one; the
			 * name is OVSDB's: only an interface's, and not one
			 * another network holds, whose IPv6 is that one's */
			holder = netd_ifname_held_elsewhere(nets[i], name);
			if (holder)
				log_warn("%s: %s is network %s's: left as it is", nets[i]->conf.name,
					 name, holder->conf.name);
			else if (vif_port_ipv6_restore(name, NULL))
				log_warn("%s: %s", nets[i]->conf.name, err_msg());
		}
		ports_free(&l);
		if (rc && !first)
			first = err_prefix(rc, "%s", nets[i]->conf.name);
	}
	return first;
}

static void ovs_free(struct netd_net *net)
{
	struct ovs_priv *p = net->priv;

	if (p)
		ovsdb_close(&p->db);
	free(p);
	net->priv = NULL;
}

const struct netd_mode_ops ovs_mode_ops = {
	.name = "ovs",
	.up = ovs_up,
	.down = ovs_down,
	.vif_online = ovs_vif_online,
	.vif_offline = ovs_vif_offline,
	.status = ovs_status,
	.save = ovs_save,
	.free = ovs_free,
	.steps = ovs_steps,
	.sweep = ovs_sweep,
};
