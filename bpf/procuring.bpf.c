// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
// procuring's BPF walk: one pass over every thread of the system (open-coded task iterator
// kfuncs, under bpf_rcu_read_lock), one record per thread group written into an mmap()ed array
// map. Read-only: it never writes kernel memory. Run with BPF_PROG_TEST_RUN; returns the number
// of thread groups seen (records past the map's capacity are not written).
//
// Kernel structures are declared here, minimal and with preserve_access_index (CO-RE): the
// loader (src/engine/bpf/loader.rs) resolves every field offset against the running kernel's
// BTF, so the build does not depend on any machine's vmlinux.h. Regenerate the checked-in object
// with `make bpf` (clang -target bpf -O2 -g).

typedef unsigned char __u8;
typedef unsigned int __u32;
typedef int __s32;
typedef unsigned long long __u64;
typedef long long __s64;

#define __ksym __attribute__((section(".ksyms")))
#define CORE __attribute__((preserve_access_index))

struct percpu_counter { __s64 count; } CORE;
struct mm_struct {
	unsigned long total_vm;
	unsigned long start_code;
	unsigned long end_code;
	unsigned long start_stack;
	struct percpu_counter rss_stat[4];
} CORE;
struct upid { int nr; } CORE;
struct pid { unsigned int level; struct upid numbers[1]; } CORE;
struct rlimit { unsigned long rlim_cur; } CORE;
struct prev_cputime { __u64 utime; __u64 stime; } CORE;
struct tty_driver { int major; int minor_start; } CORE;
struct tty_struct {
	struct tty_driver *driver;
	int index;
	struct { struct pid *pgrp; } ctrl;
} CORE;
struct signal_struct {
	int nr_threads;
	struct pid *pids[4];
	struct tty_struct *tty;
	__u64 utime, stime, cutime, cstime, gtime, cgtime;
	struct prev_cputime prev_cputime;
	unsigned long min_flt, maj_flt, cmin_flt, cmaj_flt;
	unsigned long long sum_sched_runtime;
	struct rlimit rlim[16];
} CORE;
struct sched_entity { __u64 sum_exec_runtime; } CORE;
struct task_delay_info { __u64 blkio_delay; } CORE;
struct kthread { void *data; char *full_name; } CORE;
struct worker_pool;
struct worker {
	void *current_work;
	struct worker_pool *pool;
	char desc[32];
} CORE;
struct thread_info { __u32 cpu; } CORE;
struct task_struct {
	struct thread_info thread_info;
	unsigned int __state;
	unsigned int flags;
	int prio, static_prio;
	unsigned int policy, rt_priority;
	struct sched_entity se;
	int exit_state;
	int pid, tgid;
	struct task_struct *real_parent;
	__u64 utime, stime, gtime;
	__u64 start_boottime;
	unsigned long min_flt, maj_flt;
	char comm[16];
	struct signal_struct *signal;
	struct mm_struct *mm;
	struct task_delay_info *delays;
	void *worker_private;
} CORE;

struct bpf_iter_task { __u64 __opaque[3]; } __attribute__((aligned(8)));
extern int bpf_iter_task_new(struct bpf_iter_task *it, struct task_struct *task,
			     unsigned int flags) __ksym;
extern struct task_struct *bpf_iter_task_next(struct bpf_iter_task *it) __ksym;
extern void bpf_iter_task_destroy(struct bpf_iter_task *it) __ksym;
extern void bpf_rcu_read_lock(void) __ksym;
extern void bpf_rcu_read_unlock(void) __ksym;

static void *(*bpf_map_lookup_elem)(void *map, const void *key) = (void *)1;
static long (*bpf_probe_read_kernel)(void *dst, __u32 size, const void *src) = (void *)113;
static long (*bpf_probe_read_kernel_str)(void *dst, __u32 size, const void *src) = (void *)115;

#define BPF_TASK_ITER_ALL_THREADS 1
#define PF_KTHREAD 0x00200000
#define PF_WQ_WORKER 0x00000020
#define PIDTYPE_PGID 2
#define PIDTYPE_SID 3
#define RLIMIT_RSS 5

// One thread group. Keep in sync with `Raw` in src/engine/bpf/walk.rs (all fields 8-byte
// aligned, no padding).
struct rec {
	__u32 tgid, state, exit_state, flags;
	__u32 ppid, pgrp, session, nr_threads;
	__s32 tty_major, tty_minor_start, tty_index, tpgid;
	__s32 prio, static_prio;
	__u32 policy, rt_priority;
	__u32 cpu, threads_seen;
	__u32 has_mm, has_tty;
	__u64 start_boottime;
	__u64 runtime, utime, stime, gtime;
	__u64 prev_utime, prev_stime;
	__u64 min_flt, maj_flt, cmin_flt, cmaj_flt;
	__u64 cutime, cstime, cgtime;
	__u64 total_vm, rsslim, start_code, end_code, start_stack, blkio_delay;
	__s64 rss_file, rss_anon, rss_shmem;
	char comm[64];
};

// The output map: created by the loader (array, BPF_F_MMAPABLE, value = struct rec); this
// definition only names it.
struct { int unused; } out __attribute__((section(".maps")));

char LICENSE[] __attribute__((section("license"))) = "GPL";

static __attribute__((always_inline)) __u32 pid_nr(struct pid *p)
{
	// The proc root's pid namespace is the initial one (the loader checks): level 0.
	return p ? p->numbers[0].nr : 0;
}

