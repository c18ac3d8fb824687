/* spinpoll: a bounded look before sleeping (see spinpoll.h). */
#include "lib/spinpoll.h"

#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* a look that took longer than this: the process lost its CPU meanwhile */
#define SPINPOLL_LOST_US 10u

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

void spinpoll_init(struct spinpoll *s)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	memset(s, 0, sizeof(*s));
	s->ncpu = n > 0 ? (unsigned)n : 1;
	s->loadavg = -1;
	/* to measure what the spin is worth, with the same build */
	if (getenv("NETD_NO_SPIN"))
		return;
	s->loadavg = open("/proc/loadavg", O_RDONLY | O_CLOEXEC);
}

void spinpoll_close(struct spinpoll *s)
{
	if (s->loadavg >= 0)
		close(s->loadavg);
	s->loadavg = -1;
}

void spinpoll_moved(struct spinpoll *s, uint64_t bytes)
{
	uint64_t now;

	if (!bytes)
		return;
	now = now_us();
	if (bytes >= SPINPOLL_MIN_BYTES)
		s->big_at = now;
	if (s->big_at && now - s->big_at <= SPINPOLL_STREAM_US)
		s->until = now + SPINPOLL_US;
}

/* Whether every process that can run has a CPU: /proc/loadavg's fourth
 * field, "running/total", counts the runnable ones, this one included. */
static bool cpus_to_spare(const struct spinpoll *s)
{
	char buf[128], *p;
	ssize_t len = pread(s->loadavg, buf, sizeof(buf) - 1, 0);
	unsigned long running;

	if (len <= 0)
		return false;
	buf[len] = '\0';
	p = buf;
	for (int field = 0; field < 3; field++) {
		p = strchr(p, ' ');
		if (!p)
			return false;
		p++;
	}
	running = strtoul(p, NULL, 10);
	return running >= 1 && running <= s->ncpu;
}

int spinpoll_poll(struct spinpoll *s, struct pollfd *p, unsigned n, int timeout)
{
	uint64_t until = s->until;
	int r;

	s->until = 0;
	if (timeout == 0 || !until || s->loadavg < 0 || !cpus_to_spare(s))
		return poll(p, n, timeout);
	for (uint64_t t = now_us();;) {
		uint64_t t0 = t;

		r = poll(p, n, 0);
		if (r != 0)
			return r;
		t = now_us();
		if (t >= until || t - t0 > SPINPOLL_LOST_US)
			break;
	}
	return poll(p, n, timeout);
}
