#include "security.h"

#include <ctype.h>
#include <string.h>

#include "util.h"

/* Every capability of Linux 6.x, in number order. */
static const char *const all_caps[] = {
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
};

/* Docker's and Podman's defaults, CAP_MKNOD left out. */
static const char *const default_caps[] = {
    "CAP_CHOWN",      "CAP_DAC_OVERRIDE", "CAP_FSETID",      "CAP_FOWNER",  "CAP_NET_RAW",
    "CAP_SETGID",     "CAP_SETUID",       "CAP_SETFCAP",     "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT", "CAP_KILL",         "CAP_AUDIT_WRITE",
};

bool security_cap_is_default(const char *cap)
{
	for (size_t i = 0; i < ARRAY_SIZE(default_caps); i++)
		if (strcmp(default_caps[i], cap) == 0)
			return true;
	return false;
}

int security_cap_normalize(const char *name, char **out, cryo_err *err)
{
	cleanup_free char *upper = xstrdup(name);
	for (char *p = upper; *p; p++)
		*p = (char)toupper((unsigned char)*p);
	if (strcmp(upper, "ALL") == 0) {
		*out = move_ptr(upper);
		return 0;
	}
	cleanup_free char *full = str_has_prefix(upper, "CAP_") ? xstrdup(upper) : xasprintf("CAP_%s", upper);
	for (size_t i = 0; i < ARRAY_SIZE(all_caps); i++)
		if (strcmp(all_caps[i], full) == 0) {
			*out = move_ptr(full);
			return 0;
		}
	return cryo_error_set(err, EINVAL, "unknown capability `%s`", name);
}

int security_capabilities(char *const *cap_add, char *const *cap_drop, char ***out, cryo_err *err)
{
	for (size_t i = 0; cap_add && cap_add[i]; i++)
		if (strv_has(cap_drop, cap_add[i]))
			return cryo_error_set(err, EINVAL, "capability `%s` is both added and dropped",
			                      cap_add[i]);
	bool add_all = strv_has(cap_add, "ALL"), drop_all = strv_has(cap_drop, "ALL");
	cleanup_strv char **caps = xcalloc(1, sizeof(char *));
	/* In the kernel's order, so that the spec reads the same every time. */
	for (size_t i = 0; i < ARRAY_SIZE(all_caps); i++) {
		const char *cap = all_caps[i];
		bool is_default = false;
		for (size_t j = 0; j < ARRAY_SIZE(default_caps); j++)
			is_default |= strcmp(default_caps[j], cap) == 0;
		bool have = is_default && !drop_all && !strv_has(cap_drop, cap);
		if (add_all || strv_has(cap_add, cap))
			have = true;
		if (have)
			strv_push(&caps, cap);
	}
	*out = move_ptr(caps);
	return 0;
}

/* ---- seccomp ---- */

