/* ruleset: the nat network's nftables table (see ruleset.h). */
#include "nat/ruleset.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "lib/nft.h"

void nat_rs_init(struct nat_rs *rs, const char *bridge, const char *uplink,
		 const struct netd_cidr *gw, bool flowtable)
{
	memset(rs, 0, sizeof(*rs));
	/* nft identifiers take letters, digits, '_', '-', '.' and '/': the
	 * same set config and vif names are restricted to. */
	snprintf(rs->table, sizeof(rs->table), "netd_%s", bridge);
	snprintf(rs->bridge, sizeof(rs->bridge), "%s", bridge);
	snprintf(rs->uplink, sizeof(rs->uplink), "%s", uplink);
	rs->gw = *gw;
	rs->flowtable = flowtable;
}

/* The flowtable's declaration; the same text in the table and in the check. */
static void flowtable_decl(FILE *f, const struct nat_rs *rs)
{
	fprintf(f,
		"\tflowtable ft {\n"
		"\t\thook ingress priority filter; devices = { \"%s\", \"%s\" };\n"
		"\t}\n", rs->bridge, rs->uplink);
}

int nat_rs_flowtable_check(const struct nat_rs *rs)
{
	size_t len = 0;
	char *buf = NULL;
	FILE *f;
	int rc;

	f = open_memstream(&buf, &len);
	if (!f)
		return err_set(-ENOMEM, "out of memory");
	/* A table of its own that is never committed: the kernel answers
	 * whether it knows flowtables, and the devices must exist (the
	 * bridge does not yet, so the uplink stands for both). */
	fprintf(f, "table ip %s_ftcheck {\n", rs->table);
	fprintf(f,
		"\tflowtable ft {\n"
		"\t\thook ingress priority filter; devices = { \"%s\" };\n"
		"\t}\n}\n", rs->uplink);
	if (fclose(f)) {
		free(buf);
		return err_set(-ENOMEM, "out of memory");
	}
	rc = nft_check(buf);
	free(buf);
	if (rc == -ENOENT || rc == -EOPNOTSUPP)
		return err_set(-EOPNOTSUPP,
			       "%s: flowtable = yes, but this kernel has no nftables flowtable "
			       "(CONFIG_NF_FLOW_TABLE and CONFIG_NF_FLOW_TABLE_INET); set flowtable = no",
			       rs->bridge);
	return rc ? err_prefix(rc, "%s: flowtable check", rs->bridge) : 0;
}

static void subnet_str(const struct netd_cidr *c, char *buf, size_t len)
{
	uint32_t mask = c->prefixlen ? htonl(~0u << (32 - c->prefixlen)) : 0;
	struct in_addr n = { .s_addr = c->addr.v4.s_addr & mask };
	char a[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &n, a, sizeof(a));
	snprintf(buf, len, "%s/%u", a, c->prefixlen);
}

static void elem_str(const struct nat_fwd *f, char *buf, size_t len)
{
	char a[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &f->dest, a, sizeof(a));
	snprintf(buf, len, "%s . %u : %s . %u", nat_proto_name(f->proto), f->port, a, f->dport);
}

/* The forwards' keys again, as a set: the bridged-pass rules only ask
 * whether a port is forwarded, and kernels before 6.5 refuse a lookup in a
 * map that does not read the value. */
void nat_rs_ports_decl(FILE *f, const struct nat_fwds *fwds)
{
	fprintf(f, "\tset fwdports {\n\t\ttype inet_proto . inet_service\n");
	if (fwds->n) {
		fprintf(f, "\t\telements = {");
		for (size_t i = 0; i < fwds->n; i++)
			fprintf(f, "%s\n\t\t\t%s . %u", i ? "," : "", nat_proto_name(fwds->v[i].proto),
				fwds->v[i].port);
		fprintf(f, "\n\t\t}\n");
	}
	fprintf(f, "\t}\n");
}

/* br_netfilter (docs/architecture.md): when the uplink is a veth whose peer
 * is a bridge port (Xen's classic eth0 and vif0.0 on xenbr0), upstream's
 * packet for the uplink's address crosses that bridge first, and the IP
 * hooks see it there with iif the bridge. The dnat rule (iif the uplink)
 * does not match, conntrack confirms the connection unNATed, and at the
 * uplink, after the veth has reset the packet's conntrack, the lookup finds
 * that entry and the dnat is never asked: upstream gets a reset. So that
 * bridged pass of a forwarded port's packets, and of their replies on the
 * way out, is not tracked: the uplink's pass makes and NATs the connection,
 * as with the sysctls at 0. Only that: the input is another bridge than
 * ours, the address is local but not on that bridge (a packet for the
 * bridge's own address is delivered there, not bridged), the port is
 * forwarded. Untracking the replies too keeps a stateful filter that sees
 * bridged packets (ct state invalid drop) from dropping them. */
void nat_rs_bridged_chain(FILE *f, const char *family, const char *up, const char *br)
{
	static const char *const dir[2][2] = { { "daddr", "dport" }, { "saddr", "sport" } };
	bool v6 = !strcmp(family, "ip6");

	fprintf(f,
		"\tchain bridged {\n"
		"\t\ttype filter hook prerouting priority raw; policy accept;\n");
	for (int i = 0; i < 2; i++)
		fprintf(f,
			"\t\tiifname != { \"%s\", \"%s\" } meta iifkind \"bridge\" "
			"fib %s type local fib %s . iif type != local %s%s%s"
			"meta l4proto . th %s @fwdports notrack\n",
			up, br, dir[i][0], dir[i][0], v6 ? "ip6 " : "", v6 ? dir[i][0] : "",
			v6 ? " != fe80::/10 " : "", dir[i][1]);
	fprintf(f, "\t}\n");
}

