/* ratelimit: rate= in nft limit terms (see ratelimit.h). */
#include "vif/ratelimit.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

#include "lib/err.h"

#define USEC_PER_SEC 1000000u

int as_rate_from_vif(const struct vif_rate *r, struct as_rate *out)
{
	unsigned __int128 bps;

	if (!r->bytes_per_interval)
		return err_set(-EINVAL, "rate: unlimited, nothing to enforce");
	if (!r->interval_usecs)
		return err_set(-EINVAL, "rate: interval of 0 us");
	/* 128 bits: bytes_per_interval may use all 64 and 10^6 is 20 more. */
	bps = (unsigned __int128)r->bytes_per_interval * USEC_PER_SEC / r->interval_usecs;
	out->bytes_per_sec = bps > UINT64_MAX ? UINT64_MAX : bps ? (uint64_t)bps : 1;
	/* The kernel adds rate and burst (and refuses an overflow). */
	if (out->bytes_per_sec > UINT64_MAX - UINT32_MAX)
		out->bytes_per_sec = UINT64_MAX - UINT32_MAX;
	if (r->bytes_per_interval > UINT32_MAX)
		out->burst = UINT32_MAX;
	else if (r->bytes_per_interval < AS_RATE_BURST_MIN)
		out->burst = AS_RATE_BURST_MIN;
	else
		out->burst = (uint32_t)r->bytes_per_interval;
	return 0;
}

int as_rate_format(const struct vif_rate *r, char *buf, size_t len)
{
	struct as_rate a;
	int rc = as_rate_from_vif(r, &a), n;

	if (rc)
		return rc;
	n = snprintf(buf, len, "rate over %" PRIu64 " bytes/second burst %" PRIu32 " bytes",
		     a.bytes_per_sec, a.burst);
	if (n < 0 || (size_t)n >= len)
		return err_set(-ENOSPC, "rate: buffer too small");
	return 0;
}
