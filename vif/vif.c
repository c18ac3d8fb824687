/* vif: the vif model parser.
 *
 * One parser for both sources of vif settings: xl's vif spec (from netdctl
 * or a config) and the backend keys libxl writes to xenstore, so a whole
 * backend directory can be fed key by key through vif_set(). Both are
 * untrusted text. Every setter parses into temporaries and only then
 * touches *v, so a rejected value leaves the vif exactly as it was.
 * No side effects: nothing is logged here, errors go through err_set().
 *
 * Where we are stricter than xl (tools/xl/xl_parse.c parse_nic_config):
 *  - mac must be aa:bb:cc:dd:ee:ff exactly, unicast and not all-zero;
 *  - interface names are 1-15 of [A-Za-z0-9_.-], not "." or "..", no
 *    leading '-' (a subset of what the kernel accepts);
 *  - ip= takes host addresses only ("A", "A/32", "A/128"; the prefix is
 *    dropped) and only unicast ones a guest may own: no unspecified,
 *    'this network' (0/8), loopback, link-local, multicast, broadcast,
 *    240/4, IPv4-mapped or -compatible IPv6 (those that depend on the
 *    host, such as Dom0's own addresses and its gateway, are netd's to
 *    refuse when the vif is plugged);
 *  - numbers are plain decimal without leading zeros.
 * The xenstore keys frontend-id and handle are checked against the vif's
 * domid and devid, not applied: the backend path already names the vif,
 * and a mismatch means the directory is not the vif we were asked to plug. */
#include "vif/vif.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "vif/vif-internal.h"

#define VIF_MTU_MIN 68u
#define VIF_MTU_MAX 65535u
#define VIF_NAME_MAX 63 /* backend domain names */

/* ---- shared helpers (declared in vif-internal.h) ---- */

size_t vif_dec_span(const char *s)
{
	size_t n = 0;

	while (s[n] >= '0' && s[n] <= '9')
		n++;
	return n;
}

const char *vif_quote_n(char buf[VIF_QUOTE_MAX], const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, o = 0;

	if (!s)
		s = "";
	for (i = 0; i < n && s[i] && i < VIF_QUOTE_SHOWN; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 0x20 && c < 0x7f && c != '\\') {
			buf[o++] = (char)c;
			continue;
		}
		buf[o++] = '\\';
		buf[o++] = 'x';
		buf[o++] = hex[c >> 4];
		buf[o++] = hex[c & 15];
	}
	if (i < n && s[i]) {
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o] = '\0';
	return buf;
}

const char *vif_quote(char buf[VIF_QUOTE_MAX], const char *s)
{
	return vif_quote_n(buf, s, (size_t)-1);
}

/* ---- ids ---- */

int vif_id_parse(const char *s, uint32_t *domid, uint32_t *devid)
{
	char q[VIF_QUOTE_MAX];
	const char *dot;
	uint64_t d, n;
	int rc;

	if (!s)
		return err_set(-EINVAL, "vif id: missing");
	dot = strchr(s, '.');
	if (!dot)
		return err_set(-EINVAL, "vif id '%s': expected DOMID.DEVID", vif_quote(q, s));
	rc = dec_parse(s, (size_t)(dot - s), VIF_DOMID_MAX, &d);
	if (rc == -ERANGE)
		return err_set(-EINVAL, "vif id '%s': domain id out of range 0..%u",
			       vif_quote(q, s), VIF_DOMID_MAX);
	if (rc == 0)
		rc = dec_parse(dot + 1, strlen(dot + 1), VIF_DEVID_MAX, &n);
	if (rc == -ERANGE)
		return err_set(-EINVAL, "vif id '%s': device id out of range 0..%u",
			       vif_quote(q, s), VIF_DEVID_MAX);
	if (rc)
		return err_set(-EINVAL, "vif id '%s': expected DOMID.DEVID in decimal",
			       vif_quote(q, s));
	*domid = (uint32_t)d;
	*devid = (uint32_t)n;
	return 0;
}

