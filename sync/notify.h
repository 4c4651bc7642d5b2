/* notify.h: telling a supervisor (systemd's notification protocol, the
 * socket in $NOTIFY_SOCKET) when a daemon is ready and what it is doing.
 *
 * notify_init() takes the socket's address out of the environment, so no
 * child (the development enclave, a job, nitro-cli) can speak for this
 * process, and remembers the calling process: only it sends. READY=1 goes
 * out once per process, whatever the number of calls; STATUS= lines as often
 * as the state changes. Nothing here fails loudly: without a supervisor every
 * call does nothing. */
#ifndef EFS_NOTIFY_H
#define EFS_NOTIFY_H

#include <stdbool.h>

/* Reads and unsets NOTIFY_SOCKET. Returns true if a supervisor listens. */
bool notify_init(void);
/* A supervisor listens (after notify_init). */
bool notify_active(void);
/* READY=1, once; later calls do nothing. With status, also a STATUS line
 * in the same datagram. */
void notify_ready(const char *status);
/* STATUS=TEXT (one line: control characters become '?', at most 200 bytes). */
void notify_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* STOPPING=1 with a STATUS line. */
void notify_stopping(const char *status);

/* stderr is a stream the journal reads ($JOURNAL_STREAM names its device and
 * inode): log lines then carry their priority as a "<N>" prefix. */
bool notify_journal_stderr(void);

#endif
