#include "checkpoint_inspect.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "criu.h"
#include "criu_images.h"
#include "digest.h"
#include "util.h"

#define BLOCK_SIZE (1 << 20)
#define JSON_MAX_DEPTH 32
#define SIGNATURE_MAX_SIZE 4096

/* A small file of the checkpoint kept in memory until the end. */
struct held {
	char *name;
	char *data;
	size_t len;
};

struct inspector {
	const struct checkpoint_inspect_opts *opts;
	struct extract_limits limits;
	const char *source; /* for errors */
	bool is_archive;
	uint64_t entries, total;
	uint64_t pages, checkpoint, rootfs_diff, volumes;
	struct held *held; /* sorted by name once the files are read (describe()) */
	size_t n_held, cap_held, held_bytes;
	struct json_object *seen; /* name -> {"sha256","size"} of every regular file */
	/* the file being read */
	char *name;
	int64_t size, got;
	char *buf; /* when held */
	struct digest *digest;
};

static void inspector_free(struct inspector *ins)
{
	for (size_t i = 0; i < ins->n_held; i++) {
		free(ins->held[i].name);
		free(ins->held[i].data);
	}
	free(ins->held);
	if (ins->seen)
		json_object_put(ins->seen);
	free(ins->name);
	free(ins->buf);
	if (ins->digest)
		digest_free(ins->digest);
}

static bool name_in(const char *name, const char *prefix, const char *suffix)
{
	return str_has_prefix(name, prefix) && str_has_suffix(name, suffix) &&
	       strlen(name) > strlen(prefix) + strlen(suffix);
}

/* The files inspect reads: the rest is only counted and hashed. */
static bool worth_holding(const struct inspector *ins, const char *name)
{
	static const char *const always[] = {
	    "config.dump",           "spec.dump",       "manifest.json",        "manifest.sig", "stats-dump",
	    "checkpoint/stats-dump", "stats-dump.json", "checkpoint/pstree.img"};
	for (size_t i = 0; i < sizeof(always) / sizeof(always[0]); i++)
		if (strcmp(name, always[i]) == 0)
			return true;
	const struct checkpoint_inspect_opts *o = ins->opts;
	if ((o->ps_tree || o->files) && name_in(name, "checkpoint/core-", ".img"))
		return true;
	if (o->files && name_in(name, "checkpoint/ids-", ".img"))
		return true;
	if (o->files &&
	    (strcmp(name, "checkpoint/files.img") == 0 || name_in(name, "checkpoint/fdinfo-", ".img")))
		return true;
	return o->mounts && name_in(name, "checkpoint/mountpoints-", ".img");
}

static int compare_held(const void *a, const void *b)
{
	return strcmp(((const struct held *)a)->name, ((const struct held *)b)->name);
}

/* A held file by name: a binary search (a hostile archive can hold many). */
static const struct held *held_find(const struct inspector *ins, const char *name)
{
	const struct held key = {.name = (char *)name};
	return ins->n_held ? bsearch(&key, ins->held, ins->n_held, sizeof(*ins->held), compare_held) : NULL;
}

/* Checks shared by every entry: its name and the limits on count. */
static int entry_name(struct inspector *ins, const char *raw, char **out, cryo_err *err)
{
	const char *why = NULL;
	cleanup_free char *name = safe_extract_clean_name(raw ? raw : "", &why);
	if (!name)
		return cryo_error_plain(err, EPERM, "entry `%s`: %s", raw ? raw : "", why);
	if (extract_limits_check_name(&ins->limits, name, err) < 0)
		return cryo_error_wrap(err, "entry `%s`", name);
	if (++ins->entries > ins->limits.max_entries)
		return cryo_error_plain(
		    err, EFBIG,
		    "more than %llu entries, the most this engine accepts (`import.max_entries` "
		    "in the engine configuration)",
		    (unsigned long long)ins->limits.max_entries);
	*out = move_ptr(name);
	return 0;
}

