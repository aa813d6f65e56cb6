//! Kubernetes Events (`events.k8s.io/v1`) through one shared recorder, reporting controller
//! `remotion-operator`. Events are best effort: a failed publish is logged, never fatal.

use std::time::Duration;

use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::{Client, Resource};
use remotion_crds::Reason;

/// `reportingController` of every Event the operator writes.
pub const REPORTING_CONTROLLER: &str = "remotion-operator";

/// An Event must not hold up a reconcile.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(5);

/// The operator's event recorder (cheap to clone; deduplicates into series).
#[derive(Clone)]
pub struct Events {
    recorder: Recorder,
}

impl Events {
    /// A recorder reporting as `remotion-operator`, instance `instance` (the pod name).
    pub fn new(client: Client, instance: Option<String>) -> Self {
        let reporter = Reporter { controller: REPORTING_CONTROLLER.to_owned(), instance };
        Self { recorder: Recorder::new(client, reporter) }
    }

    /// A Normal Event about `object`: `reason` CamelCase, `action` what the operator did.
    pub async fn normal<K: Resource<DynamicType = ()>>(&self, object: &K, reason: Reason, action: &str, note: String) {
        self.publish(object, EventType::Normal, reason.as_str(), action, note).await;
    }

    /// A Warning Event about `object`; for errors `reason` is the error's.
    pub async fn warning<K: Resource<DynamicType = ()>>(&self, object: &K, reason: Reason, action: &str, note: String) {
        self.publish(object, EventType::Warning, reason.as_str(), action, note).await;
    }

    async fn publish<K: Resource<DynamicType = ()>>(
        &self,
        object: &K,
        type_: EventType,
        reason: &str,
        action: &str,
        note: String,
    ) {
        let event = Event {
            type_,
            reason: truncate(reason, 128),
            // The API rejects notes over 1 kB.
            note: Some(truncate(&note, 1000)),
            action: truncate(action, 128),
            secondary: None,
        };
        let reference = object.object_ref(&());
        match tokio::time::timeout(PUBLISH_TIMEOUT, self.recorder.publish(&event, &reference)).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(%error, reason, "publishing an Event failed"),
            Err(_) => tracing::warn!(reason, "publishing an Event timed out"),
        }
    }
}

/// `s` cut to at most `max` bytes on a character boundary.
fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::truncate;

    #[test]
    fn truncation_keeps_whole_characters() {
        assert_eq!(truncate("abc", 10), "abc");
        assert_eq!(truncate("ääää", 3), "ä");
    }
}
