#!/usr/bin/env bats
# The image store: cryo image import/load/ls/inspect/rm/mount/unmount.

load helpers

setup() { setup_engine; }
teardown() { teardown_engine; }

# ---- helpers ----

# The store holds nothing: no image rows, no layer, image or registry blob
# directories, no unpack leftovers.
assert_store_empty() {
	run cryo images --format json
	[ "$status" -eq 0 ]
	[ "$(jq length <<<"$output")" -eq 0 ]
	[ -z "$(ls -A "$ROOT/layers" 2>/dev/null)" ]
	[ -z "$(ls -A "$ROOT/images" 2>/dev/null)" ]
	[ -z "$(ls -A "$ROOT/image-blobs" 2>/dev/null)" ]
	assert_no_file_matching "$ROOT/tmp/image-*"
}

# Status 125 and an "Error:" line containing $1.
assert_fails_with() {
	[ "$status" -eq 125 ] || { echo "status $status, output: $output"; return 1; }
	[[ "$output" == *"Error: "*"$1"* ]] || { echo "output lacks '$1': $output"; return 1; }
}

sha256() { sha256sum "$1" | cut -d' ' -f1; }

# Put a file into the layout's blob store; prints its digest hex.
add_blob() { # layout file
	local hex
	hex=$(sha256 "$2")
	mkdir -p "$1/blobs/sha256"
	cp "$2" "$1/blobs/sha256/$hex"
	echo "$hex"
}

descriptor() { # media-type hex file
	jq -n --arg mt "$1" --arg d "sha256:$2" --argjson s "$(stat -c %s "$3")" \
		'{mediaType: $mt, digest: $d, size: $s}'
}

# An OCI layout of two layers, in directory $1, named $2 (the ref.name
# annotation, none when empty), with an optional io.containerd.image.name $3:
#   layer 1 (plain tar):  a, b, dir/x
#   layer 2 (gzip):       .wh.b, dir/.wh..wh..opq, dir/y, c
# Sets L1 L2 (layer blob digests) and CONFIG (config digest).
make_oci_layout() {
	local out=$1 ref=${2:-} cname=${3:-} work=$TEST_DIR/oci-work.$RANDOM
	mkdir -p "$work/l1/dir" "$work/l2/dir" "$out"
	echo A >"$work/l1/a"
	echo B >"$work/l1/b"
	echo X >"$work/l1/dir/x"
	: >"$work/l2/.wh.b"
	: >"$work/l2/dir/.wh..wh..opq"
	echo Y >"$work/l2/dir/y"
	echo C >"$work/l2/c"
	tar -C "$work/l1" -cf "$work/layer1.tar" .
	tar -C "$work/l2" -cf "$work/layer2.tar" .
	gzip -n -c "$work/layer2.tar" >"$work/layer2.tar.gz"
	L1=$(add_blob "$out" "$work/layer1.tar")
	L2=$(add_blob "$out" "$work/layer2.tar.gz")
	jq -n --arg d1 "sha256:$(sha256 "$work/layer1.tar")" --arg d2 "sha256:$(sha256 "$work/layer2.tar")" '{
		created: "2024-01-02T03:04:05Z", architecture: "amd64", os: "linux",
		config: {Env: ["PATH=/bin", "FOO=bar"], Entrypoint: ["/bin/sh", "-c"], Cmd: ["echo hi"],
		         WorkingDir: "/dir", User: "1000:1000"},
		rootfs: {type: "layers", diff_ids: [$d1, $d2]}}' >"$work/config.json"
	CONFIG=$(add_blob "$out" "$work/config.json")
	jq -n --argjson c "$(descriptor application/vnd.oci.image.config.v1+json "$CONFIG" "$work/config.json")" \
		--argjson l1 "$(descriptor application/vnd.oci.image.layer.v1.tar "$L1" "$work/layer1.tar")" \
		--argjson l2 "$(descriptor application/vnd.oci.image.layer.v1.tar+gzip "$L2" "$work/layer2.tar.gz")" \
		'{schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json",
		  config: $c, layers: [$l1, $l2]}' >"$work/manifest.json"
	local manifest
	manifest=$(add_blob "$out" "$work/manifest.json")
	local ann='{}'
	[ -n "$ref" ] && ann=$(jq -n --arg r "$ref" '{"org.opencontainers.image.ref.name": $r}')
	[ -n "$cname" ] && ann=$(jq --arg n "$cname" '. + {"io.containerd.image.name": $n}' <<<"$ann")
	jq -n --argjson m "$(descriptor application/vnd.oci.image.manifest.v1+json "$manifest" "$work/manifest.json")" \
		--argjson a "$ann" \
		'{schemaVersion: 2, manifests: [$m + (if $a == {} then {} else {annotations: $a} end)]}' \
		>"$out/index.json"
	echo '{"imageLayoutVersion": "1.0.0"}' >"$out/oci-layout"
	rm -rf "$work"
}

