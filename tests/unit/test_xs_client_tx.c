/* lib/xs_client_tx.c's xsc_tx_write_if (writes made only if what the same
 * transaction reads passes) against a real `hvsim xenstored` in a child
 * process, through lib/xs_client as dom0 and as a guest: what a reader of
 * the store sees after a commit, a refusal, a conflict every try, and
 * xenstored's quota of open transactions (a guest's, never dom0's); and
 * netback (vifback's and dpswitch's handshake) waiting that quota out,
 * and closing the vifs the toolstack tore down before it started; and
 * taking again what xenstored refused it (a listing, an unwatch: the
 * latter through a proxy that refuses, as hvsim never does). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "lib/xs_client.h"
#include "netback/netback.h"
#include "tests/unit/xsd_child.h"

static char guest_path[128], hog_path[128];

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
	/* domain 5, whose connections are a guest's; 6 the others' */
	introduce(5);
	introduce(6);
	assert_int_equal(hv_xsd_domain_socket(xs_path, 5, guest_path, sizeof(guest_path)), 0);
	assert_int_equal(hv_xsd_domain_socket(xs_path, 6, hog_path, sizeof(hog_path)), 0);
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

/* A guest's connection at its quota of open transactions: refused with
 * -EDQUOT, nothing sent, the connection still serving; once one of them
 * ends, the next call commits. */
static void test_a_guest_at_its_quota_is_refused_then_served(void **state)
{
	struct xsc *c = conn(NULL), *g = conn(guest_path);
	struct judge j = { 0 };
	uint32_t held[16];
	unsigned n = 0;

	(void)state;
	put(c, "/local/domain/5/t5", "");
	assert_int_equal(req(c, XS_MSG_SET_PERMS, "/local/domain/5/t5", "n5", 0), 0);
	while (n < 16 && xsc_tx_start(g, &held[n]) == 0)
		n++;
	assert_int_equal(n, 16);
	assert_int_equal(write_k(g, "/local/domain/5/t5", 8, &j), -EDQUOT);
	assert_int_equal(j.calls, 0);
	assert_non_null(strstr(err_msg(), "quota"));
	assert_string_equal(k_of(g, "/local/domain/5/t5"), "!");
	assert_int_equal(xsc_tx_end(g, held[0], false), 0);
	assert_int_equal(write_k(g, "/local/domain/5/t5", 8, &j), 0);
	assert_string_equal(k_of(c, "/local/domain/5/t5"), "v");
	xsc_close(g);
	xsc_close(c);
}

/* A request the library refuses before sending it (-E2BIG: longer than
 * xenstored takes), the connection still serving: the transaction begun
 * for it is ended, not left open. Left open, each such call held one of a
 * guest's 16 until the connection closed, and the 17th call of any kind
 * was refused the quota. */
static void test_a_request_too_long_ends_its_transaction(void **state)
{
	struct xsc *c = conn(NULL), *g = conn(guest_path);
	static char big[XS_PAYLOAD_MAX + 1];
	struct judge j = { 0 };
	const char *k = "/local/domain/5/t7/big";

	(void)state;
	memset(big, 'x', sizeof(big));
	put(c, "/local/domain/5/t7", "");
	assert_int_equal(req(c, XS_MSG_SET_PERMS, "/local/domain/5/t7", "n5", 0), 0);
	for (unsigned i = 0; i < 20; i++) {
		struct xsc_op ops[2] = {
			{ .type = XS_MSG_READ, .path = "/local/domain/5/t7" },
			{ .type = XS_MSG_WRITE, .path = k, .arg = big, .vlen = sizeof(big) },
		};

		assert_int_equal(xsc_tx_write_if(g, ops, 2, 8, judge, &j), -E2BIG);
		assert_int_equal(xsc_broken(g), 0);
	}
	assert_int_equal(j.calls, 0);
	/* the guest's quota untouched: a write goes through */
	assert_int_equal(write_k(g, "/local/domain/5/t7", 8, &j), 0);
	assert_string_equal(k_of(c, "/local/domain/5/t7"), "v");
	xsc_close(g);
	xsc_close(c);
}

/* Dom0 has no such quota (C xenstored's rule): other dom0 clients holding
 * as many open transactions as every guest may together does not stop it
 * (hvsim refused it ENOSPC there). */
static void test_dom0_is_never_refused_a_transaction(void **state)
{
	struct xsc *c = conn(NULL), *hogs[4];
	struct judge j = { 0 };
	uint32_t tx;

	(void)state;
	for (unsigned i = 0; i < 4; i++) {
		hogs[i] = conn(NULL);
		for (unsigned k = 0; k < 16; k++)
			assert_int_equal(xsc_tx_start(hogs[i], &tx), 0);
	}
	put(c, "/t6", "");
	assert_int_equal(write_k(c, "/t6", 8, &j), 0);
	assert_string_equal(k_of(c, "/t6"), "v");
	for (unsigned i = 0; i < 4; i++)
		xsc_close(hogs[i]);
	xsc_close(c);
}

/* ---- netback under xenstored's quota ---- */

/* A consumer with nothing to make: a port number, rings "served"; its
 * probes and releases counted (a vif torn down is released). */
static unsigned nbq_probes, nbq_releases;

