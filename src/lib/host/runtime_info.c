#include "runtime_info.h"

#include <json-c/json.h>
#include <libgen.h>
#include <string.h>

#include "criu.h"
#include "probe_cache.h"
#include "proc.h"
#include "util.h"

#define RUNTIME_RUN_TIMEOUT_MS 30000

char *runtime_info_parse_name(const char *version_output)
{
	size_t n = strcspn(version_output, " \t\n");
	if (n == 0 || !str_has_prefix(version_output + n, " version"))
		return NULL;
	return xstrndup(version_output, n);
}

/* Run the runtime with one or two arguments; the exit status and stdout. */
static int run_runtime(const char *runtime, const char *arg1, const char *arg2, int *status, char **out,
                       cryo_err *err)
{
	char *argv[] = {(char *)runtime, (char *)arg1, (char *)arg2, NULL};
	struct proc_opts opts = PROC_OPTS_INIT;
	struct proc_result res;
	opts.capture_stdout = true;
	opts.timeout_ms = RUNTIME_RUN_TIMEOUT_MS;
	int r = proc_run(argv, &opts, &res, err);
	if (r < 0)
		return r;
	*status = res.timed_out ? -1 : res.status;
	*out = move_ptr(res.out);
	proc_result_free(&res);
	return 0;
}

/* What the runtime binary says about itself: version line, name, and whether it
 * has a checkpoint command (the CRIU half is decided per call). */
struct runtime_features {
	char *version, *name;
	bool checkpoint_command;
};

static void features_free(struct runtime_features *f)
{
	free(f->version);
	free(f->name);
}

static int probe_features(const char *runtime, struct runtime_features *f, cryo_err *err)
{
	cleanup_free char *out = NULL;
	int status, r;
	if ((r = run_runtime(runtime, "--version", NULL, &status, &out, err)) < 0)
		return cryo_error_wrap(err, "OCI runtime version");
	if (status != 0)
		return cryo_error_set(err, 0, "`%s --version` exited with status %d", runtime, status);
	f->version = xstrndup(out, strcspn(out, "\n"));
	f->name = runtime_info_parse_name(out);
	if (!f->name) {
		cleanup_free char *copy = xstrdup(runtime);
		f->name = xstrdup(basename(copy));
	}
	if (strcmp(f->name, "crun") == 0) {
		f->checkpoint_command = strstr(out, "+CRIU") != NULL;
	} else {
		cleanup_free char *help = NULL;
		if ((r = run_runtime(runtime, "checkpoint", "--help", &status, &help, err)) < 0) {
			features_free(f);
			return cryo_error_wrap(err, "OCI runtime checkpoint support");
		}
		/* Exit status 0 alone proves little (any program that ignores its
		 * arguments has it); the help text must be about checkpointing. */
		f->checkpoint_command = status == 0 && strstr(help, "checkpoint") != NULL;
	}
	return 0;
}

static bool features_from_cache(struct cryo_engine *engine, const char *fingerprint,
                                struct runtime_features *f)
{
	struct json_object *cached = probe_cache_get(engine, "runtime", fingerprint), *v, *n, *cp;
	if (!cached)
		return false;
	bool ok = json_object_object_get_ex(cached, "version", &v) &&
	          json_object_is_type(v, json_type_string) && json_object_object_get_ex(cached, "name", &n) &&
	          json_object_is_type(n, json_type_string) &&
	          json_object_object_get_ex(cached, "checkpoint_command", &cp) &&
	          json_object_is_type(cp, json_type_boolean);
	if (ok) {
		f->version = xstrdup(json_object_get_string(v));
		f->name = xstrdup(json_object_get_string(n));
		f->checkpoint_command = json_object_get_boolean(cp);
	}
	json_object_put(cached);
	return ok;
}

static void features_to_cache(struct cryo_engine *engine, const char *fingerprint,
                              const struct runtime_features *f)
{
	cleanup_error cryo_err cache_err = NULL;
	struct json_object *entry = json_object_new_object();
	json_object_object_add(entry, "version", json_object_new_string(f->version));
	json_object_object_add(entry, "name", json_object_new_string(f->name));
	json_object_object_add(entry, "checkpoint_command", json_object_new_boolean(f->checkpoint_command));
	/* The cache only saves time; a read-only runroot means probing again. */
	probe_cache_put(engine, "runtime", fingerprint, entry, &cache_err);
	json_object_put(entry);
}

int runtime_info_get(struct cryo_engine *engine, struct runtime_info *info, cryo_err *err)
{
	struct runtime_features f = {0};
	cleanup_free char *fingerprint = probe_cache_fingerprint(engine->runtime_path);
	int r;

	memset(info, 0, sizeof(*info));
	if (fingerprint && features_from_cache(engine, fingerprint, &f)) {
		info->cached = true;
	} else {
		if ((r = probe_features(engine->runtime_path, &f, err)) < 0)
			return cryo_error_wrap(err, "OCI runtime `%s`", engine->runtime_path);
		if (fingerprint)
			features_to_cache(engine, fingerprint, &f);
	}
	info->name = move_ptr(f.name);
	info->version = move_ptr(f.version);
	info->path = xstrdup(engine->runtime_path);

	if (!f.checkpoint_command) {
		info->checkpoint_problem =
		    strcmp(info->name, "crun") == 0
		        ? xstrdup("crun was built without CRIU support (no +CRIU in `crun --version`)")
		        : xasprintf("`%s checkpoint --help` failed: the runtime has no checkpoint command",
		                    info->path);
		return 0;
	}
	cleanup_error cryo_err criu_err = NULL;
	cleanup_free char *criu = NULL;
	if (criu_require(engine, &criu, &criu_err) < 0) {
		info->checkpoint_problem = xstrdup(criu_err->msg);
		return 0;
	}
	info->checkpoint = true;
	return 0;
}

void runtime_info_free(struct runtime_info *info)
{
	free(info->name);
	free(info->path);
	free(info->version);
	free(info->checkpoint_problem);
	memset(info, 0, sizeof(*info));
}
