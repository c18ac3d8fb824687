/* netfront: the simulated guest's network frontend (`hvsim guest D.N`).
 *
 * As domain D (xenstore on hvsim's guest socket, memory and grants through
 * hv_guest) it runs the xenbus handshake with a vif backend the way Linux's
 * xen-netfront does, and moves the packets of a TAP `eth0` in network
 * namespace NS over real netif rings in its memory (nf_ring.h). The same
 * connection serves the hostile test frontend (nf_hostile.c), which writes
 * bad ring states instead of packets. */
#ifndef HV_SIM_NETFRONT_H
#define HV_SIM_NETFRONT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "hypervisor/sim/nf_ring.h"

#define NF_MAX_QUEUES		8u
#define NF_PAGES_PER_QUEUE	(2u + NF_TX_POOL + NF_RING_SIZE)	/* rings, TX and RX buffers */

struct hv_guest;
struct xsc;

struct nf_queue {
	unsigned idx;
	unsigned pfn;			/* first page: tx ring, rx ring, tx bufs, rx bufs */
	uint32_t grefs[NF_PAGES_PER_QUEUE];
	unsigned n_grefs;		/* granted so far (revoked on teardown) */
	uint32_t port_tx, port_rx;	/* equal unless split event channels */
	unsigned n_ports;
	struct nf_txq tx;
	struct nf_rxq rx;
	int tap_fd;			/* -1 in hostile mode */
};

/* What the backend offered (its directory's feature keys). */
struct nf_features {
	bool sg, gso4, gso6, ipv6_csum, split, rx_copy;
	unsigned max_queues;
};

struct nf_dev {
	uint16_t domid, devid, backend_id;
	char fe[96];			/* /local/domain/D/device/vif/N */
	char be[128];			/* its `backend` key */
	uint8_t mac[6];
	unsigned mtu;
	unsigned want_queues;		/* --queues, 0: as netfront (CPUs) */
	struct hv_guest *g;
	struct xsc *xs;
	struct nf_features feat;
	unsigned nq;			/* queues in use while connected */
	unsigned n_taps;		/* TAP queues opened (0 in hostile mode) */
	int tap_ifindex;
	int tap_fds[NF_MAX_QUEUES];
	struct nf_queue q[NF_MAX_QUEUES];
	bool connected;			/* rings granted and keys written */
	bool data_on;			/* backend Connected: packets flow */
	bool be_was_connected;
	int fe_state;			/* last state we wrote */
	bool no_gso;			/* --no-gso: feature-gso-tcpv4/v6 0 (no GSO received) */
	bool no_rx_post;		/* hostile: never post RX buffers */
	/* hostile: queue 0's (TX) event channel key names a port the backend
	 * cannot bind instead of ours */
	enum { NF_EVTCHN_OURS, NF_EVTCHN_UNBOUND, NF_EVTCHN_FOREIGN, NF_EVTCHN_HUGE } bad_evtchn;
	long reconnect_at;		/* ms (CLOCK_MONOTONIC): not before */
	unsigned backoff_ms;		/* grows while reconnects fail */
	long connected_at;		/* ms: when the backend last went Connected */
	bool reconnect_due;		/* a reconnect waits for reconnect_at */
	uint64_t tx_dropped, rx_dropped;
};

/* Connection to xenstore as D, reading the frontend's keys, guest memory. */
int nf_dev_open(struct nf_dev *d, uint16_t domid, uint16_t devid, unsigned want_queues);
void nf_dev_close(struct nf_dev *d);

/* xenstore helpers: read dir/key (0, -ENOENT, -errno); a state, 0 if gone. */
int nf_xs_read(struct nf_dev *d, const char *dir, const char *key, char *buf, size_t len);
int nf_xs_state(struct nf_dev *d, const char *dir);
int nf_xs_write_state(struct nf_dev *d, int state);

/* Grant rings and buffers, allocate ports, write the keys, go Connected (4)
 * as netfront's talk_to_netback does. */
int nf_connect(struct nf_dev *d);
/* Revoke every grant and close the ports (the backend has let go). */
void nf_disconnect(struct nf_dev *d);
/* One pass of the frontend's state machine against the backend's state
 * (netback_changed): connect, reconnect, close. */
int nf_dev_step(struct nf_dev *d);
/* How long the caller may sleep before calling nf_dev_step() again
 * (a delayed reconnect), -1: until xenstore says something. */
int nf_dev_timeout(const struct nf_dev *d);
/* Wait (bounded) for an xenstore watch event or fd activity; for loops that
 * only need the state machine (hostile mode, shutdown). */
int nf_wait_state(struct nf_dev *d, const char *dir, const int *states, unsigned n,
		  unsigned timeout_ms, int *got);
/* Closing, Closed, revoke: what SIGTERM does (xennet_remove). */
void nf_dev_shutdown(struct nf_dev *d);

/* Notify a queue's TX / RX channel. */
void nf_queue_kick_tx(struct nf_dev *d, struct nf_queue *q);
void nf_queue_kick_rx(struct nf_dev *d, struct nf_queue *q);

const char *nf_state_name(int state);

/* nf_hostile.c */
int nf_hostile_run(struct nf_dev *d, const char *name, unsigned wait_ms);
void nf_hostile_list(FILE *f);
bool nf_hostile_known(const char *name);

#endif
