/* antispoof: per-vif anti-spoofing and rate limits as nft set elements
 * (see antispoof.h for what is allowed and why the rules never change). */
#include "antispoof/antispoof.h"

#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "lib/log.h"
#include "lib/nft.h"
#include "antispoof/as_gw.h"
#include "antispoof/as_ifidx.h"
#include "antispoof/as_nl.h"
#include "antispoof/ratelimit.h"

/* What this process knows about a family's table. The kernel is the truth;
 * this only saves a round trip per plug. */
struct as_tbl {
	bool loaded;  /* n was read from the kernel */
	bool ready;   /* this process (re)wrote the rules */
	unsigned n;   /* elements of `vifs` */
};

static struct as_tbl tbls[2];

/* ---- the fixed ruleset ---- */

#define AS_SETS								\
	"\tset vifs { type ifname; }\n"					\
	"\tset guard { type ifname; }\n"				\
	"\tset macfree { type ifname; }\n"				\
	"\tset ipfree { type ifname; }\n"				\
	"\tset macs { type ifname . ether_addr; }\n"			\
	"\tset v4 { type ifname . ipv4_addr; }\n"			\
	"\tset v6 { type ifname . ipv6_addr; }\n"			\
	/* nft 1.0.6 has no `icmpv6 taddr`: the ND target is read raw,	\
	 * so its set holds the address as a 128-bit integer. */	\
	"\tset v6nd { typeof iifname . @th,64,128; }\n"			\
	/* Its mac= as an ND link-layer option reads it: length 1 and	\
	 * the MAC, one 56-bit integer (see as_ndopt). */		\
	"\tset ndll { typeof iifname . @th,200,56; }\n"			\
	/* What a vif without ip= or mac= may still never claim: Dom0's	\
	 * addresses and its routers (as_gw.h), as sources and as ND	\
	 * targets (raw, like v6nd). */					\
	"\tset gw4 { type ifname . ipv4_addr; }\n"			\
	"\tset gw6 { type ifname . ipv6_addr; }\n"			\
	"\tset gw6nd { typeof iifname . @th,64,128; }\n"		\
	/* A vif nat mode frees in its /64 (free6): the prefix with a	\
	 * zero interface id, keyed for sources and, raw, for ND	\
	 * targets; and the addresses guests own there (own6: whose,	\
	 * owned6: the address alone, raw, for either lookup), which	\
	 * no free vif may take. */					\
	"\tset v6pfx { type ifname . ipv6_addr; }\n"			\
	"\tset v6pfxnd { typeof iifname . @th,64,128; }\n"		\
	"\tset own6 { type ifname . ipv6_addr; }\n"			\
	"\tset owned6 { typeof @th,64,128; }\n"				\
	/* First come, first served (RFC 6620's idea) for the rest of	\
	 * a free /64: the packet path itself records which vif uses an	\
	 * address nobody owns (claim6: address . vif; claimed6: the	\
	 * address alone, to find it taken), refreshed by each use and	\
	 * forgotten AS_CLAIM_TTL after the last; claimrate bounds how	\
	 * fast one vif takes new ones (see AS_FREE). */			\
	"\tset claim6 { typeof @th,64,128 . iif; size " AS_CLAIM_MAX "; "	\
	"flags dynamic,timeout; timeout " AS_CLAIM_TTL "; }\n"		\
	"\tset claimed6 { typeof @th,64,128; size " AS_CLAIM_MAX "; "	\
	"flags dynamic,timeout; timeout " AS_CLAIM_TTL "; }\n"		\
	"\tset claimrate { typeof iif; size " AS_CLAIM_MAX "; "		\
	"flags dynamic,timeout; timeout " AS_CLAIM_TTL "; }\n"		\
	/* Per-vif state lives in the elements, not in named objects:	\
	 * a lookup runs the element's counter or limit, and libnftables	\
	 * would fetch every named object on every command (a plug would	\
	 * cost O(vifs)). The template limit is never used: each element	\
	 * brings its own. */						\
	/* The fast path (see AS_PRE): a vif with mac= and no rate= has	\
	 * its MAC and each of its addresses in one key, with the vif	\
	 * by index, not name (as_ifidx.h). */				\
	"\tset pass4 { type iface_index . ether_addr . ipv4_addr; }\n"	\
	"\tset pass6 { type iface_index . ether_addr . ipv6_addr; }\n"	\
	"\tset drops { type ifname; counter; }\n"			\
	"\tset rates { type ifname; limit rate over 1 bytes/second; }\n"	\
	"\tset ratedrops { type ifname; counter; }\n"

/* Chains are declared empty, flushed and then filled, all in one
 * transaction: rewriting them on a table a previous netd left behind keeps
 * its elements and never doubles a rule. */
#define AS_CHAINS_DECL							\
	"\tchain check { }\n"						\
	"\tchain as_arp { }\n"						\
	"\tchain as_ip4 { }\n"						\
	"\tchain as_ip6 { }\n"						\
	"\tchain as_ns { }\n"						\
	"\tchain as_na { }\n"						\
	"\tchain as_tgt { }\n"						\
	"\tchain as_ndopt { }\n"					\
	"\tchain as_rsopt { }\n"					\
	"\tchain as_frag { }\n"						\
	"\tchain as_src6 { }\n"					\
	"\tchain as_free6 { }\n"					\
	"\tchain as_freetgt { }\n"					\
	"\tchain bad { }\n"

/* Legitimate traffic first: a guest's TCP and UDP from its own MAC and
 * one of its own addresses (pass4, pass6) is what nearly every frame is,
 * and it is accepted by one rule and one lookup, where the full checks
 * below take seven rules and five lookups (bench/datapath measured them at
 * 16% of a 64-byte frame's cost through the bridge). Nothing the checks
 * refuse can match: ND, RA, redirects and the rest of ICMP are not TCP or
 * UDP; DHCP and DHCPv6 server replies (udp from 67, 547) are left to the
 * checks, and so is every address not its own (DHCP from 0.0.0.0, a vif
 * without ip=). A later fragment has no transport header to read, so it
 * never matches; a first one carries the header it is judged by. A vif
 * with rate= has no element there: its frames must meet its limit.
 *
 * The limit comes after the checks, so a spoofed frame is counted as
 * spoofed whatever the vif's credit. The lookup in `rates` matches only when
 * the vif's limit is exceeded (the element's `limit over` stops the rule
 * otherwise); then `ratedrops` counts it. A vif without rate= is in neither.
 * Plain sets only: a verdict map keyed by the vif would save a lookup per
 * frame, but the kernel walks every element of a verdict map to validate
 * each commit, and a plug would cost O(vifs).
 *
 * ET4 and ET6 are what the bridge family must test before that: the frame's
 * own ether type. By itself nft makes `ip saddr` depend on `meta protocol`,
 * which a VLAN-tagged frame passes (the kernel takes the tag off on
 * receive, and the protocol is the one inside); `ether type` reads the tag.
 * Without it a guest's tagged TCP or UDP from its own MAC and address was
 * accepted here and bridged to the LAN tagged, into any VLAN it named,
 * where `check` drops every tagged frame. A routed vif needs no such test:
 * the IP layer drops a frame tagged for no VLAN device before prerouting.
 *
 * The fast path's key names the vif by index (`iif`, 4 bytes), not by name
 * (`iifname`, 16): bench/datapath's profile put the chain at 6.3% of a
 * 64-byte frame through netd's nat with the name, 5.3% with the index
 * (inline compares in a chain of each vif's own, in this family or at the
 * vif's netdev ingress, were 4.5-4.7%: a hook's own cost is 1.5%, the rest
 * is expressions, and they would need a rule per vif). The other sets stay
 * keyed by name: they are off the common path, and names survive the vif. */
#define AS_PRE(ET4, ET6)						\
	"\tchain pre {\n"						\
	"\t\t" ET4 "meta l4proto { tcp, udp } th sport != 67 "		\
	"iif . ether saddr . ip saddr @pass4 accept\n"		\
	"\t\t" ET6 "meta l4proto { tcp, udp } th sport != 547 "		\
	"iif . ether saddr . ip6 saddr @pass6 accept\n"		\
	"\t\tiifname @guard jump check\n"				\
	"\t\tiifname @rates iifname @ratedrops drop\n"			\
	"\t}\n"

/* What no guest sends, with or without ip=: DHCP and DHCPv6 server (or
 * relay) replies, udp from port 67 or 547 (one guest handed another an ACK
 * naming the gateway), ICMP redirects, router advertisements. Then a vif
 * without ip= may use any address; the ND option check and the link-local
 * check come before that: it still has only its own MAC and link-local.
 * A first fragment must hold the upper-layer header (RFC 7112): without
 * it, an ND message would go past every ICMPv6 check here as some other
 * packet from an own address, to be reassembled by the receiver.
 *
 * Link-local: a vif with a MAC has one, the EUI-64 address of its MAC, in
 * v6 and v6nd with its ip= (see addrs_of). Any other link-local source, NA
 * target or DAD target is dropped: a guest's NA for the router's
 * link-local re-pointed Dom0's neighbour entry for it to the guest. A vif
 * without mac= may use any MAC, and so any link-local, as before. */
/* The /64 of an address, as a mask on it: as ip6 saddr and as a raw ND
 * target (v6pfx, v6pfxnd). */
#define PFX64 "ffff:ffff:ffff:ffff::"
#define PFX64RAW "0xffffffffffffffff0000000000000000"

