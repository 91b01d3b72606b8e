#!/usr/bin/env bats
# Checkpoint and restore through the real CLI, runc and CRIU.

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

# A second engine on the same machine: "another host" for migrations.
cryo2() {
	"$CRYO" --root "$TEST_DIR/root2" --runroot "$TEST_DIR/run2" "$@"
}

# The two-host trust step: engine 2 accepts archives signed by engine 1.
trust_engine1_on_engine2() {
	cryo key show | cryo2 trust add - >/dev/null
}

counter_cmd=(/usr/local/bin/counter --file /state/counter --stats /state/stats)

log_has() { # engine-function container text
	"$1" logs "$2" 2>/dev/null | grep -q "$3"
}

# The counter value the container's workload last wrote (read inside it).
counter_value() { # engine-function container [file]
	"$1" exec "$2" cat "${3:-/state/counter}" | tr -d ' \n' | sed 's/^0*//;s/^$/0/'
}

# Restored container $2 (engine $1) must have run its loop again and found no
# violation: it is consistent, running and making progress.
counter_advanced() { # engine-function container file value
	local v
	v=$(counter_value "$1" "$2" "$3") && [ "$v" -gt "$4" ]
}

assert_consistent_and_running() { # engine-function container [file]
	local eng=$1 ctr=$2 file=${3:-/state/counter} a
	readable() { a=$(counter_value "$eng" "$ctr" "$file") && [ -n "$a" ]; }
	wait_for 10 readable
	wait_for 10 counter_advanced "$eng" "$ctr" "$file" "$a"
	run "$eng" logs "$ctr"
	if grep -q VIOLATION <<<"$output"; then
		echo "restored container $ctr is inconsistent:" >&2
		grep VIOLATION <<<"$output" >&2
		return 1
	fi
	run "$eng" inspect "$ctr"
	[ "$(jq -r '.[0].State.Status' <<<"$output")" = running ]
}

# The cgroup directory holding container $2's freezer (engine function $1).
container_cgroup_dir() { # engine-function container
	local pid
	pid=$("$1" inspect "$2" | jq -r '.[0].State.Pid') && freezer_cgroup_dir "$pid"
}

# Container $2's memory and pids limits as its cgroups hold them: "BYTES PIDS".
cgroup_limits() { # engine-function container
	local pid
	pid=$("$1" inspect "$2" | jq -r '.[0].State.Pid') || return 1
	if [ "$(cgroup_host_kind)" = v2 ]; then
		local dir
		dir=/sys/fs/cgroup$(awk -F: '$1 == 0 {print $3}' "/proc/$pid/cgroup")
		echo "$(cat "$dir/memory.max") $(cat "$dir/pids.max")"
	else
		local mem pids
		mem=$(awk -F: '$2 ~ /(^|,)memory(,|$)/ {print $3}' "/proc/$pid/cgroup")
		pids=$(awk -F: '$2 ~ /(^|,)pids(,|$)/ {print $3}' "/proc/$pid/cgroup")
		echo "$(cat "/sys/fs/cgroup/memory$mem/memory.limit_in_bytes") $(cat "/sys/fs/cgroup/pids$pids/pids.max")"
	fi
}

# Live checkpoint + export, restore under a new name, N times. Echo how many
# restored containers were inconsistent: saw a violation, or could not be
# restored because a file the memory image has open was gone from the file
# system captured with it (the same inconsistency, caught by CRIU one step
# earlier: without the freeze the counter's stats.tmp comes and goes). Any
# other failure fails the run; what went wrong goes to stderr.
consistency_cycles() { # n file-in-container engine-for-restores [restore options...]
	local n=$1 file=$2 eng=$3 bad=0 i out a
	shift 3
	for i in $(seq 1 "$n"); do
		cryo checkpoint --leave-running --export "$TEST_DIR/cp$i.tar.zst" src >/dev/null || return 1
		if ! out=$("$eng" restore --import "$TEST_DIR/cp$i.tar.zst" --name "r$i" "$@" 2>&1); then
			echo "restore $i failed: $out" >&2
			grep -q "Can't open file" <<<"$out" || return 1
			bad=$((bad + 1))
			rm -f "$TEST_DIR/cp$i.tar.zst"
			continue
		fi
		# let the restored counter run its loop again, then look
		a=$(counter_value "$eng" "r$i" "$file")
		wait_for 10 counter_advanced "$eng" "r$i" "$file" "$a"
		if "$eng" logs "r$i" | grep VIOLATION >&2; then
			bad=$((bad + 1))
		fi
		"$eng" rm -f "r$i" >/dev/null
		rm -f "$TEST_DIR/cp$i.tar.zst"
	done
	echo "$bad"
}

start_counter() { # [extra run options...]
	cryo run -d --name src "$@" workload "${counter_cmd[@]}" >/dev/null
	wait_for 10 log_has cryo src READY
}

@test "consistency: 10 live checkpoints restored from the archive, no violation in any" {
	start_counter
	run --separate-stderr consistency_cycles 10 /state/counter cryo
	echo "$stderr"
	[ "$status" -eq 0 ]
	[ "$output" = 0 ]
	# the source kept running, unfrozen
	[ "$(freezer_state cryo src)" = THAWED ]
	assert_consistent_and_running cryo src
}

