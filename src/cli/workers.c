#include "workers.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "container.h"
#include "state.h"
#include "util.h"

bool cli_parse_workers(const char *s, unsigned *out)
{
	unsigned long long n;
	if (!cli_parse_uint64(s, &n) || n == 0 || n > CLI_MAX_WORKERS)
		return false;
	*out = (unsigned)n;
	return true;
}

unsigned cli_workers_default(struct cli *cli, unsigned requested)
{
	if (requested)
		return requested;
	if (cli->engine) {
		uint64_t configured = config_uint(cli->engine->config, "engine.parallel");
		if (configured)
			return configured > CLI_MAX_WORKERS ? CLI_MAX_WORKERS : (unsigned)configured;
	}
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	return cpus < 1 ? 1 : cpus > CLI_MAX_WORKERS ? CLI_MAX_WORKERS : (unsigned)cpus;
}

int cli_all_failed(const char *what, char **failed, size_t total)
{
	if (!failed[0])
		return 0;
	cleanup_free char *list = xstrdup("");
	for (size_t i = 0; failed[i]; i++) {
		char *longer = xasprintf("%s%s`%s`", list, i ? ", " : "", failed[i]);
		free(list);
		list = longer;
	}
	fprintf(stderr, "Error: %s: %zu of %zu containers failed: %s\n", what, strv_len(failed), total, list);
	return EXIT_ENGINE;
}

/* ---- grouping ---- */

static size_t find_root(size_t *parent, size_t i)
{
	while (parent[i] != i)
		i = parent[i] = parent[parent[i]];
	return i;
}

char ***cli_group_by_volume(struct cryo_engine *engine, char **names)
{
	size_t n = strv_len(names);
	cleanup_free size_t *parent = xcalloc(n ? n : 1, sizeof(size_t));
	char ***volumes = xcalloc(n ? n : 1, sizeof(char **));
	for (size_t i = 0; i < n; i++) {
		parent[i] = i;
		volumes[i] = xcalloc(1, sizeof(char *));
		cleanup_container struct container *c = NULL;
		struct container_config cfg;
		if (state_container_get(engine, names[i], &c, NULL) < 0 ||
		    container_config_from_json(c->config, &cfg, NULL) < 0)
			continue;
		for (size_t m = 0; m < cfg.n_mounts; m++)
			if (cfg.mounts[m].kind == MOUNT_VOLUME)
				strv_push(&volumes[i], cfg.mounts[m].source);
		container_config_free(&cfg);
	}
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++)
			for (char **v = volumes[i]; *v; v++)
				for (char **w = volumes[j]; *w; w++)
					if (strcmp(*v, *w) == 0)
						parent[find_root(parent, j)] = find_root(parent, i);
	for (size_t i = 0; i < n; i++)
		strv_free(volumes[i]);
	free(volumes);

	/* One group per root, in the order of each group's first name. */
	char ***groups = xcalloc(n + 1, sizeof(char **));
	cleanup_free size_t *group_of_root = xcalloc(n ? n : 1, sizeof(size_t));
	size_t n_groups = 0;
	for (size_t i = 0; i < n; i++) {
		size_t root = find_root(parent, i);
		if (root == i) {
			group_of_root[root] = n_groups;
			groups[n_groups++] = xcalloc(1, sizeof(char *));
		}
	}
	for (size_t i = 0; i < n; i++)
		strv_push(&groups[group_of_root[find_root(parent, i)]], names[i]);
	return groups;
}

void cli_groups_free(char ***groups)
{
	if (!groups)
		return;
	for (char ***g = groups; *g; g++)
		strv_free(*g);
	free(groups);
}

/* ---- the worker ---- */

static void write_all_fd(int fd, const char *s, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, s, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		s += n;
		len -= (size_t)n;
	}
}

