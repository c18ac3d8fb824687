/* metrics: netd's state and counters in Prometheus' text exposition format
 * (`netdctl metrics`). */
#ifndef NETDCTL_METRICS_H
#define NETDCTL_METRICS_H

#include <jansson.h>
#include <stdio.h>

/* status and vif_list are the `result` objects of netd's replies. */
void netdctl_metrics_print(FILE *f, json_t *status, json_t *vif_list);

#endif