@test "consistency on a bridge network: 5 live checkpoints restored beside it, no violation in any" {
	start_counter --network cryo
	run --separate-stderr consistency_cycles 5 /state/counter cryo --ignore-static-ip
	echo "$stderr"
	[ "$status" -eq 0 ]
	[ "$output" = 0 ]
	[ "$(freezer_state cryo src)" = THAWED ]
	assert_consistent_and_running cryo src
	# it had its own network namespace, which CRIU locked during each dump
	[ "$(cryo inspect src | jq -r '.[0].NetworkSettings.network')" = cryo ]
}

@test "consistency negative control: without the freeze, restored containers are inconsistent" {
	start_counter
	export CRYO_TEST_DISABLE_FREEZE=1
	run --separate-stderr consistency_cycles 10 /state/counter cryo
	echo "$stderr"
	unset CRYO_TEST_DISABLE_FREEZE
	[ "$status" -eq 0 ]
	echo "inconsistent restores without freeze: $output of 10"
	[ "$output" -ge 1 ]
}

@test "consistency with the counter on a named volume, restored on another engine" {
	cryo2 image import "$(workload_rootfs_tar)" workload >/dev/null
	trust_engine1_on_engine2
	cryo run -d --name src -v cvol:/data workload /usr/local/bin/counter --file /data/counter --stats /data/stats >/dev/null
	wait_for 10 log_has cryo src READY
	# each cycle's restore gets the volume again: the previous one's data is replaced
	run --separate-stderr consistency_cycles 10 /data/counter cryo2 --replace-volumes
	echo "$stderr"
	[ "$status" -eq 0 ]
	[ "$output" = 0 ]
}

@test "a paused container stays paused after a live checkpoint, and the restore runs" {
	start_counter
	cryo pause src
	cryo checkpoint --leave-running --export "$TEST_DIR/p.tar" --compress none src
	assert_container_status src paused
	assert_freezer_state cryo src FROZEN
	# it was frozen when CRIU dumped it: the restored copy must still run
	cryo restore --import "$TEST_DIR/p.tar" --name copy
	assert_freezer_state cryo copy THAWED
	assert_consistent_and_running cryo copy
	cryo unpause src
	assert_consistent_and_running cryo src
}

@test "a copy restored beside its source has a cgroup of its own: pausing it leaves the source running" {
	start_counter
	cryo checkpoint --leave-running --export "$TEST_DIR/c.tar.zst" src
	cryo restore --import "$TEST_DIR/c.tar.zst" --name copy
	local copy_id
	copy_id=$(cryo inspect copy | jq -r '.[0].Id')
	run container_cgroup_dir cryo copy
	[[ "$output" == */cryo/"$copy_id" ]]
	cryo pause copy
	[ "$(freezer_state cryo copy)" = FROZEN ]
	[ "$(freezer_state cryo src)" = THAWED ]
	assert_consistent_and_running cryo src
	cryo unpause copy
	assert_consistent_and_running cryo copy
}

@test "memory and pids limits come back with a restored container" {
	require_cgroup_controller memory
	require_cgroup_controller pids
	start_counter --memory 64m --pids-limit 50
	[ "$(cgroup_limits cryo src)" = "67108864 50" ]
	cryo checkpoint --leave-running --export "$TEST_DIR/l.tar.zst" src
	cryo restore --import "$TEST_DIR/l.tar.zst" --name lim
	[ "$(cgroup_limits cryo lim)" = "67108864 50" ]
	assert_consistent_and_running cryo lim
}

has_cgroup_controller() { # controller
	if [ "$(cgroup_host_kind)" = v2 ]; then
		grep -qw "$1" /sys/fs/cgroup/cgroup.controllers
	else
		[ "$(stat -f -c %T "/sys/fs/cgroup/$1" 2>/dev/null)" = cgroupfs ]
	fi
}

@test "an import without limits gets the engine's defaults where the host can enforce them, and says so where it cannot" {
	start_counter
	cryo checkpoint --leave-running --export "$TEST_DIR/n.tar.zst" src
	run --separate-stderr cryo restore --import "$TEST_DIR/n.tar.zst" --name nolim
	[ "$status" -eq 0 ]
	config=$(cryo inspect nolim | jq -c '.[0].Config | [.memory_limit, .pids_limit]')
	echo "config: $config; stderr: $stderr"
	local want_memory=0 want_pids=0
	if has_cgroup_controller memory; then
		want_memory=$((8 << 30))
		[[ "$stderr" != *"no memory controller"* ]]
	else
		[[ "$stderr" == *"sets no memory limit and this host's cgroups have no memory controller"* ]]
	fi
	if has_cgroup_controller pids; then
		want_pids=4096
		[[ "$stderr" != *"no pids controller"* ]]
	else
		[[ "$stderr" == *"default import.pids_limit is not applied"* ]]
	fi
	[ "$config" = "[$want_memory,$want_pids]" ]
	assert_consistent_and_running cryo nolim
}

# A container with an established TCP connection: CRIU refuses to dump it
# without --tcp-established.
start_tcp_container() {
	local port=$((20000 + RANDOM % 20000))
	# both ends inside the container (host network: loopback is up)
	cryo run -d --name tcp --network host workload sh -c \
		"sleep 1000 | nc -l -p $port & sleep 0.3; sleep 1000 | nc 127.0.0.1 $port" >/dev/null
	established() { cryo exec tcp netstat -tn | grep -q ESTABLISHED; }
	wait_for 5 established
}

