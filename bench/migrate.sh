#!/usr/bin/env bash
# Migration downtime over a veth link: `cryo migrate ssh://...` (eager: the
# source stays frozen while the archive streams) against the manual three-step
# way (`cryo checkpoint --export FILE` of the stopped source, copy the file
# over ssh, `cryo restore --import FILE` there), for the counter workload:
#   tiny  the counter alone
#   big   the counter with 256 MiB of pseudo-random memory and a 256 MiB file
#
#	bench/migrate.sh [--reps N] [--workloads "tiny big"] [--compress ALG] [--lazy] WORKDIR
#
# Two network namespaces joined by a veth pair; a real sshd (throwaway keys)
# in the destination's; the source's cryo runs in the other. Both engines are
# on this host (WORKDIR/src, WORKDIR/dst). Per run it prints one line:
#   WORKLOAD METHOD downtime_ms stall_ms bytes dump capture transfer restore
# downtime: cryo's --print-stats for migrate; for the manual way the time from
# the checkpoint's start to the restore's end (the container does not run in
# between). stall: the workload's own longest pause (the counter's
# max_stall_us, reset just before), which confirms the downtime from inside.
# --lazy adds `cryo migrate --lazy` (post-copy) rows: the memory pages follow
# after the downtime (the extra last column, pages: from "running" until the
# destination had every page); it needs fs.pipe-max-size >= 3354624 (CRIU's
# page server, docs/design.md), which the script sets for its run and puts back.
# Then the medians (min-max).
set -euo pipefail

reps=3 workloads="tiny big" compress=none lazy=0
while [ $# -gt 1 ]; do
	case $1 in
	--lazy)
		lazy=1
		shift
		continue
		;;
	--reps) reps=$2 ;;
	--workloads) workloads=$2 ;;
	--compress) compress=$2 ;;
	*) break ;;
	esac
	shift 2