// Adds task t to the records: a leader starts its group's record (*n counts them); another
// thread adds to the record of its group, which the walk wrote just before.
static __attribute__((always_inline)) void visit(struct task_struct *t, __u32 *n)
{
	int tgid = t->tgid;
	struct rec *r;
	__u32 key;

	if (tgid <= 0)
		return; // the idle task
	if (t->pid == tgid) {
		// The leader (visited before its other threads): start the group's record.
		key = (*n)++;
		r = bpf_map_lookup_elem(&out, &key);
		if (!r)
			return;
		struct signal_struct *sig = t->signal;
		struct mm_struct *mm = t->mm;
		struct tty_struct *tty = sig->tty;
		unsigned int flags = t->flags;
		r->tgid = tgid;
		r->state = t->__state;
		r->exit_state = t->exit_state;
		r->flags = flags;
		r->ppid = t->real_parent->tgid;
		r->pgrp = pid_nr(sig->pids[PIDTYPE_PGID]);
		r->session = pid_nr(sig->pids[PIDTYPE_SID]);
		r->nr_threads = sig->nr_threads;
		r->has_tty = tty != 0;
		if (tty) {
			r->tty_major = tty->driver->major;
			r->tty_minor_start = tty->driver->minor_start;
			r->tty_index = tty->index;
			r->tpgid = pid_nr(tty->ctrl.pgrp);
		}
		r->prio = t->prio;
		r->static_prio = t->static_prio;
		r->policy = t->policy;
		r->rt_priority = t->rt_priority;
		r->cpu = t->thread_info.cpu;
		r->threads_seen = 0;
		r->start_boottime = t->start_boottime;
		r->runtime = sig->sum_sched_runtime;
		r->utime = sig->utime;
		r->stime = sig->stime;
		r->gtime = sig->gtime;
		r->prev_utime = sig->prev_cputime.utime;
		r->prev_stime = sig->prev_cputime.stime;
		r->min_flt = sig->min_flt;
		r->maj_flt = sig->maj_flt;
		r->cmin_flt = sig->cmin_flt;
		r->cmaj_flt = sig->cmaj_flt;
		r->cutime = sig->cutime;
		r->cstime = sig->cstime;
		r->cgtime = sig->cgtime;
		r->rsslim = sig->rlim[RLIMIT_RSS].rlim_cur;
		struct task_delay_info *d = t->delays;
		r->blkio_delay = d ? d->blkio_delay : 0;
		// /proc takes no mm of a kernel thread (get_task_mm).
		r->has_mm = mm && !(flags & PF_KTHREAD);
		if (r->has_mm) {
			r->total_vm = mm->total_vm;
			r->start_code = mm->start_code;
			r->end_code = mm->end_code;
			r->start_stack = mm->start_stack;
			r->rss_file = mm->rss_stat[0].count;
			r->rss_anon = mm->rss_stat[1].count;
			r->rss_shmem = mm->rss_stat[3].count;
		}
		r->comm[16] = 0;
		{
			// Two 8-byte loads (a bpf_probe_read_kernel() call cost ~10% of the walk): the
			// offset of comm is relocated (CO-RE), the loads stay within task->comm.
			unsigned long off = __builtin_preserve_field_info(t->comm, 0);
			const __u64 *c = (const __u64 *)((const char *)t + off);
			*(__u64 *)r->comm = c[0];
			*(__u64 *)(r->comm + 8) = c[1];
		}
		if ((flags & PF_KTHREAD) && !(flags & PF_WQ_WORKER)) {
			// /proc shows a kernel thread's full name (get_kthread_comm).
			struct kthread *k = t->worker_private;
			char *full = k ? k->full_name : 0;
			if (full)
				bpf_probe_read_kernel_str(r->comm, 64, full);
		} else if (flags & PF_WQ_WORKER) {
			// A workqueue worker's /proc name (wq_worker_comm) is a function of its pool,
			// whether it runs a work item, and its desc (its id and rescue_wq are fixed for
			// its life): written after the 16-byte comm, so user space reads the name from
			// /proc only when they changed. (comm + 16: pool, + 24: running, + 28: desc,
			// + 60: 1 when the worker was read.)
			struct kthread *k = t->worker_private;
			struct worker *w = k ? k->data : 0;
			__builtin_memset(r->comm + 16, 0, 48);
			if (w) {
				void *cur = 0;
				if (bpf_probe_read_kernel(r->comm + 16, 8, &w->pool) == 0 &&
				    bpf_probe_read_kernel(&cur, 8, &w->current_work) == 0 &&
				    bpf_probe_read_kernel(r->comm + 28, 32, w->desc) == 0) {
					*(__u32 *)(r->comm + 24) = cur != 0;
					*(__u32 *)(r->comm + 60) = 1;
				}
			}
		}
	} else {
		if (*n == 0)
			return;
		key = *n - 1;
		r = bpf_map_lookup_elem(&out, &key);
		if (!r || r->tgid != (__u32)tgid)
			return;
	}
	r->threads_seen++;
	r->runtime += t->se.sum_exec_runtime;
	r->utime += t->utime;
	r->stime += t->stime;
	r->gtime += t->gtime;
	r->min_flt += t->min_flt;
	r->maj_flt += t->maj_flt;
	}

__attribute__((section("syscall"))) int walk(void *ctx)
{
	struct bpf_iter_task it;
	struct task_struct *t;
	__u32 n = 0;

	// Processes the iterator does not visit (on the 6.18 VM we measured, /proc's pid 1, which
	// bpf_task_from_pid() does not find either) are read from /proc by the loader (mod.rs).
	bpf_rcu_read_lock();
	bpf_iter_task_new(&it, (struct task_struct *)0, BPF_TASK_ITER_ALL_THREADS);
	while ((t = bpf_iter_task_next(&it)))
		visit(t, &n);
	bpf_iter_task_destroy(&it);
	bpf_rcu_read_unlock();
	return n;
}
