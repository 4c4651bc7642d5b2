#!/bin/sh
# The mount benchmark (make bench; not part of make check).
#
#   tests/bench/bench-fs.sh [BUILDDIR]     (default: $top_builddir)
#
# Measures an enclave-fs mount (with its development enclave), each figure
# against a baseline taken in the same run on the same file system:
#   1. sequential write of 1 GiB into MNT/dataset/ with `dd bs=1M` (no fsync;
#      the time includes close, which only queues the file for the enclave),
#      against the same dd into a directory beside the cache; sequential read
#      of that file through MNT/dataset/ with `dd bs=1M`, against reading the
#      same file in the cache directly; page cache dropped before each;
#   2. end to end: `cp` of 1 GiB into MNT/dataset/ then a .run write (it
#      returns once the file is in the enclave; the job is /bin/true),
#      against `enclave-sync --once` of the same file into a standalone
#      `enclaved --dev`;
#   3. untar of 20,000 files of 4 KiB (100 dirs) into MNT/dataset/, against
#      untar into a directory beside the cache, then a .run barrier; then
#      `ls -lR` of the 20,000 files through the mount against the same files
#      in the cache (both warm);
#   4. peak RSS (VmHWM) of enclave-fs and of its development enclave.
# Timed figures are the median of BENCH_RUNS runs (default 3; the mount and
# its baseline alternate). The source data (1 GiB and a 90 MB tarball) sits
# in a tmpfs (/dev/shm, else $TMPDIR) so reading it costs the same for both
# sides. The cache, the baselines and the enclaves' state go to a directory
# under $TMPDIR (default /tmp), removed at exit (KEEP_SCRATCH=1 keeps it):
# about 3 GiB. MB is 10^6 bytes. Needs root (drop_caches, FUSE), /dev/fuse,
# fusermount3 and tar.

BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
set -eu

B=${1:-${top_builddir:-}}
[ -n "$B" ] || { echo "usage: $0 BUILDDIR (or set top_builddir)" >&2; exit 2; }
B=$(cd "$B" && pwd)
READYWAIT=$B/tests/helpers/readywait
RUNS=${BENCH_RUNS:-3}
BIG_MIB=${BENCH_BIG_MIB:-1024}
NFILES=${BENCH_NFILES:-20000} # a multiple of 100, at most 100,000
NDIRS=100

for f in enclave-fs enclaved enclave-seal enclave-sync tests/helpers/readywait; do
	[ -x "$B/$f" ] || { echo "bench: $B/$f missing (make first)" >&2; exit 2; }
done
[ "$(id -u)" = 0 ] || { echo "bench: needs root (drop_caches, the development enclave)" >&2; exit 2; }
if ! [ -c /dev/fuse ] || ! [ -w /dev/fuse ]; then
	echo "bench: needs /dev/fuse" >&2
	exit 2
fi
for t in fusermount3 mountpoint tar; do
	command -v "$t" >/dev/null || { echo "bench: $t missing" >&2; exit 2; }
