#!/usr/bin/env bats
# Restoring a checkpoint exported by Debian's Podman 4.3.1 (`podman container
# checkpoint --export`): the counter workload checkpointed by Podman keeps
# counting in cryo; the export is unsigned and hostile like any archive.

load helpers
load workload
load podman
bats_require_minimum_version 1.5.0

# Podman exports of the counter (`--network none`, checkpointed and stopped)
# for the whole file, uncompressed so that the tests can take them apart:
# $BATS_FILE_TMPDIR/counter.tar counts in its root file system,
# $BATS_FILE_TMPDIR/volume.tar in the named volume `podvol` at /data.
setup_file() {
	setup_engine
	setup_podman
	podman_import_workload
	podman run -d --network none --name counter localhost/workload:latest \
		/usr/local/bin/counter --file /state/counter --stats /state/stats >/dev/null
	podman run -d --network none --name vcounter -v podvol:/data localhost/workload:latest \
		/usr/local/bin/counter --file /data/counter --stats /data/stats >/dev/null
	counted() { [ "$(podman exec "$1" cat "$2" 2>/dev/null | tr -d '\n' | sed 's/^0*//')" -gt 1000 ]; }
	wait_for 10 counted counter /state/counter
	wait_for 10 counted vcounter /data/counter
	# a deleted file of the image: in the export's deleted.files
	podman exec counter rm /usr/local/bin/hostile
	podman container checkpoint --compress none --export "$BATS_FILE_TMPDIR/counter.tar" counter >/dev/null
	podman container checkpoint --compress none --export "$BATS_FILE_TMPDIR/volume.tar" vcounter >/dev/null
	podman inspect --format '{{.Id}}' counter >"$BATS_FILE_TMPDIR/podman-id"
	teardown_podman
	teardown_engine
}

setup() {
	setup_engine
	cp "$BATS_FILE_TMPDIR/counter.tar" "$TEST_DIR/counter.tar"
}

teardown() {
	teardown_engine
}

# The image Podman ran, under the name Podman's export gives it.
import_podman_image() {
	cryo image import "$(workload_rootfs_tar)" localhost/workload >/dev/null
}

# The counter value the container's workload last wrote (read inside it).
counter_value() { # container [file]
	cryo exec "$1" cat "${2:-/state/counter}" | tr -d ' \n' | sed 's/^0*//;s/^$/0/'
}

# The value the export's root file system diff holds: where counting stopped.
archived_value() { # archive
	tar -xOf "$1" rootfs-diff.tar | tar -xOf - state/counter | tr -d ' \n' | sed 's/^0*//;s/^$/0/'
}

counter_above() { # container value [file]
	local v
	v=$(counter_value "$1" "${3:-}") && [ "$v" -gt "$2" ]
}

# Nothing was restored and nothing is left over.
assert_nothing_left() {
	run cryo ps -a -q
	[ -z "$output" ]
	[ -z "$(ls -A "$ROOT/tmp" 2>/dev/null)" ]
	[ -z "$(ls -A "$ROOT/containers" 2>/dev/null)" ]
}

# repack_podman DIR ARCHIVE: DIR as Podman packs it (config.dump first, no
# index or manifest).
repack_podman() {
	local names
	mapfile -t names < <(find "$1" -mindepth 1 -maxdepth 1 ! -name config.dump -printf '%f\n')
	tar -C "$1" -cf "$2" config.dump "${names[@]}"
}

# The export unpacked into $TEST_DIR/x, changed by jq program $2 on file $1
# and packed again as $TEST_DIR/bad.tar.
tamper() { # file jq-program
	rm -rf "$TEST_DIR/x" && mkdir -p "$TEST_DIR/x"
	tar -C "$TEST_DIR/x" -xf "$TEST_DIR/counter.tar"
	jq -c "$2" "$TEST_DIR/x/$1" >"$TEST_DIR/x/$1.new" && mv "$TEST_DIR/x/$1.new" "$TEST_DIR/x/$1"
	repack_podman "$TEST_DIR/x" "$TEST_DIR/bad.tar"
}

# Restoring $TEST_DIR/bad.tar fails with a message holding $1; nothing stays.
assert_refused() { # expected-text
	run cryo restore --import "$TEST_DIR/bad.tar" --insecure-unsigned
	[ "$status" -eq 125 ]
	[[ "$output" == *"$1"* ]] || { echo "expected: $1" >&2; return 1; }
	assert_nothing_left
}

@test "a Podman 4.3.1 export of the counter restores in cryo and keeps counting from its value, consistent" {
	import_podman_image
	before=$(archived_value "$TEST_DIR/counter.tar")
	[ "$before" -gt 1000 ]
	run cryo restore --import "$TEST_DIR/counter.tar" --insecure-unsigned
	[ "$status" -eq 0 ]
	# Podman's name; a new ID of cryo's (the Podman ID is another engine's)
	run cryo inspect counter
	[ "$(jq -r '.[0].State.Status' <<<"$output")" = running ]
	[ "$(jq -r '.[0].Id' <<<"$output")" != "$(cat "$BATS_FILE_TMPDIR/podman-id")" ]
	# it went on from where Podman stopped it (a fresh start would begin at 0)
	first=$(counter_value counter)
	[ "$first" -ge "$before" ]
	wait_for 10 counter_above counter "$first"
	run cryo logs counter
	[ "$(grep -c VIOLATION <<<"$output")" -eq 0 ]
	run cryo ps --format json
	[ "$(jq -r '.[0].Name' <<<"$output")" = counter ]
	# the file deleted in Podman is gone here too; the rest of the image is there
	run cryo exec counter test -e /usr/local/bin/hostile
	[ "$status" -eq 1 ]
	cryo exec counter test -x /usr/local/bin/proctree
}

