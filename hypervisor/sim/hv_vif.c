/* hv_vif: `hvsim vif add D.N [SPEC]` / `hvsim vif del D.N` — the xenstore
 * side of xl's network-attach / -detach, and libxl's hotplug script call,
 * without a hypervisor. Keys, permissions, argv and environment follow
 * libxl (libxl_nic.c libxl__set_xenstore_nic, libxl_device.c
 * libxl__device_generic_add / libxl__device_destroy, libxl_linux.c
 * get_hotplug_env), so a hotplug script cannot tell the difference.
 *
 * A script named without a '/' lives in $XEN_SCRIPT_DIR (default
 * /etc/xen/scripts); the default script is vif-bridge, as in libxl.
 * -n skips the script (keys only). -w waits, as libxl does before the
 * script, for the backend's InitWait: a backend (vifback) creates the
 * vif's device there, which the script then plugs. Without -w the script
 * runs at once, for tests whose vif is a veth stand-in no backend drives.
 * `del -w` waits in the same way for the backend to reach Closed: twice,
 * the second time forced, and a vif that never closed is removed without
 * its script's offline step, as libxl's detach does; one whose backend
 * has no state (gone) is removed at once, without the script. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hypervisor/sim/hv_xsc.h"
#include "hypervisor/sim/hvsim.h"
#include "lib/err.h"
#include "vif/vif.h"

#define HOTPLUG_TIMEOUT_S	40	/* LIBXL_HOTPLUG_TIMEOUT */
#define DEFAULT_MTU		1500
#define INIT_TIMEOUT_S		10	/* LIBXL_INIT_TIMEOUT */
#define DESTROY_TIMEOUT_S	10	/* LIBXL_DESTROY_TIMEOUT */
#define XB_INITWAIT		2
#define XB_CONNECTED		4
#define XB_CLOSED		6

struct vif_paths {
	char be[96];	/* /local/domain/0/backend/vif/D/N */
	char fe[96];	/* /local/domain/D/device/vif/N */
	char lx[96];	/* /libxl/D/device/vif/N */
	char rel[64];	/* backend/vif/D/N: XENBUS_PATH */
};

static void vif_paths(struct vif_paths *p, const struct vif *v)
{
	snprintf(p->be, sizeof(p->be), "/local/domain/0/backend/vif/%u/%u",
		 v->domid, v->devid);
	snprintf(p->fe, sizeof(p->fe), "/local/domain/%u/device/vif/%u",
		 v->domid, v->devid);
	snprintf(p->lx, sizeof(p->lx), "/libxl/%u/device/vif/%u", v->domid,
		 v->devid);
	snprintf(p->rel, sizeof(p->rel), "backend/vif/%u/%u", v->domid,
		 v->devid);
}

static void script_path(const struct vif *v, char *buf, size_t len)
{
	const char *dir = getenv("XEN_SCRIPT_DIR");
	const char *s = v->script[0] ? v->script : "vif-bridge";

	if (strchr(s, '/'))
		snprintf(buf, len, "%s", s);
	else
		snprintf(buf, len, "%s/%s", dir && *dir ? dir : "/etc/xen/scripts",
			 s);
}

static void ip_list(const struct vif *v, char *buf, size_t len)
{
	size_t used = 0;
	unsigned i;

	buf[0] = '\0';
	for (i = 0; i < v->n_ips && used + INET6_ADDRSTRLEN + 1 < len; i++) {
		if (used)
			buf[used++] = ' ';
		inet_ntop(v->ips[i].family, &v->ips[i].addr, buf + used,
			  (socklen_t)(len - used));
		used += strlen(buf + used);
	}
}

/* libxl picks a random MAC in Xen's OUI; we derive it from D.N so runs
 * are reproducible. */
static void default_mac(const struct vif *v, char *buf, size_t len)
{
	snprintf(buf, len, "00:16:3e:%02x:%02x:%02x", (v->domid >> 8) & 0x7f,
		 v->domid & 0xff, v->devid & 0xff);
}

