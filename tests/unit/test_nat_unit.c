/* Unit tests for how netd names and lays out a nat network's dnsmasq unit
 * (nat/unit.c, nat/dnsmasq.c): the instance is escaped exactly as
 * systemd-escape --template does (the template's %I must give the network's
 * name back), a name that is not a template is refused, and in unit mode the
 * pid and lease files move to dnsmasq's own directory in pubdir, which must
 * be where the shipped template looks. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "lib/err.h"
#include "nat/dnsmasq.h"
#include "nat/unit.h"

#define TMPL "netd-dnsmasq@.service"

static void instance_is(const char *inst, const char *want)
{
	char buf[NAT_UNIT_NAME_MAX];

	assert_int_equal(nat_unit_instance(buf, sizeof(buf), TMPL, inst), 0);
	assert_string_equal(buf, want);
}

/* The expected names are systemd-escape --template=netd-dnsmasq@.service's. */
static void test_instance_escaped_as_systemd_does(void **state)
{
	instance_is("virbr0", "netd-dnsmasq@virbr0.service");
	instance_is("br-lan", "netd-dnsmasq@br\\x2dlan.service");
	instance_is(".x", "netd-dnsmasq@\\x2ex.service");
	instance_is("a_b:c.d", "netd-dnsmasq@a_b:c.d.service");
	instance_is("n\\1", "netd-dnsmasq@n\\x5c1.service");
}

static void test_not_a_template_refused(void **state)
{
	char buf[NAT_UNIT_NAME_MAX];
	const char *bad[] = { "netd-dnsmasq.service", "@.service", "x@.socket", "x@y.service",
			      "x@.service.d" };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(nat_unit_instance(buf, sizeof(buf), bad[i], "virbr0"), -EINVAL);
		assert_non_null(strstr(err_msg(), "template"));
	}
	assert_int_equal(nat_unit_instance(buf, sizeof(buf), TMPL, ""), -EINVAL);
}

static void test_too_long_refused(void **state)
{
	char buf[40];

	/* 15 bytes of '-' become 60 */
	assert_int_equal(nat_unit_instance(buf, sizeof(buf), TMPL, "---------------"),
			 -ENAMETOOLONG);
}

static void test_unit_mode_files(void **state)
{
	struct netd_net_conf c;
	struct nat_dnsmasq d;

	memset(&c, 0, sizeof(c));
	assert_int_equal(nat_dnsmasq_init(&d, NULL, "virbr0", "/run/netd/virbr0",
					  "/run/netd-dnsmasq/virbr0", "root", TMPL, "virbr0", &c),
			 0);
	assert_string_equal(d.unit, "netd-dnsmasq@virbr0.service");
	assert_string_equal(d.owndir, "/run/netd-dnsmasq/virbr0/dnsmasq");
	assert_string_equal(d.pidfile, "/run/netd-dnsmasq/virbr0/dnsmasq/dnsmasq.pid");
	assert_string_equal(d.leasefile, "/run/netd-dnsmasq/virbr0/dnsmasq/dnsmasq.leases");
	assert_string_equal(d.argsfile, "/run/netd-dnsmasq/virbr0/dnsmasq.args");
	assert_string_equal(d.logfile, ""); /* the journal */
	assert_string_equal(d.hostsfile, "/run/netd-dnsmasq/virbr0/dhcp-hosts");

	/* the template reads /run/netd-dnsmasq/%I: a dnsmasq_dir elsewhere is refused */
	assert_int_equal(nat_dnsmasq_init(&d, NULL, "virbr0", "/run/netd/virbr0",
					  "/srv/dm/virbr0", "root", TMPL, "virbr0", &c),
			 -EINVAL);
	assert_string_equal(err_msg(), "virbr0: " TMPL " runs dnsmasq from /run/netd-dnsmasq/<network>: "
				       "dnsmasq_dir must be /run/netd-dnsmasq");
}

static void test_fork_mode_files(void **state)
{
	struct netd_net_conf c;
	struct nat_dnsmasq d;

	memset(&c, 0, sizeof(c));
	assert_int_equal(nat_dnsmasq_init(&d, NULL, "virbr0", "/run/netd/virbr0", "/srv/dm/virbr0",
					  "root", NULL, "virbr0", &c),
			 0);
	assert_string_equal(d.unit, "");
	assert_string_equal(d.owndir, "");
	assert_string_equal(d.pidfile, "/run/netd/virbr0/dnsmasq.pid");
	assert_string_equal(d.leasefile, "/run/netd/virbr0/dnsmasq.leases");
	assert_string_equal(d.logfile, "/run/netd/virbr0/dnsmasq.log");
	assert_string_equal(d.hostsfile, "/srv/dm/virbr0/dhcp-hosts");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_instance_escaped_as_systemd_does),
		cmocka_unit_test(test_not_a_template_refused),
		cmocka_unit_test(test_too_long_refused),
		cmocka_unit_test(test_unit_mode_files),
		cmocka_unit_test(test_fork_mode_files),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
