/* Frames and message codecs: round trips, and hostile input (truncated,
 * oversized, trailing garbage, bad fields, non-canonical paths). */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sync/proto.h"

/* Takes the single frame in o, checks its type, and returns its body. */
static struct wbuf one_frame(struct wbuf *o, uint16_t type)
{
	struct frame f;

	ck_assert_int_eq(frame_next(o, &f), 0);
	ck_assert_uint_eq(f.type, type);
	ck_assert_uint_eq(wbuf_len(o), 0);
	return f.body;
}

START_TEST(test_frame_header)
{
	struct wbuf o, in;
	struct frame f;
	uint8_t raw[8];

	wbuf_init(&o, 1 << 20);
	ck_assert_int_eq(msg_put_u64(&o, MSG_BARRIER, 42), 0);
	ck_assert_int_eq(msg_put_empty(&o, MSG_GOODBYE), 0);
	/* Every strict prefix of the first frame is incomplete and consumes nothing. */
	for (size_t cut = 0; cut < FRAME_HDR_LEN + 8; cut++) {
		wbuf_from(&in, wbuf_ptr(&o), cut);
		ck_assert_int_eq(frame_next(&in, &f), -EAGAIN);
		ck_assert_uint_eq(in.off, 0);
	}
	wbuf_from(&in, wbuf_ptr(&o), wbuf_len(&o));
	ck_assert_int_eq(frame_next(&in, &f), 0);
	ck_assert_uint_eq(f.type, MSG_BARRIER);
	ck_assert_uint_eq(wbuf_len(&f.body), 8);
	ck_assert_int_eq(frame_next(&in, &f), 0);
	ck_assert_uint_eq(f.type, MSG_GOODBYE);
	ck_assert_uint_eq(wbuf_len(&f.body), 0);
	ck_assert_int_eq(frame_next(&in, &f), -EAGAIN);

	/* Oversized length: refused from the header alone. */
	le32_put(raw, FRAME_MAX_BODY + 1);
	le16_put(raw + 4, MSG_DATA);
	le16_put(raw + 6, 0);
	wbuf_from(&in, raw, sizeof(raw));
	ck_assert_int_eq(frame_next(&in, &f), -EMSGSIZE);
	ck_assert_uint_eq(in.off, 0);
	/* Reserved flags. */
	le32_put(raw, 0);
	le16_put(raw + 6, 1);
	wbuf_from(&in, raw, sizeof(raw));
	ck_assert_int_eq(frame_next(&in, &f), -EPROTO);
	/* Unknown type. */
	le16_put(raw + 4, 0x7777);
	le16_put(raw + 6, 0);
	wbuf_from(&in, raw, sizeof(raw));
	ck_assert_int_eq(frame_next(&in, &f), -ENOTSUP);
	wbuf_release(&o);
}
END_TEST

