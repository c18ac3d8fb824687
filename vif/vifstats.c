/* vifstats: see vifstats.h. */
#include "vif/vifstats.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lib/dec.h"
#include "lib/err.h"

#define VIF_STATS_READS 5

static const char *const names[VIF_ST_COUNT] = {
	[VIF_ST_RX_PACKETS] = "rx_packets",
	[VIF_ST_RX_BYTES] = "rx_bytes",
	[VIF_ST_TX_PACKETS] = "tx_packets",
	[VIF_ST_TX_BYTES] = "tx_bytes",
	[VIF_ST_RX_DROP_MALFORMED] = "rx_drop_malformed",
	[VIF_ST_RX_DROP_GRANT] = "rx_drop_grant",
	[VIF_ST_RX_DROP_HEADER] = "rx_drop_header",
	[VIF_ST_RX_DROP_TAP] = "rx_drop_tap",
	[VIF_ST_TX_DROP_UNFIT] = "tx_drop_unfit",
	[VIF_ST_TX_DROP_GRANT] = "tx_drop_grant",
	[VIF_ST_TX_DROP_HEADER] = "tx_drop_header",
	[VIF_ST_TX_DROP_NO_BUFFERS] = "tx_drop_no_buffers",
	[VIF_ST_TX_RING_FULL] = "tx_ring_full",
	[VIF_ST_TX_STALLS] = "tx_stalls",
	[VIF_ST_EVENTS] = "events",
	[VIF_ST_SPURIOUS_EVENTS] = "spurious_events",
	[VIF_ST_HOLDS] = "holds",
};

const char *vif_stat_name(enum vif_stat s)
{
	return (unsigned)s < VIF_ST_COUNT ? names[s] : "?";
}

void vif_stats_add(struct vif_stats *to, const struct vif_stats *from)
{
	for (unsigned i = 0; i < VIF_ST_COUNT; i++)
		to->v[i] += from->v[i];
}

size_t vif_stats_format(const struct vif_stats *st, char buf[VIF_STATS_TEXT_MAX])
{
	size_t len = 0;

	/* 20 digits hold any uint64_t: every line keeps its width */
	for (unsigned i = 0; i < VIF_ST_COUNT; i++)
		len += (size_t)snprintf(buf + len, VIF_STATS_TEXT_MAX - len, "%-20s %20llu\n",
					names[i], (unsigned long long)st->v[i]);
	return len;
}

_Static_assert(VIF_ST_COUNT * 42 < VIF_STATS_TEXT_MAX, "room for every line");

int vif_stats_parse(const char *text, size_t len, struct vif_stats *st)
{
	const char *p = text, *end = text + len;
	unsigned line = 0;

	memset(st, 0, sizeof(*st));
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p)), *sp, *val;
		size_t n;

		line++;
		if (!nl)
			return err_set(-EINVAL, "line %u: no newline", line);
		sp = memchr(p, ' ', (size_t)(nl - p));
		if (!sp || sp == p)
			return err_set(-EINVAL, "line %u: expected 'name value'", line);
		for (val = sp; val < nl && *val == ' '; val++)
			;
		n = (size_t)(sp - p);
		for (unsigned i = 0; i < VIF_ST_COUNT; i++) {
			if (strlen(names[i]) != n || memcmp(names[i], p, n))
				continue;
			if (dec_parse(val, (size_t)(nl - val), UINT64_MAX, &st->v[i]) < 0)
				return err_set(-EINVAL, "line %u: %s: not a count", line, names[i]);
			break;
		}
		p = nl + 1;
	}
	return 0;
}

static ssize_t read_at0(int fd, char *buf, size_t room)
{
	size_t got = 0;

	while (got < room) {
		ssize_t n = pread(fd, buf + got, room - got, (off_t)got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

int vif_stats_read_fd(int fd, struct vif_stats *st)
{
	char a[VIF_STATS_TEXT_MAX], b[VIF_STATS_TEXT_MAX];
	ssize_t na = read_at0(fd, a, sizeof(a)), nb;

	for (unsigned i = 0; i < VIF_STATS_READS; i++) {
		if (na < 0)
			return err_set((int)na, "read: %s", strerror((int)-na));
		if ((size_t)na == sizeof(a))
			return err_set(-EFBIG, "more than %d bytes", VIF_STATS_TEXT_MAX - 1);
		nb = read_at0(fd, b, sizeof(b));
		if (nb == na && !memcmp(a, b, (size_t)na))
			return vif_stats_parse(a, (size_t)na, st);
		memcpy(a, b, sizeof(a));
		na = nb;
	}
	return err_set(-EAGAIN, "changes under every read");
}

int vif_stats_write_fd(int fd, const struct vif_stats *st)
{
	char buf[VIF_STATS_TEXT_MAX];
	size_t len = vif_stats_format(st, buf);
	ssize_t n;

	do
		n = pwrite(fd, buf, len, 0);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return err_set(-errno, "write: %s", strerror(errno));
	if ((size_t)n != len)
		return err_set(-EIO, "short write (%zd of %zu bytes)", n, len);
	return 0;
}

json_t *vif_stats_json(const struct vif_stats *st)
{
	json_t *o = json_object(), *drops[2] = { json_object(), json_object() };

	if (!o || !drops[0] || !drops[1]) {
		json_decref(o);
		json_decref(drops[0]);
		json_decref(drops[1]);
		return NULL;
	}
	for (unsigned i = 0; i < VIF_ST_COUNT; i++) {
		const char *n = names[i];
		json_t *v = json_integer((json_int_t)(st->v[i] & INT64_MAX));

		/* "rx_drop_grant" -> rx_drops.grant */
		if (!strncmp(n + 2, "_drop_", 6))
			json_object_set_new(drops[n[0] == 't'], n + 8, v);
		else
			json_object_set_new(o, n, v);
	}
	json_object_set_new(o, "rx_drops", drops[0]);
	json_object_set_new(o, "tx_drops", drops[1]);
	return o;
}
