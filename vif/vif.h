/* vif: the vif model shared by netd, netdctl, the hotplug path and the sim.
 *
 * A vif is named by "D.N" (domain id, device index); its Dom0 interface is
 * vifD.N unless the toolstack gave a vifname. Values come from xl's vif spec
 * or from xenstore backend keys, both untrusted: every parser validates fully. */
#ifndef VIF_VIF_H
#define VIF_VIF_H

#include <net/if.h>
#include <stddef.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#define VIF_MAX_IPS 16

/* Guest domain ids end below DOMID_FIRST_RESERVED (0x7FF0): DOMID_SELF,
 * DOMID_IO, DOMID_INVALID... can never be a vif's frontend. Device ids are
 * bounded so that "vif32751.65535" still fits IFNAMSIZ. */
#define VIF_DOMID_MAX 0x7FEFu
#define VIF_DEVID_MAX 65535u

#define VIF_MAC_STRLEN 18  /* "aa:bb:cc:dd:ee:ff" + NUL */
#define VIF_RATE_STRLEN 32 /* "<u64>,<u32>" + NUL */
#define VIF_VLAN_ID_MAX 4094
#define VIF_TRUNKS_MAX 64 /* bridge=BR.TAG:TRUNK:... */

/* Room for vif_quote(): at most VIF_QUOTE_SHOWN input bytes, each escaped
 * to at most 4 bytes, plus "..." and the NUL. */
#define VIF_QUOTE_SHOWN 48
#define VIF_QUOTE_MAX (VIF_QUOTE_SHOWN * 4 + 4)

struct vif_ip {
	int family; /* AF_INET / AF_INET6 */
	union {
		struct in_addr v4;
		struct in6_addr v6;
	} addr;
};

struct vif_rate {
	uint64_t bytes_per_interval; /* 0: unlimited */
	uint32_t interval_usecs;
};

struct vif {
	uint32_t domid;
	uint32_t devid;
	char ifname[IFNAMSIZ]; /* vifD.N or vifname= */
	bool has_mac;
	uint8_t mac[6];
	char bridge[IFNAMSIZ]; /* empty: not given */
	char gatewaydev[IFNAMSIZ];
	char script[256];
	char model[32];
	char backend[64];
	bool type_ioemu;
	/* What the record plugs: the PV vif (false) or the HVM guest's
	 * emulated NIC, qemu's tap vifD.N-emu (true; libxl's type_if=tap).
	 * Kept as data: a vifname may end in "-emu" on a PV vif. Set by whoever
	 * knows (netd from the request, the state file), not by vif_set(). */
	bool emu;
	unsigned mtu; /* 0: not given */
	struct vif_rate rate;
	/* What the guest may receive (netd's own key rate_in, same grammar as
	 * rate): shaped on the vif's egress (netd/shape.h); 0: not given */
	struct vif_rate rate_in;
	struct vif_ip ips[VIF_MAX_IPS];
	unsigned n_ips;
	char vlan[128];
	bool trusted; /* default true */
	/* Open vSwitch (ovs mode): the vif-openvswitch VLAN suffix of bridge=
	 * (":TRUNK..." given with bridge=, ".TAG..." once vif_bridge_split()
	 * took it off a bridge name no network has); empty: none. */
	char bridge_vlan[64];
	/* external_ids:iface-id as the toolstack wrote it (backend key
	 * iface-id); empty: ovs mode's template makes one. */
	char iface_id[128];
	/* The domain's UUID and name (/local/domain/D/vm and name, read by
	 * the hotplug path: keys vm-uuid, vm-name); empty: unknown. */
	char vm_uuid[37];
	char vm_name[64];
	/* Not keys: what a mode adds to the vif it hands to antispoof/ (nat
	 * mode for its guests, see antispoof.h). free6: the /64 (its first 8
	 * bytes, the rest zero) of which a guest without ip= may use any
	 * address no other guest owns (SLAAC privacy addresses, DHCPv6 from
	 * a range; what no vif owns goes to the first that uses it, see
	 * antispoof.h); has_own6: its IPv6 addresses (ips, each ip= one and
	 * the one it is bound to) are its own there, which no such guest may
	 * take; each is unique in the network. */
	bool has_free6, has_own6;
	struct in6_addr free6;
};

