/* forward: port forward specs, list and journal (see forward.h). */
#include "nat/forward.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/atomic_file.h"
#include "lib/err.h"
#include "lib/fwd_spec.h"
#include "lib/journal.h"
#include "lib/log.h"

#define JOURNAL_MAX (64u << 20)

const char *nat_proto_name(uint8_t proto)
{
	return proto == IPPROTO_UDP ? "udp" : "tcp";
}

int nat_fwd_parse(const char *spec, bool key_ok, struct nat_fwd *f, bool *has_dest)
{
	struct fwd_spec fs;

	memset(f, 0, sizeof(*f));
	if (has_dest)
		*has_dest = false;
	if (fwd_spec_parse(spec, key_ok, &fs) < 0)
		return err_prefix(-EINVAL, "forward '%.*s%s'", 60, spec, strlen(spec) > 60 ? "..." : "");
	*f = (struct nat_fwd){ .proto = fs.proto, .port = fs.port, .dport = fs.dport,
			       .v6 = fs.family == AF_INET6 };
	if (f->v6)
		f->dest6 = fs.dest.v6;
	else
		f->dest = fs.dest.v4;
	if (has_dest)
		*has_dest = fs.family != 0;
	return 0;
}

static int fwd_check6(const struct nat_fwd *f, const struct netd_cidr *sn, const char *net,
		      const char *spec)
{
	char a[INET6_ADDRSTRLEN], s[INET6_ADDRSTRLEN];
	struct in6_addr n = sn->addr.v6, x = f->dest6;
	bool inside = true, host_zero = true;

	for (unsigned i = 0; i < 16; i++) {
		unsigned bits = sn->prefixlen > 8 * i ? sn->prefixlen - 8 * i : 0;
		uint8_t m = bits >= 8 ? 0xff : (uint8_t)(0xff00 >> bits);

		n.s6_addr[i] &= m;
		inside &= (x.s6_addr[i] & m) == n.s6_addr[i];
		host_zero &= (x.s6_addr[i] & (uint8_t)~m) == 0;
	}
	inet_ntop(AF_INET6, &f->dest6, a, sizeof(a));
	inet_ntop(AF_INET6, &n, s, sizeof(s));
	if (!inside)
		return err_set(-EINVAL, "forward '%s': destination %s is not inside %s/%u of %s", spec,
			       a, s, sn->prefixlen, net);
	if (host_zero || !memcmp(&x, &sn->addr.v6, sizeof(x)))
		return err_set(-EINVAL,
			       "forward '%s': destination %s is the gateway or subnet-router anycast address of %s/%u",
			       spec, a, s, sn->prefixlen);
	return 0;
}

int nat_fwd_check(const struct nat_fwd *f, const struct netd_cidr *subnet,
		  const struct netd_cidr *subnet6, const char *net)
{
	uint32_t mask = subnet->prefixlen ? htonl(~0u << (32 - subnet->prefixlen)) : 0;
	uint32_t d = f->dest.s_addr, sn = subnet->addr.v4.s_addr & mask;
	char spec[NAT_FWD_STRLEN], a[INET_ADDRSTRLEN], s[INET_ADDRSTRLEN];
	struct in_addr sna = { .s_addr = sn };

	nat_fwd_format(f, spec, sizeof(spec));
	if (f->v6 && !subnet6)
		return err_set(-EINVAL, "forward '%s': %s has no IPv6 (no address6)", spec, net);
	if (f->v6)
		return fwd_check6(f, subnet6, net, spec);
	inet_ntop(AF_INET, &f->dest, a, sizeof(a));
	inet_ntop(AF_INET, &sna, s, sizeof(s));
	if ((d & mask) != sn)
		return err_set(-EINVAL, "forward '%s': destination %s is not inside %s/%u of %s",
			       spec, a, s, subnet->prefixlen, net);
	if (d == subnet->addr.v4.s_addr || d == sn || d == (sn | ~mask))
		return err_set(-EINVAL,
			       "forward '%s': destination %s is the gateway, network or broadcast address of %s/%u",
			       spec, a, s, subnet->prefixlen);
	return 0;
}

bool nat_fwd_equal(const struct nat_fwd *a, const struct nat_fwd *b)
{
	if (a->proto != b->proto || a->port != b->port || a->dport != b->dport || a->v6 != b->v6)
		return false;
	return a->v6 ? !memcmp(&a->dest6, &b->dest6, sizeof(a->dest6)) :
		       a->dest.s_addr == b->dest.s_addr;
}

