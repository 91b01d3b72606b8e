/* Authenticity of checkpoint archives, like SSH host keys.
 *
 * Every engine has its own Ed25519 signing key, made on first use at
 * ROOT/keys/engine.key (PKCS#8 PEM, mode 0600, its directory 0700), and signs
 * the manifest of every archive it exports. An import is accepted when the
 * manifest's signature verifies and its key is this engine's own or one the
 * operator trusts: ROOT/trusted-keys, one key a line, written only through
 * trust_add() and trust_remove().
 *
 * A public key travels as one line, `cryo-ed25519 BASE64 COMMENT` (BASE64:
 * the raw 32-byte key); a PEM public key (`openssl pkey -pubout`) is accepted
 * too. A key is shown by its fingerprint, `SHA256:` and the unpadded base64
 * of the SHA-256 of the raw key (the way ssh-keygen -l shows keys).
 *
 * What a signature proves, and what it does not: docs/trust.md. */
#ifndef CRYO_TRUST_H
#define CRYO_TRUST_H

#include <stdbool.h>
#include <stddef.h>

#include "engine.h"
#include "error.h"

#define TRUST_KEY_LEN 32
#define TRUST_SIG_LEN 64
#define TRUST_KEY_TYPE "cryo-ed25519"
#define TRUST_SIG_ALGORITHM "ed25519"

struct signing_key; /* an Ed25519 private key */

/* This engine's key, created (O_EXCL, 0600) when there is none yet. */
int trust_engine_key(struct cryo_engine *engine, struct signing_key **out, cryo_err *err);
/* An Ed25519 private key in PEM (PKCS#8, as `openssl genpkey -algorithm
 * ed25519` writes it) from `path`; any other kind of key is refused. */
int signing_key_load(const char *path, struct signing_key **out, cryo_err *err);
void signing_key_free(struct signing_key *key);
void signing_key_public(const struct signing_key *key, unsigned char pub[TRUST_KEY_LEN]);
int signing_key_sign(const struct signing_key *key, const void *data, size_t len,
                     unsigned char sig[TRUST_SIG_LEN], cryo_err *err);

/* Does sig sign data under pub? */
bool trust_verify(const unsigned char pub[TRUST_KEY_LEN], const void *data, size_t len,
                  const unsigned char sig[TRUST_SIG_LEN]);

/* "cryo-ed25519 BASE64 COMMENT" (no newline). */
char *trust_public_key_line(const unsigned char pub[TRUST_KEY_LEN], const char *comment);
/* The comment this engine puts on its own key: cryo@HOSTNAME. */
char *trust_engine_comment(void);
/* A key line or a PEM public key; *comment (may be NULL) gets the line's
 * comment, or "" when it has none. */
int trust_parse_public_key(const char *text, unsigned char pub[TRUST_KEY_LEN], char **comment, cryo_err *err);
char *trust_fingerprint(const unsigned char pub[TRUST_KEY_LEN]);

/* Base64 (standard alphabet, padded) of raw bytes, and back: decoding fails
 * unless the text is exactly the encoding of `len` bytes. */
char *trust_base64(const unsigned char *data, size_t len);
int trust_unbase64(const char *text, unsigned char *out, size_t len);

struct trusted_key {
	unsigned char key[TRUST_KEY_LEN];
	char *comment;
};

struct trusted_keys {
	struct trusted_key *keys;
	size_t n;
};
void trusted_keys_clear(struct trusted_keys *keys);
bool trusted_keys_contain(const struct trusted_keys *keys, const unsigned char pub[TRUST_KEY_LEN]);

/* The keys the operator trusts (not this engine's own). */
int trust_list(struct cryo_engine *engine, struct trusted_keys *out, cryo_err *err);
/* What an import accepts: this engine's own key (made if missing) and the
 * trusted ones. */
int trust_import_keys(struct cryo_engine *engine, struct trusted_keys *out, cryo_err *err);
/* The same for a reader that must write nothing (checkpoint inspect): this
 * engine's key only when it already has one. */
int trust_known_keys(struct cryo_engine *engine, struct trusted_keys *out, cryo_err *err);
/* Trust the key in `text` (see trust_parse_public_key); trusting a key twice
 * is not an error. *fingerprint (may be NULL) gets its fingerprint. */
int trust_add(struct cryo_engine *engine, const char *text, char **fingerprint, cryo_err *err);
/* Stop trusting the key with this fingerprint, or the one key with this
 * comment; -ENOENT when none matches. */
int trust_remove(struct cryo_engine *engine, const char *which, cryo_err *err);

#endif
