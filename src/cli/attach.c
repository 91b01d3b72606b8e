/* cryo attach */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "attach.h"
#include "cli.h"
#include "commands.h"
#include "container.h"
#include "session.h"
#include "util.h"

int cmd_attach(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {{"detach-keys", required_argument, NULL, 'k'},
	                                         {"no-stdin", no_argument, NULL, 'n'},
	                                         {"help", no_argument, NULL, 'h'},
	                                         {}};
	struct cryo_engine *engine;
	cleanup_error cryo_err err = NULL;
	cleanup_container struct container *ct = NULL;
	struct container_config cfg = {0};
	const char *detach_keys = NULL;
	bool no_stdin = false;
	int c, code = 0;

	cli_getopt_reset();
	while ((c = cli_getopt(cli, argc, argv, "h", longopts, &code)) != -1) {
		switch (c) {
		case 'k':
			if (!cli_detach_keys_valid(optarg, &err))
				return cli_usage_error(cli, "%s", err->msg);
			detach_keys = optarg;
			break;
		case 'n':
			no_stdin = true;
			break;
		case 'h':
			printf("Usage: cryo attach [OPTIONS] CONTAINER\n\n"
			       "Connect to a running container's terminal or output (and its stdin when it\n"
			       "was started with -i). The detach keys leave it running.\n\n"
			       "Options:\n"
			       "      --detach-keys KEYS  keys that detach (default " CLI_DEFAULT_DETACH_KEYS
			       "; \"\" for none)\n"
			       "      --no-stdin          do not forward stdin\n");
			return 0;
		default:
			return code;
		}
	}
	if (argc - optind != 1)
		return cli_usage_error(cli, "exactly one container is required");
	if (cli_engine(cli, &engine) < 0)
		return EXIT_ENGINE;
	if (container_get(engine, argv[optind], &ct, &err) < 0)
		return cli_fail(&err);
	if (!container_is_active(ct)) {
		cryo_error_plain(&err, EINVAL, "attach to container `%s`: it is %s, not running", ct->name,
		                 container_state_name(ct->state));
		return cli_fail(&err);
	}
	if (container_config_from_json(ct->config, &cfg, &err) < 0)
		return cli_fail(&err);
	bool tty = cfg.terminal, interactive = cfg.interactive;
	container_config_free(&cfg);
	cleanup_close int sock = attach_connect(engine, ct->id, &err);
	if (sock < 0) {
		cryo_error_wrap(&err, "attach to container `%s`", ct->name);
		return cli_fail(&err);
	}
	struct cli_session s = {
	    .engine = engine,
	    .id = ct->id,
	    .name = ct->name,
	    .peer = sock,
	    .stdin_open = interactive && !no_stdin,
	    .tty = tty,
	    .detach_keys = detach_keys,
	};
	bool detached = false;
	if (cli_session_run(&s, &detached, &err) < 0)
		return cli_fail(&err);
	if (detached)
		return 0;
	int exit_code = 0;
	if (container_wait(engine, ct->id, &exit_code, &err) < 0)
		return cli_fail(&err);
	return exit_code < 0 ? EXIT_ENGINE : exit_code;
}