static int file_begin(struct inspector *ins, char *name, int64_t size, cryo_err *err)
{
	ins->name = name;
	if (size < 0 || size > SAFE_EXTRACT_MAX_ENTRY_SIZE)
		return cryo_error_plain(err, EFBIG, "entry `%s`: absurd size %lld", name, (long long)size);
	if ((uint64_t)size > ins->limits.max_total_size ||
	    ins->total > ins->limits.max_total_size - (uint64_t)size)
		return cryo_error_plain(err, EFBIG,
		                        "the files add up to more than this engine accepts (%llu bytes, "
		                        "`import.max_total_size` in the engine configuration)",
		                        (unsigned long long)ins->limits.max_total_size);
	if (json_object_object_get_ex(ins->seen, name, NULL))
		return cryo_error_plain(err, EEXIST, "entry `%s` appears twice", name);
	ins->total += (uint64_t)size;
	ins->size = size;
	ins->got = 0;
	if (worth_holding(ins, name)) {
		if ((uint64_t)size > CHECKPOINT_INSPECT_MAX_FILE ||
		    ins->held_bytes + (size_t)size > CHECKPOINT_INSPECT_MAX_HELD)
			return cryo_error_plain(err, EFBIG, "entry `%s`: %lld bytes, too large to inspect",
			                        name, (long long)size);
		ins->buf = xmalloc((size_t)size + 1);
	}
	ins->digest = digest_new();
	return 0;
}

static int file_data(struct inspector *ins, const void *data, size_t len, cryo_err *err)
{
	if ((uint64_t)len > (uint64_t)(ins->size - ins->got))
		return cryo_error_plain(err, EFBIG, "entry `%s`: more data than the %lld bytes announced",
		                        ins->name, (long long)ins->size);
	digest_update(ins->digest, data, len);
	if (ins->buf)
		memcpy(ins->buf + ins->got, data, len);
	ins->got += (int64_t)len;
	return 0;
}

static int file_end(struct inspector *ins, cryo_err *err)
{
	cleanup_free char *name = move_ptr(ins->name);
	char sha[DIGEST_HEX_LEN + 1];
	digest_final(ins->digest, sha);
	ins->digest = NULL;
	if (ins->got != ins->size)
		return cryo_error_plain(err, EIO, "entry `%s`: %lld of %lld bytes (truncated)", name,
		                        (long long)ins->got, (long long)ins->size);
	struct json_object *e = json_object_new_object();
	json_object_object_add(e, "sha256", json_object_new_string(sha));
	json_object_object_add(e, "size", json_object_new_int64(ins->size));
	json_object_object_add(ins->seen, name, e);

	uint64_t size = (uint64_t)ins->size;
	if (str_has_prefix(name, "checkpoint/")) {
		ins->checkpoint += size;
		if (name_in(name, "checkpoint/pages-", ".img"))
			ins->pages += size;
	} else if (strcmp(name, "rootfs-diff.tar") == 0) {
		ins->rootfs_diff += size;
	} else if (str_has_prefix(name, "volumes/")) {
		ins->volumes += size;
	}
	if (ins->buf) {
		ins->buf[ins->size] = '\0';
		if (ins->n_held == ins->cap_held) {
			ins->cap_held = ins->cap_held ? ins->cap_held * 2 : 16;
			ins->held = xrealloc(ins->held, ins->cap_held * sizeof(*ins->held));
		}
		ins->held[ins->n_held++] = (struct held){move_ptr(name), move_ptr(ins->buf), (size_t)size};
		ins->held_bytes += size;
	}
	return 0;
}

/* ---- what the held files say ---- */

static struct json_object *parse_json(const struct held *h, cryo_err *err)
{
	struct json_tokener *tok = json_tokener_new_ex(JSON_MAX_DEPTH);
	if (!tok)
		oom();
	if (h->len > INT_MAX) {
		json_tokener_free(tok);
		cryo_error_plain(err, EFBIG, "`%s`: too large", h->name);
		return NULL;
	}
	struct json_object *o = json_tokener_parse_ex(tok, h->data, (int)h->len);
	enum json_tokener_error jerr = json_tokener_get_error(tok);
	json_tokener_free(tok);
	if (!o || !json_object_is_type(o, json_type_object)) {
		if (o)
			json_object_put(o);
		cryo_error_plain(err, EINVAL, "`%s`: not a JSON object (%s)", h->name,
		                 o                               ? "another JSON value"
		                 : jerr == json_tokener_continue ? "unexpected end"
		                                                 : json_tokener_error_desc(jerr));
		return NULL;
	}
	return o;
}

