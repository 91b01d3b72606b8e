# Shared helpers for cryo's system tests (bats). Each test gets its own engine
# root and runroot, so tests can run in any order and leave nothing behind.
#
# CRYO points at the binary under test (tests/run sets it to the sanitizer build).

CRYO=${CRYO:-$BATS_TEST_DIRNAME/../../build/src/cli/cryo}

# Make a fresh engine for this test.
setup_engine() {
	TEST_DIR=$(mktemp -d /var/tmp/cryo-test.XXXXXX)
	ROOT=$TEST_DIR/root
	RUNROOT=$TEST_DIR/run
	export TEST_DIR ROOT RUNROOT
}

# cryo with this test's engine.
cryo() {
	"$CRYO" --root "$ROOT" --runroot "$RUNROOT" "$@"
}

# Tear down whatever a test left running: containers, monitors, mounts, files.
teardown_engine() {
	[ -n "${TEST_DIR:-}" ] && [ -d "$TEST_DIR" ] || return 0
	local rt=$RUNROOT/runtime id pid
	if [ -d "$rt" ]; then
		for id in $(runc --root "$rt" list -q 2>/dev/null); do
			runc --root "$rt" resume "$id" >/dev/null 2>&1 || true
			runc --root "$rt" kill "$id" KILL >/dev/null 2>&1 || true
			runc --root "$rt" delete -f "$id" >/dev/null 2>&1 || true
		done
	fi
	# Monitors and anything else still holding the engine's files.
	for pid in $(grep -l -- "$TEST_DIR" /proc/[0-9]*/cmdline 2>/dev/null | cut -d/ -f3); do
		[ "$pid" != "$$" ] && kill -9 "$pid" 2>/dev/null || true
	done
	# Unmount everything below the test directory, deepest first.
	awk -v d="$TEST_DIR" '$5 ~ "^"d {print $5}' /proc/self/mountinfo | sort -r |
		while read -r m; do umount -l "$m" 2>/dev/null || true; done
	rm -rf "$TEST_DIR"
}

# A busybox root file system tarball, built once per test run.
# Prints its path.
busybox_rootfs_tar() {
	local tar=$BATS_RUN_TMPDIR/busybox-rootfs.tar
	if [ ! -f "$tar" ]; then
		local dir=$BATS_RUN_TMPDIR/busybox-rootfs.$$
		rm -rf "$dir"
		mkdir -p "$dir"/{bin,sbin,etc,tmp,proc,sys,dev,root,var,usr/bin,home}
		cp /bin/busybox "$dir/bin/busybox"
		local applet
		for applet in $("$dir/bin/busybox" --list); do
			[ "$applet" = busybox ] || ln -sf busybox "$dir/bin/$applet"
		done
		printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$dir/etc/passwd"
		printf 'root:x:0:\nnogroup:x:65534:\n' >"$dir/etc/group"
		chmod 1777 "$dir/tmp"
		tar -C "$dir" -cf "$tar.tmp" . && mv "$tar.tmp" "$tar"
		rm -rf "$dir"
	fi
	echo "$tar"
}

# Import the busybox rootfs as image "busybox" into this test's engine.
import_busybox() {
	cryo image import "$(busybox_rootfs_tar)" busybox >/dev/null
}

# Wait until a command succeeds, at most $1 seconds (polling every 0.05 s).
wait_for() {
	local timeout=$1
	shift
	local deadline=$((SECONDS + timeout))
	until "$@"; do
		[ "$SECONDS" -lt "$deadline" ] || return 1
		sleep 0.05
	done
}
