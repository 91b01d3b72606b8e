/* cryo stop / kill / pause / unpause / rm / wait / logs */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "container.h"
#include "logs.h"
#include "util.h"

/* Parse the common "[-h] CONTAINER..." shape; returns -1 to continue. */
static int parse_names_only(struct cli *cli, int argc, char **argv, const char *usage)
{
	static const struct option longopts[] = {{"help", no_argument, NULL, 'h'}, {}};
	int c, code = 0;
	cli_getopt_reset();
	while ((c = cli_getopt(cli, argc, argv, "h", longopts, &code)) != -1) {
		if (c == 'h') {
			printf("%s\n", usage);
			return 0;
		}
		return code;
	}
	if (optind >= argc)
		return cli_usage_error(cli, "at least one container is required");
	return -1;
}

/* Run op on each named container, printing each name on success. */
static int for_each_container(struct cli *cli, int argc, char **argv,
                              int (*op)(struct cryo_engine *, const char *, void *, cryo_err *), void *data)
{
	struct cryo_engine *engine;
	int code = 0;
	if (cli_engine(cli, &engine) < 0)
		return EXIT_ENGINE;
	for (int i = optind; i < argc; i++) {
		cleanup_error cryo_err err = NULL;
		if (op(engine, argv[i], data, &err) < 0) {
			code = cli_fail(&err);
			continue;
		}
		printf("%s\n", argv[i]);
	}
	return code;
}

static int do_stop(struct cryo_engine *e, const char *ref, void *data, cryo_err *err)
{
	return container_stop(e, ref, *(int *)data, err);
}

int cmd_stop(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"time", required_argument, NULL, 't'}, {"help", no_argument, NULL, 'h'}, {}};
	int c, code = 0, timeout = 10;
	unsigned long long t;
	cli_getopt_reset();
	while ((c = cli_getopt(cli, argc, argv, "t:h", longopts, &code)) != -1) {
		if (c == 't') {
			if (!cli_parse_uint64(optarg, &t) || t > 86400)
				return cli_usage_error(cli, "invalid --time `%s`: expected seconds", optarg);
			timeout = (int)t;
		} else if (c == 'h') {
			printf("Usage: cryo stop [-t|--time SECONDS] CONTAINER...\n");
			return 0;
		} else
			return code;
	}
	if (optind >= argc)
		return cli_usage_error(cli, "at least one container is required");
	return for_each_container(cli, argc, argv, do_stop, &timeout);
}

static const struct {
	const char *name;
	int number;
} signal_names[] = {
    {"HUP", SIGHUP},   {"INT", SIGINT},   {"QUIT", SIGQUIT},   {"KILL", SIGKILL},
    {"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"TERM", SIGTERM},   {"CONT", SIGCONT},
    {"STOP", SIGSTOP}, {"ALRM", SIGALRM}, {"WINCH", SIGWINCH},
};

static int parse_signal(const char *s)
{
	unsigned long long n;
	if (cli_parse_uint64(s, &n))
		return n >= 1 && n < 65 ? (int)n : -1;
	if (strncasecmp(s, "SIG", 3) == 0)
		s += 3;
	for (size_t i = 0; i < ARRAY_SIZE(signal_names); i++)
		if (strcasecmp(s, signal_names[i].name) == 0)
			return signal_names[i].number;
	return -1;
}

static int do_kill(struct cryo_engine *e, const char *ref, void *data, cryo_err *err)
{
	return container_kill(e, ref, *(int *)data, err);
}

int cmd_kill(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"signal", required_argument, NULL, 's'}, {"help", no_argument, NULL, 'h'}, {}};
	int c, code = 0, sig = SIGKILL;
	cli_getopt_reset();
	while ((c = cli_getopt(cli, argc, argv, "s:h", longopts, &code)) != -1) {
		if (c == 's') {
			if ((sig = parse_signal(optarg)) < 0)
				return cli_usage_error(cli, "invalid signal `%s`", optarg);
		} else if (c == 'h') {
			printf("Usage: cryo kill [-s|--signal SIGNAL] CONTAINER...\n");
			return 0;
		} else
			return code;
	}
	if (optind >= argc)
		return cli_usage_error(cli, "at least one container is required");
	return for_each_container(cli, argc, argv, do_kill, &sig);
}

static int do_pause(struct cryo_engine *e, const char *ref, void *data, cryo_err *err)
{
	return *(bool *)data ? container_pause(e, ref, err) : container_unpause(e, ref, err);
}

int cmd_pause(struct cli *cli, int argc, char **argv)
{
	bool pause = true;
	int code = parse_names_only(cli, argc, argv, "Usage: cryo pause CONTAINER...");
	return code >= 0 ? code : for_each_container(cli, argc, argv, do_pause, &pause);
}

int cmd_unpause(struct cli *cli, int argc, char **argv)
{
	bool pause = false;
	int code = parse_names_only(cli, argc, argv, "Usage: cryo unpause CONTAINER...");
	return code >= 0 ? code : for_each_container(cli, argc, argv, do_pause, &pause);
}

static int do_rm(struct cryo_engine *e, const char *ref, void *data, cryo_err *err)
{
	return container_remove(e, ref, *(bool *)data, err);
}

int cmd_rm(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"force", no_argument, NULL, 'f'}, {"help", no_argument, NULL, 'h'}, {}};
	int c, code = 0;
	bool force = false;
	cli_getopt_reset();
	while ((c = cli_getopt(cli, argc, argv, "fh", longopts, &code)) != -1) {
		if (c == 'f')
			force = true;
		else if (c == 'h') {
			printf("Usage: cryo rm [-f|--force] CONTAINER...\n");
			return 0;
		} else
			return code;
	}
	if (optind >= argc)
		return cli_usage_error(cli, "at least one container is required");
	return for_each_container(cli, argc, argv, do_rm, &force);
}

int cmd_wait(struct cli *cli, int argc, char **argv)
{
	struct cryo_engine *engine;
	int code = parse_names_only(cli, argc, argv, "Usage: cryo wait CONTAINER...");
	if (code >= 0)
		return code;
	if (cli_engine(cli, &engine) < 0)
		return EXIT_ENGINE;
	code = 0;
	for (int i = optind; i < argc; i++) {
		cleanup_error cryo_err err = NULL;
		int exit_code;
		if (container_wait(engine, argv[i], &exit_code, &err) < 0) {
			code = cli_fail(&err);
			continue;
		}
		printf("%d\n", exit_code);
		fflush(stdout);
	}
	return code;
}

int cmd_logs(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"follow", no_argument, NULL, 'f'}, {"help", no_argument, NULL, 'h'}, {}};
	struct cryo_engine *engine;
	cleanup_error cryo_err err = NULL;
	cleanup_container struct container *ct = NULL;
	bool follow = false;
	int c, code = 0;
	cli_getopt_reset();
	while ((c = cli_getopt(cli, argc, argv, "fh", longopts, &code)) != -1) {
		if (c == 'f')
			follow = true;
		else if (c == 'h') {
			printf("Usage: cryo logs [-f|--follow] CONTAINER\n");
			return 0;
		} else
			return code;
	}
	if (argc - optind != 1)
		return cli_usage_error(cli, "exactly one container is required");
	if (cli_engine(cli, &engine) < 0)
		return EXIT_ENGINE;
	if (container_get(engine, argv[optind], &ct, &err) < 0 ||
	    logs_copy(engine, ct->id, stdout, follow, NULL, NULL, &err) < 0)
		return cli_fail(&err);
	return 0;
}
