#include "checkpoint_image.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "container.h"
#include "criu.h"
#include "digest.h"
#include "hostinfo.h"
#include "image.h"
#include "lock.h"
#include "oci_layout.h"
#include "runtime_info.h"
#include "scratch.h"
#include "state.h"
#include "util.h"

#define MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_OCI_CONFIG "application/vnd.oci.image.config.v1+json"

static void add_string(struct json_object *o, const char *key, const char *value)
{
	json_object_object_add(o, key, json_object_new_string(value ? value : ""));
}

/* ID and VERSION_ID of /etc/os-release ("" when absent). */
static void os_release(char **id, char **version)
{
	cleanup_free char *text = NULL;
	size_t len = 0;
	*id = xstrdup("");
	*version = xstrdup("");
	if (read_file("/etc/os-release", &text, &len, NULL) < 0)
		return;
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		char **dst = str_has_prefix(line, "ID=")           ? id
		             : str_has_prefix(line, "VERSION_ID=") ? version
		                                                   : NULL;
		if (!dst)
			continue;
		char *v = strchr(line, '=') + 1;
		size_t n = strlen(v);
		if (n >= 2 && (v[0] == '"' || v[0] == '\'') && v[n - 1] == v[0]) {
			v[n - 1] = '\0';
			v++;
		}
		free(*dst);
		*dst = xstrdup(v);
	}
}

int checkpoint_image_annotations(struct cryo_engine *engine, const struct container *c,
                                 struct json_object **out, cryo_err *err)
{
	struct runtime_info rt = {0};
	struct criu_info criu = {0};
	cleanup_free char *kernel = NULL, *distro = NULL, *distro_version = NULL;
	enum cgroup_mode mode;
	int r;

	if ((r = runtime_info_get(engine, &rt, err)) < 0)
		return cryo_error_wrap(err, "checkpoint image annotations: the OCI runtime");
	if ((r = criu_info_get(engine, &criu, err)) < 0) {
		runtime_info_free(&rt);
		return cryo_error_wrap(err, "checkpoint image annotations: CRIU");
	}
	if ((r = hostinfo_kernel_release(&kernel, err)) < 0 || (r = hostinfo_cgroup_mode(&mode, err)) < 0) {
		runtime_info_free(&rt);
		criu_info_free(&criu);
		return cryo_error_wrap(err, "checkpoint image annotations: host");
	}
	os_release(&distro, &distro_version);
	/* Podman and checkpointctl say "v2" only for a unified hierarchy. */
	const char *cgroups = mode == CGROUP_MODE_V2 ? "v2" : "v1";
	const char *arch = oci_host_architecture();
	const char *rt_version = rt.version ? rt.version : "";
	const char *criu_version = criu.version ? criu.version : "";
	cleanup_free char *engine_version = xasprintf("cryo %s", CRYO_VERSION);

	struct json_object *o = json_object_new_object();
	add_string(o, CKI_PODMAN_NAME, c->name);
	add_string(o, CKI_PODMAN "rawImageName", c->image_name);
	add_string(o, CKI_PODMAN "rootfsImageID", c->image_id);
	add_string(o, CKI_PODMAN "rootfsImageName", c->image_name);
	/* Podman's key for the engine's version: here cryo's, marked as such. */
	add_string(o, CKI_PODMAN "podman.version", engine_version);
	add_string(o, CKI_PODMAN "criu.version", criu_version);
	add_string(o, CKI_PODMAN "runtime.name", rt.name);
	add_string(o, CKI_PODMAN "runtime.version", rt_version);
	add_string(o, CKI_PODMAN "host.arch", arch);
	add_string(o, CKI_PODMAN "host.kernel", kernel);
	add_string(o, CKI_PODMAN "cgroups.version", cgroups);
	add_string(o, CKI_PODMAN "distribution.name", distro);
	add_string(o, CKI_PODMAN "distribution.version", distro_version);
	add_string(o, CKI_CRIO_NAME, c->name);
	add_string(o, CKI_CRIU "engine.name", "cryo");
	add_string(o, CKI_CRIU "engine.version", CRYO_VERSION);
	add_string(o, CKI_CRIU "container.name", c->name);
	add_string(o, CKI_CRIU "rootfsImageName", c->image_name);
	add_string(o, CKI_CRIU "rootfsImageID", c->image_id);
	add_string(o, CKI_CRIU "rawImageName", c->image_name);
	add_string(o, CKI_CRIU "runtime.name", rt.name);
	add_string(o, CKI_CRIU "runtime.version", rt_version);
	add_string(o, CKI_CRIU "criu.version", criu_version);
	add_string(o, CKI_CRIU "host.arch", arch);
	add_string(o, CKI_CRIU "host.kernel", kernel);
	add_string(o, CKI_CRIU "cgroup.version", cgroups);
	add_string(o, CKI_CRIU "distribution.name", distro);
	add_string(o, CKI_CRIU "distribution.version", distro_version);
	runtime_info_free(&rt);
	criu_info_free(&criu);
	*out = o;
	return 0;
}

