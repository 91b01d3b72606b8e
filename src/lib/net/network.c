#include "network.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "cni.h"
#include "layout.h"
#include "lock.h"
#include "proc.h"
#include "state.h"
#include "util.h"

/* Held while ports, addresses and networks are chosen, so that two cryo
 * commands never pick the same. */
#define NETWORK_LOCK "networks"
/* network.json is written by cryo; a huge one is not. */
#define NETWORK_RECORD_MAX (1 << 20)

/* ---- values that may come from the command line or an archive ---- */

static int parse_port_number(const char *s, size_t len)
{
	if (len == 0 || len > 5 || strspn(s, "0123456789") < len)
		return -1;
	int v = 0;
	for (size_t i = 0; i < len; i++)
		v = v * 10 + (s[i] - '0');
	return v >= 1 && v <= 65535 ? v : -1;
}

bool network_ipv4_is_valid(const char *s)
{
	struct in_addr a;
	return s && strlen(s) < INET_ADDRSTRLEN && inet_pton(AF_INET, s, &a) == 1;
}

bool network_mac_is_valid(const char *s)
{
	if (!s || strlen(s) != 17)
		return false;
	for (size_t i = 0; i < 17; i++) {
		if (i % 3 == 2 ? s[i] != ':' : !strchr("0123456789abcdefABCDEF", s[i]))
			return false;
	}
	unsigned first = (unsigned)strtoul(s, NULL, 16);
	bool zero = strcmp(s, "00:00:00:00:00:00") == 0;
	return !(first & 1) && !zero; /* unicast, not all zero */
}

bool network_is_bridge(const char *network)
{
	return network && strcmp(network, NETWORK_NONE) != 0 && strcmp(network, NETWORK_HOST) != 0;
}

bool network_name_is_valid(const char *network)
{
	return network && (strcmp(network, NETWORK_NONE) == 0 || strcmp(network, NETWORK_HOST) == 0 ||
	                   (name_is_valid(network) && strlen(network) <= 64));
}

int network_port_validate(const struct port_mapping *p, cryo_err *err)
{
	if (p->host_port < 1 || p->host_port > 65535 || p->container_port < 1 || p->container_port > 65535)
		return cryo_error_plain(err, EINVAL, "published port %d:%d: ports are 1 to 65535",
		                        p->host_port, p->container_port);
	if (!p->protocol || (strcmp(p->protocol, "tcp") != 0 && strcmp(p->protocol, "udp") != 0))
		return cryo_error_plain(err, EINVAL, "published port %d: protocol `%s` is not tcp or udp",
		                        p->host_port, p->protocol ? p->protocol : "");
	if (p->host_ip && *p->host_ip && !network_ipv4_is_valid(p->host_ip))
		return cryo_error_plain(err, EINVAL,
		                        "published port %d: host address `%s` is not an IPv4 address",
		                        p->host_port, p->host_ip);
	return 0;
}

int network_port_parse(const char *arg, struct port_mapping *out, cryo_err *err)
{
	memset(out, 0, sizeof(*out));
	cleanup_free char *copy = xstrdup(arg);
	char *proto = strchr(copy, '/');
	if (proto)
		*proto++ = '\0';
	/* [HOSTIP:]HOSTPORT:CTRPORT */
	char *last = strrchr(copy, ':');
	if (!last)
		return cryo_error_plain(err, EINVAL,
		                        "invalid port `%s`: use [HOSTIP:]HOSTPORT:CTRPORT[/tcp|udp]", arg);
	*last = '\0';
	char *host_port = strrchr(copy, ':');
	char *host_ip = NULL;
	if (host_port) {
		*host_port++ = '\0';
		host_ip = copy;
	} else {
		host_port = copy;
	}
	int hp = parse_port_number(host_port, strlen(host_port)),
	    cp = parse_port_number(last + 1, strlen(last + 1));
	if (hp < 0 || cp < 0)
		return cryo_error_plain(err, EINVAL, "invalid port `%s`: ports are numbers from 1 to 65535",
		                        arg);
	out->host_ip = xstrdup(host_ip ? host_ip : "");
	out->host_port = hp;
	out->container_port = cp;
	out->protocol = xstrdup(proto ? proto : "tcp");
	int r = network_port_validate(out, err);
	if (r < 0) {
		network_port_clear(out);
		return cryo_error_wrap(err, "invalid port `%s`", arg);
	}
	return 0;
}

void network_port_clear(struct port_mapping *p)
{
	free(p->host_ip);
	free(p->protocol);
	memset(p, 0, sizeof(*p));
}

void network_ports_free(struct port_mapping *ports, size_t n)
{
	for (size_t i = 0; ports && i < n; i++)
		network_port_clear(&ports[i]);
	free(ports);
}

struct json_object *network_ports_to_json(const struct port_mapping *ports, size_t n)
{
	struct json_object *a = json_object_new_array();
	for (size_t i = 0; i < n; i++) {
		struct json_object *o = json_object_new_object();
		json_object_object_add(o, "host_ip",
		                       json_object_new_string(ports[i].host_ip ? ports[i].host_ip : ""));
		json_object_object_add(o, "host_port", json_object_new_int(ports[i].host_port));
		json_object_object_add(o, "container_port", json_object_new_int(ports[i].container_port));
		json_object_object_add(o, "protocol", json_object_new_string(ports[i].protocol));
		json_object_array_add(a, o);
	}
	return a;
}

