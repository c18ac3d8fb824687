/* lib/xs_client against a scripted xenstored: the test holds the server end
 * of the connection and writes its replies before the client asks, so each
 * case is deterministic (request ids start at 1 and count up). A
 * transaction's requests wait for the id its start answers: there a
 * xenstored thread answers each request as it comes, from a script, and
 * notes what it got; through a socket and through a device (a pty, which
 * the client opens as it opens /dev/xen/xenbus). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/err.h"
#include "lib/xs_client.h"
#include "lib/xs_wire.h"

struct fixture {
	char dir[64], path[96];
	int listener, server;
	struct xsc *c;
};

static int setup(void **state)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	strcpy(f->dir, "/tmp/xsc-test.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/socket", f->dir);
	strcpy(sa.sun_path, f->path);
	f->listener = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(f->listener, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(f->listener, 1), 0);
	setenv("XENSTORED_PATH", f->path, 1);
	assert_int_equal(xsc_open(&f->c, 300), 0);
	f->server = accept(f->listener, NULL, NULL);
	assert_true(f->server >= 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	xsc_close(f->c);
	if (f->server >= 0)
		close(f->server);
	close(f->listener);
	unlink(f->path);
	rmdir(f->dir);
	free(f);
	return 0;
}

static void send_msg(int fd, uint32_t type, uint32_t req, const void *payload, uint32_t len)
{
	struct xs_msg_hdr h = { type, req, 0, len };
	uint8_t buf[XS_HDR_LEN + 256];

	assert_true(len <= 256);
	xs_hdr_encode(&h, buf);
	memcpy(buf + XS_HDR_LEN, payload, len);
	assert_int_equal(write(fd, buf, XS_HDR_LEN + len), (ssize_t)(XS_HDR_LEN + len));
}

static void test_batch_is_pipelined_and_matched_by_id(void **state)
{
	struct fixture *f = *state;
	struct xsc_op ops[3] = {
		{ .type = XS_MSG_READ, .path = "/a" },
		{ .type = XS_MSG_READ, .path = "/missing" },
		{ .type = XS_MSG_WRITE, .path = "/b", .arg = "x\0y", .vlen = 3 },
	};
	static const char ev[] = "/local/domain/0/backend/vif\0tok";
	struct xs_msg_hdr h;
	struct xsc_event *e;
	uint8_t in[1024];
	ssize_t n;
	int err;

	/* Out of order, with a watch event among them. */
	send_msg(f->server, XS_MSG_WRITE, 3, "OK", 3);
	send_msg(f->server, XS_MSG_WATCH_EVENT, 0, ev, sizeof(ev));
	send_msg(f->server, XS_MSG_ERROR, 2, "ENOENT", 7);
	send_msg(f->server, XS_MSG_READ, 1, "v\0w", 3);
	assert_int_equal(xsc_run(f->c, ops, 3), 0);
	assert_int_equal(ops[0].err, 0);
	assert_int_equal(ops[0].len, 3);
	assert_memory_equal(ops[0].reply, "v\0w", 4); /* NUL appended */
	assert_int_equal(ops[1].err, -ENOENT);
	assert_null(ops[1].reply);
	assert_int_equal(ops[2].err, 0);
	xsc_ops_free(ops, 3);

	/* The three requests went out in one write, as xenstored reads them. */
	n = read(f->server, in, sizeof(in));
	assert_int_equal(n, 3 * XS_HDR_LEN + 3 + 9 + 6);
	xs_hdr_decode(in, &h);
	assert_int_equal(h.type, XS_MSG_READ);
	assert_int_equal(h.req_id, 1);
	assert_int_equal(h.len, 3);
	assert_memory_equal(in + XS_HDR_LEN, "/a", 3);
	xs_hdr_decode(in + 2 * XS_HDR_LEN + 3 + 9, &h);
	assert_int_equal(h.type, XS_MSG_WRITE);
	assert_int_equal(h.req_id, 3);
	assert_int_equal(h.len, 6);
	assert_memory_equal(in + 3 * XS_HDR_LEN + 3 + 9, "/b\0x\0y", 6);

	/* The event waits for the caller, though the fd has nothing more. */
	assert_true(xsc_events_queued(f->c));
	e = xsc_event_next(f->c, &err);
	assert_non_null(e);
	assert_string_equal(e->path, "/local/domain/0/backend/vif");
	assert_string_equal(e->token, "tok");
	free(e);
	assert_null(xsc_event_next(f->c, &err));
	assert_int_equal(err, 0);
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void test_silence_times_out_and_breaks_the_connection(void **state)
{
	struct fixture *f = *state;
	struct xsc_op op = { .type = XS_MSG_READ, .path = "/a" };
	long t0, ms;

	t0 = now_ms();
	assert_int_equal(xsc_run(f->c, &op, 1), -ETIMEDOUT);
	ms = now_ms() - t0;
	assert_true(ms >= 290 && ms < 2000);
	/* A late reply would now answer the wrong request: no more batches,
	 * and no second wait. */
	send_msg(f->server, XS_MSG_READ, 1, "late", 4);
	t0 = now_ms();
	assert_int_equal(xsc_run(f->c, &op, 1), -ETIMEDOUT);
	assert_true(now_ms() - t0 < 100);
}

