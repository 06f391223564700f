"""What the report compares: the ratio table (procfs against procuring, scans against their
floors), cost linearity across process counts, the io_uring verdict, the consistency checks and
the headline.
"""

from .bpfreport import headline_bpf, headline_targets, ratio_rows as bpf_ratio_rows
from .data import FLOOR, FLOOR_BOUNDS, GO_FLOOR, div
from .fmt import fmt_ms, fmt_ns, fmt_x, md_table


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
    # The bpf engine (benches/bpf.rs, its own interleaved loop; issue #13's targets).
    rows += bpf_ratio_rows(d)
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
        ("Rust bpf scan (stat; bpf bench)", lambda n: d.bpf_pp(n, "bpf")),
        ("Rust held-fd pread floor (stat; bpf bench)", lambda n: d.bpf_pp(n, "floor")),
        ("Go KeplerScan/procuring-bpf", lambda n: div(d.go(n, "KeplerScan/procuring-bpf", "cpu-ns/op"), d.gprocs(n))),
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
                # ReuseIdleStat reads schedstat instead of stat, and the bpf engine reads no file:
                # the stat floor bounds neither.
                if (name.split("/")[0] != floor_name.split("/")[0] or name == floor_name or "reuse-idle" in name
                        or "bpf" in name):
                    continue
                c = d.go(n, name, "cpu-ns/op")
                if fl and c and fl > c:
                    notes.append(f"- {n:,} children, Go `{floor_name}` ({fmt_ms(fl)} ms) cost more CPU than `{name}` ({fmt_ms(c)} ms): noise.")
    return "\n".join(notes) + "\n" if notes else "No inconsistency found (no single-threaded row with CPU > 1.15× wall, no floor above what it bounds).\n"


def headline(d):
    out = [headline_targets(d).rstrip("\n")] if headline_targets(d) else []
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
        bpf = headline_bpf(d, n)
        if bpf:
            parts.append(bpf[0].upper() + bpf[1:])
        out.append("- " + " ".join(parts))
    return "\n".join(out) + "\n"
