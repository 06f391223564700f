"""The `bpf` engine in the report: the targets of issue #13 and whether a run meets them, and the
"bpf engine" section (benches/bpf.rs at each count and with 10 and 50 threads per process, its
load cost, and the Go Kepler benchmark with the bpf engine).
"""

from .data import div
from .fmt import fmt_ms, fmt_ns, fmt_x, md_table

# Issue #13, "Done when": at 2,000 processes, a Kepler-shaped steady-state scan through the Go API
# with the bpf engine costs at least 50x less CPU than prometheus/procfs, and the Rust stat scan at
# least 10x less than the held-fd pread floor.
TARGET_KEPLER = 50
TARGET_RUST = 10
TARGET_COUNT = 2000

METHODS = [
    ("floor", "held-fd `pread` floor"),
    ("sync", "`sync` scan"),
    ("uring", "`uring` scan"),
    ("bpf", "`bpf` scan"),
    ("bpf-walk", "`bpf` program alone (kernel walk)"),
]


def rust_ratio(d, n):
    """Held-fd pread floor / bpf stat scan, CPU (the 10x target)."""
    return div(d.bpf_cpu(n, "floor"), d.bpf_cpu(n, "bpf"))


def kepler_ratio(d, n):
    """procfs / procuring-bpf, CPU of a Kepler steady-state scan through the Go API (the 50x target)."""
    return div(d.go(n, "KeplerScan/procfs", "cpu-ns/op"), d.go(n, "KeplerScan/procuring-bpf", "cpu-ns/op"))


def met(r, target):
    return "–" if r is None else f"{fmt_x(r)}, {'met' if r >= target else 'not met'}"


def target_count(d):
    """The count the targets are judged at: 2,000, else the run's nearest (a --quick run)."""
    return min(d.counts, key=lambda n: abs(n - TARGET_COUNT)) if d.counts else None


def rust_missing(d, n):
    """Why the bpf bench has no stat scan at n, or None."""
    b = d.bpf(n)
    if b is None:
        return "not measured in this run"
    if b.get("unavailable"):
        return b["unavailable"]
    if d.bpf_row(n, "bpf") is None:
        return "no bpf row in the bench's output"
    return None


def kepler_missing(d, n):
    """Why the Go run has no KeplerScan/procuring-bpf at n, or None."""
    if "go" not in d.run(n):
        return "Go benchmarks not run"
    if d.go(n, "KeplerScan/procuring-bpf", "cpu-ns/op") is not None:
        return None
    if d.go(n, "KeplerScan/procfs", "cpu-ns/op") is None:
        return "no KeplerScan/procfs result"
    why = (d.bpf(n) or {}).get("unavailable")
    # go test prints a benchmark's b.Skipf reason only with -v: take the Rust bench's, if any.
    return f"`KeplerScan/procuring-bpf` skipped by go test{f' (the Rust bench: {why})' if why else ''}"


def cell(r, why):
    return fmt_x(r) if r is not None else f"unavailable: {why}" if why else "–"


def ratio_rows(d):
    """Rows of the Ratios table."""
    rows = [
        [f"Rust stat scan CPU: held-fd pread floor / bpf (target ≥ {TARGET_RUST}×)"]
        + [met(rust_ratio(d, n), TARGET_RUST) if rust_ratio(d, n) is not None else cell(None, rust_missing(d, n)) for n in d.counts],
        ["Rust stat scan CPU: sync / bpf (bpf bench)"]
        + [cell(div(d.bpf_cpu(n, "sync"), d.bpf_cpu(n, "bpf")), rust_missing(d, n)) for n in d.counts],
        [f"Kepler steady state, CPU: procfs / procuring-bpf (target ≥ {TARGET_KEPLER}×)"]
        + [met(kepler_ratio(d, n), TARGET_KEPLER) if kepler_ratio(d, n) is not None else cell(None, kepler_missing(d, n)) for n in d.counts],
    ]
    return rows


