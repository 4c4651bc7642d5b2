/* nouserns COMMAND [ARG...]
 *
 * Runs COMMAND where no user namespace can be made, as on a system whose
 * seccomp policy refuses them (Docker's default profile does): unshare and
 * clone with CLONE_NEWUSER fail with EPERM, clone3 with ENOSYS (its flags
 * are out of a filter's reach; libc then falls back to clone). For tests
 * that cannot set user.max_user_namespaces (no CAP_SYS_RESOURCE).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <seccomp.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	scmp_filter_ctx f;
	int r;

	if (argc < 2) {
		fprintf(stderr, "usage: nouserns COMMAND [ARG...]\n");
		return 2;
	}
	f = seccomp_init(SCMP_ACT_ALLOW);
	if (!f)
		return 2;
	r = seccomp_rule_add(f, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(unshare), 1,
			     SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_NEWUSER, CLONE_NEWUSER));
	if (r == 0)
		r = seccomp_rule_add(f, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
				     SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_NEWUSER, CLONE_NEWUSER));
	if (r == 0)
		r = seccomp_rule_add(f, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
	if (r == 0)
		r = seccomp_load(f); /* sets no_new_privs */
	seccomp_release(f);
	if (r < 0) {
		fprintf(stderr, "nouserns: seccomp: %d\n", r);
		return 2;
	}
	execvp(argv[1], argv + 1);
	perror(argv[1]);
	return 127;
}