# A tarball with one hostile entry, written with GNU tar -P so names are kept
# as given. $1: output, $2: the entry's name, $3: when given, a symlink `link`
# to $3 comes before it.
hostile_tar() {
	local out=$1 name=$2 work=$TEST_DIR/hostile.$RANDOM
	local members=(ok)
	mkdir -p "$work"
	echo ok >"$work/ok"
	echo evil >"$work/payload"
	if [ -n "${3:-}" ]; then
		ln -s "$3" "$work/link"
		members+=(link)
	fi
	(cd "$work" && tar -P --transform "s,^payload\$,$name," -cf "$out" "${members[@]}" payload)
	rm -rf "$work"
}

# ---- import ----

@test "import: plain, gzip, zstd and xz tarballs" {
	local tar
	tar=$(busybox_rootfs_tar)
	cp "$tar" "$TEST_DIR/rootfs.tar"
	gzip -c "$tar" >"$TEST_DIR/rootfs.tar.gz"
	zstd -q -c "$tar" >"$TEST_DIR/rootfs.tar.zst"
	xz -c "$tar" >"$TEST_DIR/rootfs.tar.xz"
	for kind in tar tar.gz tar.zst tar.xz; do
		run cryo image import "$TEST_DIR/rootfs.$kind" "bb:${kind//./-}"
		[ "$status" -eq 0 ]
		[[ "$output" =~ ^[0-9a-f]{64}$ ]]
		run cryo image inspect "bb:${kind//./-}"
		[ "$status" -eq 0 ]
		local layer
		layer=$(jq -r '.layers[0]' <<<"$output")
		[ "$(jq '.layers | length' <<<"$output")" -eq 1 ]
		# The layer ID is the digest of the file as given.
		[ "$layer" = "$(sha256 "$TEST_DIR/rootfs.$kind")" ]
		[ -x "$ROOT/layers/$layer/bin/busybox" ]
		[ "$(readlink "$ROOT/layers/$layer/bin/sh")" = busybox ]
		grep -q '^root:x:0:0:' "$ROOT/layers/$layer/etc/passwd"
		[ "$(stat -c %a "$ROOT/layers/$layer/tmp")" = 1777 ]
	done
	run cryo images --format json
	[ "$(jq length <<<"$output")" -eq 4 ]
	assert_no_file_matching "$ROOT/tmp/image-*"
}

@test "import: owners, modes, times and device nodes are preserved" {
	local work=$TEST_DIR/meta
	mkdir -p "$work/dev" "$work/home/user"
	echo data >"$work/home/user/file"
	chmod 4750 "$work/home/user/file"
	mknod "$work/dev/null" c 1 3
	tar -C "$work" --owner=1234 --group=5678 --mtime=@1000000000 -cf "$TEST_DIR/meta.tar" .
	cryo image import "$TEST_DIR/meta.tar" meta
	local layer
	layer=$(sha256 "$TEST_DIR/meta.tar")
	[ "$(stat -c %u:%g:%a:%Y "$ROOT/layers/$layer/home/user/file")" = 1234:5678:4750:1000000000 ]
	[ "$(stat -c %u:%g:%Y "$ROOT/layers/$layer/home/user")" = 1234:5678:1000000000 ]
	[ "$(stat -c %F:%t:%T "$ROOT/layers/$layer/dev/null")" = "character special file:1:3" ]
	# The root directory takes the tarball's "./" entry.
	[ "$(stat -c %u:%g "$ROOT/layers/$layer")" = 1234:5678 ]
}

