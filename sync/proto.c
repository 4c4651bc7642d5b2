#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "pathsafe.h"
#include "msgenc.h"
#include "proto.h"

const char *msg_type_name(uint16_t type)
{
	switch (type) {
	case MSG_HELLO: return "HELLO";
	case MSG_ERROR: return "ERROR";
	case MSG_GOODBYE: return "GOODBYE";
	case MSG_SUMMARY: return "SUMMARY";
	case MSG_SUMMARY_END: return "SUMMARY_END";
	case MSG_SUMMARY_AGAIN: return "SUMMARY_AGAIN";
	case MSG_FILE_BEGIN: return "FILE_BEGIN";
	case MSG_FILE_CHUNKS: return "FILE_CHUNKS";
	case MSG_FILE_END: return "FILE_END";
	case MSG_FILE_ABORT: return "FILE_ABORT";
	case MSG_WANT: return "WANT";
	case MSG_DATA: return "DATA";
	case MSG_FILE_ACK: return "FILE_ACK";
	case MSG_APPEND: return "APPEND";
	case MSG_FILE_HOLE: return "FILE_HOLE";
	case MSG_SYMLINK: return "SYMLINK";
	case MSG_LINK: return "LINK";
	case MSG_MKDIR: return "MKDIR";
	case MSG_RENAME: return "RENAME";
	case MSG_REMOVE: return "REMOVE";
	case MSG_SETATTR: return "SETATTR";
	case MSG_BARRIER: return "BARRIER";
	case MSG_BARRIER_ACK: return "BARRIER_ACK";
	case MSG_STORE: return "STORE";
	default: return NULL;
	}
}

bool msg_type_is_app(uint16_t type)
{
	return type >= MSG_APP_FIRST && type <= MSG_APP_LAST;
}

int frame_next(struct wbuf *in, struct frame *f)
{
	const uint8_t *p = wbuf_ptr(in);
	uint32_t len;
	uint16_t type, flags;

	if (wbuf_len(in) < FRAME_HDR_LEN)
		return -EAGAIN;
	len = le32_get(p);
	type = le16_get(p + 4);
	flags = le16_get(p + 6);
	if (len > FRAME_MAX_BODY)
		return -EMSGSIZE;
	if (flags != 0)
		return -EPROTO;
	if (!msg_type_name(type) && !msg_type_is_app(type))
		return -ENOTSUP;
	if (wbuf_len(in) - FRAME_HDR_LEN < len)
		return -EAGAIN;
	f->type = type;
	wbuf_from(&f->body, p + FRAME_HDR_LEN, len);
	in->off += FRAME_HDR_LEN + len;
	return 0;
}

/* --- decoding ------------------------------------------------------------------ */

static int get_path(struct wbuf *b, char out[static WIRE_PATH_MAX + 1])
{
	size_t off = b->off;
	int r = wbuf_get_str(b, out, WIRE_PATH_MAX + 1);

	if (r < 0)
		return r;
	r = path_check(out);
	if (r < 0) {
		b->off = off;
		return r;
	}
	return 0;
}

/* A symlink's target: any non-empty text without NUL, up to WIRE_TARGET_MAX. */
static int get_target(struct wbuf *b, char out[static WIRE_TARGET_MAX + 1])
{
	size_t off = b->off;
	int r = wbuf_get_str(b, out, WIRE_TARGET_MAX + 1);

	if (r < 0)
		return r;
	if (!out[0]) {
		b->off = off;
		return -EINVAL;
	}
	return 0;
}

static int get_mode(struct wbuf *b, uint32_t *mode)
{
	int r = wbuf_get_u32(b, mode);

	if (r < 0)
		return r;
	if (*mode & ~07777u) {
		b->off -= 4;
		return -EINVAL;
	}
	return 0;
}

static int get_hash(struct wbuf *b, struct hash128 *h)
{
	return wbuf_get(b, h->b, HASH128_LEN);
}

int msg_decode_hello(struct wbuf *b, struct msg_hello *m)
{
	int r;

	if ((r = wbuf_get_u32(b, &m->magic)) < 0 || (r = wbuf_get_u16(b, &m->version)) < 0 ||
	    (r = wbuf_get_u8(b, &m->role)) < 0 || (r = wbuf_get_u32(b, &m->flags)) < 0 ||
	    (r = wbuf_get_str(b, m->name, sizeof(m->name))) < 0)
		return r;
	if (m->flags & ~HELLO_F_ALL)
		return -EINVAL;
	if (m->role != ROLE_HOST && m->role != ROLE_ENCLAVE)
		return -EINVAL;
	return wbuf_end(b);
}

