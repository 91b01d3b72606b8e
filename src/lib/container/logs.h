/* Container logs: the monitor appends the container's stdout and stderr to
 * one file; readers copy it out, optionally following until the container
 * stops. */
#ifndef CRYO_LOGS_H
#define CRYO_LOGS_H

#include <stdbool.h>
#include <stdio.h>

#include "engine.h"
#include "error.h"

/* Copy container `id`'s log to `out`. With follow, keep copying new output
 * until the container is no longer running, then copy what is left. `tick`
 * (may be NULL) is called between polls, e.g. to forward signals. */
int logs_copy(struct cryo_engine *engine, const char *id, FILE *out, bool follow, void (*tick)(void *data),
              void *data, cryo_err *err);

#endif
