/* Unit tests for the CRIU module's pure parts and the host facts: statistics
 * images, error-line extraction, versions, the probe cache, cgroup decisions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "criu.h"
#include "criu_opts.h"
#include "criu_stats.pb-c.h"
#include "hostinfo.h"
#include "hwbp.h"
#include "probe_cache.h"
#include "runtime_info.h"
#include "util.h"

static char *tmp_dir;

static int make_tmp(void **state)
{
	(void)state;
	tmp_dir = xstrdup("/tmp/cryo-test-criu.XXXXXX");
	return mkdtemp(tmp_dir) ? 0 : -1;
}

static int remove_tmp(void **state)
{
	(void)state;
	cryo_err err = NULL;
	int r = rm_rf(tmp_dir, &err);
	cryo_error_free(&err);
	free(tmp_dir);
	return r;
}

static char *tmp_path(const char *name)
{
	return xasprintf("%s/%s", tmp_dir, name);
}

static void put_le32(unsigned char *p, uint32_t v)
{
	p[0] = v & 0xff;
	p[1] = (v >> 8) & 0xff;
	p[2] = (v >> 16) & 0xff;
	p[3] = (v >> 24) & 0xff;
}

/* A stats image as CRIU writes one: service magic, stats magic, length, entry. */
static char *write_stats_image(const char *name, const StatsEntry *entry, bool service_magic)
{
	size_t size = stats_entry__get_packed_size(entry);
	unsigned char *buf = xmalloc(12 + size);
	size_t off = 0;
	if (service_magic) {
		put_le32(buf, 0x55105940);
		off = 4;
	}
	put_le32(buf + off, 0x57093306);
	put_le32(buf + off + 4, (uint32_t)size);
	stats_entry__pack(entry, buf + off + 8);
	char *path = tmp_path(name);
	cryo_err err = NULL;
	assert_int_equal(write_file(path, buf, off + 8 + size, 0600, &err), 0);
	free(buf);
	return path;
}

static void stats_dump_from_packed_entry(void **state)
{
	(void)state;
	StatsEntry entry = STATS_ENTRY__INIT;
	DumpStatsEntry dump = DUMP_STATS_ENTRY__INIT;
	dump.freezing_time = 1200;
	dump.frozen_time = 34567;
	dump.memdump_time = 890;
	dump.memwrite_time = 4321;
	dump.pages_scanned = 5000000000ULL; /* beyond 32 bits */
	dump.pages_written = 77;
	dump.has_page_pipes = true;
	dump.page_pipes = 3;
	entry.dump = &dump;
	cleanup_free char *path = write_stats_image("stats-dump", &entry, true);

	struct criu_dump_stats st;
	cryo_err err = NULL;
	assert_int_equal(criu_stats_read_dump(path, &st, &err), 0);
	assert_int_equal(st.freezing_time, 1200);
	assert_int_equal(st.frozen_time, 34567);
	assert_int_equal(st.memdump_time, 890);
	assert_int_equal(st.memwrite_time, 4321);
	assert_true(st.pages_scanned == 5000000000ULL);
	assert_int_equal(st.pages_written, 77);

	/* A dump image holds no restore statistics. */
	struct criu_restore_stats rs;
	assert_true(criu_stats_read_restore(path, &rs, &err) < 0);
	assert_non_null(strstr(err->msg, "no restore statistics"));
	cryo_error_free(&err);
}

static void stats_restore_from_packed_entry(void **state)
{
	(void)state;
	StatsEntry entry = STATS_ENTRY__INIT;
	RestoreStatsEntry restore = RESTORE_STATS_ENTRY__INIT;
	restore.forking_time = 11;
	restore.restore_time = 9341;
	restore.has_pages_restored = true;
	restore.pages_restored = 30;
	entry.restore = &restore;
	cleanup_free char *path = write_stats_image("stats-restore", &entry, true);

	struct criu_restore_stats st;
	cryo_err err = NULL;
	assert_int_equal(criu_stats_read_restore(path, &st, &err), 0);
	assert_int_equal(st.forking_time, 11);
	assert_int_equal(st.restore_time, 9341);
	assert_int_equal(st.pages_restored, 30);
}