int msg_decode_error(struct wbuf *b, struct msg_error *m)
{
	uint8_t fatal;
	int r;

	if ((r = wbuf_get_u32(b, &m->err)) < 0 || (r = wbuf_get_u8(b, &fatal)) < 0 ||
	    (r = wbuf_get_str(b, m->path, sizeof(m->path))) < 0 ||
	    (r = wbuf_get_str(b, m->text, sizeof(m->text))) < 0)
		return r;
	if (fatal > 1 || m->err == 0 || m->err > 4095)
		return -EINVAL;
	/* The path is only reported; an empty path means "no path". */
	if (m->path[0] && path_check(m->path) < 0)
		return -EINVAL;
	m->fatal = fatal;
	return wbuf_end(b);
}

int msg_decode_summary(struct wbuf *b, uint32_t *count)
{
	int r = wbuf_get_u32(b, count);

	if (r < 0)
		return r;
	if (*count == 0 || *count > SUMMARY_MAX)
		return -EINVAL;
	return 0;
}

int msg_decode_entry(struct wbuf *b, struct msg_entry *e)
{
	int r;

	e->target[0] = '\0';
	if ((r = wbuf_get_u8(b, &e->kind)) < 0 || (r = get_path(b, e->path)) < 0 ||
	    (r = get_mode(b, &e->mode)) < 0 || (r = wbuf_get_u64(b, &e->size)) < 0 ||
	    (r = wbuf_get_u64(b, &e->mtime)) < 0)
		return r;
	if (e->kind != ENTRY_FILE && e->kind != ENTRY_DIR && e->kind != ENTRY_SYMLINK)
		return -EINVAL;
	if (e->kind == ENTRY_SYMLINK) {
		if ((r = get_target(b, e->target)) < 0)
			return r;
		if (e->size != strlen(e->target))
			return -EINVAL;
	}
	return 0;
}

/* A failed decode of a whole-body number consumes nothing and leaves it 0. */
static int undo(struct wbuf *b, size_t off, void *m, size_t size, int r)
{
	b->off = off;
	memset(m, 0, size);
	return r;
}

int msg_decode_u32(struct wbuf *b, uint32_t *v)
{
	size_t off = b->off;
	int r = wbuf_get_u32(b, v);

	if (r == 0)
		r = wbuf_end(b);
	return r < 0 ? undo(b, off, v, sizeof(*v), r) : 0;
}

int msg_decode_u64(struct wbuf *b, uint64_t *v)
{
	size_t off = b->off;
	int r = wbuf_get_u64(b, v);

	if (r == 0)
		r = wbuf_end(b);
	return r < 0 ? undo(b, off, v, sizeof(*v), r) : 0;
}

int msg_decode_summary_again(struct wbuf *b, char tree[static WIRE_NAME_MAX + 1])
{
	int r = wbuf_get_str(b, tree, WIRE_NAME_MAX + 1);

	if (r < 0)
		return r;
	if (path_check(tree) < 0 || strchr(tree, '/'))
		return -EINVAL;
	return wbuf_end(b);
}

int msg_decode_store(struct wbuf *b, uint64_t *held, uint64_t *max)
{
	size_t off = b->off;
	int r;

	*held = *max = 0;
	if ((r = wbuf_get_u64(b, held)) < 0 || (r = wbuf_get_u64(b, max)) < 0 ||
	    (r = wbuf_end(b)) < 0) {
		b->off = off;
		*held = *max = 0;
		return r;
	}
	return 0;
}

int msg_decode_file_begin(struct wbuf *b, struct msg_file_begin *m)
{
	int r;

	if ((r = wbuf_get_u32(b, &m->id)) < 0 || (r = get_path(b, m->path)) < 0 ||
	    (r = get_mode(b, &m->mode)) < 0 || (r = wbuf_get_u64(b, &m->size)) < 0 ||
	    (r = wbuf_get_u64(b, &m->mtime)) < 0)
		return r;
	if (m->size > INT64_MAX)
		return -EINVAL;
	return wbuf_end(b);
}

int msg_decode_chunks(struct wbuf *b, struct msg_chunks *m)
{
	int r;

	if ((r = wbuf_get_u32(b, &m->id)) < 0 || (r = wbuf_get_u32(b, &m->first)) < 0 ||
	    (r = wbuf_get_u32(b, &m->count)) < 0)
		return r;
	if (m->count == 0 || m->count > BATCH_MAX)
		return -EINVAL;
	if (wbuf_len(b) != (size_t)m->count * CHUNK_ENTRY_LEN)
		return -EBADMSG;
	m->entries = wbuf_ptr(b);
	for (uint32_t i = 0; i < m->count; i++) {
		uint32_t len = le32_get(m->entries + i * CHUNK_ENTRY_LEN + HASH128_LEN);
		if (len == 0 || len > 256u * 1024)
			return -EINVAL;
	}
	b->off = b->len;
	return 0;
}