/* ---- building the layout ---- */

static const char *json_text(struct json_object *o)
{
	return json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
}

/* Write `o` as a blob of the layout; its descriptor (mediaType, digest, size)
 * is returned. */
static int write_json_blob(const char *layout, const char *media_type, struct json_object *o,
                           struct json_object **descriptor, cryo_err *err)
{
	const char *text = json_text(o);
	char hex[DIGEST_HEX_LEN + 1];
	digest_buffer(text, strlen(text), hex);
	cleanup_free char *path = xasprintf("%s/blobs/sha256/%s", layout, hex);
	int r = write_file(path, text, strlen(text), 0600, err);
	if (r < 0)
		return r;
	struct json_object *d = json_object_new_object();
	add_string(d, "mediaType", media_type);
	cleanup_free char *digest = xasprintf("sha256:%s", hex);
	add_string(d, "digest", digest);
	json_object_object_add(d, "size", json_object_new_int64((int64_t)strlen(text)));
	*descriptor = d;
	return 0;
}

/* The archive at `archive` becomes the layout's one layer; its descriptor
 * and diff_id are returned. */
static int add_layer_blob(const char *layout, const char *archive, struct json_object **descriptor,
                          char **diff_id, cryo_err *err)
{
	char hex[DIGEST_HEX_LEN + 1];
	struct stat st;
	int r;
	if ((r = digest_file(archive, hex, err)) < 0)
		return r;
	if (stat(archive, &st) < 0)
		return cryo_error_set(err, errno, "stat `%s`", archive);
	cleanup_free char *blob = xasprintf("%s/blobs/sha256/%s", layout, hex);
	if (rename(archive, blob) < 0)
		return cryo_error_set(err, errno, "move `%s` to `%s`", archive, blob);
	struct json_object *d = json_object_new_object();
	add_string(d, "mediaType", CHECKPOINT_IMAGE_LAYER_MEDIA_TYPE);
	*diff_id = xasprintf("sha256:%s", hex);
	add_string(d, "digest", *diff_id);
	json_object_object_add(d, "size", json_object_new_int64((int64_t)st.st_size));
	*descriptor = d;
	return 0;
}

