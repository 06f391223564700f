#!/usr/bin/env python3
"""Benchmark report of procuring: docs/BENCHMARKS.md and docs/scan_cpu.png.

For each process count (default 500, 2000, 10000) it runs

  * the criterion benches (`cargo bench --bench scan`, PROCURING_BENCH_PROCS=N), reading
    criterion's `new/estimates.json` (mean, median) of every `wall/...` and `cpu/...` benchmark
    and the bench's own `procuring-summary.json` (processes per scan, memory probes);
  * the Go benchmarks (`go test -run '^$' -bench 'AllProcs|KeplerScan|KeplerFirstScan'`,
    PROCURING_BENCH_PROCS=N), parsing ns/op, cpu-ns/op, B/op and allocs/op;

then writes the Markdown report and the plot. Raw results are kept in
target/bench-report/results.json; `--render-only` re-renders from them.

Usage:
  python3 scripts/bench_report.py                     # the real run (500, 2000, 10000)
  python3 scripts/bench_report.py --quick             # smoke test: 200 processes, short times,
                                                      # output under target/bench-report/quick/
  python3 scripts/bench_report.py --counts 500,2000 --go-benchtime 10x --time 1.5
  python3 scripts/bench_report.py --render-only       # re-render from results.json

Environment: PROCURING_REPORT_COUNTS (e.g. "500,2000,10000"), PROCURING_REPORT_GO_BENCHTIME,
PROCURING_BENCH_TIME / PROCURING_BENCH_WARMUP / PROCURING_BENCH_SAMPLES (criterion).
"""

import argparse
import datetime
import hashlib
import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import time
import zlib
import struct

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORK = os.path.join(ROOT, "target", "bench-report")
LIBDIR = os.path.join(ROOT, "target", "release")

GO_BENCH = "AllProcs|KeplerScan|KeplerFirstScan"


def log(msg):
    print(f"[bench-report {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# --------------------------------------------------------------------------------------------
# Machine facts and limits


def read(path, default=""):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return default


def meminfo_kb(key):
    m = re.search(rf"^{key}:\s+(\d+)", read("/proc/meminfo"), re.M)
    return int(m.group(1)) if m else 0


def proc_count():
    return sum(1 for d in os.listdir("/proc") if d.isdigit())


def machine():
    model = re.search(r"^model name\s*:\s*(.*)$", read("/proc/cpuinfo"), re.M)

    def version(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT).stdout.strip().splitlines()[0]
        except (OSError, IndexError):
            return "?"

    return {
        "nproc": os.cpu_count(),
        "model": model.group(1).strip() if model else platform.processor() or "?",
        "mem_gib": round(meminfo_kb("MemTotal") / 1048576, 1),
        "kernel": platform.release(),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "rustc": version(["rustc", "--version"]),
        "go": version(["go", "version"]),
        "pid_max": int(read("/proc/sys/kernel/pid_max", "0") or 0),
        "threads_max": int(read("/proc/sys/kernel/threads-max", "0") or 0),
        "io_uring_disabled": read("/proc/sys/kernel/io_uring_disabled", "?").strip(),
    }


def nofile_for(n):
    """RLIMIT_NOFILE for a run with n children: every process's stat/status/io held by a scanner
    and, at the same time, by the floor loop (the bench uses the same rule)."""
    return 8 * (n + proc_count()) + 4096


def check_limits(n):
    """Whether n more processes fit; returns a list of problems (empty: fine)."""
    problems = []
    need = n + proc_count() + 512
    pid_max = int(read("/proc/sys/kernel/pid_max", "0") or 0)
    threads_max = int(read("/proc/sys/kernel/threads-max", "0") or 0)
    if pid_max and need > pid_max:
        problems.append(f"kernel.pid_max {pid_max} < {need} needed")
    if threads_max and need > threads_max:
        problems.append(f"kernel.threads-max {threads_max} < {need} needed")
    soft, hard = resource.getrlimit(resource.RLIMIT_NPROC)
    if soft != resource.RLIM_INFINITY and soft < need and os.geteuid() != 0:
        problems.append(f"RLIMIT_NPROC {soft} < {need} needed (not root)")
    avail_mib = meminfo_kb("MemAvailable") / 1024
    if avail_mib < n * 1.0 + 1024:
        problems.append(f"MemAvailable {avail_mib:.0f} MiB < {n + 1024} MiB wanted (1 MiB per child)")
    nr_open = int(read("/proc/sys/fs/nr_open", "1048576") or 1048576)
    if nofile_for(n) > nr_open:
        problems.append(f"fs.nr_open {nr_open} < {nofile_for(n)} descriptors wanted")
    return problems


def limits_preexec(n):
    """Raises RLIMIT_NOFILE (soft and hard when allowed) and RLIMIT_NPROC in the child."""
    nofile = nofile_for(n)
    nproc_need = n + proc_count() + 4096

    def fn():
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < nofile:
            try:
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, max(hard, nofile)))
            except (ValueError, OSError):
                try:
                    resource.setrlimit(resource.RLIMIT_NOFILE, (min(nofile, hard), hard))
                except (ValueError, OSError):
                    pass
        soft, hard = resource.getrlimit(resource.RLIMIT_NPROC)
        if soft != resource.RLIM_INFINITY and soft < nproc_need:
            try:
                resource.setrlimit(resource.RLIMIT_NPROC, (nproc_need, max(hard, nproc_need)) if hard != resource.RLIM_INFINITY else (nproc_need, hard))
            except (ValueError, OSError):
                pass

    return fn


# --------------------------------------------------------------------------------------------
# Running


def run_logged(cmd, env, cwd, logpath, preexec):
    log(f"$ {' '.join(cmd)}  (cwd {os.path.relpath(cwd, ROOT) or '.'}, log {os.path.relpath(logpath, ROOT)})")
    t0 = time.time()
    with open(logpath, "w") as out:
        p = subprocess.run(cmd, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, preexec_fn=preexec)
    dt = time.time() - t0
    if p.returncode != 0:
        tail = read(logpath).splitlines()[-25:]
        raise RuntimeError(f"{cmd[0]} failed with exit code {p.returncode} after {dt:.0f} s:\n" + "\n".join(tail))
    log(f"  done in {dt:.0f} s")
    return dt


def build():
    log("building the library (cargo build --release --lib) and the bench")
    subprocess.run(["cargo", "build", "--release", "--lib"], cwd=ROOT, check=True)
    so0 = os.path.join(LIBDIR, "libprocuring.so.0")
    if not os.path.exists(so0):
        os.symlink("libprocuring.so", so0)
    subprocess.run(["cargo", "bench", "--bench", "scan", "--no-run"], cwd=ROOT, check=True)


def loadavg():
    return read("/proc/loadavg").split()[:3]


def run_rust(n, args, outdir):
    crit = os.path.join(outdir, "criterion")
    shutil.rmtree(crit, ignore_errors=True)
    env = dict(os.environ)
    env.update(
        CRITERION_HOME=crit,
        PROCURING_BENCH_PROCS=str(n),
        PROCURING_BENCH_TIME=str(args.time),
        PROCURING_BENCH_WARMUP=str(args.warmup),
        PROCURING_BENCH_SAMPLES=str(args.samples),
    )
    load0 = loadavg()
    secs = run_logged(["cargo", "bench", "--bench", "scan"], env, ROOT, os.path.join(outdir, "rust.log"), limits_preexec(n))
    res = {"seconds": round(secs), "load_before": load0, "load_after": loadavg(), "bench": {}}
    for dirpath, _, files in os.walk(crit):
        if os.path.basename(dirpath) != "new" or "estimates.json" not in files or "benchmark.json" not in files:
            continue
        with open(os.path.join(dirpath, "benchmark.json")) as f:
            bid = json.load(f)["full_id"]
        with open(os.path.join(dirpath, "estimates.json")) as f:
            est = json.load(f)
        res["bench"][bid] = {
            "mean": est["mean"]["point_estimate"],
            "median": est["median"]["point_estimate"],
            "mean_lo": est["mean"]["confidence_interval"]["lower_bound"],
            "mean_hi": est["mean"]["confidence_interval"]["upper_bound"],
        }
    summary = os.path.join(crit, "procuring-summary.json")
    if os.path.exists(summary):
        with open(summary) as f:
            s = json.load(f)
        res["meta"] = {k: v for k, v in s.items() if k not in ("rows",)}
        res["seen"] = {
            f"{r['group']}/{r['name']}": [r.get("procs_wall", 0), r.get("procs_cpu", 0), r.get("procs_min", 0), r.get("procs_max", 0), r.get("relist_pct")]
            for r in s.get("rows", [])
        }
    else:
        res["meta"] = {}
    log(f"  rust: {len(res['bench'])} estimates, {res['meta'].get('procs', '?')} processes per scan")
    return res


