//! The `bpf` engine: one BPF program walks every thread of the system in one pass (the
//! open-coded task iterator kfuncs in a `syscall` program, run with `BPF_PROG_TEST_RUN`) and
//! writes one binary record per process into an mmap()ed array map; this module turns those
//! records into `stat` fields exactly as `/proc/<pid>/stat` prints them. Loading (kernel BTF
//! parse, CO-RE, verification) happens once per scanner; a scan costs the walk only.
//!
//! What it cannot read exactly is said per record ([`crate::ProcRecord::stat_unset`]): the code
//! and stack addresses when the scanner lacks CAP_SYS_PTRACE (`/proc` shows them only to a
//! reader that may ptrace the process). Workqueue workers' comm (`kworker/0:1-events`) is
//! built by the kernel on each read: it is read from `<pid>/comm` through a held descriptor.

use std::collections::HashMap;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;
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

/// A loaded program with its output map, and what a walk needs between scans.
pub(crate) struct Walker {
    prog: OwnedFd,
    _map: OwnedFd,
    mapping: Mapping,
    cap: u32,
    page: u64,
    code_addrs: bool,
    /// Held `<pid>/comm` descriptors of workqueue workers.
    wq: WqFds,
    order: Vec<(u32, u32)>,
    /// Processes `/proc` lists that the walk never visits (on the VM we measured, its pid 1,
    /// which no BPF lookup finds): their `stat` is read from `/proc` through a held descriptor.
    extras: Vec<(u32, OwnedFd)>,
    /// Nanoseconds the last load took (BTF parse, CO-RE, map, verification).
    pub load_ns: u64,
}

