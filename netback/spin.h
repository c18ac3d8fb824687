/* spin: adaptive polling after packets, as Linux netback's NAPI, for both
 * consumers of the netif rings (vifback's workers, dpswitch). A pass that
 * moved packets opens a window of `us` microseconds in which the caller
 * keeps looking at its rings (and whatever else feeds it) instead of
 * sleeping: under a stream the next packets come within microseconds, and
 * a sleep and a wake-up per few packets cost more than the looks. While
 * a queue is polled its TX ring's req_event stays behind (tx_polling), so
 * the guest does not kick a backend that looks anyway; when the window
 * closes each such queue asks for an event again and is looked at once
 * more (netif_tx_arm), so a request that came meanwhile is served, not
 * left to an event that will not come.
 *
 * Only packets open a window: an idle vif, or a guest that kicks without
 * requests (XSA-391, nb_spurious_kick), never makes its backend poll, and
 * the window is bounded (NB_SPIN_US_MAX), so a backend sleeps at most `us`
 * after its last packet. */
#ifndef NETBACK_SPIN_H
#define NETBACK_SPIN_H

#include <stdbool.h>
#include <stdint.h>

#include "vif/netif.h"

#define NB_SPIN_US 50u	    /* the default window */
#define NB_SPIN_US_MAX 1000u /* what the environment may set, at most */

struct nb_spin {
	uint64_t us;	/* the window (0: never polls) */
	uint64_t until; /* the open window's end (nb_now_us), 0: none is open */
	uint64_t windows; /* windows opened (a counter for status and benches) */
};

/* What a pass does with the window. */
enum nb_spin_step {
	NB_SPIN_OFF,   /* none open: sleep when there is nothing to do */
	NB_SPIN_LOOK,  /* open: look at the polled queues (nb_spin_queue) without sleeping */
	NB_SPIN_CLOSE, /* it just closed: arm the polled queues (nb_spin_queue), then OFF */
};

/* s->us from PREFIX_SPIN_US (0..NB_SPIN_US_MAX microseconds) when it is
 * set, else NB_SPIN_US. 0, or -EINVAL with err_msg() naming the variable
 * and what it holds (s unchanged). */
int nb_spin_cfg_from_env(struct nb_spin *s, const char *prefix);
/* A pass moved packets at now: the window (re)opens until now + us.
 * Nothing when us is 0. */
void nb_spin_start(struct nb_spin *s, uint64_t now);
/* Where the window stands at now: LOOK while open, CLOSE once as it ends
 * (it is closed after), OFF otherwise. */
enum nb_spin_step nb_spin_step(struct nb_spin *s, uint64_t now);
static inline bool nb_spin_open(const struct nb_spin *s)
{
	return s->until != 0;
}
/* A queue polled in the window: its TX ring's req_event stays behind from
 * its next burst on. */
static inline void nb_spin_queue_poll(struct netif_queue *nq)
{
	nq->tx_polling = true;
}
/* A polled queue at step (LOOK: a look at its TX producer; CLOSE: it asks
 * for an event again and looks once more): true when TX requests wait,
 * which (at CLOSE) no event will announce. A fatal queue: false. */
bool nb_spin_queue(struct netif_queue *nq, enum nb_spin_step step);

#endif
