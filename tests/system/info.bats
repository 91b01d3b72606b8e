#!/usr/bin/env bats
# cryo info and cryo system check: the host facts that decide how cryo
# checkpoints, and the proof that checkpoint/restore works here.

load helpers
bats_require_minimum_version 1.5.0

setup() {
	setup_engine
	unset CRYO_FORCE_HW_BREAKPOINTS
}

teardown() {
	teardown_engine
}

# Whether ptrace hardware breakpoints fire here, measured by a probe of the
# test's own (not cryo's code): prints true, false or unknown.
hw_breakpoints_ground_truth() {
	local src=$BATS_TEST_TMPDIR/hwbp.c exe=$BATS_TEST_TMPDIR/hwbp
	cat >"$src" <<-'EOF'
		#include <signal.h>
		#include <stddef.h>
		#include <stdio.h>
		#include <sys/ptrace.h>
		#include <sys/user.h>
		#include <sys/wait.h>
		#include <unistd.h>
		__attribute__((noinline)) static void target(void) { __asm__ volatile("" ::: "memory"); }
		int main(void)
		{
			int st;
			pid_t pid = fork();
			if (pid == 0) {
				ptrace(PTRACE_TRACEME, 0, 0, 0);
				raise(SIGSTOP);
				target();
				_exit(0);
			}
			waitpid(pid, &st, 0);
			if (ptrace(PTRACE_POKEUSER, pid, offsetof(struct user, u_debugreg[0]), (void *)target) ||
			    ptrace(PTRACE_POKEUSER, pid, offsetof(struct user, u_debugreg[7]), (void *)1L) ||
			    ptrace(PTRACE_CONT, pid, 0, 0)) {
				puts("unknown");
				return 0;
			}
			alarm(5);
			waitpid(pid, &st, 0);
			if (WIFSTOPPED(st) && WSTOPSIG(st) == SIGTRAP) {
				puts("true");
				kill(pid, SIGKILL);
			} else if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
				puts("false");
			} else {
				puts("unknown");
			}
			return 0;
		}
	EOF
	cc -O0 -o "$exe" "$src" && "$exe"
}

# A configuration file that sets criu.stepping to $1; prints its path. Tests of
# one stepping mode name it explicitly: tests/run also runs this file on a test
# host whose default configuration forces "syscall".
stepping_config() { # auto|breakpoints|syscall
	local file=$TEST_DIR/stepping-$1.conf
	printf '[criu]\nstepping = "%s"\n' "$1" >"$file"
	echo "$file"
}

# The CRIU_FAULT entries of `cryo info --format json` (on stdin) in criu.env.
fault_entries() {
	jq -r '.criu.env[] | select(startswith("CRIU_FAULT="))'
}

# PIDs of processes whose working directory is $1 (builtins only: a fork per
# process would be slow).
procs_in_dir() {
	local p
	for p in /proc/[0-9]*; do
		if [ "$p/cwd" -ef "$1" ]; then
			echo "${p#/proc/}"
		fi
	done
	return 0
}

@test "info --format json reports a working CRIU and runtime" {
	run cryo info --format json
	[ "$status" -eq 0 ]
	local json=$output
	[ "$(jq -r .version <<<"$json")" = "$("$CRYO" --version | awk '{print $3}')" ]
	[ "$(jq -r .host.kernel <<<"$json")" = "$(uname -r)" ]
	# CRIU: found, >= 4.0, `criu check` passed
	[ "$(jq -r .criu.path <<<"$json")" = /usr/local/sbin/criu ]
	local version
	version=$(jq -r .criu.version <<<"$json")
	[ "$version" = "$(/usr/local/sbin/criu --version | sed -n 's/^Version: //p')" ]
	[ "${version%%.*}" -ge 4 ]
	[ "$(jq -r .criu.version_ok <<<"$json")" = true ]
	[ "$(jq -r .criu.check_passed <<<"$json")" = true ]
	[ "$(jq -r .criu.check_output <<<"$json")" = null ]
	# runtime
	[ "$(jq -r .runtime.name <<<"$json")" = runc ]
	[ "$(jq -r .runtime.path <<<"$json")" = "$(command -v runc)" ]
	[ "$(jq -r .runtime.version <<<"$json")" = "$(runc --version | head -n1)" ]
	[ "$(jq -r .runtime.checkpoint <<<"$json")" = true ]
	[ "$(jq -r .runtime.checkpoint_problem <<<"$json")" = null ]
	# store
	[ "$(jq -r .store.root <<<"$json")" = "$ROOT" ]
	[ "$(jq -r .store.runroot <<<"$json")" = "$RUNROOT" ]
}