#define PORTS_MAX 1024

int network_ports_from_json(struct json_object *a, struct port_mapping **out, size_t *n, cryo_err *err)
{
	*out = NULL;
	*n = 0;
	if (!a)
		return 0;
	if (!json_object_is_type(a, json_type_array))
		return cryo_error_plain(err, EINVAL, "`ports` is not an array");
	size_t len = json_object_array_length(a);
	if (len > PORTS_MAX)
		return cryo_error_plain(err, EINVAL, "%zu published ports: at most %d", len, PORTS_MAX);
	struct port_mapping *ports = xcalloc(len + 1, sizeof(*ports));
	for (size_t i = 0; i < len; i++) {
		struct json_object *o = json_object_array_get_idx(a, i), *hi, *hp, *cp, *pr;
		if (!json_object_is_type(o, json_type_object) ||
		    !json_object_object_get_ex(o, "host_port", &hp) ||
		    !json_object_is_type(hp, json_type_int) ||
		    !json_object_object_get_ex(o, "container_port", &cp) ||
		    !json_object_is_type(cp, json_type_int) ||
		    !json_object_object_get_ex(o, "protocol", &pr) ||
		    !json_object_is_type(pr, json_type_string) ||
		    (json_object_object_get_ex(o, "host_ip", &hi) &&
		     !json_object_is_type(hi, json_type_string))) {
			network_ports_free(ports, len + 1);
			return cryo_error_plain(err, EINVAL,
			                        "published port %zu: needs numbers host_port and "
			                        "container_port and a string protocol",
			                        i + 1);
		}
		int64_t h = json_object_get_int64(hp), c = json_object_get_int64(cp);
		ports[i].host_port = h < 0 || h > 65535 ? 0 : (int)h;
		ports[i].container_port = c < 0 || c > 65535 ? 0 : (int)c;
		ports[i].protocol = xstrdup(json_object_get_string(pr));
		ports[i].host_ip =
		    xstrdup(json_object_object_get_ex(o, "host_ip", &hi) ? json_object_get_string(hi) : "");
		int r = network_port_validate(&ports[i], err);
		if (r < 0) {
			network_ports_free(ports, len + 1);
			return r;
		}
	}
	*out = ports;
	*n = len;
	return 0;
}

/* ---- subnets ---- */

static int parse_cidr(const char *s, uint32_t *addr, int *prefix)
{
	char buf[INET_ADDRSTRLEN + 4];
	if (!s || strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	char *slash = strchr(buf, '/');
	if (!slash)
		return -EINVAL;
	*slash = '\0';
	int p = parse_port_number(slash + 1, strlen(slash + 1));
	struct in_addr a;
	if (p < 8 || p > 30 || inet_pton(AF_INET, buf, &a) != 1)
		return -EINVAL;
	*addr = ntohl(a.s_addr);
	*prefix = p;
	return 0;
}

static uint32_t prefix_mask(int prefix)
{
	return prefix == 0 ? 0 : 0xffffffffu << (32 - prefix);
}

static char *format_ipv4(uint32_t addr)
{
	struct in_addr a = {.s_addr = htonl(addr)};
	char buf[INET_ADDRSTRLEN];
	inet_ntop(AF_INET, &a, buf, sizeof(buf));
	return xstrdup(buf);
}

static uint32_t ipv4_value(const char *s)
{
	struct in_addr a = {0};
	inet_pton(AF_INET, s, &a);
	return ntohl(a.s_addr);
}

static bool subnets_overlap(uint32_t a, int pa, uint32_t b, int pb)
{
	int p = pa < pb ? pa : pb;
	return (a & prefix_mask(p)) == (b & prefix_mask(p));
}

/* Does the host route this subnet already (another engine's bridge, a LAN)? */
static bool host_routes_subnet(uint32_t addr, int prefix)
{
	cleanup_free char *text = NULL;
	if (read_file("/proc/net/route", &text, NULL, NULL) < 0)
		return false;
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char ifname[32];
		unsigned dest, gw, flags, refcnt, use, metric, mask;
		if (sscanf(line, "%31s %x %x %x %u %u %u %x", ifname, &dest, &gw, &flags, &refcnt, &use,
		           &metric, &mask) != 8)
			continue;
		if (mask == 0)
			continue; /* the default route covers everything */
		uint32_t d = ntohl(dest), m = ntohl(mask);
		int p = __builtin_popcount(m);
		if (subnets_overlap(addr, prefix, d, p))
			return true;
	}
	return false;
}

static bool interface_exists(const char *name)
{
	cleanup_free char *p = xasprintf("/sys/class/net/%s", name);
	return path_exists(p);
}

/* ---- the networks table (state.c) ---- */

static int network_lookup(struct cryo_engine *engine, const char *name, struct network **out, cryo_err *err)
{
	return state_network_get(engine, name, out, err);
}

int network_list(struct cryo_engine *engine, struct network ***out, size_t *count, cryo_err *err)
{
	return state_network_list(engine, out, count, err);
}

static void network_list_free(struct network **list)
{
	for (size_t i = 0; list && list[i]; i++)
		network_free(list[i]);
	free(list);
}

