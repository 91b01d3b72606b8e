#include "info.h"

#include "config.h"
#include "criu.h"
#include "hostinfo.h"
#include "hwbp.h"
#include "runtime_info.h"
#include "scratch.h"
#include "util.h"

static struct json_object *string_or_null(const char *s)
{
	return s ? json_object_new_string(s) : NULL;
}

static void add_error(struct json_object *obj, cryo_err *err)
{
	json_object_object_add(obj, "error", json_object_new_string((*err)->msg));
	cryo_error_free(err);
}

/* The host's facts; *bp is the breakpoint probe's answer when *have_bp. */
static struct json_object *host_section(struct cryo_engine *engine, struct hwbp_result *bp, bool *have_bp)
{
	struct json_object *host = json_object_new_object();
	cleanup_error cryo_err err = NULL;
	cleanup_free char *kernel = NULL;
	enum cgroup_mode mode;

	if (hostinfo_kernel_release(&kernel, &err) < 0)
		add_error(host, &err);
	json_object_object_add(host, "kernel", string_or_null(kernel));
	if (hostinfo_cgroup_mode(&mode, &err) < 0) {
		add_error(host, &err);
		json_object_object_add(host, "cgroup_mode", NULL);
		json_object_object_add(host, "freezer", NULL);
	} else {
		json_object_object_add(host, "cgroup_mode", json_object_new_string(cgroup_mode_name(mode)));
		json_object_object_add(
		    host, "freezer", json_object_new_string(freezer_kind_name(hostinfo_freezer_kind(mode))));
	}
	*have_bp = hwbp_detect(engine, bp, &err) == 0;
	if (!*have_bp) {
		add_error(host, &err);
		json_object_object_add(host, "hardware_breakpoints", NULL);
		json_object_object_add(host, "hardware_breakpoints_probe", NULL);
		json_object_object_add(host, "hardware_breakpoints_source", NULL);
	} else {
		json_object_object_add(host, "hardware_breakpoints",
		                       json_object_new_boolean(hwbp_fires(bp->status)));
		json_object_object_add(host, "hardware_breakpoints_probe",
		                       json_object_new_string(hwbp_status_name(bp->status)));
		json_object_object_add(host, "hardware_breakpoints_source",
		                       json_object_new_string(hwbp_source_name(bp->source)));
	}
	return host;
}

/* How a checkpoint on this host will freeze and how CRIU will step, and why. */
static struct json_object *checkpoint_section(struct cryo_engine *engine, const struct hwbp_result *bp,
                                              bool have_bp)
{
	struct json_object *cp = json_object_new_object();
	cleanup_error cryo_err err = NULL;
	struct criu_stepping_choice stepping;
	enum cgroup_mode mode;

	if (hostinfo_cgroup_mode(&mode, &err) < 0) {
		add_error(cp, &err);
		json_object_object_add(cp, "freezer", NULL);
		json_object_object_add(cp, "freezer_reason", NULL);
	} else {
		enum freezer_kind kind = hostinfo_freezer_kind(mode);
		json_object_object_add(cp, "freezer", json_object_new_string(freezer_kind_name(kind)));
		json_object_object_add(cp, "freezer_reason",
		                       json_object_new_string(hostinfo_freezer_reason(mode, kind)));
	}
	if (criu_stepping_decide(engine, have_bp ? bp : NULL, &stepping, &err) < 0) {
		add_error(cp, &err);
		json_object_object_add(cp, "criu_stepping", NULL);
		json_object_object_add(cp, "criu_stepping_reason", NULL);
		json_object_object_add(cp, "criu_fault_injection", NULL);
		return cp;
	}
	const char *fault = criu_stepping_fault(stepping.mode);
	const char *warning = criu_stepping_warning(&stepping, have_bp ? bp : NULL);
	json_object_object_add(cp, "criu_stepping",
	                       json_object_new_string(criu_stepping_name(stepping.mode)));
	json_object_object_add(cp, "criu_stepping_setting", json_object_new_string(stepping.setting));
	json_object_object_add(cp, "criu_stepping_reason", json_object_new_string(stepping.reason));
	json_object_object_add(cp, "criu_fault_injection", fault ? json_object_new_string(fault) : NULL);
	if (warning)
		json_object_object_add(cp, "warning", json_object_new_string(warning));
	criu_stepping_choice_free(&stepping);
	return cp;
}

