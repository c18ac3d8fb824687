/* Unit tests for the vif model parser (vif/vif.c, rate.c, vlan.c).
 *
 * Table driven: every good case names what the vif looks like afterwards
 * (rendered as text by render()), every bad case a substring its error
 * message must contain. Rate and vlan tables include every example of
 * xl-network-configuration(5). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "vif/vif.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static unsigned n_cases;

/* The error path must have left a message naming the problem. */
static void expect_err(int rc, const char *what, const char *substr)
{
	n_cases++;
	if (rc == 0)
		fail_msg("%s: accepted, expected an error containing \"%s\"", what, substr);
	if (rc != -EINVAL && rc != -ENOSPC)
		fail_msg("%s: rc %d", what, rc);
	if (!strstr(err_msg(), substr))
		fail_msg("%s: error \"%s\" lacks \"%s\"", what, err_msg(), substr);
	if (strchr(err_msg(), '\n'))
		fail_msg("%s: error \"%s\" contains a newline", what, err_msg());
}

static void expect_ok(int rc, const char *what)
{
	n_cases++;
	if (rc != 0)
		fail_msg("%s: rejected: %s", what, err_msg());
}

/* ---- vif_id_parse ---- */

static void test_id_parse(void **state)
{
	static const struct {
		const char *s;
		uint32_t domid, devid;
	} good[] = {
		{ "5.0", 5, 0 },
		{ "0.0", 0, 0 },
		{ "1.2", 1, 2 },
		{ "32751.65535", 32751, 65535 },
		{ "100.10", 100, 10 },
	};
	static const struct {
		const char *s, *err;
	} bad[] = {
		{ "5", "expected DOMID.DEVID" },
		{ "5.", "expected DOMID.DEVID" },
		{ ".0", "expected DOMID.DEVID" },
		{ "+5.0", "expected DOMID.DEVID" },
		{ "-5.0", "expected DOMID.DEVID" },
		{ "5.0 ", "expected DOMID.DEVID" },
		{ " 5.0", "expected DOMID.DEVID" },
		{ "05x.0", "expected DOMID.DEVID" },
		{ "05.0", "expected DOMID.DEVID" },
		{ "5.00", "expected DOMID.DEVID" },
		{ "5.0.1", "expected DOMID.DEVID" },
		{ "0x5.0", "expected DOMID.DEVID" },
		{ "", "expected DOMID.DEVID" },
		{ "a.b", "expected DOMID.DEVID" },
		{ "32752.0", "domain id out of range" },
		{ "32767.0", "domain id out of range" },
		{ "4294967296.0", "domain id out of range" },
		{ "99999999999999999999999.0", "domain id out of range" },
		{ "5.65536", "device id out of range" },
		{ "5.4294967296", "device id out of range" },
	};
	uint32_t d, n;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(good); i++) {
		d = n = 12345;
		expect_ok(vif_id_parse(good[i].s, &d, &n), good[i].s);
		assert_int_equal(d, good[i].domid);
		assert_int_equal(n, good[i].devid);
	}
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		d = n = 12345;
		expect_err(vif_id_parse(bad[i].s, &d, &n), bad[i].s, bad[i].err);
		assert_int_equal(d, 12345);
		assert_int_equal(n, 12345);
	}
	expect_err(vif_id_parse(NULL, &d, &n), "NULL", "missing");
}

static void test_init(void **state)
{
	struct vif v;

	memset(&v, 0xa5, sizeof(v));
	vif_init(&v, 5, 1);
	assert_int_equal(v.domid, 5);
	assert_int_equal(v.devid, 1);
	assert_string_equal(v.ifname, "vif5.1");
	assert_true(v.trusted);
	assert_false(v.has_mac);
	assert_false(v.type_ioemu);
	assert_string_equal(v.bridge, "");
	assert_string_equal(v.gatewaydev, "");
	assert_string_equal(v.script, "");
	assert_string_equal(v.model, "");
	assert_string_equal(v.backend, "");
	assert_string_equal(v.vlan, "");
	assert_int_equal(v.mtu, 0);
	assert_int_equal(v.n_ips, 0);
	assert_int_equal(v.rate.bytes_per_interval, 0);
	assert_int_equal(v.rate.interval_usecs, 0);
	vif_init(&v, VIF_DOMID_MAX, VIF_DEVID_MAX);
	assert_string_equal(v.ifname, "vif32751.65535");
}

/* ---- rate ---- */

struct rate_good {
	const char *s;
	uint64_t bytes;
	uint32_t usecs;
};

struct rate_bad {
	const char *s, *err;
};

/* Both spellings of a rate go through this: a good one gives exactly its
 * bytes and interval, a bad one its error and leaves the rate as it was. */
static void check_rate_parser(int (*parse)(const char *, struct vif_rate *),
			      const struct rate_good *good, size_t n_good,
			      const struct rate_bad *bad, size_t n_bad)
{
	struct vif_rate r;
	size_t i;

	for (i = 0; i < n_good; i++) {
		memset(&r, 0, sizeof(r));
		expect_ok(parse(good[i].s, &r), good[i].s);
		if (r.bytes_per_interval != good[i].bytes || r.interval_usecs != good[i].usecs)
			fail_msg("%s: got %llu,%u want %llu,%u", good[i].s,
				 (unsigned long long)r.bytes_per_interval, r.interval_usecs,
				 (unsigned long long)good[i].bytes, good[i].usecs);
	}
	for (i = 0; i < n_bad; i++) {
		r.bytes_per_interval = 7;
		r.interval_usecs = 7;
		expect_err(parse(bad[i].s, &r), bad[i].s, bad[i].err);
		assert_int_equal(r.bytes_per_interval, 7);
		assert_int_equal(r.interval_usecs, 7);
	}
	expect_err(parse(NULL, &r), "NULL", "missing");
}

