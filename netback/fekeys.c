/* fekeys: the frontend's connect-time keys, checked as netback's
 * connect()/connect_data_rings()/read_xenbus_vif_flags() read them, but
 * strictly: the frontend directory belongs to the guest, so every value is
 * a plain unsigned decimal within its range or the vif does not connect,
 * with the key and the value named. */
#include "netback/netback.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "lib/dec.h"
#include "lib/err.h"

static const char *const fe_names[NB_FK_COUNT] = {
	[NB_FK_REQUEST_RX_COPY] = "request-rx-copy",
	[NB_FK_RX_NOTIFY] = "feature-rx-notify",
	[NB_FK_SG] = "feature-sg",
	[NB_FK_GSO_TCPV4] = "feature-gso-tcpv4",
	[NB_FK_GSO_TCPV6] = "feature-gso-tcpv6",
	[NB_FK_NO_CSUM_OFFLOAD] = "feature-no-csum-offload",
	[NB_FK_IPV6_CSUM_OFFLOAD] = "feature-ipv6-csum-offload",
	[NB_FK_NUM_QUEUES] = "multi-queue-num-queues",
};

static const char *const fq_names[NB_FQ_COUNT] = {
	[NB_FQ_TX_REF] = "tx-ring-ref",
	[NB_FQ_RX_REF] = "rx-ring-ref",
	[NB_FQ_EVTCHN] = "event-channel",
	[NB_FQ_EVTCHN_TX] = "event-channel-tx",
	[NB_FQ_EVTCHN_RX] = "event-channel-rx",
};

const char *nb_fe_key_name(enum nb_fe_key k)
{
	return k < NB_FK_COUNT ? fe_names[k] : "?";
}

const char *nb_fq_key_name(enum nb_fq_key k)
{
	return k < NB_FQ_COUNT ? fq_names[k] : "?";
}

/* A printable rendering of a guest's value for an error message. */
static void show(const char *s, char *buf, size_t len)
{
	size_t j = 0;

	for (size_t i = 0; s[i] && j + 5 < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 0x20 && c < 0x7f && c != '\'' && c != '\\')
			buf[j++] = (char)c;
		else
			j += (size_t)snprintf(buf + j, len - j, "\\x%02x", c);
		if (i >= 40) {
			snprintf(buf + j, len - j, "...");
			return;
		}
	}
	buf[j] = '\0';
}

static int bad(const char *key, const char *val, const char *why)
{
	char shown[200];

	show(val, shown, sizeof(shown));
	return err_set(-EINVAL, "frontend key %s: '%s': %s", key, shown, why);
}

/* A boolean feature as xenbus_read_unsigned reads it: absent is `dflt`. */
static int flag(const char *const fe[], enum nb_fe_key k, bool dflt, bool *out)
{
	uint64_t v;

	if (!fe[k]) {
		*out = dflt;
		return 0;
	}
	if (dec_parse(fe[k], strlen(fe[k]), UINT32_MAX, &v) < 0)
		return bad(fe_names[k], fe[k], "expected an unsigned decimal");
	*out = v != 0;
	return 0;
}

int nb_fe_num_queues(const char *val, unsigned max_queues, unsigned *n)
{
	uint64_t v;

	if (!val) {
		*n = 1;
		return 0;
	}
	if (dec_parse(val, strlen(val), UINT32_MAX, &v) < 0)
		return bad(fe_names[NB_FK_NUM_QUEUES], val, "expected an unsigned decimal");
	/* 0 is what CVE-2026-45890 sent; above our offer is netback's refusal */
	if (v < 1 || v > max_queues) {
		char why[64];

		snprintf(why, sizeof(why), "expected 1..%u queues", max_queues);
		return bad(fe_names[NB_FK_NUM_QUEUES], val, why);
	}
	*n = (unsigned)v;
	return 0;
}

