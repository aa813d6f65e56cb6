//! The follower's verdict on a launched job: from what it observed this time (the progress
//! document, the output, the stall clock, an unconfirmed cancel, the launch's answer), what the
//! status should say. Pure, so that every branch is unit-tested.

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use remotion_crds::Reason;
use remotion_crds::render_job::{RenderOutput, RenderPhase};
use remotion_protocol::progress::ProgressDocument;

use super::invoke::LaunchOutcome;
use super::stall::StallPolicy;
use super::status::Verdict;

/// What the follower observed of a launched render.
#[derive(Clone, Debug)]
pub struct Observed<'a> {
    /// The progress document, once the function wrote one.
    pub doc: Option<&'a ProgressDocument>,
    /// The output with its URL, once the document says done.
    pub output: Option<RenderOutput>,
    /// A cancel was signalled longer ago than the function has to confirm it.
    pub cancel_overdue: bool,
    /// How long the render has been silent, when that is longer than the stall policy allows.
    pub silence: Option<Duration>,
    /// What became of the launch this process sent, if it sent one.
    pub launch: Option<&'a LaunchOutcome>,
    /// When the launch was recorded.
    pub started_at: Time,
}

/// The limits the verdict measures against.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Silence tolerated.
    pub stall: StallPolicy,
    /// How long the function has to confirm a cancel.
    pub cancel_confirm_timeout: Duration,
}

/// The verdict: the document's own word once it is final; else an unconfirmed cancel, a stall,
/// or a refused launch end the job; else the render goes on.
pub fn verdict<'a>(observed: Observed<'a>, limits: Limits) -> Verdict<'a> {
    if let Some(doc) = observed.doc.filter(|d| d.stage.is_terminal()) {
        return Verdict::Progress { doc, output: observed.output };
    }
    if observed.cancel_overdue {
        return Verdict::Ended {
            phase: RenderPhase::Cancelled,
            reason: Reason::CancelUnconfirmed,
            message: format!(
                "cancelled; the function did not confirm within {} s and may run until its timeout ({} s)",
                limits.cancel_confirm_timeout.as_secs(),
                limits.stall.function_timeout.as_secs()
            ),
            doc: observed.doc,
        };
    }
    if let Some(silence) = observed.silence {
        return stalled(observed.doc, observed.launch, silence, limits.stall);
    }
    match (observed.doc, observed.launch) {
        (Some(doc), _) => Verdict::Progress { doc, output: None },
        (None, Some(LaunchOutcome::Refused { reason, message })) => Verdict::Ended {
            phase: RenderPhase::Failed,
            reason: *reason,
            message: format!("the function refused the launch: {message}"),
            doc: None,
        },
        (None, _) => Verdict::Launched { started_at: observed.started_at, estimate: None },
    }
}

fn stalled<'a>(
    doc: Option<&'a ProgressDocument>,
    launch: Option<&LaunchOutcome>,
    silence: Duration,
    policy: StallPolicy,
) -> Verdict<'a> {
    let what = match doc {
        Some(d) => format!(
            "its progress document has not changed for {} s (last stage {})",
            silence.as_secs(),
            d.stage.as_str()
        ),
        None => format!("the function wrote no progress document in the {} s since launch", silence.as_secs()),
    };
    let hint = match launch {
        Some(LaunchOutcome::InFlight) => "; the launch invocation is still unanswered",
        _ => "",
    };
    Verdict::Ended {
        phase: RenderPhase::Failed,
        reason: Reason::Stalled,
        message: format!(
            "the render stalled: {what}, longer than the function timeout ({} s) plus {} s{hint}; see the function's logs",
            policy.function_timeout.as_secs(),
            policy.margin.as_secs()
        ),
        doc,
    }
}

#[cfg(test)]
mod tests {
    use remotion_protocol::progress::Stage;

    use super::*;

    fn limits() -> Limits {
        Limits {
            stall: StallPolicy { function_timeout: Duration::from_secs(120), margin: Duration::from_secs(60) },
            cancel_confirm_timeout: Duration::from_secs(30),
        }
    }

    fn doc(stage: Stage) -> ProgressDocument {
        let mut doc = ProgressDocument::new("r", 0);
        doc.stage = stage;
        doc
    }

    fn observed<'a>(doc: Option<&'a ProgressDocument>, launch: Option<&'a LaunchOutcome>) -> Observed<'a> {
        Observed {
            doc,
            output: None,
            cancel_overdue: false,
            silence: None,
            launch,
            started_at: Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH),
        }
    }

    fn ended(verdict: &Verdict<'_>) -> Option<(RenderPhase, Reason)> {
        match verdict {
            Verdict::Ended { phase, reason, .. } => Some((*phase, *reason)),
            _ => None,
        }
    }

    #[test]
    fn a_final_document_has_the_last_word() {
        let done = doc(Stage::Done);
        let mut o = observed(Some(&done), None);
        o.cancel_overdue = true;
        o.silence = Some(Duration::from_secs(999));
        assert!(matches!(verdict(o, limits()), Verdict::Progress { .. }));
    }

    #[test]
    fn an_unconfirmed_cancel_ends_the_job_cancelled() {
        let rendering = doc(Stage::Rendering);
        let mut o = observed(Some(&rendering), None);
        o.cancel_overdue = true;
        let v = verdict(o, limits());
        assert_eq!(ended(&v), Some((RenderPhase::Cancelled, Reason::CancelUnconfirmed)));
    }

    #[test]
    fn silence_beyond_the_policy_is_a_stall_that_names_an_unanswered_launch() {
        let mut o = observed(None, Some(&LaunchOutcome::InFlight));
        o.silence = Some(Duration::from_secs(200));
        let v = verdict(o, limits());
        assert_eq!(ended(&v), Some((RenderPhase::Failed, Reason::Stalled)));
        let Verdict::Ended { message, .. } = v else { unreachable!() };
        assert!(message.contains("still unanswered") && message.contains("200 s"), "{message}");
    }

    #[test]
    fn a_refused_launch_fails_with_the_functions_reason() {
        let refused = LaunchOutcome::Refused { reason: Reason::ProtocolMismatch, message: "v2".into() };
        let v = verdict(observed(None, Some(&refused)), limits());
        assert_eq!(ended(&v), Some((RenderPhase::Failed, Reason::ProtocolMismatch)));
    }

    #[test]
    fn otherwise_the_render_goes_on() {
        let rendering = doc(Stage::Rendering);
        assert!(matches!(verdict(observed(Some(&rendering), None), limits()), Verdict::Progress { output: None, .. }));
        assert!(matches!(verdict(observed(None, Some(&LaunchOutcome::Accepted)), limits()), Verdict::Launched { .. }));
        assert!(matches!(verdict(observed(None, None), limits()), Verdict::Launched { .. }));
    }
}
