#!/usr/bin/env bats
# The test workloads themselves, run directly on the host (no cryo): they are the
# instruments the checkpoint tests and the benchmark measure with, so their detectors
# must be shown to fire.

load helpers
load workload

setup() {
	setup_engine
	mkdir -p "$TEST_DIR/w"
	W=$TEST_DIR/w
}

teardown() {
	teardown_engine
}

# Start counter in $W with extra arguments; sets COUNTER_PID, waits for READY.
start_counter() {
	"$WORKLOAD_DIR/counter" --file "$W/counter" --stats "$W/stats" "$@" >"$W/log" 2>&1 &
	COUNTER_PID=$!
	wait_for 10 grep -q '^READY$' "$W/log"
}

stats() {
	jq -r ".$1" "$W/stats"
}

# `test` on a stats field read afresh on every call, for wait_for (whose
# arguments are evaluated once): stats_test FIELD OP VALUE.
stats_test() {
	test "$(stats "$1")" "$2" "$3"
}

# Whether counter.violations has exactly $1 lines (read afresh, for wait_for).
violations_logged() {
	[ "$(wc -l <"$W/counter.violations")" = "$1" ]
}

@test "counter runs without violations and writes valid stats" {
	start_counter
	sleep 1
	jq -e . "$W/stats" >/dev/null
	[ "$(stats iterations)" -gt 1000 ]
	[ "$(stats violations)" = 0 ]
	[ "$(stats max_stall_us)" -ge 0 ]
	[ ! -e "$W/counter.violations" ]
	# The file holds the counter as a fixed-width record.
	run cat "$W/counter"
	[[ "$output" =~ ^[0-9]{20}$ ]]
	[ "$(stat -c %s "$W/counter")" = 21 ]
	[ "$(stat -c %s "$W/counter.ring")" = 42 ]
	! grep -q VIOLATION "$W/log"
}

@test "counter detects a file ahead of memory (negative control)" {
	start_counter
	# Freeze it, move the file ahead as a checkpoint that copied the file system
	# after the memory dump would, and let it run again.
	kill -STOP "$COUNTER_PID"
	wait_stopped "$COUNTER_PID"
	counter_set_files "$W/counter" 99999999999
	kill -CONT "$COUNTER_PID"
	wait_for 5 test -s "$W/counter.violations"
	sleep 0.2
	run cat "$W/counter.violations"
	# Depending on where it was stopped, it sees the file's record or the ring's
	# (which holds the value before it): either way, ahead of memory.
	[[ "$output" =~ ^VIOLATION\ file=9999999999[89]\ memory=[0-9]+$ ]]
	# Reported once, on stdout too, and counted in the stats.
	[ "${#lines[@]}" = 1 ]
	grep -qE '^VIOLATION file=9999999999[89] ' "$W/log"
	wait_for 2 stats_test violations = 1
	# Memory adopted the file's value and goes on from there.
	[ "$(stats counter)" -ge 99999999998 ]
}

@test "counter detects a late file system wherever it was frozen (20 rounds)" {
	start_counter
	# Each round freezes the task at whatever instruction it is at, as a checkpoint
	# does; a task frozen between its read and its write of FILE overwrites FILE
	# first, so only the ring can tell. Every round must be caught, once.
	local round value
	for round in $(seq 1 20); do
		kill -STOP "$COUNTER_PID"
		wait_stopped "$COUNTER_PID"
		value=$(($(stats counter) + 1000000))
		counter_set_files "$W/counter" "$value"
		kill -CONT "$COUNTER_PID"
		wait_for 5 violations_logged "$round"
		sleep 0.06 # a stats write is due every 50 ms
	done
	sleep 0.2
	[ "$(wc -l <"$W/counter.violations")" = 20 ]
	[ "$(stats violations)" = 20 ]
}

@test "counter detects a late ring even when FILE itself was overwritten" {
	start_counter
	kill -STOP "$COUNTER_PID"
	wait_stopped "$COUNTER_PID"
	local value=$(($(stats counter) + 500))
	counter_record "$value" | dd of="$W/counter.ring" bs=21 seek=$((value % 2)) conv=notrunc status=none
	counter_record "$((value - 1))" | dd of="$W/counter.ring" bs=21 seek=$(((value + 1) % 2)) conv=notrunc status=none
	kill -CONT "$COUNTER_PID"
	wait_for 5 test -s "$W/counter.violations"
	run cat "$W/counter.violations"
	[[ "$output" =~ ^VIOLATION\ file=$((value - 1))\ memory=[0-9]+$ || "$output" =~ ^VIOLATION\ file=$value\ memory=[0-9]+$ ]]
}

@test "counter detects a file behind memory" {
	start_counter
	sleep 0.2
	kill -STOP "$COUNTER_PID"
	wait_stopped "$COUNTER_PID"
	counter_set_files "$W/counter" 3
	kill -CONT "$COUNTER_PID"
	wait_for 5 test -s "$W/counter.violations"
	run cat "$W/counter.violations"
	# the file's record (3) or the ring's (2), depending on where it was stopped
	[[ "$output" =~ ^VIOLATION\ file=[23]\ memory=[0-9]+$ ]]
}

@test "counter tolerates a freeze that leaves memory and file consistent" {
	start_counter
	for _ in 1 2 3; do
		kill -STOP "$COUNTER_PID"
		wait_stopped "$COUNTER_PID"
		sleep 0.1
		kill -CONT "$COUNTER_PID"
	done
	sleep 0.2
	[ ! -e "$W/counter.violations" ]
	[ "$(stats violations)" = 0 ]
}

