/* The library's debug channel (crun's crun_set_output_handler is the model).
 * The library never prints: it hands messages to the handler the program
 * installed, which decides what to show and where. Without a handler,
 * messages are dropped.
 *
 * What goes here: at debug level, every external command the engine runs
 * (the OCI runtime, CRIU, tools) with its duration and exit status, and every
 * error the engine deliberately ignores (a best-effort cleanup that failed, a
 * lookup whose failure is an answer): cryo_error_set() with a NULL error
 * pointer logs it. At info level, the steps of long operations. */
#ifndef CRYO_LOG_H
#define CRYO_LOG_H

#include <stdbool.h>

enum cryo_log_level {
	CRYO_LOG_DEBUG,
	CRYO_LOG_INFO,
	CRYO_LOG_WARN,
	CRYO_LOG_ERROR,
};

typedef void (*cryo_log_handler)(enum cryo_log_level level, const char *msg, void *data);

/* Install the handler (NULL: none) for messages at `min_level` and above. */
void cryo_log_set_handler(cryo_log_handler handler, void *data, enum cryo_log_level min_level);

/* "debug", "info", "warn", "error" -> level; false for anything else. */
bool cryo_log_level_parse(const char *name, enum cryo_log_level *level);
const char *cryo_log_level_name(enum cryo_log_level level);

/* Would a message at this level reach a handler? (Skip building costly ones.) */
bool cryo_log_enabled(enum cryo_log_level level);

void cryo_log(enum cryo_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define cryo_debug(...) cryo_log(CRYO_LOG_DEBUG, __VA_ARGS__)
#define cryo_info(...) cryo_log(CRYO_LOG_INFO, __VA_ARGS__)
#define cryo_warn(...) cryo_log(CRYO_LOG_WARN, __VA_ARGS__)

#endif
