/* The package worker: the process that opens one sealed package (DESIGN §5,
 * doc/SECURITY.md "Key process").
 *
 * enclaved's install thread starts it for each install: a fresh image of
 * enclaved itself (`enclaved --install-worker`, by execveat of the binary
 * opened at start), so that it inherits no memory of the process that parses
 * host frames, and nothing of the key process. It gets four descriptors:
 *
 *   3  the package file (read only)
 *   4  the empty app directory to extract into
 *   5  a channel to the key process, good for one unwrap (keyd.h)
 *   6  a pipe for its result (struct pkgworker_result)
 *
 * It parses the header, asks the key process for this package's data key,
 * decrypts and extracts segment by segment, loads the manifest, and writes
 * one result. Its detailed errors stay in it: only the stage, the errno and
 * the key process's message leave (verdict.h decides the host's text).
 */
#ifndef EFS_PKGWORKER_H
#define EFS_PKGWORKER_H

#include <stdint.h>
#include <sys/types.h>

#include "extract.h"

#define PKGWORKER_ARG "--install-worker"

struct pkgworker_result {
	int32_t err;               /* 0 or a negative errno */
	int32_t stage;             /* enum verdict_stage of a failure */
	uint8_t decrypt_failed;
	uint8_t have_digest;
	uint8_t digest[32];        /* SHA-256 of the sealed file */
	uint8_t hdr_digest[32];    /* the header's: the key cache's name for it */
	uint8_t manifest_sha384[48];
	char provider[16];
	char key_id[256];
	char context_package[256]; /* kms: the encryption context's "package" */
	char key_why[512];         /* the key process's message, when the key failed */
	uint32_t key_us;           /* the data key's round trip to the key process */
};

/* enclaved --install-worker MAX_TOTAL MAX_ENTRIES MAX_FILE: the child. */
int pkgworker_main(int argc, char **argv);

/* The parent: runs one worker over pkg_fd into dir_fd with a channel from
 * the key process at keyd_sock; fills res (a crash is -EIO at stage
 * EXTRACT). exe_fd is enclaved's own binary. */
int pkgworker_run(int exe_fd, int keyd_sock, int pkg_fd, int dir_fd,
		  const struct extract_limits *lim, struct pkgworker_result *res);

#endif
