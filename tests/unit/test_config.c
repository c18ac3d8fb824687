/* Unit tests for netd/config.c: every error names file, line and key, every
 * default, all three modes, and the netd_conf_write round trip. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <cmocka.h>

#include "lib/err.h"
#include "netd/config.h"

struct bad_case {
	const char *text;
	const char *want; /* substring of err_msg() */
};

static int parse(const char *text, struct netd_conf *c)
{
	return netd_conf_parse("netd.conf", text, strlen(text), c);
}

/* Each case must fail with -EINVAL, the expected message, and an empty out. */
static void expect_errors(const struct bad_case *cases, size_t n)
{
	struct netd_conf c;
	size_t i;
	int rc;

	for (i = 0; i < n; i++) {
		err_clear();
		rc = parse(cases[i].text, &c);
		if (rc != -EINVAL || !strstr(err_msg(), cases[i].want)) {
			print_error("case %zu:\n%s\n-> rc %d, '%s'\nwanted '%s'\n", i,
				    cases[i].text, rc, err_msg(), cases[i].want);
			fail();
		}
		assert_int_equal(c.n_nets, 0);
		assert_null(c.nets);
	}
}

#define EXPECT_ERRORS(cases) expect_errors(cases, sizeof(cases) / sizeof(cases[0]))

static void test_syntax_errors(void **state)
{
	static const struct bad_case cases[] = {
		{ "[xenbr0\nmode = bridge\n",
		  "netd.conf:1: unterminated section header '[xenbr0'" },
		{ "[xenbr0]\nmode = bridge\nphysdev eth0\n",
		  "netd.conf:3: expected 'key = value' or '[section]', got 'physdev eth0'" },
		{ "mode = bridge\n", "netd.conf:1: key 'mode': outside any section" },
		{ "# comment\n\n; another\nphysdev = eth0\n[xenbr0]\n",
		  "netd.conf:4: key 'physdev': outside any section" },
		{ "[xenbr0] junk\n", "netd.conf:1: unexpected 'junk' after section header" },
		/* no multi-line values: an indented line is a line of its own */
		{ "[xenbr0]\nmode = bridge\nphysdev = eth0\n  modern\n",
		  "netd.conf:4: expected 'key = value' or '[section]', got 'modern'" },
		{ "[xenbr0]\nmode = br\x01idge\n", "netd.conf:2: control character 0x01" },
		{ "[xenbr0]\nmo de = bridge\n", "netd.conf:2: bad key 'mo de'" },
		{ "[xenbr0]\n = bridge\n", "netd.conf:2: bad key ''" },
		{ "[xenbr0]\nphysdev: eth0\n",
		  "netd.conf:2: expected 'key = value' or '[section]', got 'physdev: eth0'" },
		{ "[xenbr0]\nphysdev = xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n",
		  "netd.conf:2: key 'physdev': line too long" },
	};

	EXPECT_ERRORS(cases);
}

static void test_section_errors(void **state)
{
	static const struct bad_case cases[] = {
		{ "[xenbr0]\nmode = bridge\nphysdev = eth0\n[xenbr0]\nmode = bridge\nphysdev = eth1\n",
		  "netd.conf:4: duplicate section [xenbr0] (first at line 1)" },
		{ "[netd]\n[netd]\n", "netd.conf:2: duplicate section [netd] (first at line 1)" },
		{ "[averyveryverylongname]\nmode = route\n",
		  "netd.conf:1: section [averyveryverylongname]: bad network name: an interface name has at most 15 bytes" },
		{ "\n[a/b]\n", "netd.conf:2: section [a/b]: bad network name" },
		{ "[a:b]\n", "netd.conf:1: section [a:b]: bad network name" },
		{ "[a b]\n", "netd.conf:1: section [a b]: bad network name" },
		{ "[]\n", "netd.conf:1: section []: bad network name: an interface name cannot be empty" },
		{ "[..]\n", "netd.conf:1: section [..]: bad network name" },
		{ "[xenbr0]\n", "netd.conf:1: section [xenbr0]: missing key 'mode'" },
		{ "\n\n[xenbr0]\nphysdev = eth0\n", "netd.conf:3: section [xenbr0]: missing key 'mode'" },
		{ "[xenbr0]\nmode = switch\n",
		  "netd.conf:2: key 'mode': expected bridge|route|nat|ovs, got 'switch'" },
		{ "[xenbr0]\nmode = bridge\nphysdev = eth0\nmode = route\n",
		  "netd.conf:4: key 'mode': duplicate key (first set at line 2)" },
	};

	EXPECT_ERRORS(cases);
}

static void test_netd_errors(void **state)
{
	static const struct bad_case cases[] = {
		{ "[netd]\nfoo = 1\n", "netd.conf:2: key 'foo': unknown key in [netd]" },
		{ "[netd]\nmode = bridge\n", "netd.conf:2: key 'mode': unknown key in [netd]" },
		{ "[netd]\nrestore_on_exit = maybe\n",
		  "netd.conf:2: key 'restore_on_exit': expected yes|no|true|false|on|off|1|0, got 'maybe'" },
		{ "[netd]\nrestore_on_exit =\n",
		  "netd.conf:2: key 'restore_on_exit': expected yes|no|true|false|on|off|1|0, got ''" },
		{ "[netd]\nsocket = relative.sock\n",
		  "netd.conf:2: key 'socket': expected an absolute path, got 'relative.sock'" },
		{ "[netd]\nstate_dir = run/netd\n",
		  "netd.conf:2: key 'state_dir': expected an absolute path, got 'run/netd'" },
		{ "[netd]\nsocket = /xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n",
		  "netd.conf:2: key 'socket': path is 120 bytes, at most 107 allowed" },
		{ "[netd]\nsocket_group = net d\n",
		  "netd.conf:2: key 'socket_group': bad group name 'net d'" },
		{ "[netd]\nsocket = /a\nsocket = /b\n",
		  "netd.conf:3: key 'socket': duplicate key (first set at line 2)" },
	};

	EXPECT_ERRORS(cases);
}

static void test_bridge_errors(void **state)
{
	static const struct bad_case cases[] = {
		{ "[xenbr0]\nmode = bridge\n",
		  "netd.conf:1: section [xenbr0]: missing key 'physdev' (required in a bridge network)" },
		{ "[netd]\n\n[xenbr0]\nmode = bridge\n# comment\nphysdev = eth0\nstyle = fancy\n",
		  "netd.conf:7: key 'style': expected classic|modern, got 'fancy'" },
		{ "[xenbr0]\nmode = bridge\nphysdev = eth0eth0eth0eth0x\n",
		  "netd.conf:3: key 'physdev': bad interface name 'eth0eth0eth0eth0x': an interface name has at most 15 bytes" },
		{ "[xenbr0]\nmode = bridge\nphysdev = eth/0\n",
		  "netd.conf:3: key 'physdev': bad interface name 'eth/0'" },
		{ "[xenbr0]\nmode = bridge\nphysdev =#eth0\n",
		  "netd.conf:3: key 'physdev': bad interface name '#eth0': an interface name cannot start with '#' or ';'" },
		{ "[;x]\n", "netd.conf:1: section [;x]: bad network name" },
		{ "[xenbr0]\nmode = bridge\nphysdev =\n",
		  "netd.conf:3: key 'physdev': bad interface name '': an interface name cannot be empty" },
		{ "[xenbr0]\nmode = bridge\nphysdev = enp0s31f6x12345\n",
		  "netd.conf:3: key 'physdev': 'enp0s31f6x12345' is too long for style classic" },
		{ "[xenbr0]\nmode = bridge\nphysdev = xenbr0\n",
		  "netd.conf:3: key 'physdev': 'xenbr0' is the bridge itself" },
		{ "[xenbr0]\nmode = bridge\nphysdev = eth0\nmetric = 3\n",
		  "netd.conf:4: key 'metric': not valid in a bridge network (only in route)" },
		{ "[xenbr0]\nphysdev = eth0\ngatewaydev = eth1\nmode = bridge\n",
		  "netd.conf:3: key 'gatewaydev': 'physdev' is already set at line 2" },
		{ "[xenbr0]\nmode = bridge\ngatewaydev = eth1\n",
		  "netd.conf:3: key 'gatewaydev': not valid in a bridge network (only in route)" },
		{ "[xenbr0]\nmode = bridge\nphysdev = eth0\nuplink = eth0\n",
		  "netd.conf:4: key 'uplink': not valid in a bridge network (only in nat)" },
		{ "[xenbr0]\nmode = bridge\nphysdev = eth0\nphysdev = eth1\n",
		  "netd.conf:4: key 'physdev': duplicate key (first set at line 3)" },
		{ "[xenbr0]\nmode = bridge\nphysdev = eth0\ncolour = blue\n",
		  "netd.conf:4: key 'colour': unknown key" },
	};

	EXPECT_ERRORS(cases);
}

