#!/usr/bin/env bats
# `cryo migrate --lazy` (post-copy): the destination runs before the memory is
# there, and CRIU's lazy-pages daemon fetches the pages from the source's page
# server over userfaultfd. The memory must arrive whole, the counter must stay
# consistent, the source must be gone; and when the page server dies before
# the destination has every page, the container is lost, and cryo says so.

load helpers
load workload
load ssh_link
bats_require_minimum_version 1.5.0

# CRIU 4.1's page server sizes a pipe to 819 pages: without CAP_SYS_RESOURCE
# fs.pipe-max-size must allow that (cryo refuses --lazy otherwise: see the
# last test). Raised for this file, put back after it.
setup_file() {
	PIPE_MAX_SAVED=$(cat /proc/sys/fs/pipe-max-size)
	export PIPE_MAX_SAVED
	if [ "$PIPE_MAX_SAVED" -lt 4194304 ]; then
		echo 4194304 >/proc/sys/fs/pipe-max-size
	fi
}

teardown_file() {
	echo "$PIPE_MAX_SAVED" >/proc/sys/fs/pipe-max-size
}

setup() {
	setup_engine
	import_workload_image
	ROOT2=$TEST_DIR/root2
	RUN2=$TEST_DIR/run2
}

teardown() {
	teardown_ssh
	if [ -n "${TEST_DIR:-}" ] && [ -d "$TEST_DIR/root2" ]; then
		for name in $(cryo2 ps -a --format json 2>/dev/null | jq -r '.[].Name' 2>/dev/null); do
			cryo2 rm -f "$name" >/dev/null 2>&1 || true
		done
		local id rt=$TEST_DIR/run2/runtime
		for id in $(runc --root "$rt" list -q 2>/dev/null); do
			runc --root "$rt" resume "$id" >/dev/null 2>&1 || true
			runc --root "$rt" delete -f "$id" >/dev/null 2>&1 || true
		done
	fi
	teardown_engine
}

cryo2() {
	"$CRYO" --root "$ROOT2" --runroot "$RUN2" "$@"
}

prepare_destination() {
	cryo2 image import "$(workload_rootfs_tar)" workload >/dev/null
	cryo key show | cryo2 trust add - >/dev/null
}

migrate_lazy() { # [options...] container: migrate --lazy to engine 2
	local args=("$@")
	cryo migrate --lazy --remote-runroot "$RUN2" "${args[@]:0:$((${#args[@]} - 1))}" "${args[-1]}" "root:$ROOT2"
}

log_has() { # engine-function container text
	"$1" logs "$2" 2>/dev/null | grep -q "$3"
}

counter_value() { # engine-function container
	"$1" exec "$2" cat /state/counter | tr -d ' \n' | sed 's/^0*//;s/^$/0/'
}

counter_above() { # engine-function container value
	local v
	v=$(counter_value "$1" "$2") && [ "$v" -gt "$3" ]
}

is_running() { # engine-function container
	[ "$("$1" inspect "$2" | jq -r '.[0].State.Status')" = running ]
}

# The counter with 256 MiB of pseudo-random memory and --checksum.
start_big() {
	cryo run -d --name src workload /usr/local/bin/counter --file /state/counter --stats /state/stats \
		--memory 256 --checksum /state/sum >/dev/null
	wait_for 60 log_has cryo src READY
}

checksum_count() { # engine-function container: the N of the last "N HEX" answer
	"$1" exec "$2" cat /state/sum 2>/dev/null | cut -d' ' -f1
}

checksum_is() { # engine-function container n
	[ "$(checksum_count "$1" "$2")" = "$3" ]
}

# Ask the container's counter for its memory checksum (the n-th request) and print it.
memory_checksum() { # engine-function container n [seconds]
	"$1" exec "$2" kill -USR2 1
	wait_for "${4:-60}" checksum_is "$1" "$2" "$3" || return 1
	"$1" exec "$2" cat /state/sum | cut -d' ' -f2
}

@test "migrate --lazy root:: 256 MiB of memory arrives whole (checksum before and after), the source is gone" {
	prepare_destination
	start_big
	before=$(memory_checksum cryo src 1)
	[ -n "$before" ]
	run --separate-stderr migrate_lazy --print-stats src
	echo "$output $stderr"
	[ "$status" -eq 0 ]
	echo "$output" >"$TEST_DIR/stats"
	jq -e '.downtime > 0 and .lazy_pages_duration > 0 and .container == "src"' "$TEST_DIR/stats"
	# the memory pages were not in the stream: far less than 256 MiB sent
	jq -e '.bytes_sent < 64 * 1048576' "$TEST_DIR/stats"
	run cryo ps -a -q
	[ -z "$output" ]
	is_running cryo2 src
	# the counter's checksum file came along in the root file system; a new
	# request reads all 256 MiB at the destination
	after=$(memory_checksum cryo2 src 2)
	[ "$after" = "$before" ]
	run cryo2 exec src cat /state/stats
	[ "$(jq -r .violations <<<"$output")" = 0 ]
}

