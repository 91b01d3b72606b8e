#!/usr/bin/env bats
# Streams (checkpoint --export -, restore --import -) and `cryo migrate`: a
# running container moves to another engine, stays consistent, and is never
# lost nor run twice when the destination fails.

load helpers
load workload
load ssh_link
bats_require_minimum_version 1.5.0

setup() {
	setup_engine
	import_workload_image
	ROOT2=$TEST_DIR/root2
	RUN2=$TEST_DIR/run2
}

teardown() {
	teardown_ssh
	if [ -n "${TEST_DIR:-}" ] && [ -d "$TEST_DIR/root2" ]; then
		for name in $(cryo2 ps -a --format json 2>/dev/null | jq -r '.[].Name' 2>/dev/null); do
			cryo2 rm -f "$name" >/dev/null 2>&1 || true
		done
		local id rt=$TEST_DIR/run2/runtime
		for id in $(runc --root "$rt" list -q 2>/dev/null); do
			runc --root "$rt" resume "$id" >/dev/null 2>&1 || true
			runc --root "$rt" delete -f "$id" >/dev/null 2>&1 || true
		done
	fi
	teardown_engine
}

# The destination engine on this host.
cryo2() {
	"$CRYO" --root "$ROOT2" --runroot "$RUN2" "$@"
}

# The destination has the image and trusts the source's key.
prepare_destination() {
	cryo2 image import "$(workload_rootfs_tar)" workload >/dev/null
	cryo key show | cryo2 trust add - >/dev/null
}

counter_cmd=(/usr/local/bin/counter --file /state/counter --stats /state/stats)

start_counter() { # [run options...]
	cryo run -d --name src "$@" workload "${counter_cmd[@]}" >/dev/null
	wait_for 10 log_has cryo src READY
}

log_has() { # engine-function container text
	"$1" logs "$2" 2>/dev/null | grep -q "$3"
}

counter_value() { # engine-function container
	"$1" exec "$2" cat /state/counter | tr -d ' \n' | sed 's/^0*//;s/^$/0/'
}

counter_above() { # engine-function container value
	local v
	v=$(counter_value "$1" "$2") && [ "$v" -gt "$3" ]
}

status_of() { # engine-function container
	"$1" inspect "$2" | jq -r '.[0].State.Status'
}

is_running() { # engine-function container
	[ "$(status_of "$1" "$2")" = running ]
}

# The source is running, thawed, and counting.
assert_source_running_thawed() {
	local v
	run status_of cryo src
	[ "$output" = running ]
	run freezer_state cryo src
	[ "$output" = THAWED ]
	v=$(counter_value cryo src)
	wait_for 10 counter_above cryo src "$v"
	run cryo logs src
	! grep -q VIOLATION <<<"$output"
}

# The destination has no container, and no leftovers once a command ran there.
assert_destination_clean() {
	run cryo2 ps -a -q
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	[ -z "$(ls -A "$ROOT2/tmp" 2>/dev/null)" ]
	[ -z "$(ls -A "$ROOT2/checkpoints" 2>/dev/null)" ]
}

# ---- streams ----

@test "checkpoint --export - | restore --import -: the counter moves in one pass and keeps counting" {
	prepare_destination
	start_counter
	cryo checkpoint --leave-running --export - src 2>"$TEST_DIR/err" | cryo2 restore --import - --name copy >"$TEST_DIR/id"
	# what checkpoint usually prints on stdout went to stderr
	[ "$(cat "$TEST_DIR/err")" = src ]
	[ "$(cryo2 inspect copy | jq -r '.[0].Id')" = "$(cat "$TEST_DIR/id")" ]
	v=$(counter_value cryo2 copy)
	wait_for 10 counter_above cryo2 copy "$v"
	run cryo2 logs copy
	! grep -q VIOLATION <<<"$output" || false
	# the source ran on
	is_running cryo src
}

@test "checkpoint --export - writes the same archive a file export would, --print-stats on stderr" {
	start_counter
	cryo checkpoint --leave-running --export - --print-stats src >"$TEST_DIR/c.tar.zst" 2>"$TEST_DIR/err"
	jq -e '.archive_size > 0' "$TEST_DIR/err"
	[ "$(jq -r .archive_size "$TEST_DIR/err")" -eq "$(stat -c %s "$TEST_DIR/c.tar.zst")" ]
	cryo restore --import "$TEST_DIR/c.tar.zst" --name fromfile >/dev/null
	is_running cryo fromfile
	# a terminal is no place for an archive
	run script -qec "$CRYO --root $ROOT --runroot $RUNROOT checkpoint -R --export - src" /dev/null
	[[ "$output" == *"standard output is a terminal"* ]]
}

