/* One error type for the whole engine.
 *
 * Fallible functions take a `cryo_err *err` out-parameter and return a negative
 * value on failure (-errno when one is known, else -EIO). The error carries the
 * errno and an allocated message; callers add context as it travels up with
 * cryo_error_wrap() ("checkpoint web: freeze cgroup: ..."), and whoever handles
 * it releases it with cryo_error_free(). The library never prints. */
#ifndef CRYO_ERROR_H
#define CRYO_ERROR_H

#include <errno.h>

struct cryo_error {
	int errnum; /* errno of the root cause, 0 when not a system error */
	char *msg;
};
typedef struct cryo_error *cryo_err;

/* Set *err to a new error built from fmt; when errnum != 0, ": strerror(errnum)"
 * is appended. Returns -errnum, or -EIO when errnum is 0. */
int cryo_error_set(cryo_err *err, int errnum, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* The same for a refusal whose message says it all: errnum is kept as the
 * code, but its strerror() text is not appended. */
int cryo_error_plain(cryo_err *err, int errnum, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Prefix the existing message with context: "<context>: <old message>".
 * Returns the same negative value cryo_error_set would for the existing error. */
int cryo_error_wrap(cryo_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Append text to the existing message (for example CRIU's own error lines). */
void cryo_error_append(cryo_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Return code matching an error: -errnum or -EIO. */
int cryo_error_code(const cryo_err err);

void cryo_error_free(cryo_err *err);

#define cleanup_error __attribute__((cleanup(cryo_error_free)))

/* For clang's static analyzer (tests/check-analyzer) only: what the functions
 * above promise, that they return a negative value, which it cannot see from
 * here (without it, every `if ((r = f()) < 0) return r;` whose f fails through
 * them looks like a path that goes on with r >= 0). error.c defines them. */
#if defined(__clang_analyzer__) && !defined(CRYO_ERROR_DEFINITIONS)
static inline int cryo_error_negative_(int r)
{
	if (r >= 0)
		__builtin_unreachable();
	return r;
}
#define cryo_error_set(...) cryo_error_negative_(cryo_error_set(__VA_ARGS__))
#define cryo_error_plain(...) cryo_error_negative_(cryo_error_plain(__VA_ARGS__))
#define cryo_error_wrap(...) cryo_error_negative_(cryo_error_wrap(__VA_ARGS__))
#define cryo_error_code(...) cryo_error_negative_(cryo_error_code(__VA_ARGS__))
#endif

#endif
