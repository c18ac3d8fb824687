/* The simulated hypervisor's grants and event channels, end to end: a real
 * `hvsim xenstored` (with its broker) runs in a child process, domains are
 * introduced over xenstore's wire protocol, guests are hv_guest handles (or
 * child processes that die), the backend is hv.h of kind "sim". Each case
 * checks what a backend or a guest would see: bytes on the other side,
 * Xen's GNTST_* code per segment, which ports fire and how often. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hypervisor/hv.h"
#include "hypervisor/sim/hv_guest.h"
#include "hypervisor/sim/hv_sim_proto.h"
#include "hypervisor/sim/xenstored.h"
#include "lib/err.h"
#include "lib/log.h"
#include "lib/xs_wire.h"
#include "tests/unit/xsd_child.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define PAGE HV_PAGE_SIZE

static int group_setup(void **state)
{
	xsd_child_start("/tmp/hv-sim-test.XXXXXX");
	introduce(5);
	introduce(6);
	introduce(7);
	return 0;
}

static int group_teardown(void **state)
{
	xsd_child_stop();
	return 0;
}

struct fx {
	struct hv *hv;
	struct hv_guest *g5, *g6;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_int_equal(hv_open("sim", &f->hv), 0);
	assert_int_equal(hv_guest_open(5, 16, &f->g5), 0);
	assert_int_equal(hv_guest_open(6, 16, &f->g6), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	hv_guest_close(f->g5);
	hv_guest_close(f->g6);
	hv_close(f->hv);
	free(f);
	return 0;
}

static void fill(void *p, size_t len, uint8_t seed)
{
	for (size_t i = 0; i < len; i++)
		((uint8_t *)p)[i] = (uint8_t)(seed + i * 7);
}

static void test_open_kinds(void **state)
{
	struct hv *hv;

	assert_int_equal(hv_open("vmware", &hv), -EINVAL);
	assert_non_null(strstr(err_msg(), "vmware"));
	if (access("/dev/xen/evtchn", F_OK) != 0) {
		assert_int_equal(hv_open(NULL, &hv), 0);
		assert_string_equal(hv_kind(hv), "sim");
		hv_close(hv);
		/* No Xen here: the xen kind fails with a message, no crash. */
		assert_true(hv_open("xen", &hv) < 0);
		assert_non_null(strstr(err_msg(), "/dev/xen/"));
	}
	assert_string_equal(hv_gntst_str(HV_GNTST_BAD_GNTREF), "invalid grant reference");
	assert_string_equal(hv_gntst_str(-99), "unknown grant status");
}

static void test_copy_both_ways(void **state)
{
	struct fx *f = *state;
	uint8_t in[2][PAGE], out[300], want[PAGE];
	uint32_t r5, r6;
	struct hv_copy segs[3];

	fill(hv_guest_page(f->g5, 3), PAGE, 1);
	fill(hv_guest_page(f->g6, 9), PAGE, 2);
	assert_int_equal(hv_guest_grant(f->g5, 0, 3, false, &r5), 0);
	assert_int_equal(hv_guest_grant(f->g6, 0, 9, false, &r6), 0);
	/* One batch, two domains, both directions. */
	fill(out, sizeof(out), 3);
	segs[0] = (struct hv_copy){ .domid = 5, .ref = r5, .offset = 0, .len = PAGE, .local = in[0] };
	segs[1] = (struct hv_copy){ .domid = 6, .ref = r6, .offset = 100, .len = 200, .local = in[1] };
	segs[2] = (struct hv_copy){ .to_guest = true, .domid = 5, .ref = r5, .offset = PAGE - 300,
				    .len = 300, .local = out };
	assert_int_equal(hv_grant_copy(f->hv, segs, 3), 0);
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(segs[i].status, HV_GNTST_OKAY);
	fill(want, PAGE, 1);
	assert_memory_equal(in[0], want, PAGE);
	fill(want, PAGE, 2);
	assert_memory_equal(in[1], want + 100, 200);
	assert_memory_equal((uint8_t *)hv_guest_page(f->g5, 3) + PAGE - 300, out, 300);
	/* The rest of the guest's page is untouched. */
	fill(want, PAGE, 1);
	assert_memory_equal(hv_guest_page(f->g5, 3), want, PAGE - 300);
}

