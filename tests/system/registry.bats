#!/usr/bin/env bats
# Checkpoint images and registries: `checkpoint --create-image`, `image push`,
# `image pull` and `restore IMAGE`, against Debian's docker-registry
# (distribution 2.8) started here on loopback, on a random free port, with a
# throwaway configuration and storage under the test's directory (the
# package's own service and its configuration are never used).

load helpers
load workload

setup() {
	setup_engine
	start_registry
}

teardown() {
	stop_registry
	teardown_engine
}

cryo2() {
	"$CRYO" --root "$TEST_DIR/root2" --runroot "$TEST_DIR/run2" "$@"
}

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

registry_up() {
	curl -sf -o /dev/null "http://$REG/v2/"
}

# REG=127.0.0.1:PORT, REGISTRY_PID.
start_registry() {
	local dir=$TEST_DIR/registry
	mkdir -p "$dir/storage"
	REG=127.0.0.1:$(free_port)
	cat >"$dir/config.yml" <<-EOF
		version: 0.1
		log:
		  level: error
		storage:
		  filesystem:
		    rootdirectory: $dir/storage
		  delete:
		    enabled: true
		http:
		  addr: $REG
	EOF
	docker-registry serve "$dir/config.yml" >"$dir/log" 2>&1 &
	REGISTRY_PID=$!
	wait_for 10 registry_up || { cat "$dir/log" >&2; return 1; }
}

stop_registry() {
	[ -n "${REGISTRY_PID:-}" ] || return 0
	kill "$REGISTRY_PID" 2>/dev/null || true
	wait "$REGISTRY_PID" 2>/dev/null || true
	REGISTRY_PID=
}

sha256() { sha256sum "$1" | cut -d' ' -f1; }

# The workload root file system as a one-layer OCI layout in $1 (so that
# its ID, the configuration's digest, is the same in every engine that
# loads or pulls it). Prints the image ID.
make_workload_layout() { # dir
	local out=$1 tar layer config manifest
	tar=$(workload_rootfs_tar) || return 1
	mkdir -p "$out/blobs/sha256"
	layer=$(sha256 "$tar")
	cp "$tar" "$out/blobs/sha256/$layer"
	jq -n --arg d "sha256:$layer" '{created: "2024-01-02T03:04:05Z", architecture: "amd64", os: "linux",
		config: {Env: ["PATH=/usr/local/bin:/bin"], Cmd: ["/bin/sh"]},
		rootfs: {type: "layers", diff_ids: [$d]}}' >"$out/config.json"
	config=$(sha256 "$out/config.json")
	mv "$out/config.json" "$out/blobs/sha256/$config"
	jq -n --arg c "sha256:$config" --argjson cs "$(stat -c %s "$out/blobs/sha256/$config")" \
		--arg l "sha256:$layer" --argjson ls "$(stat -c %s "$tar")" \
		'{schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json",
		  config: {mediaType: "application/vnd.oci.image.config.v1+json", digest: $c, size: $cs},
		  layers: [{mediaType: "application/vnd.oci.image.layer.v1.tar", digest: $l, size: $ls}]}' \
		>"$out/manifest.json"
	manifest=$(sha256 "$out/manifest.json")
	jq -n --arg m "sha256:$manifest" --argjson ms "$(stat -c %s "$out/manifest.json")" \
		'{schemaVersion: 2, manifests: [{mediaType: "application/vnd.oci.image.manifest.v1+json",
		  digest: $m, size: $ms}]}' >"$out/index.json"
	mv "$out/manifest.json" "$out/blobs/sha256/$manifest"
	echo '{"imageLayoutVersion": "1.0.0"}' >"$out/oci-layout"
	echo "$config"
}

# Engine 1 loads the workload image from its layout, which is also in the
# registry as $REG/workload:1. Sets WORKLOAD_ID.
workload_in_registry() {
	WORKLOAD_ID=$(make_workload_layout "$TEST_DIR/workload-layout") || return 1
	cryo image load --name workload "$TEST_DIR/workload-layout" >/dev/null || return 1
	skopeo copy --quiet --dest-tls-verify=false "oci:$TEST_DIR/workload-layout" "docker://$REG/workload:1"
}

counter_cmd=(/usr/local/bin/counter --file /state/counter --stats /state/stats)

counter_value() { # engine-function container
	"$1" exec "$2" cat /state/counter | tr -d ' \n' | sed 's/^0*//;s/^$/0/'
}

counter_advanced() { # engine-function container value
	local v
	v=$(counter_value "$1" "$2") && [ "$v" -gt "$3" ]
}

