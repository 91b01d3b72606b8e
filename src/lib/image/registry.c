#include "registry.h"

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "image.h"
#include "lock.h"
#include "oci_layout.h"
#include "proc.h"
#include "scratch.h"
#include "util.h"

#define SKOPEO "skopeo"
/* skopeo's error is its last lines; more is noise. */
#define SKOPEO_ERROR_MAX 1500
/* How often a pull's scratch directory is measured while skopeo writes it. */
#define PULL_WATCH_MS 20
/* A layout's tree is blobs/sha256/FILE; deeper is not skopeo's. */
#define SCRATCH_DEPTH_MAX 8

int registry_ref_parse(const char *ref, char **name, char **skopeo_ref, cryo_err *err)
{
	/* skopeo's other transports (containers-transports(5)): local files
	 * and daemons are not registries. */
	static const char *const transports[] = {
	    "oci:", "oci-archive:", "dir:",    "docker-archive:", "docker-daemon:", "containers-storage:",
	    "sif:", "tarball:",     "ostree:", "atomic:",         "docker:"};
	const char *rest = str_has_prefix(ref, REGISTRY_TRANSPORT) ? ref + strlen(REGISTRY_TRANSPORT) : ref;
	bool other_transport = rest == ref && strstr(ref, "://");
	for (size_t i = 0; rest == ref && i < ARRAY_SIZE(transports); i++)
		other_transport = other_transport || str_has_prefix(ref, transports[i]);
	if (other_transport)
		return cryo_error_plain(err, EINVAL,
		                        "invalid registry reference `%s`: only the docker:// transport is "
		                        "supported",
		                        ref);
	if (!*rest || rest[0] == '-' || strpbrk(rest, " \t\n\\"))
		return cryo_error_plain(err, EINVAL, "invalid registry reference `%s`", ref);
	cleanup_free char *plain = xstrdup(rest);
	char *at = strchr(plain, '@');
	if (at) {
		const char *digest = at + 1;
		if (!str_has_prefix(digest, "sha256:") || strlen(digest) != 7 + 64 ||
		    strspn(digest + 7, "0123456789abcdef") != 64)
			return cryo_error_plain(err, EINVAL,
			                        "invalid registry reference `%s`: a digest is sha256: and 64 "
			                        "lowercase hex digits",
			                        ref);
		*at = '\0';
	}
	cleanup_free char *repo = NULL, *tag = NULL;
	if (image_ref_parse(plain, &repo, &tag, err) < 0)
		return cryo_error_wrap(err, "invalid registry reference `%s`", ref);
	if (name)
		*name = xasprintf("%s:%s", repo, tag);
	if (skopeo_ref)
		*skopeo_ref = at ? xasprintf(REGISTRY_TRANSPORT "%s@%s", repo, at + 1)
		                 : xasprintf(REGISTRY_TRANSPORT "%s:%s", repo, tag);
	return 0;
}

/* The last SKOPEO_ERROR_MAX bytes of skopeo's stderr, trimmed. */
static const char *skopeo_error(const struct proc_result *res)
{
	const char *e = res->errout ? res->errout : "";
	size_t n = strlen(e);
	if (n > SKOPEO_ERROR_MAX)
		e += n - SKOPEO_ERROR_MAX;
	return e;
}

/* Run skopeo with argv (argv[0]: "skopeo"); po_in: NULL, or options to run
 * it with (stderr is captured in any case), *res_out (may be NULL) how it
 * ended (its errout too: the caller frees it), and *out (may be NULL) its
 * output when it succeeded. */
static int run_skopeo_with(char *const *argv, const struct proc_opts *po_in, const char *what,
                           struct proc_result *res_out, char **out, cryo_err *err)
{
	struct proc_opts po = PROC_OPTS_INIT;
	struct proc_result res = {0};
	if (po_in)
		po = *po_in;
	po.capture_stderr = true;
	po.capture_stdout = out != NULL;
	int r = proc_run(argv, &po, &res, err);
	if (res_out) {
		res_out->status = res.status;
		res_out->timed_out = res.timed_out;
		res_out->stopped = res.stopped;
		res_out->errout = res.errout ? xstrdup(res.errout) : NULL;
	}
	if (r == 0 && res.status == 0 && out)
		*out = move_ptr(res.out);
	if (r < 0) {
		proc_result_free(&res);
		return cryo_error_wrap(err, "%s: run " SKOPEO " (install it: scripts/setup.sh)", what);
	}
	if (res.status != 0) {
		cleanup_free char *msg = xstrdup(skopeo_error(&res));
		size_t n = strlen(msg);
		while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
			msg[--n] = '\0';
		r = cryo_error_plain(err, EIO, "%s: " SKOPEO " failed (exit %d): %s", what, res.status, msg);
	}
	proc_result_free(&res);
	return r;
}

