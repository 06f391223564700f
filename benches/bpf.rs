//! The `bpf` engine against the held-fd `pread` floor and the `sync` and `uring` scans, at idle
//! children with 1, 10 and 50 threads per process, plus the one-off load cost. Methods
//! interleaved in one loop; each figure is the median over batches of the process's CPU time
//! (user + system, `getrusage(RUSAGE_SELF)` as in benches/scan) and wall time per scan. A timing
//! report, never a pass/fail: an engine that cannot load is reported as unavailable.
//!
//! `cargo bench --bench bpf` (root). Env: `BPF_BENCH_PROCS` (default 2000 threads in all, as
//! processes x threads), `BPF_BENCH_MIXES` (threads per process, default `1,10,50`; `0`: start no
//! children, scan the processes already there, e.g. the benchmark report's), `BPF_BENCH_BATCHES`
//! (30), `BPF_BENCH_LOADS` (load-cost runs, 10), `BPF_BENCH_JSON` (a path: the results also as
//! JSON lines, for scripts/bench_report.py).

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use procuring::{EngineKind, FileSet, Options, Scanner};

// User + system CPU time, as the scan benches measure it (benches/scan/cpu_time.rs).
#[path = "scan/cpu_time.rs"]
#[allow(dead_code)] // its criterion measurement is not used here
mod cpu_time;
use cpu_time::cpu_ns;

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Child mode: `BPF_BENCH_CHILD_THREADS=n` holds n threads asleep until the parent dies.
fn child_mode() {
    let Ok(n) = std::env::var("BPF_BENCH_CHILD_THREADS") else { return };
    let n: usize = n.parse().unwrap_or(1);
    for _ in 1..n {
        std::thread::spawn(|| loop {
            std::thread::sleep(Duration::from_secs(3600));
        });
    }
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

// Children killed and reaped on drop, as the tests have them.
#[path = "../tests/common/mod.rs"]
mod common;
use common::Kids;

fn spawn(procs: usize, threads: usize) -> Kids {
    let me = std::process::id() as i32;
    let exe = std::env::current_exe().unwrap();
    let mut kids = Kids(Vec::new());
    for _ in 0..procs {
        let mut c = Command::new(&exe);
        c.env("BPF_BENCH_CHILD_THREADS", threads.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            c.pre_exec(move || {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0);
                if libc::getppid() != me {
                    libc::_exit(1);
                }
                Ok(())
            });
        }
        kids.0.push(c.spawn().expect("spawn child"));
    }
    // Wait until each has its threads.
    for k in &kids.0 {
        let path = format!("/proc/{}/stat", k.id());
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let t = std::fs::read_to_string(&path).unwrap_or_default();
            let nt: usize = t
                .rsplit(')')
                .next()
                .and_then(|r| r.split_whitespace().nth(17))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            if nt >= threads || Instant::now() > deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    kids
}

/// The floor: `pread` of a held `/proc/<pid>/stat` for every process.
struct Floor(Vec<OwnedFd>);
impl Floor {
    fn open() -> Floor {
        let mut v = Vec::new();
        for e in std::fs::read_dir("/proc").unwrap().flatten() {
            let name = e.file_name();
            let Some(s) = name.to_str() else { continue };
            if s.parse::<u32>().is_err() {
                continue;
            }
            let p = std::ffi::CString::new(format!("/proc/{s}/stat")).unwrap();
            // SAFETY: valid NUL-terminated path.
            let fd = unsafe { libc::open(p.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
            if fd >= 0 {
                // SAFETY: fresh descriptor owned by nobody else.
                v.push(unsafe { OwnedFd::from_raw_fd(fd) });
            }
        }
        Floor(v)
    }
    fn read_all(&self, buf: &mut [u8]) -> usize {
        let mut n = 0;
        for fd in &self.0 {
            // SAFETY: buf is valid for buf.len() bytes.
            let r = unsafe { libc::pread(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            n += (r > 0) as usize;
        }
        n
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim().to_string()
}

/// Tasks (threads) on the machine: the total of `/proc/loadavg`'s `running/total` field.
fn tasks() -> usize {
    loadavg()
        .split_whitespace()
        .nth(3)
        .and_then(|f| f.split('/').nth(1))
        .and_then(|t| t.parse().ok())
        .unwrap_or(0)
}

fn proc_count() -> usize {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.file_name().to_str().is_some_and(|s| s.parse::<u32>().is_ok()))
        })
        .count()
}

/// Every descriptor the floor and the held scanners keep: raise the soft `RLIMIT_NOFILE` to
/// the hard limit (the scanner holds at most half the soft limit and never raises it itself).
fn raise_nofile() {
    let mut r = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: valid pointer to an rlimit.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) == 0 && r.rlim_cur < r.rlim_max {
            r.rlim_cur = r.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &r);
        }
    }
}

