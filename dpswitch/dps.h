/* dps: what dpswitch's parts share. dpswitch is a learning switch on DPDK
 * between guests' netif rings and DPDK ethdevs (NICs), in one process and
 * one thread:
 *
 *   main.c   EAL, the loop: bursts while there is work, sleeps when idle
 *   guest.c  guest ports: the xenbus handshake's steps (netback/, shared
 *            with vifback), rings mapped and bound (netback/rings.c, as
 *            vifback's workers) and served with vif/netif
 *   nic.c    NIC ports: every ethdev EAL probed (--vdev, a bound NIC)
 *   kport.c  kernel ports (--kernel-port IFACE): NIC ports on an interface
 *            the kernel keeps, through dpswitch's own AF_PACKET socket
 *            with virtio-net headers, so GSO packets cross it whole
 *   fwd.c    the switch: anti-spoofing (policy.c), learning and lookup
 *            (mac_table.c), flooding, per-port output queues
 *   ctl.c    the control socket: ports plugged and unplugged, status
 *
 * A port is a slot in one array, found by index (guest ports through
 * netback's hash of vifs, NIC ports by ethdev id); a slot given back goes
 * on a free list, which gives slots out before the array's untouched rest
 * (dps.nslots, the slots ever used), and the ports that are polled are a
 * dense array with each port's place in it, so adding or removing a port
 * is O(1) at any port count. The array is mapped, not written at start:
 * a slot's pages are backed only once it is first used, so the 4096
 * slots' 16 MiB cost an idle dpswitch nothing (a PV Dom0's memory is
 * scarce).
 *
 * A pass does not visit every port either: it polls the ready ones (NICs,
 * which have no events; guests whose event channel fired, until their ring
 * is empty and re-armed, or while they wait for credit) and flushes the
 * ones with frames queued. Both are dense arrays with each port's place
 * in them, so a thousand idle guests cost a pass nothing. */
#ifndef DPSWITCH_DPS_H
#define DPSWITCH_DPS_H

#include <poll.h>
#include <stdbool.h>
#include <stdint.h>

#include "dpswitch/mac_table.h"
#include "dpswitch/policy.h"
#include "dpswitch/tso.h"
#include "netback/netback.h"
#include "netback/rings.h"
#include "netback/spin.h"
#include "vif/netif.h"

#define DPS_MAX_PORTS 4096u
#define DPS_MAX_KPORTS 8u /* --kernel-port (kport.c) */
#define DPS_MAX_BRIDGES 16u /* --bridge: the networks served */
/* control clients served at once: netd holds one idle connection for each
 * network it serves through us (its watch, dpswitch/mode.c), so a client
 * each of those and 16 besides (netd's requests, netdctl, the metrics) */
#define DPS_CTL_CLIENTS (DPS_MAX_BRIDGES + 16u)
/* a control client that is not a watch (it sent {"cmd":"watch"}, as
 * netd's does) and says nothing this long is dropped
 * (DPSWITCH_CTL_IDLE_TIMEOUT_S; netd's own socket: CTL_IDLE_TIMEOUT_S):
 * stray tools that connect and say nothing would keep the places netd's
 * requests need */
#define DPS_CTL_IDLE_S 30u
/* local event channel ports mapped to switch ports: Xen's FIFO ABI has
 * 2^17; a port past it (never seen) keeps its switch port always ready */
#define DPS_EVTCHN_MAX (1u << 17)
#define DPS_BURST 32u
#define DPS_OUTQ 256u
/* bursts a pass takes from a guest's TX ring (as long as it has more) */
#define DPS_POLL_BURSTS 4u
/* a GSO packet's frames: 64 KiB at an MSS of 536 is 123 */
#define DPS_GSO_MAX_SEGS 128u
/* A NIC port takes GSO packets whole while fewer frames than this wait in
 * its queue: a whole one holds up to 32 mbufs, and a busy NIC's full queue
 * of them would empty the pool (--mbufs) that every port's RX draws on; past
 * it they are cut, one mbuf a frame, as for a port without TSO */
