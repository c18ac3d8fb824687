/* bind: the one address a nat guest without ip= may use, bound to its vif.
 *
 * Anti-spoofing lets such a guest claim only what netd's own dnsmasq
 * leased to it. netd does not follow dnsmasq's leases (a dhcp-script or a
 * watch of the lease file): the guest could use its address before the
 * script ran or the file was read, a lost event or a netd restart would
 * leave the filter wrong, and lease files carry names the guest chose.
 * Instead netd picks the address when the vif is plugged and hands it to
 * dnsmasq as the static lease of the vif's MAC (dhcp-hosts, see hosts.h):
 * dnsmasq can lease that MAC nothing else, no other client that address,
 * and the vif's filter allows exactly it before the guest even asks. It
 * lasts as long as the vif, so there is no expiry to track.
 *
 * The pick keeps what the guest has: the address this network's
 * dhcp-hosts file already gives the MAC (a restarted netd), else the
 * guest's current lease in dnsmasq's lease file, else the first address of
 * dhcp_range that no host has and no other MAC holds a live lease for.
 * Only the MAC and address fields of either file are read. */
#ifndef NAT_BIND_H
#define NAT_BIND_H

#include <netinet/in.h>
#include <stdint.h>

#include "nat/dnsmasq.h"
#include "nat/hosts.h"

/* The address for mac on the network d serves (its range, its files), not
 * held by any entry of hosts but domid.devid's own. -EADDRNOTAVAIL with
 * err_msg() when the range is full or there is none. */
int nat_bind_pick(const struct nat_dnsmasq *d, const struct nat_hosts *hosts, uint32_t domid,
		  uint32_t devid, const uint8_t mac[6], struct in_addr *out);

#endif