/* Bytes of a real stats-dump and stats-restore written by CRIU 4.1.1 for a
 * one-process `sleep` (criu dump / criu restore with CRIU_FAULT=130). */
static const unsigned char real_stats_dump[] = {
    0x40, 0x59, 0x10, 0x55, 0x06, 0x33, 0x09, 0x57, 0x21, 0x00, 0x00, 0x00, 0x0a, 0x1f, 0x08,
    0xce, 0x02, 0x10, 0xe8, 0x62, 0x18, 0xdf, 0x04, 0x20, 0x7d, 0x28, 0x39, 0x30, 0x00, 0x38,
    0x1e, 0x40, 0x00, 0x48, 0x00, 0x50, 0x06, 0x58, 0x06, 0x60, 0x00, 0x68, 0x00, 0x70, 0x00,
};
static const unsigned char real_stats_restore[] = {
    0x40, 0x59, 0x10, 0x55, 0x06, 0x33, 0x09, 0x57, 0x0d, 0x00, 0x00, 0x00, 0x12,
    0x0b, 0x08, 0x00, 0x10, 0x00, 0x18, 0x01, 0x20, 0xfd, 0x48, 0x28, 0x1e,
};

static void stats_from_real_criu_files(void **state)
{
	(void)state;
	cleanup_free char *dump_path = tmp_path("real-stats-dump");
	cleanup_free char *restore_path = tmp_path("real-stats-restore");
	cryo_err err = NULL;
	assert_int_equal(write_file(dump_path, real_stats_dump, sizeof(real_stats_dump), 0600, &err), 0);
	assert_int_equal(write_file(restore_path, real_stats_restore, sizeof(real_stats_restore), 0600, &err),
	                 0);

	struct criu_dump_stats d;
	assert_int_equal(criu_stats_read_dump(dump_path, &d, &err), 0);
	assert_int_equal(d.freezing_time, 334);
	assert_int_equal(d.frozen_time, 12648);
	assert_int_equal(d.memdump_time, 607);
	assert_int_equal(d.memwrite_time, 125);
	assert_int_equal(d.pages_scanned, 57);
	assert_int_equal(d.pages_written, 30);

	struct criu_restore_stats r;
	assert_int_equal(criu_stats_read_restore(restore_path, &r, &err), 0);
	assert_int_equal(r.forking_time, 1);
	assert_int_equal(r.restore_time, 9341);
	assert_int_equal(r.pages_restored, 30);
}

static void stats_rejects_bad_files(void **state)
{
	(void)state;
	cryo_err err = NULL;
	struct criu_dump_stats d;
	cleanup_free char *missing = tmp_path("no-such-stats");
	assert_true(criu_stats_read_dump(missing, &d, &err) < 0);
	assert_int_equal(err->errnum, ENOENT);
	cryo_error_free(&err);

	/* The inventory's magic, not the stats magic. */
	unsigned char bad_magic[16] = {0x40, 0x59, 0x10, 0x55, 0x12, 0x34, 0x56, 0x78, 0x00};
	cleanup_free char *p1 = tmp_path("bad-magic");
	assert_int_equal(write_file(p1, bad_magic, sizeof(bad_magic), 0600, &err), 0);
	assert_true(criu_stats_read_dump(p1, &d, &err) < 0);
	assert_non_null(strstr(err->msg, "bad magic"));
	cryo_error_free(&err);

	/* A length beyond the end of the file. */
	unsigned char truncated[sizeof(real_stats_dump) - 5];
	memcpy(truncated, real_stats_dump, sizeof(truncated));
	cleanup_free char *p2 = tmp_path("truncated");
	assert_int_equal(write_file(p2, truncated, sizeof(truncated), 0600, &err), 0);
	assert_true(criu_stats_read_dump(p2, &d, &err) < 0);
	assert_non_null(strstr(err->msg, "does not fit"));
	cryo_error_free(&err);

	/* Right header, junk payload. */
	unsigned char junk[] = {0x40, 0x59, 0x10, 0x55, 0x06, 0x33, 0x09, 0x57,
	                        0x03, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff};
	cleanup_free char *p3 = tmp_path("junk");
	assert_int_equal(write_file(p3, junk, sizeof(junk), 0600, &err), 0);
	assert_true(criu_stats_read_dump(p3, &d, &err) < 0);
	assert_non_null(strstr(err->msg, "malformed"));
	cryo_error_free(&err);
}

