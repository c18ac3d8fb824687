/* config: netd.conf parsed into the pure model of config.h.
 *
 * libinih splits the text into sections and key/value pairs, but the inih we
 * link (Debian's 55) gives handlers no line numbers, knows only ';' as an
 * inline comment, joins indented lines onto the previous value and says
 * nothing about empty sections. None of that fits netd.conf, so inih reads
 * through conf_reader(), which cuts the text into lines itself: it counts
 * them, strips comments and blanks, rejects garbage and hands inih only clean
 * "[name]" and "key=value" lines. Every error then carries the exact line,
 * and inih's build options never see the raw text.
 *
 * A network section is collected first and interpreted at its end, because
 * which keys are valid depends on `mode`, which may come last. Checks across
 * networks run as each section ends, against the ones before it. */
#include "netd/config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <ifaddrs.h>
#include <pwd.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/dec.h"
#include "lib/err.h"
#include "lib/fwd_spec.h"
#include "lib/textbuf.h"

#define CONF_MAX_NETS 4096	/* keeps the pairwise checks cheap */
#define CONF_MAX_SIZE (1 << 20)
#define TOKEN_MAX 64		/* longest raw text quoted back in a message */
#define ADDR_STR 64		/* INET6_ADDRSTRLEN plus "/128" */
#define NAT_MIN_PREFIX 8	/* shorter would swallow most of the Internet */

enum net_key {
	K_MODE, K_PHYSDEV, K_STYLE, K_METRIC, K_GATEWAYIP,
	K_ADDRESS, K_DHCP_RANGE, K_UPLINK, K_FORWARD, K_ANTISPOOF, K_ADDRESS6, K_DHCP6,
	K_NAT6, K_OVSDB, K_DATAPATH, K_OVN, K_OVN_WAIT, K_IFACE_ID, K_DP, K_DPDK_SOCKET,
	K_RATE_IN, K_FLOWTABLE, K_DHCP6_RANGE, K_COUNT
};

#define M_BRIDGE (1u << NETD_MODE_BRIDGE)
#define M_ROUTE (1u << NETD_MODE_ROUTE)
#define M_NAT (1u << NETD_MODE_NAT)
#define M_OVS (1u << NETD_MODE_OVS)

struct net_key_def {
	const char *name;
	enum net_key key;
	unsigned modes; /* modes in which the key is valid */
};

static const struct net_key_def net_keys[] = {
	{ "mode", K_MODE, M_BRIDGE | M_ROUTE | M_NAT | M_OVS },
	{ "physdev", K_PHYSDEV, M_BRIDGE | M_ROUTE },
	/* what Xen's vif-route calls it */
	{ "gatewaydev", K_PHYSDEV, M_ROUTE },
	{ "style", K_STYLE, M_BRIDGE },
	{ "metric", K_METRIC, M_ROUTE },
	{ "gatewayip", K_GATEWAYIP, M_ROUTE },
	{ "address", K_ADDRESS, M_NAT },
	{ "dhcp_range", K_DHCP_RANGE, M_NAT },
	{ "uplink", K_UPLINK, M_NAT },
	{ "forward", K_FORWARD, M_NAT },
	{ "antispoof", K_ANTISPOOF, M_BRIDGE | M_ROUTE | M_NAT | M_OVS },
	{ "address6", K_ADDRESS6, M_NAT },
	{ "dhcp6", K_DHCP6, M_NAT },
	{ "dhcp6_range", K_DHCP6_RANGE, M_NAT },
	{ "nat6", K_NAT6, M_NAT },
	{ "ovsdb", K_OVSDB, M_OVS },
	{ "datapath_type", K_DATAPATH, M_OVS },
	{ "ovn", K_OVN, M_OVS },
	{ "ovn_wait", K_OVN_WAIT, M_OVS },
	{ "iface_id", K_IFACE_ID, M_OVS },
	{ "datapath", K_DP, M_BRIDGE },
	{ "dpdk_socket", K_DPDK_SOCKET, M_BRIDGE },
	{ "rate_in", K_RATE_IN, M_BRIDGE | M_ROUTE | M_NAT | M_OVS },
	{ "flowtable", K_FLOWTABLE, M_NAT },
};

enum netd_key { NK_SOCKET, NK_STATE_DIR, NK_RESTORE, NK_GROUP, NK_XSWATCH, NK_METRICS_FILE,
	       NK_METRICS_INTERVAL, NK_VIFBACK_STATS, NK_DNSMASQ_USER, NK_DNSMASQ_DIR, NK_COUNT };

static const char *const netd_keys[NK_COUNT] = {
	[NK_SOCKET] = "socket",
	[NK_STATE_DIR] = "state_dir",
	[NK_RESTORE] = "restore_on_exit",
	[NK_GROUP] = "socket_group",
	[NK_XSWATCH] = "xenstore_watch",
	[NK_METRICS_FILE] = "metrics_file",
	[NK_METRICS_INTERVAL] = "metrics_interval",
	[NK_VIFBACK_STATS] = "vifback_stats_dir",
	[NK_DNSMASQ_USER] = "dnsmasq_user",
	[NK_DNSMASQ_DIR] = "dnsmasq_dir",
};

/* One key of the open network section, kept until the section ends. */
struct raw_kv {
	const struct net_key_def *def;
	char *val;
	int line;
};

enum sect_kind { SECT_NONE, SECT_NETD, SECT_NET };

struct parser {
	const char *file;
	const char *pos, *end; /* text not read yet */
	int lineno;
	int rc; /* first error; parsing stops there */
	struct netd_conf *conf;
	size_t cap_nets;
	enum sect_kind sect; /* SECT_NET: the last of conf->nets is open */
	int netd_line; /* header line of [netd], 0 before it */
	int netd_seen[NK_COUNT]; /* line of each [netd] key */
	struct raw_kv *kv;
	size_t n_kv, cap_kv;
	int seen[K_COUNT]; /* line of each key of the open network */
};

/* ---- messages ---- */

static int tok_len(const char *s, size_t n)
{
	return (int)(n < TOKEN_MAX ? n : TOKEN_MAX);
}

/* "file:line: why": errors not tied to a key. */
__attribute__((format(printf, 3, 4)))
static int line_err(const struct parser *ps, int line, const char *fmt, ...)
{
	char why[ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	return err_set(-EINVAL, "%s:%d: %s", ps->file, line, why);
}

/* "file:line: key 'k': why": the shape of almost every config error. */
__attribute__((format(printf, 4, 5)))
static int key_err(const struct parser *ps, int line, const char *key,
		   const char *fmt, ...)
{
	char why[ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	return err_set(-EINVAL, "%s:%d: key '%s': %s", ps->file, line, key, why);
}

static struct netd_net_conf *cur_net(struct parser *ps)
{
	return &ps->conf->nets[ps->conf->n_nets - 1];
}

/* ---- value parsers: pure, no messages ---- */

/* The kernel's dev_valid_name(), plus no control characters, which would
 * only garble logs. Returns why the name is bad, or NULL. */
static const char *ifname_invalid(const char *s, size_t n)
{
	size_t i;

	if (!n)
		return "an interface name cannot be empty";
	if (n >= IFNAMSIZ)
		return "an interface name has at most 15 bytes";
	if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
		return "'.' and '..' are not interface names";
	/* "physdev =#x" would parse, but could never be written back */
	if (s[0] == '#' || s[0] == ';')
		return "an interface name cannot start with '#' or ';'";
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '/' || c == ':')
			return "an interface name cannot contain '/' or ':'";
		if (c <= ' ' || c == 0x7f)
			return "an interface name cannot contain whitespace or control characters";
		/* The kernel would take any byte, but names end up in JSON
		 * (state files, replies), which must be UTF-8, and in logs. */
		if (c >= 0x80)
			return "an interface name must be printable ASCII";
	}
	return NULL;
}

/* A name quoted back in a message, bytes outside printable ASCII as \xHH:
 * the message must stay one readable line of valid text. */
static const char *name_quote(const char *s, size_t n, char *buf, size_t len)
{
	size_t used = 0;

	for (size_t i = 0; i < n && i < TOKEN_MAX && used + 5 < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < ' ' || c >= 0x7f)
			used += (size_t)snprintf(buf + used, len - used, "\\x%02x", c);
		else
			buf[used++] = (char)c;
	}
	buf[used] = '\0';
	return buf;
}

static bool parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = { "yes", "true", "1", "on" };
	static const char *const no[] = { "no", "false", "0", "off" };
	size_t i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (!strcasecmp(s, yes[i]) || !strcasecmp(s, no[i])) {
			*out = !strcasecmp(s, yes[i]);
			return true;
		}
	}
	return false;
}

static bool parse_u32(const char *s, uint32_t *out)
{
	uint64_t v;

	if (dec_parse(s, strlen(s), UINT32_MAX, &v) < 0)
		return false;
	*out = (uint32_t)v;
	return true;
}

static unsigned family_bits(int family)
{
	return family == AF_INET ? 32 : 128;
}

/* An address of the family its spelling suggests, as a host prefix. */
static bool parse_ip(const char *s, struct netd_cidr *out)
{
	memset(out, 0, sizeof(*out));
	out->family = strchr(s, ':') ? AF_INET6 : AF_INET;
	out->prefixlen = (uint8_t)family_bits(out->family);
	return inet_pton(out->family, s, &out->addr) == 1;
}

/* ADDRESS/PREFIX: 0, or -EINVAL with err_msg() saying which half is wrong
 * and why (the prefix length as every number: "024" refused, saying so). */
static int parse_cidr(const char *s, struct netd_cidr *out)
{
	char addr[ADDR_STR];
	const char *slash = strchr(s, '/');
	uint64_t plen;
	int rc;

	if (!slash)
		return err_set(-EINVAL, "no /PREFIX");
	if ((size_t)(slash - s) >= sizeof(addr))
		return err_set(-EINVAL, "'%.*s' is not an IP address", (int)(slash - s), s);
	memcpy(addr, s, (size_t)(slash - s));
	addr[slash - s] = '\0';
	if (!parse_ip(addr, out))
		return err_set(-EINVAL, "'%s' is not an IP address", addr);
	rc = dec_arg("prefix length", NULL, slash + 1, 0, family_bits(out->family), &plen);
	if (rc)
		return rc;
	out->prefixlen = (uint8_t)plen;
	return 0;
}

/* ---- address arithmetic ---- */

static const uint8_t *cidr_bytes(const struct netd_cidr *c)
{
	return c->family == AF_INET ? (const uint8_t *)&c->addr.v4 :
				      c->addr.v6.s6_addr;
}

