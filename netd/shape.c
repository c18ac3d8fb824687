/* shape: guest-bound shaping of the vifs (see shape.h). */
#include "netd/shape.h"

#include <errno.h>

#include "lib/err.h"
#include "lib/nl_link.h"
#include "lib/nl_qdisc.h"

#define BURST_MIN 16384u    /* a few full frames: a smaller bucket stalls them */
#define QUEUE_USEC 100000u  /* how long a burst may wait behind the bucket */

const struct vif_rate *netd_shape_rate(const struct netd_net *net, const struct vif *v)
{
	if (v->rate_in.bytes_per_interval)
		return &v->rate_in;
	return net->conf.rate_in.bytes_per_interval ? &net->conf.rate_in : NULL;
}

int netd_shape_apply(const struct netd_net *net, const struct vif *v, const struct vif *old)
{
	const struct vif_rate *r = netd_shape_rate(net, v);
	unsigned __int128 rate;
	uint64_t burst, limit;
	struct nl_link l;
	int rc;

	if (!r && !(old && netd_shape_rate(net, old)))
		return 0;
	/* dpswitch's vifs are its rings, no kernel interface to queue on. */
	if (net->conf.mode == NETD_MODE_BRIDGE && net->conf.datapath == NETD_DP_DPDK)
		return r ? err_set(-EOPNOTSUPP, "%s: rate_in: not with datapath = dpdk (dpswitch shapes nothing)",
				   v->ifname) : 0;
	rc = nl_link_get(v->ifname, &l);
	if (rc)
		return err_set(rc, "%s: rate_in: no such interface", v->ifname);
	if (!r) {
		rc = nl_qdisc_netd_del(l.ifindex);
		return rc ? err_prefix(rc, "%s: cannot remove its rate_in shaping", v->ifname) : 0;
	}
	rate = (unsigned __int128)r->bytes_per_interval * 1000000u / r->interval_usecs;
	if (rate == 0)
		return err_set(-EINVAL, "%s: rate_in is less than one byte per second", v->ifname);
	if (rate > UINT64_MAX)
		rate = UINT64_MAX;
	burst = r->bytes_per_interval > BURST_MIN ? r->bytes_per_interval : BURST_MIN;
	if (burst > UINT32_MAX / 2)
		burst = UINT32_MAX / 2;
	limit = burst + (uint64_t)(rate * QUEUE_USEC / 1000000u > UINT32_MAX ?
					   UINT32_MAX : rate * QUEUE_USEC / 1000000u);
	if (limit > UINT32_MAX)
		limit = UINT32_MAX;
	rc = nl_qdisc_tbf_set(l.ifindex, (uint64_t)rate, (uint32_t)burst, (uint32_t)limit);
	return rc ? err_prefix(rc, "%s: cannot shape rate_in", v->ifname) : 0;
}

int netd_shape_remove(const struct netd_net *net, const struct vif *v)
{
	struct nl_link l;
	int rc;

	if (!netd_shape_rate(net, v) || nl_link_get(v->ifname, &l) ||
	    (net->conf.mode == NETD_MODE_BRIDGE && net->conf.datapath == NETD_DP_DPDK))
		return 0; /* gone with its qdisc */
	rc = nl_qdisc_netd_del(l.ifindex);
	return rc ? err_prefix(rc, "%s: cannot remove its rate_in shaping", v->ifname) : 0;
}