START_TEST(test_roundtrips)
{
	struct wbuf o, b;
	struct msg_hello h;
	struct msg_error er;
	struct msg_file_begin fb;
	struct msg_file_end fe;
	struct msg_data d;
	struct msg_ack a;
	struct msg_append ap;
	struct msg_meta m;
	struct hash128 hash;
	uint64_t v64;
	uint32_t v32;

	memset(hash.b, 0xab, sizeof(hash.b));
	wbuf_init(&o, 1 << 20);

	ck_assert_int_eq(msg_put_hello(&o, ROLE_HOST, 0, "host-1"), 0);
	b = one_frame(&o, MSG_HELLO);
	ck_assert_int_eq(msg_decode_hello(&b, &h), 0);
	ck_assert_uint_eq(h.magic, PROTO_MAGIC);
	ck_assert_uint_eq(h.version, PROTO_VERSION);
	ck_assert_uint_eq(h.role, ROLE_HOST);
	ck_assert_str_eq(h.name, "host-1");

	wbuf_clear(&o);
	ck_assert_int_eq(msg_put_error(&o, -ENOSPC, true, "output/x", "disk full"), 0);
	b = one_frame(&o, MSG_ERROR);
	ck_assert_int_eq(msg_decode_error(&b, &er), 0);
	ck_assert_uint_eq(er.err, ENOSPC);
	ck_assert(er.fatal);
	ck_assert_str_eq(er.path, "output/x");
	ck_assert_str_eq(er.text, "disk full");

	wbuf_clear(&o);
	ck_assert_int_eq(msg_put_file_begin(&o, 7, "dataset/a b/ü.csv", 0644, 12345, 99), 0);
	b = one_frame(&o, MSG_FILE_BEGIN);
	ck_assert_int_eq(msg_decode_file_begin(&b, &fb), 0);
	ck_assert_uint_eq(fb.id, 7);
	ck_assert_str_eq(fb.path, "dataset/a b/ü.csv");
	ck_assert_uint_eq(fb.mode, 0644);
	ck_assert_uint_eq(fb.size, 12345);
	ck_assert_uint_eq(fb.mtime, 99);

	wbuf_clear(&o);
	ck_assert_int_eq(msg_put_file_end(&o, 7, 3, &hash), 0);
	b = one_frame(&o, MSG_FILE_END);
	ck_assert_int_eq(msg_decode_file_end(&b, &fe), 0);
	ck_assert_uint_eq(fe.nchunks, 3);
	ck_assert(hash128_eq(&fe.hash, &hash));

	wbuf_clear(&o);
	ck_assert_int_eq(msg_put_data(&o, 7, 2, "payload", 7), 0);
	b = one_frame(&o, MSG_DATA);
	ck_assert_int_eq(msg_decode_data(&b, &d), 0);
	ck_assert_uint_eq(d.index, 2);
	ck_assert_uint_eq(d.len, 7);
	ck_assert_mem_eq(d.p, "payload", 7);

	wbuf_clear(&o);
	ck_assert_int_eq(msg_put_ack(&o, 7, -EACCES, "denied"), 0);
	b = one_frame(&o, MSG_FILE_ACK);
	ck_assert_int_eq(msg_decode_ack(&b, &a), 0);
	ck_assert_uint_eq(a.err, EACCES);
	ck_assert_str_eq(a.text, "denied");

	wbuf_clear(&o);
	ck_assert_int_eq(msg_put_append(&o, "output/log", 100, 5, "more", 4), 0);
	b = one_frame(&o, MSG_APPEND);
	ck_assert_int_eq(msg_decode_append(&b, &ap), 0);
	ck_assert_uint_eq(ap.offset, 100);
	ck_assert_uint_eq(ap.len, 4);

	wbuf_clear(&o);
	ck_assert_int_eq(msg_put_meta(&o, MSG_MKDIR, "model/d", 0755, 1), 0);
	b = one_frame(&o, MSG_MKDIR);
	ck_assert_int_eq(msg_decode_mkdir(&b, &m), 0);
	ck_assert_str_eq(m.path, "model/d");
	ck_assert_uint_eq(m.mode, 0755);

	wbuf_clear(&o);
	ck_assert_int_eq(msg_put_meta(&o, MSG_REMOVE, "model/d", 0, 0), 0);
	b = one_frame(&o, MSG_REMOVE);
	ck_assert_int_eq(msg_decode_remove(&b, &m), 0);
	ck_assert_str_eq(m.path, "model/d");

	wbuf_clear(&o);
	ck_assert_int_eq(msg_put_rename(&o, "model/a", "model/b"), 0);
	b = one_frame(&o, MSG_RENAME);
	ck_assert_int_eq(msg_decode_rename(&b, &m), 0);
	ck_assert_str_eq(m.to, "model/b");

	wbuf_clear(&o);
	ck_assert_int_eq(msg_put_u32(&o, MSG_FILE_ABORT, 9), 0);
	b = one_frame(&o, MSG_FILE_ABORT);
	ck_assert_int_eq(msg_decode_u32(&b, &v32), 0);
	ck_assert_uint_eq(v32, 9);

	wbuf_clear(&o);
	ck_assert_int_eq(msg_put_u64(&o, MSG_BARRIER_ACK, 1ull << 40), 0);
	b = one_frame(&o, MSG_BARRIER_ACK);
	ck_assert_int_eq(msg_decode_u64(&b, &v64), 0);
	ck_assert_uint_eq(v64, 1ull << 40);

	/* STORE: any two figures (held may exceed max); a failed decode
	 * consumes nothing and leaves both zero. */
	{
		uint64_t held, max;
		size_t off;

		wbuf_clear(&o);
		ck_assert_int_eq(msg_put_store(&o, UINT64_MAX, 3), 0);
		b = one_frame(&o, MSG_STORE);
		ck_assert_int_eq(msg_decode_store(&b, &held, &max), 0);
		ck_assert_uint_eq(held, UINT64_MAX);
		ck_assert_uint_eq(max, 3);
		wbuf_clear(&o);
		ck_assert_int_eq(msg_put_u64(&o, MSG_STORE, 7), 0); /* one figure only */
		b = one_frame(&o, MSG_STORE);
		off = b.off;
		ck_assert_int_lt(msg_decode_store(&b, &held, &max), 0);
		ck_assert_uint_eq(b.off, off);
		ck_assert_uint_eq(held, 0);
		ck_assert_uint_eq(max, 0);
	}
	wbuf_release(&o);
}
END_TEST