/* A subnet no network of this engine and no host route uses. */
static int choose_subnet(struct network **existing, char **subnet, cryo_err *err)
{
	for (int n = 0; n < 256; n++) {
		cleanup_free char *cand = xasprintf(NETWORK_AUTO_PREFIX ".%d.0/24", n);
		uint32_t addr;
		int prefix;
		if (parse_cidr(cand, &addr, &prefix) < 0)
			continue; /* cannot happen: cand is made above */
		bool used = host_routes_subnet(addr, prefix);
		for (size_t i = 0; !used && existing[i]; i++) {
			uint32_t a;
			int p;
			used = parse_cidr(existing[i]->subnet, &a, &p) == 0 &&
			       subnets_overlap(addr, prefix, a, p);
		}
		if (!used) {
			*subnet = move_ptr(cand);
			return 0;
		}
	}
	return cryo_error_plain(err, EADDRINUSE,
	                        "no free subnet in " NETWORK_AUTO_PREFIX ".0.0/16: give one with --subnet");
}

/* "cryoN": the first one neither this engine nor the host has. */
static char *choose_bridge(struct network **existing)
{
	for (int n = 0;; n++) {
		char *cand = xasprintf("cryo%d", n);
		bool used = interface_exists(cand);
		for (size_t i = 0; !used && existing[i]; i++)
			used = strcmp(existing[i]->bridge, cand) == 0;
		if (!used)
			return cand;
		free(cand);
	}
}

static int network_create_locked(struct cryo_engine *engine, const char *name, const char *subnet_in,
                                 const char *gateway_in, struct network **out, cryo_err *err)
{
	struct network **existing = NULL;
	size_t count = 0;
	cleanup_free char *subnet = NULL, *gateway = NULL, *bridge = NULL;
	uint32_t addr;
	int prefix, r;

	if (!network_name_is_valid(name) || !network_is_bridge(name))
		return cryo_error_plain(
		    err, EINVAL,
		    "invalid network name `%s`: use letters, digits, `_`, `.` and `-` (at most 64), "
		    "starting with a letter or digit; `none` and `host` are taken",
		    name);
	if ((r = network_list(engine, &existing, &count, err)) < 0)
		return r;
	for (size_t i = 0; i < count; i++)
		if (strcmp(existing[i]->name, name) == 0) {
			network_list_free(existing);
			return cryo_error_plain(err, EEXIST, "network `%s` already exists", name);
		}
	if (subnet_in) {
		if (parse_cidr(subnet_in, &addr, &prefix) < 0 || (addr & ~prefix_mask(prefix)) != 0) {
			network_list_free(existing);
			return cryo_error_plain(err, EINVAL,
			                        "invalid subnet `%s`: use A.B.C.D/N with N from 8 to 30 and "
			                        "no host bits set",
			                        subnet_in);
		}
		for (size_t i = 0; i < count; i++) {
			uint32_t a;
			int p;
			if (parse_cidr(existing[i]->subnet, &a, &p) == 0 &&
			    subnets_overlap(addr, prefix, a, p)) {
				r = cryo_error_plain(err, EADDRINUSE,
				                     "subnet `%s` overlaps network `%s` (%s)", subnet_in,
				                     existing[i]->name, existing[i]->subnet);
				network_list_free(existing);
				return r;
			}
		}
		subnet = xstrdup(subnet_in);
	} else if ((r = choose_subnet(existing, &subnet, err)) < 0) {
		network_list_free(existing);
		return r;
	}
	if (parse_cidr(subnet, &addr, &prefix) < 0) {
		network_list_free(existing);
		return cryo_error_plain(err, EINVAL, "subnet `%s` is not an IPv4 CIDR block", subnet);
	}
	if (gateway_in) {
		uint32_t g = ipv4_value(gateway_in);
		if (!network_ipv4_is_valid(gateway_in) || (g & prefix_mask(prefix)) != addr || g == addr ||
		    g == (addr | ~prefix_mask(prefix))) {
			network_list_free(existing);
			return cryo_error_plain(err, EINVAL,
			                        "gateway `%s` is not a host address of subnet `%s`",
			                        gateway_in, subnet);
		}
		gateway = xstrdup(gateway_in);
	} else {
		gateway = format_ipv4(addr + 1);
	}
	bridge = choose_bridge(existing);
	network_list_free(existing);

	int64_t created = now_realtime_us();
	if ((r = state_network_insert(engine, name, subnet, gateway, bridge, created, err)) < 0)
		return r;
	if (out) {
		struct network *n = xcalloc(1, sizeof(*n));
		n->name = xstrdup(name);
		n->subnet = move_ptr(subnet);
		n->gateway = move_ptr(gateway);
		n->bridge = move_ptr(bridge);
		n->created = created;
		*out = n;
	}
	return 0;
}

int network_create(struct cryo_engine *engine, const char *name, const char *subnet, const char *gateway,
                   struct network **out, cryo_err *err)
{
	cleanup_close int lock = -1;
	int r = lock_acquire(engine, NETWORK_LOCK, &lock, err);
	if (r < 0)
		return r;
	if ((r = network_create_locked(engine, name, subnet, gateway, out, err)) < 0)
		return cryo_error_wrap(err, "create network `%s`", name);
	return 0;
}

int network_get(struct cryo_engine *engine, const char *name, struct network **out, cryo_err *err)
{
	cleanup_error cryo_err first = NULL;
	int r = network_lookup(engine, name, out, &first);
	if (r != -ENOENT || strcmp(name, NETWORK_DEFAULT) != 0) {
		if (r < 0 && err)
			*err = move_ptr(first);
		return r;
	}
	cleanup_close int lock = -1;
	if ((r = lock_acquire(engine, NETWORK_LOCK, &lock, err)) < 0)
		return r;
	cryo_error_free(&first);
	if (network_lookup(engine, name, out, &first) == 0)
		return 0; /* made meanwhile */
	if ((r = network_create_locked(engine, name, NULL, NULL, out, err)) < 0)
		return cryo_error_wrap(err, "create the default network `%s`", name);
	return 0;
}

