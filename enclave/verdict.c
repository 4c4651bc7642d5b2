#include "config.h"

#include <errno.h>
#include <string.h>

#include "escape.h"
#include "verdict.h"

const char *verdict_text(enum verdict_stage stage, int err, bool decrypt_failed)
{
	if (err == -ENOMEM)
		return VERDICT_NO_MEMORY;
	if (err == -ENOSPC || err == -EDQUOT)
		return "the enclave's store is full";
	switch (stage) {
	case VERDICT_OPEN:
		switch (err) {
		case -ENOEXEC: return "not a sealed package";
		case -EINVAL: return "malformed package header";
		case -EPROTONOSUPPORT: return "unsupported package format or key provider";
		case -EBADMSG: return "truncated or tampered package";
		case -ENOKEY: return "no key for this package in the enclave";
		case -EKEYREJECTED: return "the package key was rejected";
		}
		return "the package could not be opened";
	case VERDICT_EXTRACT:
		if (decrypt_failed || err == -EBADMSG)
			return decrypt_failed ? "truncated or tampered package"
					      : "the archive in the package is not valid";
		switch (err) {
		case -EPERM: return "the archive breaks the extraction rules";
		case -EFBIG: return "the archive exceeds the enclave's limits";
		}
		return "the package could not be extracted";
	case VERDICT_MANIFEST:
		return err == -ENOENT ? "the package has no manifest"
				      : "the package's manifest is not valid";
	case VERDICT_STORE:
		break;
	}
	return "the package could not be installed";
}

bool pkg_name_valid(const char *name)
{
	size_t n = strlen(name);

	return n >= 1 && n <= PKG_NAME_MAX && name[0] != '.' && !strchr(name, '/') &&
	       esc_is_clean(name);
}

const char *pkg_path_name(const char *rel)
{
	const char *name;

	if (strncmp(rel, "encrypted/", 10) != 0)
		return NULL;
	name = rel + 10;
	return *name && !strchr(name, '/') ? name : NULL;
}
