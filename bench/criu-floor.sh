#!/usr/bin/env bash
# CRIU's own floor for a tiny container: what one `runc checkpoint
# --leave-running` and one `runc restore -d` of a busybox `sleep` cost, and how
# much of it is CRIU's network lock, its kernel-feature probing (no kdat cache)
# and each mount. No cryo involved: runc drives CRIU as cryo does, with the
# same mount set as a cryo container (proc, /dev and /dev/shm tmpfs, sysfs,
# cryo's masked and read-only paths) and its own network namespace (only `lo`).
#
#	bench/criu-floor.sh [--criu PATH] [--reps N] [--extra-mounts "0 4 8"] WORKDIR
#
# Configurations, each measured REPS times (median (min–max), ms):
#   lock   iptables: CRIU's default network lock (the container's config file
#          is empty, as cryo writes it today) / skip: `network-lock skip` in
#          the RPC config file (needs patches/criu/0001) / nftables (warm
#          cache only): `network-lock nftables`, CRIU's in-process lock
#   kdat   cold: the kdat cache file is removed before every CRIU run /
#          warm: kept (needs patches/criu/0002 where /run is not a tmpfs)
# then, at lock skip + warm cache, N extra read-only bind mounts and N extra
# tmpfs mounts for each N of --extra-mounts: per-mount cost = slope.
#
# CRIU_FAULT: taken from the environment when set; otherwise from
# `cryo info` ($CRYO, or build/src/cli/cryo of this checkout), which probes
# whether hardware breakpoints fire here. Each checkpoint is restored into a
# second container that must be running afterwards, or the benchmark stops.
set -euo pipefail

criu=/usr/local/sbin/criu
reps=7
extra_mounts="0 4 8"
while [ $# -gt 1 ]; do
	case $1 in
	--criu) criu=$2 ;;
	--reps) reps=$2 ;;
	--extra-mounts) extra_mounts=$2 ;;
	*) break ;;
	esac
	shift 2