/* How long a claim outlives the last packet that used it, and how many
 * claims a table holds. Ten minutes: an address moves between two live
 * vifs of a network only through an attack or a mistake (a guest that
 * goes away takes its claims with its vif's unplug, at once), so the
 * period only decides how long an address its owner stopped using (a
 * deprecated temporary address, a range lease given up) stays barred to
 * others, and how long an owner may fall silent without a neighbour
 * taking its address. An address in use sends far more often: every
 * connection, and each neighbour unreachability probe Dom0 sends while
 * it talks to the guest (Linux holds an entry reachable 15 to 45 s). */
#define AS_CLAIM_TTL "10m"
#define AS_CLAIM_MAX "65536"

/* First come, first served for an address A of a free /64 that no vif
 * owns (owned6) and that is not the anycast one, whether A is a source
 * (as_free6) or the target of an NA or DAD probe (as_freetgt): a vif
 * that holds A's claim refreshes it; another vif's packet is refused
 * while it lasts; otherwise the vif claims A, unless it took more than
 * 16 new addresses and 4 a minute since (claimrate; a Linux guest takes
 * one temporary address a day per prefix), which bounds what a guest
 * hoards and keeps the sets from filling up (when one is full anyway, the
 * add fails and the packet is refused: no address goes unowned). Two
 * first packets for one address from two vifs on two CPUs at the same
 * instant could both claim it; an attacker cannot aim at that instant
 * for an address it has never seen (a temporary address is random, and
 * its owner's DAD probe, the first packet seen, is its claim). */
#define AS_FREE(A)							\
	"\t\t" A " . iif @claim6 update @claim6 { " A " . iif } "		\
	"update @claimed6 { " A " } return\n"				\
	"\t\t" A " @claimed6 goto bad\n"				\
	"\t\tupdate @claimrate { iif limit rate over 4/minute burst 16 packets } goto bad\n" \
	"\t\tadd @claimed6 { " A " } add @claim6 { " A " . iif } return\n" \
	"\t\tgoto bad\n"

#define AS_L3								\
	"\tchain as_ip4 {\n"						\
	"\t\tudp sport 67 goto bad\n"					\
	"\t\ticmp type redirect goto bad\n"				\
	"\t\tiifname . ip saddr @v4 return\n"				\
	"\t\tiifname . ip saddr @gw4 goto bad\n"			\
	"\t\tiifname @ipfree return\n"					\
	"\t\tip saddr 0.0.0.0 udp sport 68 udp dport 67 return\n"	\
	"\t\tgoto bad\n"						\
	"\t}\n"								\
	"\tchain as_ip6 {\n"						\
	"\t\tfrag frag-off 0 jump as_frag\n"				\
	"\t\ticmpv6 type { nd-router-solicit, nd-neighbor-solicit, nd-neighbor-advert } " \
	"iifname != @macfree jump as_ndopt\n"				\
	"\t\tip6 saddr fe80::/10 iifname . ip6 saddr != @v6 iifname != @macfree goto bad\n" \
	"\t\ticmpv6 type vmap { nd-neighbor-advert : goto as_na, nd-neighbor-solicit : goto as_ns, " \
	"nd-router-advert : goto bad, nd-redirect : goto bad }\n"	\
	"\t\tudp sport 547 goto bad\n"					\
	/* own addresses first: the common case, one lookup */		\
	"\t\tiifname . ip6 saddr @v6 return\n"				\
	"\t\tiifname . ip6 saddr @gw6 goto bad\n"			\
	"\t\tiifname @ipfree return\n"					\
	"\t\tiifname . ip6 saddr & " PFX64 " @v6pfx goto as_free6\n"	\
	/* a vif without mac=: these from any link-local address */	\
	"\t\tip6 saddr fe80::/10 icmpv6 type { nd-router-solicit, mld-listener-report, mld-listener-done, mld2-listener-report } return\n" \
	"\t\tip6 saddr fe80::/10 udp sport 546 udp dport 547 return\n"	\
	/* from :: (RFC 3590: no link-local yet), MLDv1 too where the	\
	 * LAN has an MLDv1 querier */					\
	"\t\tip6 saddr :: icmpv6 type { nd-router-solicit, mld-listener-report, "	\
	"mld-listener-done, mld2-listener-report } return\n"		\
	"\t\tgoto bad\n"						\
	"\t}\n"								\
	/* Solicit from an own address (a link-local source was checked	\
	 * in as_ip6), any without ip=; DAD (from ::) only for an own	\
	 * target: without ip= any but a foreign link-local one, without	\
	 * mac= any link-local one. */					\
	"\tchain as_ns {\n"						\
	"\t\tiifname . ip6 saddr @v6 return\n"				\
	"\t\tiifname . ip6 saddr @gw6 goto bad\n"			\
	"\t\tip6 saddr fe80::/10 return\n"				\
	"\t\tip6 saddr != :: iifname @ipfree return\n"			\
	"\t\tiifname . ip6 saddr & " PFX64 " @v6pfx goto as_free6\n"	\
	"\t\tip6 saddr != :: goto bad\n"				\
	"\t\tiifname . @th,64,128 @v6nd return\n"			\
	"\t\tgoto as_tgt\n"						\
	"\t}\n"								\
	/* Advertise only own addresses, from an own address, with the	\
	 * same freedom without ip= or mac=. */				\
	"\tchain as_na {\n"						\
	"\t\tiifname . ip6 saddr @gw6 goto bad\n"			\
	"\t\tip6 saddr != fe80::/10 iifname . ip6 saddr != @v6 iifname != @ipfree jump as_src6\n" \
	"\t\tiifname . @th,64,128 @v6nd return\n"			\
	"\t\tgoto as_tgt\n"						\
	"\t}\n"								\
	/* An ND target that is not the vif's own: a link-local one only	\
	 * without mac=, another one only without ip=. */		\
	"\tchain as_tgt {\n"						\
	"\t\tiifname . @th,64,128 @gw6nd goto bad\n"			\
	"\t\t@th,64,16 & 0xffc0 == 0xfe80 iifname @macfree return\n"	\
	"\t\t@th,64,16 & 0xffc0 != 0xfe80 iifname @ipfree return\n"	\
	"\t\tiifname . @th,64,128 & " PFX64RAW " @v6pfxnd goto as_freetgt\n" \
	"\t\tgoto bad\n"						\
	"\t}\n"								\
	/* A source in the free /64 of a vif without ip= (v6pfx): any	\
	 * address but one a guest owns (owned6; the vif's own returned	\
	 * before, from v6) and the subnet-router anycast one (a zero	\
	 * interface id). Dom0's own (gw6) were refused before that. The	\
	 * same for an ND target (as_freetgt, after gw6nd). as_src6: an	\
	 * NA's source that is not the vif's own, refused unless free. */	\
	"\tchain as_src6 {\n"						\
	"\t\tiifname . ip6 saddr & " PFX64 " @v6pfx goto as_free6\n"	\
	"\t\tgoto bad\n"						\
	"\t}\n"								\
	"\tchain as_free6 {\n"						\
	"\t\t@nh,64,128 @owned6 goto bad\n"				\
	"\t\t@nh,128,64 0 goto bad\n"					\
	AS_FREE("@nh,64,128")						\
	"\t}\n"								\
	"\tchain as_freetgt {\n"					\
	"\t\t@th,64,128 @owned6 goto bad\n"				\
	"\t\t@th,128,64 0 goto bad\n"					\
	AS_FREE("@th,64,128")						\
	"\t}\n"								\
	/* A link-layer option in a guest's NS, NA or RS tells whoever	\
	 * receives it (Dom0, the other guests) that the sender is at	\
	 * that MAC: it must be the vif's. nft cannot walk options, so	\
	 * the shape is pinned: at most one option, right after the fixed	\
	 * part (offset 24 in NS and NA, 8 in RS), which is what stacks	\
	 * send (the link-layer option alone; a DAD probe: a nonce	\
	 * alone). Bytes after it would be a second option the offsets	\
	 * cannot see. Extension headers are refused: th still finds the	\
	 * ICMPv6 header behind them, but behind a fragment header the	\
	 * options can sit in a later fragment (RFC 6980 bars fragmented	\
	 * ND anyway, and no stack adds headers to ND). If the one		\
	 * option is a link-layer one (type 1 or 2, either, as not every	\
	 * receiver checks which message carries which), its length and	\
	 * MAC must be the vif's element of ndll. `>= 0` matches whenever	\
	 * the byte exists. Entered for vifs with a MAC only. ICMPv6 by	\
	 * number (58): nft looks its name up in /etc/protocols through	\
	 * NSS, which cost a process's first write of the rules about a	\
	 * millisecond. */							\
	"\tchain as_ndopt {\n"						\
	"\t\tip6 nexthdr != 58 goto bad\n"				\
	"\t\ticmpv6 type nd-router-solicit goto as_rsopt\n"		\
	"\t\t@th,256,8 >= 0 goto bad\n"					\
	"\t\t@th,192,8 { 1, 2 } iifname . @th,200,56 != @ndll goto bad\n"	\
	"\t}\n"								\
	"\tchain as_rsopt {\n"						\
	"\t\t@th,128,8 >= 0 goto bad\n"					\
	"\t\t@th,64,8 { 1, 2 } iifname . @th,72,56 != @ndll goto bad\n"	\
	"\t}\n"								\
	"\tchain as_frag {\n"						\
	"\t\t@th,0,32 >= 0 return\n"					\
	"\t\tgoto bad\n"						\
	"\t}\n"								\
	"\tchain bad {\n"						\
	"\t\tiifname @drops drop\n"					\
	"\t\tdrop\n"							\
	"\t}\n"

