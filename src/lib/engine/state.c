#include "state.h"

#include <sqlite3.h>
#include <string.h>

#include "layout.h"
#include "util.h"

/* The whole database, declared in one place. */
static const char schema_v1[] = "CREATE TABLE IF NOT EXISTS meta ("
                                "  key TEXT PRIMARY KEY, value TEXT NOT NULL);"
                                "CREATE TABLE IF NOT EXISTS layers ("
                                "  id TEXT PRIMARY KEY,"   /* sha256 hex of the uncompressed layer tar */
                                "  size INTEGER NOT NULL," /* bytes unpacked */
                                "  created INTEGER NOT NULL);"
                                "CREATE TABLE IF NOT EXISTS images ("
                                "  id TEXT PRIMARY KEY," /* sha256 hex */
                                "  name TEXT UNIQUE,"    /* repo:tag, NULL when untagged */
                                "  created INTEGER NOT NULL,"
                                "  config TEXT NOT NULL," /* JSON: Env, Cmd, Entrypoint, WorkingDir, User */
                                "  layers TEXT NOT NULL," /* JSON array of layer ids, bottom first */
                                "  size INTEGER NOT NULL);"
                                "CREATE TABLE IF NOT EXISTS volumes ("
                                "  name TEXT PRIMARY KEY, created INTEGER NOT NULL);"
                                "CREATE TABLE IF NOT EXISTS containers ("
                                "  id TEXT PRIMARY KEY,"
                                "  name TEXT UNIQUE NOT NULL,"
                                "  image_id TEXT NOT NULL,"
                                "  image_name TEXT NOT NULL,"
                                "  config TEXT NOT NULL,"
                                "  state TEXT NOT NULL,"
                                "  pid INTEGER NOT NULL DEFAULT 0,"
                                "  monitor_pid INTEGER NOT NULL DEFAULT 0,"
                                "  exit_code INTEGER NOT NULL DEFAULT -1,"
                                "  created INTEGER NOT NULL,"
                                "  started INTEGER NOT NULL DEFAULT 0,"
                                "  finished INTEGER NOT NULL DEFAULT 0,"
                                "  checkpointed INTEGER NOT NULL DEFAULT 0,"
                                "  checkpoint TEXT);"
                                "CREATE TABLE IF NOT EXISTS container_volumes ("
                                "  container_id TEXT NOT NULL REFERENCES containers(id) ON DELETE CASCADE,"
                                "  volume TEXT NOT NULL,"
                                "  PRIMARY KEY (container_id, volume));"
                                "CREATE TABLE IF NOT EXISTS networks ("
                                "  name TEXT PRIMARY KEY,"
                                "  subnet TEXT NOT NULL,"
                                "  gateway TEXT NOT NULL,"
                                "  bridge TEXT NOT NULL UNIQUE,"
                                "  created INTEGER NOT NULL);";

static inline void sqlite3_finalizep(sqlite3_stmt **stmt)
{
	if (*stmt)
		sqlite3_finalize(*stmt);
}
#define cleanup_stmt __attribute__((cleanup(sqlite3_finalizep)))

/* Error from the database's last failure, with context. */
static int state_error(struct cryo_engine *engine, cryo_err *err, const char *what)
{
	return cryo_error_set(err, 0, "%s: database error: %s", what, sqlite3_errmsg(engine->db));
}

