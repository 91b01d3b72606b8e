# The ssh:// form of `cryo migrate` in tests (migrate.bats, lazy.bats): two
# network namespaces joined by a veth pair, a real sshd in the destination's,
# the source's cryo in the other. Load after helpers.bash; needs ROOT2 and RUN2.

# Sets NS_A, NS_B, SSH_DIR, SSH_ADDR, SSH_PORT, SSHD_PID; teardown_ssh undoes it.
setup_ssh_link() {
	local tag
	tag=$(printf '%04x' $((RANDOM % 65536)))
	NS_A=cryo-mig-a-$tag NS_B=cryo-mig-b-$tag
	SSH_DIR=$TEST_DIR/ssh SSH_ADDR=10.231.$((RANDOM % 250)).2 SSH_PORT=2222
	ip netns add "$NS_A"
	ip netns add "$NS_B"
	ip link add "cma$tag" type veth peer name "cmb$tag"
	ip link set "cma$tag" netns "$NS_A"
	ip link set "cmb$tag" netns "$NS_B"
	ip -n "$NS_A" addr add "${SSH_ADDR%.2}.1/30" dev "cma$tag"
	ip -n "$NS_B" addr add "$SSH_ADDR/30" dev "cmb$tag"
	ip -n "$NS_A" link set "cma$tag" up
	ip -n "$NS_B" link set "cmb$tag" up
	ip -n "$NS_A" link set lo up
	ip -n "$NS_B" link set lo up
	# throwaway keys: the server's host key and the client's, authorized
	mkdir -m 0700 "$SSH_DIR"
	ssh-keygen -q -t ed25519 -N '' -C cryo-test-host -f "$SSH_DIR/host_key"
	ssh-keygen -q -t ed25519 -N '' -C cryo-test-client -f "$SSH_DIR/client_key"
	cp "$SSH_DIR/client_key.pub" "$SSH_DIR/authorized_keys"
	echo "[$SSH_ADDR]:$SSH_PORT $(cut -d' ' -f1,2 "$SSH_DIR/host_key.pub")" >"$SSH_DIR/known_hosts"
	cat >"$SSH_DIR/sshd_config" <<-CONF
	ListenAddress $SSH_ADDR:$SSH_PORT
	HostKey $SSH_DIR/host_key
	AuthorizedKeysFile $SSH_DIR/authorized_keys
	PidFile $SSH_DIR/sshd.pid
	PermitRootLogin prohibit-password
	PasswordAuthentication no
	KbdInteractiveAuthentication no
	UsePAM no
	StrictModes no
	CONF
	# sshd's privilege separation directory (Debian's service makes it)
	mkdir -p /run/sshd
	nsenter --net="/run/netns/$NS_B" /usr/sbin/sshd -D -e -f "$SSH_DIR/sshd_config" 2>"$SSH_DIR/sshd.log" &
	SSHD_PID=$!
	wait_for 10 nsenter --net="/run/netns/$NS_A" bash -c "exec 3<>/dev/tcp/$SSH_ADDR/$SSH_PORT"
}

teardown_ssh() {
	if [ -n "${SSHD_PID:-}" ]; then kill "$SSHD_PID" 2>/dev/null || true; fi
	if [ -n "${NS_A:-}" ]; then ip netns del "$NS_A" 2>/dev/null || true; fi
	if [ -n "${NS_B:-}" ]; then ip netns del "$NS_B" 2>/dev/null || true; fi
	SSHD_PID='' NS_A='' NS_B=''
}

# cryo migrate from namespace A to sshd in namespace B: CONTAINER [options...]
migrate_ssh() {
	local ctr=$1
	shift
	nsenter --net="/run/netns/$NS_A" "$CRYO" --root "$ROOT" --runroot "$RUNROOT" migrate \
		--ssh-option "IdentityFile=$SSH_DIR/client_key" \
		--ssh-option "UserKnownHostsFile=$SSH_DIR/known_hosts" \
		--ssh-option StrictHostKeyChecking=yes \
		--remote-cryo "$CRYO" --remote-root "$ROOT2" --remote-runroot "$RUN2" \
		"$@" "$ctr" "ssh://root@$SSH_ADDR:$SSH_PORT"
}