impl std::fmt::Debug for Walker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Walker").field("cap", &self.cap).finish_non_exhaustive()
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
    /// Checks what the engine needs and loads the program. The error names the cause.
    pub(crate) fn new(proc_root: &Path) -> Result<Walker, String> {
        check_pid_ns(proc_root)?;
        let threads = count_processes(proc_root);
        let cap = (threads * 2 + 1024).next_power_of_two().max(4096);
        let mut w = Self::load(cap)?;
        w.find_extras(proc_root)?;
        Ok(w)
    }

    /// Lists the proc root once and holds `stat` of the processes the walk does not visit.
    fn find_extras(&mut self, proc_root: &Path) -> Result<(), String> {
        let n = loader::test_run(self.prog.as_raw_fd()).map_err(run_err)?.min(self.cap);
        let mut walked: Vec<u32> = (0..n).map(|i| self.raw(i).tgid).collect();
        walked.sort_unstable();
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
            if walked.binary_search(&pid).is_ok() {
                continue;
            }
            let mut path = [0u8; 32];
            let len = crate::files::ProcFile::Stat.format_path(pid, &mut path);
            if let Ok(fd) = sys::open_owned_at(&root, &path[..len]) {
                self.extras.push((pid, fd));
            }
        }
        // Created after the walk: seen by the next walk, not an extra.
        let again = loader::test_run(self.prog.as_raw_fd()).map_err(run_err)?.min(self.cap);
        let seen: Vec<u32> = (0..again).map(|i| self.raw(i).tgid).collect();
        self.extras.retain(|(p, _)| !seen.contains(p));
        Ok(())
    }

    fn load(cap: u32) -> Result<Walker, String> {
        let t0 = Instant::now();
        let vmlinux = std::fs::read("/sys/kernel/btf/vmlinux").map_err(|e| {
            format!("no kernel BTF (/sys/kernel/btf/vmlinux: {e}; needs CONFIG_DEBUG_INFO_BTF)")
        })?;
        let l = loader::load(OBJECT, &vmlinux, RAW_SIZE as u32, cap)?;
        drop(vmlinux);
        let len = map_len(cap);
        // SAFETY: maps `len` bytes of the array map read-only and shared; the kernel checks
        // the length against the map, and the mapping lives as long as the Walker.
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
        let code_addrs = loader::effective_caps() & (1 << 19) != 0; // CAP_SYS_PTRACE
        let mut w = Walker {
            prog: l.prog,
            _map: l.map,
            mapping: Mapping { ptr: ptr as *const u8, len },
            cap,
            page: page_size(),
            code_addrs,
            wq: HashMap::new(),
            order: Vec::new(),
            extras: Vec::new(),
            load_ns: 0,
        };
        // One walk proves the program runs (test_run may be refused separately).
        loader::test_run(w.prog.as_raw_fd()).map_err(|e| {
            format!("bpf(BPF_PROG_TEST_RUN): {}", std::io::Error::from_raw_os_error(e))
        })?;
        w.load_ns = t0.elapsed().as_nanos() as u64;
        Ok(w)
    }

    fn raw(&self, i: u32) -> &Raw {
        raw_at(&self.mapping, i, self.cap)
    }

    /// Walks every process; appends one record per process (ascending pid, `stat` filled) to
    /// `out`, and comm texts to `arena`.
    pub(crate) fn walk(
        &mut self,
        root: &OwnedFd,
        out: &mut Vec<ProcRecord>,
        arena: &mut Vec<u8>,
    ) -> Result<WalkStats, String> {
        let mut n = loader::test_run(self.prog.as_raw_fd()).map_err(|e| {
            format!("bpf(BPF_PROG_TEST_RUN): {}", std::io::Error::from_raw_os_error(e))
        })?;
        if n > self.cap {
            // More processes than the map holds: load again with room (rare; ~ms).
            let cap = (n * 2).next_power_of_two();
            let wq = std::mem::take(&mut self.wq);
            let extras = std::mem::take(&mut self.extras);
            *self = Self::load(cap)?;
            self.wq = wq;
            self.extras = extras;
            n = loader::test_run(self.prog.as_raw_fd()).map_err(|e| {
                format!("bpf(BPF_PROG_TEST_RUN): {}", std::io::Error::from_raw_os_error(e))
            })?;
            n = n.min(self.cap);
        }
        let mut order = std::mem::take(&mut self.order);
        order.clear();
        order.extend((0..n).map(|i| (self.raw(i).tgid, i)));
        order.extend(self.extras.iter().enumerate().map(|(k, e)| (e.0, EXTRA | k as u32)));
        // Stable sort: the walk order is creation order, a few ascending runs of pids, which
        // the stable sort merges in linear time.
        order.sort();
        let mut st = WalkStats::default();
        for v in self.wq.values_mut() {
            v.2 = false;
        }
        let mut prev = 0u32;
        for &(tgid, i) in &order {
            if tgid == prev || tgid == 0 {
                continue; // a group seen twice (the walk raced an exec): keep the first
            }
            prev = tgid;
            if i & EXTRA != 0 {
                match self.read_extra((i & !EXTRA) as usize, arena) {
                    Some(rec) => {
                        out.push(rec);
                        st.returned += 1;
                    }
                    None => st.vanished += 1,
                }
                continue;
            }
            let raw = raw_at(&self.mapping, i, self.cap);
            if raw.tgid != tgid {
                continue;
            }
            let comm_ok = if raw.flags & PF_WQ_WORKER != 0 {
                wq_comm(&mut self.wq, root, raw, arena)
            } else {
                let c = &raw.comm;
                let len = c.iter().position(|&b| b == 0).unwrap_or(c.len());
                Some(push(arena, &c[..len]))
            };
            let Some(comm) = comm_ok else {
                st.vanished += 1;
                continue;
            };
            // Filled in place: a record is ~800 bytes, a copy per process shows in profiles.
            out.resize_with(out.len() + 1, ProcRecord::default);
            let rec = out.last_mut().expect("just pushed");
            rec.pid = tgid as i32;
            rec.state = state_letter(raw.state, raw.exit_state);
            fill_stat(raw, &mut rec.stat, self.page, self.code_addrs);
            rec.stat.comm = comm;
            if !self.code_addrs && raw.has_mm != 0 {
                rec.stat_unset |= STAT_UNSET_CODE_ADDRS;
            }
            rec.runtime_ns = raw.runtime;
            rec.extra_mask |= EXTRA_RUNTIME_NS;
            rec.read_mask |= crate::files::ProcFile::Stat.bit();
            st.returned += 1;
        }
        self.order = order;
        self.wq.retain(|_, v| v.2);
        st.held = self.wq.len() as u32;
        Ok(st)
    }

    /// `stat` of a process the walk does not visit, from `/proc` (no `runtime_ns`).
    fn read_extra(&mut self, k: usize, arena: &mut Vec<u8>) -> Option<ProcRecord> {
        let (pid, fd) = &self.extras[k];
        let mut buf = [0u8; 1024];
        let len = sys::pread(fd.as_raw_fd(), &mut buf, 0).ok()?;
        let mut rec = ProcRecord { pid: *pid as i32, ..Default::default() };
        let (comm, state) =
            crate::parse::stat::parse_with_state(&buf[..len], &mut rec.stat).ok()?;
        rec.stat.comm = push(arena, comm);
        rec.state = state;
        rec.read_mask |= crate::files::ProcFile::Stat.bit();
        Some(rec)
    }

    /// Runs the program only (benchmarks: the kernel's share of a walk).
    pub(crate) fn walk_only(&mut self) -> Option<u32> {
        loader::test_run(self.prog.as_raw_fd()).ok()
    }
}

