/* hv: the hypervisor as a vif backend sees it — event channels and grants.
 *
 * Two implementations behind one interface:
 *   xen  libxenevtchn and libxengnttab (/dev/xen/evtchn, /dev/xen/gntdev,
 *        IOCTL_GNTDEV_GRANT_COPY in batches);
 *   sim  hvsim's broker: guest memory is a memfd per domain, a grant table per
 *        domain that the guest side fills, event channels are eventfd pairs;
 *        fds reach the backend with SCM_RIGHTS (see hypervisor/sim/README.md).
 * xenstore is not here: backends use lib/xs_client, which already finds
 * xenstored the way libxenstore does (real or hvsim).
 *
 * One struct hv per process (a vifback worker). Not thread-safe.
 * System calls after hv_open(), for a seccomp allow-list: xen: ioctl (the
 * requests hv_ioctl_requests() lists), read, write, mmap, munmap, close;
 * sim: sendmsg, recvmsg (bind, unbind, first use of a domain), read,
 * write, epoll_pwait, epoll_ctl, mmap, munmap, fstat, fcntl, close. Every
 * function returns 0 or -errno and leaves err_msg() for the caller, except
 * hv_grant_copy's per-segment outcome, which is Xen's GNTST_* code in
 * seg->status, so a caller can tell a guest's bad reference (its fault: that
 * vif is disconnected) from the copy machinery failing (ours). */
#ifndef HV_HV_H
#define HV_HV_H

#include <stdbool.h>
#include <stdint.h>

#define HV_PAGE_SIZE 4096u

/* Xen's grant status codes (public/grant_table.h), same values. */
enum {
	HV_GNTST_OKAY = 0,
	HV_GNTST_GENERAL_ERROR = -1,
	HV_GNTST_BAD_DOMAIN = -2,
	HV_GNTST_BAD_GNTREF = -3,
	HV_GNTST_BAD_HANDLE = -4,
	HV_GNTST_BAD_VIRT_ADDR = -5,
	HV_GNTST_BAD_DEV_ADDR = -6,
	HV_GNTST_NO_DEVICE_SPACE = -7,
	HV_GNTST_PERMISSION_DENIED = -8,
	HV_GNTST_BAD_PAGE = -9,
	HV_GNTST_BAD_COPY_ARG = -10,
	HV_GNTST_ADDRESS_TOO_BIG = -11,
	HV_GNTST_EAGAIN = -12,
};

struct hv;

/* kind: "xen", "sim", or NULL for the one this host has (/dev/xen/evtchn
 * present: xen, else sim, which needs hvsim's broker to be reachable). */
int hv_open(const char *kind, struct hv **out);
void hv_close(struct hv *hv);
const char *hv_kind(const struct hv *hv);
/* The ioctl requests kind's calls issue after hv_open() (none for sim),
 * for a seccomp allow-list. -EINVAL for an unknown kind. */
int hv_ioctl_requests(const char *kind, const uint32_t **reqs, unsigned *n);
/* Name of a GNTST_* code, for log lines ("bad gntref"). */
const char *hv_gntst_str(int16_t status);

/* ---- event channels ----
 * One pollable fd for every port bound through this hv. A port that fired is
 * reported once by hv_evtchn_pending() and then stays masked until
 * hv_evtchn_unmask() (as /dev/xen/evtchn does since XSA-332): a guest that
 * storms events costs one wake-up per unmask, never a busy loop. */
int hv_evtchn_fd(struct hv *hv);
int hv_evtchn_bind(struct hv *hv, uint16_t domid, uint32_t remote_port, uint32_t *local_port);
int hv_evtchn_unbind(struct hv *hv, uint32_t local_port);
int hv_evtchn_notify(struct hv *hv, uint32_t local_port);
/* Next port that fired: 0 and *local_port, or -EAGAIN when none is pending. */
int hv_evtchn_pending(struct hv *hv, uint32_t *local_port);
int hv_evtchn_unmask(struct hv *hv, uint32_t local_port);

/* ---- grants ---- */

/* Map n granted pages of domid contiguously (ring pages). Read-only unless
 * writable. A ref the guest did not grant to us, revoked or read-only when
 * writable is asked: an error and nothing mapped (sim: -EPERM, -EINVAL for a
 * ref out of the table, -ESRCH for a domain that is not there; Linux's
 * gntdev answers -EINVAL for any refused grant). */
int hv_grant_map(struct hv *hv, uint16_t domid, const uint32_t *refs, unsigned n,
		 bool writable, void **addr);
int hv_grant_unmap(struct hv *hv, void *addr, unsigned n);

/* One segment of a grant copy: len bytes between local memory and the
 * granted page ref of domid at offset (offset + len ≤ HV_PAGE_SIZE). */
struct hv_copy {
	bool to_guest; /* false: guest page -> local; true: local -> guest page */
	uint16_t domid;
	uint32_t ref;
	uint16_t offset;
	uint16_t len;
	void *local;
	int16_t status; /* out: HV_GNTST_* */
};

/* Copies every segment; each gets its own status (a bad ref fails only its
 * segment, as GNTTABOP_copy does). Returns 0 when the batch was carried out
 * (look at the statuses), -errno when it could not be (nothing reliable). */
int hv_grant_copy(struct hv *hv, struct hv_copy *segs, unsigned n);

#endif
