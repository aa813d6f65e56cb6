//! What a waiting RenderJob's condition says.
//!
//! Each message is written into the job's status, so a message that changes whenever the
//! queue moves costs one status write per waiting job per move: with 10,000 jobs queued, a
//! freed slot would wait behind thousands of writes in the API server. Only the first
//! [`SHOWN_POSITIONS`] waiting jobs of a function are told their exact position and the
//! queue's counts; the others get a message that stays the same until they get near the front.

use kube::ResourceExt;
use remotion_crds::render_function::CapacitySource;
use remotion_crds::{Reason, RenderFunction};

use super::capacity_source;
use super::plan::{Limits, Plan};

/// Waiting jobs of a function told their exact position.
pub const SHOWN_POSITIONS: u32 = 100;

/// The message of a job waiting for `reason` at `position` (1-based) of `plan`.
pub fn wait_message(
    function: &RenderFunction,
    namespace: &str,
    limits: Limits,
    plan: &Plan,
    reason: Reason,
    position: u32,
) -> String {
    let name = function.status.as_ref().and_then(|s| s.function_name.as_deref()).unwrap_or_default();
    let resource = function.name_any();
    if reason == Reason::NamespaceLimit {
        return format!(
            "waiting: namespace {namespace} already runs {} renders on function {name}, the most RenderFunction \
             {resource} allows (spec.maxRendersPerNamespace)",
            limits.per_namespace.unwrap_or_default()
        );
    }
    let capacity = limits.capacity.unwrap_or_default();
    let source = match capacity_source(function) {
        Some(CapacitySource::MaxConcurrentInvocations) => "spec.maxConcurrentInvocations",
        Some(CapacitySource::ReservedConcurrency) => "its reserved concurrency",
        Some(CapacitySource::AccountUnreservedConcurrency) => "the account's unreserved concurrency",
        None => "its capacity",
    };
    if position > SHOWN_POSITIONS {
        return format!(
            "waiting for a slot of function {name}: more than {SHOWN_POSITIONS} renders are ahead of it (the exact \
             position is shown from position {SHOWN_POSITIONS}); {capacity} slots ({source} of RenderFunction \
             {resource})"
        );
    }
    format!(
        "waiting for a slot of function {name}: position {position} of {} waiting; {} of {capacity} slots in use \
         ({source} of RenderFunction {resource})",
        plan.waiting, plan.in_use
    )
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use remotion_crds::render_function::RenderFunctionStatus;

    use super::*;

    fn function() -> RenderFunction {
        let mut function: RenderFunction = serde_json::from_value(serde_json::json!({
            "apiVersion": "remotion-operator.io/v1alpha1", "kind": "RenderFunction",
            "metadata": {"name": "renderer", "namespace": "team-a"},
            "spec": {"region": "us-east-1", "functionName": "remotion-render", "maxConcurrentInvocations": 4},
        }))
        .unwrap();
        function.status =
            Some(RenderFunctionStatus { function_name: Some("remotion-render".into()), ..Default::default() });
        function
    }

    fn plan(waiting: u32, in_use: u32) -> Plan {
        Plan { places: HashMap::new(), in_use, waiting }
    }

    #[test]
    fn the_front_of_the_queue_is_told_its_position_and_the_rest_a_message_that_holds_still() {
        let limits = Limits { capacity: Some(4), per_namespace: None };
        let function = function();
        let message = |position, waiting, in_use| {
            wait_message(&function, "team-a", limits, &plan(waiting, in_use), Reason::Queued, position)
        };
        assert_eq!(
            message(3, 250, 4),
            "waiting for a slot of function remotion-render: position 3 of 250 waiting; 4 of 4 slots in use \
             (spec.maxConcurrentInvocations of RenderFunction renderer)"
        );
        assert!(message(SHOWN_POSITIONS, 9_999, 4).contains("position 100 of 9999 waiting"));
        // Beyond the shown positions the queue can move without a new message (no status write).
        let far = message(SHOWN_POSITIONS + 1, 9_999, 4);
        assert!(far.contains("more than 100 renders are ahead of it"), "{far}");
        assert_eq!(far, message(5_000, 10_000, 3));
        assert_eq!(far, message(101, 101, 0));
    }

    #[test]
    fn a_namespace_at_its_limit_is_told_the_limit() {
        let limits = Limits { capacity: Some(4), per_namespace: Some(2) };
        let message = wait_message(&function(), "team-a", limits, &plan(5, 4), Reason::NamespaceLimit, 1);
        assert!(message.contains("namespace team-a already runs 2 renders on function remotion-render"), "{message}");
    }
}
