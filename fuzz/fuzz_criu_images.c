/* Fuzz target: the CRIU image decoders of criu_images.h, directly (the inspect
 * target reaches them only through a well-formed archive). Input: one byte
 * choosing the decoder (pstree, core, ids, files, fdinfo, mountpoints), then
 * the image's bytes. */
#include <stdint.h>
#include <stdlib.h>

#include "criu_images.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	unsigned kind = data[0] % 6;
	/* core, ids and files fill an object; the others append to an array. */
	struct json_object *out = kind >= 1 && kind <= 3 ? json_object_new_object() : json_object_new_array();
	cryo_err err = NULL;
	const uint8_t *img = data + 1;
	size_t len = size - 1;
	switch (kind) {
	case 0:
		criu_image_pstree(img, len, out, &err);
		break;
	case 1:
		criu_image_core(img, len, out, &err);
		break;
	case 2:
		criu_image_ids(img, len, out, &err);
		break;
	case 3:
		criu_image_files(img, len, out, &err);
		break;
	case 4:
		criu_image_fdinfo(img, len, out, &err);
		break;
	default:
		criu_image_mounts(img, len, out, &err);
		break;
	}
	(void)json_object_to_json_string(out);
	json_object_put(out);
	cryo_error_free(&err);
	return 0;
}
