#include "container.h"

#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "attach.h"
#include "image.h"
#include "layout.h"
#include "lock.h"
#include "monitor.h"
#include "overlay.h"
#include "passwd.h"
#include "pathsafe.h"
#include "runtime.h"
#include "security.h"
#include "spec.h"
#include "util.h"
#include "volume.h"

/* ---- paths ---- */

char *container_dir(struct cryo_engine *engine, const char *id)
{
	return layout_container_dir(engine->root, id);
}
char *container_upper_dir(struct cryo_engine *engine, const char *id)
{
	return layout_container_upper(engine->root, id);
}
char *container_rootfs_dir(struct cryo_engine *engine, const char *id)
{
	return layout_container_rootfs(engine->root, id);
}
char *container_log_path(struct cryo_engine *engine, const char *id)
{
	return layout_container_log(engine->root, id);
}
char *container_bundle_dir(struct cryo_engine *engine, const char *id)
{
	return container_dir(engine, id);
}

void container_monitor_opts(struct cryo_engine *engine, const char *id, bool auto_remove,
                            struct monitor_opts *out)
{
	*out = (struct monitor_opts){.auto_remove = auto_remove};
	cleanup_container struct container *c = NULL;
	if (state_container_get(engine, id, &c, NULL) != 0)
		return;
	struct container_config cfg;
	if (container_config_from_json(c->config, &cfg, NULL) != 0)
		return;
	out->terminal = cfg.terminal;
	out->interactive = cfg.interactive;
	out->read_only = cfg.read_only;
	container_config_free(&cfg);
}

bool container_is_active(const struct container *c)
{
	return c->state == CONTAINER_RUNNING || c->state == CONTAINER_PAUSED;
}

/* ---- configuration ---- */

void container_config_free(struct container_config *cfg)
{
	strv_free(cfg->command);
	strv_free(cfg->env);
	free(cfg->workdir);
	free(cfg->user);
	free(cfg->hostname);
	free(cfg->network);
	free(cfg->ip);
	free(cfg->mac);
	network_ports_free(cfg->ports, cfg->n_ports);
	for (size_t i = 0; i < cfg->n_mounts; i++) {
		free(cfg->mounts[i].source);
		free(cfg->mounts[i].destination);
	}
	free(cfg->mounts);
	strv_free(cfg->cap_add);
	strv_free(cfg->cap_drop);
	strv_free(cfg->labels);
	strv_free(cfg->engine_files);
	memset(cfg, 0, sizeof(*cfg));
}

static struct json_object *strv_to_json(char *const *strv)
{
	struct json_object *a = json_object_new_array();
	for (size_t i = 0; strv && strv[i]; i++)
		json_object_array_add(a, json_object_new_string(strv[i]));
	return a;
}

static char **strv_from_json(struct json_object *a)
{
	char **v = xcalloc(1, sizeof(char *));
	if (!a || !json_object_is_type(a, json_type_array))
		return v;
	for (size_t i = 0; i < json_object_array_length(a); i++)
		strv_push(&v, json_object_get_string(json_object_array_get_idx(a, i)));
	return v;
}

struct json_object *container_config_to_json(const struct container_config *cfg)
{
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "command", strv_to_json(cfg->command));
	json_object_object_add(o, "env", strv_to_json(cfg->env));
	json_object_object_add(o, "workdir", json_object_new_string(cfg->workdir ? cfg->workdir : "/"));
	json_object_object_add(o, "user", json_object_new_string(cfg->user ? cfg->user : ""));
	json_object_object_add(o, "hostname", json_object_new_string(cfg->hostname ? cfg->hostname : ""));
	json_object_object_add(o, "network", json_object_new_string(cfg->network ? cfg->network : "none"));
	if (cfg->ip)
		json_object_object_add(o, "ip", json_object_new_string(cfg->ip));
	if (cfg->mac)
		json_object_object_add(o, "mac", json_object_new_string(cfg->mac));
	if (cfg->n_ports > 0)
		json_object_object_add(o, "ports", network_ports_to_json(cfg->ports, cfg->n_ports));
	struct json_object *mounts = json_object_new_array();
	for (size_t i = 0; i < cfg->n_mounts; i++) {
		struct json_object *m = json_object_new_object();
		static const char *const kinds[] = {
		    [MOUNT_VOLUME] = "volume", [MOUNT_BIND] = "bind", [MOUNT_TMPFS] = "tmpfs"};
		json_object_object_add(m, "type", json_object_new_string(kinds[cfg->mounts[i].kind]));
		json_object_object_add(m, "source", json_object_new_string(cfg->mounts[i].source));
		json_object_object_add(m, "destination", json_object_new_string(cfg->mounts[i].destination));
		json_object_object_add(m, "readonly", json_object_new_boolean(cfg->mounts[i].readonly));
		json_object_array_add(mounts, m);
	}
	json_object_object_add(o, "mounts", mounts);
	json_object_object_add(o, "memory_limit", json_object_new_int64(cfg->memory_limit));
	json_object_object_add(o, "pids_limit", json_object_new_int64(cfg->pids_limit));
	json_object_object_add(o, "auto_remove", json_object_new_boolean(cfg->auto_remove));
	if (cfg->cap_add && cfg->cap_add[0])
		json_object_object_add(o, "cap_add", strv_to_json(cfg->cap_add));
	if (cfg->cap_drop && cfg->cap_drop[0])
		json_object_object_add(o, "cap_drop", strv_to_json(cfg->cap_drop));
	if (cfg->terminal)
		json_object_object_add(o, "terminal", json_object_new_boolean(1));
	if (cfg->interactive)
		json_object_object_add(o, "interactive", json_object_new_boolean(1));
	if (cfg->read_only)
		json_object_object_add(o, "read_only", json_object_new_boolean(1));
	if (cfg->labels && cfg->labels[0])
		json_object_object_add(o, "labels", strv_to_json(cfg->labels));
	if (cfg->engine_files && cfg->engine_files[0])
		json_object_object_add(o, "engine_files", strv_to_json(cfg->engine_files));
	return o;
}

static const char *json_str(struct json_object *o, const char *key, const char *fallback)
{
	struct json_object *v;
	if (json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string))
		return json_object_get_string(v);
	return fallback;
}

/* A stored path (a configuration written by an older cryo, which accepted
 * them, or an archive) in its one clean spelling: empty and `.` components
 * and a trailing `/` dropped, in place. `..` stays, for the validation to
 * refuse; a relative path is left as it is. */
static void path_tidy(char *p)
{
	if (p[0] != '/')
		return;
	char *out = p;
	for (const char *s = p; *s;) {
		while (*s == '/')
			s++;
		const char *e = strchrnul(s, '/');
		if (e == s || (e - s == 1 && *s == '.')) {
			s = e;
			continue;
		}
		*out++ = '/';
		memmove(out, s, (size_t)(e - s));
		out += e - s;
		s = e;
	}
	if (out == p)
		*out++ = '/';
	*out = '\0';
}

