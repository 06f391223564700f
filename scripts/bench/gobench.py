"""Running the Go benchmarks (`go test -bench`, in go/) for one process count: by default this
script starts the children (spawn.Children) and `go test` runs with PROCURING_BENCH_PROCS=0.
"""

import os
import subprocess

from .common import ROOT, loadavg, log, proc_count, read
from .parse import parse_go
from .spawn import Children, go_env, limits_preexec, run_logged

GO_BENCH = "AllProcs|KeplerScan|KeplerFirstScan"


def run_go(n, args, outdir):
    env = dict(os.environ)
    env.update(go_env())
    logpath = os.path.join(outdir, "go.log")
    # Three runs of each benchmark, medians kept: one -benchtime 20x run of a millisecond
    # benchmark swung its ratios by ±30% here (the default is now a time: see bench_report.py).
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