static void vif_default_ifname(char buf[IFNAMSIZ], uint32_t domid, uint32_t devid)
{
	/* Truncation only for ids vif_id_parse() would have refused. */
	snprintf(buf, IFNAMSIZ, "vif%u.%u", domid, devid);
}

static bool vif_ifname_is_default(const struct vif *v)
{
	char def[IFNAMSIZ];

	vif_default_ifname(def, v->domid, v->devid);
	return strcmp(v->ifname, def) == 0;
}

void vif_init(struct vif *v, uint32_t domid, uint32_t devid)
{
	memset(v, 0, sizeof(*v));
	v->domid = domid;
	v->devid = devid;
	vif_default_ifname(v->ifname, domid, devid);
	v->trusted = true;
}

/* ---- validators ---- */

static bool is_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_' || c == '.';
}

/* The kernel allows far more (dev_valid_name()), but these names travel
 * through hotplug scripts that eval KEY=VALUE, nft rules, JSON and logs;
 * real bridge and uplink names (xenbr0, br-lan, eth0.100, enp1s0) never
 * need more. '%' in particular would make the kernel pick a name itself. */
bool vif_ifname_is_valid(const char *name)
{
	size_t i;

	if (!name || !name[0] || name[0] == '-')
		return false;
	if (!strcmp(name, ".") || !strcmp(name, ".."))
		return false;
	for (i = 0; name[i]; i++)
		if (i >= IFNAMSIZ - 1 || !is_name_char(name[i]))
			return false;
	return true;
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int vif_mac_parse(const char *s, uint8_t mac[6])
{
	char q[VIF_QUOTE_MAX];
	uint8_t m[6];
	int i;

	if (!s || strlen(s) != 17)
		goto bad;
	for (i = 0; i < 6; i++) {
		int hi = hex_digit(s[3 * i]), lo = hex_digit(s[3 * i + 1]);

		if (hi < 0 || lo < 0 || (i < 5 && s[3 * i + 2] != ':'))
			goto bad;
		m[i] = (uint8_t)(hi << 4 | lo);
	}
	/* The guest's address is the source of its frames and the key of
	 * anti-spoofing and bridge learning: it has to be a unicast one. */
	if (m[0] & 1)
		return err_set(-EINVAL, "mac: '%s': multicast address, a guest MAC must be unicast",
			       s);
	if (!(m[0] | m[1] | m[2] | m[3] | m[4] | m[5]))
		return err_set(-EINVAL, "mac: '%s': all-zero address", s);
	memcpy(mac, m, sizeof(m));
	return 0;
bad:
	return err_set(-EINVAL, "mac: '%s': expected six hex byte pairs like 00:16:3e:12:34:56",
		       vif_quote(q, s));
}

void vif_eui64(const uint8_t mac[6], const struct in6_addr *prefix, struct in6_addr *out)
{
	static const struct in6_addr link_local = { .s6_addr = { 0xfe, 0x80 } };
	uint8_t *p = out->s6_addr;

	memcpy(p, (prefix ? prefix : &link_local)->s6_addr, 8);
	p[8] = mac[0] ^ 0x02; /* the universal/local bit, inverted */
	p[9] = mac[1];
	p[10] = mac[2];
	p[11] = 0xff;
	p[12] = 0xfe;
	p[13] = mac[3];
	p[14] = mac[4];
	p[15] = mac[5];
}

int vif_mac_format(const uint8_t mac[6], char *buf, size_t len)
{
	if (len < VIF_MAC_STRLEN)
		return err_set(-ENOSPC, "mac: buffer of %zu bytes too small", len);
	snprintf(buf, len, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3],
		 mac[4], mac[5]);
	return 0;
}

