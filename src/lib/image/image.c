#include "image.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>

#include "digest.h"
#include "layer.h"
#include "layout.h"
#include "lock.h"
#include "oci_layout.h"
#include "state.h"
#include "util.h"

/* cryo_error_set appends strerror() for a non-zero errno; these messages say
 * all there is, so they keep the code without the text. */
static int keep_code(cryo_err *err, int code)
{
	if (err && *err)
		(*err)->errnum = code;
	return -code;
}
#define fail_with(err, code, ...) (cryo_error_set((err), 0, __VA_ARGS__), keep_code((err), (code)))

#define IMAGE_NAME_MAX 128
#define TMP_PREFIX "image-"
/* The key of a checkpoint image's entry in its stored configuration:
 * {"layer": "<sha256 hex of the layer blob>"}. */
#define IMAGE_CHECKPOINT_KEY "Checkpoint"

/* ---- names ---- */

static bool chars_match(const char *s, bool (*first)(char), bool (*rest)(char))
{
	size_t n = strlen(s);
	if (n == 0 || n > IMAGE_NAME_MAX || !first(s[0]))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!rest(s[i]))
			return false;
	return true;
}

static bool is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}
static bool is_repo_char(char c)
{
	return is_lower_alnum(c) || c == '.' || c == '_' || c == '/' || c == '-';
}
static bool is_tag_first(char c)
{
	return is_lower_alnum(c) || (c >= 'A' && c <= 'Z') || c == '_';
}
static bool is_tag_char(char c)
{
	return is_tag_first(c) || c == '.' || c == '-';
}

/* `host[:port]` of a registry: [a-z0-9.-] with a dot, `localhost`, or any
 * such host with a port. */
static bool registry_host_is_valid(const char *host, size_t n)
{
	const char *colon = memchr(host, ':', n);
	size_t hn = colon ? (size_t)(colon - host) : n;
	if (hn == 0 || !is_lower_alnum(host[0]))
		return false;
	for (size_t i = 0; i < hn; i++)
		if (!is_lower_alnum(host[i]) && host[i] != '.' && host[i] != '-')
			return false;
	if (colon) {
		size_t pn = n - hn - 1;
		if (pn == 0 || pn > 5 || strspn(colon + 1, "0123456789") < pn)
			return false;
	}
	return true;
}

bool image_repository_is_valid(const char *repository)
{
	const char *slash = strchr(repository, '/');
	if (slash && memchr(repository, ':', (size_t)(slash - repository))) {
		if (strlen(repository) > IMAGE_NAME_MAX ||
		    !registry_host_is_valid(repository, (size_t)(slash - repository)))
			return false;
		return chars_match(slash + 1, is_lower_alnum, is_repo_char);
	}
	return chars_match(repository, is_lower_alnum, is_repo_char);
}

bool image_tag_is_valid(const char *tag)
{
	return chars_match(tag, is_tag_first, is_tag_char);
}

int image_ref_parse(const char *ref, char **repository, char **tag, cryo_err *err)
{
	/* The tag follows the first `:` after the last `/` (before it, a `:`
	 * can only be a registry's port). */
	const char *slash = strrchr(ref, '/');
	const char *colon = strchr(slash ? slash : ref, ':');
	const char *first_slash = strchr(ref, '/'), *first_colon = strchr(ref, ':');
	/* `name:ta/g` (no registry port before the `/`): a tag with a `/`. */
	if (first_colon && first_slash && first_colon < first_slash &&
	    !registry_host_is_valid(ref, (size_t)(first_slash - ref)))
		colon = first_colon;
	cleanup_free char *repo = colon ? xstrndup(ref, (size_t)(colon - ref)) : xstrdup(ref);
	const char *t = colon ? colon + 1 : IMAGE_DEFAULT_TAG;

	if (!image_repository_is_valid(repo))
		return fail_with(err, EINVAL,
		                 "invalid image name `%s`: the repository must match [a-z0-9][a-z0-9._/-]* "
		                 "(after an optional registry `HOST[:PORT]/`) and have at most %d characters",
		                 ref, IMAGE_NAME_MAX);
	if (!image_tag_is_valid(t))
		return fail_with(
		    err, EINVAL,
		    "invalid image name `%s`: the tag must match [A-Za-z0-9_][A-Za-z0-9_.-]* and "
		    "have at most %d characters",
		    ref, IMAGE_NAME_MAX);
	*repository = move_ptr(repo);
	*tag = xstrdup(t);
	return 0;
}

/* "repo:tag" as stored in images.name. */
static int full_name(const char *ref, char **out, cryo_err *err)
{
	cleanup_free char *repo = NULL, *tag = NULL;
	int r = image_ref_parse(ref, &repo, &tag, err);
	if (r < 0)
		return r;
	*out = xasprintf("%s:%s", repo, tag);
	return 0;
}

/* ---- configuration and rows ---- */

static void image_config_clear(struct image_config *c)
{
	strv_free(c->env);
	strv_free(c->cmd);
	strv_free(c->entrypoint);
	free(c->workdir);
	free(c->user);
	memset(c, 0, sizeof(*c));
}

void image_free(struct image *img)
{
	if (!img)
		return;
	free(img->id);
	free(img->name);
	strv_free(img->layers);
	image_config_clear(&img->config);
	free(img->checkpoint_layer);
	free(img);
}

void image_freep(struct image **img)
{
	image_free(*img);
	*img = NULL;
}

void image_list_free(struct image **list, size_t count)
{
	for (size_t i = 0; i < count; i++)
		image_free(list[i]);
	free(list);
}

static struct json_object *strv_to_json(char *const *v)
{
	if (!v)
		return NULL;
	struct json_object *a = json_object_new_array();
	for (size_t i = 0; v[i]; i++)
		json_object_array_add(a, json_object_new_string(v[i]));
	return a;
}

/* A JSON array of strings as a NULL-terminated vector; NULL when absent or not
 * an array. Non-string elements are skipped. */
static char **json_to_strv(struct json_object *obj, const char *key)
{
	struct json_object *a;
	if (!obj || !json_object_object_get_ex(obj, key, &a) || !json_object_is_type(a, json_type_array))
		return NULL;
	char **v = xcalloc(1, sizeof(char *));
	for (size_t i = 0; i < json_object_array_length(a); i++) {
		struct json_object *s = json_object_array_get_idx(a, i);
		if (json_object_is_type(s, json_type_string))
			strv_push(&v, json_object_get_string(s));
	}
	return v;
}

static char *json_string_or(struct json_object *obj, const char *key, const char *fallback)
{
	struct json_object *s;
	if (obj && json_object_object_get_ex(obj, key, &s) && json_object_is_type(s, json_type_string) &&
	    *json_object_get_string(s))
		return xstrdup(json_object_get_string(s));
	return xstrdup(fallback);
}

/* Env, Cmd, Entrypoint, WorkingDir and User of an OCI configuration's `config`
 * object (the same keys cryo stores). */
