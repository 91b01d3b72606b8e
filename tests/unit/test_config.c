/* Unit tests for config.c: the engine configuration file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "util.h"

/* Write text to a fresh temporary file; returns its path. */
static char *conf_file(const char *text)
{
	char *path = xstrdup("/tmp/cryo-config-test.XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

static void defaults_without_a_file(void **state)
{
	(void)state;
	struct cryo_config *cfg = config_defaults();
	assert_string_equal(config_string(cfg, "engine.runtime"), "runc");
	assert_null(config_source(cfg));
	config_free(cfg);
}

static void values_comments_and_sections(void **state)
{
	(void)state;
	cleanup_free char *path =
	    conf_file("# a comment\n\n[engine]\n  runtime = \"/opt/runc\"   # trailing\n");
	struct cryo_config *cfg = NULL;
	cryo_err err = NULL;
	assert_int_equal(config_load(path, &cfg, &err), 0);
	assert_string_equal(config_string(cfg, "engine.runtime"), "/opt/runc");
	assert_string_equal(config_source(cfg), path);
	config_free(cfg);
	unlink(path);
}

/* A typo must not silently leave a default in force: the error names the
 * file, the line and the key. */
static void unknown_key_is_an_error_with_its_line(void **state)
{
	(void)state;
	cleanup_free char *path = conf_file("[engine]\n\nruntme = \"crun\"\n");
	struct cryo_config *cfg = NULL;
	cryo_err err = NULL;
	assert_true(config_load(path, &cfg, &err) < 0);
	assert_null(cfg);
	assert_non_null(strstr(err->msg, path));
	assert_non_null(strstr(err->msg, "line 3"));
	assert_non_null(strstr(err->msg, "unknown setting `engine.runtme`"));
	cryo_error_free(&err);
	unlink(path);
}

static void wrong_type_and_bad_syntax(void **state)
{
	(void)state;
	const char *bad[] = {
	    "[engine]\nruntime = runc\n",        /* strings are quoted */
	    "[engine]\nruntime = \"runc\n",      /* unterminated */
	    "[engine]\nruntime = \"a\" extra\n", /* junk after the value */
	    "[engine\nruntime = \"a\"\n",        /* bad section */
	    "engine.runtime\n",                  /* no '=' */
	    "[engine]\n = \"a\"\n",              /* no key */
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		cleanup_free char *path = conf_file(bad[i]);
		struct cryo_config *cfg = NULL;
		cryo_err err = NULL;
		assert_true(config_load(path, &cfg, &err) < 0);
		assert_non_null(err);
		cryo_error_free(&err);
		unlink(path);
	}
}

/* criu.stepping takes only the modes criu.c knows; config_origin tells a
 * value from the file from a default. */
static void criu_stepping_choices_and_origin(void **state)
{
	(void)state;
	struct cryo_config *defaults = config_defaults();
	assert_string_equal(config_string(defaults, "criu.stepping"), "auto");
	assert_null(config_origin(defaults, "criu.stepping"));
	config_free(defaults);

	const char *good[] = {"auto", "breakpoints", "syscall"};
	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		cleanup_free char *text = xasprintf("[criu]\nstepping = \"%s\"\n", good[i]);
		cleanup_free char *path = conf_file(text);
		struct cryo_config *cfg = NULL;
		cryo_err err = NULL;
		assert_int_equal(config_load(path, &cfg, &err), 0);
		assert_string_equal(config_string(cfg, "criu.stepping"), good[i]);
		assert_string_equal(config_origin(cfg, "criu.stepping"), path);
		assert_null(config_origin(cfg, "engine.runtime"));
		config_free(cfg);
		unlink(path);
	}

	cleanup_free char *path = conf_file("[criu]\nstepping = \"no-breakpoints\"\n");
	struct cryo_config *cfg = NULL;
	cryo_err err = NULL;
	assert_true(config_load(path, &cfg, &err) < 0);
	assert_non_null(strstr(err->msg, "line 2"));
	assert_non_null(strstr(err->msg, "must be one of \"auto\", \"breakpoints\", \"syscall\""));
	cryo_error_free(&err);
	unlink(path);
}

static void named_file_must_exist(void **state)
{
	(void)state;
	struct cryo_config *cfg = NULL;
	cryo_err err = NULL;
	assert_int_equal(config_load("/nonexistent/cryo.conf", &cfg, &err), -ENOENT);
	assert_non_null(strstr(err->msg, "/nonexistent/cryo.conf"));
	cryo_error_free(&err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(defaults_without_a_file),
	    cmocka_unit_test(values_comments_and_sections),
	    cmocka_unit_test(unknown_key_is_an_error_with_its_line),
	    cmocka_unit_test(wrong_type_and_bad_syntax),
	    cmocka_unit_test(criu_stepping_choices_and_origin),
	    cmocka_unit_test(named_file_must_exist),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