static int u32_key(const char *const q[], enum nb_fq_key k, bool nonzero, uint32_t *out)
{
	uint64_t v;

	if (!q[k])
		return err_set(-EINVAL, "frontend key %s missing", fq_names[k]);
	if (dec_parse(q[k], strlen(q[k]), UINT32_MAX, &v) < 0)
		return bad(fq_names[k], q[k], "expected an unsigned 32-bit decimal");
	if (nonzero && v == 0)
		return bad(fq_names[k], q[k], "port 0 is never bound");
	*out = (uint32_t)v;
	return 0;
}

static int parse_queue(const char *const q[], struct nb_queue_cfg *c)
{
	int rc;

	if ((rc = u32_key(q, NB_FQ_TX_REF, false, &c->tx_ref)) < 0 ||
	    (rc = u32_key(q, NB_FQ_RX_REF, false, &c->rx_ref)) < 0)
		return rc;
	/* split channels first, as netback tries them */
	if (q[NB_FQ_EVTCHN_TX] || q[NB_FQ_EVTCHN_RX]) {
		if ((rc = u32_key(q, NB_FQ_EVTCHN_TX, true, &c->evtchn_tx)) < 0 ||
		    (rc = u32_key(q, NB_FQ_EVTCHN_RX, true, &c->evtchn_rx)) < 0)
			return rc;
		if (c->evtchn_tx == c->evtchn_rx)
			return bad(fq_names[NB_FQ_EVTCHN_RX], q[NB_FQ_EVTCHN_RX],
				   "the same port as event-channel-tx");
		c->split = true;
		return 0;
	}
	if ((rc = u32_key(q, NB_FQ_EVTCHN, true, &c->evtchn_tx)) < 0)
		return rc;
	c->evtchn_rx = c->evtchn_tx;
	c->split = false;
	return 0;
}

int nb_fe_parse(const char *const fe[NB_FK_COUNT], const char *const q[][NB_FQ_COUNT],
		unsigned nqueues, struct nb_fe_cfg *out)
{
	struct nb_fe_cfg c;
	bool rx_copy = false, no_csum = false;
	int rc;

	memset(&c, 0, sizeof(c));
	if (nqueues < 1 || nqueues > NB_MAX_QUEUES)
		return err_set(-EINVAL, "%u queues: expected 1..%u", nqueues, NB_MAX_QUEUES);
	if ((rc = flag(fe, NB_FK_REQUEST_RX_COPY, false, &rx_copy)) < 0)
		return rc;
	if (!rx_copy)
		return err_set(-EOPNOTSUPP, "frontend does not request rx-copy (%s)",
			       fe[NB_FK_REQUEST_RX_COPY] ? "0" : "absent");
	if ((rc = flag(fe, NB_FK_RX_NOTIFY, false, &c.feat.rx_notify)) < 0 ||
	    (rc = flag(fe, NB_FK_SG, false, &c.feat.sg)) < 0 ||
	    (rc = flag(fe, NB_FK_GSO_TCPV4, false, &c.feat.gso_tcpv4)) < 0 ||
	    (rc = flag(fe, NB_FK_GSO_TCPV6, false, &c.feat.gso_tcpv6)) < 0 ||
	    (rc = flag(fe, NB_FK_NO_CSUM_OFFLOAD, false, &no_csum)) < 0 ||
	    (rc = flag(fe, NB_FK_IPV6_CSUM_OFFLOAD, false, &c.feat.ipv6_csum)) < 0)
		return rc;
	c.feat.csum = !no_csum;
	/* GSO needs scatter-gather on our side of the copy (netback too) */
	if (!c.feat.sg)
		c.feat.gso_tcpv4 = c.feat.gso_tcpv6 = false;
	c.nqueues = nqueues;
	for (unsigned i = 0; i < nqueues; i++) {
		rc = parse_queue(q[i], &c.q[i]);
		if (rc < 0)
			return nqueues > 1 ? err_prefix(rc, "queue-%u", i) : rc;
	}
	*out = c;
	return 0;
}
