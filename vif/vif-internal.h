/* vif-internal: helpers shared by the vif parsers (vif.c, rate.c, vlan.c).
 * Not part of the module's API; only the vif sources include it. */
#ifndef VIF_VIF_INTERNAL_H
#define VIF_VIF_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "lib/dec.h" /* dec_parse, the parsers' reading of a number */

/* Number of leading ASCII digits of s. */
size_t vif_dec_span(const char *s);

#endif
