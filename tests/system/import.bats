#!/usr/bin/env bats
# Restoring an archive from elsewhere: authenticity (signatures and trusted
# keys), policy (what an archive cannot decide), limits, and hostile content.
# The hostile archives are attacker-consistent: index and manifest recomputed
# for what they hold, signed with the attacker's own key, which the engine is
# made to trust, so that only the policy and limits stand in the way.

load helpers
load workload
load archive

setup() {
	setup_engine
	import_workload_image
}

teardown() {
	teardown_engine
}

cryo2() {
	"$CRYO" --root "$TEST_DIR/root2" --runroot "$TEST_DIR/run2" "$@"
}

running() { # engine-function container
	[ "$("$1" inspect "$2" | jq -r '.[0].State.Status')" = running ]
}

# A running container's checkpoint, exported (signed by this engine) to $1.
export_sleeper() { # archive [run options...]
	local archive=$1
	shift
	cryo run -d --name src "$@" workload sh -c 'echo ready > /ready; exec sleep 1000' >/dev/null
	wait_for 10 cryo exec src test -e /ready
	cryo checkpoint --leave-running --export "$archive" --compress none src >/dev/null
}

# The attacker's key, trusted by this engine: only the policy stands in the way.
trusted_attacker_key() {
	make_signing_key "$TEST_DIR/attacker.pem" "$TEST_DIR/attacker.pub" attacker@elsewhere
	cryo trust add "$TEST_DIR/attacker.pub" >/dev/null
}

# Nothing was restored and nothing is left over.
assert_engine_unchanged() { # engine-function root [containers expected]
	run "$1" ps -a -q
	[ "$(grep -c . <<<"$output")" -eq "${3:-0}" ]
	[ -z "$(ls -A "$2/tmp")" ]
}

@test "an archive from another engine is refused until its key is trusted, then restored" {
	export_sleeper "$TEST_DIR/c.tar"
	cryo2 image import "$(workload_rootfs_tar)" workload >/dev/null
	# the key's fingerprint, computed independently: SHA-256 of the raw key, unpadded base64
	fingerprint="SHA256:$(cryo key show | awk '{print $2}' | base64 -d | openssl dgst -sha256 -binary | base64 -w0 | tr -d =)"
	run cryo2 restore --import "$TEST_DIR/c.tar" --name copy
	[ "$status" -eq 125 ]
	[[ "$output" == *"signed by key $fingerprint, which this engine does not trust"* ]]
	[[ "$output" == *"cryo key show"*"cryo trust add"* ]]
	assert_engine_unchanged cryo2 "$TEST_DIR/root2"
	# the two-host trust step
	cryo key show >"$TEST_DIR/engine1.pub"
	run cryo2 trust add "$TEST_DIR/engine1.pub"
	[ "$status" -eq 0 ]
	[ "$output" = "$fingerprint" ]
	run cryo2 trust ls
	[[ "$output" == *"$fingerprint"*"cryo@"* ]]
	cryo2 restore --import "$TEST_DIR/c.tar" --name copy
	running cryo2 copy
	run cryo2 exec copy cat /ready
	[ "$output" = ready ]
	# and trust can be taken back
	cryo2 trust rm "$fingerprint"
	run cryo2 restore --import "$TEST_DIR/c.tar" --name copy2
	[ "$status" -eq 125 ]
}

@test "an unsigned archive is refused by default and accepted with --insecure-unsigned" {
	export_sleeper "$TEST_DIR/c.tar"
	unpack_archive "$TEST_DIR/c.tar" "$TEST_DIR/files"
	repack_archive "$TEST_DIR/files" "$TEST_DIR/unsigned.tar"
	# negative control: the repacker writes archives cryo reads when signed by a trusted key
	trusted_attacker_key
	repack_archive "$TEST_DIR/files" "$TEST_DIR/signed.tar" "$TEST_DIR/attacker.pem"
	cryo restore --import "$TEST_DIR/signed.tar" --name signed
	running cryo signed
	run cryo restore --import "$TEST_DIR/unsigned.tar" --name copy
	[ "$status" -eq 125 ]
	[[ "$output" == *"the archive is not signed"*"--insecure-unsigned"* ]]
	assert_engine_unchanged cryo "$ROOT" 2
	cryo restore --import "$TEST_DIR/unsigned.tar" --name copy --insecure-unsigned
	running cryo copy
}

