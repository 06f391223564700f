"""The saved results (results.json) and what the report computes from them: medians per scan,
per process (divided by the processes the benchmark's scans saw), and the floors each group is
compared with.
"""

import re


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

    def bpf(self, n):
        """The bpf bench at n children, 1 thread each (scripts/bench/bpfbench.py), or None."""
        return self.run(n).get("bpf")

    def bpf_row(self, n, method):
        """One method's row of the bpf bench at n children (mix 0: the report's children)."""
        return ((self.bpf(n) or {}).get("mixes", {}).get("0", {})).get(method)

    def bpf_cpu(self, n, method, unit="cpu_ns"):
        r = self.bpf_row(n, method)
        return r.get(unit) if r else None

    def bpf_pp(self, n, method):
        """CPU per process (ns) of a bpf bench method, over the processes present at its start."""
        r = self.bpf_row(n, method)
        return div(r["cpu_ns"], r.get("procs")) if r else None

    def bpf_mixes(self):
        """The bench's own 10- and 50-thread children (once per report), or None."""
        return self.r.get("bpf_mixes")

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


# Each Rust group's floor (benches/scan/variants.rs): the syscalls the kernel serves anyway.
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