static void test_rate_xl(void **state)
{
	static const struct rate_good good[] = {
		/* xl-network-configuration(5) */
		{ "10Mb/s", 62500, 50000 },
		{ "250KB/s", 12500, 50000 },
		{ "1MB/s@20ms", 20000, 20000 },
		/* units */
		{ "1GB/s", 50000000, 50000 },
		{ "1Gb/s", 6250000, 50000 },
		{ "1KB/s", 50, 50000 },
		{ "8Kb/s", 50, 50000 },
		{ "1000B/s", 50, 50000 },
		{ "20B/s@1s", 20, 1000000 },
		{ "20B/s@1", 20, 1000000 }, /* xl: no unit means seconds */
		{ "100KB/s@100m", 10000, 100000 },
		{ "100KB/s@100ms", 10000, 100000 },
		{ "100KB/s@100u", 10, 100 },
		{ "100KB/s@100us", 10, 100 },
		{ "1B/s@1s", 1, 1000000 },
		{ "9b/s@1s", 1, 1000000 }, /* bits round down */
		{ "1MB/s@1us", 1, 1 },
		/* edges */
		{ "4294967295B/s", 214748364, 50000 },
		{ "4294967295B/s@4294967295us", 18446744065119ull, 4294967295u },
		{ "4294967295B/s@4294s", 18442589564730ull, 4294000000u },
		{ "4294967295GB/s@1us", 4294967295000ull, 1 },
		{ "4294967295Gb/s", 26843545593750000ull, 50000 },
		{ "4294967295GB/s@4294967us", 18446742798104265000ull, 4294967 },
	};
	static const struct rate_bad bad[] = {
		{ "", "expected N[GMK]" },
		{ "@20ms", "expected N[GMK]" },
		{ "10", "expected N[GMK]" },
		{ "10MB", "expected N[GMK]" },
		{ "10MB/", "expected N[GMK]" },
		{ "10MB/sec", "expected N[GMK]" },
		{ "10MB/s ", "expected N[GMK]" },
		{ " 10MB/s", "expected N[GMK]" },
		{ "10mb/s", "expected N[GMK]" },
		{ "10kB/s", "expected N[GMK]" },
		{ "10KiB/s", "expected N[GMK]" },
		{ "10TB/s", "expected N[GMK]" },
		{ "10GMB/s", "expected N[GMK]" },
		{ "+10MB/s", "expected N[GMK]" },
		{ "-10MB/s", "expected N[GMK]" },
		{ "0x10MB/s", "expected N[GMK]" },
		{ "1.5MB/s", "expected N[GMK]" },
		{ "10MB/s,50000", "expected N[GMK]" },
		{ "010MB/s", "leading zero" },
		{ "0B/s", "must be 1..4294967295" },
		{ "4294967296B/s", "must be 1..4294967295" },
		{ "99999999999999999999999B/s", "must be 1..4294967295" },
		{ "1b/s", "less than one byte per second" },
		{ "7b/s", "less than one byte per second" },
		{ "8b/s", "less than one byte per interval" },
		{ "1B/s@1ms", "less than one byte per interval" },
		{ "1MB/s@", "no interval after '@'" },
		{ "1MB/s@ms", "bad interval" },
		{ "1MB/s@0ms", "must be 1..4294967295" },
		{ "1MB/s@0", "must be 1..4294967295" },
		{ "1MB/s@020ms", "leading zero" },
		{ "1MB/s@20ns", "bad interval" },
		{ "1MB/s@20mss", "bad interval" },
		{ "1MB/s@20sm", "bad interval" },
		{ "1MB/s@20ms ", "bad interval" },
		{ "1MB/s@20ms@5", "bad interval" },
		{ "1MB/s@-20ms", "bad interval" },
		{ "1MB/s@4295s", "interval longer than" },
		{ "1MB/s@4294968ms", "interval longer than" },
		{ "1MB/s@4294967296us", "must be 1..4294967295" },
		{ "4294967295GB/s@4294968us", "overflow" },
		{ "4294967295GB/s@4294967295us", "overflow" },
	};

	check_rate_parser(vif_rate_parse_xl, good, ARRAY_SIZE(good), bad, ARRAY_SIZE(bad));
}

static void test_rate_xenstore(void **state)
{
	static const struct rate_good good[] = {
		{ "62500,50000", 62500, 50000 },
		{ "20000,20000", 20000, 20000 },
		{ "1,1", 1, 1 },
		{ "18446744073709551615,4294967295", UINT64_MAX, UINT32_MAX },
	};
	static const struct rate_bad bad[] = {
		{ "", "expected BYTES,USECS" },
		{ "62500", "expected BYTES,USECS" },
		{ ",50000", "expected BYTES,USECS" },
		{ "62500,", "expected BYTES,USECS" },
		{ "62500,50000,1", "expected BYTES,USECS" },
		{ " 62500,50000", "expected BYTES,USECS" },
		{ "62500, 50000", "expected BYTES,USECS" },
		{ "62500,50000\n", "expected BYTES,USECS" },
		{ "-1,50000", "expected BYTES,USECS" },
		{ "062500,50000", "expected BYTES,USECS" },
		{ "0x10,50000", "expected BYTES,USECS" },
		{ "18446744073709551616,1", "expected BYTES,USECS" },
		{ "1,4294967296", "expected BYTES,USECS" },
		{ "0,50000", "must be non-zero" },
		{ "62500,0", "must be non-zero" },
	};

	check_rate_parser(vif_rate_parse_xenstore, good, ARRAY_SIZE(good), bad, ARRAY_SIZE(bad));
}

/* vif_rate_parse: whichever of the two a value is spelt in */
static void test_rate_either(void **state)
{
	struct vif_rate r = { 7, 7 };

	expect_ok(vif_rate_parse("10Mb/s@20ms", &r), "xl");
	assert_int_equal(r.bytes_per_interval, 25000);
	assert_int_equal(r.interval_usecs, 20000);
	expect_ok(vif_rate_parse("62500,50000", &r), "xenstore");
	assert_int_equal(r.bytes_per_interval, 62500);
	assert_int_equal(r.interval_usecs, 50000);
	expect_err(vif_rate_parse("10Mb/s,5", &r), "both", "expected BYTES,USECS");
	expect_err(vif_rate_parse("fast", &r), "neither", "expected N[GMK]");
	expect_err(vif_rate_parse(NULL, &r), "NULL", "missing");
	assert_int_equal(r.bytes_per_interval, 62500);
}

static void test_rate_format(void **state)
{
	struct vif_rate r = { UINT64_MAX, UINT32_MAX }, back;
	char buf[VIF_RATE_STRLEN];

	expect_ok(vif_rate_format_xenstore(&r, buf, sizeof(buf)), "max");
	assert_string_equal(buf, "18446744073709551615,4294967295");
	expect_ok(vif_rate_parse_xenstore(buf, &back), buf);
	assert_memory_equal(&r, &back, sizeof(r));
	r.bytes_per_interval = 62500;
	r.interval_usecs = 50000;
	expect_ok(vif_rate_format_xenstore(&r, buf, 12), "exact fit");
	assert_string_equal(buf, "62500,50000");
	expect_err(vif_rate_format_xenstore(&r, buf, 11), "short", "too small");
	expect_err(vif_rate_format_xenstore(&r, buf, 0), "zero", "too small");
	r.bytes_per_interval = 0;
	expect_err(vif_rate_format_xenstore(&r, buf, sizeof(buf)), "unlimited", "unlimited");
}