int network_check_address(const struct network *net, const char *ip, cryo_err *err)
{
	uint32_t addr, value = ipv4_value(ip);
	int prefix;
	if (!network_ipv4_is_valid(ip) || parse_cidr(net->subnet, &addr, &prefix) < 0 ||
	    (value & prefix_mask(prefix)) != addr || value == addr ||
	    value == (addr | ~prefix_mask(prefix)) || strcmp(ip, net->gateway) == 0)
		return cryo_error_plain(
		    err, EINVAL,
		    "IP address `%s` is not a free host address of network `%s` (%s, gateway %s)", ip,
		    net->name, net->subnet, net->gateway);
	return 0;
}

/* ---- attachments (network.json) ---- */

char *network_netns_path(struct cryo_engine *engine, const char *id)
{
	return layout_netns(engine->runroot, id);
}

static char *record_path(struct cryo_engine *engine, const char *id)
{
	return layout_container_network_record(engine->root, id);
}

static const char *jstr(struct json_object *o, const char *key)
{
	struct json_object *v;
	if (o && json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string))
		return json_object_get_string(v);
	return NULL;
}

static struct json_object *record_read(const char *path)
{
	cleanup_free char *text = NULL;
	if (read_file_bounded(path, NETWORK_RECORD_MAX, &text, NULL, NULL) < 0)
		return NULL;
	struct json_object *o = json_tokener_parse(text);
	if (o && !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

void network_status_free(struct network_status *s)
{
	free(s->network);
	free(s->ip);
	free(s->gateway);
	free(s->mac);
	network_ports_free(s->ports, s->n_ports);
	memset(s, 0, sizeof(*s));
}

static int status_from_record(struct json_object *rec, struct network_status *out, cryo_err *err)
{
	struct json_object *v;
	memset(out, 0, sizeof(*out));
	out->network = xstrdup(jstr(rec, "network") ? jstr(rec, "network") : "");
	out->ip = xstrdup(jstr(rec, "ip") ? jstr(rec, "ip") : "");
	out->gateway = xstrdup(jstr(rec, "gateway") ? jstr(rec, "gateway") : "");
	out->mac = xstrdup(jstr(rec, "mac") ? jstr(rec, "mac") : "");
	out->prefix = json_object_object_get_ex(rec, "prefix", &v) ? json_object_get_int(v) : 0;
	json_object_object_get_ex(rec, "ports", &v);
	return network_ports_from_json(v, &out->ports, &out->n_ports, err);
}

int network_status_read(struct cryo_engine *engine, const char *id, struct network_status *out, cryo_err *err)
{
	cleanup_free char *path = record_path(engine, id);
	struct json_object *rec = record_read(path);
	if (!rec)
		return -ENOENT;
	int r = status_from_record(rec, out, err);
	json_object_put(rec);
	return r;
}

struct json_object *network_status_to_json(const struct network_status *s)
{
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "network", json_object_new_string(s->network));
	json_object_object_add(o, "ip", json_object_new_string(s->ip));
	json_object_object_add(o, "prefix", json_object_new_int(s->prefix));
	json_object_object_add(o, "gateway", json_object_new_string(s->gateway));
	json_object_object_add(o, "mac", json_object_new_string(s->mac));
	json_object_object_add(o, "ports", network_ports_to_json(s->ports, s->n_ports));
	return o;
}

/* Calls fn for every attached container's record but `self_id`'s. */
static int for_each_record(struct cryo_engine *engine, const char *self_id,
                           int (*fn)(const char *id, struct json_object *rec, void *data), void *data)
{
	cleanup_free char *dir = layout_containers_dir(engine->root);
	cleanup_dir DIR *d = opendir(dir);
	if (!d)
		return 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' || (self_id && strcmp(de->d_name, self_id) == 0))
			continue;
		cleanup_free char *path = layout_container_network_record(engine->root, de->d_name);
		struct json_object *rec = path ? record_read(path) : NULL;
		if (!rec)
			continue;
		int r = fn(de->d_name, rec, data);
		json_object_put(rec);
		if (r != 0)
			return r;
	}
	return 0;
}

struct in_use_query {
	const char *network, *ip, *mac;
	bool ip_used, mac_used;
};

static int in_use_check(const char *id, struct json_object *rec, void *data)
{
	(void)id;
	struct in_use_query *q = data;
	const char *net = jstr(rec, "network"), *ip = jstr(rec, "ip"), *mac = jstr(rec, "mac");
	if (!net || strcmp(net, q->network) != 0)
		return 0;
	if (q->ip && ip && strcmp(ip, q->ip) == 0)
		q->ip_used = true;
	if (q->mac && mac && strcasecmp(mac, q->mac) == 0)
		q->mac_used = true;
	return 0;
}

int network_address_in_use(struct cryo_engine *engine, const char *network, const char *self_id,
                           const char *ip, const char *mac, bool *ip_used, bool *mac_used, cryo_err *err)
{
	(void)err;
	struct in_use_query q = {.network = network, .ip = ip, .mac = mac};
	for_each_record(engine, self_id, in_use_check, &q);
	*ip_used = q.ip_used;
	*mac_used = q.mac_used;
	return 0;
}

