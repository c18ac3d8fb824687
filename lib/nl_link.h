/* nl_link: link operations (bridge, veth, rename, up/down, MAC, MTU, master, ARP). */
#ifndef LIB_NL_LINK_H
#define LIB_NL_LINK_H

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>

struct nl_link {
	int ifindex;
	char name[IFNAMSIZ];
	char kind[16]; /* "bridge", "veth", "tun", "" for physical */
	uint8_t mac[6];
	unsigned mtu;
	unsigned flags; /* IFF_UP, IFF_NOARP, ... */
	unsigned short type; /* ARPHRD_ETHER, ARPHRD_LOOPBACK, ... */
	int master; /* ifindex of the bridge, 0 if none */
	char alias[64]; /* IFLA_IFALIAS; "" if none or longer than this */
};

int nl_link_get(const char *name, struct nl_link *out);   /* -ENODEV if absent */
int nl_link_get_index(int ifindex, struct nl_link *out);
bool nl_link_exists(const char *name);

int nl_bridge_create(const char *name);
int nl_veth_create(const char *name, const char *peer);
int nl_link_delete(int ifindex);
int nl_link_rename(int ifindex, const char *name);
int nl_link_set_up(int ifindex, bool up);
int nl_link_set_mac(int ifindex, const uint8_t mac[6]);
int nl_link_set_mtu(int ifindex, unsigned mtu);
int nl_link_set_master(int ifindex, int master); /* 0: nomaster */
int nl_link_set_arp(int ifindex, bool on);
int nl_link_set_alias(int ifindex, const char *alias); /* "": none */

/* Several changes in one request: mac (NULL: keep), mtu (0: keep), master
 * (-1: keep, 0: none), then up. The kernel applies them in that order
 * (address, MTU, flags, master), so the link must already be down when mac
 * is given; a failure part-way leaves what was applied, for the caller's undo. */
int nl_link_setup(int ifindex, const uint8_t *mac, unsigned mtu, int master, bool up);

/* Alternative names (IFLA_ALT_IFNAME, Linux 5.5+): names of the interface's
 * own, longer than IFNAMSIZ if need be, unique among the namespace's names
 * and altnames, kept across renames, that only RTM_{NEW,DEL}LINKPROP
 * change (ip link property). */
#define NL_ALTNAME_MAX 128
/* The interface one of whose names (its name or an altname) is name:
 * -ENODEV if none. */
int nl_link_get_altname(const char *name, struct nl_link *out);
int nl_link_add_altname(int ifindex, const char *altname);
/* Calls cb for each altname of each link; stops on nonzero. cb must not
 * send netlink requests of its own (one buffer serves the process). */
int nl_link_for_each_altname(int (*cb)(const struct nl_link *l, const char *altname, void *data),
			     void *data);

/* Calls cb for every link whose master is `master`; stops on nonzero. */
int nl_link_for_each_port(int master, int (*cb)(const struct nl_link *l, void *data), void *data);

int nl_mac_format(const uint8_t mac[6], char buf[18]);

#endif
