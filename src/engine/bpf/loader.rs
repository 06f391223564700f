//! A minimal pure-Rust loader for procuring's one BPF program: parses the ELF object, applies the
//! CO-RE field-offset relocations against the running kernel's BTF
//! (`/sys/kernel/btf/vmlinux`), resolves the kfunc calls to their BTF ids, creates the output
//! map and loads the program through the raw `bpf()` syscall. No libbpf, libelf or zlib: the
//! static library stays self-contained. It handles exactly what `bpf/procuring.bpf.c` uses
//! (field byte offsets, `.maps` references, kfunc calls, one program section) and refuses
//! anything else with a reason.

use std::os::fd::{FromRawFd, OwnedFd, RawFd};

const BTF_KIND_INT: u32 = 1;
const BTF_KIND_PTR: u32 = 2;
const BTF_KIND_ARRAY: u32 = 3;
const BTF_KIND_STRUCT: u32 = 4;
const BTF_KIND_UNION: u32 = 5;
const BTF_KIND_ENUM: u32 = 6;
const BTF_KIND_TYPEDEF: u32 = 8;
const BTF_KIND_VOLATILE: u32 = 9;
const BTF_KIND_CONST: u32 = 10;
const BTF_KIND_RESTRICT: u32 = 11;
const BTF_KIND_FUNC: u32 = 12;
const BTF_KIND_FUNC_PROTO: u32 = 13;
const BTF_KIND_VAR: u32 = 14;
const BTF_KIND_DATASEC: u32 = 15;
const BTF_KIND_DECL_TAG: u32 = 17;
const BTF_KIND_TYPE_TAG: u32 = 18;
const BTF_KIND_ENUM64: u32 = 19;

fn u16_at(b: &[u8], o: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(o..o + 2)?.try_into().ok()?))
}
fn u32_at(b: &[u8], o: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(o..o + 4)?.try_into().ok()?))
}
fn u64_at(b: &[u8], o: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(o..o + 8)?.try_into().ok()?))
}
fn cstr(b: &[u8], o: usize) -> &[u8] {
    let s = b.get(o..).unwrap_or(&[]);
    &s[..s.iter().position(|&c| c == 0).unwrap_or(s.len())]
}

/// A parsed BTF blob (the object's `.BTF` or the kernel's).
pub(crate) struct Btf<'a> {
    types: &'a [u8],
    strs: &'a [u8],
    /// Offset in `types` of each type id (index 0: void, unused).
    offs: Vec<u32>,
    /// Named structs, unions and functions by name, built on first use.
    index: std::cell::OnceCell<Index<'a>>,
}

/// Name -> (kind, id) of the named structs, unions and functions.
type Index<'a> = std::collections::HashMap<&'a [u8], Vec<(u32, u32)>>;

