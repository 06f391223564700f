"""Paths of the tree, logging, and small readers of /proc shared by every part.
"""

import os
import re
import time


ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WORK = os.path.join(ROOT, "target", "bench-report")
LIBDIR = os.path.join(ROOT, "target", "release")


def log(msg):
    print(f"[bench-report {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def read(path, default=""):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return default


def meminfo_kb(key):
    m = re.search(rf"^{key}:\s+(\d+)", read("/proc/meminfo"), re.M)
    return int(m.group(1)) if m else 0


def proc_count():
    return sum(1 for d in os.listdir("/proc") if d.isdigit())


def loadavg():
    return read("/proc/loadavg").split()[:3]
