#include "criu.h"

#include <ctype.h>
#include <json-c/json.h>
#include <libgen.h>
#include <string.h>

#include "criu_stats.pb-c.h"
#include "hwbp.h"
#include "probe_cache.h"
#include "proc.h"
#include "util.h"

/* criu/include/magic.h: service images (stats, irmap cache) start with
 * IMG_SERVICE_MAGIC, then the image's own magic. */
#define CRIU_IMG_SERVICE_MAGIC 0x55105940u
#define CRIU_STATS_MAGIC 0x57093306u
/* Far above any stats_entry; guards against reading junk as a length. */
#define CRIU_STATS_MAX_SIZE 4096u

#define CRIU_RUN_TIMEOUT_MS 30000

int criu_find(char **path, cryo_err *err)
{
	char *found = proc_find_executable(CRIU_PREFERRED_PATH);
	if (!found)
		found = proc_find_executable("criu");
	if (!found)
		return cryo_error_set(err, ENOENT,
		                      "CRIU not found at " CRIU_PREFERRED_PATH
		                      " or in PATH (install CRIU >= " CRIU_MIN_VERSION
		                      ", see scripts/setup.sh)");
	*path = found;
	return 0;
}

int criu_parse_version(const char *output, char **version, cryo_err *err)
{
	const char *line = output;
	while (line && *line) {
		if (str_has_prefix(line, "Version:")) {
			const char *v = line + strlen("Version:");
			while (*v == ' ' || *v == '\t')
				v++;
			size_t n = 0;
			while (v[n] && !isspace((unsigned char)v[n]))
				n++;
			if (n == 0)
				break;
			*version = xstrndup(v, n);
			return 0;
		}
		line = strchr(line, '\n');
		if (line)
			line++;
	}
	return cryo_error_set(err, 0, "no `Version:` line in `criu --version` output");
}

int criu_version(const char *criu, char **version, cryo_err *err)
{
	char *argv[] = {(char *)criu, "--version", NULL};
	struct proc_opts opts = PROC_OPTS_INIT;
	struct proc_result res;
	opts.capture_stdout = opts.capture_stderr = true;
	opts.timeout_ms = CRIU_RUN_TIMEOUT_MS;
	int r = proc_run(argv, &opts, &res, err);
	if (r < 0)
		return cryo_error_wrap(err, "CRIU version");
	if (res.status != 0) {
		r = cryo_error_set(err, 0, "`%s --version` exited with status %d: %s", criu, res.status,
		                   str_rstrip(res.errout));
		proc_result_free(&res);
		return r;
	}
	r = criu_parse_version(res.out, version, err);
	proc_result_free(&res);
	if (r < 0)
		return cryo_error_wrap(err, "`%s --version`", criu);
	return 0;
}

int criu_version_compare(const char *a, const char *b)
{
	while (*a || *b) {
		char *end;
		unsigned long x = strtoul(a, &end, 10);
		a = *end == '.' ? end + 1 : end + strlen(end);
		unsigned long y = strtoul(b, &end, 10);
		b = *end == '.' ? end + 1 : end + strlen(end);
		if (x != y)
			return x < y ? -1 : 1;
	}
	return 0;
}

int criu_check_min_version(const char *version, cryo_err *err)
{
	if (criu_version_compare(version, CRIU_MIN_VERSION) < 0)
		return cryo_error_set(
		    err, 0,
		    "CRIU %s is too old: cryo needs CRIU >= " CRIU_MIN_VERSION
		    " (older releases fail on current kernels; install it at " CRIU_PREFERRED_PATH ")",
		    version);
	return 0;
}

int criu_run_check(const char *criu, char *const *env, bool *passed, char **output, cryo_err *err)
{
	char *argv[] = {(char *)criu, "check", NULL};
	struct proc_opts opts = PROC_OPTS_INIT;
	struct proc_result res;
	opts.env = env;
	opts.capture_stdout = opts.capture_stderr = true;
	opts.timeout_ms = CRIU_RUN_TIMEOUT_MS;
	int r = proc_run(argv, &opts, &res, err);
	if (r < 0)
		return cryo_error_wrap(err, "criu check");
	*passed = res.status == 0 && !res.timed_out;
	*output = NULL;
	if (!*passed) {
		char *text = xasprintf("%s%s%s", res.out, *res.out && *res.errout ? "\n" : "", res.errout);
		str_rstrip(text);
		if (res.timed_out) {
			*output = xasprintf("%s%s(killed after %d s)", text, *text ? "\n" : "",
			                    CRIU_RUN_TIMEOUT_MS / 1000);
			free(text);
		} else {
			*output = text;
		}
	}
	proc_result_free(&res);
	return 0;
}