static int nbq_probe(struct nb_back *b, struct nb_vif *v, const char *vifname, const char *bridge)
{
	(void)b;
	(void)vifname;
	(void)bridge;
	v->port = 0;
	nbq_probes++;
	return 0;
}

static int nbq_connect(struct nb_back *b, struct nb_vif *v)
{
	(void)b;
	(void)v;
	return 0;
}

static void nbq_none(struct nb_back *b, struct nb_vif *v)
{
	(void)b;
	(void)v;
}

static void nbq_release(struct nb_back *b, struct nb_vif *v)
{
	(void)b;
	(void)v;
	nbq_releases++;
}

static const struct nb_ops nbq_ops = {
	.probe = nbq_probe,
	.connect = nbq_connect,
	.disconnect = nbq_none,
	.release = nbq_release,
	.close = nbq_none,
};

/* Runs b as the daemons' loops do until the node at path (read as dom0)
 * is want, ms at most: false if it never is. Every run must return 0:
 * an error is xenstore gone to vifback and dpswitch, which exit. */
static bool nb_until(struct nb_back *b, struct xsc *d0, const char *path, const char *want,
		     unsigned ms)
{
	uint64_t end = nb_now_ms() + ms;

	for (;;) {
		struct pollfd p = { .fd = xsc_fd(b->xs), .events = POLLIN };

		assert_int_equal(nb_back_run(b), 0);
		if (!strcmp(get(d0, path), want))
			return true;
		if (nb_now_ms() >= end)
			return false;
		poll(&p, 1, nb_back_busy(b) ? 0 : 10);
	}
}

/* The backend root, made by the toolstack for a backend in driver
 * domain 5 (owned by 5). */
static void be_root(struct xsc *d0)
{
	put(d0, "/local/domain/0/backend/vif", "");
	assert_int_equal(req(d0, XS_MSG_SET_PERMS, "/local/domain/0/backend/vif", "n5", 0), 0);
}

/* b started with ops, on xenstored's socket at path (domain 5's, or a
 * proxy's in front of it): its watch set, the first scan to come. */
static void nb_started(struct nb_back *b, const char *path, const struct nb_ops *ops)
{
	nb_back_init(b);
	b->xs = conn(path);
	b->ops = ops;
	assert_int_equal(nb_back_watch(b), 0);
}

#define NBQ_BE "/local/domain/0/backend/vif/7/0"

/* A backend refused a transaction for xenstored's quota, which others
 * hold (C xenstored's quota is a guest's: a backend in a driver domain,
 * domain 5 here, shares it; hvsim's guests have 64 together, all taken by
 * domain 6): the daemon goes on (it took xenstore for gone, and exited),
 * the vif's step is taken again after a backoff, and once the others end
 * theirs the vif reaches InitWait, with no event of its own. */
static void test_netback_waits_out_a_transaction_quota(void **state)
{
	struct xsc *d0 = conn(NULL), *hogs[4];
	struct nb_back b;
	uint32_t tx;

	(void)state;
	be_root(d0);
	for (unsigned i = 0; i < 4; i++) {
		hogs[i] = conn(hog_path);
		for (unsigned k = 0; k < 16; k++)
			assert_int_equal(xsc_tx_start(hogs[i], &tx), 0);
	}
	nb_started(&b, guest_path, &nbq_ops);
	/* the toolstack adds vif 7.0 */
	put(d0, NBQ_BE "/frontend", "/local/domain/7/device/vif/0");
	put(d0, NBQ_BE "/frontend-id", "7");
	put(d0, NBQ_BE "/state", "1");
	put(d0, NBQ_BE "/online", "1");
	/* refused, again and again: Initialising, and a look due */
	assert_false(nb_until(&b, d0, NBQ_BE "/state", "2", 300));
	assert_string_equal(get(d0, NBQ_BE "/feature-sg"), "!");
	assert_true(nb_back_timeout_ms(&b) >= 0);
	for (unsigned i = 0; i < 4; i++)
		xsc_close(hogs[i]);
	assert_true(nb_until(&b, d0, NBQ_BE "/state", "2", 3000));
	assert_string_equal(get(d0, NBQ_BE "/feature-sg"), "1");
	nb_back_shutdown(&b);
	xsc_close(b.xs);
	xsc_close(d0);
}

/* A backend in driver domain 5 (its directory owned by 5), its loop
 * started: the toolstack's keys for vif D.0 make it probe (InitWait). */
static void nbq_start(struct nb_back *b, struct xsc *d0)
{
	be_root(d0);
	nb_started(b, guest_path, &nbq_ops);
}

/* The toolstack's keys of vif D.0 on bridge (NULL: none), at online and
 * state. */
static void nbt_vif(struct xsc *d0, unsigned domid, const char *bridge, const char *online,
		    const char *st)
{
	char be[64], path[96], val[64];

	snprintf(be, sizeof(be), "/local/domain/0/backend/vif/%u/0", domid);
	snprintf(path, sizeof(path), "%s/frontend", be);
	snprintf(val, sizeof(val), "/local/domain/%u/device/vif/0", domid);
	put(d0, path, val);
	snprintf(path, sizeof(path), "%s/frontend-id", be);
	snprintf(val, sizeof(val), "%u", domid);
	put(d0, path, val);
	if (bridge) {
		snprintf(path, sizeof(path), "%s/bridge", be);
		put(d0, path, bridge);
	}
	snprintf(path, sizeof(path), "%s/state", be);
	put(d0, path, st);
	snprintf(path, sizeof(path), "%s/online", be);
	put(d0, path, online);
}

