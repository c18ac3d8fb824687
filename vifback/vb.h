/* vb: what vifback's parts share — the supervisor <-> worker messages.
 *
 * vifback is Linux netback in userspace: a supervisor runs each vif's
 * xenbus handshake (netback/, shared with dpswitch) and owns its TAP
 * (tap.c, backend.c); a worker process
 * per guest domain (worker.c) maps that domain's rings and moves packets
 * between them and the TAPs, seccomp-confined, so a guest that finds a bug
 * in the data path reaches only its own vifs. */
#ifndef VIFBACK_VB_H
#define VIFBACK_VB_H

#include <stdbool.h>
#include <stdint.h>

#include "netback/netback.h"
#include "vif/netif.h"

/* The frontend's configuration is netback's (netback/fekeys.c). */
#define VB_MAX_QUEUES NB_MAX_QUEUES

/* ---- supervisor <-> worker, supervisor <-> spawner (ipc.c): one SOCK_SEQPACKET message each ---- */

enum vb_msg_type {
	VB_MSG_CONNECT = 1, /* sup -> worker, TAP queue fds attached, then
			     * the vif's counter file if one is kept */
	VB_MSG_DISCONNECT,  /* sup -> worker */
	VB_MSG_RATE,	    /* sup -> worker */
	VB_MSG_RESULT,	    /* worker -> sup: answer to CONNECT/DISCONNECT */
	VB_MSG_FATAL,	    /* worker -> sup: a vif's frontend broke the protocol */
	VB_MSG_SPAWN,	    /* sup -> spawner: start domain devid's worker, its socket attached */
};

/* A message's descriptors at most: a vif's TAP queues and its counter file. */
#define VB_MAX_FDS (VB_MAX_QUEUES + 1)

struct vb_msg {
	uint32_t type;
	uint32_t devid;
	int32_t rc;
	struct nb_fe_cfg cfg;
	uint64_t rate_bytes, rate_usecs;
	char text[200];
};

int vb_msg_send(int sock, const struct vb_msg *m, const int *fds, unsigned nfds);
/* 0, -EAGAIN when nothing is there (non-blocking), -ECONNRESET when the
 * peer is gone, -EPROTO for a short or malformed message. *nfds in: room
 * in fds; out: fds received (any extra ones are closed). */
int vb_msg_recv(int sock, struct vb_msg *m, int *fds, unsigned *nfds);

#endif
