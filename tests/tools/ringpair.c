/* ringpair: the smallest backend that can carry packets between two
 * simulated guests, for testing `hvsim guest` without vifback.
 *
 *   XENSTORED_PATH=... ringpair [--offer KEY,...] [--strip-validated] A.N B.M
 *
 * --offer: the feature keys to advertise (default feature-sg,
 * feature-gso-tcpv4, feature-gso-tcpv6, feature-ipv6-csum-offload,
 * feature-rx-copy). --strip-validated: forward packets without their
 * data_validated flag, so the receiving guest's kernel checks every
 * checksum the sender did not leave blank.
 *
 * For each vif it plays netback's xenbus part (features, InitWait, reads the
 * frontend's keys when it goes Connected, Connected), maps the rings and
 * binds the event channel through hv.h (kind "sim"), and then forwards what
 * A sends to B's RX ring and the other way round with the project's netif
 * library — a wire between two guests, no TAP, no bridge. One queue, no
 * split channels. A frontend that breaks the protocol gets its backend
 * Closing (as netback's xenbus_dev_fatal), one that closes gets Closed;
 * either end's traffic then stops. Prints "ready" when both are connected;
 * SIGTERM ends it. Not a vifback: no hotplug, no reconnect, no rate, no
 * isolation. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "hypervisor/hv.h"
#include "lib/err.h"
#include "lib/xs_client.h"
#include "vif/netif.h"

#define WAIT_MS 10000

struct end {
	unsigned domid, devid;
	char be[96], fe[96];
	void *tx, *rx;
	uint32_t port;
	struct netif_queue *q;
	bool down;	/* fatal or closed: no more traffic */
};

static struct hv *hv;
static struct xsc *xs;
static const char *offered = "feature-sg,feature-gso-tcpv4,feature-gso-tcpv6,"
			     "feature-ipv6-csum-offload,feature-rx-copy";
static bool strip_validated;

static int copy(void *ctx, struct hv_copy *segs, unsigned n)
{
	return hv_grant_copy(hv, segs, n);
}

static int xs_read(const char *dir, const char *key, char *buf, size_t len)
{
	char path[160];
	struct xsc_op op = { .type = XS_MSG_READ, .path = path };
	int rc;

	snprintf(path, sizeof(path), "%s/%s", dir, key);
	rc = xsc_run(xs, &op, 1);
	if (!rc && !(rc = op.err))
		snprintf(buf, len, "%s", op.reply);
	xsc_ops_free(&op, 1);
	return rc;
}

static unsigned xs_uint(const char *dir, const char *key, unsigned def)
{
	char buf[32];

	return xs_read(dir, key, buf, sizeof(buf)) ? def : (unsigned)strtoul(buf, NULL, 10);
}

