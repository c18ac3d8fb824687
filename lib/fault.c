/* fault: see fault.h. */
#include "lib/fault.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/err.h"

/* The linker's bounds of the fault_points section; weak: a program with no
 * registered name has no such section. */
extern const char *const __start_fault_points[] __attribute__((weak));
extern const char *const __stop_fault_points[] __attribute__((weak));

/* Entries of NETD_FAULT's list with a count of their own (step:N); an
 * entry past them is never counted (fails no check). */
#define FAULT_COUNTED_MAX 16

/* step:N, entry i of the list: the first N checks of step fail, the later
 * ones pass (a condition that clears, such as xenstore conflicts). Each
 * entry counts its own: "a:1,b:2" fails a once and b twice. */
static bool fault_counted(unsigned i, const char *count)
{
	static unsigned long failed[FAULT_COUNTED_MAX];
	char *end;
	unsigned long n;

	if (i >= FAULT_COUNTED_MAX || *count < '0' || *count > '9')
		return false;
	n = strtoul(count, &end, 10);
	if (*end || failed[i] >= n)
		return false;
	failed[i]++;
	return true;
}

/* step:stop, entry i: its first check only (the test continues the
 * process with SIGCONT once it has changed the world under it). */
static bool fault_first(unsigned i)
{
	static bool stopped[FAULT_COUNTED_MAX];

	if (i >= FAULT_COUNTED_MAX || stopped[i])
		return false;
	stopped[i] = true;
	return true;
}

int fault_check(const char *step)
{
	const char *f = getenv("NETD_FAULT");
	size_t n = strlen(step);
	unsigned i = 0;

	/* a comma-separated list: a step that fails, and the undo after it */
	for (; f && *f; f = strchr(f, ',') ? strchr(f, ',') + 1 : NULL, i++) {
		size_t len = strcspn(f, ",");
		char rest[32];

		if (len < n || strncmp(f, step, n))
			continue;
		snprintf(rest, sizeof(rest), "%.*s", (int)(len - n), f + n);
		if (!rest[0] || (rest[0] == ':' && fault_counted(i, rest + 1)))
			return err_set(-EIO, "fault injected at step '%s'", step);
		if (!strcmp(rest, ":crash"))
			kill(getpid(), SIGKILL);
		if (!strcmp(rest, ":stop") && fault_first(i))
			kill(getpid(), SIGSTOP);
	}
	return 0;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

size_t fault_names(const char **names, size_t max)
{
	size_t n = 0, total = 0;

	/* A point written twice (vif-antispoof, one per mode) counts once. */
	for (const char *const *p = __start_fault_points; p && p < __stop_fault_points; p++) {
		bool seen = !*p; /* a FAULT_TABLE's terminator */

		for (const char *const *q = __start_fault_points; q < p && !seen; q++)
			seen = *q && !strcmp(*q, *p);
		if (seen)
			continue;
		if (n < max)
			names[n++] = *p;
		total++;
	}
	qsort(names, n, sizeof(*names), name_cmp);
	return total;
}
