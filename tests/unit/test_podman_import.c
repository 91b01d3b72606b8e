/* Unit tests for the mapping of a Podman export's configuration
 * (podman_import.c): a configuration as Podman 4.3.1 writes it, and hostile
 * variations of it, each refused with its error code and nothing to free. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include <json-c/json.h>

#include "podman_import.h"
#include "testutil.h"
#include "util.h"

#define ID "714d064d8324935eac93c76bd8db01fa785b935cb1461651621541c0b5958e64"

/* What Podman 4.3.1 wrote for `podman run --network none -v vol1:/data`
 * (abridged: the keys the mapping reads, and a few it ignores). */
static const char config_dump[] =
    "{\"id\":\"" ID "\",\"name\":\"pc\",\"rootfsImageName\":\"localhost/workload:latest\","
    "\"rootfsImageID\":\"5d98f304f8351879fbe47396dda11052c53a29e1e316b8f7e5c94ea8aa379ee8\","
    "\"idMappingsOptions\":{\"HostUIDMapping\":true,\"HostGIDMapping\":true,\"UIDMap\":null,"
    "\"GIDMap\":null,\"AutoUserNs\":false},\"privileged\":false,"
    "\"namedVolumes\":[{\"volumeName\":\"vol1\",\"dest\":\"/data\",\"options\":[\"rw\",\"rbind\"]}],"
    "\"ShmDir\":\"/var/lib/containers/storage/overlay-containers/" ID "/userdata/shm\"}";

static const char spec_dump[] =
    "{\"ociVersion\":\"1.0.2-dev\",\"hostname\":\"714d064d8324\","
    "\"process\":{\"user\":{\"uid\":0,\"gid\":0},\"args\":[\"/usr/local/bin/counter\",\"--file\","
    "\"/state/counter\"],\"env\":[\"PATH=/usr/bin:/bin\",\"container=podman\"],\"cwd\":\"/\","
    "\"capabilities\":{\"bounding\":[\"CAP_CHOWN\",\"CAP_MKNOD\",\"CAP_KILL\"],"
    "\"effective\":[\"CAP_CHOWN\",\"CAP_MKNOD\",\"CAP_KILL\"]}},"
    "\"root\":{\"path\":\"rootfs\"},"
    "\"mounts\":[{\"destination\":\"/proc\",\"type\":\"proc\",\"source\":\"proc\"},"
    "{\"destination\":\"/dev\",\"type\":\"tmpfs\",\"source\":\"tmpfs\"},"
    "{\"destination\":\"/sys\",\"type\":\"sysfs\",\"source\":\"sysfs\"},"
    "{\"destination\":\"/etc/hosts\",\"type\":\"bind\",\"source\":\"/run/x/userdata/hosts\"},"
    "{\"destination\":\"/dev/shm\",\"type\":\"bind\",\"source\":\"/var/lib/x/userdata/shm\"},"
    "{\"destination\":\"/data\",\"type\":\"bind\",\"source\":\"/var/lib/containers/storage/volumes/"
    "vol1/_data\",\"options\":[\"ro\"]},"
    "{\"destination\":\"/sys/fs/cgroup\",\"type\":\"cgroup\",\"source\":\"cgroup\"}],"
    "\"linux\":{\"resources\":{\"pids\":{\"limit\":2048}},\"cgroupsPath\":\"/libpod_parent/x\","
    "\"namespaces\":[{\"type\":\"pid\"},{\"type\":\"network\"},{\"type\":\"ipc\"},{\"type\":\"uts\"},"
    "{\"type\":\"mount\"}],\"maskedPaths\":[\"/proc/kcore\"]}}";

/* An export directory holding the three files (network.status: NULL for
 * none written). */
static char *export_dir(const char *config, const char *spec, const char *status)
{
	char *dir = testutil_tmpdir("podman_import");
	testutil_put_text(dir, "config.dump", config);
	testutil_put_text(dir, "spec.dump", spec);
	if (status)
		testutil_put_text(dir, "network.status", status);
	return dir;
}