GO_LINE = re.compile(r"^Benchmark(\S+)\s+(\d+)\s+(.*)$")


def parse_go(text):
    """Benchmark lines by name; a name run several times (`-count`) gets the median of each unit."""
    runs = {}
    for line in text.splitlines():
        m = GO_LINE.match(line.strip())
        if not m:
            continue
        name = re.sub(r"-\d+$", "", m.group(1))
        vals = m.group(3).split()
        row = {"n": int(m.group(2))}
        for v, unit in zip(vals[0::2], vals[1::2]):
            try:
                row[unit] = float(v)
            except ValueError:
                pass
        runs.setdefault(name, []).append(row)
    def median(vals):
        vals = sorted(vals)
        return vals[len(vals) // 2]

    out = {}
    for name, rows in runs.items():
        out[name] = {u: median(r[u] for r in rows if u in r) for u in set().union(*rows)}
        out[name]["runs"] = len(rows)
    return out


class Children:
    """n idle `sleep 3600` children of this script (PR_SET_PDEATHSIG: they die with it), for the
    Go benchmarks, so that `go test` holds nothing for them: a Go >= 1.23 process keeps a pidfd per
    child it started unless it releases it (go/children_test.go now does), and N of its descriptors
    spent on children left the library's held-descriptor cap (half the limit) short, with identity
    reads failing with EMFILE."""

    def __init__(self, n):
        import ctypes
        import signal

        libc = ctypes.CDLL(None, use_errno=True)
        me = os.getpid()

        def pdeathsig():
            libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
            if os.getppid() != me:
                os._exit(1)

        self.kids = []
        t0 = time.time()
        try:
            for _ in range(n):
                self.kids.append(
                    subprocess.Popen(
                        ["sleep", "3600"],
                        stdin=subprocess.DEVNULL,
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                        preexec_fn=pdeathsig,
                        close_fds=True,
                    )
                )
            for k in self.kids:
                deadline = time.time() + 60
                while read(f"/proc/{k.pid}/comm") != "sleep\n":
                    if time.time() > deadline:
                        raise RuntimeError(f"child {k.pid} never exec'd sleep")
                    time.sleep(0.001)
        except BaseException:
            self.close()
            raise
        log(f"  {n:,} children started in {time.time() - t0:.0f} s")

    def close(self):
        for k in self.kids:
            try:
                k.kill()
            except OSError:
                pass
        for k in self.kids:
            k.wait()
        self.kids = []


def run_go(n, args, outdir):
    env = dict(os.environ)
    # The header's hash in CGO_CFLAGS (part of Go's cache key; see the Makefile's GO_ENV).
    with open(os.path.join(ROOT, "include", "procuring.h"), "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()[:16]
    env.update(CGO_LDFLAGS=f"-L{LIBDIR} -Wl,-rpath,{LIBDIR}", CGO_CFLAGS=f"-g -O2 -DPROCURING_H_SHA={sha}")
    logpath = os.path.join(outdir, "go.log")
    # Three runs of each benchmark, medians kept: one -benchtime 20x run of a millisecond
    # benchmark swung its ratios by ±30% here.
    cmd = ["go", "test", "-run", "^$", "-bench", GO_BENCH, "-benchtime", args.go_benchtime, "-count", str(args.go_count)]
    # Compile first, so that the children do not wait for the build.
    subprocess.run(["go", "test", "-run", "^$", "-count", "1", "."], cwd=os.path.join(ROOT, "go"), env=env,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    kids = None
    if args.go_own_children:
        env["PROCURING_BENCH_PROCS"] = str(n)
    else:
        env["PROCURING_BENCH_PROCS"] = "0"
        kids = Children(n)
    try:
        base = proc_count() - (n if kids else 0)
        load0 = loadavg()
        secs = run_logged(cmd, env, os.path.join(ROOT, "go"), logpath, limits_preexec(n))
        after = proc_count()
    finally:
        if kids:
            kids.close()
    bench = parse_go(read(logpath))
    log(f"  go: {len(bench)} benchmarks parsed")
    # Scanned: other processes + the n children + the go test binary.
    return {
        "seconds": round(secs),
        "load_before": load0,
        "load_after": loadavg(),
        "procs": base + n + 1,
        "procs_after": after,
        "children_of": "go test" if args.go_own_children else "bench_report.py",
        "bench": bench,
    }


# --------------------------------------------------------------------------------------------
# Rendering helpers


def fmt_ms(ns):
    if ns is None:
        return "–"
    ms = ns / 1e6
    if ms >= 100:
        return f"{ms:,.0f}"
    if ms >= 10:
        return f"{ms:.1f}"
    return f"{ms:.2f}"


def fmt_ns(ns):
    if ns is None:
        return "–"
    if ns >= 10000:
        return f"{ns / 1000:,.1f} µs"
    return f"{ns:,.0f} ns"


def fmt_x(r):
    if r is None:
        return "–"
    return f"{r:.1f}×" if r >= 10 else f"{r:.2f}×"


def fmt_int(v):
    return "–" if v is None else f"{v:,.0f}"


def div(a, b):
    return None if a is None or b in (None, 0) else a / b


class Data:
    def __init__(self, results):
        self.r = results
        self.counts = sorted(int(c) for c in results["runs"])

    def run(self, n):
        return self.r["runs"][str(n)]

    def rust(self, n, measure, group, name, stat="median"):
        b = self.run(n).get("rust", {}).get("bench", {}).get(f"{measure}/{group}/{name}")
        return b[stat] if b else None

    def rprocs(self, n):
        return self.run(n).get("rust", {}).get("meta", {}).get("procs")

    def rseen(self, n, group, name, measure="cpu"):
        """Processes of the benchmark's last measured scan (else those at the start)."""
        seen = self.run(n).get("rust", {}).get("seen", {}).get(f"{group}/{name}")
        v = seen[0 if measure == "wall" else 1] if seen else 0
        return v or self.rprocs(n)

    def rscan(self, n, group, name, measure="cpu"):
        """Per scan of the run's process count: per process × processes at the start."""
        pp, p = self.rpp(n, group, name, measure), self.rprocs(n)
        return None if pp is None or not p else pp * p

    def unstable(self, n, group, name):
        """(min, max) processes seen while the benchmark ran, when they differ by more than 5%."""
        seen = self.run(n).get("rust", {}).get("seen", {}).get(f"{group}/{name}")
        if not seen or len(seen) < 4 or not seen[2]:
            return None
        lo, hi = seen[2], seen[3]
        return (lo, hi) if hi - lo > 0.05 * hi else None

    def relist(self, n, group, name):
        """Percent of a scanner benchmark's measured scans (CPU run) that listed /proc (the others
        kept the previous pid list: no process had been created); None for non-scanner rows."""
        seen = self.run(n).get("rust", {}).get("seen", {}).get(f"{group}/{name}")
        return seen[4] if seen and len(seen) > 4 else None

    def rpp(self, n, group, name, measure="cpu"):
        """Per-process time of a Rust benchmark (ns)."""
        return div(self.rust(n, measure, group, name), self.rseen(n, group, name, measure))

    def go(self, n, name, unit):
        return self.run(n).get("go", {}).get("bench", {}).get(name, {}).get(unit)

    def gprocs(self, n):
        return self.run(n).get("go", {}).get("procs")

    def rust_names(self, group):
        names = []
        for n in self.counts:
            for bid in self.run(n).get("rust", {}).get("bench", {}):
                m, g, name = bid.split("/", 2)
                if g == group and name not in names:
                    names.append(name)
        def order(s):
            m = re.search(r"batch(\d+)", s)
            return (
                0 if s.startswith("floor") else 1 if s.startswith("sync") else 2,
                "no-held" in s,
                s != "uring/held",
                int(m.group(1)) if m else 0,
                s,
            )

        return sorted(names, key=order)

    def go_names(self):
        names = []
        for n in self.counts:
            for name in self.run(n).get("go", {}).get("bench", {}):
                if name not in names:
                    names.append(name)
        return names


# Each Rust group's floor (benches/scan.rs): the syscalls the kernel serves anyway.
FLOOR = {
    "stat": "floor/pread-held-stat",
    "3files": "floor/pread-held-stat-status-io",
    "cold": "floor/cold-open-read-close",
    "list": "floor/getdents",
}
# The scan each floor bounds most directly (for the consistency check: a floor above it is noise).
FLOOR_BOUNDS = {"stat": "sync/held", "3files": "sync/held", "cold": "sync/cold-identity", "list": "sync/list-pids"}
# Go floors (go/bench_test.go) and the procfs benchmark each bounds.
GO_FLOOR = {
    "AllProcs/procfs": "AllProcs/getdents-floor",
    "KeplerScan/procfs": "KeplerScan/floor",
    "KeplerFirstScan/procfs": "KeplerFirstScan/floor",
}


# --------------------------------------------------------------------------------------------
# Markdown


def md_table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def rust_tables(d, group):
    names = d.rust_names(group)
    if not names:
        return "(no results)\n"
    cols = [f"{d.rprocs(n) or n:,} procs" for n in d.counts]
    per_scan = []
    per_proc = []
    for name in names:
        row_s = [f"`{name}`"]
        row_p = [f"`{name}`"]
        for n in d.counts:
            w, c = d.rust(n, "wall", group, name), d.rust(n, "cpu", group, name)
            u = d.unstable(n, group, name)
            seen = d.rseen(n, group, name)
            mark = f" ({seen:,} procs)" if seen and d.rprocs(n) and abs(seen - d.rprocs(n)) > 0.05 * d.rprocs(n) else ""
            row_s.append(f"{fmt_ms(w)} / {fmt_ms(c)}{mark}{' ⚠' if u else ''}")
            fl = d.rpp(n, group, FLOOR[group]) if group in FLOOR else None
            pp = d.rpp(n, group, name)
            cell = fmt_ns(pp)
            if fl and not name.startswith("floor"):
                cell += f" ({fmt_x(div(pp, fl))})"
            row_p.append(cell)
        per_scan.append(row_s)
        per_proc.append(row_p)
    s = "Per scan, wall / CPU (ms, medians; `(N procs)`: the scans saw another count than the column's; ⚠: the count changed while measuring, see the consistency checks):\n\n" + md_table(["benchmark"] + cols, per_scan) + "\n\n"
    what = "CPU per process" + (" (× the floor's CPU)" if group in FLOOR else "")
    s += f"{what}:\n\n" + md_table(["benchmark"] + cols, per_proc) + "\n"
    return s


def relist_table(d):
    """Share of measured scans that listed /proc, per scanner benchmark of the stat group."""
    names = [nm for nm in d.rust_names("stat") if any(d.relist(n, "stat", nm) is not None for n in d.counts)]
    if not names:
        return ""
    pct = lambda v: "–" if v is None else f"{v:.1f}%"
    rows = [[f"`{nm}`"] + [pct(d.relist(n, "stat", nm)) for n in d.counts] for nm in names]
    return (
        "Scans that listed `/proc` (the others kept the previous pid list because the fork counter had not\n"
        "moved), among the measured scans of the CPU run:\n\n"
        + md_table(["benchmark"] + [f"{n:,}" for n in d.counts], rows)
    )


def stat_listing_floor(d):
    """Stat scans against the pread floor plus the getdents floor: the pread floor does not
    list the pids, every scan does."""
    names = [nm for nm in d.rust_names("stat") if not nm.startswith("floor")]
    if not names:
        return ""
    cols = [f"{d.rprocs(n) or n:,} procs" for n in d.counts]

    def both(n):
        a, b = d.rpp(n, "stat", FLOOR["stat"]), d.rpp(n, "list", FLOOR["list"])
        return None if a is None or b is None else a + b

    rows = [["pread floor + getdents floor"] + [fmt_ns(both(n)) for n in d.counts]]
    for nm in names:
        rows.append([f"`{nm}`"] + [fmt_x(div(d.rpp(n, "stat", nm), both(n))) for n in d.counts])
    return (
        "The pread floor does not list the pids; every scan does. CPU per process against the pread floor plus\n"
        "the `list` group's `floor/getdents` (first row: their sum per process):\n\n"
        + md_table(["benchmark"] + cols, rows)
        + "\n"
    )


def go_tables(d):
    names = d.go_names()
    if not names:
        return "(no results)\n"
    cols = [f"{n:,} children (≈{d.gprocs(n) or 0:,} procs)" for n in d.counts]
    per_scan, per_proc = [], []
    for name in names:
        rs, rp = [f"`{name}`"], [f"`{name}`"]
        for n in d.counts:
            w, c, a, b = (d.go(n, name, u) for u in ("ns/op", "cpu-ns/op", "allocs/op", "B/op"))
            rs.append(f"{fmt_ms(w)} / {fmt_ms(c)}")
            rp.append(f"{fmt_ns(div(c, d.gprocs(n)))}; {fmt_int(a)} allocs, {fmt_int(div(b, 1024))} KiB")
        per_scan.append(rs)
        per_proc.append(rp)
    s = "Per op, wall / CPU (ms):\n\n" + md_table(["benchmark"] + cols, per_scan) + "\n\n"
    s += "CPU per process; allocations and bytes allocated per op:\n\n" + md_table(["benchmark"] + cols, per_proc) + "\n"
    return s


def go_children_note(d):
    owners = {d.run(n).get("go", {}).get("children_of") for n in d.counts} - {None}
    if owners == {"bench_report.py"}:
        return (
            "The children are started by `scripts/bench_report.py`, and `go test` runs with\n"
            "`PROCURING_BENCH_PROCS=0`, so none of its descriptors go to them: a Go (1.23 or later) process\n"
            "keeps a pidfd open for every child it starts unless it releases it (the bench's own children\n"
            "now are released); 10,000 unreleased pidfds of 20,000 descriptors left the library's\n"
            "held-descriptor cap (half the limit) short, and identity reads failed with `EMFILE` (errors the\n"
            "Kepler loop ignores), making `procuring-sync` look cheap.\n"
        )
    if "go test" in owners:
        return (
            "The children were started by `go test` itself (`--go-own-children`); the bench releases each child's\n"
            "pidfd after starting it and kills and reaps them by pid, so they do not use its descriptors.\n"
        )
    return ""


def ratios(d):
    lines = []
    cols = [f"{n:,}" for n in d.counts]
    rows = []

    def go_ratio(label, a, b, unit="cpu-ns/op"):
        rows.append([label] + [fmt_x(div(d.go(n, a, unit), d.go(n, b, unit))) for n in d.counts])

    go_ratio("Kepler steady state, CPU: procfs / procuring-sync", "KeplerScan/procfs", "KeplerScan/procuring-sync")
    go_ratio("Kepler steady state, CPU: procfs / procuring-uring", "KeplerScan/procfs", "KeplerScan/procuring-uring")
    go_ratio("Kepler steady state, CPU: procfs / procuring-sync-reuse-idle (ReuseIdleStat)", "KeplerScan/procfs", "KeplerScan/procuring-sync-reuse-idle")
    go_ratio("Kepler steady state, wall: procfs / procuring-sync", "KeplerScan/procfs", "KeplerScan/procuring-sync", "ns/op")
    go_ratio("Kepler steady state, allocs: procfs / procuring-sync", "KeplerScan/procfs", "KeplerScan/procuring-sync", "allocs/op")
    go_ratio("Kepler cold (first scan), CPU: procfs / procuring-sync", "KeplerFirstScan/procfs", "KeplerFirstScan/procuring-sync")
    go_ratio("Kepler cold, CPU: procfs / procuring-sync-prefetch", "KeplerFirstScan/procfs", "KeplerFirstScan/procuring-sync-prefetch")
    go_ratio("Kepler cold, CPU: procfs / procuring-uring", "KeplerFirstScan/procfs", "KeplerFirstScan/procuring-uring")
    go_ratio("AllProcs, CPU: procfs / procuring", "AllProcs/procfs", "AllProcs/procuring")
    go_ratio("best possible, Kepler steady: procfs / floor", "KeplerScan/procfs", "KeplerScan/floor")
    go_ratio("best possible, Kepler cold: procfs / floor", "KeplerFirstScan/procfs", "KeplerFirstScan/floor")
    go_ratio("best possible, AllProcs: procfs / getdents floor", "AllProcs/procfs", "AllProcs/getdents-floor")

    def rust_ratio(label, group, a, b, measure="cpu"):
        # Per process: the two benchmarks may have seen different process counts.
        rows.append([label] + [fmt_x(div(d.rpp(n, group, a, measure), d.rpp(n, group, b, measure))) for n in d.counts])

    rust_ratio("Rust stat scan CPU: sync/held / floor", "stat", "sync/held", FLOOR["stat"])
    rust_ratio("Rust stat scan CPU: uring/held / floor", "stat", "uring/held", FLOOR["stat"])
    rust_ratio("Rust stat scan CPU: sync/held / scan floor (getdents + pread, one loop)", "stat", "sync/held", "floor/getdents+pread-held-stat")
    rust_ratio("Rust stat scan CPU: sync/held-list-every-scan / floor", "stat", "sync/held-list-every-scan", FLOOR["stat"])
    rust_ratio("Rust stat scan CPU: sync/held-list-every-scan / scan floor", "stat", "sync/held-list-every-scan", "floor/getdents+pread-held-stat")
    rust_ratio("Rust stat scan CPU: sync/held-reuse-idle / stat floor", "stat", "sync/held-reuse-idle", FLOOR["stat"])
    rust_ratio("Rust stat scan CPU: sync/held-reuse-idle / schedstat floor", "stat", "sync/held-reuse-idle", "floor/pread-held-schedstat")
    rust_ratio("Rust 3-file scan CPU: sync/held / floor", "3files", "sync/held", FLOOR["3files"])
    rust_ratio("Rust 3-file scan CPU: uring/held / floor", "3files", "uring/held", FLOOR["3files"])
    rust_ratio("Rust stat scan CPU: uring/held / sync/held", "stat", "uring/held", "sync/held")
    rust_ratio("Rust stat scan CPU: sync/no-held / sync/held", "stat", "sync/no-held", "sync/held")
    rust_ratio("Rust cold CPU: uring / sync", "cold", "uring/cold-identity", "sync/cold-identity")
    rust_ratio("Rust stat scan wall: sync/held / sync/held-threads2", "stat", "sync/held", "sync/held-threads2", "wall")
    rust_ratio("Rust stat scan CPU: sync/held-threads2 / sync/held", "stat", "sync/held-threads2", "sync/held")
    rust_ratio("Rust 3-file scan wall: sync/held / sync/held-threads2", "3files", "sync/held", "sync/held-threads2", "wall")
    rust_ratio("Rust 3-file scan CPU: sync/held-threads2 / sync/held", "3files", "sync/held-threads2", "sync/held")
    rust_ratio("Rust listing: list-pids / getdents floor", "list", "sync/list-pids", FLOOR["list"])
    lines.append(md_table(["ratio (> 1: the second is cheaper)"] + cols, rows))
    return "\n".join(lines) + "\n"


def linearity(d):
    if len(d.counts) < 2:
        return "(needs two process counts)\n"
    lo, hi = d.counts[0], d.counts[-1]
    rows = []
    series = [
        ("Rust floor (stat)", lambda n: d.rpp(n, "stat", FLOOR["stat"])),
        ("Rust sync/held (stat)", lambda n: d.rpp(n, "stat", "sync/held")),
        ("Rust sync/no-held (stat)", lambda n: d.rpp(n, "stat", "sync/no-held")),
        ("Rust uring/held (stat)", lambda n: d.rpp(n, "stat", "uring/held")),
        ("Rust floor (3 files)", lambda n: d.rpp(n, "3files", FLOOR["3files"])),
        ("Rust sync/held (3 files)", lambda n: d.rpp(n, "3files", "sync/held")),
        ("Rust uring/held (3 files)", lambda n: d.rpp(n, "3files", "uring/held")),
        ("Rust floor (cold)", lambda n: d.rpp(n, "cold", FLOOR["cold"])),
        ("Rust sync/cold-identity", lambda n: d.rpp(n, "cold", "sync/cold-identity")),
        ("Rust floor/getdents", lambda n: d.rpp(n, "list", FLOOR["list"])),
        ("Rust sync/list-pids", lambda n: d.rpp(n, "list", "sync/list-pids")),
        ("Go AllProcs/getdents-floor", lambda n: div(d.go(n, "AllProcs/getdents-floor", "cpu-ns/op"), d.gprocs(n))),
        ("Go KeplerScan/floor", lambda n: div(d.go(n, "KeplerScan/floor", "cpu-ns/op"), d.gprocs(n))),
        ("Go KeplerScan/procfs", lambda n: div(d.go(n, "KeplerScan/procfs", "cpu-ns/op"), d.gprocs(n))),
        ("Go KeplerScan/procuring-sync", lambda n: div(d.go(n, "KeplerScan/procuring-sync", "cpu-ns/op"), d.gprocs(n))),
        ("Go KeplerScan/procuring-sync-reuse-idle", lambda n: div(d.go(n, "KeplerScan/procuring-sync-reuse-idle", "cpu-ns/op"), d.gprocs(n))),
        ("Go KeplerFirstScan/floor", lambda n: div(d.go(n, "KeplerFirstScan/floor", "cpu-ns/op"), d.gprocs(n))),
        ("Go KeplerFirstScan/procfs", lambda n: div(d.go(n, "KeplerFirstScan/procfs", "cpu-ns/op"), d.gprocs(n))),
        ("Go KeplerFirstScan/procuring-sync", lambda n: div(d.go(n, "KeplerFirstScan/procuring-sync", "cpu-ns/op"), d.gprocs(n))),
    ]
    for label, f in series:
        vals = [f(n) for n in d.counts]
        rows.append([label] + [fmt_ns(v) for v in vals] + [fmt_x(div(f(hi), f(lo)))])
    head = ["CPU per process"] + [f"{n:,}" for n in d.counts] + [f"{hi:,} / {lo:,}"]
    return md_table(head, rows) + "\n"


def cap_notes(d, files_per_proc):
    notes = []
    for n in d.counts:
        meta = d.run(n).get("rust", {}).get("meta", {})
        procs, cap, soft = meta.get("procs"), meta.get("held_cap"), meta.get("nofile_soft")
        if not procs or not cap:
            continue
        need = procs * files_per_proc
        if need > cap:
            notes.append(
                f"- At {procs:,} processes the scanner needs {need:,} held descriptors but holds at most {cap:,} "
                f"(half the soft `RLIMIT_NOFILE` of {soft:,}; the hard limit could not be raised on this machine): "
                f"{need - cap:,} files ({(need - cap) / need:.0%}) are opened and closed on every scan, so the "
                f"`held` rows there are a mix of held and per-scan opens."
            )
        skipped = [w for w in meta.get("skipped", []) if w.startswith(("stat/" if files_per_proc == 1 else "3files/"))]
        for w in skipped:
            notes.append(f"- At {procs:,} processes the floor was not measured: {w.split(': ', 1)[1]}.")
    return ("\n".join(notes) + "\n") if notes else ""


def memory(d):
    rows = []
    best = {}
    for n in d.counts:
        for p in d.run(n).get("rust", {}).get("meta", {}).get("memprobes", []):
            procs = p.get("procs") or 0
            if not procs:
                continue
            held = p.get("held_fds") or 0
            rows.append(
                [
                    f"{n:,}",
                    f"`{p['probe']}`",
                    f"{procs:,}",
                    f"{held:,}",
                    f"{p['rss_kb'] * 1024 / procs:,.0f}",
                    f"{p['slab_kb'] / 1024:,.1f}",
                    f"{p['slab_kb'] * 1024 / held:,.0f}" if held else "–",
                ]
            )
            best[p["probe"]] = p
    if not rows:
        return "(no memory probe results)\n"
    out = md_table(
        ["children", "scanner", "procs", "held fds", "RSS growth, B/process", "slab growth, MiB", "slab B/held fd"],
        rows,
    ) + "\n"
    sd = best.get("sync-default")
    if sd and sd.get("held_fds") and sd.get("procs"):
        per_fd = sd["slab_kb"] * 1024 / sd["held_fds"]
        out += (
            f"\nAt the largest count, `Options::default()` costs about {sd['rss_kb'] * 1024 / sd['procs']:,.0f} bytes of "
            f"process memory per process (records, arena, read buffers, identity cache) and about {per_fd:,.0f} bytes "
            f"of kernel memory per held descriptor, so about {3 * per_fd / 1024:,.1f} KiB per process with `stat`, "
            f"`status` and `io` held (10,000 processes: about {3 * per_fd * 10000 / 1048576:,.0f} MiB of kernel memory).\n"
        )
    return out


def best_uring(d):
    """io_uring variants against sync/held: CPU per process relative to sync/held, per count."""
    out = []
    for group in ("stat", "3files"):
        cands = [nm for nm in d.rust_names(group) if nm.startswith("uring/")]
        rows, means = [], []
        for nm in cands:
            rel = [div(d.rpp(n, group, nm), d.rpp(n, group, "sync/held")) for n in d.counts]
            relw = [div(d.rpp(n, group, nm, "wall"), d.rpp(n, group, "sync/held", "wall")) for n in d.counts]
            ok = [r for r in rel if r is not None]
            mean = sum(ok) / len(ok) if ok else None
            means.append((mean if mean is not None else 1e9, nm))
            rows.append([f"`{nm}`"] + [f"{fmt_x(r)} / {fmt_x(w)}" for r, w in zip(rel, relw)] + [fmt_x(mean)])
        if not rows:
            continue
        title = "stat only" if group == "stat" else "stat, status, io"
        out.append(
            f"{title}: CPU / wall per process relative to `sync/held` (< 1: the variant is cheaper)\n\n"
            + md_table(["variant"] + [f"{d.rprocs(n) or n:,} procs" for n in d.counts] + ["mean CPU"], rows)
        )
        best_mean, best = min(means)
        if best_mean < 1e9:
            verdict = "cheaper than" if best_mean < 1 else "more expensive than"
            out.append(
                f"Lowest mean CPU ({title}): `{best}`, {fmt_x(best_mean)} the CPU of `sync/held`, so still "
                f"{verdict} plain syscalls."
            )
    return "\n\n".join(out) + "\n" if out else "(no results)\n"


def sanity(d):
    """Single-threaded benchmarks cannot use more CPU than wall time: when they do, something
    else in the process (or the accounting) was disturbed; so is a floor slower than the scan."""
    notes = []
    for n in d.counts:
        for group in ("stat", "3files", "cold", "list"):
            for name in d.rust_names(group):
                w, c = d.rust(n, "wall", group, name), d.rust(n, "cpu", group, name)
                # (io-wq threads, or the threads option, run beside the scanning thread: CPU > wall
                # is real there.)
                if w and c and c > 1.15 * w and not name.startswith("uring") and "threads" not in name:
                    notes.append(f"- {n:,} children, `{group}/{name}`: CPU {fmt_ms(c)} ms > wall {fmt_ms(w)} ms (single-threaded): disturbed sample.")
                u = d.unstable(n, group, name)
                if u:
                    notes.append(f"- {n:,} children, `{group}/{name}`: scans saw between {u[0]:,} and {u[1]:,} processes while it was measured (other work started or ended processes): its numbers mix both.")
                    continue
                seen, start = d.rseen(n, group, name), d.rprocs(n)
                if seen and start and abs(seen - start) > 0.05 * start:
                    notes.append(f"- {n:,} children, `{group}/{name}`: its last scan saw {seen:,} processes, {start:,} at the start: other work came or went (per-process numbers use {seen:,}).")
            if group in FLOOR:
                other = FLOOR_BOUNDS[group]
                fl, sy = d.rpp(n, group, FLOOR[group]), d.rpp(n, group, other)
                if fl and sy and fl > sy:
                    notes.append(f"- {n:,} children, `{group}`: the floor ({fmt_ns(fl)}/process) cost more CPU than `{other}` ({fmt_ns(sy)}/process): noise.")
        for floor_name in GO_FLOOR.values():
            fl = d.go(n, floor_name, "cpu-ns/op")
            for name in d.go_names():
                # ReuseIdleStat reads schedstat instead of stat: the stat floor does not bound it.
                if name.split("/")[0] != floor_name.split("/")[0] or name == floor_name or "reuse-idle" in name:
                    continue
                c = d.go(n, name, "cpu-ns/op")
                if fl and c and fl > c:
                    notes.append(f"- {n:,} children, Go `{floor_name}` ({fmt_ms(fl)} ms) cost more CPU than `{name}` ({fmt_ms(c)} ms): noise.")
    return "\n".join(notes) + "\n" if notes else "No inconsistency found (no single-threaded row with CPU > 1.15× wall, no floor above what it bounds).\n"


def headline(d):
    out = []
    for n in d.counts:
        p = d.rprocs(n)
        flp, syp, urp, evp = (d.rpp(n, "stat", x) for x in (FLOOR["stat"], "sync/held", "uring/held", "sync/held-list-every-scan"))
        # Per scan of the run's process count (per process × processes), robust to other work
        # adding processes during one benchmark.
        sy, ur = (None if v is None or not p else v * p for v in (syp, urp))
        kp, ks = d.go(n, "KeplerScan/procfs", "cpu-ns/op"), d.go(n, "KeplerScan/procuring-sync", "cpu-ns/op")
        parts = [f"**{n:,} children** ({p or '?':,} processes per scan):" if p else f"**{n:,} children**:"]
        if sy is not None:
            parts.append(
                f"a stat scan costs {fmt_ms(sy)} ms CPU with `sync/held` ({fmt_ns(syp)}/process, "
                f"{fmt_x(div(syp, flp))} the bare-pread floor; {fmt_x(div(evp, flp))} when it lists /proc every scan), "
                f"{fmt_ms(ur)} ms with `uring/held`;"
            )
        if kp is not None and ks is not None:
            kf = d.go(n, "KeplerScan/floor", "cpu-ns/op")
            best = f"; the syscall floor allows at most {fmt_x(div(kp, kf))}" if kf else ""
            kr = d.go(n, "KeplerScan/procuring-sync-reuse-idle", "cpu-ns/op")
            reuse = (
                f"; with `ReuseIdleStat` (stat only of processes that ran) {fmt_ms(kr)} ms ({fmt_x(div(kp, kr))} less)"
                if kr
                else ""
            )
            parts.append(
                f"a Kepler steady-state scan costs {fmt_ms(kp)} ms CPU through procfs vs {fmt_ms(ks)} ms through "
                f"procuring ({fmt_x(div(kp, ks))} less{best}){reuse}."
            )
        out.append("- " + " ".join(parts))
    return "\n".join(out) + "\n"


def write_md(d, path, png_name, res):
    m = res["machine"]
    p = res["params"]
    runs = []
    for n in d.counts:
        r = d.run(n)
        ru, go = r.get("rust", {}), r.get("go", {})
        meta = ru.get("meta", {})
        runs.append(
            f"| {n:,} | {meta.get('procs', '–')} | {meta.get('procs_before', '–')} → {meta.get('procs_after', '–')} | "
            f"{meta.get('nofile_soft', '–')} | {ru.get('seconds', '–')} s | {' '.join(ru.get('load_before', []))} | "
            f"{go.get('seconds', '–')} s | {' '.join(go.get('load_before', []))} |"
        )
    reruns = "".join(f"; {r}" for r in res.get("reruns", []))
    text = f"""# Benchmarks

Generated by `make bench-report` (`python3 scripts/bench_report.py`) on {m['date']}{reruns}. Re-run it to
refresh; `--quick` is a smoke test, `--render-only` re-renders from `target/bench-report/results.json`.

## Machine

- {m['nproc']} CPUs, {m['model']}, {m['mem_gib']} GiB memory
- kernel {m['kernel']} (`kernel.io_uring_disabled` = {m['io_uring_disabled']}), pid_max {m['pid_max']:,}, threads-max {m['threads_max']:,}
- {m['rustc']}; {m['go']}
- criterion: {p['samples']} samples, {p['time']} s measurement, {p['warmup']} s warm-up per benchmark; Go: `-benchtime {p['go_benchtime']} -count {p.get('go_count', 1)}` (medians)

Every number is one scan of **every** process on the machine: N idle `sleep 3600` children plus
what else ran, so "per process" divides by the processes a scan returned. CPU is user + system time of the
benchmarking process from `getrusage(RUSAGE_SELF)`, io_uring's io-wq worker threads included.
Medians. The machine is a 2-vCPU VM shared with other work: expect ±20% between runs, more on
wall time than on CPU time.

| children | procs per scan | /proc entries before → during | RLIMIT_NOFILE | Rust bench time | load before | Go bench time | load before |
|---:|---:|---:|---:|---:|---:|---:|---:|
{chr(10).join(runs)}

The benches raise `RLIMIT_NOFILE` so that every process's `stat`, `status` and `io` can stay open
(the scanner holds at most half the soft limit and never raises it itself).

## Headline

{headline(d)}
![scan CPU time against process count]({png_name})

## Ratios

"best possible" rows divide procfs by the matching syscall floor of `go/bench_test.go` (the same
run): no implementation can beat that ratio, so a target above it is impossible on this machine.

{ratios(d)}
## Rust: stat only (steady state)

One scan reading `/proc/<pid>/stat` of every process (`Scanner::scan_with(FileSet::STAT)` on a
scanner that has scanned once). `floor/pread-held-stat` is a bare loop of `pread(fd, buf, 4096, 0)`
over descriptors already open on every process's `stat`: no listing, no parsing, no bookkeeping;
the cost the kernel has anyway. `held`: descriptors kept across scans (default); `no-held`:
`openat` + `pread` + `close` per file per scan. `uring/held` uses the default batch of 256;
`held-batchN` other batch sizes, `held-async` sets `IOSQE_ASYNC` with io-wq capped at the CPU
count, `held-single-issuer` sets `IORING_SETUP_SINGLE_ISSUER | DEFER_TASKRUN`. `sync/held-threads2`
(`Options::threads = 2`) shares the reads of one scan between two threads: less wall time
(latency), no less CPU; it is off by default for that reason.

{rust_tables(d, 'stat')}
By default a scan lists `/proc` only when a process was created since the previous scan (the
kernel's fork counter, `processes` in `/proc/stat`, checked after `/proc/loadavg`'s last pid);
otherwise it keeps the previous pid list, and exits show as failed reads. The children here are
idle, so most scans keep the list: `sync/held` measures a quiet node and
`sync/held-list-every-scan` (`Options::list_every_scan`) a node where something forks between
every two scans (a busy Kubernetes node).

{relist_table(d)}
{stat_listing_floor(d)}
{cap_notes(d, 1)}
### Which io_uring variant is fastest

{best_uring(d)}
Also tried and dropped (branch `uring-experiments`, not merged; 5 runs of the stat group at 2,000
children on 2026-11-24, mean CPU / wall per scan): `sync/held` 10.4 / 10.2 ms, `uring/held`
16.6 / 14.0 ms, registered buffers (`READ_FIXED` into the registered scan buffer) 17.0 / 13.8 ms,
pipelined chunks (chunk k+1 submitted before chunk k is parsed) 16.5 / 12.9 ms, both 17.8 / 12.6 ms.
Registered buffers can only save the buffer import (0.1% of samples in `perf`) and pipelining can
only hide parsing (2.4%), while the io-wq hand-off and context switches are 20-25%.
## Rust: stat, status, io (steady state)

{rust_tables(d, '3files')}
{cap_notes(d, 3)}
## Rust: cold scan with identity files

A new scanner per iteration reading every file (`FileSet::ALL`: stat, status, io, comm, cmdline,
exe, cgroup, environ), so every file is opened and every identity file read. Scanner creation is
included (for `uring`, the ring and its direct-descriptor table); dropping it is not.
`floor/cold-open-read-close` is one getdents64 pass over `/proc`, then for every listed pid
`openat` + `read` + `close` of the same files and `readlinkat` of `exe`, one reused buffer, no
parsing (the scanners keep stat, status and io open instead of closing them).

{rust_tables(d, 'cold')}
## Rust: listing

Listing the pids is part of every scan after a fork (of every scan with `list_every_scan`). `floor/getdents` is `lseek(0)` plus a bare getdents64 loop
over a held `/proc` descriptor (64 KiB buffer, numeric entries counted); `sync/list-pids` is
`Scanner::list_pids` into a reused `Vec`.

{rust_tables(d, 'list')}
## Go (`go/bench_test.go`)

- `AllProcs`: listing only (procfs: readdir; procuring: a scan of the pids).
- `KeplerScan`: a Kepler-like collector's steady state: `Stat().CPUTime()` of every process,
  identity (`Comm`, `Executable`, `Cgroups`, `Environ`, `CmdLine`) of processes not seen before.
- `KeplerFirstScan`: the same with a new FS per op (every process new); `-prefetch` names the
  identity files up front so the cold scan is one batch.
- Floors (raw syscalls, reused buffers, no procfs, no library): `AllProcs/getdents-floor` opens
  `/proc`, reads it with getdents64 (pids parsed into a reused slice) and closes it;
  `KeplerScan/floor` is that listing plus a `pread` of every process's `stat` through descriptors
  opened before the timer; `KeplerFirstScan/floor` is the listing plus, per process, open + read +
  close of `stat`, `comm`, `cgroup`, `environ`, `cmdline` and `readlinkat` of `exe`. A short read
  ends a file (procfs reads once more to get 0).

{go_children_note(d)}
The Go runtime raises its soft `RLIMIT_NOFILE` to the hard limit, so the library's held-descriptor
cap there is half the hard limit. Per process divides by the processes present when the run
started plus the children (≈).

{go_tables(d)}
## Cost linearity

CPU per process at each count, and its growth from the smallest to the largest count (1.00× is
perfectly linear; above it, each process costs more when there are more of them).

{linearity(d)}
## Consistency checks

{sanity(d)}
## Memory

A scanner holding every process's state, measured in a fresh process (the bench re-executes
itself): RSS growth of the process after two scans, and growth of the kernel's slab
(`/proc/meminfo` `Slab`, system-wide, so noisy) while the scanner lives (median of 3). Held
descriptors cost kernel memory (`struct file`, `seq_file`, the seq buffer kept after a read).
`sync-default`/`uring-default` are `Options::default()` (stat, status, io held; comm, cmdline,
exe, cgroup cached). For io_uring the ring's file table is released asynchronously on drop.

{memory(d)}"""
    with open(path, "w") as f:
        f.write(text)
    log(f"wrote {os.path.relpath(path, ROOT)}")


# --------------------------------------------------------------------------------------------
# Plot


PLOT_SERIES = [
    ("Rust sync, held fds (stat)", "#1f77b4", "-", lambda d, n: d.rscan(n, "stat", "sync/held"), "r"),
    ("Rust sync, held fds, listing every scan (stat)", "#17becf", "-", lambda d, n: d.rscan(n, "stat", "sync/held-list-every-scan"), "r"),
    ("Rust uring, held fds (stat)", "#ff7f0e", "-", lambda d, n: d.rscan(n, "stat", "uring/held"), "r"),
    ("floor: bare pread of held stat fds", "#7f7f7f", "--", lambda d, n: d.rscan(n, "stat", FLOOR["stat"]), "r"),
    ("Go procuring-sync, Kepler scan", "#2ca02c", "-", lambda d, n: d.go(n, "KeplerScan/procuring-sync", "cpu-ns/op"), "g"),
    ("Go procuring-sync + ReuseIdleStat, Kepler scan", "#9467bd", "-", lambda d, n: d.go(n, "KeplerScan/procuring-sync-reuse-idle", "cpu-ns/op"), "g"),
    ("Go procfs, Kepler scan", "#d62728", "-", lambda d, n: d.go(n, "KeplerScan/procfs", "cpu-ns/op"), "g"),
    ("Go floor, Kepler scan: getdents + pread of held stat fds", "#8c564b", "--", lambda d, n: d.go(n, "KeplerScan/floor", "cpu-ns/op"), "g"),
]


RUST_ROW = {
    "Rust sync, held fds (stat)": "sync/held",
    "Rust sync, held fds, listing every scan (stat)": "sync/held-list-every-scan",
    "Rust uring, held fds (stat)": "uring/held",
    "floor: bare pread of held stat fds": FLOOR["stat"],
}


def plot_points(d):
    series = []
    for label, color, style, f, kind in PLOT_SERIES:
        pts = []
        for n in d.counts:
            v = f(d, n)
            x = d.rprocs(n) if kind == "r" else d.gprocs(n)
            if v is not None and x:
                pts.append((x, v / 1e6))
        series.append((label, color, style, pts))
    return series


def ensure_matplotlib():
    try:
        import matplotlib  # noqa: F401

        return True
    except ImportError:
        pass
    log("matplotlib missing: pip install matplotlib")
    r = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "matplotlib"])
    if r.returncode != 0:
        return False
    try:
        import importlib

        importlib.invalidate_caches()
        import matplotlib  # noqa: F401

        return True
    except ImportError:
        return False


def write_png(d, path, m):
    series = plot_points(d)
    if ensure_matplotlib():
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import FuncFormatter

        from matplotlib.ticker import NullFormatter

        fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 5.6))
        xticks = sorted({x for _, _, _, pts in series[:1] for x, _ in pts} or {x for _, _, _, pts in series for x, _ in pts})
        ends = []
        for label, color, style, pts in series:
            if not pts:
                continue
            xs, ys = zip(*pts)
            a1.plot(xs, ys, style, color=color, marker="o", label=label)
            a2.plot(xs, [y * 1e6 / x / 1000 for x, y in pts], style, color=color, marker="o", label=label)
            ends.append((ys[-1], xs[-1], color))
        # End-of-line labels, nudged apart (in log space) where they would overlap.
        placed = []
        for y, x, color in sorted(ends):
            ly = max(y, placed[-1] * 1.16) if placed else y
            placed.append(ly)
            a1.annotate(f"{y:.3g} ms", (x, y), xytext=(x * 1.06, ly), fontsize=8, color=color, va="center")
        for a in (a1, a2):
            a.set_xscale("log")
            a.grid(True, which="major", alpha=0.35)
            a.set_xlabel("processes per scan (log scale)")
            a.set_xticks(xticks)
            a.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
            a.xaxis.set_minor_formatter(NullFormatter())
            if xticks:
                a.set_xlim(xticks[0] / 1.25, xticks[-1] * 1.6)
        a1.set_yscale("log")
        ys_all = [y for _, _, _, pts in series for _, y in pts]
        if ys_all:
            lo, hi = min(ys_all), max(ys_all)
            a1.set_yticks([t for t in (0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000) if lo / 1.5 <= t <= hi * 1.5])
        a1.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        a1.yaxis.set_minor_formatter(NullFormatter())
        a1.set_ylabel("CPU time per scan (ms, log scale)")
        a1.set_title("CPU time of one scan of every process")
        a2.set_ylabel("CPU time per process (µs)")
        a2.set_ylim(bottom=0)
        a2.set_title("CPU time per process (flat = linear cost)")
        handles, labels = a1.get_legend_handles_labels()
        fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=9, frameon=False)
        fig.suptitle(
            f"procuring: scan CPU (user+sys, io-wq included), stat of every process; "
            f"{m['nproc']} vCPU {m['model']}, kernel {m['kernel']}",
            fontsize=10,
        )
        fig.tight_layout(rect=(0, 0.1, 1, 1))
        fig.savefig(path, dpi=110)
        plt.close(fig)
    else:
        log("matplotlib unavailable: using the built-in PNG writer")
        tiny_png(series, path)
    log(f"wrote {os.path.relpath(path, ROOT)}")


