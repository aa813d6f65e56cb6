//! How long a retried request waits: chunks throttled or failed, and stills whose attempt failed.

use std::time::Duration;

/// Exponential backoff from 1 s for the `times`-th retry, capped at `cap`, with up to 25 %
/// jitter so that chunks throttled together do not come back together.
pub(super) fn backoff(times: u32, cap: Duration) -> Duration {
    let base = Duration::from_secs(1).saturating_mul(1u32 << times.saturating_sub(1).min(16)).min(cap);
    let jitter = rand::random::<f64>() * 0.25;
    base.mul_f64(1.0 + jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        assert!(backoff(1, Duration::from_secs(30)) >= Duration::from_secs(1));
        assert!(backoff(1, Duration::from_secs(30)) <= Duration::from_millis(1250));
        assert!(backoff(3, Duration::from_secs(30)) >= Duration::from_secs(4));
        assert!(backoff(40, Duration::from_secs(30)) <= Duration::from_millis(37_500));
    }
}