impl<'a> Btf<'a> {
    pub(crate) fn parse(b: &'a [u8]) -> Result<Btf<'a>, String> {
        let bad = || "malformed BTF".to_string();
        if u16_at(b, 0) != Some(0xeb9f) {
            return Err("BTF: bad magic (big-endian or not BTF)".into());
        }
        let hdr = u32_at(b, 4).ok_or_else(bad)? as usize;
        let (to, tl) = (u32_at(b, 8).ok_or_else(bad)? as usize, u32_at(b, 12).ok_or_else(bad)?);
        let (so, sl) = (u32_at(b, 16).ok_or_else(bad)? as usize, u32_at(b, 20).ok_or_else(bad)?);
        let types = b.get(hdr + to..hdr + to + tl as usize).ok_or_else(bad)?;
        let strs = b.get(hdr + so..hdr + so + sl as usize).ok_or_else(bad)?;
        let mut offs = vec![0u32];
        let mut o = 0usize;
        while o < types.len() {
            offs.push(o as u32);
            let info = u32_at(types, o + 4).ok_or_else(bad)?;
            let vlen = (info & 0xffff) as usize;
            o += 12
                + match (info >> 24) & 0x1f {
                    BTF_KIND_INT | BTF_KIND_VAR | BTF_KIND_DECL_TAG => 4,
                    BTF_KIND_ARRAY => 12,
                    BTF_KIND_STRUCT | BTF_KIND_UNION | BTF_KIND_DATASEC | BTF_KIND_ENUM64 => {
                        12 * vlen
                    }
                    BTF_KIND_ENUM | BTF_KIND_FUNC_PROTO => 8 * vlen,
                    _ => 0,
                };
        }
        Ok(Btf { types, strs, offs, index: std::cell::OnceCell::new() })
    }

    fn at(&self, id: u32, k: usize) -> u32 {
        u32_at(self.types, self.offs[id as usize] as usize + k).unwrap_or(0)
    }
    fn kind(&self, id: u32) -> u32 {
        if id == 0 || id as usize >= self.offs.len() {
            return 0;
        }
        (self.at(id, 4) >> 24) & 0x1f
    }
    fn vlen(&self, id: u32) -> u32 {
        self.at(id, 4) & 0xffff
    }
    fn kflag(&self, id: u32) -> bool {
        self.at(id, 4) >> 31 != 0
    }
    fn name(&self, id: u32) -> &'a [u8] {
        cstr(self.strs, self.at(id, 0) as usize)
    }
    pub(crate) fn str_at(&self, off: u32) -> &[u8] {
        cstr(self.strs, off as usize)
    }
    /// Member `i` of a struct/union: (name, type, bit offset).
    fn member(&self, id: u32, i: u32) -> (&[u8], u32, u32) {
        let base = 12 + 12 * i as usize;
        let off = self.at(id, base + 8);
        let bits = if self.kflag(id) { off & 0xff_ffff } else { off };
        (cstr(self.strs, self.at(id, base) as usize), self.at(id, base + 4), bits)
    }
    /// Skips typedefs and qualifiers.
    fn resolve(&self, mut id: u32) -> u32 {
        for _ in 0..32 {
            match self.kind(id) {
                BTF_KIND_TYPEDEF | BTF_KIND_VOLATILE | BTF_KIND_CONST | BTF_KIND_RESTRICT
                | BTF_KIND_TYPE_TAG => id = self.at(id, 8),
                _ => break,
            }
        }
        id
    }
    fn size_of(&self, id: u32) -> Option<u64> {
        let id = self.resolve(id);
        match self.kind(id) {
            BTF_KIND_INT | BTF_KIND_STRUCT | BTF_KIND_UNION | BTF_KIND_ENUM | BTF_KIND_ENUM64 => {
                Some(self.at(id, 8) as u64)
            }
            BTF_KIND_PTR => Some(8),
            BTF_KIND_ARRAY => Some(self.size_of(self.at(id, 12))? * self.at(id, 20) as u64),
            _ => None,
        }
    }
    /// Ids of the types of `kind` named `name`.
    fn find(&self, kind: u32, name: &[u8]) -> impl Iterator<Item = u32> + '_ {
        let index = self.index.get_or_init(|| {
            let mut m = Index::new();
            for id in 1..self.offs.len() as u32 {
                let k = self.kind(id);
                if matches!(k, BTF_KIND_STRUCT | BTF_KIND_UNION | BTF_KIND_FUNC) {
                    m.entry(self.name(id)).or_default().push((k, id));
                }
            }
            m
        });
        let ids: &[(u32, u32)] = index.get(name).map_or(&[], |v| v.as_slice());
        ids.iter().filter(move |(k, _)| *k == kind).map(|(_, id)| *id)
    }
    /// Finds member `name` of struct/union `id`, looking into anonymous members: (bit offset,
    /// type).
    fn find_member(&self, id: u32, name: &[u8], depth: u32) -> Option<(u64, u32)> {
        let id = self.resolve(id);
        if !matches!(self.kind(id), BTF_KIND_STRUCT | BTF_KIND_UNION) || depth > 8 {
            return None;
        }
        for i in 0..self.vlen(id) {
            let (n, t, bits) = self.member(id, i);
            if n == name {
                return Some((bits as u64, t));
            }
            if n.is_empty() {
                if let Some((b, t)) = self.find_member(t, name, depth + 1) {
                    return Some((bits as u64 + b, t));
                }
            }
        }
        None
    }
}