/* Every way a reference can be bad fails its own segment with Xen's code,
 * leaves both sides' bytes alone, and does not disturb good segments. */
static void test_copy_failures(void **state)
{
	struct fx *f = *state;
	uint32_t good, ro, revoked, other_dom, r6;
	uint8_t buf[12][64], zero[64] = { 0 }, want[PAGE];
	struct {
		bool to_guest;
		uint16_t domid;
		uint32_t ref;
		uint16_t offset, len;
		int16_t status;
	} cases[] = {
		{ false, 5, 0, 0, 64, HV_GNTST_OKAY },			/* good, filled below */
		{ false, 9, 0, 0, 64, HV_GNTST_BAD_DOMAIN },		/* no such domain */
		{ false, 5, HV_SIM_GNT_ENTRIES, 0, 64, HV_GNTST_BAD_GNTREF }, /* out of the table */
		{ false, 5, 0xffffffffu, 0, 64, HV_GNTST_BAD_GNTREF },
		{ false, 5, 0, 0, 64, HV_GNTST_GENERAL_ERROR },	/* revoked */
		{ false, 5, 0, 0, 64, HV_GNTST_GENERAL_ERROR },	/* granted to domain 3 */
		{ true, 5, 0, 0, 64, HV_GNTST_GENERAL_ERROR },		/* read-only, for writing */
		{ false, 5, 0, 0, 64, HV_GNTST_OKAY },			/* read-only, for reading */
		{ false, 5, 0, PAGE - 63, 64, HV_GNTST_BAD_COPY_ARG },	/* past the page */
		{ true, 5, 0, PAGE, 1, HV_GNTST_BAD_COPY_ARG },
		{ false, 5, 0, 0, 64, HV_GNTST_GENERAL_ERROR },	/* domain 6's ref, named as 5's */
		{ false, 5, HV_SIM_GNT_FIRST_REF + 100, 0, 64, HV_GNTST_GENERAL_ERROR }, /* never granted */
	};
	struct hv_copy segs[ARRAY_SIZE(cases)];
	uint32_t dummy;
	unsigned i;

	fill(hv_guest_page(f->g5, 1), PAGE, 4);
	fill(hv_guest_page(f->g5, 2), PAGE, 5);
	assert_int_equal(hv_guest_grant(f->g5, 0, 1, false, &good), 0);
	assert_int_equal(hv_guest_grant(f->g5, 0, 2, true, &ro), 0);
	assert_int_equal(hv_guest_grant(f->g5, 0, 1, false, &revoked), 0);
	assert_int_equal(hv_guest_revoke(f->g5, revoked), 0);
	assert_int_equal(hv_guest_grant(f->g5, 3, 1, false, &other_dom), 0);
	/* Domain 6 grants past every ref domain 5 uses. */
	for (i = 0; i < 10; i++)
		assert_int_equal(hv_guest_grant(f->g6, 0, 0, false, &dummy), 0);
	assert_int_equal(hv_guest_grant(f->g6, 0, 0, false, &r6), 0);
	cases[0].ref = good;
	cases[4].ref = revoked;
	cases[5].ref = other_dom;
	cases[6].ref = ro;
	cases[7].ref = ro;
	cases[8].ref = good;
	cases[9].ref = good;
	cases[10].ref = r6;
	for (i = 0; i < ARRAY_SIZE(cases); i++)
		segs[i] = (struct hv_copy){ .to_guest = cases[i].to_guest, .domid = cases[i].domid,
					    .ref = cases[i].ref, .offset = cases[i].offset,
					    .len = cases[i].len, .local = buf[i] };
	memset(buf, 0, sizeof(buf));
	assert_int_equal(hv_grant_copy(f->hv, segs, ARRAY_SIZE(segs)), 0);
	for (i = 0; i < ARRAY_SIZE(cases); i++)
		if (segs[i].status != cases[i].status)
			fail_msg("case %u: status %d (%s), expected %d", i, segs[i].status,
				 hv_gntst_str(segs[i].status), cases[i].status);
	fill(want, PAGE, 4);
	assert_memory_equal(buf[0], want, 64);
	fill(want, PAGE, 5);
	assert_memory_equal(buf[7], want, 64);
	for (i = 1; i < ARRAY_SIZE(cases); i++)
		if (i != 7 && !cases[i].to_guest)
			assert_memory_equal(buf[i], zero, 64);
	/* The refused writes left the guest's pages as they were. */
	fill(want, PAGE, 5);
	assert_memory_equal(hv_guest_page(f->g5, 2), want, PAGE);
	fill(want, PAGE, 4);
	assert_memory_equal(hv_guest_page(f->g5, 1), want, PAGE);
}