static void test_route_errors(void **state)
{
	static const struct bad_case cases[] = {
		{ "[routed]\nmode = route\n",
		  "netd.conf:1: section [routed]: missing key 'physdev' (required in a route network)" },
		{ "[routed]\nmode = route\nphysdev = eth0\nstyle = classic\n",
		  "netd.conf:4: key 'style': not valid in a route network (only in bridge)" },
		{ "[routed]\nmode = route\nphysdev = eth0\ngatewaydev = eth0\n",
		  "netd.conf:4: key 'gatewaydev': 'physdev' is already set at line 3" },
		{ "[routed]\nmode = route\nphysdev = eth0\nmetric = 4294967296\n",
		  "netd.conf:4: key 'metric': expected 0..4294967295, got '4294967296'" },
		{ "[routed]\nmode = route\nphysdev = eth0\nmetric = -1\n",
		  "netd.conf:4: key 'metric': expected 0..4294967295, got '-1'" },
		{ "[routed]\nmode = route\nphysdev = eth0\nmetric = 2x\n",
		  "netd.conf:4: key 'metric': expected 0..4294967295, got '2x'" },
		/* in range, but a leading zero: the message says that is why */
		{ "[routed]\nmode = route\nphysdev = eth0\nmetric = 010\n",
		  "netd.conf:4: key 'metric': expected 0..4294967295, got '010' (no leading zero: "
		  "octal to xl and to shell arithmetic)" },
		{ "[routed]\nmode = route\nphysdev = eth0\ngatewayip = 192.0.2.256\n",
		  "netd.conf:4: key 'gatewayip': expected an IPv4 or IPv6 address, got '192.0.2.256'" },
		{ "[routed]\nmode = route\nphysdev = eth0\ngatewayip = 192.0.2.1/24\n",
		  "netd.conf:4: key 'gatewayip': expected an IPv4 or IPv6 address, got '192.0.2.1/24'" },
		{ "[routed]\nmode = route\nphysdev = eth0\ngatewayip = ff02::1\n",
		  "netd.conf:4: key 'gatewayip': 'ff02::1' is not a unicast address" },
		{ "[routed]\nmode = route\ngatewaydev = eth 0\n",
		  "netd.conf:3: key 'gatewaydev': bad interface name 'eth 0'" },
		{ "[routed]\nmode = route\nphysdev = eth0\naddress = 192.0.2.1/24\n",
		  "netd.conf:4: key 'address': not valid in a route network (only in nat)" },
	};

	EXPECT_ERRORS(cases);
}

#define NAT "[virbr0]\nmode = nat\naddress = 203.0.113.1/24\nuplink = eth0\n"