static void stats_without_service_magic(void **state)
{
	(void)state;
	StatsEntry entry = STATS_ENTRY__INIT;
	DumpStatsEntry dump = DUMP_STATS_ENTRY__INIT;
	dump.frozen_time = 42;
	entry.dump = &dump;
	cleanup_free char *path = write_stats_image("stats-dump-old", &entry, false);
	struct criu_dump_stats st;
	cryo_err err = NULL;
	assert_int_equal(criu_stats_read_dump(path, &st, &err), 0);
	assert_int_equal(st.frozen_time, 42);
}

static void log_error_lines(void **state)
{
	(void)state;
	static const char log[] = "(00.000000) Version: 4.1.1\n"
	                          "Error (criu/util.c:1533): rlimit: Can't setup RLIMIT_NOFILE for self\n"
	                          "(00.010000) Warn (criu/x.c:1): a warning\n"
	                          "(00.020000) Error (criu/a.c:1): first\n"
	                          "(00.030000) Error (criu/b.c:2): second\n"
	                          "(00.040000) Error (criu/c.c:3): third\n"
	                          "(00.050000) Dumping finished with Errors\n"
	                          "Error: plain at start";
	cleanup_free char *path = tmp_path("dump.log");
	cryo_err err = NULL;
	assert_int_equal(write_file(path, log, strlen(log), 0600, &err), 0);

	cleanup_free char *last2 = criu_log_errors(path, 2);
	assert_string_equal(last2, "(00.040000) Error (criu/c.c:3): third\nError: plain at start");
	cleanup_free char *all = criu_log_errors(path, 100);
	assert_string_equal(all, "Error (criu/util.c:1533): rlimit: Can't setup RLIMIT_NOFILE for self\n"
	                         "(00.020000) Error (criu/a.c:1): first\n"
	                         "(00.030000) Error (criu/b.c:2): second\n"
	                         "(00.040000) Error (criu/c.c:3): third\n"
	                         "Error: plain at start");
	/* "Errors" in the middle of a line is not one of CRIU's error lines. */
	assert_null(strstr(all, "finished with"));

	static const char clean[] = "(00.000000) Version: 4.1.1\n(00.1) Dumping finished successfully\n";
	cleanup_free char *clean_path = tmp_path("clean.log");
	assert_int_equal(write_file(clean_path, clean, strlen(clean), 0600, &err), 0);
	assert_null(criu_log_errors(clean_path, 10));
	cleanup_free char *missing = tmp_path("missing.log");
	assert_null(criu_log_errors(missing, 10));
	assert_null(criu_log_errors(path, 0));
}

