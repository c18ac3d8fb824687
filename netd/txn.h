/* txn: the one way a mode applies a network, all or nothing.
 *
 * Every mode's up is the same transaction: record the undo information
 * (the "applying" checkpoint: the state file is the undo log a crashed netd
 * finds), run the named steps in order, each behind its fault point
 * (lib/fault.h; the names are the mode's ops->steps, so what the tests can
 * inject and what runs are one list), then the "applied" checkpoint. Any
 * failure runs the mode's one undo path, which takes the host back from
 * whatever step was reached, and the error says so. */
#ifndef NETD_TXN_H
#define NETD_TXN_H

#include <stdbool.h>
#include <stddef.h>

#include "netd/mode.h"

struct netd_txn {
	/* Step i of net->ops->steps(&net->conf): 0 or -errno with err_msg(). */
	int (*run)(struct netd_net *net, void *ctx, size_t i);
	/* Optional: every step done, before the "applied" checkpoint (for
	 * what the mode's save() needs to know). */
	void (*done)(struct netd_net *net, void *ctx);
	/* The mode's one undo path: idempotent, whatever step was reached. */
	int (*undo)(struct netd_net *net, void *ctx);
};

/* Checkpoint "applying", every step, checkpoint "applied". On failure the
 * host is restored by t->undo and the error reads "<net>: step <name>:
 * <why> (host restored)"; an undo that fails is logged as "rollback
 * incomplete", sets net->undo_incomplete, and the error ends "(rollback
 * incomplete: <why>)" instead. What the mode holds in memory is its own
 * to free. */
int netd_txn_apply(struct netd_net *net, const struct netd_txn *t, void *ctx);

/* Up of a network that is up whose setup was damaged behind netd's back,
 * the same for every mode that repairs (bridge, nat, ovs). */
struct netd_repair {
	/* its fault point, FAULT_DECLARE()d "<mode>-repair": restored, not applied */
	const char *step;
	const char *restores; /* what `down` restores, for the errors: "eth0", "the host" */
	/* Optional: after the restore, before the setup is applied again
	 * (the names to apply checked, a run directory made again). */
	int (*prepare)(struct netd_net *net, void *ctx);
};

/* The host goes back to what the record of the first up says (t->undo),
 * then the same setup is applied again (netd_txn_apply), whose t->done
 * plugs the remembered vifs again before the `applied` checkpoint (a
 * netd killed meanwhile leaves `applying`: the next rolls back and
 * applies again). Nothing is applied over a host the restore did not finish.
 * Whatever fails, the record stays: `down`, SIGTERM and the next netd
 * restore the host from it, and the error says so. */
int netd_txn_repair(struct netd_net *net, const struct netd_txn *t, const struct netd_repair *r,
		    void *ctx);

/* The steps alone, no checkpoint, no undo (a mode repairing or adopting a
 * setup); faults: whether the fault points are live. A failure reads
 * "step <name>: <why>". */
int netd_txn_steps(struct netd_net *net, const struct netd_txn *t, void *ctx, bool faults);

#endif
