/* vb: what vifback's parts share — a vif's negotiated configuration (what
 * the frontend asked for, validated) and the supervisor <-> worker
 * messages.
 *
 * vifback is Linux netback in userspace: a supervisor runs each vif's
 * xenbus handshake (xenbus.c) and owns its TAP (tap.c); a worker process
 * per guest domain (worker.c) maps that domain's rings and moves packets
 * between them and the TAPs, seccomp-confined, so a guest that finds a bug
 * in the data path reaches only its own vifs. */
#ifndef VIFBACK_VB_H
#define VIFBACK_VB_H

#include <stdbool.h>
#include <stdint.h>

#include "vif/netif.h"

#define VB_MAX_QUEUES 8u

struct vb_queue_cfg {
	uint32_t tx_ref, rx_ref;
	uint32_t evtchn_tx, evtchn_rx; /* equal unless split */
	bool split;
};

/* The frontend's keys, read once and checked (fekeys.c). */
struct vb_fe_cfg {
	struct netif_features feat;
	unsigned nqueues;
	struct vb_queue_cfg q[VB_MAX_QUEUES];
};

/* Frontend keys read at connect, in vb_fe_parse()'s order. */
enum vb_fe_key {
	VB_FK_REQUEST_RX_COPY,
	VB_FK_RX_NOTIFY,
	VB_FK_SG,
	VB_FK_GSO_TCPV4,
	VB_FK_GSO_TCPV6,
	VB_FK_NO_CSUM_OFFLOAD,
	VB_FK_IPV6_CSUM_OFFLOAD,
	VB_FK_NUM_QUEUES,
	VB_FK_COUNT
};
/* Per-queue keys: top level for one queue, queue-N/ for several. */
enum vb_fq_key { VB_FQ_TX_REF, VB_FQ_RX_REF, VB_FQ_EVTCHN, VB_FQ_EVTCHN_TX, VB_FQ_EVTCHN_RX, VB_FQ_COUNT };

const char *vb_fe_key_name(enum vb_fe_key k);
const char *vb_fq_key_name(enum vb_fq_key k);

/* Number of queues the frontend asks for (multi-queue-num-queues, absent:
 * 1), checked against 1..max_queues. -EINVAL with err_msg(). */
int vb_fe_num_queues(const char *val, unsigned max_queues, unsigned *n);
/* The whole configuration from values as read (NULL: absent); q[i] are
 * queue i's keys. -EINVAL (-EOPNOTSUPP for a frontend that does not ask
 * for rx-copy) with err_msg() naming the key and the value. */
int vb_fe_parse(const char *const fe[VB_FK_COUNT], const char *const q[][VB_FQ_COUNT],
		unsigned nqueues, struct vb_fe_cfg *out);

/* ---- supervisor <-> worker, supervisor <-> spawner (ipc.c): one SOCK_SEQPACKET message each ---- */

enum vb_msg_type {
	VB_MSG_CONNECT = 1, /* sup -> worker, TAP queue fds attached */
	VB_MSG_DISCONNECT,  /* sup -> worker */
	VB_MSG_RATE,	    /* sup -> worker */
	VB_MSG_RESULT,	    /* worker -> sup: answer to CONNECT/DISCONNECT */
	VB_MSG_FATAL,	    /* worker -> sup: a vif's frontend broke the protocol */
	VB_MSG_SPAWN,	    /* sup -> spawner: start domain devid's worker, its socket attached */
};

struct vb_msg {
	uint32_t type;
	uint32_t devid;
	int32_t rc;
	struct vb_fe_cfg cfg;
	uint64_t rate_bytes, rate_usecs;
	char text[200];
};

int vb_msg_send(int sock, const struct vb_msg *m, const int *fds, unsigned nfds);
/* 0, -EAGAIN when nothing is there (non-blocking), -ECONNRESET when the
 * peer is gone, -EPROTO for a short or malformed message. *nfds in: room
 * in fds; out: fds received (any extra ones are closed). */
int vb_msg_recv(int sock, struct vb_msg *m, int *fds, unsigned *nfds);

#endif
