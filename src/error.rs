//! The scanner's errors (per-file problems are not errors: they are in each record).

use std::path::PathBuf;

/// Why a scanner could not be created or a scan could not run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The proc root could not be opened.
    Root {
        /// The proc root (`/proc` unless the options name another).
        path: PathBuf,
        /// The `errno` of the failed `open`.
        errno: i32,
    },
    /// Listing the proc root failed.
    List {
        /// The `errno` of the failed `getdents64` (or of re-opening the directory).
        errno: i32,
    },
    /// io_uring was asked for explicitly and cannot be used; the text says why.
    UringUnavailable(String),
    /// The bpf engine was asked for explicitly and cannot be loaded; the text says why.
    BpfUnavailable(String),
    /// An argument was invalid; the text says which.
    InvalidArgument(String),
    /// The snapshot would exceed 4 GiB of text (offsets are 32-bit).
    ArenaFull,
    /// The engine could not complete a scan; the text says why.
    Engine(String),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Root { path, errno } => write!(
                f,
                "cannot open proc root {}: {}",
                path.display(),
                std::io::Error::from_raw_os_error(*errno)
            ),
            Error::List { errno } => {
                write!(f, "cannot list proc root: {}", std::io::Error::from_raw_os_error(*errno))
            }
            Error::UringUnavailable(why) => write!(f, "io_uring engine unavailable: {why}"),
            Error::BpfUnavailable(why) => write!(f, "bpf engine unavailable: {why}"),
            Error::InvalidArgument(why) => write!(f, "invalid argument: {why}"),
            Error::ArenaFull => f.write_str("snapshot text exceeds 4 GiB"),
            Error::Engine(why) => write!(f, "scan failed: {why}"),
        }
    }
}

impl std::error::Error for Error {}