static void nbq_add(struct xsc *d0, unsigned domid)
{
	nbt_vif(d0, domid, NULL, "1", "1");
}

static void nbq_stop(struct nb_back *b, struct xsc *d0)
{
	nb_back_shutdown(b);
	xsc_close(b->xs);
	assert_int_equal(req(d0, XS_MSG_RM, "/local/domain/0/backend/vif", NULL, 0), 0);
	xsc_close(d0);
}

#define NBS_BE "/local/domain/0/backend/vif/8/0"

/* The backend's state read refused (EACCES here: the toolstack's
 * permissions; EIO would do the same) says nothing of which device the
 * directory is: a working vif is not torn down and probed again as a new
 * device (it was: any error reading state was a new device's), and the
 * daemon goes on (it took the refusal for xenstore gone, and exited).
 * Once state reads again, the vif is as it was. */
static void test_netback_keeps_a_vif_whose_state_it_cannot_read(void **state)
{
	struct xsc *d0 = conn(NULL);
	struct nb_back b;
	uint64_t end;

	(void)state;
	nbq_start(&b, d0);
	nbq_add(d0, 8);
	assert_true(nb_until(&b, d0, NBS_BE "/state", "2", 3000));
	nbq_probes = nbq_releases = 0;
	/* dom0's alone now: domain 5 reads EACCES (the change fires the watch) */
	assert_int_equal(req(d0, XS_MSG_SET_PERMS, NBS_BE "/state", "n0", 0), 0);
	put(d0, NBS_BE "/rate", "125000,20000"); /* and a look, for sure */
	end = nb_now_ms() + 300;
	while (nb_now_ms() < end)
		assert_false(nb_until(&b, d0, NBS_BE "/state", "6", 20));
	assert_int_equal(nbq_releases, 0);
	assert_int_equal(nbq_probes, 0);
	assert_int_equal(req(d0, XS_MSG_SET_PERMS, NBS_BE "/state", "n5", 0), 0);
	assert_false(nb_until(&b, d0, NBS_BE "/state", "1", 300));
	assert_string_equal(get(d0, NBS_BE "/state"), "2");
	assert_int_equal(nbq_releases, 0);
	assert_int_equal(nbq_probes, 0);
	nbq_stop(&b, d0);
}

/* A write refused for xenstored's node quota (ENOSPC: domain 5, the
 * driver domain, owns all the nodes it may) hurts that vif only: the
 * daemon goes on (it took ENOSPC for xenstore gone, and exited), a vif
 * whose write makes no node still gets its Closed, and the refused vif
 * is looked at again (backoff) and probed once nodes are freed, with no
 * event of its own. */
static void test_netback_a_node_quota_hurts_only_that_vif(void **state)
{
	struct xsc *d0 = conn(NULL), *g = conn(guest_path);
	struct nb_back b;
	char path[64];
	unsigned n = 0;

	(void)state;
	nbq_start(&b, d0);
	nbq_add(d0, 8);
	assert_true(nb_until(&b, d0, NBS_BE "/state", "2", 3000));
	/* domain 5 takes its last nodes */
	put(d0, "/local/domain/5/fill", "");
	assert_int_equal(req(d0, XS_MSG_SET_PERMS, "/local/domain/5/fill", "n5", 0), 0);
	for (int err = 0; !err; n++) {
		snprintf(path, sizeof(path), "/local/domain/5/fill/%u", n);
		err = req(g, XS_MSG_WRITE, path, "x", 1);
		assert_true(err == 0 || err == -ENOSPC);
		assert_true(n < 2000);
	}
	nbq_add(d0, 9);
	assert_false(nb_until(&b, d0, "/local/domain/0/backend/vif/9/0/state", "2", 300));
	assert_string_equal(get(d0, "/local/domain/0/backend/vif/9/0/feature-sg"), "!");
	/* vif 8.0 torn down by the toolstack: its Closed makes no node */
	put(d0, NBS_BE "/online", "0");
	assert_true(nb_until(&b, d0, NBS_BE "/state", "6", 3000));
	assert_int_equal(req(d0, XS_MSG_RM, "/local/domain/5/fill", NULL, 0), 0);
	assert_true(nb_until(&b, d0, "/local/domain/0/backend/vif/9/0/state", "2", 3000));
	assert_string_equal(get(d0, "/local/domain/0/backend/vif/9/0/feature-sg"), "1");
	xsc_close(g);
	nbq_stop(&b, d0);
}

/* A consumer that serves the vifs of bridge xenbr0 (as dpswitch its
 * --bridge ones, vifback all but its --not-bridge ones) and counts what
 * it is told to forget (a restarted backend's leftovers), per domain. */
static unsigned nbt_forgotten[16];

static bool nbt_serves(struct nb_back *b, const struct nb_vif *v, const char *bridge)
{
	(void)b;
	(void)v;
	return bridge && !strcmp(bridge, "xenbr0");
}

static void nbt_forget(struct nb_back *b, struct nb_vif *v, const char *vifname)
{
	(void)b;
	(void)vifname;
	assert_false(v->probed);
	assert_int_equal(v->port, -1);
	assert_true(v->domid < 16);
	nbt_forgotten[v->domid]++;
}

