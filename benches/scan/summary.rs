//! The summary printed at the end and written to `<criterion dir>/procuring-summary.json`,
//! from criterion's `estimates.json` files (read by `scripts/bench_report.py`).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::measure::Seen;
use crate::variants::Def;

pub fn criterion_dir() -> PathBuf {
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

/// One benchmark's medians and means (ns) under wall and CPU time.
pub struct Row {
    pub group: &'static str,
    pub name: String,
    pub wall: Option<(f64, f64)>,
    pub cpu: Option<(f64, f64)>,
    /// Processes seen under wall and CPU time.
    pub seen: (Seen, Seen),
}

pub fn load(dir: &Path, prefix: &str, d: &Def) -> Option<(f64, f64)> {
    let p = dir
        .join(safe(&format!("{prefix}/{}", d.group)))
        .join(safe(&d.name))
        .join("new/estimates.json");
    Some((estimate(&p, "mean")?, estimate(&p, "median")?))
}

pub fn summarize(dir: &Path, rows: &[Row], procs: usize, meta: &str, probes: &[String]) {
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