static void test_nat_errors(void **state)
{
	static const struct bad_case cases[] = {
		{ "[virbr0]\nmode = nat\nuplink = eth0\n",
		  "netd.conf:1: section [virbr0]: missing key 'address' (required in a nat network)" },
		{ "[virbr0]\nmode = nat\naddress = 203.0.113.1/24\n",
		  "netd.conf:1: section [virbr0]: missing key 'uplink' (required in a nat network)" },
		{ "[virbr0]\nmode = nat\naddress = 203.0.113.1\n",
		  "netd.conf:3: key 'address': expected ADDRESS/PREFIX (e.g. 203.0.113.1/24), got '203.0.113.1'" },
		{ "[virbr0]\nmode = nat\naddress = 203.0.113.1/33\n",
		  "netd.conf:3: key 'address': expected ADDRESS/PREFIX (e.g. 203.0.113.1/24), got '203.0.113.1/33'" },
		{ "[virbr0]\nmode = nat\naddress = 203.0.113.1/\n",
		  "netd.conf:3: key 'address': expected ADDRESS/PREFIX" },
		{ "[virbr0]\nmode = nat\naddress = 203.0.113.1/024\n",
		  "netd.conf:3: key 'address': expected ADDRESS/PREFIX (e.g. 203.0.113.1/24), got "
		  "'203.0.113.1/024': prefix length: expected 0..32, got '024' (no leading zero: "
		  "octal to xl and to shell arithmetic)" },
		{ "[virbr0]\nmode = nat\naddress = 203.0.113.1/0x18\n",
		  "got '203.0.113.1/0x18': prefix length: expected 0..32, got '0x18'" },
		{ "[virbr0]\nmode = nat\naddress = 203.0.113.1\n",
		  "got '203.0.113.1': no /PREFIX" },
		{ "[virbr0]\nmode = nat\naddress = 203.0.113.300/24\n",
		  "got '203.0.113.300/24': '203.0.113.300' is not an IP address" },
		{ "[virbr0]\nmode = nat\naddress = 203.0.113.1/24x\n",
		  "netd.conf:3: key 'address': expected ADDRESS/PREFIX" },
		{ "[virbr0]\nmode = nat\naddress = 300.0.113.1/24\n",
		  "netd.conf:3: key 'address': expected ADDRESS/PREFIX" },
		{ "[virbr0]\nmode = nat\naddress = 203.0.113.1/31\n",
		  "netd.conf:3: key 'address': prefix length in '203.0.113.1/31' must be 8..30" },
		{ "[virbr0]\nmode = nat\naddress = 203.0.113.0/24\n",
		  "netd.conf:3: key 'address': '203.0.113.0/24' is the network or broadcast address" },
		{ "[virbr0]\nmode = nat\naddress = 203.0.113.255/24\n",
		  "netd.conf:3: key 'address': '203.0.113.255/24' is the network or broadcast address" },
		{ "[virbr0]\nmode = nat\naddress = 127.0.0.1/8\n",
		  "netd.conf:3: key 'address': '127.0.0.1/8' is not a unicast address" },
		{ NAT "dhcp_range = 198.51.100.10-198.51.100.20\n",
		  "netd.conf:5: key 'dhcp_range': 198.51.100.10-198.51.100.20 is not inside 203.0.113.0/24" },
		{ NAT "dhcp_range = 203.0.113.100-203.0.114.1\n",
		  "netd.conf:5: key 'dhcp_range': 203.0.113.100-203.0.114.1 is not inside 203.0.113.0/24" },
		{ NAT "dhcp_range = 203.0.113.150-203.0.113.100\n",
		  "netd.conf:5: key 'dhcp_range': first address 203.0.113.150 is above last 203.0.113.100" },
		{ NAT "dhcp_range = 203.0.113.0-203.0.113.50\n",
		  "netd.conf:5: key 'dhcp_range': 203.0.113.0-203.0.113.50 includes the network or broadcast address" },
		{ NAT "dhcp_range = 203.0.113.200-203.0.113.255\n",
		  "netd.conf:5: key 'dhcp_range': 203.0.113.200-203.0.113.255 includes the network or broadcast address" },
		{ NAT "dhcp_range = 203.0.113.1-203.0.113.50\n",
		  "netd.conf:5: key 'dhcp_range': 203.0.113.1-203.0.113.50 includes the gateway address 203.0.113.1" },
		{ NAT "dhcp_range = 203.0.113.100\n",
		  "netd.conf:5: key 'dhcp_range': expected FIRST-LAST IPv4 addresses" },
		{ NAT "dhcp_range = a-b\n", "netd.conf:5: key 'dhcp_range': expected FIRST-LAST" },
		{ "[virbr6]\nmode = nat\naddress = 2001:db8::1/64\nuplink = eth0\n"
		  "dhcp_range = 203.0.113.100-203.0.113.150\n",
		  "netd.conf:5: key 'dhcp_range': needs an IPv4 address, but address is 2001:db8::1/64" },
		{ NAT "forward = icmp:8080:203.0.113.10:80\n",
		  "netd.conf:5: key 'forward': protocol 'icmp': expected tcp|udp, got 'icmp:8080:203.0.113.10:80'" },
		{ NAT "forward = tcp:0:203.0.113.10:80\n",
		  "netd.conf:5: key 'forward': port '0': expected 1..65535, got 'tcp:0:203.0.113.10:80'" },
		{ NAT "forward = tcp:8080:203.0.113.10:65536\n",
		  "netd.conf:5: key 'forward': port '65536': expected 1..65535" },
		{ NAT "forward = tcp:http:203.0.113.10:80\n",
		  "netd.conf:5: key 'forward': port 'http': expected 1..65535" },
		{ NAT "forward = tcp:080:203.0.113.10:80\n",
		  "netd.conf:5: key 'forward': port '080': expected 1..65535 (no leading zero: "
		  "octal to xl and to shell arithmetic)" },
		{ NAT "forward = tcp:+80:203.0.113.10:80\n",
		  "netd.conf:5: key 'forward': port '+80': expected 1..65535" },
		{ NAT "forward = tcp:8080:203.0.113.300:80\n",
		  "netd.conf:5: key 'forward': destination '203.0.113.300': expected an IPv4 address, got 'tcp:8080:203.0.113.300:80'" },
		{ NAT "forward = tcp:8080:203.0.113.10\n",
		  "netd.conf:5: key 'forward': expected PROTO:PORT:ADDRESS:PORT (e.g. "
		  "tcp:8080:203.0.113.10:80, tcp:8080:[2001:db8::10]:80), got 'tcp:8080:203.0.113.10'" },
		{ NAT "forward = tcp:8080:2001:db8::10:80\n",
		  "netd.conf:5: key 'forward': an IPv6 destination goes in brackets" },
		{ NAT "forward = tcp:8080:[2001:db8::10:80\n",
		  "netd.conf:5: key 'forward': expected [IPV6]:PORT" },
		{ NAT "forward = tcp:8080:198.51.100.10:80\n",
		  "netd.conf:5: key 'forward': destination 198.51.100.10 is not inside 203.0.113.0/24" },
		{ NAT "forward = tcp:8080:[2001:db8::10]:80\n",
		  "netd.conf:5: key 'forward': destination 2001:db8::10 is not inside 203.0.113.0/24" },
		{ NAT "forward = udp:53:203.0.113.1:53\n",
		  "netd.conf:5: key 'forward': destination 203.0.113.1 is the gateway, network or broadcast address" },
		{ NAT "forward = udp:53:203.0.113.255:53\n",
		  "netd.conf:5: key 'forward': destination 203.0.113.255 is the gateway" },
		{ NAT "forward = tcp:8080:203.0.113.10:80\nforward = udp:8080:203.0.113.10:80\n"
		      "forward = tcp:8080:203.0.113.11:80\n",
		  "netd.conf:7: key 'forward': tcp port 8080 on uplink 'eth0' is already forwarded at line 5" },
		{ "[virbr0]\nmode = nat\naddress = 203.0.113.1/24\nuplink = virbr0\n",
		  "netd.conf:4: key 'uplink': 'virbr0' is the bridge itself" },
		{ "[virbr0]\nmode = nat\naddress = 203.0.113.1/24\nuplink = eth0.100.x.y.z.w\n",
		  "netd.conf:4: key 'uplink': bad interface name 'eth0.100.x.y.z.w'" },
		{ NAT "physdev = eth0\n",
		  "netd.conf:5: key 'physdev': not valid in a nat network (only in bridge and route)" },
		{ NAT "style = modern\n",
		  "netd.conf:5: key 'style': not valid in a nat network (only in bridge)" },
		{ NAT "address = 203.0.113.2/24\n",
		  "netd.conf:5: key 'address': duplicate key (first set at line 3)" },
		{ NAT "address6 = 2001:db8:1::1/56\n",
		  "netd.conf:5: key 'address6': prefix length in '2001:db8:1::1/56' must be 64" },
		{ NAT "address6 = 2001:db8:1::1\n",
		  "netd.conf:5: key 'address6': expected IPV6ADDRESS/64 (e.g. 2001:db8:1::1/64), got '2001:db8:1::1'" },
		{ NAT "address6 = 198.51.100.1/24\n", "netd.conf:5: key 'address6': expected IPV6ADDRESS/64" },
		{ NAT "address6 = 198.51.100.1/24\n", "got '198.51.100.1/24': an IPv4 address" },
		{ NAT "address6 = 2001:db8:1::1/064\n",
		  "got '2001:db8:1::1/064': prefix length: expected 0..128, got '064' (no leading "
		  "zero: octal to xl and to shell arithmetic)" },
		{ NAT "address6 = 2001:db8:1::/64\n",
		  "netd.conf:5: key 'address6': '2001:db8:1::/64' is the subnet-router anycast address" },
		{ NAT "address6 = fe80::1/64\n",
		  "netd.conf:5: key 'address6': 'fe80::1/64' is not a global unicast address" },
		{ NAT "address6 = ff02::1/64\n",
		  "netd.conf:5: key 'address6': 'ff02::1/64' is not a global unicast address" },
		{ NAT "address6 = ::ffff:198.51.100.1/64\n", "is not a global unicast address" },
		{ NAT "nat6 = routed\n", "netd.conf:5: key 'nat6': needs address6 (the guests' IPv6 subnet)" },
		{ NAT "dhcp6 = stateful\n", "netd.conf:5: key 'dhcp6': needs address6" },
		{ NAT "dhcp6_range = 2001:db8:1::10-2001:db8:1::20\n",
		  "netd.conf:5: key 'dhcp6_range': needs address6" },
		{ NAT "address6 = 2001:db8:1::1/64\ndhcp6_range = 2001:db8:1::10-2001:db8:1::20\n",
		  "netd.conf:6: key 'dhcp6_range': needs dhcp6 = stateful" },
		{ NAT "address6 = 2001:db8:1::1/64\ndhcp6 = stateful\ndhcp6_range = 2001:db8:1::10\n",
		  "netd.conf:7: key 'dhcp6_range': expected FIRST-LAST IPv6 addresses (e.g. 2001:db8:1::1000-2001:db8:1::1fff), got '2001:db8:1::10'" },
		{ NAT "address6 = 2001:db8:1::1/64\ndhcp6 = stateful\n"
		  "dhcp6_range = 2001:db8:2::10-2001:db8:2::20\n",
		  "netd.conf:7: key 'dhcp6_range': 2001:db8:2::10-2001:db8:2::20 is not inside 2001:db8:1::/64" },
		{ NAT "address6 = 2001:db8:1::1/64\ndhcp6 = stateful\n"
		  "dhcp6_range = 2001:db8:1::20-2001:db8:1::10\n",
		  "netd.conf:7: key 'dhcp6_range': first address 2001:db8:1::20 is above last 2001:db8:1::10" },
		{ NAT "address6 = 2001:db8:1::1/64\ndhcp6 = stateful\n"
		  "dhcp6_range = 2001:db8:1::-2001:db8:1::20\n",
		  "includes the subnet-router anycast address of 2001:db8:1::/64" },
		{ NAT "address6 = 2001:db8:1::1/64\ndhcp6 = stateful\n"
		  "dhcp6_range = 2001:db8:1::1-2001:db8:1::20\n",
		  "includes the gateway address 2001:db8:1::1" },
		{ NAT "address6 = 2001:db8:1::1/64\ndhcp6 = yes\n",
		  "netd.conf:6: key 'dhcp6': expected stateless|stateful, got 'yes'" },
		{ NAT "address6 = 2001:db8:1::1/64\nnat6 = nat64\n",
		  "netd.conf:6: key 'nat6': expected masquerade|routed, got 'nat64'" },
		{ NAT "address6 = 2001:db8:1::1/64\nforward = tcp:22:[2001:db8:2::22]:22\n",
		  "netd.conf:6: key 'forward': destination 2001:db8:2::22 is not inside 2001:db8:1::/64" },
		{ NAT "address6 = 2001:db8:1::1/64\nforward = tcp:22:[2001:db8:1::]:22\n",
		  "netd.conf:6: key 'forward': destination 2001:db8:1:: is the gateway, network or broadcast address of 2001:db8:1::/64" },
		{ NAT "address6 = 2001:db8:1::1/64\nforward = tcp:22:[2001:db8:1::1]:22\n",
		  "destination 2001:db8:1::1 is the gateway" },
		{ NAT "address6 = 2001:db8:1::1/64\nforward = tcp:22:[2001:db8:1::5]:22\n"
		      "forward = tcp:22:[2001:db8:1::6]:22\n",
		  "netd.conf:7: key 'forward': IPv6 tcp port 22 on uplink 'eth0' is already forwarded at line 6" },
		{ "[virbr6]\nmode = nat\naddress = 2001:db8::1/64\nuplink = eth0\naddress6 = 2001:db8:1::1/64\n",
		  "netd.conf:5: key 'address6': address is IPv6 already; give address an IPv4 subnet" },
		{ "[xenbr0]\nmode = bridge\nphysdev = eth0\naddress6 = 2001:db8:1::1/64\n",
		  "netd.conf:4: key 'address6': not valid in a bridge network (only in nat)" },
		{ NAT "rate_in = fast\n",
		  "netd.conf:5: key 'rate_in': 'fast': expected N[GMK]{B|b}/s[@N[s|ms|us]]" },
		{ NAT "rate_in = 0,50000\n", "netd.conf:5: key 'rate_in': '0,50000': bytes and interval must be non-zero" },
	};

	EXPECT_ERRORS(cases);
}

