#!/usr/bin/env bats
# Terminals and stdin: run -it, exec -it, attach, detach keys, start -ai, and
# checkpoint/restore of an interactive shell. A real pseudo-terminal drives
# the CLI (tests/system/pty-session): type, read the output, check the code.
#
# What the container prints proves it ran the typed line: the pty echoes what
# is typed before cryo takes the terminal over, so the checks look for the
# result of arithmetic ($((6*7)) -> 42), never for the typed text itself.

load helpers
bats_require_minimum_version 1.5.0

setup() {
	setup_engine
	import_busybox
}

teardown() {
	teardown_engine
}

# pty-session STEP... -- cryo ARGS...: the CLI on a fresh pseudo-terminal.
on_pty() {
	local steps=()
	while [ "$1" != -- ]; do
		steps+=("$1")
		shift
	done
	shift
	timeout -k 5 60 "$BATS_TEST_DIRNAME/pty-session" "${steps[@]}" -- \
		"$CRYO" --root "$ROOT" --runroot "$RUNROOT" "$@"
}

state_of() { cryo inspect "$1" | jq -r '.[0].State.Status'; }

@test "run -it: a typed command runs in the container's shell and its exit code is cryo's" {
	run on_pty 'send:echo result=$((6*7))\r' 'expect:result=42' 'send:exit 3\r' -- run -it --name sh1 busybox sh
	[ "$status" -eq 3 ]
	[[ "$output" == *"result=42"* ]]
	[ "$(state_of sh1)" = exited ]
}

@test "run -it: the container's terminal is a tty of the size of the user's, and follows a resize" {
	run on_pty 'send:[ -t 0 ] && echo tty=$((1+1)); stty size\r' 'expect:tty=2' 'expect:24 80' \
		'resize:40,120' 'send:stty size\r' 'expect:40 120' 'send:exit\r' -- run -it --rm busybox sh
	[ "$status" -eq 0 ]
}

@test "run -i without -t: piped stdin reaches the container and EOF ends it" {
	run cryo run -i --rm busybox sh -c 'cat; echo done; exit 4' <<<"line from stdin"
	[ "$status" -eq 4 ]
	[ "$output" = "line from stdin
done" ]
}

@test "run without -i: the container's stdin is empty" {
	run cryo run --rm busybox sh -c 'cat; echo eof' <<<"must not arrive"
	[ "$status" -eq 0 ]
	[ "$output" = eof ]
}

@test "exec -it: a shell on a new terminal, typed commands, exit code propagated" {
	cryo run -dit --name box busybox sh >/dev/null
	run on_pty 'send:stty size; echo v=$((5*5))\r' 'expect:v=25' 'send:exit 7\r' -- exec -it box sh
	[ "$status" -eq 7 ]
	[[ "$output" == *"24 80"* ]]
	[ "$(state_of box)" = running ]
}

@test "exec -i forwards stdin; exec without -i gives the command none" {
	cryo run -d --name box busybox sleep 1000 >/dev/null
	run cryo exec -i box sh -c 'cat; exit 2' <<<"to exec"
	[ "$status" -eq 2 ]
	[ "$output" = "to exec" ]
	run cryo exec box sh -c 'cat; echo nothing' <<<"not forwarded"
	[ "$output" = nothing ]
}

@test "exec -t in a container created without -t is refused clearly" {
	cryo run -d --name plain busybox sleep 1000 >/dev/null
	run cryo exec -it plain sh
	[ "$status" -eq 125 ]
	[[ "$output" == *"exec -t in container \`plain\`: it has no /dev/pts"* ]]
}

@test "attach, then the detach keys leave the container running; attaching again reaches the same shell" {
	cryo run -dit --name bg busybox sh >/dev/null
	run on_pty 'send:X=$((20+1)); echo first=$X\r' 'expect:first=21' 'send:\x10\x11' -- attach bg
	[ "$status" -eq 0 ]
	[[ "$output" == *"Detached from \`bg\`"* ]]
	[ "$(state_of bg)" = running ]
	run on_pty 'send:echo again=$X\r' 'expect:again=21' 'send:exit 9\r' -- attach bg
	[ "$status" -eq 9 ]
	[ "$(state_of bg)" = exited ]
}

@test "run -it: ctrl-p then another key is input, not a detach" {
	# ctrl-p x reaches the shell (^P is a harmless key to it); only ctrl-p ctrl-q detaches.
	run on_pty 'send:\x10x' 'send:\x15echo n=$((3+4))\r' 'expect:n=7' 'send:exit 5\r' -- run -it --rm busybox sh
	[ "$status" -eq 5 ]
}

@test "--detach-keys sets other keys, and bad ones are a usage error" {
	cryo run -dit --name bg busybox sh >/dev/null
	run on_pty 'send:echo k=$((1+8))\r' 'expect:k=9' 'send:\x18' -- attach --detach-keys ctrl-x bg
	[ "$status" -eq 0 ]
	[ "$(state_of bg)" = running ]
	run cryo attach --detach-keys ctrl-1 bg
	[ "$status" -eq 125 ]
	[[ "$output" == *"invalid detach key \`ctrl-1\`"* ]]
}

@test "create -it, then start -ai: the session starts with the container" {
	cryo create -it --name later busybox sh >/dev/null
	run on_pty 'send:echo s=$((2*8))\r' 'expect:s=16' 'send:exit 4\r' -- start -ai later
	[ "$status" -eq 4 ]
}

@test "attach to a container that is not running is refused" {
	cryo create -it --name idle busybox sh >/dev/null
	run cryo attach idle
	[ "$status" -eq 125 ]
	[[ "$output" == *"attach to container \`idle\`: it is created, not running"* ]]
}

@test "checkpoint/restore of an interactive shell keeps the shell's state and its terminal" {
	cryo run -dit --name shell busybox sh >/dev/null
	run on_pty 'send:V=$((100+23)); echo set=$V\r' 'expect:set=123' 'send:\x10\x11' -- attach shell
	[ "$status" -eq 0 ]
	cryo checkpoint shell >/dev/null
	[ "$(state_of shell)" = checkpointed ]
	cryo restore shell >/dev/null
	[ "$(state_of shell)" = running ]
	run on_pty 'send:echo restored=$V; stty size\r' 'expect:restored=123' 'send:exit 8\r' -- attach shell
	[ "$status" -eq 8 ]
}

@test "a live checkpoint of an interactive shell, restored as a copy, has the shell's state" {
	cryo run -dit --name shell busybox sh >/dev/null
	run on_pty 'send:V=$((200+22)); echo set=$V\r' 'expect:set=222' 'send:\x10\x11' -- attach shell
	cryo checkpoint --leave-running --export "$TEST_DIR/shell.tar.zst" shell >/dev/null
	cryo restore --import "$TEST_DIR/shell.tar.zst" --name copy >/dev/null
	run on_pty 'send:echo copy=$V\r' 'expect:copy=222' 'send:exit 2\r' -- attach copy
	[ "$status" -eq 2 ]
	# the original kept running through the checkpoint, with its own terminal
	run on_pty 'send:echo orig=$V\r' 'expect:orig=222' 'send:exit 3\r' -- attach shell
	[ "$status" -eq 3 ]
}

@test "checkpoint/restore of a -i container keeps its stdin open for attach" {
	cryo run -di --name reader busybox sh -c 'while read l; do echo "got $l"; done' >/dev/null
	cryo checkpoint reader >/dev/null
	cryo restore reader >/dev/null
	run cryo attach reader <<<"after restore"
	[ "$status" -eq 0 ]
	[[ "$output" == *"got after restore"* ]]
}
