/* dec: the one reading of a bounded number that a person, a toolstack or a
 * guest wrote (a config value, an option, the environment, a xenstore key,
 * a state file): plain decimal digits, nothing else: no sign, space, "0x"
 * or leading zero but "0" itself. strtoul would take " +12", and stops
 * at "12abc" early; "010" is 8 to xl's strtoull(.., 0) and to the stock
 * scripts' bash arithmetic, 10 to strtoul: a number that means different
 * things to us and to them is refused, not guessed at. */
#ifndef NETD_DEC_H
#define NETD_DEC_H

#include <stddef.h>
#include <stdint.h>

/* The len bytes at s: 0 and *out; -EINVAL: not such a number; -ERANGE:
 * a number above max. No err_msg(): the caller names what was read. */
int dec_parse(const char *s, size_t len, uint64_t max, uint64_t *out);

/* For an error message after a refusal: " (no leading zero: ...)" when
 * the len bytes at s are digits but for a leading zero, the one reason a
 * number that looks in range is refused; "" otherwise. */
const char *dec_why(const char *s, size_t len);

/* The string s, min..max: 0 and *out, else -EINVAL with err_msg()
 * "WHAT: expected [UNIT, ]MIN..MAX, got 'S'[ (dec_why)]" (unit: what it counts, e.g.
 * "milliseconds", or NULL). */
int dec_arg(const char *what, const char *unit, const char *s, uint64_t min, uint64_t max,
	    uint64_t *out);

#endif
