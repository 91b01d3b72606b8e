#include "pathsafe.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util.h"

/* cryo_error_set appends strerror() for a non-zero errno; these messages say
 * all there is, so they keep the code without the text. */
static int keep_code(cryo_err *err, int code)
{
	if (err && *err)
		(*err)->errnum = code;
	return -code;
}
#define fail_with(err, code, ...) (cryo_error_set((err), 0, __VA_ARGS__), keep_code((err), (code)))

/* Append one component to a path being rebuilt in buf (of at least strlen(input)
 * + 2 bytes). */
static void append_component(char *buf, size_t *len, const char *comp, size_t n)
{
	if (*len > 0 && buf[*len - 1] != '/')
		buf[(*len)++] = '/';
	memcpy(buf + *len, comp, n);
	*len += n;
	buf[*len] = '\0';
}

int pathsafe_normalize(const char *path, char **out, cryo_err *err)
{
	if (!path || !*path)
		return fail_with(err, EINVAL, "empty path");
	if (path[0] == '/')
		return fail_with(err, EINVAL, "absolute path `%s` is not allowed", path);

	cleanup_free char *buf = xmalloc(strlen(path) + 2);
	size_t len = 0;
	buf[0] = '\0';
	for (const char *p = path; *p;) {
		const char *end = strchrnul(p, '/');
		size_t n = (size_t)(end - p);
		if (n == 2 && p[0] == '.' && p[1] == '.')
			return fail_with(err, EINVAL, "path `%s` has a `..` component", path);
		if (n > 0 && !(n == 1 && p[0] == '.'))
			append_component(buf, &len, p, n);
		p = *end ? end + 1 : end;
	}
	*out = len ? move_ptr(buf) : xstrdup(".");
	return 0;
}

char *pathsafe_clean_absolute(const char *path)
{
	if (!path || path[0] != '/')
		return NULL;
	char *buf = xmalloc(strlen(path) + 2);
	size_t len = 1;
	buf[0] = '/';
	buf[1] = '\0';
	for (const char *p = path; *p;) {
		const char *end = strchrnul(p, '/');
		size_t n = (size_t)(end - p);
		if (n == 2 && p[0] == '.' && p[1] == '.') {
			/* Drop the last component; ".." of "/" is "/". */
			while (len > 1 && buf[len - 1] != '/')
				len--;
			if (len > 1)
				len--;
			buf[len] = '\0';
		} else if (n > 0 && !(n == 1 && p[0] == '.')) {
			append_component(buf, &len, p, n);
		}
		p = *end ? end + 1 : end;
	}
	return buf;
}

bool pathsafe_is_inside(const char *root, const char *path)
{
	cleanup_free char *r = pathsafe_clean_absolute(root);
	cleanup_free char *p = pathsafe_clean_absolute(path);
	if (!r || !p)
		return false;
	if (strcmp(r, "/") == 0)
		return true;
	size_t n = strlen(r);
	return strncmp(r, p, n) == 0 && (p[n] == '\0' || p[n] == '/');
}

void pathsafe_split(const char *rel, char **parent, char **base)
{
	const char *slash = strrchr(rel, '/');
	if (!slash) {
		*parent = xstrdup(".");
		*base = xstrdup(rel);
		return;
	}
	*parent = xstrndup(rel, (size_t)(slash - rel));
	*base = xstrdup(slash + 1);
}

/* The raw openat2 call, retried on the EAGAIN the kernel returns when a
 * concurrent rename or mount could have fooled a RESOLVE_BENEATH walk. Returns
 * the descriptor or -errno. */
static int openat2_resolve(int rootfd, const char *rel, int flags, mode_t mode, unsigned long long resolve)
{
	struct open_how how = {
	    .flags = (unsigned long long)(flags | O_CLOEXEC),
	    .mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0,
	    .resolve = resolve,
	};
	for (int attempt = 0; attempt < 16; attempt++) {
		long fd = syscall(SYS_openat2, rootfd, rel, &how, sizeof(how));
		if (fd >= 0)
			return (int)fd;
		if (errno != EAGAIN && errno != EINTR)
			return -errno;
	}
	return -EAGAIN;
}

