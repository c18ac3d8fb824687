/* rate: the vif rate limit in its two spellings.
 *
 * xl's "RATE/s[@INTERVAL]" (tools/libs/util/libxlu_vif.c) and the backend
 * key libxl derives from it, "bytes_per_interval,interval_usecs", which
 * netback reads. Netback's limiter is credit based: every interval the vif
 * may send bytes_per_interval more, so only that pair matters and it is
 * what struct vif_rate keeps.
 *
 * Same grammar as xl: RATE is N[GMK]{B|b} with decimal multipliers and b
 * meaning bits (divided by 8, rounding down); N is 1..UINT32_MAX before the
 * multiplier. INTERVAL is N[m|u][s]: no unit or "s" is seconds, "m"/"ms"
 * milliseconds, "u"/"us" microseconds; default 50 ms; at most UINT32_MAX us.
 * Differences, all rejections of values xl would mangle: leading zeros
 * (xl's strtoull base 0 reads them as octal), rates that come to zero
 * bytes per second or per interval (zero is "unlimited" here and would be
 * a near-stall in netback), and results past UINT64_MAX. The result is the
 * exact floor(bytes_per_sec * interval_us / 10^6); xl refuses some large
 * rates whose intermediate product overflows although the result fits. */
#include "vif/vif.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "lib/err.h"
#include "vif/vif-internal.h"

#define RATE_DEFAULT_INTERVAL_US 50000u
#define USEC_PER_SEC 1000000u

#define RATE_SYNTAX "expected N[GMK]{B|b}/s[@N[s|ms|us]], e.g. 10Mb/s or 1MB/s@20ms"

/* The n digits at p as a number in 1..max; syntax already checked. */
static int rate_number(const char *s, const char *p, size_t n, uint64_t max, const char *what,
		       uint64_t *out)
{
	char q[VIF_QUOTE_MAX];

	if (n > 1 && *p == '0')
		return err_set(-EINVAL, "rate: '%s': leading zero in %s (xl reads it as octal)",
			       vif_quote(q, s), what);
	if (dec_parse(p, n, max, out) || *out == 0)
		return err_set(-EINVAL, "rate: '%s': %s must be 1..%" PRIu64, vif_quote(q, s),
			       what, max);
	return 0;
}

/* RATE in [p, end): N[GMK]{B|b}/s */
static int rate_bytes_per_sec(const char *s, const char *p, const char *end, uint64_t *bps)
{
	char q[VIF_QUOTE_MAX];
	size_t n = vif_dec_span(p);
	const char *u = p + n;
	uint64_t val, mult = 1;
	int rc;

	if (*u == 'G')
		mult = 1000000000u;
	else if (*u == 'M')
		mult = 1000000u;
	else if (*u == 'K')
		mult = 1000u;
	if (mult != 1)
		u++;
	if (n == 0 || end - u != 3 || (u[0] != 'B' && u[0] != 'b') || u[1] != '/' || u[2] != 's')
		return err_set(-EINVAL, "rate: '%s': " RATE_SYNTAX, vif_quote(q, s));
	rc = rate_number(s, p, n, UINT32_MAX, "the rate", &val);
	if (rc)
		return rc;
	/* val * mult <= UINT32_MAX * 10^9 < 2^64: no overflow possible. */
	val *= mult;
	if (u[0] == 'b')
		val /= 8;
	if (val == 0)
		return err_set(-EINVAL, "rate: '%s': less than one byte per second",
			       vif_quote(q, s));
	*bps = val;
	return 0;
}