@test "images: table, ls alias, quiet and json" {
	local id
	id=$(cryo image import "$(busybox_rootfs_tar)" busybox)
	run cryo images
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" =~ ^REPOSITORY\ +TAG\ +IMAGE\ ID\ +CREATED\ +SIZE$ ]]
	[[ "${lines[1]}" =~ ^busybox\ +latest\ +${id:0:12}\ +.*(ago)\ +[0-9.]+\ [kMG]?B$ ]]
	[ "${#lines[@]}" -eq 2 ]
	run cryo image ls
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" =~ ^REPOSITORY\ +TAG\ +IMAGE\ ID ]]
	[[ "${lines[1]}" =~ ^busybox\ +latest\ +${id:0:12}\  ]]
	run cryo images -q
	[ "$output" = "${id:0:12}" ]
	run cryo images --quiet --no-trunc
	[ "$output" = "$id" ]
	run cryo images --format json
	[ "$(jq -r '.[0].id' <<<"$output")" = "$id" ]
	[ "$(jq -r '.[0].name' <<<"$output")" = busybox:latest ]
	[ "$(jq -r '.[0].repository + " " + .[0].tag' <<<"$output")" = "busybox latest" ]
	[ "$(jq '.[0].size' <<<"$output")" -gt 100000 ]
	run cryo images --format yaml
	assert_fails_with "unknown format"
}

@test "inspect: default config of an imported image, lookups by name, ID and prefix" {
	local id
	id=$(cryo image import "$(busybox_rootfs_tar)" busybox:1)
	run cryo image inspect busybox:1
	[ "$status" -eq 0 ]
	[ "$(jq -r .id <<<"$output")" = "$id" ]
	[ "$(jq -r .name <<<"$output")" = busybox:1 ]
	[[ "$(jq -r .created <<<"$output")" =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z$ ]]
	[ "$(jq -c .config.Env <<<"$output")" = '["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]' ]
	[ "$(jq -c .config.Cmd <<<"$output")" = '["/bin/sh"]' ]
	[ "$(jq -c .config.Entrypoint <<<"$output")" = null ]
	[ "$(jq -r .config.WorkingDir <<<"$output")" = / ]
	[ "$(jq -r .config.User <<<"$output")" = "" ]
	[ "$(jq .mountpoint <<<"$output")" = null ]
	for ref in "$id" "${id:0:12}" "sha256:${id:0:5}"; do
		run cryo image inspect "$ref"
		[ "$status" -eq 0 ]
		[ "$(jq -r .id <<<"$output")" = "$id" ]
	done
	# The tag defaults to latest, which this image does not have.
	run cryo image inspect busybox
	assert_fails_with "no such image \`busybox\`"
}

@test "import: re-importing a name moves it; the old image goes, shared layers stay" {
	local tar old new layer
	tar=$(busybox_rootfs_tar)
	old=$(cryo image import "$tar" busybox)
	new=$(cryo image import "$tar" busybox)
	[ "$old" != "$new" ]
	run cryo images --format json
	[ "$(jq length <<<"$output")" -eq 1 ]
	[ "$(jq -r '.[0].id' <<<"$output")" = "$new" ]
	run cryo image inspect "$old"
	assert_fails_with "no such image"
	# Same file, same layer: kept, once.
	layer=$(sha256 "$tar")
	[ "$(ls "$ROOT/layers")" = "$layer" ]

	# A different file: the old layer goes with the old image.
	gzip -c "$tar" >"$TEST_DIR/rootfs.tar.gz"
	cryo image import "$TEST_DIR/rootfs.tar.gz" busybox
	[ "$(ls "$ROOT/layers")" = "$(sha256 "$TEST_DIR/rootfs.tar.gz")" ]
	run cryo images -q
	[ "${#lines[@]}" -eq 1 ]
}

@test "rm: removes the image and its layers, keeps layers other images share" {
	local tar
	tar=$(busybox_rootfs_tar)
	local a b
	a=$(cryo image import "$tar" a)
	b=$(cryo image import "$tar" b:v2)
	run cryo image rm a
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "Untagged: a:latest" ]
	[ "${lines[1]}" = "Deleted: $a" ]
	[ "$(ls "$ROOT/layers")" = "$(sha256 "$tar")" ]
	run cryo rmi "${b:0:12}"
	[ "$status" -eq 0 ]
	[ "${lines[1]}" = "Deleted: $b" ]
	assert_store_empty
}

