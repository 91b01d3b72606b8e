#!/usr/bin/env bash
# Where CRIU's network lock sits in a live checkpoint, for a container on
# `--network none` and one on the bridge network `cryo` (both have a network
# namespace of their own, which CRIU locks): N checkpoints each with --keep,
# then from dump.log's timestamps the lock (from "net: Lock network" to the
# next step after its action scripts), the unlock (from "net: Unlock network"
# to "Unfreezing tasks") and CRIU's frozen_time. Medians and ranges in ms.
#
#	bench/network-lock.sh CRYO WORKDIR [N]
set -euo pipefail
cryo_bin=$1 work=$2 n=${3:-7}
root=$work/root run=$work/run
c() { "$cryo_bin" --root "$root" --runroot "$run" "$@"; }
rm -rf "$work" && mkdir -p "$work/rootfs/bin"
cp /bin/busybox "$work/rootfs/bin/" && ln -s busybox "$work/rootfs/bin/sleep"
tar -C "$work/rootfs" -cf "$work/rootfs.tar" .
c image import "$work/rootfs.tar" bb >/dev/null
trap 'c rm -f lk-none lk-bridge >/dev/null 2>&1 || true; c network rm cryo >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

phases() { # dump.log -> "lock unlock" in ms
	awk '
	function t(line) { return substr(line, 2, index(line, ")") - 2) * 1000 }
	/net: Lock network/ { lock = t($0); next }
	lock && !lockend && !/network-lock scripts|RPC|freeze-hook|^\(.*\)\t/ { lockend = t($0) }
	/net: Unlock network/ { unlock = t($0) }
	/Unfreezing tasks/ && unlock { unfreeze = t($0) }
	END { printf "%.1f %.1f\n", lockend - lock, unfreeze - unlock }' "$1"
}

median_range() { sort -n | awk '{v[NR] = $1} END {printf "%.0f (%.0f–%.0f)", v[int((NR + 1) / 2)], v[1], v[NR]}'; }

echo "| network | lock (before the dump) | unlock (before the thaw) | CRIU frozen_time | runtime checkpoint |"
echo "|---|---|---|---|---|"
for net in none cryo; do
	name=lk-$([ "$net" = none ] && echo none || echo bridge)
	c run -d --name "$name" --network "$net" bb sleep 100000 >/dev/null
	id=$(c inspect "$name" | jq -r '.[0].Id')
	: >"$work/$net.txt"
	for _ in $(seq "$n"); do
		stats=$(c checkpoint -R -k --print-stats "$name")
		read -r lock unlock < <(phases "$run/containers/$id/checkpoint-work/dump.log")
		echo "$lock $unlock $(jq -r '.frozen_time / 1000' <<<"$stats") $(jq -r '.runtime_checkpoint_duration / 1000' <<<"$stats")" >>"$work/$net.txt"
	done
	printf '| %s | %s | %s | %s | %s |\n' "$net" \
		"$(cut -d' ' -f1 "$work/$net.txt" | median_range)" "$(cut -d' ' -f2 "$work/$net.txt" | median_range)" \
		"$(cut -d' ' -f3 "$work/$net.txt" | median_range)" "$(cut -d' ' -f4 "$work/$net.txt" | median_range)"
	c rm -f "$name" >/dev/null
done