done
[ $# = 1 ] || { sed -n '2,/^set /p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }
here=$(cd "$(dirname "$0")/.." && pwd)
CRYO=${CRYO:-$here/build/src/cli/cryo}
counter=$here/build/tests/workloads/counter
if ! [ -x "$CRYO" ] || ! [ -x "$counter" ]; then echo "build first (ninja -C build)" >&2; exit 1; fi
mkdir -p "$1"
work=$(readlink -f "$1")
tag=$(printf '%04x' $((RANDOM % 65536)))
NS_A=cryo-bm-a-$tag NS_B=cryo-bm-b-$tag ADDR=10.232.$((RANDOM % 250)).2 PORT=2222
SSH_DIR=$work/ssh SSHD_PID=

src() { "$CRYO" --root "$work/src" --runroot "$work/src-run" "$@"; }
dst() { "$CRYO" --root "$work/dst" --runroot "$work/dst-run" "$@"; }
in_a() { nsenter --net="/run/netns/$NS_A" "$@"; }
ssh_b() {
	in_a ssh -o BatchMode=yes -o "IdentityFile=$SSH_DIR/client_key" -o "UserKnownHostsFile=$SSH_DIR/known_hosts" \
		-o StrictHostKeyChecking=yes -p "$PORT" "root@$ADDR" "$@"
}

cleanup() {
	for n in $(src ps -a -q 2>/dev/null) ; do src rm -f "$n" >/dev/null 2>&1 || true; done
	for n in $(dst ps -a -q 2>/dev/null) ; do dst rm -f "$n" >/dev/null 2>&1 || true; done
	[ -z "$SSHD_PID" ] || kill "$SSHD_PID" 2>/dev/null || true
	ip netns del "$NS_A" 2>/dev/null || true
	ip netns del "$NS_B" 2>/dev/null || true
	rm -rf "$work/ssh" "$work/c.tar" "$work/rootfs"
	[ -z "${pipe_max_saved:-}" ] || echo "$pipe_max_saved" >/proc/sys/fs/pipe-max-size
}
trap cleanup EXIT
pipe_max_saved=
if [ "$lazy" = 1 ] && [ "$(cat /proc/sys/fs/pipe-max-size)" -lt 4194304 ]; then
	pipe_max_saved=$(cat /proc/sys/fs/pipe-max-size)
	echo 4194304 >/proc/sys/fs/pipe-max-size
fi

# --- the link and the sshd ---
ip netns add "$NS_A"
ip netns add "$NS_B"
ip link add "bma$tag" type veth peer name "bmb$tag"
ip link set "bma$tag" netns "$NS_A"
ip link set "bmb$tag" netns "$NS_B"
ip -n "$NS_A" addr add "${ADDR%.2}.1/30" dev "bma$tag"
ip -n "$NS_B" addr add "$ADDR/30" dev "bmb$tag"
for ns in "$NS_A" "$NS_B"; do ip -n "$ns" link set lo up; done
ip -n "$NS_A" link set "bma$tag" up
ip -n "$NS_B" link set "bmb$tag" up
mkdir -m 0700 "$SSH_DIR"
ssh-keygen -q -t ed25519 -N '' -f "$SSH_DIR/host_key"
ssh-keygen -q -t ed25519 -N '' -f "$SSH_DIR/client_key"
cp "$SSH_DIR/client_key.pub" "$SSH_DIR/authorized_keys"
echo "[$ADDR]:$PORT $(cut -d' ' -f1,2 "$SSH_DIR/host_key.pub")" >"$SSH_DIR/known_hosts"
printf '%s\n' "ListenAddress $ADDR:$PORT" "HostKey $SSH_DIR/host_key" "AuthorizedKeysFile $SSH_DIR/authorized_keys" \
	"PermitRootLogin prohibit-password" "PasswordAuthentication no" "UsePAM no" "StrictModes no" >"$SSH_DIR/sshd_config"
mkdir -p /run/sshd
nsenter --net="/run/netns/$NS_B" /usr/sbin/sshd -D -e -f "$SSH_DIR/sshd_config" 2>"$SSH_DIR/sshd.log" &
SSHD_PID=$!
for _ in $(seq 100); do in_a bash -c "exec 3<>/dev/tcp/$ADDR/$PORT" 2>/dev/null && break; sleep 0.1; done

# --- the engines and the image ---
mkdir -p "$work/rootfs/bin" "$work/rootfs/usr/local/bin" "$work/rootfs/state" "$work/rootfs/proc" \
	"$work/rootfs/sys" "$work/rootfs/dev" "$work/rootfs/tmp"
cp /bin/busybox "$work/rootfs/bin/busybox"
for a in sh cat; do ln -sf busybox "$work/rootfs/bin/$a"; done
mkdir -p "$work/rootfs/etc"
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$work/rootfs/etc/passwd"
printf 'root:x:0:\n' >"$work/rootfs/etc/group"
install -m 0755 "$counter" "$work/rootfs/usr/local/bin/counter"
tar -C "$work/rootfs" -cf "$work/rootfs.tar" .
src image import "$work/rootfs.tar" bench >/dev/null 2>&1 || true
dst image import "$work/rootfs.tar" bench >/dev/null 2>&1 || true
src key show | dst trust add - >/dev/null 2>&1 || true

start() { # workload
	local args=(/usr/local/bin/counter --file /state/counter --stats /state/stats)
	[ "$1" = big ] && args+=(--memory 256 --fill-file /state/big --fill-mib 256)
	src run -d --name w bench "${args[@]}" >/dev/null
	for _ in $(seq 600); do src logs w 2>/dev/null | grep -q READY && break; sleep 0.1; done
	sleep 0.5
	src kill -s USR1 w >/dev/null
	sleep 0.3
}

stall_ms() { # engine-function container
	sleep 1.5
	"$1" exec "$2" cat /state/stats | sed 's/.*"max_stall_us":\([0-9]*\).*/\1/' | awk '{printf "%d", $1 / 1000}'
}

ms() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%d", (b - a) / 1e6}'; }

results=$work/results.txt
: >"$results"
for wl in $workloads; do
	for _ in $(seq "$reps"); do
		# eager migrate
		start "$wl"
		out=$(in_a "$CRYO" --root "$work/src" --runroot "$work/src-run" migrate --print-stats --compress "$compress" \
			--ssh-option "IdentityFile=$SSH_DIR/client_key" --ssh-option "UserKnownHostsFile=$SSH_DIR/known_hosts" \
			--remote-cryo "$CRYO" --remote-root "$work/dst" --remote-runroot "$work/dst-run" w "ssh://root@$ADDR:$PORT")
		stall=$(stall_ms dst w)
		jq -r --arg wl "$wl" --arg stall "$stall" '"\($wl) migrate \(.downtime / 1000 | floor) \($stall) \(.bytes_sent) \(.dump_duration / 1000 | floor) \(.capture_duration / 1000 | floor) \(.transfer_duration / 1000 | floor) \(.restore_duration / 1000 | floor)"' <<<"$out" | tee -a "$results"
		dst rm -f w >/dev/null
		if [ "$lazy" = 1 ]; then
			start "$wl"
			out=$(in_a "$CRYO" --root "$work/src" --runroot "$work/src-run" migrate --lazy --print-stats \
				--compress "$compress" --ssh-option "IdentityFile=$SSH_DIR/client_key" \
				--ssh-option "UserKnownHostsFile=$SSH_DIR/known_hosts" --remote-cryo "$CRYO" \
				--remote-root "$work/dst" --remote-runroot "$work/dst-run" w "ssh://root@$ADDR:$PORT")
			stall=$(stall_ms dst w)
			jq -r --arg wl "$wl" --arg stall "$stall" '"\($wl) lazy \(.downtime / 1000 | floor) \($stall) \(.bytes_sent) \(.dump_duration / 1000 | floor) \(.capture_duration / 1000 | floor) \(.transfer_duration / 1000 | floor) \(.restore_duration / 1000 | floor) \(.lazy_pages_duration / 1000 | floor)"' <<<"$out" | tee -a "$results"
			dst rm -f w >/dev/null
		fi
		# the manual three-step way: stop with a checkpoint, copy, restore there
		start "$wl"
		t0=$(date +%s%N)
		src checkpoint --export "$work/c.tar" --compress "$compress" w >/dev/null
		t1=$(date +%s%N)
		ssh_b "cat > '$work/c-remote.tar'" <"$work/c.tar"
		t2=$(date +%s%N)
		ssh_b "$CRYO --root '$work/dst' --runroot '$work/dst-run' restore --import '$work/c-remote.tar' --name w" >/dev/null
		t3=$(date +%s%N)
		stall=$(stall_ms dst w)
		echo "$wl manual $(ms "$t0" "$t3") $stall $(stat -c %s "$work/c.tar") $(ms "$t0" "$t1") 0 $(ms "$t1" "$t2") $(ms "$t2" "$t3")" | tee -a "$results"
		dst rm -f w >/dev/null
		src rm -f w >/dev/null
		rm -f "$work/c.tar" "$work/c-remote.tar"
	done
done

echo
echo "medians (min-max), ms; bytes in MiB"
echo "| workload | method | downtime | workload stall | MiB sent | dump | capture | transfer | restore | pages after |"
echo "|---|---|---|---|---|---|---|---|---|---|"
methods="migrate manual"
[ "$lazy" = 0 ] || methods="migrate lazy manual"
for wl in $workloads; do
	for m in $methods; do
		line="| $wl | $m"
		for col in 3 4 5 6 7 8 9 10; do
			if [ "$col" = 10 ] && [ "$m" != lazy ]; then
				line+=" | –"
				continue
			fi
			vals=$(awk -v w="$wl" -v m="$m" -v c="$col" '$1 == w && $2 == m {print $c}' "$results" | sort -n)
			[ "$col" = 5 ] && vals=$(awk '{printf "%.1f\n", $1 / 1048576}' <<<"$vals")
			n=$(grep -c . <<<"$vals")
			med=$(sed -n "$(((n + 1) / 2))p" <<<"$vals")
			line+=" | $med ($(head -1 <<<"$vals")–$(tail -1 <<<"$vals"))"
		done
		echo "$line |"
	done
done
