/* env_ms: a timeout the environment may shorten (the tests do), in
 * milliseconds, and other bounded numbers from the environment, read and
 * checked in one place. */
#ifndef NETD_ENV_MS_H
#define NETD_ENV_MS_H

#include <stdint.h>

#define ENV_MS_MAX 3600000u /* an hour: what the environment may set, at most */

/* var unset: 0, *v untouched. A decimal min..max: 0, *v set. Anything
 * else: -EINVAL with err_msg() naming var, what it expects (unit: "what
 * it counts", e.g. "microseconds") and what it holds. */
int env_num(const char *var, const char *unit, uint64_t min, uint64_t max, uint64_t *v);
/* env_num in milliseconds, 1..ENV_MS_MAX. */
int env_ms(const char *var, uint64_t *ms);

#endif
