#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "chunker.h"
#include "proto.h"
#include "scanner.h"
#include "util.h"

#define READ_SIZE (2u << 20)

/* One file being read. Between scanner_start() and the file's last item
 * it belongs to the thread that makes the items: the caller's, or the
 * scanner's own while s->job is set. */
struct scan_file {
	int fd;
	uint64_t size;
	uint64_t off;      /* bytes read (or passed over as holes) so far */
	uint64_t data_end; /* read on up to here before looking for a hole */
	struct chunker ck;
	struct hash_stream *hs;
	uint8_t *buf;
	size_t start, scanned, have; /* current chunk is buf[start, ...); scanned up to; read up to */
	bool done;
	bool pend_set;               /* pend is the next item */
	struct scan_item pend;
};

struct scanner {
	struct scan_file f;
	bool with_thread, threaded, started;
	pthread_t th;
	/* mu guards what follows; cv is broadcast when the other side may
	 * wait for the change: an item (waiting), room (full, at half), a
	 * job, stop, quit, the job's end. */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct scan_item ring[SCAN_AHEAD];
	unsigned head, count;
	bool job;  /* the thread owns f and makes its items */
	bool stop; /* the caller wants f back */
	bool quit;
	bool full;    /* the thread waits for room */
	bool waiting; /* the caller waits for an item */
};

static void set_item(struct scan_item *it, enum scan_kind kind, uint64_t off, uint64_t len, int err)
{
	memset(it, 0, sizeof(*it));
	it->kind = kind;
	it->off = off;
	it->len = len;
	it->err = err;
}

static void chunk_item(struct scan_file *f, size_t a, size_t b, struct scan_item *it)
{
	set_item(it, SCAN_CHUNK, f->off - (f->have - a), b - a, 0);
	hash128_buf(f->buf + a, b - a, &it->h);
}

static void end_item(struct scan_file *f, enum scan_kind kind, int err, struct scan_item *it)
{
	set_item(it, kind, 0, 0, err);
	if (kind == SCAN_END)
		hash_stream_digest(f->hs, &it->h);
	f->done = true;
}

/* The bytes read and not yet cut go out as a chunk first, then *next. */
static void flush_then(struct scan_file *f, const struct scan_item *next, struct scan_item *it)
{
	if (f->start < f->have) {
		chunk_item(f, f->start, f->have, it);
		f->pend = *next;
		f->pend_set = true;
	} else {
		*it = *next;
	}
	f->start = f->scanned = f->have = 0;
	chunker_reset(&f->ck);
}

/* Where the data from f->off on starts (SEEK_DATA): f->size if none, f->off
 * on file systems without SEEK_DATA (all data). */
static uint64_t data_from(const struct scan_file *f)
{
	off_t d = lseek(f->fd, (off_t)f->off, SEEK_DATA);

	if (d < 0)
		d = errno == ENXIO ? (off_t)f->size : (off_t)f->off;
	return (uint64_t)d > f->size ? f->size : (uint64_t)d;
}

/* Reads on up to the next hole after d (SEEK_HOLE); holes shorter than
 * HOLE_MIN_SIZE inside that are read as zeros. */
static void set_data_end(struct scan_file *f, uint64_t d)
{
	off_t h = f->off < f->size ? lseek(f->fd, (off_t)MAX(f->off, d), SEEK_HOLE) : -1;

	f->data_end = h < 0 || (uint64_t)h <= f->off || (uint64_t)h > f->size ? f->size : (uint64_t)h;
}

/* Makes the file's next item. */
static void scan_step(struct scan_file *f, struct scan_item *it)
{
	if (f->pend_set) {
		*it = f->pend;
		f->pend_set = false;
		return;
	}
	if (f->done) {
		set_item(it, SCAN_ERROR, 0, 0, -EINVAL);
		return;
	}
	for (;;) {
		struct scan_item next;
		size_t k, want;
		ssize_t n;

		if (f->scanned == f->have) {
			if (f->off == f->data_end && f->off < f->size) {
				uint64_t d = data_from(f);

				if (d - f->off >= HOLE_MIN_SIZE) {
					/* The chunk in progress ends where the hole starts. */
					set_item(&next, SCAN_HOLE, f->off, d - f->off, 0);
					hash_stream_zeros(f->hs, next.len);
					flush_then(f, &next, it);
					f->off = d;
					set_data_end(f, d);
					return;
				}
				set_data_end(f, d);
			}
			if (f->off == f->size) {
				end_item(f, SCAN_END, 0, &next);
				flush_then(f, &next, it);
				return;
			}
			if (f->have == READ_SIZE) {
				memmove(f->buf, f->buf + f->start, f->have - f->start);
				f->have -= f->start;
				f->scanned -= f->start;
				f->start = 0;
			}
			want = (size_t)MIN((uint64_t)(READ_SIZE - f->have), f->data_end - f->off);
			n = io_pread_all(f->fd, f->buf + f->have, want, (off_t)f->off);
			if (n <= 0) {
				end_item(f, SCAN_ERROR, n < 0 ? (int)n : -ESTALE, it);
				return;
			}
			hash_stream_update(f->hs, f->buf + f->have, (size_t)n);
			f->have += (size_t)n;
			f->off += (uint64_t)n;
		}
		k = chunker_scan(&f->ck, f->buf + f->scanned, f->have - f->scanned);
		if (k == 0) {
			f->scanned = f->have;
			continue;
		}
		f->scanned += k;
		chunk_item(f, f->start, f->scanned, it);
		f->start = f->scanned;
		return;
	}
}