assert_consistent_and_running() { # engine-function container
	local eng=$1 ctr=$2 a
	readable() { a=$(counter_value "$eng" "$ctr") && [ -n "$a" ]; }
	wait_for 10 readable
	wait_for 10 counter_advanced "$eng" "$ctr" "$a"
	run "$eng" logs "$ctr"
	! grep VIOLATION <<<"$output"
	run "$eng" inspect "$ctr"
	[ "$(jq -r '.[0].State.Status' <<<"$output")" = running ]
}

# A checkpoint image ck:1 of a running counter (left running), in engine 1.
checkpoint_image_of_counter() {
	cryo run -d --name src workload "${counter_cmd[@]}" >/dev/null
	readable() { [ -n "$(counter_value cryo src)" ]; }
	wait_for 10 readable
	cryo checkpoint --leave-running --create-image ck:1 src
}

# What a failed command must leave as it was: the image store (IDs and
# names), the containers, and no scratch left in tmp/.
store_state() { # engine-function root
	"$1" images --format json | jq -c '[.[] | {id, name}] | sort_by(.id)'
	"$1" ps -a -q
	ls -A "$2/tmp" "$2/checkpoint-images" "$2/image-blobs" 2>/dev/null
}

@test "checkpoint image: create, push, remove, restore from the registry on a second engine" {
	workload_in_registry
	run checkpoint_image_of_counter
	[ "$status" -eq 0 ]
	[[ "$output" =~ ^[0-9a-f]{64}$ ]]
	local id=$output
	# marked in the listing, and in JSON
	run cryo images
	[[ "${lines[0]}" =~ SIZE\ +CHECKPOINT$ ]]
	grep -Eq "^ck +1 +${id:0:12} .* yes\$" <<<"$output"
	grep -Eq '^workload +latest +[0-9a-f]{12} .*B$' <<<"$output"
	[ "$(cryo images --format json | jq -r '.[] | select(.name == "ck:1") | .checkpoint')" = true ]
	[ "$(cryo images --format json | jq -r '.[] | select(.name == "workload:latest") | .checkpoint')" = false ]
	# a checkpoint image is no root file system
	run cryo run --rm ck:1 true
	[ "$status" -eq 125 ]
	[[ "$output" == *"image \`ck:1\` is a checkpoint image"*"cryo restore ck:1"* ]]

	run cryo image push --tls-verify=false ck:1 "$REG/ck:1"
	[ "$status" -eq 0 ]
	run cryo image rm ck:1
	[ "$status" -eq 0 ]
	[ -z "$(ls -A "$ROOT/checkpoint-images")" ]

	# the second host: the base image comes from the registry too
	run cryo2 image pull --tls-verify=false "docker://$REG/workload:1"
	[ "$status" -eq 0 ]
	[ "$output" = "$WORKLOAD_ID" ]
	cryo key show | cryo2 trust add - >/dev/null
	# Podman's order: the options may follow the image
	run cryo2 restore "$REG/ck:1" --tls-verify=false --name x
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	assert_consistent_and_running cryo2 x
	# the pulled checkpoint image stays, marked
	[ "$(cryo2 images --format json | jq -r --arg n "$REG/ck:1" '.[] | select(.name == $n) | .checkpoint')" = true ]
	[ -z "$(ls -A "$TEST_DIR/root2/tmp")" ]
}

@test "a checkpoint image is verified like an imported archive: another engine's signature needs trust" {
	workload_in_registry
	checkpoint_image_of_counter >/dev/null
	cryo image push --tls-verify=false ck:1 "$REG/ck:1"
	cryo2 image pull --tls-verify=false "$REG/workload:1" >/dev/null
	run cryo2 image pull --tls-verify=false "$REG/ck:1"
	[ "$status" -eq 0 ]
	run cryo2 restore --name x "$REG/ck:1"
	[ "$status" -eq 125 ]
	[[ "$output" == *"which this engine does not trust"* ]]
	run cryo2 ps -a -q
	[ -z "$output" ]
	[ -z "$(ls -A "$TEST_DIR/root2/tmp")" ]
	# the same policy switch as --import
	run cryo2 restore --insecure-unsigned --name x "$REG/ck:1"
	[ "$status" -eq 0 ]
	assert_consistent_and_running cryo2 x
}