static void versions(void **state)
{
	(void)state;
	cryo_err err = NULL;
	char *v = NULL;
	assert_int_equal(criu_parse_version("Version: 4.1.1\nGitID: v4.1.1\n", &v, &err), 0);
	assert_string_equal(v, "4.1.1");
	free(v);
	assert_int_equal(criu_parse_version("Version: 3.17.1\n", &v, &err), 0);
	assert_string_equal(v, "3.17.1");
	free(v);
	assert_true(criu_parse_version("criu: unknown option\n", &v, &err) < 0);
	cryo_error_free(&err);

	assert_true(criu_version_compare("4.1.1", "4.0") > 0);
	assert_true(criu_version_compare("4.0", "4.0") == 0);
	assert_true(criu_version_compare("4", "4.0") == 0);
	assert_true(criu_version_compare("3.17.1", "4.0") < 0);
	assert_true(criu_version_compare("4.10", "4.9") > 0); /* numeric, not lexical */
	assert_true(criu_version_compare("10.0", "9.99") > 0);

	assert_int_equal(criu_check_min_version("4.1.1", &err), 0);
	assert_int_equal(criu_check_min_version("4.0", &err), 0);
	assert_true(criu_check_min_version("3.17.1", &err) < 0);
	assert_non_null(strstr(err->msg, "CRIU 3.17.1 is too old"));
	assert_non_null(strstr(err->msg, ">= 4.0"));
	cryo_error_free(&err);
}

static void probe_cache_keying(void **state)
{
	(void)state;
	cleanup_free char *file = tmp_path("host-probe.json");
	cryo_err err = NULL;
	struct json_object *v = json_object_new_object();
	json_object_object_add(v, "version", json_object_new_string("4.1.1"));
	assert_int_equal(probe_cache_put_at(file, "boot-A", "criu", "/x/criu:1:2", v, &err), 0);
	json_object_put(v);
	v = json_object_new_object();
	json_object_object_add(v, "status", json_object_new_string("no-fire"));
	assert_int_equal(probe_cache_put_at(file, "boot-A", "hardware_breakpoints", NULL, v, &err), 0);
	json_object_put(v);

	/* Same boot, same key: both sections survive each other's writes. */
	struct json_object *got = probe_cache_get_at(file, "boot-A", "criu", "/x/criu:1:2"), *field;
	assert_non_null(got);
	assert_true(json_object_object_get_ex(got, "version", &field));
	assert_string_equal(json_object_get_string(field), "4.1.1");
	json_object_put(got);
	got = probe_cache_get_at(file, "boot-A", "hardware_breakpoints", NULL);
	assert_non_null(got);
	json_object_put(got);

	/* A replaced binary (other mtime or size) or another boot misses. */
	assert_null(probe_cache_get_at(file, "boot-A", "criu", "/x/criu:3:2"));
	assert_null(probe_cache_get_at(file, "boot-B", "criu", "/x/criu:1:2"));
	assert_null(probe_cache_get_at(file, "boot-B", "hardware_breakpoints", NULL));
	assert_null(probe_cache_get_at(file, "boot-A", "runtime", NULL));

	/* Writing in a new boot starts a fresh cache: nothing of the old boot stays. */
	v = json_object_new_object();
	assert_int_equal(probe_cache_put_at(file, "boot-B", "runtime", "rt", v, &err), 0);
	json_object_put(v);
	assert_null(probe_cache_get_at(file, "boot-B", "criu", "/x/criu:1:2"));
	assert_null(probe_cache_get_at(file, "boot-A", "runtime", "rt"));
	got = probe_cache_get_at(file, "boot-B", "runtime", "rt");
	assert_non_null(got);
	json_object_put(got);

	/* Junk in the file is a miss, not an error. */
	assert_int_equal(write_file(file, "{not json", 9, 0600, &err), 0);
	assert_null(probe_cache_get_at(file, "boot-B", "runtime", "rt"));
}

static void fingerprint_changes_with_file(void **state)
{
	(void)state;
	cleanup_free char *file = tmp_path("binary");
	cryo_err err = NULL;
	assert_int_equal(write_file(file, "abc", 3, 0700, &err), 0);
	cleanup_free char *a = probe_cache_fingerprint(file);
	assert_non_null(a);
	assert_true(str_has_prefix(a, file));
	assert_true(str_has_suffix(a, ":3"));
	assert_int_equal(write_file(file, "abcd", 4, 0700, &err), 0);
	cleanup_free char *b = probe_cache_fingerprint(file);
	assert_string_not_equal(a, b);
	cleanup_free char *missing = tmp_path("no-binary");
	assert_null(probe_cache_fingerprint(missing));
}