static void test_maps_podman_configuration(void **state)
{
	(void)state;
	cleanup_free char *dir = export_dir(config_dump, spec_dump, "null");
	struct podman_import pi;
	cryo_err err = NULL;
	int r = podman_import_read(dir, &pi, &err);
	if (r < 0)
		fail_msg("%s", err->msg);
	assert_string_equal(pi.name, "pc");
	assert_string_equal(pi.id, ID);
	assert_string_equal(pi.image_name, "localhost/workload:latest");
	assert_string_equal(pi.cfg.command[0], "/usr/local/bin/counter");
	assert_string_equal(pi.cfg.env[1], "container=podman");
	assert_string_equal(pi.cfg.user, "0:0");
	assert_string_equal(pi.cfg.workdir, "/");
	assert_string_equal(pi.cfg.hostname, "714d064d8324");
	assert_string_equal(pi.cfg.network, "none");
	assert_int_equal(pi.cfg.pids_limit, 2048);
	/* Podman's own mounts are cryo's; the two binds of its files are engine files */
	assert_int_equal(strv_len(pi.cfg.engine_files), 2);
	assert_string_equal(pi.cfg.engine_files[0], "/etc/hosts");
	assert_string_equal(pi.cfg.engine_files[1], "/dev/shm");
	/* the named volume, read-only as its bind mount says */
	assert_int_equal(pi.cfg.n_mounts, 1);
	assert_int_equal(pi.cfg.mounts[0].kind, MOUNT_VOLUME);
	assert_string_equal(pi.cfg.mounts[0].source, "vol1");
	assert_string_equal(pi.cfg.mounts[0].destination, "/data");
	assert_true(pi.cfg.mounts[0].readonly);
	/* MKNOD added to cryo's defaults, the defaults Podman's set lacks dropped */
	assert_int_equal(strv_len(pi.cfg.cap_add), 1);
	assert_string_equal(pi.cfg.cap_add[0], "CAP_MKNOD");
	assert_true(strv_len(pi.cfg.cap_drop) > 5);
	podman_import_free(&pi);
	rm_rf(dir, NULL);
}

