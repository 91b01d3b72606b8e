#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

enum config_type { CONFIG_STRING, CONFIG_UINT, CONFIG_BOOL };

struct config_key {
	const char *name; /* "section.key" */
	enum config_type type;
	const char *default_value;  /* as it would be written in the file */
	const char *const *choices; /* strings only: the allowed values, NULL = any */
};

static const char *const criu_stepping_choices[] = {"auto", "breakpoints", "syscall", NULL};

/* Every key the engine reads. Add a row (and document it in
 * docs/configuration.md) when a module needs a host-wide setting. */
static const struct config_key keys[] = {
    /* The OCI runtime when `--runtime` is not given: a name on PATH or a path. */
    {"engine.runtime", CONFIG_STRING, "runc", NULL},
    /* Worker processes of `checkpoint --all` and `restore --all` when
     * `--parallel` is not given; 0: the number of online processors. */
    {"engine.parallel", CONFIG_UINT, "0", NULL},
    /* Limits on an archive restored with `cryo restore --import` and on each
     * tar inside it (root file system changes, volumes); docs/trust.md. */
    {"import.max_total_size", CONFIG_UINT, "256G", NULL},
    {"import.max_entries", CONFIG_UINT, "1000000", NULL},
    {"import.max_path_depth", CONFIG_UINT, "256", NULL},
    {"import.max_name_length", CONFIG_UINT, "4096", NULL},
    /* Resource limits of a container restored from an archive that has
     * none: an archive cannot lift them (0 would mean none). */
    {"import.memory_limit", CONFIG_UINT, "8G", NULL},
    {"import.pids_limit", CONFIG_UINT, "4096", NULL},
    /* The most a registry pull (`cryo image pull`, `cryo restore IMAGE`)
     * downloads: the manifest's declared sizes and the bytes written
     * (registry.h); `--max-size` overrides it for one pull. */
    {"registry.max_pull_size", CONFIG_UINT, "64G", NULL},
    /* How CRIU stops a task after its parasite code (criu.h): "auto" probes
     * whether hardware breakpoints fire; "breakpoints" or "syscall" force one. */
    {"criu.stepping", CONFIG_STRING, "auto", criu_stepping_choices},
};

struct cryo_config {
	char *source;
	char *values[ARRAY_SIZE(keys)]; /* NULL: the default */
};

static const struct config_key *find_key(const char *name, size_t *index)
{
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
		if (strcmp(keys[i].name, name) == 0) {
			if (index)
				*index = i;
			return &keys[i];
		}
	return NULL;
}

int config_parse_size(const char *text, uint64_t *out)
{
	char *end;
	errno = 0;
	if (!isdigit((unsigned char)text[0]))
		return -EINVAL;
	unsigned long long v = strtoull(text, &end, 10);
	if (errno)
		return -errno;
	unsigned shift = 0;
	switch (*end) {
	case 'K':
		shift = 10;
		end++;
		break;
	case 'M':
		shift = 20;
		end++;
		break;
	case 'G':
		shift = 30;
		end++;
		break;
	case 'T':
		shift = 40;
		end++;
		break;
	default:
		break;
	}
	if (*end != '\0')
		return -EINVAL;
	if (shift && v > (UINT64_MAX >> shift))
		return -ERANGE;
	*out = (uint64_t)v << shift;
	return 0;
}

static int parse_bool(const char *text, bool *out)
{
	if (strcmp(text, "true") == 0)
		*out = true;
	else if (strcmp(text, "false") == 0)
		*out = false;
	else
		return -EINVAL;
	return 0;
}

/* Check a raw value against its key; strings arrive unquoted already. */
static int check_value(const struct config_key *k, const char *value, bool quoted, cryo_err *err)
{
	uint64_t u;
	bool b;
	switch (k->type) {
	case CONFIG_STRING:
		if (!quoted)
			return cryo_error_set(err, EINVAL, "`%s` takes a quoted string", k->name);
		if (k->choices) {
			for (size_t i = 0; k->choices[i]; i++)
				if (strcmp(k->choices[i], value) == 0)
					return 0;
			cleanup_free char *list = xstrdup("");
			for (size_t i = 0; k->choices[i]; i++) {
				char *next = xasprintf("%s%s\"%s\"", list, i ? ", " : "", k->choices[i]);
				free(list);
				list = next;
			}
			return cryo_error_set(err, EINVAL, "`%s` must be one of %s, not \"%s\"", k->name,
			                      list, value);
		}
		return 0;
	case CONFIG_UINT:
		if (quoted || config_parse_size(value, &u) < 0)
			return cryo_error_set(
			    err, EINVAL,
			    "`%s` takes a non-negative integer (K/M/G/T suffixes allowed), not `%s`", k->name,
			    value);
		return 0;
	case CONFIG_BOOL:
		if (quoted || parse_bool(value, &b) < 0)
			return cryo_error_set(err, EINVAL, "`%s` takes true or false, not `%s`", k->name,
			                      value);
		return 0;
	}
	return 0;
}