/* "5.0" -> domid 5, devid 0. Rejects signs, spaces, overflow, extra text. */
int vif_id_parse(const char *s, uint32_t *domid, uint32_t *devid);

/* Initialise *v with xl's defaults for domid.devid (ifname vifD.N, trusted). */
void vif_init(struct vif *v, uint32_t domid, uint32_t devid);

/* Apply one key=value (xl spec key or xenstore backend key) to *v.
 * Keys: mac bridge gatewaydev netdev type model vifname script ip backend rate
 * rate_in devid mtu vlan trusted untrusted accel. Errors: -EINVAL with err_msg() quoting key and value. */
/* value NULL is a bare flag (only trusted/untrusted take one). Backend-dir
 * keys: handle and frontend-id must match devid/domid; frontend, online,
 * state, hotplug-status, hotplug-error, multi-queue-max-queues, feature-*,
 * forwarddev and colo_* are accepted and ignored; type may be "vif_ioemu";
 * rate may be "bytes,usecs". Empty bridge/gatewaydev/model/script/backend/
 * ip/vlan unset the field; empty vifname restores vifD.N. On error *v is
 * unchanged (vif_parse_spec too: all keys apply or none). */
int vif_set(struct vif *v, const char *key, const char *value);

/* bridge=BR.TAG[:TRUNK...] as Xen's vif-openvswitch reads it, for a
 * bridge name no network has: moves ".TAG" (and what follows) from
 * v->bridge into v->bridge_vlan. 0, or -EINVAL when bridge has no such
 * suffix. */
int vif_bridge_split(struct vif *v);

/* bridge_vlan (".TAG:T1:T2", ":T1", ".TAG") → *tag (-1: none) and the
 * trunks; VLANs 0..4095 as OVS takes them. -EINVAL with err_msg(). */
int vif_bridge_vlan_parse(const char *s, int *tag, uint16_t *trunks, size_t max, size_t *n);

/* Parse a whole xl vif spec ("mac=...,bridge=xenbr0,ip=192.0.2.5"); the
 * result passes vif_check() too. */
int vif_parse_spec(struct vif *v, const char *spec);

/* What only the whole vif tells, for a vif about to be plugged: its
 * vifname may not be another vif's interface name (vif<D>.<N> or
 * vif<D>.<N>-emu of another domain or device; the vif's own are fine).
 * -EINVAL with err_msg(). Not applied to what netd reads back from its own
 * state: a vif plugged by an older netd must still be unpluggable. */
int vif_check(const struct vif *v);

/* vif/rename.c: a vif's interface under its vifname. netd marks one it
 * renames (its alias names the backend's vifD.N[-emu]) so that its sweep
 * knows it as netd's with no record; 0 or -errno. */
bool vif_is_backend_name(const char *name); /* vifD.N or vifD.N-emu, D > 0, as Xen writes them */
bool vif_renamed_from(const char *alias, char backend[IFNAMSIZ]); /* netd's mark? */
int vif_link_mark_renamed(int ifindex, const char *backend);
int vif_link_rename_back(int ifindex, const char *backend); /* down, backend's name, no mark */

/* vif/l2port.c: Dom0's own IPv6 on a vif that is only a port of a switch
 * (bridge, nat's bridge, Open vSwitch), off while it is one; set before the
 * port comes up, so that no link-local address, DAD, router solicitation,
 * MLD report or fe80::/64 route of Dom0's ever appears on it. Guests' IPv6
 * crosses the switch as before. vif_port_ipv6_off() says in was what the
 * key held ("" when the interface has none: no IPv6); restore puts that
 * back, or with was NULL the namespace's default (the vif leaving the
 * switch, possibly for route mode, which needs IPv6 on it). 0 or -errno. */