done

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
bg_pids=
cleanup() {
	# Not mountpoint -q: it fails on a mount whose daemon died.
	if [ -d "$MNT" ]; then
		fusermount3 -u "$MNT" 2>/dev/null || fusermount3 -u -z "$MNT" 2>/dev/null || true
	fi
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

# --- setup ------------------------------------------------------------------------------
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

# --- 1: sequential write and read of 1 GiB ----------------------------------------------
say "1: sequential write and read of $(size "$BIG_MIB")"
wm='' wn='' rm_='' rc=''
i=1
while [ "$i" -le "$RUNS" ]; do
	drop_caches
	t0=$(now_ns)
	dd if="$BIG" of="$MNT/dataset/w.$i" bs=1M status=none
	t1=$(now_ns)
	s_wm=$(secs "$t0" "$t1")
	barrier # the enclave has it: no background sync during what follows
	[ "$i" -gt 1 ] || cmp "$BIG" "$ENC/dataset/w.$i" || die "write: the enclave's copy differs"

	drop_caches
	t0=$(now_ns)
	dd if="$BIG" of="$NATIVE/w.$i" bs=1M status=none
	t1=$(now_ns)
	s_wn=$(secs "$t0" "$t1")

	drop_caches
	t0=$(now_ns)
	dd if="$MNT/dataset/w.$i" of=/dev/null bs=1M status=none
	t1=$(now_ns)
	s_rm=$(secs "$t0" "$t1")

	drop_caches
	t0=$(now_ns)
	dd if="$CACHE/dataset/w.$i" of=/dev/null bs=1M status=none
	t1=$(now_ns)
	s_rc=$(secs "$t0" "$t1")

	rm -f "$MNT/dataset/w.$i" "$NATIVE/w.$i"
	barrier
	wm="$wm $(calc %.0f "$BIG_BYTES / 1e6 / $s_wm")"
	wn="$wn $(calc %.0f "$BIG_BYTES / 1e6 / $s_wn")"
	rm_="$rm_ $(calc %.0f "$BIG_BYTES / 1e6 / $s_rm")"
	rc="$rc $(calc %.0f "$BIG_BYTES / 1e6 / $s_rc")"
	say "run $i: write mount ${s_wm}s native ${s_wn}s; read mount ${s_rm}s cache ${s_rc}s"
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
um='' un='' ub=''
i=1
while [ "$i" -le "$RUNS" ]; do
	# Fresh directories each run, nothing deleted until the end (see
	# bench-sync.sh: creating inodes right after deleting many is slow).
	mkdir "$MNT/dataset/u.$i" "$NATIVE/u.$i"
	drop_caches
	t0=$(now_ns)
	tar xf "$TAR" -C "$MNT/dataset/u.$i"
	t1=$(now_ns)
	s_um=$(secs "$t0" "$t1")
	t0=$(now_ns)
	barrier
	t1=$(now_ns)
	s_ub=$(secs "$t0" "$t1")
	[ "$i" -gt 1 ] || [ "$(find "$ENC/dataset/u.$i" -type f | wc -l)" = "$NFILES" ] ||
		die "untar: the enclave did not get all files"

	drop_caches
	t0=$(now_ns)
	tar xf "$TAR" -C "$NATIVE/u.$i"
	t1=$(now_ns)
	s_un=$(secs "$t0" "$t1")

	um="$um $(calc %.0f "$NFILES / $s_um")"
	un="$un $(calc %.0f "$NFILES / $s_un")"
	ub="$ub $s_ub"
	say "run $i: untar mount ${s_um}s native ${s_un}s; .run barrier ${s_ub}s"
	i=$((i + 1))
done

say "3: ls -lR of $NFILES files (warm)"
lm='' lc=''
u=u.$RUNS
ls -lR "$CACHE/dataset/$u" >/dev/null # warm
i=1
while [ "$i" -le "$RUNS" ]; do
	t0=$(now_ns)
	ls -lR "$MNT/dataset/$u" >ls.mnt
	t1=$(now_ns)
	s_lm=$(secs "$t0" "$t1")
	t0=$(now_ns)
	ls -lR "$CACHE/dataset/$u" >ls.cache
	t1=$(now_ns)
	s_lc=$(secs "$t0" "$t1")
	[ "$i" -gt 1 ] || [ "$(grep -c '^-' ls.mnt)" = "$NFILES" ] || die "ls -lR: wrong file count"
	lm="$lm $s_lm"
	lc="$lc $s_lc"
	say "run $i: ls -lR mount ${s_lm}s cache ${s_lc}s"
	i=$((i + 1))
done

# --- 4: peak RSS -------------------------------------------------------------------------------
fs_rss=$(vmhwm "$FS_PID")
dev_pid=$(pgrep -P "$FS_PID" -x enclaved | head -1 || true)
dev_rss=$([ -n "$dev_pid" ] && vmhwm "$dev_pid" || echo 0)
fusermount3 -u "$MNT"
stop_bg "$FS_PID"

# --- report -----------------------------------------------------------------------------------
wm_m=$(echo "$wm" | median)
wn_m=$(echo "$wn" | median)
rm_m=$(echo "$rm_" | median)
rc_m=$(echo "$rc" | median)
em_m=$(echo "$em" | median)
es_m=$(echo "$es" | median)
um_m=$(echo "$um" | median)
un_m=$(echo "$un" | median)
ub_m=$(echo "$ub" | median)
lm_m=$(echo "$lm" | median)
lc_m=$(echo "$lc" | median)
T_END=$(date +%s)
sz=$(size "$BIG_MIB")
echo
echo "enclave-fs mount benchmark ($(nproc) cores, $(date '+%Y-%m-%d %H:%M %Z'); TMPDIR $(dirname "$W"))"
line() { # line LABEL MOUNT BASELINE-NAME BASELINE RATIO
	printf '%-36s mount %-14s %-20s %-14s ratio %.2f\n' "$1" "$2" "$3" "$4" "$5"
}
line "$sz write (dd bs=1M, no fsync):" "$wm_m MB/s" "native dir" "$wn_m MB/s" "$(calc %.4f "$wm_m / $wn_m")"
line "$sz read (dd bs=1M, cold):" "$rm_m MB/s" "cache file" "$rc_m MB/s" "$(calc %.4f "$rm_m / $rc_m")"
line "$sz cp + .run, into the enclave:" "$em_m MB/s" "enclave-sync --once" "$es_m MB/s" "$(calc %.4f "$em_m / $es_m")"
line "$NFILES x 4 KiB, tar xf:" "$um_m files/s" "native dir" "$un_m files/s" "$(calc %.4f "$um_m / $un_m")"
printf '%-36s %s s\n' "  then a .run barrier:" "$ub_m"
line "ls -lR of them (warm):" "$lm_m s" "cache dir" "$lc_m s" "$(calc %.4f "$lc_m / $lm_m")"
printf '%-36s enclave-fs %d MiB, its development enclave %d MiB\n' \
	"peak RSS (VmHWM):" $((fs_rss / 1024)) $((dev_rss / 1024))
printf '(ratios: mount / baseline for rates, baseline / mount for times: 1 = as fast)\n'
printf 'runs (median of %d; spread = (max-min)/median):\n' "$RUNS"
printf '  write MB/s mount%s (%s%%), native%s (%s%%); read MB/s mount%s (%s%%), cache%s (%s%%)\n' \
	"$wm" "$(echo "$wm" | spread)" "$wn" "$(echo "$wn" | spread)" \
	"$rm_" "$(echo "$rm_" | spread)" "$rc" "$(echo "$rc" | spread)"
printf '  into the enclave MB/s mount%s (%s%%), enclave-sync%s (%s%%); mount s cp+.run%s\n' \
	"$em" "$(echo "$em" | spread)" "$es" "$(echo "$es" | spread)" "$cpb"
printf '  untar files/s mount%s (%s%%), native%s (%s%%); barrier s%s\n' \
	"$um" "$(echo "$um" | spread)" "$un" "$(echo "$un" | spread)" "$ub"
printf '  ls -lR s mount%s (%s%%), cache%s (%s%%); total %d s\n' \
	"$lm" "$(echo "$lm" | spread)" "$lc" "$(echo "$lc" | spread)" $((T_END - T_START))
