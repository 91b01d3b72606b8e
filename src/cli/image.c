/* cryo images / cryo image {import,load,ls,rm,inspect,mount,unmount}: the image
 * store's commands, with Podman's names and flags. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "config.h"
#include "digest.h"
#include "image.h"
#include "registry.h"
#include "util.h"

#define SHORT_ID_LEN 12

/* Podman's SI sizes: "5.12 MB", "912 kB", "0 B". */
static char *human_size(uint64_t bytes)
{
	static const char *const units[] = {"B", "kB", "MB", "GB", "TB"};
	double v = (double)bytes;
	size_t u = 0;
	while (v >= 1000 && u + 1 < ARRAY_SIZE(units)) {
		v /= 1000;
		u++;
	}
	if (u == 0)
		return xasprintf("%llu B", (unsigned long long)bytes);
	return xasprintf("%.*f %s", v >= 100 ? 0 : v >= 10 ? 1 : 2, v, units[u]);
}

static char *human_age(int64_t created_us)
{
	int64_t s = (now_realtime_us() - created_us) / 1000000;
	static const struct {
		int64_t secs;
		const char *unit;
	} steps[] = {{365 * 86400, "year"}, {30 * 86400, "month"}, {7 * 86400, "week"},
	             {86400, "day"},        {3600, "hour"},        {60, "minute"}};
	if (s < 1)
		return xstrdup("Less than a second ago");
	for (size_t i = 0; i < ARRAY_SIZE(steps); i++)
		if (s >= steps[i].secs) {
			int64_t n = s / steps[i].secs;
			return xasprintf("%lld %s%s ago", (long long)n, steps[i].unit, n == 1 ? "" : "s");
		}
	return xasprintf("%lld second%s ago", (long long)s, s == 1 ? "" : "s");
}

#define COLUMNS 6

static void print_row(const char *const *row, const size_t *widths, size_t columns)
{
	cleanup_free char *line = xstrdup("");
	for (size_t c = 0; c < columns; c++) {
		char *next = xasprintf("%s%-*s  ", line, (int)widths[c], row[c]);
		free(line);
		line = next;
	}
	size_t n = strlen(line);
	while (n > 0 && line[n - 1] == ' ')
		line[--n] = '\0';
	printf("%s\n", line);
}

/* A CHECKPOINT column (`yes` for checkpoint images) is shown when the store
 * has checkpoint images, so the usual table keeps its five columns. */
static void print_table(struct image **list, size_t n, bool no_trunc)
{
	const char *headers[COLUMNS] = {"REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE", "CHECKPOINT"};
	size_t widths[COLUMNS], columns = COLUMNS - 1;
	char **cells = xcalloc(n * COLUMNS + 1, sizeof(char *));

	for (size_t i = 0; i < n; i++)
		if (list[i]->checkpoint_layer)
			columns = COLUMNS;
	for (size_t c = 0; c < COLUMNS; c++)
		widths[c] = strlen(headers[c]);
	for (size_t i = 0; i < n; i++) {
		char **row = cells + i * COLUMNS;
		image_name_split(list[i], &row[0], &row[1]);
		row[2] = no_trunc ? xasprintf("sha256:%s", list[i]->id) : xstrndup(list[i]->id, SHORT_ID_LEN);
		row[3] = human_age(list[i]->created);
		row[4] = human_size(list[i]->size);
		row[5] = xstrdup(list[i]->checkpoint_layer ? "yes" : "");
		for (size_t c = 0; c < COLUMNS; c++)
			if (strlen(row[c]) > widths[c])
				widths[c] = strlen(row[c]);
	}
	print_row(headers, widths, columns);
	for (size_t i = 0; i < n; i++)
		print_row((const char *const *)cells + i * COLUMNS, widths, columns);
	for (size_t i = 0; i < n * COLUMNS; i++)
		free(cells[i]);
	free(cells);
}

