/* dec: see dec.h. */
#include "lib/dec.h"

#include <errno.h>
#include <string.h>

#include "lib/err.h"

int dec_parse(const char *s, size_t len, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (len == 0 || (len > 1 && s[0] == '0'))
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		unsigned d = (unsigned)(s[i] - '0');

		if (d > 9)
			return -EINVAL;
		if (v > max / 10 || (v == max / 10 && d > max % 10)) {
			/* still a number, or not one at all: look on */
			while (++i < len)
				if ((unsigned)(s[i] - '0') > 9)
					return -EINVAL;
			return -ERANGE;
		}
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

const char *dec_why(const char *s, size_t len)
{
	if (len < 2 || s[0] != '0')
		return "";
	for (size_t i = 0; i < len; i++)
		if ((unsigned)(s[i] - '0') > 9)
			return "";
	return " (no leading zero: octal to xl and to shell arithmetic)";
}

int dec_arg(const char *what, const char *unit, const char *s, uint64_t min, uint64_t max,
	    uint64_t *out)
{
	uint64_t v;

	if (dec_parse(s, strlen(s), max, &v) < 0 || v < min)
		return err_set(-EINVAL, "%s: expected %s%s%llu..%llu, got '%s'%s", what,
			       unit ? unit : "", unit ? ", " : "", (unsigned long long)min,
			       (unsigned long long)max, s, dec_why(s, strlen(s)));
	*out = v;
	return 0;
}
