/* metrics: `netdctl metrics`, netd's state and counters in Prometheus' text
 * exposition format (version 0.0.4), what node_exporter's textfile
 * collector and every scraper read. Built from netd's `status` and
 * `vif-list` replies plus each vif's kernel counters in sysfs (read in the
 * namespace netdctl runs in, netd's); a vif whose interface cannot be seen
 * here has no rx/tx series rather than made-up zeros. The netd_vifback_*
 * series are those of the vifs vifback serves (status' "backend"), the
 * netd_dpswitch_* ones dpswitch's ports and pool (a datapath = dpdk
 * network's "details.dpswitch", dpswitch's own status). */
#include "netdctl/metrics.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Label values may hold any byte netd accepted in a name; the format wants
 * backslash, double quote and newline escaped. */
static void put_label(FILE *f, const char *key, const char *val, bool first)
{
	fprintf(f, "%s%s=\"", first ? "" : ",", key);
	for (const char *p = val ? val : ""; *p; p++) {
		if (*p == '\\' || *p == '"')
			fprintf(f, "\\%c", *p);
		else if (*p == '\n')
			fputs("\\n", f);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

static void family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static const char *str(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* "vif5.0" -> "5.0", from vif-list; NULL for an interface it does not name */
static const char *vif_id(json_t *vifs, const char *ifname)
{
	json_t *v;
	size_t i;

	json_array_foreach(vifs, i, v)
		if (str(v, "ifname") && !strcmp(str(v, "ifname"), ifname))
			return str(v, "vif");
	return NULL;
}

/* more: further key, value pairs, NULL-terminated (or NULL) */
static void vif_labels(FILE *f, json_t *vifs, const char *net, const char *ifname,
		       const char *const *more)
{
	fputc('{', f);
	put_label(f, "network", net, true);
	put_label(f, "vif", vif_id(vifs, ifname) ?: "", false);
	put_label(f, "ifname", ifname, false);
	for (; more && more[0]; more += 2)
		put_label(f, more[0], more[1], false);
	fputc('}', f);
}

/* One kernel counter of ifname; false when it cannot be read here. */
static bool sysfs_counter(const char *ifname, const char *name, uint64_t *out)
{
	char path[128];
	FILE *fp;
	bool ok;

	if (!ifname[0] || strchr(ifname, '/') || !strcmp(ifname, ".") || !strcmp(ifname, ".."))
		return false;
	snprintf(path, sizeof(path), "/sys/class/net/%s/statistics/%s", ifname, name);
	fp = fopen(path, "re");
	if (!fp)
		return false;
	ok = fscanf(fp, "%" SCNu64, out) == 1;
	fclose(fp);
	return ok;
}

/* One sample a network, of those value() has one for (key: value's). */
static void net_family(FILE *f, json_t *nets, const char *name, const char *type,
		       const char *help, long long (*value)(json_t *net, const char *key, bool *has),
		       const char *key)
{
	json_t *n;
	size_t i;

	family(f, name, type, help);
	json_array_foreach(nets, i, n) {
		bool has = true;
		long long v = value(n, key, &has);

		if (!has)
			continue;
		fprintf(f, "%s{", name);
		put_label(f, "network", str(n, "name"), true);
		fprintf(f, "} %lld\n", v);
	}
}

static long long v_vifs(json_t *n, const char *key, bool *has)
{
	return (long long)json_array_size(json_object_get(n, "vifs"));
}

static long long v_ports(json_t *n, const char *key, bool *has)
{
	json_t *p = json_object_get(json_object_get(n, "details"), "ports");

	*has = json_is_array(p);
	return (long long)json_array_size(p);
}

/* The integer at key of o, if o has one. */
static long long v_integer(json_t *o, const char *key, bool *has)
{
	json_t *p = json_object_get(o, key);

	*has = json_is_integer(p);
	return json_integer_value(p);
}

/* status' details.KEY: nat's forwards, table_restores */
static long long v_detail(json_t *n, const char *key, bool *has)
{
	return v_integer(json_object_get(n, "details"), key, has);
}

/* dpswitch's status, for a network with datapath = dpdk whose dpswitch
 * answered netd's status; NULL for the others. */
static json_t *dpswitch_of(json_t *n)
{
	return json_object_get(json_object_get(n, "details"), "dpswitch");
}

/* details.dpswitch.KEY: its pool and MAC table */
static long long v_dpswitch(json_t *n, const char *key, bool *has)
{
	return v_integer(dpswitch_of(n), key, has);
}

static long long v_bound(json_t *n, const char *key, bool *has)
{
	json_t *d = json_object_get(n, "details");

	*has = str(n, "mode") && !strcmp(str(n, "mode"), "nat") && json_object_size(d);
	return (long long)json_array_size(json_object_get(d, "bound"));
}


/* Where a network's per-vif counters are, {ifname: {...}}: the filters'
 * in details.counters ({kind: {packets, bytes}}), a userspace backend's in
 * "backend" ({key: N, rx_drops: {reason: N}}, the vifs it serves). */
static json_t *filter_counters(json_t *n)
{
	return json_object_get(json_object_get(n, "details"), "counters");
}

static json_t *backend_counters(json_t *n)
{
	return json_object_get(n, "backend");
}

/* The counter at key (key.unit with a unit) of every vif in where's object. */
static void object_family(FILE *f, json_t *nets, json_t *vifs, json_t *(*where)(json_t *net),
			  const char *key, const char *unit, const char *name, const char *help)
{
	json_t *n, *c;
	const char *ifname;
	size_t i;

	family(f, name, "counter", help);
	json_array_foreach(nets, i, n) {
		json_object_foreach(where(n), ifname, c) {
			json_t *v = json_object_get(c, key);

			if (unit)
				v = json_object_get(v, unit);
			if (!json_is_integer(v))
				continue;
			fputs(name, f);
			vif_labels(f, vifs, str(n, "name"), ifname, NULL);
			fprintf(f, " %lld\n", (long long)json_integer_value(v));
		}
	}
}

static void kernel_family(FILE *f, json_t *nets, json_t *vifs, const char *stat,
			  const char *name, const char *help)
{
	json_t *n, *v;
	size_t i, j;

	family(f, name, "counter", help);
	json_array_foreach(nets, i, n) {
		json_array_foreach(json_object_get(n, "vifs"), j, v) {
			const char *ifname = json_string_value(v);
			uint64_t val;

			if (!ifname || !sysfs_counter(ifname, stat, &val))
				continue;
			fputs(name, f);
			vif_labels(f, vifs, str(n, "name"), ifname, NULL);
			fprintf(f, " %" PRIu64 "\n", val);
		}
	}
}

static void backend_drops(FILE *f, json_t *nets, json_t *vifs)
{
	static const char *const dirs[] = { "rx", "tx" };
	const char *name = "netd_vifback_drop_packets_total", *ifname, *reason;
	json_t *n, *c, *v;
	size_t i;

	family(f, name, "counter",
	       "Packets vifback dropped, by direction (rx: sent by the guest, tx: to it) and reason.");
	json_array_foreach(nets, i, n) {
		json_object_foreach(json_object_get(n, "backend"), ifname, c) {
			for (int d = 0; d < 2; d++) {
				char key[16];

				snprintf(key, sizeof(key), "%s_drops", dirs[d]);
				json_object_foreach(json_object_get(c, key), reason, v) {
					const char *more[] = { "direction", dirs[d], "reason", reason,
							       NULL };

					if (!json_is_integer(v))
						continue;
					fputs(name, f);
					vif_labels(f, vifs, str(n, "name"), ifname, more);
					fprintf(f, " %lld\n", (long long)json_integer_value(v));
				}
			}
		}
	}
}

/* One sample of dpswitch port p of network n, labelled with the port's
 * name and, for a guest's, its vif id (a NIC port's is ""), and reason
 * unless NULL. */
static void dps_port_sample(FILE *f, const char *name, json_t *n, json_t *vifs, json_t *p,
			    const char *reason, json_t *v)
{
	const char *port = str(p, "name") ?: "";

	if (!json_is_integer(v))
		return;
	fprintf(f, "%s{", name);
	put_label(f, "network", str(n, "name"), true);
	put_label(f, "vif", vif_id(vifs, port) ?: "", false);
	put_label(f, "port", port, false);
	if (reason)
		put_label(f, "reason", reason, false);
	fprintf(f, "} %lld\n", (long long)json_integer_value(v));
}

/* Per port of each network's dpswitch: the counter at key, or with key
 * NULL its drops by reason. */
static void dps_port_family(FILE *f, json_t *nets, json_t *vifs, const char *key,
			    const char *name, const char *type, const char *help)
{
	const char *reason;
	json_t *n, *p, *v;
	size_t i, j;

	family(f, name, type, help);
	json_array_foreach(nets, i, n) {
		json_array_foreach(json_object_get(dpswitch_of(n), "ports"), j, p) {
			if (key)
				dps_port_sample(f, name, n, vifs, p, NULL, json_object_get(p, key));
			else
				json_object_foreach(json_object_get(p, "drops"), reason, v)
					dps_port_sample(f, name, n, vifs, p, reason, v);
		}
	}
}

/* dpswitch's, per port: key NULL is the drops. */
static const struct {
	const char *key, *name, *type, *help;
} dps_series[] = {
	{ "rx_packets", "netd_dpswitch_rx_packets_total", "counter",
	  "Frames dpswitch took into the switch from the port (a guest's: what it sent)." },
	{ "rx_bytes", "netd_dpswitch_rx_bytes_total", "counter",
	  "Bytes dpswitch took into the switch from the port (a guest's: what it sent)." },
	{ "tx_packets", "netd_dpswitch_tx_packets_total", "counter",
	  "Frames dpswitch gave the port (a guest's: what it received)." },
	{ "tx_bytes", "netd_dpswitch_tx_bytes_total", "counter",
	  "Bytes dpswitch gave the port (a guest's: what it received)." },
	{ NULL, "netd_dpswitch_drop_packets_total", "counter",
	  "Frames dpswitch dropped on the port, by reason." },
	{ "queued", "netd_dpswitch_queued_frames", "gauge",
	  "Frames waiting in the port's output queue (a guest's: for its buffers)." },
	{ "queued_mbufs", "netd_dpswitch_queued_mbufs", "gauge",
	  "Mbufs of the pool the port's waiting frames hold." },
	{ "spurious_events", "netd_dpswitch_spurious_events_total", "counter",
	  "Notifications from the guest that brought no new request (XSA-391)." },
	{ "holds", "netd_dpswitch_holds_total", "counter",
	  "Reconnects of the guest held after it broke the ring protocol." },
	{ "stalls", "netd_dpswitch_stalls_total", "counter",
	  "Times the guest posted no buffers for its next frame for the stall timeout "
	  "(frames for it dropped until it does)." },
};

/* netd's own counters: status' "daemon" object (netd/stats.h) */
static void daemon_families(FILE *f, json_t *dm)
{
	json_t *h = json_object_get(dm, "plug_seconds"), *le = json_object_get(h, "le"), *v;
	json_t *counts = json_object_get(h, "counts");
	const char *reason;
	size_t i;

	family(f, "netd_plugs_total", "counter",
	       "Vif plugs netd answered (control socket, hotplug scripts, xenstore watch, reload).");
	fprintf(f, "netd_plugs_total %lld\n", (long long)json_integer_value(json_object_get(dm, "plugs")));
	family(f, "netd_plug_errors_total", "counter", "Refused or failed plugs, by errno name.");
	json_object_foreach(json_object_get(dm, "plug_errors"), reason, v) {
		fputs("netd_plug_errors_total{", f);
		put_label(f, "reason", reason, true);
		fprintf(f, "} %lld\n", (long long)json_integer_value(v));
	}
	family(f, "netd_plug_duration_seconds", "histogram", "Time netd took to answer a plug.");
	json_array_foreach(le, i, v) {
		fputs("netd_plug_duration_seconds_bucket{le=\"", f);
		if (json_is_real(v))
			fprintf(f, "%g", json_real_value(v));
		else
			fputs("+Inf", f);
		fprintf(f, "\"} %lld\n", (long long)json_integer_value(json_array_get(counts, i)));
	}
	fprintf(f, "netd_plug_duration_seconds_sum %.6f\n", json_number_value(json_object_get(h, "sum")));
	fprintf(f, "netd_plug_duration_seconds_count %lld\n",
		(long long)json_integer_value(json_object_get(h, "count")));
	family(f, "netd_xenstore_reconnects_total", "counter",
	       "Times the xenstore watch (xenstore_watch = yes) lost xenstored and reconnected.");
	fprintf(f, "netd_xenstore_reconnects_total %lld\n",
		(long long)json_integer_value(json_object_get(dm, "xenstore_reconnects")));
}

/* Per network: one sample each (key: the value function's). */
static const struct {
	const char *name, *type, *help;
	long long (*value)(json_t *net, const char *key, bool *has);
	const char *key;
} net_series[] = {
	{ "netd_network_vifs", "gauge", "Vifs plugged into the network.", v_vifs, NULL },
	{ "netd_network_ports", "gauge", "Ports of the network's bridge (bridge mode).", v_ports,
	  NULL },
	{ "netd_nat_forwards", "gauge", "Port forwards of the nat network.", v_detail, "forwards" },
	{ "netd_nat_bound_addresses", "gauge",
	  "Vifs without ip= bound to an address of dhcp_range (their DHCP leases).", v_bound, NULL },
	/* a count since netd started: a counter, named so */
	{ "netd_nat_table_restores_total", "counter",
	  "Times netd restored its nftables table after someone deleted it.", v_detail,
	  "table_restores" },
	{ "netd_dpswitch_mbufs", "gauge", "Mbufs in dpswitch's pool.", v_dpswitch, "mbufs" },
	{ "netd_dpswitch_mbufs_free", "gauge",
	  "Mbufs of dpswitch's pool free (below netd_dpswitch_mbufs_low, a guest's queue "
	  "holds its netd_dpswitch_held_share).",
	  v_dpswitch, "mbufs_free" },
	{ "netd_dpswitch_mbufs_low", "gauge",
	  "Free mbufs dpswitch keeps for its ports (half of what was free once they started): "
	  "below it a guest's queue holds at most netd_dpswitch_held_share.",
	  v_dpswitch, "mbufs_low" },
	{ "netd_dpswitch_held_share", "gauge",
	  "Mbufs a guest's queue in dpswitch holds without a look at the pool (128 at most, "
	  "less with many ports).",
	  v_dpswitch, "held_share" },
	{ "netd_dpswitch_macs", "gauge", "Entries in dpswitch's MAC table.", v_dpswitch, "macs" },
	{ "netd_dpswitch_mac_moves_total", "counter",
	  "MAC addresses dpswitch saw move from one port to another.", v_dpswitch, "mac_moves" },
	{ "netd_dpswitch_xenstore_reconnects_total", "counter",
	  "Times dpswitch lost xenstored (gone, or not answering) and connected again.",
	  v_dpswitch, "xenstore_reconnects" },
	{ "netd_dpswitch_unsettled_plugs", "gauge",
	  "Plugs netd gave up on (dpswitch did not answer in time) whose undoing dpswitch "
	  "refused: their ports may forward a guest netd answered with an error; netd tries "
	  "again (netdctl status says why).",
	  v_detail, "unsettled_plugs" },
};

/* Per vif, in this order: the filters' drops, Dom0's side of the vif (what
 * it receives is what the guest sent), vifback's side of the vifs it
 * serves (the rings, before the TAP). */
static const struct vif_series {
	enum { S_FILTER, S_KERNEL, S_BACKEND, S_BACKEND_DROPS } src;
	const char *key, *unit; /* S_FILTER: details.counters' kind and unit */
	const char *name, *help;
} vif_series[] = {
	{ S_FILTER, "spoof_drops", "packets", "netd_vif_spoof_drop_packets_total",
	  "Packets from the guest dropped by anti-spoofing." },
	{ S_FILTER, "spoof_drops", "bytes", "netd_vif_spoof_drop_bytes_total",
	  "Bytes from the guest dropped by anti-spoofing." },
	{ S_FILTER, "rate_drops", "packets", "netd_vif_rate_drop_packets_total",
	  "Packets from the guest dropped over its rate= limit." },
	{ S_FILTER, "rate_drops", "bytes", "netd_vif_rate_drop_bytes_total",
	  "Bytes from the guest dropped over its rate= limit." },
	{ S_KERNEL, "rx_packets", NULL, "netd_vif_rx_packets_total",
	  "Packets Dom0 received on the vif (sent by the guest)." },
	{ S_KERNEL, "rx_bytes", NULL, "netd_vif_rx_bytes_total",
	  "Bytes Dom0 received on the vif (sent by the guest)." },
	{ S_KERNEL, "tx_packets", NULL, "netd_vif_tx_packets_total",
	  "Packets Dom0 sent on the vif (to the guest)." },
	{ S_KERNEL, "tx_bytes", NULL, "netd_vif_tx_bytes_total",
	  "Bytes Dom0 sent on the vif (to the guest)." },
	{ S_BACKEND, "rx_packets", NULL, "netd_vifback_rx_packets_total",
	  "Packets vifback took from the guest's transmit ring into Dom0." },
	{ S_BACKEND, "rx_bytes", NULL, "netd_vifback_rx_bytes_total",
	  "Bytes vifback took from the guest's transmit ring into Dom0." },
	{ S_BACKEND, "tx_packets", NULL, "netd_vifback_tx_packets_total",
	  "Packets vifback put in the guest's receive buffers." },
	{ S_BACKEND, "tx_bytes", NULL, "netd_vifback_tx_bytes_total",
	  "Bytes vifback put in the guest's receive buffers." },
	{ S_BACKEND_DROPS, NULL, NULL, NULL, NULL },
	{ S_BACKEND, "tx_ring_full", NULL, "netd_vifback_tx_ring_full_total",
	  "Times a packet for the guest waited for it to post receive buffers." },
	{ S_BACKEND, "tx_stalls", NULL, "netd_vifback_tx_stalls_total",
	  "Times the guest took no packet for the stall timeout (carrier off)." },
	{ S_BACKEND, "events", NULL, "netd_vifback_events_total",
	  "Event channel notifications vifback sent to the guest." },
	{ S_BACKEND, "spurious_events", NULL, "netd_vifback_spurious_events_total",
	  "Notifications from the guest that brought no new request (XSA-391)." },
	{ S_BACKEND, "holds", NULL, "netd_vifback_holds_total",
	  "Reconnects of the guest held after it broke the ring protocol." },
};

void netdctl_metrics_print(FILE *f, json_t *status, json_t *vif_list)
{
	json_t *nets = json_object_get(status, "networks"), *vifs = json_object_get(vif_list, "vifs");
	json_t *n;
	size_t i;

	family(f, "netd_network_up", "gauge",
	       "1 if the network is applied and served, else 0 (down, failed, or waiting for its "
	       "dpswitch).");
	json_array_foreach(nets, i, n) {
		fputs("netd_network_up{", f);
		put_label(f, "network", str(n, "name"), true);
		put_label(f, "mode", str(n, "mode"), false);
		fprintf(f, "} %d\n", str(n, "state") && !strcmp(str(n, "state"), "up"));
	}
	for (i = 0; i < sizeof(net_series) / sizeof(net_series[0]); i++)
		net_family(f, nets, net_series[i].name, net_series[i].type, net_series[i].help,
			   net_series[i].value, net_series[i].key);
	for (i = 0; i < sizeof(vif_series) / sizeof(vif_series[0]); i++) {
		const struct vif_series *s = &vif_series[i];

		switch (s->src) {
		case S_FILTER:
			object_family(f, nets, vifs, filter_counters, s->key, s->unit, s->name,
				      s->help);
			break;
		case S_KERNEL:
			kernel_family(f, nets, vifs, s->key, s->name, s->help);
			break;
		case S_BACKEND:
			object_family(f, nets, vifs, backend_counters, s->key, NULL, s->name,
				      s->help);
			break;
		case S_BACKEND_DROPS:
			backend_drops(f, nets, vifs);
			break;
		}
	}
	for (i = 0; i < sizeof(dps_series) / sizeof(dps_series[0]); i++)
		dps_port_family(f, nets, vifs, dps_series[i].key, dps_series[i].name,
				dps_series[i].type, dps_series[i].help);
	if (json_is_object(json_object_get(status, "daemon")))
		daemon_families(f, json_object_get(status, "daemon"));
}
