"""Reading the benchmarks' output: criterion's estimates.json files and the bench's
procuring-summary.json, and `go test -bench` lines.
"""

import json
import os
import re


def read_criterion(crit):
    """Estimates (mean, median, mean's confidence interval; ns) of every benchmark under the
    criterion directory `crit`, by full id (`wall/stat/sync/held`), and the bench's summary:
    `meta` (processes, limits, memory probes) and `seen` (processes each benchmark's scans saw)."""
    res = {"bench": {}}
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
