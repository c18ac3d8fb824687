/* flows: per-port anti-spoofing in OpenFlow, for ovs mode without OVN.
 *
 * The policy is antispoof/'s (see antispoof.h), written as OpenFlow rules
 * in table 0 of the vif's bridge, matching frames that enter from the
 * vif's port: its MAC as source; IPv4 from its ip= (DHCP from 0.0.0.0);
 * ARP with its MAC and one of its addresses (or 0.0.0.0) as sender; IPv6
 * from its addresses and its EUI-64 link-local, from :: only RS, MLD and
 * DAD; neighbour advertisements and DAD probes only for its own
 * addresses; never RA, redirects or DHCP/DHCPv6 server replies. What no
 * rule allows falls to the vif's drop rule. A vif without ip= may use any
 * address, still with its own MAC. 802.1Q-tagged frames only from a port
 * with trunks, on the VLANs NORMAL admits there (its trunks), with the
 * same checks; never priority-tagged ones (VLAN 0); a port without trunks
 * (OVS trunks every VLAN on one without tag) sends untagged frames only.
 * Other frames of the bridge meet OVS's own `priority=0 actions=NORMAL`.
 *
 * All of a vif's rules carry one cookie (OVS_FLOW_COOKIE) and go in one
 * `ovs-ofctl add-flows` (one fork per plug, rules read from a pipe); a
 * `del-flows` by cookie takes exactly them away. Why ovs-ofctl and not
 * OpenFlow spoken here: the rules must name the port's OpenFlow number
 * and the IPv6 ND fields, which is OpenFlow 1.3's OXM or Nicira's NXM
 * encoding; ovs-ofctl resolves the port by name and encodes the match for
 * whatever version the switch speaks, and costs one fork only for vifs
 * that have anti-spoofing. OVN's ports have none of it: with ovn = yes
 * the logical port's port_security is the CMS's job. */
#ifndef OVS_FLOWS_H
#define OVS_FLOWS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vif/vif.h"

/* A vif's rules: one cookie, distinct per vif and HVM tap. */
#define OVS_FLOW_COOKIE(domid, devid, emu) \
	(0x4e44000000000000ull | ((uint64_t)(emu) << 40) | ((uint64_t)(domid) << 16) | (devid))

/* The rules for v on its port (v->ifname), one per line, in ovs-ofctl's
 * add-flows syntax; trunked: the port has trunks (tagged frames allowed).
 * 0, or -ENOSPC when buf is too small. */
int ovs_flows_text(const struct vif *v, bool trunked, char *buf, size_t len);

/* Install v's rules on the switch at target ("unix:<rundir>/<br>.mgmt");
 * replace: remove those it had first (a re-plug; one more fork). */
int ovs_flows_add(const char *target, const struct vif *v, bool trunked, bool replace);
/* Remove v's rules (none is success). */
int ovs_flows_del(const char *target, const struct vif *v);

#endif