static void test_cross_network_errors(void **state)
{
	static const struct bad_case cases[] = {
		{ NAT "\n[virbr1]\nmode = nat\naddress = 203.0.113.129/25\nuplink = eth0\n",
		  "netd.conf:8: key 'address': 203.0.113.128/25 overlaps 203.0.113.0/24 of [virbr0] (line 1)" },
		{ "[virbr6]\nmode = nat\naddress = 2001:db8::1/64\nuplink = eth0\n"
		  "[virbr7]\nmode = nat\naddress = 2001:db8::1:0:0:1/48\nuplink = eth0\n",
		  "netd.conf:7: key 'address': 2001:db8::/48 overlaps 2001:db8::/64 of [virbr6] (line 1)" },
		{ "[xenbr0]\nmode = bridge\nphysdev = eth0\n"
		  "[xenbr1]\nmode = bridge\nphysdev = eth0\n",
		  "netd.conf:6: key 'physdev': 'eth0' is already the physdev of [xenbr0] (line 1)" },
		{ NAT "[xenbr0]\nmode = bridge\nphysdev = virbr0\n",
		  "netd.conf:7: key 'physdev': 'virbr0' is the bridge of [virbr0] (line 1)" },
		{ "[xenbr0]\nmode = bridge\nphysdev = eth1\n"
		  "[eth1]\nmode = nat\naddress = 203.0.113.1/24\nuplink = eth0\n",
		  "netd.conf:4: section [eth1]: bridge name 'eth1' is the physdev of [xenbr0] (line 1)" },
		{ NAT "forward = tcp:8080:203.0.113.10:80\n"
		  "[virbr1]\nmode = nat\naddress = 198.51.100.1/24\nuplink = eth0\n"
		  "forward = tcp:8080:198.51.100.10:80\n",
		  "netd.conf:10: key 'forward': tcp port 8080 on uplink 'eth0' is already forwarded at line 5" },
		{ NAT "address6 = 2001:db8:1::1/64\n"
		  "[virbr1]\nmode = nat\naddress = 198.51.100.1/24\nuplink = eth0\n"
		  "address6 = 2001:db8:1::2/64\n",
		  "netd.conf:10: key 'address6': 2001:db8:1::/64 overlaps 2001:db8:1::/64 of [virbr0] (line 1)" },
	};

	EXPECT_ERRORS(cases);
}

static void assert_defaults(const struct netd_conf *c)
{
	assert_string_equal(c->socket, NETD_DEFAULT_SOCKET);
	assert_string_equal(c->state_dir, NETD_DEFAULT_STATE);
	assert_true(c->restore_on_exit);
	assert_string_equal(c->socket_group, "netd");
	assert_false(c->xenstore_watch);
}

static void test_empty_and_defaults(void **state)
{
	static const char *const texts[] = {
		"", "\n\n", "# only a comment\n; and another\n", "\xef\xbb\xbf\r\n",
		"[netd]\n", "  \t\n[netd]   # daemon defaults\r\n",
	};
	struct netd_conf c;
	size_t i;

	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		assert_int_equal(parse(texts[i], &c), 0);
		assert_int_equal(c.n_nets, 0);
		assert_defaults(&c);
		assert_string_equal(c.path, "netd.conf");
		netd_conf_free(&c);
	}
	assert_int_equal(netd_conf_parse(NULL, NULL, 0, &c), 0);
	assert_defaults(&c);
	netd_conf_free(&c);
}

static void test_net_defaults(void **state)
{
	const struct netd_net_conf *n;
	struct netd_conf c;

	assert_int_equal(parse("[xenbr0]\nmode = bridge\nphysdev = eth0\n"
			       "[routed]\nmode = route\ngatewaydev = eth0\n"
			       NAT, &c), 0);
	assert_defaults(&c);
	assert_int_equal(c.n_nets, 3);
	n = netd_conf_find(&c, "xenbr0");
	assert_non_null(n);
	assert_int_equal(n->style, BR_STYLE_CLASSIC);
	n = netd_conf_find(&c, "routed");
	assert_non_null(n);
	assert_int_equal(n->metric, 2);
	assert_false(n->has_gatewayip);
	assert_string_equal(n->physdev, "eth0"); /* gatewaydev is physdev */
	n = netd_conf_find(&c, "virbr0");
	assert_non_null(n);
	assert_false(n->has_dhcp_range);
	assert_int_equal(n->n_forwards, 0);
	assert_null(n->forwards);
	assert_null(netd_conf_find(&c, "xenbr9"));
	netd_conf_free(&c);
}

static void test_booleans(void **state)
{
	static const struct {
		const char *word;
		bool val;
	} words[] = {
		{ "yes", true }, { "no", false }, { "true", true }, { "false", false },
		{ "1", true }, { "0", false }, { "on", true }, { "off", false },
		{ "YES", true }, { "Off", false },
	};
	struct netd_conf c;
	char text[128];
	size_t i;

	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		snprintf(text, sizeof(text), "[netd]\nrestore_on_exit = %s\n", words[i].word);
		assert_int_equal(parse(text, &c), 0);
		assert_int_equal(c.restore_on_exit, words[i].val);
		netd_conf_free(&c);
	}
}

static const char full_conf[] =
	"# netd.conf with every mode\n"
	"[netd]\n"
	"socket = /run/netd/test#1.sock   # '#' inside a word is not a comment\n"
	"state_dir=/var/lib/netd\n"
	"restore_on_exit = no ; inline comment\n"
	"socket_group = xen-admin\n"
	"\n"
	"[xenbr0]\n"
	"mode = bridge\n"
	"physdev = eth0\n"
	"\n"
	"[xenbr1]\t# modern style\n"
	"\tmode=BRIDGE\n"
	"physdev = enp0s31f6x12345\n"
	"style = modern\n"
	"\n"
	"[routed]\n"
	"mode = route\n"
	"gatewaydev = eth1\n"
	"metric = 4294967295\n"
	"gatewayip = 192.0.2.1\n"
	"\n"
	"[routed6]\n"
	"gatewayip = 2001:db8::1\n"
	"metric = 0\n"
	"physdev = xenbr0\n"
	"mode = route\n"
	"\n"
	"[virbr0]\n"
	"mode = nat\n"
	"address = 203.0.113.1/24\n"
	"dhcp_range = 203.0.113.100-203.0.113.150\n"
	"uplink = eth0\n"
	"forward = tcp:8080:203.0.113.10:80\n"
	"forward = UDP:5353:203.0.113.11:53\n"
	"forward = udp:8080:203.0.113.10:80\n"
	"\n"
	"[virbr1]\n"
	"mode = nat\n"
	"address = 198.51.100.254/25\n"
	"uplink = eth1\n"
	"forward = tcp:8080:198.51.100.130:80\n"
	"\n"
	"[virbr6]\n"
	"mode = nat\n"
	"address = 2001:db8:1::1/64\n"
	"uplink = eth0\n"
	"forward = tcp:2222:[2001:db8:1::22]:22\n";

static void test_full_config(void **state)
{
	const struct netd_net_conf *n;
	struct netd_cidr want;
	struct netd_conf c;

	assert_int_equal(parse(full_conf, &c), 0);
	assert_string_equal(c.socket, "/run/netd/test#1.sock");
	assert_string_equal(c.state_dir, "/var/lib/netd");
	assert_false(c.restore_on_exit);
	assert_string_equal(c.socket_group, "xen-admin");
	assert_int_equal(c.n_nets, 7);

	n = &c.nets[0];
	assert_string_equal(n->name, "xenbr0");
	assert_int_equal(n->line, 8);
	assert_int_equal(n->mode, NETD_MODE_BRIDGE);
	assert_string_equal(n->physdev, "eth0");
	assert_int_equal(n->style, BR_STYLE_CLASSIC);

	n = &c.nets[1];
	assert_int_equal(n->mode, NETD_MODE_BRIDGE);
	assert_string_equal(n->physdev, "enp0s31f6x12345");
	assert_int_equal(n->style, BR_STYLE_MODERN);

	n = &c.nets[2];
	assert_string_equal(n->name, "routed");
	assert_int_equal(n->mode, NETD_MODE_ROUTE);
	assert_string_equal(n->physdev, "eth1");
	assert_int_equal(n->metric, 4294967295u);
	assert_true(n->has_gatewayip);
	assert_int_equal(n->gatewayip.family, AF_INET);
	assert_int_equal(n->gatewayip.prefixlen, 32);
	assert_int_equal(ntohl(n->gatewayip.addr.v4.s_addr), 0xc0000201);

	n = &c.nets[3];
	assert_int_equal(n->mode, NETD_MODE_ROUTE);
	assert_int_equal(n->metric, 0);
	assert_string_equal(n->physdev, "xenbr0");
	assert_int_equal(n->gatewayip.family, AF_INET6);
	assert_int_equal(n->gatewayip.prefixlen, 128);

	n = netd_conf_find(&c, "virbr0");
	assert_ptr_equal(n, &c.nets[4]);
	assert_int_equal(n->mode, NETD_MODE_NAT);
	assert_int_equal(n->address.family, AF_INET);
	assert_int_equal(ntohl(n->address.addr.v4.s_addr), 0xcb007101);
	assert_int_equal(n->address.prefixlen, 24);
	assert_true(n->has_dhcp_range);
	assert_int_equal(ntohl(n->dhcp_first.s_addr), 0xcb007164);
	assert_int_equal(ntohl(n->dhcp_last.s_addr), 0xcb007196);
	assert_string_equal(n->uplink, "eth0");
	assert_int_equal(n->n_forwards, 3);
	assert_int_equal(n->forwards[0].proto, IPPROTO_TCP);
	assert_int_equal(n->forwards[0].port, 8080);
	assert_int_equal(n->forwards[0].dport, 80);
	assert_int_equal(n->forwards[0].line, 34);
	assert_int_equal(ntohl(n->forwards[0].dest.addr.v4.s_addr), 0xcb00710a);
	assert_int_equal(n->forwards[0].dest.prefixlen, 32);
	assert_int_equal(n->forwards[1].proto, IPPROTO_UDP);
	assert_int_equal(n->forwards[1].port, 5353);
	assert_int_equal(n->forwards[1].dport, 53);
	assert_int_equal(n->forwards[2].proto, IPPROTO_UDP);

	n = &c.nets[6];
	assert_int_equal(n->address.family, AF_INET6);
	assert_int_equal(n->address.prefixlen, 64);
	assert_int_equal(n->n_forwards, 1);
	want.family = AF_INET6;
	assert_int_equal(inet_pton(AF_INET6, "2001:db8:1::22", &want.addr.v6), 1);
	assert_memory_equal(&n->forwards[0].dest.addr.v6, &want.addr.v6, 16);
	assert_int_equal(n->forwards[0].dest.prefixlen, 128);
	netd_conf_free(&c);
}