/* Allowed for every container. */
static const char *const allowed_syscalls[] = {
    "accept",
    "accept4",
    "access",
    "adjtimex",
    "alarm",
    "bind",
    "brk",
    "cachestat",
    "capget",
    "capset",
    "chdir",
    "chmod",
    "chown",
    "chown32",
    "clock_adjtime",
    "clock_adjtime64",
    "clock_getres",
    "clock_getres_time64",
    "clock_gettime",
    "clock_gettime64",
    "clock_nanosleep",
    "clock_nanosleep_time64",
    "close",
    "close_range",
    "connect",
    "copy_file_range",
    "creat",
    "dup",
    "dup2",
    "dup3",
    "epoll_create",
    "epoll_create1",
    "epoll_ctl",
    "epoll_ctl_old",
    "epoll_pwait",
    "epoll_pwait2",
    "epoll_wait",
    "epoll_wait_old",
    "eventfd",
    "eventfd2",
    "execve",
    "execveat",
    "exit",
    "exit_group",
    "faccessat",
    "faccessat2",
    "fadvise64",
    "fadvise64_64",
    "fallocate",
    "fanotify_mark",
    "fchdir",
    "fchmod",
    "fchmodat",
    "fchmodat2",
    "fchown",
    "fchown32",
    "fchownat",
    "fcntl",
    "fcntl64",
    "fdatasync",
    "fgetxattr",
    "flistxattr",
    "flock",
    "fork",
    "fremovexattr",
    "fsetxattr",
    "fstat",
    "fstat64",
    "fstatat64",
    "fstatfs",
    "fstatfs64",
    "fsync",
    "ftruncate",
    "ftruncate64",
    "futex",
    "futex_requeue",
    "futex_time64",
    "futex_wait",
    "futex_waitv",
    "futex_wake",
    "futimesat",
    "getcpu",
    "getcwd",
    "getdents",
    "getdents64",
    "getegid",
    "getegid32",
    "geteuid",
    "geteuid32",
    "getgid",
    "getgid32",
    "getgroups",
    "getgroups32",
    "getitimer",
    "getpeername",
    "getpgid",
    "getpgrp",
    "getpid",
    "getppid",
    "getpriority",
    "getrandom",
    "getresgid",
    "getresgid32",
    "getresuid",
    "getresuid32",
    "getrlimit",
    "get_robust_list",
    "getrusage",
    "getsid",
    "getsockname",
    "getsockopt",
    "get_thread_area",
    "gettid",
    "gettimeofday",
    "getuid",
    "getuid32",
    "getxattr",
    "inotify_add_watch",
    "inotify_init",
    "inotify_init1",
    "inotify_rm_watch",
    "io_cancel",
    "ioctl",
    "io_destroy",
    "io_getevents",
    "io_pgetevents",
    "io_pgetevents_time64",
    "ioprio_get",
    "ioprio_set",
    "io_setup",
    "io_submit",
    "ipc",
    "kill",
    "landlock_add_rule",
    "landlock_create_ruleset",
    "landlock_restrict_self",
    "lchown",
    "lchown32",
    "lgetxattr",
    "link",
    "linkat",
    "listen",
    "listxattr",
    "llistxattr",
    "_llseek",
    "lremovexattr",
    "lseek",
    "lsetxattr",
    "lstat",
    "lstat64",
    "madvise",
    "map_shadow_stack",
    "membarrier",
    "memfd_create",
    "memfd_secret",
    "mincore",
    "mkdir",
    "mkdirat",
    "mknod",
    "mknodat",
    "mlock",
    "mlock2",
    "mlockall",
    "mmap",
    "mmap2",
    "mprotect",
    "mq_getsetattr",
    "mq_notify",
    "mq_open",
    "mq_timedreceive",
    "mq_timedreceive_time64",
    "mq_timedsend",
    "mq_timedsend_time64",
    "mq_unlink",
    "mremap",
    "msgctl",
    "msgget",
    "msgrcv",
    "msgsnd",
    "msync",
    "munlock",
    "munlockall",
    "munmap",
    "name_to_handle_at",
    "nanosleep",
    "newfstatat",
    "_newselect",
    "open",
    "openat",
    "openat2",
    "pause",
    "pidfd_open",
    "pidfd_send_signal",
    "pipe",
    "pipe2",
    "pkey_alloc",
    "pkey_free",
    "pkey_mprotect",
    "poll",
    "ppoll",
    "ppoll_time64",
    "prctl",
    "pread64",
    "preadv",
    "preadv2",
    "prlimit64",
    "process_mrelease",
    "pselect6",
    "pselect6_time64",
    "pwrite64",
    "pwritev",
    "pwritev2",
    "read",
    "readahead",
    "readlink",
    "readlinkat",
    "readv",
    "recv",
    "recvfrom",
    "recvmmsg",
    "recvmmsg_time64",
    "recvmsg",
    "remap_file_pages",
    "removexattr",
    "rename",
    "renameat",
    "renameat2",
    "restart_syscall",
    "rmdir",
    "rseq",
    "rt_sigaction",
    "rt_sigpending",
    "rt_sigprocmask",
    "rt_sigqueueinfo",
    "rt_sigreturn",
    "rt_sigsuspend",
    "rt_sigtimedwait",
    "rt_sigtimedwait_time64",
    "rt_tgsigqueueinfo",
    "sched_getaffinity",
    "sched_getattr",
    "sched_getparam",
    "sched_get_priority_max",
    "sched_get_priority_min",
    "sched_getscheduler",
    "sched_rr_get_interval",
    "sched_rr_get_interval_time64",
    "sched_setaffinity",
    "sched_setattr",
    "sched_setparam",
    "sched_setscheduler",
    "sched_yield",
    "seccomp",
    "select",
    "semctl",
    "semget",
    "semop",
    "semtimedop",
    "semtimedop_time64",
    "send",
    "sendfile",
    "sendfile64",
    "sendmmsg",
    "sendmsg",
    "sendto",
    "setfsgid",
    "setfsgid32",
    "setfsuid",
    "setfsuid32",
    "setgid",
    "setgid32",
    "setgroups",
    "setgroups32",
    "setitimer",
    "setpgid",
    "setpriority",
    "setregid",
    "setregid32",
    "setresgid",
    "setresgid32",
    "setresuid",
    "setresuid32",
    "setreuid",
    "setreuid32",
    "setrlimit",
    "set_robust_list",
    "setsid",
    "setsockopt",
    "set_thread_area",
    "set_tid_address",
    "setuid",
    "setuid32",
    "setxattr",
    "shmat",
    "shmctl",
    "shmdt",
    "shmget",
    "shutdown",
    "sigaltstack",
    "signalfd",
    "signalfd4",
    "sigprocmask",
    "sigreturn",
    "socketcall",
    "socketpair",
    "splice",
    "stat",
    "stat64",
    "statfs",
    "statfs64",
    "statx",
    "symlink",
    "symlinkat",
    "sync",
    "sync_file_range",
    "syncfs",
    "sysinfo",
    "tee",
    "tgkill",
    "time",
    "timer_create",
    "timer_delete",
    "timer_getoverrun",
    "timer_gettime",
    "timer_gettime64",
    "timer_settime",
    "timer_settime64",
    "timerfd_create",
    "timerfd_gettime",
    "timerfd_gettime64",
    "timerfd_settime",
    "timerfd_settime64",
    "times",
    "tkill",
    "truncate",
    "truncate64",
    "ugetrlimit",
    "umask",
    "uname",
    "unlink",
    "unlinkat",
    "utime",
    "utimensat",
    "utimensat_time64",
    "utimes",
    "vfork",
    "vmsplice",
    "wait4",
    "waitid",
    "waitpid",
    "write",
    "writev",
    /* a process may read and trace its own kind: the kernel's ptrace access
     * checks apply (Docker allows these from Linux 4.8) */
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
#if defined(__x86_64__) || defined(__i386__)
    "arch_prctl",
    "modify_ldt",
#endif
};