static char *skip_space(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

/* One `key = value` line (section already applied); value may carry a comment. */
static int parse_assignment(struct cryo_config *cfg, const char *section, char *line, cryo_err *err)
{
	char *eq = strchr(line, '=');
	if (!eq)
		return cryo_error_set(err, EINVAL, "expected `key = value`");
	char *name_end = eq;
	while (name_end > line && (name_end[-1] == ' ' || name_end[-1] == '\t'))
		name_end--;
	*name_end = '\0';
	if (!*line)
		return cryo_error_set(err, EINVAL, "missing key before `=`");
	for (const char *p = line; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-')
			return cryo_error_set(err, EINVAL, "invalid key `%s`", line);
	cleanup_free char *name = section ? xasprintf("%s.%s", section, line) : xstrdup(line);
	size_t index;
	const struct config_key *k = find_key(name, &index);
	if (!k)
		return cryo_error_set(err, EINVAL, "unknown setting `%s`", name);

	char *value = skip_space(eq + 1);
	bool quoted = false;
	if (*value == '"') {
		char *close = strchr(value + 1, '"');
		if (!close)
			return cryo_error_set(err, EINVAL, "unterminated string for `%s`", name);
		*close = '\0';
		char *rest = skip_space(close + 1);
		if (*rest && *rest != '#')
			return cryo_error_set(err, EINVAL, "unexpected text after the value of `%s`", name);
		value++;
		quoted = true;
	} else {
		char *hash = strchr(value, '#');
		if (hash)
			*hash = '\0';
		str_rstrip(value);
	}
	int r = check_value(k, value, quoted, err);
	if (r < 0)
		return r;
	free(cfg->values[index]);
	cfg->values[index] = xstrdup(value);
	return 0;
}

struct cryo_config *config_defaults(void)
{
	return xcalloc(1, sizeof(struct cryo_config));
}

int config_load(const char *path, struct cryo_config **out, cryo_err *err)
{
	struct cryo_config *cfg = config_defaults();
	const char *file = path ? path : CRYO_DEFAULT_CONFIG;
	cleanup_free char *text = NULL;
	int r = read_file(file, &text, NULL, err);
	if (r == -ENOENT && !path) {
		cryo_error_free(err);
		*out = cfg;
		return 0;
	}
	if (r < 0) {
		config_free(cfg);
		return cryo_error_wrap(err, "read configuration");
	}
	cfg->source = xstrdup(file);
	r = 0;
	int lineno = 0;
	cleanup_free char *section = NULL;
	for (char *line = text, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		lineno++;
		char *s = skip_space(line);
		str_rstrip(s);
		if (!*s || *s == '#')
			continue;
		if (*s == '[') {
			char *close = strchr(s, ']');
			char *after = close ? skip_space(close + 1) : NULL;
			if (!close || close == s + 1 || (*after && *after != '#')) {
				r = cryo_error_set(err, EINVAL, "invalid section header `%s`", s);
				break;
			}
			*close = '\0';
			free(section);
			section = xstrdup(s + 1);
			continue;
		}
		if ((r = parse_assignment(cfg, section, s, err)) < 0)
			break;
	}
	if (r < 0) {
		cryo_error_wrap(err, "configuration `%s`, line %d", file, lineno);
		config_free(cfg);
		return r;
	}
	*out = cfg;
	return 0;
}

void config_free(struct cryo_config *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
		free(cfg->values[i]);
	free(cfg->source);
	free(cfg);
}

static const char *raw_value(const struct cryo_config *cfg, const char *key, enum config_type type)
{
	size_t index;
	const struct config_key *k = find_key(key, &index);
	if (!k || k->type != type)
		abort(); /* a programming error: the key is not declared with this type */
	return cfg && cfg->values[index] ? cfg->values[index] : k->default_value;
}

const char *config_string(const struct cryo_config *cfg, const char *key)
{
	return raw_value(cfg, key, CONFIG_STRING);
}

uint64_t config_uint(const struct cryo_config *cfg, const char *key)
{
	uint64_t v = 0;
	config_parse_size(raw_value(cfg, key, CONFIG_UINT), &v);
	return v;
}

bool config_bool(const struct cryo_config *cfg, const char *key)
{
	bool v = false;
	parse_bool(raw_value(cfg, key, CONFIG_BOOL), &v);
	return v;
}

const char *config_source(const struct cryo_config *cfg)
{
	return cfg ? cfg->source : NULL;
}

const char *config_origin(const struct cryo_config *cfg, const char *key)
{
	size_t index;
	if (!find_key(key, &index))
		abort(); /* a programming error: the key is not declared */
	return cfg && cfg->values[index] ? cfg->source : NULL;
}