static bool write_keys(struct xs_handle *h, xs_transaction_t t,
		       const struct vif *v, const struct vif_paths *p,
		       const char *script)
{
	const struct xs_permissions fe_perms[2] = {
		{ .id = v->domid, .perms = XS_PERM_NONE },
		{ .id = 0, .perms = XS_PERM_READ },
	};
	const struct xs_permissions be_perms[2] = {
		{ .id = 0, .perms = XS_PERM_NONE },
		{ .id = v->domid, .perms = XS_PERM_READ },
	};
	const struct xs_permissions dom0_only[1] = {
		{ .id = 0, .perms = XS_PERM_NONE },
	};
	char mac[VIF_MAC_STRLEN], rate[VIF_RATE_STRLEN], ips[VIF_MAX_IPS * 48];
	char mtu_path[128];
	unsigned mtu = v->mtu ? v->mtu : DEFAULT_MTU;
	bool ok;

	if (v->has_mac)
		vif_mac_format(v->mac, mac, sizeof(mac));
	else
		default_mac(v, mac, sizeof(mac));
	/* Start clean, as libxl__device_generic_add does. */
	xs_rm(h, t, p->fe);
	xs_rm(h, t, p->be);
	ok = hv_xsc_mkdir_perms(h, t, p->fe, fe_perms, 2) &&
	     hv_xsc_mkdir_perms(h, t, p->be, be_perms, 2) &&
	     hv_xsc_mkdir_perms(h, t, p->lx, dom0_only, 1);

	ok = ok && hv_xsc_writef(h, t, p->be, "frontend", "%s", p->fe) &&
	     hv_xsc_writef(h, t, p->be, "frontend-id", "%u", v->domid) &&
	     hv_xsc_writef(h, t, p->be, "online", "1") &&
	     hv_xsc_writef(h, t, p->be, "state", "1") &&
	     hv_xsc_writef(h, t, p->be, "script", "%s", script) &&
	     hv_xsc_writef(h, t, p->be, "mac", "%s", mac) &&
	     hv_xsc_writef(h, t, p->be, "bridge", "%s%s",
			   v->bridge[0] ? v->bridge : "xenbr0", v->bridge_vlan) &&
	     hv_xsc_writef(h, t, p->be, "mtu", "%u", mtu) &&
	     hv_xsc_writef(h, t, p->be, "handle", "%u", v->devid) &&
	     hv_xsc_writef(h, t, p->be, "type", "%s",
			   v->type_ioemu ? "vif_ioemu" : "vif") &&
	     /* Empty: the backend waits for the script's verdict. */
	     hv_xsc_writef(h, t, p->be, "hotplug-status", "%s", "");
	if (ok && v->n_ips) {
		ip_list(v, ips, sizeof(ips));
		ok = hv_xsc_writef(h, t, p->be, "ip", "%s", ips);
	}
	if (ok && v->gatewaydev[0])
		ok = hv_xsc_writef(h, t, p->be, "gatewaydev", "%s", v->gatewaydev);
	if (ok && v->rate.bytes_per_interval &&
	    !vif_rate_format_xenstore(&v->rate, rate, sizeof(rate)))
		ok = hv_xsc_writef(h, t, p->be, "rate", "%s", rate);
	if (ok && v->vlan[0])
		ok = hv_xsc_writef(h, t, p->be, "vlan", "%s", v->vlan);
	/* What a toolstack that knows the OVN logical port would write. */
	if (ok && v->iface_id[0])
		ok = hv_xsc_writef(h, t, p->be, "iface-id", "%s", v->iface_id);
	snprintf(mtu_path, sizeof(mtu_path), "vif%u.%u", v->domid, v->devid);
	if (ok && strcmp(v->ifname, mtu_path)) /* a vifname= was given */
		ok = hv_xsc_writef(h, t, p->be, "vifname", "%s", v->ifname);

	ok = ok && hv_xsc_writef(h, t, p->fe, "backend", "%s", p->be) &&
	     hv_xsc_writef(h, t, p->fe, "backend-id", "0") &&
	     hv_xsc_writef(h, t, p->fe, "state", "1") &&
	     hv_xsc_writef(h, t, p->fe, "handle", "%u", v->devid) &&
	     hv_xsc_writef(h, t, p->fe, "mac", "%s", mac) &&
	     hv_xsc_writef(h, t, p->fe, "trusted", "%u", v->trusted ? 1 : 0) &&
	     hv_xsc_writef(h, t, p->fe, "mtu", "%u", mtu);
	/* mtu is read-only to the guest (libxl's ro_front). */
	ok = ok && snprintf(mtu_path, sizeof(mtu_path), "%s/mtu", p->fe) < (int)sizeof(mtu_path) &&
	     xs_set_permissions(h, t, mtu_path, (struct xs_permissions *)be_perms, 2);

	ok = ok && hv_xsc_writef(h, t, p->lx, "frontend", "%s", p->fe) &&
	     hv_xsc_writef(h, t, p->lx, "backend", "%s", p->be);
	return ok;
}

