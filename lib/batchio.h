/* batchio: many reads, or many writes, of one descriptor in one system
 * call (io_uring), for packet devices such as TAPs, where a call per packet
 * costs more than the packet: a TAP takes or gives one frame per read or
 * write, and nothing batches them but a submission queue. Where io_uring
 * cannot be had (kernel without it, io_uring_disabled), the same calls
 * fall back to a readv or writev per packet.
 *
 * The ring is restricted at creation (IORING_REGISTER_RESTRICTIONS) to
 * READV and WRITEV: a seccomp-confined process that holds it can do
 * through it nothing its filter's readv and writev do not already allow.
 * Create it before confining the process; afterwards only io_uring_enter
 * is needed (another process cannot lend one: Linux refuses io_uring
 * descriptors in SCM_RIGHTS). A ring is two pages mapped in its user. One ring per
 * process, single threaded.
 *
 * batchio_init_mem() lays the ring in two pages its caller gives
 * (IORING_SETUP_NO_MMAP and NO_SQARRAY, Linux 6.6+): the ring of
 * BATCHIO_MAX entries fills the first half of each page only, so the
 * caller may keep data of its own in the second halves, and a ring costs
 * a process that already has that much to keep one page, not two. */
#ifndef LIB_BATCHIO_H
#define LIB_BATCHIO_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/uio.h>

#include <liburing.h>

/* Operations per call at most. */
#define BATCHIO_MAX 32u

/* batchio_init_mem()'s memory: two pages, page aligned; of each, the ring
 * uses the first BATCHIO_MEM_SPARE_OFF bytes at most, the rest is the
 * caller's (BATCHIO_MEM_SPARE bytes from BATCHIO_MEM_SPARE_OFF). */
#define BATCHIO_MEM_PAGE 4096u
#define BATCHIO_MEM_SIZE (2 * BATCHIO_MEM_PAGE)
#define BATCHIO_MEM_SPARE_OFF 2048u
#define BATCHIO_MEM_SPARE (BATCHIO_MEM_PAGE - BATCHIO_MEM_SPARE_OFF)

struct batchio {
	struct io_uring ring;
	bool on; /* the ring is there; else a call per operation */
	bool mem; /* in the caller's memory (batchio_init_mem): nothing to unmap */
	/* a device that refuses reads without waiting through the ring
	 * (older kernels' TAPs): its reads are a call each */
	bool no_ring_read;
};

/* 0, with b->on false when io_uring is not available (then the calls
 * below loop); -errno with err_msg() only for what is not a missing
 * feature. */
int batchio_init(struct batchio *b);
/* The same, the ring in mem (BATCHIO_MEM_SIZE bytes, page aligned, the
 * caller's until batchio_exit()): b->on false, and mem untouched, where
 * the kernel cannot take a ring in user memory (before Linux 6.6). */
int batchio_init_mem(struct batchio *b, void *mem);
/* Gives the ring back (unmapped, closed); the calls below then loop. */
void batchio_exit(struct batchio *b);

/* n (<= BATCHIO_MAX) writes to fd, write i of iov[i * niov .. +niov), in
 * order; res[i]: bytes written or -errno. 0, or -errno when nothing could
 * be submitted (res[] then says the same for each). */
int batchio_writev(struct batchio *b, int fd, const struct iovec *iov, unsigned niov,
		   unsigned n, int *res);
/* The same, write i of niov[i] entries, each write's following the one
 * before in iov: frames of different shapes (a header, then the pages a
 * frame lies in) in one call. */
int batchio_writevs(struct batchio *b, int fd, const struct iovec *iov, const unsigned *niov,
		    unsigned n, int *res);
/* n (<= BATCHIO_MAX) reads from fd into bufs[i] (len bytes each), never
 * blocking (RWF_NOWAIT); res[i]: bytes read, -EAGAIN when nothing was
 * there, or -errno. What is read comes in order: a read after one that
 * found nothing may still have found a later frame. */
int batchio_read(struct batchio *b, int fd, void *const *bufs, size_t len, unsigned n, int *res);
/* The same, read i scattered over niov[i] entries, each read's following
 * the one before in iov (as batchio_writevs): a frame straight into the
 * pages it will be sent from. */
int batchio_readvs(struct batchio *b, int fd, const struct iovec *iov, const unsigned *niov,
		   unsigned n, int *res);

#endif