/// The byte offset and size in the running kernel of the field that `access` ("0:3:1", member
/// and array indices into local type `local_id`) names in the object's BTF.
fn field_offset(
    local: &Btf,
    target: &Btf,
    local_id: u32,
    access: &str,
) -> Result<(u64, u64), String> {
    let idx: Vec<u32> = access
        .split(':')
        .map(|s| s.parse::<u32>())
        .collect::<Result<_, _>>()
        .map_err(|_| format!("bad CO-RE access string {access:?}"))?;
    let root = local.resolve(local_id);
    let root_name = local.name(root).to_vec();
    let kind = local.kind(root);
    let show = String::from_utf8_lossy(&root_name).into_owned();
    let mut last_err = format!("kernel BTF has no struct {show}");
    for cand in target.find(kind, &root_name) {
        let mut l = root;
        let mut t = cand;
        let mut bits = idx[0] as u64 * target.size_of(cand).unwrap_or(0) * 8;
        let mut path = show.clone();
        let mut ok = true;
        for &i in &idx[1..] {
            l = local.resolve(l);
            match local.kind(l) {
                BTF_KIND_STRUCT | BTF_KIND_UNION => {
                    let (name, lt, _) = local.member(l, i);
                    l = lt;
                    if name.is_empty() {
                        continue; // anonymous locally: the target side looks through its own
                    }
                    path.push('.');
                    path.push_str(&String::from_utf8_lossy(name));
                    match target.find_member(t, name, 0) {
                        Some((b, tt)) => {
                            bits += b;
                            t = tt;
                        }
                        None => {
                            last_err = format!("kernel BTF has no field {path}");
                            ok = false;
                            break;
                        }
                    }
                }
                BTF_KIND_ARRAY => {
                    let tr = target.resolve(t);
                    if target.kind(tr) != BTF_KIND_ARRAY {
                        last_err = format!("{path} is not an array in the kernel");
                        ok = false;
                        break;
                    }
                    let n = target.at(tr, 20);
                    let elem = target.at(tr, 12);
                    if n != 0 && i >= n {
                        last_err = format!("{path}[{i}] is out of the kernel's bounds ({n})");
                        ok = false;
                        break;
                    }
                    bits += i as u64 * target.size_of(elem).unwrap_or(0) * 8;
                    l = local.at(l, 12);
                    t = elem;
                    path.push_str(&format!("[{i}]"));
                }
                _ => {
                    last_err = format!("unsupported CO-RE access {access} at {path}");
                    ok = false;
                    break;
                }
            }
        }
        if ok {
            if bits % 8 != 0 {
                return Err(format!("{path} is a bitfield in the kernel"));
            }
            let size = target.size_of(t).unwrap_or(0);
            return Ok((bits / 8, size));
        }
    }
    Err(last_err)
}

/// The raw `bpf()` syscall with an attribute block.
/// `bpf(cmd, attr)`. Retried on `EINTR`, and a few times on `EAGAIN` for a load or a run: the
/// verifier and a test run give up with `EAGAIN` when a signal is pending (as the Go runtime's
/// preemption signals are), which says nothing about the next try (libbpf retries loads too).
fn bpf(cmd: u32, attr: &mut [u8]) -> Result<i64, i32> {
    let mut again = 0;
    loop {
        // SAFETY: `attr` is a valid, initialised buffer of the given size for the duration of
        // the call; the kernel reads (and for some commands writes) only within it.
        let r = unsafe {
            libc::syscall(libc::SYS_bpf, cmd as libc::c_long, attr.as_mut_ptr(), attr.len())
        };
        if r >= 0 {
            return Ok(r);
        }
        let e = std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO);
        let retry = e == libc::EINTR
            || (e == libc::EAGAIN && matches!(cmd, BPF_PROG_LOAD | BPF_PROG_TEST_RUN) && again < 5);
        if !retry {
            return Err(e);
        }
        again += (e == libc::EAGAIN) as u32;
    }
}