/* One line of JSON per container: {"container", "ok", "result"|"error"}. */
static void worker_report(int fd, const char *name, struct json_object *result, const char *error)
{
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "container", json_object_new_string(name));
	json_object_object_add(o, "ok", json_object_new_boolean(error == NULL));
	if (error)
		json_object_object_add(o, "error", json_object_new_string(error));
	else if (result)
		json_object_object_add(o, "result", json_object_get(result));
	cleanup_free char *line =
	    xasprintf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	write_all_fd(fd, line, strlen(line));
	json_object_put(o);
}

static __attribute__((noreturn)) void worker_main(struct cli *cli, char **group, int fd, cli_job_fn job,
                                                  void *data)
{
	cleanup_error cryo_err err = NULL;
	struct cryo_engine *engine = NULL;
	if (cryo_engine_open(&engine, &cli->opts, &err) < 0) {
		for (char **name = group; *name; name++)
			worker_report(fd, *name, NULL, err->msg);
		_exit(1);
	}
	for (char **name = group; *name; name++) {
		cleanup_error cryo_err job_err = NULL;
		struct json_object *result = NULL;
		if (job(engine, *name, data, &result, &job_err) < 0)
			worker_report(fd, *name, NULL, job_err ? job_err->msg : "unknown error");
		else
			worker_report(fd, *name, result, NULL);
		json_object_put(result);
	}
	cryo_engine_close(engine);
	fflush(NULL);
	_exit(0);
}

/* ---- the pool ---- */

struct worker {
	pid_t pid;
	int fd;
	char **group;
	char *buf; /* what has arrived and is not a whole line yet */
	size_t len;
	bool *reported; /* per name of the group */
};

struct pool {
	cli_report_fn report;
	void *report_data;
	char ***failed;
};

static void pool_result(struct pool *pool, struct worker *w, const char *line)
{
	struct json_object *o = json_tokener_parse(line);
	struct json_object *name_o, *ok_o, *error_o, *result_o = NULL;
	if (!o || !json_object_object_get_ex(o, "container", &name_o) ||
	    !json_object_object_get_ex(o, "ok", &ok_o)) {
		json_object_put(o);
		return;
	}
	const char *name = json_object_get_string(name_o);
	for (size_t i = 0; w->group[i]; i++)
		if (!w->reported[i] && strcmp(w->group[i], name) == 0) {
			w->reported[i] = true;
			break;
		}
	if (json_object_get_boolean(ok_o)) {
		json_object_object_get_ex(o, "result", &result_o);
		pool->report(name, result_o, NULL, pool->report_data);
	} else {
		const char *msg = json_object_object_get_ex(o, "error", &error_o)
		                      ? json_object_get_string(error_o)
		                      : "unknown error";
		pool->report(name, NULL, msg, pool->report_data);
		strv_push(pool->failed, name);
	}
	json_object_put(o);
}

static void pool_read(struct pool *pool, struct worker *w, bool *eof)
{
	char chunk[4096];
	ssize_t n = read(w->fd, chunk, sizeof(chunk));
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		*eof = true;
		return;
	}
	w->buf = xrealloc(w->buf, w->len + (size_t)n + 1);
	memcpy(w->buf + w->len, chunk, (size_t)n);
	w->len += (size_t)n;
	w->buf[w->len] = '\0';
	char *start = w->buf, *nl;
	while ((nl = strchr(start, '\n'))) {
		*nl = '\0';
		pool_result(pool, w, start);
		start = nl + 1;
	}
	w->len = strlen(start);
	memmove(w->buf, start, w->len + 1);
}

/* A worker has closed its pipe: reap it, and report the names it never
 * reported (it crashed or was killed) as failed. */