static const char *get_string(struct json_object *o, const char *key)
{
	struct json_object *v;
	return o && json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string)
	           ? json_object_get_string(v)
	           : NULL;
}

/* Copy a string from the checkpoint, made safe to print, under key. */
static void put_text(struct json_object *o, const char *key, const char *s)
{
	if (!s || !*s)
		return;
	cleanup_free char *safe = criu_image_text(s);
	json_object_object_add(o, key, json_object_new_string(safe));
}

static char *rfc3339(int64_t realtime_us)
{
	time_t t = (time_t)(realtime_us / 1000000);
	struct tm tm;
	char buf[64];
	if (realtime_us <= 0 || !gmtime_r(&t, &tm) || !strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm))
		return NULL;
	return xstrdup(buf);
}

/* A time in checkpointctl's form (RFC 3339 text) or cryo's older one
 * (realtime microseconds). Go's zero time means none. */
static void put_time(struct json_object *out, const char *key, struct json_object *cfg, const char *text_key,
                     const char *us_key)
{
	const char *text = get_string(cfg, text_key);
	if (text && !str_has_prefix(text, "0001-01-01")) {
		put_text(out, key, text);
		return;
	}
	struct json_object *v;
	if (json_object_object_get_ex(cfg, us_key, &v) && json_object_is_type(v, json_type_int)) {
		cleanup_free char *s = rfc3339(json_object_get_int64(v));
		put_text(out, key, s);
	}
}

static const char *engine_of(struct json_object *spec, struct json_object *cfg)
{
	struct json_object *ann = NULL;
	if (spec && json_object_object_get_ex(spec, "annotations", &ann) &&
	    json_object_is_type(ann, json_type_object)) {
		const char *manager = get_string(ann, "io.container.manager");
		if (manager && strcmp(manager, "libpod") == 0)
			return "Podman";
		if (manager && strcmp(manager, "cryo") == 0)
			return "cryo";
		json_object_object_foreach (ann, key, unused) {
			(void)unused;
			if (str_has_prefix(key, "io.kubernetes.cri-o."))
				return "CRI-O";
		}
	}
	const char *format = get_string(cfg, "format");
	return format && strcmp(format, "cryo-checkpoint") == 0 ? "cryo" : "unknown";
}

static int describe_container(struct inspector *ins, struct json_object *out, cryo_err *err)
{
	const struct held *hc = held_find(ins, "config.dump"), *hs = held_find(ins, "spec.dump");
	if (!hc)
		return cryo_error_plain(err, EINVAL, "no `config.dump` in it (not a container checkpoint)");
	struct json_object *cfg = parse_json(hc, err), *spec = NULL;
	if (!cfg)
		return cryo_error_code(*err);
	if (hs && !(spec = parse_json(hs, err))) {
		json_object_put(cfg);
		return cryo_error_code(*err);
	}
	const char *engine = engine_of(spec, cfg);
	json_object_object_add(out, "engine", json_object_new_string(engine));
	put_text(out, "engine_version",
	         get_string(cfg, strcmp(engine, "cryo") == 0 ? "cryo_version" : "engine_version"));
	struct json_object *c = json_object_new_object();
	put_text(c, "name", get_string(cfg, "name"));
	put_text(c, "id", get_string(cfg, "id"));
	const char *image = get_string(cfg, "rootfsImageName");
	put_text(c, "image", image ? image : get_string(cfg, "image_name"));
	const char *image_id = get_string(cfg, "rootfsImageID");
	put_text(c, "image_id", image_id ? image_id : get_string(cfg, "image_id"));
	put_text(c, "runtime", get_string(cfg, "runtime"));
	put_text(c, "runtime_version", get_string(cfg, "runtime_version"));
	put_time(c, "created", cfg, "createdTime", "created");
	put_time(c, "checkpointed", cfg, "checkpointedTime", "checkpointed");
	json_object_object_add(out, "container", c);
	put_text(out, "criu_version", get_string(cfg, "criu_version"));
	json_object_put(cfg);
	if (spec)
		json_object_put(spec);
	return 0;
}

/* cryo's manifest and signature (checkpoint_archive.h), checked the way an
 * import checks them, but reported instead of refused. */
