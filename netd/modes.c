/* modes: the mode table. A mode not built in yet has no ops. */
#include <string.h>

#include "netd/mode.h"

const struct netd_mode_ops *netd_mode_ops_for(enum netd_mode mode)
{
	switch (mode) {
	case NETD_MODE_BRIDGE:
		return &br_mode_ops;
	case NETD_MODE_ROUTE:
		return &rt_mode_ops;
	case NETD_MODE_NAT:
		return &nat_mode_ops;
	case NETD_MODE_OVS:
		return &ovs_mode_ops;
	default:
		return NULL;
	}
}

const struct netd_mode_ops *netd_mode_of_command(const char *cmd)
{
	static const struct netd_mode_ops *const all[] = {
		&br_mode_ops, &rt_mode_ops, &nat_mode_ops, &ovs_mode_ops, &dps_mode_ops,
	};

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		for (const char *const *c = all[i]->commands; c && *c; c++)
			if (!strcmp(*c, cmd))
				return all[i];
	return NULL;
}

const struct netd_mode_ops *netd_net_ops_for(const struct netd_net_conf *c)
{
	if (c->mode == NETD_MODE_BRIDGE && c->datapath == NETD_DP_DPDK)
		return &dps_mode_ops;
	return netd_mode_ops_for(c->mode);
}
