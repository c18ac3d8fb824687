/* Unit tests for a vif's entry in netd's state file (netd/vif_json.c): what
 * a vif is (PV vif or an HVM guest's emulated NIC's tap) survives the round
 * trip as data, whatever its name; entries written before the type was
 * recorded are still read, by name as netd then did. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "lib/err.h"
#include "netd/vif_json.h"

static void round_trip(uint32_t domid, const char *ifname, bool emu)
{
	struct vif v, back;
	json_t *j;

	vif_init(&v, domid, 0);
	snprintf(v.ifname, sizeof(v.ifname), "%s", ifname);
	v.emu = emu;
	j = vif_to_json(&v);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "type_if")), emu ? "tap" : "vif");
	if (vif_from_json(j, &back))
		fail_msg("%s: %s", ifname, err_msg());
	assert_string_equal(back.ifname, ifname);
	if (back.emu != emu)
		fail_msg("%s: read back as %s", ifname, back.emu ? "a tap" : "a PV vif");
	json_decref(j);
}

static void test_type_round_trip(void **state)
{
	round_trip(5, "vif5.0", false);
	round_trip(5, "vif5.0-emu", true);
	/* A PV vif whose vifname ends in -emu, a tap renamed without it. */
	round_trip(5, "web-emu", false);
	round_trip(5, "vif5.0-emu", false);
	round_trip(5, "web", true);
}

/* rate_in is kept: a netd adopting the vif shapes it again */
static void test_rate_in_round_trip(void **state)
{
	struct vif v, back;
	json_t *j;

	vif_init(&v, 5, 0);
	assert_int_equal(vif_set(&v, "rate_in", "10Mb/s@20ms"), 0);
	j = vif_to_json(&v);
	assert_string_equal(json_string_value(json_object_get(j, "rate_in")), "25000,20000");
	assert_int_equal(vif_from_json(j, &back), 0);
	assert_int_equal(back.rate_in.bytes_per_interval, 25000);
	assert_int_equal(back.rate_in.interval_usecs, 20000);
	json_decref(j);
	vif_init(&v, 5, 0);
	j = vif_to_json(&v);
	assert_null(json_object_get(j, "rate_in"));
	json_decref(j);
}

static void from_text(const char *text, int want_rc, bool want_emu)
{
	json_error_t e;
	json_t *j = json_loads(text, 0, &e);
	struct vif v;
	int rc;

	assert_non_null(j);
	rc = vif_from_json(j, &v);
	if ((rc == 0) != (want_rc == 0))
		fail_msg("%s: rc %d (%s)", text, rc, rc ? err_msg() : "");
	if (rc == 0 && v.emu != want_emu)
		fail_msg("%s: read as %s", text, v.emu ? "a tap" : "a PV vif");
	json_decref(j);
}

static void test_old_and_bad_entries(void **state)
{
	/* Before the type was recorded: a tap was known by its name. */
	from_text("{\"id\":\"5.0\",\"vifname\":\"vif5.0\"}", 0, false);
	from_text("{\"id\":\"5.0\",\"vifname\":\"vif5.0-emu\"}", 0, true);
	from_text("{\"id\":\"5.0\",\"vifname\":\"web-emu\"}", 0, true);
	from_text("{\"id\":\"5.0\",\"vifname\":\"web-emu\",\"type_if\":\"vif\"}", 0, false);
	from_text("{\"id\":\"5.0\",\"vifname\":\"web\",\"type_if\":\"tap\"}", 0, true);
	from_text("{\"id\":\"5.0\",\"vifname\":\"web\",\"type_if\":\"ioemu\"}", -EINVAL, false);
	assert_non_null(strstr(err_msg(), "type_if"));
	from_text("{\"id\":\"5.0\",\"vifname\":\"web\",\"type_if\":1}", -EINVAL, false);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_type_round_trip),
		cmocka_unit_test(test_rate_in_round_trip),
		cmocka_unit_test(test_old_and_bad_entries),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
