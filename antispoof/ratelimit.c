/* ratelimit: rate= in nft limit terms (see ratelimit.h). */
#include "antispoof/ratelimit.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

#include "lib/err.h"

#define USEC_PER_SEC 1000000u
#define AS_RATE_MAX 10000000000ull /* bytes/s */

int as_rate_from_vif(const struct vif_rate *r, struct as_rate *out)
{
	unsigned __int128 bps;
	uint64_t bucket;

	if (!r->bytes_per_interval)
		return err_set(-EINVAL, "rate: unlimited, nothing to enforce");
	if (!r->interval_usecs)
		return err_set(-EINVAL, "rate: interval of 0 us");
	/* 128 bits: bytes_per_interval may use all 64 and 10^6 is 20 more. */
	bps = (unsigned __int128)r->bytes_per_interval * USEC_PER_SEC / r->interval_usecs;
	/* The kernel refuses a limit whose 10^9 * (rate + burst) overflows
	 * 64 bits; 10 GB/s is as good as unlimited for one vif anyway. */
	out->bytes_per_sec = bps > AS_RATE_MAX ? AS_RATE_MAX : bps ? (uint64_t)bps : 1;
	/* netback's bucket, less the second of rate the kernel puts in anyway */
	bucket = r->bytes_per_interval > AS_RATE_BURST_MIN ? r->bytes_per_interval
							   : AS_RATE_BURST_MIN;
	bucket = bucket > out->bytes_per_sec ? bucket - out->bytes_per_sec : 0;
	/* nft refuses a set element's limit with burst 0: one byte is noise */
	out->burst = bucket > UINT32_MAX ? UINT32_MAX : bucket ? (uint32_t)bucket : 1;
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
