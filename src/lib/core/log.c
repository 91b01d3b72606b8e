#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base.h"

static cryo_log_handler log_handler;
static void *log_data;
static enum cryo_log_level log_min = CRYO_LOG_WARN;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void cryo_log_set_handler(cryo_log_handler handler, void *data, enum cryo_log_level min_level)
{
	log_handler = handler;
	log_data = data;
	log_min = min_level;
}

bool cryo_log_level_parse(const char *name, enum cryo_log_level *level)
{
	for (size_t i = 0; i < ARRAY_SIZE(level_names); i++)
		if (strcmp(name, level_names[i]) == 0) {
			*level = (enum cryo_log_level)i;
			return true;
		}
	if (strcmp(name, "warning") == 0) {
		*level = CRYO_LOG_WARN;
		return true;
	}
	return false;
}

const char *cryo_log_level_name(enum cryo_log_level level)
{
	return (size_t)level < ARRAY_SIZE(level_names) ? level_names[level] : "?";
}

bool cryo_log_enabled(enum cryo_log_level level)
{
	return log_handler && level >= log_min;
}

void cryo_log(enum cryo_log_level level, const char *fmt, ...)
{
	if (!cryo_log_enabled(level))
		return;
	va_list ap;
	char *msg;
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		oom();
	va_end(ap);
	log_handler(level, msg, log_data);
	free(msg);
}