static const struct nb_ops nbt_ops = {
	.serves = nbt_serves,
	.probe = nbq_probe,
	.connect = nbq_connect,
	.disconnect = nbq_none,
	.release = nbq_release,
	.close = nbq_none,
	.forget = nbt_forget,
};

#define NBT_BE(d, key) "/local/domain/0/backend/vif/" #d "/0/" key

/* A backend (re)started after the toolstack began removing its vifs (xl
 * destroy, network-detach while vifback's service or dpswitch's
 * supervisor restarted it): libxl wrote online=0 and Closing (5) and
 * waits 10 s for Closed before it forces the removal without the
 * hotplug script's offline. Its vif is closed at once (6), after what an
 * earlier run left for it is forgotten, with nothing else written and
 * nothing probed; it was left at Closing, as the backend only closed
 * vifs it had probed itself. A vif of another backend (bridge dps0) at
 * Closing is not touched; one Closed already is only forgotten (nobody
 * waits); one the toolstack is making (1, online 1) is probed as ever. */
static void test_netback_closes_a_vif_torn_down_before_it_started(void **state)
{
	struct xsc *d0 = conn(NULL);
	struct nb_back b;

	(void)state;
	be_root(d0);
	nbt_vif(d0, 9, "xenbr0", "0", "5");
	nbt_vif(d0, 10, "dps0", "0", "5");
	nbt_vif(d0, 11, "xenbr0", "0", "6");
	nbt_vif(d0, 12, "xenbr0", "1", "1");
	memset(nbt_forgotten, 0, sizeof(nbt_forgotten));
	nbq_probes = nbq_releases = 0;
	nb_started(&b, guest_path, &nbt_ops);
	assert_true(nb_until(&b, d0, NBT_BE(9, "state"), "6", 2000));
	assert_true(nb_until(&b, d0, NBT_BE(12, "state"), "2", 2000));
	/* more looks change nothing */
	put(d0, NBT_BE(10, "rate"), "125000,20000");
	put(d0, NBT_BE(11, "rate"), "125000,20000");
	assert_false(nb_until(&b, d0, NBT_BE(10, "state"), "6", 300));
	assert_string_equal(get(d0, NBT_BE(10, "state")), "5");
	assert_string_equal(get(d0, NBT_BE(11, "state")), "6");
	for (unsigned d = 9; d <= 11; d++) {
		char path[96];

		snprintf(path, sizeof(path), "/local/domain/0/backend/vif/%u/0/feature-sg", d);
		assert_string_equal(get(d0, path), "!");
	}
	assert_true(nbt_forgotten[9] >= 1 && nbt_forgotten[11] >= 1);
	assert_int_equal(nbt_forgotten[10], 0);
	assert_int_equal(nbt_forgotten[12], 0);
	assert_int_equal(nbq_probes, 1); /* 12.0's */
	assert_int_equal(nbq_releases, 0);
	/* the toolstack, answered, removes the device: the vif is forgotten */
	assert_int_equal(req(d0, XS_MSG_RM, "/local/domain/0/backend/vif/9", NULL, 0), 0);
	assert_false(nb_until(&b, d0, NBT_BE(9, "state"), "6", 200));
	assert_null(nb_vif_get(&b, 9, 0, false));
	assert_string_equal(get(d0, NBT_BE(9, "state")), "!");
	nbq_stop(&b, d0);
}

#define NBR_BE "/local/domain/0/backend/vif/10/0"

/* A key of the backend directory whose read xenstored refuses (EACCES
 * here: the toolstack's permissions; EIO would do the same) is not a key
 * missing: the vif is left as it is and looked at again. Taken for
 * missing, a refused frontend failed the probe (its error and Closing
 * written where the backend may, here refused, and the vif not looked at
 * again: nothing until the toolstack acts), and a refused online = 0 (the
 * toolstack's teardown) was a look with nothing to do: Closed, which
 * libxl waits for, written only at the vif's next change. */
static void test_netback_a_backend_key_it_cannot_read_is_not_missing(void **state)
{
	struct xsc *d0 = conn(NULL);
	struct nb_back b;

	(void)state;
	nbq_start(&b, d0);
	nbq_probes = 0;
	/* vif 10.0, its frontend key dom0's alone: domain 5 reads EACCES */
	put(d0, NBR_BE "/frontend", "/local/domain/10/device/vif/0");
	assert_int_equal(req(d0, XS_MSG_SET_PERMS, NBR_BE "/frontend", "n0", 0), 0);
	put(d0, NBR_BE "/frontend-id", "10");
	put(d0, NBR_BE "/state", "1");
	put(d0, NBR_BE "/online", "1");
	assert_false(nb_until(&b, d0, NBR_BE "/state", "5", 300));
	assert_string_equal(get(d0, NBR_BE "/state"), "1");
	assert_string_equal(get(d0, "/local/domain/0/error/backend/vif/10/0/error"), "!");
	assert_int_equal(nbq_probes, 0);
	assert_true(nb_back_timeout_ms(&b) >= 0); /* looked at again */
	assert_int_equal(req(d0, XS_MSG_SET_PERMS, NBR_BE "/frontend", "n5", 0), 0);
	assert_true(nb_until(&b, d0, NBR_BE "/state", "2", 3000));
	assert_int_equal(nbq_probes, 1);
	/* the toolstack's teardown, online dom0's alone */
	assert_int_equal(req(d0, XS_MSG_SET_PERMS, NBR_BE "/online", "n0", 0), 0);
	put(d0, NBR_BE "/online", "0");
	assert_false(nb_until(&b, d0, NBR_BE "/state", "6", 300));
	assert_true(nb_back_timeout_ms(&b) >= 0); /* looked at again */
	assert_int_equal(req(d0, XS_MSG_SET_PERMS, NBR_BE "/online", "n5", 0), 0);
	assert_true(nb_until(&b, d0, NBR_BE "/state", "6", 3000));
	nbq_stop(&b, d0);
}