@test "runtime checkpoint support: no checkpoint command, crun without and with +CRIU" {
	run "$CRYO" --root "$ROOT" --runroot "$RUNROOT" --runtime /bin/true info --format json
	[ "$status" -eq 0 ]
	[ "$(jq -r .runtime.checkpoint <<<"$output")" = false ]
	[[ "$(jq -r .runtime.checkpoint_problem <<<"$output")" == *"no checkpoint command"* ]]

	local bin=$BATS_TEST_TMPDIR/bin
	mkdir -p "$bin"
	printf '#!/bin/sh\nprintf "crun version 1.8.1\\ncommit: x\\n+SYSTEMD +SELINUX +SECCOMP\\n"\n' >"$bin/crun"
	chmod +x "$bin/crun"
	run "$CRYO" --root "$ROOT" --runroot "$RUNROOT" --runtime "$bin/crun" info --format json
	[ "$status" -eq 0 ]
	[ "$(jq -r .runtime.name <<<"$output")" = crun ]
	[ "$(jq -r .runtime.version <<<"$output")" = "crun version 1.8.1" ]
	[ "$(jq -r .runtime.checkpoint <<<"$output")" = false ]
	[[ "$(jq -r .runtime.checkpoint_problem <<<"$output")" == *"without CRIU support"* ]]

	# A rebuilt binary (other size and mtime) is probed afresh, not read from the cache.
	printf '#!/bin/sh\nprintf "crun version 1.8.1\\ncommit: x\\n+SYSTEMD +SELINUX +CRIU +SECCOMP\\n"\n' >"$bin/crun"
	run "$CRYO" --root "$ROOT" --runroot "$RUNROOT" --runtime "$bin/crun" info --format json
	[ "$status" -eq 0 ]
	[ "$(jq -r .runtime.cached <<<"$output")" = false ]
	[ "$(jq -r .runtime.checkpoint <<<"$output")" = true ]
}

@test "info reports the cgroup mode and the freezer the runtime uses" {
	run cryo info --format json
	[ "$status" -eq 0 ]
	local mode freezer expected_mode expected_freezer=none
	mode=$(jq -r .host.cgroup_mode <<<"$output")
	freezer=$(jq -r .host.freezer <<<"$output")
	if [ "$(stat -f -c %T /sys/fs/cgroup)" = cgroup2fs ]; then
		expected_mode=v2
		expected_freezer=cgroup.freeze
	else
		if [ "$(stat -f -c %T /sys/fs/cgroup/unified 2>/dev/null)" = cgroup2fs ]; then
			expected_mode=hybrid
		else
			expected_mode=v1
		fi
		if [ "$(stat -f -c %T /sys/fs/cgroup/freezer 2>/dev/null)" = cgroupfs ]; then
			expected_freezer=freezer.state
		fi
	fi
	[ "$mode" = "$expected_mode" ]
	[ "$freezer" = "$expected_freezer" ]
	# and says that a checkpoint freezes with it, and why
	[ "$(jq -r .checkpoint.freezer <<<"$output")" = "$expected_freezer" ]
	local reason
	reason=$(jq -r .checkpoint.freezer_reason <<<"$output")
	case $expected_mode/$expected_freezer in
	v2/cgroup.freeze) [[ "$reason" == *"cgroup v2 hierarchy"*"cgroup.freeze"* ]] ;;
	hybrid/freezer.state) [[ "$reason" == "hybrid cgroups"*"freezer.state"* ]] ;;
	v1/freezer.state) [[ "$reason" == "cgroup v1"*"freezer.state"* ]] ;;
	*) [[ "$reason" == "no freezer"* ]] ;;
	esac
}

