/* Holding the termination signals (SIGINT, SIGTERM, SIGHUP, SIGQUIT) across a
 * window that must not be cut short: a container that cryo froze must be
 * thawed, or handed over, by cryo, so a Ctrl-C there waits until the window
 * is over and is delivered then. The runtime and CRIU still get them (proc.c
 * gives children the default mask), and a failing CRIU is cleaned up like any
 * failure.
 *
 * checkpoint_container() and migrate_container() hold them for their whole
 * run. Holds nest: a caller that reports results may hold around its calls
 * and its output too, so that a signal ends the program only after the last
 * result is out (and a --all pool's workers, forked inside, inherit it). */
#ifndef CRYO_SIGNAL_HOLD_H
#define CRYO_SIGNAL_HOLD_H

#include <signal.h>

struct signal_hold {
	sigset_t previous; /* the mask before the hold, put back by signal_hold_end */
};

void signal_hold_begin(struct signal_hold *hold);
void signal_hold_end(const struct signal_hold *hold);

#endif
