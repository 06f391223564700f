//! The io_uring engine. Per request: a held direct descriptor is read at offset 0 (`READ` on a
//! fixed file); otherwise `OPENAT` into a free direct-descriptor slot (no `O_CLOEXEC`: the
//! kernel refuses it there), then `READ`, then `CLOSE` unless the slot is to be held, chained
//! with `IOSQE_IO_HARDLINK` (procfs reads are always short, and a short read would cancel the
//! rest of a plain `IO_LINK` chain, leaking the slot).
//!
//! Procfs files lack `FMODE_NOWAIT`, so every `READ` is punted to an io-wq worker: see the
//! README for what that costs against `pread`.

use std::os::fd::RawFd;

use io_uring::{opcode, squeue, types, IoUring, Probe};

use super::{Engine, Failure, Handle, Req, NO_HANDLE};

/// Tuning of the io_uring engine (every variant measured by the benches).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UringOptions {
    /// Requests per submission (each is 1 to 3 SQEs).
    pub batch: u32,
    /// Set `IOSQE_ASYNC` on reads so io-wq fans them out to up to `iowq_workers` threads.
    pub async_reads: bool,
    /// io-wq bounded-worker cap when `async_reads` (0: the number of CPUs; at most `INT_MAX`).
    pub iowq_workers: u32,
    /// `IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN`. Then every scan must run on
    /// the thread that created the scanner (not true of goroutines; off by default).
    pub single_issuer: bool,
}

impl Default for UringOptions {
    fn default() -> Self {
        UringOptions { batch: 256, async_reads: false, iowq_workers: 0, single_issuer: false }
    }
}

const OP_OPEN: u64 = 0;
const OP_READ: u64 = 1;
const OP_CLOSE: u64 = 2;

pub(crate) struct UringEngine {
    ring: IoUring,
    opts: UringOptions,
    /// Free direct-descriptor slots.
    free: Vec<u32>,
    /// Per request of the running chunk: its transient/new slot and its OPENAT result.
    slot_of: Vec<u32>,
    open_res: Vec<i32>,
    paths: Vec<[u8; 32]>,
    /// Extra `OPENAT` flags (`O_NONBLOCK` under a root that is not procfs).
    open_flags: i32,
    /// Set when a batch failed: requests may be in flight, so no other batch may start.
    broken: Option<String>,
}

/// How long `io_uring_enter` may keep failing before a batch is given up: `EINTR` (a signal)
/// is retried without limit; any other error counts, and the count resets whenever a
/// completion arrives. Each counted failure sleeps `PAUSE`, so a batch gives up after about
/// `LIMIT * PAUSE` (1 s) without progress.
#[derive(Debug, Default)]
struct Patience {
    stuck: u32,
}

impl Patience {
    const LIMIT: u32 = 10_000;
    const PAUSE: std::time::Duration = std::time::Duration::from_micros(100);

    /// After a failure with `errno`: whether to try again.
    fn failed(&mut self, errno: i32) -> bool {
        if errno == libc::EINTR {
            return true;
        }
        self.stuck += 1;
        self.stuck <= Self::LIMIT
    }

    fn progress(&mut self) {
        self.stuck = 0;
    }
}

fn describe(call: &str, e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(libc::EPERM) => {
            format!("{call}: EPERM (blocked by seccomp or kernel.io_uring_disabled=2)")
        }
        Some(libc::ENOSYS) => {
            format!("{call}: ENOSYS (kernel without io_uring, or blocked by seccomp)")
        }
        Some(libc::EACCES) => {
            format!("{call}: EACCES (kernel.io_uring_disabled=1 and not in io_uring_group)")
        }
        Some(libc::EINVAL) => {
            format!("{call}: EINVAL (kernel too old for the features this engine needs)")
        }
        _ => format!("{call}: {e}"),
    }
}

