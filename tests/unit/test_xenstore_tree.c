/* Unit tests for the simulated xenstored's core (hypervisor/sim): path
 * rules, permissions, the node tree, and the request engine driven through
 * xs_conn_feed() exactly as the daemon drives it, without sockets. The
 * transaction cases follow the examples in xenstored's transaction.c. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hypervisor/sim/xs_store.h"
#include "lib/log.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ---- pure helpers ---- */

static void test_path_check(void **state)
{
	static const char *const good[] = {
		"/", "/a", "/local/domain/0", "/a-b_c@d/9", "/@x",
	};
	static const char *const bad[] = {
		"", "a", "//", "/a//b", "/a/", "/a b", "/a\tb", "/é", "/a.b",
	};
	char longp[XS_ABS_PATH_MAX + 2];
	unsigned i;

	for (i = 0; i < ARRAY_SIZE(good); i++)
		if (xs_path_check(good[i]))
			fail_msg("rejected good path '%s'", good[i]);
	for (i = 0; i < ARRAY_SIZE(bad); i++)
		if (xs_path_check(bad[i]) != -EINVAL)
			fail_msg("accepted bad path '%s'", bad[i]);
	longp[0] = '/';
	memset(longp + 1, 'a', XS_ABS_PATH_MAX - 1);
	longp[XS_ABS_PATH_MAX] = '\0';
	assert_int_equal(xs_path_check(longp), 0);
	longp[XS_ABS_PATH_MAX] = 'a';
	longp[XS_ABS_PATH_MAX + 1] = '\0';
	assert_int_equal(xs_path_check(longp), -EINVAL);
}

static void test_path_is_under(void **state)
{
	static const struct {
		const char *path, *base;
		int depth;
		bool want;
	} cases[] = {
		{ "/a", "/a", -1, true },     { "/a/b", "/a", -1, true },
		{ "/ab", "/a", -1, false },   { "/a", "/a/b", -1, false },
		{ "/x/y", "/", -1, true },    { "/", "/", 0, true },
		{ "/x", "/", 0, false },      { "/x", "/", 1, true },
		{ "/x/y", "/", 1, false },    { "/a/b", "/a", 0, false },
		{ "/a/b", "/a", 1, true },    { "/a/b/c", "/a", 1, false },
		{ "/a/b/c", "/a", 2, true },  { "@introduceDomain", "/", -1, false },
	};
	unsigned i;

	for (i = 0; i < ARRAY_SIZE(cases); i++)
		if (xs_path_is_under(cases[i].path, cases[i].base,
				     cases[i].depth) != cases[i].want)
			fail_msg("is_under(%s, %s, %d) != %d", cases[i].path,
				 cases[i].base, cases[i].depth, cases[i].want);
}

static void test_acl_access(void **state)
{
	const struct xs_perm p[] = { { 3, XS_P_READ }, { 5, XS_P_WRITE },
				     { 6, XS_P_NONE } };
	struct xs_acl *acl = xs_acl_new(p, 3);
	const unsigned all = XS_P_READ | XS_P_WRITE | XS_P_OWNER;

	assert_non_null(acl);
	assert_int_equal(xs_acl_access(acl, 0, true), all);  /* privileged */
	assert_int_equal(xs_acl_access(acl, 3, false), all); /* owner */
	assert_int_equal(xs_acl_access(acl, 5, false), XS_P_WRITE);
	assert_int_equal(xs_acl_access(acl, 6, false), XS_P_NONE);
	assert_int_equal(xs_acl_access(acl, 9, false), XS_P_READ); /* default */
	xs_acl_put(acl);
}

static void test_perm_strings(void **state)
{
	static const char *const good[] = { "n0", "r5", "w65535", "b12" };
	static const char *const bad[] = { "", "x0", "r", "r-1", "r65536",
					   "r 5", "R5", "r5x" };
	struct xs_perm p;
	char buf[16];
	unsigned i;

	for (i = 0; i < ARRAY_SIZE(good); i++) {
		assert_int_equal(xs_perm_parse(good[i], &p), 0);
		xs_perm_format(&p, buf);
		assert_string_equal(buf, good[i]);
	}
	for (i = 0; i < ARRAY_SIZE(bad); i++)
		if (xs_perm_parse(bad[i], &p) != -EINVAL)
			fail_msg("accepted bad perm '%s'", bad[i]);
	assert_string_equal(xs_err_name(ENOENT), "ENOENT");
	assert_string_equal(xs_err_name(EDOM), "EINVAL"); /* not in Xen's table */
	assert_int_equal(xs_err_from_name("EAGAIN"), EAGAIN);
}

static void test_tree_overlay_is_independent(void **state)
{
	uint64_t gen = 0;
	struct xs_tree t, c;
	struct xs_node *a, *ca;

	assert_int_equal(xs_tree_init(&t, &gen), 0);
	assert_int_equal(xs_node_add_child(&t, t.root, "a", 1, &a), 0);
	assert_int_equal(xs_node_set_value(&t, a, "v1", 2), 0);
	assert_int_equal(xs_tree_overlay(&c, &t), 0);
	ca = xs_tree_lookup(&c, "/a");
	assert_non_null(ca);
	assert_ptr_equal(ca->val, a->val); /* shared, not copied */
	assert_int_equal(ca->gen, a->gen);
	assert_int_equal(xs_node_set_value(&c, ca, "v2", 2), 0);
	assert_memory_equal(a->val->data, "v1", 2);
	xs_node_remove(&c, ca);
	assert_non_null(xs_tree_lookup(&t, "/a"));
	assert_int_equal(c.n_nodes, 1);
	assert_int_equal(t.n_nodes, 2);
	xs_tree_fini(&c);
	xs_tree_fini(&t);
}