static void image_config_from_json(struct json_object *obj, struct image_config *c)
{
	c->env = json_to_strv(obj, "Env");
	if (!c->env)
		c->env = xcalloc(1, sizeof(char *));
	c->cmd = json_to_strv(obj, "Cmd");
	c->entrypoint = json_to_strv(obj, "Entrypoint");
	c->workdir = json_string_or(obj, "WorkingDir", "/");
	c->user = json_string_or(obj, "User", "");
}

static struct json_object *image_config_to_json(const struct image_config *c)
{
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "Env", strv_to_json(c->env));
	json_object_object_add(o, "Cmd", strv_to_json(c->cmd));
	json_object_object_add(o, "Entrypoint", strv_to_json(c->entrypoint));
	json_object_object_add(o, "WorkingDir", json_object_new_string(c->workdir));
	json_object_object_add(o, "User", json_object_new_string(c->user));
	return o;
}

static const char *json_plain(struct json_object *obj)
{
	return json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
}

static int image_from_row(const struct image_row *row, struct image **out, cryo_err *err)
{
	cleanup_image struct image *img = xcalloc(1, sizeof(*img));
	img->id = row->id ? xstrdup(row->id) : NULL;
	img->name = row->name ? xstrdup(row->name) : NULL;
	img->created = row->created;
	img->size = row->size;

	struct json_object *config = json_tokener_parse(row->config);
	struct json_object *checkpoint = NULL, *layer = NULL;
	image_config_from_json(config, &img->config);
	if (config && json_object_object_get_ex(config, IMAGE_CHECKPOINT_KEY, &checkpoint) &&
	    json_object_object_get_ex(checkpoint, "layer", &layer) &&
	    json_object_is_type(layer, json_type_string))
		img->checkpoint_layer = xstrdup(json_object_get_string(layer));
	json_object_put(config);

	struct json_object *layers = json_tokener_parse(row->layers);
	if (!layers || !json_object_is_type(layers, json_type_array)) {
		json_object_put(layers);
		return fail_with(err, EINVAL, "image %s: corrupt layer list in the database", img->id);
	}
	struct json_object *wrapper = json_object_new_object();
	json_object_object_add(wrapper, "l", layers);
	img->layers = json_to_strv(wrapper, "l");
	json_object_put(wrapper);
	*out = move_ptr(img);
	return 0;
}

/* ---- lookups ---- */

static int get_by(struct cryo_engine *engine, enum image_match match, const char *arg, struct image **out,
                  bool *ambiguous, cryo_err *err)
{
	struct image_row *row = NULL;
	int r = state_image_find(engine, match, arg, &row, ambiguous, err);
	if (r <= 0)
		return r;
	r = image_from_row(row, out, err);
	image_row_free(row);
	return r < 0 ? r : 1;
}

int image_get(struct cryo_engine *engine, const char *ref, struct image **out, cryo_err *err)
{
	cleanup_free char *name = NULL;
	cleanup_image struct image *img = NULL;
	bool ambiguous = false;
	int r;

	if (full_name(ref, &name, NULL) == 0) {
		if ((r = get_by(engine, IMAGE_MATCH_NAME, name, &img, NULL, err)) < 0)
			return r;
		if (r > 0) {
			*out = move_ptr(img);
			return 0;
		}
	}
	const char *hex = str_has_prefix(ref, "sha256:") ? ref + strlen("sha256:") : ref;
	size_t n = strlen(hex);
	if (n >= 3 && n <= DIGEST_HEX_LEN && strspn(hex, "0123456789abcdef") == n) {
		if ((r = get_by(engine, IMAGE_MATCH_ID_PREFIX, hex, &img, &ambiguous, err)) < 0)
			return r;
		if (r > 0 && ambiguous)
			return fail_with(err, EINVAL,
			                 "image ID prefix `%s` is ambiguous: give more characters", ref);
		if (r > 0) {
			*out = move_ptr(img);
			return 0;
		}
	}
	return fail_with(err, ENOENT, "no such image `%s`", ref);
}

int image_list(struct cryo_engine *engine, struct image ***out, size_t *count, cryo_err *err)
{
	struct image_row **rows = NULL;
	struct image **list = NULL;
	size_t n = 0;
	int r = state_image_list(engine, &rows, &n, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		struct image *img = NULL;
		if ((r = image_from_row(rows[i], &img, err)) < 0) {
			image_list_free(list, i);
			image_row_list_free(rows, n);
			return r;
		}
		list = xrealloc(list, (i + 1) * sizeof(*list));
		list[i] = img;
	}
	image_row_list_free(rows, n);
	*out = list;
	*count = n;
	return 0;
}

char *image_layer_path(struct cryo_engine *engine, const char *layer_id)
{
	return layout_layer_dir(engine->root, layer_id);
}

/* ---- mounts ---- */

bool image_is_mounted(struct cryo_engine *engine, const char *id)
{
	cleanup_free char *mnt = layout_image_mnt(engine->root, id);
	struct statx stx;
	if (statx(AT_FDCWD, mnt, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &stx) < 0)
		return false;
	return (stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) &&
	       (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT);
}

/* Unmount (when mounted) and remove <root>/images/<id>. */
static int image_unmount_dir(struct cryo_engine *engine, const char *id, cryo_err *err)
{
	cleanup_free char *mnt = layout_image_mnt(engine->root, id);
	cleanup_free char *dir = layout_image_dir(engine->root, id);
	while (image_is_mounted(engine, id)) {
		if (umount2(mnt, UMOUNT_NOFOLLOW) < 0)
			return cryo_error_set(err, errno, "unmount image at `%s`", mnt);
	}
	return rm_rf(dir, err);
}

/* Layer IDs top first, a layer used twice only at its top-most place: what is
 * below that place is hidden or repeated by it, so the merged view is the same. */
static char **layers_top_first(const struct image *img)
{
	size_t n = strv_len(img->layers);
	char **ids = xcalloc(1, sizeof(char *));
	for (size_t i = n; i-- > 0;) {
		bool above = false;
		for (size_t j = i + 1; j < n; j++)
			above = above || strcmp(img->layers[i], img->layers[j]) == 0;
		if (!above)
			strv_push(&ids, img->layers[i]);
	}
	return ids;
}

char **image_lowerdirs(struct cryo_engine *engine, const struct image *img)
{
	cleanup_strv char **ids = layers_top_first(img);
	char **dirs = xcalloc(1, sizeof(char *));
	for (size_t i = 0; ids[i]; i++) {
		cleanup_free char *dir = image_layer_path(engine, ids[i]);
		strv_push(&dirs, dir);
	}
	return dirs;
}

/* The overlay lowerdir option's value, relative to the layers directory, which
 * keeps it short and free of characters overlayfs would need escaped. */
static char *overlay_lowerdirs(const struct image *img)
{
	cleanup_strv char **ids = layers_top_first(img);
	char *list = xstrdup("");
	for (size_t i = 0; ids[i]; i++) {
		char *next = xasprintf("%s%s%s", list, i ? ":" : "", ids[i]);
		free(list);
		list = next;
	}
	return list;
}

/* An inspection mount: read-only, and neither device nodes nor set-ID bits
 * of the image take effect on the host through it. */
