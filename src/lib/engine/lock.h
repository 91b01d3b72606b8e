/* File locks that serialise long operations on one object (a container, an
 * image store) across cryo processes. Held by an open file descriptor. */
#ifndef CRYO_LOCK_H
#define CRYO_LOCK_H

#include "engine.h"
#include "error.h"

/* Take the exclusive lock named `name` (for example a container ID), blocking.
 * On success *fd holds the lock; close it (or let cleanup_close) to release. */
int lock_acquire(struct cryo_engine *engine, const char *name, int *fd, cryo_err *err);
/* The same without waiting: -EWOULDBLOCK (err untouched) while another
 * process holds it. */
int lock_try_acquire(struct cryo_engine *engine, const char *name, int *fd, cryo_err *err);

#endif