/* Replace `from` (which must occur) with `to` in text. */
static char *replaced(const char *text, const char *from, const char *to)
{
	const char *at = strstr(text, from);
	assert_non_null(at);
	return xasprintf("%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
}

struct hostile {
	const char *file; /* "config", "spec" or "status" */
	const char *from, *to;
	int code;
	const char *says;
};

static void test_hostile_configurations_refused(void **state)
{
	(void)state;
	static const struct hostile cases[] = {
	    {"spec", "\"/etc/hosts\"", "\"/etc/../../etc/hosts\"", -EINVAL, "not a clean absolute path"},
	    {"spec", "\"/etc/hosts\"", "\"etc/hosts\"", -EINVAL, "not a clean absolute path"},
	    {"spec", "\"/etc/hosts\"", "\"/host\"", -ENOTSUP, "bind mount at `/host`"},
	    {"spec", "\"type\":\"cgroup\"", "\"type\":\"bind\"", -ENOTSUP, "bind mount at `/sys/fs/cgroup`"},
	    {"spec", "\"/dev/shm\",\"type\":\"bind\"", "\"/etc/hosts\",\"type\":\"bind\"", -EINVAL,
	     "mounted twice"},
	    {"spec", "\"CAP_KILL\"]}", "\"CAP_SYS_ADMIN\"]}", -EPERM, "`CAP_SYS_ADMIN`"},
	    {"spec", "{\"type\":\"pid\"},", "", -ENOTSUP, "host's pid namespace"},
	    {"spec", "{\"type\":\"pid\"}", "{\"type\":\"user\"}", -ENOTSUP, "user namespace"},
	    {"spec", "{\"type\":\"network\"}", "{\"type\":\"network\",\"path\":\"/proc/1/ns/net\"}", -ENOTSUP,
	     "joined an existing network namespace"},
	    {"spec", "\"cwd\":\"/\"", "\"cwd\":\"/\",\"terminal\":true", -ENOTSUP, "terminal"},
	    {"spec", "\"uid\":0", "\"uid\":-1", -EINVAL, "invalid uid"},
	    {"spec", "\"uid\":0", "\"uid\":0,\"username\":\"root\"", -EINVAL, "only numeric users"},
	    {"spec", "\"--file\"", "7", -EINVAL, "not a string"},
	    {"spec", "\"args\"", "\"argz\"", -EINVAL, "no `process.args`"},
	    {"spec", "\"linux\":{", "\"linux\":{\"devices\":[{\"path\":\"/dev/sda\"}],", -EPERM, "devices"},
	    {"spec", "{\"ociVersion\"", "[{\"ociVersion\"", -EINVAL, "not valid JSON"},
	    {"spec", "\"rootfs\"}", "\"rootfs\"}}", -EINVAL, "not valid JSON"},
	    {"config", "\"id\":\"714d", "\"id\":\"../../", -EINVAL, "`id`"},
	    {"config", "\"name\":\"pc\"", "\"name\":\"../pc\"", -EINVAL, "`name`"},
	    {"config", "\"localhost/workload:latest\"", "\"bad`name\"", -EINVAL, "`rootfsImageName`"},
	    {"config", "\"localhost/workload:latest\"", "5", -EINVAL, "`rootfsImageName`"},
	    {"config", "\"privileged\":false", "\"privileged\":true", -EPERM, "privileged"},
	    {"config", "\"UIDMap\":null", "\"UIDMap\":[{\"container_id\":0}]", -ENOTSUP, "ID mappings"},
	    {"config", "\"privileged\":false", "\"rootfs\":\"/srv/root\"", -ENOTSUP,
	     "root file system directory"},
	    {"config", "\"volumeName\":\"vol1\"", "\"volumeName\":\"../etc\"", -EINVAL,
	     "invalid volume name"},
	    {"config", "\"dest\":\"/data\"", "\"dest\":\"/elsewhere\"", -ENOTSUP, "bind mount at `/data`"},
	    {"status", "null", "{\"podman\":{\"interfaces\":{}}}", -ENOTSUP, "Podman network"},
	    {"status", "null", "nul", -EINVAL, "not valid JSON"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct hostile *h = &cases[i];
		cleanup_free char *config = strcmp(h->file, "config") == 0
		                                ? replaced(config_dump, h->from, h->to)
		                                : xstrdup(config_dump);
		cleanup_free char *spec =
		    strcmp(h->file, "spec") == 0 ? replaced(spec_dump, h->from, h->to) : xstrdup(spec_dump);
		cleanup_free char *status =
		    strcmp(h->file, "status") == 0 ? replaced("null", h->from, h->to) : xstrdup("null");
		cleanup_free char *dir = export_dir(config, spec, status);
		struct podman_import pi;
		cryo_err err = NULL;
		int r = podman_import_read(dir, &pi, &err);
		if (r != h->code || !err || !strstr(err->msg, h->says))
			fail_msg("case %zu (%s: %s -> %s): got %d `%s`, want %d `%s`", i, h->file, h->from,
			         h->to, r, err ? err->msg : "", h->code, h->says);
		cryo_error_free(&err);
		/* nothing to free on failure */
		assert_null(pi.name);
		assert_null(pi.cfg.command);
		rm_rf(dir, NULL);
	}
}

static void test_missing_files_refused(void **state)
{
	(void)state;
	cleanup_free char *dir = testutil_tmpdir("podman_import");
	struct podman_import pi;
	cryo_err err = NULL;
	assert_int_equal(podman_import_read(dir, &pi, &err), -ENOENT);
	assert_non_null(strstr(err->msg, "config.dump"));
	cryo_error_free(&err);
	/* a config.dump that is JSON's null */
	testutil_put_text(dir, "config.dump", "null");
	testutil_put_text(dir, "spec.dump", spec_dump);
	assert_int_equal(podman_import_read(dir, &pi, &err), -EINVAL);
	assert_non_null(strstr(err->msg, "is null"));
	cryo_error_free(&err);
	/* no network.status: none, like null */
	testutil_put_text(dir, "config.dump", config_dump);
	testutil_put_text(dir, "spec.dump", spec_dump);
	assert_int_equal(podman_import_read(dir, &pi, &err), 0);
	assert_string_equal(pi.cfg.network, "none");
	podman_import_free(&pi);
	rm_rf(dir, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_maps_podman_configuration),
	    cmocka_unit_test(test_hostile_configurations_refused),
	    cmocka_unit_test(test_missing_files_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
