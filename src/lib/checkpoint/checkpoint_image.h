/* Checkpoints as OCI images, the form CRI-O, Podman and registries use: an
 * image whose one layer is the checkpoint archive's content, marked by
 * annotations on its manifest.
 *
 * cryo's layer blob IS its checkpoint archive (checkpoint_archive.h),
 * uncompressed: a tar whose entries are index.json, checkpoint/,
 * rootfs-diff.tar, ..., config.dump, spec.dump, manifest.json and
 * manifest.sig. Keeping the manifest and its signature inside the layer is
 * what lets a restore from an image be verified exactly like `restore
 * --import` of the same archive: the same signature and trust policy
 * (trust.h), limits and safe extraction. The registry's own digests only
 * prove that the bytes arrived as they were pushed, not who made them.
 *
 * The configuration says the host's os and architecture; the manifest
 * carries Podman's io.podman.annotations.checkpoint.*, CRI-O's
 * io.kubernetes.cri-o.annotations.checkpoint.name and checkpointctl's
 * org.criu.checkpoint.* annotations, filled with cryo's facts (Podman's
 * podman.version key holds cryo's version, marked as cryo's). */
#ifndef CRYO_CHECKPOINT_IMAGE_H
#define CRYO_CHECKPOINT_IMAGE_H

#include <json-c/json.h>

#include "checkpoint.h"
#include "engine.h"
#include "error.h"
#include "image.h" /* the CKI_ annotation names */
#include "restore.h"

#define CHECKPOINT_IMAGE_LAYER_MEDIA_TYPE "application/vnd.oci.image.layer.v1.tar"

/* The annotations of a checkpoint of container c (a JSON object). */
struct container;
int checkpoint_image_annotations(struct cryo_engine *engine, const struct container *c,
                                 struct json_object **out, cryo_err *err);

/* `cryo checkpoint --create-image NAME[:TAG] CONTAINER`: checkpoint the
 * container (opts as for any checkpoint; export_path and compression are
 * this function's) into an archive signed by the engine's key (or
 * opts->sign_key), and store it as checkpoint image `image_ref`. Nothing is
 * left behind on failure (the archive is staged in a claimed directory under
 * <root>/tmp). *id_out (allocated) receives the image's ID. */
int checkpoint_image_create(struct cryo_engine *engine, const char *container_ref, const char *image_ref,
                            const struct checkpoint_opts *opts, struct checkpoint_stats *stats, char **id_out,
                            cryo_err *err);

/* `cryo restore IMAGE`: restore a new container from checkpoint image
 * `image_ref` (in the store), exactly as `restore --import` of its layer
 * would (opts->import_path is this function's). -ENOENT when there is no
 * such image; -EINVAL when the image is not a checkpoint image. */
int checkpoint_image_restore(struct cryo_engine *engine, const char *image_ref,
                             const struct restore_opts *opts, struct container **out,
                             struct restore_stats *stats, cryo_err *err);

#endif
