/* batchio: see batchio.h. */
#include "lib/batchio.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lib/err.h"

/* READV and WRITEV only, then enabled (it was made disabled: nothing could
 * be submitted before). The raw register call: Debian's liburing 2.3
 * declares io_uring_register_restrictions() and io_uring_enable_rings()
 * but does not export them. */
static int restrict_ring(int fd)
{
	static const uint8_t ops[] = { IORING_OP_READV, IORING_OP_WRITEV };
	struct io_uring_restriction res[sizeof(ops)];
	int rc;

	memset(res, 0, sizeof(res));
	for (unsigned i = 0; i < sizeof(ops); i++) {
		res[i].opcode = IORING_RESTRICTION_SQE_OP;
		res[i].sqe_op = ops[i];
	}
	rc = io_uring_register(fd, IORING_REGISTER_RESTRICTIONS, res, sizeof(ops));
	if (rc == 0)
		rc = io_uring_register(fd, IORING_REGISTER_ENABLE_RINGS, NULL, 0);
	return rc < 0 ? err_set(rc, "io_uring restrictions: %s", strerror(-rc)) : 0;
}

static bool missing(int rc)
{
	/* no io_uring here (or not with these flags): a call each */
	return rc == -ENOSYS || rc == -EPERM || rc == -EINVAL || rc == -ENOMEM;
}

int batchio_init(struct batchio *b)
{
	int rc;

	memset(b, 0, sizeof(*b));
	rc = io_uring_queue_init(BATCHIO_MAX, &b->ring, IORING_SETUP_R_DISABLED);
	if (missing(rc))
		return 0;
	if (rc < 0)
		return err_set(rc, "io_uring: %s", strerror(-rc));
	rc = restrict_ring(b->ring.ring_fd);
	if (rc < 0) {
		io_uring_queue_exit(&b->ring);
		return rc;
	}
	b->on = true;
	return 0;
}

/* Linux 6.5's and 6.6's setup flags; Debian 12's headers predate them */
#ifndef IORING_SETUP_NO_MMAP
#define IORING_SETUP_NO_MMAP (1U << 14)
#endif
#ifndef IORING_SETUP_NO_SQARRAY
#define IORING_SETUP_NO_SQARRAY (1U << 16)
#endif

/* The pointers liburing's inline calls (get_sqe, submit, the CQE loop)
 * use, into a ring the kernel laid in our memory as p's offsets say;
 * what io_uring_queue_mmap() fills in for a ring it maps. */
static void mem_pointers(struct io_uring *r, const struct io_uring_params *p, uint8_t *rings,
			 uint8_t *sqes, int fd)
{
	memset(r, 0, sizeof(*r));
	r->ring_fd = fd;
	r->enter_ring_fd = fd;
	r->flags = p->flags;
	r->features = p->features;
	r->sq.khead = (unsigned *)(rings + p->sq_off.head);
	r->sq.ktail = (unsigned *)(rings + p->sq_off.tail);
	r->sq.kring_mask = (unsigned *)(rings + p->sq_off.ring_mask);
	r->sq.kring_entries = (unsigned *)(rings + p->sq_off.ring_entries);
	r->sq.kflags = (unsigned *)(rings + p->sq_off.flags);
	r->sq.kdropped = (unsigned *)(rings + p->sq_off.dropped);
	r->sq.array = NULL; /* NO_SQARRAY: entry i is SQE i */
	r->sq.sqes = (struct io_uring_sqe *)sqes;
	r->sq.ring_mask = *r->sq.kring_mask;
	r->sq.ring_entries = *r->sq.kring_entries;
	r->cq.khead = (unsigned *)(rings + p->cq_off.head);
	r->cq.ktail = (unsigned *)(rings + p->cq_off.tail);
	r->cq.kring_mask = (unsigned *)(rings + p->cq_off.ring_mask);
	r->cq.kring_entries = (unsigned *)(rings + p->cq_off.ring_entries);
	r->cq.koverflow = (unsigned *)(rings + p->cq_off.overflow);
	r->cq.kflags = p->cq_off.flags ? (unsigned *)(rings + p->cq_off.flags) : NULL;
	r->cq.cqes = (struct io_uring_cqe *)(rings + p->cq_off.cqes);
	r->cq.ring_mask = *r->cq.kring_mask;
	r->cq.ring_entries = *r->cq.kring_entries;
}

