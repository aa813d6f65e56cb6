//! Step 5: is a launched render still alive?
//!
//! The orchestrator rewrites its progress document at least every 2 s with a higher `sequence`.
//! No Lambda invocation outlives the function's timeout, so a render whose document has not
//! moved for longer than that timeout (plus a margin for S3 and clock skew) has no orchestrator
//! left: it is stalled, whatever the document's last stage claims. The last sign of life is the
//! latest of: the launch, the document's own `updatedAtMs`, and the moment this operator first
//! saw the document's current `sequence` (which guards against a writer clock running behind).

use std::time::Duration;

use remotion_protocol::progress::ProgressDocument;

/// How long silence may last before a render counts as stalled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StallPolicy {
    /// The function's timeout: the longest any invocation can run.
    pub function_timeout: Duration,
    /// Added slack.
    pub margin: Duration,
}

impl StallPolicy {
    /// The longest silence tolerated.
    pub fn limit(&self) -> Duration {
        self.function_timeout + self.margin
    }
}

/// The newest progress this operator has seen of one render, and when (its own clock).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Heartbeat {
    /// The document's sequence.
    pub sequence: u64,
    /// When this sequence was first seen, ms since the Unix epoch.
    pub seen_at_ms: u64,
}

/// Updates the heartbeat with a freshly read document. A document older than the heartbeat
/// (a stale read) does not move it back.
pub fn observe(previous: Option<Heartbeat>, doc: &ProgressDocument, now_ms: u64) -> Heartbeat {
    match previous {
        Some(p) if doc.sequence <= p.sequence => p,
        _ => Heartbeat { sequence: doc.sequence, seen_at_ms: now_ms },
    }
}

/// Whether a document is older than one already seen (readers ignore those).
pub fn is_stale(previous: Option<Heartbeat>, doc: &ProgressDocument) -> bool {
    previous.is_some_and(|p| doc.sequence < p.sequence)
}

/// How long a render has been silent, if that is longer than the policy allows.
pub fn silent_for(
    policy: StallPolicy,
    launched_at_ms: u64,
    doc: Option<&ProgressDocument>,
    heartbeat: Option<Heartbeat>,
    now_ms: u64,
) -> Option<Duration> {
    let last_sign = [Some(launched_at_ms), doc.map(|d| d.updated_at_ms), heartbeat.map(|h| h.seen_at_ms)]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(launched_at_ms);
    let silence = Duration::from_millis(now_ms.saturating_sub(last_sign));
    (silence > policy.limit()).then_some(silence)
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: StallPolicy =
        StallPolicy { function_timeout: Duration::from_secs(10), margin: Duration::from_secs(5) };

    fn doc(sequence: u64, updated_at_ms: u64) -> ProgressDocument {
        ProgressDocument { sequence, updated_at_ms, ..ProgressDocument::new("r", 0) }
    }

    #[test]
    fn heartbeat_moves_only_forward() {
        let h = observe(None, &doc(3, 1_000), 5_000);
        assert_eq!(h, Heartbeat { sequence: 3, seen_at_ms: 5_000 });
        // Same sequence later: still first seen at 5 s.
        assert_eq!(observe(Some(h), &doc(3, 1_000), 9_000), h);
        // An older document does not move it back.
        assert_eq!(observe(Some(h), &doc(2, 900), 9_000), h);
        assert!(is_stale(Some(h), &doc(2, 900)));
        assert!(!is_stale(Some(h), &doc(3, 900)));
        assert_eq!(observe(Some(h), &doc(4, 3_000), 9_000), Heartbeat { sequence: 4, seen_at_ms: 9_000 });
    }

    #[test]
    fn silence_beyond_timeout_and_margin_is_a_stall() {
        let d = doc(7, 100_000);
        let h = Some(Heartbeat { sequence: 7, seen_at_ms: 100_000 });
        assert_eq!(silent_for(POLICY, 0, Some(&d), h, 115_000), None);
        assert_eq!(silent_for(POLICY, 0, Some(&d), h, 115_001), Some(Duration::from_millis(15_001)));
    }

    #[test]
    fn a_writer_clock_behind_ours_is_not_a_stall_while_sequences_move() {
        // The function's clock is 60 s behind: its updatedAtMs looks old, but we saw the
        // sequence change just now.
        let d = doc(8, 40_000);
        let h = Some(Heartbeat { sequence: 8, seen_at_ms: 100_000 });
        assert_eq!(silent_for(POLICY, 0, Some(&d), h, 101_000), None);
    }

    #[test]
    fn a_launch_that_never_writes_a_document_stalls_too() {
        assert_eq!(silent_for(POLICY, 50_000, None, None, 64_000), None);
        assert_eq!(silent_for(POLICY, 50_000, None, None, 66_000), Some(Duration::from_secs(16)));
    }
}
