/* ovs_msg: the OVSDB messages of ovs mode (see ovs_msg.h). */
#include "ovs/ovs_msg.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "lib/err.h"

int ovs_msg_frame(const char *buf, size_t len, json_t **out, size_t *used)
{
	json_error_t e;
	size_t skip = 0;
	json_t *v;

	while (skip < len && strchr(" \t\r\n", buf[skip]))
		skip++;
	if (skip == len)
		return 1;
	v = json_loadb(buf + skip, len - skip, JSON_DISABLE_EOF_CHECK | JSON_ALLOW_NUL, &e);
	if (!v) {
		if (json_error_code(&e) == json_error_premature_end_of_input)
			return 1;
		return err_set(-EPROTO, "not JSON: %s", e.text);
	}
	if (!json_is_object(v)) {
		json_decref(v);
		return err_set(-EPROTO, "a message that is not a JSON object");
	}
	*out = v;
	*used = skip + (size_t)e.position;
	return 0;
}

int ovs_msg_scan(struct ovs_msg_scan *s, const char *buf, size_t len, size_t *end)
{
	for (; s->pos < len; s->pos++) {
		char c = buf[s->pos];

		if (s->in_str) {
			if (s->esc)
				s->esc = false;
			else if (c == '\\')
				s->esc = true;
			else if (c == '"')
				s->in_str = false;
		} else if (s->depth == 0 && (c == ' ' || c == '\t' || c == '\r' || c == '\n')) {
			continue;
		} else if (s->depth == 0 && c != '{' && c != '[') {
			*end = len; /* not a value we would take: the parser says why */
			return 1;
		} else if (c == '"') {
			s->in_str = true;
		} else if (c == '{' || c == '[') {
			s->depth++;
		} else if ((c == '}' || c == ']') && --s->depth == 0) {
			*end = ++s->pos;
			return 1;
		}
	}
	return 0;
}

/* ---- values (RFC 7047 §5.1) ---- */

static json_t *uuid_ref(const char *kind, const char *u)
{
	return json_pack("[s, s]", kind, u);
}

static json_t *set_of(json_t *elems)
{
	return json_pack("[s, o]", "set", elems);
}

static json_t *map_new(void)
{
	return json_pack("[s, []]", "map");
}

static void map_put(json_t *map, const char *k, const char *v)
{
	if (v)
		json_array_append_new(json_array_get(map, 1), json_pack("[s, s]", k, v));
}

/* A set column's elements: ["set", [...]] or, for exactly one element,
 * the element itself (§5.1). Returns how many and the i-th. */
static size_t set_size(const json_t *s)
{
	if (json_is_array(s) && json_array_size(s) == 2 && json_is_string(json_array_get(s, 0)) &&
	    !strcmp(json_string_value(json_array_get(s, 0)), "set"))
		return json_array_size(json_array_get(s, 1));
	return s ? 1 : 0;
}

static const json_t *set_at(const json_t *s, size_t i)
{
	if (json_is_array(s) && json_array_size(s) == 2 && json_is_string(json_array_get(s, 0)) &&
	    !strcmp(json_string_value(json_array_get(s, 0)), "set"))
		return json_array_get(json_array_get(s, 1), i);
	return s;
}

/* ["uuid", "…"] → "…", else NULL. */
static const char *uuid_of(const json_t *v)
{
	if (json_is_array(v) && json_array_size(v) == 2 &&
	    json_is_string(json_array_get(v, 0)) &&
	    !strcmp(json_string_value(json_array_get(v, 0)), "uuid"))
		return json_string_value(json_array_get(v, 1));
	return NULL;
}

/* A map column's value for key, or NULL. */
static const char *map_get(const json_t *map, const char *key)
{
	const json_t *pairs;
	size_t i;

	if (!json_is_array(map) || json_array_size(map) != 2 ||
	    !json_is_string(json_array_get(map, 0)) ||
	    strcmp(json_string_value(json_array_get(map, 0)), "map"))
		return NULL;
	pairs = json_array_get(map, 1);
	for (i = 0; i < json_array_size(pairs); i++) {
		const json_t *p = json_array_get(pairs, i);
		const char *k = json_string_value(json_array_get(p, 0));

		if (k && !strcmp(k, key))
			return json_string_value(json_array_get(p, 1));
	}
	return NULL;
}