static void describe_signature(struct inspector *ins, struct json_object *out)
{
	struct json_object *s = json_object_new_object();
	json_object_object_add(out, "signature", s);
	const struct held *hm = held_find(ins, "manifest.json"), *hsig = held_find(ins, "manifest.sig");
	const char *status = "unsigned", *reason = NULL;
	cleanup_free char *why = NULL;
	unsigned char key[TRUST_KEY_LEN], sig[TRUST_SIG_LEN];
	bool have_key = false;
	if (!ins->is_archive) {
		status = "not an archive";
		reason = "the engine's own copy of the checkpoint";
	} else if (!hsig) {
		reason = hm ? "the archive has a manifest but no signature" : "the archive has no manifest";
	} else if (!hm) {
		status = "bad";
		reason = "a signature without a manifest";
	} else {
		cleanup_error cryo_err err = NULL;
		struct json_object *o = parse_json(hsig, &err), *m = NULL, *entries = NULL;
		const char *alg = get_string(o, "algorithm"), *pub = get_string(o, "public_key"),
		           *sg = get_string(o, "signature");
		status = "bad";
		if (!alg || !pub || !sg)
			reason = "manifest.sig: not a signature";
		else if (strcmp(alg, TRUST_SIG_ALGORITHM) != 0)
			reason = "manifest.sig: unknown algorithm";
		else if (trust_unbase64(pub, key, TRUST_KEY_LEN) < 0 ||
		         trust_unbase64(sg, sig, TRUST_SIG_LEN) < 0)
			reason = "manifest.sig: the key or signature is not valid base64 of the right length";
		else if (!(have_key = true) || !trust_verify(key, hm->data, hm->len, sig))
			reason = "the signature does not match the manifest (archive tampered)";
		else if (!(m = parse_json(hm, &err)) || !json_object_object_get_ex(m, "entries", &entries) ||
		         !json_object_is_type(entries, json_type_object))
			reason = "the manifest has no `entries` object";
		if (!reason) {
			/* Every file but the manifest and its signature, exactly as listed. */
			json_object_object_foreach (ins->seen, name, got) {
				struct json_object *want, *a, *b;
				if (strcmp(name, "manifest.json") == 0 || strcmp(name, "manifest.sig") == 0)
					continue;
				if (!json_object_object_get_ex(entries, name, &want) ||
				    !json_object_is_type(want, json_type_object) ||
				    !json_object_object_get_ex(want, "sha256", &a) ||
				    !json_object_object_get_ex(got, "sha256", &b) ||
				    strcmp(json_object_get_string(a), json_object_get_string(b)) != 0) {
					cleanup_free char *safe = criu_image_text(name);
					why = xasprintf("entry `%s` does not match the manifest (archive "
					                "corrupted or tampered)",
					                safe);
					break;
				}
			}
			json_object_object_foreach (entries, listed, unused) {
				(void)unused;
				if (!why && !json_object_object_get_ex(ins->seen, listed, NULL)) {
					cleanup_free char *safe = criu_image_text(listed);
					why = xasprintf(
					    "entry `%s` is in the manifest but not in the archive", safe);
				}
			}
			reason = why;
			if (!why)
				status = ins->opts->keys && trusted_keys_contain(ins->opts->keys, key)
				             ? "verified"
				             : "untrusted key";
		}
		if (o)
			json_object_put(o);
		if (m)
			json_object_put(m);
	}
	json_object_object_add(s, "status", json_object_new_string(status));
	if (have_key) {
		cleanup_free char *fp = trust_fingerprint(key);
		json_object_object_add(s, "key", json_object_new_string(fp));
	}
	if (reason)
		json_object_object_add(s, "reason", json_object_new_string(reason));
}

static void describe_sizes(struct inspector *ins, struct json_object *out)
{
	struct json_object *s = json_object_new_object();
	json_object_object_add(s, "memory_pages", json_object_new_int64((int64_t)ins->pages));
	json_object_object_add(s, "checkpoint", json_object_new_int64((int64_t)ins->checkpoint));
	json_object_object_add(s, "rootfs_diff", json_object_new_int64((int64_t)ins->rootfs_diff));
	json_object_object_add(s, "volumes", json_object_new_int64((int64_t)ins->volumes));
	json_object_object_add(s, "total", json_object_new_int64((int64_t)ins->total));
	json_object_object_add(out, "sizes", s);
}

