/* Unit tests for ovs mode's OVSDB messages (ovs/ovs_msg.c), its JSON-RPC
 * client (ovs/ovsdb.c, against a scripted server in a child process), the
 * vif-openvswitch VLAN suffix parser (vif/vif.c) and the anti-spoofing
 * rules' text (ovs/flows.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/err.h"
#include "ovs/flows.h"
#include "ovs/ovs_msg.h"
#include "ovs/ovsdb.h"
#include "vif/vif.h"

static json_t *parse(const char *text)
{
	json_error_t e;
	json_t *j = json_loads(text, 0, &e);

	if (!j)
		fail_msg("bad test JSON at %d: %s", e.position, e.text);
	return j;
}

static void assert_json(json_t *got, const char *want)
{
	json_t *w = parse(want);

	if (!json_equal(got, w)) {
		char *g = json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS);
		char *x = json_dumps(w, JSON_COMPACT | JSON_SORT_KEYS);

		fail_msg("got  %s\nwant %s", g, x);
	}
	json_decref(w);
	json_decref(got);
}

/* ---- framing ---- */

static void test_frame(void **state)
{
	const char two[] = " {\"id\":1}\n{\"id\":2,\"result\":[]}";
	json_t *m = NULL;
	size_t used = 0;

	assert_int_equal(ovs_msg_frame(two, strlen(two), &m, &used), 0);
	assert_int_equal(json_integer_value(json_object_get(m, "id")), 1);
	json_decref(m);
	assert_int_equal(ovs_msg_frame(two + used, strlen(two) - used, &m, &used), 0);
	assert_int_equal(json_integer_value(json_object_get(m, "id")), 2);
	json_decref(m);
	/* incomplete: read more, nothing consumed */
	assert_int_equal(ovs_msg_frame("{\"id\":", 6, &m, &used), 1);
	assert_int_equal(ovs_msg_frame("  \n", 3, &m, &used), 1);
	assert_int_equal(ovs_msg_frame("", 0, &m, &used), 1);
	/* not JSON, or not an object */
	assert_int_equal(ovs_msg_frame("}{", 2, &m, &used), -EPROTO);
	assert_int_equal(ovs_msg_frame("[1] ", 4, &m, &used), -EPROTO);
	assert_int_equal(ovs_msg_frame("\"x\" ", 4, &m, &used), -EPROTO);
}

static void test_scan(void **state)
{
	/* brackets and escaped quotes inside strings are not the value's */
	const char msg[] = " \n{\"a\":\"}]\\\"{\",\"b\":[{\"c\":[]}]}{\"next\":1}";
	const size_t first = strlen(" \n{\"a\":\"}]\\\"{\",\"b\":[{\"c\":[]}]}");
	struct ovs_msg_scan s = { 0 };
	size_t end = 0;

	/* byte by byte, as reads that cut it anywhere: whole at its last */
	for (size_t n = 0; n < first; n++)
		assert_int_equal(ovs_msg_scan(&s, msg, n, &end), 0);
	assert_int_equal(ovs_msg_scan(&s, msg, first, &end), 1);
	assert_int_equal(end, first);
	/* all at once: the same end, the next value not scanned */
	s = (struct ovs_msg_scan){ 0 };
	assert_int_equal(ovs_msg_scan(&s, msg, strlen(msg), &end), 1);
	assert_int_equal(end, first);
	s = (struct ovs_msg_scan){ 0 };
	assert_int_equal(ovs_msg_scan(&s, "[1] ", 4, &end), 1);
	assert_int_equal(end, 3);
	/* blanks only: not yet; not an object or array: the whole buffer,
	 * for ovs_msg_frame() to refuse */
	s = (struct ovs_msg_scan){ 0 };
	assert_int_equal(ovs_msg_scan(&s, "  \n", 3, &end), 0);
	assert_int_equal(ovs_msg_scan(&s, "  \n}{", 5, &end), 1);
	assert_int_equal(end, 5);
	s = (struct ovs_msg_scan){ 0 };
	assert_int_equal(ovs_msg_scan(&s, "\"x\" ", 4, &end), 1);
	assert_int_equal(end, 4);
}

