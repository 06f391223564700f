//! The `bpf` engine against the held-fd `pread` floor and the `sync` scan, at idle children
//! with 1, 10 and 50 threads per process, plus the one-off load cost. Methods interleaved in
//! one loop; each figure is the median over batches of the process's CPU time (user + system,
//! `getrusage(RUSAGE_SELF)` as in benches/scan.rs) and wall time per scan.
//!
//! `cargo bench --bench bpf` (root). Env: `BPF_BENCH_PROCS` (default 2000 threads in all, as
//! processes x threads), `BPF_BENCH_MIXES` (default `1,10,50`), `BPF_BENCH_BATCHES` (30).

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
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

struct Kids(Vec<Child>);
impl Drop for Kids {
    fn drop(&mut self) {
        for k in &mut self.0 {
            let _ = k.kill();
        }
        for k in &mut self.0 {
            let _ = k.wait();
        }
    }
}

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

fn main() {
    child_mode();
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let total = env_num("BPF_BENCH_PROCS", 2000);
    let batches = env_num("BPF_BENCH_BATCHES", 30);
    let mixes: Vec<usize> = std::env::var("BPF_BENCH_MIXES")
        .unwrap_or_else(|_| "1,10,50".into())
        .split(',')
        .filter_map(|s| s.parse().ok())
        .collect();

    // One-off load cost.
    let mut load_wall = Vec::new();
    let mut load_cpu = Vec::new();
    for _ in 0..10 {
        let (c0, t0) = (cpu_ns(), Instant::now());
        let s = Scanner::new(Options {
            engine: EngineKind::Bpf,
            files: FileSet::STAT,
            ..Default::default()
        });
        let (c1, t1) = (cpu_ns(), t0.elapsed());
        match s {
            Ok(_) => {
                load_wall.push(t1.as_secs_f64() * 1e3);
                load_cpu.push((c1 - c0) as f64 / 1e6);
            }
            Err(e) => {
                println!("bpf engine unavailable: {e}");
                return;
            }
        }
    }
    println!(
        "bpf load (Scanner::new, engine bpf): median {:.1} ms wall, {:.1} ms cpu (10 runs); load {}",
        median(&mut load_wall),
        median(&mut load_cpu),
        loadavg()
    );

    println!(
        "| threads/proc | procs | method | cpu us/scan | wall us/scan | ns cpu/proc | vs pread |"
    );
    println!("|---:|---:|---|---:|---:|---:|---:|");
    for &threads in &mixes {
        let procs = (total / threads).max(1);
        let kids = spawn(procs, threads);
        let n_procs = std::fs::read_dir("/proc")
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.file_name().to_str().is_some_and(|s| s.parse::<u32>().is_ok()))
            })
            .count();
        let mut bpf = Scanner::new(Options {
            engine: EngineKind::Bpf,
            files: FileSet::STAT,
            ..Default::default()
        })
        .unwrap();
        let mut sync = Scanner::new(Options {
            engine: EngineKind::Sync,
            files: FileSet::STAT,
            ..Default::default()
        })
        .unwrap();
        let floor = Floor::open();
        let mut buf = vec![0u8; 1024];
        // Warm up.
        for _ in 0..3 {
            bpf.scan().unwrap();
            sync.scan().unwrap();
            floor.read_all(&mut buf);
        }
        let per = 10; // scans per batch (getrusage has µs resolution)
        let mut res: [(Vec<f64>, Vec<f64>); 4] = Default::default();
        for _ in 0..batches {
            for (m, r) in res.iter_mut().enumerate() {
                let (c0, t0) = (cpu_ns(), Instant::now());
                for _ in 0..per {
                    match m {
                        0 => {
                            std::hint::black_box(bpf.scan().unwrap().records().len());
                        }
                        1 => {
                            std::hint::black_box(floor.read_all(&mut buf));
                        }
                        3 => {
                            std::hint::black_box(bpf.bpf_walk_only());
                        }
                        _ => {
                            std::hint::black_box(sync.scan().unwrap().records().len());
                        }
                    }
                }
                r.0.push((cpu_ns() - c0) as f64 / per as f64);
                r.1.push(t0.elapsed().as_nanos() as f64 / per as f64);
            }
        }
        let names = [
            "bpf scan (stat)",
            "held-fd pread floor",
            "sync scan (stat)",
            "bpf program only (kernel walk)",
        ];
        let meds: Vec<(f64, f64)> = res.iter_mut().map(|(c, w)| (median(c), median(w))).collect();
        for (k, (c, w)) in meds.iter().enumerate() {
            println!(
                "| {threads} | {n_procs} | {} | {:.0} | {:.0} | {:.0} | {:.1}x |",
                names[k],
                c / 1e3,
                w / 1e3,
                c / n_procs as f64,
                meds[1].0 / c
            );
        }
        println!("(load {})", loadavg());
        drop(kids);
    }
}