/* rate_in: netd's own key, rate's grammar in both spellings; errors name it */
static void test_rate_in(void **state)
{
	struct vif v;

	vif_init(&v, 5, 0);
	assert_int_equal(v.rate_in.bytes_per_interval, 0);
	expect_ok(vif_set(&v, "rate_in", "10Mb/s@20ms"), "xl form");
	assert_int_equal(v.rate_in.bytes_per_interval, 25000);
	assert_int_equal(v.rate_in.interval_usecs, 20000);
	assert_int_equal(v.rate.bytes_per_interval, 0); /* rate= is another key */
	expect_ok(vif_set(&v, "rate_in", "62500,50000"), "xenstore form");
	assert_int_equal(v.rate_in.bytes_per_interval, 62500);
	expect_err(vif_set(&v, "rate_in", "fast"), "fast", "rate_in: 'fast': expected N[GMK]");
	expect_err(vif_set(&v, "rate_in", "0,50000"), "zero", "rate_in: '0,50000'");
	expect_err(vif_set(&v, "rate_in", "1b/s"), "tiny", "rate_in: '1b/s': less than one byte");
	expect_err(vif_set(&v, "rate_in", ""), "empty", "rate_in");
	/* a refused value leaves the old one */
	assert_int_equal(v.rate_in.bytes_per_interval, 62500);
	expect_ok(vif_parse_spec(&v, "mac=00:16:3e:00:00:05,rate=1Mb/s,rate_in=2Mb/s"), "spec");
	assert_int_equal(v.rate.bytes_per_interval, 6250);
	assert_int_equal(v.rate_in.bytes_per_interval, 12500);
}

/* ---- mac ---- */

static void test_mac(void **state)
{
	static const struct {
		const char *s, *fmt;
	} good[] = {
		{ "00:16:3e:12:34:56", "00:16:3e:12:34:56" },
		{ "00:16:3E:AB:cd:EF", "00:16:3e:ab:cd:ef" },
		{ "02:00:00:00:00:01", "02:00:00:00:00:01" },
		{ "fe:ff:ff:ff:ff:ff", "fe:ff:ff:ff:ff:ff" },
		{ "00:00:00:00:00:01", "00:00:00:00:00:01" },
	};
	static const struct {
		const char *s, *err;
	} bad[] = {
		{ "01:00:5e:00:00:01", "multicast" },
		{ "ff:ff:ff:ff:ff:ff", "multicast" },
		{ "33:33:00:00:00:01", "multicast" },
		{ "00:00:00:00:00:00", "all-zero" },
		{ "", "expected six hex byte pairs" },
		{ "0:16:3e:1:2:3", "expected six hex byte pairs" },
		{ "00-16-3e-12-34-56", "expected six hex byte pairs" },
		{ "00:16:3e:12:34", "expected six hex byte pairs" },
		{ "00:16:3e:12:34:56:78", "expected six hex byte pairs" },
		{ "00:16:3e:12:34:5g", "expected six hex byte pairs" },
		{ "00:16:3e:12:34:56 ", "expected six hex byte pairs" },
		{ " 0:16:3e:12:34:56", "expected six hex byte pairs" },
		{ "00:16:3e:12:34::6", "expected six hex byte pairs" },
		{ "0x:16:3e:12:34:56", "expected six hex byte pairs" },
		{ "00163e123456aaaaa", "expected six hex byte pairs" },
		{ "00:16:3e:12:34:56\n", "expected six hex byte pairs" },
	};
	uint8_t mac[6];
	char buf[VIF_MAC_STRLEN];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(good); i++) {
		expect_ok(vif_mac_parse(good[i].s, mac), good[i].s);
		expect_ok(vif_mac_format(mac, buf, sizeof(buf)), good[i].s);
		assert_string_equal(buf, good[i].fmt);
	}
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		memset(mac, 0x42, sizeof(mac));
		expect_err(vif_mac_parse(bad[i].s, mac), bad[i].s, bad[i].err);
		assert_int_equal(mac[0], 0x42);
	}
	expect_err(vif_mac_parse(NULL, mac), "NULL", "expected six");
	expect_err(vif_mac_format(mac, buf, sizeof(buf) - 1), "short", "too small");
}

/* ---- interface names ---- */

static void test_ifname(void **state)
{
	static const char *const good[] = {
		"xenbr0", "eth0", "eth0.100", "a", "br-lan", "br_ext", "vif1.0-emu",
		"abcdefghijklmno", /* 15 */
	};
	static const char *const bad[] = {
		"", "abcdefghijklmnop", ".", "..", "a/b", "a:b", "a b", "a\tb",
		"eth%d", "-x", "a\x01", "a\x7f", "\xc3\xa9th0", " eth0", "eth0\n",
		"a=b", "a,b", "a$b", "a;b", "a'b", "a\\b", "a@b",
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(good); i++) {
		n_cases++;
		if (!vif_ifname_is_valid(good[i]))
			fail_msg("'%s' should be valid", good[i]);
	}
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		n_cases++;
		if (vif_ifname_is_valid(bad[i]))
			fail_msg("'%s' should be invalid", bad[i]);
	}
	assert_false(vif_ifname_is_valid(NULL));
}

/* ---- ip lists ---- */

static void render_ips(const struct vif_ip *ips, unsigned n, char *out, size_t len)
{
	unsigned i;

	out[0] = '\0';
	for (i = 0; i < n; i++) {
		char a[INET6_ADDRSTRLEN];

		inet_ntop(ips[i].family, &ips[i].addr, a, sizeof(a));
		snprintf(out + strlen(out), len - strlen(out), "%s%s", i ? " " : "", a);
	}
}