@test "rm: refused while a container uses the image, naming the container" {
	local id
	id=$(cryo image import "$(busybox_rootfs_tar)" busybox)
	# A container row as the container commands record it.
	sqlite3 "$ROOT/state.db" "INSERT INTO containers (id, name, image_id, image_name, config, state, created)
		VALUES ('c0ffee', 'web', '$id', 'busybox:latest', '{}', 'created', 0)"
	run cryo image rm busybox
	assert_fails_with "image \`busybox:latest\` is in use by container \`web\`"
	[ -n "$(ls -A "$ROOT/layers")" ]
	# Re-importing the name leaves the used image untagged, not deleted.
	cryo image import "$(busybox_rootfs_tar)" busybox
	run cryo images --format json
	[ "$(jq length <<<"$output")" -eq 2 ]
	[ "$(jq -r --arg id "$id" '.[] | select(.id == $id) | .name' <<<"$output")" = null ]
	run cryo images
	[[ "$output" == *"<none>"*"<none>"*"${id:0:12}"* ]]
	# Once the container is gone the untagged image can be removed by ID.
	sqlite3 "$ROOT/state.db" "DELETE FROM containers WHERE id = 'c0ffee'"
	run cryo image rm "$id"
	[ "$status" -eq 0 ]
	run cryo images -q
	[ "${#lines[@]}" -eq 1 ]
}

# ---- load ----

@test "load: multi-layer OCI layout; whiteouts and opaque dirs apply in the merged view" {
	make_oci_layout "$TEST_DIR/layout" example.com/test/app:v1
	run cryo image load "$TEST_DIR/layout"
	[ "$status" -eq 0 ]
	[ "$output" = "$CONFIG" ]
	run cryo image inspect example.com/test/app:v1
	[ "$status" -eq 0 ]
	[ "$(jq -c .layers <<<"$output")" = "[\"$L1\",\"$L2\"]" ]
	[ "$(jq -c .config.Env <<<"$output")" = '["PATH=/bin","FOO=bar"]' ]
	[ "$(jq -c .config.Cmd <<<"$output")" = '["echo hi"]' ]
	[ "$(jq -c .config.Entrypoint <<<"$output")" = '["/bin/sh","-c"]' ]
	[ "$(jq -r .config.WorkingDir <<<"$output")" = /dir ]
	[ "$(jq -r .config.User <<<"$output")" = 1000:1000 ]
	[ "$(jq -r .created <<<"$output")" = 2024-01-02T03:04:05.000000Z ]

	# The layers hold overlayfs whiteouts.
	[ "$(stat -c %F:%t:%T "$ROOT/layers/$L2/b")" = "character special file:0:0" ]
	[ ! -e "$ROOT/layers/$L2/.wh.b" ]

	run cryo image mount example.com/test/app:v1
	[ "$status" -eq 0 ]
	local mnt=$output
	[ "$mnt" = "$ROOT/images/$CONFIG/mnt" ]
	mountpoint -q "$mnt"
	[ "$(cat "$mnt/a")" = A ]
	[ "$(cat "$mnt/c")" = C ]
	[ ! -e "$mnt/b" ]
	[ "$(ls -A "$mnt/dir")" = y ]
	[ "$(cat "$mnt/dir/y")" = Y ]
	# Read-only.
	run touch "$mnt/new"
	[ "$status" -ne 0 ]
	# Mounting again is fine and gives the same path.
	[ "$(cryo image mount "$CONFIG")" = "$mnt" ]
	[ "$(cryo image inspect "$CONFIG" | jq -r .mountpoint)" = "$mnt" ]

	run cryo image unmount example.com/test/app:v1
	[ "$status" -eq 0 ]
	run mountpoint -q "$mnt"
	[ "$status" -ne 0 ]
	[ ! -e "$ROOT/images/$CONFIG" ]
	run cryo image unmount example.com/test/app:v1
	assert_fails_with "is not mounted"
}

@test "load: an oci-archive tarball, with -i" {
	make_oci_layout "$TEST_DIR/layout" example.com/test/app:v2
	tar -C "$TEST_DIR/layout" -cf "$TEST_DIR/app.tar" .
	rm -rf "$TEST_DIR/layout"
	run cryo image load -i "$TEST_DIR/app.tar"
	[ "$status" -eq 0 ]
	[ "$output" = "$CONFIG" ]
	run cryo images --format json
	[ "$(jq -r '.[0].name' <<<"$output")" = example.com/test/app:v2 ]
	mnt=$(cryo image mount example.com/test/app:v2)
	[ ! -e "$mnt/b" ]
	[ "$(ls -A "$mnt/dir")" = y ]
	[ -e "$mnt/a" ]
	# The unpacked archive does not stay around.
	assert_no_file_matching "$ROOT/tmp/image-*"
	# rm unmounts it.
	cryo image rm example.com/test/app:v2
	run mountpoint -q "$mnt"
	[ "$status" -ne 0 ]
	assert_store_empty
}