fn put32(a: &mut [u8], o: usize, v: u32) {
    a[o..o + 4].copy_from_slice(&v.to_le_bytes());
}
fn put64(a: &mut [u8], o: usize, v: u64) {
    a[o..o + 8].copy_from_slice(&v.to_le_bytes());
}

fn errno_name(e: i32) -> String {
    let name = match e {
        libc::EPERM => "EPERM",
        libc::EACCES => "EACCES",
        libc::EINVAL => "EINVAL",
        libc::ENOSYS => "ENOSYS",
        libc::ENOMEM => "ENOMEM",
        libc::E2BIG => "E2BIG",
        ENOTSUPP => "ENOTSUPP",
        _ => return std::io::Error::from_raw_os_error(e).to_string(),
    };
    name.into()
}

/// Linux's internal ENOTSUPP (524), which bpf() can return.
const ENOTSUPP: i32 = 524;

/// A created output map and the loaded program.
pub(crate) struct Loaded {
    pub prog: OwnedFd,
    pub map: OwnedFd,
}

const BPF_MAP_CREATE: u32 = 0;
const BPF_PROG_LOAD: u32 = 5;
const BPF_PROG_TEST_RUN: u32 = 10;
const BPF_MAP_TYPE_ARRAY: u32 = 2;
const BPF_F_MMAPABLE: u32 = 1 << 10;
const BPF_PROG_TYPE_SYSCALL: u32 = 31;
const BPF_F_SLEEPABLE: u32 = 1 << 4;

