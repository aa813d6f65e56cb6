//! Conditions the Kubernetes way: one per type, `lastTransitionTime` moved only when the
//! status flips, and comparisons that ignore timestamps (so idle reconciles write nothing).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use remotion_crds::Reason;

/// Condition status values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// The condition holds.
    True,
    /// It does not.
    False,
    /// Not known yet.
    Unknown,
}

impl Status {
    /// The API's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::True => "True",
            Self::False => "False",
            Self::Unknown => "Unknown",
        }
    }
}

/// A condition to set: type, status, reason (one CamelCase word) and a human message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Desired<'a> {
    /// Condition type, e.g. `Ready`.
    pub type_: &'a str,
    /// Status.
    pub status: Status,
    /// Reason.
    pub reason: Reason,
    /// Message.
    pub message: String,
}

/// Sets `desired` in `conditions` for `generation`: replaces the condition of the same type,
/// keeping its `lastTransitionTime` unless the status changes.
pub fn set(conditions: &mut Vec<Condition>, desired: Desired<'_>, generation: Option<i64>, now: Time) {
    let existing = conditions.iter().position(|c| c.type_ == desired.type_);
    let transition = match existing {
        Some(i) if conditions[i].status == desired.status.as_str() => conditions[i].last_transition_time.clone(),
        _ => now,
    };
    let condition = Condition {
        type_: desired.type_.to_owned(),
        status: desired.status.as_str().to_owned(),
        reason: desired.reason.as_str().to_owned(),
        message: desired.message,
        observed_generation: generation,
        last_transition_time: transition,
    };
    match existing {
        Some(i) => conditions[i] = condition,
        None => conditions.push(condition),
    }
}

/// Removes the condition of type `type_`, if any.
pub fn remove(conditions: &mut Vec<Condition>, type_: &str) {
    conditions.retain(|c| c.type_ != type_);
}

/// Whether two condition lists say the same thing, timestamps aside (order ignored).
pub fn same_ignoring_time(a: &[Condition], b: &[Condition]) -> bool {
    a.len() == b.len()
        && a.iter().all(|x| {
            b.iter().any(|y| {
                x.type_ == y.type_
                    && x.status == y.status
                    && x.reason == y.reason
                    && x.message == y.message
                    && x.observed_generation == y.observed_generation
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Time {
        Time(s.parse().unwrap())
    }

    fn ready(status: Status, reason: Reason) -> Desired<'static> {
        Desired { type_: "Ready", status, reason, message: format!("{reason}.") }
    }

    #[test]
    fn transition_time_moves_only_when_status_flips() {
        let mut conditions = Vec::new();
        set(&mut conditions, ready(Status::Unknown, Reason::Reconciling), Some(1), t("2026-01-01T00:00:00Z"));
        set(&mut conditions, ready(Status::Unknown, Reason::Deploying), Some(1), t("2026-01-01T00:01:00Z"));
        assert_eq!(conditions.len(), 1);
        assert_eq!(conditions[0].reason, "Deploying");
        assert_eq!(conditions[0].last_transition_time, t("2026-01-01T00:00:00Z"));
        set(&mut conditions, ready(Status::True, Reason::Available), Some(2), t("2026-01-01T00:02:00Z"));
        assert_eq!(conditions[0].last_transition_time, t("2026-01-01T00:02:00Z"));
        assert_eq!(conditions[0].observed_generation, Some(2));
    }

    #[test]
    fn comparison_ignores_time_and_order() {
        let mut a = Vec::new();
        set(&mut a, ready(Status::True, Reason::Available), Some(1), t("2026-01-01T00:00:00Z"));
        set(
            &mut a,
            Desired { type_: "Progressing", status: Status::False, reason: Reason::Idle, message: String::new() },
            Some(1),
            t("2026-01-01T00:00:00Z"),
        );
        let mut b = a.clone();
        b.reverse();
        b[0].last_transition_time = t("2027-01-01T00:00:00Z");
        assert!(same_ignoring_time(&a, &b));
        b[1].message = "changed".into();
        assert!(!same_ignoring_time(&a, &b));
    }
}