/* arp: ARP received on a routed vif, which the inet table never sees. A
 * routed guest's ARP reaches Dom0's own neighbour table: each sender
 * address it claims in a request for a local or proxied address becomes an
 * entry on its vif (from a table every interface shares, so a guest could
 * fill it) and gets an answer. The same checks as the bridge table's
 * as_arp, keyed the same way; its elements come and go with the inet
 * table's, in the same transaction, and it goes with that table. */
#define AS_ARP_RULES							\
	"table arp " AS_TABLE " {\n"					\
	"\tset guard { type ifname; }\n"				\
	"\tset macfree { type ifname; }\n"				\
	"\tset ipfree { type ifname; }\n"				\
	"\tset macs { type ifname . ether_addr; }\n"			\
	"\tset v4 { type ifname . ipv4_addr; }\n"			\
	"\tset drops { type ifname; counter; }\n"			\
	"\tchain in { type filter hook input priority 0; policy accept; }\n" \
	"\tchain check { }\n"						\
	"\tchain bad { }\n"						\
	"}\n"								\
	"flush chain arp " AS_TABLE " in\n"				\
	"flush chain arp " AS_TABLE " check\n"				\
	"flush chain arp " AS_TABLE " bad\n"				\
	"table arp " AS_TABLE " {\n"					\
	"\tchain in {\n"						\
	"\t\tiifname @guard jump check\n"				\
	"\t}\n"								\
	"\tchain check {\n"						\
	"\t\tarp htype != 1 goto bad\n"				\
	"\t\tarp ptype != ip goto bad\n"				\
	"\t\tarp hlen != 6 goto bad\n"					\
	"\t\tarp plen != 4 goto bad\n"					\
	"\t\tiifname . ether saddr != @macs iifname != @macfree goto bad\n" \
	"\t\tiifname . arp saddr ether != @macs iifname != @macfree goto bad\n" \
	"\t\tiifname @ipfree return\n"					\
	"\t\tarp saddr ip 0.0.0.0 return\n"				\
	"\t\tiifname . arp saddr ip @v4 return\n"			\
	"\t\tgoto bad\n"						\
	"\t}\n"								\
	"\tchain bad {\n"						\
	"\t\tiifname @drops drop\n"					\
	"\t\tdrop\n"							\
	"\t}\n"								\
	"}\n"

/* Bridge: frames from the vif as they enter the bridge, before anything
 * (br_netfilter included) sees them. Other ethertypes (VLAN tags too) are
 * dropped: the guest has no business sending them. */
static const char rules_bridge[] =
	"table bridge " AS_TABLE " {\n"
	AS_SETS
	"\tchain pre { type filter hook prerouting priority -200; policy accept; }\n"
	AS_CHAINS_DECL
	"}\n"
	"flush chain bridge " AS_TABLE " pre\n"
	"flush chain bridge " AS_TABLE " check\n"
	"flush chain bridge " AS_TABLE " as_arp\n"
	"flush chain bridge " AS_TABLE " as_ip4\n"
	"flush chain bridge " AS_TABLE " as_ip6\n"
	"flush chain bridge " AS_TABLE " as_ns\n"
	"flush chain bridge " AS_TABLE " as_na\n"
	"flush chain bridge " AS_TABLE " as_tgt\n"
	"flush chain bridge " AS_TABLE " as_ndopt\n"
	"flush chain bridge " AS_TABLE " as_rsopt\n"
	"flush chain bridge " AS_TABLE " as_frag\n"
	"flush chain bridge " AS_TABLE " as_src6\n"
	"flush chain bridge " AS_TABLE " as_free6\n"
	"flush chain bridge " AS_TABLE " as_freetgt\n"
	"flush chain bridge " AS_TABLE " bad\n"
	"table bridge " AS_TABLE " {\n"
	AS_PRE("ether type ip ", "ether type ip6 ")
	"\tchain check {\n"
	"\t\tiifname . ether saddr != @macs iifname != @macfree goto bad\n"
	"\t\tether type arp goto as_arp\n"
	"\t\tether type ip goto as_ip4\n"
	"\t\tether type ip6 goto as_ip6\n"
	/* A vif without ip= may send other protocols, but no tag: a
	 * tagged frame's IP would reach the LAN's VLANs past every check
	 * above (an RA, a DHCP reply). */
	"\t\tether type { 8021q, 8021ad } goto bad\n"
	"\t\tiifname @ipfree return\n"
	"\t\tgoto bad\n"
	"\t}\n"
	/* The sender MAC is checked even without ip=: an ARP claim
	 * pointing at another station's MAC redirects that station's
	 * traffic; so is the sender address when it is Dom0's or its
	 * router's (gw4). 0.0.0.0 is an RFC 5227 probe. */
	"\tchain as_arp {\n"
	"\t\tarp hlen != 6 goto bad\n"
	"\t\tarp plen != 4 goto bad\n"
	"\t\tiifname . arp saddr ether != @macs iifname != @macfree goto bad\n"
	"\t\tiifname . arp saddr ip @gw4 goto bad\n"
	"\t\tiifname @ipfree return\n"
	"\t\tarp saddr ip 0.0.0.0 return\n"
	"\t\tiifname . arp saddr ip @v4 return\n"
	"\t\tgoto bad\n"
	"\t}\n"
	AS_L3
	"}\n";

/* inet: packets received on a routed vif, before conntrack (priority raw)
 * so a spoofed flood creates no conntrack entries. The inet hook only sees
 * IPv4 and IPv6 (as_arp stays empty): ARP is the arp table's, written in
 * the same transaction. */
static const char rules_inet[] =
	"table inet " AS_TABLE " {\n"
	AS_SETS
	"\tchain pre { type filter hook prerouting priority -300; policy accept; }\n"
	AS_CHAINS_DECL
	"}\n"
	"flush chain inet " AS_TABLE " pre\n"
	"flush chain inet " AS_TABLE " check\n"
	"flush chain inet " AS_TABLE " as_ip4\n"
	"flush chain inet " AS_TABLE " as_ip6\n"
	"flush chain inet " AS_TABLE " as_ns\n"
	"flush chain inet " AS_TABLE " as_na\n"
	"flush chain inet " AS_TABLE " as_tgt\n"
	"flush chain inet " AS_TABLE " as_ndopt\n"
	"flush chain inet " AS_TABLE " as_rsopt\n"
	"flush chain inet " AS_TABLE " as_frag\n"
	"flush chain inet " AS_TABLE " as_src6\n"
	"flush chain inet " AS_TABLE " as_free6\n"
	"flush chain inet " AS_TABLE " as_freetgt\n"
	"flush chain inet " AS_TABLE " bad\n"
	"table inet " AS_TABLE " {\n"
	AS_PRE("", "")
	"\tchain check {\n"
	"\t\tiifname . ether saddr != @macs iifname != @macfree goto bad\n"
	"\t\tmeta nfproto ipv4 goto as_ip4\n"
	"\t\tgoto as_ip6\n"
	"\t}\n"
	AS_L3
	"}\n"
	AS_ARP_RULES;

const char *as_family_name(enum as_family fam)
{
	return fam == AS_FAM_INET ? "inet" : "bridge";
}

static const char *fam_rules(enum as_family fam)
{
	return fam == AS_FAM_INET ? rules_inet : rules_bridge;
}

static const char *fam_table(enum as_family fam)
{
	return fam == AS_FAM_INET ? "inet " AS_TABLE : "bridge " AS_TABLE;
}

/* The table whose elements come and go with the family's, in the same
 * transactions, and which goes with it: ARP for routed vifs. */
static const char *fam_companion(enum as_family fam)
{
	return fam == AS_FAM_INET ? "arp " AS_TABLE : NULL;
}

/* ---- command buffers ---- */

struct as_buf {
	char *s;
	size_t len, cap;
	bool oom;
};

__attribute__((format(printf, 2, 3)))
static void buf_printf(struct as_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->oom)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = true;
			return;
		}
		if (b->s && (size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = b->cap ? b->cap * 2 : 1024;
		char *s;

		while (cap < b->len + (size_t)n + 1)
			cap *= 2;
		s = realloc(b->s, cap);
		if (!s) {
			b->oom = true;
			return;
		}
		b->s = s;
		b->cap = cap;
	}
}

static void buf_free(struct as_buf *b)
{
	free(b->s);
	memset(b, 0, sizeof(*b));
}

/* Names reach nft's parser inside quotes: allow only what
 * vif_ifname_is_valid allows (no quote, space, brace). */
