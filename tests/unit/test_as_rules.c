/* antispoof/antispoof.c: the fixed ruleset as written to libnftables has
 * one block per table (rules_flat): the rules of the second block of each
 * table go as `add rule` commands, every one of them, in order; a text it
 * does not read that way is written as it is. (That both forms make the
 * same ruleset is nft's to say: bench/antispoof and the integration tests
 * load it.) */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "antispoof/antispoof.c"

static unsigned count(const char *s, const char *what)
{
	unsigned n = 0;

	for (; (s = strstr(s, what)); s++)
		n++;
	return n;
}

static void check_family(enum as_family fam, unsigned tables, const char *last_of_check)
{
	const char *text = fam_rules(fam);
	struct as_buf b = { 0 };
	unsigned rules = count(text, "\n\t\t");

	assert_true(rules_flat(&b, text));
	assert_false(b.oom);
	/* each table opened once (the original opens each twice) */
	assert_int_equal(count(text, "\ntable ") + (strncmp(text, "table ", 6) == 0), 2 * tables);
	assert_int_equal(count(b.s, "\ntable ") + (strncmp(b.s, "table ", 6) == 0), tables);
	/* every rule, none left in a block, the flushes before them */
	assert_int_equal(count(b.s, "\nadd rule "), rules);
	assert_int_equal(count(b.s, "\n\t\t"), 0);
	assert_true(strstr(b.s, "flush chain") < strstr(b.s, "add rule "));
	assert_non_null(strstr(b.s, last_of_check));
	buf_free(&b);
}

static void test_each_table_in_one_block(void **state)
{
	(void)state;
	check_family(AS_FAM_BRIDGE, 1, "\nadd rule bridge netd_as check goto bad\n");
	/* inet and its arp companion */
	check_family(AS_FAM_INET, 2, "\nadd rule inet netd_as check goto as_ip6\n");
}

static void test_a_text_it_does_not_read_is_refused(void **state)
{
	static const char *const bad[] = {
		/* a set in the second block */
		"table bridge t {\n\tchain c { }\n}\ntable bridge t {\n\tset s { type ifname; }\n}\n",
		/* a block left open */
		"table bridge t {\n\tchain c { }\n}\ntable bridge t {\n\tchain c {\n\t\tdrop\n\t}\n",
		/* no newline at the end */
		"table bridge t {\n}",
	};
	struct as_buf b = { 0 };

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_false(rules_flat(&b, bad[i]));
		buf_free(&b);
	}
	assert_true(rules_flat(&b, "table bridge t {\n\tchain c { }\n}\nflush chain bridge t c\n"
				   "table bridge t {\n\tchain c {\n\t\tdrop\n\t}\n}\n"));
	assert_string_equal(b.s, "table bridge t {\n\tchain c { }\n}\nflush chain bridge t c\n"
				 "add rule bridge t c drop\n");
	buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_each_table_in_one_block),
		cmocka_unit_test(test_a_text_it_does_not_read_is_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
