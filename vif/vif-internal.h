/* vif-internal: helpers shared by the vif parsers (vif.c, rate.c, vlan.c).
 * Not part of the module's API; only the vif sources include it. */
#ifndef VIF_VIF_INTERNAL_H
#define VIF_VIF_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

/* Room for vif_quote(): at most VIF_QUOTE_SHOWN input bytes, each escaped
 * to at most 4 bytes, plus "..." and the NUL. */
#define VIF_QUOTE_SHOWN 48
#define VIF_QUOTE_MAX (VIF_QUOTE_SHOWN * 4 + 4)

/* Strict unsigned decimal over s[0..len): digits only, no sign or space,
 * no leading zero except "0" itself (the stock scripts' bash arithmetic
 * and xl's strtoull(.., 0) read a leading zero as octal, so such a number
 * would mean different things to us and to them). Values above max give
 * -ERANGE, bad syntax -EINVAL; sets no error message. */
int vif_dec_parse(const char *s, size_t len, uint64_t max, uint64_t *out);

/* Number of leading ASCII digits of s. */
size_t vif_dec_span(const char *s);

/* Copies up to n bytes of s (stopping at NUL) into buf for quoting in an
 * error message: untrusted text must not put control bytes into logs or
 * xenstore's hotplug-error, and a 4 KiB value must not drown the message.
 * Non-printable bytes become \xHH; long text is cut with "...". */
const char *vif_quote_n(char buf[VIF_QUOTE_MAX], const char *s, size_t n);
const char *vif_quote(char buf[VIF_QUOTE_MAX], const char *s);

#endif
