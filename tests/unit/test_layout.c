/* Unit tests for layout.c: the paths under the engine's roots are the ones
 * the engine has always used, and a name that is not one path element
 * cannot make a path outside its directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "layout.h"
#include "util.h"

#define ROOT "/var/lib/cryo-t"
#define RUNROOT "/run/cryo-t"

static void expect_path(char *got, const char *want)
{
	assert_non_null(got);
	assert_string_equal(got, want);
	free(got);
}

/* The on-disk format: an engine root made by an older cryo must still be
 * found where it was. */
static void paths_under_root(void **state)
{
	(void)state;
	expect_path(layout_db_file(ROOT), ROOT "/state.db");
	expect_path(layout_containers_dir(ROOT), ROOT "/containers");
	expect_path(layout_container_dir(ROOT, "c0ffee"), ROOT "/containers/c0ffee");
	expect_path(layout_container_upper(ROOT, "c0ffee"), ROOT "/containers/c0ffee/upper");
	expect_path(layout_container_work(ROOT, "c0ffee"), ROOT "/containers/c0ffee/work");
	expect_path(layout_container_rootfs(ROOT, "c0ffee"), ROOT "/containers/c0ffee/rootfs");
	expect_path(layout_container_log(ROOT, "c0ffee"), ROOT "/containers/c0ffee/ctr.log");
	expect_path(layout_container_criu_config(ROOT, "c0ffee"), ROOT "/containers/c0ffee/criu.conf");
	expect_path(layout_container_network_record(ROOT, "c0ffee"), ROOT "/containers/c0ffee/network.json");
	expect_path(layout_layers_dir(ROOT), ROOT "/layers");
	expect_path(layout_layer_dir(ROOT, "ab12"), ROOT "/layers/ab12");
	expect_path(layout_images_dir(ROOT), ROOT "/images");
	expect_path(layout_image_dir(ROOT, "ab12"), ROOT "/images/ab12");
	expect_path(layout_image_mnt(ROOT, "ab12"), ROOT "/images/ab12/mnt");
	expect_path(layout_checkpoint_images_dir(ROOT), ROOT "/checkpoint-images");
	expect_path(layout_checkpoint_image_dir(ROOT, "ab12"), ROOT "/checkpoint-images/ab12");
	expect_path(layout_image_blobs_dir(ROOT), ROOT "/image-blobs");
	expect_path(layout_image_blobs(ROOT, "ab12"), ROOT "/image-blobs/ab12");
	expect_path(layout_volume_dir(ROOT, "data"), ROOT "/volumes/data");
	expect_path(layout_volume_data(ROOT, "data"), ROOT "/volumes/data/_data");
	expect_path(layout_checkpoints_dir(ROOT), ROOT "/checkpoints");
	expect_path(layout_checkpoint_dir(ROOT, "c0ffee"), ROOT "/checkpoints/c0ffee");
	expect_path(layout_checkpoint_staging(ROOT, "c0ffee", "0123456789abcdef"),
	            ROOT "/checkpoints/c0ffee.new-01234567");
	expect_path(layout_tmp_dir(ROOT), ROOT "/tmp");
	expect_path(layout_tmp(ROOT, "image-load-XXXXXX"), ROOT "/tmp/image-load-XXXXXX");
	expect_path(layout_import_dir(ROOT, "0123456789abcdef"), ROOT "/tmp/import-0123456789ab");
	expect_path(layout_kept_import(ROOT, "c0ffee"), ROOT "/tmp/kept-c0ffee");
	expect_path(layout_claims_dir(ROOT), ROOT "/claims");
	expect_path(layout_empty_dir(ROOT), ROOT "/empty");
	expect_path(layout_ipam_dir(ROOT), ROOT "/networks/ipam");
	expect_path(layout_ipam_network(ROOT, "net1"), ROOT "/networks/ipam/net1");
	expect_path(layout_keys_dir(ROOT), ROOT "/keys");
	expect_path(layout_engine_key(ROOT), ROOT "/keys/engine.key");
	expect_path(layout_trusted_keys(ROOT), ROOT "/trusted-keys");
}

static void paths_under_runroot(void **state)
{
	(void)state;
	expect_path(layout_runtime_root(RUNROOT), RUNROOT "/runtime");
	expect_path(layout_lock_file(RUNROOT, "c0ffee"), RUNROOT "/locks/c0ffee");
	expect_path(layout_probe_cache(RUNROOT), RUNROOT "/host-probe.json");
	expect_path(layout_netns_dir(RUNROOT), RUNROOT "/netns");
	expect_path(layout_netns(RUNROOT, "c0ffee"), RUNROOT "/netns/c0ffee");
	expect_path(layout_run_container_dir(RUNROOT, "c0ffee"), RUNROOT "/containers/c0ffee");
	expect_path(layout_exit_file(RUNROOT, "c0ffee"), RUNROOT "/containers/c0ffee/exit");
	expect_path(layout_pid_file(RUNROOT, "c0ffee"), RUNROOT "/containers/c0ffee/pid");
	expect_path(layout_runtime_log(RUNROOT, "c0ffee", "create"),
	            RUNROOT "/containers/c0ffee/runtime-create.log");
	expect_path(layout_runtime_log(RUNROOT, "c0ffee", "restore"),
	            RUNROOT "/containers/c0ffee/runtime-restore.log");
	expect_path(layout_checkpoint_work(RUNROOT, "c0ffee"), RUNROOT "/containers/c0ffee/checkpoint-work");
	expect_path(layout_restore_work(RUNROOT, "c0ffee"), RUNROOT "/containers/c0ffee/restore-work");
	expect_path(layout_thawed_marker(RUNROOT, "c0ffee", 42), RUNROOT "/containers/c0ffee/thawed-42");
	expect_path(layout_neighbour_thawed_marker(RUNROOT, "c0ffee", 42, 3),
	            RUNROOT "/containers/c0ffee/neighbour-thawed-42-3");
}

