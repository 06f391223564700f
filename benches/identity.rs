//! What exact identity costs: CPU time (user + system, `getrusage(RUSAGE_SELF)`) of one scan of
//! every process with `PROCURING_BENCH_PROCS` (default 2,000) idle `sleep` children:
//!
//! - `stat`: a stat-only scan (the steady state; unchanged by the identity work);
//! - `identity_exact`: stat + comm + cmdline + exe + cgroup every scan, read fresh (default);
//! - `identity_cache`: the same with `identity_cache` on (served from the cache after the
//!   first scans; stat also parses the exec addresses).
//!
//! `cargo bench --bench identity`. The machine's load is printed first (timings are noisy on
//! shared machines: compare medians of runs made under the same load).

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use criterion::measurement::{Measurement, ValueFormatter};
use criterion::{Criterion, Throughput};
use procuring::{EngineKind, FileSet, Options, ProcFile, Scanner};

fn cpu_ns() -> u64 {
    // SAFETY: rusage is plain data, valid when zeroed.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage only writes the struct it is given.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as u64 * 1_000_000_000 + t.tv_usec as u64 * 1_000;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// Criterion measurement: CPU time of the whole process, in ns.
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
    fn scale_values(&self, _ns: f64, values: &mut [f64]) -> &'static str {
        values.iter_mut().for_each(|v| *v *= 1e-6);
        "ms cpu"
    }
    fn scale_throughputs(&self, _: f64, t: &Throughput, values: &mut [f64]) -> &'static str {
        let n = match *t {
            Throughput::Bytes(n) | Throughput::BytesDecimal(n) | Throughput::Elements(n) => n,
        };
        values.iter_mut().for_each(|v| *v = n as f64 * 1e9 / *v);
        "proc/cpu-s"
    }
    fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
        "ns"
    }
}

/// Idle children, killed and reaped on drop.
struct Children(Vec<Child>);

impl Drop for Children {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
        }
        for c in &mut self.0 {
            let _ = c.wait();
        }
    }
}

fn spawn(n: usize) -> Children {
    let mut kids = Children(Vec::with_capacity(n));
    for _ in 0..n {
        let c = Command::new("sleep")
            .arg("3600")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn sleep");
        kids.0.push(c);
    }
    for c in &kids.0 {
        let path = format!("/proc/{}/comm", c.id());
        while std::fs::read(&path).map_or(true, |b| b != b"sleep\n") {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    kids
}

fn main() {
    let n: usize =
        std::env::var("PROCURING_BENCH_PROCS").ok().and_then(|v| v.parse().ok()).unwrap_or(2000);
    let _kids = spawn(n);
    let loadavg = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let procs = std::fs::read_dir("/proc")
        .map(|d| {
            d.filter(|e| {
                e.as_ref().is_ok_and(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
            })
            .count()
        })
        .unwrap_or(0);
    println!("identity bench: {n} children, {procs} processes, loadavg {}", loadavg.trim());
    let ident = FileSet::STAT
        .with(ProcFile::Comm)
        .with(ProcFile::Cmdline)
        .with(ProcFile::Exe)
        .with(ProcFile::Cgroup);
    let mut c = Criterion::default()
        .with_measurement(CpuTime)
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .configure_from_args();
    let mut g = c.benchmark_group("identity");
    g.throughput(Throughput::Elements(procs as u64));
    for (name, files, cache) in [
        ("stat", FileSet::STAT, false),
        ("stat_cache_on", FileSet::STAT, true),
        ("identity_exact", ident, false),
        ("identity_cache", ident, true),
    ] {
        let mut s = Scanner::new(Options {
            engine: EngineKind::Sync,
            files,
            identity_cache: cache,
            ..Default::default()
        })
        .unwrap();
        for _ in 0..3 {
            s.scan().unwrap();
        }
        g.bench_function(name, |b| b.iter(|| s.scan().unwrap().records().len()));
    }
    g.finish();
    c.final_summary();
}
