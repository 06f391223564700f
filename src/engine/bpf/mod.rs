//! The `bpf` engine: one BPF program walks every thread of the system in one pass (the
//! open-coded task iterator kfuncs in a `syscall` program, run with `BPF_PROG_TEST_RUN`) and
//! writes one binary record per process into an mmap()ed array map; this module turns those
//! records into `stat` fields exactly as `/proc/<pid>/stat` prints them. Loading (kernel BTF
//! parse, CO-RE, verification) happens once per process, shared by its scanners; a scan costs
//! the walk only.
//!
//! What it cannot read exactly is said per record ([`crate::ProcRecord::stat_unset`]): the code
//! and stack addresses when the scanner lacks CAP_SYS_PTRACE (`/proc` shows them only to a
//! reader that may ptrace the process). Workqueue workers' comm (`kworker/0:1-events`) is
//! built by the kernel on each read: it is read from `<pid>/comm` through a held descriptor
//! when the walk shows that what it is built from changed (see `wq_comm`).

use std::collections::HashMap;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Instant;

use crate::record::{ProcRecord, StatFields, StrRef, EXTRA_RUNTIME_NS, STAT_UNSET_CODE_ADDRS};
use crate::sys;

pub(crate) mod loader;

/// The checked-in object, built from `bpf/procuring.bpf.c` by `make bpf`.
pub(crate) static OBJECT: &[u8] = include_bytes!("../../../bpf/procuring.bpf.o");

/// One thread group as the program writes it (`struct rec` in `bpf/procuring.bpf.c`).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
struct Raw {
    tgid: u32,
    state: u32,
    exit_state: u32,
    flags: u32,
    ppid: u32,
    pgrp: u32,
    session: u32,
    nr_threads: u32,
    tty_major: i32,
    tty_minor_start: i32,
    tty_index: i32,
    tpgid: i32,
    prio: i32,
    static_prio: i32,
    policy: u32,
    rt_priority: u32,
    cpu: u32,
    threads_seen: u32,
    has_mm: u32,
    has_tty: u32,
    start_boottime: u64,
    runtime: u64,
    utime: u64,
    stime: u64,
    gtime: u64,
    prev_utime: u64,
    prev_stime: u64,
    min_flt: u64,
    maj_flt: u64,
    cmin_flt: u64,
    cmaj_flt: u64,
    cutime: u64,
    cstime: u64,
    cgtime: u64,
    total_vm: u64,
    rsslim: u64,
    start_code: u64,
    end_code: u64,
    start_stack: u64,
    blkio_delay: u64,
    rss_file: i64,
    rss_anon: i64,
    rss_shmem: i64,
    comm: [u8; 64],
}

const RAW_SIZE: usize = std::mem::size_of::<Raw>();
const _: () = assert!(RAW_SIZE == 328);

const PF_WQ_WORKER: u32 = 0x20;
/// Marks an entry of `order` that is an extra (read from /proc), not a walk record.
const EXTRA: u32 = 1 << 31;

fn run_err(e: i32) -> String {
    format!("bpf(BPF_PROG_TEST_RUN): {}", std::io::Error::from_raw_os_error(e))
}
/// The init pid namespace's inode number (`PROC_PID_INIT_INO`).
const PROC_PID_INIT_INO: u64 = 0xEFFF_FFFC;
/// Nanoseconds per clock tick (USER_HZ is 100 on every Linux ABI).
const NS_PER_TICK: u64 = 10_000_000;

/// The read-only mapping of the output map.
struct Mapping {
    ptr: *const u8,
    len: usize,
}