static void test_ip_list(void **state)
{
	static const struct {
		const char *s, *want;
	} good[] = {
		{ "", "" },
		{ "   ", "" },
		{ "192.0.2.1", "192.0.2.1" },
		{ "192.0.2.1 2001:db8::1", "192.0.2.1 2001:db8::1" },
		{ "  192.0.2.1\t198.51.100.7  ", "192.0.2.1 198.51.100.7" },
		{ "192.0.2.1/32", "192.0.2.1" },
		{ "2001:db8::1/128 203.0.113.9/32", "2001:db8::1 203.0.113.9" },
		{ "192.0.2.1 192.0.2.1/32 192.0.2.2", "192.0.2.1 192.0.2.2" },
		{ "2001:DB8:0:0::1", "2001:db8::1" },
		{ "10.0.0.1", "10.0.0.1" },
		{ "1.0.0.1", "1.0.0.1" },
		{ "169.253.255.255 169.255.0.1", "169.253.255.255 169.255.0.1" },
		{ "223.255.255.254", "223.255.255.254" },
		{ "fec0::1 fe7f::1", "fec0::1 fe7f::1" },
		{ "::1:0:0:1", "::1:0:0:1" },
		{ "192.0.2.1 192.0.2.2 192.0.2.3 192.0.2.4 192.0.2.5 192.0.2.6 192.0.2.7 "
		  "192.0.2.8 192.0.2.9 192.0.2.10 192.0.2.11 192.0.2.12 192.0.2.13 "
		  "192.0.2.14 192.0.2.15 192.0.2.16 192.0.2.16",
		  "192.0.2.1 192.0.2.2 192.0.2.3 192.0.2.4 192.0.2.5 192.0.2.6 192.0.2.7 "
		  "192.0.2.8 192.0.2.9 192.0.2.10 192.0.2.11 192.0.2.12 192.0.2.13 "
		  "192.0.2.14 192.0.2.15 192.0.2.16" },
	};
	static const struct {
		const char *s, *err;
	} bad[] = {
		{ "192.0.2.0/24", "'192.0.2.0/24': only host addresses" },
		{ "2001:db8::/64", "only host addresses" },
		{ "192.0.2.1/128", "only host addresses" },
		{ "2001:db8::1/32", "only host addresses" },
		{ "192.0.2.1/032", "only host addresses" },
		{ "192.0.2.1/", "only host addresses" },
		{ "192.0.2.1/x", "only host addresses" },
		{ "192.0.2.256", "'192.0.2.256': not an IPv4 or IPv6 address" },
		{ "192.0.2", "not an IPv4 or IPv6 address" },
		{ "192.0.2.1.5", "not an IPv4 or IPv6 address" },
		{ "01.2.3.4", "not an IPv4 or IPv6 address" },
		{ "0x7f.0.0.1", "not an IPv4 or IPv6 address" },
		{ "fe80::1%eth0", "not an IPv4 or IPv6 address" },
		{ "192.0.2.1,192.0.2.2", "not an IPv4 or IPv6 address" },
		{ "192.0.2.1 bogus", "'bogus': not an IPv4" },
		{ "2001:db8::1::2", "not an IPv4 or IPv6 address" },
		{ "192.0.2.1\n192.0.2.2", "not an IPv4" },
		{ "0.0.0.0", "unspecified" },
		{ "127.0.0.1", "loopback" },
		{ "127.1.2.3", "loopback" },
		{ "224.0.0.1", "multicast" },
		{ "239.255.255.250", "multicast" },
		{ "255.255.255.255", "broadcast" },
		{ "0.1.2.3", "'0.1.2.3': 'this network' address" },
		{ "169.254.0.1", "'169.254.0.1': link-local address" },
		{ "192.0.2.1 169.254.255.254", "'169.254.255.254': link-local address" },
		{ "240.0.0.1", "'240.0.0.1': reserved address (240.0.0.0/4)" },
		{ "255.255.255.254", "reserved address" },
		{ "::", "unspecified" },
		{ "::1", "loopback" },
		{ "ff02::1", "multicast" },
		{ "fe80::1", "'fe80::1': link-local address (fe80::/10)" },
		{ "febf:ffff::1", "link-local address" },
		{ "::ffff:192.0.2.1", "'::ffff:192.0.2.1': IPv4-mapped address" },
		{ "::ffff:0.0.0.1/128", "IPv4-mapped address" },
		{ "::192.0.2.1", "IPv4-compatible address" },
		{ "192.0.2.1 192.0.2.2 192.0.2.3 192.0.2.4 192.0.2.5 192.0.2.6 192.0.2.7 "
		  "192.0.2.8 192.0.2.9 192.0.2.10 192.0.2.11 192.0.2.12 192.0.2.13 "
		  "192.0.2.14 192.0.2.15 192.0.2.16 192.0.2.17",
		  "'192.0.2.17': more than 16 addresses" },
	};
	struct vif_ip ips[VIF_MAX_IPS];
	char out[1024];
	unsigned n;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(good); i++) {
		n = 99;
		expect_ok(vif_ip_list_parse(good[i].s, ips, VIF_MAX_IPS, &n), good[i].s);
		render_ips(ips, n, out, sizeof(out));
		if (strcmp(out, good[i].want))
			fail_msg("'%s': got '%s' want '%s'", good[i].s, out, good[i].want);
	}
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		n = 99;
		expect_err(vif_ip_list_parse(bad[i].s, ips, VIF_MAX_IPS, &n), bad[i].s,
			   bad[i].err);
		assert_int_equal(n, 99);
	}
	expect_err(vif_ip_list_parse("192.0.2.1 192.0.2.2", ips, 1, &n), "max 1",
		   "more than 1 addresses");
	expect_err(vif_ip_list_parse(NULL, ips, 1, &n), "NULL", "missing");
}

/* ---- vlan ---- */

static void test_vlan(void **state)
{
	static const struct {
		const char *s, *norm;
		unsigned pvid, n;
		const char *tagged, *untagged, *absent; /* '/'-lists to spot-check */
	} good[] = {
		/* xl-network-configuration(5) */
		{ "10", "10p", 10, 1, "", "10", "9/11" },
		{ "10p/20", "10p/20", 10, 2, "20", "10", "" },
		{ "10p/100+10x4", "10p/100+10x4", 10, 6, "100/110/120/130/140", "10", "150" },
		/* vif-bridge's commit message */
		{ "1p/10-15/20-25u", "1p/10-15/20-25u", 1, 13, "10/12/15", "1/20/22/25", "16/19/26" },
		{ "5p/100+10x9", "5p/100+10x9", 5, 11, "100/190", "5", "200" },
		/* one VLAN in any spelling is the PVID */
		{ "10u", "10p", 10, 1, "", "10", "" },
		{ "10p", "10p", 10, 1, "", "10", "" },
		{ "10-10", "10p", 10, 1, "", "10", "" },
		{ "7+3x0u", "7p", 7, 1, "", "7", "10" },
		{ "4094", "4094p", 4094, 1, "", "4094", "" },
		{ "1", "1p", 1, 1, "", "1", "" },
		{ "", "", 0, 0, "", "", "1/10" },
		/* the PVID may come anywhere */
		{ "20/30u/10p", "20/30u/10p", 10, 3, "20", "10/30", "" },
		{ "1p/2-4094", "1p/2-4094", 1, 4094, "2/4094", "1", "" },
		{ "4094p/1+1x4092u", "4094p/1+1x4092u", 4094, 4094, "", "1/4093/4094", "" },
		{ "1p/2+4092x1", "1p/2+4092x1", 1, 3, "2/4094", "1", "3" },
		{ "1p/5+1x0", "1p/5+1x0", 1, 2, "5", "1", "6" },
	};
	static const struct {
		const char *s, *err;
	} bad[] = {
		{ "0", "'0': VLAN id out of range 1..4094" },
		{ "4095", "out of range 1..4094" },
		{ "99999999999999999999999", "out of range 1..4094" },
		{ "10/20", "one must be marked PVID" },
		{ "10-11", "one must be marked PVID" },
		{ "10+1x1", "one must be marked PVID" },
		{ "10p/20p", "more than one PVID (10 and 20)" },
		{ "10p/10", "VLAN 10 given more than once" },
		{ "10p/5-15", "VLAN 10 given more than once" },
		{ "1p/2+1x3/4", "VLAN 4 given more than once" },
		{ "1p/5+0x1", "step out of range" },
		{ "1p/5+4094x1", "step out of range" },
		{ "1p/5+1x4094", "count out of range 0..4093" },
		{ "1p/2+4092x2", "goes past VLAN 4094" },
		{ "1p/4000+100x2", "'4000+100x2': goes past VLAN 4094" },
		{ "1p/4094+1x2u", "goes past VLAN 4094" },
		{ "1p/20-10", "range ends below its start" },
		{ "1p/10-4095", "out of range 1..4094" },
		{ "10-20p", "expected N[p|u]" },
		{ "1p/10+1x2p", "expected N[p|u]" },
		{ "10pu", "expected N[p|u]" },
		{ "10x", "expected N[p|u]" },
		{ "p", "expected N[p|u]" },
		{ "abc", "expected N[p|u]" },
		{ "10 ", "expected N[p|u]" },
		{ " 10", "expected N[p|u]" },
		{ "10\n", "expected N[p|u]" },
		{ "1-", "expected N[p|u]" },
		{ "1+2", "expected N[p|u]" },
		{ "1+2x", "expected N[p|u]" },
		{ "1+x2", "expected N[p|u]" },
		{ "-1", "expected N[p|u]" },
		{ "+1", "expected N[p|u]" },
		{ "10,20", "expected N[p|u]" },
		{ "010", "leading zero" },
		{ "1p/10-020", "leading zero" },
		{ "10p//20", "empty term" },
		{ "/10", "empty term" },
		{ "10/", "empty term" },
		{ "/", "empty term" },
	};
	struct vif_vlan vl;
	char norm[128];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(good); i++) {
		const char *lists[3] = { good[i].tagged, good[i].untagged, good[i].absent };
		int l;

		expect_ok(vif_vlan_parse(good[i].s, &vl), good[i].s);
		assert_int_equal(vl.pvid, good[i].pvid);
		assert_int_equal(vl.n, good[i].n);
		for (l = 0; l < 3; l++) {
			const char *p = lists[l];

			while (*p) {
				char *end;
				unsigned vid = (unsigned)strtoul(p, &end, 10);
				bool member = vif_vlan_is_member(&vl, vid);
				bool untag = vif_vlan_is_untagged(&vl, vid);

				if ((l == 0 && (!member || untag)) || (l == 1 && !untag) ||
				    (l == 2 && member))
					fail_msg("%s: VLAN %u member %d untagged %d", good[i].s, vid,
						 member, untag);
				p = *end ? end + 1 : end;
			}
		}
		expect_ok(vif_vlan_normalise(good[i].s, norm, sizeof(norm)), good[i].s);
		assert_string_equal(norm, good[i].norm);
	}
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		vl.pvid = 77;
		expect_err(vif_vlan_parse(bad[i].s, &vl), bad[i].s, bad[i].err);
		assert_int_equal(vl.pvid, 77);
		expect_err(vif_vlan_normalise(bad[i].s, norm, sizeof(norm)), bad[i].s, bad[i].err);
	}
	assert_false(vif_vlan_is_member(&vl, 0));
	assert_false(vif_vlan_is_member(&vl, 4095));
	expect_err(vif_vlan_normalise("10p/20", norm, 6), "short", "longer than 5");
	expect_err(vif_vlan_normalise("10", norm, 3), "short implied", "too small");
	expect_err(vif_vlan_parse(NULL, &vl), "NULL", "missing");
}

