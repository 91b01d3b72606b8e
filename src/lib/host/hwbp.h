/* Do ptrace hardware breakpoints fire on this machine?
 *
 * CRIU stops a task after its parasite code has run by setting a hardware
 * breakpoint (DR0/DR7 through PTRACE_POKEUSER) and waiting for the SIGTRAP. In
 * some virtual machines the breakpoint never fires and every dump hangs at
 * "Waiting for N to trap". CRIU's fault-injection switch CRIU_FAULT=130
 * (FI_NO_BREAKPOINTS) makes it step by system call instead; with the
 * configuration's criu.stepping = "auto" (the default) cryo sets it exactly
 * when this probe says breakpoints do not fire (criu_stepping_decide()).
 *
 * The probe forks a child that stops itself under PTRACE_TRACEME; the parent
 * puts the address of a function the child is about to call in DR0, enables it
 * in DR7 and continues the child. A SIGTRAP stop means breakpoints fire; a
 * normal exit means they do not. Its answer is cached for the boot in the
 * engine's probe cache (probe_cache.h).
 *
 * Test/debug knob: the environment variable CRYO_FORCE_HW_BREAKPOINTS=1 (or 0)
 * replaces the probe's answer with "fire" (or "no-fire") without touching the
 * cache. It exists to prove, in tests, what happens with the wrong answer; do
 * not set it in production. It exists only in test builds (test_hooks.h). */
#ifndef CRYO_HWBP_H
#define CRYO_HWBP_H

#include <stdbool.h>

#include "engine.h"
#include "error.h"
#include "test_hooks.h"

#define HWBP_FORCE_ENV TEST_HOOK_NAME("CRYO_FORCE_HW_BREAKPOINTS")

enum hwbp_status {
	HWBP_FIRE,    /* a SIGTRAP stop arrived: CRIU's default works */
	HWBP_NO_FIRE, /* the child ran through the breakpoint: CRIU needs CRIU_FAULT=130 */
	HWBP_UNKNOWN, /* not an architecture the probe knows; treated as firing */
};

enum hwbp_source {
	HWBP_SOURCE_PROBE, /* probed just now */
	HWBP_SOURCE_CACHE, /* probed earlier in this boot */
	HWBP_SOURCE_ENV,   /* CRYO_FORCE_HW_BREAKPOINTS */
};

struct hwbp_result {
	enum hwbp_status status;
	enum hwbp_source source;
};

/* Run the probe now (no cache, no environment override), giving up after
 * timeout_ms. */
int hwbp_probe(enum hwbp_status *out, int timeout_ms, cryo_err *err);

/* The answer for this boot: the environment override, else the cache, else a
 * fresh probe whose answer is then cached. */
int hwbp_detect(struct cryo_engine *engine, struct hwbp_result *out, cryo_err *err);

/* Whether CRIU may rely on breakpoints (HWBP_UNKNOWN counts as firing). */
bool hwbp_fires(enum hwbp_status status);

/* "fire", "no-fire", "unknown"; and the reverse (false on anything else). */
const char *hwbp_status_name(enum hwbp_status status);
bool hwbp_status_parse(const char *name, enum hwbp_status *out);
/* "probe", "cache", "env CRYO_FORCE_HW_BREAKPOINTS". */
const char *hwbp_source_name(enum hwbp_source source);

#endif