/* nft 1.0.6 wants a newline (or ';') before each closing brace. */
int nat_rs_apply(const struct nat_rs *rs, const struct nat_fwds *fwds)
{
	char net[INET_ADDRSTRLEN + 4], gw[INET_ADDRSTRLEN], el[96];
	const char *t = rs->table, *br = rs->bridge, *up = rs->uplink;
	size_t len = 0;
	char *buf = NULL;
	FILE *f;
	int rc;

	subnet_str(&rs->gw, net, sizeof(net));
	inet_ntop(AF_INET, &rs->gw.addr.v4, gw, sizeof(gw));
	f = open_memstream(&buf, &len);
	if (!f)
		return err_set(-ENOMEM, "out of memory");
	/* add + delete: the table is replaced whether or not it exists, in
	 * the same transaction as its new definition. */
	fprintf(f, "add table ip %s\ndelete table ip %s\n", t, t);
	fprintf(f, "table ip %s {\n", t);
	fprintf(f, "\tmap forwards {\n"
		   "\t\ttype inet_proto . inet_service : ipv4_addr . inet_service\n");
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
	if (rs->flowtable)
		flowtable_decl(f, rs);
	nat_rs_bridged_chain(f, "ip", up, br);
	fprintf(f,
		"\tchain prerouting {\n"
		"\t\ttype nat hook prerouting priority dstnat; policy accept;\n"
		"\t\tiifname \"%s\" fib daddr type local dnat ip to meta l4proto . th dport map @forwards\n"
		"\t\tiifname \"%s\" fib daddr type local ip daddr != %s dnat ip to meta l4proto . th dport map @forwards\n"
		"\t}\n", up, br, gw);
	fprintf(f,
		"\tchain postrouting {\n"
		"\t\ttype nat hook postrouting priority srcnat; policy accept;\n"
		"\t\toifname \"%s\" ip saddr %s ip daddr != %s masquerade\n"
		"\t\toifname \"%s\" ip saddr %s ip daddr %s ct status dnat masquerade\n"
		"\t}\n", up, net, net, br, net, net);
	/* Every forwarded packet runs this chain, so the two common cases
	 * come first, one rule each: a guest's packet on its way out, and a
	 * reply on its way back. The rest decides what used to be decided
	 * for them too, in an order that gives every packet the verdict of
	 * the chain it replaces (docs/architecture.md): from the bridge with
	 * a foreign source only back into the bridge; into the bridge only
	 * replies and forwards. */
	fprintf(f,
		"\tchain forward {\n"
		"\t\ttype filter hook forward priority filter; policy accept;\n");
	/* First, so an offloaded connection never comes here again. The
	 * kernel offloads a connection only once conntrack has confirmed it
	 * (TCP: once established), and a connection whose first packet the
	 * rules below drop is never confirmed: only what they accept goes
	 * into the flowtable, both directions at once, and every verdict
	 * below depends only on a connection's devices, addresses and
	 * state, which an offloaded one keeps. */
	if (rs->flowtable)
		fprintf(f, "\t\tmeta l4proto { tcp, udp } flow add @ft\n");
	fprintf(f,
		"\t\tiifname \"%s\" ip saddr %s accept\n"
		"\t\toifname \"%s\" ip daddr %s ct state established,related accept\n"
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
	return rc ? err_prefix(rc, "nftables table ip %s", t) : 0;
}

int nat_rs_delete(const struct nat_rs *rs)
{
	char cmd[128];
	int rc;

	snprintf(cmd, sizeof(cmd), "add table ip %s\ndelete table ip %s\n", rs->table, rs->table);
	rc = nft_run(cmd);
	return rc ? err_prefix(rc, "cannot delete nftables table ip %s", rs->table) : 0;
}

int nat_rs_exists(const struct nat_rs *rs)
{
	char *out, *line, *save = NULL, want[64];
	int rc;

	rc = nft_run_out("list tables ip", false, &out);
	if (rc)
		return err_prefix(rc, "cannot list nftables tables");
	snprintf(want, sizeof(want), "table ip %s", rs->table);
	rc = 0;
	for (line = strtok_r(out, "\n", &save); line && !rc; line = strtok_r(NULL, "\n", &save))
		rc = !strcmp(line, want);
	free(out);
	return rc;
}

/* The map's element and the set's key in one transaction. */
int nat_rs_fwd_add(const struct nat_rs *rs, const struct nat_fwd *f)
{
	char cmd[320], el[96];

	elem_str(f, el, sizeof(el));
	snprintf(cmd, sizeof(cmd),
		 "add element ip %s forwards { %s }\nadd element ip %s fwdports { %s . %u }\n",
		 rs->table, el, rs->table, nat_proto_name(f->proto), f->port);
	return nft_run(cmd);
}

int nat_rs_fwd_del(const struct nat_rs *rs, const struct nat_fwd *f)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd),
		 "delete element ip %s forwards { %s . %u }\ndelete element ip %s fwdports { %s . %u }\n",
		 rs->table, nat_proto_name(f->proto), f->port, rs->table, nat_proto_name(f->proto),
		 f->port);
	return nft_run(cmd);
}