@test "a corrupted or truncated stream is refused and leaves nothing" {
	prepare_destination
	start_counter
	cryo checkpoint --leave-running --export - --compress none src >"$TEST_DIR/c.tar"
	size=$(stat -c %s "$TEST_DIR/c.tar")
	# negative control: the intact stream is accepted
	cryo2 restore --import - --name good <"$TEST_DIR/c.tar" >/dev/null
	is_running cryo2 good
	cryo2 rm -f good >/dev/null
	# one byte flipped in the middle (CRIU's images)
	cp "$TEST_DIR/c.tar" "$TEST_DIR/bad.tar"
	off=$((size / 2))
	orig=$(dd if="$TEST_DIR/bad.tar" bs=1 skip=$off count=1 status=none | od -An -tu1 | tr -d ' ')
	printf "$(printf '\\%03o' $(((orig + 1) % 256)))" | dd of="$TEST_DIR/bad.tar" bs=1 seek=$off conv=notrunc status=none
	run cryo2 restore --import - --name bad <"$TEST_DIR/bad.tar"
	[ "$status" -eq 125 ]
	[[ "$output" == *"standard input"* ]]
	assert_destination_clean
	# cut short: the manifest and signature never arrive
	run bash -c "head -c $((size * 3 / 4)) '$TEST_DIR/c.tar' | $CRYO --root $ROOT2 --runroot $RUN2 restore --import - --name cut"
	[ "$status" -eq 125 ]
	[[ "$output" == *"standard input"* ]]
	assert_destination_clean
}

# ---- cryo migrate, root: form ----

migrate2() { # [options...] container: migrate to engine 2
	local args=("$@")
	cryo migrate --remote-runroot "$RUN2" "${args[@]:0:$((${#args[@]} - 1))}" "${args[-1]}" "root:$ROOT2"
}

@test "migrate root:: the counter moves, keeps counting from its value, and the source is gone" {
	prepare_destination
	start_counter
	before=$(counter_value cryo src)
	run --separate-stderr migrate2 --print-stats src
	[ "$status" -eq 0 ]
	echo "$output" >"$TEST_DIR/stats"
	# the downtime and its parts
	jq -e '.downtime > 0 and .dump_duration > 0 and .transfer_duration > 0 and .restore_duration > 0 and .commit_duration > 0 and .bytes_sent > 0' "$TEST_DIR/stats"
	jq -e '.downtime >= .dump_duration + .capture_duration + .transfer_duration + .restore_duration + .commit_duration' "$TEST_DIR/stats"
	[ "$(jq -r .container "$TEST_DIR/stats")" = src ]
	[ "$(jq -r .id "$TEST_DIR/stats")" = "$(cryo2 inspect src | jq -r '.[0].Id')" ]
	# the source is gone: one copy only
	run cryo ps -a -q
	[ -z "$output" ]
	# the destination's counter continues from the source's value, consistent
	is_running cryo2 src
	v=$(counter_value cryo2 src)
	[ "$v" -ge "$before" ]
	wait_for 10 counter_above cryo2 src "$v"
	run cryo2 logs src
	! grep -q VIOLATION <<<"$output" || false
	run cryo2 exec src cat /state/stats
	[ "$(jq -r .violations <<<"$output")" = 0 ]
}

@test "migrate --name renames; --keep keeps the source checkpointed and restorable here (zstd level 9)" {
	prepare_destination
	# the capabilities this engine gave it are granted again there
	start_counter --cap-add sys_ptrace
	migrate2 --name moved --keep --compress zstd:9 src >/dev/null
	is_running cryo2 moved
	assert_equal "$(cryo2 inspect moved | jq -c '.[0].Config.cap_add')" '["CAP_SYS_PTRACE"]'
	[ "$(status_of cryo src)" = checkpointed ]
	# the source was killed, not thawed: restoring it brings it back here
	cryo restore src >/dev/null
	is_running cryo src
}