@test "hardware_breakpoints matches an independent probe, and with stepping auto CRIU_FAULT=130 follows it" {
	local truth
	truth=$(hw_breakpoints_ground_truth) || skip "cannot build the reference probe (no C compiler?)"
	[ "$truth" != unknown ] || skip "the reference probe could not tell on this machine"
	run cryo --config "$(stepping_config auto)" info --format json
	[ "$status" -eq 0 ]
	[ "$(jq -r .host.hardware_breakpoints <<<"$output")" = "$truth" ]
	[ "$(jq -r .host.hardware_breakpoints_source <<<"$output")" = probe ]
	[ "$(jq -r .checkpoint.criu_stepping_setting <<<"$output")" = auto ]
	if [ "$truth" = false ]; then
		[ "$(jq -r .host.hardware_breakpoints_probe <<<"$output")" = no-fire ]
		[ "$(jq -r .checkpoint.criu_stepping <<<"$output")" = syscall ]
		[[ "$(jq -r .checkpoint.criu_stepping_reason <<<"$output")" == *"do not fire on this machine (probed now)"* ]]
		[ "$(jq -r .checkpoint.criu_fault_injection <<<"$output")" = 130 ]
		[ "$(fault_entries <<<"$output")" = CRIU_FAULT=130 ]
	else
		[ "$(jq -r .host.hardware_breakpoints_probe <<<"$output")" = fire ]
		[ "$(jq -r .checkpoint.criu_stepping <<<"$output")" = breakpoints ]
		[[ "$(jq -r .checkpoint.criu_stepping_reason <<<"$output")" == *"breakpoints fire on this machine (probed now)"* ]]
		[ "$(jq -r .checkpoint.criu_fault_injection <<<"$output")" = null ]
		[ -z "$(fault_entries <<<"$output")" ]
	fi
}

@test "criu.stepping in the configuration forces how CRIU steps, and info says why" {
	local conf
	conf=$(stepping_config syscall)
	run cryo --config "$conf" info --format json
	[ "$status" -eq 0 ]
	[ "$(jq -r .checkpoint.criu_stepping <<<"$output")" = syscall ]
	[ "$(jq -r .checkpoint.criu_stepping_setting <<<"$output")" = syscall ]
	[ "$(jq -r .checkpoint.criu_stepping_reason <<<"$output")" = \
		"criu.stepping = \"syscall\" in \`$conf\`: every CRIU run gets CRIU_FAULT=130" ]
	[ "$(jq -r .checkpoint.criu_fault_injection <<<"$output")" = 130 ]
	[ "$(fault_entries <<<"$output")" = CRIU_FAULT=130 ]
	[ "$(jq -r .store.config <<<"$output")" = "$conf" ]

	conf=$(stepping_config breakpoints)
	run cryo --config "$conf" info --format json
	[ "$status" -eq 0 ]
	[ "$(jq -r .checkpoint.criu_stepping <<<"$output")" = breakpoints ]
	[[ "$(jq -r .checkpoint.criu_stepping_reason <<<"$output")" == "criu.stepping = \"breakpoints\" in \`$conf\`"* ]]
	[ "$(jq -r .checkpoint.criu_fault_injection <<<"$output")" = null ]
	[ -z "$(fault_entries <<<"$output")" ]
	# forcing breakpoints where they do not fire earns a warning
	if [ "$(jq -r .host.hardware_breakpoints_probe <<<"$output")" = no-fire ]; then
		[[ "$(jq -r .checkpoint.warning <<<"$output")" == *"every CRIU dump will hang"* ]]
	else
		[ "$(jq -r .checkpoint.warning <<<"$output")" = null ]
	fi

	# the text format says it too
	run cryo --config "$conf" info
	grep -qE '^  criu_stepping: breakpoints$' <<<"$output"
	grep -qE '^  criu_stepping_reason: criu.stepping = "breakpoints" in' <<<"$output"

	printf '[criu]\nstepping = "never"\n' >"$TEST_DIR/bad.conf"
	run --separate-stderr cryo --config "$TEST_DIR/bad.conf" info
	[ "$status" -eq 125 ]
	[[ "$stderr" == *"\`$TEST_DIR/bad.conf\`, line 2: \`criu.stepping\` must be one of \"auto\", \"breakpoints\", \"syscall\", not \"never\""* ]]
}

