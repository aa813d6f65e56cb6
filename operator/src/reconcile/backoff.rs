//! Requeue delays after failed reconciles: exponential per object for transient errors,
//! a slow re-check for terminal ones (the watch requeues at once when the spec changes).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use kube::Resource;
use kube::runtime::controller::Action;

use super::Error;

/// First retry delay of a transient error.
const FIRST_DELAY: Duration = Duration::from_secs(2);
/// Longest retry delay of a transient error.
const MAX_DELAY: Duration = Duration::from_secs(300);
/// How often a terminally failed object is looked at again (something outside the spec,
/// such as a bucket deleted by hand, may have fixed it).
pub const TERMINAL_RECHECK: Duration = Duration::from_secs(600);

/// A failure count not refreshed for this long is dropped: an object still failing fails
/// again within [`MAX_DELAY`] (and a bit of jitter), so an older one belongs to an object that
/// was deleted, or recovered without a reconcile that says so.
const FORGET_AFTER: Duration = Duration::from_secs(900);

/// Consecutive failures per object (keyed by UID), with when each last failed.
#[derive(Debug, Default)]
pub struct Backoffs {
    failures: Mutex<Failures>,
}

#[derive(Debug, Default)]
struct Failures {
    by_object: HashMap<String, (u32, Instant)>,
    last_pruned: Option<Instant>,
}

impl Failures {
    /// Drops stale counts, at most once a minute (a pass over every failing object).
    fn prune(&mut self, now: Instant) {
        if self.last_pruned.is_some_and(|at| now.duration_since(at) < Duration::from_secs(60)) {
            return;
        }
        self.by_object.retain(|_, (_, at)| now.duration_since(*at) < FORGET_AFTER);
        self.last_pruned = Some(now);
    }
}

impl Backoffs {
    /// The requeue after `error` on `object`, counting the failure.
    pub fn after_error<K: Resource>(&self, object: &K, error: &Error) -> Action {
        if error.is_terminal() {
            return Action::requeue(TERMINAL_RECHECK);
        }
        Action::requeue(jittered(delay_for(self.count_failure(key(object), Instant::now()))))
    }

    fn count_failure(&self, key: String, now: Instant) -> u32 {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        failures.prune(now);
        let (count, at) = failures.by_object.entry(key).or_insert((0, now));
        *count = count.saturating_add(1);
        *at = now;
        *count
    }

    /// Objects with a failure count (for tests and metrics).
    pub fn tracked(&self) -> usize {
        self.failures.lock().unwrap_or_else(|e| e.into_inner()).by_object.len()
    }

    /// Forgets the failures of `object` (call after a successful reconcile).
    pub fn reset<K: Resource>(&self, object: &K) {
        self.failures.lock().unwrap_or_else(|e| e.into_inner()).by_object.remove(&key(object));
    }
}

fn key<K: Resource>(object: &K) -> String {
    let meta = object.meta();
    meta.uid.clone().unwrap_or_else(|| format!("{:?}/{:?}", meta.namespace, meta.name))
}

/// 2 s, 4 s, 8 s … up to 5 min.
fn delay_for(failures: u32) -> Duration {
    let exponent = failures.saturating_sub(1).min(16);
    FIRST_DELAY.saturating_mul(1 << exponent).min(MAX_DELAY)
}

/// ±10 % so that many objects failing together do not retry together.
fn jittered(delay: Duration) -> Duration {
    let factor = 0.9 + rand::random::<f64>() * 0.2;
    delay.mul_f64(factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_of_objects_that_stopped_failing_are_forgotten() {
        let backoffs = Backoffs::default();
        let start = Instant::now();
        assert_eq!(backoffs.count_failure("deleted".into(), start), 1);
        assert_eq!(backoffs.count_failure("failing".into(), start), 1);
        // The failing one keeps failing every few minutes; the deleted one never comes back.
        let mut now = start;
        for _ in 0..4 {
            now += MAX_DELAY;
            backoffs.count_failure("failing".into(), now);
        }
        assert_eq!(backoffs.tracked(), 1, "the deleted object's count is gone");
        assert_eq!(
            backoffs.count_failure("failing".into(), now + MAX_DELAY),
            6,
            "the failing one's count kept growing"
        );
    }

    #[test]
    fn delays_grow_and_cap() {
        assert_eq!(delay_for(1), Duration::from_secs(2));
        assert_eq!(delay_for(2), Duration::from_secs(4));
        assert_eq!(delay_for(5), Duration::from_secs(32));
        assert_eq!(delay_for(40), MAX_DELAY);
        let d = jittered(Duration::from_secs(10));
        assert!(d >= Duration::from_secs(9) && d <= Duration::from_secs(11));
    }
}
