/* test_nl: the rtnetlink exchange survives a dump callback that gives up.
 * Runs in a network namespace of its own (unshare), where only lo exists. */
#include <errno.h>
#include <linux/rtnetlink.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "lib/err.h"
#include "lib/nl.h"
#include "lib/nl_link.h"

static int fail_first_cb(const struct nlmsghdr *nlh, void *data)
{
	int *calls = data;

	(void)nlh;
	(*calls)++;
	err_set(-ENOMEM, "out of memory");
	return MNL_CB_ERROR;
}

static struct nlmsghdr *link_dump_msg(void)
{
	struct nlmsghdr *nlh = nl_msg(RTM_GETLINK, 0);
	struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));

	ifi->ifi_family = AF_UNSPEC;
	return nlh;
}

/* The kernel sends a dump's DONE apart from its records: a callback failing on
 * the first record used to leave DONE queued, and the next request read it as
 * its own reply (a sequence mismatch). */
static void next_request_after_failed_dump(void **state)
{
	struct nl_link lo;
	int calls = 0;

	(void)state;
	assert_int_equal(nl_dump(link_dump_msg(), fail_first_cb, &calls), -ENOMEM);
	assert_int_equal(calls, 1);
	assert_int_equal(nl_link_get("lo", &lo), 0);
	assert_string_equal(lo.name, "lo");
	/* Twice more: each exchange starts clean. */
	assert_int_equal(nl_dump(link_dump_msg(), fail_first_cb, &calls), -ENOMEM);
	assert_int_equal(nl_link_get("lo", &lo), 0);
	assert_int_equal(nl_link_get("lo", &lo), 0);
}

static int own_netns(void **state)
{
	(void)state;
	/* Nothing here touches the host's links, but reads stay in a namespace
	 * of the test's own anyway. */
	if (unshare(CLONE_NEWNET) < 0) {
		print_error("unshare(CLONE_NEWNET): %s (this test needs root)\n", strerror(errno));
		return -1;
	}
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(next_request_after_failed_dump),
	};

	return cmocka_run_group_tests(tests, own_netns, NULL);
}
