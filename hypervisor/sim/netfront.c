/* netfront: the xenbus side of the simulated guest's frontend — reading
 * the frontend's keys, the handshake with the backend, grants and event
 * channels of each queue, reconnects and the orderly close (see netfront.h).
 * The packet side is nf_datapath.c. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sysinfo.h>
#include <time.h>

#include "hypervisor/sim/hv_guest.h"
#include "hypervisor/sim/netfront.h"
#include "hypervisor/sim/xenstored.h"
#include "lib/err.h"
#include "lib/log.h"
#include "lib/xs_client.h"

#define XS_TIMEOUT_MS	5000
#define CLOSE_WAIT_MS	5000	/* XENNET_TIMEOUT in xennet_remove */
/* A backend that drops every connection (a worker that dies at once) must
 * not make us reconnect in a loop: 1 s after the first failure, doubling;
 * a connection that lasted BACKOFF_RESET_MS counts as a success. */
#define BACKOFF_MIN_MS	1000u
#define BACKOFF_MAX_MS	16000u
#define BACKOFF_RESET_MS 10000L

enum {
	XB_UNKNOWN = 0, XB_INITIALISING = 1, XB_INITWAIT = 2, XB_INITIALISED = 3,
	XB_CONNECTED = 4, XB_CLOSING = 5, XB_CLOSED = 6,
};

const char *nf_state_name(int state)
{
	static const char *const names[] = {
		"Unknown", "Initialising", "InitWait", "Initialised", "Connected",
		"Closing", "Closed", "Reconfiguring", "Reconfigured",
	};

	return state >= 0 && state < 9 ? names[state] : "?";
}

/* ---- xenstore ---- */

int nf_xs_read(struct nf_dev *d, const char *dir, const char *key, char *buf, size_t len)
{
	char path[256];
	struct xsc_op op = { .type = XS_MSG_READ, .path = path };
	int rc;

	snprintf(path, sizeof(path), "%s/%s", dir, key);
	rc = xsc_run(d->xs, &op, 1);
	if (rc)
		return rc;
	rc = op.err;
	if (!rc)
		snprintf(buf, len, "%s", op.reply);
	xsc_ops_free(&op, 1);
	return rc;
}

static unsigned xs_read_uint(struct nf_dev *d, const char *dir, const char *key, unsigned def)
{
	char buf[32], *end;
	unsigned long v;

	if (nf_xs_read(d, dir, key, buf, sizeof(buf)))
		return def;
	errno = 0;
	v = strtoul(buf, &end, 10);
	if (errno || end == buf || *end || v > 0xffffffffu)
		return def;
	return (unsigned)v;
}

int nf_xs_state(struct nf_dev *d, const char *dir)
{
	return (int)xs_read_uint(d, dir, "state", XB_UNKNOWN);
}

/* A batch of writes under dir; values are short decimal strings. */
struct kv {
	char path[192];
	char val[24];
};

static int xs_write_batch(struct nf_dev *d, struct kv *kv, unsigned n)
{
	struct xsc_op ops[24];
	unsigned i;
	int rc;

	if (n > sizeof(ops) / sizeof(ops[0]))
		return err_set(-E2BIG, "too many keys");
	memset(ops, 0, sizeof(ops));
	for (i = 0; i < n; i++) {
		ops[i].type = XS_MSG_WRITE;
		ops[i].path = kv[i].path;
		ops[i].arg = kv[i].val;
		ops[i].vlen = (unsigned)strlen(kv[i].val);
	}
	rc = xsc_run(d->xs, ops, n);
	for (i = 0; !rc && i < n; i++)
		if (ops[i].err)
			rc = err_set(ops[i].err, "write %s: %s", ops[i].path,
				     strerror(-ops[i].err));
	xsc_ops_free(ops, n);
	return rc;
}

static void kv_set(struct kv *kv, unsigned *n, const char *dir, const char *key, unsigned v)
{
	snprintf(kv[*n].path, sizeof(kv[*n].path), "%s/%s", dir, key);
	snprintf(kv[*n].val, sizeof(kv[*n].val), "%u", v);
	(*n)++;
}

