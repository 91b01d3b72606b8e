#include "scratch.h"

#include <dirent.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>

#include "engine.h"
#include "hostinfo.h"
#include "layout.h"
#include "pathsafe.h"
#include "util.h"

#define CLAIM_SUFFIX ".claim"
/* A claim file being set up (the fallback without O_TMPFILE) older than
 * this, with its lock free, was abandoned half-made. */
#define HALF_MADE_CLAIM_AGE_S 60

struct scratch_claim {
	int fd;
	char *path;
};

/* The start time of a process (clock ticks after boot, /proc/PID/stat's
 * 22nd field), 0 when it is gone. */
static unsigned long long process_start_time(pid_t pid)
{
	cleanup_free char *path = xasprintf("/proc/%d/stat", (int)pid);
	cleanup_free char *text = NULL;
	if (read_file(path, &text, NULL, NULL) < 0)
		return 0;
	char *p = strrchr(text, ')');
	if (!p)
		return 0;
	/* after ") ": field 3 (state) onwards; the start time is field 22 */
	p += 2;
	for (int field = 3; field < 22 && p; field++) {
		p = strchr(p, ' ');
		if (p)
			p++;
	}
	return p ? strtoull(p, NULL, 10) : 0;
}

static char *owner_line(void)
{
	cleanup_free char *boot = NULL;
	if (hostinfo_boot_id(&boot, NULL) < 0)
		boot = xstrdup("unknown");
	return xasprintf("%d %llu %s\n", (int)getpid(), process_start_time(getpid()), boot);
}

/* Is the owner named by a claim's first line still this very process? */
static bool owner_alive(const char *line)
{
	int pid = 0;
	unsigned long long start = 0;
	char boot[64] = "";
	if (sscanf(line, "%d %llu %63s", &pid, &start, boot) != 3 || pid <= 0)
		return false;
	cleanup_free char *our_boot = NULL;
	if (hostinfo_boot_id(&our_boot, NULL) < 0 || strcmp(our_boot, boot) != 0)
		return false; /* another boot: every process of it is gone */
	return process_start_time(pid) == start && start != 0;
}