static int state_exec(struct cryo_engine *engine, const char *sql, cryo_err *err)
{
	char *msg = NULL;
	if (sqlite3_exec(engine->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		int r = cryo_error_set(err, 0, "database error: %s", msg ? msg : "unknown");
		sqlite3_free(msg);
		return r;
	}
	return 0;
}

static int state_prepare(struct cryo_engine *engine, sqlite3_stmt **stmt, const char *sql, cryo_err *err)
{
	if (sqlite3_prepare_v2(engine->db, sql, -1, stmt, NULL) != SQLITE_OK)
		return state_error(engine, err, "prepare statement");
	return 0;
}

static char *state_column_text(sqlite3_stmt *stmt, int col)
{
	const unsigned char *t = sqlite3_column_text(stmt, col);
	return t ? xstrdup((const char *)t) : NULL;
}

int state_begin(struct cryo_engine *engine, cryo_err *err)
{
	return state_exec(engine, "BEGIN IMMEDIATE", err);
}

int state_commit(struct cryo_engine *engine, cryo_err *err)
{
	return state_exec(engine, "COMMIT", err);
}

void state_rollback(struct cryo_engine *engine)
{
	sqlite3_exec(engine->db, "ROLLBACK", NULL, NULL, NULL);
}

static int schema_version(struct cryo_engine *engine, int *version, cryo_err *err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	int r = state_prepare(engine, &st, "SELECT value FROM meta WHERE key = 'schema_version'", err);
	if (r < 0)
		return r;
	*version = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
	return 0;
}

int state_open(struct cryo_engine *engine, cryo_err *err)
{
	cleanup_free char *path = layout_db_file(engine->root);
	int version = 0, r;

	if (sqlite3_open_v2(path, &engine->db,
	                    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
	                    NULL) != SQLITE_OK)
		return cryo_error_set(err, 0, "open database `%s`: %s", path,
		                      engine->db ? sqlite3_errmsg(engine->db) : "out of memory");
	sqlite3_busy_timeout(engine->db, 30000);
	if ((r = state_exec(engine,
	                    "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
	                    err)) < 0)
		return cryo_error_wrap(err, "configure database `%s`", path);
	if ((r = state_begin(engine, err)) < 0)
		return r;
	if ((r = state_exec(engine, schema_v1, err)) < 0 || (r = schema_version(engine, &version, err)) < 0)
		goto fail;
	if (version > CRYO_SCHEMA_VERSION) {
		r = cryo_error_set(
		    err, 0, "database `%s` has schema version %d, newer than this cryo understands (%d)",
		    path, version, CRYO_SCHEMA_VERSION);
		goto fail;
	}
	if (version == 0 &&
	    (r = state_exec(engine, "INSERT INTO meta (key, value) VALUES ('schema_version', '1')", err)) < 0)
		goto fail;
	return state_commit(engine, err);
fail:
	state_rollback(engine);
	return r;
}

/* ---- containers ---- */

const char *container_state_name(enum container_state state)
{
	switch (state) {
	case CONTAINER_CREATED:
		return "created";
	case CONTAINER_RUNNING:
		return "running";
	case CONTAINER_PAUSED:
		return "paused";
	case CONTAINER_EXITED:
		return "exited";
	case CONTAINER_CHECKPOINTED:
		return "checkpointed";
	}
	return "unknown";
}

int container_state_from_name(const char *name, enum container_state *out)
{
	for (enum container_state s = CONTAINER_CREATED; name && s <= CONTAINER_CHECKPOINTED; s++)
		if (strcmp(name, container_state_name(s)) == 0) {
			*out = s;
			return 0;
		}
	return -EINVAL;
}

void container_free(struct container *c)
{
	if (!c)
		return;
	free(c->id);
	free(c->name);
	free(c->image_id);
	free(c->image_name);
	free(c->config);
	free(c->checkpoint);
	free(c);
}

void container_freep(struct container **c)
{
	container_free(*c);
	*c = NULL;
}

void container_list_free(struct container **list, size_t count)
{
	for (size_t i = 0; i < count; i++)
		container_free(list[i]);
	free(list);
}

#define CONTAINER_COLUMNS                                                                       \
	"id, name, image_id, image_name, config, state, pid, monitor_pid, exit_code, created, " \
	"started, finished, checkpointed, checkpoint"

static int container_from_row(sqlite3_stmt *st, struct container **out, cryo_err *err)
{
	cleanup_container struct container *c = xcalloc(1, sizeof(*c));
	c->id = state_column_text(st, 0);
	c->name = state_column_text(st, 1);
	c->image_id = state_column_text(st, 2);
	c->image_name = state_column_text(st, 3);
	c->config = state_column_text(st, 4);
	if (container_state_from_name((const char *)sqlite3_column_text(st, 5), &c->state) < 0)
		return cryo_error_plain(err, EINVAL, "container `%s`: unknown state `%s` in the database",
		                        c->name, (const char *)sqlite3_column_text(st, 5));
	c->pid = sqlite3_column_int(st, 6);
	c->monitor_pid = sqlite3_column_int(st, 7);
	c->exit_code = sqlite3_column_int(st, 8);
	c->created = sqlite3_column_int64(st, 9);
	c->started = sqlite3_column_int64(st, 10);
	c->finished = sqlite3_column_int64(st, 11);
	c->checkpointed = sqlite3_column_int64(st, 12);
	c->checkpoint = state_column_text(st, 13);
	*out = move_ptr(c);
	return 0;
}

int state_container_insert(struct cryo_engine *engine, const struct container *c, cryo_err *err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	int r = state_prepare(engine, &st,
	                      "INSERT INTO containers (" CONTAINER_COLUMNS
	                      ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
	                      err);
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, c->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, c->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, c->image_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, c->image_name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, c->config, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, container_state_name(c->state), -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 7, c->pid);
	sqlite3_bind_int(st, 8, c->monitor_pid);
	sqlite3_bind_int(st, 9, c->exit_code);
	sqlite3_bind_int64(st, 10, c->created);
	sqlite3_bind_int64(st, 11, c->started);
	sqlite3_bind_int64(st, 12, c->finished);
	sqlite3_bind_int64(st, 13, c->checkpointed);
	if (c->checkpoint)
		sqlite3_bind_text(st, 14, c->checkpoint, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 14);
	r = sqlite3_step(st);
	if (r == SQLITE_CONSTRAINT)
		return cryo_error_set(err, EEXIST, "the container name `%s` is already in use", c->name);
	if (r != SQLITE_DONE)
		return state_error(engine, err, "insert container");
	return 0;
}

