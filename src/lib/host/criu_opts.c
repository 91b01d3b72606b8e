#include "criu_opts.h"

#include <string.h>

#include "util.h"

char *criu_opts_config_lines(const struct criu_opts *o)
{
	cleanup_free char *address = NULL;
	if (o->lazy_pages && o->page_server) {
		/* ADDR:PORT or [V6]:PORT: the address without its port */
		const char *colon = strrchr(o->page_server, ':');
		size_t len = colon ? (size_t)(colon - o->page_server) : strlen(o->page_server);
		const char *a = o->page_server;
		if (len >= 2 && a[0] == '[' && a[len - 1] == ']') {
			a++;
			len -= 2;
		}
		address = xasprintf("address %.*s\n", (int)len, a);
	}
	return xasprintf("%s%s%s", o->tcp_skip_in_flight ? "skip-in-flight\n" : "",
	                 o->tcp_close ? "tcp-close\n" : "", address ? address : "");
}