int cmd_images(struct cli *cli, int argc, char **argv)
{
	static const struct option options[] = {
	    {"format", required_argument, NULL, 'f'},
	    {"quiet", no_argument, NULL, 'q'},
	    {"no-trunc", no_argument, NULL, 'T'},
	    {"help", no_argument, NULL, 'h'},
	    {},
	};
	const char *format = "table";
	bool quiet = false, no_trunc = false;
	struct cryo_engine *engine;
	struct image **list = NULL;
	size_t n = 0;
	cleanup_error cryo_err err = NULL;
	int c, exit_code = 0;

	cli_getopt_reset();
	while ((c = cli_getopt(cli, argc, argv, "f:qh", options, &exit_code)) != -1) {
		switch (c) {
		case 'f':
			format = optarg;
			break;
		case 'q':
			quiet = true;
			break;
		case 'T':
			no_trunc = true;
			break;
		case 'h':
			printf("Usage: cryo images [--format table|json] [--quiet] [--no-trunc]\n"
			       "       cryo image ls [...]\n\n"
			       "List the images in the store, newest first: REPOSITORY, TAG, IMAGE ID,\n"
			       "CREATED and SIZE (bytes of file content in the image's layers).\n\n"
			       "  -f, --format FMT  table (default) or json (an array of objects)\n"
			       "  -q, --quiet       print the image IDs only\n"
			       "      --no-trunc    print full image IDs\n");
			return 0;
		default:
			return exit_code;
		}
	}
	if (optind < argc)
		return cli_usage_error(cli, "unexpected argument `%s`", argv[optind]);
	if (strcmp(format, "json") != 0 && strcmp(format, "table") != 0)
		return cli_usage_error(cli, "unknown format `%s` (expected table or json)", format);
	if (cli_engine(cli, &engine) < 0)
		return EXIT_ENGINE;
	if (image_list(engine, &list, &n, &err) < 0)
		return cli_fail(&err);

	if (strcmp(format, "json") == 0) {
		struct json_object *a = image_list_json(list, n);
		cli_print_json(a);
		json_object_put(a);
	} else if (quiet) {
		for (size_t i = 0; i < n; i++)
			printf("%.*s\n", no_trunc ? DIGEST_HEX_LEN : SHORT_ID_LEN, list[i]->id);
	} else {
		print_table(list, n, no_trunc);
	}
	image_list_free(list, n);
	return 0;
}

/* Commands whose only option is --help: returns 1 when the command is done
 * (help printed, or a usage error reported), with *exit_code set. */
static int parse_help_only(struct cli *cli, int argc, char **argv, const char *usage, int *exit_code)
{
	static const struct option options[] = {
	    {"help", no_argument, NULL, 'h'},
	    {},
	};
	cli_getopt_reset();
	int c = cli_getopt(cli, argc, argv, "h", options, exit_code);
	if (c == -1)
		return 0;
	if (c == 'h') {
		fputs(usage, stdout);
		*exit_code = 0;
	}
	return 1; /* --help handled, or a usage error already reported */
}

int cmd_image_import(struct cli *cli, int argc, char **argv)
{
	static const char usage[] =
	    "Usage: cryo image import FILE NAME[:TAG]\n\n"
	    "Import a root file system tarball (plain, gzip, zstd or xz) as a one-layer image\n"
	    "and print its ID. NAME is [a-z0-9][a-z0-9._/-]*, TAG [A-Za-z0-9_][A-Za-z0-9_.-]*\n"
	    "(default latest). A name already in use moves to the new image. The image runs\n"
	    "/bin/sh as root in / with PATH set, unless the container says otherwise.\n";
	struct cryo_engine *engine;
	cleanup_error cryo_err err = NULL;
	cleanup_free char *id = NULL;
	int exit_code = 0;

	if (parse_help_only(cli, argc, argv, usage, &exit_code))
		return exit_code;
	if (argc - optind != 2)
		return cli_usage_error(cli, "expected FILE and NAME[:TAG], got %d argument%s", argc - optind,
		                       argc - optind == 1 ? "" : "s");
	if (cli_engine(cli, &engine) < 0)
		return EXIT_ENGINE;
	if (image_import(engine, argv[optind], argv[optind + 1], &id, &err) < 0)
		return cli_fail(&err);
	printf("%s\n", id);
	return 0;
}

