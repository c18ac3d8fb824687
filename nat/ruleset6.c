/* ruleset6: the nat network's IPv6 nftables table (see ruleset6.h). */
#include "nat/ruleset6.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "lib/nft.h"
#include "nat/ruleset.h"

void nat_rs6_init(struct nat_rs6 *rs, const char *bridge, const char *uplink,
		  const struct netd_cidr *gw, bool masquerade)
{
	memset(rs, 0, sizeof(*rs));
	snprintf(rs->table, sizeof(rs->table), "netd_%s", bridge);
	snprintf(rs->bridge, sizeof(rs->bridge), "%s", bridge);
	snprintf(rs->uplink, sizeof(rs->uplink), "%s", uplink);
	rs->gw = *gw;
	rs->masquerade = masquerade;
}

static void subnet_str(const struct netd_cidr *c, char *buf, size_t len)
{
	struct in6_addr n = c->addr.v6;
	char a[INET6_ADDRSTRLEN];

	for (unsigned i = 0; i < 16; i++) {
		unsigned bits = c->prefixlen > 8 * i ? c->prefixlen - 8 * i : 0;

		n.s6_addr[i] &= bits >= 8 ? 0xff : (uint8_t)(0xff00 >> bits);
	}
	inet_ntop(AF_INET6, &n, a, sizeof(a));
	snprintf(buf, len, "%s/%u", a, c->prefixlen);
}

static void elem_str(const struct nat_fwd *f, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	inet_ntop(AF_INET6, &f->dest6, a, sizeof(a));
	snprintf(buf, len, "%s . %u : %s . %u", nat_proto_name(f->proto), f->port, a, f->dport);
}

/* nft 1.0.6 wants a newline (or ';') before each closing brace. */
int nat_rs6_apply(const struct nat_rs6 *rs, const struct nat_fwds *fwds)
{
	char net[INET6_ADDRSTRLEN + 4], gw[INET6_ADDRSTRLEN], el[128];
	const char *t = rs->table, *br = rs->bridge, *up = rs->uplink;
	size_t len = 0;
	char *buf = NULL;
	FILE *f;
	int rc;

	subnet_str(&rs->gw, net, sizeof(net));
	inet_ntop(AF_INET6, &rs->gw.addr.v6, gw, sizeof(gw));
	f = open_memstream(&buf, &len);
	if (!f)
		return err_set(-ENOMEM, "out of memory");
	fprintf(f, "add table ip6 %s\ndelete table ip6 %s\n", t, t);
	fprintf(f, "table ip6 %s {\n", t);
	fprintf(f, "\tmap forwards {\n"
		   "\t\ttype inet_proto . inet_service : ipv6_addr . inet_service\n");
	if (fwds->n) {
		fprintf(f, "\t\telements = {");
		for (size_t i = 0; i < fwds->n; i++) {
			elem_str(&fwds->v[i], el, sizeof(el));
			fprintf(f, "%s\n\t\t\t%s", i ? "," : "", el);
		}
		fprintf(f, "\n\t\t}\n");
	}
	fprintf(f, "\t}\n");
	nat_rs_ports_decl(f, fwds);
	nat_rs_bridged_chain(f, "ip6", up, br);
	/* Link-local destinations are never forwarded: a guest talking to the
	 * gateway's fe80:: address means the gateway. */
	fprintf(f,
		"\tchain prerouting {\n"
		"\t\ttype nat hook prerouting priority dstnat; policy accept;\n"
		"\t\tiifname \"%s\" fib daddr type local ip6 daddr != fe80::/10 dnat ip6 to meta l4proto . th dport map @forwards\n"
		"\t\tiifname \"%s\" fib daddr type local ip6 daddr != { fe80::/10, %s } dnat ip6 to meta l4proto . th dport map @forwards\n"
		"\t}\n", up, br, gw);
	fprintf(f,
		"\tchain postrouting {\n"
		"\t\ttype nat hook postrouting priority srcnat; policy accept;\n");
	if (rs->masquerade)
		fprintf(f, "\t\toifname \"%s\" ip6 saddr %s ip6 daddr != %s masquerade\n", up, net,
			net);
	fprintf(f,
		"\t\toifname \"%s\" ip6 saddr %s ip6 daddr %s ct status dnat masquerade\n"
		"\t}\n", br, net, net);
	/* The common cases first, as in the IPv4 table (ruleset.c, where
	 * the order is argued): the same verdicts, fewer rules per packet. */
	fprintf(f,
		"\tchain forward {\n"
		"\t\ttype filter hook forward priority filter; policy accept;\n"
		"\t\tiifname \"%s\" ip6 saddr %s accept\n"
		"\t\toifname \"%s\" ip6 daddr %s ct state established,related accept\n"
		"\t\tiifname \"%s\" oifname \"%s\" accept\n"
		"\t\tiifname \"%s\" drop\n"
		"\t\toifname \"%s\" ct status dnat accept\n"
		"\t\toifname \"%s\" reject\n"
		"\t}\n", br, net, br, net, br, br, br, br, br);
	fprintf(f, "}\n");
	if (fclose(f)) {
		free(buf);
		return err_set(-ENOMEM, "out of memory");
	}
	rc = nft_run(buf);
	free(buf);
	return rc ? err_prefix(rc, "nftables table ip6 %s", t) : 0;
}

int nat_rs6_delete(const struct nat_rs6 *rs)
{
	char cmd[128];
	int rc;

	snprintf(cmd, sizeof(cmd), "add table ip6 %s\ndelete table ip6 %s\n", rs->table, rs->table);
	rc = nft_run(cmd);
	return rc ? err_prefix(rc, "cannot delete nftables table ip6 %s", rs->table) : 0;
}

int nat_rs6_exists(const struct nat_rs6 *rs)
{
	char *out, *line, *save = NULL, want[64];
	int rc;

	rc = nft_run_out("list tables ip6", false, &out);
	if (rc)
		return err_prefix(rc, "cannot list nftables tables");
	snprintf(want, sizeof(want), "table ip6 %s", rs->table);
	rc = 0;
	for (line = strtok_r(out, "\n", &save); line && !rc; line = strtok_r(NULL, "\n", &save))
		rc = !strcmp(line, want);
	free(out);
	return rc;
}

int nat_rs6_fwd_add(const struct nat_rs6 *rs, const struct nat_fwd *f)
{
	char cmd[384], el[128];

	elem_str(f, el, sizeof(el));
	snprintf(cmd, sizeof(cmd),
		 "add element ip6 %s forwards { %s }\nadd element ip6 %s fwdports { %s . %u }\n",
		 rs->table, el, rs->table, nat_proto_name(f->proto), f->port);
	return nft_run(cmd);
}

int nat_rs6_fwd_del(const struct nat_rs6 *rs, const struct nat_fwd *f)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd),
		 "delete element ip6 %s forwards { %s . %u }\ndelete element ip6 %s fwdports { %s . %u }\n",
		 rs->table, nat_proto_name(f->proto), f->port, rs->table, nat_proto_name(f->proto),
		 f->port);
	return nft_run(cmd);
}