/* A caller's whole bound (xsc_deadline: a hotplug script that libxl kills
 * at 40 s) ends a batch sooner than its own timeout would, and says how
 * long it waited; a batch begun past it does not wait at all. */
static void test_the_callers_deadline_ends_a_batch_sooner(void **state)
{
	struct fixture *f = *state;
	struct xsc_op op = { .type = XS_MSG_READ, .path = "/a" };
	long t0, ms;

	xsc_deadline(f->c, 100);
	t0 = now_ms();
	assert_int_equal(xsc_run(f->c, &op, 1), -ETIMEDOUT);
	ms = now_ms() - t0;
	assert_true(ms >= 90 && ms < 290);
	assert_non_null(strstr(err_msg(), "xenstore: no reply within "));
	assert_null(strstr(err_msg(), "within 300 ms"));
}

/* The caller's wait hook (xsc_wait_hook): called instead of poll while a
 * batch waits, for the connection's fd, as often as it returns early; the
 * batch takes the reply that came meanwhile, and the timeout holds
 * however early the hook returns. */
struct hook {
	struct fixture *f;
	unsigned calls;
	unsigned answer_at; /* the call at which "xenstored" answers, 0: never */
	int fd;
};

static int hook_wait(void *arg, int fd, short events, int ms)
{
	struct hook *h = arg;
	struct pollfd p = { .fd = fd, .events = events };

	h->fd = fd;
	if (++h->calls == h->answer_at)
		send_msg(h->f->server, XS_MSG_READ, 1, "v", 1);
	/* the caller's own work, a slice at a time */
	return poll(&p, 1, ms < 5 ? ms : 5);
}

static void test_a_wait_hook_runs_while_a_batch_waits(void **state)
{
	struct fixture *f = *state;
	struct xsc_op op = { .type = XS_MSG_READ, .path = "/a" };
	struct hook h = { .f = f, .answer_at = 4 };
	long t0, ms;

	xsc_wait_hook(f->c, hook_wait, &h);
	assert_int_equal(xsc_run(f->c, &op, 1), 0);
	assert_string_equal(op.reply, "v");
	xsc_ops_free(&op, 1);
	assert_true(h.calls >= 4);
	assert_int_equal(h.fd, xsc_fd(f->c));
	/* silence: the hook returns every 5 ms, the batch times out at 300 */
	h.answer_at = 0;
	h.calls = 0;
	t0 = now_ms();
	assert_int_equal(xsc_run(f->c, &op, 1), -ETIMEDOUT);
	ms = now_ms() - t0;
	assert_true(ms >= 290 && ms < 2000);
	assert_true(h.calls > 10);
}

