#!/usr/bin/env bats
# A container can never reach the host through cryo: each test plays a hostile
# tenant (or a racing neighbour) against the real CLI, runc and CRIU, and checks
# that the host is untouched and the container ends up running and thawed.

load helpers
load workload

setup() {
	setup_engine
	import_workload_image
}

teardown() {
	teardown_engine
	# sub-cgroups a test made inside a container's cgroup (runc cannot remove
	# a cgroup that still has children)
	local d
	for d in "${SUBCGROUPS[@]}"; do
		rmdir "$d" 2>/dev/null || true
	done
	rm -f "${HOST_FILES[@]}"
}

SUBCGROUPS=()
HOST_FILES=()

ctr_pid() { # container
	cryo inspect "$1" | jq -r '.[0].State.Pid'
}

ctr_id() { # container
	cryo inspect "$1" | jq -r '.[0].Id'
}

# The directory of the hierarchy cryo freezes in: the v1 freezer where it is
# mounted (v1 and hybrid hosts), else the unified hierarchy (pure v2).
freezer_root() {
	if [ "$(stat -f -c %T /sys/fs/cgroup)" = cgroup2fs ]; then
		echo /sys/fs/cgroup
	else
		echo /sys/fs/cgroup/freezer
	fi
}

# FROZEN or THAWED, for the cgroup cryo made for the container.
freezer_state() { # container
	local dir
	dir=$(freezer_root)/cryo/$(ctr_id "$1")
	if [ -f "$dir/freezer.state" ]; then
		cat "$dir/freezer.state"
	elif grep -q '^frozen 1' "$dir/cgroup.events"; then
		echo FROZEN
	else
		echo THAWED
	fi
}

# Every process of the container (host pids): those in its pid namespace.
ctr_pids() { # container
	local ns p
	ns=$(readlink "/proc/$(ctr_pid "$1")/ns/pid")
	for p in /proc/[0-9]*; do
		[ "$(readlink "$p/ns/pid" 2>/dev/null)" = "$ns" ] && echo "${p#/proc/}"
	done
	return 0
}

assert_running_thawed() { # container
	run cryo inspect "$1"
	[ "$(jq -r '.[0].State.Status' <<<"$output")" = running ]
	[ "$(freezer_state "$1")" = THAWED ]
	# and it makes progress
	local a
	a=$(cryo exec "$1" cat /proc/uptime)
	sleep 0.1
	[ "$(cryo exec "$1" cat /proc/uptime)" != "$a" ]
}

# ---- managed files ----

@test "a container's /etc symlink does not make a restore write the host's files" {
	victim=$TEST_DIR/victim
	mkdir "$victim"
	echo mine >"$victim/hosts"
	# enough `..` to climb out of the upper dir to /, then down to the victim
	cryo run -d --name evil workload sh -c \
		"mv /etc /e && ln -s ../../../../../../../../../../../..$victim /etc && sleep 1000" >/dev/null
	linked() { [ -L "$ROOT/containers/$(ctr_id evil)/upper/etc" ]; }
	wait_for 10 linked
	cryo checkpoint --leave-running --export "$TEST_DIR/a.tar.zst" evil
	run cryo restore --import "$TEST_DIR/a.tar.zst" --name evil2
	echo "$output"
	# the host directory is untouched
	[ "$(ls -A "$victim")" = hosts ]
	[ "$(cat "$victim/hosts")" = mine ]
	# the restore went on, saying what it left out and why
	[ "$status" -eq 0 ]
	[[ "$output" == *"Warning"*"/etc"*"symbolic link"*"did not write"* ]]
	assert_running_thawed evil2
	# an in-place restore keeps the upper dir as it is: nothing written either
	cryo checkpoint evil
	cryo restore evil
	[ "$(ls -A "$victim")" = hosts ]
	[ "$(cat "$victim/hosts")" = mine ]
}

# ---- the freeze hook ----

# Move every process of the container into a new cgroup below its own, as a
# container root with a cgroup namespace of its own could.
move_into_subcgroup() { # container name
	local dir p
	dir=$(freezer_root)/cryo/$(ctr_id "$1")/$2
	mkdir "$dir"
	SUBCGROUPS+=("$dir")
	for p in $(ctr_pids "$1"); do
		echo "$p" >"$dir/cgroup.procs"
	done
}

@test "a hostile cgroup name runs no command on the host, and the right cgroup is frozen" {
	pwned=/tmp/cryo-pwned-$$
	HOST_FILES+=("$pwned")
	rm -f "$pwned"
	cryo run -d --name evil workload sh -c 'while :; do date +%s%N > /state/t; sleep 0.01; done' >/dev/null
	# a shell command substitution between quotes; `/` cannot be in a cgroup name, so printf makes it
	move_into_subcgroup evil "x'\$(touch\${IFS}\$(printf\${IFS}\\\\057tmp\\\\057cryo-pwned-$$))'y"
	run cryo checkpoint --leave-running --export "$TEST_DIR/c.tar.zst" evil
	echo "$output"
	[ ! -e "$pwned" ]
	[ "$status" -eq 0 ]
	assert_running_thawed evil
	cryo restore --import "$TEST_DIR/c.tar.zst" --name copy
	assert_running_thawed copy
}

@test "a task outside the container's cgroup makes the checkpoint refuse, container thawed" {
	cryo run -d --name evil workload sh -c 'sleep 1000 & while :; do date +%s%N > /state/t; sleep 0.01; done' >/dev/null
	sleeper() { cryo exec evil pidof sleep >/dev/null; }
	wait_for 10 sleeper
	# one task escapes to the hierarchy's root: freezing the container's cgroup would not stop it
	escaped=$(for p in $(ctr_pids evil); do [ "$(cat /proc/$p/comm)" = sleep ] && echo $p; done | head -n1)
	echo "$escaped" >"$(freezer_root)/cgroup.procs"
	run cryo checkpoint --leave-running --export "$TEST_DIR/c.tar.zst" evil
	echo "$output"
	[ "$status" -eq 125 ]
	[[ "$output" == *"outside the container's cgroup"* ]]
	[[ "$output" == *"cgroup \`/\`"* ]]
	[ ! -e "$TEST_DIR/c.tar.zst" ]
	[ -z "$(ls "$ROOT/checkpoints")" ]
	assert_running_thawed evil
}
