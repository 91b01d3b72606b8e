#!/usr/bin/env bats
# cryo system df: disk usage of images, containers, volumes and checkpoints.

load helpers
bats_require_minimum_version 1.5.0

setup() {
	setup_engine
}

teardown() {
	teardown_engine
}

MiB=1048576

# The value of field $2 of kind $1 from `system df --format json` in $df.
df_field() { # Type Field
	jq -r --arg t "$1" --arg f "$2" '.[] | select(.Type == $t) | .[$f]' <<<"$df"
}

between() { # value low high
	[ "$1" -ge "$2" ] && [ "$1" -le "$3" ] || {
		echo "$1 is not between $2 and $3" >&2
		return 1
	}
}

@test "system df on an empty engine: four kinds, nothing in use" {
	run cryo system df
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "TYPE            TOTAL       ACTIVE      SIZE        RECLAIMABLE" ]
	[ "${lines[1]}" = "Images          0           0           0B          0B (0%)" ]
	[ "${lines[4]}" = "Checkpoints     0           0           0B          0B (0%)" ]
	df=$(cryo system df --format json)
	[ "$(jq -r '[.[].Type] | join(",")' <<<"$df")" = "Images,Containers,Local Volumes,Checkpoints" ]
	[ "$(jq '[.[] | .Total + .Size] | add' <<<"$df")" -eq 0 ]
	run cryo system df --format yaml
	[ "$status" -eq 125 ]
	[[ "$output" == *"unsupported format \`yaml\`"* ]]
}

@test "system df counts containers' own files; a stopped container's are reclaimable" {
	import_busybox
	cryo run -d --name up busybox sh -c 'dd if=/dev/zero of=/two bs=1M count=2 && sleep 1000' >/dev/null
	cryo run --name down busybox dd if=/dev/zero of=/one bs=1M count=1 2>/dev/null
	wait_for 10 cryo exec up test -s /two
	df=$(cryo system df --format json)
	[ "$(df_field Containers Total)" -eq 2 ]
	[ "$(df_field Containers Active)" -eq 1 ]
	between "$(df_field Containers Size)" $((3 * MiB)) $((4 * MiB))
	between "$(df_field Containers Reclaimable)" $((1 * MiB)) $((2 * MiB))
	# the image is counted once, under Images, not in every container
	[ "$(df_field Images Total)" -eq 1 ]
	[ "$(df_field Images Active)" -eq 1 ]
	[ "$(df_field Images Reclaimable)" -eq 0 ]
	size=$(df_field Images Size)
	between "$size" $((1 * MiB)) $((10 * MiB))
	cryo rm -f up down >/dev/null
	df=$(cryo system df --format json)
	[ "$(df_field Images Active)" -eq 0 ]
	[ "$(df_field Images Reclaimable)" -eq "$size" ]
	[ "$(df_field Containers Total)" -eq 0 ]
	[ "$(df_field Containers Size)" -eq 0 ]
}

@test "system df: a volume no container mounts is reclaimable; hard links count once" {
	import_busybox
	cryo run --rm -v loose:/d busybox dd if=/dev/zero of=/d/f bs=1M count=1 2>/dev/null
	cryo run -d --name user -v held:/d busybox sh -c \
		'dd if=/dev/zero of=/d/f bs=1M count=2 && ln /d/f /d/g && ln /d/f /d/h && sleep 1000' >/dev/null
	wait_for 10 cryo exec user test -e /d/h
	df=$(cryo system df --format json)
	[ "$(df_field 'Local Volumes' Total)" -eq 2 ]
	[ "$(df_field 'Local Volumes' Active)" -eq 1 ]
	between "$(df_field 'Local Volumes' Size)" $((3 * MiB)) $((4 * MiB))
	between "$(df_field 'Local Volumes' Reclaimable)" $((1 * MiB)) $((2 * MiB))
	run cryo system df
	[[ "${lines[3]}" =~ ^Local\ Volumes\ +2\ +1\ +3\.[0-9]+MB\ +1\.[0-9]+MB\ \([0-9]+%\)$ ]]
}

@test "system df: a checkpoint to restore from is active; a kept copy of a running container's is reclaimable" {
	import_busybox
	cryo run -d --name stopped busybox sh -c 'dd if=/dev/zero of=/f bs=1M count=2 && sleep 1000' >/dev/null
	cryo run -d --name live busybox sleep 1000 >/dev/null
	wait_for 10 cryo exec stopped test -s /f
	cryo checkpoint stopped >/dev/null
	cryo checkpoint --leave-running --keep live >/dev/null
	df=$(cryo system df --format json)
	[ "$(df_field Checkpoints Total)" -eq 2 ]
	[ "$(df_field Checkpoints Active)" -eq 1 ]
	# the stopped container's checkpoint holds its 2 MiB file
	size=$(df_field Checkpoints Size)
	reclaimable=$(df_field Checkpoints Reclaimable)
	[ "$((size - reclaimable))" -ge $((2 * MiB)) ]
	[ "$reclaimable" -gt 0 ]
	[ "$reclaimable" -lt $((2 * MiB)) ]
	cryo restore stopped >/dev/null
	df=$(cryo system df --format json)
	[ "$(df_field Checkpoints Active)" -eq 0 ]
}
