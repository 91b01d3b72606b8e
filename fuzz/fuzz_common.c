#include "fuzz_common.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

static char base[64];
static char sentinel[128];
static struct stat sentinel_st;

static void remove_base(void)
{
	rm_rf(base, NULL);
}

const char *fuzz_base(void)
{
	if (base[0])
		return base;
	/* tmpfs when there is one: every run writes and removes files. */
	snprintf(base, sizeof(base), "%s/cryo-fuzz.XXXXXX",
	         access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
	if (!mkdtemp(base))
		abort();
	atexit(remove_base);
	snprintf(sentinel, sizeof(sentinel), "%s/sentinel", base);
	cleanup_free char *file = xasprintf("%s/file", sentinel);
	if (mkdir(sentinel, 0700) < 0 || write_file(file, "x", 1, 0600, NULL) < 0 ||
	    stat(sentinel, &sentinel_st) < 0)
		abort();
	return base;
}

const char *fuzz_file(const char *name, const uint8_t *data, size_t size)
{
	static char path[256];
	snprintf(path, sizeof(path), "%s/%s", fuzz_base(), name);
	if (write_file(path, data, size, 0600, NULL) < 0)
		abort();
	return path;
}

const char *fuzz_fresh_dir(const char *name)
{
	static char path[256];
	snprintf(path, sizeof(path), "%s/%s", fuzz_base(), name);
	if (rm_rf(path, NULL) < 0 || mkdir(path, 0755) < 0)
		abort();
	return path;
}

void fuzz_check_sentinel(void)
{
	struct stat st;
	char file[160];
	snprintf(file, sizeof(file), "%s/file", sentinel);
	struct stat fst;
	if (stat(sentinel, &st) < 0 || st.st_mtim.tv_sec != sentinel_st.st_mtim.tv_sec ||
	    st.st_mtim.tv_nsec != sentinel_st.st_mtim.tv_nsec || st.st_nlink != sentinel_st.st_nlink ||
	    stat(file, &fst) < 0 || fst.st_size != 1 || fst.st_nlink != 1) {
		fprintf(stderr, "fuzz: something was written outside the destination (%s changed)\n",
		        sentinel);
		abort();
	}
}
