#!/bin/sh
# The sync benchmark (make bench; not part of make check).
#
#   tests/bench/bench-sync.sh [BUILDDIR]     (default: $top_builddir)
#
# Measures enclave-sync over a unix socket, each figure against a baseline
# taken in the same run on the same file system:
#   1. 1 GiB of random data host -> empty enclave, against rawcopy (plain
#      read/write through a unix socket, tests/bench/rawcopy.c);
#   2. wire bytes for three small changes to a synced 256 MiB file, against
#      rsync --no-whole-file;
#   3. 10,000 files of 4 KiB into an empty enclave, against rsync -a;
#   4. peak RSS and CPU seconds of both sides while moving the 1 GiB file,
#      and the CPU seconds of rawcopy's two sides (on 2 cores, the sum of
#      the two sides' CPU bounds the time);
#   5. the attested session: connect-to-ready time (attestation + TLS
#      handshake + verdict, median of 20), and `openssl speed -evp
#      aes-256-gcm` beside figure 1 (every byte of 1 travels encrypted).
# Timed figures are the median of BENCH_RUNS runs (default 3; the runs of
# enclave-sync and of its baseline alternate). Scratch data (about 3 GiB) goes
# to a directory under $TMPDIR (default /tmp), removed at exit; KEEP_SCRATCH=1
# keeps it. MB is 10^6 bytes. Needs cc, rsync and /usr/bin/time.

BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
set -eu