int state_container_get(struct cryo_engine *engine, const char *ref, struct container **out, cryo_err *err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	int r;

	/* An exact name or ID wins over a prefix. */
	r = state_prepare(engine, &st,
	                  "SELECT " CONTAINER_COLUMNS " FROM containers WHERE name = ?1 OR id = ?1", err);
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, ref, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		return container_from_row(st, out, err);
	sqlite3_finalize(st);
	st = NULL;
	if (strlen(ref) >= 3 && strspn(ref, "0123456789abcdef") == strlen(ref)) {
		r = state_prepare(
		    engine, &st,
		    "SELECT " CONTAINER_COLUMNS " FROM containers WHERE substr(id, 1, length(?1)) = ?1", err);
		if (r < 0)
			return r;
		sqlite3_bind_text(st, 1, ref, -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW) {
			cleanup_container struct container *c = NULL;
			if ((r = container_from_row(st, &c, err)) < 0)
				return r;
			if (sqlite3_step(st) == SQLITE_ROW) {
				return cryo_error_set(
				    err, EINVAL,
				    "container ID prefix `%s` is ambiguous: give more characters", ref);
			}
			*out = move_ptr(c);
			return 0;
		}
	}
	return cryo_error_set(err, ENOENT, "no such container `%s`", ref);
}

int state_container_list(struct cryo_engine *engine, struct container ***out, size_t *count, cryo_err *err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	struct container **list = NULL;
	size_t n = 0;
	int r =
	    state_prepare(engine, &st, "SELECT " CONTAINER_COLUMNS " FROM containers ORDER BY created", err);
	if (r < 0)
		return r;
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		struct container *c = NULL;
		if ((r = container_from_row(st, &c, err)) < 0) {
			container_list_free(list, n);
			return r;
		}
		list = xrealloc(list, (n + 1) * sizeof(*list));
		list[n++] = c;
	}
	if (r != SQLITE_DONE) {
		container_list_free(list, n);
		return state_error(engine, err, "list containers");
	}
	*out = list;
	*count = n;
	return 0;
}

