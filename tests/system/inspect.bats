#!/usr/bin/env bats
# cryo checkpoint inspect: what a checkpoint holds, read from the archive as a
# stream (or from the engine's kept checkpoint), without restoring it.

load helpers
load workload
load archive
load podman
bats_require_minimum_version 1.5.0

setup() {
	setup_engine
	import_workload_image
}

teardown() {
	teardown_podman
	teardown_engine
}

# A live checkpoint of proctree (a parent and two children, joined by pipes,
# the parent holding /state/tree.log open) exported to $TEST_DIR/tree.tar.zst.
export_proctree() {
	cryo run -d --name tree workload sh -c 'mkdir -p /state; exec /usr/local/bin/proctree --dir /state' >/dev/null
	pids_written() { [ -n "$(cryo exec tree cat /state/tree.pids 2>/dev/null)" ]; }
	wait_for 10 pids_written
	cryo checkpoint --leave-running --export "$TEST_DIR/tree.tar.zst" tree >/dev/null
}

@test "--ps-tree --format json: the proctree workload's three processes with their commands and parents" {
	export_proctree
	run cryo checkpoint inspect --ps-tree --format json "$TEST_DIR/tree.tar.zst"
	[ "$status" -eq 0 ]
	[ "$(jq -r .engine <<<"$output")" = cryo ]
	[ "$(jq -r .container.name <<<"$output")" = tree ]
	[ "$(jq -r .container.image <<<"$output")" = workload:latest ]
	[ "$(jq '.processes | length' <<<"$output")" -eq 3 ]
	[ "$(jq -r '[.processes[].command] | unique | join(",")' <<<"$output")" = proctree ]
	# the parent is the container's PID 1; both children are its children
	[ "$(jq -r '.processes[] | select(.ppid == 0) | .pid' <<<"$output")" = 1 ]
	[ "$(jq '[.processes[] | select(.ppid == 1)] | length' <<<"$output")" -eq 2 ]
	# the PIDs are the ones the tree wrote before the checkpoint
	[ "$(jq -r '[.processes[].pid] | sort | join(" ")' <<<"$output")" = \
		"$(cryo exec tree cat /state/tree.pids | awk '{print $NF}' | sort -n | paste -sd' ')" ]
}

@test "--files --format json: each process's open files, the parent's log file and the pipes" {
	export_proctree
	run cryo checkpoint inspect --files --format json "$TEST_DIR/tree.tar.zst"
	[ "$status" -eq 0 ]
	[ "$(jq -r '.files[] | select(.pid == 1 and .path == "/state/tree.log") | .type' <<<"$output")" = REG ]
	# each child writes to the parent through a pipe of its own: the parent
	# holds both pipes' read ends, each child one of them
	parent_pipes=$(jq -r '[.files[] | select(.pid == 1 and .fd > 3 and .type == "PIPE") | .path] | sort | join(" ")' <<<"$output")
	[ "$(wc -w <<<"$parent_pipes")" -eq 2 ]
	children_pipes=$(jq -r '[.files[] | select(.pid != 1 and .fd > 2 and .type == "PIPE") | .path] | sort | join(" ")' <<<"$output")
	[ "$children_pipes" = "$parent_pipes" ]
	[ "$(jq '[.files[] | select(.path == "/dev/null")] | length' <<<"$output")" -eq 3 ]
	# without --files (or --ps-tree) neither section is there
	run cryo checkpoint inspect --format json "$TEST_DIR/tree.tar.zst"
	[ "$(jq 'has("files") or has("processes")' <<<"$output")" = false ]
}

@test "the default output is a table: container, versions, times, signature, sizes and the process tree" {
	export_proctree
	run cryo checkpoint inspect --ps-tree --stats "$TEST_DIR/tree.tar.zst"
	[ "$status" -eq 0 ]
	[[ "$output" == *"Engine:          cryo "* ]]
	[[ "$output" == *"Container:       tree"* ]]
	[[ "$output" == *"Image:           workload:latest"* ]]
	[[ "$output" == *"Runtime:         runc (runc version "* ]]
	[[ "$output" == *"CRIU:            4."* ]]
	grep -qE '^Checkpointed: +20[0-9]{2}-[0-9]{2}-[0-9]{2}T' <<<"$output"
	grep -qE '^Signature: +verified \(key SHA256:' <<<"$output"
	grep -qE '^Memory pages: +[0-9.]+ KiB' <<<"$output"
	grep -qE '^PID +PPID +THREADS +COMMAND$' <<<"$output"
	[ "$(grep -cE '^[0-9]+ +[01] +1 +( )*proctree$' <<<"$output")" -eq 3 ]
	grep -qE '^  pages_written: +[1-9][0-9]*$' <<<"$output"
	! jq . <<<"$output" >/dev/null 2>&1
}