static int mount_layers(struct cryo_engine *engine, const struct image *img, const char *mnt, cryo_err *err)
{
	size_t n = strv_len(img->layers);
	if (n == 0) {
		if (mount("tmpfs", mnt, "tmpfs", MS_RDONLY | MS_NODEV | MS_NOSUID, "size=4k,mode=0755") < 0)
			return cryo_error_set(err, errno, "mount an empty read-only tmpfs at `%s`", mnt);
		return 0;
	}
	cleanup_free char *lower = overlay_lowerdirs(img);
	if (!strchr(lower, ':')) {
		cleanup_free char *layer = image_layer_path(engine, lower);
		if (mount(layer, mnt, NULL, MS_BIND, NULL) < 0)
			return cryo_error_set(err, errno, "bind mount layer `%s` at `%s`", layer, mnt);
		if (mount(NULL, mnt, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NODEV | MS_NOSUID, NULL) <
		    0) {
			int saved = errno;
			umount2(mnt, MNT_DETACH);
			return cryo_error_set(err, saved, "make the mount at `%s` read-only", mnt);
		}
		return 0;
	}

	cleanup_free char *data = xasprintf("lowerdir=%s", lower);
	if (strlen(data) >= 4096)
		return fail_with(err, E2BIG, "image %s has too many layers (%zu) for one overlay mount",
		                 img->id, n);
	cleanup_free char *layers_dir = layout_layers_dir(engine->root);
	cleanup_close int cwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (cwd < 0 || chdir(layers_dir) < 0)
		return cryo_error_set(err, errno, "enter `%s`", layers_dir);
	int r = mount("overlay", mnt, "overlay", MS_RDONLY | MS_NODEV | MS_NOSUID, data);
	int saved = errno;
	if (fchdir(cwd) < 0) {
		/* The previous working directory is gone; nothing depends on it. */
	}
	if (r < 0)
		return cryo_error_set(err, saved, "mount overlay of %zu layers at `%s`", n, mnt);
	return 0;
}

static int mount_locked(struct cryo_engine *engine, const struct image *img, char **path_out, cryo_err *err)
{
	int rc = image_require_rootfs(img, err);
	if (rc < 0)
		return rc;
	cleanup_free char *mnt = layout_image_mnt(engine->root, img->id);
	int r;
	if (!image_is_mounted(engine, img->id)) {
		if ((r = mkdir_p(mnt, 0700, err)) < 0 || (r = mount_layers(engine, img, mnt, err)) < 0)
			return r;
	}
	*path_out = move_ptr(mnt);
	return 0;
}

int image_mount(struct cryo_engine *engine, const char *ref, char **path_out, cryo_err *err)
{
	cleanup_close int lock = -1;
	cleanup_image struct image *img = NULL;
	int r;
	if ((r = lock_acquire(engine, IMAGE_STORE_LOCK, &lock, err)) < 0 ||
	    (r = image_get(engine, ref, &img, err)) < 0)
		return r;
	if ((r = mount_locked(engine, img, path_out, err)) < 0)
		return cryo_error_wrap(err, "mount image `%s`", ref);
	return 0;
}

int image_unmount(struct cryo_engine *engine, const char *ref, cryo_err *err)
{
	cleanup_close int lock = -1;
	cleanup_image struct image *img = NULL;
	int r;
	if ((r = lock_acquire(engine, IMAGE_STORE_LOCK, &lock, err)) < 0 ||
	    (r = image_get(engine, ref, &img, err)) < 0)
		return r;
	if (!image_is_mounted(engine, img->id))
		return fail_with(err, EINVAL, "image `%s` is not mounted", ref);
	if ((r = image_unmount_dir(engine, img->id, err)) < 0)
		return cryo_error_wrap(err, "unmount image `%s`", ref);
	return 0;
}

/* ---- removal ---- */

/* Delete an image no container uses and the layers no other image shares.
 * The database change is one transaction; directories go after it commits. */
static int delete_image_locked(struct cryo_engine *engine, const struct image *img, cryo_err *err)
{
	cleanup_strv char **users = NULL, **orphans = xcalloc(1, sizeof(char *));
	cleanup_free char *own_dir = NULL; /* its registry blobs or checkpoint layout */
	const char *shown = img->name ? img->name : img->id;
	int r;

	if ((r = state_image_users(engine, img->id, &users, err)) < 0)
		return r;
	if (users[0]) {
		cleanup_free char *list = xstrdup("");
		for (size_t i = 0; users[i]; i++) {
			char *next = xasprintf("%s%s`%s`", list, i ? ", " : "", users[i]);
			free(list);
			list = next;
		}
		return fail_with(err, EBUSY, "image `%s` is in use by container%s %s: remove %s first", shown,
		                 users[1] ? "s" : "", list, users[1] ? "them" : "it");
	}
	if ((r = image_unmount_dir(engine, img->id, err)) < 0)
		return r;

	if ((r = state_begin(engine, err)) < 0)
		return r;
	if ((r = state_image_delete(engine, img->id, err)) < 0)
		goto fail;
	for (size_t i = 0; img->layers[i]; i++) {
		bool used = false;
		if ((r = state_layer_in_use(engine, img->layers[i], &used, err)) < 0)
			goto fail;
		for (size_t j = 0; !used && orphans[j]; j++)
			used = strcmp(orphans[j], img->layers[i]) == 0;
		if (used)
			continue;
		if ((r = state_layer_delete(engine, img->layers[i], err)) < 0)
			goto fail;
		strv_push(&orphans, img->layers[i]);
	}
	if ((r = state_commit(engine, err)) < 0)
		goto fail;

	for (size_t i = 0; orphans[i]; i++) {
		cleanup_free char *dir = image_layer_path(engine, orphans[i]);
		if ((r = rm_rf(dir, err)) < 0)
			return cryo_error_wrap(err, "image `%s` removed, but not its layer directory", shown);
	}
	own_dir =
	    img->checkpoint_layer ? image_checkpoint_dir(engine, img->id) : image_blobs_dir(engine, img->id);
	if ((r = rm_rf(own_dir, err)) < 0)
		return cryo_error_wrap(err, "image `%s` removed, but not its directory `%s`", shown, own_dir);
	return 0;
fail:
	state_rollback(engine);
	return r;
}

/* Directories of interrupted operations: unpack areas in tmp/, layer
 * directories without a row, image mount directories without an image. Only
 * called with the images lock held, when no other store change runs. Fails
 * only when the database cannot be read. */
static int sweep_leftovers(struct cryo_engine *engine, cryo_err *err)
{
	static const struct {
		char *(*dir)(const char *root);
		int (*recorded)(struct cryo_engine *, const char *, bool *, cryo_err *);
	} areas[] = {
	    {layout_tmp_dir, NULL},
	    {layout_layers_dir, state_layer_exists},
	    {layout_images_dir, state_image_exists},
	    {layout_checkpoint_images_dir, state_image_exists},
	    {layout_image_blobs_dir, state_image_exists},
	};
	for (size_t a = 0; a < ARRAY_SIZE(areas); a++) {
		cleanup_free char *path = areas[a].dir(engine->root);
		cleanup_dir DIR *d = opendir(path);
		struct dirent *de;
		if (!d)
			return cryo_error_set(err, errno, "open `%s`", path);
		while ((de = readdir(d))) {
			bool keep = false;
			int r;
			if (de->d_name[0] == '.')
				continue;
			if (!areas[a].recorded)
				keep = !str_has_prefix(de->d_name, TMP_PREFIX);
			else if ((r = areas[a].recorded(engine, de->d_name, &keep, err)) < 0)
				return r;
			if (keep)
				continue;
			/* Housekeeping must not block the change the user asked for:
			 * what cannot be removed now (a busy mount) waits for the next
			 * sweep. */
			cleanup_free char *victim = xasprintf("%s/%s", path, de->d_name);
			if (a == 2)
				image_unmount_dir(engine, de->d_name, NULL);
			else
				rm_rf(victim, NULL);
		}
	}
	return 0;
}