static char *json_string_dup(struct json_object *obj, const char *key)
{
	struct json_object *v;
	if (!json_object_object_get_ex(obj, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return xstrdup(json_object_get_string(v));
}

static bool info_from_cache(struct cryo_engine *engine, const char *fingerprint, struct criu_info *info)
{
	struct json_object *cached = probe_cache_get(engine, "criu", fingerprint), *passed;
	if (!cached)
		return false;
	info->version = json_string_dup(cached, "version");
	info->check_output = json_string_dup(cached, "check_output");
	bool ok = info->version && json_object_object_get_ex(cached, "check_passed", &passed) &&
	          json_object_is_type(passed, json_type_boolean);
	if (ok)
		info->check_passed = json_object_get_boolean(passed);
	json_object_put(cached);
	if (!ok) {
		free(info->version);
		free(info->check_output);
		info->version = info->check_output = NULL;
	}
	return ok;
}

static void info_to_cache(struct cryo_engine *engine, const char *fingerprint, const struct criu_info *info)
{
	cleanup_error cryo_err cache_err = NULL;
	struct json_object *entry = json_object_new_object();
	json_object_object_add(entry, "version", json_object_new_string(info->version));
	json_object_object_add(entry, "check_passed", json_object_new_boolean(info->check_passed));
	json_object_object_add(entry, "check_output",
	                       info->check_output ? json_object_new_string(info->check_output) : NULL);
	/* The cache only saves time; a read-only runroot means probing again. */
	probe_cache_put(engine, "criu", fingerprint, entry, &cache_err);
	json_object_put(entry);
}

int criu_info_get(struct cryo_engine *engine, struct criu_info *info, cryo_err *err)
{
	cleanup_free char *fingerprint = NULL;
	cleanup_strv char **env = NULL;
	int r;

	memset(info, 0, sizeof(*info));
	if ((r = criu_find(&info->path, err)) < 0)
		return r;
	fingerprint = probe_cache_fingerprint(info->path);
	if (fingerprint && info_from_cache(engine, fingerprint, info)) {
		info->cached = true;
	} else {
		if ((r = criu_version(info->path, &info->version, err)) < 0 ||
		    (r = criu_env(engine, &env, err)) < 0 ||
		    (r = criu_run_check(info->path, env, &info->check_passed, &info->check_output, err)) <
		        0) {
			criu_info_free(info);
			return r;
		}
		if (fingerprint)
			info_to_cache(engine, fingerprint, info);
	}
	info->version_ok = criu_version_compare(info->version, CRIU_MIN_VERSION) >= 0;
	return 0;
}

void criu_info_free(struct criu_info *info)
{
	free(info->path);
	free(info->version);
	free(info->check_output);
	memset(info, 0, sizeof(*info));
}

int criu_require(struct cryo_engine *engine, char **path, cryo_err *err)
{
	struct criu_info info;
	int r = criu_info_get(engine, &info, err);
	if (r < 0)
		return r;
	if ((r = criu_check_min_version(info.version, err)) < 0) {
		cryo_error_wrap(err, "`%s`", info.path);
	} else if (!info.check_passed) {
		r = cryo_error_set(err, 0, "`%s check` failed; CRIU cannot checkpoint on this host:\n%s",
		                   info.path, info.check_output ? info.check_output : "(no output)");
	} else {
		*path = move_ptr(info.path);
	}
	criu_info_free(&info);
	return r;
}

const char *criu_stepping_name(enum criu_stepping mode)
{
	return mode == CRIU_STEPPING_SYSCALL ? "syscall" : "breakpoints";
}

const char *criu_stepping_fault(enum criu_stepping mode)
{
	return mode == CRIU_STEPPING_SYSCALL ? CRIU_FAULT_NO_BREAKPOINTS : NULL;
}

const char *criu_stepping_warning(const struct criu_stepping_choice *choice, const struct hwbp_result *bp)
{
	if (choice->mode != CRIU_STEPPING_BREAKPOINTS || !bp || bp->status != HWBP_NO_FIRE)
		return NULL;
	return "hardware breakpoints do not fire on this machine: every CRIU dump will hang (set "
	       "criu.stepping to \"auto\" or \"syscall\")";
}

enum criu_stepping criu_stepping_for(const char *setting, enum hwbp_status probe)
{
	if (strcmp(setting, "syscall") == 0)
		return CRIU_STEPPING_SYSCALL;
	if (strcmp(setting, "breakpoints") == 0)
		return CRIU_STEPPING_BREAKPOINTS;
	return hwbp_fires(probe) ? CRIU_STEPPING_BREAKPOINTS : CRIU_STEPPING_SYSCALL;
}

char *criu_stepping_reason(const char *setting, const char *origin, const struct hwbp_result *bp)
{
	cleanup_free char *where = origin ? xasprintf("in `%s`", origin) : xstrdup("(the default)");
	if (strcmp(setting, "syscall") == 0)
		return xasprintf("criu.stepping = \"syscall\" %s: every CRIU run gets "
		                 "CRIU_FAULT=" CRIU_FAULT_NO_BREAKPOINTS,
		                 where);
	if (strcmp(setting, "breakpoints") == 0)
		return xasprintf("criu.stepping = \"breakpoints\" %s: CRIU's default, without probing "
		                 "whether hardware breakpoints fire here",
		                 where);
	const char *source = bp->source == HWBP_SOURCE_PROBE   ? "probed now"
	                     : bp->source == HWBP_SOURCE_CACHE ? "probed earlier this boot"
	                                                       : "forced by " HWBP_FORCE_ENV;
	switch (bp->status) {
	case HWBP_FIRE:
		return xasprintf("criu.stepping = \"auto\" %s, and hardware breakpoints fire on this machine "
		                 "(%s): CRIU's default",
		                 where, source);
	case HWBP_NO_FIRE:
		return xasprintf("criu.stepping = \"auto\" %s, and hardware breakpoints do not fire on this "
		                 "machine (%s): CRIU_FAULT=" CRIU_FAULT_NO_BREAKPOINTS
		                 ", or every dump would hang",
		                 where, source);
	case HWBP_UNKNOWN:
		break;
	}
	return xasprintf("criu.stepping = \"auto\" %s, and the breakpoint probe cannot tell on this "
	                 "architecture: CRIU's default",
	                 where);
}

int criu_stepping_decide(struct cryo_engine *engine, const struct hwbp_result *probed,
                         struct criu_stepping_choice *out, cryo_err *err)
{
	memset(out, 0, sizeof(*out));
	out->setting = config_string(engine->config, "criu.stepping");
	out->origin = config_origin(engine->config, "criu.stepping");
	if (strcmp(out->setting, "auto") == 0) {
		if (probed) {
			out->bp = *probed;
		} else if (hwbp_detect(engine, &out->bp, err) < 0) {
			return cryo_error_wrap(err, "choose how CRIU steps (criu.stepping = \"auto\")");
		}
		out->probed = true;
	}
	out->mode = criu_stepping_for(out->setting, out->bp.status);
	out->reason = criu_stepping_reason(out->setting, out->origin, &out->bp);
	return 0;
}

void criu_stepping_choice_free(struct criu_stepping_choice *choice)
{
	free(choice->reason);
	choice->reason = NULL;
}

int criu_env(struct cryo_engine *engine, char ***env, cryo_err *err)
{
	cleanup_strv char **entries = xcalloc(1, sizeof(char *));
	cleanup_free char *criu = NULL;
	struct criu_stepping_choice stepping;
	int r;

	if ((r = criu_stepping_decide(engine, NULL, &stepping, err)) < 0)
		return cryo_error_wrap(err, "CRIU environment");
	const char *fault = criu_stepping_fault(stepping.mode);
	if (fault) {
		cleanup_free char *entry = xasprintf("CRIU_FAULT=%s", fault);
		strv_push(&entries, entry);
	}
	criu_stepping_choice_free(&stepping);

	if ((r = criu_find(&criu, err)) < 0)
		return cryo_error_wrap(err, "CRIU environment");
	const char *dir = dirname(criu);
	const char *path = getenv("PATH");
	size_t n = strlen(dir);
	if (!path || !*path) {
		cleanup_free char *entry =
		    xasprintf("PATH=%s:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", dir);
		strv_push(&entries, entry);
	} else if (!(strncmp(path, dir, n) == 0 && (path[n] == ':' || path[n] == '\0'))) {
		cleanup_free char *entry = xasprintf("PATH=%s:%s", dir, path);
		strv_push(&entries, entry);
	}
	*env = move_ptr(entries);
	return 0;
}

static uint32_t le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void stats_entry_freep(StatsEntry **entry)
{
	if (*entry)
		stats_entry__free_unpacked(*entry, NULL);
}

/* Parse a stats image: magics, length, one StatsEntry. */
static int stats_parse(const void *data, size_t len, const char *what, StatsEntry **out, cryo_err *err)
{
	const unsigned char *p = data;
	size_t off = 0;
	if (len >= 4 && le32(p) == CRIU_IMG_SERVICE_MAGIC)
		off = 4;
	if (len < off + 8 || le32(p + off) != CRIU_STATS_MAGIC)
		return cryo_error_set(err, EINVAL,
		                      "read CRIU statistics `%s`: not a CRIU stats image (bad magic)", what);
	off += 4;
	uint32_t size = le32(p + off);
	off += 4;
	if (size > CRIU_STATS_MAX_SIZE || size > len - off)
		return cryo_error_set(
		    err, EINVAL,
		    "read CRIU statistics `%s`: entry of %u bytes does not fit the %zu-byte file", what, size,
		    len);
	StatsEntry *entry = stats_entry__unpack(NULL, size, p + off);
	if (!entry)
		return cryo_error_set(err, EINVAL, "read CRIU statistics `%s`: malformed stats_entry", what);
	*out = entry;
	return 0;
}

/* Read a stats image from a file. */
static int stats_read(const char *path, StatsEntry **out, cryo_err *err)
{
	cleanup_free char *data = NULL;
	size_t len = 0;

	if (read_file(path, &data, &len, err) < 0)
		return cryo_error_wrap(err, "read CRIU statistics");
	return stats_parse(data, len, path, out, err);
}

static int dump_stats_from(StatsEntry *entry, const char *what, struct criu_dump_stats *stats, cryo_err *err)
{
	if (!entry->dump)
		return cryo_error_set(err, EINVAL, "read CRIU statistics `%s`: no dump statistics in it",
		                      what);
	*stats = (struct criu_dump_stats){
	    .freezing_time = entry->dump->freezing_time,
	    .frozen_time = entry->dump->frozen_time,
	    .memdump_time = entry->dump->memdump_time,
	    .memwrite_time = entry->dump->memwrite_time,
	    .pages_scanned = entry->dump->pages_scanned,
	    .pages_written = entry->dump->pages_written,
	};
	return 0;
}

int criu_stats_parse_dump(const void *data, size_t len, const char *what, struct criu_dump_stats *stats,
                          cryo_err *err)
{
	_cleanup_(stats_entry_freep) StatsEntry *entry = NULL;
	int r = stats_parse(data, len, what, &entry, err);
	return r < 0 ? r : dump_stats_from(entry, what, stats, err);
}

int criu_stats_read_dump(const char *path, struct criu_dump_stats *stats, cryo_err *err)
{
	_cleanup_(stats_entry_freep) StatsEntry *entry = NULL;
	int r = stats_read(path, &entry, err);
	return r < 0 ? r : dump_stats_from(entry, path, stats, err);
}

int criu_stats_read_restore(const char *path, struct criu_restore_stats *stats, cryo_err *err)
{
	_cleanup_(stats_entry_freep) StatsEntry *entry = NULL;
	int r = stats_read(path, &entry, err);
	if (r < 0)
		return r;
	if (!entry->restore)
		return cryo_error_set(err, EINVAL, "read CRIU statistics `%s`: no restore statistics in it",
		                      path);
	*stats = (struct criu_restore_stats){
	    .forking_time = entry->restore->forking_time,
	    .restore_time = entry->restore->restore_time,
	    .pages_restored = entry->restore->has_pages_restored ? entry->restore->pages_restored : 0,
	};
	return 0;
}

static bool is_error_line(const char *line)
{
	return str_has_prefix(line, "Error") || strstr(line, "Error (") != NULL;
}

char *criu_log_errors(const char *log_path, int max_lines)
{
	cleanup_error cryo_err err = NULL;
	cleanup_free char *log = NULL;
	if (max_lines <= 0 || read_file(log_path, &log, NULL, &err) < 0)
		return NULL;

	/* Walk back from the end, collecting the last max_lines error lines. */
	const char **starts = xcalloc((size_t)max_lines, sizeof(char *));
	int found = 0;
	char *end = log + strlen(log);
	while (end > log && found < max_lines) {
		char *line_end = end;
		if (line_end > log && line_end[-1] == '\n')
			line_end--;
		char *line = line_end;
		while (line > log && line[-1] != '\n')
			line--;
		*line_end = '\0';
		if (is_error_line(line))
			starts[found++] = line;
		end = line;
	}
	char *joined = NULL;
	if (found > 0) {
		joined = xstrdup("");
		for (int i = found - 1; i >= 0; i--) {
			char *next =
			    xasprintf("%s%s%s", joined, *joined ? "\n" : "", str_rstrip((char *)starts[i]));
			free(joined);
			joined = next;
		}
	}
	free(starts);
	return joined;
}