int state_container_update(struct cryo_engine *engine, const struct container *c, cryo_err *err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	int r = state_prepare(engine, &st,
	                      "UPDATE containers SET state = ?2, pid = ?3, monitor_pid = ?4, exit_code = ?5, "
	                      "started = ?6, finished = ?7, checkpointed = ?8, checkpoint = ?9, config = ?10 "
	                      "WHERE id = ?1",
	                      err);
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, c->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, container_state_name(c->state), -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 3, c->pid);
	sqlite3_bind_int(st, 4, c->monitor_pid);
	sqlite3_bind_int(st, 5, c->exit_code);
	sqlite3_bind_int64(st, 6, c->started);
	sqlite3_bind_int64(st, 7, c->finished);
	sqlite3_bind_int64(st, 8, c->checkpointed);
	if (c->checkpoint)
		sqlite3_bind_text(st, 9, c->checkpoint, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 9);
	sqlite3_bind_text(st, 10, c->config, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		return state_error(engine, err, "update container");
	if (sqlite3_changes(engine->db) == 0)
		return cryo_error_set(err, ENOENT, "no such container `%s`", c->name);
	return 0;
}

int state_container_delete(struct cryo_engine *engine, const char *id, cryo_err *err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	int r = state_prepare(engine, &st, "DELETE FROM containers WHERE id = ?1", err);
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		return state_error(engine, err, "delete container");
	return 0;
}

int state_container_volumes_set(struct cryo_engine *engine, const char *id, char *const *volumes,
                                cryo_err *err)
{
	cleanup_stmt sqlite3_stmt *del = NULL, *ins = NULL;
	int r = state_prepare(engine, &del, "DELETE FROM container_volumes WHERE container_id = ?1", err);
	if (r < 0)
		return r;
	sqlite3_bind_text(del, 1, id, -1, SQLITE_STATIC);
	if (sqlite3_step(del) != SQLITE_DONE)
		return state_error(engine, err, "record container volumes");
	r = state_prepare(engine, &ins,
	                  "INSERT OR IGNORE INTO container_volumes (container_id, volume) VALUES (?1, ?2)",
	                  err);
	if (r < 0)
		return r;
	for (size_t i = 0; volumes && volumes[i]; i++) {
		sqlite3_reset(ins);
		sqlite3_bind_text(ins, 1, id, -1, SQLITE_STATIC);
		sqlite3_bind_text(ins, 2, volumes[i], -1, SQLITE_STATIC);
		if (sqlite3_step(ins) != SQLITE_DONE)
			return state_error(engine, err, "record container volumes");
	}
	return 0;
}

/* ---- volumes ---- */

void volume_free(struct volume *v)
{
	if (!v)
		return;
	free(v->name);
	free(v);
}

int state_volume_insert(struct cryo_engine *engine, const char *name, int64_t created, cryo_err *err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	int r = state_prepare(engine, &st, "INSERT INTO volumes (name, created) VALUES (?1, ?2)", err);
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, created);
	r = sqlite3_step(st);
	if (r == SQLITE_CONSTRAINT)
		return cryo_error_set(err, EEXIST, "volume `%s` already exists", name);
	if (r != SQLITE_DONE)
		return state_error(engine, err, "insert volume");
	return 0;
}

int state_volume_get(struct cryo_engine *engine, const char *name, struct volume **out, cryo_err *err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	int r = state_prepare(engine, &st, "SELECT name, created FROM volumes WHERE name = ?1", err);
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_ROW)
		return cryo_error_set(err, ENOENT, "no such volume `%s`", name);
	struct volume *v = xcalloc(1, sizeof(*v));
	v->name = state_column_text(st, 0);
	v->created = sqlite3_column_int64(st, 1);
	*out = v;
	return 0;
}

int state_volume_list(struct cryo_engine *engine, struct volume ***out, size_t *count, cryo_err *err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	struct volume **list = NULL;
	size_t n = 0;
	int r = state_prepare(engine, &st, "SELECT name, created FROM volumes ORDER BY name", err);
	if (r < 0)
		return r;
	while (sqlite3_step(st) == SQLITE_ROW) {
		list = xrealloc(list, (n + 1) * sizeof(*list));
		list[n] = xcalloc(1, sizeof(**list));
		list[n]->name = state_column_text(st, 0);
		list[n]->created = sqlite3_column_int64(st, 1);
		n++;
	}
	*out = list;
	*count = n;
	return 0;
}

