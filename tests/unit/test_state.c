/* Unit tests for state.c: container states and their stored names, and the
 * rows of the containers, images, layers and networks tables read back as
 * written (a database in a scratch directory). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "engine.h"
#include "error.h"
#include "layout.h"
#include "state.h"
#include "testutil.h"
#include "util.h"

static void state_names_round_trip(void **state)
{
	(void)state;
	static const char *const names[] = {"created", "running", "paused", "exited", "checkpointed"};
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		enum container_state s = CONTAINER_EXITED;
		assert_int_equal(container_state_from_name(names[i], &s), 0);
		assert_string_equal(container_state_name(s), names[i]);
	}
	enum container_state s = CONTAINER_CREATED;
	assert_int_equal(container_state_from_name("stopped", &s), -EINVAL);
	assert_int_equal(container_state_from_name("Running", &s), -EINVAL);
	assert_int_equal(container_state_from_name("", &s), -EINVAL);
	assert_int_equal(container_state_from_name(NULL, &s), -EINVAL);
	assert_int_equal(s, CONTAINER_CREATED);
}

/* An engine with nothing but its root and database. */
static int open_db(void **state)
{
	struct cryo_engine *engine = xcalloc(1, sizeof(*engine));
	cryo_err err = NULL;
	engine->root = testutil_tmpdir("state");
	assert_int_equal(state_open(engine, &err), 0);
	*state = engine;
	return 0;
}

static int close_db(void **state)
{
	struct cryo_engine *engine = *state;
	cleanup_free char *db = layout_db_file(engine->root);
	cleanup_free char *wal = xasprintf("%s-wal", db);
	cleanup_free char *shm = xasprintf("%s-shm", db);
	sqlite3_close(engine->db);
	unlink(db);
	unlink(wal);
	unlink(shm);
	rmdir(engine->root);
	free(engine->root);
	free(engine);
	return 0;
}