static int run_skopeo(char *const *argv, const char *what, cryo_err *err)
{
	return run_skopeo_with(argv, NULL, what, NULL, NULL, err);
}

static void push_arg(char ***argv, const char *a)
{
	strv_push(argv, a);
}

static void add_transport_opts(char ***argv, const struct registry_opts *opts, bool source)
{
	if (!opts->tls_verify)
		push_arg(argv, source ? "--src-tls-verify=false" : "--dest-tls-verify=false");
	if (opts->authfile) {
		cleanup_free char *a =
		    xasprintf("%s=%s", source ? "--src-authfile" : "--dest-authfile", opts->authfile);
		push_arg(argv, a);
	}
}

/* Every blob a push sends, checked against its digest on the way out: the
 * manifest and configuration (oci_layout_read), the configuration being the
 * image's ID, and each layer. */
static int verify_stored_layout(const char *layout, const char *id, cryo_err *err)
{
	cleanup_oci_image struct oci_image *oci = NULL;
	int r;
	if ((r = oci_layout_read(layout, &oci, err)) < 0)
		return r;
	if (strcmp(oci->config.digest, id) != 0)
		return cryo_error_plain(err, EBADMSG,
		                        "its configuration blob is sha256:%s, not the image's ID %s",
		                        oci->config.digest, id);
	for (size_t i = 0; i < oci->n_layers; i++)
		if ((r = oci_blob_verify(&oci->layers[i], err)) < 0)
			return cryo_error_wrap(err, "layer %zu of %zu", i + 1, oci->n_layers);
	return 0;
}

int registry_push(struct cryo_engine *engine, const char *image_ref, const char *dest,
                  const struct registry_opts *opts, cryo_err *err)
{
	cleanup_image struct image *img = NULL;
	cleanup_free char *skopeo_dest = NULL, *what = xasprintf("push `%s` to `%s`", image_ref, dest);
	cleanup_close int lock = -1;
	int r;

	if ((r = registry_ref_parse(dest, NULL, &skopeo_dest, err)) < 0)
		return r;
	/* The store lock keeps the image from being removed while skopeo reads it. */
	if ((r = lock_acquire(engine, IMAGE_STORE_LOCK, &lock, err)) < 0 ||
	    (r = image_get(engine, image_ref, &img, err)) < 0)
		return r;
	cleanup_free char *layout =
	    img->checkpoint_layer ? image_checkpoint_dir(engine, img->id) : image_blobs_dir(engine, img->id);
	if (!img->checkpoint_layer && !path_exists(layout))
		return cryo_error_plain(
		    err, ENOTSUP,
		    "%s: the image has no registry blobs: it was stored by a cryo that kept only "
		    "its unpacked layers; load, import or pull it again to push it",
		    what);
	if (strchr(layout, ':'))
		return cryo_error_plain(err, EINVAL,
		                        "%s: the engine root `%s` has a `:`, which skopeo's oci: "
		                        "transport cannot name",
		                        what, engine->root);
	if ((r = verify_stored_layout(layout, img->id, err)) < 0)
		return cryo_error_wrap(err, "%s: the stored image is damaged", what);
	cleanup_free char *src = xasprintf("oci:%s", layout);
	cleanup_strv char **argv = xcalloc(1, sizeof(char *));
	push_arg(&argv, SKOPEO);
	push_arg(&argv, "copy");
	push_arg(&argv, "--quiet");
	add_transport_opts(&argv, opts, false);
	push_arg(&argv, src);
	push_arg(&argv, skopeo_dest);
	return run_skopeo(argv, what, err);
}