@test "a tampered checkpoint layer in the store is refused by the archive's manifest" {
	workload_in_registry
	local id
	id=$(checkpoint_image_of_counter)
	local blob
	blob=$(find "$ROOT/checkpoint-images/$id/blobs/sha256" -type f -size +100k | head -n1)
	[ -n "$blob" ]
	# flip one byte deep inside the archive (memory pages)
	printf 'X' | dd of="$blob" bs=1 seek=$(($(stat -c %s "$blob") / 2)) conv=notrunc status=none
	run cryo restore --name x ck:1
	[ "$status" -eq 125 ]
	[[ "$output" == *"restore from checkpoint image \`ck:1\`"* ]]
	run cryo ps -a --format json
	[ "$(jq -r '.[].Name' <<<"$output")" = src ]
}

@test "skopeo inspect shows the checkpoint image's annotations, os and architecture" {
	workload_in_registry
	checkpoint_image_of_counter >/dev/null
	cryo image push --tls-verify=false ck:1 "docker://$REG/ck:1"
	run skopeo inspect --tls-verify=false --raw "docker://$REG/ck:1"
	[ "$status" -eq 0 ]
	local raw=$output
	ann() { jq -r --arg k "$1" '.annotations[$k]' <<<"$raw"; }
	[ "$(ann io.kubernetes.cri-o.annotations.checkpoint.name)" = src ]
	[ "$(ann io.podman.annotations.checkpoint.name)" = src ]
	[ "$(ann io.podman.annotations.checkpoint.rootfsImageName)" = workload:latest ]
	[ "$(ann io.podman.annotations.checkpoint.rootfsImageID)" = "$WORKLOAD_ID" ]
	[ "$(ann io.podman.annotations.checkpoint.rawImageName)" = workload:latest ]
	[[ "$(ann io.podman.annotations.checkpoint.podman.version)" == "cryo "* ]]
	[[ "$(ann io.podman.annotations.checkpoint.criu.version)" =~ ^[0-9]+\.[0-9]+ ]]
	[ "$(ann io.podman.annotations.checkpoint.runtime.name)" = runc ]
	[[ "$(ann io.podman.annotations.checkpoint.runtime.version)" == *runc* ]]
	[ "$(ann io.podman.annotations.checkpoint.host.arch)" = amd64 ]
	[ "$(ann io.podman.annotations.checkpoint.host.kernel)" = "$(uname -r)" ]
	[[ "$(ann io.podman.annotations.checkpoint.cgroups.version)" =~ ^v[12]$ ]]
	[ "$(ann io.podman.annotations.checkpoint.distribution.name)" = debian ]
	[ "$(ann io.podman.annotations.checkpoint.distribution.version)" = 12 ]
	[ "$(ann org.criu.checkpoint.engine.name)" = cryo ]
	[[ "$(ann org.criu.checkpoint.engine.version)" =~ ^[0-9]+\.[0-9]+ ]]
	[ "$(ann org.criu.checkpoint.container.name)" = src ]
	[ "$(ann org.criu.checkpoint.rootfsImageName)" = workload:latest ]
	[ "$(ann org.criu.checkpoint.rootfsImageID)" = "$WORKLOAD_ID" ]
	[ "$(ann org.criu.checkpoint.runtime.name)" = runc ]
	[[ "$(ann org.criu.checkpoint.runtime.version)" == *runc* ]]
	[[ "$(ann org.criu.checkpoint.criu.version)" =~ ^[0-9]+\.[0-9]+ ]]
	[ "$(ann org.criu.checkpoint.host.arch)" = amd64 ]
	[ "$(ann org.criu.checkpoint.host.kernel)" = "$(uname -r)" ]
	[[ "$(ann org.criu.checkpoint.cgroup.version)" =~ ^v[12]$ ]]
	# one layer, the archive: index.json first, manifest and signature inside
	[ "$(jq '.layers | length' <<<"$raw")" = 1 ]
	run skopeo inspect --tls-verify=false --config "docker://$REG/ck:1"
	[ "$(jq -r .os <<<"$output")" = linux ]
	[ "$(jq -r .architecture <<<"$output")" = amd64 ]
	local digest
	digest=$(jq -r '.layers[0].digest' <<<"$raw")
	curl -sf "http://$REG/v2/ck/blobs/$digest" -o "$TEST_DIR/layer.tar"
	run tar -tf "$TEST_DIR/layer.tar"
	[ "${lines[0]}" = index.json ]
	[[ "$output" == *$'\nmanifest.json\nmanifest.sig'* ]]
}