/* Allowed when the container holds the capability they need. */
static const struct {
	const char *cap;
	const char *names[24];
} cap_syscalls[] = {
    {"CAP_SYS_ADMIN",
     {"bpf",       "clone",           "clone3",         "fanotify_init", "fsconfig",      "fsmount",
      "fsopen",    "fspick",          "lookup_dcookie", "mount",         "mount_setattr", "move_mount",
      "open_tree", "perf_event_open", "quotactl",       "quotactl_fd",   "setdomainname", "sethostname",
      "setns",     "syslog",          "umount",         "umount2",       "unshare",       NULL}},
    {"CAP_SYS_BOOT", {"reboot", NULL}},
    {"CAP_SYS_CHROOT", {"chroot", NULL}},
    {"CAP_SYS_MODULE", {"delete_module", "init_module", "finit_module", NULL}},
    {"CAP_SYS_PACCT", {"acct", NULL}},
    {"CAP_SYS_PTRACE", {"kcmp", "pidfd_getfd", "process_madvise", NULL}},
    {"CAP_SYS_RAWIO", {"iopl", "ioperm", NULL}},
    {"CAP_SYS_TIME", {"settimeofday", "stime", "clock_settime", "clock_settime64", NULL}},
    {"CAP_SYS_TTY_CONFIG", {"vhangup", NULL}},
    {"CAP_SYS_NICE", {"get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node", NULL}},
    {"CAP_SYSLOG", {"syslog", NULL}},
    {"CAP_BPF", {"bpf", NULL}},
    {"CAP_PERFMON", {"perf_event_open", NULL}},
    {"CAP_DAC_READ_SEARCH", {"open_by_handle_at", NULL}},
};

/* The namespace flags of clone(2): CLONE_NEWNS | NEWCGROUP | NEWUTS |
 * NEWIPC | NEWUSER | NEWPID | NEWNET. */
#define CLONE_NAMESPACE_FLAGS 0x7E020000ULL
#define AF_VSOCK_FAMILY 40

static struct json_object *names_json(const char *const *names, size_t n)
{
	struct json_object *a = json_object_new_array();
	for (size_t i = 0; i < n && names[i]; i++)
		json_object_array_add(a, json_object_new_string(names[i]));
	return a;
}