struct port_query {
	const struct port_mapping *port;
	char *owner;
};

static bool host_ips_overlap(const char *a, const char *b)
{
	return !a || !*a || !b || !*b || strcmp(a, b) == 0;
}

static int port_check(const char *id, struct json_object *rec, void *data)
{
	struct port_query *q = data;
	struct json_object *v;
	struct port_mapping *ports = NULL;
	size_t n = 0;
	if (!json_object_object_get_ex(rec, "ports", &v) || network_ports_from_json(v, &ports, &n, NULL) < 0)
		return 0;
	for (size_t i = 0; i < n && !q->owner; i++)
		if (ports[i].host_port == q->port->host_port &&
		    strcmp(ports[i].protocol, q->port->protocol) == 0 &&
		    host_ips_overlap(ports[i].host_ip, q->port->host_ip))
			q->owner = xstrdup(jstr(rec, "name") ? jstr(rec, "name") : id);
	network_ports_free(ports, n);
	return q->owner ? 1 : 0;
}

/* A host process bound to the port: binding it ourselves fails. */
static int port_bound_on_host(const struct port_mapping *p)
{
	int type = strcmp(p->protocol, "udp") == 0 ? SOCK_DGRAM : SOCK_STREAM;
	cleanup_close int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)p->host_port)};
	if (p->host_ip && *p->host_ip)
		inet_pton(AF_INET, p->host_ip, &sa.sin_addr);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno == EADDRINUSE)
		return 1;
	return 0;
}

static int check_ports(struct cryo_engine *engine, const char *self_id, const struct port_mapping *ports,
                       size_t n, cryo_err *err)
{
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < i; j++)
			if (ports[j].host_port == ports[i].host_port &&
			    strcmp(ports[j].protocol, ports[i].protocol) == 0 &&
			    host_ips_overlap(ports[j].host_ip, ports[i].host_ip))
				return cryo_error_plain(err, EINVAL, "host port %d/%s is published twice",
				                        ports[i].host_port, ports[i].protocol);
		struct port_query q = {.port = &ports[i]};
		for_each_record(engine, self_id, port_check, &q);
		if (q.owner) {
			int r = cryo_error_plain(err, EADDRINUSE,
			                         "host port %d/%s is already published by container `%s`",
			                         ports[i].host_port, ports[i].protocol, q.owner);
			free(q.owner);
			return r;
		}
		if (port_bound_on_host(&ports[i]))
			return cryo_error_plain(err, EADDRINUSE,
			                        "host port %d/%s is in use by a process on the host",
			                        ports[i].host_port, ports[i].protocol);
	}
	return 0;
}

/* ---- the CNI chain ---- */

static struct json_object *plugin_bridge(struct cryo_engine *engine, const struct network *net)
{
	struct json_object *p = json_object_new_object();
	json_object_object_add(p, "type", json_object_new_string("bridge"));
	json_object_object_add(p, "bridge", json_object_new_string(net->bridge));
	json_object_object_add(p, "isGateway", json_object_new_boolean(1));
	json_object_object_add(p, "ipMasq", json_object_new_boolean(1));
	json_object_object_add(p, "hairpinMode", json_object_new_boolean(1));
	struct json_object *ipam = json_object_new_object();
	json_object_object_add(ipam, "type", json_object_new_string("host-local"));
	struct json_object *range = json_object_new_object();
	json_object_object_add(range, "subnet", json_object_new_string(net->subnet));
	json_object_object_add(range, "gateway", json_object_new_string(net->gateway));
	struct json_object *set = json_object_new_array(), *ranges = json_object_new_array();
	json_object_array_add(set, range);
	json_object_array_add(ranges, set);
	json_object_object_add(ipam, "ranges", ranges);
	struct json_object *routes = json_object_new_array(), *def = json_object_new_object();
	json_object_object_add(def, "dst", json_object_new_string("0.0.0.0/0"));
	json_object_array_add(routes, def);
	json_object_object_add(ipam, "routes", routes);
	cleanup_free char *data_dir = layout_ipam_dir(engine->root);
	json_object_object_add(ipam, "dataDir", json_object_new_string(data_dir));
	json_object_object_add(p, "ipam", ipam);
	return p;
}

static struct json_object *plugin_of_type(const char *type)
{
	struct json_object *p = json_object_new_object();
	json_object_object_add(p, "type", json_object_new_string(type));
	if (strcmp(type, "portmap") == 0)
		json_object_object_add(p, "snat", json_object_new_boolean(1));
	if (strcmp(type, "firewall") == 0)
		json_object_object_add(p, "backend", json_object_new_string("iptables"));
	return p;
}

static struct json_object *port_mappings_json(const struct port_mapping *ports, size_t n)
{
	struct json_object *a = json_object_new_array();
	for (size_t i = 0; i < n; i++) {
		struct json_object *o = json_object_new_object();
		json_object_object_add(o, "hostPort", json_object_new_int(ports[i].host_port));
		json_object_object_add(o, "containerPort", json_object_new_int(ports[i].container_port));
		json_object_object_add(o, "protocol", json_object_new_string(ports[i].protocol));
		if (ports[i].host_ip && *ports[i].host_ip)
			json_object_object_add(o, "hostIP", json_object_new_string(ports[i].host_ip));
		json_object_array_add(a, o);
	}
	return a;
}