static const char *const stats_keys[] = {"freezing_time", "frozen_time",   "memdump_time",
                                         "memwrite_time", "pages_scanned", "pages_written"};

/* cryo archives before stats-dump: the same numbers in stats-dump.json. */
static int stats_from_json(const struct held *h, struct json_object *s, cryo_err *err)
{
	struct json_object *o = parse_json(h, err), *v;
	if (!o)
		return cryo_error_code(*err);
	for (size_t i = 0; i < sizeof(stats_keys) / sizeof(stats_keys[0]); i++)
		if (json_object_object_get_ex(o, stats_keys[i], &v) && json_object_is_type(v, json_type_int))
			json_object_object_add(s, stats_keys[i],
			                       json_object_new_int64(json_object_get_int64(v)));
	json_object_put(o);
	return 0;
}

static int describe_stats(struct inspector *ins, struct json_object *out, cryo_err *err)
{
	const struct held *h = held_find(ins, "stats-dump");
	if (!h)
		h = held_find(ins, "checkpoint/stats-dump");
	struct json_object *s = json_object_new_object();
	json_object_object_add(out, "stats", s);
	if (!h && (h = held_find(ins, "stats-dump.json")))
		return stats_from_json(h, s, err);
	if (!h)
		return cryo_error_plain(err, ENOENT, "no CRIU statistics (`stats-dump`) in it");
	struct criu_dump_stats st;
	if (criu_stats_parse_dump(h->data, h->len, h->name, &st, err) < 0)
		return cryo_error_code(*err);
	int64_t values[] = {st.freezing_time,          st.frozen_time,
	                    st.memdump_time,           st.memwrite_time,
	                    (int64_t)st.pages_scanned, (int64_t)st.pages_written};
	for (size_t i = 0; i < sizeof(stats_keys) / sizeof(stats_keys[0]); i++)
		json_object_object_add(s, stats_keys[i], json_object_new_int64(values[i]));
	return 0;
}

static const struct held *need(const struct inspector *ins, const char *name, cryo_err *err)
{
	const struct held *h = held_find(ins, name);
	if (!h)
		cryo_error_plain(err, ENOENT, "no `%s` in it", name);
	return h;
}

/* The tasks (pstree.img), each with its core image's command and ids. */
static int read_processes(struct inspector *ins, struct json_object *procs, cryo_err *err)
{
	const struct held *h = need(ins, "checkpoint/pstree.img", err);
	if (!h || criu_image_pstree(h->data, h->len, procs, err) < 0)
		return cryo_error_code(*err);
	for (size_t i = 0; i < json_object_array_length(procs); i++) {
		struct json_object *p = json_object_array_get_idx(procs, i), *pid;
		json_object_object_get_ex(p, "pid", &pid);
		cleanup_free char *name =
		    xasprintf("checkpoint/core-%lld.img", (long long)json_object_get_int64(pid));
		const struct held *core = need(ins, name, err);
		if (!core || criu_image_core(core->data, core->len, p, err) < 0)
			return cryo_error_code(*err);
		/* CRIU keeps the ids in ids-PID.img rather than the core image. */
		free(name);
		name = xasprintf("checkpoint/ids-%lld.img", (long long)json_object_get_int64(pid));
		const struct held *ids = held_find(ins, name);
		if (ins->opts->files && ids && criu_image_ids(ids->data, ids->len, p, err) < 0)
			return cryo_error_code(*err);
	}
	return 0;
}

/* Each fdinfo image once, however many tasks share it: files_id -> fds. */
static int fdinfo_of(struct inspector *ins, struct json_object *cache, int64_t files_id,
                     struct json_object **fds, cryo_err *err)
{
	char key[32];
	snprintf(key, sizeof(key), "%lld", (long long)files_id);
	if (json_object_object_get_ex(cache, key, fds))
		return 0;
	cleanup_free char *name = xasprintf("checkpoint/fdinfo-%s.img", key);
	const struct held *h = need(ins, name, err);
	struct json_object *list = json_object_new_array();
	if (!h || criu_image_fdinfo(h->data, h->len, list, err) < 0) {
		json_object_put(list);
		return cryo_error_code(*err);
	}
	json_object_object_add(cache, key, list);
	*fds = list;
	return 0;
}

