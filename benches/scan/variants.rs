//! What is measured: every benchmark's group, name and kind (a scanner configuration or a
//! floor), in the order they run.

use procuring::{EngineKind, FileSet, Options, ProcFile, UringOptions};

pub const THREE: FileSet = FileSet::STAT.with(ProcFile::Status).with(ProcFile::Io);

pub enum Kind {
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

/// One benchmark: criterion group `<wall|cpu>/<group>`, benchmark `name`.
pub struct Def {
    pub group: &'static str,
    pub name: String,
    pub kind: Kind,
}

pub fn opts(engine: EngineKind, hold: bool, uring: UringOptions) -> Options {
    Options { engine, hold_fds: hold, uring, files: FileSet::STAT, ..Options::default() }
}

pub fn defs(cpus: u32) -> Vec<Def> {
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
