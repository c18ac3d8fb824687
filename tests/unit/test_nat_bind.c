/* Unit tests for the address a nat guest without ip= is bound to
 * (nat/bind.c): it keeps what the guest has (netd's static lease, then
 * dnsmasq's live lease), never takes another host's address or another
 * MAC's live lease, says so when the range is full or missing, and reads
 * nothing but the MAC and address of lines a guest may have shaped. */
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
#include <time.h>
#include <unistd.h>

#include "lib/err.h"
#include "nat/bind.h"

static const uint8_t MAC5[6] = { 0x02, 0, 0, 0, 0, 5 };
static const uint8_t MAC6[6] = { 0x02, 0, 0, 0, 0, 6 };

struct fx {
	char dir[64];
	struct nat_dnsmasq d;
	struct nat_hosts hosts;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/netd-bind-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->d.bridge, sizeof(f->d.bridge), "virbr0");
	inet_pton(AF_INET, "203.0.113.1", &f->d.gw.addr.v4);
	f->d.gw.family = AF_INET;
	f->d.gw.prefixlen = 24;
	f->d.has_range = true;
	inet_pton(AF_INET, "203.0.113.100", &f->d.first);
	inet_pton(AF_INET, "203.0.113.102", &f->d.last);
	snprintf(f->d.hostsfile, sizeof(f->d.hostsfile), "%s/dhcp-hosts", f->dir);
	snprintf(f->d.leasefile, sizeof(f->d.leasefile), "%s/dnsmasq.leases", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	unlink(f->d.hostsfile);
	unlink(f->d.leasefile);
	rmdir(f->dir);
	nat_hosts_free(&f->hosts);
	free(f);
	return 0;
}

static void write_file(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

/* The address picked for MAC5 (vif 5.0), "" when refused. */
static const char *pick(struct fx *f, const uint8_t mac[6], int want_rc)
{
	static char buf[INET_ADDRSTRLEN];
	struct in_addr a;
	int rc = nat_bind_pick(&f->d, &f->hosts, 5, 0, mac, &a);

	if (rc != want_rc)
		fail_msg("rc %d, want %d (%s)", rc, want_rc, rc ? err_msg() : "");
	if (rc)
		return "";
	inet_ntop(AF_INET, &a, buf, sizeof(buf));
	return buf;
}

static void add_host(struct fx *f, uint32_t domid, const char *ip)
{
	struct nat_host h = { .domid = domid, .has_ip = true };

	inet_pton(AF_INET, ip, &h.ip);
	assert_int_equal(nat_hosts_set(&f->hosts, &h), 0);
}

static void test_first_free_without_files(void **state)
{
	struct fx *f = *state;

	assert_string_equal(pick(f, MAC5, 0), "203.0.113.100");
	add_host(f, 7, "203.0.113.100");
	assert_string_equal(pick(f, MAC5, 0), "203.0.113.101");
}

static void test_keeps_static_then_live_lease(void **state)
{
	struct fx *f = *state;
	char leases[256];

	snprintf(leases, sizeof(leases), "%lld 02:00:00:00:00:05 203.0.113.102 g5 *\n",
		 (long long)time(NULL) + 3600);
	write_file(f->d.leasefile, leases);
	assert_string_equal(pick(f, MAC5, 0), "203.0.113.102");
	/* netd's own static lease wins over dnsmasq's */
	write_file(f->d.hostsfile, "02:00:00:00:00:05,203.0.113.101,dom5\n");
	assert_string_equal(pick(f, MAC5, 0), "203.0.113.101");
	/* unless another host has that address now */
	add_host(f, 7, "203.0.113.101");
	assert_string_equal(pick(f, MAC5, 0), "203.0.113.102");
}

static void test_other_macs_live_lease_is_skipped(void **state)
{
	struct fx *f = *state;
	char leases[256];

	snprintf(leases, sizeof(leases),
		 "%lld 02:00:00:00:00:06 203.0.113.100 g6 *\n"
		 "0 02:00:00:00:00:07 203.0.113.101 g7 *\n" /* never expires */
		 "1 02:00:00:00:00:08 203.0.113.102 g8 *\n", /* expired */
		 (long long)time(NULL) + 3600);
	write_file(f->d.leasefile, leases);
	assert_string_equal(pick(f, MAC5, 0), "203.0.113.102");
	/* MAC6 keeps its own lease */
	assert_string_equal(pick(f, MAC6, 0), "203.0.113.100");
}

static void test_full_or_no_range_is_refused(void **state)
{
	struct fx *f = *state;

	add_host(f, 7, "203.0.113.100");
	add_host(f, 8, "203.0.113.101");
	add_host(f, 9, "203.0.113.102");
	pick(f, MAC5, -EADDRNOTAVAIL);
	assert_non_null(strstr(err_msg(), "no free address in dhcp_range 203.0.113.100-203.0.113.102"));
	f->d.has_range = false;
	pick(f, MAC5, -EADDRNOTAVAIL);
	assert_non_null(strstr(err_msg(), "virbr0 has no dhcp_range"));
}

/* Lines a guest shaped (its host name, client id) or garbage: only a line
 * whose MAC and address parse counts, and only inside the range. */
static void test_hostile_lines_are_ignored(void **state)
{
	struct fx *f = *state;
	char leases[1024];

	snprintf(leases, sizeof(leases),
		 "%lld 02:00:00:00:00:05 198.51.100.7 outside *\n"
		 "%lld 02:00:00:00:00:05 203.0.113.1 gateway *\n"
		 "garbage\n\n   \n"
		 "x 02:00:00:00:00:05 203.0.113.101 bad-expiry *\n"
		 "%lld 02:00:00:00:00:0 203.0.113.101 short-mac *\n"
		 "%lld 02:00:00:00:00:05 203.0.113.101%%x trailing *\n"
		 "duid 00:01:00:01:2c:2f:3a:4b:02:00:00:00:00:05\n",
		 (long long)time(NULL) + 60, (long long)time(NULL) + 60,
		 (long long)time(NULL) + 60, (long long)time(NULL) + 60);
	write_file(f->d.leasefile, leases);
	write_file(f->d.hostsfile, "02:00:00:00:00:05,dom5\n,,,\n02:00:00:00:00:05\n");
	assert_string_equal(pick(f, MAC5, 0), "203.0.113.100");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_first_free_without_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_keeps_static_then_live_lease, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_macs_live_lease_is_skipped, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_full_or_no_range_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_lines_are_ignored, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
