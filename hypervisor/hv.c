/* hv: picks the implementation of hv.h (xen or sim) and dispatches to it. */
#include "hypervisor/hv.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "hypervisor/hv_impl.h"
#include "lib/err.h"

/* What the xen kind needs first; without it this host has no Xen. */
#define HV_XEN_EVTCHN_DEV "/dev/xen/evtchn"

int hv_open(const char *kind, struct hv **out)
{
	if (!kind)
		kind = access(HV_XEN_EVTCHN_DEV, F_OK) == 0 ? "xen" : "sim";
	if (!strcmp(kind, "xen"))
		return hv_xen_open(out);
	if (!strcmp(kind, "sim"))
		return hv_sim_open(out);
	return err_set(-EINVAL, "hypervisor kind `%s': expected xen or sim", kind);
}

void hv_close(struct hv *hv)
{
	if (hv)
		hv->ops->close(hv);
}

const char *hv_kind(const struct hv *hv)
{
	return hv->ops->kind;
}

int hv_ioctl_requests(const char *kind, const uint32_t **reqs, unsigned *n)
{
	const struct hv_ops *ops = !kind ? NULL : !strcmp(kind, "xen") ? &hv_xen_ops
					   : !strcmp(kind, "sim") ? &hv_sim_ops : NULL;

	if (!ops)
		return err_set(-EINVAL, "hypervisor kind `%s': expected xen or sim",
			       kind ? kind : "(none)");
	*reqs = ops->ioctls;
	*n = ops->n_ioctls;
	return 0;
}

const char *hv_gntst_str(int16_t status)
{
	/* GNTTABOP_error_msgs of public/grant_table.h, by -status. */
	static const char *const names[] = {
		"okay", "undefined error", "unrecognised domain id",
		"invalid grant reference", "invalid mapping handle",
		"invalid virtual address", "invalid device address",
		"no spare translation slot in the I/O MMU",
		"permission denied", "bad page", "copy arguments cross page boundary",
		"page address size too large", "operation not done; try again",
	};

	if (status > 0 || -status >= (int)(sizeof(names) / sizeof(names[0])))
		return "unknown grant status";
	return names[-status];
}

int hv_evtchn_fd(struct hv *hv)
{
	return hv->ops->evtchn_fd(hv);
}

int hv_evtchn_bind(struct hv *hv, uint16_t domid, uint32_t remote_port, uint32_t *local_port)
{
	return hv->ops->evtchn_bind(hv, domid, remote_port, local_port);
}

int hv_evtchn_unbind(struct hv *hv, uint32_t local_port)
{
	return hv->ops->evtchn_unbind(hv, local_port);
}

int hv_evtchn_notify(struct hv *hv, uint32_t local_port)
{
	return hv->ops->evtchn_notify(hv, local_port);
}

int hv_evtchn_pending(struct hv *hv, uint32_t *local_port)
{
	return hv->ops->evtchn_pending(hv, local_port);
}

int hv_evtchn_unmask(struct hv *hv, uint32_t local_port)
{
	return hv->ops->evtchn_unmask(hv, local_port);
}

int hv_grant_map(struct hv *hv, uint16_t domid, const uint32_t *refs, unsigned n,
		 bool writable, void **addr)
{
	if (n == 0)
		return err_set(-EINVAL, "grant map of no page");
	return hv->ops->grant_map(hv, domid, refs, n, writable, addr);
}

int hv_grant_unmap(struct hv *hv, void *addr, unsigned n)
{
	return hv->ops->grant_unmap(hv, addr, n);
}

int hv_grant_copy(struct hv *hv, struct hv_copy *segs, unsigned n)
{
	if (n == 0)
		return 0;
	return hv->ops->grant_copy(hv, segs, n);
}