static int check_ifname(const char *ifname)
{
	size_t n = strnlen(ifname, IFNAMSIZ);
	char q[VIF_QUOTE_MAX];

	if (n == 0 || n >= IFNAMSIZ || ifname[0] == '-')
		return err_set(-EINVAL, "antispoof: bad interface name");
	for (size_t i = 0; i < n; i++) {
		char c = ifname[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.'))
			return err_set(-EINVAL, "antispoof: '%s': interface name unusable in nft",
				       vif_quote_n(q, ifname, n));
	}
	return 0;
}

/* The link-local address a vif with a MAC may use is the modified EUI-64
 * one (vif_eui64()): what Linux, FreeBSD and Windows with
 * randomizeidentifiers off derive from the MAC netback gave the guest. */
static void ll_of(const uint8_t mac[6], struct in6_addr *a)
{
	vif_eui64(mac, NULL, a);
}

/* The addresses of one family v's elements carry: its ip= addresses, each
 * once (deleting an element twice would fail), and for IPv6 its link-local
 * when it has a MAC. Returns how many are in out. */
static unsigned addrs_of(const struct vif *v, int family, struct vif_ip out[VIF_MAX_IPS + 1])
{
	unsigned n = 0;
	struct vif_ip ll;

	for (unsigned i = 0; i < v->n_ips; i++) {
		bool seen = false;

		for (unsigned j = 0; j < n && !seen; j++)
			seen = !memcmp(&out[j].addr, &v->ips[i].addr, family == AF_INET ? 4 : 16);
		if (v->ips[i].family == family && !seen)
			out[n++] = v->ips[i];
	}
	if (family == AF_INET6 && v->has_mac) {
		bool seen = false;

		memset(&ll, 0, sizeof(ll));
		ll.family = AF_INET6;
		ll_of(v->mac, &ll.addr.v6);
		for (unsigned j = 0; j < n && !seen; j++)
			seen = !memcmp(&out[j].addr, &ll.addr, 16);
		if (!seen)
			out[n++] = ll;
	}
	return n;
}

/* ---- a vif's elements, as nft commands or as one netlink batch ---- */

/* Both paths write the same elements from the same walk (put): the
 * netlink batch for plugs and unplugs, the text where a transaction also
 * carries rules or a listing's leftovers (the first plug, a re-plug). */
struct as_out {
	struct as_buf *b; /* nft command text; NULL: the as_nl batch */
	enum as_nl_verb verb;
	uint32_t ifindex; /* the vif's, for pass4 and pass6; 0: none written */
};

enum as_key {
	K_IF,     /* ifname */
	K_MAC,    /* ifname . ether_addr */
	K_V4,     /* ifname . ipv4_addr, one per address of v */
	K_V6,     /* ifname . ipv6_addr, likewise, and its link-local (addrs_of) */
	K_V6RAW,  /* ifname . 128-bit integer: v6nd */
	K_NDLL,   /* ifname . 56-bit integer: ndll (length 1, then the MAC) */
	K_GW4,    /* ifname . ipv4_addr, one per address of as_gw_get(): gw4 */
	K_GW6,    /* ifname . ipv6_addr, likewise: gw6 */
	K_GW6RAW, /* ifname . 128-bit integer, likewise: gw6nd */
	K_PASS4,  /* iface_index . ether_addr . ipv4_addr, one per address: pass4 */
	K_PASS6,  /* iface_index . ether_addr . ipv6_addr, likewise: pass6 */
	K_PFX6,   /* ifname . ipv6_addr, its free6: v6pfx */
	K_PFX6RAW, /* ifname . 128-bit integer, the same: v6pfxnd */
	K_OWN6,   /* ifname . ipv6_addr, its own6: own6 */
	K_OWNED6, /* 128-bit integer, the same, without its name: owned6 */
};

_Static_assert(AS_GW_MAX >= VIF_MAX_IPS + 1, "put()'s address array holds either list");

static bool key_is_v4(enum as_key kind)
{
	return kind == K_V4 || kind == K_GW4 || kind == K_PASS4;
}

/* The addresses of one family no vif may claim (as_gw.h) into out. */
static unsigned gw_of(int family, struct vif_ip out[AS_GW_MAX])
{
	const struct as_gw *g = as_gw_get();
	unsigned n = 0;

	for (unsigned i = 0; i < g->n; i++)
		if (g->ips[i].family == family)
			out[n++] = g->ips[i];
	return n;
}

/* The address of the free6 kinds (none when v has no free /64), or the
 * addresses of the own6 kinds: with has_own6, every IPv6 address of v's
 * but its link-local one (each ip= one is its own, not the first only). */
static unsigned free_own_of(const struct vif *v, enum as_key kind,
			    struct vif_ip out[VIF_MAX_IPS + 1])
{
	bool pfx = kind == K_PFX6 || kind == K_PFX6RAW;
	unsigned n = 0, all;

	if (pfx) {
		if (!v->has_free6)
			return 0;
		memset(out, 0, sizeof(*out));
		out->family = AF_INET6;
		out->addr.v6 = v->free6;
		memset(out->addr.v6.s6_addr + 8, 0, 8);
		return 1;
	}
	if (!v->has_own6)
		return 0;
	all = addrs_of(v, AF_INET6, out);
	for (unsigned i = 0; i < all; i++)
		if (!IN6_IS_ADDR_LINKLOCAL(&out[i].addr.v6))
			out[n++] = out[i];
	return n;
}

static const char *verb_text(enum as_nl_verb verb)
{
	return verb == AS_NL_DELETE ? "delete" : verb == AS_NL_CREATE ? "create" : "add";
}

/* The table t ("bridge netd_as", ...) as a netlink family. */
static uint8_t tbl_nfproto(const char *t)
{
	return !strncmp(t, "bridge ", 7) ? NFPROTO_BRIDGE :
	       !strncmp(t, "arp ", 4) ? NFPROTO_ARP : NFPROTO_INET;
}

/* One element's key as nft lays out the concatenation: each component
 * padded to 4 bytes, the raw payloads big-endian as the packet has them. */
static void key_of(struct as_nl_key *k, const struct vif *v, enum as_key kind,
		   const struct vif_ip *ip, uint32_t ifindex)
{
	static const uint8_t ll_len = 1;

	k->len = 0;
	if (kind == K_PASS4 || kind == K_PASS6)
		as_nl_key_bytes(k, &ifindex, sizeof(ifindex)); /* host order, as meta iif */
	else if (kind != K_OWNED6)
		as_nl_key_ifname(k, v->ifname);
	switch (kind) {
	case K_IF:
		break;
	case K_MAC:
		as_nl_key_bytes(k, v->mac, 6);
		break;
	case K_PASS4:
		as_nl_key_bytes(k, v->mac, 6);
		/* fall through */
	case K_V4:
	case K_GW4:
		as_nl_key_bytes(k, &ip->addr, 4);
		break;
	case K_PASS6:
		as_nl_key_bytes(k, v->mac, 6);
		/* fall through */
	case K_V6:
	case K_V6RAW:
	case K_GW6:
	case K_GW6RAW:
	case K_PFX6:
	case K_PFX6RAW:
	case K_OWN6:
	case K_OWNED6:
		as_nl_key_bytes(k, &ip->addr, 16);
		break;
	case K_NDLL: {
		uint8_t ll[7];

		ll[0] = ll_len;
		memcpy(ll + 1, v->mac, 6);
		as_nl_key_bytes(k, ll, sizeof(ll));
		break;
	}
	}
}

/* One element's value after the name, as nft's parser reads it. */
static void text_of(char *s, size_t len, const struct vif *v, enum as_key kind,
		    const struct vif_ip *ip)
{
	const uint8_t *p = ip ? ip->addr.v6.s6_addr : NULL, *m = v->mac;

	switch (kind) {
	case K_IF:
		*s = 0;
		break;
	case K_MAC:
		vif_mac_format(m, s, len);
		break;
	case K_V4:
	case K_V6:
	case K_GW4:
	case K_GW6:
	case K_PFX6:
	case K_OWN6:
		inet_ntop(key_is_v4(kind) ? AF_INET : AF_INET6, &ip->addr, s, len);
		break;
	case K_PASS4:
	case K_PASS6: {
		size_t n;

		vif_mac_format(m, s, len);
		n = strlen(s);
		snprintf(s + n, len - n, " . ");
		n = strlen(s);
		inet_ntop(kind == K_PASS4 ? AF_INET : AF_INET6, &ip->addr, s + n, len - n);
		break;
	}
	case K_V6RAW:
	case K_GW6RAW:
	case K_PFX6RAW:
	case K_OWNED6:
		s[0] = '0';
		s[1] = 'x';
		for (int k = 0; k < 16; k++)
			snprintf(s + 2 + 2 * k, len - 2 - 2 * k, "%02x", p[k]);
		break;
	case K_NDLL:
		snprintf(s, len, "0x01%02x%02x%02x%02x%02x%02x", m[0], m[1], m[2], m[3], m[4],
			 m[5]);
		break;
	}
}

/* One `verb element t set { ... }` command (or netlink message): v's name
 * alone or with its MAC, or with each of its addresses of a family
 * (addrs_of) or each address it may never claim (gw_of); none: nothing. lim, lim_text: the element's own limit
 * (rates, when added). */
static void put(struct as_out *o, const char *t, const char *set, const struct vif *v,
		enum as_key kind, const struct as_rate *lim, const char *lim_text)
{
	bool gw = kind == K_GW4 || kind == K_GW6 || kind == K_GW6RAW;
	bool pass = kind == K_PASS4 || kind == K_PASS6;
	bool one = kind == K_PFX6 || kind == K_PFX6RAW || kind == K_OWN6 || kind == K_OWNED6;
	bool per_ip = gw || pass || one || kind == K_V4 || kind == K_V6 || kind == K_V6RAW;
	int family = key_is_v4(kind) ? AF_INET : AF_INET6;
	struct vif_ip ips[AS_GW_MAX];
	char val[VIF_MAC_STRLEN + INET6_ADDRSTRLEN + 40], name[IFNAMSIZ + 2];
	struct as_nl_key key;
	unsigned n = !per_ip ? 1 : gw ? gw_of(family, ips) : one ? free_own_of(v, kind, ips) :
		     addrs_of(v, family, ips);

	/* The fast path's elements name the vif by index: without one (the
	 * vif is not there to plug, or its index is not known at unplug)
	 * there are none to write, and the listing takes care of leftovers
	 * (dead_elems). */
	if (pass && !o->ifindex)
		return;
	if (pass)
		snprintf(name, sizeof(name), "%u", o->ifindex);
	else if (kind == K_OWNED6)
		name[0] = 0;
	else
		snprintf(name, sizeof(name), "\"%s\"", v->ifname);

	for (unsigned i = 0; i < n; i++) {
		const struct vif_ip *ip = per_ip ? &ips[i] : NULL;

		if (!o->b) {
			if (!i)
				as_nl_set(o->verb, tbl_nfproto(t), AS_TABLE, set);
			key_of(&key, v, kind, ip, o->ifindex);
			as_nl_elem(&key, lim);
			continue;
		}
		text_of(val, sizeof(val), v, kind, ip);
		if (!i)
			buf_printf(o->b, "%s element %s %s {", verb_text(o->verb), t, set);
		else
			buf_printf(o->b, ",");
		buf_printf(o->b, " %s%s%s%s%s", name, *val && *name ? " . " : "", val,
			   lim_text ? " limit " : "", lim_text ? lim_text : "");
	}
	if (n && o->b)
		buf_printf(o->b, " }\n");
}

/* The elements every table of a family has for a guarded vif: guard,
 * drops, its MAC (or macfree) and its IPv4 addresses (or ipfree). */
static void common_elems(struct as_out *o, const char *t, const struct vif *v, bool has_mac)
{
	put(o, t, "guard", v, K_IF, NULL, NULL);
	put(o, t, "drops", v, K_IF, NULL, NULL);
	if (has_mac)
		put(o, t, "macs", v, K_MAC, NULL, NULL);
	else
		put(o, t, "macfree", v, K_IF, NULL, NULL);
	if (!v->n_ips)
		put(o, t, "ipfree", v, K_IF, NULL, NULL);
	put(o, t, "v4", v, K_V4, NULL, NULL);
}

/* v's elements in the family's table and its companion, `vifs` excluded
 * (the caller decides between add, create and delete for that one). lim:
 * its rate when adding (NULL when deleting, by key). */
static void elems(struct as_out *o, enum as_family fam, const struct vif *v, bool antispoof,
		  const struct as_rate *lim, const char *lim_text)
{
	const char *t = fam_table(fam), *arp = fam_companion(fam);
	char mac[VIF_MAC_STRLEN];
	bool has_mac = v->has_mac && vif_mac_format(v->mac, mac, sizeof(mac)) == 0;

	if (antispoof) {
		common_elems(o, t, v, has_mac);
		/* an ND link-layer option as as_ndopt reads it: length 1, MAC */
		if (has_mac)
			put(o, t, "ndll", v, K_NDLL, NULL, NULL);
		put(o, t, "v6", v, K_V6, NULL, NULL);
		put(o, t, "v6nd", v, K_V6RAW, NULL, NULL);
		/* Dom0's addresses and its routers, for a vif that could
		 * otherwise claim them: one without ip=, without mac=
		 * (any link-local), or with a free /64. A routed vif always
		 * has ip=. */
		if (!v->n_ips || !has_mac || v->has_free6) {
			put(o, t, "gw4", v, K_GW4, NULL, NULL);
			put(o, t, "gw6", v, K_GW6, NULL, NULL);
			put(o, t, "gw6nd", v, K_GW6RAW, NULL, NULL);
		}
		/* nat mode's free /64 and owned address (vif.h) */
		put(o, t, "v6pfx", v, K_PFX6, NULL, NULL);
		put(o, t, "v6pfxnd", v, K_PFX6RAW, NULL, NULL);
		put(o, t, "own6", v, K_OWN6, NULL, NULL);
		put(o, t, "owned6", v, K_OWNED6, NULL, NULL);
		/* the fast path, for a vif whose frames need no limit */
		if (has_mac && !v->rate.bytes_per_interval) {
			put(o, t, "pass4", v, K_PASS4, NULL, NULL);
			put(o, t, "pass6", v, K_PASS6, NULL, NULL);
		}
		if (arp)
			common_elems(o, arp, v, has_mac);
	}
	if (v->rate.bytes_per_interval) {
		put(o, t, "rates", v, K_IF, lim, lim_text);
		put(o, t, "ratedrops", v, K_IF, NULL, NULL);
	}
}

/* Adding v: `vifs` with verb (create fails when the name is there, which is
 * how a re-plug is noticed without a lookup), then its elements. */
static int add_elems(struct as_out *o, enum as_family fam, const struct vif *v, bool antispoof)
{
	struct as_rate r;
	char lim[96];
	int rc;

	if (v->rate.bytes_per_interval) {
		rc = as_rate_from_vif(&v->rate, &r);
		if (rc == 0)
			rc = as_rate_format(&v->rate, lim, sizeof(lim));
		if (rc)
			return err_prefix(rc, "%s", v->ifname);
	}
	/* A vif that is not there gets no fast path (put): its frames, if
	 * any ever come, take the full checks. */
	o->ifindex = if_nametoindex(v->ifname);
	if (o->ifindex)
		as_ifidx_set(v->ifname, o->ifindex);
	put(o, fam_table(fam), "vifs", v, K_IF, NULL, NULL);
	o->verb = AS_NL_ADD;
	elems(o, fam, v, antispoof, v->rate.bytes_per_interval ? &r : NULL,
	      v->rate.bytes_per_interval ? lim : NULL);
	return 0;
}

/* Whether v has fast-path elements when it has an index (elems()). */
static bool has_pass(const struct vif *v, bool antispoof)
{
	return antispoof && v->has_mac && !v->rate.bytes_per_interval;
}

/* The index v's fast-path elements were added with: remembered from the
 * plug, else the interface's now (0: neither; see dead_elems). */
static uint32_t pass_index(const struct vif *v)
{
	uint32_t idx = as_ifidx_get(v->ifname);

	return idx ? idx : if_nametoindex(v->ifname);
}

static void del_elems(struct as_out *o, enum as_family fam, const struct vif *v, bool antispoof)
{
	o->verb = AS_NL_DELETE;
	o->ifindex = pass_index(v);
	put(o, fam_table(fam), "vifs", v, K_IF, NULL, NULL);
	elems(o, fam, v, antispoof, NULL, NULL);
}

/* ---- the ruleset as written ---- */

#define AS_NAME_MAX 48

/* The name a line "<indent><what> NAME {" opens (what: "table", "chain"),
 * into name; false if the line is not one. */
static bool opens(const char *line, size_t len, const char *what, char name[AS_NAME_MAX])
{
	size_t n = strlen(what);

	if (len < n + 4 || strncmp(line, what, n) || line[n] != ' ' ||
	    strncmp(line + len - 2, " {", 2) || len - n - 3 >= AS_NAME_MAX)
		return false;
	memcpy(name, line + n + 1, len - n - 3);
	name[len - n - 3] = '\0';
	return true;
}

/* fam's ruleset (fam_rules) with each table in one block: the text
 * declares every table, flushes its chains, then fills them in a second
 * block of the same table; that block's rules go as `add rule` commands
 * instead, the same transaction to the kernel. libnftables makes each
 * block it parses a table object of its own, with four hash tables of
 * 8192 buckets (512 KiB zeroed), which a process faults in page by page
 * when it first writes the ruleset (netd's first plug, or the rules
 * written again at start): the second block doubled that. false: a line
 * of such a block is not a chain's rule as this reads them (b then
 * holds part of the text: the caller writes the original). */
static bool rules_flat(struct as_buf *b, const char *s)
{
	char seen[4][AS_NAME_MAX], table[AS_NAME_MAX] = "", chain[AS_NAME_MAX] = "";
	char name[AS_NAME_MAX];
	size_t n_seen = 0;

	for (const char *eol; *s; s = eol + 1) {
		size_t len;
		bool again = false;

		eol = strchr(s, '\n');
		if (!eol)
			return false;
		len = (size_t)(eol - s);
		if (!table[0] && opens(s, len, "table", name)) {
			for (size_t i = 0; i < n_seen; i++)
				again |= !strcmp(seen[i], name);
			if (again) {
				snprintf(table, sizeof(table), "%s", name);
				continue;
			}
			if (n_seen == sizeof(seen) / sizeof(seen[0]))
				return false;
			snprintf(seen[n_seen++], AS_NAME_MAX, "%s", name);
		} else if (table[0] && !chain[0] && len == 1 && s[0] == '}') {
			table[0] = '\0';
			continue;
		} else if (table[0] && !chain[0]) {
			if (!opens(s, len, "\tchain", name))
				return false;
			snprintf(chain, sizeof(chain), "%s", name);
			continue;
		} else if (table[0] && len == 2 && !strncmp(s, "\t}", 2)) {
			chain[0] = '\0';
			continue;
		} else if (table[0]) {
			if (len < 3 || strncmp(s, "\t\t", 2))
				return false;
			buf_printf(b, "add rule %s %s %.*s\n", table, chain, (int)len - 2, s + 2);
			continue;
		}
		buf_printf(b, "%.*s\n", (int)len, s);
	}
	return !table[0];
}

/* fam's ruleset into b (see rules_flat). */
static void rules_put(struct as_buf *b, enum as_family fam)
{
	struct as_buf flat = { 0 };

	if (rules_flat(&flat, fam_rules(fam)) && !flat.oom)
		buf_printf(b, "%s", flat.s);
	else
		buf_printf(b, "%s", fam_rules(fam));
	buf_free(&flat);
}

static int run_buf(struct as_buf *b)
{
	if (b->oom)
		return err_set(-ENOMEM, "antispoof: out of memory");
	return nft_run(b->s ? b->s : "");
}

/* ---- reading the table back ---- */

/* The text of a key after its name: up to two components of up to 64. */
#define AS_VAL_MAX 160

/* An element value from the kernel, safe to put back into a command:
 * addresses, MACs and hex integers only. */
static bool value_ok(const char *s)
{
	if (!*s || strlen(s) > 64)
		return false;
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'z') ||
		      (*s >= 'A' && *s <= 'Z') || *s == ':' || *s == '.'))
			return false;
	return true;
}