#define DPS_TSO_QUEUED 64u
/* a frame that waited this long for a guest's buffers is dropped, each on
 * its own clock (DPSWITCH_RX_DRAIN_MS; netback's rx_drain_timeout_msecs,
 * which expires each skb this long after it was queued, and vifback's
 * VIFBACK_RX_DRAIN_MS): a guest that stopped, paused, hung or crawls
 * gives the pool back its mbufs */
#define DPS_RX_DRAIN_MS 10000u
/* a guest whose next frame has not fit in its posted buffers for this
 * long, with none taken meanwhile, is stalled (DPSWITCH_RX_STALL_MS;
 * netback's rx_stall_timeout_msecs, whose carrier goes off then): frames
 * for it are dropped at once (stalled) until it posts buffers again */
#define DPS_RX_STALL_MS 60000u
/* the mbufs of the one pool every port draws on (--mbufs): the default
 * and the bounds (a mempool is best sized 2^n - 1) */
#define DPS_MBUFS 8191u
#define DPS_POOL_CACHE 256u /* mbufs per lcore cache */
#define DPS_MBUFS_MIN 1023u
#define DPS_MBUFS_MAX 1048575u
/* The drain reaches a guest that takes a frame now and then only as each
 * frame turns DPS_RX_DRAIN_MS old, and a few such guests would still empty
 * the pool meanwhile (a queue holds up to some 2,300 with whole GSO
 * packets). So half of it is kept: while fewer than
 * half of what it had free once the ports started (dps.pool_low: the NICs'
 * receive rings hold theirs for good) are free, a guest port's queue holds
 * at most DPS_HELD_LOW mbufs past what its ring has buffers for (that much
 * goes into it at the pass's flush), a frame past that dropped (pool_low).
 * Guests that stop or crawl pin half the pool and DPS_HELD_LOW each at most
 * (a stopped guest's ring, once full, has room for none); one that takes
 * its frames gets what its ring has room for. With many ports,
 * DPS_HELD_LOW each would add up past the half kept (one guest with 64
 * vifs, at the default size), so what a port holds without a look at the
 * pool is its share of a quarter of it: dps.held_share, at most
 * DPS_HELD_LOW, and a quarter stays free however many guests stop. */
#define DPS_HELD_LOW 128u
#define DPS_RX_LIN ((size_t)DPS_BURST * (NETIF_MAX_PKT + 1))
#define DPS_GSO_BUF (NETIF_MAX_PKT + DPS_GSO_MAX_SEGS * 256u) /* frames waiting for a port: a guest without buffers drops past it */

#define DPS_WHY_MAX 200u

struct rte_mbuf;
/* When a frame was queued for a guest (dps.now_ms, truncated to 32 bits),
 * for the drain (dps.rx_drain_us): each frame is dropped on its own clock.
 * Kept in the mbuf's own dynamic field (its offset: dps_queued_off, from
 * dps_queued_register), not in an array beside the port's queue, which
 * made every port 1 KiB larger; a frame flooded to several guests is
 * queued to each in the same pass, so one stamp serves all. Needs
 * <rte_mbuf_dyn.h>. */
extern int dps_queued_off;
#define DPS_QUEUED_MS(m) (*RTE_MBUF_DYNFIELD((m), dps_queued_off, uint32_t *))
int dps_queued_register(void);
struct rte_mempool;
struct hv;
struct dps_kport;

enum dps_drop {
	DPS_DROP_SPOOF_MAC,
	DPS_DROP_SPOOF_IP,
	DPS_DROP_SPOOF_ARP,
	DPS_DROP_SPOOF_ND,
	DPS_DROP_FORBIDDEN,
	DPS_DROP_MALFORMED,
	DPS_DROP_UNPLUGGED, /* to or from a port not (or no longer) in the switch */
	DPS_DROP_QUEUE_FULL,/* its output queue was full (guest without buffers, NIC busy) */
	DPS_DROP_NO_MBUF,   /* the mbuf pool was empty */
	DPS_DROP_OVERSIZE,  /* larger than an mbuf */
	DPS_DROP_RING,	    /* the ring refused it (netif's own drops and errors) */
	DPS_DROP_TX_ERROR,  /* the kernel refused it (a kernel port's send failed) */
	DPS_DROP_NO_BUFFERS, /* waited for the guest's buffers past the drain time */
	DPS_DROP_POOL_LOW,   /* for a guest whose queue held DPS_HELD_LOW mbufs, the pool low */
	DPS_DROP_STALLED,    /* for a guest stalled (no buffers for DPS_RX_STALL_MS) */
	DPS_DROP_COUNT
};

