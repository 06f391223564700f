#!/usr/bin/env python3
"""Benchmark report of procuring: docs/BENCHMARKS.md and docs/scan_cpu.png.

For each process count (default 500, 2000, 10000) it runs

  * the criterion benches (`cargo bench --bench scan`, PROCURING_BENCH_PROCS=N), reading
    criterion's `new/estimates.json` (mean, median) of every `wall/...` and `cpu/...` benchmark
    and the bench's own `procuring-summary.json` (processes per scan, memory probes);
  * the Go benchmarks (`go test -run '^$' -bench 'AllProcs|KeplerScan|KeplerFirstScan'`,
    PROCURING_BENCH_PROCS=N), parsing ns/op, cpu-ns/op, B/op and allocs/op;
  * the bpf engine's bench (`cargo bench --bench bpf`, benches/bpf.rs) over this script's N
    children, and once with its own children at 10 and 50 threads per process (2,000 threads):
    bpf, sync, uring stat scans and the held-fd pread floor, interleaved, and the load cost;

then writes the Markdown report and the plot. Raw results are kept in
target/bench-report/results.json; `--render-only` re-renders from them.

The parts live in scripts/bench/ (see its __init__.py): spawn (children, limits), criterion
and gobench (running), parse (their output), data (per-process and per-scan values), ratios
(comparisons and checks), markdown (docs/BENCHMARKS.md), plot (docs/scan_cpu.png). This file
only ties them together.

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
import json
import os
import re
import sys
import time

from bench.bpfbench import MIX_THREADS_TOTAL, build_bpf, run_bpf, run_bpf_mixes
from bench.common import ROOT, WORK, log
from bench.criterion import build, run_rust
from bench.data import Data
from bench.gobench import run_go
from bench.machine import check_limits, machine
from bench.markdown import write_md
from bench.plot import write_png


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--counts", default=os.environ.get("PROCURING_REPORT_COUNTS", "500,2000,10000"))
    ap.add_argument("--quick", action="store_true", help="smoke test: 200 processes, short times, output under target/")
    ap.add_argument("--time", type=float, default=float(os.environ.get("PROCURING_BENCH_TIME", "2")))
    ap.add_argument("--warmup", type=float, default=float(os.environ.get("PROCURING_BENCH_WARMUP", "0.5")))
    ap.add_argument("--samples", type=int, default=int(os.environ.get("PROCURING_BENCH_SAMPLES", "10")))
    # A time, not a count: 20 ops of a 1.5 ms benchmark (KeplerScan with bpf) measured 30 ms,
    # where the warm-up of a new FS and one GC cycle more or less swung it by 10-30%; a second
    # holds hundreds of them, and the 200 ms benchmarks still run several ops.
    ap.add_argument("--go-benchtime", default=os.environ.get("PROCURING_REPORT_GO_BENCHTIME", "1s"))
    ap.add_argument(
        "--go-own-children",
        action="store_true",
        help="let go test start the children (PROCURING_BENCH_PROCS=N) instead of this script",
    )
    ap.add_argument("--go-count", type=int, default=int(os.environ.get("PROCURING_REPORT_GO_COUNT", "3")),
                    help="runs of each Go benchmark (the report keeps the medians)")
    ap.add_argument("--skip-rust", action="store_true")
    ap.add_argument("--skip-go", action="store_true")
    ap.add_argument("--skip-bpf", action="store_true", help="skip the bpf engine's bench (benches/bpf.rs)")
    ap.add_argument("--bpf-batches", type=int, default=int(os.environ.get("PROCURING_REPORT_BPF_BATCHES", "30")),
                    help="batches of 10 scans per method in the bpf bench (medians over them)")
    ap.add_argument("--bpf-loads", type=int, default=int(os.environ.get("PROCURING_REPORT_BPF_LOADS", "10")),
                    help="bpf scanner loads timed per run of the bpf bench")
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
        args.bpf_batches, args.bpf_loads = 3, 3
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
                  "go_count": args.go_count, "bpf_batches": args.bpf_batches, "bpf_loads": args.bpf_loads}
        res = {"machine": machine(), "params": params, "runs": {}}
        if args.merge and os.path.exists(results_path):
            with open(results_path) as f:
                old = json.load(f)
            if old.get("params") != params:
                sys.exit(f"--merge: saved results used {old.get('params')}, this run {params}: not comparable")
            res["runs"] = old["runs"]
            if "bpf_mixes" in old:
                res["bpf_mixes"] = old["bpf_mixes"]
            parts = [p for p, skip in (("Rust", args.skip_rust), ("Go", args.skip_go), ("bpf", args.skip_bpf)) if not skip]
            res["reruns"] = old.get("reruns", []) + [
                f"{' and '.join(parts)} at {', '.join(f'{n:,}' for n in counts)} children re-run on {res['machine']['date']}"
            ]
            res["machine"]["date"] = old["machine"]["date"]
        build()
        if not args.skip_bpf:
            build_bpf()
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
            if not args.skip_bpf:
                log(f"== bpf engine bench, {n:,} children (1 thread each)")
                run["bpf"] = run_bpf(n, args, outdir)
            with open(results_path, "w") as f:
                json.dump(res, f, indent=1)
            procs = run.get("rust", {}).get("meta", {}).get("procs")
            if procs and procs > n + 1000:
                log(f"WARNING: {procs:,} processes per scan for {n:,} children: other work on the machine added "
                    f"{procs - n:,} processes; consider re-running this count with --counts {n} --merge")
        if not args.skip_bpf:
            # 2,000 threads in all (a --quick run: as many as its children).
            total = min(MIX_THREADS_TOTAL, max(counts)) if args.quick else MIX_THREADS_TOTAL
            log(f"== bpf engine bench, {total:,} threads as 10 and 50 threads per process (the bench's own children)")
            res["bpf_mixes"] = run_bpf_mixes(args, os.path.join(work, "bpf-mixes"), total)
            with open(results_path, "w") as f:
                json.dump(res, f, indent=1)
        log(f"all runs done in {(time.time() - t0) / 60:.1f} min; raw results in {os.path.relpath(results_path, ROOT)}")

    d = Data(res)
    write_md(d, os.path.join(out_dir, "BENCHMARKS.md"), "scan_cpu.png", res)
    write_png(d, os.path.join(out_dir, "scan_cpu.png"), res["machine"])


if __name__ == "__main__":
    main()