/* One component of a key after the name, as text safe to put back into a
 * command (value_ok) at out: a string, or a raw integer up to 64 bits,
 * which comes as a JSON number (ndll) and is given back in hex. */
static bool elem_part(json_t *x, char *out, size_t len)
{
	if (json_is_integer(x) && json_integer_value(x) >= 0) {
		snprintf(out, len, "0x%llx", (unsigned long long)json_integer_value(x));
		return true;
	}
	if (!json_is_string(x) || !value_ok(json_string_value(x)) ||
	    strlen(json_string_value(x)) >= len)
		return false;
	snprintf(out, len, "%s", json_string_value(x));
	return true;
}

/* The key of one element as `nft -j` writes it: "if" or {"concat": ["if",
 * "val", ...]} (two components, three in pass4 and pass6), wrapped in
 * {"elem": {"val": ..., "counter": ...}} when the element has state, or
 * ["if", verdict] in a map. First component and the rest, joined by " . "
 * in val (NULL: the name alone), each part checked by value_ok. */
static bool elem_key(json_t *e, const char **ifn, char val[AS_VAL_MAX], bool *has_val)
{
	json_t *c;
	size_t n;

	*has_val = false;
	if (json_is_array(e))
		e = json_array_get(e, 0);
	if (json_object_get(e, "elem"))
		e = json_object_get(json_object_get(e, "elem"), "val");
	if (json_is_string(e)) {
		*ifn = json_string_value(e);
		return true;
	}
	c = json_object_get(e, "concat");
	if (json_array_size(c) < 2 || json_array_size(c) > 3 || !json_is_string(json_array_get(c, 0)))
		return false;
	val[0] = 0;
	for (size_t i = 1; i < json_array_size(c); i++) {
		n = strlen(val);
		if (i > 1) {
			snprintf(val + n, AS_VAL_MAX - n, " . ");
			n = strlen(val);
		}
		if (!elem_part(json_array_get(c, i), val + n, AS_VAL_MAX - n))
			return false;
	}
	*ifn = json_string_value(json_array_get(c, 0));
	*has_val = true;
	return true;
}