/* What the engine makes when it opens: the root and runroot themselves and
 * the directories below them, as before. */
static void directories_made_at_open(void **state)
{
	(void)state;
	static const char *const root_want[] = {
	    ROOT,           ROOT "/containers",        ROOT "/layers",
	    ROOT "/images", ROOT "/volumes",           ROOT "/checkpoints",
	    ROOT "/tmp",    ROOT "/checkpoint-images", ROOT "/image-blobs"};
	static const char *const run_want[] = {RUNROOT, RUNROOT "/runtime", RUNROOT "/locks",
	                                       RUNROOT "/containers"};
	size_t i;
	for (i = 0; layout_root_dirs[i]; i++) {
		assert_true(i < ARRAY_SIZE(root_want));
		expect_path(layout_dir(ROOT, layout_root_dirs[i]), root_want[i]);
	}
	assert_int_equal(i, ARRAY_SIZE(root_want));
	for (i = 0; layout_runroot_dirs[i]; i++) {
		assert_true(i < ARRAY_SIZE(run_want));
		expect_path(layout_dir(RUNROOT, layout_runroot_dirs[i]), run_want[i]);
	}
	assert_int_equal(i, ARRAY_SIZE(run_want));
}

static const char *const escaping[] = {"", ".", "..", "../x", "a/b", "/etc", "x/..", "../../etc/passwd"};

/* Every function that takes a name gives NULL for one that would leave (or
 * not name) its own directory. */
static void escaping_names_give_null(void **state)
{
	(void)state;
	char *(*const by_root[])(const char *, const char *) = {
	    layout_container_dir,
	    layout_container_upper,
	    layout_container_work,
	    layout_container_rootfs,
	    layout_container_log,
	    layout_container_criu_config,
	    layout_container_network_record,
	    layout_layer_dir,
	    layout_image_dir,
	    layout_image_mnt,
	    layout_checkpoint_image_dir,
	    layout_volume_dir,
	    layout_volume_data,
	    layout_checkpoint_dir,
	    layout_tmp,
	    layout_kept_import,
	    layout_ipam_network,
	    layout_lock_file,
	    layout_netns,
	    layout_run_container_dir,
	    layout_exit_file,
	    layout_pid_file,
	    layout_checkpoint_work,
	    layout_restore_work,
	};
	for (size_t i = 0; i < ARRAY_SIZE(escaping); i++) {
		const char *bad = escaping[i];
		for (size_t f = 0; f < ARRAY_SIZE(by_root); f++) {
			char *p = by_root[f](ROOT, bad);
			if (p)
				fail_msg("function %zu made `%s` of name `%s`", f, p, bad);
		}
		assert_false(layout_is_element(bad));
		assert_null(layout_checkpoint_staging(ROOT, bad, "0123"));
		assert_null(layout_runtime_log(RUNROOT, bad, "create"));
		assert_null(layout_runtime_log(RUNROOT, "c0ffee", bad));
		assert_null(layout_thawed_marker(RUNROOT, bad, 1));
		assert_null(layout_neighbour_thawed_marker(RUNROOT, bad, 1, 0));
	}
	assert_null(layout_container_dir(ROOT, NULL));
	/* The suffixes of staging and import directories are random IDs: a `/`
	 * in one is refused as well. */
	assert_null(layout_checkpoint_staging(ROOT, "c0ffee", "../../x"));
	assert_null(layout_import_dir(ROOT, "../../x"));
}

/* Names that look odd but are one element stay as they are (the callers'
 * validation decides what a valid name is; layout only keeps them inside). */
static void odd_single_elements_stay_inside(void **state)
{
	(void)state;
	assert_true(layout_is_element("..."));
	assert_true(layout_is_element(".hidden"));
	expect_path(layout_volume_dir(ROOT, "..."), ROOT "/volumes/...");
	expect_path(layout_container_dir(ROOT, ".hidden"), ROOT "/containers/.hidden");
}

/* The leftover collector (scratch.c) recognises staging and import
 * directories by the names layout gives them; kept imports and finished
 * checkpoints are not leftovers. */
static void scratch_names_recognised(void **state)
{
	(void)state;
	cleanup_free char *staging = layout_checkpoint_staging(ROOT, "c0ffee", "0123456789");
	cleanup_free char *final = layout_checkpoint_dir(ROOT, "c0ffee");
	cleanup_free char *import = layout_import_dir(ROOT, "0123456789abcdef");
	cleanup_free char *kept = layout_kept_import(ROOT, "c0ffee");
	assert_true(layout_is_checkpoint_staging(strrchr(staging, '/') + 1));
	assert_false(layout_is_checkpoint_staging(strrchr(final, '/') + 1));
	assert_true(layout_is_import(strrchr(import, '/') + 1));
	assert_false(layout_is_import(strrchr(kept, '/') + 1));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(paths_under_root),
	    cmocka_unit_test(paths_under_runroot),
	    cmocka_unit_test(directories_made_at_open),
	    cmocka_unit_test(escaping_names_give_null),
	    cmocka_unit_test(odd_single_elements_stay_inside),
	    cmocka_unit_test(scratch_names_recognised),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
