//! Criterion benchmarks of one full scan of every process, under wall time and CPU time.
//!
//! `cargo bench --bench scan` starts `PROCURING_BENCH_PROCS` (default 1000) idle `sleep 3600`
//! children, then measures every benchmark twice: with wall time (group `wall/...`) and with the
//! CPU time of this whole process (group `cpu/...`: user + system time from
//! `getrusage(RUSAGE_SELF)`, which includes io_uring's io-wq worker threads). Each iteration is
//! one scan of *every* process of the machine (the children plus whatever else runs), so the
//! per-process numbers divide by the processes a scan returned, printed at the start.
//!
//! Groups: `stat` (stat only), `3files` (stat, status, io), `cold` (a new scanner reading
//! every file, identity files included) and `list` (listing the pids only). Each group has a
//! `floor/...`: the syscalls the kernel has to serve anyway, made with libc directly, one reused
//! buffer, no parsing, no allocation:
//!
//! - `stat`, `3files`: a bare `pread(fd, buf, 4096, 0)` loop over descriptors already open on
//!   every process's files (no listing: the `list` floor is its cost, add the two).
//!   `stat` also has `floor/getdents+pread-held-stat` (a listing pass and that loop, one after
//!   the other in each iteration: what a steady scan must make the kernel do, cache effects
//!   between the two included) and `floor/pread-held-schedstat`, the floor of
//!   `*/held-reuse-idle` (`Options::reuse_idle_stat`: schedstat of every process, stat only
//!   where it changed).
//! - `cold`: `floor/cold-open-read-close`: one getdents64 pass over `/proc`, then per listed pid
//!   `openat` + `read` + `close` of every file the cold scans read (`FileSet::ALL`: stat, status,
//!   io, comm, cmdline, cgroup, environ, schedstat) and `readlinkat` of `exe`. A read that does not fill
//!   the 64 KiB buffer is the whole file (the scanner's rule too), so there is no extra `read`
//!   returning 0. The cold scans keep stat/status/io open (closed outside the measurement),
//!   so the floor's closes are a little more than they pay.
//! - `list`: `floor/getdents`: `lseek(0)` + a getdents64 loop over a held `/proc` descriptor
//!   into a 64 KiB buffer, counting numeric entries; `sync/list-pids` is
//!   `Scanner::list_pids` into a reused `Vec`.
//!
//! The summary's `cpu/floor` column is the CPU per process of a row over that of its group's
//! floor (per process, since other work may change the process count between benchmarks).
//!
//! Environment: `PROCURING_BENCH_PROCS` (children), `PROCURING_BENCH_TIME` (measurement
//! seconds, default 2), `PROCURING_BENCH_WARMUP` (default 0.5), `PROCURING_BENCH_SAMPLES`
//! (default 10). Arguments after `--` are criterion's (a filter such as `uring/held`).
//!
//! The bench raises its own `RLIMIT_NOFILE` (as far as allowed) so that every process's files
//! can be held: the scanner caps held descriptors at half the soft limit and never raises it.
//! At the end it prints a summary and writes `<criterion dir>/procuring-summary.json`, which
//! `scripts/bench_report.py` reads together with criterion's `estimates.json` files.

use std::fmt::Write as _;
use std::hint::black_box;
use std::os::fd::RawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use criterion::measurement::{Measurement, ValueFormatter};
use criterion::{BatchSize, Criterion, Throughput};
use procuring::{EngineKind, FileSet, Options, ProcFile, ScanFlags, Scanner, UringOptions};

// ---------------------------------------------------------------------------------------------
// CPU time as a criterion measurement.

/// User + system CPU time of this process (every thread, io-wq workers included), in ns.
fn cpu_ns() -> u64 {
    // SAFETY: rusage is plain data, valid when zeroed.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage only writes the struct it is given.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as u64 * 1_000_000_000 + t.tv_usec as u64 * 1_000;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// Criterion measurement: CPU time of the whole process (`getrusage(RUSAGE_SELF)`), in ns.
/// Resolution is 1 µs; a criterion sample spans many iterations, so that is plenty.
struct CpuTime;

impl Measurement for CpuTime {
    type Intermediate = u64;
    type Value = u64;
    fn start(&self) -> u64 {
        cpu_ns()
    }
    fn end(&self, i: u64) -> u64 {
        cpu_ns().saturating_sub(i)
    }
    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }
    fn zero(&self) -> u64 {
        0
    }
    fn to_f64(&self, v: &u64) -> f64 {
        *v as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        &CpuFormatter
    }
}

struct CpuFormatter;