/* ---- vif_set ---- */

/* What key changed, as text, so one table covers every key. */
static void render(const struct vif *v, const char *key, char *out, size_t len)
{
	if (!strcmp(key, "mac"))
		vif_mac_format(v->mac, out, len);
	else if (!strcmp(key, "bridge"))
		snprintf(out, len, "%s", v->bridge);
	else if (!strcmp(key, "gatewaydev") || !strcmp(key, "netdev"))
		snprintf(out, len, "%s", v->gatewaydev);
	else if (!strcmp(key, "type"))
		snprintf(out, len, "%s", v->type_ioemu ? "ioemu" : "vif");
	else if (!strcmp(key, "model"))
		snprintf(out, len, "%s", v->model);
	else if (!strcmp(key, "vifname"))
		snprintf(out, len, "%s", v->ifname);
	else if (!strcmp(key, "script"))
		snprintf(out, len, "%s", v->script);
	else if (!strcmp(key, "ip"))
		render_ips(v->ips, v->n_ips, out, len);
	else if (!strcmp(key, "backend"))
		snprintf(out, len, "%s", v->backend);
	else if (!strcmp(key, "rate"))
		snprintf(out, len, "%llu,%u", (unsigned long long)v->rate.bytes_per_interval,
			 v->rate.interval_usecs);
	else if (!strcmp(key, "devid"))
		snprintf(out, len, "%u %s", v->devid, v->ifname);
	else if (!strcmp(key, "mtu"))
		snprintf(out, len, "%u", v->mtu);
	else if (!strcmp(key, "vlan"))
		snprintf(out, len, "%s", v->vlan);
	else if (!strcmp(key, "trusted") || !strcmp(key, "untrusted"))
		snprintf(out, len, "%d", v->trusted);
	else
		snprintf(out, len, "-");
}

static const char long_script[] =
	"/etc/xen/scripts/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"; /* 255 */

/* A vif_set case as a spec would spell it, to name it in a failure. */
static void key_value(char *what, size_t len, const char *key, const char *value)
{
	snprintf(what, len, "%s=%.300s", key, value ? value : "(bare)");
}

static void test_set_good(void **state)
{
	static const struct {
		const char *key, *value, *want;
	} cases[] = {
		{ "mac", "00:16:3e:00:00:01", "00:16:3e:00:00:01" },
		{ "mac", "AA:BB:CC:DD:EE:FE", "aa:bb:cc:dd:ee:fe" },
		{ "bridge", "xenbr0", "xenbr0" },
		{ "bridge", "br-lan.100", "br-lan.100" },
		{ "bridge", "", "" },
		{ "gatewaydev", "eth0", "eth0" },
		{ "gatewaydev", "", "" },
		{ "netdev", "eth1", "eth1" },
		{ "type", "vif", "vif" },
		{ "type", "ioemu", "ioemu" },
		{ "type", "vif_ioemu", "ioemu" },
		{ "model", "e1000", "e1000" },
		{ "model", "rtl8139", "rtl8139" },
		{ "model", "virtio-net-pci", "virtio-net-pci" },
		{ "model", "abcdefghijklmnopqrstuvwxyz01234", "abcdefghijklmnopqrstuvwxyz01234" },
		{ "model", "", "" },
		{ "vifname", "web0", "web0" },
		{ "vifname", "abcdefghijklmno", "abcdefghijklmno" },
		{ "vifname", "", "vif5.0" },
		{ "script", "vif-bridge", "vif-bridge" },
		{ "script", "/etc/xen/scripts/vif-route", "/etc/xen/scripts/vif-route" },
		{ "script", "/opt/my scripts/vif", "/opt/my scripts/vif" },
		{ "script", long_script, long_script },
		{ "ip", "192.0.2.5", "192.0.2.5" },
		{ "ip", "192.0.2.5 2001:db8::5/128", "192.0.2.5 2001:db8::5" },
		{ "ip", "", "" },
		{ "backend", "0", "0" },
		{ "backend", "32751", "32751" },
		{ "backend", "driver-dom.1", "driver-dom.1" },
		{ "backend", "1net", "1net" },
		{ "backend", "", "" },
		{ "rate", "10Mb/s", "62500,50000" },
		{ "rate", "250KB/s", "12500,50000" },
		{ "rate", "1MB/s@20ms", "20000,20000" },
		{ "rate", "62500,50000", "62500,50000" },
		{ "rate", "18446744073709551615,1", "18446744073709551615,1" },
		{ "devid", "3", "3 vif5.3" },
		{ "devid", "0", "0 vif5.0" },
		{ "devid", "65535", "65535 vif5.65535" },
		{ "mtu", "1500", "1500" },
		{ "mtu", "68", "68" },
		{ "mtu", "9000", "9000" },
		{ "mtu", "65535", "65535" },
		{ "vlan", "10", "10p" },
		{ "vlan", "10p/20", "10p/20" },
		{ "vlan", "10p/100+10x4", "10p/100+10x4" },
		{ "vlan", "", "" },
		{ "trusted", NULL, "1" },
		{ "trusted", "1", "1" },
		{ "trusted", "0", "0" },
		{ "untrusted", NULL, "0" },
		{ "untrusted", "1", "0" },
		{ "untrusted", "0", "1" },
		/* accepted and ignored */
		{ "accel", "whatever", "-" },
		{ "forwarddev", "eth9", "-" },
		{ "colo_sock_mirror_id", "x", "-" },
		{ "frontend", "/local/domain/5/device/vif/0", "-" },
		{ "frontend-id", "5", "-" },
		{ "handle", "0", "-" },
		{ "online", "1", "-" },
		{ "state", "2", "-" },
		{ "hotplug-status", "", "-" },
		{ "hotplug-status", "connected", "-" },
		{ "hotplug-error", "something failed", "-" },
		{ "feature-sg", "1", "-" },
		{ "feature-rx-copy", "1", "-" },
		{ "multi-queue-max-queues", "4", "-" },
	};
	char out[512];
	struct vif v;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		char what[400];

		key_value(what, sizeof(what), cases[i].key, cases[i].value);
		vif_init(&v, 5, 0);
		if (!strcmp(cases[i].key, "trusted"))
			v.trusted = !strcmp(cases[i].want, "0");
		expect_ok(vif_set(&v, cases[i].key, cases[i].value), what);
		render(&v, cases[i].key, out, sizeof(out));
		if (strcmp(out, cases[i].want))
			fail_msg("%s: got '%s' want '%s'", what, out, cases[i].want);
	}
}

