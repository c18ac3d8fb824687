/* hv_impl: what an implementation of hv.h provides (xen/hv_xen.c,
 * sim/hv_sim.c). hv.c dispatches through this table; nothing else
 * includes this header. */
#ifndef HV_HV_IMPL_H
#define HV_HV_IMPL_H

#include "hypervisor/hv.h"

struct hv_ops {
	const char *kind;
	/* the ioctl requests the calls below issue (hv_ioctl_requests) */
	const uint32_t *ioctls;
	unsigned n_ioctls;
	void (*close)(struct hv *hv);
	int (*evtchn_fd)(struct hv *hv);
	int (*evtchn_bind)(struct hv *hv, uint16_t domid, uint32_t remote_port,
			   uint32_t *local_port);
	int (*evtchn_unbind)(struct hv *hv, uint32_t local_port);
	int (*evtchn_notify)(struct hv *hv, uint32_t local_port);
	int (*evtchn_pending)(struct hv *hv, uint32_t *local_port);
	int (*evtchn_unmask)(struct hv *hv, uint32_t local_port);
	int (*grant_map)(struct hv *hv, uint16_t domid, const uint32_t *refs,
			 unsigned n, bool writable, void **addr);
	int (*grant_unmap)(struct hv *hv, void *addr, unsigned n);
	int (*grant_copy)(struct hv *hv, struct hv_copy *segs, unsigned n);
};

/* Each implementation's struct starts with this. */
struct hv {
	const struct hv_ops *ops;
};

int hv_xen_open(struct hv **out);
int hv_sim_open(struct hv **out);
extern const struct hv_ops hv_xen_ops, hv_sim_ops;

#endif