int nf_xs_write_state(struct nf_dev *d, int state)
{
	struct kv kv;
	unsigned n = 0;
	int rc;

	kv_set(&kv, &n, d->fe, "state", (unsigned)state);
	rc = xs_write_batch(d, &kv, n);
	if (!rc) {
		log_debug("vif%u.%u: frontend %s", d->domid, d->devid, nf_state_name(state));
		d->fe_state = state;
	}
	return rc;
}

static int parse_mac(const char *s, uint8_t mac[6])
{
	unsigned v[6], i;
	char tail;

	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4],
		   &v[5], &tail) != 6)
		return -EINVAL;
	for (i = 0; i < 6; i++)
		mac[i] = (uint8_t)v[i];
	return 0;
}

int nf_dev_open(struct nf_dev *d, uint16_t domid, uint16_t devid, unsigned want_queues)
{
	char base[256], sock[300], buf[128];
	struct xsc_op w[2] = { { 0 } };
	char wbe[160], wfe[160];
	bool had_env;
	unsigned i;
	int rc;

	memset(d, 0, sizeof(*d));
	d->domid = domid;
	d->devid = devid;
	d->want_queues = want_queues;
	for (i = 0; i < NF_MAX_QUEUES; i++) {
		d->tap_fds[i] = -1;
		d->q[i].tap_fd = -1;
		d->q[i].idx = i;
		d->q[i].pfn = i * NF_PAGES_PER_QUEUE;
	}
	snprintf(d->fe, sizeof(d->fe), "/local/domain/%u/device/vif/%u", domid, devid);

	/* Memory for every queue we could ever use, rings and buffers. The
	 * broker is found from $XENSTORED_PATH: before we point it at D's. */
	rc = hv_guest_open(domid, NF_MAX_QUEUES * NF_PAGES_PER_QUEUE, &d->g);
	if (rc)
		return err_prefix(rc, "guest memory of domain %u", domid);

	/* The guest's own xenstore connection: hvsim's $XENSTORED_PATH.dD. */
	snprintf(base, sizeof(base), "%s", hv_xsd_default_path(sock, sizeof(sock)));
	rc = hv_xsd_domain_socket(base, domid, sock, sizeof(sock));
	if (rc) {
		err_set(rc, "guest socket of domain %u: path too long", domid);
		goto fail;
	}
	had_env = getenv("XENSTORED_PATH") != NULL;
	setenv("XENSTORED_PATH", sock, 1);
	rc = xsc_open(&d->xs, XS_TIMEOUT_MS);
	if (had_env)
		setenv("XENSTORED_PATH", base, 1);
	else
		unsetenv("XENSTORED_PATH");
	if (rc) {
		err_prefix(rc, "xenstore as domain %u (%s)", domid, sock);
		goto fail;
	}

	rc = nf_xs_read(d, d->fe, "backend", d->be, sizeof(d->be));
	if (rc) {
		err_set(rc, "%s/backend: %s", d->fe,
			rc == -ENOENT ? "no such vif (hvsim vif add first)" : strerror(-rc));
		goto fail;
	}
	rc = nf_xs_read(d, d->fe, "backend-id", buf, sizeof(buf));
	if (!rc) {
		uint32_t id;

		if (xs_domid_parse(buf, &id) || id >= 0x7ff0)
			rc = -EINVAL;
		d->backend_id = (uint16_t)id;
	}
	if (rc) {
		err_set(rc, "%s/backend-id: %s", d->fe,
			rc == -EINVAL ? "not a domain id" : strerror(-rc));
		goto fail;
	}
	rc = nf_xs_read(d, d->fe, "mac", buf, sizeof(buf));
	if (!rc && parse_mac(buf, d->mac))
		rc = -EINVAL;
	if (rc) {
		err_set(rc, "%s/mac: %s", d->fe, rc == -EINVAL ? "not a MAC address" : strerror(-rc));
		goto fail;
	}
	d->mtu = xs_read_uint(d, d->fe, "mtu", 1500);
	if (d->mtu < 68 || d->mtu > 65535 - 14)
		d->mtu = 1500;
	d->fe_state = nf_xs_state(d, d->fe);

	snprintf(wbe, sizeof(wbe), "%s/state", d->be);
	snprintf(wfe, sizeof(wfe), "%s/state", d->fe);
	w[0] = (struct xsc_op){ .type = XS_MSG_WATCH, .path = wbe, .arg = "be" };
	w[1] = (struct xsc_op){ .type = XS_MSG_WATCH, .path = wfe, .arg = "fe" };
	rc = xsc_run(d->xs, w, 2);
	if (!rc && (w[0].err || w[1].err))
		rc = err_set(w[0].err ? w[0].err : w[1].err, "watch %s: %s", wbe,
			     strerror(-(w[0].err ? w[0].err : w[1].err)));
	xsc_ops_free(w, 2);
	if (rc)
		goto fail;

	return 0;
fail:
	nf_dev_close(d);
	return rc;
}