static json_t *where_name(const char *name)
{
	return json_pack("[[s, s, s]]", "name", "==", name);
}

/* ---- replies ---- */

static const char *op_name(const json_t *op, char *buf, size_t len)
{
	const char *o = json_string_value(json_object_get(op, "op"));
	const char *t = json_string_value(json_object_get(op, "table"));

	snprintf(buf, len, "%s%s%s", o ? o : "?", t ? " " : "", t ? t : "");
	return buf;
}

static int error_rc(const char *error)
{
	if (!strcmp(error, "timed out"))
		return -ETIMEDOUT;
	if (!strcmp(error, "constraint violation"))
		return -EEXIST;
	return -EIO;
}

int ovs_msg_result_check(const json_t *reply, const json_t *ops)
{
	const json_t *err = json_object_get(reply, "error");
	const json_t *res = json_object_get(reply, "result");
	char name[64];
	size_t i, n = json_array_size(ops);

	if (err && !json_is_null(err)) {
		const char *e = json_is_string(err) ? json_string_value(err)
						      : json_string_value(json_object_get(err, "error"));

		return err_set(-EIO, "transaction refused: %s", e ? e : "(no reason given)");
	}
	if (!json_is_array(res) || json_array_size(res) < n)
		return err_set(-EPROTO, "a transact reply without a result per operation");
	/* An error in one operation aborts the transaction; the server
	 * reports it at that operation (or, for a commit failure such as a
	 * constraint violation, in an extra result after the last). */
	for (i = 0; i < json_array_size(res); i++) {
		const json_t *r = json_array_get(res, i);
		const char *e = json_string_value(json_object_get(r, "error"));
		const char *d = json_string_value(json_object_get(r, "details"));

		if (!e)
			continue;
		if (i < n)
			op_name(json_array_get(ops, i), name, sizeof(name));
		else
			snprintf(name, sizeof(name), "commit");
		return err_set(error_rc(e), "op %zu (%s): %s%s%s", i, name, e, d ? ": " : "",
			       d ? d : "");
	}
	return 0;
}

/* ---- operations ---- */

static json_t *op_next_cfg(json_t *ops)
{
	/* Bump next_cfg and read back what it became: ovs-vswitchd copies it
	 * to cur_cfg once the database's change is in the datapath. */
	json_array_append_new(ops, json_pack("{s:s, s:s, s:[], s:[[s, s, i]]}", "op", "mutate",
					     "table", "Open_vSwitch", "where", "mutations",
					     "next_cfg", "+=", 1));
	json_array_append_new(ops, json_pack("{s:s, s:s, s:[], s:[s]}", "op", "select", "table",
					     "Open_vSwitch", "where", "columns", "next_cfg"));
	return ops;
}

static json_t *op_status(const char *ifname, bool active)
{
	/* A map "insert" keeps an existing key's value: delete it first,
	 * in the same operation (mutations apply in order). */
	return json_pack("{s:s, s:s, s:o, s:[[s, s, [s, [s]]], [s, s, [s, [[s, s]]]]]}", "op",
			 "mutate", "table", "Interface", "where", where_name(ifname), "mutations",
			 "external_ids", "delete", "set", "iface-status", "external_ids", "insert",
			 "map", "iface-status", active ? "active" : "inactive");
}

json_t *ovs_msg_plug(const struct ovs_port *p)
{
	json_t *ops = json_array(), *ids = map_new(), *pids = map_new(), *port, *trunks;

	map_put(ids, "iface-id", p->iface_id);
	map_put(ids, "attached-mac", p->mac);
	map_put(ids, "vm-id", p->vm_id);
	map_put(ids, "xen-vm-name", p->vm_name);
	map_put(ids, "iface-status", p->active ? "active" : "inactive");
	map_put(ids, OVS_OWNER_KEY, p->net);
	map_put(pids, OVS_OWNER_KEY, p->net);
	json_array_append_new(ops, json_pack("{s:s, s:s, s:s, s:{s:s, s:o}}", "op", "insert",
					     "table", "Interface", "uuid-name", "iface", "row",
					     "name", p->ifname, "external_ids", ids));
	port = json_pack("{s:s, s:o, s:o}", "name", p->ifname, "interfaces",
			 uuid_ref("named-uuid", "iface"), "external_ids", pids);
	if (p->tag >= 0)
		json_object_set_new(port, "tag", json_integer(p->tag));
	if (p->n_trunks) {
		trunks = json_array();
		for (size_t i = 0; i < p->n_trunks; i++)
			json_array_append_new(trunks, json_integer(p->trunks[i]));
		json_object_set_new(port, "trunks", set_of(trunks));
	}
	if (p->vlan_mode)
		json_object_set_new(port, "vlan_mode", json_string(p->vlan_mode));
	json_array_append_new(ops, json_pack("{s:s, s:s, s:s, s:o}", "op", "insert", "table",
					     "Port", "uuid-name", "port", "row", port));
	json_array_append_new(ops, json_pack("{s:s, s:s, s:o, s:[[s, s, o]]}", "op", "mutate",
					     "table", "Bridge", "where", where_name(p->bridge),
					     "mutations", "ports", "insert",
					     set_of(json_pack("[o]", uuid_ref("named-uuid", "port")))));
	if (p->twin)
		json_array_append_new(ops, op_status(p->twin, p->twin_active));
	return op_next_cfg(ops);
}

