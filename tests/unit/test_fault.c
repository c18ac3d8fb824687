/* lib/fault.c: NETD_FAULT as netd(8) describes it: a step fails; step:N
 * fails its first N checks only; several, comma-separated, are each live,
 * each step:N with its own count; step:stop stops the process once. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/err.h"
#include "lib/fault.h"

/* How many of the next `checks` checks of step fail. */
static unsigned fails(const char *step, unsigned checks)
{
	unsigned n = 0;

	for (unsigned i = 0; i < checks; i++) {
		int rc = fault_check(step);

		if (rc) {
			assert_int_equal(rc, -EIO);
			assert_non_null(strstr(err_msg(), step));
			n++;
		}
	}
	return n;
}

/* One process, one list (the counts are the process's): every case in
 * this one test. */
static void test_each_step_of_a_list_fails_as_it_says(void **state)
{
	(void)state;
	setenv("NETD_FAULT", "plain,first:1,second:2,never:0,other-step", 1);
	assert_int_equal(fails("plain", 3), 3);
	/* each counted step its own first N: the second's 2 are not taken by
	 * the first's 1 */
	assert_int_equal(fails("first", 4), 1);
	assert_int_equal(fails("second", 4), 2);
	assert_int_equal(fails("never", 2), 0);
	/* not in the list, or a longer name the list's entry only begins */
	assert_int_equal(fails("absent", 2), 0);
	assert_int_equal(fails("other", 2), 0);
	unsetenv("NETD_FAULT");
	assert_int_equal(fails("plain", 1), 0);
}

/* step:stop: the process stopped at the first check (which passes), not
 * at the next ones. In a child: the parent sees it stop, continues it,
 * and reads what its checks returned from its exit status. */
static void test_stop_stops_once_and_passes(void **state)
{
	int status;
	pid_t pid;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		setenv("NETD_FAULT", "window:stop", 1);
		_exit(fault_check("window") == 0 && fault_check("window") == 0 ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, WUNTRACED), pid);
	assert_true(WIFSTOPPED(status));
	assert_int_equal(WSTOPSIG(status), SIGSTOP);
	kill(pid, SIGCONT);
	/* the second check must not stop it again */
	assert_int_equal(waitpid(pid, &status, WUNTRACED), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_each_step_of_a_list_fails_as_it_says),
		cmocka_unit_test(test_stop_stops_once_and_passes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
