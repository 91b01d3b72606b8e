#include "cni.h"

#include <fcntl.h>
#include <sched.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "proc.h"
#include "util.h"

/* Plugin names come from cryo's own configuration, never from a container or
 * an archive; still, only a plain name is looked up. */
static char *plugin_path(const char *type)
{
	if (!type || !*type || strchr(type, '/') || type[0] == '.')
		return NULL;
	const char *dirs[] = {CNI_PLUGIN_DIR, CNI_PLUGIN_DIR_UPSTREAM};
	for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
		char *p = xasprintf("%s/%s", dirs[i], type);
		if (access(p, X_OK) == 0)
			return p;
		free(p);
	}
	return NULL;
}

/* The configuration on the plugin's stdin: a sealed memory file, read from
 * its start. */
static int conf_fd(const char *text, cryo_err *err)
{
	cleanup_close int fd = memfd_create("cni-conf", MFD_CLOEXEC);
	if (fd < 0)
		return cryo_error_set(err, errno, "memfd_create");
	size_t len = strlen(text);
	if (write(fd, text, len) != (ssize_t)len || lseek(fd, 0, SEEK_SET) < 0)
		return cryo_error_set(err, errno ? errno : EIO, "write the CNI configuration");
	return move_fd(fd);
}

/* A CNI error on stdout: {"code": N, "msg": "...", "details": "..."}. */
static void append_cni_error(cryo_err *err, const char *out, const char *errout)
{
	struct json_object *e = out ? json_tokener_parse(out) : NULL, *v;
	const char *msg = NULL, *details = NULL;
	if (e && json_object_is_type(e, json_type_object)) {
		if (json_object_object_get_ex(e, "msg", &v) && json_object_is_type(v, json_type_string))
			msg = json_object_get_string(v);
		if (json_object_object_get_ex(e, "details", &v) && json_object_is_type(v, json_type_string))
			details = json_object_get_string(v);
	}
	if (msg)
		cryo_error_append(err, ": %s%s%s", msg, details && *details ? ": " : "",
		                  details ? details : "");
	else if (errout && *errout)
		cryo_error_append(err, ": %s", str_rstrip((char *)errout));
	else if (out && *out)
		cryo_error_append(err, ": %s", str_rstrip((char *)out));
	if (e)
		json_object_put(e);
}

int cni_plugin_run(const char *command, const char *container_id, const char *netns, const char *ifname,
                   struct json_object *conf, struct json_object **result, cryo_err *err)
{
	struct json_object *type_obj;
	const char *type =
	    json_object_object_get_ex(conf, "type", &type_obj) ? json_object_get_string(type_obj) : NULL;
	cleanup_free char *path = plugin_path(type);
	if (!path)
		return cryo_error_plain(err, ENOENT,
		                        "CNI plugin `%s` is not installed in " CNI_PLUGIN_DIR
		                        " or " CNI_PLUGIN_DIR_UPSTREAM
		                        " (Debian package containernetworking-plugins)",
		                        type ? type : "");
	cleanup_close int in = conf_fd(json_object_to_json_string_ext(conf, JSON_C_TO_STRING_PLAIN), err);
	if (in < 0)
		return in;
	cleanup_free char *e_cmd = xasprintf("CNI_COMMAND=%s", command);
	cleanup_free char *e_id = xasprintf("CNI_CONTAINERID=%s", container_id);
	cleanup_free char *e_netns = xasprintf("CNI_NETNS=%s", netns ? netns : "");
	cleanup_free char *e_if = xasprintf("CNI_IFNAME=%s", ifname);
	char *const env[] = {
	    e_cmd,       e_id, e_netns, e_if, "CNI_PATH=" CNI_PLUGIN_DIR ":" CNI_PLUGIN_DIR_UPSTREAM,
	    "CNI_ARGS=", NULL};
	char *const argv[] = {path, NULL};
	struct proc_opts po = PROC_OPTS_INIT;
	po.env = env;
	po.stdin_fd = in;
	po.capture_stdout = true;
	po.capture_stderr = true;
	po.timeout_ms = 60000;
	struct proc_result res = {0};
	int r = proc_run(argv, &po, &res, err);
	if (r < 0)
		return cryo_error_wrap(err, "CNI %s `%s`", command, type);
	if (res.status != 0) {
		r = cryo_error_plain(err, EIO, "CNI %s `%s` failed (exit %d)", command, type, res.status);
		append_cni_error(err, res.out, res.errout);
		proc_result_free(&res);
		return r;
	}
	if (result) {
		*result = res.out && *res.out ? json_tokener_parse(res.out) : NULL;
		if (!*result || !json_object_is_type(*result, json_type_object)) {
			if (*result)
				json_object_put(*result);
			*result = NULL;
			r = cryo_error_plain(err, EIO, "CNI %s `%s` printed no result", command, type);
		}
	}
	proc_result_free(&res);
	return r;
}

int cni_netns_create(const char *path, cryo_err *err)
{
	int fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return cryo_error_set(err, errno, "create network namespace file `%s`", path);
	close(fd);
	/* A child makes the namespace and mounts it: this process keeps the
	 * host's network. */
	pid_t pid = fork();
	if (pid < 0) {
		int saved = errno;
		unlink(path);
		return cryo_error_set(err, saved, "create network namespace `%s`: fork", path);
	}
	if (pid == 0) {
		if (unshare(CLONE_NEWNET) < 0)
			_exit(1);
		if (mount("/proc/self/ns/net", path, NULL, MS_BIND, NULL) < 0)
			_exit(2);
		_exit(0);
	}
	int status = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		unlink(path);
		return cryo_error_plain(err, EIO, "create network namespace `%s`: %s failed", path,
		                        WIFEXITED(status) && WEXITSTATUS(status) == 2 ? "bind mount"
		                                                                      : "unshare");
	}
	return 0;
}

int cni_netns_remove(const char *path, cryo_err *err)
{
	struct stat st;
	if (lstat(path, &st) < 0 && errno == ENOENT)
		return 0;
	if (umount2(path, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
		return cryo_error_set(err, errno, "unmount network namespace `%s`", path);
	if (unlink(path) < 0 && errno != ENOENT)
		return cryo_error_set(err, errno, "remove network namespace file `%s`", path);
	return 0;
}
