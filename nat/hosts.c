/* hosts: static leases and DNS names for dnsmasq (see hosts.h). */
#include "nat/hosts.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/atomic_file.h"
#include "lib/err.h"

void nat_host_name(const struct nat_host *h, char *buf, size_t len)
{
	if (h->devid)
		snprintf(buf, len, "dom%u-%u", h->domid, h->devid);
	else
		snprintf(buf, len, "dom%u", h->domid);
}

struct nat_host *nat_hosts_find(struct nat_hosts *l, uint32_t domid, uint32_t devid)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i].domid == domid && l->v[i].devid == devid)
			return &l->v[i];
	return NULL;
}

const struct nat_host *nat_hosts_find_ip(const struct nat_hosts *l, struct in_addr ip,
					 uint32_t domid, uint32_t devid)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i].has_ip && l->v[i].ip.s_addr == ip.s_addr &&
		    (l->v[i].domid != domid || l->v[i].devid != devid))
			return &l->v[i];
	return NULL;
}

const struct nat_host *nat_hosts_find_ip6(const struct nat_hosts *l, const struct in6_addr *ip,
					  uint32_t domid, uint32_t devid)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i].has_ip6 && !memcmp(&l->v[i].ip6, ip, sizeof(*ip)) &&
		    (l->v[i].domid != domid || l->v[i].devid != devid))
			return &l->v[i];
	return NULL;
}

int nat_hosts_set(struct nat_hosts *l, const struct nat_host *h)
{
	struct nat_host *old = nat_hosts_find(l, h->domid, h->devid);

	if (old) {
		*old = *h;
		return 0;
	}
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 8;
		struct nat_host *v = realloc(l->v, cap * sizeof(*v));

		if (!v)
			return err_set(-ENOMEM, "out of memory");
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = *h;
	return 0;
}

int nat_hosts_del(struct nat_hosts *l, uint32_t domid, uint32_t devid)
{
	struct nat_host *h = nat_hosts_find(l, domid, devid);

	if (!h)
		return 0;
	*h = l->v[--l->n];
	return 1;
}

void nat_hosts_free(struct nat_hosts *l)
{
	bool leases6 = l->leases6;

	free(l->v);
	memset(l, 0, sizeof(*l));
	l->leases6 = leases6; /* a setting of the network, not an entry */
}

/* The stream's buffer is only valid once it is closed. */
static int write_file(const char *path, FILE *f, char **buf, size_t *len)
{
	int rc;

	if (fclose(f)) {
		free(*buf);
		return err_set(-ENOMEM, "out of memory");
	}
	rc = atomic_file_write(path, *buf, *len, 0644);
	free(*buf);
	return rc;
}

/* dhcp-hostsfile lines are "mac,ip,name" (a static lease with its name),
 * "mac,ip,[ip6],name" (and a DHCPv6 one: dnsmasq finds a DHCPv6 client's
 * MAC from its DUID or its link-local address) or "mac,name" (a name for a
 * lease from the range); addn-hosts lines "ip name". */
int nat_hosts_write(const struct nat_hosts *l, const char *dhcp_path, const char *hosts_path)
{
	char *dbuf = NULL, *hbuf = NULL, name[32], ip[INET_ADDRSTRLEN], ip6[INET6_ADDRSTRLEN];
	size_t dlen = 0, hlen = 0;
	FILE *df, *hf;
	int rc;

	df = open_memstream(&dbuf, &dlen);
	hf = df ? open_memstream(&hbuf, &hlen) : NULL;
	if (!hf) {
		if (df)
			fclose(df);
		free(dbuf);
		return err_set(-ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < l->n; i++) {
		const struct nat_host *h = &l->v[i];
		const uint8_t *m = h->mac;

		bool lease6 = h->has_ip6 && l->leases6;

		nat_host_name(h, name, sizeof(name));
		inet_ntop(AF_INET, &h->ip, ip, sizeof(ip));
		inet_ntop(AF_INET6, &h->ip6, ip6, sizeof(ip6));
		if (h->has_mac)
			fprintf(df, "%02x:%02x:%02x:%02x:%02x:%02x,%s%s%s%s%s%s\n", m[0], m[1],
				m[2], m[3], m[4], m[5], h->has_ip ? ip : "", h->has_ip ? "," : "",
				lease6 ? "[" : "", lease6 ? ip6 : "", lease6 ? "]," : "", name);
		if (h->has_ip)
			fprintf(hf, "%s %s\n", ip, name);
		if (h->has_ip6)
			fprintf(hf, "%s %s\n", ip6, name);
	}
	rc = write_file(dhcp_path, df, &dbuf, &dlen);
	if (rc == 0) {
		rc = write_file(hosts_path, hf, &hbuf, &hlen);
	} else {
		fclose(hf);
		free(hbuf);
	}
	return rc;
}
