/* Unit tests for the freezer: parsing /proc/PID/cgroup (pure), and freezing a
 * real process in a real cgroup of each kind this host offers (as root). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sched.h>
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
	cleanup_free char *d =
	    freezer_dir_from_proc_cgroup(hybrid_text, FREEZER_V1, CGROUP_MODE_HYBRID, "/sys/fs/cgroup");
	assert_string_equal(d, "/sys/fs/cgroup/freezer/cryo/abc");
}

static void parse_v2_hybrid_and_pure(void **state)
{
	(void)state;
	cleanup_free char *h =
	    freezer_dir_from_proc_cgroup(hybrid_text, FREEZER_V2, CGROUP_MODE_HYBRID, "/sys/fs/cgroup");
	assert_string_equal(h, "/sys/fs/cgroup/unified/cryo/abc");
	cleanup_free char *p =
	    freezer_dir_from_proc_cgroup("0::/machine/x\n", FREEZER_V2, CGROUP_MODE_V2, "/sys/fs/cgroup");
	assert_string_equal(p, "/sys/fs/cgroup/machine/x");
}

static void parse_missing(void **state)
{
	(void)state;
	assert_null(
	    freezer_dir_from_proc_cgroup("11:cpu:/x\n", FREEZER_V1, CGROUP_MODE_V1, "/sys/fs/cgroup"));
	assert_null(freezer_dir_from_proc_cgroup("garbage", FREEZER_V2, CGROUP_MODE_V2, "/sys/fs/cgroup"));
	/* a controller whose name merely contains "freezer" is not the freezer */
	assert_null(
	    freezer_dir_from_proc_cgroup("3:notfreezer:/x\n", FREEZER_V1, CGROUP_MODE_V1, "/sys/fs/cgroup"));
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
	freeze_real_cgroup(FREEZER_V2, stat("/sys/fs/cgroup/unified", &st) == 0 ? "/sys/fs/cgroup/unified"
	                                                                        : "/sys/fs/cgroup");
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

static void cgroup_path_of_each_kind(void **state)
{
	(void)state;
	cleanup_free char *v1 = freezer_cgroup_from_proc_cgroup(hybrid_text, FREEZER_V1);
	assert_string_equal(v1, "/cryo/abc");
	cleanup_free char *v2 = freezer_cgroup_from_proc_cgroup(hybrid_text, FREEZER_V2);
	assert_string_equal(v2, "/cryo/abc");
	/* a cgroup name may hold colons and shell syntax: the path is taken whole */
	cleanup_free char *odd =
	    freezer_cgroup_from_proc_cgroup("4:freezer:/cryo/abc/x'$(id)':y\n", FREEZER_V1);
	assert_string_equal(odd, "/cryo/abc/x'$(id)':y");
	assert_null(freezer_cgroup_from_proc_cgroup("4:cpu:/x\n", FREEZER_V1));
}

static void cgroup_beneath(void **state)
{
	(void)state;
	assert_true(freezer_cgroup_is_beneath("/cryo/abc", "/cryo/abc"));
	assert_true(freezer_cgroup_is_beneath("/cryo/abc/sub", "/cryo/abc"));
	assert_true(freezer_cgroup_is_beneath("/cryo/abc/sub", "/cryo/abc/"));
	assert_false(freezer_cgroup_is_beneath("/cryo/abcd", "/cryo/abc"));
	assert_false(freezer_cgroup_is_beneath("/cryo", "/cryo/abc"));
	assert_false(freezer_cgroup_is_beneath("/", "/cryo/abc"));
	assert_true(freezer_cgroup_is_beneath("/anything", "/"));
}