struct dps_counters {
	uint64_t rx_pkts, rx_bytes; /* into the switch from the port */
	uint64_t tx_pkts, tx_bytes; /* out of the switch to the port */
	uint64_t tx_tso; /* of tx_pkts: GSO packets the port's TSO cuts */
	uint64_t holds;	 /* reconnects held after a violation (netback's hold) */
	uint64_t spurious_events; /* the guest's kicks that moved no request producer */
	uint64_t stalls; /* times the guest stalled (DPS_RX_STALL_MS) */
	uint64_t drops[DPS_DROP_COUNT];
};

enum dps_port_kind { DPS_PORT_FREE, DPS_PORT_GUEST, DPS_PORT_NIC };

struct dps_gq {
	struct netif_queue *nq;
	struct nb_rings r; /* its pages and event channels */
	bool always_ready; /* an event channel past DPS_EVTCHN_MAX: polled each pass */
	uint64_t tx_wait_until; /* credit ran out */
	/* spurious kicks (netback/rings.h, XSA-391): its ports held masked
	 * until unmask_at (0: none is), the queue in dps.held meanwhile */
	struct nb_spurious sp;
	bool held_tx, held_rx;
	uint64_t unmask_at;
	/* since when (µs) the frame at the head of its output queue has not
	 * fit in the buffers it posted, the guest taking none (0: it took
	 * its frames). Kept while the queue empties by the drain, so that a
	 * guest that posts nothing stalls at its next frame, as netback's
	 * last_rx_time (XSA-392) */
	uint64_t rx_blocked_since;
	/* blocked for dps.rx_stall_us: frames for it are dropped, not
	 * queued, until it posts buffers again (netback's carrier off) */
	bool stalled;
};

struct dps_port {
	enum dps_port_kind kind;
	char name[16];
	/* guest: the network (--bridge) its vif's bridge= names, which
	 * status reports: netd unplugs only its own network's ports */
	const char *bridge;
	bool plugged;	/* added over the control socket: policy known */
	bool connected; /* guest: rings served; NIC: always */
	bool forwarding; /* plugged and connected: frames flow */
	int active;	/* place in dps.active[] (polled: NICs, guests with rings), -1: none */
	int ready;	/* place in dps.ready[] (polled this pass), -1: none */
	int dirty;	/* place in dps.dirty[] (frames queued), -1: none */
	unsigned next_free;
	struct dps_policy pol;
	/* the plug's "keys" as JSON (keys sorted), NULL while unplugged: its
	 * status shows them, so netd finds a port with keys it does not hold
	 * (a re-plug of a netd killed waiting, carried out late) */
	char *keys;
	/* guest: why its rings broke (netif's fatal reason), "" while they
	 * did not; a port in dps.broke till netback is told (guest.c) */
	char broke[DPS_WHY_MAX];
	struct dps_counters c;
	/* output queue, flushed after each pass; to a guest, each frame
	 * with when it was queued in the mbuf itself (DPS_QUEUED_MS) */
	struct rte_mbuf *outq[DPS_OUTQ];
	unsigned nout;
	unsigned held; /* guest: mbufs its queue holds (stale while nout is 0) */
	/* guest */
	struct nb_vif *vif;
	struct dps_gq q;
	/* NIC */
	uint16_t eth;
	struct dps_tso_caps tso; /* what it takes whole (all false: no TSO) */
	bool tx_prepare; /* offloads on: rte_eth_tx_prepare checks each burst */
	int wake_fd; /* readable when frames wait (af_packet's socket), -1: none */
	/* its socket was empty at the last look (a kernel port's recvmmsg
	 * took less than it asked for, or the loop's ppoll saw it not
	 * readable): a pass reads it only once another port gave frames
	 * (main.c's pass) */
	bool quiet;
	struct dps_kport *kp; /* a kernel port's socket and buffers (kport.c), NULL: an ethdev */
};

