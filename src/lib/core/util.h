/* Small helpers used everywhere: cleanup attributes, ownership moves, memory,
 * strings, files and directories, clocks. */
#ifndef CRYO_UTIL_H
#define CRYO_UTIL_H

#include <dirent.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>
#include <unistd.h>

#include "base.h"
#include "error.h"

#define _cleanup_(f) __attribute__((cleanup(f)))

static inline void freep(void *p)
{
	free(*(void **)p);
}
static inline void closep(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}
static inline void fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}
static inline void closedirp(DIR **d)
{
	if (*d)
		closedir(*d);
}
void strv_freep(char ***strv);

#define cleanup_free _cleanup_(freep)
#define cleanup_close _cleanup_(closep)
#define cleanup_file _cleanup_(fclosep)
#define cleanup_dir _cleanup_(closedirp)
#define cleanup_strv _cleanup_(strv_freep)

/* Hand ownership out of a cleanup-scoped variable. */
#define move_ptr(p)                     \
	({                              \
		typeof(p) moved_ = (p); \
		(p) = NULL;             \
		moved_;                 \
	})
#define move_fd(fd)                \
	({                         \
		int moved_ = (fd); \
		(fd) = -1;         \
		moved_;            \
	})

/* NULL-terminated string vectors. */
size_t strv_len(char *const *strv);
bool strv_has(char *const *strv, const char *s); /* strv may be NULL */
void strv_free(char **strv);
void strv_push(char ***strv, const char *s); /* appends a copy */
char **strv_copy(char *const *strv);

bool str_has_prefix(const char *s, const char *prefix);
bool str_has_suffix(const char *s, const char *suffix);
/* Remove trailing whitespace in place; returns s. */
char *str_rstrip(char *s);

/* Whole-file helpers. read_file NUL-terminates its result. */
int read_file(const char *path, char **out, size_t *len, cryo_err *err);
/* read_file for files that may come from outside (archives, image layouts):
 * more than max bytes is -EFBIG, without reading further. */
int read_file_bounded(const char *path, size_t max, char **out, size_t *len, cryo_err *err);
int write_file(const char *path, const void *data, size_t len, mode_t mode, cryo_err *err);
/* Write to a temporary file beside path, fsync, rename into place. */
int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode, cryo_err *err);

int mkdir_p(const char *path, mode_t mode, cryo_err *err);
/* Remove a tree of any depth; a missing path is not an error. Does not cross
 * mount points (a mount point below makes it fail with EBUSY). */
int rm_rf(const char *path, cryo_err *err);
bool path_exists(const char *path);
/* Every name in the directory open as fd but "." and "..", NUL-separated in
 * one allocation (*names, *len bytes; NULL and 0 when empty), read in one go
 * with getdents64. Returns 0 or -errno. */
int read_dir_names(int fd, char **names, size_t *len);

/* Copy a file's contents (copy_file_range, falling back to read/write). */
int copy_file_contents(int src_fd, int dst_fd, cryo_err *err);

/* Clocks, in microseconds. */
int64_t now_monotonic_us(void);
int64_t now_realtime_us(void);
/* RFC 3339 UTC timestamp with nanoseconds for a realtime microsecond value. */
char *format_timestamp(int64_t realtime_us);

/* s as one word for /bin/sh: single-quoted, a quote inside as '\''. */
char *shell_quote(const char *s);

/* Random lowercase hex ID of 64 characters. */
char *random_id(void);

/* Is this a valid user-chosen name for a container, image or volume?
 * [a-zA-Z0-9][a-zA-Z0-9_.-]* and at most 128 characters. */
bool name_is_valid(const char *name);

#endif