@test "a tampered signed archive is refused, even with --insecure-unsigned" {
	export_sleeper "$TEST_DIR/c.tar"
	unpack_archive "$TEST_DIR/c.tar" "$TEST_DIR/files"
	edit_config "$TEST_DIR/files" '.config.env += ["INJECTED=1"]'
	# the manifest is recomputed for the change; the original signature kept
	repack_archive "$TEST_DIR/files" "$TEST_DIR/tampered.tar" "" "$TEST_DIR/c.tar"
	for flag in "" --insecure-unsigned; do
		run cryo restore --import "$TEST_DIR/tampered.tar" --name copy $flag
		[ "$status" -eq 125 ]
		[[ "$output" == *"manifest.sig"*"the signature does not match the manifest (archive tampered)"* ]]
	done
	assert_engine_unchanged cryo "$ROOT" 1
}

@test "a host bind mount added to an archive is refused, even from a trusted signer" {
	export_sleeper "$TEST_DIR/c.tar"
	mkdir "$TEST_DIR/hostdir"
	echo host-secret >"$TEST_DIR/hostdir/secret"
	unpack_archive "$TEST_DIR/c.tar" "$TEST_DIR/files"
	edit_config "$TEST_DIR/files" ".config.mounts += [{type: \"bind\", source: \"$TEST_DIR/hostdir\", destination: \"/hostleak\", readonly: false}]"
	trusted_attacker_key
	repack_archive "$TEST_DIR/files" "$TEST_DIR/evil.tar" "$TEST_DIR/attacker.pem"
	run cryo restore --import "$TEST_DIR/evil.tar" --name evil
	[ "$status" -eq 125 ]
	[[ "$output" == *"host bind mounts at \`/hostleak\`"*"-v HOSTDIR:DEST"*"--ignore-bind-mounts"* ]]
	assert_engine_unchanged cryo "$ROOT" 1
	# dropped explicitly: an empty read-only directory, even after stop and start
	cryo restore --import "$TEST_DIR/evil.tar" --name evil --ignore-bind-mounts
	running cryo evil
	cryo stop -t 1 evil
	cryo start evil
	wait_for 10 running cryo evil
	run cryo exec evil ls -A /hostleak
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	run cryo exec evil sh -c 'echo x > /hostleak/written'
	[ "$status" -ne 0 ]
	[ "$(ls -A "$TEST_DIR/hostdir")" = secret ]
	[ "$(cat "$TEST_DIR/hostdir/secret")" = host-secret ]
}

@test "an archive's engine files (Podman's mount layout) outside the engine's set are refused, even from a trusted signer" {
	export_sleeper "$TEST_DIR/c.tar"
	unpack_archive "$TEST_DIR/c.tar" "$TEST_DIR/files"
	trusted_attacker_key
	for dest in /etc/shadow /etc/../etc/hosts /proc/sys/kernel/core_pattern; do
		edit_config "$TEST_DIR/files" ".config.engine_files = [\"$dest\"]"
		repack_archive "$TEST_DIR/files" "$TEST_DIR/evil.tar" "$TEST_DIR/attacker.pem"
		run cryo restore --import "$TEST_DIR/evil.tar" --name evil
		echo "$dest: $output"
		[ "$status" -eq 125 ]
		[[ "$output" == *"engine file \`$dest\` is not one of the files the engine provides"* ]]
		assert_engine_unchanged cryo "$ROOT" 1
	done
}

