# Shared helpers for cryo's system tests (bats). Each test gets its own engine
# root and runroot, so tests can run in any order and leave nothing behind.
#
# CRYO points at the binary under test (tests/run sets it to the sanitizer build).

# (For the whole file: bats' `run` sets $status, $output and $lines.)
# shellcheck disable=SC2154
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
	local rt=$RUNROOT/runtime id pid name
	# Bridge networks put rules, bridges and leases on the host: cryo's own
	# commands take them away.
	if [ -n "${ROOT:-}" ] && [ -d "$ROOT/networks" ]; then
		for name in $(cryo ps -a --format json 2>/dev/null | jq -r '.[].Name' 2>/dev/null); do
			cryo rm -f "$name" >/dev/null 2>&1 || true
		done
		for name in $(cryo network ls --format json 2>/dev/null | jq -r '.[].Name' 2>/dev/null); do
			cryo network rm "$name" >/dev/null 2>&1 || true
		done
	fi
	if [ -d "$rt" ]; then
		for id in $(runc --root "$rt" list -q 2>/dev/null); do
			runc --root "$rt" resume "$id" >/dev/null 2>&1 || true
			runc --root "$rt" kill "$id" KILL >/dev/null 2>&1 || true
			runc --root "$rt" delete -f "$id" >/dev/null 2>&1 || true
		done
	fi
	# Monitors and anything else still holding the engine's files.
	grep -l -- "$TEST_DIR" /proc/[0-9]*/cmdline 2>/dev/null | cut -d/ -f3 | while read -r pid; do
		if [ "$pid" != "$$" ]; then kill -9 "$pid" 2>/dev/null || true; fi
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
# Its arguments are evaluated once, before the first try: to wait for a value
# to change, pass a function that reads it (`wait_for 5 test "$(x)" = 1`
# would compare the same old value every time; tests/run rejects that form).
wait_for() {
	local timeout=$1
	shift
	local deadline=$((SECONDS + timeout))
	until "$@"; do
		[ "$SECONDS" -lt "$deadline" ] || return 1
		sleep 0.05
	done
}

# The kind of host the tests run on: v2 when /sys/fs/cgroup is the unified
# hierarchy itself, else v1 (v1 controllers, with or without a v2 hierarchy at
# /sys/fs/cgroup/unified: the runtime uses the v1 ones then).
cgroup_host_kind() {
	if [ "$(stat -f -c %T /sys/fs/cgroup)" = cgroup2fs ]; then echo v2; else echo v1; fi
}

# The directory of process $1's cgroup that holds its freezer: the v1 freezer
# hierarchy's, or its cgroup in the unified hierarchy on a v2 host.
freezer_cgroup_dir() { # pid
	local path
	if [ "$(cgroup_host_kind)" = v2 ]; then
		path=$(awk -F: '$1 == 0 {print $3}' "/proc/$1/cgroup")
		echo "/sys/fs/cgroup$path"
	else
		path=$(awk -F: '$2 ~ /(^|,)freezer(,|$)/ {print $3}' "/proc/$1/cgroup")
		echo "/sys/fs/cgroup/freezer$path"
	fi
}

# The freezer state of container $2 (engine function $1) as the kernel reports
# it, in v1's words on either kind of host: FROZEN, FREEZING or THAWED. On v2,
# FROZEN is cgroup.events' "frozen 1"; FREEZING is cgroup.freeze set to 1 while
# some task has not stopped yet.
freezer_state() { # engine-function container
	local pid dir
	pid=$("$1" inspect "$2" | jq -r '.[0].State.Pid') || return 1
	dir=$(freezer_cgroup_dir "$pid")
	[ -n "$dir" ] || return 1
	if [ "$(cgroup_host_kind)" = v1 ]; then
		cat "$dir/freezer.state"
	elif grep -qx 'frozen 1' "$dir/cgroup.events"; then
		echo FROZEN
	elif [ "$(cat "$dir/cgroup.freeze")" = 1 ]; then
		echo FREEZING
	else
		echo THAWED
	fi
}

# assert_freezer_state ENGINE-FUNCTION CONTAINER EXPECTED (FROZEN, FREEZING, THAWED)
assert_freezer_state() {
	assert_equal "$(freezer_state "$1" "$2")" "$3" "freezer state of container \`$2\`"
}

# Skip the test unless the cgroup controller $1 (memory, pids, ...) is
# available to containers here. The cgroup v2 bed that tests/run makes on a
# hybrid machine has none: the controllers stay bound to the v1 hierarchies.
require_cgroup_controller() { # controller
	if [ "$(cgroup_host_kind)" = v2 ]; then
		grep -qw "$1" /sys/fs/cgroup/cgroup.controllers ||
			skip "needs the $1 cgroup controller, which this cgroup v2 hierarchy lacks (bound to cgroup v1 on this machine)"
	else
		[ "$(stat -f -c %T "/sys/fs/cgroup/$1" 2>/dev/null)" = cgroupfs ] ||
			skip "needs the $1 cgroup controller, which is not mounted at /sys/fs/cgroup/$1"
	fi
}

# --- assertions that say what they expected -----------------------------------
# A bare `[ "$x" = y ]` fails with only its line number; these print the
# expected and the actual value (bats shows a failed test's output), so a
# failing CI line says what went wrong without a rerun.

# assert_equal ACTUAL EXPECTED [WHAT]
assert_equal() {
	[ "$1" = "$2" ] && return 0
	printf '%s\n  expected: %s\n  actual:   %s\n' "${3:-values differ}" "$2" "$1" >&2
	return 1
}

# assert_status EXPECTED: the exit status of the last `run`.
assert_status() {
	[ "$status" -eq "$1" ] && return 0
	printf 'exit status\n  expected: %s\n  actual:   %s\n  output:\n%s\n' "$1" "$status" "$output" >&2
	return 1
}

# assert_output_contains TEXT: the last `run`'s output holds TEXT (no pattern).
assert_output_contains() {
	[[ "$output" == *"$1"* ]] && return 0
	printf 'output does not contain\n  expected: %s\n  output:\n%s\n' "$1" "$output" >&2
	return 1
}

# assert_output_lacks TEXT: the last `run`'s output does not hold TEXT.
assert_output_lacks() {
	[[ "$output" != *"$1"* ]] && return 0
	printf 'output contains what it must not\n  unexpected: %s\n  output:\n%s\n' "$1" "$output" >&2
	return 1
}

# assert_no_file_matching GLOB...: no file matches any GLOB (quote it: it is
# expanded here). Prints the ones that do.
assert_no_file_matching() {
	local g found=()
	for g in "$@"; do
		mapfile -t -O "${#found[@]}" found < <(compgen -G "$g")
	done
	[ "${#found[@]}" = 0 ] && return 0
	printf 'files that should not exist:\n' >&2
	printf '  %s\n' "${found[@]}" >&2
	return 1
}

# container_status NAME: the container's state as `cryo inspect` reports it
# (created, running, paused, exited, checkpointed...).
container_status() {
	cryo inspect "$1" | jq -r '.[0].State.Status'
}

# assert_container_status NAME EXPECTED
assert_container_status() {
	assert_equal "$(container_status "$1")" "$2" "state of container \`$1\`"
}
