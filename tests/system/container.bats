#!/usr/bin/env bats
# Containers through the real CLI, runc and overlayfs.

load helpers

setup() {
	setup_engine
	import_busybox
}

teardown() {
	teardown_engine
}

@test "run attached prints the output and exits with the container's code" {
	run cryo run --name att busybox sh -c 'echo hello from cryo; exit 3'
	assert_status 3
	assert_output_contains "hello from cryo"
	run cryo inspect att
	assert_status 0
	assert_equal "$(jq -r '.[0].State.Status' <<<"$output")" exited "state"
	assert_equal "$(jq -r '.[0].State.ExitCode' <<<"$output")" 3 "exit code"
}

@test "run -d, ps, logs, stop" {
	run cryo run -d --name web busybox sh -c 'echo started; while true; do sleep 0.1; done'
	[ "$status" -eq 0 ]
	[[ "$output" =~ ^[0-9a-f]{64}$ ]]
	run cryo ps
	[[ "$output" == *web* ]]
	[[ "$output" == *Up* ]]
	wait_for 5 bash -c "'$CRYO' --root '$ROOT' --runroot '$RUNROOT' logs web | grep -q started"
	run cryo stop -t 1 web
	assert_status 0
	run cryo ps
	assert_output_lacks web
	run cryo ps -a --format json
	[ "$(jq -r '.[] | select(.Name=="web") | .State.Status' <<<"$output")" = exited ]
}

@test "ps and inspect show a container that exited by itself" {
	cryo run -d --name quick busybox sh -c 'exit 7'
	run cryo wait quick
	assert_status 0
	assert_equal "$output" 7 "cryo wait's output"
	assert_container_status quick exited
	run cryo inspect quick
	[ "$(jq -r '.[0].State.ExitCode' <<<"$output")" = 7 ]
	[ "$(jq -r '.[0].State.Running' <<<"$output")" = false ]
}

@test "environment and working directory" {
	run cryo run -e GREETING=hi -e PATH=/bin -w /tmp busybox sh -c 'echo "$GREETING $PATH $(pwd)"'
	[ "$status" -eq 0 ]
	[ "$output" = "hi /bin /tmp" ]
}

@test "a container sees its own hostname and private pid namespace" {
	run cryo run --name h busybox sh -c 'hostname; echo pid=$$'
	[ "$status" -eq 0 ]
	[[ "$output" == *"pid=1"* ]]
}

@test "start a created container and attach to it" {
	run cryo create --name later busybox sh -c 'echo from created; exit 4'
	[ "$status" -eq 0 ]
	run cryo ps -a --format json
	[ "$(jq -r '.[0].State.Status' <<<"$output")" = created ]
	run cryo start -a later
	[ "$status" -eq 4 ]
	[[ "$output" == *"from created"* ]]
}

@test "named volumes persist across container removal and are shared" {
	cryo run --name w1 -v data:/data busybox sh -c 'echo persisted > /data/f'
	cryo rm w1
	run cryo run --rm -v data:/data busybox cat /data/f
	[ "$status" -eq 0 ]
	[ "$output" = persisted ]
	# two containers share one volume at the same time
	cryo run -d --name a -v shared:/s busybox sh -c 'while true; do date +%s%N > /s/a; sleep 0.05; done'
	cryo run -d --name b -v shared:/s busybox sh -c 'while [ ! -s /s/a ]; do sleep 0.05; done; echo seen > /s/b; sleep 100'
	wait_for 10 test -f "$ROOT/volumes/shared/_data/b"
	run cryo volume ls
	[[ "$output" == *shared* ]]
	run cryo volume rm shared
	[ "$status" -eq 125 ]
	[[ "$output" == *"in use"* ]]
	cryo rm -f a b
	run cryo volume rm shared
	[ "$status" -eq 0 ]
	[ ! -e "$ROOT/volumes/shared" ]
}