bool registry_ref_names_registry(const char *ref)
{
	if (str_has_prefix(ref, REGISTRY_TRANSPORT))
		return true;
	const char *slash = strchr(ref, '/');
	if (!slash)
		return false;
	size_t n = (size_t)(slash - ref);
	return memchr(ref, '.', n) || memchr(ref, ':', n) || (n == 9 && strncmp(ref, "localhost", 9) == 0);
}

/* ---- the size bound of a pull ---- */

static uint64_t pull_limit(struct cryo_engine *engine, const struct registry_opts *opts)
{
	return opts->max_size ? opts->max_size : config_uint(engine->config, "registry.max_pull_size");
}

/* Where the limit came from, for messages. */
static const char *limit_origin(const struct registry_opts *opts)
{
	return opts->max_size ? "--max-size" : "`registry.max_pull_size` in the engine configuration";
}

/* The size a descriptor declares; false when it has none that is valid. */
static bool descriptor_size(struct json_object *desc, uint64_t *out)
{
	struct json_object *size;
	if (!desc || !json_object_is_type(desc, json_type_object) ||
	    !json_object_object_get_ex(desc, "size", &size) || !json_object_is_type(size, json_type_int) ||
	    json_object_get_int64(size) < 0)
		return false;
	*out = (uint64_t)json_object_get_int64(size);
	return true;
}

/* skopeo inspect --raw of ref: the manifest (or index) as the registry has
 * it, and its length in bytes. */
static int inspect_raw(const char *ref, const struct registry_opts *opts, const char *what,
                       struct json_object **out, uint64_t *len, cryo_err *err)
{
	cleanup_strv char **argv = xcalloc(1, sizeof(char *));
	cleanup_free char *raw = NULL;
	int r;
	push_arg(&argv, SKOPEO);
	push_arg(&argv, "inspect");
	push_arg(&argv, "--raw");
	if (!opts->tls_verify)
		push_arg(&argv, "--tls-verify=false");
	if (opts->authfile) {
		cleanup_free char *a = xasprintf("--authfile=%s", opts->authfile);
		push_arg(&argv, a);
	}
	push_arg(&argv, ref);
	if ((r = run_skopeo_with(argv, NULL, what, NULL, &raw, err)) < 0)
		return r;
	if (!raw)
		return cryo_error_plain(err, EIO, "%s: " SKOPEO " printed no manifest of `%s`", what, ref);
	enum json_tokener_error jerr;
	struct json_object *obj = json_tokener_parse_verbose(raw, &jerr);
	if (!obj || !json_object_is_type(obj, json_type_object)) {
		json_object_put(obj);
		return cryo_error_plain(
		    err, EINVAL, "%s: the registry's manifest of `%s` is not a JSON object", what, ref);
	}
	*out = obj;
	*len = strlen(raw);
	return 0;
}

/* From an index's manifests, this host's (or the only one): its digest. */
static const char *index_pick(struct json_object *index)
{
	struct json_object *list, *platform, *v;
	if (!json_object_object_get_ex(index, "manifests", &list) ||
	    !json_object_is_type(list, json_type_array))
		return NULL;
	size_t n = json_object_array_length(list);
	for (size_t i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(list, i);
		bool match = n == 1;
		if (!match && json_object_object_get_ex(e, "platform", &platform)) {
			struct json_object *os, *arch;
			match = json_object_object_get_ex(platform, "os", &os) &&
			        json_object_object_get_ex(platform, "architecture", &arch) &&
			        json_object_is_type(os, json_type_string) &&
			        json_object_is_type(arch, json_type_string) &&
			        strcmp(json_object_get_string(os), "linux") == 0 &&
			        strcmp(json_object_get_string(arch), oci_host_architecture()) == 0;
		}
		if (match && json_object_object_get_ex(e, "digest", &v) &&
		    json_object_is_type(v, json_type_string))
			return json_object_get_string(v);
	}
	return NULL;
}

/* The bytes a pull of the image writes by what its manifest declares: the
 * manifest itself, its configuration and its layers (through an index, the
 * manifest skopeo will pick: this host's platform). */