static void test_a_batch_begun_past_the_deadline_does_not_wait(void **state)
{
	struct fixture *f = *state;
	struct xsc_op op = { .type = XS_MSG_READ, .path = "/a" };
	long t0;

	xsc_deadline(f->c, 0);
	t0 = now_ms();
	assert_int_equal(xsc_run(f->c, &op, 1), -ETIMEDOUT);
	assert_true(now_ms() - t0 < 100);
	assert_string_equal(err_msg(), "xenstore: no reply within 0 ms");
}

/* A process stopped (SIGSTOP, or not scheduled on a loaded host) between
 * its requests and its look at the replies comes back past its deadline
 * with the replies there: it takes them, and the connection stays good.
 * Before, it gave up on them unread (dpswitch, held 2.5 s at that point,
 * exited: "xenstore: no reply within 2000 ms"). A client whose timeout is
 * 0 ms is past its deadline at its first look, as that one is. A reply
 * that is not there is still not waited for. */
static void test_replies_there_past_the_deadline_are_taken(void **state)
{
	struct fixture *f = *state;
	struct xsc_op ops[2] = {
		{ .type = XS_MSG_READ, .path = "/a" },
		{ .type = XS_MSG_READ, .path = "/b" },
	};
	struct xsc *late;
	int server;
	long t0;

	assert_int_equal(xsc_open(&late, 0), 0);
	server = accept(f->listener, NULL, NULL);
	assert_true(server >= 0);
	send_msg(server, XS_MSG_READ, 1, "x", 1);
	send_msg(server, XS_MSG_READ, 2, "y", 1);
	assert_int_equal(xsc_run(late, ops, 2), 0);
	assert_memory_equal(ops[0].reply, "x", 2);
	assert_memory_equal(ops[1].reply, "y", 2);
	xsc_ops_free(ops, 2);
	assert_int_equal(xsc_broken(late), 0);
	/* one reply of two: the other is not waited for */
	send_msg(server, XS_MSG_READ, 3, "z", 1);
	t0 = now_ms();
	assert_int_equal(xsc_run(late, ops, 2), -ETIMEDOUT);
	assert_true(now_ms() - t0 < 100);
	xsc_close(late);
	close(server);
}

static void test_reply_to_nothing_is_a_protocol_error(void **state)
{
	struct fixture *f = *state;
	struct xsc_op op = { .type = XS_MSG_READ, .path = "/a" };

	send_msg(f->server, XS_MSG_READ, 7, "x", 1);
	assert_int_equal(xsc_run(f->c, &op, 1), -EPROTO);
}

static void test_wrong_reply_type_is_a_protocol_error(void **state)
{
	struct fixture *f = *state;
	struct xsc_op op = { .type = XS_MSG_READ, .path = "/a" };

	send_msg(f->server, XS_MSG_DIRECTORY, 1, "x", 1);
	assert_int_equal(xsc_run(f->c, &op, 1), -EPROTO);
}

static void test_closed_connection(void **state)
{
	struct fixture *f = *state;
	struct xsc_op op = { .type = XS_MSG_READ, .path = "/a" };
	int err;

	close(f->server);
	f->server = -1;
	assert_null(xsc_event_next(f->c, &err));
	assert_int_equal(err, -ECONNRESET);
	assert_int_not_equal(xsc_run(f->c, &op, 1), 0);
}

/* A connection lost is broken for every later call (netback looks at
 * xsc_broken to tell a loss from a refusal), and one hung up lets go of
 * its socket (the server sees it close; the fd is -1, which poll skips)
 * while every call on it fails at once with the error that broke it,
 * events queued before included. */