/* What one plugin reads on stdin: its configuration, the network's name,
 * the CNI version, the previous result and the runtime's values. */
static struct json_object *plugin_stdin(struct json_object *plugin, const char *network,
                                        struct json_object *prev, struct json_object *runtime_config)
{
	struct json_object *conf = NULL;
	json_object_deep_copy(plugin, &conf, NULL);
	json_object_object_add(conf, "cniVersion", json_object_new_string(CNI_VERSION));
	json_object_object_add(conf, "name", json_object_new_string(network));
	if (prev)
		json_object_object_add(conf, "prevResult", json_object_get(prev));
	if (runtime_config)
		json_object_object_add(conf, "runtimeConfig", json_object_get(runtime_config));
	return conf;
}

/* CNI DEL of the record's plugins, last first. Every plugin is asked even
 * when one fails; the first failure is reported. */
static int chain_del(const char *id, struct json_object *rec, cryo_err *err)
{
	struct json_object *plugins, *result = NULL, *rc = NULL;
	const char *netns = jstr(rec, "netns"), *network = jstr(rec, "network");
	int first = 0;
	if (!json_object_object_get_ex(rec, "plugins", &plugins) ||
	    !json_object_is_type(plugins, json_type_array) || !network)
		return 0;
	json_object_object_get_ex(rec, "result", &result);
	json_object_object_get_ex(rec, "runtimeConfig", &rc);
	if (result && !json_object_is_type(result, json_type_object))
		result = NULL;
	/* Ask nothing of a namespace that is gone (a host reboot): the plugins
	 * release what they hold on the host side with an empty CNI_NETNS. */
	bool netns_there = netns && path_exists(netns);
	for (size_t i = json_object_array_length(plugins); i-- > 0;) {
		struct json_object *conf =
		    plugin_stdin(json_object_array_get_idx(plugins, i), network, result, rc);
		cleanup_error cryo_err e = NULL;
		int r = cni_plugin_run("DEL", id, netns_there ? netns : "", "eth0", conf, NULL, &e);
		json_object_put(conf);
		if (r < 0 && first == 0) {
			first = r;
			if (err)
				*err = move_ptr(e);
		}
	}
	return first;
}

static int loopback_up(const char *id, const char *netns, cryo_err *err)
{
	struct json_object *lo = json_object_new_object();
	json_object_object_add(lo, "cniVersion", json_object_new_string(CNI_VERSION));
	json_object_object_add(lo, "name", json_object_new_string("lo"));
	json_object_object_add(lo, "type", json_object_new_string("loopback"));
	struct json_object *res = NULL;
	int r = cni_plugin_run("ADD", id, netns, "lo", lo, &res, err);
	json_object_put(lo);
	if (res)
		json_object_put(res);
	return r;
}

/* The container's address and MAC from the chain's result. */
static void result_addresses(struct json_object *result, struct json_object *rec)
{
	struct json_object *ips, *ifaces, *v;
	if (json_object_object_get_ex(result, "ips", &ips) && json_object_is_type(ips, json_type_array) &&
	    json_object_array_length(ips) > 0) {
		struct json_object *first = json_object_array_get_idx(ips, 0);
		const char *addr = jstr(first, "address"), *gw = jstr(first, "gateway");
		if (addr) {
			cleanup_free char *ip = xstrdup(addr);
			char *slash = strchr(ip, '/');
			int prefix = 0;
			if (slash) {
				*slash = '\0';
				prefix = atoi(slash + 1);
			}
			json_object_object_add(rec, "ip", json_object_new_string(ip));
			json_object_object_add(rec, "prefix", json_object_new_int(prefix));
		}
		if (gw)
			json_object_object_add(rec, "gateway", json_object_new_string(gw));
	}
	if (json_object_object_get_ex(result, "interfaces", &ifaces) &&
	    json_object_is_type(ifaces, json_type_array))
		for (size_t i = 0; i < json_object_array_length(ifaces); i++) {
			struct json_object *iface = json_object_array_get_idx(ifaces, i);
			if (json_object_object_get_ex(iface, "sandbox", &v) && jstr(iface, "mac")) {
				json_object_object_add(rec, "mac",
				                       json_object_new_string(jstr(iface, "mac")));
				break;
			}
		}
}

static int record_write(const char *path, struct json_object *rec, cryo_err *err)
{
	const char *text = json_object_to_json_string_ext(rec, JSON_C_TO_STRING_PLAIN);
	return write_file_atomic(path, text, strlen(text), 0600, err);
}

/* Remove what an attachment made: CNI DEL, the namespace, the record. */
static int teardown_record(struct cryo_engine *engine, const char *id, struct json_object *rec, cryo_err *err)
{
	int r = chain_del(id, rec, err);
	cleanup_free char *netns = network_netns_path(engine, id);
	cleanup_error cryo_err e2 = NULL;
	int r2 = cni_netns_remove(netns, r < 0 ? &e2 : err);
	return r < 0 ? r : r2;
}

int network_attach(struct cryo_engine *engine, const char *id, const struct network_attach_opts *opts,
                   struct network_status *out, cryo_err *err)
{
	cleanup_network struct network *net = NULL;
	cleanup_close int lock = -1;
	cleanup_free char *netns = network_netns_path(engine, id);
	cleanup_free char *path = record_path(engine, id);
	cleanup_free char *netns_dir = layout_netns_dir(engine->runroot);
	cleanup_free char *ipam_dir = layout_ipam_dir(engine->root);
	struct json_object *rec = NULL, *plugins = NULL, *rc = NULL, *result = NULL;
	int r;