@test "CRYO_FORCE_HW_BREAKPOINTS overrides the probe without touching the cache" {
	local conf
	conf=$(stepping_config auto)
	CRYO_FORCE_HW_BREAKPOINTS=1 run cryo --config "$conf" info --format json
	[ "$status" -eq 0 ]
	[ "$(jq -r .host.hardware_breakpoints <<<"$output")" = true ]
	[ "$(jq -r .host.hardware_breakpoints_source <<<"$output")" = "env CRYO_FORCE_HW_BREAKPOINTS" ]
	[ "$(jq -r .checkpoint.criu_fault_injection <<<"$output")" = null ]
	[ -z "$(fault_entries <<<"$output")" ]

	CRYO_FORCE_HW_BREAKPOINTS=0 run cryo --config "$conf" info --format json
	[ "$status" -eq 0 ]
	[ "$(jq -r .host.hardware_breakpoints <<<"$output")" = false ]
	[ "$(fault_entries <<<"$output")" = CRIU_FAULT=130 ]

	# Neither forced answer was cached as the probe's.
	[ "$(jq -r '.hardware_breakpoints // "absent"' "$RUNROOT/host-probe.json")" = absent ]
}

@test "the second info reads the per-boot cache instead of probing" {
	run cryo info --format json
	[ "$status" -eq 0 ]
	[ "$(jq -r .host.hardware_breakpoints_source <<<"$output")" = probe ]
	[ "$(jq -r .criu.cached <<<"$output")" = false ]
	[ "$(jq -r .runtime.cached <<<"$output")" = false ]
	local first=$output

	# The cache is keyed by this boot's ID and by the CRIU binary.
	local cache=$RUNROOT/host-probe.json
	[ -f "$cache" ]
	[ "$(jq -r .boot_id "$cache")" = "$(cat /proc/sys/kernel/random/boot_id)" ]
	[[ "$(jq -r .criu.key "$cache")" == /usr/local/sbin/criu:*:"$(stat -c %s /usr/local/sbin/criu)" ]]

	run cryo info --format json
	[ "$status" -eq 0 ]
	[ "$(jq -r .host.hardware_breakpoints_source <<<"$output")" = cache ]
	[ "$(jq -r .criu.cached <<<"$output")" = true ]
	[ "$(jq -r .runtime.cached <<<"$output")" = true ]
	# Same answers from the cache as from the probes.
	local volatile='del(.host.hardware_breakpoints_source, .checkpoint.criu_stepping_reason, .criu.cached, .runtime.cached)'
	[ "$(jq -c "$volatile" <<<"$output")" = "$(jq -c "$volatile" <<<"$first")" ]
}

@test "a cache from another boot or for another CRIU binary is not used" {
	run cryo info --format json
	[ "$status" -eq 0 ]
	local cache=$RUNROOT/host-probe.json

	jq '.criu.key = "/usr/local/sbin/criu:1:1"' "$cache" >"$cache.new" && mv "$cache.new" "$cache"
	run cryo info --format json
	[ "$status" -eq 0 ]
	[ "$(jq -r .criu.cached <<<"$output")" = false ]
	[ "$(jq -r .host.hardware_breakpoints_source <<<"$output")" = cache ]

	jq '.boot_id = "00000000-0000-0000-0000-000000000000"' "$cache" >"$cache.new" && mv "$cache.new" "$cache"
	run cryo info --format json
	[ "$status" -eq 0 ]
	[ "$(jq -r .host.hardware_breakpoints_source <<<"$output")" = probe ]
	[ "$(jq -r .criu.cached <<<"$output")" = false ]
	[ "$(jq -r .boot_id "$cache")" = "$(cat /proc/sys/kernel/random/boot_id)" ]
}

@test "info text format is a key: value listing" {
	run cryo info
	[ "$status" -eq 0 ]
	[[ "$output" == *"version: "* ]]
	grep -qE '^  cgroup_mode: (v1|v2|hybrid)$' <<<"$output"
	grep -qE '^  freezer: (freezer\.state|cgroup\.freeze|none)$' <<<"$output"
	grep -qE '^  hardware_breakpoints: (true|false)$' <<<"$output"
	grep -qE '^  check_passed: true$' <<<"$output"
	grep -qE "^  root: $ROOT\$" <<<"$output"
}

@test "info rejects bad input with a usage error" {
	run --separate-stderr cryo info --bogus
	[ "$status" -eq 125 ]
	[[ "$stderr" == *"unknown option"*"--bogus"* ]]
	[ -z "$output" ]

	run --separate-stderr cryo info extra-arg
	[ "$status" -eq 125 ]
	[[ "$stderr" == *"unexpected argument"*"extra-arg"* ]]

	run --separate-stderr cryo info --format yaml
	[ "$status" -eq 125 ]
	[[ "$stderr" == *"unknown format"*"yaml"* ]]

	run --separate-stderr cryo info --format
	[ "$status" -eq 125 ]
	[[ "$stderr" == *"needs a value"* ]]
}

