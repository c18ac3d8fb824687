/* worker: one guest domain's data path in a process of its own (see
 * worker.c). */
#ifndef VIFBACK_WORKER_H
#define VIFBACK_WORKER_H

#include <stdbool.h>
#include <stdint.h>

#include "vifback/vb.h"

/* Runs until the supervisor's socket closes. hv_kind as hv_open() takes
 * it; confine: seccomp once the hypervisor handles are open. */
/* The RX drain and stall timeouts (netback's rx_drain_timeout_msecs and
 * rx_stall_timeout_msecs, 10 s and 60 s) from VIFBACK_RX_DRAIN_MS and
 * VIFBACK_RX_STALL_MS when set; -EINVAL for a value that is not 1..3600000.
 * Call before the spawner is cloned. */
int vb_worker_timeouts_from_env(void);
/* stack_lo: the lowest byte of the stack it runs on, whose pages below
 * its loop's it gives back when idle; NULL: it does not. */
int vb_worker_run(int sock, uint16_t domid, const char *hv_kind, bool confine, void *stack_lo);

#endif