/* ---- building ---- */

static void test_plug_message(void **state)
{
	static const uint16_t trunks[] = { 20, 30 };
	struct ovs_port p = {
		.bridge = "ovsbr", .ifname = "vif5.0", .net = "ovsbr", .iface_id = "lsp1",
		.mac = "00:16:3e:00:00:05", .vm_id = "00000000-0000-4000-8000-000000000005",
		.vm_name = "web", .active = true, .tag = 10, .trunks = trunks, .n_trunks = 2,
		.vlan_mode = "native-untagged", .twin = "vif5.0-emu", .twin_active = false,
	};

	assert_json(ovs_msg_plug(&p),
		"[{\"op\":\"insert\",\"table\":\"Interface\",\"uuid-name\":\"iface\",\"row\":{\"name\":\"vif5.0\","
		"\"external_ids\":[\"map\",[[\"iface-id\",\"lsp1\"],[\"attached-mac\",\"00:16:3e:00:00:05\"],"
		"[\"vm-id\",\"00000000-0000-4000-8000-000000000005\"],[\"xen-vm-name\",\"web\"],"
		"[\"iface-status\",\"active\"],[\"netd-net\",\"ovsbr\"]]]}},"
		"{\"op\":\"insert\",\"table\":\"Port\",\"uuid-name\":\"port\",\"row\":{\"name\":\"vif5.0\","
		"\"interfaces\":[\"named-uuid\",\"iface\"],\"external_ids\":[\"map\",[[\"netd-net\",\"ovsbr\"]]],"
		"\"tag\":10,\"trunks\":[\"set\",[20,30]],\"vlan_mode\":\"native-untagged\"}},"
		"{\"op\":\"mutate\",\"table\":\"Bridge\",\"where\":[[\"name\",\"==\",\"ovsbr\"]],"
		"\"mutations\":[[\"ports\",\"insert\",[\"set\",[[\"named-uuid\",\"port\"]]]]]},"
		"{\"op\":\"mutate\",\"table\":\"Interface\",\"where\":[[\"name\",\"==\",\"vif5.0-emu\"]],"
		"\"mutations\":[[\"external_ids\",\"delete\",[\"set\",[\"iface-status\"]]],"
		"[\"external_ids\",\"insert\",[\"map\",[[\"iface-status\",\"inactive\"]]]]]},"
		"{\"op\":\"mutate\",\"table\":\"Open_vSwitch\",\"where\":[],\"mutations\":[[\"next_cfg\",\"+=\",1]]},"
		"{\"op\":\"select\",\"table\":\"Open_vSwitch\",\"where\":[],\"columns\":[\"next_cfg\"]}]");

	/* no VLAN, no twin, unknown domain: those keys and columns are absent */
	memset(&p, 0, sizeof(p));
	p.bridge = "b";
	p.ifname = "vif6.0";
	p.net = "b";
	p.iface_id = "xen-dom6-0";
	p.tag = -1;
	assert_json(ovs_msg_plug(&p),
		"[{\"op\":\"insert\",\"table\":\"Interface\",\"uuid-name\":\"iface\",\"row\":{\"name\":\"vif6.0\","
		"\"external_ids\":[\"map\",[[\"iface-id\",\"xen-dom6-0\"],[\"iface-status\",\"inactive\"],"
		"[\"netd-net\",\"b\"]]]}},"
		"{\"op\":\"insert\",\"table\":\"Port\",\"uuid-name\":\"port\",\"row\":{\"name\":\"vif6.0\","
		"\"interfaces\":[\"named-uuid\",\"iface\"],\"external_ids\":[\"map\",[[\"netd-net\",\"b\"]]]}},"
		"{\"op\":\"mutate\",\"table\":\"Bridge\",\"where\":[[\"name\",\"==\",\"b\"]],"
		"\"mutations\":[[\"ports\",\"insert\",[\"set\",[[\"named-uuid\",\"port\"]]]]]},"
		"{\"op\":\"mutate\",\"table\":\"Open_vSwitch\",\"where\":[],\"mutations\":[[\"next_cfg\",\"+=\",1]]},"
		"{\"op\":\"select\",\"table\":\"Open_vSwitch\",\"where\":[],\"columns\":[\"next_cfg\"]}]");
}