START_TEST(test_built_frames)
{
	struct wbuf o, b;
	struct msg_chunks c;
	struct msg_want w;
	struct msg_entry e;
	struct hash128 h, got;
	uint32_t count, len;
	size_t mark;

	memset(h.b, 0x11, sizeof(h.b));
	wbuf_init(&o, 1 << 20);
	ck_assert_int_eq(msg_begin(&o, MSG_FILE_CHUNKS, &mark), 0);
	ck_assert_int_eq(wbuf_put_u32(&o, 1), 0);
	ck_assert_int_eq(wbuf_put_u32(&o, 0), 0);
	ck_assert_int_eq(wbuf_put_u32(&o, 2), 0);
	ck_assert_int_eq(msg_put_chunk(&o, &h, 100), 0);
	ck_assert_int_eq(msg_put_chunk(&o, &h, 200), 0);
	ck_assert_int_eq(msg_finish(&o, mark), 0);
	b = one_frame(&o, MSG_FILE_CHUNKS);
	ck_assert_int_eq(msg_decode_chunks(&b, &c), 0);
	ck_assert_uint_eq(c.count, 2);
	msg_chunk_at(&c, 1, &got, &len);
	ck_assert_uint_eq(len, 200);
	ck_assert(hash128_eq(&got, &h));

	wbuf_clear(&o);
	ck_assert_int_eq(msg_begin(&o, MSG_WANT, &mark), 0);
	ck_assert_int_eq(wbuf_put_u32(&o, 1), 0);
	ck_assert_int_eq(wbuf_put_u32(&o, 10), 0);
	ck_assert_int_eq(wbuf_put_u32(&o, 2), 0);
	ck_assert_int_eq(wbuf_put_u32(&o, 10), 0);
	ck_assert_int_eq(wbuf_put_u32(&o, 12), 0);
	ck_assert_int_eq(msg_finish(&o, mark), 0);
	b = one_frame(&o, MSG_WANT);
	ck_assert_int_eq(msg_decode_want(&b, &w), 0);
	ck_assert_uint_eq(msg_want_at(&w, 1), 12);

	wbuf_clear(&o);
	ck_assert_int_eq(msg_begin(&o, MSG_SUMMARY, &mark), 0);
	ck_assert_int_eq(wbuf_put_u32(&o, 1), 0);
	ck_assert_int_eq(msg_put_entry(&o, ENTRY_DIR, "output/d", 0755, 0, 5), 0);
	ck_assert_int_eq(msg_finish(&o, mark), 0);
	b = one_frame(&o, MSG_SUMMARY);
	ck_assert_int_eq(msg_decode_summary(&b, &count), 0);
	ck_assert_uint_eq(count, 1);
	ck_assert_int_eq(msg_decode_entry(&b, &e), 0);
	ck_assert_str_eq(e.path, "output/d");
	ck_assert_uint_eq(e.kind, ENTRY_DIR);
	ck_assert_int_eq(wbuf_end(&b), 0);

	/* A cancelled frame leaves nothing behind. */
	wbuf_clear(&o);
	ck_assert_int_eq(msg_begin(&o, MSG_SUMMARY, &mark), 0);
	ck_assert_int_eq(wbuf_put_u32(&o, 1), 0);
	msg_cancel(&o, mark);
	ck_assert_uint_eq(wbuf_len(&o), 0);
	wbuf_release(&o);
}
END_TEST