long long ovs_msg_cfg(const json_t *result)
{
	size_t n = json_array_size(result);
	const json_t *rows = n ? json_object_get(json_array_get(result, n - 1), "rows") : NULL;
	const json_t *cfg = json_object_get(json_array_get(rows, 0), "next_cfg");

	if (!json_is_integer(cfg))
		return err_set(-EPROTO, "no next_cfg in the transaction's result");
	return json_integer_value(cfg);
}

long long ovs_msg_plug_cfg(const json_t *result, const char *bridge)
{
	const json_t *count = json_object_get(json_array_get(result, 2), "count");

	if (!json_is_integer(count))
		return err_set(-EPROTO, "no count for the bridge's mutate");
	if (json_integer_value(count) != 1)
		return err_set(-ENOENT, "bridge %s is not in the database", bridge);
	return ovs_msg_cfg(result);
}

json_t *ovs_msg_port_find(const char *ifname)
{
	json_t *ops = json_array();

	json_array_append_new(ops, json_pack("{s:s, s:s, s:o, s:[s, s]}", "op", "select", "table",
					     "Port", "where", where_name(ifname), "columns",
					     "_uuid", "external_ids"));
	return ops;
}

int ovs_msg_port_found(const json_t *result, const char **uuid, const char **owner)
{
	const json_t *rows = json_object_get(json_array_get(result, 0), "rows"), *row;

	if (!json_is_array(rows))
		return err_set(-EPROTO, "a port lookup reply without rows");
	if (json_array_size(rows) == 0)
		return -ENOENT;
	row = json_array_get(rows, 0);
	*uuid = uuid_of(json_object_get(row, "_uuid"));
	*owner = map_get(json_object_get(row, "external_ids"), OVS_OWNER_KEY);
	if (!*uuid)
		return err_set(-EPROTO, "a port row without _uuid");
	return 0;
}

json_t *ovs_msg_unplug(const char *bridge, const char *port_uuid, const char *twin,
		       bool twin_active)
{
	json_t *ops = json_array();

	json_array_append_new(ops, json_pack("{s:s, s:s, s:o, s:[[s, s, o]]}", "op", "mutate",
					     "table", "Bridge", "where", where_name(bridge),
					     "mutations", "ports", "delete",
					     set_of(json_pack("[o]", uuid_ref("uuid", port_uuid)))));
	if (twin)
		json_array_append_new(ops, op_status(twin, twin_active));
	return op_next_cfg(ops);
}

json_t *ovs_msg_wait_cfg(long long cfg, int timeout_ms)
{
	/* Until at least one row (the only one) has cur_cfg >= cfg: "!="
	 * against no rows; a later configuration by someone else counts. */
	return json_pack("[{s:s, s:i, s:s, s:[[s, s, I]], s:[], s:s, s:[]}]", "op", "wait",
			 "timeout", timeout_ms, "table", "Open_vSwitch", "where", "cur_cfg", ">=",
			 (json_int_t)cfg, "columns", "until", "!=", "rows");
}

json_t *ovs_msg_wait_ovn(const char *ifname, int timeout_ms)
{
	return json_pack("[{s:s, s:i, s:s, s:[[s, s, s], [s, s, [s, [[s, s]]]]], s:[s], s:s, s:[]}]",
			 "op", "wait", "timeout", timeout_ms, "table", "Interface", "where", "name",
			 "==", ifname, "external_ids", "includes", "map", "ovn-installed", "true",
			 "columns", "name", "until", "!=", "rows");
}

