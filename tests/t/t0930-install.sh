#!/bin/sh
# make install DESTDIR=...: the programs, the man pages, the systemd units
# of contrib/nitro, and the docs with contrib/nitro and contrib/k8s under
# docdir (scripts executable) land where configure said; make uninstall
# takes every file away again (as make distcheck requires).
. "$top_srcdir/tests/lib.sh"

DEST=$SCRATCH/dest

# The make of the build tree, out of the reach of the make that runs this test.
bmake() {
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C "$top_builddir" "$@"
}

# dir VAR: an installation directory of the build, as make expands it.
dir() {
	printf 'include Makefile\nefs-print-%%:\n\t@echo $(%s)\n' "$1" |
		env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C "$top_builddir" -f - "efs-print-$1"
}

BINDIR=$(dir bindir) SBINDIR=$(dir sbindir) MANDIR=$(dir mandir) DOCDIR=$(dir docdir)
UNITDIR=$(dir systemdsystemunitdir)

test_expect_success 'the directories make reports are absolute' '
	for d in "$BINDIR" "$SBINDIR" "$MANDIR" "$DOCDIR" "$UNITDIR"; do
		case "$d" in /*) ;; *) echo "not a directory: $d" && exit 1 ;; esac
	done
'

test_expect_success 'make install DESTDIR: it succeeds' '
	bmake install DESTDIR="$DEST" >install.log 2>&1
'

test_expect_success 'the programs (enclaved, a daemon, in sbin) and the man pages' '
	for p in enclave-fs enclave-sync enclave-seal; do
		test -x "$DEST$BINDIR/$p" || exit 1
	done &&
	test -x "$DEST$SBINDIR/enclaved" &&
	test ! -e "$DEST$BINDIR/enclaved" &&
	for m in man1/enclave-fs.1 man1/enclave-seal.1 man1/enclave-sync.1 man8/enclaved.8; do
		test -s "$DEST$MANDIR/$m" || exit 1
	done
'

test_expect_success 'the docs, the license and the iris example under docdir' '
	for f in README.md COPYING PACKAGE.md PROTOCOL.md SECURITY.md NITRO.md EIF.md \
		examples/iris/README.md examples/iris/app/enclave.json examples/iris/app/train.py \
		examples/iris/data/iris.csv; do
		test -s "$DEST$DOCDIR/$f" || { echo "missing: $f" && exit 1; }
	done &&
	cmp "$top_srcdir/COPYING" "$DEST$DOCDIR/COPYING"
'

test_expect_success 'the installed enclave-fs starts the installed enclaved' '
	strings "$DEST$BINDIR/enclave-fs" | grep -x "$SBINDIR/enclaved"
'

test_expect_success 'the systemd units in the unit directory, as in the sources' '
	for u in enclave@.service vsock-proxy@.service enclave-fs@.service; do
		cmp "$top_srcdir/contrib/nitro/systemd/$u" "$DEST$UNITDIR/$u" || exit 1
	done
'

test_expect_success 'contrib/nitro and contrib/k8s under docdir; build-eif and run-job executable' '
	for f in contrib/nitro/README.md contrib/nitro/Dockerfile contrib/nitro/allocator.yaml \
		contrib/nitro/vsock-proxy.yaml contrib/nitro/systemd/example.conf \
		contrib/k8s/README.md contrib/k8s/serviceaccount.yaml contrib/k8s/vsock-proxy-daemonset.yaml \
		contrib/k8s/job.yaml contrib/k8s/seccomp-allow-vsock.json contrib/k8s/Dockerfile.host; do
		cmp "$top_srcdir/$f" "$DEST$DOCDIR/$f" || exit 1
	done &&
	for f in contrib/nitro/build-eif contrib/k8s/run-job; do
		test -x "$DEST$DOCDIR/$f" && cmp "$top_srcdir/$f" "$DEST$DOCDIR/$f" || exit 1
	done &&
	test -s "$DEST$DOCDIR/NITRO.md" &&
	test -s "$DEST$DOCDIR/examples/iris/app/enclave.json"
'

test_expect_success 'every contrib/nitro and contrib/k8s file of the sources is installed' '
	(cd "$top_srcdir" && find contrib/nitro contrib/k8s -type f) | sort >src.list &&
	test -s src.list &&
	while read -r f; do
		case "$f" in
		contrib/nitro/systemd/*.service) test -f "$DEST$UNITDIR/${f##*/}" ;;
		*) test -f "$DEST$DOCDIR/$f" ;;
		esac || { echo "not installed: $f" && exit 1; }
	done <src.list
'

test_expect_success 'make uninstall DESTDIR: no file is left' '
	bmake uninstall DESTDIR="$DEST" >uninstall.log 2>&1 &&
	find "$DEST" -type f >left.list &&
	test ! -s left.list
'

test_done