/* address6, dhcp6 and nat6, and IPv4 and IPv6 forwards of one port (two
 * doors of the uplink) */
static void test_nat_ipv6(void **state)
{
	static const char text[] =
		NAT "address6 = 2001:db8:1::1/64\ndhcp6 = Stateful\nnat6 = routed\n"
		"forward = tcp:8080:203.0.113.10:80\nforward = tcp:8080:[2001:db8:1::10]:80\n";
	struct netd_conf a, b;
	struct in6_addr want;
	char buf[2048];

	assert_int_equal(parse(text, &a), 0);
	assert_true(a.nets[0].has_address6);
	assert_int_equal(a.nets[0].address6.family, AF_INET6);
	assert_int_equal(a.nets[0].address6.prefixlen, 64);
	assert_int_equal(inet_pton(AF_INET6, "2001:db8:1::1", &want), 1);
	assert_memory_equal(&a.nets[0].address6.addr.v6, &want, 16);
	assert_int_equal(a.nets[0].dhcp6, NAT_DHCP6_STATEFUL);
	assert_int_equal(a.nets[0].out6, NAT_OUT6_ROUTED);
	assert_int_equal(a.nets[0].n_forwards, 2);
	assert_int_equal(netd_conf_write(&a, buf, sizeof(buf)), 0);
	assert_non_null(strstr(buf, "address6 = 2001:db8:1::1/64\ndhcp6 = stateful\nnat6 = routed\n"));
	assert_int_equal(parse(buf, &b), 0);
	assert_true(netd_conf_equal(&a, &b));
	b.nets[0].dhcp6 = NAT_DHCP6_STATELESS;
	assert_false(netd_net_conf_equal(&a.nets[0], &b.nets[0]));
	b.nets[0].dhcp6 = NAT_DHCP6_STATEFUL;
	b.nets[0].out6 = NAT_OUT6_MASQUERADE;
	assert_false(netd_net_conf_equal(&a.nets[0], &b.nets[0]));
	netd_conf_free(&b);
	/* dhcp6_range: written back after nat6, part of the network's identity */
	assert_int_equal(parse(NAT "address6 = 2001:db8:1::1/64\ndhcp6 = stateful\n"
			       "dhcp6_range = 2001:db8:1::1000-2001:db8:1::1fff\n", &b), 0);
	assert_true(b.nets[0].has_dhcp6_range);
	assert_int_equal(netd_conf_write(&b, buf, sizeof(buf)), 0);
	assert_non_null(strstr(buf, "nat6 = masquerade\ndhcp6_range = 2001:db8:1::1000-2001:db8:1::1fff\n"));
	netd_conf_free(&a);
	assert_int_equal(parse(buf, &a), 0);
	assert_true(netd_conf_equal(&a, &b));
	a.nets[0].dhcp6_last.s6_addr[15] = 0xfe;
	assert_false(netd_net_conf_equal(&a.nets[0], &b.nets[0]));
	a.nets[0].has_dhcp6_range = false;
	assert_false(netd_net_conf_equal(&a.nets[0], &b.nets[0]));
	netd_conf_free(&a);
	assert_int_equal(parse(text, &a), 0);
	netd_conf_free(&b);
	/* rate_in, a default for every mode's vifs, round-trips exactly */
	assert_int_equal(parse("[xenbr0]\nmode = bridge\nphysdev = eth0\nrate_in = 10Mb/s@20ms\n", &b), 0);
	assert_int_equal(b.nets[0].rate_in.bytes_per_interval, 25000);
	assert_int_equal(b.nets[0].rate_in.interval_usecs, 20000);
	assert_int_equal(netd_conf_write(&b, buf, sizeof(buf)), 0);
	assert_non_null(strstr(buf, "rate_in = 25000,20000\n"));
	netd_conf_free(&a);
	assert_int_equal(parse(buf, &a), 0);
	assert_true(netd_conf_equal(&a, &b));
	a.nets[0].rate_in.interval_usecs = 50000;
	assert_false(netd_net_conf_equal(&a.nets[0], &b.nets[0]));
	netd_conf_free(&b);
	netd_conf_free(&a);
	assert_int_equal(parse(text, &a), 0);
	b = (struct netd_conf){ 0 };
	assert_int_equal(parse(NAT, &b), 0);
	assert_false(b.nets[0].has_address6);
	assert_int_equal(netd_conf_write(&b, buf, sizeof(buf)), 0);
	assert_null(strstr(buf, "address6"));
	assert_int_equal(b.nets[0].dhcp6, NAT_DHCP6_STATELESS);
	assert_int_equal(b.nets[0].out6, NAT_OUT6_MASQUERADE);
	netd_conf_free(&a);
	netd_conf_free(&b);
}

#define OVS "[ovsbr]\nmode = ovs\n"

static void test_ovs_errors(void **state)
{
	static const struct bad_case cases[] = {
		{ OVS "ovsdb = db.sock\n",
		  "netd.conf:3: key 'ovsdb': expected the absolute path of ovsdb-server's unix socket, got 'db.sock'" },
		{ OVS "ovsdb = tcp:127.0.0.1:6640\n", "key 'ovsdb': expected the absolute path" },
		{ OVS "ovsdb = /run/a b\n", "key 'ovsdb': path has a space or control character" },
		{ OVS "datapath_type = dpdk\n",
		  "netd.conf:3: key 'datapath_type': expected system|netdev, got 'dpdk'" },
		{ OVS "ovn = maybe\n", "key 'ovn': expected yes|no" },
		{ OVS "ovn_wait = 40\n", "key 'ovn_wait': expected seconds from 0.1 to 30" },
		{ OVS "ovn_wait = 0\n", "key 'ovn_wait': expected seconds from 0.1 to 30" },
		{ OVS "ovn_wait = nan\n", "key 'ovn_wait': expected seconds" },
		{ OVS "ovn_wait = 5s\n", "key 'ovn_wait': expected seconds" },
		/* numbers are plain decimals here too (strtod took these) */
		{ OVS "ovn_wait = 0x14\n", "key 'ovn_wait': expected seconds" },
		{ OVS "ovn_wait = 2e1\n", "key 'ovn_wait': expected seconds" },
		{ OVS "ovn_wait = +2\n", "key 'ovn_wait': expected seconds" },
		{ OVS "ovn_wait = 05\n", "key 'ovn_wait': expected seconds" },
		{ OVS "ovn_wait = 2.5.\n", "key 'ovn_wait': expected seconds" },
		{ OVS "ovn_wait = .\n", "key 'ovn_wait': expected seconds" },
		{ OVS "iface_id = {vm}\n", "key 'iface_id': unknown placeholder in '{vm}'" },
		{ OVS "iface_id = a b\n", "key 'iface_id': 'a b': only letters, digits" },
		{ OVS "physdev = eth0\n", "key 'physdev': not valid in a ovs network (only in bridge and route)" },
		{ "[xenbr0]\nmode = bridge\nphysdev = eth0\novn = yes\n",
		  "key 'ovn': not valid in a bridge network (only in ovs)" },
		{ "[ovsbr]\nmode = ovs\n[xenbr0]\nmode = bridge\nphysdev = ovsbr\n",
		  "'ovsbr' is the bridge of [ovsbr]" },
	};

	EXPECT_ERRORS(cases);
}