@test "system check dumps and restores a process tree" {
	run timeout 120 "$CRYO" --root "$ROOT" --runroot "$RUNROOT" system check
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"checkpoint/restore: ok"* ]]
	grep -qE '^dump: +[0-9.]+ ms' <<<"$output"
	grep -qE '^restore: +[0-9.]+ ms' <<<"$output"
	# The counter carried on from where the dump left it.
	local at_dump after
	at_dump=$(sed -n 's/^counter: *\([0-9]*\) at the dump.*/\1/p' <<<"$output")
	after=$(sed -n 's/.* \([0-9]*\) after the restore$/\1/p' <<<"$output")
	[ -n "$at_dump" ] && [ -n "$after" ]
	[ "$after" -gt "$at_dump" ]
	# Nothing left behind: no test directory, no process of the tree.
	[ -z "$(ls -A "$ROOT/tmp")" ]
	local pid
	pid=$(sed -n 's/^process tree: *root PID \([0-9]*\).*/\1/p' <<<"$output")
	[ -n "$pid" ]
	[ -z "$(ps -o pid= -s "$pid")" ]
}

@test "negative control: stepping by breakpoints, system check times out where they do not fire" {
	run cryo info --format json
	[ "$status" -eq 0 ]
	local probe
	probe=$(jq -r .host.hardware_breakpoints_probe <<<"$output")
	[ "$probe" = no-fire ] || skip "hardware breakpoints fire here (probe: $probe): CRIU does not hang without CRIU_FAULT"

	local conf
	conf=$(stepping_config breakpoints)
	run --separate-stderr timeout 120 "$CRYO" --root "$ROOT" --runroot "$RUNROOT" --config "$conf" \
		system check --timeout 5
	echo "$stderr"
	[ "$status" -eq 125 ]
	[[ "$stderr" == *"criu dump did not finish within 5 s"* ]]
	[[ "$stderr" == *"CRIU must step by syscall (CRIU_FAULT=130)"* ]]
	[[ "$stderr" == *"stepped by breakpoints and did not set CRIU_FAULT=130: criu.stepping = \"breakpoints\" in \`$conf\`"* ]]
	[[ "$stderr" != *"checkpoint/restore: ok"* ]]
	# The hung CRIU and the tree were killed.
	local dir
	dir=$(sed -n 's/.*test files kept in `\(.*\)`.*/\1/p' <<<"$stderr")
	[ -f "$dir/counter" ] # the tree did run there
	[ -z "$(procs_in_dir "$dir")" ]
}

@test "system check rejects bad input with a usage error" {
	run --separate-stderr cryo system check --timeout 0
	[ "$status" -eq 125 ]
	[[ "$stderr" == *"--timeout"* ]]

	run --separate-stderr cryo system check --timeout abc
	[ "$status" -eq 125 ]
	[[ "$stderr" == *"expected 1 to 3600 seconds"* ]]

	run --separate-stderr cryo system check extra
	[ "$status" -eq 125 ]
	[[ "$stderr" == *"unexpected argument"* ]]

	run --separate-stderr cryo system bogus
	[ "$status" -eq 125 ]
	[[ "$stderr" == *"unknown command"* ]]
}

@test "the engine configuration file chooses the runtime, and a typo in it is an error" {
	printf '[engine]\nruntime = "%s"\n' /nonexistent/runtime >"$TEST_DIR/cryo.conf"
	run --separate-stderr cryo --config "$TEST_DIR/cryo.conf" ps
	[ "$status" -eq 125 ]
	[[ "$stderr" == *"OCI runtime \`/nonexistent/runtime\` not found"* ]]

	# --runtime on the command line wins over the file.
	run cryo --config "$TEST_DIR/cryo.conf" --runtime runc ps
	[ "$status" -eq 0 ]

	printf '# engine settings\n[engine]\n\nruntme = "runc"\n' >"$TEST_DIR/typo.conf"
	run --separate-stderr cryo --config "$TEST_DIR/typo.conf" ps
	[ "$status" -eq 125 ]
	[[ "$stderr" == *"configuration \`$TEST_DIR/typo.conf\`, line 4: unknown setting \`engine.runtme\`"* ]]

	run --separate-stderr cryo --config "$TEST_DIR/missing.conf" ps
	[ "$status" -eq 125 ]
	[[ "$stderr" == *"missing.conf"* ]]
}