int batchio_init_mem(struct batchio *b, void *mem)
{
	struct io_uring_params p;
	uint8_t *rings = mem, *sqes = rings + BATCHIO_MEM_PAGE;
	int fd, rc;

	memset(b, 0, sizeof(*b));
	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_R_DISABLED | IORING_SETUP_NO_MMAP | IORING_SETUP_NO_SQARRAY;
	/* user_addr in Linux 6.5's offsets: resv2 in older headers */
	p.cq_off.resv2 = (uint64_t)(uintptr_t)rings;
	p.sq_off.resv2 = (uint64_t)(uintptr_t)sqes;
	fd = (int)syscall(__NR_io_uring_setup, BATCHIO_MAX, &p);
	if (fd < 0) {
		rc = -errno;
		if (missing(rc))
			return 0; /* older kernel: a call each, mem untouched */
		return err_set(rc, "io_uring: %s", strerror(-rc));
	}
	/* the halves the caller was promised stay its own */
	if (p.sq_entries * sizeof(struct io_uring_sqe) > BATCHIO_MEM_SPARE_OFF ||
	    p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe) > BATCHIO_MEM_SPARE_OFF) {
		close(fd);
		return err_set(-EOVERFLOW, "io_uring: a ring of %u entries outgrows its half pages",
			       p.sq_entries);
	}
	rc = restrict_ring(fd);
	if (rc < 0) {
		close(fd);
		return rc;
	}
	mem_pointers(&b->ring, &p, rings, sqes, fd);
	b->mem = true;
	b->on = true;
	return 0;
}

void batchio_exit(struct batchio *b)
{
	if (b->on && b->mem)
		close(b->ring.ring_fd);
	else if (b->on)
		io_uring_queue_exit(&b->ring);
	b->on = false;
	b->mem = false;
}

/* Submits the n prepared entries, waits for all of them; res[user_data]. */
static int run(struct batchio *b, unsigned n, int *res)
{
	struct io_uring_cqe *cqe;
	unsigned head, seen = 0;
	int rc;

	for (unsigned i = 0; i < n; i++)
		res[i] = -EIO; /* an entry that never completes failed */
	do
		rc = io_uring_submit_and_wait(&b->ring, n);
	while (rc == -EINTR);
	if (rc < 0) {
		/* prepared entries that were not taken: drop them */
		for (unsigned i = 0; i < n; i++)
			res[i] = rc;
		return err_set(rc, "io_uring_enter: %s", strerror(-rc));
	}
	io_uring_for_each_cqe(&b->ring, head, cqe) {
		if (cqe->user_data < n)
			res[cqe->user_data] = cqe->res;
		seen++;
	}
	io_uring_cq_advance(&b->ring, seen);
	return 0;
}

int batchio_writev(struct batchio *b, int fd, const struct iovec *iov, unsigned niov,
		   unsigned n, int *res)
{
	unsigned cnt[BATCHIO_MAX];

	if (n > BATCHIO_MAX)
		n = BATCHIO_MAX;
	for (unsigned i = 0; i < n; i++)
		cnt[i] = niov;
	return batchio_writevs(b, fd, iov, cnt, n, res);
}

int batchio_writevs(struct batchio *b, int fd, const struct iovec *iov, const unsigned *niov,
		    unsigned n, int *res)
{
	size_t at = 0;

	if (n > BATCHIO_MAX)
		n = BATCHIO_MAX;
	if (!b->on) {
		for (unsigned i = 0; i < n; i++) {
			ssize_t w = writev(fd, iov + at, (int)niov[i]);

			res[i] = w < 0 ? -errno : (int)w;
			at += niov[i];
		}
		return 0;
	}
	for (unsigned i = 0; i < n; i++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&b->ring);

		/* no link between them: a frame the device refuses must not
		 * cancel the others; they are issued in order at submission */
		io_uring_prep_writev(sqe, fd, iov + at, niov[i], 0);
		sqe->user_data = i;
		at += niov[i];
	}
	return run(b, n, res);
}

int batchio_read(struct batchio *b, int fd, void *const *bufs, size_t len, unsigned n, int *res)
{
	struct iovec iov[BATCHIO_MAX];
	unsigned one[BATCHIO_MAX];

	if (n > BATCHIO_MAX)
		n = BATCHIO_MAX;
	for (unsigned i = 0; i < n; i++) {
		iov[i] = (struct iovec){ .iov_base = bufs[i], .iov_len = len };
		one[i] = 1;
	}
	return batchio_readvs(b, fd, iov, one, n, res);
}

int batchio_readvs(struct batchio *b, int fd, const struct iovec *iov, const unsigned *niov,
		   unsigned n, int *res)
{
	size_t at = 0;

	if (n > BATCHIO_MAX)
		n = BATCHIO_MAX;
	if (!b->on || b->no_ring_read) {
		for (unsigned i = 0; i < n; i++) {
			ssize_t r = readv(fd, iov + at, (int)niov[i]);

			res[i] = r < 0 ? -errno : (int)r;
			at += niov[i];
			if (r < 0)
				for (unsigned k = i + 1; k < n; k++)
					res[k] = -EAGAIN;
			if (r < 0)
				break;
		}
		return 0;
	}
	for (unsigned i = 0; i < n; i++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&b->ring);

		io_uring_prep_readv(sqe, fd, iov + at, niov[i], 0);
		sqe->rw_flags = RWF_NOWAIT;
		sqe->user_data = i;
		at += niov[i];
	}
	if (run(b, n, res) < 0)
		return err_code();
	if (res[0] == -EOPNOTSUPP || res[0] == -EINVAL) {
		/* RWF_NOWAIT not taken by this device: nothing was read */
		b->no_ring_read = true;
		return batchio_readvs(b, fd, iov, niov, n, res);
	}
	return 0;
}