static void *scan_thread(void *v)
{
	struct scanner *s = v;

	pthread_mutex_lock(&s->mu);
	for (;;) {
		while (!s->job && !s->quit)
			pthread_cond_wait(&s->cv, &s->mu);
		if (s->quit)
			break;
		while (!s->stop) {
			struct scan_item it;

			if (s->count == SCAN_AHEAD) {
				/* Woken when half of them are taken (or at stop), not
				 * at each one. */
				s->full = true;
				pthread_cond_wait(&s->cv, &s->mu);
				continue;
			}
			pthread_mutex_unlock(&s->mu);
			scan_step(&s->f, &it);
			pthread_mutex_lock(&s->mu);
			if (s->stop)
				break;
			s->ring[(s->head + s->count) % SCAN_AHEAD] = it;
			s->count++;
			if (s->waiting)
				pthread_cond_broadcast(&s->cv);
			if (it.kind == SCAN_END || it.kind == SCAN_ERROR)
				break;
		}
		s->job = false;
		pthread_cond_broadcast(&s->cv);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

struct scanner *scanner_new(bool with_thread)
{
	struct scanner *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->f.buf = malloc(READ_SIZE);
	s->f.hs = hash_stream_new();
	if (!s->f.buf || !s->f.hs || pthread_mutex_init(&s->mu, NULL) != 0)
		goto fail;
	if (pthread_cond_init(&s->cv, NULL) != 0) {
		pthread_mutex_destroy(&s->mu);
		goto fail;
	}
	s->with_thread = with_thread;
	s->f.done = true;
	s->f.fd = -1;
	return s;
fail:
	free(s->f.buf);
	hash_stream_free(s->f.hs);
	free(s);
	return NULL;
}

void scanner_free(struct scanner *s)
{
	if (!s)
		return;
	scanner_stop(s);
	if (s->started) {
		pthread_mutex_lock(&s->mu);
		s->quit = true;
		pthread_cond_broadcast(&s->cv);
		pthread_mutex_unlock(&s->mu);
		pthread_join(s->th, NULL);
	}
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mu);
	free(s->f.buf);
	hash_stream_free(s->f.hs);
	free(s);
}

void scanner_stop(struct scanner *s)
{
	if (!s)
		return;
	if (s->threaded) {
		pthread_mutex_lock(&s->mu);
		s->stop = true;
		pthread_cond_broadcast(&s->cv);
		while (s->job)
			pthread_cond_wait(&s->cv, &s->mu);
		s->stop = s->full = false;
		s->head = s->count = 0;
		pthread_mutex_unlock(&s->mu);
		s->threaded = false;
	}
	s->f.done = true;
	s->f.pend_set = false;
	s->f.fd = -1;
}

void scanner_start(struct scanner *s, int fd, uint64_t size)
{
	struct scan_file *f = &s->f;

	scanner_stop(s);
	f->fd = fd;
	f->size = size;
	f->off = f->data_end = 0;
	f->start = f->scanned = f->have = 0;
	f->done = f->pend_set = false;
	chunker_reset(&f->ck);
	hash_stream_reset(f->hs);
	if (!s->with_thread || size < SCAN_THREAD_MIN)
		return;
	/* Signals stay with the caller's thread. */
	if (!s->started) {
		sigset_t all, old;

		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		s->started = pthread_create(&s->th, NULL, scan_thread, s) == 0;
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		if (!s->started) {
			s->with_thread = false;
			return;
		}
	}
	pthread_mutex_lock(&s->mu);
	s->job = true;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	s->threaded = true;
}

void scanner_next(struct scanner *s, struct scan_item *it)
{
	if (!s->threaded) {
		scan_step(&s->f, it);
		return;
	}
	pthread_mutex_lock(&s->mu);
	while (s->count == 0 && s->job) {
		s->waiting = true;
		pthread_cond_wait(&s->cv, &s->mu);
	}
	s->waiting = false;
	if (s->count) {
		*it = s->ring[s->head];
		s->head = (s->head + 1) % SCAN_AHEAD;
		s->count--;
		if (s->full && s->count <= SCAN_AHEAD / 2) {
			s->full = false;
			pthread_cond_broadcast(&s->cv);
		}
	} else {
		set_item(it, SCAN_ERROR, 0, 0, -EINVAL);
	}
	pthread_mutex_unlock(&s->mu);
}

bool scanner_threaded(const struct scanner *s)
{
	return s->threaded;
}

uint64_t scanner_cpu_ns(const struct scanner *s)
{
	struct timespec ts;
	clockid_t id;

	if (!s->started || pthread_getcpuclockid(s->th, &id) != 0 || clock_gettime(id, &ts) != 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
