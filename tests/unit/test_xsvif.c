/* Unit tests for vif/xsvif.c without a xenstore: the backend path parsers
 * (XENBUS_PATH from the environment, watch event paths from xenstored) and
 * the turning of backend keys into netd's vif-online args. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "vif/xsvif.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static void test_dir_parse(void **state)
{
	static const struct {
		const char *dir;
		uint32_t domid, devid;
	} good[] = {
		{ "backend/vif/5/0", 5, 0 },
		{ "backend/vif/5/0/", 5, 0 },
		{ "/local/domain/0/backend/vif/32751/65535", 32751, 65535 },
		{ "/local/domain/7/backend/vif/1/2", 1, 2 }, /* a driver domain */
	};
	static const char *const bad[] = {
		"", "backend/vif/5", "backend/vif/5/", "backend/vbd/5/0", "backend/vif/05/0",
		"backend/vif/5/00", "backend/vif/-5/0", "backend/vif/5/0/mac", "backend/vif/32752/0",
		"backend/vif/5/65536", "/local/domain/x/backend/vif/5/0", "local/domain/0/backend/vif/5/0",
		"backend/vif/5//0", "backend/vif/ 5/0", "backend/vif/5/0x1",
		"backend/vif/99999999999/0",
	};
	uint32_t d, n;

	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		assert_int_equal(xsvif_dir_parse(good[i].dir, &d, &n), 0);
		assert_int_equal(d, good[i].domid);
		assert_int_equal(n, good[i].devid);
	}
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		assert_int_equal(xsvif_dir_parse(bad[i], &d, &n), -EINVAL);
		assert_non_null(strstr(err_msg(), "is not backend/vif/DOMID/DEVID"));
	}
	assert_int_equal(xsvif_dir_parse(NULL, &d, &n), -EINVAL);
	assert_non_null(strstr(err_msg(), "XENBUS_PATH is not set"));
}

static void test_path_depth(void **state)
{
	static const struct {
		const char *path;
		int depth;
		uint32_t domid, devid;
	} cases[] = {
		{ XSVIF_ROOT, 0, 0, 0 },
		{ XSVIF_ROOT "/5", 1, 5, 0 },
		{ XSVIF_ROOT "/5/0", 2, 5, 0 },
		{ XSVIF_ROOT "/5/3/hotplug-status", 2, 5, 3 },
		{ XSVIF_ROOT "/5/3/a/b", 2, 5, 3 },
		{ XSVIF_ROOT "x", -1, 0, 0 },
		{ XSVIF_ROOT "/x", -1, 0, 0 },
		{ XSVIF_ROOT "/5/x", -1, 0, 0 },
		{ XSVIF_ROOT "/05/0", -1, 0, 0 },
		{ XSVIF_ROOT "/5/", -1, 0, 0 },
		{ "/local/domain/0/backend/vbd/5/0", -1, 0, 0 },
		{ "/local/domain/0/backend", -1, 0, 0 },
		{ "", -1, 0, 0 },
	};
	uint32_t d, n;

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		d = n = 0;
		assert_int_equal(xsvif_path_depth(cases[i].path, &d, &n), cases[i].depth);
		if (cases[i].depth >= 1)
			assert_int_equal(d, cases[i].domid);
		if (cases[i].depth == 2)
			assert_int_equal(n, cases[i].devid);
	}
	assert_int_equal(xsvif_path_depth(NULL, &d, &n), -1);
}

/* A backend directory as libxl writes it for vif 5.0. */
static void fill(struct xsvif *x)
{
	memset(x, 0, sizeof(*x));
	x->domid = 5;
	x->devid = 0;
	x->exists = true;
	strcpy(x->dir, "backend/vif/5/0");
	x->val[XK_FRONTEND_ID] = strdup("5");
	x->val[XK_HANDLE] = strdup("0");
	x->val[XK_ONLINE] = strdup("1");
	x->val[XK_HOTPLUG_STATUS] = strdup("");
	x->val[XK_SCRIPT] = strdup("/etc/xen/scripts/vif-route");
	x->val[XK_TYPE] = strdup("vif");
	x->val[XK_MAC] = strdup("00:16:3e:00:00:05");
	x->val[XK_BRIDGE] = strdup("xenbr0");
}

static void set(struct xsvif *x, enum xsvif_key k, const char *v)
{
	free(x->val[k]);
	x->val[k] = v ? strdup(v) : NULL;
}