/// Creates the output array map (`cap` records of `value_size` bytes, mmap()able). The first
/// privileged call of a load: made before the kernel BTF is read, so that a process the kernel
/// refuses (no capability, seccomp, lockdown) learns it in microseconds.
pub(crate) fn create_map(value_size: u32, cap: u32) -> Result<OwnedFd, String> {
    let mut a = [0u8; 72];
    put32(&mut a, 0, BPF_MAP_TYPE_ARRAY);
    put32(&mut a, 4, 4);
    put32(&mut a, 8, value_size);
    put32(&mut a, 12, cap);
    put32(&mut a, 16, BPF_F_MMAPABLE);
    a[28..28 + 13].copy_from_slice(b"procuring_out");
    let fd = bpf(BPF_MAP_CREATE, &mut a).map_err(|e| {
        let why = match e {
            libc::EPERM | libc::EACCES => " (missing CAP_BPF, or kernel.unprivileged_bpf_disabled)",
            libc::ENOSYS => " (kernel without CONFIG_BPF_SYSCALL, or bpf() blocked by seccomp)",
            _ => "",
        };
        format!("bpf(BPF_MAP_CREATE): {}{why}", errno_name(e))
    })?;
    // SAFETY: bpf() returned a new descriptor that nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Loads `obj` (the checked-in object) against the kernel BTF `vmlinux`, its output `map`
/// created by [`create_map`].
pub(crate) fn load(obj: &[u8], vmlinux: &[u8], map: OwnedFd) -> Result<Loaded, String> {
    let kbtf = Btf::parse(vmlinux).map_err(|e| format!("kernel BTF: {e}"))?;
    let elf = Elf::parse(obj)?;
    let text_idx = elf.section("syscall").ok_or("object has no syscall section")?;
    let mut insns = elf.data(text_idx).to_vec();
    let maps_idx = elf.section(".maps");
    let lbtf_raw = elf.section(".BTF").map(|i| elf.data(i)).ok_or("object has no .BTF")?;
    let lbtf = Btf::parse(lbtf_raw)?;
    let ext = elf.section(".BTF.ext").map(|i| elf.data(i)).ok_or("object has no .BTF.ext")?;

    // CO-RE relocations of the program section.
    for (insn_off, type_id, access, kind) in core_relos(ext, &lbtf, b"syscall")? {
        if kind != 0 {
            return Err(format!("unsupported CO-RE relocation kind {kind}"));
        }
        let (off, size) = field_offset(&lbtf, &kbtf, type_id, &access)?;
        patch_field(&mut insns, insn_off as usize, off, size)?;
    }

    let map_fd = std::os::fd::AsRawFd::as_raw_fd(&map);
    // ELF relocations: map references and kfunc calls.
    if let Some(rel) = elf.rel_for(text_idx) {
        for (r_off, sym) in elf.rels(rel) {
            let (name, shndx) = elf.symbol(sym).ok_or("bad relocation symbol")?;
            let i = r_off as usize;
            let insn = insns.get_mut(i..i + 16).ok_or("relocation out of the program")?;
            if Some(shndx as usize) == maps_idx {
                if insn[0] != 0x18 {
                    return Err("map relocation on an instruction that is not ld_imm64".into());
                }
                insn[1] = (insn[1] & 0x0f) | (1 << 4); // BPF_PSEUDO_MAP_FD
                put32(insn, 4, map_fd as u32);
                put32(insn, 12, 0);
            } else if shndx == 0 {
                if insn[0] != 0x85 {
                    return Err("extern relocation on an instruction that is not a call".into());
                }
                let id = kbtf.find(BTF_KIND_FUNC, name).next().ok_or_else(|| {
                    format!(
                        "kernel has no kfunc {} (kernel too old?)",
                        String::from_utf8_lossy(name)
                    )
                })?;
                insn[1] = (insn[1] & 0x0f) | (2 << 4); // BPF_PSEUDO_KFUNC_CALL
                insn[2] = 0;
                insn[3] = 0;
                put32(insn, 4, id);
            } else {
                return Err(format!("unexpected relocation to {}", String::from_utf8_lossy(name)));
            }
        }
    }

    let prog = load_prog(&insns)?;
    Ok(Loaded { prog, map })
}

fn load_prog(insns: &[u8]) -> Result<OwnedFd, String> {
    let license = b"GPL\0";
    let attempt = |log: &mut [u8], level: u32| {
        let mut a = [0u8; 144];
        put32(&mut a, 0, BPF_PROG_TYPE_SYSCALL);
        put32(&mut a, 4, (insns.len() / 8) as u32);
        put64(&mut a, 8, insns.as_ptr() as u64);
        put64(&mut a, 16, license.as_ptr() as u64);
        if level > 0 {
            put32(&mut a, 24, level);
            put32(&mut a, 28, log.len() as u32);
            put64(&mut a, 32, log.as_mut_ptr() as u64);
        }
        put32(&mut a, 44, BPF_F_SLEEPABLE);
        a[48..48 + 14].copy_from_slice(b"procuring_walk");
        bpf(BPF_PROG_LOAD, &mut a)
    };
    match attempt(&mut [], 0) {
        // SAFETY: bpf() returned a new descriptor that nobody else owns.
        Ok(fd) => Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) }),
        Err(e) => {
            // Again with the verifier's log: a permission check fails before the verifier runs
            // (empty log); a verifier rejection says why at the end of its log.
            let mut log = vec![0u8; 1 << 20];
            let _ = attempt(&mut log, 1);
            let text = String::from_utf8_lossy(cstr(&log, 0)).into_owned();
            let lines: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
            if lines.is_empty() && matches!(e, libc::EPERM | libc::EACCES) {
                return Err(format!(
                    "bpf(BPF_PROG_LOAD): {} (missing CAP_BPF + CAP_PERFMON, or CAP_SYS_ADMIN)",
                    errno_name(e)
                ));
            }
            let tail = lines[lines.len().saturating_sub(4)..].join(" | ");
            Err(format!(
                "bpf(BPF_PROG_LOAD): {}: verifier rejected the program: {tail}",
                errno_name(e)
            ))
        }
    }
}

