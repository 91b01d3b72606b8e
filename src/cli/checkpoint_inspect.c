/* cryo checkpoint inspect */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "checkpoint_inspect.h"
#include "cli.h"
#include "commands.h"
#include "engine.h"
#include "layout.h"
#include "state.h"
#include "trust.h"
#include "util.h"

static const char usage[] =
    "Usage: cryo checkpoint inspect [OPTIONS] FILE|CONTAINER\n\n"
    "Show what a checkpoint holds without restoring or extracting it: a checkpoint\n"
    "archive (cryo's own, or one exported by `podman container checkpoint --export`)\n"
    "or the checkpoint the engine keeps for a container.\n\n"
    "Options:\n"
    "  -p, --ps-tree       the process tree, with each process's command\n"
    "  -F, --files         the open files of each process\n"
    "  -m, --mounts        the container's mounts\n"
    "  -s, --stats         CRIU's statistics of the dump\n"
    "  -A, --all           all of the above\n"
    "      --format FORMAT table (default) or json\n";

static const char *str(struct json_object *o, const char *key)
{
	struct json_object *v;
	return o && json_object_object_get_ex(o, key, &v) ? json_object_get_string(v) : NULL;
}

/* The same, "" when absent. */
static const char *strz(struct json_object *o, const char *key)
{
	const char *s = str(o, key);
	return s ? s : "";
}

static int64_t num(struct json_object *o, const char *key)
{
	struct json_object *v;
	return o && json_object_object_get_ex(o, key, &v) ? json_object_get_int64(v) : 0;
}

/* Binary sizes, as checkpointctl shows them: "338.2 MiB", "177.0 KiB". */
static char *human_size(int64_t bytes)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	double v = (double)bytes;
	size_t u = 0;
	while (v >= 1024 && u + 1 < ARRAY_SIZE(units)) {
		v /= 1024;
		u++;
	}
	return u == 0 ? xasprintf("%lld B", (long long)bytes) : xasprintf("%.1f %s", v, units[u]);
}

static void row(const char *key, const char *value)
{
	if (value && *value)
		printf("%-16s %s\n", key, value);
}

static void print_summary(struct json_object *o)
{
	struct json_object *c = NULL, *sig = NULL, *sizes = NULL;
	json_object_object_get_ex(o, "container", &c);
	json_object_object_get_ex(o, "signature", &sig);
	json_object_object_get_ex(o, "sizes", &sizes);
	cleanup_free char *engine = str(o, "engine_version")
	                                ? xasprintf("%s %s", str(o, "engine"), str(o, "engine_version"))
	                                : xstrdup(str(o, "engine"));
	cleanup_free char *runtime =
	    str(c, "runtime_version")
	        ? xasprintf("%s (%s)", str(c, "runtime") ? str(c, "runtime") : "?", str(c, "runtime_version"))
	        : xstrdup(str(c, "runtime") ? str(c, "runtime") : "");
	cleanup_free char *signature = str(sig, "key")
	                                   ? xasprintf("%s (key %s)", str(sig, "status"), str(sig, "key"))
	                                   : xstrdup(str(sig, "status"));
	row("Engine:", engine);
	row("Container:", str(c, "name"));
	row("ID:", str(c, "id"));
	row("Image:", str(c, "image"));
	row("Image ID:", str(c, "image_id"));
	row("Runtime:", runtime);
	row("CRIU:", str(o, "criu_version"));
	row("Created:", str(c, "created"));
	row("Checkpointed:", str(c, "checkpointed"));
	row("Signature:", signature);
	row("", str(sig, "reason"));
	static const struct {
		const char *key, *label;
	} size_rows[] = {{"memory_pages", "Memory pages:"},
	                 {"checkpoint", "CRIU images:"},
	                 {"rootfs_diff", "Root FS diff:"},
	                 {"volumes", "Volumes:"},
	                 {"total", "Total:"}};
	for (size_t i = 0; i < ARRAY_SIZE(size_rows); i++) {
		cleanup_free char *s = human_size(num(sizes, size_rows[i].key));
		row(size_rows[i].label, s);
	}
}

