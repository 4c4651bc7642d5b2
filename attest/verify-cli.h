/* enclave-seal attest verify: the verifier as a command (doc/enclave-seal.1). */
#ifndef EFS_ATTEST_VERIFY_CLI_H
#define EFS_ATTEST_VERIFY_CLI_H

/* argv[0] is "verify". Exit status: 0 verified, 1 refused, 2 usage error. */
int attest_verify_main(int argc, char **argv);

#endif
