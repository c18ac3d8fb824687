/* hvsim: entry point and subcommand table of the simulated hypervisor
 * tool (`hvsim xenstored`, `hvsim domain add 5`, ...). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "hypervisor/sim/hvsim.h"
#include "hypervisor/sim/xenstored.h"

int hv_cmd_xenstored(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "verbose", no_argument, NULL, 'v' },
		{ "socket", required_argument, NULL, 's' },
		{ "pid-file", required_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 },
	};
	struct hv_xsd_opts o = { .print_ready = true };
	char defpath[256];
	int opt;

	while ((opt = getopt_long(argc, argv, "vs:p:", longopts, NULL)) != -1) {
		switch (opt) {
		case 'v':
			o.verbose = true;
			break;
		case 's':
			o.socket_path = optarg;
			break;
		case 'p':
			o.pid_file = optarg;
			break;
		default:
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "hvsim xenstored: unexpected argument `%s'\n",
			argv[optind]);
		return 2;
	}
	if (!o.socket_path)
		o.socket_path = hv_xsd_default_path(defpath, sizeof(defpath));
	return hv_xsd_run(&o) ? 1 : 0;
}

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *usage;
} cmds[] = {
	{ "xenstored", hv_cmd_xenstored,
	  "xenstored [-v] [-s SOCKET] [-p PIDFILE]\n"
	  "\tserve xenstore on SOCKET (default $XENSTORED_PATH), and grants and event\n"
	  "\tchannels on SOCKET.hv (backends) and SOCKET.hv.dD (guests); prints \"ready\"" },
#ifdef HVSIM_HAVE_XENSTORE
	{ "domain", hv_cmd_domain,
	  "domain add|del DOMID\n"
	  "\tcreate /local/domain/DOMID and introduce it (guest socket\n"
	  "\t$XENSTORED_PATH.dDOMID), or release and remove it" },
#endif
#ifdef HVSIM_HAVE_VIF
	{ "vif", hv_cmd_vif,
	  "vif add [-n] [-w] D.N [SPEC] | vif del [-n] [-w] D.N\n"
	  "\twrite a vif's xenstore keys as libxl does and run its hotplug script" },
#endif
#ifdef HVSIM_HAVE_GUEST
	{ "guest", hv_cmd_guest,
	  "guest D.N [--netns NS] [--ifname NAME] [--queues N] [--no-gso] [-v]\n"
	  "\tbe vif D.N's netfront: TAP eth0 in NS, packets over netif rings\n"
	  "  hvsim guest D.N --hostile CASE [--wait SECONDS] | guest --hostile list\n"
	  "\tconnect, write one bad ring state, report the backend's answer (JSON)" },
#endif
};

static void usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: hvsim COMMAND [ARGS]\n");
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		fprintf(f, "  hvsim %s\n", cmds[i].usage);
}

int main(int argc, char **argv)
{
	size_t i;

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(stdout);
		return 0;
	}
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(argv[1], cmds[i].name))
			return cmds[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "hvsim: unknown command `%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
