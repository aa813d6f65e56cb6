//! Sends the `launch` invocation (InvocationType=Event) off the reconcile path, in a task of its
//! own: Lambda answers 202 once it has queued the event, or refuses it (the function does not
//! exist, throttling, permissions). The outcome is kept in the render's memory for the
//! reconciles that follow, which need it only when no progress document ever appears.
//!
//! Throttling, Lambda's own 5xx errors and network failures are retried with backoff. That is
//! safe: the function starts a render only by creating its progress document, conditionally,
//! so a second delivery of the same launch renders nothing.

use std::time::Duration;

use aws_sdk_lambda::error::SdkError;
use aws_sdk_lambda::operation::invoke::InvokeError;
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
        let mut attempt = 1;
        // Lambda answers an Event invocation once it has queued it: what the function makes
        // of it shows in the progress document, never in this answer.
        let outcome = loop {
            let call = client
                .invoke()
                .function_name(&function)
                .invocation_type(InvocationType::Event)
                .payload(Blob::new(body.clone()))
                .send();
            let answer = match tokio::time::timeout(CALL_TIMEOUT, call).await {
                Ok(answer) => answer.map_err(|e| (is_retriable(&e), describe(&e))),
                Err(_) => Err((true, format!("no answer within {} s", CALL_TIMEOUT.as_secs()))),
            };
            match answer {
                Ok(_) => break LaunchOutcome::Accepted,
                Err((true, message)) if attempt < LAUNCH_ATTEMPTS => {
                    let wait = backoff(attempt);
                    tracing::info!(render_id, function, attempt, ?wait, "launch not accepted, retrying: {message}");
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                Err((_, message)) => {
                    break refused(Reason::LaunchFailed, format!("{message} (attempt {attempt} of {LAUNCH_ATTEMPTS})"));
                }
            }
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

/// Attempts of one launch. With [`backoff`] they span about half a minute, well inside the
/// stall limit (the function's timeout plus a margin of at least a minute).
const LAUNCH_ATTEMPTS: u32 = 6;
/// How long one attempt may take (an Event invocation is answered as soon as it is queued).
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// 1, 2, 4, 8, 16 s, each with up to 25 % jitter so throttled launches do not return together.
fn backoff(attempt: u32) -> Duration {
    let base = Duration::from_secs(1 << attempt.saturating_sub(1).min(4));
    base.mul_f64(1.0 + rand::random::<f64>() * 0.25)
}

/// Whether trying again may succeed: throttling, Lambda's own failures, the network.
fn is_retriable(error: &SdkError<InvokeError, aws_sdk_lambda::config::http::HttpResponse>) -> bool {
    match error {
        SdkError::ServiceError(service) => {
            let status = service.raw().status().as_u16();
            let err = service.err();
            status == 429
                || status >= 500
                || err.is_too_many_requests_exception()
                || err.is_service_exception()
                || err.is_ec2_throttled_exception()
                || err.is_resource_not_ready_exception()
        }
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => true,
        _ => false,
    }
}

fn refused(reason: Reason, message: String) -> LaunchOutcome {
    LaunchOutcome::Refused { reason, message }
}
