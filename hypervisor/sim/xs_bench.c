/* xs-bench: what a transaction costs the simulated xenstored as the store
 * grows, in one process (the request engine fed as the daemon feeds it, no
 * sockets). The transaction is netback's be_write(): start, read the vif's
 * directory and its state, write the state, commit. Timed on a store with
 * one vif (the baseline) and with VIFS vifs (each a backend directory of
 * 20 keys and a frontend directory of 12, as libxl and netfront write
 * them), both in the same run; a plain write (no transaction) beside it.
 * Prints one JSON object per case:
 *   {"case": "tx", "vifs": 1000, "nodes": 36000, "us": 2.1, "ratio": 1.04}
 * ratio: against the same case with one vif.
 * Usage: xs-bench [-v VIFS] [-n OPS] */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hypervisor/sim/xs_store.h"
#include "lib/log.h"

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static uint32_t req_id;

/* One request; the reply's payload into out (NUL-terminated), its type
 * returned (XS_MSG_ERROR on failure). */
static uint32_t request(struct xs_conn *c, uint32_t type, uint32_t tx, const char *path,
			const char *val, char *out, size_t outlen)
{
	uint8_t buf[XS_HDR_LEN + XS_PAYLOAD_MAX];
	size_t pl = strlen(path) + 1, vl = val ? strlen(val) : 0, len;
	struct xs_msg_hdr h = { .type = type, .req_id = ++req_id, .tx_id = tx,
				.len = (uint32_t)(pl + vl) };
	const uint8_t *p;
	uint32_t got = XS_MSG_ERROR;

	xs_hdr_encode(&h, buf);
	memcpy(buf + XS_HDR_LEN, path, pl);
	if (vl)
		memcpy(buf + XS_HDR_LEN + pl, val, vl);
	xs_conn_feed(c, buf, XS_HDR_LEN + h.len);
	while ((p = xs_conn_out_peek(c, &len))) {
		struct xs_msg_hdr r;

		xs_hdr_decode(p, &r);
		if (r.req_id == h.req_id && r.type != XS_MSG_WATCH_EVENT) {
			got = r.type;
			if (out) {
				size_t n = r.len < outlen - 1 ? r.len : outlen - 1;

				memcpy(out, p + XS_HDR_LEN, n);
				out[n] = '\0';
			}
		}
		xs_conn_out_consume(c, len);
	}
	return got;
}

static void must(uint32_t got, uint32_t want, const char *what)
{
	if (got != want) {
		fprintf(stderr, "xs-bench: %s failed\n", what);
		exit(1);
	}
}

/* vif d.0 as libxl (backend) and netfront (frontend) leave it connected. */
static void add_vif(struct xs_conn *c, unsigned d)
{
	static const char *const be[] = {
		"frontend", "frontend-id", "online", "state", "script", "mac", "bridge",
		"handle", "type", "hotplug-status", "feature-sg", "feature-gso-tcpv4",
		"feature-gso-tcpv6", "feature-ipv6-csum-offload", "feature-rx-copy",
		"feature-rx-flip", "feature-split-event-channels", "multi-queue-max-queues",
		"vifname", "rate",
	};
	static const char *const fe[] = {
		"backend", "backend-id", "state", "handle", "mac", "tx-ring-ref", "rx-ring-ref",
		"event-channel", "request-rx-copy", "feature-rx-notify", "feature-sg", "mtu",
	};
	char path[128];

	for (size_t i = 0; i < sizeof(be) / sizeof(be[0]); i++) {
		snprintf(path, sizeof(path), "/local/domain/0/backend/vif/%u/0/%s", d, be[i]);
		must(request(c, XS_MSG_WRITE, 0, path, "1", NULL, 0), XS_MSG_WRITE, "write");
	}
	for (size_t i = 0; i < sizeof(fe) / sizeof(fe[0]); i++) {
		snprintf(path, sizeof(path), "/local/domain/%u/device/vif/0/%s", d, fe[i]);
		must(request(c, XS_MSG_WRITE, 0, path, "1", NULL, 0), XS_MSG_WRITE, "write");
	}
}

/* be_write()'s transaction on vif 1.0, n times: microseconds each. */
static double time_tx(struct xs_conn *c, unsigned n)
{
	const char *dir = "/local/domain/0/backend/vif/1/0";
	const char *state = "/local/domain/0/backend/vif/1/0/state";
	char id[32];
	double t0 = now_us();

	for (unsigned i = 0; i < n; i++) {
		uint32_t tx;

		must(request(c, XS_MSG_TRANSACTION_START, 0, "", NULL, id, sizeof(id)),
		     XS_MSG_TRANSACTION_START, "transaction start");
		tx = (uint32_t)strtoul(id, NULL, 10);
		must(request(c, XS_MSG_READ, tx, dir, NULL, NULL, 0), XS_MSG_READ, "read");
		must(request(c, XS_MSG_READ, tx, state, NULL, NULL, 0), XS_MSG_READ, "read");
		must(request(c, XS_MSG_WRITE, tx, state, i & 1 ? "4" : "5", NULL, 0), XS_MSG_WRITE,
		     "write");
		must(request(c, XS_MSG_TRANSACTION_END, tx, "T", NULL, NULL, 0),
		     XS_MSG_TRANSACTION_END, "commit");
	}
	return (now_us() - t0) / n;
}

static double time_write(struct xs_conn *c, unsigned n)
{
	const char *state = "/local/domain/0/backend/vif/1/0/state";
	double t0 = now_us();

	for (unsigned i = 0; i < n; i++)
		must(request(c, XS_MSG_WRITE, 0, state, i & 1 ? "4" : "5", NULL, 0), XS_MSG_WRITE,
		     "write");
	return (now_us() - t0) / n;
}

int main(int argc, char **argv)
{
	unsigned vifs = 1000, n = 200, sizes[2];
	double tx[2], wr[2];
	int opt;

	while ((opt = getopt(argc, argv, "v:n:")) != -1) {
		if (opt == 'v')
			vifs = (unsigned)strtoul(optarg, NULL, 10);
		else if (opt == 'n')
			n = (unsigned)strtoul(optarg, NULL, 10);
		else {
			fprintf(stderr, "usage: xs-bench [-v VIFS] [-n OPS]\n");
			return 2;
		}
	}
	if (!vifs || !n) {
		fprintf(stderr, "xs-bench: VIFS and OPS must be at least 1\n");
		return 2;
	}
	log_set_level(LOG_LVL_ERR);
	sizes[0] = 1;
	sizes[1] = vifs;
	for (int s = 0; s < 2; s++) {
		struct xs_store st;
		struct xs_conn *c;

		if (xs_store_init(&st)) {
			fprintf(stderr, "xs-bench: out of memory\n");
			return 1;
		}
		c = xs_conn_new(&st, 0);
		for (unsigned d = 1; d <= sizes[s]; d++)
			add_vif(c, d);
		time_tx(c, n / 10 + 1); /* warm up */
		tx[s] = time_tx(c, n);
		wr[s] = time_write(c, n);
		printf("{\"case\": \"tx\", \"vifs\": %u, \"nodes\": %u, \"us\": %.2f, \"ratio\": %.2f}\n",
		       sizes[s], st.tree.n_nodes, tx[s], tx[s] / tx[0]);
		printf("{\"case\": \"write\", \"vifs\": %u, \"nodes\": %u, \"us\": %.2f, \"ratio\": "
		       "%.2f}\n",
		       sizes[s], st.tree.n_nodes, wr[s], wr[s] / wr[0]);
		xs_conn_free(c);
		xs_store_fini(&st);
	}
	return 0;
}
