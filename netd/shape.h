/* shape: what a guest may receive (rate_in), shaped on its vif in every mode.
 *
 * xl's rate= limits what a guest sends (netback's credit; netd's filters
 * police it, antispoof/ratelimit.h). Nothing in Xen limits what it receives:
 * netd's rate_in (a vif key, from xenstore's backend directory or `netdctl
 * vif online`, or the network's default in netd.conf) puts a token bucket
 * filter at the root of the vif's egress, which is the guest's way in
 * whatever the mode: rate = bytes_per_interval / interval, bucket = one
 * interval's bytes (as netback's credit), a queue of 100 ms behind it.
 *
 * netd owns the qdisc by its handle (lib/nl_qdisc.h): it is put there when
 * the vif is plugged (a plug that cannot shape is refused and undone), again
 * when a netd adopts the vif after a restart (so a qdisc someone deleted
 * meanwhile comes back), and removed when the vif is unplugged or its
 * network goes down. */
#ifndef NETD_SHAPE_H
#define NETD_SHAPE_H

#include "netd/mode.h"
#include "vif/vif.h"

/* The rate_in v gets in net: its own, else the network's default. */
const struct vif_rate *netd_shape_rate(const struct netd_net *net, const struct vif *v);

/* Shape v as netd_shape_rate says. old: the vif's previous record (a
 * re-plug) or NULL; when it was shaped and v is not, the qdisc goes. A vif
 * shaped by neither costs no system call. 0 or -errno with err_msg()
 * naming v. */
int netd_shape_apply(const struct netd_net *net, const struct vif *v, const struct vif *old);

/* Remove netd's qdisc from v if net shapes it (gone already: success). */
int netd_shape_remove(const struct netd_net *net, const struct vif *v);

#endif