static void test_lost_then_hung_up(void **state)
{
	struct fixture *f = *state;
	struct xsc_op op = { .type = XS_MSG_READ, .path = "/a" };
	const char ev[] = "/b\0tok";
	int err, lost;

	send_msg(f->server, XS_MSG_WATCH_EVENT, 0, ev, sizeof(ev));
	close(f->server);
	f->server = -1;
	lost = xsc_run(f->c, &op, 1);
	assert_true(lost < 0);
	assert_int_equal(xsc_broken(f->c), lost);
	xsc_hangup(f->c);
	assert_int_equal(xsc_fd(f->c), -1);
	assert_false(xsc_events_queued(f->c));
	assert_null(xsc_event_next(f->c, &err));
	assert_int_equal(err, lost);
	assert_int_equal(xsc_run(f->c, &op, 1), lost);
}

/* Hung up while it still served: the server sees it go, and calls fail
 * with -ENOTCONN. */
static void test_hangup_of_a_connection_that_serves(void **state)
{
	struct fixture *f = *state;
	struct xsc_op op = { .type = XS_MSG_READ, .path = "/a" };
	char buf[16];
	int err;

	xsc_hangup(f->c);
	assert_int_equal(read(f->server, buf, sizeof(buf)), 0);
	assert_int_equal(xsc_broken(f->c), -ENOTCONN);
	assert_null(xsc_event_next(f->c, &err));
	assert_int_equal(err, -ENOTCONN);
	assert_int_equal(xsc_run(f->c, &op, 1), -ENOTCONN);
}

static void test_oversized_request_is_refused_before_sending(void **state)
{
	struct fixture *f = *state;
	static char big[XS_PAYLOAD_MAX + 1];
	struct xsc_op op = { .type = XS_MSG_WRITE, .path = "/a", .arg = big, .vlen = sizeof(big) };
	uint8_t in[16];

	struct xsc_op ok = { .type = XS_MSG_READ, .path = "/a" };

	assert_int_equal(xsc_run(f->c, &op, 1), -E2BIG);
	assert_int_equal(recv(f->server, in, sizeof(in), MSG_DONTWAIT), -1);
	/* and the connection still serves */
	send_msg(f->server, XS_MSG_READ, 1, "v", 1);
	assert_int_equal(xsc_run(f->c, &ok, 1), 0);
	assert_string_equal(ok.reply, "v");
	xsc_ops_free(&ok, 1);
}

/* ---- transactions: a xenstored thread that answers as requests come ---- */

#define SRV_MAX 24

struct srv_reply {
	uint32_t type;
	const char *payload;
	uint32_t len;
};

struct srv {
	int fd;
	const struct srv_reply *script;
	unsigned n_script;
	/* what came */
	struct xs_msg_hdr got[SRV_MAX];
	char payload[SRV_MAX][64];
	unsigned n_got;
	bool more[SRV_MAX]; /* another request came before this one's reply */
};

static bool read_full(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t r;

		if (poll(&pfd, 1, 3000) != 1)
			return false;
		r = read(fd, p, len);
		if (r <= 0)
			return false;
		p += r;
		len -= (size_t)r;
	}
	return true;
}

static void *srv_main(void *arg)
{
	struct srv *s = arg;

	while (s->n_got < s->n_script) {
		uint8_t raw[XS_HDR_LEN], out[XS_HDR_LEN + 64];
		struct xs_msg_hdr h, r;
		const struct srv_reply *rep = &s->script[s->n_got];
		struct pollfd pfd = { .fd = s->fd, .events = POLLIN };

		if (!read_full(s->fd, raw, XS_HDR_LEN))
			break;
		xs_hdr_decode(raw, &h);
		if (h.len > sizeof(s->payload[0]) || !read_full(s->fd, s->payload[s->n_got], h.len))
			break;
		/* pipelined, or one request in flight (the device) */
		s->more[s->n_got] = poll(&pfd, 1, 20) == 1;
		s->got[s->n_got++] = h;
		r = (struct xs_msg_hdr){ rep->type, h.req_id, h.tx_id, rep->len };
		xs_hdr_encode(&r, out);
		memcpy(out + XS_HDR_LEN, rep->payload, rep->len);
		if (write(s->fd, out, XS_HDR_LEN + rep->len) != (ssize_t)(XS_HDR_LEN + rep->len))
			break;
	}
	return NULL;
}

