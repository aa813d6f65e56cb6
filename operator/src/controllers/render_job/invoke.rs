//! Sends the `launch` invocation (InvocationType=Event) off the reconcile path, in a task of its
//! own: Lambda answers 202 once it has queued the event, or refuses it (the function does not
//! exist, throttling, permissions). The outcome is kept in the render's memory for the
//! reconciles that follow, which need it only when no progress document ever appears.

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use remotion_protocol::payload::Payload;

use remotion_crds::Reason;

use super::memory::Memory;
use crate::aws::describe;

/// What became of a launch sent by this process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LaunchOutcome {
    /// Sent; no answer yet.
    InFlight,
    /// Lambda queued it.
    Accepted,
    /// Lambda refused it (no such function, throttling, permissions).
    Refused {
        /// Why (`LaunchFailed`).
        reason: Reason,
        /// What was said.
        message: String,
    },
}

/// Sends `payload` to `function` as an Event invocation in a task of its own; its outcome is
/// kept in the render's memory.
pub fn spawn(
    memory: &Memory,
    client: aws_sdk_lambda::Client,
    function: String,
    render_id: String,
    payload: &Payload,
) -> Result<(), serde_json::Error> {
    let body = serde_json::to_vec(payload)?;
    memory.update(&render_id, |m| m.launch = Some(LaunchOutcome::InFlight));
    let memory = memory.clone();
    tokio::spawn(async move {
        let answer = client
            .invoke()
            .function_name(&function)
            .invocation_type(InvocationType::Event)
            .payload(Blob::new(body))
            .send()
            .await;
        // Lambda answers an Event invocation once it has queued it: what the function makes
        // of it shows in the progress document, never in this answer.
        let outcome = match answer {
            Ok(_) => LaunchOutcome::Accepted,
            Err(error) => refused(Reason::LaunchFailed, describe(&error)),
        };
        match &outcome {
            LaunchOutcome::Refused { reason, message } => {
                tracing::warn!(render_id, function, %reason, message, "launch refused")
            }
            _ => tracing::info!(render_id, function, "launch answered"),
        }
        // A late answer for a render already finished and forgotten is not kept.
        memory.update_if_known(&render_id, |m| m.launch = Some(outcome));
    });
    Ok(())
}

fn refused(reason: Reason, message: String) -> LaunchOutcome {
    LaunchOutcome::Refused { reason, message }
}
