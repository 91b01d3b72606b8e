/*
 * counter: the consistency and downtime workload for checkpoint/restore tests and benchmarks.
 *
 * It keeps a counter in memory and mirrors it into the file system on every iteration:
 *
 *	check FILE and FILE.ring against memory -> memory += 1 -> write memory to FILE,
 *	then to FILE.ring's slot for its parity
 *
 * FILE holds the last value written; FILE.ring holds the last two (slot value % 2). Each
 * record is 20 decimal digits and a newline, written with pwrite() at a fixed offset: the
 * files never change length, so a concurrent reader (a checkpoint copying them) never sees
 * a torn value. There is no fsync: the page cache is what a checkpoint sees.
 *
 * A consistent checkpoint captures memory and file system at one instant: after a restore
 * FILE holds the counter's value or the one before it, and the other ring slot the value
 * before that. A checkpoint that copies the file system while the workload runs on captures
 * files that are AHEAD of memory; one that copies them before the memory dump, files that
 * are BEHIND. Either is a violation: appended to FILE.violations as
 * "VIOLATION file=F memory=M" and printed on stdout; memory then adopts the latest value
 * seen, so one event is reported once.
 *
 * Why the ring: a restored task may resume anywhere, e.g. between its read of FILE and its
 * write, and that write would overwrite a FILE that is ahead before the next check sees
 * it. The ring slot an iteration checks is the one the NEXT write goes to, so whatever
 * instruction the task was frozen at, it reads a slot from the captured file system before
 * writing it, and a file system captured two or more iterations late is always detected.
 *
 * Downtime, measured from inside: the longest gap between two consecutive loop iterations
 * (CLOCK_MONOTONIC) is the longest time the process did not run, e.g. while frozen for a
 * checkpoint. --stats PATH receives
 *	{"max_stall_us":N,"iterations":N,"violations":N,"resets":N,"counter":N}
 * at most every 50 ms and whenever a new maximum is seen, through a temporary file and
 * rename() so readers never see a partial file. SIGUSR1 resets max_stall_us to 0 (and
 * increments "resets", so a reader knows the reset took effect).
 *
 * Load options, all done before the loop starts (then "READY" is printed on stdout):
 *	--memory MiB                      anonymous memory filled with pseudo-random bytes
 *	--fill-file PATH --fill-mib N     a file of N MiB of pseudo-random bytes
 *	--many-files DIR --count N --size BYTES   N files of BYTES pseudo-random bytes each
 *
 * --checksum PATH: on SIGUSR2, a checksum of the --memory area (every byte of it read) is
 * written to PATH as "N HEX" (N: the how-many-th request this answers), through a temporary
 * file and rename(): the same before and after a checkpoint/restore or migration when the
 * memory came back whole.
 *
 * --mmap: FILE and FILE.ring are read and written through a shared writable mapping instead
 * of pread/pwrite. A store into a page that is already dirty and writable changes the file
 * without touching its times: a checkpoint that copied files ahead of the freeze and trusts
 * their times must notice such mappings.
 *
 * SIGTERM and SIGINT end it at once (as PID 1 of a container it would ignore them otherwise).
 *
 * Every system call retries on EINTR, so the process may be checkpointed and restored at
 * any instruction.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define VALUE_WIDTH 20
#define RECORD_SIZE (VALUE_WIDTH + 1)
#define STATS_INTERVAL_US 50000
#define MIB (1024UL * 1024UL)

struct options {
	const char *file;
	const char *stats;
	unsigned long memory_mib;
	const char *fill_file;
	unsigned long fill_mib;
	const char *many_dir;
	unsigned long many_count;
	unsigned long many_size;
	const char *checksum;
	bool mmap;
};

struct stats {
	uint64_t max_stall_us;
	uint64_t iterations;
	uint64_t violations;
	uint64_t resets;
	uint64_t counter;
	uint64_t reported; /* violations already acted on */
};