@test "an archive's tmpfs with suid, dev or junk options is refused, even from a trusted signer" {
	export_sleeper "$TEST_DIR/c.tar"
	unpack_archive "$TEST_DIR/c.tar" "$TEST_DIR/files"
	trusted_attacker_key
	for opts in suid dev 'size=1m,exec,dev' 'size=$(reboot)' 'mode=4777,x-foo'; do
		edit_config "$TEST_DIR/files" ".config.mounts = [{type: \"tmpfs\", source: \"$opts\", destination: \"/t\", readonly: false}]"
		repack_archive "$TEST_DIR/files" "$TEST_DIR/evil.tar" "$TEST_DIR/attacker.pem"
		run cryo restore --import "$TEST_DIR/evil.tar" --name evil
		echo "$opts: $output"
		[ "$status" -eq 125 ]
		[[ "$output" == *"tmpfs at \`/t\`: tmpfs option"*"is not one of"* ]]
		assert_engine_unchanged cryo "$ROOT" 1
	done
}

@test "a real bind mount is named again on restore with -v, or refused" {
	mkdir "$TEST_DIR/a" "$TEST_DIR/b"
	echo from-a >"$TEST_DIR/a/f"
	echo from-b >"$TEST_DIR/b/f"
	export_sleeper "$TEST_DIR/c.tar" -v "$TEST_DIR/a:/data"
	cryo rm -f src
	run cryo restore --import "$TEST_DIR/c.tar" --name copy
	[ "$status" -eq 125 ]
	[[ "$output" == *"\`/data\`"* ]]
	run cryo restore --import "$TEST_DIR/c.tar" --name copy -v "$TEST_DIR/b:/elsewhere"
	[ "$status" -eq 125 ]
	[[ "$output" == *"the checkpoint has no mount at \`/elsewhere\`"* ]]
	cryo restore --import "$TEST_DIR/c.tar" --name copy -v "$TEST_DIR/b:/data"
	run cryo exec copy cat /data/f
	[ "$output" = from-b ]
	# or dropped: CRIU gets an empty read-only directory at /data
	cryo restore --import "$TEST_DIR/c.tar" --name dropped --ignore-bind-mounts
	running cryo dropped
	run cryo exec dropped ls -A /data
	[ -z "$output" ]
}

@test "the host network is never taken from an archive" {
	export_sleeper "$TEST_DIR/c.tar"
	unpack_archive "$TEST_DIR/c.tar" "$TEST_DIR/files"
	edit_config "$TEST_DIR/files" '.config.network = "host"'
	trusted_attacker_key
	repack_archive "$TEST_DIR/files" "$TEST_DIR/evil.tar" "$TEST_DIR/attacker.pem"
	run cryo restore --import "$TEST_DIR/evil.tar" --name evil
	[ "$status" -eq 125 ]
	[[ "$output" == *"used the host's network"*"--network host"* ]]
	assert_engine_unchanged cryo "$ROOT" 1
	# the operator decides: its own network, as the checkpoint really had
	cryo restore --import "$TEST_DIR/evil.tar" --name evil --network none
	run cryo inspect evil
	[ "$(jq -r '.[0].Config.network' <<<"$output")" = none ]
	running cryo evil
}

@test "capabilities beyond the default set are never taken from an archive, even a trusted one" {
	export_sleeper "$TEST_DIR/c.tar"
	unpack_archive "$TEST_DIR/c.tar" "$TEST_DIR/files"
	edit_config "$TEST_DIR/files" '.config.cap_add = ["CAP_SYS_ADMIN", "CAP_CHOWN"]'
	trusted_attacker_key
	repack_archive "$TEST_DIR/files" "$TEST_DIR/evil.tar" "$TEST_DIR/attacker.pem"
	run cryo restore --import "$TEST_DIR/evil.tar" --name evil
	assert_status 125
	assert_output_contains 'given the capabilities `CAP_SYS_ADMIN`, which an archive cannot grant: restore with --cap-add CAP_SYS_ADMIN'
	assert_engine_unchanged cryo "$ROOT" 1
	# a restore grants, it does not add
	run cryo restore --import "$TEST_DIR/evil.tar" --name evil --cap-add sys_admin --cap-add net_admin
	assert_status 125
	assert_output_contains '--cap-add `CAP_NET_ADMIN`: the checkpoint'"'"'s container did not have it'
	assert_engine_unchanged cryo "$ROOT" 1
	# the operator decides
	cryo restore --import "$TEST_DIR/evil.tar" --name evil --cap-add sys_admin >/dev/null
	running cryo evil
	assert_equal "$(cryo inspect evil | jq -c '.[0].Config.cap_add')" '["CAP_SYS_ADMIN","CAP_CHOWN"]'
}