static int xs_write(const char *dir, const char *key, const char *val)
{
	char path[160];
	struct xsc_op op = { .type = XS_MSG_WRITE, .path = path, .arg = val,
			     .vlen = (unsigned)strlen(val) };
	int rc;

	snprintf(path, sizeof(path), "%s/%s", dir, key);
	rc = xsc_run(xs, &op, 1);
	if (!rc)
		rc = op.err;
	xsc_ops_free(&op, 1);
	return rc;
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static int offer(struct end *e)
{
	char list[256], *key, *save = NULL;
	int rc = 0;

	snprintf(list, sizeof(list), "%s", offered);
	for (key = strtok_r(list, ",", &save); !rc && key; key = strtok_r(NULL, ",", &save))
		rc = xs_write(e->be, key, "1");
	if (!rc)
		rc = xs_write(e->be, "state", "2");
	return rc ? err_set(rc, "%s: cannot write: %s", e->be, strerror(-rc)) : 0;
}

static int connect_end(struct end *e)
{
	struct netif_features f = { 0 };
	uint32_t tx_ref, rx_ref, remote;
	long end = now_ms() + WAIT_MS;
	int rc;

	while (xs_uint(e->fe, "state", 0) != 4) {
		if (now_ms() > end)
			return err_set(-ETIMEDOUT, "%s: frontend not Connected", e->fe);
		poll(NULL, 0, 20);
	}
	tx_ref = xs_uint(e->fe, "tx-ring-ref", ~0u);
	rx_ref = xs_uint(e->fe, "rx-ring-ref", ~0u);
	remote = xs_uint(e->fe, "event-channel", ~0u);
	f.sg = xs_uint(e->fe, "feature-sg", 0) == 1;
	f.gso_tcpv4 = xs_uint(e->fe, "feature-gso-tcpv4", 0) == 1;
	f.gso_tcpv6 = xs_uint(e->fe, "feature-gso-tcpv6", 0) == 1;
	f.ipv6_csum = xs_uint(e->fe, "feature-ipv6-csum-offload", 0) == 1;
	f.csum = xs_uint(e->fe, "feature-no-csum-offload", 0) != 1;
	f.rx_notify = xs_uint(e->fe, "feature-rx-notify", 0) == 1;
	if ((rc = hv_grant_map(hv, (uint16_t)e->domid, &tx_ref, 1, true, &e->tx)) ||
	    (rc = hv_grant_map(hv, (uint16_t)e->domid, &rx_ref, 1, true, &e->rx)) ||
	    (rc = hv_evtchn_bind(hv, (uint16_t)e->domid, remote, &e->port)))
		return err_prefix(rc, "%s", e->fe);
	e->q = calloc(1, sizeof(*e->q));
	if (!e->q)
		return -ENOMEM;
	static struct netif_scratch scratch; /* the two ends are served in turn */

	netif_queue_init(e->q, (uint16_t)e->domid, &f, e->tx, e->rx, copy, NULL, &scratch);
	rc = xs_write(e->be, "state", "4");
	return rc ? err_set(rc, "%s: state: %s", e->be, strerror(-rc)) : 0;
}

static void end_down(struct end *e, const char *state)
{
	if (!e->down)
		xs_write(e->be, "state", state);
	e->down = true;
}

/* A's TX into B's RX: one burst. Returns true if A has more. */
static bool forward(struct end *a, struct end *b)
{
	static uint8_t abuf[NETIF_BURST * 65536];
	struct netif_tx_arena arena = { .buf = abuf, .cap = sizeof(abuf) };
	struct netif_pkt pkts[NETIF_BURST];
	unsigned n = 0, done = 0;
	uint64_t wait = 0;
	bool more = false, ntx = false, nrx = false;

	if (a->down)
		return false;
	if (netif_tx_burst(a->q, &arena, 0, pkts, NETIF_BURST, &n, &more, &ntx, &wait) < 0) {
		fprintf(stderr, "ringpair: vif%u.%u: %s\n", a->domid, a->devid,
			netif_queue_fatal_reason(a->q));
		end_down(a, "5");
	}
	if (ntx)
		hv_evtchn_notify(hv, a->port);
	for (unsigned i = 0; strip_validated && i < n; i++)
		pkts[i].flags &= (uint8_t)~NETIF_PKT_DATA_VALIDATED;
	if (n && !b->down && netif_rx_burst(b->q, pkts, n, &done, &nrx) < 0) {
		fprintf(stderr, "ringpair: vif%u.%u: %s\n", b->domid, b->devid,
			netif_queue_fatal_reason(b->q));
		end_down(b, "5");
	}
	if (nrx)
		hv_evtchn_notify(hv, b->port);
	return more && !a->down;
}

static int parse(const char *s, struct end *e)
{
	if (sscanf(s, "%u.%u", &e->domid, &e->devid) != 2 || !e->domid)
		return -EINVAL;
	snprintf(e->be, sizeof(e->be), "/local/domain/0/backend/vif/%u/%u", e->domid, e->devid);
	snprintf(e->fe, sizeof(e->fe), "/local/domain/%u/device/vif/%u", e->domid, e->devid);
	return 0;
}

int main(int argc, char **argv)
{
	struct end e[2] = { 0 };
	sigset_t ss;
	long last_look = 0;
	int sfd, rc, i;

	while (argc > 3) {
		if (!strcmp(argv[1], "--offer") && argc > 4) {
			offered = argv[2];
			argv += 2;
			argc -= 2;
		} else if (!strcmp(argv[1], "--strip-validated")) {
			strip_validated = true;
			argv++;
			argc--;
		} else {
			break;
		}
	}
	if (argc != 3 || parse(argv[1], &e[0]) || parse(argv[2], &e[1])) {
		fprintf(stderr, "usage: ringpair [--offer KEY,...] [--strip-validated] D.N D.N\n");
		return 2;
	}
	sigemptyset(&ss);
	sigaddset(&ss, SIGTERM);
	sigaddset(&ss, SIGINT);
	sigprocmask(SIG_BLOCK, &ss, NULL);
	sfd = signalfd(-1, &ss, SFD_CLOEXEC);
	if ((rc = hv_open("sim", &hv)) || (rc = xsc_open(&xs, 5000)))
		goto fail;
	for (i = 0; i < 2; i++)
		if ((rc = offer(&e[i])))
			goto fail;
	for (i = 0; i < 2; i++)
		if ((rc = connect_end(&e[i])))
			goto fail;
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		struct pollfd p[2] = {
			{ .fd = sfd, .events = POLLIN },
			{ .fd = hv_evtchn_fd(hv), .events = POLLIN },
		};
		uint32_t port;
		unsigned rounds = 0;
		bool more;

		/* 100 ms: a safety net only, events drive the pair. */
		if (poll(p, 2, 100) < 0 && errno != EINTR)
			break;
		if (p[0].revents)
			break;
		/* A frontend Closing or Closed: let go (netback's disconnect).
		 * Looked at every 100 ms, not per wake-up: packets first. */
		if (now_ms() - last_look >= 100) {
			last_look = now_ms();
			for (i = 0; i < 2; i++) {
				unsigned fe = xs_uint(e[i].fe, "state", 0);

				if ((fe == 5 || fe == 6 || fe == 0) &&
				    xs_uint(e[i].be, "state", 0) != 6) {
					e[i].down = true;
					xs_write(e[i].be, "state", "6");
				}
			}
		}
		while (!hv_evtchn_pending(hv, &port))
			hv_evtchn_unmask(hv, port);
		do {
			more = forward(&e[0], &e[1]);
			more |= forward(&e[1], &e[0]);
		} while (more && ++rounds < 64);
	}
	for (i = 0; i < 2; i++)
		xs_write(e[i].be, "state", "6");
	rc = 0;
out:
	/* each end's queue (connect_end), the connections */
	for (i = 0; i < 2; i++)
		free(e[i].q);
	if (xs)
		xsc_close(xs);
	if (hv)
		hv_close(hv);
	return rc;
fail:
	fprintf(stderr, "ringpair: %s\n", err_msg());
	rc = 1;
	goto out;
}