static void test_grant_needs_a_page_of_its_own(void **state)
{
	struct fx *f = *state;
	uint32_t ref;

	assert_int_equal(hv_guest_grant(f->g5, 0, 16, false, &ref), -EINVAL);
	assert_int_equal(hv_guest_revoke(f->g5, HV_SIM_GNT_FIRST_REF + 5), -EINVAL);
	assert_int_equal(hv_guest_revoke(f->g5, 1), -EINVAL);
}

static void test_map_ring_shared_both_ways(void **state)
{
	struct fx *f = *state;
	uint32_t refs[2], ro, revoked, bad[2];
	uint8_t *ring, *g0, *g1;
	void *p;

	assert_int_equal(hv_guest_grant(f->g5, 0, 7, false, &refs[0]), 0);
	assert_int_equal(hv_guest_grant(f->g5, 0, 4, false, &refs[1]), 0);
	assert_int_equal(hv_grant_map(f->hv, 5, refs, 2, true, &p), 0);
	ring = p;
	g0 = hv_guest_page(f->g5, 7);
	g1 = hv_guest_page(f->g5, 4);
	/* Contiguous for the backend, wherever the guest's pages are. */
	strcpy((char *)ring + 10, "from backend");
	strcpy((char *)ring + PAGE + 20, "second page");
	assert_string_equal((char *)g0 + 10, "from backend");
	assert_string_equal((char *)g1 + 20, "second page");
	strcpy((char *)g1 + 100, "from guest");
	assert_string_equal((char *)ring + PAGE + 100, "from guest");

	/* Read-only grants map read-only, never writable. */
	assert_int_equal(hv_guest_grant(f->g5, 0, 8, true, &ro), 0);
	strcpy((char *)hv_guest_page(f->g5, 8), "ro page");
	assert_int_equal(hv_grant_map(f->hv, 5, &ro, 1, true, &p), -EPERM);
	assert_int_equal(hv_grant_map(f->hv, 5, &ro, 1, false, &p), 0);
	assert_string_equal((char *)p, "ro page");
	assert_int_equal(hv_grant_unmap(f->hv, p, 1), 0);

	/* One bad ref maps nothing. */
	assert_int_equal(hv_guest_grant(f->g5, 0, 9, false, &revoked), 0);
	assert_int_equal(hv_guest_revoke(f->g5, revoked), 0);
	bad[0] = refs[0];
	bad[1] = revoked;
	assert_int_equal(hv_grant_map(f->hv, 5, bad, 2, false, &p), -EPERM);
	bad[1] = HV_SIM_GNT_ENTRIES + 1;
	assert_int_equal(hv_grant_map(f->hv, 5, bad, 2, false, &p), -EINVAL);
	assert_int_equal(hv_grant_map(f->hv, 9, refs, 1, false, &p), -ESRCH);

	assert_int_equal(hv_grant_unmap(f->hv, ring, 1), -EINVAL);
	assert_int_equal(hv_grant_unmap(f->hv, ring, 2), 0);
	assert_int_equal(hv_grant_unmap(f->hv, ring, 2), -EINVAL);
}