@test "bind mounts and read-only volumes" {
	mkdir -p "$TEST_DIR/host"
	echo from-host > "$TEST_DIR/host/file"
	run cryo run -v "$TEST_DIR/host:/h:ro" busybox sh -c 'cat /h/file; echo x > /h/new'
	[ "$status" -ne 0 ]
	[[ "$output" == *from-host* ]]
	[ ! -e "$TEST_DIR/host/new" ]
}

@test "pause stops a workload's progress, unpause resumes it" {
	cryo run -d --name p -v pv:/d busybox sh -c 'i=0; while true; do i=$((i+1)); echo $i > /d/n.tmp; mv /d/n.tmp /d/n; done'
	f=$ROOT/volumes/pv/_data/n
	num() { cat "$f"; }
	wait_for 5 test -s "$f"
	cryo pause p
	assert_container_status p paused
	a=$(num)
	sleep 0.3
	b=$(num)
	[ "$a" = "$b" ]
	cryo unpause p
	sleep 0.3
	c=$(num)
	[ "$c" -gt "$b" ]
	run cryo unpause p
	[ "$status" -eq 125 ]
	cryo rm -f p
}

@test "kill sends a signal; rm refuses a running container without -f" {
	cryo run -d --name k busybox sh -c 'trap "exit 42" USR1; while true; do sleep 0.05; done'
	run cryo rm k
	[ "$status" -eq 125 ]
	[[ "$output" == *"stop it first"* ]]
	sleep 0.2
	cryo kill -s USR1 k
	run cryo wait k
	[ "$output" = 42 ]
	run cryo rm k
	[ "$status" -eq 0 ]
	run cryo ps -a -q
	[ -z "$output" ]
	[ -z "$(ls "$ROOT/containers")" ]
}

@test "exec runs a command in a running container" {
	cryo run -d --name e busybox sh -c 'echo inside > /marker; sleep 100'
	wait_for 5 bash -c "'$CRYO' --root '$ROOT' --runroot '$RUNROOT' exec e cat /marker | grep -q inside"
	run cryo exec e sh -c 'exit 5'
	[ "$status" -eq 5 ]
	cryo rm -f e
}

@test "two containers run at once and are addressed by name or ID prefix" {
	id1=$(cryo run -d --name one busybox sleep 100)
	id2=$(cryo run -d --name two busybox sleep 100)
	run cryo ps -q
	[ "${#lines[@]}" -eq 2 ]
	run cryo inspect "${id1:0:12}"
	[ "$(jq -r '.[0].Name' <<<"$output")" = one ]
	cryo rm -f one "${id2:0:10}"
	run cryo ps -a -q
	[ -z "$output" ]
}

@test "bad input gets a clear error, exit 125, and leaves nothing behind" {
	run cryo run nosuchimage true
	[ "$status" -eq 125 ]
	[[ "$output" == *"nosuchimage"* ]]
	cryo create --name taken busybox true
	run cryo create --name taken busybox true
	[ "$status" -eq 125 ]
	[[ "$output" == *"already in use"* ]]
	run cryo run -v 'bad' busybox true
	[ "$status" -eq 125 ]
	[[ "$output" == *"malformed volume"* ]]
	run cryo run -v 'vol:relative' busybox true
	[ "$status" -eq 125 ]
	run cryo run -v '/nonexistent-host-dir-cryo:/x' busybox true
	[ "$status" -eq 125 ]
	run cryo run --name 'bad/name' busybox true
	[ "$status" -eq 125 ]
	run cryo run --memory lots busybox true
	[ "$status" -eq 125 ]
	run cryo run --network bridge busybox true
	[ "$status" -eq 125 ]
	run cryo stop nosuch
	[ "$status" -eq 125 ]
	[[ "$output" == *"no such container"* ]]
	run cryo run --bogus busybox true
	[ "$status" -eq 125 ]
	run cryo run
	[ "$status" -eq 125 ]
	run cryo frobnicate
	[ "$status" -eq 125 ]
	run cryo image rm busybox
	[ "$status" -eq 125 ]
	[[ "$output" == *taken* ]]
	# only the one good container exists: no partial containers, volumes or mounts
	run cryo ps -a -q
	[ "${#lines[@]}" -eq 1 ]
	[ "$(ls "$ROOT/containers" | wc -l)" -eq 1 ]
	run cryo volume ls --format json
	[ "$(jq length <<<"$output")" -eq 0 ]
	! grep -q "$TEST_DIR" /proc/self/mountinfo
}