@test "load: naming from annotations, the file name, or --name" {
	make_oci_layout "$TEST_DIR/My_Layout" v1
	run cryo image load "$TEST_DIR/My_Layout"
	[ "$status" -eq 0 ]
	run cryo image inspect my_layout:v1
	[ "$status" -eq 0 ]

	make_oci_layout "$TEST_DIR/l2" v3 docker.io/library/app:ignored
	cryo image rm my_layout:v1
	cryo image load "$TEST_DIR/l2"
	run cryo image inspect docker.io/library/app:v3
	[ "$status" -eq 0 ]
	cryo image rm docker.io/library/app:v3

	make_oci_layout "$TEST_DIR/plain.tar.d" ""
	cryo image load "$TEST_DIR/plain.tar.d"
	run cryo image inspect plain.tar.d:latest
	[ "$status" -eq 0 ]
	cryo image rm plain.tar.d

	run cryo image load --name mine:1 "$TEST_DIR/l2"
	[ "$status" -eq 0 ]
	run cryo images --format json
	[ "$(jq -r '.[].name' <<<"$output")" = mine:1 ]
	# Loading the same image again under its name changes nothing...
	run cryo image load --name mine:1 "$TEST_DIR/l2"
	[ "$status" -eq 0 ]
	run cryo images -q
	[ "${#lines[@]}" -eq 1 ]
	# ...under another name is refused: an image has one name.
	run cryo image load --name other "$TEST_DIR/l2"
	assert_fails_with "already stored as \`mine:1\`"
}

@test "load: a layer shared with a stored image is reused" {
	make_oci_layout "$TEST_DIR/layout" app:v1
	cryo image load "$TEST_DIR/layout"
	local before
	before=$(stat -c %i "$ROOT/layers/$L1")
	cryo image import "$TEST_DIR/layout/blobs/sha256/$L1" justone
	[ "$(stat -c %i "$ROOT/layers/$L1")" = "$before" ]
	[ "$(ls "$ROOT/layers" | wc -l)" -eq 2 ]
	cryo image rm app:v1
	[ "$(ls "$ROOT/layers")" = "$L1" ]
}

@test "load: a nested index is resolved to this host's platform" {
	local arch
	case "$(uname -m)" in
	x86_64) arch=amd64 ;;
	aarch64) arch=arm64 ;;
	*) skip "no GOARCH mapping for $(uname -m) in this test" ;;
	esac
	make_oci_layout "$TEST_DIR/layout" ""
	local top other hex
	top=$(jq '.manifests[0]' "$TEST_DIR/layout/index.json")
	# Another platform's entry first, pointing at a blob that is not there: it
	# must not be touched.
	other=$(jq -n '{mediaType: "application/vnd.oci.image.manifest.v1+json",
		digest: "sha256:0000000000000000000000000000000000000000000000000000000000000000", size: 10,
		platform: {os: "linux", architecture: "s390x"}}')
	jq -n --argjson o "$other" --argjson m "$top" --arg a "$arch" \
		'{schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json",
		  manifests: [$o, $m + {platform: {os: "linux", architecture: $a}}]}' >"$TEST_DIR/nested.json"
	hex=$(add_blob "$TEST_DIR/layout" "$TEST_DIR/nested.json")
	jq -n --argjson d "$(descriptor application/vnd.oci.image.index.v1+json "$hex" "$TEST_DIR/nested.json")" \
		'{schemaVersion: 2, manifests: [$d + {annotations: {"org.opencontainers.image.ref.name": "multi:v1"}}]}' \
		>"$TEST_DIR/layout/index.json"
	run cryo image load "$TEST_DIR/layout"
	[ "$status" -eq 0 ]
	[ "$output" = "$CONFIG" ]
	run cryo image inspect multi:v1
	[ "$(jq -c .layers <<<"$output")" = "[\"$L1\",\"$L2\"]" ]
	cryo image rm multi:v1

	# Negative control: without an entry for this platform the load fails.
	jq '.manifests[1].platform.architecture = "mips"' "$TEST_DIR/nested.json" >"$TEST_DIR/n2.json"
	hex=$(add_blob "$TEST_DIR/layout" "$TEST_DIR/n2.json")
	jq -n --argjson d "$(descriptor application/vnd.oci.image.index.v1+json "$hex" "$TEST_DIR/n2.json")" \
		'{schemaVersion: 2, manifests: [$d]}' >"$TEST_DIR/layout/index.json"
	run cryo image load --name multi "$TEST_DIR/layout"
	assert_fails_with "none is for linux/$arch"
	assert_store_empty
}