impl ValueFormatter for CpuFormatter {
    fn scale_values(&self, ns: f64, values: &mut [f64]) -> &'static str {
        let (factor, unit) = if ns < 1e3 {
            (1.0, "ns cpu")
        } else if ns < 1e6 {
            (1e-3, "µs cpu")
        } else if ns < 1e9 {
            (1e-6, "ms cpu")
        } else {
            (1e-9, "s cpu")
        };
        values.iter_mut().for_each(|v| *v *= factor);
        unit
    }

    fn scale_throughputs(&self, typical: f64, t: &Throughput, values: &mut [f64]) -> &'static str {
        let n = match *t {
            Throughput::Bytes(n) | Throughput::BytesDecimal(n) | Throughput::Elements(n) => {
                n as f64
            }
        };
        // Per CPU-second.
        let per_s = n * 1e9 / typical;
        let (div, unit) = if per_s < 1e3 {
            (1.0, " proc/cpu-s")
        } else if per_s < 1e6 {
            (1e3, "Kproc/cpu-s")
        } else {
            (1e6, "Mproc/cpu-s")
        };
        values.iter_mut().for_each(|v| *v = n * 1e9 / *v / div);
        unit
    }

    fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
        "ns"
    }
}

// ---------------------------------------------------------------------------------------------
// Idle children, always killed and reaped.

/// Pids of live children, for the `atexit` handler (covers `std::process::exit` anywhere).
static CHILD_PIDS: Mutex<Vec<i32>> = Mutex::new(Vec::new());

extern "C" fn reap_at_exit() {
    let pids = match CHILD_PIDS.lock() {
        Ok(mut g) => std::mem::take(&mut *g),
        Err(p) => std::mem::take(&mut *p.into_inner()),
    };
    for &pid in &pids {
        // SAFETY: plain syscalls on pids that are our own unreaped children.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    for &pid in &pids {
        // SAFETY: reaping our own children; a null status pointer is allowed.
        unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
    }
}

/// The idle children. Dropping kills and reaps them (also on unwind); an `atexit` handler does
/// the same on `process::exit`, and each child has `PR_SET_PDEATHSIG = SIGKILL`, so even a
/// SIGKILLed bench leaves nothing behind.
struct Children {
    kids: Vec<Child>,
}

impl Children {
    fn spawn(n: usize) -> std::io::Result<Children> {
        // SAFETY: registering a plain extern "C" fn.
        unsafe { libc::atexit(reap_at_exit) };
        let me = std::process::id() as i32;
        let mut c = Children { kids: Vec::with_capacity(n) };
        let t0 = Instant::now();
        for i in 0..n {
            let mut cmd = Command::new("sleep");
            cmd.arg("3600").stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
            // SAFETY: only async-signal-safe calls between fork and exec.
            unsafe {
                cmd.pre_exec(move || {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0);
                    if libc::getppid() != me {
                        libc::_exit(1); // the bench died before the prctl
                    }
                    Ok(())
                });
            }
            let child = cmd.spawn().map_err(|e| {
                std::io::Error::new(e.kind(), format!("spawning child {} of {n}: {e}", i + 1))
            })?;
            CHILD_PIDS.lock().unwrap().push(child.id() as i32);
            c.kids.push(child);
        }
        // Wait until every child has exec'd `sleep` (its comm changes at execve).
        for k in &c.kids {
            let path = format!("/proc/{}/comm", k.id());
            let deadline = Instant::now() + Duration::from_secs(60);
            while std::fs::read(&path).map_or(true, |b| b != b"sleep\n") {
                if Instant::now() > deadline {
                    return Err(std::io::Error::other(format!(
                        "child {} never exec'd sleep",
                        k.id()
                    )));
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        eprintln!("procuring bench: {n} children started in {:.1} s", t0.elapsed().as_secs_f64());
        Ok(c)
    }
}

impl Drop for Children {
    fn drop(&mut self) {
        for k in &mut self.kids {
            let _ = k.kill();
        }
        for k in &mut self.kids {
            let _ = k.wait();
        }
        self.kids.clear();
        if let Ok(mut g) = CHILD_PIDS.lock() {
            g.clear();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Environment helpers.

fn env_num<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok()).unwrap_or(default)
}

/// Numeric entries of /proc, ascending.
fn proc_pids() -> Vec<u32> {
    let mut v: Vec<u32> = std::fs::read_dir("/proc")
        .map(|d| d.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok()).collect())
        .unwrap_or_default();
    v.sort_unstable();
    v
}

/// Raises the soft (and, when allowed, hard) `RLIMIT_NOFILE` to `want`. Returns the soft limit.
fn raise_nofile(want: u64) -> u64 {
    // SAFETY: get/setrlimit on a local struct.
    unsafe {
        let mut rl: libc::rlimit = std::mem::zeroed();
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl);
        if rl.rlim_cur >= want {
            return rl.rlim_cur;
        }
        let nr_open = std::fs::read_to_string("/proc/sys/fs/nr_open")
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .unwrap_or(1 << 20);
        let want = want.min(nr_open);
        if rl.rlim_max < want {
            let up = libc::rlimit { rlim_cur: want, rlim_max: want };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &up) == 0 {
                return want;
            }
        }
        let soft = libc::rlimit { rlim_cur: want.min(rl.rlim_max), rlim_max: rl.rlim_max };
        libc::setrlimit(libc::RLIMIT_NOFILE, &soft);
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl);
        rl.rlim_cur
    }
}

