/* env_ms: see env_ms.h. */
#include "lib/env_ms.h"

#include <errno.h>
#include <stdlib.h>

#include "lib/err.h"

int env_ms(const char *var, uint64_t *ms)
{
	const char *s = getenv(var);
	unsigned long long v;
	char *end;

	if (!s)
		return 0;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (!s[0] || *end || errno || s[0] == '-' || v < 1 || v > ENV_MS_MAX)
		return err_set(-EINVAL, "%s: expected milliseconds, 1..%u, got '%s'", var,
			       ENV_MS_MAX, s);
	*ms = v;
	return 0;
}
