/* spinpoll: poll() that, for a few microseconds after its caller moved
 * packets, looks without sleeping before it sleeps, and only while no
 * other process waits for a CPU.
 *
 * Why: a packet path of two processes (vifback's worker, the simulated
 * netfront) carrying a TCP stream gets its next frames microseconds after
 * the last. Sleeping in between costs the sleeper a context switch and its
 * peer a wake-up, which on a virtualised host goes through the hypervisor
 * (an idle vCPU halted, an IPI to wake it): the two readers slept once per
 * 4-9 frames of 64 KiB, and a wake-up cost about what a copy of the frame
 * does. A look caught in time costs neither.
 *
 * Bounded: it spins only when armed (spinpoll_moved(), after a pass of a
 * stream that moved packets), for SPINPOLL_US at most, so an idle process never
 * spins; and only while the processes that can run are no more than the
 * CPUs (/proc/loadavg), since spinning on a CPU another process waits for
 * takes it from that process, which may be the very peer it waits for;
 * once a look took long (another process had the CPU), it sleeps. */
#ifndef LIB_SPINPOLL_H
#define LIB_SPINPOLL_H

#include <poll.h>
#include <stdint.h>

struct spinpoll {
	int loadavg; /* /proc/loadavg, or -1: never spin */
	unsigned ncpu;
	uint64_t until; /* armed: spin until then (CLOCK_MONOTONIC, us); 0: not */
	uint64_t big_at; /* when a pass last moved SPINPOLL_MIN_BYTES */
};

/* Opens what it needs (before a seccomp filter: afterwards it only reads,
 * with pread). Without /proc, or with NETD_NO_SPIN set in the environment
 * (to measure what spinning is worth), it never spins. */
void spinpoll_init(struct spinpoll *s);
void spinpoll_close(struct spinpoll *s);

/* A pass moved `bytes` (both ways): the next spinpoll_poll() may spin
 * for SPINPOLL_US while a stream flows, i.e. while a pass moved
 * SPINPOLL_MIN_BYTES or more within SPINPOLL_STREAM_US (a stream's
 * passes alternate between its data and its ACKs: both are followed by
 * a look). A flood of small frames never arms it: it has a burst waiting
 * whenever it looks, and its readers spinning would only take CPU from
 * its sender and from each other. */
#define SPINPOLL_US 30u
#define SPINPOLL_MIN_BYTES 32768u
#define SPINPOLL_STREAM_US 1000u
void spinpoll_moved(struct spinpoll *s, uint64_t bytes);

/* poll(p, n, timeout), after spinning when armed (and timeout is not 0);
 * disarms. Returns what poll() returns. */
int spinpoll_poll(struct spinpoll *s, struct pollfd *p, unsigned n, int timeout);

#endif