static bool bit_at(const uint8_t *a, unsigned i)
{
	return a[i / 8] & (0x80 >> (i % 8));
}

/* The first plen bits of a and b agree. */
static bool prefix_equal(const uint8_t *a, const uint8_t *b, unsigned plen)
{
	unsigned i;

	for (i = 0; i < plen; i++)
		if (bit_at(a, i) != bit_at(b, i))
			return false;
	return true;
}

/* Every bit of the host part of addr (relative to net's prefix) equals one. */
static bool host_bits_all(const struct netd_cidr *net, const struct netd_cidr *addr,
			  bool one)
{
	unsigned i;

	for (i = net->prefixlen; i < family_bits(net->family); i++)
		if (bit_at(cidr_bytes(addr), i) != one)
			return false;
	return true;
}

static bool cidr_contains(const struct netd_cidr *net, const struct netd_cidr *addr)
{
	return net->family == addr->family &&
	       prefix_equal(cidr_bytes(net), cidr_bytes(addr), net->prefixlen);
}

static bool cidr_overlap(const struct netd_cidr *a, const struct netd_cidr *b)
{
	unsigned plen = a->prefixlen < b->prefixlen ? a->prefixlen : b->prefixlen;

	return a->family == b->family &&
	       prefix_equal(cidr_bytes(a), cidr_bytes(b), plen);
}

static bool addr_equal(const struct netd_cidr *a, const struct netd_cidr *b)
{
	return a->family == b->family &&
	       !memcmp(cidr_bytes(a), cidr_bytes(b), family_bits(a->family) / 8);
}

/* 0/8, loopback, multicast and above are never a gateway or a guest. */
static bool is_unicast(const struct netd_cidr *c)
{
	const uint8_t *b = cidr_bytes(c);

	if (c->family == AF_INET)
		return b[0] != 0 && b[0] != 127 && b[0] < 224;
	return !IN6_IS_ADDR_UNSPECIFIED(&c->addr.v6) &&
	       !IN6_IS_ADDR_LOOPBACK(&c->addr.v6) &&
	       !IN6_IS_ADDR_MULTICAST(&c->addr.v6);
}

/* The subnet's network address (v4) or subnet-router anycast (v6), or the
 * v4 broadcast: not a usable host address inside the subnet. */
static bool is_reserved_in(const struct netd_cidr *net, const struct netd_cidr *a)
{
	if (host_bits_all(net, a, false))
		return true;
	return net->family == AF_INET && host_bits_all(net, a, true);
}

static const char *addr_str(const struct netd_cidr *c, char *buf)
{
	if (!inet_ntop(c->family, &c->addr, buf, ADDR_STR))
		snprintf(buf, ADDR_STR, "?");
	return buf;
}

static const char *cidr_str(const struct netd_cidr *c, char *buf)
{
	char a[ADDR_STR];

	/* An address string is at most INET6_ADDRSTRLEN (46), so "/128" fits. */
	snprintf(buf, ADDR_STR, "%.50s/%u", addr_str(c, a), c->prefixlen);
	return buf;
}

/* "203.0.113.0/24" for 203.0.113.1/24: how messages name a subnet. */
static const char *subnet_str(const struct netd_cidr *c, char *buf)
{
	struct netd_cidr n = *c;
	uint8_t *b = c->family == AF_INET ? (uint8_t *)&n.addr.v4 : n.addr.v6.s6_addr;
	unsigned i;

	for (i = c->prefixlen; i < family_bits(c->family); i++)
		b[i / 8] &= (uint8_t)~(0x80 >> (i % 8));
	return cidr_str(&n, buf);
}

static struct netd_cidr v4_cidr(struct in_addr a)
{
	struct netd_cidr c = { .family = AF_INET, .prefixlen = 32 };

	c.addr.v4 = a;
	return c;
}

/* ---- [netd] ---- */

static int netd_path(struct parser *ps, const char *key, const char *val, char *dst)
{
	size_t n = strlen(val);

	if (val[0] != '/')
		return key_err(ps, ps->lineno, key, "expected an absolute path, got '%s'", val);
	if (n >= NETD_PATH_MAX)
		return key_err(ps, ps->lineno, key, "path is %zu bytes, at most %d allowed",
			       n, NETD_PATH_MAX - 1);
	memcpy(dst, val, n + 1);
	return 0;
}

/* Empty means root only. Names as useradd(8) takes them, so a typo like
 * "netd users" fails here rather than at chown time. */
static int netd_group(struct parser *ps, const char *key, const char *val)
{
	struct netd_conf *conf = ps->conf;
	size_t n = strlen(val), i;

	if (n >= sizeof(conf->socket_group))
		return key_err(ps, ps->lineno, key, "group name is %zu bytes, at most %zu allowed",
			       n, sizeof(conf->socket_group) - 1);
	for (i = 0; i < n; i++) {
		char c = val[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '.' ||
		      (c == '-' && i > 0)))
			return key_err(ps, ps->lineno, key, "bad group name '%s'", val);
	}
	memcpy(conf->socket_group, val, n + 1);
	conf->socket_group_line = ps->lineno;
	return 0;
}

/* A user name as useradd(8) takes it; whether it exists is the host's
 * business (netd_conf_check_host). */
static int netd_user(struct parser *ps, const char *key, const char *val)
{
	struct netd_conf *conf = ps->conf;
	size_t n = strlen(val), i;

	if (!n || n >= sizeof(conf->dnsmasq_user))
		return key_err(ps, ps->lineno, key, "user name is %zu bytes, 1..%zu allowed", n,
			       sizeof(conf->dnsmasq_user) - 1);
	for (i = 0; i < n; i++) {
		char c = val[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '.' || (c == '-' && i > 0)))
			return key_err(ps, ps->lineno, key, "bad user name '%s'", val);
	}
	memcpy(conf->dnsmasq_user, val, n + 1);
	conf->dnsmasq_user_line = ps->lineno;
	return 0;
}

static int netd_key(struct parser *ps, const char *key, const char *val)
{
	struct netd_conf *conf = ps->conf;
	int k;

	for (k = 0; k < NK_COUNT; k++)
		if (!strcmp(key, netd_keys[k]))
			break;
	if (k == NK_COUNT)
		return key_err(ps, ps->lineno, key,
			       "unknown key in [netd] (expected socket, state_dir, restore_on_exit, socket_group, xenstore_watch, metrics_file, metrics_interval, vifback_stats_dir, dnsmasq_user or dnsmasq_dir)");
	if (ps->netd_seen[k])
		return key_err(ps, ps->lineno, key, "duplicate key (first set at line %d)",
			       ps->netd_seen[k]);
	ps->netd_seen[k] = ps->lineno;

	switch (k) {
	case NK_SOCKET:
		return netd_path(ps, key, val, conf->socket);
	case NK_STATE_DIR:
		return netd_path(ps, key, val, conf->state_dir);
	case NK_RESTORE:
		if (!parse_bool(val, &conf->restore_on_exit))
			return key_err(ps, ps->lineno, key,
				       "expected yes|no|true|false|on|off|1|0, got '%s'", val);
		return 0;
	case NK_XSWATCH:
		if (!parse_bool(val, &conf->xenstore_watch))
			return key_err(ps, ps->lineno, key,
				       "expected yes|no|true|false|on|off|1|0, got '%s'", val);
		return 0;
	case NK_METRICS_FILE:
		return netd_path(ps, key, val, conf->metrics_file);
	case NK_VIFBACK_STATS:
		return netd_path(ps, key, val, conf->vifback_stats_dir);
	case NK_DNSMASQ_DIR:
		return netd_path(ps, key, val, conf->dnsmasq_dir);
	case NK_DNSMASQ_USER:
		return netd_user(ps, key, val);
	case NK_METRICS_INTERVAL: {
		uint32_t v;

		if (!parse_u32(val, &v) || v < 1 || v > NETD_METRICS_INTERVAL_MAX)
			return key_err(ps, ps->lineno, key, "expected seconds 1..%d, got '%s'%s",
				       NETD_METRICS_INTERVAL_MAX, val, dec_why(val, strlen(val)));
		conf->metrics_interval = v;
		return 0;
	}
	default:
		return netd_group(ps, key, val);
	}
}

/* ---- network keys, as the handler sees them ---- */

static const struct net_key_def *net_key_lookup(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(net_keys) / sizeof(net_keys[0]); i++)
		if (!strcmp(net_keys[i].name, name))
			return &net_keys[i];
	return NULL;
}

static const struct raw_kv *kv_find(const struct parser *ps, enum net_key key)
{
	size_t i;

	for (i = 0; i < ps->n_kv; i++)
		if (ps->kv[i].def->key == key)
			return &ps->kv[i];
	return NULL;
}

static void kv_reset(struct parser *ps)
{
	size_t i;

	for (i = 0; i < ps->n_kv; i++)
		free(ps->kv[i].val);
	ps->n_kv = 0;
	memset(ps->seen, 0, sizeof(ps->seen));
}

/* Unknown keys and duplicates are caught here, in file order; whether a key
 * suits the mode waits for the end of the section. */
static int net_key_add(struct parser *ps, const char *key, const char *val)
{
	const struct net_key_def *def = net_key_lookup(key);
	const struct raw_kv *first;
	struct raw_kv *kv;

	if (!def)
		return key_err(ps, ps->lineno, key,
			       "unknown key (expected mode, physdev, gatewaydev, style, metric, gatewayip, address, dhcp_range, uplink, forward, antispoof, address6, dhcp6, dhcp6_range, nat6, ovsdb, datapath_type, ovn, ovn_wait, iface_id, datapath, dpdk_socket, rate_in or flowtable)");
	if (ps->seen[def->key] && def->key != K_FORWARD) {
		first = kv_find(ps, def->key);
		if (strcmp(first->def->name, key))
			return key_err(ps, ps->lineno, key,
				       "'%s' is already set at line %d (%s and %s are the same key)",
				       first->def->name, first->line, key, first->def->name);
		return key_err(ps, ps->lineno, key, "duplicate key (first set at line %d)",
			       first->line);
	}
	if (ps->n_kv == ps->cap_kv) {
		size_t cap = ps->cap_kv ? ps->cap_kv * 2 : 16;

		kv = realloc(ps->kv, cap * sizeof(*kv));
		if (!kv)
			return err_set(-ENOMEM, "out of memory");
		ps->kv = kv;
		ps->cap_kv = cap;
	}
	kv = &ps->kv[ps->n_kv];
	kv->val = strdup(val);
	if (!kv->val)
		return err_set(-ENOMEM, "out of memory");
	kv->def = def;
	kv->line = ps->lineno;
	ps->n_kv++;
	ps->seen[def->key] = ps->lineno;
	return 0;
}

