/* The engine's configuration file: settings an operator makes once for a host
 * rather than on every command (how CRIU steps, import limits, ...).
 *
 * The file is `/etc/cryo/cryo.conf` unless the engine is opened with another
 * (`cryo --config FILE`); a missing default file means every default. Format,
 * a small subset of TOML:
 *
 *     # comment
 *     [section]
 *     key = "string"
 *     key = 123          # integers, with an optional K/M/G/T suffix (powers of 1024)
 *     key = true
 *
 * Every key is declared in config.c's table with its type and default: an
 * unknown key or a value of the wrong type is an error naming the file and
 * line, so a typo never silently leaves a default in force. */
#ifndef CRYO_CONFIG_H
#define CRYO_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "error.h"

#define CRYO_DEFAULT_CONFIG "/etc/cryo/cryo.conf"

struct cryo_config;

/* Load `path`; NULL means the default file, which may be absent. An explicitly
 * named file must exist. */
int config_load(const char *path, struct cryo_config **out, cryo_err *err);
/* Every key at its default (for tests and programs without a file). */
struct cryo_config *config_defaults(void);
void config_free(struct cryo_config *cfg);

/* The value of a declared key ("section.key"); asking for an undeclared key or
 * with the wrong type is a programming error and aborts. */
const char *config_string(const struct cryo_config *cfg, const char *key);
uint64_t config_uint(const struct cryo_config *cfg, const char *key);
bool config_bool(const struct cryo_config *cfg, const char *key);

/* A size as keys take it: digits with an optional K/M/G/T suffix (powers of
 * 1024). -EINVAL or -ERANGE for anything else (nothing is set). */
int config_parse_size(const char *text, uint64_t *out);

/* The file the configuration came from, or NULL when only defaults apply. */
const char *config_source(const struct cryo_config *cfg);
/* The file that set a declared key, or NULL when the key has its default. */
const char *config_origin(const struct cryo_config *cfg, const char *key);

#endif
