# Helpers shared by the benchmark scripts (sourced). They expect $READYWAIT
# (tests/helpers/readywait) and keep the pids of what they start in $bg_pids.

say() {
	printf '# %s\n' "$*"
}

die() {
	echo "bench: $*" >&2
	exit 1
}

now_ns() {
	date +%s%N
}

# start_bg LOG COMMAND...: starts a daemon through readywait, waits for its
# READY=1 and sets bg_pid.
start_bg() {
	log=$1
	shift
	rm -f .ready
	mkfifo .ready
	"$READYWAIT" 3 60 -- "$@" >"$log" 2>&1 3>.ready &
	bg_pid=$!
	bg_pids="$bg_pids $bg_pid"
	status=
	read -r status <.ready || true
	rm -f .ready
	if [ "$status" != ready ]; then
		sed 's/^/  | /' "$log" >&2
		die "$1 did not become ready: ${status:-no status}"
	fi
}

# stop_bg PID [SIGNAL]: stops it (TERM unless told) and waits for it.
stop_bg() {
	[ $# -lt 2 ] || kill "-$2" "$1" 2>/dev/null || true
	wait "$1" || die "process $1 exited with status $?"
	new=
	for p in $bg_pids; do
		[ "$p" = "$1" ] || new="$new $p"
	done
	bg_pids=$new
}

# Peak RSS in KiB of a live process.
vmhwm() {
	sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$1/status"
}

# CPU seconds (user + system) a live process has used so far.
cpu_s() {
	sed 's/.*) //' "/proc/$1/stat" | awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($12 + $13) / hz }'
}

median() {
	tr ' ' '\n' | sed '/^$/d' | sort -g | awk '{ v[NR] = $1 } END {
		if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# spread: (max - min) / median, in percent
spread() {
	tr ' ' '\n' | sed '/^$/d' | sort -g | awk '{ v[NR] = $1 } END {
		m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		printf "%.0f", (m > 0 ? 100 * (v[NR] - v[1]) / m : 0) }'
}

size() { # size MIB: "1 GiB" or "256 MiB"
	if [ $(($1 % 1024)) = 0 ]; then echo "$(($1 / 1024)) GiB"; else echo "$1 MiB"; fi
}

calc() {
	awk "BEGIN { printf \"$1\", $2 }"
}
