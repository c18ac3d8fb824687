/* sup: vifback's supervisor — the privileged process that watches
 * xenstore, runs every vif's xenbus handshake (netback/), owns the TAPs
 * (tap.c, backend.c) and one worker process per guest domain (workers.c), cloned for
 * it by the spawner (spawner.c). Single threaded, one poll loop (main.c). */
#ifndef VIFBACK_SUP_H
#define VIFBACK_SUP_H

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "netback/netback.h"
#include "vifback/vb.h"

struct vb_worker {
	uint16_t domid;
	pid_t pid;
	int sock;
	struct vb_worker *next;
};

struct vb_sup {
	struct nb_back nb; /* first: the handshake's callbacks get &nb */
	const char *hv_kind;
	const char *stats_dir; /* vifs' counter files; NULL: none kept */
	bool confine;
	/* --not-bridge: networks another backend (dpswitch) serves */
	const char *not_bridge[16];
	unsigned n_not_bridge;
	struct vb_worker *workers;
	int spawner; /* socket to the spawner, -1 once it is gone */
	pid_t spawner_pid;
};

/* backend.c: the handshake's steps for a TAP-backed vif (netback's ops) */
extern const struct nb_ops vb_nb_ops;
/* At start, the backend watch set, before the first look (a device
 * removed after the sweep read its directory is forgotten at its look,
 * netback's forget_gone): the TAPs an earlier vifback left (persistent)
 * for devices whose backend directory is gone (removed while no vifback
 * ran: libxl waits 10 s for Closed, then removes it) go, as release would
 * have removed them: nobody else would, and no vif will take them. They
 * are found by their mark (vb_tap_mark_name), under whatever name they
 * have now: renamed for vifname= too. An interface without the mark is
 * not ours, whatever its name. xenstore reads a batch at a time. */
#define VB_ORPHANS_BATCH 64
void vb_orphans_remove(struct vb_sup *s);

/* stats.c: a vif's counter file (vif/vifstats.h) */
#define VB_STATS_PATH_MAX 4096
/* Creates the directory (its parent must exist). -errno with err_msg(). */
int vb_stats_init(struct vb_sup *s);
/* The vif's file, created if need be, for its worker; -1 (logged) when
 * counters are not kept. */
int vb_stats_open(struct vb_sup *s, struct nb_vif *v);
/* A reconnect of the vif was held (netback's hold): counted in its file. */
void vb_stats_held(struct vb_sup *s, struct nb_vif *v);
/* The vif's TAP is new or gone: so are its counters. */
void vb_stats_forget(struct vb_sup *s, struct nb_vif *v);

/* spawner.c */
/* Clones the spawner (call before building any state). */
int vb_spawner_start(struct vb_sup *s);
/* Has the spawner clone domid's worker on wsock: its pid, a child of ours
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