@test "a failed live checkpoint leaves the container running and thawed, with CRIU's errors and no archive" {
	start_tcp_container
	run cryo checkpoint --leave-running --export "$TEST_DIR/fail.tar.zst" tcp
	[ "$status" -eq 125 ]
	[[ "$output" == *"CRIU errors"* ]]
	[[ "$output" == *"Error"* ]]
	[ ! -e "$TEST_DIR/fail.tar.zst" ]
	assert_no_file_matching "$TEST_DIR/*fail.tar.zst*"
	[ -z "$(ls "$ROOT/checkpoints")" ]
	run cryo inspect tcp
	[ "$(jq -r '.[0].State.Status' <<<"$output")" = running ]
	[ "$(freezer_state cryo tcp)" = THAWED ]
}

@test "a failed checkpoint of a paused container leaves it paused" {
	start_tcp_container
	cryo pause tcp
	run cryo checkpoint --leave-running --export "$TEST_DIR/fail.tar.zst" tcp
	[ "$status" -eq 125 ]
	[ ! -e "$TEST_DIR/fail.tar.zst" ]
	run cryo inspect tcp
	[ "$(jq -r '.[0].State.Status' <<<"$output")" = paused ]
	[ "$(freezer_state cryo tcp)" = FROZEN ]
}

@test "a stopping checkpoint whose capture fails leaves the container running, its process and files intact" {
	start_counter
	cryo exec src sh -c 'echo kept > /marker'
	pid=$(cryo inspect src | jq -r '.[0].State.Pid')
	run env CRYO_TEST_FAIL_ROOTFS_CAPTURE=1 "$CRYO" --root "$ROOT" --runroot "$RUNROOT" checkpoint src
	assert_status 125
	assert_output_contains "capture root file system changes"
	assert_output_contains "CRYO_TEST_FAIL_ROOTFS_CAPTURE"
	assert_container_status src running
	assert_equal "$(cryo inspect src | jq -r '.[0].State.Pid')" "$pid" "the container's init"
	kill -0 "$pid"
	assert_freezer_state cryo src THAWED
	assert_equal "$(cryo exec src cat /marker)" kept "/marker in the container"
	assert_consistent_and_running cryo src
	assert_equal "$(ls -A "$ROOT/checkpoints")" "" "checkpoints left behind"
	# negative control: without the switch the same checkpoint stops it
	cryo checkpoint src
	assert_container_status src checkpointed
}

@test "a stopping checkpoint whose export fails keeps the checkpoint in the engine, and the restore runs" {
	start_counter
	# a file system too small for the archive: the export fails after the dump
	mkdir "$TEST_DIR/full"
	mount -t tmpfs -o size=16k tmpfs "$TEST_DIR/full"
	run cryo checkpoint --export "$TEST_DIR/full/c.tar.zst" src
	assert_status 125
	assert_output_contains "export checkpoint"
	assert_output_contains "kept in the engine"
	assert_container_status src checkpointed
	# the export's temporary file is hidden (.NAME.tmp-*): ls -A sees it
	assert_equal "$(ls -A "$TEST_DIR/full")" "" "files left in the export directory"
	cryo restore src
	assert_consistent_and_running cryo src
}

@test "a stopping checkpoint whose record fails after its dump keeps the checkpoint's files and names them" {
	start_counter
	id=$(cryo inspect src | jq -r '.[0].Id')
	CRYO_TEST_FAIL_RECORD=1 run cryo checkpoint src
	assert_status 125
	assert_output_contains "failed by the test switch"
	assert_output_contains "CRIU's images are in \`$ROOT/checkpoints/$id\`"
	# the second try to keep it must not have removed what the first kept
	assert_equal "$(ls "$ROOT/checkpoints/$id")" "$(printf '%s\n' checkpoint config.dump deleted.files rootfs-diff.tar spec.dump stats-dump stats-dump.json volumes)" \
		"files of the kept checkpoint"
	assert_equal "$(find "$ROOT/checkpoints/$id/checkpoint" -name 'pages-*.img' | wc -l)" 1 "CRIU's page images"
}

@test "an unwritable export target fails before touching the container, leaving no archive" {
	start_counter
	mkdir "$TEST_DIR/ro"
	chattr +i "$TEST_DIR/ro" 2>/dev/null || chmod 0500 "$TEST_DIR/ro"
	run cryo checkpoint --leave-running --export "$TEST_DIR/ro/c.tar.zst" src
	chattr -i "$TEST_DIR/ro" 2>/dev/null || true
	[ "$status" -eq 125 ]
	[[ "$output" == *"ro"* ]]
	[ -z "$(ls -A "$TEST_DIR/ro")" ]
	run cryo checkpoint --leave-running --export "$TEST_DIR/nodir/c.tar.zst" src
	[ "$status" -eq 125 ]
	[ "$(freezer_state cryo src)" = THAWED ]
	assert_consistent_and_running cryo src
}

@test "cryo killed inside the frozen window: the container is thawed and runs on" {
	start_counter
	CRYO_TEST_FROZEN_DELAY_MS=5000 "$CRYO" --root "$ROOT" --runroot "$RUNROOT" \
		checkpoint --leave-running --export "$TEST_DIR/k.tar.zst" src >/dev/null 2>&1 &
	local cryo_pid=$!
	frozen() { [ "$(freezer_state cryo src)" = FROZEN ]; }
	wait_for 20 frozen
	kill -9 "$cryo_pid"
	wait "$cryo_pid" || true
	# CRIU itself thaws the cgroup while it holds the tasks with ptrace and
	# freezes it again when done: judge only once CRIU has finished (this
	# engine's runc checkpoint, which waits for its CRIU; other engines' CRIU
	# may run on the machine meanwhile).
	criu_done() { ! pgrep -f -- "--work-path $RUNROOT/" >/dev/null; }
	wait_for 60 criu_done
	thawed() { [ "$(freezer_state cryo src)" = THAWED ]; }
	wait_for 10 thawed
	sleep 0.5
	thawed
	assert_consistent_and_running cryo src
	[ ! -e "$TEST_DIR/k.tar.zst" ]
}