static void test_wait_messages(void **state)
{
	assert_json(ovs_msg_wait_cfg(42, 5000),
		"[{\"op\":\"wait\",\"timeout\":5000,\"table\":\"Open_vSwitch\",\"where\":[[\"cur_cfg\",\">=\",42]],"
		"\"columns\":[],\"until\":\"!=\",\"rows\":[]}]");
	assert_json(ovs_msg_wait_ovn("vif5.0", 20000),
		"[{\"op\":\"wait\",\"timeout\":20000,\"table\":\"Interface\",\"where\":[[\"name\",\"==\",\"vif5.0\"],"
		"[\"external_ids\",\"includes\",[\"map\",[[\"ovn-installed\",\"true\"]]]]],"
		"\"columns\":[\"name\"],\"until\":\"!=\",\"rows\":[]}]");
	assert_json(ovs_msg_unplug("br", "u-1", NULL, false),
		"[{\"op\":\"mutate\",\"table\":\"Bridge\",\"where\":[[\"name\",\"==\",\"br\"]],"
		"\"mutations\":[[\"ports\",\"delete\",[\"set\",[[\"uuid\",\"u-1\"]]]]]},"
		"{\"op\":\"mutate\",\"table\":\"Open_vSwitch\",\"where\":[],\"mutations\":[[\"next_cfg\",\"+=\",1]]},"
		"{\"op\":\"select\",\"table\":\"Open_vSwitch\",\"where\":[],\"columns\":[\"next_cfg\"]}]");
	assert_json(ovs_msg_bridge_add("br", "netdev", "br"),
		"[{\"op\":\"insert\",\"table\":\"Interface\",\"uuid-name\":\"iface\",\"row\":{\"name\":\"br\",\"type\":\"internal\"}},"
		"{\"op\":\"insert\",\"table\":\"Port\",\"uuid-name\":\"port\",\"row\":{\"name\":\"br\",\"interfaces\":[\"named-uuid\",\"iface\"]}},"
		"{\"op\":\"insert\",\"table\":\"Bridge\",\"uuid-name\":\"br\",\"row\":{\"name\":\"br\",\"ports\":[\"named-uuid\",\"port\"],"
		"\"external_ids\":[\"map\",[[\"netd-net\",\"br\"]]],\"datapath_type\":\"netdev\"}},"
		"{\"op\":\"mutate\",\"table\":\"Open_vSwitch\",\"where\":[],\"mutations\":[[\"bridges\",\"insert\",[\"set\",[[\"named-uuid\",\"br\"]]]]]},"
		"{\"op\":\"mutate\",\"table\":\"Open_vSwitch\",\"where\":[],\"mutations\":[[\"next_cfg\",\"+=\",1]]},"
		"{\"op\":\"select\",\"table\":\"Open_vSwitch\",\"where\":[],\"columns\":[\"next_cfg\"]}]");
}

/* A name with quotes and backslashes goes out as a JSON string, not as
 * text spliced into one. */
static void test_names_are_json_strings(void **state)
{
	json_t *ops = ovs_msg_port_find("a\"b\\c");
	char *s = json_dumps(ops, JSON_COMPACT);

	assert_non_null(strstr(s, "\"a\\\"b\\\\c\""));
	free(s);
	json_decref(ops);
}

/* ---- reading ---- */

static int check(const char *reply, size_t n_ops)
{
	json_t *r = parse(reply), *ops = json_array();
	int rc;

	for (size_t i = 0; i < n_ops; i++)
		json_array_append_new(ops, json_pack("{s:s, s:s}", "op", "insert", "table", "Port"));
	rc = ovs_msg_result_check(r, ops);
	json_decref(r);
	json_decref(ops);
	return rc;
}