static int declared_size(const char *skopeo_ref, const char *repo, const struct registry_opts *opts,
                         const char *what, uint64_t *out, cryo_err *err)
{
	struct json_object *manifest = NULL, *layers, *config;
	uint64_t manifest_len = 0;
	int r;
	if ((r = inspect_raw(skopeo_ref, opts, what, &manifest, &manifest_len, err)) < 0)
		return r;
	if (json_object_object_get_ex(manifest, "manifests", &layers)) {
		const char *digest = index_pick(manifest);
		if (!digest || !str_has_prefix(digest, "sha256:") || strlen(digest) != 7 + 64 ||
		    strspn(digest + 7, "0123456789abcdef") != 64) {
			json_object_put(manifest);
			return cryo_error_plain(err, ENOENT,
			                        "%s: its index lists no valid manifest for linux/%s", what,
			                        oci_host_architecture());
		}
		cleanup_free char *by_digest = xasprintf(REGISTRY_TRANSPORT "%s@%s", repo, digest);
		json_object_put(manifest);
		manifest = NULL;
		if ((r = inspect_raw(by_digest, opts, what, &manifest, &manifest_len, err)) < 0)
			return r;
	}
	uint64_t total = 0, size = 0;
	bool ok = json_object_object_get_ex(manifest, "config", &config) && descriptor_size(config, &total) &&
	          json_object_object_get_ex(manifest, "layers", &layers) &&
	          json_object_is_type(layers, json_type_array);
	total += manifest_len;
	for (size_t i = 0; ok && i < json_object_array_length(layers); i++) {
		ok = descriptor_size(json_object_array_get_idx(layers, i), &size) && total + size >= total;
		total += size;
	}
	json_object_put(manifest);
	if (!ok)
		return cryo_error_plain(err, EINVAL,
		                        "%s: its manifest does not declare the size of its configuration "
		                        "and of every layer (not an OCI or Docker schema 2 image manifest)",
		                        what);
	*out = total;
	return 0;
}

/* Bytes of the regular files below directory fd, never following a
 * symbolic link; the layout's own small files (index.json, oci-layout) do
 * not count, only the blobs and skopeo's temporary files. Takes fd. */
static uint64_t tree_bytes(int fd, int depth)
{
	cleanup_dir DIR *d = fdopendir(fd);
	uint64_t total = 0;
	struct dirent *e;
	if (!d) {
		close(fd);
		return 0;
	}
	while ((e = readdir(d))) {
		struct stat st;
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
		    fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (S_ISREG(st.st_mode)) {
			bool layout_file = depth == 1 && (strcmp(e->d_name, "index.json") == 0 ||
			                                  strcmp(e->d_name, "oci-layout") == 0);
			if (!layout_file)
				total += (uint64_t)st.st_size;
		} else if (S_ISDIR(st.st_mode) && depth < SCRATCH_DEPTH_MAX) {
			int sub =
			    openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub >= 0)
				total += tree_bytes(sub, depth + 1);
		}
	}
	return total;
}

static uint64_t dir_bytes(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	return fd < 0 ? 0 : tree_bytes(fd, 0);
}

struct pull_watch {
	const char *dir;
	uint64_t limit;
	bool over;
};

/* proc_opts.watch: stop skopeo once its scratch holds more than the limit. */
static bool pull_watch(void *data)
{
	struct pull_watch *w = data;
	w->over = w->over || dir_bytes(w->dir) > w->limit;
	return w->over;
}

static int store_pulled(struct cryo_engine *engine, const char *layout, const char *name,
                        bool checkpoint_only, char **id_out, bool *checkpoint, cryo_err *err)
{
	cleanup_oci_image struct oci_image *oci = NULL;
	int r;
	if ((r = oci_layout_read(layout, &oci, err)) < 0)
		return r;
	*checkpoint = image_annotations_are_checkpoint(oci->manifest_annotations);
	if (checkpoint_only && !*checkpoint)
		return cryo_error_plain(err, EINVAL,
		                        "`%s` is not a checkpoint image (its manifest has no checkpoint "
		                        "annotations): it was not stored; `cryo image pull` it to run it",
		                        name);
	if (*checkpoint)
		return image_add_checkpoint(engine, layout, name, id_out, err);
	return image_load(engine, layout, name, id_out, err);
}

