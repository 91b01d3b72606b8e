/* Fuzz target: the checkpoint archive reader (checkpoint_archive_read), the
 * first thing an archive from elsewhere meets, in both of the layouts a
 * restore accepts (cryo's, and Podman's export). Input: the archive's bytes. */
#include <stdint.h>
#include <stdlib.h>

#include "checkpoint_archive.h"
#include "fuzz_common.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Small limits keep each run fast; the checks are the same. */
	static const struct extract_limits limits = {
	    .max_total_size = 64 << 20, .max_entries = 4096, .max_path_depth = 64, .max_name_length = 1024};
	static const struct trusted_keys no_keys = {0};
	const struct checkpoint_archive_read_opts opts = {
	    .limits = &limits, .keys = &no_keys, .insecure_unsigned = true, .accept_podman = true};
	const char *archive = fuzz_file("archive", data, size);
	const char *dest = fuzz_fresh_dir("dest");
	cryo_err err = NULL;
	checkpoint_archive_read(archive, dest, &opts, NULL, &err);
	cryo_error_free(&err);
	fuzz_check_sentinel();
	return 0;
}