/* body(h, t, arg) in one transaction t, run again while the commit
 * conflicts (EAGAIN), as libxl does. body returns 0 to commit; anything
 * else (-errno: it failed; > 0: nothing to write) aborts t and is
 * returned. 0 once committed, or -errno. */
static int in_transaction(struct xs_handle *h,
			  int (*body)(struct xs_handle *h, xs_transaction_t t, void *arg),
			  void *arg)
{
	for (;;) {
		xs_transaction_t t = xs_transaction_start(h);
		int rc;

		if (t == XBT_NULL)
			return -errno;
		rc = body(h, t, arg);
		if (rc) {
			xs_transaction_end(h, t, true);
			return rc;
		}
		if (xs_transaction_end(h, t, false))
			return 0;
		if (errno != EAGAIN)
			return -errno;
	}
}

/* What a transaction's body works on. */
struct vif_tx {
	const struct vif *v;
	const struct vif_paths *p;
	const char *script; /* add: the hotplug script */
	bool force;	    /* remove: the frontend's directory too */
};

static int add_body(struct xs_handle *h, xs_transaction_t t, void *arg)
{
	const struct vif_tx *a = arg;

	if (write_keys(h, t, a->v, a->p, a->script))
		return 0;
	return errno ? -errno : -EIO; /* never 0: that would commit the half written */
}

/* Runs the whole write set in one transaction, retrying on EAGAIN. */
static int commit(struct xs_handle *h, const struct vif *v,
		  const struct vif_paths *p, const char *script)
{
	struct vif_tx a = { .v = v, .p = p, .script = script };

	return in_transaction(h, add_body, &a);
}

/* xl's calling convention: argv `<script> online|offline type_if=vif`,
 * the environment of get_hotplug_env() on top of ours. Returns the exit
 * status (0..255), or -errno if it could not run or timed out. */
static int run_script(const char *script, const char *action,
		      const struct vif *v, const struct vif_paths *p,
		      const char *gatewaydev)
{
	char vifname[32];
	struct timespec tick = { 0, 20 * 1000 * 1000 };
	unsigned waited_ms = 0;
	int status;
	pid_t pid, r;

	snprintf(vifname, sizeof(vifname), "vif%u.%u", v->domid, v->devid);
	if (access(script, X_OK))
		return -errno;
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		char *argv[] = { (char *)script, (char *)action,
				 (char *)"type_if=vif", NULL };

		setenv("script", script, 1);
		setenv("XENBUS_TYPE", "vif", 1);
		setenv("XENBUS_PATH", p->rel, 1);
		setenv("XENBUS_BASE_PATH", "backend", 1);
		setenv("netdev", gatewaydev, 1);
		setenv("vif", vifname, 1);
		execv(script, argv);
		fprintf(stderr, "hvsim vif: exec %s: %s\n", script,
			strerror(errno));
		_exit(127);
	}
	for (;;) {
		r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			break;
		if (r < 0 && errno != EINTR)
			return -errno;
		if (waited_ms >= HOTPLUG_TIMEOUT_S * 1000) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return -ETIMEDOUT;
		}
		nanosleep(&tick, NULL);
		waited_ms += 20;
	}
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + WTERMSIG(status);
}