/// The effective capability set (from /proc/thread-self/status `CapEff`).
pub(crate) fn effective_caps() -> u64 {
    let s = std::fs::read_to_string("/proc/thread-self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .unwrap_or(0)
}

/// Sets the field offset (and, for loads, checks the size) of the instruction at byte `at`.
fn patch_field(insns: &mut [u8], at: usize, off: u64, size: u64) -> Result<(), String> {
    let insn = insns.get_mut(at..at + 8).ok_or("CO-RE relocation out of the program")?;
    let class = insn[0] & 0x07;
    match class {
        0x01..=0x03 => {
            // LDX / ST / STX: the offset field.
            let sz = [4u64, 2, 1, 8][((insn[0] >> 3) & 3) as usize];
            if class == 0x01 && sz != size && size <= 8 {
                // A load of a field whose size differs in this kernel: adjust the load size
                // (integers and pointers only; sizes 1/2/4/8).
                let code = match size {
                    1 => 0x10,
                    2 => 0x08,
                    4 => 0x00,
                    8 => 0x18,
                    _ => return Err(format!("field of size {size} cannot be loaded")),
                };
                if size > sz {
                    return Err(format!("kernel field is {size} bytes, program reads {sz}"));
                }
                insn[0] = (insn[0] & !0x18) | code;
            }
            // A field of more than 8 bytes (an array: comm) is read by loads of its first
            // bytes: only the offset is relocated.
            let off = i16::try_from(off).map_err(|_| format!("field offset {off} too large"))?;
            insn[2..4].copy_from_slice(&off.to_le_bytes());
        }
        0x04 | 0x07 if insn[0] & 0x08 == 0 => {
            put32(insn, 4, u32::try_from(off).map_err(|_| "field offset too large")?);
        }
        0x00 if insn[0] == 0x18 => put32(insn, 4, off as u32),
        _ => return Err(format!("CO-RE relocation on unsupported instruction {:#x}", insn[0])),
    }
    Ok(())
}

/// CO-RE records of section `sec` in `.BTF.ext`: (insn byte offset, local type id, access
/// string, kind).
fn core_relos(ext: &[u8], lbtf: &Btf, sec: &[u8]) -> Result<Vec<(u32, u32, String, u32)>, String> {
    let bad = || "malformed .BTF.ext".to_string();
    let hdr = u32_at(ext, 4).ok_or_else(bad)? as usize;
    if hdr < 32 {
        return Ok(Vec::new());
    }
    let off = u32_at(ext, 24).ok_or_else(bad)? as usize;
    let len = u32_at(ext, 28).ok_or_else(bad)? as usize;
    let b = ext.get(hdr + off..hdr + off + len).ok_or_else(bad)?;
    let rec = u32_at(b, 0).ok_or_else(bad)? as usize;
    let mut o = 4;
    let mut out = Vec::new();
    while o + 8 <= b.len() {
        let name = lbtf.str_at(u32_at(b, o).ok_or_else(bad)?);
        let n = u32_at(b, o + 4).ok_or_else(bad)? as usize;
        o += 8;
        for k in 0..n {
            let r = o + k * rec;
            if name == sec {
                let access = lbtf.str_at(u32_at(b, r + 8).ok_or_else(bad)?);
                out.push((
                    u32_at(b, r).ok_or_else(bad)?,
                    u32_at(b, r + 4).ok_or_else(bad)?,
                    String::from_utf8_lossy(access).into_owned(),
                    u32_at(b, r + 12).ok_or_else(bad)?,
                ));
            }
        }
        o += n * rec;
    }
    Ok(out)
}

/// One ELF section header: (name, type, offset, size, link, info).
type Section<'a> = (&'a [u8], u32, usize, usize, u32, u32);

/// Just enough of an ELF64 little-endian relocatable object.
struct Elf<'a> {
    b: &'a [u8],
    /// (name, type, offset, size, link, info) per section.
    secs: Vec<Section<'a>>,
    symtab: Option<usize>,
}