/* ---- the engine, through the wire ---- */

struct msg {
	uint32_t type, req_id, tx_id, len;
	char body[XS_PAYLOAD_MAX + 1];
};

/* Pops one whole message from c's output. */
static bool pop(struct xs_conn *c, struct msg *m)
{
	uint8_t raw[XS_HDR_LEN + XS_PAYLOAD_MAX];
	size_t got = 0, want = XS_HDR_LEN, len, n;
	struct xs_msg_hdr h = { 0 };
	const uint8_t *p;

	while (got < want) {
		p = xs_conn_out_peek(c, &len);
		if (!p) {
			if (got)
				fail_msg("partial message in output");
			return false;
		}
		n = len < want - got ? len : want - got;
		memcpy(raw + got, p, n);
		xs_conn_out_consume(c, n);
		got += n;
		if (got == XS_HDR_LEN && want == XS_HDR_LEN) {
			xs_hdr_decode(raw, &h);
			assert_true(h.len <= XS_PAYLOAD_MAX);
			want += h.len;
		}
	}
	m->type = h.type;
	m->req_id = h.req_id;
	m->tx_id = h.tx_id;
	m->len = h.len;
	memcpy(m->body, raw + XS_HDR_LEN, h.len);
	m->body[h.len] = '\0';
	return true;
}

static void send_raw(struct xs_conn *c, uint32_t type, uint32_t tx,
		     const void *payload, size_t len)
{
	uint8_t buf[XS_HDR_LEN + XS_PAYLOAD_MAX];
	struct xs_msg_hdr h = { type, 42, tx, (uint32_t)len };

	xs_hdr_encode(&h, buf);
	memcpy(buf + XS_HDR_LEN, payload, len);
	xs_conn_feed(c, buf, XS_HDR_LEN + len);
}

/* The reply to the request just fed (ERROR replies as "!ENAME"),
 * skipping watch events. */
static const char *reply_to(struct xs_conn *c, uint32_t type)
{
	static struct msg m;
	static char err[32];

	do {
		if (!pop(c, &m))
			fail_msg("no reply to %s", xs_msg_type_name(type));
	} while (m.type == XS_MSG_WATCH_EVENT);
	assert_int_equal(m.req_id, 42);
	if (m.type == XS_MSG_ERROR) {
		snprintf(err, sizeof(err), "!%.24s", m.body);
		return err;
	}
	assert_int_equal(m.type, type);
	return m.body;
}

/* A request with its string args joined by NULs. */
static const char *req(struct xs_conn *c, uint32_t type, uint32_t tx, ...)
{
	char payload[XS_PAYLOAD_MAX];
	size_t used = 0;
	const char *a;
	va_list ap;

	va_start(ap, tx);
	while ((a = va_arg(ap, const char *))) {
		size_t l = strlen(a) + 1;

		memcpy(payload + used, a, l);
		used += l;
	}
	va_end(ap);
	send_raw(c, type, tx, payload, used);
	return reply_to(c, type);
}

/* WRITE: the value is not NUL-terminated on the wire. */
static const char *do_write(struct xs_conn *c, uint32_t tx, const char *path,
			    const char *val)
{
	char payload[XS_PAYLOAD_MAX];
	size_t pl = strlen(path) + 1, vl = strlen(val);

	memcpy(payload, path, pl);
	memcpy(payload + pl, val, vl);
	send_raw(c, XS_MSG_WRITE, tx, payload, pl + vl);
	return reply_to(c, XS_MSG_WRITE);
}

/* The next watch event as "path token", or "" if none is queued. */
static const char *next_event(struct xs_conn *c)
{
	static struct msg m;
	static char out[XS_PAYLOAD_MAX + 2];

	while (pop(c, &m)) {
		if (m.type != XS_MSG_WATCH_EVENT)
			continue;
		snprintf(out, sizeof(out), "%s %s", m.body,
			 m.body + strlen(m.body) + 1);
		return out;
	}
	return "";
}

static uint32_t txn_start(struct xs_conn *c)
{
	const char *r = req(c, XS_MSG_TRANSACTION_START, 0, "", NULL);

	assert_true(r[0] != '!');
	return (uint32_t)strtoul(r, NULL, 10);
}

