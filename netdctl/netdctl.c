/* netdctl: the command line client of netd's control socket.
 * Exit 0 ok, 1 the operation failed (one line on stderr), 2 usage. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "netd/config.h"
#include "netd/ctl.h"
#include "netdctl/hotplug.h"
#include "netdctl/metrics.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: netdctl [--socket PATH] [--json] COMMAND\n"
		"commands:\n"
		"  status                         networks, their state and vifs\n"
		"  up [NET] | down [NET]          apply / restore one or all networks\n"
		"  reload                         re-read the config file\n"
		"  vif online D.N [key=value...]  plug vifD.N (keys: bridge mtu ip mac vifname ...)\n"
		"  vif offline D.N                unplug it\n"
		"  vif list\n"
		"  forward add|del PROTO:PORT:IP:PORT [NET]   nat port forwards\n"
		"  forward list [NET]\n"
		"  metrics                        Prometheus text exposition of status and counters\n"
		"  hotplug online|offline|add|remove [type_if=vif|tap] [KEY=VALUE...]\n"
		"                                 Xen vif hotplug (what scripts/vif-* run)\n"
		"socket: --socket, else $NETD_SOCKET, else %s\n", NETD_DEFAULT_SOCKET);
}

static int usage_error(const char *msg)
{
	fprintf(stderr, "netdctl: %s\n", msg);
	usage(stderr);
	return 2;
}

/* Build the request from argv; NULL on a usage error (message printed). */
static json_t *build_request(int argc, char **argv)
{
	const char *cmd = argv[0];
	json_t *req = json_pack("{s:i}", "version", CTL_VERSION);

	if (!strcmp(cmd, "status") || !strcmp(cmd, "reload")) {
		if (argc != 1)
			goto bad;
		json_object_set_new(req, "cmd", json_string(cmd));
	} else if (!strcmp(cmd, "up") || !strcmp(cmd, "down")) {
		if (argc > 2)
			goto bad;
		json_object_set_new(req, "cmd", json_string(cmd));
		if (argc == 2)
			json_object_set_new(req, "net", json_string(argv[1]));
	} else if (!strcmp(cmd, "vif") && argc >= 2 && !strcmp(argv[1], "list") && argc == 2) {
		json_object_set_new(req, "cmd", json_string("vif-list"));
	} else if (!strcmp(cmd, "vif") && argc >= 3 && !strcmp(argv[1], "offline") && argc == 3) {
		json_object_set_new(req, "cmd", json_string("vif-offline"));
		json_object_set_new(req, "vif", json_string(argv[2]));
	} else if (!strcmp(cmd, "vif") && argc >= 3 && !strcmp(argv[1], "online")) {
		json_t *args = json_object();

		json_object_set_new(req, "cmd", json_string("vif-online"));
		json_object_set_new(req, "vif", json_string(argv[2]));
		for (int i = 3; i < argc; i++) {
			char *eq = strchr(argv[i], '=');

			if (!eq || eq == argv[i]) {
				fprintf(stderr, "netdctl: expected key=value, got '%s'\n", argv[i]);
				json_decref(args);
				json_decref(req);
				return NULL;
			}
			*eq = '\0';
			json_object_set_new(args, argv[i], json_string(eq + 1));
		}
		json_object_set_new(req, "args", args);
	} else if (!strcmp(cmd, "forward") && argc >= 2 && !strcmp(argv[1], "list") && argc <= 3) {
		json_object_set_new(req, "cmd", json_string("forward-list"));
		if (argc == 3)
			json_object_set_new(req, "net", json_string(argv[2]));
	} else if (!strcmp(cmd, "forward") && argc >= 3 && argc <= 4 &&
		   (!strcmp(argv[1], "add") || !strcmp(argv[1], "del"))) {
		json_object_set_new(req, "cmd", json_string(argv[1][0] == 'a' ? "forward-add" : "forward-del"));
		json_object_set_new(req, "forward", json_string(argv[2]));
		if (argc == 4)
			json_object_set_new(req, "net", json_string(argv[3]));
	} else {
		goto bad;
	}
	return req;
bad:
	json_decref(req);
	usage_error("bad command or arguments");
	return NULL;
}

