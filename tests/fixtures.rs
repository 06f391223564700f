//! The scanner pointed at hand-written proc trees (tests/fixtures/proc): every field parsed,
//! hostile and garbled files refused per file with a clear error, never a panic.

use procuring::{EngineKind, FileError, FileSet, Options, ProcFile, Scanner, FILE_ERR_PARSE};

fn scan(engine: EngineKind) -> (Scanner, Vec<i32>) {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/proc");
    let mut s = Scanner::new(Options {
        proc_root: root.into(),
        files: FileSet::ALL,
        engine,
        ..Default::default()
    })
    .expect("scanner on fixture tree");
    assert!(!s.is_procfs());
    let pids = s.scan().unwrap().records().iter().map(|r| r.pid).collect();
    (s, pids)
}

fn text(s: &Scanner, r: procuring::StrRef) -> &[u8] {
    s.snapshot().bytes(r)
}

#[test]
fn every_field_of_a_complete_process() {
    for engine in [EngineKind::Sync, EngineKind::Uring] {
        let (s, pids) = scan(engine);
        assert_eq!(pids, vec![100, 101, 102, 103, 104], "non-numeric dirs are skipped");
        let r = *s.snapshot().get(100).unwrap();
        assert_eq!(r.read_mask, FileSet::ALL.0, "{engine:?}: errors {:?}", r.errors);
        assert_eq!(r.errors, [0; procuring::FILE_COUNT]);
        assert_eq!(r.state, b'S');
        let st = r.stat;
        assert_eq!(text(&s, st.comm), b"my proc");
        assert_eq!((st.ppid, st.pgrp, st.session, st.tty, st.tpgid), (1, 100, 100, 34816, 100));
        assert_eq!(st.flags, 4194560);
        assert_eq!((st.minflt, st.cminflt, st.majflt, st.cmajflt), (1523, 4012, 3, 7));
        assert_eq!((st.utime, st.stime, st.cutime, st.cstime), (152, 41, 9, 5));
        assert_eq!((st.priority, st.nice, st.num_threads), (20, 0, 3));
        assert_eq!(
            (st.starttime, st.vsize, st.rss, st.rsslim),
            (123456, 225476608, 3052, u64::MAX)
        );
        assert_eq!(
            (st.startcode, st.endcode, st.startstack),
            (94019101982720, 94019102781089, 140724365307648)
        );
        assert_eq!((st.processor, st.rt_priority, st.policy), (1, 0, 0));
        assert_eq!((st.delayacct_blkio_ticks, st.guest_time, st.cguest_time), (12, 4, 6));
        let ss = r.status;
        assert_eq!(text(&s, ss.name), b"my proc");
        assert_eq!(text(&s, ss.nspids), b"100\t7");
        assert_eq!(text(&s, ss.cpus_allowed_list), b"0-3");
        assert_eq!(ss.tgid, 100);
        assert_eq!(ss.uids, [1000, 1001, 1002, 1003]);
        assert_eq!(ss.gids, [2000, 2001, 2002, 2003]);
        let k = 1024;
        assert_eq!(
            (ss.vm_peak, ss.vm_size, ss.vm_lck, ss.vm_pin),
            (220420 * k, 220192 * k, 4 * k, 8 * k)
        );
        assert_eq!((ss.vm_hwm, ss.vm_rss), (12544 * k, 12208 * k));
        assert_eq!((ss.rss_anon, ss.rss_file, ss.rss_shmem), (3328 * k, 8880 * k, 0));
        assert_eq!(
            (ss.vm_data, ss.vm_stk, ss.vm_exe, ss.vm_lib),
            (4352 * k, 132 * k, 780 * k, 9404 * k)
        );
        assert_eq!(
            (ss.vm_pte, ss.vm_pmd, ss.vm_swap, ss.hugetlb_pages),
            (84 * k, 12 * k, 16 * k, 0)
        );
        assert_eq!((ss.voluntary_ctxt_switches, ss.nonvoluntary_ctxt_switches), (4742, 1727));
        assert_eq!(
            (ss.cap_inh, ss.cap_prm, ss.cap_eff, ss.cap_bnd, ss.cap_amb),
            (0, 1, 2, 0x1ff_ffff_ffff, 3)
        );
        let sc = r.schedstat;
        assert_eq!((sc.run_ns, sc.wait_ns, sc.timeslices), (152000000, 3100000, 4742));
        let io = r.io;
        assert_eq!((io.rchar, io.wchar, io.syscr, io.syscw), (750339, 818609, 7405, 5245));
        assert_eq!((io.read_bytes, io.write_bytes, io.cancelled_write_bytes), (1024, 2048, -1024));
        let snap = s.snapshot();
        assert_eq!(snap.comm(&r), b"my proc");
        assert_eq!(
            snap.cmdline_args(&r).collect::<Vec<_>>(),
            vec![&b"/usr/bin/my proc"[..], b"--flag", b"a b\nc"]
        );
        assert_eq!(text(&s, r.exe), b"/usr/bin/my proc (deleted)");
        assert_eq!(
            snap.environ_vars(&r).collect::<Vec<_>>(),
            vec![&b"PATH=/bin"[..], b"HOME=/root"]
        );
        let cg: Vec<_> = snap.cgroups(&r).map(Result::unwrap).collect();
        assert_eq!(cg.len(), 2);
        assert_eq!(
            (cg[0].hierarchy_id, cg[0].controllers, cg[0].path),
            (12, &b"cpu,cpuacct"[..], &b"/system.slice/a:b"[..])
        );
        assert_eq!((cg[1].hierarchy_id, cg[1].path), (0, &b"/system.slice/my.service"[..]));
    }
}

