/* fault: see fault.h. */
#include "lib/fault.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/err.h"

int fault_check(const char *step)
{
	const char *f = getenv("NETD_FAULT");
	size_t n = strlen(step);

	if (!f || strncmp(f, step, n) != 0)
		return 0;
	if (f[n] == '\0')
		return err_set(-EIO, "fault injected at step '%s'", step);
	if (!strcmp(f + n, ":crash"))
		kill(getpid(), SIGKILL);
	return 0;
}