static json_t *exchange(const char *path, json_t *req)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char *text = json_dumps(req, JSON_COMPACT), *buf = NULL;
	size_t len = 0, cap = 0;
	json_error_t e;
	int fd;

	if (!text || strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "netdctl: bad socket path %s\n", path);
		free(text);
		return NULL;
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "netdctl: cannot reach netd at %s: %s\n", path, strerror(errno));
		free(text);
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	/* netd may refuse us and close before reading: a failed send is not
	 * the end, its reply (e.g. "permission denied") may be waiting. */
	len = strlen(text);
	text[len] = '\n';
	send(fd, text, len + 1, MSG_NOSIGNAL);
	len = 0;
	free(text);
	/* a reply of any size: a big host's status passes 1 MiB (its vifs,
	 * its dpswitch's ports at ~500 bytes each) */
	for (;;) {
		ssize_t n;

		if (cap - len < 65536) {
			char *nb = realloc(buf, cap ? 2 * cap : 1 << 20);

			if (!nb) {
				fprintf(stderr, "netdctl: out of memory for netd's reply\n");
				free(buf);
				close(fd);
				return NULL;
			}
			buf = nb;
			cap = cap ? 2 * cap : 1 << 20;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n <= 0)
			break;
		len += (size_t)n;
		if (memchr(buf + len - n, '\n', (size_t)n))
			break;
	}
	close(fd);
	buf[len] = '\0';
	req = json_loads(buf, JSON_DISABLE_EOF_CHECK, &e);
	free(buf);
	if (!req && len == 0)
		fprintf(stderr, "netdctl: netd closed the connection without a reply\n");
	else if (!req)
		fprintf(stderr, "netdctl: bad reply from netd: %s\n", e.text);
	return req;
}

/* One vif's backend counters (vif/vifstats.h), a line under its network. */
static void print_backend(const char *ifname, json_t *c)
{
	static const char *const keys[] = { "rx_packets", "rx_bytes", "tx_packets", "tx_bytes" };
	static const char *const drops[] = { "rx_drops", "tx_drops" };
	json_t *v;
	const char *k;

	printf("  %-13s %s", ifname, json_string_value(json_object_get(c, "backend")) ?: "backend");
	if (json_is_string(json_object_get(c, "error"))) {
		printf(" counters unreadable: %s\n", json_string_value(json_object_get(c, "error")));
		return;
	}
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		printf(" %s=%lld", keys[i], (long long)json_integer_value(json_object_get(c, keys[i])));
	for (size_t i = 0; i < 2; i++) {
		bool any = false;

		printf(" %s=", drops[i]);
		json_object_foreach(json_object_get(c, drops[i]), k, v) {
			if (!json_integer_value(v))
				continue;
			printf("%s%s:%lld", any ? "," : "", k, (long long)json_integer_value(v));
			any = true;
		}
		if (!any)
			printf("0");
	}
	printf(" tx_ring_full=%lld tx_stalls=%lld spurious_events=%lld holds=%lld\n",
	       (long long)json_integer_value(json_object_get(c, "tx_ring_full")),
	       (long long)json_integer_value(json_object_get(c, "tx_stalls")),
	       (long long)json_integer_value(json_object_get(c, "spurious_events")),
	       (long long)json_integer_value(json_object_get(c, "holds")));
}

static void print_status(json_t *result)
{
	json_t *nets = json_object_get(result, "networks"), *n;
	size_t i;

	/* STATE as wide as its widest word, "waiting" */
	printf("%-15s %-7s %-7s %s\n", "NETWORK", "MODE", "STATE", "DETAILS");
	json_array_foreach(nets, i, n) {
		json_t *det = json_object_get(n, "details"), *v, *vifs = json_object_get(n, "vifs");
		json_t *backend = json_object_get(n, "backend");
		const char *k, *error = json_string_value(json_object_get(n, "error"));
		const char *waiting = json_string_value(json_object_get(n, "waiting"));
		size_t j;

		printf("%-15s %-7s %-7s", json_string_value(json_object_get(n, "name")),
		       json_string_value(json_object_get(n, "mode")),
		       json_string_value(json_object_get(n, "state")));
		json_object_foreach(det, k, v) {
			if (json_is_string(v)) {
				printf(" %s=%s", k, json_string_value(v));
			} else if (json_is_array(v) && json_array_size(v)) {
				printf(" %s=", k);
				json_array_foreach(v, j, n)
					printf("%s%s", j ? "," : "", json_string_value(n) ?: "?");
			} else if (json_is_integer(v)) {
				printf(" %s=%lld", k, (long long)json_integer_value(v));
			}
		}
		if (json_array_size(vifs)) {
			printf(" vifs=");
			json_array_foreach(vifs, j, v)
				printf("%s%s", j ? "," : "", json_string_value(v));
		}
		printf("\n");
		if (error) /* state failed: why */
			printf("  error: %s\n", error);
		/* a first up that failed: when netd tries again, or that it
		 * waits for the operator */
		if (json_is_true(json_object_get(n, "held")))
			printf("  held: the host is part-changed; check it, then `netdctl up %s`\n",
			       json_string_value(json_object_get(n, "name")));
		else if (json_is_integer(json_object_get(n, "retry_in_s")))
			printf("  tried again in %lld s (or at `netdctl up %s`)\n",
			       (long long)json_integer_value(json_object_get(n, "retry_in_s")),
			       json_string_value(json_object_get(n, "name")));
		if (waiting) /* state waiting: for what */
			printf("  waiting %s\n", waiting);
		json_object_foreach(backend, k, v)
			print_backend(k, v);
	}
}