@test "SIGTERM inside the frozen window waits: the checkpoint finishes and prints, then cryo ends" {
	start_counter
	CRYO_TEST_FROZEN_DELAY_MS=3000 "$CRYO" --root "$ROOT" --runroot "$RUNROOT" \
		checkpoint --leave-running --export "$TEST_DIR/i.tar.zst" src >"$TEST_DIR/out" 2>&1 &
	local cryo_pid=$! rc=0
	frozen() { [ "$(freezer_state cryo src)" = FROZEN ]; }
	wait_for 20 frozen
	# (SIGTERM: a background job of a script ignores SIGINT, as Ctrl-C is held the same way)
	kill -TERM "$cryo_pid"
	wait "$cryo_pid" || rc=$?
	# held until the checkpoint was done and reported, then it ended cryo (128 + SIGTERM)
	echo "exit status: $rc; output: $(cat "$TEST_DIR/out")"
	[ "$rc" -eq 143 ]
	[ "$(cat "$TEST_DIR/out")" = src ]
	[ -s "$TEST_DIR/i.tar.zst" ]
	[ "$(freezer_state cryo src)" = THAWED ]
	assert_consistent_and_running cryo src
}

@test "a failed in-place restore keeps the container's newer files and volume data" {
	cryo run -d --name keep -v kv:/data workload sh -c 'echo before > /marker; echo before > /data/f; sleep 1000' >/dev/null
	wait_for 5 test -s "$ROOT/volumes/kv/_data/f"
	cryo checkpoint --leave-running keep
	cryo exec keep sh -c 'echo after > /marker; echo after > /data/f'
	cryo stop -t 1 keep
	id=$(cryo inspect keep | jq -r '.[0].Id')
	# damage the kept checkpoint's memory images: CRIU cannot restore it
	rm -f "$ROOT/checkpoints/$id/checkpoint/"pages-*.img
	run cryo restore keep
	[ "$status" -eq 125 ]
	[ "$(cat "$ROOT/containers/$id/upper/marker")" = after ]
	[ "$(cat "$ROOT/volumes/kv/_data/f")" = after ]
	run cryo inspect keep
	[ "$(jq -r '.[0].State.Status' <<<"$output")" = exited ]
	! grep -q "$ROOT/containers/$id/rootfs" /proc/self/mountinfo
}

@test "stopping checkpoint, then same-host restore" {
	start_counter
	cryo checkpoint src
	run cryo inspect src
	[ "$(jq -r '.[0].State.Status' <<<"$output")" = checkpointed ]
	run cryo start src
	[ "$status" -eq 125 ]
	[[ "$output" == *"restore"* ]]
	cryo restore src
	assert_consistent_and_running cryo src
	# and it can be checkpointed again
	cryo checkpoint --leave-running --export "$TEST_DIR/again.tar.zst" src
	[ -s "$TEST_DIR/again.tar.zst" ]
}

@test "export, rm, import; and import into a second engine (another host)" {
	start_counter -v keep:/data
	cryo checkpoint --export "$TEST_DIR/c.tar.zst" src
	[ "$(stat -c %a "$TEST_DIR/c.tar.zst")" = 600 ]
	cryo rm -f src
	# the volume outlived its container: the import overwrites it only when told
	cryo restore --import "$TEST_DIR/c.tar.zst" --replace-volumes
	assert_consistent_and_running cryo src
	trust_engine1_on_engine2
	# the second engine has no image yet: a clear error naming it, nothing left behind
	run cryo2 restore --import "$TEST_DIR/c.tar.zst"
	[ "$status" -eq 125 ]
	[[ "$output" == *"workload"* ]]
	[[ "$output" == *"import or load it first"* ]]
	run cryo2 ps -a -q
	[ -z "$output" ]
	cryo2 image import "$(workload_rootfs_tar)" workload >/dev/null
	cryo2 restore --import "$TEST_DIR/c.tar.zst"
	assert_consistent_and_running cryo2 src
	run cryo2 volume ls
	[[ "$output" == *keep* ]]
	cryo2 rm -f src
}

@test "the same archive restored twice under two names, both running" {
	start_counter
	cryo checkpoint --leave-running --export "$TEST_DIR/c.tar.zst" src
	run cryo restore --import "$TEST_DIR/c.tar.zst"
	[ "$status" -eq 125 ]
	[[ "$output" == *"--name"* ]]
	cryo restore --import "$TEST_DIR/c.tar.zst" --name twin1
	cryo restore --import "$TEST_DIR/c.tar.zst" --name twin2
	assert_consistent_and_running cryo twin1
	assert_consistent_and_running cryo twin2
	# full citizens: logs, stop, wait, rm
	cryo stop -t 1 twin1
	run cryo wait twin1
	[ "$status" -eq 0 ]
	cryo rm twin1
	cryo rm -f twin2
}

