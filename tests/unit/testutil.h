/* Fixtures shared by the unit tests (cmocka): scratch directories, paths and
 * files in them, signing keys. Every helper fails the running test (cmocka's
 * assertions) instead of returning an error, and returns memory the caller
 * frees. Include it after <cmocka.h>. */
#ifndef CRYO_TESTUTIL_H
#define CRYO_TESTUTIL_H

#include <stddef.h>

#include "trust.h"

/* A new empty directory under /var/tmp, named after the test file (NAME). */
char *testutil_tmpdir(const char *name);

/* "A/B" */
char *testutil_join(const char *a, const char *b);

/* Writes LEN bytes (or TEXT) to DIR/REL, mode 0644. */
void testutil_put(const char *dir, const char *rel, const void *data, size_t len);
void testutil_put_text(const char *dir, const char *rel, const char *text);

/* A new Ed25519 signing key, written to PATH (PKCS#8 PEM) and loaded from it
 * as cryo loads keys; its public half in PUB. Free with signing_key_free(). */
struct signing_key *testutil_signing_key(const char *path, unsigned char pub[TRUST_KEY_LEN]);

#endif