static void print_vifs(json_t *result)
{
	json_t *v;
	size_t i;

	printf("%-8s %-15s %s\n", "VIF", "IFNAME", "NETWORK");
	json_array_foreach(json_object_get(result, "vifs"), i, v)
		printf("%-8s %-15s %s\n", json_string_value(json_object_get(v, "vif")),
		       json_string_value(json_object_get(v, "ifname")),
		       json_string_value(json_object_get(v, "network")));
}

/* The whole reply's result for one request without arguments; NULL (the
 * error printed) when netd is unreachable or refuses. */
static json_t *ask(const char *path, const char *cmd)
{
	json_t *req = json_pack("{s:i,s:s}", "version", CTL_VERSION, "cmd", cmd);
	json_t *reply = req ? exchange(path, req) : NULL, *result = NULL;

	json_decref(req);
	if (reply && json_is_true(json_object_get(reply, "ok")))
		result = json_incref(json_object_get(reply, "result"));
	else if (reply)
		fprintf(stderr, "netdctl: %s\n",
			json_string_value(json_object_get(reply, "error")) ?: "failed");
	json_decref(reply);
	return result;
}

static int metrics(const char *path)
{
	json_t *status = ask(path, "status"), *vifs = status ? ask(path, "vif-list") : NULL;

	if (vifs)
		netdctl_metrics_print(stdout, status, vifs);
	json_decref(status);
	json_decref(vifs);
	return vifs ? 0 : 1;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = getenv("NETD_SOCKET"), *cmd;
	json_t *req, *reply, *result;
	bool json = false;
	int c, rc;

	while ((c = getopt_long(argc, argv, "+s:jh", opts, NULL)) != -1) {
		switch (c) {
		case 's': path = optarg; break;
		case 'j': json = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind >= argc)
		return usage_error("no command");
	if (!path || !path[0])
		path = NETD_DEFAULT_SOCKET;
	if (!strcmp(argv[optind], "hotplug"))
		return netd_hotplug_main(argc - optind - 1, argv + optind + 1, path);
	if (!strcmp(argv[optind], "metrics"))
		return argc - optind == 1 ? metrics(path) : usage_error("bad command or arguments");
	req = build_request(argc - optind, argv + optind);
	if (!req)
		return 2;
	cmd = json_string_value(json_object_get(req, "cmd"));
	reply = exchange(path, req);
	if (!reply) {
		json_decref(req);
		return 1;
	}
	result = json_object_get(reply, "result");
	rc = json_is_true(json_object_get(reply, "ok")) ? 0 : 1;
	if (json) {
		char *s = json_dumps(reply, JSON_INDENT(2));

		puts(s ? s : "{}");
		free(s);
	} else if (rc) {
		fprintf(stderr, "netdctl: %s\n",
			json_string_value(json_object_get(reply, "error")) ?: "failed");
	} else if (!strcmp(cmd, "status")) {
		print_status(result);
	} else if (!strcmp(cmd, "vif-list")) {
		print_vifs(result);
	} else if (!strcmp(cmd, "vif-online")) {
		const char *queued = json_string_value(json_object_get(result, "queued"));

		if (queued) /* the network waits (dpdk: for dpswitch) */
			printf("%s queued in %s, waiting %s\n",
			       json_string_value(json_object_get(result, "ifname")),
			       json_string_value(json_object_get(result, "network")), queued);
		else
			printf("%s plugged into %s\n",
			       json_string_value(json_object_get(result, "ifname")),
			       json_string_value(json_object_get(result, "network")));
	} else if (result) {
		char *s = json_dumps(result, JSON_INDENT(2));

		puts(s ? s : "{}");
		free(s);
	}
	json_decref(req);
	json_decref(reply);
	return rc;
}
