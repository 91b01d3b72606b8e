#include "trust.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <string.h>
#include <sys/stat.h>

#include "digest.h"
#include "layout.h"
#include "lock.h"
#include "util.h"

#define TRUST_LOCK "trusted-keys"
/* A key file or a trusted-keys file is small; a huge one is not ours. */
#define KEY_FILE_MAX (64 << 10)
#define TRUSTED_KEYS_MAX (16 << 20)

struct signing_key {
	EVP_PKEY *pkey;
};

void signing_key_free(struct signing_key *key)
{
	if (!key)
		return;
	EVP_PKEY_free(key->pkey);
	free(key);
}

static void evp_pkey_freep(EVP_PKEY **p)
{
	EVP_PKEY_free(*p);
}
static void bio_freep(BIO **b)
{
	BIO_free(*b);
}

char *trust_base64(const unsigned char *data, size_t len)
{
	char *out = xmalloc(4 * ((len + 2) / 3) + 1);
	EVP_EncodeBlock((unsigned char *)out, data, (int)len);
	return out;
}

int trust_unbase64(const char *text, unsigned char *out, size_t len)
{
	size_t n = strlen(text);
	size_t want = 4 * ((len + 2) / 3);
	if (n != want ||
	    strspn(text, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=") != n)
		return -EINVAL;
	cleanup_free unsigned char *buf = xmalloc(n);
	int got = EVP_DecodeBlock(buf, (const unsigned char *)text, (int)n);
	/* EVP_DecodeBlock counts the padding as zero bytes. */
	if (got < 0 || (size_t)got < len)
		return -EINVAL;
	size_t pad = (3 - len % 3) % 3;
	for (size_t i = 0; i < pad; i++)
		if (text[n - 1 - i] != '=')
			return -EINVAL;
	if (n > pad && text[n - 1 - pad] == '=')
		return -EINVAL;
	/* The canonical encoding only: re-encode and compare. */
	memcpy(out, buf, len);
	cleanup_free char *again = trust_base64(out, len);
	return strcmp(again, text) == 0 ? 0 : -EINVAL;
}

char *trust_fingerprint(const unsigned char pub[TRUST_KEY_LEN])
{
	unsigned char md[32];
	unsigned int mdlen = 0;
	EVP_Digest(pub, TRUST_KEY_LEN, md, &mdlen, EVP_sha256(), NULL);
	cleanup_free char *b64 = trust_base64(md, sizeof(md));
	size_t n = strlen(b64);
	while (n > 0 && b64[n - 1] == '=')
		b64[--n] = '\0';
	return xasprintf("SHA256:%s", b64);
}

char *trust_public_key_line(const unsigned char pub[TRUST_KEY_LEN], const char *comment)
{
	cleanup_free char *b64 = trust_base64(pub, TRUST_KEY_LEN);
	if (comment && *comment)
		return xasprintf(TRUST_KEY_TYPE " %s %s", b64, comment);
	return xasprintf(TRUST_KEY_TYPE " %s", b64);
}

char *trust_engine_comment(void)
{
	char host[256] = "";
	if (gethostname(host, sizeof(host) - 1) < 0 || !host[0])
		snprintf(host, sizeof(host), "unknown");
	return xasprintf("cryo@%s", host);
}

static int wrap_pkey(EVP_PKEY *pkey, struct signing_key **out)
{
	struct signing_key *key = xcalloc(1, sizeof(*key));
	key->pkey = pkey;
	*out = key;
	return 0;
}

void signing_key_public(const struct signing_key *key, unsigned char pub[TRUST_KEY_LEN])
{
	size_t len = TRUST_KEY_LEN;
	if (EVP_PKEY_get_raw_public_key(key->pkey, pub, &len) != 1 || len != TRUST_KEY_LEN)
		abort(); /* only Ed25519 keys are ever wrapped */
}

int signing_key_sign(const struct signing_key *key, const void *data, size_t len,
                     unsigned char sig[TRUST_SIG_LEN], cryo_err *err)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	size_t siglen = TRUST_SIG_LEN;
	if (!ctx)
		oom();
	int ok = EVP_DigestSignInit(ctx, NULL, NULL, NULL, key->pkey) == 1 &&
	         EVP_DigestSign(ctx, sig, &siglen, data, len) == 1 && siglen == TRUST_SIG_LEN;
	EVP_MD_CTX_free(ctx);
	if (!ok)
		return cryo_error_set(err, EIO, "sign with Ed25519 (OpenSSL failed)");
	return 0;
}

bool trust_verify(const unsigned char pub[TRUST_KEY_LEN], const void *data, size_t len,
                  const unsigned char sig[TRUST_SIG_LEN])
{
	_cleanup_(evp_pkey_freep) EVP_PKEY *pkey =
	    EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, TRUST_KEY_LEN);
	if (!pkey)
		return false;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (!ctx)
		oom();
	bool ok = EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pkey) == 1 &&
	          EVP_DigestVerify(ctx, sig, TRUST_SIG_LEN, data, len) == 1;
	EVP_MD_CTX_free(ctx);
	return ok;
}