struct dps {
	struct nb_back nb;
	struct hv *hv;
	const char *hv_kind;
	struct rte_mempool *pool;
	unsigned mbufs; /* its size */
	/* half of what it had free once the ports started (DPS_HELD_LOW):
	 * not half its size, which NIC rings holding half of it (an AF_XDP
	 * port's 2048 of --mbufs 4095) would make a pool low for ever */
	unsigned pool_low;
	/* what a port's queue holds without a look at the pool: pool_low
	 * shared by twice the forwarding ports, DPS_HELD_LOW at most
	 * (dps_held_share) */
	unsigned held_share;
	struct dps_port *ports;	  /* DPS_MAX_PORTS, mapped: untouched past nslots */
	uint32_t gen[DPS_MAX_PORTS]; /* per port, bumped when it goes (mac_table.h) */
	uint32_t ports_gone; /* bumped with any of them */
	unsigned nslots;	  /* slots ever given out: ports[0..nslots) */
	unsigned free_head;	  /* a slot given back, DPS_MAX_PORTS: none */
	uint16_t active[DPS_MAX_PORTS]; /* polled ports */
	unsigned nactive;
	uint16_t ready[DPS_MAX_PORTS]; /* polled in the next pass */
	unsigned nready;
	uint16_t dirty[DPS_MAX_PORTS]; /* with frames in their output queue */
	unsigned ndirty;
	uint16_t held[DPS_MAX_PORTS]; /* guests whose ports are held masked (sp) */
	unsigned nheld;
	uint64_t held_next; /* the soonest unmask_at of those (0: none) */
	uint16_t *evport; /* DPS_EVTCHN_MAX: local event channel -> port + 1 */
	uint64_t taken;	  /* frames taken from any port */
	/* frames given to a port from its output queue: a pass that took
	 * none and gave none was idle (a guest's queue that waited for its
	 * buffers and went into them moved frames, as vifback's worker
	 * counts its backlog's) */
	uint64_t sent;
	/* adaptive polling after packets (netback/spin.h, main.c's loop):
	 * guests polled in a window keep their TX req_event behind and stay
	 * ready until it closes (dps_guest_arm) */
	struct nb_spin spin;
	/* a guest port polled this pass has TX requests left (its ring's
	 * final check found some: no event announces them) */
	bool guest_more;
	uint64_t sleeps; /* the loop's waits in ppoll (status) */
	/* guest ports whose rings broke in a pass, netback not told yet
	 * (their broke says why): dps_guest_broke_tell, outside passes */
	uint16_t broke[DPS_MAX_PORTS];
	unsigned nbroke;
	/* events left to read: dps_guest_events stopped at DPS_EV_MAX, in
	 * the loop or in a wait for xenstored (main.c's xs_wait), whose
	 * ports the hypervisor layer may hold unseen by poll: whichever
	 * looks next reads them, and does not sleep first */
	bool ev_more;
	unsigned nfwd; /* forwarding ports */
	struct dps_mac_table macs;
	const char *const *bridges; /* the networks whose vifs we serve */
	unsigned nbridges;
	struct netif_tx_arena arena;
	/* kernel ports with GSO packets in the arena queued (guest.c): sent
	 * as the burst ends (dps_kport_settle), before the arena's next */
	uint16_t arena_out[DPS_MAX_KPORTS];
	unsigned narena_out;
	struct netif_pkt pkts[DPS_BURST];
	uint8_t *gso_buf; /* DPS_GSO_BUF: one GSO packet's frames */
	uint8_t *rx_lin;  /* DPS_RX_LIN: a burst of GSO packets to a guest, each in one piece */
	/* the GSO packet handed whole into dps_fwd (guest.c), while it is
	 * there: cut from it for a port that cannot take it whole */
	const struct netif_pkt *gso_pkt;
	struct dps_gso_hdr gso_hdr;
	uint64_t now_us, now_ms; /* at the start of the pass */
	uint64_t rx_drain_us;	 /* DPS_RX_DRAIN_MS unless the environment says */
	uint64_t rx_stall_us;	 /* DPS_RX_STALL_MS unless the environment says */
	/* the pool's free mbufs at pool_at (now_us), less what was admitted
	 * since past a port's held_share (dps_guest_admits): read once a
	 * pass, only for a guest port past its share, and again before a
	 * frame is refused if anything was counted since (frees are not) */
	unsigned pool_free;
	unsigned pool_read; /* what the pool said at pool_at's read */
	uint64_t pool_at;
	/* the frame dps_fwd floods, one mbuf every port's queue takes a
	 * reference to, and whether what it costs the pool is counted in
	 * pool_free yet: once, however many guests it goes to past their
	 * share (dps_guest_admits) */
	const struct rte_mbuf *flood;
	bool flood_counted;
	uint64_t flooded;
};

