//! # procuring
//!
//! Scans every process in `/proc` in batches and returns flat, C-layout records
//! ([`ProcRecord`]) plus one text arena, with a stable C ABI on top (see `include/procuring.h`).
//!
//! ```no_run
//! use procuring::{Options, Scanner};
//! let mut s = Scanner::new(Options::default())?;
//! let snap = s.scan()?;
//! for r in snap.records() {
//!     println!("{} {} {}", r.pid, String::from_utf8_lossy(snap.comm(r)), r.cpu_ticks());
//! }
//! # Ok::<(), procuring::Error>(())
//! ```
//!
//! Per process it reads `stat` always, and the files of [`Options::files`]: `status`, `io`
//! (re-read every scan, through descriptors held open across scans), and the identity files
//! `comm`, `cmdline`, `exe`, `cgroup`, `environ` (read in every scan that asks for them; served
//! from a bounded, exec-checked cache only with [`Options::identity_cache`]). Each record says
//! what was read (`read_mask`) and, per file that failed, why (`errors`): a field is never
//! silently zero.
//!
//! Engines: `sync` (`openat`/`pread`), `uring` (io_uring with direct descriptors) and `auto`
//! (the measured winner, `sync` on the kernels we measured; see the README).
//!
//! Thread-safety: a [`Scanner`] is `Send`, not `Sync`: one thread at a time.

#![warn(missing_docs)]
#![warn(missing_debug_implementations)]

pub mod engine;
mod error;
pub mod ffi;
mod files;
mod forks;
mod options;
pub mod parse;
mod pids;
mod record;
mod scanner;
mod sys;
mod table;

pub use engine::uring::UringOptions;
pub use engine::EngineKind;
pub use error::Error;
pub use files::{FileSet, ProcFile, FILE_COUNT};
pub use options::{Options, ScanFlags};
pub use record::{
    FileError, IoFields, ProcRecord, ScanStats, SchedstatFields, Snapshot, StatFields, StatHead,
    StatusFields, StrRef, EXTRA_RUNTIME_NS, FILE_ERR_PARSE, STAT_UNSET_CODE_ADDRS,
};
pub use scanner::{FlatWalk, Scanner};