static int openat2_beneath(int rootfd, const char *rel, int flags, mode_t mode)
{
	return openat2_resolve(rootfd, rel, flags, mode, RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS);
}

static int beneath_error(cryo_err *err, int code, const char *rel)
{
	switch (-code) {
	case EXDEV:
		return fail_with(err, EXDEV,
		                 "path `%s` resolves outside its root (through a symlink or `..`)", rel);
	case ELOOP:
		return fail_with(err, ELOOP, "path `%s`: too many levels of symbolic links", rel);
	case ENOSYS:
		return fail_with(err, ENOSYS, "resolve `%s` safely: openat2 needs Linux 5.6 or newer", rel);
	default:
		return cryo_error_set(err, -code, "open `%s`", rel);
	}
}

int pathsafe_open_in_root(int rootfd, const char *rel, int flags, cryo_err *err)
{
	int fd =
	    openat2_resolve(rootfd, rel, flags, 0, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV);
	if (fd < 0)
		return beneath_error(err, fd, rel);
	return fd;
}

int pathsafe_open_beneath(int rootfd, const char *rel, int flags, mode_t mode, cryo_err *err)
{
	int fd = openat2_beneath(rootfd, rel, flags, mode);
	if (fd < 0)
		return beneath_error(err, fd, rel);
	return fd;
}

int pathsafe_open_beneath_nofollow(int rootfd, const char *rel, int flags, mode_t mode, cryo_err *err)
{
	int fd = openat2_resolve(rootfd, rel, flags, mode,
	                         RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
	if (fd == -ELOOP)
		return fail_with(err, ELOOP, "path `%s` is or goes through a symbolic link", rel);
	if (fd < 0)
		return beneath_error(err, fd, rel);
	return fd;
}

int pathsafe_check_beneath(int rootfd, const char *rel, cryo_err *err)
{
	/* The kernel walks components in order and refuses an escaping symlink or
	 * `..` when it meets it, so one walk over the whole path checks every
	 * existing prefix: a missing component can only come after the ones that
	 * resolved inside. */
	int fd = openat2_beneath(rootfd, rel, O_PATH, 0);
	if (fd >= 0) {
		close(fd);
		return 0;
	}
	if (fd == -ENOENT || fd == -ENOTDIR)
		return 0;
	return beneath_error(err, fd, rel);
}

int pathsafe_mkdir_beneath(int rootfd, const char *rel, mode_t mode, cryo_err *err)
{
	cleanup_free char *norm = NULL;
	int r = pathsafe_normalize(rel, &norm, err);
	if (r < 0)
		return r;
	cleanup_close int cur = openat2_beneath(rootfd, ".", O_RDONLY | O_DIRECTORY, 0);
	if (cur < 0)
		return beneath_error(err, cur, ".");
	if (strcmp(norm, ".") == 0)
		return move_fd(cur);

	/* Walk prefix by prefix from the root: each prefix is opened beneath the
	 * root (so symlinks that stay inside are fine), created in its verified
	 * parent when missing. */
	for (char *p = norm;;) {
		char *slash = strchr(p, '/');
		if (slash)
			*slash = '\0';
		int next = openat2_beneath(rootfd, norm, O_RDONLY | O_DIRECTORY, 0);
		if (next == -ENOENT) {
			const char *comp = strrchr(norm, '/') ? strrchr(norm, '/') + 1 : norm;
			if (mkdirat(cur, comp, mode) < 0 && errno != EEXIST)
				return cryo_error_set(err, errno, "create directory `%s`", norm);
			next = openat2_beneath(rootfd, norm, O_RDONLY | O_DIRECTORY, 0);
		}
		if (next < 0)
			return beneath_error(err, next, norm);
		close(cur);
		cur = next;
		if (!slash)
			break;
		*slash = '/';
		p = slash + 1;
	}
	return move_fd(cur);
}
