#include "rootfs_diff.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <json-c/json.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <time.h>

#include "log.h"
#include "safe_extract.h"
#include "test_hooks.h"
#include "util.h"

/* File data is read in chunks of this size, and the tar is written to disk in
 * blocks of this size: few system calls, and large chunks go from the read
 * buffer to write(2) without being copied into libarchive's block buffer. */
#define DATA_CHUNK_SIZE (1 << 20)
#define TAR_BLOCK_SIZE (1 << 20)
/* Below this size a sparse file is simply written out in full. */
#define SPARSE_MIN_SIZE (1 << 20)
/* A snapshot copies files below this size instead of cloning them. */
#define CLONE_MIN_SIZE (64 << 10)

#define OVERLAY_XATTR_PREFIX "trusted.overlay."
#define OVERLAY_OPAQUE_XATTR "trusted.overlay.opaque"

struct path_buf {
	char *s;
	size_t len, cap;
};

static void path_push(struct path_buf *p, const char *name)
{
	size_t n = strlen(name);
	if (p->len + n + 2 > p->cap) {
		p->cap = (p->len + n + 2) * 2;
		p->s = xrealloc(p->s, p->cap);
	}
	p->s[p->len++] = '/';
	memcpy(p->s + p->len, name, n + 1);
	p->len += n;
}

static void path_pop(struct path_buf *p, size_t len)
{
	p->len = len;
	p->s[len] = '\0';
}

struct tree_writer {
	struct archive *a;
	struct archive_entry_linkresolver *links;
	struct archive_entry *entry;
	char *data;
	char *zeros; /* hole contents for sparse files, allocated on first use */
	char *xattr_names;
	size_t xattr_names_cap;
	char *xattr_value;
	size_t xattr_value_cap;
	/* Upper-dir semantics: whiteouts and opaque dirs become deleted paths,
	 * trusted.overlay.* attributes are left out. */
	bool overlay;
	char **skip; /* relative, cleaned */
	struct json_object *deleted;
	struct rootfs_diff_stats stats;
	/* Absolute path of the current entry: root, then "/" and the relative name. */
	struct path_buf path;
	size_t root_len;

	/* A snapshot (capture_snapshot_take): the walk records each header
	 * and puts the file data into `blob` (cloned where it can be), and the
	 * tar is written from them later. */
	bool deferred;
	int blob;         /* O_TMPFILE on the captured tree's file system; -1: none */
	off_t blob_end;   /* where the next file's data may start */
	off_t blob_align; /* the file system's block size: clone offsets are multiples of it */
	struct deferred_entry *pending;
	size_t n_pending, pending_cap;
	struct capture_snapshot_stats snap;

	/* A copying snapshot (no reflinks) filled ahead of the freeze
	 * (capture_snapshot_precopy): the files whose copy the frozen walk may
	 * take over, as long as they are unchanged. */
	bool clone;      /* the blob takes reflinks (else its data is copied) */
	bool precopying; /* the walk is capture_snapshot_precopy's */
	struct timespec precopy_cutoff;
	int64_t precopy_clock_offset; /* CLOCK_REALTIME - CLOCK_MONOTONIC then, ns */
	ino_t *mapped;                /* inodes mapped shared and writable then (sorted) */
	size_t n_mapped;
	struct precopied *pre; /* sorted by device and inode once the walk is done */
	size_t n_pre, pre_cap;
	bool precopy_trust_all; /* ROOTFS_TEST_PRECOPY_TRUST_ALL */
	bool dry;               /* sizing a snapshot's tar: its data is not read (zeros instead) */
	const bool *stop;       /* set: the tar's sink failed, stop writing */
};

/* A file copied ahead of the freeze, and what it was then. */
struct precopied {
	dev_t dev;
	ino_t ino;
	off_t size;
	off_t base;
	struct timespec mtime, ctime;
};

/* A header recorded by a snapshot, and where its data is in the blob. */
struct deferred_entry {
	struct archive_entry *entry;
	off_t base; /* -1: no data */
	off_t size;
};

static const char *tree_rel(const struct tree_writer *w)
{
	return w->path.len > w->root_len ? w->path.s + w->root_len + 1 : "";
}

static void tree_writer_free(struct tree_writer *w)
{
	if (w->a)
		archive_write_free(w->a);
	if (w->links)
		archive_entry_linkresolver_free(w->links);
	if (w->entry)
		archive_entry_free(w->entry);
	free(w->data);
	free(w->zeros);
	free(w->xattr_names);
	free(w->xattr_value);
	strv_free(w->skip);
	if (w->deleted)
		json_object_put(w->deleted);
	free(w->path.s);
	for (size_t i = 0; i < w->n_pending; i++)
		archive_entry_free(w->pending[i].entry);
	free(w->pending);
	free(w->mapped);
	free(w->pre);
	if (w->blob >= 0)
		close(w->blob);
}

static int archive_failure(struct archive *a, cryo_err *err, const char *what, const char *name)
{
	const char *msg = archive_error_string(a);
	int errnum = archive_errno(a) > 0 && archive_errno(a) != EILSEQ ? archive_errno(a) : 0;
	return cryo_error_set(err, errnum, "%s `%s`: %s", what, name, msg ? msg : "unknown error");
}

/* The extended attribute names of fd (fd >= 0) or of path, NUL-separated. */
static ssize_t list_xattrs(struct tree_writer *w, int fd, const char *path)
{
	for (;;) {
		ssize_t n = fd >= 0 ? flistxattr(fd, w->xattr_names, w->xattr_names_cap)
		                    : llistxattr(path, w->xattr_names, w->xattr_names_cap);
		if (n >= 0 || errno != ERANGE)
			return n;
		n = fd >= 0 ? flistxattr(fd, NULL, 0) : llistxattr(path, NULL, 0);
		if (n < 0)
			return n;
		w->xattr_names_cap = (size_t)n + 256;
		w->xattr_names = xrealloc(w->xattr_names, w->xattr_names_cap);
	}
}

static ssize_t get_xattr(struct tree_writer *w, int fd, const char *path, const char *name)
{
	for (;;) {
		ssize_t n = fd >= 0 ? fgetxattr(fd, name, w->xattr_value, w->xattr_value_cap)
		                    : lgetxattr(path, name, w->xattr_value, w->xattr_value_cap);
		if (n >= 0 || errno != ERANGE)
			return n;
		n = fd >= 0 ? fgetxattr(fd, name, NULL, 0) : lgetxattr(path, name, NULL, 0);
		if (n < 0)
			return n;
		w->xattr_value_cap = (size_t)n + 256;
		w->xattr_value = xrealloc(w->xattr_value, w->xattr_value_cap);
	}
}

enum overlay_mark {
	MARK_NONE = 0,
	MARK_OPAQUE = 1 << 0,   /* directory replacing the lower one */
	MARK_WHITEOUT = 1 << 1, /* overlayfs "xwhiteout": a file standing for a deletion */
};

/* Copy the entry's extended attributes into w->entry, and note overlayfs'
 * own markers. fd is the open object, or -1 for an object that is never
 * opened (symbolic link, fifo, device), named by `name` in directory dirfd:
 * the l*xattr calls then go through /proc/self/fd/DIRFD/NAME, which neither
 * opens the object nor depends on how long the path is. */
static int add_xattrs(struct tree_writer *w, int fd, int dirfd, const char *name_in_dir, unsigned *marks,
                      cryo_err *err)
{
	cleanup_free char *proc_path = fd < 0 ? xasprintf("/proc/self/fd/%d/%s", dirfd, name_in_dir) : NULL;
	const char *path = proc_path;
	*marks = MARK_NONE;
	ssize_t len = list_xattrs(w, fd, path);
	if (len < 0) {
		if (errno == ENOTSUP)
			return 0;
		return cryo_error_set(err, errno, "list extended attributes of `%s`", w->path.s);
	}
	for (const char *name = w->xattr_names; name < w->xattr_names + len; name += strlen(name) + 1) {
		bool overlay_private = w->overlay && str_has_prefix(name, OVERLAY_XATTR_PREFIX);
		if (overlay_private) {
			const char *what = name + strlen(OVERLAY_XATTR_PREFIX);
			if (strcmp(what, "redirect") == 0 || strcmp(what, "metacopy") == 0)
				return cryo_error_set(
				    err, ENOTSUP,
				    "`%s` carries overlayfs attribute %s: its contents live in "
				    "the image layers (mount without redirect_dir/metacopy)",
				    w->path.s, name);
			if (strcmp(what, "opaque") != 0 && strcmp(what, "whiteout") != 0)
				continue;
		}
		ssize_t n = get_xattr(w, fd, path, name);
		if (n < 0) {
			if (errno == ENODATA)
				continue; /* removed since listed */
			return cryo_error_set(err, errno, "read extended attribute %s of `%s`", name,
			                      w->path.s);
		}
		if (overlay_private) {
			if (strcmp(name, OVERLAY_OPAQUE_XATTR) == 0) {
				if (n == 1 && w->xattr_value[0] == 'y')
					*marks |= MARK_OPAQUE;
			} else {
				*marks |= MARK_WHITEOUT;
			}
			continue;
		}
		archive_entry_xattr_add_entry(w->entry, name, w->xattr_value, (size_t)n);
	}
	return 0;
}