@test "migrate whose source record cannot be updated after the handoff says it migrated, and how to clean up" {
	prepare_destination
	start_counter
	export CRYO_TEST_FAIL_RECORD=1
	run migrate2 src
	unset CRYO_TEST_FAIL_RECORD
	assert_status 125
	assert_output_contains "migrated container \`src\`: it runs at \`root:$ROOT2\` as \`src\`"
	assert_output_contains "cryo rm -f src"
	assert_output_lacks "migrate container"
	is_running cryo2 src
	# nothing of it runs here; the stale record goes as the message says
	cryo rm -f src
	run cryo ps -a -q
	assert_equal "$output" "" "containers left at the source"
	is_running cryo2 src
}

@test "migrate --keep-source keeps the source stopped, not running and not restorable" {
	prepare_destination
	start_counter
	migrate2 --keep-source src >/dev/null
	is_running cryo2 src
	[ "$(status_of cryo src)" = exited ]
	run cryo restore src
	[ "$status" -eq 125 ]
	[[ "$output" == *"no checkpoint"* ]]
}

@test "migrate to a destination without the image: the source runs on, thawed, the destination is clean" {
	cryo key show | cryo2 trust add - >/dev/null
	start_counter
	run migrate2 src
	st=$status out=$output
	# first what matters: the source was not lost (the negative control fails here)
	assert_source_running_thawed
	[ "$st" -eq 125 ]
	[[ "$out" == *"root:$ROOT2"*"failed"*"workload"* ]]
	assert_destination_clean
}

@test "migrate to a destination where the name is taken: the source runs on, the other container untouched" {
	prepare_destination
	cryo2 run -d --name src workload sleep 1000 >/dev/null
	other=$(cryo2 inspect src | jq -r '.[0].Id')
	start_counter
	run migrate2 src
	st=$status out=$output
	# first what matters: the source was not lost (the negative control fails here)
	assert_source_running_thawed
	[ "$st" -eq 125 ]
	[[ "$out" == *"src"* ]]
	[ "$(cryo2 inspect src | jq -r '.[0].Id')" = "$other" ]
	[ "$(cryo2 ps -a --format json | jq length)" -eq 1 ]
	[ -z "$(ls -A "$ROOT2/tmp")" ]
}

@test "migrate to a destination that does not trust this engine: refused, source runs on" {
	cryo2 image import "$(workload_rootfs_tar)" workload >/dev/null
	start_counter
	run migrate2 src
	st=$status out=$output
	# first what matters: the source was not lost (the negative control fails here)
	assert_source_running_thawed
	[ "$st" -eq 125 ]
	[[ "$out" == *"does not trust"* ]]
	assert_destination_clean
}

# A receiving cryo that is killed mid-transfer: it stalls after the index
# (CRYO_TEST_IMPORT_STALL_MS), and a wrapper kills it then.
@test "migrate when the receiving cryo is killed mid-transfer: the source runs on, the destination is clean" {
	prepare_destination
	start_counter
	cat >"$TEST_DIR/killed-cryo" <<-WRAP
	#!/bin/bash
	# (an explicit redirection: a background job's stdin would be /dev/null)
	CRYO_TEST_IMPORT_STALL_MS=30000 "$CRYO" "\$@" <&0 &
	pid=\$!
	# wait until it is inside the transfer: its import directory exists
	for i in \$(seq 200); do
		[ -n "\$(ls -A "$ROOT2/tmp" 2>/dev/null)" ] && break
		sleep 0.05
	done
	sleep 0.5
	kill -KILL \$pid
	wait \$pid
	WRAP
	chmod +x "$TEST_DIR/killed-cryo"
	run cryo migrate --remote-cryo "$TEST_DIR/killed-cryo" --remote-runroot "$RUN2" src "root:$ROOT2"
	st=$status out=$output
	# first what matters: the source was not lost (the negative control fails here)
	assert_source_running_thawed
	[ "$st" -eq 125 ]
	[[ "$out" == *"was killed"* ]]
	# the killed import's claimed scratch is collected by the next command
	cryo2 ps -a >/dev/null
	assert_destination_clean
}

