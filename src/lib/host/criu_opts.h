/* The CRIU-level options of one checkpoint or restore, declared once (runc's
 * CriuOpts, crun's libcrun_checkpoint_restore_s): checkpoint.h, restore.h,
 * migrate.h and runtime.h embed this struct and hand it down whole, never
 * field by field.
 *
 * Most options become flags of `runc checkpoint/restore` (runtime.h); those
 * runc has no flag for become lines of the CRIU configuration file the spec
 * names (criu_opts_config_lines). A field that does not apply to the
 * operation (tcp_close for a dump, leave_running for a restore) is ignored. */
#ifndef CRYO_CRIU_OPTS_H
#define CRYO_CRIU_OPTS_H

#include <stdbool.h>

struct criu_opts {
	const char *image_path;  /* CRIU's images; set by the engine, not by callers */
	const char *work_path;   /* CRIU's logs (dump.log, restore.log) and statistics; the same */
	bool leave_running;      /* dump: the tasks run on after the dump (a live checkpoint) */
	bool tcp_established;    /* established TCP connections */
	bool tcp_skip_in_flight; /* dump: connections not yet accepted are dropped */
	bool tcp_close;          /* restore: established connections come back closed */
	bool file_locks;
	/* Post-copy (lazy) memory, over userfaultfd. Dump: CRIU writes every
	 * image but the memory pages, then serves those from a page server on
	 * page_server ("ADDR:PORT", bound to ADDR only) until the destination's
	 * lazy-pages daemon has them all. Restore: the pages come from the
	 * lazy-pages daemon started beside it (runtime_lazy_pages_start). */
	bool lazy_pages;
	const char *page_server; /* dump with lazy_pages: "ADDR:PORT" ("[V6]:PORT") */
};

/* The options runc has no flag for, as lines of CRIU's configuration file
 * ("skip-in-flight\n", "tcp-close\n", and for a lazy dump "address ADDR\n":
 * CRIU ignores the address runc gives a lazy dump's page server and would
 * listen on every address); "" when none. Free with free(). */
char *criu_opts_config_lines(const struct criu_opts *o);

#endif