static int conf_handler(void *user, const char *section, const char *key,
			const char *val)
{
	struct parser *ps = user;
	int rc;

	switch (ps->sect) {
	case SECT_NONE:
		rc = key_err(ps, ps->lineno, key, "outside any section (put it under [netd] or a network)");
		break;
	case SECT_NETD:
		rc = netd_key(ps, key, val);
		break;
	default:
		rc = net_key_add(ps, key, val);
		break;
	}
	if (rc < 0) {
		ps->rc = rc;
		return 0;
	}
	return 1;
}

/* ---- network keys, interpreted at the end of the section ---- */

static int key_ifname(struct parser *ps, const struct raw_kv *kv, char *dst)
{
	const char *why = ifname_invalid(kv->val, strlen(kv->val));
	char q[4 * TOKEN_MAX + 1];

	if (why)
		return key_err(ps, kv->line, kv->def->name, "bad interface name '%s': %s",
			       name_quote(kv->val, strlen(kv->val), q, sizeof(q)), why);
	strcpy(dst, kv->val);
	return 0;
}

static int key_mode(struct parser *ps, const struct raw_kv *kv, enum netd_mode *mode)
{
	static const enum netd_mode modes[] = { NETD_MODE_BRIDGE, NETD_MODE_ROUTE, NETD_MODE_NAT,
						NETD_MODE_OVS };
	size_t i;

	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		if (!strcasecmp(kv->val, netd_mode_name(modes[i]))) {
			*mode = modes[i];
			return 0;
		}
	}
	return key_err(ps, kv->line, "mode", "expected bridge|route|nat|ovs, got '%s'", kv->val);
}

static int key_style(struct parser *ps, const struct raw_kv *kv, enum br_style *style)
{
	if (!strcasecmp(kv->val, "classic"))
		*style = BR_STYLE_CLASSIC;
	else if (!strcasecmp(kv->val, "modern"))
		*style = BR_STYLE_MODERN;
	else
		return key_err(ps, kv->line, "style", "expected classic|modern, got '%s'", kv->val);
	return 0;
}

static int key_dp_kind(struct parser *ps, const struct raw_kv *kv, enum netd_datapath *dp)
{
	if (!strcasecmp(kv->val, "kernel"))
		*dp = NETD_DP_KERNEL;
	else if (!strcasecmp(kv->val, "dpdk"))
		*dp = NETD_DP_DPDK;
	else
		return key_err(ps, kv->line, "datapath", "expected kernel|dpdk, got '%s'", kv->val);
	return 0;
}

static int key_bool(struct parser *ps, const struct raw_kv *kv, bool *out)
{
	if (!parse_bool(kv->val, out))
		return key_err(ps, kv->line, kv->def->name,
			       "expected yes|no|true|false|on|off|1|0, got '%s'", kv->val);
	return 0;
}

static int key_metric(struct parser *ps, const struct raw_kv *kv, unsigned *metric)
{
	uint32_t v;

	if (!parse_u32(kv->val, &v))
		return key_err(ps, kv->line, "metric", "expected 0..4294967295, got '%s'%s", kv->val,
			       dec_why(kv->val, strlen(kv->val)));
	*metric = v;
	return 0;
}

/* An absolute path to ovsdb-server's unix socket ("unix:" tolerated, as
 * OVS writes it); TCP/SSL remotes are not netd's business: Dom0's own
 * ovsdb-server is always local. */
static int key_ovsdb(struct parser *ps, const struct raw_kv *kv, char *dst, size_t len)
{
	const char *p = kv->val;

	if (!strncmp(p, "unix:", 5))
		p += 5;
	if (p[0] != '/')
		return key_err(ps, kv->line, "ovsdb",
			       "expected the absolute path of ovsdb-server's unix socket, got '%s'",
			       kv->val);
	if (strlen(p) >= len)
		return key_err(ps, kv->line, "ovsdb", "path longer than %zu characters", len - 1);
	for (const char *c = p; *c; c++)
		if (*c < 0x21 || *c > 0x7e)
			return key_err(ps, kv->line, "ovsdb", "path has a space or control character");
	strcpy(dst, p);
	return 0;
}

static int key_datapath(struct parser *ps, const struct raw_kv *kv, char *dst, size_t len)
{
	if (strcmp(kv->val, "system") && strcmp(kv->val, "netdev"))
		return key_err(ps, kv->line, "datapath_type", "expected system|netdev, got '%s'",
			       kv->val);
	snprintf(dst, len, "%s", kv->val);
	return 0;
}

/* Digits with a decimal point or none ("2.5", ".5", "2."), those before
 * it as every number here (dec_parse: no leading zero but "0" itself):
 * strtod alone also took a sign, space, an exponent and hex ("0x14"). */
static bool plain_decimal(const char *s)
{
	size_t n = strspn(s, "0123456789"), f = 0;
	uint64_t v;

	if (n && dec_parse(s, n, UINT64_MAX, &v) == -EINVAL)
		return false;
	if (s[n] == '.')
		f = strspn(s + n + 1, "0123456789") + 1;
	return (n || f > 1) && s[n + f] == '\0'; /* a digit at least */
}

/* Seconds, decimals allowed ("2.5"), 0.1 to 30: libxl waits 40 s in all. */
static int key_ovn_wait(struct parser *ps, const struct raw_kv *kv, unsigned *ms)
{
	/* strtod reads all of a plain decimal; one too long to be a double
	 * is out of range either way (HUGE_VAL, or below 0.1) */
	double s = plain_decimal(kv->val) ? strtod(kv->val, NULL) : 0;

	if (!(s >= 0.1) || s * 1000 > NETD_OVN_WAIT_MAX_MS)
		return key_err(ps, kv->line, "ovn_wait",
			       "expected seconds from 0.1 to %u (libxl waits 40 s for a plug), got '%s'",
			       NETD_OVN_WAIT_MAX_MS / 1000, kv->val);
	*ms = (unsigned)(s * 1000 + 0.5);
	return 0;
}

/* Placeholders {uuid} {domid} {devid} {name}; other text must be
 * letters, digits and "-_.:@": the result goes to OVN as a logical port
 * name and into logs. */
static int key_iface_id(struct parser *ps, const struct raw_kv *kv, char *dst, size_t len)
{
	static const char *const ph[] = { "{uuid}", "{domid}", "{devid}", "{name}" };
	const char *p = kv->val;

	if (!*p || strlen(p) >= len)
		return key_err(ps, kv->line, "iface_id", "expected 1 to %zu characters", len - 1);
	while (*p) {
		size_t i, n = 0;

		if (*p == '{') {
			for (i = 0; i < sizeof(ph) / sizeof(ph[0]); i++)
				if (!strncmp(p, ph[i], strlen(ph[i])))
					n = strlen(ph[i]);
			if (!n)
				return key_err(ps, kv->line, "iface_id",
					       "unknown placeholder in '%s' (expected {uuid}, {domid}, {devid} or {name})",
					       kv->val);
			p += n;
			continue;
		}
		if (!isalnum((unsigned char)*p) && !strchr("-_.:@", *p))
			return key_err(ps, kv->line, "iface_id",
				       "'%s': only letters, digits, -_.:@ and placeholders", kv->val);
		p++;
	}
	strcpy(dst, kv->val);
	return 0;
}

static int key_gatewayip(struct parser *ps, const struct raw_kv *kv,
			 struct netd_net_conf *net)
{
	if (!parse_ip(kv->val, &net->gatewayip))
		return key_err(ps, kv->line, "gatewayip",
			       "expected an IPv4 or IPv6 address, got '%s'", kv->val);
	if (!is_unicast(&net->gatewayip))
		return key_err(ps, kv->line, "gatewayip", "'%s' is not a unicast address", kv->val);
	net->has_gatewayip = true;
	return 0;
}

/* The gateway's own address with the subnet's prefix. The subnet must leave
 * room for guests, and the address must be a host in it. */
static int key_address(struct parser *ps, const struct raw_kv *kv, struct netd_cidr *c)
{
	unsigned max;

	if (parse_cidr(kv->val, c))
		return key_err(ps, kv->line, "address",
			       "expected ADDRESS/PREFIX (e.g. 203.0.113.1/24), got '%s': %s", kv->val,
			       err_msg());
	max = c->family == AF_INET ? 30 : 126;
	if (c->prefixlen < NAT_MIN_PREFIX || c->prefixlen > max)
		return key_err(ps, kv->line, "address",
			       "prefix length in '%s' must be %d..%u", kv->val, NAT_MIN_PREFIX, max);
	if (!is_unicast(c))
		return key_err(ps, kv->line, "address", "'%s' is not a unicast address", kv->val);
	if (is_reserved_in(c, c))
		return key_err(ps, kv->line, "address",
			       "'%s' is the network or broadcast address of its subnet; give the gateway's host address",
			       kv->val);
	return 0;
}

/* The guests' IPv6 subnet is a /64: router advertisements announce it for
 * SLAAC, and a guest without ip= is bound to the EUI-64 address of its MAC
 * in it, whether it takes that by SLAAC or by DHCPv6. */
static int key_address6(struct parser *ps, const struct raw_kv *kv, struct netd_net_conf *net)
{
	struct netd_cidr *c = &net->address6;
	int rc = parse_cidr(kv->val, c);

	if (rc == 0 && c->family != AF_INET6)
		rc = err_set(-EINVAL, "an IPv4 address");
	if (rc)
		return key_err(ps, kv->line, "address6",
			       "expected IPV6ADDRESS/64 (e.g. 2001:db8:1::1/64), got '%s': %s",
			       kv->val, err_msg());
	if (c->prefixlen != 64)
		return key_err(ps, kv->line, "address6",
			       "prefix length in '%s' must be 64 (router advertisements and SLAAC need a /64)",
			       kv->val);
	if (!is_unicast(c) || IN6_IS_ADDR_LINKLOCAL(&c->addr.v6) ||
	    IN6_IS_ADDR_V4MAPPED(&c->addr.v6))
		return key_err(ps, kv->line, "address6", "'%s' is not a global unicast address",
			       kv->val);
	if (is_reserved_in(c, c))
		return key_err(ps, kv->line, "address6",
			       "'%s' is the subnet-router anycast address of its subnet; give the gateway's host address",
			       kv->val);
	net->has_address6 = true;
	return 0;
}