static int describe_files(struct inspector *ins, struct json_object *procs, struct json_object *out,
                          cryo_err *err)
{
	const struct held *hf = need(ins, "checkpoint/files.img", err);
	struct json_object *files = json_object_new_object(), *list = json_object_new_array();
	struct json_object *cache = json_object_new_object();
	json_object_object_add(out, "files", list);
	int r = hf ? criu_image_files(hf->data, hf->len, files, err) : cryo_error_code(*err);
	for (size_t i = 0; r == 0 && i < json_object_array_length(procs); i++) {
		struct json_object *p = json_object_array_get_idx(procs, i), *pid, *fid, *fds = NULL;
		if (!json_object_object_get_ex(p, "files_id", &fid))
			continue;
		json_object_object_get_ex(p, "pid", &pid);
		r = fdinfo_of(ins, cache, json_object_get_int64(fid), &fds, err);
		for (size_t j = 0; r == 0 && j < json_object_array_length(fds); j++) {
			struct json_object *fd = json_object_array_get_idx(fds, j), *v, *f, *path;
			if (json_object_array_length(list) >= CHECKPOINT_INSPECT_MAX_ROWS) {
				r = cryo_error_plain(err, EFBIG, "more than %u open files in all",
				                     CHECKPOINT_INSPECT_MAX_ROWS);
				break;
			}
			struct json_object *o = json_object_new_object();
			json_object_object_add(o, "pid", json_object_get(pid));
			json_object_object_get_ex(fd, "fd", &v);
			json_object_object_add(o, "fd", json_object_get(v));
			json_object_object_get_ex(fd, "type", &v);
			json_object_object_add(o, "type", json_object_get(v));
			json_object_object_get_ex(fd, "id", &v);
			if (json_object_object_get_ex(files, json_object_get_string(v), &f) &&
			    json_object_object_get_ex(f, "path", &path))
				json_object_object_add(o, "path", json_object_get(path));
			json_object_array_add(list, o);
		}
	}
	json_object_put(cache);
	json_object_put(files);
	return r;
}

static int describe_mounts(struct inspector *ins, struct json_object *out, cryo_err *err)
{
	struct json_object *mounts = json_object_new_array();
	json_object_object_add(out, "mounts", mounts);
	bool any = false;
	for (size_t i = 0; i < ins->n_held; i++) {
		if (!name_in(ins->held[i].name, "checkpoint/mountpoints-", ".img"))
			continue;
		any = true;
		if (criu_image_mounts(ins->held[i].data, ins->held[i].len, mounts, err) < 0)
			return cryo_error_code(*err);
	}
	return any ? 0
	           : cryo_error_plain(err, ENOENT, "no mount images (`checkpoint/mountpoints-*.img`) in it");
}

static int describe(struct inspector *ins, struct json_object **out, cryo_err *err)
{
	if (ins->n_held > 0) /* qsort's base must not be NULL, even for nothing */
		qsort(ins->held, ins->n_held, sizeof(*ins->held), compare_held);
	struct json_object *o = json_object_new_object();
	int r = describe_container(ins, o, err);
	if (r == 0) {
		describe_signature(ins, o);
		describe_sizes(ins, o);
	}
	if (r == 0 && ins->opts->stats)
		r = describe_stats(ins, o, err);
	if (r == 0 && (ins->opts->ps_tree || ins->opts->files)) {
		struct json_object *procs = json_object_new_array();
		r = read_processes(ins, procs, err);
		if (r == 0 && ins->opts->files)
			r = describe_files(ins, procs, o, err);
		if (r == 0 && ins->opts->ps_tree) {
			/* files_id and mnt_ns_id are CRIU's internals, not shown. */
			for (size_t i = 0; i < json_object_array_length(procs); i++) {
				json_object_object_del(json_object_array_get_idx(procs, i), "files_id");
				json_object_object_del(json_object_array_get_idx(procs, i), "mnt_ns_id");
			}
			json_object_object_add(o, "processes", json_object_get(procs));
		}
		json_object_put(procs);
	}
	if (r == 0 && ins->opts->mounts)
		r = describe_mounts(ins, o, err);
	if (r < 0) {
		json_object_put(o);
		return r;
	}
	*out = o;
	return 0;
}

