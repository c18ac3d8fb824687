/* libFuzzer harness for the simulated xenstored's request path: the input
 * is a raw byte stream of xenstore messages, fed in uneven chunks to a
 * privileged (dom0) and an unprivileged (dom5) connection of one store,
 * the way the daemon feeds socket reads. Besides the sanitizers it checks
 * the engine's promises: every reply is a well-formed message within
 * XS_PAYLOAD_MAX, and the tree's node count matches the tree. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hypervisor/sim/xs_store.h"
#include "lib/log.h"

/* The engine is included, not linked, so libFuzzer's coverage
 * instrumentation (applied to this target only) reaches it. */
#include "hypervisor/sim/xs_ops.c"
#include "hypervisor/sim/xs_store.c"
#include "hypervisor/sim/xs_tree.c"
#include "hypervisor/sim/xs_txn.c"
#include "hypervisor/sim/xs_watch.c"
#include "lib/xs_wire.c"

#include "tests/fuzz/fuzz_check.h"

static unsigned count_nodes(const struct xs_node *n)
{
	unsigned i, c = 1;

	for (i = 0; i < n->n_kids; i++) {
		CHECK(n->kids[i]->parent == n);
		c += count_nodes(n->kids[i]);
	}
	return c;
}

/* Nodes per owner, counted afresh: the tree's quota counts must agree. */
static void count_owned(const struct xs_node *n, uint32_t *owned)
{
	if (n->acl->p[0].domid < XS_DOMIDS)
		owned[n->acl->p[0].domid]++;
	for (unsigned i = 0; i < n->n_kids; i++)
		count_owned(n->kids[i], owned);
}

/* Reply stream: whole messages, each header's len within the limit. */
static void drain(struct xs_conn *c)
{
	static uint8_t stream[1 << 20];
	size_t used = 0, len, off;
	const uint8_t *p;

	while ((p = xs_conn_out_peek(c, &len))) {
		if (used + len <= sizeof(stream)) {
			memcpy(stream + used, p, len);
			used += len;
		}
		xs_conn_out_consume(c, len);
	}
	for (off = 0; off + XS_HDR_LEN <= used;) {
		struct xs_msg_hdr h;

		xs_hdr_decode(stream + off, &h);
		CHECK(h.len <= XS_PAYLOAD_MAX);
		CHECK(h.type < XS_MSG_TYPE_COUNT);
		if (h.type == XS_MSG_ERROR)
			CHECK(h.len > 1 && stream[off + XS_HDR_LEN + h.len - 1] == 0);
		off += XS_HDR_LEN + h.len;
	}
}

static void feed_chunked(struct xs_conn *c, const uint8_t *data, size_t size)
{
	size_t off = 0, step;

	/* Chunk sizes derived from the data: splits headers and payloads at
	 * arbitrary points, as short socket reads do. */
	while (off < size && !c->dead) {
		step = 1 + (data[off] % 97) * 7;
		if (step > size - off)
			step = size - off;
		xs_conn_feed(c, data + off, step);
		drain(c);
		off += step;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct xs_store st;
	struct xs_conn *dom0, *guest, *watcher;
	static const uint8_t watch_all[] = {
		4, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, '/', 0, 'w', 0,
	};

	log_set_level(LOG_LVL_ERR);
	CHECK(xs_store_init(&st) == 0);
	dom0 = xs_conn_new(&st, 0);
	guest = xs_conn_new(&st, 5);
	watcher = xs_conn_new(&st, 0);
	CHECK(dom0 && guest && watcher);
	/* A watch on everything: every change also goes through delivery. */
	xs_conn_feed(watcher, watch_all, sizeof(watch_all));

	feed_chunked(dom0, data, size);
	feed_chunked(guest, data, size);
	drain(watcher);

	CHECK(count_nodes(st.tree.root) == st.tree.n_nodes);
	CHECK(st.tree.n_nodes <= XS_NODES_MAX);
	{
		uint32_t *owned = calloc(XS_DOMIDS, sizeof(*owned));

		CHECK(owned);
		count_owned(st.tree.root, owned);
		CHECK(!memcmp(owned, st.tree.owned, XS_DOMIDS * sizeof(*owned)));
		free(owned);
	}
	xs_store_fini(&st);
	return 0;
}
