#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <unistd.h>

#include "pathsafe.h"
#include "tree.h"
#include "util.h"

static int walk_dir(int dirfd, char *path, size_t plen, tree_cb cb, void *ud)
{
	DIR *d = fdopendir(dirfd);
	struct dirent *de;
	int r = 0;

	if (!d) {
		r = neg_errno();
		close(dirfd);
		return r;
	}
	while ((errno = 0, de = readdir(d))) {
		struct stat st;
		size_t nlen;

		if (de->d_name[0] == '.' &&
		    (de->d_name[1] == '\0' || (de->d_name[1] == '.' && de->d_name[2] == '\0')))
			continue;
		if (tree_is_tmp(de->d_name))
			continue;
		nlen = strlen(de->d_name);
		if (plen + 1 + nlen >= PATH_MAX) {
			r = -ENAMETOOLONG;
			break;
		}
		path[plen] = '/';
		memcpy(path + plen + 1, de->d_name, nlen + 1);
		if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno == ENOENT) /* raced with a delete */
				continue;
			r = neg_errno();
			break;
		}
		r = cb(ud, path, &st);
		if (r < 0)
			break;
		if (S_ISDIR(st.st_mode)) {
			int sub = openat(dirfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub < 0) {
				if (errno == ENOENT)
					continue;
				r = neg_errno();
				break;
			}
			r = walk_dir(sub, path, plen + 1 + nlen, cb, ud);
			if (r < 0)
				break;
		}
	}
	if (r == 0 && errno != 0)
		r = neg_errno();
	path[plen] = '\0';
	closedir(d);
	return r;
}

int tree_walk(int rootfd, const char *rel, tree_cb cb, void *ud)
{
	char path[PATH_MAX];
	int fd;

	fd = path_openat(rootfd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	if (fd < 0)
		return fd;
	snprintf(path, sizeof(path), "%s", rel);
	return walk_dir(fd, path, strlen(path), cb, ud);
}