#define VIF_SYSCTL_LEN 8
int vif_port_ipv6_off(const char *ifname, char was[VIF_SYSCTL_LEN]);
int vif_port_ipv6_restore(const char *ifname, const char *was);

/* Validators usable on their own. */
bool vif_ifname_is_valid(const char *name); /* 1..15 bytes, no '/', ':', whitespace, not "." or ".." */
/* (stricter still: only letters, digits, '-', '_', '.', and no leading '-';
 * names pass through scripts, nft rules and logs.) */
int vif_mac_parse(const char *s, uint8_t mac[6]);
int vif_ip_list_parse(const char *s, struct vif_ip *ips, unsigned max, unsigned *n);
int vif_rate_parse_xl(const char *s, struct vif_rate *r);       /* "10Mb/s@20ms" */
int vif_rate_parse_xenstore(const char *s, struct vif_rate *r); /* "62500,50000" */
int vif_rate_parse(const char *s, struct vif_rate *r);          /* either of the two */

/* Formatters for values written to xenstore. 0, or -ENOSPC if len is too
 * small (VIF_MAC_STRLEN / VIF_RATE_STRLEN always suffice); an unlimited rate
 * has no xenstore form (libxl omits the key): -EINVAL. */
int vif_mac_format(const uint8_t mac[6], char *buf, size_t len); /* lower-case */

/* The address SLAAC gives the MAC in prefix's /64: the prefix's first 8
 * bytes and the modified EUI-64 interface identifier (RFC 4291 2.5.6 and
 * App. A). A NULL prefix is fe80::/64, the MAC's link-local address. */
void vif_eui64(const uint8_t mac[6], const struct in6_addr *prefix, struct in6_addr *out);
int vif_rate_format_xenstore(const struct vif_rate *r, char *buf, size_t len);

/* A vlan= spec expanded, for code that programs bridge VLAN filtering. */
struct vif_vlan {
	uint16_t pvid; /* 0 only for the empty spec */
	uint16_t n;    /* member VLANs, PVID included */
	uint8_t member[VIF_VLAN_ID_MAX / 8 + 1];   /* bit vid */
	uint8_t untagged[VIF_VLAN_ID_MAX / 8 + 1]; /* bit vid; PVID is untagged */
};

/* "10p/20-25/100+10x4u" (xl / vif-bridge syntax); "" gives n = 0. */
int vif_vlan_parse(const char *s, struct vif_vlan *vl);
/* Validates s and writes its normal form (the form stored in vif.vlan):
 * the terms as given, except that a spec naming exactly one VLAN is
 * written "<vid>p" so the implied PVID is explicit. */
int vif_vlan_normalise(const char *s, char *out, size_t len);

static inline bool vif_vlan_is_member(const struct vif_vlan *vl, unsigned vid)
{
	return vid >= 1 && vid <= VIF_VLAN_ID_MAX && (vl->member[vid / 8] >> (vid % 8)) & 1;
}

static inline bool vif_vlan_is_untagged(const struct vif_vlan *vl, unsigned vid)
{
	return vif_vlan_is_member(vl, vid) && (vl->untagged[vid / 8] >> (vid % 8)) & 1;
}

/* Copies up to n bytes of s (stopping at NUL) into buf for quoting in an
 * error message: untrusted text must not put control bytes into logs or
 * xenstore's hotplug-error, and a 4 KiB value must not drown the message.
 * Non-printable bytes become \xHH; long text is cut with "...". */
const char *vif_quote_n(char buf[VIF_QUOTE_MAX], const char *s, size_t n);
const char *vif_quote(char buf[VIF_QUOTE_MAX], const char *s);

#endif