static void print_process(struct json_object *p, size_t depth)
{
	/* Indentation stops growing at 32 levels: a hostile chain of tasks stays readable. */
	int indent = (int)(depth > 32 ? 32 : depth) * 2;
	printf("%-8lld %-8lld %-8lld %*s%s\n", (long long)num(p, "pid"), (long long)num(p, "ppid"),
	       (long long)num(p, "threads"), indent, "", strz(p, "command"));
}

/* Each process under its parent, indented by depth: an index of children by
 * parent and an explicit stack, so a hostile tree (a million tasks, a chain,
 * a cycle) costs linear time and no deep recursion. Tasks that no root
 * reaches (a cycle) are printed last, as roots. */
static void print_processes(struct json_object *procs)
{
	size_t n = json_object_array_length(procs);
	struct json_object *pids = json_object_new_object(), *children = json_object_new_object(), *v;
	char key[32];
	for (size_t i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "%lld",
		         (long long)num(json_object_array_get_idx(procs, i), "pid"));
		json_object_object_add(pids, key, NULL);
	}
	for (size_t i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "%lld",
		         (long long)num(json_object_array_get_idx(procs, i), "ppid"));
		if (!json_object_object_get_ex(children, key, &v)) {
			v = json_object_new_array();
			json_object_object_add(children, key, v);
		}
		json_object_array_add(v, json_object_new_int64((int64_t)i));
	}
	cleanup_free bool *seen = xcalloc(n ? n : 1, sizeof(bool));
	cleanup_free size_t *stack = xcalloc(n ? n : 1, sizeof(size_t));
	cleanup_free size_t *depth = xcalloc(n ? n : 1, sizeof(size_t));
	printf("\nPID      PPID     THREADS  COMMAND\n");
	for (int pass = 0; pass < 2; pass++) {
		for (size_t r = 0; r < n; r++) {
			struct json_object *p = json_object_array_get_idx(procs, r);
			snprintf(key, sizeof(key), "%lld", (long long)num(p, "ppid"));
			/* first the roots (parent not in the checkpoint), then whatever is left */
			if (seen[r] || (pass == 0 && json_object_object_get_ex(pids, key, NULL)))
				continue;
			size_t top = 0;
			stack[top] = r, depth[top++] = 0;
			seen[r] = true;
			while (top > 0) {
				top--;
				size_t i = stack[top], d = depth[top];
				struct json_object *task = json_object_array_get_idx(procs, i);
				print_process(task, d);
				snprintf(key, sizeof(key), "%lld", (long long)num(task, "pid"));
				if (!json_object_object_get_ex(children, key, &v))
					continue;
				/* pushed in reverse, so children print in the archive's order */
				for (size_t k = json_object_array_length(v); k > 0; k--) {
					size_t c = (size_t)json_object_get_int64(
					    json_object_array_get_idx(v, k - 1));
					if (seen[c])
						continue;
					seen[c] = true;
					stack[top] = c, depth[top++] = d + 1;
				}
			}
		}
	}
	json_object_put(pids);
	json_object_put(children);
}

static void print_files(struct json_object *files)
{
	printf("\nPID      FD     TYPE       PATH\n");
	for (size_t i = 0; i < json_object_array_length(files); i++) {
		struct json_object *f = json_object_array_get_idx(files, i);
		printf("%-8lld %-6lld %-10s %s\n", (long long)num(f, "pid"), (long long)num(f, "fd"),
		       strz(f, "type"), strz(f, "path"));
	}
}

static void print_mounts(struct json_object *mounts)
{
	printf("\nMOUNTPOINT                     TYPE       SOURCE\n");
	for (size_t i = 0; i < json_object_array_length(mounts); i++) {
		struct json_object *m = json_object_array_get_idx(mounts, i);
		printf("%-30s %-10s %s\n", strz(m, "mountpoint"), strz(m, "fstype"), strz(m, "source"));
	}
}

static void print_stats(struct json_object *s)
{
	printf("\nCRIU dump statistics\n");
	json_object_object_foreach (s, key, v) {
		cleanup_free char *label = xasprintf("%s:", key);
		printf("  %-16s %s%s\n", label, json_object_get_string(v),
		       str_has_suffix(key, "_time") ? " us" : "");
	}
}