@test "an archive without resource limits gets the engine's; --memory and --pids-limit override" {
	export_sleeper "$TEST_DIR/c.tar"
	run cryo inspect src
	[ "$(jq -r '.[0].Config.memory_limit' <<<"$output")" = 0 ]
	cryo restore --import "$TEST_DIR/c.tar" --name limited
	run cryo inspect limited
	[ "$(jq -r '.[0].Config.memory_limit' <<<"$output")" = $((8 << 30)) ]
	[ "$(jq -r '.[0].Config.pids_limit' <<<"$output")" = 4096 ]
	id=$(jq -r '.[0].Id' <<<"$output")
	[ "$(cat /sys/fs/cgroup/pids/cryo/"$id"/pids.max 2>/dev/null || cat /sys/fs/cgroup/cryo/"$id"/pids.max)" = 4096 ]
	cryo restore --import "$TEST_DIR/c.tar" --name mine --memory 256m --pids-limit 100
	run cryo inspect mine
	[ "$(jq -r '.[0].Config.memory_limit' <<<"$output")" = $((256 << 20)) ]
	[ "$(jq -r '.[0].Config.pids_limit' <<<"$output")" = 100 ]
	# the engine's own defaults, from its configuration
	printf '[import]\nmemory_limit = 512M\npids_limit = 77\n' >"$TEST_DIR/cryo.conf"
	cryo --config "$TEST_DIR/cryo.conf" restore --import "$TEST_DIR/c.tar" --name configured
	run cryo inspect configured
	[ "$(jq -r '.[0].Config.memory_limit' <<<"$output")" = $((512 << 20)) ]
	[ "$(jq -r '.[0].Config.pids_limit' <<<"$output")" = 77 ]
}

@test "values in config.dump are validated like the command line's" {
	export_sleeper "$TEST_DIR/c.tar"
	unpack_archive "$TEST_DIR/c.tar" "$TEST_DIR/files"
	trusted_attacker_key
	bad() { # jq-filter expected-text
		rm -rf "$TEST_DIR/bad"
		cp -a "$TEST_DIR/files" "$TEST_DIR/bad"
		edit_config "$TEST_DIR/bad" "$1"
		repack_archive "$TEST_DIR/bad" "$TEST_DIR/bad.tar" "$TEST_DIR/attacker.pem"
		run cryo restore --import "$TEST_DIR/bad.tar" --name bad
		echo "$output"
		[ "$status" -eq 125 ]
		[[ "$output" == *"$2"* ]]
	}
	bad '.config.mounts += [{type: "volume", source: "../../etc", destination: "/x", readonly: false}]' 'invalid volume name `../../etc`'
	bad '.config.mounts += [{type: "volume", source: "v", destination: "../../escape", readonly: false}]' 'mount destination `../../escape`'
	bad '.config.hostname = "a/b"' 'invalid hostname `a/b`'
	bad '.config.user = "0;1"' 'user `0;1`'
	bad '.config.memory_limit = -1' 'invalid memory limit -1'
	bad '.config.memory_limit = "lots"' '`memory_limit` is not a int'
	bad '.config.network = "../x"' 'invalid network `../x`'
	bad '.config.network = "nosuch"' 'no such network `nosuch`'
	bad '.config.env += ["=x"]' 'malformed environment variable `=x`'
	assert_engine_unchanged cryo "$ROOT" 1
}

