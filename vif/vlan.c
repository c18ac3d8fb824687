/* vlan: the vif's bridge VLAN membership (xl's vlan= / backend key "vlan").
 *
 * xl passes the string through untouched; its meaning is fixed by the man
 * page (xl-network-configuration(5)) and by the VLAN support posted for
 * vif-bridge (_vif_vlan_membership, xen-network-common.sh). Terms, '/'
 * separated:
 *   N[p|u]         one VLAN; p = the PVID (implies untagged), u = untagged
 *   A-B[u]         A..B inclusive, A <= B
 *   A+STEPxCOUNT[u] A and COUNT more: A, A+STEP, ..., A+STEP*COUNT
 * VLAN ids are 1..4094, each may appear once, at most one PVID; without a
 * 'p' the spec must name exactly one VLAN, which then is the PVID.
 * Sources disagree on COUNT: the man page text says "count additional
 * entries" (and the script's commit message: 100+10x9 gives 100..190), its
 * example list for 100+10x4 runs to 150, and the script as posted (v4, not
 * merged into xen.git) adds COUNT entries in all. We follow the man page
 * text. Stricter than the script: no empty terms, no leading zeros (bash
 * arithmetic reads "010" as octal 8), STEP at least 1. */
#include "vif/vif.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "lib/err.h"
#include "vif/vif-internal.h"

#define VLAN_SYNTAX "expected N[p|u], N1-N2[u] or N+STEPxCOUNT[u]"

struct vlan_term {
	const char *spec; /* whole value, for messages */
	const char *t;    /* this term */
	size_t len;
};

static int vlan_err(const struct vlan_term *tm, const char *why)
{
	char qs[VIF_QUOTE_MAX], qt[VIF_QUOTE_MAX];

	return err_set(-EINVAL, "vlan: '%s': term '%s': %s", vif_quote(qs, tm->spec),
		       vif_quote_n(qt, tm->t, tm->len), why);
}

/* Digits at *p within the term, min..max; advances *p. */
static int vlan_num(const struct vlan_term *tm, const char **p, uint64_t min, uint64_t max,
		    const char *range_msg, uint64_t *out)
{
	size_t n = vif_dec_span(*p);
	int rc;

	if (n == 0)
		return vlan_err(tm, VLAN_SYNTAX);
	if (n > 1 && **p == '0')
		return vlan_err(tm, "leading zero (the hotplug script reads it as octal)");
	rc = dec_parse(*p, n, max, out);
	if (rc || *out < min)
		return vlan_err(tm, range_msg);
	*p += n;
	return 0;
}

static void bit_set(uint8_t *map, unsigned vid)
{
	map[vid / 8] |= (uint8_t)(1u << (vid % 8));
}

static int vlan_add(struct vif_vlan *vl, const struct vlan_term *tm, uint64_t vid, char flag)
{
	char qs[VIF_QUOTE_MAX];

	if (vid > VIF_VLAN_ID_MAX)
		return vlan_err(tm, "goes past VLAN 4094");
	if (vif_vlan_is_member(vl, (unsigned)vid))
		return err_set(-EINVAL, "vlan: '%s': VLAN %u given more than once",
			       vif_quote(qs, tm->spec), (unsigned)vid);
	if (flag == 'p') {
		if (vl->pvid)
			return err_set(-EINVAL, "vlan: '%s': more than one PVID (%u and %u)",
				       vif_quote(qs, tm->spec), vl->pvid, (unsigned)vid);
		vl->pvid = (uint16_t)vid;
	}
	bit_set(vl->member, (unsigned)vid);
	if (flag == 'p' || flag == 'u')
		bit_set(vl->untagged, (unsigned)vid);
	vl->n++;
	return 0;
}

/* The optional trailing flag, then the end of the term. */
static int vlan_flag(const struct vlan_term *tm, const char *p, const char *flags, char *flag)
{
	const char *end = tm->t + tm->len;

	*flag = 't';
	if (p < end && strchr(flags, *p))
		*flag = *p++;
	if (p != end)
		return vlan_err(tm, VLAN_SYNTAX);
	return 0;
}