static void test_result_check(void **state)
{
	assert_int_equal(check("{\"id\":1,\"error\":null,\"result\":[{},{\"count\":1}]}", 2), 0);
	assert_int_equal(check("{\"id\":1,\"error\":null,\"result\":[{},{\"error\":\"referential integrity violation\","
			       "\"details\":\"no row\"}]}", 2), -EIO);
	assert_string_equal(err_msg(), "op 1 (insert Port): referential integrity violation: no row");
	/* a commit failure comes after the last operation's result */
	assert_int_equal(check("{\"id\":1,\"error\":null,\"result\":[{},{},{\"error\":\"constraint violation\","
			       "\"details\":\"dup\"}]}", 2), -EEXIST);
	assert_string_equal(err_msg(), "op 2 (commit): constraint violation: dup");
	assert_int_equal(check("{\"id\":1,\"error\":null,\"result\":[{\"error\":\"timed out\"}]}", 1), -ETIMEDOUT);
	assert_int_equal(check("{\"id\":1,\"error\":\"unknown database\",\"result\":null}", 1), -EIO);
	assert_int_equal(check("{\"id\":1,\"error\":{\"error\":\"syntax error\"},\"result\":null}", 1), -EIO);
	assert_non_null(strstr(err_msg(), "syntax error"));
	/* too few results, none, or not an array */
	assert_int_equal(check("{\"id\":1,\"error\":null,\"result\":[{}]}", 2), -EPROTO);
	assert_int_equal(check("{\"id\":1}", 1), -EPROTO);
	assert_int_equal(check("{\"id\":1,\"result\":{}}", 1), -EPROTO);
}

static void test_cfg_and_lookups(void **state)
{
	json_t *r = parse("[{\"uuid\":[\"uuid\",\"i\"]},{\"uuid\":[\"uuid\",\"p\"]},{\"count\":1},{\"count\":1},"
			  "{\"rows\":[{\"next_cfg\":7}]}]");
	const char *uuid, *owner;
	size_t n;

	assert_int_equal(ovs_msg_plug_cfg(r, "br"), 7);
	json_decref(r);
	r = parse("[{},{},{\"count\":0},{\"count\":1},{\"rows\":[{\"next_cfg\":7}]}]");
	assert_int_equal(ovs_msg_plug_cfg(r, "br"), -ENOENT);
	assert_string_equal(err_msg(), "bridge br is not in the database");
	json_decref(r);
	r = parse("[{},{},{\"count\":1},{},{\"rows\":[]}]");
	assert_int_equal(ovs_msg_plug_cfg(r, "br"), -EPROTO);
	json_decref(r);

	r = parse("[{\"rows\":[{\"_uuid\":[\"uuid\",\"u1\"],\"external_ids\":[\"map\",[[\"netd-net\",\"br\"]]]}]}]");
	assert_int_equal(ovs_msg_port_found(r, &uuid, &owner), 0);
	assert_string_equal(uuid, "u1");
	assert_string_equal(owner, "br");
	json_decref(r);
	r = parse("[{\"rows\":[{\"_uuid\":[\"uuid\",\"u1\"],\"external_ids\":[\"map\",[]]}]}]");
	assert_int_equal(ovs_msg_port_found(r, &uuid, &owner), 0);
	assert_null(owner);
	json_decref(r);
	r = parse("[{\"rows\":[]}]");
	assert_int_equal(ovs_msg_port_found(r, &uuid, &owner), -ENOENT);
	json_decref(r);
	r = parse("[{\"rows\":[{\"external_ids\":[\"map\",[]]}]}]");
	assert_int_equal(ovs_msg_port_found(r, &uuid, &owner), -EPROTO);
	json_decref(r);
	r = parse("[{}]");
	assert_int_equal(ovs_msg_port_found(r, &uuid, &owner), -EPROTO);
	json_decref(r);

	/* a set of one is the element itself (RFC 7047 5.1) */
	r = parse("[{\"rows\":[{\"_uuid\":[\"uuid\",\"b\"],\"external_ids\":[\"map\",[]],\"ports\":[\"uuid\",\"p\"]}]}]");
	assert_int_equal(ovs_msg_bridge_found(r, &uuid, &owner, &n), 1);
	assert_int_equal(n, 1);
	assert_null(owner);
	json_decref(r);
	r = parse("[{\"rows\":[{\"_uuid\":[\"uuid\",\"b\"],\"external_ids\":[\"map\",[[\"netd-net\",\"x\"]]],"
		  "\"ports\":[\"set\",[[\"uuid\",\"p\"],[\"uuid\",\"q\"]]]}]}]");
	assert_int_equal(ovs_msg_bridge_found(r, &uuid, &owner, &n), 1);
	assert_int_equal(n, 2);
	assert_string_equal(owner, "x");
	json_decref(r);
	r = parse("[{\"rows\":[]}]");
	assert_int_equal(ovs_msg_bridge_found(r, &uuid, &owner, &n), 0);
	json_decref(r);
}

