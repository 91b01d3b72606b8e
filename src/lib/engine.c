#include "engine.h"

#include <stdarg.h>
#include <string.h>

#include "proc.h"
#include "state.h"
#include "util.h"

static char *absolute(const char *path)
{
	if (path[0] == '/')
		return xstrdup(path);
	cleanup_free char *cwd = getcwd(NULL, 0);
	if (!cwd)
		oom();
	return xasprintf("%s/%s", cwd, path);
}

int cryo_engine_open(struct cryo_engine **out, const struct cryo_engine_opts *opts, cryo_err *err)
{
	struct cryo_engine *engine = xcalloc(1, sizeof(*engine));
	const char *runtime;
	int r;

	if ((r = config_load(opts ? opts->config : NULL, &engine->config, err)) < 0) {
		free(engine);
		return r;
	}
	runtime = opts && opts->runtime ? opts->runtime : config_string(engine->config, "engine.runtime");

	engine->root = absolute(opts && opts->root ? opts->root : CRYO_DEFAULT_ROOT);
	engine->runroot = absolute(opts && opts->runroot ? opts->runroot : CRYO_DEFAULT_RUNROOT);
	engine->runtime_root = xasprintf("%s/runtime", engine->runroot);

	engine->runtime_path = proc_find_executable(runtime);
	if (!engine->runtime_path) {
		r = cryo_error_set(err, ENOENT,
		                   "OCI runtime `%s` not found (install runc, or pass --runtime PATH)",
		                   runtime);
		goto fail;
	}
	const char *dirs[] = {"",         "/containers",  "/layers", "/images",
	                      "/volumes", "/checkpoints", "/tmp",    "/checkpoint-images"};
	for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
		cleanup_free char *d = xasprintf("%s%s", engine->root, dirs[i]);
		if ((r = mkdir_p(d, 0700, err)) < 0)
			goto fail;
	}
	const char *rundirs[] = {"", "/runtime", "/locks", "/containers"};
	for (size_t i = 0; i < ARRAY_SIZE(rundirs); i++) {
		cleanup_free char *d = xasprintf("%s%s", engine->runroot, rundirs[i]);
		if ((r = mkdir_p(d, 0700, err)) < 0)
			goto fail;
	}
	if ((r = state_open(engine, err)) < 0)
		goto fail;
	/* What killed commands left (staging, imports, temporary exports): gone
	 * before this command adds its own. A failure here is no reason to
	 * refuse the command; `cryo system prune` reports it. */
	scratch_collect(engine, &engine->leftovers_removed, NULL);
	*out = engine;
	return 0;
fail:
	cryo_error_wrap(err, "open engine at `%s`", engine->root);
	cryo_engine_close(engine);
	return r;
}

void cryo_engine_close(struct cryo_engine *engine)
{
	if (!engine)
		return;
	scratch_claim_release(engine->claim);
	if (engine->db)
		sqlite3_close(engine->db);
	free(engine->root);
	free(engine->runroot);
	free(engine->runtime_path);
	free(engine->runtime_root);
	config_free(engine->config);
	free(engine);
}

void cryo_engine_closep(struct cryo_engine **engine)
{
	cryo_engine_close(*engine);
	*engine = NULL;
}

static char *vpath(const char *base, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
static char *vpath(const char *base, const char *fmt, va_list ap)
{
	char *rel;
	if (vasprintf(&rel, fmt, ap) < 0)
		oom();
	char *p = xasprintf("%s/%s", base, rel);
	free(rel);
	return p;
}

char *engine_path(const struct cryo_engine *engine, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *p = vpath(engine->root, fmt, ap);
	va_end(ap);
	return p;
}

char *engine_run_path(const struct cryo_engine *engine, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *p = vpath(engine->runroot, fmt, ap);
	va_end(ap);
	return p;
}