@test "process tree, pipes, open files and file-system changes survive restore" {
	cryo run -d --name tree workload sh -c '
		rm /bin/vi                     # a file deleted from the image
		echo created > /created        # a new file
		echo modified >> /etc/passwd   # a modified file
		rm -rf /home; mkdir /home; echo fresh > /home/only  # a directory replaced
		mkdir -p /state; exec /usr/local/bin/proctree --dir /state' >/dev/null
	pids_written() { [ -n "$(cryo exec tree cat /state/tree.pids 2>/dev/null)" ]; }
	wait_for 10 pids_written
	before=$(cryo exec tree cat /state/tree.pids)
	cryo checkpoint --leave-running --export "$TEST_DIR/t.tar.zst" tree
	cryo restore --import "$TEST_DIR/t.tar.zst" --name tree2
	run cryo exec tree2 cat /state/tree.pids
	[ "$output" = "$before" ]
	run cryo exec tree2 ps -o pid,comm
	[ "$(grep -c proctree <<<"$output")" -eq 3 ]
	run cryo exec tree2 sh -c 'test ! -e /bin/vi && cat /created && tail -n1 /etc/passwd && ls /home'
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = created ]
	[ "${lines[1]}" = modified ]
	[ "${lines[2]}" = only ]
	# still appending through the pipes and its open file after restore
	n1=$(cryo exec tree2 sh -c 'wc -l < /state/tree.log')
	log_grew() { [ "$(cryo exec tree2 sh -c 'wc -l < /state/tree.log')" -gt "$n1" ]; }
	wait_for 10 log_grew
}

@test "every --compress value produces a restorable archive of that format" {
	start_counter
	for alg in zstd gzip none; do
		cryo checkpoint --leave-running --export "$TEST_DIR/c.$alg" --compress "$alg" src
		case $alg in
		zstd) file "$TEST_DIR/c.$alg" | grep -qi zstandard ;;
		gzip) file "$TEST_DIR/c.$alg" | grep -qi gzip ;;
		none) file "$TEST_DIR/c.$alg" | grep -qi tar ;;
		esac
		cryo restore --import "$TEST_DIR/c.$alg" --name "r-$alg"
		assert_consistent_and_running cryo "r-$alg"
		cryo rm -f "r-$alg"
	done
	run cryo checkpoint --leave-running --export "$TEST_DIR/c.x" --compress lz4 src
	[ "$status" -eq 125 ]
}