/* Addresses a guest can never legitimately send from. */
static const char *ip_unusable(const struct vif_ip *ip)
{
	if (ip->family == AF_INET) {
		uint32_t a = ntohl(ip->addr.v4.s_addr);

		if (a == 0)
			return "unspecified address";
		if ((a >> 24) == 0)
			return "'this network' address (0.0.0.0/8)";
		if ((a >> 24) == 127)
			return "loopback address";
		/* Every host's own on every link: a guest claiming one
		 * answers ARP for Dom0's or its neighbours' link-local. */
		if ((a >> 16) == 0xa9fe)
			return "link-local address (169.254.0.0/16)";
		if ((a >> 28) == 0xe)
			return "multicast address";
		if (a == 0xffffffffu)
			return "broadcast address";
		if ((a >> 28) == 0xf)
			return "reserved address (240.0.0.0/4)";
		return NULL;
	}
	if (IN6_IS_ADDR_UNSPECIFIED(&ip->addr.v6))
		return "unspecified address";
	if (IN6_IS_ADDR_LOOPBACK(&ip->addr.v6))
		return "loopback address";
	if (IN6_IS_ADDR_MULTICAST(&ip->addr.v6))
		return "multicast address";
	if (IN6_IS_ADDR_LINKLOCAL(&ip->addr.v6))
		return "link-local address (fe80::/10)";
	/* On the wire these are IPv4 packets: filters and routes keyed by
	 * the v6 form would let the guest use the v4 address unchecked. */
	if (IN6_IS_ADDR_V4MAPPED(&ip->addr.v6))
		return "IPv4-mapped address (::ffff:0:0/96)";
	if (IN6_IS_ADDR_V4COMPAT(&ip->addr.v6))
		return "IPv4-compatible address (::/96, deprecated)";
	return NULL;
}

/* One token of an ip= list: "A", "A/32" or "A/128". */
static int ip_token_parse(const char *tok, size_t len, struct vif_ip *ip)
{
	char q[VIF_QUOTE_MAX], buf[INET6_ADDRSTRLEN + 8];
	const char *slash = memchr(tok, '/', len);
	size_t alen = slash ? (size_t)(slash - tok) : len;
	const char *why;
	uint64_t plen = 0;

	if (alen >= sizeof(buf))
		goto bad;
	memcpy(buf, tok, alen);
	buf[alen] = '\0';
	memset(ip, 0, sizeof(*ip));
	if (inet_pton(AF_INET, buf, &ip->addr.v4) == 1)
		ip->family = AF_INET;
	else if (inet_pton(AF_INET6, buf, &ip->addr.v6) == 1)
		ip->family = AF_INET6;
	else
		goto bad;
	if (slash) {
		unsigned host = ip->family == AF_INET ? 32 : 128;

		if (dec_parse(slash + 1, len - alen - 1, 128, &plen) || plen != host)
			return err_set(-EINVAL,
				       "ip: '%s': only host addresses are accepted (no prefix, /32 or /128)",
				       vif_quote_n(q, tok, len));
	}
	why = ip_unusable(ip);
	if (why)
		return err_set(-EINVAL, "ip: '%s': %s, not a guest source address",
			       vif_quote_n(q, tok, len), why);
	return 0;
bad:
	return err_set(-EINVAL, "ip: '%s': not an IPv4 or IPv6 address", vif_quote_n(q, tok, len));
}