/* Untagged images exist only because their name moved on while a container
 * used them: delete those no container uses any more. */
static int prune_locked(struct cryo_engine *engine, cryo_err *err)
{
	cleanup_strv char **ids = NULL;
	int r = state_image_unused_untagged(engine, &ids, err);
	if (r < 0)
		return r;
	for (size_t i = 0; ids[i]; i++) {
		cleanup_image struct image *img = NULL;
		bool found = false;
		if ((r = get_by(engine, IMAGE_MATCH_ID, ids[i], &img, NULL, err)) < 0)
			return r;
		found = r > 0;
		if (found && (r = delete_image_locked(engine, img, err)) < 0)
			return r;
	}
	return 0;
}

int image_prune_unused(struct cryo_engine *engine, cryo_err *err)
{
	cleanup_close int lock = -1;
	int r;
	if ((r = lock_acquire(engine, IMAGE_STORE_LOCK, &lock, err)) < 0 ||
	    (r = sweep_leftovers(engine, err)) < 0 || (r = prune_locked(engine, err)) < 0)
		return cryo_error_wrap(err, "prune unused images");
	return 0;
}

int image_remove(struct cryo_engine *engine, const char *ref, cryo_err *err)
{
	cleanup_close int lock = -1;
	cleanup_image struct image *img = NULL;
	int r;
	if ((r = lock_acquire(engine, IMAGE_STORE_LOCK, &lock, err)) < 0 ||
	    (r = image_get(engine, ref, &img, err)) < 0)
		return r;
	if ((r = delete_image_locked(engine, img, err)) < 0)
		return cryo_error_wrap(err, "remove image `%s`", ref);
	return 0;
}

/* ---- adding images ---- */

/* One store change in progress: the layers it unpacked (removed again if it
 * fails) and what it will record. */
struct image_add {
	char **new_layers; /* layer IDs whose directories this change created */
	char **layers;     /* the image's layer IDs, bottom first */
	uint64_t *sizes;   /* per layer, bytes unpacked */
	char *name;        /* "repo:tag" or NULL */
	char *id;
	int64_t created;
	struct image_config config;
	char *checkpoint_layer;   /* a checkpoint image: its layer blob's sha256 hex */
	uint64_t checkpoint_size; /* and its size */
	char *keep;               /* the OCI layout of its registry blobs being made in tmp/, or NULL */
};

static void image_add_rollback(struct cryo_engine *engine, struct image_add *add)
{
	for (size_t i = 0; add->new_layers && add->new_layers[i]; i++) {
		cleanup_free char *dir = image_layer_path(engine, add->new_layers[i]);
		rm_rf(dir, NULL);
	}
}

static void image_add_clear(struct image_add *add)
{
	strv_free(add->new_layers);
	strv_free(add->layers);
	free(add->sizes);
	free(add->name);
	free(add->id);
	free(add->checkpoint_layer);
	if (add->keep)
		rm_rf(add->keep, NULL);
	free(add->keep);
	image_config_clear(&add->config);
}

/* Add layer `id` from `archive` (whose bytes must have that sha256) to the
 * image being added, unpacking it unless the store already has it. */
static int add_layer(struct cryo_engine *engine, struct image_add *add, const char *archive, const char *id,
                     bool require_entries, cryo_err *err)
{
	cleanup_free char *final = image_layer_path(engine, id);
	cleanup_free char *tmp = layout_tmp(engine->root, TMP_PREFIX "layer-XXXXXX");
	size_t n = add->layers ? strv_len(add->layers) : 0;
	uint64_t size = 0;
	bool known = false;
	int r;

	if ((r = state_layer_size(engine, id, &known, &size, err)) < 0)
		return r;
	for (size_t i = 0; !known && add->layers && add->layers[i]; i++)
		if (strcmp(add->layers[i], id) == 0) {
			known = true;
			size = add->sizes[i];
		}
	if (!known || !path_exists(final)) {
		struct extract_limits limits;
		extract_limits_from_config(engine->config, &limits);
		const struct layer_unpack_opts opts = {.expected_digest = id,
		                                       .whiteouts = true,
		                                       .require_entries = require_entries,
		                                       .limits = &limits};
		struct layer_unpack_result res;
		if (!mkdtemp(tmp))
			return cryo_error_set(err, errno, "create directory `%s`", tmp);
		if (chmod(tmp, 0755) < 0) {
			r = cryo_error_set(err, errno, "chmod `%s`", tmp);
			rm_rf(tmp, NULL);
			return r;
		}
		if ((r = layer_unpack(archive, tmp, &opts, &res, err)) < 0) {
			rm_rf(tmp, NULL);
			return r;
		}
		if ((r = rm_rf(final, err)) < 0 ||
		    (rename(tmp, final) < 0 &&
		     (r = cryo_error_set(err, errno, "rename `%s` to `%s`", tmp, final)) < 0)) {
			rm_rf(tmp, NULL);
			return r;
		}
		strv_push(&add->new_layers, id);
		size = res.size;
	}
	strv_push(&add->layers, id);
	add->sizes = xrealloc(add->sizes, (n + 1) * sizeof(*add->sizes));
	add->sizes[n] = size;
	return 0;
}

static uint64_t image_add_size(const struct image_add *add)
{
	uint64_t total = 0;
	for (size_t i = 0; add->layers[i]; i++) {
		bool seen = false;
		for (size_t j = 0; j < i; j++)
			seen = seen || strcmp(add->layers[i], add->layers[j]) == 0;
		if (!seen)
			total += add->sizes[i];
	}
	return total;
}

/* The image row, its layer rows and the name move, in one transaction. An
 * image with this ID may exist already (the same OCI image loaded again): it
 * keeps its row and takes the name, unless it already has another one. */