struct seen {
	char names[8][32];
	size_t n;
};

static int note(const char *name, const char *uuid, const char *owner, void *data)
{
	struct seen *s = data;

	snprintf(s->names[s->n++], sizeof(s->names[0]), "%s:%s", name, owner ? owner : "-");
	return 0;
}

static void test_ports_each(void **state)
{
	/* Only the ports the bridge holds, whatever other bridges have. */
	json_t *r = parse("[{\"rows\":[{\"ports\":[\"set\",[[\"uuid\",\"a\"],[\"uuid\",\"c\"]]]}]},"
			  "{\"rows\":[{\"_uuid\":[\"uuid\",\"a\"],\"name\":\"br\",\"external_ids\":[\"map\",[]]},"
			  "{\"_uuid\":[\"uuid\",\"b\"],\"name\":\"other\",\"external_ids\":[\"map\",[[\"netd-net\",\"br\"]]]},"
			  "{\"_uuid\":[\"uuid\",\"c\"],\"name\":\"vif1.0\",\"external_ids\":[\"map\",[[\"netd-net\",\"br\"]]]}]}]");
	struct seen s = { 0 };

	assert_int_equal(ovs_msg_ports_each(r, note, &s), 0);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.names[0], "br:-");
	assert_string_equal(s.names[1], "vif1.0:br");
	json_decref(r);
	/* no such bridge: nothing */
	r = parse("[{\"rows\":[]},{\"rows\":[]}]");
	s.n = 0;
	assert_int_equal(ovs_msg_ports_each(r, note, &s), 0);
	assert_int_equal(s.n, 0);
	json_decref(r);
	r = parse("[{\"rows\":[{\"ports\":[\"uuid\",\"a\"]}]},{\"rows\":[{\"name\":\"x\"}]}]");
	assert_int_equal(ovs_msg_ports_each(r, note, &s), -EPROTO);
	json_decref(r);
}

static void test_port_differs(void **state)
{
	/* a ports list result: the bridge's ports, Port rows, Interface rows */
	json_t *r = parse("[{\"rows\":[]},"
			  "{\"rows\":[{\"name\":\"vif1.0\",\"tag\":[\"set\",[]],"
			  "\"trunks\":[\"set\",[20,10]],\"vlan_mode\":\"native-untagged\"}]},"
			  "{\"rows\":[{\"name\":\"vif1.0\",\"external_ids\":[\"map\","
			  "[[\"iface-id\",\"lp1\"],[\"attached-mac\",\"00:16:3e:00:00:01\"]]]}]}]");
	json_t *ix = ovs_msg_ports_index(r);
	const uint16_t trunks[] = { 10, 20 };
	struct ovs_port want = { .ifname = "vif1.0", .iface_id = "lp1",
				 .mac = "00:16:3e:00:00:01", .tag = -1, .trunks = trunks,
				 .n_trunks = 2, .vlan_mode = "native-untagged" };

	assert_null(ovs_msg_port_differs(ix, &want)); /* trunks a set: any order */
	want.iface_id = "lp2";
	assert_string_equal(ovs_msg_port_differs(ix, &want), "iface-id");
	want.iface_id = "lp1";
	want.mac = NULL;
	assert_string_equal(ovs_msg_port_differs(ix, &want), "attached-mac");
	want.mac = "00:16:3e:00:00:01";
	want.tag = 5;
	assert_string_equal(ovs_msg_port_differs(ix, &want), "tag");
	want.tag = -1;
	want.n_trunks = 1;
	assert_string_equal(ovs_msg_port_differs(ix, &want), "trunks");
	want.n_trunks = 2;
	want.vlan_mode = NULL;
	assert_string_equal(ovs_msg_port_differs(ix, &want), "vlan_mode");
	want.ifname = "vif2.0";
	assert_string_equal(ovs_msg_port_differs(ix, &want), "its rows");
	json_decref(ix);
	json_decref(r);
	/* a Port row without its Interface row (or the other way) */
	r = parse("[{\"rows\":[]},{\"rows\":[{\"name\":\"vif1.0\"}]},"
		  "{\"rows\":[{\"name\":\"vif2.0\",\"external_ids\":[\"map\",[]]}]}]");
	ix = ovs_msg_ports_index(r);
	want.ifname = "vif1.0";
	assert_string_equal(ovs_msg_port_differs(ix, &want), "its rows");
	want.ifname = "vif2.0";
	assert_string_equal(ovs_msg_port_differs(ix, &want), "its rows");
	json_decref(ix);
	json_decref(r);
}

