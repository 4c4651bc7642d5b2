#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "escape.h"
#include "log.h"
#include "notify.h"

static const char *log_ident = "enclave-fs";
static int log_level = LOG_WARNING;
static bool log_syslog;
static bool log_journal;

/* Under systemd, stderr is the journal's stream: lines go there with their
 * priority as a "<N>" prefix, which the journal reads, instead of to syslog. */
void log_setup(const char *ident, int level, bool use_syslog)
{
	log_ident = ident;
	log_level = level;
	log_journal = notify_journal_stderr();
	log_syslog = use_syslog && !log_journal;
	if (log_syslog)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void log_set_level(int level)
{
	log_level = level;
}

int log_get_level(void)
{
	return log_level;
}

void log_more_verbose(void)
{
	if (log_level < LOG_INFO)
		log_level = LOG_INFO;
	else if (log_level < LOG_DEBUG)
		log_level = LOG_DEBUG;
}

static void (*stderr_hook)(void *ud);
static void *stderr_hook_ud;

void log_set_stderr_hook(void (*fn)(void *ud), void *ud)
{
	stderr_hook = fn;
	stderr_hook_ud = ud;
}

static void log_emit(int level, const char *msg)
{
	static const char *const names[] = {
		[LOG_EMERG] = "emerg", [LOG_ALERT] = "alert", [LOG_CRIT] = "crit",
		[LOG_ERR] = "error",   [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice",
		[LOG_INFO] = "info",   [LOG_DEBUG] = "debug",
	};
	char line[4096];
	int n;

	if (log_syslog) {
		syslog(level, "%s", msg);
		return;
	}
	if (log_journal)
		n = snprintf(line, sizeof(line) - 1, "<%d>%s: %s", level & 7, names[level & 7], msg);
	else
		n = snprintf(line, sizeof(line) - 1, "%s: %s: %s", log_ident, names[level & 7], msg);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	if (stderr_hook)
		stderr_hook(stderr_hook_ud);
	/* One write per line; a failure to log has nowhere to be reported. */
	if (write(STDERR_FILENO, line, (size_t)n) < 0)
		return;
}

/* Every message is escaped here, whatever it quotes: names and text from a
 * peer or a job cannot forge a log line or reach a terminal raw. */
static void log_vmsg(int level, int err, const char *fmt, va_list ap)
{
	char msg[3072], safe[3584];
	int saved = errno;
	size_t len, used;
	int n;

	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (n >= 0 && err < 0 && (size_t)n < sizeof(msg))
		snprintf(msg + n, sizeof(msg) - (size_t)n, ": %s", strerror(-err));
	len = strlen(msg);
	used = esc_buf(safe, sizeof(safe) - 3, msg, len, 0);
	if (used < len)
		strcat(safe, "...");
	log_emit(level, safe);
	errno = saved;
}

void log_msg(int level, const char *fmt, ...)
{
	va_list ap;

	if (level > log_level)
		return;
	va_start(ap, fmt);
	log_vmsg(level, 0, fmt, ap);
	va_end(ap);
}

int log_errno_at(int level, int err, const char *fmt, ...)
{
	va_list ap;

	if (level <= log_level) {
		va_start(ap, fmt);
		log_vmsg(level, err, fmt, ap);
		va_end(ap);
	}
	return err;
}