# A fallback plot without matplotlib: log-log lines on a grid, a legend of colour swatches and
# labels in a 5x7 bitmap font. Plain but readable.
FONT = {
    " ": "00000000000000000000000000000000000", "0": "01110100011001110101110011000101110",
    "1": "00100011000010000100001000010001110", "2": "01110100010000100010001000100011111",
    "3": "11111000100010000010000011000101110", "4": "00010001100101010010111110001000010",
    "5": "11111100001111000001000011000101110", "6": "00110010001000011110100011000101110",
    "7": "11111000010001000100010000100001000", "8": "01110100011000101110100011000101110",
    "9": "01110100011000101111000010001001100", ".": "00000000000000000000000000110001100",
    ",": "00000000000000000000001100010001000", "(": "00010001000100001000010000010000010",
    ")": "01000001000001000010000100010001000", "-": "00000000000000011111000000000000000",
    ":": "00000011000110000000011000110000000", "/": "00000000010001000100010001000000000",
}
for ch, rows in zip(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
    [
        "01110100011000111111100011000110001", "11110100011000111110100011000111110", "01110100011000010000100001000101110",
        "11100100101000110001100011001011100", "11111100001000011110100001000011111", "11111100001000011110100001000010000",
        "01110100011000010111100011000101111", "10001100011000111111100011000110001", "01110001000010000100001000010001110",
        "00111000100001000010000101001001100", "10001100101010011000101001001010001", "10000100001000010000100001000011111",
        "10001110111010110101100011000110001", "10001100011100110101100111000110001", "01110100011000110001100011000101110",
        "11110100011000111110100001000010000", "01110100011000110001101011001001101", "11110100011000111110101001001010001",
        "01111100001000001110000010000111110", "11111001000010000100001000010000100", "10001100011000110001100011000101110",
        "10001100011000110001100010101000100", "10001100011000110101101011010101010", "10001100010101000100010101000110001",
        "10001100010101000100001000010000100", "11111000010001000100010001000011111",
    ],
):
    FONT[ch] = rows


