/* cryo: a daemonless container engine built for consistent checkpoint/restore. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "freeze_hook.h"
#include "cli.h"
#include "log.h"
#include "commands.h"
#include "util.h"

struct command {
	const char *name; /* one word, or "group verb" */
	int (*run)(struct cli *cli, int argc, char **argv);
	const char *summary;
};

static const struct command commands[] = {
    /* -- info -- */
    {"info", cmd_info, "Show the host's facts that decide how cryo checkpoints"},
    {"system check", cmd_system_check, "Prove that checkpoint/restore works on this host"},
    {"system prune", cmd_system_prune, "Remove what interrupted commands left behind"},
    {"system df", cmd_system_df, "Show disk usage of images, containers, volumes and checkpoints"},
    /* -- images -- */
    {"images", cmd_images, "List images"},
    {"image ls", cmd_images, "List images (same as `images`)"},
    {"image import", cmd_image_import, "Import a root file system tarball as an image"},
    {"image load", cmd_image_load, "Load an OCI image layout or oci-archive"},
    {"image inspect", cmd_image_inspect, "Show an image as JSON"},
    {"image rm", cmd_image_rm, "Remove images"},
    {"rmi", cmd_image_rm, "Remove images (same as `image rm`)"},
    {"image mount", cmd_image_mount, "Mount an image's merged layers read-only"},
    {"image unmount", cmd_image_unmount, "Unmount an image mounted with `image mount`"},
    {"image push", cmd_image_push, "Push an image or checkpoint image to a registry (skopeo)"},
    {"image pull", cmd_image_pull, "Pull an image or checkpoint image from a registry (skopeo)"},
    /* -- containers and volumes -- */
    {"create", cmd_create, "Create a container"},
    {"run", cmd_run, "Create and start a container"},
    {"start", cmd_start, "Start containers"},
    {"ps", cmd_ps, "List containers"},
    {"inspect", cmd_inspect, "Show a container's details as JSON"},
    {"logs", cmd_logs, "Show a container's output"},
    {"stop", cmd_stop, "Stop containers (SIGTERM, then SIGKILL)"},
    {"kill", cmd_kill, "Send a signal to containers"},
    {"pause", cmd_pause, "Freeze containers"},
    {"unpause", cmd_unpause, "Thaw paused containers"},
    {"wait", cmd_wait, "Wait for containers to stop and print their exit codes"},
    {"rm", cmd_rm, "Remove containers"},
    {"exec", cmd_exec, "Run a command in a running container"},
    {"attach", cmd_attach, "Attach to a running container's terminal or output"},
    {"volume create", cmd_volume_create, "Create a named volume"},
    {"volume ls", cmd_volume_ls, "List volumes"},
    {"volume inspect", cmd_volume_inspect, "Show volumes as JSON"},
    {"volume rm", cmd_volume_rm, "Remove volumes"},
    {"network create", cmd_network_create, "Create a bridge network"},
    {"network ls", cmd_network_ls, "List networks"},
    {"network inspect", cmd_network_inspect, "Show networks as JSON"},
    {"network rm", cmd_network_rm, "Remove networks"},
    /* -- checkpoint / restore -- */
    /* Before "checkpoint", which would take `inspect` for a container name. */
    {"checkpoint inspect", cmd_checkpoint_inspect,
     "Show what a checkpoint archive or a kept checkpoint holds"},
    {"checkpoint", cmd_checkpoint, "Checkpoint containers (consistently, even live)"},
    {"restore", cmd_restore, "Restore a container from a checkpoint"},
    {"migrate", cmd_migrate, "Move a running container to another engine (this host's or over ssh)"},
    {"key show", cmd_key_show, "Print this engine's public key (for `trust add` elsewhere)"},
    {"trust add", cmd_trust_add, "Trust archives signed by a public key"},
    {"trust ls", cmd_trust_ls, "List trusted keys"},
    {"trust rm", cmd_trust_rm, "Stop trusting keys"},
};

static void print_help(FILE *out)
{
	fprintf(
	    out,
	    "Usage: cryo [--root DIR] [--runroot DIR] [--runtime PATH] [--config FILE] [--log-level LEVEL]\n"
	    "            COMMAND [OPTIONS] [ARGS...]\n\n"
	    "A container engine for consistent, low-downtime checkpoint and restore.\n\n"
	    "Global options:\n"
	    "  --root DIR       engine state (default " CRYO_DEFAULT_ROOT ")\n"
	    "  --runroot DIR    per-boot state (default " CRYO_DEFAULT_RUNROOT ")\n"
	    "  --runtime PATH   OCI runtime (default: the configuration's "
	    "engine.runtime, " CRYO_DEFAULT_RUNTIME ")\n"
	    "  --config FILE    engine configuration (default " CRYO_DEFAULT_CONFIG " if present)\n"
	    "  --log-level LEVEL  debug, info, warn or error (default warn): what cryo tells on\n"
	    "                   stderr as it works; debug shows every command it runs (runc, CRIU)\n"
	    "                   with its duration, and the errors it deliberately ignores\n"
	    "  --version        print the version\n"
	    "  --help           print this help; `cryo COMMAND --help` for a command's,\n"
	    "                   `man cryo-COMMAND` for its manual\n\n"
	    "Commands:\n");
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		fprintf(out, "  %-20s %s\n", commands[i].name, commands[i].summary);
}

