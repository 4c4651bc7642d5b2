#!/bin/sh
# The mount benchmark (make bench; not part of make check).
#
#   tests/bench/bench-fs.sh [BUILDDIR]     (default: $top_builddir)
#
# Measures an enclave-fs mount (with its development enclave). Each mount
# figure is set against passthrough (tests/bench/passthrough.c, built here),
# a FUSE file system that forwards each request to a directory beside the
# cache and does nothing else, mounted in the same run: the ratio
# enclave-fs / passthrough is what enclave-fs costs over FUSE itself, and
# holds up when the machine is busy. Figures without FUSE (native) are
# printed too, for context.
#   1. sequential write of 1 GiB into MNT/dataset/ with `dd bs=1M` (no fsync;
#      the time includes close, which only queues the file for the enclave),
#      against the same dd through passthrough and into a plain directory;
#      sequential read of that file through MNT/dataset/ with `dd bs=1M`,
#      against passthrough and the file in the cache; page cache dropped
#      before each;
#   2. end to end: `cp` of 1 GiB into MNT/dataset/ then a .run write (it
#      returns once the file is in the enclave; the job is /bin/true),
#      against `enclave-sync --once` of the same file into a standalone
#      `enclaved --dev`;
#   3. untar of 20,000 files of 4 KiB (100 dirs) into MNT/dataset/, against
#      passthrough and a plain directory, then a .run barrier, then one
#      file removed and a .run barrier again (the removal makes that
#      barrier check the whole tree against the enclave's); then `ls -lR`
#      of the 20,000 files, cold (page, dentry and inode caches dropped) and
#      warm, through the mount, through passthrough and in the cache;
#   4. `git status` (warm) in a committed tree of 5,000 of those files in
#      MNT/dataset/, through passthrough and in a plain directory;
#   5. FUSE requests per file of the untar, of ls -lR (cold and warm) and of
#      git status, for both mounts, counted from the kernel's
#      fuse:fuse_request_send tracepoint in a tracing instance of this run's
#      own, in separate untimed runs (n/a without tracefs or the event);
#   6. peak RSS (VmHWM) of enclave-fs, of its development enclave and of
#      passthrough.
# Timed figures are the median of BENCH_RUNS runs (default 3); in each run
# the sides take turns, in reverse order every other run. A summary table
# ends the report: each figure, its passthrough baseline, their ratio and
# the ratio aimed at. BENCH_BIG_MIB, BENCH_NFILES and BENCH_GIT_FILES scale
# the data down for a quick run. The source data (1 GiB and a 90 MB tarball)
# sits in a tmpfs (/dev/shm, else $TMPDIR) so reading it costs the same for
# all sides. The cache, the baselines and the enclaves' state go to a
# directory under $TMPDIR (default /tmp), removed at exit (KEEP_SCRATCH=1
# keeps it): about 3 GiB. MB is 10^6 bytes. Needs root (drop_caches, FUSE,
# tracefs), /dev/fuse, fusermount3, tar, git, cc and libfuse3's headers
# (pkg-config fuse3).

BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
set -eu

B=${1:-${top_builddir:-}}
[ -n "$B" ] || { echo "usage: $0 BUILDDIR (or set top_builddir)" >&2; exit 2; }
B=$(cd "$B" && pwd)
READYWAIT=$B/tests/helpers/readywait
RUNS=${BENCH_RUNS:-3}
BIG_MIB=${BENCH_BIG_MIB:-1024}
NFILES=${BENCH_NFILES:-20000} # a multiple of 100, at most 100,000
GIT_FILES=${BENCH_GIT_FILES:-5000}
NDIRS=100
PT_TIMEOUT=86400 # passthrough's entry and attribute timeouts (its default)

for f in enclave-fs enclaved enclave-seal enclave-sync tests/helpers/readywait; do
	[ -x "$B/$f" ] || { echo "bench: $B/$f missing (make first)" >&2; exit 2; }
done
[ "$(id -u)" = 0 ] || { echo "bench: needs root (drop_caches, the development enclave)" >&2; exit 2; }
if ! [ -c /dev/fuse ] || ! [ -w /dev/fuse ]; then
	echo "bench: needs /dev/fuse" >&2
	exit 2
