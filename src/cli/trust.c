/* cryo key show, cryo trust add / ls / rm: the keys that sign and verify
 * checkpoint archives (src/lib/checkpoint/trust.h, docs/trust.md). */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "trust.h"
#include "util.h"

/* A public key file is one line; a PEM key a few hundred bytes. */
#define PUBLIC_KEY_MAX (64 << 10)

static int parse_no_options(struct cli *cli, int argc, char **argv, const char *usage)
{
	static const struct option longopts[] = {{"help", no_argument, NULL, 'h'}, {}};
	int c, code = 0;
	cli_getopt_reset();
	while ((c = cli_getopt(cli, argc, argv, "h", longopts, &code)) != -1) {
		if (c == 'h') {
			printf("%s", usage);
			return 0;
		}
		return code;
	}
	return -1;
}

int cmd_key_show(struct cli *cli, int argc, char **argv)
{
	static const char usage[] = "Usage: cryo key show\n\n"
	                            "Prints this engine's public key (made on first use), the line another\n"
	                            "host gives to `cryo trust add` to accept this engine's archives.\n";
	struct cryo_engine *engine;
	cleanup_error cryo_err err = NULL;
	struct signing_key *key = NULL;
	int code = parse_no_options(cli, argc, argv, usage);
	if (code >= 0)
		return code;
	if (optind < argc)
		return cli_usage_error(cli, "unexpected argument `%s`", argv[optind]);
	if (cli_engine(cli, &engine) < 0)
		return EXIT_ENGINE;
	if (trust_engine_key(engine, &key, &err) < 0)
		return cli_fail(&err);
	unsigned char pub[TRUST_KEY_LEN];
	signing_key_public(key, pub);
	signing_key_free(key);
	cleanup_free char *comment = trust_engine_comment();
	cleanup_free char *line = trust_public_key_line(pub, comment);
	printf("%s\n", line);
	return 0;
}

static int read_stdin(char **out, cryo_err *err)
{
	cleanup_free char *buf = xmalloc(PUBLIC_KEY_MAX + 1);
	size_t n = fread(buf, 1, PUBLIC_KEY_MAX + 1, stdin);
	if (ferror(stdin))
		return cryo_error_set(err, EIO, "read the key from standard input");
	if (n > PUBLIC_KEY_MAX)
		return cryo_error_plain(err, EFBIG, "standard input: more than %d bytes is not a public key",
		                        PUBLIC_KEY_MAX);
	buf[n] = '\0';
	*out = move_ptr(buf);
	return 0;
}

int cmd_trust_add(struct cli *cli, int argc, char **argv)
{
	static const char usage[] =
	    "Usage: cryo trust add PUBFILE|-\n\n"
	    "Trust archives signed by the key in PUBFILE (or read from standard\n"
	    "input): the line `cryo key show` prints on the exporting host, or a PEM\n"
	    "public key. Check it came from that host: whoever holds its private key\n"
	    "can then make this engine restore anything.\n";
	struct cryo_engine *engine;
	cleanup_error cryo_err err = NULL;
	cleanup_free char *text = NULL, *fingerprint = NULL;
	int code = parse_no_options(cli, argc, argv, usage);
	if (code >= 0)
		return code;
	if (argc - optind != 1)
		return cli_usage_error(cli, "exactly one key file (or - for standard input) is required");
	const char *file = argv[optind];
	if (strcmp(file, "-") == 0 ? read_stdin(&text, &err) < 0
	                           : read_file_bounded(file, PUBLIC_KEY_MAX, &text, NULL, &err) < 0)
		return cli_fail(&err);
	if (cli_engine(cli, &engine) < 0)
		return EXIT_ENGINE;
	if (trust_add(engine, text, &fingerprint, &err) < 0) {
		cryo_error_wrap(&err, "`%s`", file);
		return cli_fail(&err);
	}
	printf("%s\n", fingerprint);
	return 0;
}

int cmd_trust_ls(struct cli *cli, int argc, char **argv)
{
	static const char usage[] = "Usage: cryo trust ls\n\n"
	                            "Lists the keys whose archives this engine restores (besides its own):\n"
	                            "fingerprint and comment.\n";
	struct cryo_engine *engine;
	cleanup_error cryo_err err = NULL;
	struct trusted_keys keys = {0};
	int code = parse_no_options(cli, argc, argv, usage);
	if (code >= 0)
		return code;
	if (optind < argc)
		return cli_usage_error(cli, "unexpected argument `%s`", argv[optind]);
	if (cli_engine(cli, &engine) < 0)
		return EXIT_ENGINE;
	if (trust_list(engine, &keys, &err) < 0)
		return cli_fail(&err);
	printf("%-52s %s\n", "FINGERPRINT", "COMMENT");
	for (size_t i = 0; i < keys.n; i++) {
		cleanup_free char *fp = trust_fingerprint(keys.keys[i].key);
		printf("%-52s %s\n", fp, keys.keys[i].comment);
	}
	trusted_keys_clear(&keys);
	return 0;
}

int cmd_trust_rm(struct cli *cli, int argc, char **argv)
{
	static const char usage[] =
	    "Usage: cryo trust rm FINGERPRINT|COMMENT...\n\n"
	    "Stop trusting keys, named by fingerprint (see `cryo trust ls`) or comment.\n";
	struct cryo_engine *engine;
	int code = parse_no_options(cli, argc, argv, usage);
	if (code >= 0)
		return code;
	if (optind >= argc)
		return cli_usage_error(cli, "name at least one key");
	if (cli_engine(cli, &engine) < 0)
		return EXIT_ENGINE;
	code = 0;
	for (int i = optind; i < argc; i++) {
		cleanup_error cryo_err err = NULL;
		if (trust_remove(engine, argv[i], &err) < 0)
			code = cli_fail(&err);
		else
			printf("%s\n", argv[i]);
	}
	return code;
}
