/* lib/xs_client_tx.c's xsc_tx_write_if (writes made only if what the same
 * transaction reads passes) against a real `hvsim xenstored` in a child
 * process, through lib/xs_client as dom0 and as a guest: what a reader of
 * the store sees after a commit, a refusal, a conflict, and a conflict
 * every try. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "lib/xs_client.h"
#include "tests/unit/xsd_child.h"

/* A connection to xenstored: dom0's (path NULL) or a guest's socket. */
static struct xsc *conn(const char *path)
{
	struct xsc *c;

	setenv("XENSTORED_PATH", path ? path : xs_path, 1);
	assert_int_equal(xsc_open(&c, 2000), 0);
	return c;
}

/* One request; its error (0: answered as asked). */
static int req(struct xsc *c, uint32_t type, const char *path, const char *arg, unsigned vlen)
{
	struct xsc_op op = { .type = type, .path = path, .arg = arg, .vlen = vlen };

	assert_int_equal(xsc_run(c, &op, 1), 0);
	xsc_ops_free(&op, 1);
	return op.err;
}

static void put(struct xsc *c, const char *path, const char *val)
{
	assert_int_equal(req(c, XS_MSG_WRITE, path, val, (unsigned)strlen(val)), 0);
}

/* The value at path, "!" if there is none. */
static const char *get(struct xsc *c, const char *path)
{
	static char buf[64];
	struct xsc_op op = { .type = XS_MSG_READ, .path = path };

	assert_int_equal(xsc_run(c, &op, 1), 0);
	snprintf(buf, sizeof(buf), "%s", op.err ? "!" : op.reply);
	xsc_ops_free(&op, 1);
	return buf;
}

static int group_setup(void **state)
{
	(void)state;
	xsd_child_start("/tmp/xs-tx-test.XXXXXX");
	log_set_level(LOG_LVL_ERR);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	xsd_child_stop();
	return 0;
}

/* The judge of these tests: the directory (ops[0]) must be there, and
 * every write made; on its calls listed in `meddle`, another client
 * changes the directory first (the commit then conflicts). */
struct judge {
	unsigned calls;
	unsigned meddle; /* bit i: on call i (from 0) */
	struct xsc *other;
	const char *dir; /* what it reads (write_k sets it) */
	int verdict; /* returned when the reads pass (0: commit) */
};

static int judge(const struct xsc_op *ops, unsigned n, void *arg)
{
	struct judge *j = arg;

	if (j->meddle & (1u << j->calls))
		put(j->other, j->dir, "changed meanwhile");
	j->calls++;
	if (ops[0].err)
		return 1;
	for (unsigned i = 1; i < n; i++)
		if (ops[i].err)
			return err_set(ops[i].err, "write %s", ops[i].path);
	return j->verdict;
}

/* xsc_tx_write_if of "read dir, write dir/k = v", judged by j (whose dir
 * it sets); the replies freed whatever it returns. */
static int write_k(struct xsc *c, const char *dir, unsigned tries, struct judge *j)
{
	char k[64];
	struct xsc_op ops[2] = {
		{ .type = XS_MSG_READ, .path = dir },
		{ .type = XS_MSG_WRITE, .path = k, .arg = "v", .vlen = 1 },
	};
	int rc;

	snprintf(k, sizeof(k), "%s/k", dir);
	j->dir = dir;
	rc = xsc_tx_write_if(c, ops, 2, tries, judge, j);
	assert_null(ops[0].reply);
	assert_null(ops[1].reply);
	return rc;
}

/* dir/k as a reader sees it ("!": none) */
static const char *k_of(struct xsc *c, const char *dir)
{
	char k[64];

	snprintf(k, sizeof(k), "%s/k", dir);
	return get(c, k);
}

static void test_writes_are_committed_when_the_judge_passes(void **state)
{
	struct xsc *c = conn(NULL);
	struct judge j = { 0 };

	(void)state;
	put(c, "/t1", "");
	assert_int_equal(write_k(c, "/t1", 8, &j), 0);
	assert_int_equal(j.calls, 1);
	assert_string_equal(k_of(c, "/t1"), "v");
	xsc_close(c);
}

static void test_a_refusal_writes_nothing_and_is_returned(void **state)
{
	struct xsc *c = conn(NULL);
	struct judge j = { .verdict = 7 };

	(void)state;
	/* the caller's reason */
	put(c, "/t2", "");
	assert_int_equal(write_k(c, "/t2", 8, &j), 7);
	assert_int_equal(j.calls, 1);
	assert_string_equal(k_of(c, "/t2"), "!");
	/* the directory gone: not made again by the write */
	j = (struct judge){ 0 };
	assert_int_equal(write_k(c, "/t2/gone", 8, &j), 1);
	assert_string_equal(get(c, "/t2/gone"), "!");
	/* an error of the judge's */
	j = (struct judge){ .verdict = -EINVAL };
	assert_int_equal(write_k(c, "/t2", 8, &j), -EINVAL);
	assert_string_equal(k_of(c, "/t2"), "!");
	xsc_close(c);
}

/* Another client changes what the transaction read, on the judge's
 * calls in meddle: conflicts, each try. */
static void test_a_conflict_runs_it_again_a_bounded_number_of_times(void **state)
{
	struct xsc *c = conn(NULL), *other = conn(NULL);
	struct judge j = { .other = other, .meddle = 1 };

	(void)state;
	put(c, "/t3", "");
	assert_int_equal(write_k(c, "/t3", 8, &j), 0);
	assert_int_equal(j.calls, 2);
	assert_string_equal(k_of(c, "/t3"), "v");
	assert_string_equal(get(c, "/t3"), "changed meanwhile");
	/* a conflict every time: given up, nothing written */
	j = (struct judge){ .other = other, .meddle = ~0u };
	put(c, "/t4", "");
	assert_int_equal(write_k(c, "/t4", 3, &j), -EAGAIN);
	assert_int_equal(j.calls, 3);
	assert_non_null(strstr(err_msg(), "3 times"));
	assert_string_equal(k_of(c, "/t4"), "!");
	xsc_close(other);
	xsc_close(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_writes_are_committed_when_the_judge_passes),
		cmocka_unit_test(test_a_refusal_writes_nothing_and_is_returned),
		cmocka_unit_test(test_a_conflict_runs_it_again_a_bounded_number_of_times),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