int cmd_image_load(struct cli *cli, int argc, char **argv)
{
	static const struct option options[] = {
	    {"input", required_argument, NULL, 'i'},
	    {"name", required_argument, NULL, 'n'},
	    {"help", no_argument, NULL, 'h'},
	    {},
	};
	const char *input = NULL, *name = NULL;
	struct cryo_engine *engine;
	cleanup_error cryo_err err = NULL;
	cleanup_free char *id = NULL;
	int c, exit_code = 0;

	cli_getopt_reset();
	while ((c = cli_getopt(cli, argc, argv, "i:h", options, &exit_code)) != -1) {
		switch (c) {
		case 'i':
			input = optarg;
			break;
		case 'n':
			name = optarg;
			break;
		case 'h':
			printf(
			    "Usage: cryo image load [--name NAME[:TAG]] PATH\n"
			    "       cryo image load -i PATH [--name NAME[:TAG]]\n\n"
			    "Load an OCI image (a layout directory, or an oci-archive tarball of one) and\n"
			    "print its ID, the digest of its configuration. Every blob is checked against\n"
			    "its digest. The layout must hold one image (a nested index is resolved to\n"
			    "this host's platform).\n\n"
			    "The image is named, in order of preference: --name; the layout's\n"
			    "org.opencontainers.image.ref.name annotation when it is a full reference\n"
			    "(repo[:tag]); a bare tag in that annotation joined to the repository of the\n"
			    "io.containerd.image.name annotation, or else to the layout's file name\n"
			    "(`/x/my-app.tar` -> my-app); the io.containerd.image.name annotation; the\n"
			    "layout's file name with tag latest.\n\n"
			    "  -i, --input PATH   the layout to load\n"
			    "      --name NAME    name the image NAME[:TAG]\n");
			return 0;
		default:
			return exit_code;
		}
	}
	if (input && optind < argc)
		return cli_usage_error(cli, "give PATH either with -i or as an argument, not both");
	if (!input && argc - optind != 1)
		return cli_usage_error(cli, "expected one PATH, got %d arguments", argc - optind);
	if (!input)
		input = argv[optind];
	if (cli_engine(cli, &engine) < 0)
		return EXIT_ENGINE;
	if (image_load(engine, input, name, &id, &err) < 0)
		return cli_fail(&err);
	printf("%s\n", id);
	return 0;
}

int cmd_image_rm(struct cli *cli, int argc, char **argv)
{
	static const char usage[] =
	    "Usage: cryo image rm IMAGE...\n"
	    "       cryo rmi IMAGE...\n\n"
	    "Remove images (by NAME[:TAG], ID or unique ID prefix) and the layers no other\n"
	    "image uses. An image a container uses is not removed: remove the container\n"
	    "first. A mounted image is unmounted.\n";
	struct cryo_engine *engine;
	int exit_code = 0;

	if (parse_help_only(cli, argc, argv, usage, &exit_code))
		return exit_code;
	if (optind >= argc)
		return cli_usage_error(cli, "expected at least one IMAGE");
	if (cli_engine(cli, &engine) < 0)
		return EXIT_ENGINE;
	for (int i = optind; i < argc; i++) {
		cleanup_error cryo_err err = NULL;
		cleanup_image struct image *img = NULL;
		if (image_get(engine, argv[i], &img, &err) < 0 || image_remove(engine, img->id, &err) < 0) {
			exit_code = cli_fail(&err);
			continue;
		}
		if (img->name)
			printf("Untagged: %s\n", img->name);
		printf("Deleted: %s\n", img->id);
	}
	return exit_code;
}

