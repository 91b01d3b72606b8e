/* Test switches: environment variables that change what the engine does, for
 * the tests and the benchmark only (CRYO_TEST_DISABLE_FREEZE turns off the
 * freeze cryo exists for).
 *
 * They are compiled in only when the build is configured with
 * `-Dtest_hooks=true` (tests/run's sanitizer build, bench/run's build). In any
 * other build test_hook_getenv() is NULL without evaluating its argument and
 * TEST_HOOK_NAME() is a placeholder, so the release binary neither reads nor
 * contains a switch's name (tests/check-release checks it with strings(1)).
 *
 * Every read of a test switch goes through test_hook_getenv(); every mention
 * of a switch's name in a message through TEST_HOOK_NAME(). */
#ifndef CRYO_TEST_HOOKS_H
#define CRYO_TEST_HOOKS_H

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#ifndef CRYO_TEST_HOOKS
#error "CRYO_TEST_HOOKS must be defined (0 or 1) by the build (meson option test_hooks)"
#endif

#if CRYO_TEST_HOOKS
#define test_hook_getenv(name) getenv(name)
#define TEST_HOOK_NAME(name) name
#else
#define test_hook_getenv(name) ((const char *)NULL)
#define TEST_HOOK_NAME(name) "(test switch, not in this build)"
#endif

/* Is the test switch `name` set to 1? Always false in a release build. */
static inline bool test_switch_on(const char *name)
{
	const char *v = test_hook_getenv(name);
	return v && strcmp(v, "1") == 0;
}

#endif