/* Delete commands for the elements of table t whose interface drop()
 * selects (it is told whether the element is the vif's own entry, in set
 * "vifs"): one walk of the kernel's listing for re-plugs and for the sweep.
 * -ENOENT: no table. */
typedef bool as_drop_fn(const char *ifname, bool in_vifs, void *data);

static bool is_pass_set(const char *set)
{
	return !strcmp(set, "pass4") || !strcmp(set, "pass6");
}

/* A fast-path element's interface as the listing gives it: nft names an
 * index it can resolve, and writes one it cannot (the interface is gone)
 * as its number. Such an element can never match again (indexes are not
 * reused: as_ifidx.h), but it is netd's to remove. */
static bool is_dead_index(const char *ifn)
{
	if (!*ifn || strspn(ifn, "0123456789") != strlen(ifn))
		return false;
	return if_nametoindex(ifn) == 0; /* not an interface named so */
}

/* The elements of owned6 in a listing (NULL: none), to tell which of them
 * a deleted own6 element took with it. */
static json_t *owned_elems(json_t *items)
{
	json_t *it;
	size_t i;

	json_array_foreach(items, i, it) {
		json_t *set = json_object_get(it, "set");

		if (!strcmp(json_string_value(json_object_get(set, "name")) ?: "", "owned6"))
			return json_object_get(set, "elem");
	}
	return NULL;
}

/* An address as a raw 128-bit integer the way owned6 lists it ("0x2001..."),
 * leading zeros or not. */
static bool raw_is(const char *s, const struct in6_addr *a)
{
	uint8_t b[16] = { 0 };
	size_t n;

	if (!s || strncmp(s, "0x", 2))
		return false;
	s += 2;
	n = strlen(s);
	if (n == 0 || n > 32 || strspn(s, "0123456789abcdefABCDEF") != n)
		return false;
	for (size_t k = 0; k < n; k++) {
		char c = s[n - 1 - k];
		unsigned d = c <= '9' ? (unsigned)(c - '0') : (unsigned)((c | 0x20) - 'a' + 10);

		b[15 - k / 2] |= (uint8_t)(d << (k % 2 ? 4 : 0));
	}
	return !memcmp(b, a->s6_addr, 16);
}

/* A deleted own6 element (its value val) takes its owned6 element along,
 * when the listing has it. */
static void delete_owned(struct as_buf *b, const char *t, json_t *owned, const char *val)
{
	struct in6_addr a;
	json_t *e;
	size_t i;

	if (inet_pton(AF_INET6, val, &a) != 1)
		return;
	json_array_foreach(owned, i, e) {
		const char *s = json_string_value(e);

		if (raw_is(s, &a)) {
			buf_printf(b, "delete element %s owned6 { %s }\n", t, s);
			return;
		}
	}
}

static bool is_claim_set(const char *set)
{
	return !strcmp(set, "claim6") || !strcmp(set, "claimed6") || !strcmp(set, "claimrate");
}

static int delete_elems(struct as_buf *b, const char *t, as_drop_fn *drop, void *data)
{
	char cmd[64], val[AS_VAL_MAX];
	json_t *items, *it, *e, *owned;
	bool has_val;
	size_t i, j;
	int rc;

	snprintf(cmd, sizeof(cmd), "list table %s", t);
	rc = nft_list_json(cmd, &items);
	if (rc)
		return rc;
	owned = owned_elems(items);
	json_array_foreach(items, i, it) {
		json_t *set = json_object_get(it, "set") ?: json_object_get(it, "map");
		const char *name = json_string_value(json_object_get(set, "name")), *ifn;

		/* keyed by address alone: they go with their own6 element;
		 * the claims, keyed by address and index, by claims_release */
		if (!name || !strcmp(name, "owned6") || is_claim_set(name))
			continue;
		json_array_foreach(json_object_get(set, "elem"), j, e) {
			bool pass = is_pass_set(name), dead;

			if (!elem_key(e, &ifn, val, &has_val))
				continue;
			dead = pass && is_dead_index(ifn);
			if (!dead && !drop(ifn, !strcmp(name, "vifs"), data)) {
				/* after a restart: the index a later unplug
				 * needs when the vif is gone by then */
				if (pass && !as_ifidx_get(ifn))
					as_ifidx_set(ifn, if_nametoindex(ifn));
				continue;
			}
			buf_printf(b, "delete element %s %s { %s%s%s%s%s }\n", t, name,
				   dead ? "" : "\"", ifn, dead ? "" : "\"", has_val ? " . " : "",
				   has_val ? val : "");
			if (has_val && !strcmp(name, "own6"))
				delete_owned(b, t, owned, val);
		}
	}
	json_decref(items);
	return 0;
}

static bool drop_none(const char *ifname, bool in_vifs, void *data)
{
	(void)ifname, (void)in_vifs, (void)data;
	return false;
}

/* Remove the family's fast-path elements whose interface is gone: after an
 * unplug that could not name its own (its index unknown: a restart, and the
 * vif gone before it), from the listing. */
static int dead_elems(enum as_family fam)
{
	struct as_buf b = { 0 };
	int rc = delete_elems(&b, fam_table(fam), drop_none, NULL);

	if (rc == 0 && b.len)
		rc = run_buf(&b);
	buf_free(&b);
	return rc == -ENOENT ? 0 : rc;
}

/* Tables from before the fast path was keyed by index have pass4 and pass6
 * keyed by name, which the new definition cannot redeclare and into which
 * an index key does not fit: they go, in the transaction that writes the
 * rules again (tbl_load), after the chain that uses them is flushed. Their
 * vifs take the full checks until plugged again. */
static int legacy_cmds(struct as_buf *b, enum as_family fam)
{
	const char *t = fam_table(fam);
	static const char *const sets[] = { "pass4", "pass6" };
	char cmd[64];
	json_t *items, *it;
	size_t i;
	int rc;
	bool flushed = false;

	for (size_t k = 0; k < 2; k++) {
		snprintf(cmd, sizeof(cmd), "list set %s %s", t, sets[k]);
		rc = nft_list_json(cmd, &items);
		if (rc == -ENOENT)
			continue; /* no table, or no such set */
		if (rc)
			return rc;
		json_array_foreach(items, i, it) {
			json_t *type = json_object_get(json_object_get(it, "set"), "type");
			const char *first = json_string_value(json_array_get(type, 0));

			if (!first || !strcmp(first, "iface_index"))
				continue;
			if (!flushed)
				buf_printf(b, "flush chain %s pre\n", t);
			flushed = true;
			buf_printf(b, "delete set %s %s\n", t, sets[k]);
			log_info("antispoof: table %s: set %s keyed by %s replaced by one keyed by "
				 "interface index", t, sets[k], first);
		}
		json_decref(items);
	}
	return 0;
}

