#!/usr/bin/env bash
# Install everything cryo needs to build, run and test on Debian 12, idempotently.
#
# - Debian packages come from the machine's own (bookworm) sources.
# - CRIU: bookworm's 3.17 cannot run on recent kernels, so when no working
#   CRIU >= 4 is found we fetch CRIU 4.1.1's *source* through apt (a deb-src
#   entry for trixie; never a binary entry, which would upgrade libc), build it
#   and install criu and libcriu under /usr/local.
# A second run with everything present only checks, and takes about a second.
set -euo pipefail

CRIU_VERSION=4.1.1
CRIU_DEB_VERSION=4.1.1-1
PREFIX=/usr/local
BUILD_DIR=${CRYO_SETUP_BUILD_DIR:-/var/cache/cryo-setup}

log() { printf 'setup: %s\n' "$*" >&2; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

# Build and run dependencies of cryo itself, plus what the tests use.
CRYO_PACKAGES=(
	gcc make meson ninja-build pkgconf clang-format
	libarchive-dev libsqlite3-dev libjson-c-dev libcmocka-dev libcap-dev libzstd-dev
	libprotobuf-c-dev protobuf-c-compiler libssl-dev
	runc iptables busybox-static bats jq sqlite3 zstd xz-utils gzip util-linux procps file
	openssl bzip2
	# libFuzzer targets (fuzz/): clang and its sanitizer/fuzzer runtimes
	clang libclang-rt-14-dev
)
# What building CRIU from source needs (all from bookworm).
CRIU_BUILD_PACKAGES=(
	dpkg-dev libbsd-dev libcap-dev libgnutls28-dev libnet1-dev libnftables-dev libnl-3-dev
	libprotobuf-c-dev libprotobuf-dev pkgconf protobuf-c-compiler protobuf-compiler
	uuid-dev python3 xz-utils
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

# version_ge A B: true when version A >= B (dotted numbers).
version_ge() { [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -n1)" = "$2" ]; }

criu_works() {
	local criu=$PREFIX/sbin/criu v
	[ -x "$criu" ] || return 1
	v=$("$criu" --version 2>/dev/null | sed -n 's/^Version: *//p')
	[ -n "$v" ] && version_ge "$v" 4.0 || return 1
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
	log "building CRIU $CRIU_VERSION (takes a minute or two)"
	make -j"$(nproc)" criu lib >build.log 2>&1 || { tail -n 40 build.log >&2; die "CRIU build failed (log: $PWD/build.log)"; }
	install -D -m 0755 criu/criu "$PREFIX/sbin/criu"
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
	criu_works || die "CRIU $CRIU_VERSION was installed but '$PREFIX/sbin/criu check' fails: $("$PREFIX/sbin/criu" check 2>&1 | tail -n 3)"
	log "CRIU $("$PREFIX/sbin/criu" --version | sed -n 's/^Version: *//p') installed in $PREFIX"
}

install_packages "${CRYO_PACKAGES[@]}"
if criu_works; then
	log "CRIU ok: $("$PREFIX/sbin/criu" --version | sed -n 's/^Version: *//p') at $PREFIX/sbin/criu"
else
	build_and_install_criu
fi
log "done"
