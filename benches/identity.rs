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

use std::process::{Command, Stdio};
use std::time::Duration;

use criterion::{Criterion, Throughput};
use procuring::{EngineKind, FileSet, Options, ProcFile, Scanner};

// The CPU-time measurement of the scan benches (benches/scan/), shared by path.
#[path = "scan/cpu_time.rs"]
mod cpu_time;
use cpu_time::CpuTime;

// Idle children, killed and reaped on drop, as the tests have them.
#[path = "../tests/common/mod.rs"]
mod common;
use common::Kids;

fn spawn(n: usize) -> Kids {
    let mut kids = Kids(Vec::with_capacity(n));
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
