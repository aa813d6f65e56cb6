//! Step 7: at most one status write per interval per job, so that a render's progress does
//! not flood etcd and every Argo CD watching the namespace.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// Minimum time between two progress writes of one job.
pub const STATUS_WRITE_INTERVAL: Duration = Duration::from_secs(2);

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

    /// How long until `key` may be written again (zero: now).
    pub fn wait_for(&self, key: &K, now: Instant) -> Duration {
        match self.last.get(key) {
            Some(last) => (*last + self.interval).saturating_duration_since(now),
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