static volatile sig_atomic_t reset_requested;
static volatile sig_atomic_t checksum_requested;
static size_t ballast_len;
/* Keeps the --memory area reachable, so it is part of every dump. */
static volatile unsigned char *ballast;

static void die(const char *what, const char *object)
{
	fprintf(stderr, "counter: %s %s: %s\n", what, object, strerror(errno));
	exit(1);
}

static void on_sigusr1(int sig)
{
	(void)sig;
	reset_requested = 1;
}

/* PID 1 of a container ignores signals it has no handler for: stop at once on request. */
static void on_sigusr2(int sig)
{
	(void)sig;
	checksum_requested = 1;
}

static void on_stop(int sig)
{
	(void)sig;
	_exit(0);
}

static uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint64_t xorshift64(uint64_t *state)
{
	uint64_t x = *state;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *state = x;
}

static void fill_random(void *buf, size_t len, uint64_t *state)
{
	uint64_t *words = buf;
	size_t n = len / sizeof(uint64_t);
	for (size_t i = 0; i < n; i++)
		words[i] = xorshift64(state);
	unsigned char *tail = (unsigned char *)buf + n * sizeof(uint64_t);
	for (size_t i = 0; i < len % sizeof(uint64_t); i++)
		tail[i] = (unsigned char)xorshift64(state);
}

static ssize_t pread_full(int fd, char *buf, size_t len, off_t off)
{
	size_t done = 0;
	while (done < len) {
		ssize_t r = pread(fd, buf + done, len - done, off + (off_t)done);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		done += (size_t)r;
	}
	return (ssize_t)done;
}

static int pwrite_full(int fd, const char *buf, size_t len, off_t off)
{
	size_t done = 0;
	while (done < len) {
		ssize_t r = pwrite(fd, buf + done, len - done, off + (off_t)done);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		done += (size_t)r;
	}
	return 0;
}

static int write_full(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t r = write(fd, p, len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		p += r;
		len -= (size_t)r;
	}
	return 0;
}

static int open_retry(const char *path, int flags, mode_t mode)
{
	int fd;
	do
		fd = open(path, flags | O_CLOEXEC, mode);
	while (fd < 0 && errno == EINTR);
	return fd;
}

static void close_retry(int fd)
{
	/* Linux closes the descriptor even when close() reports EINTR. */
	(void)close(fd);
}

static void mkdir_p(const char *dir)
{
	char *path = strdup(dir);
	if (!path)
		die("allocate path for", dir);
	for (char *p = path + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char saved = *p;
		*p = '\0';
		if (mkdir(path, 0755) < 0 && errno != EEXIST)
			die("create directory", path);
		*p = saved;
		if (saved == '\0')
			break;
	}
	free(path);
}

static void fill_memory(unsigned long mib, uint64_t *rng)
{
	size_t len = mib * MIB;
	void *mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		die("map anonymous memory for", "--memory");
	fill_random(mem, len, rng);
	ballast = mem;
	ballast_len = len;
}