static void test_revoke(void **state)
{
	struct fx *f = *state;
	uint8_t buf[16];
	struct hv_copy seg = { .domid = 5, .len = sizeof(buf), .local = buf };
	uint32_t ref, again;
	void *p;

	assert_int_equal(hv_guest_grant(f->g5, 0, 0, false, &ref), 0);
	seg.ref = ref;
	assert_int_equal(hv_grant_copy(f->hv, &seg, 1), 0);
	assert_int_equal(seg.status, HV_GNTST_OKAY);
	assert_int_equal(hv_guest_revoke(f->g5, ref), 0);
	assert_int_equal(hv_grant_copy(f->hv, &seg, 1), 0);
	assert_int_equal(seg.status, HV_GNTST_GENERAL_ERROR);
	assert_int_equal(hv_grant_map(f->hv, 5, &ref, 1, false, &p), -EPERM);
	assert_int_equal(hv_guest_revoke(f->g5, ref), -EINVAL);
	/* The entry is free again and can be reused. */
	do
		assert_int_equal(hv_guest_grant(f->g5, 0, 0, false, &again), 0);
	while (again != ref);
	assert_int_equal(hv_grant_copy(f->hv, &seg, 1), 0);
	assert_int_equal(seg.status, HV_GNTST_OKAY);
}

static bool readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, 0) == 1;
}

static void test_evtchn_both_directions(void **state)
{
	struct fx *f = *state;
	uint32_t gport, bport, p;

	assert_int_equal(hv_guest_evtchn_alloc(f->g5, 0, &gport), 0);
	assert_int_equal(hv_evtchn_bind(f->hv, 5, gport, &bport), 0);
	assert_false(readable(hv_evtchn_fd(f->hv)));
	assert_int_equal(hv_evtchn_pending(f->hv, &p), -EAGAIN);

	assert_int_equal(hv_guest_evtchn_notify(f->g5, gport), 0);
	assert_true(readable(hv_evtchn_fd(f->hv)));
	assert_int_equal(hv_evtchn_pending(f->hv, &p), 0);
	assert_int_equal(p, bport);
	assert_int_equal(hv_evtchn_unmask(f->hv, bport), 0);

	assert_false(readable(hv_guest_evtchn_fd(f->g5)));
	assert_int_equal(hv_evtchn_notify(f->hv, bport), 0);
	assert_true(readable(hv_guest_evtchn_fd(f->g5)));
	assert_int_equal(hv_guest_evtchn_pending(f->g5, &p), 0);
	assert_int_equal(p, gport);
	assert_int_equal(hv_guest_evtchn_pending(f->g5, &p), -EAGAIN);
	assert_false(readable(hv_guest_evtchn_fd(f->g5)));
}

static void test_evtchn_storm_is_one_event_until_unmask(void **state)
{
	struct fx *f = *state;
	uint32_t g1, g2, b1, b2, p;
	unsigned i;

	assert_int_equal(hv_guest_evtchn_alloc(f->g5, 0, &g1), 0);
	assert_int_equal(hv_guest_evtchn_alloc(f->g6, 0, &g2), 0);
	assert_int_equal(hv_evtchn_bind(f->hv, 5, g1, &b1), 0);
	assert_int_equal(hv_evtchn_bind(f->hv, 6, g2, &b2), 0);
	assert_int_not_equal(b1, b2);
	for (i = 0; i < 1000; i++)
		assert_int_equal(hv_guest_evtchn_notify(f->g5, g1), 0);
	assert_int_equal(hv_evtchn_pending(f->hv, &p), 0);
	assert_int_equal(p, b1);
	/* Masked: more kicks are not reported, other ports still are. */
	for (i = 0; i < 1000; i++)
		assert_int_equal(hv_guest_evtchn_notify(f->g5, g1), 0);
	assert_int_equal(hv_evtchn_pending(f->hv, &p), -EAGAIN);
	assert_false(readable(hv_evtchn_fd(f->hv)));
	assert_int_equal(hv_guest_evtchn_notify(f->g6, g2), 0);
	assert_int_equal(hv_evtchn_pending(f->hv, &p), 0);
	assert_int_equal(p, b2);
	assert_int_equal(hv_evtchn_pending(f->hv, &p), -EAGAIN);
	/* Unmask: the kicks that came meanwhile are one event. */
	assert_int_equal(hv_evtchn_unmask(f->hv, b1), 0);
	assert_int_equal(hv_evtchn_pending(f->hv, &p), 0);
	assert_int_equal(p, b1);
	assert_int_equal(hv_evtchn_pending(f->hv, &p), -EAGAIN);
	/* Unmasked with nothing new: nothing. */
	assert_int_equal(hv_evtchn_unmask(f->hv, b1), 0);
	assert_int_equal(hv_evtchn_unmask(f->hv, b2), 0);
	assert_int_equal(hv_evtchn_pending(f->hv, &p), -EAGAIN);
	assert_int_equal(hv_evtchn_unmask(f->hv, 999), -EINVAL);
}

