/* lib/spinpoll: poll() with a bounded look first. What it answers is
 * poll()'s, armed or not; an arming lasts one call; a caller with more
 * work (timeout 0) never spins; a stream's passes arm it, small frames'
 * alone do not. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <unistd.h>

#include "lib/spinpoll.h"

static void test_answers_as_poll_does(void **state)
{
	struct spinpoll s;
	int fd[2];
	struct pollfd p;

	(void)state;
	spinpoll_init(&s);
	assert_int_equal(pipe(fd), 0);
	p = (struct pollfd){ .fd = fd[0], .events = POLLIN };
	assert_int_equal(spinpoll_poll(&s, &p, 1, 0), 0);
	/* small frames alone never arm it */
	spinpoll_moved(&s, 64 * 32);
	assert_int_equal(s.until, 0);
	/* a stream's pass arms it; its ACKs' passes after it too */
	spinpoll_moved(&s, 65536);
	assert_true(s.until != 0);
	s.until = 0;
	spinpoll_moved(&s, 66);
	assert_true(s.until != 0);
	/* armed, nothing to read, a caller with more work: at once */
	assert_int_equal(spinpoll_poll(&s, &p, 1, 0), 0);
	assert_int_equal(s.until, 0);
	assert_int_equal(write(fd[1], "x", 1), 1);
	assert_int_equal(spinpoll_poll(&s, &p, 1, -1), 1);
	assert_true(p.revents & POLLIN);
	/* armed, something to read: found by the first look, disarmed */
	spinpoll_moved(&s, 65536);
	assert_true(s.until != 0);
	p.revents = 0;
	assert_int_equal(spinpoll_poll(&s, &p, 1, -1), 1);
	assert_true(p.revents & POLLIN);
	assert_int_equal(s.until, 0);
	spinpoll_close(&s);
	assert_int_equal(s.loadavg, -1);
	close(fd[0]);
	close(fd[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_answers_as_poll_does),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