def headline_targets(d):
    """The headline's first bullet: the issue's two targets at 2,000 (or the nearest count)."""
    n = target_count(d)
    if n is None:
        return ""
    at = f"{n:,} children" + ("" if n == TARGET_COUNT else f" (no {TARGET_COUNT:,} run; nearest count)")
    kr, rr = kepler_ratio(d, n), rust_ratio(d, n)
    k = (f"{fmt_x(kr)} less CPU than procfs for a Kepler steady-state scan through the Go API with the `bpf` engine "
         f"(target ≥ {TARGET_KEPLER}×: **{'met' if kr >= TARGET_KEPLER else 'not met'}**)") if kr is not None else \
        f"Kepler with the `bpf` engine unavailable: {kepler_missing(d, n)} (target ≥ {TARGET_KEPLER}×: not measured)"
    r = (f"{fmt_x(rr)} less CPU than the held-fd `pread` floor for the Rust stat scan "
         f"(target ≥ {TARGET_RUST}×: **{'met' if rr >= TARGET_RUST else 'not met'}**)") if rr is not None else \
        f"Rust `bpf` stat scan unavailable: {rust_missing(d, n)} (target ≥ {TARGET_RUST}×: not measured)"
    return f"- **Targets of issue #13**, at {at}: {k}; {r}.\n"


def headline_bpf(d, n):
    """The per-count headline's bpf sentence."""
    parts = []
    b = d.bpf_cpu(n, "bpf")
    if b is not None:
        parts.append(f"with the `bpf` engine a stat scan costs {fmt_ms(b)} ms CPU ({fmt_ns(d.bpf_pp(n, 'bpf'))}/process, "
                     f"{fmt_x(rust_ratio(d, n))} less than the held-fd pread floor and "
                     f"{fmt_x(div(d.bpf_cpu(n, 'sync'), b))} less than `sync` in the same loop)")
    elif d.bpf(n) is not None:
        parts.append(f"the `bpf` bench: unavailable: {rust_missing(d, n)}")
    kb = d.go(n, "KeplerScan/procuring-bpf", "cpu-ns/op")
    if kb is not None:
        parts.append(f"a Kepler steady-state scan {fmt_ms(kb)} ms ({fmt_x(kepler_ratio(d, n))} less than procfs)")
    return ("; ".join(parts) + ".") if parts else ""


def fmt_us(ns):
    if ns is None:
        return "–"
    us = ns / 1e3
    return f"{us:,.0f}" if us >= 100 else f"{us:.1f}"


def _scan_rows(mix, label):
    rows = []
    floor, sync = (mix.get(m, {}).get("cpu_ns") for m in ("floor", "sync"))
    for key, name in METHODS:
        r = mix.get(key)
        if not r:
            continue
        c, w, p = r.get("cpu_ns"), r.get("wall_ns"), r.get("procs")
        rows.append([label, name, fmt_us(c), fmt_us(w), fmt_ns(div(c, p)), fmt_x(div(floor, c)), fmt_x(div(sync, c))])
        label = ""
    return rows


HEAD = ["children", "method", "CPU µs / scan", "wall µs / scan", "CPU / process", "floor / method", "sync / method"]


def _where(mix_rows, children):
    r = next(iter(mix_rows.values()))
    return f"{children} ({r.get('procs', 0):,} procs, {r.get('tasks', 0):,} tasks)"


def _notes(b, where):
    out = []
    if b.get("unavailable"):
        out.append(f"- {where}: unavailable: {b['unavailable']}")
    for m, why in sorted(b.get("method_unavailable", {}).items()):
        out.append(f"- {where}: `{m}` scan unavailable: {why}")
    for mix in b.get("mixes", {}).values():
        fl = mix.get("floor")
        if fl and fl.get("floor_fds", 0) + 50 < fl.get("procs", 0):
            out.append(f"- {where}: the floor held only {fl['floor_fds']:,} descriptors for {fl['procs']:,} processes "
                       f"(`RLIMIT_NOFILE`): it read fewer files than the scans.")
    return out