void nat_fwd_format(const struct nat_fwd *f, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	if (f->v6) {
		inet_ntop(AF_INET6, &f->dest6, a, sizeof(a));
		snprintf(buf, len, "%s:%u:[%s]:%u", nat_proto_name(f->proto), f->port, a, f->dport);
		return;
	}
	inet_ntop(AF_INET, &f->dest, a, sizeof(a));
	snprintf(buf, len, "%s:%u:%s:%u", nat_proto_name(f->proto), f->port, a, f->dport);
}

struct nat_fwd *nat_fwds_find(struct nat_fwds *l, uint8_t proto, uint16_t port)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i].proto == proto && l->v[i].port == port)
			return &l->v[i];
	return NULL;
}

int nat_fwds_add(struct nat_fwds *l, const struct nat_fwd *f)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		struct nat_fwd *v = realloc(l->v, cap * sizeof(*v));

		if (!v)
			return err_set(-ENOMEM, "out of memory");
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = *f;
	return 0;
}

void nat_fwds_del(struct nat_fwds *l, struct nat_fwd *f)
{
	*f = l->v[--l->n];
}

void nat_fwds_free(struct nat_fwds *l)
{
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static int fwd_cmp(const void *x, const void *y)
{
	const struct nat_fwd *a = x, *b = y;

	if (a->proto != b->proto)
		return a->proto < b->proto ? -1 : 1;
	return (a->port > b->port) - (a->port < b->port);
}

int nat_fwds_sorted(const struct nat_fwds *l, struct nat_fwd **out)
{
	*out = malloc((l->n ? l->n : 1) * sizeof(**out));
	if (!*out)
		return err_set(-ENOMEM, "out of memory");
	if (l->n)
		memcpy(*out, l->v, l->n * sizeof(**out));
	qsort(*out, l->n, sizeof(**out), fwd_cmp);
	return 0;
}

struct replay {
	struct nat_fwds *l4, *l6;
};

static int replay_del(struct nat_fwds *l, const struct nat_fwd *f)
{
	struct nat_fwd *old = nat_fwds_find(l, f->proto, f->port);

	if (old)
		nat_fwds_del(l, old);
	return 0;
}

/* A line the journal cannot use (a torn last write after a crash) is skipped:
 * the change it recorded never got its reply either. */
static int replay_line(char *line, void *data)
{
	struct replay *r = data;
	struct nat_fwds *l;
	struct nat_fwd f, *old;
	bool has_dest;

	if ((line[0] != '+' && line[0] != '-') ||
	    nat_fwd_parse(line + 1, line[0] == '-', &f, &has_dest)) {
		log_warn("forward journal: skipping unreadable line '%.80s'", line);
		return 0;
	}
	l = f.v6 ? r->l6 : r->l4;
	if (line[0] == '-') {
		replay_del(l, &f);
		if (!has_dest) /* PROTO:PORT: both families */
			replay_del(r->l6, &f);
		return 0;
	}
	old = nat_fwds_find(l, f.proto, f.port);
	if (old)
		*old = f;
	else
		return nat_fwds_add(l, &f);
	return 0;
}

int nat_fwd_journal_load(const char *path, struct nat_fwds *l4, struct nat_fwds *l6)
{
	struct replay r = { l4, l6 };

	return journal_foreach(path, JOURNAL_MAX, replay_line, &r);
}

int nat_fwd_journal_rewrite(const char *path, const struct nat_fwds *l4,
			    const struct nat_fwds *l6)
{
	char *buf = malloc((l4->n + l6->n) * (NAT_FWD_STRLEN + 2) + 1);
	size_t len = 0;
	int rc;

	if (!buf)
		return err_set(-ENOMEM, "out of memory");
	for (int k = 0; k < 2; k++) {
		const struct nat_fwds *l = k ? l6 : l4;

		for (size_t i = 0; i < l->n; i++) {
			buf[len++] = '+';
			nat_fwd_format(&l->v[i], buf + len, NAT_FWD_STRLEN);
			len += strlen(buf + len);
			buf[len++] = '\n';
		}
	}
	rc = atomic_file_write(path, buf, len, 0600);
	free(buf);
	return rc;
}

/* A removal names the destination too, so that it removes the forward of
 * its own family only when replayed. */
int nat_fwd_journal_append(const char *path, bool add, const struct nat_fwd *f)
{
	char line[NAT_FWD_STRLEN + 2];

	line[0] = add ? '+' : '-';
	nat_fwd_format(f, line + 1, NAT_FWD_STRLEN);
	strcat(line, "\n");
	return journal_append(path, line, strlen(line));
}
