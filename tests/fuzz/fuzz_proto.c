/* libFuzzer harness for the frame reader and every message decoder: the
 * input is a byte stream as a peer would send it. Each frame's body is also
 * offered to every decoder, whatever its type. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>

#include "fuzz.h"
#include "sync/proto.h"

static void decode_all(const struct frame *f)
{
	static const uint16_t types[] = { MSG_HELLO, MSG_ERROR, MSG_FILE_BEGIN, MSG_FILE_CHUNKS,
					  MSG_FILE_END, MSG_WANT, MSG_DATA, MSG_FILE_ACK,
					  MSG_APPEND, MSG_MKDIR, MSG_RENAME, MSG_REMOVE,
					  MSG_SUMMARY, MSG_FILE_HOLE, MSG_SYMLINK, MSG_LINK,
					  MSG_STORE, MSG_SUMMARY_AGAIN };
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
	struct hash128 hh;
	uint32_t count, len;
	uint64_t held, max;
	char tree[WIRE_NAME_MAX + 1];

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		struct wbuf b = f->body;
		size_t before = b.off;
		int r = 0;

		switch (types[i]) {
		case MSG_HELLO: r = msg_decode_hello(&b, &h); break;
		case MSG_ERROR: r = msg_decode_error(&b, &e); break;
		case MSG_FILE_BEGIN: r = msg_decode_file_begin(&b, &fb); break;
		case MSG_FILE_CHUNKS:
			r = msg_decode_chunks(&b, &c);
			if (r == 0)
				for (uint32_t k = 0; k < c.count; k++)
					msg_chunk_at(&c, k, &hh, &len);
			break;
		case MSG_FILE_END: r = msg_decode_file_end(&b, &fe); break;
		case MSG_FILE_HOLE:
			r = msg_decode_hole(&b, &ho);
			if (r == 0 && (ho.len < HOLE_MIN_SIZE || ho.offset + ho.len < ho.offset))
				abort();
			break;
		case MSG_WANT:
			r = msg_decode_want(&b, &w);
			if (r == 0)
				for (uint32_t k = 0; k < w.n; k++)
					if (msg_want_at(&w, k) < w.first)
						abort();
			break;
		case MSG_DATA: r = msg_decode_data(&b, &d); break;
		case MSG_FILE_ACK: r = msg_decode_ack(&b, &a); break;
		case MSG_APPEND: r = msg_decode_append(&b, &ap); break;
		case MSG_MKDIR: r = msg_decode_mkdir(&b, &m); break;
		case MSG_RENAME: r = msg_decode_rename(&b, &m); break;
		case MSG_REMOVE: r = msg_decode_remove(&b, &m); break;
		case MSG_SYMLINK:
			r = msg_decode_symlink(&b, &m);
			if (r == 0 && (!m.to[0] || strlen(m.to) > WIRE_PATH_MAX))
				abort();
			break;
		case MSG_LINK: r = msg_decode_link(&b, &m); break;
		case MSG_STORE:
			r = msg_decode_store(&b, &held, &max);
			if (r < 0 && (b.off != before || held || max))
				abort();
			break;
		case MSG_SUMMARY_AGAIN:
			r = msg_decode_summary_again(&b, tree);
			if (r == 0 && (!tree[0] || strchr(tree, '/') || strlen(tree) > WIRE_NAME_MAX))
				abort();
			break;
		case MSG_SUMMARY:
			r = msg_decode_summary(&b, &count);
			for (uint32_t k = 0; r == 0 && k < count; k++) {
				r = msg_decode_entry(&b, &en);
				if (r == 0 && en.kind == ENTRY_SYMLINK &&
				    en.size != strlen(en.target))
					abort();
			}
			break;
		}
		(void)before;
		if (b.off > b.len)
			abort();
		(void)r;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wbuf in;
	struct frame f;
	int r;

	wbuf_from(&in, data, size);
	while ((r = frame_next(&in, &f)) == 0)
		decode_all(&f);
	if (r != -EAGAIN && in.off > in.len)
		abort();
	return 0;
}