/* xl's rate grammar (or the xenstore "bytes,usecs" form netd -n -v writes),
 * as a vif's rate_in takes it. */
static int key_rate_in(struct parser *ps, const struct raw_kv *kv, struct vif_rate *out)
{
	struct vif_rate r;
	int rc = vif_rate_parse(kv->val, &r);

	if (rc) {
		char m[ERR_MSG_MAX];

		/* "rate: '10Xb/s': expected ..." */
		snprintf(m, sizeof(m), "%s", err_msg());
		return key_err(ps, kv->line, "rate_in", "%s", strncmp(m, "rate: ", 6) ? m : m + 6);
	}
	*out = r;
	return 0;
}

static int key_dhcp6(struct parser *ps, const struct raw_kv *kv, enum nat_dhcp6 *out)
{
	if (!strcasecmp(kv->val, "stateless"))
		*out = NAT_DHCP6_STATELESS;
	else if (!strcasecmp(kv->val, "stateful"))
		*out = NAT_DHCP6_STATEFUL;
	else
		return key_err(ps, kv->line, "dhcp6", "expected stateless|stateful, got '%s'", kv->val);
	return 0;
}

static int key_nat6(struct parser *ps, const struct raw_kv *kv, enum nat_out6 *out)
{
	if (!strcasecmp(kv->val, "masquerade"))
		*out = NAT_OUT6_MASQUERADE;
	else if (!strcasecmp(kv->val, "routed"))
		*out = NAT_OUT6_ROUTED;
	else
		return key_err(ps, kv->line, "nat6", "expected masquerade|routed, got '%s'", kv->val);
	return 0;
}

/* "FIRST-LAST", two addresses of family af: 0, or -1 if it is not that. */
static int addr_range(const char *val, int af, void *first, void *last)
{
	char buf[2 * ADDR_STR];
	char *dash;

	if (strlen(val) >= sizeof(buf))
		return -1;
	strcpy(buf, val);
	dash = strchr(buf, '-');
	if (!dash)
		return -1;
	*dash = '\0';
	return inet_pton(af, buf, first) == 1 && inet_pton(af, dash + 1, last) == 1 ? 0 : -1;
}

static int key_dhcp_range(struct parser *ps, const struct raw_kv *kv,
			  struct netd_net_conf *net)
{
	if (addr_range(kv->val, AF_INET, &net->dhcp_first, &net->dhcp_last))
		return key_err(ps, kv->line, "dhcp_range",
			       "expected FIRST-LAST IPv4 addresses (e.g. 203.0.113.100-203.0.113.150), got '%s'",
			       kv->val);
	net->has_dhcp_range = true;
	return 0;
}

static int key_dhcp6_range(struct parser *ps, const struct raw_kv *kv,
			   struct netd_net_conf *net)
{
	if (addr_range(kv->val, AF_INET6, &net->dhcp6_first, &net->dhcp6_last))
		return key_err(ps, kv->line, "dhcp6_range",
			       "expected FIRST-LAST IPv6 addresses (e.g. 2001:db8:1::1000-2001:db8:1::1fff), got '%s'",
			       kv->val);
	net->has_dhcp6_range = true;
	return 0;
}

/* lib/fwd_spec's reading, the one forward-add uses: 0, or -EINVAL and err_msg(). */
static int forward_parse(const char *s, struct netd_forward *f)
{
	struct fwd_spec fs;
	int rc = fwd_spec_parse(s, false, &fs);

	if (rc < 0)
		return rc;
	*f = (struct netd_forward){ .proto = fs.proto, .port = fs.port, .dport = fs.dport };
	f->dest.family = fs.family;
	f->dest.prefixlen = (uint8_t)family_bits(fs.family);
	memcpy(&f->dest.addr, &fs.dest, fs.family == AF_INET6 ? 16 : 4);
	return 0;
}

static int key_forward(struct parser *ps, const struct raw_kv *kv,
		       struct netd_net_conf *net)
{
	struct netd_forward *f = &net->forwards[net->n_forwards];

	if (forward_parse(kv->val, f) < 0)
		return key_err(ps, kv->line, "forward", "%s, got '%s'", err_msg(), kv->val);
	f->line = kv->line;
	net->n_forwards++;
	return 0;
}

static int net_set_mode(struct parser *ps, struct netd_net_conf *net)
{
	const struct raw_kv *kv = kv_find(ps, K_MODE);

	if (!kv)
		return line_err(ps, net->line,
				"section [%s]: missing key 'mode' (expected bridge|route|nat|ovs)",
				net->name);
	return key_mode(ps, kv, &net->mode);
}

/* "bridge and route": which modes accept a key, for the message. */
static void modes_str(unsigned modes, char *buf, size_t len)
{
	static const enum netd_mode all[] = { NETD_MODE_BRIDGE, NETD_MODE_ROUTE, NETD_MODE_NAT,
					      NETD_MODE_OVS };
	size_t i, used = 0;

	buf[0] = '\0';
	for (i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		if (!(modes & (1u << all[i])))
			continue;
		used += (size_t)snprintf(buf + used, len - used, "%s%s",
					 used ? " and " : "", netd_mode_name(all[i]));
	}
}

static int net_apply_key(struct parser *ps, struct netd_net_conf *net,
			 const struct raw_kv *kv)
{
	char modes[64];

	if (!(kv->def->modes & (1u << net->mode))) {
		modes_str(kv->def->modes, modes, sizeof(modes));
		return key_err(ps, kv->line, kv->def->name,
			       "not valid in a %s network (only in %s)",
			       netd_mode_name(net->mode), modes);
	}
	switch (kv->def->key) {
	case K_PHYSDEV:
		return key_ifname(ps, kv, net->physdev);
	case K_STYLE:
		return key_style(ps, kv, &net->style);
	case K_METRIC:
		return key_metric(ps, kv, &net->metric);
	case K_GATEWAYIP:
		return key_gatewayip(ps, kv, net);
	case K_ADDRESS:
		return key_address(ps, kv, &net->address);
	case K_DHCP_RANGE:
		return key_dhcp_range(ps, kv, net);
	case K_UPLINK:
		return key_ifname(ps, kv, net->uplink);
	case K_FORWARD:
		return key_forward(ps, kv, net);
	case K_ANTISPOOF:
		return key_bool(ps, kv, &net->antispoof);
	case K_ADDRESS6:
		return key_address6(ps, kv, net);
	case K_DHCP6:
		return key_dhcp6(ps, kv, &net->dhcp6);
	case K_NAT6:
		return key_nat6(ps, kv, &net->out6);
	case K_DHCP6_RANGE:
		return key_dhcp6_range(ps, kv, net);
	case K_OVSDB:
		return key_ovsdb(ps, kv, net->ovsdb, sizeof(net->ovsdb));
	case K_DATAPATH:
		return key_datapath(ps, kv, net->datapath_type, sizeof(net->datapath_type));
	case K_OVN:
		return key_bool(ps, kv, &net->ovn);
	case K_OVN_WAIT:
		return key_ovn_wait(ps, kv, &net->ovn_wait_ms);
	case K_IFACE_ID:
		return key_iface_id(ps, kv, net->iface_id, sizeof(net->iface_id));
	case K_DP:
		return key_dp_kind(ps, kv, &net->datapath);
	case K_DPDK_SOCKET:
		return netd_path(ps, kv->def->name, kv->val, net->dpdk_socket);
	case K_RATE_IN:
		return key_rate_in(ps, kv, &net->rate_in);
	case K_FLOWTABLE:
		return key_bool(ps, kv, &net->flowtable);
	default:
		return 0; /* K_MODE, done first */
	}
}

