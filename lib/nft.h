/* nft: run nftables command buffers through libnftables.
 *
 * A buffer (any number of commands, e.g. a whole `table ip t { ... }`
 * definition, `add element ...`, `delete table ...`) is one nftables
 * transaction: the kernel applies all of it or none of it. A failure returns
 * -errno and leaves nft's own first error line in err_msg() (e.g.
 * "Error: Could not process rule: No such file or directory"), with the
 * failing command quoted when nft names it.
 *
 * One libnftables context serves the process (netd is a single event loop);
 * it is created on first use and acts on the network namespace the process
 * runs in. No shelling out to the nft binary. */
#ifndef LIB_NFT_H
#define LIB_NFT_H

#include <jansson.h>
#include <stdbool.h>

/* Run cmds as one transaction. 0 or -errno with err_msg(). */
int nft_run(const char *cmds);

/* Like nft_run, with output: *out gets nft's output (malloc'ed, NUL-terminated,
 * possibly empty) in JSON when json is true (schema of `nft -j`), else in
 * nft's text syntax. Use for `list table/map/set/ruleset ...`. *out is NULL on
 * failure. */
int nft_run_out(const char *cmds, bool json, char **out);

/* A listing (`list table/set/...`) in JSON, parsed: *items gets the
 * "nftables" array of `nft -j` (a new reference; json_decref it). */
int nft_list_json(const char *cmds, json_t **items);

/* Parse, evaluate and send cmds to the kernel without committing (`nft -c`):
 * 0 when nft_run(cmds) would succeed right now. */
int nft_check(const char *cmds);

/* Free the context (tests and exit paths; the next call makes a new one). */
void nft_close(void);

#endif
