#!/usr/bin/env bats
# Many containers at once: checkpoint --all and restore --all run containers
# in parallel worker processes, each frozen on its own, each reported.

load helpers
load workload
bats_require_minimum_version 1.5.0

setup() {
	setup_engine
	import_workload_image
}

teardown() {
	teardown_engine
}

state_of() { # container
	cryo inspect "$1" | jq -r '.[0].State.Status'
}

states_are() { # state container...
	local want=$1 c
	shift
	for c in "$@"; do
		[ "$(state_of "$c")" = "$want" ] || return 1
	done
}

# Hold container $1's lock (as another cryo command would) until containers
# $3... are in state $2, at most 30 s. $TEST_DIR/held
# says "done" when the others got there while it was held, "timeout" if not.
hold_lock_until() { # container state container...
	local id
	id=$(cryo inspect "$1" | jq -r '.[0].Id')
	local want=$2
	shift 2
	rm -f "$TEST_DIR/held"
	mkdir -p "$RUNROOT/locks"
	(
		exec 9>"$RUNROOT/locks/$id"
		flock 9
		echo locked >"$TEST_DIR/held"
		local deadline=$((SECONDS + 30))
		while [ "$SECONDS" -lt "$deadline" ]; do
			if states_are "$want" "$@"; then
				echo "done" >"$TEST_DIR/held"
				exit 0
			fi
			sleep 0.1
		done
		echo timeout >"$TEST_DIR/held"
	) >/dev/null 2>&1 &
}

@test "checkpoint --all checkpoints the others while one container is busy: they run in parallel" {
	for c in one two three; do
		cryo run -d --name $c workload sleep 1000 >/dev/null
	done
	hold_lock_until one checkpointed two three
	wait_for 10 grep -q locked "$TEST_DIR/held"
	run --separate-stderr cryo checkpoint --all --parallel 2
	echo "$output $stderr"
	[ "$status" -eq 0 ]
	# two and three were checkpointed while one waited for its lock
	[ "$(cat "$TEST_DIR/held")" = "done" ]
	[ "$(tail -n 1 <<<"$output")" = one ]
	[ "$(sort <<<"$output" | paste -sd' ')" = "one three two" ]
	states_are checkpointed one two three
}

@test "checkpoint --all --leave-running reports each container's own frozen window" {
	for c in one two three four; do
		cryo run -d --name $c workload sleep 1000 >/dev/null
	done
	run --separate-stderr cryo checkpoint --all --leave-running --print-stats --parallel 3
	[ "$status" -eq 0 ]
	[ "$(jq -s -r '[.[].container] | sort | join(" ")' <<<"$output")" = "four one three two" ]
	# every container was frozen, and thawed, on its own
	[ "$(jq -s '[.[] | select(.frozen_window > 0 and .frozen_time > 0)] | length' <<<"$output")" -eq 4 ]
	states_are running one two three four
}

@test "checkpoint --all: one failing container does not stop the others; 125 names it" {
	cryo run -d --name one workload sleep 1000 >/dev/null
	# a path longer than PATH_MAX in its root file system: its capture is refused
	cryo run -d --name deep workload sh -c '/usr/local/bin/hostile deep /tmp 2100 && sleep 1000' >/dev/null
	cryo run -d --name three workload sleep 1000 >/dev/null
	wait_for 60 log_has deep DONE
	run --separate-stderr cryo checkpoint --all --leave-running --parallel 2
	echo "$output $stderr"
	[ "$status" -eq 125 ]
	[ "$(sort <<<"$output" | paste -sd' ')" = "one three" ]
	[[ "$stderr" == *"is longer than 4095 bytes inside the container"* ]]
	[[ "$stderr" == *"checkpoint --all: 1 of 3 containers failed: \`deep\`"* ]]
	states_are running one three deep
	[ "$(cryo inspect one three | jq -r '.[].State.CheckpointedAt' | grep -c '^0001')" -eq 0 ]
	[ "$(cryo inspect deep | jq -r '.[].State.CheckpointedAt')" = "0001-01-01T00:00:00Z" ]
}

