/* nf_cmd: `hvsim guest D.N` — a simulated guest's network device: the
 * netfront of vif D.N with its TAP eth0 in a network namespace, or, with
 * --hostile, a frontend that connects and then breaks the protocol once
 * (see hypervisor/sim/README.md). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include "hypervisor/sim/hvsim.h"
#include "hypervisor/sim/netfront.h"
#include "hypervisor/sim/nf_datapath.h"
#include "lib/err.h"
#include "lib/log.h"

static const char usage_text[] =
	"usage: hvsim guest D.N [--netns NS] [--ifname NAME] [--queues N] [--no-gso] [-v]\n"
	"       hvsim guest D.N --hostile CASE [--wait SECONDS] [-v]\n"
	"       hvsim guest --hostile list\n";

static int parse_vif(const char *s, uint16_t *domid, uint16_t *devid)
{
	unsigned d, n;
	char tail;

	if (sscanf(s, "%u.%u%c", &d, &n, &tail) != 2 || d == 0 || d >= 0x7ff0 || n > 0xffff)
		return -EINVAL;
	*domid = (uint16_t)d;
	*devid = (uint16_t)n;
	return 0;
}

static int enter_netns(const char *ns)
{
	char path[300];
	int fd, rc = 0;

	if (strchr(ns, '/'))
		snprintf(path, sizeof(path), "%s", ns);
	else
		snprintf(path, sizeof(path), "/run/netns/%s", ns);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_set(-errno, "network namespace %s: %s", ns, strerror(errno));
	if (setns(fd, CLONE_NEWNET) < 0)
		rc = err_set(-errno, "network namespace %s: setns: %s", ns, strerror(errno));
	close(fd);
	return rc;
}

int hv_cmd_guest(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "netns", required_argument, NULL, 'n' },
		{ "ifname", required_argument, NULL, 'i' },
		{ "queues", required_argument, NULL, 'q' },
		{ "no-gso", no_argument, NULL, 'G' },
		{ "hostile", required_argument, NULL, 'H' },
		{ "wait", required_argument, NULL, 'w' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *netns = NULL, *ifname = "eth0", *hostile = NULL;
	unsigned queues = 0, wait_ms = 2000;
	bool no_gso = false;
	struct nf_dev d;
	uint16_t domid, devid;
	char *end;
	int opt, rc;

	log_set_level(LOG_LVL_INFO);
	while ((opt = getopt_long(argc, argv, "n:i:q:H:w:vh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'n':
			netns = optarg;
			break;
		case 'i':
			ifname = optarg;
			break;
		case 'q':
			queues = (unsigned)strtoul(optarg, &end, 10);
			if (*end || !queues || queues > NF_MAX_QUEUES) {
				fprintf(stderr, "hvsim guest: --queues takes 1..%u, not `%s'\n",
					NF_MAX_QUEUES, optarg);
				return 2;
			}
			break;
		case 'H':
			hostile = optarg;
			break;
		case 'w': {
			double s = strtod(optarg, &end);

			if (*end || !(s >= 0 && s <= 600)) {
				fprintf(stderr, "hvsim guest: --wait takes 0..600 seconds, not `%s'\n",
					optarg);
				return 2;
			}
			wait_ms = (unsigned)(s * 1000);
			break;
		}
		case 'G':
			no_gso = true;
			break;
		case 'v':
			log_set_level(LOG_LVL_DEBUG);
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		default:
			fputs(usage_text, stderr);
			return 2;
		}
	}
	if (hostile && !strcmp(hostile, "list") && optind == argc) {
		nf_hostile_list(stdout);
		return 0;
	}
	if (optind + 1 != argc) {
		fputs(usage_text, stderr);
		return 2;
	}
	if (parse_vif(argv[optind], &domid, &devid)) {
		fprintf(stderr, "hvsim guest: bad vif `%s' (want D.N, D a guest domain id)\n",
			argv[optind]);
		return 2;
	}
	if (hostile && !nf_hostile_known(hostile)) {
		fprintf(stderr, "hvsim guest: unknown hostile case `%s' (hvsim guest --hostile list)\n",
			hostile);
		return 2;
	}
	if (hostile && netns) {
		fprintf(stderr, "hvsim guest: --hostile has no TAP, --netns makes no sense\n");
		return 2;
	}

	/* As xennet_max_queues: one per CPU unless told. */
	if (!queues)
		queues = (unsigned)get_nprocs() < NF_MAX_QUEUES ? (unsigned)get_nprocs() : NF_MAX_QUEUES;
	rc = nf_dev_open(&d, domid, devid, hostile ? 1 : queues);
	if (rc) {
		fprintf(stderr, "hvsim guest %u.%u: %s\n", domid, devid, err_msg());
		return 1;
	}
	d.no_gso = no_gso;
	if (hostile) {
		rc = nf_hostile_run(&d, hostile, wait_ms);
		if (rc)
			fprintf(stderr, "hvsim guest %u.%u: %s\n", domid, devid, err_msg());
		nf_dev_close(&d);
		return rc == -EINVAL ? 2 : rc ? 1 : 0;
	}
	/* The TAP is created in the namespace of the process that opens
	 * /dev/net/tun; xenstore and the broker are reached by path. */
	rc = netns ? enter_netns(netns) : 0;
	if (!rc)
		rc = nf_tap_open(&d, ifname, queues);
	if (rc) {
		fprintf(stderr, "hvsim guest %u.%u: %s\n", domid, devid, err_msg());
		nf_tap_close(&d);
		nf_dev_close(&d);
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	rc = nf_run(&d);
	if (rc)
		fprintf(stderr, "hvsim guest %u.%u: %s\n", domid, devid, err_msg());
	nf_dev_shutdown(&d);
	log_info("vif%u.%u: tx dropped %llu, rx dropped %llu", domid, devid,
		 (unsigned long long)d.tx_dropped, (unsigned long long)d.rx_dropped);
	nf_tap_close(&d);
	nf_dev_close(&d);
	return rc ? 1 : 0;
}
