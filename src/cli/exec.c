/* cryo exec */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "container.h"
#include "runtime.h"
#include "util.h"

static const char exec_usage[] =
    "Usage: cryo exec [OPTIONS] CONTAINER COMMAND [ARG...]\n\n"
    "Options:\n"
    "  -i, --interactive         forward stdin to the command\n"
    "  -t, --tty                 run the command on a new pseudo-terminal\n"
    "  -e, --env KEY=VALUE       set an environment variable\n"
    "  -w, --workdir DIR         working directory\n"
    "  -u, --user USER[:GROUP]   user to run as: names from the container's /etc/passwd\n"
    "                            and /etc/group, or numbers\n";

/* A container gets its own /dev/pts only when created with -t (spec.c). */
static bool exec_has_devpts(const struct container *ct, cryo_err *err)
{
	struct container_config cfg;
	if (container_config_from_json(ct->config, &cfg, err) < 0)
		return false;
	bool terminal = cfg.terminal;
	container_config_free(&cfg);
	if (!terminal)
		cryo_error_plain(
		    err, EINVAL,
		    "exec -t in container `%s`: it has no /dev/pts (only containers created with -t do); "
		    "use exec -i without -t, or create the container with -t",
		    ct->name);
	return terminal;
}

int cmd_exec(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {{"env", required_argument, NULL, 'e'},
	                                         {"workdir", required_argument, NULL, 'w'},
	                                         {"user", required_argument, NULL, 'u'},
	                                         {"interactive", no_argument, NULL, 'i'},
	                                         {"tty", no_argument, NULL, 't'},
	                                         {"help", no_argument, NULL, 'h'},
	                                         {}};
	struct cryo_engine *engine;
	cleanup_error cryo_err err = NULL;
	cleanup_container struct container *ct = NULL;
	cleanup_strv char **env = NULL;
	struct runtime_exec_opts o = {0};
	int c, code = 0, exit_code = 0;

	cli_getopt_reset();
	while ((c = cli_getopt(cli, argc, argv, "e:w:u:ith", longopts, &code)) != -1) {
		switch (c) {
		case 'e':
			if (!strchr(optarg, '=') || optarg[0] == '=')
				return cli_usage_error(
				    cli, "malformed environment variable `%s`: expected KEY=VALUE", optarg);
			strv_push(&env, optarg);
			break;
		case 'w':
			o.cwd = optarg;
			break;
		case 'u':
			o.user = optarg;
			break;
		case 'i':
			o.stdin_open = true;
			break;
		case 't':
			o.tty = true;
			break;
		case 'h':
			fputs(exec_usage, stdout);
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
	if (ct->state != CONTAINER_RUNNING) {
		cryo_error_set(&err, EINVAL, "exec in container `%s`: it is %s, not running", ct->name,
		               container_state_name(ct->state));
		return cli_fail(&err);
	}
	cleanup_free char *user = NULL;
	if (o.user) {
		if (container_resolve_user(engine, ct, o.user, &user, &err) < 0)
			return cli_fail(&err);
		o.user = user;
	}
	o.argv = argv + optind + 1;
	o.env = env;
	if (o.tty && !exec_has_devpts(ct, &err))
		return cli_fail(&err);
	if (runtime_exec(engine, ct->id, &o, &exit_code, &err) < 0)
		return cli_fail(&err);
	return exit_code;
}