static void report(struct xs_handle *h, const struct vif *v,
		   const struct vif_paths *p, const char *script,
		   const char *action, int rc)
{
	char path[128], *status, *error = NULL;
	unsigned len;

	snprintf(path, sizeof(path), "%s/hotplug-status", p->be);
	status = xs_read(h, XBT_NULL, path, &len);
	snprintf(path, sizeof(path), "%s/hotplug-error", p->be);
	if (rc)
		error = xs_read(h, XBT_NULL, path, &len);
	if (rc < 0)
		printf("vif%u.%u: %s %s: %s", v->domid, v->devid, script,
		       action, strerror(-rc));
	else
		printf("vif%u.%u: %s %s: exit %d", v->domid, v->devid, script,
		       action, rc);
	printf(", hotplug-status \"%s\"", status ? status : "");
	if (error)
		printf(", hotplug-error \"%s\"", error);
	printf("\n");
	free(status);
	free(error);
}

/* The backend's state, or -1 if absent or not a number. */
static int backend_state(struct xs_handle *h, const struct vif_paths *p)
{
	char path[128], *val, *end;
	unsigned len;
	long st;

	snprintf(path, sizeof(path), "%s/state", p->be);
	val = xs_read(h, XBT_NULL, path, &len);
	if (!val)
		return -1;
	st = strtol(val, &end, 10);
	st = end == val || *end || st < 0 || st > 8 ? -1 : st;
	free(val);
	return (int)st;
}

/* Waits until the backend's state is within [lo, hi], as libxl's
 * libxl__wait_for_backend does: a watch on the state, each event a fresh
 * read, bounded by timeout_s whatever the backend writes. *last is the
 * state seen last (-1: none). */
static int wait_state(struct xs_handle *h, const struct vif_paths *p, int lo, int hi,
		      int timeout_s, int *last)
{
	char path[128];
	struct timespec t0, now;
	int rc = -ETIMEDOUT;

	snprintf(path, sizeof(path), "%s/state", p->be);
	if (!xs_watch(h, path, "hvsim-vif"))
		return -errno;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct pollfd pfd = { .fd = xs_fileno(h), .events = POLLIN };
		long left_ms;
		unsigned n;
		char **ev;

		*last = backend_state(h, p);
		if (*last >= lo && *last <= hi) {
			rc = 0;
			break;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		left_ms = timeout_s * 1000L - (now.tv_sec - t0.tv_sec) * 1000L -
			  (now.tv_nsec - t0.tv_nsec) / 1000000L;
		if (left_ms <= 0)
			break;
		if (poll(&pfd, 1, (int)left_ms) < 0 && errno != EINTR) {
			rc = -errno;
			break;
		}
		if (pfd.revents) {
			ev = xs_read_watch(h, &n);
			if (!ev) {
				rc = -errno;
				break;
			}
			free(ev);
		}
	}
	xs_unwatch(h, path, "hvsim-vif");
	return rc;
}

static int rm_body(struct xs_handle *h, xs_transaction_t t, void *arg)
{
	const struct vif_paths *p = arg;

	xs_rm(h, t, p->fe);
	xs_rm(h, t, p->be);
	xs_rm(h, t, p->lx);
	return 0;
}

/* A failed add leaves nothing behind, as libxl removes a device it could
 * not add. */
static void remove_keys(struct xs_handle *h, const struct vif_paths *p)
{
	in_transaction(h, rm_body, (void *)p);
}

static int vif_add(struct xs_handle *h, struct vif *v, bool no_script, bool wait_backend)
{
	struct vif_paths p;
	char script[512];
	int rc;

	vif_paths(&p, v);
	script_path(v, script, sizeof(script));
	rc = commit(h, v, &p, script);
	if (rc) {
		fprintf(stderr, "hvsim vif add %u.%u: writing xenstore: %s\n",
			v->domid, v->devid, strerror(-rc));
		return 1;
	}
	if (wait_backend) {
		int st = -1;

		/* libxl__wait_device_connection: InitWait within LIBXL_INIT_TIMEOUT,
		 * or the add fails. Later states up to Connected count too (a
		 * backend already past InitWait). */
		rc = wait_state(h, &p, XB_INITWAIT, XB_CONNECTED, INIT_TIMEOUT_S, &st);
		if (rc) {
			if (rc == -ETIMEDOUT)
				fprintf(stderr, "hvsim vif add %u.%u: the backend did not reach "
					"InitWait (2) in %d s (state %d): is a backend running?\n",
					v->domid, v->devid, INIT_TIMEOUT_S, st);
			else
				fprintf(stderr, "hvsim vif add %u.%u: waiting for the backend: %s\n",
					v->domid, v->devid, strerror(-rc));
			remove_keys(h, &p);
			return 1;
		}
	}
	if (no_script)
		return 0;
	rc = run_script(script, "online", v, &p, v->gatewaydev);
	report(h, v, &p, script, "online", rc);
	return rc == 0 ? 0 : 1;
}

