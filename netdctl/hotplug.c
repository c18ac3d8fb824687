/* hotplug: `netdctl hotplug`, what scripts/vif-{bridge,route,nat} run.
 *
 * Called exactly as libxl calls a vif script (XEN-NOTES §1.1, checklist 1):
 *   <script> online|offline type_if=vif     PV vif vifD.N
 *   <script> add|remove type_if=tap         qemu's emulated NIC vifD.N-emu
 * with env vif=vifD.N, XENBUS_PATH=backend/vif/D/N (relative: xenstored
 * resolves it in the caller's domain), INTERFACE, netdev. Like vif-common.sh,
 * online/offline act only for type_if=vif and add/remove only for tap.
 *
 * online/add: read the backend directory once (vif/xsvif.c), validate every
 * value, send one vif-online request to netd, write hotplug-status =
 * connected (vif only, as vif-bridge's `success`), or hotplug-error and
 * hotplug-status = error and exit 1: libxl shows hotplug-error to the user.
 * A report xenstored refuses for a reason that clears (a conflict every
 * try, its transaction quota) is written again within libxl's time
 * (report()), not failed: exit 1 would cost the guest its vif.
 * offline/remove: one vif-offline request. libxl treats a failed offline as
 * non-fatal; we exit 0 when netd has no such vif (never plugged, or gone
 * already: offline is idempotent) and 1 on a real failure (netd unreachable,
 * the kernel refused), after one line on stderr. No xenstore write: the
 * toolstack is tearing the directory down.
 *
 * Precedence as in Xen's scripts: environment < KEY=VALUE args < xenstore.
 * Policy (which network, rename, rollback) is netd's; this only carries. */
#include "netdctl/hotplug.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "lib/err.h"
#include "lib/nl.h"
#include "lib/nl_link.h"
#include "netd/ctl.h"
#include "vif/xsvif.h"

/* libxl kills a script after 40 s (LIBXL_HOTPLUG_TIMEOUT): give up first,
 * so the reason reaches hotplug-error. */
#define HP_NETD_TIMEOUT_S 30
/* Each xenstore batch (read the keys, report) within this. */
#define HP_XS_TIMEOUT_MS 5000
/* A report xenstored refused for a while (its transaction conflicted
 * every try, or its quota of open transactions) is written again after
 * 50 ms, doubling to 2 s, 12 times (about 15 s), as netd's own watch
 * does: exiting 1 would make libxl fail the attach, the guest losing its
 * vif for a refusal that clears, and nobody else writes hotplug-status
 * for a script's plug. */
#define HP_REPORT_FIRST_MS 50
#define HP_REPORT_MAX_MS 2000
#define HP_REPORT_TRIES 12
/* libxl kills the script 40 s after it forked it (LIBXL_HOTPLUG_TIMEOUT),
 * and then writes its own error, not ours. Everything the script asks of
 * xenstore ends within HP_DEADLINE_MS of its start (xsc_deadline), a try
 * cut short included: one report is up to 8 transactions of 3 batches,
 * each batch up to HP_XS_TIMEOUT_MS, so a bound on when a try begins
 * (32 s, before) let one begun in time against a slow xenstored run to
 * a minute. The 4 s left cover the exit and libxl's own waits. */
#define HP_DEADLINE_MS 36000

struct hp {
	const char *command;
	const char *type_if;
	const char *mode;
	const char *xenbus_path;
	const char *vif;
	const char *interface;
	json_t *defaults; /* vif keys from the command line / environment */
	bool tap;
	uint32_t domid, devid;
	char id[32]; /* "D.N", or "D.N-emu" for the tap */
	uint64_t start_ms; /* CLOCK_MONOTONIC, when the script started */
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static const char *env(const char *name)
{
	const char *v = getenv(name);

	return v && v[0] ? v : NULL;
}

static int usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "netdctl hotplug: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nusage: netdctl hotplug online|offline|add|remove [type_if=vif|tap]"
			" [mode=bridge|route|nat] [KEY=VALUE...]\n"
			"  env: vif, XENBUS_PATH, INTERFACE, netdev (as libxl sets them)\n");
	return 2;
}