/* The cgroup cryo made for the container, whatever the container says. */
static void freezer_for_the_containers_cgroup(void **state)
{
	(void)state;
	struct freezer f;
	cryo_err err = NULL;
	struct stat st;
	if (stat("/sys/fs/cgroup", &st) < 0) {
		skip();
		return;
	}
	assert_int_equal(freezer_for_cgroup("/cryo/abc", &f, &err), 0);
	assert_string_equal(f.cgroup, "/cryo/abc");
	if (f.kind == FREEZER_V1)
		assert_string_equal(f.dir, "/sys/fs/cgroup/freezer/cryo/abc");
	else
		assert_string_equal(f.dir, "/sys/fs/cgroup/cryo/abc");
	freezer_release(&f);
	assert_true(freezer_for_cgroup("/cryo/../etc", &f, &err) < 0);
	assert_non_null(strstr(err->msg, "not a clean absolute path"));
	cryo_error_free(&err);
}

/* A container's init that leaves a zombie behind (a child it never reaps):
 * cgroup v1 shows exited tasks in the root cgroup. */
static int sleeper_main(void *arg)
{
	(void)arg;
	if (fork() == 0)
		_exit(0);
	for (;;)
		pause();
	return 0;
}

/* The "container" of tasks_beneath_real_cgroup, killed by its teardown even
 * when an assertion ends the test early. */
static pid_t unit_container_init;

static int kill_unit_container(void **state)
{
	(void)state;
	if (unit_container_init > 0) {
		kill(unit_container_init, SIGKILL);
		waitpid(unit_container_init, NULL, 0);
		unit_container_init = 0;
	}
	rmdir("/sys/fs/cgroup/freezer/cryo-unit-tasks");
	rmdir("/sys/fs/cgroup/cryo-unit-tasks");
	return 0;
}

/* A "container": a process in a pid namespace of its own, and a child of it,
 * in a cgroup; the check passes while both are in it, and names the task once
 * one is moved out. */
static void tasks_beneath_real_cgroup(void **state)
{
	(void)state;
	struct freezer f;
	cryo_err err = NULL;
	if (freezer_for_cgroup("/cryo-unit-tasks", &f, &err) < 0) {
		cryo_error_free(&err);
		skip();
		return;
	}
	const char *root = f.kind == FREEZER_V1 ? "/sys/fs/cgroup/freezer" : "/sys/fs/cgroup";
	assert_true(mkdir(f.dir, 0755) == 0 || errno == EEXIST);
	static char stack[64 * 1024];
	pid_t init = clone(sleeper_main, stack + sizeof(stack), CLONE_NEWPID | SIGCHLD, NULL);
	assert_true(init > 0);
	unit_container_init = init;
	cleanup_free char *procs = xasprintf("%s/cgroup.procs", f.dir);
	char pidtxt[32];
	snprintf(pidtxt, sizeof(pidtxt), "%d", (int)init);
	assert_int_equal(write_file(procs, pidtxt, strlen(pidtxt), 0644, NULL), 0);
	sleep_ms(20);
	assert_int_equal(freezer_check_tasks_beneath(&f, init, &err), 0);

	/* out of the cgroup: to the hierarchy's root */
	cleanup_free char *root_procs = xasprintf("%s/cgroup.procs", root);
	assert_int_equal(write_file(root_procs, pidtxt, strlen(pidtxt), 0644, NULL), 0);
	assert_int_equal(freezer_check_tasks_beneath(&f, init, &err), -EPERM);
	assert_non_null(
	    strstr(err->msg, "is in cgroup `/`, outside the container's cgroup `/cryo-unit-tasks`"));
	cryo_error_free(&err);

	kill_unit_container(NULL);
	/* the init gone: a clear error, not a pass */
	assert_int_equal(freezer_check_tasks_beneath(&f, init, &err), -ESRCH);
	cryo_error_free(&err);
	freezer_release(&f);
}

int main(void)
{
	shared_counter = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(parse_v1_freezer),
	    cmocka_unit_test(parse_v2_hybrid_and_pure),
	    cmocka_unit_test(parse_missing),
	    cmocka_unit_test(freeze_v1),
	    cmocka_unit_test(freeze_v2),
	    cmocka_unit_test(freeze_missing_cgroup_fails),
	    cmocka_unit_test(cgroup_path_of_each_kind),
	    cmocka_unit_test(cgroup_beneath),
	    cmocka_unit_test(freezer_for_the_containers_cgroup),
	    cmocka_unit_test_teardown(tasks_beneath_real_cgroup, kill_unit_container),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
