//! At most one status write per interval per job, so that a render's progress does
//! not flood etcd and every Argo CD watching the namespace. With many renders live at once the
//! interval stretches so that all of them together stay within a budget of writes per second
//! ([`progress_interval`]): a thousand jobs must not turn into a thousand writes every 2 s.

use std::time::{Duration, Instant};

/// Minimum time between two progress writes of one job.
pub const STATUS_WRITE_INTERVAL: Duration = Duration::from_secs(2);

/// The gap between two progress writes of one job when `live` renders share a budget of
/// `per_second` progress writes: never below `base`, stretched so that `live` jobs writing once
/// per gap stay within the budget.
pub fn progress_interval(base: Duration, live: usize, per_second: u16) -> Duration {
    let shared = Duration::from_secs_f64(live as f64 / f64::from(per_second.max(1)));
    base.max(shared)
}

/// How long until a job last written at `last_write` may be written again, if writes of it are
/// `interval` apart (zero: now).
pub fn wait(last_write: Option<Instant>, now: Instant, interval: Duration) -> Duration {
    match last_write {
        Some(last) => (last + interval).saturating_duration_since(now),
        None => Duration::ZERO,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_write_per_interval() {
        let t0 = Instant::now();
        let interval = Duration::from_secs(2);
        assert_eq!(wait(None, t0, interval), Duration::ZERO);
        assert_eq!(wait(Some(t0), t0 + Duration::from_millis(500), interval), Duration::from_millis(1500));
        assert_eq!(wait(Some(t0), t0 + Duration::from_secs(2), interval), Duration::ZERO);
        assert_eq!(wait(Some(t0), t0 + Duration::from_secs(9), interval), Duration::ZERO);
    }

    #[test]
    fn the_budget_stretches_the_interval_with_many_live_renders() {
        let base = Duration::from_secs(2);
        // Few renders: the base interval.
        assert_eq!(progress_interval(base, 10, 25), base);
        assert_eq!(progress_interval(base, 50, 25), base);
        // 400 renders sharing 25 writes/s: one write per job every 16 s.
        assert_eq!(progress_interval(base, 400, 25), Duration::from_secs(16));
        // A zero budget is read as one write per second rather than dividing by zero.
        assert_eq!(progress_interval(base, 10, 0), Duration::from_secs(10));
        let t0 = Instant::now();
        assert_eq!(
            wait(Some(t0), t0 + Duration::from_secs(6), progress_interval(base, 400, 25)),
            Duration::from_secs(10)
        );
    }
}
