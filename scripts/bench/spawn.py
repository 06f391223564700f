"""Starting processes: the idle `sleep 3600` children the Go benchmarks scan, the raised
limits every benchmark process runs with, logged commands, and the cgo environment of the
Makefile's GO_ENV.
"""

import hashlib
import os
import resource
import subprocess
import time

from .common import LIBDIR, ROOT, log, proc_count, read
from .machine import nofile_for


def limits_preexec(n):
    """Raises RLIMIT_NOFILE (soft and hard when allowed) and RLIMIT_NPROC in the child."""
    nofile = nofile_for(n)
    nproc_need = n + proc_count() + 4096

    def fn():
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < nofile:
            try:
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, max(hard, nofile)))
            except (ValueError, OSError):
                try:
                    resource.setrlimit(resource.RLIMIT_NOFILE, (min(nofile, hard), hard))
                except (ValueError, OSError):
                    pass
        soft, hard = resource.getrlimit(resource.RLIMIT_NPROC)
        if soft != resource.RLIM_INFINITY and soft < nproc_need:
            try:
                resource.setrlimit(resource.RLIMIT_NPROC, (nproc_need, max(hard, nproc_need)) if hard != resource.RLIM_INFINITY else (nproc_need, hard))
            except (ValueError, OSError):
                pass

    return fn


def run_logged(cmd, env, cwd, logpath, preexec):
    log(f"$ {' '.join(cmd)}  (cwd {os.path.relpath(cwd, ROOT) or '.'}, log {os.path.relpath(logpath, ROOT)})")
    t0 = time.time()
    with open(logpath, "w") as out:
        p = subprocess.run(cmd, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, preexec_fn=preexec)
    dt = time.time() - t0
    if p.returncode != 0:
        tail = read(logpath).splitlines()[-25:]
        raise RuntimeError(f"{cmd[0]} failed with exit code {p.returncode} after {dt:.0f} s:\n" + "\n".join(tail))
    log(f"  done in {dt:.0f} s")
    return dt


def go_env():
    """The cgo environment of the Makefile's GO_ENV: link against target/release, and the
    header's hash in CGO_CFLAGS (part of Go's cache key)."""
    with open(os.path.join(ROOT, "include", "procuring.h"), "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()[:16]
    return {"CGO_LDFLAGS": f"-L{LIBDIR} -Wl,-rpath,{LIBDIR}", "CGO_CFLAGS": f"-g -O2 -DPROCURING_H_SHA={sha}"}


class Children:
    """n idle `sleep 3600` children of this script (PR_SET_PDEATHSIG: they die with it), for the
    Go benchmarks, so that `go test` holds nothing for them: a Go >= 1.23 process keeps a pidfd per
    child it started unless it releases it (go/children_test.go now does), and N of its descriptors
    spent on children left the library's held-descriptor cap (half the limit) short, with identity
    reads failing with EMFILE."""

    def __init__(self, n):
        import ctypes
        import signal

        libc = ctypes.CDLL(None, use_errno=True)
        me = os.getpid()

        def pdeathsig():
            libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
            if os.getppid() != me:
                os._exit(1)

        self.kids = []
        t0 = time.time()
        try:
            for _ in range(n):
                self.kids.append(
                    subprocess.Popen(
                        ["sleep", "3600"],
                        stdin=subprocess.DEVNULL,
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                        preexec_fn=pdeathsig,
                        close_fds=True,
                    )
                )
            for k in self.kids:
                deadline = time.time() + 60
                while read(f"/proc/{k.pid}/comm") != "sleep\n":
                    if time.time() > deadline:
                        raise RuntimeError(f"child {k.pid} never exec'd sleep")
                    time.sleep(0.001)
        except BaseException:
            self.close()
            raise
        log(f"  {n:,} children started in {time.time() - t0:.0f} s")

    def close(self):
        for k in self.kids:
            try:
                k.kill()
            except OSError:
                pass
        for k in self.kids:
            k.wait()
        self.kids = []