json_t *ovs_msg_bridge_find(const char *bridge)
{
	json_t *ops = json_array();

	json_array_append_new(ops, json_pack("{s:s, s:s, s:o, s:[s, s, s]}", "op", "select",
					     "table", "Bridge", "where", where_name(bridge),
					     "columns", "_uuid", "external_ids", "ports"));
	return ops;
}

int ovs_msg_bridge_found(const json_t *result, const char **uuid, const char **owner,
			 size_t *n_ports)
{
	const json_t *rows = json_object_get(json_array_get(result, 0), "rows"), *row;

	if (!json_is_array(rows))
		return err_set(-EPROTO, "a bridge lookup reply without rows");
	if (json_array_size(rows) == 0)
		return 0;
	row = json_array_get(rows, 0);
	*uuid = uuid_of(json_object_get(row, "_uuid"));
	*owner = map_get(json_object_get(row, "external_ids"), OVS_OWNER_KEY);
	*n_ports = set_size(json_object_get(row, "ports"));
	if (!*uuid)
		return err_set(-EPROTO, "a bridge row without _uuid");
	return 1;
}

json_t *ovs_msg_bridge_add(const char *bridge, const char *dp_type, const char *net)
{
	json_t *ops = json_array(), *br, *ids = map_new();

	map_put(ids, OVS_OWNER_KEY, net);
	json_array_append_new(ops, json_pack("{s:s, s:s, s:s, s:{s:s, s:s}}", "op", "insert",
					     "table", "Interface", "uuid-name", "iface", "row",
					     "name", bridge, "type", "internal"));
	json_array_append_new(ops, json_pack("{s:s, s:s, s:s, s:{s:s, s:o}}", "op", "insert",
					     "table", "Port", "uuid-name", "port", "row", "name",
					     bridge, "interfaces", uuid_ref("named-uuid", "iface")));
	br = json_pack("{s:s, s:o, s:o}", "name", bridge, "ports",
		       uuid_ref("named-uuid", "port"), "external_ids", ids);
	if (dp_type && dp_type[0])
		json_object_set_new(br, "datapath_type", json_string(dp_type));
	json_array_append_new(ops, json_pack("{s:s, s:s, s:s, s:o}", "op", "insert", "table",
					     "Bridge", "uuid-name", "br", "row", br));
	json_array_append_new(ops, json_pack("{s:s, s:s, s:[], s:[[s, s, o]]}", "op", "mutate",
					     "table", "Open_vSwitch", "where", "mutations",
					     "bridges", "insert",
					     set_of(json_pack("[o]", uuid_ref("named-uuid", "br")))));
	return op_next_cfg(ops);
}

json_t *ovs_msg_bridge_del(const char *bridge_uuid)
{
	json_t *ops = json_array();

	/* Bridge is not a root table: out of Open_vSwitch.bridges, its row
	 * goes, and with it its ports and interfaces. */
	json_array_append_new(ops, json_pack("{s:s, s:s, s:[], s:[[s, s, o]]}", "op", "mutate",
					     "table", "Open_vSwitch", "where", "mutations",
					     "bridges", "delete",
					     set_of(json_pack("[o]", uuid_ref("uuid", bridge_uuid)))));
	return op_next_cfg(ops);
}

json_t *ovs_msg_ports_list(const char *bridge)
{
	json_t *ops = json_array();

	json_array_append_new(ops, json_pack("{s:s, s:s, s:o, s:[s]}", "op", "select", "table",
					     "Bridge", "where", where_name(bridge), "columns",
					     "ports"));
	json_array_append_new(ops, json_pack("{s:s, s:s, s:[], s:[s, s, s, s, s, s]}", "op",
					     "select", "table", "Port", "where", "columns", "_uuid",
					     "name", "external_ids", "tag", "trunks", "vlan_mode"));
	json_array_append_new(ops, json_pack("{s:s, s:s, s:[], s:[s, s]}", "op", "select",
					     "table", "Interface", "where", "columns", "name",
					     "external_ids"));
	return ops;
}

/* Each row of result's op i (one of the list's) at [name][i - 1] of
 * index: the Port row at 0, the Interface row at 1. */