static int record_image(struct cryo_engine *engine, struct image_add *add, cryo_err *err)
{
	cleanup_image struct image *existing = NULL;
	int r;

	if ((r = state_begin(engine, err)) < 0)
		return r;
	if ((r = get_by(engine, IMAGE_MATCH_ID, add->id, &existing, NULL, err)) < 0)
		goto fail;
	if (existing && existing->name && add->name && strcmp(existing->name, add->name) != 0) {
		r = fail_with(err, EEXIST, "this image is already stored as `%s` (ID %.12s); remove it first",
		              existing->name, add->id);
		goto fail;
	}
	for (size_t i = 0; add->layers[i]; i++)
		if ((r = state_layer_insert(engine, add->layers[i], add->sizes[i], now_realtime_us(), err)) <
		    0)
			goto fail;
	if (!existing) {
		struct json_object *config = image_config_to_json(&add->config);
		struct json_object *layers = strv_to_json(add->layers);
		if (add->checkpoint_layer) {
			struct json_object *ck = json_object_new_object();
			json_object_object_add(ck, "layer", json_object_new_string(add->checkpoint_layer));
			json_object_object_add(config, IMAGE_CHECKPOINT_KEY, ck);
		}
		r = state_image_insert(engine, add->id, add->created, json_plain(config), json_plain(layers),
		                       add->checkpoint_layer ? add->checkpoint_size : image_add_size(add),
		                       err);
		json_object_put(config);
		json_object_put(layers);
		if (r < 0)
			goto fail;
	}
	if (add->name && (r = state_image_take_name(engine, add->id, add->name, err)) < 0)
		goto fail;
	return state_commit(engine, err);
fail:
	state_rollback(engine);
	return r;
}

/* The parts every new image shares: record it, then drop an image that lost its
 * name to it (when no container uses that one). */
static int image_add_finish(struct cryo_engine *engine, struct image_add *add, char **id_out, cryo_err *err)
{
	cleanup_free char *blobs = NULL;
	bool moved = false;
	int r;
	/* The blobs go into place first (an image stored before keeps its own):
	 * a row never names an image whose blobs a crash lost on the way. */
	if (add->keep) {
		blobs = image_blobs_dir(engine, add->id);
		if (!path_exists(blobs)) {
			if (rename(add->keep, blobs) < 0) {
				r = cryo_error_set(err, errno, "move `%s` to `%s`", add->keep, blobs);
				image_add_rollback(engine, add);
				return r;
			}
			moved = true;
		}
	}
	r = record_image(engine, add, err);
	if (r < 0) {
		if (moved)
			rm_rf(blobs, NULL);
		image_add_rollback(engine, add);
		return r;
	}
	if ((r = prune_locked(engine, err)) < 0)
		return cryo_error_wrap(err, "image %s stored, but removing the image it replaced failed",
		                       add->id);
	*id_out = xstrdup(add->id);
	return 0;
}

static void image_config_default(struct image_config *c)
{
	c->env = xcalloc(1, sizeof(char *));
	strv_push(&c->env, IMAGE_DEFAULT_PATH);
	c->cmd = xcalloc(1, sizeof(char *));
	strv_push(&c->cmd, "/bin/sh");
	c->entrypoint = NULL;
	c->workdir = xstrdup("/");
	c->user = xstrdup("");
}

/* ---- the registry blobs an image keeps ---- */

/* Start the OCI layout that keeps an image's registry blobs (add->keep, in
 * tmp/): the directory, blobs/sha256/ and oci-layout. */
static int keep_make(struct cryo_engine *engine, struct image_add *add, cryo_err *err)
{
	static const char oci_layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}\n";
	cleanup_free char *tmp = layout_tmp(engine->root, TMP_PREFIX "blobs-XXXXXX");
	int r;
	if (!mkdtemp(tmp))
		return cryo_error_set(err, errno, "create directory `%s`", tmp);
	add->keep = xstrdup(tmp);
	cleanup_free char *blobs = xasprintf("%s/blobs/sha256", tmp);
	cleanup_free char *layout_file = xasprintf("%s/oci-layout", tmp);
	if ((r = mkdir_p(blobs, 0700, err)) == 0)
		r = write_file(layout_file, oci_layout, strlen(oci_layout), 0600, err);
	return r;
}

/* The kept layout's index.json, naming its one manifest. */
static int keep_index(const struct image_add *add, const struct oci_descriptor *manifest, cryo_err *err)
{
	cleanup_free char *index_file = xasprintf("%s/index.json", add->keep);
	struct json_object *index = json_object_new_object(), *list = json_object_new_array();
	struct json_object *desc = json_object_new_object();
	cleanup_free char *digest = xasprintf("sha256:%s", manifest->digest);
	json_object_object_add(desc, "mediaType", json_object_new_string(manifest->media_type));
	json_object_object_add(desc, "digest", json_object_new_string(digest));
	json_object_object_add(desc, "size", json_object_new_int64(manifest->size));
	json_object_array_add(list, desc);
	json_object_object_add(index, "schemaVersion", json_object_new_int(2));
	json_object_object_add(index, "manifests", list);
	const char *text = json_plain(index);
	int r = write_file(index_file, text, strlen(text), 0600, err);
	json_object_put(index);
	return r;
}

/* Keep the blob `desc` in add->keep: a hard link when the layout is the
 * engine's own (a pull's or an oci-archive's scratch in tmp/), else a copy
 * (a user's file must not share its inode with the store); then the kept
 * bytes are checked against the descriptor. *kept_path (allocated) is the
 * kept file, which is what the caller reads from then on. */
