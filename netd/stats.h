/* stats: netd's own counters for `netdctl metrics` and metrics_file: plugs
 * and their latency (a Prometheus-style histogram), failed plugs by errno
 * name, xenstore reconnects of the no-fork watch. */
#ifndef NETD_STATS_H
#define NETD_STATS_H

#include <jansson.h>
#include <stdint.h>

#define NETD_STATS_BUCKETS 12
#define NETD_STATS_REASONS 16

struct netd_stats {
	uint64_t plugs;				 /* vif-online requests answered */
	uint64_t latency[NETD_STATS_BUCKETS + 1]; /* per bucket, the last is +Inf */
	uint64_t latency_usec_sum;
	struct {
		int err; /* positive errno; 0: a free slot */
		uint64_t n;
	} errors[NETD_STATS_REASONS];
	uint64_t errors_other; /* reasons beyond the table: bounded label set */
	uint64_t xs_reconnects;
};

/* One plug answered with rc (0 or -errno) after usec microseconds. */
void netd_stats_plug(struct netd_stats *s, int rc, uint64_t usec);

/* {"plugs":N, "plug_errors":{"ENODEV":N,...}, "plug_seconds":{"le":[...],
 *  "counts":[cumulative...], "sum":S, "count":N}, "xenstore_reconnects":N} */
json_t *netd_stats_json(const struct netd_stats *s);

#endif
