#!/usr/bin/env bash
# How long `run -d` of a small container takes: cryo against Podman, same
# rootfs, same machine, one after the other. Prints a Markdown table.
#
#	bench/start-latency.sh CRYO ROOTFS_TAR WORKDIR [REPS]
#
# Each repetition starts a container that sleeps, times the command with the
# monotonic clock, then removes the container (not timed).
set -euo pipefail
cryo_bin=$1 rootfs=$2 work=$3 reps=${4:-10}

now_ns() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
stats() { # values on stdin -> "median (min–max)" in ms
	local v
	v=$(cat)
	printf '%s (%s–%s)' "$(median <<<"$v")" "$(sort -n <<<"$v" | head -1)" "$(sort -n <<<"$v" | tail -1)"
}

measure() { # name start-cmd... ; runs "$remove" after each
	local t0 t1 i
	shift # the name: only for the reader of the calls
	for i in $(seq 1 "$reps"); do
		t0=$(now_ns)
		"$@" "lat$i" >/dev/null
		t1=$(now_ns)
		echo $(((t1 - t0) / 1000000))
		$remove "lat$i" >/dev/null 2>&1
	done
}

cryo() { "$cryo_bin" --root "$work/lat-cryo/root" --runroot "$work/lat-cryo/run" "$@"; }
cryo image import "$rootfs" lat >/dev/null
cryo_run() { cryo run -d --name "$1" lat sleep 1000; }
cryo_rm() { cryo rm -f "$1"; }
remove=cryo_rm
cryo_ms=$(measure cryo cryo_run)

podman_ms=""
if command -v podman >/dev/null; then
	pflags=(--root "$work/lat-podman/root" --runroot "$work/lat-podman/run" --tmpdir "$work/lat-podman/tmp" --storage-driver overlay)
	podman "${pflags[@]}" import "$rootfs" lat >/dev/null 2>&1
	podman_run() { podman "${pflags[@]}" run -d --network none --name "$1" lat sleep 1000; }
	podman_rm() { podman "${pflags[@]}" rm -f -t 0 "$1"; }
	remove=podman_rm
	podman_ms=$(measure podman podman_run)
	podman "${pflags[@]}" rmi -f lat >/dev/null 2>&1 || true
fi

echo "## Start latency: \`run -d\` of a small container ($reps repetitions; ms, median (min–max))"
echo
echo "| system | run -d |"
echo "|---|---|"
echo "| cryo | $(stats <<<"$cryo_ms") |"
if [ -n "$podman_ms" ]; then
	echo "| podman | $(stats <<<"$podman_ms") |"
	echo
	echo "Ratio cryo / Podman (medians): $(awk -v a="$(median <<<"$cryo_ms")" -v b="$(median <<<"$podman_ms")" 'BEGIN {printf "%.2f", a / b}')"
fi
