/* xs_client_tx: a transaction whose writes are made only if its reads pass
 * (see xsc_tx_write_if in xs_client.h). Apart from xs_client.c, and on its
 * public calls only, so a harness that fakes them runs this too. */
#include <errno.h>
#include <stdio.h>

#include "lib/err.h"
#include "lib/fault.h"
#include "lib/log.h"
#include "lib/xs_client.h"

/* One try: 0 committed, -EAGAIN a conflict, else as xsc_tx_write_if. */
static int try_once(struct xsc *c, struct xsc_op *ops, unsigned n, xsc_judge_fn *judge,
		    void *arg)
{
	uint32_t tx;
	int rc, end;

	rc = xsc_tx_start(c, &tx);
	/* xenstored answers ENOSPC there for its quota only: told apart
	 * from a write or a commit it refuses (the store full) */
	if (rc == -ENOSPC || rc == -EDQUOT)
		return err_set(-EDQUOT,
			       "xenstore: transaction start refused (%s): xenstored's quota of open "
			       "transactions",
			       rc == -ENOSPC ? "ENOSPC" : "EQUOTA");
	if (rc)
		return rc;
	rc = xsc_run_tx(c, tx, ops, n);
	/* the connection gone, the transaction with it; else a request
	 * refused before it was sent (-E2BIG), the transaction still open
	 * there, counting against the quota above until it is ended */
	if (rc && !xsc_broken(c)) {
		char msg[ERR_MSG_MAX];

		snprintf(msg, sizeof(msg), "%s", err_msg());
		if (xsc_tx_end(c, tx, false) < 0)
			log_warn("%s", err_msg());
		return err_set(rc, "%s", msg);
	}
	if (rc)
		return rc;
	rc = judge(ops, n, arg);
	xsc_ops_free(ops, n);
	/* tests: a conflict, as xenstored's (NETD_FAULT=xs-tx-conflict:N) */
	if (rc == 0 && FAULT_POINT("xs-tx-conflict") < 0) {
		end = xsc_tx_end(c, tx, false);
		return end < 0 ? end : err_set(-EAGAIN,
						"xenstore: transaction %u conflicted (fault injected)", tx);
	}
	/* commit only what the judge passed */
	end = xsc_tx_end(c, tx, rc == 0);
	if (end == -EAGAIN && rc == 0)
		return -EAGAIN;
	return end < 0 ? end : rc;
}

int xsc_tx_write_if(struct xsc *c, struct xsc_op *ops, unsigned n, unsigned tries,
		    xsc_judge_fn *judge, void *arg)
{
	int rc = -EAGAIN;

	for (unsigned t = 0; t < tries && rc == -EAGAIN; t++) {
		rc = try_once(c, ops, n, judge, arg);
		if (rc == -EAGAIN)
			log_debug("%s (try %u of %u)", err_msg(), t + 1, tries);
	}
	if (rc == -EAGAIN)
		return err_set(-EAGAIN, "xenstore: transaction conflicted %u times", tries);
	return rc;
}