B=${1:-${top_builddir:-}}
[ -n "$B" ] || { echo "usage: $0 BUILDDIR (or set top_builddir)" >&2; exit 2; }
B=$(cd "$B" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
ES=$B/enclave-sync
SEAL=$B/enclave-seal
READYWAIT=$B/tests/helpers/readywait
RUNS=${BENCH_RUNS:-3}
BIG_MIB=${BENCH_BIG_MIB:-1024}
DELTA_MIB=${BENCH_DELTA_MIB:-256}
NFILES=10000

for f in "$ES" "$READYWAIT"; do
	[ -x "$f" ] || { echo "bench: $f missing (make enclave-sync tests/helpers/readywait)" >&2; exit 2; }
done
if ! command -v rsync >/dev/null; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		apt-get install -y -q rsync >/dev/null
	else
		echo "bench: rsync missing" >&2
		exit 2
	fi
fi
[ -x /usr/bin/time ] || { echo "bench: /usr/bin/time missing (package time)" >&2; exit 2; }

W=$(mktemp -d "${TMPDIR:-/tmp}/bench-sync.XXXXXX")
bg_pids=
cleanup() {
	for p in $bg_pids; do
		if kill -TERM "$p" 2>/dev/null; then
			wait "$p" 2>/dev/null || true
		fi
	done
	if [ "${KEEP_SCRATCH:-}" = 1 ]; then
		echo "bench: scratch kept in $W" >&2
	else
		rm -rf "$W"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
cd "$W"

cc -O2 -o rawcopy "$HERE/rawcopy.c"
# Every connection runs the attested session: the listening side attests
# with a development root, the host trusts it.
"$SEAL" dev-root -o "$W/devroot" >/dev/null
LISTEN_OPTS="--dev-root $W/devroot"
CONNECT_OPTS="--trust-root $W/devroot/root.pem --key $W/host.key"
T_START=$(date +%s)

. "$BENCH_DIR/lib.sh"

stat_field() { # stat_field FILE LABEL: a number from enclave-sync --stats
	sed -n "s/^  $2: *\([0-9.]*\).*/\1/p" "$1"
}

rsync_field() { # rsync_field FILE LABEL: a number from rsync --stats
	sed -n "s/^$2: *\([0-9,]*\).*/\1/p" "$1" | tr -d ,
}

# once HOSTDIR STATSFILE: one timed enclave-sync --once pass to the daemon on
# ./es.sock; prints the wall time in seconds and leaves the host's peak RSS
# (KiB) in ./host.rss.
once() {
	t0=$(now_ns)
	/usr/bin/time -f '%M %U %S' -o host.rss "$ES" $CONNECT_OPTS --connect "unix:$W/es.sock" --once --stats "$1" 2>"$2" ||
		{ cat "$2" >&2; die "enclave-sync --once failed"; }
	t1=$(now_ns)
	calc %.6f "($t1 - $t0) / 1e9"
}

# --- 1 and 4: 1 GiB host -> enclave, against rawcopy --------------------------
say "generating ${BIG_MIB} MiB of random data"
BIG_BYTES=$((BIG_MIB * 1048576))
mkdir -p big/dataset
head -c "$BIG_BYTES" /dev/urandom >big/dataset/data
es_mbs='' raw_mbs='' host_rss=0 encl_rss=0 cpu_es_h='' cpu_es_e='' cpu_es_t='' cpu_es_s='' cpu_raw_s='' cpu_raw_r=
i=1
while [ "$i" -le "$RUNS" ]; do
	rm -rf enc1 raw.out
	mkdir enc1
	start_bg es.log "$ES" $LISTEN_OPTS --listen "unix:$W/es.sock" enc1
	pid=$bg_pid
	sync
	secs=$(once big stats1)
	[ "$(stat_field stats1 'files sent' | head -1)" = 1 ] || die "1 GiB: file not sent"
	rss=$(vmhwm "$pid")
	cpu_es_e="$cpu_es_e $(cpu_s "$pid")"
	cpu_es_t="$cpu_es_t $(stat_field stats1 'cpu s, engine')"
	cpu_es_s="$cpu_es_s $(stat_field stats1 'cpu s, scanner')"
	stop_bg "$pid" TERM
	[ "$i" -gt 1 ] || cmp big/dataset/data enc1/dataset/data || die "1 GiB: enclave copy differs"
	[ "$(stat -c %s enc1/dataset/data)" = "$BIG_BYTES" ] || die "1 GiB: enclave copy has the wrong size"
	mbs=$(calc %.1f "$BIG_BYTES / 1e6 / $secs")
	es_mbs="$es_mbs $mbs"
	[ "$rss" -le "$encl_rss" ] || encl_rss=$rss
	hr=$(tail -1 host.rss | cut -d' ' -f1)
	cpu_es_h="$cpu_es_h $(tail -1 host.rss | awk '{ print $2 + $3 }')"
	[ "$hr" -le "$host_rss" ] || host_rss=$hr
	rm -rf enc1

	start_bg raw.log ./rawcopy --listen "$W/raw.sock" raw.out
	pid=$bg_pid
	sync
	t0=$(now_ns)
	/usr/bin/time -f '%U %S' -o raw.cpu ./rawcopy --connect "$W/raw.sock" big/dataset/data
	t1=$(now_ns)
	stop_bg "$pid"
	cpu_raw_s="$cpu_raw_s $(tail -1 raw.cpu | awk '{ print $1 + $2 }')"
	cpu_raw_r="$cpu_raw_r $(awk '/^cpu / { print $2 + $3 }' raw.log)"
	[ "$i" -gt 1 ] || cmp big/dataset/data raw.out || die "rawcopy: copy differs"
	rmbs=$(calc %.1f "$BIG_BYTES / 1e6 / (($t1 - $t0) / 1e9)")
	raw_mbs="$raw_mbs $rmbs"
	rm -f raw.out
	say "run $i: enclave-sync $mbs MB/s (${secs}s; RSS host $hr KiB, enclave $rss KiB), rawcopy $rmbs MB/s"
	i=$((i + 1))
done
rm -rf big

# --- 2: small changes to a synced 256 MiB file, against rsync --------------------
say "generating ${DELTA_MIB} MiB of random data and syncing it"
DELTA_BYTES=$((DELTA_MIB * 1048576))
mkdir -p base/dataset
head -c "$DELTA_BYTES" /dev/urandom >base/dataset/data
mkdir encbase
start_bg es.log "$ES" $LISTEN_OPTS --listen "unix:$W/es.sock" encbase
pid=$bg_pid
secs=$(once base stats2)
stop_bg "$pid" TERM
cmp base/dataset/data encbase/dataset/data || die "base: enclave copy differs"
say "initial sync of ${DELTA_MIB} MiB: ${secs}s"

# change NAME: applies the change NAME to host/dataset/data
change() {
	f=host/dataset/data
	case "$1" in
	overwrite)
		off=$((DELTA_BYTES / 2))
		old=$(od -An -tu1 -j "$off" -N1 "$f" | tr -d ' ')
		# shellcheck disable=SC2059 # an octal escape made on purpose
		printf "\\$(printf %03o $(((old + 1) % 256)))" |
			dd of="$f" bs=1 seek="$off" conv=notrunc status=none
		;;
	insert)
		{ printf 'X'; cat base/dataset/data; } >"$f"
		;;
	append)
		head -c 1048576 /dev/urandom >>"$f"
		;;
	esac
}