struct fx {
	struct xs_store st;
	struct xs_conn *d0, *g5, *w;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	log_set_level(LOG_LVL_ERR);
	assert_int_equal(xs_store_init(&f->st), 0);
	f->d0 = xs_conn_new(&f->st, 0);
	f->g5 = xs_conn_new(&f->st, 5);
	f->w = xs_conn_new(&f->st, 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	xs_store_fini(&f->st);
	free(f);
	return 0;
}

static void test_initial_tree(void **state)
{
	struct fx *f = *state;
	const char *r = req(f->d0, XS_MSG_DIRECTORY, 0, "/", NULL);

	assert_string_equal(r, "local"); /* first of "local\0tool\0" */
	assert_string_equal(r + 6, "tool");
	assert_string_equal(req(f->d0, XS_MSG_GET_PERMS, 0, "/local/domain/0",
				NULL), "n0");
	assert_string_equal(req(f->g5, XS_MSG_DIRECTORY, 0, "/", NULL),
			    "!EACCES");
}

static void test_write_creates_parents_with_inherited_perms(void **state)
{
	struct fx *f = *state;
	const char *r;

	assert_string_equal(do_write(f->d0, 0, "/a", ""), "OK");
	assert_string_equal(req(f->d0, XS_MSG_SET_PERMS, 0, "/a", "n0", "b5",
				NULL), "OK");
	assert_string_equal(do_write(f->d0, 0, "/a/b/c", "v"), "OK");
	r = req(f->d0, XS_MSG_GET_PERMS, 0, "/a/b", NULL);
	assert_string_equal(r, "n0");
	assert_string_equal(r + 3, "b5");
	/* The guest may write (b5) and then owns what it creates. */
	assert_string_equal(do_write(f->g5, 0, "/a/g/h", "x"), "OK");
	r = req(f->d0, XS_MSG_GET_PERMS, 0, "/a/g", NULL);
	assert_string_equal(r, "n5");
	assert_string_equal(r + 3, "b5");
	/* Relative paths are the guest's home. */
	assert_string_equal(do_write(f->d0, 0, "/local/domain/5", ""), "OK");
	assert_string_equal(req(f->d0, XS_MSG_SET_PERMS, 0, "/local/domain/5",
				"n5", NULL), "OK");
	assert_string_equal(do_write(f->g5, 0, "device/x", "1"), "OK");
	assert_string_equal(req(f->d0, XS_MSG_READ, 0, "/local/domain/5/device/x",
				NULL), "1");
}

static void test_permission_errors(void **state)
{
	struct fx *f = *state;

	assert_string_equal(do_write(f->d0, 0, "/be/mac", "m"), "OK");
	assert_string_equal(req(f->d0, XS_MSG_SET_PERMS, 0, "/be/mac", "n0",
				"r5", NULL), "OK");
	assert_string_equal(req(f->g5, XS_MSG_READ, 0, "/be/mac", NULL), "m");
	assert_string_equal(do_write(f->g5, 0, "/be/mac", "x"), "!EACCES");
	assert_string_equal(do_write(f->g5, 0, "/be/new", "x"), "!EACCES");
	assert_string_equal(req(f->g5, XS_MSG_READ, 0, "/be/none", NULL),
			    "!EACCES");
	assert_string_equal(req(f->g5, XS_MSG_RM, 0, "/be/mac", NULL),
			    "!EACCES");
	assert_string_equal(req(f->g5, XS_MSG_SET_PERMS, 0, "/be/mac", "r5",
				NULL), "!EACCES");
	assert_string_equal(req(f->g5, XS_MSG_INTRODUCE, 0, "9", "0", "1",
				NULL), "!EACCES");
	assert_string_equal(req(f->d0, XS_MSG_READ, 0, "/be/mac", NULL), "m");
}

static void test_watch_events(void **state)
{
	struct fx *f = *state;

	assert_string_equal(req(f->w, XS_MSG_WATCH, 0, "/p", "t", NULL), "OK");
	assert_string_equal(next_event(f->w), "/p t");
	assert_string_equal(do_write(f->d0, 0, "/p/q/r", "1"), "OK");
	assert_string_equal(next_event(f->w), "/p/q/r t");
	assert_string_equal(do_write(f->d0, 0, "/px", "1"), "OK");
	assert_string_equal(next_event(f->w), "");
	/* Depth 1: direct children only. */
	assert_string_equal(req(f->w, XS_MSG_WATCH, 0, "/d", "one", "1", NULL),
			    "OK");
	assert_string_equal(next_event(f->w), "/d one");
	assert_string_equal(do_write(f->d0, 0, "/d/a", "1"), "OK");
	assert_string_equal(next_event(f->w), "/d/a one");
	assert_string_equal(do_write(f->d0, 0, "/d/a/b", "1"), "OK");
	assert_string_equal(next_event(f->w), "");
	/* RM: children first (exact), then the removed node (subtree). */
	assert_string_equal(req(f->w, XS_MSG_WATCH, 0, "/p/q/r", "leaf", NULL),
			    "OK");
	assert_string_equal(next_event(f->w), "/p/q/r leaf");
	assert_string_equal(req(f->d0, XS_MSG_RM, 0, "/p/q", NULL), "OK");
	assert_string_equal(next_event(f->w), "/p/q/r leaf");
	assert_string_equal(next_event(f->w), "/p/q t");
	assert_string_equal(next_event(f->w), "");
	/* RM of an absent node under an existing parent: OK, no event. */
	assert_string_equal(req(f->d0, XS_MSG_RM, 0, "/p/none", NULL), "OK");
	assert_string_equal(req(f->d0, XS_MSG_RM, 0, "/none/none", NULL),
			    "!ENOENT");
	assert_string_equal(next_event(f->w), "");
}

static void test_txn_isolation_and_commit_events(void **state)
{
	struct fx *f = *state;
	uint32_t tx;

	assert_string_equal(req(f->w, XS_MSG_WATCH, 0, "/", "all", NULL), "OK");
	assert_string_equal(next_event(f->w), "/ all");
	tx = txn_start(f->d0);
	assert_string_equal(do_write(f->d0, tx, "/t/a", "1"), "OK");
	assert_string_equal(req(f->d0, XS_MSG_READ, tx, "/t/a", NULL), "1");
	assert_string_equal(req(f->d0, XS_MSG_READ, 0, "/t/a", NULL), "!ENOENT");
	assert_string_equal(next_event(f->w), ""); /* not before commit */
	assert_string_equal(req(f->d0, XS_MSG_TRANSACTION_END, tx, "T", NULL),
			    "OK");
	assert_string_equal(next_event(f->w), "/t/a all");
	assert_string_equal(req(f->d0, XS_MSG_READ, 0, "/t/a", NULL), "1");
	/* Abort: nothing happened. */
	tx = txn_start(f->d0);
	assert_string_equal(do_write(f->d0, tx, "/t/b", "1"), "OK");
	assert_string_equal(req(f->d0, XS_MSG_TRANSACTION_END, tx, "F", NULL),
			    "OK");
	assert_string_equal(req(f->d0, XS_MSG_READ, 0, "/t/b", NULL), "!ENOENT");
	assert_string_equal(next_event(f->w), "");
}

static void test_txn_conflicts(void **state)
{
	struct fx *f = *state;
	uint32_t t1, t2;

	assert_string_equal(do_write(f->d0, 0, "/A", "a"), "OK");
	assert_string_equal(do_write(f->d0, 0, "/B", "b"), "OK");

	/* Written-only node changed outside: conflict too. */
	t1 = txn_start(f->d0);
	assert_string_equal(do_write(f->d0, t1, "/A", "t1"), "OK");
	assert_string_equal(do_write(f->d0, 0, "/A", "outside"), "OK");
	assert_string_equal(req(f->d0, XS_MSG_TRANSACTION_END, t1, "T", NULL),
			    "!EAGAIN");
	assert_string_equal(req(f->d0, XS_MSG_READ, 0, "/A", NULL), "outside");

	/* Read as absent, created outside: conflict. */
	t1 = txn_start(f->d0);
	assert_string_equal(req(f->d0, XS_MSG_READ, t1, "/C", NULL), "!ENOENT");
	assert_string_equal(do_write(f->d0, 0, "/C", "c"), "OK");
	assert_string_equal(req(f->d0, XS_MSG_TRANSACTION_END, t1, "T", NULL),
			    "!EAGAIN");

	/* xenstored example 4: two interfering transactions, the second
	 * to commit loses. */
	t1 = txn_start(f->d0);
	t2 = txn_start(f->d0);
	assert_int_not_equal(t1, t2);
	assert_string_equal(req(f->d0, XS_MSG_READ, t1, "/A", NULL), "outside");
	assert_string_equal(req(f->d0, XS_MSG_READ, t2, "/B", NULL), "b");
	assert_string_equal(do_write(f->d0, t1, "/B", "from-t1"), "OK");
	assert_string_equal(do_write(f->d0, t2, "/A", "from-t2"), "OK");
	assert_string_equal(req(f->d0, XS_MSG_TRANSACTION_END, t1, "T", NULL),
			    "OK");
	assert_string_equal(req(f->d0, XS_MSG_TRANSACTION_END, t2, "T", NULL),
			    "!EAGAIN");
	assert_string_equal(req(f->d0, XS_MSG_READ, 0, "/A", NULL), "outside");
	assert_string_equal(req(f->d0, XS_MSG_READ, 0, "/B", NULL), "from-t1");

	/* Unrelated changes do not conflict. */
	t1 = txn_start(f->d0);
	assert_string_equal(req(f->d0, XS_MSG_READ, t1, "/A", NULL), "outside");
	assert_string_equal(do_write(f->d0, 0, "/unrelated", "x"), "OK");
	assert_string_equal(req(f->d0, XS_MSG_TRANSACTION_END, t1, "T", NULL),
			    "OK");
}

/* Nodes below n, n too, counted afresh. */
static unsigned count_nodes(const struct xs_node *n)
{
	unsigned c = 1;

	for (unsigned i = 0; i < n->n_kids; i++)
		c += count_nodes(n->kids[i]);
	return c;
}

/* A transaction copies a node when it first looks at it (as C xenstored):
 * what changed before that is what it sees, and no conflict; what changed
 * after is a conflict, whether it read, listed or wrote it. */
static void test_txn_conflicts_from_its_first_look(void **state)
{
	struct fx *f = *state;
	char path[32], want[256];
	uint32_t t1;
	const char *r;
	size_t off = 0;

	for (int i = 0; i < 20; i++) {
		snprintf(path, sizeof(path), "/d/k%d", i);
		assert_string_equal(do_write(f->d0, 0, path, "v"), "OK");
	}
	/* changed after the start, before the first look: seen, no conflict */
	t1 = txn_start(f->d0);
	assert_string_equal(do_write(f->d0, 0, "/d/k1", "outside"), "OK");
	assert_string_equal(req(f->d0, XS_MSG_READ, t1, "/d/k1", NULL), "outside");
	assert_string_equal(do_write(f->d0, t1, "/d/k2", "t1"), "OK");
	assert_string_equal(req(f->d0, XS_MSG_TRANSACTION_END, t1, "T", NULL), "OK");
	assert_string_equal(req(f->d0, XS_MSG_READ, 0, "/d/k2", NULL), "t1");

	/* a sibling of what it read changed: no conflict */
	t1 = txn_start(f->d0);
	assert_string_equal(req(f->d0, XS_MSG_READ, t1, "/d/k3", NULL), "v");
	assert_string_equal(do_write(f->d0, 0, "/d/k4", "outside"), "OK");
	assert_string_equal(req(f->d0, XS_MSG_READ, t1, "/d/k4", NULL), "outside");
	assert_string_equal(req(f->d0, XS_MSG_TRANSACTION_END, t1, "T", NULL), "OK");

	/* read, then changed: conflict */
	t1 = txn_start(f->d0);
	assert_string_equal(req(f->d0, XS_MSG_READ, t1, "/d/k5", NULL), "v");
	assert_string_equal(do_write(f->d0, 0, "/d/k5", "outside"), "OK");
	assert_string_equal(req(f->d0, XS_MSG_READ, t1, "/d/k5", NULL), "v");
	assert_string_equal(req(f->d0, XS_MSG_TRANSACTION_END, t1, "T", NULL), "!EAGAIN");

	/* read, then removed: conflict */
	t1 = txn_start(f->d0);
	assert_string_equal(req(f->d0, XS_MSG_READ, t1, "/d/k6", NULL), "v");
	assert_string_equal(req(f->d0, XS_MSG_RM, 0, "/d/k6", NULL), "OK");
	assert_string_equal(req(f->d0, XS_MSG_TRANSACTION_END, t1, "T", NULL), "!EAGAIN");

	/* listed, then a kid added: conflict; the list is the whole one, in
	 * order, with the transaction's own kid last */
	t1 = txn_start(f->d0);
	assert_string_equal(req(f->d0, XS_MSG_READ, t1, "/d/k7", NULL), "v");
	assert_string_equal(do_write(f->d0, t1, "/d/mine", "t1"), "OK");
	r = req(f->d0, XS_MSG_DIRECTORY, t1, "/d", NULL);
	for (int i = 0; i < 20; i++)
		if (i != 6)
			off += (size_t)sprintf(want + off, "k%d%c", i, 0);
	memcpy(want + off, "mine", 5);
	assert_memory_equal(r, want, off + 5);
	assert_string_equal(do_write(f->d0, 0, "/d/theirs", "x"), "OK");
	assert_string_equal(req(f->d0, XS_MSG_TRANSACTION_END, t1, "T", NULL), "!EAGAIN");
	assert_string_equal(req(f->d0, XS_MSG_READ, 0, "/d/mine", NULL), "!ENOENT");
}

/* A node the transaction only passed on its way to one below is not
 * looked at yet: changed outside before its first look, it is seen as
 * changed (value, permissions, kids) and is no conflict, as the
 * transaction's other nodes (and xenstored's). Before, the copy made by
 * the walk was what it saw, and its commit failed with EAGAIN. A kid the
 * walk copied that is gone from the store keeps the old view: that
 * still conflicts. */
static void test_txn_first_look_after_a_walk_below(void **state)
{
	struct fx *f = *state;
	uint32_t t1;
	const char *r;

	assert_string_equal(do_write(f->d0, 0, "/p/k/x", "v"), "OK");
	assert_string_equal(do_write(f->d0, 0, "/p/k", "old"), "OK");
	assert_string_equal(req(f->d0, XS_MSG_SET_PERMS, 0, "/p/k/x", "n0", "r5", NULL), "OK");

	/* its value */
	t1 = txn_start(f->d0);
	assert_string_equal(req(f->d0, XS_MSG_READ, t1, "/p/k/x", NULL), "v");
	assert_string_equal(do_write(f->d0, 0, "/p/k", "outside"), "OK");
	assert_string_equal(req(f->d0, XS_MSG_READ, t1, "/p/k", NULL), "outside");
	assert_string_equal(do_write(f->d0, t1, "/p/k/x", "t1"), "OK");
	assert_string_equal(req(f->d0, XS_MSG_TRANSACTION_END, t1, "T", NULL), "OK");
	assert_string_equal(req(f->d0, XS_MSG_READ, 0, "/p/k/x", NULL), "t1");

	/* its kids */
	t1 = txn_start(f->d0);
	assert_string_equal(req(f->d0, XS_MSG_READ, t1, "/p/k/x", NULL), "t1");
	assert_string_equal(do_write(f->d0, 0, "/p/k/y", "outside"), "OK");
	r = req(f->d0, XS_MSG_DIRECTORY, t1, "/p/k", NULL);
	assert_memory_equal(r, "x\0y", 4);
	assert_string_equal(req(f->d0, XS_MSG_TRANSACTION_END, t1, "T", NULL), "OK");

	/* its permissions: a guest may read what it could not at the walk */
	assert_string_equal(req(f->d0, XS_MSG_SET_PERMS, 0, "/p/k", "n0", NULL), "OK");
	t1 = txn_start(f->g5);
	assert_string_equal(req(f->g5, XS_MSG_READ, t1, "/p/k/x", NULL), "t1");
	assert_string_equal(req(f->d0, XS_MSG_SET_PERMS, 0, "/p/k", "n0", "r5", NULL), "OK");
	assert_string_equal(req(f->g5, XS_MSG_READ, t1, "/p/k", NULL), "outside");
	assert_string_equal(req(f->g5, XS_MSG_TRANSACTION_END, t1, "T", NULL), "OK");

	/* the walk copied /p/k/y, gone from the store before /p/k is listed:
	 * listed as the transaction saw it, so its commit fails */
	t1 = txn_start(f->d0);
	assert_string_equal(req(f->d0, XS_MSG_READ, t1, "/p/k/y/none", NULL), "!ENOENT");
	assert_string_equal(req(f->d0, XS_MSG_RM, 0, "/p/k/y", NULL), "OK");
	r = req(f->d0, XS_MSG_DIRECTORY, t1, "/p/k", NULL);
	assert_memory_equal(r, "x\0y", 4);
	assert_string_equal(req(f->d0, XS_MSG_TRANSACTION_END, t1, "T", NULL), "!EAGAIN");
}

/* A transaction removes what it never looked at, whole: every node
 * counted out, and what it removed is not copied back by a later look. */
static void test_txn_rm_of_what_it_never_looked_at(void **state)
{
	struct fx *f = *state;
	char path[32];
	uint32_t tx;

	for (int i = 0; i < 20; i++) {
		snprintf(path, sizeof(path), "/big/k%d/x", i);
		assert_string_equal(do_write(f->d0, 0, path, "v"), "OK");
	}
	tx = txn_start(f->d0);
	assert_string_equal(req(f->d0, XS_MSG_RM, tx, "/big/k3", NULL), "OK");
	assert_string_equal(req(f->d0, XS_MSG_READ, tx, "/big/k3/x", NULL), "!ENOENT");
	assert_string_equal(req(f->d0, XS_MSG_READ, tx, "/big/k3", NULL), "!ENOENT");
	assert_string_equal(req(f->d0, XS_MSG_RM, tx, "/big", NULL), "OK");
	assert_string_equal(req(f->d0, XS_MSG_READ, tx, "/big/k4/x", NULL), "!ENOENT");
	assert_string_equal(req(f->d0, XS_MSG_READ, 0, "/big/k4/x", NULL), "v");
	assert_string_equal(req(f->d0, XS_MSG_TRANSACTION_END, tx, "T", NULL), "OK");
	assert_string_equal(req(f->d0, XS_MSG_READ, 0, "/big", NULL), "!ENOENT");
	assert_int_equal(count_nodes(f->st.tree.root), f->st.tree.n_nodes);
	assert_int_equal(xs_tree_owned(&f->st.tree, 0), f->st.tree.n_nodes);
}

static void test_txn_rm_and_recreate(void **state)
{
	struct fx *f = *state;
	uint32_t tx;
	const char *r;

	assert_string_equal(do_write(f->d0, 0, "/a/old", "1"), "OK");
	assert_string_equal(req(f->d0, XS_MSG_SET_PERMS, 0, "/a", "n0", "r5",
				NULL), "OK");
	tx = txn_start(f->d0);
	assert_string_equal(req(f->d0, XS_MSG_RM, tx, "/a", NULL), "OK");
	assert_string_equal(do_write(f->d0, tx, "/a/new/deep", "2"), "OK");
	assert_string_equal(req(f->d0, XS_MSG_READ, 0, "/a/old", NULL), "1");
	assert_string_equal(req(f->d0, XS_MSG_TRANSACTION_END, tx, "T", NULL),
			    "OK");
	assert_string_equal(req(f->d0, XS_MSG_READ, 0, "/a/old", NULL),
			    "!ENOENT");
	assert_string_equal(req(f->d0, XS_MSG_READ, 0, "/a/new/deep", NULL),
			    "2");
	r = req(f->d0, XS_MSG_DIRECTORY, 0, "/a", NULL);
	assert_string_equal(r, "new");
	/* Recreated /a inherits from / again: the old r5 is gone. */
	assert_string_equal(req(f->d0, XS_MSG_GET_PERMS, 0, "/a", NULL), "n0");
	assert_int_equal(f->st.n_txns, 0);
}

static void test_txn_errors_and_limits(void **state)
{
	struct fx *f = *state;
	unsigned i;
	uint32_t tx;

	assert_string_equal(req(f->d0, XS_MSG_READ, 99, "/", NULL), "!ENOENT");
	tx = txn_start(f->d0);
	assert_string_equal(req(f->d0, XS_MSG_TRANSACTION_START, tx, "", NULL),
			    "!EBUSY");
	assert_string_equal(req(f->d0, XS_MSG_TRANSACTION_END, tx, "maybe",
				NULL), "!EINVAL");
	/* a guest's connection: XS_CONN_TXNS_MAX open at most */
	for (i = 0; i < XS_CONN_TXNS_MAX; i++)
		txn_start(f->g5);
	assert_string_equal(req(f->g5, XS_MSG_TRANSACTION_START, 0, "", NULL),
			    "!ENOSPC");
	/* Closing the connection frees them all. */
	xs_conn_free(f->g5);
	f->g5 = xs_conn_new(&f->st, 5);
	assert_int_equal(f->st.n_txns, 0);
	assert_int_not_equal(txn_start(f->g5), 0);
}

/* Dom0 has no quota of open transactions (C xenstored's is a guest's):
 * past the per-connection and the store-wide caps it still gets one, and
 * what it holds leaves the guests' share whole. */
static void test_txn_quota_is_the_guests(void **state)
{
	struct fx *f = *state;
	struct xs_conn *g6 = xs_conn_new(&f->st, 6);
	unsigned i;

	for (i = 0; i < XS_STORE_TXNS_MAX + 8; i++)
		txn_start(f->d0);
	assert_int_equal(f->st.n_txns, 0);
	/* the guests' store-wide cap, Dom0's 72 open beside it */
	for (i = 0; i < XS_STORE_TXNS_MAX / XS_CONN_TXNS_MAX; i++) {
		struct xs_conn *g = xs_conn_new(&f->st, 5);

		for (unsigned k = 0; k < XS_CONN_TXNS_MAX; k++)
			txn_start(g);
	}
	assert_int_equal(f->st.n_txns, XS_STORE_TXNS_MAX);
	assert_string_equal(req(g6, XS_MSG_TRANSACTION_START, 0, "", NULL), "!ENOSPC");
	assert_int_not_equal(txn_start(f->d0), 0);
	assert_int_not_equal(txn_start(f->w), 0);
	xs_conn_free(g6);
}

static void test_watch_limits_and_reset(void **state)
{
	struct fx *f = *state;
	char path[32];
	unsigned i;

	for (i = 0; i < XS_CONN_WATCHES_MAX; i++) {
		snprintf(path, sizeof(path), "/w%u", i);
		assert_string_equal(req(f->w, XS_MSG_WATCH, 0, path, "t", NULL),
				    "OK");
	}
	assert_string_equal(req(f->w, XS_MSG_WATCH, 0, "/x", "t", NULL),
			    "!ENOSPC");
	assert_string_equal(req(f->w, XS_MSG_WATCH, 0, "/w0", "t", NULL),
			    "!EEXIST");
	assert_string_equal(req(f->w, XS_MSG_RESET_WATCHES, 0, NULL), "OK");
	assert_int_equal(f->w->n_watches, 0);
}

static void test_domains_and_special_watches(void **state)
{
	struct fx *f = *state;
	struct xs_conn *g7;

	assert_string_equal(req(f->w, XS_MSG_WATCH, 0, "@releaseDomain", "r",
				NULL), "OK");
	assert_string_equal(next_event(f->w), "@releaseDomain r");
	assert_string_equal(req(f->w, XS_MSG_WATCH, 0, "@introduceDomain", "i",
				"1", NULL), "OK");
	assert_string_equal(next_event(f->w), "@introduceDomain i");
	assert_string_equal(req(f->d0, XS_MSG_INTRODUCE, 0, "7", "0", "1",
				NULL), "OK");
	assert_string_equal(next_event(f->w), "@introduceDomain/7 i");
	assert_string_equal(req(f->d0, XS_MSG_IS_DOMAIN_INTRODUCED, 0, "7",
				NULL), "T");
	g7 = xs_conn_new(&f->st, 7);
	assert_string_equal(req(g7, XS_MSG_WATCH, 0, "/", "g", NULL), "OK");
	assert_string_equal(req(f->d0, XS_MSG_RELEASE, 0, "7", NULL), "OK");
	assert_string_equal(next_event(f->w), "@releaseDomain r");
	assert_true(g7->dead);
	assert_int_equal(g7->n_watches, 0);
	xs_conn_free(g7);
	assert_string_equal(req(f->d0, XS_MSG_RELEASE, 0, "7", NULL), "!ENOENT");
	assert_string_equal(req(f->d0, XS_MSG_IS_DOMAIN_INTRODUCED, 0, "7",
				NULL), "F");
	assert_string_equal(req(f->d0, XS_MSG_GET_DOMAIN_PATH, 0, "7", NULL),
			    "/local/domain/7");
	/* Guests only see special events if the special node allows. */
	assert_string_equal(req(f->g5, XS_MSG_GET_PERMS, 0, "@releaseDomain",
				NULL), "!EACCES");
	assert_string_equal(req(f->d0, XS_MSG_SET_PERMS, 0, "@releaseDomain",
				"n0", "r5", NULL), "OK");
	assert_string_equal(req(f->g5, XS_MSG_GET_PERMS, 0, "@releaseDomain",
				NULL), "n0");
}

static void test_malformed_input(void **state)
{
	struct fx *f = *state;
	uint8_t hdr[XS_HDR_LEN];
	struct xs_msg_hdr h = { XS_MSG_WRITE, 1, 0, XS_PAYLOAD_MAX + 1 };
	struct msg m;

	send_raw(f->d0, 999, 0, "x", 2);
	assert_true(pop(f->d0, &m));
	assert_int_equal(m.type, XS_MSG_ERROR);
	assert_string_equal(m.body, "ENOSYS");
	send_raw(f->d0, XS_MSG_READ, 0, "/nonul", 6);
	assert_true(pop(f->d0, &m));
	assert_string_equal(m.body, "EINVAL");
	/* Split across feeds: still one message. */
	send_raw(f->d0, XS_MSG_READ, 0, "/local", 0); /* empty payload */
	assert_true(pop(f->d0, &m));
	assert_string_equal(m.body, "EINVAL");
	xs_hdr_encode(&h, hdr);
	xs_conn_feed(f->d0, hdr, 5);
	assert_false(xs_conn_out_pending(f->d0));
	xs_conn_feed(f->d0, hdr + 5, sizeof(hdr) - 5);
	assert_true(pop(f->d0, &m));
	assert_string_equal(m.body, "E2BIG");
	assert_true(f->d0->dead);
}

static void test_node_cap(void **state)
{
	struct fx *f = *state;
	char path[64];
	unsigned i, j;
	const char *r = "OK";

	/* the cap is a memory backstop of two million nodes: this tree's
	 * is lowered so the test fills it quickly */
	f->st.tree.max_nodes = 16384;
	/* Two levels so no single child list gets huge, then single nodes
	 * to fill the last slot exactly. */
	for (i = 0; !strcmp(r, "OK"); i++) {
		for (j = 0; j < 128 && !strcmp(r, "OK"); j++) {
			snprintf(path, sizeof(path), "/n%u/%u", i, j);
			r = do_write(f->d0, 0, path, "");
		}
	}
	assert_string_equal(r, "!ENOSPC");
	for (i = 0; f->st.tree.n_nodes < f->st.tree.max_nodes; i++) {
		snprintf(path, sizeof(path), "/f%u", i);
		assert_string_equal(do_write(f->d0, 0, path, ""), "OK");
	}
	assert_string_equal(do_write(f->d0, 0, "/one", ""), "!ENOSPC");
	assert_string_equal(do_write(f->d0, 0, "/n0/0", "x"), "OK");
	assert_string_equal(req(f->d0, XS_MSG_READ, 0, "/one", NULL), "!ENOENT");
	/* A transaction cannot commit past the cap either. */
	assert_string_equal(req(f->d0, XS_MSG_RM, 0, "/n0/0", NULL), "OK");
	j = txn_start(f->d0);
	assert_string_equal(do_write(f->d0, j, "/n0/0", ""), "OK");
	assert_string_equal(do_write(f->d0, 0, "/g", ""), "OK");
	assert_string_equal(req(f->d0, XS_MSG_TRANSACTION_END, j, "T", NULL),
			    "!ENOSPC");
}

/* A guest owns at most XS_DOMAIN_NODES_MAX nodes (xenstored's
 * quota-nbentry), written directly or through a transaction; removing
 * frees quota; dom0 has none, and a dom0 write past 16384 nodes (the old
 * store-wide cap) works. */
static void test_domain_quota(void **state)
{
	struct fx *f = *state;
	char path[64];
	unsigned i, base;
	uint32_t tx;

	assert_string_equal(do_write(f->d0, 0, "/local/domain/5", ""), "OK");
	assert_string_equal(req(f->d0, XS_MSG_SET_PERMS, 0, "/local/domain/5", "n5", NULL),
			    "OK");
	base = xs_tree_owned(&f->st.tree, 5);
	assert_int_equal(base, 1);
	/* 100 a directory: a new one is two nodes at once */
	for (i = 0; xs_tree_owned(&f->st.tree, 5) < XS_DOMAIN_NODES_MAX; i++) {
		snprintf(path, sizeof(path), "/local/domain/5/d%u/%u", i / 100, i % 100);
		assert_string_equal(do_write(f->g5, 0, path, ""), "OK");
	}
	assert_int_equal(xs_tree_owned(&f->st.tree, 5), XS_DOMAIN_NODES_MAX);
	assert_string_equal(do_write(f->g5, 0, "/local/domain/5/one", ""), "!ENOSPC");
	assert_string_equal(req(f->g5, XS_MSG_MKDIR, 0, "/local/domain/5/one", NULL),
			    "!ENOSPC");
	/* a value change is no new node */
	assert_string_equal(do_write(f->g5, 0, "/local/domain/5/d0", "v"), "OK");
	/* dom0 is not held by it, and may give the guest nodes */
	for (i = 0; i < 20000; i++) {
		snprintf(path, sizeof(path), "/tool/t%u/%u", i / 128, i % 128);
		assert_string_equal(do_write(f->d0, 0, path, ""), "OK");
	}
	assert_string_equal(do_write(f->d0, 0, "/local/domain/5/by0", ""), "OK");
	assert_int_equal(xs_tree_owned(&f->st.tree, 5), XS_DOMAIN_NODES_MAX + 1);
	/* removal frees quota: a subtree of 101 nodes and by0 */
	assert_string_equal(req(f->g5, XS_MSG_RM, 0, "/local/domain/5/d1", NULL), "OK");
	assert_string_equal(req(f->g5, XS_MSG_RM, 0, "/local/domain/5/by0", NULL), "OK");
	assert_int_equal(xs_tree_owned(&f->st.tree, 5), XS_DOMAIN_NODES_MAX - 101);
	/* a transaction: checked as it writes, and again at commit against
	 * what the guest owns by then */
	assert_string_equal(do_write(f->g5, 0, "/local/domain/5/t", ""), "OK");
	tx = txn_start(f->g5);
	for (i = 0; i < 60; i++) {
		snprintf(path, sizeof(path), "/local/domain/5/t/%u", i);
		assert_string_equal(do_write(f->g5, tx, path, ""), "OK");
	}
	for (i = 0; i < 60; i++) {
		snprintf(path, sizeof(path), "/local/domain/5/u%u", i);
		assert_string_equal(do_write(f->g5, 0, path, ""), "OK");
	}
	assert_string_equal(req(f->g5, XS_MSG_TRANSACTION_END, tx, "T", NULL), "!ENOSPC");
	assert_string_equal(req(f->g5, XS_MSG_READ, 0, "/local/domain/5/t/0", NULL), "!ENOENT");
	/* one that shrinks commits even at the quota */
	for (i = 60; xs_tree_owned(&f->st.tree, 5) < XS_DOMAIN_NODES_MAX; i++) {
		snprintf(path, sizeof(path), "/local/domain/5/u%u", i);
		assert_string_equal(do_write(f->g5, 0, path, ""), "OK");
	}
	tx = txn_start(f->g5);
	assert_string_equal(req(f->g5, XS_MSG_RM, tx, "/local/domain/5/u0", NULL), "OK");
	assert_string_equal(req(f->g5, XS_MSG_TRANSACTION_END, tx, "T", NULL), "OK");
	assert_int_equal(xs_tree_owned(&f->st.tree, 5), XS_DOMAIN_NODES_MAX - 1);
	/* another guest has its own */
	assert_int_equal(xs_tree_owned(&f->st.tree, 6), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_path_check),
		cmocka_unit_test(test_path_is_under),
		cmocka_unit_test(test_acl_access),
		cmocka_unit_test(test_perm_strings),
		cmocka_unit_test(test_tree_overlay_is_independent),
		cmocka_unit_test_setup_teardown(test_initial_tree, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_creates_parents_with_inherited_perms,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_permission_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_watch_events, setup, teardown),
		cmocka_unit_test_setup_teardown(test_txn_isolation_and_commit_events,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_txn_conflicts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_txn_conflicts_from_its_first_look, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_txn_first_look_after_a_walk_below, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_txn_rm_of_what_it_never_looked_at, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_txn_rm_and_recreate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_txn_errors_and_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_txn_quota_is_the_guests, setup, teardown),
		cmocka_unit_test_setup_teardown(test_watch_limits_and_reset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_domains_and_special_watches,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_input, setup, teardown),
		cmocka_unit_test_setup_teardown(test_node_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_domain_quota, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
