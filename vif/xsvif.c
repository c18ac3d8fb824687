/* xsvif: read a vif's backend directory once, validate it through the vif
 * parser, and write the hotplug status back (see xsvif.h). */
#include "vif/xsvif.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"

static const char *const key_names[XK_COUNT] = {
	[XK_FRONTEND_ID] = "frontend-id",
	[XK_HANDLE] = "handle",
	[XK_ONLINE] = "online",
	[XK_HOTPLUG_STATUS] = "hotplug-status",
	[XK_SCRIPT] = "script",
	[XK_TYPE] = "type",
	[XK_MAC] = "mac",
	[XK_BRIDGE] = "bridge",
	[XK_IP] = "ip",
	[XK_MTU] = "mtu",
	[XK_VIFNAME] = "vifname",
	[XK_RATE] = "rate",
	[XK_VLAN] = "vlan",
	[XK_GATEWAYDEV] = "gatewaydev",
	[XK_IFACE_ID] = "iface-id",
	[XK_RATE_IN] = "rate_in",
};

const char *xsvif_key_name(enum xsvif_key k)
{
	return k < XK_COUNT ? key_names[k] : "?";
}

/* Strict decimal for path components: no sign, no leading zero. */
static int dec_component(const char *s, size_t len, unsigned long max, uint32_t *out)
{
	unsigned long v = 0;

	if (len == 0 || len > 10 || (len > 1 && s[0] == '0'))
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v > max)
		return -ERANGE;
	*out = (uint32_t)v;
	return 0;
}

int xsvif_dir_parse(const char *dir, uint32_t *domid, uint32_t *devid)
{
	static const char rel[] = "backend/vif/", local[] = "/local/domain/";
	const char *p = dir, *slash;
	uint32_t backend;
	size_t len;

	if (!dir)
		return err_set(-EINVAL, "no backend path (XENBUS_PATH is not set)");
	len = strlen(dir);
	if (len >= XSVIF_DIR_MAX)
		goto bad;
	if (!strncmp(p, local, sizeof(local) - 1)) {
		p += sizeof(local) - 1;
		slash = strchr(p, '/');
		if (!slash || dec_component(p, (size_t)(slash - p), VIF_DOMID_MAX, &backend))
			goto bad;
		p = slash + 1;
	}
	if (strncmp(p, rel, sizeof(rel) - 1))
		goto bad;
	p += sizeof(rel) - 1;
	slash = strchr(p, '/');
	if (!slash || dec_component(p, (size_t)(slash - p), VIF_DOMID_MAX, domid))
		goto bad;
	p = slash + 1;
	len = strcspn(p, "/");
	if (dec_component(p, len, VIF_DEVID_MAX, devid) || (p[len] && strcmp(p + len, "/")))
		goto bad;
	return 0;
bad:
	return err_set(-EINVAL, "backend path '%.*s' is not backend/vif/DOMID/DEVID",
		       64, dir);
}

int xsvif_path_depth(const char *path, uint32_t *domid, uint32_t *devid)
{
	static const char root[] = XSVIF_ROOT;
	const char *p;
	size_t len;

	if (!path || strncmp(path, root, sizeof(root) - 1))
		return -1;
	p = path + sizeof(root) - 1;
	if (!*p)
		return 0;
	if (*p++ != '/')
		return -1;
	len = strcspn(p, "/");
	if (dec_component(p, len, VIF_DOMID_MAX, domid))
		return -1;
	p += len;
	if (!*p)
		return 1;
	p++;
	len = strcspn(p, "/");
	if (dec_component(p, len, VIF_DEVID_MAX, devid))
		return -1;
	return 2;
}

void xsvif_free(struct xsvif *x)
{
	for (int k = 0; k < XK_COUNT; k++) {
		free(x->val[k]);
		x->val[k] = NULL;
	}
	free(x->fe_mtu);
	free(x->dom_vm);
	free(x->dom_name);
	x->fe_mtu = x->dom_vm = x->dom_name = NULL;
	x->exists = false;
}