static void test_evtchn_bind_rules_and_unbind(void **state)
{
	struct fx *f = *state;
	uint32_t gport, other, bport, b2, p;
	struct hv *hv2;

	assert_int_equal(hv_guest_evtchn_alloc(f->g5, 0, &gport), 0);
	assert_int_equal(hv_guest_evtchn_alloc(f->g5, 3, &other), 0);
	/* Not allocated, for another domain, no such domain. */
	assert_int_equal(hv_evtchn_bind(f->hv, 5, gport + 10, &bport), -EINVAL);
	assert_int_equal(hv_evtchn_bind(f->hv, 5, other, &bport), -EINVAL);
	assert_int_equal(hv_evtchn_bind(f->hv, 9, gport, &bport), -ESRCH);
	assert_int_equal(hv_evtchn_bind(f->hv, 5, gport, &bport), 0);
	/* Bound once only, also from another backend. */
	assert_int_equal(hv_evtchn_bind(f->hv, 5, gport, &b2), -EINVAL);
	assert_int_equal(hv_open("sim", &hv2), 0);
	assert_int_equal(hv_evtchn_bind(hv2, 5, gport, &b2), -EINVAL);

	assert_int_equal(hv_evtchn_unbind(f->hv, bport), 0);
	assert_int_equal(hv_evtchn_notify(f->hv, bport), -EINVAL);
	assert_int_equal(hv_evtchn_unbind(f->hv, bport), -EINVAL);
	/* Unbound, the guest's port may be bound again (a reconnect). */
	assert_int_equal(hv_evtchn_bind(hv2, 5, gport, &b2), 0);
	assert_int_equal(hv_guest_evtchn_notify(f->g5, gport), 0);
	assert_int_equal(hv_evtchn_pending(hv2, &p), 0);
	assert_int_equal(p, b2);
	assert_int_equal(hv_evtchn_pending(f->hv, &p), -EAGAIN);
	/* A backend that goes away unbinds its ports. */
	hv_close(hv2);
	assert_int_equal(hv_evtchn_bind(f->hv, 5, gport, &bport), 0);

	/* The guest closes its port: no event reaches the backend. */
	assert_int_equal(hv_guest_evtchn_close(f->g5, gport), 0);
	assert_int_equal(hv_guest_evtchn_notify(f->g5, gport), -EINVAL);
	assert_int_equal(hv_evtchn_pending(f->hv, &p), -EAGAIN);
	assert_int_equal(hv_evtchn_notify(f->hv, bport), 0);
}

/* A guest allocating ports without end hits a wall, and only it does. */
static void test_evtchn_ports_are_bounded(void **state)
{
	struct fx *f = *state;
	uint32_t port, bport, n = 0;

	while (hv_guest_evtchn_alloc(f->g5, 0, &port) == 0)
		n++;
	assert_int_equal(err_code(), -ENOSPC);
	assert_int_equal(n, HV_SIM_PORTS_MAX - 1);
	assert_int_equal(hv_guest_evtchn_alloc(f->g6, 0, &port), 0);
	assert_int_equal(hv_evtchn_bind(f->hv, 6, port, &bport), 0);
	/* A closed port is there to allocate again. */
	assert_int_equal(hv_guest_evtchn_close(f->g5, 1), 0);
	assert_int_equal(hv_guest_evtchn_alloc(f->g5, 0, &port), 0);
	assert_int_equal(port, 1);
}