@test "a container restored from a Podman export is checkpointed, exported and restored again, stopped and removed" {
	import_podman_image
	cryo restore --import "$TEST_DIR/counter.tar" --insecure-unsigned >/dev/null
	wait_for 10 counter_above counter 0
	cryo checkpoint counter >/dev/null
	run cryo restore counter
	[ "$status" -eq 0 ]
	a=$(counter_value counter)
	wait_for 10 counter_above counter "$a"
	cryo checkpoint --leave-running --export "$TEST_DIR/again.tar" counter >/dev/null
	# Podman's default CAP_MKNOD is an added capability in cryo's own
	# archive: the import policy wants it granted again
	run cryo restore --import "$TEST_DIR/again.tar" --name copy
	assert_status 125
	assert_output_contains 'restore with --cap-add CAP_MKNOD'
	run cryo restore --import "$TEST_DIR/again.tar" --name copy --cap-add mknod
	[ "$status" -eq 0 ]
	b=$(counter_value copy)
	[ "$b" -ge "$a" ]
	wait_for 10 counter_above copy "$b"
	run cryo logs copy
	[ "$(grep -c VIOLATION <<<"$output")" -eq 0 ]
	cryo stop counter >/dev/null
	[ "$(cryo inspect counter | jq -r '.[0].State.Status')" = exited ]
	cryo rm -f counter copy >/dev/null
	assert_nothing_left
}

@test "a Podman export's named volume becomes a volume of this engine with its data; an existing one is not overwritten" {
	import_podman_image
	before=$(tar -xOf "$BATS_FILE_TMPDIR/volume.tar" volumes/podvol.tar | tar -xOf - ./counter | tr -d ' \n' | sed 's/^0*//')
	run cryo restore --import "$BATS_FILE_TMPDIR/volume.tar" --insecure-unsigned
	[ "$status" -eq 0 ]
	run cryo volume ls --format json
	[ "$(jq -r '.[].Name' <<<"$output")" = podvol ]
	first=$(counter_value vcounter /data/counter)
	[ "$first" -ge "$before" ]
	wait_for 10 counter_above vcounter "$first" /data/counter
	run cryo logs vcounter
	[ "$(grep -c VIOLATION <<<"$output")" -eq 0 ]
	# a second copy would overwrite podvol's data under the first: refused
	run cryo restore --import "$BATS_FILE_TMPDIR/volume.tar" --insecure-unsigned --name second
	[ "$status" -eq 125 ]
	[[ "$output" == *"volume \`podvol\` already exists in this engine"* ]]
	[ "$(cryo ps -a -q | wc -l)" -eq 1 ]
}

@test "a Podman export is unsigned: refused without --insecure-unsigned, before anything is written" {
	import_podman_image
	run cryo restore --import "$TEST_DIR/counter.tar"
	[ "$status" -eq 125 ]
	[[ "$output" == *"exported by Podman"*"never signed"*"--insecure-unsigned"* ]]
	assert_nothing_left
}

@test "a Podman export whose image is not in this engine: the error names the image, nothing is left" {
	run cryo restore --import "$TEST_DIR/counter.tar" --insecure-unsigned
	[ "$status" -eq 125 ]
	[[ "$output" == *"needs image \`localhost/workload:latest\`"*"import or load it first"* ]]
	assert_nothing_left
}

@test "a tampered Podman spec.dump is refused, nothing is left: escaping mount, host bind, capability, host namespace" {
	import_podman_image
	# control: the export taken apart and packed again restores
	tamper spec.dump .
	run cryo restore --import "$TEST_DIR/bad.tar" --insecure-unsigned --name control
	[ "$status" -eq 0 ]
	cryo rm -f control >/dev/null
	assert_nothing_left

	tamper spec.dump '(.mounts[] | select(.destination == "/etc/hosts") | .destination) = "/etc/../../../etc/hosts"'
	assert_refused 'is not a clean absolute path'
	tamper spec.dump '.mounts += [{destination: "/host", type: "bind", source: "/", options: ["rbind"]}]'
	assert_refused 'has a bind mount at `/host`'
	tamper spec.dump '.process.capabilities.bounding += ["CAP_SYS_ADMIN"]'
	assert_refused 'capability `CAP_SYS_ADMIN` (bounding) is more than Podman'"'"'s defaults'
	tamper spec.dump '.linux.namespaces |= map(select(.type != "pid"))'
	assert_refused "shares the host's pid namespace"
	tamper spec.dump '.linux.namespaces |= map(if .type == "network" then .path = "/proc/1/ns/net" else . end)'
	assert_refused 'joined an existing network namespace'
}

@test "a tampered Podman config.dump or layout is refused, nothing is left: privileged, bad name, a file outside the layout" {
	import_podman_image
	tamper config.dump '.privileged = true'
	assert_refused 'is privileged'
	tamper config.dump '.name = "../../etc"'
	assert_refused '`name` is not a valid container name'
	tamper config.dump '.rootfsImageName = 5'
	assert_refused '`rootfsImageName` is not an image name'
	tamper config.dump '.namedVolumes = [{volumeName: "../../etc", dest: "/data", options: []}]'
	assert_refused 'invalid volume name'
	tamper network.status '{"podman": {"interfaces": {}}}'
	assert_refused 'was on a Podman network'
	tamper config.dump .
	echo 'echo pwned' >"$TEST_DIR/x/run.sh"
	repack_podman "$TEST_DIR/x" "$TEST_DIR/bad.tar"
	assert_refused 'entry `run.sh`: not part of a Podman checkpoint export'
}