@test "counter started on a file that is ahead reports it" {
	counter_record 7 >"$W/counter"
	start_counter
	wait_for 5 test -s "$W/counter.violations"
	run cat "$W/counter.violations"
	[ "$output" = "VIOLATION file=7 memory=0" ]
}

@test "counter rejects a file that is not its record" {
	echo garbage >"$W/counter"
	start_counter
	wait_for 5 test -s "$W/counter.violations"
	run cat "$W/counter.violations"
	[ "$output" = "VIOLATION file=unreadable memory=0" ]
}

@test "counter measures a stall and SIGUSR1 resets the maximum" {
	start_counter
	sleep 0.2
	kill -STOP "$COUNTER_PID"
	wait_stopped "$COUNTER_PID"
	sleep 0.4
	kill -CONT "$COUNTER_PID"
	wait_for 5 stats_test max_stall_us -ge 400000
	[ "$(stats max_stall_us)" -lt 5000000 ]
	[ "$(stats resets)" = 0 ]
	kill -USR1 "$COUNTER_PID"
	wait_for 5 stats_test resets = 1
	[ "$(stats max_stall_us)" -lt 400000 ]
	# The process survived the signal and keeps counting.
	local before
	before=$(stats iterations)
	wait_for 5 stats_test iterations -gt "$before"
}

@test "counter --memory, --fill-file and --many-files create the load before READY" {
	start_counter --memory 16 --fill-file "$W/big" --fill-mib 3 --many-files "$W/files" --count 50 --size 4096
	[ "$(stat -c %s "$W/big")" = $((3 * 1024 * 1024)) ]
	[ "$(find "$W/files" -type f | wc -l)" = 50 ]
	[ "$(stat -c %s "$W/files/f000049")" = 4096 ]
	local rss_kib
	rss_kib=$(awk '/^VmRSS:/ {print $2}' "/proc/$COUNTER_PID/status")
	[ "$rss_kib" -ge $((16 * 1024)) ]
	# Pseudo-random content: zstd cannot shrink it.
	local packed
	packed=$(zstd -1 -c "$W/big" | wc -c)
	[ "$packed" -gt $((3 * 1024 * 1024 * 99 / 100)) ]
}

@test "counter and proctree stop on SIGTERM" {
	start_counter
	kill -TERM "$COUNTER_PID"
	local rc=0
	wait "$COUNTER_PID" || rc=$?
	[ "$rc" = 0 ]
	"$WORKLOAD_DIR/proctree" --dir "$W" >"$W/tree-log" 2>&1 &
	local pid=$!
	wait_for 5 grep -q '^READY$' "$W/tree-log"
	kill -TERM "$pid"
	rc=0
	wait "$pid" || rc=$?
	[ "$rc" = 0 ]
}

@test "counter rejects bad arguments" {
	run "$WORKLOAD_DIR/counter"
	[ "$status" = 2 ]
	run "$WORKLOAD_DIR/counter" --file "$W/c" --memory lots
	[ "$status" = 2 ]
	[[ "$output" == *"not a number"* ]]
	run "$WORKLOAD_DIR/counter" --file "$W/c" --fill-file "$W/big"
	[ "$status" = 2 ]
}

@test "proctree writes its pids and both children's values keep increasing" {
	"$WORKLOAD_DIR/proctree" --dir "$W" --interval-ms 20 >"$W/log" 2>&1 &
	local pid=$!
	wait_for 5 grep -q '^READY$' "$W/log"
	run cat "$W/tree.pids"
	[ "${#lines[@]}" = 3 ]
	[ "${lines[0]}" = "parent $pid" ]
	local c1 c2
	c1=$(awk '$1 == "child-1" {print $2}' "$W/tree.pids")
	c2=$(awk '$1 == "child-2" {print $2}' "$W/tree.pids")
	[ "$(awk '{print $4}' "/proc/$c1/stat")" = "$pid" ]
	[ "$(awk '{print $4}' "/proc/$c2/stat")" = "$pid" ]
	sleep 0.5
	# Each child's values are 1, 2, 3, ... without gaps.
	local n
	for n in 1 2; do
		run awk -v c="child-$n" '$1 == c { if ($2 != ++want) bad = 1 } END { exit bad || want < 5 }' "$W/tree.log"
		[ "$status" = 0 ]
	done
}

@test "proctree exits with an error when a child is gone (negative control)" {
	"$WORKLOAD_DIR/proctree" --dir "$W" --interval-ms 20 >"$W/log" 2>&1 &
	local pid=$!
	wait_for 5 grep -q '^READY$' "$W/log"
	kill -KILL "$(awk '$1 == "child-2" {print $2}' "$W/tree.pids")"
	local rc=0
	wait "$pid" || rc=$?
	[ "$rc" = 1 ]
	grep -q '^child-2 gone$' "$W/tree.log"
}

@test "the workload rootfs runs counter and proctree without any shared library" {
	local root=$TEST_DIR/rootfs
	mkdir -p "$root"
	tar -C "$root" -xf "$(workload_rootfs_tar)"
	[ -d "$root/state" ]
	run chroot "$root" /usr/local/bin/counter --help
	[ "$status" = 0 ]
	[[ "$output" == Usage:* ]]
	run timeout 0.5 chroot "$root" /usr/local/bin/counter --file /state/counter --stats /state/stats
	[ "$status" = 124 ]
	[ "${lines[0]}" = READY ]
	jq -e '.iterations > 0' "$root/state/stats"
	run chroot "$root" /usr/local/bin/proctree
	[ "$status" = 2 ]
}
