#include "logs.h"

#include <fcntl.h>
#include <time.h>

#include "container.h"
#include "util.h"

static int copy_available(int fd, FILE *out)
{
	char buf[65536];
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		if (fwrite(buf, 1, (size_t)n, out) != (size_t)n)
			return -EIO;
	}
	fflush(out);
	return 0;
}

int logs_copy(struct cryo_engine *engine, const char *id, FILE *out, bool follow, void (*tick)(void *data),
              void *data, cryo_err *err)
{
	cleanup_free char *path = container_log_path(engine, id);
	cleanup_close int fd = -1;
	int r;

	for (;;) {
		if (fd < 0)
			fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0 && errno != ENOENT)
			return cryo_error_set(err, errno, "open log `%s`", path);
		if (fd >= 0 && (r = copy_available(fd, out)) < 0)
			return cryo_error_set(err, -r, "copy log `%s`", path);
		if (!follow)
			return 0;
		cleanup_container struct container *c = NULL;
		if ((r = container_get(engine, id, &c, err)) < 0)
			return r;
		if (!container_is_active(c)) {
			/* The monitor writes all output before recording the exit. */
			if (fd < 0)
				fd = open(path, O_RDONLY | O_CLOEXEC);
			if (fd >= 0 && (r = copy_available(fd, out)) < 0)
				return cryo_error_set(err, -r, "copy log `%s`", path);
			return 0;
		}
		if (tick)
			tick(data);
		struct timespec ts = {0, 20 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
}
