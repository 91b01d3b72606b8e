#!/usr/bin/env bats
# -u NAME[:GROUP]: names resolved from the container's own /etc/passwd and
# /etc/group, which are image data: read beneath the root file system.

load helpers
bats_require_minimum_version 1.5.0

setup() {
	setup_engine
	import_busybox
}

teardown() {
	teardown_engine
}

# An image "custom" from the busybox root file system after running $1 in it
# (a shell snippet, run from the rootfs directory on the host).
import_custom_image() {
	local dir=$TEST_DIR/custom
	mkdir -p "$dir"
	tar -C "$dir" -xf "$(busybox_rootfs_tar)"
	(cd "$dir" && eval "$1")
	tar -C "$dir" -cf "$TEST_DIR/custom.tar" .
	cryo image import "$TEST_DIR/custom.tar" custom >/dev/null
}

@test "run -u NAME takes the user's uid and primary group from the image's /etc/passwd" {
	run cryo run --rm -u nobody busybox id
	[ "$status" -eq 0 ]
	[ "$output" = "uid=65534(nobody) gid=65534(nogroup)" ]
}

@test "run -u NAME:GROUP and UID:GROUP take the group from the image's /etc/group" {
	run cryo run --rm -u nobody:root busybox id -g
	[ "$output" = 0 ]
	run cryo run --rm -u 1234:nogroup busybox id
	[ "$output" = "uid=1234 gid=65534(nogroup)" ]
	# the stored configuration holds the numbers
	cryo create --name c -u nobody busybox true >/dev/null
	[ "$(cryo inspect c | jq -r '.[0].Config.user')" = 65534:65534 ]
}

@test "an image whose USER is a name runs as that user" {
	import_custom_image 'printf "app:x:4321:4322::/:/bin/sh\n" >>etc/passwd'
	run cryo run --rm -u app custom id -u
	[ "$output" = 4321 ]
}

@test "an unknown user or group is a clear error and leaves no container behind" {
	run cryo run --name x -u ghost busybox id
	[ "$status" -eq 125 ]
	[[ "$output" == *"user \`ghost\`: no user \`ghost\` in the container's /etc/passwd"* ]]
	run cryo run --name x -u nobody:nope busybox id
	[ "$status" -eq 125 ]
	[[ "$output" == *"no group \`nope\` in the container's /etc/group"* ]]
	run cryo run --name x -u 'a;b' busybox id
	[ "$status" -eq 125 ]
	[[ "$output" == *"expected NAME or UID"* ]]
	run cryo ps -a --quiet
	[ -z "$output" ]
}

@test "exec -u NAME resolves in the running container" {
	cryo run -d --name box busybox sleep 1000 >/dev/null
	cryo exec box sh -c 'echo "late:x:777:65534::/:/bin/sh" >> /etc/passwd'
	run cryo exec -u late box id
	[ "$output" = "uid=777(late) gid=65534(nogroup)" ]
	run cryo exec -u nobody:nope box id
	[ "$status" -eq 125 ]
	[[ "$output" == *"container \`box\`: user \`nobody:nope\`: no group"* ]]
}

@test "an image's /etc/passwd that links out of the image never reads the host's" {
	# The host has user _apt; a link that climbs out would find it there.
	grep -q '^_apt:' /etc/passwd || skip "the host has no _apt user to leak"
	import_custom_image 'rm etc/passwd; ln -s ../../../../../../../../../../../../etc/passwd etc/passwd'
	run cryo run --rm -u _apt custom id
	[ "$status" -eq 125 ]
	[[ "$output" != *"uid="* ]]
	[[ "$output" == *"user \`_apt\`"* ]]
}

@test "an image's /etc/passwd that is a FIFO is refused, not waited on" {
	import_custom_image 'rm etc/passwd; mkfifo etc/passwd'
	run timeout 20 "$CRYO" --root "$ROOT" --runroot "$RUNROOT" run --rm -u nobody custom id
	[ "$status" -eq 125 ]
	[[ "$output" == *"\`/etc/passwd\` is not a regular file"* ]]
}
