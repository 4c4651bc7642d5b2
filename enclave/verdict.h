/* What the host may learn about a package (doc/SECURITY.md): its name, the
 * digest of the sealed file, a state, an errno and one of the fixed texts
 * below. Nothing the enclave found inside the package (entry names, sizes,
 * manifest fields, byte offsets, library messages) reaches the host or the
 * enclave's log: every PKG_STATE and every log line about a package takes
 * its text from here. */
#ifndef EFS_VERDICT_H
#define EFS_VERDICT_H

#include <stdbool.h>
#include <stddef.h>

/* Where in opening a package a failure happened. */
enum verdict_stage {
	VERDICT_OPEN,     /* the sealed file: magic, header, key (public parts) */
	VERDICT_EXTRACT,  /* decryption and the archive inside */
	VERDICT_MANIFEST, /* enclave.json */
	VERDICT_STORE,    /* creating or installing the app directory */
};

/* The public text of a failure (err a negative errno). decrypt_failed: the
 * reader reported an authentication failure (a tampered or truncated body),
 * as opposed to an archive that is not valid. */
const char *verdict_text(enum verdict_stage stage, int err, bool decrypt_failed);

/* 1..PKG_NAME_MAX bytes, no '/', no leading '.', nothing escape.h would
 * escape (no control characters, valid UTF-8). Anything else in encrypted/
 * is not a package. */
#define PKG_NAME_MAX 128
bool pkg_name_valid(const char *name);
/* The name of the package at rel (relative to the state or cache root):
 * a file directly in encrypted/ is one, nothing else is. NULL otherwise;
 * the name points into rel. */
const char *pkg_path_name(const char *rel);

#define VERDICT_OPENING "opening"
#define VERDICT_AUTHENTICATED "authenticated"
#define VERDICT_READY "ready"
#define VERDICT_REMOVED "removed"
#define VERDICT_BAD_NAME "not a valid package name"
#define VERDICT_NO_MEMORY "the enclave is out of memory"

#endif
