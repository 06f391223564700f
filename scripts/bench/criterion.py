"""Running the criterion benches (`cargo bench --bench scan`) for one process count; the bench
starts its own children (PROCURING_BENCH_PROCS).
"""

import os
import shutil
import subprocess

from .common import LIBDIR, ROOT, loadavg, log
from .parse import read_criterion
from .spawn import limits_preexec, run_logged


def build():
    log("building the library (cargo build --release --lib) and the bench")
    subprocess.run(["cargo", "build", "--release", "--lib"], cwd=ROOT, check=True)
    so0 = os.path.join(LIBDIR, "libprocuring.so.0")
    if not os.path.exists(so0):
        os.symlink("libprocuring.so", so0)
    subprocess.run(["cargo", "bench", "--bench", "scan", "--no-run"], cwd=ROOT, check=True)


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
    res = {"seconds": round(secs), "load_before": load0, "load_after": loadavg()}
    res.update(read_criterion(crit))
    log(f"  rust: {len(res['bench'])} estimates, {res['meta'].get('procs', '?')} processes per scan")
    return res
