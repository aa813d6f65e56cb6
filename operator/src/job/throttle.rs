//! Step 7: at most one status write per interval per job, so that a render's progress does
//! not flood etcd and every Argo CD watching the namespace. With many renders live at once the
//! interval stretches so that all of them together stay within a budget of writes per second
//! ([`progress_interval`]): a thousand jobs must not turn into a thousand writes every 2 s.

use std::collections::HashMap;
use std::hash::Hash;
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

/// Remembers when each key was last written.
#[derive(Debug)]
pub struct WriteThrottle<K> {
    interval: Duration,
    last: HashMap<K, Instant>,
}

impl<K: Eq + Hash + Clone> WriteThrottle<K> {
    /// A throttle allowing one write per `interval` per key.
    pub fn new(interval: Duration) -> Self {
        Self { interval, last: HashMap::new() }
    }

    /// Changes the interval (the budget's share per job moves with the number of live renders).
    pub fn set_interval(&mut self, interval: Duration) {
        self.interval = interval;
    }

    /// The current interval.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// How long until `key` may be written again (zero: now).
    pub fn wait_for(&self, key: &K, now: Instant) -> Duration {
        self.wait_with(key, now, self.interval)
    }

    /// How long until `key` may be written again if writes of it are `interval` apart.
    pub fn wait_with(&self, key: &K, now: Instant, interval: Duration) -> Duration {
        match self.last.get(key) {
            Some(last) => (*last + interval).saturating_duration_since(now),
            None => Duration::ZERO,
        }
    }

    /// Records a write of `key` at `now`.
    pub fn wrote(&mut self, key: K, now: Instant) {
        self.last.insert(key, now);
    }

    /// Forgets `key` (the job finished or was deleted).
    pub fn forget(&mut self, key: &K) {
        self.last.remove(key);
    }

    /// Forgets keys not written for a long time (bounded memory with many finished jobs).
    pub fn prune(&mut self, now: Instant, older_than: Duration) {
        self.last.retain(|_, at| now.saturating_duration_since(*at) < older_than);
    }

    /// Keeps only the keys `keep` accepts.
    pub fn retain(&mut self, keep: impl Fn(&K) -> bool) {
        self.last.retain(|key, _| keep(key));
    }

    /// Number of keys remembered.
    pub fn len(&self) -> usize {
        self.last.len()
    }

    /// Whether no key is remembered.
    pub fn is_empty(&self) -> bool {
        self.last.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_write_per_interval_per_key() {
        let t0 = Instant::now();
        let mut throttle = WriteThrottle::new(Duration::from_secs(2));
        assert_eq!(throttle.wait_for(&"a", t0), Duration::ZERO);
        throttle.wrote("a", t0);
        assert_eq!(throttle.wait_for(&"a", t0 + Duration::from_millis(500)), Duration::from_millis(1500));
        // Other jobs are not held back.
        assert_eq!(throttle.wait_for(&"b", t0 + Duration::from_millis(500)), Duration::ZERO);
        assert_eq!(throttle.wait_for(&"a", t0 + Duration::from_secs(2)), Duration::ZERO);
        throttle.forget(&"a");
        assert!(throttle.is_empty());
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
        let mut throttle = WriteThrottle::new(base);
        throttle.wrote("a", t0);
        throttle.set_interval(progress_interval(base, 400, 25));
        assert_eq!(throttle.interval(), Duration::from_secs(16));
        assert_eq!(throttle.wait_for(&"a", t0 + Duration::from_secs(6)), Duration::from_secs(10));
    }

    #[test]
    fn pruning_bounds_memory() {
        let t0 = Instant::now();
        let mut throttle = WriteThrottle::new(Duration::from_secs(2));
        throttle.wrote(1, t0);
        throttle.wrote(2, t0 + Duration::from_secs(50));
        throttle.prune(t0 + Duration::from_secs(60), Duration::from_secs(30));
        assert_eq!(throttle.len(), 1);
        assert_eq!(throttle.wait_for(&1, t0 + Duration::from_secs(60)), Duration::ZERO);
    }
}