static void test_set_bad(void **state)
{
	static const struct {
		const char *key, *value, *err;
	} cases[] = {
		{ "foo", "1", "unrecognized argument 'foo'" },
		{ "MAC", "00:16:3e:00:00:01", "unrecognized argument 'MAC'" },
		{ "gatewayip", "192.0.2.1", "unrecognized argument 'gatewayip'" },
		{ "feature-", "1", "unrecognized argument 'feature-'" },
		{ "colo_", "1", "unrecognized argument 'colo_'" },
		{ "", "1", "unrecognized argument ''" },
		{ "foo", NULL, "unrecognized argument 'foo'" },
		{ "mac", NULL, "mac: missing value" },
		{ "bridge", NULL, "bridge: missing value" },
		{ "mac", "01:00:5e:00:00:01", "mac: '01:00:5e:00:00:01': multicast" },
		{ "mac", "", "mac: '': expected" },
		{ "bridge", "xenbr0/1", "bridge: 'xenbr0/1': not a valid interface name" },
		/* vif-openvswitch's BR.TAG:TRUNK: the VLANs are checked too */
		{ "bridge", "xenbr0:1:x", "bridge: VLANs ':1:x': expected .TAG[:TRUNK]..." },
		{ "bridge", "xenbr0.4096:1", "bridge: VLANs '.4096:1'" },
		{ "bridge", "a/b.1:2", "not a valid interface name" },
		{ "bridge", "abcdefghijklmnop", "bridge: 'abcdefghijklmnop': longer than 15" },
		{ "bridge", "br0 ", "not a valid interface name" },
		{ "bridge", "..", "not a valid interface name" },
		{ "gatewaydev", "eth/0", "gatewaydev: 'eth/0'" },
		{ "netdev", "eth 0", "netdev: 'eth 0'" },
		{ "vifname", "vif%d", "vifname: 'vif%d'" },
		{ "vifname", "-web", "not a valid interface name" },
		{ "type", "IOEMU", "type: 'IOEMU': expected 'vif' or 'ioemu'" },
		{ "type", "", "type: '': expected" },
		{ "model", "e1000,netdev=x", "model: 'e1000,netdev=x': not a device model" },
		{ "model", "e1000 ", "not a device model" },
		{ "model", "abcdefghijklmnopqrstuvwxyz012345", "longer than 31" },
		{ "script", "/etc/xen/scripts/vif\n-bridge", "control character" },
		{ "script", "vif\x1b[0m", "control character" },
		{ "ip", "192.0.2.0/24", "ip: '192.0.2.0/24': only host" },
		{ "ip", "localhost", "ip: 'localhost': not an IPv4" },
		{ "backend", "32752", "backend: '32752': not a domain id" },
		{ "backend", "007", "not a domain id" },
		{ "backend", "dom 1", "not a domain id" },
		{ "backend", "-dom", "not a domain id" },
		{ "backend", "a/b", "not a domain id" },
		{ "backend", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
		  "longer than 63" },
		{ "rate", "10Mb", "rate: '10Mb': expected" },
		{ "rate", "", "rate: '': expected" },
		{ "rate", "0,1", "rate: '0,1': bytes and interval must be non-zero" },
		{ "rate", "1,2,3", "expected BYTES,USECS" },
		{ "devid", "65536", "devid: '65536': out of range 0..65535" },
		{ "devid", "-1", "devid: '-1': not a decimal number" },
		{ "devid", "", "devid: '': not a decimal number" },
		{ "devid", "01", "not a decimal number" },
		{ "mtu", "67", "mtu: '67': out of range 68..65535" },
		{ "mtu", "0", "out of range 68..65535" },
		{ "mtu", "65536", "out of range 68..65535" },
		{ "mtu", "18446744073709551616", "out of range 68..65535" },
		{ "mtu", "1500 ", "mtu: '1500 ': not a decimal number" },
		{ "mtu", "0x5dc", "not a decimal number" },
		{ "mtu", "+1500", "not a decimal number" },
		{ "vlan", "10/20", "vlan: '10/20': more than one VLAN" },
		{ "vlan", "4095", "out of range 1..4094" },
		{ "vlan",
		  "1p/2/3/4/5/6/7/8/9/10/11/12/13/14/15/16/17/18/19/20/21/22/23/24/25/26/27/28/29/30/"
		  "31/32/33/34/35/36/37/38/39/40/41/42/43/44/45/46/47",
		  "longer than 127" },
		{ "trusted", "yes", "trusted: 'yes': expected '1' or '0'" },
		{ "trusted", "", "trusted: '': expected" },
		{ "untrusted", "true", "untrusted: 'true'" },
		{ "handle", "1", "handle: '1': does not match devid 0" },
		{ "handle", "x", "handle: 'x': not a decimal number" },
		{ "frontend-id", "6", "frontend-id: '6': does not match domid 5" },
		{ "frontend-id", "99999", "out of range 0..32751" },
		{ "accel", NULL, "accel: missing value" },
	};
	struct vif v, before;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		char what[400];

		key_value(what, sizeof(what), cases[i].key, cases[i].value);
		vif_init(&v, 5, 0);
		/* give every field a value a failed set must not disturb */
		assert_int_equal(vif_parse_spec(&v, "mac=00:16:3e:00:00:09,bridge=br9,ip=192.0.2.9,"
						"rate=1MB/s,mtu=1400,vlan=9,model=e1000,"
						"script=s,backend=1,untrusted,gatewaydev=g9"),
				 0);
		memcpy(&before, &v, sizeof(v));
		expect_err(vif_set(&v, cases[i].key, cases[i].value), what, cases[i].err);
		if (memcmp(&before, &v, sizeof(v)))
			fail_msg("%s: failed set changed the vif", what);
	}
	expect_err(vif_set(&v, NULL, "x"), "NULL key", "missing key");
}