fn json_str(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// Machine-readable output: with `BPF_BENCH_JSON=<path>`, one JSON object per line (the
/// benchmark report, scripts/bench/bpfbench.py, reads them); without it, nothing.
struct Out(Option<std::fs::File>);
impl Out {
    fn open() -> Out {
        Out(std::env::var_os("BPF_BENCH_JSON")
            .map(|p| std::fs::File::create(p).expect("BPF_BENCH_JSON")))
    }
    fn line(&mut self, fields: &[(&str, String)]) {
        use std::io::Write;
        if let Some(f) = &mut self.0 {
            let body: Vec<String> =
                fields.iter().map(|(k, v)| format!("{}:{v}", json_str(k))).collect();
            let _ = writeln!(f, "{{{}}}", body.join(","));
        }
    }
}

fn scanner(engine: EngineKind) -> Result<Scanner, procuring::Error> {
    Scanner::new(Options { engine, files: FileSet::STAT, ..Default::default() })
}

#[derive(Clone, Copy, PartialEq)]
enum Method {
    Floor,
    Sync,
    Uring,
    Bpf,
    BpfWalk,
}
impl Method {
    fn key(self) -> &'static str {
        match self {
            Method::Floor => "floor",
            Method::Sync => "sync",
            Method::Uring => "uring",
            Method::Bpf => "bpf",
            Method::BpfWalk => "bpf-walk",
        }
    }
    fn label(self) -> &'static str {
        match self {
            Method::Floor => "held-fd pread floor",
            Method::Sync => "sync scan (stat)",
            Method::Uring => "uring scan (stat)",
            Method::Bpf => "bpf scan (stat)",
            Method::BpfWalk => "bpf program only (kernel walk)",
        }
    }
}

