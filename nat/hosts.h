/* hosts: the guests a nat network knows by MAC and address, and the two
 * files dnsmasq reads them from: a dhcp-hostsfile (static leases, DHCPv6
 * ones too when the network's IPv6 is stateful) and an addn-hosts file
 * (DNS names, A and AAAA). Names are dom<D> for a domain's first vif and
 * dom<D>-<N> for the others. */
#ifndef NAT_HOSTS_H
#define NAT_HOSTS_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct nat_host {
	uint32_t domid, devid;
	bool has_mac, has_ip;
	bool bound; /* ip is the address netd bound the vif to (no ip=), see bind.h */
	uint8_t mac[6];
	struct in_addr ip;
	/* IPv6 (networks with address6): its ip= one in the /64, or bound6:
	 * the EUI-64 address of its MAC there (see nat.c's vif_host) */
	bool has_ip6, bound6;
	struct in6_addr ip6;
};

struct nat_hosts {
	struct nat_host *v;
	size_t n, cap;
	bool leases6; /* write IPv6 static leases (dhcp6 = stateful) */
};

void nat_host_name(const struct nat_host *h, char *buf, size_t len);

struct nat_host *nat_hosts_find(struct nat_hosts *l, uint32_t domid, uint32_t devid);
/* The host (other than domid.devid) that has ip already, or NULL. */
const struct nat_host *nat_hosts_find_ip(const struct nat_hosts *l, struct in_addr ip,
					 uint32_t domid, uint32_t devid);
/* The same for an IPv6 address. */
const struct nat_host *nat_hosts_find_ip6(const struct nat_hosts *l, const struct in6_addr *ip,
					  uint32_t domid, uint32_t devid);
/* Add or replace the entry of h->domid.h->devid. */
int nat_hosts_set(struct nat_hosts *l, const struct nat_host *h);
/* 1 if an entry was removed. */
int nat_hosts_del(struct nat_hosts *l, uint32_t domid, uint32_t devid);
void nat_hosts_free(struct nat_hosts *l);

/* Write both files atomically. */
int nat_hosts_write(const struct nat_hosts *l, const char *dhcp_path, const char *hosts_path);

#endif
