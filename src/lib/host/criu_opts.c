#include "criu_opts.h"

#include "util.h"

char *criu_opts_config_lines(const struct criu_opts *o)
{
	return xasprintf("%s%s", o->tcp_skip_in_flight ? "skip-in-flight\n" : "",
	                 o->tcp_close ? "tcp-close\n" : "");
}