static void write_random_file(const char *path, size_t len, uint64_t *rng, void *chunk, size_t chunk_len)
{
	int fd = open_retry(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		die("create", path);
	while (len > 0) {
		size_t n = len < chunk_len ? len : chunk_len;
		fill_random(chunk, n, rng);
		if (write_full(fd, chunk, n) < 0)
			die("write", path);
		len -= n;
	}
	close_retry(fd);
}

static void fill_file(const char *path, unsigned long mib, uint64_t *rng)
{
	void *chunk = malloc(MIB);
	if (!chunk)
		die("allocate buffer for", path);
	write_random_file(path, mib * MIB, rng, chunk, MIB);
	free(chunk);
}

static void make_many_files(const char *dir, unsigned long count, unsigned long size, uint64_t *rng)
{
	mkdir_p(dir);
	void *chunk = malloc(size ? size : 1);
	if (!chunk)
		die("allocate buffer for", dir);
	char path[PATH_MAX];
	for (unsigned long i = 0; i < count; i++) {
		snprintf(path, sizeof(path), "%s/f%06lu", dir, i);
		write_random_file(path, size, rng, chunk, size);
	}
	free(chunk);
}

/* Atomically replace the stats file: readers see the old or the new content, never a mix. */
static void write_stats(const char *path, const char *tmp_path, const struct stats *s)
{
	char buf[256];
	int len = snprintf(buf, sizeof(buf),
	                   "{\"max_stall_us\":%" PRIu64 ",\"iterations\":%" PRIu64 ",\"violations\":%" PRIu64
	                   ",\"resets\":%" PRIu64 ",\"counter\":%" PRIu64 "}\n",
	                   s->max_stall_us, s->iterations, s->violations, s->resets, s->counter);
	int fd = open_retry(tmp_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		die("create", tmp_path);
	if (write_full(fd, buf, (size_t)len) < 0)
		die("write", tmp_path);
	close_retry(fd);
	if (rename(tmp_path, path) < 0)
		die("rename to", path);
}

/* "N HEX": the checksum of the --memory area, the n-th time asked. */
static void write_checksum(const char *path, uint64_t n)
{
	const uint64_t *words = (const uint64_t *)(const void *)ballast;
	uint64_t h = 0xcbf29ce484222325ULL;
	for (size_t i = 0; i < ballast_len / sizeof(uint64_t); i++)
		h = (h ^ words[i]) * 0x100000001b3ULL;
	char buf[64], *tmp = malloc(strlen(path) + 5);
	if (!tmp)
		die("allocate path for", path);
	sprintf(tmp, "%s.tmp", path);
	int len = snprintf(buf, sizeof(buf), "%" PRIu64 " %016" PRIx64 "\n", n, h);
	int fd = open_retry(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		die("create", tmp);
	if (write_full(fd, buf, (size_t)len) < 0)
		die("write", tmp);
	close_retry(fd);
	if (rename(tmp, path) < 0)
		die("rename to", path);
	free(tmp);
}

static void report_violation(const char *violations_path, bool readable, uint64_t file_value, uint64_t memory,
                             struct stats *s)
{
	char line[128];
	int len;
	if (readable)
		len = snprintf(line, sizeof(line), "VIOLATION file=%" PRIu64 " memory=%" PRIu64 "\n",
		               file_value, memory);
	else
		len = snprintf(line, sizeof(line), "VIOLATION file=unreadable memory=%" PRIu64 "\n", memory);
	int fd = open_retry(violations_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
	if (fd < 0)
		die("open", violations_path);
	if (write_full(fd, line, (size_t)len) < 0)
		die("append to", violations_path);
	close_retry(fd);
	fputs(line, stdout);
	fflush(stdout);
	s->violations++;
}

/*
 * Parse the file's record. Returns 0 for a valid value (an empty or missing file is 0),
 * -1 for content that is not a record this program writes.
 */
static int parse_record(const char *buf, ssize_t len, uint64_t *value)
{
	if (len == 0) {
		*value = 0;
		return 0;
	}
	if (len != RECORD_SIZE || buf[VALUE_WIDTH] != '\n')
		return -1;
	uint64_t v = 0;
	for (int i = 0; i < VALUE_WIDTH; i++) {
		if (buf[i] < '0' || buf[i] > '9')
			return -1;
		v = v * 10 + (uint64_t)(buf[i] - '0');
	}
	*value = v;
	return 0;
}

/* A record file: read and written with pread/pwrite, or through `map` (--mmap). */
struct record_file {
	int fd;
	const char *path;
	char *map;
};

/* Read the record at OFF; false when it is not a record this program writes. */
static bool read_record(const struct record_file *f, off_t off, uint64_t *value)
{
	char buf[RECORD_SIZE + 1];
	if (f->map) {
		memcpy(buf, f->map + off, RECORD_SIZE);
		return parse_record(buf, RECORD_SIZE, value) == 0;
	}
	ssize_t len = pread_full(f->fd, buf, RECORD_SIZE, off);
	if (len < 0)
		die("read", f->path);
	return parse_record(buf, len, value) == 0;
}

static void write_record(const struct record_file *f, off_t off, uint64_t value)
{
	char record[RECORD_SIZE + 1];
	snprintf(record, sizeof(record), "%0*" PRIu64 "\n", VALUE_WIDTH, value);
	if (f->map) {
		memcpy(f->map + off, record, RECORD_SIZE);
		return;
	}
	if (pwrite_full(f->fd, record, RECORD_SIZE, off) < 0)
		die("write", f->path);
}

/* --mmap: map the first `len` bytes of the file shared and writable. */
static void map_records(struct record_file *f, size_t len)
{
	void *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, f->fd, 0);
	if (m == MAP_FAILED)
		die("map", f->path);
	f->map = m;
}

/* The ring slot that holds VALUE: two slots, by parity. */
static off_t ring_offset(uint64_t value)
{
	return (off_t)(value % 2) * RECORD_SIZE;
}

static void usage(FILE *out)
{
	fprintf(out,
	        "Usage: counter --file PATH [--stats PATH] [--memory MiB [--checksum PATH]]\n"
	        "               [--fill-file PATH --fill-mib N]\n"
	        "               [--many-files DIR --count N --size BYTES] [--mmap]\n");
}

static unsigned long parse_number(const char *opt, const char *arg)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(arg, &end, 10);
	if (errno || *arg == '\0' || *end != '\0' || *arg == '-') {
		fprintf(stderr, "counter: %s: not a number: '%s'\n", opt, arg);
		exit(2);
	}
	return v;
}

static void parse_options(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
	    {"file", required_argument, NULL, 'f'},     {"stats", required_argument, NULL, 's'},
	    {"memory", required_argument, NULL, 'm'},   {"fill-file", required_argument, NULL, 'F'},
	    {"fill-mib", required_argument, NULL, 'M'}, {"many-files", required_argument, NULL, 'D'},
	    {"count", required_argument, NULL, 'c'},    {"size", required_argument, NULL, 'z'},
	    {"checksum", required_argument, NULL, 'C'}, {"help", no_argument, NULL, 'h'},
	    {"mmap", no_argument, NULL, 'P'},           {},
	};
	int c;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'f':
			o->file = optarg;
			break;
		case 's':
			o->stats = optarg;
			break;
		case 'm':
			o->memory_mib = parse_number("--memory", optarg);
			break;
		case 'F':
			o->fill_file = optarg;
			break;
		case 'M':
			o->fill_mib = parse_number("--fill-mib", optarg);
			break;
		case 'D':
			o->many_dir = optarg;
			break;
		case 'c':
			o->many_count = parse_number("--count", optarg);
			break;
		case 'z':
			o->many_size = parse_number("--size", optarg);
			break;
		case 'C':
			o->checksum = optarg;
			break;
		case 'P':
			o->mmap = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			exit(2);
		}
	}
	if (optind != argc || !o->file) {
		usage(stderr);
		exit(2);
	}
	if (o->checksum && !o->memory_mib) {
		fprintf(stderr, "counter: --checksum needs --memory\n");
		exit(2);
	}
	if (!o->fill_file != !o->fill_mib) {
		fprintf(stderr, "counter: --fill-file and --fill-mib go together\n");
		exit(2);
	}
	if (o->many_dir && !o->many_count) {
		fprintf(stderr, "counter: --many-files needs --count\n");
		exit(2);
	}
}

