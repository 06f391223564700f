"""Running `cargo bench --bench bpf` (benches/bpf.rs): the `bpf` engine beside the held-fd
`pread` floor and the `sync` and `uring` stat scans, with its one-off load cost. At each process
count it scans this script's idle children (1 thread each, BPF_BENCH_MIXES=0: the bench starts
none); once, the bench starts its own children with 10 and with 50 threads each (2,000 threads in
all). The bench writes JSON lines (BPF_BENCH_JSON); a bpf engine that cannot load, or a bench
that fails, is kept as {"unavailable": reason} and rendered as such, never fatal to the report.
"""

import json
import os
import subprocess

from .common import ROOT, loadavg, log, read
from .spawn import Children, limits_preexec, run_logged

# Threads in all and threads per process of the mixes the bench starts itself.
MIX_THREADS_TOTAL = 2000
MIXES = (10, 50)


def build_bpf():
    subprocess.run(["cargo", "bench", "--bench", "bpf", "--no-run"], cwd=ROOT, check=True)


def read_jsonl(path):
    """The bench's lines: {"load": {...}, "mixes": {threads: {method: row}}, "unavailable": ...,
    "method_unavailable": {method: reason}}."""
    out = {"mixes": {}, "method_unavailable": {}}
    for line in read(path).splitlines():
        try:
            r = json.loads(line)
        except ValueError:
            continue
        kind = r.pop("kind", None)
        if kind == "load":
            out["load"] = r
        elif kind == "unavailable":
            # The library's error reads "bpf engine unavailable: <why>"; the report says
            # "unavailable: <why>".
            out["unavailable"] = r.get("reason", "?").removeprefix("bpf engine unavailable: ")
        elif kind == "method-unavailable":
            out["method_unavailable"][r.get("method", "?")] = r.get("reason", "?").removeprefix("io_uring engine unavailable: ")
        elif kind == "scan":
            out["mixes"].setdefault(str(r["threads"]), {})[r["method"]] = r
    return out


def _run(env_extra, n_limits, outdir, name):
    logpath = os.path.join(outdir, f"{name}.log")
    jsonl = os.path.join(outdir, f"{name}.jsonl")
    if os.path.exists(jsonl):
        os.remove(jsonl)
    env = dict(os.environ)
    env.update({k: str(v) for k, v in env_extra.items()})
    env["BPF_BENCH_JSON"] = jsonl
    load0 = loadavg()
    try:
        secs = run_logged(["cargo", "bench", "--bench", "bpf"], env, ROOT, logpath, limits_preexec(n_limits))
    except (RuntimeError, OSError) as e:
        # Keep what was written before the failure, and why it stopped.
        res = read_jsonl(jsonl)
        res.setdefault("unavailable", f"bench failed: {str(e).splitlines()[0]} (see {os.path.relpath(logpath, ROOT)})")
        log(f"  bpf: {res['unavailable']}")
        return res
    res = read_jsonl(jsonl)
    res.update(seconds=round(secs), load_before=load0, load_after=loadavg())
    if not res["mixes"] and "unavailable" not in res:
        res["unavailable"] = f"the bench wrote no results (see {os.path.relpath(logpath, ROOT)})"
    log(f"  bpf: {res.get('unavailable') or ', '.join(sorted(next(iter(res['mixes'].values()), {})))}")
    return res


def run_bpf(n, args, outdir):
    """1 thread per process: n children of this script (the bench starts none)."""
    try:
        kids = Children(n)
    except (RuntimeError, OSError) as e:
        return {"mixes": {}, "unavailable": f"could not start {n:,} children: {e}"}
    try:
        return _run({"BPF_BENCH_MIXES": 0, "BPF_BENCH_BATCHES": args.bpf_batches, "BPF_BENCH_LOADS": args.bpf_loads},
                    n, outdir, "bpf")
    finally:
        kids.close()


def run_bpf_mixes(args, outdir, total=MIX_THREADS_TOTAL):
    """10 and 50 threads per process, `total` threads in all, children started by the bench."""
    os.makedirs(outdir, exist_ok=True)
    res = _run({"BPF_BENCH_MIXES": ",".join(map(str, MIXES)), "BPF_BENCH_PROCS": total,
                "BPF_BENCH_BATCHES": args.bpf_batches, "BPF_BENCH_LOADS": args.bpf_loads},
               total, outdir, "bpf-mixes")
    res["threads_total"] = total
    return res