/* findCommand/evalVariables of xen-script-common.sh, without the eval. */
static int parse_args(struct hp *h, int argc, char **argv)
{
	struct vif scratch;

	h->type_if = env("type_if");
	h->xenbus_path = env("XENBUS_PATH");
	h->vif = env("vif");
	h->interface = env("INTERFACE");
	h->defaults = json_object();
	if (env("netdev"))
		json_object_set_new(h->defaults, "gatewaydev", json_string(env("netdev")));
	vif_init(&scratch, 0, 0);
	for (int i = 0; i < argc; i++) {
		char *arg = argv[i], *eq = strchr(arg, '=');
		const char *val;

		if (!eq) {
			if (h->command)
				return usage("more than one command ('%s')", arg);
			h->command = arg;
			continue;
		}
		if (eq == arg)
			return usage("bad argument '%s'", arg);
		*eq = '\0';
		val = eq + 1;
		if (!strcmp(arg, "type_if"))
			h->type_if = val;
		else if (!strcmp(arg, "mode"))
			h->mode = val[0] ? val : NULL;
		else if (!strcmp(arg, "XENBUS_PATH"))
			h->xenbus_path = val[0] ? val : NULL;
		else if (!strcmp(arg, "vif"))
			h->vif = val[0] ? val : NULL;
		else if (!strcmp(arg, "INTERFACE"))
			h->interface = val[0] ? val : NULL;
		else if (vif_set(&scratch, !strcmp(arg, "netdev") ? "gatewaydev" : arg, val) == 0)
			json_object_set_new(h->defaults, !strcmp(arg, "netdev") ? "gatewaydev" : arg,
					    json_string(val));
		else
			return usage("%s", err_msg());
	}
	if (!h->command)
		return usage("no command");
	if (strcmp(h->command, "online") && strcmp(h->command, "offline") &&
	    strcmp(h->command, "add") && strcmp(h->command, "remove"))
		return usage("invalid command '%s'", h->command);
	if (!h->type_if)
		h->type_if = "vif";
	if (strcmp(h->type_if, "vif") && strcmp(h->type_if, "tap"))
		return usage("unknown interface type '%s'", h->type_if);
	if (h->mode && strcmp(h->mode, "bridge") && strcmp(h->mode, "route") &&
	    strcmp(h->mode, "nat") && strcmp(h->mode, "ovs"))
		return usage("mode '%s': expected bridge, route, nat or ovs", h->mode);
	h->tap = !strcmp(h->type_if, "tap");
	return 0;
}

/* "vifD.N" (or "vifD.N-emu" for the tap) → D, N. */
static int name_parse(const char *name, bool emu, uint32_t *domid, uint32_t *devid)
{
	char buf[IFNAMSIZ + 8];
	size_t n;

	if (!name || strncmp(name, "vif", 3) || strlen(name) >= sizeof(buf))
		return -EINVAL;
	snprintf(buf, sizeof(buf), "%s", name + 3);
	n = strlen(buf);
	if (emu) {
		if (n < 4 || strcmp(buf + n - 4, "-emu"))
			return -EINVAL;
		buf[n - 4] = '\0';
	}
	return vif_id_parse(buf, domid, devid);
}

/* Which vif: XENBUS_PATH names it; vif (for the tap INTERFACE), when set,
 * must agree, so a confused caller cannot make us plug one vif and report
 * into another's directory. Without XENBUS_PATH the directory is derived
 * from the name, as vif-common.sh does for the tap. */
static int resolve(struct hp *h, char *dir, size_t len)
{
	const char *var = h->tap ? "INTERFACE" : "vif", *name = h->tap ? h->interface : h->vif;
	uint32_t d = 0, n = 0;
	int rc;

	if (name && name_parse(name, h->tap, &d, &n))
		return err_set(-EINVAL, "%s=%s is not %s", var, name,
			       h->tap ? "vifD.N-emu" : "vifD.N");
	if (h->xenbus_path) {
		rc = xsvif_dir_parse(h->xenbus_path, &h->domid, &h->devid);
		if (rc)
			return rc;
		if (name && (d != h->domid || n != h->devid))
			return err_set(-EINVAL, "%s=%s does not match XENBUS_PATH=%s", var, name,
				       h->xenbus_path);
		snprintf(dir, len, "%s", h->xenbus_path);
	} else if (name) {
		h->domid = d;
		h->devid = n;
		snprintf(dir, len, "%s/%u/%u", XSVIF_ROOT, d, n);
	} else {
		return err_set(-EINVAL, "neither XENBUS_PATH nor %s is set", var);
	}
	snprintf(h->id, sizeof(h->id), "%u.%u%s", h->domid, h->devid, h->tap ? "-emu" : "");
	return 0;
}