/* INTERVAL at p, to the end of s: N[m|u][s] */
static int rate_interval(const char *s, const char *p, uint32_t *usecs)
{
	char q[VIF_QUOTE_MAX];
	size_t n = vif_dec_span(p);
	const char *u = p + n;
	uint64_t val, mult = USEC_PER_SEC;
	int rc;

	if (*u == 'm') {
		mult = 1000;
		u++;
	} else if (*u == 'u') {
		mult = 1;
		u++;
	}
	if (*u == 's')
		u++;
	if (n == 0 || *u)
		return err_set(-EINVAL, "rate: '%s': bad interval (expected N, Ns, Nms or Nus)",
			       vif_quote(q, s));
	rc = rate_number(s, p, n, UINT32_MAX, "the interval", &val);
	if (rc)
		return rc;
	if (val > UINT32_MAX / mult)
		return err_set(-EINVAL, "rate: '%s': interval longer than %" PRIu32 " us",
			       vif_quote(q, s), UINT32_MAX);
	*usecs = (uint32_t)(val * mult);
	return 0;
}

/* floor(bps * us / 10^6) without a 128-bit product: split bps. */
static bool rate_per_interval(uint64_t bps, uint32_t us, uint64_t *out)
{
	uint64_t whole, part = (bps % USEC_PER_SEC) * us / USEC_PER_SEC;

	if (__builtin_mul_overflow(bps / USEC_PER_SEC, (uint64_t)us, &whole))
		return false;
	return !__builtin_add_overflow(whole, part, out);
}

int vif_rate_parse_xl(const char *s, struct vif_rate *r)
{
	char q[VIF_QUOTE_MAX];
	uint32_t us = RATE_DEFAULT_INTERVAL_US;
	uint64_t bps = 0, bpi = 0;
	const char *at;
	int rc;

	if (!s)
		return err_set(-EINVAL, "rate: missing value");
	at = strchr(s, '@');
	rc = rate_bytes_per_sec(s, s, at ? at : s + strlen(s), &bps);
	if (rc)
		return rc;
	if (at) {
		if (!at[1])
			return err_set(-EINVAL, "rate: '%s': no interval after '@'",
				       vif_quote(q, s));
		rc = rate_interval(s, at + 1, &us);
		if (rc)
			return rc;
	}
	if (!rate_per_interval(bps, us, &bpi))
		return err_set(-EINVAL, "rate: '%s': too large (bytes per interval overflow)",
			       vif_quote(q, s));
	if (bpi == 0)
		return err_set(-EINVAL, "rate: '%s': less than one byte per interval",
			       vif_quote(q, s));
	r->bytes_per_interval = bpi;
	r->interval_usecs = us;
	return 0;
}

int vif_rate_parse_xenstore(const char *s, struct vif_rate *r)
{
	char q[VIF_QUOTE_MAX];
	const char *comma;
	uint64_t bytes, us;

	if (!s)
		return err_set(-EINVAL, "rate: missing value");
	comma = strchr(s, ',');
	if (!comma || dec_parse(s, (size_t)(comma - s), UINT64_MAX, &bytes) ||
	    dec_parse(comma + 1, strlen(comma + 1), UINT32_MAX, &us))
		return err_set(-EINVAL,
			       "rate: '%s': expected BYTES,USECS in decimal (e.g. 62500,50000)",
			       vif_quote(q, s));
	if (bytes == 0 || us == 0)
		return err_set(-EINVAL, "rate: '%s': bytes and interval must be non-zero",
			       vif_quote(q, s));
	r->bytes_per_interval = bytes;
	r->interval_usecs = (uint32_t)us;
	return 0;
}

/* A comma is never part of xl's grammar, always of xenstore's. */
int vif_rate_parse(const char *s, struct vif_rate *r)
{
	if (s && strchr(s, ','))
		return vif_rate_parse_xenstore(s, r);
	return vif_rate_parse_xl(s, r);
}

int vif_rate_format_xenstore(const struct vif_rate *r, char *buf, size_t len)
{
	int n;

	if (r->bytes_per_interval == 0 || r->interval_usecs == 0)
		return err_set(-EINVAL, "rate: unlimited, no xenstore value");
	n = snprintf(buf, len, "%" PRIu64 ",%" PRIu32, r->bytes_per_interval, r->interval_usecs);
	if (n < 0 || (size_t)n >= len)
		return err_set(-ENOSPC, "rate: buffer of %zu bytes too small", len);
	return 0;
}