int cmd_image_inspect(struct cli *cli, int argc, char **argv)
{
	static const char usage[] =
	    "Usage: cryo image inspect IMAGE\n\n"
	    "Print an image as a JSON object: id, name, repository, tag, created\n"
	    "(RFC 3339), size, layers (IDs, bottom first), config (Env, Cmd, Entrypoint,\n"
	    "WorkingDir, User) and mountpoint (null unless `cryo image mount`ed).\n";
	struct cryo_engine *engine;
	cleanup_error cryo_err err = NULL;
	cleanup_image struct image *img = NULL;
	int exit_code = 0;

	if (parse_help_only(cli, argc, argv, usage, &exit_code))
		return exit_code;
	if (argc - optind != 1)
		return cli_usage_error(cli, "expected one IMAGE, got %d arguments", argc - optind);
	if (cli_engine(cli, &engine) < 0)
		return EXIT_ENGINE;
	if (image_get(engine, argv[optind], &img, &err) < 0)
		return cli_fail(&err);

	struct json_object *o = image_inspect_json(engine, img);
	cli_print_json(o);
	json_object_put(o);
	return 0;
}

int cmd_image_mount(struct cli *cli, int argc, char **argv)
{
	static const char usage[] =
	    "Usage: cryo image mount IMAGE\n\n"
	    "Mount the image's layers read-only (merged, whiteouts applied) and print\n"
	    "the mount point. `cryo image unmount IMAGE` undoes it.\n";
	struct cryo_engine *engine;
	cleanup_error cryo_err err = NULL;
	cleanup_free char *path = NULL;
	int exit_code = 0;

	if (parse_help_only(cli, argc, argv, usage, &exit_code))
		return exit_code;
	if (argc - optind != 1)
		return cli_usage_error(cli, "expected one IMAGE, got %d arguments", argc - optind);
	if (cli_engine(cli, &engine) < 0)
		return EXIT_ENGINE;
	if (image_mount(engine, argv[optind], &path, &err) < 0)
		return cli_fail(&err);
	printf("%s\n", path);
	return 0;
}

int cmd_image_unmount(struct cli *cli, int argc, char **argv)
{
	static const char usage[] = "Usage: cryo image unmount IMAGE...\n\n"
	                            "Unmount images mounted with `cryo image mount`.\n";
	struct cryo_engine *engine;
	int exit_code = 0;

	if (parse_help_only(cli, argc, argv, usage, &exit_code))
		return exit_code;
	if (optind >= argc)
		return cli_usage_error(cli, "expected at least one IMAGE");
	if (cli_engine(cli, &engine) < 0)
		return EXIT_ENGINE;
	for (int i = optind; i < argc; i++) {
		cleanup_error cryo_err err = NULL;
		if (image_unmount(engine, argv[i], &err) < 0)
			exit_code = cli_fail(&err);
	}
	return exit_code;
}

/* --tls-verify[=BOOL] and --authfile FILE, shared by push, pull and restore. */
static const char registry_usage[] =
    "      --tls-verify=false  do not verify the registry's TLS certificate (a local\n"
    "                          registry; verification is on by default)\n"
    "      --authfile FILE     registry credentials (default: skopeo's usual auth.json,\n"
    "                          ${XDG_RUNTIME_DIR}/containers/auth.json)\n";

static const char pull_usage[] =
    "      --max-size SIZE     download at most SIZE bytes (K/M/G/T suffixes): refused\n"
    "                          before the download when the manifest declares more,\n"
    "                          stopped when the registry sends more (default: the\n"
    "                          engine configuration's registry.max_pull_size, 64G)\n";

/* Parse push's and pull's options; returns false when the command is done
 * (help, a usage error, option listing), with its exit code in *code. */
