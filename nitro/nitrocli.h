/* nitrocli.h: the host asks nitro-cli which enclaves run, to find one's CID
 * by its name (the addresses nitro:NAME[:PORT], sync/transport.h). */
#ifndef EFS_NITROCLI_H
#define EFS_NITROCLI_H

#include <stddef.h>
#include <stdint.h>

/* Bounds on what nitro-cli may answer. */
#define NITRO_CLI_OUTPUT_MAX (1024 * 1024)
#define NITRO_CLI_TIMEOUT_MS 20000

/* Picks the CID from the output of `nitro-cli describe-enclaves` (a JSON
 * array of objects with EnclaveName, EnclaveCID, State, ...): the one enclave
 * in State "RUNNING" whose EnclaveName is name, or, for an empty name, the
 * only enclave in State "RUNNING". Returns 0, or:
 *   -EBADMSG  the output is not such an array (why says what is wrong),
 *   -ENOENT   no running enclave of that name (or none at all),
 *   -ENOTUNIQ an empty name and several enclaves run (why lists their names),
 *   -ERANGE   a CID that cannot be an enclave's (0..3 or above 2^32-2).
 * Never prints. */
int nitro_pick_cid(const char *json, size_t len, const char *name, uint32_t *cid, char *why,
		   size_t whylen);

/* Runs `nitro-cli describe-enclaves` (found on PATH, or the program named by
 * $EFS_NITRO_CLI), reads at most NITRO_CLI_OUTPUT_MAX bytes within
 * NITRO_CLI_TIMEOUT_MS, and picks as above. A missing nitro-cli is -ENOENT
 * with a reason that says so; a failing one -EIO with the first line of its
 * error output. The signature is the transport's resolver's. */
int nitro_find_cid(const char *name, uint32_t *cid, char *why, size_t whylen);

#endif
