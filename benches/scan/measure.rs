//! Running one benchmark definition under a criterion measurement (wall or CPU time), and
//! counting the processes its scans saw.

use std::hint::black_box;
use std::time::Duration;

use criterion::measurement::Measurement;
use criterion::{BatchSize, Criterion, Throughput};
use procuring::{FileSet, ScanFlags, Scanner};

use crate::floors::{cold_floor, FloorFds, ProcDir};
use crate::system::nofile_soft;
use crate::variants::{Def, Kind};

/// Criterion settings of every benchmark, and the processes per scan (criterion's throughput).
pub struct Settings {
    pub time: Duration,
    pub warmup: Duration,
    pub samples: usize,
    pub procs: u64,
}

/// Processes seen by the scans of one benchmark: the last one, and the range over all of them
/// (other work on the machine may start or end processes while a benchmark runs).
#[derive(Clone, Copy, Debug, Default)]
pub struct Seen {
    pub last: usize,
    pub min: usize,
    pub max: usize,
    /// Scanner scans measured, and how many of them kept the previous pid list
    /// (`ScanStats::list_reused`).
    pub scans: u64,
    pub list_reused: u64,
}

impl Seen {
    pub fn note(&mut self, n: usize) {
        self.min = if self.last == 0 { n } else { self.min.min(n) };
        self.max = self.max.max(n);
        self.last = n;
    }

    pub fn note_scan(&mut self, snap: &procuring::Snapshot) {
        self.note(snap.records().len());
        self.scans += 1;
        self.list_reused += snap.stats().list_reused as u64;
    }

    /// Share of the scans that kept the previous pid list, in percent (`None`: no scan).
    pub fn reused_pct(&self) -> Option<f64> {
        (self.scans > 0).then(|| 100.0 * self.list_reused as f64 / self.scans as f64)
    }
}

/// Runs one definition under measurement `M`, in group `<prefix>/<def.group>`.
/// `seen` gets the processes of the scans measured (all zero: not run, e.g. filtered out).
/// Returns why the definition was skipped, if it was.
pub fn run_def<M: Measurement>(
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