/* start 17, a READ and a WRITE in it, END: a conflict the first time */
static const struct srv_reply tx_script[] = {
	{ XS_MSG_TRANSACTION_START, "17", 3 },
	{ XS_MSG_READ, "", 0 },
	{ XS_MSG_WRITE, "OK", 3 },
	{ XS_MSG_ERROR, "EAGAIN", 7 },
	{ XS_MSG_TRANSACTION_START, "18", 3 },
	{ XS_MSG_READ, "", 0 },
	{ XS_MSG_WRITE, "OK", 3 },
	{ XS_MSG_TRANSACTION_END, "OK", 3 },
	{ XS_MSG_TRANSACTION_START, "19", 3 },
	{ XS_MSG_ERROR, "ENOENT", 7 },
	{ XS_MSG_TRANSACTION_END, "OK", 3 },
	{ XS_MSG_READ, "v", 2 },
};

/* The conditional write netback makes (read the directory, write, commit;
 * again on EAGAIN; abort when the directory is gone), then a plain read:
 * the connection still serves after a conflict and an abort. */
static void run_tx_script(struct xsc *c, struct srv *s)
{
	struct xsc_op ops[2] = {
		{ .type = XS_MSG_READ, .path = "/d" },
		{ .type = XS_MSG_WRITE, .path = "/d/state", .arg = "5", .vlen = 1 },
	};
	struct xsc_op plain = { .type = XS_MSG_READ, .path = "/a" };
	uint32_t tx = 0;

	assert_int_equal(xsc_tx_start(c, &tx), 0);
	assert_int_equal(tx, 17);
	assert_int_equal(xsc_run_tx(c, tx, ops, 2), 0);
	assert_int_equal(ops[0].err, 0);
	assert_int_equal(ops[1].err, 0);
	xsc_ops_free(ops, 2);
	assert_int_equal(xsc_tx_end(c, tx, true), -EAGAIN);

	assert_int_equal(xsc_tx_start(c, &tx), 0);
	assert_int_equal(tx, 18);
	assert_int_equal(xsc_run_tx(c, tx, ops, 2), 0);
	xsc_ops_free(ops, 2);
	assert_int_equal(xsc_tx_end(c, tx, true), 0);

	assert_int_equal(xsc_tx_start(c, &tx), 0);
	assert_int_equal(xsc_run_tx(c, tx, ops, 1), 0);
	assert_int_equal(ops[0].err, -ENOENT);
	assert_int_equal(xsc_tx_end(c, tx, false), 0);

	assert_int_equal(xsc_run(c, &plain, 1), 0);
	assert_string_equal(plain.reply, "v");
	xsc_ops_free(&plain, 1);

	/* what xenstored got: START with "" and no id, the rest with it */
	assert_int_equal(s->n_got, 12);
	for (unsigned i = 0; i < s->n_got; i++)
		assert_int_equal(s->got[i].req_id, i + 1);
	assert_int_equal(s->got[0].type, XS_MSG_TRANSACTION_START);
	assert_int_equal(s->got[0].tx_id, 0);
	assert_int_equal(s->got[0].len, 1);
	assert_int_equal(s->payload[0][0], '\0');
	assert_int_equal(s->got[1].type, XS_MSG_READ);
	assert_int_equal(s->got[1].tx_id, 17);
	assert_int_equal(s->got[2].type, XS_MSG_WRITE);
	assert_int_equal(s->got[2].tx_id, 17);
	assert_memory_equal(s->payload[2], "/d/state\0" "5", 10);
	assert_int_equal(s->got[3].type, XS_MSG_TRANSACTION_END);
	assert_int_equal(s->got[3].tx_id, 17);
	assert_memory_equal(s->payload[3], "T", 2);
	assert_int_equal(s->got[5].tx_id, 18);
	assert_int_equal(s->got[7].tx_id, 18);
	assert_int_equal(s->got[9].tx_id, 19);
	assert_int_equal(s->got[10].type, XS_MSG_TRANSACTION_END);
	assert_int_equal(s->got[10].tx_id, 19);
	assert_memory_equal(s->payload[10], "F", 2);
	assert_int_equal(s->got[11].tx_id, 0);
}

