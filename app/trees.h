/* The application's trees below a sync root: the host writes the sealed
 * packages (encrypted), the data (dataset) and the models (model); the
 * enclave's jobs write output. The sync engine knows none of these names:
 * every program that runs it takes them from here. */
#ifndef EFS_APP_TREES_H
#define EFS_APP_TREES_H

#include "engine.h"

extern const char *const app_host_trees[];    /* NULL-terminated */
extern const char *const app_enclave_trees[]; /* NULL-terminated */

/* Sets cfg's own_trees and peer_trees for cfg->role. */
void app_set_trees(struct engine_config *cfg);

#endif