static int net_apply_keys(struct parser *ps, struct netd_net_conf *net)
{
	size_t i, n_fwd = 0;
	int rc;

	/* all forwards of a network arrive here at once: size the array once */
	for (i = 0; i < ps->n_kv; i++)
		n_fwd += ps->kv[i].def->key == K_FORWARD;
	if (n_fwd && net->mode == NETD_MODE_NAT) {
		net->forwards = calloc(n_fwd, sizeof(*net->forwards));
		if (!net->forwards)
			return err_set(-ENOMEM, "out of memory");
	}
	for (i = 0; i < ps->n_kv; i++) {
		rc = net_apply_key(ps, net, &ps->kv[i]);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int net_require(struct parser *ps, const struct netd_net_conf *net,
		       enum net_key key, const char *name)
{
	if (ps->seen[key])
		return 0;
	return line_err(ps, net->line, "section [%s]: missing key '%s' (required in a %s network)",
			net->name, name, netd_mode_name(net->mode));
}

static int net_check_required(struct parser *ps, const struct netd_net_conf *net)
{
	int rc;

	if (net->mode == NETD_MODE_OVS)
		return 0;
	if (net->mode == NETD_MODE_BRIDGE && net->datapath == NETD_DP_DPDK)
		return 0; /* dpswitch's NIC ports are its uplinks */
	if (net->mode != NETD_MODE_NAT)
		return net_require(ps, net, K_PHYSDEV, "physdev");
	rc = net_require(ps, net, K_ADDRESS, "address");
	if (!rc)
		rc = net_require(ps, net, K_UPLINK, "uplink");
	return rc;
}

/* Classic style renames physdev to "p<physdev>", which must still fit. */
static int bridge_check(struct parser *ps, const struct netd_net_conf *net)
{
	int line = ps->seen[K_PHYSDEV];

	if (net->datapath == NETD_DP_DPDK) {
		/* no kernel bridge: the keys that shape one have nothing to do */
		if (ps->seen[K_PHYSDEV])
			return key_err(ps, line, "physdev",
				       "not used with datapath = dpdk (dpswitch's NIC ports are the uplinks)");
		if (ps->seen[K_STYLE])
			return key_err(ps, ps->seen[K_STYLE], "style",
				       "not used with datapath = dpdk (there is no kernel bridge)");
		return 0;
	}
	if (ps->seen[K_DPDK_SOCKET])
		return key_err(ps, ps->seen[K_DPDK_SOCKET], "dpdk_socket",
			       "only with datapath = dpdk");

	if (!strcmp(net->physdev, net->name))
		return key_err(ps, line, "physdev", "'%s' is the bridge itself", net->physdev);
	if (net->style == BR_STYLE_CLASSIC && strlen(net->physdev) > IFNAMSIZ - 2)
		return key_err(ps, line, "physdev",
			       "'%s' is too long for style classic, which renames it to 'p%s' (at most 14 bytes, or use style modern)",
			       net->physdev, net->physdev);
	return 0;
}

/* Guests lease from the range, so it must hold only usable hosts of the
 * subnet and never the gateway itself. */
static int dhcp_check(struct parser *ps, const struct netd_net_conf *net)
{
	const struct netd_cidr *sn = &net->address;
	struct netd_cidr first = v4_cidr(net->dhcp_first), last = v4_cidr(net->dhcp_last);
	char a[ADDR_STR], b[ADDR_STR], s[ADDR_STR];
	int line = ps->seen[K_DHCP_RANGE];
	uint32_t gw;

	if (sn->family != AF_INET)
		return key_err(ps, line, "dhcp_range", "needs an IPv4 address, but address is %s",
			       cidr_str(sn, s));
	subnet_str(sn, s);
	if (!cidr_contains(sn, &first) || !cidr_contains(sn, &last))
		return key_err(ps, line, "dhcp_range", "%s-%s is not inside %s",
			       addr_str(&first, a), addr_str(&last, b), s);
	if (ntohl(first.addr.v4.s_addr) > ntohl(last.addr.v4.s_addr))
		return key_err(ps, line, "dhcp_range", "first address %s is above last %s",
			       addr_str(&first, a), addr_str(&last, b));
	if (is_reserved_in(sn, &first) || is_reserved_in(sn, &last))
		return key_err(ps, line, "dhcp_range",
			       "%s-%s includes the network or broadcast address of %s",
			       addr_str(&first, a), addr_str(&last, b), s);
	gw = ntohl(sn->addr.v4.s_addr);
	if (gw >= ntohl(first.addr.v4.s_addr) && gw <= ntohl(last.addr.v4.s_addr))
		return key_err(ps, line, "dhcp_range", "%s-%s includes the gateway address %s",
			       addr_str(&first, a), addr_str(&last, b), addr_str(sn, s));
	return 0;
}

static struct netd_cidr v6_cidr(const struct in6_addr *a)
{
	struct netd_cidr c = { .family = AF_INET6, .prefixlen = 128 };

	c.addr.v6 = *a;
	return c;
}

/* The same for DHCPv6's range: inside the /64, not its gateway nor its
 * subnet-router anycast address, and only where DHCPv6 hands out
 * addresses at all (stateful). */
static int dhcp6_check(struct parser *ps, const struct netd_net_conf *net)
{
	const struct netd_cidr *sn = &net->address6;
	struct netd_cidr first = v6_cidr(&net->dhcp6_first), last = v6_cidr(&net->dhcp6_last);
	char a[ADDR_STR], b[ADDR_STR], s[ADDR_STR];
	int line = ps->seen[K_DHCP6_RANGE];

	if (net->dhcp6 != NAT_DHCP6_STATEFUL)
		return key_err(ps, line, "dhcp6_range",
			       "needs dhcp6 = stateful (with stateless DHCPv6 guests form their own addresses)");
	subnet_str(sn, s);
	if (!cidr_contains(sn, &first) || !cidr_contains(sn, &last))
		return key_err(ps, line, "dhcp6_range", "%s-%s is not inside %s",
			       addr_str(&first, a), addr_str(&last, b), s);
	if (memcmp(&net->dhcp6_first, &net->dhcp6_last, 16) > 0)
		return key_err(ps, line, "dhcp6_range", "first address %s is above last %s",
			       addr_str(&first, a), addr_str(&last, b));
	if (is_reserved_in(sn, &first))
		return key_err(ps, line, "dhcp6_range",
			       "%s-%s includes the subnet-router anycast address of %s",
			       addr_str(&first, a), addr_str(&last, b), s);
	if (memcmp(&sn->addr.v6, &net->dhcp6_first, 16) >= 0 &&
	    memcmp(&sn->addr.v6, &net->dhcp6_last, 16) <= 0)
		return key_err(ps, line, "dhcp6_range", "%s-%s includes the gateway address %s",
			       addr_str(&first, a), addr_str(&last, b), addr_str(sn, s));
	return 0;
}

static int forward_check(struct parser *ps, const struct netd_net_conf *net,
			 const struct netd_forward *f)
{
	const struct netd_cidr *sn = &net->address;
	char a[ADDR_STR], s[ADDR_STR];

	/* an IPv6 destination is a guest of the IPv6 subnet, when there is one */
	if (f->dest.family == AF_INET6 && net->has_address6)
		sn = &net->address6;
	addr_str(&f->dest, a);
	subnet_str(sn, s);
	if (!cidr_contains(sn, &f->dest))
		return key_err(ps, f->line, "forward", "destination %s is not inside %s", a, s);
	if (addr_equal(sn, &f->dest) || is_reserved_in(sn, &f->dest))
		return key_err(ps, f->line, "forward",
			       "destination %s is the gateway, network or broadcast address of %s",
			       a, s);
	return 0;
}

static int nat_check(struct parser *ps, const struct netd_net_conf *net)
{
	size_t i;
	int rc;

	if (!strcmp(net->uplink, net->name))
		return key_err(ps, ps->seen[K_UPLINK], "uplink", "'%s' is the bridge itself",
			       net->uplink);
	if (!net->has_address6 && (ps->seen[K_DHCP6] || ps->seen[K_NAT6] ||
				   ps->seen[K_DHCP6_RANGE])) {
		enum net_key k = ps->seen[K_DHCP6] ? K_DHCP6 : ps->seen[K_NAT6] ? K_NAT6 :
										 K_DHCP6_RANGE;

		return key_err(ps, ps->seen[k], k == K_DHCP6 ? "dhcp6" : k == K_NAT6 ? "nat6" :
			       "dhcp6_range", "needs address6 (the guests' IPv6 subnet)");
	}
	if (net->has_address6 && net->address.family == AF_INET6)
		return key_err(ps, ps->seen[K_ADDRESS6], "address6",
			       "address is IPv6 already; give address an IPv4 subnet");
	if (net->has_dhcp_range) {
		rc = dhcp_check(ps, net);
		if (rc < 0)
			return rc;
	}
	if (net->has_dhcp6_range) {
		rc = dhcp6_check(ps, net);
		if (rc < 0)
			return rc;
	}
	for (i = 0; i < net->n_forwards; i++) {
		rc = forward_check(ps, net, &net->forwards[i]);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* bridge and nat networks create a bridge named after the section */
static bool makes_bridge(const struct netd_net_conf *net)
{
	return net->mode != NETD_MODE_ROUTE;
}

/* What one earlier network o rules out for net: a port on two bridges, a
 * bridge as a port of another, and NAT subnets that overlap (a guest
 * address would be ambiguous). */
static int net_check_pair(struct parser *ps, const struct netd_net_conf *net,
			  const struct netd_net_conf *o)
{
	char a[ADDR_STR], b[ADDR_STR];
	/* bridges with a physdev (a dpdk network has none, nor a kernel bridge) */
	bool br = net->mode == NETD_MODE_BRIDGE && net->datapath == NETD_DP_KERNEL;
	bool obr = o->mode == NETD_MODE_BRIDGE && o->datapath == NETD_DP_KERNEL;

	if (br && obr && !strcmp(net->physdev, o->physdev))
		return key_err(ps, ps->seen[K_PHYSDEV], "physdev",
			       "'%s' is already the physdev of [%s] (line %d)",
			       net->physdev, o->name, o->line);
	if (br && makes_bridge(o) && !strcmp(net->physdev, o->name))
		return key_err(ps, ps->seen[K_PHYSDEV], "physdev",
			       "'%s' is the bridge of [%s] (line %d); a bridge cannot be a port of another",
			       net->physdev, o->name, o->line);
	if (obr && makes_bridge(net) && !strcmp(o->physdev, net->name))
		return line_err(ps, net->line,
				"section [%s]: bridge name '%s' is the physdev of [%s] (line %d)",
				net->name, net->name, o->name, o->line);
	if (net->mode == NETD_MODE_NAT && o->mode == NETD_MODE_NAT &&
	    cidr_overlap(&net->address, &o->address))
		return key_err(ps, ps->seen[K_ADDRESS], "address",
			       "%s overlaps %s of [%s] (line %d)", subnet_str(&net->address, a),
			       subnet_str(&o->address, b), o->name, o->line);
	if (net->mode == NETD_MODE_NAT && o->mode == NETD_MODE_NAT && net->has_address6 &&
	    o->has_address6 && cidr_overlap(&net->address6, &o->address6))
		return key_err(ps, ps->seen[K_ADDRESS6], "address6",
			       "%s overlaps %s of [%s] (line %d)", subnet_str(&net->address6, a),
			       subnet_str(&o->address6, b), o->name, o->line);
	return 0;
}

static int net_check(struct parser *ps, const struct netd_net_conf *net)
{
	size_t i;
	int rc = 0;

	if (net->mode == NETD_MODE_BRIDGE)
		rc = bridge_check(ps, net);
	else if (net->mode == NETD_MODE_NAT)
		rc = nat_check(ps, net);
	for (i = 0; !rc && i + 1 < ps->conf->n_nets; i++)
		rc = net_check_pair(ps, net, &ps->conf->nets[i]);
	return rc;
}

static int net_finish(struct parser *ps)
{
	struct netd_net_conf *net = cur_net(ps);
	int rc;

	rc = net_set_mode(ps, net);
	if (!rc)
		rc = net_apply_keys(ps, net);
	if (!rc && net->datapath == NETD_DP_DPDK && !net->dpdk_socket[0])
		snprintf(net->dpdk_socket, sizeof(net->dpdk_socket), "/run/dpswitch/%s.sock",
			 net->name);
	if (!rc)
		rc = net_check_required(ps, net);
	if (!rc)
		rc = net_check(ps, net);
	kv_reset(ps);
	return rc;
}

struct fwd_ref {
	const struct netd_net_conf *net;
	const struct netd_forward *f;
};

static int fwd_ref_cmp(const void *x, const void *y)
{
	const struct fwd_ref *a = x, *b = y;
	int c = strcmp(a->net->uplink, b->net->uplink);

	if (c)
		return c;
	if (a->f->dest.family != b->f->dest.family)
		return a->f->dest.family < b->f->dest.family ? -1 : 1;
	if (a->f->proto != b->f->proto)
		return a->f->proto < b->f->proto ? -1 : 1;
	if (a->f->port != b->f->port)
		return a->f->port < b->f->port ? -1 : 1;
	return (a->f->line > b->f->line) - (a->f->line < b->f->line);
}

static bool fwd_ref_clash(const struct fwd_ref *a, const struct fwd_ref *b)
{
	return !strcmp(a->net->uplink, b->net->uplink) && a->f->proto == b->f->proto &&
	       a->f->port == b->f->port && a->f->dest.family == b->f->dest.family;
}

/* One outside port on one uplink leads to one guest only, whichever network
 * forwards it (per family: the uplink's IPv4 and IPv6 addresses are two
 * doors). Sorting keeps a file with thousands of forwards at n log n;
 * the clash reported is the one with the earliest second line. */
static int forwards_check(struct parser *ps)
{
	const struct netd_conf *conf = ps->conf;
	const struct fwd_ref *bad = NULL, *first = NULL, *group;
	struct fwd_ref *refs;
	size_t i, j, n = 0;
	int rc = 0;

	for (i = 0; i < conf->n_nets; i++)
		n += conf->nets[i].n_forwards;
	if (n < 2)
		return 0;
	refs = malloc(n * sizeof(*refs));
	if (!refs)
		return err_set(-ENOMEM, "out of memory");
	for (i = 0, n = 0; i < conf->n_nets; i++)
		for (j = 0; j < conf->nets[i].n_forwards; j++)
			refs[n++] = (struct fwd_ref){ &conf->nets[i], &conf->nets[i].forwards[j] };
	qsort(refs, n, sizeof(*refs), fwd_ref_cmp);
	for (i = 1, group = refs; i < n; i++) {
		if (!fwd_ref_clash(group, &refs[i])) {
			group = &refs[i];
			continue;
		}
		if (!bad || refs[i].f->line < bad->f->line) {
			bad = &refs[i];
			first = group;
		}
	}
	if (bad)
		rc = key_err(ps, bad->f->line, "forward",
			     "%s%s port %u on uplink '%s' is already forwarded at line %d",
			     bad->f->dest.family == AF_INET6 ? "IPv6 " : "",
			     bad->f->proto == IPPROTO_UDP ? "udp" : "tcp", bad->f->port,
			     bad->net->uplink, first->f->line);
	free(refs);
	return rc;
}

static int section_end(struct parser *ps)
{
	int rc = ps->sect == SECT_NET ? net_finish(ps) : 0;

	ps->sect = SECT_NONE;
	return rc;
}

/* Two equal sections would be two networks with one bridge name. */
static int net_begin(struct parser *ps, const char *name)
{
	struct netd_conf *conf = ps->conf;
	struct netd_net_conf *net;
	size_t i;

	for (i = 0; i < conf->n_nets; i++)
		if (!strcmp(conf->nets[i].name, name))
			return line_err(ps, ps->lineno,
					"duplicate section [%s] (first at line %d): two networks cannot share a name",
					name, conf->nets[i].line);
	if (conf->n_nets == CONF_MAX_NETS)
		return line_err(ps, ps->lineno, "section [%s]: more than %d networks",
				name, CONF_MAX_NETS);
	if (conf->n_nets == ps->cap_nets) {
		size_t cap = ps->cap_nets ? ps->cap_nets * 2 : 4;

		net = realloc(conf->nets, cap * sizeof(*net));
		if (!net)
			return err_set(-ENOMEM, "out of memory");
		conf->nets = net;
		ps->cap_nets = cap;
	}
	net = &conf->nets[conf->n_nets++];
	memset(net, 0, sizeof(*net));
	strcpy(net->name, name);
	net->line = ps->lineno;
	net->style = BR_STYLE_CLASSIC;
	net->metric = 2;
	net->antispoof = true;
	strcpy(net->ovsdb, NETD_OVSDB_DEFAULT);
	net->ovn_wait_ms = NETD_OVN_WAIT_DEFAULT_MS;
	strcpy(net->iface_id, NETD_IFACE_ID_DEFAULT);
	ps->sect = SECT_NET;
	return 0;
}

static int section_begin(struct parser *ps, const char *name, size_t n)
{
	char buf[IFNAMSIZ], q[4 * TOKEN_MAX + 1];
	const char *why;
	int rc;

	rc = section_end(ps);
	if (rc < 0)
		return rc;
	if (n == 4 && !memcmp(name, "netd", 4)) {
		if (ps->netd_line)
			return line_err(ps, ps->lineno, "duplicate section [netd] (first at line %d)",
					ps->netd_line);
		ps->netd_line = ps->lineno;
		ps->sect = SECT_NETD;
		return 0;
	}
	why = ifname_invalid(name, n);
	if (why)
		return line_err(ps, ps->lineno, "section [%s]: bad network name: %s",
				name_quote(name, n, q, sizeof(q)), why);
	memcpy(buf, name, n);
	buf[n] = '\0';
	return net_begin(ps, buf);
}

/* ---- lines ---- */

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static void trim(const char **s, size_t *n)
{
	while (*n && is_blank(**s)) {
		(*s)++;
		(*n)--;
	}
	while (*n && is_blank((*s)[*n - 1]))
		(*n)--;
}

/* Comments start with '#' or ';' at the start of the line or after
 * whitespace, so "a#b" stays a value. Returns the length before it. */
static size_t comment_cut(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((s[i] == '#' || s[i] == ';') && (i == 0 || is_blank(s[i - 1])))
			return i;
	return n;
}

static bool is_key_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_' || c == '-';
}

/* Writes "[name]" to out for inih after opening the section. */
static int line_header(struct parser *ps, const char *s, size_t n, char *out)
{
	const char *close = memchr(s, ']', n), *name = s + 1, *rest;
	size_t nlen, rlen;
	int rc;

	if (!close)
		return line_err(ps, ps->lineno, "unterminated section header '%.*s'",
				tok_len(s, n), s);
	nlen = (size_t)(close - name);
	trim(&name, &nlen);
	rest = close + 1;
	rlen = n - (size_t)(rest - s);
	trim(&rest, &rlen);
	if (rlen && rest[0] != '#' && rest[0] != ';')
		return line_err(ps, ps->lineno, "unexpected '%.*s' after section header",
				tok_len(rest, rlen), rest);
	rc = section_begin(ps, name, nlen);
	if (rc < 0)
		return rc;
	/* a valid name is at most 15 bytes: fits any inih line */
	sprintf(out, "[%.*s]", (int)nlen, name);
	return 1;
}

/* Writes "key=value" to out for inih. */
static int line_pair(struct parser *ps, const char *s, size_t n, char *out, int size)
{
	const char *eq = memchr(s, '=', n), *key = s, *val;
	size_t klen, vlen, i;

	if (!eq)
		return line_err(ps, ps->lineno, "expected 'key = value' or '[section]', got '%.*s'",
				tok_len(s, n), s);
	klen = (size_t)(eq - s);
	val = eq + 1;
	vlen = n - klen - 1;
	trim(&key, &klen);
	trim(&val, &vlen);
	for (i = 0; i < klen && is_key_char(key[i]); i++)
		;
	if (!klen || i < klen)
		return line_err(ps, ps->lineno, "bad key '%.*s' (expected 'key = value')",
				tok_len(key, klen), key);
	/* inih's line buffer is fixed; leave it the room it asks for */
	if (klen + vlen + 4 > (size_t)size)
		return line_err(ps, ps->lineno, "key '%.*s': line too long (at most %d characters)",
				tok_len(key, klen), key, size - 4);
	sprintf(out, "%.*s=%.*s", (int)klen, key, (int)vlen, val);
	return 1;
}

/* Returns 1 with a line in out for inih, 0 for nothing to pass, or -errno. */
static int line_clean(struct parser *ps, const char *s, size_t n, char *out, int size)
{
	size_t i;

	if (n && s[n - 1] == '\r')
		n--;
	if (ps->lineno == 1 && n >= 3 && !memcmp(s, "\xef\xbb\xbf", 3)) {
		s += 3;
		n -= 3;
	}
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if ((c < ' ' && c != '\t') || c == 0x7f)
			return line_err(ps, ps->lineno, "control character 0x%02x in column %zu",
					c, i + 1);
	}
	n = comment_cut(s, n);
	trim(&s, &n);
	if (!n)
		return 0;
	if (s[0] == '[')
		return line_header(ps, s, n, out);
	return line_pair(ps, s, n, out, size);
}

/* inih's fgets(): one clean line per call, NULL at the end or an error. */
static char *conf_reader(char *out, int size, void *stream)
{
	struct parser *ps = stream;
	const char *s, *nl;
	size_t n;
	int rc;

	while (!ps->rc && ps->pos < ps->end) {
		s = ps->pos;
		nl = memchr(s, '\n', (size_t)(ps->end - s));
		n = nl ? (size_t)(nl - s) : (size_t)(ps->end - s);
		ps->pos = nl ? nl + 1 : ps->end;
		ps->lineno++;
		if (size < 32) {
			ps->rc = err_set(-EINVAL, "inih line buffer too small (%d)", size);
			break;
		}
		rc = line_clean(ps, s, n, out, size);
		if (rc < 0)
			ps->rc = rc;
		else if (rc > 0)
			return out;
	}
	return NULL;
}

/* ---- the whole file ---- */

static int conf_init(struct netd_conf *conf, const char *name)
{
	memset(conf, 0, sizeof(*conf));
	snprintf(conf->path, sizeof(conf->path), "%s", name);
	strcpy(conf->socket, NETD_DEFAULT_SOCKET);
	strcpy(conf->state_dir, NETD_DEFAULT_STATE);
	strcpy(conf->vifback_stats_dir, NETD_DEFAULT_VIFBACK_STATS);
	strcpy(conf->dnsmasq_user, NETD_DEFAULT_DNSMASQ_USER);
	strcpy(conf->dnsmasq_dir, NETD_DEFAULT_DNSMASQ_DIR);
	strcpy(conf->socket_group, "netd");
	conf->restore_on_exit = true;
	conf->metrics_interval = NETD_METRICS_INTERVAL_DEFAULT;
	return 0;
}

int netd_conf_parse(const char *name, const char *text, size_t len, struct netd_conf *out)
{
	struct netd_conf conf;
	struct parser ps = {
		.file = name ? name : "<config>",
		.pos = text,
		.end = text ? text + len : text,
		.conf = &conf,
	};
	int rc;

	memset(out, 0, sizeof(*out));
	conf_init(&conf, ps.file);
	rc = ini_parse_stream(conf_reader, &ps, conf_handler, &ps);
	if (!ps.rc && rc)
		ps.rc = rc < 0 ? err_set(-ENOMEM, "%s: inih failed (%d)", ps.file, rc) :
				 line_err(&ps, rc, "syntax error");
	if (!ps.rc)
		ps.rc = section_end(&ps);
	if (!ps.rc)
		ps.rc = forwards_check(&ps);
	kv_reset(&ps);
	free(ps.kv);
	if (ps.rc < 0) {
		netd_conf_free(&conf);
		return ps.rc;
	}
	*out = conf;
	return 0;
}

static int read_all(const char *path, FILE *f, char **text, size_t *len)
{
	size_t cap = 4096, n = 0;
	char *buf = NULL, *nbuf;

	for (;;) {
		nbuf = realloc(buf, cap);
		if (!nbuf) {
			free(buf);
			return err_set(-ENOMEM, "%s: out of memory", path);
		}
		buf = nbuf;
		n += fread(buf + n, 1, cap - n, f);
		if (n < cap)
			break;
		if (cap >= CONF_MAX_SIZE) {
			free(buf);
			return err_set(-EFBIG, "%s: larger than %d bytes", path, CONF_MAX_SIZE);
		}
		cap *= 2;
	}
	if (ferror(f)) {
		free(buf);
		return err_set(-EIO, "%s: read error", path);
	}
	*text = buf;
	*len = n;
	return 0;
}

static const char *file_kind(mode_t m)
{
	if (S_ISDIR(m))
		return "a directory";
	if (S_ISFIFO(m))
		return "a FIFO";
	if (S_ISSOCK(m))
		return "a socket";
	if (S_ISCHR(m) || S_ISBLK(m))
		return "a device";
	return "not a file";
}

int netd_conf_load(const char *path, struct netd_conf *out)
{
	char *text = NULL;
	size_t len = 0;
	struct stat st;
	FILE *f;
	int fd, rc;

	memset(out, 0, sizeof(*out));
	if (strlen(path) >= sizeof(out->path))
		return err_set(-ENAMETOOLONG, "%s: path too long", path);
	/* O_NONBLOCK: opening a FIFO would otherwise wait for a writer for ever. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		rc = -errno;
		return err_set(rc, "%s: %s", path, strerror(-rc));
	}
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		close(fd);
		return err_set(rc, "%s: %s", path, strerror(-rc));
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return err_set(-EINVAL, "%s: not a regular file (%s)", path, file_kind(st.st_mode));
	}
	f = fdopen(fd, "r");
	if (!f) {
		rc = -errno;
		close(fd);
		return err_set(rc, "%s: %s", path, strerror(-rc));
	}
	rc = read_all(path, f, &text, &len);
	fclose(f);
	if (rc < 0)
		return rc;
	rc = netd_conf_parse(path, text, len, out);
	free(text);
	return rc;
}

void netd_conf_free(struct netd_conf *conf)
{
	size_t i;

	if (!conf)
		return;
	for (i = 0; i < conf->n_nets; i++)
		free(conf->nets[i].forwards);
	free(conf->nets);
	memset(conf, 0, sizeof(*conf));
}

/* ---- host ---- */

/* An admin who writes socket_group expects its members to get in; a typo
 * would quietly leave them out. */
static int check_group(const struct netd_conf *conf)
{
	const char *g = conf->socket_group;

	if (!conf->socket_group_line || !g[0])
		return 0;
	errno = 0;
	if (getgrnam(g))
		return 0;
	if (errno && errno != ENOENT && errno != ESRCH)
		return err_set(-errno, "%s:%d: key 'socket_group': cannot look up group '%s': %s",
			       conf->path, conf->socket_group_line, g, strerror(errno));
	return err_set(-ENOENT, "%s:%d: key 'socket_group': no group '%s' on this host",
		       conf->path, conf->socket_group_line, g);
}

/* nat networks start dnsmasq as dnsmasq_user: it must exist (Debian's
 * dnsmasq-base makes the user "dnsmasq"). */
static int check_dnsmasq_user(const struct netd_conf *conf)
{
	size_t i;

	for (i = 0; i < conf->n_nets && conf->nets[i].mode != NETD_MODE_NAT; i++)
		;
	if (i == conf->n_nets)
		return 0;
	errno = 0;
	if (getpwnam(conf->dnsmasq_user))
		return 0;
	if (errno && errno != ENOENT && errno != ESRCH)
		return err_set(-errno, "%s: cannot look up dnsmasq_user '%s': %s", conf->path,
			       conf->dnsmasq_user, strerror(errno));
	if (conf->dnsmasq_user_line)
		return err_set(-ENOENT, "%s:%d: key 'dnsmasq_user': no user '%s' on this host",
			       conf->path, conf->dnsmasq_user_line, conf->dnsmasq_user);
	return err_set(-ENOENT,
		       "%s: nat networks run dnsmasq as user '%s', which this host does not have (install dnsmasq-base, or set dnsmasq_user in [netd])",
		       conf->path, conf->dnsmasq_user);
}

/* The prefix length of a netmask, whatever its family. */
static uint8_t mask_len(const struct sockaddr *m)
{
	const uint8_t *b = m->sa_family == AF_INET ?
				   (const uint8_t *)&((const struct sockaddr_in *)m)->sin_addr :
				   ((const struct sockaddr_in6 *)m)->sin6_addr.s6_addr;
	unsigned n = m->sa_family == AF_INET ? 4 : 16, len = 0;

	for (unsigned i = 0; i < n * 8 && bit_at(b, i); i++)
		len++;
	return (uint8_t)len;
}

/* A NAT subnet (address, address6) inside its uplink's: guests and LAN
 * hosts would share addresses. nat checks it again when it applies the
 * network (the uplink's addresses may change); this lets `netd -n` tell it
 * on the host. */
static int check_nat_uplink(const struct netd_conf *conf, const struct netd_net_conf *net,
			    const struct ifaddrs *ifs)
{
	char a[ADDR_STR], b[ADDR_STR];

	for (const struct ifaddrs *ifa = ifs; ifa; ifa = ifa->ifa_next) {
		const struct netd_cidr *mine;
		struct netd_cidr c = { 0 };
		int fam;

		if (!ifa->ifa_addr || !ifa->ifa_netmask || strcmp(ifa->ifa_name, net->uplink))
			continue;
		fam = ifa->ifa_addr->sa_family;
		if (fam == AF_INET) {
			c.addr.v4 = ((const struct sockaddr_in *)ifa->ifa_addr)->sin_addr;
			mine = &net->address;
		} else if (fam == AF_INET6 && net->has_address6) {
			c.addr.v6 = ((const struct sockaddr_in6 *)ifa->ifa_addr)->sin6_addr;
			if (IN6_IS_ADDR_LINKLOCAL(&c.addr.v6))
				continue;
			mine = &net->address6;
		} else {
			continue;
		}
		c.family = fam;
		c.prefixlen = mask_len(ifa->ifa_netmask);
		if (cidr_overlap(mine, &c))
			return err_set(-EADDRINUSE,
				       "section [%s] (%s:%d): %s %s overlaps the subnet of uplink %s (%s); give the guests a subnet of their own",
				       net->name, conf->path, net->line,
				       fam == AF_INET ? "address" : "address6",
				       cidr_str(mine, a), net->uplink, cidr_str(&c, b));
	}
	return 0;
}

int netd_conf_check_daemon(const struct netd_conf *conf)
{
	int rc = check_group(conf);

	return rc ? rc : check_dnsmasq_user(conf);
}

int netd_conf_check_net_dev(const struct netd_conf *conf, const struct netd_net_conf *net)
{
	const char *dev, *key;
	int rc;

	if (net->mode == NETD_MODE_BRIDGE && net->datapath == NETD_DP_DPDK)
		return 0; /* no host device: dpswitch's socket is checked at up */
	key = net->mode == NETD_MODE_NAT ? "uplink" : "physdev";
	dev = net->mode == NETD_MODE_NAT ? net->uplink : net->physdev;
	errno = 0;
	if (net->mode == NETD_MODE_OVS || if_nametoindex(dev))
		return 0;
	rc = errno ? -errno : -ENODEV;
	if (rc == -ENODEV || rc == -ENXIO)
		return err_set(-ENODEV, "section [%s] (%s:%d): %s '%s' does not exist", net->name,
			       conf->path, net->line, key, dev);
	return err_set(rc, "section [%s] (%s:%d): cannot look up %s '%s': %s", net->name,
		       conf->path, net->line, key, dev, strerror(-rc));
}

int netd_conf_check_net_host(const struct netd_conf *conf, const struct netd_net_conf *net)
{
	struct ifaddrs *ifs;
	int rc = netd_conf_check_net_dev(conf, net);

	if (rc || net->mode != NETD_MODE_NAT)
		return rc;
	if (getifaddrs(&ifs) < 0)
		return err_set(-errno, "cannot list the host's addresses: %s", strerror(errno));
	rc = check_nat_uplink(conf, net, ifs);
	freeifaddrs(ifs);
	return rc;
}

int netd_conf_check_host(const struct netd_conf *conf)
{
	int rc = netd_conf_check_daemon(conf);

	for (size_t i = 0; rc == 0 && i < conf->n_nets; i++)
		rc = netd_conf_check_net_host(conf, &conf->nets[i]);
	return rc;
}

const struct netd_net_conf *netd_conf_find(const struct netd_conf *conf, const char *name)
{
	size_t i;

	for (i = 0; i < conf->n_nets; i++)
		if (!strcmp(conf->nets[i].name, name))
			return &conf->nets[i];
	return NULL;
}

const char *netd_mode_name(enum netd_mode mode)
{
	switch (mode) {
	case NETD_MODE_BRIDGE:
		return "bridge";
	case NETD_MODE_ROUTE:
		return "route";
	case NETD_MODE_NAT:
		return "nat";
	case NETD_MODE_OVS:
		return "ovs";
	}
	return "unknown";
}

/* ---- equality ---- */

static bool cidr_equal(const struct netd_cidr *a, const struct netd_cidr *b)
{
	return addr_equal(a, b) && a->prefixlen == b->prefixlen;
}

static bool forward_equal(const struct netd_forward *a, const struct netd_forward *b)
{
	return a->proto == b->proto && a->port == b->port && a->dport == b->dport &&
	       cidr_equal(&a->dest, &b->dest);
}

static bool nat_equal(const struct netd_net_conf *a, const struct netd_net_conf *b)
{
	size_t i;

	if (!cidr_equal(&a->address, &b->address) || strcmp(a->uplink, b->uplink) ||
	    a->has_dhcp_range != b->has_dhcp_range || a->n_forwards != b->n_forwards ||
	    a->flowtable != b->flowtable)
		return false;
	if (a->has_address6 != b->has_address6 ||
	    (a->has_address6 && (!cidr_equal(&a->address6, &b->address6) ||
				 a->dhcp6 != b->dhcp6 || a->out6 != b->out6 ||
				 a->has_dhcp6_range != b->has_dhcp6_range)))
		return false;
	if (a->has_dhcp6_range && (memcmp(&a->dhcp6_first, &b->dhcp6_first, 16) ||
				   memcmp(&a->dhcp6_last, &b->dhcp6_last, 16)))
		return false;
	if (a->has_dhcp_range && (a->dhcp_first.s_addr != b->dhcp_first.s_addr ||
				  a->dhcp_last.s_addr != b->dhcp_last.s_addr))
		return false;
	for (i = 0; i < a->n_forwards; i++)
		if (!forward_equal(&a->forwards[i], &b->forwards[i]))
			return false;
	return true;
}

/* Only the fields of the network's mode count: the others are unused. */
bool netd_net_conf_equal(const struct netd_net_conf *a, const struct netd_net_conf *b)
{
	if (strcmp(a->name, b->name) || a->mode != b->mode || a->antispoof != b->antispoof ||
	    a->rate_in.bytes_per_interval != b->rate_in.bytes_per_interval ||
	    (a->rate_in.bytes_per_interval &&
	     a->rate_in.interval_usecs != b->rate_in.interval_usecs))
		return false;
	switch (a->mode) {
	case NETD_MODE_BRIDGE:
		return !strcmp(a->physdev, b->physdev) && a->style == b->style &&
		       a->datapath == b->datapath && !strcmp(a->dpdk_socket, b->dpdk_socket);
	case NETD_MODE_ROUTE:
		return !strcmp(a->physdev, b->physdev) && a->metric == b->metric &&
		       a->has_gatewayip == b->has_gatewayip &&
		       (!a->has_gatewayip || cidr_equal(&a->gatewayip, &b->gatewayip));
	case NETD_MODE_NAT:
		return nat_equal(a, b);
	case NETD_MODE_OVS:
		return !strcmp(a->ovsdb, b->ovsdb) && !strcmp(a->datapath_type, b->datapath_type) &&
		       a->ovn == b->ovn && a->ovn_wait_ms == b->ovn_wait_ms &&
		       !strcmp(a->iface_id, b->iface_id);
	}
	return false;
}

bool netd_conf_equal(const struct netd_conf *a, const struct netd_conf *b)
{
	size_t i;

	if (strcmp(a->socket, b->socket) || strcmp(a->state_dir, b->state_dir) ||
	    a->restore_on_exit != b->restore_on_exit || a->xenstore_watch != b->xenstore_watch ||
	    strcmp(a->socket_group, b->socket_group) || strcmp(a->metrics_file, b->metrics_file) ||
	    a->metrics_interval != b->metrics_interval ||
	    strcmp(a->vifback_stats_dir, b->vifback_stats_dir) ||
	    strcmp(a->dnsmasq_user, b->dnsmasq_user) || strcmp(a->dnsmasq_dir, b->dnsmasq_dir) ||
	    a->n_nets != b->n_nets)
		return false;
	for (i = 0; i < a->n_nets; i++)
		if (!netd_net_conf_equal(&a->nets[i], &b->nets[i]))
			return false;
	return true;
}

/* ---- writing ---- */

/* A string the parser would read back unchanged: no line breaks or control
 * characters (which could smuggle in a section), no edge whitespace, nothing
 * that starts a comment. */
static bool writable(const char *s)
{
	size_t n = strlen(s), i;

	if (n && (is_blank(s[0]) || is_blank(s[n - 1])))
		return false;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if ((c < ' ' && c != '\t') || c == 0x7f)
			return false;
		if ((c == '#' || c == ';') && (i == 0 || is_blank(s[i - 1])))
			return false;
	}
	return true;
}

static int check_writable(const struct netd_conf *conf)
{
	size_t i;

	if (!writable(conf->socket) || !writable(conf->state_dir) ||
	    !writable(conf->socket_group))
		return err_set(-EINVAL, "[netd]: a path or group cannot be written as INI");
	for (i = 0; i < conf->n_nets; i++) {
		const struct netd_net_conf *net = &conf->nets[i];
		const char *dev = net->mode == NETD_MODE_NAT ? net->uplink : net->physdev;
		bool dpdk = net->mode == NETD_MODE_BRIDGE && net->datapath == NETD_DP_DPDK;

		if (ifname_invalid(net->name, strnlen(net->name, IFNAMSIZ)) ||
		    (net->mode != NETD_MODE_OVS && !dpdk && ifname_invalid(dev, strnlen(dev, IFNAMSIZ))))
			return err_set(-EINVAL, "network %zu: bad interface name", i);
		if (dpdk && !writable(net->dpdk_socket))
			return err_set(-EINVAL, "network %zu: dpdk_socket cannot be written as INI", i);
	}
	return 0;
}

static void write_forward(struct textbuf *o, const struct netd_forward *f)
{
	char a[ADDR_STR];
	bool v6 = f->dest.family == AF_INET6;

	textbuf_printf(o, "forward = %s:%u:%s%s%s:%u\n", f->proto == IPPROTO_UDP ? "udp" : "tcp",
		       f->port, v6 ? "[" : "", addr_str(&f->dest, a), v6 ? "]" : "", f->dport);
}

static void write_net(struct textbuf *o, const struct netd_net_conf *net)
{
	char a[ADDR_STR], b[ADDR_STR];
	struct netd_cidr first, last;
	size_t i;

	textbuf_printf(o, "\n[%s]\nmode = %s\n", net->name, netd_mode_name(net->mode));
	switch (net->mode) {
	case NETD_MODE_BRIDGE:
		if (net->datapath == NETD_DP_DPDK)
			textbuf_printf(o, "datapath = dpdk\ndpdk_socket = %s\n", net->dpdk_socket);
		else
			textbuf_printf(o, "physdev = %s\nstyle = %s\n", net->physdev,
				       net->style == BR_STYLE_MODERN ? "modern" : "classic");
		break;
	case NETD_MODE_ROUTE:
		textbuf_printf(o, "physdev = %s\nmetric = %u\n", net->physdev, net->metric);
		if (net->has_gatewayip)
			textbuf_printf(o, "gatewayip = %s\n", addr_str(&net->gatewayip, a));
		break;
	case NETD_MODE_NAT:
		textbuf_printf(o, "address = %s\n", cidr_str(&net->address, a));
		if (net->has_dhcp_range) {
			first = v4_cidr(net->dhcp_first);
			last = v4_cidr(net->dhcp_last);
			textbuf_printf(o, "dhcp_range = %s-%s\n", addr_str(&first, a), addr_str(&last, b));
		}
		textbuf_printf(o, "uplink = %s\n", net->uplink);
		if (net->has_address6)
			textbuf_printf(o, "address6 = %s\ndhcp6 = %s\nnat6 = %s\n",
				       cidr_str(&net->address6, a),
				       net->dhcp6 == NAT_DHCP6_STATEFUL ? "stateful" : "stateless",
				       net->out6 == NAT_OUT6_ROUTED ? "routed" : "masquerade");
		if (net->has_dhcp6_range) {
			first = v6_cidr(&net->dhcp6_first);
			last = v6_cidr(&net->dhcp6_last);
			textbuf_printf(o, "dhcp6_range = %s-%s\n", addr_str(&first, a),
				       addr_str(&last, b));
		}
		for (i = 0; i < net->n_forwards; i++)
			write_forward(o, &net->forwards[i]);
		/* only when set: files written before the key existed print as they did */
		if (net->flowtable)
			textbuf_printf(o, "flowtable = yes\n");
		break;
	case NETD_MODE_OVS:
		textbuf_printf(o, "ovsdb = %s\n", net->ovsdb);
		if (net->datapath_type[0])
			textbuf_printf(o, "datapath_type = %s\n", net->datapath_type);
		textbuf_printf(o, "ovn = %s\novn_wait = %u.%03u\niface_id = %s\n", net->ovn ? "yes" : "no",
			       net->ovn_wait_ms / 1000, net->ovn_wait_ms % 1000, net->iface_id);
		break;
	}
	textbuf_printf(o, "antispoof = %s\n", net->antispoof ? "yes" : "no");
	if (net->rate_in.bytes_per_interval) {
		char r[VIF_RATE_STRLEN];

		if (vif_rate_format_xenstore(&net->rate_in, r, sizeof(r)) == 0)
			textbuf_printf(o, "rate_in = %s\n", r);
	}
}

int netd_conf_write(const struct netd_conf *conf, char *buf, size_t len)
{
	struct textbuf o = { .buf = buf, .len = len, .full = !buf || !len };
	size_t i;
	int rc;

	rc = check_writable(conf);
	if (rc < 0)
		return rc;
	textbuf_printf(&o, "[netd]\nsocket = %s\nstate_dir = %s\nrestore_on_exit = %s\nsocket_group = %s\n"
		       "xenstore_watch = %s\n",
		       conf->socket, conf->state_dir, conf->restore_on_exit ? "yes" : "no",
		       conf->socket_group, conf->xenstore_watch ? "yes" : "no");
	/* only when set: files written before the keys existed print as they did */
	if (conf->metrics_file[0])
		textbuf_printf(&o, "metrics_file = %s\nmetrics_interval = %u\n", conf->metrics_file,
			       conf->metrics_interval);
	if (strcmp(conf->vifback_stats_dir, NETD_DEFAULT_VIFBACK_STATS))
		textbuf_printf(&o, "vifback_stats_dir = %s\n", conf->vifback_stats_dir);
	if (strcmp(conf->dnsmasq_user, NETD_DEFAULT_DNSMASQ_USER))
		textbuf_printf(&o, "dnsmasq_user = %s\n", conf->dnsmasq_user);
	if (strcmp(conf->dnsmasq_dir, NETD_DEFAULT_DNSMASQ_DIR))
		textbuf_printf(&o, "dnsmasq_dir = %s\n", conf->dnsmasq_dir);
	for (i = 0; i < conf->n_nets; i++)
		write_net(&o, &conf->nets[i]);
	if (o.full)
		return err_set(-ENOSPC, "config does not fit in %zu bytes", len);
	return 0;
}