@test "the migrating cryo killed while the source is frozen: the source is thawed and runs on, the destination keeps nothing" {
	prepare_destination
	start_counter
	# the destination stalls inside the transfer, so the source's cryo is
	# inside the frozen window when it is killed
	cat >"$TEST_DIR/slow-cryo" <<-WRAP
	#!/bin/bash
	CRYO_TEST_IMPORT_STALL_MS=3000 exec "$CRYO" "\$@"
	WRAP
	chmod +x "$TEST_DIR/slow-cryo"
	# (the binary itself in the background, so that $! is its pid)
	# Uncompressed, the stream is larger than the pipe's buffer: the source's
	# cryo is still writing it when it is killed. (A stream that fits in the
	# pipe is complete before the kill: the destination then restores it while
	# the watchdog thaws the source -- the window docs/design.md describes.)
	"$CRYO" --root "$ROOT" --runroot "$RUNROOT" migrate --compress none --remote-cryo "$TEST_DIR/slow-cryo" \
		--remote-runroot "$RUN2" src "root:$ROOT2" >/dev/null 2>&1 3>&- &
	pid=$!
	import_started() { [ -n "$(ls -A "$ROOT2/tmp" 2>/dev/null)" ]; }
	wait_for 30 import_started
	[ "$(freezer_state cryo src)" = FROZEN ]
	kill -KILL "$pid"
	wait "$pid" || true
	# the freeze watchdog thaws it
	thawed() { [ "$(freezer_state cryo src)" = THAWED ]; }
	wait_for 20 thawed
	assert_source_running_thawed
	# the destination saw its stream end early and refused it
	no_receiver() { ! pgrep -f -- "--root $ROOT2 .*restore --import -" >/dev/null; }
	wait_for 30 no_receiver
	run cryo2 ps -a -q
	[ -z "$output" ]
	cryo2 ps -a >/dev/null
	assert_destination_clean
}

# The counter's value read from the host (through the container's root):
# works while the container is frozen, when `exec` cannot run.
host_counter() { # engine-function container
	local pid
	pid=$("$1" inspect "$2" | jq -r '.[0].State.Pid') || return 1
	tr -d ' \n' <"/proc/$pid/root/state/counter" | sed 's/^0*//;s/^$/0/'
}

# A destination cryo that records its stderr and exit status, and ends a
# little after it (with ARG "linger"): a destination slow to end after it
# restored keeps the migrating cryo waiting there.
recording_cryo() { # [linger]
	local linger=0
	[ "${1:-}" = linger ] && linger=3
	cat >"$TEST_DIR/recording-cryo" <<-WRAP
	#!/bin/bash
	"$CRYO" "\$@" 2>"$TEST_DIR/dest.err"
	echo \$? >"$TEST_DIR/dest.rc"
	sleep $linger
	WRAP
	chmod +x "$TEST_DIR/recording-cryo"
}

@test "the migrating cryo killed after the destination restored frozen, before the commit: the source runs on, the destination stays frozen, never both" {
	prepare_destination
	start_counter
	# (lingering: where the destination ran the container as soon as it was
	# restored, the migrating cryo is still waiting for it when it is killed)
	recording_cryo linger
	# CRYO_TEST_MIGRATE_STOP_BEFORE_COMMIT: the migrating cryo stops for good
	# once the destination reported, before it kills its copy and commits
	CRYO_TEST_MIGRATE_STOP_BEFORE_COMMIT=1 "$CRYO" --root "$ROOT" --runroot "$RUNROOT" migrate \
		--remote-cryo "$TEST_DIR/recording-cryo" --remote-runroot "$RUN2" src "root:$ROOT2" >/dev/null 2>&1 3>&- &
	pid=$!
	restored() { [ "$(status_of cryo2 src 2>/dev/null)" = paused ] || [ "$(status_of cryo2 src 2>/dev/null)" = running ]; }
	wait_for 60 restored
	# (the destination reports right after it records the container paused)
	sleep 1
	kill -KILL "$pid"
	wait "$pid" || true
	# the source: thawed by its freeze watchdog, counting
	thawed() { [ "$(freezer_state cryo src)" = THAWED ]; }
	wait_for 20 thawed
	assert_source_running_thawed
	dest_done() { [ -s "$TEST_DIR/dest.rc" ]; }
	wait_for 30 dest_done
	# not both ticking: the destination's counter stands still while the source's advances
	d=$(host_counter cryo2 src)
	s=$(counter_value cryo src)
	wait_for 10 counter_above cryo src "$s"
	sleep 1
	assert_equal "$(host_counter cryo2 src)" "$d" "the destination's counter (frozen)"
	assert_equal "$(status_of cryo2 src)" paused "the destination's container"
	assert_freezer_state cryo2 src FROZEN
	# the destination saw its source go before the commit: it keeps the
	# container frozen, says so and how to go on, and fails
	assert_equal "$(cat "$TEST_DIR/dest.rc")" 125 "the destination's exit status"
	run cat "$TEST_DIR/dest.err"
	assert_output_contains "stays here, frozen (paused)"
	assert_output_contains "cryo unpause src"
	# not lost either: once the source is gone, the user runs it there
	cryo rm -f src >/dev/null
	cryo2 unpause src
	wait_for 10 counter_above cryo2 src "$d"
	run cryo2 logs src
	! grep -q VIOLATION <<<"$output" || false
}