@test "bad references are refused before anything runs, and leave nothing behind" {
	workload_in_registry
	local before
	before=$(store_state cryo "$ROOT")
	run cryo image pull "oci:$TEST_DIR/workload-layout"
	[ "$status" -eq 125 ]
	[[ "$output" == *"only the docker:// transport is supported"* ]]
	run cryo image pull "docker://$REG/Upper/Case"
	[ "$status" -eq 125 ]
	[[ "$output" == *"invalid registry reference"*"repository must match"* ]]
	run cryo image pull "docker://$REG/ck@sha256:1234"
	[ "$status" -eq 125 ]
	[[ "$output" == *"a digest is sha256: and 64"* ]]
	run cryo image push ck:1 "$REG/ck:bad tag"
	[ "$status" -eq 125 ]
	[[ "$output" == *"invalid registry reference"* ]]
	run cryo image push nosuch:1 "$REG/x:1"
	[ "$status" -eq 125 ]
	[[ "$output" == *"no such image \`nosuch:1\`"* ]]
	# an image stored by a cryo that kept no registry blobs
	mv "$ROOT/image-blobs/$WORKLOAD_ID" "$TEST_DIR/blobs"
	run cryo image push workload "$REG/x:1"
	[ "$status" -eq 125 ]
	[[ "$output" == *"push \`workload\` to \`$REG/x:1\`: the image has no registry blobs"* ]]
	mv "$TEST_DIR/blobs" "$ROOT/image-blobs/$WORKLOAD_ID"
	run cryo restore "docker://$REG/-x"
	[ "$status" -eq 125 ]
	[[ "$output" == *"invalid registry reference"* ]]
	run cryo restore nosuch
	[ "$status" -eq 125 ]
	[[ "$output" == *"no such container or checkpoint image"* ]]
	# an image that is not in the registry
	run cryo image pull --tls-verify=false "$REG/nosuch:1"
	[ "$status" -eq 125 ]
	[[ "$output" == *"skopeo failed"* ]]
	[ "$(store_state cryo "$ROOT")" = "$before" ]
	# the negative control: a good reference does change the store
	cryo image rm workload >/dev/null
	cryo image pull --tls-verify=false "$REG/workload:1" >/dev/null
	[ "$(cryo images --format json | jq -r '.[].name')" = "$REG/workload:1" ]
}

@test "a registry that is down: push, pull and restore fail clearly and leave nothing behind" {
	workload_in_registry
	checkpoint_image_of_counter >/dev/null
	stop_registry
	local before
	before=$(store_state cryo "$ROOT")
	run cryo image push --tls-verify=false ck:1 "$REG/ck:1"
	[ "$status" -eq 125 ]
	[[ "$output" == *"push \`ck:1\` to \`$REG/ck:1\`: skopeo failed"*"connection refused"* ]]
	run cryo image pull --tls-verify=false "$REG/workload:1"
	[ "$status" -eq 125 ]
	[[ "$output" == *"pull \`$REG/workload:1\`: skopeo failed"*"connection refused"* ]]
	run cryo restore --tls-verify=false --name x "$REG/other:1"
	[ "$status" -eq 125 ]
	[[ "$output" == *"restore \`$REG/other:1\`"*"connection refused"* ]]
	[ "$(store_state cryo "$ROOT")" = "$before" ]
}

@test "TLS verification is on by default: a plain-HTTP registry is refused without --tls-verify=false" {
	workload_in_registry
	local before
	before=$(store_state cryo2 "$TEST_DIR/root2")
	run cryo2 image pull "$REG/workload:1"
	[ "$status" -eq 125 ]
	[[ "$output" == *"skopeo failed"*"http"* ]]
	[ "$(store_state cryo2 "$TEST_DIR/root2")" = "$before" ]
	# the negative control
	run cryo2 image pull --tls-verify=false "$REG/workload:1"
	[ "$status" -eq 0 ]
	[ "$output" = "$WORKLOAD_ID" ]
}

@test "restore of an image that is not a checkpoint image is refused and stores nothing" {
	workload_in_registry
	local before
	before=$(store_state cryo "$ROOT")
	run cryo restore --tls-verify=false --name x "$REG/workload:1"
	[ "$status" -eq 125 ]
	[[ "$output" == *"is not a checkpoint image"* ]]
	[ "$(store_state cryo "$ROOT")" = "$before" ]
	# the same image already in the store: refused too
	run cryo restore --name x workload
	[ "$status" -eq 125 ]
	[[ "$output" == *"restore from image \`workload\`: it is not a checkpoint image"* ]]
	[ "$(store_state cryo "$ROOT")" = "$before" ]
}

