#include "passwd.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pathsafe.h"
#include "util.h"

static bool is_number(const char *s, size_t n)
{
	if (n == 0 || n > 10)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return strtoull(s, NULL, 10) <= UINT32_MAX - 1;
}

static bool is_name(const char *s, size_t n)
{
	if (n == 0 || n > 256 || s[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		          c == '_' || c == '.' || c == '-' || (c == '$' && i == n - 1);
		if (!ok)
			return false;
	}
	return true;
}

bool passwd_user_is_numeric(const char *user)
{
	if (!*user || strcmp(user, "root") == 0)
		return true;
	const char *colon = strchr(user, ':');
	size_t n = colon ? (size_t)(colon - user) : strlen(user);
	return is_number(user, n) && (!colon || is_number(colon + 1, strlen(colon + 1)));
}

bool passwd_user_spec_is_valid(const char *user)
{
	const char *colon = strchr(user, ':');
	size_t n = colon ? (size_t)(colon - user) : strlen(user);
	return is_name(user, n) && (!colon || is_name(colon + 1, strlen(colon + 1)));
}

/* Read etc/passwd or etc/group of the root at rootfd; *text NULL when absent. */
static int read_db(int rootfd, const char *rel, char **text, cryo_err *err)
{
	*text = NULL;
	/* O_NONBLOCK: a FIFO planted there must not hang the engine. */
	cleanup_close int fd = pathsafe_open_in_root(rootfd, rel, O_RDONLY | O_NONBLOCK | O_NOCTTY, err);
	if (fd == -ENOENT) {
		cryo_error_free(err);
		return 0;
	}
	if (fd < 0)
		return fd;
	struct stat st;
	if (fstat(fd, &st) < 0)
		return cryo_error_set(err, errno, "stat `/%s`", rel);
	if (!S_ISREG(st.st_mode))
		return cryo_error_plain(err, EINVAL, "`/%s` is not a regular file", rel);
	if (st.st_size > PASSWD_MAX_FILE)
		return cryo_error_plain(err, EFBIG, "`/%s` is larger than %d bytes", rel, PASSWD_MAX_FILE);
	char *buf = xmalloc((size_t)st.st_size + 1);
	size_t len = 0;
	while (len < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + len, (size_t)st.st_size - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			free(buf);
			return cryo_error_set(err, errno, "read `/%s`", rel);
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	*text = buf;
	return 0;
}

/* The first line of a colon-separated database (passwd, group) whose field
 * `match` equals `value`: its field 2 in *a and field 3 in *b (b may be NULL),
 * both numbers; lines that do not parse are skipped. */
static bool db_find(const char *text, size_t match, const char *value, long long *a, long long *b)
{
	if (!text)
		return false;
	cleanup_free char *copy = xstrdup(text);
	char *save = NULL;
	for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *f[4] = {0};
		size_t n = 0;
		for (char *p = line; n < 4 && p; n++) {
			f[n] = p;
			p = strchr(p, ':');
			if (p)
				*p++ = '\0';
		}
		size_t need = b ? 4 : 3;
		if (n < need || match >= n || strcmp(f[match], value) != 0 ||
		    !is_number(f[2], strlen(f[2])) || (b && !is_number(f[3], strlen(f[3]))))
			continue;
		*a = strtoll(f[2], NULL, 10);
		if (b)
			*b = strtoll(f[3], NULL, 10);
		return true;
	}
	return false;
}

int passwd_resolve(int rootfd, const char *user, char **out, cryo_err *err)
{
	cleanup_free char *name = NULL, *group = NULL;
	const char *colon = strchr(user, ':');
	name = colon ? xstrndup(user, (size_t)(colon - user)) : xstrdup(user);
	if (colon)
		group = xstrdup(colon + 1);
	if (!passwd_user_spec_is_valid(user))
		return cryo_error_plain(err, EINVAL,
		                        "user `%s`: expected NAME or UID, optionally :GROUP or :GID", user);

	cleanup_free char *passwd = NULL, *groups = NULL;
	int r;
	if ((r = read_db(rootfd, "etc/passwd", &passwd, err)) < 0 ||
	    (group && !is_number(group, strlen(group)) &&
	     (r = read_db(rootfd, "etc/group", &groups, err)) < 0))
		return cryo_error_wrap(err, "user `%s`", user);

	long long uid, gid, known_uid;
	if (is_number(name, strlen(name))) {
		uid = strtoll(name, NULL, 10);
		/* A uid the image knows gets its primary group, like a name. */
		if (!db_find(passwd, 2, name, &known_uid, &gid))
			gid = uid;
	} else if (!db_find(passwd, 0, name, &uid, &gid)) {
		return cryo_error_plain(err, ENOENT,
		                        "user `%s`: no user `%s` in the container's /etc/passwd%s", user,
		                        name, passwd ? "" : " (it has none)");
	}
	if (group) {
		long long g;
		if (is_number(group, strlen(group)))
			gid = strtoll(group, NULL, 10);
		else if (db_find(groups, 0, group, &g, NULL))
			gid = g;
		else
			return cryo_error_plain(err, ENOENT,
			                        "user `%s`: no group `%s` in the container's /etc/group%s",
			                        user, group, groups ? "" : " (it has none)");
	}
	*out = xasprintf("%lld:%lld", uid, gid);
	return 0;
}