@test "the archive carries what checkpointctl and Podman read: stats-dump, io.container.manager, config.dump's fields" {
	export_proctree
	tar -C "$TEST_DIR" -xf "$TEST_DIR/tree.tar.zst" config.dump spec.dump stats-dump
	[ "$(jq -r '.annotations["io.container.manager"]' "$TEST_DIR/spec.dump")" = cryo ]
	[ "$(jq -r '[.id, .name, .rootfsImageName, .runtime] | join(" ")' "$TEST_DIR/config.dump")" = \
		"$(cryo inspect tree | jq -r '.[0].Id') tree workload:latest runc" ]
	jq -r '.createdTime, .checkpointedTime' "$TEST_DIR/config.dump" | grep -cE '^20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\.[0-9]{6}Z$' | grep -qx 2
	# CRIU's own statistics image: its magics, then one entry
	[ "$(od -An -tx4 -N8 "$TEST_DIR/stats-dump" | tr -s ' ')" = " 55105940 57093306" ]
}

@test "signature status: verified, untrusted key, unsigned, and bad when a file was changed" {
	export_proctree
	status_of() { cryo checkpoint inspect --format json "$1" | jq -r '.signature.status'; }
	[ "$(status_of "$TEST_DIR/tree.tar.zst")" = verified ]
	# another engine does not trust this one's key, and inspecting makes it no key of its own
	run "$CRYO" --root "$TEST_DIR/root2" --runroot "$TEST_DIR/run2" checkpoint inspect --format json "$TEST_DIR/tree.tar.zst"
	[ "$(jq -r .signature.status <<<"$output")" = "untrusted key" ]
	fingerprint=SHA256:$(cryo key show | awk '{print $2}' | base64 -d | openssl dgst -sha256 -binary | base64 | tr -d =)
	[ "$(jq -r .signature.key <<<"$output")" = "$fingerprint" ]
	[ ! -e "$TEST_DIR/root2/keys/engine.key" ]
	unpack_archive "$TEST_DIR/tree.tar.zst" "$TEST_DIR/files"
	make_signing_key "$TEST_DIR/other.pem" "$TEST_DIR/other.pub" other
	repack_archive "$TEST_DIR/files" "$TEST_DIR/other.tar" "$TEST_DIR/other.pem"
	[ "$(status_of "$TEST_DIR/other.tar")" = "untrusted key" ]
	cryo trust add "$TEST_DIR/other.pub" >/dev/null
	[ "$(status_of "$TEST_DIR/other.tar")" = verified ]
	repack_archive "$TEST_DIR/files" "$TEST_DIR/unsigned.tar"
	[ "$(status_of "$TEST_DIR/unsigned.tar")" = unsigned ]
	# the signature of the real archive over a changed root file system diff
	printf 'x' >>"$TEST_DIR/files/rootfs-diff.tar"
	repack_archive "$TEST_DIR/files" "$TEST_DIR/bad.tar" "" "$TEST_DIR/tree.tar.zst"
	run cryo checkpoint inspect --format json "$TEST_DIR/bad.tar"
	[ "$status" -eq 0 ]
	[ "$(jq -r .signature.status <<<"$output")" = bad ]
	[[ "$(jq -r .signature.reason <<<"$output")" == *"does not match the manifest"* ]]
}

@test "a corrupt, truncated or foreign file gets a clear error, exit 125" {
	export_proctree
	size=$(stat -c %s "$TEST_DIR/tree.tar.zst")
	head -c $((size / 2)) "$TEST_DIR/tree.tar.zst" >"$TEST_DIR/truncated.tar.zst"
	run cryo checkpoint inspect "$TEST_DIR/truncated.tar.zst"
	[ "$status" -eq 125 ]
	[[ "$output" == "Error: inspect checkpoint archive \`$TEST_DIR/truncated.tar.zst\`: "*"(archive truncated or corrupt)"* ]]
	head -c 4096 /dev/urandom >"$TEST_DIR/noise"
	run cryo checkpoint inspect "$TEST_DIR/noise"
	[ "$status" -eq 125 ]
	[[ "$output" == *"\`$TEST_DIR/noise\`: "*"not a checkpoint archive"* ]]
	tar -C "$BATS_TEST_DIRNAME" -cf "$TEST_DIR/other.tar" helpers.bash
	run cryo checkpoint inspect "$TEST_DIR/other.tar"
	[ "$status" -eq 125 ]
	[[ "$output" == *"no \`config.dump\` in it (not a container checkpoint)"* ]]
	run cryo checkpoint inspect "$TEST_DIR/missing.tar"
	[ "$status" -eq 125 ]
	[[ "$output" == *"no checkpoint archive \`$TEST_DIR/missing.tar\` (no such file)"* ]]
	# a process tree that names a task with no core image
	unpack_archive "$TEST_DIR/tree.tar.zst" "$TEST_DIR/files"
	rm "$TEST_DIR/files/checkpoint/core-1.img"
	repack_archive "$TEST_DIR/files" "$TEST_DIR/nocore.tar"
	run cryo checkpoint inspect --ps-tree "$TEST_DIR/nocore.tar"
	[ "$status" -eq 125 ]
	[[ "$output" == *"no \`checkpoint/core-1.img\` in it"* ]]
}

