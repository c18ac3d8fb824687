/* bind: pick the address a nat guest without ip= is bound to (see bind.h). */
#include "nat/bind.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/atomic_file.h"
#include "lib/err.h"
#include "vif/vif.h"

#define FILE_MAX (4u << 20)

/* What one line of either file says: a MAC and its IPv4 address. */
struct bind_line {
	uint8_t mac[6];
	struct in_addr ip;
	long long expiry; /* leases: seconds since the epoch, 0 for never; hosts: 0 */
};

/* The fields of one line, split at sep (',' in dhcp-hosts, ' ' in the
 * lease file); false when it is not "MAC<sep>IPv4..." at field mac_field. */
static bool parse_line(char *line, char sep, int mac_field, struct bind_line *b)
{
	char *f[3] = { NULL }, *save = NULL, seps[2] = { sep, 0 };
	int n = 0;

	for (char *t = strtok_r(line, seps, &save); t && n < 3; t = strtok_r(NULL, seps, &save))
		f[n++] = t;
	if (n < mac_field + 2)
		return false;
	b->expiry = 0;
	if (mac_field == 1) {
		char *end;

		b->expiry = strtoll(f[0], &end, 10);
		if (*end || b->expiry < 0)
			return false;
	}
	return vif_mac_parse(f[mac_field], b->mac) == 0 &&
	       inet_pton(AF_INET, f[mac_field + 1], &b->ip) == 1;
}

/* Every line of text (modified: split in place) that parses, in order. */
static int parse_text(char *text, char sep, int mac_field, struct bind_line **out, size_t *n)
{
	char *line, *save = NULL;
	size_t cap = 0;

	*out = NULL;
	*n = 0;
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		struct bind_line b;

		if (!parse_line(line, sep, mac_field, &b))
			continue;
		if (*n == cap) {
			struct bind_line *v;

			cap = cap ? cap * 2 : 16;
			v = realloc(*out, cap * sizeof(*v));
			if (!v) {
				free(*out);
				*out = NULL;
				*n = 0;
				return err_set(-ENOMEM, "out of memory");
			}
			*out = v;
		}
		(*out)[(*n)++] = b;
	}
	return 0;
}

/* The same for the file at path; a missing file has no lines. */
static int read_lines(const char *path, char sep, int mac_field, struct bind_line **out,
		      size_t *n)
{
	char *text;
	int rc;

	*out = NULL;
	*n = 0;
	rc = file_read_all(path, &text, NULL, FILE_MAX);
	if (rc == -ENOENT)
		return 0;
	if (rc)
		return rc;
	rc = parse_text(text, sep, mac_field, out, n);
	free(text);
	return rc;
}

static bool in_range(const struct nat_dnsmasq *d, struct in_addr a)
{
	uint32_t x = ntohl(a.s_addr);

	return d->has_range && x >= ntohl(d->first.s_addr) && x <= ntohl(d->last.s_addr);
}

/* May domid.devid with mac have a? In the range, not another host's, not
 * another MAC's live lease. */
static bool usable(const struct nat_dnsmasq *d, const struct nat_hosts *hosts, uint32_t domid,
		   uint32_t devid, const uint8_t mac[6], struct in_addr a,
		   const struct bind_line *leases, size_t n_leases, long long now)
{
	if (!in_range(d, a) || a.s_addr == d->gw.addr.v4.s_addr ||
	    nat_hosts_find_ip(hosts, a, domid, devid))
		return false;
	for (size_t i = 0; i < n_leases; i++)
		if (leases[i].ip.s_addr == a.s_addr && memcmp(leases[i].mac, mac, 6) &&
		    (leases[i].expiry == 0 || leases[i].expiry > now))
			return false;
	return true;
}

int nat_bind_pick(const struct nat_dnsmasq *d, const struct nat_hosts *hosts, uint32_t domid,
		  uint32_t devid, const uint8_t mac[6], struct in_addr *out)
{
	struct bind_line *mine = NULL, *leases = NULL;
	size_t n_mine = 0, n_leases = 0;
	long long now = (long long)time(NULL);
	char f[INET_ADDRSTRLEN], l[INET_ADDRSTRLEN];
	int rc;

	if (!d->has_range)
		return err_set(-EADDRNOTAVAIL,
			       "%s has no dhcp_range: a guest without ip= gets no address (give ip=)",
			       d->bridge);
	rc = read_lines(d->hostsfile, ',', 0, &mine, &n_mine);
	if (rc == 0)
		rc = read_lines(d->leasefile, ' ', 1, &leases, &n_leases);
	if (rc) {
		rc = err_prefix(rc, "%s: cannot read what dnsmasq leased", d->bridge);
		goto out;
	}
	rc = -EADDRNOTAVAIL;
	/* what the guest has: netd's own static lease, then dnsmasq's lease */
	for (size_t k = 0; k < 2 && rc; k++) {
		const struct bind_line *v = k ? leases : mine;

		for (size_t i = 0, n = k ? n_leases : n_mine; i < n && rc; i++)
			if (!memcmp(v[i].mac, mac, 6) &&
			    usable(d, hosts, domid, devid, mac, v[i].ip, leases, n_leases, now)) {
				*out = v[i].ip;
				rc = 0;
			}
	}
	for (uint32_t x = ntohl(d->first.s_addr); rc && x <= ntohl(d->last.s_addr); x++) {
		struct in_addr a = { .s_addr = htonl(x) };

		if (usable(d, hosts, domid, devid, mac, a, leases, n_leases, now)) {
			*out = a;
			rc = 0;
		}
		if (x == UINT32_MAX)
			break;
	}
	if (rc) {
		inet_ntop(AF_INET, &d->first, f, sizeof(f));
		inet_ntop(AF_INET, &d->last, l, sizeof(l));
		rc = err_set(-EADDRNOTAVAIL,
			     "no free address in dhcp_range %s-%s of %s to bind to the guest (give ip=)",
			     f, l, d->bridge);
	}
out:
	free(mine);
	free(leases);
	return rc;
}