int container_config_from_json(const char *json, struct container_config *cfg, cryo_err *err)
{
	struct json_object *o = json_tokener_parse(json ? json : ""), *v;
	memset(cfg, 0, sizeof(*cfg));
	if (!o || !json_object_is_type(o, json_type_object)) {
		if (o)
			json_object_put(o);
		return cryo_error_set(err, EINVAL, "container configuration is not a JSON object");
	}
	cfg->command = strv_from_json(json_object_object_get_ex(o, "command", &v) ? v : NULL);
	cfg->env = strv_from_json(json_object_object_get_ex(o, "env", &v) ? v : NULL);
	cfg->workdir = xstrdup(json_str(o, "workdir", "/"));
	cfg->user = xstrdup(json_str(o, "user", ""));
	cfg->hostname = xstrdup(json_str(o, "hostname", ""));
	cfg->network = xstrdup(json_str(o, "network", "none"));
	if (json_str(o, "ip", NULL))
		cfg->ip = xstrdup(json_str(o, "ip", NULL));
	if (json_str(o, "mac", NULL))
		cfg->mac = xstrdup(json_str(o, "mac", NULL));
	if (json_object_object_get_ex(o, "ports", &v) &&
	    network_ports_from_json(v, &cfg->ports, &cfg->n_ports, err) < 0) {
		json_object_put(o);
		container_config_free(cfg);
		return cryo_error_wrap(err, "container configuration");
	}
	if (json_object_object_get_ex(o, "mounts", &v) && json_object_is_type(v, json_type_array)) {
		size_t n = json_object_array_length(v);
		cfg->mounts = xcalloc(n, sizeof(*cfg->mounts));
		for (size_t i = 0; i < n; i++) {
			struct json_object *m = json_object_array_get_idx(v, i), *ro;
			const char *type = json_str(m, "type", "bind");
			cfg->mounts[i].kind = strcmp(type, "volume") == 0  ? MOUNT_VOLUME
			                      : strcmp(type, "tmpfs") == 0 ? MOUNT_TMPFS
			                                                   : MOUNT_BIND;
			cfg->mounts[i].source = xstrdup(json_str(m, "source", ""));
			cfg->mounts[i].destination = xstrdup(json_str(m, "destination", ""));
			path_tidy(cfg->mounts[i].destination);
			if (cfg->mounts[i].kind == MOUNT_BIND)
				path_tidy(cfg->mounts[i].source);
			cfg->mounts[i].readonly =
			    json_object_object_get_ex(m, "readonly", &ro) && json_object_get_boolean(ro);
		}
		cfg->n_mounts = n;
	}
	if (json_object_object_get_ex(o, "memory_limit", &v))
		cfg->memory_limit = json_object_get_int64(v);
	if (json_object_object_get_ex(o, "pids_limit", &v))
		cfg->pids_limit = json_object_get_int64(v);
	if (json_object_object_get_ex(o, "auto_remove", &v))
		cfg->auto_remove = json_object_get_boolean(v);
	cfg->terminal = json_object_object_get_ex(o, "terminal", &v) && json_object_get_boolean(v);
	cfg->interactive = json_object_object_get_ex(o, "interactive", &v) && json_object_get_boolean(v);
	cfg->read_only = json_object_object_get_ex(o, "read_only", &v) && json_object_get_boolean(v);
	cfg->labels = strv_from_json(json_object_object_get_ex(o, "labels", &v) ? v : NULL);
	cfg->engine_files = strv_from_json(json_object_object_get_ex(o, "engine_files", &v) ? v : NULL);
	int r = 0;
	const char *lists[] = {"cap_add", "cap_drop"};
	char ***outs[] = {&cfg->cap_add, &cfg->cap_drop};
	for (size_t l = 0; l < 2 && r == 0; l++) {
		cleanup_strv char **given =
		    strv_from_json(json_object_object_get_ex(o, lists[l], &v) ? v : NULL);
		*outs[l] = xcalloc(1, sizeof(char *));
		for (size_t i = 0; given[i] && r == 0; i++) {
			cleanup_free char *cap = NULL;
			if ((r = security_cap_normalize(given[i], &cap, err)) == 0)
				strv_push(outs[l], cap);
		}
	}
	json_object_put(o);
	if (r < 0) {
		container_config_free(cfg);
		return cryo_error_wrap(err, "container configuration");
	}
	return 0;
}

/* Clean: the one spelling of an absolute path, `/` or `/`-separated names
 * none of which is empty, `.` or `..` (no `//`, no trailing `/`). Paths are
 * compared as strings (two mounts at one destination), and `//` must not pass
 * for anything but the root. */
static bool path_is_clean_absolute(const char *p)
{
	if (p[0] != '/')
		return false;
	if (p[1] == '\0')
		return true;
	for (const char *s = p + 1;; s++) {
		const char *e = strchrnul(s, '/');
		if (e == s || (e - s == 2 && strncmp(s, "..", 2) == 0) || (e - s == 1 && *s == '.'))
			return false;
		if (*e == '\0')
			return true;
		s = e;
	}
}

int container_mount_parse(const char *arg, struct container_mount *out, cryo_err *err)
{
	cleanup_free char *copy = xstrdup(arg);
	char *parts[4] = {0};
	size_t n = 0;
	char *save = NULL;
	for (char *t = strtok_r(copy, ":", &save); t; t = strtok_r(NULL, ":", &save)) {
		if (n == 3)
			return cryo_error_set(err, EINVAL,
			                      "malformed volume `%s`: expected SOURCE:/DEST[:ro|rw]", arg);
		parts[n++] = t;
	}
	if (n < 2 || arg[0] == ':' || strstr(arg, "::"))
		return cryo_error_set(err, EINVAL, "malformed volume `%s`: expected SOURCE:/DEST[:ro|rw]",
		                      arg);
	bool readonly = false;
	if (n == 3) {
		if (strcmp(parts[2], "ro") == 0)
			readonly = true;
		else if (strcmp(parts[2], "rw") != 0)
			return cryo_error_set(
			    err, EINVAL, "malformed volume `%s`: option `%s` is not ro or rw", arg, parts[2]);
	}
	if (!path_is_clean_absolute(parts[1]) || strcmp(parts[1], "/") == 0)
		return cryo_error_set(err, EINVAL,
		                      "malformed volume `%s`: destination `%s` must be a clean absolute path "
		                      "below / (no `.`, `..`, `//` or trailing `/`)",
		                      arg, parts[1]);
	enum mount_kind kind;
	if (parts[0][0] == '/') {
		struct stat st;
		if (!path_is_clean_absolute(parts[0]))
			return cryo_error_set(err, EINVAL,
			                      "malformed volume `%s`: source `%s` must be a clean absolute "
			                      "path (no `.`, `..`, `//` or trailing `/`)",
			                      arg, parts[0]);
		if (stat(parts[0], &st) < 0)
			return cryo_error_set(err, errno, "volume `%s`: host path `%s`", arg, parts[0]);
		kind = MOUNT_BIND;
	} else {
		if (!name_is_valid(parts[0]))
			return cryo_error_set(err, EINVAL,
			                      "malformed volume `%s`: `%s` is neither an absolute host path "
			                      "nor a valid volume name",
			                      arg, parts[0]);
		kind = MOUNT_VOLUME;
	}
	out->kind = kind;
	out->source = xstrdup(parts[0]);
	out->destination = xstrdup(parts[1]);
	out->readonly = readonly;
	return 0;
}