static void note_deleted(struct tree_writer *w)
{
	cleanup_free char *abs = xasprintf("/%s", tree_rel(w));
	json_object_array_add(w->deleted, json_object_new_string(abs));
	w->stats.deleted++;
}

static bool is_skipped(const struct tree_writer *w, const char *rel)
{
	for (size_t i = 0; w->skip && w->skip[i]; i++)
		if (strcmp(w->skip[i], rel) == 0)
			return true;
	return false;
}

/* Fill w->entry with what stat says; times are mtime only (atime and ctime
 * cannot be meaningfully restored and would cost header space). */
static void entry_from_stat(struct tree_writer *w, const struct stat *st)
{
	archive_entry_clear(w->entry);
	const char *rel = tree_rel(w);
	archive_entry_copy_pathname(w->entry, rel[0] ? rel : ".");
	archive_entry_copy_stat(w->entry, st);
	archive_entry_unset_atime(w->entry);
	archive_entry_unset_ctime(w->entry);
	archive_entry_unset_birthtime(w->entry);
}

static int write_header(struct tree_writer *w, struct archive_entry *entry, cryo_err *err)
{
	if (w->deferred) {
		if (w->n_pending == w->pending_cap) {
			w->pending_cap = w->pending_cap ? w->pending_cap * 2 : 256;
			w->pending = xrealloc(w->pending, w->pending_cap * sizeof(*w->pending));
		}
		struct archive_entry *copy = archive_entry_clone(entry);
		if (!copy)
			oom();
		w->pending[w->n_pending++] = (struct deferred_entry){.entry = copy, .base = -1};
		return 0;
	}
	/* ARCHIVE_WARN: a name that is not valid in the current locale is stored
	 * as raw bytes (hdrcharset=BINARY), which restores it exactly. */
	if (archive_write_header(w->a, entry) < ARCHIVE_WARN)
		return archive_failure(w->a, err, "write tar header for", w->path.s);
	if (w->stop && *w->stop)
		return -EIO;
	return 0;
}

static int write_chunk(struct tree_writer *w, const void *data, size_t len, cryo_err *err)
{
	if (archive_write_data(w->a, data, len) < 0)
		return archive_failure(w->a, err, "write data of", w->path.s);
	if (w->stop && *w->stop)
		return -EIO;
	w->stats.bytes += len;
	return 0;
}

/* Read [offset, offset + len) of fd into the tar. A file that shrank while
 * being read (it should not: the container is frozen) ends early and the tar
 * pads the entry with zeros. */
static int copy_range(struct tree_writer *w, int fd, off_t offset, off_t len, cryo_err *err)
{
	if (w->dry) {
		if (!w->zeros)
			w->zeros = xcalloc(1, DATA_CHUNK_SIZE);
		for (; len > 0; len -= DATA_CHUNK_SIZE)
			if (write_chunk(w, w->zeros, len < DATA_CHUNK_SIZE ? (size_t)len : DATA_CHUNK_SIZE,
			                err) < 0)
				return -EIO;
		return 0;
	}
	while (len > 0) {
		size_t want = len < DATA_CHUNK_SIZE ? (size_t)len : DATA_CHUNK_SIZE;
		ssize_t n = pread(fd, w->data, want, offset);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return cryo_error_set(err, errno, "read `%s`", w->path.s);
		}
		if (n == 0)
			return 0;
		if (write_chunk(w, w->data, (size_t)n, err) < 0)
			return -EIO;
		offset += n;
		len -= n;
	}
	return 0;
}

/* For a file with holes, record its data extents in the entry so that only
 * they are stored (pax sparse format) and the restored file has the same
 * holes. Returns the number of extents, 0 when the file is not worth it. */
static int map_sparse(struct tree_writer *w, int fd, const struct stat *st, cryo_err *err)
{
	if (st->st_size < SPARSE_MIN_SIZE || (off_t)st->st_blocks * 512 >= st->st_size)
		return 0;
	int extents = 0;
	off_t pos = 0;
	while (pos < st->st_size) {
		off_t data = lseek(fd, pos, SEEK_DATA);
		if (data < 0) {
			if (errno == ENXIO)
				break; /* only a hole is left */
			if (errno == EINVAL || errno == ENOTSUP)
				return 0; /* no hole reporting here: store it whole */
			return cryo_error_set(err, errno, "find data in `%s`", w->path.s);
		}
		if (data >= st->st_size)
			break;
		off_t hole = lseek(fd, data, SEEK_HOLE);
		if (hole < 0)
			return cryo_error_set(err, errno, "find holes in `%s`", w->path.s);
		if (hole > st->st_size)
			hole = st->st_size;
		archive_entry_sparse_add_entry(w->entry, data, hole - data);
		extents++;
		pos = hole;
	}
	/* A trailing hole is marked by an empty extent at the end of the file
	 * (as GNU tar does), a file that is all hole by an empty one at 0 (as
	 * libarchive's own disk reader does: its pax writer drops an empty
	 * extent at the end when it is the only one). */
	archive_entry_sparse_add_entry(w->entry, extents == 0 ? 0 : st->st_size, 0);
	return extents + 1;
}

static const char *type_name(mode_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG:
		return "regular file";
	case S_IFDIR:
		return "directory";
	case S_IFLNK:
		return "symbolic link";
	case S_IFIFO:
		return "fifo";
	case S_IFSOCK:
		return "socket";
	case S_IFCHR:
		return "character device";
	case S_IFBLK:
		return "block device";
	}
	return "file of unknown type";
}

static int changed_error(struct tree_writer *w, mode_t was, const struct stat *now, cryo_err *err)
{
	cryo_error_set(err, 0,
	               "`%s` changed while it was captured (it was a %s, it is now %s%s): something "
	               "outside the frozen container writes to this tree; refusing a capture that could "
	               "read what it did not check",
	               w->path.s, type_name(was), now ? "a " : "",
	               now ? type_name(now->st_mode) : "something else");
	if (err && *err)
		(*err)->errnum = EBUSY; /* the message says it all: no strerror appended */
	return -EBUSY;
}

/* What the walk knows of an entry before it opens it: its type, and its
 * inode and device (from the directory listing, or from fstatat). */
struct expected {
	mode_t type; /* S_IFREG or S_IFDIR */
	ino_t ino;
	dev_t dev;
	bool from_listing; /* ino from getdents, dev the parent's: a mount point differs */
};

/* Open `name` for reading without following a link, without blocking on a
 * fifo and without touching its access time, and make sure the object opened
 * is the one expected: same type, device and inode. *now gets the fresh
 * fstat, *fd_out the descriptor. Returns 0, 1 when the entry is gone since it
 * was listed (nothing to capture), or -errno. */
static int open_checked(struct tree_writer *w, int dirfd, const char *name, const struct expected *want,
                        struct stat *now, int *fd_out, cryo_err *err)
{
	int flags = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC;
	if (want->type == S_IFDIR)
		flags |= O_DIRECTORY;
	int fd = openat(dirfd, name, flags | O_NOATIME);
	if (fd < 0 && errno == EPERM)
		fd = openat(dirfd, name, flags); /* O_NOATIME needs ownership or CAP_FOWNER */
	if (fd < 0) {
		if (errno == ENOENT)
			return 1;
		if (errno == ELOOP || errno == ENOTDIR || errno == ENXIO)
			return changed_error(w, want->type, NULL, err);
		return cryo_error_set(err, errno, "open `%s`", w->path.s);
	}
	if (fstat(fd, now) < 0) {
		int saved = errno;
		close(fd);
		return cryo_error_set(err, saved, "stat `%s`", w->path.s);
	}
	bool same =
	    (now->st_mode & S_IFMT) == want->type && now->st_ino == want->ino && now->st_dev == want->dev;
	if (!same && want->from_listing && (now->st_mode & S_IFMT) == want->type) {
		/* A mount point shows the covered inode in its directory: the
		 * name must still lead to what was opened. */
		struct stat again;
		same = fstatat(dirfd, name, &again, AT_SYMLINK_NOFOLLOW) == 0 &&
		       again.st_ino == now->st_ino && again.st_dev == now->st_dev;
	}
	if (!same) {
		close(fd);
		return changed_error(w, want->type, now, err);
	}
	*fd_out = fd;
	return 0;
}