/* The frontend's mtu node: the one frontend key we look at (to write it). */
static void fe_mtu_path(const struct xsvif *x, char *buf, size_t len)
{
	snprintf(buf, len, "/local/domain/%u/device/vif/%u/mtu", x->domid, x->devid);
}

int xsvif_read(struct xsc *xs, const char *dir, struct xsvif *x)
{
	char paths[XK_COUNT][XSVIF_DIR_MAX + 32], fe[64], vm[48], name[48];
	struct xsc_op ops[XK_COUNT + 4];
	int rc;

	memset(x, 0, sizeof(*x));
	rc = xsvif_dir_parse(dir, &x->domid, &x->devid);
	if (rc)
		return rc;
	snprintf(x->dir, sizeof(x->dir), "%s", dir);
	/* "backend/vif/5/0/" would make "…//mac". */
	if (x->dir[strlen(x->dir) - 1] == '/')
		x->dir[strlen(x->dir) - 1] = '\0';
	/* One batch: the directory node (is it there?), every key we know
	 * (absent ones answer ENOENT), the frontend's mtu. */
	memset(ops, 0, sizeof(ops));
	ops[0] = (struct xsc_op){ .type = XS_MSG_READ, .path = x->dir };
	for (int k = 0; k < XK_COUNT; k++) {
		snprintf(paths[k], sizeof(paths[k]), "%s/%s", x->dir, key_names[k]);
		ops[k + 1] = (struct xsc_op){ .type = XS_MSG_READ, .path = paths[k] };
	}
	fe_mtu_path(x, fe, sizeof(fe));
	ops[XK_COUNT + 1] = (struct xsc_op){ .type = XS_MSG_READ, .path = fe };
	snprintf(vm, sizeof(vm), "/local/domain/%u/vm", x->domid);
	snprintf(name, sizeof(name), "/local/domain/%u/name", x->domid);
	ops[XK_COUNT + 2] = (struct xsc_op){ .type = XS_MSG_READ, .path = vm };
	ops[XK_COUNT + 3] = (struct xsc_op){ .type = XS_MSG_READ, .path = name };
	rc = xsc_run(xs, ops, XK_COUNT + 4);
	if (rc)
		return rc;
	for (int i = 0; i < XK_COUNT + 4 && rc == 0; i++) {
		if (ops[i].err && ops[i].err != -ENOENT)
			rc = err_set(ops[i].err, "xenstore: %s: %s", ops[i].path,
				     strerror(-ops[i].err));
		else if (ops[i].reply && strlen(ops[i].reply) != ops[i].len && i > 0)
			/* An embedded NUL: nothing we parse may contain one. */
			rc = err_set(-EINVAL, "vif%u.%u: %s: contains a NUL byte", x->domid,
				     x->devid, i <= XK_COUNT ? key_names[i - 1] : ops[i].path);
	}
	if (rc == 0 && ops[0].err == 0) {
		x->exists = true;
		for (int k = 0; k < XK_COUNT; k++) {
			x->val[k] = ops[k + 1].reply;
			ops[k + 1].reply = NULL;
		}
		x->fe_mtu = ops[XK_COUNT + 1].reply;
		x->dom_vm = ops[XK_COUNT + 2].reply;
		x->dom_name = ops[XK_COUNT + 3].reply;
		ops[XK_COUNT + 1].reply = ops[XK_COUNT + 2].reply = ops[XK_COUNT + 3].reply = NULL;
	}
	xsc_ops_free(ops, XK_COUNT + 4);
	return rc;
}

