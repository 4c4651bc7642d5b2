#!/bin/sh
# The development enclave without root (doc/SECURITY.md, "The development
# enclave without root"): a user mounts, opens a package and runs a job,
# which runs as a uid of its own that sees neither enclaved nor its key
# process; with user namespaces refused, the mount and enclaved --dev say so
# in one line and start nothing. As root, the script makes the user (if
# missing), opens /dev/fuse to users as Debian's udev rule does (this
# machine leaves it 0600) and turns user namespaces off for a while; it
# restores both at exit, whatever happens.
. "$top_srcdir/tests/lib.sh"

test_require root
test_require fuse
test_require tool setpriv sysctl useradd

U=efsuser
if ! id -u "$U" >/dev/null 2>&1 &&
	! useradd --no-create-home --shell /usr/sbin/nologin "$U" >useradd.log 2>&1; then
	cat useradd.log >&2
	echo "Bail out! cannot create the user $U"
	exit 99
fi
uid=$(id -u "$U")
gid=$(id -g "$U")

# The user's files live in W; every directory above it must let the user
# through (a build tree under a 0700 home would not).
W="$SCRATCH/user"
mkdir -p "$W/app" "$W/mnt"
d=$SCRATCH
while [ "$d" != / ]; do
	if [ "$(stat -c %A "$d" | cut -c10)" != x ] && [ "$(stat -c %A "$d" | cut -c10)" != t ]; then
		mode=$(stat -c %a "$d")
		chmod o+x "$d"
		test_atexit "chmod $mode '$d'"
	fi
	d=$(dirname "$d")
done
MNT=$(cd "$W/mnt" && pwd -P)

fuse_mode=$(stat -c %a /dev/fuse)
test_atexit "chmod $fuse_mode /dev/fuse"
ns_max=$(sysctl -n user.max_user_namespaces)

# Root may not look into a user's mount (no allow_other): ask the kernel's
# table instead of stat.
mounted() {
	awk -v m="$1" '$5 == m { found = 1 } END { exit !found }' /proc/self/mountinfo
}

as_user() {
	setpriv --reuid="$uid" --regid="$gid" --init-groups -- env HOME="$W" "$@"
}

# The app reports who it is and what it sees of the pids in /dataset/pids
# (enclave-fs, enclaved and its key process, as the host numbers them).
cat >"$W/app/enclave.json" <<'JSON'
{"name": "who", "version": "1",
 "entries": {"who": {"argv": ["sh", "who.sh"], "timeout_s": 60}},
 "default": "who"}
JSON
cat >"$W/app/who.sh" <<'SH'
id -u >/output/uid
grep -E '^(CapEff|CapPrm|NoNewPrivs):' /proc/self/status >/output/status
cat /proc/self/uid_map >/output/uid_map
ls /proc >/output/proc
for p in $(cat /dataset/pids); do
	if kill -0 "$p" 2>/dev/null; then echo "signals $p"; else echo "cannot signal $p"; fi
done >/output/kill
echo "who ran"
SH
chown -R "$uid:$gid" "$W"
as_user enclave-seal keygen -o "$W/k.kek" >/dev/null
as_user enclave-seal seal --kek "$W/k.kek" -o "$W/who.sealed" "$W/app" 2>/dev/null

test_expect_success 'with /dev/fuse closed to users (0600), the mount says so and how to go on' '
	chmod 0600 /dev/fuse &&
	expect_exit 1 as_user enclave-fs -f --cache "$W/cache" --kek "$W/k.kek" "$MNT" &&
	sed "s/^/err: /" err &&
	grep -Fx "enclave-fs: error: FUSE is closed to this user: /dev/fuse is mode 0600 and fusermount3 opens it as the user; run enclave-fs as root, or chmod 0666 /dev/fuse as Debian'\''s udev rule does" err &&
	! mounted "$MNT"
'

# Debian's default from here on.
chmod 0666 /dev/fuse
# start_daemon's notification socket is root's: open it to the user, then
# become the user (the same pid all along).
start_daemon fs sh -c 'chmod 0666 "$NOTIFY_SOCKET" &&
	exec setpriv --reuid="$1" --regid="$2" --init-groups -- env HOME="$3" \
		enclave-fs -f -v --cache "$3/cache" --kek "$3/k.kek" "$4"' \
	sh "$uid" "$gid" "$W" "$MNT"
enclaved_pids=$(for p in $(descendants "$fs_pid"); do
	[ "$(cat "/proc/$p/comm" 2>/dev/null)" = enclaved ] && echo "$p"
done)