static int write_layout(const char *layout, const char *archive, struct json_object *annotations,
                        cryo_err *err)
{
	cleanup_free char *blobs = xasprintf("%s/blobs/sha256", layout), *diff_id = NULL;
	cleanup_free char *created = format_timestamp(now_realtime_us());
	struct json_object *layer = NULL, *config_desc = NULL, *manifest_desc = NULL;
	int r;

	if ((r = mkdir_p(blobs, 0700, err)) < 0 ||
	    (r = add_layer_blob(layout, archive, &layer, &diff_id, err)) < 0)
		return r;

	struct json_object *config = json_object_new_object();
	add_string(config, "created", created);
	add_string(config, "architecture", oci_host_architecture());
	add_string(config, "os", "linux");
	json_object_object_add(config, "config", json_object_new_object());
	struct json_object *rootfs = json_object_new_object(), *diff_ids = json_object_new_array();
	add_string(rootfs, "type", "layers");
	json_object_array_add(diff_ids, json_object_new_string(diff_id));
	json_object_object_add(rootfs, "diff_ids", diff_ids);
	json_object_object_add(config, "rootfs", rootfs);
	struct json_object *history = json_object_new_array(), *step = json_object_new_object();
	add_string(step, "created", created);
	add_string(step, "created_by", "cryo checkpoint --create-image");
	json_object_array_add(history, step);
	json_object_object_add(config, "history", history);
	r = write_json_blob(layout, MT_OCI_CONFIG, config, &config_desc, err);
	json_object_put(config);
	if (r < 0) {
		json_object_put(layer);
		return r;
	}

	struct json_object *manifest = json_object_new_object(), *layers = json_object_new_array();
	json_object_object_add(manifest, "schemaVersion", json_object_new_int(2));
	add_string(manifest, "mediaType", MT_OCI_MANIFEST);
	json_object_object_add(manifest, "config", config_desc);
	json_object_array_add(layers, layer);
	json_object_object_add(manifest, "layers", layers);
	json_object_object_add(manifest, "annotations", json_object_get(annotations));
	r = write_json_blob(layout, MT_OCI_MANIFEST, manifest, &manifest_desc, err);
	json_object_put(manifest);
	if (r < 0)
		return r;

	struct json_object *index = json_object_new_object(), *manifests = json_object_new_array();
	json_object_object_add(index, "schemaVersion", json_object_new_int(2));
	json_object_array_add(manifests, manifest_desc);
	json_object_object_add(index, "manifests", manifests);
	cleanup_free char *index_path = xasprintf("%s/index.json", layout);
	cleanup_free char *marker = xasprintf("%s/oci-layout", layout);
	static const char layout_version[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
	r = write_file(index_path, json_text(index), strlen(json_text(index)), 0600, err);
	json_object_put(index);
	if (r < 0)
		return r;
	return write_file(marker, layout_version, strlen(layout_version), 0600, err);
}

int checkpoint_image_create(struct cryo_engine *engine, const char *container_ref, const char *image_ref,
                            const struct checkpoint_opts *opts, struct checkpoint_stats *stats, char **id_out,
                            cryo_err *err)
{
	cleanup_container struct container *c = NULL;
	cleanup_free char *repo = NULL, *tag = NULL, *scratch = NULL, *archive = NULL, *layout = NULL;
	struct json_object *annotations = NULL;
	int r;

	if ((r = image_ref_parse(image_ref, &repo, &tag, err)) < 0)
		return r;
	if ((r = container_get(engine, container_ref, &c, err)) < 0)
		return r;
	if ((r = checkpoint_image_annotations(engine, c, &annotations, err)) < 0)
		return r;
	if ((r = scratch_make_dir(engine, "checkpoint-image", &scratch, err)) < 0)
		goto out;
	archive = xasprintf("%s/checkpoint.tar", scratch);
	layout = xasprintf("%s/layout", scratch);

	/* The layer is the archive itself, uncompressed (a tar layer: its
	 * digest is its diff_id), signed like any export. */
	struct checkpoint_opts ck = *opts;
	ck.export_path = archive;
	ck.compression = CHECKPOINT_COMPRESSION_NONE;
	if ((r = checkpoint_container(engine, container_ref, &ck, stats, err)) < 0)
		goto out;
	if ((r = write_layout(layout, archive, annotations, err)) < 0 ||
	    (r = image_add_checkpoint(engine, layout, image_ref, id_out, err)) < 0)
		cryo_error_wrap(err, "checkpoint `%s` as image `%s:%s`", c->name, repo, tag);
out:
	json_object_put(annotations);
	if (scratch)
		rm_rf(scratch, NULL);
	return r;
}

int checkpoint_image_restore(struct cryo_engine *engine, const char *image_ref,
                             const struct restore_opts *opts, struct container **out,
                             struct restore_stats *stats, cryo_err *err)
{
	cleanup_image struct image *img = NULL;
	cleanup_free char *scratch = NULL, *archive = NULL;
	cleanup_close int lock = -1;
	int r;

	if ((r = lock_acquire(engine, IMAGE_STORE_LOCK, &lock, err)) < 0 ||
	    (r = image_get(engine, image_ref, &img, err)) < 0)
		return r;
	if (!img->checkpoint_layer)
		return cryo_error_plain(
		    err, EINVAL,
		    "restore from image `%s`: it is not a checkpoint image (its manifest "
		    "has no checkpoint annotations); run containers from it with `cryo run`",
		    image_ref);
	/* A link of its own, so an `image rm` during the restore cannot take
	 * the archive away; the store lock is not held across the restore
	 * (which takes it to create the container). */
	cleanup_free char *dir = image_checkpoint_dir(engine, img->id);
	cleanup_free char *blob = xasprintf("%s/blobs/sha256/%s", dir, img->checkpoint_layer);
	if ((r = scratch_make_dir(engine, "checkpoint-restore", &scratch, err)) < 0)
		return r;
	archive = xasprintf("%s/checkpoint.tar", scratch);
	if (link(blob, archive) < 0) {
		r = cryo_error_set(err, errno, "restore from image `%s`: link its layer `%s`", image_ref,
		                   blob);
		rm_rf(scratch, NULL);
		return r;
	}
	close(lock);
	lock = -1;

	struct restore_opts ro = *opts;
	ro.import_path = archive;
	r = restore_container(engine, NULL, &ro, out, stats, err);
	if (r < 0)
		cryo_error_wrap(err, "restore from checkpoint image `%s`", image_ref);
	rm_rf(scratch, NULL);
	return r;
}
