/* lib/batchio: batches of reads and writes in one system call, in order,
 * never blocking; the same without io_uring; and a ring restricted to
 * reads and writes (a confined process that holds it must not be able to
 * do anything else with it). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/batchio.h"

/* A datagram pair: a read is one message, as a TAP's is one frame. */
static void pair(int sv[2])
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0, sv), 0);
}

static void round_trip(struct batchio *b)
{
	char hdr[3][4] = { "h0:", "h1:", "h2:" }, *body[3] = { "alpha", "be", "gamma!" };
	struct iovec iov[6];
	char in[5][32];
	void *bufs[5] = { in[0], in[1], in[2], in[3], in[4] };
	int res[5], sv[2];

	pair(sv);
	for (int i = 0; i < 3; i++) {
		iov[2 * i] = (struct iovec){ hdr[i], 3 };
		iov[2 * i + 1] = (struct iovec){ body[i], strlen(body[i]) };
	}
	assert_int_equal(batchio_writev(b, sv[0], iov, 2, 3, res), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(res[i], 3 + (int)strlen(body[i]));
	assert_int_equal(batchio_read(b, sv[1], bufs, sizeof(in[0]), 5, res), 0);
	assert_int_equal(res[0], 8);
	assert_memory_equal(in[0], "h0:alpha", 8);
	assert_int_equal(res[1], 5);
	assert_memory_equal(in[1], "h1:be", 5);
	assert_int_equal(res[2], 9);
	assert_memory_equal(in[2], "h2:gamma!", 9);
	/* nothing more: no wait, EAGAIN */
	assert_int_equal(res[3], -EAGAIN);
	assert_int_equal(res[4], -EAGAIN);
	close(sv[0]);
	close(sv[1]);
}

/* Frames of different shapes written in one batch (batchio_writevs), read
 * back scattered over fixed pieces (batchio_readvs): a read fills its
 * pieces in order, a short frame leaves the rest untouched. */
static void scatter_round_trip(struct batchio *b)
{
	struct iovec out[5] = { { "a", 1 }, { "bcd", 3 }, { "efgh", 4 }, { "ij", 2 }, { "k", 1 } };
	unsigned cnt[3] = { 3, 1, 1 }, two[3] = { 2, 2, 2 };
	char in[3][2][4];
	struct iovec iov[3 * 2];
	int res[3], sv[2];

	pair(sv);
	assert_int_equal(batchio_writevs(b, sv[0], out, cnt, 3, res), 0);
	assert_int_equal(res[0], 8);
	assert_int_equal(res[1], 2);
	assert_int_equal(res[2], 1);
	memset(in, '.', sizeof(in));
	for (int i = 0; i < 3; i++) {
		iov[2 * i] = (struct iovec){ in[i][0], 4 };
		iov[2 * i + 1] = (struct iovec){ in[i][1], 4 };
	}
	assert_int_equal(batchio_readvs(b, sv[1], iov, two, 3, res), 0);
	assert_int_equal(res[0], 8);
	assert_memory_equal(in[0], "abcdefgh", 8);
	assert_int_equal(res[1], 2);
	assert_memory_equal(in[1], "ij......", 8);
	assert_int_equal(res[2], 1);
	assert_memory_equal(in[2], "k.......", 8);
	close(sv[0]);
	close(sv[1]);
}

/* Reads of different shapes in one batch (batchio_readvs): read i fills
 * its own cnt[i] pieces, in order, and the next read starts after them. */
static void shaped_reads(struct batchio *b)
{
	struct iovec out[3] = { { "abcdef", 6 }, { "gh", 2 }, { "ijk", 3 } };
	unsigned wcnt[3] = { 1, 1, 1 }, rcnt[3] = { 3, 1, 2 };
	char a[2], c[2], d[8], e[8], f[1], g[8];
	struct iovec iov[6] = { { a, 2 }, { c, 2 }, { d, 8 }, { e, 8 }, { f, 1 }, { g, 8 } };
	int res[3], sv[2];

	pair(sv);
	assert_int_equal(batchio_writevs(b, sv[0], out, wcnt, 3, res), 0);
	memset(d, '.', sizeof(d));
	memset(g, '.', sizeof(g));
	assert_int_equal(batchio_readvs(b, sv[1], iov, rcnt, 3, res), 0);
	assert_int_equal(res[0], 6);
	assert_memory_equal(a, "ab", 2);
	assert_memory_equal(c, "cd", 2);
	assert_memory_equal(d, "ef......", 8);
	assert_int_equal(res[1], 2);
	assert_memory_equal(e, "gh", 2);
	assert_int_equal(res[2], 3);
	assert_memory_equal(f, "i", 1);
	assert_memory_equal(g, "jk......", 8);
	close(sv[0]);
	close(sv[1]);
}

static void test_batches_in_order_without_blocking(void **state)
{
	struct batchio b;

	(void)state;
	assert_int_equal(batchio_init(&b), 0);
	assert_true(b.on); /* this machine has io_uring */
	round_trip(&b);
	scatter_round_trip(&b);
	shaped_reads(&b);
	batchio_exit(&b);
	/* without a ring: the same, a call each */
	assert_false(b.on);
	round_trip(&b);
	scatter_round_trip(&b);
	shaped_reads(&b);
}

/* An open through b's ring: refused by its restrictions, which cannot
 * be changed. */
static void assert_restricted(struct batchio *b)
{
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;

	sqe = io_uring_get_sqe(&b->ring);
	io_uring_prep_openat(sqe, AT_FDCWD, "/dev/null", O_RDONLY, 0);
	assert_int_equal(io_uring_submit_and_wait(&b->ring, 1), 1);
	assert_int_equal(io_uring_peek_cqe(&b->ring, &cqe), 0);
	assert_int_equal(cqe->res, -EACCES);
	io_uring_cqe_seen(&b->ring, cqe);
	assert_true(io_uring_register(b->ring.ring_fd, IORING_REGISTER_ENABLE_RINGS, NULL, 0) < 0);
}

static void test_ring_reads_and_writes_only(void **state)
{
	struct batchio b;

	(void)state;
	assert_int_equal(batchio_init(&b), 0);
	assert_true(b.on);
	assert_restricted(&b);
	round_trip(&b);
	batchio_exit(&b);
}

/* A ring in the caller's two pages: the same batches and restrictions,
 * more batches than the ring has entries (its indices wrap), and the
 * second half of each page, the caller's, never written by the kernel. */
static void test_ring_in_callers_memory(void **state)
{
	uint8_t *mem = mmap(NULL, BATCHIO_MEM_SIZE, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct batchio b;

	(void)state;
	assert_true(mem != MAP_FAILED);
	assert_int_equal(batchio_init_mem(&b, mem), 0);
	assert_true(b.on); /* this machine's kernel is 6.6 or later */
	for (unsigned pg = 0; pg < 2; pg++)
		memset(mem + pg * BATCHIO_MEM_PAGE + BATCHIO_MEM_SPARE_OFF, 0xa5, BATCHIO_MEM_SPARE);
	for (int i = 0; i < 3 * (int)BATCHIO_MAX; i++)
		round_trip(&b);
	assert_restricted(&b);
	for (unsigned pg = 0; pg < 2; pg++)
		for (unsigned i = 0; i < BATCHIO_MEM_SPARE; i++)
			assert_int_equal(mem[pg * BATCHIO_MEM_PAGE + BATCHIO_MEM_SPARE_OFF + i], 0xa5);
	batchio_exit(&b);
	assert_false(b.on);
	round_trip(&b);
	munmap(mem, BATCHIO_MEM_SIZE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_batches_in_order_without_blocking),
		cmocka_unit_test(test_ring_reads_and_writes_only),
		cmocka_unit_test(test_ring_in_callers_memory),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
