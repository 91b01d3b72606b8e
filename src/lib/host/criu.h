/* CRIU on this host: which binary, which version, whether it works, the
 * environment every CRIU run needs, its statistics images and its error lines.
 *
 * Every CRIU run cryo starts, directly or through `runc checkpoint/restore`,
 * must get the entries of criu_env() in its environment. */
#ifndef CRYO_CRIU_H
#define CRYO_CRIU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine.h"
#include "error.h"
#include "hwbp.h"

/* Preferred over PATH: where cryo's setup installs a CRIU that works on new kernels. */
#define CRIU_PREFERRED_PATH "/usr/local/sbin/criu"
#define CRIU_MIN_VERSION "4.0"
/* CRIU's FI_NO_BREAKPOINTS fault-injection code (criu/include/fault-injection.h). */
#define CRIU_FAULT_NO_BREAKPOINTS "130"

/* Find CRIU: CRIU_PREFERRED_PATH when executable, else `criu` in PATH. */
int criu_find(char **path, cryo_err *err);

/* Parse `criu --version` output ("Version: 4.1.1\nGitID: ...") into "4.1.1". */
int criu_parse_version(const char *output, char **version, cryo_err *err);
/* Run `criu --version`. */
int criu_version(const char *criu, char **version, cryo_err *err);
/* Compare dotted numeric versions ("4.1.1" vs "4.0"; missing parts count as 0):
 * <0, 0, >0 like strcmp. Non-numeric parts compare as 0. */
int criu_version_compare(const char *a, const char *b);
/* Fail with an actionable message when version is older than CRIU_MIN_VERSION. */
int criu_check_min_version(const char *version, cryo_err *err);

/* Run `criu check` with env (criu_env()); *passed tells whether it said so, and
 * *output holds its output (stdout and stderr) when it did not. */
int criu_run_check(const char *criu, char *const *env, bool *passed, char **output, cryo_err *err);

struct criu_info {
	char *path;
	char *version;
	bool version_ok;    /* version >= CRIU_MIN_VERSION */
	bool check_passed;  /* `criu check` passed */
	char *check_output; /* its output when it failed, else NULL */
	bool cached;        /* version and check came from the per-boot cache */
};

/* Everything above, for the CRIU criu_find() picks; cached per boot and keyed by
 * the binary's path, mtime and size. */
int criu_info_get(struct cryo_engine *engine, struct criu_info *info, cryo_err *err);
void criu_info_free(struct criu_info *info);

/* The CRIU to use for checkpoint/restore: found, new enough and passing
 * `criu check`, or an error saying which of these is not so. */
int criu_require(struct cryo_engine *engine, char **path, cryo_err *err);

/* How CRIU stops a task after running its parasite code in it: at a hardware
 * breakpoint (CRIU's default), or by stepping the task to a system call
 * (CRIU_FAULT=130, FI_NO_BREAKPOINTS). Where breakpoints do not fire, the
 * first hangs every dump; the second works everywhere, a little slower.
 *
 * The configuration's `criu.stepping` chooses: "auto" (the default) follows
 * the per-boot breakpoint probe (hwbp.h), "breakpoints" or "syscall" force
 * one mode on every CRIU run the engine starts. */
enum criu_stepping {
	CRIU_STEPPING_BREAKPOINTS,
	CRIU_STEPPING_SYSCALL,
};

struct criu_stepping_choice {
	enum criu_stepping mode;
	const char *setting;   /* criu.stepping: "auto", "breakpoints" or "syscall" */
	const char *origin;    /* the file that set it, NULL for the default */
	bool probed;           /* "auto": the breakpoint probe decided ... */
	struct hwbp_result bp; /* ... with this answer */
	char *reason;          /* why, in one sentence for `cryo info` */
};

/* The stepping mode every CRIU run of this engine uses, and why. Only when the
 * setting is "auto" does it need the breakpoint probe's answer: `probed` when
 * the caller has it, else hwbp_detect() (the per-boot cache or a probe). */
int criu_stepping_decide(struct cryo_engine *engine, const struct hwbp_result *probed,
                         struct criu_stepping_choice *out, cryo_err *err);
void criu_stepping_choice_free(struct criu_stepping_choice *choice);

/* The pure decision behind it: the mode for a setting and, for "auto", the
 * probe's answer (HWBP_UNKNOWN keeps CRIU's default). */
enum criu_stepping criu_stepping_for(const char *setting, enum hwbp_status probe);
/* Its explanation; bp is only read for "auto". */
char *criu_stepping_reason(const char *setting, const char *origin, const struct hwbp_result *bp);
/* "breakpoints", "syscall". */
const char *criu_stepping_name(enum criu_stepping mode);
/* CRIU_FAULT's value in every CRIU run's environment for a mode:
 * CRIU_FAULT_NO_BREAKPOINTS for syscall, NULL (none) for breakpoints. */
const char *criu_stepping_fault(enum criu_stepping mode);
/* Why a choice will fail on this host, for the user, or NULL: breakpoints
 * forced where the probe (bp; NULL: no answer) says they do not fire. */
const char *criu_stepping_warning(const struct criu_stepping_choice *choice, const struct hwbp_result *bp);

/* The extra "KEY=VALUE" environment entries for every CRIU run on this host
 * (a NULL-terminated vector, possibly empty; free with strv_free):
 *  - CRIU_FAULT=130 exactly when CRIU steps by syscall (criu_stepping_decide);
 *  - PATH with the found CRIU's directory first, when PATH does not already
 *    start with it, so that an OCI runtime looking CRIU up in PATH finds ours. */
int criu_env(struct cryo_engine *engine, char ***env, cryo_err *err);

/* CRIU's statistics images: "stats-dump" in the images directory after a dump,
 * "stats-restore" in the work directory (by default the images directory)
 * after a restore. Times are in microseconds. */
struct criu_dump_stats {
	uint32_t freezing_time; /* seizing and freezing the tree */
	uint32_t frozen_time;   /* from frozen to unfrozen (or killed) */
	uint32_t memdump_time;  /* draining memory into page pipes */
	uint32_t memwrite_time; /* writing pages into the images */
	uint64_t pages_scanned;
	uint64_t pages_written;
};

struct criu_restore_stats {
	uint32_t forking_time;
	uint32_t restore_time;
	uint64_t pages_restored;
};

#define CRIU_STATS_DUMP_FILE "stats-dump"
#define CRIU_STATS_RESTORE_FILE "stats-restore"

int criu_stats_read_dump(const char *path, struct criu_dump_stats *stats, cryo_err *err);
/* The same from the image's bytes in memory (from an archive: hostile input);
 * what names it in errors. */
int criu_stats_parse_dump(const void *data, size_t len, const char *what, struct criu_dump_stats *stats,
                          cryo_err *err);
int criu_stats_read_restore(const char *path, struct criu_restore_stats *stats, cryo_err *err);

/* CRIU's own error lines in a log file (lines starting with "Error" or
 * containing "Error ("), the last max_lines of them joined by newlines; NULL
 * when there are none or the log cannot be read. */
char *criu_log_errors(const char *log_path, int max_lines);

#endif
