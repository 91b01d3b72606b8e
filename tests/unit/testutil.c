/* Fixtures shared by the unit tests (testutil.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "testutil.h"
#include "util.h"

char *testutil_tmpdir(const char *name)
{
	char *dir = xasprintf("/var/tmp/cryo-test-%s.XXXXXX", name);
	assert_non_null(mkdtemp(dir));
	return dir;
}

char *testutil_join(const char *a, const char *b)
{
	return xasprintf("%s/%s", a, b);
}

void testutil_put(const char *dir, const char *rel, const void *data, size_t len)
{
	cleanup_free char *path = testutil_join(dir, rel);
	assert_int_equal(write_file(path, data, len, 0644, NULL), 0);
}

void testutil_put_text(const char *dir, const char *rel, const char *text)
{
	testutil_put(dir, rel, text, strlen(text));
}

struct signing_key *testutil_signing_key(const char *path, unsigned char pub[TRUST_KEY_LEN])
{
	EVP_PKEY *pkey = NULL;
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
	assert_non_null(ctx);
	assert_int_equal(EVP_PKEY_keygen_init(ctx), 1);
	assert_int_equal(EVP_PKEY_keygen(ctx, &pkey), 1);
	EVP_PKEY_CTX_free(ctx);
	FILE *out = fopen(path, "w");
	assert_non_null(out);
	assert_int_equal(PEM_write_PKCS8PrivateKey(out, pkey, NULL, NULL, 0, NULL, NULL), 1);
	assert_int_equal(fclose(out), 0);
	EVP_PKEY_free(pkey);
	struct signing_key *key = NULL;
	assert_int_equal(signing_key_load(path, &key, NULL), 0);
	signing_key_public(key, pub);
	return key;
}
