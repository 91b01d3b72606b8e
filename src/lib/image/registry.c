#include "registry.h"

#include <string.h>
#include <sys/stat.h>

#include "image.h"
#include "lock.h"
#include "oci_layout.h"
#include "proc.h"
#include "scratch.h"
#include "util.h"

#define SKOPEO "skopeo"
/* skopeo's error is its last lines; more is noise. */
#define SKOPEO_ERROR_MAX 1500

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

/* Run skopeo with argv (argv[0]: "skopeo"). */
static int run_skopeo(char *const *argv, const char *what, cryo_err *err)
{
	struct proc_opts po = PROC_OPTS_INIT;
	struct proc_result res = {0};
	po.capture_stderr = true;
	int r = proc_run(argv, &po, &res, err);
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
	if (!img->checkpoint_layer)
		return cryo_error_plain(
		    err, ENOTSUP,
		    "%s: only checkpoint images can be pushed: cryo keeps an ordinary "
		    "image's layers unpacked, not as the blobs a registry holds (push the "
		    "OCI layout you loaded it from with skopeo)",
		    what);
	cleanup_free char *layout = image_checkpoint_dir(engine, img->id);
	if (strchr(layout, ':'))
		return cryo_error_plain(err, EINVAL,
		                        "%s: the engine root `%s` has a `:`, which skopeo's oci: "
		                        "transport cannot name",
		                        what, engine->root);
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
	cleanup_strv char **argv = NULL;
	bool is_checkpoint = false;
	int r;

	if ((r = registry_ref_parse(ref, &name, &skopeo_src, err)) < 0)
		return r;
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
	argv = xcalloc(1, sizeof(char *));
	push_arg(&argv, SKOPEO);
	push_arg(&argv, "copy");
	push_arg(&argv, "--quiet");
	add_transport_opts(&argv, opts, true);
	push_arg(&argv, skopeo_src);
	push_arg(&argv, dst);
	if ((r = run_skopeo(argv, what, err)) < 0)
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