static int vlan_term_parse(struct vif_vlan *vl, const struct vlan_term *tm)
{
	const char *p = tm->t;
	uint64_t a, b, step, count, k;
	char flag;
	int rc;

	if (tm->len == 0) {
		char q[VIF_QUOTE_MAX];

		return err_set(-EINVAL, "vlan: '%s': empty term", vif_quote(q, tm->spec));
	}
	rc = vlan_num(tm, &p, 1, VIF_VLAN_ID_MAX, "VLAN id out of range 1..4094", &a);
	if (rc)
		return rc;
	if (*p == '-') {
		p++;
		rc = vlan_num(tm, &p, 1, VIF_VLAN_ID_MAX, "VLAN id out of range 1..4094", &b);
		if (!rc)
			rc = vlan_flag(tm, p, "u", &flag);
		if (!rc && b < a)
			rc = vlan_err(tm, "range ends below its start");
		for (k = a; !rc && k <= b; k++)
			rc = vlan_add(vl, tm, k, flag);
		return rc;
	}
	if (*p == '+') {
		p++;
		rc = vlan_num(tm, &p, 1, VIF_VLAN_ID_MAX - 1, "step out of range 1..4093", &step);
		if (!rc && *p++ != 'x')
			rc = vlan_err(tm, VLAN_SYNTAX);
		if (!rc)
			rc = vlan_num(tm, &p, 0, VIF_VLAN_ID_MAX - 1, "count out of range 0..4093",
				      &count);
		if (!rc)
			rc = vlan_flag(tm, p, "u", &flag);
		/* a + step * k stays far below 2^32; vlan_add stops at 4094. */
		for (k = 0; !rc && k <= count; k++)
			rc = vlan_add(vl, tm, a + step * k, flag);
		return rc;
	}
	rc = vlan_flag(tm, p, "pu", &flag);
	return rc ? rc : vlan_add(vl, tm, a, flag);
}

/* Returns via *implied whether the PVID came from the single-VLAN rule. */
static int vlan_parse(const char *s, struct vif_vlan *vl, bool *implied)
{
	char q[VIF_QUOTE_MAX];
	struct vlan_term tm = { .spec = s, .t = s };
	unsigned vid;
	int rc;

	memset(vl, 0, sizeof(*vl));
	*implied = false;
	if (!*s)
		return 0;
	for (;;) {
		const char *slash = strchr(tm.t, '/');

		tm.len = slash ? (size_t)(slash - tm.t) : strlen(tm.t);
		rc = vlan_term_parse(vl, &tm);
		if (rc)
			return rc;
		if (!slash)
			break;
		tm.t = slash + 1;
	}
	if (vl->pvid)
		return 0;
	if (vl->n != 1)
		return err_set(-EINVAL,
			       "vlan: '%s': more than one VLAN, so one must be marked PVID ('Np')",
			       vif_quote(q, s));
	for (vid = 1; !vif_vlan_is_member(vl, vid); vid++)
		;
	vl->pvid = (uint16_t)vid;
	bit_set(vl->untagged, vid);
	*implied = true;
	return 0;
}

int vif_vlan_parse(const char *s, struct vif_vlan *vl)
{
	struct vif_vlan tmp;
	bool implied;
	int rc;

	if (!s)
		return err_set(-EINVAL, "vlan: missing value");
	rc = vlan_parse(s, &tmp, &implied);
	if (rc == 0)
		*vl = tmp;
	return rc;
}

int vif_vlan_normalise(const char *s, char *out, size_t len)
{
	char q[VIF_QUOTE_MAX];
	struct vif_vlan vl;
	bool implied;
	int rc;

	if (!s)
		return err_set(-EINVAL, "vlan: missing value");
	if (strlen(s) >= len)
		return err_set(-EINVAL, "vlan: '%s': longer than %zu characters", vif_quote(q, s),
			       len ? len - 1 : 0);
	rc = vlan_parse(s, &vl, &implied);
	if (rc)
		return rc;
	if (!implied) {
		memcpy(out, s, strlen(s) + 1);
		return 0;
	}
	if ((size_t)snprintf(out, len, "%up", vl.pvid) >= len)
		return err_set(-ENOSPC, "vlan: buffer of %zu bytes too small", len);
	return 0;
}
