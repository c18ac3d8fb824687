/* daemon: netd's networks, their state files, and the operations the control
 * socket exposes (up, down, vif online/offline, status, reload). */
#ifndef NETD_DAEMON_H
#define NETD_DAEMON_H

#include "netd/stats.h"
#include <jansson.h>
#include <stdbool.h>
#include <systemd/sd-event.h>

#include "lib/err.h"
#include "netd/config.h"
#include "netd/mode.h"

struct netd {
	struct netd_conf conf;
	char conf_path[4096];
	struct netd_net *nets;
	size_t n_nets;
	sd_event *ev;
	struct ctl_server *ctl;
	bool defer_checkpoints; /* see netd_defer_checkpoints() */
	char save_error[ERR_MSG_MAX];   /* why the last deferred checkpoint failed */
	/* Told of a vif netd had plugged and no longer has, through no
	 * offline (a reload could not plug it again): the xenstore watch
	 * then says so in hotplug-status. NULL: nobody to tell. */
	void (*vif_lost)(void *data, const struct vif *v, const char *why);
	void *vif_lost_data;
	struct netd_stats stats; /* netd's own counters (metrics) */
	sd_event_source *retry; /* the next try of a failed network (netd_retry_arm) */
	char notified[1024];    /* the last STATUS= told to systemd */
};

int netd_init(struct netd *d, const struct netd_conf *conf);
void netd_fini(struct netd *d);

/* State files of networks the config no longer has (removed while netd was
 * not running) are undone: the host goes back to what it was before them. */
void netd_restore_orphans(struct netd *d);

/* At start, after netd_up: what netd put on the host for vifs it does not
 * remember (bridge ports, marked routes, anti-spoofing elements) is
 * removed. Failures are logged. */
void netd_reconcile(struct netd *d);

/* NULL name: every network, each on its own: one that fails is left
 * failed (its own changes undone, as a failed up always does, and tried
 * again later: netd_retry_arm()), the others go on; the first error is
 * returned. Errors leave err_msg(). */
int netd_up(struct netd *d, const char *name);
/* How many networks are applied (up, or waiting for what serves them). */
size_t netd_n_applied(const struct netd *d);
/* The retry timer set for the first failed network due (not up_held),
 * or removed when there is none; and systemd told (STATUS=) which
 * networks are failed. With no event loop yet: nothing. */
void netd_retry_arm(struct netd *d);
void netd_retry_stop(struct netd *d);
/* systemd told READY=1, with STATUS= naming the failed networks; later
 * changes of that line go with netd_retry_arm(). */
void netd_notify_ready(struct netd *d);
/* Logs why a network failed and when it is tried again (or that it is
 * held for the operator): each failure after the start says so itself. */
void netd_log_failed(const struct netd_net *net);
int netd_down(struct netd *d, const char *name);
/* netd's stop (restore_on_exit): every network down, as netd_down(d,
 * NULL), but for one whose mode keeps it for the next start (its down
 * refused while it waits for what serves it: dpdk's dpswitch gone, which
 * holds its vifs' plugs); that one keeps its state file, logged, and is
 * counted in *kept, not failed: the next netd starts from the file. */
int netd_stop(struct netd *d, unsigned *kept);
/* Re-read the config file: removed networks go down, new ones come up,
 * changed ones are re-applied. */
int netd_reload(struct netd *d);

/* id is "D.N"; args are xl vif keys (bridge, mtu, ip, mac, vifname, …). */
int netd_vif_online(struct netd *d, const char *id, json_t *args, json_t **result);
int netd_vif_offline(struct netd *d, const char *id);

/* netd_vif_online/offline write the network's state file before they
 * return; a new vif whose record cannot be written is refused (and left as
 * it was). Between netd_defer_checkpoints(d, true) and (d, false) they leave
 * it to the latter, which writes each changed network's file once: for a
 * caller plugging many vifs in a row (the xenstore watch) that tells anyone
 * about them only after that. 0, or the first failure (each one logged). */
int netd_defer_checkpoints(struct netd *d, bool defer);
/* Does netd remember vif id ("D.N", "D.N-emu") as plugged? After a failed
 * netd_defer_checkpoints(d, false) the vifs it plugged in that batch are
 * not: unplugged again, as their state could not be saved. */
bool netd_vif_is_online(struct netd *d, const char *id);

/* A mode's own command (see netd_mode_ops.command): the named network, or the
 * first network whose mode knows the command. */
int netd_mode_command(struct netd *d, const char *cmd, const char *name, json_t *req,
		      json_t **result);

json_t *netd_status(struct netd *d);
json_t *netd_vif_list(struct netd *d);

#endif