static int write_all(int fd, const char *text, cryo_err *err, const char *path)
{
	size_t len = strlen(text);
	while (len > 0) {
		ssize_t n = write(fd, text, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return cryo_error_set(err, errno, "write claim `%s`", path);
		text += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Create this process's claim: locked before anyone can see it. */
static int claim_create(struct cryo_engine *engine, struct scratch_claim **out, cryo_err *err)
{
	cleanup_free char *dir = layout_claims_dir(engine->root);
	cleanup_free char *suffix = random_id();
	cleanup_free char *path = xasprintf("%s/%d-%.16s" CLAIM_SUFFIX, dir, (int)getpid(), suffix);
	cleanup_free char *owner = owner_line();
	int r = mkdir_p(dir, 0700, err);
	if (r < 0)
		return r;
	/* An unnamed file, locked and filled, then linked in: it never exists
	 * unlocked under its name. */
	cleanup_close int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0) {
		if (flock(fd, LOCK_EX) < 0)
			return cryo_error_set(err, errno, "lock claim `%s`", path);
		if ((r = write_all(fd, owner, err, path)) < 0)
			return r;
		cleanup_free char *proc = xasprintf("/proc/self/fd/%d", fd);
		if (linkat(AT_FDCWD, proc, AT_FDCWD, path, AT_SYMLINK_FOLLOW) < 0)
			return cryo_error_set(err, errno, "create claim `%s`", path);
	} else {
		/* No O_TMPFILE on this file system: a `.new` name first. */
		cleanup_free char *tmp = xasprintf("%s.new", path);
		fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0)
			return cryo_error_set(err, errno, "create claim `%s`", tmp);
		if (flock(fd, LOCK_EX) < 0 || write_all(fd, owner, err, tmp) < 0 || rename(tmp, path) < 0) {
			int saved = errno;
			unlink(tmp);
			return err && *err ? cryo_error_code(*err)
			                   : cryo_error_set(err, saved, "create claim `%s`", path);
		}
	}
	struct scratch_claim *c = xcalloc(1, sizeof(*c));
	c->fd = move_fd(fd);
	c->path = move_ptr(path);
	*out = c;
	return 0;
}

static int claim_add(struct cryo_engine *engine, char kind, const char *path, cryo_err *err)
{
	int r;
	if (strchr(path, '\n'))
		return 0; /* cannot be written on one line; such a name is never collected */
	if (!engine->claim && (r = claim_create(engine, &engine->claim, err)) < 0)
		return r;
	cleanup_free char *line = xasprintf("%c %s\n", kind, path);
	return write_all(engine->claim->fd, line, err, engine->claim->path);
}

int scratch_claim_path(struct cryo_engine *engine, const char *path, cryo_err *err)
{
	return claim_add(engine, 'p', path, err);
}

int scratch_make_dir(struct cryo_engine *engine, const char *what, char **out, cryo_err *err)
{
	cleanup_free char *suffix = random_id();
	cleanup_free char *name = xasprintf("%s-%.12s", what, suffix);
	cleanup_free char *dir = layout_tmp(engine->root, name);
	int r;
	if ((r = scratch_claim_path(engine, dir, err)) < 0 || (r = mkdir_p(dir, 0700, err)) < 0)
		return r;
	*out = move_ptr(dir);
	return 0;
}

int scratch_claim_prefix(struct cryo_engine *engine, const char *prefix, cryo_err *err)
{
	return claim_add(engine, 'x', prefix, err);
}

void scratch_claim_release(struct scratch_claim *claim)
{
	if (!claim)
		return;
	unlink(claim->path);
	close(claim->fd);
	free(claim->path);
	free(claim);
}

/* ---- measuring ---- */

/* Add up a tree's allocated size (engine-made trees: a few levels). */
static void usage_at(int dirfd, const char *name, int depth, struct scratch_usage *u)
{
	struct stat st;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return;
	u->entries++;
	u->bytes += (uint64_t)st.st_blocks * 512;
	if (!S_ISDIR(st.st_mode) || depth > 16)
		return;
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return;
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	struct dirent *de;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			usage_at(fd, de->d_name, depth + 1, u);
	closedir(d);
}

static void usage_of(const char *path, struct scratch_usage *u)
{
	usage_at(AT_FDCWD, path, 0, u);
}

/* ---- claims as read by others ---- */

struct claim_entry {
	char kind; /* 'p' path, 'x' temporary-file prefix */
	char *path;
};

struct claim_set {
	struct claim_entry *e;
	size_t n;
};

static void claim_set_add(struct claim_set *s, char kind, const char *path)
{
	s->e = xrealloc(s->e, (s->n + 1) * sizeof(*s->e));
	s->e[s->n].kind = kind;
	s->e[s->n].path = xstrdup(path);
	s->n++;
}

static bool claim_set_has(const struct claim_set *s, char kind, const char *path)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->e[i].kind == kind && strcmp(s->e[i].path, path) == 0)
			return true;
	return false;
}

static void claim_set_free(struct claim_set *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->e[i].path);
	free(s->e);
	s->e = NULL;
	s->n = 0;
}

/* Read a claim's entries into set; the owner line into *owner. */
static void claim_read(int fd, char **owner, struct claim_set *set)
{
	cleanup_free char *proc = xasprintf("/proc/self/fd/%d", fd);
	cleanup_free char *text = NULL;
	if (read_file(proc, &text, NULL, NULL) < 0)
		return;
	char *save = NULL;
	bool first = true;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (first) {
			*owner = xstrdup(line);
			first = false;
		} else if ((line[0] == 'p' || line[0] == 'x') && line[1] == ' ' && line[2] == '/') {
			claim_set_add(set, line[0], line + 2);
		}
	}
}

/* The claims now: the live ones' entries into *live; the dead ones (their
 * lock taken, so no other collector works on them) as open descriptors with
 * their paths, and their entries into *dead. */