static void test_ovs_keys(void **state)
{
	/* seconds with an optional decimal point, digits on either side */
	static const struct {
		const char *s;
		unsigned ms;
	} waits[] = { { "0.5", 500 }, { ".5", 500 }, { "2.", 2000 }, { "30", 30000 }, { "8", 8000 } };
	struct netd_conf a, b;
	char buf[2048];

	assert_int_equal(parse(OVS, &a), 0);
	assert_int_equal(a.nets[0].mode, NETD_MODE_OVS);
	assert_string_equal(a.nets[0].ovsdb, "/var/run/openvswitch/db.sock");
	assert_string_equal(a.nets[0].datapath_type, "");
	assert_false(a.nets[0].ovn);
	assert_int_equal(a.nets[0].ovn_wait_ms, 20000);
	assert_string_equal(a.nets[0].iface_id, "xen-{uuid}-{devid}");
	assert_true(a.nets[0].antispoof);
	assert_int_equal(netd_conf_check_host(&a), 0); /* no physdev to look for */
	netd_conf_free(&a);

	for (size_t i = 0; i < sizeof(waits) / sizeof(waits[0]); i++) {
		char text[128];

		snprintf(text, sizeof(text), OVS "ovn_wait = %s\n", waits[i].s);
		assert_int_equal(parse(text, &a), 0);
		assert_int_equal(a.nets[0].ovn_wait_ms, waits[i].ms);
		netd_conf_free(&a);
	}

	assert_int_equal(parse(OVS "ovsdb = unix:/run/ovs/db.sock\ndatapath_type = netdev\n"
			       "ovn = yes\novn_wait = 2.5\niface_id = {name}.{domid}-{devid}\n", &a), 0);
	assert_string_equal(a.nets[0].ovsdb, "/run/ovs/db.sock");
	assert_int_equal(a.nets[0].ovn_wait_ms, 2500);
	assert_int_equal(netd_conf_write(&a, buf, sizeof(buf)), 0);
	assert_non_null(strstr(buf, "mode = ovs\novsdb = /run/ovs/db.sock\ndatapath_type = netdev\n"
				    "ovn = yes\novn_wait = 2.500\niface_id = {name}.{domid}-{devid}\n"));
	assert_int_equal(netd_conf_parse("written", buf, strlen(buf), &b), 0);
	assert_true(netd_conf_equal(&a, &b));
	b.nets[0].ovn_wait_ms = 3000;
	assert_false(netd_net_conf_equal(&a.nets[0], &b.nets[0]));
	netd_conf_free(&a);
	netd_conf_free(&b);
	assert_string_equal(netd_mode_name(NETD_MODE_OVS), "ovs");
}

static void test_round_trip(void **state)
{
	struct netd_conf a, b;
	char buf1[4096], buf2[4096];

	assert_int_equal(parse(full_conf, &a), 0);
	assert_int_equal(netd_conf_write(&a, buf1, sizeof(buf1)), 0);
	assert_int_equal(netd_conf_parse("written", buf1, strlen(buf1), &b), 0);
	assert_true(netd_conf_equal(&a, &b));
	/* canonical: writing the re-read model gives the same text */
	assert_int_equal(netd_conf_write(&b, buf2, sizeof(buf2)), 0);
	assert_string_equal(buf1, buf2);
	assert_non_null(strstr(buf1, "forward = tcp:2222:[2001:db8:1::22]:22\n"));
	assert_non_null(strstr(buf1, "dhcp_range = 203.0.113.100-203.0.113.150\n"));
	assert_non_null(strstr(buf1, "restore_on_exit = no\n"));

	/* equality notices a change in a single field */
	b.nets[2].metric = 7;
	assert_false(netd_conf_equal(&a, &b));
	assert_false(netd_net_conf_equal(&a.nets[2], &b.nets[2]));
	assert_true(netd_net_conf_equal(&a.nets[1], &b.nets[1]));
	netd_conf_free(&a);
	netd_conf_free(&b);

	/* the empty config round-trips too */
	assert_int_equal(parse("", &a), 0);
	assert_int_equal(netd_conf_write(&a, buf1, sizeof(buf1)), 0);
	assert_int_equal(parse(buf1, &b), 0);
	assert_true(netd_conf_equal(&a, &b));
	netd_conf_free(&a);
	netd_conf_free(&b);
}

static void test_write_errors(void **state)
{
	struct netd_conf c;
	char buf[64];

	assert_int_equal(parse(full_conf, &c), 0);
	assert_int_equal(netd_conf_write(&c, buf, sizeof(buf)), -ENOSPC);
	assert_non_null(strstr(err_msg(), "does not fit in 64 bytes"));
	assert_int_equal(netd_conf_write(&c, NULL, 0), -ENOSPC);
	netd_conf_free(&c);

	/* a model built by hand must not smuggle a section into the file */
	assert_int_equal(parse("", &c), 0);
	strcpy(c.socket, "/run/x\n[evil]");
	assert_int_equal(netd_conf_write(&c, buf, sizeof(buf)), -EINVAL);
	strcpy(c.socket, "/run/x #y");
	assert_int_equal(netd_conf_write(&c, buf, sizeof(buf)), -EINVAL);
	netd_conf_free(&c);
}

static void test_mode_name(void **state)
{
	assert_string_equal(netd_mode_name(NETD_MODE_BRIDGE), "bridge");
	assert_string_equal(netd_mode_name(NETD_MODE_ROUTE), "route");
	assert_string_equal(netd_mode_name(NETD_MODE_NAT), "nat");
}

static void test_check_host(void **state)
{
	struct netd_conf c;

	/* lo exists in every network namespace; the check only reads */
	assert_int_equal(parse("[virbr0]\nmode = nat\naddress = 203.0.113.1/24\nuplink = lo\n", &c), 0);
	assert_int_equal(netd_conf_check_host(&c), 0);
	netd_conf_free(&c);

	assert_int_equal(parse("[virbr0]\nmode = nat\naddress = 203.0.113.1/24\nuplink = lo\n"
			       "\n[xenbr0]\nmode = bridge\nphysdev = nosuchdev9\n", &c), 0);
	assert_int_equal(netd_conf_check_host(&c), -ENODEV);
	assert_string_equal(err_msg(),
			    "section [xenbr0] (netd.conf:6): physdev 'nosuchdev9' does not exist");
	netd_conf_free(&c);

	assert_int_equal(parse("[virbr0]\nmode = nat\naddress = 203.0.113.1/24\nuplink = nosuchdev9\n", &c), 0);
	assert_int_equal(netd_conf_check_host(&c), -ENODEV);
	assert_string_equal(err_msg(),
			    "section [virbr0] (netd.conf:1): uplink 'nosuchdev9' does not exist");
	netd_conf_free(&c);
}

/* Names end up in JSON (state files, replies) and logs: only printable
 * ASCII, and the bad bytes are quoted back as \xHH. */
static void test_names_printable_ascii(void **state)
{
	static const struct bad_case cases[] = {
		{ "[br\xff]\nmode = bridge\nphysdev = eth0\n",
		  "netd.conf:1: section [br\\xff]: bad network name: an interface name must be printable ASCII" },
		{ "[br\xc3\xa4]\nmode = bridge\nphysdev = eth0\n", /* valid UTF-8, still refused */
		  "netd.conf:1: section [br\\xc3\\xa4]: bad network name: an interface name must be printable ASCII" },
		{ "[xenbr0]\nmode = bridge\nphysdev = eth\x80\n",
		  "netd.conf:3: key 'physdev': bad interface name 'eth\\x80': an interface name must be printable ASCII" },
		{ "[virbr0]\nmode = nat\naddress = 203.0.113.1/24\nuplink = \xfe\xfe\n",
		  "netd.conf:4: key 'uplink': bad interface name '\\xfe\\xfe': an interface name must be printable ASCII" },
	};

	EXPECT_ERRORS(cases);
}

/* Only a regular file is a config: a FIFO would block the read for ever. */
static void test_load_not_regular(void **state)
{
	char dir[] = "/tmp/test_config_XXXXXX", fifo[64], want[128];
	struct netd_conf c;

	assert_non_null(mkdtemp(dir));
	snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	assert_int_equal(netd_conf_load(fifo, &c), -EINVAL);
	snprintf(want, sizeof(want), "%s: not a regular file (a FIFO)", fifo);
	assert_string_equal(err_msg(), want);
	assert_int_equal(netd_conf_load(dir, &c), -EINVAL);
	snprintf(want, sizeof(want), "%s: not a regular file (a directory)", dir);
	assert_string_equal(err_msg(), want);
	assert_int_equal(c.n_nets, 0);
	unlink(fifo);
	rmdir(dir);
}

/* A socket_group written in the file must exist; the default one ("netd")
 * and an empty one (root only) need not. */