static void test_transaction_over_the_socket(void **state)
{
	struct fixture *f = *state;
	struct srv s = { .fd = f->server, .script = tx_script,
			 .n_script = sizeof(tx_script) / sizeof(tx_script[0]) };
	pthread_t t;

	assert_int_equal(pthread_create(&t, NULL, srv_main, &s), 0);
	run_tx_script(f->c, &s);
	pthread_join(t, NULL);
	/* a batch in a transaction is still pipelined: the WRITE came before
	 * the READ's reply; start and end are round trips of their own */
	assert_true(s.more[1]);
	assert_false(s.more[0] || s.more[2] || s.more[3]);
}

/* A directory too long for one reply (xenstored's E2BIG) listed in
 * parts, as libxenstore's xs_directory() falls back: DIRECTORY_PART
 * `<path>\0<offset>\0`, each reply `<generation>\0<names>` and the last
 * ending with an empty name; the second chunk of another generation (the
 * directory changed meanwhile) starts the listing again from offset 0. */
static const struct srv_reply part_script[] = {
	{ XS_MSG_ERROR, "E2BIG", 6 },
	{ XS_MSG_DIRECTORY_PART, "7\0a\0b\0", 6 },
	{ XS_MSG_DIRECTORY_PART, "8\0c\0\0", 5 },
	{ XS_MSG_DIRECTORY_PART, "8\0a\0b\0", 6 },
	{ XS_MSG_DIRECTORY_PART, "8\0c\0dd\0\0", 8 },
};

static void test_a_long_directory_is_listed_in_parts(void **state)
{
	struct fixture *f = *state;
	struct srv s = { .fd = f->server, .script = part_script,
			 .n_script = sizeof(part_script) / sizeof(part_script[0]) };
	static const char *offs[] = { NULL, "0", "4", "0", "4" };
	struct xsc_op op;
	pthread_t t;

	assert_int_equal(pthread_create(&t, NULL, srv_main, &s), 0);
	assert_int_equal(xsc_list(f->c, 0, "/d", &op), 0);
	pthread_join(t, NULL);
	assert_int_equal(op.err, 0);
	assert_int_equal(op.len, 9);
	assert_memory_equal(op.reply, "a\0b\0c\0dd\0", 10); /* NUL appended */
	xsc_ops_free(&op, 1);
	assert_int_equal(s.n_got, 5);
	assert_int_equal(s.got[0].type, XS_MSG_DIRECTORY);
	for (unsigned i = 1; i < 5; i++) {
		assert_int_equal(s.got[i].type, XS_MSG_DIRECTORY_PART);
		assert_int_equal(s.got[i].len, 5);
		assert_memory_equal(s.payload[i], "/d", 3);
		assert_string_equal(s.payload[i] + 3, offs[i]);
	}
}

/* A directory that changes under every pass: given up after 8 (op.err
 * -EAGAIN, as a refusal), the connection still serving. */