int xsvif_check_control(const struct xsvif *x)
{
	const char *online = x->val[XK_ONLINE], *script = x->val[XK_SCRIPT];
	char q[VIF_QUOTE_MAX];

	if (online && strcmp(online, "0") && strcmp(online, "1"))
		return err_set(-EINVAL, "vif%u.%u: online: '%s': expected '0' or '1'", x->domid,
			       x->devid, vif_quote(q, online));
	if (script && !script[0])
		return err_set(-EINVAL, "vif%u.%u: script: empty, expected the hotplug script's path",
			       x->domid, x->devid);
	return 0;
}

bool xsvif_is_online(const struct xsvif *x)
{
	return x->exists && x->val[XK_ONLINE] && !strcmp(x->val[XK_ONLINE], "1");
}

bool xsvif_wants_plug(const struct xsvif *x)
{
	const char *st = x->val[XK_HOTPLUG_STATUS];

	return xsvif_is_online(x) && (!st || !st[0]);
}

/* Keys that reach netd (the others are identity checks or bookkeeping). */
static bool key_is_arg(int k)
{
	return k != XK_FRONTEND_ID && k != XK_HANDLE && k != XK_ONLINE && k != XK_HOTPLUG_STATUS;
}

int xsvif_args(const struct xsvif *x, json_t *defaults, json_t **out, struct vif *vout)
{
	static const int required[] = { XK_FRONTEND_ID, XK_HANDLE, XK_MAC };
	const char *key;
	json_t *args, *val;
	struct vif v;
	int rc = 0;

	if (!x->exists)
		return err_set(-ENOENT, "vif%u.%u: no backend directory %s", x->domid, x->devid,
			       x->dir);
	for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++)
		if (!x->val[required[i]])
			return err_set(-EINVAL, "vif%u.%u: missing key '%s' in %s", x->domid,
				       x->devid, key_names[required[i]], x->dir);
	args = defaults ? json_deep_copy(defaults) : json_object();
	if (!args)
		return err_set(-ENOMEM, "out of memory");
	/* Every value through the one parser: the defaults, then the backend
	 * keys over them (identity keys too: frontend-id and handle must name
	 * this vif); only what passed goes to netd. */
	vif_init(&v, x->domid, x->devid);
	json_object_foreach(args, key, val) {
		rc = json_is_string(val) ? vif_set(&v, key, json_string_value(val))
					 : err_set(-EINVAL, "%s: not a string", key);
		if (rc)
			break;
	}
	for (int k = 0; k < XK_COUNT && rc == 0; k++) {
		if (!x->val[k])
			continue;
		rc = vif_set(&v, key_names[k], x->val[k]);
		if (rc == 0 && key_is_arg(k) &&
		    json_object_set_new(args, key_names[k], json_string(x->val[k])))
			/* json_string() takes UTF-8 only; netd's protocol is JSON. */
			rc = err_set(-EINVAL, "%s: not valid UTF-8", key_names[k]);
	}
	if (rc == 0)
		rc = vif_check(&v);
	if (rc) {
		json_decref(args);
		return err_prefix(rc, "vif%u.%u", x->domid, x->devid);
	}
	/* The domain's UUID and name only label the port (ovs mode); one
	 * the parser does not take is left out, not a reason to refuse. */
	if (x->dom_vm && strrchr(x->dom_vm, '/')) {
		const char *u = strrchr(x->dom_vm, '/') + 1;

		if (vif_set(&v, "vm-uuid", u) == 0)
			json_object_set_new(args, "vm-uuid", json_string(u));
	}
	if (x->dom_name && vif_set(&v, "vm-name", x->dom_name) == 0)
		json_object_set_new(args, "vm-name", json_string(x->dom_name));
	err_clear();
	*out = args;
	if (vout)
		*vout = v;
	return 0;
}

const char *xsvif_script_mode(const char *script)
{
	const char *base;

	if (!script)
		return NULL;
	base = strrchr(script, '/');
	base = base ? base + 1 : script;
	if (!strcmp(base, "vif-route"))
		return "route";
	if (!strcmp(base, "vif-nat"))
		return "nat";
	if (!strcmp(base, "vif-openvswitch"))
		return "ovs";
	return NULL;
}

