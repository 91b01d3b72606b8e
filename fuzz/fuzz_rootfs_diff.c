/* Fuzz target: the root file system diff applier (rootfs_diff_apply: the
 * hardened tar extraction and the deleted-path list). Input: a 2-byte
 * little-endian length N, N bytes of deleted.files (JSON), then the tar. */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_common.h"
#include "rootfs_diff.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct extract_limits limits = {
	    .max_total_size = 64 << 20, .max_entries = 4096, .max_path_depth = 64, .max_name_length = 1024};
	if (size < 2)
		return 0;
	size_t n = (size_t)data[0] | (size_t)data[1] << 8;
	if (n > size - 2)
		n = size - 2;
	cleanup_free char *deleted = xstrdup(fuzz_file("deleted.files", data + 2, n));
	const char *tar = fuzz_file("rootfs-diff.tar", data + 2 + n, size - 2 - n);
	const char *upper = fuzz_fresh_dir("upper");
	cryo_err err = NULL;
	rootfs_diff_apply(tar, n ? deleted : NULL, upper, &limits, &err);
	cryo_error_free(&err);
	fuzz_check_sentinel();
	return 0;
}