/* Decodes body with the decoder for type; 0 or the decoder's error. */
static int decode_any(uint16_t type, struct wbuf *b)
{
	union {
		struct msg_hello h;
		struct msg_error e;
		struct msg_file_begin fb;
		struct msg_chunks c;
		struct msg_file_end fe;
		struct msg_hole ho;
		struct msg_want w;
		struct msg_data d;
		struct msg_ack a;
		struct msg_append ap;
		struct msg_meta m;
		struct msg_entry en;
	} *u = malloc(sizeof(*u));
	uint64_t v64, v64b;
	uint32_t v32;
	int r;

	switch (type) {
	case MSG_HELLO: r = msg_decode_hello(b, &u->h); break;
	case MSG_ERROR: r = msg_decode_error(b, &u->e); break;
	case MSG_FILE_BEGIN: r = msg_decode_file_begin(b, &u->fb); break;
	case MSG_FILE_CHUNKS: r = msg_decode_chunks(b, &u->c); break;
	case MSG_FILE_END: r = msg_decode_file_end(b, &u->fe); break;
	case MSG_FILE_HOLE: r = msg_decode_hole(b, &u->ho); break;
	case MSG_WANT: r = msg_decode_want(b, &u->w); break;
	case MSG_DATA: r = msg_decode_data(b, &u->d); break;
	case MSG_FILE_ACK: r = msg_decode_ack(b, &u->a); break;
	case MSG_APPEND: r = msg_decode_append(b, &u->ap); break;
	case MSG_MKDIR:
	case MSG_SETATTR: r = msg_decode_mkdir(b, &u->m); break;
	case MSG_RENAME: r = msg_decode_rename(b, &u->m); break;
	case MSG_REMOVE: r = msg_decode_remove(b, &u->m); break;
	case MSG_SYMLINK: r = msg_decode_symlink(b, &u->m); break;
	case MSG_LINK: r = msg_decode_link(b, &u->m); break;
	case MSG_FILE_ABORT:
	case MSG_SUMMARY_END: r = msg_decode_u32(b, &v32); break;
	case MSG_STORE: r = msg_decode_store(b, &v64, &v64b); break;
	default: r = msg_decode_u64(b, &v64); break;
	}
	free(u);
	return r;
}

/* Every strict prefix of every valid body is refused; so is the body with a
 * trailing byte (DATA and APPEND carry their payload to the end, so a longer
 * body is a longer payload there). */
START_TEST(test_truncated_and_trailing)
{
	struct hash128 h = { { 0 } };
	struct wbuf o;
	struct frame f;

	wbuf_init(&o, 1 << 20);
	ck_assert_int_eq(msg_put_hello(&o, ROLE_ENCLAVE, 0, "e"), 0);
	ck_assert_int_eq(msg_put_error(&o, EIO, false, "", "x"), 0);
	ck_assert_int_eq(msg_put_file_begin(&o, 1, "dataset/f", 0600, 1, 1), 0);
	ck_assert_int_eq(msg_put_file_end(&o, 1, 1, &h), 0);
	ck_assert_int_eq(msg_put_data(&o, 1, 0, "x", 1), 0);
	ck_assert_int_eq(msg_put_ack(&o, 1, 0, ""), 0);
	ck_assert_int_eq(msg_put_append(&o, "output/l", 0, 0, "y", 1), 0);
	ck_assert_int_eq(msg_put_meta(&o, MSG_MKDIR, "model/m", 0700, 0), 0);
	ck_assert_int_eq(msg_put_meta(&o, MSG_REMOVE, "model/m", 0, 0), 0);
	ck_assert_int_eq(msg_put_rename(&o, "model/m", "model/n"), 0);
	ck_assert_int_eq(msg_put_u32(&o, MSG_FILE_ABORT, 1), 0);
	ck_assert_int_eq(msg_put_u64(&o, MSG_BARRIER, 1), 0);
	ck_assert_int_eq(msg_put_hole(&o, 1, 1u << 20, HOLE_MIN_SIZE), 0);
	ck_assert_int_eq(msg_put_symlink(&o, "dataset/l", "../../etc/passwd", 5), 0);
	ck_assert_int_eq(msg_put_link(&o, "dataset/a", "dataset/b"), 0);
	ck_assert_int_eq(msg_put_store(&o, 5, 1u << 20), 0);

	while (frame_next(&o, &f) == 0) {
		size_t n = wbuf_len(&f.body);
		uint8_t *copy = malloc(n + 1);
		struct wbuf b;

		memcpy(copy, wbuf_ptr(&f.body), n);
		b = f.body;
		ck_assert_msg(decode_any(f.type, &b) == 0, "%s does not decode",
			      msg_type_name(f.type));
		for (size_t cut = 0; cut < n; cut++) {
			wbuf_from(&b, copy, cut);
			if ((f.type == MSG_DATA || f.type == MSG_APPEND) && cut > n - 1)
				continue;
			ck_assert_msg(decode_any(f.type, &b) < 0, "%s accepted %zu of %zu bytes",
				      msg_type_name(f.type), cut, n);
		}
		if (f.type != MSG_DATA && f.type != MSG_APPEND) {
			copy[n] = 0x5a;
			wbuf_from(&b, copy, n + 1);
			ck_assert_msg(decode_any(f.type, &b) == -EBADMSG, "%s accepted trailing garbage",
				      msg_type_name(f.type));
		}
		free(copy);
	}
	wbuf_release(&o);
}
END_TEST