/* ---- the client, against a scripted server ---- */

/* The child: read one request, send an echo probe, then the reply in
 * two pieces, the first cut inside a string. */
static void server(int lfd)
{
	char buf[4096], reply[512];
	json_t *req = NULL, *m;
	size_t used, len = 0;
	int fd = accept(lfd, NULL, NULL);
	ssize_t r;

	while (fd >= 0 && (r = read(fd, buf + len, sizeof(buf) - len)) > 0) {
		len += (size_t)r;
		if (ovs_msg_frame(buf, len, &req, &used) == 0)
			break;
	}
	if (!req)
		_exit(2);
	if (write(fd, "{\"method\":\"echo\",\"params\":[\"x\"],\"id\":\"e1\"}", 42) != 42)
		_exit(3);
	len = 0;
	/* the echo's answer first */
	while ((r = read(fd, buf + len, sizeof(buf) - len)) > 0) {
		len += (size_t)r;
		if (ovs_msg_frame(buf, len, &m, &used) == 0)
			break;
	}
	if (r <= 0 || strcmp(json_string_value(json_object_get(m, "id")), "e1"))
		_exit(4);
	snprintf(reply, sizeof(reply),
		 "{\"id\":99,\"result\":[],\"error\":null}"
		 "{\"id\":%lld,\"error\":null,\"result\":[{\"rows\":[{\"next_cfg\":5}]}]}",
		 (long long)json_integer_value(json_object_get(req, "id")));
	if (write(fd, reply, 40) != 40)
		_exit(5);
	usleep(20000);
	if (write(fd, reply + 40, strlen(reply) - 40) < 0)
		_exit(6);
	usleep(200000);
	_exit(0);
}

static void test_client(void **state)
{
	char dir[] = "/tmp/ovsdbtXXXXXX", path[128];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct ovsdb db;
	json_t *res = NULL;
	int lfd, st;
	pid_t pid;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/db.sock", dir);
	/* nobody there: a clear error, no crash */
	ovsdb_init(&db, path);
	assert_int_equal(ovsdb_transact(&db, ovs_msg_wait_cfg(1, 10), 1000, NULL), -ENOENT);
	assert_non_null(strstr(err_msg(), "cannot connect to ovsdb-server"));
	lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	strcpy(sa.sun_path, path);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 1), 0);
	pid = fork();
	if (pid == 0)
		server(lfd);
	assert_int_equal(ovsdb_transact(&db, ovs_msg_wait_cfg(1, 10), 2000, &res), 0);
	assert_int_equal(ovs_msg_cfg(res), 5);
	json_decref(res);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	/* the server went away: the next call says so */
	assert_true(ovsdb_transact(&db, ovs_msg_wait_cfg(1, 10), 1000, NULL) < 0);
	ovsdb_close(&db);
	close(lfd);
	unlink(path);
	rmdir(dir);
}

