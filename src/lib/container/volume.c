#include "volume.h"

#include <string.h>

#include "layout.h"
#include "state.h"
#include "util.h"

char *volume_data_dir(struct cryo_engine *engine, const char *name)
{
	return layout_volume_data(engine->root, name);
}

int volume_create(struct cryo_engine *engine, const char *name, bool if_missing, cryo_err *err)
{
	cleanup_free char *dir = layout_volume_dir(engine->root, name);
	cleanup_free char *data = volume_data_dir(engine, name);
	int r;

	if (!name_is_valid(name))
		return cryo_error_set(err, EINVAL,
		                      "invalid volume name `%s`: use letters, digits, `_`, `.` and `-`, "
		                      "starting with a letter or digit",
		                      name);
	if ((r = state_begin(engine, err)) < 0)
		return r;
	r = state_volume_insert(engine, name, now_realtime_us(), err);
	if (r == -EEXIST && if_missing) {
		cryo_error_free(err);
		state_rollback(engine);
		return 0;
	}
	if (r < 0)
		goto fail;
	if ((r = mkdir_p(data, 0755, err)) < 0)
		goto fail;
	if ((r = state_commit(engine, err)) < 0)
		goto fail_dir;
	return 0;
fail:
	state_rollback(engine);
fail_dir:
	if (r != -EEXIST)
		rm_rf(dir, NULL);
	return cryo_error_wrap(err, "create volume `%s`", name);
}

int volume_remove(struct cryo_engine *engine, const char *name, cryo_err *err)
{
	cleanup_strv char **users = NULL;
	struct volume *v = NULL;
	int r;

	if ((r = state_volume_get(engine, name, &v, err)) < 0)
		return r;
	volume_free(v);
	if ((r = state_volume_users(engine, name, &users, err)) < 0)
		return r;
	if (users[0]) {
		cleanup_free char *list = xstrdup("");
		for (size_t i = 0; users[i]; i++) {
			char *next = xasprintf("%s%s%s", list, i ? ", " : "", users[i]);
			free(list);
			list = next;
		}
		return cryo_error_set(
		    err, EBUSY, "remove volume `%s`: it is in use by container(s) %s; remove them first",
		    name, list);
	}
	if ((r = state_begin(engine, err)) < 0)
		return r;
	if ((r = state_volume_delete(engine, name, err)) < 0 || (r = state_commit(engine, err)) < 0) {
		state_rollback(engine);
		return r;
	}
	cleanup_free char *dir = layout_volume_dir(engine->root, name);
	if ((r = rm_rf(dir, err)) < 0)
		return cryo_error_wrap(err, "remove volume `%s` data", name);
	return 0;
}

struct json_object *volume_inspect_json(struct cryo_engine *engine, const char *name, int64_t created)
{
	struct json_object *o = json_object_new_object();
	cleanup_free char *mp = volume_data_dir(engine, name);
	cleanup_free char *ts = format_timestamp(created);
	json_object_object_add(o, "Name", json_object_new_string(name));
	json_object_object_add(o, "Driver", json_object_new_string("local"));
	json_object_object_add(o, "Mountpoint", json_object_new_string(mp));
	json_object_object_add(o, "CreatedAt", json_object_new_string(ts));
	return o;
}
