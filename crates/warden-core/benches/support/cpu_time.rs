//! A criterion measurement of CPU time: the benchmark thread's ([`THREAD`],
//! `CLOCK_THREAD_CPUTIME_ID`) or another clock's, such as the whole process's, so time spent
//! preempted on this shared machine is not counted. Formatted as criterion's wall time is
//! (nanoseconds).

use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use nix::time::{ClockId, clock_gettime};

/// CPU time of one clock.
pub(crate) struct CpuTime(pub(crate) ClockId);

/// The calling thread's CPU time.
pub(crate) const THREAD: CpuTime = CpuTime(ClockId::CLOCK_THREAD_CPUTIME_ID);

fn now_ns(clock: ClockId) -> u64 {
    clock_gettime(clock)
        .map(|t| t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64)
        .unwrap_or(0)
}

impl Measurement for CpuTime {
    type Intermediate = u64;
    type Value = u64;
    fn start(&self) -> u64 {
        now_ns(self.0)
    }
    fn end(&self, start: u64) -> u64 {
        now_ns(self.0).saturating_sub(start)
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
        static WALL: WallTime = WallTime;
        WALL.formatter()
    }
}