static void test_check_host_group(void **state)
{
	struct netd_conf c;

	assert_int_equal(parse("[netd]\nsocket = /run/x.sock\nsocket_group = nosuchgroup9\n", &c), 0);
	assert_int_equal(c.socket_group_line, 3);
	assert_int_equal(netd_conf_check_host(&c), -ENOENT);
	assert_string_equal(err_msg(),
			    "netd.conf:3: key 'socket_group': no group 'nosuchgroup9' on this host");
	netd_conf_free(&c);

	assert_int_equal(parse("[netd]\nsocket_group = root\n", &c), 0);
	assert_int_equal(netd_conf_check_host(&c), 0);
	netd_conf_free(&c);
	assert_int_equal(parse("[netd]\nsocket_group =\n", &c), 0);
	assert_int_equal(netd_conf_check_host(&c), 0);
	netd_conf_free(&c);
	assert_int_equal(parse("[netd]\n", &c), 0);
	assert_int_equal(c.socket_group_line, 0);
	assert_int_equal(netd_conf_check_host(&c), 0);
	netd_conf_free(&c);
}

static void test_load(void **state)
{
	char path[] = "/tmp/test_config_XXXXXX";
	const char *text = "[netd]\n\n[xenbr0]\nmode = bridge\nphysdev = eth0\nstyle = fancy\n";
	struct netd_conf c;
	char want[128];
	int fd;

	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, full_conf, strlen(full_conf)), (ssize_t)strlen(full_conf));
	assert_int_equal(netd_conf_load(path, &c), 0);
	assert_string_equal(c.path, path);
	assert_int_equal(c.n_nets, 7);
	netd_conf_free(&c);

	assert_int_equal(ftruncate(fd, 0), 0);
	assert_int_equal(pwrite(fd, text, strlen(text), 0), (ssize_t)strlen(text));
	assert_int_equal(netd_conf_load(path, &c), -EINVAL);
	snprintf(want, sizeof(want), "%s:6: key 'style': expected classic|modern, got 'fancy'", path);
	assert_string_equal(err_msg(), want);
	assert_int_equal(c.n_nets, 0);
	close(fd);
	unlink(path);

	assert_int_equal(netd_conf_load("/nonexistent/netd.conf", &c), -ENOENT);
	assert_non_null(strstr(err_msg(), "/nonexistent/netd.conf"));
}

/* vifback_stats_dir: an absolute path, default /run/vifback, written back
 * only when set otherwise, and part of the config's equality. */
static void test_vifback_stats_dir(void **state)
{
	static const struct bad_case bad[] = {
		{ "[netd]\nvifback_stats_dir = run/vifback\n",
		  "netd.conf:2: key 'vifback_stats_dir': expected an absolute path, got 'run/vifback'" },
	};
	struct netd_conf a, b;
	char buf[1024];

	EXPECT_ERRORS(bad);
	assert_int_equal(parse("[netd]\n", &a), 0);
	assert_string_equal(a.vifback_stats_dir, "/run/vifback");
	assert_int_equal(netd_conf_write(&a, buf, sizeof(buf)), 0);
	assert_null(strstr(buf, "vifback_stats_dir"));
	netd_conf_free(&a);
	assert_int_equal(parse("[netd]\nvifback_stats_dir = /var/run/vb\n", &a), 0);
	assert_int_equal(netd_conf_write(&a, buf, sizeof(buf)), 0);
	assert_non_null(strstr(buf, "vifback_stats_dir = /var/run/vb\n"));
	assert_int_equal(parse(buf, &b), 0);
	assert_true(netd_conf_equal(&a, &b));
	strcpy(b.vifback_stats_dir, "/run/vifback");
	assert_false(netd_conf_equal(&a, &b));
	netd_conf_free(&a);
	netd_conf_free(&b);
}

/* dnsmasq_user and dnsmasq_dir: defaults root and /run/netd-dnsmasq,
 * written back only when set otherwise, part of the equality; a user name
 * as useradd takes it (whether it exists is netd_conf_check_host's). */
static void test_dnsmasq_user_and_dir(void **state)
{
	static const struct bad_case bad[] = {
		{ "[netd]\ndnsmasq_dir = run/dm\n",
		  "netd.conf:2: key 'dnsmasq_dir': expected an absolute path, got 'run/dm'" },
		{ "[netd]\ndnsmasq_user = dns masq\n",
		  "netd.conf:2: key 'dnsmasq_user': bad user name 'dns masq'" },
		{ "[netd]\ndnsmasq_user = -x\n", "netd.conf:2: key 'dnsmasq_user': bad user name '-x'" },
		{ "[netd]\ndnsmasq_user = abcdefghijklmnopqrstuvwxyzabcdefg\n",
		  "netd.conf:2: key 'dnsmasq_user': user name is 33 bytes, 1..32 allowed" },
	};
	struct netd_conf a, b;
	char buf[1024];

	EXPECT_ERRORS(bad);
	assert_int_equal(parse("[netd]\n", &a), 0);
	assert_string_equal(a.dnsmasq_user, "root");
	assert_string_equal(a.dnsmasq_dir, "/run/netd-dnsmasq");
	assert_int_equal(netd_conf_write(&a, buf, sizeof(buf)), 0);
	assert_null(strstr(buf, "dnsmasq_"));
	netd_conf_free(&a);
	assert_int_equal(parse("[netd]\ndnsmasq_user = dnsmasq\ndnsmasq_dir = /srv/dm\n", &a), 0);
	assert_int_equal(netd_conf_write(&a, buf, sizeof(buf)), 0);
	assert_non_null(strstr(buf, "dnsmasq_user = dnsmasq\ndnsmasq_dir = /srv/dm\n"));
	assert_int_equal(parse(buf, &b), 0);
	assert_true(netd_conf_equal(&a, &b));
	strcpy(b.dnsmasq_user, "root");
	assert_false(netd_conf_equal(&a, &b));
	netd_conf_free(&a);
	netd_conf_free(&b);
}

/* xenstore_watch: a [netd] yes/no key, default no, written back, and part
 * of the config's equality. */
static void test_xenstore_watch(void **state)
{
	static const struct bad_case bad[] = {
		{ "[netd]\nxenstore_watch = maybe\n",
		  "netd.conf:2: key 'xenstore_watch': expected yes|no|true|false|on|off|1|0, got 'maybe'" },
		{ "[netd]\nxenstore_watch =\n",
		  "netd.conf:2: key 'xenstore_watch': expected yes|no|true|false|on|off|1|0, got ''" },
		{ "[netd]\nxenstore_watch = yes\nxenstore_watch = no\n",
		  "netd.conf:3: key 'xenstore_watch': duplicate key (first set at line 2)" },
		{ "[netd]\nxenstore-watch = yes\n",
		  "netd.conf:2: key 'xenstore-watch': unknown key in [netd] (expected socket, state_dir, restore_on_exit, socket_group, xenstore_watch, metrics_file, metrics_interval, vifback_stats_dir, dnsmasq_user or dnsmasq_dir)" },
		{ "[xenbr0]\nmode = bridge\nphysdev = eth0\nxenstore_watch = yes\n",
		  "netd.conf:4: key 'xenstore_watch': unknown key" },
	};
	struct netd_conf a, b;
	char buf[1024];

	EXPECT_ERRORS(bad);
	assert_int_equal(parse("[netd]\nsocket = /run/x.sock\n", &a), 0);
	assert_false(a.xenstore_watch);
	netd_conf_free(&a);
	assert_int_equal(parse("[netd]\nxenstore_watch = On\n", &a), 0);
	assert_true(a.xenstore_watch);
	assert_int_equal(netd_conf_write(&a, buf, sizeof(buf)), 0);
	assert_non_null(strstr(buf, "socket_group = netd\nxenstore_watch = yes\n"));
	assert_int_equal(parse(buf, &b), 0);
	assert_true(netd_conf_equal(&a, &b));
	b.xenstore_watch = false;
	assert_false(netd_conf_equal(&a, &b));
	netd_conf_free(&a);
	netd_conf_free(&b);
}

/* antispoof: a yes/no key in every mode, default yes, written back, and a
 * change of it alone is a change of the network. */
