# Debian's Podman 4.3.1 as a peer engine in a test: its own storage, run
# directory and configuration below $TEST_DIR, so nothing global is read or
# written (scripts/setup.sh installs the packages; the configuration is the
# one bench/setup-podman.sh writes for the benchmark, but per test).
#
# Load after helpers.bash; call setup_podman in the test (or setup), then
# `podman ...`. teardown_engine removes everything below $TEST_DIR, and
# teardown_podman stops what Podman still runs.

setup_podman() {
	PODMAN_DIR=$TEST_DIR/podman
	mkdir -p "$PODMAN_DIR"
	# Podman runs `runc checkpoint` with only PATH and XDG_RUNTIME_DIR: the
	# wrapper gives runc the CRIU in /usr/local/sbin and CRIU_FAULT=130 (it
	# steps by system call; that works whether hardware breakpoints fire on
	# this machine or not).
	cat >"$PODMAN_DIR/runc" <<-'EOF'
		#!/bin/sh
		export CRIU_FAULT=130
		export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
		exec /usr/sbin/runc "$@"
	EOF
	chmod 0755 "$PODMAN_DIR/runc"
	# Over the hard limit of these machines runc fails ("error setting rlimit").
	cat >"$PODMAN_DIR/containers.conf" <<-EOF
		[containers]
		default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
		[engine]
		runtime = "runc"
		cgroup_manager = "cgroupfs"
		events_logger = "file"
		conmon_env_vars = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "CRIU_FAULT=130"]
		[engine.runtimes]
		runc = ["$PODMAN_DIR/runc"]
	EOF
	export CONTAINERS_CONF=$PODMAN_DIR/containers.conf PODMAN_DIR
}

podman() {
	command podman --root "$PODMAN_DIR/root" --runroot "$PODMAN_DIR/run" --tmpdir "$PODMAN_DIR/tmp" \
		--storage-driver overlay "$@"
}

teardown_podman() {
	[ -n "${PODMAN_DIR:-}" ] && [ -d "$PODMAN_DIR" ] || return 0
	podman rm -a -f -t 0 >/dev/null 2>&1 || true
}

# The workload image (workload.bash) in Podman's store, as localhost/workload.
podman_import_workload() {
	local tar
	tar=$(workload_rootfs_tar) || return 1
	podman import "$tar" workload >/dev/null
}
