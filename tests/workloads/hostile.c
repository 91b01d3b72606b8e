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
 *	hostile try CALL
 *		Try one host-level system call and print "CALL: allowed" (exit 0)
 *		or "CALL: <error>" (exit 1). CALL: userns (unshare a user
 *		namespace), mountns, mount (a tmpfs), keyctl (join a new session
 *		keyring), bpf, clone-newuser (clone(2) with CLONE_NEWUSER).
 *
 * Exits 2 on bad arguments, 1 when a step fails (with the reason on stderr).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

static int usage(void)
{
	fprintf(stderr, "usage: hostile swap DIR PAIRS fifo|blk:MAJ:MIN|chr:MAJ:MIN\n"
			"       hostile deep DIR LEVELS\n"
			"       hostile try userns|mountns|mount|keyctl|bpf|clone-newuser\n");
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

static int child_exit(void *arg)
{
	(void)arg;
	return 0;
}

static int try_call(const char *call)
{
	long r;
	if (strcmp(call, "userns") == 0) {
		r = unshare(CLONE_NEWUSER);
	} else if (strcmp(call, "mountns") == 0) {
		r = unshare(CLONE_NEWNS);
	} else if (strcmp(call, "mount") == 0) {
		r = mount("none", "/tmp", "tmpfs", 0, NULL);
	} else if (strcmp(call, "keyctl") == 0) {
		r = syscall(SYS_keyctl, 1 /* KEYCTL_JOIN_SESSION_KEYRING */, NULL);
	} else if (strcmp(call, "bpf") == 0) {
		char attr[128] = {0};
		r = syscall(SYS_bpf, 0 /* BPF_MAP_CREATE */, attr, sizeof(attr));
		if (r < 0 && errno == EINVAL)
			r = 0; /* reached the kernel's argument checks: allowed */
	} else if (strcmp(call, "clone-newuser") == 0) {
		static char stack[16384];
		r = clone(child_exit, stack + sizeof(stack), CLONE_NEWUSER | SIGCHLD, NULL);
		if (r > 0)
			waitpid((pid_t)r, NULL, 0);
	} else {
		return usage();
	}
	if (r < 0) {
		printf("%s: %s\n", call, strerror(errno));
		return 1;
	}
	printf("%s: allowed\n", call);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 5 && strcmp(argv[1], "swap") == 0 && atol(argv[3]) > 0)
		return swap(argv[2], atol(argv[3]), argv[4]);
	if (argc == 4 && strcmp(argv[1], "deep") == 0 && atol(argv[3]) > 0)
		return deep(argv[2], atol(argv[3]));
	if (argc == 3 && strcmp(argv[1], "try") == 0)
		return try_call(argv[2]);
	return usage();
}