/* The data of a file whose header (entry) was just written: [0, size) of the
 * file, read from fd at base + offset. With a sparse map in entry, only its
 * extents are read. */
static int write_data(struct tree_writer *w, int fd, off_t base, struct archive_entry *entry, off_t size,
                      cryo_err *err)
{
	if (archive_entry_sparse_count(entry) == 0) {
		if (size > DATA_CHUNK_SIZE)
			posix_fadvise(fd, base, size, POSIX_FADV_SEQUENTIAL);
		return copy_range(w, fd, base, size, err);
	}
	/* The pax writer emits the sparse map on the first data write: make
	 * one even for a file that is all hole. It takes the file's whole
	 * logical contents and drops the holes itself, so holes are fed as
	 * zeros (which it does not copy). */
	if (archive_write_data(w->a, w->data, 0) < 0)
		return archive_failure(w->a, err, "write data of", w->path.s);
	la_int64_t offset, length, pos = 0;
	archive_entry_sparse_reset(entry);
	while (archive_entry_sparse_next(entry, &offset, &length) == ARCHIVE_OK) {
		if (length == 0)
			continue;
		if (!w->zeros)
			w->zeros = xcalloc(1, DATA_CHUNK_SIZE);
		while (pos < offset) {
			size_t n = offset - pos < DATA_CHUNK_SIZE ? (size_t)(offset - pos) : DATA_CHUNK_SIZE;
			if (archive_write_data(w->a, w->zeros, n) < 0)
				return archive_failure(w->a, err, "write data of", w->path.s);
			pos += (la_int64_t)n;
		}
		if (copy_range(w, fd, base + offset, length, err) < 0)
			return -EIO;
		pos = offset + length;
	}
	return 0;
}

/* Copy [from, to) of fd into the blob at base + from. */
static int copy_into_blob(struct tree_writer *w, int fd, off_t from, off_t to, off_t base, cryo_err *err)
{
	for (off_t pos = from; pos < to;) {
		size_t want = to - pos < DATA_CHUNK_SIZE ? (size_t)(to - pos) : DATA_CHUNK_SIZE;
		ssize_t n = pread(fd, w->data, want, pos);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return cryo_error_set(err, errno, "read `%s`", w->path.s);
		if (n == 0)
			break; /* shrank: the blob reads as zeros there */
		for (ssize_t done = 0; done < n;) {
			ssize_t m = pwrite(w->blob, w->data + done, (size_t)(n - done), base + pos + done);
			if (m < 0 && errno == EINTR)
				continue;
			if (m < 0)
				return cryo_error_set(err, errno, "copy `%s` into the snapshot", w->path.s);
			done += m;
		}
		w->snap.copied_bytes += (uint64_t)n;
		pos += n;
	}
	return 0;
}

static int timespec_cmp(struct timespec a, struct timespec b)
{
	return a.tv_sec != b.tv_sec     ? (a.tv_sec < b.tv_sec ? -1 : 1)
	       : a.tv_nsec != b.tv_nsec ? (a.tv_nsec < b.tv_nsec ? -1 : 1)
	                                : 0;
}

static int cmp_ino(const void *a, const void *b)
{
	ino_t x = *(const ino_t *)a, y = *(const ino_t *)b;
	return x < y ? -1 : x > y;
}

static int cmp_precopied(const void *a, const void *b)
{
	const struct precopied *x = a, *y = b;
	if (x->dev != y->dev)
		return x->dev < y->dev ? -1 : 1;
	return x->ino < y->ino ? -1 : x->ino > y->ino;
}

/* Whether the copy of st's file made now may stand for its contents at the
 * freeze, as long as its times and size are the same then. Every change of a
 * file's data through a system call sets its ctime to the (coarse) time of
 * the change, so a file unchanged since before the cutoff whose ctime is the
 * same at the freeze was not written since the copy. The one other way to
 * change it is a store through a shared writable mapping whose page is dirty
 * and writable already: that sets no time. A mapping made after the cutoff
 * faults on its first store (which sets the times); one that existed before
 * is in w->mapped (every process's, read after the cutoff), and its file is
 * copied in the frozen window. */
static bool precopy_reusable(const struct tree_writer *w, const struct stat *st)
{
	if (timespec_cmp(st->st_ctim, w->precopy_cutoff) >= 0)
		return false;
	return !(w->n_mapped && bsearch(&st->st_ino, w->mapped, w->n_mapped, sizeof(ino_t), cmp_ino));
}

static void note_precopied(struct tree_writer *w, const struct stat *st, off_t base)
{
	if (!precopy_reusable(w, st))
		return;
	if (w->n_pre == w->pre_cap) {
		w->pre_cap = w->pre_cap ? w->pre_cap * 2 : 256;
		w->pre = xrealloc(w->pre, w->pre_cap * sizeof(*w->pre));
	}
	w->pre[w->n_pre++] = (struct precopied){.dev = st->st_dev,
	                                        .ino = st->st_ino,
	                                        .size = st->st_size,
	                                        .base = base,
	                                        .mtime = st->st_mtim,
	                                        .ctime = st->st_ctim};
}

/* The copy made ahead of the freeze that still holds st's file, or NULL. */
static const struct precopied *find_precopied(const struct tree_writer *w, const struct stat *st)
{
	if (!w->n_pre)
		return NULL;
	struct precopied key = {.dev = st->st_dev, .ino = st->st_ino};
	const struct precopied *p = bsearch(&key, w->pre, w->n_pre, sizeof(*w->pre), cmp_precopied);
	if (!p || p->size != st->st_size)
		return NULL;
	if (!w->precopy_trust_all &&
	    (timespec_cmp(p->mtime, st->st_mtim) != 0 || timespec_cmp(p->ctime, st->st_ctim) != 0))
		return NULL;
	return p;
}

/* Put [0, size) of fd into the snapshot's blob at the next aligned offset:
 * the whole blocks by a reflink (FICLONERANGE: no data is copied, the blob
 * shares the file's extents until either is written), the partial last block
 * and small files by a plain copy (a clone of a small file costs more than
 * copying it). A file that cannot be cloned is copied, only its data extents
 * when it is sparse (its holes stay holes in the blob). A file that shrank
 * meanwhile leaves zeros. In a snapshot filled ahead, an unchanged file's
 * earlier copy is taken over instead. */
static int defer_data(struct tree_writer *w, int fd, const struct stat *st, cryo_err *err)
{
	struct deferred_entry *e = &w->pending[w->n_pending - 1];
	off_t size = st->st_size;
	w->stats.bytes += (uint64_t)size;
	e->size = size;
	const struct precopied *p = w->precopying ? NULL : find_precopied(w, st);
	if (p) {
		e->base = p->base;
		w->snap.reused_bytes += (uint64_t)size;
		return 0;
	}
	off_t base = (w->blob_end + w->blob_align - 1) / w->blob_align * w->blob_align;
	off_t cloned = w->clone && size >= CLONE_MIN_SIZE ? size / w->blob_align * w->blob_align : 0;
	e->base = base;
	w->blob_end = base + size;
	if (w->precopying)
		note_precopied(w, st, base);
	if (cloned > 0) {
		struct file_clone_range range = {.src_fd = fd,
		                                 .src_offset = 0,
		                                 .src_length = (uint64_t)cloned,
		                                 .dest_offset = (uint64_t)base};
		if (ioctl(w->blob, FICLONERANGE, &range) == 0) {
			w->snap.cloned_bytes += (uint64_t)cloned;
		} else if (errno == EOPNOTSUPP || errno == EXDEV || errno == EINVAL || errno == ENOTTY) {
			cloned = 0; /* this file cannot be cloned (another mount): copied */
		} else {
			return cryo_error_set(err, errno, "clone `%s` into the snapshot", w->path.s);
		}
	}
	if (cloned > 0 || archive_entry_sparse_count(e->entry) == 0)
		return copy_into_blob(w, fd, cloned, size, base, err);
	la_int64_t offset, length;
	archive_entry_sparse_reset(e->entry);
	while (archive_entry_sparse_next(e->entry, &offset, &length) == ARCHIVE_OK)
		if (length > 0 && copy_into_blob(w, fd, offset, offset + length, base, err) < 0)
			return -EIO;
	return 0;
}

