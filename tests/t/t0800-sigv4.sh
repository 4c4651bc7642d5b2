#!/bin/sh
# SigV4 (kms/sigv4.c) on the shared suite of 32 cases (tests/fixtures/sigv4):
# for each case the canonical request, the string to sign, the signature and
# the signed request that sigv4case prints are compared with the case's
# header-*.txt files. One test per case; a missing case folder fails.
. "$top_srcdir/tests/lib.sh"

FX=$top_srcdir/tests/fixtures/sigv4
CASES="get-header-key-duplicate get-header-value-order get-header-value-trim
get-relative-normalized get-relative-relative-normalized get-relative-unnormalized
get-slash-dot-slash-normalized get-slash-normalized get-slash-pointless-dot-normalized
get-slash-pointless-dot-unnormalized get-slash-unnormalized get-slashes-normalized
get-slashes-unnormalized get-space-normalized get-space-unnormalized get-unreserved
get-utf8 get-vanilla get-vanilla-empty-query-key get-vanilla-query
get-vanilla-query-order-encoded get-vanilla-query-order-key-case
get-vanilla-query-unreserved get-vanilla-with-session-token post-header-key-case
post-header-key-sort post-header-value-case post-sts-header-before post-vanilla
post-vanilla-empty-query-value post-vanilla-query post-x-www-form-urlencoded"

# section NAME: the lines of one section of ./out
section() {
	awk -v s="== $1" '$0 == s { on = 1; next } /^== / { on = 0 } on' out
}

# expected FILE: the file with a final newline added when it has none
expected() {
	cat "$1" &&
	if [ -n "$(tail -c1 "$1")" ]; then echo; fi
}

test_expect_success 'the suite holds exactly the 32 cases' '
	test "$(echo $CASES | wc -w)" -eq 32 &&
	test "$(ls "$FX" | grep -cv "^README.md$")" -eq 32
'

for c in $CASES; do
	test_expect_success "case $c" '
		for f in context.json request.txt header-canonical-request.txt \
			header-string-to-sign.txt header-signature.txt header-signed-request.txt; do
			test -f "$FX/$c/$f" || { echo "missing $FX/$c/$f"; exit 1; }
		done &&
		sigv4case "$FX/$c" >out &&
		for s in canonical-request string-to-sign signature signed-request; do
			section $s >got &&
			expected "$FX/$c/header-$s.txt" >want &&
			diff -u want got || exit 1
		done
	'
done

test_expect_success 'a wrong expectation is caught (the comparison can fail)' '
	sigv4case "$FX/get-vanilla" >out &&
	section signature >got &&
	expected "$FX/post-vanilla/header-signature.txt" >want &&
	! diff -q want got
'

test_done