void msg_chunk_at(const struct msg_chunks *m, uint32_t i, struct hash128 *h, uint32_t *len)
{
	const uint8_t *e = m->entries + (size_t)i * CHUNK_ENTRY_LEN;

	memcpy(h->b, e, HASH128_LEN);
	*len = le32_get(e + HASH128_LEN);
}

int msg_decode_file_end(struct wbuf *b, struct msg_file_end *m)
{
	int r;

	if ((r = wbuf_get_u32(b, &m->id)) < 0 || (r = wbuf_get_u32(b, &m->nchunks)) < 0 ||
	    (r = get_hash(b, &m->hash)) < 0)
		return r;
	return wbuf_end(b);
}

int msg_decode_hole(struct wbuf *b, struct msg_hole *m)
{
	int r;

	if ((r = wbuf_get_u32(b, &m->id)) < 0 || (r = wbuf_get_u64(b, &m->offset)) < 0 ||
	    (r = wbuf_get_u64(b, &m->len)) < 0)
		return r;
	if (m->len < HOLE_MIN_SIZE || m->offset > UINT64_MAX - m->len)
		return -EINVAL;
	return wbuf_end(b);
}

int msg_decode_want(struct wbuf *b, struct msg_want *m)
{
	int r;

	if ((r = wbuf_get_u32(b, &m->id)) < 0 || (r = wbuf_get_u32(b, &m->first)) < 0 ||
	    (r = wbuf_get_u32(b, &m->n)) < 0)
		return r;
	if (m->n > BATCH_MAX)
		return -EINVAL;
	if (wbuf_len(b) != (size_t)m->n * 4)
		return -EBADMSG;
	m->idx = wbuf_ptr(b);
	for (uint32_t i = 0; i < m->n; i++) {
		uint32_t v = le32_get(m->idx + 4 * i);
		if (v < m->first || v - m->first >= BATCH_MAX)
			return -EINVAL;
		if (i > 0 && v <= le32_get(m->idx + 4 * (i - 1)))
			return -EINVAL;
	}
	b->off = b->len;
	return 0;
}

uint32_t msg_want_at(const struct msg_want *m, uint32_t i)
{
	return le32_get(m->idx + 4 * i);
}

int msg_decode_data(struct wbuf *b, struct msg_data *m)
{
	int r;

	if ((r = wbuf_get_u32(b, &m->id)) < 0 || (r = wbuf_get_u32(b, &m->index)) < 0)
		return r;
	m->len = wbuf_len(b);
	if (m->len == 0 || m->len > 256u * 1024)
		return -EINVAL;
	m->p = wbuf_ptr(b);
	b->off = b->len;
	return 0;
}

int msg_decode_ack(struct wbuf *b, struct msg_ack *m)
{
	int r;

	if ((r = wbuf_get_u32(b, &m->id)) < 0 || (r = wbuf_get_u32(b, &m->err)) < 0 ||
	    (r = wbuf_get_str(b, m->text, sizeof(m->text))) < 0)
		return r;
	if (m->err > 4095)
		return -EINVAL;
	return wbuf_end(b);
}

int msg_decode_append(struct wbuf *b, struct msg_append *m)
{
	int r;

	if ((r = get_path(b, m->path)) < 0 || (r = wbuf_get_u64(b, &m->offset)) < 0 ||
	    (r = wbuf_get_u64(b, &m->mtime)) < 0)
		return r;
	m->len = wbuf_len(b);
	if (m->len == 0 || m->len > APPEND_MAX || m->offset > INT64_MAX - APPEND_MAX)
		return -EINVAL;
	m->p = wbuf_ptr(b);
	b->off = b->len;
	return 0;
}

int msg_decode_mkdir(struct wbuf *b, struct msg_meta *m)
{
	int r;

	m->to[0] = '\0';
	if ((r = get_path(b, m->path)) < 0 || (r = get_mode(b, &m->mode)) < 0 ||
	    (r = wbuf_get_u64(b, &m->mtime)) < 0)
		return r;
	return wbuf_end(b);
}

int msg_decode_rename(struct wbuf *b, struct msg_meta *m)
{
	int r;

	m->mode = 0;
	m->mtime = 0;
	if ((r = get_path(b, m->path)) < 0 || (r = get_path(b, m->to)) < 0)
		return r;
	return wbuf_end(b);
}