fn status_kb(key: &str) -> u64 {
    file_kb("/proc/self/status", key)
}

fn meminfo_kb(key: &str) -> u64 {
    file_kb("/proc/meminfo", key)
}

fn file_kb(path: &str, key: &str) -> u64 {
    let s = std::fs::read_to_string(path).unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------------------------
// Benchmarks.

const THREE: FileSet = FileSet::STAT.with(ProcFile::Status).with(ProcFile::Io);

enum Kind {
    /// `pread` loop over descriptors open on these files of every process.
    Floor(FileSet),
    /// A warm scanner (one scan done before measuring) re-scanning `files`.
    Warm(Options, FileSet),
    /// A new scanner per iteration, first scan of `FileSet::ALL` (identity files read).
    Cold(Options),
    /// One getdents64 pass, then open + read + close of every file of `FileSet::ALL` of every
    /// listed pid (`readlinkat` for `exe`).
    ColdFloor,
    /// A bare getdents64 loop over `/proc`, counting numeric entries.
    GetdentsFloor,
    /// The syscalls of one steady-state scan in one loop: a getdents64 pass, then the `pread`
    /// loop of [`Kind::Floor`] over held descriptors of these files.
    ScanFloor(FileSet),
    /// `Scanner::list_pids` into a reused `Vec`.
    ListPids(Options),
}

struct Def {
    group: &'static str,
    name: String,
    kind: Kind,
}

fn opts(engine: EngineKind, hold: bool, uring: UringOptions) -> Options {
    Options { engine, hold_fds: hold, uring, files: FileSet::STAT, ..Options::default() }
}

fn defs(cpus: u32) -> Vec<Def> {
    let u = UringOptions::default();
    let sync = |hold| opts(EngineKind::Sync, hold, u);
    let uring = |hold, uo| opts(EngineKind::Uring, hold, uo);
    let asy = UringOptions { async_reads: true, iowq_workers: cpus, ..u };
    let single = UringOptions { single_issuer: true, ..u };
    let every = |o: Options| Options { list_every_scan: true, ..o };
    // Options::threads: the reads of one scan shared by two threads (wall time, not CPU).
    let threads2 = |o: Options| Options { threads: 2, ..o };
    let mut v = vec![
        Def {
            group: "stat",
            name: "floor/pread-held-stat".into(),
            kind: Kind::Floor(FileSet::STAT),
        },
        Def {
            group: "stat",
            name: "floor/getdents+pread-held-stat".into(),
            kind: Kind::ScanFloor(FileSet::STAT),
        },
        Def {
            group: "stat",
            name: "sync/held".into(),
            kind: Kind::Warm(sync(true), FileSet::STAT),
        },
        Def {
            group: "stat",
            name: "sync/held-list-every-scan".into(),
            kind: Kind::Warm(every(sync(true)), FileSet::STAT),
        },
        Def {
            group: "stat",
            name: "sync/held-threads2".into(),
            kind: Kind::Warm(threads2(sync(true)), FileSet::STAT),
        },
        Def {
            group: "stat",
            name: "sync/no-held".into(),
            kind: Kind::Warm(sync(false), FileSet::STAT),
        },
        Def {
            group: "stat",
            name: "uring/held".into(),
            kind: Kind::Warm(uring(true, u), FileSet::STAT),
        },
        Def {
            group: "stat",
            name: "uring/no-held".into(),
            kind: Kind::Warm(uring(false, u), FileSet::STAT),
        },
    ];
    for b in [16u32, 64, 1024] {
        let uo = UringOptions { batch: b, ..u };
        v.push(Def {
            group: "stat",
            name: format!("uring/held-batch{b}"),
            kind: Kind::Warm(uring(true, uo), FileSet::STAT),
        });
    }
    v.push(Def {
        group: "stat",
        name: "uring/held-async".into(),
        kind: Kind::Warm(uring(true, asy), FileSet::STAT),
    });
    // Options::reuse_idle_stat: schedstat of every process, stat only of those that ran.
    let reuse = |o: Options| Options { reuse_idle_stat: true, ..o };
    v.push(Def {
        group: "stat",
        name: "sync/held-reuse-idle".into(),
        kind: Kind::Warm(reuse(sync(true)), FileSet::STAT),
    });
    v.push(Def {
        group: "stat",
        name: "uring/held-reuse-idle".into(),
        kind: Kind::Warm(reuse(uring(true, u)), FileSet::STAT),
    });
    v.push(Def {
        group: "stat",
        name: "floor/pread-held-schedstat".into(),
        kind: Kind::Floor(FileSet::EMPTY.with(ProcFile::Schedstat)),
    });
    v.push(Def {
        group: "stat",
        name: "uring/held-single-issuer".into(),
        kind: Kind::Warm(uring(true, single), FileSet::STAT),
    });
    v.extend([
        Def {
            group: "3files",
            name: "floor/pread-held-stat-status-io".into(),
            kind: Kind::Floor(THREE),
        },
        Def { group: "3files", name: "sync/held".into(), kind: Kind::Warm(sync(true), THREE) },
        Def {
            group: "3files",
            name: "sync/held-threads2".into(),
            kind: Kind::Warm(threads2(sync(true)), THREE),
        },
        Def { group: "3files", name: "sync/no-held".into(), kind: Kind::Warm(sync(false), THREE) },
        Def { group: "3files", name: "uring/held".into(), kind: Kind::Warm(uring(true, u), THREE) },
        Def {
            group: "3files",
            name: "uring/no-held".into(),
            kind: Kind::Warm(uring(false, u), THREE),
        },
        Def {
            group: "3files",
            name: "uring/held-async".into(),
            kind: Kind::Warm(uring(true, asy), THREE),
        },
        Def { group: "cold", name: "floor/cold-open-read-close".into(), kind: Kind::ColdFloor },
        Def { group: "cold", name: "sync/cold-identity".into(), kind: Kind::Cold(sync(true)) },
        Def { group: "cold", name: "uring/cold-identity".into(), kind: Kind::Cold(uring(true, u)) },
        Def { group: "list", name: "floor/getdents".into(), kind: Kind::GetdentsFloor },
        Def { group: "list", name: "sync/list-pids".into(), kind: Kind::ListPids(sync(false)) },
    ]);
    v
}

/// Descriptors open on `files` of every process, closed on drop.
struct FloorFds(Vec<RawFd>);

impl FloorFds {
    fn open(files: FileSet) -> FloorFds {
        let mut fds = Vec::new();
        for pid in proc_pids() {
            for f in files.iter() {
                let p = std::ffi::CString::new(format!("/proc/{pid}/{}", f.name())).unwrap();
                // SAFETY: a plain open of a NUL-terminated path.
                let fd = unsafe { libc::open(p.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
                if fd >= 0 {
                    fds.push(fd);
                }
            }
        }
        FloorFds(fds)
    }

    fn read_all(&self, buf: &mut [u8]) -> usize {
        let mut total = 0;
        for &fd in &self.0 {
            // SAFETY: buf is a valid writable buffer of buf.len() bytes.
            let n = unsafe { libc::pread(fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
            total += n.max(0) as usize;
        }
        total
    }
}

impl Drop for FloorFds {
    fn drop(&mut self) {
        for &fd in &self.0 {
            // SAFETY: closing descriptors this struct opened.
            unsafe { libc::close(fd) };
        }
    }
}

/// `/proc` held open as a directory, with a reused 64 KiB buffer for `getdents64`.
struct ProcDir {
    fd: RawFd,
    buf: Vec<u8>,
}

impl ProcDir {
    fn open() -> ProcDir {
        // SAFETY: a plain open of a NUL-terminated path.
        let fd = unsafe {
            libc::open(c"/proc".as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC)
        };
        assert!(fd >= 0, "open /proc: {}", std::io::Error::last_os_error());
        ProcDir { fd, buf: vec![0u8; 64 * 1024] }
    }

    /// Rewinds and reads every entry, calling `f` with each numeric name; returns their count.
    fn for_each_pid(&mut self, mut f: impl FnMut(u32)) -> usize {
        // SAFETY: lseek on a descriptor this struct owns.
        unsafe { libc::lseek(self.fd, 0, libc::SEEK_SET) };
        let mut count = 0;
        loop {
            // SAFETY: buf is valid for buf.len() bytes of writes; the kernel writes whole
            // linux_dirent64 records into it.
            let n = unsafe {
                libc::syscall(libc::SYS_getdents64, self.fd, self.buf.as_mut_ptr(), self.buf.len())
            };
            if n <= 0 {
                break;
            }
            // linux_dirent64: u64 ino, i64 off, u16 reclen, u8 type, NUL-terminated name.
            let mut b = &self.buf[..n as usize];
            while b.len() >= 20 {
                let reclen = u16::from_ne_bytes([b[16], b[17]]) as usize;
                if reclen < 20 || reclen > b.len() {
                    break;
                }
                let mut pid = 0u32;
                let mut digits = 0;
                for &c in &b[19..reclen] {
                    if !c.is_ascii_digit() {
                        if c != 0 {
                            digits = 0;
                        }
                        break;
                    }
                    pid = pid.wrapping_mul(10).wrapping_add((c - b'0') as u32);
                    digits += 1;
                }
                if digits > 0 {
                    count += 1;
                    f(pid);
                }
                b = &b[reclen..];
            }
        }
        count
    }
}

impl Drop for ProcDir {
    fn drop(&mut self) {
        // SAFETY: closing the descriptor this struct opened.
        unsafe { libc::close(self.fd) };
    }
}

/// The cold floor: one listing, then every file of `FileSet::ALL` of every listed pid opened,
/// read whole into `buf` and closed (`exe` read with `readlinkat`). Returns the pids listed.
fn cold_floor(dir: &mut ProcDir, buf: &mut [u8]) -> usize {
    let root = dir.fd;
    dir.for_each_pid(|pid| {
        let mut path = [0u8; 32];
        for f in FileSet::ALL.iter() {
            f.format_path(pid, &mut path);
            if f == ProcFile::Exe {
                // SAFETY: path is NUL-terminated; buf is valid for buf.len() bytes of writes.
                let n = unsafe {
                    libc::readlinkat(root, path.as_ptr().cast(), buf.as_mut_ptr().cast(), buf.len())
                };
                black_box(n);
                continue;
            }
            // SAFETY: path is NUL-terminated; root is the open /proc directory.
            let fd = unsafe {
                libc::openat(root, path.as_ptr().cast(), libc::O_RDONLY | libc::O_CLOEXEC)
            };
            if fd < 0 {
                continue;
            }
            loop {
                // SAFETY: buf is valid for buf.len() bytes of writes; fd was opened above.
                let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
                if n < buf.len() as isize {
                    break; // a short read is the whole file (0 at EOF, < 0 on error)
                }
            }
            // SAFETY: closing the descriptor opened above.
            unsafe { libc::close(fd) };
        }
    })
}

struct Settings {
    time: Duration,
    warmup: Duration,
    samples: usize,
    procs: u64,
}

/// Runs one definition under measurement `M`, in group `<prefix>/<def.group>`.
/// Processes seen by the scans of one benchmark: the last one, and the range over all of them
/// (other work on the machine may start or end processes while a benchmark runs).
#[derive(Clone, Copy, Debug, Default)]
struct Seen {
    last: usize,
    min: usize,
    max: usize,
    /// Scanner scans measured, and how many of them kept the previous pid list
    /// (`ScanStats::list_reused`).
    scans: u64,
    list_reused: u64,
}

impl Seen {
    fn note(&mut self, n: usize) {
        self.min = if self.last == 0 { n } else { self.min.min(n) };
        self.max = self.max.max(n);
        self.last = n;
    }

    fn note_scan(&mut self, snap: &procuring::Snapshot) {
        self.note(snap.records().len());
        self.scans += 1;
        self.list_reused += snap.stats().list_reused as u64;
    }

    /// Share of the scans that kept the previous pid list, in percent (`None`: no scan).
    fn reused_pct(&self) -> Option<f64> {
        (self.scans > 0).then(|| 100.0 * self.list_reused as f64 / self.scans as f64)
    }
}

/// `seen` gets the processes of the scans measured (all zero: not run, e.g. filtered out).
/// Returns why the definition was skipped, if it was.
fn run_def<M: Measurement>(
    c: &mut Criterion<M>,
    prefix: &str,
    d: &Def,
    s: &Settings,
    seen: &mut Seen,
) -> Option<String> {
    if let Kind::Floor(files) | Kind::ScanFloor(files) = &d.kind {
        // The floor holds a descriptor per file per process at once; criterion needs a few more.
        let need = s.procs * files.iter().count() as u64 + 256;
        let soft = nofile_soft();
        if need > soft {
            let why = format!(
                "{}/{}: needs {need} descriptors, RLIMIT_NOFILE soft limit is {soft} (the hard limit could not be raised)",
                d.group, d.name
            );
            eprintln!("procuring bench: skipping {why}");
            return Some(why);
        }
    }
    let mut g = c.benchmark_group(format!("{prefix}/{}", d.group));
    g.sample_size(s.samples)
        .measurement_time(s.time)
        .warm_up_time(s.warmup)
        .throughput(Throughput::Elements(s.procs));
    // The closure runs once per sample: state is made on the first call and kept.
    match &d.kind {
        Kind::Floor(files) => {
            let mut st: Option<(FloorFds, Vec<u8>)> = None;
            let per = files.iter().count();
            g.bench_function(d.name.as_str(), |b| {
                let (fds, buf) =
                    st.get_or_insert_with(|| (FloorFds::open(*files), vec![0u8; 4096]));
                seen.note(fds.0.len() / per);
                b.iter(|| black_box(fds.read_all(buf)));
            });
        }
        Kind::Warm(o, files) => {
            let mut st: Option<Scanner> = None;
            g.bench_function(d.name.as_str(), |b| {
                let sc = st.get_or_insert_with(|| {
                    let mut sc = Scanner::new(o.clone()).expect("scanner");
                    sc.scan_with(*files, ScanFlags::NONE).expect("warm-up scan");
                    sc
                });
                b.iter(|| {
                    let snap = sc.scan_with(*files, ScanFlags::NONE).expect("scan");
                    seen.note_scan(snap);
                    black_box(snap.records().len())
                });
            });
        }
        Kind::ScanFloor(files) => {
            let mut st: Option<(ProcDir, FloorFds, Vec<u8>)> = None;
            g.bench_function(d.name.as_str(), |b| {
                let (dir, fds, buf) = st.get_or_insert_with(|| {
                    (ProcDir::open(), FloorFds::open(*files), vec![0u8; 4096])
                });
                b.iter(|| {
                    let n = dir.for_each_pid(|_| {});
                    seen.note(n);
                    black_box(fds.read_all(buf))
                });
            });
        }
        Kind::ColdFloor => {
            let mut st: Option<(ProcDir, Vec<u8>)> = None;
            g.bench_function(d.name.as_str(), |b| {
                let (dir, buf) = st.get_or_insert_with(|| (ProcDir::open(), vec![0u8; 64 * 1024]));
                b.iter(|| {
                    let n = cold_floor(dir, buf);
                    seen.note(n);
                    black_box(n)
                });
            });
        }
        Kind::GetdentsFloor => {
            let mut st: Option<ProcDir> = None;
            g.bench_function(d.name.as_str(), |b| {
                let dir = st.get_or_insert_with(ProcDir::open);
                b.iter(|| {
                    let n = dir.for_each_pid(|pid| {
                        black_box(pid);
                    });
                    seen.note(n);
                    black_box(n)
                });
            });
        }
        Kind::ListPids(o) => {
            let mut st: Option<(Scanner, Vec<u32>)> = None;
            g.bench_function(d.name.as_str(), |b| {
                let (sc, pids) = st.get_or_insert_with(|| {
                    let mut sc = Scanner::new(o.clone()).expect("scanner");
                    let mut pids = Vec::new();
                    sc.list_pids(&mut pids).expect("list");
                    (sc, pids)
                });
                b.iter(|| {
                    sc.list_pids(pids).expect("list");
                    seen.note(pids.len());
                    black_box(pids.len())
                });
            });
        }
        Kind::Cold(o) => {
            g.bench_function(d.name.as_str(), |b| {
                // The scanner is returned so that its drop (closing held descriptors) falls
                // outside the measurement: a cold scan is the first scan of a new scanner.
                b.iter_batched(
                    || (),
                    |()| {
                        let mut sc = Scanner::new(o.clone()).expect("scanner");
                        let n = sc
                            .scan_with(FileSet::ALL, ScanFlags::NONE)
                            .expect("scan")
                            .records()
                            .len();
                        seen.note(n);
                        black_box(n);
                        sc
                    },
                    BatchSize::PerIteration,
                );
            });
        }
    }
    g.finish();
    None
}

fn nofile_soft() -> u64 {
    // SAFETY: rlimit is plain data, valid when zeroed.
    let mut rl: libc::rlimit = unsafe { std::mem::zeroed() };
    // SAFETY: getrlimit on a local struct.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) };
    rl.rlim_cur
}

// ---------------------------------------------------------------------------------------------
// Memory probe: run in a fresh process (the bench re-executes itself) so that the allocator
// starts clean and the RSS delta is the scanner's.

fn memprobe(which: &str) {
    let (engine, files) = match which {
        "sync-stat" => (EngineKind::Sync, FileSet::STAT),
        "sync-3files" => (EngineKind::Sync, THREE),
        "sync-default" => (EngineKind::Sync, Options::default().files),
        "uring-default" => (EngineKind::Uring, Options::default().files),
        _ => panic!("unknown memprobe {which}"),
    };
    let o = Options { engine, files, ..Options::default() };
    let rss0 = status_kb("VmRSS");
    let mut slab_held = Vec::new();
    let mut slab_freed = Vec::new();
    let mut rss_delta = 0;
    let mut procs = 0;
    let mut held = 0;
    for round in 0..3 {
        let s0 = meminfo_kb("Slab");
        let mut sc = Scanner::new(o.clone()).expect("scanner");
        sc.scan().expect("scan");
        procs = sc.scan().expect("scan").records().len();
        held = sc.held_fds();
        let s1 = meminfo_kb("Slab");
        if round == 0 {
            rss_delta = status_kb("VmRSS").saturating_sub(rss0);
        }
        drop(sc);
        // io_uring tears its file table down asynchronously: let it finish before measuring.
        std::thread::sleep(Duration::from_millis(300));
        let s2 = meminfo_kb("Slab");
        slab_held.push(s1 as i64 - s0 as i64);
        slab_freed.push(s1 as i64 - s2 as i64);
    }
    slab_held.sort();
    slab_freed.sort();
    println!(
        "{{\"probe\":\"{which}\",\"procs\":{procs},\"held_fds\":{held},\"rss_kb\":{rss_delta},\"slab_kb\":{},\"slab_freed_kb\":{}}}",
        slab_held[1], slab_freed[1]
    );
}

fn run_memprobes() -> Vec<String> {
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(_) => return Vec::new(),
    };
    ["sync-stat", "sync-3files", "sync-default", "uring-default"]
        .iter()
        .filter_map(|w| {
            let out = Command::new(&exe)
                .env("PROCURING_BENCH_MEMPROBE", w)
                .stderr(Stdio::inherit())
                .output()
                .ok()?;
            let line = String::from_utf8_lossy(&out.stdout)
                .lines()
                .find(|l| l.starts_with("{\"probe\""))?
                .to_string();
            Some(line)
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Summary from criterion's estimates.json.

fn criterion_dir() -> PathBuf {
    if let Some(v) = std::env::var_os("CRITERION_HOME") {
        PathBuf::from(v)
    } else if let Some(v) = std::env::var_os("CARGO_TARGET_DIR") {
        PathBuf::from(v).join("criterion")
    } else {
        PathBuf::from("target/criterion")
    }
}

fn safe(s: &str) -> String {
    s.chars().map(|c| if "?\"/\\*<>:|^".contains(c) { '_' } else { c }).collect()
}

/// `point_estimate` of `key` ("mean", "median") in an estimates.json.
fn estimate(path: &Path, key: &str) -> Option<f64> {
    let s = std::fs::read_to_string(path).ok()?;
    let at = s.find(&format!("\"{key}\":"))?;
    let rest = &s[at..];
    let p = rest.find("\"point_estimate\":")? + "\"point_estimate\":".len();
    let num: String =
        rest[p..].chars().take_while(|c| c.is_ascii_digit() || ".eE+-".contains(*c)).collect();
    num.parse().ok()
}

struct Row {
    group: &'static str,
    name: String,
    wall: Option<(f64, f64)>,
    cpu: Option<(f64, f64)>,
    /// Processes seen under wall and CPU time.
    seen: (Seen, Seen),
}

fn load(dir: &Path, prefix: &str, d: &Def) -> Option<(f64, f64)> {
    let p = dir
        .join(safe(&format!("{prefix}/{}", d.group)))
        .join(safe(&d.name))
        .join("new/estimates.json");
    Some((estimate(&p, "mean")?, estimate(&p, "median")?))
}

fn summarize(dir: &Path, rows: &[Row], procs: usize, meta: &str, probes: &[String]) {
    let per = |n: usize| if n > 0 { n } else { procs } as f64;
    // CPU per process of the group's floor.
    let floor_of = |g: &str| {
        rows.iter()
            .find(|r| r.group == g && r.name.starts_with("floor/"))
            .and_then(|r| r.cpu.map(|c| c.1 / per(r.seen.1.last)))
    };
    println!();
    println!("procuring bench summary: {procs} processes at the start (medians; CPU = user+sys of this process;");
    println!("per process divides by the processes of the benchmark's last scan, `procs`)");
    println!(
        "{:<8} {:<34} {:>10} {:>10} {:>7} {:>11} {:>11} {:>9} {:>8}",
        "group",
        "benchmark",
        "wall ms",
        "cpu ms",
        "procs",
        "wall ns/pr",
        "cpu ns/pr",
        "cpu/floor",
        "relist%"
    );
    let mut json = String::new();
    for r in rows {
        let (w, c) = (r.wall.map(|x| x.1), r.cpu.map(|x| x.1));
        let f = |x: Option<f64>, div: f64| x.map_or("-".to_string(), |v| format!("{:.3}", v / div));
        let fr =
            |x: Option<f64>, n: usize| x.map_or("-".to_string(), |v| format!("{:.0}", v / per(n)));
        let ratio = match (c, floor_of(r.group)) {
            (Some(c), Some(fl)) if fl > 0.0 => format!("{:.2}x", c / per(r.seen.1.last) / fl),
            _ => "-".into(),
        };
        // Share of the measured scans (CPU run) that listed the proc root.
        let relist = r.seen.1.reused_pct().map(|p| 100.0 - p);
        println!(
            "{:<8} {:<34} {:>10} {:>10} {:>7} {:>11} {:>11} {:>9} {:>8}",
            r.group,
            r.name,
            f(w, 1e6),
            f(c, 1e6),
            r.seen.1.last.max(r.seen.0.last),
            fr(w, r.seen.0.last),
            fr(c, r.seen.1.last),
            ratio,
            relist.map_or("-".to_string(), |p| format!("{p:.1}"))
        );
        let num = |x: Option<(f64, f64)>, i: usize| {
            x.map_or("null".to_string(), |v| format!("{:.1}", if i == 0 { v.0 } else { v.1 }))
        };
        let _ = write!(
            json,
            "{}{{\"group\":\"{}\",\"name\":\"{}\",\"wall_mean_ns\":{},\"wall_median_ns\":{},\"cpu_mean_ns\":{},\"cpu_median_ns\":{},\"procs_wall\":{},\"procs_cpu\":{},\"procs_min\":{},\"procs_max\":{},\"relist_pct\":{}}}",
            if json.is_empty() { "" } else { ",\n  " },
            r.group,
            r.name,
            num(r.wall, 0),
            num(r.wall, 1),
            num(r.cpu, 0),
            num(r.cpu, 1),
            r.seen.0.last,
            r.seen.1.last,
            [r.seen.0, r.seen.1].iter().filter(|x| x.last > 0).map(|x| x.min).min().unwrap_or(0),
            r.seen.0.max.max(r.seen.1.max),
            relist.map_or("null".to_string(), |p| format!("{p:.1}"))
        );
    }
    if !probes.is_empty() {
        println!("memory of a scanner holding every process's state (fresh process, second scan):");
        for p in probes {
            println!("  {p}");
        }
    }
    let out = format!(
        "{{\n{meta},\n\"memprobes\":[{}],\n\"rows\":[\n  {json}\n]}}\n",
        probes.join(",\n  ")
    );
    let _ = std::fs::create_dir_all(dir);
    let path = dir.join("procuring-summary.json");
    match std::fs::write(&path, out) {
        Ok(()) => println!("summary written to {}", path.display()),
        Err(e) => eprintln!("could not write {}: {e}", path.display()),
    }
}

// ---------------------------------------------------------------------------------------------

fn main() {
    if let Ok(which) = std::env::var("PROCURING_BENCH_MEMPROBE") {
        let want = 8 * proc_pids().len() as u64 + 4096;
        raise_nofile(want);
        memprobe(&which);
        return;
    }
    // Arguments first: criterion exits on bad ones, before any child exists.
    let mut wall = Criterion::default().configure_from_args();
    let mut cpu = Criterion::default().with_measurement(CpuTime).configure_from_args();
    let bench_mode = std::env::args().any(|a| a == "--bench");

    let mut n: usize = env_num("PROCURING_BENCH_PROCS", 1000);
    if !bench_mode {
        n = n.min(50); // `cargo test --benches`: every benchmark runs once, keep it quick
    }
    let before = proc_pids().len();
    let nofile = raise_nofile(8 * (before + n) as u64 + 4096);
    let children = match Children::spawn(n) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("procuring bench: {e}");
            std::process::exit(1);
        }
    };
    let cpus = std::thread::available_parallelism().map_or(1, |v| v.get()) as u32;
    let procs = {
        let mut s = Scanner::new(Options { engine: EngineKind::Sync, ..Options::default() })
            .expect("scanner");
        s.scan_with(FileSet::STAT, ScanFlags::NONE).expect("scan").records().len()
    };
    let held_cap = Scanner::new(Options::default()).map(|s| s.held_fd_cap()).unwrap_or(0);
    eprintln!(
        "procuring bench: {n} children, {procs} processes per scan, {cpus} CPUs, RLIMIT_NOFILE soft {nofile} (held cap {held_cap})"
    );

    let s = Settings {
        time: Duration::from_secs_f64(env_num("PROCURING_BENCH_TIME", 2.0)),
        warmup: Duration::from_secs_f64(env_num("PROCURING_BENCH_WARMUP", 0.5)),
        samples: env_num("PROCURING_BENCH_SAMPLES", 10usize).max(10),
        procs: procs as u64,
    };
    let probes = if bench_mode { run_memprobes() } else { Vec::new() };

    let defs = defs(cpus);
    let t0 = Instant::now();
    // Processes of the last scan of each benchmark, under wall and CPU time.
    let mut seen = vec![(Seen::default(), Seen::default()); defs.len()];
    let mut skipped = Vec::new();
    for (d, seen) in defs.iter().zip(seen.iter_mut()) {
        if let Some(why) = run_def(&mut wall, "wall", d, &s, &mut seen.0) {
            skipped.push(why);
            continue;
        }
        run_def(&mut cpu, "cpu", d, &s, &mut seen.1);
    }
    wall.final_summary();
    cpu.final_summary();
    let procs_after = proc_pids().len();
    drop(children);

    if bench_mode {
        let dir = criterion_dir();
        let rows: Vec<Row> = defs
            .iter()
            .zip(&seen)
            .filter(|(_, (w, c))| w.last > 0 || c.last > 0)
            .map(|(d, &seen)| Row {
                group: d.group,
                name: d.name.clone(),
                wall: load(&dir, "wall", d),
                cpu: load(&dir, "cpu", d),
                seen,
            })
            .collect();
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        let meta = format!(
            "\"children\":{n},\"procs\":{procs},\"procs_before\":{before},\"procs_after\":{procs_after},\"cpus\":{cpus},\"nofile_soft\":{nofile},\"held_cap\":{held_cap},\"kernel\":\"{}\",\"seconds\":{:.1},\"measurement_s\":{},\"samples\":{},\"skipped\":[{}]",
            kernel.trim(),
            t0.elapsed().as_secs_f64(),
            s.time.as_secs_f64(),
            s.samples,
            skipped.iter().map(|w| format!("{w:?}")).collect::<Vec<_>>().join(",")
        );
        summarize(&dir, &rows, procs, &meta, &probes);
    }
}
