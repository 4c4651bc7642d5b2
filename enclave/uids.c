#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "uids.h"
#include "util.h"

#define LINE_LEN 65 /* 64 hex digits and a newline */

struct uids {
	int fd;
	uid_t base;
	uint32_t n;
	uint8_t (*ids)[32];
};

static int unhex(const char *s, uint8_t out[static 32])
{
	for (size_t i = 0; i < 32; i++) {
		unsigned v = 0;
		for (int k = 0; k < 2; k++) {
			char c = s[2 * i + (size_t)k];
			if (c >= '0' && c <= '9')
				v = v << 4 | (unsigned)(c - '0');
			else if (c >= 'a' && c <= 'f')
				v = v << 4 | (unsigned)(c - 'a' + 10);
			else
				return -EINVAL;
		}
		out[i] = (uint8_t)v;
	}
	return 0;
}

int uids_open(int dirfd, uid_t base, struct uids **out)
{
	struct uids *u = calloc(1, sizeof(*u));
	char line[LINE_LEN];
	struct stat st;
	int r;

	if (!u)
		return -ENOMEM;
	u->base = base;
	u->fd = openat(dirfd, UIDS_FILE, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (u->fd < 0 || fstat(u->fd, &st) < 0) {
		r = neg_errno();
		goto fail;
	}
	if (!S_ISREG(st.st_mode) || st.st_size % LINE_LEN || st.st_size / LINE_LEN > UIDS_MAX) {
		r = -EINVAL;
		goto fail;
	}
	u->ids = calloc(UIDS_MAX, sizeof(*u->ids));
	if (!u->ids) {
		r = -ENOMEM;
		goto fail;
	}
	for (off_t off = 0; off < st.st_size; off += LINE_LEN) {
		ssize_t n = io_pread_all(u->fd, line, LINE_LEN, off);
		if (n != LINE_LEN || line[64] != '\n' || unhex(line, u->ids[u->n]) < 0) {
			r = n < 0 ? (int)n : -EINVAL;
			goto fail;
		}
		u->n++;
	}
	*out = u;
	return 0;
fail:
	uids_free(u);
	return r;
}

int uids_get(struct uids *u, const uint8_t identity[static 32], uid_t *uid)
{
	char line[LINE_LEN + 1];
	int r;

	for (uint32_t i = 0; i < u->n; i++)
		if (memcmp(u->ids[i], identity, 32) == 0) {
			*uid = u->base + i;
			return 0;
		}
	if (u->n == UIDS_MAX)
		return -ENOSPC;
	for (size_t i = 0; i < 32; i++)
		snprintf(line + 2 * i, 3, "%02x", identity[i]);
	line[64] = '\n';
	r = io_pwrite_all(u->fd, line, LINE_LEN, (off_t)u->n * LINE_LEN);
	if (r == 0 && fsync(u->fd) < 0)
		r = neg_errno();
	if (r < 0) {
		/* Whatever was half-written is overwritten by the next attempt. */
		(void)!ftruncate(u->fd, (off_t)u->n * LINE_LEN);
		return r;
	}
	memcpy(u->ids[u->n], identity, 32);
	*uid = u->base + u->n++;
	return 0;
}

int uids_identity(const char *provider, const char *key_id, const char *name,
		  uint8_t out[static 32])
{
	static const char label[] = "enclave-fs app identity v1";
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	unsigned int n = 32;
	int r = 0;

	/* Each part with its terminating NUL: no two triples hash alike. */
	if (!c || EVP_DigestInit_ex(c, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(c, label, sizeof(label)) != 1 ||
	    EVP_DigestUpdate(c, provider, strlen(provider) + 1) != 1 ||
	    EVP_DigestUpdate(c, key_id, strlen(key_id) + 1) != 1 ||
	    EVP_DigestUpdate(c, name, strlen(name) + 1) != 1 || EVP_DigestFinal_ex(c, out, &n) != 1)
		r = -ENOMEM;
	EVP_MD_CTX_free(c);
	return r;
}

void uids_free(struct uids *u)
{
	if (!u)
		return;
	safe_close(u->fd);
	free(u->ids);
	free(u);
}

int uids_range_free(uid_t base, uid_t *clash)
{
	struct passwd *pw;
	struct group *gr;
	int r = 0;

	setpwent();
	while (r == 0 && (pw = getpwent()))
		if (pw->pw_uid >= base && pw->pw_uid - base < UIDS_MAX) {
			*clash = pw->pw_uid;
			r = -EEXIST;
		}
	endpwent();
	setgrent();
	while (r == 0 && (gr = getgrent()))
		if (gr->gr_gid >= base && gr->gr_gid - base < UIDS_MAX) {
			*clash = gr->gr_gid;
			r = -EEXIST;
		}
	endgrent();
	return r;
}