static void test_a_directory_changing_under_every_pass_is_given_up(void **state)
{
	struct fixture *f = *state;
	struct srv_reply script[1 + 2 * 8 + 1];
	struct srv s = { .fd = f->server, .script = script,
			 .n_script = sizeof(script) / sizeof(script[0]) };
	struct xsc_op op, plain = { .type = XS_MSG_READ, .path = "/a" };
	pthread_t t;

	script[0] = (struct srv_reply){ XS_MSG_ERROR, "E2BIG", 6 };
	for (unsigned i = 0; i < 8; i++) {
		script[1 + 2 * i] = (struct srv_reply){ XS_MSG_DIRECTORY_PART, "5\0a\0", 4 };
		script[2 + 2 * i] = (struct srv_reply){ XS_MSG_DIRECTORY_PART, "6\0b\0\0", 5 };
	}
	script[17] = (struct srv_reply){ XS_MSG_READ, "v", 2 };
	assert_int_equal(pthread_create(&t, NULL, srv_main, &s), 0);
	assert_int_equal(xsc_list(f->c, 0, "/d", &op), 0);
	assert_int_equal(op.err, -EAGAIN);
	assert_null(op.reply);
	assert_int_equal(xsc_run(f->c, &plain, 1), 0);
	pthread_join(t, NULL);
	assert_string_equal(plain.reply, "v");
	xsc_ops_free(&plain, 1);
	assert_int_equal(s.n_got, 18);
}

/* A chunk that is no DIRECTORY_PART reply (no generation, or names not
 * ended): the listing not taken (-EPROTO), nothing of it returned. */
static const struct srv_reply bad_part_script[] = {
	{ XS_MSG_ERROR, "E2BIG", 6 },
	{ XS_MSG_DIRECTORY_PART, "7\0a\0b", 5 },
	{ XS_MSG_READ, "v", 2 },
};

static void test_a_chunk_not_understood_is_not_taken(void **state)
{
	struct fixture *f = *state;
	struct srv s = { .fd = f->server, .script = bad_part_script,
			 .n_script = sizeof(bad_part_script) / sizeof(bad_part_script[0]) };
	struct xsc_op op, plain = { .type = XS_MSG_READ, .path = "/a" };
	pthread_t t;

	assert_int_equal(pthread_create(&t, NULL, srv_main, &s), 0);
	assert_int_equal(xsc_list(f->c, 0, "/d", &op), 0);
	assert_int_equal(op.err, -EPROTO);
	assert_null(op.reply);
	assert_int_equal(xsc_run(f->c, &plain, 1), 0);
	pthread_join(t, NULL);
	xsc_ops_free(&plain, 1);
}

/* The xenbus device: a pty stands for it (a path that is not a socket). */
static void test_transaction_over_the_device(void **state)
{
	struct srv s = { .script = tx_script,
			 .n_script = sizeof(tx_script) / sizeof(tx_script[0]) };
	struct termios tio;
	struct xsc *c;
	pthread_t t;
	int slave;

	(void)state;
	s.fd = posix_openpt(O_RDWR | O_NOCTTY);
	assert_true(s.fd >= 0);
	assert_int_equal(grantpt(s.fd), 0);
	assert_int_equal(unlockpt(s.fd), 0);
	/* bytes as they are: no echo, no line discipline */
	slave = open(ptsname(s.fd), O_RDWR | O_NOCTTY);
	assert_true(slave >= 0);
	assert_int_equal(tcgetattr(slave, &tio), 0);
	cfmakeraw(&tio);
	assert_int_equal(tcsetattr(slave, TCSANOW, &tio), 0);
	setenv("XENSTORED_PATH", ptsname(s.fd), 1);
	assert_int_equal(xsc_open(&c, 2000), 0);
	assert_int_equal(pthread_create(&t, NULL, srv_main, &s), 0);
	run_tx_script(c, &s);
	pthread_join(t, NULL);
	for (unsigned i = 0; i < s.n_got; i++)
		assert_false(s.more[i]);
	xsc_close(c);
	close(slave);
	close(s.fd);
}

static void test_transaction_start_answered_with_no_id(void **state)
{
	struct fixture *f = *state;
	struct xsc_op op = { .type = XS_MSG_READ, .path = "/a" };
	uint32_t tx = 0;

	send_msg(f->server, XS_MSG_TRANSACTION_START, 1, "x1", 3);
	assert_int_equal(xsc_tx_start(f->c, &tx), -EPROTO);
	assert_int_equal(tx, 0);
	/* what else it answers cannot be trusted either */
	assert_int_equal(xsc_run(f->c, &op, 1), -EPROTO);
}

