#include "criu_images.h"

#include <string.h>

#include "criu_images.pb-c.h"
#include "util.h"

static uint32_t le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

typedef int (*entry_fn)(const uint8_t *data, size_t len, void *ctx, cryo_err *err);

/* Walk an image: both magics, then length-prefixed entries to the end. */
static int image_entries(const void *data, size_t len, uint32_t magic, const char *what, entry_fn fn,
                         void *ctx, cryo_err *err)
{
	const unsigned char *p = data;
	if (len < 8 || le32(p) != CRIU_IMG_COMMON_MAGIC || le32(p + 4) != magic)
		return cryo_error_plain(err, EINVAL, "%s: not a CRIU image of that kind (bad magic)", what);
	size_t off = 8, n = 0;
	while (off < len) {
		if (len - off < 4)
			return cryo_error_plain(err, EINVAL, "%s: entry %zu: truncated length", what, n + 1);
		uint32_t size = le32(p + off);
		off += 4;
		if (size > CRIU_IMAGE_MAX_ENTRY || size > len - off)
			return cryo_error_plain(err, EINVAL, "%s: entry %zu: %u bytes do not fit the image",
			                        what, n + 1, size);
		if (++n > CRIU_IMAGE_MAX_ENTRIES)
			return cryo_error_plain(err, EFBIG, "%s: more than %u entries", what,
			                        CRIU_IMAGE_MAX_ENTRIES);
		int r = fn(p + off, size, ctx, err);
		if (r < 0)
			return cryo_error_wrap(err, "%s: entry %zu", what, n);
		off += size;
	}
	return 0;
}

char *criu_image_text(const char *s)
{
	size_t n = strlen(s);
	char *out = xmalloc(n * 4 + 1), *q = out;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '\\') {
			*q++ = '\\';
			*q++ = '\\';
		} else if (*p >= 0x20 && *p < 0x7f) {
			*q++ = (char)*p;
		} else {
			static const char hex[] = "0123456789abcdef";
			*q++ = '\\';
			*q++ = 'x';
			*q++ = hex[*p >> 4];
			*q++ = hex[*p & 15];
		}
	}
	*q = '\0';
	return out;
}

static void add_text(struct json_object *o, const char *key, const char *s)
{
	cleanup_free char *safe = criu_image_text(s ? s : "");
	json_object_object_add(o, key, json_object_new_string(safe));
}

static const char *const fd_types[] = {
    "UND",       "REG",     "PIPE",     "FIFO",     "INETSK", "UNIXSK",   "EVENTFD",
    "EVENTPOLL", "INOTIFY", "SIGNALFD", "PACKETSK", "TTY",    "FANOTIFY", "NETLINKSK",
    "NS",        "TUNF",    "EXT",      "TIMERFD",  "MEMFD",  "BPFMAP",   "PIDFD",
};

const char *criu_fd_type_name(unsigned type)
{
	return type < sizeof(fd_types) / sizeof(fd_types[0]) ? fd_types[type] : "UNKNOWN";
}

static const char *const fs_types[] = {
    "unsupported", "proc",       "sysfs",   "devtmpfs", "binfmt_misc", "tmpfs", "devpts", "simfs",
    "pstore",      "securityfs", "fusectl", "debugfs",  "cgroup",      "aufs",  "mqueue", "fuse",
    "auto",        "overlay",    "autofs",  "tracefs",  "rpc_pipefs",  "nfs",   "nfs4",   "cgroup2",
};

static int pstree_entry(const uint8_t *data, size_t len, void *ctx, cryo_err *err)
{
	CryoPstreeEntry *e = cryo_pstree_entry__unpack(NULL, len, data);
	if (!e)
		return cryo_error_plain(err, EINVAL, "malformed pstree_entry");
	int r = 0;
	if (!e->has_pid || !e->has_ppid) {
		r = cryo_error_plain(err, EINVAL, "pstree_entry without pid or ppid");
	} else {
		struct json_object *o = json_object_new_object();
		json_object_object_add(o, "pid", json_object_new_int64(e->pid));
		json_object_object_add(o, "ppid", json_object_new_int64(e->ppid));
		json_object_object_add(o, "pgid", json_object_new_int64(e->pgid));
		json_object_object_add(o, "sid", json_object_new_int64(e->sid));
		json_object_object_add(o, "threads", json_object_new_int64((int64_t)e->n_threads));
		json_object_array_add(ctx, o);
	}
	cryo_pstree_entry__free_unpacked(e, NULL);
	return r;
}

int criu_image_pstree(const void *data, size_t len, struct json_object *procs, cryo_err *err)
{
	return image_entries(data, len, CRIU_PSTREE_MAGIC, "pstree.img", pstree_entry, procs, err);
}

static int core_entry(const uint8_t *data, size_t len, void *ctx, cryo_err *err)
{
	struct json_object *proc = ctx;
	if (json_object_object_get_ex(proc, "command", NULL))
		return cryo_error_plain(err, EINVAL, "more than one core_entry");
	CryoCoreEntry *e = cryo_core_entry__unpack(NULL, len, data);
	if (!e)
		return cryo_error_plain(err, EINVAL, "malformed core_entry");
	add_text(proc, "command", e->tc ? e->tc->comm : NULL);
	if (e->ids && e->ids->has_files_id)
		json_object_object_add(proc, "files_id", json_object_new_int64(e->ids->files_id));
	if (e->ids && e->ids->has_mnt_ns_id)
		json_object_object_add(proc, "mnt_ns_id", json_object_new_int64(e->ids->mnt_ns_id));
	cryo_core_entry__free_unpacked(e, NULL);
	return 0;
}

