#!/usr/bin/env bash
# What a new page of memory costs on this machine: the capture and CRIU's
# page writes in the frozen window allocate page cache, and on a virtual
# machine that backs guest memory lazily and takes free memory back
# (virtio-balloon free page reporting), a page the guest has not used
# recently goes through the host on first touch.
#
#	bench/page-cache.sh [WORKDIR] [MIB] [REPS]
#
# Each repetition writes three files of MIB MiB (dd, no sync) one after the
# other into WORKDIR: "cold" when nothing was freed before them, then removes
# them and at once writes three more ("warm": the pages just freed are taken
# again), then removes those, waits 5 seconds and writes one more ("after
# idle": whether freed memory turns slow again by itself). Prints a Markdown table (ms, median (min-max))
# and whether the kernel reports free pages.
set -euo pipefail
work=${1:-/var/tmp/cryo-page-cache}
mib=${2:-256}
reps=${3:-3}
idle=5

now_ns() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
stats() {
	local v
	v=$(cat)
	printf '%s (%s–%s)' "$(median <<<"$v")" "$(sort -n <<<"$v" | head -1)" "$(sort -n <<<"$v" | tail -1)"
}
write_ms() { # file
	local t0 t1
	t0=$(now_ns)
	dd if=/dev/zero of="$1" bs=1M count="$mib" status=none
	t1=$(now_ns)
	echo $(((t1 - t0) / 1000000))
}

mkdir -p "$work"
trap 'rm -rf "$work"' EXIT
cold=() warm=() after=()
for _ in $(seq 1 "$reps"); do
	rm -f "$work"/*
	sync
	sleep "$idle"
	for f in a b c; do cold+=("$(write_ms "$work/$f")"); done
	rm -f "$work"/a "$work"/b "$work"/c
	for f in d e g; do warm+=("$(write_ms "$work/$f")"); done
	rm -f "$work"/d "$work"/e "$work"/g
	sleep "$idle"
	after+=("$(write_ms "$work/h")")
done

order=/sys/module/page_reporting/parameters/page_reporting_order
if [ -r "$order" ] && [ -e /sys/bus/virtio/drivers/virtio_balloon ]; then
	reporting="on (virtio_balloon, page_reporting_order=$(cat "$order"): free blocks of $((4 << $(cat "$order") >> 10)) MiB go back to the host)"
else
	reporting="not found"
fi
echo "Writing $mib MiB into the page cache with dd (no sync), $reps repetitions; free page reporting: $reporting."
echo
echo "| pages | ms per $mib MiB |"
echo "|---|---|"
echo "| cold (nothing freed just before) | $(printf '%s\n' "${cold[@]}" | stats) |"
echo "| warm (the pages of files removed just before) | $(printf '%s\n' "${warm[@]}" | stats) |"
echo "| after ${idle} s idle (freed, then reported) | $(printf '%s\n' "${after[@]}" | stats) |"