@test "migrate --lazy root:: the counter keeps counting from its value with no violation" {
	prepare_destination
	cryo run -d --name src workload /usr/local/bin/counter --file /state/counter --stats /state/stats >/dev/null
	wait_for 10 log_has cryo src READY
	before=$(counter_value cryo src)
	run --separate-stderr migrate_lazy --name moved src
	echo "$output $stderr"
	[ "$status" -eq 0 ]
	run cryo ps -a -q
	[ -z "$output" ]
	is_running cryo2 moved
	v=$(counter_value cryo2 moved)
	[ "$v" -ge "$before" ]
	wait_for 10 counter_above cryo2 moved "$v"
	run cryo2 logs moved
	! grep -q VIOLATION <<<"$output" || false
	run cryo2 exec moved cat /state/stats
	[ "$(jq -r .violations <<<"$output")" = 0 ]
}

@test "negative control: the page server dies before the destination has every page: the memory is not whole there, and cryo says the container is lost" {
	prepare_destination
	start_big
	before=$(memory_checksum cryo src 1)
	export CRYO_TEST_LAZY_KILL_PAGE_SERVER=1
	run --separate-stderr migrate_lazy src
	unset CRYO_TEST_LAZY_KILL_PAGE_SERVER
	echo "$stderr"
	[ "$status" -eq 125 ]
	[[ "$stderr" == *"not all of its memory reached it"* ]]
	[[ "$stderr" == *"the container is lost"* ]]
	# the source does not run again
	run cryo ps -q
	[ -z "$output" ]
	# the destination does not have the memory the source had: no answer,
	# or another checksum
	run memory_checksum cryo2 src 2 20
	echo "checksum there: $output (before: $before)"
	[ "$status" -ne 0 ] || [ "$output" != "$before" ]
}

@test "migrate --lazy ssh://: the pages come over the veth link from this host's address as sshd saw it" {
	setup_ssh_link
	prepare_destination
	start_big
	before=$(memory_checksum cryo src 1)
	run --separate-stderr migrate_ssh src --lazy --print-stats
	echo "$output $stderr"
	[ "$status" -eq 0 ]
	jq -e '.lazy_pages_duration > 0 and .bytes_sent < 64 * 1048576' <<<"$output"
	run cryo ps -a -q
	[ -z "$output" ]
	after=$(memory_checksum cryo2 src 2)
	[ "$after" = "$before" ]
	# the page server listened on the link's address of this side, and the
	# destination's daemon fetched from there
	grep -q "Connecting to server ${SSH_ADDR%.2}.1:" "$RUN2"/containers/*/restore-work/lazy-pages.log
	teardown_ssh
}

@test "migrate --lazy to a destination without the image: the page server ends unserved, the source runs on, thawed" {
	cryo key show | cryo2 trust add - >/dev/null
	cryo run -d --name src workload /usr/local/bin/counter --file /state/counter --stats /state/stats >/dev/null
	wait_for 10 log_has cryo src READY
	run --separate-stderr cryo migrate --lazy --remote-runroot "$RUN2" src "root:$ROOT2"
	echo "$stderr"
	[ "$status" -eq 125 ]
	[[ "$stderr" == *"image"* ]]
	is_running cryo src
	[ "$(freezer_state cryo src)" = THAWED ]
	v=$(counter_value cryo src)
	wait_for 10 counter_above cryo src "$v"
	run cryo exec src cat /state/stats
	[ "$(jq -r .violations <<<"$output")" = 0 ]
	# no CRIU left serving pages
	run pgrep -f "checkpoint.*--lazy-pages.*$(cryo inspect src | jq -r '.[0].Id')"
	[ "$status" -ne 0 ]
	run cryo2 ps -a -q
	[ -z "$output" ]
}

@test "migrate --lazy refuses what it cannot honour, before touching the container" {
	cryo run -d --name src workload /usr/local/bin/counter --file /state/counter >/dev/null
	run cryo migrate --lazy --keep src "root:$TEST_DIR/root2"
	[ "$status" -eq 125 ]
	[[ "$output" == *"--keep cannot go with --lazy"* ]]
	run cryo migrate --page-server 127.0.0.1 src "root:$TEST_DIR/root2"
	[ "$status" -eq 125 ]
	[[ "$output" == *"--page-server is for --lazy"* ]]
	run cryo migrate --lazy --remote-runroot "$TEST_DIR/run2" --page-server 999.1.1.1 src "root:$TEST_DIR/root2"
	[ "$status" -eq 125 ]
	[[ "$output" == *"not a numeric IPv4 or IPv6 address"* ]]
	is_running cryo src
	[ "$(freezer_state cryo src)" = THAWED ]
}

@test "migrate --lazy on a host whose fs.pipe-max-size CRIU's page server cannot use: refused, the source runs on" {
	if (($(printf '%d' "0x$(awk '/^CapEff/ {print $2}' /proc/self/status)") & (1 << 24))); then
		skip "this process has CAP_SYS_RESOURCE: pipes of any size"
	fi
	prepare_destination
	cryo run -d --name src workload /usr/local/bin/counter --file /state/counter >/dev/null
	echo 1048576 >/proc/sys/fs/pipe-max-size
	run migrate_lazy src
	echo 4194304 >/proc/sys/fs/pipe-max-size
	[ "$status" -eq 125 ]
	[[ "$output" == *"fs.pipe-max-size"* ]]
	is_running cryo src
	run cryo2 ps -a -q
	[ -z "$output" ]
}
