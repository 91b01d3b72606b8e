#!/usr/bin/env bash
# Many containers: N tiny containers (the counter workload, as bench/run's
# "tiny") checkpointed and restored all at once against one after the other.
# Prints a Markdown table on stdout, progress on stderr.
#
#	bench/many.sh [--count N] [--parallel P] [--build DIR] [--work DIR]
#
# Rows (wall time of the whole batch; frozen window per container from
# --print-stats, median and max):
#   cryo, sequential: N `cryo checkpoint --leave-running NAME` commands;
#   cryo, --all: one `cryo checkpoint --all --leave-running --parallel P`;
#   the same two for checkpoint-and-stop followed by restore (N `cryo restore
#   NAME` against one `cryo restore --all`);
#   Podman, sequential: N `podman container checkpoint [--leave-running]`
#   and N `podman container restore`, when bench/setup-podman.sh's Podman is
#   available (the row is skipped with a message otherwise).
# Run as root on an otherwise idle machine: numbers taken next to other
# load are noise.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD

count=16
parallel=""
BUILD=$REPO/build
WORK=/var/tmp/cryo-bench-many
while [ $# -gt 0 ]; do
	case $1 in
	--count) count=$2; shift 2 ;;
	--parallel) parallel=$2; shift 2 ;;
	--build) BUILD=$(realpath "$2"); shift 2 ;;
	--work) WORK=$2; shift 2 ;;
	-h | --help) sed -n '2,18p' "$0"; exit 0 ;;
	*) echo "many.sh: unknown argument \`$1\`" >&2; exit 2 ;;
	esac
done
[ "$(id -u)" = 0 ] || { echo "many.sh: must run as root" >&2; exit 1; }
CRYO_BIN=$BUILD/src/cli/cryo
[ -x "$CRYO_BIN" ] || { echo "many.sh: $CRYO_BIN is missing: build first (meson setup build && ninja -C build)" >&2; exit 1; }
[ -n "$parallel" ] || parallel=$(nproc)

