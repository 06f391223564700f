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
//! `scripts/bench/parse.py` (the report) reads together with criterion's `estimates.json` files.
//!
//! Modules: `children` (the idle children), `variants` (what is measured), `floors` (the
//! libc floors), `measure` (one definition under wall or CPU time), `cpu_time` (the CPU-time
//! measurement), `memprobe`, `summary`, `system` (limits and `/proc` helpers).

mod children;
mod cpu_time;
mod floors;
mod measure;
mod memprobe;
mod summary;
mod system;
mod variants;

use std::time::{Duration, Instant};

use criterion::Criterion;
use procuring::{EngineKind, FileSet, Options, ScanFlags, Scanner};

use children::Children;
use cpu_time::CpuTime;
use measure::{run_def, Seen, Settings};
use memprobe::{memprobe, run_memprobes};
use summary::{criterion_dir, load, summarize, Row};
use system::{env_num, proc_pids, raise_nofile};
use variants::defs;

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
