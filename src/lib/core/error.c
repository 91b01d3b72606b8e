#define CRYO_ERROR_DEFINITIONS /* error.h: the functions themselves, not the analyzer's view of them */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base.h"
#include "log.h"

static int code_of(int errnum)
{
	return errnum > 0 ? -errnum : -EIO;
}

int cryo_error_set(cryo_err *err, int errnum, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		oom();
	va_end(ap);
	if (errnum > 0) {
		char *with_reason = xasprintf("%s: %s", msg, strerror(errnum));
		free(msg);
		msg = with_reason;
	}
	if (err == NULL) {
		/* The caller asked for no error: a result it deliberately ignores. */
		cryo_debug("ignored: %s", msg);
		free(msg);
		return code_of(errnum);
	}
	cryo_error_free(err);
	*err = xmalloc(sizeof(**err));
	(*err)->errnum = errnum > 0 ? errnum : 0;
	(*err)->msg = msg;
	return code_of(errnum);
}

int cryo_error_plain(cryo_err *err, int errnum, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		oom();
	va_end(ap);
	if (err == NULL) {
		/* The caller asked for no error: a result it deliberately ignores. */
		cryo_debug("ignored: %s", msg);
		free(msg);
		return code_of(errnum);
	}
	cryo_error_free(err);
	*err = xmalloc(sizeof(**err));
	(*err)->errnum = errnum > 0 ? errnum : 0;
	(*err)->msg = msg;
	return code_of(errnum);
}

int cryo_error_wrap(cryo_err *err, const char *fmt, ...)
{
	va_list ap;
	char *context, *msg;

	if (err == NULL || *err == NULL)
		return -EIO;
	va_start(ap, fmt);
	if (vasprintf(&context, fmt, ap) < 0)
		oom();
	va_end(ap);
	msg = xasprintf("%s: %s", context, (*err)->msg);
	free(context);
	free((*err)->msg);
	(*err)->msg = msg;
	return code_of((*err)->errnum);
}

void cryo_error_append(cryo_err *err, const char *fmt, ...)
{
	va_list ap;
	char *extra, *msg;

	if (err == NULL || *err == NULL)
		return;
	va_start(ap, fmt);
	if (vasprintf(&extra, fmt, ap) < 0)
		oom();
	va_end(ap);
	msg = xasprintf("%s%s", (*err)->msg, extra);
	free(extra);
	free((*err)->msg);
	(*err)->msg = msg;
}

int cryo_error_code(const cryo_err err)
{
	return err ? code_of(err->errnum) : 0;
}

void cryo_error_free(cryo_err *err)
{
	if (err == NULL || *err == NULL)
		return;
	free((*err)->msg);
	free(*err);
	*err = NULL;
}