static int inspector_init(struct inspector *ins, const char *source,
                          const struct checkpoint_inspect_opts *opts)
{
	static const struct checkpoint_inspect_opts none = {0};
	*ins = (struct inspector){.opts = opts ? opts : &none, .source = source};
	if (ins->opts->limits)
		ins->limits = *ins->opts->limits;
	else
		extract_limits_from_config(NULL, &ins->limits);
	ins->seen = json_object_new_object();
	return 0;
}

/* ---- archives ---- */

static int read_archive_entry(struct inspector *ins, struct archive *a, struct archive_entry *entry,
                              cryo_err *err)
{
	char *name = NULL;
	if (entry_name(ins, archive_entry_pathname(entry), &name, err) < 0)
		return cryo_error_code(*err);
	mode_t type = archive_entry_filetype(entry);
	if (archive_entry_hardlink(entry) || type == AE_IFLNK || (type != AE_IFDIR && type != AE_IFREG)) {
		int r = cryo_error_plain(
		    err, EINVAL, "entry `%s`: links and special files are not part of a checkpoint", name);
		free(name);
		return r;
	}
	if (type == AE_IFDIR) {
		free(name);
		return 0;
	}
	int r = file_begin(ins, name, archive_entry_size(entry), err);
	while (r == 0) {
		const void *buf;
		size_t len;
		la_int64_t offset;
		int ar = archive_read_data_block(a, &buf, &len, &offset);
		if (ar == ARCHIVE_EOF)
			break;
		if (ar != ARCHIVE_OK)
			return cryo_error_plain(
			    err, archive_errno(a) > 0 ? archive_errno(a) : EIO,
			    "entry `%s`: read data (archive truncated or corrupt): %s", ins->name,
			    archive_error_string(a) ? archive_error_string(a) : "unknown error");
		if (offset != ins->got)
			return cryo_error_plain(
			    err, EINVAL, "entry `%s`: sparse entries are not part of the format", ins->name);
		r = file_data(ins, buf, len, err);
	}
	return r < 0 ? r : file_end(ins, err);
}

static int read_archive(struct inspector *ins, struct archive *a, cryo_err *err)
{
	ins->is_archive = true;
	for (size_t n = 0;; n++) {
		struct archive_entry *entry;
		int ar = archive_read_next_header(a, &entry);
		if (ar == ARCHIVE_EOF)
			break;
		if (ar != ARCHIVE_OK && ar != ARCHIVE_WARN)
			return cryo_error_plain(
			    err, archive_errno(a) > 0 ? archive_errno(a) : EINVAL, "%s: %s",
			    n == 0 ? "read the first entry (not a checkpoint archive?)"
			           : "read the next entry (archive truncated or corrupt)",
			    archive_error_string(a) ? archive_error_string(a) : "unknown error");
		if (read_archive_entry(ins, a, entry, err) < 0)
			return cryo_error_code(*err);
	}
	return 0;
}

typedef int (*open_fn)(struct archive *a, const void *arg, size_t len);

static int open_file(struct archive *a, const void *arg, size_t len)
{
	(void)len;
	return archive_read_open_filename(a, arg, BLOCK_SIZE);
}

static int open_memory(struct archive *a, const void *arg, size_t len)
{
	return archive_read_open_memory(a, arg, len);
}

static int inspect_stream(const char *source, open_fn open, const void *arg, size_t len,
                          const struct checkpoint_inspect_opts *opts, struct json_object **out, cryo_err *err)
{
	_cleanup_(inspector_free) struct inspector ins;
	inspector_init(&ins, source, opts);
	struct archive *a = archive_read_new();
	if (!a)
		oom();
	int r = 0;
	archive_read_support_format_tar(a);
	/* Only libarchive's own decoders, never an external program. */
	if (archive_read_support_filter_gzip(a) != ARCHIVE_OK ||
	    archive_read_support_filter_zstd(a) != ARCHIVE_OK ||
	    archive_read_support_filter_xz(a) != ARCHIVE_OK)
		r = cryo_error_plain(err, ENOTSUP, "set up decompression: %s", archive_error_string(a));
	else if (open(a, arg, len) != ARCHIVE_OK)
		r = archive_errno(a) == EILSEQ || !archive_error_string(a)
		        ? cryo_error_plain(err, EINVAL,
		                           "not a checkpoint archive (not a tar file, nor a compressed one)")
		        : cryo_error_plain(err, archive_errno(a) > 0 ? archive_errno(a) : EIO,
		                           "read the start (archive truncated or corrupt): %s",
		                           archive_error_string(a));
	else
		r = read_archive(&ins, a, err);
	archive_read_free(a);
	if (r == 0)
		r = describe(&ins, out, err);
	return r < 0 ? cryo_error_wrap(err, "inspect checkpoint archive `%s`", source) : 0;
}