START_TEST(test_hole)
{
	static const struct { uint64_t off, len; int r; } cases[] = {
		{ 0, HOLE_MIN_SIZE, 0 },
		{ 1u << 20, 1ull << 40, 0 },
		{ 0, 0, -EINVAL },                         /* empty */
		{ 0, HOLE_MIN_SIZE - 1, -EINVAL },         /* too short to be worth a hole */
		{ 1, 4096, -EINVAL },
		{ UINT64_MAX - HOLE_MIN_SIZE + 1, HOLE_MIN_SIZE, -EINVAL }, /* wraps */
		{ UINT64_MAX, UINT64_MAX, -EINVAL },
		{ 0, UINT64_MAX, 0 },                      /* the receiver checks the size */
	};
	struct msg_hole m;
	struct wbuf o;
	struct frame f;

	wbuf_init(&o, 1 << 16);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ck_assert_int_eq(msg_put_hole(&o, 7, cases[i].off, cases[i].len), 0);
		ck_assert_int_eq(frame_next(&o, &f), 0);
		ck_assert_uint_eq(f.type, MSG_FILE_HOLE);
		ck_assert_int_eq(msg_decode_hole(&f.body, &m), cases[i].r);
		if (cases[i].r == 0) {
			ck_assert_uint_eq(m.id, 7);
			ck_assert_uint_eq(m.offset, cases[i].off);
			ck_assert_uint_eq(m.len, cases[i].len);
		}
	}
	wbuf_release(&o);
}
END_TEST

