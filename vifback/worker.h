/* worker: one guest domain's data path in a process of its own (see
 * worker.c). */
#ifndef VIFBACK_WORKER_H
#define VIFBACK_WORKER_H

#include <stdbool.h>
#include <stdint.h>

#include "vifback/vb.h"

/* Runs until the supervisor's socket closes. hv_kind as hv_open() takes
 * it; confine: seccomp once the hypervisor handles are open. */
int vb_worker_run(int sock, uint16_t domid, const char *hv_kind, bool confine);

#endif