#define NBW_BE "/local/domain/0/backend/vif/11/0"
#define NBW_FE "/local/domain/11/device/vif/0"

/* The watch on the frontend's state refused (ENOSPC: the connection's
 * quota of watches, taken here by the backend's own connection) fails
 * that vif's probe as any refusal: it is looked at again, the watch set
 * once xenstored takes it, and the frontend's Connected seen. Left unset
 * (it was: InitWait written without it), the frontend's writes reached
 * no one, and a frontend that connected after hotplug-status stayed
 * unconnected, the backend at InitWait. */
static void test_netback_sets_a_frontend_watch_it_was_refused(void **state)
{
	static const char *const fe[][2] = {
		{ NBW_FE "/tx-ring-ref", "8" },	   { NBW_FE "/rx-ring-ref", "9" },
		{ NBW_FE "/event-channel", "3" }, { NBW_FE "/request-rx-copy", "1" },
		{ NBW_FE "/state", "4" },
	};
	struct xsc *d0 = conn(NULL);
	struct nb_back b;
	char token[16];
	unsigned n = 0;

	(void)state;
	nbq_start(&b, d0);
	/* the backend's connection at its quota of watches */
	for (int err = 0; !err; n++) {
		snprintf(token, sizeof(token), "fill%u", n);
		err = req(b.xs, XS_MSG_WATCH, "/local/domain/0/fill", token, 0);
		assert_true(err == 0 || err == -ENOSPC);
		assert_true(n < 1000);
	}
	put(d0, NBW_FE, "");
	assert_int_equal(req(d0, XS_MSG_SET_PERMS, NBW_FE, "r0", 0), 0);
	nbq_add(d0, 11);
	assert_false(nb_until(&b, d0, NBW_BE "/state", "2", 300));
	assert_true(nb_back_timeout_ms(&b) >= 0); /* looked at again */
	put(d0, NBW_BE "/hotplug-status", "connected");
	assert_false(nb_until(&b, d0, NBW_BE "/state", "2", 100));
	for (unsigned i = 0; i < sizeof(fe) / sizeof(fe[0]); i++)
		put(d0, fe[i][0], fe[i][1]);
	assert_int_equal(req(b.xs, XS_MSG_UNWATCH, "/local/domain/0/fill", "fill0", 0), 0);
	assert_true(nb_until(&b, d0, NBW_BE "/state", "4", 3000));
	assert_int_equal(req(d0, XS_MSG_RM, "/local/domain/11", NULL, 0), 0);
	nbq_stop(&b, d0);
}

static pid_t refusing_proxy(const char *upstream, const char *path, uint32_t type,
			    const char *refuse, unsigned refusals);

#define NBL_BE "/local/domain/0/backend/vif/12/0"

/* stderr into a file while a test reads the log lines (at INFO). */
static int log_saved = -1;
static FILE *log_file;

static void log_capture(void)
{
	log_file = tmpfile();
	assert_non_null(log_file);
	fflush(stderr);
	log_saved = dup(STDERR_FILENO);
	assert_true(log_saved >= 0);
	assert_true(dup2(fileno(log_file), STDERR_FILENO) >= 0);
	log_set_level(LOG_LVL_INFO);
}

/* The lines logged since log_capture(), stderr given back. */
static const char *log_captured(void)
{
	static char buf[16384];
	size_t n;

	log_set_level(LOG_LVL_ERR);
	assert_true(dup2(log_saved, STDERR_FILENO) >= 0);
	close(log_saved);
	rewind(log_file);
	n = fread(buf, 1, sizeof(buf) - 1, log_file);
	buf[n] = '\0';
	fclose(log_file);
	return buf;
}

static unsigned count_of(const char *s, const char *what)
{
	unsigned n = 0;

	for (s = strstr(s, what); s; s = strstr(s + 1, what))
		n++;
	return n;
}

/* The backend root's listing refused (EIO here, three times, from a
 * proxy in front of xenstored; EACCES, ENOMEM alike): the first scan, at
 * start, is such a listing, and the vifs added while the backend was down
 * have no event of their own. It is listed again after a backoff, and
 * once xenstored answers, vif 12.0 is probed with no event of its own (it
 * was missed until it changed: never, here). One warning for the run of
 * refusals, one line when it ends, as netd's watch logs them; before,
 * each refusal was logged. */