static int pem_private_key(const char *text, size_t len, const char *what, struct signing_key **out,
                           cryo_err *err)
{
	_cleanup_(bio_freep) BIO *bio = BIO_new_mem_buf(text, (int)len);
	if (!bio)
		oom();
	EVP_PKEY *pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	if (!pkey)
		return cryo_error_set(err, EINVAL, "`%s` is not a PEM private key", what);
	if (EVP_PKEY_get_id(pkey) != EVP_PKEY_ED25519) {
		EVP_PKEY_free(pkey);
		return cryo_error_set(err, EINVAL,
		                      "`%s` is not an Ed25519 key (make one with `openssl genpkey "
		                      "-algorithm ed25519`)",
		                      what);
	}
	return wrap_pkey(pkey, out);
}

int signing_key_load(const char *path, struct signing_key **out, cryo_err *err)
{
	cleanup_free char *text = NULL;
	size_t len = 0;
	int r = read_file_bounded(path, KEY_FILE_MAX, &text, &len, err);
	if (r < 0)
		return cryo_error_wrap(err, "signing key");
	return pem_private_key(text, len, path, out, err);
}

static int generate_engine_key(const char *path, cryo_err *err)
{
	_cleanup_(evp_pkey_freep) EVP_PKEY *pkey = NULL;
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
	if (!ctx)
		oom();
	int ok = EVP_PKEY_keygen_init(ctx) == 1 && EVP_PKEY_keygen(ctx, &pkey) == 1;
	EVP_PKEY_CTX_free(ctx);
	if (!ok)
		return cryo_error_set(err, EIO, "generate an Ed25519 key (OpenSSL failed)");
	_cleanup_(bio_freep) BIO *bio = BIO_new(BIO_s_mem());
	if (!bio || PEM_write_bio_PKCS8PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL) != 1)
		return cryo_error_set(err, EIO, "encode the engine's key (OpenSSL failed)");
	char *pem = NULL;
	long pem_len = BIO_get_mem_data(bio, &pem);

	/* Written beside, then linked into place: a racing cryo either finds
	 * no key or a complete one, and the first one linked wins. */
	cleanup_free char *tmp = xasprintf("%s.tmp-XXXXXX", path);
	cleanup_close int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return cryo_error_set(err, errno, "create `%s`", tmp);
	int r = 0;
	if (fchmod(fd, 0600) < 0 || write(fd, pem, (size_t)pem_len) != (ssize_t)pem_len || fsync(fd) < 0)
		r = cryo_error_set(err, errno ? errno : EIO, "write `%s`", tmp);
	if (r == 0 && link(tmp, path) < 0 && errno != EEXIST)
		r = cryo_error_set(err, errno, "create `%s`", path);
	unlink(tmp);
	return r;
}

int trust_engine_key(struct cryo_engine *engine, struct signing_key **out, cryo_err *err)
{
	cleanup_free char *dir = layout_keys_dir(engine->root);
	cleanup_free char *path = layout_engine_key(engine->root);
	int r;

	if ((r = mkdir_p(dir, 0700, err)) < 0)
		return cryo_error_wrap(err, "the engine's signing key");
	if (!path_exists(path) && (r = generate_engine_key(path, err)) < 0)
		return cryo_error_wrap(err, "make the engine's signing key");
	cleanup_close int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		return cryo_error_set(err, errno, "the engine's signing key `%s`", path);
	if (!S_ISREG(st.st_mode) || (st.st_mode & 077) || st.st_uid != geteuid())
		return cryo_error_set(err, EPERM,
		                      "the engine's signing key `%s` must be a regular file of yours with "
		                      "mode 0600 (it is %04o)",
		                      path, (unsigned)(st.st_mode & 07777));
	return signing_key_load(path, out, err);
}

/* ---- public keys ---- */

