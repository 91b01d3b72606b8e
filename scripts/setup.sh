#!/usr/bin/env bash
# Install everything cryo needs to build, run and test on Debian 12, idempotently.
#
# - Debian packages come from the machine's own (bookworm) sources.
# - CRIU: bookworm's 3.17 cannot run on recent kernels, so we fetch CRIU
#   4.1.1's *source* through apt (a deb-src entry for trixie; never a binary
#   entry, which would upgrade libc), apply every patch in patches/criu/ (in
#   name order), build it and install criu and libcriu under /usr/local.
#   The build is named after the patch set: `criu --version` says
#   "GitID: cryo-<id>", where <id> hashes the CRIU version, the build
#   settings and every patch's name and content. A CRIU whose id differs
#   (no patches, older patches) is rebuilt once.
# A second run with everything present only checks, and takes about a second.
#
# CRYO_SETUP_BUILD_DIR and CRYO_SETUP_CRIU_PREFIX move the build and the
# installed CRIU elsewhere (to try a patch without replacing the CRIU that
# running tests use).
set -euo pipefail

CRIU_VERSION=4.1.1
CRIU_DEB_VERSION=4.1.1-1
PREFIX=${CRYO_SETUP_CRIU_PREFIX:-/usr/local}
BUILD_DIR=${CRYO_SETUP_BUILD_DIR:-/var/cache/cryo-setup}
PATCH_DIR=$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../patches/criu
# make variables of the CRIU build. RUNDIR holds CRIU's kernel-feature cache
# (criu.kdat); patch 0002 lets it live there although /run is not a tmpfs on
# every host.
CRIU_MAKE_VARS=(RUNDIR=/run)