static bool registry_command(struct cli *cli, int argc, char **argv, const char *usage, int nargs,
                             struct registry_opts *opts, int *code)
{
	enum { OPT_TLS = 256, OPT_AUTHFILE, OPT_MAX_SIZE };
	static const struct option push_options[] = {
	    {"tls-verify", optional_argument, NULL, OPT_TLS},
	    {"authfile", required_argument, NULL, OPT_AUTHFILE},
	    {"help", no_argument, NULL, 'h'},
	    {},
	};
	static const struct option pull_options[] = {
	    {"tls-verify", optional_argument, NULL, OPT_TLS},
	    {"authfile", required_argument, NULL, OPT_AUTHFILE},
	    {"max-size", required_argument, NULL, OPT_MAX_SIZE},
	    {"help", no_argument, NULL, 'h'},
	    {},
	};
	const bool pull = nargs == 1;
	const struct option *options = pull ? pull_options : push_options;
	int c;
	*code = 0;
	opts->tls_verify = true;
	cli_getopt_reset();
	while ((c = cli_getopt(cli, argc, argv, "h", options, code)) != -1) {
		switch (c) {
		case OPT_TLS:
			if (!optarg || strcmp(optarg, "true") == 0)
				opts->tls_verify = true;
			else if (strcmp(optarg, "false") == 0)
				opts->tls_verify = false;
			else {
				*code = cli_usage_error(cli, "invalid --tls-verify `%s`: use true or false",
				                        optarg);
				return false;
			}
			break;
		case OPT_AUTHFILE:
			opts->authfile = optarg;
			break;
		case OPT_MAX_SIZE:
			if (config_parse_size(optarg, &opts->max_size) < 0 || opts->max_size == 0) {
				*code = cli_usage_error(cli,
				                        "invalid --max-size `%s`: a number of bytes above 0, "
				                        "with an optional K, M, G or T suffix",
				                        optarg);
				return false;
			}
			break;
		case 'h':
			printf("%s%s%s", usage, registry_usage, pull ? pull_usage : "");
			*code = 0;
			return false;
		default:
			return false;
		}
	}
	if (argc - optind != nargs) {
		*code = cli_usage_error(cli, "expected %d argument%s, got %d", nargs, nargs == 1 ? "" : "s",
		                        argc - optind);
		return false;
	}
	return true;
}

int cmd_image_push(struct cli *cli, int argc, char **argv)
{
	static const char usage[] =
	    "Usage: cryo image push [OPTIONS] IMAGE [docker://]DESTINATION\n\n"
	    "Push an image to a registry, through skopeo: e.g. `cryo image push ck:1\n"
	    "registry.example/team/ck:1`. A checkpoint image (`cryo checkpoint\n"
	    "--create-image`) goes as it is stored; an ordinary image as the registry\n"
	    "blobs it keeps (those it was loaded or pulled as, or made from its tarball\n"
	    "at import). Every blob is checked against its digest before it goes, and\n"
	    "the image keeps its ID.\n\n"
	    "Options:\n";
	struct registry_opts opts = {0};
	struct cryo_engine *engine;
	cleanup_error cryo_err err = NULL;
	int code = 0;
	if (!registry_command(cli, argc, argv, usage, 2, &opts, &code))
		return code;
	if (cli_engine(cli, &engine) < 0)
		return EXIT_ENGINE;
	if (registry_push(engine, argv[optind], argv[optind + 1], &opts, &err) < 0)
		return cli_fail(&err);
	return 0;
}

int cmd_image_pull(struct cli *cli, int argc, char **argv)
{
	static const char usage[] =
	    "Usage: cryo image pull [OPTIONS] [docker://]REFERENCE\n\n"
	    "Pull an image from a registry, through skopeo, and print its ID. An ordinary\n"
	    "image is stored like `cryo image load`; a checkpoint image (one with the\n"
	    "checkpoint annotations) as a checkpoint image, for `cryo restore IMAGE`.\n"
	    "The image is named after the reference: `localhost:5000/app:1`.\n\n"
	    "Options:\n";
	struct registry_opts opts = {0};
	struct cryo_engine *engine;
	cleanup_error cryo_err err = NULL;
	cleanup_free char *id = NULL;
	int code = 0;
	if (!registry_command(cli, argc, argv, usage, 1, &opts, &code))
		return code;
	if (cli_engine(cli, &engine) < 0)
		return EXIT_ENGINE;
	if (registry_pull(engine, argv[optind], &opts, &id, NULL, NULL, &err) < 0)
		return cli_fail(&err);
	printf("%s\n", id);
	return 0;
}