int state_volume_delete(struct cryo_engine *engine, const char *name, cryo_err *err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	int r = state_prepare(engine, &st, "DELETE FROM volumes WHERE name = ?1", err);
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		return state_error(engine, err, "delete volume");
	return 0;
}

int state_volume_users(struct cryo_engine *engine, const char *name, char ***names, cryo_err *err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	char **list = xcalloc(1, sizeof(char *));
	int r =
	    state_prepare(engine, &st,
	                  "SELECT c.name FROM container_volumes v JOIN containers c ON c.id = v.container_id "
	                  "WHERE v.volume = ?1 ORDER BY c.name",
	                  err);
	if (r < 0) {
		strv_free(list);
		return r;
	}
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	while (sqlite3_step(st) == SQLITE_ROW)
		strv_push(&list, (const char *)sqlite3_column_text(st, 0));
	*names = list;
	return 0;
}

/* ---- images and layers ---- */

#define IMAGE_COLUMNS "id, name, created, config, layers, size"

void image_row_free(struct image_row *row)
{
	if (!row)
		return;
	free(row->id);
	free(row->name);
	free(row->config);
	free(row->layers);
	free(row);
}

void image_row_list_free(struct image_row **list, size_t count)
{
	for (size_t i = 0; i < count; i++)
		image_row_free(list[i]);
	free(list);
}

static struct image_row *image_from_row(sqlite3_stmt *st)
{
	struct image_row *row = xcalloc(1, sizeof(*row));
	row->id = state_column_text(st, 0);
	row->name = state_column_text(st, 1);
	row->created = sqlite3_column_int64(st, 2);
	row->config = state_column_text(st, 3);
	row->layers = state_column_text(st, 4);
	row->size = (uint64_t)sqlite3_column_int64(st, 5);
	return row;
}

int state_image_find(struct cryo_engine *engine, enum image_match match, const char *arg,
                     struct image_row **out, bool *ambiguous, cryo_err *err)
{
	static const char *const where[] = {
	    [IMAGE_MATCH_NAME] = "name = ?1",
	    [IMAGE_MATCH_ID] = "id = ?1",
	    [IMAGE_MATCH_ID_PREFIX] = "substr(id, 1, length(?1)) = ?1",
	};
	cleanup_stmt sqlite3_stmt *st = NULL;
	cleanup_free char *sql =
	    xasprintf("SELECT " IMAGE_COLUMNS " FROM images WHERE %s LIMIT 2", where[match]);
	int r = state_prepare(engine, &st, sql, err);
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
	r = sqlite3_step(st);
	if (r == SQLITE_DONE)
		return 0;
	if (r != SQLITE_ROW)
		return state_error(engine, err, "look up image");
	*out = image_from_row(st);
	if (ambiguous)
		*ambiguous = sqlite3_step(st) == SQLITE_ROW;
	return 1;
}

int state_image_list(struct cryo_engine *engine, struct image_row ***out, size_t *count, cryo_err *err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	struct image_row **list = NULL;
	size_t n = 0;
	int r =
	    state_prepare(engine, &st, "SELECT " IMAGE_COLUMNS " FROM images ORDER BY created DESC, id", err);
	if (r < 0)
		return r;
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		list = xrealloc(list, (n + 1) * sizeof(*list));
		list[n++] = image_from_row(st);
	}
	if (r != SQLITE_DONE) {
		image_row_list_free(list, n);
		return state_error(engine, err, "list images");
	}
	*out = list;
	*count = n;
	return 0;
}

int state_image_insert(struct cryo_engine *engine, const char *id, int64_t created, const char *config,
                       const char *layers, uint64_t size, cryo_err *err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	int r = state_prepare(engine, &st,
	                      "INSERT INTO images (id, name, created, config, layers, size) "
	                      "VALUES (?1, NULL, ?2, ?3, ?4, ?5)",
	                      err);
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, created);
	sqlite3_bind_text(st, 3, config, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, layers, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)size);
	if (sqlite3_step(st) != SQLITE_DONE)
		return state_error(engine, err, "record image");
	return 0;
}

