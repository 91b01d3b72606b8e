#include "cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "container.h"
#include "image.h"
#include "state.h"
#include "util.h"

int cli_engine(struct cli *cli, struct cryo_engine **engine)
{
	cleanup_error cryo_err err = NULL;
	if (!cli->engine && cryo_engine_open(&cli->engine, &cli->opts, &err) < 0) {
		cli_fail(&err);
		return -1;
	}
	*engine = cli->engine;
	return 0;
}

void cli_log_to_stderr(enum cryo_log_level level, const char *msg, void *data)
{
	static int64_t start_us;
	static const char *const tags[] = {"DEBU", "INFO", "WARN", "ERRO"};
	int64_t now = now_monotonic_us();
	if (!start_us)
		start_us = now;
	fprintf(stderr, "%s[%07.3f] %s\n", tags[level <= CRYO_LOG_ERROR ? level : CRYO_LOG_ERROR],
	        (double)(now - start_us) / 1e6, msg);
}

int cli_fail(cryo_err *err)
{
	fprintf(stderr, "Error: %s\n", err && *err ? (*err)->msg : "unknown error");
	cryo_error_free(err);
	return EXIT_ENGINE;
}

int cli_usage_error(struct cli *cli, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "Error: %s: ", cli->command ? cli->command : "cryo");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nSee 'cryo %s%s--help'.\n", cli->command ? cli->command : "",
	        cli->command ? " " : "");
	return EXIT_ENGINE;
}

void cli_getopt_reset(void)
{
	optind = 0; /* glibc: full re-initialisation */
	opterr = 0;
}

int cli_getopt(struct cli *cli, int argc, char **argv, const char *shortopts, const struct option *longopts,
               int *exit_code)
{
	cleanup_free char *opts = xasprintf("+:%s", shortopts);
	int prev = optind ? optind : 1;
	if (cli->list_options) {
		/* The command's options, for completion and the man page test;
		 * '?' with exit code 0 makes the command return at once. */
		for (const struct option *o = longopts; o && o->name; o++)
			printf("--%s%s\n", o->name, o->has_arg == required_argument ? "=" : "");
		for (const char *s = shortopts; *s; s++)
			if (*s != ':')
				printf("-%c%s\n", *s, s[1] == ':' ? "=" : "");
		*exit_code = 0;
		return '?';
	}
	int c = getopt_long(argc, argv, opts, longopts, NULL);
	if (c == '?') {
		if (optopt)
			*exit_code = cli_usage_error(cli, "unknown option `-%c`", optopt);
		else
			*exit_code = cli_usage_error(cli, "unknown option `%s`", argv[prev]);
		return '?';
	}
	if (c == ':') {
		*exit_code = cli_usage_error(cli, "option `%s` needs a value", argv[prev]);
		return '?';
	}
	return c;
}

void cli_print_json(struct json_object *obj)
{
	printf("%s\n",
	       json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
}

bool cli_parse_uint64(const char *s, unsigned long long *out)
{
	char *end;
	if (!s || !*s || *s == '-')
		return false;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end)
		return false;
	*out = v;
	return true;
}

bool cli_parse_bytes(const char *s, long long *out)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || end == s || v < 0)
		return false;
	long long mult = 1;
	if (*end) {
		switch (*end | 0x20) {
		case 'k':
			mult = 1024;
			break;
		case 'm':
			mult = 1024 * 1024;
			break;
		case 'g':
			mult = 1024LL * 1024 * 1024;
			break;
		case 'b':
			break;
		default:
			return false;
		}
		if (end[1] && !((end[1] | 0x20) == 'b' && !end[2]))
			return false;
	}
	*out = v * mult;
	return true;
}

int cli_complete_names(struct cli *cli, const char *kind)
{
	struct cryo_engine *engine;
	cleanup_error cryo_err err = NULL;
	size_t n = 0;
	if (cli_engine(cli, &engine) < 0)
		return EXIT_ENGINE;
	if (strcmp(kind, "containers") == 0) {
		struct container **list = NULL;
		if (state_container_list(engine, &list, &n, &err) < 0)
			return cli_fail(&err);
		for (size_t i = 0; i < n; i++)
			printf("%s\n", list[i]->name);
		container_list_free(list, n);
	} else if (strcmp(kind, "images") == 0) {
		struct image **list = NULL;
		if (image_list(engine, &list, &n, &err) < 0)
			return cli_fail(&err);
		for (size_t i = 0; i < n; i++)
			if (list[i]->name)
				printf("%s\n", list[i]->name);
		image_list_free(list, n);
	} else if (strcmp(kind, "volumes") == 0) {
		struct volume **list = NULL;
		if (state_volume_list(engine, &list, &n, &err) < 0)
			return cli_fail(&err);
		for (size_t i = 0; i < n; i++)
			printf("%s\n", list[i]->name);
		for (size_t i = 0; i < n; i++)
			volume_free(list[i]);
		free(list);
	} else {
		return cli_usage_error(cli, "unknown kind `%s`: containers, images or volumes", kind);
	}
	return 0;
}

int cli_parse_simple(struct cli *cli, int argc, char **argv, const char *usage, bool *json)
{
	static const struct option with_format[] = {
	    {"format", required_argument, NULL, 'f'}, {"help", no_argument, NULL, 'h'}, {}};
	static const struct option help_only[] = {{"help", no_argument, NULL, 'h'}, {}};
	int c, code = 0;
	cli_getopt_reset();
	while ((c = cli_getopt(cli, argc, argv, "h", json ? with_format : help_only, &code)) != -1) {
		if (c == 'h') {
			printf("%s\n", usage);
			return 0;
		}
		if (c == 'f' && json) {
			if (strcmp(optarg, "json") != 0)
				return cli_usage_error(cli, "unsupported format `%s`: use json", optarg);
			*json = true;
			continue;
		}
		return code;
	}
	return -1;
}
