/* Unit tests for the CRIU image decoders of `checkpoint inspect`
 * (criu_images.c): images built with the same protobuf-c messages, and
 * hostile ones (bad magic, lengths past the end, junk entries, names with
 * control bytes). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "criu_images.h"
#include "criu_images.pb-c.h"
#include "util.h"

/* An image: the two magics, then each packed entry after its length. */
struct image {
	unsigned char buf[8192];
	size_t len;
};

static void put32(struct image *img, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		img->buf[img->len++] = (unsigned char)(v >> (8 * i));
}

static void image_start(struct image *img, uint32_t magic)
{
	img->len = 0;
	put32(img, CRIU_IMG_COMMON_MAGIC);
	put32(img, magic);
}

static void image_add(struct image *img, const ProtobufCMessage *msg)
{
	size_t n = protobuf_c_message_get_packed_size(msg);
	assert_true(img->len + 4 + n <= sizeof(img->buf));
	put32(img, (uint32_t)n);
	protobuf_c_message_pack(msg, img->buf + img->len);
	img->len += n;
}

static void test_pstree(void **state)
{
	(void)state;
	struct image img;
	image_start(&img, CRIU_PSTREE_MAGIC);
	uint32_t threads[] = {1, 2};
	CryoPstreeEntry e = CRYO_PSTREE_ENTRY__INIT;
	e.has_pid = e.has_ppid = e.has_pgid = e.has_sid = true;
	e.pid = 1, e.ppid = 0, e.pgid = 1, e.sid = 1;
	image_add(&img, &e.base);
	e.pid = 7, e.ppid = 1, e.n_threads = 2, e.threads = threads;
	image_add(&img, &e.base);

	struct json_object *procs = json_object_new_array(), *v;
	cryo_err err = NULL;
	assert_int_equal(criu_image_pstree(img.buf, img.len, procs, &err), 0);
	assert_int_equal(json_object_array_length(procs), 2);
	struct json_object *second = json_object_array_get_idx(procs, 1);
	assert_true(json_object_object_get_ex(second, "pid", &v));
	assert_int_equal(json_object_get_int64(v), 7);
	assert_true(json_object_object_get_ex(second, "ppid", &v));
	assert_int_equal(json_object_get_int64(v), 1);
	assert_true(json_object_object_get_ex(second, "threads", &v));
	assert_int_equal(json_object_get_int64(v), 2);
	json_object_put(procs);
}

static void assert_fails(int r, cryo_err *err, const char *text)
{
	assert_true(r < 0);
	assert_non_null(*err);
	if (!strstr((*err)->msg, text))
		fail_msg("error `%s` does not say `%s`", (*err)->msg, text);
	cryo_error_free(err);
}

static void test_hostile_framing(void **state)
{
	(void)state;
	struct image img;
	struct json_object *procs = json_object_new_array();
	cryo_err err = NULL;

	/* another image's magic */
	image_start(&img, CRIU_CORE_MAGIC);
	assert_fails(criu_image_pstree(img.buf, img.len, procs, &err), &err, "bad magic");
	/* too short for the magics */
	assert_fails(criu_image_pstree(img.buf, 6, procs, &err), &err, "bad magic");
	/* a length past the end */
	image_start(&img, CRIU_PSTREE_MAGIC);
	put32(&img, 1000);
	assert_fails(criu_image_pstree(img.buf, img.len, procs, &err), &err,
	             "entry 1: 1000 bytes do not fit");
	/* a length far past any entry (no allocation of 4 GiB) */
	image_start(&img, CRIU_PSTREE_MAGIC);
	put32(&img, 0xffffffffu);
	assert_fails(criu_image_pstree(img.buf, img.len, procs, &err), &err, "do not fit");
	/* half a length */
	image_start(&img, CRIU_PSTREE_MAGIC);
	img.buf[img.len++] = 1;
	assert_fails(criu_image_pstree(img.buf, img.len, procs, &err), &err, "truncated length");
	/* junk where a message should be */
	image_start(&img, CRIU_PSTREE_MAGIC);
	put32(&img, 3);
	memcpy(img.buf + img.len, "\xff\xff\xff", 3);
	img.len += 3;
	assert_fails(criu_image_pstree(img.buf, img.len, procs, &err), &err, "malformed pstree_entry");
	/* an entry without its pid */
	image_start(&img, CRIU_PSTREE_MAGIC);
	CryoPstreeEntry e = CRYO_PSTREE_ENTRY__INIT;
	image_add(&img, &e.base);
	assert_fails(criu_image_pstree(img.buf, img.len, procs, &err), &err, "without pid");
	assert_int_equal(json_object_array_length(procs), 0);
	json_object_put(procs);
}