impl UringEngine {
    /// Sets up a ring with a sparse table of `slots` direct descriptors. The error is the
    /// human-readable reason io_uring cannot be used here.
    pub(crate) fn new(
        opts: UringOptions,
        slots: u32,
        open_flags: i32,
    ) -> Result<UringEngine, String> {
        if opts.batch == 0 {
            return Err("io_uring: batch must be at least 1".into());
        }
        let batch = opts.batch.min(8192);
        let entries = (batch * 3).next_power_of_two().min(32768);
        let mut b = IoUring::builder();
        // SUBMIT_ALL: a request that fails at submission must not stop the rest of the batch
        // (we wait for exactly as many completions as we queued).
        b.setup_submit_all();
        if opts.single_issuer {
            b.setup_single_issuer().setup_defer_taskrun();
        }
        let ring = b.build(entries).map_err(|e| describe("io_uring_setup", &e))?;
        let mut probe = Probe::new();
        ring.submitter()
            .register_probe(&mut probe)
            .map_err(|e| describe("io_uring_register(PROBE)", &e))?;
        for (code, name) in [
            (opcode::OpenAt::CODE, "OPENAT"),
            (opcode::Read::CODE, "READ"),
            (opcode::Close::CODE, "CLOSE"),
        ] {
            if !probe.is_supported(code) {
                return Err(format!("io_uring: opcode {name} not supported by this kernel"));
            }
        }
        let slots = slots.max(1);
        ring.submitter()
            .register_files_sparse(slots)
            .map_err(|e| describe("io_uring_register(FILES_SPARSE)", &e))?;
        if opts.async_reads {
            let n =
                if opts.iowq_workers == 0 { crate::sys::cpu_count() } else { opts.iowq_workers };
            let mut max = [n, n];
            ring.submitter()
                .register_iowq_max_workers(&mut max)
                .map_err(|e| describe("io_uring_register(IOWQ_MAX_WORKERS)", &e))?;
        }
        Ok(UringEngine {
            ring,
            opts: UringOptions { batch, ..opts },
            free: (0..slots).rev().collect(),
            slot_of: Vec::with_capacity(batch as usize),
            open_res: Vec::with_capacity(batch as usize),
            paths: vec![[0; 32]; batch as usize],
            open_flags,
            broken: None,
        })
    }

    /// Queues requests from `start` (as many as fit) and waits for all of their completions.
    /// Returns the index of the first request not queued.
    fn run_chunk(
        &mut self,
        root: RawFd,
        reqs: &mut [Req],
        start: usize,
        buf: &mut [u8],
    ) -> Result<usize, Failure> {
        self.slot_of.clear();
        self.open_res.clear();
        let read_flags =
            if self.opts.async_reads { squeue::Flags::ASYNC } else { squeue::Flags::empty() };
        let mut expected = 0usize;
        let mut i = start;
        {
            let mut sq = self.ring.submission();
            while i < reqs.len() && i - start < self.opts.batch as usize {
                let r = &reqs[i];
                let held = r.held != NO_HANDLE;
                let need = if held {
                    1
                } else if r.keep {
                    2
                } else {
                    3
                };
                if sq.capacity() - sq.len() < need || (!held && self.free.is_empty()) {
                    break;
                }
                let k = (i - start) as u64;
                // The buffer slice of this request; it stays borrowed until every completion of
                // this chunk has been reaped below.
                let dst = buf[r.off as usize..(r.off + r.cap) as usize].as_mut_ptr();
                let mut entries: [Option<squeue::Entry>; 3] = [None, None, None];
                if held {
                    self.slot_of.push(r.held);
                    entries[0] = Some(
                        opcode::Read::new(types::Fixed(r.held), dst, r.cap)
                            .offset(0)
                            .build()
                            .flags(read_flags)
                            .user_data(k << 2 | OP_READ),
                    );
                } else {
                    let slot = self.free.pop().unwrap_or(0);
                    self.slot_of.push(slot);
                    let path = &mut self.paths[i - start];
                    r.file.format_path(r.pid, path);
                    let dest = types::DestinationSlot::try_from_slot_target(slot).ok();
                    entries[0] = Some(
                        opcode::OpenAt::new(types::Fd(root), path.as_ptr().cast())
                            .flags(libc::O_RDONLY | self.open_flags)
                            .file_index(dest)
                            .build()
                            .flags(squeue::Flags::IO_HARDLINK)
                            .user_data(k << 2 | OP_OPEN),
                    );
                    let link =
                        if r.keep { squeue::Flags::empty() } else { squeue::Flags::IO_HARDLINK };
                    entries[1] = Some(
                        opcode::Read::new(types::Fixed(slot), dst, r.cap)
                            .offset(0)
                            .build()
                            .flags(read_flags | link)
                            .user_data(k << 2 | OP_READ),
                    );
                    if !r.keep {
                        entries[2] = Some(
                            opcode::Close::new(types::Fixed(slot))
                                .build()
                                .user_data(k << 2 | OP_CLOSE),
                        );
                    }
                }
                self.open_res.push(0);
                for e in entries.into_iter().flatten() {
                    // SAFETY: the path (self.paths) and the destination buffer (`buf`) outlive
                    // the request: this function reaps every completion before returning, and
                    // neither is touched until then. Capacity was checked above.
                    unsafe { sq.push(&e).unwrap_or_default() };
                    expected += 1;
                }
                i += 1;
            }
        }
        if i == start {
            // Nothing fits: no free slot (cannot happen while the scanner keeps held slots under
            // the table size, but never spin). Refuse this one request.
            reqs[i].res = -libc::EMFILE;
            return Ok(i + 1);
        }
        self.reap(expected, start, reqs)?;
        self.finish_chunk(start, i, reqs);
        Ok(i)
    }

