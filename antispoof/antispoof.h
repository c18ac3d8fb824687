/* antispoof: per-vif anti-spoofing and rate limiting in nftables.
 *
 * One table per family, owned by netd and by no one else: `bridge netd_as`
 * for vifs that are bridge ports (bridge mode, and any mode whose vifs sit on
 * a bridge), `inet netd_as` for vifs that are L3 interfaces of their own
 * (route mode, Xen's vif-nat), and with it `arp netd_as` for their ARP,
 * which the inet family never sees. Its rules are fixed; a vif is only
 * ELEMENTS of sets keyed by its interface name (the fast path's by its
 * index: as_ifidx.h), added or removed in one nft
 * transaction (for a routed vif: in the inet and the arp table at once), so
 * plugging the 1000th vif costs what the first did and the rule count never
 * changes. That transaction is a netlink batch built directly (as_nl.h):
 * through libnftables' cache, parser and evaluator it cost about 8 times
 * as much. Tables and rules, a re-plug's listing and the rare fallbacks go
 * through libnftables, with the same elements from the same code:
 *
 *   vifs      ifname               every vif with elements here
 *   guard     ifname               anti-spoofing on
 *   macs      ifname . ether_addr  its mac= (else in macfree: any MAC)
 *   v4, v6    ifname . address     its ip= (else in ipfree: any address),
 *                                  in v6 also its link-local when it has a MAC
 *   v6nd      ifname . 128-bit int the same as v6, for ND target checks
 *   ndll      ifname . 56-bit int  its mac= again, as ND link-layer options
 *                                  carry it (length 1, MAC)
 *   gw4, gw6  ifname . address     for a vif without ip= or mac=: Dom0's
 *                                  addresses and routers (as_gw.h), never
 *                                  to be claimed
 *   gw6nd     ifname . 128-bit int the same as gw6, for ND target checks
 *   pass4     iface_index . ether_addr . ipv4_addr   the fast path: its mac=
 *   pass6     iface_index . ether_addr . ipv6_addr   with each of its addresses (v6:
 *                                  its link-local too), when it has a MAC and
 *                                  no rate=; its TCP and UDP from them is
 *                                  accepted by the chain's first rules
 *   v6pfx     ifname . address     its free6 /64 (vif.h: nat mode, a guest
 *                                  without ip=), the prefix with a zero
 *                                  interface id
 *   v6pfxnd   ifname . 128-bit int the same, for ND target checks
 *   own6      ifname . address     with has_own6, each of its IPv6 addresses
 *                                  (not link-local): no vif with a free6 /64
 *                                  may take them
 *   owned6    128-bit int          the same addresses without its name, for
 *                                  the lookup (each goes with its own6 element)
 *   claim6    128-bit int . iface_index   not netd's: the packet path's
 *   claimed6  128-bit int          first-come holds of free addresses (the
 *   claimrate iface_index + limit  address and its vif, the address alone,
 *                                  the vif's pace of new ones), with
 *                                  timeouts; netd only removes an unplugged
 *                                  vif's
 *   drops     ifname + counter     what the checks dropped
 *   rates     ifname + limit       its rate= (see ratelimit.h)
 *   ratedrops ifname + counter     what the limit dropped
 *
 * The arp table has guard, macs, macfree, v4, ipfree and drops of its own.
 * Counters and limits are per-element state, not named objects: libnftables
 * loads every named object of a table into its cache on each command, which
 * made a plug cost grow with the number of vifs. `nft list set bridge
 * netd_as drops` shows the counters; as_status adds the arp table's drops to
 * the inet table's.
 *
 * What a guarded vif may send (frames entering from the vif only): its own
 * source MAC; IPv4 from its ip= addresses, or DHCP from 0.0.0.0 (udp 68->67);
 * ARP whose sender is its MAC and one of its addresses (or 0.0.0.0, RFC 5227
 * probes), routed vifs included; IPv6 from its addresses and its link-local
 * address, the EUI-64 one of its mac= (v6 and v6nd hold it with the ip=
 * ones); from :: only RS, MLD and DAD; neighbour advertisements and DAD
 * probes only for its own addresses, link-local included; NS, NA and RS
 * whose link-layer address option (if any) is its MAC, with at most one
 * option and no extension header (nft cannot walk options: see as_ndopt in
 * antispoof.c). Never, with or without ip=: RA, ICMP and ICMPv6 redirects,
 * DHCP or DHCPv6 server replies (udp from port 67 or 547). Everything else
 * is dropped and counted. A vif without ip= may use any other address
 * (Xen's semantics) but still only its MAC and its link-local; one without
 * mac= any MAC and any link-local address, in ND options too. Neither may
 * claim Dom0's addresses or its routers' (gw4, gw6) in ARP, ND or as a
 * source. A vif with a free6 /64 may use any address in it as a source and
 * an ND target but an owned6 one (another vif's own6), Dom0's or its
 * routers' (gw6) and the subnet-router anycast address, first come, first
 * served (RFC 6620): the first vif to use such an address holds it until
 * it has not used it for 10 minutes, or is unplugged, and another's
 * packets from it, NAs and DAD probes for it are dropped meanwhile (see
 * AS_FREE in antispoof.c). Not checked in the inet family: non-IP frames
 * other than ARP.
 *
 * Tables are created by the first vif that needs them and deleted with the
 * last. Single-threaded (netd's event loop). Errors: 0 or -errno, err_msg(). */
