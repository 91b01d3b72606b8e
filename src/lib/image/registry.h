/* Pushing images to and pulling them from registries, through skopeo (a real
 * client, Debian's, run by argv: never through a shell): it speaks the
 * distribution API, TLS, the usual credentials (auth.json) and the
 * registries' quirks, which a hand-written HTTP stack would get wrong.
 *
 * The exchange with cryo's store is an OCI image layout: a push copies a
 * checkpoint image's layout, or an ordinary image's kept registry blobs
 * (image.h), from the store, after checking every blob against its digest
 * (the configuration's being the image's ID); a pull copies into a scratch
 * layout under <root>/tmp (claimed, scratch.h, and removed on every path),
 * then stores it like `image load` does (an ordinary image: its layers
 * checked against their digests and unpacked safely, layer.h) or, when its
 * manifest has the checkpoint annotations, as a checkpoint image (its layer
 * verified as an imported archive whenever it is restored).
 *
 * A pull is bounded (registry_opts.max_size, else the engine configuration's
 * registry.max_pull_size): refused before the download when the manifest's
 * declared sizes (configuration and layers) add up to more; during it,
 * skopeo is killed once its scratch directory holds more, and no file it
 * writes can outgrow the limit (RLIMIT_FSIZE). Either refusal (-EFBIG)
 * names the image and the limit and leaves the store as it was.
 *
 * References are `[docker://]HOST[:PORT]/PATH[:TAG|@sha256:...]`; other
 * transports are refused. A pulled image is named after its reference
 * without the transport and digest (`localhost:5000/app:1`). */
#ifndef CRYO_REGISTRY_H
#define CRYO_REGISTRY_H

#include <stdbool.h>
#include <stdint.h>

#include "engine.h"
#include "error.h"

#define REGISTRY_TRANSPORT "docker://"

struct registry_opts {
	bool tls_verify;      /* verify the registry's certificate (the default) */
	const char *authfile; /* credentials file; NULL: skopeo's usual auth.json */
	/* Pull: store only a checkpoint image; refuse anything else (-EINVAL),
	 * leaving the store as it was. */
	bool checkpoint_only;
	/* Pull: the most it downloads, in bytes; 0: the engine configuration's
	 * registry.max_pull_size. */
	uint64_t max_size;
};

/* Does ref name a registry: docker://..., or a first component that is a
 * host (has a `.` or a `:`, or is `localhost`) followed by a `/`? */
bool registry_ref_names_registry(const char *ref);

/* "docker://HOST/PATH:TAG" -> the store name "HOST/PATH:TAG" (tag latest when
 * missing; a digest is dropped from the name but kept for the pull), and the
 * skopeo reference; -EINVAL with the reason for anything else. Either output
 * may be NULL. */
int registry_ref_parse(const char *ref, char **name, char **skopeo_ref, cryo_err *err);

/* Push image `image_ref` (a checkpoint image, or an ordinary image with its
 * registry blobs: -ENOTSUP when it has none) to registry reference `dest`;
 * -EBADMSG when a stored blob does not match its digest. */
int registry_push(struct cryo_engine *engine, const char *image_ref, const char *dest,
                  const struct registry_opts *opts, cryo_err *err);

/* Pull `ref` into the store; *id_out and *name_out (allocated, may be NULL)
 * receive the image's ID and name, *checkpoint (may be NULL) whether it is a
 * checkpoint image. */
int registry_pull(struct cryo_engine *engine, const char *ref, const struct registry_opts *opts,
                  char **id_out, char **name_out, bool *checkpoint, cryo_err *err);

#endif
