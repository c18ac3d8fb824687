/* hv-bench: what the simulated hypervisor costs a backend, against what
 * cannot be avoided, in one process (both sides, no context switches):
 *   copy    hv_grant_copy() of L-byte segments in batches of 32, from and to
 *           the guest, against memcpy() of the same bytes between the same
 *           pages (the floor: a copy with no hypervisor at all);
 *   evtchn  one event each way through hv.h and hv_guest.h (notify,
 *           pending, unmask), against a raw eventfd ping-pong.
 * Needs hvsim xenstored on $XENSTORED_PATH with domain DOMID introduced
 * (bench/hv sets that up). Prints one JSON object per round and case:
 *   {"case": "copy-from-64", "hv_ns": 41.2, "floor_ns": 12.0}
 * Usage: hv-bench [-d DOMID] [-r ROUNDS] [-n OPS] */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "hypervisor/hv.h"
#include "hypervisor/sim/hv_guest.h"
#include "lib/err.h"

#define PAGES 256
#define BATCH 32

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static uint32_t refs[PAGES];
static uint8_t local[PAGES][HV_PAGE_SIZE];
/* Keeps the floor's copies from being optimised away. */
static volatile uint8_t sink;

/* One batch through hv_grant_copy(), starting at page *p. */
static int batch_hv(struct hv *hv, uint16_t domid, bool to_guest, unsigned len, unsigned *p)
{
	struct hv_copy segs[BATCH];
	unsigned k;

	for (k = 0; k < BATCH; k++, *p = (*p + 1) % PAGES)
		segs[k] = (struct hv_copy){ .to_guest = to_guest, .domid = domid,
					    .ref = refs[*p], .len = len, .local = local[*p] };
	if (hv_grant_copy(hv, segs, BATCH))
		return -1;
	for (k = 0; k < BATCH; k++)
		if (segs[k].status)
			return -1;
	return 0;
}

/* The same bytes between the same pages, no hypervisor. */
static void batch_floor(struct hv_guest *g, bool to_guest, unsigned len, unsigned *p)
{
	unsigned k;

	for (k = 0; k < BATCH; k++, *p = (*p + 1) % PAGES) {
		uint8_t *gp = hv_guest_page(g, *p);

		if (to_guest)
			memcpy(gp, local[*p], len);
		else
			memcpy(local[*p], gp, len);
	}
	sink = local[*p][0];
}

/* hv and floor in alternating chunks of CHUNK batches, so that a load
 * that comes and goes (a shared machine) hits both alike. ns per segment
 * into *hv_ns and *floor_ns. */
#define CHUNK 16
static int copy_case(struct hv *hv, struct hv_guest *g, uint16_t domid, bool to_guest,
		     unsigned len, unsigned ops, double *hv_ns, double *floor_ns)
{
	unsigned i, k, ph = 0, pf = 0, chunks = ops / (BATCH * CHUNK);
	double t, th = 0, tf = 0;

	for (i = 0; i < chunks; i++) {
		t = now_ns();
		for (k = 0; k < CHUNK; k++)
			if (batch_hv(hv, domid, to_guest, len, &ph))
				return -1;
		th += now_ns() - t;
		t = now_ns();
		for (k = 0; k < CHUNK; k++)
			batch_floor(g, to_guest, len, &pf);
		tf += now_ns() - t;
	}
	*hv_ns = th / (chunks * CHUNK * BATCH);
	*floor_ns = tf / (chunks * CHUNK * BATCH);
	return 0;
}

static double evtchn_hv(struct hv *hv, struct hv_guest *g, uint32_t gport, uint32_t bport,
			unsigned ops)
{
	uint32_t p;
	double t;
	unsigned i;

	t = now_ns();
	for (i = 0; i < ops; i++) {
		if (hv_guest_evtchn_notify(g, gport) || hv_evtchn_pending(hv, &p) ||
		    p != bport || hv_evtchn_unmask(hv, bport) || hv_evtchn_notify(hv, bport) ||
		    hv_guest_evtchn_pending(g, &p) || p != gport)
			return -1;
	}
	return (now_ns() - t) / ops;
}

static double evtchn_floor(unsigned ops)
{
	int a = eventfd(0, EFD_NONBLOCK), b = eventfd(0, EFD_NONBLOCK);
	uint64_t v = 1;
	double t;
	unsigned i;

	if (a < 0 || b < 0)
		return -1;
	t = now_ns();
	for (i = 0; i < ops; i++) {
		if (write(a, &v, 8) != 8 || read(a, &v, 8) != 8 || write(b, &v, 8) != 8 ||
		    read(b, &v, 8) != 8)
			return -1;
	}
	t = (now_ns() - t) / ops;
	close(a);
	close(b);
	return t;
}

int main(int argc, char **argv)
{
	static const unsigned lens[] = { 64, 1500, 4096 };
	unsigned domid = 1, rounds = 5, ops = 200000, r, i;
	uint32_t gport, bport;
	struct hv_guest *g;
	struct hv *hv;
	int opt;

	while ((opt = getopt(argc, argv, "d:r:n:")) != -1) {
		switch (opt) {
		case 'd':
			domid = (unsigned)atoi(optarg);
			break;
		case 'r':
			rounds = (unsigned)atoi(optarg);
			break;
		case 'n':
			ops = (unsigned)atoi(optarg);
			break;
		default:
			fprintf(stderr, "usage: hv-bench [-d DOMID] [-r ROUNDS] [-n OPS]\n");
			return 2;
		}
	}
	if (domid == 0 || domid > 0x7fef || rounds == 0 || rounds > 100 || ops < BATCH * CHUNK ||
	    ops > 100000000) {
		fprintf(stderr, "hv-bench: argument out of range\n");
		return 2;
	}
	if (hv_guest_open((uint16_t)domid, PAGES, &g) || hv_open("sim", &hv)) {
		fprintf(stderr, "hv-bench: %s\n", err_msg());
		return 1;
	}
	for (i = 0; i < PAGES; i++) {
		memset(hv_guest_page(g, i), (int)i, HV_PAGE_SIZE);
		if (hv_guest_grant(g, 0, i, false, &refs[i])) {
			fprintf(stderr, "hv-bench: %s\n", err_msg());
			return 1;
		}
	}
	if (hv_guest_evtchn_alloc(g, 0, &gport) ||
	    hv_evtchn_bind(hv, (uint16_t)domid, gport, &bport)) {
		fprintf(stderr, "hv-bench: %s\n", err_msg());
		return 1;
	}
	for (r = 0; r < rounds; r++) {
		for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
			for (int dir = 0; dir < 2; dir++) {
				double h, f;

				if (copy_case(hv, g, (uint16_t)domid, dir, lens[i], ops, &h, &f)) {
					fprintf(stderr, "hv-bench: copy failed\n");
					return 1;
				}
				printf("{\"case\": \"copy-%s-%u\", \"hv_ns\": %.2f, \"floor_ns\": %.2f}\n",
				       dir ? "to" : "from", lens[i], h, f);
			}
		}
		{
			double h = evtchn_hv(hv, g, gport, bport, ops / 10);
			double f = evtchn_floor(ops / 10);

			if (h < 0 || f < 0) {
				fprintf(stderr, "hv-bench: event channel failed\n");
				return 1;
			}
			printf("{\"case\": \"evtchn-roundtrip\", \"hv_ns\": %.2f, \"floor_ns\": %.2f}\n",
			       h, f);
		}
		fflush(stdout);
	}
	hv_close(hv);
	hv_guest_close(g);
	return 0;
}