/* devid renames only a vif that still has its default name. */
static void test_set_devid_name(void **state)
{
	struct vif v;

	vif_init(&v, 7, 0);
	assert_int_equal(vif_set(&v, "devid", "2"), 0);
	assert_string_equal(v.ifname, "vif7.2");
	assert_int_equal(vif_set(&v, "vifname", "guest0"), 0);
	assert_int_equal(vif_set(&v, "devid", "4"), 0);
	assert_int_equal(v.devid, 4);
	assert_string_equal(v.ifname, "guest0");
	assert_int_equal(vif_set(&v, "vifname", ""), 0);
	assert_string_equal(v.ifname, "vif7.4");
	assert_int_equal(vif_set(&v, "handle", "4"), 0);
	assert_int_not_equal(vif_set(&v, "handle", "2"), 0);
	n_cases += 8;
}

/* Error text is quoted safely: no control bytes, bounded length. */
static void test_error_quoting(void **state)
{
	char big[5000];
	struct vif v;

	vif_init(&v, 1, 0);
	expect_err(vif_set(&v, "bridge", "a\nb\x1b"), "ctl", "'a\\x0ab\\x1b'");
	expect_err(vif_set(&v, "no\nkey", "1"), "ctl key", "unrecognized argument 'no\\x0akey'");
	expect_err(vif_set(&v, "model", "a\\b"), "backslash", "'a\\x5cb'");
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	expect_err(vif_set(&v, "mac", big), "big", "xxx...'");
	assert_true(strlen(err_msg()) < 200);
	expect_err(vif_set(&v, "ip", big), "big ip", "not an IPv4");
	expect_err(vif_set(&v, "vlan", big), "big vlan", "longer than 127");
	big[40] = '\0';
	expect_err(vif_set(&v, "rate", big), "40 x", "rate: 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'");
}

/* ---- vif_check ---- */

static void test_check_name(void **state)
{
	static const struct {
		const char *name, *err; /* err NULL: fine for vif 5.0 */
	} cases[] = {
		{ "vif5.0", NULL },
		{ "vif5.0-emu", NULL },
		{ "web", NULL },
		{ "web-emu", NULL },
		{ "vif5", NULL },
		{ "vif5.0x", NULL },
		{ "vif5.0-emux", NULL },
		{ "vifa.0", NULL },
		{ "vif7.0", "vifname: 'vif7.0': the name of vif 7.0's interface, not this vif's (vif5.0)" },
		{ "vif5.1", "the name of vif 5.1's interface" },
		{ "vif0.0", "the name of vif 0.0's interface" },
		{ "vif7.0-emu", "the name of vif 7.0's interface" },
		{ "vif32751.65535", "the name of vif 32751.65535's interface" },
		{ "vif05.0", "'vif05.0': reserved for the backends' own vif names" },
		{ "vif9999999999.0", "reserved for the backends' own vif names" },
	};
	struct vif v;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		vif_init(&v, 5, 0);
		expect_ok(vif_set(&v, "vifname", cases[i].name), cases[i].name);
		if (cases[i].err)
			expect_err(vif_check(&v), cases[i].name, cases[i].err);
		else
			expect_ok(vif_check(&v), cases[i].name);
	}
	/* the whole spec decides, whatever the order of its keys */
	vif_init(&v, 5, 0);
	expect_ok(vif_parse_spec(&v, "devid=1,vifname=vif5.1"), "devid then vifname");
	vif_init(&v, 5, 0);
	expect_err(vif_parse_spec(&v, "vifname=vif5.1,devid=2"), "vifname then devid",
		   "the name of vif 5.1's interface, not this vif's (vif5.2)");
}

/* ---- netd's mark on a vif it renamed (vif/rename.c) ---- */

static void test_renamed_from(void **state)
{
	static const struct {
		const char *alias, *backend; /* backend NULL: not netd's mark */
	} cases[] = {
		{ "netd: renamed from vif5.0", "vif5.0" },
		{ "netd: renamed from vif5.0-emu", "vif5.0-emu" },
		{ "netd: renamed from vif32751.65535", "vif32751.65535" },
		{ "", NULL },
		{ "vif5.0", NULL },
		{ "vif8.0 uplink", NULL },
		{ "netd: renamed from ", NULL },
		{ "netd: renamed from web0", NULL },
		{ "netd: renamed from vif0.0", NULL }, /* Dom0's own (classic style) */
		{ "netd: renamed from vif05.0", NULL },
		{ "netd: renamed from vif5.0 ", NULL },
		{ "netd: renamed from vif5.0-emux", NULL },
		{ "netd: renamed from vif5.0x", NULL },
		{ "netd: renamed from vif4294967296.0", NULL },
		{ "netd: renamed from vif1234567890.123456", NULL }, /* longer than a name */
		{ "NETD: renamed from vif5.0", NULL },
		{ " netd: renamed from vif5.0", NULL },
	};
	char back[IFNAMSIZ];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		bool got;

		n_cases++;
		memset(back, 'x', sizeof(back));
		got = vif_renamed_from(cases[i].alias, back);
		if (got != (cases[i].backend != NULL))
			fail_msg("'%s': %s", cases[i].alias, got ? "taken for netd's" : "not netd's");
		if (got)
			assert_string_equal(back, cases[i].backend);
	}
	assert_true(vif_is_backend_name("vif1.0"));
	assert_true(vif_is_backend_name("vif1.0-emu"));
	assert_false(vif_is_backend_name("vif0.0"));
	assert_false(vif_is_backend_name("vif1.00"));
	assert_false(vif_is_backend_name("web1"));
}

/* ---- vif_parse_spec ---- */