log() { printf 'many.sh: %s\n' "$*" >&2; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
median() { sort -n | awk '{a[NR]=$1} END {if (NR == 0) print "-"; else print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
maxof() { sort -n | tail -n 1; }

# The system tests' helpers build the workload rootfs and tear an engine down.
# shellcheck disable=SC2034
BATS_TEST_DIRNAME=$REPO/tests/system
BATS_RUN_TMPDIR=$WORK/rootfs
# shellcheck disable=SC2034
WORKLOAD_DIR=$BUILD/tests/workloads
# shellcheck source=tests/system/helpers.bash
. tests/system/helpers.bash
# shellcheck source=tests/system/workload.bash
. tests/system/workload.bash

podman_flags=(--root "$WORK/podman/root" --runroot "$WORK/podman/run" --tmpdir "$WORK/podman/tmp" --storage-driver overlay)
have_podman=false
clean() {
	if $have_podman; then podman "${podman_flags[@]}" rm -a -f -t 0 >/dev/null 2>&1 || true; fi
	TEST_DIR=$WORK RUNROOT=$WORK/cryo/run teardown_engine
}
TEST_DIR=$WORK RUNROOT=$WORK/cryo/run teardown_engine
mkdir -p "$BATS_RUN_TMPDIR"
rootfs=$(workload_rootfs_tar)
trap clean EXIT

cryo() { "$CRYO_BIN" --root "$WORK/cryo/root" --runroot "$WORK/cryo/run" "$@"; }
COUNTER=(/usr/local/bin/counter --file /state/counter --stats /state/stats)
names=()
for i in $(seq 1 "$count"); do names+=("c$i"); done

cryo image import "$rootfs" workload >/dev/null
log "starting $count containers"
for n in "${names[@]}"; do cryo run -d --name "$n" workload "${COUNTER[@]}" >/dev/null; done

rows=()
row() { rows+=("| $1 | $2 | $3 | $4 |"); }

# checkpoint --leave-running, one by one
log "cryo: $count sequential checkpoints --leave-running"
frozen=""
t0=$(now_ms)
for n in "${names[@]}"; do
	frozen+="$(cryo checkpoint --leave-running --print-stats "$n" | jq '.frozen_window / 100 | round / 10')"$'\n'
done
t1=$(now_ms)
row "cryo, $count sequential \`checkpoint -R\`" "$((t1 - t0))" "$(median <<<"$frozen")" "$(maxof <<<"$frozen")"

log "cryo: checkpoint --all --leave-running --parallel $parallel"
t0=$(now_ms)
out=$(cryo checkpoint --all --leave-running --print-stats --parallel "$parallel")
t1=$(now_ms)
frozen=$(jq -s -r '.[].frozen_window / 100 | round / 10' <<<"$out")
row "cryo, \`checkpoint --all -R --parallel $parallel\`" "$((t1 - t0))" "$(median <<<"$frozen")" "$(maxof <<<"$frozen")"

# checkpoint (stop) and restore, one by one
log "cryo: $count sequential checkpoints, then $count sequential restores"
t0=$(now_ms)
for n in "${names[@]}"; do cryo checkpoint "$n" >/dev/null; done
t1=$(now_ms)
for n in "${names[@]}"; do cryo restore "$n" >/dev/null; done
t2=$(now_ms)
row "cryo, $count sequential \`checkpoint\`" "$((t1 - t0))" - -
row "cryo, $count sequential \`restore\`" "$((t2 - t1))" - -

log "cryo: checkpoint --all, then restore --all (--parallel $parallel)"
t0=$(now_ms)
cryo checkpoint --all --parallel "$parallel" >/dev/null
t1=$(now_ms)
cryo restore --all --parallel "$parallel" >/dev/null
t2=$(now_ms)
row "cryo, \`checkpoint --all --parallel $parallel\`" "$((t1 - t0))" - -
row "cryo, \`restore --all --parallel $parallel\`" "$((t2 - t1))" - -
running=$(cryo ps --format json | jq '[.[] | select(.State.Status == "running")] | length')
[ "$running" -eq "$count" ] || log "WARNING: only $running of $count containers run after restore --all"

skip_podman=""
# The peer gets the CRIU stepping decision cryo makes here (as in bench/run).
criu_fault=$(cryo info --format json | jq -r '.checkpoint.criu_fault_injection // "none"')
if command -v podman >/dev/null && bash bench/setup-podman.sh --criu-fault "$criu_fault" >"$WORK/setup-podman.log" 2>&1; then
	have_podman=true
	p() { podman "${podman_flags[@]}" "$@"; }
	p import "$rootfs" workload >/dev/null 2>&1 || { log "podman import failed"; exit 1; }
	log "podman: starting $count containers"
	for n in "${names[@]}"; do
		p run -d --network none --name "$n" localhost/workload:latest "${COUNTER[@]}" >/dev/null
	done
	log "podman: $count sequential checkpoints --leave-running"
	t0=$(now_ms)
	for n in "${names[@]}"; do p container checkpoint --leave-running "$n" >/dev/null; done
	t1=$(now_ms)
	row "Podman, $count sequential \`checkpoint --leave-running\`" "$((t1 - t0))" "not reported" -
	log "podman: $count sequential checkpoints, then $count sequential restores"
	t0=$(now_ms)
	for n in "${names[@]}"; do p container checkpoint "$n" >/dev/null; done
	t1=$(now_ms)
	for n in "${names[@]}"; do p container restore "$n" >/dev/null; done
	t2=$(now_ms)
	row "Podman, $count sequential \`checkpoint\`" "$((t1 - t0))" - -
	row "Podman, $count sequential \`restore\`" "$((t2 - t1))" - -
else
	skip_podman="Podman rows skipped: bench/setup-podman.sh failed: $(tail -n 1 "$WORK/setup-podman.log")"
	log "$skip_podman"
fi

echo "## $count tiny containers at once ($(nproc) CPUs; --parallel $parallel)"
echo
echo "| what | total wall (ms) | frozen window per container, median (ms) | max (ms) |"
echo "|---|---|---|---|"
printf '%s\n' "${rows[@]}"
[ -z "$skip_podman" ] || { echo; echo "$skip_podman"; }