static char *concat(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	char *s = malloc(la + lb + 1);
	if (!s)
		die("allocate path for", a);
	memcpy(s, a, la);
	memcpy(s + la, b, lb + 1);
	return s;
}

int main(int argc, char **argv)
{
	struct options o = {0};
	parse_options(argc, argv, &o);
	setvbuf(stdout, NULL, _IOLBF, 0);

	struct sigaction sa = {.sa_handler = on_sigusr1, .sa_flags = SA_RESTART};
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGUSR1, &sa, NULL) < 0)
		die("install handler for", "SIGUSR1");
	sa.sa_handler = on_sigusr2;
	if (sigaction(SIGUSR2, &sa, NULL) < 0)
		die("install handler for", "SIGUSR2");
	sa.sa_handler = on_stop;
	if (sigaction(SIGTERM, &sa, NULL) < 0 || sigaction(SIGINT, &sa, NULL) < 0)
		die("install handler for", "SIGTERM");

	uint64_t rng = 0x9e3779b97f4a7c15ULL ^ ((uint64_t)getpid() << 32) ^ now_us();
	if (o.memory_mib)
		fill_memory(o.memory_mib, &rng);
	if (o.fill_file)
		fill_file(o.fill_file, o.fill_mib, &rng);
	if (o.many_dir)
		make_many_files(o.many_dir, o.many_count, o.many_size, &rng);

	char *violations_path = concat(o.file, ".violations");
	char *stats_tmp = o.stats ? concat(o.stats, ".tmp") : NULL;
	char *ring_path = concat(o.file, ".ring");
	struct record_file file = {.path = o.file}, ring = {.path = ring_path};
	file.fd = open_retry(o.file, O_RDWR | O_CREAT, 0644);
	if (file.fd < 0)
		die("open", o.file);
	ring.fd = open_retry(ring_path, O_RDWR | O_CREAT, 0644);
	if (ring.fd < 0)
		die("open", ring_path);
	struct stat ring_st;
	if (fstat(ring.fd, &ring_st) < 0)
		die("stat", ring_path);
	if (ring_st.st_size == 0) { /* a new ring: both slots hold 0, as for a new FILE */
		write_record(&ring, ring_offset(0), 0);
		write_record(&ring, ring_offset(1), 0);
	}
	if (o.mmap) {
		struct stat file_st;
		if (fstat(file.fd, &file_st) < 0)
			die("stat", o.file);
		if (file_st.st_size == 0)
			write_record(&file, 0, 0);
		map_records(&file, RECORD_SIZE);
		map_records(&ring, 2 * RECORD_SIZE);
	}

	struct stats s = {0};
	uint64_t memory = 0;
	uint64_t last = now_us();
	uint64_t last_stats = 0;
	bool stats_due = true;
	uint64_t checksums = 0;
	puts("READY");

	for (;;) {
		uint64_t now = now_us();
		uint64_t stall = now - last;
		last = now;
		if (checksum_requested && o.checksum) {
			checksum_requested = 0;
			write_checksum(o.checksum, ++checksums);
		}
		if (reset_requested) {
			reset_requested = 0;
			s.max_stall_us = 0;
			s.resets++;
			stats_due = true;
		} else if (stall > s.max_stall_us) {
			s.max_stall_us = stall;
			stats_due = true;
		}

		uint64_t file_value = 0, ring_value = 0;
		bool file_ok = read_record(&file, 0, &file_value);
		bool ring_ok = read_record(&ring, ring_offset(memory + 1), &ring_value);
		if (!file_ok || file_value > memory || file_value + 1 < memory) {
			report_violation(violations_path, file_ok, file_value, memory, &s);
		} else if (!ring_ok || ring_value > memory || (memory >= 2 && ring_value + 1 < memory)) {
			report_violation(violations_path, ring_ok, ring_value, memory, &s);
		}
		if (s.violations != s.reported) {
			/* Go on from the latest value seen, with a consistent ring: one event, one report. */
			s.reported = s.violations;
			if (file_ok && file_value > memory)
				memory = file_value;
			if (ring_ok && ring_value > memory)
				memory = ring_value;
			write_record(&ring, ring_offset(memory), memory);
		}

		memory++;
		write_record(&file, 0, memory);
		write_record(&ring, ring_offset(memory), memory);
		s.iterations++;
		s.counter = memory;

		if (stats_tmp && (stats_due || now - last_stats >= STATS_INTERVAL_US)) {
			write_stats(o.stats, stats_tmp, &s);
			last_stats = now;
			stats_due = false;
		}
	}
}