/* Removes path, then parents left empty, up to but not including stop
 * (libxl__xs_path_cleanup(), bounded so the guest keeps its device/). */
static void path_cleanup(struct xs_handle *h, xs_transaction_t t,
			 const char *path, const char *stop)
{
	size_t stop_len = strlen(stop);
	char buf[128];
	char **kids;
	unsigned n;

	snprintf(buf, sizeof(buf), "%s", path);
	xs_rm(h, t, buf);
	for (;;) {
		char *slash = strrchr(buf, '/');

		if (!slash || (size_t)(slash - buf) <= stop_len)
			return;
		*slash = '\0';
		kids = xs_directory(h, t, buf, &n);
		free(kids);
		if (!kids || n)
			return;
		xs_rm(h, t, buf);
	}
}

static int remove_body(struct xs_handle *h, xs_transaction_t t, void *arg)
{
	const struct vif_tx *a = arg;
	char path[160], *val;
	unsigned len;
	bool failed;
	int err;

	if (a->force) {
		snprintf(path, sizeof(path), "/local/domain/%u/device", a->v->domid);
		path_cleanup(h, t, a->p->fe, path);
	}
	snprintf(path, sizeof(path), "%s/state", a->p->be);
	val = xs_read(h, t, path, &len);
	if (!val && errno == ENOENT)
		return 1; /* libxl aborts, then removes every key of the device */
	failed = !hv_xsc_writef(h, t, a->p->be, "online", "0") ||
		 (!(val && !strcmp(val, "6")) && !hv_xsc_writef(h, t, a->p->be, "state", "5"));
	err = errno;
	free(val);
	return failed ? (err ? -err : -EIO) : 0;
}

/* libxl__initiate_device_generic_remove: online=0 and Closing (5), unless
 * Closed already, in one transaction; a forced remove also takes the
 * frontend's directory away in it. 0; 1 when the backend has no state
 * (gone: libxl writes nothing, cleans up and succeeds); or -errno. */
static int remove_begin(struct xs_handle *h, const struct vif *v, const struct vif_paths *p,
			bool force)
{
	struct vif_tx a = { .v = v, .p = p, .force = force };

	return in_transaction(h, remove_body, &a);
}

/* libxl's wait for Closed (device_backend_callback): a first timeout
 * forces the remove and waits once more; a second one (or any other
 * failure) fails the detach, and the hotplug script's offline step is
 * not run. 0 once the backend closed, 1 when the detach failed, 2 when
 * the forced remove found the backend gone (success, no script). */
static int remove_wait(struct xs_handle *h, const struct vif *v, const struct vif_paths *p)
{
	int err, st = -1;

	for (int force = 0; force < 2; force++) {
		if (force && (err = remove_begin(h, v, p, true)) != 0) {
			if (err == 1)
				return 2;
			break;
		}
		err = wait_state(h, p, XB_CLOSED, XB_CLOSED, DESTROY_TIMEOUT_S, &st);
		if (err != -ETIMEDOUT)
			break;
		fprintf(stderr, "hvsim vif del %u.%u: the backend did not reach Closed (6) in %d s "
			"(state %d)%s\n", v->domid, v->devid, DESTROY_TIMEOUT_S, st,
			force ? "; removing the vif without its script" : "; forcing the removal");
	}
	if (err && err != -ETIMEDOUT)
		fprintf(stderr, "hvsim vif del %u.%u: waiting for the backend: %s\n", v->domid,
			v->devid, strerror(-err));
	return err ? 1 : 0;
}

