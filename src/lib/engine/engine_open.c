#include "engine_open.h"

#include <string.h>

#include "layout.h"
#include "proc.h"
#include "scratch.h"
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
	engine->leftovers_removed = xcalloc(1, sizeof(*engine->leftovers_removed));
	const char *runtime;
	int r;

	if ((r = config_load(opts ? opts->config : NULL, &engine->config, err)) < 0) {
		free(engine->leftovers_removed);
		free(engine);
		return r;
	}
	runtime = opts && opts->runtime ? opts->runtime : config_string(engine->config, "engine.runtime");

	engine->root = absolute(opts && opts->root ? opts->root : CRYO_DEFAULT_ROOT);
	engine->runroot = absolute(opts && opts->runroot ? opts->runroot : CRYO_DEFAULT_RUNROOT);
	engine->runtime_root = layout_runtime_root(engine->runroot);

	engine->runtime_path = proc_find_executable(runtime);
	if (!engine->runtime_path) {
		r = cryo_error_set(err, ENOENT,
		                   "OCI runtime `%s` not found (install runc, or pass --runtime PATH)",
		                   runtime);
		goto fail;
	}
	for (size_t i = 0; layout_root_dirs[i]; i++) {
		cleanup_free char *d = layout_dir(engine->root, layout_root_dirs[i]);
		if ((r = mkdir_p(d, 0700, err)) < 0)
			goto fail;
	}
	for (size_t i = 0; layout_runroot_dirs[i]; i++) {
		cleanup_free char *d = layout_dir(engine->runroot, layout_runroot_dirs[i]);
		if ((r = mkdir_p(d, 0700, err)) < 0)
			goto fail;
	}
	if ((r = state_open(engine, err)) < 0)
		goto fail;
	/* What killed commands left (staging, imports, temporary exports): gone
	 * before this command adds its own. A failure here is no reason to
	 * refuse the command; `cryo system prune` reports it. */
	scratch_collect(engine, engine->leftovers_removed, NULL);
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
	free(engine->leftovers_removed);
	config_free(engine->config);
	free(engine);
}

void cryo_engine_closep(struct cryo_engine **engine)
{
	cryo_engine_close(*engine);
	*engine = NULL;
}
