#!/bin/sh
# Every fuzz harness replays its seed corpus (and a batch of random inputs)
# without crashing; the sanitizer build turns any overrun into a failure.
. "$top_srcdir/tests/lib.sh"

for t in $FUZZ_TARGETS; do
	test_expect_success "fuzz_$t replays its corpus" "
		fuzz_bin=\"$top_builddir/tests/fuzz/fuzz_$t\" &&
		test -x \"\$fuzz_bin\" &&
		\"\$fuzz_bin\" \"$top_srcdir\"/tests/fuzz/corpus/$t/* >out &&
		grep -q 'inputs replayed' out
	"
	test_expect_success "fuzz_$t survives 200 random inputs" "
		mkdir -p rand_$t &&
		i=0 && while [ \$i -lt 200 ]; do
			head -c \$((i * 7 % 1500 + 1)) /dev/urandom >rand_$t/\$i && i=\$((i + 1)) || exit 1;
		done &&
		\"$top_builddir/tests/fuzz/fuzz_$t\" rand_$t/* >out &&
		grep -q '200 inputs replayed' out
	"
done

test_done