    /// Submits and waits until `expected` completions have been reaped. Requests in flight own
    /// the buffers, so this returns early only when `io_uring_enter` keeps failing (see
    /// `Patience`); the failure then says whether some may still be in flight.
    fn reap(&mut self, mut expected: usize, start: usize, reqs: &mut [Req]) -> Result<(), Failure> {
        let total = expected;
        let mut patience = Patience::default();
        while expected > 0 {
            if let Err(e) = self.ring.submit_and_wait(1) {
                let errno = e.raw_os_error().unwrap_or(libc::EIO);
                if !patience.failed(errno) {
                    // Nothing is in flight only if the kernel took none of this batch's entries.
                    let in_flight = expected < total || self.ring.submission().len() < total;
                    let why = format!("io_uring_enter keeps failing: {e}");
                    self.broken = Some(why.clone());
                    return Err(Failure { why, in_flight });
                }
                if errno != libc::EINTR {
                    std::thread::sleep(Patience::PAUSE);
                }
                if errno != libc::EBUSY {
                    continue;
                }
            }
            for cqe in self.ring.completion() {
                patience.progress();
                expected -= 1;
                let k = (cqe.user_data() >> 2) as usize;
                match cqe.user_data() & 3 {
                    OP_OPEN => self.open_res[k] = cqe.result().min(0),
                    OP_READ => reqs[start + k].res = cqe.result(),
                    _ => {}
                }
            }
        }
        Ok(())
    }

    fn finish_chunk(&mut self, start: usize, end: usize, reqs: &mut [Req]) {
        for (k, r) in reqs[start..end].iter_mut().enumerate() {
            if r.held != NO_HANDLE {
                continue;
            }
            let slot = self.slot_of[k];
            if self.open_res[k] < 0 {
                r.res = self.open_res[k];
                self.free.push(slot);
            } else if r.keep && r.res >= 0 {
                r.new_held = slot;
            } else if r.keep {
                self.release(slot);
            } else {
                self.free.push(slot);
            }
        }
    }
}

impl Engine for UringEngine {
    fn read(&mut self, root: RawFd, reqs: &mut [Req], buf: &mut [u8]) -> Result<(), Failure> {
        if let Some(why) = &self.broken {
            return Err(Failure {
                why: format!("io_uring ring unusable since: {why}"),
                in_flight: false,
            });
        }
        let mut start = 0;
        while start < reqs.len() {
            start = self.run_chunk(root, reqs, start, buf)?;
        }
        Ok(())
    }

    fn chunk(&self) -> usize {
        self.opts.batch as usize
    }

    fn release(&mut self, h: Handle) {
        // Clearing the slot closes the file; on failure the slot is not reused (never aliased).
        if self.ring.submitter().register_files_update(h, &[-1]).is_ok() {
            self.free.push(h);
        }
    }

    fn release_on_drop(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_never_exhaust_patience() {
        let mut p = Patience::default();
        for _ in 0..1_000_000 {
            assert!(p.failed(libc::EINTR));
        }
        assert_eq!(p.stuck, 0);
    }

    #[test]
    fn other_failures_give_up_unless_completions_arrive() {
        let mut p = Patience::default();
        for _ in 0..Patience::LIMIT {
            assert!(p.failed(libc::EAGAIN));
        }
        p.progress();
        for _ in 0..Patience::LIMIT {
            assert!(p.failed(libc::EEXIST));
        }
        assert!(!p.failed(libc::EEXIST), "gives up: the batch fails with an error");
    }
}
