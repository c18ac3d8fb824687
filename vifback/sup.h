/* sup: vifback's supervisor — the privileged process that watches
 * xenstore, runs every vif's xenbus handshake (xenbus.c), owns the TAPs
 * (tap.c) and one worker process per guest domain (workers.c), forked for
 * it by the spawner (spawner.c). Single threaded, one poll loop (main.c). */
#ifndef VIFBACK_SUP_H
#define VIFBACK_SUP_H

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/xs_client.h"
#include "vif/vif.h"
#include "vifback/vb.h"

#define VB_PATH_MAX 96

/* Xen's enum xenbus_state */
enum {
	XB_UNKNOWN = 0,
	XB_INITIALISING = 1,
	XB_INITWAIT = 2,
	XB_INITIALISED = 3,
	XB_CONNECTED = 4,
	XB_CLOSING = 5,
	XB_CLOSED = 6,
};

struct vb_vif {
	uint32_t domid, devid;
	char be[VB_PATH_MAX]; /* our backend directory */
	char fe[VB_PATH_MAX]; /* the frontend's, checked against domid/devid */
	char ifname[IFNAMSIZ];
	int state;	 /* the backend state we last wrote, XB_UNKNOWN before */
	bool probed;	 /* features advertised, TAP created */
	bool fe_watched; /* watch on <fe>/state registered */
	bool connected;	 /* its worker serves its rings */
	bool gone;	 /* torn down for the toolstack: nothing until the dir goes */
	bool pending;	 /* in the look queue */
	int tap;	 /* the TAP's first queue: the TAP lives while it is open */
	struct vb_fe_cfg cfg;
	struct vif_rate rate;
	struct vb_vif *next, *qnext;
};

struct vb_worker {
	uint16_t domid;
	pid_t pid;
	int sock;
	struct vb_worker *next;
};

struct vb_sup {
	struct xsc *xs;
	const char *hv_kind;
	bool confine;
	unsigned max_queues;
	struct vb_vif *vifs;
	struct vb_vif *qhead, **qtail;
	struct vb_worker *workers;
	int spawner; /* socket to the spawner, -1 once it is gone */
	pid_t spawner_pid;
};

/* xenbus.c */
struct vb_vif *vb_vif_get(struct vb_sup *s, uint32_t domid, uint32_t devid, bool create);
void vb_vif_mark(struct vb_sup *s, struct vb_vif *v);
/* Looks at a vif's keys and the frontend's state and takes the step the
 * handshake calls for. -errno only when xenstore is gone. */
int vb_vif_look(struct vb_sup *s, struct vb_vif *v);
/* A worker reported the vif's frontend broke the protocol, or died. */
void vb_vif_lost(struct vb_sup *s, struct vb_vif *v, const char *why);
/* Daemon shutdown: Closing for vifs we serve, TAPs closed. */
void vb_vif_shutdown(struct vb_sup *s, struct vb_vif *v);
void vb_vif_free_all(struct vb_sup *s);

/* spawner.c */
/* Forks the spawner (call before building any state) and makes this
 * process the subreaper its workers come back to. */
int vb_spawner_start(struct vb_sup *s);
/* Has the spawner fork domid's worker on wsock: its pid, a child of ours
 * by then, or -errno with err_msg(). */
pid_t vb_spawner_spawn(struct vb_sup *s, uint16_t domid, int wsock);
/* The spawner was reaped with status: no worker can start any more. */
void vb_spawner_gone(struct vb_sup *s, int status);
void vb_spawner_stop(struct vb_sup *s);

/* workers.c */
/* The domain's worker, forked on first use. */
struct vb_worker *vb_worker_get(struct vb_sup *s, uint16_t domid);
struct vb_worker *vb_worker_find(struct vb_sup *s, uint16_t domid);
/* Sends m (and fds) and waits for the worker's RESULT for m->devid.
 * Returns the worker's rc (its text in err_msg(), and in m->text on
 * success), -errno when it is gone. */
int vb_worker_call(struct vb_sup *s, struct vb_worker *w, struct vb_msg *m, const int *fds,
		   unsigned nfds);
/* A worker's socket is readable: FATAL reports. */
void vb_worker_input(struct vb_sup *s, struct vb_worker *w);
/* SIGCHLD: reap, and every vif of a dead worker's domain is lost. */
void vb_worker_reap(struct vb_sup *s);
/* The domain has no connected vif left: its worker exits. */
void vb_worker_put(struct vb_sup *s, uint16_t domid);
void vb_worker_stop_all(struct vb_sup *s);

#endif