struct scan_ctx {
	const char *ifname;
	bool found; /* ifname is in "vifs" */
};

static bool scan_drop(const char *ifname, bool in_vifs, void *data)
{
	struct scan_ctx *c = data;

	if (strcmp(ifname, c->ifname))
		return false;
	c->found |= in_vifs;
	return true;
}

/* Delete commands for every element table t holds for ifname, from the
 * kernel's own listing. *found: ifname was in `vifs`. -ENOENT: no table. */
static int scan_table(struct as_buf *b, const char *t, const char *ifname, bool *found)
{
	struct scan_ctx c = { .ifname = ifname };
	int rc = delete_elems(b, t, scan_drop, &c);

	*found = c.found;
	return rc;
}

/* The same for the family's table and its companion: the path for a state
 * file that does not match the kernel, and for re-plugs. -ENOENT: no table
 * of the family (the companion's elements are in b all the same). */
static int scan_cmds(struct as_buf *b, enum as_family fam, const char *ifname, bool *found)
{
	const char *arp = fam_companion(fam);
	bool dummy;
	int rc, rc2 = 0;

	*found = false;
	if (arp) {
		rc2 = scan_table(b, arp, ifname, &dummy);
		if (rc2 == -ENOENT)
			rc2 = 0;
	}
	rc = scan_table(b, fam_table(fam), ifname, found);
	return rc ? rc : rc2;
}

/* Elements of `vifs`; -ENOENT when there is no table. */
static int count_vifs(const char *t, unsigned *n)
{
	char cmd[64];
	json_t *items, *it;
	size_t i;
	int rc;

	*n = 0;
	snprintf(cmd, sizeof(cmd), "list set %s vifs", t);
	rc = nft_list_json(cmd, &items);
	if (rc)
		return rc;
	json_array_foreach(items, i, it) {
		json_t *set = json_object_get(it, "set");

		if (set)
			*n += json_array_size(json_object_get(set, "elem"));
	}
	json_decref(items);
	return 0;
}

static bool has_vif(const char *t, const char *ifname)
{
	char cmd[96], *out;

	snprintf(cmd, sizeof(cmd), "get element %s vifs { \"%s\" }", t, ifname);
	if (nft_run_out(cmd, false, &out))
		return false;
	free(out);
	return true;
}

static void tbl_load(struct as_tbl *tb, enum as_family fam)
{
	struct as_buf b = { 0 };
	int rc;

	if (tb->loaded)
		return;
	if (count_vifs(fam_table(fam), &tb->n)) {
		tb->n = 0; /* no table (or unreadable): the first plug writes it */
		tb->loaded = true;
		return;
	}
	tb->loaded = true;
	/* A table a previous netd left (a restart, an upgrade): its rules are
	 * written again now, not at the next plug, so what runs is this
	 * netd's policy from the start; the elements stay. A fast path keyed
	 * by name goes in the same transaction, before any element of it is
	 * added or deleted by index. */
	rc = legacy_cmds(&b, fam);
	if (rc == 0) {
		rules_put(&b, fam);
		rc = run_buf(&b);
		if (rc == 0)
			tb->ready = true;
	}
	if (rc)
		log_warn("antispoof: table %s: cannot write its rules again: %s", fam_table(fam),
			 err_msg());
	buf_free(&b);
}

/* The last vif went: the table goes, with its companion, unless the kernel
 * disagrees. Without the family's table the companion goes alone: nothing
 * can remove its elements any more. `add` first, so that a companion that
 * is not there does not fail the transaction. */
static int tbl_drop_if_empty(struct as_tbl *tb, enum as_family fam)
{
	const char *t = fam_table(fam), *arp = fam_companion(fam);
	struct as_buf b = { 0 };
	unsigned n;
	int rc;

	rc = count_vifs(t, &n);
	if (rc && rc != -ENOENT)
		return rc;
	tb->n = rc ? 0 : n;
	if (tb->n)
		return 0;
	tb->ready = false;
	if (rc == 0)
		buf_printf(&b, "delete table %s\n", t);
	if (arp)
		buf_printf(&b, "add table %s\ndelete table %s\n", arp, arp);
	rc = b.len || b.oom ? run_buf(&b) : 0;
	buf_free(&b);
	if (rc && rc != -ENOENT)
		return err_prefix(rc, "antispoof: cannot delete table %s", t);
	return 0;
}

/* ---- first-come claims (AS_FREE) ---- */

/* Whether a claim's vif, as the listing names it (its name while it
 * exists, else its index), is one mine() selects; a gone vif's is always
 * (indexes are not reused: nothing can match it again). */
typedef bool as_mine_fn(const char *iif, void *data);

static bool claim_is(const char *iif, as_mine_fn *mine, void *data)
{
	return is_dead_index(iif) || mine(iif, data);
}

/* One element out of the kernel's way; it may have expired meanwhile. */
static int claim_delete(const char *t, const char *set, const char *key)
{
	char cmd[256];
	int rc;

	snprintf(cmd, sizeof(cmd), "delete element %s %s { %s }", t, set, key);
	rc = nft_run(cmd);
	return rc == -ENOENT ? 0 : rc;
}

/* The claims of table t whose vif mine() selects go, with their claimed6
 * element and their vif's claimrate one: an unplugged guest's addresses
 * are free again at once, not AS_CLAIM_TTL later. Each element goes in a
 * transaction of its own, as any may expire between the listing and its
 * delete (one vif holds a few: claimrate). */
static int claims_release(const char *t, as_mine_fn *mine, void *data)
{
	static const char *const sets[] = { "claim6", "claimrate" };
	char cmd[64], key[AS_VAL_MAX + IFNAMSIZ + 8];
	json_t *items, *it, *e;
	size_t i, j;
	int rc = 0;

	for (size_t k = 0; k < 2 && rc == 0; k++) {
		snprintf(cmd, sizeof(cmd), "list set %s %s", t, sets[k]);
		rc = nft_list_json(cmd, &items);
		if (rc == -ENOENT)
			return 0; /* no table, or one from before the claims */
		if (rc)
			return rc;
		json_array_foreach(items, i, it) {
			json_array_foreach(json_object_get(json_object_get(it, "set"), "elem"), j, e) {
				json_t *v = json_object_get(json_object_get(e, "elem"), "val") ?: e;
				json_t *c = json_object_get(v, "concat");
				const char *addr = k ? NULL : json_string_value(json_array_get(c, 0));
				const char *iif = json_string_value(k ? v : json_array_get(c, 1));
				bool num;

				if (!iif || (!k && (!addr || !value_ok(addr))) ||
				    check_ifname(iif) || !claim_is(iif, mine, data))
					continue;
				num = strspn(iif, "0123456789") == strlen(iif);
				snprintf(key, sizeof(key), "%s%s%s%s%s", addr ? addr : "",
					 addr ? " . " : "", num ? "" : "\"", iif, num ? "" : "\"");
				rc = claim_delete(t, sets[k], key);
				if (rc == 0 && addr)
					rc = claim_delete(t, "claimed6", addr);
				if (rc)
					break;
			}
			if (rc)
				break;
		}
		json_decref(items);
	}
	return rc;
}

struct claims_of {
	const char *ifname;
	char index[16]; /* the vif's index as the listing writes a gone one */
};

static bool claims_of_vif(const char *iif, void *data)
{
	const struct claims_of *c = data;

	return !strcmp(iif, c->ifname) || (c->index[0] && !strcmp(iif, c->index));
}

/* v's claims, when it may have any: a vif with a free /64. */
static int vif_claims_release(const struct vif *v, enum as_family fam, bool antispoof)
{
	struct claims_of c = { .ifname = v->ifname };
	uint32_t idx = pass_index(v);

	if (!antispoof || !v->has_free6)
		return 0;
	if (idx)
		snprintf(c.index, sizeof(c.index), "%u", idx);
	return claims_release(fam_table(fam), claims_of_vif, &c);
}

/* ---- the API ---- */

static int unprotect(const struct vif *v, enum as_family fam, bool antispoof)
{
	struct as_tbl *tb = &tbls[fam];
	struct as_buf b = { 0 };
	bool found = true, gone = false;
	struct as_out o = { NULL, AS_NL_DELETE, 0 };
	int rc;

	tbl_load(tb, fam);
	/* With no vif known in the table (or no table) the delete would fail
	 * in the kernel, and a failed batch costs an abort there (~10 ms, 50
	 * times a plug): go by the listing straight away. */
	rc = -ENOENT;
	if (tb->n) {
		as_nl_begin();
		del_elems(&o, fam, v, antispoof);
		rc = as_nl_commit();
		/* Its fast-path elements could not be named (no index known):
		 * they are in the listing under a number. */
		if (rc == 0 && !o.ifindex && has_pass(v, antispoof))
			rc = dead_elems(fam);
	}
	if (rc == -ENOENT) {
		/* Not what v says (or nothing at all): go by the kernel's
		 * listing, which also tells whether there is a table. */
		b.len = 0;
		rc = scan_cmds(&b, fam, v->ifname, &found);
		gone = rc == -ENOENT;
		if (gone)
			rc = 0;
		if (rc == 0 && b.len)
			rc = run_buf(&b);
	}
	buf_free(&b);
	if (rc == 0 && !gone)
		rc = vif_claims_release(v, fam, antispoof);
	if (rc)
		return err_prefix(rc, "%s: cannot remove anti-spoofing", v->ifname);
	as_ifidx_set(v->ifname, 0);
	if (found && tb->n)
		tb->n--;
	if (gone || (found && tb->n == 0)) {
		rc = tbl_drop_if_empty(tb, fam);
		if (rc)
			return err_prefix(rc, "%s", v->ifname);
	}
	return 0;
}

