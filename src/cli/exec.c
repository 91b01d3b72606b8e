/* cryo exec */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "container.h"
#include "runtime.h"
#include "util.h"

int cmd_exec(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {{"env", required_argument, NULL, 'e'},
						 {"workdir", required_argument, NULL, 'w'},
						 {"help", no_argument, NULL, 'h'},
						 {}};
	struct cryo_engine *engine;
	cleanup_error cryo_err err = NULL;
	cleanup_container struct container *ct = NULL;
	cleanup_strv char **env = NULL;
	const char *workdir = NULL;
	int c, code = 0, exit_code = 0;

	cli_getopt_reset();
	while ((c = cli_getopt(cli, argc, argv, "e:w:h", longopts, &code)) != -1) {
		switch (c) {
		case 'e':
			if (!strchr(optarg, '=') || optarg[0] == '=')
				return cli_usage_error(cli, "malformed environment variable `%s`: expected KEY=VALUE", optarg);
			strv_push(&env, optarg);
			break;
		case 'w':
			workdir = optarg;
			break;
		case 'h':
			printf("Usage: cryo exec [-e KEY=VALUE] [-w DIR] CONTAINER COMMAND [ARG...]\n");
			return 0;
		default:
			return code;
		}
	}
	if (argc - optind < 2)
		return cli_usage_error(cli, "a container and a command are required");
	if (cli_engine(cli, &engine) < 0)
		return EXIT_ENGINE;
	if (container_get(engine, argv[optind], &ct, &err) < 0)
		return cli_fail(&err);
	if (strcmp(ct->state, CONTAINER_RUNNING) != 0) {
		cryo_error_set(&err, EINVAL, "exec in container `%s`: it is %s, not running", ct->name, ct->state);
		return cli_fail(&err);
	}
	if (runtime_exec(engine, ct->id, argv + optind + 1, env, workdir, &exit_code, &err) < 0)
		return cli_fail(&err);
	return exit_code;
}