/* One request, one reply line, on a fresh connection to netd. */
static json_t *netd_call(const char *path, json_t *req)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = HP_NETD_TIMEOUT_S };
	char *text = json_dumps(req, JSON_COMPACT);
	static char buf[1 << 16];
	size_t len = 0;
	json_error_t e;
	json_t *reply = NULL;
	int fd = -1;

	if (!text) {
		err_set(-ENOMEM, "out of memory");
		goto out;
	}
	if (strlen(path) >= sizeof(sa.sun_path)) {
		err_set(-ENAMETOOLONG, "netd socket path too long: %s", path);
		goto out;
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		err_set(-errno, "cannot reach netd at %s: %s", path, strerror(errno));
		goto out;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	len = strlen(text);
	text[len] = '\n'; /* json_dumps leaves room: the NUL becomes the newline */
	/* netd may refuse us and close before reading: its reply still counts. */
	send(fd, text, len + 1, MSG_NOSIGNAL);
	len = 0;
	while (len < sizeof(buf) - 1) {
		ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
				err_set(-ETIMEDOUT, "netd did not answer within %d s", HP_NETD_TIMEOUT_S);
				goto out;
			}
			break;
		}
		len += (size_t)n;
		if (memchr(buf + len - n, '\n', (size_t)n))
			break;
	}
	buf[len] = '\0';
	reply = json_loads(buf, JSON_DISABLE_EOF_CHECK, &e);
	if (!reply && len == 0)
		err_set(-ECONNRESET, "netd closed the connection without a reply");
	else if (!reply)
		err_set(-EPROTO, "bad reply from netd: %s", e.text);
out:
	if (fd >= 0)
		close(fd);
	free(text);
	return reply;
}

/* 0, or -errno with netd's error text in err_msg(). */
static int netd_result(json_t *reply)
{
	if (!reply)
		return err_code() ? err_code() : -EIO;
	if (json_is_true(json_object_get(reply, "ok")))
		return 0;
	return err_set(-EIO, "%s", json_string_value(json_object_get(reply, "error")) ?: "failed");
}

static int do_offline(struct hp *h, const char *sock)
{
	json_t *req = json_pack("{s:i, s:s, s:s}", "version", CTL_VERSION, "cmd", "vif-offline",
				"vif", h->id);
	json_t *reply = netd_call(sock, req);
	char gone[64];
	int rc = netd_result(reply);

	json_decref(req);
	json_decref(reply);
	/* netd's words for "no such vif": nothing to undo. */
	snprintf(gone, sizeof(gone), "vif %s is not online", h->id);
	if (rc && !strncmp(err_msg(), gone, strlen(gone))) {
		fprintf(stderr, "netdctl hotplug: %s: nothing to unplug\n", h->id);
		return 0;
	}
	if (rc) {
		fprintf(stderr, "netdctl hotplug: %s %s: %s\n", h->command, h->id, err_msg());
		return 1;
	}
	return 0;
}

/* The MTU the vif ended up with, for the frontend's mtu node; 0: unknown. */
static unsigned link_mtu(const char *ifname)
{
	struct nl_link l;

	if (!ifname || nl_link_get(ifname, &l) < 0)
		return 0;
	return l.mtu;
}

/* What is left of the script's HP_DEADLINE_MS. */
static unsigned ms_left(const struct hp *h)
{
	uint64_t spent = now_ms() - h->start_ms;

	return spent < HP_DEADLINE_MS ? (unsigned)(HP_DEADLINE_MS - spent) : 0;
}

/* xsvif_report(), written again while xenstored refuses it for a reason
 * that clears (see HP_REPORT_FIRST_MS); each try said on stderr, which
 * libxl logs. Returns the last try's answer. */
static int report(const struct hp *h, struct xsc *xs, const struct xsvif *x, const char *error,
		  unsigned mtu)
{
	unsigned ms = HP_REPORT_FIRST_MS, tries = 0;
	int rc;

	for (;;) {
		rc = xsvif_report(xs, x, error, mtu);
		tries++;
		if (rc != -EAGAIN && rc != -EDQUOT)
			break;
		if (tries > HP_REPORT_TRIES || now_ms() + ms >= h->start_ms + HP_DEADLINE_MS) {
			char why[ERR_MSG_MAX];

			snprintf(why, sizeof(why), "%s", err_msg());
			return err_set(rc, "%s: hotplug-status not written, given up after %u tries",
				       why, tries);
		}
		fprintf(stderr, "netdctl hotplug: %s: %s: hotplug-status written again in %u ms\n",
			h->id, err_msg(), ms);
		usleep(ms * 1000);
		ms = ms * 2 > HP_REPORT_MAX_MS ? HP_REPORT_MAX_MS : ms * 2;
	}
	if (rc == 0 && tries > 1)
		fprintf(stderr, "netdctl hotplug: %s: hotplug-status written (try %u)\n", h->id,
			tries);
	if (rc == -ETIMEDOUT) {
		/* xenstored hung, or too slow for the script's deadline */
		char why[ERR_MSG_MAX];
		uint64_t ms_in = now_ms() - h->start_ms;

		snprintf(why, sizeof(why), "%s", err_msg());
		return err_set(rc, "%s: hotplug-status not written, given up %llu.%03llu s after "
			       "the script's start (libxl gives a script 40 s)", why,
			       (unsigned long long)ms_in / 1000, (unsigned long long)ms_in % 1000);
	}
	return rc;
}

