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

#ifdef VB_SANITIZED
/* Before the filter: what a report will need that the filter forbids.
 * Done once per process and inherited by its clones and forks (the first
 * call reads the binaries' debug information: 0.3 s and more). */
void vb_sanitizer_prepare(void);
#else
static inline void vb_sanitizer_prepare(void)
{
}
#endif

#endif
