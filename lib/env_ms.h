/* env_ms: a timeout the environment may shorten (the tests do), in
 * milliseconds, read and checked in one place. */
#ifndef NETD_ENV_MS_H
#define NETD_ENV_MS_H

#include <stdint.h>

#define ENV_MS_MAX 3600000u /* an hour: what the environment may set, at most */

/* var unset: 0, *ms untouched. A decimal 1..ENV_MS_MAX: 0, *ms set.
 * Anything else: -EINVAL with err_msg() naming var and what it holds. */
int env_ms(const char *var, uint64_t *ms);

#endif
