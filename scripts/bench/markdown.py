"""Rendering docs/BENCHMARKS.md from the results: the tables of each benchmark group and the
page's text around them.
"""

import os

from .bpfreport import TARGET_COUNT, TARGET_KEPLER, TARGET_RUST, bpf_section
from .common import ROOT, log
from .data import FLOOR, div
from .fmt import fmt_int, fmt_ms, fmt_ns, fmt_x, md_table
from .ratios import best_uring, headline, linearity, ratios, sanity


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
    mix_total = (d.bpf_mixes() or {}).get("threads_total", 2000)
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
run): no implementation that reads the files can beat that ratio, so such a target is impossible on this
machine. The `bpf` engine reads no file for `stat` (see "bpf engine"): neither floor bounds its rows.

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
## bpf engine

The `bpf` engine (`EngineKind::Bpf`; Go `EngineBPF`) reads no file for `stat`: one run of a BPF
program (`bpf/procuring.bpf.c`) walks every thread of the kernel's task list and returns one stat
record per process, so the held-fd `pread` floor, the least a scan that reads `/proc/<pid>/stat`
can cost, does not bound it. Issue #13's targets, at {TARGET_COUNT:,} processes: a Kepler
steady-state scan through the Go API with the `bpf` engine at least {TARGET_KEPLER}× less CPU than
prometheus/procfs, and the Rust stat scan at least {TARGET_RUST}× less than the held-fd `pread` floor.

`benches/bpf.rs` (`cargo bench --bench bpf`, run by `scripts/bench/bpfbench.py`; its own loop, not
criterion) measures interleaved, in batches of 10 scans, medians over the batches: the floor
(`pread` of every process's `stat` through descriptors opened before timing), the `sync` and
`uring` stat scans (`FileSet::STAT`, held descriptors), the `bpf` stat scan (walk plus records),
and the BPF program alone (`bpf_walk_only`: the kernel's share of a `bpf` scan). CPU is user +
system time of the bench process (`getrusage(RUSAGE_SELF)`); per process divides by the
processes in `/proc` when the loop started; "floor / method" and "sync / method" above 1: the
method is cheaper. At each count the bench scans this script's children (1 thread each); once,
it starts its own children with 10 and with 50 threads each ({mix_total:,} threads in all), since the
walk passes over every thread. "tasks" is the machine's thread count (`/proc/loadavg`).

{bpf_section(d)}
The load cost is paid once per process: reading the kernel's BTF, relocating, loading and
verifying the program, mapping its output and one test walk (`bpf_load_ns` is that part as the
library times it). Later scanners of the process share the loaded program while one holds it;
the bench drops each scanner before making the next, so each of its loads is a full one. Every
run of the bench measures it before its scans.

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