static void container_state_stored_by_name(void **state)
{
	struct cryo_engine *engine = *state;
	cryo_err err = NULL;
	struct container c = {.id = "0123456789abcdef",
	                      .name = "web",
	                      .image_id = "feed",
	                      .image_name = "app:latest",
	                      .config = "{}",
	                      .state = CONTAINER_CREATED,
	                      .exit_code = -1,
	                      .created = 1};
	assert_int_equal(state_container_insert(engine, &c, &err), 0);
	c.state = CONTAINER_CHECKPOINTED;
	assert_int_equal(state_container_update(engine, &c, &err), 0);

	cleanup_container struct container *got = NULL;
	assert_int_equal(state_container_get(engine, "web", &got, &err), 0);
	assert_int_equal(got->state, CONTAINER_CHECKPOINTED);
	assert_string_equal(got->image_name, "app:latest");
	assert_null(got->checkpoint);

	struct container **list = NULL;
	size_t n = 0;
	assert_int_equal(state_container_list(engine, &list, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_int_equal(list[0]->state, CONTAINER_CHECKPOINTED);
	container_list_free(list, n);
}

static void images_and_layers(void **state)
{
	struct cryo_engine *engine = *state;
	cryo_err err = NULL;
	struct image_row *row = NULL;
	bool b = true, ambiguous = true;
	uint64_t size = 1;

	assert_int_equal(state_begin(engine, &err), 0);
	assert_int_equal(state_layer_insert(engine, "aaa1", 10, 5, &err), 0);
	assert_int_equal(state_layer_insert(engine, "aaa1", 99, 6, &err), 0); /* kept as it was */
	assert_int_equal(state_image_insert(engine, "abc1", 7, "{}", "[\"aaa1\"]", 10, &err), 0);
	assert_int_equal(state_image_insert(engine, "abc2", 8, "{}", "[]", 0, &err), 0);
	assert_int_equal(state_image_take_name(engine, "abc1", "app:latest", &err), 0);
	assert_int_equal(state_commit(engine, &err), 0);

	assert_int_equal(state_layer_size(engine, "aaa1", &b, &size, &err), 0);
	assert_true(b);
	assert_int_equal(size, 10);
	assert_int_equal(state_layer_size(engine, "bbb", &b, &size, &err), 0);
	assert_false(b);
	assert_int_equal(state_layer_in_use(engine, "aaa1", &b, &err), 0);
	assert_true(b);

	assert_int_equal(state_image_find(engine, IMAGE_MATCH_NAME, "app:latest", &row, NULL, &err), 1);
	assert_string_equal(row->id, "abc1");
	assert_string_equal(row->layers, "[\"aaa1\"]");
	assert_int_equal(row->size, 10);
	image_row_free(row);
	row = NULL;
	assert_int_equal(state_image_find(engine, IMAGE_MATCH_ID_PREFIX, "abc", &row, &ambiguous, &err), 1);
	assert_true(ambiguous);
	image_row_free(row);
	row = NULL;
	assert_int_equal(state_image_find(engine, IMAGE_MATCH_ID, "abc", &row, NULL, &err), 0);
	assert_null(row);

	/* The name moves; the image that had it is left untagged and unused. */
	assert_int_equal(state_image_take_name(engine, "abc2", "app:latest", &err), 0);
	cleanup_strv char **untagged = NULL;
	assert_int_equal(state_image_unused_untagged(engine, &untagged, &err), 0);
	assert_int_equal(strv_len(untagged), 1);
	assert_string_equal(untagged[0], "abc1");

	struct image_row **rows = NULL;
	size_t n = 0;
	assert_int_equal(state_image_list(engine, &rows, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(rows[0]->id, "abc2"); /* newest first */
	assert_string_equal(rows[0]->name, "app:latest");
	assert_null(rows[1]->name);
	image_row_list_free(rows, n);

	assert_int_equal(state_image_delete(engine, "abc1", &err), 0);
	assert_int_equal(state_image_exists(engine, "abc1", &b, &err), 0);
	assert_false(b);
	assert_int_equal(state_layer_in_use(engine, "aaa1", &b, &err), 0);
	assert_false(b);
	assert_int_equal(state_layer_delete(engine, "aaa1", &err), 0);
	assert_int_equal(state_layer_exists(engine, "aaa1", &b, &err), 0);
	assert_false(b);
}

static void networks(void **state)
{
	struct cryo_engine *engine = *state;
	cryo_err err = NULL;
	assert_int_equal(state_network_insert(engine, "back", "10.89.1.0/24", "10.89.1.1", "cryo1", 3, &err),
	                 0);
	assert_int_equal(state_network_insert(engine, "app", "10.89.0.0/24", "10.89.0.1", "cryo0", 4, &err),
	                 0);
	assert_true(state_network_insert(engine, "app", "10.89.2.0/24", "10.89.2.1", "cryo2", 5, &err) < 0);
	cryo_error_free(&err);

	cleanup_network struct network *n = NULL;
	assert_int_equal(state_network_get(engine, "app", &n, &err), 0);
	assert_string_equal(n->bridge, "cryo0");
	assert_int_equal(n->created, 4);

	struct network **list = NULL;
	size_t count = 0;
	assert_int_equal(state_network_list(engine, &list, &count, &err), 0);
	assert_int_equal(count, 2);
	assert_string_equal(list[0]->name, "app");
	assert_null(list[2]);
	for (size_t i = 0; i < count; i++)
		network_free(list[i]);
	free(list);

	/* The oldest container configured for the network uses it; a
	 * configuration that is not JSON names none. */
	cleanup_free char *user = NULL;
	assert_int_equal(state_network_user(engine, "app", &user, &err), 0);
	assert_null(user);
	struct container c = {.id = "c1",
	                      .name = "broken",
	                      .image_id = "i",
	                      .image_name = "i",
	                      .config = "{not json",
	                      .created = 1};
	assert_int_equal(state_container_insert(engine, &c, &err), 0);
	c = (struct container){.id = "c2",
	                       .name = "second",
	                       .image_id = "i",
	                       .image_name = "i",
	                       .config = "{\"network\":\"app\"}",
	                       .created = 3};
	assert_int_equal(state_container_insert(engine, &c, &err), 0);
	c = (struct container){.id = "c3",
	                       .name = "first",
	                       .image_id = "i",
	                       .image_name = "i",
	                       .config = "{\"network\":\"app\"}",
	                       .created = 2};
	assert_int_equal(state_container_insert(engine, &c, &err), 0);
	c = (struct container){.id = "c4",
	                       .name = "other",
	                       .image_id = "i",
	                       .image_name = "i",
	                       .config = "{\"network\":\"back\"}",
	                       .created = 0};
	assert_int_equal(state_container_insert(engine, &c, &err), 0);
	assert_int_equal(state_network_user(engine, "app", &user, &err), 0);
	assert_non_null(user);
	assert_string_equal(user, "first");

	assert_int_equal(state_network_delete(engine, "app", &err), 0);
	struct network *gone = NULL;
	assert_int_equal(state_network_get(engine, "app", &gone, &err), -ENOENT);
	assert_null(gone);
	cryo_error_free(&err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(state_names_round_trip),
	    cmocka_unit_test_setup_teardown(container_state_stored_by_name, open_db, close_db),
	    cmocka_unit_test_setup_teardown(images_and_layers, open_db, close_db),
	    cmocka_unit_test_setup_teardown(networks, open_db, close_db),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
