/* The image store: images and their layers, recorded in the database (tables
 * `images` and `layers`) and kept unpacked under <root>/layers/<id>, where
 * containers use them as read-only overlayfs lower directories (whiteouts
 * already in overlayfs form, see layer.h).
 *
 * Every change to the store holds the "images" lock (lock.h). A change either
 * happens completely or leaves nothing behind: layers are unpacked in
 * <root>/tmp and renamed into place, and the database rows are written in one
 * transaction; a layer directory without a row (from a crash) is swept by the
 * next store change.
 *
 * Names are `REPOSITORY:TAG`: the repository is [a-z0-9][a-z0-9._/-]* and the
 * tag [A-Za-z0-9_][A-Za-z0-9_.-]*, each at most 128 characters; a missing tag
 * means `latest`. An image has at most one name; giving its name to a new image
 * leaves the old one untagged, and an untagged image no container uses is
 * deleted with the layers no other image shares.
 *
 * Checkpoint images (checkpoint_image.h) live in the same table, under the
 * same names, but have no unpacked layers: each is kept as the OCI image
 * layout it came as, under <root>/checkpoint-images/<id>/, its one layer
 * blob being the checkpoint archive, verified like an imported archive
 * whenever it is restored. They cannot be run or mounted.
 *
 * An ordinary image also keeps its registry blobs, as an OCI layout under
 * <root>/image-blobs/<id>/: one loaded from a layout or pulled keeps the
 * blobs it came as (manifest, configuration, layer blobs, each checked
 * against its digest as it is kept); an imported one, blobs made from its
 * tarball (the tar, decompressed, as its layer; a configuration and a
 * manifest). `image push` sends them, so the image keeps its ID (its
 * configuration's digest) in every engine and registry.
 *
 * A repository may start with a registry host (`localhost:5000/app`,
 * `registry.example/team/app`): `host[:port]/`, the port digits only. */
#ifndef CRYO_IMAGE_H
#define CRYO_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "engine.h"
#include "error.h"

#define IMAGE_DEFAULT_TAG "latest"
/* The lock (lock_acquire) every store change holds. Hold it too while making
 * a container from an image, so the image cannot be removed meanwhile. */
#define IMAGE_STORE_LOCK "images"
#define IMAGE_DEFAULT_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

struct image_config {
	char **env;        /* "KEY=VALUE", NULL-terminated (maybe empty), never NULL */
	char **cmd;        /* NULL-terminated, NULL when unset */
	char **entrypoint; /* NULL-terminated, NULL when unset */
	char *workdir;     /* never NULL ("/" by default) */
	char *user;        /* never NULL ("" = root) */
};

struct image {
	char *id;        /* sha256 hex */
	char *name;      /* "repository:tag", NULL when untagged */
	int64_t created; /* realtime microseconds */
	char **layers;   /* layer IDs, bottom first, NULL-terminated */
	struct image_config config;
	uint64_t size; /* bytes of file content in its layers (a checkpoint image: its archive's bytes) */
	/* A checkpoint image: the sha256 hex of its layer blob (the archive) in
	 * image_checkpoint_dir(); NULL for an ordinary image. */
	char *checkpoint_layer;
};

void image_free(struct image *img);
void image_freep(struct image **img);
#define cleanup_image __attribute__((cleanup(image_freep)))
void image_list_free(struct image **list, size_t count);

/* Split and validate `NAME[:TAG]` (tag defaults to latest). Both allocated. */
int image_ref_parse(const char *ref, char **repository, char **tag, cryo_err *err);
/* Is this a valid repository name / tag? */
bool image_repository_is_valid(const char *repository);
bool image_tag_is_valid(const char *tag);

/* Look an image up by name[:tag] (tag defaults to latest), full ID, or unique
 * ID prefix (at least 3 hex digits; a "sha256:" prefix is accepted).
 * -ENOENT "no such image `x`". */
int image_get(struct cryo_engine *engine, const char *ref, struct image **out, cryo_err *err);

/* All images, newest first. */
int image_list(struct cryo_engine *engine, struct image ***out, size_t *count, cryo_err *err);

/* Where a layer is unpacked (allocated): <root>/layers/<id>. */
char *image_layer_path(struct cryo_engine *engine, const char *layer_id);

/* The image's layer directories as overlayfs wants them: top layer first, a
 * layer used twice only at its top-most place (the merged view is the same).
 * NULL-terminated, allocated. */
char **image_lowerdirs(struct cryo_engine *engine, const struct image *img);