/* ports (fwd.c) */
int dps_port_alloc(struct dps *d, enum dps_port_kind kind, const char *name);
void dps_port_free(struct dps *d, unsigned idx);
/* Polled while its rings are served (NICs always); forwarding when also
 * plugged. Unplugged with rings, a guest's frames are taken and dropped
 * (counted "unplugged"), so its ring never stalls behind them. */
void dps_port_update(struct dps *d, unsigned idx);
/* Into (out of) the ports the next pass polls. */
void dps_port_ready(struct dps *d, unsigned idx);
void dps_port_unready(struct dps *d, unsigned idx);
/* Frames into the switch from port in (mbufs owned by the switch now). */
void dps_fwd(struct dps *d, unsigned in, struct rte_mbuf **m, unsigned n);
/* Out queues to their ports (the dirty ones); true when something is
 * still queued. */
bool dps_flush(struct dps *d);
void dps_drop(struct dps_port *p, enum dps_drop why, struct rte_mbuf *m);
const char *dps_drop_name(enum dps_drop why);

/* guest ports (guest.c) */
extern const struct nb_ops dps_nb_ops;
/* TX rings into the switch; true when the port is to be polled again
 * (its ring has more, or it waits for credit), false when its ring is
 * empty and re-armed: the guest's next request comes with an event. */
bool dps_guest_poll(struct dps *d, unsigned idx);
/* True when guest port idx takes the GSO packet h (from a NIC port) whole
 * at mss: its frontend asked for that GSO type (and for SG), the packet
 * fits netif's, its IP length is its own, and fewer than DPS_TSO_QUEUED
 * frames wait for it. */
bool dps_guest_takes_gso(const struct dps *d, unsigned idx, const struct dps_gso_hdr *h,
			 uint16_t mss, uint32_t len);
/* True when guest port idx may queue m, whose queueing takes more
 * mbufs of the pool (DPS_HELD_LOW); m NULL: not a frame dps_fwd floods. */
bool dps_guest_admits(struct dps *d, unsigned idx, const struct rte_mbuf *m, unsigned more);
/* A stalled guest port idx (its frames dropped) that posted buffers
 * again is ready: not stalled any more. false while it stays stalled, or
 * when its ring proved broken (the port left the switch: not
 * forwarding). */
bool dps_guest_ready(struct dps *d, unsigned idx);
/* held_share again: pool_low or the forwarding ports changed. */
void dps_held_share(struct dps *d);
/* Queued frames into the guest's RX ring; drops what it cannot take. */
void dps_guest_flush(struct dps *d, unsigned idx);
/* Events: drained, their ports made ready, unmasked (or held masked a
 * while when a guest's kicks bring nothing: netback/rings.h's
 * nb_spurious_kick); up to DPS_EV_MAX, true when it stopped there (look
 * again before sleeping). */