@test "load: a layout listing several images is refused, naming them" {
	make_oci_layout "$TEST_DIR/layout" app:v1
	jq '.manifests += [.manifests[0] | .annotations["org.opencontainers.image.ref.name"] = "app:v2"]' \
		"$TEST_DIR/layout/index.json" >"$TEST_DIR/index.json"
	mv "$TEST_DIR/index.json" "$TEST_DIR/layout/index.json"
	run cryo image load "$TEST_DIR/layout"
	assert_fails_with "lists 2 images (\`app:v1\`, \`app:v2\`)"
	assert_store_empty
}

@test "store: leftovers of an interrupted change are swept by the next one" {
	import_busybox
	# What a crash mid-import leaves: an unpack area, a layer without a row, an
	# image directory without an image, registry blobs without an image.
	local orphan_layer orphan_image
	orphan_layer=$(printf '%064d' 1)
	orphan_image=$(printf '%064d' 2)
	mkdir -p "$ROOT/tmp/image-layer-abc123/bin" "$ROOT/layers/$orphan_layer/etc" "$ROOT/images/$orphan_image/mnt"
	mkdir -p "$ROOT/tmp/not-mine" "$ROOT/image-blobs/$orphan_image/blobs/sha256" "$ROOT/tmp/image-blobs-abc123"
	cryo image import "$(busybox_rootfs_tar)" other
	[ ! -e "$ROOT/tmp/image-layer-abc123" ]
	[ ! -e "$ROOT/layers/$orphan_layer" ]
	[ ! -e "$ROOT/images/$orphan_image" ]
	# and registry blobs without an image, kept ones being made
	[ ! -e "$ROOT/image-blobs/$orphan_image" ]
	[ ! -e "$ROOT/tmp/image-blobs-abc123" ]
	[ "$(ls "$ROOT/image-blobs" | wc -l)" -eq 2 ]
	# Other engineers' temporary files are not ours to remove.
	[ -d "$ROOT/tmp/not-mine" ]
	[ "$(ls "$ROOT/layers")" = "$(sha256 "$(busybox_rootfs_tar)")" ]
}

@test "store: concurrent imports of one name leave one consistent image" {
	local tar
	tar=$(busybox_rootfs_tar)
	cryo images >/dev/null
	for i in 1 2 3 4; do
		cryo image import "$tar" same >"$TEST_DIR/out.$i" 2>&1 &
	done
	wait
	for i in 1 2 3 4; do
		[[ "$(cat "$TEST_DIR/out.$i")" =~ ^[0-9a-f]{64}$ ]]
	done
	run cryo images --format json
	[ "$(jq length <<<"$output")" -eq 1 ]
	[ "$(jq -r '.[0].name' <<<"$output")" = same:latest ]
	[ "$(ls "$ROOT/layers" | wc -l)" -eq 1 ]
	assert_no_file_matching "$ROOT/tmp/image-*"
}

# ---- bad input: exit 125, a clear message, nothing left behind ----

@test "bad input: an oci-archive whose blob is a symlink to a host file" {
	make_oci_layout "$TEST_DIR/layout" app:v1
	rm "$TEST_DIR/layout/blobs/sha256/$L1"
	ln -s /etc/hostname "$TEST_DIR/layout/blobs/sha256/$L1"
	tar -C "$TEST_DIR/layout" -cf "$TEST_DIR/app.tar" .
	run cryo image load "$TEST_DIR/app.tar"
	assert_fails_with "entry \`./blobs/sha256/$L1\`: only regular files and directories"
	assert_store_empty
}

