/* vif/vifstats: the counter file vifback's worker writes and netd reads.
 * The writer is the side a guest may have compromised: what the reader
 * accepts is checked here. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lib/err.h"
#include "vif/vifstats.h"

static void test_round_trip_keeps_every_counter_and_the_width(void **state)
{
	struct vif_stats a, b;
	char t1[VIF_STATS_TEXT_MAX], t2[VIF_STATS_TEXT_MAX];
	size_t n1, n2;

	(void)state;
	for (unsigned i = 0; i < VIF_ST_COUNT; i++)
		a.v[i] = (uint64_t)i * 1000003u;
	a.v[VIF_ST_RX_BYTES] = UINT64_MAX;
	n1 = vif_stats_format(&a, t1);
	assert_int_equal(vif_stats_parse(t1, n1, &b), 0);
	assert_memory_equal(&a, &b, sizeof(a));
	/* a rewrite at offset 0 must cover what was there: same length */
	memset(&b, 0, sizeof(b));
	n2 = vif_stats_format(&b, t2);
	assert_int_equal(n1, n2);
	assert_non_null(strstr(t1, "rx_drop_malformed "));
}

static void test_empty_is_zero_and_unknown_names_are_skipped(void **state)
{
	const char *t = "future_counter 12\nrx_packets 7\n";
	struct vif_stats st;

	(void)state;
	assert_int_equal(vif_stats_parse("", 0, &st), 0);
	for (unsigned i = 0; i < VIF_ST_COUNT; i++)
		assert_int_equal(st.v[i], 0);
	assert_int_equal(vif_stats_parse(t, strlen(t), &st), 0);
	assert_int_equal(st.v[VIF_ST_RX_PACKETS], 7);
}

static void test_bad_text_is_refused_naming_the_line(void **state)
{
	static const struct {
		const char *text, *msg;
	} bad[] = {
		{ "rx_packets 1\ntx_packets -1\n", "line 2: tx_packets: not a count" },
		{ "rx_packets 18446744073709551616\n", "line 1: rx_packets: not a count" },
		{ "rx_packets 1x\n", "line 1: rx_packets: not a count" },
		{ "rx_packets\n", "line 1: expected 'name value'" },
		{ " 5\n", "line 1: expected 'name value'" },
		{ "rx_packets 1", "line 1: no newline" },
		{ "rx_packets \n", "line 1: rx_packets: not a count" },
	};
	struct vif_stats st;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(vif_stats_parse(bad[i].text, strlen(bad[i].text), &st), -EINVAL);
		assert_string_equal(err_msg(), bad[i].msg);
	}
}

static void test_file_round_trip_and_oversized_file(void **state)
{
	int fd = memfd_create("vifstats", 0);
	struct vif_stats a = { .v = { [VIF_ST_TX_STALLS] = 3, [VIF_ST_EVENTS] = 9 } }, b;
	char big[VIF_STATS_TEXT_MAX + 10];

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(vif_stats_read_fd(fd, &b), 0); /* empty: zeros */
	assert_int_equal(b.v[VIF_ST_EVENTS], 0);
	assert_int_equal(vif_stats_write_fd(fd, &a), 0);
	assert_int_equal(vif_stats_read_fd(fd, &b), 0);
	assert_memory_equal(&a, &b, sizeof(a));
	memset(big, 'x', sizeof(big));
	assert_int_equal(pwrite(fd, big, sizeof(big), 0), (ssize_t)sizeof(big));
	assert_int_equal(vif_stats_read_fd(fd, &b), -EFBIG);
	close(fd);
}

static void test_json_groups_drops_by_direction(void **state)
{
	struct vif_stats st = { .v = { [VIF_ST_RX_DROP_GRANT] = 2, [VIF_ST_TX_DROP_NO_BUFFERS] = 5,
				       [VIF_ST_TX_PACKETS] = 11 } };
	json_t *j = vif_stats_json(&st);

	(void)state;
	assert_non_null(j);
	assert_int_equal(json_integer_value(json_object_get(j, "tx_packets")), 11);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "rx_drops"), "grant")), 2);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "tx_drops"),
							    "no_buffers")), 5);
	assert_null(json_object_get(j, "rx_drop_grant"));
	json_decref(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip_keeps_every_counter_and_the_width),
		cmocka_unit_test(test_empty_is_zero_and_unknown_names_are_skipped),
		cmocka_unit_test(test_bad_text_is_refused_naming_the_line),
		cmocka_unit_test(test_file_round_trip_and_oversized_file),
		cmocka_unit_test(test_json_groups_drops_by_direction),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
