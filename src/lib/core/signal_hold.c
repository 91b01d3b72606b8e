#include "signal_hold.h"

#include <stddef.h>

void signal_hold_begin(struct signal_hold *hold)
{
	sigset_t termination;
	sigemptyset(&termination);
	sigaddset(&termination, SIGINT);
	sigaddset(&termination, SIGTERM);
	sigaddset(&termination, SIGHUP);
	sigaddset(&termination, SIGQUIT);
	sigprocmask(SIG_BLOCK, &termination, &hold->previous);
}

void signal_hold_end(const struct signal_hold *hold)
{
	sigprocmask(SIG_SETMASK, &hold->previous, NULL);
}