/// Record `i` of the mapping.
fn raw_at(m: &Mapping, i: u32, cap: u32) -> &Raw {
    assert!(i < cap);
    // SAFETY: i < cap, the mapping holds `cap` records of RAW_SIZE bytes (8-aligned, page
    // aligned base) and stays mapped while `m` lives. The kernel writes it only during a
    // test_run, which needs the Walker mutably, so not while this borrow lives.
    unsafe { &*(m.ptr.add(i as usize * RAW_SIZE) as *const Raw) }
}

/// Held `<pid>/comm` descriptors of workqueue workers: (starttime, fd, seen this walk).
type WqFds = HashMap<u32, (u64, OwnedFd, bool)>;

/// A workqueue worker's comm as /proc shows it (`<pid>/comm`, through a held descriptor).
fn wq_comm(wq: &mut WqFds, root: &OwnedFd, raw: &Raw, arena: &mut Vec<u8>) -> Option<StrRef> {
    let pid = raw.tgid;
    let start = raw.start_boottime;
    let fresh = !matches!(wq.get(&pid), Some((s, _, _)) if *s == start);
    if fresh {
        let mut path = [0u8; 32];
        let n = crate::files::ProcFile::Comm.format_path(pid, &mut path);
        let fd = sys::open_owned_at(root, &path[..n]).ok()?;
        wq.insert(pid, (start, fd, true));
    }
    let e = wq.get_mut(&pid)?;
    e.2 = true;
    let mut buf = [0u8; 128];
    match sys::pread(e.1.as_raw_fd(), &mut buf, 0) {
        Ok(len) => {
            let t = &buf[..len];
            Some(push(arena, t.strip_suffix(b"\n").unwrap_or(t)))
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
        let s = (stime as u128 * rtime as u128 / (stime as u128 + utime as u128)) as u64;
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

fn fill_stat(r: &Raw, s: &mut StatFields, page: u64, code_addrs: bool) {
    let mm = r.has_mm != 0;
    s.ppid = r.ppid as i64;
    s.pgrp = r.pgrp as i64;
    s.session = r.session as i64;
    if r.has_tty != 0 {
        let minor = (r.tty_minor_start as u32).wrapping_add(r.tty_index as u32);
        s.tty = encode_dev(r.tty_major as u32, minor) as i32 as i64;
        s.tpgid = r.tpgid as i64;
    } else {
        s.tty = 0;
        s.tpgid = -1;
    }
    s.flags = r.flags as u64;
    s.minflt = r.min_flt;
    s.cminflt = r.cmin_flt;
    s.majflt = r.maj_flt;
    s.cmajflt = r.cmaj_flt;
    let (ut, st) = cputime_adjust(r.runtime, r.utime, r.stime, (r.prev_utime, r.prev_stime));
    s.utime = ut / NS_PER_TICK;
    s.stime = st / NS_PER_TICK;
    s.cutime = (r.cutime / NS_PER_TICK) as i64;
    s.cstime = (r.cstime / NS_PER_TICK) as i64;
    s.priority = r.prio as i64 - 100;
    s.nice = r.static_prio as i64 - 120;
    s.num_threads = r.nr_threads as i64;
    s.starttime = r.start_boottime / NS_PER_TICK;
    s.vsize = if mm { r.total_vm * page } else { 0 };
    s.rss = if mm { r.rss_file.max(0) + r.rss_anon.max(0) + r.rss_shmem.max(0) } else { 0 };
    s.rsslim = r.rsslim;
    if mm && code_addrs {
        s.startcode = r.start_code;
        s.endcode = r.end_code;
        s.startstack = r.start_stack;
    }
    s.processor = r.cpu as u64;
    s.rt_priority = r.rt_priority as u64;
    s.policy = r.policy as u64;
    s.delayacct_blkio_ticks = r.blkio_delay / NS_PER_TICK;
    s.guest_time = (r.gtime / NS_PER_TICK) as i64;
    s.cguest_time = (r.cgtime / NS_PER_TICK) as i64;
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
