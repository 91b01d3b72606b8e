#include "oci_layout.h"

#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>

#include "layer.h"
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

#define MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define MT_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"

/* Manifests, indexes and configurations are small; a huge one is not an image. */
#define OCI_JSON_MAX_BYTES (8 << 20)

static const char *const layer_media_types[] = {
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd",
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
};

static bool str_in(const char *s, const char *const *list, size_t n)
{
	for (size_t i = 0; s && i < n; i++)
		if (strcmp(s, list[i]) == 0)
			return true;
	return false;
}

static bool is_index_type(const char *mt)
{
	return mt && (strcmp(mt, MT_OCI_INDEX) == 0 || strcmp(mt, MT_DOCKER_LIST) == 0);
}

static bool is_manifest_type(const char *mt)
{
	return mt && (strcmp(mt, MT_OCI_MANIFEST) == 0 || strcmp(mt, MT_DOCKER_MANIFEST) == 0);
}

static const char *json_string_of(struct json_object *obj, const char *key)
{
	struct json_object *v;
	if (!obj || !json_object_object_get_ex(obj, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static void descriptor_clear(struct oci_descriptor *d)
{
	free(d->media_type);
	free(d->path);
	memset(d, 0, sizeof(*d));
}

static int parse_descriptor(const char *dir, struct json_object *obj, const char *what,
                            struct oci_descriptor *d, cryo_err *err)
{
	struct json_object *size;
	if (!json_object_is_type(obj, json_type_object))
		return fail_with(err, EINVAL, "%s: descriptor is not a JSON object", what);
	const char *digest = json_string_of(obj, "digest");
	if (!digest)
		return fail_with(err, EINVAL, "%s: descriptor has no digest", what);
	const char *hex = digest + strlen("sha256:");
	if (!str_has_prefix(digest, "sha256:") || strlen(hex) != DIGEST_HEX_LEN ||
	    strspn(hex, "0123456789abcdef") != DIGEST_HEX_LEN)
		return fail_with(err, EINVAL,
		                 "%s: digest `%s` is not a sha256 digest (sha256:<64 hex digits>)", what,
		                 digest);
	if (!json_object_object_get_ex(obj, "size", &size) || !json_object_is_type(size, json_type_int) ||
	    json_object_get_int64(size) < 0)
		return fail_with(err, EINVAL, "%s: descriptor has no valid size", what);
	const char *mt = json_string_of(obj, "mediaType");
	d->media_type = mt ? xstrdup(mt) : NULL;
	memcpy(d->digest, hex, DIGEST_HEX_LEN + 1);
	d->size = json_object_get_int64(size);
	d->path = xasprintf("%s/blobs/sha256/%s", dir, hex);
	return 0;
}

int oci_blob_verify(const struct oci_descriptor *desc, cryo_err *err)
{
	struct stat st;
	char actual[DIGEST_HEX_LEN + 1];
	int r;

	if (stat(desc->path, &st) < 0)
		return cryo_error_set(err, errno, "blob sha256:%s", desc->digest);
	if (!S_ISREG(st.st_mode))
		return fail_with(err, EINVAL, "blob sha256:%s (`%s`) is not a regular file", desc->digest,
		                 desc->path);
	if (st.st_size != desc->size)
		return fail_with(err, EBADMSG, "blob sha256:%s has %lld bytes, its descriptor says %lld",
		                 desc->digest, (long long)st.st_size, (long long)desc->size);
	if ((r = digest_file(desc->path, actual, err)) < 0)
		return r;
	if (strcmp(actual, desc->digest) != 0)
		return fail_with(err, EBADMSG,
		                 "blob sha256:%s does not match its digest: its content is sha256:%s",
		                 desc->digest, actual);
	return 0;
}

/* Read a JSON blob, checking its size and digest, into a JSON object. */
static int read_json_blob(const struct oci_descriptor *d, const char *what, struct json_object **out,
                          cryo_err *err)
{
	cleanup_free char *data = NULL;
	size_t len = 0;
	char actual[DIGEST_HEX_LEN + 1];
	int r;

	if (d->size > OCI_JSON_MAX_BYTES)
		return fail_with(err, EFBIG, "%s sha256:%s: %lld bytes is too large for a JSON document",
		                 what, d->digest, (long long)d->size);
	if ((r = read_file_bounded(d->path, (size_t)d->size, &data, &len, err)) < 0)
		return cryo_error_wrap(err, "%s sha256:%s", what, d->digest);
	digest_buffer(data, len, actual);
	if ((int64_t)len != d->size || strcmp(actual, d->digest) != 0)
		return fail_with(err, EBADMSG,
		                 "%s blob sha256:%s does not match its descriptor (content is sha256:%s, "
		                 "%zu bytes; descriptor says %lld bytes)",
		                 what, d->digest, actual, len, (long long)d->size);
	enum json_tokener_error jerr;
	struct json_object *obj = json_tokener_parse_verbose(data, &jerr);
	if (!obj)
		return fail_with(err, EINVAL, "%s sha256:%s: invalid JSON: %s", what, d->digest,
		                 json_tokener_error_desc(jerr));
	if (!json_object_is_type(obj, json_type_object)) {
		json_object_put(obj);
		return fail_with(err, EINVAL, "%s sha256:%s: not a JSON object", what, d->digest);
	}
	*out = obj;
	return 0;
}

static struct json_object *array_of(struct json_object *obj, const char *key)
{
	struct json_object *v;
	if (!obj || !json_object_object_get_ex(obj, key, &v) || !json_object_is_type(v, json_type_array))
		return NULL;
	return v;
}

static void take_annotations(struct oci_image *img, struct json_object *obj)
{
	struct json_object *ann;
	if (!obj || !json_object_object_get_ex(obj, "annotations", &ann))
		return;
	const char *ref = json_string_of(ann, OCI_ANNOTATION_REF_NAME);
	const char *name = json_string_of(ann, OCI_ANNOTATION_CONTAINERD_NAME);
	if (ref && !img->ref_name)
		img->ref_name = xstrdup(ref);
	if (name && !img->image_name)
		img->image_name = xstrdup(name);
}

/* GOARCH spelling of this machine's architecture, as OCI platforms use it. */
const char *oci_host_architecture(void)
{
	static const char *const map[][2] = {
	    {"x86_64", "amd64"}, {"aarch64", "arm64"},   {"i686", "386"},    {"i386", "386"},
	    {"armv7l", "arm"},   {"ppc64le", "ppc64le"}, {"s390x", "s390x"}, {"riscv64", "riscv64"},
	};
	static struct utsname uts;
	if (uname(&uts) < 0)
		return "unknown";
	for (size_t i = 0; i < ARRAY_SIZE(map); i++)
		if (strcmp(uts.machine, map[i][0]) == 0)
			return map[i][1];
	return uts.machine;
}

static bool platform_matches(struct json_object *entry, const char *arch)
{
	struct json_object *platform;
	if (!json_object_object_get_ex(entry, "platform", &platform))
		return false;
	const char *os = json_string_of(platform, "os");
	const char *a = json_string_of(platform, "architecture");
	return os && a && strcmp(os, "linux") == 0 && strcmp(a, arch) == 0;
}

/* From a nested index, the manifest for this host's platform (or its only one). */
static struct json_object *pick_platform(struct json_object *manifests, const char *what, cryo_err *err)
{
	size_t n = json_object_array_length(manifests);
	const char *arch = oci_host_architecture();
	if (n == 1)
		return json_object_array_get_idx(manifests, 0);
	for (size_t i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(manifests, i);
		if (platform_matches(e, arch))
			return e;
	}
	fail_with(err, ENOENT, "%s lists %zu manifests and none is for linux/%s", what, n, arch);
	return NULL;
}

/* The top-level index must name exactly one image. */
static struct json_object *pick_top(struct json_object *index, const char *dir, cryo_err *err)
{
	struct json_object *manifests = array_of(index, "manifests");
	if (!manifests) {
		fail_with(err, EINVAL, "`%s/index.json` has no `manifests` array", dir);
		return NULL;
	}
	size_t n = json_object_array_length(manifests);
	if (n == 1)
		return json_object_array_get_idx(manifests, 0);
	if (n == 0) {
		fail_with(err, ENOENT, "`%s/index.json` lists no images", dir);
		return NULL;
	}
	cleanup_free char *refs = xstrdup("");
	for (size_t i = 0; i < n; i++) {
		struct json_object *ann, *e = json_object_array_get_idx(manifests, i);
		const char *ref = NULL;
		if (json_object_object_get_ex(e, "annotations", &ann))
			ref = json_string_of(ann, OCI_ANNOTATION_REF_NAME);
		char *next = xasprintf("%s%s`%s`", refs, i ? ", " : "", ref ? ref : "(unnamed)");
		free(refs);
		refs = next;
	}
	fail_with(err, EINVAL,
	          "`%s/index.json` lists %zu images (%s); cryo loads a layout that holds one image", dir, n,
	          refs);
	return NULL;
}

static int read_index(const char *dir, struct json_object **out, cryo_err *err)
{
	cleanup_free char *path = xasprintf("%s/index.json", dir);
	cleanup_free char *data = NULL;
	int r;

	if ((r = read_file_bounded(path, OCI_JSON_MAX_BYTES, &data, NULL, err)) < 0)
		return cryo_error_wrap(err, "`%s` is not an OCI image layout", dir);
	enum json_tokener_error jerr;
	struct json_object *obj = json_tokener_parse_verbose(data, &jerr);
	if (!obj || !json_object_is_type(obj, json_type_object)) {
		json_object_put(obj);
		return fail_with(err, EINVAL, "`%s`: invalid JSON: %s", path,
		                 obj ? "not an object" : json_tokener_error_desc(jerr));
	}
	*out = obj;
	return 0;
}

/* index.json -> (nested index ->) manifest descriptor. Annotations on the way
 * name the image. */
static int resolve_manifest(struct oci_image *img, struct oci_descriptor *manifest, cryo_err *err)
{
	struct json_object *index = NULL, *nested = NULL;
	struct oci_descriptor nested_desc = {0};
	int r;

	if ((r = read_index(img->dir, &index, err)) < 0)
		return r;
	struct json_object *entry = pick_top(index, img->dir, err);
	if (!entry) {
		r = cryo_error_code(*err);
		goto out;
	}
	take_annotations(img, entry);
	if ((r = parse_descriptor(img->dir, entry, "index.json", manifest, err)) < 0)
		goto out;
	if (is_index_type(manifest->media_type)) {
		nested_desc = *manifest;
		memset(manifest, 0, sizeof(*manifest));
		if ((r = read_json_blob(&nested_desc, "nested index", &nested, err)) < 0)
			goto out;
		struct json_object *list = array_of(nested, "manifests");
		if (!list) {
			r = fail_with(err, EINVAL, "nested index sha256:%s has no `manifests` array",
			              nested_desc.digest);
			goto out;
		}
		entry = pick_platform(list, "nested index", err);
		if (!entry) {
			r = cryo_error_code(*err);
			goto out;
		}
		take_annotations(img, entry);
		if ((r = parse_descriptor(img->dir, entry, "nested index", manifest, err)) < 0)
			goto out;
		if (is_index_type(manifest->media_type)) {
			r = fail_with(err, EINVAL, "index sha256:%s nests indexes more than one level deep",
			              nested_desc.digest);
			goto out;
		}
	}
	if (manifest->media_type && !is_manifest_type(manifest->media_type))
		r = fail_with(err, EINVAL, "`%s` lists a `%s`, not an image manifest", img->dir,
		              manifest->media_type);
out:
	descriptor_clear(&nested_desc);
	json_object_put(nested);
	json_object_put(index);
	return r;
}

static int read_layers(struct oci_image *img, struct json_object *layers, cryo_err *err)
{
	size_t n = json_object_array_length(layers);
	img->layers = xcalloc(n, sizeof(*img->layers));
	for (size_t i = 0; i < n; i++) {
		cleanup_free char *what = xasprintf("layer %zu", i + 1);
		struct oci_descriptor *d = &img->layers[i];
		int r = parse_descriptor(img->dir, json_object_array_get_idx(layers, i), what, d, err);
		img->n_layers = i + 1;
		if (r < 0)
			return r;
		if (!str_in(d->media_type, layer_media_types, ARRAY_SIZE(layer_media_types)))
			return fail_with(err, ENOTSUP,
			                 "layer %zu (sha256:%s) has unsupported media type `%s`", i + 1,
			                 d->digest, d->media_type ? d->media_type : "(none)");
	}
	return 0;
}

static int read_manifest(struct oci_image *img, const struct oci_descriptor *desc, cryo_err *err)
{
	struct json_object *manifest = NULL, *config, *layers;
	int r;

	if ((r = read_json_blob(desc, "manifest", &manifest, err)) < 0)
		return r;
	const char *mt = json_string_of(manifest, "mediaType");
	if (mt && !is_manifest_type(mt)) {
		r = fail_with(err, EINVAL, "manifest sha256:%s has media type `%s`, not an image manifest",
		              desc->digest, mt);
		goto out;
	}
	take_annotations(img, manifest);
	if (!img->manifest.media_type)
		img->manifest.media_type = xstrdup(mt ? mt : MT_OCI_MANIFEST);
	struct json_object *ann = NULL;
	if (json_object_object_get_ex(manifest, "annotations", &ann) &&
	    json_object_is_type(ann, json_type_object))
		img->manifest_annotations = json_object_get(ann);
	else
		img->manifest_annotations = json_object_new_object();
	if (!json_object_object_get_ex(manifest, "config", &config)) {
		r = fail_with(err, EINVAL, "manifest sha256:%s has no config", desc->digest);
		goto out;
	}
	if ((r = parse_descriptor(img->dir, config, "config", &img->config, err)) < 0)
		goto out;
	if (!img->config.media_type || (strcmp(img->config.media_type, MT_OCI_CONFIG) != 0 &&
	                                strcmp(img->config.media_type, MT_DOCKER_CONFIG) != 0)) {
		r = fail_with(err, ENOTSUP,
		              "manifest sha256:%s: config media type `%s` is not an image "
		              "configuration",
		              desc->digest, img->config.media_type ? img->config.media_type : "(none)");
		goto out;
	}
	if (!(layers = array_of(manifest, "layers"))) {
		r = fail_with(err, EINVAL, "manifest sha256:%s has no `layers` array", desc->digest);
		goto out;
	}
	r = read_layers(img, layers, err);
out:
	json_object_put(manifest);
	return r;
}

static int check_config(struct oci_image *img, cryo_err *err)
{
	struct json_object *rootfs;
	int r = read_json_blob(&img->config, "config", &img->config_json, err);
	if (r < 0)
		return r;
	/* diff_ids name the uncompressed layers one to one. */
	if (json_object_object_get_ex(img->config_json, "rootfs", &rootfs)) {
		struct json_object *diff_ids = array_of(rootfs, "diff_ids");
		if (diff_ids && json_object_array_length(diff_ids) != img->n_layers)
			return fail_with(
			    err, EINVAL,
			    "config sha256:%s lists %zu diff_ids but the manifest has %zu layers",
			    img->config.digest, json_object_array_length(diff_ids), img->n_layers);
	}
	return 0;
}

int oci_layout_read(const char *dir, struct oci_image **out, cryo_err *err)
{
	cleanup_oci_image struct oci_image *img = xcalloc(1, sizeof(*img));
	int r;

	img->dir = xstrdup(dir);
	if ((r = resolve_manifest(img, &img->manifest, err)) < 0 ||
	    (r = read_manifest(img, &img->manifest, err)) < 0 || (r = check_config(img, err)) < 0)
		return r;
	*out = move_ptr(img);
	return 0;
}

int oci_archive_extract(const char *archive, const char *dest, const struct extract_limits *limits,
                        cryo_err *err)
{
	const struct layer_unpack_opts opts = {.require_entries = true, .plain_only = true, .limits = limits};
	int r = layer_unpack(archive, dest, &opts, NULL, err);
	if (r < 0)
		return cryo_error_wrap(err, "unpack oci-archive `%s`", archive);
	return 0;
}

void oci_image_free(struct oci_image *img)
{
	if (!img)
		return;
	free(img->dir);
	descriptor_clear(&img->manifest);
	descriptor_clear(&img->config);
	json_object_put(img->config_json);
	for (size_t i = 0; i < img->n_layers; i++)
		descriptor_clear(&img->layers[i]);
	free(img->layers);
	free(img->ref_name);
	free(img->image_name);
	json_object_put(img->manifest_annotations);
	free(img);
}
