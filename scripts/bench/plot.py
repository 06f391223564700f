"""docs/scan_cpu.png: CPU time per scan and per process against the process count, with
matplotlib (installed with pip when missing), else with the built-in writer of tinypng.
"""

import os
import subprocess
import sys

from .common import ROOT, log
from .data import FLOOR
from .tinypng import tiny_png


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