@test "bad input: a layer that unpacks beyond the engine's import limits is refused, the store unchanged" {
	# 64 MiB of zeros: a gzip bomb of about 64 KiB
	mkdir -p "$TEST_DIR/bomb"
	head -c 64M /dev/zero >"$TEST_DIR/bomb/zeros"
	tar -C "$TEST_DIR/bomb" -czf "$TEST_DIR/bomb.tar.gz" .
	assert_equal "$(($(stat -c %s "$TEST_DIR/bomb.tar.gz") < 1048576))" 1
	printf '[import]\nmax_total_size = 16M\n' >"$TEST_DIR/small.conf"
	run cryo --config "$TEST_DIR/small.conf" image import "$TEST_DIR/bomb.tar.gz" bomb
	assert_fails_with 'more than 16777216 bytes of file data'
	assert_output_contains 'import.max_total_size'
	assert_store_empty
	# the same through an oci-archive's own unpacking
	make_oci_layout "$TEST_DIR/layout" example.com/test/app:v2
	head -c 32M /dev/zero >"$TEST_DIR/layout/padding"
	tar -C "$TEST_DIR/layout" -czf "$TEST_DIR/app.tar.gz" .
	run cryo --config "$TEST_DIR/small.conf" image load -i "$TEST_DIR/app.tar.gz"
	assert_fails_with 'import.max_total_size'
	assert_store_empty
	# too many entries
	mkdir -p "$TEST_DIR/many"
	touch "$TEST_DIR/many/f"{1..40}
	tar -C "$TEST_DIR/many" -cf "$TEST_DIR/many.tar" .
	printf '[import]\nmax_entries = 20\n' >"$TEST_DIR/few.conf"
	run cryo --config "$TEST_DIR/few.conf" image import "$TEST_DIR/many.tar" many
	assert_fails_with 'more than 20 entries'
	assert_store_empty
	# the control: within the engine's defaults all three are stored
	cryo image import "$TEST_DIR/bomb.tar.gz" bomb >/dev/null
	cryo image load -i "$TEST_DIR/app.tar.gz" >/dev/null
	cryo image import "$TEST_DIR/many.tar" many >/dev/null
	assert_equal "$(cryo images --format json | jq length)" 3
}

@test "bad input: nonexistent file" {
	run cryo image import "$TEST_DIR/nonexistent.tar" x
	assert_fails_with "import \`$TEST_DIR/nonexistent.tar\`: No such file or directory"
	run cryo image load "$TEST_DIR/nonexistent"
	assert_fails_with "No such file or directory"
	assert_store_empty
}

@test "bad input: corrupt and truncated tarballs" {
	head -c 3000 /dev/urandom >"$TEST_DIR/junk.tar"
	run cryo image import "$TEST_DIR/junk.tar" x
	assert_fails_with "read archive \`$TEST_DIR/junk.tar\`"
	gzip -c "$(busybox_rootfs_tar)" | head -c 300000 >"$TEST_DIR/cut.tar.gz"
	run cryo image import "$TEST_DIR/cut.tar.gz" x
	assert_fails_with "$TEST_DIR/cut.tar.gz"
	head -c 700000 "$(busybox_rootfs_tar)" >"$TEST_DIR/cut.tar"
	run cryo image import "$TEST_DIR/cut.tar" x
	assert_fails_with "$TEST_DIR/cut.tar"
	: >"$TEST_DIR/empty.tar"
	run cryo image import "$TEST_DIR/empty.tar" x
	[ "$status" -eq 125 ]
	assert_store_empty
	# Negative control: the same store takes a good tarball.
	cryo image import "$(busybox_rootfs_tar)" x
}

@test "bad input: a layer entry with ..; nothing written outside" {
	mkdir -p "$TEST_DIR/a/b"
	hostile_tar "$TEST_DIR/a/b/evil.tar" "../sentinel-dotdot"
	run cryo image import "$TEST_DIR/a/b/evil.tar" evil
	assert_fails_with "entry \`../sentinel-dotdot\`"
	[[ "$output" == *"\`..\`"* ]]
	[ -z "$(find "$TEST_DIR" -name 'sentinel-*')" ]
	assert_store_empty
}

@test "bad input: an absolute-path layer entry; nothing written outside" {
	hostile_tar "$TEST_DIR/evil.tar" "$TEST_DIR/sentinel-abs"
	run cryo image import "$TEST_DIR/evil.tar" evil
	assert_fails_with "entry \`$TEST_DIR/sentinel-abs\`"
	[[ "$output" == *"absolute path"* ]]
	[ ! -e "$TEST_DIR/sentinel-abs" ]
	assert_store_empty
}

@test "bad input: an entry through a symlink out of the layer; nothing written outside" {
	hostile_tar "$TEST_DIR/evil.tar" "link$TEST_DIR/sentinel-sym" /
	tar -tf "$TEST_DIR/evil.tar" | grep -qx link
	run cryo image import "$TEST_DIR/evil.tar" evil
	assert_fails_with "entry \`link$TEST_DIR/sentinel-sym\`"
	[[ "$output" == *"resolves outside"* ]]
	[ ! -e "$TEST_DIR/sentinel-sym" ]
	assert_store_empty
}

