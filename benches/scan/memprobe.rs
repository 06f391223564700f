//! Memory probe: run in a fresh process (the bench re-executes itself) so that the allocator
//! starts clean and the RSS delta is the scanner's.

use std::process::{Command, Stdio};
use std::time::Duration;

use procuring::{EngineKind, FileSet, Options, Scanner};

use crate::system::{meminfo_kb, status_kb};
use crate::variants::THREE;

pub fn memprobe(which: &str) {
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

pub fn run_memprobes() -> Vec<String> {
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