@test "migrate whose source cannot kill its copy after the destination restored frozen: abort, the destination removes it, the source runs on" {
	prepare_destination
	start_counter
	recording_cryo
	export CRYO_TEST_FAIL_HANDOFF_KILL=1
	run cryo migrate --remote-cryo "$TEST_DIR/recording-cryo" --remote-runroot "$RUN2" src "root:$ROOT2"
	unset CRYO_TEST_FAIL_HANDOFF_KILL
	st=$status out=$output
	assert_source_running_thawed
	assert_equal "$st" 125 "migrate's exit status"
	[[ "$out" == *"killing its copy here failed"*"the destination removed its copy"* ]]
	# the destination got `abort`: it removed its frozen container and said why
	assert_equal "$(cat "$TEST_DIR/dest.rc")" 125 "the destination's exit status"
	run cat "$TEST_DIR/dest.err"
	assert_output_contains "source aborted"
	cryo2 ps -a >/dev/null
	assert_destination_clean
}

@test "a destination that gets something else than commit after the source's copy is gone: it stays frozen, not lost, and migrate says how to run it" {
	prepare_destination
	start_counter
	# the message after the stream turned into another word on the way (the
	# stream itself passes untouched)
	cat >"$TEST_DIR/garbling-cryo" <<-WRAP
	#!/bin/bash
	exec "$CRYO" "\$@" 2>"$TEST_DIR/dest.err" < <(perl -e 'binmode STDIN; binmode STDOUT; while (sysread(STDIN, \$b, 65536)) { \$b =~ s/commit\n\z/garble\n/; syswrite(STDOUT, \$b) }')
	WRAP
	chmod +x "$TEST_DIR/garbling-cryo"
	run cryo migrate --remote-cryo "$TEST_DIR/garbling-cryo" --remote-runroot "$RUN2" src "root:$ROOT2"
	assert_status 125
	assert_output_contains "its copy here was killed and the destination \`root:$ROOT2\` holds it frozen as \`src\`"
	assert_output_contains "cryo unpause src"
	run cat "$TEST_DIR/dest.err"
	assert_output_contains "sent something else than"
	assert_output_contains "stays here, frozen (paused)"
	# nothing runs: the source's copy is dead, the destination's is frozen
	run cryo ps -a -q
	assert_equal "$output" "" "containers left at the source"
	assert_equal "$(status_of cryo2 src)" paused "the destination's container"
	d=$(host_counter cryo2 src)
	sleep 1
	assert_equal "$(host_counter cryo2 src)" "$d" "the destination's counter (frozen)"
	# not lost: it runs on from where it was
	cryo2 unpause src
	wait_for 10 counter_above cryo2 src "$d"
	run cryo2 exec src cat /state/stats
	assert_equal "$(jq -r .violations <<<"$output")" 0 "violations"
}

@test "SIGTERM during a migration waits: the container moves, cryo says where, then ends" {
	prepare_destination
	start_counter
	cat >"$TEST_DIR/slow-cryo" <<-WRAP
	#!/bin/bash
	CRYO_TEST_IMPORT_STALL_MS=2000 exec "$CRYO" "\$@"
	WRAP
	chmod +x "$TEST_DIR/slow-cryo"
	"$CRYO" --root "$ROOT" --runroot "$RUNROOT" migrate --remote-cryo "$TEST_DIR/slow-cryo" \
		--remote-runroot "$RUN2" src "root:$ROOT2" >"$TEST_DIR/out" 2>"$TEST_DIR/err" 3>&- &
	pid=$!
	import_started() { [ -n "$(ls -A "$ROOT2/tmp" 2>/dev/null)" ]; }
	wait_for 30 import_started
	kill -TERM "$pid"
	rc=0
	wait "$pid" || rc=$?
	cat "$TEST_DIR/err"
	assert_equal "$rc" 143 "exit status (the SIGTERM, delivered once cryo is done)"
	assert_equal "$(cat "$TEST_DIR/out")" "$(cryo2 inspect src | jq -r '.[0].Id')" "the destination's id on stdout"
	is_running cryo2 src
	run cryo ps -a -q
	assert_equal "$output" "" "containers left at the source"
}