@test "--ignore-rootfs and --ignore-volumes leave those out; --keep keeps the files" {
	cryo run -d --name s -v iv:/data workload sh -c 'echo in-rootfs > /marker; echo in-volume > /data/v; sleep 1000' >/dev/null
	wait_for 5 test -s "$ROOT/volumes/iv/_data/v"
	cryo checkpoint --leave-running --ignore-rootfs --ignore-volumes --export "$TEST_DIR/bare.tar" --compress none s
	run tar -tf "$TEST_DIR/bare.tar"
	[[ "$output" != *rootfs-diff.tar* ]]
	[[ "$output" != *volumes/iv.tar* ]]
	[[ "$output" == *checkpoint/* ]]
	cryo checkpoint --leave-running --keep --export "$TEST_DIR/full.tar" --compress none s
	run tar -tf "$TEST_DIR/full.tar"
	[[ "$output" == *rootfs-diff.tar* ]]
	[[ "$output" == *volumes/iv.tar* ]]
	id=$(cryo inspect s | jq -r '.[0].Id')
	[ -d "$ROOT/checkpoints/$id/checkpoint" ]
	# a restore on another engine without the volume's contents
	cryo2 image import "$(workload_rootfs_tar)" workload >/dev/null
	trust_engine1_on_engine2
	cryo2 restore --import "$TEST_DIR/full.tar" --ignore-volumes --name nv
	run cryo2 exec nv cat /marker
	[ "$output" = in-rootfs ]
	run cryo2 exec nv cat /data/v
	[ "$status" -ne 0 ]
	# the volume is nv's now: restoring its contents under a running user is refused
	run cryo2 restore --import "$TEST_DIR/full.tar" --name withv --replace-volumes
	[ "$status" -eq 125 ]
	[[ "$output" == *"container \`nv\` is using it"* ]]
	cryo2 rm -f nv
	cryo2 restore --import "$TEST_DIR/full.tar" --name withv --replace-volumes
	run cryo2 exec withv cat /data/v
	[ "$output" = in-volume ]
	cryo2 rm -f withv
}

@test "CRIU steps the way cryo info says: by syscall exactly when info reports CRIU_FAULT=130" {
	run cryo info --format json
	local stepping
	stepping=$(jq -r .checkpoint.criu_stepping <<<"$output")
	[[ "$stepping" == breakpoints || "$stepping" == syscall ]]
	start_counter
	cryo checkpoint --leave-running --keep --export "$TEST_DIR/s.tar.zst" src
	cryo restore --import "$TEST_DIR/s.tar.zst" --keep --name copy
	local id copy_id
	id=$(cryo inspect src | jq -r '.[0].Id')
	copy_id=$(cryo inspect copy | jq -r '.[0].Id')
	local dump_log=$RUNROOT/containers/$id/checkpoint-work/dump.log
	local restore_log=$RUNROOT/containers/$copy_id/restore-work/restore.log
	[ -s "$dump_log" ] && [ -s "$restore_log" ]
	# compel logs this line for every task it stops by syscall rather than at a breakpoint
	if [ "$stepping" = syscall ]; then
		grep -q 'Force no-breakpoints' "$dump_log"
		grep -q 'Force no-breakpoints' "$restore_log"
	else
		! grep -q 'Force no-breakpoints' "$dump_log"
		! grep -q 'Force no-breakpoints' "$restore_log"
	fi
	assert_consistent_and_running cryo copy
}

@test "--print-stats reports the frozen window and CRIU's numbers" {
	start_counter
	run --separate-stderr cryo checkpoint --leave-running --export "$TEST_DIR/s.tar.zst" --print-stats src
	[ "$status" -eq 0 ]
	for k in checkpoint_duration runtime_checkpoint_duration frozen_window freezing_time frozen_time memdump_time memwrite_time pages_scanned pages_written; do
		jq -e ".$k >= 0" <<<"$output" >/dev/null
	done
	# cryo's frozen window contains CRIU's own (it freezes first, thaws last),
	# and ends before the command does
	jq -e '.frozen_window >= .frozen_time and .frozen_window <= .checkpoint_duration' <<<"$output"
	run --separate-stderr cryo restore --import "$TEST_DIR/s.tar.zst" --name st --print-stats
	[ "$status" -eq 0 ]
	for k in restore_duration runtime_restore_duration forking_time restore_time pages_restored; do
		jq -e ".$k >= 0" <<<"$output" >/dev/null
	done
	# a stopping checkpoint has no frozen window of cryo's
	run --separate-stderr cryo checkpoint --print-stats st
	jq -e '.frozen_window == 0' <<<"$output"
}

@test "--no-sync exports a complete, restorable archive without waiting for the disk; the default is durable" {
	start_counter
	run --separate-stderr cryo checkpoint --leave-running --export "$TEST_DIR/d.tar.zst" --print-stats src
	[ "$status" -eq 0 ]
	jq -e '.archive_synced == true' <<<"$output"
	run --separate-stderr cryo checkpoint --leave-running --export "$TEST_DIR/n.tar.zst" --no-sync --print-stats src
	echo "$stderr"
	[ "$status" -eq 0 ]
	jq -e '.archive_synced == false and .archive_size > 0' <<<"$output"
	[ "$(stat -c %a "$TEST_DIR/n.tar.zst")" = 600 ]
	run --separate-stderr cryo restore --import "$TEST_DIR/n.tar.zst" --name nosync
	echo "$stderr"
	[ "$status" -eq 0 ]
	assert_consistent_and_running cryo nosync
	# only for an archive file
	run cryo checkpoint --leave-running --no-sync src
	[ "$status" -eq 125 ]
	[[ "$output" == *"--no-sync only applies with --export FILE"* ]]
	run cryo checkpoint --leave-running --export - --no-sync src
	[ "$status" -eq 125 ]
	[[ "$output" == *"a stream is never synced"* ]]
}

# What container $2 (engine $1) sees at /sys/firmware: "MODE ENTRIES WRITE" with
# WRITE "refused" when creating a file there fails.
firmware_view() { # engine-function container
	"$1" exec "$2" sh -c 'printf "%s %s " "$(stat -c %a /sys/firmware)" "$(ls -A /sys/firmware | wc -l)";
		if touch /sys/firmware/x 2>/dev/null; then echo written; else echo refused; fi'
}

@test "/sys/firmware stays masked (empty, read-only) without a tmpfs, before and after a restore" {
	start_counter
	[ "$(firmware_view cryo src)" = "1777 0 refused" ]
	# the mask is not a tmpfs: CRIU would archive it inside the frozen window
	[ "$(cryo exec src awk '$2 == "/sys/firmware" {print $3}' /proc/mounts)" != tmpfs ]
	cryo checkpoint --leave-running --export "$TEST_DIR/f.tar.zst" src >/dev/null
	cryo restore --import "$TEST_DIR/f.tar.zst" --name r >/dev/null
	[ "$(firmware_view cryo r)" = "1777 0 refused" ]
	assert_consistent_and_running cryo r
}

# A checkpoint of container $1 with an iptables-restore on PATH that records
# each call (CRIU's network lock runs it and logs nothing) in
# $TEST_DIR/iptables-restore.calls, then runs the real one. Prints --print-stats.
checkpoint_spying_iptables() { # container [checkpoint options...]
	local name=$1 real
	shift
	real=$(command -v iptables-restore)
	mkdir -p "$TEST_DIR/spy"
	printf '#!/bin/sh\necho "$*" >>%s/iptables-restore.calls\nexec %s "$@"\n' "$TEST_DIR" "$real" >"$TEST_DIR/spy/iptables-restore"
	chmod +x "$TEST_DIR/spy/iptables-restore"
	PATH=$TEST_DIR/spy:$PATH cryo checkpoint --leave-running --print-stats "$@" "$name"
}

@test "a --network none container (only lo) is checkpointed and restored without CRIU's network lock" {
	start_counter --network none
	run --separate-stderr checkpoint_spying_iptables src --export "$TEST_DIR/n.tar.zst"
	echo "$stderr"
	[ "$status" -eq 0 ]
	jq -e '.network_lock == false' <<<"$output"
	[ ! -e "$TEST_DIR/iptables-restore.calls" ]
	run --separate-stderr cryo restore --import "$TEST_DIR/n.tar.zst" --name r
	echo "$stderr"
	[ "$status" -eq 0 ]
	assert_consistent_and_running cryo r
}

@test "a container on a bridge network keeps CRIU's network lock" {
	start_counter --network cryo
	run --separate-stderr checkpoint_spying_iptables src --export "$TEST_DIR/b.tar.zst"
	echo "$stderr"
	[ "$status" -eq 0 ]
	jq -e '.network_lock == true' <<<"$output"
	# locked before the dump and unlocked after it
	[ "$(wc -l <"$TEST_DIR/iptables-restore.calls")" -ge 2 ]
}

# Move this test's engine onto a fresh loop-mounted file system of $1 (xfs:
# with reflink=1; ext4), with the workload image imported again.
engine_on_loop_fs() { # xfs|ext4
	truncate -s 1G "$TEST_DIR/fs.img"
	case $1 in
	xfs) mkfs.xfs -q -m reflink=1 "$TEST_DIR/fs.img" ;;
	ext4) mkfs.ext4 -q -F "$TEST_DIR/fs.img" ;;
	esac
	mkdir "$TEST_DIR/fs"
	mount -o loop -t "$1" "$TEST_DIR/fs.img" "$TEST_DIR/fs"
	ROOT=$TEST_DIR/fs/root
	import_workload_image
}

# The counter with a 4 MiB file beside it in its root file system and in a
# named volume, so that both captures have data to clone.
start_counter_with_data() {
	cryo run -d --name src -v fill:/vol workload sh -c \
		'dd if=/dev/urandom of=/state/fill bs=1M count=4 2>/dev/null && cp /state/fill /vol/fill &&
		 exec /usr/local/bin/counter --file /state/counter --stats /state/stats' >/dev/null
	wait_for 20 log_has cryo src READY
}

# Restore archive $1 of start_counter_with_data's container on the second
# engine (the volume is the source's there): consistent, with the same data
# in the root file system and the volume; then remove it.
restore_data_on_engine2() { # archive
	cryo2 image import "$(workload_rootfs_tar)" workload >/dev/null
	trust_engine1_on_engine2
	run --separate-stderr cryo2 restore --import "$1" --name r
	echo "$stderr"
	[ "$status" -eq 0 ]
	assert_consistent_and_running cryo2 r
	local sum
	sum=$(cryo exec src md5sum /state/fill | cut -d' ' -f1)
	[ "$(cryo2 exec r md5sum /state/fill | cut -d' ' -f1)" = "$sum" ]
	[ "$(cryo2 exec r md5sum /vol/fill | cut -d' ' -f1)" = "$sum" ]
	cryo2 rm -f r >/dev/null
}

@test "on XFS with reflinks, the frozen window only clones the file system: consistent, and the stats say reflink" {
	engine_on_loop_fs xfs
	start_counter_with_data
	run --separate-stderr cryo checkpoint --leave-running --export "$TEST_DIR/x.tar.zst" --print-stats src
	echo "$stderr"
	[ "$status" -eq 0 ]
	jq -e '.capture_method == "reflink" and .capture_streamed == true' <<<"$output"
	# both 4 MiB files were cloned, not copied
	jq -e '.reflink_bytes >= 8388608 and .capture_copied_bytes < 1048576' <<<"$output"
	# the tars were written after the thaw; the window is CRIU's and the clones'
	jq -e '.capture_write_duration > 0 and .rootfs_diff_bytes >= 4194304' <<<"$output"
	jq -e '.frozen_window >= .frozen_time and .frozen_window <= .checkpoint_duration' <<<"$output"
	# the snapshot left nothing behind
	[ -z "$(ls -A "$ROOT/checkpoints")" ]
	# restored on another engine (the volume is the source's here), with
	# the same data in the root file system and the volume
	restore_data_on_engine2 "$TEST_DIR/x.tar.zst"
	run --separate-stderr consistency_cycles 5 /state/counter cryo2 --replace-volumes
	echo "$stderr"
	[ "$status" -eq 0 ]
	[ "$output" = 0 ]
	[ "$(freezer_state cryo src)" = THAWED ]
}

@test "a tree of small files only is captured in the window directly: copying it ahead would not pay" {
	start_counter
	run --separate-stderr cryo checkpoint --leave-running --export "$TEST_DIR/t.tar.zst" --print-stats src
	echo "$stderr"
	[ "$status" -eq 0 ]
	jq -e '.capture_method == "copy" and .capture_precopied_bytes == 0' <<<"$output"
}

@test "on ext4 (no reflinks) the files are copied ahead of the freeze, and only what changed since is copied in the window: consistent" {
	engine_on_loop_fs ext4
	start_counter_with_data
	sleep 0.2 # the 4 MiB files are older than the copies' cutoff
	run --separate-stderr cryo checkpoint --leave-running --export "$TEST_DIR/e.tar.zst" --print-stats src
	echo "$stderr"
	[ "$status" -eq 0 ]
	jq -e '.capture_method == "precopy" and .reflink_bytes == 0' <<<"$output"
	# both 4 MiB files were copied ahead and taken over unchanged; the
	# window copied only the counter's files (a few bytes each)
	jq -e '.capture_precopied_bytes >= 8388608 and .capture_reused_bytes >= 8388608' <<<"$output"
	jq -e '.capture_copied_bytes < 1048576 and .capture_precopy_duration > 0' <<<"$output"
	# the export kept no directory: the tars went straight into the archive
	jq -e '.capture_streamed == true' <<<"$output"
	jq -e '.capture_write_duration > 0 and .rootfs_diff_bytes >= 4194304' <<<"$output"
	jq -e '.frozen_window >= .frozen_time and .frozen_window <= .checkpoint_duration' <<<"$output"
	[ -z "$(ls -A "$ROOT/checkpoints")" ]
	restore_data_on_engine2 "$TEST_DIR/e.tar.zst"
	# the container writes on for a while between the copies and the freeze
	export CRYO_TEST_PRECOPY_DELAY_MS=300
	run --separate-stderr consistency_cycles 3 /state/counter cryo2 --replace-volumes
	unset CRYO_TEST_PRECOPY_DELAY_MS
	echo "$stderr"
	[ "$status" -eq 0 ]
	[ "$output" = 0 ]
	# the old way, everything copied inside the window, still works
	CRYO_TEST_NO_PRECOPY=1 run --separate-stderr cryo checkpoint --leave-running --print-stats src
	echo "$stderr"
	[ "$status" -eq 0 ]
	jq -e '.capture_method == "copy" and .capture_precopied_bytes == 0 and .capture_write_duration == 0' <<<"$output"
	# kept in the engine, the snapshot's tars are written as files, and restore
	run --separate-stderr cryo checkpoint --leave-running --print-stats src
	echo "$stderr"
	[ "$status" -eq 0 ]
	jq -e '.capture_method == "precopy" and .capture_streamed == false' <<<"$output"
	cryo stop -t 1 src >/dev/null
	run --separate-stderr cryo restore src
	echo "$stderr"
	[ "$status" -eq 0 ]
	assert_consistent_and_running cryo src
}

# The counter writing its files through a shared writable mapping (stores
# into a dirty page set no file times), left running a second first; with an
# 8 MiB file beside it, so that copying the tree ahead of the freeze pays.
start_mmap_counter() {
	cryo run -d --name src workload "${counter_cmd[@]}" --mmap --fill-file /state/fill --fill-mib 8 >/dev/null
	wait_for 20 log_has cryo src READY
	sleep 1
}

@test "a file written through a shared mapping is copied again in the frozen window: consistent" {
	start_mmap_counter
	run --separate-stderr cryo checkpoint --leave-running --print-stats src
	[ "$status" -eq 0 ]
	jq -e '.capture_method == "precopy"' <<<"$output"
	export CRYO_TEST_PRECOPY_DELAY_MS=300
	run --separate-stderr consistency_cycles 3 /state/counter cryo
	unset CRYO_TEST_PRECOPY_DELAY_MS
	echo "$stderr"
	[ "$status" -eq 0 ]
	[ "$output" = 0 ]
	assert_consistent_and_running cryo src
}

@test "negative control: trusting the copy of a file written through a shared mapping restores it stale" {
	start_mmap_counter
	export CRYO_TEST_PRECOPY_DELAY_MS=300 CRYO_TEST_PRECOPY_IGNORE_MAPS=1
	run --separate-stderr consistency_cycles 3 /state/counter cryo
	unset CRYO_TEST_PRECOPY_DELAY_MS CRYO_TEST_PRECOPY_IGNORE_MAPS
	echo "$stderr"
	[ "$status" -eq 0 ]
	echo "stale restores: $output of 3"
	[ "$output" -ge 1 ]
}

@test "import rejects a tampered archive and leaves nothing behind" {
	start_counter
	cryo checkpoint --leave-running --export "$TEST_DIR/c.tar" --compress none src
	# flip one byte well inside the archive (inside some entry's data)
	size=$(stat -c %s "$TEST_DIR/c.tar")
	printf '\xff' | dd of="$TEST_DIR/c.tar" bs=1 seek=$((size / 2)) conv=notrunc status=none
	run cryo restore --import "$TEST_DIR/c.tar" --name bad
	[ "$status" -eq 125 ]
	[[ "$output" == *"checksum"* || "$output" == *"corrupt"* || "$output" == *"damaged"* ]]
	run cryo ps -a --format json
	[ "$(jq length <<<"$output")" -eq 1 ]
	[ -z "$(ls "$ROOT/tmp")" ]
	run cryo restore --import "$TEST_DIR/does-not-exist.tar" --name bad
	[ "$status" -eq 125 ]
}

@test "a tmpfs keeps its contents across checkpoint and restore, in place and from an archive" {
	cryo run -d --name tm --tmpfs /scratch:size=4m workload sh -c \
		'echo kept >/scratch/note; dd if=/dev/urandom of=/scratch/blob bs=1k count=512 2>/dev/null; md5sum /scratch/blob >/scratch/sum; sleep 1000' >/dev/null
	wait_for 10 cryo exec tm test -s /scratch/sum
	sum=$(cryo exec tm cat /scratch/sum)
	cryo checkpoint --leave-running --export "$TEST_DIR/tm.tar.zst" tm >/dev/null
	cryo checkpoint tm >/dev/null
	cryo restore tm >/dev/null
	[ "$(cryo exec tm md5sum /scratch/blob)" = "$sum" ]
	[ "$(cryo exec tm cat /scratch/note)" = kept ]
	cryo exec tm grep -q ' /scratch tmpfs rw,nosuid,nodev,.*size=4096k' /proc/mounts
	cryo restore --import "$TEST_DIR/tm.tar.zst" --name tm2 >/dev/null
	[ "$(cryo exec tm2 md5sum /scratch/blob)" = "$sum" ]
	[ "$(cryo exec tm2 cat /scratch/note)" = kept ]
}
