/* What the fuzz targets share: inputs handed to the engine as files (the
 * readers take paths), a scratch directory per run, and a sentinel directory
 * beside it that no extraction may touch. Everything lives below one private
 * directory made at start-up. */
#ifndef CRYO_FUZZ_COMMON_H
#define CRYO_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>

/* The private directory (made on first call). */
const char *fuzz_base(void);
/* Write data to a file below the base, replacing it; returns its path (static). */
const char *fuzz_file(const char *name, const uint8_t *data, size_t size);
/* A fresh, empty directory below the base for this run (the previous run's
 * is removed first); returns its path (static). */
const char *fuzz_fresh_dir(const char *name);
/* Abort (a finding) when anything was written outside the scratch
 * directories: the sentinel beside them must be exactly as made. */
void fuzz_check_sentinel(void);

#endif