struct dead_claim {
	int fd;
	char *path;
};

static void read_claims(struct cryo_engine *engine, struct claim_set *live, struct claim_set *dead,
                        struct dead_claim **dead_claims, size_t *n_dead)
{
	cleanup_free char *dir = layout_claims_dir(engine->root);
	cleanup_dir DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d))) {
		bool half_made = str_has_suffix(de->d_name, CLAIM_SUFFIX ".new");
		if (!str_has_suffix(de->d_name, CLAIM_SUFFIX) && !half_made)
			continue;
		cleanup_free char *path = xasprintf("%s/%s", dir, de->d_name);
		cleanup_close int fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			continue;
		cleanup_free char *owner = NULL;
		struct claim_set entries = {0};
		if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
			/* held: its owner lives */
			claim_read(fd, &owner, &entries);
			for (size_t i = 0; i < entries.n; i++)
				claim_set_add(live, entries.e[i].kind, entries.e[i].path);
			claim_set_free(&entries);
			continue;
		}
		struct stat st;
		if (half_made) {
			/* set up by a process that died before naming it */
			if (fstat(fd, &st) == 0 && time(NULL) - st.st_mtime > HALF_MADE_CLAIM_AGE_S)
				unlink(path);
			continue;
		}
		claim_read(fd, &owner, &entries);
		if (owner && owner_alive(owner)) {
			for (size_t i = 0; i < entries.n; i++)
				claim_set_add(live, entries.e[i].kind, entries.e[i].path);
			claim_set_free(&entries);
			continue;
		}
		for (size_t i = 0; i < entries.n; i++)
			claim_set_add(dead, entries.e[i].kind, entries.e[i].path);
		claim_set_free(&entries);
		*dead_claims = xrealloc(*dead_claims, (*n_dead + 1) * sizeof(**dead_claims));
		(*dead_claims)[*n_dead].fd = move_fd(fd);
		(*dead_claims)[*n_dead].path = move_ptr(path);
		(*n_dead)++;
	}
}

/* Staging and import directories now, whoever made them. */
static void list_scratch_dirs(struct cryo_engine *engine, char ***out)
{
	static const struct {
		char *(*dir)(const char *root);
		bool (*is_scratch)(const char *name);
	} places[] = {
	    {layout_checkpoints_dir, layout_is_checkpoint_staging},
	    {layout_tmp_dir, layout_is_import},
	};
	char **found = xcalloc(1, sizeof(char *));
	for (size_t i = 0; i < ARRAY_SIZE(places); i++) {
		cleanup_free char *dir = places[i].dir(engine->root);
		cleanup_dir DIR *d = opendir(dir);
		if (!d)
			continue;
		struct dirent *de;
		while ((de = readdir(d))) {
			if (!places[i].is_scratch(de->d_name))
				continue;
			cleanup_free char *path = xasprintf("%s/%s", dir, de->d_name);
			strv_push(&found, path);
		}
	}
	*out = found;
}

