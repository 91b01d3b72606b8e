#include "probe_cache.h"

#include <string.h>
#include <sys/stat.h>

#include "hostinfo.h"
#include "layout.h"
#include "lock.h"
#include "util.h"

static void json_putp(struct json_object **obj)
{
	if (*obj)
		json_object_put(*obj);
}
#define cleanup_json _cleanup_(json_putp)

char *probe_cache_fingerprint(const char *path)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return NULL;
	return xasprintf("%s:%lld%09ld:%lld", path, (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec,
	                 (long long)st.st_size);
}

/* The whole cache when it belongs to this boot, else NULL. */
static struct json_object *load(const char *file, const char *boot_id)
{
	cleanup_json struct json_object *root = json_object_from_file(file);
	struct json_object *id;
	if (!root || !json_object_is_type(root, json_type_object))
		return NULL;
	if (!json_object_object_get_ex(root, "boot_id", &id) || !json_object_is_type(id, json_type_string) ||
	    strcmp(json_object_get_string(id), boot_id) != 0)
		return NULL;
	return move_ptr(root);
}

struct json_object *probe_cache_get_at(const char *file, const char *boot_id, const char *name,
                                       const char *key)
{
	cleanup_json struct json_object *root = load(file, boot_id);
	struct json_object *section, *stored_key;
	if (!root || !json_object_object_get_ex(root, name, &section) ||
	    !json_object_is_type(section, json_type_object))
		return NULL;
	if (key) {
		if (!json_object_object_get_ex(section, "key", &stored_key) ||
		    !json_object_is_type(stored_key, json_type_string) ||
		    strcmp(json_object_get_string(stored_key), key) != 0)
			return NULL;
	}
	return json_object_get(section);
}

int probe_cache_put_at(const char *file, const char *boot_id, const char *name, const char *key,
                       struct json_object *value, cryo_err *err)
{
	cleanup_json struct json_object *root = load(file, boot_id);
	if (!root) {
		root = json_object_new_object();
		json_object_object_add(root, "boot_id", json_object_new_string(boot_id));
	}
	struct json_object *section = json_object_new_object();
	json_object_object_add(section, "key", key ? json_object_new_string(key) : NULL);
	json_object_object_foreach (value, k, v) {
		if (strcmp(k, "key") != 0)
			json_object_object_add(section, k, json_object_get(v));
	}
	json_object_object_add(root, name, section);
	const char *text =
	    json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
	if (write_file_atomic(file, text, strlen(text), 0600, err) < 0)
		return cryo_error_wrap(err, "update the probe cache");
	return 0;
}

struct json_object *probe_cache_get(struct cryo_engine *engine, const char *name, const char *key)
{
	cleanup_error cryo_err err = NULL;
	cleanup_free char *boot_id = NULL;
	cleanup_free char *file = layout_probe_cache(engine->runroot);
	if (hostinfo_boot_id(&boot_id, &err) < 0)
		return NULL; /* without a boot ID nothing cached can be trusted */
	return probe_cache_get_at(file, boot_id, name, key);
}

int probe_cache_put(struct cryo_engine *engine, const char *name, const char *key, struct json_object *value,
                    cryo_err *err)
{
	cleanup_free char *boot_id = NULL;
	cleanup_free char *file = layout_probe_cache(engine->runroot);
	cleanup_close int lock_fd = -1;
	int r;
	if ((r = hostinfo_boot_id(&boot_id, err)) < 0)
		return cryo_error_wrap(err, "update the probe cache");
	/* Read-modify-write: serialise writers so one section does not drop another. */
	if ((r = lock_acquire(engine, "host-probe", &lock_fd, err)) < 0)
		return cryo_error_wrap(err, "update the probe cache");
	return probe_cache_put_at(file, boot_id, name, key, value, err);
}