static struct json_object *arg_json(unsigned index, unsigned long long value, unsigned long long value_two,
                                    const char *op)
{
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "index", json_object_new_int((int)index));
	json_object_object_add(o, "value", json_object_new_uint64(value));
	json_object_object_add(o, "valueTwo", json_object_new_uint64(value_two));
	json_object_object_add(o, "op", json_object_new_string(op));
	return o;
}

static void add_rule(struct json_object *syscalls, struct json_object *names, const char *action,
                     int errno_ret, struct json_object *args)
{
	struct json_object *rule = json_object_new_object();
	json_object_object_add(rule, "names", names);
	json_object_object_add(rule, "action", json_object_new_string(action));
	if (errno_ret)
		json_object_object_add(rule, "errnoRet", json_object_new_int(errno_ret));
	if (args)
		json_object_object_add(rule, "args", args);
	json_object_array_add(syscalls, rule);
}

static void add_single(struct json_object *syscalls, const char *name, struct json_object *arg)
{
	const char *names[] = {name};
	struct json_object *args = json_object_new_array();
	json_object_array_add(args, arg);
	add_rule(syscalls, names_json(names, 1), "SCMP_ACT_ALLOW", 0, args);
}

struct json_object *security_seccomp_profile(char *const *caps)
{
	struct json_object *profile = json_object_new_object();
	struct json_object *syscalls = json_object_new_array();
	json_object_object_add(profile, "defaultAction", json_object_new_string("SCMP_ACT_ERRNO"));
	json_object_object_add(profile, "defaultErrnoRet", json_object_new_int(EPERM));
	struct json_object *arches = json_object_new_array();
#if defined(__x86_64__)
	json_object_array_add(arches, json_object_new_string("SCMP_ARCH_X86_64"));
	json_object_array_add(arches, json_object_new_string("SCMP_ARCH_X86"));
	json_object_array_add(arches, json_object_new_string("SCMP_ARCH_X32"));
#elif defined(__aarch64__)
	json_object_array_add(arches, json_object_new_string("SCMP_ARCH_AARCH64"));
	json_object_array_add(arches, json_object_new_string("SCMP_ARCH_ARM"));
#endif
	json_object_object_add(profile, "architectures", arches);

	add_rule(syscalls, names_json(allowed_syscalls, ARRAY_SIZE(allowed_syscalls)), "SCMP_ACT_ALLOW", 0,
	         NULL);
	/* sockets of every family but vsock (a way out of a VM's guest) */
	add_single(syscalls, "socket", arg_json(0, AF_VSOCK_FAMILY, 0, "SCMP_CMP_NE"));
	/* the execution domains programs ask for: Linux, with or without
	 * address randomisation, and the query */
	static const unsigned long long personas[] = {0x0, 0x8, 0x20000, 0x20008, 0xffffffff};
	for (size_t i = 0; i < ARRAY_SIZE(personas); i++)
		add_single(syscalls, "personality", arg_json(0, personas[i], 0, "SCMP_CMP_EQ"));

	bool sys_admin = false;
	for (size_t i = 0; caps && caps[i]; i++)
		sys_admin |= strcmp(caps[i], "CAP_SYS_ADMIN") == 0;
	for (size_t i = 0; i < ARRAY_SIZE(cap_syscalls); i++) {
		bool have = false;
		for (size_t j = 0; caps && caps[j]; j++)
			have |= strcmp(caps[j], cap_syscalls[i].cap) == 0;
		if (have)
			add_rule(syscalls,
			         names_json(cap_syscalls[i].names, ARRAY_SIZE(cap_syscalls[i].names)),
			         "SCMP_ACT_ALLOW", 0, NULL);
	}
	if (!sys_admin) {
		/* clone without namespace flags: (flags & NS_FLAGS) == 0 */
		add_single(syscalls, "clone", arg_json(0, CLONE_NAMESPACE_FLAGS, 0, "SCMP_CMP_MASKED_EQ"));
		/* clone3 passes its flags in memory, out of seccomp's sight: make
		 * C libraries fall back to clone */
		const char *clone3[] = {"clone3"};
		add_rule(syscalls, names_json(clone3, 1), "SCMP_ACT_ERRNO", ENOSYS, NULL);
	}
	json_object_object_add(profile, "syscalls", syscalls);
	return profile;
}