/* One statement of the image store with one or two text arguments. */
static int exec_bound(struct cryo_engine *engine, const char *sql, const char *a1, const char *a2,
                      const char *what, cryo_err *err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	int r = state_prepare(engine, &st, sql, err);
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, a1, -1, SQLITE_STATIC);
	if (a2)
		sqlite3_bind_text(st, 2, a2, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		return state_error(engine, err, what);
	return 0;
}

int state_image_take_name(struct cryo_engine *engine, const char *id, const char *name, cryo_err *err)
{
	int r = exec_bound(engine, "UPDATE images SET name = NULL WHERE name = ?1 AND id != ?2", name, id,
	                   "update the image store", err);
	if (r < 0)
		return r;
	return exec_bound(engine, "UPDATE images SET name = ?2 WHERE id = ?1", id, name,
	                  "update the image store", err);
}

int state_image_delete(struct cryo_engine *engine, const char *id, cryo_err *err)
{
	return exec_bound(engine, "DELETE FROM images WHERE id = ?1", id, NULL, "delete image", err);
}

static int row_exists(struct cryo_engine *engine, const char *sql, const char *arg, bool *exists,
                      cryo_err *err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	int r = state_prepare(engine, &st, sql, err);
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
	r = sqlite3_step(st);
	if (r != SQLITE_ROW && r != SQLITE_DONE)
		return state_error(engine, err, "query the image store");
	*exists = r == SQLITE_ROW;
	return 0;
}

int state_image_exists(struct cryo_engine *engine, const char *id, bool *exists, cryo_err *err)
{
	return row_exists(engine, "SELECT 1 FROM images WHERE id = ?1", id, exists, err);
}

/* The first text column of every row of `sql` (one text argument, or none
 * when arg is NULL), NULL-terminated. */
static int text_column(struct cryo_engine *engine, const char *sql, const char *arg, char ***out,
                       const char *what, cryo_err *err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	int r = state_prepare(engine, &st, sql, err);
	if (r < 0)
		return r;
	if (arg)
		sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
	char **list = xcalloc(1, sizeof(char *));
	while ((r = sqlite3_step(st)) == SQLITE_ROW)
		strv_push(&list, (const char *)sqlite3_column_text(st, 0));
	if (r != SQLITE_DONE) {
		strv_free(list);
		return state_error(engine, err, what);
	}
	*out = list;
	return 0;
}

int state_image_users(struct cryo_engine *engine, const char *id, char ***names, cryo_err *err)
{
	return text_column(engine, "SELECT name FROM containers WHERE image_id = ?1 ORDER BY name", id, names,
	                   "list the containers of an image", err);
}

int state_image_unused_untagged(struct cryo_engine *engine, char ***ids, cryo_err *err)
{
	return text_column(engine,
	                   "SELECT id FROM images WHERE name IS NULL AND "
	                   "id NOT IN (SELECT image_id FROM containers)",
	                   NULL, ids, "list untagged images", err);
}

int state_layer_insert(struct cryo_engine *engine, const char *id, uint64_t size, int64_t created,
                       cryo_err *err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	int r = state_prepare(engine, &st,
	                      "INSERT OR IGNORE INTO layers (id, size, created) VALUES (?1, ?2, ?3)", err);
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)size);
	sqlite3_bind_int64(st, 3, created);
	if (sqlite3_step(st) != SQLITE_DONE)
		return state_error(engine, err, "record layer");
	return 0;
}

int state_layer_size(struct cryo_engine *engine, const char *id, bool *known, uint64_t *size, cryo_err *err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	int r = state_prepare(engine, &st, "SELECT size FROM layers WHERE id = ?1", err);
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	r = sqlite3_step(st);
	if (r != SQLITE_ROW && r != SQLITE_DONE)
		return state_error(engine, err, "look up layer");
	*known = r == SQLITE_ROW;
	*size = *known ? (uint64_t)sqlite3_column_int64(st, 0) : 0;
	return 0;
}

