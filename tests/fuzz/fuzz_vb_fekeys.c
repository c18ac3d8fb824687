/* libFuzzer harness for vifback's reading of a frontend's connect keys
 * (vifback/fekeys.c): values a guest writes in its own xenstore directory.
 * The input is NUL-separated values: multi-queue-num-queues, the flag keys,
 * then each queue's five keys ("-" stands for an absent key). Checks: an
 * accepted configuration is within its ranges (queues 1..max, ports not 0,
 * split ports distinct, GSO only with SG), a refused one says why.
 *
 * The parser's source is included, not linked (coverage, see fuzz_vif.c). */
#include "netback/fekeys.c"

#include <stdio.h>
#include <stdlib.h>

#include "tests/fuzz/fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *fields[NB_FK_COUNT + NB_MAX_QUEUES * NB_FQ_COUNT];
	const char *fe[NB_FK_COUNT], *q[NB_MAX_QUEUES][NB_FQ_COUNT];
	char *s = malloc(size + 1), *p;
	unsigned nf = 0, nq = 0;
	struct nb_fe_cfg cfg;
	int rc;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	memset(fields, 0, sizeof(fields));
	for (p = s; nf < sizeof(fields) / sizeof(fields[0]) && p <= s + size; p += strlen(p) + 1)
		fields[nf++] = strcmp(p, "-") ? p : NULL;
	for (unsigned k = 0; k < NB_FK_COUNT; k++)
		fe[k] = fields[k];
	for (unsigned i = 0; i < NB_MAX_QUEUES; i++)
		for (unsigned k = 0; k < NB_FQ_COUNT; k++)
			q[i][k] = fields[NB_FK_COUNT + i * NB_FQ_COUNT + k];
	rc = nb_fe_num_queues(fe[NB_FK_NUM_QUEUES], 4, &nq);
	if (rc == 0) {
		CHECK(nq >= 1 && nq <= 4);
		rc = nb_fe_parse(fe, (const char *const(*)[NB_FQ_COUNT])q, nq, &cfg);
		if (rc == 0) {
			CHECK(cfg.nqueues == nq);
			CHECK(!cfg.feat.gso_tcpv4 || cfg.feat.sg);
			for (unsigned i = 0; i < nq; i++) {
				CHECK(cfg.q[i].evtchn_tx && cfg.q[i].evtchn_rx);
				CHECK(cfg.q[i].split == (cfg.q[i].evtchn_tx != cfg.q[i].evtchn_rx));
			}
		}
	}
	if (rc < 0)
		CHECK(err_msg()[0] && !strchr(err_msg(), '\n'));
	free(s);
	err_clear();
	return 0;
}