static void cgroup_decisions(void **state)
{
	(void)state;
	assert_int_equal(hostinfo_cgroup_mode_from_fs(0x63677270 /* CGROUP2_SUPER_MAGIC */, false),
	                 CGROUP_MODE_V2);
	assert_int_equal(hostinfo_cgroup_mode_from_fs(0x63677270, true), CGROUP_MODE_V2);
	assert_int_equal(hostinfo_cgroup_mode_from_fs(0x01021994 /* TMPFS_MAGIC */, true),
	                 CGROUP_MODE_HYBRID);
	assert_int_equal(hostinfo_cgroup_mode_from_fs(0x01021994, false), CGROUP_MODE_V1);

	assert_int_equal(hostinfo_freezer_kind_from(CGROUP_MODE_V2, true), FREEZER_V2);
	assert_int_equal(hostinfo_freezer_kind_from(CGROUP_MODE_V2, false), FREEZER_V2);
	assert_int_equal(hostinfo_freezer_kind_from(CGROUP_MODE_HYBRID, true), FREEZER_V1);
	assert_int_equal(hostinfo_freezer_kind_from(CGROUP_MODE_V1, true), FREEZER_V1);
	assert_int_equal(hostinfo_freezer_kind_from(CGROUP_MODE_HYBRID, false), FREEZER_NONE);

	assert_string_equal(cgroup_mode_name(CGROUP_MODE_HYBRID), "hybrid");
	assert_string_equal(freezer_kind_name(FREEZER_V1), "freezer.state");
	assert_string_equal(freezer_kind_name(FREEZER_V2), "cgroup.freeze");
}

/* A plain directory with "unified" and "freezer" subdirectories that are not
 * cgroup file systems: a v1 layout without a freezer. */
static void cgroup_fake_root(void **state)
{
	(void)state;
	cleanup_free char *root = tmp_path("cgroup");
	cleanup_free char *unified = tmp_path("cgroup/unified");
	cleanup_free char *freezer = tmp_path("cgroup/freezer");
	cryo_err err = NULL;
	assert_int_equal(mkdir_p(unified, 0700, &err), 0);
	assert_int_equal(mkdir_p(freezer, 0700, &err), 0);
	enum cgroup_mode mode = CGROUP_MODE_V2;
	assert_int_equal(hostinfo_cgroup_mode_at(root, &mode, &err), 0);
	assert_int_equal(mode, CGROUP_MODE_V1);
	assert_int_equal(hostinfo_freezer_kind_at(root, mode), FREEZER_NONE);

	cleanup_free char *missing = tmp_path("no-cgroup");
	assert_true(hostinfo_cgroup_mode_at(missing, &mode, &err) < 0);
	assert_non_null(strstr(err->msg, missing));
	cryo_error_free(&err);
}

/* Controllers: on v2 the words of the root's cgroup.controllers (a word,
 * never a prefix of one); on v1 a mounted hierarchy, which a plain directory
 * is not. */
static void cgroup_controllers(void **state)
{
	(void)state;
	cleanup_free char *root = tmp_path("ctl");
	cleanup_free char *file = tmp_path("ctl/cgroup.controllers");
	cleanup_free char *memory = tmp_path("ctl/memory");
	assert_int_equal(mkdir_p(memory, 0700, NULL), 0);
	assert_false(hostinfo_cgroup_controller_at(root, CGROUP_MODE_V2, "pids")); /* no file */
	assert_int_equal(write_file(file, "cpuset cpu io memory pids_x\n", 28, 0600, NULL), 0);
	assert_true(hostinfo_cgroup_controller_at(root, CGROUP_MODE_V2, "memory"));
	assert_true(hostinfo_cgroup_controller_at(root, CGROUP_MODE_V2, "cpuset"));
	assert_false(hostinfo_cgroup_controller_at(root, CGROUP_MODE_V2, "pids"));
	assert_false(hostinfo_cgroup_controller_at(root, CGROUP_MODE_V2, "mem"));
	assert_false(hostinfo_cgroup_controller_at(root, CGROUP_MODE_V1, "memory"));
	assert_false(hostinfo_cgroup_controller_at(root, CGROUP_MODE_HYBRID, "memory"));
}

