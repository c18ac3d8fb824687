/* config: the INI configuration parsed into a pure in-memory model.
 *
 * Parsing has no side effects on the host; netd_conf_check_host() is the one
 * place that looks at the kernel (does physdev exist?) and it only reads.
 * Errors name file, line and key: "netd.conf:7: key 'style': expected classic|modern, got 'x'". */
#ifndef NETD_CONFIG_H
#define NETD_CONFIG_H

#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

#include "vif/vif.h"

#define NETD_DEFAULT_CONF   "/etc/netd/netd.conf"
#define NETD_DEFAULT_SOCKET "/run/netd/netd.sock"
#define NETD_DEFAULT_STATE  "/run/netd"
#define NETD_DEFAULT_VIFBACK_STATS "/run/vifback"
#define NETD_PATH_MAX 108 /* sun_path */
#define NETD_DEFAULT_DNSMASQ_USER "root"
#define NETD_DEFAULT_DNSMASQ_DIR  "/run/netd-dnsmasq"

enum netd_mode { NETD_MODE_BRIDGE, NETD_MODE_ROUTE, NETD_MODE_NAT, NETD_MODE_OVS };
enum br_style { BR_STYLE_CLASSIC, BR_STYLE_MODERN };
/* nat's IPv6: how guests get addresses (router advertisements always) and
 * how their traffic leaves (NAT66 behind the uplink's address, or as is,
 * the prefix being routed to Dom0 upstream). */
enum nat_dhcp6 { NAT_DHCP6_STATELESS, NAT_DHCP6_STATEFUL };
enum nat_out6 { NAT_OUT6_MASQUERADE, NAT_OUT6_ROUTED };
/* Who moves a bridge network's frames: the kernel's bridge, or dpswitch
 * (the DPDK switch, which netd plugs vifs into over its control socket). */
enum netd_datapath { NETD_DP_KERNEL, NETD_DP_DPDK };

/* An IPv4 or IPv6 prefix as written in the config. */
struct netd_cidr {
	int family; /* AF_INET or AF_INET6 */
	union {
		struct in_addr v4;
		struct in6_addr v6;
	} addr;
	uint8_t prefixlen;
};

/* forward = tcp:8080:198.51.100.10:80 */
struct netd_forward {
	uint8_t proto; /* IPPROTO_TCP or IPPROTO_UDP */
	uint16_t port; /* outside port on the uplink */
	struct netd_cidr dest; /* prefixlen is the host length (32 / 128) */
	uint16_t dport;
	int line; /* line in the config, so nat can name a forward that fails */
};

/* One network: every section other than [netd]. */
struct netd_net_conf {
	char name[IFNAMSIZ]; /* section name: the bridge (bridge, nat) or a label (route) */
	enum netd_mode mode;
	int line; /* line of the section header, for messages */

	/* bridge and route: the physical (uplink) device; route accepts `gatewaydev` too */
	char physdev[IFNAMSIZ];
	enum br_style style; /* bridge; default classic */
	enum netd_datapath datapath; /* bridge; default kernel */
	char dpdk_socket[NETD_PATH_MAX]; /* datapath dpdk: dpswitch's control socket */
	/* every mode: per-vif anti-spoofing (MAC, ip=, ARP/ND); default yes */
	bool antispoof;
	/* every mode: the rate_in of the network's vifs that give none (what a
	 * guest may receive, shaped on its vif); 0: unshaped */
	struct vif_rate rate_in;

	/* route */
	unsigned metric; /* default 2, as Xen's vif-route for PV vifs */
	bool has_gatewayip;
	struct netd_cidr gatewayip;

	/* nat */
	struct netd_cidr address; /* gateway address and private subnet, e.g. 203.0.113.1/24 */
	bool has_dhcp_range;
	struct in_addr dhcp_first, dhcp_last;
	char uplink[IFNAMSIZ];
	struct netd_forward *forwards;
	size_t n_forwards;
	/* nat, IPv6 (optional): the gateway's address and the guests' /64 */
	bool has_address6;
	struct netd_cidr address6;
	enum nat_dhcp6 dhcp6; /* default stateless */
	/* stateful only (optional): DHCPv6 leases from FIRST-LAST of the /64
	 * to guests without a static lease */
	bool has_dhcp6_range;
	struct in6_addr dhcp6_first, dhcp6_last;
	enum nat_out6 out6;   /* key nat6; default masquerade */

