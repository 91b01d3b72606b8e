/*
 * hostile: what a hostile tenant (or a racing neighbour) does to a tree that
 * cryo captures, for the security system tests.
 *
 *	hostile swap DIR PAIRS KIND
 *		Make DIR/fN (a regular file holding "regular\n") and DIR/xN (KIND:
 *		`fifo`, `blk:MAJOR:MINOR` or `chr:MAJOR:MINOR`) for N below PAIRS,
 *		print "READY", then exchange every fN with its xN (renameat2 with
 *		RENAME_EXCHANGE) as fast as it can, forever: whoever stats a name and
 *		then opens it may meet the other object.
 *	hostile deep DIR LEVELS
 *		Make a chain of LEVELS directories DIR/d/d/d/... (working downwards
 *		with relative names, so it can outgrow PATH_MAX), then print "DONE".
 *
 * Exits 2 on bad arguments, 1 when a step fails (with the reason on stderr).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

static int usage(void)
{
	fprintf(stderr, "usage: hostile swap DIR PAIRS fifo|blk:MAJ:MIN|chr:MAJ:MIN\n"
			"       hostile deep DIR LEVELS\n");
	return 2;
}

static int fail(const char *what, const char *name)
{
	fprintf(stderr, "hostile: %s `%s`: %s\n", what, name, strerror(errno));
	return 1;
}

static int make_other(int dirfd, const char *name, const char *kind)
{
	unsigned major_n, minor_n;
	if (strcmp(kind, "fifo") == 0)
		return mkfifoat(dirfd, name, 0644);
	if (sscanf(kind, "blk:%u:%u", &major_n, &minor_n) == 2)
		return mknodat(dirfd, name, S_IFBLK | 0644, makedev(major_n, minor_n));
	if (sscanf(kind, "chr:%u:%u", &major_n, &minor_n) == 2)
		return mknodat(dirfd, name, S_IFCHR | 0644, makedev(major_n, minor_n));
	errno = EINVAL;
	return -1;
}

static int swap(const char *dir, long pairs, const char *kind)
{
	int dirfd = open(dir, O_RDONLY | O_DIRECTORY);
	if (dirfd < 0)
		return fail("open", dir);
	char a[32], b[32];
	for (long i = 0; i < pairs; i++) {
		snprintf(a, sizeof(a), "f%ld", i);
		snprintf(b, sizeof(b), "x%ld", i);
		int fd = openat(dirfd, a, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0 || write(fd, "regular\n", 8) != 8)
			return fail("write", a);
		close(fd);
		if (make_other(dirfd, b, kind) < 0)
			return fail("make", b);
	}
	printf("READY\n");
	fflush(stdout);
	for (unsigned long n = 0;; n++) {
		snprintf(a, sizeof(a), "f%lu", n % (unsigned long)pairs);
		snprintf(b, sizeof(b), "x%lu", n % (unsigned long)pairs);
		if (renameat2(dirfd, a, dirfd, b, RENAME_EXCHANGE) < 0)
			return fail("exchange", a);
	}
}

static int deep(const char *dir, long levels)
{
	if (chdir(dir) < 0)
		return fail("enter", dir);
	for (long i = 0; i < levels; i++)
		if (mkdir("d", 0755) < 0 || chdir("d") < 0)
			return fail("make level", "d");
	printf("DONE\n");
	fflush(stdout);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 5 && strcmp(argv[1], "swap") == 0 && atol(argv[3]) > 0)
		return swap(argv[2], atol(argv[3]), argv[4]);
	if (argc == 4 && strcmp(argv[1], "deep") == 0 && atol(argv[3]) > 0)
		return deep(argv[2], atol(argv[3]));
	return usage();
}