@test "credentials come from --authfile" {
	workload_in_registry
	checkpoint_image_of_counter >/dev/null
	# a registry that needs a password: the same registry behind htpasswd
	stop_registry
	local dir=$TEST_DIR/registry
	printf 'user:%s\n' "$(python3 -c 'import crypt; print(crypt.crypt("secret", crypt.mksalt(crypt.METHOD_BLOWFISH)))' 2>/dev/null)" >"$dir/htpasswd"
	grep -q ':\$2' "$dir/htpasswd" || skip "no bcrypt in this python3 to write an htpasswd file"
	cat >>"$dir/config.yml" <<-EOF
		auth:
		  htpasswd:
		    realm: cryo-test
		    path: $dir/htpasswd
	EOF
	docker-registry serve "$dir/config.yml" >"$dir/log" 2>&1 &
	REGISTRY_PID=$!
	registry_answers() { curl -s -o /dev/null "http://$REG/v2/"; }
	wait_for 10 registry_answers
	run cryo image push --tls-verify=false ck:1 "$REG/ck:1"
	[ "$status" -eq 125 ]
	[[ "$output" == *"skopeo failed"*"authentication required"* ]]
	printf '{"auths":{"%s":{"auth":"%s"}}}\n' "$REG" "$(printf user:secret | base64)" >"$TEST_DIR/auth.json"
	run cryo image push --tls-verify=false --authfile "$TEST_DIR/auth.json" ck:1 "$REG/ck:1"
	[ "$status" -eq 0 ]
	run cryo2 image pull --tls-verify=false "$REG/ck:1"
	[ "$status" -eq 125 ]
	[[ "$output" == *"authentication required"* ]]
	run cryo2 image pull --tls-verify=false --authfile "$TEST_DIR/auth.json" "$REG/ck:1"
	[ "$status" -eq 0 ]
	[ "$(cryo2 images --format json | jq -r '.[0].checkpoint')" = true ]
}

# ---- ordinary images ----

@test "an ordinary image: push, image rm, pull into a second engine and run it" {
	workload_in_registry
	run cryo image push --tls-verify=false workload "$REG/app:2"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	run cryo image rm workload
	[ "$status" -eq 0 ]
	# the blobs it kept go with it
	[ -z "$(ls -A "$ROOT/image-blobs")" ]
	run cryo2 image pull --tls-verify=false "$REG/app:2"
	[ "$status" -eq 0 ]
	# the same image: its ID is its configuration's digest
	[ "$output" = "$WORKLOAD_ID" ]
	run cryo2 run --rm "$REG/app:2" cat /etc/passwd
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == root:x:0:0:* ]]
	# a pulled image keeps its blobs too: the second engine pushes it on
	run cryo2 image push --tls-verify=false "$REG/app:2" "$REG/app:3"
	[ "$status" -eq 0 ]
	[ "$(skopeo inspect --tls-verify=false --config --raw "docker://$REG/app:3" | sha256sum | cut -d' ' -f1)" = "$WORKLOAD_ID" ]
}