test_expect_success 'the user mounted it: enclave-fs and enclaved run as the user' '
	mounted "$MNT" &&
	test "$(stat -c %u "/proc/$fs_pid")" = "$uid" &&
	test -n "$enclaved_pids" &&
	for p in $enclaved_pids; do
		test "$(stat -c %u "/proc/$p")" = "$uid" || return 1
	done
'

test_expect_success 'enclaved is uid 0 of a user namespace that maps only the user' '
	p=$(echo $enclaved_pids | cut -d" " -f1) &&
	test "$(awk "{ print \$1, \$2, \$3 }" "/proc/$p/uid_map")" = "0 $uid 1" &&
	test "$(cat "/proc/$p/setgroups")" = deny &&
	as_user cat "$MNT/.status" >status.json &&
	grep -q "\"job_limits\"" status.json
'

test_expect_success 'cp of the package into encrypted/ succeeds (opened by the enclave)' '
	as_user cp "$W/who.sealed" "$MNT/encrypted/" &&
	as_user cmp "$W/who.sealed" "$MNT/encrypted/who.sealed"
'

test_expect_success 'a job runs, as a uid of its own without capabilities, and sees no process of the enclave' '
	echo "$fs_pid" $enclaved_pids >pids &&
	as_user cp pids "$MNT/dataset/pids" &&
	as_user sh -c "echo who.sealed >\"$MNT/.run\"" &&
	test "$(as_user cat "$MNT/.run")" = 1 &&
	wait_job fs 1 >/dev/null &&
	test "$(as_user cat "$MNT/jobs/1/exit")" = 0 &&
	as_user grep -x "who ran" "$MNT/jobs/1/log" &&
	as_user cat "$MNT/output/uid" >job.uid &&
	test "$(cat job.uid)" != 0 &&
	test "$(cat job.uid)" -ge 1000 &&
	as_user cat "$MNT/output/uid_map" | awk "{ print \$1, \$2, \$3 }" >job.map &&
	test "$(cat job.map)" = "$(cat job.uid) 0 1" &&
	as_user cat "$MNT/output/status" >job.status &&
	grep -Eq "^CapEff:[[:space:]]+0+$" job.status &&
	grep -Eq "^CapPrm:[[:space:]]+0+$" job.status &&
	grep -Eq "^NoNewPrivs:[[:space:]]+1$" job.status &&
	as_user cat "$MNT/output/kill" >job.kill &&
	test "$(wc -l <job.kill)" -eq "$(wc -w <pids)" &&
	! grep -v "^cannot signal " job.kill &&
	as_user cat "$MNT/output/proc" >job.proc &&
	for p in $(cat pids); do
		! grep -qx "$p" job.proc || return 1
	done
'

test_expect_success 'fusermount3 -u by the user ends the mount; enclaved of the user exits' '
	as_user fusermount3 -u "$MNT" &&
	! mounted "$MNT" &&
	wait_gone 30 $enclaved_pids
'
daemon_reap fs "$fs_pid" "fusermount3 -u" ""

# Without user namespaces: the sysctl, where this root may set it (it needs
# CAP_SYS_RESOURCE, which a container's root may lack); else a seccomp
# filter that refuses them, as container runtimes' default profiles do.
nouserns=
test_atexit "sysctl -qw user.max_user_namespaces=$ns_max 2>/dev/null"
if ! sysctl -qw user.max_user_namespaces=0 2>/dev/null; then
	say "cannot set user.max_user_namespaces: refusing user namespaces with seccomp (nouserns)"
	nouserns=nouserns
fi

test_expect_success 'without user namespaces the mount exits 1 with one line naming both ways out' '
	expect_exit 1 as_user $nouserns enclave-fs -f --cache "$W/cache" --kek "$W/k.kek" "$MNT" &&
	test "$(cat err)" = "enclave-fs: the development enclave needs root or unprivileged user namespaces, and this system allows no user namespace to user $U; run it as root (sudo enclave-fs ...) or connect to an enclave that runs elsewhere (--connect)" &&
	! mounted "$MNT"
'

test_expect_success 'and enclaved --dev as the user exits 1 saying the same' '
	expect_exit 1 as_user $nouserns enclaved --dev --listen "unix:$W/e.sock" --state "$W/estate" \
		--kek "$W/k.kek" &&
	grep -Fx "enclaved: the development enclave needs root or unprivileged user namespaces, and this system allows no user namespace to user $U; run it as root (sudo enclaved --dev ...) or run enclaved without --dev in an enclave (Nitro)" err &&
	test ! -e "$W/e.sock"
'

[ -n "$nouserns" ] || sysctl -qw user.max_user_namespaces="$ns_max"

test_expect_success 'user namespaces are allowed again as before' '
	test "$(sysctl -n user.max_user_namespaces)" = "$ns_max"
'

test_done