static void test_antispoof(void **state)
{
	static const struct bad_case bad[] = {
		{ "[xenbr0]\nmode = bridge\nphysdev = eth0\nantispoof = maybe\n",
		  "netd.conf:4: key 'antispoof': expected yes|no|true|false|on|off|1|0, got 'maybe'" },
		{ "[xenbr0]\nmode = bridge\nphysdev = eth0\nantispoof =\n",
		  "netd.conf:4: key 'antispoof': expected yes|no|true|false|on|off|1|0, got ''" },
		{ "[routed]\nantispoof = no\nmode = route\nphysdev = eth0\nantispoof = yes\n",
		  "netd.conf:5: key 'antispoof': duplicate key (first set at line 2)" },
		{ "[netd]\nantispoof = no\n",
		  "netd.conf:2: key 'antispoof': unknown key in [netd]" },
		{ "[x]\nmode = bridge\nphysdev = eth0\nanti_spoof = no\n",
		  "netd.conf:4: key 'anti_spoof': unknown key (expected mode, physdev, gatewaydev, style, metric, gatewayip, address, dhcp_range, uplink, forward, antispoof, address6, dhcp6, dhcp6_range, nat6, ovsdb, datapath_type, ovn, ovn_wait, iface_id, datapath, dpdk_socket, rate_in or flowtable)" },
	};
	const struct netd_net_conf *n;
	struct netd_conf a, b;
	char buf1[2048], buf2[2048];

	EXPECT_ERRORS(bad);

	assert_int_equal(parse("[xenbr0]\nmode = bridge\nphysdev = eth0\n"
			       "[routed]\nmode = route\nphysdev = eth0\n" NAT, &a), 0);
	for (size_t i = 0; i < a.n_nets; i++)
		assert_true(a.nets[i].antispoof);
	netd_conf_free(&a);

	assert_int_equal(parse("[xenbr0]\nmode = bridge\nphysdev = eth0\nantispoof = no\n"
			       "[routed]\nantispoof = Off\nmode = route\nphysdev = eth0\n"
			       NAT "antispoof = 0\n"
			       "[xenbr1]\nmode = bridge\nphysdev = eth1\nantispoof = yes\n", &a), 0);
	assert_int_equal(a.n_nets, 4);
	for (size_t i = 0; i < 3; i++)
		assert_false(a.nets[i].antispoof);
	n = netd_conf_find(&a, "xenbr1");
	assert_non_null(n);
	assert_true(n->antispoof);

	/* canonical form spells it out; the round trip keeps it */
	assert_int_equal(netd_conf_write(&a, buf1, sizeof(buf1)), 0);
	assert_non_null(strstr(buf1, "[routed]\nmode = route\nphysdev = eth0\nmetric = 2\nantispoof = no\n"));
	assert_non_null(strstr(buf1, "[xenbr1]\nmode = bridge\nphysdev = eth1\nstyle = classic\nantispoof = yes\n"));
	assert_int_equal(parse(buf1, &b), 0);
	assert_true(netd_conf_equal(&a, &b));
	assert_int_equal(netd_conf_write(&b, buf2, sizeof(buf2)), 0);
	assert_string_equal(buf1, buf2);

	/* a reload that only flips antispoof restarts the network */
	b.nets[3].antispoof = false;
	assert_false(netd_net_conf_equal(&a.nets[3], &b.nets[3]));
	assert_false(netd_conf_equal(&a, &b));
	assert_true(netd_net_conf_equal(&a.nets[2], &b.nets[2]));
	netd_conf_free(&a);
	netd_conf_free(&b);
}

/* datapath: kernel (default) or dpdk in a bridge network; a dpdk network
 * has no physdev or style (dpswitch's NIC ports are its uplinks) and a
 * dpdk_socket, /run/dpswitch/<name>.sock unless set; written back and
 * compared like the other keys. */
static void test_datapath(void **state)
{
	static const struct bad_case bad[] = {
		{ "[dps0]\nmode = bridge\ndatapath = vpp\n",
		  "netd.conf:3: key 'datapath': expected kernel|dpdk, got 'vpp'" },
		{ "[dps0]\nmode = bridge\ndatapath = dpdk\nphysdev = eth0\n",
		  "netd.conf:4: key 'physdev': not used with datapath = dpdk (dpswitch's NIC ports are the uplinks)" },
		{ "[dps0]\nmode = bridge\ndatapath = dpdk\nstyle = modern\n",
		  "netd.conf:4: key 'style': not used with datapath = dpdk (there is no kernel bridge)" },
		{ "[xenbr0]\nmode = bridge\nphysdev = eth0\ndpdk_socket = /run/d.sock\n",
		  "netd.conf:4: key 'dpdk_socket': only with datapath = dpdk" },
		{ "[dps0]\nmode = bridge\ndatapath = dpdk\ndpdk_socket = run/d.sock\n",
		  "netd.conf:4: key 'dpdk_socket': expected an absolute path, got 'run/d.sock'" },
		{ "[r]\nmode = route\nphysdev = eth0\ndatapath = dpdk\n",
		  "netd.conf:4: key 'datapath': not valid in a route network (only in bridge)" },
		{ "[xenbr0]\nmode = bridge\n",
		  "netd.conf:1: section [xenbr0]: missing key 'physdev' (required in a bridge network)" },
	};
	struct netd_conf a, b;
	char buf1[2048], buf2[2048];

	EXPECT_ERRORS(bad);
	assert_int_equal(parse("[dps0]\nmode = bridge\ndatapath = dpdk\n"
			       "[dps1]\nmode = bridge\ndatapath = DPDK\ndpdk_socket = /run/x/1.sock\n"
			       "[xenbr0]\nmode = bridge\nphysdev = eth0\ndatapath = kernel\n", &a), 0);
	assert_int_equal(a.nets[0].datapath, NETD_DP_DPDK);
	assert_string_equal(a.nets[0].dpdk_socket, "/run/dpswitch/dps0.sock");
	assert_string_equal(a.nets[1].dpdk_socket, "/run/x/1.sock");
	assert_int_equal(a.nets[2].datapath, NETD_DP_KERNEL);
	assert_int_equal(netd_conf_write(&a, buf1, sizeof(buf1)), 0);
	assert_non_null(strstr(buf1, "[dps0]\nmode = bridge\ndatapath = dpdk\n"
				     "dpdk_socket = /run/dpswitch/dps0.sock\nantispoof = yes\n"));
	assert_int_equal(parse(buf1, &b), 0);
	assert_true(netd_conf_equal(&a, &b));
	assert_int_equal(netd_conf_write(&b, buf2, sizeof(buf2)), 0);
	assert_string_equal(buf1, buf2);
	b.nets[1].dpdk_socket[5] = 'y';
	assert_false(netd_net_conf_equal(&a.nets[1], &b.nets[1]));
	netd_conf_free(&a);
	netd_conf_free(&b);
}

/* flowtable: a yes/no key of nat networks only, default no, written back
 * only when set (files from before the key print as they did), and a
 * change of it alone is a change of the network. */
static void test_flowtable(void **state)
{
	static const struct bad_case bad[] = {
		{ NAT "flowtable = fast\n",
		  "netd.conf:5: key 'flowtable': expected yes|no|true|false|on|off|1|0, got 'fast'" },
		{ "[xenbr0]\nmode = bridge\nphysdev = eth0\nflowtable = yes\n",
		  "netd.conf:4: key 'flowtable': not valid in a bridge network (only in nat)" },
		{ "[routed]\nmode = route\nphysdev = eth0\nflowtable = yes\n",
		  "netd.conf:4: key 'flowtable': not valid in a route network (only in nat)" },
	};
	struct netd_conf a, b;
	char buf1[2048], buf2[2048];

	(void)state;
	EXPECT_ERRORS(bad);

	assert_int_equal(parse(NAT, &a), 0);
	assert_false(a.nets[0].flowtable);
	assert_int_equal(netd_conf_write(&a, buf1, sizeof(buf1)), 0);
	assert_null(strstr(buf1, "flowtable"));
	netd_conf_free(&a);

	assert_int_equal(parse(NAT "flowtable = yes\n", &a), 0);
	assert_true(a.nets[0].flowtable);
	assert_int_equal(netd_conf_write(&a, buf1, sizeof(buf1)), 0);
	assert_non_null(strstr(buf1, "uplink = eth0\nflowtable = yes\nantispoof = yes\n"));
	assert_int_equal(parse(buf1, &b), 0);
	assert_true(netd_conf_equal(&a, &b));
	assert_int_equal(netd_conf_write(&b, buf2, sizeof(buf2)), 0);
	assert_string_equal(buf1, buf2);
	b.nets[0].flowtable = false;
	assert_false(netd_net_conf_equal(&a.nets[0], &b.nets[0]));
	netd_conf_free(&a);
	netd_conf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_syntax_errors),
		cmocka_unit_test(test_flowtable),
		cmocka_unit_test(test_section_errors),
		cmocka_unit_test(test_netd_errors),
		cmocka_unit_test(test_bridge_errors),
		cmocka_unit_test(test_route_errors),
		cmocka_unit_test(test_nat_errors),
		cmocka_unit_test(test_cross_network_errors),
		cmocka_unit_test(test_empty_and_defaults),
		cmocka_unit_test(test_net_defaults),
		cmocka_unit_test(test_booleans),
		cmocka_unit_test(test_full_config),
		cmocka_unit_test(test_nat_ipv6),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_write_errors),
		cmocka_unit_test(test_mode_name),
		cmocka_unit_test(test_check_host),
		cmocka_unit_test(test_check_host_group),
		cmocka_unit_test(test_names_printable_ascii),
		cmocka_unit_test(test_load_not_regular),
		cmocka_unit_test(test_load),
		cmocka_unit_test(test_antispoof),
		cmocka_unit_test(test_datapath),
		cmocka_unit_test(test_xenstore_watch),
		cmocka_unit_test(test_vifback_stats_dir),
		cmocka_unit_test(test_dnsmasq_user_and_dir),
		cmocka_unit_test(test_ovs_errors),
		cmocka_unit_test(test_ovs_keys),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