def tiny_png(series, path, w=900, h=520):
    import math

    px = [[(255, 255, 255)] * w for _ in range(h)]

    def put(x, y, c):
        if 0 <= x < w and 0 <= y < h:
            px[y][x] = c

    def line(x0, y0, x1, y1, c, thick=2):
        steps = int(max(abs(x1 - x0), abs(y1 - y0))) + 1
        for i in range(steps + 1):
            x = x0 + (x1 - x0) * i / steps
            y = y0 + (y1 - y0) * i / steps
            for dx in range(thick):
                for dy in range(thick):
                    put(int(x) + dx, int(y) + dy, c)

    def text(x, y, s, c=(0, 0, 0)):
        for ch in s.upper():
            g = FONT.get(ch, FONT[" "])
            for i, bit in enumerate(g):
                if bit == "1":
                    put(x + i % 5, y + i // 5, c)
            x += 6

    def hexc(s):
        return tuple(int(s[i : i + 2], 16) for i in (1, 3, 5))

    pts = [p for _, _, _, ps in series for p in ps]
    if not pts:
        pts = [(1, 1), (10, 10)]
    xs = [math.log10(x) for x, _ in pts]
    ys = [math.log10(max(y, 1e-3)) for _, y in pts]
    x0, x1 = math.floor(min(xs) * 2) / 2, math.ceil(max(xs) * 2) / 2 + 0.01
    y0, y1 = math.floor(min(ys)), math.ceil(max(ys)) + 0.01
    L, R, T, B = 80, w - 20, 30, h - 150

    def sx(v):
        return L + (math.log10(v) - x0) / (x1 - x0) * (R - L)

    def sy(v):
        return B - (math.log10(max(v, 1e-3)) - y0) / (y1 - y0) * (B - T)

    for e in range(int(y0), int(math.ceil(y1)) + 1):
        y = sy(10**e)
        if T <= y <= B:
            line(L, y, R, y, (220, 220, 220), 1)
            text(10, int(y) - 3, f"{10 ** e:g} MS")
    for v in (100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000):
        x = sx(v)
        if L <= x <= R:
            line(x, T, x, B, (220, 220, 220), 1)
            text(int(x) - 12, B + 8, f"{v:,}")
    line(L, T, L, B, (0, 0, 0), 1)
    line(L, B, R, B, (0, 0, 0), 1)
    text(L, 10, "SCAN CPU TIME PER SCAN (MS, LOG) VS PROCESSES PER SCAN (LOG)")
    for k, (label, color, _, ps) in enumerate(series):
        c = hexc(color)
        for (ax, ay), (bx, by) in zip(ps, ps[1:]):
            line(sx(ax), sy(ay), sx(bx), sy(by), c)
        for x, y in ps:
            for dx in range(-3, 4):
                for dy in range(-3, 4):
                    put(int(sx(x)) + dx, int(sy(y)) + dy, c)
        ly = B + 30 + k * 20
        for dx in range(20):
            for dy in range(6):
                put(L + dx, ly + dy, c)
        text(L + 30, ly, label)

    raw = b"".join(b"\x00" + bytes(v for p in row for v in p) for row in px)

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)))
        f.write(chunk(b"IDAT", zlib.compress(raw, 9)))
        f.write(chunk(b"IEND", b""))


