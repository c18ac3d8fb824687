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
};

const char *xsvif_key_name(enum xsvif_key k)
{
	return k < XK_COUNT ? key_names[k] : "?";
}

static int key_lookup(const char *name)
{
	for (int k = 0; k < XK_COUNT; k++)
		if (!strcmp(name, key_names[k]))
			return k;
	return -1;
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
	x->exists = false;
}

static int xs_errno(int fallback)
{
	return errno > 0 ? -errno : fallback;
}

int xsvif_read(struct xs_handle *xs, const char *dir, struct xsvif *x)
{
	char path[XSVIF_DIR_MAX + 32], **names;
	unsigned n, len;
	int rc = 0;

	memset(x, 0, sizeof(*x));
	rc = xsvif_dir_parse(dir, &x->domid, &x->devid);
	if (rc)
		return rc;
	snprintf(x->dir, sizeof(x->dir), "%s", dir);
	/* "backend/vif/5/0/" would make "…//mac". */
	if (x->dir[strlen(x->dir) - 1] == '/')
		x->dir[strlen(x->dir) - 1] = '\0';
	names = xs_directory(xs, XBT_NULL, x->dir, &n);
	if (!names) {
		if (errno == ENOENT)
			return 0;
		return err_set(xs_errno(-EIO), "xenstore: %s: %s", x->dir, strerror(errno));
	}
	x->exists = true;
	for (unsigned i = 0; i < n && rc == 0; i++) {
		int k = key_lookup(names[i]);

		if (k < 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", x->dir, names[i]);
		x->val[k] = xs_read(xs, XBT_NULL, path, &len);
		if (x->val[k] && strlen(x->val[k]) != len) {
			/* An embedded NUL: nothing we parse may contain one. */
			rc = err_set(-EINVAL, "vif%u.%u: %s: contains a NUL byte", x->domid,
				     x->devid, names[i]);
		} else if (!x->val[k] && errno != ENOENT) {
			rc = err_set(xs_errno(-EIO), "xenstore: %s: %s", path, strerror(errno));
		}
	}
	free(names);
	if (rc)
		xsvif_free(x);
	return rc;
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
	if (rc) {
		json_decref(args);
		return err_prefix(rc, "vif%u.%u", x->domid, x->devid);
	}
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
	return NULL;
}

static int write_key(struct xs_handle *xs, const char *dir, const char *key, const char *value)
{
	char path[XSVIF_DIR_MAX + 64];

	snprintf(path, sizeof(path), "%s/%s", dir, key);
	if (!xs_write(xs, XBT_NULL, path, value, (unsigned)strlen(value)))
		return err_set(xs_errno(-EIO), "xenstore: cannot write %s: %s", path, strerror(errno));
	return 0;
}

/* 1 if the node exists (its value is not looked at), 0 if not, -errno. */
static int node_exists(struct xs_handle *xs, const char *path)
{
	unsigned len;
	char *v = xs_read(xs, XBT_NULL, path, &len);
	int rc = v ? 1 : errno == ENOENT ? 0 : xs_errno(-EIO);

	free(v);
	return rc;
}

/* A write into a directory the toolstack just removed creates it again.
 * After the status write: if `online` is gone, take back what we wrote
 * (only if the directory holds nothing but it) and say so. */
static int check_still_there(struct xs_handle *xs, const struct xsvif *x)
{
	char path[XSVIF_DIR_MAX + 32], **names;
	unsigned n;
	bool ours = true;

	snprintf(path, sizeof(path), "%s/online", x->dir);
	if (node_exists(xs, path) != 0)
		return 0;
	names = xs_directory(xs, XBT_NULL, x->dir, &n);
	for (unsigned i = 0; names && i < n; i++)
		if (strcmp(names[i], "hotplug-status") && strcmp(names[i], "hotplug-error"))
			ours = false;
	free(names);
	if (names && ours)
		xs_rm(xs, XBT_NULL, x->dir);
	return err_set(-ENOENT, "vif%u.%u: backend directory removed while being plugged",
		       x->domid, x->devid);
}

int xsvif_report(struct xs_handle *xs, const struct xsvif *x, const char *error,
		 unsigned frontend_mtu)
{
	char fe[64], mtu[16];
	int rc;

	if (!x->dir[0])
		return err_set(-EINVAL, "no backend directory to report to");
	/* Error text first: whoever watches hotplug-status reads the reason
	 * as soon as it sees "error". */
	if (error) {
		rc = write_key(xs, x->dir, "hotplug-error", error);
		if (rc == 0)
			rc = write_key(xs, x->dir, "hotplug-status", "error");
		return rc ? rc : check_still_there(xs, x);
	}
	/* As vif-bridge's set_mtu: the guest learns the MTU its backend got.
	 * The node is the toolstack's (libxl writes it read-only to the guest),
	 * so its value may be compared with ours: usually it is the same and
	 * needs no write. Absent: no frontend directory is created for it. */
	if (frontend_mtu) {
		char *cur;
		unsigned len;

		snprintf(fe, sizeof(fe), "/local/domain/%u/device/vif/%u/mtu", x->domid, x->devid);
		snprintf(mtu, sizeof(mtu), "%u", frontend_mtu);
		cur = xs_read(xs, XBT_NULL, fe, &len);
		if (cur && strcmp(cur, mtu) && !xs_write(xs, XBT_NULL, fe, mtu, (unsigned)strlen(mtu)))
			rc = err_set(xs_errno(-EIO), "xenstore: cannot write %s: %s", fe,
				     strerror(errno));
		else
			rc = 0;
		free(cur);
		if (rc)
			return rc;
	}
	rc = write_key(xs, x->dir, "hotplug-status", "connected");
	return rc ? rc : check_still_there(xs, x);
}