static void test_core_and_ids(void **state)
{
	(void)state;
	struct image img;
	image_start(&img, CRIU_CORE_MAGIC);
	CryoTaskCoreEntry tc = CRYO_TASK_CORE_ENTRY__INIT;
	tc.comm = (char *)"evil\033[2Jname\\";
	CryoCoreEntry core = CRYO_CORE_ENTRY__INIT;
	core.tc = &tc;
	image_add(&img, &core.base);
	struct json_object *proc = json_object_new_object(), *v;
	cryo_err err = NULL;
	assert_int_equal(criu_image_core(img.buf, img.len, proc, &err), 0);
	assert_true(json_object_object_get_ex(proc, "command", &v));
	assert_string_equal(json_object_get_string(v), "evil\\x1b[2Jname\\\\");
	/* a second core entry for the same task is not a task's core image */
	image_add(&img, &core.base);
	assert_fails(criu_image_core(img.buf, img.len, proc, &err), &err, "more than one core_entry");

	image_start(&img, CRIU_IDS_MAGIC);
	CryoTaskKobjIdsEntry ids = CRYO_TASK_KOBJ_IDS_ENTRY__INIT;
	ids.has_files_id = true, ids.files_id = 5;
	image_add(&img, &ids.base);
	assert_int_equal(criu_image_ids(img.buf, img.len, proc, &err), 0);
	assert_true(json_object_object_get_ex(proc, "files_id", &v));
	assert_int_equal(json_object_get_int64(v), 5);
	json_object_put(proc);
}

static void test_files_and_fdinfo(void **state)
{
	(void)state;
	struct image img;
	image_start(&img, CRIU_FILES_MAGIC);
	CryoRegFileEntry reg = CRYO_REG_FILE_ENTRY__INIT;
	reg.name = (char *)"/state/log";
	CryoFileEntry f = CRYO_FILE_ENTRY__INIT;
	f.has_type = f.has_id = true;
	f.type = 1, f.id = 3, f.reg = &reg;
	image_add(&img, &f.base);
	CryoPipeEntry pipe = CRYO_PIPE_ENTRY__INIT;
	pipe.has_pipe_id = true, pipe.pipe_id = 4242;
	CryoFileEntry p = CRYO_FILE_ENTRY__INIT;
	p.has_type = p.has_id = true;
	p.type = 2, p.id = 4, p.pipe = &pipe;
	image_add(&img, &p.base);
	CryoFileEntry odd = CRYO_FILE_ENTRY__INIT;
	odd.has_type = odd.has_id = true;
	odd.type = 9999, odd.id = 5;
	image_add(&img, &odd.base);

	struct json_object *files = json_object_new_object(), *o = NULL, *v = NULL;
	cryo_err err = NULL;
	assert_int_equal(criu_image_files(img.buf, img.len, files, &err), 0);
	assert_true(json_object_object_get_ex(files, "3", &o) && json_object_object_get_ex(o, "path", &v));
	assert_string_equal(json_object_get_string(v), "/state/log");
	assert_true(json_object_object_get_ex(files, "4", &o) && json_object_object_get_ex(o, "path", &v));
	assert_string_equal(json_object_get_string(v), "pipe:[4242]");
	assert_true(json_object_object_get_ex(files, "5", &o) && json_object_object_get_ex(o, "type", &v));
	assert_string_equal(json_object_get_string(v), "UNKNOWN");
	json_object_put(files);

	image_start(&img, CRIU_FDINFO_MAGIC);
	CryoFdinfoEntry fd = CRYO_FDINFO_ENTRY__INIT;
	fd.has_id = fd.has_fd = fd.has_type = true;
	fd.id = 3, fd.fd = 7, fd.type = 1;
	image_add(&img, &fd.base);
	struct json_object *fds = json_object_new_array();
	assert_int_equal(criu_image_fdinfo(img.buf, img.len, fds, &err), 0);
	assert_int_equal(json_object_array_length(fds), 1);
	assert_true(json_object_object_get_ex(json_object_array_get_idx(fds, 0), "fd", &v));
	assert_int_equal(json_object_get_int64(v), 7);
	json_object_put(fds);
}

static void test_mounts(void **state)
{
	(void)state;
	struct image img;
	image_start(&img, CRIU_MNTS_MAGIC);
	CryoMntEntry m = CRYO_MNT_ENTRY__INIT;
	m.has_fstype = true, m.fstype = 17;
	m.mountpoint = (char *)"./", m.root = (char *)"/", m.source = (char *)"overlay",
	m.options = (char *)"";
	image_add(&img, &m.base);
	m.fstype = 200; /* beyond CRIU's list */
	m.mountpoint = (char *)"./proc";
	image_add(&img, &m.base);
	struct json_object *mounts = json_object_new_array(), *v;
	cryo_err err = NULL;
	assert_int_equal(criu_image_mounts(img.buf, img.len, mounts, &err), 0);
	assert_true(json_object_object_get_ex(json_object_array_get_idx(mounts, 0), "mountpoint", &v));
	assert_string_equal(json_object_get_string(v), "/");
	assert_true(json_object_object_get_ex(json_object_array_get_idx(mounts, 0), "fstype", &v));
	assert_string_equal(json_object_get_string(v), "overlay");
	assert_true(json_object_object_get_ex(json_object_array_get_idx(mounts, 1), "mountpoint", &v));
	assert_string_equal(json_object_get_string(v), "/proc");
	assert_true(json_object_object_get_ex(json_object_array_get_idx(mounts, 1), "fstype", &v));
	assert_string_equal(json_object_get_string(v), "unknown");
	json_object_put(mounts);
}

static void test_text(void **state)
{
	(void)state;
	cleanup_free char *t = criu_image_text("a\tb\xc3\xa9\x7f\\");
	assert_string_equal(t, "a\\x09b\\xc3\\xa9\\x7f\\\\");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pstree),       cmocka_unit_test(test_hostile_framing),
	    cmocka_unit_test(test_core_and_ids), cmocka_unit_test(test_files_and_fdinfo),
	    cmocka_unit_test(test_mounts),       cmocka_unit_test(test_text),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