delta_lines=
for c in overwrite insert append; do
	rm -rf host enc rdst
	mkdir -p host/dataset rdst
	cp base/dataset/data host/dataset/data
	change "$c"
	case $c in
	overwrite) [ "$(cmp -l base/dataset/data host/dataset/data | wc -l)" = 1 ] ;;
	*) ! cmp -s base/dataset/data host/dataset/data ;;
	esac || die "$c: the change was not made"
	cp -a --reflink=auto encbase enc
	start_bg es.log "$ES" $LISTEN_OPTS --listen "unix:$W/es.sock" enc
	pid=$bg_pid
	sync
	secs=$(once host stats2)
	stop_bg "$pid" TERM
	cmp host/dataset/data enc/dataset/data || die "$c: enclave copy differs"
	wire=$(($(stat_field stats2 'wire bytes sent') + $(stat_field stats2 'wire bytes received')))
	chunks=$(stat_field stats2 'chunks sent')

	cp -a --reflink=auto base/dataset/data rdst/data
	sync
	t0=$(now_ns)
	rsync --no-whole-file --ignore-times --stats -a host/dataset/ rdst/ >rsync.out
	t1=$(now_ns)
	cmp host/dataset/data rdst/data || die "$c: rsync copy differs"
	rwire=$(($(rsync_field rsync.out 'Total bytes sent') + $(rsync_field rsync.out 'Total bytes received')))
	rsecs=$(calc %.2f "($t1 - $t0) / 1e9")
	say "$c: enclave-sync $wire bytes, $chunks chunks, ${secs}s; rsync $rwire bytes, ${rsecs}s"
	case $c in
	overwrite) label="1-byte overwrite:" ;;
	insert) label="1-byte insert at 0:" ;;
	append) label="1 MiB append:" ;;
	esac
	delta_lines="$delta_lines$(printf '%-29s enclave-sync %8d bytes (%d chunks, %.2f s)   rsync %8d bytes (%.2f s)' \
		"$(size "$DELTA_MIB"), $label" "$wire" "$chunks" "$secs" "$rwire" "$rsecs")
"
done
rm -rf base host enc encbase rdst

# --- 3: 10,000 files of 4 KiB, against rsync -a --------------------------------------
say "generating $NFILES files of 4 KiB"
d=0
while [ "$d" -lt $((NFILES / 100)) ]; do
	mkdir -p "small/dataset/d$d"
	head -c $((100 * 4096)) /dev/urandom | split -b 4096 -a 2 -d - "small/dataset/d$d/f"
	d=$((d + 1))
done
[ "$(find small/dataset -type f | wc -l)" = "$NFILES" ] || die "small: wrong file count"
es_fps='' rs_fps=
i=1
while [ "$i" -le "$RUNS" ]; do
	# Each run gets fresh directories and nothing is deleted until the end:
	# on ext4 without a journal, creating inodes right after deleting many
	# in the same block group is slow (recently_deleted()), whoever does it.
	mkdir "enc3.$i" "rdst.$i"
	start_bg es.log "$ES" $LISTEN_OPTS --listen "unix:$W/es.sock" "enc3.$i"
	pid=$bg_pid
	sync
	secs=$(once small stats3)
	stop_bg "$pid" TERM
	[ "$(stat_field stats3 'files sent' | head -1)" = "$NFILES" ] || die "small: not all files sent"
	[ "$i" -gt 1 ] || diff -r small/dataset "enc3.$i/dataset" || die "small: enclave tree differs"
	fps=$(calc %.0f "$NFILES / $secs")
	es_fps="$es_fps $fps"

	sync
	t0=$(now_ns)
	rsync -a small/dataset/ "rdst.$i/"
	t1=$(now_ns)
	rfps=$(calc %.0f "$NFILES / (($t1 - $t0) / 1e9)")
	rs_fps="$rs_fps $rfps"
	say "run $i: enclave-sync $fps files/s (${secs}s), rsync -a $rfps files/s"
	i=$((i + 1))
