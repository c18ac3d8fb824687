/* env_ms: see env_ms.h. */
#include "lib/env_ms.h"

#include <errno.h>
#include <stdlib.h>

#include "lib/err.h"

int env_num(const char *var, const char *unit, uint64_t min, uint64_t max, uint64_t *v)
{
	const char *s = getenv(var);
	unsigned long long n;
	char *end;

	if (!s)
		return 0;
	errno = 0;
	n = strtoull(s, &end, 10);
	if (!s[0] || *end || errno || s[0] == '-' || n < min || n > max)
		return err_set(-EINVAL, "%s: expected %s, %llu..%llu, got '%s'", var, unit,
			       (unsigned long long)min, (unsigned long long)max, s);
	*v = n;
	return 0;
}

int env_ms(const char *var, uint64_t *ms)
{
	return env_num(var, "milliseconds", 1, ENV_MS_MAX, ms);
}
