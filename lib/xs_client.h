/* xs_client: a xenstore client that sends a batch of requests at once and
 * never waits past a deadline.
 *
 * Why not libxenstore: it sends one request and waits for its reply, under a
 * mutex, with a handful of syscalls and a SIGPIPE dance around each; with a
 * watch registered it reads on a thread of its own. A vif's backend
 * directory is a dozen keys: a dozen round trips, most of a no-fork plug.
 * And it has no timeouts: a xenstored that stops answering stalls its
 * caller for ever. Here a batch (read every key of a vif) is one write and
 * the replies come back together; every wait is bounded; watch events that
 * arrive among the replies are queued for the caller's event loop.
 *
 * Transport as libxenstore picks it: $XENSTORED_PATH, else
 * $XENSTORED_RUNDIR/socket, else /var/run/xenstored/socket; a path that is
 * not a socket (or no socket at all) is the xenbus device /dev/xen/xenbus,
 * which takes one message per write and gets one request in flight. */
#ifndef LIB_XS_CLIENT_H
#define LIB_XS_CLIENT_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/xs_wire.h"

struct xsc;

/* One request of a batch. type: XS_MSG_READ, DIRECTORY, WRITE, RM, WATCH,
 * UNWATCH, DIRECTORY_PART (TRANSACTION_START and _END: xsc_tx_start and
 * xsc_tx_end; a listing of any size: xsc_list). arg: WRITE's value (vlen
 * bytes, no NUL needed), WATCH/UNWATCH's token, DIRECTORY_PART's offset;
 * NULL otherwise. Out: err is 0 or -errno from xenstored's ERROR
 * reply (-ENOENT: no such node); reply is the payload with a NUL appended
 * (DIRECTORY: names separated by NULs), len its length; free with
 * xsc_ops_free(). */
struct xsc_op {
	uint32_t type;
	const char *path;
	const char *arg;
	unsigned vlen;
	int err;
	char *reply;
	unsigned len;
};

/* A watch event: path and token point into the same allocation; free(ev). */
struct xsc_event {
	struct xsc_event *next;
	const char *path, *token;
};

/* Connects (see above). timeout_ms bounds every later wait for a batch. */
int xsc_open(struct xsc **out, unsigned timeout_ms);
void xsc_close(struct xsc *c);
/* Every wait ends within ms from now, whatever is left of a batch's
 * timeout: a caller with a bound of its own (a hotplug script, killed by
 * libxl at 40 s) has it hold across transactions retried and batches in
 * turn, each of which would wait the whole timeout. A batch cut short is
 * -ETIMEDOUT, "no reply within <what was left> ms", as any timeout; one
 * begun past it looks at the socket once. */
void xsc_deadline(struct xsc *c, unsigned ms);
/* For an event loop: readable when watch events (or stray bytes) arrive;
 * -1 after xsc_hangup() (poll() skips it). */
int xsc_fd(const struct xsc *c);
/* While a batch waits for xenstored (its replies, or room for its
 * requests), the caller's own work goes on: fn(arg, fd, events, ms) is
 * called instead of poll(2) on the connection's fd. It waits at most ms
 * (0: only a look) for events on fd, doing whatever it must meanwhile,
 * and returns > 0 when fd is ready, 0 when it is not (yet: it may return
 * sooner than ms, the batch's deadline is kept here), or -errno (-EINTR:
 * looked at again). It must not use this connection: a batch is in the
 * middle of it. dpswitch forwards its guests' frames there, so that a
 * xenstored that hangs does not stop them (docs/dpswitch.md). NULL:
 * poll(2), as before the hook. */
typedef int xsc_wait_fn(void *arg, int fd, short events, int ms);
void xsc_wait_hook(struct xsc *c, xsc_wait_fn *fn, void *arg);
/* Lets go of a connection's socket (xenstored drops our watches and
 * transactions with it) but keeps the object: every later call fails at
 * once with the error that broke it (-ENOTCONN if none did), so code that
 * holds it needs no check of its own while a new one is opened. */
void xsc_hangup(struct xsc *c);

/* Sends ops[0..n) and waits for every reply. 0: each op has its err/reply.
 * -errno (and err_msg()): the connection is unusable (-ETIMEDOUT: no reply
 * within the timeout, -ECONNRESET, -EPROTO: a reply that answers nothing);
 * close it (later batches on it fail at once). */
