#include "digest.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>

#include "util.h"

struct digest {
	EVP_MD_CTX *ctx;
};

struct digest *digest_new(void)
{
	struct digest *d = xcalloc(1, sizeof(*d));
	d->ctx = EVP_MD_CTX_new();
	if (!d->ctx || EVP_DigestInit_ex(d->ctx, EVP_sha256(), NULL) != 1)
		oom();
	return d;
}

void digest_update(struct digest *d, const void *data, size_t len)
{
	if (len && EVP_DigestUpdate(d->ctx, data, len) != 1)
		oom();
}

void digest_final(struct digest *d, char hex[DIGEST_HEX_LEN + 1])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	if (EVP_DigestFinal_ex(d->ctx, md, &n) != 1)
		oom();
	for (unsigned int i = 0; i < n && i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	hex[DIGEST_HEX_LEN] = '\0';
	digest_free(d);
}

void digest_free(struct digest *d)
{
	if (!d)
		return;
	EVP_MD_CTX_free(d->ctx);
	free(d);
}

void digest_buffer(const void *data, size_t len, char hex[DIGEST_HEX_LEN + 1])
{
	struct digest *d = digest_new();
	digest_update(d, data, len);
	digest_final(d, hex);
}

int digest_file(const char *path, char hex[DIGEST_HEX_LEN + 1], cryo_err *err)
{
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return cryo_error_set(err, errno, "open `%s`", path);
	struct digest *d = digest_new();
	char buf[1 << 16];
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			int saved = errno;
			digest_free(d);
			return cryo_error_set(err, saved, "read `%s`", path);
		}
		if (n == 0)
			break;
		digest_update(d, buf, (size_t)n);
	}
	digest_final(d, hex);
	return 0;
}
