//! Requeue delays after failed reconciles: exponential per object for transient errors,
//! a slow re-check for terminal ones (the watch requeues at once when the spec changes).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

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

/// Consecutive failures per object (keyed by UID).
#[derive(Debug, Default)]
pub struct Backoffs {
    failures: Mutex<HashMap<String, u32>>,
}

impl Backoffs {
    /// The requeue after `error` on `object`, counting the failure.
    pub fn after_error<K: Resource>(&self, object: &K, error: &Error) -> Action {
        if error.is_terminal() {
            return Action::requeue(TERMINAL_RECHECK);
        }
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let count = failures.entry(key(object)).or_insert(0);
        *count = count.saturating_add(1);
        Action::requeue(jittered(delay_for(*count)))
    }

    /// Forgets the failures of `object` (call after a successful reconcile).
    pub fn reset<K: Resource>(&self, object: &K) {
        self.failures.lock().unwrap_or_else(|e| e.into_inner()).remove(&key(object));
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
    fn delays_grow_and_cap() {
        assert_eq!(delay_for(1), Duration::from_secs(2));
        assert_eq!(delay_for(2), Duration::from_secs(4));
        assert_eq!(delay_for(5), Duration::from_secs(32));
        assert_eq!(delay_for(40), MAX_DELAY);
        let d = jittered(Duration::from_secs(10));
        assert!(d >= Duration::from_secs(9) && d <= Duration::from_secs(11));
    }
}
