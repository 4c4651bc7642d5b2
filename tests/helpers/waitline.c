/* waitline [-n COUNT] [-t SECONDS] FILE TEXT
 *
 * Waits until FILE contains COUNT (default 1) lines that contain TEXT, using
 * inotify on the file instead of polling; exits 0 when they are there, 1 on
 * timeout (default 60 s), 2 on a usage error. The file may not exist yet.
 * Tests use it to wait for a daemon's log line ("in sync", "synced 2").
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

static long count_lines(const char *file, const char *text)
{
	FILE *f = fopen(file, "r");
	char *line = NULL;
	size_t cap = 0;
	long n = 0;

	if (!f)
		return 0;
	while (getline(&line, &cap, f) >= 0)
		if (strstr(line, text))
			n++;
	free(line);
	fclose(f);
	return n;
}

int main(int argc, char **argv)
{
	long want = 1, timeout_s = 60;
	char dir[PATH_MAX];
	struct timespec t0, t;
	int c, in;

	while ((c = getopt(argc, argv, "n:t:")) != -1) {
		switch (c) {
		case 'n': want = atol(optarg); break;
		case 't': timeout_s = atol(optarg); break;
		default: return 2;
		}
	}
	if (argc - optind != 2) {
		fprintf(stderr, "usage: waitline [-n COUNT] [-t SECONDS] FILE TEXT\n");
		return 2;
	}
	snprintf(dir, sizeof(dir), "%s", argv[optind]);
	in = inotify_init1(IN_CLOEXEC);
	/* Watch the directory: the file may be created or replaced. */
	if (in < 0 || inotify_add_watch(in, dirname(dir), IN_MODIFY | IN_CREATE | IN_MOVED_TO |
							  IN_CLOSE_WRITE) < 0) {
		perror("waitline: inotify");
		return 2;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		char buf[4096];
		struct pollfd p = { .fd = in, .events = POLLIN };
		long left;

		if (count_lines(argv[optind], argv[optind + 1]) >= want)
			return 0;
		clock_gettime(CLOCK_MONOTONIC, &t);
		left = timeout_s * 1000 - ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000);
		if (left <= 0) {
			fprintf(stderr, "waitline: timed out waiting for %ld line(s) with '%s' in %s\n",
				want, argv[optind + 1], argv[optind]);
			return 1;
		}
		if (poll(&p, 1, (int)left) > 0 && read(in, buf, sizeof(buf)) < 0 && errno != EAGAIN)
			return 2;
	}
}