int criu_image_core(const void *data, size_t len, struct json_object *proc, cryo_err *err)
{
	return image_entries(data, len, CRIU_CORE_MAGIC, "core image", core_entry, proc, err);
}

static int ids_entry(const uint8_t *data, size_t len, void *ctx, cryo_err *err)
{
	CryoTaskKobjIdsEntry *e = cryo_task_kobj_ids_entry__unpack(NULL, len, data);
	if (!e)
		return cryo_error_plain(err, EINVAL, "malformed task_kobj_ids_entry");
	if (e->has_files_id)
		json_object_object_add(ctx, "files_id", json_object_new_int64(e->files_id));
	if (e->has_mnt_ns_id)
		json_object_object_add(ctx, "mnt_ns_id", json_object_new_int64(e->mnt_ns_id));
	cryo_task_kobj_ids_entry__free_unpacked(e, NULL);
	return 0;
}

int criu_image_ids(const void *data, size_t len, struct json_object *proc, cryo_err *err)
{
	return image_entries(data, len, CRIU_IDS_MAGIC, "ids image", ids_entry, proc, err);
}

static int file_entry(const uint8_t *data, size_t len, void *ctx, cryo_err *err)
{
	CryoFileEntry *e = cryo_file_entry__unpack(NULL, len, data);
	if (!e)
		return cryo_error_plain(err, EINVAL, "malformed file_entry");
	if (!e->has_id || !e->has_type) {
		cryo_file_entry__free_unpacked(e, NULL);
		return cryo_error_plain(err, EINVAL, "file_entry without id or type");
	}
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "type", json_object_new_string(criu_fd_type_name(e->type)));
	const CryoPipeEntry *pipe = e->pipe ? e->pipe : e->fifo;
	if (e->reg && e->reg->name) {
		add_text(o, "path", e->reg->name);
		if (e->reg->has_mode)
			json_object_object_add(o, "mode", json_object_new_int64(e->reg->mode));
	} else if (pipe && pipe->has_pipe_id) {
		cleanup_free char *s = xasprintf("pipe:[%u]", pipe->pipe_id);
		json_object_object_add(o, "path", json_object_new_string(s));
	} else {
		cleanup_free char *s = xasprintf("[%s]", criu_fd_type_name(e->type));
		json_object_object_add(o, "path", json_object_new_string(s));
	}
	char key[16];
	snprintf(key, sizeof(key), "%u", e->id);
	json_object_object_add(ctx, key, o);
	cryo_file_entry__free_unpacked(e, NULL);
	return 0;
}

int criu_image_files(const void *data, size_t len, struct json_object *files, cryo_err *err)
{
	return image_entries(data, len, CRIU_FILES_MAGIC, "files.img", file_entry, files, err);
}

static int fdinfo_entry(const uint8_t *data, size_t len, void *ctx, cryo_err *err)
{
	CryoFdinfoEntry *e = cryo_fdinfo_entry__unpack(NULL, len, data);
	if (!e)
		return cryo_error_plain(err, EINVAL, "malformed fdinfo_entry");
	int r = 0;
	if (!e->has_id || !e->has_fd || !e->has_type) {
		r = cryo_error_plain(err, EINVAL, "fdinfo_entry without id, fd or type");
	} else {
		struct json_object *o = json_object_new_object();
		json_object_object_add(o, "fd", json_object_new_int64(e->fd));
		json_object_object_add(o, "id", json_object_new_int64(e->id));
		json_object_object_add(o, "type", json_object_new_string(criu_fd_type_name(e->type)));
		json_object_array_add(ctx, o);
	}
	cryo_fdinfo_entry__free_unpacked(e, NULL);
	return r;
}

int criu_image_fdinfo(const void *data, size_t len, struct json_object *fds, cryo_err *err)
{
	return image_entries(data, len, CRIU_FDINFO_MAGIC, "fdinfo image", fdinfo_entry, fds, err);
}

static int mnt_entry(const uint8_t *data, size_t len, void *ctx, cryo_err *err)
{
	CryoMntEntry *e = cryo_mnt_entry__unpack(NULL, len, data);
	if (!e)
		return cryo_error_plain(err, EINVAL, "malformed mnt_entry");
	if (!e->mountpoint) {
		cryo_mnt_entry__free_unpacked(e, NULL);
		return cryo_error_plain(err, EINVAL, "mnt_entry without a mountpoint");
	}
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "mnt_id", json_object_new_int64(e->mnt_id));
	json_object_object_add(o, "parent_mnt_id", json_object_new_int64(e->parent_mnt_id));
	/* CRIU stores the mountpoint with a leading "." (relative to the root). */
	const char *mp = e->mountpoint[0] == '.' ? e->mountpoint + 1 : e->mountpoint;
	add_text(o, "mountpoint", mp[0] ? mp : "/");
	add_text(o, "root", e->root);
	add_text(o, "source", e->source);
	if (e->fsname)
		add_text(o, "fstype", e->fsname);
	else
		add_text(o, "fstype",
		         e->fstype < sizeof(fs_types) / sizeof(fs_types[0]) ? fs_types[e->fstype]
		                                                            : "unknown");
	add_text(o, "options", e->options);
	json_object_array_add(ctx, o);
	cryo_mnt_entry__free_unpacked(e, NULL);
	return 0;
}

int criu_image_mounts(const void *data, size_t len, struct json_object *mounts, cryo_err *err)
{
	return image_entries(data, len, CRIU_MNTS_MAGIC, "mountpoints image", mnt_entry, mounts, err);
}
