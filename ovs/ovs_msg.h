/* ovs_msg: the OVSDB (RFC 7047) messages of ovs mode, built and read.
 *
 * Pure functions, no I/O, so that the unit tests can check each operation
 * netd sends to the Open_vSwitch database and each reply it has to read,
 * malformed ones included. Builders return a new JSON array of operations
 * (NULL only when out of memory); ovsdb_transact() sends it.
 *
 * Every row netd inserts carries external_ids:netd-net=<network>: that is
 * how a later netd tells its own bridges and ports from anyone else's, and
 * the one thing its sweep and `down` remove by. */
#ifndef OVS_OVS_MSG_H
#define OVS_OVS_MSG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define OVS_OWNER_KEY "netd-net"
#define OVS_VLAN_MAX 4095

/* One ovs port as netd plugs it: the Port and its one Interface share the
 * vif's name. */
struct ovs_port {
	const char *bridge;
	const char *ifname;
	const char *net;         /* OVS_OWNER_KEY's value */
	const char *iface_id;    /* external_ids:iface-id */
	const char *mac;         /* attached-mac, "aa:bb:..." or NULL */
	const char *vm_id;       /* vm-id (the domain's UUID) or NULL */
	const char *vm_name;     /* xen-vm-name or NULL */
	bool active;             /* iface-status */
	int tag;                 /* -1: none */
	const uint16_t *trunks;
	size_t n_trunks;
	const char *vlan_mode;   /* NULL: OVS's default */
	const char *twin;        /* the HVM pair's other interface, or NULL */
	bool twin_active;        /* its iface-status after this transaction */
};

/* Where a stream's first JSON object (or array) ends, found by a scan
 * that goes on from where the last call stopped, so that a reply of n
 * bytes arriving in k reads costs n, not the n * k of parsing the buffer
 * from its start after each read. Zeroed before the first byte of each
 * value. */
struct ovs_msg_scan {
	size_t pos; /* bytes of the buffer scanned */
	unsigned depth;
	bool in_str, esc;
};

/* 1 and *end (one past the value's closing bracket), or 0: not whole yet.
 * A first non-blank byte that opens neither: 1 and *end = len, for
 * ovs_msg_frame() to tell what it is. */
int ovs_msg_scan(struct ovs_msg_scan *s, const char *buf, size_t len, size_t *end);

/* Split a JSON text stream: *out the first whole value (new reference) and
 * *used the bytes it took (leading whitespace included). 1: not complete
 * yet (read more); -EPROTO with err_msg(): not JSON. */
int ovs_msg_frame(const char *buf, size_t len, json_t **out, size_t *used);

/* A transact reply against the ops that were sent: 0, or the first error
 * (the reply's own "error", or an operation's) as -EIO, -ETIMEDOUT for a
 * wait that timed out, -EEXIST for a constraint violation, with err_msg()
 * naming the operation: "op 2 (insert Port): constraint violation: ...".
 * A reply without a result array of at least as many results as ops
 * is -EPROTO. */
int ovs_msg_result_check(const json_t *reply, const json_t *ops);

/* Insert Interface and Port, add the Port to the bridge, set the twin's
 * iface-status, bump next_cfg and read it back: one transaction. The
 * bridge's mutate must count 1 (ovs_msg_plug_cfg checks it). */
json_t *ovs_msg_plug(const struct ovs_port *p);
/* From the plug's result: the next_cfg to wait for (>= 0), or -ENOENT
 * with err_msg() when the bridge was not there, -EPROTO for a result that
 * is not one of ours. */
long long ovs_msg_plug_cfg(const json_t *result, const char *bridge);

/* Find a port by name: its row (_uuid, external_ids). */
json_t *ovs_msg_port_find(const char *ifname);
/* From its result: 0 and *uuid, *owner (pointers into result; owner is
 * external_ids:netd-net, NULL when absent) or -ENOENT: no such port.
 * -EPROTO: not a reply to ovs_msg_port_find. */
int ovs_msg_port_found(const json_t *result, const char **uuid, const char **owner);

/* Take the port (by uuid) off bridge (OVSDB then drops the unreferenced
 * Port and Interface rows), set the twin's iface-status if twin is not
 * NULL, bump next_cfg and read it back. */
json_t *ovs_msg_unplug(const char *bridge, const char *port_uuid, const char *twin,
		       bool twin_active);
/* next_cfg from an unplug's result (the last operation's select). */
long long ovs_msg_cfg(const json_t *result);

/* Wait (at most timeout_ms, in the server) until ovs-vswitchd has applied
 * configuration cfg (Open_vSwitch.cur_cfg >= cfg), as ovs-vsctl does. */
json_t *ovs_msg_wait_cfg(long long cfg, int timeout_ms);

/* Wait until ovn-controller marked ifname external_ids:ovn-installed=true. */
json_t *ovs_msg_wait_ovn(const char *ifname, int timeout_ms);

/* The bridge's row: _uuid, external_ids, ports (select by name). */
json_t *ovs_msg_bridge_find(const char *bridge);
/* From its result: 1 and *uuid, *owner (external_ids:netd-net or NULL)
 * and *n_ports (its own internal port included), or 0: no such bridge;
 * -EPROTO. */
int ovs_msg_bridge_found(const json_t *result, const char **uuid, const char **owner,
			 size_t *n_ports);

/* Create bridge (owned by net; NULL: not marked) with its internal port,
 * datapath_type dp_type ("" or NULL: OVS's default), in
 * Open_vSwitch.bridges. */
json_t *ovs_msg_bridge_add(const char *bridge, const char *dp_type, const char *net);
/* Take the bridge (by uuid) out of Open_vSwitch.bridges: its row, ports
 * and interfaces go with it. */
json_t *ovs_msg_bridge_del(const char *bridge_uuid);

/* Every port of bridge with its external_ids and interface names: for the
 * sweep and for status. */
json_t *ovs_msg_ports_list(const char *bridge);
/* Calls fn for each port of the list's result that is a port of the
 * bridge (its own internal port too): name, uuid, owner (netd-net or
 * NULL). Stops at and returns fn's first non-zero. -EPROTO: not one of
 * our replies. */
int ovs_msg_ports_each(const json_t *result,
		       int (*fn)(const char *name, const char *uuid, const char *owner, void *data),
		       void *data);
/* The list's Port and Interface rows by name (a JSON object: name →
 * [Port row or null, Interface row or null]), so that a look at each of n
 * vifs is not a walk of n rows. New reference; NULL: out of memory. */
json_t *ovs_msg_ports_index(const json_t *result);
/* Does port want->ifname, in the list's index (ovs_msg_ports_index()),
 * have what a plug of want gave it: its interface's iface-id and
 * attached-mac, the port's tag, trunks and vlan_mode? NULL if so, else
 * the first that differs (for the log; "its rows": no such port or
 * interface). */
const char *ovs_msg_port_differs(const json_t *index, const struct ovs_port *want);

#endif
