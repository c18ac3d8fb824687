/* xs-smoke: drives a xenstored through the real libxenstore, the way Xen's
 * tools and netd do: read/write/directory, a watch read via poll on
 * xs_fileno, transactions (isolation, a forced conflict -> EAGAIN, abort)
 * and permissions. Exits 0 if everything matched, 1 on the first mismatch.
 *
 * usage: xs-smoke [BASE]   (default BASE /smoke; uses $XENSTORED_PATH) */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xenstore.h>

static const char *base = "/smoke";

#define FAIL(...)                                                              \
	do {                                                                   \
		fprintf(stderr, "xs-smoke: " __VA_ARGS__);                     \
		fputc('\n', stderr);                                           \
		exit(1);                                                       \
	} while (0)

static const char *at(const char *leaf)
{
	static char bufs[4][256];
	static unsigned next;
	char *b = bufs[next++ % 4];

	snprintf(b, sizeof(bufs[0]), "%s%s%s", base, *leaf ? "/" : "", leaf);
	return b;
}

static void write_ok(struct xs_handle *h, xs_transaction_t t, const char *path,
		     const char *val)
{
	if (!xs_write(h, t, path, val, strlen(val)))
		FAIL("write %s: %s", path, strerror(errno));
}

static void expect_value(struct xs_handle *h, xs_transaction_t t,
			 const char *path, const char *want)
{
	unsigned len;
	char *v = xs_read(h, t, path, &len);

	if (!want) {
		if (v || errno != ENOENT)
			FAIL("read %s: want ENOENT, got %s", path,
			     v ? v : strerror(errno));
		return;
	}
	if (!v)
		FAIL("read %s: %s", path, strerror(errno));
	if (len != strlen(want) || memcmp(v, want, len))
		FAIL("read %s: want '%s', got '%s'", path, want, v);
	free(v);
}

/* Waits up to 2 s for the event (path, token), skipping others. */
static void expect_event(struct xs_handle *h, const char *path,
			 const char *token)
{
	struct pollfd pfd = { .fd = xs_fileno(h), .events = POLLIN };
	unsigned n;
	char **ev;

	for (;;) {
		if (poll(&pfd, 1, 2000) != 1)
			FAIL("no watch event %s %s", path, token);
		ev = xs_read_watch(h, &n);
		if (!ev)
			FAIL("xs_read_watch: %s", strerror(errno));
		if (!strcmp(ev[XS_WATCH_PATH], path) &&
		    !strcmp(ev[XS_WATCH_TOKEN], token)) {
			free(ev);
			return;
		}
		free(ev);
	}
}

static void test_rw(struct xs_handle *h)
{
	unsigned n, i;
	char **kids;
	bool found = false;

	xs_rm(h, XBT_NULL, base);
	write_ok(h, XBT_NULL, at("a"), "hello");
	expect_value(h, XBT_NULL, at("a"), "hello");
	expect_value(h, XBT_NULL, base, "");
	kids = xs_directory(h, XBT_NULL, base, &n);
	if (!kids)
		FAIL("directory %s: %s", base, strerror(errno));
	for (i = 0; i < n; i++)
		found |= !strcmp(kids[i], "a");
	free(kids);
	if (n != 1 || !found)
		FAIL("directory %s: want [a], got %u entries", base, n);
}

static void test_watch(struct xs_handle *h)
{
	if (!xs_watch(h, base, "tok"))
		FAIL("watch %s: %s", base, strerror(errno));
	expect_event(h, base, "tok"); /* fires once on registration */
	write_ok(h, XBT_NULL, at("b"), "x");
	expect_event(h, at("b"), "tok");
}

static void test_transactions(struct xs_handle *h)
{
	xs_transaction_t t;

	/* Isolation, then commit. */
	t = xs_transaction_start(h);
	if (t == XBT_NULL)
		FAIL("transaction_start: %s", strerror(errno));
	write_ok(h, t, at("t1"), "in-txn");
	expect_value(h, t, at("t1"), "in-txn");
	expect_value(h, XBT_NULL, at("t1"), NULL);
	if (!xs_transaction_end(h, t, false))
		FAIL("commit: %s", strerror(errno));
	expect_value(h, XBT_NULL, at("t1"), "in-txn");

	/* Abort discards. */
	t = xs_transaction_start(h);
	write_ok(h, t, at("t2"), "gone");
	if (!xs_transaction_end(h, t, true))
		FAIL("abort: %s", strerror(errno));
	expect_value(h, XBT_NULL, at("t2"), NULL);

	/* Forced conflict: a node the transaction read changes under it. */
	t = xs_transaction_start(h);
	expect_value(h, t, at("a"), "hello");
	write_ok(h, XBT_NULL, at("a"), "changed");
	write_ok(h, t, at("t3"), "lost");
	expect_value(h, t, at("a"), "hello"); /* still the snapshot */
	if (xs_transaction_end(h, t, false))
		FAIL("conflicting commit succeeded");
	if (errno != EAGAIN)
		FAIL("conflicting commit: want EAGAIN, got %s", strerror(errno));
	expect_value(h, XBT_NULL, at("t3"), NULL);
	expect_value(h, XBT_NULL, at("a"), "changed");
}

static void test_perms(struct xs_handle *h)
{
	struct xs_permissions set[2] = {
		{ .id = 0, .perms = XS_PERM_NONE },
		{ .id = 5, .perms = XS_PERM_READ },
	};
	struct xs_permissions *got;
	unsigned n;

	if (!xs_set_permissions(h, XBT_NULL, at("a"), set, 2))
		FAIL("set_permissions: %s", strerror(errno));
	got = xs_get_permissions(h, XBT_NULL, at("a"), &n);
	if (!got)
		FAIL("get_permissions: %s", strerror(errno));
	if (n != 2 || got[0].id != 0 || got[0].perms != XS_PERM_NONE ||
	    got[1].id != 5 || got[1].perms != XS_PERM_READ)
		FAIL("get_permissions: got %u entries, first %u/%u", n,
		     got[0].id, got[0].perms);
	free(got);
	/* A child written later inherits the parent's permissions. */
	write_ok(h, XBT_NULL, at("a/child"), "c");
	got = xs_get_permissions(h, XBT_NULL, at("a/child"), &n);
	if (!got || n != 2 || got[1].id != 5)
		FAIL("inherited permissions missing on %s", at("a/child"));
	free(got);
}

static void test_rm(struct xs_handle *h)
{
	if (!xs_rm(h, XBT_NULL, base))
		FAIL("rm %s: %s", base, strerror(errno));
	expect_event(h, base, "tok");
	expect_value(h, XBT_NULL, base, NULL);
	if (!xs_unwatch(h, base, "tok"))
		FAIL("unwatch: %s", strerror(errno));
}

int main(int argc, char **argv)
{
	struct xs_handle *h;

	if (argc > 1)
		base = argv[1];
	h = xs_open(0);
	if (!h)
		FAIL("xs_open: %s", strerror(errno));
	test_rw(h);
	test_watch(h);
	test_transactions(h);
	test_perms(h);
	test_rm(h);
	xs_close(h);
	printf("xs-smoke: OK\n");
	return 0;
}