static void hwbp_names(void **state)
{
	(void)state;
	enum hwbp_status st;
	assert_true(hwbp_status_parse("no-fire", &st));
	assert_int_equal(st, HWBP_NO_FIRE);
	assert_true(hwbp_status_parse("fire", &st));
	assert_int_equal(st, HWBP_FIRE);
	assert_false(hwbp_status_parse("maybe", &st));
	assert_false(hwbp_fires(HWBP_NO_FIRE));
	assert_true(hwbp_fires(HWBP_FIRE));
	assert_true(hwbp_fires(HWBP_UNKNOWN));
}

/* criu.stepping: forced modes ignore the probe; "auto" follows it, and an
 * architecture the probe cannot judge keeps CRIU's default. */
static void stepping_decisions(void **state)
{
	(void)state;
	const enum hwbp_status all[] = {HWBP_FIRE, HWBP_NO_FIRE, HWBP_UNKNOWN};
	for (size_t i = 0; i < ARRAY_SIZE(all); i++) {
		assert_int_equal(criu_stepping_for("syscall", all[i]), CRIU_STEPPING_SYSCALL);
		assert_int_equal(criu_stepping_for("breakpoints", all[i]), CRIU_STEPPING_BREAKPOINTS);
	}
	assert_int_equal(criu_stepping_for("auto", HWBP_FIRE), CRIU_STEPPING_BREAKPOINTS);
	assert_int_equal(criu_stepping_for("auto", HWBP_NO_FIRE), CRIU_STEPPING_SYSCALL);
	assert_int_equal(criu_stepping_for("auto", HWBP_UNKNOWN), CRIU_STEPPING_BREAKPOINTS);
	assert_string_equal(criu_stepping_name(CRIU_STEPPING_SYSCALL), "syscall");
	assert_string_equal(criu_stepping_name(CRIU_STEPPING_BREAKPOINTS), "breakpoints");
}

/* CRIU_FAULT follows the mode alone; the warning only for breakpoints forced
 * where the probe says they do not fire. */
static void stepping_fault_and_warning(void **state)
{
	(void)state;
	assert_string_equal(criu_stepping_fault(CRIU_STEPPING_SYSCALL), "130");
	assert_null(criu_stepping_fault(CRIU_STEPPING_BREAKPOINTS));
	struct hwbp_result no_fire = {HWBP_NO_FIRE, HWBP_SOURCE_PROBE};
	struct hwbp_result fire = {HWBP_FIRE, HWBP_SOURCE_PROBE};
	struct hwbp_result unknown = {HWBP_UNKNOWN, HWBP_SOURCE_PROBE};
	struct criu_stepping_choice breakpoints = {.mode = CRIU_STEPPING_BREAKPOINTS,
	                                           .setting = "breakpoints"};
	struct criu_stepping_choice syscall = {.mode = CRIU_STEPPING_SYSCALL, .setting = "auto"};
	const char *w = criu_stepping_warning(&breakpoints, &no_fire);
	assert_non_null(w);
	assert_non_null(strstr(w, "every CRIU dump will hang"));
	assert_null(criu_stepping_warning(&breakpoints, &fire));
	assert_null(criu_stepping_warning(&breakpoints, &unknown));
	assert_null(criu_stepping_warning(&breakpoints, NULL));
	assert_null(criu_stepping_warning(&syscall, &no_fire));
}