// SAFETY: the mapping is owned by one Walker and only read through `&self`.
unsafe impl Send for Mapping {}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` are exactly what mmap returned; nothing refers to it any more.
        unsafe {
            libc::munmap(self.ptr as *mut libc::c_void, self.len);
        }
    }
}

/// The loaded program and its output map: loaded once per process and shared by every scanner
/// of the engine (a load costs ~100-150 ms of CPU: kernel BTF parse, CO-RE, verification).
/// Freed when the last scanner using it is dropped. Walks of different scanners take turns on
/// its lock (a walk holds it while the program runs and its records are converted).
struct Program {
    prog: OwnedFd,
    _map: OwnedFd,
    mapping: Mapping,
    cap: u32,
    /// Nanoseconds the load took (BTF parse, CO-RE, map, verification).
    load_ns: u64,
}

/// The program of this process, while some scanner holds it.
static SHARED: Mutex<Weak<Mutex<Program>>> = Mutex::new(Weak::new());

/// Locks `m`, whatever a panicking holder left: a walk's state is rewritten by the next walk.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// CAP_BPF + CAP_PERFMON, or CAP_SYS_ADMIN (what the kernel asks of a `syscall` program run
/// with BPF_PROG_TEST_RUN and of its kfuncs); returns the effective capability set.
fn check_caps() -> Result<u64, String> {
    const CAP_SYS_ADMIN: u32 = 21;
    const CAP_PERFMON: u32 = 38;
    const CAP_BPF: u32 = 39;
    let eff = loader::effective_caps();
    let has = |c: u32| eff & (1u64 << c) != 0;
    if has(CAP_SYS_ADMIN) || (has(CAP_BPF) && has(CAP_PERFMON)) {
        return Ok(eff);
    }
    let missing: Vec<&str> = [(CAP_BPF, "CAP_BPF"), (CAP_PERFMON, "CAP_PERFMON")]
        .iter()
        .filter(|(c, _)| !has(*c))
        .map(|(_, n)| *n)
        .collect();
    Err(format!(
        "missing {} (the walk needs CAP_BPF + CAP_PERFMON, or CAP_SYS_ADMIN)",
        missing.join(" and ")
    ))
}

impl Program {
    /// The process's program, loaded now if no scanner holds it.
    fn shared(cap: u32) -> Result<Arc<Mutex<Program>>, String> {
        let mut g = lock(&SHARED);
        if let Some(p) = g.upgrade() {
            return Ok(p);
        }
        let p = Arc::new(Mutex::new(Program::load(cap)?));
        *g = Arc::downgrade(&p);
        Ok(p)
    }

    fn load(cap: u32) -> Result<Program, String> {
        let t0 = Instant::now();
        let map = loader::create_map(RAW_SIZE as u32, cap)?;
        let vmlinux = std::fs::read("/sys/kernel/btf/vmlinux").map_err(|e| {
            format!("no kernel BTF (/sys/kernel/btf/vmlinux: {e}; needs CONFIG_DEBUG_INFO_BTF)")
        })?;
        let l = loader::load(OBJECT, &vmlinux, map)?;
        drop(vmlinux);
        let len = map_len(cap);
        // SAFETY: maps `len` bytes of the array map read-only and shared; the kernel checks
        // the length against the map, and the mapping lives as long as the Program.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_SHARED,
                l.map.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(format!("mmap of the output map: {}", std::io::Error::last_os_error()));
        }
        let mut p = Program {
            prog: l.prog,
            _map: l.map,
            mapping: Mapping { ptr: ptr as *const u8, len },
            cap,
            load_ns: 0,
        };
        // One walk proves the program runs (test_run may be refused separately).
        p.run()?;
        p.load_ns = t0.elapsed().as_nanos() as u64;
        Ok(p)
    }

    /// Runs the walk: the number of thread groups written (at most `cap`), loading the program
    /// again with more room when the system has more processes than the map holds (rare; ms).
    fn run(&mut self) -> Result<u32, String> {
        let n = loader::test_run(self.prog.as_raw_fd()).map_err(run_err)?;
        if n <= self.cap {
            return Ok(n);
        }
        *self = Program::load((n * 2).next_power_of_two())?;
        Ok(loader::test_run(self.prog.as_raw_fd()).map_err(run_err)?.min(self.cap))
    }

    fn raw(&self, i: u32) -> &Raw {
        raw_at(&self.mapping, i, self.cap)
    }
}

/// One scanner's use of the shared program, with what its walks keep between scans.
pub(crate) struct Walker {
    program: Arc<Mutex<Program>>,
    page: u64,
    code_addrs: bool,
    /// Held `<pid>/comm` descriptors of workqueue workers.
    wq: WqFds,
    order: Vec<(u32, u32)>,
    /// The last walk's `order` that needed sorting, before and after its sort.
    walked: Vec<(u32, u32)>,
    sorted: Vec<(u32, u32)>,
    /// Processes `/proc` lists that the walk never visits (on the VM we measured, its pid 1,
    /// which no BPF lookup finds): their `stat` is read from `/proc` through a held descriptor.
    extras: Vec<(u32, OwnedFd)>,
    /// Processes the last walk returned (a hint of what a walk costs).
    pub last_returned: u32,
}

impl std::fmt::Debug for Walker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Walker").field("extras", &self.extras.len()).finish_non_exhaustive()
    }
}

/// Counters of one walk.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct WalkStats {
    /// Processes returned.
    pub returned: u32,
    /// Processes that vanished during the walk (a workqueue worker whose comm read failed).
    pub vanished: u32,
    /// Held descriptors (workqueue workers' comm).
    pub held: u32,
    /// Reads through them (and of the extras' `stat`).
    pub reads: u32,
}

fn map_len(cap: u32) -> usize {
    let page = 4096usize.max(page_size() as usize);
    (RAW_SIZE * cap as usize).div_ceil(page) * page
}

fn page_size() -> u64 {
    // SAFETY: sysconf has no memory-safety preconditions.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if p > 0 {
        p as u64
    } else {
        4096
    }
}

impl Walker {
    /// Checks what the engine needs and takes the process's program (loading it on first
    /// use). The error names the cause.
    pub(crate) fn new(proc_root: &Path) -> Result<Walker, String> {
        let caps = check_caps()?;
        check_pid_ns(proc_root)?;
        let threads = count_processes(proc_root);
        let cap = (threads * 2 + 1024).next_power_of_two().max(4096);
        let mut w = Walker {
            program: Program::shared(cap)?,
            page: page_size(),
            code_addrs: caps & (1 << 19) != 0, // CAP_SYS_PTRACE
            wq: HashMap::new(),
            order: Vec::new(),
            walked: Vec::new(),
            sorted: Vec::new(),
            extras: Vec::new(),
            last_returned: 0,
        };
        w.find_extras(proc_root)?;
        Ok(w)
    }

    /// Whether a walk of every process is cheaper than reading `stat` of `pids` processes
    /// through sync: a walk costs ~0.1-0.3 us per process, an open/read/close of `stat` ~3-10
    /// us (benches/bpf.rs), so the walk pays from about a sixteenth of the processes.
    pub(crate) fn pays_for(&self, pids: usize) -> bool {
        pids.saturating_mul(16) >= self.last_returned as usize
    }

    /// Nanoseconds the program took to load (once per process).
    pub(crate) fn load_ns(&self) -> u64 {
        lock(&self.program).load_ns
    }

    /// Lists the proc root once and holds `stat` of the processes the walk does not visit.
    fn find_extras(&mut self, proc_root: &Path) -> Result<(), String> {
        let walked = |program: &Mutex<Program>| -> Result<Vec<u32>, String> {
            let mut p = lock(program);
            let n = p.run()?;
            let mut v: Vec<u32> = (0..n).map(|i| p.raw(i).tgid).collect();
            v.sort_unstable();
            Ok(v)
        };
        let before = walked(&self.program)?;
        self.last_returned = before.len() as u32;
        let dir =
            std::fs::read_dir(proc_root).map_err(|e| format!("listing the proc root: {e}"))?;
        let root = sys::open_dir(
            &std::ffi::CString::new(proc_root.as_os_str().as_encoded_bytes())
                .map_err(|_| "proc root contains a NUL byte")?,
        )
        .map_err(|e| format!("opening the proc root: errno {e}"))?;
        for e in dir.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            if before.binary_search(&pid).is_ok() {
                continue;
            }
            let mut path = [0u8; 32];
            let len = crate::files::ProcFile::Stat.format_path(pid, &mut path);
            if let Ok(fd) = sys::open_owned_at(&root, &path[..len]) {
                self.extras.push((pid, fd));
            }
        }
        // Created after the walk: seen by the next walk, not an extra.
        if !self.extras.is_empty() {
            let after = walked(&self.program)?;
            self.extras.retain(|(p, _)| after.binary_search(p).is_err());
        }
        Ok(())
    }

    /// Walks every process: `out` gets one record per process (ascending pid, `stat`
    /// filled; see [`WalkOut`]), comm texts appended to `arena`.
    pub(crate) fn walk(
        &mut self,
        root: &OwnedFd,
        out: &mut impl WalkOut,
        arena: &mut Vec<u8>,
    ) -> Result<WalkStats, String> {
        let program = Arc::clone(&self.program);
        let mut p = lock(&program);
        let n = p.run()?;
        let mut order = std::mem::take(&mut self.order);
        order.clear();
        order.extend((0..n).map(|i| (p.raw(i).tgid, i)));
        order.extend(self.extras.iter().enumerate().map(|(k, e)| (e.0, EXTRA | k as u32)));
        // The walk order is creation order: ascending runs of pids (a new run where pids
        // wrapped around), which the stable sort merges in linear time. Between two scans of
        // a quiet machine the walk order is the same: the last sorted order is taken again
        // (the sort showed in profiles at ~10 ns per process; a comparison costs ~1).
        if order == self.walked {
            order.clone_from(&self.sorted);
        } else if !order.is_sorted() {
            self.walked.clone_from(&order);
            order.sort();
            self.sorted.clone_from(&order);
        } else {
            self.walked.clear();
            self.sorted.clear();
        }
        let mut st = WalkStats::default();
        for v in self.wq.values_mut() {
            v.seen = false;
        }
        let mut prev = 0u32;
        for (k, &(tgid, i)) in order.iter().enumerate() {
            // Over cold caches (an agent scans every few seconds) the conversion waits on the
            // lines of its input and output records, one process after the other: ask for
            // those of a process a few ahead. Measured at 2,064 processes, caches trashed by
            // the pread floor between scans: a stat scan 379 -> 345 and 435 -> 406 ns per
            // process (A/B in one process), 527 -> 507 and 731 -> 654 with 256 MiB written.
            if let Some(&(_, j)) = order.get(k + AHEAD) {
                prefetch_raw(&p, j);
                out.prefetch(st.returned as usize + AHEAD);
            }
            if tgid == prev || tgid == 0 {
                continue; // a group seen twice (the walk raced an exec): keep the first
            }
            prev = tgid;
            if i & EXTRA != 0 {
                st.reads += 1;
                if self.read_extra((i & !EXTRA) as usize, out, st.returned as usize, arena) {
                    st.returned += 1;
                } else {
                    st.vanished += 1;
                }
                continue;
            }
            let raw = p.raw(i);
            if raw.tgid != tgid {
                continue;
            }
            let comm_ok = if raw.flags & PF_WQ_WORKER != 0 {
                wq_comm(&mut self.wq, root, raw, arena, &mut st.reads)
            } else {
                let c = &raw.comm;
                let len = c.iter().position(|&b| b == 0).unwrap_or(c.len());
                Some(push(arena, &c[..len]))
            };
            let Some(comm) = comm_ok else {
                st.vanished += 1;
                continue;
            };
            let k = st.returned as usize;
            fill_stat(raw, out.stat(k), comm, self.page, self.code_addrs);
            let unset = !self.code_addrs && raw.has_mm != 0;
            out.head(
                k,
                Head {
                    pid: tgid as i32,
                    state: state_letter(raw.state, raw.exit_state),
                    stat_unset: if unset { STAT_UNSET_CODE_ADDRS } else { 0 },
                    runtime_ns: Some(raw.runtime),
                },
            );
            st.returned += 1;
        }
        drop(p);
        out.truncate(st.returned as usize);
        self.order = order;
        self.last_returned = st.returned;
        self.wq.retain(|_, v| v.seen);
        st.held = self.wq.len() as u32;
        Ok(st)
    }

    /// `stat` of extra `e`, a process the walk does not visit, from `/proc` (no `runtime_ns`),
    /// into record `k` of `out`; false when it is gone.
    fn read_extra(
        &mut self,
        e: usize,
        out: &mut impl WalkOut,
        k: usize,
        arena: &mut Vec<u8>,
    ) -> bool {
        let (pid, fd) = &self.extras[e];
        let mut buf = [0u8; 1024];
        let Ok(len) = sys::pread(fd.as_raw_fd(), &mut buf, 0) else { return false };
        let mut stat = StatFields::default();
        let Ok((comm, state)) = crate::parse::stat::parse_with_state(&buf[..len], &mut stat) else {
            return false;
        };
        stat.comm = push(arena, comm);
        *out.stat(k) = stat;
        out.head(k, Head { pid: *pid as i32, state, stat_unset: 0, runtime_ns: None });
        true
    }

    /// Runs the program only (benchmarks: the kernel's share of a walk).
    pub(crate) fn walk_only(&mut self) -> Option<u32> {
        lock(&self.program).run().ok()
    }
}

/// How many processes ahead of the conversion the walk asks for their cache lines.
const AHEAD: usize = 6;

/// Asks for the cache lines of the walk's record `j` (the conversion reads all of it).
fn prefetch_raw(p: &Program, j: u32) {
    if j & EXTRA == 0 && j < p.cap {
        let raw = p.raw(j) as *const Raw as *const u8;
        for off in (0..RAW_SIZE).step_by(64) {
            sys::prefetch(raw.wrapping_add(off));
        }
    }
}

/// What a walk sets of a record besides `stat`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Head {
    pub pid: i32,
    pub state: u8,
    pub stat_unset: u32,
    /// Total CPU time in nanoseconds (`None`: a process read from `/proc`).
    pub runtime_ns: Option<u64>,
}

/// Where a walk writes its records: record `k` gets its `stat` through [`WalkOut::stat`]
/// (overwritten whole, comm included), then the rest through [`WalkOut::head`]. Records come
/// in order (k = 0, 1, ...); the walk ends with [`WalkOut::truncate`] to their number.
pub(crate) trait WalkOut {
    fn stat(&mut self, k: usize) -> &mut StatFields;
    fn head(&mut self, k: usize, h: Head);
    /// Asks for the cache lines record `k` will be written to (a hint).
    fn prefetch(&self, k: usize);
    fn truncate(&mut self, n: usize);
}

/// A scan's records. The first `clean` must hold nothing but what a walk sets (a previous
/// walk's records): they are overwritten in place, which spares rewriting the whole record
/// (~700 bytes) of every process on every scan.
pub(crate) struct Records<'a> {
    pub out: &'a mut Vec<ProcRecord>,
    pub clean: usize,
}

impl WalkOut for Records<'_> {
    fn stat(&mut self, k: usize) -> &mut StatFields {
        let out = &mut *self.out;
        if k >= out.len() {
            out.push(ProcRecord::default());
        } else if k >= self.clean {
            out[k] = ProcRecord::default();
        }
        &mut out[k].stat
    }

    fn head(&mut self, k: usize, h: Head) {
        let rec = &mut self.out[k];
        rec.pid = h.pid;
        rec.state = h.state;
        rec.stat_unset = h.stat_unset;
        rec.runtime_ns = h.runtime_ns.unwrap_or(0);
        rec.extra_mask = if h.runtime_ns.is_some() { EXTRA_RUNTIME_NS } else { 0 };
        rec.read_mask = crate::files::ProcFile::Stat.bit();
    }

    fn prefetch(&self, k: usize) {
        use std::mem::{offset_of, size_of};
        if let Some(rec) = self.out.get(k) {
            let rec = rec as *const ProcRecord as *const u8;
            for off in (0..offset_of!(ProcRecord, stat) + size_of::<StatFields>()).step_by(64) {
                sys::prefetch(rec.wrapping_add(off));
            }
            sys::prefetch(rec.wrapping_add(offset_of!(ProcRecord, runtime_ns)));
        }
    }

    fn truncate(&mut self, n: usize) {
        self.out.truncate(n);
    }
}

/// Caller-owned flat arrays (the C ABI's `procuring_walk_stat`): `heads[k]` and `stats[k]`
/// for k < their length; records past it are counted, not kept.
pub(crate) struct Flat<'a> {
    pub heads: &'a mut [crate::record::StatHead],
    pub stats: &'a mut [StatFields],
    /// Where records past the arrays' room are written (and dropped).
    pub spill: StatFields,
}

impl WalkOut for Flat<'_> {
    fn stat(&mut self, k: usize) -> &mut StatFields {
        self.stats.get_mut(k).unwrap_or(&mut self.spill)
    }

    fn head(&mut self, k: usize, h: Head) {
        if let Some(head) = self.heads.get_mut(k) {
            *head = crate::record::StatHead {
                pid: h.pid,
                read_mask: crate::files::ProcFile::Stat.bit(),
                state: h.state,
                _pad: [0; 3],
            };
        }
    }

    fn prefetch(&self, k: usize) {
        if let Some(s) = self.stats.get(k) {
            let s = s as *const StatFields as *const u8;
            for off in (0..std::mem::size_of::<StatFields>()).step_by(64) {
                sys::prefetch(s.wrapping_add(off));
            }
        }
    }

    fn truncate(&mut self, _n: usize) {}
}

/// Record `i` of the mapping.
fn raw_at(m: &Mapping, i: u32, cap: u32) -> &Raw {
    assert!(i < cap);
    // SAFETY: i < cap, the mapping holds `cap` records of RAW_SIZE bytes (8-aligned, page
    // aligned base) and stays mapped while `m` lives. The kernel writes it only during a
    // test_run, which needs the Program mutably (under its lock), so not while this borrow
    // lives.
    unsafe { &*(m.ptr.add(i as usize * RAW_SIZE) as *const Raw) }
}

/// A workqueue worker's held `<pid>/comm` descriptor and the name last read through it.
struct WqWorker {
    start: u64,
    fd: OwnedFd,
    /// Visited by the current walk (entries not visited are dropped after it).
    seen: bool,
    /// What the walk read of the worker when `name` was read (see [`wq_key`]); `None`: not
    /// known, read again.
    key: Option<[u8; WQ_KEY_LEN]>,
    name: Vec<u8>,
}

/// Workqueue workers by pid.
type WqFds = HashMap<u32, WqWorker>;

const WQ_KEY_LEN: usize = 48;

/// The state a workqueue worker's name is built from (`wq_worker_comm()`): its pool, whether
/// it runs a work item, its desc; its id and rescue workqueue are fixed for its life. The
/// program writes them after the 16-byte comm, with a flag in the last 4 bytes when it could
/// read them all. `None` when it could not.
fn wq_key(raw: &Raw) -> Option<[u8; WQ_KEY_LEN]> {
    let k: [u8; WQ_KEY_LEN] = raw.comm[16..].try_into().ok()?;
    (k[44..48] == 1u32.to_ne_bytes()).then_some(k)
}

/// A workqueue worker's comm as /proc shows it (the kernel builds it on each read): the name
/// last read from `<pid>/comm` (held descriptor) while the state it is built from is the same,
/// else a read. `reads` counts the reads.
fn wq_comm(
    wq: &mut WqFds,
    root: &OwnedFd,
    raw: &Raw,
    arena: &mut Vec<u8>,
    reads: &mut u32,
) -> Option<StrRef> {
    let pid = raw.tgid;
    let start = raw.start_boottime;
    if wq.get(&pid).is_none_or(|e| e.start != start) {
        let mut path = [0u8; 32];
        let n = crate::files::ProcFile::Comm.format_path(pid, &mut path);
        let fd = sys::open_owned_at(root, &path[..n]).ok()?;
        wq.insert(pid, WqWorker { start, fd, seen: true, key: None, name: Vec::new() });
    }
    let e = wq.get_mut(&pid)?;
    e.seen = true;
    let key = wq_key(raw);
    if key.is_some() && e.key == key {
        return Some(push(arena, &e.name));
    }
    let mut buf = [0u8; 128];
    *reads += 1;
    match sys::pread(e.fd.as_raw_fd(), &mut buf, 0) {
        Ok(len) => {
            let t = &buf[..len];
            let t = t.strip_suffix(b"\n").unwrap_or(t);
            e.name.clear();
            e.name.extend_from_slice(t);
            e.key = key;
            Some(push(arena, t))
        }
        Err(_) => {
            wq.remove(&pid);
            None
        }
    }
}

fn push(arena: &mut Vec<u8>, b: &[u8]) -> StrRef {
    let off = arena.len() as u32;
    arena.extend_from_slice(b);
    StrRef { off, len: b.len() as u32 }
}

/// `/proc/<pid>/stat`'s state letter (`__task_state_index()` of `__state` and `exit_state`).
pub(crate) fn state_letter(state: u32, exit_state: u32) -> u8 {
    const TASK_REPORT: u32 = 0x7f;
    const TASK_IDLE: u32 = 0x402; // TASK_UNINTERRUPTIBLE | TASK_NOLOAD
    const TASK_RTLOCK_WAIT: u32 = 0x1000;
    const TASK_FROZEN: u32 = 0x8000;
    let mut s = (state | exit_state) & TASK_REPORT;
    if state & TASK_IDLE == TASK_IDLE {
        s = TASK_REPORT + 1;
    }
    if state & (TASK_RTLOCK_WAIT | TASK_FROZEN) != 0 {
        s = 2;
    }
    let idx = 32 - s.leading_zeros(); // fls()
    b"RSDTtXZPI"[idx.min(8) as usize]
}

/// `cputime_adjust()` as `/proc/<pid>/stat` applies it (without updating `prev_cputime`):
/// the (user, system) split in nanoseconds of total runtime `rtime`.
pub(crate) fn cputime_adjust(rtime: u64, utime: u64, stime: u64, prev: (u64, u64)) -> (u64, u64) {
    let (pu, ps) = prev;
    if ps.saturating_add(pu) >= rtime {
        return (pu, ps);
    }
    let mut st = if stime == 0 {
        0
    } else if utime == 0 {
        rtime
    } else {
        // mul_u64_u64_div_u64: in 64 bits when the product fits (a 128-bit division is a
        // library call that showed in profiles).
        let s = match (stime.checked_mul(rtime), stime.checked_add(utime)) {
            (Some(p), Some(d)) => p / d,
            _ => (stime as u128 * rtime as u128 / (stime as u128 + utime as u128)) as u64,
        };
        s.min(rtime)
    };
    if st < ps {
        st = ps;
    }
    let mut ut = rtime - st;
    if ut < pu {
        ut = pu;
        st = rtime - ut;
    }
    (ut, st)
}

/// `new_encode_dev(MKDEV(major, minor))`, as `tty_nr` is printed.
fn encode_dev(major: u32, minor: u32) -> u32 {
    let dev = (major << 20) | (minor & 0xfffff);
    let (ma, mi) = (dev >> 20, dev & 0xfffff);
    (mi & 0xff) | (ma << 8) | ((mi & !0xff) << 12)
}

/// Sets every field of `s` from `r` (and `comm`), as `/proc/<pid>/stat` prints them.
fn fill_stat(r: &Raw, s: &mut StatFields, comm: StrRef, page: u64, code_addrs: bool) {
    let mm = r.has_mm != 0;
    let (tty, tpgid) = if r.has_tty != 0 {
        let minor = (r.tty_minor_start as u32).wrapping_add(r.tty_index as u32);
        (encode_dev(r.tty_major as u32, minor) as i32 as i64, r.tpgid as i64)
    } else {
        (0, -1)
    };
    let (ut, st) = cputime_adjust(r.runtime, r.utime, r.stime, (r.prev_utime, r.prev_stime));
    let code = mm && code_addrs;
    *s = StatFields {
        comm,
        ppid: r.ppid as i64,
        pgrp: r.pgrp as i64,
        session: r.session as i64,
        tty,
        tpgid,
        flags: r.flags as u64,
        minflt: r.min_flt,
        cminflt: r.cmin_flt,
        majflt: r.maj_flt,
        cmajflt: r.cmaj_flt,
        utime: ut / NS_PER_TICK,
        stime: st / NS_PER_TICK,
        cutime: (r.cutime / NS_PER_TICK) as i64,
        cstime: (r.cstime / NS_PER_TICK) as i64,
        priority: r.prio as i64 - 100,
        nice: r.static_prio as i64 - 120,
        num_threads: r.nr_threads as i64,
        starttime: r.start_boottime / NS_PER_TICK,
        vsize: if mm { r.total_vm * page } else { 0 },
        rss: if mm { r.rss_file.max(0) + r.rss_anon.max(0) + r.rss_shmem.max(0) } else { 0 },
        rsslim: r.rsslim,
        startcode: if code { r.start_code } else { 0 },
        endcode: if code { r.end_code } else { 0 },
        startstack: if code { r.start_stack } else { 0 },
        processor: r.cpu as u64,
        rt_priority: r.rt_priority as u64,
        policy: r.policy as u64,
        delayacct_blkio_ticks: r.blkio_delay / NS_PER_TICK,
        guest_time: (r.gtime / NS_PER_TICK) as i64,
        cguest_time: (r.cgtime / NS_PER_TICK) as i64,
    };
}

/// The walk reports pids of the initial pid namespace: the proc root must show that namespace.
/// It does when this process is in the initial namespace and the root's `self` is our pid.
fn check_pid_ns(root: &Path) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let ns = std::fs::metadata("/proc/thread-self/ns/pid")
        .or_else(|_| std::fs::metadata(root.join("thread-self/ns/pid")))
        .map_err(|e| format!("cannot tell the pid namespace (ns/pid: {e})"))?;
    if ns.ino() != PROC_PID_INIT_INO {
        return Err("the scanner runs in a child pid namespace: the BPF walk sees the initial \
                    namespace's pids, which this process cannot map (not supported yet)"
            .into());
    }
    let me = std::fs::read_link(root.join("self")).ok();
    let pid = std::process::id().to_string();
    if me.as_deref() != Some(Path::new(&pid)) {
        return Err(format!(
            "the proc root {} is not a procfs of the initial pid namespace (its self is {me:?})",
            root.display()
        ));
    }
    Ok(())
}

/// Number of entries in /proc/loadavg's "running/total" (threads), a sizing hint.
fn count_processes(root: &Path) -> u32 {
    std::fs::read_to_string(root.join("loadavg"))
        .ok()
        .and_then(|s| s.split_whitespace().nth(3)?.split('/').nth(1)?.parse().ok())
        .unwrap_or(4096)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states() {
        assert_eq!(state_letter(0, 0), b'R');
        assert_eq!(state_letter(1, 0), b'S');
        assert_eq!(state_letter(2, 0), b'D');
        assert_eq!(state_letter(4, 0), b'T');
        assert_eq!(state_letter(8, 0), b't');
        assert_eq!(state_letter(0, 0x20), b'Z');
        assert_eq!(state_letter(0x402, 0), b'I');
        assert_eq!(state_letter(0x40, 0), b'P');
    }

    #[test]
    fn adjust() {
        // No ticks sampled as system time: all user.
        assert_eq!(cputime_adjust(100, 50, 0, (0, 0)), (100, 0));
        // prev ahead of rtime: prev is kept.
        assert_eq!(cputime_adjust(100, 1, 1, (60, 50)), (60, 50));
        // Split by ratio, monotonic against prev.
        assert_eq!(cputime_adjust(1000, 3, 1, (0, 0)), (750, 250));
        assert_eq!(cputime_adjust(1000, 3, 1, (0, 400)), (600, 400));
    }

    #[test]
    fn tty_encoding() {
        // /dev/pts/3: major 136, minor 3 -> 34819.
        assert_eq!(encode_dev(136, 3), 34819);
        // /dev/tty1: 4:1 -> 1025.
        assert_eq!(encode_dev(4, 1), 1025);
    }
}
