#!/usr/bin/env bats
# The CRIU that scripts/setup.sh builds, with the patches in patches/criu/:
# runc hands CRIU a per-container configuration file (`org.criu.config`), and
# a `network-lock` line in it must work; CRIU keeps its kernel-feature cache
# even where /run is not a tmpfs. runc drives CRIU here as it does for cryo.

load helpers
bats_require_minimum_version 1.5.0

setup() {
	setup_engine
	local json
	json=$(cryo info --format json)
	# CRYO_TEST_CRIU: try a CRIU built elsewhere (setup.sh with
	# CRYO_SETUP_CRIU_PREFIX) before it replaces the one cryo uses.
	CRIU_BIN=${CRYO_TEST_CRIU:-$(jq -r .criu.path <<<"$json")}
	# The environment cryo gives CRIU (CRIU_FAULT=130 where hardware
	# breakpoints do not fire).
	CRIU_ENV=()
	mapfile -t CRIU_ENV < <(jq -r '.criu.env[] | select(startswith("CRIU_FAULT="))' <<<"$json")
	BUNDLE=$TEST_DIR/bundle
	RUNC_ROOT=$RUNROOT/runtime
	CT=criu-test-$$
	mkdir -p "$BUNDLE/rootfs" "$RUNC_ROOT"
	tar -C "$BUNDLE/rootfs" -xf "$(busybox_rootfs_tar)"
	(cd "$BUNDLE" && runc spec)
	jq --arg conf "$BUNDLE/criu.conf" '
		.process.terminal = false | .process.args = ["/bin/sleep", "1000000"] |
		.annotations = {"org.criu.config": $conf}' "$BUNDLE/config.json" >"$BUNDLE/config.json.new"
	mv "$BUNDLE/config.json.new" "$BUNDLE/config.json"
}

teardown() {
	teardown_engine
}

runc_criu() { # runc on this test's state directory, with cryo's CRIU
	env "${CRIU_ENV[@]}" runc --root "$RUNC_ROOT" --criu "$CRIU_BIN" "$@"
}

# The network lock method a dump recorded: inventory.img is one magic, a size
# and an inventory_entry whose field 11 is the method (0 iptables, 1 nftables,
# 2 skip; absent: iptables).
inventory_lock_method() {
	python3 - "$1/inventory.img" <<-'EOF'
		import struct, sys
		data = open(sys.argv[1], "rb").read()
		size = struct.unpack_from("<I", data, 4)[0]
		buf, i, method = data[8:8 + size], 0, 0
		def varint():
		    global i
		    v = shift = 0
		    while True:
		        b = buf[i]; i += 1
		        v |= (b & 0x7f) << shift; shift += 7
		        if not b & 0x80:
		            return v
		while i < len(buf):
		    key = varint()
		    if (key & 7) == 0:
		        value = varint()
		        if key >> 3 == 11:
		            method = value
		    elif (key & 7) == 2:
		        n = varint()
		        i += n
		    else:
		        sys.exit("unexpected wire type")
		print({0: "iptables", 1: "nftables", 2: "skip"}[method])
	EOF
}

# Start the container, checkpoint it live with $1 as its CRIU configuration
# file, restore the checkpoint as a second container; both must run.
checkpoint_and_restore_with() {
	printf '%s' "$1" >"$BUNDLE/criu.conf"
	(cd "$BUNDLE" && runc_criu run -d "$CT" </dev/null >/dev/null 2>&1)
	run runc_criu checkpoint --leave-running --image-path "$TEST_DIR/img" --work-path "$TEST_DIR/img" "$CT"
	if [ "$status" != 0 ]; then
		echo "runc checkpoint failed ($status): $output"
		grep -m5 Error "$TEST_DIR/img/dump.log" || true
		dmesg 2>/dev/null | grep "criu.*segfault" | tail -n 1 || true
		return 1
	fi
	[ "$(runc --root "$RUNC_ROOT" state "$CT" | jq -r .status)" = running ]
	(cd "$BUNDLE" && runc_criu restore -d --image-path "$TEST_DIR/img" --work-path "$TEST_DIR/img" "$CT-r" \
		</dev/null >/dev/null 2>&1) || { grep -m5 Error "$TEST_DIR/img/restore.log"; return 1; }
	[ "$(runc --root "$RUNC_ROOT" state "$CT-r" | jq -r .status)" = running ]
}

@test "network-lock skip in the container's CRIU config file: live checkpoint and restore work, no lock taken" {
	checkpoint_and_restore_with $'network-lock skip\n'
	[ "$(inventory_lock_method "$TEST_DIR/img")" = skip ]
}

@test "network-lock nftables in the container's CRIU config file is used" {
	run "$CRIU_BIN" check --feature network_lock_nftables
	[ "$status" = 0 ] || skip "CRIU or the kernel has no nftables lock here: $output"
	checkpoint_and_restore_with $'network-lock nftables\n'
	[ "$(inventory_lock_method "$TEST_DIR/img")" = nftables ]
}

@test "negative control: an empty CRIU config file keeps CRIU's iptables lock" {
	checkpoint_and_restore_with ''
	[ "$(inventory_lock_method "$TEST_DIR/img")" = iptables ]
}

@test "criu without a command but with --network-lock says a command is required" {
	run "$CRIU_BIN" --network-lock skip
	[ "$status" = 1 ]
	[[ "$output" == *"command is required"* ]]
}

@test "CRIU keeps its kernel-feature cache between runs, on any /run" {
	run "$CRIU_BIN" check
	[ "$status" = 0 ]
	run "$CRIU_BIN" check -v4 --log-file "$TEST_DIR/check.log"
	[ "$status" = 0 ]
	grep -q 'Loaded kdat cache from' "$TEST_DIR/check.log" || {
		grep -i kdat "$TEST_DIR/check.log"
		false
	}
}

@test "a process with TCP and UDP sockets checkpoints and restores (SO_PASSCRED on kernels >= 6.16)" {
	# Linux 6.16 refuses SO_PASSCRED/SO_PASSSEC outside AF_UNIX/AF_NETLINK;
	# CRIU 4.1.1 without patch 0003 fails every such dump ("Can't get 1:16 opt").
	jq '.process.args = ["/bin/sh", "-c", "nc -l -p 8080 & nc -u -l -p 8081 & exec sleep 1000000"]' \
		"$BUNDLE/config.json" >"$BUNDLE/config.json.new"
	mv "$BUNDLE/config.json.new" "$BUNDLE/config.json"
	checkpoint_and_restore_with ""
	grep -q "Dumping inet socket" "$TEST_DIR/img/dump.log"
}