static int index_rows(json_t *index, const json_t *result, size_t i)
{
	const json_t *rows = json_object_get(json_array_get(result, i), "rows");

	for (size_t j = 0; j < json_array_size(rows); j++) {
		json_t *row = json_array_get(rows, j);
		const char *n = json_string_value(json_object_get(row, "name"));
		json_t *pair = n ? json_object_get(index, n) : NULL;

		if (!n)
			continue;
		if (!pair && json_object_set_new(index, n, pair = json_pack("[n, n]")))
			return -ENOMEM;
		if (json_array_set(pair, i - 1, row))
			return -ENOMEM;
	}
	return 0;
}

json_t *ovs_msg_ports_index(const json_t *result)
{
	json_t *index = json_object();

	if (!index || index_rows(index, result, 1) || index_rows(index, result, 2)) {
		json_decref(index);
		return NULL;
	}
	return index;
}

static bool same_str(const char *a, const char *b)
{
	return a ? b && !strcmp(a, b) : !b;
}

/* An optional integer column (["set", []] or n) is want (-1: none)? */
static bool same_opt_int(const json_t *col, long long want)
{
	const json_t *v = set_size(col) == 1 ? set_at(col, 0) : NULL;

	return want < 0 ? set_size(col) == 0 : json_is_integer(v) && json_integer_value(v) == want;
}

static bool same_trunks(const json_t *col, const uint16_t *want, size_t n)
{
	if (set_size(col) != n)
		return false;
	for (size_t i = 0; i < n; i++) {
		bool found = false;

		for (size_t j = 0; j < n && !found; j++)
			found = json_integer_value(set_at(col, j)) == want[i];
		if (!found)
			return false;
	}
	return true;
}

const char *ovs_msg_port_differs(const json_t *index, const struct ovs_port *want)
{
	const json_t *pair = json_object_get(index, want->ifname);
	const json_t *port = json_array_get(pair, 0), *iface = json_array_get(pair, 1), *mode;
	const json_t *ids = json_object_get(iface, "external_ids");

	if (!json_is_object(port) || !json_is_object(iface))
		return "its rows";
	if (!same_str(map_get(ids, "iface-id"), want->iface_id))
		return "iface-id";
	if (!same_str(map_get(ids, "attached-mac"), want->mac))
		return "attached-mac";
	if (!same_opt_int(json_object_get(port, "tag"), want->tag))
		return "tag";
	if (!same_trunks(json_object_get(port, "trunks"), want->trunks, want->n_trunks))
		return "trunks";
	mode = json_object_get(port, "vlan_mode");
	if (!same_str(set_size(mode) == 1 ? json_string_value(set_at(mode, 0)) : NULL,
		      want->vlan_mode))
		return "vlan_mode";
	return NULL;
}

int ovs_msg_ports_each(const json_t *result,
		       int (*fn)(const char *name, const char *uuid, const char *owner, void *data),
		       void *data)
{
	const json_t *brows = json_object_get(json_array_get(result, 0), "rows");
	const json_t *prows = json_object_get(json_array_get(result, 1), "rows");
	const json_t *ports;
	json_t *mine;
	int rc = 0;

	if (!json_is_array(brows) || !json_is_array(prows))
		return err_set(-EPROTO, "a port list reply without rows");
	if (json_array_size(brows) == 0)
		return 0;
	/* The bridge's port uuids as a set (a hash): a walk of it per row
	 * made a list of n ports n^2 string compares. */
	ports = json_object_get(json_array_get(brows, 0), "ports");
	mine = json_object();
	if (!mine)
		rc = -ENOMEM;
	for (size_t j = 0; rc == 0 && j < set_size(ports); j++) {
		const char *u = uuid_of(set_at(ports, j));

		if (u && json_object_set_new(mine, u, json_true()))
			rc = -ENOMEM;
	}
	if (rc)
		err_set(rc, "out of memory");
	for (size_t i = 0; rc == 0 && i < json_array_size(prows); i++) {
		const json_t *row = json_array_get(prows, i);
		const char *uuid = uuid_of(json_object_get(row, "_uuid"));
		const char *name = json_string_value(json_object_get(row, "name"));

		if (!uuid || !name)
			rc = err_set(-EPROTO, "a port row without _uuid or name");
		else if (json_object_get(mine, uuid))
			rc = fn(name, uuid,
				map_get(json_object_get(row, "external_ids"), OVS_OWNER_KEY), data);
	}
	json_decref(mine);
	return rc;
}
