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

# The build directory of the binary under test (build-san/src/cli/cryo).
build_dir() { cd "$(dirname "$CRYO")/../.." && pwd; }

@test "every command has a man page, and every option is in both its --help and its man page" {
	local man=$BATS_TEST_DIRNAME/../../docs/man cmd page opt help missing=()
	while read -r cmd; do
		page=cryo-${cmd// /-}
		case $cmd in "image ls") page=cryo-images ;; rmi) page=cryo-image-rm ;; esac
		[ -f "$man/$page.1.scd" ] || { missing+=("$cmd: no $page.1.scd"); continue; }
		help=$(cryo $cmd --help)
		for opt in $(cryo __complete options $cmd); do
			opt=${opt%=}
			case $opt in --help | -h) ;; *) grep -q -- "$opt\b" <<<"$help" || missing+=("$cmd: $opt not in --help") ;; esac
			grep -q -- "\*$opt\*" "$man/$page.1.scd" || missing+=("$cmd: $opt not in $page.1.scd")
		done
		# and the page names no option the command does not have
		for opt in $(grep -o -- '^\*--\?[a-z][a-z-]*\*' "$man/$page.1.scd" | tr -d '*'); do
			cryo __complete options $cmd | grep -qx -- "$opt=\?" || missing+=("$cmd: $page.1.scd documents unknown $opt")
		done
	done < <(cryo __complete commands)
	# the global options too
	for opt in --root --runroot --runtime --config --log-level --version --help; do
		cryo --help | grep -q -- "$opt" || missing+=("cryo: $opt not in --help")
		grep -q -- "\*$opt\*" "$man/cryo.1.scd" || missing+=("cryo: $opt not in cryo.1.scd")
	done
	printf '%s\n' "${missing[@]}"
	[ ${#missing[@]} -eq 0 ]
	[ "$(cryo __complete commands | wc -l)" -gt 30 ]
}

@test "meson install puts the man pages where man finds them, and the bash completion" {
	local dest=$TEST_DIR/dest
	meson install -C "$(build_dir)" --destdir "$dest" >/dev/null
	local mandir
	mandir=$(dirname "$(find "$dest" -name cryo-checkpoint.1)")
	run env MANPATH="$(dirname "$mandir")" man -P cat cryo-checkpoint
	[ "$status" -eq 0 ]
	[[ "$output" == *"cryo-checkpoint - Checkpoint containers"* ]]
	[[ "$output" == *"--leave-running"* ]]
	run env MANPATH="$(dirname "$mandir")" man -P cat cryo
	[[ "$output" == *"--log-level"* ]]
	[ -f "$(find "$dest" -path '*/bash-completion/completions/cryo')" ]
}

# Complete the words given (the last one is the word under the cursor) with
# the installed completion; prints the candidates, one per line.
complete_words() {
	local dest=$TEST_DIR/dest
	[ -d "$dest" ] || meson install -C "$(build_dir)" --destdir "$dest" >/dev/null
	bash -c '
		source "$1"; shift
		complete -p cryo | grep -q -- "-F _cryo" || exit 3
		COMP_WORDS=("$@")
		COMP_CWORD=$(($# - 1))
		_cryo
		printf "%s\n" "${COMPREPLY[@]}"
	' bash "$(find "$dest" -path '*/bash-completion/completions/cryo')" "$CRYO" --root "$ROOT" --runroot "$RUNROOT" "$@"
}

@test "bash completion completes commands, options and container, image and volume names" {
	import_busybox
	cryo run -d --name webserver busybox sleep 1000 >/dev/null
	cryo volume create datavol >/dev/null
	run complete_words chec
	[ "$output" = checkpoint ]
	run complete_words image im
	[ "$output" = import ]
	run complete_words run --det
	[ "$(sort <<<"$output" | paste -sd' ')" = "--detach --detach-keys" ]
	run complete_words attach web
	[ "$output" = webserver ]
	run complete_words checkpoint --leave-running ""
	[ "$output" = webserver ]
	# checkpoint is a command and a group: its verb and its containers
	run complete_words checkpoint ""
	[ "$(sort <<<"$output" | paste -sd' ')" = "inspect webserver" ]
	run complete_words checkpoint inspect --ps-tree web
	[ "$output" = webserver ]
	run complete_words run -v da
	[ "$output" = datavol ]
	run complete_words run --rm bu
	[ "$output" = busybox:latest ]
	# after the image, the words are the container's command: no names
	run complete_words run busybox web
	[ -z "$output" ]
}

@test "bash completion knows system df, restore --all and --parallel" {
	run complete_words system ""
	[[ " $(paste -sd' ' <<<"$output") " == *" df "* ]]
	run complete_words restore --al
	[ "$output" = --all ]
	run complete_words checkpoint --all --par
	[ "$output" = --parallel ]
	run complete_words restore --all --parallel ""
	[[ "$(paste -sd' ' <<<"$output")" == "1 2 4 8 16"* ]]
}

@test "checkpoint --all checkpoints every running container; --latest the one created last" {
	import_busybox
	cryo run -d --name one busybox sleep 1000 >/dev/null
	cryo run -d --name two busybox sleep 1000 >/dev/null
	cryo create --name idle busybox true >/dev/null
	run cryo checkpoint --all
	[ "$status" -eq 0 ]
	[ "$(sort <<<"$output" | paste -sd' ')" = "one two" ]
	run cryo inspect one two idle
	[ "$(jq -r '.[].State.Status' <<<"$output" | paste -sd' ')" = "checkpointed checkpointed created" ]
	cryo restore one >/dev/null
	cryo run -d --name three busybox sleep 1000 >/dev/null
	run cryo checkpoint --latest --leave-running
	[ "$status" -eq 0 ]
	[ "$output" = three ]
	run cryo checkpoint --latest one
	[ "$status" -eq 125 ]
	[[ "$output" == *"--all and --latest take no container names"* ]]
}

@test "ps --format table is the default listing; a bad format is a usage error" {
	import_busybox
	cryo run -d --name one busybox sleep 1000 >/dev/null
	[ "$(cryo ps --format table)" = "$(cryo ps)" ]
	run cryo ps --format json
	[ "$(jq -r '.[0].Name' <<<"$output")" = one ]
	run cryo ps --format yaml
	[ "$status" -eq 125 ]
}
