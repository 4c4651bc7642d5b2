/* nitrocli.c: an enclave's CID from `nitro-cli describe-enclaves`.
 *
 * The output is trusted no more than any other input: it is read with a cap
 * and a deadline, parsed by jansson with a depth limit, and each field is
 * checked for its type and range before it is used. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "nitrocli.h"
#include "util.h"

extern char **environ;

/* CIDs 0-2 are the hypervisor, local and host; 3 is the parent instance;
 * -1U is "any". */
#define CID_MIN 4
#define CID_MAX 0xfffffffeu
#define STDERR_MAX 512

/* A name from nitro-cli, made safe for a message: printable ASCII only,
 * at most 64 bytes. */
static void safe_name(char out[static 72], const char *s)
{
	size_t i;

	for (i = 0; s[i] && i < 64; i++)
		out[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	out[i] = '\0';
	if (s[i])
		strcpy(out + i, "...");
}

int nitro_pick_cid(const char *json, size_t len, const char *name, uint32_t *cid, char *why,
		   size_t whylen)
{
	json_error_t jerr;
	json_t *root, *e;
	size_t i, matches = 0;
	json_int_t found = -1;
	char names[256] = "";
	int r = 0;

	if (why && whylen)
		why[0] = '\0';
	if (len > NITRO_CLI_OUTPUT_MAX)
		return err_set(why, whylen, -EBADMSG, "nitro-cli's answer is over %d bytes",
			       NITRO_CLI_OUTPUT_MAX);
	root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return err_set(why, whylen, -EBADMSG, "nitro-cli's answer is not JSON: %s",
			       jerr.text);
	if (!json_is_array(root)) {
		r = err_set(why, whylen, -EBADMSG, "nitro-cli's answer is not a list of enclaves");
		goto out;
	}
	json_array_foreach(root, i, e) {
		json_t *jn = json_object_get(e, "EnclaveName");
		json_t *jc = json_object_get(e, "EnclaveCID");
		json_t *js = json_object_get(e, "State");
		const char *ename;
		char safe[72];
		size_t used;

		if (!json_is_object(e) || !json_is_integer(jc) || !json_is_string(js) ||
		    (jn && !json_is_string(jn))) {
			r = err_set(why, whylen, -EBADMSG,
				    "enclave %zu in nitro-cli's answer lacks EnclaveCID or State",
				    i);
			goto out;
		}
		if (strcmp(json_string_value(js), "RUNNING"))
			continue;
		ename = jn ? json_string_value(jn) : "";
		if (*name && strcmp(ename, name))
			continue;
		if (matches++ == 0)
			found = json_integer_value(jc);
		safe_name(safe, *ename ? ename : "(no name)");
		used = strlen(names);
		if (used + strlen(safe) + 3 < sizeof(names))
			snprintf(names + used, sizeof(names) - used, "%s%s", used ? ", " : "", safe);
	}
	if (matches == 0) {
		r = *name ? err_set(why, whylen, -ENOENT, "no running enclave is named '%s'", name)
			  : err_set(why, whylen, -ENOENT, "no enclave is running");
		goto out;
	}
	if (matches > 1) {
		r = *name ? err_set(why, whylen, -ENOTUNIQ, "%zu running enclaves are named '%s'",
				    matches, name)
			  : err_set(why, whylen, -ENOTUNIQ,
				    "%zu enclaves are running (%s); name one: nitro:NAME", matches,
				    names);
		goto out;
	}
	if (found < CID_MIN || found > (json_int_t)CID_MAX) {
		r = err_set(why, whylen, -ERANGE,
			    "nitro-cli says the enclave's CID is %" JSON_INTEGER_FORMAT
			    ", which no enclave can have",
			    found);
		goto out;
	}
	*cid = (uint32_t)found;
out:
	json_decref(root);
	return r;
}

static long ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

/* Reads the child's stdout (into out, up to cap) and stderr (its first
 * STDERR_MAX bytes) until both close or the deadline. Returns 0, -E2BIG if
 * stdout went over cap, -ETIMEDOUT. */
static int collect(int ofd, int efd, char *out, size_t cap, size_t *olen, char *err, size_t *elen)
{
	struct pollfd p[2] = { { .fd = ofd, .events = POLLIN }, { .fd = efd, .events = POLLIN } };
	struct timespec t0;
	int open = 2;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (open > 0) {
		long left = NITRO_CLI_TIMEOUT_MS - ms_since(&t0);
		int n;

		if (left <= 0)
			return -ETIMEDOUT;
		n = poll(p, 2, (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return neg_errno();
		for (int i = 0; i < 2; i++) {
			char scratch[4096];
			char *dst;
			size_t room, *len = i == 0 ? olen : elen;
			ssize_t got;

			if (p[i].fd < 0 || !p[i].revents)
				continue;
			if (i == 0) {
				if (*len >= cap)
					return -E2BIG;
				dst = out + *len;
				room = cap - *len;
			} else {
				dst = scratch;
				room = sizeof(scratch);
			}
			got = read(p[i].fd, dst, room);
			if (got < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (got <= 0) {
				p[i].fd = -1;
				open--;
				continue;
			}
			if (i == 0) {
				*len += (size_t)got;
			} else if (*len < STDERR_MAX) {
				size_t k = (size_t)got < STDERR_MAX - *len ? (size_t)got : STDERR_MAX - *len;

				memcpy(err + *len, scratch, k);
				*len += k;
			}
		}
	}
	return 0;
}

int nitro_find_cid(const char *name, uint32_t *cid, char *why, size_t whylen)
{
	const char *prog = getenv("EFS_NITRO_CLI");
	char *argv[] = { NULL, "describe-enclaves", NULL };
	posix_spawn_file_actions_t fa;
	int out[2] = { -1, -1 }, errp[2] = { -1, -1 };
	char *buf = NULL, err[STDERR_MAX + 1];
	size_t olen = 0, elen = 0;
	pid_t pid = -1;
	int r, status = 0;

	if (!prog || !*prog)
		prog = "nitro-cli";
	argv[0] = (char *)prog;
	buf = malloc(NITRO_CLI_OUTPUT_MAX);
	if (!buf)
		return err_set(why, whylen, -ENOMEM, "out of memory");
	if (pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0) {
		r = err_set(why, whylen, neg_errno(), "pipe: %s", strerror(errno));
		goto done;
	}
	if (posix_spawn_file_actions_init(&fa)) {
		r = err_set(why, whylen, -ENOMEM, "out of memory");
		goto done;
	}
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	posix_spawn_file_actions_adddup2(&fa, errp[1], 2);
	r = posix_spawnp(&pid, prog, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	safe_close(out[1]);
	safe_close(errp[1]);
	out[1] = errp[1] = -1;
	if (r) {
		pid = -1;
		r = err_set(why, whylen, -r, r == ENOENT ? "%s is not installed (not found on PATH)"
						         : "cannot run %s: %s",
			    prog, strerror(r));
		goto done;
	}
	r = collect(out[0], errp[0], buf, NITRO_CLI_OUTPUT_MAX, &olen, err, &elen);
	if (r < 0) {
		kill(pid, SIGKILL);
		r = err_set(why, whylen, r == -ETIMEDOUT ? -ETIMEDOUT : -EBADMSG,
			    r == -ETIMEDOUT ? "%s describe-enclaves did not answer in %d s"
					    : "%s describe-enclaves answered more than %d bytes",
			    prog,
			    r == -ETIMEDOUT ? NITRO_CLI_TIMEOUT_MS / 1000 : NITRO_CLI_OUTPUT_MAX);
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	pid = -1;
	if (r < 0)
		goto done;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		char *nl;

		err[elen] = '\0';
		nl = strchr(err, '\n');
		if (nl)
			*nl = '\0';
		for (char *c = err; *c; c++)
			if ((unsigned char)*c < 0x20 || *c == 0x7f)
				*c = '?';
		r = err_set(why, whylen, -EIO, "%s describe-enclaves failed (%s %d)%s%s", prog,
			    WIFEXITED(status) ? "exit" : "signal",
			    WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status),
			    *err ? ": " : "", err);
		goto done;
	}
	r = nitro_pick_cid(buf, olen, name, cid, why, whylen);
done:
	safe_close(out[0]);
	safe_close(out[1]);
	safe_close(errp[0]);
	safe_close(errp[1]);
	free(buf);
	return r;
}