log() { printf 'setup: %s\n' "$*" >&2; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

# Build and run dependencies of cryo itself, plus what the tests use.
CRYO_PACKAGES=(
	gcc make meson ninja-build pkgconf clang-format
	libarchive-dev libsqlite3-dev libjson-c-dev libcmocka-dev libcap-dev libzstd-dev
	libprotobuf-c-dev protobuf-c-compiler libssl-dev
	runc iptables busybox-static bats jq sqlite3 zstd xz-utils gzip util-linux procps file
	openssl bzip2
	# reflink snapshots: the tests and bench/run --fs make loop-mounted XFS with reflink=1, and Btrfs
	xfsprogs btrfs-progs
	# bridge networks: the CNI plugins that cryo runs, iproute2 to delete a bridge, curl for the tests
	containernetworking-plugins iproute2 curl
	# man pages: scdoc builds docs/man/*.scd, man-db reads them in the tests;
	# bash-completion; python3 for tests/system/pty-session, a terminal driver
	scdoc man-db bash-completion python3
	# migrate's ssh:// tests: a real sshd (started by the test on a veth link), ssh
	openssh-server openssh-client
	# libFuzzer targets (fuzz/): clang and its sanitizer/fuzzer runtimes
	clang libclang-rt-14-dev
	# registries: skopeo is cryo's registry client (image push/pull), and the
	# tests start their own docker-registry on loopback (a random port, a
	# throwaway config and storage: the package's own service is never used)
	skopeo docker-registry
	# the checks before the tests (tests/run): shellcheck, codespell, clang's
	# static analyzer (clang), clang-format (above), strings (binutils)
	shellcheck codespell binutils
	# Podman 4.3.1, the peer whose checkpoint archives the interop tests read
	# (tests/system/podman.bash configures it per test, nothing global)
	podman conmon
)
# What building CRIU from source needs (all from bookworm).
CRIU_BUILD_PACKAGES=(
	dpkg-dev libbsd-dev libcap-dev libgnutls28-dev libnet1-dev libnftables-dev libnl-3-dev
	libprotobuf-c-dev libprotobuf-dev pkgconf protobuf-c-compiler protobuf-compiler
	uuid-dev python3 xz-utils patch
)

# `setup.sh --print-installs`: what a fresh machine has after this script, for
# tests/check-commands: "package NAME" for every Debian package it installs
# (CRIU's build packages included: bookworm's CRIU never works on these
# kernels, so a fresh machine always builds it) and "command PATH" for every
# program it builds.
if [ "${1:-}" = --print-installs ]; then
	printf 'package %s\n' "${CRYO_PACKAGES[@]}" "${CRIU_BUILD_PACKAGES[@]}" | sort -u
	printf 'command %s\n' "$PREFIX/sbin/criu"
	exit 0
fi
[ $# = 0 ] || die "usage: $0 [--print-installs]"
[ "$(id -u)" = 0 ] || die "must run as root (it installs packages)"
[ -d "$PATCH_DIR" ] || die "no $PATCH_DIR: run this script from a cryo checkout"

apt_updated=0
apt_update_once() {
	if [ "$apt_updated" = 0 ]; then
		log "apt-get update"
		apt-get -o DPkg::Lock::Timeout=600 update -qq
		apt_updated=1
	fi
}

missing_packages() {
	local p
	for p in "$@"; do
		dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || echo "$p"
	done
}

install_packages() {
	local missing
	mapfile -t missing < <(missing_packages "$@" | sort -u)
	[ "${#missing[@]}" -gt 0 ] || return 0
	apt_update_once
	log "installing: ${missing[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

criu_patches() { find "$PATCH_DIR" -maxdepth 1 -type f -name '*.patch' -printf '%f\n' | LC_ALL=C sort; }

# The id of the CRIU build this checkout wants: version, build settings and
# every patch (name and content), in application order.
criu_build_id() {
	local p
	{
		echo "criu $CRIU_VERSION"
		echo "make ${CRIU_MAKE_VARS[*]}"
		while read -r p; do
			(cd "$PATCH_DIR" && sha256sum -- "$p")
		done < <(criu_patches)
	} | sha256sum | cut -c1-16
}

# Installed, runs `criu check`, has libcriu, and is the build this checkout
# wants (same patches): anything else is rebuilt.
criu_works() {
	local criu=$PREFIX/sbin/criu version
	[ -x "$criu" ] || return 1
	version=$("$criu" --version 2>/dev/null) || return 1
	grep -qx "Version: $CRIU_VERSION" <<<"$version" || return 1
	grep -qx "GitID: cryo-$(criu_build_id)" <<<"$version" || return 1
	"$criu" check >/dev/null 2>&1 || return 1
	[ -e "$PREFIX/include/criu/criu.h" ] && ls "$PREFIX"/lib/libcriu.so* >/dev/null 2>&1
}

add_trixie_source_entry() {
	local f=/etc/apt/sources.list.d/cryo-criu-src.sources
	# Types: deb-src only. A "deb" entry for trixie would upgrade libc6 and more.
	if [ ! -f "$f" ]; then
		cat >"$f" <<'SRC'
# Added by cryo's scripts/setup.sh: source packages only, to build CRIU 4.
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
		apt_updated=0
	fi
	apt_update_once
}

build_and_install_criu() {
	install_packages "${CRIU_BUILD_PACKAGES[@]}"
	add_trixie_source_entry
	mkdir -p "$BUILD_DIR"
	cd "$BUILD_DIR"
	local tarball="criu_${CRIU_VERSION}.orig.tar.xz"
	if [ ! -f "$tarball" ]; then
		log "fetching CRIU $CRIU_VERSION source through apt"
		apt-get -o DPkg::Lock::Timeout=600 source -qq --download-only --tar-only "criu=$CRIU_DEB_VERSION" >/dev/null
	fi
	[ -f "$tarball" ] || die "apt did not deliver $tarball"
	rm -rf "criu-$CRIU_VERSION"
	tar -xf "$tarball"
	cd "criu-$CRIU_VERSION"
	local p id
	id=$(criu_build_id)
	while read -r p; do
		log "applying patches/criu/$p"
		patch -p1 --forward --batch --quiet <"$PATCH_DIR/$p" >patch.log 2>&1 ||
			{ cat patch.log >&2; die "patch $p does not apply to CRIU $CRIU_VERSION"; }
	done < <(criu_patches)
	log "building CRIU $CRIU_VERSION cryo-$id (takes a minute or two)"
	make -j"$(nproc)" "${CRIU_MAKE_VARS[@]}" GITID="cryo-$id" criu lib >build.log 2>&1 ||
		{ tail -n 40 build.log >&2; die "CRIU build failed (log: $PWD/build.log)"; }
	# Rename into place: a runc started meanwhile finds the old or the new criu.
	install -D -m 0755 criu/criu "$PREFIX/sbin/criu.new"
	mv -f "$PREFIX/sbin/criu.new" "$PREFIX/sbin/criu"
	local so soname
	so=$(readlink -f lib/c/libcriu.so)
	soname=$(objdump -p "$so" 2>/dev/null | sed -n 's/^ *SONAME *//p')
	soname=${soname:-libcriu.so.2}
	install -D -m 0644 "$so" "$PREFIX/lib/$soname"
	ln -sf "$soname" "$PREFIX/lib/libcriu.so"
	install -D -m 0644 lib/c/criu.h "$PREFIX/include/criu/criu.h"
	install -D -m 0644 images/rpc.pb-c.h "$PREFIX/include/criu/rpc.pb-c.h"
	install -D -m 0644 criu/include/version.h "$PREFIX/include/criu/version.h"
	ldconfig
	criu_works || die "CRIU $CRIU_VERSION cryo-$id was installed but '$PREFIX/sbin/criu check' fails: $("$PREFIX/sbin/criu" check 2>&1 | tail -n 3)"
	log "CRIU $CRIU_VERSION cryo-$id installed in $PREFIX"
}

install_packages "${CRYO_PACKAGES[@]}"
if criu_works; then
	log "CRIU ok: $CRIU_VERSION cryo-$(criu_build_id) at $PREFIX/sbin/criu"
else
	# Several test runs may start setup at once: one builds, the others wait
	# and then find the new CRIU.
	mkdir -p "$BUILD_DIR"
	exec 9>"$BUILD_DIR/.criu-build.lock"
	flock 9
	if criu_works; then
		log "CRIU ok: $CRIU_VERSION cryo-$(criu_build_id) at $PREFIX/sbin/criu (built by another setup run)"
	else
		build_and_install_criu
	fi
	exec 9>&-
fi
log "done"
