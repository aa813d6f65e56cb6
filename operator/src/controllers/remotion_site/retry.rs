//! The backoff of a site's syncs, kept in its status (`status.retry`) so that it outlives the
//! operator: a site whose archive fails — or whose sync kills the operator half-way, out of
//! memory or scratch space — is not fetched again at every restart.
//!
//! An attempt is recorded before it starts (one more failure, the next attempt a transient
//! delay later), so an attempt that never finishes counts as failed. When it fails, the next
//! attempt is counted from the failure: a transient failure (the source unreachable, S3
//! failing) waits 2 s, 4 s, … up to 5 min like other reconciles; a terminal one (the archive
//! itself is bad: it will fail the same way) waits 10 min, doubling up to 2 h. A success
//! clears the record; a new spec generation ignores it. Pure decisions; the controller writes.

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use remotion_crds::remotion_site::SyncRetry;

/// First delay after a transient failure.
const FIRST_TRANSIENT: Duration = Duration::from_secs(2);
/// Longest delay after transient failures.
const MAX_TRANSIENT: Duration = Duration::from_secs(300);
/// First delay after a terminal failure (the re-check of other terminally failed objects).
const FIRST_TERMINAL: Duration = crate::reconcile::backoff::TERMINAL_RECHECK;
/// Longest delay after terminal failures.
const MAX_TERMINAL: Duration = Duration::from_secs(2 * 3600);

/// How long a site whose `retry` record is `retry` must still wait before its next attempt at
/// `generation`, if at all.
pub fn wait(retry: Option<&SyncRetry>, generation: i64, now: Timestamp) -> Option<Duration> {
    let retry = retry.filter(|r| r.generation == generation)?;
    let left = now.duration_until(retry.next_attempt_at.0);
    Duration::try_from(left).ok().filter(|d| !d.is_zero())
}

/// The record written before an attempt at `generation`: counted as failed until it succeeds.
pub fn attempt(previous: Option<&SyncRetry>, generation: i64, now: Timestamp) -> SyncRetry {
    let failures = previous.filter(|r| r.generation == generation).map_or(0, |r| r.failures).saturating_add(1);
    SyncRetry { generation, failures, next_attempt_at: Time(now + delay(failures, false)) }
}

/// The record after `attempt` failed at `now`.
pub fn failed(attempt: &SyncRetry, terminal: bool, now: Timestamp) -> SyncRetry {
    SyncRetry { next_attempt_at: Time(now + delay(attempt.failures, terminal)), ..attempt.clone() }
}

/// What `Ready` says of a site waiting for its next attempt when the last one never finished:
/// its record was left by an earlier operator process while `Ready` still said the attempt was
/// under way (`unfinished`). `None` when a finished failure explains itself already.
pub fn unfinished_attempt(retry: &SyncRetry, unfinished: bool) -> Option<String> {
    unfinished.then(|| {
        format!(
            "{} sync attempt(s) did not finish (was the operator stopped, or out of memory or scratch space?); the next starts at {}",
            retry.failures, retry.next_attempt_at.0
        )
    })
}

/// The wait after `failures` consecutive failures.
pub fn delay(failures: i32, terminal: bool) -> Duration {
    let (first, max) = if terminal { (FIRST_TERMINAL, MAX_TERMINAL) } else { (FIRST_TRANSIENT, MAX_TRANSIENT) };
    let doublings = failures.saturating_sub(1).clamp(0, 16) as u32;
    first.saturating_mul(1 << doublings).min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + seconds).unwrap()
    }

    #[test]
    fn delays_grow_to_their_caps() {
        assert_eq!(delay(1, false), Duration::from_secs(2));
        assert_eq!(delay(3, false), Duration::from_secs(8));
        assert_eq!(delay(30, false), Duration::from_secs(300));
        assert_eq!(delay(1, true), Duration::from_secs(600));
        assert_eq!(delay(2, true), Duration::from_secs(1200));
        assert_eq!(delay(9, true), Duration::from_secs(7200));
    }

    #[test]
    fn an_attempt_counts_as_failed_until_it_succeeds() {
        let first = attempt(None, 3, at(0));
        assert_eq!((first.generation, first.failures), (3, 1));
        assert_eq!(first.next_attempt_at.0, at(2));
        // The operator stopped during it: after a restart the site waits for that time.
        assert_eq!(wait(Some(&first), 3, at(1)), Some(Duration::from_secs(1)));
        let second = attempt(Some(&first), 3, at(10));
        assert_eq!(second.failures, 2);
        assert_eq!(second.next_attempt_at.0, at(14));
    }

    #[test]
    fn a_failure_waits_from_when_it_happened() {
        let started = attempt(None, 1, at(0));
        let failed = failed(&started, true, at(100));
        assert_eq!(failed.failures, 1);
        assert_eq!(failed.next_attempt_at.0, at(700));
        assert_eq!(wait(Some(&failed), 1, at(100)), Some(Duration::from_secs(600)));
        assert_eq!(wait(Some(&failed), 1, at(700)), None);
        assert_eq!(wait(Some(&failed), 1, at(9000)), None);
    }

    #[test]
    fn an_attempt_left_unfinished_by_an_earlier_process_says_when_the_next_starts() {
        let record = attempt(Some(&attempt(None, 1, at(0))), 1, at(5));
        let message = unfinished_attempt(&record, true).unwrap();
        assert!(message.starts_with("2 sync attempt(s) did not finish"), "{message}");
        assert!(message.ends_with(&at(9).to_string()), "{message}");
        assert_eq!(unfinished_attempt(&record, false), None);
    }

    #[test]
    fn a_new_generation_starts_afresh() {
        let failed = failed(&attempt(None, 1, at(0)), true, at(0));
        assert_eq!(wait(Some(&failed), 2, at(1)), None);
        let next = attempt(Some(&failed), 2, at(1));
        assert_eq!((next.generation, next.failures), (2, 1));
        assert_eq!(wait(None, 2, at(1)), None);
    }
}
