//! The idle `sleep 3600` children every benchmark scans, always killed and reaped.

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Pids of live children, for the `atexit` handler (covers `std::process::exit` anywhere).
static CHILD_PIDS: Mutex<Vec<i32>> = Mutex::new(Vec::new());

extern "C" fn reap_at_exit() {
    let pids = match CHILD_PIDS.lock() {
        Ok(mut g) => std::mem::take(&mut *g),
        Err(p) => std::mem::take(&mut *p.into_inner()),
    };
    for &pid in &pids {
        // SAFETY: plain syscalls on pids that are our own unreaped children.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    for &pid in &pids {
        // SAFETY: reaping our own children; a null status pointer is allowed.
        unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
    }
}

/// The idle children. Dropping kills and reaps them (also on unwind); an `atexit` handler does
/// the same on `process::exit`, and each child has `PR_SET_PDEATHSIG = SIGKILL`, so even a
/// SIGKILLed bench leaves nothing behind.
pub struct Children {
    kids: Vec<Child>,
}

impl Children {
    pub fn spawn(n: usize) -> std::io::Result<Children> {
        // SAFETY: registering a plain extern "C" fn.
        unsafe { libc::atexit(reap_at_exit) };
        let me = std::process::id() as i32;
        let mut c = Children { kids: Vec::with_capacity(n) };
        let t0 = Instant::now();
        for i in 0..n {
            let mut cmd = Command::new("sleep");
            cmd.arg("3600").stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
            // SAFETY: only async-signal-safe calls between fork and exec.
            unsafe {
                cmd.pre_exec(move || {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0);
                    if libc::getppid() != me {
                        libc::_exit(1); // the bench died before the prctl
                    }
                    Ok(())
                });
            }
            let child = cmd.spawn().map_err(|e| {
                std::io::Error::new(e.kind(), format!("spawning child {} of {n}: {e}", i + 1))
            })?;
            CHILD_PIDS.lock().unwrap().push(child.id() as i32);
            c.kids.push(child);
        }
        // Wait until every child has exec'd `sleep` (its comm changes at execve).
        for k in &c.kids {
            let path = format!("/proc/{}/comm", k.id());
            let deadline = Instant::now() + Duration::from_secs(60);
            while std::fs::read(&path).map_or(true, |b| b != b"sleep\n") {
                if Instant::now() > deadline {
                    return Err(std::io::Error::other(format!(
                        "child {} never exec'd sleep",
                        k.id()
                    )));
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        eprintln!("procuring bench: {n} children started in {:.1} s", t0.elapsed().as_secs_f64());
        Ok(c)
    }
}

impl Drop for Children {
    fn drop(&mut self) {
        for k in &mut self.kids {
            let _ = k.kill();
        }
        for k in &mut self.kids {
            let _ = k.wait();
        }
        self.kids.clear();
        if let Ok(mut g) = CHILD_PIDS.lock() {
            g.clear();
        }
    }
}