@test "skopeo reads a pushed ordinary image, and every blob the registry holds matches its digest" {
	workload_in_registry
	cryo image push --tls-verify=false workload "docker://$REG/app:2"
	run skopeo inspect --tls-verify=false "docker://$REG/app:2"
	[ "$status" -eq 0 ]
	[ "$(jq -r .Architecture <<<"$output")" = amd64 ]
	[ "$(jq -r '.Env[0]' <<<"$output")" = PATH=/usr/local/bin:/bin ]
	[ "$(jq '.Layers | length' <<<"$output")" = 1 ]
	# the blobs as the registry serves them, checked here with sha256sum
	local manifest blob digest
	manifest=$(curl -sf -H 'Accept: application/vnd.oci.image.manifest.v1+json' "http://$REG/v2/app/manifests/2")
	[ "$(jq -r .config.digest <<<"$manifest")" = "sha256:$WORKLOAD_ID" ]
	for digest in $(jq -r '.config.digest, .layers[].digest' <<<"$manifest"); do
		blob=$TEST_DIR/blob-${digest#sha256:}
		curl -sf "http://$REG/v2/app/blobs/$digest" -o "$blob"
		[ "sha256:$(sha256 "$blob")" = "$digest" ]
	done
	# the layer is the loaded tar, byte for byte (skopeo gzipped it on the way)
	digest=$(jq -r '.layers[0].digest' <<<"$manifest")
	zcat "$TEST_DIR/blob-${digest#sha256:}" | cmp - "$(workload_rootfs_tar)"
	# and skopeo's own copy of it verifies
	run skopeo copy --quiet --src-tls-verify=false "docker://$REG/app:2" "oci:$TEST_DIR/copy"
	[ "$status" -eq 0 ]
}

@test "a damaged blob in the store is refused before anything is pushed" {
	workload_in_registry
	local layer blob
	layer=$(sha256 "$(workload_rootfs_tar)")
	blob=$ROOT/image-blobs/$WORKLOAD_ID/blobs/sha256/$layer
	[ -f "$blob" ]
	printf 'X' | dd of="$blob" bs=1 seek=$(($(stat -c %s "$blob") / 2)) conv=notrunc status=none
	run cryo image push --tls-verify=false workload "$REG/app:2"
	[ "$status" -eq 125 ]
	[[ "$output" == *"push \`workload\` to \`$REG/app:2\`: the stored image is damaged: layer 1 of 1: blob sha256:$layer does not match its digest"* ]]
	run skopeo inspect --tls-verify=false --raw "docker://$REG/app:2"
	[ "$status" -ne 0 ]
	[[ "$output" == *"manifest unknown"* ]]
}

@test "an imported image (a gzipped tarball) is pushed with an ID every engine agrees on" {
	gzip -c "$(workload_rootfs_tar)" >"$TEST_DIR/rootfs.tar.gz"
	run cryo image import "$TEST_DIR/rootfs.tar.gz" imported
	[ "$status" -eq 0 ]
	local id=$output
	run cryo image push --tls-verify=false imported "$REG/imported:1"
	[ "$status" -eq 0 ]
	# the configuration made at import is the image's ID, and its layer
	# is the tarball's tar
	[ "$(skopeo inspect --tls-verify=false --config --raw "docker://$REG/imported:1" | sha256sum | cut -d' ' -f1)" = "$id" ]
	run skopeo inspect --tls-verify=false --config "docker://$REG/imported:1"
	[ "$(jq -r '.rootfs.diff_ids[0]' <<<"$output")" = "sha256:$(sha256 "$(workload_rootfs_tar)")" ]
	run cryo2 image pull --tls-verify=false "$REG/imported:1"
	[ "$status" -eq 0 ]
	[ "$output" = "$id" ]
	run cryo2 run --rm "$REG/imported:1" /bin/sh -c 'echo $PATH; ls /usr/local/bin'
	[ "$status" -eq 0 ]
	[[ "$output" == *counter* ]]
}

# A layer with what a hostile image carries: symlinks out of the root (one
# absolute, one through ..), a hard link, a device node, an extended
# attribute, a whiteout and an opaque directory. Prints the tar's path.
hostile_layer() {
	local dir=$TEST_DIR/hostile
	mkdir -p "$dir/data" "$dir/devs" "$dir/etc" "$dir/home"
	ln -s /etc/shadow "$dir/shadow-link"
	ln -s ../../../../../../etc "$dir/escape"
	echo payload >"$dir/data/file"
	ln "$dir/data/file" "$dir/data/hard"
	python3 -c 'import os, sys; os.setxattr(sys.argv[1], "user.cryo", b"hostile")' "$dir/data/file"
	mknod "$dir/devs/null0" c 1 3
	: >"$dir/etc/.wh.group"
	: >"$dir/home/.wh..wh..opq"
	tar --xattrs --xattrs-include='user.*' -C "$dir" -cf "$TEST_DIR/hostile.tar" . || return 1
	echo "$TEST_DIR/hostile.tar"
}

@test "hostile layer contents round-trip through push and pull exactly, never followed on the host" {
	make_workload_layout "$TEST_DIR/layout" >/dev/null
	local tar layer size config
	tar=$(hostile_layer)
	layer=$(sha256 "$tar")
	size=$(stat -c %s "$tar")
	cp "$tar" "$TEST_DIR/layout/blobs/sha256/$layer"
	# the layout gets the hostile layer on top of the workload's
	local m
	m=$(jq -r '.manifests[0].digest' "$TEST_DIR/layout/index.json")
	m=$TEST_DIR/layout/blobs/sha256/${m#sha256:}
	config=$(jq -r .config.digest "$m")
	jq -c --arg d "sha256:$layer" '.rootfs.diff_ids += [$d]' "$TEST_DIR/layout/blobs/sha256/${config#sha256:}" >"$TEST_DIR/config.json"
	config=$(sha256 "$TEST_DIR/config.json")
	mv "$TEST_DIR/config.json" "$TEST_DIR/layout/blobs/sha256/$config"
	jq -c --arg c "sha256:$config" --argjson cs "$(stat -c %s "$TEST_DIR/layout/blobs/sha256/$config")" \
		--arg l "sha256:$layer" --argjson ls "$size" \
		'.config.digest = $c | .config.size = $cs |
		 .layers += [{mediaType: "application/vnd.oci.image.layer.v1.tar", digest: $l, size: $ls}]' "$m" >"$TEST_DIR/manifest.json"
	m=$(sha256 "$TEST_DIR/manifest.json")
	jq -c --arg m "sha256:$m" --argjson ms "$(stat -c %s "$TEST_DIR/manifest.json")" \
		'.manifests[0].digest = $m | .manifests[0].size = $ms' "$TEST_DIR/layout/index.json" >"$TEST_DIR/index.json"
	mv "$TEST_DIR/manifest.json" "$TEST_DIR/layout/blobs/sha256/$m"
	mv "$TEST_DIR/index.json" "$TEST_DIR/layout/index.json"
	local shadow_before
	shadow_before=$(stat -c '%s %Y' /etc/shadow)

	run cryo image load --name hostile "$TEST_DIR/layout"
	[ "$status" -eq 0 ]
	[ "$output" = "$config" ]
	run cryo image push --tls-verify=false hostile "$REG/hostile:1"
	[ "$status" -eq 0 ]
	cryo image rm hostile >/dev/null
	run cryo2 image pull --tls-verify=false "$REG/hostile:1"
	[ "$status" -eq 0 ]
	# the same configuration, so the same diff_ids: the very tar bytes
	[ "$output" = "$config" ]
	run cryo2 run --rm "$REG/hostile:1" /bin/sh -c \
		'readlink /shadow-link; readlink /escape; cat /data/hard; stat -c %h /data/file; stat -c %t:%T /devs/null0; ls /etc/group; ls -A /home | wc -l'
	[ "${lines[0]}" = /etc/shadow ]
	[ "${lines[1]}" = ../../../../../../etc ]
	[ "${lines[2]}" = payload ]
	[ "${lines[3]}" = 2 ]
	[ "${lines[4]}" = 1:3 ]
	[[ "${lines[5]}" == *"No such file or directory"* ]]
	[ "${lines[6]}" = 0 ]
	local mnt
	mnt=$(cryo2 image mount "$REG/hostile:1")
	[ "$(python3 -c 'import os, sys; print(os.getxattr(sys.argv[1], "user.cryo").decode())' "$mnt/data/file")" = hostile ]
	cryo2 image unmount "$REG/hostile:1"
	# nothing on the host was followed or touched
	[ "$(stat -c '%s %Y' /etc/shadow)" = "$shadow_before" ]
}

# ---- the size bound of a pull ----

@test "a pull whose manifest declares more than the limit is refused before the download, leaving nothing" {
	workload_in_registry
	local before
	before=$(store_state cryo2 "$TEST_DIR/root2")
	run cryo2 image pull --tls-verify=false --max-size 1M "$REG/workload:1"
	[ "$status" -eq 125 ]
	[[ "$output" == *"pull \`$REG/workload:1\`: the image is "*" bytes by its manifest, more than the limit of 1048576 bytes (--max-size); nothing was downloaded"* ]]
	[ "$(store_state cryo2 "$TEST_DIR/root2")" = "$before" ]
	# the engine configuration's limit, the same way
	printf '[registry]\nmax_pull_size = 1M\n' >"$TEST_DIR/cryo.conf"
	run cryo2 --config "$TEST_DIR/cryo.conf" image pull --tls-verify=false "$REG/workload:1"
	[ "$status" -eq 125 ]
	[[ "$output" == *"more than the limit of 1048576 bytes (\`registry.max_pull_size\` in the engine configuration)"* ]]
	[ "$(store_state cryo2 "$TEST_DIR/root2")" = "$before" ]
	run cryo2 image pull --max-size 0 "$REG/workload:1"
	[ "$status" -eq 125 ]
	[[ "$output" == *"invalid --max-size \`0\`"* ]]
	# the bound is exact: the manifest's bytes and the sizes it declares
	local manifest exact
	manifest=$(curl -sf -H 'Accept: application/vnd.oci.image.manifest.v1+json' "http://$REG/v2/workload/manifests/1")
	exact=$(($(curl -sf -H 'Accept: application/vnd.oci.image.manifest.v1+json' "http://$REG/v2/workload/manifests/1" | wc -c) +
		$(jq '.config.size + ([.layers[].size] | add)' <<<"$manifest")))
	run cryo2 image pull --tls-verify=false --max-size $((exact - 1)) "$REG/workload:1"
	[ "$status" -eq 125 ]
	[[ "$output" == *"the image is $exact bytes by its manifest, more than the limit of $((exact - 1)) bytes"* ]]
	[ "$(store_state cryo2 "$TEST_DIR/root2")" = "$before" ]
	# the negative control: --max-size of exactly the image's size
	run cryo2 --config "$TEST_DIR/cryo.conf" image pull --tls-verify=false --max-size "$exact" "$REG/workload:1"
	[ "$status" -eq 0 ]
	[ "$output" = "$WORKLOAD_ID" ]
}

# Upload file $2 as a blob of repository $1 through the distribution API.
put_blob() { # repo file
	local digest loc
	digest=sha256:$(sha256 "$2")
	loc=$(curl -sf -X POST -D - -o /dev/null "http://$REG/v2/$1/blobs/uploads/" | tr -d '\r' | sed -n 's/^Location: //ip')
	[ -n "$loc" ] || return 1
	case $loc in http*) ;; *) loc=http://$REG$loc ;; esac
	case $loc in *\?*) loc="$loc&digest=$digest" ;; *) loc="$loc?digest=$digest" ;; esac
	curl -sf -X PUT -H 'Content-Type: application/octet-stream' --data-binary "@$2" "$loc" -o /dev/null
}

