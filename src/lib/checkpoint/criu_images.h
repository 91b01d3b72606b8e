/* Reading the CRIU image files a checkpoint holds, for `cryo checkpoint
 * inspect`: the process tree (pstree.img), each task's command and resource ids
 * (core-PID.img), its open files (fdinfo-ID.img against files.img) and its
 * mounts (mountpoints-ID.img). No crit and no Python: protobuf-c code generated
 * from criu_images.proto, which declares the fields shown with CRIU 4.1.1's
 * numbers.
 *
 * Every image comes from an archive that may be hostile. The decoders take the
 * image's bytes from memory (the caller bounds their size), check both magics,
 * hold every entry's length to the bytes left and to CRIU_IMAGE_MAX_ENTRY, stop
 * after CRIU_IMAGE_MAX_ENTRIES entries, and return text with anything but
 * printable ASCII shown as \xNN, so a name in an image can neither break the
 * JSON nor drive the terminal. Results are appended to json-c arrays or
 * objects the caller owns; on error, what was appended so far stays. */
#ifndef CRYO_CRIU_IMAGES_H
#define CRYO_CRIU_IMAGES_H

#include <json-c/json.h>
#include <stddef.h>

#include "error.h"

#define CRIU_IMG_COMMON_MAGIC 0x54564319u
#define CRIU_PSTREE_MAGIC 0x50273030u
#define CRIU_CORE_MAGIC 0x55053847u
#define CRIU_IDS_MAGIC 0x54432030u
#define CRIU_FDINFO_MAGIC 0x56213732u
#define CRIU_FILES_MAGIC 0x56303138u
#define CRIU_MNTS_MAGIC 0x55563928u

/* Far above what CRIU writes for one entry of these images. */
#define CRIU_IMAGE_MAX_ENTRY (1u << 20)
#define CRIU_IMAGE_MAX_ENTRIES (1u << 20)

/* pstree.img: one object per task appended to procs:
 * {"pid","ppid","pgid","sid","threads":N}. */
int criu_image_pstree(const void *data, size_t len, struct json_object *procs, cryo_err *err);

/* core-PID.img: adds "command" (the task's comm), "files_id" and "mnt_ns_id"
 * (when present) to proc. */
int criu_image_core(const void *data, size_t len, struct json_object *proc, cryo_err *err);

/* ids-PID.img (where CRIU keeps a task's ids rather than in its core image):
 * adds "files_id" and "mnt_ns_id" to proc. */
int criu_image_ids(const void *data, size_t len, struct json_object *proc, cryo_err *err);

/* files.img: adds "ID" -> {"type","path"} to files for every file entry
 * (path: a regular file's name, "pipe:[N]" for a pipe or fifo, else the
 * type in brackets), and "mode" (st_mode, as dumped) for a regular file or
 * directory where CRIU recorded it. */
int criu_image_files(const void *data, size_t len, struct json_object *files, cryo_err *err);

/* fdinfo-ID.img: appends {"fd","id","type"} per descriptor to fds. */
int criu_image_fdinfo(const void *data, size_t len, struct json_object *fds, cryo_err *err);

/* mountpoints-ID.img: appends {"mnt_id","parent_mnt_id","mountpoint","root",
 * "source","fstype","options"} per mount to mounts. */
int criu_image_mounts(const void *data, size_t len, struct json_object *mounts, cryo_err *err);

/* CRIU's name of a file descriptor type (images/fdinfo.proto fd_types):
 * "REG", "PIPE", ...; "UNKNOWN" for a number it does not define. */
const char *criu_fd_type_name(unsigned type);

/* Text from an image made safe to print: printable ASCII kept, every other
 * byte written \xNN (a backslash written \\). Allocated. */
char *criu_image_text(const char *s);

#endif
