#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

size_t strv_len(char *const *strv)
{
	size_t n = 0;
	while (strv && strv[n])
		n++;
	return n;
}

bool strv_has(char *const *strv, const char *s)
{
	for (size_t i = 0; strv && strv[i]; i++)
		if (strcmp(strv[i], s) == 0)
			return true;
	return false;
}

void strv_free(char **strv)
{
	for (size_t i = 0; strv && strv[i]; i++)
		free(strv[i]);
	free(strv);
}

void strv_freep(char ***strv)
{
	strv_free(*strv);
}

void strv_push(char ***strv, const char *s)
{
	size_t n = strv_len(*strv);
	*strv = xrealloc(*strv, (n + 2) * sizeof(char *));
	(*strv)[n] = xstrdup(s);
	(*strv)[n + 1] = NULL;
}

char **strv_copy(char *const *strv)
{
	size_t n = strv_len(strv);
	char **r = xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		r[i] = xstrdup(strv[i]);
	return r;
}

bool str_has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool str_has_suffix(const char *s, const char *suffix)
{
	size_t ls = strlen(s), lx = strlen(suffix);
	return ls >= lx && strcmp(s + ls - lx, suffix) == 0;
}

char *str_rstrip(char *s)
{
	size_t n = strlen(s);
	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
		s[--n] = '\0';
	return s;
}

int read_file_bounded(const char *path, size_t max, char **out, size_t *len, cryo_err *err)
{
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
	cleanup_free char *buf = NULL;
	size_t size = 0, cap = 0;

	if (fd < 0)
		return cryo_error_set(err, errno, "open `%s`", path);
	for (;;) {
		if (cap - size < 4096) {
			cap = cap ? cap * 2 : 8192;
			buf = xrealloc(buf, cap);
		}
		/* One byte more than allowed tells a file that is too large. */
		size_t want = cap - size - 1;
		if (max != SIZE_MAX && want > max - size + 1)
			want = max - size + 1;
		ssize_t n = read(fd, buf + size, want);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return cryo_error_set(err, errno, "read `%s`", path);
		}
		if (n == 0)
			break;
		size += (size_t)n;
		if (size > max)
			return cryo_error_set(err, EFBIG, "`%s` is larger than the %zu bytes allowed", path,
			                      max);
	}
	if (!buf)
		buf = xmalloc(1);
	buf[size] = '\0';
	if (len)
		*len = size;
	*out = move_ptr(buf);
	return 0;
}

int read_file(const char *path, char **out, size_t *len, cryo_err *err)
{
	return read_file_bounded(path, SIZE_MAX, out, len, err);
}

static int write_all(int fd, const void *data, size_t len)
{
	const char *p = data;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int write_file(const char *path, const void *data, size_t len, mode_t mode, cryo_err *err)
{
	cleanup_close int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return cryo_error_set(err, errno, "open `%s` for writing", path);
	if (write_all(fd, data, len) < 0)
		return cryo_error_set(err, errno, "write `%s`", path);
	return 0;
}

int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode, cryo_err *err)
{
	cleanup_free char *tmp = xasprintf("%s.tmp-%d", path, (int)getpid());
	cleanup_close int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return cryo_error_set(err, errno, "open `%s` for writing", tmp);
	if (write_all(fd, data, len) < 0 || fsync(fd) < 0) {
		int saved = errno;
		unlink(tmp);
		return cryo_error_set(err, saved, "write `%s`", tmp);
	}
	if (rename(tmp, path) < 0) {
		int saved = errno;
		unlink(tmp);
		return cryo_error_set(err, saved, "rename `%s` to `%s`", tmp, path);
	}
	return 0;
}