static bool ip_in(const struct vif_ip *ips, unsigned n, const struct vif_ip *ip)
{
	unsigned i;

	for (i = 0; i < n; i++)
		if (!memcmp(&ips[i], ip, sizeof(*ip)))
			return true;
	return false;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* Space-separated like the stock scripts' `for addr in $ip`; a repeated
 * address is kept once so per-address rules and routes are not doubled. */
int vif_ip_list_parse(const char *s, struct vif_ip *ips, unsigned max, unsigned *n)
{
	char q[VIF_QUOTE_MAX];
	unsigned count = 0;
	int rc;

	if (!s)
		return err_set(-EINVAL, "ip: missing value");
	for (;;) {
		struct vif_ip ip;
		size_t len = 0;

		while (is_blank(*s))
			s++;
		if (!*s)
			break;
		while (s[len] && !is_blank(s[len]))
			len++;
		rc = ip_token_parse(s, len, &ip);
		if (rc)
			return rc;
		if (!ip_in(ips, count, &ip)) {
			if (count >= max)
				return err_set(-EINVAL, "ip: '%s': more than %u addresses",
					       vif_quote_n(q, s, len), max);
			ips[count++] = ip;
		}
		s += len;
	}
	*n = count;
	return 0;
}

/* ---- setters, one per key ---- */

typedef int (*vif_setter)(struct vif *v, const char *key, const char *value);

static int set_string(char *dst, size_t size, const char *key, const char *value,
		      bool (*ok)(const char *), const char *what)
{
	char q[VIF_QUOTE_MAX];

	if (strlen(value) >= size)
		return err_set(-EINVAL, "%s: '%s': longer than %zu characters", key,
			       vif_quote(q, value), size - 1);
	if (value[0] && !ok(value))
		return err_set(-EINVAL, "%s: '%s': %s", key, vif_quote(q, value), what);
	memcpy(dst, value, strlen(value) + 1);
	return 0;
}

#define IFNAME_RULES \
	"not a valid interface name (1-15 letters, digits, '-', '_' or '.'; no leading '-')"

int vif_bridge_vlan_parse(const char *s, int *tag, uint16_t *trunks, size_t max, size_t *n)
{
	char q[VIF_QUOTE_MAX];
	const char *p = s;

	*tag = -1;
	*n = 0;
	while (*p) {
		char sep = *p++;
		uint64_t vid;
		size_t len = vif_dec_span(p);

		if ((sep != '.' && sep != ':') || (sep == '.' && p - 1 != s) || len == 0 ||
		    (len > 1 && *p == '0') || dec_parse(p, len, 4095, &vid))
			return err_set(-EINVAL,
				       "bridge: VLANs '%s': expected .TAG[:TRUNK]... with VLANs 0..4095",
				       vif_quote(q, s));
		if (sep == '.')
			*tag = (int)vid;
		else if (*n < max)
			trunks[(*n)++] = (uint16_t)vid;
		else
			return err_set(-EINVAL, "bridge: VLANs '%s': more than %zu trunks",
				       vif_quote(q, s), max);
		p += len;
	}
	return 0;
}

/* Xen's vif-openvswitch takes bridge=BR.TAG:TRUNK:TRUNK: a value with a
 * ':' is never an interface name, so it is split here; "BR.TAG" alone is
 * a valid name (Linux VLAN bridges are called xenbr0.10) and is split only
 * when no network has that name (vif_bridge_split()). */
static int set_bridge(struct vif *v, const char *key, const char *value)
{
	const char *colon = strchr(value, ':'), *dot;
	char br[IFNAMSIZ + 1], q[VIF_QUOTE_MAX];
	uint16_t trunks[VIF_TRUNKS_MAX];
	struct vif t;
	size_t n;
	int tag;

	if (!colon) {
		int rc = set_string(v->bridge, sizeof(v->bridge), key, value, vif_ifname_is_valid,
				    IFNAME_RULES);

		if (rc == 0)
			v->bridge_vlan[0] = '\0';
		return rc;
	}
	dot = memchr(value, '.', (size_t)(colon - value));
	if (!dot)
		dot = colon;
	if ((size_t)(dot - value) >= sizeof(br) - 1 || strlen(dot) >= sizeof(v->bridge_vlan))
		return err_set(-EINVAL, "%s: '%s': too long", key, vif_quote(q, value));
	memcpy(br, value, (size_t)(dot - value));
	br[dot - value] = '\0';
	t = *v;
	if (set_string(t.bridge, sizeof(t.bridge), key, br, vif_ifname_is_valid, IFNAME_RULES))
		return -EINVAL;
	if (!br[0])
		return err_set(-EINVAL, "%s: '%s': no bridge name", key, vif_quote(q, value));
	if (vif_bridge_vlan_parse(dot, &tag, trunks, VIF_TRUNKS_MAX, &n))
		return -EINVAL;
	strcpy(v->bridge, br);
	strcpy(v->bridge_vlan, dot);
	return 0;
}

int vif_bridge_split(struct vif *v)
{
	char *dot = strchr(v->bridge, '.');
	uint16_t all[VIF_TRUNKS_MAX];
	size_t n;
	int tag;

	if (!dot || dot == v->bridge || v->bridge_vlan[0] ||
	    vif_bridge_vlan_parse(dot, &tag, all, VIF_TRUNKS_MAX, &n))
		return -EINVAL;
	snprintf(v->bridge_vlan, sizeof(v->bridge_vlan), "%s", dot);
	*dot = '\0';
	return 0;
}

/* iface-id goes to OVN as a logical port's name, and into logs. */
static bool iface_id_is_valid(const char *s)
{
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("-_.:@", *s))
			return false;
	return true;
}