/* The broker's sockets only take what each side may ask. */
static void test_broker_refuses(void **state)
{
	struct fx *f = *state;
	struct hv_sim_msg m;
	struct hv_guest *g;
	char path[128];
	int fd, fds[2];

	/* A domain registers once at a time. */
	assert_int_equal(hv_guest_open(5, 4, &g), -EBUSY);
	/* Nor without INTRODUCE (no socket). */
	assert_true(hv_guest_open(8, 4, &g) < 0);
	assert_non_null(strstr(err_msg(), "broker"));
	/* A guest asking for dom0's business. */
	assert_int_equal(hv_sim_sock_path(NULL, 7, path, sizeof(path)), 0);
	assert_int_equal(hv_sim_connect(path, &fd), 0);
	m = (struct hv_sim_msg){ .op = HV_SIM_OP_DOMAIN, .domid = 5 };
	assert_int_equal(hv_sim_call(fd, &m, fds, 2), -EPERM);
	m = (struct hv_sim_msg){ .op = HV_SIM_OP_BIND, .domid = 5, .port = 1 };
	assert_int_equal(hv_sim_call(fd, &m, fds, 2), -EPERM);
	m = (struct hv_sim_msg){ .op = HV_SIM_OP_ALLOC };
	assert_int_equal(hv_sim_call(fd, &m, fds, 2), -ENOENT);
	m = (struct hv_sim_msg){ .op = HV_SIM_OP_REGISTER, .arg = HV_SIM_PAGES_MAX + 1 };
	assert_int_equal(hv_sim_call(fd, &m, fds, 2), -EINVAL);
	m = (struct hv_sim_msg){ .op = 77 };
	assert_int_equal(hv_sim_call(fd, &m, NULL, 0), -ENOSYS);
	/* Garbage closes that connection only. */
	assert_int_equal(write(fd, "xyz", 3), 3);
	assert_int_equal(read(fd, &m, sizeof(m)), 0);
	close(fd);
	/* A backend asking for a guest's. */
	assert_int_equal(hv_sim_sock_path(NULL, -1, path, sizeof(path)), 0);
	assert_int_equal(hv_sim_connect(path, &fd), 0);
	m = (struct hv_sim_msg){ .op = HV_SIM_OP_REGISTER, .arg = 1 };
	assert_int_equal(hv_sim_call(fd, &m, fds, 2), -EPERM);
	close(fd);
	/* Still serving. */
	assert_int_equal(hv_grant_copy(f->hv, &(struct hv_copy){ .domid = 5 }, 1), 0);
}

/* Domain 7 is a child process that grants a page and an event channel,
 * then dies. */
