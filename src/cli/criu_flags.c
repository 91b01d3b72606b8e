#include "criu_flags.h"

bool cli_criu_flag(int c, struct criu_opts *o)
{
	switch (c) {
	case CLI_OPT_TCP_ESTABLISHED:
		o->tcp_established = true;
		return true;
	case CLI_OPT_TCP_SKIP_IN_FLIGHT:
		o->tcp_skip_in_flight = true;
		return true;
	case CLI_OPT_TCP_CLOSE:
		o->tcp_close = true;
		return true;
	case CLI_OPT_FILE_LOCKS:
		o->file_locks = true;
		return true;
	default:
		return false;
	}
}