#ifndef AS_ANTISPOOF_H
#define AS_ANTISPOOF_H

#include <jansson.h>
#include <stdbool.h>

#include "vif/vif.h"

enum as_family {
	AS_FAM_BRIDGE, /* table bridge netd_as: frames entering the bridge from the vif */
	AS_FAM_INET,   /* table inet netd_as: packets received on the vif */
};

#define AS_TABLE "netd_as"

/* Anti-spoofing for v when antispoof, and its rate= limit when it has one.
 * Replaces whatever v->ifname had in the family's table before (a re-plug
 * with new keys), in the same transaction. Neither: removes what it had. */
int as_vif_protect(const struct vif *v, enum as_family fam, bool antispoof);

/* Remove v's elements (antispoof: as protect was called with). A vif that
 * has none is success. When the kernel holds other elements for the name
 * than v describes (a state file from before a change), every element keyed
 * by v->ifname goes. The table goes with the last vif. */
int as_vif_unprotect(const struct vif *v, enum as_family fam, bool antispoof);

/* Remove every element of the family's table (and its companion) keyed by
 * an interface name keep() does not claim: at start, the vifs netd does not
 * remember (a plug cut short, a record lost). The table goes if no vif is
 * left in it. The tables are netd's alone, so all this is netd's. */
typedef bool (*as_keep_fn)(const char *ifname, void *data);
int as_sweep(enum as_family fam, as_keep_fn keep, void *data);

/* A network's status st with its vifs' drop counters, the same in every
 * mode: as_status_begin reads the family's counters once and gives st
 * "spoof_drops" and "rate_drops" ("ifname:packets" lists, what `netdctl
 * status` prints) and "counters" (packets and bytes per vif, for --json),
 * empty, or "counters_error" when they cannot be read; as_status_put adds
 * one vif's; as_status_end frees what begin read. Usage:
 *
 *	json_t *all = as_status_begin(st, AS_FAM_BRIDGE);
 *	for (each vif v of the network) as_status_put(st, all, v->ifname);
 *	as_status_end(all);
 */
json_t *as_status_begin(json_t *st, enum as_family fam);
void as_status_put(json_t *st, json_t *all, const char *ifname);
void as_status_end(json_t *all);

/* "bridge" / "inet" */
const char *as_family_name(enum as_family fam);

#endif