static void print_table(struct json_object *o)
{
	struct json_object *v;
	print_summary(o);
	if (json_object_object_get_ex(o, "processes", &v))
		print_processes(v);
	if (json_object_object_get_ex(o, "files", &v))
		print_files(v);
	if (json_object_object_get_ex(o, "mounts", &v))
		print_mounts(v);
	if (json_object_object_get_ex(o, "stats", &v))
		print_stats(v);
}

/* A file is an archive; anything else names a container, whose checkpoint
 * the engine keeps. */
static int inspect(struct cli *cli, const char *what, const struct checkpoint_inspect_opts *base,
                   struct json_object **out, cryo_err *err)
{
	struct cryo_engine *engine;
	struct checkpoint_inspect_opts opts = *base;
	struct trusted_keys keys = {0};
	struct extract_limits limits;
	struct stat st;
	bool file = stat(what, &st) == 0 && !S_ISDIR(st.st_mode);
	if (cli_engine(cli, &engine) < 0)
		return -1;
	int r = trust_known_keys(engine, &keys, err);
	opts.keys = &keys;
	/* The engine's import limits: what it would accept is what it reads. */
	extract_limits_from_config(engine->config, &limits);
	opts.limits = &limits;
	if (r == 0 && file) {
		r = checkpoint_inspect_archive(what, &opts, out, err);
	} else if (r == 0) {
		_cleanup_(container_freep) struct container *c = NULL;
		r = state_container_get(engine, what, &c, err);
		if (r == -ENOENT && strchr(what, '/'))
			r = cryo_error_plain(err, ENOENT, "no checkpoint archive `%s` (no such file)", what);
		cleanup_free char *dir = r == 0 ? layout_checkpoint_dir(engine->root, c->id) : NULL;
		if (r == 0 && !path_exists(dir))
			r = cryo_error_plain(
			    err, ENOENT,
			    "container `%s` has no checkpoint kept by the engine (`cryo checkpoint %s` "
			    "makes one)",
			    c->name, c->name);
		if (r == 0)
			r = checkpoint_inspect_dir(dir, &opts, out, err);
	}
	trusted_keys_clear(&keys);
	return r;
}

int cmd_checkpoint_inspect(struct cli *cli, int argc, char **argv)
{
	enum { OPT_FORMAT = 256 };
	static const struct option longopts[] = {
	    {"ps-tree", no_argument, NULL, 'p'}, {"files", no_argument, NULL, 'F'},
	    {"mounts", no_argument, NULL, 'm'},  {"stats", no_argument, NULL, 's'},
	    {"all", no_argument, NULL, 'A'},     {"format", required_argument, NULL, OPT_FORMAT},
	    {"help", no_argument, NULL, 'h'},    {},
	};
	struct checkpoint_inspect_opts opts = {0};
	bool json = false;
	int c, code = 0;

	cli_getopt_reset();
	while ((c = cli_getopt(cli, argc, argv, "pFmsAh", longopts, &code)) != -1) {
		switch (c) {
		case 'p':
			opts.ps_tree = true;
			break;
		case 'F':
			opts.files = true;
			break;
		case 'm':
			opts.mounts = true;
			break;
		case 's':
			opts.stats = true;
			break;
		case 'A':
			opts.ps_tree = opts.files = opts.mounts = opts.stats = true;
			break;
		case OPT_FORMAT:
			if (strcmp(optarg, "json") != 0 && strcmp(optarg, "table") != 0)
				return cli_usage_error(cli, "unsupported format `%s`: use table or json",
				                       optarg);
			json = strcmp(optarg, "json") == 0;
			break;
		case 'h':
			printf("%s", usage);
			return 0;
		default:
			return code;
		}
	}
	if (argc - optind != 1)
		return cli_usage_error(cli, "exactly one checkpoint archive or container is required");
	cleanup_error cryo_err err = NULL;
	struct json_object *o = NULL;
	if (inspect(cli, argv[optind], &opts, &o, &err) < 0)
		return err ? cli_fail(&err) : EXIT_ENGINE;
	if (json)
		cli_print_json(o);
	else
		print_table(o);
	json_object_put(o);
	return 0;
}
