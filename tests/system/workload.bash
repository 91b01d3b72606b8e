# Workload helpers for system tests; load after helpers.bash:
#	load helpers
#	load workload
#
# The workloads (tests/workloads/*.c) are static binaries built by meson; WORKLOAD_DIR
# points at them (default: the normal build directory).

WORKLOAD_DIR=${WORKLOAD_DIR:-$BATS_TEST_DIRNAME/../../build/tests/workloads}

# The busybox rootfs plus /usr/local/bin/counter, /usr/local/bin/proctree,
# /usr/local/bin/hostile (the security tests' attacker) and an empty
# /state directory for the workloads' files. Built once per test run; prints its path.
workload_rootfs_tar() {
	local tar=$BATS_RUN_TMPDIR/workload-rootfs.tar
	if [ ! -f "$tar" ]; then
		local w
		for w in counter proctree hostile; do
			if [ ! -x "$WORKLOAD_DIR/$w" ]; then
				echo "workload_rootfs_tar: $WORKLOAD_DIR/$w is missing: build it (ninja -C build) or set WORKLOAD_DIR" >&2
				return 1
			fi
		done
		local base dir=$BATS_RUN_TMPDIR/workload-rootfs.$$
		base=$(busybox_rootfs_tar) || return 1
		rm -rf "$dir"
		mkdir -p "$dir"
		tar -C "$dir" -xf "$base" || return 1
		mkdir -p "$dir/usr/local/bin" "$dir/state"
		install -m 0755 "$WORKLOAD_DIR/counter" "$WORKLOAD_DIR/proctree" "$WORKLOAD_DIR/hostile" \
			"$dir/usr/local/bin/" || return 1
		tar -C "$dir" -cf "$tar.tmp" . && mv "$tar.tmp" "$tar" || return 1
		rm -rf "$dir"
	fi
	echo "$tar"
}

# Import the workload rootfs as image "workload" into this test's engine.
import_workload_image() {
	local tar
	tar=$(workload_rootfs_tar) || return 1
	cryo image import "$tar" workload >/dev/null
}

# A value as counter stores it: 20 decimal digits and a newline.
counter_record() {
	printf '%020d\n' "$1"
}

# Make counter's files say VALUE, in place (as a file system captured at another
# moment would): FILE holds VALUE, FILE.ring's slots VALUE and VALUE - 1.
counter_set_files() {
	local file=$1 value=$2 prev=$(($2 > 0 ? $2 - 1 : 0))
	counter_record "$value" | dd of="$file" conv=notrunc status=none
	counter_record "$value" | dd of="$file.ring" bs=21 seek=$((value % 2)) conv=notrunc status=none
	counter_record "$prev" | dd of="$file.ring" bs=21 seek=$(((value + 1) % 2)) conv=notrunc status=none
}

# Wait until process $1 is stopped (state T) after a SIGSTOP, at most 5 s.
wait_stopped() {
	wait_for 5 grep -q '^State:[[:space:]]*T' "/proc/$1/status"
}