@test "bad input: a hostile layer in an OCI layout rolls back the layers before it" {
	make_oci_layout "$TEST_DIR/layout" app:v1
	# Replace layer 2 with a hostile one, keeping the layout consistent.
	hostile_tar "$TEST_DIR/evil.tar" "../sentinel-oci"
	local hex manifest_hex
	hex=$(add_blob "$TEST_DIR/layout" "$TEST_DIR/evil.tar")
	manifest_hex=$(jq -r '.manifests[0].digest | ltrimstr("sha256:")' "$TEST_DIR/layout/index.json")
	jq --arg d "sha256:$hex" --argjson s "$(stat -c %s "$TEST_DIR/evil.tar")" \
		'.layers[1] = {mediaType: "application/vnd.oci.image.layer.v1.tar", digest: $d, size: $s}' \
		"$TEST_DIR/layout/blobs/sha256/$manifest_hex" >"$TEST_DIR/manifest.json"
	manifest_hex=$(add_blob "$TEST_DIR/layout" "$TEST_DIR/manifest.json")
	jq --arg d "sha256:$manifest_hex" --argjson s "$(stat -c %s "$TEST_DIR/manifest.json")" \
		'.manifests[0].digest = $d | .manifests[0].size = $s' "$TEST_DIR/layout/index.json" >"$TEST_DIR/index.json"
	mv "$TEST_DIR/index.json" "$TEST_DIR/layout/index.json"
	run cryo image load "$TEST_DIR/layout"
	assert_fails_with "layer 2 of 2"
	[[ "$output" == *"entry \`../sentinel-oci\`"* ]]
	[ -z "$(find "$TEST_DIR" -name 'sentinel-*')" ]
	assert_store_empty
}

@test "bad input: blob digest mismatch" {
	make_oci_layout "$TEST_DIR/layout" app:v1
	# Same size, one byte changed.
	printf 'Z' | dd of="$TEST_DIR/layout/blobs/sha256/$L2" bs=1 seek=20 conv=notrunc status=none
	run cryo image load "$TEST_DIR/layout"
	assert_fails_with "blob sha256:$L2 does not match its digest"
	assert_store_empty
	# Size changed too.
	echo extra >>"$TEST_DIR/layout/blobs/sha256/$L1"
	run cryo image load "$TEST_DIR/layout"
	assert_fails_with "blob sha256:$L1 has"
	assert_store_empty
}

@test "bad input: a layout without index.json" {
	make_oci_layout "$TEST_DIR/layout" app:v1
	rm "$TEST_DIR/layout/index.json"
	run cryo image load "$TEST_DIR/layout"
	assert_fails_with "is not an OCI image layout"
	[[ "$output" == *"index.json"* ]]
	tar -C "$TEST_DIR/layout" -cf "$TEST_DIR/noindex.tar" .
	run cryo image load "$TEST_DIR/noindex.tar"
	assert_fails_with "is not an OCI image layout"
	assert_store_empty
}

@test "bad input: invalid names" {
	run cryo image import "$(busybox_rootfs_tar)" Bad
	assert_fails_with "invalid image name \`Bad\`"
	run cryo image import "$(busybox_rootfs_tar)" "ok:bad/tag"
	assert_fails_with "the tag must match"
	make_oci_layout "$TEST_DIR/layout" "Upper/Case:v1"
	run cryo image load "$TEST_DIR/layout"
	assert_fails_with "give --name"
	run cryo image load --name "-x" "$TEST_DIR/layout"
	assert_fails_with "invalid image name \`-x\`"
	assert_store_empty
}

@test "bad input: rm of an unknown image" {
	run cryo image rm nope
	assert_fails_with "no such image \`nope\`"
	import_busybox
	# One unknown among known ones: the known one goes, the exit code says 125.
	run cryo image rm nope busybox
	[ "$status" -eq 125 ]
	[[ "$output" == *"Deleted: "* ]]
	assert_store_empty
}

@test "bad input: unknown options and missing arguments" {
	run cryo image import --bogus x y
	assert_fails_with "unknown option \`--bogus\`"
	run cryo images --bogus
	assert_fails_with "unknown option \`--bogus\`"
	run cryo image load -x
	assert_fails_with "unknown option \`-x\`"
	run cryo image import onlyfile
	assert_fails_with "expected FILE and NAME"
	run cryo image load
	assert_fails_with "expected one PATH"
	run cryo image mount
	assert_fails_with "expected one IMAGE"
	assert_store_empty
}
