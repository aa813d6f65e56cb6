//! Sends the `launch` invocation (InvocationType=Event) off the reconcile path.
//!
//! AWS answers an Event invocation with 202 at once. cargo-lambda's emulator instead holds the
//! request for the whole run, and reports a function error as HTTP 500 with the error body.
//! The invocation therefore runs in a task of its own, never in the reconcile, and after a
//! short response timeout without an answer it counts as accepted and the request is let go
//! (an open request per running render would exhaust the emulator; AWS has answered long
//! before). The outcome is kept for the reconciles that follow, which need it only when no
//! progress document ever appears.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use remotion_crds::protocol::{FunctionError, Payload};

use crate::aws::describe;

/// What became of a launch sent by this process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LaunchOutcome {
    /// Sent; no answer yet.
    InFlight,
    /// Lambda accepted it (or it is running: no answer within the response timeout).
    Accepted,
    /// Lambda or the function refused it.
    Refused {
        /// Error kind (the function's `errorType`, or `LaunchFailed`).
        kind: String,
        /// What was said.
        message: String,
    },
}

/// Outcomes of launches by render id.
#[derive(Clone, Debug, Default)]
pub struct Launches {
    outcomes: Arc<Mutex<HashMap<String, LaunchOutcome>>>,
}

impl Launches {
    /// The outcome of the launch of `render_id` sent by this process, if any.
    pub fn outcome(&self, render_id: &str) -> Option<LaunchOutcome> {
        self.outcomes.lock().unwrap_or_else(|e| e.into_inner()).get(render_id).cloned()
    }

    fn record(&self, render_id: &str, outcome: LaunchOutcome) {
        self.outcomes.lock().unwrap_or_else(|e| e.into_inner()).insert(render_id.to_owned(), outcome);
    }

    /// Updates the outcome of a launch still remembered.
    fn record_if_known(&self, render_id: &str, outcome: LaunchOutcome) {
        if let Some(known) = self.outcomes.lock().unwrap_or_else(|e| e.into_inner()).get_mut(render_id) {
            *known = outcome;
        }
    }

    /// Keeps only the renders `keep` accepts.
    pub fn retain(&self, keep: impl Fn(&str) -> bool) {
        self.outcomes.lock().unwrap_or_else(|e| e.into_inner()).retain(|id, _| keep(id));
    }

    /// Forgets a finished render.
    pub fn forget(&self, render_id: &str) {
        self.outcomes.lock().unwrap_or_else(|e| e.into_inner()).remove(render_id);
    }

    /// Sends `payload` to `function` as an Event invocation in a task of its own.
    pub fn spawn(
        &self,
        client: aws_sdk_lambda::Client,
        function: String,
        render_id: String,
        payload: &Payload,
        response_timeout: Duration,
    ) -> Result<(), serde_json::Error> {
        let body = serde_json::to_vec(payload)?;
        self.record(&render_id, LaunchOutcome::InFlight);
        let launches = self.clone();
        tokio::spawn(async move {
            let call = client
                .invoke()
                .function_name(&function)
                .invocation_type(InvocationType::Event)
                .payload(Blob::new(body))
                .send();
            let mut call = std::pin::pin!(call);
            let answer = match tokio::time::timeout(response_timeout, &mut call).await {
                Ok(answer) => answer,
                Err(_) => {
                    // No answer yet: AWS answers an Event invocation at once, so this is an
                    // emulator, which answers only when the run ends. Count it as accepted,
                    // and keep the request open (up to the client's operation timeout): an
                    // emulator drops an invocation still queued when its caller goes away
                    // (seen at 1,000 launches on 4 emulated processes: 112 renders lost).
                    launches.record_if_known(&render_id, LaunchOutcome::Accepted);
                    tracing::info!(render_id, function, "launch delivered, no answer within the response timeout");
                    call.await
                }
            };
            let outcome = match answer {
                Ok(out) if out.function_error().is_some() => {
                    let body = out.payload().map(Blob::as_ref).unwrap_or_default();
                    refused_by_function(body)
                        .unwrap_or_else(|| refused("LaunchFailed", String::from_utf8_lossy(body).into_owned()))
                }
                Ok(_) => LaunchOutcome::Accepted,
                Err(error) => {
                    let body = error.raw_response().and_then(|r| r.body().bytes()).unwrap_or_default();
                    refused_by_function(body).unwrap_or_else(|| refused("LaunchFailed", describe(&error)))
                }
            };
            match &outcome {
                LaunchOutcome::Refused { kind, message } => {
                    tracing::warn!(render_id, function, kind, message, "launch refused")
                }
                _ => tracing::info!(render_id, function, "launch answered"),
            }
            // A late answer for a render already finished and forgotten is not kept.
            launches.record_if_known(&render_id, outcome);
        });
        Ok(())
    }
}

fn refused(kind: &str, message: String) -> LaunchOutcome {
    LaunchOutcome::Refused { kind: kind.to_owned(), message }
}

/// The function's own error report, when the body is one.
fn refused_by_function(body: &[u8]) -> Option<LaunchOutcome> {
    let error: FunctionError = serde_json::from_slice(body).ok()?;
    Some(refused(error.kind().as_str(), error.error_message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_error_bodies_are_understood() {
        let body = br#"{"errorType":"CompositionNotFound","errorMessage":"no Intro"}"#;
        assert_eq!(
            refused_by_function(body),
            Some(LaunchOutcome::Refused { kind: "CompositionNotFound".into(), message: "no Intro".into() })
        );
        // Unknown error types are Internal, like the function's own parser says.
        let body = br#"{"errorType":"Runtime.ExitError","errorMessage":"exit 1"}"#;
        assert_eq!(
            refused_by_function(body),
            Some(LaunchOutcome::Refused { kind: "Internal".into(), message: "exit 1".into() })
        );
        assert_eq!(refused_by_function(b"<html>"), None);
    }
}