START_TEST(test_symlink_and_link)
{
	static const char *const targets[] = { "x", "/etc/passwd", "../../etc/passwd", "a//b/./..",
					       "dangling/", " spaces ", "\n\x1b[2J" };
	static const char *const bad_paths[] = { "/etc/passwd", "../x", "dataset/../../x", "a//b",
						 "dataset/", "" };
	char long_target[WIRE_TARGET_MAX + 2];
	struct msg_meta m;
	struct msg_entry en;
	struct wbuf o;
	struct frame f;
	uint32_t count;

	wbuf_init(&o, 1 << 20);
	/* Any target text is kept as it is. */
	for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
		ck_assert_int_eq(msg_put_symlink(&o, "dataset/l", targets[i], 42), 0);
		ck_assert_int_eq(frame_next(&o, &f), 0);
		ck_assert_int_eq(msg_decode_symlink(&f.body, &m), 0);
		ck_assert_str_eq(m.path, "dataset/l");
		ck_assert_str_eq(m.to, targets[i]);
		ck_assert_uint_eq(m.mtime, 42);
	}
	/* Empty or too long targets, bad paths. */
	ck_assert_int_eq(msg_put_symlink(&o, "dataset/l", "", 0), 0);
	ck_assert_int_eq(frame_next(&o, &f), 0);
	ck_assert_int_eq(msg_decode_symlink(&f.body, &m), -EINVAL);
	memset(long_target, 'a', sizeof(long_target) - 1);
	long_target[sizeof(long_target) - 1] = '\0';
	ck_assert_int_eq(msg_put_symlink(&o, "dataset/l", long_target, 0), 0);
	ck_assert_int_eq(frame_next(&o, &f), 0);
	ck_assert_int_eq(msg_decode_symlink(&f.body, &m), -EMSGSIZE);
	long_target[WIRE_TARGET_MAX] = '\0';
	ck_assert_int_eq(msg_put_symlink(&o, "dataset/l", long_target, 0), 0);
	ck_assert_int_eq(frame_next(&o, &f), 0);
	ck_assert_int_eq(msg_decode_symlink(&f.body, &m), 0);
	for (size_t i = 0; i < sizeof(bad_paths) / sizeof(bad_paths[0]); i++) {
		ck_assert_int_eq(msg_put_symlink(&o, bad_paths[i], "x", 0), 0);
		ck_assert_int_eq(frame_next(&o, &f), 0);
		ck_assert_int_lt(msg_decode_symlink(&f.body, &m), 0);
		ck_assert_int_eq(msg_put_link(&o, "dataset/a", bad_paths[i]), 0);
		ck_assert_int_eq(frame_next(&o, &f), 0);
		ck_assert_int_lt(msg_decode_link(&f.body, &m), 0);
		ck_assert_int_eq(msg_put_link(&o, bad_paths[i], "dataset/a"), 0);
		ck_assert_int_eq(frame_next(&o, &f), 0);
		ck_assert_int_lt(msg_decode_link(&f.body, &m), 0);
	}
	ck_assert_int_eq(msg_put_link(&o, "dataset/a", "dataset/b/c"), 0);
	ck_assert_int_eq(frame_next(&o, &f), 0);
	ck_assert_int_eq(msg_decode_link(&f.body, &m), 0);
	ck_assert_str_eq(m.path, "dataset/a");
	ck_assert_str_eq(m.to, "dataset/b/c");

	/* Summary entries of kind 3 carry their target; its length is the size. */
	{
		size_t mark;

		ck_assert_int_eq(msg_begin(&o, MSG_SUMMARY, &mark), 0);
		ck_assert_int_eq(wbuf_put_u32(&o, 2), 0);
		ck_assert_int_eq(msg_put_entry_symlink(&o, "output/l", "/abs/t", 9), 0);
		ck_assert_int_eq(msg_put_entry(&o, ENTRY_FILE, "output/f", 0644, 3, 1), 0);
		ck_assert_int_eq(msg_finish(&o, mark), 0);
		ck_assert_int_eq(frame_next(&o, &f), 0);
		ck_assert_int_eq(msg_decode_summary(&f.body, &count), 0);
		ck_assert_uint_eq(count, 2);
		ck_assert_int_eq(msg_decode_entry(&f.body, &en), 0);
		ck_assert_uint_eq(en.kind, ENTRY_SYMLINK);
		ck_assert_str_eq(en.target, "/abs/t");
		ck_assert_uint_eq(en.size, 6);
		ck_assert_int_eq(msg_decode_entry(&f.body, &en), 0);
		ck_assert_uint_eq(en.kind, ENTRY_FILE);
		ck_assert_str_eq(en.target, "");
		ck_assert_int_eq(wbuf_end(&f.body), 0);

		/* A size that is not the target's length, an empty target, kind 4. */
		ck_assert_int_eq(msg_begin(&o, MSG_SUMMARY, &mark), 0);
		ck_assert_int_eq(wbuf_put_u32(&o, 1), 0);
		ck_assert_int_eq(msg_put_entry(&o, ENTRY_SYMLINK, "output/l", 0777, 7, 0), 0);
		ck_assert_int_eq(wbuf_put_str(&o, "/abs/t"), 0);
		ck_assert_int_eq(msg_finish(&o, mark), 0);
		ck_assert_int_eq(frame_next(&o, &f), 0);
		ck_assert_int_eq(msg_decode_summary(&f.body, &count), 0);
		ck_assert_int_eq(msg_decode_entry(&f.body, &en), -EINVAL);

		ck_assert_int_eq(msg_begin(&o, MSG_SUMMARY, &mark), 0);
		ck_assert_int_eq(wbuf_put_u32(&o, 1), 0);
		ck_assert_int_eq(msg_put_entry(&o, ENTRY_SYMLINK, "output/l", 0777, 0, 0), 0);
		ck_assert_int_eq(wbuf_put_str(&o, ""), 0);
		ck_assert_int_eq(msg_finish(&o, mark), 0);
		ck_assert_int_eq(frame_next(&o, &f), 0);
		ck_assert_int_eq(msg_decode_summary(&f.body, &count), 0);
		ck_assert_int_eq(msg_decode_entry(&f.body, &en), -EINVAL);

		ck_assert_int_eq(msg_begin(&o, MSG_SUMMARY, &mark), 0);
		ck_assert_int_eq(wbuf_put_u32(&o, 1), 0);
		ck_assert_int_eq(msg_put_entry(&o, 4, "output/l", 0777, 0, 0), 0);
		ck_assert_int_eq(msg_finish(&o, mark), 0);
		ck_assert_int_eq(frame_next(&o, &f), 0);
		ck_assert_int_eq(msg_decode_summary(&f.body, &count), 0);
		ck_assert_int_eq(msg_decode_entry(&f.body, &en), -EINVAL);

		/* A symlink entry cut before its target. */
		ck_assert_int_eq(msg_begin(&o, MSG_SUMMARY, &mark), 0);
		ck_assert_int_eq(wbuf_put_u32(&o, 1), 0);
		ck_assert_int_eq(msg_put_entry(&o, ENTRY_SYMLINK, "output/l", 0777, 1, 0), 0);
		ck_assert_int_eq(msg_finish(&o, mark), 0);
		ck_assert_int_eq(frame_next(&o, &f), 0);
		ck_assert_int_eq(msg_decode_summary(&f.body, &count), 0);
		ck_assert_int_eq(msg_decode_entry(&f.body, &en), -EBADMSG);
	}
	wbuf_release(&o);
}
END_TEST

