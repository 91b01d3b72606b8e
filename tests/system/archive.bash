# Crafting checkpoint archives as an attacker would: unpack a real one, change
# what it holds, and pack it again with an index and manifest recomputed for
# the hostile content, signed with the attacker's own key (or not at all).
# This is an independent writer of the format (GNU tar, jq, sha256sum,
# openssl), so the tests do not trust cryo's own writer either.
#
# Load after helpers.bash.

# unpack_archive ARCHIVE DIR: the archive's files, without index, manifest
# and signature (what repack_archive writes anew).
unpack_archive() {
	mkdir -p "$2"
	tar -C "$2" -xf "$1" || return 1
	rm -f "$2/index.json" "$2/manifest.json" "$2/manifest.sig"
}

# make_signing_key PEM PUBLINE_FILE COMMENT: a fresh Ed25519 key, and its
# public line in `cryo key show` form.
make_signing_key() {
	openssl genpkey -algorithm ed25519 -out "$1" 2>/dev/null || return 1
	printf 'cryo-ed25519 %s %s\n' "$(openssl pkey -in "$1" -pubout -outform DER | tail -c 32 | base64 -w0)" "$3" >"$2"
}

# repack_archive DIR ARCHIVE [KEY [SIGNATURE_FROM]]: pack DIR as a checkpoint
# archive (uncompressed): index.json first, the files, manifest.json, and
# manifest.sig signed with the PEM KEY ("" or none: unsigned). With
# SIGNATURE_FROM (an archive), its manifest.sig is copied instead of signing:
# a signature that no longer matches.
repack_archive() {
	local dir=$1 archive=$2 key=${3:-} sigfrom=${4:-} work
	work=$(mktemp -d "$TEST_DIR/repack.XXXXXX")
	(
		set -e
		cd "$dir"
		mapfile -t names < <(find . -mindepth 1 ! -name index.json ! -name manifest.json ! -name manifest.sig | sed 's|^\./||' | LC_ALL=C sort)
		local n total=0 entries="[]"
		for n in "${names[@]}"; do
			if [ -d "$n" ]; then
				entries=$(jq -c --arg n "$n" '. + [{name: $n, type: "directory"}]' <<<"$entries")
			else
				local size
				size=$(stat -c %s "$n")
				total=$((total + size))
				entries=$(jq -c --arg n "$n" --argjson s "$size" '. + [{name: $n, type: "file", size: $s}]' <<<"$entries")
			fi
		done
		jq -c --argjson t "$total" --argjson e "$entries" -n \
			'{format: "cryo-checkpoint", version: 2, total_size: $t, entries: $e}' >"$work/index.json"
		local m="{}" f
		for f in "$work/index.json" "${names[@]}"; do
			[ -d "$f" ] && continue
			local name=${f#"$work/"}
			m=$(jq -c --arg n "$name" --arg h "$(sha256sum "$f" | cut -d' ' -f1)" --argjson s "$(stat -c %s "$f")" \
				'. + {($n): {sha256: $h, size: $s}}' <<<"$m")
		done
		jq -c --argjson e "$m" -n '{format: "cryo-checkpoint", version: 2, entries: $e}' >"$work/manifest.json"
		local tail=(manifest.json)
		if [ -n "$sigfrom" ]; then
			tar -xOf "$sigfrom" manifest.sig >"$work/manifest.sig"
			tail+=(manifest.sig)
		elif [ -n "$key" ]; then
			local sig pub
			openssl pkeyutl -sign -inkey "$key" -rawin -in "$work/manifest.json" -out "$work/sig.bin"
			sig=$(base64 -w0 <"$work/sig.bin")
			pub=$(openssl pkey -in "$key" -pubout -outform DER | tail -c 32 | base64 -w0)
			jq -c -n --arg k "$pub" --arg s "$sig" '{algorithm: "ed25519", public_key: $k, signature: $s}' >"$work/manifest.sig"
			tail+=(manifest.sig)
		fi
		tar --format=pax --no-recursion -cf "$archive" -C "$work" index.json -C "$dir" "${names[@]}" -C "$work" "${tail[@]}"
	)
	local rc=$?
	rm -rf "$work"
	return $rc
}

# edit_config DIR JQ-FILTER: change the unpacked archive's config.dump.
edit_config() {
	local tmp
	tmp=$(mktemp "$TEST_DIR/config.XXXXXX")
	jq "$2" "$1/config.dump" >"$tmp" && mv "$tmp" "$1/config.dump"
}