	if ((r = network_get(engine, opts->network, &net, err)) < 0)
		return r;
	if ((r = lock_acquire(engine, NETWORK_LOCK, &lock, err)) < 0)
		return r;
	/* A leftover of an earlier run of this container goes first. */
	if ((r = network_detach(engine, id, err)) < 0)
		return cryo_error_wrap(err, "remove the previous network attachment");
	if ((r = check_ports(engine, id, opts->ports, opts->n_ports, err)) < 0)
		return r;
	if (opts->ip || opts->mac) {
		bool ip_used = false, mac_used = false;
		network_address_in_use(engine, net->name, id, opts->ip, opts->mac, &ip_used, &mac_used, err);
		if (ip_used)
			return cryo_error_plain(err, EADDRINUSE, "IP address `%s` is in use on network `%s`",
			                        opts->ip, net->name);
		if (mac_used)
			return cryo_error_plain(err, EADDRINUSE, "MAC address `%s` is in use on network `%s`",
			                        opts->mac, net->name);
	}
	if (opts->ip && (r = network_check_address(net, opts->ip, err)) < 0)
		return r;
	if ((r = mkdir_p(netns_dir, 0700, err)) < 0 || (r = mkdir_p(ipam_dir, 0700, err)) < 0)
		return r;

	plugins = json_object_new_array();
	json_object_array_add(plugins, plugin_bridge(engine, net));
	if (opts->n_ports > 0)
		json_object_array_add(plugins, plugin_of_type("portmap"));
	json_object_array_add(plugins, plugin_of_type("firewall"));
	rc = json_object_new_object();
	if (opts->ip) {
		struct json_object *ips = json_object_new_array();
		json_object_array_add(ips, json_object_new_string(opts->ip));
		json_object_object_add(rc, "ips", ips);
	}
	if (opts->mac)
		json_object_object_add(rc, "mac", json_object_new_string(opts->mac));
	if (opts->n_ports > 0)
		json_object_object_add(rc, "portMappings", port_mappings_json(opts->ports, opts->n_ports));

	/* The record first: a cryo killed during the chain leaves what the next
	 * teardown needs. */
	rec = json_object_new_object();
	cleanup_free char *generation = random_id();
	json_object_object_add(rec, "generation", json_object_new_string(generation));
	json_object_object_add(rec, "network", json_object_new_string(net->name));
	json_object_object_add(rec, "name", json_object_new_string(opts->name));
	json_object_object_add(rec, "hostname", json_object_new_string(opts->hostname));
	json_object_object_add(rec, "netns", json_object_new_string(netns));
	json_object_object_add(rec, "bridge", json_object_new_string(net->bridge));
	json_object_object_add(rec, "plugins", plugins);
	json_object_object_add(rec, "runtimeConfig", rc);
	json_object_object_add(rec, "ports", network_ports_to_json(opts->ports, opts->n_ports));
	if ((r = cni_netns_remove(netns, err)) < 0 || (r = cni_netns_create(netns, err)) < 0)
		goto fail;
	if ((r = record_write(path, rec, err)) < 0)
		goto fail;
	if ((r = loopback_up(id, netns, err)) < 0)
		goto fail;
	for (size_t i = 0; i < json_object_array_length(plugins); i++) {
		struct json_object *conf =
		    plugin_stdin(json_object_array_get_idx(plugins, i), net->name, result, rc);
		struct json_object *next = NULL;
		r = cni_plugin_run("ADD", id, netns, "eth0", conf, &next, err);
		json_object_put(conf);
		if (r < 0)
			goto fail;
		if (result)
			json_object_put(result);
		result = next;
	}
	json_object_object_add(rec, "result", json_object_get(result));
	result_addresses(result, rec);
	if ((r = record_write(path, rec, err)) < 0)
		goto fail;
	if (out && (r = status_from_record(rec, out, err)) < 0)
		goto fail;
	json_object_put(result);
	json_object_put(rec);
	return 0;
fail:
	if (!result)
		json_object_object_add(rec, "result", NULL);
	else
		json_object_object_add(rec, "result", json_object_get(result));
	teardown_record(engine, id, rec, NULL);
	unlink(path);
	if (result)
		json_object_put(result);
	json_object_put(rec);
	return cryo_error_wrap(err, "attach to network `%s`", net->name);
}

char *network_generation(struct cryo_engine *engine, const char *id)
{
	cleanup_free char *path = record_path(engine, id);
	struct json_object *rec = record_read(path);
	char *gen = rec && jstr(rec, "generation") ? xstrdup(jstr(rec, "generation")) : NULL;
	if (rec)
		json_object_put(rec);
	return gen;
}

int network_detach(struct cryo_engine *engine, const char *id, cryo_err *err)
{
	return network_detach_generation(engine, id, NULL, err);
}