static struct json_object *criu_section(struct cryo_engine *engine)
{
	struct json_object *criu = json_object_new_object();
	cleanup_error cryo_err err = NULL;
	cleanup_strv char **env = NULL;
	struct criu_info info;

	if (criu_info_get(engine, &info, &err) < 0) {
		json_object_object_add(criu, "path", NULL);
		json_object_object_add(criu, "version", NULL);
		json_object_object_add(criu, "check_passed", json_object_new_boolean(false));
		add_error(criu, &err);
		return criu;
	}
	json_object_object_add(criu, "path", json_object_new_string(info.path));
	json_object_object_add(criu, "version", json_object_new_string(info.version));
	json_object_object_add(criu, "min_version", json_object_new_string(CRIU_MIN_VERSION));
	json_object_object_add(criu, "version_ok", json_object_new_boolean(info.version_ok));
	json_object_object_add(criu, "check_passed", json_object_new_boolean(info.check_passed));
	json_object_object_add(criu, "check_output", string_or_null(info.check_output));
	json_object_object_add(criu, "cached", json_object_new_boolean(info.cached));
	criu_info_free(&info);

	struct json_object *list = json_object_new_array();
	if (criu_env(engine, &env, &err) < 0)
		add_error(criu, &err);
	for (char **e = env; e && *e; e++)
		json_object_array_add(list, json_object_new_string(*e));
	json_object_object_add(criu, "env", list);
	return criu;
}

static struct json_object *runtime_section(struct cryo_engine *engine)
{
	struct json_object *rt = json_object_new_object();
	cleanup_error cryo_err err = NULL;
	struct runtime_info info;

	if (runtime_info_get(engine, &info, &err) < 0) {
		json_object_object_add(rt, "path", json_object_new_string(engine->runtime_path));
		json_object_object_add(rt, "checkpoint", json_object_new_boolean(false));
		add_error(rt, &err);
		return rt;
	}
	json_object_object_add(rt, "name", json_object_new_string(info.name));
	json_object_object_add(rt, "path", json_object_new_string(info.path));
	json_object_object_add(rt, "version", json_object_new_string(info.version));
	json_object_object_add(rt, "checkpoint", json_object_new_boolean(info.checkpoint));
	json_object_object_add(rt, "checkpoint_problem", string_or_null(info.checkpoint_problem));
	json_object_object_add(rt, "cached", json_object_new_boolean(info.cached));
	runtime_info_free(&info);
	return rt;
}

struct json_object *info_json(struct cryo_engine *engine)
{
	struct json_object *info = json_object_new_object();
	struct json_object *store = json_object_new_object();
	struct hwbp_result bp;
	bool have_bp;

	json_object_object_add(info, "version", json_object_new_string(CRYO_VERSION));
	json_object_object_add(info, "host", host_section(engine, &bp, &have_bp));
	json_object_object_add(info, "checkpoint", checkpoint_section(engine, &bp, have_bp));
	json_object_object_add(info, "criu", criu_section(engine));
	json_object_object_add(info, "runtime", runtime_section(engine));
	json_object_object_add(store, "root", json_object_new_string(engine->root));
	json_object_object_add(store, "runroot", json_object_new_string(engine->runroot));
	json_object_object_add(store, "config", string_or_null(config_source(engine->config)));
	/* Scratch space (scratch.h): what dead commands had left, removed when
	 * this command opened the engine, and what running ones use now. */
	struct scratch_usage in_use = {0};
	scratch_in_use(engine, &in_use, NULL);
	json_object_object_add(store, "leftovers_removed_bytes",
	                       json_object_new_int64((int64_t)engine->leftovers_removed->bytes));
	json_object_object_add(store, "scratch_in_use_bytes", json_object_new_int64((int64_t)in_use.bytes));
	json_object_object_add(info, "store", store);
	return info;
}
