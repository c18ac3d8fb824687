#!/bin/sh
# build-deb.sh OUTDIR: builds the Debian package (debian/) from a copy of
# the source tree, so the tree gets no build products, and leaves the .deb
# in OUTDIR. The copy holds what git tracks plus new files not ignored.
#   make deb          -> build/deb/xen-netfabric_<version>_<arch>.deb, and
#                        xen-netfabric-dpswitch_<version>_<arch>.deb where DPDK is
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
out=${1:?usage: build-deb.sh OUTDIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/src"
(cd "$src" && git ls-files -z --cached --others --exclude-standard |
	xargs -0 sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh |
	tar --null -T - -cf - | tar -xf - -C "$tmp/src")
# noddebs: no -dbgsym package; nocheck: the suites run from `make check`.
(cd "$tmp/src" && DEB_BUILD_OPTIONS="noddebs nocheck parallel=2 ${DEB_BUILD_OPTIONS:-}" \
	dpkg-buildpackage -b -us -uc >"$tmp/build.log" 2>&1) || {
	tail -n 40 "$tmp/build.log" >&2
	echo "build-deb.sh: dpkg-buildpackage failed" >&2
	exit 1
}
rm -f "$out"/xen-netfabric_*.deb "$out"/xen-netfabric-dpswitch_*.deb
for f in "$tmp"/xen-netfabric_*.deb "$tmp"/xen-netfabric-dpswitch_*.deb; do
	if [ -e "$f" ]; then cp "$f" "$out/"; fi
done
ls "$out"/xen-netfabric*_*.deb
