#include "podman_import.h"

#include <json-c/json.h>
#include <stdint.h>
#include <sys/types.h>
#include <string.h>

#include "container.h"
#include "spec.h"
#include "util.h"

/* config.dump and spec.dump are a few KiB; network.status less. */
#define PODMAN_DUMP_MAX (4 << 20)

/* Podman 4.3.1's default capabilities: cryo's defaults and CAP_MKNOD. */
static const char *const podman_caps[] = {
    "CAP_AUDIT_WRITE", "CAP_CHOWN",   "CAP_DAC_OVERRIDE",     "CAP_FOWNER",     "CAP_FSETID",
    "CAP_KILL",        "CAP_MKNOD",   "CAP_NET_BIND_SERVICE", "CAP_NET_RAW",    "CAP_SETFCAP",
    "CAP_SETGID",      "CAP_SETPCAP", "CAP_SETUID",           "CAP_SYS_CHROOT",
};
/* The mounts cryo makes itself in Podman's layout (spec.c). */
static const struct {
	const char *destination, *type;
} own_mounts[] = {
    {"/proc", "proc"},         {"/dev", "tmpfs"}, {"/dev/pts", "devpts"},
    {"/dev/mqueue", "mqueue"}, {"/sys", "sysfs"}, {"/sys/fs/cgroup", "cgroup"},
};

void podman_import_free(struct podman_import *p)
{
	container_config_free(&p->cfg);
	free(p->name);
	free(p->image_name);
	free(p->image_id);
	free(p->id);
	memset(p, 0, sizeof(*p));
}

/* dir/file parsed (*out NULL when optional and absent). */
static int read_json(const char *dir, const char *file, bool optional, struct json_object **out,
                     cryo_err *err)
{
	cleanup_free char *path = xasprintf("%s/%s", dir, file);
	cleanup_free char *text = NULL;
	size_t len = 0;
	*out = NULL;
	if (optional && !path_exists(path))
		return 0;
	int r = read_file_bounded(path, PODMAN_DUMP_MAX, &text, &len, err);
	if (r < 0)
		return cryo_error_wrap(err, "read Podman's `%s`", file);
	struct json_tokener *tok = json_tokener_new_ex(64);
	if (!tok)
		oom();
	/* JSON's null parses to NULL, with success; the terminating NUL (read
	 * ends the text with one) ends a value that could go on ("null", "1"). */
	struct json_object *o = json_tokener_parse_ex(tok, text, (int)len + 1);
	bool ok = json_tokener_get_error(tok) == json_tokener_success;
	if (memchr(text, '\0', len))
		ok = false;
	for (size_t end = json_tokener_get_parse_end(tok); ok && end < len; end++)
		ok = strchr(" \t\r\n", text[end]) != NULL;
	json_tokener_free(tok);
	if (!ok) {
		if (o)
			json_object_put(o);
		return cryo_error_plain(err, EINVAL, "Podman's `%s` is not valid JSON", file);
	}
	if (!o && !optional)
		return cryo_error_plain(err, EINVAL, "Podman's `%s` is null", file);
	*out = o;
	return 0;
}

static struct json_object *get(struct json_object *o, const char *key, enum json_type type)
{
	struct json_object *v;
	if (o && json_object_object_get_ex(o, key, &v) && json_object_is_type(v, type))
		return v;
	return NULL;
}

static bool has_key(struct json_object *o, const char *key)
{
	struct json_object *v;
	return json_object_object_get_ex(o, key, &v) && !json_object_is_type(v, json_type_null);
}

/* Printable ASCII without quoting characters: safe in messages and lookups. */
static bool text_is_plain(const char *s, size_t max)
{
	size_t n = strlen(s);
	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x21 || s[i] > 0x7e || s[i] == '`' || s[i] == '\\' || s[i] == '"')
			return false;
	return true;
}

static bool is_hex(const char *s, size_t len)
{
	return strlen(s) == len && strspn(s, "0123456789abcdef") == len;
}

