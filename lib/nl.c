/* nl: rtnetlink socket, requests with extended ACK, dumps, raw blobs. */
#include "lib/nl.h"

#include <errno.h>
#include <stdbool.h>
#include <linux/netlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/err.h"

static struct mnl_socket *nl_sock;
static uint32_t nl_portid;
static uint32_t nl_seq;
/* Set when the kernel's last message of an exchange (DONE or an error/ACK) was read. */
static bool nl_ended;
/* Requests are built here; replies are read into a separate buffer. */
static uint8_t nl_req_buf[8192] __attribute__((aligned(4)));
static uint8_t nl_rcv_buf[32768] __attribute__((aligned(4)));

int nl_open(void)
{
	int one = 1;

	if (nl_sock)
		return 0;
	nl_sock = mnl_socket_open(NETLINK_ROUTE);
	if (!nl_sock)
		return err_set(-errno, "netlink: cannot open socket: %s", strerror(errno));
	/* Extended ACK gives the kernel's reason; CAP_ACK keeps errors small;
	 * STRICT_CHK makes dumps honour our filters. */
	mnl_socket_setsockopt(nl_sock, NETLINK_EXT_ACK, &one, sizeof(one));
	mnl_socket_setsockopt(nl_sock, NETLINK_CAP_ACK, &one, sizeof(one));
	mnl_socket_setsockopt(nl_sock, NETLINK_GET_STRICT_CHK, &one, sizeof(one));
	if (mnl_socket_bind(nl_sock, 0, MNL_SOCKET_AUTOPID) < 0) {
		int rc = -errno;

		mnl_socket_close(nl_sock);
		nl_sock = NULL;
		return err_set(rc, "netlink: cannot bind: %s", strerror(-rc));
	}
	nl_portid = mnl_socket_get_portid(nl_sock);
	nl_seq = (uint32_t)time(NULL);
	return 0;
}

void nl_close(void)
{
	if (nl_sock)
		mnl_socket_close(nl_sock);
	nl_sock = NULL;
}

struct nlmsghdr *nl_msg(uint16_t type, uint16_t flags)
{
	struct nlmsghdr *nlh;

	memset(nl_req_buf, 0, sizeof(struct nlmsghdr) + 64);
	nlh = mnl_nlmsg_put_header(nl_req_buf);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	nlh->nlmsg_seq = ++nl_seq;
	return nlh;
}

/* NLMSG_ERROR: pull the extended ACK message out of the trailing TLVs. */
static int nl_error_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *attr;
	size_t off;

	nl_ended = true;
	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*e)))
		return err_set(-EBADMSG, "netlink: truncated error message"), MNL_CB_ERROR;
	if (e->error == 0)
		return MNL_CB_STOP;
	errno = -e->error;
	err_set(e->error, "%s", strerror(-e->error));
	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
		return MNL_CB_ERROR;
	off = sizeof(*e);
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
		off += e->msg.nlmsg_len - sizeof(struct nlmsghdr);
	/* mnl_attr_for_each_payload() names its cursor `attr`. */
	mnl_attr_for_each_payload((const struct nlattr *)((const uint8_t *)e + off),
				  nlh->nlmsg_len - mnl_nlmsg_size(off)) {
		if (mnl_attr_get_type(attr) == NLMSGERR_ATTR_MSG &&
		    mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) == 0)
			err_set(e->error, "Error: %s.", mnl_attr_get_str(attr));
	}
	return MNL_CB_ERROR;
}

static int nl_noop_cb(const struct nlmsghdr *nlh, void *data)
{
	return MNL_CB_OK;
}

static int nl_done_cb(const struct nlmsghdr *nlh, void *data)
{
	nl_ended = true;
	return MNL_CB_STOP;
}

