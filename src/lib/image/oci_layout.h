/* Reading OCI image layouts (https://github.com/opencontainers/image-spec,
 * image-layout.md): index.json -> manifest -> config and layer blobs, each blob
 * named by its sha256 digest and checked against it before use.
 *
 * Docker's schema 2 manifest, manifest list, config and layer media types are
 * accepted as aliases of the OCI ones (skopeo and older tools write them). */
#ifndef CRYO_OCI_LAYOUT_H
#define CRYO_OCI_LAYOUT_H

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

#include "digest.h"
#include "error.h"
#include "safe_extract.h"

#define OCI_ANNOTATION_REF_NAME "org.opencontainers.image.ref.name"
#define OCI_ANNOTATION_CONTAINERD_NAME "io.containerd.image.name"

struct oci_descriptor {
	char *media_type;
	char digest[DIGEST_HEX_LEN + 1]; /* sha256 hex */
	int64_t size;
	char *path; /* the blob's file in the layout */
};

struct oci_image {
	char *dir;                       /* the layout directory */
	struct oci_descriptor manifest;  /* the image manifest (media type always set) */
	struct oci_descriptor config;    /* the image configuration blob */
	struct json_object *config_json; /* its parsed contents */
	struct oci_descriptor *layers;   /* bottom first */
	size_t n_layers;
	char *ref_name;   /* org.opencontainers.image.ref.name, or NULL */
	char *image_name; /* io.containerd.image.name, or NULL */
	/* The image manifest's own annotations (an object, maybe empty). */
	struct json_object *manifest_annotations;
};

/* Read the layout in directory `dir` and resolve its image: index.json's
 * manifest (following a nested index one level, picking this host's platform),
 * the configuration (read and digest-checked) and the layer descriptors
 * (supported media types only; the layer blobs themselves are checked by
 * oci_blob_verify). A layout listing several images is refused. */
int oci_layout_read(const char *dir, struct oci_image **out, cryo_err *err);

/* Check a blob's size and sha256 against its descriptor. -EBADMSG on mismatch. */
int oci_blob_verify(const struct oci_descriptor *desc, cryo_err *err);

/* Unpack an `oci-archive` (a tar of a layout, possibly compressed) into the
 * existing directory dest, with the same path checks and limits (NULL: none)
 * as layers. Only regular
 * files and directories are accepted: a blob that is a symlink could make the
 * load read a host file. */
int oci_archive_extract(const char *archive, const char *dest, const struct extract_limits *limits,
                        cryo_err *err);

/* This machine's architecture as OCI platforms spell it (GOARCH: amd64, arm64...). */
const char *oci_host_architecture(void);

void oci_image_free(struct oci_image *img);
static inline void oci_image_freep(struct oci_image **img)
{
	oci_image_free(*img);
	*img = NULL;
}
#define cleanup_oci_image __attribute__((cleanup(oci_image_freep)))

#endif
