/* SHA-256 digests (OpenSSL's libcrypto), as lowercase hex. Used for layer and
 * image IDs and for the checksums that checkpoint archives carry. */
#ifndef CRYO_DIGEST_H
#define CRYO_DIGEST_H

#include <stddef.h>

#include "error.h"

#define DIGEST_HEX_LEN 64

struct digest; /* opaque streaming state */

struct digest *digest_new(void);
void digest_update(struct digest *d, const void *data, size_t len);
/* Finish into hex (DIGEST_HEX_LEN + 1 bytes) and free the state. */
void digest_final(struct digest *d, char hex[DIGEST_HEX_LEN + 1]);
void digest_free(struct digest *d);

/* One-shot helpers. */
void digest_buffer(const void *data, size_t len, char hex[DIGEST_HEX_LEN + 1]);
int digest_file(const char *path, char hex[DIGEST_HEX_LEN + 1], cryo_err *err);

#endif
