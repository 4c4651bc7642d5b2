#include "config.h"

#include "trees.h"

const char *const app_host_trees[] = { "encrypted", "dataset", "model", NULL };
const char *const app_enclave_trees[] = { "output", NULL };

void app_set_trees(struct engine_config *cfg)
{
	bool host = cfg->role == ROLE_HOST;

	cfg->own_trees = host ? app_host_trees : app_enclave_trees;
	cfg->peer_trees = host ? app_enclave_trees : app_host_trees;
}
