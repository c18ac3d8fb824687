/* tap: a vif's Dom0 side, a multi-queue TAP with virtio-net headers, so
 * checksum and GSO metadata cross between the guest's rings and the host
 * stack instead of being computed or segmented in software. */
#ifndef VIFBACK_TAP_H
#define VIFBACK_TAP_H

#include <linux/virtio_net.h>
#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>

#include "vif/netif.h"

/* vifback's mark on each TAP it makes for vif D.N: the alternative name
 * "vifback-D.N" (IFLA_ALT_IFNAME, Linux 5.5+). It is the kernel's, so it
 * outlives a vifback killed -9; it stays across a rename for vifname=
 * (netd's or a hotplug script's), which neither netd nor the scripts set
 * or clear (netd's own mark is the alias, vif/rename.c); and it is unique
 * in the namespace, so no other interface carries it while the TAP does.
 * A TAP without it (Linux netback's vif is no TAP; an operator's TAP of
 * any name) is no vif's that vifback may remove. */
#define VB_TAP_MARK_PREFIX "vifback-"
#define VB_TAP_MARK_MAX 32
void vb_tap_mark_name(uint32_t domid, uint32_t devid, char mark[VB_TAP_MARK_MAX]);
/* An altname that is a mark, as vb_tap_mark_name writes it: its vif. */
bool vb_tap_mark_parse(const char *altname, uint32_t *domid, uint32_t *devid);

/* Creates TAP `name` (IFF_TAP|IFF_NO_PI|IFF_VNET_HDR|IFF_MULTI_QUEUE) with
 * its first queue in *fd (non-blocking, close-on-exec), marked, then
 * persistent: it outlives this process, so a vifback that restarts finds
 * its TAPs still bridged and filtered (vb_tap_adopt_marked). Killed before
 * it is persistent, the TAP goes with this process: none is ever left
 * unmarked. A name that is already an interface is refused (-EEXIST), so
 * is a mark (-EEXIST) some interface holds. */
int vb_tap_create(const char *name, const char *mark, int *fd);
/* Attaches to persistent TAP `name` left by an earlier vifback. -ENODEV:
 * no such interface; -EEXIST: an interface that is not such a TAP. */
int vb_tap_adopt(const char *name, int *fd);
/* Attaches to the persistent TAP that holds mark, whatever its name now.
 * -ENODEV: no interface holds it; -EEXIST: one that is not such a TAP. */
int vb_tap_adopt_marked(const char *mark, int *fd);
/* Marks the TAP of fd (adopted from a vifback that did not mark): 0, also
 * when it holds mark already; -EEXIST: it holds another vif's mark. */
int vb_tap_mark(int fd, const char *mark);
/* Ends persistence and closes: the TAP is removed with its last queue. */
void vb_tap_remove(int fd);
/* Opens another queue of the TAP whose first queue is fd0, under its name
 * now (a hotplug script or netd may have renamed it for vifname=). */
int vb_tap_queue_open(int fd0, int *fd);
/* The TAP's name now (a script may have renamed it); "?" if unknown. */
void vb_tap_name(int fd, char name[IFNAMSIZ]);
/* TUNSETOFFLOAD: what the frontend can take from us (partial checksums,
 * TSO); the kernel segments or checksums the rest before we read it. */
int vb_tap_set_offload(int fd, const struct netif_features *feat);
/* TUNSETCARRIER (Linux 4.15+): the TAP's carrier, as netback's
 * netif_carrier_on/off; a bridge stops forwarding to a port without one. */
int vb_tap_set_carrier(int fd, bool on);

/* A guest's packet as the header the TAP wants. -EINVAL: a checksum or GSO
 * request its headers cannot carry (netback's checksum_setup fails: drop). */
int vb_tap_hdr_from_pkt(const struct netif_pkt *p, struct virtio_net_hdr *h);
/* A packet read from the TAP: its metadata for the guest. -EINVAL: a GSO
 * kind a guest cannot take (drop). */
int vb_tap_pkt_from_hdr(const struct virtio_net_hdr *h, struct netif_pkt *p);

#endif