static void stepping_reasons(void **state)
{
	(void)state;
	struct hwbp_result no_fire = {HWBP_NO_FIRE, HWBP_SOURCE_CACHE};
	struct hwbp_result fire = {HWBP_FIRE, HWBP_SOURCE_PROBE};
	struct hwbp_result unknown = {HWBP_UNKNOWN, HWBP_SOURCE_PROBE};

	cleanup_free char *forced = criu_stepping_reason("syscall", "/etc/cryo/cryo.conf", NULL);
	assert_string_equal(forced, "criu.stepping = \"syscall\" in `/etc/cryo/cryo.conf`: every CRIU run "
	                            "gets CRIU_FAULT=130");
	cleanup_free char *bp = criu_stepping_reason("breakpoints", "/x.conf", NULL);
	assert_non_null(strstr(bp, "criu.stepping = \"breakpoints\" in `/x.conf`"));
	cleanup_free char *auto_no = criu_stepping_reason("auto", NULL, &no_fire);
	assert_non_null(strstr(auto_no, "\"auto\" (the default)"));
	assert_non_null(strstr(auto_no, "do not fire on this machine (probed earlier this boot)"));
	assert_non_null(strstr(auto_no, "CRIU_FAULT=130"));
	cleanup_free char *auto_yes = criu_stepping_reason("auto", "/c", &fire);
	assert_non_null(strstr(auto_yes, "\"auto\" in `/c`"));
	assert_non_null(strstr(auto_yes, "fire on this machine (probed now): CRIU's default"));
	cleanup_free char *auto_unknown = criu_stepping_reason("auto", NULL, &unknown);
	assert_non_null(strstr(auto_unknown, "cannot tell"));
}

static void runtime_names(void **state)
{
	(void)state;
	cleanup_free char *runc = runtime_info_parse_name("runc version 1.1.5+ds1\ncommit: x\n");
	assert_string_equal(runc, "runc");
	cleanup_free char *crun =
	    runtime_info_parse_name("crun version 1.8.1\ncommit: y\n+SYSTEMD +SELINUX\n");
	assert_string_equal(crun, "crun");
	assert_null(runtime_info_parse_name("Usage: foo\n"));
	assert_null(runtime_info_parse_name(""));
}

/* A lazy dump's page server listens on the address given, never on all:
 * CRIU ignores runc's address in lazy mode, so it goes in the config file. */
static void config_lines_lazy_address(void **state)
{
	(void)state;
	struct criu_opts o = {.lazy_pages = true, .page_server = "10.1.2.3:4567"};
	char *l = criu_opts_config_lines(&o);
	assert_string_equal(l, "address 10.1.2.3\n");
	free(l);
	o.page_server = "[fd00::1]:80";
	o.tcp_close = true;
	l = criu_opts_config_lines(&o);
	assert_string_equal(l, "tcp-close\naddress fd00::1\n");
	free(l);
	/* not lazy, or no page server: no address line */
	o.lazy_pages = false;
	l = criu_opts_config_lines(&o);
	assert_string_equal(l, "tcp-close\n");
	free(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(stats_dump_from_packed_entry),
	    cmocka_unit_test(stats_restore_from_packed_entry),
	    cmocka_unit_test(stats_from_real_criu_files),
	    cmocka_unit_test(stats_rejects_bad_files),
	    cmocka_unit_test(stats_without_service_magic),
	    cmocka_unit_test(log_error_lines),
	    cmocka_unit_test(versions),
	    cmocka_unit_test(probe_cache_keying),
	    cmocka_unit_test(cgroup_controllers),
	    cmocka_unit_test(fingerprint_changes_with_file),
	    cmocka_unit_test(cgroup_decisions),
	    cmocka_unit_test(cgroup_fake_root),
	    cmocka_unit_test(hwbp_names),
	    cmocka_unit_test(stepping_decisions),
	    cmocka_unit_test(stepping_fault_and_warning),
	    cmocka_unit_test(stepping_reasons),
	    cmocka_unit_test(runtime_names),
	    cmocka_unit_test(config_lines_lazy_address),
	};
	return cmocka_run_group_tests(tests, make_tmp, remove_tmp);
}
