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
	for d in "${HOST_LOOPS[@]}"; do
		losetup -d "$d" 2>/dev/null || true
	done
}

SUBCGROUPS=()
HOST_FILES=()
HOST_LOOPS=()

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
	# a process started in it runs to its end (in a frozen cgroup it would hang)
	timeout -k 2 20 "$CRYO" --root "$ROOT" --runroot "$RUNROOT" exec "$1" true
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

# ---- what a container may ask of the kernel ----

try_in() { # container-options... -- call
	local opts=() call
	while [ "$1" != -- ]; do
		opts+=("$1")
		shift
	done
	call=$2
	cryo run --rm "${opts[@]}" workload /usr/local/bin/hostile try "$call"
}

@test "the default seccomp profile refuses user namespaces, mounts, keyrings and bpf" {
	for call in userns clone-newuser mountns mount keyctl bpf; do
		run try_in -- "$call"
		echo "$output"
		[ "$status" -eq 1 ]
		[ "$output" = "$call: Operation not permitted" ]
	done
	# the same profile still lets ordinary programs run
	run cryo run --rm workload sh -c 'echo hi > /tmp/f && cat /tmp/f && ps >/dev/null && sleep 0.01 & wait'
	[ "$status" -eq 0 ]
	[ "$output" = hi ]
}

@test "a capability added with --cap-add opens the calls that need it" {
	run try_in --cap-add SYS_ADMIN -- mountns
	[ "$status" -eq 0 ]
	[ "$output" = "mountns: allowed" ]
	run try_in --cap-add sys_admin -- mount
	[ "$status" -eq 0 ]
	# still no keyrings for anyone
	run try_in --cap-add SYS_ADMIN -- keyctl
	[ "$status" -eq 1 ]
}

# The effective capability set of a container's first process, as a hex mask.
cap_eff() { # options...
	cryo run --rm "$@" workload sh -c 'grep CapEff /proc/self/status' | awk '{print $2}'
}

@test "no CAP_MKNOD by default; --cap-add / --cap-drop change the set, and it survives checkpoint and restore" {
	mknod_bit=$((1 << 27)) net_raw_bit=$((1 << 13))
	eff=$((0x$(cap_eff)))
	[ $((eff & mknod_bit)) -eq 0 ]
	[ $((eff & net_raw_bit)) -ne 0 ]
	run cryo run --rm workload mknod /tmp/disk b 7 0
	[ "$status" -ne 0 ]
	[[ "$output" == *"Operation not permitted"* ]]
	eff=$((0x$(cap_eff --cap-add mknod --cap-drop CAP_NET_RAW)))
	[ $((eff & mknod_bit)) -ne 0 ]
	[ $((eff & net_raw_bit)) -eq 0 ]
	[ "$(cap_eff --cap-drop ALL)" = 0000000000000000 ]
	# kept in the container's configuration, so a restored copy has the same set
	cryo run -d --name c --cap-add MKNOD --cap-drop NET_RAW workload sleep 1000 >/dev/null
	cryo checkpoint --leave-running --export "$TEST_DIR/c.tar" c
	# (an import grants capabilities beyond the default set only by name)
	run cryo restore --import "$TEST_DIR/c.tar" --name c2
	assert_status 125
	assert_output_contains 'given the capabilities `CAP_MKNOD`'
	cryo restore --import "$TEST_DIR/c.tar" --name c2 --cap-add mknod
	[ "$(grep CapEff "/proc/$(ctr_pid c2)/status")" = "$(grep CapEff "/proc/$(ctr_pid c)/status")" ]
	# bad names are refused, naming them
	run cryo run --rm --cap-add CAP_BOGUS workload true
	[ "$status" -eq 125 ]
	[[ "$output" == *"unknown capability \`CAP_BOGUS\`"* ]]
	run cryo run --rm --cap-add MKNOD --cap-drop mknod workload true
	[ "$status" -eq 125 ]
	[[ "$output" == *"both added and dropped"* ]]
}

@test "with CAP_MKNOD a container makes device nodes, but the devices cgroup denies using them" {
	run cryo run --rm --cap-add MKNOD workload sh -c \
		'mknod /dev/disk b 7 0 && echo made; head -c 1 /dev/disk >/dev/null && echo read'
	echo "$output"
	[[ "$output" == *made* ]]
	[[ "$output" == *"Operation not permitted"* ]]
	[[ "$output" != *read* ]]
}

