/* inet_csum: the Internet checksum (RFC 1071) over bytes in network order,
 * for the places that complete or rewrite a guest's headers in software
 * (dpswitch's segmentation and TSO hand-off, the simulated netfront). */
#ifndef NETD_LIB_INET_CSUM_H
#define NETD_LIB_INET_CSUM_H

#include <stddef.h>
#include <stdint.h>

/* sum plus the 16-bit words of p[0..n) (an odd last byte padded with 0);
 * unfolded, so sums of several ranges add up */
static inline uint32_t inet_csum_add(const uint8_t *p, size_t n, uint32_t sum)
{
	size_t i;

	for (i = 0; i + 1 < n; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (i < n)
		sum += (uint32_t)p[i] << 8;
	return sum;
}

/* the sum folded to 16 bits, not complemented (a pseudo-header's partial
 * sum is stored as is; a whole checksum is its complement) */
static inline uint16_t inet_csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

/* The checksum that completes a partial one (the pseudo-header's sum in
 * its field) over p[0..n), from csum_start to the end: the sum,
 * complemented; 0 goes as 0xffff, one's complement's other zero, as the
 * kernel's skb_checksum_help writes it (a UDP checksum of 0 means none,
 * and over IPv6 is invalid) */
static inline uint16_t inet_csum_partial_done(const uint8_t *p, size_t n)
{
	uint16_t c = (uint16_t)~inet_csum_fold(inet_csum_add(p, n, 0));

	return c ? c : 0xffff;
}

#endif