@test "a container whose command does not exist fails cleanly" {
	run cryo run --name nocmd busybox /no/such/binary
	[ "$status" -ne 0 ]
	run cryo ps -a -q
	[ -z "$output" ] || [ "${#lines[@]}" -le 1 ]
	! grep -q "$TEST_DIR/root/containers/.*/rootfs" /proc/self/mountinfo
}

@test "--hostname, --label and --read-only" {
	run cryo run --rm --hostname myhost busybox hostname
	[ "$output" = myhost ]
	cryo create --name lb --label app=web --label tier=1 busybox true >/dev/null
	[ "$(cryo inspect lb | jq -c '.[0].Config.labels')" = '["app=web","tier=1"]' ]
	run cryo run --rm --label =x busybox true
	[ "$status" -eq 125 ]
	[[ "$output" == *"malformed label \`=x\`: expected KEY=VALUE"* ]]
	run cryo run --rm --read-only -v vol:/data busybox sh -c 'touch /x; echo in-volume > /data/f && cat /data/f'
	[[ "$output" == *"touch: /x: Read-only file system"* ]]
	[[ "$output" == *in-volume* ]]
	run cryo run --rm busybox sh -c 'touch /x && echo writable'
	[ "$output" = writable ]
}

@test "a read-only container stays read-only through checkpoint and restore, labels too" {
	cryo run -d --name ro --read-only --label keep=me busybox sleep 1000 >/dev/null
	cryo checkpoint --export "$TEST_DIR/ro.tar.zst" ro >/dev/null
	cryo restore --import "$TEST_DIR/ro.tar.zst" --name ro2 >/dev/null
	run cryo exec ro2 sh -c 'touch /x'
	[ "$status" -ne 0 ]
	[[ "$output" == *"Read-only file system"* ]]
	[ "$(cryo inspect ro2 | jq -c '.[0].Config.labels')" = '["keep=me"]' ]
}

@test "--tmpfs mounts a tmpfs, always nosuid and nodev, with the options given" {
	run cryo run --rm --tmpfs /scratch:size=1m,mode=1770 --tmpfs /other busybox grep -E ' /(scratch|other) ' /proc/mounts
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" =~ ^tmpfs\ /scratch\ tmpfs\ rw,nosuid,nodev,.*size=1024k,.*mode=1770 ]]
	[[ "${lines[1]}" =~ ^tmpfs\ /other\ tmpfs\ rw,nosuid,nodev ]]
	run cryo run --rm --tmpfs /ro:ro busybox touch /ro/x
	[ "$status" -ne 0 ]
	[[ "$output" == *"Read-only file system"* ]]
}

@test "--tmpfs refuses bad options and paths, leaving nothing behind" {
	for bad in /x:suid /x:dev /x:size=1z /x:mode=8 /x:uid=-1 '/x:size=1m,,ro' '/x:size=1m,' x /x/../y / '/x:exec,nosymfollow'; do
		run cryo create --name bad --tmpfs "$bad" busybox true
		echo "$bad: $output"
		[ "$status" -eq 125 ]
		[[ "$output" == *"tmpfs"* ]]
	done
	run cryo create --name bad --tmpfs /x:suid busybox true
	[[ "$output" == *"tmpfs option \`suid\` is not one of"* ]]
	run cryo create --name twice --tmpfs /data -v vol:/data busybox true
	[ "$status" -eq 125 ]
	[ -z "$(cryo ps -a -q)" ]
}