@test "the root file system and volumes are mounted nodev,nosuid" {
	run cryo run --rm -v data:/data workload sh -c 'grep -E " / | /data " /proc/mounts'
	echo "$output"
	[ "${#lines[@]}" -eq 2 ]
	for line in "${lines[@]}"; do
		[[ "$line" == *nosuid* ]]
		[[ "$line" == *nodev* ]]
	done
	# the container's own /dev still works
	run cryo run --rm workload sh -c 'echo x > /dev/null && head -c 4 /dev/zero | wc -c'
	[ "$output" = 4 ]
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

@test "a zombie in the container (shown in the root cgroup by cgroup v1) does not make the checkpoint refuse" {
	# init execs a program that never reaps the child the shell left behind
	cryo run -d --name z workload sh -c 'sleep 0.1 & exec sleep 1000' >/dev/null
	zombie() { for p in $(ctr_pids z); do grep -q '^State:.*Z' "/proc/$p/status" && return 0; done; return 1; }
	wait_for 10 zombie
	cryo checkpoint --leave-running --export "$TEST_DIR/z.tar" z
	assert_running_thawed z
	cryo restore --import "$TEST_DIR/z.tar" --name z2
	assert_running_thawed z2
}

# ---- the capture ----

HOSTILE=$WORKLOAD_DIR/hostile

log_has() { # container text
	cryo logs "$1" 2>/dev/null | grep -q "$2"
}

# A host process racing the capture: it keeps exchanging regular files with
# objects of another kind in a volume the container uses.
start_host_swapper() { # dir kind
	"$HOSTILE" swap "$1" 1000 "$2" >"$TEST_DIR/swapper.out" 2>&1 &
	SWAPPER=$!
	ready() { grep -q READY "$TEST_DIR/swapper.out"; }
	wait_for 10 ready
}

stop_host_swapper() {
	kill -9 "$SWAPPER" 2>/dev/null || true
	wait "$SWAPPER" 2>/dev/null || true
}

# Checkpoint $1 six times while something swaps files under the capture (1000
# pairs: about every other capture meets a swap): each one ends within a
# minute, succeeding or refusing with a clear error, and the container is
# running and thawed after each.
checkpoint_under_swaps() { # container
	local i
	for i in 1 2 3 4 5 6; do
		run timeout -k 5 60 "$CRYO" --root "$ROOT" --runroot "$RUNROOT" \
			checkpoint --leave-running --export "$TEST_DIR/s$i.tar" --compress none "$1"
		echo "checkpoint $i: status $status: $output" >&2
		# never stuck (with the container frozen): timeout's TERM (124) is
		# held by a checkpointing cryo, its KILL gives 137
		[ "$status" -ne 124 ] && [ "$status" -ne 137 ]
		if [ "$status" -ne 0 ]; then
			[ "$status" -eq 125 ]
			[[ "$output" == *"changed while it was captured"* ]]
			[ ! -e "$TEST_DIR/s$i.tar" ]
		fi
		assert_running_thawed "$1"
	done
}

@test "a fifo swapped in during the capture never blocks it" {
	cryo run -d --name a -v shared:/data workload sleep 1000 >/dev/null
	start_host_swapper "$ROOT/volumes/shared/_data" fifo
	checkpoint_under_swaps a
	stop_host_swapper
}

@test "a device swapped in during the capture is never read into the archive" {
	# a loop device whose first bytes are a marker; the swapped files are
	# 8 bytes long, so reading the device in their place would copy "DEVBYTES"
	printf 'DEVBYTES%.0s' $(seq 1 512) >"$TEST_DIR/disk.img"
	LOOPDEV=$(losetup -f --show "$TEST_DIR/disk.img")
	HOST_LOOPS+=("$LOOPDEV")
	kind=blk:$((0x$(stat -c %t "$LOOPDEV"))):$((0x$(stat -c %T "$LOOPDEV")))
	cryo run -d --name a -v shared:/data workload sleep 1000 >/dev/null
	start_host_swapper "$ROOT/volumes/shared/_data" "$kind"
	checkpoint_under_swaps a
	stop_host_swapper
	for f in "$TEST_DIR"/s*.tar; do
		[ -e "$f" ] || continue
		! grep -q DEVBYTES "$f"
	done
}

@test "a volume another running container uses is frozen with the checkpointed one" {
	cryo run -d --name a -v shared:/data workload sleep 1000 >/dev/null
	# the neighbour races the capture from inside its own container
	cryo run -d --name b -v shared:/data workload /usr/local/bin/hostile swap /data 200 fifo >/dev/null
	wait_for 10 log_has b READY
	for i in 1 2 3; do
		run timeout -k 5 60 "$CRYO" --root "$ROOT" --runroot "$RUNROOT" \
			checkpoint --leave-running --export "$TEST_DIR/v$i.tar" --compress none a
		echo "$output"
		[ "$status" -eq 0 ]
		assert_running_thawed a
		assert_running_thawed b
	done
	# b was still swapping afterwards (thawed, not stopped)
	a=$(stat -c %Z "$ROOT/volumes/shared/_data")
	sleep 1.2
	[ "$(stat -c %Z "$ROOT/volumes/shared/_data")" != "$a" ]
	# the capture is consistent: every name a whole regular file or a fifo
	tar -xOf "$TEST_DIR/v1.tar" volumes/shared.tar >"$TEST_DIR/shared.tar"
	run tar -tvf "$TEST_DIR/shared.tar"
	[ "$(grep -c '^-.* 8 .*[fx][0-9]*$' <<<"$output")" -eq 200 ]
	[ "$(grep -c '^p.*[fx][0-9]*$' <<<"$output")" -eq 200 ]
}

@test "cryo killed while a neighbour on the volume is frozen: both are thawed" {
	cryo run -d --name a -v shared:/data workload sleep 1000 >/dev/null
	cryo run -d --name b -v shared:/data workload sleep 1000 >/dev/null
	CRYO_TEST_FROZEN_DELAY_MS=5000 "$CRYO" --root "$ROOT" --runroot "$RUNROOT" \
		checkpoint --leave-running --export "$TEST_DIR/k.tar" a >/dev/null 2>&1 &
	cryo_pid=$!
	b_frozen() { [ "$(freezer_state b)" = FROZEN ]; }
	wait_for 60 b_frozen
	kill -9 "$cryo_pid"
	wait "$cryo_pid" || true
	wait_for 60 no_runtime_checkpoint
	b_thawed() { [ "$(freezer_state b)" = THAWED ]; }
	a_thawed() { [ "$(freezer_state a)" = THAWED ]; }
	wait_for 10 b_thawed || { echo "b: $(freezer_state b), a: $(freezer_state a)"; ps -eo pid,ppid,stat,cmd | grep -- "$TEST_DIR" | grep -v grep; false; }
	wait_for 10 a_thawed
	assert_running_thawed a
	assert_running_thawed b
}

@test "cryo killed in the frozen window of a container frozen before the dump (no hook): it is thawed" {
	cryo run -d --name a workload sleep 1000 >/dev/null
	# an older cryo's container: its spec names no CRIU configuration, so
	# cryo freezes it itself before the runtime starts, not in CRIU's hook
	bundle=$ROOT/containers/$(ctr_id a)
	jq 'del(.annotations["org.criu.config"])' "$bundle/config.json" >"$bundle/config.json.new"
	mv "$bundle/config.json.new" "$bundle/config.json"
	CRYO_TEST_FROZEN_DELAY_MS=5000 "$CRYO" --root "$ROOT" --runroot "$RUNROOT" \
		checkpoint --leave-running --export "$TEST_DIR/k.tar" a >/dev/null 2>&1 &
	cryo_pid=$!
	a_frozen() { [ "$(freezer_state a)" = FROZEN ]; }
	wait_for 60 a_frozen
	# past the dump, inside the frozen window's delay
	wait_for 60 no_runtime_checkpoint
	a_frozen || { echo "a thawed before cryo was killed" >&2; false; }
	kill -9 "$cryo_pid"
	wait "$cryo_pid" || true
	a_thawed() { [ "$(freezer_state a)" = THAWED ]; }
	wait_for 10 a_thawed
	assert_running_thawed a
}

@test "a neighbour busy with its own operation makes the checkpoint refuse, naming it" {
	cryo run -d --name a -v shared:/data workload sleep 1000 >/dev/null
	cryo run -d --name b -v shared:/data workload sleep 1000 >/dev/null
	# hold b's lock as a long operation on it would
	bid=$(ctr_id b)
	exec {lockfd}>"$RUNROOT/locks/$bid"
	flock "$lockfd"
	run cryo checkpoint --leave-running --export "$TEST_DIR/c.tar" a
	exec {lockfd}>&-
	echo "$output"
	[ "$status" -eq 125 ]
	[[ "$output" == *"volume \`shared\` is also used by running container \`b\`"* ]]
	[ ! -e "$TEST_DIR/c.tar" ]
	assert_running_thawed a
	assert_running_thawed b
	# once b is free, the checkpoint goes through
	cryo checkpoint --leave-running --export "$TEST_DIR/c.tar" a
}

@test "a 30,000-level tree is refused cleanly, the container thawed" {
	cryo run -d --name deep workload sh -c '/usr/local/bin/hostile deep /tmp 30000 && sleep 1000' >/dev/null
	wait_for 300 log_has deep DONE
	run timeout -k 5 120 "$CRYO" --root "$ROOT" --runroot "$RUNROOT" \
		checkpoint --leave-running --export "$TEST_DIR/d.tar.zst" deep
	echo "$output"
	[ "$status" -eq 125 ]
	[[ "$output" == *"is longer than 4095 bytes inside the container"* ]]
	[ ! -e "$TEST_DIR/d.tar.zst" ]
	[ -z "$(ls "$ROOT/checkpoints")" ]
	assert_running_thawed deep
	# and the container can still be removed, however deep its tree
	cryo rm -f deep
	[ -z "$(ls "$ROOT/containers")" ]
}

# ---- killed commands leave no garbage ----

# No runc checkpoint of this engine running any more (CRIU runs under it).
no_runtime_checkpoint() {
	! pgrep -f -- "--work-path $RUNROOT/" >/dev/null
}

leftovers() {
	ls -d "$ROOT"/checkpoints/*.new-* "$ROOT"/tmp/import-* "$TEST_DIR"/.k*.tmp-* "$ROOT"/claims/* 2>/dev/null
	return 0
}

@test "cryo killed at random moments of 20 checkpoints: always thawed and running, no leftovers after the next command" {
	cryo run -d --name src -v kv:/data workload sh -c 'while :; do date +%s%N > /data/t; sleep 0.01; done' >/dev/null
	wait_for 10 test -s "$ROOT/volumes/kv/_data/t"
	# running: its clock file moves (read from the host, no exec needed)
	ticking() {
		local a
		a=$(cat "$ROOT/volumes/kv/_data/t")
		sleep 0.05
		[ "$(cat "$ROOT/volumes/kv/_data/t")" != "$a" ]
	}
	for i in $(seq 1 20); do
		delay=$((RANDOM % 1500))
		"$CRYO" --root "$ROOT" --runroot "$RUNROOT" \
			checkpoint --leave-running --export "$TEST_DIR/k$i.tar.zst" src >/dev/null 2>&1 &
		pid=$!
		sleep "$((delay / 1000)).$(printf %03d $((delay % 1000)))"
		kill -9 "$pid" 2>/dev/null || true
		wait "$pid" || true
		echo "round $i: killed after ${delay} ms" >&2
		# runc and CRIU finish on their own; the freeze hook's watchdog then thaws
		wait_for 60 no_runtime_checkpoint
		thawed() { [ "$(freezer_state src)" = THAWED ]; }
		wait_for 10 thawed
		# On failure, show the container's tasks: a stopped or traced task
		# (state T/t) and a stalled writer call for different fixes.
		wait_for 5 ticking || {
			ps -o pid,ppid,stat,wchan:32,args -p "$(paste -sd, "$(freezer_cgroup_dir "$(cryo inspect src | jq -r '.[0].State.Pid')")/cgroup.procs")" >&2
			false
		}
	done
	assert_running_thawed src
	# the next command collects what the killed ones left
	cryo ps >/dev/null
	run leftovers
	echo "$output"
	[ -z "$output" ]
}

@test "system prune and info report the space killed commands left" {
	cryo run -d --name src workload sleep 1000 >/dev/null
	id=$(ctr_id src)
	# what a killed checkpoint and a killed import leave: staging with a
	# claim whose owner is gone, and an import directory nobody claims
	mkdir -p "$ROOT/checkpoints/$id.new-deadbeef/checkpoint" "$ROOT/tmp/import-0123456789ab" "$ROOT/claims"
	head -c 1048576 /dev/zero >"$ROOT/checkpoints/$id.new-deadbeef/checkpoint/pages-1.img"
	head -c 65536 /dev/zero >"$ROOT/tmp/import-0123456789ab/rootfs-diff.tar"
	head -c 4096 /dev/zero >"$TEST_DIR/.c.tar.zst.tmp-AbC123"
	echo keep >"$TEST_DIR/.c.tar.zst.tmp-not-mine"
	sh -c 'exit 0' & gone=$!
	wait "$gone"
	printf '%s 1 %s\np %s\nx %s\n' "$gone" "$(cat /proc/sys/kernel/random/boot_id)" \
		"$ROOT/checkpoints/$id.new-deadbeef" "$TEST_DIR/.c.tar.zst.tmp-" >"$ROOT/claims/$gone-0.claim"
	# a claim whose owner lives (this shell holds its lock) is left alone
	mkdir -p "$ROOT/checkpoints/$id.new-live0000"
	printf '%s %s %s\np %s\n' "$$" "$(awk '{print $22}' /proc/$$/stat)" "$(cat /proc/sys/kernel/random/boot_id)" \
		"$ROOT/checkpoints/$id.new-live0000" >"$ROOT/claims/$$-1.claim"
	exec {claimfd}<>"$ROOT/claims/$$-1.claim"
	flock "$claimfd"
	run cryo info --format json
	[ "$status" -eq 0 ]
	removed=$(jq -r .store.leftovers_removed_bytes <<<"$output")
	echo "removed $removed bytes"
	[ "$removed" -ge $((1048576 + 65536 + 4096)) ]
	[ "$(jq -r .store.scratch_in_use_bytes <<<"$output")" -gt 0 ]
	[ ! -e "$ROOT/checkpoints/$id.new-deadbeef" ]
	[ ! -e "$ROOT/tmp/import-0123456789ab" ]
	[ ! -e "$TEST_DIR/.c.tar.zst.tmp-AbC123" ]
	[ ! -e "$ROOT/claims/$gone-0.claim" ]
	# not an export's temporary name, not under a dead claim: kept
	[ "$(cat "$TEST_DIR/.c.tar.zst.tmp-not-mine")" = keep ]
	[ -d "$ROOT/checkpoints/$id.new-live0000" ]
	# prune: nothing left to remove now, the live claim still honoured
	run cryo system prune
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"leftovers removed: 0 files"* ]]
	[[ "$output" == *"still in use by running commands"* ]]
	[ -d "$ROOT/checkpoints/$id.new-live0000" ]
	# once its owner lets go (and is not the process it names), it is garbage too
	exec {claimfd}>&-
	printf '1 1 %s\np %s\n' "$(cat /proc/sys/kernel/random/boot_id)" "$ROOT/checkpoints/$id.new-live0000" \
		>"$ROOT/claims/$$-1.claim"
	run cryo system prune
	echo "$output"
	[[ "$output" != *"leftovers removed: 0 files"* ]]
	[ ! -e "$ROOT/checkpoints/$id.new-live0000" ]
	[ -z "$(ls "$ROOT/claims")" ]
}

@test "an import kept by a failed restore --keep is not taken for a leftover" {
	cryo run -d --name src -v busy:/data workload sleep 1000 >/dev/null
	cryo checkpoint --leave-running --export "$TEST_DIR/c.tar" src
	# fails once the container exists: its volume is in use by src
	# (--replace-volumes takes it past the import policy to that check)
	run cryo restore --import "$TEST_DIR/c.tar" --name copy --keep --replace-volumes
	[ "$status" -eq 125 ]
	[[ "$output" == *"container \`src\` is using it"* ]]
	cryo ps >/dev/null
	ls "$ROOT"/tmp/kept-*/config.dump
	run leftovers
	[ -z "$output" ]
}