static int do_online(struct hp *h, const char *dir, const char *sock)
{
	struct xsc *xs;
	struct xsvif x;
	json_t *args = NULL, *req = NULL, *reply = NULL, *result;
	const char *mode, *ifname;
	unsigned mtu = 0;
	char msg[ERR_MSG_MAX];
	int rc;

	if (xsc_open(&xs, HP_XS_TIMEOUT_MS)) {
		fprintf(stderr, "netdctl hotplug: %s: %s\n", h->id, err_msg());
		return 1;
	}
	xsc_deadline(xs, ms_left(h));
	rc = xsvif_read(xs, dir, &x);
	if (rc == 0 && !x.exists) {
		/* Nothing to report into: writing hotplug-error would create it. */
		fprintf(stderr, "netdctl hotplug: %s: no backend directory %s\n", h->id, dir);
		xsc_close(xs);
		return 1;
	}
	if (rc == 0)
		rc = xsvif_args(&x, h->defaults, &args, NULL);
	if (rc == 0) {
		req = json_pack("{s:i, s:s, s:s, s:O}", "version", CTL_VERSION, "cmd", "vif-online",
				"vif", h->id, "args", args);
		if (h->mode)
			json_object_set_new(json_object_get(req, "args"), "mode", json_string(h->mode));
		reply = netd_call(sock, req);
		rc = netd_result(reply);
	}
	if (rc) {
		snprintf(msg, sizeof(msg), "%s", err_msg());
		fprintf(stderr, "netdctl hotplug: %s %s: %s\n", h->command, h->id, msg);
		/* vif-common.sh's fatal: the reason where libxl looks for it. */
		if (report(h, xs, &x, msg, 0))
			fprintf(stderr, "netdctl hotplug: %s: %s\n", h->id, err_msg());
		rc = 1;
		goto out;
	}
	result = json_object_get(reply, "result");
	/* held by netd, plugged once its network is served: the script's
	 * log (libxl keeps it) says so; the toolstack goes on */
	if (json_string_value(json_object_get(result, "queued")))
		fprintf(stderr, "netdctl hotplug: %s %s: queued in %s, waiting %s\n", h->command,
			h->id, json_string_value(json_object_get(result, "network")),
			json_string_value(json_object_get(result, "queued")));
	if (!h->tap) {
		mode = json_string_value(json_object_get(result, "mode"));
		ifname = json_string_value(json_object_get(result, "ifname"));
		/* vif-bridge tells the frontend its MTU; vif-route/vif-nat do not. */
		if (mode && !strcmp(mode, "bridge"))
			mtu = link_mtu(ifname);
		if (report(h, xs, &x, NULL, mtu)) {
			fprintf(stderr, "netdctl hotplug: %s: %s\n", h->id, err_msg());
			rc = 1;
		}
	}
out:
	json_decref(args);
	json_decref(req);
	json_decref(reply);
	xsvif_free(&x);
	xsc_close(xs);
	return rc;
}

int netd_hotplug_main(int argc, char **argv, const char *sock)
{
	struct hp h = { .start_ms = now_ms() };
	char dir[XSVIF_DIR_MAX];
	int rc;

	rc = parse_args(&h, argc, argv);
	if (rc)
		goto out;
	/* vif-common.sh: online/offline are for the PV vif, add/remove for the tap. */
	if (h.tap != (!strcmp(h.command, "add") || !strcmp(h.command, "remove")))
		goto out;
	if (resolve(&h, dir, sizeof(dir))) {
		fprintf(stderr, "netdctl hotplug: %s\n", err_msg());
		rc = 1;
		goto out;
	}
	if (!strcmp(h.command, "online") || !strcmp(h.command, "add"))
		rc = do_online(&h, dir, sock);
	else
		rc = do_offline(&h, sock);
out:
	json_decref(h.defaults);
	nl_close();
	return rc;
}