int checkpoint_inspect_archive(const char *path, const struct checkpoint_inspect_opts *opts,
                               struct json_object **out, cryo_err *err)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return cryo_error_set(err, errno, "inspect checkpoint archive `%s`", path);
	if (!S_ISREG(st.st_mode) && !S_ISFIFO(st.st_mode))
		return cryo_error_plain(err, EINVAL, "inspect checkpoint archive `%s`: not a regular file",
		                        path);
	return inspect_stream(path, open_file, path, 0, opts, out, err);
}

int checkpoint_inspect_memory(const void *data, size_t len, const char *name,
                              const struct checkpoint_inspect_opts *opts, struct json_object **out,
                              cryo_err *err)
{
	return inspect_stream(name, open_memory, data, len, opts, out, err);
}

/* ---- the engine's checkpoint directories ---- */

static int read_dir_tree(struct inspector *ins, int dirfd, const char *prefix, unsigned depth, cryo_err *err)
{
	if (depth > ins->limits.max_path_depth)
		return cryo_error_plain(err, EFBIG, "`%s`: deeper than %llu components", prefix,
		                        (unsigned long long)ins->limits.max_path_depth);
	int fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 3);
	if (fd < 0)
		return cryo_error_set(err, errno, "duplicate descriptor");
	cleanup_dir DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return cryo_error_set(err, errno, "read directory `%s`", prefix);
	}
	struct dirent *de;
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		char *name = NULL;
		cleanup_free char *rel =
		    *prefix ? xasprintf("%s/%s", prefix, de->d_name) : xstrdup(de->d_name);
		if (entry_name(ins, rel, &name, err) < 0)
			return cryo_error_code(*err);
		struct stat st;
		if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			free(name);
			return cryo_error_set(err, errno, "`%s`", rel);
		}
		if (S_ISDIR(st.st_mode)) {
			free(name);
			cleanup_close int sub =
			    openat(dirfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub < 0)
				return cryo_error_set(err, errno, "open directory `%s`", rel);
			int r = read_dir_tree(ins, sub, rel, depth + 1, err);
			if (r < 0)
				return r;
			continue;
		}
		if (!S_ISREG(st.st_mode)) {
			free(name);
			return cryo_error_plain(
			    err, EINVAL, "`%s`: links and special files are not part of a checkpoint", rel);
		}
		cleanup_close int f = openat(dirfd, de->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (f < 0 || fstat(f, &st) < 0 || !S_ISREG(st.st_mode)) {
			free(name);
			return cryo_error_set(err, f < 0 ? errno : EINVAL, "open `%s`", rel);
		}
		int r = file_begin(ins, name, st.st_size, err);
		static char buf[BLOCK_SIZE];
		for (ssize_t n; r == 0 && (n = read(f, buf, sizeof(buf))) != 0;) {
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				return cryo_error_set(err, errno, "read `%s`", rel);
			r = file_data(ins, buf, (size_t)n, err);
		}
		if (r < 0 || (r = file_end(ins, err)) < 0)
			return r;
	}
	return 0;
}

int checkpoint_inspect_dir(const char *dir, const struct checkpoint_inspect_opts *opts,
                           struct json_object **out, cryo_err *err)
{
	_cleanup_(inspector_free) struct inspector ins;
	inspector_init(&ins, dir, opts);
	cleanup_close int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	int r = fd < 0 ? cryo_error_set(err, errno, "open") : read_dir_tree(&ins, fd, "", 1, err);
	if (r == 0)
		r = describe(&ins, out, err);
	return r < 0 ? cryo_error_wrap(err, "inspect checkpoint `%s`", dir) : 0;
}