static const struct command *find_command(int argc, char **argv, int *words)
{
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
		const char *space = strchr(commands[i].name, ' ');
		if (!space) {
			if (strcmp(commands[i].name, argv[0]) == 0) {
				*words = 1;
				return &commands[i];
			}
			continue;
		}
		size_t group = (size_t)(space - commands[i].name);
		if (argc >= 2 && strlen(argv[0]) == group && strncmp(argv[0], commands[i].name, group) == 0 &&
		    strcmp(argv[1], space + 1) == 0) {
			*words = 2;
			return &commands[i];
		}
	}
	return NULL;
}

static bool is_group(const char *word)
{
	size_t n = strlen(word);
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		if (strncmp(commands[i].name, word, n) == 0 && commands[i].name[n] == ' ')
			return true;
	return false;
}

/* cryo __complete commands | options COMMAND... | containers | images | volumes */
static int complete(struct cli *cli, int argc, char **argv)
{
	int words = 0;
	if (argc == 2 && strcmp(argv[1], "commands") == 0) {
		for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
			printf("%s\n", commands[i].name);
		return 0;
	}
	if (argc >= 3 && strcmp(argv[1], "options") == 0) {
		const struct command *cmd = find_command(argc - 2, argv + 2, &words);
		if (!cmd)
			return EXIT_ENGINE;
		cli->command = cmd->name;
		cli->list_options = true;
		char *one[] = {argv[2 + words - 1], NULL};
		return cmd->run(cli, 1, one);
	}
	if (argc == 2)
		return cli_complete_names(cli, argv[1]);
	fprintf(stderr, "Usage: cryo __complete commands|options COMMAND|containers|images|volumes\n");
	return EXIT_ENGINE;
}

int main(int argc, char **argv)
{
	static const struct option global_options[] = {
	    {"root", required_argument, NULL, 'r'},      {"runroot", required_argument, NULL, 'R'},
	    {"runtime", required_argument, NULL, 't'},   {"config", required_argument, NULL, 'c'},
	    {"log-level", required_argument, NULL, 'l'}, {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},         {},
	};
	struct cli cli = {0};
	enum cryo_log_level level = CRYO_LOG_WARN;
	int c, exit_code = 0, words = 0;

	/* Internal: CRIU's pre-dump action script during a live checkpoint. */
	if (argc >= 2 && strcmp(argv[1], FREEZE_HOOK_COMMAND) == 0)
		return freeze_hook_main(argc - 1, argv + 1);

	cli_getopt_reset();
	while ((c = cli_getopt(&cli, argc, argv, "h", global_options, &exit_code)) != -1) {
		switch (c) {
		case 'r':
			cli.opts.root = optarg;
			break;
		case 'R':
			cli.opts.runroot = optarg;
			break;
		case 't':
			cli.opts.runtime = optarg;
			break;
		case 'c':
			cli.opts.config = optarg;
			break;
		case 'l':
			if (!cryo_log_level_parse(optarg, &level))
				return cli_usage_error(
				    &cli, "invalid --log-level `%s`: use debug, info, warn or error", optarg);
			break;
		case 'h':
			print_help(stdout);
			return 0;
		case 'V':
			printf("cryo version %s\n", CRYO_VERSION);
			return 0;
		default:
			return exit_code;
		}
	}
	cryo_log_set_handler(cli_log_to_stderr, NULL, level);
	argc -= optind;
	argv += optind;
	if (argc == 0) {
		print_help(stderr);
		return EXIT_ENGINE;
	}
	/* Internal: what shell completion (and the man page test) asks. */
	if (strcmp(argv[0], "__complete") == 0) {
		exit_code = complete(&cli, argc, argv);
		cryo_engine_close(cli.engine);
		fflush(stdout);
		return exit_code;
	}
	const struct command *cmd = find_command(argc, argv, &words);
	if (!cmd) {
		if (is_group(argv[0]) && argc >= 2)
			fprintf(stderr, "Error: unknown command `%s %s`\nSee 'cryo --help'.\n", argv[0],
			        argv[1]);
		else if (is_group(argv[0]))
			fprintf(stderr, "Error: `%s` needs a subcommand\nSee 'cryo --help'.\n", argv[0]);
		else
			fprintf(stderr, "Error: unknown command `%s`\nSee 'cryo --help'.\n", argv[0]);
		return EXIT_ENGINE;
	}
	cli.command = cmd->name;
	/* Each command sees argv[0] = its last word, like a program of its own. */
	exit_code = cmd->run(&cli, argc - (words - 1), argv + (words - 1));
	cryo_engine_close(cli.engine);
	fflush(stdout);
	return exit_code;
}