static void test_guest_going_away(void **state)
{
	struct fx *f = *state;
	int up[2], down[2], st;
	uint32_t msg[2], bport, b2;
	struct hv_guest *g;
	uint8_t want[PAGE], buf[PAGE];
	struct hv_copy seg;
	uint8_t *ring;
	pid_t pid;
	void *p;

	assert_int_equal(pipe(up), 0);
	assert_int_equal(pipe(down), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char c;

		close(up[0]);
		close(down[1]);
		if (hv_guest_open(7, 4, &g) || hv_guest_evtchn_alloc(g, 0, &msg[1]) ||
		    hv_guest_grant(g, 0, 2, false, &msg[0]))
			_exit(1);
		fill(hv_guest_page(g, 2), PAGE, 9);
		if (write(up[1], msg, sizeof(msg)) != sizeof(msg))
			_exit(1);
		if (read(down[0], &c, 1) < 0)
			_exit(1);
		_exit(0);	/* no hv_guest_close(): the process just ends */
	}
	close(up[1]);
	close(down[0]);
	assert_int_equal(read(up[0], msg, sizeof(msg)), sizeof(msg));
	assert_int_equal(hv_evtchn_bind(f->hv, 7, msg[1], &bport), 0);
	assert_int_equal(hv_grant_map(f->hv, 7, &msg[0], 1, true, &p), 0);
	ring = p;
	seg = (struct hv_copy){ .domid = 7, .ref = msg[0], .len = PAGE, .local = buf };
	assert_int_equal(hv_grant_copy(f->hv, &seg, 1), 0);
	assert_int_equal(seg.status, HV_GNTST_OKAY);

	close(down[1]);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	close(up[0]);

	/* New binds fail; the broker saw the death before this request. */
	assert_int_equal(hv_evtchn_unbind(f->hv, bport), 0);
	assert_int_equal(hv_evtchn_bind(f->hv, 7, msg[1], &b2), -ESRCH);
	/* Copies fail cleanly, the mapping still reads what the guest left. */
	assert_int_equal(hv_grant_copy(f->hv, &seg, 1), 0);
	assert_int_equal(seg.status, HV_GNTST_BAD_DOMAIN);
	fill(want, PAGE, 9);
	assert_memory_equal(ring, want, PAGE);
	ring[0] ^= 0xff;
	assert_int_equal(hv_grant_unmap(f->hv, ring, 1), 0);

	/* Domain 7 comes back (a restarted guest): fresh memory, new grants. */
	assert_int_equal(hv_guest_open(7, 4, &g), 0);
	assert_int_equal(hv_guest_grant(g, 0, 1, false, &msg[0]), 0);
	fill(hv_guest_page(g, 1), PAGE, 11);
	assert_int_equal(hv_grant_map(f->hv, 7, &msg[0], 1, false, &p), 0);
	fill(want, PAGE, 11);
	assert_memory_equal(p, want, PAGE);
	assert_int_equal(hv_grant_unmap(f->hv, p, 1), 0);
	seg.ref = msg[0];
	assert_int_equal(hv_grant_copy(f->hv, &seg, 1), 0);
	assert_int_equal(seg.status, HV_GNTST_OKAY);
	hv_guest_close(g);
}

/* RELEASE of a domain ends its guest's registration as its death does. */
static void test_release_ends_the_domain(void **state)
{
	struct fx *f = *state;
	uint8_t buf[8];
	struct hv_copy seg = { .domid = 6, .len = sizeof(buf), .local = buf };
	uint32_t ref, gport, bport;

	assert_int_equal(hv_guest_grant(f->g6, 0, 0, false, &ref), 0);
	assert_int_equal(hv_guest_evtchn_alloc(f->g6, 0, &gport), 0);
	seg.ref = ref;
	assert_int_equal(hv_grant_copy(f->hv, &seg, 1), 0);
	assert_int_equal(seg.status, HV_GNTST_OKAY);
	release(6);
	assert_int_equal(hv_evtchn_bind(f->hv, 6, gport, &bport), -ESRCH);
	assert_int_equal(hv_grant_copy(f->hv, &seg, 1), 0);
	assert_int_equal(seg.status, HV_GNTST_BAD_DOMAIN);
	/* Its broker connection is gone. */
	assert_true(hv_guest_evtchn_alloc(f->g6, 0, &gport) < 0);
	introduce(6);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open_kinds),
		cmocka_unit_test_setup_teardown(test_copy_both_ways, setup, teardown),
		cmocka_unit_test_setup_teardown(test_copy_failures, setup, teardown),
		cmocka_unit_test_setup_teardown(test_grant_needs_a_page_of_its_own, setup, teardown),
		cmocka_unit_test_setup_teardown(test_map_ring_shared_both_ways, setup, teardown),
		cmocka_unit_test_setup_teardown(test_revoke, setup, teardown),
		cmocka_unit_test_setup_teardown(test_evtchn_both_directions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_evtchn_storm_is_one_event_until_unmask, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_evtchn_bind_rules_and_unbind, setup, teardown),
		cmocka_unit_test_setup_teardown(test_evtchn_ports_are_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_broker_refuses, setup, teardown),
		cmocka_unit_test_setup_teardown(test_guest_going_away, setup, teardown),
		cmocka_unit_test_setup_teardown(test_release_ends_the_domain, setup, teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