/* Absolute, no empty, `.` or `..` component, no trailing `/`, not "/". */
static bool path_is_clean(const char *p)
{
	if (p[0] != '/' || !p[1] || strlen(p) > 4096)
		return false;
	for (const char *s = p + 1;;) {
		const char *e = strchrnul(s, '/');
		size_t n = (size_t)(e - s);
		if (n == 0 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
			return false;
		if (!*e)
			return true;
		s = e + 1;
	}
}

/* A JSON array of strings, copied; NULL (and err set) otherwise. */
static char **string_list(struct json_object *a, const char *what, cryo_err *err)
{
	char **v = xcalloc(1, sizeof(char *));
	for (size_t i = 0; a && i < json_object_array_length(a); i++) {
		struct json_object *s = json_object_array_get_idx(a, i);
		if (!json_object_is_type(s, json_type_string) ||
		    strlen(json_object_get_string(s)) != (size_t)json_object_get_string_len(s)) {
			strv_free(v);
			cryo_error_plain(err, EINVAL, "`%s` holds a value that is not a string", what);
			return NULL;
		}
		strv_push(&v, json_object_get_string(s));
	}
	return v;
}

/* config.dump's namedVolumes: [{"volumeName","dest","options"}], as volume
 * mounts of cryo's (their bind mounts in spec.dump are matched to them by
 * destination in read_mounts()). */
static int read_named_volumes(struct json_object *c, struct container_config *cfg, cryo_err *err)
{
	struct json_object *vols;
	if (!json_object_object_get_ex(c, "namedVolumes", &vols) || json_object_is_type(vols, json_type_null))
		return 0;
	if (!json_object_is_type(vols, json_type_array))
		return cryo_error_plain(err, EINVAL, "`namedVolumes` is not a list");
	size_t n = json_object_array_length(vols);
	if (n > 256)
		return cryo_error_plain(err, EINVAL, "`namedVolumes`: more than 256 volumes");
	cfg->mounts = xcalloc(n + 1, sizeof(*cfg->mounts));
	for (size_t i = 0; i < n; i++) {
		struct json_object *v = json_object_array_get_idx(vols, i), *name, *dest, *opts;
		if (!json_object_is_type(v, json_type_object) ||
		    !(name = get(v, "volumeName", json_type_string)) ||
		    !(dest = get(v, "dest", json_type_string)))
			return cryo_error_plain(err, EINVAL,
			                        "`namedVolumes` entry %zu: needs volumeName and dest", i + 1);
		if (!name_is_valid(json_object_get_string(name)))
			return cryo_error_plain(err, EINVAL, "`namedVolumes` entry %zu: invalid volume name",
			                        i + 1);
		if (!path_is_clean(json_object_get_string(dest)))
			return cryo_error_plain(err, EINVAL,
			                        "`namedVolumes` entry %zu: dest is not a clean absolute path",
			                        i + 1);
		bool ro = false;
		if ((opts = get(v, "options", json_type_array))) {
			cleanup_strv char **o = string_list(opts, "namedVolumes options", err);
			if (!o)
				return -EINVAL;
			for (size_t k = 0; o[k]; k++)
				ro |= strcmp(o[k], "ro") == 0;
		}
		cfg->mounts[i] =
		    (struct container_mount){.kind = MOUNT_VOLUME,
		                             .source = xstrdup(json_object_get_string(name)),
		                             .destination = xstrdup(json_object_get_string(dest)),
		                             .readonly = ro};
		cfg->n_mounts = i + 1;
	}
	return 0;
}

/* The index of the named volume mounted at dest (read_named_volumes()), or
 * -1. */
static ssize_t volume_at(const struct container_config *cfg, const char *dest)
{
	for (size_t i = 0; i < cfg->n_mounts; i++)
		if (strcmp(cfg->mounts[i].destination, dest) == 0)
			return (ssize_t)i;
	return -1;
}

static int read_config_dump(struct json_object *c, struct podman_import *out, cryo_err *err)
{
	struct json_object *v;
	if (!json_object_is_type(c, json_type_object))
		return cryo_error_plain(err, EINVAL, "not a JSON object");
	if (!(v = get(c, "id", json_type_string)) || !is_hex(json_object_get_string(v), 64))
		return cryo_error_plain(err, EINVAL, "`id` is not a 64-digit hexadecimal container ID");
	out->id = xstrdup(json_object_get_string(v));
	if (!(v = get(c, "name", json_type_string)) || !name_is_valid(json_object_get_string(v)))
		return cryo_error_plain(err, EINVAL, "`name` is not a valid container name");
	out->name = xstrdup(json_object_get_string(v));
	if (has_key(c, "rootfs"))
		return cryo_error_plain(err, ENOTSUP,
		                        "the container was made from a root file system directory "
		                        "(`--rootfs`), not an image: cryo restores containers of images");
	if (!(v = get(c, "rootfsImageName", json_type_string)) ||
	    !text_is_plain(json_object_get_string(v), 512))
		return cryo_error_plain(err, EINVAL, "`rootfsImageName` is not an image name");
	out->image_name = xstrdup(json_object_get_string(v));
	v = get(c, "rootfsImageID", json_type_string);
	out->image_id = xstrdup(v ? json_object_get_string(v) : "");
	if (*out->image_id && !is_hex(out->image_id, 64))
		return cryo_error_plain(err, EINVAL,
		                        "`rootfsImageID` is not a 64-digit hexadecimal image ID");
	if ((v = get(c, "privileged", json_type_boolean)) && json_object_get_boolean(v))
		return cryo_error_plain(err, EPERM,
		                        "the container is privileged (`--privileged`), which an archive "
		                        "cannot grant");
	struct json_object *ids = get(c, "idMappingsOptions", json_type_object);
	if (ids && (has_key(ids, "UIDMap") || has_key(ids, "GIDMap") ||
	            ((v = get(ids, "AutoUserNs", json_type_boolean)) && json_object_get_boolean(v))))
		return cryo_error_plain(err, ENOTSUP,
		                        "the container has user-namespace ID mappings, which cryo does not "
		                        "restore");
	return read_named_volumes(c, &out->cfg, err);
}

/* The bounding set names the capabilities; the others are within it. */
static int read_caps(struct json_object *process, struct container_config *cfg, cryo_err *err)
{
	struct json_object *caps = get(process, "capabilities", json_type_object);
	const char *sets[] = {"bounding", "effective", "permitted", "inheritable", "ambient"};
	cleanup_strv char **bounding = NULL;
	for (size_t s = 0; s < ARRAY_SIZE(sets); s++) {
		struct json_object *a;
		if (!caps || !json_object_object_get_ex(caps, sets[s], &a) ||
		    json_object_is_type(a, json_type_null))
			continue;
		if (!json_object_is_type(a, json_type_array))
			return cryo_error_plain(err, EINVAL, "capabilities `%s` is not a list", sets[s]);
		cleanup_strv char **names = string_list(a, "capabilities", err);
		if (!names)
			return -EINVAL;
		for (size_t i = 0; names[i]; i++) {
			bool ok = false;
			for (size_t j = 0; j < ARRAY_SIZE(podman_caps) && !ok; j++)
				ok = strcmp(names[i], podman_caps[j]) == 0;
			if (!ok)
				return cryo_error_plain(
				    err, EPERM,
				    "capability `%.64s` (%s) is more than Podman's defaults, which an "
				    "archive cannot grant",
				    text_is_plain(names[i], 64) ? names[i] : "?", sets[s]);
		}
		if (s == 0)
			bounding = move_ptr(names);
	}
	/* cryo's defaults (security.h) are Podman's without CAP_MKNOD. */
	cfg->cap_add = xcalloc(1, sizeof(char *));
	cfg->cap_drop = xcalloc(1, sizeof(char *));
	for (size_t j = 0; j < ARRAY_SIZE(podman_caps); j++) {
		bool have = false;
		for (size_t i = 0; bounding && bounding[i] && !have; i++)
			have = strcmp(bounding[i], podman_caps[j]) == 0;
		bool mknod = strcmp(podman_caps[j], "CAP_MKNOD") == 0;
		if (have && mknod)
			strv_push(&cfg->cap_add, podman_caps[j]);
		else if (!have && !mknod)
			strv_push(&cfg->cap_drop, podman_caps[j]);
	}
	return 0;
}

static int read_process(struct json_object *spec, struct container_config *cfg, cryo_err *err)
{
	struct json_object *p = get(spec, "process", json_type_object), *v, *u;
	if (!p)
		return cryo_error_plain(err, EINVAL, "no `process`");
	if ((v = get(p, "terminal", json_type_boolean)) && json_object_get_boolean(v))
		return cryo_error_plain(err, ENOTSUP,
		                        "the container has a terminal (`-t`), which cryo does not restore "
		                        "from a Podman export");
	if (!(v = get(p, "args", json_type_array)))
		return cryo_error_plain(err, EINVAL, "no `process.args`");
	if (!(cfg->command = string_list(v, "process.args", err)))
		return -EINVAL;
	if ((v = get(p, "env", json_type_array)) && !(cfg->env = string_list(v, "process.env", err)))
		return -EINVAL;
	if (!cfg->env)
		cfg->env = xcalloc(1, sizeof(char *));
	v = get(p, "cwd", json_type_string);
	cfg->workdir = xstrdup(v ? json_object_get_string(v) : "/");
	struct json_object *user = get(p, "user", json_type_object);
	int64_t uid = 0, gid = 0;
	if (user && (u = get(user, "uid", json_type_int)))
		uid = json_object_get_int64(u);
	if (user && (u = get(user, "gid", json_type_int)))
		gid = json_object_get_int64(u);
	if (uid < 0 || uid > UINT32_MAX - 1 || gid < 0 || gid > UINT32_MAX - 1)
		return cryo_error_plain(err, EINVAL, "`process.user` holds an invalid uid or gid");
	if (user && has_key(user, "username"))
		return cryo_error_plain(err, EINVAL, "`process.user.username`: only numeric users");
	cfg->user = xasprintf("%lld:%lld", (long long)uid, (long long)gid);
	return read_caps(p, cfg, err);
}

static int read_linux(struct json_object *spec, struct container_config *cfg, cryo_err *err)
{
	static const char *const wanted[] = {"pid", "ipc", "uts", "mount", "network"};
	struct json_object *lx = get(spec, "linux", json_type_object), *v;
	if (!lx)
		return cryo_error_plain(err, EINVAL, "no `linux`");
	struct json_object *ns = get(lx, "namespaces", json_type_array);
	bool seen[ARRAY_SIZE(wanted)] = {0};
	for (size_t i = 0; ns && i < json_object_array_length(ns); i++) {
		struct json_object *n = json_object_array_get_idx(ns, i), *t;
		if (!json_object_is_type(n, json_type_object) || !(t = get(n, "type", json_type_string)))
			return cryo_error_plain(err, EINVAL,
			                        "`linux.namespaces` holds an entry without a type");
		const char *type = json_object_get_string(t);
		size_t k = 0;
		while (k < ARRAY_SIZE(wanted) && strcmp(wanted[k], type) != 0)
			k++;
		if (k == ARRAY_SIZE(wanted))
			return cryo_error_plain(err, ENOTSUP,
			                        "the container has a %.16s namespace, which cryo does not "
			                        "restore from a Podman export",
			                        text_is_plain(type, 16) ? type : "?");
		if (has_key(n, "path"))
			return cryo_error_plain(
			    err, ENOTSUP,
			    "the container joined an existing %s namespace (a pod, another container, or "
			    "a Podman network), which cryo cannot give it here",
			    wanted[k]);
		seen[k] = true;
	}
	for (size_t k = 0; k < ARRAY_SIZE(wanted); k++)
		if (!seen[k])
			return cryo_error_plain(err, ENOTSUP,
			                        "the container shares the host's %s namespace, which an "
			                        "archive cannot grant",
			                        wanted[k]);
	if ((v = get(lx, "devices", json_type_array)) && json_object_array_length(v) > 0)
		return cryo_error_plain(err, EPERM,
		                        "the container was given devices (`--device`), which an "
		                        "archive cannot grant");
	struct json_object *res = get(lx, "resources", json_type_object), *lim;
	if ((v = get(res, "memory", json_type_object)) && (lim = get(v, "limit", json_type_int)))
		cfg->memory_limit = json_object_get_int64(lim) > 0 ? json_object_get_int64(lim) : 0;
	if ((v = get(res, "pids", json_type_object)) && (lim = get(v, "limit", json_type_int)))
		cfg->pids_limit = json_object_get_int64(lim) > 0 ? json_object_get_int64(lim) : 0;
	return 0;
}

static bool mount_is_readonly(struct json_object *m)
{
	struct json_object *opts = get(m, "options", json_type_array);
	for (size_t i = 0; opts && i < json_object_array_length(opts); i++) {
		const char *o = json_object_get_string(json_object_array_get_idx(opts, i));
		if (o && strcmp(o, "ro") == 0)
			return true;
	}
	return false;
}

/* Podman's mounts: the engine's own, the named volumes, or refused. */
static int read_mounts(struct json_object *spec, struct container_config *cfg, cryo_err *err)
{
	struct json_object *mounts = get(spec, "mounts", json_type_array);
	if (!mounts)
		return cryo_error_plain(err, EINVAL, "no `mounts`");
	cfg->engine_files = xcalloc(1, sizeof(char *));
	cleanup_free bool *mounted = xcalloc(cfg->n_mounts + 1, sizeof(bool));
	for (size_t i = 0; i < json_object_array_length(mounts); i++) {
		struct json_object *m = json_object_array_get_idx(mounts, i), *d, *t;
		if (!json_object_is_type(m, json_type_object) ||
		    !(d = get(m, "destination", json_type_string)) || !(t = get(m, "type", json_type_string)))
			return cryo_error_plain(err, EINVAL, "mount %zu: needs a string destination and type",
			                        i + 1);
		const char *dest = json_object_get_string(d), *type = json_object_get_string(t);
		if (!path_is_clean(dest) || strlen(dest) != (size_t)json_object_get_string_len(d))
			return cryo_error_plain(
			    err, EINVAL,
			    "mount %zu: destination `%.256s` is not a clean absolute path "
			    "(no `.`, `..`, `//` or trailing `/`)",
			    i + 1, text_is_plain(dest, 4096) ? dest : "?");
		if (!text_is_plain(type, 32))
			return cryo_error_plain(err, EINVAL, "mount %zu at `%s`: invalid type", i + 1, dest);
		bool own = false;
		for (size_t k = 0; k < ARRAY_SIZE(own_mounts) && !own; k++)
			own = strcmp(own_mounts[k].destination, dest) == 0 &&
			      strcmp(own_mounts[k].type, type) == 0;
		if (own)
			continue;
		ssize_t vol = volume_at(cfg, dest);
		if (strcmp(type, "bind") == 0 && vol >= 0) {
			if (mounted[vol])
				return cryo_error_plain(err, EINVAL, "`%s` is mounted twice", dest);
			mounted[vol] = true;
			cfg->mounts[vol].readonly |= mount_is_readonly(m);
			continue;
		}
		if (strcmp(type, "bind") == 0 && spec_engine_file_name(dest)) {
			for (size_t k = 0; cfg->engine_files[k]; k++)
				if (strcmp(cfg->engine_files[k], dest) == 0)
					return cryo_error_plain(err, EINVAL, "`%s` is mounted twice", dest);
			strv_push(&cfg->engine_files, dest);
			continue;
		}
		return cryo_error_plain(
		    err, ENOTSUP,
		    "the container has a %s mount at `%s`: cryo restores a Podman container's own "
		    "mounts (/etc/hosts, /etc/hostname, /etc/resolv.conf, /run/.containerenv, "
		    "/dev/shm), not its volumes, host directories or other file systems",
		    type, dest);
	}
	if (!cfg->engine_files[0])
		return cryo_error_plain(err, EINVAL, "no mount of Podman's own (not a Podman container)");
	for (size_t i = 0; i < cfg->n_mounts; i++) {
		if (!mounted[i])
			return cryo_error_plain(err, EINVAL,
			                        "volume `%s` is not mounted at `%s` in the spec (archive "
			                        "tampered)",
			                        cfg->mounts[i].source, cfg->mounts[i].destination);
	}
	return 0;
}

static int read_spec_dump(struct json_object *spec, struct container_config *cfg, cryo_err *err)
{
	struct json_object *v;
	int r;
	if (!json_object_is_type(spec, json_type_object))
		return cryo_error_plain(err, EINVAL, "not a JSON object");
	if ((r = read_process(spec, cfg, err)) < 0 || (r = read_linux(spec, cfg, err)) < 0 ||
	    (r = read_mounts(spec, cfg, err)) < 0)
		return r;
	if ((v = get(spec, "hostname", json_type_string)))
		cfg->hostname = xstrdup(json_object_get_string(v));
	struct json_object *root = get(spec, "root", json_type_object);
	cfg->read_only = (v = get(root, "readonly", json_type_boolean)) && json_object_get_boolean(v);
	return 0;
}

/* network.status: what Podman's network stack set up. Only none (no file,
 * null, or an empty object or list). */
static int read_network_status(const char *dir, struct container_config *cfg, cryo_err *err)
{
	struct json_object *st = NULL;
	int r = read_json(dir, "network.status", true, &st, err);
	if (r < 0)
		return r;
	bool none = !st || json_object_is_type(st, json_type_null) ||
	            (json_object_is_type(st, json_type_object) && json_object_object_length(st) == 0) ||
	            (json_object_is_type(st, json_type_array) && json_object_array_length(st) == 0);
	if (st)
		json_object_put(st);
	if (!none)
		return cryo_error_plain(err, ENOTSUP,
		                        "`network.status`: the container was on a Podman network; cryo "
		                        "restores Podman containers of `--network none` only");
	cfg->network = xstrdup("none");
	return 0;
}

int podman_import_read(const char *dir, struct podman_import *out, cryo_err *err)
{
	memset(out, 0, sizeof(*out));
	struct json_object *config = NULL, *spec = NULL;
	int r = read_json(dir, "config.dump", false, &config, err);
	if (r == 0 && (r = read_config_dump(config, out, err)) < 0)
		cryo_error_wrap(err, "Podman's `config.dump`");
	if (r == 0)
		r = read_json(dir, "spec.dump", false, &spec, err);
	if (r == 0 && (r = read_spec_dump(spec, &out->cfg, err)) < 0)
		cryo_error_wrap(err, "Podman's `spec.dump`");
	if (r == 0)
		r = read_network_status(dir, &out->cfg, err);
	if (config)
		json_object_put(config);
	if (spec)
		json_object_put(spec);
	if (r < 0)
		podman_import_free(out);
	return r;
}