@test "too many entries, too deep a path, too large: refused before extracting, engine unchanged" {
	export_sleeper "$TEST_DIR/c.tar"
	unpack_archive "$TEST_DIR/c.tar" "$TEST_DIR/files"
	trusted_attacker_key
	printf '[import]\nmax_entries = 200\nmax_total_size = 64M\n' >"$TEST_DIR/cryo.conf"
	limited() { cryo --config "$TEST_DIR/cryo.conf" "$@"; }
	# negative control: the real archive is within these limits
	limited restore --import "$TEST_DIR/c.tar" --name fine
	cryo rm -f fine >/dev/null

	cp -a "$TEST_DIR/files" "$TEST_DIR/many"
	for i in $(seq 1 300); do : >"$TEST_DIR/many/checkpoint/extra-$i.img"; done
	repack_archive "$TEST_DIR/many" "$TEST_DIR/many.tar" "$TEST_DIR/attacker.pem"
	run limited restore --import "$TEST_DIR/many.tar" --name many
	[ "$status" -eq 125 ]
	[[ "$output" == *"entry \`index.json\`: index:"*"more than the 200 this engine accepts (\`import.max_entries\`"* ]]

	cp -a "$TEST_DIR/files" "$TEST_DIR/deep"
	deep=$TEST_DIR/deep/checkpoint$(printf '/d%.0s' $(seq 1 300))
	mkdir -p "$deep"
	: >"$deep/x.img"
	repack_archive "$TEST_DIR/deep" "$TEST_DIR/deep.tar" "$TEST_DIR/attacker.pem"
	run cryo restore --import "$TEST_DIR/deep.tar" --name deep
	[ "$status" -eq 125 ]
	[[ "$output" == *"levels deep, deeper than the 256 this engine accepts (\`import.max_path_depth\`)"* ]]

	cp -a "$TEST_DIR/files" "$TEST_DIR/big"
	truncate -s 100M "$TEST_DIR/big/checkpoint/pages-99.img"
	repack_archive "$TEST_DIR/big" "$TEST_DIR/big.tar" "$TEST_DIR/attacker.pem"
	run limited restore --import "$TEST_DIR/big.tar" --name big
	[ "$status" -eq 125 ]
	[[ "$output" == *"more than this engine accepts (67108864 bytes, \`import.max_total_size\`"* ]]
	assert_engine_unchanged cryo "$ROOT" 1
}

@test "a zstd bomb is refused before it fills the engine's disk" {
	export_sleeper "$TEST_DIR/c.tar"
	unpack_archive "$TEST_DIR/c.tar" "$TEST_DIR/files"
	make_signing_key "$TEST_DIR/attacker.pem" "$TEST_DIR/attacker.pub" attacker
	# 512 MiB of zeros: a few hundred KiB once compressed
	truncate -s 512M "$TEST_DIR/files/checkpoint/pages-99.img"
	repack_archive "$TEST_DIR/files" "$TEST_DIR/bomb.tar" "$TEST_DIR/attacker.pem"
	zstd -q -1 --rm "$TEST_DIR/bomb.tar" -o "$TEST_DIR/bomb.tar.zst"
	[ "$(stat -c %s "$TEST_DIR/bomb.tar.zst")" -lt $((16 << 20)) ]
	# an engine whose file system has 64 MiB
	small=$TEST_DIR/small
	mkdir "$small"
	mount -t tmpfs -o size=64m tmpfs "$small"
	small_cryo() { "$CRYO" --root "$small/root" --runroot "$TEST_DIR/run-small" "$@"; }
	small_cryo trust add "$TEST_DIR/attacker.pub" >/dev/null
	used_before=$(df --output=used -B1 "$small" | tail -1)
	run small_cryo restore --import "$TEST_DIR/bomb.tar.zst" --name bomb
	[ "$status" -eq 125 ]
	[[ "$output" == *"but the engine's file system has only"*"bytes free"* ]]
	used_after=$(df --output=used -B1 "$small" | tail -1)
	# nothing was extracted (a few KiB of engine metadata at most)
	[ $((used_after - used_before)) -lt $((1 << 20)) ]
	assert_engine_unchanged small_cryo "$small/root"
}

