"""Machine facts for the report's header, and whether a run with n more processes fits the
machine's limits.
"""

import datetime
import os
import platform
import re
import resource
import subprocess

from .common import ROOT, meminfo_kb, proc_count, read


def machine():
    model = re.search(r"^model name\s*:\s*(.*)$", read("/proc/cpuinfo"), re.M)

    def version(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT).stdout.strip().splitlines()[0]
        except (OSError, IndexError):
            return "?"

    return {
        "nproc": os.cpu_count(),
        "model": model.group(1).strip() if model else platform.processor() or "?",
        "mem_gib": round(meminfo_kb("MemTotal") / 1048576, 1),
        "kernel": platform.release(),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "rustc": version(["rustc", "--version"]),
        "go": version(["go", "version"]),
        "pid_max": int(read("/proc/sys/kernel/pid_max", "0") or 0),
        "threads_max": int(read("/proc/sys/kernel/threads-max", "0") or 0),
        "io_uring_disabled": read("/proc/sys/kernel/io_uring_disabled", "?").strip(),
    }


def nofile_for(n):
    """RLIMIT_NOFILE for a run with n children: every process's stat/status/io held by a scanner
    and, at the same time, by the floor loop (the bench uses the same rule)."""
    return 8 * (n + proc_count()) + 4096


def check_limits(n):
    """Whether n more processes fit; returns a list of problems (empty: fine)."""
    problems = []
    need = n + proc_count() + 512
    pid_max = int(read("/proc/sys/kernel/pid_max", "0") or 0)
    threads_max = int(read("/proc/sys/kernel/threads-max", "0") or 0)
    if pid_max and need > pid_max:
        problems.append(f"kernel.pid_max {pid_max} < {need} needed")
    if threads_max and need > threads_max:
        problems.append(f"kernel.threads-max {threads_max} < {need} needed")
    soft, hard = resource.getrlimit(resource.RLIMIT_NPROC)
    if soft != resource.RLIM_INFINITY and soft < need and os.geteuid() != 0:
        problems.append(f"RLIMIT_NPROC {soft} < {need} needed (not root)")
    avail_mib = meminfo_kb("MemAvailable") / 1024
    if avail_mib < n * 1.0 + 1024:
        problems.append(f"MemAvailable {avail_mib:.0f} MiB < {n + 1024} MiB wanted (1 MiB per child)")
    nr_open = int(read("/proc/sys/fs/nr_open", "1048576") or 1048576)
    if nofile_for(n) > nr_open:
        problems.append(f"fs.nr_open {nr_open} < {nofile_for(n)} descriptors wanted")
    return problems