/* A report's transaction that conflicts (the toolstack writing the
 * directory meanwhile) starts again, this many times at most, as
 * netback's be_write. */
#define XSVIF_TX_TRIES 8
/* the most writes a report makes (hotplug-error and hotplug-status) */
#define XSVIF_TX_WRITES 2
/* the reads before them: the directory, online, the frontend's mtu, the keys */
#define XSVIF_TX_READS (3 + XK_COUNT)

/* The keys that say which device (and plug) a directory is: what the
 * port was made from and where (frontend-id, handle, mac, ip, bridge,
 * script, type, vifname, mtu, ...), whose change means another device
 * (removed and added again) or a plug made from what is no longer there.
 * Not online and hotplug-status, which change in a device's life (the
 * toolstack's teardown, the answer of a script or watch plugging it at
 * the same time as we do, as both may), nor rate and rate_in: shaping of
 * the same device, read at connect (netback, which follows rate's
 * changes) and at plug (rate_in), never which device it is; a change of
 * them while plugging does not fail the plug (the script's exit 1 would
 * fail the guest's attach), as netback's same_device() looks at the
 * device's life (its state) and not at its tunables. */
static bool key_is_identity(int k)
{
	return k != XK_ONLINE && k != XK_HOTPLUG_STATUS && k != XK_RATE && k != XK_RATE_IN;
}

/* Is the key as x read it? (absent: NULL; a value: the same bytes) */
static bool key_same(const char *was, const struct xsc_op *now)
{
	if (now->err == -ENOENT)
		return !was;
	return was && !now->err && now->reply && strlen(now->reply) == now->len &&
	       !strcmp(was, now->reply);
}

/* What a report's reads must find: ops[0..nr) the reads, the last nk of
 * them keys[]'s as x read them (see report_tx). */
struct report_want {
	const struct xsvif *x;
	const char *fe;
	int keys[XK_COUNT];
	unsigned nr, nk;
};

/* report_tx's judge: 1 the directory is gone, 2 it is not the one x read,
 * else every read and write made. */
static int report_judge(const struct xsc_op *ops, unsigned n, void *arg)
{
	const struct report_want *w = arg;

	if (ops[0].err == -ENOENT || ops[1].err == -ENOENT || (w->fe && ops[2].err == -ENOENT))
		return 1;
	for (unsigned i = 0; i < w->nr - w->nk; i++)
		if (ops[i].err)
			return err_set(ops[i].err, "xenstore: cannot read %s: %s", ops[i].path,
				       strerror(-ops[i].err));
	for (unsigned k = 0; k < w->nk; k++)
		if (!key_same(w->x->val[w->keys[k]], &ops[w->nr - w->nk + k]))
			return 2;
	for (unsigned i = w->nr; i < n; i++)
		if (ops[i].err)
			return err_set(ops[i].err, "xenstore: cannot write %s: %s", ops[i].path,
				       strerror(-ops[i].err));
	return 0;
}

/* writes[0..nw) in one transaction that first reads the directory, its
 * online key and the keys x was read with (and the frontend's mtu node
 * when fe names it), and writes nothing when the directory is gone (or
 * online is: the toolstack removes the directory) or is not as x read
 * it: a device removed and added again since, whose plug is not the one
 * we report. A plain write would make a removed directory again, if only
 * until it was taken back (xenstored creates the missing parents, and
 * fires the watches). */
