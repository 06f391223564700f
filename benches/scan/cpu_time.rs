//! CPU time as a criterion measurement: user + system time of this whole process
//! (`getrusage(RUSAGE_SELF)`), io_uring's io-wq worker threads included.

use criterion::measurement::{Measurement, ValueFormatter};
use criterion::Throughput;

/// User + system CPU time of this process (every thread, io-wq workers included), in ns.
pub fn cpu_ns() -> u64 {
    // SAFETY: rusage is plain data, valid when zeroed.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage only writes the struct it is given.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as u64 * 1_000_000_000 + t.tv_usec as u64 * 1_000;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// Criterion measurement: CPU time of the whole process (`getrusage(RUSAGE_SELF)`), in ns.
/// Resolution is 1 µs; a criterion sample spans many iterations, so that is plenty.
pub struct CpuTime;

impl Measurement for CpuTime {
    type Intermediate = u64;
    type Value = u64;
    fn start(&self) -> u64 {
        cpu_ns()
    }
    fn end(&self, i: u64) -> u64 {
        cpu_ns().saturating_sub(i)
    }
    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }
    fn zero(&self) -> u64 {
        0
    }
    fn to_f64(&self, v: &u64) -> f64 {
        *v as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        &CpuFormatter
    }
}

struct CpuFormatter;

impl ValueFormatter for CpuFormatter {
    fn scale_values(&self, ns: f64, values: &mut [f64]) -> &'static str {
        let (factor, unit) = if ns < 1e3 {
            (1.0, "ns cpu")
        } else if ns < 1e6 {
            (1e-3, "µs cpu")
        } else if ns < 1e9 {
            (1e-6, "ms cpu")
        } else {
            (1e-9, "s cpu")
        };
        values.iter_mut().for_each(|v| *v *= factor);
        unit
    }

    fn scale_throughputs(&self, typical: f64, t: &Throughput, values: &mut [f64]) -> &'static str {
        let n = match *t {
            Throughput::Bytes(n) | Throughput::BytesDecimal(n) | Throughput::Elements(n) => {
                n as f64
            }
        };
        // Per CPU-second.
        let per_s = n * 1e9 / typical;
        let (div, unit) = if per_s < 1e3 {
            (1.0, " proc/cpu-s")
        } else if per_s < 1e6 {
            (1e3, "Kproc/cpu-s")
        } else {
            (1e6, "Mproc/cpu-s")
        };
        values.iter_mut().for_each(|v| *v = n * 1e9 / *v / div);
        unit
    }

    fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
        "ns"
    }
}
