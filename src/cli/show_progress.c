#include "show_progress.h"

#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "progress.h"
#include "util.h"

bool cli_progress_parse(const char *s, enum cli_progress_mode *mode)
{
	static const char *const names[] = {"auto", "json", "none"};
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (strcmp(s, names[i]) == 0) {
			*mode = (enum cli_progress_mode)i;
			return true;
		}
	return false;
}

static void print_json(const struct cryo_progress *e, void *data)
{
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "operation", json_object_new_string(e->operation));
	json_object_object_add(o, "container", json_object_new_string(e->container));
	json_object_object_add(o, "phase", json_object_new_string(e->phase));
	json_object_object_add(o, "elapsed_us", json_object_new_int64(e->elapsed_us));
	json_object_object_add(o, "bytes", json_object_new_int64((int64_t)e->bytes));
	if (e->frozen_us)
		json_object_object_add(o, "frozen_us", json_object_new_int64(e->frozen_us));
	fprintf(stderr, "%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	fflush(stderr);
	json_object_put(o);
}

static double mib(uint64_t bytes)
{
	return (double)bytes / (1024.0 * 1024.0);
}

/* Terminal mode: lines are held until the operation has run long enough to
 * be worth showing, then printed as they come. */
struct tty_state {
	char pending[16][256];
	size_t n_pending;
	bool showing;
	int64_t writing_started_us;
};

static void tty_line(const struct cryo_progress *e, char *line, size_t size, struct tty_state *st)
{
	const char *p = e->phase;
	int n = snprintf(line, size, "%s `%s` [%6.2f s] ", e->operation, e->container,
	                 (double)e->elapsed_us / 1e6);
	size_t off = n > 0 ? (size_t)n : 0;
	if (off >= size)
		return;
	if (strcmp(p, "dumping") == 0)
		snprintf(line + off, size - off, "freezing and dumping the processes (CRIU)");
	else if (strcmp(p, "capturing") == 0)
		snprintf(line + off, size - off, "dumped %.1f MiB; capturing the file system and volumes",
		         mib(e->bytes));
	else if (strcmp(p, "thawed") == 0)
		snprintf(line + off, size - off,
		         "thawed after %.0f ms frozen (file system changes: %.1f MiB)",
		         (double)e->frozen_us / 1000.0, mib(e->bytes));
	else if (strcmp(p, "handed over") == 0)
		snprintf(line + off, size - off,
		         "running at the destination after %.0f ms frozen; source stopped",
		         (double)e->frozen_us / 1000.0);
	else if (strcmp(p, "captured") == 0)
		snprintf(line + off, size - off, "captured (file system changes: %.1f MiB)", mib(e->bytes));
	else if (strcmp(p, "writing") == 0) {
		st->writing_started_us = e->elapsed_us;
		snprintf(line + off, size - off, "compressing and writing the archive");
	} else if (strcmp(p, "importing") == 0)
		snprintf(line + off, size - off, "verifying and unpacking %.1f MiB", mib(e->bytes));
	else if (strcmp(p, "preparing") == 0)
		snprintf(line + off, size - off, "preparing the container, file system and volumes");
	else if (strcmp(p, "restoring") == 0)
		snprintf(line + off, size - off, "restoring the processes (CRIU)");
	else if (strcmp(p, "done") == 0 && st->writing_started_us > 0) {
		double secs = (double)(e->elapsed_us - st->writing_started_us) / 1e6;
		snprintf(line + off, size - off, "done: wrote %.1f MiB at %.1f MiB/s", mib(e->bytes),
		         secs > 0 ? mib(e->bytes) / secs : 0.0);
	} else
		snprintf(line + off, size - off, "%s", p);
}

static void print_tty(const struct cryo_progress *e, void *data)
{
	struct tty_state *st = data;
	char line[256];
	tty_line(e, line, sizeof(line), st);
	bool done = strcmp(e->phase, "done") == 0;
	if (!st->showing && e->elapsed_us >= CLI_PROGRESS_DELAY_US) {
		st->showing = true;
		for (size_t i = 0; i < st->n_pending; i++)
			fprintf(stderr, "%s\n", st->pending[i]);
	}
	if (st->showing)
		fprintf(stderr, "%s\n", line);
	else if (st->n_pending < ARRAY_SIZE(st->pending))
		memcpy(st->pending[st->n_pending++], line, sizeof(line));
	if (done) { /* the next operation (checkpoint A B) starts afresh */
		st->showing = false;
		st->n_pending = 0;
		st->writing_started_us = 0;
	}
}

void cli_progress_start(enum cli_progress_mode mode)
{
	static struct tty_state tty;
	if (mode == CLI_PROGRESS_JSON)
		cryo_progress_set_handler(print_json, NULL);
	else if (mode == CLI_PROGRESS_AUTO && isatty(STDERR_FILENO))
		cryo_progress_set_handler(print_tty, &tty);
	else
		cryo_progress_set_handler(NULL, NULL);
}
