//! Engines: how a batch of `/proc/<pid>/<file>` reads reaches the kernel. Both engines take the
//! same requests and fill the same buffer, so every record is identical whichever ran.

use std::os::fd::RawFd;

use crate::files::ProcFile;

pub(crate) mod bpf;
pub(crate) mod sync;
pub(crate) mod uring;

/// An engine-specific handle to a held descriptor: an fd (sync) or a direct-descriptor slot
/// (uring). [`NO_HANDLE`] is none.
pub(crate) type Handle = u32;
pub(crate) const NO_HANDLE: Handle = u32::MAX;

/// Which engine to use, or which ran.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum EngineKind {
    /// Choose by the measured rule (see the README): `bpf` when it loads (CAP_BPF + CAP_PERFMON
    /// or CAP_SYS_ADMIN, kernel BTF, a procfs root of the initial pid namespace without
    /// `hidepid`), else `sync`, since every io_uring read of procfs is punted to an io-wq worker
    /// and costs more CPU than a `pread` (re-measured by the benches). The engine reason says
    /// which ran and why.
    #[default]
    Auto = 0,
    /// io_uring: batched `OPENAT` into direct descriptors, `READ`, `CLOSE`, hard-linked.
    Uring = 1,
    /// Plain `openat`/`pread`/`close`.
    Sync = 2,
    /// A BPF program walks every task once per scan and returns `stat` in binary (needs
    /// CAP_BPF + CAP_PERFMON and kernel BTF); other files are read with `sync`. The program is
    /// loaded once per process and shared by its scanners.
    Bpf = 3,
}

impl EngineKind {
    /// `"auto"`, `"uring"`, `"sync"` or `"bpf"`.
    pub const fn name(self) -> &'static str {
        match self {
            EngineKind::Auto => "auto",
            EngineKind::Uring => "uring",
            EngineKind::Sync => "sync",
            EngineKind::Bpf => "bpf",
        }
    }
}

impl std::str::FromStr for EngineKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(EngineKind::Auto),
            "uring" => Ok(EngineKind::Uring),
            "sync" => Ok(EngineKind::Sync),
            "bpf" => Ok(EngineKind::Bpf),
            _ => Err(format!("unknown engine {s:?} (expected auto, uring, sync or bpf)")),
        }
    }
}

/// One file of one process to read into `buf[off..off + cap]`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Req {
    /// Index of the process in the scan.
    pub entry: u32,
    pub pid: u32,
    pub file: ProcFile,
    /// Read through this held handle (offset 0), or open the file if [`NO_HANDLE`].
    pub held: Handle,
    /// After opening, keep the descriptor and return it in `new_held`.
    pub keep: bool,
    pub off: u32,
    pub cap: u32,
    /// Bytes read (>= 0) or `-errno`.
    pub res: i32,
    /// The handle opened and kept (when `keep` and the read succeeded).
    pub new_held: Handle,
}

impl Req {
    pub(crate) fn new(entry: u32, pid: u32, file: ProcFile, held: Handle, keep: bool) -> Req {
        Req { entry, pid, file, held, keep, off: 0, cap: 0, res: 0, new_held: NO_HANDLE }
    }
}

/// Why an engine could not complete a batch.
#[derive(Debug)]
pub(crate) struct Failure {
    /// What failed, for the error message.
    pub why: String,
    /// Requests may still be in flight in the kernel: the buffer passed to `read` must never
    /// be freed or reused (the scanner leaks it), and the engine refuses every later batch.
    pub in_flight: bool,
}

/// What an engine does.
pub(crate) trait Engine: Send {
    /// Performs every request; each ends with `res` set (and `new_held` for kept opens). An
    /// error leaves the requests' results unspecified.
    fn read(&mut self, root: RawFd, reqs: &mut [Req], buf: &mut [u8]) -> Result<(), Failure>;
    /// Requests per call of [`Engine::read`]: their buffers are reused by the next call.
    fn chunk(&self) -> usize;
    /// Gives back a handle returned in `new_held` earlier.
    fn release(&mut self, h: Handle);
    /// Whether held handles must be released one by one when the scanner is dropped (false
    /// when dropping the engine frees them all, as the io_uring file table does).
    fn release_on_drop(&self) -> bool {
        true
    }
}