static int keep_blob(const struct image_add *add, const struct oci_descriptor *desc, bool may_link,
                     char **kept_path, cryo_err *err)
{
	cleanup_free char *path = xasprintf("%s/blobs/sha256/%s", add->keep, desc->digest);
	cleanup_close int src = -1, dst = -1;
	struct stat st;
	int r;
	if (!path_exists(path)) {
		src = open(desc->path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (src < 0)
			return cryo_error_set(err, errno, "open blob `%s`", desc->path);
		if (fstat(src, &st) < 0)
			return cryo_error_set(err, errno, "stat blob `%s`", desc->path);
		if (!S_ISREG(st.st_mode))
			return fail_with(err, EINVAL, "blob sha256:%s (`%s`) is not a regular file",
			                 desc->digest, desc->path);
		cleanup_free char *by_fd = xasprintf("/proc/self/fd/%d", src);
		if (!may_link || linkat(AT_FDCWD, by_fd, AT_FDCWD, path, AT_SYMLINK_FOLLOW) < 0) {
			dst = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
			if (dst < 0)
				return cryo_error_set(err, errno, "create `%s`", path);
			if ((r = copy_file_contents(src, dst, err)) < 0)
				return cryo_error_wrap(err, "copy blob sha256:%s to `%s`", desc->digest,
				                       path);
		}
	}
	struct oci_descriptor kept = *desc;
	kept.path = path;
	if ((r = oci_blob_verify(&kept, err)) < 0)
		return r;
	*kept_path = move_ptr(path);
	return 0;
}

/* Write data as a blob of the kept layout; *desc receives its descriptor
 * (digest, size, path; media type given). */
static int keep_json_blob(const struct image_add *add, struct json_object *obj, const char *media_type,
                          struct oci_descriptor *desc, cryo_err *err)
{
	const char *text = json_plain(obj);
	digest_buffer(text, strlen(text), desc->digest);
	desc->size = (int64_t)strlen(text);
	desc->media_type = xstrdup(media_type);
	desc->path = xasprintf("%s/blobs/sha256/%s", add->keep, desc->digest);
	return write_file(desc->path, text, strlen(text), 0600, err);
}

static struct json_object *descriptor_json(const struct oci_descriptor *d)
{
	struct json_object *o = json_object_new_object();
	cleanup_free char *digest = xasprintf("sha256:%s", d->digest);
	json_object_object_add(o, "mediaType", json_object_new_string(d->media_type));
	json_object_object_add(o, "digest", json_object_new_string(digest));
	json_object_object_add(o, "size", json_object_new_int64(d->size));
	return o;
}

/* The imported tarball, decompressed, as the kept layout's layer blob (an
 * uncompressed tar: its digest is its diff_id). Only the compressions
 * layer.h accepts are read; libarchive's raw format passes the tar bytes
 * through untouched. */
static int keep_tar_blob(const struct image_add *add, const char *tarball, struct oci_descriptor *desc,
                         cryo_err *err)
{
	cleanup_free char *tmp = xasprintf("%s/blobs/layer.tmp", add->keep);
	cleanup_close int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	struct archive *in = archive_read_new();
	struct archive_entry *entry;
	struct digest *dg = digest_new();
	int64_t size = 0;
	int r = 0;
	if (fd < 0) {
		r = cryo_error_set(err, errno, "create `%s`", tmp);
		goto out;
	}
	if (archive_read_support_filter_gzip(in) != ARCHIVE_OK ||
	    archive_read_support_filter_zstd(in) != ARCHIVE_OK ||
	    archive_read_support_filter_xz(in) != ARCHIVE_OK ||
	    archive_read_support_format_raw(in) != ARCHIVE_OK ||
	    archive_read_open_filename(in, tarball, 1 << 16) != ARCHIVE_OK ||
	    archive_read_next_header(in, &entry) != ARCHIVE_OK) {
		r = fail_with(err, EINVAL, "read `%s`: %s", tarball, archive_error_string(in));
		goto out;
	}
	for (;;) {
		char buf[1 << 16];
		la_ssize_t n = archive_read_data(in, buf, sizeof(buf));
		if (n == 0)
			break;
		if (n < 0) {
			r = fail_with(err, EINVAL, "decompress `%s`: %s", tarball, archive_error_string(in));
			goto out;
		}
		digest_update(dg, buf, (size_t)n);
		for (la_ssize_t done = 0; done < n;) {
			ssize_t w = write(fd, buf + done, (size_t)(n - done));
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0) {
				r = cryo_error_set(err, errno, "write `%s`", tmp);
				goto out;
			}
			done += w;
		}
		size += n;
	}
	digest_final(dg, desc->digest);
	dg = NULL;
	desc->size = size;
	desc->media_type = xstrdup("application/vnd.oci.image.layer.v1.tar");
	desc->path = xasprintf("%s/blobs/sha256/%s", add->keep, desc->digest);
	if (rename(tmp, desc->path) < 0)
		r = cryo_error_set(err, errno, "rename `%s` to `%s`", tmp, desc->path);
out:
	if (dg)
		digest_free(dg);
	archive_read_free(in);
	return r;
}

/* An imported image's registry blobs: the layer (the tarball, decompressed),
 * a configuration (creation time, this host's platform, the image's
 * settings, the layer's diff_id) and a manifest. The ID is the
 * configuration's digest, as for a loaded image; the creation time makes
 * each import a distinct image. */
static int keep_imported(const struct image_add *add, const char *tarball, char **id_out, cryo_err *err)
{
	struct oci_descriptor layer = {0}, config = {0}, manifest = {0};
	cleanup_free char *created = format_timestamp(add->created), *diff_id = NULL;
	struct json_object *cfg = NULL, *man = NULL;
	int r;
	if ((r = keep_tar_blob(add, tarball, &layer, err)) < 0)
		goto out;
	diff_id = xasprintf("sha256:%s", layer.digest);
	struct json_object *rootfs = json_object_new_object(), *diff_ids = json_object_new_array();
	json_object_array_add(diff_ids, json_object_new_string(diff_id));
	json_object_object_add(rootfs, "type", json_object_new_string("layers"));
	json_object_object_add(rootfs, "diff_ids", diff_ids);
	cfg = json_object_new_object();
	json_object_object_add(cfg, "created", json_object_new_string(created));
	json_object_object_add(cfg, "architecture", json_object_new_string(oci_host_architecture()));
	json_object_object_add(cfg, "os", json_object_new_string("linux"));
	json_object_object_add(cfg, "config", image_config_to_json(&add->config));
	json_object_object_add(cfg, "rootfs", rootfs);
	if ((r = keep_json_blob(add, cfg, "application/vnd.oci.image.config.v1+json", &config, err)) < 0)
		goto out;
	struct json_object *layers = json_object_new_array();
	json_object_array_add(layers, descriptor_json(&layer));
	man = json_object_new_object();
	json_object_object_add(man, "schemaVersion", json_object_new_int(2));
	json_object_object_add(man, "mediaType",
	                       json_object_new_string("application/vnd.oci.image.manifest.v1+json"));
	json_object_object_add(man, "config", descriptor_json(&config));
	json_object_object_add(man, "layers", layers);
	if ((r = keep_json_blob(add, man, "application/vnd.oci.image.manifest.v1+json", &manifest, err)) <
	        0 ||
	    (r = keep_index(add, &manifest, err)) < 0)
		goto out;
	*id_out = xstrdup(config.digest);
out:
	json_object_put(cfg);
	json_object_put(man);
	free(layer.media_type);
	free(layer.path);
	free(config.media_type);
	free(config.path);
	free(manifest.media_type);
	free(manifest.path);
	return r;
}

static int import_locked(struct cryo_engine *engine, const char *tarball, struct image_add *add,
                         char **id_out, cryo_err *err)
{
	char layer_id[DIGEST_HEX_LEN + 1];
	int r;
	if ((r = sweep_leftovers(engine, err)) < 0 || (r = digest_file(tarball, layer_id, err)) < 0 ||
	    (r = add_layer(engine, add, tarball, layer_id, true, err)) < 0)
		return r;
	add->created = now_realtime_us();
	image_config_default(&add->config);
	if ((r = keep_make(engine, add, err)) < 0 || (r = keep_imported(add, tarball, &add->id, err)) < 0) {
		image_add_rollback(engine, add);
		return cryo_error_wrap(err, "make the image's registry blobs");
	}
	return image_add_finish(engine, add, id_out, err);
}

int image_import(struct cryo_engine *engine, const char *tarball, const char *ref, char **id_out,
                 cryo_err *err)
{
	struct image_add add = {0};
	cleanup_close int lock = -1;
	struct stat st;
	int r;

	if ((r = full_name(ref, &add.name, err)) < 0)
		return r;
	if (stat(tarball, &st) < 0)
		r = cryo_error_set(err, errno, "import `%s`", tarball);
	else if (!S_ISREG(st.st_mode))
		r = fail_with(err, EINVAL, "import `%s`: not a regular file", tarball);
	else if ((r = lock_acquire(engine, IMAGE_STORE_LOCK, &lock, err)) == 0 &&
	         (r = import_locked(engine, tarball, &add, id_out, err)) < 0)
		cryo_error_wrap(err, "import `%s` as `%s`", tarball, add.name);
	image_add_clear(&add);
	return r;
}

