#!/usr/bin/env bats
# The command line's own surface: --log-level, progress, man pages, completion.

load helpers
bats_require_minimum_version 1.5.0

setup() {
	setup_engine
}

teardown() {
	teardown_engine
}

@test "--log-level debug shows every runtime command with its exit code and duration, on stderr only" {
	import_busybox
	run --separate-stderr cryo --log-level debug run --rm --name dbg busybox echo out
	[ "$status" -eq 0 ]
	[ "$output" = out ]
	[[ "$stderr" =~ DEBU\[[0-9.]+\]\ ran\ \`[^\`]*runc\ --root\ [^\`]*\ start\ [0-9a-f]{64}\`:\ exit\ 0\ in\ [0-9.]+\ ms ]]
	[[ "$stderr" == *"monitor "*" ran the runtime's create of"* ]]
}

@test "--log-level debug tells the results cryo ignores on purpose" {
	import_busybox
	cryo run -d --name r busybox sleep 1000 >/dev/null
	# rm -f looks for the exit file of a container that has not exited
	run --separate-stderr cryo --log-level debug rm -f r
	[ "$status" -eq 0 ]
	[[ "$stderr" =~ DEBU\[[0-9.]+\]\ ignored:\ open\ \`[^\`]*/exit\`:\ No\ such\ file ]]
	cryo run -d --name r2 busybox sleep 1000 >/dev/null
	run --separate-stderr cryo --log-level info rm -f r2
	[ "$status" -eq 0 ]
	[[ "$stderr" != *ignored* ]]
}

@test "--log-level debug shows the checkpoint's runtime run with CRIU's environment" {
	import_busybox
	cryo run -d --name c busybox sleep 1000 >/dev/null
	run --separate-stderr cryo --log-level debug checkpoint --leave-running c
	[ "$status" -eq 0 ]
	[[ "$stderr" =~ ran\ \`[^\`]*runc\ [^\`]*--criu\ [^\`]*checkpoint\ [^\`]*--leave-running ]]
}

@test "without --log-level (or at warn) nothing but errors reaches stderr" {
	import_busybox
	run --separate-stderr cryo run --rm busybox true
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
	run --separate-stderr cryo --log-level warn run --rm busybox true
	[ -z "$stderr" ]
}

@test "an unknown --log-level is a usage error" {
	run cryo --log-level loud ps
	[ "$status" -eq 125 ]
	[[ "$output" == *"invalid --log-level \`loud\`: use debug, info, warn or error"* ]]
}

@test "checkpoint and restore --progress=json: one object per phase change, in order" {
	import_busybox
	cryo run -d --name c busybox sh -c 'head -c 3000000 /dev/urandom > /blob; exec sleep 1000' >/dev/null
	wait_for 10 cryo exec c test -s /blob
	run --separate-stderr cryo checkpoint --progress=json --leave-running --export "$TEST_DIR/c.tar.zst" c
	[ "$status" -eq 0 ]
	[ "$output" = c ]
	[ "$(jq -r .phase <<<"$stderr" | paste -sd' ')" = "dumping capturing thawed writing done" ]
	[ "$(jq -r '.operation + " " + .container' <<<"$stderr" | sort -u)" = "checkpoint c" ]
	# elapsed time never goes back; the numbers say what the phases did
	jq -s -e '[.[].elapsed_us] | . == sort' <<<"$stderr"
	jq -s -e '.[1].bytes > 0 and .[2].frozen_us > 0 and .[2].bytes >= 3000000' <<<"$stderr"
	[ "$(jq -s '.[4].bytes' <<<"$stderr")" = "$(stat -c %s "$TEST_DIR/c.tar.zst")" ]

	run --separate-stderr cryo restore --progress json --import "$TEST_DIR/c.tar.zst" --name copy
	[ "$status" -eq 0 ]
	[ "$(jq -r .phase <<<"$stderr" | paste -sd' ')" = "importing preparing restoring done" ]
	[ "$(jq -r .container <<<"$stderr" | sort -u)" = copy ]
}

@test "a stopping checkpoint's progress says captured, not thawed" {
	import_busybox
	cryo run -d --name c busybox sleep 1000 >/dev/null
	run --separate-stderr cryo checkpoint --progress=json c
	[ "$status" -eq 0 ]
	[ "$(jq -r .phase <<<"$stderr" | paste -sd' ')" = "dumping capturing captured done" ]
}

@test "progress (auto) prints nothing when stderr is not a terminal; a bad mode is a usage error" {
	import_busybox
	cryo run -d --name c busybox sleep 1000 >/dev/null
	run --separate-stderr cryo checkpoint --leave-running c
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
	run cryo checkpoint --progress=loud c
	[ "$status" -eq 125 ]
	[[ "$output" == *"invalid --progress \`loud\`: use auto, json or none"* ]]
}
