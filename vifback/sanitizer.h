/* sanitizer: a sanitized build's reports from a seccomp-confined worker
 * (see sanitizer.c). */
#ifndef VIFBACK_SANITIZER_H
#define VIFBACK_SANITIZER_H

#if defined(__SANITIZE_ADDRESS__)
#define VB_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define VB_SANITIZED 1
#endif
#endif

#include <stddef.h>

#ifdef VB_SANITIZED
/* Before the filter: what a report will need that the filter forbids.
 * Done once per process and inherited by its clones and forks (the first
 * call reads the binaries' debug information: 0.3 s and more). */
void vb_sanitizer_prepare(void);
/* First thing in a process clone() started on the stack [lo, lo + len):
 * ASan learns that stack is the thread's. */
void vb_sanitizer_own_stack(const void *lo, size_t len);
#else
static inline void vb_sanitizer_prepare(void)
{
}
static inline void vb_sanitizer_own_stack(const void *lo, size_t len)
{
	(void)lo;
	(void)len;
}
#endif

#endif