static void test_netback_lists_again_a_directory_it_was_refused(void **state)
{
	struct xsc *d0 = conn(NULL);
	struct nb_back b;
	char proxy[sizeof(((struct sockaddr_un *)0)->sun_path)];
	bool probed_early, again, probed;
	const char *log;
	pid_t pid;
	int st;

	(void)state;
	snprintf(proxy, sizeof(proxy), "%s/refusing-dir", xsd_dir);
	pid = refusing_proxy(guest_path, proxy, XS_MSG_DIRECTORY, "/local/domain/0/backend/vif",
			     3);
	be_root(d0);
	nbq_add(d0, 12);
	nbq_probes = 0;
	log_capture();
	nb_started(&b, proxy, &nbq_ops);
	/* no assert until stderr is back, or what it says is lost */
	probed_early = nb_until(&b, d0, NBL_BE "/state", "2", 100);
	again = nb_back_timeout_ms(&b) >= 0; /* listed again */
	probed = nb_until(&b, d0, NBL_BE "/state", "2", 3000);
	log = log_captured();
	assert_false(probed_early);
	assert_true(again);
	assert_true(probed);
	assert_int_equal(nbq_probes, 1);
	assert_int_equal(count_of(log, "listed again"), 1);
	assert_non_null(strstr(log, "list /local/domain/0/backend/vif: Input/output error; "
				    "listed again, with backoff\n"));
	assert_non_null(strstr(log, "/local/domain/0/backend/vif listed (try 4)\n"));
	nbq_stop(&b, d0);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	unlink(proxy);
}

/* n directories under dir, named prefix + number from first, made in one
 * transaction (a few batches of a write and a SET_PERMS each): owned by
 * dom0 and readable by all (r0), not in a guest's quota of nodes. */
static void mkdirs(struct xsc *c, const char *dir, const char *prefix, unsigned first,
		   unsigned n)
{
	struct xsc_op *ops = calloc(2 * n, sizeof(*ops));
	char (*paths)[96] = calloc(n, sizeof(*paths));
	uint32_t tx;

	assert_non_null(ops);
	assert_non_null(paths);
	for (unsigned i = 0; i < n; i++) {
		snprintf(paths[i], sizeof(paths[i]), "%s/%s%u", dir, prefix, first + i);
		ops[2 * i] = (struct xsc_op){ .type = XS_MSG_WRITE, .path = paths[i], .arg = "" };
		ops[2 * i + 1] = (struct xsc_op){ .type = XS_MSG_SET_PERMS, .path = paths[i],
						  .arg = "r0" };
	}
	assert_int_equal(xsc_tx_start(c, &tx), 0);
	assert_int_equal(xsc_run_tx(c, tx, ops, 2 * n), 0);
	for (unsigned i = 0; i < 2 * n; i++)
		assert_int_equal(ops[i].err, 0);
	xsc_ops_free(ops, 2 * n);
	assert_int_equal(xsc_tx_end(c, tx, true), 0);
	free(ops);
	free(paths);
}

/* The names of op (xsc_list's reply) that are prefix + a number below n,
 * each once: how many. */
static unsigned names_counted(const struct xsc_op *op, const char *prefix, unsigned n)
{
	bool *seen = calloc(n, sizeof(*seen));
	size_t plen = strlen(prefix);
	unsigned count = 0;

	assert_non_null(seen);
	for (const char *name = op->reply; name < op->reply + op->len; name += strlen(name) + 1) {
		unsigned long k;

		assert_memory_equal(name, prefix, plen);
		k = strtoul(name + plen, NULL, 10);
		assert_true(k < n && !seen[k]);
		seen[k] = true;
		count++;
	}
	free(seen);
	return count;
}

#define NBM_DIR "/local/domain/0/many"
#define NBM_PREFIX "a-child-with-a-longish-name-"

/* A directory of 1200 children (some 35000 bytes of names: xenstored
 * answers E2BIG to its DIRECTORY, more than one reply's 4096) is listed
 * whole by xsc_list, in parts, as libxenstore's xs_directory() does; in a
 * transaction too, with that transaction's own child. Before, it could
 * not be listed at all. */
static void test_a_directory_of_1200_children_is_listed_whole(void **state)
{
	struct xsc *d0 = conn(NULL);
	struct xsc_op op = { .type = XS_MSG_WRITE, .path = NBM_DIR "/" NBM_PREFIX "1200",
			     .arg = "" };
	uint32_t tx;

	(void)state;
	mkdirs(d0, NBM_DIR, NBM_PREFIX, 0, 1200);
	assert_int_equal(req(d0, XS_MSG_DIRECTORY, NBM_DIR, NULL, 0), -E2BIG);
	assert_int_equal(xsc_list(d0, 0, NBM_DIR, &op), 0);
	assert_int_equal(op.err, 0);
	assert_int_equal(names_counted(&op, NBM_PREFIX, 1201), 1200);
	xsc_ops_free(&op, 1);

	assert_int_equal(xsc_tx_start(d0, &tx), 0);
	op = (struct xsc_op){ .type = XS_MSG_WRITE, .path = NBM_DIR "/" NBM_PREFIX "1200",
			      .arg = "" };
	assert_int_equal(xsc_run_tx(d0, tx, &op, 1), 0);
	assert_int_equal(op.err, 0);
	xsc_ops_free(&op, 1);
	assert_int_equal(xsc_list(d0, tx, NBM_DIR, &op), 0);
	assert_int_equal(op.err, 0);
	assert_int_equal(names_counted(&op, NBM_PREFIX, 1201), 1201);
	xsc_ops_free(&op, 1);
	assert_int_equal(xsc_tx_end(d0, tx, false), 0);

	/* a small one in one reply, a missing one ENOENT, as before */
	assert_int_equal(xsc_list(d0, 0, "/local/domain/0/many/" NBM_PREFIX "7", &op), 0);
	assert_int_equal(op.err, 0);
	assert_int_equal(op.len, 0);
	xsc_ops_free(&op, 1);
	assert_int_equal(xsc_list(d0, 0, "/local/domain/0/none", &op), 0);
	assert_int_equal(op.err, -ENOENT);
	assert_null(op.reply);
	assert_int_equal(req(d0, XS_MSG_RM, NBM_DIR, NULL, 0), 0);
	xsc_close(d0);
}