@test "inspect holds an archive to the import limits, and writes nothing" {
	export_proctree
	printf '[import]\nmax_entries = 20\n' >"$TEST_DIR/cryo.conf"
	# the container's own writes would change the engine's directories
	cryo rm -f tree >/dev/null
	before=$(find "$ROOT" "$RUNROOT" | sort)
	run cryo --config "$TEST_DIR/cryo.conf" checkpoint inspect "$TEST_DIR/tree.tar.zst"
	[ "$status" -eq 125 ]
	[[ "$output" == *"more than 20 entries"*"import.max_entries"* ]]
	# negative control: within the default limits it is read
	run cryo checkpoint inspect --ps-tree --files --mounts "$TEST_DIR/tree.tar.zst"
	[ "$status" -eq 0 ]
	assert_equal "$(find "$ROOT" "$RUNROOT" | sort)" "$before" "inspect wrote into the engine's directories"
}

@test "names from the images are shown escaped, never as terminal control bytes" {
	cryo run -d --name esc workload sh -c 'mkdir -p /state; exec 7>"/state/$(printf "a\033[31mb")"; exec sleep 1000' >/dev/null
	has_fd() { cryo exec esc ls /proc/1/fd/7 >/dev/null 2>&1; }
	wait_for 10 has_fd
	cryo checkpoint --leave-running --export "$TEST_DIR/esc.tar" --compress none esc >/dev/null
	run cryo checkpoint inspect --files "$TEST_DIR/esc.tar"
	[ "$status" -eq 0 ]
	[[ "$output" == *'/state/a\x1b[31mb'* ]]
	! grep -q $'\033' <<<"$output"
}

@test "a container's kept checkpoint is inspected by the container's name" {
	export_proctree
	cryo checkpoint tree >/dev/null
	run cryo checkpoint inspect --ps-tree --format json tree
	[ "$status" -eq 0 ]
	[ "$(jq -r .signature.status <<<"$output")" = "not an archive" ]
	[ "$(jq '.processes | length' <<<"$output")" -eq 3 ]
	cryo run -d --name fresh workload sleep 1000 >/dev/null
	run cryo checkpoint inspect fresh
	[ "$status" -eq 125 ]
	[[ "$output" == *"container \`fresh\` has no checkpoint kept by the engine"* ]]
}

@test "an archive exported by Podman 4.3.1: engine, container, image, unsigned, and its process tree" {
	setup_podman
	podman_import_workload
	podman run -d --network none --name ptree localhost/workload:latest \
		sh -c 'mkdir -p /state; exec /usr/local/bin/proctree --dir /state' >/dev/null
	pids_written() { [ -n "$(podman exec ptree cat /state/tree.pids 2>/dev/null)" ]; }
	wait_for 10 pids_written
	podman container checkpoint --leave-running --export "$TEST_DIR/podman.tar.zst" ptree >/dev/null
	run cryo checkpoint inspect --ps-tree --files --format json "$TEST_DIR/podman.tar.zst"
	[ "$status" -eq 0 ]
	[ "$(jq -r .engine <<<"$output")" = Podman ]
	[ "$(jq -r .container.name <<<"$output")" = ptree ]
	[ "$(jq -r .container.id <<<"$output")" = "$(podman inspect --format '{{.Id}}' ptree)" ]
	[ "$(jq -r .container.image <<<"$output")" = localhost/workload:latest ]
	[ "$(jq -r .container.runtime <<<"$output")" = runc ]
	[ "$(jq -r .signature.status <<<"$output")" = unsigned ]
	[ "$(jq -r '[.processes[].command] | join(",")' <<<"$output")" = proctree,proctree,proctree ]
	[ "$(jq -r '.files[] | select(.pid == 1 and .path == "/state/tree.log") | .type' <<<"$output")" = REG ]
	run cryo checkpoint inspect --stats "$TEST_DIR/podman.tar.zst"
	[ "$status" -eq 0 ]
	grep -qE '^Engine: +Podman$' <<<"$output"
	grep -qE '^  pages_written: +[1-9][0-9]*$' <<<"$output"
	# unsigned, as inspect said: a restore needs --insecure-unsigned
	# (podman-import.bats restores one), and nothing is left behind
	run cryo restore --import "$TEST_DIR/podman.tar.zst" --name frompodman
	[ "$status" -eq 125 ]
	[[ "$output" == *"exported by Podman"*"never signed"*"--insecure-unsigned"* ]]
	[ "$(cryo ps -a --format json | jq length)" -eq 0 ]
}