int mkdir_p(const char *path, mode_t mode, cryo_err *err)
{
	/* On the stack: the kernel refuses a longer path anyway. */
	char copy[PATH_MAX];
	if (strlen(path) >= sizeof(copy))
		return cryo_error_set(err, ENAMETOOLONG, "create directory `%s`", path);
	strcpy(copy, path);
	for (char *p = copy + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(copy, mode) < 0 && errno != EEXIST)
			return cryo_error_set(err, errno, "create directory `%s`", copy);
		*p = '/';
	}
	if (mkdir(copy, mode) < 0 && errno != EEXIST)
		return cryo_error_set(err, errno, "create directory `%s`", copy);
	return 0;
}

/* One directory being emptied: its entries (read in one go when entered)
 * and its identity, checked when the removal climbs back into it. */
struct rm_dir {
	char *names; /* NUL-separated */
	size_t len, next;
	dev_t dev;
	ino_t ino;
};

int read_dir_names(int fd, char **names, size_t *len)
{
	char buf[32768];
	size_t cap = 0;
	*names = NULL;
	*len = 0;
	for (;;) {
		ssize_t n = getdents64(fd, buf, sizeof(buf));
		if (n < 0) {
			int saved = errno;
			free(*names);
			*names = NULL;
			*len = 0;
			return -saved;
		}
		if (n == 0)
			return 0;
		for (ssize_t off = 0; off < n;) {
			struct dirent64 *de = (struct dirent64 *)(buf + off);
			off += de->d_reclen;
			if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
				continue;
			size_t l = strlen(de->d_name) + 1;
			if (*len + l > cap) {
				cap = (*len + l) * 2 + 256;
				*names = xrealloc(*names, cap);
			}
			memcpy(*names + *len, de->d_name, l);
			*len += l;
		}
	}
}

/* Empty the directory open as fd (taken over). Iterative, one directory open
 * at a time (in through openat, back out through ".." checked against the
 * identity recorded on the way in), so any depth works; it stays on the file
 * system it starts on, so a mount below is never emptied (its mount point
 * then fails to go with EBUSY). Returns 0 or the first -errno. */