#define DPS_EV_MAX 4096u
bool dps_guest_events(struct dps *d);
/* netback told of the rings that broke in passes since (nb_vif_broke:
 * error node, Closing, the reconnect held). Never from a pass: its
 * xenstore requests may wait, and frames are forwarded meanwhile
 * (main.c's xs_wait), by passes that must not run inside one. */
void dps_guest_broke_tell(struct dps *d);
/* The ports held masked whose time is up unmasked, their guests polled. */
void dps_guest_unhold(struct dps *d, uint64_t now_us);
/* A GSO packet (pkt/plen, gso_type XEN_NETIF_GSO_TYPE_*, mss) cut into
 * frames (gso.c), the mbufs into m (DPS_GSO_MAX_SEGS); their count, 0 when
 * none could be made (counted on port idx). */
unsigned dps_gso_cut(struct dps *d, unsigned idx, const uint8_t *pkt, uint32_t plen,
		     uint8_t gso_type, uint16_t mss, struct rte_mbuf **m);
/* The GSO packet dps_fwd has whole (d->gso_pkt) cut into frames, the
 * mbufs into m (DPS_GSO_MAX_SEGS); their count, 0 when none could be made
 * (counted on port in). */
unsigned dps_guest_gso_cut(struct dps *d, unsigned in, struct rte_mbuf **m);
/* The window of polling closed, or none is open: each guest port polled
 * with its req_event behind asks for an event again and is looked at once
 * more (nb_spin_queue); those with nothing waiting leave the ready ports.
 * True when one has TX requests that no event will announce (poll again
 * before sleeping). */
bool dps_guest_arm(struct dps *d);
/* Microseconds until a rate-limited ring may send again, or a port held
 * masked is unmasked (0: none waits). */
uint64_t dps_guest_wait_us(struct dps *d, uint64_t now_us);

/* NIC ports (nic.c): always ready (no events) */
/* d->pool, d->mbufs of them (see nic.c for its layout); -errno with
 * err_msg(). */
int dps_pool_create(struct dps *d);
int dps_nic_setup(struct dps *d);
void dps_nic_poll(struct dps *d, unsigned idx);
void dps_nic_flush(struct dps *d, unsigned idx);
void dps_nic_stop(struct dps *d);

/* kernel ports (kport.c): NIC ports (dps_nic_* hand them over) on an
 * interface the kernel keeps, through our own AF_PACKET socket */
int dps_kport_setup(struct dps *d, const char *ifname);
void dps_kport_poll(struct dps *d, unsigned idx);
void dps_kport_flush(struct dps *d, unsigned idx);
void dps_kport_stop(struct dps *d);
/* A GSO packet's mbufs in the TX arena (external buffers, DPS_EXT_CHUNK
 * each) are queued on kernel port idx: sent now, or dropped (queue_full)
 * if they must wait (the arena's next burst overwrites them). */
#define DPS_EXT_CHUNK 32768u
void dps_kport_settle(struct dps *d, unsigned idx);

/* plugs kept across a restart (plugs.c): --state FILE */
int dps_plugs_load(const char *path);
/* req: the port-add request (JSON) to keep, NULL: the port-del. */
int dps_plugs_record(uint32_t domid, uint32_t devid, const char *req);
const char *dps_plugs_find(uint32_t domid, uint32_t devid);
/* fn for each record kept (none without --state). */
void dps_plugs_foreach(void (*fn)(uint32_t domid, uint32_t devid, void *arg), void *arg);

/* control (ctl.c) */
/* idle_us: how long a client that is not a watch may say nothing. */
int dps_ctl_open(const char *path, uint64_t idle_us);
/* Serves what the listening socket and its clients have (never waits). */
void dps_ctl_run(struct dps *d, int lfd);
/* A vif just probed: plug it again as its kept record says (plugs.c). */
void dps_ctl_replug(struct dps *d, struct nb_vif *v);
int dps_ctl_fds(int lfd, struct pollfd *pfd, unsigned max);
/* How long until a client that reads nothing of its reply, or one that
 * is not a watch and says nothing, is due to be dropped (0: now;
 * UINT64_MAX: none is), for the loop's sleep. */
uint64_t dps_ctl_wait_us(uint64_t now_us);

#endif
