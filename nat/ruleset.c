/* ruleset: the nat network's nftables tables, IPv4 and IPv6 (see ruleset.h). */
#include "nat/ruleset.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "lib/nft.h"

void nat_rs_init(struct nat_rs *rs, bool v6, const char *bridge, const char *uplink,
		 const struct netd_cidr *gw, bool masquerade, bool flowtable)
{
	memset(rs, 0, sizeof(*rs));
	/* nft identifiers take letters, digits, '_', '-', '.' and '/': the
	 * same set config and vif names are restricted to. */
	snprintf(rs->table, sizeof(rs->table), "netd_%s", bridge);
	snprintf(rs->bridge, sizeof(rs->bridge), "%s", bridge);
	snprintf(rs->uplink, sizeof(rs->uplink), "%s", uplink);
	rs->gw = *gw;
	rs->v6 = v6;
	rs->masquerade = masquerade;
	rs->flowtable = flowtable && !rs->v6;
}

/* The family's words: the table's family and its address match. */
static const char *fam(const struct nat_rs *rs)
{
	return rs->v6 ? "ip6" : "ip";
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

/* An address of rs's family, and the subnet gw/prefixlen it is in. */
static void addr_str(const struct nat_rs *rs, const void *a, char *buf, size_t len)
{
	inet_ntop(rs->v6 ? AF_INET6 : AF_INET, a, buf, len);
}

static void subnet_str(const struct nat_rs *rs, char *buf, size_t len)
{
	const struct netd_cidr *c = &rs->gw;
	struct in6_addr n = c->addr.v6;
	char a[INET6_ADDRSTRLEN];

	if (rs->v6) {
		for (unsigned i = 0; i < 16; i++) {
			unsigned bits = c->prefixlen > 8 * i ? c->prefixlen - 8 * i : 0;

			n.s6_addr[i] &= bits >= 8 ? 0xff : (uint8_t)(0xff00 >> bits);
		}
		addr_str(rs, &n, a, sizeof(a));
	} else {
		uint32_t mask = c->prefixlen ? htonl(~0u << (32 - c->prefixlen)) : 0;
		struct in_addr n4 = { .s_addr = c->addr.v4.s_addr & mask };

		addr_str(rs, &n4, a, sizeof(a));
	}
	snprintf(buf, len, "%s/%u", a, c->prefixlen);
}

static void elem_str(const struct nat_rs *rs, const struct nat_fwd *f, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	addr_str(rs, rs->v6 ? (const void *)&f->dest6 : (const void *)&f->dest, a, sizeof(a));
	snprintf(buf, len, "%s . %u : %s . %u", nat_proto_name(f->proto), f->port, a, f->dport);
}

/* The forwards' keys again, as a set: the bridged-pass rules only ask
 * whether a port is forwarded, and kernels before 6.5 refuse a lookup in a
 * map that does not read the value. */
static void ports_decl(FILE *f, const struct nat_fwds *fwds)
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
 * bridged packets (ct state invalid drop) from dropping them. IPv6 leaves
 * link-local addresses alone, as its dnat does.
 *
 * Every packet the namespace receives runs the base chain, the network's
 * own guests' and the uplink's above all, so its one rule turns them away
 * with the first or second test, each a name compared inline, before any
 * set lookup or fib (bench/datapath: the two full rules as base-chain rules
 * were 4.3% of a guest's 64-byte frame, this 1.7%). The few packets left go
 * to bridged_pass for the rest of the test.
 *
 * Even so it costs every packet a hook and a rule, and it can only ever
 * match a forwarded port: the chains exist only while the table has a
 * forward (nat_rs_apply with forwards; nat_rs_fwd_add with the first one,
 * nat_rs_fwd_del gone with the last one, each in the same transaction as
 * the elements, so the chain and @fwdports never disagree). */
static void bridged_chain(FILE *f, const struct nat_rs *rs)
{
	static const char *const dir[2][2] = { { "daddr", "dport" }, { "saddr", "sport" } };

	fprintf(f, "\tchain bridged_pass {\n");
	for (int i = 0; i < 2; i++)
		fprintf(f,
			"\t\tfib %s type local fib %s . iif type != local %s%s%s"
			"meta l4proto . th %s @fwdports notrack\n",
			dir[i][0], dir[i][0], rs->v6 ? "ip6 " : "", rs->v6 ? dir[i][0] : "",
			rs->v6 ? " != fe80::/10 " : "", dir[i][1]);
	fprintf(f,
		"\t}\n"
		"\tchain bridged {\n"
		"\t\ttype filter hook prerouting priority raw; policy accept;\n"
		"\t\tiifname != \"%s\" meta iifkind \"bridge\" iifname != \"%s\" goto bridged_pass\n"
		"\t}\n", rs->bridge, rs->uplink);
}

/* nft 1.0.6 wants a newline (or ';') before each closing brace. */
int nat_rs_apply(const struct nat_rs *rs, const struct nat_fwds *fwds)
{
	char net[INET6_ADDRSTRLEN + 4], gw[INET6_ADDRSTRLEN], el[128];
	const char *t = rs->table, *br = rs->bridge, *up = rs->uplink, *ip = fam(rs);
	size_t len = 0;
	char *buf = NULL;
	FILE *f;
	int rc;

	subnet_str(rs, net, sizeof(net));
	addr_str(rs, &rs->gw.addr, gw, sizeof(gw));
	f = open_memstream(&buf, &len);
	if (!f)
		return err_set(-ENOMEM, "out of memory");
	/* add + delete: the table is replaced whether or not it exists, in
	 * the same transaction as its new definition. */
	fprintf(f, "add table %s %s\ndelete table %s %s\n", ip, t, ip, t);
	fprintf(f, "table %s %s {\n", ip, t);
	fprintf(f, "\tmap forwards {\n"
		   "\t\ttype inet_proto . inet_service : %s . inet_service\n",
		rs->v6 ? "ipv6_addr" : "ipv4_addr");
	if (fwds->n) {
		fprintf(f, "\t\telements = {");
		for (size_t i = 0; i < fwds->n; i++) {
			elem_str(rs, &fwds->v[i], el, sizeof(el));
			fprintf(f, "%s\n\t\t\t%s", i ? "," : "", el);
		}
		fprintf(f, "\n\t\t}\n");
	}
	fprintf(f, "\t}\n");
	ports_decl(f, fwds);
	if (rs->flowtable)
		flowtable_decl(f, rs);
	if (fwds->n)
		bridged_chain(f, rs);
	/* IPv6: link-local destinations are never forwarded; a guest talking
	 * to the gateway's fe80:: address means the gateway. */
	fprintf(f,
		"\tchain prerouting {\n"
		"\t\ttype nat hook prerouting priority dstnat; policy accept;\n");
	if (rs->v6)
		fprintf(f,
			"\t\tiifname \"%s\" fib daddr type local ip6 daddr != fe80::/10 dnat ip6 to meta l4proto . th dport map @forwards\n"
			"\t\tiifname \"%s\" fib daddr type local ip6 daddr != { fe80::/10, %s } dnat ip6 to meta l4proto . th dport map @forwards\n",
			up, br, gw);
	else
		fprintf(f,
			"\t\tiifname \"%s\" fib daddr type local dnat ip to meta l4proto . th dport map @forwards\n"
			"\t\tiifname \"%s\" fib daddr type local ip daddr != %s dnat ip to meta l4proto . th dport map @forwards\n",
			up, br, gw);
	fprintf(f, "\t}\n");
	fprintf(f,
		"\tchain postrouting {\n"
		"\t\ttype nat hook postrouting priority srcnat; policy accept;\n");
	if (rs->masquerade)
		fprintf(f, "\t\toifname \"%s\" %s saddr %s %s daddr != %s masquerade\n", up, ip, net,
			ip, net);
	fprintf(f,
		"\t\toifname \"%s\" %s saddr %s %s daddr %s ct status dnat masquerade\n"
		"\t}\n", br, ip, net, ip, net);
	/* Every forwarded packet runs this chain, so the two common cases
	 * come first, one rule each: a guest's packet on its way out, and a
	 * reply on its way back. The rest decides what used to be decided
	 * for them too, in an order that gives every packet the verdict of
	 * the chain it replaces (docs/architecture.md): from the bridge with
	 * a foreign source only back into the bridge; into the bridge only
	 * replies (IPv6: ICMPv6 errors such as packet-too-big are related)
	 * and forwards. */
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
	/* The first rule names the bridge by index (`iif`, 4 bytes loaded
	 * and compared) rather than by name (16): bench/datapath's profile
	 * put the chain at 3.3% of a guest's 64-byte frame with the name,
	 * 2.8% with the index. An index is resolved now, so only while the
	 * bridge exists (an adoption may find it gone: then the name), and
	 * only in this rule: should the bridge ever be made again under
	 * the table, the rules below still go by name and a guest's packet
	 * meets `iifname ... drop`, never an accept it should not get. */
	/* Masqueraded, a guest's packet conntrack calls invalid (a TCP RST,
	 * FIN or SYN-ACK of no connection) would leave with its private
	 * source: the nat chains never see such a packet. It goes on to
	 * `iifname ... drop` instead (back into the bridge it still may).
	 * Routed (IPv6, nat6 = routed), nothing is hidden: such a packet
	 * leaves as through any router, a guest's RST for a connection
	 * conntrack has forgotten included. */
	fprintf(f, "\t\t%s \"%s\" %s saddr %s %saccept\n", if_nametoindex(br) ? "iif" : "iifname",
		br, ip, net, rs->masquerade ? "ct state != invalid " : "");
	fprintf(f,
		"\t\toifname \"%s\" %s daddr %s ct state established,related accept\n"
		"\t\tiifname \"%s\" oifname \"%s\" accept\n"
		"\t\tiifname \"%s\" drop\n"
		"\t\toifname \"%s\" ct status dnat accept\n"
		"\t\toifname \"%s\" reject\n"
		"\t}\n", br, ip, net, br, br, br, br, br);
	fprintf(f, "}\n");
	if (fclose(f)) {
		free(buf);
		return err_set(-ENOMEM, "out of memory");
	}
	rc = nft_run(buf);
	free(buf);
	return rc ? err_prefix(rc, "nftables table %s %s", ip, t) : 0;
}

int nat_rs_delete(const struct nat_rs *rs)
{
	char cmd[128];
	int rc;

	snprintf(cmd, sizeof(cmd), "add table %s %s\ndelete table %s %s\n", fam(rs), rs->table,
		 fam(rs), rs->table);
	rc = nft_run(cmd);
	return rc ? err_prefix(rc, "cannot delete nftables table %s %s", fam(rs), rs->table) : 0;
}

int nat_rs_exists(const struct nat_rs *rs)
{
	char *out, *line, *save = NULL, want[64], cmd[32];
	int rc;

	snprintf(cmd, sizeof(cmd), "list tables %s", fam(rs));
	rc = nft_run_out(cmd, false, &out);
	if (rc)
		return err_prefix(rc, "cannot list nftables tables");
	snprintf(want, sizeof(want), "table %s %s", fam(rs), rs->table);
	rc = 0;
	for (line = strtok_r(out, "\n", &save); line && !rc; line = strtok_r(NULL, "\n", &save))
		rc = !strcmp(line, want);
	free(out);
	return rc;
}

/* Run an nft script built in a memory stream: 0 or -errno with a message. */
static int run_stream(FILE *f, char **buf)
{
	int rc;

	if (fclose(f)) {
		free(*buf);
		return err_set(-ENOMEM, "out of memory");
	}
	rc = nft_run(*buf);
	free(*buf);
	return rc;
}

/* The map's element and the set's key in one transaction; with the first
 * forward, the bridged chains too (bridged_chain). */
int nat_rs_fwd_add(const struct nat_rs *rs, const struct nat_fwd *fw, bool first)
{
	size_t len = 0;
	char *buf = NULL, el[128];
	FILE *f;

	f = open_memstream(&buf, &len);
	if (!f)
		return err_set(-ENOMEM, "out of memory");
	elem_str(rs, fw, el, sizeof(el));
	fprintf(f, "add element %s %s forwards { %s }\nadd element %s %s fwdports { %s . %u }\n",
		fam(rs), rs->table, el, fam(rs), rs->table, nat_proto_name(fw->proto), fw->port);
	if (first) {
		fprintf(f, "table %s %s {\n", fam(rs), rs->table);
		bridged_chain(f, rs);
		fprintf(f, "}\n");
	}
	return run_stream(f, &buf);
}

/* With the last forward, the bridged chains go in the same transaction:
 * the base chain first, it jumps to bridged_pass. */
int nat_rs_fwd_del(const struct nat_rs *rs, const struct nat_fwd *fw, bool last)
{
	char cmd[384];
	int n;

	n = snprintf(cmd, sizeof(cmd),
		     "delete element %s %s forwards { %s . %u }\n"
		     "delete element %s %s fwdports { %s . %u }\n",
		     fam(rs), rs->table, nat_proto_name(fw->proto), fw->port, fam(rs), rs->table,
		     nat_proto_name(fw->proto), fw->port);
	if (last)
		snprintf(cmd + n, sizeof(cmd) - n,
			 "delete chain %s %s bridged\ndelete chain %s %s bridged_pass\n", fam(rs),
			 rs->table, fam(rs), rs->table);
	return nft_run(cmd);
}
