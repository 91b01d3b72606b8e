#!/usr/bin/env bats
# Bridge networks (CNI plugins run by cryo), published ports, name
# resolution, and checkpoint/restore of networked containers.

load helpers
bats_require_minimum_version 1.5.0

setup() {
	setup_engine
	import_busybox
	# Host ports no other test (or engine) is likely to hold.
	PORT1=$((20000 + RANDOM % 10000))
	PORT2=$((PORT1 + 10000))
}

teardown() {
	teardown_engine
}

# A web server whose CGI counts the requests it served in its own file
# system: each copy of it has its own count.
web_cmd=(sh -c 'mkdir -p /www/cgi-bin && echo hello >/www/index.html &&
printf "#!/bin/sh\nn=\$(cat /tmp/n 2>/dev/null || echo 0); n=\$((n + 1)); echo \$n >/tmp/n\nprintf \"Content-Type: text/plain\\\\r\\\\n\\\\r\\\\n%%s\\\\n\" \$n\n" >/www/cgi-bin/count &&
chmod +x /www/cgi-bin/count && exec httpd -f -p 80 -h /www')

start_web() { # name [run options...]
	local name=$1
	shift
	cryo run -d --name "$name" "$@" busybox "${web_cmd[@]}" >/dev/null
	local ip
	ip=$(ctr_ip "$name")
	wait_for 10 curl -sf -o /dev/null "http://$ip/index.html"
}

ctr_ip() { cryo inspect "$1" | jq -r '.[0].NetworkSettings.ip'; }
ctr_mac() { cryo inspect "$1" | jq -r '.[0].NetworkSettings.mac'; }
ctr_id() { cryo inspect "$1" | jq -r '.[0].Id'; }
bridge_of() { cryo network inspect "$1" | jq -r '.[0].Bridge'; }

count() { # port
	curl -sf -m 5 "http://127.0.0.1:$1/cgi-bin/count"
}

# Everything the host holds for a container: iptables rules naming its ID or
# address, veths on its bridge, its IPAM lease, its network namespace file.
host_traces() { # id ip bridge network
	local id=$1 ip=$2 bridge=$3 network=$4
	iptables-save | grep -e "$id" -e "${id:0:12}" -e "$ip/32" -e "$ip:" || true
	ip -o link show master "$bridge" 2>/dev/null || true
	grep -rl "$id" "$ROOT/networks/ipam/$network" 2>/dev/null || true
	ls "$RUNROOT/netns/$id" 2>/dev/null || true
}

@test "network create, ls, inspect and rm" {
	run cryo network create --subnet 10.123.45.0/24 front
	[ "$status" -eq 0 ]
	[ "$output" = front ]
	run cryo network inspect front
	[ "$status" -eq 0 ]
	[ "$(jq -r '.[0].Subnet' <<<"$output")" = 10.123.45.0/24 ]
	[ "$(jq -r '.[0].Gateway' <<<"$output")" = 10.123.45.1 ]
	run cryo network ls
	[[ "$output" == *front*10.123.45.0/24* ]]
	run cryo network create --subnet 10.123.45.128/25 back
	[ "$status" -eq 125 ]
	[[ "$output" == *"overlaps network \`front\`"* ]]
	run cryo network create --subnet 10.123.46.1/24 back
	[ "$status" -eq 125 ]
	[[ "$output" == *"invalid subnet"* ]]
	run cryo network create host
	[ "$status" -eq 125 ]
	run cryo network create front
	[ "$status" -eq 125 ]
	[[ "$output" == *"already exists"* ]]
	run cryo network rm front
	[ "$status" -eq 0 ]
	run cryo network inspect front
	[ "$status" -eq 125 ]
	[[ "$output" == *"no such network \`front\`"* ]]
}

@test "the default network cryo is made on first use; a network in use cannot be removed" {
	run cryo network ls --format json
	[ "$(jq length <<<"$output")" = 0 ]
	cryo create --name a --network cryo busybox sleep 100 >/dev/null
	run cryo network inspect cryo
	[ "$status" -eq 0 ]
	run cryo network rm cryo
	[ "$status" -eq 125 ]
	[[ "$output" == *"container \`a\` uses it"* ]]
	run cryo create --name b --network nosuch busybox true
	[ "$status" -eq 125 ]
	[[ "$output" == *"no such network \`nosuch\`"* ]]
	cryo rm a >/dev/null
	cryo network rm cryo
}

@test "busybox httpd on a bridge network with -p serves the host on loopback and the bridge address" {
	start_web web --network cryo -p "$PORT1:80"
	run curl -sf -m 5 "http://127.0.0.1:$PORT1/index.html"
	[ "$status" -eq 0 ]
	[ "$output" = hello ]
	gw=$(cryo network inspect cryo | jq -r '.[0].Gateway')
	run curl -sf -m 5 "http://$gw:$PORT1/index.html"
	[ "$status" -eq 0 ]
	[ "$output" = hello ]
	# negative control: a port nobody published
	run curl -sf -m 2 "http://127.0.0.1:$PORT2/index.html"
	[ "$status" -ne 0 ]
}

@test "two containers on one network reach each other by name" {
	start_web alpha --network cryo
	cryo run -d --name beta --network cryo busybox sleep 1000 >/dev/null
	run cryo exec beta wget -q -O - http://alpha/index.html
	[ "$status" -eq 0 ]
	[ "$output" = hello ]
	# alpha learned beta's name when beta joined
	run cryo exec alpha grep -w beta /etc/hosts
	[ "$status" -eq 0 ]
	[[ "$output" == "$(ctr_ip beta)"* ]]
	# a container on no network has no such name
	cryo run -d --name loner busybox sleep 1000 >/dev/null
	run cryo exec loner wget -q -T 2 -O - http://alpha/index.html
	[ "$status" -ne 0 ]
}

@test "stop and rm leave no iptables rules, veths, leases or namespaces behind" {
	start_web web --network cryo -p "$PORT1:80"
	id=$(ctr_id web)
	ip=$(ctr_ip web)
	bridge=$(bridge_of cryo)
	# negative control: while it runs, each of them is there
	run host_traces "$id" "$ip" "$bridge" cryo
	[[ "$output" == *"$id"* ]]
	[[ "$output" == *"master $bridge"* ]]
	[ -f "$ROOT/networks/ipam/cryo/$ip" ]
	[ -e "$RUNROOT/netns/$id" ]
	cryo stop -t 1 web >/dev/null
	run host_traces "$id" "$ip" "$bridge" cryo
	[ -z "$output" ]
	[ ! -e "$ROOT/networks/ipam/cryo/$ip" ]
	# it comes back on start, and goes with rm
	cryo start web >/dev/null
	wait_for 10 curl -sf -o /dev/null "http://127.0.0.1:$PORT1/index.html"
	ip=$(ctr_ip web)
	cryo rm -f web >/dev/null
	run host_traces "$id" "$ip" "$bridge" cryo
	[ -z "$output" ]
	[ ! -e "$ROOT/networks/ipam/cryo/$ip" ]
	cryo network rm cryo >/dev/null
	[ ! -e "/sys/class/net/$bridge" ]
}

@test "a published port another container holds is refused, naming it" {
	start_web web --network cryo -p "$PORT1:80"
	run cryo run -d --name web2 --network cryo -p "$PORT1:80" busybox sleep 100
	[ "$status" -eq 125 ]
	[[ "$output" == *"host port $PORT1/tcp is already published by container \`web\`"* ]]
	run cryo run -d --name web3 -p "$PORT1:80" busybox sleep 100
	[ "$status" -eq 125 ]
	[[ "$output" == *"need a bridge network"* ]]
	run cryo run -d --name web4 --network cryo -p 70000:80 busybox sleep 100
	[ "$status" -eq 125 ]
	[[ "$output" == *"invalid port"* ]]
}

@test "--ip gives a static address; one outside the subnet is refused at create" {
	cryo network create --subnet 10.125.0.0/24 fixed >/dev/null
	cryo run -d --name a --network fixed --ip 10.125.0.77 busybox sleep 1000 >/dev/null
	[ "$(ctr_ip a)" = 10.125.0.77 ]
	run cryo create --name b --network fixed --ip 10.126.0.5 busybox true
	[ "$status" -eq 125 ]
	[[ "$output" == *"10.126.0.5"*"not a free host address of network \`fixed\`"* ]]
	run cryo create --name c --network fixed --ip 10.125.0.1 busybox true
	[ "$status" -eq 125 ]
	run cryo inspect b
	[ "$status" -ne 0 ]
	# an address another container has is refused when the second one starts
	cryo create --name d --network fixed --ip 10.125.0.77 busybox sleep 1000 >/dev/null
	run cryo start d
	[ "$status" -eq 125 ]
	[[ "$output" == *"IP address \`10.125.0.77\` is in use"* ]]
}

@test "live checkpoint, restore under a new name with --ignore-static-ip -p: both serve, each its own count" {
	start_web web --network cryo -p "$PORT1:80"
	[ "$(count "$PORT1")" = 1 ]
	[ "$(count "$PORT1")" = 2 ]
	cryo checkpoint -R -e "$TEST_DIR/web.tar.zst" web >/dev/null
	[ "$(count "$PORT1")" = 3 ]
	run cryo restore -i "$TEST_DIR/web.tar.zst" --name copy --ignore-static-ip -p "$PORT2:80"
	[ "$status" -eq 0 ]
	wait_for 10 curl -sf -o /dev/null "http://127.0.0.1:$PORT2/index.html"
	# the copy goes on from the checkpoint (2), the source from its own 3
	[ "$(count "$PORT2")" = 3 ]
	[ "$(count "$PORT1")" = 4 ]
	[ "$(count "$PORT2")" = 4 ]
	[ "$(count "$PORT1")" = 5 ]
	[ "$(ctr_ip copy)" != "$(ctr_ip web)" ]
	# each knows the other by name
	run cryo exec web grep -w copy /etc/hosts
	[[ "$output" == "$(ctr_ip copy)"* ]]
	run cryo exec copy grep -w web /etc/hosts
	[[ "$output" == "$(ctr_ip web)"* ]]
}

@test "a restore whose published port is taken fails naming the port and leaves nothing" {
	start_web web --network cryo -p "$PORT1:80"
	cryo checkpoint -R -e "$TEST_DIR/web.tar.zst" web >/dev/null
	leases=$(ls "$ROOT/networks/ipam/cryo" | sort)
	rules=$(iptables-save | grep -c -e CNI -e cni || true)
	run cryo restore -i "$TEST_DIR/web.tar.zst" --name copy --ignore-static-ip
	[ "$status" -eq 125 ]
	[[ "$output" == *"host port $PORT1/tcp is already published by container \`web\`"* ]]
	run cryo inspect copy
	[ "$status" -ne 0 ]
	[ "$(ls "$ROOT/networks/ipam/cryo" | sort)" = "$leases" ]
	[ "$(iptables-save | grep -c -e CNI -e cni || true)" = "$rules" ]
	[ "$(ls "$RUNROOT/netns" | wc -l)" = 1 ]
	# the source serves on
	run curl -sf -m 5 "http://127.0.0.1:$PORT1/index.html"
	[ "$output" = hello ]
}

@test "an in-place restore gets the checkpointed IP and MAC back; --network moves it" {
	start_web web --network cryo -p "$PORT1:80"
	ip=$(ctr_ip web)
	mac=$(ctr_mac web)
	count "$PORT1" >/dev/null
	cryo checkpoint web >/dev/null
	# a newcomer takes the next free address, not the checkpointed one
	cryo run -d --name other --network cryo busybox sleep 1000 >/dev/null
	[ "$(ctr_ip other)" != "$ip" ]
	cryo restore web >/dev/null
	[ "$(ctr_ip web)" = "$ip" ]
	[ "$(ctr_mac web)" = "$mac" ]
	[ "$(count "$PORT1")" = 2 ]
	# to another network, with other ports
	cryo network create --subnet 10.124.0.0/24 second >/dev/null
	cryo checkpoint web >/dev/null
	cryo restore --network second -p "$PORT2:80" web >/dev/null
	[[ "$(ctr_ip web)" == 10.124.0.* ]]
	wait_for 10 curl -sf -o /dev/null "http://127.0.0.1:$PORT2/index.html"
	[ "$(count "$PORT2")" = 3 ]
	run curl -sf -m 2 "http://127.0.0.1:$PORT1/index.html"
	[ "$status" -ne 0 ]
}

# An echo server: one connection, each line back.
start_echo() { # name
	cryo run -d --name "$1" --network cryo busybox sh -c 'nc -l -p 9000 -e cat; sleep 1000' >/dev/null
	wait_for 10 echo_listening "$1"
}

echo_listening() { cryo exec "$1" netstat -ltn | grep -q ':9000 '; }

@test "an established TCP connection survives checkpoint and in-place restore with --tcp-established" {
	start_echo echo
	ip=$(ctr_ip echo)
	exec 7<>"/dev/tcp/$ip/9000"
	echo one >&7
	read -r -t 5 line <&7
	[ "$line" = one ]
	# without --tcp-established CRIU refuses, and the container runs on
	run cryo checkpoint -R echo
	[ "$status" -eq 125 ]
	[[ "$output" == *"established"* ]]
	[ "$(cryo inspect echo | jq -r '.[0].State.Status')" = running ]
	echo two >&7
	read -r -t 5 line <&7
	[ "$line" = two ]
	cryo checkpoint --tcp-established echo >/dev/null
	cryo restore --tcp-established echo >/dev/null
	[ "$(ctr_ip echo)" = "$ip" ]
	echo three >&7
	read -r -t 15 line <&7
	[ "$line" = three ]
	exec 7>&-
}

@test "--tcp-close restores the container with its connections closed" {
	start_echo echo
	ip=$(ctr_ip echo)
	exec 7<>"/dev/tcp/$ip/9000"
	echo one >&7
	read -r -t 5 line <&7
	[ "$line" = one ]
	cryo checkpoint --tcp-established echo >/dev/null
	cryo restore --tcp-close echo >/dev/null
	[ "$(cryo inspect echo | jq -r '.[0].State.Status')" = running ]
	echo two >&7 2>/dev/null || true
	run -1 read -r -t 5 line <&7
	exec 7>&-
}

@test "an archive with an invalid address, MAC or port is refused" {
	load archive
	start_web web --network cryo -p "$PORT1:80"
	cryo checkpoint -R -e "$TEST_DIR/web.tar" -c none web >/dev/null
	make_signing_key "$TEST_DIR/key.pem" "$TEST_DIR/key.pub" attacker
	cryo trust add "$TEST_DIR/key.pub" >/dev/null
	dir=$TEST_DIR/unpacked
	for filter in '.config.ports[0].host_port = 99999' '.config.ports[0].protocol = "sctp"' \
		'.network_status.ip = "10.89.0.300"' '.network_status.mac = "ff:ff:ff:ff:ff:ff"' \
		'.config.ip = "1.2.3"' '.config.network = "../etc"'; do
		rm -rf "$dir"
		unpack_archive "$TEST_DIR/web.tar" "$dir"
		edit_config "$dir" "$filter"
		repack_archive "$dir" "$TEST_DIR/bad.tar" "$TEST_DIR/key.pem"
		run cryo restore -i "$TEST_DIR/bad.tar" --name bad --ignore-static-ip -p "$PORT2:80"
		echo "$filter: $output"
		[ "$status" -eq 125 ]
		run cryo inspect bad
		[ "$status" -ne 0 ]
	done
	# negative control: the same steps without an edit restore
	rm -rf "$dir"
	unpack_archive "$TEST_DIR/web.tar" "$dir"
	repack_archive "$dir" "$TEST_DIR/good.tar" "$TEST_DIR/key.pem"
	run cryo restore -i "$TEST_DIR/good.tar" --name good --ignore-static-ip -p "$PORT2:80"
	[ "$status" -eq 0 ]
}

@test "--tcp-skip-in-flight reaches CRIU through its configuration file" {
	cryo run -d --name web --network cryo busybox sleep 1000 >/dev/null
	id=$(ctr_id web)
	log=$RUNROOT/containers/$id/checkpoint-work/dump.log
	cryo checkpoint -R -k --tcp-skip-in-flight web >/dev/null
	grep -q "Will skip in-flight TCP connections" "$log"
	# negative control: without the option CRIU does not skip them
	cryo checkpoint -R -k web >/dev/null
	! grep -q "Will skip in-flight TCP connections" "$log" || false
	# and the configuration file the container keeps names no option
	[ ! -s "$ROOT/containers/$id/criu.conf" ]
}