@test "migrate with a stream corrupted on the way: refused by the destination, the source runs on" {
	prepare_destination
	start_counter
	# 4 KiB changed 64 KiB into the stream: whatever they hit (file data, a
	# tar header, the padding after an entry), more than padding (dd reads no
	# further than it copies)
	# (cryo itself is the wrapper's process: its end ends the wrapper's
	# output, while the copying goes on until the stream's end)
	cat >"$TEST_DIR/corrupting-cryo" <<-WRAP
	#!/bin/bash
	exec "$CRYO" "\$@" < <(dd bs=4096 count=16 iflag=fullblock status=none; dd bs=4096 count=1 iflag=fullblock status=none | tr '\\000-\\377' '\\001-\\377\\000'; cat)
	WRAP
	chmod +x "$TEST_DIR/corrupting-cryo"
	run cryo migrate --compress none --remote-cryo "$TEST_DIR/corrupting-cryo" --remote-runroot "$RUN2" src "root:$ROOT2"
	st=$status out=$output
	assert_source_running_thawed
	[ "$st" -eq 125 ]
	[[ "$out" == *"standard input"* ]]
	assert_destination_clean
	# negative control: the same wrapper without the change migrates
	sed -i 's/| tr .*; cat/; cat/' "$TEST_DIR/corrupting-cryo"
	migrate2 src >/dev/null
	is_running cryo2 src
}

@test "migrate refuses bad destinations before touching the container" {
	start_counter
	# two engines on one host cannot share a runroot
	run cryo migrate --remote-runroot "$RUNROOT" src "root:$ROOT2"
	[ "$status" -eq 125 ]
	[[ "$output" == *"would share this engine's runroot"* ]]
	for dest in "ssh://-oProxyCommand=x" "ssh://host:99999" "ssh://us;er@host" "root:relative" "ftp://host" "root:$ROOT"; do
		run cryo migrate src "$dest"
		[ "$status" -eq 125 ]
	done
	assert_source_running_thawed
}

# ---- cryo migrate, ssh:// form: two network namespaces joined by a veth
# pair, a real sshd in the destination's, the source's cryo in the other
# (setup_ssh_link, teardown_ssh, migrate_ssh: ssh_link.bash) ----

@test "migrate ssh://: the counter moves over a veth link to a real sshd, keeps counting, the source is gone" {
	setup_ssh_link
	prepare_destination
	start_counter
	before=$(counter_value cryo src)
	run --separate-stderr migrate_ssh src --print-stats --name moved
	echo "$output" >"$TEST_DIR/stats"
	[ "$status" -eq 0 ]
	jq -e '.downtime > 0 and .bytes_sent > 0 and .container == "moved"' "$TEST_DIR/stats"
	run cryo ps -a -q
	[ -z "$output" ]
	is_running cryo2 moved
	v=$(counter_value cryo2 moved)
	[ "$v" -ge "$before" ]
	wait_for 10 counter_above cryo2 moved "$v"
	run cryo2 exec moved cat /state/stats
	[ "$(jq -r .violations <<<"$output")" = 0 ]
	# it came through sshd: the session is in its log
	grep -q "Accepted publickey for root" "$SSH_DIR/sshd.log"
	teardown_ssh
}

@test "migrate ssh://: a destination without the image, or an unreachable host: the source runs on" {
	setup_ssh_link
	cryo key show | cryo2 trust add - >/dev/null
	start_counter
	run migrate_ssh src
	st=$status out=$output
	assert_source_running_thawed
	[ "$st" -eq 125 ]
	[[ "$out" == *"ssh://root@$SSH_ADDR:$SSH_PORT"*"failed"*"workload"* ]]
	assert_destination_clean
	# the link is gone: ssh cannot connect
	kill "$SSHD_PID"
	wait "$SSHD_PID" || true
	run migrate_ssh src
	st=$status out=$output
	assert_source_running_thawed
	[ "$st" -eq 125 ]
	[[ "$out" == *"ssh://root@$SSH_ADDR:$SSH_PORT"* ]]
	teardown_ssh
}