int msg_decode_symlink(struct wbuf *b, struct msg_meta *m)
{
	int r;

	m->mode = 0;
	if ((r = get_path(b, m->path)) < 0 || (r = get_target(b, m->to)) < 0 ||
	    (r = wbuf_get_u64(b, &m->mtime)) < 0)
		return r;
	return wbuf_end(b);
}

int msg_decode_link(struct wbuf *b, struct msg_meta *m)
{
	return msg_decode_rename(b, m);
}

int msg_decode_remove(struct wbuf *b, struct msg_meta *m)
{
	int r;

	m->to[0] = '\0';
	m->mode = 0;
	m->mtime = 0;
	if ((r = get_path(b, m->path)) < 0)
		return r;
	return wbuf_end(b);
}

/* --- encoding ------------------------------------------------------------------ */

int msg_begin(struct wbuf *o, uint16_t type, size_t *mark)
{
	uint8_t *h;
	int r = wbuf_reserve(o, FRAME_HDR_LEN, &h);

	if (r < 0)
		return r;
	le32_put(h, 0);
	le16_put(h + 4, type);
	le16_put(h + 6, 0);
	/* Relative to the read offset: growing the buffer may compact it. */
	*mark = (size_t)(h - (o->d + o->off));
	return 0;
}

int msg_finish(struct wbuf *o, size_t mark)
{
	size_t body = o->len - o->off - mark - FRAME_HDR_LEN;

	if (body > FRAME_MAX_BODY) {
		msg_cancel(o, mark);
		return -EMSGSIZE;
	}
	le32_put(o->d + o->off + mark, (uint32_t)body);
	return 0;
}

void msg_cancel(struct wbuf *o, size_t mark)
{
	o->len = o->off + mark;
}


int msg_put_hello(struct wbuf *o, uint8_t role, uint32_t flags, const char *name)
{
	BEGIN(o, MSG_HELLO);
	TRY(wbuf_put_u32(o, PROTO_MAGIC));
	TRY(wbuf_put_u16(o, PROTO_VERSION));
	TRY(wbuf_put_u8(o, role));
	TRY(wbuf_put_u32(o, flags));
	TRY(wbuf_put_str(o, name));
	FINISH(o);
}

int msg_put_error(struct wbuf *o, int err, bool fatal, const char *path, const char *text)
{
	char t[WIRE_TEXT_MAX + 1];

	/* Messages are informational: cut rather than fail. */
	snprintf(t, sizeof(t), "%s", text ? text : "");
	BEGIN(o, MSG_ERROR);
	TRY(wbuf_put_u32(o, (uint32_t)(err < 0 ? -err : err)));
	TRY(wbuf_put_u8(o, fatal ? 1 : 0));
	TRY(wbuf_put_str(o, path ? path : ""));
	TRY(wbuf_put_str(o, t));
	FINISH(o);
}

int msg_put_empty(struct wbuf *o, uint16_t type)
{
	size_t mark;
	int r = msg_begin(o, type, &mark);

	return r < 0 ? r : msg_finish(o, mark);
}

int msg_put_u32(struct wbuf *o, uint16_t type, uint32_t v)
{
	BEGIN(o, type);
	TRY(wbuf_put_u32(o, v));
	FINISH(o);
}

int msg_put_u64(struct wbuf *o, uint16_t type, uint64_t v)
{
	BEGIN(o, type);
	TRY(wbuf_put_u64(o, v));
	FINISH(o);
}

int msg_put_summary_again(struct wbuf *o, const char *tree)
{
	BEGIN(o, MSG_SUMMARY_AGAIN);
	TRY(wbuf_put_str(o, tree));
	FINISH(o);
}

int msg_put_store(struct wbuf *o, uint64_t held, uint64_t max)
{
	BEGIN(o, MSG_STORE);
	TRY(wbuf_put_u64(o, held));
	TRY(wbuf_put_u64(o, max));
	FINISH(o);
}

int msg_put_file_begin(struct wbuf *o, uint32_t id, const char *path, uint32_t mode, uint64_t size,
		       uint64_t mtime)
{
	BEGIN(o, MSG_FILE_BEGIN);
	TRY(wbuf_put_u32(o, id));
	TRY(wbuf_put_str(o, path));
	TRY(wbuf_put_u32(o, mode));
	TRY(wbuf_put_u64(o, size));
	TRY(wbuf_put_u64(o, mtime));
	FINISH(o);
}