/* A regular file, opened and checked (open_checked); takes over fd. */
static int write_regular(struct tree_writer *w, int opened, const struct stat *st, cryo_err *err)
{
	cleanup_close int fd = opened;

	entry_from_stat(w, st);
	unsigned marks;
	if (add_xattrs(w, fd, -1, NULL, &marks, err) < 0)
		return -EIO;
	if (marks & MARK_WHITEOUT) {
		note_deleted(w);
		return 0;
	}
	int extents = map_sparse(w, fd, st, err);
	if (extents < 0)
		return extents;

	struct archive_entry *entry = w->entry, *spare = NULL;
	archive_entry_linkify(w->links, &entry, &spare);
	if (archive_entry_hardlink(entry))
		archive_entry_sparse_clear(entry);
	if (write_header(w, entry, err) < 0)
		return -EIO;
	w->stats.files++;
	if (archive_entry_hardlink(entry) || st->st_size == 0)
		return 0; /* a later name of an inode already stored */
	if (w->deferred)
		return defer_data(w, fd, st, err);
	return write_data(w, fd, 0, entry, st->st_size, err);
}

static int write_symlink(struct tree_writer *w, int dirfd, const char *name, const struct stat *st,
                         cryo_err *err)
{
	size_t cap = st->st_size > 0 ? (size_t)st->st_size + 1 : 256;
	cleanup_free char *target = NULL;
	for (;;) {
		target = xrealloc(target, cap);
		ssize_t n = readlinkat(dirfd, name, target, cap);
		if (n < 0 && errno == ENOENT)
			return 0; /* gone since listed */
		if (n < 0 && errno == EINVAL)
			return changed_error(w, st->st_mode, NULL, err);
		if (n < 0)
			return cryo_error_set(err, errno, "read symbolic link `%s`", w->path.s);
		if ((size_t)n < cap) {
			target[n] = '\0';
			break;
		}
		cap *= 2;
	}
	entry_from_stat(w, st);
	archive_entry_copy_symlink(w->entry, target);
	unsigned marks;
	if (add_xattrs(w, -1, dirfd, name, &marks, err) < 0)
		return -EIO;
	if (write_header(w, w->entry, err) < 0)
		return -EIO;
	w->stats.files++;
	return 0;
}

/* Fifos and device nodes: recorded as what they are, metadata only. They are
 * never opened: opening a fifo blocks, opening a device reaches the host's
 * hardware. */
static int write_special(struct tree_writer *w, int dirfd, const char *name, const struct stat *st,
                         cryo_err *err)
{
	entry_from_stat(w, st);
	unsigned marks;
	if (add_xattrs(w, -1, dirfd, name, &marks, err) < 0)
		return -EIO;
	struct archive_entry *entry = w->entry, *spare = NULL;
	archive_entry_linkify(w->links, &entry, &spare);
	if (write_header(w, entry, err) < 0)
		return -EIO;
	w->stats.files++;
	return 0;
}

/* The header of a directory (open as fd, described by st). */
static int write_directory_entry(struct tree_writer *w, int fd, const struct stat *st, cryo_err *err)
{
	entry_from_stat(w, st);
	unsigned marks;
	if (add_xattrs(w, fd, -1, NULL, &marks, err) < 0)
		return -EIO;
	if (marks & MARK_OPAQUE)
		note_deleted(w);
	if (write_header(w, w->entry, err) < 0)
		return -EIO;
	w->stats.dirs++;
	return 0;
}

/* What is never opened: symbolic links, fifos, devices, sockets. */
static int write_unopened(struct tree_writer *w, int dirfd, const char *name, const struct stat *st,
                          cryo_err *err)
{
	switch (st->st_mode & S_IFMT) {
	case S_IFLNK:
		return write_symlink(w, dirfd, name, st, err);
	case S_IFCHR:
		if (w->overlay && st->st_rdev == makedev(0, 0)) {
			note_deleted(w);
			return 0;
		}
		return write_special(w, dirfd, name, st, err);
	case S_IFBLK:
	case S_IFIFO:
		return write_special(w, dirfd, name, st, err);
	default:
		/* Unix sockets cannot be stored in a tar; a restored process
		 * binds its listening sockets again. */
		return 0;
	}
}

/* One directory on the walk's stack: its entries, read in one go when it is
 * entered (each: inode, type, name; as getdents64 gave them), and its
 * identity, checked when the walk climbs back into it. */
struct walk_dir {
	char *entries; /* records: ino_t, unsigned char d_type, NUL-terminated name */
	size_t len, next;
	dev_t dev;
	ino_t ino;
	size_t path_len; /* w->path.len of this directory */
};

static int read_entries(struct tree_writer *w, int fd, struct walk_dir *d, cryo_err *err)
{
	char buf[32768];
	size_t cap = 0;
	d->entries = NULL;
	d->len = d->next = 0;
	for (;;) {
		ssize_t n = getdents64(fd, buf, sizeof(buf));
		if (n < 0)
			return cryo_error_set(err, errno, "read directory `%s`", w->path.s);
		if (n == 0)
			return 0;
		for (ssize_t off = 0; off < n;) {
			struct dirent64 *de = (struct dirent64 *)(buf + off);
			off += de->d_reclen;
			if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
				continue;
			size_t name_len = strlen(de->d_name) + 1;
			size_t rec = sizeof(ino_t) + 1 + name_len;
			if (d->len + rec > cap) {
				cap = (d->len + rec) * 2 + 1024;
				d->entries = xrealloc(d->entries, cap);
			}
			ino_t ino = (ino_t)de->d_ino;
			memcpy(d->entries + d->len, &ino, sizeof(ino));
			d->entries[d->len + sizeof(ino)] = (char)de->d_type;
			memcpy(d->entries + d->len + sizeof(ino) + 1, de->d_name, name_len);
			d->len += rec;
		}
	}
}

/* The capture walks the tree iteratively with one open directory at a time:
 * it enters a directory from its parent (openat, no link followed, checked
 * against its listing) and climbs back through ".." (checked against the
 * identity it recorded), so neither the number of descriptors nor the C
 * stack grows with the tree's depth. A path longer than PATH_MAX inside the
 * container is refused: nothing could restore it by name.
 *
 * The directory listing's type decides what is opened: regular files and
 * directories are opened straight away and the descriptor's fstat must agree
 * with the listing (type, inode), so no fstatat is needed for them; anything
 * else (or an entry of unknown type) is fstatat'ed and never opened. */