void nf_dev_close(struct nf_dev *d)
{
	nf_disconnect(d);
	if (d->g)
		hv_guest_close(d->g);
	d->g = NULL;
	if (d->xs)
		xsc_close(d->xs);
	d->xs = NULL;
}

/* ---- connect / disconnect ---- */

static void read_features(struct nf_dev *d)
{
	struct nf_features *f = &d->feat;

	f->sg = xs_read_uint(d, d->be, "feature-sg", 0) == 1;
	f->gso4 = xs_read_uint(d, d->be, "feature-gso-tcpv4", 0) == 1;
	f->gso6 = xs_read_uint(d, d->be, "feature-gso-tcpv6", 0) == 1;
	f->ipv6_csum = xs_read_uint(d, d->be, "feature-ipv6-csum-offload", 0) == 1;
	f->split = xs_read_uint(d, d->be, "feature-split-event-channels", 0) == 1;
	f->rx_copy = xs_read_uint(d, d->be, "feature-rx-copy", 0) == 1;
	f->max_queues = xs_read_uint(d, d->be, "multi-queue-max-queues", 0);
}

static int grant(struct nf_dev *d, struct nf_queue *q, unsigned pfn, bool ro, uint32_t *ref)
{
	int rc = hv_guest_grant(d->g, d->backend_id, pfn, ro, ref);

	if (rc)
		return err_prefix(rc, "grant page %u", pfn);
	q->grefs[q->n_grefs++] = *ref;
	return 0;
}

static int queue_setup(struct nf_dev *d, struct nf_queue *q)
{
	void *txb[NF_TX_POOL], *rxb[NF_RING_SIZE];
	uint32_t txr[NF_TX_POOL], rxr[NF_RING_SIZE], tx_ring, rx_ring;
	unsigned i, tb = q->pfn + 2, rb = q->pfn + 2 + NF_TX_POOL;
	void *first = hv_guest_page(d->g, q->pfn);
	int rc;

	/* Zeroed before granting: a backend sees nothing of our past. The
	 * pages go back to the memfd (read as zeros, cost nothing until
	 * used: a queue's TX pool is 3 MiB, most of it idle); a copy
	 * where that cannot be done. */
	if (madvise(first, (size_t)NF_PAGES_PER_QUEUE * NF_PAGE_SIZE, MADV_REMOVE) < 0)
		for (i = 0; i < NF_PAGES_PER_QUEUE; i++)
			memset(hv_guest_page(d->g, q->pfn + i), 0, NF_PAGE_SIZE);
	if ((rc = grant(d, q, q->pfn, false, &tx_ring)) ||
	    (rc = grant(d, q, q->pfn + 1, false, &rx_ring)))
		return rc;
	for (i = 0; i < NF_TX_POOL; i++) {
		txb[i] = hv_guest_page(d->g, tb + i);
		if ((rc = grant(d, q, tb + i, true, &txr[i])))
			return rc;
	}
	for (i = 0; i < NF_RING_SIZE; i++) {
		rxb[i] = hv_guest_page(d->g, rb + i);
		if ((rc = grant(d, q, rb + i, false, &rxr[i])))
			return rc;
	}
	nf_txq_init(&q->tx, first, txb, txr, NF_TX_POOL, d->feat.sg);
	q->tx.lazy_events = true; /* nf_run reaps on every pass */
	nf_rxq_init(&q->rx, hv_guest_page(d->g, q->pfn + 1), rxb, rxr);
	rc = hv_guest_evtchn_alloc(d->g, d->backend_id, &q->port_tx);
	if (rc)
		return err_prefix(rc, "event channel");
	q->n_ports = 1;
	q->port_rx = q->port_tx;
	if (d->feat.split) {
		rc = hv_guest_evtchn_alloc(d->g, d->backend_id, &q->port_rx);
		if (rc)
			return err_prefix(rc, "event channel");
		q->n_ports = 2;
	}
	/* Buffers posted before the backend looks: it starts with a full
	 * RX ring, as after netfront's xennet_alloc_rx_buffers. */
	if (!d->no_rx_post)
		nf_rxq_refill(&q->rx);
	return 0;
}

