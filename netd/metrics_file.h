/* metrics_file: netd writes `netdctl metrics`' text to [netd] metrics_file
 * every metrics_interval seconds, atomically (node_exporter's textfile
 * collector reads it; no listening socket). */
#ifndef NETD_METRICS_FILE_H
#define NETD_METRICS_FILE_H

#include "netd/daemon.h"

struct netd_metrics_file;

/* Writes once now, then on a timer of d->ev; *out NULL when no file is
 * configured. A failed write is logged (once until one succeeds), never fatal. */
int netd_metrics_file_start(struct netd *d, struct netd_metrics_file **out);
void netd_metrics_file_stop(struct netd_metrics_file *m);

#endif