done
rm -rf small enc3.* rdst.*

# --- 5: the session: connect to ready, median of 20; AES-256-GCM ---------------------
say "connect-to-ready, 20 connections"
mkdir -p empty enc5
start_bg es.log "$ES" $LISTEN_OPTS --listen "unix:$W/es.sock" enc5
pid=$bg_pid
sess_ms=
i=1
while [ "$i" -le 20 ]; do
	"$ES" $CONNECT_OPTS --connect "unix:$W/es.sock" --once --stats empty 2>stats5 ||
		{ cat stats5 >&2; die "enclave-sync --once (empty) failed"; }
	sess_ms="$sess_ms $(sed -n 's/^  session ms: *\([0-9.]*\).*/\1/p' stats5)"
	i=$((i + 1))
done
stop_bg "$pid" TERM
rm -rf empty enc5
say "openssl speed -evp aes-256-gcm (single thread, 16 KiB blocks)"
ossl=$(openssl speed -evp aes-256-gcm -bytes 16384 -seconds 3 2>/dev/null |
	awk '/^(AES-256-GCM|aes-256-gcm)/ { v = $NF; sub(/k$/, "", v); printf "%.0f", v * 1000 / 1e6 }')
[ -n "$ossl" ] || die "openssl speed printed no aes-256-gcm figure"

# --- report ---------------------------------------------------------------------------
es_m=$(echo "$es_mbs" | median)
raw_m=$(echo "$raw_mbs" | median)
esf_m=$(echo "$es_fps" | median)
rsf_m=$(echo "$rs_fps" | median)
T_END=$(date +%s)
echo
echo "enclave-fs sync benchmark ($(nproc) cores, $(date '+%Y-%m-%d %H:%M %Z'))"
printf '%-29s enclave-sync %6.0f MB/s   raw socket copy %6.0f MB/s   ratio %.2f   (session encrypted; openssl aes-256-gcm %s MB/s one thread)\n' \
	"$(size "$BIG_MIB") host->enclave:" "$es_m" "$raw_m" "$(calc %.4f "$es_m / $raw_m")" "$ossl"
printf '%s' "$delta_lines"
printf '%-29s enclave-sync %6.0f files/s   rsync -a %6.0f files/s   ratio %.2f\n' \
	"10,000 x 4 KiB:" "$esf_m" "$rsf_m" "$(calc %.4f "$esf_m / $rsf_m")"
printf '%-29s host %d MiB   enclave %d MiB\n' \
	"peak RSS ($(size "$BIG_MIB")):" $((host_rss / 1024)) $((encl_rss / 1024))
gib=$(calc %.6f "$BIG_BYTES / 1073741824")
per_gib() { calc %.4f "$(echo "$1" | median) / $gib"; }
printf '%-29s enclave-sync host %.2f (engine thread %.2f, scanner thread %.2f) + enclave %.2f   raw socket copy sender %.2f + receiver %.2f\n' \
	"CPU s per GiB (medians):" "$(per_gib "$cpu_es_h")" "$(per_gib "$cpu_es_t")" "$(per_gib "$cpu_es_s")" \
	"$(per_gib "$cpu_es_e")" "$(per_gib "$cpu_raw_s")" "$(per_gib "$cpu_raw_r")"
printf '%-29s median %.2f ms of 20 (min %s, max %s)\n' "connect-to-ready (session):" \
	"$(echo "$sess_ms" | median)" "$(echo "$sess_ms" | tr ' ' '\n' | sed '/^$/d' | sort -g | head -1)" \
	"$(echo "$sess_ms" | tr ' ' '\n' | sed '/^$/d' | sort -g | tail -1)"
printf 'runs (median of %d; spread = (max-min)/median): MB/s enclave-sync%s (%s%%), raw%s (%s%%);\n' \
	"$RUNS" "$es_mbs" "$(echo "$es_mbs" | spread)" "$raw_mbs" "$(echo "$raw_mbs" | spread)"
printf '  files/s enclave-sync%s (%s%%), rsync%s (%s%%); total %d s\n' \
	"$es_fps" "$(echo "$es_fps" | spread)" "$rs_fps" "$(echo "$rs_fps" | spread)" $((T_END - T_START))