int xsc_run(struct xsc *c, struct xsc_op *ops, unsigned n);
void xsc_ops_free(struct xsc_op *ops, unsigned n);

/* Transactions, as xenstored keeps them: xsc_tx_start() gets an id, any
 * number of batches run in it (xsc_run_tx: every request carries the id),
 * xsc_tx_end() commits (or aborts) them all at once. A transaction is
 * start + batch + end: three round trips, a batch still one write (the
 * device: one request at a time, as always). Its writes are seen by no
 * one else before the commit, and their watch events fire then; a node
 * it read that someone else changes (or removes) before the commit makes
 * the commit fail: nothing written, start again.
 *
 * xsc_tx_start: 0 and *tx (never 0), or -errno: xenstored's refusal
 * (-ENOSPC, too many transactions: C xenstored's quota, never Dom0's;
 * -EDQUOT: oxenstored's EQUOTA; the connection still serves) or the
 * connection's failure, as xsc_run's.
 * xsc_run_tx: xsc_run in transaction tx (0: none, which is xsc_run).
 * xsc_tx_end: 0 committed (or aborted, commit false); -EAGAIN: a conflict,
 * nothing committed, the id gone: start again; any other -errno as
 * xsc_tx_start's. The id is gone after either. */
int xsc_tx_start(struct xsc *c, uint32_t *tx);
int xsc_run_tx(struct xsc *c, uint32_t tx, struct xsc_op *ops, unsigned n);
int xsc_tx_end(struct xsc *c, uint32_t tx, bool commit);

/* Writes made only if what the same transaction reads passes (a
 * directory still there, a key still as it was): ops[0..n), its reads
 * and writes in order, run as one batch in a new transaction; then
 * judge(ops, n, arg) looks at their replies: 0 commits, anything else
 * aborts and is returned as it is (> 0: the caller's reason for writing
 * nothing; -errno with err_msg()). A commit that conflicts (someone
 * changed what it read) runs the whole again, tries times at most; the
 * judge sees each try's replies, which are freed after it.
 *
 * 0: committed. -EAGAIN: a conflict every time. -EDQUOT: xenstored
 * refused to start a transaction (ENOSPC, or oxenstored's EQUOTA: its
 * quota of open ones reached), nothing sent; the connection still
 * serves, try again later. Any other -errno: xsc_run_tx's or
 * xsc_tx_end's (a commit refused, or the connection's failure).
 * In lib/xs_client_tx.c, on the calls above only (a fake of them, as
 * fuzz_nb_xenbus's, runs it too). */
typedef int xsc_judge_fn(const struct xsc_op *ops, unsigned n, void *arg);
int xsc_tx_write_if(struct xsc *c, struct xsc_op *ops, unsigned n, unsigned tries,
		    xsc_judge_fn *judge, void *arg);

/* The names under path, however many: a DIRECTORY request, and when
 * xenstored answers E2BIG (more than its 4096-byte payload: the backend
 * root of some 700 domains with vifs) DIRECTORY_PART requests, as
 * libxenstore's xs_directory() falls back, a chunk of names each, in
 * transaction tx (0: none). A chunk of another generation than the
 * first's (the directory changed meanwhile) starts the listing again, 8
 * times at most. Returns and fills *op as xsc_run does one DIRECTORY op
 * (err, reply: names separated by NULs, len), op->err also -EAGAIN (it
 * changed every time), -EPROTO (a chunk not understood) or -E2BIG (a
 * xenstored without DIRECTORY_PART). In lib/xs_client_dir.c, on
 * xsc_run_tx only. */
int xsc_list(struct xsc *c, uint32_t tx, const char *path, struct xsc_op *op);

/* The next watch event: queued ones first, else whatever the socket holds
 * now (never waits). NULL with *err 0: none; NULL with *err < 0: the
 * connection is gone. */
struct xsc_event *xsc_event_next(struct xsc *c, int *err);
/* Events queued by xsc_run(): the fd may not be readable for them. */
bool xsc_events_queued(const struct xsc *c);
/* The error that made the connection unusable (every failure of the
 * connection does: lost, timed out, a reply not understood), 0 while it
 * serves: an error a call returned with 0 here is xenstored's answer to
 * a request (a refusal: EACCES, ENOSPC, ...), not xenstore gone. */
int xsc_broken(const struct xsc *c);

#endif
