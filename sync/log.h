/* Logging for every binary of the project.
 *
 * Levels are syslog's (LOG_ERR .. LOG_DEBUG). Messages go to stderr, or to
 * syslog after log_setup(..., true). Library code returns negative errno and
 * leaves logging to the edges; log_errno() lets an edge log and return the
 * error in one statement: `return log_errno(r, "open %s", path);`.
 * Each message is written with one write(2), so lines from threads never mix.
 */
#ifndef EFS_LOG_H
#define EFS_LOG_H

#include <stdbool.h>
#include <syslog.h>

void log_setup(const char *ident, int level, bool use_syslog);
void log_set_level(int level);
int log_get_level(void);
/* Raise verbosity by one step per -v (WARNING -> INFO -> DEBUG). */
void log_more_verbose(void);

/* fn(ud) runs before each line written to stderr (not to syslog): a
 * progress line (progress.h) blanks itself there. One hook; NULL removes
 * it. Set it from the thread that logs, or before threads start. */
void log_set_stderr_hook(void (*fn)(void *ud), void *ud);

void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Logs "<message>: <strerror(-err)>" at `level` and returns err (a negative errno). */
int log_errno_at(int level, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#define log_error(...) log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARNING, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_errno(err, ...) log_errno_at(LOG_ERR, (err), __VA_ARGS__)

#endif