static int report_tx(struct xsc *xs, const struct xsvif *x, const struct xsc_op *writes,
		     unsigned nw, const char *fe)
{
	char paths[XK_COUNT][XSVIF_DIR_MAX + 32], online[XSVIF_DIR_MAX + 16];
	struct xsc_op ops[XSVIF_TX_READS + XSVIF_TX_WRITES];
	struct report_want w = { .x = x, .fe = fe };
	int rc;

	snprintf(online, sizeof(online), "%s/online", x->dir);
	ops[w.nr++] = (struct xsc_op){ .type = XS_MSG_READ, .path = x->dir };
	ops[w.nr++] = (struct xsc_op){ .type = XS_MSG_READ, .path = online };
	if (fe)
		ops[w.nr++] = (struct xsc_op){ .type = XS_MSG_READ, .path = fe };
	/* what the plug was made from, when the caller read it */
	for (int k = 0; x->exists && k < XK_COUNT; k++) {
		if (!key_is_identity(k))
			continue;
		snprintf(paths[w.nk], sizeof(paths[w.nk]), "%s/%s", x->dir, key_names[k]);
		w.keys[w.nk++] = k;
		ops[w.nr++] = (struct xsc_op){ .type = XS_MSG_READ, .path = paths[w.nk - 1] };
	}
	memcpy(ops + w.nr, writes, nw * sizeof(*writes));
	rc = xsc_tx_write_if(xs, ops, w.nr + nw, XSVIF_TX_TRIES, report_judge, &w);
	if (rc == -EAGAIN)
		return err_set(-EAGAIN, "vif%u.%u: %s: its report conflicted %u times", x->domid,
			       x->devid, x->dir, XSVIF_TX_TRIES);
	if (rc == -EDQUOT) /* xenstored's quota of open transactions */
		return err_prefix(rc, "vif%u.%u: %s", x->domid, x->devid, x->dir);
	if (rc == 1)
		return err_set(-ENOENT, "vif%u.%u: backend directory removed while being plugged",
			       x->domid, x->devid);
	if (rc == 2)
		return err_set(-ESTALE,
			       "vif%u.%u: backend directory changed since it was read (removed and "
			       "added again?): not reported",
			       x->domid, x->devid);
	return rc;
}

int xsvif_report(struct xsc *xs, const struct xsvif *x, const char *error,
		 unsigned frontend_mtu)
{
	char status[XSVIF_DIR_MAX + 32], errpath[XSVIF_DIR_MAX + 32], fe[64], mtu[16];
	struct xsc_op ops[XSVIF_TX_WRITES];
	unsigned n = 0;

	if (!x->dir[0])
		return err_set(-EINVAL, "no backend directory to report to");
	snprintf(status, sizeof(status), "%s/hotplug-status", x->dir);
	/* Error text first: whoever watches hotplug-status reads the reason
	 * as soon as it sees "error" (the commit fires events in order). */
	if (error) {
		snprintf(errpath, sizeof(errpath), "%s/hotplug-error", x->dir);
		ops[n++] = (struct xsc_op){ .type = XS_MSG_WRITE, .path = errpath, .arg = error,
					    .vlen = (unsigned)strlen(error) };
		ops[n++] = (struct xsc_op){ .type = XS_MSG_WRITE, .path = status, .arg = "error",
					    .vlen = 5 };
		return report_tx(xs, x, ops, n, NULL);
	}
	/* As vif-bridge's set_mtu: the guest learns the MTU its backend got.
	 * The node is the toolstack's (libxl writes it read-only to the guest);
	 * it was read with the backend's keys and usually needs no write.
	 * Absent: no frontend directory is created for it (nor once it has
	 * gone: the transaction reads it). */
	snprintf(mtu, sizeof(mtu), "%u", frontend_mtu);
	fe[0] = '\0';
	if (frontend_mtu && x->fe_mtu && strcmp(x->fe_mtu, mtu)) {
		fe_mtu_path(x, fe, sizeof(fe));
		ops[n++] = (struct xsc_op){ .type = XS_MSG_WRITE, .path = fe, .arg = mtu,
					    .vlen = (unsigned)strlen(mtu) };
	}
	ops[n++] = (struct xsc_op){ .type = XS_MSG_WRITE, .path = status, .arg = "connected",
				    .vlen = 9 };
	return report_tx(xs, x, ops, n, fe[0] ? fe : NULL);
}
