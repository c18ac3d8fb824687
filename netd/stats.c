/* stats: see stats.h. */
#include "netd/stats.h"

#include <stdio.h>
#include <string.h>

/* upper bounds in seconds; a plug costs ~0.1-1 ms, Xen's script 50-300 ms */
static const double bounds[NETD_STATS_BUCKETS] = {
	0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
};

void netd_stats_plug(struct netd_stats *s, int rc, uint64_t usec)
{
	size_t b = 0;

	s->plugs++;
	while (b < NETD_STATS_BUCKETS && (double)usec / 1e6 > bounds[b])
		b++;
	s->latency[b]++;
	s->latency_usec_sum += usec;
	if (!rc)
		return;
	for (size_t i = 0; i < NETD_STATS_REASONS; i++) {
		if (s->errors[i].err == -rc || !s->errors[i].err) {
			s->errors[i].err = -rc;
			s->errors[i].n++;
			return;
		}
	}
	s->errors_other++;
}

json_t *netd_stats_json(const struct netd_stats *s)
{
	json_t *le = json_array(), *counts = json_array(), *errs = json_object();
	uint64_t cum = 0;

	for (size_t b = 0; b <= NETD_STATS_BUCKETS; b++) {
		cum += s->latency[b];
		json_array_append_new(le, b < NETD_STATS_BUCKETS ? json_real(bounds[b])
								  : json_string("+Inf"));
		json_array_append_new(counts, json_integer((json_int_t)cum));
	}
	for (size_t i = 0; i < NETD_STATS_REASONS && s->errors[i].err; i++) {
		const char *name = strerrorname_np(s->errors[i].err);
		char num[16];

		if (!name) {
			snprintf(num, sizeof(num), "E%d", s->errors[i].err);
			name = num;
		}
		json_object_set_new(errs, name, json_integer((json_int_t)s->errors[i].n));
	}
	if (s->errors_other)
		json_object_set_new(errs, "other", json_integer((json_int_t)s->errors_other));
	return json_pack("{s:I, s:o, s:{s:o, s:o, s:f, s:I}, s:I}", "plugs", (json_int_t)s->plugs,
			 "plug_errors", errs, "plug_seconds", "le", le, "counts", counts, "sum",
			 (double)s->latency_usec_sum / 1e6, "count", (json_int_t)cum,
			 "xenstore_reconnects", (json_int_t)s->xs_reconnects);
}
