#include "progress.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

static cryo_progress_handler progress_handler;
static void *progress_data;

void cryo_progress_set_handler(cryo_progress_handler handler, void *data)
{
	progress_handler = handler;
	progress_data = data;
}

void cryo_progress_report(const struct cryo_progress *event)
{
	if (progress_handler)
		progress_handler(event, progress_data);
}

uint64_t cryo_progress_dir_bytes(const char *dir)
{
	/* CRIU's image directory is flat: one level is all there is. */
	cleanup_dir DIR *d = opendir(dir);
	if (!d)
		return 0;
	uint64_t total = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		struct stat st;
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
			total += (uint64_t)st.st_size;
	}
	return total;
}