static void test_args(void **state)
{
	struct xsvif x;
	struct vif v;
	json_t *args, *defaults;

	fill(&x);
	assert_true(xsvif_is_online(&x));
	assert_true(xsvif_wants_plug(&x));
	assert_string_equal(xsvif_script_mode(x.val[XK_SCRIPT]), "route");
	assert_string_equal(xsvif_script_mode("vif-nat"), "nat");
	assert_null(xsvif_script_mode("/etc/xen/scripts/vif-bridge"));
	assert_null(xsvif_script_mode("/x/vif-routed"));
	assert_null(xsvif_script_mode(NULL));

	/* the command line's keys are defaults: the backend directory wins */
	defaults = json_pack("{s:s, s:s}", "bridge", "xenbr9", "mtu", "1400");
	assert_int_equal(xsvif_args(&x, defaults, &args, &v), 0);
	assert_string_equal(json_string_value(json_object_get(args, "bridge")), "xenbr0");
	assert_string_equal(json_string_value(json_object_get(args, "mtu")), "1400");
	assert_string_equal(json_string_value(json_object_get(args, "mac")), "00:16:3e:00:00:05");
	/* identity and bookkeeping keys are checked, not passed on */
	assert_null(json_object_get(args, "handle"));
	assert_null(json_object_get(args, "frontend-id"));
	assert_null(json_object_get(args, "online"));
	assert_null(json_object_get(args, "hotplug-status"));
	assert_int_equal(v.mtu, 1400);
	assert_string_equal(v.ifname, "vif5.0");
	json_decref(args);
	json_decref(defaults);

	set(&x, XK_VIFNAME, "web5");
	set(&x, XK_IP, "192.0.2.5 2001:db8::5");
	assert_int_equal(xsvif_args(&x, NULL, &args, &v), 0);
	assert_string_equal(v.ifname, "web5");
	assert_int_equal(v.n_ips, 2);
	json_decref(args);

	/* every bad value is refused with the key and value named */
	set(&x, XK_MTU, "9x");
	assert_int_equal(xsvif_args(&x, NULL, &args, &v), -EINVAL);
	assert_string_equal(err_msg(), "vif5.0: mtu: '9x': not a decimal number");
	set(&x, XK_MTU, NULL);
	set(&x, XK_HANDLE, "1");
	assert_int_equal(xsvif_args(&x, NULL, &args, &v), -EINVAL);
	assert_non_null(strstr(err_msg(), "handle: '1': does not match devid 0"));
	set(&x, XK_HANDLE, NULL);
	assert_int_equal(xsvif_args(&x, NULL, &args, &v), -EINVAL);
	assert_string_equal(err_msg(), "vif5.0: missing key 'handle' in backend/vif/5/0");
	set(&x, XK_HANDLE, "0");
	set(&x, XK_VIFNAME, "a\nb");
	assert_int_equal(xsvif_args(&x, NULL, &args, &v), -EINVAL);
	assert_non_null(strstr(err_msg(), "vifname: 'a\\x0ab'"));
	/* another vif's interface name: the plug would take over its place */
	set(&x, XK_VIFNAME, "vif7.0");
	assert_int_equal(xsvif_args(&x, NULL, &args, &v), -EINVAL);
	assert_string_equal(err_msg(), "vif5.0: vifname: 'vif7.0': the name of vif 7.0's "
				       "interface, not this vif's (vif5.0)");
	set(&x, XK_VIFNAME, "vif5.0-emu");
	assert_int_equal(xsvif_args(&x, NULL, &args, &v), 0);
	json_decref(args);
	set(&x, XK_VIFNAME, NULL);
	/* what the parser lets through must still be sendable as JSON */
	set(&x, XK_SCRIPT, "/etc/xen/scripts/vif-\xff");
	assert_int_equal(xsvif_args(&x, NULL, &args, &v), -EINVAL);
	assert_string_equal(err_msg(), "vif5.0: script: not valid UTF-8");
	set(&x, XK_SCRIPT, "/etc/xen/scripts/vif-bridge");

	/* what decides a plug in no-fork mode: answered when bad, never ignored */
	assert_int_equal(xsvif_check_control(&x), 0);
	set(&x, XK_ONLINE, "2");
	assert_int_equal(xsvif_check_control(&x), -EINVAL);
	assert_string_equal(err_msg(), "vif5.0: online: '2': expected '0' or '1'");
	set(&x, XK_ONLINE, "1 ");
	assert_int_equal(xsvif_check_control(&x), -EINVAL);
	assert_string_equal(err_msg(), "vif5.0: online: '1 ': expected '0' or '1'");
	set(&x, XK_ONLINE, "\n");
	assert_int_equal(xsvif_check_control(&x), -EINVAL);
	assert_string_equal(err_msg(), "vif5.0: online: '\\x0a': expected '0' or '1'");
	set(&x, XK_ONLINE, "0");
	assert_int_equal(xsvif_check_control(&x), 0);
	set(&x, XK_ONLINE, NULL);
	assert_int_equal(xsvif_check_control(&x), 0);
	set(&x, XK_ONLINE, "1");
	set(&x, XK_SCRIPT, "");
	assert_int_equal(xsvif_check_control(&x), -EINVAL);
	assert_string_equal(err_msg(), "vif5.0: script: empty, expected the hotplug script's path");
	set(&x, XK_SCRIPT, "/etc/xen/scripts/vif-bridge");

	/* answered already, or going away: no plug */
	set(&x, XK_HOTPLUG_STATUS, "connected");
	assert_false(xsvif_wants_plug(&x));
	set(&x, XK_HOTPLUG_STATUS, NULL);
	assert_true(xsvif_wants_plug(&x));
	set(&x, XK_ONLINE, "0");
	assert_false(xsvif_is_online(&x));
	assert_false(xsvif_wants_plug(&x));
	xsvif_free(&x);
	assert_false(x.exists);
	assert_int_equal(xsvif_args(&x, NULL, &args, &v), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dir_parse),
		cmocka_unit_test(test_path_depth),
		cmocka_unit_test(test_args),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
