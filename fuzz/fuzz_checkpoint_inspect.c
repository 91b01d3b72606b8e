/* Fuzz target: `cryo checkpoint inspect` on an archive (checkpoint_inspect_memory),
 * every section asked for, so the CRIU image decoders run on whatever the
 * archive's pstree, core, ids, fdinfo, files and mountpoints images hold.
 * Input: the archive's bytes (cryo's or Podman's layout, any compression). */
#include <stdint.h>
#include <stdlib.h>

#include "checkpoint_inspect.h"
#include "fuzz_common.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct extract_limits limits = {
	    .max_total_size = 64 << 20, .max_entries = 4096, .max_path_depth = 64, .max_name_length = 1024};
	static const struct trusted_keys no_keys = {0};
	const struct checkpoint_inspect_opts opts = {.limits = &limits,
	                                             .keys = &no_keys,
	                                             .ps_tree = true,
	                                             .files = true,
	                                             .mounts = true,
	                                             .stats = true};
	struct json_object *out = NULL;
	cryo_err err = NULL;
	(void)fuzz_base(); /* makes the sentinel: inspect must write nothing anywhere */
	if (checkpoint_inspect_memory(data, size, "fuzz", &opts, &out, &err) == 0) {
		/* The result must serialise (valid strings throughout). */
		(void)json_object_to_json_string(out);
		json_object_put(out);
	}
	cryo_error_free(&err);
	fuzz_check_sentinel();
	return 0;
}