#define NBK_BE "/local/domain/0/backend/vif/1999/0"

/* A vif of the 1000th domain with a backend directory, there before the
 * backend starts: the backend root lists in parts (xenstored answers its
 * DIRECTORY E2BIG) and the vif is probed at start. Before, the listing
 * was refused every time (12 tries, then nothing until the root
 * changed): the backends of a host with some 700 guests or more missed
 * every vif at start. */
static void test_netback_probes_at_start_a_vif_of_the_1000th_domain(void **state)
{
	struct xsc *d0 = conn(NULL);
	struct nb_back b;

	(void)state;
	be_root(d0);
	mkdirs(d0, "/local/domain/0/backend/vif", "", 1000, 999);
	nbq_add(d0, 1999);
	nbq_probes = 0;
	nb_started(&b, guest_path, &nbq_ops);
	assert_true(nb_until(&b, d0, NBK_BE "/state", "2", 2000));
	assert_int_equal(nbq_probes, 1);
	nbq_stop(&b, d0);
}

#define NBG_BE(d, key) "/local/domain/0/backend/vif/" #d "/0/" key

/* A vif this backend never probed whose directory is gone at its first
 * look (removed after the backend started, before the look: vifback's
 * start-up sweep of the TAPs an earlier run left saw it there) has what
 * an earlier run left for it forgotten (vifback's TAP stayed, for ever,
 * and dpswitch's kept plug, for a later vif of that number). Not one the
 * serves hook refused at an earlier look (another backend's, bridge
 * dps0), nor one this backend probed (released, as ever). */
static void test_netback_forgets_a_vif_removed_before_its_first_look(void **state)
{
	struct xsc *d0 = conn(NULL);
	struct nb_back b;

	(void)state;
	be_root(d0);
	memset(nbt_forgotten, 0, sizeof(nbt_forgotten));
	nbq_probes = nbq_releases = 0;
	nb_started(&b, guest_path, &nbt_ops);
	nbt_vif(d0, 13, "dps0", "1", "1");
	nbt_vif(d0, 14, "xenbr0", "1", "1");
	assert_true(nb_until(&b, d0, NBG_BE(14, "state"), "2", 2000));
	assert_false(nb_until(&b, d0, NBG_BE(13, "state"), "2", 100));
	/* vif 15.0 added and removed before the backend's next look */
	nbt_vif(d0, 15, "xenbr0", "1", "1");
	assert_int_equal(req(d0, XS_MSG_RM, "/local/domain/0/backend/vif/15", NULL, 0), 0);
	assert_int_equal(req(d0, XS_MSG_RM, "/local/domain/0/backend/vif/13", NULL, 0), 0);
	assert_int_equal(req(d0, XS_MSG_RM, "/local/domain/0/backend/vif/14", NULL, 0), 0);
	assert_false(nb_until(&b, d0, NBG_BE(15, "state"), "2", 200));
	assert_null(nb_vif_get(&b, 13, 0, false));
	assert_null(nb_vif_get(&b, 14, 0, false));
	assert_null(nb_vif_get(&b, 15, 0, false));
	assert_true(nbt_forgotten[15] >= 1);
	assert_int_equal(nbt_forgotten[13], 0);
	assert_int_equal(nbt_forgotten[14], 0);
	assert_int_equal(nbq_probes, 1);
	assert_int_equal(nbq_releases, 1);
	nbq_stop(&b, d0);
}

static int io_full(int fd, uint8_t *buf, size_t n, bool out)
{
	while (n) {
		ssize_t k = out ? write(fd, buf, n) : read(fd, buf, n);

		if (k <= 0)
			return -1;
		buf += k;
		n -= (size_t)k;
	}
	return 0;
}

/* A child between a client and xenstored at upstream, listening at path,
 * passing every message on whole, but for the first `refusals` requests
 * of that type whose payload starts with `refuse` (its path), which it
 * answers as xenstored refusing one (EIO, as for its ENOMEM), without
 * passing them on. Its pid. */