static void test_spec_good(void **state)
{
	struct vif v;
	char buf[256];

	vif_init(&v, 3, 1);
	expect_ok(vif_parse_spec(&v, ""), "empty");
	expect_ok(vif_parse_spec(&v, " , ,,"), "only separators");
	assert_string_equal(v.ifname, "vif3.1");

	expect_ok(vif_parse_spec(&v, "mac=00:16:3e:5a:00:01, bridge=xenbr1,ip=192.0.2.5 "
				     "2001:db8::5,rate=10Mb/s@20ms ,vlan=10p/20,mtu=9000,"
				     "type=ioemu,model=e1000,vifname=web0,script=vif-route,"
				     "gatewaydev=eth0,backend=0,untrusted,accel=x,"),
		  "full");
	vif_mac_format(v.mac, buf, sizeof(buf));
	assert_string_equal(buf, "00:16:3e:5a:00:01");
	assert_true(v.has_mac);
	assert_string_equal(v.bridge, "xenbr1");
	assert_int_equal(v.n_ips, 2);
	assert_int_equal(v.rate.bytes_per_interval, 25000);
	assert_int_equal(v.rate.interval_usecs, 20000);
	assert_string_equal(v.vlan, "10p/20");
	assert_int_equal(v.mtu, 9000);
	assert_true(v.type_ioemu);
	assert_string_equal(v.model, "e1000");
	assert_string_equal(v.ifname, "web0");
	assert_string_equal(v.script, "vif-route");
	assert_string_equal(v.gatewaydev, "eth0");
	assert_string_equal(v.backend, "0");
	assert_false(v.trusted);

	/* later keys win, like xl */
	expect_ok(vif_parse_spec(&v, "trusted,bridge=a,bridge=b,ip=192.0.2.7"), "repeat");
	assert_true(v.trusted);
	assert_string_equal(v.bridge, "b");
	assert_int_equal(v.n_ips, 1);

	/* '=' inside a value is the value's */
	expect_ok(vif_parse_spec(&v, "trusted=1"), "trusted=1");
	expect_err(vif_parse_spec(&v, "bridge=a=b"), "a=b", "bridge: 'a=b'");

	/* devid given in the spec renames a default-named vif */
	vif_init(&v, 3, 0);
	expect_ok(vif_parse_spec(&v, "devid=2,bridge=xenbr0"), "devid");
	assert_string_equal(v.ifname, "vif3.2");
}

static void test_spec_bad(void **state)
{
	static const struct {
		const char *spec, *err;
	} cases[] = {
		{ "bogus", "unrecognized argument 'bogus'" },
		{ "bridge=xenbr0,bogus=1", "unrecognized argument 'bogus'" },
		{ "=xenbr0", "unrecognized argument '=xenbr0'" },
		{ "mac", "mac: missing value" },
		{ "mac=00:16:3e:00:00:01,mac=01:00:00:00:00:00", "multicast" },
		{ "ip=192.0.2.1,192.0.2.2", "unrecognized argument '192.0.2.2'" },
		{ "rate=10Mb/s@20ms,vlan=10/20", "vlan: '10/20'" },
		{ "bridge=xenbr0,mtu=1", "mtu: '1': out of range" },
		{ "trusted=yes", "trusted: 'yes'" },
		{ "Mac=00:16:3e:00:00:01", "unrecognized argument 'Mac'" },
		/* another vif's interface name (this is vif 2.0) */
		{ "bridge=xenbr0,vifname=vif7.0", "vifname: 'vif7.0': the name of vif 7.0's interface" },
		{ "vifname=vif2.1-emu", "the name of vif 2.1's interface, not this vif's (vif2.0)" },
		{ "vifname=vif2.00", "reserved for the backends' own vif names" },
	};
	struct vif v, before;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		vif_init(&v, 2, 0);
		assert_int_equal(vif_parse_spec(&v, "bridge=orig,mtu=1400"), 0);
		memcpy(&before, &v, sizeof(v));
		expect_err(vif_parse_spec(&v, cases[i].spec), cases[i].spec, cases[i].err);
		/* all or nothing: the good keys before the bad one did not land */
		if (memcmp(&before, &v, sizeof(v)))
			fail_msg("%s: failed spec changed the vif", cases[i].spec);
	}
	expect_err(vif_parse_spec(&v, NULL), "NULL", "missing");
}

/* A backend directory exactly as libxl + netback leave it, fed key by key. */
static void test_backend_dir(void **state)
{
	static const char *const kv[][2] = {
		{ "frontend", "/local/domain/12/device/vif/1" },
		{ "frontend-id", "12" },
		{ "online", "1" },
		{ "state", "2" },
		{ "script", "/etc/xen/scripts/vif-bridge" },
		{ "vifname", "" },
		{ "mac", "00:16:3e:1c:2d:3e" },
		{ "ip", "192.0.2.12 2001:db8::12" },
		{ "gatewaydev", "eth0" },
		{ "rate", "62500,50000" },
		{ "mtu", "9000" },
		{ "vlan", "10p/20" },
		{ "bridge", "xenbr0" },
		{ "handle", "1" },
		{ "type", "vif" },
		{ "hotplug-status", "" },
		{ "feature-sg", "1" },
		{ "feature-gso-tcpv4", "1" },
		{ "feature-gso-tcpv6", "1" },
		{ "feature-ipv6-csum-offload", "1" },
		{ "feature-rx-copy", "1" },
		{ "feature-rx-flip", "0" },
		{ "feature-multicast-control", "1" },
		{ "feature-dynamic-multicast-control", "1" },
		{ "feature-split-event-channels", "1" },
		{ "multi-queue-max-queues", "4" },
		{ "feature-ctrl-ring", "1" },
		{ "feature-xdp-headroom", "1" },
	};
	struct vif v;
	size_t i;

	vif_init(&v, 12, 1);
	for (i = 0; i < ARRAY_SIZE(kv); i++)
		expect_ok(vif_set(&v, kv[i][0], kv[i][1]), kv[i][0]);
	assert_string_equal(v.ifname, "vif12.1");
	assert_string_equal(v.bridge, "xenbr0");
	assert_int_equal(v.rate.bytes_per_interval, 62500);
	assert_int_equal(v.mtu, 9000);
	assert_int_equal(v.n_ips, 2);
	assert_false(v.type_ioemu);
	assert_true(v.trusted);
}

static int report(void **state)
{
	printf("test_vif: %u table cases checked\n", n_cases);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_id_parse),
		cmocka_unit_test(test_init),
		cmocka_unit_test(test_rate_xl),
		cmocka_unit_test(test_rate_xenstore),
		cmocka_unit_test(test_rate_either),
		cmocka_unit_test(test_rate_format),
		cmocka_unit_test(test_rate_in),
		cmocka_unit_test(test_mac),
		cmocka_unit_test(test_ifname),
		cmocka_unit_test(test_ip_list),
		cmocka_unit_test(test_vlan),
		cmocka_unit_test(test_set_good),
		cmocka_unit_test(test_set_bad),
		cmocka_unit_test(test_set_devid_name),
		cmocka_unit_test(test_error_quoting),
		cmocka_unit_test(test_check_name),
		cmocka_unit_test(test_renamed_from),
		cmocka_unit_test(test_spec_good),
		cmocka_unit_test(test_spec_bad),
		cmocka_unit_test(test_backend_dir),
	};

	return cmocka_run_group_tests(tests, NULL, report);
}