/* What libxl__device_destroy leaves of the device: nothing, nor the
 * directories it emptied. */
static int cleanup_body(struct xs_handle *h, xs_transaction_t t, void *arg)
{
	const struct vif_tx *a = arg;
	char fe_top[64];

	snprintf(fe_top, sizeof(fe_top), "/local/domain/%u/device", a->v->domid);
	path_cleanup(h, t, a->p->fe, fe_top);
	path_cleanup(h, t, a->p->be, "/local/domain/0/backend");
	path_cleanup(h, t, a->p->lx, "/libxl");
	return 0;
}

static int vif_del(struct xs_handle *h, struct vif *v, bool no_script, bool wait_backend)
{
	struct vif_paths p;
	char script[512], path[160], *val, *gw;
	unsigned len;
	int rc = 0, err;

	vif_paths(&p, v);
	snprintf(path, sizeof(path), "%s/script", p.be);
	val = xs_read(h, XBT_NULL, path, &len);
	if (!val) {
		fprintf(stderr, "hvsim vif del %u.%u: no such vif (%s): %s\n",
			v->domid, v->devid, p.be, strerror(errno));
		return 1;
	}
	snprintf(script, sizeof(script), "%s", val);
	free(val);
	snprintf(path, sizeof(path), "%s/gatewaydev", p.be);
	gw = xs_read(h, XBT_NULL, path, &len);

	err = remove_begin(h, v, &p, false);
	if (err < 0) {
		fprintf(stderr, "hvsim vif del %u.%u: %s\n", v->domid, v->devid, strerror(-err));
		free(gw);
		return 1;
	}
	if (err == 1)
		rc = 2;
	else if (wait_backend)
		rc = remove_wait(h, v, &p);
	if (rc == 2) {
		printf("hvsim vif del %u.%u: backend %s already removed, cleanup only\n",
		       v->domid, v->devid, p.be);
		rc = 0;
	} else if (!no_script && !rc) {
		int src;

		/* A failing offline script is reported, not fatal (libxl). */
		src = run_script(script, "offline", v, &p, gw ? gw : "");
		report(h, v, &p, script, "offline", src);
	}
	free(gw);
	in_transaction(h, cleanup_body, &(struct vif_tx){ .v = v, .p = &p });
	return rc;
}

int hv_cmd_vif(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "no-script", no_argument, NULL, 'n' },
		{ "wait-backend", no_argument, NULL, 'w' },
		{ NULL, 0, NULL, 0 },
	};
	bool no_script = false, wait_backend = false, add;
	struct xs_handle *h;
	uint32_t domid, devid;
	struct vif v;
	int opt, rc;

	if (argc < 2 || (strcmp(argv[1], "add") && strcmp(argv[1], "del")))
		goto usage;
	add = argv[1][0] == 'a';
	argc--;
	argv++;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "nw", longopts, NULL)) != -1) {
		if (opt == 'n')
			no_script = true;
		else if (opt == 'w')
			wait_backend = true;
		else
			goto usage;
	}
	if (optind >= argc || argc - optind > (add ? 2 : 1))
		goto usage;
	if (vif_id_parse(argv[optind], &domid, &devid)) {
		fprintf(stderr, "hvsim vif: %s\n", err_msg());
		return 2;
	}
	vif_init(&v, domid, devid);
	if (add && optind + 1 < argc && vif_parse_spec(&v, argv[optind + 1])) {
		fprintf(stderr, "hvsim vif add: %s\n", err_msg());
		return 2;
	}
	if (v.backend[0] && strcmp(v.backend, "0")) {
		fprintf(stderr, "hvsim vif add: backend `%s': only dom0 backends are simulated\n",
			v.backend);
		return 2;
	}
	h = hv_xsc_open("hvsim vif");
	if (!h)
		return 1;
	rc = add ? vif_add(h, &v, no_script, wait_backend) : vif_del(h, &v, no_script, wait_backend);
	xs_close(h);
	return rc;
usage:
	fprintf(stderr, "usage: hvsim vif add [-n] [-w] D.N [SPEC] | hvsim vif del [-n] [-w] D.N\n");
	return 2;
}