int state_layer_exists(struct cryo_engine *engine, const char *id, bool *exists, cryo_err *err)
{
	return row_exists(engine, "SELECT 1 FROM layers WHERE id = ?1", id, exists, err);
}

int state_layer_in_use(struct cryo_engine *engine, const char *id, bool *used, cryo_err *err)
{
	return row_exists(engine, "SELECT 1 FROM images, json_each(images.layers) WHERE json_each.value = ?1",
	                  id, used, err);
}

int state_layer_delete(struct cryo_engine *engine, const char *id, cryo_err *err)
{
	return exec_bound(engine, "DELETE FROM layers WHERE id = ?1", id, NULL, "delete layer", err);
}

/* ---- networks ---- */

void network_free(struct network *n)
{
	if (!n)
		return;
	free(n->name);
	free(n->subnet);
	free(n->gateway);
	free(n->bridge);
	free(n);
}

void network_freep(struct network **n)
{
	network_free(*n);
}

#define NETWORK_COLUMNS "name, subnet, gateway, bridge, created"

static struct network *network_from_row(sqlite3_stmt *st)
{
	struct network *n = xcalloc(1, sizeof(*n));
	n->name = state_column_text(st, 0);
	n->subnet = state_column_text(st, 1);
	n->gateway = state_column_text(st, 2);
	n->bridge = state_column_text(st, 3);
	n->created = sqlite3_column_int64(st, 4);
	return n;
}

int state_network_get(struct cryo_engine *engine, const char *name, struct network **out, cryo_err *err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	int r = state_prepare(engine, &st, "SELECT " NETWORK_COLUMNS " FROM networks WHERE name = ?1", err);
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_ROW)
		return cryo_error_plain(err, ENOENT, "no such network `%s`", name);
	*out = network_from_row(st);
	return 0;
}

int state_network_list(struct cryo_engine *engine, struct network ***out, size_t *count, cryo_err *err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	int r = state_prepare(engine, &st, "SELECT " NETWORK_COLUMNS " FROM networks ORDER BY name", err);
	if (r < 0)
		return r;
	struct network **list = xcalloc(1, sizeof(*list));
	size_t n = 0;
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		list = xrealloc(list, (n + 2) * sizeof(*list));
		list[n++] = network_from_row(st);
		list[n] = NULL;
	}
	*out = list;
	*count = n;
	return 0;
}

int state_network_insert(struct cryo_engine *engine, const char *name, const char *subnet,
                         const char *gateway, const char *bridge, int64_t created, cryo_err *err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	int r = state_prepare(engine, &st,
	                      "INSERT INTO networks (" NETWORK_COLUMNS ") VALUES (?1, ?2, ?3, ?4, ?5)", err);
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, subnet, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, gateway, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, bridge, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, created);
	if (sqlite3_step(st) != SQLITE_DONE)
		return state_error(engine, err, "insert network");
	return 0;
}

int state_network_delete(struct cryo_engine *engine, const char *name, cryo_err *err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	int r = state_prepare(engine, &st, "DELETE FROM networks WHERE name = ?1", err);
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		return state_error(engine, err, "remove network");
	return 0;
}

int state_network_user(struct cryo_engine *engine, const char *network, char **name, cryo_err *err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	/* A configuration that is not JSON names no network. */
	int r = state_prepare(engine, &st,
	                      "SELECT name FROM containers WHERE CASE WHEN json_valid(config) THEN "
	                      "json_extract(config, '$.network') END = ?1 ORDER BY created LIMIT 1",
	                      err);
	if (r < 0)
		return r;
	sqlite3_bind_text(st, 1, network, -1, SQLITE_STATIC);
	r = sqlite3_step(st);
	if (r != SQLITE_ROW && r != SQLITE_DONE)
		return state_error(engine, err, "find the containers of a network");
	*name = r == SQLITE_ROW ? state_column_text(st, 0) : NULL;
	return 0;
}