# --------------------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--counts", default=os.environ.get("PROCURING_REPORT_COUNTS", "500,2000,10000"))
    ap.add_argument("--quick", action="store_true", help="smoke test: 200 processes, short times, output under target/")
    ap.add_argument("--time", type=float, default=float(os.environ.get("PROCURING_BENCH_TIME", "2")))
    ap.add_argument("--warmup", type=float, default=float(os.environ.get("PROCURING_BENCH_WARMUP", "0.5")))
    ap.add_argument("--samples", type=int, default=int(os.environ.get("PROCURING_BENCH_SAMPLES", "10")))
    ap.add_argument("--go-benchtime", default=os.environ.get("PROCURING_REPORT_GO_BENCHTIME", "20x"))
    ap.add_argument(
        "--go-own-children",
        action="store_true",
        help="let go test start the children (PROCURING_BENCH_PROCS=N) instead of this script",
    )
    ap.add_argument("--go-count", type=int, default=int(os.environ.get("PROCURING_REPORT_GO_COUNT", "3")),
                    help="runs of each Go benchmark (the report keeps the medians)")
    ap.add_argument("--skip-rust", action="store_true")
    ap.add_argument("--skip-go", action="store_true")
    ap.add_argument("--out-dir", help="where BENCHMARKS.md and scan_cpu.png go (default docs/, quick: target/bench-report/quick)")
    ap.add_argument("--render-only", action="store_true", help="re-render from the saved results.json")
    ap.add_argument(
        "--merge",
        action="store_true",
        help="re-run only --counts and keep the other counts of the saved results.json (e.g. one disturbed count)",
    )
    args = ap.parse_args()

    if args.quick:
        args.counts = "200"
        args.time, args.warmup, args.go_benchtime = 0.3, 0.1, "3x"
    out_dir = args.out_dir or (os.path.join(WORK, "quick") if args.quick else os.path.join(ROOT, "docs"))
    work = os.path.join(WORK, "quick") if args.quick else WORK
    os.makedirs(work, exist_ok=True)
    os.makedirs(out_dir, exist_ok=True)
    results_path = os.path.join(work, "results.json")

    if args.render_only:
        with open(results_path) as f:
            res = json.load(f)
    else:
        counts = [int(c) for c in re.split(r"[,\s]+", args.counts.strip()) if c]
        for n in counts:
            problems = check_limits(n)
            if problems:
                sys.exit(f"cannot run {n:,} processes: " + "; ".join(problems))
        params = {"time": args.time, "warmup": args.warmup, "samples": args.samples, "go_benchtime": args.go_benchtime,
                  "go_count": args.go_count}
        res = {"machine": machine(), "params": params, "runs": {}}
        if args.merge and os.path.exists(results_path):
            with open(results_path) as f:
                old = json.load(f)
            if old.get("params") != params:
                sys.exit(f"--merge: saved results used {old.get('params')}, this run {params}: not comparable")
            res["runs"] = old["runs"]
            parts = [p for p, skip in (("Rust", args.skip_rust), ("Go", args.skip_go)) if not skip]
            res["reruns"] = old.get("reruns", []) + [
                f"{' and '.join(parts)} at {', '.join(f'{n:,}' for n in counts)} children re-run on {res['machine']['date']}"
            ]
            res["machine"]["date"] = old["machine"]["date"]
        build()
        t0 = time.time()
        for n in counts:
            outdir = os.path.join(work, f"n{n}")
            os.makedirs(outdir, exist_ok=True)
            run = res["runs"].setdefault(str(n), {})
            if not args.skip_rust:
                log(f"== Rust criterion benches, {n:,} children")
                run["rust"] = run_rust(n, args, outdir)
            if not args.skip_go:
                log(f"== Go benchmarks, {n:,} children")
                run["go"] = run_go(n, args, outdir)
            with open(results_path, "w") as f:
                json.dump(res, f, indent=1)
            procs = run.get("rust", {}).get("meta", {}).get("procs")
            if procs and procs > n + 1000:
                log(f"WARNING: {procs:,} processes per scan for {n:,} children: other work on the machine added "
                    f"{procs - n:,} processes; consider re-running this count with --counts {n} --merge")
        log(f"all runs done in {(time.time() - t0) / 60:.1f} min; raw results in {os.path.relpath(results_path, ROOT)}")

    d = Data(res)
    write_md(d, os.path.join(out_dir, "BENCHMARKS.md"), "scan_cpu.png", res)
    write_png(d, os.path.join(out_dir, "scan_cpu.png"), res["machine"])


if __name__ == "__main__":
    main()