@test "a hard link to a symbolic link in the root file system changes is refused" {
	export_sleeper "$TEST_DIR/c.tar"
	unpack_archive "$TEST_DIR/c.tar" "$TEST_DIR/files"
	mkdir -p "$TEST_DIR/diff/etc"
	ln -s /etc/shadow "$TEST_DIR/diff/etc/s"
	ln -P "$TEST_DIR/diff/etc/s" "$TEST_DIR/diff/etc/h"
	tar --format=pax -C "$TEST_DIR/diff" -cf "$TEST_DIR/files/rootfs-diff.tar" .
	tar -tvf "$TEST_DIR/files/rootfs-diff.tar" | grep -q 'etc/s link to ./etc/h'
	trusted_attacker_key
	repack_archive "$TEST_DIR/files" "$TEST_DIR/evil.tar" "$TEST_DIR/attacker.pem"
	shadow_before=$(stat -c '%a %Y' /etc/shadow)
	run cryo restore --import "$TEST_DIR/evil.tar" --name evil
	[ "$status" -eq 125 ]
	[[ "$output" == *"hard link target \`etc/h\` is a symbolic link"* ]]
	[ "$(stat -c '%a %Y' /etc/shadow)" = "$shadow_before" ]
	assert_engine_unchanged cryo "$ROOT" 1
}

@test "an existing named volume is not overwritten by an import unless asked" {
	cryo run -d --name src -v vol:/data workload sh -c 'echo checkpointed > /data/f; echo ready > /ready; exec sleep 1000' >/dev/null
	wait_for 10 cryo exec src test -e /ready
	cryo checkpoint --export "$TEST_DIR/c.tar" --compress none src >/dev/null
	cryo rm -f src >/dev/null
	echo newer >"$ROOT/volumes/vol/_data/f"
	run cryo restore --import "$TEST_DIR/c.tar" --name copy
	[ "$status" -eq 125 ]
	[[ "$output" == *"volume \`vol\` already exists"*"-v NEWVOL:/data"*"--replace-volumes"* ]]
	[ "$(cat "$ROOT/volumes/vol/_data/f")" = newer ]
	# into a new volume: the old one stays as it is
	cryo restore --import "$TEST_DIR/c.tar" --name copy -v vol2:/data
	run cryo exec copy cat /data/f
	[ "$output" = checkpointed ]
	[ "$(cat "$ROOT/volumes/vol/_data/f")" = newer ]
	cryo rm -f copy >/dev/null
	# asked for
	cryo restore --import "$TEST_DIR/c.tar" --name replaced --replace-volumes
	[ "$(cat "$ROOT/volumes/vol/_data/f")" = checkpointed ]
}

@test "image layers: only gzip, zstd, xz or uncompressed" {
	tar=$(busybox_rootfs_tar)
	bzip2 -c "$tar" >"$TEST_DIR/rootfs.tar.bz2"
	run cryo image import "$TEST_DIR/rootfs.tar.bz2" bz
	[ "$status" -eq 125 ]
	run cryo images --format json
	[[ "$output" != *'"bz'* ]]
	xz -c -0 "$tar" >"$TEST_DIR/rootfs.tar.xz"
	cryo image import "$TEST_DIR/rootfs.tar.xz" xzimg
}

@test "trust add refuses what is not a public key; trust rm names unknown keys" {
	echo "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDx" >"$TEST_DIR/not-ours.pub"
	run cryo trust add "$TEST_DIR/not-ours.pub"
	[ "$status" -eq 125 ]
	[[ "$output" == *"not a cryo public key"* ]]
	run cryo trust rm SHA256:nothing
	[ "$status" -eq 125 ]
	[[ "$output" == *"no trusted key"* ]]
	# a PEM public key is accepted too
	openssl genpkey -algorithm ed25519 -out "$TEST_DIR/k.pem" 2>/dev/null
	openssl pkey -in "$TEST_DIR/k.pem" -pubout -out "$TEST_DIR/k.pub.pem"
	cryo trust add "$TEST_DIR/k.pub.pem"
	# and --sign signs exports with it
	export_sleeper "$TEST_DIR/c.tar"
	cryo checkpoint --leave-running --export "$TEST_DIR/other.tar" --sign "$TEST_DIR/k.pem" src >/dev/null
	want=$(openssl pkey -in "$TEST_DIR/k.pem" -pubout -outform DER | tail -c 32 | base64 -w0)
	[ "$(tar --zstd -xOf "$TEST_DIR/other.tar" manifest.sig | jq -r .public_key)" = "$want" ]
	[ "$(stat -c %a "$ROOT/keys/engine.key")" = 600 ]
}
