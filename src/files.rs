//! The `/proc/<pid>/*` files the scanner knows how to read, and sets of them.

/// One per-process file. The discriminant is the bit index in a [`FileSet`] and the index into
/// [`crate::ProcRecord::errors`]; it is part of the C ABI and never changes meaning.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProcFile {
    /// `/proc/<pid>/stat`: always read; carries `starttime`, the process identity.
    Stat = 0,
    /// `/proc/<pid>/status`.
    Status = 1,
    /// `/proc/<pid>/io` (needs ptrace-read permission on the target).
    Io = 2,
    /// `/proc/<pid>/comm`.
    Comm = 3,
    /// `/proc/<pid>/cmdline`.
    Cmdline = 4,
    /// `/proc/<pid>/exe` (a symlink, read with `readlinkat`).
    Exe = 5,
    /// `/proc/<pid>/cgroup`.
    Cgroup = 6,
    /// `/proc/<pid>/environ` (needs ptrace-read permission on the target).
    Environ = 7,
    /// `/proc/<pid>/schedstat`: run and wait time in ns of the main thread, and its number of
    /// timeslices. Cheap to generate; with [`crate::Options::reuse_idle_stat`] it decides
    /// whether `stat` must be read again.
    Schedstat = 8,
}

/// Number of file kinds (`PROCURING_FILE_STAT` to `PROCURING_FILE_SCHEDSTAT`; Rust: `ProcFile`),
/// and the length of `procuring_record.errors`.
pub const FILE_COUNT: usize = 9;

impl ProcFile {
    /// Every file, in bit order.
    ///
    /// cbindgen:ignore
    pub const ALL: [ProcFile; FILE_COUNT] = [
        ProcFile::Stat,
        ProcFile::Status,
        ProcFile::Io,
        ProcFile::Comm,
        ProcFile::Cmdline,
        ProcFile::Exe,
        ProcFile::Cgroup,
        ProcFile::Environ,
        ProcFile::Schedstat,
    ];

    /// The file's name under `/proc/<pid>/`.
    pub const fn name(self) -> &'static str {
        match self {
            ProcFile::Stat => "stat",
            ProcFile::Status => "status",
            ProcFile::Io => "io",
            ProcFile::Comm => "comm",
            ProcFile::Cmdline => "cmdline",
            ProcFile::Exe => "exe",
            ProcFile::Cgroup => "cgroup",
            ProcFile::Environ => "environ",
            ProcFile::Schedstat => "schedstat",
        }
    }

    /// Identity files (comm, cmdline, exe, cgroup, environ): read fresh by every scan that asks
    /// for them, unless the opt-in identity cache (procuring_options.identity_cache) serves
    /// them within its staleness contract.
    pub const fn is_identity(self) -> bool {
        matches!(
            self,
            ProcFile::Comm
                | ProcFile::Cmdline
                | ProcFile::Exe
                | ProcFile::Cgroup
                | ProcFile::Environ
        )
    }

    /// First-read buffer size: large enough for the file on every process we have seen; longer
    /// content is re-read in full on a slow path, never truncated.
    pub(crate) const fn initial_capacity(self) -> usize {
        match self {
            ProcFile::Stat => 1024,
            ProcFile::Status => 2048,
            ProcFile::Io => 256,
            ProcFile::Comm => 128,
            ProcFile::Cmdline => 1024,
            ProcFile::Exe => 512,
            ProcFile::Cgroup => 512,
            ProcFile::Environ => 2048,
            ProcFile::Schedstat => 64,
        }
    }

    pub(crate) const fn bit(self) -> u32 {
        1 << (self as u32)
    }

    /// `"<pid>/<name>\0"` into `out` (the file's path relative to a proc root, ready for
    /// `openat`), returning the length including the NUL. No allocation.
    pub fn format_path(self, pid: u32, out: &mut [u8; 32]) -> usize {
        let mut digits = [0u8; 10];
        let mut n = pid;
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        let d = &digits[i..];
        let name = self.name().as_bytes();
        out[..d.len()].copy_from_slice(d);
        out[d.len()] = b'/';
        out[d.len() + 1..d.len() + 1 + name.len()].copy_from_slice(name);
        let end = d.len() + 1 + name.len();
        out[end] = 0;
        end + 1
    }
}

/// A set of [`ProcFile`]s, as a bitmask (`1 << ProcFile as u32`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Hash)]
pub struct FileSet(pub u32);

impl FileSet {
    /// No file.
    pub const EMPTY: FileSet = FileSet(0);
    /// Every file the scanner knows.
    pub const ALL: FileSet = FileSet((1 << FILE_COUNT as u32) - 1);
    /// Only `stat`.
    pub const STAT: FileSet = FileSet(1);
    /// The identity files: comm, cmdline, exe, cgroup, environ.
    pub const IDENTITY: FileSet = FileSet(
        ProcFile::Comm.bit()
            | ProcFile::Cmdline.bit()
            | ProcFile::Exe.bit()
            | ProcFile::Cgroup.bit()
            | ProcFile::Environ.bit(),
    );

    /// The set with `f` added.
    pub const fn with(self, f: ProcFile) -> FileSet {
        FileSet(self.0 | f.bit())
    }
    /// Whether `f` is in the set.
    pub const fn contains(self, f: ProcFile) -> bool {
        self.0 & f.bit() != 0
    }
    /// Files of both sets.
    pub const fn union(self, o: FileSet) -> FileSet {
        FileSet(self.0 | o.0)
    }
    /// Files of `self` that are not in `o`.
    pub const fn minus(self, o: FileSet) -> FileSet {
        FileSet(self.0 & !o.0)
    }
    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
    /// The files in the set, in bit order.
    pub fn iter(self) -> impl Iterator<Item = ProcFile> {
        ProcFile::ALL.into_iter().filter(move |f| self.contains(*f))
    }
}

impl FromIterator<ProcFile> for FileSet {
    fn from_iter<I: IntoIterator<Item = ProcFile>>(iter: I) -> Self {
        iter.into_iter().fold(FileSet::EMPTY, FileSet::with)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        let mut b = [0u8; 32];
        let n = ProcFile::Environ.format_path(4_294_967_295, &mut b);
        assert_eq!(&b[..n], b"4294967295/environ\0");
        let n = ProcFile::Io.format_path(0, &mut b);
        assert_eq!(&b[..n], b"0/io\0");
    }

    #[test]
    fn sets() {
        let s: FileSet = [ProcFile::Stat, ProcFile::Exe].into_iter().collect();
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![ProcFile::Stat, ProcFile::Exe]);
        assert!(FileSet::IDENTITY.contains(ProcFile::Environ));
        assert!(!FileSet::IDENTITY.contains(ProcFile::Stat));
        assert_eq!(FileSet::ALL.0, 0x1ff);
    }
}
