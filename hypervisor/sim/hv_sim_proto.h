/* hv_sim_proto: what hvsim's grant and event channel broker, the backend
 * side (hv.h kind "sim") and the guest side (hv_guest.h) share: the layout
 * of a domain's grant table, the broker's messages and their transport.
 *
 * Transport: SOCK_SEQPACKET UNIX sockets next to xenstored's, so a test that
 * starts `hvsim xenstored` has the broker too:
 *   <xenstored socket>.hv       backends (dom0), always there;
 *   <xenstored socket>.hv.dD    guest D, from INTRODUCE to RELEASE of D.
 * One fixed-size message each way per request; file descriptors (memfds,
 * eventfds) travel as SCM_RIGHTS on the reply. */
#ifndef HV_SIM_HV_SIM_PROTO_H
#define HV_SIM_HV_SIM_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "hypervisor/hv.h"

/* A grant table memfd: one header page written by the broker only, then
 * HV_SIM_GNT_ENTRIES entries laid out as Xen's grant_entry_v1, which the
 * guest fills and the backend reads (each entry read once, as one 64-bit
 * load, so a guest rewriting it meanwhile cannot split a check from a use). */
#define HV_SIM_GNT_ENTRIES	16384u
#define HV_SIM_GNT_MAGIC	0x48564754u	/* "HVGT" */
/* Refs below this are kept for the toolstack, as Linux does
 * (GNTTAB_NR_RESERVED_ENTRIES). */
#define HV_SIM_GNT_FIRST_REF	8u
/* Guest memory and ports a domain may have: every port is two eventfds
 * in the broker, so a guest allocating ports without end must hit a wall
 * long before the broker runs out of descriptors (netfront needs two per
 * queue at most). */
#define HV_SIM_PAGES_MAX	(1u << 18)	/* 1 GiB */
#define HV_SIM_PORTS_MAX	128u
/* The backend side always acts as dom0. */
#define HV_SIM_BACKEND_DOMID	0u

/* grant_entry_v1.flags (public/grant_table.h) */
#define HV_GTF_permit_access	1u
#define HV_GTF_type_mask	3u
#define HV_GTF_readonly		(1u << 2)
#define HV_GTF_sub_page		(1u << 8)

struct hv_sim_gnt_hdr {
	uint32_t magic;
	uint32_t domid;
	uint32_t nr_entries;
	uint32_t pages;		/* of the domain's memory memfd */
	uint32_t dead;		/* set by the broker once the guest is gone */
};

struct hv_sim_gnt_entry {
	uint16_t flags;
	uint16_t domid;
	uint32_t frame;
};

static inline size_t hv_sim_gnt_size(void)
{
	return HV_PAGE_SIZE + (size_t)HV_SIM_GNT_ENTRIES * sizeof(struct hv_sim_gnt_entry);
}

enum hv_sim_op {
	/* backend -> broker */
	HV_SIM_OP_DOMAIN = 1,	/* domid -> fds [memfd, gnttab], arg = pages */
	HV_SIM_OP_BIND,		/* domid, port -> fds [to backend, to guest] */
	HV_SIM_OP_UNBIND,	/* domid, port */
	/* guest -> broker */
	HV_SIM_OP_REGISTER,	/* arg = pages -> fds [memfd, gnttab] */
	HV_SIM_OP_ALLOC,	/* arg = remote domid -> port, fds [to guest, to backend] */
	HV_SIM_OP_CLOSE,	/* port */
};

struct hv_sim_msg {
	uint32_t op;
	int32_t rc;		/* reply: 0 or -errno */
	uint32_t domid;
	uint32_t port;
	uint32_t arg;
	uint32_t pad;
};

#define HV_SIM_FDS_MAX 2

/* "<xenstored socket>.hv" (dom0) or "<xenstored socket>.hv.dD": the
 * xenstored socket found as libxenstore finds it ($XENSTORED_PATH, else
 * $XENSTORED_RUNDIR/socket, else /var/run/xenstored/socket), or given. */
int hv_sim_sock_path(const char *xs_path, int domid, char *buf, size_t len);
int hv_sim_connect(const char *path, int *fd);
/* One message with nfds descriptors. */
int hv_sim_send(int fd, const struct hv_sim_msg *m, const int *fds, unsigned nfds);
/* One message; descriptors beyond maxfds are closed. -ECONNRESET on EOF. */
int hv_sim_recv(int fd, struct hv_sim_msg *m, int *fds, unsigned maxfds, unsigned *nfds);
/* Request and reply on a blocking socket: 0 with exactly nfds descriptors
 * in fds, or the broker's -errno (message left with err_set()). */
int hv_sim_call(int fd, struct hv_sim_msg *m, int *fds, unsigned nfds);

#endif