/* Only plain decimal 1..2^32-1 and its NUL is an id: each of these was
 * a transaction to strtoul, or one with the wrong id. */
static void test_transaction_start_answered_with_no_decimal_id(void **state)
{
	static const struct {
		const char *reply;
		uint32_t len;
	} bad[] = {
		{ " 17", 4 }, { "+17", 4 }, { "017", 4 }, { "0", 2 }, { "-1", 3 },
		{ "4294967296", 11 }, { "17\n", 4 }, { "17\0" "5", 4 }, { "", 1 },
	};
	struct fixture *f = *state;
	struct xsc_op op = { .type = XS_MSG_READ, .path = "/a" };
	uint32_t tx;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		tx = 0;
		send_msg(f->server, XS_MSG_TRANSACTION_START, 1, bad[i].reply, bad[i].len);
		assert_int_equal(xsc_tx_start(f->c, &tx), -EPROTO);
		assert_int_equal(tx, 0);
		assert_non_null(strstr(err_msg(), "not a transaction id"));
		assert_int_equal(xsc_run(f->c, &op, 1), -EPROTO);
		/* a new connection for the next answer */
		xsc_close(f->c);
		close(f->server);
		assert_int_equal(xsc_open(&f->c, 300), 0);
		f->server = accept(f->listener, NULL, NULL);
		assert_true(f->server >= 0);
	}
	/* the largest id is one */
	send_msg(f->server, XS_MSG_TRANSACTION_START, 1, "4294967295", 11);
	assert_int_equal(xsc_tx_start(f->c, &tx), 0);
	assert_int_equal(tx, UINT32_MAX);
}

static void test_transaction_start_refused(void **state)
{
	struct fixture *f = *state;
	struct xsc_op op = { .type = XS_MSG_READ, .path = "/a" };
	uint32_t tx = 0;

	/* too many transactions: xenstored's answer, the connection serves */
	send_msg(f->server, XS_MSG_ERROR, 1, "ENOSPC", 7);
	assert_int_equal(xsc_tx_start(f->c, &tx), -ENOSPC);
	send_msg(f->server, XS_MSG_READ, 2, "v", 2);
	assert_int_equal(xsc_run(f->c, &op, 1), 0);
	assert_string_equal(op.reply, "v");
	xsc_ops_free(&op, 1);
	/* oxenstored's: EQUOTA, in no table of Xen's, is its quota, not EINVAL */
	send_msg(f->server, XS_MSG_ERROR, 3, "EQUOTA", 7);
	assert_int_equal(xsc_tx_start(f->c, &tx), -EDQUOT);
	send_msg(f->server, XS_MSG_ERROR, 4, "EWHAT", 6);
	assert_int_equal(xsc_tx_start(f->c, &tx), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_batch_is_pipelined_and_matched_by_id, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_silence_times_out_and_breaks_the_connection,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_the_callers_deadline_ends_a_batch_sooner,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_wait_hook_runs_while_a_batch_waits, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_a_batch_begun_past_the_deadline_does_not_wait,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_replies_there_past_the_deadline_are_taken,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_reply_to_nothing_is_a_protocol_error, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_wrong_reply_type_is_a_protocol_error, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_closed_connection, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lost_then_hung_up, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hangup_of_a_connection_that_serves, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_oversized_request_is_refused_before_sending,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_transaction_over_the_socket, setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_long_directory_is_listed_in_parts, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_a_directory_changing_under_every_pass_is_given_up,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_chunk_not_understood_is_not_taken, setup,
						teardown),
		cmocka_unit_test(test_transaction_over_the_device),
		cmocka_unit_test_setup_teardown(test_transaction_start_answered_with_no_id, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_transaction_start_answered_with_no_decimal_id,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_transaction_start_refused, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
