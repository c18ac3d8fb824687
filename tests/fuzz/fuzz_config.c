/* libFuzzer harness for the netd.conf parser (netd/config.c).
 *
 * Beyond "no crash, no leak", every config that parses must survive the
 * round trip: netd_conf_write() output parses back to an equal model and
 * writes the very same text again. A failure there aborts, so the fuzzer
 * reports it like a crash.
 *
 * The parser is #included, not linked: only this translation unit gets the
 * fuzzer's coverage instrumentation, and a blind fuzzer finds little. The
 * copy in libnetd_conf.a is then never pulled in by the linker. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"
#include "netd/config.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Writes conf into a malloc'd buffer that grows until it fits. */
static char *write_conf(const struct netd_conf *conf)
{
	size_t len = 4096;
	char *buf = NULL;
	int rc;

	for (;;) {
		free(buf);
		buf = malloc(len);
		if (!buf)
			abort();
		rc = netd_conf_write(conf, buf, len);
		if (rc == 0)
			return buf;
		if (rc != -ENOSPC) {
			fprintf(stderr, "write failed: %s\n", err_msg());
			abort();
		}
		len *= 2;
	}
}

static void check_round_trip(const struct netd_conf *conf)
{
	struct netd_conf again;
	char *text, *text2;
	size_t i;

	for (i = 0; i < conf->n_nets; i++)
		if (netd_conf_find(conf, conf->nets[i].name) != &conf->nets[i])
			abort();
	text = write_conf(conf);
	if (netd_conf_parse("written", text, strlen(text), &again) < 0) {
		fprintf(stderr, "written config does not parse: %s\n---\n%s", err_msg(), text);
		abort();
	}
	if (!netd_conf_equal(conf, &again)) {
		fprintf(stderr, "round trip changed the model\n---\n%s", text);
		abort();
	}
	text2 = write_conf(&again);
	if (strcmp(text, text2)) {
		fprintf(stderr, "canonical form not stable\n---\n%s---\n%s", text, text2);
		abort();
	}
	free(text2);
	free(text);
	netd_conf_free(&again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct netd_conf conf;

	if (netd_conf_parse("fuzz.conf", (const char *)data, size, &conf) == 0)
		check_round_trip(&conf);
	netd_conf_free(&conf);
	return 0;
}
