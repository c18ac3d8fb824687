/* hv_sim_evq: the ports that fired, taken from an event-channel epoll set
 * a batch at a time, for both ends of the simulated hypervisor (the
 * backend's hv_sim and the guest's hv_guest).
 *
 * Their callers drain the ports that fired one at a time until -EAGAIN,
 * after every wake-up: with one epoll_pwait per port that costs a system
 * call per port plus one that finds nothing. One epoll_pwait for up to
 * HV_SIM_EVQ_MAX ports serves the ports it found, and when it found fewer
 * than it could take, the -EAGAIN after them without another call: a
 * port that fires after that look stays readable in the epoll set, so
 * the caller's poll wakes up for it. */
#ifndef HV_SIM_EVQ_H
#define HV_SIM_EVQ_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>

#define HV_SIM_EVQ_MAX 16u

struct hv_sim_evq {
	struct epoll_event ev[HV_SIM_EVQ_MAX];
	unsigned n, next;
	bool dry; /* the last look found all there was */
};

/* The next port that fired (its epoll data), 0; -EAGAIN when none did;
 * -errno from epoll_pwait (not EINTR, which is -EAGAIN). */
static inline int hv_sim_evq_next(struct hv_sim_evq *q, int epfd, uint32_t *port)
{
	int n;

	if (q->next == q->n) {
		if (q->dry) {
			q->dry = false;
			return -EAGAIN;
		}
		/* epoll_pwait, not epoll_wait: one syscall for seccomp lists (hv.h) */
		n = epoll_pwait(epfd, q->ev, HV_SIM_EVQ_MAX, 0, NULL);
		if (n < 0)
			return errno == EINTR ? -EAGAIN : -errno;
		if (n == 0)
			return -EAGAIN;
		q->n = (unsigned)n;
		q->next = 0;
		q->dry = (unsigned)n < HV_SIM_EVQ_MAX;
	}
	*port = q->ev[q->next++].data.u32;
	return 0;
}

/* A port closed: what the last look found of it is not served. */
static inline void hv_sim_evq_forget(struct hv_sim_evq *q, uint32_t port)
{
	for (unsigned i = q->next; i < q->n; i++)
		if (q->ev[i].data.u32 == port)
			q->ev[i].data.u32 = UINT32_MAX;
}

#endif