static int rm_tree_fd(int fd, const char *path, cryo_err *err)
{
	int cur = fd, first = 0;
	struct stat st;
	if (fstat(cur, &st) < 0) {
		first = -errno;
		close(cur);
		return cryo_error_set(err, -first, "remove `%s`", path);
	}
	dev_t root_dev = st.st_dev;
	size_t depth = 1, cap = 16;
	struct rm_dir *stack = xcalloc(cap, sizeof(*stack));
	stack[0].dev = st.st_dev;
	stack[0].ino = st.st_ino;
	int r = read_dir_names(cur, &stack[0].names, &stack[0].len);
	if (r < 0)
		goto out;
	while (depth > 0) {
		struct rm_dir *top = &stack[depth - 1];
		if (top->next >= top->len) {
			free(top->names);
			top->names = NULL;
			if (--depth == 0)
				break;
			struct rm_dir *parent = &stack[depth - 1];
			int up = openat(cur, "..", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (up < 0) {
				r = -errno;
				goto out;
			}
			close(cur);
			cur = up;
			if (fstat(cur, &st) < 0 || st.st_dev != parent->dev || st.st_ino != parent->ino) {
				r = -ESTALE; /* moved under us: stop rather than remove elsewhere */
				goto out;
			}
			/* the directory just emptied is the parent's previous entry */
			const char *done = parent->names + parent->next - 1;
			while (done > parent->names && done[-1] != '\0')
				done--;
			if (unlinkat(cur, done, AT_REMOVEDIR) < 0 && errno != ENOENT && !first)
				first = -errno;
			continue;
		}
		const char *name = top->names + top->next;
		top->next += strlen(name) + 1;
		if (fstatat(cur, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno != ENOENT && !first)
				first = -errno;
			continue;
		}
		if (!S_ISDIR(st.st_mode) || st.st_dev != root_dev) {
			int flags = S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0;
			if (unlinkat(cur, name, flags) < 0 && errno != ENOENT && !first)
				first = -errno;
			continue;
		}
		int down = openat(cur, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (down < 0) {
			if (errno != ENOENT && !first)
				first = -errno;
			continue;
		}
		close(cur);
		cur = down;
		if (depth == cap) {
			cap *= 2;
			stack = xrealloc(stack, cap * sizeof(*stack));
		}
		stack[depth] = (struct rm_dir){.dev = st.st_dev, .ino = st.st_ino};
		depth++;
		if ((r = read_dir_names(cur, &stack[depth - 1].names, &stack[depth - 1].len)) < 0)
			goto out;
	}
	r = first;
out:
	for (size_t i = 0; i < depth; i++)
		free(stack[i].names);
	free(stack);
	close(cur);
	if (r < 0)
		return cryo_error_set(err, -r, "remove `%s`", path);
	return 0;
}

int rm_rf(const char *path, cryo_err *err)
{
	struct stat st;
	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		return cryo_error_set(err, errno, "stat `%s`", path);
	}
	if (!S_ISDIR(st.st_mode)) {
		if (unlink(path) < 0 && errno != ENOENT)
			return cryo_error_set(err, errno, "remove `%s`", path);
		return 0;
	}
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return cryo_error_set(err, errno, "remove `%s`", path);
	int r = rm_tree_fd(fd, path, err);
	if (r < 0)
		return r;
	if (rmdir(path) < 0 && errno != ENOENT)
		return cryo_error_set(err, errno, "remove `%s`", path);
	return 0;
}

bool path_exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

int copy_file_contents(int src_fd, int dst_fd, cryo_err *err)
{
	for (;;) {
		ssize_t n = copy_file_range(src_fd, NULL, dst_fd, NULL, 1 << 30, 0);
		if (n == 0)
			return 0;
		if (n > 0)
			continue;
		if (errno == EINTR)
			continue;
		if (errno != EXDEV && errno != EINVAL && errno != EOPNOTSUPP && errno != ENOSYS)
			return cryo_error_set(err, errno, "copy file data");
		break;
	}
	/* Fallback for file systems without copy_file_range between them. */
	char buf[1 << 16];
	for (;;) {
		ssize_t n = read(src_fd, buf, sizeof(buf));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return cryo_error_set(err, errno, "read file data");
		}
		if (n == 0)
			return 0;
		if (write_all(dst_fd, buf, (size_t)n) < 0)
			return cryo_error_set(err, errno, "write file data");
	}
}

int64_t now_monotonic_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t now_realtime_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

char *format_timestamp(int64_t realtime_us)
{
	time_t secs = (time_t)(realtime_us / 1000000);
	struct tm tm;
	char buf[64];
	gmtime_r(&secs, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	return xasprintf("%s.%06lldZ", buf, (long long)(realtime_us % 1000000));
}

char *random_id(void)
{
	unsigned char bytes[32];
	size_t got = 0;
	while (got < sizeof(bytes)) {
		ssize_t n = getrandom(bytes + got, sizeof(bytes) - got, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			abort();
		}
		got += (size_t)n;
	}
	char *id = xmalloc(65);
	for (size_t i = 0; i < sizeof(bytes); i++)
		snprintf(id + 2 * i, 3, "%02x", bytes[i]);
	return id;
}

bool name_is_valid(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n > 128)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
		if (i == 0 && !alnum)
			return false;
		if (!alnum && c != '_' && c != '.' && c != '-')
			return false;
	}
	return true;
}

char *shell_quote(const char *s)
{
	size_t quotes = 0;
	for (const char *p = s; *p; p++)
		quotes += *p == '\'';
	char *out = xmalloc(strlen(s) + quotes * 3 + 3);
	char *w = out;
	*w++ = '\'';
	for (const char *p = s; *p; p++) {
		if (*p == '\'') {
			memcpy(w, "'\\''", 4);
			w += 4;
		} else {
			*w++ = *p;
		}
	}
	*w++ = '\'';
	*w = '\0';
	return out;
}
