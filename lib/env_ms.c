/* env_ms: see env_ms.h. */
#include "lib/env_ms.h"

#include <stdlib.h>

#include "lib/dec.h"

int env_num(const char *var, const char *unit, uint64_t min, uint64_t max, uint64_t *v)
{
	const char *s = getenv(var);

	return s ? dec_arg(var, unit, s, min, max, v) : 0;
}

int env_ms(const char *var, uint64_t *ms)
{
	return env_num(var, "milliseconds", 1, ENV_MS_MAX, ms);
}