static int nl_talk(struct nlmsghdr *nlh, mnl_cb_t cb, void *data)
{
	static mnl_cb_t ctl[NLMSG_MIN_TYPE] = {
		[NLMSG_NOOP] = nl_noop_cb,
		[NLMSG_ERROR] = nl_error_cb,
		[NLMSG_DONE] = nl_done_cb,
		[NLMSG_OVERRUN] = nl_noop_cb,
	};
	uint32_t seq = nlh->nlmsg_seq;
	ssize_t n;
	int rc;

	if (!nl_sock && (rc = nl_open()) < 0)
		return rc;
	err_clear();
	nl_ended = false;
	if (mnl_socket_sendto(nl_sock, nlh, nlh->nlmsg_len) < 0)
		return err_set(-errno, "netlink: send: %s", strerror(errno));
	do {
		n = mnl_socket_recvfrom(nl_sock, nl_rcv_buf, sizeof(nl_rcv_buf));
		if (n < 0) {
			rc = err_set(-errno, "netlink: receive: %s", strerror(errno));
			nl_close();
			return rc;
		}
		rc = mnl_cb_run2(nl_rcv_buf, n, seq, nl_portid, cb, data, ctl, NLMSG_MIN_TYPE);
	} while (rc == MNL_CB_OK);
	/* A callback that gave up (or a bad message) left the rest of the reply
	 * queued: a fresh socket keeps the next request from reading it. */
	if (!nl_ended)
		nl_close();
	if (rc == MNL_CB_ERROR) {
		/* The error callback (or a dump callback) left its message. */
		if (err_code())
			return err_code();
		return err_set(errno ? -errno : -EIO, "netlink: %s", strerror(errno ? errno : EIO));
	}
	return 0;
}

int nl_request(struct nlmsghdr *nlh)
{
	nlh->nlmsg_flags |= NLM_F_ACK;
	return nl_talk(nlh, NULL, NULL);
}

int nl_get(struct nlmsghdr *nlh, mnl_cb_t cb, void *data)
{
	/* The ACK after the reply ends the exchange (a GET has no DONE). */
	nlh->nlmsg_flags |= NLM_F_ACK;
	return nl_talk(nlh, cb, data);
}

int nl_dump(struct nlmsghdr *nlh, mnl_cb_t cb, void *data)
{
	nlh->nlmsg_flags |= NLM_F_DUMP;
	return nl_talk(nlh, cb, data);
}

int nl_blobs_push(struct nl_blobs *b, const struct nlmsghdr *nlh)
{
	struct nl_blob *v = realloc(b->v, (b->n + 1) * sizeof(*v));

	if (!v)
		return err_set(-ENOMEM, "out of memory");
	b->v = v;
	v[b->n].data = malloc(nlh->nlmsg_len);
	if (!v[b->n].data)
		return err_set(-ENOMEM, "out of memory");
	memcpy(v[b->n].data, nlh, nlh->nlmsg_len);
	v[b->n].len = nlh->nlmsg_len;
	b->n++;
	return 0;
}

void nl_blobs_free(struct nl_blobs *b)
{
	for (size_t i = 0; i < b->n; i++)
		free(b->v[i].data);
	free(b->v);
	b->v = NULL;
	b->n = 0;
}

char *nl_blob_to_hex(const struct nl_blob *b)
{
	static const char digits[] = "0123456789abcdef";
	char *s = malloc(2 * (size_t)b->len + 1);

	if (!s)
		return NULL;
	for (uint32_t i = 0; i < b->len; i++) {
		s[2 * i] = digits[b->data[i] >> 4];
		s[2 * i + 1] = digits[b->data[i] & 15];
	}
	s[2 * (size_t)b->len] = '\0';
	return s;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int nl_blob_from_hex(const char *hex, struct nl_blob *out)
{
	size_t n = strlen(hex);
	const struct nlmsghdr *nlh;

	if (n % 2 || n / 2 < sizeof(struct nlmsghdr) || n / 2 > 65536)
		return err_set(-EINVAL, "netlink blob: bad length %zu", n);
	out->data = malloc(n / 2);
	if (!out->data)
		return err_set(-ENOMEM, "out of memory");
	for (size_t i = 0; i < n / 2; i++) {
		int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);

		if (hi < 0 || lo < 0) {
			free(out->data);
			return err_set(-EINVAL, "netlink blob: not hex");
		}
		out->data[i] = (uint8_t)(hi << 4 | lo);
	}
	out->len = (uint32_t)(n / 2);
	nlh = (const struct nlmsghdr *)out->data;
	if (nlh->nlmsg_len != out->len) {
		free(out->data);
		return err_set(-EINVAL, "netlink blob: length mismatch");
	}
	return 0;
}
