/* nf_datapath: the simulated netfront's TAP and packet loop (see
 * nf_datapath.c). */
#ifndef HV_SIM_NF_DATAPATH_H
#define HV_SIM_NF_DATAPATH_H

#include <stdbool.h>

#include "hypervisor/sim/netfront.h"

/* Create TAP name with nqueues queues in the current network namespace,
 * MAC and MTU from the frontend's keys, up, carrier off. */
int nf_tap_open(struct nf_dev *d, const char *name, unsigned nqueues);
void nf_tap_close(struct nf_dev *d);
/* Carrier and offloads follow the connection: on with what was negotiated. */
void nf_tap_set_link(struct nf_dev *d, bool up);
/* Until SIGTERM/SIGINT (0) or xenstored is lost (-errno). */
int nf_run(struct nf_dev *d);

#endif
