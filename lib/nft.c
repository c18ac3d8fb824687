/* nft: libnftables command buffers as single transactions (see nft.h). */
#include "lib/nft.h"

#include <errno.h>
#include <nftables/libnftables.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"

static struct nft_ctx *nft_ctx;

static struct nft_ctx *nft_get_ctx(void)
{
	if (nft_ctx)
		return nft_ctx;
	nft_ctx = nft_ctx_new(NFT_CTX_DEFAULT);
	if (!nft_ctx)
		return NULL;
	/* Both streams go to buffers: netd reports through err_msg() and must
	 * never print nft's output on its own stderr/stdout. */
	if (nft_ctx_buffer_output(nft_ctx) || nft_ctx_buffer_error(nft_ctx)) {
		nft_ctx_free(nft_ctx);
		nft_ctx = NULL;
	}
	return nft_ctx;
}

void nft_close(void)
{
	if (nft_ctx)
		nft_ctx_free(nft_ctx);
	nft_ctx = NULL;
}

/* libnftables returns -1 without errno; the kernel's reason is only in the
 * text (strerror of what netlink said), so map the common ones back. */
static int nft_errno_of(const char *text)
{
	static const struct {
		const char *s;
		int e;
	} map[] = {
		{ "No such file or directory", ENOENT },
		{ "File exists", EEXIST },
		{ "Operation not permitted", EPERM },
		{ "Permission denied", EACCES },
		{ "Device or resource busy", EBUSY },
		{ "Operation not supported", EOPNOTSUPP },
		{ "Cannot allocate memory", ENOMEM },
		{ "Too many open files", EMFILE },
		{ "No buffer space available", ENOBUFS },
		{ "Message too long", EMSGSIZE },
		{ "Interrupted system call", EINTR },
		{ "Resource temporarily unavailable", EAGAIN },
		{ "No space left on device", ENOSPC },
		{ "Value too large", EOVERFLOW },
	};
	size_t i;

	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strstr(text, map[i].s))
			return -map[i].e;
	return -EINVAL;
}

/* nft's error text is "Error: what\n<the command>\n<^^^ marks>\n", once per
 * error. Keep it one line: the first error, plus the command it names. nft
 * 1.0.6 quotes the buffer's first line whatever line failed, so the command
 * is only quoted for one-line buffers, where it is right. */
static int nft_fail(const char *errbuf, bool one_line)
{
	const char *nl, *cmd_end;
	int first_len, cmd_len = 0, rc;
	const char *cmd = NULL;

	if (!errbuf || !*errbuf)
		return err_set(-EINVAL, "nftables: command failed without a message");
	rc = nft_errno_of(errbuf);
	nl = strchr(errbuf, '\n');
	first_len = nl ? (int)(nl - errbuf) : (int)strlen(errbuf);
	if (one_line && nl && nl[1] && nl[1] != '^' && nl[1] != ' ') {
		cmd = nl + 1;
		cmd_end = strchr(cmd, '\n');
		cmd_len = cmd_end ? (int)(cmd_end - cmd) : (int)strlen(cmd);
		while (cmd_len > 0 && (*cmd == '\t' || *cmd == ' ')) {
			cmd++;
			cmd_len--;
		}
	}
	if (cmd && cmd_len > 0)
		return err_set(rc, "%.*s (in `%.*s')", first_len, errbuf,
			       cmd_len > 200 ? 200 : cmd_len, cmd);
	return err_set(rc, "%.*s", first_len, errbuf);
}

static int nft_exec(const char *cmds, unsigned int flags, bool dry, char **out)
{
	struct nft_ctx *ctx = nft_get_ctx();
	unsigned int old_flags;
	const char *o, *e;
	int rc;

	if (out)
		*out = NULL;
	if (!ctx)
		return err_set(-ENOMEM, "nftables: cannot create a libnftables context");
	old_flags = nft_ctx_output_get_flags(ctx);
	nft_ctx_output_set_flags(ctx, flags);
	nft_ctx_set_dry_run(ctx, dry);
	rc = nft_run_cmd_from_buffer(ctx, cmds);
	nft_ctx_set_dry_run(ctx, false);
	nft_ctx_output_set_flags(ctx, old_flags);
	/* Reading a buffer rewinds it, so both are read on every path: the next
	 * command must not see this one's leftovers. */
	o = nft_ctx_get_output_buffer(ctx);
	e = nft_ctx_get_error_buffer(ctx);
	if (rc) {
		const char *eol = strchr(cmds, '\n');

		return nft_fail(e, !eol || !eol[strspn(eol, "\n")]);
	}
	if (out) {
		*out = strdup(o ? o : "");
		if (!*out)
			return err_set(-ENOMEM, "nftables: out of memory");
	}
	return 0;
}

int nft_run(const char *cmds)
{
	return nft_exec(cmds, 0, false, NULL);
}

int nft_run_out(const char *cmds, bool json, char **out)
{
	return nft_exec(cmds, json ? NFT_CTX_OUTPUT_JSON : 0, false, out);
}

int nft_list_json(const char *cmds, json_t **items)
{
	json_t *doc;
	char *out;
	int rc;

	*items = NULL;
	rc = nft_run_out(cmds, true, &out);
	if (rc)
		return rc;
	doc = json_loads(out, 0, NULL);
	free(out);
	*items = json_incref(json_object_get(doc, "nftables"));
	json_decref(doc);
	if (!json_is_array(*items)) {
		json_decref(*items);
		*items = NULL;
		return err_set(-EINVAL, "nft: unreadable JSON listing for '%s'", cmds);
	}
	return 0;
}

int nft_check(const char *cmds)
{
	return nft_exec(cmds, 0, true, NULL);
}
