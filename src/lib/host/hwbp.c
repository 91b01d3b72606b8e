#include "hwbp.h"

#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>

#include "probe_cache.h"
#include "util.h"

#define HWBP_PROBE_TIMEOUT_MS 2000

#if defined(__x86_64__)

/* The breakpoint target. noinline and the empty asm keep the call (and the
 * function) real, so the child executes this address. */
__attribute__((noinline)) static void hwbp_target(void)
{
	__asm__ __volatile__("" ::: "memory");
}

static void (*volatile hwbp_target_ptr)(void) = hwbp_target;

static void kill_and_reap(pid_t pid)
{
	int status;
	kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
}

/* waitpid with a deadline; returns the pid, 0 on timeout, -1 on error. */
static pid_t wait_until(pid_t pid, int *status, int64_t deadline_us)
{
	for (;;) {
		pid_t w = waitpid(pid, status, WNOHANG);
		if (w != 0 || now_monotonic_us() >= deadline_us) {
			if (w < 0 && errno == EINTR)
				continue;
			return w;
		}
		struct timespec ts = {0, 1000 * 1000};
		nanosleep(&ts, NULL);
	}
}

int hwbp_probe(enum hwbp_status *out, int timeout_ms, cryo_err *err)
{
	int64_t deadline = now_monotonic_us() + (int64_t)timeout_ms * 1000;
	int status;
	pid_t pid = fork();
	if (pid < 0)
		return cryo_error_set(err, errno, "hardware breakpoint probe: fork");
	if (pid == 0) {
		if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) < 0)
			_exit(2);
		raise(SIGSTOP);
		hwbp_target_ptr();
		_exit(0);
	}

	pid_t w = wait_until(pid, &status, deadline);
	if (w <= 0) {
		int saved = w < 0 ? errno : ETIMEDOUT;
		kill_and_reap(pid);
		return cryo_error_set(err, saved, "hardware breakpoint probe: wait for child %d to stop",
		                      (int)pid);
	}
	if (!WIFSTOPPED(status) || WSTOPSIG(status) != SIGSTOP) {
		if (w == pid && !WIFSTOPPED(status))
			return cryo_error_set(
			    err, 0,
			    "hardware breakpoint probe: child %d ended before it stopped (status 0x%x); "
			    "is ptrace forbidden here (seccomp, Yama ptrace_scope)?",
			    (int)pid, status);
		kill_and_reap(pid);
		return cryo_error_set(
		    err, 0, "hardware breakpoint probe: child %d stopped with signal %d, not SIGSTOP",
		    (int)pid, WSTOPSIG(status));
	}

	/* DR0 = the target's address; DR7 bit 0 = local enable of DR0, with R/W0
	 * and LEN0 zero: break on instruction execution. This is what CRIU's
	 * ptrace_set_breakpoint() does. */
	if (ptrace(PTRACE_POKEUSER, pid, offsetof(struct user, u_debugreg[0]), (void *)hwbp_target_ptr) < 0 ||
	    ptrace(PTRACE_POKEUSER, pid, offsetof(struct user, u_debugreg[7]), (void *)1UL) < 0) {
		/* CRIU could not set its breakpoint either; it must not rely on one. */
		kill_and_reap(pid);
		*out = HWBP_NO_FIRE;
		return 0;
	}
	if (ptrace(PTRACE_CONT, pid, NULL, NULL) < 0) {
		int saved = errno;
		kill_and_reap(pid);
		return cryo_error_set(err, saved, "hardware breakpoint probe: continue child %d", (int)pid);
	}

	w = wait_until(pid, &status, deadline);
	if (w <= 0) {
		int saved = w < 0 ? errno : ETIMEDOUT;
		kill_and_reap(pid);
		return cryo_error_set(
		    err, saved, "hardware breakpoint probe: child %d neither trapped nor exited within %d ms",
		    (int)pid, timeout_ms);
	}
	if (WIFSTOPPED(status) && WSTOPSIG(status) == SIGTRAP) {
		kill_and_reap(pid);
		*out = HWBP_FIRE;
		return 0;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		*out = HWBP_NO_FIRE;
		return 0;
	}
	if (WIFSTOPPED(status))
		kill_and_reap(pid);
	return cryo_error_set(err, 0, "hardware breakpoint probe: child %d ended unexpectedly (status 0x%x)",
	                      (int)pid, status);
}

#else

int hwbp_probe(enum hwbp_status *out, int timeout_ms, cryo_err *err)
{
	/* The probe pokes x86 debug registers; elsewhere we cannot tell. */
	*out = HWBP_UNKNOWN;
	return 0;
}

#endif

bool hwbp_fires(enum hwbp_status status)
{
	return status != HWBP_NO_FIRE;
}

const char *hwbp_status_name(enum hwbp_status status)
{
	switch (status) {
	case HWBP_FIRE:
		return "fire";
	case HWBP_NO_FIRE:
		return "no-fire";
	case HWBP_UNKNOWN:
		return "unknown";
	}
	return "unknown";
}

bool hwbp_status_parse(const char *name, enum hwbp_status *out)
{
	static const enum hwbp_status all[] = {HWBP_FIRE, HWBP_NO_FIRE, HWBP_UNKNOWN};
	for (size_t i = 0; i < ARRAY_SIZE(all); i++)
		if (strcmp(name, hwbp_status_name(all[i])) == 0) {
			*out = all[i];
			return true;
		}
	return false;
}

const char *hwbp_source_name(enum hwbp_source source)
{
	switch (source) {
	case HWBP_SOURCE_PROBE:
		return "probe";
	case HWBP_SOURCE_CACHE:
		return "cache";
	case HWBP_SOURCE_ENV:
		return "env " HWBP_FORCE_ENV;
	}
	return "probe";
}

int hwbp_detect(struct cryo_engine *engine, struct hwbp_result *out, cryo_err *err)
{
	const char *force = test_hook_getenv(HWBP_FORCE_ENV);
	if (force && *force) {
		if (strcmp(force, "0") != 0 && strcmp(force, "1") != 0)
			return cryo_error_set(err, 0, "%s=`%s`: expected 0 or 1 (a test/debug override)",
			                      HWBP_FORCE_ENV, force);
		out->status = force[0] == '1' ? HWBP_FIRE : HWBP_NO_FIRE;
		out->source = HWBP_SOURCE_ENV;
		return 0;
	}

	struct json_object *cached = probe_cache_get(engine, "hardware_breakpoints", NULL), *status;
	if (cached) {
		bool ok = json_object_object_get_ex(cached, "status", &status) &&
		          json_object_is_type(status, json_type_string) &&
		          hwbp_status_parse(json_object_get_string(status), &out->status);
		json_object_put(cached);
		if (ok) {
			out->source = HWBP_SOURCE_CACHE;
			return 0;
		}
	}

	int r = hwbp_probe(&out->status, HWBP_PROBE_TIMEOUT_MS, err);
	if (r < 0)
		return r;
	out->source = HWBP_SOURCE_PROBE;

	struct json_object *entry = json_object_new_object();
	cleanup_error cryo_err cache_err = NULL;
	json_object_object_add(entry, "status", json_object_new_string(hwbp_status_name(out->status)));
	/* The cache only saves time; a read-only runroot means probing again. */
	probe_cache_put(engine, "hardware_breakpoints", NULL, entry, &cache_err);
	json_object_put(entry);
	return 0;
}