static int set_iface_id(struct vif *v, const char *key, const char *value)
{
	return set_string(v->iface_id, sizeof(v->iface_id), key, value, iface_id_is_valid,
			  "only letters, digits and -_.:@");
}

/* 8-4-4-4-12 hex digits, as /local/domain/D/vm ends. */
static bool uuid_is_valid(const char *s)
{
	for (size_t i = 0; i < 36; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;

		if (dash ? s[i] != '-' : !isxdigit((unsigned char)s[i]))
			return false;
	}
	return s[36] == '\0';
}

static int set_vm_uuid(struct vif *v, const char *key, const char *value)
{
	return set_string(v->vm_uuid, sizeof(v->vm_uuid), key, value, uuid_is_valid,
			  "not a UUID (8-4-4-4-12 hex digits)");
}

/* A domain's name is the toolstack's, but it lands in OVSDB and logs. */
static bool vm_name_is_valid(const char *s)
{
	for (; *s; s++)
		if (*s < 0x20 || *s > 0x7e)
			return false;
	return true;
}

static int set_vm_name(struct vif *v, const char *key, const char *value)
{
	return set_string(v->vm_name, sizeof(v->vm_name), key, value, vm_name_is_valid,
			  "only printable ASCII");
}

/* netdev is xl's deprecated alias; it lands in the same place. */
static int set_gatewaydev(struct vif *v, const char *key, const char *value)
{
	return set_string(v->gatewaydev, sizeof(v->gatewaydev), key, value, vif_ifname_is_valid,
			  IFNAME_RULES);
}

/* An empty vifname gives the vif its default name back. */
static int set_vifname(struct vif *v, const char *key, const char *value)
{
	int rc = set_string(v->ifname, sizeof(v->ifname), key, value, vif_ifname_is_valid,
			    IFNAME_RULES);

	if (rc == 0 && !value[0])
		vif_default_ifname(v->ifname, v->domid, v->devid);
	return rc;
}

/* qemu takes the model inside a comma-separated -device option string, so
 * anything beyond a plain device name could smuggle in options. */
static bool model_ok(const char *s)
{
	for (; *s; s++)
		if (!is_name_char(*s))
			return false;
	return true;
}

static int set_model(struct vif *v, const char *key, const char *value)
{
	return set_string(v->model, sizeof(v->model), key, value, model_ok,
			  "not a device model name (letters, digits, '-', '_', '.')");
}