/* Where an ordinary image's registry blobs are kept, as an OCI layout
 * (allocated; the directory exists only for images loaded or pulled). */
char *image_blobs_dir(struct cryo_engine *engine, const char *id);

/* Where a checkpoint image's OCI layout is kept (allocated). */
char *image_checkpoint_dir(struct cryo_engine *engine, const char *id);

/* Add the checkpoint image in the OCI layout directory `layout` (in the
 * engine's tmp/ or another directory on the same file system: it is moved
 * into the store) under `ref`. The layout must hold one image of exactly one
 * layer, with the io.kubernetes.cri-o.annotations.checkpoint.name or
 * io.podman.annotations.checkpoint.name annotation; the layer blob's digest
 * and size are checked. The ID is the configuration's digest. On failure
 * `layout` is left where it was. */
int image_add_checkpoint(struct cryo_engine *engine, const char *layout, const char *ref, char **id_out,
                         cryo_err *err);

/* The manifest annotations of checkpoint images (checkpoint_image.h): Podman's,
 * CRI-O's, and checkpointctl's. */
#define CKI_PODMAN "io.podman.annotations.checkpoint."
#define CKI_PODMAN_NAME CKI_PODMAN "name"
#define CKI_CRIO_NAME "io.kubernetes.cri-o.annotations.checkpoint.name"
#define CKI_CRIU "org.criu.checkpoint."

/* Is this OCI manifest annotation set the one of a checkpoint image? */
bool image_annotations_are_checkpoint(struct json_object *annotations);

/* Import a root file system tarball (plain, gzip, zstd, xz) as a one-layer image
 * named `ref`. *id_out (allocated) receives the new image's ID: the digest of
 * the configuration made for it, which holds the import's time (each import
 * is a distinct image). */
int image_import(struct cryo_engine *engine, const char *tarball, const char *ref, char **id_out,
                 cryo_err *err);

/* Load an OCI image layout (a directory, or an `oci-archive` tarball of one).
 * The name is `ref` when given, else the layout's
 * org.opencontainers.image.ref.name annotation: a full reference
 * (`repo[:tag]`) is used as is; a bare tag (`v1`) takes its repository from
 * the io.containerd.image.name annotation, else from the layout's file name
 * (`/x/my-app.tar` -> `my-app`); without an annotation the image is untagged.
 * The image ID is the digest of its configuration blob, as in other engines. */
int image_load(struct cryo_engine *engine, const char *path, const char *ref, char **id_out, cryo_err *err);

/* Fail (-EINVAL, saying to restore it) when img is a checkpoint image:
 * for the operations that need a root file system. */
int image_require_rootfs(const struct image *img, cryo_err *err);

/* Remove an image and the layers no other image uses. Refused (-EBUSY, naming
 * them) while containers use it. Unmounts it first when mounted. */
int image_remove(struct cryo_engine *engine, const char *ref, cryo_err *err);

/* Delete untagged images no container uses, with their unshared layers, and
 * sweep leftovers of interrupted imports. Call after removing a container. */
int image_prune_unused(struct cryo_engine *engine, cryo_err *err);

/* Mount the image's merged layers read-only at <root>/images/<id>/mnt (an
 * overlay of its layers, or a read-only bind mount of a single layer); the path
 * is returned in *path_out (allocated). Mounting a mounted image is not an
 * error. */
int image_mount(struct cryo_engine *engine, const char *ref, char **path_out, cryo_err *err);
/* Undo image_mount. -EINVAL when the image is not mounted. */
int image_unmount(struct cryo_engine *engine, const char *ref, cryo_err *err);
/* Is the image mounted (at image_mount's path)? */
bool image_is_mounted(struct cryo_engine *engine, const char *id);

/* "repository:tag" split at the tag's `:` (the last one: one before a `/` is
 * a registry's port); both "<none>" for an untagged image. Both allocated. */
void image_name_split(const struct image *img, char **repository, char **tag);

/* The JSON output of images (`cryo images --format json`, `cryo image
 * inspect`), built here only. The summary: id, name, repository, tag (null
 * when untagged), created (RFC 3339), size, checkpoint (a checkpoint image?).
 * The inspect object adds layers (IDs, bottom first), config (Env, Cmd,
 * Entrypoint, WorkingDir, User) and mountpoint (null unless mounted). The
 * caller owns (json_object_put) what they return. */
/* An array of image_list's images' summaries, in their order. */
struct json_object *image_list_json(struct image *const *list, size_t count);
struct json_object *image_inspect_json(struct cryo_engine *engine, const struct image *img);

#endif