# Image $REG/liar:1 of $1 layers of $2 MiB of random data each, its
# manifest declaring 1000 bytes for every layer.
lying_image() { # layers mib
	local dir=$TEST_DIR/liar i layers=() tar
	for i in $(seq "$1"); do
		mkdir -p "$dir/l$i"
		head -c $(($2 << 20)) /dev/urandom >"$dir/l$i/big$i"
		tar -C "$dir/l$i" -cf "$dir/l$i.tar" "big$i"
		put_blob liar "$dir/l$i.tar" || return 1
		layers+=("$dir/l$i.tar")
	done
	printf '%s\n' "${layers[@]}" | while read -r tar; do sha256 "$tar"; done |
		jq -R . | jq -s '{architecture: "amd64", os: "linux", config: {Cmd: ["/bin/sh"]},
			rootfs: {type: "layers", diff_ids: map("sha256:" + .)}}' >"$dir/config.json"
	put_blob liar "$dir/config.json" || return 1
	printf '%s\n' "${layers[@]}" | while read -r tar; do sha256 "$tar"; done |
		jq -R . | jq -s --arg c "sha256:$(sha256 "$dir/config.json")" --argjson cs "$(stat -c %s "$dir/config.json")" \
			'{schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json",
			  config: {mediaType: "application/vnd.oci.image.config.v1+json", digest: $c, size: $cs},
			  layers: map({mediaType: "application/vnd.oci.image.layer.v1.tar", digest: ("sha256:" + .), size: 1000})}' \
			>"$dir/manifest.json"
	curl -sf -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
		--data-binary "@$dir/manifest.json" "http://$REG/v2/liar/manifests/1" -o /dev/null
}

