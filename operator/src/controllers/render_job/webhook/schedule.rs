//! When a webhook is sent and what its status says after each attempt: Remotion's policy of
//! three attempts (the first and two retries), 0.5 s then 1 s apart, each bounded by a
//! timeout. Pure: the delivery status is the whole memory, so a restarted operator picks up
//! where the last one stopped.

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use remotion_crds::render_job::{WebhookDeliveryStatus, WebhookOutcome};

/// Requests per webhook at most (Remotion: `retries = 2`).
pub const MAX_ATTEMPTS: i32 = 3;

/// How long one request may take, connection included (Remotion 4 aborts after 10 s).
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// Longest `lastError` kept (the schema's limit).
const MAX_ERROR_CHARS: usize = 1024;

/// The wait after the `failed`-th failed attempt (Remotion: `1000 * 2 ** (errors - 1)` ms,
/// errors counted from 0: 0.5 s, then 1 s).
pub fn backoff_after(failed: i32) -> Duration {
    let doublings = u32::try_from(failed.saturating_sub(1)).unwrap_or(0).min(10);
    Duration::from_millis(500) * 2u32.pow(doublings)
}

/// What to do about a webhook now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// Nothing: delivered, refused, or every attempt made.
    Done,
    /// Send it after this long (zero: now).
    AttemptIn(Duration),
}

/// The next step for a webhook whose delivery stands at `status`.
pub fn next(status: Option<&WebhookDeliveryStatus>, now: Timestamp) -> Next {
    let Some(status) = status else { return Next::AttemptIn(Duration::ZERO) };
    if status.outcome.is_some() || status.attempts >= MAX_ATTEMPTS {
        return Next::Done;
    }
    let Some(last) = status.last_attempt_at.as_ref().filter(|_| status.attempts > 0) else {
        return Next::AttemptIn(Duration::ZERO);
    };
    let due = backoff_after(status.attempts);
    let elapsed = Duration::try_from(now.duration_since(last.0)).unwrap_or_default();
    Next::AttemptIn(due.saturating_sub(elapsed))
}

/// What one attempt came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Attempt {
    /// The receiver answered 2xx.
    Delivered {
        /// Its status code.
        code: u16,
    },
    /// Sent (or tried) and failed: an error answer, no answer in time, no connection, or the
    /// secret could not be read.
    Failed {
        /// The answer's status code, if there was one.
        code: Option<u16>,
        /// What went wrong.
        error: String,
    },
    /// The URL may not be called (nothing was sent; trying again would not change that).
    Refused {
        /// Why.
        error: String,
    },
}

/// The delivery status after `attempt`, made at `now`, on top of `before`.
pub fn record(before: Option<&WebhookDeliveryStatus>, attempt: &Attempt, now: Timestamp) -> WebhookDeliveryStatus {
    let mut status = before.cloned().unwrap_or_default();
    let at = Time(now);
    match attempt {
        Attempt::Delivered { code } => {
            status.attempts += 1;
            status.last_attempt_at = Some(at.clone());
            status.last_status_code = Some(i32::from(*code));
            status.last_error = None;
            status.delivered = Some(at);
            status.outcome = Some(WebhookOutcome::Delivered);
        }
        Attempt::Failed { code, error } => {
            status.attempts += 1;
            status.last_attempt_at = Some(at);
            status.last_status_code = code.map(i32::from);
            status.last_error = Some(bounded(error));
            if status.attempts >= MAX_ATTEMPTS {
                status.outcome = Some(WebhookOutcome::Failed);
            }
        }
        Attempt::Refused { error } => {
            status.last_error = Some(bounded(error));
            status.outcome = Some(WebhookOutcome::Refused);
        }
    }
    status
}

