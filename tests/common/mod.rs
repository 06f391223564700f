//! Shared by the integration tests that must run a test's body in a process of its own (setuid,
//! seccomp filters, rlimits, fd and RSS accounting): the test binary re-executes itself with
//! `--exact <name>` and an environment variable naming the test, the child recognises itself by
//! that variable and runs the body, and the parent fails unless the child passed and printed
//! `CHILD-DONE <name>`. Also the `sleep` children such tests scan. Included with `mod common;`.

#![allow(dead_code)]

use std::io::Read;
use std::os::unix::process::CommandExt as _;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How the parent echoes a child's output.
#[derive(Clone, Copy)]
pub enum Echo {
    /// stdout then stderr, under one header.
    Together,
    /// stdout under a header with the child's run time, then stderr under its own header if
    /// it is not blank.
    Split,
}

/// The re-exec harness of one test binary.
pub struct Reexec {
    /// The variable set to the test's name in the child: how the child knows it is one.
    pub var: &'static str,
    pub echo: Echo,
}

impl Reexec {
    /// Whether this process is the re-executed child that must run the body of test `name`.
    pub fn is_child(&self, name: &str) -> bool {
        std::env::var(self.var).is_ok_and(|v| v == name)
    }

    /// Runs test `name` of this binary in a child process (which sees `var=name` and `env`),
    /// echoes its output, and fails unless the child passed and printed `CHILD-DONE name`. The
    /// child is killed after `timeout`.
    pub fn run_in_child(&self, name: &str, env: &[(&str, String)], timeout: Duration) {
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.args([name, "--exact", "--nocapture", "--test-threads=1", "--include-ignored"])
            .env(self.var, name)
            .envs(env.iter().map(|(k, v)| (*k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let t_out = drain(child.stdout.take().unwrap());
        let t_err = drain(child.stderr.take().unwrap());
        let t0 = Instant::now();
        let status = loop {
            if let Some(st) = child.try_wait().unwrap() {
                break Some(st);
            }
            if t0.elapsed() > timeout {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let (out, err) = (t_out.join().unwrap(), t_err.join().unwrap());
        match self.echo {
            Echo::Together => println!("---- child {name} ----\n{out}{err}"),
            Echo::Split => {
                println!(
                    "---- child {name} ({:.1} s) stdout ----\n{out}",
                    t0.elapsed().as_secs_f64()
                );
                if !err.trim().is_empty() {
                    println!("---- child {name} stderr ----\n{err}");
                }
            }
        }
        let status = status.unwrap_or_else(|| panic!("child {name} timed out after {timeout:?}"));
        assert!(status.success(), "child {name} failed: {status}");
        assert!(out.contains(&format!("CHILD-DONE {name}")), "child {name} did not run its body");
    }
}

/// Reads `r` to its end on a thread of its own (so that neither pipe of a child fills up).
fn drain(mut r: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut s = String::new();
        let _ = r.read_to_string(&mut s);
        s
    })
}

/// Children killed and reaped on drop, whatever happens (panics included).
pub struct Kids(pub Vec<Child>);
impl Drop for Kids {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
        }
        for c in &mut self.0 {
            let _ = c.wait();
        }
    }
}

/// `sleep 600` that also dies with the thread that spawned it (PR_SET_PDEATHSIG), so a child
/// test killed on timeout leaves no orphan.
pub fn sleeper() -> Child {
    sleeper_as(None)
}

/// [`sleeper`] running as user and group `uid` (when given; needs root). A parent that drops
/// to that user can still kill it, and its death signal still reaches it: the kernel sends
/// PR_SET_PDEATHSIG with the dying parent's credentials, so a parent turned nobody leaves
/// root children orphaned.
#[allow(dead_code)] // not every test binary uses it
pub fn sleeper_as(uid: Option<u32>) -> Child {
    let mut c = Command::new("/bin/sleep");
    c.arg("600").stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
    if let Some(u) = uid {
        c.uid(u).gid(u);
    }
    // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        c.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    c.spawn().expect("spawn sleep")
}

/// Reports that the running test skips its checks (`why`), on stdout and in
/// `target/tmp/skipped-tests.txt`, which `make test` prints at the end: a skipped test passes,
/// and without this list a CI with fewer privileges would look green for checks it never ran.
pub fn skip(why: impl std::fmt::Display) {
    println!("skipped: {why}");
    let test = std::thread::current().name().unwrap_or("?").to_string();
    let line = format!("{test}: {why}\n");
    let path = concat!(env!("CARGO_TARGET_TMPDIR"), "/skipped-tests.txt");
    let _ = std::fs::OpenOptions::new().create(true).append(true).open(path).and_then(|mut f| {
        use std::io::Write as _;
        f.write_all(line.as_bytes())
    });
}