@test "a registry that lies about a layer's size is still bounded: one blob bigger than the limit" {
	lying_image 1 16
	# the lie: 16 MiB declared as 1000 bytes
	[ "$(skopeo inspect --tls-verify=false --raw "docker://$REG/liar:1" | jq '[.layers[].size] | add')" = 1000 ]
	local before
	before=$(store_state cryo2 "$TEST_DIR/root2")
	run cryo2 image pull --tls-verify=false --max-size 2M "$REG/liar:1"
	[ "$status" -eq 125 ]
	[[ "$output" == *"pull \`$REG/liar:1\`: the download outgrew the limit of 2097152 bytes (--max-size) while its manifest declares "*" bytes: the registry sent more; nothing was stored"* ]]
	[ "$(store_state cryo2 "$TEST_DIR/root2")" = "$before" ]
}

@test "a registry that lies about its layers' sizes is still bounded: many blobs, each under the limit" {
	lying_image 5 1
	local before
	before=$(store_state cryo2 "$TEST_DIR/root2")
	run cryo2 image pull --tls-verify=false --max-size 2M "$REG/liar:1"
	[ "$status" -eq 125 ]
	[[ "$output" == *"pull \`$REG/liar:1\`: the download outgrew the limit of 2097152 bytes (--max-size)"* ]]
	[ "$(store_state cryo2 "$TEST_DIR/root2")" = "$before" ]
	# the negative control: under a limit above what it sends, it is pulled
	run cryo2 image pull --tls-verify=false --max-size 16M "$REG/liar:1"
	[ "$status" -eq 0 ]
}
