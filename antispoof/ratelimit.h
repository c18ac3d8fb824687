/* ratelimit: a vif's rate= as an nftables limit, the way netback meters it.
 *
 * Netback's credit scheduler gives a vif bytes_per_interval of credit every
 * interval_usecs and never less than 128 KiB of burst (tx_add_credit), so a
 * guest may always send one large packet train. In nft terms that is a byte
 * limit of bytes_per_interval / interval per second. The kernel sizes a byte
 * limit's bucket as one second of rate plus the burst given (nft_limit_init:
 * tokens_max = unit * (rate + burst) / rate), so the burst asked for is only
 * what netback's bucket, max(bytes_per_interval, 128 KiB), has beyond one
 * second of rate: the bucket is then max(rate * 1 s, credit, 128 KiB), never
 * smaller than netback's, larger for intervals under a second and rates
 * over 128 KiB/s (up to one extra second of rate after an idle period).
 * Pure arithmetic and formatting; antispoof owns the table the limit is in. */
#ifndef AS_RATELIMIT_H
#define AS_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

#include "vif/vif.h"

#define AS_RATE_BURST_MIN 131072u /* netback's floor on the credit, bytes */

struct as_rate {
	uint64_t bytes_per_sec; /* >= 1 */
	uint32_t burst;         /* bytes the kernel adds to one second of rate, >= 1 */
};

/* rate= as a byte rate and a burst. -EINVAL for an unlimited rate (no limit
 * to install) or a zero interval. */
int as_rate_from_vif(const struct vif_rate *r, struct as_rate *out);

/* An nft limit statement's arguments that match what exceeds r:
 * "rate over 1000 bytes/second burst 130072 bytes". 0, -EINVAL as
 * as_rate_from_vif, or -ENOSPC if len is too small (64 always suffices). */
int as_rate_format(const struct vif_rate *r, char *buf, size_t len);

#endif