static void pool_finish(struct pool *pool, struct worker *w)
{
	int status = 0;
	while (waitpid(w->pid, &status, 0) < 0 && errno == EINTR)
		;
	for (size_t i = 0; w->group[i]; i++) {
		if (w->reported[i])
			continue;
		cleanup_free char *msg =
		    WIFSIGNALED(status)
		        ? xasprintf("`%s`: its worker process %d was killed by signal %d", w->group[i],
		                    (int)w->pid, WTERMSIG(status))
		        : xasprintf("`%s`: its worker process %d exited (status %d) without reporting",
		                    w->group[i], (int)w->pid, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
		pool->report(w->group[i], NULL, msg, pool->report_data);
		strv_push(pool->failed, w->group[i]);
	}
	close(w->fd);
	free(w->buf);
	free(w->reported);
	*w = (struct worker){.fd = -1};
}

static int pool_spawn(struct cli *cli, struct worker *workers, unsigned max_workers, struct worker *w,
                      char **group, cli_job_fn job, void *data, cryo_err *err)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return cryo_error_set(err, errno, "start a worker: pipe");
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		int saved = errno;
		close(p[0]);
		close(p[1]);
		return cryo_error_set(err, saved, "start a worker: fork");
	}
	if (pid == 0) {
		close(p[0]);
		for (unsigned i = 0; i < max_workers; i++)
			if (workers[i].pid > 0)
				close(workers[i].fd);
		worker_main(cli, group, p[1], job, data);
	}
	close(p[1]);
	*w = (struct worker){
	    .pid = pid,
	    .fd = p[0],
	    .group = group,
	    .reported = xcalloc(strv_len(group) + 1, sizeof(bool)),
	};
	return 0;
}

int cli_run_workers(struct cli *cli, char ***groups, unsigned max_workers, cli_job_fn job, void *job_data,
                    cli_report_fn report, void *report_data, char ***failed, cryo_err *err)
{
	struct pool pool = {.report = report, .report_data = report_data, .failed = failed};
	cleanup_free struct worker *workers = xcalloc(max_workers, sizeof(struct worker));
	unsigned running = 0;
	size_t next = 0;
	int r = 0;

	*failed = xcalloc(1, sizeof(char *));
	size_t n_groups = 0, n_names = 0;
	for (char ***g = groups; *g; g++, n_groups++)
		n_names += strv_len(*g);
	cryo_debug("%zu containers in %zu groups, at most %u workers at a time", n_names, n_groups,
	           max_workers);
	/* Each worker opens its own engine: SQLite must not cross a fork. */
	cryo_engine_closep(&cli->engine);
	for (unsigned i = 0; i < max_workers; i++)
		workers[i].fd = -1;
	while (groups[next] || running > 0) {
		for (unsigned i = 0; r == 0 && groups[next] && i < max_workers; i++) {
			if (workers[i].pid > 0)
				continue;
			if ((r = pool_spawn(cli, workers, max_workers, &workers[i], groups[next], job,
			                    job_data, err)) < 0)
				break;
			next++;
			running++;
		}
		if (r < 0) { /* the pool cannot grow: what is left fails */
			for (; groups[next]; next++)
				for (char **name = groups[next]; *name; name++) {
					report(*name, NULL, (*err)->msg, report_data);
					strv_push(failed, *name);
				}
			if (running == 0)
				break;
		}
		struct pollfd pfds[CLI_MAX_WORKERS];
		unsigned which[CLI_MAX_WORKERS], n = 0;
		for (unsigned i = 0; i < max_workers; i++)
			if (workers[i].pid > 0) {
				pfds[n] = (struct pollfd){.fd = workers[i].fd, .events = POLLIN};
				which[n++] = i;
			}
		if (poll(pfds, n, -1) < 0) {
			if (errno == EINTR)
				continue;
			return cryo_error_set(err, errno, "wait for the workers: poll");
		}
		for (unsigned k = 0; k < n; k++) {
			if (!(pfds[k].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			bool eof = false;
			pool_read(&pool, &workers[which[k]], &eof);
			if (eof) {
				pool_finish(&pool, &workers[which[k]]);
				running--;
			}
		}
	}
	return r;
}