static pid_t refusing_proxy(const char *upstream, const char *path, uint32_t type,
			    const char *refuse, unsigned refusals)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), c, u;
	pid_t pid;

	assert_true(l >= 0 && strlen(path) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, path, strlen(path) + 1);
	assert_int_equal(bind(l, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(l, 1), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid) {
		close(l);
		return pid;
	}
	c = accept(l, NULL, NULL);
	u = sock_connect(upstream, SOCK_STREAM);
	if (c < 0 || u < 0)
		_exit(1);
	for (;;) {
		struct pollfd p[2] = { { .fd = c, .events = POLLIN }, { .fd = u, .events = POLLIN } };
		static uint8_t buf[XS_HDR_LEN + XS_PAYLOAD_MAX + 1];
		struct xs_msg_hdr h;

		if (poll(p, 2, -1) < 0)
			_exit(1);
		for (int i = 0; i < 2; i++) {
			int from = i ? u : c, to = i ? c : u;

			if (!p[i].revents)
				continue;
			if (io_full(from, buf, XS_HDR_LEN, false) < 0)
				_exit(0);
			xs_hdr_decode(buf, &h);
			if (h.len > XS_PAYLOAD_MAX ||
			    io_full(from, buf + XS_HDR_LEN, h.len, false) < 0)
				_exit(0);
			buf[XS_HDR_LEN + h.len] = '\0';
			if (!i && h.type == type && refusals &&
			    !strcmp((const char *)buf + XS_HDR_LEN, refuse)) {
				struct xs_msg_hdr e = { XS_MSG_ERROR, h.req_id, h.tx_id, 4 };

				refusals--;
				xs_hdr_encode(&e, buf);
				memcpy(buf + XS_HDR_LEN, "EIO", 4);
				to = c;
				h.len = 4;
			}
			if (io_full(to, buf, XS_HDR_LEN + h.len, true) < 0)
				_exit(0);
		}
	}
}

/* The watches connection c may still set (xenstored's quota of them):
 * set until refused, then removed. */
static unsigned watches_free(struct xsc *c)
{
	char token[16];
	unsigned n = 0;

	for (int err = 0; !err; n++) {
		snprintf(token, sizeof(token), "free%u", n);
		err = req(c, XS_MSG_WATCH, "/local/domain/0/free", token, 0);
		assert_true(err == 0 || err == -ENOSPC);
		assert_true(n < 1000);
	}
	n--; /* the last, refused */
	for (unsigned i = 0; i < n; i++) {
		snprintf(token, sizeof(token), "free%u", i);
		assert_int_equal(req(c, XS_MSG_UNWATCH, "/local/domain/0/free", token, 0), 0);
	}
	return n;
}

#define NBU_BE "/local/domain/0/backend/vif/16/0"
#define NBU_FE "/local/domain/16/device/vif/0"

/* The UNWATCH of a frontend's state that xenstored refuses (EIO here,
 * three times, from a proxy in front of it: hvsim refuses none) as the
 * toolstack tears the vif down is asked again: once taken, the backend's
 * connection may set as many watches as before the vif came. It was
 * not asked again, and the watch stayed in xenstored for good, one of
 * the connection's quota fewer for every later vif. */
static void test_netback_asks_again_an_unwatch_it_was_refused(void **state)
{
	struct xsc *d0 = conn(NULL);
	struct nb_back b;
	char proxy[sizeof(((struct sockaddr_un *)0)->sun_path)];
	unsigned before;
	pid_t pid;
	int st;

	(void)state;
	snprintf(proxy, sizeof(proxy), "%s/refusing", xsd_dir);
	pid = refusing_proxy(guest_path, proxy, XS_MSG_UNWATCH, NBU_FE "/state", 3);
	be_root(d0);
	nb_started(&b, proxy, &nbq_ops);
	before = watches_free(b.xs);
	put(d0, NBU_FE, "");
	assert_int_equal(req(d0, XS_MSG_SET_PERMS, NBU_FE, "r0", 0), 0);
	nbq_add(d0, 16);
	assert_true(nb_until(&b, d0, NBU_BE "/state", "2", 3000));
	/* the toolstack's teardown: Closed, the unwatch refused */
	put(d0, NBU_BE "/online", "0");
	assert_true(nb_until(&b, d0, NBU_BE "/state", "6", 3000));
	assert_false(nb_until(&b, d0, NBU_BE "/state", "1", 1000));
	assert_int_equal(watches_free(b.xs), before);
	assert_int_equal(req(d0, XS_MSG_RM, "/local/domain/16", NULL, 0), 0);
	nbq_stop(&b, d0);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	unlink(proxy);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_writes_are_committed_when_the_judge_passes),
		cmocka_unit_test(test_a_refusal_writes_nothing_and_is_returned),
		cmocka_unit_test(test_a_conflict_runs_it_again_a_bounded_number_of_times),
		cmocka_unit_test(test_a_guest_at_its_quota_is_refused_then_served),
		cmocka_unit_test(test_a_request_too_long_ends_its_transaction),
		cmocka_unit_test(test_dom0_is_never_refused_a_transaction),
		cmocka_unit_test(test_netback_waits_out_a_transaction_quota),
		cmocka_unit_test(test_netback_keeps_a_vif_whose_state_it_cannot_read),
		cmocka_unit_test(test_netback_a_node_quota_hurts_only_that_vif),
		cmocka_unit_test(test_netback_closes_a_vif_torn_down_before_it_started),
		cmocka_unit_test(test_netback_a_backend_key_it_cannot_read_is_not_missing),
		cmocka_unit_test(test_netback_sets_a_frontend_watch_it_was_refused),
		cmocka_unit_test(test_netback_lists_again_a_directory_it_was_refused),
		cmocka_unit_test(test_a_directory_of_1200_children_is_listed_whole),
		cmocka_unit_test(test_netback_probes_at_start_a_vif_of_the_1000th_domain),
		cmocka_unit_test(test_netback_forgets_a_vif_removed_before_its_first_look),
		cmocka_unit_test(test_netback_asks_again_an_unwatch_it_was_refused),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
