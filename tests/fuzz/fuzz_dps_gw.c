/* libFuzzer harness for the "gw" of dpswitch's port-add (dps_pol_parse_gw
 * in dpswitch/policy.c): the addresses netd gives as Dom0's own, which no
 * guest may claim. The input is the string. Checks: a refused list leaves
 * the policy as it was and says why; an accepted one holds one address a
 * token, each within its family's bound, and reads back the same when
 * written out again (inet_ntop) and parsed a second time.
 *
 * The parser's source is included, not linked (coverage, see fuzz_vif.c). */
#include "dpswitch/policy.c"

#include <stdlib.h>

#include "tests/fuzz/fuzz_check.h"

/* Spaces separate tokens; any run of them counts as one. */
static unsigned tokens(const char *s)
{
	unsigned n = 0;

	for (; *s; s++)
		if (*s != ' ' && (s[1] == ' ' || !s[1]))
			n++;
	return n;
}

static void read_back(const struct dps_policy *p)
{
	char text[2 * DPS_POL_GW_MAX * (INET6_ADDRSTRLEN + 1) + 1], *at = text;
	struct dps_policy q;

	*at = '\0';
	for (unsigned i = 0; i < p->ngw4; i++) {
		CHECK(inet_ntop(AF_INET, &p->gw4[i], at, INET6_ADDRSTRLEN));
		at += strlen(at);
		*at++ = ' ';
	}
	for (unsigned i = 0; i < p->ngw6; i++) {
		CHECK(inet_ntop(AF_INET6, &p->gw6[i], at, INET6_ADDRSTRLEN));
		at += strlen(at);
		*at++ = ' ';
	}
	*at = '\0';
	memset(&q, 0, sizeof(q));
	CHECK(dps_pol_parse_gw(&q, text) == 0);
	CHECK(q.ngw4 == p->ngw4 && q.ngw6 == p->ngw6);
	CHECK(!memcmp(q.gw4, p->gw4, p->ngw4 * sizeof(p->gw4[0])));
	CHECK(!memcmp(q.gw6, p->gw6, p->ngw6 * sizeof(p->gw6[0])));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct dps_policy p, before;
	char *s = malloc(size + 1);
	int rc;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	/* a policy that had a list: what a refusal must leave alone */
	memset(&p, 0, sizeof(p));
	CHECK(dps_pol_parse_gw(&p, "203.0.113.254 fe80::1") == 0);
	before = p;
	err_clear();
	rc = dps_pol_parse_gw(&p, s);
	if (rc < 0) {
		CHECK(rc == -EINVAL || rc == -E2BIG);
		CHECK(err_msg()[0]);
		CHECK(!memcmp(&p, &before, sizeof(p)));
	} else {
		CHECK(rc == 0);
		CHECK(p.ngw4 <= DPS_POL_GW_MAX && p.ngw6 <= DPS_POL_GW_MAX);
		CHECK(p.ngw4 + p.ngw6 == tokens(s));
		read_back(&p);
	}
	free(s);
	return 0;
}
