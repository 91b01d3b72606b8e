#include "lock.h"

#include <fcntl.h>
#include <sys/file.h>

#include "layout.h"
#include "util.h"

int lock_acquire(struct cryo_engine *engine, const char *name, int *fd, cryo_err *err)
{
	cleanup_free char *path = layout_lock_file(engine->runroot, name);
	if (!path)
		return cryo_error_set(err, EINVAL, "lock `%s`: not a lock name", name);
	cleanup_close int lfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lfd < 0)
		return cryo_error_set(err, errno, "open lock `%s`", path);
	while (flock(lfd, LOCK_EX) < 0) {
		if (errno != EINTR)
			return cryo_error_set(err, errno, "lock `%s`", path);
	}
	*fd = move_fd(lfd);
	return 0;
}

int lock_try_acquire(struct cryo_engine *engine, const char *name, int *fd, cryo_err *err)
{
	cleanup_free char *path = layout_lock_file(engine->runroot, name);
	if (!path)
		return cryo_error_set(err, EINVAL, "lock `%s`: not a lock name", name);
	cleanup_close int lfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lfd < 0)
		return cryo_error_set(err, errno, "open lock `%s`", path);
	while (flock(lfd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EWOULDBLOCK)
			return -EWOULDBLOCK;
		if (errno != EINTR)
			return cryo_error_set(err, errno, "lock `%s`", path);
	}
	*fd = move_fd(lfd);
	return 0;
}