int as_vif_unprotect(const struct vif *v, enum as_family fam, bool antispoof)
{
	int rc = check_ifname(v->ifname);

	if (rc)
		return rc;
	rc = unprotect(v, fam, antispoof);
	if (rc == 0)
		log_debug("%s: anti-spoofing and rate limit removed (%s)", v->ifname,
			  as_family_name(fam));
	return rc;
}

/* One transaction: the ruleset when this process has not written it yet,
 * the removal of what the name had (replace only), then v's elements. The
 * common case, elements alone, goes as a netlink batch; the others carry
 * rules or a listing's leftovers and go through nft's parser. */
static int protect_once(const struct vif *v, enum as_family fam, bool antispoof, bool replace,
			bool *replaced)
{
	struct as_tbl *tb = &tbls[fam];
	struct as_buf b = { 0 };
	/* create, not add: it fails if the name is there already, which is
	 * how a re-plug is noticed without a lookup on every plug. */
	struct as_out o = { NULL, replace ? AS_NL_ADD : AS_NL_CREATE, 0 };
	int rc;

	*replaced = false;
	if (tb->ready && !replace) {
		as_nl_begin();
		rc = add_elems(&o, fam, v, antispoof);
		return rc ? rc : as_nl_commit();
	}
	o.b = &b;
	if (!tb->ready)
		rules_put(&b, fam);
	if (replace) {
		rc = scan_cmds(&b, fam, v->ifname, replaced);
		if (rc && rc != -ENOENT) {
			buf_free(&b);
			return rc;
		}
	}
	rc = add_elems(&o, fam, v, antispoof);
	if (rc == 0)
		rc = run_buf(&b);
	buf_free(&b);
	if (rc == 0)
		tb->ready = true;
	return rc;
}

int as_vif_protect(const struct vif *v, enum as_family fam, bool antispoof)
{
	struct as_tbl *tb = &tbls[fam];
	const char *t = fam_table(fam);
	bool replaced = false;
	int rc;

	rc = check_ifname(v->ifname);
	if (rc)
		return rc;
	tbl_load(tb, fam);
	if (!antispoof && !v->rate.bytes_per_interval) {
		/* Nothing to enforce; a re-plug may have had something. */
		return tb->n && has_vif(t, v->ifname) ? unprotect(v, fam, false) : 0;
	}
	rc = protect_once(v, fam, antispoof, false, &replaced);
	if (rc == -ENOENT && tb->ready) {
		/* The table went behind our back: write it again. */
		tb->ready = false;
		rc = protect_once(v, fam, antispoof, false, &replaced);
	}
	if (rc == -EEXIST)
		rc = protect_once(v, fam, antispoof, true, &replaced);
	else if (rc == 0)
		tb->n++;
	/* a re-plug that takes its free /64 away (ip= now) frees its claims */
	if (rc == 0 && replaced && !(antispoof && v->has_free6)) {
		struct claims_of c = { .ifname = v->ifname };

		rc = claims_release(t, claims_of_vif, &c);
	}
	if (rc)
		return err_prefix(rc, "%s: cannot install anti-spoofing", v->ifname);
	if (antispoof)
		log_debug("%s: anti-spoofing on (%s, %u address(es)%s)%s", v->ifname,
			  as_family_name(fam), v->n_ips, v->has_mac ? ", MAC" : "",
			  replaced ? ", replacing the previous set" : "");
	return 0;
}

/* ---- sweep ---- */

struct sweep_ctx {
	const char *table;
	as_keep_fn keep;
	void *data;
};

/* An element whose interface netd does not remember goes (logged once, at
 * the vif's own entry). */
static bool sweep_drop(const char *ifname, bool in_vifs, void *data)
{
	struct sweep_ctx *c = data;

	if (check_ifname(ifname) || c->keep(ifname, c->data))
		return false;
	if (in_vifs)
		log_warn("%s: anti-spoofing elements in table %s, but netd does not "
			 "remember the vif; removing them", ifname, c->table);
	return true;
}

/* A claim of a vif netd does not remember. */
static bool sweep_mine(const char *iif, void *data)
{
	const struct sweep_ctx *c = data;

	return !c->keep(iif, c->data);
}

static int sweep_table(struct as_buf *b, const char *t, as_keep_fn keep, void *data)
{
	struct sweep_ctx c = { .table = t, .keep = keep, .data = data };

	return delete_elems(b, t, sweep_drop, &c);
}

int as_sweep(enum as_family fam, as_keep_fn keep, void *data)
{
	const char *t = fam_table(fam), *arp = fam_companion(fam);
	struct as_tbl *tb = &tbls[fam];
	struct as_buf b = { 0 };
	int rc, rc2;

	rc = sweep_table(&b, t, keep, data);
	rc2 = arp ? sweep_table(&b, arp, keep, data) : 0;
	if (rc == 0)
		rc = claims_release(t, sweep_mine, &(struct sweep_ctx){ .keep = keep, .data = data });
	if (rc == -ENOENT)
		rc = 0; /* no table */
	if (rc == 0 && rc2 != -ENOENT)
		rc = rc2;
	if (rc == 0 && b.len)
		rc = run_buf(&b);
	buf_free(&b);
	if (rc)
		return err_prefix(rc, "antispoof: cannot sweep table %s", t);
	/* Counted afresh; a table no vif is left in goes. */
	tb->loaded = false;
	tbl_load(tb, fam);
	return tb->n ? 0 : tbl_drop_if_empty(tb, fam);
}

/* ---- status ---- */

/* c added to what sum (NULL: nothing yet) counted. */
static json_t *counter_json(json_t *c, json_t *sum)
{
	json_int_t p = json_integer_value(json_object_get(sum, "packets")),
		   by = json_integer_value(json_object_get(sum, "bytes"));

	return json_pack("{s:I, s:I}", "packets",
			 p + json_integer_value(json_object_get(c, "packets")), "bytes",
			 by + json_integer_value(json_object_get(c, "bytes")));
}

/* Per-vif counters of one set of table t added into res[ifname][key]. */
static int status_set(json_t *res, const char *t, const char *set, const char *key)
{
	char cmd[64];
	json_t *items, *it, *e;
	size_t i, j;
	int rc;

	snprintf(cmd, sizeof(cmd), "list set %s %s", t, set);
	rc = nft_list_json(cmd, &items);
	if (rc)
		return rc;
	json_array_foreach(items, i, it) {
		json_array_foreach(json_object_get(json_object_get(it, "set"), "elem"), j, e) {
			json_t *el = json_object_get(e, "elem"), *c = json_object_get(el, "counter");
			const char *ifn = json_string_value(json_object_get(el, "val"));
			json_t *entry;

			if (!ifn || !c)
				continue;
			entry = json_object_get(res, ifn);
			if (!entry) {
				entry = json_object();
				json_object_set_new(res, ifn, entry);
			}
			json_object_set_new(entry, key, counter_json(c, json_object_get(entry, key)));
		}
	}
	json_decref(items);
	return 0;
}

/* Counters of every vif in the family's table:
 * { "vif5.0": { "spoof_drops": {"packets": N, "bytes": N},
 *               "rate_drops": {...} (only with a rate) }, ... }.
 * An empty object when there is no table; NULL with err_msg() on failure. */
static json_t *as_status(enum as_family fam)
{
	json_t *res = json_object();
	int rc;

	if (!res) {
		err_set(-ENOMEM, "out of memory");
		return NULL;
	}
	rc = status_set(res, fam_table(fam), "drops", "spoof_drops");
	if (rc == 0)
		rc = status_set(res, fam_table(fam), "ratedrops", "rate_drops");
	/* what the companion dropped is spoofing by the same vif */
	if (rc == 0 && fam_companion(fam)) {
		rc = status_set(res, fam_companion(fam), "drops", "spoof_drops");
		if (rc == -ENOENT)
			rc = 0; /* a table from before there was one */
	}
	if (rc == -ENOENT)
		return res; /* no table: nothing protected */
	if (rc) {
		json_decref(res);
		err_prefix(rc, "antispoof: cannot read counters");
		return NULL;
	}
	return res;
}

json_t *as_status_begin(json_t *st, enum as_family fam)
{
	json_t *all = as_status(fam);

	if (!all)
		json_object_set_new(st, "counters_error", json_string(err_msg()));
	json_object_set_new(st, "spoof_drops", json_array());
	json_object_set_new(st, "rate_drops", json_array());
	json_object_set_new(st, "counters", json_object());
	return all;
}

/* ifname's counters from all (NULL: they could not be read; begin said so). */
void as_status_put(json_t *st, json_t *all, const char *ifname)
{
	json_t *c = json_object_get(all, ifname), *ctr;
	char s[IFNAMSIZ + 24];

	if (!c)
		return;
	json_object_set(json_object_get(st, "counters"), ifname, c);
	for (int k = 0; k < 2; k++) {
		const char *key = k ? "rate_drops" : "spoof_drops";

		ctr = json_object_get(c, key);
		if (!ctr)
			continue;
		snprintf(s, sizeof(s), "%s:%lld", ifname,
			 (long long)json_integer_value(json_object_get(ctr, "packets")));
		json_array_append_new(json_object_get(st, key), json_string(s));
	}
}

void as_status_end(json_t *all)
{
	json_decref(all);
}
