/* Fuzz target: the image layer reader (layer_unpack, with OCI whiteouts).
 * Input: the layer's bytes (tar, possibly compressed). */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_common.h"
#include "layer.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct layer_unpack_opts opts = {.whiteouts = true};
	const char *layer = fuzz_file("layer", data, size);
	const char *dest = fuzz_fresh_dir("dest");
	cryo_err err = NULL;
	layer_unpack(layer, dest, &opts, NULL, &err);
	cryo_error_free(&err);
	fuzz_check_sentinel();
	return 0;
}