def bpf_section(d):
    out, notes = [], []
    # 1 thread per process, the report's children, at every count.
    rows = []
    for n in d.counts:
        b = d.bpf(n)
        if b is None:
            notes.append(f"- {n:,} children: not measured in this run.")
            continue
        mix = b.get("mixes", {}).get("0")
        if mix:
            rows += _scan_rows(mix, _where(mix, f"{n:,}"))
        notes += _notes(b, f"{n:,} children")
    out.append("**1 thread per process** (the report's idle `sleep` children; the bench starts none):\n")
    out.append(md_table(HEAD, rows) if rows else "(no results)")
    # 10 and 50 threads per process, once.
    bm = d.bpf_mixes()
    if bm is None:
        out.append("\n**10 and 50 threads per process**: not measured in this run.")
    else:
        total = bm.get("threads_total", 0)
        for t, mix in sorted(bm.get("mixes", {}).items(), key=lambda kv: int(kv[0])):
            if t == "0":
                continue
            own = next(iter(mix.values())).get("own_children", 0)
            out.append(f"\n**{t} threads per process** ({own:,} children of the bench × {t} threads, {total:,} threads in all):\n")
            out.append(md_table(HEAD, _scan_rows(mix, _where(mix, f"{own:,} × {t}"))))
        notes += _notes(bm, f"{total:,} threads ({', '.join(map(str, sorted(int(t) for t in bm.get('mixes', {})))) or '10, 50'} per process)")
        if not bm.get("mixes") and not bm.get("unavailable"):
            notes.append("- 10 and 50 threads per process: no results.")
    if notes:
        out.append("\n" + "\n".join(notes))
    # Load cost, measured by every run of the bench.
    lrows = []
    runs = [(f"{n:,} children", d.bpf(n)) for n in d.counts] + [("10/50-thread run", bm)]
    for where, b in runs:
        ld = (b or {}).get("load")
        if ld:
            lrows.append([where, fmt_ms(ld.get("wall_ns")), fmt_ms(ld.get("cpu_ns")), fmt_ms(ld.get("prog_load_ns")), ld.get("runs", "–")])
        elif b and b.get("unavailable"):
            lrows.append([where, f"unavailable: {b['unavailable']}", "", "", ""])
    out.append("\n**One-off load cost** (`Scanner::new` with `EngineKind::Bpf`, medians):\n")
    out.append(md_table(["run", "wall, ms", "CPU, ms", "program load (`bpf_load_ns`), ms", "loads"], lrows) if lrows else "(no results)")
    # Go: the Kepler steady state with the bpf engine.
    grows = []
    for n in d.counts:
        kp, kb, kf = (d.go(n, f"KeplerScan/{x}", "cpu-ns/op") for x in ("procfs", "procuring-bpf", "floor"))
        kl = d.go(n, "KeplerScan/procuring-bpf", "allprocs-cpu-ns/op")
        rest = kb - kl if kb is not None and kl is not None else None
        why = kepler_missing(d, n)
        grows.append([f"{n:,}", fmt_ms(kp), fmt_ms(kb) if kb is not None else f"unavailable: {why}",
                      met(kepler_ratio(d, n), TARGET_KEPLER), fmt_x(div(kp, kf)), fmt_ms(kl), fmt_ms(rest),
                      fmt_x(div(kp, rest))])
    out.append(f"\n**Kepler steady state through the Go API** (`go/bench_test.go`, `KeplerScan`), CPU per op. "
               "`AllProcs` is the library's walk and the Go listing built from it; the rest is the loop: "
               "`Stat()` of every process, the collector's own maps, `Comm`/`Executable` of the processes "
               "whose CPU time moved. The last column is the most a free `AllProcs` would give:\n")
    out.append(md_table(["children", "procfs, ms", "procuring-bpf, ms", f"procfs / procuring-bpf (target ≥ {TARGET_KEPLER}×)",
                         "procfs / pread floor", "of which AllProcs, ms", "the rest, ms", "procfs / the rest"], grows))
    return "\n".join(out) + "\n"
