/* vif-internal: helpers shared by the vif parsers (vif.c, rate.c, vlan.c).
 * Not part of the module's API; only the vif sources include it. */
#ifndef VIF_VIF_INTERNAL_H
#define VIF_VIF_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

/* Strict unsigned decimal over s[0..len): digits only, no sign or space,
 * no leading zero except "0" itself (the stock scripts' bash arithmetic
 * and xl's strtoull(.., 0) read a leading zero as octal, so such a number
 * would mean different things to us and to them). Values above max give
 * -ERANGE, bad syntax -EINVAL; sets no error message. */
int vif_dec_parse(const char *s, size_t len, uint64_t max, uint64_t *out);

/* Number of leading ASCII digits of s. */
size_t vif_dec_span(const char *s);

#endif