log_has() { # container text
	cryo logs "$1" 2>/dev/null | grep -q "$2"
}

@test "restore --all restores every stopped container with a checkpoint, and only those" {
	for c in one two three running; do
		cryo run -d --name $c workload sh -c 'echo $$ >/tmp/pid; sleep 1000' >/dev/null
	done
	cryo create --name idle workload true >/dev/null
	cryo checkpoint one two three >/dev/null
	# a checkpoint kept for a container that still runs: not restored
	cryo checkpoint --leave-running --keep running >/dev/null
	run --separate-stderr cryo restore --all --parallel 3
	echo "$output $stderr"
	[ "$status" -eq 0 ]
	[ "$(wc -l <<<"$output")" -eq 3 ]
	for c in one two three; do
		grep -qx "$(cryo inspect $c | jq -r '.[0].Id')" <<<"$output"
	done
	states_are running one two three running
	[ "$(state_of idle)" = created ]
	# the restored processes are the checkpointed ones
	[ "$(cryo exec one cat /tmp/pid)" = 1 ]
	# nothing left to restore: success, no output
	run --separate-stderr cryo restore --all
	[ "$status" -eq 0 ]
	[ -z "$output" ]
}

@test "restore --all: a damaged checkpoint fails alone, 125 naming it" {
	for c in one two three; do
		cryo run -d --name $c workload sleep 1000 >/dev/null
	done
	cryo checkpoint --all >/dev/null
	id=$(cryo inspect two | jq -r '.[0].Id')
	echo '{not json' >"$ROOT/checkpoints/$id/config.dump"
	run --separate-stderr cryo restore --all --parallel 2
	echo "$output $stderr"
	[ "$status" -eq 125 ]
	[ "$(wc -l <<<"$output")" -eq 2 ]
	[[ "$stderr" == *"two"* ]]
	[[ "$stderr" == *"restore --all: 1 of 3 containers failed: \`two\`"* ]]
	states_are running one three
	[ "$(state_of two)" = checkpointed ]
}

@test "checkpoint --all groups containers sharing a volume: they are not busy for each other" {
	cryo volume create shared >/dev/null
	for c in a b c; do
		cryo run -d --name $c -v shared:/data workload sleep 1000 >/dev/null
	done
	cryo run -d --name alone workload sleep 1000 >/dev/null
	run --separate-stderr cryo --log-level debug checkpoint --all --leave-running --parallel 4
	echo "$output $stderr"
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"4 containers in 2 groups, at most 4 workers at a time"* ]]
	[ "$(sort <<<"$output" | paste -sd' ')" = "a alone b c" ]
	states_are running a b c alone
}

@test "the worker count: --parallel, else engine.parallel, else the CPUs; bad values refused" {
	cryo run -d --name one workload sleep 1000 >/dev/null
	run --separate-stderr cryo --log-level debug checkpoint --all --leave-running
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"1 containers in 1 groups, at most $(nproc) workers at a time"* ]]
	printf '[engine]\nparallel = 7\n' >"$TEST_DIR/cryo.conf"
	run --separate-stderr cryo --config "$TEST_DIR/cryo.conf" --log-level debug checkpoint --all --leave-running
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"at most 7 workers at a time"* ]]
	run --separate-stderr cryo --config "$TEST_DIR/cryo.conf" --log-level debug checkpoint --all --leave-running \
		--parallel 3
	[[ "$stderr" == *"at most 3 workers at a time"* ]]
	run cryo checkpoint --all --parallel 0
	[ "$status" -eq 125 ]
	[[ "$output" == *"invalid --parallel \`0\`"* ]]
	run cryo checkpoint --parallel 2 one
	[ "$status" -eq 125 ]
	[[ "$output" == *"--parallel only applies with --all"* ]]
	run cryo restore --all one
	[ "$status" -eq 125 ]
	[[ "$output" == *"--all restores each container as it was"* ]]
}