static int tree_walk(struct tree_writer *w, int rootfd, cryo_err *err)
{
	cleanup_close int cur = rootfd;
	struct walk_dir *stack = NULL;
	size_t depth = 0, cap = 0;
	struct stat st;
	int r;

	if (fstat(cur, &st) < 0)
		return cryo_error_set(err, errno, "stat `%s`", w->path.s);
	if ((r = write_directory_entry(w, cur, &st, err)) < 0)
		return r;
	cap = 16;
	stack = xcalloc(cap, sizeof(*stack));
	stack[0] = (struct walk_dir){.dev = st.st_dev, .ino = st.st_ino, .path_len = w->path.len};
	depth = 1;
	if ((r = read_entries(w, cur, &stack[0], err)) < 0)
		goto out;

	while (depth > 0) {
		struct walk_dir *top = &stack[depth - 1];
		if (top->next >= top->len) {
			/* This directory is done: back to its parent. */
			free(top->entries);
			top->entries = NULL;
			if (--depth == 0)
				break;
			struct walk_dir *parent = &stack[depth - 1];
			path_pop(&w->path, parent->path_len);
			int up = openat(cur, "..", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (up < 0) {
				r = cryo_error_set(err, errno, "open the parent of `%s`", w->path.s);
				goto out;
			}
			close(cur);
			cur = up;
			if (fstat(cur, &st) < 0 || st.st_dev != parent->dev || st.st_ino != parent->ino) {
				r = cryo_error_set(
				    err, 0,
				    "directory `%s` was moved while it was captured: something "
				    "outside the frozen container writes to this tree",
				    w->path.s);
				if (err && *err)
					(*err)->errnum = EBUSY;
				r = -EBUSY;
				goto out;
			}
			continue;
		}
		ino_t listed_ino;
		memcpy(&listed_ino, top->entries + top->next, sizeof(listed_ino));
		unsigned char listed_type = (unsigned char)top->entries[top->next + sizeof(listed_ino)];
		const char *name = top->entries + top->next + sizeof(listed_ino) + 1;
		top->next += sizeof(listed_ino) + 1 + strlen(name) + 1;
		path_push(&w->path, name);
		const char *rel = tree_rel(w);
		if (strlen(rel) + 2 > PATH_MAX) {
			r = cryo_error_set(err, 0,
			                   "`/%.64s...` is longer than %d bytes inside the container: a tree "
			                   "this deep cannot be restored by name; refusing to capture it",
			                   rel, PATH_MAX - 1);
			if (err && *err)
				(*err)->errnum = ENAMETOOLONG;
			r = -ENAMETOOLONG;
			goto out;
		}
		if (is_skipped(w, rel)) {
			path_pop(&w->path, top->path_len);
			continue;
		}
		struct expected want = {.ino = listed_ino, .dev = top->dev, .from_listing = true};
		if (listed_type == DT_REG) {
			want.type = S_IFREG;
		} else if (listed_type == DT_DIR) {
			want.type = S_IFDIR;
		} else {
			if (fstatat(cur, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
				r = errno == ENOENT ? 0 : cryo_error_set(err, errno, "stat `%s`", w->path.s);
				path_pop(&w->path, top->path_len);
				if (r < 0)
					goto out;
				continue; /* gone since listed */
			}
			want = (struct expected){
			    .type = st.st_mode & S_IFMT, .ino = st.st_ino, .dev = st.st_dev};
			if (want.type != S_IFREG && want.type != S_IFDIR) {
				r = write_unopened(w, cur, name, &st, err);
				path_pop(&w->path, top->path_len);
				if (r < 0)
					goto out;
				continue;
			}
		}
		struct stat now;
		int fd = -1;
		r = open_checked(w, cur, name, &want, &now, &fd, err);
		if (r == 0 && want.type == S_IFREG)
			r = write_regular(w, fd, &now, err);
		if (r != 0 || want.type == S_IFREG) {
			path_pop(&w->path, top->path_len);
			if (r < 0)
				goto out;
			continue;
		}
		close(cur);
		cur = fd;
		if ((r = write_directory_entry(w, cur, &now, err)) < 0)
			goto out;
		if (depth == cap) {
			cap *= 2;
			stack = xrealloc(stack, cap * sizeof(*stack));
		}
		stack[depth] =
		    (struct walk_dir){.dev = now.st_dev, .ino = now.st_ino, .path_len = w->path.len};
		depth++;
		if ((r = read_entries(w, cur, &stack[depth - 1], err)) < 0)
			goto out;
	}
	r = 0;
out:
	for (size_t i = 0; i < depth; i++)
		free(stack[i].entries);
	free(stack);
	return r;
}

/* A fresh tar writer in w->a (the previous one freed): pax, written in
 * blocks of TAR_BLOCK_SIZE, the last one not padded (the tar's size is the
 * sum of what it writes). */
static int new_tar_writer(struct tree_writer *w, const char *root, cryo_err *err)
{
	if (w->a)
		archive_write_free(w->a);
	w->a = archive_write_new();
	if (!w->a)
		oom();
	if (archive_write_set_format_pax(w->a) != ARCHIVE_OK ||
	    archive_write_add_filter_none(w->a) != ARCHIVE_OK ||
	    archive_write_set_bytes_per_block(w->a, TAR_BLOCK_SIZE) != ARCHIVE_OK ||
	    archive_write_set_bytes_in_last_block(w->a, 1) != ARCHIVE_OK)
		return archive_failure(w->a, err, "set up tar writer for", root);
	return 0;
}

/* Finish with w->a now, while its output is still there (archive_write_free
 * flushes an archive that was not closed). */
static void drop_tar_writer(struct tree_writer *w)
{
	if (w->a) {
		archive_write_close(w->a);
		archive_write_free(w->a);
		w->a = NULL;
	}
}

static int tree_writer_init(struct tree_writer *w, const char *root, bool overlay, char *const *skip_paths,
                            cryo_err *err)
{
	w->blob = -1;
	w->overlay = overlay;
	for (size_t i = 0; skip_paths && skip_paths[i]; i++) {
		const char *why = NULL;
		if (skip_paths[i][0] != '/')
			return cryo_error_set(err, EINVAL, "skip path `%s`: not an absolute path",
			                      skip_paths[i]);
		cleanup_free char *rel = safe_extract_clean_name(skip_paths[i] + 1, &why);
		if (!rel)
			return cryo_error_set(err, EINVAL, "skip path `%s`: %s", skip_paths[i], why);
		if (rel[0] == '\0')
			return cryo_error_set(err, EINVAL, "skip path `%s`: cannot skip the root",
			                      skip_paths[i]);
		strv_push(&w->skip, rel);
	}
	w->path.len = strlen(root);
	while (w->path.len > 1 && root[w->path.len - 1] == '/')
		w->path.len--;
	w->path.cap = w->path.len + 256;
	w->path.s = xmalloc(w->path.cap);
	memcpy(w->path.s, root, w->path.len);
	w->path.s[w->path.len] = '\0';
	w->root_len = w->path.len;
	w->data = xmalloc(DATA_CHUNK_SIZE);
	w->xattr_names_cap = w->xattr_value_cap = 4096;
	w->xattr_names = xmalloc(w->xattr_names_cap);
	w->xattr_value = xmalloc(w->xattr_value_cap);
	w->deleted = json_object_new_array();
	w->entry = archive_entry_new();
	w->links = archive_entry_linkresolver_new();
	if (!w->deleted || !w->entry || !w->links)
		oom();
	archive_entry_linkresolver_set_strategy(w->links, ARCHIVE_FORMAT_TAR_PAX_INTERCHANGE);
	return new_tar_writer(w, root, err);
}

/* Capture root into out_tar (already open as out_fd). */
static int tree_write(struct tree_writer *w, const char *root, int out_fd, const char *out_tar, cryo_err *err)
{
	if (archive_write_open_fd(w->a, out_fd) != ARCHIVE_OK)
		return archive_failure(w->a, err, "open tar", out_tar);
	int rootfd = open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (rootfd < 0)
		return cryo_error_set(err, errno, "open `%s`", root);
	int r = tree_walk(w, rootfd, err);
	if (r < 0)
		return r;
	if (archive_write_close(w->a) != ARCHIVE_OK)
		return archive_failure(w->a, err, "finish tar", out_tar);
	return 0;
}

static int write_deleted(struct tree_writer *w, const char *out_deleted, cryo_err *err)
{
	const char *json = json_object_to_json_string_ext(w->deleted, JSON_C_TO_STRING_PLAIN);
	cleanup_free char *text = xasprintf("%s\n", json);
	int r = write_file(out_deleted, text, strlen(text), 0600, err);
	if (r == 0 && chmod(out_deleted, 0600) < 0)
		r = cryo_error_set(err, errno, "chmod `%s`", out_deleted);
	return r;
}

static int capture(const char *root, bool overlay, char *const *skip_paths, const char *out_tar,
                   const char *out_deleted, struct rootfs_diff_stats *stats, cryo_err *err)
{
	int64_t start = now_monotonic_us();
	_cleanup_(tree_writer_free) struct tree_writer w = {0};
	if (tree_writer_init(&w, root, overlay, skip_paths, err) < 0)
		return cryo_error_code(*err);

	cleanup_close int fd = open(out_tar, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return cryo_error_set(err, errno, "create `%s`", out_tar);
	int r = tree_write(&w, root, fd, out_tar, err);
	if (r == 0 && close(move_fd(fd)) < 0)
		r = cryo_error_set(err, errno, "write `%s`", out_tar);
	if (r == 0 && out_deleted)
		r = write_deleted(&w, out_deleted, err);
	if (r < 0) {
		unlink(out_tar);
		if (out_deleted)
			unlink(out_deleted);
		return r;
	}
	w.stats.duration_us = now_monotonic_us() - start;
	if (stats)
		*stats = w.stats;
	return 0;
}

int rootfs_diff_capture(const char *upper_dir, char *const *skip_paths, const char *out_tar,
                        const char *out_deleted, struct rootfs_diff_stats *stats, cryo_err *err)
{
	if (capture(upper_dir, true, skip_paths, out_tar, out_deleted, stats, err) < 0)
		return cryo_error_wrap(err, "capture file-system changes of `%s`", upper_dir);
	return 0;
}

int volume_capture(const char *data_dir, const char *out_tar, cryo_err *err)
{
	if (capture(data_dir, false, NULL, out_tar, NULL, NULL, err) < 0)
		return cryo_error_wrap(err, "capture volume data `%s`", data_dir);
	return 0;
}

int volume_restore(const char *volume_tar, const char *data_dir, const struct extract_limits *limits,
                   cryo_err *err)
{
	if (safe_extract_tar_limited(volume_tar, data_dir, 0, limits, err) < 0)
		return cryo_error_wrap(err, "restore volume data `%s`", data_dir);
	return 0;
}

/* ---- snapshots ---- */

struct capture_snapshot {
	struct tree_writer w;
	char *root;
	bool taken;
};

void capture_snapshot_free(struct capture_snapshot *s)
{
	if (!s)
		return;
	tree_writer_free(&s->w);
	free(s->root);
	free(s);
}

/* Whether fd's file system clones blocks between files: tried on two
 * unnamed files (the file system type says nothing: XFS without reflink=1
 * cannot, a Btrfs can, a future file system may). */
static bool reflink_works(int blob, off_t block, const char *scratch_dir)
{
	cleanup_close int probe = open(scratch_dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (probe < 0)
		return false;
	cleanup_free char *block_data = xcalloc(1, (size_t)block);
	memset(block_data, 'c', (size_t)block);
	if (pwrite(probe, block_data, (size_t)block, 0) != (ssize_t)block)
		return false;
	struct file_clone_range range = {.src_fd = probe, .src_length = (uint64_t)block};
	bool ok = ioctl(blob, FICLONERANGE, &range) == 0;
	return ftruncate(blob, 0) == 0 && ok;
}

int capture_snapshot_open(const char *root, bool overlay, char *const *skip_paths, const char *scratch_dir,
                          bool copy_fallback, struct capture_snapshot **out, cryo_err *err)
{
	*out = NULL;
	struct capture_snapshot *s = xcalloc(1, sizeof(*s));
	s->root = xstrdup(root);
	if (tree_writer_init(&s->w, root, overlay, skip_paths, err) < 0) {
		capture_snapshot_free(s);
		return cryo_error_code(*err);
	}
	struct stat root_st, blob_st;
	struct statfs fs;
	s->w.deferred = true;
	s->w.blob = open(scratch_dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (s->w.blob < 0 || fstatfs(s->w.blob, &fs) < 0) {
		capture_snapshot_free(s);
		return 0; /* no unnamed files here: captured the usual way */
	}
	s->w.blob_align = fs.f_bsize < 4096 ? 4096 : (off_t)fs.f_bsize;
	/* Clones stay within one file system: the blob must be on the tree's. */
	s->w.clone = stat(root, &root_st) == 0 && fstat(s->w.blob, &blob_st) == 0 &&
	             root_st.st_dev == blob_st.st_dev &&
	             reflink_works(s->w.blob, s->w.blob_align, scratch_dir);
	if (!s->w.clone && !copy_fallback) {
		capture_snapshot_free(s);
		return 0;
	}
	*out = s;
	return 0;
}

/* What a copy made ahead saves is the data of the larger files (the frozen
 * walk takes over their copies); what it costs in the window is a little
 * more per entry than a direct capture (each header is recorded, about
 * 3.5 µs more per file here). So it pays when the bytes in files of at
 * least CLONE_MIN_SIZE are at least PRECOPY_BYTES_PER_ENTRY per entry of
 * the tree (about twice the break-even measured here) and at least
 * PRECOPY_MIN_BYTES in all. */
#define PRECOPY_BYTES_PER_ENTRY (8 << 10)
#define PRECOPY_MIN_BYTES (1 << 20)

/* A survey deeper than this gives up (capture directly): it holds one
 * directory open per level. */
#define SURVEY_MAX_DEPTH 64

/* Count the entries below directory fd (taken over) and the bytes of its
 * larger files. Every directory is opened from its parent's descriptor
 * without following a link (the tree is the container's and may change
 * under the walk), so nothing outside it is ever read. False when the walk
 * could not finish. */
static bool survey_dir(int fd, unsigned depth, struct capture_survey *sv)
{
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return false;
	}
	bool ok = depth < SURVEY_MAX_DEPTH;
	struct dirent *e;
	while (ok && (errno = 0, e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		sv->entries++;
		struct stat st;
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			ok = errno == ENOENT; /* gone since listed */
			continue;
		}
		if (S_ISREG(st.st_mode) && st.st_size >= CLONE_MIN_SIZE)
			sv->large_bytes += (uint64_t)st.st_size;
		if (!S_ISDIR(st.st_mode))
			continue;
		int sub = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		ok = sub >= 0 ? survey_dir(sub, depth + 1, sv) : errno == ENOENT;
	}
	if (ok && errno != 0)
		ok = false; /* readdir failed */
	closedir(d);
	return ok;
}

bool capture_snapshot_precopy_pays(const char *root, struct capture_survey *out)
{
	struct capture_survey sv = {.entries = 1};
	int fd = open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	bool complete = fd >= 0 && survey_dir(fd, 0, &sv);
	if (out)
		*out = sv;
	return complete && sv.large_bytes >= PRECOPY_MIN_BYTES &&
	       sv.large_bytes >= sv.entries * (uint64_t)PRECOPY_BYTES_PER_ENTRY;
}

bool capture_snapshot_clones(const struct capture_snapshot *s)
{
	return s->w.clone;
}

static int64_t clock_offset_ns(void)
{
	struct timespec rt, mono;
	clock_gettime(CLOCK_REALTIME, &rt);
	clock_gettime(CLOCK_MONOTONIC, &mono);
	return (rt.tv_sec - mono.tv_sec) * 1000000000LL + (rt.tv_nsec - mono.tv_nsec);
}

/* The inodes of every file some process on this host has mapped shared and
 * writable now (/proc/PID/maps: "rw?s" with an inode), sorted. A process
 * that ends meanwhile is skipped, and so is one whose maps this process may
 * not read (EACCES: it belongs to a more privileged user namespace, so it
 * is none of the container's, and no more frozen in the frozen window than
 * any other process of the host); any other failure fails. */
static int collect_mapped_inodes(ino_t **out, size_t *n_out, cryo_err *err)
{
	*out = NULL;
	*n_out = 0;
	cleanup_dir DIR *proc = opendir("/proc");
	if (!proc)
		return cryo_error_set(err, errno, "list /proc");
	ino_t *inos = NULL;
	size_t n = 0, cap = 0;
	char *line = NULL;
	size_t line_cap = 0;
	int r = 0;
	struct dirent *d;
	while ((d = readdir(proc))) {
		if (d->d_name[0] < '1' || d->d_name[0] > '9')
			continue;
		char path[sizeof("/proc//maps") + 256];
		snprintf(path, sizeof(path), "/proc/%s/maps", d->d_name);
		FILE *f = fopen(path, "re");
		if (!f) {
			if (errno == ENOENT || errno == ESRCH || errno == EACCES)
				continue;
			r = cryo_error_set(err, errno, "read `%s`", path);
			break;
		}
		ssize_t len;
		while ((len = getline(&line, &line_cap, f)) > 0) {
			char perms[8];
			unsigned long long ino;
			if (sscanf(line, "%*x-%*x %7s %*x %*x:%*x %llu", perms, &ino) != 2 || ino == 0 ||
			    strlen(perms) < 4 || perms[1] != 'w' || perms[3] != 's')
				continue;
			if (n == cap) {
				cap = cap ? cap * 2 : 64;
				inos = xrealloc(inos, cap * sizeof(*inos));
			}
			inos[n++] = (ino_t)ino;
		}
		bool failed = ferror(f) && errno != ESRCH && errno != ENOENT;
		int saved = errno;
		fclose(f);
		if (failed) {
			r = cryo_error_set(err, saved, "read `%s`", path);
			break;
		}
	}
	free(line);
	if (r < 0) {
		free(inos);
		return r;
	}
	if (n)
		qsort(inos, n, sizeof(*inos), cmp_ino);
	*out = inos;
	*n_out = n;
	return 0;
}

/* Back to an empty snapshot on the same blob, its data kept (from offset
 * keep_end on, it is freed). */
static void snapshot_reset(struct capture_snapshot *s, off_t keep_end)
{
	struct tree_writer *w = &s->w;
	for (size_t i = 0; i < w->n_pending; i++)
		archive_entry_free(w->pending[i].entry);
	w->n_pending = 0;
	archive_entry_linkresolver_free(w->links);
	w->links = archive_entry_linkresolver_new();
	json_object_put(w->deleted);
	w->deleted = json_object_new_array();
	if (!w->links || !w->deleted)
		oom();
	archive_entry_linkresolver_set_strategy(w->links, ARCHIVE_FORMAT_TAR_PAX_INTERCHANGE);
	w->stats = (struct rootfs_diff_stats){0};
	w->snap.copied_bytes = 0;
	path_pop(&w->path, w->root_len);
	if (keep_end < w->blob_end) {
		w->blob_end = keep_end;
		if (ftruncate(w->blob, keep_end) < 0)
			cryo_debug("snapshot `%s`: free the copies made ahead: %s", s->root, strerror(errno));
	}
}

void capture_snapshot_precopy(struct capture_snapshot *s)
{
	struct tree_writer *w = &s->w;
	if (w->clone || s->taken || w->n_pending)
		return;
	int64_t start = now_monotonic_us();
	/* A change made from now on sets a ctime at or after the cutoff: the
	 * coarse clock that stamps it lags by up to a tick (clock_getres). */
	struct timespec now, res = {.tv_nsec = 10 * 1000 * 1000};
	clock_gettime(CLOCK_REALTIME, &now);
	if (clock_getres(CLOCK_REALTIME_COARSE, &res) < 0 || res.tv_sec > 0)
		res = (struct timespec){.tv_nsec = 10 * 1000 * 1000};
	int64_t margin_ns = 2 * (int64_t)res.tv_nsec + 10 * 1000 * 1000;
	int64_t cutoff_ns = now.tv_sec * 1000000000LL + now.tv_nsec - margin_ns;
	w->precopy_cutoff =
	    (struct timespec){.tv_sec = cutoff_ns / 1000000000LL, .tv_nsec = cutoff_ns % 1000000000LL};
	w->precopy_clock_offset = clock_offset_ns();
	cryo_err why = NULL;
	int r = 0;
	if (!test_switch_on(ROOTFS_TEST_PRECOPY_IGNORE_MAPS))
		r = collect_mapped_inodes(&w->mapped, &w->n_mapped, &why);
	if (r == 0) {
		int rootfd = open(s->root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		r = rootfd < 0 ? cryo_error_set(&why, errno, "open `%s`", s->root) : 0;
		w->precopying = true;
		if (r == 0)
			r = tree_walk(w, rootfd, &why);
		w->precopying = false;
	}
	w->snap.precopied_bytes = w->snap.copied_bytes;
	w->snap.precopy_duration_us = now_monotonic_us() - start;
	if (r < 0) {
		/* The container runs meanwhile and may change its tree under the
		 * walk: then everything is copied in the frozen window. */
		cryo_debug("snapshot `%s`: no copy ahead of the freeze: %s", s->root,
		           why && why->msg ? why->msg : "unknown error");
		w->n_pre = 0;
		w->snap.precopied_bytes = 0;
		snapshot_reset(s, 0);
	} else {
		if (w->n_pre)
			qsort(w->pre, w->n_pre, sizeof(*w->pre), cmp_precopied);
		snapshot_reset(s, w->blob_end);
	}
	cryo_error_free(&why);
}

int capture_snapshot_take(struct capture_snapshot *s, cryo_err *err)
{
	if (s->taken)
		return 0; /* a volume mounted twice */
	s->taken = true;
	int64_t start = now_monotonic_us();
	struct tree_writer *w = &s->w;
	/* A realtime clock set back since the copies were made ahead could
	 * give a later change an older ctime: none of them is trusted then. */
	if (w->n_pre && clock_offset_ns() < w->precopy_clock_offset - 1000 * 1000) {
		cryo_debug("snapshot `%s`: the clock was set back: copying every file again", s->root);
		w->n_pre = 0;
	}
	w->precopy_trust_all = test_switch_on(ROOTFS_TEST_PRECOPY_TRUST_ALL);
	int rootfd = open(s->root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (rootfd < 0)
		return cryo_error_set(err, errno, "snapshot `%s`: open it", s->root);
	int r = tree_walk(w, rootfd, err);
	/* A file that shrank while it was copied left the blob short of its
	 * end: reading past what was written gives zeros. */
	if (r == 0 && ftruncate(w->blob, w->blob_end) < 0)
		r = cryo_error_set(err, errno, "snapshot `%s`: size the snapshot", s->root);
	w->snap.files = w->n_pending;
	w->snap.duration_us = now_monotonic_us() - start;
	if (r < 0)
		return cryo_error_wrap(err, "snapshot `%s`", s->root);
	return 0;
}

/* Write the snapshot's tar through w->a, opened by the caller. */
static int snapshot_entries(struct capture_snapshot *s, const char *what, cryo_err *err)
{
	struct tree_writer *w = &s->w;
	/* libarchive refuses an entry with the tar's own device and inode: the
	 * entries describe the tree when it was taken, and an inode freed since
	 * (a file the container replaced) may well be the tar's now. */
	archive_write_set_skip_file(w->a, 0, 0);
	w->deferred = false;
	w->stats.bytes = 0;
	int r;
	for (size_t i = 0; i < w->n_pending; i++) {
		struct deferred_entry *e = &w->pending[i];
		const char *name = archive_entry_pathname(e->entry);
		path_pop(&w->path, w->root_len);
		if (name && strcmp(name, ".") != 0)
			path_push(&w->path, name);
		if ((r = write_header(w, e->entry, err)) < 0)
			return r;
		if (e->base >= 0 && (r = write_data(w, w->blob, e->base, e->entry, e->size, err)) < 0)
			return r;
	}
	if (archive_write_close(w->a) != ARCHIVE_OK)
		return archive_failure(w->a, err, "finish tar", what);
	return 0;
}

int capture_snapshot_write(struct capture_snapshot *s, const char *out_tar, const char *out_deleted,
                           struct rootfs_diff_stats *stats, cryo_err *err)
{
	struct tree_writer *w = &s->w;
	int64_t start = now_monotonic_us();
	int r = 0;
	cleanup_close int fd = open(out_tar, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return cryo_error_set(err, errno, "create `%s`", out_tar);
	if ((r = new_tar_writer(w, s->root, err)) < 0)
		goto out;
	if (archive_write_open_fd(w->a, fd) != ARCHIVE_OK) {
		r = archive_failure(w->a, err, "open tar", out_tar);
		goto out;
	}
	if ((r = snapshot_entries(s, out_tar, err)) < 0)
		goto out;
	if (close(move_fd(fd)) < 0) {
		r = cryo_error_set(err, errno, "write `%s`", out_tar);
		goto out;
	}
	if (out_deleted)
		r = write_deleted(w, out_deleted, err);
out:
	/* Done with it, before its descriptor is closed: freeing an archive
	 * that failed before its close would flush it. */
	if (fd >= 0)
		drop_tar_writer(w);
	if (r < 0) {
		unlink(out_tar);
		if (out_deleted)
			unlink(out_deleted);
		return cryo_error_wrap(err, "write the capture of `%s`", s->root);
	}
	w->stats.duration_us = now_monotonic_us() - start;
	if (stats)
		*stats = w->stats;
	return 0;
}

struct emit_sink {
	capture_emit_fn emit;
	void *ctx;
	int64_t written;
	cryo_err failure;
	bool failed;
	bool dropped; /* the archive is being freed: nothing more goes out */
};

static la_ssize_t emit_write(struct archive *a, void *data, const void *buf, size_t len)
{
	(void)a;
	struct emit_sink *sink = data;
	if (sink->dropped || sink->failed)
		return (la_ssize_t)len;
	if (sink->emit && sink->emit(sink->ctx, buf, len, &sink->failure) < 0) {
		/* Taken as written, so that libarchive stays able to free
		 * itself; the walk stops at its next write (tree_writer.stop). */
		sink->failed = true;
		return (la_ssize_t)len;
	}
	sink->written += (int64_t)len;
	return (la_ssize_t)len;
}

/* The tar through `emit` (NULL: a dry run that reads no data and only
 * counts); *size_out: its size. */
static int snapshot_emit(struct capture_snapshot *s, capture_emit_fn emit, void *ctx, int64_t *size_out,
                         cryo_err *err)
{
	struct tree_writer *w = &s->w;
	struct emit_sink sink = {.emit = emit, .ctx = ctx};
	int r = new_tar_writer(w, s->root, err);
	if (r < 0)
		return r;
	w->dry = !emit;
	w->stop = &sink.failed;
	if (archive_write_open(w->a, &sink, NULL, emit_write, NULL) != ARCHIVE_OK)
		r = archive_failure(w->a, err, "open tar", s->root);
	if (r == 0)
		r = snapshot_entries(s, s->root, err);
	w->dry = false;
	w->stop = NULL;
	sink.dropped = true;
	drop_tar_writer(w);
	if (sink.failed) {
		/* the sink's own error, not the walk's stop */
		cryo_error_free(err);
		r = cryo_error_code(sink.failure);
		if (err)
			*err = sink.failure;
		else
			cryo_error_free(&sink.failure);
	}
	if (r < 0)
		return cryo_error_wrap(err, "write the capture of `%s`", s->root);
	*size_out = sink.written;
	return 0;
}

int capture_snapshot_tar_size(struct capture_snapshot *s, int64_t *size, struct rootfs_diff_stats *stats,
                              cryo_err *err)
{
	int r = snapshot_emit(s, NULL, NULL, size, err);
	if (r == 0 && stats)
		*stats = s->w.stats;
	return r;
}

int capture_snapshot_emit_tar(struct capture_snapshot *s, capture_emit_fn emit, void *ctx, int64_t size,
                              cryo_err *err)
{
	int64_t written = 0;
	int r = snapshot_emit(s, emit, ctx, &written, err);
	if (r == 0 && written != size)
		return cryo_error_set(err, EIO, "the capture of `%s` came to %lld bytes instead of %lld",
		                      s->root, (long long)written, (long long)size);
	return r;
}

int capture_snapshot_write_deleted(struct capture_snapshot *s, const char *out_deleted, cryo_err *err)
{
	return write_deleted(&s->w, out_deleted, err);
}

void capture_snapshot_stats(const struct capture_snapshot *s, struct capture_snapshot_stats *out)
{
	*out = s->w.snap;
	out->bytes = s->taken ? s->w.stats.bytes : 0;
}

/* ---- apply ---- */

/* A deleted list may take this many bytes per entry the limits allow. */
#define DELETED_BYTES_PER_ENTRY 512
#define DELETED_MIN_BOUND (64 << 10)
#define DELETED_MAX_BOUND ((size_t)INT_MAX - 1)

/* The deleted list, validated: relative cleaned names, in order, within the
 * limits (count, depth, length). */
static int read_deleted_list(const char *deleted_json, const struct extract_limits *limits, char ***out,
                             cryo_err *err)
{
	cleanup_free char *text = NULL;
	/* json-c takes lengths as int. */
	size_t max = limits->max_entries > (DELETED_MAX_BOUND - DELETED_MIN_BOUND) / DELETED_BYTES_PER_ENTRY
	                 ? DELETED_MAX_BOUND
	                 : DELETED_MIN_BOUND + (size_t)limits->max_entries * DELETED_BYTES_PER_ENTRY;
	if (read_file_bounded(deleted_json, max, &text, NULL, err) < 0)
		return cryo_error_code(*err);
	enum json_tokener_error jerr;
	struct json_object *list = json_tokener_parse_verbose(text, &jerr);
	if (!list)
		return cryo_error_set(err, EINVAL, "parse `%s`: %s", deleted_json,
		                      json_tokener_error_desc(jerr));
	cleanup_strv char **rels = NULL;
	int r = 0;
	if (!json_object_is_type(list, json_type_array)) {
		r = cryo_error_set(err, EINVAL, "`%s`: not a JSON array of paths", deleted_json);
		goto out;
	}
	size_t n = json_object_array_length(list);
	if (n > limits->max_entries) {
		r = cryo_error_plain(err, EFBIG,
		                     "`%s`: %zu deleted paths, more than the %llu this engine accepts "
		                     "(`import.max_entries`)",
		                     deleted_json, n, (unsigned long long)limits->max_entries);
		goto out;
	}
	rels = xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++) {
		struct json_object *item = json_object_array_get_idx(list, i);
		if (!json_object_is_type(item, json_type_string)) {
			r = cryo_error_set(err, EINVAL, "`%s`: entry %zu is not a string", deleted_json, i);
			goto out;
		}
		const char *path = json_object_get_string(item);
		const char *why = NULL;
		if (path[0] != '/') {
			r = cryo_error_set(err, EPERM, "`%s`: deleted path `%s`: not an absolute path",
			                   deleted_json, path);
			goto out;
		}
		cleanup_free char *dotted = xasprintf(".%s", path); /* "/" cleans to the root, "" */
		rels[i] = safe_extract_clean_name(dotted, &why);
		if (!rels[i]) {
			r = cryo_error_set(err, EPERM, "`%s`: deleted path `%s`: %s", deleted_json, path,
			                   why);
			goto out;
		}
		if (rels[i][0] == '\0') {
			r = cryo_error_set(err, EPERM, "`%s`: deleted path `%s`: the root cannot be deleted",
			                   deleted_json, path);
			goto out;
		}
		if ((r = extract_limits_check_name(limits, rels[i], err)) < 0) {
			cryo_error_wrap(err, "`%s`: deleted path `%s`", deleted_json, path);
			goto out;
		}
	}
	*out = move_ptr(rels);
out:
	json_object_put(list);
	return r;
}

/* Put back a directory's times after adding an entry to it. */
static void keep_times(int dirfd, const struct stat *before)
{
	struct timespec times[2] = {before->st_atim, before->st_mtim};
	futimens(dirfd, times);
}

/* Mark one deleted path in the upper dir: rel is cleaned and relative. Every
 * component is opened relative to the previous one with O_NOFOLLOW, so a
 * symbolic link anywhere on the way is refused, not followed. */
static int apply_deleted(int upperfd, const char *rel, cryo_err *err)
{
	cleanup_free char *copy = xstrdup(rel);
	cleanup_close int cur = fcntl(upperfd, F_DUPFD_CLOEXEC, 3);
	if (cur < 0)
		return cryo_error_set(err, errno, "duplicate descriptor");
	char *name = copy;
	for (;;) {
		char *slash = strchr(name, '/');
		if (slash)
			*slash = '\0';
		struct stat parent, st;
		if (fstat(cur, &parent) < 0)
			return cryo_error_set(err, errno, "stat `%s`", copy);
		bool exists = fstatat(cur, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
		if (!exists && errno != ENOENT)
			return cryo_error_set(err, errno, "stat `%s`", copy);
		if (exists && S_ISLNK(st.st_mode))
			return cryo_error_set(err, EPERM, "goes through symbolic link `%s`", copy);

		if (slash) { /* a parent directory */
			if (!exists) {
				if (mkdirat(cur, name, 0755) < 0)
					return cryo_error_set(err, errno, "create directory `%s`", copy);
				keep_times(cur, &parent);
			} else if (!S_ISDIR(st.st_mode)) {
				return cryo_error_set(err, ENOTDIR, "`%s` is not a directory", copy);
			}
			int next = openat(cur, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (next < 0)
				return cryo_error_set(err, errno, "open directory `%s`", copy);
			close(cur);
			cur = next;
			*slash = '/';
			name = slash + 1;
			continue;
		}

		if (!exists) {
			if (mknodat(cur, name, S_IFCHR | 0000, makedev(0, 0)) < 0)
				return cryo_error_set(err, errno, "create whiteout `%s`", copy);
			keep_times(cur, &parent);
			return 0;
		}
		if (S_ISDIR(st.st_mode)) {
			cleanup_close int fd =
			    openat(cur, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (fd < 0)
				return cryo_error_set(err, errno, "open directory `%s`", copy);
			if (fsetxattr(fd, OVERLAY_OPAQUE_XATTR, "y", 1, 0) < 0)
				return cryo_error_set(err, errno, "mark directory `%s` opaque", copy);
			return 0;
		}
		if (S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0))
			return 0; /* already a whiteout */
		return cryo_error_set(err, EEXIST, "the captured files also have a non-directory there");
	}
}

int rootfs_diff_apply(const char *diff_tar, const char *deleted_json, const char *upper_dir,
                      const struct extract_limits *limits, cryo_err *err)
{
	cleanup_strv char **deleted = NULL;
	struct extract_limits defaults;
	if (!limits) {
		extract_limits_from_config(NULL, &defaults);
		limits = &defaults;
	}
	if (!deleted_json)
		deleted = xcalloc(1, sizeof(char *));
	else if (read_deleted_list(deleted_json, limits, &deleted, err) < 0)
		return cryo_error_wrap(err, "apply file-system changes to `%s`", upper_dir);
	if (safe_extract_tar_limited(diff_tar, upper_dir, 0, limits, err) < 0)
		return cryo_error_wrap(err, "apply file-system changes to `%s`", upper_dir);

	cleanup_close int upperfd = open(upper_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (upperfd < 0)
		return cryo_error_set(err, errno, "apply file-system changes: open `%s`", upper_dir);
	for (size_t i = 0; deleted[i]; i++)
		if (apply_deleted(upperfd, deleted[i], err) < 0)
			return cryo_error_wrap(err, "apply file-system changes to `%s`: deleted path `/%s`",
			                       upper_dir, deleted[i]);
	return 0;
}