static bool script_ok(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

static int set_script(struct vif *v, const char *key, const char *value)
{
	return set_string(v->script, sizeof(v->script), key, value, script_ok,
			  "control character in script path");
}

/* libxl_domain_qualifier_to_domid(): all digits is an id, else a name. */
static bool backend_ok(const char *s)
{
	uint64_t id;
	size_t n = vif_dec_span(s);

	if (s[n] == '\0')
		return dec_parse(s, n, VIF_DOMID_MAX, &id) == 0;
	return model_ok(s) && s[0] != '-' && strlen(s) <= VIF_NAME_MAX;
}

static int set_backend(struct vif *v, const char *key, const char *value)
{
	return set_string(v->backend, sizeof(v->backend), key, value, backend_ok,
			  "not a domain id (0..32751) or name (letters, digits, '-', '_', '.')");
}

static int set_mac(struct vif *v, const char *key, const char *value)
{
	uint8_t mac[6];
	int rc = vif_mac_parse(value, mac);

	if (rc)
		return rc;
	memcpy(v->mac, mac, sizeof(mac));
	v->has_mac = true;
	return 0;
}

/* libxl writes nictype as "vif" or "vif_ioemu"; xl's spec says "ioemu". */
static int set_type(struct vif *v, const char *key, const char *value)
{
	char q[VIF_QUOTE_MAX];

	if (!strcmp(value, "vif"))
		v->type_ioemu = false;
	else if (!strcmp(value, "ioemu") || !strcmp(value, "vif_ioemu"))
		v->type_ioemu = true;
	else
		return err_set(-EINVAL, "type: '%s': expected 'vif' or 'ioemu'", vif_quote(q, value));
	return 0;
}

static int set_ip(struct vif *v, const char *key, const char *value)
{
	struct vif_ip ips[VIF_MAX_IPS];
	unsigned n;
	int rc = vif_ip_list_parse(value, ips, VIF_MAX_IPS, &n);

	if (rc)
		return rc;
	memcpy(v->ips, ips, n * sizeof(ips[0]));
	v->n_ips = n;
	return 0;
}

/* xl writes "rate=10Mb/s@20ms"; the backend key holds "bytes,usecs". */
static int set_rate(struct vif *v, const char *key, const char *value)
{
	struct vif_rate r;
	int rc = vif_rate_parse(value, &r);

	if (rc == 0)
		v->rate = r;
	return rc;
}

/* rate's grammar; the message names the key it came from. */
static int set_rate_in(struct vif *v, const char *key, const char *value)
{
	struct vif_rate r;
	int rc = vif_rate_parse(value, &r);

	if (rc) {
		char m[ERR_MSG_MAX];

		snprintf(m, sizeof(m), "%s", err_msg());
		return err_set(rc, "rate_in%s", strncmp(m, "rate", 4) ? m : m + 4);
	}
	v->rate_in = r;
	return 0;
}

static int set_vlan(struct vif *v, const char *key, const char *value)
{
	return vif_vlan_normalise(value, v->vlan, sizeof(v->vlan));
}

static int parse_number(const char *key, const char *value, uint64_t min, uint64_t max,
			uint64_t *out)
{
	char q[VIF_QUOTE_MAX];
	int rc = dec_parse(value, strlen(value), max, out);

	if (rc == -ERANGE || (rc == 0 && *out < min))
		return err_set(-EINVAL, "%s: '%s': out of range %llu..%llu", key,
			       vif_quote(q, value), (unsigned long long)min,
			       (unsigned long long)max);
	if (rc)
		return err_set(-EINVAL, "%s: '%s': not a decimal number", key,
			       vif_quote(q, value));
	return 0;
}

static int set_mtu(struct vif *v, const char *key, const char *value)
{
	uint64_t mtu;
	int rc = parse_number(key, value, VIF_MTU_MIN, VIF_MTU_MAX, &mtu);

	if (rc == 0)
		v->mtu = (unsigned)mtu;
	return rc;
}

/* The name follows the new devid unless the toolstack chose one. */
static int set_devid(struct vif *v, const char *key, const char *value)
{
	uint64_t id;
	bool rename = vif_ifname_is_default(v);
	int rc = parse_number(key, value, 0, VIF_DEVID_MAX, &id);

	if (rc)
		return rc;
	v->devid = (uint32_t)id;
	if (rename)
		vif_default_ifname(v->ifname, v->domid, v->devid);
	return 0;
}

static int check_id(const char *key, const char *value, uint64_t max, uint32_t want,
		    const char *what)
{
	char q[VIF_QUOTE_MAX];
	uint64_t id;
	int rc = parse_number(key, value, 0, max, &id);

	if (rc)
		return rc;
	if (id != want)
		return err_set(-EINVAL, "%s: '%s': does not match %s %u", key,
			       vif_quote(q, value), what, want);
	return 0;
}

static int set_handle(struct vif *v, const char *key, const char *value)
{
	return check_id(key, value, VIF_DEVID_MAX, v->devid, "devid");
}

static int set_frontend_id(struct vif *v, const char *key, const char *value)
{
	return check_id(key, value, VIF_DOMID_MAX, v->domid, "domid");
}

/* A bare flag (value NULL) or "1"/"0" as the frontend's trusted key. */
static int flag_value(const char *key, const char *value, bool *on)
{
	char q[VIF_QUOTE_MAX];

	if (!value || !strcmp(value, "1"))
		*on = true;
	else if (!strcmp(value, "0"))
		*on = false;
	else
		return err_set(-EINVAL, "%s: '%s': expected '1' or '0'", key, vif_quote(q, value));
	return 0;
}

static int set_trusted(struct vif *v, const char *key, const char *value)
{
	bool on = false;
	int rc = flag_value(key, value, &on);

	if (rc == 0)
		v->trusted = on;
	return rc;
}

static int set_untrusted(struct vif *v, const char *key, const char *value)
{
	bool on = false;
	int rc = flag_value(key, value, &on);

	if (rc == 0)
		v->trusted = !on;
	return rc;
}

/* Accepted and dropped: accel (xl: "currently not supported"), COLO
 * settings, and backend-directory bookkeeping that says nothing about how
 * to plug the vif (libxl's frontend/online/state/hotplug-*, netback's
 * feature-* and multi-queue-max-queues). */
static int set_ignored(struct vif *v, const char *key, const char *value)
{
	return 0;
}

struct vif_key {
	const char *name;
	vif_setter set;
	bool flag; /* may appear bare in a spec */
};

static const struct vif_key vif_keys[] = {
	{ "mac", set_mac, false },
	{ "bridge", set_bridge, false },
	{ "gatewaydev", set_gatewaydev, false },
	{ "netdev", set_gatewaydev, false },
	{ "type", set_type, false },
	{ "model", set_model, false },
	{ "vifname", set_vifname, false },
	{ "script", set_script, false },
	{ "ip", set_ip, false },
	{ "backend", set_backend, false },
	{ "rate", set_rate, false },
	{ "rate_in", set_rate_in, false },
	{ "devid", set_devid, false },
	{ "mtu", set_mtu, false },
	{ "vlan", set_vlan, false },
	{ "iface-id", set_iface_id, false },
	{ "vm-uuid", set_vm_uuid, false },
	{ "vm-name", set_vm_name, false },
	{ "trusted", set_trusted, true },
	{ "untrusted", set_untrusted, true },
	{ "accel", set_ignored, false },
	{ "forwarddev", set_ignored, false },
	{ "handle", set_handle, false },
	{ "frontend-id", set_frontend_id, false },
	{ "frontend", set_ignored, false },
	{ "online", set_ignored, false },
	{ "state", set_ignored, false },
	{ "hotplug-status", set_ignored, false },
	{ "hotplug-error", set_ignored, false },
	{ "multi-queue-max-queues", set_ignored, false },
};

static const char *const vif_ignored_prefixes[] = { "feature-", "colo_" };

static const struct vif_key *vif_key_find(const char *key)
{
	static const struct vif_key prefixed = { "", set_ignored, false };
	size_t i;

	for (i = 0; i < sizeof(vif_keys) / sizeof(vif_keys[0]); i++)
		if (!strcmp(key, vif_keys[i].name))
			return &vif_keys[i];
	for (i = 0; i < sizeof(vif_ignored_prefixes) / sizeof(vif_ignored_prefixes[0]); i++) {
		size_t n = strlen(vif_ignored_prefixes[i]);

		if (!strncmp(key, vif_ignored_prefixes[i], n) && key[n])
			return &prefixed;
	}
	return NULL;
}

int vif_set(struct vif *v, const char *key, const char *value)
{
	char q[VIF_QUOTE_MAX];
	const struct vif_key *k;

	if (!key)
		return err_set(-EINVAL, "vif: missing key");
	k = vif_key_find(key);
	if (!k)
		return err_set(-EINVAL, "unrecognized argument '%s'", vif_quote(q, key));
	if (!value && !k->flag)
		return err_set(-EINVAL, "%s: missing value (expected %s=VALUE)", key, key);
	return k->set(v, key, value);
}

/* ---- whole vifs ---- */

/* "vif<D>.<N>" or "vif<D>.<N>-emu", any digits: *d and *n set when they
 * are canonical numbers (else both stay ~0, matching no vif's own). */
static bool name_is_vif_form(const char *name, uint64_t *d, uint64_t *n)
{
	size_t dl, nl;
	const char *p;

	if (strncmp(name, "vif", 3))
		return false;
	p = name + 3;
	dl = vif_dec_span(p);
	if (!dl || p[dl] != '.')
		return false;
	nl = vif_dec_span(p + dl + 1);
	if (!nl || (p[dl + 1 + nl] && strcmp(p + dl + 1 + nl, "-emu")))
		return false;
	if (dec_parse(p, dl, UINT32_MAX, d) || dec_parse(p + dl + 1, nl, UINT32_MAX, n))
		*d = *n = UINT64_MAX;
	return true;
}

/* The backends name a vif's interface vifD.N and its emulated NIC's tap
 * vifD.N-emu. A vif renamed to another vif's name takes that interface's
 * place: the other guest's plug would then find this guest's interface
 * (and give it that guest's MAC and addresses). */
int vif_check(const struct vif *v)
{
	char q[VIF_QUOTE_MAX];
	uint64_t d, n;

	if (!name_is_vif_form(v->ifname, &d, &n) || (d == v->domid && n == v->devid))
		return 0;
	if (d == UINT64_MAX)
		return err_set(-EINVAL, "vifname: '%s': reserved for the backends' own vif names "
			       "(vif<D>.<N>), and not this vif's (vif%u.%u)",
			       vif_quote(q, v->ifname), v->domid, v->devid);
	return err_set(-EINVAL, "vifname: '%s': the name of vif %llu.%llu's interface, not this "
		       "vif's (vif%u.%u)", vif_quote(q, v->ifname), (unsigned long long)d,
		       (unsigned long long)n, v->domid, v->devid);
}

/* ---- whole specs ---- */

static char *trim(char *s)
{
	char *end;

	while (is_blank(*s))
		s++;
	end = s + strlen(s);
	while (end > s && is_blank(end[-1]))
		*--end = '\0';
	return s;
}

/* Like xl: split on ',', skip empty items, strip leading blanks (we also
 * strip trailing ones). All of it lands in *v or none of it does. */
int vif_parse_spec(struct vif *v, const char *spec)
{
	struct vif tmp;
	char *buf, *item, *next;
	int rc = 0;

	if (!spec)
		return err_set(-EINVAL, "vif spec: missing");
	buf = strdup(spec);
	if (!buf)
		return err_set(-ENOMEM, "vif spec: out of memory");
	memcpy(&tmp, v, sizeof(tmp));
	for (item = buf; item && rc == 0; item = next) {
		char *eq;

		next = strchr(item, ',');
		if (next)
			*next++ = '\0';
		item = trim(item);
		if (!*item)
			continue;
		if (*item == '=') {
			char q[VIF_QUOTE_MAX];

			rc = err_set(-EINVAL, "unrecognized argument '%s'", vif_quote(q, item));
			break;
		}
		eq = strchr(item, '=');
		if (eq)
			*eq++ = '\0';
		rc = vif_set(&tmp, item, eq);
	}
	free(buf);
	if (rc == 0)
		rc = vif_check(&tmp);
	if (rc == 0)
		memcpy(v, &tmp, sizeof(tmp));
	return rc;
}
