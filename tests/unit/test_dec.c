/* dec: the one reading of a bounded number (lib/dec.h), and env_num on it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <errno.h>

#include "lib/dec.h"
#include "lib/env_ms.h"
#include "lib/err.h"

static int parse(const char *s, uint64_t max, uint64_t *v)
{
	return dec_parse(s, strlen(s), max, v);
}

static void test_plain_digits_within_max_are_read(void **state)
{
	uint64_t v = 7;

	assert_int_equal(parse("0", 10, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(parse("10", 10, &v), 0);
	assert_int_equal(v, 10);
	assert_int_equal(parse("18446744073709551615", UINT64_MAX, &v), 0);
	assert_true(v == UINT64_MAX);
	/* only the len bytes given */
	assert_int_equal(dec_parse("42\n", 2, 100, &v), 0);
	assert_int_equal(v, 42);
}

static void test_anything_else_is_not_a_number(void **state)
{
	static const char *const bad[] = { "", "+1", "-1", " 1", "1 ", "0x10", "010", "00",
					   "1e3", "1.0", "12abc", "\xff" };
	uint64_t v = 7;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(parse(bad[i], UINT64_MAX, &v), -EINVAL);
		assert_int_equal(v, 7);
	}
	/* too long to be a number, and not one anyway */
	assert_int_equal(parse("99999999999999999999999x", UINT64_MAX, &v), -EINVAL);
	assert_int_equal(dec_parse("1", 0, 10, &v), -EINVAL);
}

static void test_above_max_is_out_of_range(void **state)
{
	uint64_t v = 7;

	assert_int_equal(parse("11", 10, &v), -ERANGE);
	assert_int_equal(parse("100", 10, &v), -ERANGE);
	assert_int_equal(parse("18446744073709551616", UINT64_MAX, &v), -ERANGE);
	assert_int_equal(parse("99999999999999999999999", UINT64_MAX, &v), -ERANGE);
	assert_int_equal(parse("4294967296", UINT32_MAX, &v), -ERANGE);
	assert_int_equal(v, 7);
}

static void test_dec_arg_names_what_it_expected(void **state)
{
	uint64_t v = 7;

	assert_int_equal(dec_arg("--mbufs", NULL, "2047", 1023, 1048575, &v), 0);
	assert_int_equal(v, 2047);
	assert_int_equal(dec_arg("--mbufs", NULL, "1022", 1023, 1048575, &v), -EINVAL);
	assert_string_equal(err_msg(), "--mbufs: expected 1023..1048575, got '1022'");
	assert_int_equal(dec_arg("--mac-age", "seconds", "+5", 1, 86400, &v), -EINVAL);
	assert_string_equal(err_msg(), "--mac-age: expected seconds, 1..86400, got '+5'");
	assert_int_equal(v, 2047);
	/* in range but for its leading zero: that is why */
	assert_int_equal(dec_arg("--mac-age", "seconds", "0300", 1, 86400, &v), -EINVAL);
	assert_string_equal(err_msg(), "--mac-age: expected seconds, 1..86400, got '0300' "
				       "(no leading zero: octal to xl and to shell arithmetic)");
	/* "0" is a number, out of range here */
	assert_int_equal(dec_arg("--mac-age", "seconds", "0", 1, 86400, &v), -EINVAL);
	assert_string_equal(err_msg(), "--mac-age: expected seconds, 1..86400, got '0'");
}

static void test_env_num_reads_the_same_way(void **state)
{
	uint64_t v = 7;

	unsetenv("DEC_TEST_VAR");
	assert_int_equal(env_num("DEC_TEST_VAR", "microseconds", 0, 1000, &v), 0);
	assert_int_equal(v, 7); /* unset: untouched */
	setenv("DEC_TEST_VAR", "250", 1);
	assert_int_equal(env_num("DEC_TEST_VAR", "microseconds", 0, 1000, &v), 0);
	assert_int_equal(v, 250);
	setenv("DEC_TEST_VAR", " 250", 1);
	assert_int_equal(env_num("DEC_TEST_VAR", "microseconds", 0, 1000, &v), -EINVAL);
	assert_string_equal(err_msg(), "DEC_TEST_VAR: expected microseconds, 0..1000, got ' 250'");
	setenv("DEC_TEST_VAR", "0", 1);
	assert_int_equal(env_ms("DEC_TEST_VAR", &v), -EINVAL);
	assert_int_equal(v, 250);
	unsetenv("DEC_TEST_VAR");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_digits_within_max_are_read),
		cmocka_unit_test(test_anything_else_is_not_a_number),
		cmocka_unit_test(test_above_max_is_out_of_range),
		cmocka_unit_test(test_dec_arg_names_what_it_expected),
		cmocka_unit_test(test_env_num_reads_the_same_way),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
