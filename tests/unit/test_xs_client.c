/* lib/xs_client against a scripted xenstored: the test holds the server end
 * of the connection and writes its replies before the client asks, so each
 * case is deterministic (request ids start at 1 and count up). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_batch_is_pipelined_and_matched_by_id, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_silence_times_out_and_breaks_the_connection,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_reply_to_nothing_is_a_protocol_error, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_wrong_reply_type_is_a_protocol_error, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_closed_connection, setup, teardown),
		cmocka_unit_test_setup_teardown(test_oversized_request_is_refused_before_sending,
						setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
