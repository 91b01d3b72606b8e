/* Fuzz target: the OCI image layout parser (oci_layout_read: index.json,
 * nested indexes, manifests, configurations, descriptors).
 *
 * Blobs are named by their digests, which a fuzzer cannot compute, so the
 * input is a small container format: parts separated by a line
 * "--blob--"; part 0 is index.json, parts 1..9 are blobs. In a part,
 * "@K" becomes "sha256:<digest of part K>" and "#K" the size of part K, for
 * K greater than the part's own number (parts are resolved from the last). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "digest.h"
#include "fuzz_common.h"
#include "oci_layout.h"
#include "util.h"

#define SEPARATOR "\n--blob--\n"
#define MAX_PARTS 10

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct part {
	char *text;
	size_t len;
	char digest[DIGEST_HEX_LEN + 1];
};

static void resolve(struct part *parts, size_t k, size_t n)
{
	const char *in = parts[k].text;
	size_t len = parts[k].len, cap = len + 1, out_len = 0;
	char *out = xmalloc(cap);
	for (size_t i = 0; i < len; i++) {
		char ref = i + 1 < len ? in[i + 1] : 0;
		size_t target = (size_t)(ref - '0');
		if ((in[i] == '@' || in[i] == '#') && ref >= '1' && ref <= '9' && target > k && target < n) {
			char sub[80];
			int w = in[i] == '@' ? snprintf(sub, sizeof(sub), "sha256:%s", parts[target].digest)
			                     : snprintf(sub, sizeof(sub), "%zu", parts[target].len);
			if (out_len + (size_t)w + 1 > cap)
				out = xrealloc(out, cap = (out_len + (size_t)w + 1) * 2);
			memcpy(out + out_len, sub, (size_t)w);
			out_len += (size_t)w;
			i++;
			continue;
		}
		if (out_len + 2 > cap)
			out = xrealloc(out, cap *= 2);
		out[out_len++] = in[i];
	}
	free(parts[k].text);
	parts[k].text = out;
	parts[k].len = out_len;
	digest_buffer(out, out_len, parts[k].digest);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct part parts[MAX_PARTS] = {0};
	size_t n = 0;
	const char *p = (const char *)data, *end = p + size;
	while (n < MAX_PARTS) {
		const char *sep = memmem(p, (size_t)(end - p), SEPARATOR, strlen(SEPARATOR));
		const char *stop = sep && n + 1 < MAX_PARTS ? sep : end;
		parts[n].len = (size_t)(stop - p);
		parts[n].text = xmalloc(parts[n].len + 1);
		memcpy(parts[n].text, p, parts[n].len);
		n++;
		if (stop == end)
			break;
		p = stop + strlen(SEPARATOR);
	}
	for (size_t k = n; k-- > 0;)
		resolve(parts, k, n);

	const char *dir = fuzz_fresh_dir("layout");
	cleanup_free char *blobs = xasprintf("%s/blobs/sha256", dir);
	if (mkdir_p(blobs, 0755, NULL) < 0)
		abort();
	for (size_t k = 0; k < n; k++) {
		cleanup_free char *path =
		    k == 0 ? xasprintf("%s/index.json", dir) : xasprintf("%s/%s", blobs, parts[k].digest);
		if (write_file(path, parts[k].text, parts[k].len, 0644, NULL) < 0)
			abort();
	}
	struct oci_image *img = NULL;
	cryo_err err = NULL;
	if (oci_layout_read(dir, &img, &err) == 0) {
		for (size_t i = 0; i < img->n_layers; i++)
			if (oci_blob_verify(&img->layers[i], &err) < 0)
				cryo_error_free(&err);
		oci_image_free(img);
	}
	cryo_error_free(&err);
	for (size_t k = 0; k < n; k++)
		free(parts[k].text);
	return 0;
}