START_TEST(test_hostile_fields)
{
	static const char *const bad_paths[] = { "/etc/passwd", "../x", "dataset/../../x", "a//b",
						 "dataset/", "./a", "", "dataset/." };
	struct msg_file_begin fb;
	struct msg_hello hello;
	struct msg_chunks c;
	struct msg_want w;
	struct msg_meta m;
	struct msg_data d;
	struct hash128 h = { { 0 } };
	struct wbuf o, b;
	size_t mark;
	uint32_t count;

	wbuf_init(&o, 1 << 20);
	for (size_t i = 0; i < sizeof(bad_paths) / sizeof(bad_paths[0]); i++) {
		wbuf_clear(&o);
		ck_assert_int_eq(msg_put_file_begin(&o, 1, bad_paths[i], 0600, 1, 1), 0);
		b = one_frame(&o, MSG_FILE_BEGIN);
		ck_assert_msg(msg_decode_file_begin(&b, &fb) < 0, "accepted path '%s'", bad_paths[i]);
		wbuf_clear(&o);
		ck_assert_int_eq(msg_put_rename(&o, "model/a", bad_paths[i]), 0);
		b = one_frame(&o, MSG_RENAME);
		ck_assert_msg(msg_decode_rename(&b, &m) < 0, "rename accepted '%s'", bad_paths[i]);
	}

	/* Mode bits beyond 07777. */
	wbuf_clear(&o);
	ck_assert_int_eq(msg_put_file_begin(&o, 1, "dataset/f", 0100644, 1, 1), 0);
	b = one_frame(&o, MSG_FILE_BEGIN);
	ck_assert_int_eq(msg_decode_file_begin(&b, &fb), -EINVAL);

	/* Unknown role. */
	wbuf_clear(&o);
	ck_assert_int_eq(msg_put_hello(&o, 3, 0, "x"), 0);
	b = one_frame(&o, MSG_HELLO);
	ck_assert_int_eq(msg_decode_hello(&b, &hello), -EINVAL);
	/* SUMMARY_AGAIN names one tree: one canonical component. */
	{
		static const char *const bad[] = { "", ".", "..", "a/b", "/a", "a/" };
		char tree[WIRE_NAME_MAX + 1], longname[WIRE_NAME_MAX + 2];

		wbuf_clear(&o);
		ck_assert_int_eq(msg_put_summary_again(&o, "dataset"), 0);
		b = one_frame(&o, MSG_SUMMARY_AGAIN);
		ck_assert_int_eq(msg_decode_summary_again(&b, tree), 0);
		ck_assert_str_eq(tree, "dataset");
		for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
			wbuf_clear(&o);
			ck_assert_int_eq(msg_put_summary_again(&o, bad[k]), 0);
			b = one_frame(&o, MSG_SUMMARY_AGAIN);
			ck_assert_msg(msg_decode_summary_again(&b, tree) < 0, "%s taken", bad[k]);
		}
		memset(longname, 'n', WIRE_NAME_MAX + 1);
		longname[WIRE_NAME_MAX + 1] = '\0';
		wbuf_clear(&o);
		ck_assert_int_eq(msg_put_summary_again(&o, longname), 0);
		b = one_frame(&o, MSG_SUMMARY_AGAIN);
		ck_assert_int_eq(msg_decode_summary_again(&b, tree), -EMSGSIZE);
	}

	/* Flags: the known ones pass, any other bit is refused. */
	wbuf_clear(&o);
	ck_assert_int_eq(msg_put_hello(&o, ROLE_HOST, HELLO_F_ALL, "x"), 0);
	b = one_frame(&o, MSG_HELLO);
	ck_assert_int_eq(msg_decode_hello(&b, &hello), 0);
	ck_assert_uint_eq(hello.flags, HELLO_F_READABLE | HELLO_F_SUMMARY_AGAIN);
	wbuf_clear(&o);
	ck_assert_int_eq(msg_put_hello(&o, ROLE_HOST, HELLO_F_ALL + 1, "x"), 0);
	b = one_frame(&o, MSG_HELLO);
	ck_assert_int_eq(msg_decode_hello(&b, &hello), -EINVAL);

	/* Chunk lists: empty, too long, zero-length and oversized chunks. */
	for (int k = 0; k < 4; k++) {
		uint32_t n = k == 0 ? 0 : k == 1 ? BATCH_MAX + 1 : 1;
		wbuf_clear(&o);
		ck_assert_int_eq(msg_begin(&o, MSG_FILE_CHUNKS, &mark), 0);
		ck_assert_int_eq(wbuf_put_u32(&o, 1), 0);
		ck_assert_int_eq(wbuf_put_u32(&o, 0), 0);
		ck_assert_int_eq(wbuf_put_u32(&o, n), 0);
		for (uint32_t i = 0; i < n; i++)
			ck_assert_int_eq(msg_put_chunk(&o, &h, k == 2 ? 0 : k == 3 ? (256u << 10) + 1 : 1),
					 0);
		ck_assert_int_eq(msg_finish(&o, mark), 0);
		b = one_frame(&o, MSG_FILE_CHUNKS);
		ck_assert_int_lt(msg_decode_chunks(&b, &c), 0);
	}
	/* A chunk count that does not match the body. */
	wbuf_clear(&o);
	ck_assert_int_eq(msg_begin(&o, MSG_FILE_CHUNKS, &mark), 0);
	ck_assert_int_eq(wbuf_put_u32(&o, 1), 0);
	ck_assert_int_eq(wbuf_put_u32(&o, 0), 0);
	ck_assert_int_eq(wbuf_put_u32(&o, 2), 0);
	ck_assert_int_eq(msg_put_chunk(&o, &h, 1), 0);
	ck_assert_int_eq(msg_finish(&o, mark), 0);
	b = one_frame(&o, MSG_FILE_CHUNKS);
	ck_assert_int_eq(msg_decode_chunks(&b, &c), -EBADMSG);

	/* WANT indices out of order, repeated, or outside the batch. */
	{
		static const uint32_t cases[][2] = { { 5, 3 }, { 4, 4 }, { 2, 3 }, { 3, 3 + BATCH_MAX } };
		for (size_t k = 0; k < 4; k++) {
			wbuf_clear(&o);
			ck_assert_int_eq(msg_begin(&o, MSG_WANT, &mark), 0);
			ck_assert_int_eq(wbuf_put_u32(&o, 1), 0);
			ck_assert_int_eq(wbuf_put_u32(&o, 3), 0);
			ck_assert_int_eq(wbuf_put_u32(&o, 2), 0);
			ck_assert_int_eq(wbuf_put_u32(&o, cases[k][0]), 0);
			ck_assert_int_eq(wbuf_put_u32(&o, cases[k][1]), 0);
			ck_assert_int_eq(msg_finish(&o, mark), 0);
			b = one_frame(&o, MSG_WANT);
			ck_assert_int_eq(msg_decode_want(&b, &w), -EINVAL);
		}
	}

	/* Empty DATA, zero-entry SUMMARY. */
	wbuf_clear(&o);
	ck_assert_int_eq(msg_begin(&o, MSG_DATA, &mark), 0);
	ck_assert_int_eq(wbuf_put_u32(&o, 1), 0);
	ck_assert_int_eq(wbuf_put_u32(&o, 0), 0);
	ck_assert_int_eq(msg_finish(&o, mark), 0);
	b = one_frame(&o, MSG_DATA);
	ck_assert_int_eq(msg_decode_data(&b, &d), -EINVAL);

	wbuf_clear(&o);
	ck_assert_int_eq(msg_put_u32(&o, MSG_SUMMARY, 0), 0);
	b = one_frame(&o, MSG_SUMMARY);
	ck_assert_int_eq(msg_decode_summary(&b, &count), -EINVAL);
	wbuf_release(&o);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("proto");
	TCase *tc = tcase_create("codec");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_frame_header);
	tcase_add_test(tc, test_roundtrips);
	tcase_add_test(tc, test_built_frames);
	tcase_add_test(tc, test_truncated_and_trailing);
	tcase_add_test(tc, test_hostile_fields);
	tcase_add_test(tc, test_hole);
	tcase_add_test(tc, test_symlink_and_link);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