done
[ $# = 1 ] || { sed -n '2,/^set /p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }
work=$(readlink -f "$1")
here=$(dirname "$(readlink -f "$0")")

die() { printf 'criu-floor: %s\n' "$*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root"
for t in runc jq python3 busybox; do command -v "$t" >/dev/null || die "needs $t"; done
[ -x "$criu" ] || die "no CRIU at $criu"
criu_version=$("$criu" --version | tr '\n' ' ')

# Where this CRIU build keeps its kernel-feature cache (RUNDIR at build time).
kdat=$(grep -a -o -m1 '/[[:alnum:]/._-]*/criu\.kdat' "$criu" | head -n1)
[ -n "$kdat" ] || die "cannot find the kdat cache path in $criu"

if [ -z "${CRIU_FAULT+set}" ]; then
	cryo=${CRYO:-$here/../build/src/cli/cryo}
	[ -x "$cryo" ] || die "set CRIU_FAULT (130 where hardware breakpoints do not fire, empty otherwise) or CRYO=path/to/cryo"
	CRIU_FAULT=$("$cryo" info --format json | jq -r '.host.criu_fault_injection // empty')
	fault_source="cryo info"
else
	fault_source=environment
fi
if [ -n "$CRIU_FAULT" ]; then export CRIU_FAULT; else unset CRIU_FAULT; fi

mkdir -p "$work"
rootfs=$work/rootfs
if [ ! -x "$rootfs/bin/busybox" ]; then
	mkdir -p "$rootfs/bin" "$rootfs/proc" "$rootfs/sys" "$rootfs/dev" "$rootfs/tmp" "$rootfs/mnt"
	cp "$(command -v busybox)" "$rootfs/bin/busybox"
	ln -sf busybox "$rootfs/bin/sh"
	ln -sf busybox "$rootfs/bin/sleep"
fi
[ "$(file -b "$rootfs/bin/busybox" | grep -c static)" = 1 ] || die "busybox must be static (busybox-static)"

# make_bundle DIR KIND N: a bundle whose spec has cryo's mount set plus N
# extra mounts of KIND (bind: read-only bind of a host directory; tmpfs).
make_bundle() {
	local dir=$1 kind=$2 n=$3 i extra='[]'
	mkdir -p "$dir"
	for ((i = 0; i < n; i++)); do
		if [ "$kind" = bind ]; then
			mkdir -p "$work/bind-src/$i"
			echo "$i" >"$work/bind-src/$i/file"
			extra=$(jq -c --arg s "$work/bind-src/$i" --arg d "/mnt/b$i" \
				'. + [{destination: $d, type: "bind", source: $s, options: ["rbind", "ro", "rprivate"]}]' <<<"$extra")
		else
			extra=$(jq -c --arg d "/mnt/t$i" \
				'. + [{destination: $d, type: "tmpfs", source: "tmpfs", options: ["nosuid", "nodev", "size=1m"]}]' <<<"$extra")
		fi
	done
	(cd "$dir" && rm -f config.json && runc spec)
	jq --arg root "$rootfs" --arg conf "$dir/criu.conf" --argjson extra "$extra" '
		.root = {path: $root, readonly: false} |
		.process.terminal = false |
		.process.args = ["/bin/sleep", "1000000"] |
		.hostname = "floor" |
		.mounts = [
			{destination: "/proc", type: "proc", source: "proc", options: ["nosuid", "noexec", "nodev"]},
			{destination: "/dev", type: "tmpfs", source: "tmpfs", options: ["nosuid", "strictatime", "mode=755", "size=65536k"]},
			{destination: "/dev/shm", type: "tmpfs", source: "shm", options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
			{destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", "ro"]}
		] + $extra |
		.linux.namespaces = [{type: "pid"}, {type: "ipc"}, {type: "uts"}, {type: "mount"}, {type: "network"}] |
		.linux.maskedPaths = ["/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware"] |
		.linux.readonlyPaths = ["/proc/sys", "/proc/sysrq-trigger"] |
		.annotations = {"org.criu.config": $conf}
	' "$dir/config.json" >"$dir/config.json.new"
	mv "$dir/config.json.new" "$dir/config.json"
}

# image_facts IMAGES_DIR: from CRIU's images, as shell assignments:
# stats-dump and stats-restore (two magics, size, protobuf stats_entry; times
# in microseconds) and the network lock method the dump used (inventory.img:
# one magic, size, inventory_entry field 11; 0 iptables, 1 nftables, 2 skip).
image_facts() {
	python3 - "$1" <<'PY'
import os, struct, sys
def message(path, magics):
    data = open(path, "rb").read()
    size = struct.unpack_from("<I", data, 4 * magics)[0]
    return data[4 * magics + 4:4 * magics + 4 + size]
def fields(buf):
    i, out = 0, {}
    while i < len(buf):
        key, i = varint(buf, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            out[num], i = varint(buf, i)
        elif wt == 2:
            n, i = varint(buf, i)
            out[num] = buf[i:i + n]
            i += n
        else:
            raise SystemExit("unexpected wire type %d" % wt)
    return out
def varint(buf, i):
    v = shift = 0
    while True:
        b = buf[i]; i += 1
        v |= (b & 0x7f) << shift; shift += 7
        if not b & 0x80:
            return v, i
d = fields(fields(message(os.path.join(sys.argv[1], "stats-dump"), 2))[1])
r = fields(fields(message(os.path.join(sys.argv[1], "stats-restore"), 2))[2])
inv = fields(message(os.path.join(sys.argv[1], "inventory.img"), 1))
lock = {0: "iptables", 1: "nftables", 2: "skip"}.get(inv.get(11, 0), "unknown")
print("freezing_time=%d frozen_time=%d restore_time=%d lock_used=%s" % (d[1], d[2], r[4], lock))
PY
}

now_ns() { date +%s%N; }
R() { runc --criu "$criu" "$@"; }
results=$work/results.tsv
: >"$results"

# one_run LABEL BUNDLE LOCK KDAT I: start, checkpoint (live), restore into a
# second container, check it runs, remove both. Appends one line to results.
one_run() {
	local label=$1 bundle=$2 lock=$3 cache=$4 i=$5
	local id="floor-$$-$i" rid="floor-$$-$i-r" img="$work/img" t0 t1 t2 t3 dump_hit rest_hit
	local freezing_time frozen_time restore_time lock_used
	# iptables is CRIU's default: an empty file, as cryo writes it today.
	if [ "$lock" = iptables ]; then : >"$bundle/criu.conf"; else echo "network-lock $lock" >"$bundle/criu.conf"; fi
	rm -rf "$img" && mkdir -p "$img"
	(cd "$bundle" && runc run -d "$id" </dev/null >/dev/null 2>&1) || die "$label: runc run failed"
	[ "$cache" = cold ] && rm -f "$kdat"
	t0=$(now_ns)
	R checkpoint --leave-running --image-path "$img" --work-path "$img" "$id" ||
		die "$label: checkpoint failed, see $img/dump.log: $(grep -m3 Error "$img/dump.log" || true)"
	t1=$(now_ns)
	[ "$cache" = cold ] && rm -f "$kdat"
	t2=$(now_ns)
	(cd "$bundle" && R restore -d --image-path "$img" --work-path "$img" "$rid" </dev/null >/dev/null 2>&1) ||
		die "$label: restore failed, see $img/restore.log: $(grep -m3 Error "$img/restore.log" || true)"
	t3=$(now_ns)
	[ "$(runc state "$rid" | jq -r .status)" = running ] || die "$label: restored container is not running"
	eval "$(image_facts "$img")"
	[ "$lock_used" = "$lock" ] || die "$label: CRIU's inventory says network lock '$lock_used', wanted '$lock'"
	dump_hit=$(grep -c 'Loaded kdat cache' "$img/dump.log" || true)
	rest_hit=$(grep -c 'Loaded kdat cache' "$img/restore.log" || true)
	printf '%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n' "$label" $(((t1 - t0) / 1000)) "$frozen_time" "$freezing_time" \
		$(((t3 - t2) / 1000)) "$restore_time" "$dump_hit" "$rest_hit" >>"$results"
	runc kill "$id" KILL 2>/dev/null || true
	runc kill "$rid" KILL 2>/dev/null || true
	runc delete -f "$id" >/dev/null 2>&1 || true
	runc delete -f "$rid" >/dev/null 2>&1 || true
}

# Every configuration: "LABEL|BUNDLE|LOCK|KDAT".
configs=()
make_bundle "$work/bundle-0" bind 0
for lock in iptables skip; do
	for cache in cold warm; do
		configs+=("lock=$lock kdat=$cache|$work/bundle-0|$lock|$cache")
	done
done
configs+=("lock=nftables kdat=warm|$work/bundle-0|nftables|warm")
for kind in bind tmpfs; do
	for n in $extra_mounts; do
		[ "$n" = 0 ] && continue
		make_bundle "$work/bundle-$kind-$n" "$kind" "$n"
		configs+=("lock=skip kdat=warm +$n $kind|$work/bundle-$kind-$n|skip|warm")
	done
done

# Round robin, one run of each configuration per round: the load of this
# shared machine drifts, and must not favour whichever configuration ran
# at a quiet moment.
for ((i = 1; i <= reps; i++)); do
	for c in "${configs[@]}"; do
		IFS='|' read -r label bundle lock cache <<<"$c"
		if [ "$cache" = warm ] && [ ! -e "$kdat" ]; then
			"$criu" check >/dev/null 2>&1 || true # fill the cache
		fi
		one_run "$label" "$bundle" "$lock" "$cache" "$i"
	done
	printf 'criu-floor: round %d of %d done\n' "$i" "$reps" >&2
done

# Report: medians (min–max) in ms, and the per-mount slopes.
python3 - "$results" "$reps" "$extra_mounts" "$criu" "$criu_version" "${CRIU_FAULT:--}" "$fault_source" "$kdat" <<'PY'
import statistics, sys
path, reps, extra, criu, version, fault, fault_src, kdat = sys.argv[1:]
rows = {}  # in measuring order
for line in open(path):
    label, *vals = line.rstrip("\n").split("\t")
    rows.setdefault(label, []).append([int(v) for v in vals])
def col(label, i):
    return [r[i] / 1000 for r in rows[label]]
def cell(label, i):
    v = col(label, i)
    return "%.0f (%.0f–%.0f)" % (statistics.median(v), min(v), max(v))
def med(label, i):
    return statistics.median(col(label, i))
print("## CRIU's floor: one live checkpoint and one restore of a tiny busybox container")
print()
print("CRIU `%s` (`%s`), kdat cache `%s`, CRIU_FAULT=%s (from %s), %s repetitions; ms, median (min–max)."
      % (criu, version.strip(), kdat, fault, fault_src, reps))
print()
print("| configuration | runc checkpoint | CRIU frozen | CRIU freezing | runc restore -d | CRIU restore | kdat cache hits (dump / restore) |")
print("|---|---|---|---|---|---|---|")
for label in rows:
    n = len(rows[label])
    hits = "%d/%d / %d/%d" % (sum(r[5] for r in rows[label]), n, sum(r[6] for r in rows[label]), n)
    print("| %s | %s | %s | %s | %s | %s | %s |" % (label, cell(label, 0), cell(label, 1), cell(label, 2),
                                               cell(label, 3), cell(label, 4), hits))
print()
base = "lock=skip kdat=warm"
def diff(a, b, i):
    return med(a, i) - med(b, i)
if "lock=iptables kdat=warm" in rows and base in rows:
    print("- network lock (iptables vs skip, warm cache): checkpoint %+.0f ms, frozen %+.0f ms, restore %+.0f ms"
          % (diff("lock=iptables kdat=warm", base, 0), diff("lock=iptables kdat=warm", base, 1),
             diff("lock=iptables kdat=warm", base, 3)))
if "lock=nftables kdat=warm" in rows and base in rows:
    print("- network lock (nftables vs skip, warm cache): checkpoint %+.0f ms, frozen %+.0f ms, restore %+.0f ms"
          % (diff("lock=nftables kdat=warm", base, 0), diff("lock=nftables kdat=warm", base, 1),
             diff("lock=nftables kdat=warm", base, 3)))
if "lock=iptables kdat=cold" in rows and "lock=iptables kdat=warm" in rows:
    print("- kdat cache (cold vs warm, lock iptables): checkpoint %+.0f ms, frozen %+.0f ms, restore %+.0f ms"
          % (diff("lock=iptables kdat=cold", "lock=iptables kdat=warm", 0),
             diff("lock=iptables kdat=cold", "lock=iptables kdat=warm", 1),
             diff("lock=iptables kdat=cold", "lock=iptables kdat=warm", 3)))
if "lock=skip kdat=cold" in rows and base in rows:
    print("- kdat cache (cold vs warm, lock skip): checkpoint %+.0f ms, frozen %+.0f ms, restore %+.0f ms"
          % (diff("lock=skip kdat=cold", base, 0), diff("lock=skip kdat=cold", base, 1),
             diff("lock=skip kdat=cold", base, 3)))
for kind in ("bind", "tmpfs"):
    ns = [int(n) for n in extra.split() if int(n) > 0 and "%s +%s %s" % (base, n, kind) in rows]
    if not ns or base not in rows:
        continue
    big = max(ns)
    label = "%s +%d %s" % (base, big, kind)
    print("- per extra %s mount (slope 0 → %d): checkpoint %+.1f ms, frozen %+.1f ms, restore %+.1f ms"
          % (kind, big, diff(label, base, 0) / big, diff(label, base, 1) / big, diff(label, base, 3) / big))
PY