fn main() {
    child_mode();
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    raise_nofile();
    let total = env_num("BPF_BENCH_PROCS", 2000);
    let batches = env_num("BPF_BENCH_BATCHES", 30).max(1);
    let loads = env_num("BPF_BENCH_LOADS", 10).max(1);
    let mixes: Vec<usize> = std::env::var("BPF_BENCH_MIXES")
        .unwrap_or_else(|_| "1,10,50".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let mut out = Out::open();

    // One-off load cost.
    let mut load_wall = Vec::new();
    let mut load_cpu = Vec::new();
    let mut load_prog = Vec::new();
    for _ in 0..loads {
        let (c0, t0) = (cpu_ns(), Instant::now());
        let s = scanner(EngineKind::Bpf);
        let (c1, t1) = (cpu_ns(), t0.elapsed());
        match s {
            Ok(s) => {
                load_wall.push(t1.as_nanos() as f64);
                load_cpu.push((c1 - c0) as f64);
                load_prog.extend(s.bpf_load_ns().map(|n| n as f64));
            }
            Err(e) => {
                // A timing report, not a test: say why and stop (exit status 0).
                println!("{e}"); // "bpf engine unavailable: <why>"
                out.line(&[
                    ("kind", json_str("unavailable")),
                    ("reason", json_str(&e.to_string())),
                ]);
                return;
            }
        }
    }
    let (lw, lc) = (median(&mut load_wall), median(&mut load_cpu));
    let lp = if load_prog.is_empty() { None } else { Some(median(&mut load_prog)) };
    println!(
        "bpf load (Scanner::new, engine bpf): median {:.1} ms wall, {:.1} ms cpu ({loads} runs{}); load {}",
        lw / 1e6,
        lc / 1e6,
        lp.map(|p| format!("; program load {:.1} ms", p / 1e6)).unwrap_or_default(),
        loadavg()
    );
    out.line(&[
        ("kind", json_str("load")),
        ("runs", loads.to_string()),
        ("wall_ns", format!("{lw:.0}")),
        ("cpu_ns", format!("{lc:.0}")),
        ("prog_load_ns", lp.map(|p| format!("{p:.0}")).unwrap_or("null".into())),
        ("loadavg", json_str(&loadavg())),
    ]);

    println!(
        "| threads/proc | own children | procs | tasks | method | cpu us/scan | wall us/scan | ns cpu/proc | vs pread | vs sync |"
    );
    println!("|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|");
    for &threads in &mixes {
        // Mix 0: no children of its own, the processes already there (e.g. the report's).
        let procs = total.checked_div(threads).map_or(0, |p| p.max(1));
        let kids = spawn(procs, threads.max(1));
        let (n_procs, n_tasks) = (proc_count(), tasks());
        let load0 = loadavg();
        let mut bpf = scanner(EngineKind::Bpf).unwrap();
        let mut sync = scanner(EngineKind::Sync).unwrap();
        let mut uring = match scanner(EngineKind::Uring) {
            Ok(s) => Some(s),
            Err(e) => {
                println!("(uring skipped: {e})");
                out.line(&[
                    ("kind", json_str("method-unavailable")),
                    ("threads", threads.to_string()),
                    ("method", json_str("uring")),
                    ("reason", json_str(&e.to_string())),
                ]);
                None
            }
        };
        let floor = Floor::open();
        let mut buf = vec![0u8; 1024];
        let mut methods = vec![Method::Floor, Method::Sync];
        if uring.is_some() {
            methods.push(Method::Uring);
        }
        methods.extend([Method::Bpf, Method::BpfWalk]);
        let mut seen = vec![0usize; methods.len()];
        let mut run = |m: Method, buf: &mut [u8]| -> usize {
            match m {
                Method::Floor => floor.read_all(buf),
                Method::Sync => sync.scan().unwrap().records().len(),
                Method::Uring => uring.as_mut().unwrap().scan().unwrap().records().len(),
                Method::Bpf => bpf.scan().unwrap().records().len(),
                Method::BpfWalk => bpf.bpf_walk_only().unwrap_or(0) as usize,
            }
        };
        // Warm up (the scanners open and hold their descriptors here).
        for _ in 0..3 {
            for &m in &methods {
                run(m, &mut buf);
            }
        }
        let per = 10; // scans per batch (getrusage has µs resolution)
        let mut res: Vec<(Vec<f64>, Vec<f64>)> = vec![Default::default(); methods.len()];
        for _ in 0..batches {
            for (k, &m) in methods.iter().enumerate() {
                let (c0, t0) = (cpu_ns(), Instant::now());
                for _ in 0..per {
                    seen[k] = std::hint::black_box(run(m, &mut buf));
                }
                res[k].0.push((cpu_ns() - c0) as f64 / per as f64);
                res[k].1.push(t0.elapsed().as_nanos() as f64 / per as f64);
            }
        }
        let meds: Vec<(f64, f64)> = res.iter_mut().map(|(c, w)| (median(c), median(w))).collect();
        let cpu_of = |m: Method| methods.iter().position(|&x| x == m).map(|k| meds[k].0);
        let (floor_cpu, sync_cpu) = (cpu_of(Method::Floor).unwrap(), cpu_of(Method::Sync).unwrap());
        let load1 = loadavg();
        for (k, &m) in methods.iter().enumerate() {
            let (c, w) = meds[k];
            println!(
                "| {} | {procs} | {n_procs} | {n_tasks} | {} | {:.0} | {:.0} | {:.0} | {:.1}x | {:.1}x |",
                if threads == 0 { "–".to_string() } else { threads.to_string() },
                m.label(),
                c / 1e3,
                w / 1e3,
                c / n_procs as f64,
                floor_cpu / c,
                sync_cpu / c
            );
            out.line(&[
                ("kind", json_str("scan")),
                ("threads", threads.to_string()),
                ("own_children", procs.to_string()),
                ("procs", n_procs.to_string()),
                ("tasks", n_tasks.to_string()),
                ("method", json_str(m.key())),
                ("cpu_ns", format!("{c:.0}")),
                ("wall_ns", format!("{w:.0}")),
                ("seen", seen[k].to_string()),
                ("floor_fds", floor.0.len().to_string()),
                ("batches", batches.to_string()),
                ("per_batch", per.to_string()),
                ("load_before", json_str(&load0)),
                ("load_after", json_str(&load1)),
            ]);
        }
        if floor.0.len() + 50 < n_procs {
            println!(
                "(the floor holds {} descriptors for {n_procs} processes: RLIMIT_NOFILE too low)",
                floor.0.len()
            );
        }
        println!("(load {load0} -> {load1})");
        drop(kids);
    }
}