/* The port queue 0's TX key names for a hostile case (see bad_evtchn):
 * one never allocated, one allocated for another domain than the
 * backend's, the largest 32-bit number. */
static int bad_port(struct nf_dev *d, struct nf_queue *q, uint32_t *port)
{
	int rc = 0;

	switch (d->bad_evtchn) {
	case NF_EVTCHN_UNBOUND:
		*port = q->port_tx + 40;
		break;
	case NF_EVTCHN_FOREIGN:
		rc = hv_guest_evtchn_alloc(d->g, (uint16_t)(d->backend_id + 100), port);
		break;
	case NF_EVTCHN_HUGE:
		*port = UINT32_MAX;
		break;
	default:
		*port = q->port_tx;
	}
	return rc;
}

static void queue_keys(struct nf_dev *d, struct nf_queue *q, const char *dir, struct kv *kv,
		       unsigned *n)
{
	uint32_t tx = q->port_tx;

	if (q == &d->q[0] && bad_port(d, q, &tx) < 0)
		log_warn("vif%u.%u: %s", d->domid, d->devid, err_msg()); /* then ours */
	kv_set(kv, n, dir, "tx-ring-ref", q->grefs[0]);
	kv_set(kv, n, dir, "rx-ring-ref", q->grefs[1]);
	if (q->n_ports == 2) {
		kv_set(kv, n, dir, "event-channel-tx", tx);
		kv_set(kv, n, dir, "event-channel-rx", q->port_rx);
	} else {
		kv_set(kv, n, dir, "event-channel", tx);
	}
}

static unsigned pick_queues(const struct nf_dev *d)
{
	unsigned n = d->want_queues ? d->want_queues : (unsigned)get_nprocs();

	/* xennet_max_queues defaults to the CPUs; the backend caps it; no
	 * multi-queue-max-queues key means one queue. */
	if (n > d->feat.max_queues)
		n = d->feat.max_queues;
	if (n > NF_MAX_QUEUES)
		n = NF_MAX_QUEUES;
	return n ? n : 1;
}

int nf_connect(struct nf_dev *d)
{
	struct kv kv[24];
	char dir[160];
	unsigned i, n = 0;
	int rc;

	nf_disconnect(d);
	read_features(d);
	if (!d->feat.rx_copy)
		return err_set(-EOPNOTSUPP, "backend does not support copying receive path");
	d->nq = pick_queues(d);
	for (i = 0; i < d->nq; i++) {
		rc = queue_setup(d, &d->q[i]);
		if (rc) {
			err_prefix(rc, "queue %u", i);
			goto fail;
		}
	}
	/* talk_to_netback: the queues' keys, then what we can do. */
	if (d->feat.max_queues)
		kv_set(kv, &n, d->fe, "multi-queue-num-queues", d->nq);
	if (d->nq == 1) {
		queue_keys(d, &d->q[0], d->fe, kv, &n);
	} else {
		rc = xs_write_batch(d, kv, n);	/* one batch per queue: ≤ 24 ops */
		n = 0;
		for (i = 0; !rc && i < d->nq; i++) {
			snprintf(dir, sizeof(dir), "%s/queue-%u", d->fe, i);
			queue_keys(d, &d->q[i], dir, kv, &n);
			rc = xs_write_batch(d, kv, n);
			n = 0;
		}
		if (rc)
			goto fail;
	}
	kv_set(kv, &n, d->fe, "request-rx-copy", 1);
	kv_set(kv, &n, d->fe, "feature-rx-notify", 1);
	kv_set(kv, &n, d->fe, "feature-sg", 1);
	/* --no-gso: as a guest with GSO off (ethtool -K eth0 gso off),
	 * the backend sends it frames only */
	kv_set(kv, &n, d->fe, "feature-gso-tcpv4", !d->no_gso);
	kv_set(kv, &n, d->fe, "feature-gso-tcpv6", !d->no_gso);
	kv_set(kv, &n, d->fe, "feature-ipv6-csum-offload", 1);
	rc = xs_write_batch(d, kv, n);
	if (rc)
		goto fail;
	d->connected = true;
	/* The backend reads our keys when it sees Connected: after them. */
	rc = nf_xs_write_state(d, XB_CONNECTED);
	if (rc)
		goto fail;
	log_info("vif%u.%u: rings granted, %u queue%s%s, waiting for the backend", d->domid,
		 d->devid, d->nq, d->nq > 1 ? "s" : "", d->feat.split ? ", split event channels" : "");
	return 0;
fail:
	nf_disconnect(d);
	return rc;
}