	/* ovs: an Open vSwitch bridge named after the section */
	char ovsdb[NETD_PATH_MAX]; /* ovsdb-server's unix socket */
	char datapath_type[16];    /* for a bridge netd creates; empty: OVS's default */
	bool ovn;                  /* wait for ovn-controller's ovn-installed */
	unsigned ovn_wait_ms;      /* how long, at most */
	char iface_id[128];        /* external_ids:iface-id template */

	/* nat: forwarded connections through an nftables flowtable (software fast
	 * path) on the bridge and the uplink; default no. Needs a kernel with
	 * nf_flow_table: netd refuses the network at up on one without. */
	bool flowtable;
};

#define NETD_OVSDB_DEFAULT "/var/run/openvswitch/db.sock"
#define NETD_OVN_WAIT_DEFAULT_MS 20000
/* libxl gives a hotplug script 40 s: the wait must end well inside it. */
#define NETD_OVN_WAIT_MAX_MS 30000
#define NETD_IFACE_ID_DEFAULT "xen-{uuid}-{devid}"

#define NETD_METRICS_INTERVAL_DEFAULT 15
#define NETD_METRICS_INTERVAL_MAX 3600

struct netd_conf {
	char path[NETD_PATH_MAX * 4]; /* file the config came from, for messages */
	/* [netd] */
	char socket[NETD_PATH_MAX];
	char state_dir[NETD_PATH_MAX];
	bool restore_on_exit; /* default yes */
	char socket_group[32]; /* group allowed on the socket besides root; default "netd" */
	/* line of socket_group, 0 when defaulted: a group named in the file must
	 * exist, the default one only if it is to be used */
	int socket_group_line;
	/* netd plugs vifs itself on xenstore events, no hotplug script fork; default no */
	bool xenstore_watch;
	/* netd writes `netdctl metrics`' text here every metrics_interval
	 * seconds, atomically; empty: never */
	char metrics_file[NETD_PATH_MAX];
	unsigned metrics_interval;
	/* vifback's counter files, `<dir>/<D>.<N>` (vif/vifstats.h): shown
	 * beside the vifs they count; default /run/vifback */
	char vifback_stats_dir[NETD_PATH_MAX];
	/* nat: the user dnsmasq runs as (root keeps it root, in group dip),
	 * and where the files it re-reads as that user live, <dir>/<net>/
	 * (readable by all: state_dir is netd's alone); defaults root (what
	 * netd.service allows), /run/netd-dnsmasq */
	char dnsmasq_user[33];
	int dnsmasq_user_line; /* 0 when defaulted */
	char dnsmasq_dir[NETD_PATH_MAX];
	struct netd_net_conf *nets;
	size_t n_nets;
};

/* Parse a file / a string. On error returns -EINVAL (or -errno for I/O) with
 * err_msg() naming file, line, key and the reason; *out is left empty. */
int netd_conf_load(const char *path, struct netd_conf *out);
int netd_conf_parse(const char *name, const char *text, size_t len, struct netd_conf *out);
void netd_conf_free(struct netd_conf *conf);

/* Read-only checks against the running host: physdev/uplink exist, and a
 * socket_group set in the file names a group of the system's. */
int netd_conf_check_host(const struct netd_conf *conf);
/* Its two halves: netd's own (socket_group, dnsmasq_user), which fail a
 * start or a reload, and one network's (its physdev or uplink exists, a
 * nat subnet apart from its uplink's), which fail that network alone. */
int netd_conf_check_daemon(const struct netd_conf *conf);
int netd_conf_check_net_host(const struct netd_conf *conf, const struct netd_net_conf *net);
/* The first part of the latter: the network's physdev or uplink exists. */
int netd_conf_check_net_dev(const struct netd_conf *conf, const struct netd_net_conf *net);

const struct netd_net_conf *netd_conf_find(const struct netd_conf *conf, const char *name);
const char *netd_mode_name(enum netd_mode mode);

/* Same settings, ignoring path and line numbers: round-trip tests use it, and
 * a reload restarts only the networks whose settings changed. */
bool netd_net_conf_equal(const struct netd_net_conf *a, const struct netd_net_conf *b);
bool netd_conf_equal(const struct netd_conf *a, const struct netd_conf *b);

/* Write the config back in canonical form (used by `netd -n -v` and round-trip tests). */
int netd_conf_write(const struct netd_conf *conf, char *buf, size_t len);

#endif
