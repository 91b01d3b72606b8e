/* Tests for trust.c: key lines, fingerprints, base64 strictness, signatures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include <sys/stat.h>

#include "testutil.h"
#include "trust.h"
#include "util.h"

static void key_line_roundtrip(void **state)
{
	(void)state;
	cleanup_free char *dir = testutil_tmpdir("trust");
	cleanup_free char *key_path = testutil_join(dir, "key.pem");
	unsigned char pub[TRUST_KEY_LEN], back[TRUST_KEY_LEN];
	struct signing_key *key = testutil_signing_key(key_path, pub);
	cleanup_free char *line = trust_public_key_line(pub, "cryo@host-a");
	assert_true(str_has_prefix(line, "cryo-ed25519 "));
	cleanup_free char *comment = NULL;
	cleanup_free char *with_newline = xasprintf("%s\n", line);
	assert_int_equal(trust_parse_public_key(with_newline, back, &comment, NULL), 0);
	assert_memory_equal(pub, back, TRUST_KEY_LEN);
	assert_string_equal(comment, "cryo@host-a");

	/* signatures verify for exactly the signed bytes and key */
	unsigned char sig[TRUST_SIG_LEN];
	assert_int_equal(signing_key_sign(key, "manifest", 8, sig, NULL), 0);
	assert_true(trust_verify(pub, "manifest", 8, sig));
	assert_false(trust_verify(pub, "manifesT", 8, sig));
	sig[0] ^= 1;
	assert_false(trust_verify(pub, "manifest", 8, sig));

	/* the fingerprint: SHA256: and 43 characters of unpadded base64 */
	cleanup_free char *fp = trust_fingerprint(pub);
	assert_true(str_has_prefix(fp, "SHA256:"));
	assert_int_equal(strlen(fp), strlen("SHA256:") + 43);
	signing_key_free(key);
	rm_rf(dir, NULL);
}

static void malformed_keys_refused(void **state)
{
	(void)state;
	unsigned char pub[TRUST_KEY_LEN];
	const char *bad[] = {
	    "",
	    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDx",
	    "cryo-ed25519",
	    "cryo-ed25519 not-base64!",
	    "cryo-ed25519 AAAA",                                             /* too short */
	    "cryo-ed25519 AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", /* 33 bytes */
	    "cryo-ed25519 AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB= c",   /* non-canonical padding bits */
	    "cryo-ed25519 AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= c\ncryo-ed25519 AAAA",
	    "cryo-ed25519 AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= bell\a",
	    "-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----\n",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		cryo_err err = NULL;
		if (trust_parse_public_key(bad[i], pub, NULL, &err) == 0)
			fail_msg("accepted `%s`", bad[i]);
		cryo_error_free(&err);
	}
	/* negative control: the all-zero key line is well-formed */
	assert_int_equal(trust_parse_public_key(
	                     "cryo-ed25519 AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", pub, NULL, NULL),
	                 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(key_line_roundtrip),
	    cmocka_unit_test(malformed_keys_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