/* ---- loading OCI layouts ---- */

/* RFC 3339 ("2024-05-01T10:00:00.123456789Z", "...+02:00") to realtime µs. */
static bool parse_rfc3339(const char *s, int64_t *us)
{
	struct tm tm = {0};
	const char *p = s ? strptime(s, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
	int64_t frac = 0, scale = 1000000;
	if (!p)
		return false;
	if (*p == '.') {
		for (p++; *p >= '0' && *p <= '9'; p++) {
			if (scale > 1) {
				scale /= 10;
				frac += (*p - '0') * scale;
			}
		}
	}
	int64_t offset = 0;
	if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':') {
		int h = (p[1] - '0') * 10 + (p[2] - '0'), m = (p[4] - '0') * 10 + (p[5] - '0');
		offset = (int64_t)(h * 3600 + m * 60) * (*p == '+' ? 1 : -1);
	} else if (strcmp(p, "Z") != 0 && strcmp(p, "z") != 0) {
		return false;
	}
	*us = ((int64_t)timegm(&tm) - offset) * 1000000 + frac;
	return *us >= 0; /* before 1970: not a creation time worth showing */
}

/* The repository a layout is named after when it carries only a tag: its file
 * name, lowercased, without .tar/.tgz/... and with other characters as '-'. */
static char *repository_from_path(const char *path)
{
	static const char *const suffixes[] = {".tar.gz", ".tar.zst", ".tar.xz", ".tgz", ".tar"};
	cleanup_free char *copy = xstrdup(path);
	size_t n = strlen(copy);
	while (n > 1 && copy[n - 1] == '/')
		copy[--n] = '\0';
	const char *slash = strrchr(copy, '/');
	char *base = xstrdup(slash ? slash + 1 : copy);
	for (size_t i = 0; i < ARRAY_SIZE(suffixes); i++)
		if (str_has_suffix(base, suffixes[i]) && strlen(base) > strlen(suffixes[i])) {
			base[strlen(base) - strlen(suffixes[i])] = '\0';
			break;
		}
	for (char *c = base; *c; c++) {
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c - 'A' + 'a');
		else if (!is_repo_char(*c) || *c == '/')
			*c = '-';
	}
	size_t skip = strspn(base, "._-");
	memmove(base, base + skip, strlen(base + skip) + 1);
	if (strlen(base) > IMAGE_NAME_MAX)
		base[IMAGE_NAME_MAX] = '\0';
	if (!*base) {
		free(base);
		return xstrdup("image");
	}
	return base;
}

/* "registry/repo:tag@sha256:..." -> "registry/repo:tag"; a missing tag
 * becomes latest. */
static int reference_to_name(const char *reference, char **out, cryo_err *err)
{
	cleanup_free char *ref = xstrdup(reference);
	char *at = strchr(ref, '@');
	if (at)
		*at = '\0';
	return full_name(ref, out, err);
}

static int loaded_image_name(const struct oci_image *oci, const char *path, char **out, cryo_err *err)
{
	int r;
	const char *ref = oci->ref_name;
	bool bare_tag = ref && !strchr(ref, ':') && !strchr(ref, '/') && !strchr(ref, '@');

	if (ref && !bare_tag)
		r = reference_to_name(ref, out, err);
	else if (bare_tag && oci->image_name) {
		cleanup_free char *from = NULL;
		if ((r = reference_to_name(oci->image_name, &from, err)) == 0) {
			*strrchr(from, ':') = '\0';
			cleanup_free char *joined = xasprintf("%s:%s", from, ref);
			r = full_name(joined, out, err);
		}
	} else if (oci->image_name)
		r = reference_to_name(oci->image_name, out, err);
	else {
		cleanup_free char *repo = repository_from_path(path);
		cleanup_free char *joined = xasprintf("%s:%s", repo, ref ? ref : IMAGE_DEFAULT_TAG);
		r = full_name(joined, out, err);
	}
	if (r < 0)
		return cryo_error_wrap(
		    err, "name the image from the layout's annotations (give --name NAME[:TAG])");
	return 0;
}

static int load_layout(struct cryo_engine *engine, const char *dir, const char *path, bool may_link,
                       struct image_add *add, char **id_out, cryo_err *err)
{
	cleanup_oci_image struct oci_image *oci = NULL;
	struct json_object *config = NULL, *created;
	int r;

	if ((r = oci_layout_read(dir, &oci, err)) < 0)
		return r;
	if (!add->name && (r = loaded_image_name(oci, path, &add->name, err)) < 0)
		return r;
	if ((r = keep_make(engine, add, err)) < 0 || (r = keep_index(add, &oci->manifest, err)) < 0)
		return cryo_error_wrap(err, "keep the image's blobs");
	const struct oci_descriptor *json_blobs[] = {&oci->manifest, &oci->config};
	for (size_t i = 0; i < ARRAY_SIZE(json_blobs); i++) {
		cleanup_free char *kept = NULL;
		if ((r = keep_blob(add, json_blobs[i], may_link, &kept, err)) < 0)
			return cryo_error_wrap(err, "%s", i ? "config" : "manifest");
	}
	for (size_t i = 0; i < oci->n_layers; i++) {
		cleanup_free char *kept = NULL;
		if ((r = keep_blob(add, &oci->layers[i], may_link, &kept, err)) < 0 ||
		    (r = add_layer(engine, add, kept, oci->layers[i].digest, false, err)) < 0) {
			image_add_rollback(engine, add);
			return cryo_error_wrap(err, "layer %zu of %zu", i + 1, oci->n_layers);
		}
	}
	json_object_object_get_ex(oci->config_json, "config", &config);
	image_config_from_json(config, &add->config);
	if (!json_object_object_get_ex(oci->config_json, "created", &created) ||
	    !parse_rfc3339(json_object_get_string(created), &add->created))
		add->created = now_realtime_us();
	add->id = xstrdup(oci->config.digest);
	return image_add_finish(engine, add, id_out, err);
}

int image_load(struct cryo_engine *engine, const char *path, const char *ref, char **id_out, cryo_err *err)
{
	struct image_add add = {0};
	cleanup_close int lock = -1;
	cleanup_free char *tmp = NULL, *tmp_dir = NULL, *tmp_prefix = NULL;
	struct stat st;
	int r;

	if (ref && (r = full_name(ref, &add.name, err)) < 0)
		return r;
	if (stat(path, &st) < 0) {
		r = cryo_error_set(err, errno, "load `%s`", path);
		goto out;
	}
	if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) {
		r = fail_with(err, EINVAL, "load `%s`: neither an OCI layout directory nor an oci-archive",
		              path);
		goto out;
	}
	if ((r = lock_acquire(engine, IMAGE_STORE_LOCK, &lock, err)) < 0 ||
	    (r = sweep_leftovers(engine, err)) < 0)
		goto out;
	const char *dir = path;
	if (S_ISREG(st.st_mode)) {
		tmp = layout_tmp(engine->root, TMP_PREFIX "load-XXXXXX");
		if (!mkdtemp(tmp)) {
			r = cryo_error_set(err, errno, "create directory `%s`", tmp);
			free(tmp);
			tmp = NULL;
			goto wrap;
		}
		struct extract_limits limits;
		extract_limits_from_config(engine->config, &limits);
		if ((r = oci_archive_extract(path, tmp, &limits, err)) < 0)
			goto wrap;
		dir = tmp;
	}
	/* A layout in the engine's tmp/ (an oci-archive unpacked here, a pull's
	 * scratch) is the engine's own: its blobs may be linked, not copied. */
	tmp_dir = layout_tmp_dir(engine->root);
	tmp_prefix = xasprintf("%s/", tmp_dir);
	bool owned = dir != path || str_has_prefix(path, tmp_prefix);
	r = load_layout(engine, dir, path, owned, &add, id_out, err);