/* Is `name` PREFIX's base followed by mkstemp's six characters? */
static bool matches_temp(const char *name, const char *base)
{
	size_t n = strlen(base);
	if (strncmp(name, base, n) != 0 || strlen(name + n) != 6)
		return false;
	for (const char *p = name + n; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')))
			return false;
	return true;
}

/* Remove the temporary files an export with this prefix left. */
static int remove_temp_files(const char *prefix, struct scratch_usage *removed, cryo_err *err)
{
	cleanup_free char *dir_copy = xstrdup(prefix);
	/* "DIR/.NAME.tmp-" */
	const char *dir = dirname(dir_copy);
	const char *base = strrchr(prefix, '/') + 1;
	if (base[0] != '.' || !str_has_suffix(base, ".tmp-"))
		return 0; /* not a name this engine makes */
	cleanup_close int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return 0;
	cleanup_dir DIR *d = fdopendir(dup(dirfd));
	if (!d)
		return 0;
	int r = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		struct stat st;
		if (!matches_temp(de->d_name, base) ||
		    fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
			continue;
		if (unlinkat(dirfd, de->d_name, 0) < 0) {
			if (r == 0 && errno != ENOENT)
				r = cryo_error_set(err, errno, "remove `%s/%s`", dir, de->d_name);
			continue;
		}
		if (removed) {
			removed->entries++;
			removed->bytes += (uint64_t)st.st_blocks * 512;
		}
	}
	return r;
}

static int remove_tree(const char *path, struct scratch_usage *removed, cryo_err *err)
{
	struct scratch_usage u = {0};
	usage_of(path, &u);
	if (u.entries == 0)
		return 0;
	int r = rm_rf(path, err);
	if (r == 0 && removed) {
		removed->entries += u.entries;
		removed->bytes += u.bytes;
	}
	return r;
}

int scratch_collect(struct cryo_engine *engine, struct scratch_usage *removed, cryo_err *err)
{
	struct claim_set live = {0}, dead = {0};
	struct dead_claim *dead_claims = NULL;
	size_t n_dead = 0;
	cleanup_strv char **dirs = NULL;
	int first = 0;

	if (removed)
		*removed = (struct scratch_usage){0};
	/* Directories first, then claims: a command claims a path before it
	 * makes it, so a directory seen here has its claim on disk already. */
	list_scratch_dirs(engine, &dirs);
	read_claims(engine, &live, &dead, &dead_claims, &n_dead);

	for (size_t i = 0; i < dead.n; i++) {
		const struct claim_entry *e = &dead.e[i];
		int r = 0;
		if (claim_set_has(&live, e->kind, e->path))
			continue; /* the same name claimed again by a live command */
		if (e->kind == 'p' && pathsafe_is_inside(engine->root, e->path) &&
		    !pathsafe_is_inside(e->path, engine->root))
			r = remove_tree(e->path, removed, first ? NULL : err);
		else if (e->kind == 'x')
			r = remove_temp_files(e->path, removed, first ? NULL : err);
		if (r < 0 && !first)
			first = r;
	}
	for (size_t i = 0; i < n_dead; i++) {
		unlink(dead_claims[i].path);
		close(dead_claims[i].fd);
		free(dead_claims[i].path);
	}
	free(dead_claims);
	for (size_t i = 0; dirs[i]; i++) {
		if (claim_set_has(&live, 'p', dirs[i]))
			continue;
		int r = remove_tree(dirs[i], removed, first ? NULL : err);
		if (r < 0 && !first)
			first = r;
	}
	claim_set_free(&live);
	claim_set_free(&dead);
	return first;
}

int scratch_in_use(struct cryo_engine *engine, struct scratch_usage *in_use, cryo_err *err)
{
	(void)err;
	struct claim_set live = {0}, dead = {0};
	struct dead_claim *dead_claims = NULL;
	size_t n_dead = 0;
	*in_use = (struct scratch_usage){0};
	read_claims(engine, &live, &dead, &dead_claims, &n_dead);
	for (size_t i = 0; i < live.n; i++) {
		if (live.e[i].kind == 'p') {
			usage_of(live.e[i].path, in_use);
			continue;
		}
		/* a temporary export file: whichever matches the prefix */
		cleanup_free char *dir_copy = xstrdup(live.e[i].path);
		const char *dir = dirname(dir_copy);
		const char *base = strrchr(live.e[i].path, '/') + 1;
		cleanup_dir DIR *d = opendir(dir);
		struct dirent *de;
		while (d && (de = readdir(d)))
			if (matches_temp(de->d_name, base)) {
				cleanup_free char *p = xasprintf("%s/%s", dir, de->d_name);
				usage_of(p, in_use);
			}
	}
	/* dead claims were only looked at: leave them to the collector */
	for (size_t i = 0; i < n_dead; i++) {
		close(dead_claims[i].fd);
		free(dead_claims[i].path);
	}
	free(dead_claims);
	claim_set_free(&live);
	claim_set_free(&dead);
	return 0;
}
