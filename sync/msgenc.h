/* The shape of a message encoder (sync/proto.c, app/appmsg.c): begin the
 * frame, append fields in order with TRY(), finish; any failure drops the
 * whole frame:
 *
 *     int msg_put_x(struct wbuf *o, ...)
 *     {
 *             BEGIN(o, MSG_X);
 *             TRY(wbuf_put_u32(o, ...));
 *             FINISH(o);
 *     }
 *
 * For encoders only: the names are short on purpose. */
#ifndef EFS_MSGENC_H
#define EFS_MSGENC_H

#include "proto.h"

/* Encoders: begin the frame, append fields in order, finish; any failure
 * drops the whole frame. */
#define TRY(x)                                                                                    \
	do {                                                                                      \
		if ((r = (x)) < 0)                                                                \
			goto fail;                                                                \
	} while (0)

#define BEGIN(o, type)                                                                            \
	size_t mark;                                                                              \
	int r = msg_begin((o), (type), &mark);                                                    \
	if (r < 0)                                                                                \
		return r

#define FINISH(o)                                                                                 \
	return msg_finish((o), mark);                                                             \
fail:                                                                                             \
	msg_cancel((o), mark);                                                                    \
	return r

#endif