int registry_pull(struct cryo_engine *engine, const char *ref, const struct registry_opts *opts,
                  char **id_out, char **name_out, bool *checkpoint, cryo_err *err)
{
	cleanup_free char *name = NULL, *skopeo_src = NULL, *scratch = NULL, *id = NULL;
	cleanup_free char *what = xasprintf("pull `%s`", ref), *layout = NULL, *dst = NULL;
	cleanup_free char *tmpdir = NULL, *tmpdir_env = NULL;
	cleanup_strv char **argv = NULL;
	bool is_checkpoint = false;
	int r;

	if ((r = registry_ref_parse(ref, &name, &skopeo_src, err)) < 0)
		return r;
	/* The limit, first against what the manifest declares: nothing is
	 * downloaded of an image that says it is too big. */
	const uint64_t limit = pull_limit(engine, opts);
	uint64_t declared = 0;
	cleanup_free char *repo = xstrndup(name, (size_t)(strrchr(name, ':') - name));
	if ((r = declared_size(skopeo_src, repo, opts, what, &declared, err)) < 0)
		return r;
	if (declared > limit)
		return cryo_error_plain(err, EFBIG,
		                        "%s: the image is %" PRIu64 " bytes by its manifest, more than the "
		                        "limit of %" PRIu64 " bytes (%s); nothing was downloaded",
		                        what, declared, limit, limit_origin(opts));
	if ((r = scratch_make_dir(engine, "registry-pull", &scratch, err)) < 0)
		return cryo_error_wrap(err, "%s", what);
	if (strchr(scratch, ':')) {
		r = cryo_error_plain(err, EINVAL,
		                     "%s: the engine root `%s` has a `:`, which skopeo's oci: "
		                     "transport cannot name",
		                     what, engine->root);
		goto out;
	}
	layout = xasprintf("%s/layout", scratch);
	dst = xasprintf("oci:%s", layout);
	/* skopeo's own temporary files go into the scratch directory too, so
	 * that the watch below counts them. */
	tmpdir = xasprintf("%s/tmp", scratch);
	tmpdir_env = xasprintf("TMPDIR=%s", tmpdir);
	char *const env[] = {tmpdir_env, NULL};
	if (mkdir(tmpdir, 0700) < 0) {
		r = cryo_error_set(err, errno, "%s: create `%s`", what, tmpdir);
		goto out;
	}
	argv = xcalloc(1, sizeof(char *));
	push_arg(&argv, SKOPEO);
	push_arg(&argv, "copy");
	push_arg(&argv, "--quiet");
	add_transport_opts(&argv, opts, true);
	push_arg(&argv, skopeo_src);
	push_arg(&argv, dst);
	/* The registry may send more than its manifest declares: the scratch
	 * directory is measured while skopeo writes it, skopeo is killed once
	 * it holds more than the limit, and no file it writes can outgrow the
	 * limit (RLIMIT_FSIZE) between two measures. */
	struct pull_watch watch = {.dir = scratch, .limit = limit};
	struct proc_opts po = PROC_OPTS_INIT;
	struct proc_result res = {0};
	po.env = env;
	po.watch = pull_watch;
	po.watch_data = &watch;
	po.watch_ms = PULL_WATCH_MS;
	po.max_file_size = limit;
	r = run_skopeo_with(argv, &po, what, &res, NULL, err);
	uint64_t written = dir_bytes(scratch);
	/* A write past RLIMIT_FSIZE fails with EFBIG (Go's text: "file too
	 * large"; skopeo then removes the partial blob) or, where SIGXFSZ is
	 * not ignored, kills skopeo. */
	bool fsize_hit =
	    r < 0 && (res.status == 128 + SIGXFSZ || (res.errout && strstr(res.errout, "file too large")));
	proc_result_free(&res);
	if (watch.over || written > limit || fsize_hit) {
		cryo_error_free(err);
		r = cryo_error_plain(err, EFBIG,
		                     "%s: the download outgrew the limit of %" PRIu64
		                     " bytes (%s) while its manifest declares %" PRIu64
		                     " bytes: the registry sent more; nothing was stored",
		                     what, limit, limit_origin(opts), declared);
		goto out;
	}
	if (r < 0)
		goto out;
	if ((r = store_pulled(engine, layout, name, opts->checkpoint_only, &id, &is_checkpoint, err)) < 0) {
		cryo_error_wrap(err, "%s", what);
		goto out;
	}
	if (id_out)
		*id_out = move_ptr(id);
	if (name_out)
		*name_out = move_ptr(name);
	if (checkpoint)
		*checkpoint = is_checkpoint;
out:
	rm_rf(scratch, NULL);
	return r;
}