static bool hostname_is_valid(const char *h)
{
	size_t n = strlen(h);
	if (n > 64 || (n > 0 && (h[0] == '-' || h[0] == '.')))
		return false;
	return strspn(h, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") == n;
}

static bool user_is_valid(const char *u)
{
	if (!*u || strcmp(u, "root") == 0)
		return true;
	size_t uid = strspn(u, "0123456789");
	if (uid == 0 || uid > 10)
		return false;
	if (u[uid] == '\0')
		return true;
	size_t gid = strspn(u + uid + 1, "0123456789");
	return u[uid] == ':' && gid > 0 && gid <= 10 && u[uid + 1 + gid] == '\0';
}

/* A tmpfs option's number: digits and, where allowed, one suffix. */
static bool tmpfs_number_is_valid(const char *v, const char *suffixes)
{
	size_t digits = strspn(v, "0123456789");
	if (digits == 0 || digits > 19)
		return false;
	if (v[digits] == '\0')
		return true;
	return v[digits + 1] == '\0' && strchr(suffixes, v[digits]);
}

int container_tmpfs_options_validate(const char *options, cryo_err *err)
{
	static const char *const flags[] = {"ro",    "rw",    "exec",    "noexec",   "nosuid",
	                                    "nodev", "atime", "noatime", "relatime", NULL};
	if (strlen(options) > 1024)
		return cryo_error_plain(err, EINVAL, "tmpfs options are longer than 1024 bytes");
	if (!options[0])
		return 0;
	cleanup_free char *copy = xstrdup(options);
	char *save = NULL;
	for (char *o = strtok_r(copy, ",", &save); o; o = strtok_r(NULL, ",", &save)) {
		bool ok = false;
		for (size_t i = 0; flags[i] && !ok; i++)
			ok = strcmp(o, flags[i]) == 0;
		if (str_has_prefix(o, "size="))
			ok = tmpfs_number_is_valid(o + 5, "kmgKMG%");
		else if (str_has_prefix(o, "nr_inodes="))
			ok = tmpfs_number_is_valid(o + 10, "kmgKMG");
		else if (str_has_prefix(o, "uid="))
			ok = tmpfs_number_is_valid(o + 4, "") && strtoull(o + 4, NULL, 10) <= UINT32_MAX;
		else if (str_has_prefix(o, "gid="))
			ok = tmpfs_number_is_valid(o + 4, "") && strtoull(o + 4, NULL, 10) <= UINT32_MAX;
		else if (str_has_prefix(o, "mode="))
			ok = o[5] && strlen(o + 5) <= 4 && strspn(o + 5, "01234567") == strlen(o + 5);
		if (!ok)
			return cryo_error_plain(
			    err, EINVAL,
			    "tmpfs option `%s` is not one of size=N[k|m|g|%%], nr_inodes=N[k|m|g], "
			    "mode=OCTAL, uid=N, gid=N, ro, rw, exec, noexec, nosuid, nodev, atime, "
			    "noatime, relatime",
			    o);
	}
	/* strtok_r skips empty fields: ",," or a trailing comma is junk too */
	if (options[0] == ',' || options[strlen(options) - 1] == ',' || strstr(options, ",,"))
		return cryo_error_plain(err, EINVAL, "tmpfs options `%s` have an empty option", options);
	return 0;
}

int container_tmpfs_parse(const char *arg, struct container_mount *out, cryo_err *err)
{
	const char *colon = strchr(arg, ':');
	cleanup_free char *dest = colon ? xstrndup(arg, (size_t)(colon - arg)) : xstrdup(arg);
	const char *options = colon ? colon + 1 : "";
	if (!path_is_clean_absolute(dest) || strcmp(dest, "/") == 0)
		return cryo_error_set(err, EINVAL,
		                      "malformed --tmpfs `%s`: `%s` must be a clean absolute path below / "
		                      "(no `.`, `..`, `//` or trailing `/`)",
		                      arg, dest);
	if (container_tmpfs_options_validate(options, err) < 0)
		return cryo_error_wrap(err, "--tmpfs `%s`", arg);
	*out = (struct container_mount){
	    .kind = MOUNT_TMPFS, .source = xstrdup(options), .destination = move_ptr(dest)};
	return 0;
}

int container_config_validate(const struct container_config *cfg, cryo_err *err)
{
	if (strv_len(cfg->command) == 0)
		return cryo_error_plain(err, EINVAL, "no command");
	for (size_t i = 0; cfg->env && cfg->env[i]; i++) {
		const char *eq = strchr(cfg->env[i], '=');
		if (!eq || eq == cfg->env[i])
			return cryo_error_plain(err, EINVAL,
			                        "malformed environment variable `%s`: expected KEY=VALUE",
			                        cfg->env[i]);
	}
	if (!cfg->workdir || cfg->workdir[0] != '/')
		return cryo_error_plain(err, EINVAL, "working directory `%s` must be an absolute path",
		                        cfg->workdir ? cfg->workdir : "");
	if (cfg->user && !user_is_valid(cfg->user))
		return cryo_error_plain(err, EINVAL, "user `%s`: only numeric uid[:gid] or root is supported",
		                        cfg->user);
	for (size_t i = 0; cfg->labels && cfg->labels[i]; i++) {
		const char *eq = strchr(cfg->labels[i], '=');
		if (!eq || eq == cfg->labels[i])
			return cryo_error_plain(err, EINVAL, "malformed label `%s`: expected KEY=VALUE",
			                        cfg->labels[i]);
	}
	if (cfg->hostname && !hostname_is_valid(cfg->hostname))
		return cryo_error_plain(err, EINVAL, "invalid hostname `%s`", cfg->hostname);
	if (!network_name_is_valid(cfg->network))
		return cryo_error_plain(err, EINVAL, "invalid network `%s`: none, host, or a network's name",
		                        cfg->network ? cfg->network : "");
	if ((cfg->ip || cfg->mac || cfg->n_ports > 0) && !network_is_bridge(cfg->network))
		return cryo_error_plain(err, EINVAL,
		                        "an IP address, a MAC address or published ports need a bridge "
		                        "network, not `%s`",
		                        cfg->network);
	if (cfg->ip && !network_ipv4_is_valid(cfg->ip))
		return cryo_error_plain(err, EINVAL, "invalid IP address `%s`", cfg->ip);
	if (cfg->mac && !network_mac_is_valid(cfg->mac))
		return cryo_error_plain(
		    err, EINVAL, "invalid MAC address `%s`: use a unicast xx:xx:xx:xx:xx:xx", cfg->mac);
	for (size_t i = 0; i < cfg->n_ports; i++) {
		int r = network_port_validate(&cfg->ports[i], err);
		if (r < 0)
			return r;
	}
	if (cfg->memory_limit < 0)
		return cryo_error_plain(err, EINVAL, "invalid memory limit %lld",
		                        (long long)cfg->memory_limit);
	if (cfg->pids_limit < 0 || cfg->pids_limit > INT32_MAX)
		return cryo_error_plain(err, EINVAL, "invalid pids limit %lld", (long long)cfg->pids_limit);
	for (size_t i = 0; i < cfg->n_mounts; i++) {
		const struct container_mount *m = &cfg->mounts[i];
		if (!path_is_clean_absolute(m->destination) || strcmp(m->destination, "/") == 0)
			return cryo_error_plain(err, EINVAL,
			                        "mount destination `%s` must be a clean absolute path below "
			                        "/ (no `.`, `..`, `//` or trailing `/`)",
			                        m->destination);
		if (m->kind == MOUNT_VOLUME && !name_is_valid(m->source))
			return cryo_error_plain(err, EINVAL, "invalid volume name `%s` (mounted at `%s`)",
			                        m->source, m->destination);
		if (m->kind == MOUNT_BIND && !path_is_clean_absolute(m->source))
			return cryo_error_plain(err, EINVAL,
			                        "bind mount source `%s` must be a clean absolute path (no "
			                        "`.`, `..`, `//` or trailing `/`)",
			                        m->source);
		if (m->kind == MOUNT_TMPFS && container_tmpfs_options_validate(m->source, err) < 0)
			return cryo_error_wrap(err, "tmpfs at `%s`", m->destination);
		for (size_t j = 0; j < i; j++)
			if (strcmp(cfg->mounts[j].destination, m->destination) == 0)
				return cryo_error_plain(err, EINVAL, "two volumes are mounted at `%s`",
				                        m->destination);
		if (strv_has(cfg->engine_files, m->destination))
			return cryo_error_plain(err, EINVAL, "`%s` is mounted twice", m->destination);
	}
	for (size_t i = 0; cfg->engine_files && cfg->engine_files[i]; i++) {
		const char *dest = cfg->engine_files[i];
		if (!spec_engine_file_name(dest))
			return cryo_error_plain(
			    err, EINVAL,
			    "engine file `%s` is not one of the files the engine provides "
			    "(/etc/hosts, /etc/hostname, /etc/resolv.conf, "
			    "/run/.containerenv, /dev/shm)",
			    dest);
		for (size_t j = 0; j < i; j++)
			if (strcmp(cfg->engine_files[j], dest) == 0)
				return cryo_error_plain(err, EINVAL, "engine file `%s` is listed twice",
				                        dest);
	}
	return 0;
}

/* Image defaults + the user's options => the container's configuration. */
static int resolve_config(const struct container_create_opts *opts, const struct image *img,
                          struct container_config *cfg, cryo_err *err)
{
	int r;
	memset(cfg, 0, sizeof(*cfg));
	/* Docker semantics: the entrypoint always runs; the user's command
	 * replaces the image's Cmd. */
	cfg->command = strv_copy(img->config.entrypoint);
	char *const *cmd = opts->command && opts->command[0] ? opts->command : img->config.cmd;
	for (size_t i = 0; cmd && cmd[i]; i++)
		strv_push(&cfg->command, cmd[i]);
	if (strv_len(cfg->command) == 0)
		return cryo_error_set(err, EINVAL, "no command given and image `%s` has none", opts->image);

	cfg->env = strv_copy(img->config.env);
	for (size_t i = 0; opts->env && opts->env[i]; i++) {
		const char *e = opts->env[i];
		const char *eq = strchr(e, '=');
		if (!eq || eq == e)
			return cryo_error_set(err, EINVAL,
			                      "malformed environment variable `%s`: expected KEY=VALUE", e);
		size_t keylen = (size_t)(eq - e);
		bool replaced = false;
		for (size_t j = 0; cfg->env[j]; j++)
			if (strncmp(cfg->env[j], e, keylen + 1) == 0) {
				free(cfg->env[j]);
				cfg->env[j] = xstrdup(e);
				replaced = true;
			}
		if (!replaced)
			strv_push(&cfg->env, e);
	}
	bool has_path = false;
	for (size_t j = 0; cfg->env[j]; j++)
		has_path |= str_has_prefix(cfg->env[j], "PATH=");
	if (!has_path)
		strv_push(&cfg->env, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");

	const char *workdir = opts->workdir ? opts->workdir : img->config.workdir;
	cfg->workdir = xstrdup(workdir && *workdir ? workdir : "/");
	if (cfg->workdir[0] != '/')
		return cryo_error_set(err, EINVAL, "working directory `%s` must be an absolute path",
		                      cfg->workdir);
	cfg->user = xstrdup(opts->user ? opts->user : img->config.user ? img->config.user : "");
	cfg->network = xstrdup(opts->network ? opts->network : NETWORK_NONE);
	cfg->ip = opts->ip ? xstrdup(opts->ip) : NULL;
	cfg->mac = opts->mac ? xstrdup(opts->mac) : NULL;
	size_t n_publish = strv_len(opts->publish);
	cfg->ports = xcalloc(n_publish + 1, sizeof(*cfg->ports));
	for (size_t i = 0; i < n_publish; i++) {
		if ((r = network_port_parse(opts->publish[i], &cfg->ports[i], err)) < 0)
			return r;
		cfg->n_ports++;
	}
	cfg->memory_limit = opts->memory_limit;
	cfg->pids_limit = opts->pids_limit;
	cfg->auto_remove = opts->auto_remove;
	cfg->terminal = opts->terminal;
	cfg->interactive = opts->interactive;
	cfg->read_only = opts->read_only;
	cfg->hostname = xstrdup(opts->hostname ? opts->hostname : "");
	cfg->labels = strv_copy(opts->labels);
	cfg->cap_add = xcalloc(1, sizeof(char *));
	cfg->cap_drop = xcalloc(1, sizeof(char *));
	for (size_t l = 0; l < 2; l++) {
		char *const *given = l == 0 ? opts->cap_add : opts->cap_drop;
		for (size_t i = 0; given && given[i]; i++) {
			cleanup_free char *cap = NULL;
			if ((r = security_cap_normalize(given[i], &cap, err)) < 0)
				return cryo_error_wrap(err, "--cap-%s", l == 0 ? "add" : "drop");
			strv_push(l == 0 ? &cfg->cap_add : &cfg->cap_drop, cap);
		}
	}
	cleanup_strv char **caps = NULL;
	if ((r = security_capabilities(cfg->cap_add, cfg->cap_drop, &caps, err)) < 0)
		return r;

	size_t n_volumes = strv_len(opts->volumes), n = n_volumes + strv_len(opts->tmpfs);
	cfg->mounts = xcalloc(n ? n : 1, sizeof(*cfg->mounts));
	for (size_t i = 0; i < n; i++) {
		if (i < n_volumes && (r = container_mount_parse(opts->volumes[i], &cfg->mounts[i], err)) < 0)
			return r;
		if (i >= n_volumes &&
		    (r = container_tmpfs_parse(opts->tmpfs[i - n_volumes], &cfg->mounts[i], err)) < 0)
			return r;
		cfg->n_mounts++;
		for (size_t j = 0; j < i; j++)
			if (strcmp(cfg->mounts[j].destination, cfg->mounts[i].destination) == 0)
				return cryo_error_set(err, EINVAL, "two volumes are mounted at `%s`",
				                      cfg->mounts[i].destination);
	}
	/* The same rules a checkpoint's configuration is held to on restore,
	 * where the user is numeric: a name is resolved once the container's root
	 * file system exists (container_create_from_config), so check its syntax
	 * here and the rest with a stand-in. */
	if (passwd_user_is_numeric(cfg->user))
		return container_config_validate(cfg, err);
	if (!passwd_user_spec_is_valid(cfg->user))
		return cryo_error_plain(
		    err, EINVAL, "user `%s`: expected NAME or UID, optionally :GROUP or :GID", cfg->user);
	char *named = cfg->user;
	cfg->user = (char *)"0";
	r = container_config_validate(cfg, err);
	cfg->user = named;
	return r;
}

/* Write one managed file into etcfd: a temporary name first, then renamed
 * over whatever the container left there (a renamed-over symbolic link is
 * replaced, never followed). A directory in its place is left alone: *skipped
 * says so. */
static int write_managed_file(int etcfd, const char *name, const char *text, char **skipped, cryo_err *err)
{
	cleanup_free char *suffix = random_id();
	cleanup_free char *tmp = xasprintf(".%s.cryo-%.16s", name, suffix);
	cleanup_close int fd = openat(etcfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return cryo_error_set(err, errno, "create `/etc/%s`", tmp);
	size_t len = strlen(text);
	errno = EIO;
	if (fchmod(fd, 0644) < 0 || (len > 0 && write(fd, text, len) != (ssize_t)len)) {
		int saved = errno;
		unlinkat(etcfd, tmp, 0);
		return cryo_error_set(err, saved, "write `/etc/%s`", name);
	}
	if (renameat(etcfd, tmp, etcfd, name) < 0) {
		int saved = errno;
		unlinkat(etcfd, tmp, 0);
		if (saved == EISDIR || saved == ENOTEMPTY || saved == EEXIST) {
			char *more = xasprintf(
			    "%s%s`/etc/%s` is a directory in the container, so cryo did not write it",
			    *skipped ? *skipped : "", *skipped ? "; " : "", name);
			free(*skipped);
			*skipped = more;
			return 0;
		}
		return cryo_error_set(err, saved, "put `/etc/%s` in place", name);
	}
	return 0;
}

/* /etc/hostname, /etc/hosts, /etc/resolv.conf: written into the upper dir
 * rather than bind-mounted (each mount costs CRIU time). Checkpoints skip them.
 * The upper dir is the container's own tree: /etc is opened beneath it with
 * no symbolic link followed, so a container that made /etc a link (or a file)
 * gets no managed files rather than cryo writing wherever the link points. */
int container_write_managed_files(const char *upper, const struct container_config *cfg,
                                  const char *hosts_extra, char **skipped, cryo_err *err)
{
	cleanup_free char *hostname_text = xasprintf("%s\n", cfg->hostname);
	/* On a network, the container's own address names it (hosts_extra). */
	cleanup_free char *self_line =
	    hosts_extra ? xstrdup("") : xasprintf("127.0.1.1\t%s\n", cfg->hostname);
	cleanup_free char *hosts_text =
	    xasprintf("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n%s%s", self_line,
	              hosts_extra ? hosts_extra : "");
	cleanup_free char *host_resolv = NULL;
	cleanup_error cryo_err why = NULL;
	int r;

	*skipped = NULL;
	cleanup_close int upperfd = open(upper, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (upperfd < 0)
		return cryo_error_set(err, errno, "open upper dir `%s`", upper);
	cleanup_close int etcfd =
	    pathsafe_open_beneath_nofollow(upperfd, "etc", O_RDONLY | O_DIRECTORY, 0, &why);
	if (etcfd == -ENOENT) {
		cryo_error_free(&why);
		if (mkdirat(upperfd, "etc", 0755) < 0 && errno != EEXIST)
			return cryo_error_set(err, errno, "create `%s/etc`", upper);
		etcfd = pathsafe_open_beneath_nofollow(upperfd, "etc", O_RDONLY | O_DIRECTORY, 0, &why);
	}
	if (etcfd == -ELOOP || etcfd == -ENOTDIR) {
		*skipped = xasprintf("`/etc` is %s in the container's file system, so cryo did not write "
		                     "/etc/hostname, /etc/hosts and /etc/resolv.conf",
		                     etcfd == -ELOOP ? "a symbolic link" : "not a directory");
		return 0;
	}
	if (etcfd < 0) {
		r = cryo_error_set(err, 0, "open `%s/etc`: %s", upper, why ? why->msg : "failed");
		return r;
	}
	/* The host's name servers serve the host's and bridge networks alike (a
	 * bridge network's containers reach them through the bridge's NAT). */
	if (strcmp(cfg->network, NETWORK_NONE) == 0 ||
	    read_file("/etc/resolv.conf", &host_resolv, NULL, NULL) < 0) {
		free(host_resolv);
		host_resolv = xstrdup("");
	}
	if ((r = write_managed_file(etcfd, "hostname", hostname_text, skipped, err)) < 0 ||
	    (r = write_managed_file(etcfd, "hosts", hosts_text, skipped, err)) < 0 ||
	    (r = write_managed_file(etcfd, "resolv.conf", host_resolv, skipped, err)) < 0)
		return r;
	return 0;
}

const char *const container_managed_files[] = {"/etc/hostname", "/etc/hosts", "/etc/resolv.conf", NULL};

/* -u NAME[:GROUP]: look the names up in the container's own /etc/passwd and
 * /etc/group (its root file system, mounted for the purpose) and keep the
 * numbers, which is what the runtime and a checkpoint's configuration take. */
static int resolve_user_name(struct cryo_engine *engine, const struct image *img, const char *upper,
                             const char *work, const char *rootfs, struct container_config *cfg,
                             cryo_err *err)
{
	cleanup_strv char **lowers = NULL;
	for (size_t i = 0; img->layers && img->layers[i]; i++) {
		cleanup_free char *p = image_layer_path(engine, img->layers[i]);
		strv_push(&lowers, p);
	}
	int r = overlay_mount(lowers, upper, work, rootfs, err);
	if (r < 0)
		return cryo_error_wrap(err, "resolve user `%s`", cfg->user);
	cleanup_free char *resolved = NULL;
	cleanup_close int rootfd = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		r = cryo_error_set(err, errno, "resolve user `%s`: open `%s`", cfg->user, rootfs);
	else
		r = passwd_resolve(rootfd, cfg->user, &resolved, err);
	overlay_unmount(rootfs, NULL);
	if (r < 0)
		return r;
	free(cfg->user);
	cfg->user = move_ptr(resolved);
	return 0;
}

int container_resolve_user(struct cryo_engine *engine, const struct container *c, const char *user,
                           char **out, cryo_err *err)
{
	if (passwd_user_is_numeric(user)) {
		*out = xstrdup(strcmp(user, "root") == 0 ? "0:0" : user);
		return 0;
	}
	cleanup_free char *rootfs = container_rootfs_dir(engine, c->id);
	cleanup_close int rootfd = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return cryo_error_set(err, errno, "container `%s`: open its root file system", c->name);
	int r = passwd_resolve(rootfd, user, out, err);
	return r < 0 ? cryo_error_wrap(err, "container `%s`", c->name) : 0;
}

static char *default_name(const char *id)
{
	return xasprintf("cryo-%.8s", id);
}

int container_create_from_config(struct cryo_engine *engine, const char *name, const struct image *img,
                                 struct container_config *cfg, bool write_managed, struct container **out,
                                 cryo_err *err)
{
	cleanup_free char *id = random_id();
	cleanup_free char *dir = container_dir(engine, id);
	cleanup_free char *upper = container_upper_dir(engine, id);
	cleanup_free char *work = layout_container_work(engine->root, id);
	cleanup_free char *rootfs = container_rootfs_dir(engine, id);
	struct json_object *spec = NULL;
	struct json_object *cfg_json = NULL;
	char **volume_names = NULL;
	struct container *c = NULL;
	cleanup_close int image_lock = -1;
	cleanup_image struct image *still_there = NULL;
	int r;

	if (name && !name_is_valid(name))
		return cryo_error_set(
		    err, EINVAL,
		    "invalid container name `%s`: use letters, digits, `_`, `.` and `-`, starting "
		    "with a letter or digit",
		    name);
	/* Hold the image store while the container claims its image, so that a
	 * concurrent `image rm` sees the claim or the image is gone before it. */
	if ((r = lock_acquire(engine, IMAGE_STORE_LOCK, &image_lock, err)) < 0)
		return r;
	if ((r = image_get(engine, img->id, &still_there, err)) < 0 ||
	    (r = image_require_rootfs(still_there, err)) < 0)
		return r;
	if (!cfg->hostname || !*cfg->hostname) {
		free(cfg->hostname);
		cfg->hostname = xstrndup(id, 12);
	}
	if (network_is_bridge(cfg->network)) {
		cleanup_network struct network *net = NULL;
		if ((r = network_get(engine, cfg->network, &net, err)) < 0 ||
		    (cfg->ip && (r = network_check_address(net, cfg->ip, err)) < 0))
			return r;
	}
	if ((r = mkdir_p(upper, 0755, err)) < 0 || (r = mkdir_p(work, 0700, err)) < 0 ||
	    (r = mkdir_p(rootfs, 0755, err)) < 0)
		goto out;
	if (!passwd_user_is_numeric(cfg->user) &&
	    (r = resolve_user_name(engine, img, upper, work, rootfs, cfg, err)) < 0)
		goto out;
	if (write_managed) {
		cleanup_free char *skipped = NULL;
		if ((r = container_write_managed_files(upper, cfg, NULL, &skipped, err)) < 0)
			goto out;
		if (skipped) {
			r = cryo_error_set(err, EIO, "new upper dir `%s`: %s", upper, skipped);
			goto out;
		}
	}
	if ((r = spec_generate(engine, id, cfg, rootfs, &spec, err)) < 0 ||
	    (r = spec_write(dir, spec, err)) < 0)
		goto out;

	for (size_t i = 0; i < cfg->n_mounts; i++) {
		if (cfg->mounts[i].kind != MOUNT_VOLUME)
			continue;
		if ((r = volume_create(engine, cfg->mounts[i].source, true, err)) < 0)
			goto out;
		strv_push(&volume_names, cfg->mounts[i].source);
	}

	cfg_json = container_config_to_json(cfg);
	c = xcalloc(1, sizeof(*c));
	c->id = xstrdup(id);
	c->name = name ? xstrdup(name) : default_name(id);
	c->image_id = xstrdup(img->id);
	c->image_name = xstrdup(img->name ? img->name : img->id);
	c->config = xstrdup(json_object_to_json_string_ext(cfg_json, JSON_C_TO_STRING_PLAIN));
	c->state = CONTAINER_CREATED;
	c->exit_code = -1;
	c->created = now_realtime_us();

	if ((r = state_begin(engine, err)) < 0)
		goto out;
	if ((r = state_container_insert(engine, c, err)) < 0 ||
	    (r = state_container_volumes_set(engine, c->id, volume_names, err)) < 0 ||
	    (r = state_commit(engine, err)) < 0) {
		state_rollback(engine);
		goto out;
	}
	*out = move_ptr(c);
out:
	if (r < 0)
		rm_rf(dir, NULL);
	container_free(c);
	strv_free(volume_names);
	if (spec)
		json_object_put(spec);
	if (cfg_json)
		json_object_put(cfg_json);
	return r;
}

int container_create(struct cryo_engine *engine, const struct container_create_opts *opts,
                     struct container **out, cryo_err *err)
{
	cleanup_image struct image *img = NULL;
	struct container_config cfg = {0};
	int r;

	if (opts->name && !name_is_valid(opts->name))
		return cryo_error_set(
		    err, EINVAL,
		    "invalid container name `%s`: use letters, digits, `_`, `.` and `-`, starting "
		    "with a letter or digit",
		    opts->name);
	if ((r = image_get(engine, opts->image, &img, err)) < 0)
		return r;
	if ((r = resolve_config(opts, img, &cfg, err)) == 0)
		r = container_create_from_config(engine, opts->name, img, &cfg, true, out, err);
	container_config_free(&cfg);
	return r;
}

/* ---- state refresh ---- */

static bool monitor_alive(int pid)
{
	if (pid <= 0)
		return false;
	cleanup_free char *path = xasprintf("/proc/%d/comm", pid);
	cleanup_free char *comm = NULL;
	if (read_file(path, &comm, NULL, NULL) < 0)
		return false;
	return strcmp(str_rstrip(comm), "cryo-monitor") == 0;
}

/* The container stopped: record it, and clean up what its monitor may not have. */
static int mark_exited(struct cryo_engine *engine, struct container *c, int exit_code, int64_t finished,
                       cryo_err *err)
{
	c->state = CONTAINER_EXITED;
	c->exit_code = exit_code;
	c->pid = 0;
	c->monitor_pid = 0;
	c->finished = finished;
	int r = state_container_update(engine, c, err);
	if (r < 0)
		return r;
	runtime_delete(engine, c->id, true, NULL);
	cleanup_free char *rootfs = container_rootfs_dir(engine, c->id);
	overlay_unmount(rootfs, NULL);
	container_network_down(engine, c, NULL);
	return 0;
}

int container_get(struct cryo_engine *engine, const char *ref, struct container **out, cryo_err *err)
{
	cleanup_container struct container *c = NULL;
	int exit_code, exit_monitor;
	int64_t finished;
	int r = state_container_get(engine, ref, &c, err);
	if (r < 0)
		return r;
	if (container_is_active(c) && c->monitor_pid > 0) {
		/* The monitor's exit file says how the container ended. Without one,
		 * a monitor that is gone (host rebooted, monitor killed) means nobody
		 * will ever tell: the container is not running any more. */
		if (monitor_read_exit(engine, c->id, &exit_code, &exit_monitor, &finished) == 0 &&
		    exit_monitor == c->monitor_pid) {
			if ((r = mark_exited(engine, c, exit_code, finished, err)) < 0)
				return r;
		} else if (!monitor_alive(c->monitor_pid) &&
		           monitor_read_exit(engine, c->id, &exit_code, &exit_monitor, &finished) < 0) {
			if ((r = mark_exited(engine, c, -1, now_realtime_us(), err)) < 0)
				return r;
		}
	}
	*out = move_ptr(c);
	return 0;
}

/* ---- lifecycle ---- */

int container_get_locked(struct cryo_engine *engine, const char *ref, struct container **out, int *lock_fd,
                         cryo_err *err)
{
	cleanup_container struct container *c = NULL;
	cleanup_close int lock = -1;
	int r = container_get(engine, ref, &c, err);
	if (r < 0)
		return r;
	if ((r = lock_acquire(engine, c->id, &lock, err)) < 0)
		return r;
	/* Read it again: whoever held the lock may have changed it. */
	container_free(move_ptr(c));
	if ((r = container_get(engine, ref, &c, err)) < 0)
		return r;
	*out = move_ptr(c);
	*lock_fd = move_fd(lock);
	return 0;
}

static int mount_rootfs(struct cryo_engine *engine, const struct container *c, cryo_err *err)
{
	cleanup_image struct image *img = NULL;
	cleanup_strv char **lowers = NULL;
	cleanup_free char *upper = container_upper_dir(engine, c->id);
	cleanup_free char *work = layout_container_work(engine->root, c->id);
	cleanup_free char *rootfs = container_rootfs_dir(engine, c->id);
	int r = image_get(engine, c->image_id, &img, err);
	if (r < 0)
		return cryo_error_wrap(err, "container `%s`", c->name);
	for (size_t i = 0; img->layers && img->layers[i]; i++) {
		cleanup_free char *p = image_layer_path(engine, img->layers[i]);
		strv_push(&lowers, p);
	}
	return overlay_mount(lowers, upper, work, rootfs, err);
}

int container_mount_rootfs(struct cryo_engine *engine, const struct container *c, cryo_err *err)
{
	return mount_rootfs(engine, c, err);
}

void container_network_refresh_hosts(struct cryo_engine *engine, const char *network, const char *except_id)
{
	cleanup_strv char **ids = network_member_ids(engine, network, except_id);
	for (size_t i = 0; ids[i]; i++) {
		cleanup_container struct container *c = NULL;
		if (state_container_get(engine, ids[i], &c, NULL) < 0 || !container_is_active(c))
			continue;
		struct container_config cfg = {0};
		cleanup_free char *lines = NULL, *skipped = NULL;
		cleanup_free char *rootfs = container_rootfs_dir(engine, ids[i]);
		if (container_config_from_json(c->config, &cfg, NULL) == 0 &&
		    network_hosts_lines(engine, ids[i], &lines, NULL) == 0)
			container_write_managed_files(rootfs, &cfg, lines, &skipped, NULL);
		container_config_free(&cfg);
	}
}

int container_network_up(struct cryo_engine *engine, const struct container *c,
                         const struct container_config *cfg, const char *ip, const char *mac,
                         const struct port_mapping *ports, size_t n_ports, struct network_status *status,
                         cryo_err *err)
{
	const struct network_attach_opts o = {
	    .network = cfg->network,
	    .name = c->name,
	    .hostname = cfg->hostname,
	    .ip = ip,
	    .mac = mac,
	    .ports = ports,
	    .n_ports = n_ports,
	};
	cleanup_free char *lines = NULL, *skipped = NULL;
	cleanup_free char *upper = container_upper_dir(engine, c->id);
	int r = network_attach(engine, c->id, &o, status, err);
	if (r < 0)
		return r;
	/* The upper dir is not mounted yet: /etc/hosts with the addresses. */
	if ((r = network_hosts_lines(engine, c->id, &lines, err)) < 0 ||
	    (r = container_write_managed_files(upper, cfg, lines, &skipped, err)) < 0) {
		network_detach(engine, c->id, NULL);
		return r;
	}
	return 0;
}

int container_network_down(struct cryo_engine *engine, const struct container *c, cryo_err *err)
{
	struct network_status st = {0};
	bool attached = network_status_read(engine, c->id, &st, NULL) == 0;
	int r = network_detach(engine, c->id, err);
	if (r == 0 && attached && st.network[0])
		container_network_refresh_hosts(engine, st.network, c->id);
	network_status_free(&st);
	return r;
}

static int start_container(struct cryo_engine *engine, const char *ref, struct container **out,
                           int *attach_fd, cryo_err *err)
{
	cleanup_close int lock = -1;
	cleanup_close int attached = -1;
	cleanup_container struct container *c = NULL;
	struct monitor_result mon = {0};
	struct container_config cfg = {0};
	int r;

	if ((r = container_get_locked(engine, ref, &c, &lock, err)) < 0)
		return r;
	if (container_is_active(c))
		return cryo_error_set(err, EBUSY, "container `%s` is already %s", c->name,
		                      container_state_name(c->state));
	if (c->state == CONTAINER_CHECKPOINTED)
		return cryo_error_set(
		    err, EINVAL, "container `%s` is checkpointed: use `cryo restore %s` to bring it back",
		    c->name, c->name);
	runtime_delete(engine, c->id, true, NULL);
	if ((r = container_config_from_json(c->config, &cfg, err)) < 0)
		return r;
	bool auto_remove = cfg.auto_remove;
	bool bridge = network_is_bridge(cfg.network);
	r = bridge ? container_network_up(engine, c, &cfg, cfg.ip, cfg.mac, cfg.ports, cfg.n_ports, NULL, err)
	           : 0;
	cleanup_free char *network = xstrdup(cfg.network);
	container_config_free(&cfg);
	if (r < 0)
		return cryo_error_wrap(err, "start container `%s`", c->name);
	if ((r = mount_rootfs(engine, c, err)) < 0) {
		network_detach(engine, c->id, NULL);
		return cryo_error_wrap(err, "start container `%s`", c->name);
	}
	struct monitor_opts mon_opts;
	container_monitor_opts(engine, c->id, auto_remove, &mon_opts);
	if ((r = monitor_start(engine, c->id, MONITOR_CREATE, NULL, &mon_opts, &mon, err)) < 0) {
		cleanup_free char *rootfs = container_rootfs_dir(engine, c->id);
		overlay_unmount(rootfs, NULL);
		network_detach(engine, c->id, NULL);
		return cryo_error_wrap(err, "start container `%s`", c->name);
	}
	c->state = CONTAINER_RUNNING;
	c->pid = mon.container_pid;
	c->monitor_pid = mon.monitor_pid;
	c->exit_code = -1;
	c->started = now_realtime_us();
	c->finished = 0;
	r = state_container_update(engine, c, err);
	if (r < 0) {
		runtime_delete(engine, c->id, true, NULL);
		return cryo_error_wrap(err, "start container `%s`", c->name);
	}
	/* Attach before the init runs: nothing it writes is missed. */
	if (attach_fd && (attached = attach_connect(engine, c->id, err)) < 0) {
		runtime_delete(engine, c->id, true, NULL);
		return cryo_error_wrap(err, "start container `%s`: attach", c->name);
	}
	if ((r = runtime_start(engine, c->id, err)) < 0) {
		/* The monitor records the exit once the runtime has killed the init. */
		runtime_delete(engine, c->id, true, NULL);
		return cryo_error_wrap(err, "start container `%s`", c->name);
	}
	if (bridge)
		container_network_refresh_hosts(engine, network, c->id);
	if (out)
		*out = move_ptr(c);
	if (attach_fd)
		*attach_fd = move_fd(attached);
	return 0;
}

int container_start(struct cryo_engine *engine, const char *ref, struct container **out, cryo_err *err)
{
	return start_container(engine, ref, out, NULL, err);
}

int container_start_attached(struct cryo_engine *engine, const char *ref, struct container **out,
                             int *attach_fd, cryo_err *err)
{
	return start_container(engine, ref, out, attach_fd, err);
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* Wait (polling the state) until the container is no longer active. */
static int wait_inactive(struct cryo_engine *engine, const char *id, int64_t timeout_us,
                         struct container **out, cryo_err *err)
{
	int64_t deadline = timeout_us >= 0 ? now_monotonic_us() + timeout_us : INT64_MAX;
	for (;;) {
		struct container *c = NULL;
		int r = container_get(engine, id, &c, err);
		if (r < 0)
			return r;
		if (!container_is_active(c)) {
			if (out)
				*out = c;
			else
				container_free(c);
			return 0;
		}
		container_free(c);
		if (now_monotonic_us() >= deadline)
			return -ETIMEDOUT;
		sleep_ms(10);
	}
}

/* Signal the container; a paused (frozen) container only acts on it once thawed. */
static int signal_container(struct cryo_engine *engine, const struct container *c, int sig, cryo_err *err)
{
	int r = runtime_kill(engine, c->id, sig, err);
	if (r < 0)
		return r;
	if (c->state == CONTAINER_PAUSED)
		runtime_resume(engine, c->id, NULL);
	return 0;
}

int container_stop(struct cryo_engine *engine, const char *ref, int timeout_seconds, cryo_err *err)
{
	cleanup_close int lock = -1;
	cleanup_container struct container *c = NULL;
	int r;

	if ((r = container_get_locked(engine, ref, &c, &lock, err)) < 0)
		return r;
	if (!container_is_active(c))
		return 0;
	if (timeout_seconds > 0) {
		if ((r = signal_container(engine, c, SIGTERM, err)) < 0 && r != -ENOENT)
			return cryo_error_wrap(err, "stop container `%s`", c->name);
		cryo_error_free(err);
		if (wait_inactive(engine, c->id, (int64_t)timeout_seconds * 1000000, NULL, err) == 0)
			return 0;
	}
	if ((r = signal_container(engine, c, SIGKILL, err)) < 0 && r != -ENOENT)
		return cryo_error_wrap(err, "stop container `%s`", c->name);
	cryo_error_free(err);
	if ((r = wait_inactive(engine, c->id, 30 * 1000000LL, NULL, err)) < 0) {
		if (r == -ETIMEDOUT)
			return cryo_error_set(
			    err, ETIMEDOUT, "stop container `%s`: still running 30 s after SIGKILL", c->name);
		return r;
	}
	return 0;
}

int container_kill(struct cryo_engine *engine, const char *ref, int sig, cryo_err *err)
{
	cleanup_container struct container *c = NULL;
	int r = container_get(engine, ref, &c, err);
	if (r < 0)
		return r;
	if (!container_is_active(c))
		return cryo_error_set(err, EINVAL, "container `%s` is not running (it is %s)", c->name,
		                      container_state_name(c->state));
	if ((r = signal_container(engine, c, sig, err)) < 0)
		return cryo_error_wrap(err, "kill container `%s`", c->name);
	return 0;
}

static int set_paused(struct cryo_engine *engine, const char *ref, bool pause, cryo_err *err)
{
	cleanup_close int lock = -1;
	cleanup_container struct container *c = NULL;
	int r;

	if ((r = container_get_locked(engine, ref, &c, &lock, err)) < 0)
		return r;
	enum container_state want = pause ? CONTAINER_RUNNING : CONTAINER_PAUSED;
	if (c->state != want)
		return cryo_error_set(err, EINVAL, "%s container `%s`: it is %s, not %s",
		                      pause ? "pause" : "unpause", c->name, container_state_name(c->state),
		                      container_state_name(want));
	r = pause ? runtime_pause(engine, c->id, err) : runtime_resume(engine, c->id, err);
	if (r < 0)
		return cryo_error_wrap(err, "%s container `%s`", pause ? "pause" : "unpause", c->name);
	c->state = pause ? CONTAINER_PAUSED : CONTAINER_RUNNING;
	return state_container_update(engine, c, err);
}

int container_pause(struct cryo_engine *engine, const char *ref, cryo_err *err)
{
	return set_paused(engine, ref, true, err);
}

int container_unpause(struct cryo_engine *engine, const char *ref, cryo_err *err)
{
	return set_paused(engine, ref, false, err);
}

int container_remove(struct cryo_engine *engine, const char *ref, bool force, cryo_err *err)
{
	cleanup_close int lock = -1;
	cleanup_container struct container *c = NULL;
	int r;

	if ((r = container_get_locked(engine, ref, &c, &lock, err)) < 0)
		return r;
	if (container_is_active(c)) {
		if (!force)
			return cryo_error_set(err, EBUSY,
			                      "remove container `%s`: it is %s; stop it first or use `rm -f`",
			                      c->name, container_state_name(c->state));
		signal_container(engine, c, SIGKILL, NULL);
		/* Without a monitor (a checkpoint or migration that could not
		 * record its end, and holds no lock now) nobody records the exit:
		 * the runtime's forced delete below ends what is left. */
		r = c->monitor_pid > 0 ? wait_inactive(engine, c->id, 30 * 1000000LL, NULL, err) : 0;
		if (r == -ETIMEDOUT)
			return cryo_error_set(err, ETIMEDOUT,
			                      "remove container `%s`: still running 30 s after SIGKILL",
			                      c->name);
		if (r < 0)
			return r;
	}
	if ((r = runtime_delete(engine, c->id, true, err)) < 0)
		return cryo_error_wrap(err, "remove container `%s`", c->name);
	if ((r = container_network_down(engine, c, err)) < 0)
		return cryo_error_wrap(err, "remove container `%s`", c->name);
	cleanup_free char *rootfs = container_rootfs_dir(engine, c->id);
	if ((r = overlay_unmount(rootfs, err)) < 0)
		return cryo_error_wrap(err, "remove container `%s`", c->name);
	if ((r = state_begin(engine, err)) < 0)
		return r;
	if ((r = state_container_delete(engine, c->id, err)) < 0 || (r = state_commit(engine, err)) < 0) {
		state_rollback(engine);
		return cryo_error_wrap(err, "remove container `%s`", c->name);
	}
	cleanup_free char *dir = container_dir(engine, c->id);
	cleanup_free char *run_dir = layout_run_container_dir(engine->runroot, c->id);
	cleanup_free char *lock_path = layout_lock_file(engine->runroot, c->id);
	rm_rf(run_dir, NULL);
	unlink(lock_path);
	if ((r = rm_rf(dir, err)) < 0)
		return cryo_error_wrap(err, "remove container `%s` files", c->name);
	/* An image that lost its name while this container used it can go now. */
	image_prune_unused(engine, NULL);
	return 0;
}

int container_wait(struct cryo_engine *engine, const char *ref, int *exit_code, cryo_err *err)
{
	cleanup_container struct container *c = NULL;
	int r = container_get(engine, ref, &c, err);
	if (r < 0)
		return r;
	cleanup_free char *id = xstrdup(c->id);
	container_free(c);
	c = NULL;
	if ((r = wait_inactive(engine, id, -1, &c, err)) < 0) {
		if (r == -ENOENT)
			return cryo_error_wrap(err, "wait: container was removed");
		return r;
	}
	*exit_code = c->exit_code;
	return 0;
}

/* ---- inspect ---- */

static struct json_object *timestamp_json(int64_t us)
{
	if (!us)
		return json_object_new_string("0001-01-01T00:00:00Z");
	cleanup_free char *ts = format_timestamp(us);
	return json_object_new_string(ts);
}

struct json_object *container_inspect_json(struct cryo_engine *engine, const struct container *c)
{
	struct json_object *o = json_object_new_object();
	struct json_object *st = json_object_new_object();
	struct container_config cfg = {0};

	json_object_object_add(o, "Id", json_object_new_string(c->id));
	json_object_object_add(o, "Name", json_object_new_string(c->name));
	json_object_object_add(o, "Image", json_object_new_string(c->image_id));
	json_object_object_add(o, "ImageName", json_object_new_string(c->image_name));
	json_object_object_add(o, "Created", timestamp_json(c->created));

	json_object_object_add(st, "Status", json_object_new_string(container_state_name(c->state)));
	json_object_object_add(st, "Running", json_object_new_boolean(c->state == CONTAINER_RUNNING));
	json_object_object_add(st, "Paused", json_object_new_boolean(c->state == CONTAINER_PAUSED));
	json_object_object_add(st, "Checkpointed",
	                       json_object_new_boolean(c->state == CONTAINER_CHECKPOINTED));
	json_object_object_add(st, "Pid", json_object_new_int(c->pid));
	json_object_object_add(st, "MonitorPid", json_object_new_int(c->monitor_pid));
	json_object_object_add(st, "ExitCode", json_object_new_int(c->exit_code < 0 ? 0 : c->exit_code));
	json_object_object_add(st, "StartedAt", timestamp_json(c->started));
	json_object_object_add(st, "FinishedAt", timestamp_json(c->finished));
	json_object_object_add(st, "CheckpointedAt", timestamp_json(c->checkpointed));
	if (c->checkpoint)
		json_object_object_add(st, "CheckpointPath", json_object_new_string(c->checkpoint));
	json_object_object_add(o, "State", st);

	if (container_config_from_json(c->config, &cfg, NULL) == 0) {
		struct json_object *jc = container_config_to_json(&cfg);
		json_object_object_add(o, "Config", jc);
	}
	container_config_free(&cfg);
	/* The address, MAC and ports it has on its network while attached. */
	struct network_status net = {0};
	if (network_status_read(engine, c->id, &net, NULL) == 0)
		json_object_object_add(o, "NetworkSettings", network_status_to_json(&net));
	network_status_free(&net);
	cleanup_free char *rootfs = container_rootfs_dir(engine, c->id);
	cleanup_free char *upper = container_upper_dir(engine, c->id);
	cleanup_free char *log = container_log_path(engine, c->id);
	json_object_object_add(o, "Rootfs", json_object_new_string(rootfs));
	json_object_object_add(o, "UpperDir", json_object_new_string(upper));
	json_object_object_add(o, "LogPath", json_object_new_string(log));
	return o;
}
