/* xsvif: a vif's xenstore backend directory, read once and validated, and
 * the hotplug status written back.
 *
 * Shared by `netdctl hotplug` (what Xen's vif-* scripts run) and netd's
 * xenstore watch, so a vif is plugged from exactly the same keys, checked by
 * exactly the same parser (vif_set), whichever of the two saw it first.
 * Only the backend directory is read: it is written by the toolstack and
 * read-only to the guest. The frontend directory belongs to the guest and is
 * never trusted for host policy (XEN-NOTES §4, checklist 3). */
#ifndef VIF_XSVIF_H
#define VIF_XSVIF_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "lib/xs_client.h"
#include "vif/vif.h"

/* Where a dom0 backend keeps its vifs: <root>/<domid>/<devid>/. */
#define XSVIF_ROOT "/local/domain/0/backend/vif"
#define XSVIF_DIR_MAX 128

/* The backend keys we read; anything else in the directory (feature-*,
 * state, frontend, …) says nothing about how to plug the vif. */
enum xsvif_key {
	XK_FRONTEND_ID,
	XK_HANDLE,
	XK_ONLINE,
	XK_HOTPLUG_STATUS,
	XK_SCRIPT,
	XK_TYPE,
	XK_MAC,
	XK_BRIDGE,
	XK_IP,
	XK_MTU,
	XK_VIFNAME,
	XK_RATE,
	XK_VLAN,
	XK_GATEWAYDEV,
	XK_IFACE_ID, /* ovs mode: the OVN logical port, when the toolstack names it */
	XK_RATE_IN, /* netd's own key: shaping of what the guest receives */
	XK_COUNT
};

struct xsvif {
	uint32_t domid, devid;
	char dir[XSVIF_DIR_MAX]; /* as given: relative paths are the caller domain's */
	bool exists;             /* the backend directory is there */
	char *val[XK_COUNT];     /* each value as read, once; NULL: key absent */
	char *fe_mtu;            /* the frontend's mtu node; NULL: absent */
	/* The domain's /local/domain/D/vm ("/vm/<uuid>") and name, for ovs
	 * mode's external_ids (toolstack-written; NULL: absent). */
	char *dom_vm, *dom_name;
};

/* "backend/vif/5/0" or "/local/domain/<B>/backend/vif/5/0" (trailing '/'
 * tolerated) → domid 5, devid 0. -EINVAL with err_msg() otherwise. */
int xsvif_dir_parse(const char *dir, uint32_t *domid, uint32_t *devid);

/* Where a watch event's path points under XSVIF_ROOT: 0 the root itself,
 * 1 a domain's directory (*domid set), 2 a vif's directory or a node below
 * it (both set); -1 anything else. */
int xsvif_path_depth(const char *path, uint32_t *domid, uint32_t *devid);

/* Read the relevant keys of dir (the frontend's mtu, the domain's vm and
 * name) in one batch of
 * requests, each value read once (XSA-155: never fetch twice what is
 * checked once). No transaction: the toolstack writes a vif's directory in
 * one transaction before it runs the script or fires our watch, so a plain
 * read sees all of it, and a value changed afterwards brings a new event
 * (watch) or a new script run. A transaction would buy nothing and cost two
 * round trips, count against xenstored's per-domain transaction quota with
 * many scripts running at once, and, in stores that copy the database per
 * transaction (C xenstored before 4.9, the simulator), grow with the number
 * of vifs. A missing directory is not an error: x->exists is false. Errors
 * are xenstore I/O ones (-errno, err_msg()). Free with xsvif_free(). */
int xsvif_read(struct xsc *xs, const char *dir, struct xsvif *x);
void xsvif_free(struct xsvif *x);

const char *xsvif_key_name(enum xsvif_key k);

/* The keys that say whether to plug, for a watcher that decides by them
 * (netd's no-fork mode): online must be "0" or "1" and script, when
 * present, not empty. libxl waits up to 40 s for an answer to a directory
 * it wrote; one with such values is answered with the reason, not ignored.
 * -EINVAL with err_msg() naming the key and value. */
int xsvif_check_control(const struct xsvif *x);

/* online = "1", hotplug-status empty or absent: the toolstack waits for a plug. */
bool xsvif_is_online(const struct xsvif *x);
bool xsvif_wants_plug(const struct xsvif *x);

/* The keys as netd's vif-online args ({"mac": …, "bridge": …}), every value
 * first checked through vif_set() on a vif initialised for domid.devid, on
 * top of `defaults` (may be NULL; keys from the command line, which the
 * backend directory overrides, as Xen's scripts do). frontend-id, handle and
 * mac must be there: a directory without them was not written by a
 * toolstack. On success *out is a new object and *v (if not NULL) the vif.
 * Errors: -EINVAL, with err_msg() naming the key and the bad value. */
int xsvif_args(const struct xsvif *x, json_t *defaults, json_t **out, struct vif *v);

/* A mode hint from the script path: ".../vif-route" → "route", vif-nat →
 * "nat"; NULL for anything else (vif-bridge also serves nat's bridge). */
const char *xsvif_script_mode(const char *script);

/* What a hotplug script reports when done: hotplug-status = connected
 * (after the frontend's mtu when frontend_mtu is not 0 and the frontend has
 * an mtu node that differs, as vif-bridge's set_mtu does), or
 * hotplug-error = error then hotplug-status = error. One transaction
 * (conflicts retried 8 times, then -EAGAIN): it reads the directory,
 * `online` and, when x was read (x->exists), the keys x holds but online
 * and hotplug-status (which change in a device's life), and
 * writes nothing, not even for a moment, when
 * - the toolstack removed the directory meanwhile (or its `online`, or
 *   the frontend's mtu node we write): -ENOENT;
 * - a key is not as x read it: the directory is a new device's (removed
 *   and added again) or was rewritten, and the plug reported is not the
 *   one it asks for: -ESTALE.
 * Either way the caller's next look at the directory decides. */
int xsvif_report(struct xsc *xs, const struct xsvif *x, const char *error,
		 unsigned frontend_mtu);

#endif
