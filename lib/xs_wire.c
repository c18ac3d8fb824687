/* xs_wire: header coding, error names and argument splitting for the
 * xenstore protocol. Pure functions: the fuzz harness and the unit tests
 * drive them directly. */
#include "lib/xs_wire.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static void put_le32(uint8_t *p, uint32_t v)
{
	p[0] = v;
	p[1] = v >> 8;
	p[2] = v >> 16;
	p[3] = v >> 24;
}

void xs_hdr_decode(const uint8_t raw[XS_HDR_LEN], struct xs_msg_hdr *h)
{
	h->type = get_le32(raw);
	h->req_id = get_le32(raw + 4);
	h->tx_id = get_le32(raw + 8);
	h->len = get_le32(raw + 12);
}

void xs_hdr_encode(const struct xs_msg_hdr *h, uint8_t raw[XS_HDR_LEN])
{
	put_le32(raw, h->type);
	put_le32(raw + 4, h->req_id);
	put_le32(raw + 8, h->tx_id);
	put_le32(raw + 12, h->len);
}

static const char *const type_names[XS_MSG_TYPE_COUNT] = {
	[XS_MSG_CONTROL] = "CONTROL",
	[XS_MSG_DIRECTORY] = "DIRECTORY",
	[XS_MSG_READ] = "READ",
	[XS_MSG_GET_PERMS] = "GET_PERMS",
	[XS_MSG_WATCH] = "WATCH",
	[XS_MSG_UNWATCH] = "UNWATCH",
	[XS_MSG_TRANSACTION_START] = "TRANSACTION_START",
	[XS_MSG_TRANSACTION_END] = "TRANSACTION_END",
	[XS_MSG_INTRODUCE] = "INTRODUCE",
	[XS_MSG_RELEASE] = "RELEASE",
	[XS_MSG_GET_DOMAIN_PATH] = "GET_DOMAIN_PATH",
	[XS_MSG_WRITE] = "WRITE",
	[XS_MSG_MKDIR] = "MKDIR",
	[XS_MSG_RM] = "RM",
	[XS_MSG_SET_PERMS] = "SET_PERMS",
	[XS_MSG_WATCH_EVENT] = "WATCH_EVENT",
	[XS_MSG_ERROR] = "ERROR",
	[XS_MSG_IS_DOMAIN_INTRODUCED] = "IS_DOMAIN_INTRODUCED",
	[XS_MSG_RESUME] = "RESUME",
	[XS_MSG_SET_TARGET] = "SET_TARGET",
	[XS_MSG_RESET_WATCHES] = "RESET_WATCHES",
	[XS_MSG_DIRECTORY_PART] = "DIRECTORY_PART",
	[XS_MSG_GET_FEATURE] = "GET_FEATURE",
	[XS_MSG_SET_FEATURE] = "SET_FEATURE",
	[XS_MSG_GET_QUOTA] = "GET_QUOTA",
	[XS_MSG_SET_QUOTA] = "SET_QUOTA",
};

const char *xs_msg_type_name(uint32_t type)
{
	if (type < XS_MSG_TYPE_COUNT && type_names[type])
		return type_names[type];
	return "?";
}

/* Xen's xsd_errors[] table: clients compare these strings, so the set and
 * spelling are part of the protocol. EINVAL first: it is the fallback. */
static const struct {
	int err;
	const char *name;
} err_names[] = {
	{ EINVAL, "EINVAL" },   { EACCES, "EACCES" },	  { EEXIST, "EEXIST" },
	{ EISDIR, "EISDIR" },   { ENOENT, "ENOENT" },	  { ENOMEM, "ENOMEM" },
	{ ENOSPC, "ENOSPC" },   { EIO, "EIO" },		  { ENOTEMPTY, "ENOTEMPTY" },
	{ ENOSYS, "ENOSYS" },   { EROFS, "EROFS" },	  { EBUSY, "EBUSY" },
	{ EAGAIN, "EAGAIN" },   { EISCONN, "EISCONN" },   { E2BIG, "E2BIG" },
	{ EPERM, "EPERM" },
};

const char *xs_err_name(int err)
{
	unsigned i;

	if (err < 0)
		err = -err;
	for (i = 0; i < sizeof(err_names) / sizeof(err_names[0]); i++)
		if (err_names[i].err == err)
			return err_names[i].name;
	return "EINVAL";
}

int xs_err_from_name(const char *name)
{
	unsigned i;

	for (i = 0; i < sizeof(err_names) / sizeof(err_names[0]); i++)
		if (!strcmp(err_names[i].name, name))
			return err_names[i].err;
	return 0;
}

unsigned xs_args_split(const char *buf, unsigned len, const char **vec,
		       unsigned max)
{
	unsigned off = 0, n = 0;
	const char *nul;

	while (off < len) {
		nul = memchr(buf + off, 0, len - off);
		if (!nul)
			break;
		if (n < max)
			vec[n] = buf + off;
		n++;
		off = (unsigned)(nul - buf) + 1;
	}
	return n;
}

int xs_domid_parse(const char *s, uint32_t *domid)
{
	uint32_t v = 0;

	/* xenstored uses atoi-like parsing; we are stricter so a garbled
	 * request gets EINVAL instead of silently meaning domain 0. */
	if (!*s || strlen(s) > 5)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		v = v * 10 + (uint32_t)(*s - '0');
	}
	if (v > 65535)
		return -EINVAL;
	*domid = v;
	return 0;
}

int xs_perm_parse(const char *s, struct xs_perm *p)
{
	switch (s[0]) {
	case 'n':
		p->mode = XS_P_NONE;
		break;
	case 'r':
		p->mode = XS_P_READ;
		break;
	case 'w':
		p->mode = XS_P_WRITE;
		break;
	case 'b':
		p->mode = XS_P_BOTH;
		break;
	default:
		return -EINVAL;
	}
	return xs_domid_parse(s + 1, &p->domid);
}

unsigned xs_perm_format(const struct xs_perm *p, char *buf)
{
	static const char letters[] = { 'n', 'r', 'w', 'b' };

	return (unsigned)sprintf(buf, "%c%u", letters[p->mode & XS_P_BOTH],
				 (unsigned)p->domid);
}