void nf_disconnect(struct nf_dev *d)
{
	unsigned i, k;

	if (!d->g)
		return;
	for (i = 0; i < NF_MAX_QUEUES; i++) {
		struct nf_queue *q = &d->q[i];

		for (k = 0; k < q->n_grefs; k++)
			if (hv_guest_revoke(d->g, q->grefs[k]))
				log_warn("vif%u.%u: revoke gref %u: %s", d->domid, d->devid,
					 q->grefs[k], err_msg());
		q->n_grefs = 0;
		if (q->n_ports >= 1)
			hv_guest_evtchn_close(d->g, q->port_tx);
		if (q->n_ports == 2)
			hv_guest_evtchn_close(d->g, q->port_rx);
		q->n_ports = 0;
	}
	if (d->connected)
		log_info("vif%u.%u: disconnected", d->domid, d->devid);
	d->connected = false;
	d->data_on = false;
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* "prepare for reconnect", unless reconnects keep failing: then later. */
static int reconnect(struct nf_dev *d)
{
	long now = now_ms();

	if (d->connected_at && now - d->connected_at >= BACKOFF_RESET_MS)
		d->backoff_ms = 0;
	d->connected_at = 0;
	if (now < d->reconnect_at) {
		d->reconnect_due = true;
		return 0;
	}
	d->reconnect_due = false;
	d->reconnect_at = now + d->backoff_ms;
	d->backoff_ms = d->backoff_ms ? d->backoff_ms * 2 : BACKOFF_MIN_MS;
	if (d->backoff_ms > BACKOFF_MAX_MS)
		d->backoff_ms = BACKOFF_MAX_MS;
	return nf_xs_write_state(d, XB_INITIALISING);
}

int nf_dev_timeout(const struct nf_dev *d)
{
	long left;

	if (!d->reconnect_due)
		return -1;
	left = d->reconnect_at - now_ms();
	return left < 0 ? 0 : (int)left;
}

/* ---- state machine ----
 *
 * As netfront's netback_changed, plus reconnects Linux leaves to a device
 * re-probe (hvsim has no bus to re-probe):
 *
 *   backend       frontend does
 *   Initialising  drop stale rings, go Initialising (a backend restarted)
 *   InitWait      grant rings, write keys, go Connected; if we are
 *                 Connected already (the backend restarted), keep the
 *                 rings: the backend resumes on them, as with Linux
 *   Connected     packets flow; if we have no rings (we restarted), Closing
 *   Closing       stop packets, go Closed
 *   Closed        revoke grants; go Initialising if `online` is still 1,
 *                 which netback takes as "prepare for reconnect" (after a
 *                 growing pause when the last attempt never got Connected)
 *   (gone)        revoke grants, wait for the vif to come back */
int nf_dev_step(struct nf_dev *d)
{
	int be = nf_xs_state(d, d->be);
	int fe = nf_xs_state(d, d->fe);
	int rc = 0;

	d->reconnect_due = false;	/* decided afresh below */

	if (be == XB_UNKNOWN || fe == XB_UNKNOWN) {
		if (d->connected)
			log_info("vif%u.%u: vif gone", d->domid, d->devid);
		nf_disconnect(d);
		d->be_was_connected = false;
		d->fe_state = fe;
		return 0;
	}
	switch (be) {
	case XB_INITIALISING:
		if (d->connected || fe != XB_INITIALISING) {
			nf_disconnect(d);
			rc = nf_xs_write_state(d, XB_INITIALISING);
		}
		break;
	case XB_INITWAIT:
		if (!d->connected || fe != XB_CONNECTED)
			rc = nf_connect(d);
		else if (d->be_was_connected)
			/* InitWait over our Connected: a backend restarted
			 * under us. As Linux netfront, keep the rings: it
			 * reads our keys and resumes on them. New rings
			 * here would race it: it may read the old keys
			 * first, and our Connected does not change. */
			log_info("vif%u.%u: backend restarted, keeping the rings", d->domid,
				 d->devid);
		d->be_was_connected = false;
		break;
	case XB_CONNECTED:
		if (!d->connected) {
			if (fe != XB_CLOSING && fe != XB_CLOSED)
				rc = nf_xs_write_state(d, XB_CLOSING);
			break;
		}
		if (!d->data_on) {
			log_info("vif%u.%u: connected", d->domid, d->devid);
			d->connected_at = now_ms();
		}
		d->data_on = true;
		d->be_was_connected = true;
		break;
	case XB_CLOSING:
		d->data_on = false;
		if (fe != XB_CLOSED)
			rc = nf_xs_write_state(d, XB_CLOSED);
		break;
	case XB_CLOSED:
		nf_disconnect(d);
		d->be_was_connected = false;
		if (fe != XB_CLOSED && fe != XB_INITIALISING)
			rc = nf_xs_write_state(d, XB_CLOSED);
		if (!rc && fe != XB_INITIALISING && xs_read_uint(d, d->be, "online", 0) == 1)
			rc = reconnect(d);
		break;
	default:
		break;
	}
	return rc;
}

int nf_wait_state(struct nf_dev *d, const char *dir, const int *states, unsigned n,
		  unsigned timeout_ms, int *got)
{
	long end = now_ms() + timeout_ms;

	for (;;) {
		struct pollfd p = { .fd = xsc_fd(d->xs), .events = POLLIN };
		struct xsc_event *ev;
		long left;
		unsigned i;
		int err = 0;

		*got = nf_xs_state(d, dir);
		for (i = 0; i < n; i++)
			if (*got == states[i])
				return 0;
		left = end - now_ms();
		if (left <= 0)
			return -ETIMEDOUT;
		if (!xsc_events_queued(d->xs) && poll(&p, 1, (int)left) < 0 && errno != EINTR)
			return -errno;
		while ((ev = xsc_event_next(d->xs, &err)))
			free(ev);
		if (err)
			return err;
	}
}

void nf_dev_shutdown(struct nf_dev *d)
{
	static const int closing[] = { XB_CLOSING, XB_CLOSED, XB_UNKNOWN };
	static const int closed[] = { XB_CLOSED, XB_UNKNOWN };
	int got;

	d->data_on = false;
	if (d->xs && nf_xs_state(d, d->fe) != XB_UNKNOWN) {
		/* xennet_remove: Closing, wait for the backend to let go,
		 * Closed, wait again; only then end foreign access. */
		if (!nf_xs_write_state(d, XB_CLOSING) &&
		    nf_wait_state(d, d->be, closing, 3, CLOSE_WAIT_MS, &got))
			log_warn("vif%u.%u: backend still %s after Closing", d->domid, d->devid,
				 nf_state_name(got));
		if (!nf_xs_write_state(d, XB_CLOSED) &&
		    nf_wait_state(d, d->be, closed, 2, CLOSE_WAIT_MS, &got))
			log_warn("vif%u.%u: backend still %s after Closed", d->domid, d->devid,
				 nf_state_name(got));
	}
	nf_disconnect(d);
}

void nf_queue_kick_tx(struct nf_dev *d, struct nf_queue *q)
{
	if (q->n_ports && hv_guest_evtchn_notify(d->g, q->port_tx))
		log_warn("vif%u.%u: notify port %u: %s", d->domid, d->devid, q->port_tx, err_msg());
}

void nf_queue_kick_rx(struct nf_dev *d, struct nf_queue *q)
{
	if (q->n_ports && hv_guest_evtchn_notify(d->g, q->port_rx))
		log_warn("vif%u.%u: notify port %u: %s", d->domid, d->devid, q->port_rx, err_msg());
}