/* A reply already there when the deadline has passed is taken: a netd
 * that was not scheduled meanwhile (stopped, a loaded host) has waited
 * for nothing. One not there is not waited for. */
static void test_client_late_reply_taken(void **state)
{
	static const char reply[] = "{\"id\":1,\"result\":[{}],\"error\":null}";
	struct ovsdb db;
	json_t *res = NULL;
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ovsdb_init(&db, "/nonexistent");
	db.fd = sv[0];
	assert_int_equal(write(sv[1], reply, sizeof(reply) - 1), (ssize_t)sizeof(reply) - 1);
	/* a 0 ms timeout: past the deadline at the first look */
	assert_int_equal(ovsdb_transact(&db, ovs_msg_wait_cfg(1, 10), 0, &res), 0);
	json_decref(res);
	/* nothing there: a timeout at once */
	db.fd = sv[0];
	assert_int_equal(ovsdb_transact(&db, ovs_msg_wait_cfg(1, 10), 0, NULL), -ETIMEDOUT);
	assert_non_null(strstr(err_msg(), "no reply in time"));
	ovsdb_close(&db);
	close(sv[1]);
}

/* ---- vif-openvswitch's VLAN suffix ---- */

static void test_bridge_vlan_parse(void **state)
{
	uint16_t t[4];
	size_t n;
	int tag;

	assert_int_equal(vif_bridge_vlan_parse(".10:20:30", &tag, t, 4, &n), 0);
	assert_int_equal(tag, 10);
	assert_int_equal(n, 2);
	assert_int_equal(t[0], 20);
	assert_int_equal(t[1], 30);
	assert_int_equal(vif_bridge_vlan_parse(":7", &tag, t, 4, &n), 0);
	assert_int_equal(tag, -1);
	assert_int_equal(n, 1);
	assert_int_equal(vif_bridge_vlan_parse("", &tag, t, 4, &n), 0);
	assert_int_equal(n, 0);
	static const char *const bad[] = { ".4096", ".010", "..1", ".", ":", "10", ".1.2", ":1.2",
					   ".1:", ".-1", ".1:2:3:4:5:6" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (vif_bridge_vlan_parse(bad[i], &tag, t, 4, &n) != -EINVAL)
			fail_msg("'%s' accepted", bad[i]);

	struct vif v;

	vif_init(&v, 5, 0);
	assert_int_equal(vif_set(&v, "bridge", "ovsbr.10:20"), 0);
	assert_string_equal(v.bridge, "ovsbr");
	assert_string_equal(v.bridge_vlan, ".10:20");
	assert_int_equal(vif_set(&v, "bridge", "xenbr0.10"), 0);
	assert_string_equal(v.bridge, "xenbr0.10"); /* a name until netd splits it */
	assert_string_equal(v.bridge_vlan, "");
	assert_int_equal(vif_bridge_split(&v), 0);
	assert_string_equal(v.bridge, "xenbr0");
	assert_string_equal(v.bridge_vlan, ".10");
	assert_int_equal(vif_set(&v, "bridge", ":10"), -EINVAL);
	assert_int_equal(vif_set(&v, "bridge", "a/b:10"), -EINVAL);
	assert_int_equal(vif_set(&v, "bridge", "ovsbr.10:x"), -EINVAL);
	assert_string_equal(v.bridge, "xenbr0"); /* unchanged by a refusal */
	assert_int_equal(vif_set(&v, "iface-id", "lsp-1.a:b@c"), 0);
	assert_int_equal(vif_set(&v, "iface-id", "a b"), -EINVAL);
	assert_int_equal(vif_set(&v, "iface-id", "a\"b"), -EINVAL);
	assert_int_equal(vif_set(&v, "vm-uuid", "00000000-0000-4000-8000-000000000005"), 0);
	assert_int_equal(vif_set(&v, "vm-uuid", "00000000-0000-4000-8000-00000000000"), -EINVAL);
	assert_int_equal(vif_set(&v, "vm-uuid", "00000000x0000-4000-8000-000000000005"), -EINVAL);
	assert_int_equal(vif_set(&v, "vm-name", "web 1"), 0);
	assert_int_equal(vif_set(&v, "vm-name", "a\nb"), -EINVAL);
}

/* ---- anti-spoofing rules ---- */

static void test_flows_text(void **state)
{
	char buf[8192], small[64];
	struct vif v;

	vif_init(&v, 5, 1);
	assert_int_equal(vif_parse_spec(&v, "mac=00:16:3e:00:00:05,ip=192.0.2.5 2001:db8::5"), 0);
	assert_int_equal(ovs_flows_text(&v, false, buf, sizeof(buf)), 0);
	/* every rule is the vif's: its cookie, its port */
	for (char *l = strtok(buf, "\n"); l; l = strtok(NULL, "\n"))
		if (strncmp(l, "cookie=0x4e44000000050001,table=0,in_port=\"vif5.1\",", 50))
			fail_msg("not the vif's: %s", l);
	assert_int_equal(ovs_flows_text(&v, false, buf, sizeof(buf)), 0);
	assert_non_null(strstr(buf, "priority=100,dl_src=00:16:3e:00:00:05,ip,nw_src=192.0.2.5,actions=NORMAL"));
	assert_non_null(strstr(buf, "arp,arp_spa=192.0.2.5,arp_sha=00:16:3e:00:00:05,actions=NORMAL"));
	assert_non_null(strstr(buf, "ipv6,ipv6_src=2001:db8::5,actions=NORMAL"));
	assert_non_null(strstr(buf, "ipv6,ipv6_src=fe80::216:3eff:fe00:5,actions=NORMAL"));
	assert_non_null(strstr(buf, "icmp_type=136,icmp_code=0,nd_target=2001:db8::5,actions=NORMAL"));
	assert_non_null(strstr(buf, "priority=10,actions=drop"));
	assert_non_null(strstr(buf, "icmp6,icmp_type=134,actions=drop"));
	/* no trunks: no 802.1Q tag at all; with trunks: not VLAN 0 (NORMAL
	 * keeps the others to the port's trunks) */
	assert_non_null(strstr(buf, "priority=300,vlan_tci=0x1000/0x1000,actions=drop"));
	assert_null(strstr(buf, "0x1fff"));
	assert_int_equal(ovs_flows_text(&v, true, buf, sizeof(buf)), 0);
	assert_non_null(strstr(buf, "priority=300,vlan_tci=0x1000/0x1fff,actions=drop"));
	assert_null(strstr(buf, "0x1000/0x1000"));
	assert_non_null(strstr(buf, "priority=100,dl_src=00:16:3e:00:00:05,ip,nw_src=192.0.2.5,actions=NORMAL"));
	/* without ip=: any address, its MAC still */
	vif_init(&v, 6, 0);
	assert_int_equal(vif_parse_spec(&v, "mac=00:16:3e:00:00:06"), 0);
	assert_int_equal(ovs_flows_text(&v, false, buf, sizeof(buf)), 0);
	assert_non_null(strstr(buf, "priority=100,dl_src=00:16:3e:00:00:06,ip,actions=NORMAL"));
	assert_null(strstr(buf, "nw_src="));
	assert_int_equal(ovs_flows_text(&v, false, small, sizeof(small)), -ENOSPC);
	assert_int_equal(OVS_FLOW_COOKIE(5, 0, 1), 0x4e44010000050000ull);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_frame),
		cmocka_unit_test(test_scan),
		cmocka_unit_test(test_plug_message),
		cmocka_unit_test(test_wait_messages),
		cmocka_unit_test(test_names_are_json_strings),
		cmocka_unit_test(test_result_check),
		cmocka_unit_test(test_cfg_and_lookups),
		cmocka_unit_test(test_ports_each),
		cmocka_unit_test(test_port_differs),
		cmocka_unit_test(test_client),
		cmocka_unit_test(test_client_late_reply_taken),
		cmocka_unit_test(test_bridge_vlan_parse),
		cmocka_unit_test(test_flows_text),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