static int pem_public_key(const char *text, unsigned char pub[TRUST_KEY_LEN], cryo_err *err)
{
	_cleanup_(bio_freep) BIO *bio = BIO_new_mem_buf(text, -1);
	if (!bio)
		oom();
	_cleanup_(evp_pkey_freep) EVP_PKEY *pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	size_t len = TRUST_KEY_LEN;
	if (!pkey)
		return cryo_error_set(err, EINVAL, "not a valid PEM public key");
	if (EVP_PKEY_get_id(pkey) != EVP_PKEY_ED25519 || EVP_PKEY_get_raw_public_key(pkey, pub, &len) != 1 ||
	    len != TRUST_KEY_LEN)
		return cryo_error_set(err, EINVAL, "the PEM public key is not an Ed25519 key");
	return 0;
}

int trust_parse_public_key(const char *text, unsigned char pub[TRUST_KEY_LEN], char **comment, cryo_err *err)
{
	while (*text == ' ' || *text == '\t' || *text == '\n' || *text == '\r')
		text++;
	if (str_has_prefix(text, "-----BEGIN")) {
		int r = pem_public_key(text, pub, err);
		if (r == 0 && comment)
			*comment = xstrdup("");
		return r;
	}
	if (!str_has_prefix(text, TRUST_KEY_TYPE " "))
		return cryo_error_set(err, EINVAL,
		                      "not a cryo public key: expected a line `" TRUST_KEY_TYPE
		                      " BASE64 [COMMENT]` (from `cryo key show`) or a PEM public key");
	const char *b64 = text + strlen(TRUST_KEY_TYPE " ");
	size_t n = strcspn(b64, " \t\r\n");
	cleanup_free char *key_text = xstrndup(b64, n);
	if (trust_unbase64(key_text, pub, TRUST_KEY_LEN) < 0)
		return cryo_error_set(err, EINVAL, "the key `%s` is not the base64 of a 32-byte Ed25519 key",
		                      key_text);
	const char *rest = b64 + n;
	while (*rest == ' ' || *rest == '\t')
		rest++;
	size_t clen = strcspn(rest, "\r\n");
	const char *after = rest + clen;
	while (*after == '\r' || *after == '\n' || *after == ' ' || *after == '\t')
		after++;
	if (*after)
		return cryo_error_set(err, EINVAL, "expected one key line, found more text after it");
	cleanup_free char *c = xstrndup(rest, clen);
	str_rstrip(c);
	for (const char *p = c; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return cryo_error_set(err, EINVAL, "the key's comment has control characters");
	if (comment)
		*comment = move_ptr(c);
	return 0;
}

/* ---- the trusted keys ---- */

void trusted_keys_clear(struct trusted_keys *keys)
{
	for (size_t i = 0; i < keys->n; i++)
		free(keys->keys[i].comment);
	free(keys->keys);
	keys->keys = NULL;
	keys->n = 0;
}

bool trusted_keys_contain(const struct trusted_keys *keys, const unsigned char pub[TRUST_KEY_LEN])
{
	for (size_t i = 0; keys && i < keys->n; i++)
		if (memcmp(keys->keys[i].key, pub, TRUST_KEY_LEN) == 0)
			return true;
	return false;
}

static void trusted_keys_push(struct trusted_keys *keys, const unsigned char pub[TRUST_KEY_LEN],
                              const char *comment)
{
	keys->keys = xrealloc(keys->keys, (keys->n + 1) * sizeof(*keys->keys));
	memcpy(keys->keys[keys->n].key, pub, TRUST_KEY_LEN);
	keys->keys[keys->n].comment = xstrdup(comment ? comment : "");
	keys->n++;
}

int trust_list(struct cryo_engine *engine, struct trusted_keys *out, cryo_err *err)
{
	cleanup_free char *path = layout_trusted_keys(engine->root);
	cleanup_free char *text = NULL;
	memset(out, 0, sizeof(*out));
	int r = read_file_bounded(path, TRUSTED_KEYS_MAX, &text, NULL, err);
	if (r == -ENOENT) {
		cryo_error_free(err);
		return 0;
	}
	if (r < 0)
		return cryo_error_wrap(err, "trusted keys");
	int lineno = 0;
	for (char *line = text, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		lineno++;
		if (!*line || *line == '#')
			continue;
		unsigned char pub[TRUST_KEY_LEN];
		cleanup_free char *comment = NULL;
		if ((r = trust_parse_public_key(line, pub, &comment, err)) < 0) {
			trusted_keys_clear(out);
			return cryo_error_wrap(err, "trusted keys `%s`, line %d", path, lineno);
		}
		trusted_keys_push(out, pub, comment);
	}
	return 0;
}

int trust_import_keys(struct cryo_engine *engine, struct trusted_keys *out, cryo_err *err)
{
	struct signing_key *own = NULL;
	int r = trust_engine_key(engine, &own, err);
	if (r < 0)
		return r;
	if ((r = trust_list(engine, out, err)) < 0) {
		signing_key_free(own);
		return r;
	}
	unsigned char pub[TRUST_KEY_LEN];
	signing_key_public(own, pub);
	signing_key_free(own);
	trusted_keys_push(out, pub, "this engine");
	return 0;
}

int trust_known_keys(struct cryo_engine *engine, struct trusted_keys *out, cryo_err *err)
{
	int r = trust_list(engine, out, err);
	if (r < 0)
		return r;
	cleanup_free char *path = layout_engine_key(engine->root);
	if (!path_exists(path))
		return 0;
	struct signing_key *own = NULL;
	if ((r = signing_key_load(path, &own, err)) < 0) {
		trusted_keys_clear(out);
		return cryo_error_wrap(err, "this engine's key");
	}
	unsigned char pub[TRUST_KEY_LEN];
	signing_key_public(own, pub);
	signing_key_free(own);
	trusted_keys_push(out, pub, "this engine");
	return 0;
}

static int write_trusted(struct cryo_engine *engine, const struct trusted_keys *keys, cryo_err *err)
{
	cleanup_free char *path = layout_trusted_keys(engine->root);
	cleanup_free char *text = xstrdup("");
	for (size_t i = 0; i < keys->n; i++) {
		cleanup_free char *line = trust_public_key_line(keys->keys[i].key, keys->keys[i].comment);
		char *next = xasprintf("%s%s\n", text, line);
		free(text);
		text = next;
	}
	return write_file_atomic(path, text, strlen(text), 0600, err);
}

int trust_add(struct cryo_engine *engine, const char *text, char **fingerprint, cryo_err *err)
{
	unsigned char pub[TRUST_KEY_LEN];
	cleanup_free char *comment = NULL;
	cleanup_close int lock = -1;
	struct trusted_keys keys = {0};
	int r;

	if ((r = trust_parse_public_key(text, pub, &comment, err)) < 0)
		return cryo_error_wrap(err, "trust a key");
	if ((r = lock_acquire(engine, TRUST_LOCK, &lock, err)) < 0 ||
	    (r = trust_list(engine, &keys, err)) < 0)
		return r;
	if (!trusted_keys_contain(&keys, pub)) {
		trusted_keys_push(&keys, pub, comment);
		r = write_trusted(engine, &keys, err);
	}
	trusted_keys_clear(&keys);
	if (r < 0)
		return cryo_error_wrap(err, "trust a key");
	if (fingerprint)
		*fingerprint = trust_fingerprint(pub);
	return 0;
}

int trust_remove(struct cryo_engine *engine, const char *which, cryo_err *err)
{
	cleanup_close int lock = -1;
	struct trusted_keys keys = {0}, kept = {0};
	size_t matched = 0;
	int r;

	if ((r = lock_acquire(engine, TRUST_LOCK, &lock, err)) < 0 ||
	    (r = trust_list(engine, &keys, err)) < 0)
		return r;
	for (size_t i = 0; i < keys.n; i++) {
		cleanup_free char *fp = trust_fingerprint(keys.keys[i].key);
		if (strcmp(fp, which) == 0 ||
		    (keys.keys[i].comment[0] && strcmp(keys.keys[i].comment, which) == 0))
			matched++;
		else
			trusted_keys_push(&kept, keys.keys[i].key, keys.keys[i].comment);
	}
	if (matched == 0)
		r = cryo_error_set(err, ENOENT,
		                   "no trusted key has the fingerprint or comment `%s` (see `cryo trust ls`)",
		                   which);
	else if (matched > 1 && !str_has_prefix(which, "SHA256:"))
		r = cryo_error_set(err, EINVAL,
		                   "%zu trusted keys have the comment `%s`: name one by its fingerprint",
		                   matched, which);
	else
		r = write_trusted(engine, &kept, err);
	trusted_keys_clear(&keys);
	trusted_keys_clear(&kept);
	return r;
}