int msg_put_file_end(struct wbuf *o, uint32_t id, uint32_t nchunks, const struct hash128 *h)
{
	BEGIN(o, MSG_FILE_END);
	TRY(wbuf_put_u32(o, id));
	TRY(wbuf_put_u32(o, nchunks));
	TRY(wbuf_put(o, h->b, HASH128_LEN));
	FINISH(o);
}

int msg_put_hole(struct wbuf *o, uint32_t id, uint64_t offset, uint64_t len)
{
	BEGIN(o, MSG_FILE_HOLE);
	TRY(wbuf_put_u32(o, id));
	TRY(wbuf_put_u64(o, offset));
	TRY(wbuf_put_u64(o, len));
	FINISH(o);
}

int msg_put_data(struct wbuf *o, uint32_t id, uint32_t index, const void *p, size_t len)
{
	BEGIN(o, MSG_DATA);
	TRY(wbuf_put_u32(o, id));
	TRY(wbuf_put_u32(o, index));
	TRY(wbuf_put(o, p, len));
	FINISH(o);
}

int msg_put_ack(struct wbuf *o, uint32_t id, int err, const char *text)
{
	char t[WIRE_TEXT_MAX + 1];

	snprintf(t, sizeof(t), "%s", text ? text : "");
	BEGIN(o, MSG_FILE_ACK);
	TRY(wbuf_put_u32(o, id));
	TRY(wbuf_put_u32(o, (uint32_t)(err < 0 ? -err : err)));
	TRY(wbuf_put_str(o, t));
	FINISH(o);
}

int msg_put_append(struct wbuf *o, const char *path, uint64_t offset, uint64_t mtime, const void *p,
		   size_t len)
{
	BEGIN(o, MSG_APPEND);
	TRY(wbuf_put_str(o, path));
	TRY(wbuf_put_u64(o, offset));
	TRY(wbuf_put_u64(o, mtime));
	TRY(wbuf_put(o, p, len));
	FINISH(o);
}

int msg_put_meta(struct wbuf *o, uint16_t type, const char *path, uint32_t mode, uint64_t mtime)
{
	BEGIN(o, type);
	TRY(wbuf_put_str(o, path));
	if (type != MSG_REMOVE) {
		TRY(wbuf_put_u32(o, mode));
		TRY(wbuf_put_u64(o, mtime));
	}
	FINISH(o);
}

int msg_put_rename(struct wbuf *o, const char *from, const char *to)
{
	BEGIN(o, MSG_RENAME);
	TRY(wbuf_put_str(o, from));
	TRY(wbuf_put_str(o, to));
	FINISH(o);
}

int msg_put_symlink(struct wbuf *o, const char *path, const char *target, uint64_t mtime)
{
	BEGIN(o, MSG_SYMLINK);
	TRY(wbuf_put_str(o, path));
	TRY(wbuf_put_str(o, target));
	TRY(wbuf_put_u64(o, mtime));
	FINISH(o);
}

int msg_put_link(struct wbuf *o, const char *existing, const char *path)
{
	BEGIN(o, MSG_LINK);
	TRY(wbuf_put_str(o, existing));
	TRY(wbuf_put_str(o, path));
	FINISH(o);
}

int msg_put_entry_symlink(struct wbuf *o, const char *path, const char *target, uint64_t mtime)
{
	size_t keep = wbuf_len(o); /* relative: a put may compact the buffer */
	int r;

	TRY(wbuf_put_u8(o, ENTRY_SYMLINK));
	TRY(wbuf_put_str(o, path));
	TRY(wbuf_put_u32(o, 0777));
	TRY(wbuf_put_u64(o, strlen(target)));
	TRY(wbuf_put_u64(o, mtime));
	TRY(wbuf_put_str(o, target));
	return 0;
fail:
	o->len = o->off + keep;
	return r;
}

int msg_put_entry(struct wbuf *o, uint8_t kind, const char *path, uint32_t mode, uint64_t size,
		  uint64_t mtime)
{
	size_t keep = wbuf_len(o); /* relative: a put may compact the buffer */
	int r;

	TRY(wbuf_put_u8(o, kind));
	TRY(wbuf_put_str(o, path));
	TRY(wbuf_put_u32(o, mode));
	TRY(wbuf_put_u64(o, size));
	TRY(wbuf_put_u64(o, mtime));
	return 0;
fail:
	o->len = o->off + keep;
	return r;
}

int msg_put_chunk(struct wbuf *o, const struct hash128 *h, uint32_t len)
{
	size_t keep = wbuf_len(o);
	int r;

	TRY(wbuf_put(o, h->b, HASH128_LEN));
	TRY(wbuf_put_u32(o, len));
	return 0;
fail:
	o->len = o->off + keep;
	return r;
}
