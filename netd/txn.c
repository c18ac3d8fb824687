/* txn: the one way a mode applies a network, all or nothing (see txn.h). */
#include "netd/txn.h"

#include <stdio.h>

#include "lib/err.h"
#include "lib/fault.h"
#include "lib/log.h"

int netd_txn_steps(struct netd_net *net, const struct netd_txn *t, void *ctx, bool faults)
{
	const char *const *names = net->ops->steps(&net->conf);
	int rc;

	for (size_t i = 0; names[i]; i++) {
		rc = faults ? fault_check(names[i]) : 0;
		if (rc == 0)
			rc = t->run(net, ctx, i);
		if (rc)
			return err_prefix(rc, "step %s", names[i]);
	}
	return 0;
}

int netd_txn_repair(struct netd_net *net, const struct netd_txn *t, const struct netd_repair *r,
		    void *ctx)
{
	const char *name = net->conf.name;
	int rc;

	rc = t->undo(net, ctx);
	if (rc == 0)
		rc = fault_check(r->step); /* tests: restored, not yet applied */
	if (rc)
		return err_prefix(rc, "%s: cannot repair the %s setup; `netdctl down %s` restores %s",
				  name, net->ops->name, name, r->restores);
	rc = r->prepare ? r->prepare(net, ctx) : 0;
	if (rc)
		return err_prefix(rc, "%s: not applied again, %s is as before the network was up",
				  name, r->restores);
	return netd_txn_apply(net, t, ctx);
}

int netd_txn_apply(struct netd_net *net, const struct netd_txn *t, void *ctx)
{
	char msg[ERR_MSG_MAX];
	int rc;

	/* Record the undo information before the first change. */
	rc = net->checkpoint(net, "applying");
	if (rc == 0)
		rc = netd_txn_steps(net, t, ctx, true);
	if (rc == 0 && t->done)
		t->done(net, ctx);
	if (rc == 0) /* tests: the checkpoint refused (a full disk) after done */
		rc = FAULT_POINT("txn-applied");
	if (rc == 0)
		rc = net->checkpoint(net, "applied");
	if (rc == 0)
		return 0;
	snprintf(msg, sizeof(msg), "%s", err_msg());
	/* tests: an undo that does not complete (txn-undo, with the step
	 * that fails: NETD_FAULT=create-bridge,txn-undo) */
	if (FAULT_POINT("txn-undo") || t->undo(net, ctx)) {
		char why[ERR_MSG_MAX];

		/* copied: err_set() writes the buffer err_msg() reads */
		snprintf(why, sizeof(why), "%s", err_msg());
		log_err("%s: rollback incomplete: %s", net->conf.name, why);
		net->undo_incomplete = true;
		return err_set(rc, "%s: %s (rollback incomplete: %s)", net->conf.name, msg, why);
	}
	return err_set(rc, "%s: %s (host restored)", net->conf.name, msg);
}