impl<'a> Elf<'a> {
    fn parse(b: &'a [u8]) -> Result<Elf<'a>, String> {
        let bad = || "malformed BPF object".to_string();
        if b.get(..4) != Some(b"\x7fELF") || b.get(4) != Some(&2) || b.get(5) != Some(&1) {
            return Err("BPF object is not ELF64 little-endian".into());
        }
        let shoff = u64_at(b, 0x28).ok_or_else(bad)? as usize;
        let shnum = u16_at(b, 0x3c).ok_or_else(bad)? as usize;
        let shstr = u16_at(b, 0x3e).ok_or_else(bad)? as usize;
        let sh = |i: usize, k: usize| shoff + i * 64 + k;
        let mut raw = Vec::new();
        for i in 0..shnum {
            raw.push((
                u32_at(b, sh(i, 0)).ok_or_else(bad)?,
                u32_at(b, sh(i, 4)).ok_or_else(bad)?,
                u64_at(b, sh(i, 24)).ok_or_else(bad)? as usize,
                u64_at(b, sh(i, 32)).ok_or_else(bad)? as usize,
                u32_at(b, sh(i, 40)).ok_or_else(bad)?,
                u32_at(b, sh(i, 44)).ok_or_else(bad)?,
            ));
        }
        let (_, _, so, ss, _, _) = *raw.get(shstr).ok_or_else(bad)?;
        let names = b.get(so..so + ss).ok_or_else(bad)?;
        let mut secs = Vec::new();
        for &(n, t, o, s, l, i) in &raw {
            if t != 8 && b.get(o..o + s).is_none() {
                return Err(bad());
            }
            secs.push((cstr(names, n as usize), t, o, s, l, i));
        }
        let symtab = secs.iter().position(|s| s.1 == 2);
        Ok(Elf { b, secs, symtab })
    }
    fn section(&self, name: &str) -> Option<usize> {
        self.secs.iter().position(|s| s.0 == name.as_bytes())
    }
    fn data(&self, i: usize) -> &'a [u8] {
        let (_, _, o, s, _, _) = self.secs[i];
        &self.b[o..o + s]
    }
    /// The SHT_REL section that applies to section `i`.
    fn rel_for(&self, i: usize) -> Option<usize> {
        self.secs.iter().position(|s| s.1 == 9 && s.5 as usize == i)
    }
    fn rels(&self, rel: usize) -> impl Iterator<Item = (u64, u32)> + '_ {
        self.data(rel)
            .chunks_exact(16)
            .map(|c| (u64_at(c, 0).unwrap_or(0), (u64_at(c, 8).unwrap_or(0) >> 32) as u32))
    }
    /// (name, section index) of symbol `i`.
    fn symbol(&self, i: u32) -> Option<(&'a [u8], u16)> {
        let st = self.symtab?;
        let d = self.data(st);
        let o = i as usize * 24;
        let strs = self.data(self.secs[st].4 as usize);
        Some((cstr(strs, u32_at(d, o)? as usize), u16_at(d, o + 6)?))
    }
}

/// Runs the loaded program once (`BPF_PROG_TEST_RUN`); returns its return value.
pub(crate) fn test_run(prog: RawFd) -> Result<u32, i32> {
    let mut a = [0u8; 80];
    put32(&mut a, 0, prog as u32);
    bpf(BPF_PROG_TEST_RUN, &mut a)?;
    Ok(u32_at(&a, 4).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::patch_field;

    /// `r4 = *(u64 *)(r6 + off)`: an LDX of 8 bytes.
    fn ldx64(off: i16) -> Vec<u8> {
        let mut i = vec![0x79, 0x64, 0, 0, 0, 0, 0, 0];
        i[2..4].copy_from_slice(&off.to_le_bytes());
        i
    }

    #[test]
    fn load_of_an_integer_field_takes_its_size() {
        let mut i = ldx64(8);
        patch_field(&mut i, 0, 0x488, 4).unwrap();
        assert_eq!(i[0], 0x61); // LDX W
        assert_eq!(i16::from_le_bytes([i[2], i[3]]), 0x488);
        // A kernel field wider than the load is refused.
        let mut i = vec![0x61, 0x64, 0, 0, 0, 0, 0, 0];
        assert!(patch_field(&mut i, 0, 0x10, 8).is_err());
    }

    #[test]
    fn load_of_an_array_keeps_its_size() {
        // task->comm (char[16]) read 8 bytes at a time: only the offset moves.
        let mut i = ldx64(112);
        patch_field(&mut i, 0, 0x7c8, 16).unwrap();
        assert_eq!(i[0], 0x79);
        assert_eq!(i16::from_le_bytes([i[2], i[3]]), 0x7c8);
    }
}