#[test]
fn hostile_comm_and_future_fields() {
    let (s, _) = scan(EngineKind::Sync);
    let r = *s.snapshot().get(101).unwrap();
    assert!(r.has(ProcFile::Stat) && r.has(ProcFile::Status), "errors {:?}", r.errors);
    assert_eq!(text(&s, r.stat.comm), b"a) (b\n");
    assert_eq!(r.state, b'R');
    assert_eq!((r.stat.ppid, r.stat.starttime, r.stat.rss), (100, 200000, 10));
    assert_eq!(text(&s, r.status.name), b"a) (b\\n", "kernel escaping kept as is");
    assert_eq!(s.snapshot().comm(&r), b"a) (b\n", "only the final newline is the file's");
    assert_eq!(
        s.snapshot().cmdline_args(&r).count(),
        0,
        "empty cmdline: no args (kernel thread, zombie)"
    );
    assert_eq!(r.error(ProcFile::Io), Some(FileError::Gone(libc::ENOENT)));
    assert_eq!(r.error(ProcFile::Exe), None, "no exe link: empty path, as procfs");
    assert!(r.has(ProcFile::Exe) && r.exe.len == 0);
}

#[test]
fn garbled_files_are_per_file_errors() {
    let (s, _) = scan(EngineKind::Sync);
    let r = *s.snapshot().get(102).unwrap();
    assert_eq!(r.errors[ProcFile::Stat as usize], FILE_ERR_PARSE);
    assert_eq!(r.error(ProcFile::Stat), Some(FileError::Parse));
    assert!(!r.has(ProcFile::Stat));
    assert_eq!(r.stat, Default::default(), "a refused file leaves no half-parsed field");
    assert_eq!(r.errors[ProcFile::Io as usize], FILE_ERR_PARSE, "io missing keys");
    assert_eq!(r.errors[ProcFile::Cgroup as usize], FILE_ERR_PARSE);
    assert!(r.has(ProcFile::Status), "a status cut after a whole line still parses");
    assert_eq!(r.status.tgid, 10);
    assert!(r.has(ProcFile::Comm) && r.comm.len == 0);

    let r = *s.snapshot().get(103).unwrap();
    assert_eq!(r.errors[ProcFile::Stat as usize], FILE_ERR_PARSE, "stat cut before starttime");
    assert_eq!(
        r.errors[ProcFile::Status as usize],
        FILE_ERR_PARSE,
        "malformed size is refused, not 0"
    );
    assert_eq!(r.status, Default::default());
    assert_eq!(r.comm.len, 65537, "64 KiB comm read in full past the first buffer");
    assert_eq!(r.cmdline.len, 100001, "long cmdline never truncated");
    assert!(s.snapshot().stats().overflows >= 2);
}

#[test]
fn missing_files_and_a_lonely_stat() {
    let (s, _) = scan(EngineKind::Uring);
    let r = *s.snapshot().get(104).unwrap();
    assert!(r.has(ProcFile::Stat));
    assert_eq!(s.snapshot().comm(&r), b"lonely", "without a comm file, the stat comm");
    for f in [
        ProcFile::Status,
        ProcFile::Io,
        ProcFile::Comm,
        ProcFile::Cmdline,
        ProcFile::Cgroup,
        ProcFile::Environ,
    ] {
        assert_eq!(r.error(f), Some(FileError::Gone(libc::ENOENT)), "{f:?}");
    }
}

#[test]
fn engines_agree_on_fixtures() {
    let (a, _) = scan(EngineKind::Sync);
    let (b, _) = scan(EngineKind::Uring);
    let (sa, sb) = (a.snapshot(), b.snapshot());
    assert_eq!(sa.records(), sb.records());
    assert_eq!(sa.arena(), sb.arena());
}

#[test]
fn missing_root_is_a_clear_error() {
    let e = Scanner::new(Options { proc_root: "/nonexistent/proc".into(), ..Default::default() })
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "cannot open proc root /nonexistent/proc: No such file or directory (os error 2)"
    );
    let e = Scanner::new(Options { proc_root: "/etc/hostname".into(), ..Default::default() })
        .unwrap_err();
    assert!(e.to_string().contains("Not a directory"), "{e}");
}