int network_detach_generation(struct cryo_engine *engine, const char *id, const char *generation,
                              cryo_err *err)
{
	cleanup_free char *path = record_path(engine, id);
	cleanup_close int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		/* Not attached; a namespace without a record is still removed. */
		cleanup_free char *netns = network_netns_path(engine, id);
		return errno == ENOENT ? cni_netns_remove(netns, err)
		                       : cryo_error_set(err, errno, "open `%s`", path);
	}
	/* Whoever holds the lock tears down; the next one finds the record gone. */
	while (flock(fd, LOCK_EX) < 0)
		if (errno != EINTR)
			return cryo_error_set(err, errno, "lock `%s`", path);
	struct stat st;
	if (fstat(fd, &st) < 0 || st.st_nlink == 0)
		return 0;
	struct json_object *rec = record_read(path);
	int r = 0;
	if (rec && generation &&
	    (!jstr(rec, "generation") || strcmp(jstr(rec, "generation"), generation) != 0)) {
		json_object_put(rec);
		return 0; /* a newer attachment (a restore's), not the caller's */
	}
	if (rec)
		r = teardown_record(engine, id, rec, err);
	if (rec)
		json_object_put(rec);
	if (r < 0)
		return cryo_error_wrap(err, "detach container `%.12s` from its network", id);
	unlink(path);
	return 0;
}

/* ---- /etc/hosts ---- */

struct hosts_query {
	const char *network;
	char *text;
};

static int hosts_add(const char *id, struct json_object *rec, void *data)
{
	(void)id;
	struct hosts_query *q = data;
	const char *net = jstr(rec, "network"), *ip = jstr(rec, "ip"), *name = jstr(rec, "name"),
	           *host = jstr(rec, "hostname");
	if (!net || strcmp(net, q->network) != 0 || !network_ipv4_is_valid(ip) || !name ||
	    !name_is_valid(name))
		return 0;
	bool host_ok = host && *host &&
	               strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") ==
	                   strlen(host) &&
	               strcmp(host, name) != 0;
	char *more = xasprintf("%s%s\t%s%s%s\n", q->text, ip, name, host_ok ? " " : "", host_ok ? host : "");
	free(q->text);
	q->text = more;
	return 0;
}

int network_hosts_lines(struct cryo_engine *engine, const char *self_id, char **out, cryo_err *err)
{
	cleanup_free char *path = record_path(engine, self_id);
	struct json_object *rec = record_read(path);
	*out = NULL;
	if (!rec)
		return cryo_error_plain(err, ENOENT, "container `%.12s` is not attached to a network",
		                        self_id);
	struct hosts_query q = {.network = jstr(rec, "network"), .text = xstrdup("")};
	if (q.network) {
		hosts_add(self_id, rec, &q);
		for_each_record(engine, self_id, hosts_add, &q);
	}
	json_object_put(rec);
	*out = q.text;
	return 0;
}

struct members_query {
	const char *network, *except_id;
	char **ids;
};

static int member_add(const char *id, struct json_object *rec, void *data)
{
	struct members_query *q = data;
	const char *net = jstr(rec, "network");
	if (net && strcmp(net, q->network) == 0 && !(q->except_id && strcmp(id, q->except_id) == 0))
		strv_push(&q->ids, id);
	return 0;
}

char **network_member_ids(struct cryo_engine *engine, const char *network, const char *except_id)
{
	struct members_query q = {
	    .network = network, .except_id = except_id, .ids = xcalloc(1, sizeof(char *))};
	for_each_record(engine, NULL, member_add, &q);
	return q.ids;
}

/* ---- removal and inspection ---- */

struct users_query {
	const char *network;
	char *user;
};

int network_remove(struct cryo_engine *engine, const char *name, cryo_err *err)
{
	cleanup_network struct network *net = NULL;
	cleanup_close int lock = -1;
	cleanup_free char *user = NULL;
	int r;

	if ((r = lock_acquire(engine, NETWORK_LOCK, &lock, err)) < 0 ||
	    (r = network_lookup(engine, name, &net, err)) < 0)
		return r;
	if ((r = state_network_user(engine, name, &user, err)) < 0)
		return r;
	if (user)
		return cryo_error_plain(
		    err, EBUSY, "remove network `%s`: container `%s` uses it; remove the container first",
		    name, user);
	if ((r = state_network_delete(engine, name, err)) < 0)
		return r;
	/* The bridge the plugin made, and the (empty) IPAM store. */
	if (interface_exists(net->bridge)) {
		char *const argv[] = {"ip", "link", "delete", net->bridge, NULL};
		struct proc_opts po = PROC_OPTS_INIT;
		po.capture_stderr = true;
		struct proc_result res = {0};
		if (proc_run(argv, &po, &res, NULL) == 0 && res.status != 0 && interface_exists(net->bridge))
			r = cryo_error_plain(err, EIO, "network `%s` removed, but its bridge `%s` stays: %s",
			                     name, net->bridge,
			                     res.errout ? str_rstrip(res.errout) : "ip link delete failed");
		proc_result_free(&res);
	}
	cleanup_free char *ipam = layout_ipam_network(engine->root, name);
	rm_rf(ipam, NULL);
	return r;
}

struct json_object *network_inspect_json(struct cryo_engine *engine, const struct network *n)
{
	(void)engine;
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "Name", json_object_new_string(n->name));
	json_object_object_add(o, "Driver", json_object_new_string("bridge"));
	json_object_object_add(o, "Bridge", json_object_new_string(n->bridge));
	json_object_object_add(o, "Subnet", json_object_new_string(n->subnet));
	json_object_object_add(o, "Gateway", json_object_new_string(n->gateway));
	cleanup_free char *created = format_timestamp(n->created);
	json_object_object_add(o, "Created", json_object_new_string(created));
	return o;
}
