//! The two conditions kstatus reads (Flux, kpt, Config Sync, `kubectl wait` scripts built on
//! it): `Reconciling=True` while work is under way and `Stalled=True` when it cannot go on
//! until something changes. Both are "abnormal-true": present only while true, so a healthy
//! object carries neither. Without them kstatus calls every object that has an up-to-date
//! `observedGeneration` Current, and a terminal failure would be waited on until a timeout.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use remotion_crds::Reason;
use remotion_crds::common::condition_type::{RECONCILING, STALLED};

use super::conditions::{self, Desired, Status};

/// What kstatus should compute for an object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
    /// Done: neither condition.
    Current,
    /// Work under way: `Reconciling=True`.
    InProgress,
    /// Stuck until the spec or the world changes: `Stalled=True`.
    Stalled,
}

impl Standing {
    /// The standing an infrastructure resource's `Ready` stands for: `True` is current; a
    /// terminal reason is stalled; anything else (first visit, deploying, retrying, waiting
    /// for a reference) is in progress.
    pub fn of_ready(ready: Status, reason: Reason) -> Self {
        match ready {
            Status::True => Self::Current,
            _ if reason.is_terminal() => Self::Stalled,
            _ => Self::InProgress,
        }
    }
}

/// Sets `Reconciling` and `Stalled` in `conditions` for `standing`, with `reason` and `message`.
pub fn set(
    conditions: &mut Vec<Condition>,
    standing: Standing,
    reason: Reason,
    message: &str,
    generation: Option<i64>,
    now: &Time,
) {
    let (present, absent) = match standing {
        Standing::Current => {
            conditions::remove(conditions, RECONCILING);
            conditions::remove(conditions, STALLED);
            return;
        }
        Standing::InProgress => (RECONCILING, STALLED),
        Standing::Stalled => (STALLED, RECONCILING),
    };
    conditions::remove(conditions, absent);
    let desired = Desired { type_: present, status: Status::True, reason, message: message.to_owned() };
    conditions::set(conditions, desired, generation, now.clone());
}

/// kstatus's rules for a custom resource, as its documentation states them: a status behind
/// the generation is in progress; then `Reconciling=True` is in progress and `Stalled=True`
/// failed; otherwise current. Used by tests to read statuses as Flux would.
pub fn compute(generation: Option<i64>, observed_generation: Option<i64>, conditions: &[Condition]) -> Standing {
    if let (Some(generation), Some(observed)) = (generation, observed_generation)
        && observed < generation
    {
        return Standing::InProgress;
    }
    let holds = |type_: &str| conditions.iter().any(|c| c.type_ == type_ && c.status == "True");
    if holds(RECONCILING) {
        Standing::InProgress
    } else if holds(STALLED) {
        Standing::Stalled
    } else {
        Standing::Current
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Time {
        Time("2026-12-02T00:00:00Z".parse().expect("a time"))
    }

    #[test]
    fn ready_maps_onto_the_abnormal_true_conditions() {
        assert_eq!(Standing::of_ready(Status::True, Reason::Available), Standing::Current);
        assert_eq!(Standing::of_ready(Status::Unknown, Reason::Reconciling), Standing::InProgress);
        assert_eq!(Standing::of_ready(Status::False, Reason::BucketNotReady), Standing::InProgress);
        assert_eq!(Standing::of_ready(Status::False, Reason::OwnedByAnother), Standing::Stalled);
        assert_eq!(Standing::of_ready(Status::False, Reason::IdentityNotAllowed), Standing::Stalled);
    }

    #[test]
    fn only_the_condition_that_holds_is_present() {
        let mut conditions = Vec::new();
        for standing in [Standing::InProgress, Standing::Stalled, Standing::InProgress, Standing::Current] {
            set(&mut conditions, standing, Reason::Reconciling, "m", Some(3), &now());
            assert_eq!(compute(Some(3), Some(3), &conditions), standing);
            assert!(conditions.len() <= 1, "{conditions:?}");
        }
        assert!(conditions.is_empty());
    }

    #[test]
    fn a_status_behind_the_generation_is_in_progress_whatever_it_says() {
        let mut conditions = Vec::new();
        set(&mut conditions, Standing::Stalled, Reason::OwnedByAnother, "m", Some(1), &now());
        assert_eq!(compute(Some(2), Some(1), &conditions), Standing::InProgress);
        assert_eq!(compute(Some(1), Some(1), &conditions), Standing::Stalled);
    }
}
