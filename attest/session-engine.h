/* The sync engine on an attested session: its frames go through the
 * session's TLS directly (struct engine_io), with no pump in between. */
#ifndef EFS_SESSION_ENGINE_H
#define EFS_SESSION_ENGINE_H

#include "engine.h"
#include "session.h"

/* engine_attach() of c; the engine owns c from the call on. */
static inline int engine_attach_session(struct engine *e, struct session_conn *c)
{
	struct engine_io io = { .read = session_conn_read,
				.write = session_conn_write,
				.pending = session_conn_pending,
				.wants_write = session_conn_wants_write,
				.flush = session_conn_flush,
				.close = session_conn_free,
				.ud = c };

	return engine_attach_io(e, session_conn_fd(c), &io);
}

#endif
