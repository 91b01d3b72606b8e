/* Unit tests for the freezer: parsing /proc/PID/cgroup (pure), and freezing a
 * real process in a real cgroup of each kind this host offers (as root). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include <cmocka.h>

#include "freezer.h"
#include "util.h"

static const char hybrid_text[] = "12:freezer:/cryo/abc\n"
				  "11:cpu,cpuacct:/cryo/abc\n"
				  "1:name=systemd:/user.slice\n"
				  "0::/cryo/abc\n";

static void parse_v1_freezer(void **state)
{
	(void)state;
	cleanup_free char *d = freezer_dir_from_proc_cgroup(hybrid_text, FREEZER_V1, CGROUP_MODE_HYBRID, "/sys/fs/cgroup");
	assert_string_equal(d, "/sys/fs/cgroup/freezer/cryo/abc");
}

static void parse_v2_hybrid_and_pure(void **state)
{
	(void)state;
	cleanup_free char *h = freezer_dir_from_proc_cgroup(hybrid_text, FREEZER_V2, CGROUP_MODE_HYBRID, "/sys/fs/cgroup");
	assert_string_equal(h, "/sys/fs/cgroup/unified/cryo/abc");
	cleanup_free char *p = freezer_dir_from_proc_cgroup("0::/machine/x\n", FREEZER_V2, CGROUP_MODE_V2, "/sys/fs/cgroup");
	assert_string_equal(p, "/sys/fs/cgroup/machine/x");
}

static void parse_missing(void **state)
{
	(void)state;
	assert_null(freezer_dir_from_proc_cgroup("11:cpu:/x\n", FREEZER_V1, CGROUP_MODE_V1, "/sys/fs/cgroup"));
	assert_null(freezer_dir_from_proc_cgroup("garbage", FREEZER_V2, CGROUP_MODE_V2, "/sys/fs/cgroup"));
	/* a controller whose name merely contains "freezer" is not the freezer */
	assert_null(freezer_dir_from_proc_cgroup("3:notfreezer:/x\n", FREEZER_V1, CGROUP_MODE_V1, "/sys/fs/cgroup"));
}

/* A child that increments a counter in shared memory as fast as it can. */
static volatile unsigned long *shared_counter;

static pid_t spawn_counter(void)
{
	pid_t pid = fork();
	if (pid == 0) {
		for (;;)
			(*shared_counter)++;
	}
	return pid;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {0, ms * 1000000L};
	nanosleep(&ts, NULL);
}

/* Freeze must stop the task (the counter stops moving) and thaw must resume
 * it. The negative control is built in: before freezing, the counter moves. */
static void freeze_real_cgroup(enum freezer_kind kind, const char *parent)
{
	struct stat st;
	if (stat(parent, &st) < 0) {
		skip();
		return;
	}
	cleanup_free char *dir = xasprintf("%s/cryo-unit-%d", parent, (int)getpid());
	assert_int_equal(mkdir(dir, 0755), 0);
	pid_t child = spawn_counter();
	assert_true(child > 0);
	cleanup_free char *procs = xasprintf("%s/cgroup.procs", dir);
	char pidtxt[32];
	snprintf(pidtxt, sizeof(pidtxt), "%d", (int)child);
	assert_int_equal(write_file(procs, pidtxt, strlen(pidtxt), 0644, NULL), 0);

	struct freezer f;
	freezer_init(&f, kind, dir);
	cryo_err err = NULL;
	unsigned long a = *shared_counter;
	sleep_ms(20);
	assert_true(*shared_counter != a); /* running */

	assert_int_equal(freezer_freeze(&f, 5 * 1000000, &err), 0);
	bool frozen = false;
	assert_int_equal(freezer_is_frozen(&f, &frozen, &err), 0);
	assert_true(frozen);
	unsigned long b = *shared_counter;
	sleep_ms(50);
	assert_int_equal(*shared_counter, b); /* frozen: no progress */

	assert_int_equal(freezer_thaw(&f, &err), 0);
	sleep_ms(20);
	assert_true(*shared_counter != b); /* running again */
	assert_int_equal(freezer_is_frozen(&f, &frozen, &err), 0);
	assert_false(frozen);

	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	rmdir(dir);
	freezer_release(&f);
}

static void freeze_v1(void **state)
{
	(void)state;
	freeze_real_cgroup(FREEZER_V1, "/sys/fs/cgroup/freezer");
}

static void freeze_v2(void **state)
{
	(void)state;
	/* Hybrid hosts have the v2 hierarchy at /sys/fs/cgroup/unified. */
	struct stat st;
	freeze_real_cgroup(FREEZER_V2, stat("/sys/fs/cgroup/unified", &st) == 0 ? "/sys/fs/cgroup/unified" : "/sys/fs/cgroup");
}

static void freeze_missing_cgroup_fails(void **state)
{
	(void)state;
	struct freezer f;
	freezer_init(&f, FREEZER_V1, "/sys/fs/cgroup/freezer/does-not-exist-cryo");
	cryo_err err = NULL;
	assert_true(freezer_freeze(&f, 100000, &err) < 0);
	assert_non_null(strstr(err->msg, "freeze cgroup `/sys/fs/cgroup/freezer/does-not-exist-cryo`"));
	cryo_error_free(&err);
	freezer_release(&f);
}

int main(void)
{
	shared_counter = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parse_v1_freezer),	cmocka_unit_test(parse_v2_hybrid_and_pure),
		cmocka_unit_test(parse_missing),	cmocka_unit_test(freeze_v1),
		cmocka_unit_test(freeze_v2),		cmocka_unit_test(freeze_missing_cgroup_fails),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