fi
for t in fusermount3 mountpoint tar git cc pkg-config; do
	command -v "$t" >/dev/null || { echo "bench: $t missing" >&2; exit 2; }
done
pkg-config --exists fuse3 || { echo "bench: libfuse3's headers missing (pkg-config fuse3)" >&2; exit 2; }

W=$(mktemp -d "${TMPDIR:-/tmp}/bench-fs.XXXXXX")
# The source data: a tmpfs if it has room for it.
S=
need_kib=$((BIG_MIB * 1024 + NFILES * 5 + 262144))
if [ "$(stat -f -c %T /dev/shm 2>/dev/null)" = tmpfs ] &&
	[ "$(df -Pk /dev/shm | awk 'NR == 2 { print $4 }')" -gt "$need_kib" ]; then
	S=$(mktemp -d /dev/shm/bench-fs.XXXXXX)
else
	mkdir "$W/src"
	S=$W/src
fi
MNT=$W/mnt
CACHE=$W/cache
NATIVE=$W/native
PMNT=$W/pmnt # passthrough of PSRC, beside the cache
PSRC=$W/psrc
TRACE= # this run's tracing instance, if any
bg_pids=
cleanup() {
	if [ -n "$TRACE" ]; then
		echo 0 >"$TRACE/events/fuse/fuse_request_send/enable" 2>/dev/null || true
		rmdir "$TRACE" 2>/dev/null || true
	fi
	# Not mountpoint -q: it fails on a mount whose daemon died.
	for m in "$MNT" "$PMNT"; do
		if [ -d "$m" ]; then
			fusermount3 -u "$m" 2>/dev/null || fusermount3 -u -z "$m" 2>/dev/null || true
		fi
	done
	for p in $bg_pids; do
		if kill -TERM "$p" 2>/dev/null; then
			wait "$p" 2>/dev/null || true
		fi
	done
	if [ "${KEEP_SCRATCH:-}" = 1 ]; then
		echo "bench: scratch kept in $W and $S" >&2
	else
		rm -rf "$W" "$S"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
cd "$W"
T_START=$(date +%s)

. "$BENCH_DIR/lib.sh"

secs() { # secs T0 T1 (ns)
	calc %.3f "($2 - $1) / 1e9"
}

# Every timed step starts with no dirty data and an empty page cache (the
# sources are in a tmpfs and stay), so earlier steps' writeback and cached
# pages weigh on neither side.
drop_caches() {
	sync
	echo 3 >/proc/sys/vm/drop_caches
}

# A .run write: returns once everything written before it is in the enclave
# and the job (/bin/true) has started.
barrier() {
	echo 'bench.sealed true' >"$MNT/.run" || die ".run write failed (log: $W/fs.log)"
}

# timeit COMMAND...: runs it; $s is the seconds it took.
timeit() {
	t0=$(now_ns)
	"$@"
	t1=$(now_ns)
	s=$(secs "$t0" "$t1")
}

# in_turn RUN FUNCTION...: calls the functions in this order in odd runs and
# in reverse in even runs, so that no side always comes first.
in_turn() {
	if [ $(($1 % 2)) = 1 ]; then
		shift
		for f in "$@"; do "$f"; done
	else
		shift
		rev=
		for f in "$@"; do rev="$f $rev"; done
		for f in $rev; do "$f"; done
	fi
}

# The kernel's FUSE requests, from the fuse:fuse_request_send tracepoint in
# a tracing instance of this run's own (other users' tracing is left alone):
# each counted command is one untimed run. The buffer is sized so that
# nothing is overwritten; if something is, the count says so.
trace_setup() {
	tr=/sys/kernel/tracing
	[ -d "$tr/instances" ] || mount -t tracefs nodev "$tr" 2>/dev/null || return 0
	[ -d "$tr/events/fuse/fuse_request_send" ] || return 0
	mkdir "$tr/instances/bench-fs.$$" 2>/dev/null || return 0
	TRACE=$tr/instances/bench-fs.$$
	echo 32768 >"$TRACE/buffer_size_kb" || { rmdir "$TRACE"; TRACE=; }
}

# counted MOUNTPOINT FILES COMMAND...: runs COMMAND with the requests to
# that mount traced; $req is the requests per file and the most frequent
# opcodes per file, or "n/a (no fuse tracepoints)".
counted() {
	c_mnt=$1 c_files=$2
	shift 2
	if [ -z "$TRACE" ]; then
		"$@"
		req='n/a (no fuse tracepoints)'
		return 0
	fi
	# The connection is the mount's device number as the kernel packs it.
	c_dev=$(mountpoint -d "$c_mnt")
	ev=$TRACE/events/fuse/fuse_request_send
	echo "connection == $((${c_dev%%:*} * 1048576 + ${c_dev#*:}))" >"$ev/filter"
	: >"$TRACE/trace"
	echo 1 >"$ev/enable"
	"$@"
	echo 0 >"$ev/enable"
	req=$(awk -v files="$c_files" '
		/^# entries-in-buffer/ { split($3, e, "/"); lost = e[2] - e[1] }
		/fuse_request_send:/ && match($0, /\(FUSE_[A-Z0-9_]+\)/) {
			n[substr($0, RSTART + 6, RLENGTH - 7)]++
			total++
		}
		END {
			out = sprintf("%.2f/file:", total / files)
			for (k = 0; k < 5; k++) {
				best = ""
				for (op in n)
					if (best == "" || n[op] > n[best]) best = op
				if (best == "" || n[best] / files < 0.005) break
				out = out sprintf(" %s %.2f", best, n[best] / files)
				delete n[best]
			}
			if (lost > 0) out = out sprintf(" (%d requests not counted: buffer full)", lost)
			print out
		}' "$TRACE/trace")
	: >"$TRACE/trace"
}

# Everything git reads of its configuration is here: no system or user
# files, no automatic gc, and the trees (made by root) are safe to use.
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_COUNT=2 \
	GIT_CONFIG_KEY_0=safe.directory GIT_CONFIG_VALUE_0='*' \
	GIT_CONFIG_KEY_1=gc.auto GIT_CONFIG_VALUE_1=0 \
	GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@localhost \
	GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@localhost

# --- setup ------------------------------------------------------------------------------
say "building passthrough"
# shellcheck disable=SC2046 # pkg-config's flags are words
cc -O2 -Wall -Wextra -Werror $(pkg-config --cflags fuse3) -o passthrough \
	"$BENCH_DIR/passthrough.c" $(pkg-config --libs fuse3)
trace_setup

say "generating $(size "$BIG_MIB") of random data in $S"
BIG_BYTES=$((BIG_MIB * 1048576))
mkdir -p "$S/host/dataset"
head -c "$BIG_BYTES" /dev/urandom >"$S/host/dataset/big"
BIG=$S/host/dataset/big

say "generating $NFILES files of 4 KiB in $NDIRS dirs and a tarball of them"
per=$((NFILES / NDIRS))
mkdir "$S/small"
d=0
while [ "$d" -lt "$NDIRS" ]; do
	mkdir "$S/small/d$d"
	head -c $((per * 4096)) /dev/urandom | split -b 4096 -a 3 -d - "$S/small/d$d/f"
	d=$((d + 1))
done
[ "$(find "$S/small" -type f | wc -l)" = "$NFILES" ] || die "small: wrong file count"
(cd "$S/small" && tar cf "$S/small.tar" d*)
rm -rf "$S/small"
TAR=$S/small.tar

say "sealing a trivial app and mounting enclave-fs on $MNT"
mkdir app "$MNT" "$NATIVE"
printf '{"name":"bench","version":"1","entries":{"true":{"argv":["/bin/true"]}}}\n' >app/enclave.json
"$B/enclave-seal" keygen -o k.kek >/dev/null
"$B/enclave-seal" seal --kek k.kek -o bench.sealed app 2>/dev/null
start_bg fs.log "$B/enclave-fs" -f --cache "$CACHE" --kek "$W/k.kek" "$MNT"
FS_PID=$bg_pid
mountpoint -q "$MNT" || die "$MNT is not mounted"
cp bench.sealed "$MNT/encrypted/" || die "the package was refused (log: $W/fs.log)"
barrier
ENC=$CACHE/.enclave # the development enclave's state: what it received

say "mounting passthrough of $PSRC on $PMNT"
mkdir "$PSRC" "$PMNT"
start_bg pt.log ./passthrough --timeout "$PT_TIMEOUT" "$PSRC" "$PMNT"
PT_PID=$bg_pid
mountpoint -q "$PMNT" || die "$PMNT is not mounted"

# --- 1: sequential write and read of 1 GiB ----------------------------------------------
say "1: sequential write and read of $(size "$BIG_MIB")"
wm='' wp='' wn='' rm_='' rp='' rc=''
w_mount() {
	drop_caches
	timeit dd if="$BIG" of="$MNT/dataset/w.$i" bs=1M status=none
	s_wm=$s
	barrier # the enclave has it: no background sync during what follows
	[ "$i" -gt 1 ] || cmp "$BIG" "$ENC/dataset/w.$i" || die "write: the enclave's copy differs"
}
w_pt() {
	drop_caches
	timeit dd if="$BIG" of="$PMNT/w.$i" bs=1M status=none
	s_wp=$s
	[ "$i" -gt 1 ] || cmp "$BIG" "$PSRC/w.$i" || die "write: passthrough's copy differs"
}
w_native() {
	drop_caches
	timeit dd if="$BIG" of="$NATIVE/w.$i" bs=1M status=none
	s_wn=$s
}
r_mount() {
	drop_caches
	timeit dd if="$MNT/dataset/w.$i" of=/dev/null bs=1M status=none
	s_rm=$s
}
r_pt() {
	drop_caches
	timeit dd if="$PMNT/w.$i" of=/dev/null bs=1M status=none
	s_rp=$s
}
r_cache() {
	drop_caches
	timeit dd if="$CACHE/dataset/w.$i" of=/dev/null bs=1M status=none
	s_rc=$s
}
# Untimed, first: one write through each side. On this kind of VM the first
# touch of memory the guest never used is several times slower than later
# ones, and it would land on whichever side happened to run first.
for t in "$MNT/dataset/warm" "$PMNT/warm" "$NATIVE/warm"; do
	dd if="$BIG" of="$t" bs=1M status=none
	rm -f "$t"
done
barrier
i=1
while [ "$i" -le "$RUNS" ]; do
	in_turn "$i" w_mount w_pt w_native
	in_turn "$i" r_mount r_pt r_cache
	rm -f "$MNT/dataset/w.$i" "$PMNT/w.$i" "$NATIVE/w.$i"
	barrier
	wm="$wm $(calc %.0f "$BIG_BYTES / 1e6 / $s_wm")"
	wp="$wp $(calc %.0f "$BIG_BYTES / 1e6 / $s_wp")"
	wn="$wn $(calc %.0f "$BIG_BYTES / 1e6 / $s_wn")"
	rm_="$rm_ $(calc %.0f "$BIG_BYTES / 1e6 / $s_rm")"
	rp="$rp $(calc %.0f "$BIG_BYTES / 1e6 / $s_rp")"
	rc="$rc $(calc %.0f "$BIG_BYTES / 1e6 / $s_rc")"
	say "run $i: write mount ${s_wm}s passthrough ${s_wp}s native ${s_wn}s;" \
		"read mount ${s_rm}s passthrough ${s_rp}s cache ${s_rc}s"
	i=$((i + 1))
done

# --- 2: end to end: cp + .run, against enclave-sync --once into enclaved --dev -----------
say "2: cp of $(size "$BIG_MIB") + .run, against enclave-sync --once"
em='' es='' cpb=''
i=1
while [ "$i" -le "$RUNS" ]; do
	drop_caches
	t0=$(now_ns)
	cp "$BIG" "$MNT/dataset/e.$i"
	tc=$(now_ns)
	barrier
	t1=$(now_ns)
	s_em=$(secs "$t0" "$t1")
	s_cp=$(secs "$t0" "$tc")
	s_eb=$(secs "$tc" "$t1")
	[ "$i" -gt 1 ] || cmp "$BIG" "$ENC/dataset/e.$i" || die "cp: the enclave's copy differs"
	rm -f "$MNT/dataset/e.$i"
	barrier

	[ -d "$W/devroot" ] || "$B/enclave-seal" dev-root -o "$W/devroot" >/dev/null
	start_bg enclaved.log "$B/enclaved" --dev --dev-root "$W/devroot" --listen "unix:$W/ed.sock" \
		--state "$W/st.$i" --kek k.kek
	pid=$bg_pid
	drop_caches
	t0=$(now_ns)
	"$B/enclave-sync" --trust-root "$W/devroot/root.pem" --key "$W/host.key" \
		--connect "unix:$W/ed.sock" --once "$S/host" 2>es.err ||
		{ cat es.err >&2; die "enclave-sync --once failed"; }
	t1=$(now_ns)
	s_es=$(secs "$t0" "$t1")
	stop_bg "$pid" TERM
	[ "$i" -gt 1 ] || cmp "$BIG" "$W/st.$i/dataset/big" || die "enclave-sync: the enclave's copy differs"
	rm -rf "$W/st.$i"

	em="$em $(calc %.0f "$BIG_BYTES / 1e6 / $s_em")"
	es="$es $(calc %.0f "$BIG_BYTES / 1e6 / $s_es")"
	cpb="$cpb $s_cp+$s_eb"
	say "run $i: cp + .run ${s_em}s (cp ${s_cp}s), enclave-sync --once ${s_es}s"
	i=$((i + 1))
done

# --- 3: untar of many small files, a barrier, ls -lR -----------------------------------
say "3: untar of $NFILES files of 4 KiB"
um='' up='' un='' ub='' ur=''
u_mount() {
	echo x >"$MNT/dataset/gone.$i"
	drop_caches
	timeit tar xf "$TAR" -C "$MNT/dataset/u.$i"
	s_um=$s
	timeit barrier
	s_ub=$s
	[ "$i" -gt 1 ] || [ "$(find "$ENC/dataset/u.$i" -type f | wc -l)" = "$NFILES" ] ||
		die "untar: the enclave did not get all files"
	# After a removal the barrier first checks the host's whole tree
	# against the enclave's (SUMMARY_AGAIN: doc/PROTOCOL.md).
	rm "$MNT/dataset/gone.$i"
	timeit barrier
	s_ur=$s
	[ ! -e "$ENC/dataset/gone.$i" ] || die "untar: the removal did not reach the enclave"
}
u_pt() {
	drop_caches
	timeit tar xf "$TAR" -C "$PMNT/u.$i"
	s_up=$s
	[ "$i" -gt 1 ] || [ "$(find "$PSRC/u.$i" -type f | wc -l)" = "$NFILES" ] ||
		die "untar: passthrough did not write all files"
}
u_native() {
	drop_caches
	timeit tar xf "$TAR" -C "$NATIVE/u.$i"
	s_un=$s
}
i=1
while [ "$i" -le "$RUNS" ]; do
	# Fresh directories each run, nothing deleted until the end (see
	# bench-sync.sh: creating inodes right after deleting many is slow).
	mkdir "$MNT/dataset/u.$i" "$PMNT/u.$i" "$NATIVE/u.$i"
	in_turn "$i" u_mount u_pt u_native
	um="$um $(calc %.0f "$NFILES / $s_um")"
	up="$up $(calc %.0f "$NFILES / $s_up")"
	un="$un $(calc %.0f "$NFILES / $s_un")"
	ub="$ub $s_ub"
	ur="$ur $s_ur $((i * NFILES))"
	say "run $i: untar mount ${s_um}s passthrough ${s_up}s native ${s_un}s; .run barrier ${s_ub}s; after a removal ${s_ur}s"
	i=$((i + 1))
done
say "3: requests of an untar (untimed)"
mkdir "$MNT/dataset/t.u" "$PMNT/t.u"
drop_caches
counted "$MNT" "$NFILES" tar xf "$TAR" -C "$MNT/dataset/t.u"
q_um=$req
barrier
drop_caches
counted "$PMNT" "$NFILES" tar xf "$TAR" -C "$PMNT/t.u"
q_up=$req

# All sides list the same tree: the last run's.
u=u.$RUNS
l_mount() {
	timeit ls -lR "$MNT/dataset/$u" >ls.mnt
	s_lm=$s
	[ "$i" -gt 1 ] || [ "$(grep -c '^-' ls.mnt)" = "$NFILES" ] || die "ls -lR: wrong file count"
}
l_pt() {
	timeit ls -lR "$PMNT/$u" >ls.pt
	s_lp=$s
	[ "$i" -gt 1 ] || [ "$(grep -c '^-' ls.pt)" = "$NFILES" ] || die "ls -lR: wrong file count"
}
l_cache() {
	timeit ls -lR "$CACHE/dataset/$u" >ls.cache
	s_lc=$s
}
cold_mount() { drop_caches; l_mount; }
cold_pt() { drop_caches; l_pt; }
cold_cache() { drop_caches; l_cache; }

# ls_runs WHAT MOUNT PT CACHE: RUNS timed rounds of the three runners;
# their seconds, one per run, in r_m, r_p and r_c.
ls_runs() {
	r_m='' r_p='' r_c=''
	i=1
	while [ "$i" -le "$RUNS" ]; do
		in_turn "$i" "$2" "$3" "$4"
		r_m="$r_m $s_lm"
		r_p="$r_p $s_lp"
		r_c="$r_c $s_lc"
		say "run $i: ls -lR $1 mount ${s_lm}s passthrough ${s_lp}s cache ${s_lc}s"
		i=$((i + 1))
	done
}

say "3: ls -lR of $NFILES files, cold (caches dropped before each)"
ls_runs cold cold_mount cold_pt cold_cache
lcm=$r_m lcp=$r_p lcc=$r_c

say "3: ls -lR of $NFILES files, warm"
ls -lR "$MNT/dataset/$u" "$PMNT/$u" "$CACHE/dataset/$u" >/dev/null # warm
ls_runs warm l_mount l_pt l_cache
lm=$r_m lp=$r_p lc=$r_c
say "3: requests of ls -lR, cold and warm (untimed)"
drop_caches
counted "$MNT" "$NFILES" ls -lR "$MNT/dataset/$u" >/dev/null
q_lcm=$req
counted "$MNT" "$NFILES" ls -lR "$MNT/dataset/$u" >/dev/null
q_lm=$req
drop_caches
counted "$PMNT" "$NFILES" ls -lR "$PMNT/$u" >/dev/null
q_lcp=$req
counted "$PMNT" "$NFILES" ls -lR "$PMNT/$u" >/dev/null
q_lp=$req

# --- 4: git status ------------------------------------------------------------------------
# A committed tree of the tarball's first directories: GIT_FILES files, or
# all of them if fewer.
gdirs=$((GIT_FILES / per))
[ "$gdirs" -ge 1 ] || gdirs=1
[ "$gdirs" -le "$NDIRS" ] || gdirs=$NDIRS
GIT_N=$((gdirs * per))
say "4: git status in a committed tree of $GIT_N files"
git_tree() { # git_tree DIR
	G=$1
	mkdir "$G"
	d=0
	set --
	while [ "$d" -lt "$gdirs" ]; do
		set -- "$@" "d$d"
		d=$((d + 1))
	done
	tar xf "$TAR" -C "$G" "$@"
	git -C "$G" init -q
	git -C "$G" add -A
	git -C "$G" commit -q -m tree
	[ -z "$(git -C "$G" status --porcelain)" ] || die "git: $G is not clean after its commit"
}
git_tree "$MNT/dataset/git"
barrier
git_tree "$PMNT/git"
git_tree "$NATIVE/git"
g_mount() {
	timeit git -C "$MNT/dataset/git" status >/dev/null
	s_gm=$s
}
g_pt() {
	timeit git -C "$PMNT/git" status >/dev/null
	s_gp=$s
}
g_native() {
	timeit git -C "$NATIVE/git" status >/dev/null
	s_gn=$s
}
gm='' gp='' gn=''
i=1
g_mount # warm
g_pt
g_native
while [ "$i" -le "$RUNS" ]; do
	in_turn "$i" g_mount g_pt g_native
	gm="$gm $s_gm"
	gp="$gp $s_gp"
	gn="$gn $s_gn"
	say "run $i: git status mount ${s_gm}s passthrough ${s_gp}s native ${s_gn}s"
	i=$((i + 1))
done
say "4: requests of git status, warm (untimed)"
counted "$MNT" "$GIT_N" git -C "$MNT/dataset/git" status >/dev/null
q_gm=$req
counted "$PMNT" "$GIT_N" git -C "$PMNT/git" status >/dev/null
q_gp=$req

# --- 5: peak RSS -------------------------------------------------------------------------------
fs_rss=$(vmhwm "$FS_PID")
dev_pid=$(pgrep -P "$FS_PID" -x enclaved | head -1 || true)
dev_rss=$([ -n "$dev_pid" ] && vmhwm "$dev_pid" || echo 0)
pt_rss=$(vmhwm "$PT_PID")
fusermount3 -u "$MNT"
stop_bg "$FS_PID"
fusermount3 -u "$PMNT"
stop_bg "$PT_PID"

# --- report -----------------------------------------------------------------------------------
wm_m=$(echo "$wm" | median)
wp_m=$(echo "$wp" | median)
wn_m=$(echo "$wn" | median)
rm__m=$(echo "$rm_" | median)
rp_m=$(echo "$rp" | median)
rc_m=$(echo "$rc" | median)
em_m=$(echo "$em" | median)
es_m=$(echo "$es" | median)
um_m=$(echo "$um" | median)
up_m=$(echo "$up" | median)
un_m=$(echo "$un" | median)
ub_m=$(echo "$ub" | median)
lcm_m=$(echo "$lcm" | median)
lcp_m=$(echo "$lcp" | median)
lcc_m=$(echo "$lcc" | median)
lm_m=$(echo "$lm" | median)
lp_m=$(echo "$lp" | median)
lc_m=$(echo "$lc" | median)
gm_m=$(echo "$gm" | median)
gp_m=$(echo "$gp" | median)
gn_m=$(echo "$gn" | median)
T_END=$(date +%s)
sz=$(size "$BIG_MIB")
echo
echo "enclave-fs mount benchmark ($(nproc) cores, $(date '+%Y-%m-%d %H:%M %Z'); TMPDIR $(dirname "$W"))"
line() { # line LABEL MOUNT BASELINE-NAME BASELINE RATIO
	printf '%-36s mount %-14s %-20s %-14s ratio %.2f\n' "$1" "$2" "$3" "$4" "$5"
}
line "$sz write (dd bs=1M, no fsync):" "$wm_m MB/s" "native dir" "$wn_m MB/s" "$(calc %.4f "$wm_m / $wn_m")"
line "$sz read (dd bs=1M, cold):" "$rm__m MB/s" "cache file" "$rc_m MB/s" "$(calc %.4f "$rm__m / $rc_m")"
line "$sz cp + .run, into the enclave:" "$em_m MB/s" "enclave-sync --once" "$es_m MB/s" "$(calc %.4f "$em_m / $es_m")"
line "$NFILES x 4 KiB, tar xf:" "$um_m files/s" "native dir" "$un_m files/s" "$(calc %.4f "$um_m / $un_m")"
printf '%-36s %s s\n' "  then a .run barrier:" "$ub_m"
printf '%-36s %s s, dataset/ holding about %d files (the tree checked whole)\n' "  a .run after removing one file:" \
	"$(echo "$ur" | awk '{print $(NF-1)}')" "$(echo "$ur" | awk '{print $NF}')"
line "ls -lR of them (cold):" "$lcm_m s" "cache dir" "$lcc_m s" "$(calc %.4f "$lcc_m / $lcm_m")"
line "ls -lR of them (warm):" "$lm_m s" "cache dir" "$lc_m s" "$(calc %.4f "$lc_m / $lm_m")"
line "git status, $GIT_N files (warm):" "$gm_m s" "native dir" "$gn_m s" "$(calc %.4f "$gn_m / $gm_m")"
printf '%-36s enclave-fs %d MiB, its development enclave %d MiB, passthrough %d MiB\n' \
	"peak RSS (VmHWM):" $((fs_rss / 1024)) $((dev_rss / 1024)) $((pt_rss / 1024))
printf '(ratios: mount / baseline for rates, baseline / mount for times: 1 = as fast)\n'
printf 'FUSE requests per file (untimed runs; the most frequent opcodes per file):\n'
printf '  %-22s enclave-fs  %s\n  %-22s passthrough %s\n' \
	"tar xf:" "$q_um" "" "$q_up" \
	"ls -lR (cold):" "$q_lcm" "" "$q_lcp" \
	"ls -lR (warm):" "$q_lm" "" "$q_lp" \
	"git status (warm):" "$q_gm" "" "$q_gp"
printf 'runs (median of %d; spread = (max-min)/median):\n' "$RUNS"
runs() { # runs LABEL NAME RUNS [NAME RUNS...]: each side's runs and spread
	r_out="  $1"
	shift
	while [ $# -ge 2 ]; do
		r_v=$2
		r_out="$r_out $1$r_v ($(echo "$r_v" | spread)%)"
		[ $# -le 2 ] || r_out="$r_out,"
		shift 2
	done
	echo "$r_out"
}
runs "write MB/s:" mount "$wm" passthrough "$wp" native "$wn"
runs "read MB/s:" mount "$rm_" passthrough "$rp" cache "$rc"
printf '  into the enclave MB/s mount%s (%s%%), enclave-sync%s (%s%%); mount s cp+.run%s\n' \
	"$em" "$(echo "$em" | spread)" "$es" "$(echo "$es" | spread)" "$cpb"
runs "untar files/s:" mount "$um" passthrough "$up" native "$un"
printf '  .run barrier s%s\n' "$ub"
printf '  .run after one removal s (and the files then in dataset/):%s\n' "$ur"
runs "ls -lR cold s:" mount "$lcm" passthrough "$lcp" cache "$lcc"
runs "ls -lR warm s:" mount "$lm" passthrough "$lp" cache "$lc"
runs "git status s:" mount "$gm" passthrough "$gp" native "$gn"
printf '  total %d s\n' $((T_END - T_START))

echo
echo "summary: enclave-fs against passthrough (timeouts $PT_TIMEOUT s), same run, median of $RUNS"
row() { # row MEASURE EFS PT UNIT AIM rate|time
	if [ "$6" = rate ]; then ratio=$(calc %.2f "$2 / $3"); else ratio=$(calc %.2f "$3 / $2"); fi
	below=$(calc %d "$ratio < $5")
	printf '%-32s | %-14s | %-14s | %5s%s | %s\n' "$1" "$2 $4" "$3 $4" "$ratio" \
		"$([ "$below" = 1 ] && echo '*' || echo ' ')" ">= $5"
}
printf '%-32s | %-14s | %-14s | %-6s | %s\n' measure enclave-fs passthrough ratio aim
row "$sz write (dd bs=1M)" "$wm_m" "$wp_m" MB/s 0.9 rate
row "$sz read (dd bs=1M, cold)" "$rm__m" "$rp_m" MB/s 0.8 rate
row "$NFILES x 4 KiB, tar xf" "$um_m" "$up_m" files/s 0.7 rate
row "ls -lR, $NFILES files (cold)" "$lcm_m" "$lcp_m" s 0.8 time
row "ls -lR, $NFILES files (warm)" "$lm_m" "$lp_m" s 0.8 time
row "git status, $GIT_N files (warm)" "$gm_m" "$gp_m" s 0.8 time
echo "(ratio: enclave-fs speed / passthrough speed, 1 = as fast; * below the aim)"