/// The later of two records of one delivery (the watch cache may lag behind this process's
/// own last write): the one that ended, else the one with more attempts.
pub fn later<'a>(
    a: Option<&'a WebhookDeliveryStatus>,
    b: Option<&'a WebhookDeliveryStatus>,
) -> Option<&'a WebhookDeliveryStatus> {
    match (a, b) {
        (Some(a), Some(b)) => {
            let rank = |s: &WebhookDeliveryStatus| (s.outcome.is_some(), s.attempts);
            Some(if rank(b) > rank(a) { b } else { a })
        }
        (a, b) => a.or(b),
    }
}

fn bounded(error: &str) -> String {
    if error.chars().count() <= MAX_ERROR_CHARS {
        return error.to_owned();
    }
    let mut cut: String = error.chars().take(MAX_ERROR_CHARS - 3).collect();
    cut.push_str("...");
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().expect("a time")
    }

    fn failed(code: u16) -> Attempt {
        Attempt::Failed { code: Some(code), error: format!("HTTP {code}") }
    }

    #[test]
    fn three_attempts_half_a_second_then_a_second_apart_as_remotion() {
        assert_eq!(next(None, at("2026-12-02T10:00:00Z")), Next::AttemptIn(Duration::ZERO));
        let one = record(None, &failed(500), at("2026-12-02T10:00:00Z"));
        assert_eq!((one.attempts, one.outcome), (1, None));
        assert_eq!(next(Some(&one), at("2026-12-02T10:00:00.2Z")), Next::AttemptIn(Duration::from_millis(300)));
        assert_eq!(next(Some(&one), at("2026-12-02T10:00:01Z")), Next::AttemptIn(Duration::ZERO));
        let two = record(Some(&one), &failed(502), at("2026-12-02T10:00:01Z"));
        assert_eq!(next(Some(&two), at("2026-12-02T10:00:01Z")), Next::AttemptIn(Duration::from_secs(1)));
        let three = record(Some(&two), &failed(503), at("2026-12-02T10:00:02Z"));
        assert_eq!(
            (three.attempts, three.outcome, three.last_status_code),
            (3, Some(WebhookOutcome::Failed), Some(503))
        );
        assert_eq!(next(Some(&three), at("2026-12-02T11:00:00Z")), Next::Done);
    }

    #[test]
    fn a_delivery_or_a_refusal_ends_it() {
        let one = record(None, &failed(500), at("2026-12-02T10:00:00Z"));
        let delivered = record(Some(&one), &Attempt::Delivered { code: 204 }, at("2026-12-02T10:00:01Z"));
        assert_eq!(delivered.attempts, 2);
        assert_eq!(delivered.last_error, None);
        assert_eq!(delivered.delivered, Some(Time(at("2026-12-02T10:00:01Z"))));
        assert_eq!(next(Some(&delivered), at("2026-12-02T10:00:05Z")), Next::Done);
        let refused = record(None, &Attempt::Refused { error: "link-local".into() }, at("2026-12-02T10:00:00Z"));
        assert_eq!((refused.attempts, refused.outcome), (0, Some(WebhookOutcome::Refused)));
        assert_eq!(next(Some(&refused), at("2026-12-02T10:00:05Z")), Next::Done);
    }

    #[test]
    fn the_later_record_wins_over_a_lagging_cache() {
        let one = record(None, &failed(500), at("2026-12-02T10:00:00Z"));
        let delivered = record(Some(&one), &Attempt::Delivered { code: 200 }, at("2026-12-02T10:00:01Z"));
        assert_eq!(later(Some(&one), Some(&delivered)), Some(&delivered));
        assert_eq!(later(Some(&delivered), Some(&one)), Some(&delivered));
        assert_eq!(later(None, Some(&one)), Some(&one));
    }

    #[test]
    fn long_errors_are_cut_to_the_schema() {
        let long = record(None, &Attempt::Failed { code: None, error: "x".repeat(5000) }, at("2026-12-02T10:00:00Z"));
        assert_eq!(long.last_error.map(|e| e.chars().count()), Some(MAX_ERROR_CHARS));
    }
}