wrap:
	if (r < 0)
		cryo_error_wrap(err, "load `%s`", path);
	if (tmp)
		rm_rf(tmp, NULL);
out:
	image_add_clear(&add);
	return r;
}

/* ---- checkpoint images ---- */

char *image_blobs_dir(struct cryo_engine *engine, const char *id)
{
	return layout_image_blobs(engine->root, id);
}

char *image_checkpoint_dir(struct cryo_engine *engine, const char *id)
{
	return layout_checkpoint_image_dir(engine->root, id);
}

int image_require_rootfs(const struct image *img, cryo_err *err)
{
	if (!img->checkpoint_layer)
		return 0;
	const char *shown = img->name ? img->name : img->id;
	return fail_with(err, EINVAL,
	                 "image `%s` is a checkpoint image, not a root file system: restore it with "
	                 "`cryo restore %s`",
	                 shown, shown);
}

bool image_annotations_are_checkpoint(struct json_object *annotations)
{
	struct json_object *v;
	return annotations && ((json_object_object_get_ex(annotations, CKI_CRIO_NAME, &v) &&
	                        json_object_is_type(v, json_type_string)) ||
	                       (json_object_object_get_ex(annotations, CKI_PODMAN_NAME, &v) &&
	                        json_object_is_type(v, json_type_string)));
}

static int add_checkpoint_locked(const char *layout, struct image_add *add, cryo_err *err)
{
	cleanup_oci_image struct oci_image *oci = NULL;
	struct json_object *created;
	int r;

	if ((r = oci_layout_read(layout, &oci, err)) < 0)
		return r;
	if (!image_annotations_are_checkpoint(oci->manifest_annotations))
		return fail_with(err, EINVAL,
		                 "not a checkpoint image: its manifest has neither the `" CKI_CRIO_NAME
		                 "` nor the `" CKI_PODMAN_NAME "` annotation");
	if (oci->n_layers != 1)
		return fail_with(err, EINVAL, "a checkpoint image has exactly one layer, this one has %zu",
		                 oci->n_layers);
	if ((r = oci_blob_verify(&oci->layers[0], err)) < 0)
		return cryo_error_wrap(err, "checkpoint layer");
	if (!json_object_object_get_ex(oci->config_json, "created", &created) ||
	    !parse_rfc3339(json_object_get_string(created), &add->created))
		add->created = now_realtime_us();
	add->id = xstrdup(oci->config.digest);
	image_config_default(&add->config);
	add->layers = xcalloc(1, sizeof(char *));
	add->checkpoint_size = (uint64_t)oci->layers[0].size;
	add->checkpoint_layer = xstrdup(oci->layers[0].digest);
	return 0;
}

int image_add_checkpoint(struct cryo_engine *engine, const char *layout, const char *ref, char **id_out,
                         cryo_err *err)
{
	struct image_add add = {0};
	cleanup_close int lock = -1;
	cleanup_free char *final = NULL;
	cleanup_image struct image *existing = NULL;
	int r;

	if ((r = full_name(ref, &add.name, err)) < 0)
		return r;
	if ((r = lock_acquire(engine, IMAGE_STORE_LOCK, &lock, err)) < 0 ||
	    (r = sweep_leftovers(engine, err)) < 0 || (r = add_checkpoint_locked(layout, &add, err)) < 0)
		goto out;
	if ((r = get_by(engine, IMAGE_MATCH_ID, add.id, &existing, NULL, err)) < 0)
		goto out;
	final = image_checkpoint_dir(engine, add.id);
	bool moved = false;
	if (!existing) {
		if ((r = rm_rf(final, err)) < 0)
			goto out;
		if (rename(layout, final) < 0) {
			r = cryo_error_set(err, errno, "move `%s` to `%s`", layout, final);
			goto out;
		}
		moved = true;
	}
	r = record_image(engine, &add, err);
	if (r < 0) {
		if (moved && rename(final, layout) < 0)
			rm_rf(final, NULL);
		goto out;
	}
	if ((r = prune_locked(engine, err)) < 0) {
		cryo_error_wrap(err, "image %s stored, but removing the image it replaced failed", add.id);
		goto out;
	}
	*id_out = xstrdup(add.id);
out:
	if (r < 0)
		cryo_error_wrap(err, "store checkpoint image `%s`", add.name ? add.name : ref);
	image_add_clear(&add);
	return r;
}

void image_name_split(const struct image *img, char **repository, char **tag)
{
	/* The tag follows the last `:`: one before a `/` is a registry's port. */
	const char *colon = img->name ? strrchr(img->name, ':') : NULL;
	if (!colon) {
		*repository = xstrdup("<none>");
		*tag = xstrdup("<none>");
		return;
	}
	*repository = xstrndup(img->name, (size_t)(colon - img->name));
	*tag = xstrdup(colon + 1);
}

static struct json_object *image_summary_json(const struct image *img)
{
	cleanup_free char *repository = NULL, *tag = NULL;
	cleanup_free char *created = format_timestamp(img->created);
	struct json_object *o = json_object_new_object();
	image_name_split(img, &repository, &tag);
	json_object_object_add(o, "id", json_object_new_string(img->id));
	json_object_object_add(o, "name", img->name ? json_object_new_string(img->name) : NULL);
	json_object_object_add(o, "repository", img->name ? json_object_new_string(repository) : NULL);
	json_object_object_add(o, "tag", img->name ? json_object_new_string(tag) : NULL);
	json_object_object_add(o, "created", json_object_new_string(created));
	json_object_object_add(o, "size", json_object_new_int64((int64_t)img->size));
	json_object_object_add(o, "checkpoint", json_object_new_boolean(img->checkpoint_layer != NULL));
	return o;
}

struct json_object *image_inspect_json(struct cryo_engine *engine, const struct image *img)
{
	struct json_object *o = image_summary_json(img);
	json_object_object_add(o, "layers", strv_to_json(img->layers));
	json_object_object_add(o, "config", image_config_to_json(&img->config));
	cleanup_free char *mnt = layout_image_mnt(engine->root, img->id);
	json_object_object_add(o, "mountpoint",
	                       image_is_mounted(engine, img->id) ? json_object_new_string(mnt) : NULL);
	return o;
}

struct json_object *image_list_json(struct image *const *list, size_t count)
{
	struct json_object *a = json_object_new_array();
	for (size_t i = 0; i < count; i++)
		json_object_array_add(a, image_summary_json(list[i]));
	return a;
}
