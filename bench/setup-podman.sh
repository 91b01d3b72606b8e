#!/usr/bin/env bash
# Install and configure Podman 4.3.1 (Debian bookworm) as the benchmark's peer engine.
# Idempotent: a second run only checks, and takes about a second.
#
#	bench/setup-podman.sh --criu-fault 130|none
#
# --criu-fault: the CRIU stepping decision Podman's CRIU gets, which must be the one
# cryo makes on this machine (`cryo info`: checkpoint.criu_fault_injection; bench/run
# passes it): 130 (CRIU_FAULT=130, stepping by syscall) where hardware breakpoints do
# not fire, none (CRIU's own breakpoint stepping, faster) where they do.
#
# What it changes on the host (nothing else):
#   - installs the Debian packages podman, conmon, runc, iptables;
#   - writes /etc/containers/containers.conf (a file carrying our marker; an earlier
#     file without it is kept as containers.conf.cryo-bench.orig);
#   - installs a runc wrapper at /usr/local/lib/cryo-bench/runc.
# Storage is not global: bench/run passes --root/--runroot/--tmpdir under its work dir.
#
# Why each setting (see /work/shared/ENVIRONMENT.md, "OCI runtimes and friends"):
#   runtime runc         crun from Debian has no CRIU support.
#   cgroupfs             no systemd cgroup manager needed.
#   events_logger=file   no journald.
#   conmon_env_vars      conmon starts `runc restore`; CRIU gets CRIU_FAULT=130 where
#                        cryo decides so (hardware breakpoints do not fire) and CRIU
#                        4.1.1 lives in /usr/local/sbin.
#   default_ulimits      runc fails with "error setting rlimit" above the hard limit.
#   runc wrapper         podman runs `runc checkpoint` with only PATH and XDG_RUNTIME_DIR
#                        in its environment, so the wrapper sets CRIU_FAULT (or removes
#                        it) and PATH.
set -euo pipefail

CONF=/etc/containers/containers.conf
WRAPPER_DIR=/usr/local/lib/cryo-bench
WRAPPER=$WRAPPER_DIR/runc
MARKER='# Written by cryo bench/setup-podman.sh'
PACKAGES=(podman conmon runc iptables)

log() { printf 'setup-podman: %s\n' "$*" >&2; }
die() {
	printf 'setup-podman: error: %s\n' "$*" >&2
	exit 1
}

[ "$(id -u)" = 0 ] || die "must run as root (it installs packages and writes $CONF)"
criu_fault=
while [ $# -gt 0 ]; do
	case $1 in
	--criu-fault)
		[ $# -ge 2 ] || die "--criu-fault needs 130 or none"
		criu_fault=$2
		shift 2
		;;
	*) die "unknown argument \`$1\` (usage: $0 --criu-fault 130|none)" ;;
	esac
done
case $criu_fault in
130)
	fault_line='export CRIU_FAULT=130'
	fault_env=', "CRIU_FAULT=130"'
	;;
none)
	fault_line='unset CRIU_FAULT'
	fault_env=
	;;
*) die "--criu-fault 130|none is required: the decision \`cryo info\` makes on this machine (checkpoint.criu_fault_injection)" ;;
esac

missing=()
for p in "${PACKAGES[@]}"; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
	log "installing: ${missing[*]}"
	apt-get update -qq || die "apt-get update failed"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
		die "apt-get install ${missing[*]} failed"
fi
command -v podman >/dev/null || die "podman is not on PATH after installing it"
[ -x /usr/local/sbin/criu ] || die "CRIU 4 is not installed at /usr/local/sbin/criu: run scripts/setup.sh first"

wrapper_text="#!/bin/sh
# runc for Podman's checkpoints on this machine: CRIU 4 from /usr/local/sbin, and
# the CRIU stepping cryo decides here (\`cryo info\`: CRIU_FAULT $criu_fault).
# Installed by cryo's bench/setup-podman.sh.
$fault_line
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
exec /usr/sbin/runc \"\$@\""
if [ ! -x "$WRAPPER" ] || [ "$(cat "$WRAPPER")" != "$wrapper_text" ]; then
	mkdir -p "$WRAPPER_DIR"
	printf '%s\n' "$wrapper_text" >"$WRAPPER.tmp"
	chmod 0755 "$WRAPPER.tmp"
	mv "$WRAPPER.tmp" "$WRAPPER"
	log "installed $WRAPPER"
fi

conf_text=$(
	cat <<EOF
$MARKER: Podman as the checkpoint/restore
# benchmark's peer on this machine. Remove this file to undo.
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
conmon_env_vars = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"$fault_env]

[engine.runtimes]
runc = ["$WRAPPER"]
EOF
)
if [ ! -f "$CONF" ] || [ "$(cat "$CONF")" != "$conf_text" ]; then
	mkdir -p "$(dirname "$CONF")"
	if [ -f "$CONF" ] && ! grep -qF "$MARKER" "$CONF"; then
		cp -p "$CONF" "$CONF.cryo-bench.orig"
		log "kept the previous $CONF as $CONF.cryo-bench.orig"
	fi
	printf '%s\n' "$conf_text" >"$CONF.tmp"
	mv "$CONF.tmp" "$CONF"
	log "wrote $CONF"
fi

log "podman $(podman --version | awk '{print $3}') ready (runtime $WRAPPER, CRIU $(/usr/local/sbin/criu --version | sed -n 's/^Version: *//p'), CRIU_FAULT $criu_fault)"
