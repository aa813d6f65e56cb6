//! The body Remotion Lambda POSTs when a render ends (`WebhookPayload` of
//! `@remotion/lambda`), built from an ended RenderJob, and the `X-Remotion-Status` it goes
//! with.
//!
//! - Succeeded: `type: "success"` with `outputUrl`/`outputFile` (the status's output URL),
//!   `timeToFinish` (ms from launch to end), `costs` and the non-fatal `lambdaErrors`;
//! - Failed with reason `Stalled` (no sign of life past the function's timeout): `type:
//!   "timeout"`, as Remotion sends when its main function times out;
//! - any other failure: `type: "error"`, `errors: [{name: <reason>, message, stack: ""}]`;
//! - Cancelled: `type: "error"` with one error named `CancelledError`, the name Remotion's
//!   renderers give a cancelled render (it has no `cancelled` type).
//!
//! Every type carries `renderId`, `expectedBucketOwner` (the AWS account of the render
//! function, from its ARN; empty when unknown), `bucketName` and `customData` (or `null`).

use remotion_crds::common::{condition_type, find_condition};
use remotion_crds::render_job::{RenderErrorEntry, RenderJobStatus, RenderPhase};
use remotion_crds::{Reason, RenderJob};
use remotion_protocol::keys::RenderId;
use serde_json::{Value, json};

use super::json_text;

/// Remotion's webhook types (`X-Remotion-Status` and the body's `type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WebhookType {
    /// The output is in the bucket.
    Success,
    /// The render failed or was cancelled.
    Error,
    /// The render stopped giving signs of life (Remotion: its main function timed out).
    Timeout,
}

impl WebhookType {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Error => "error",
            Self::Timeout => "timeout",
        }
    }
}

/// A webhook ready to send: its type and its body, written as JavaScript writes JSON.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Payload {
    /// `X-Remotion-Status`.
    pub kind: WebhookType,
    /// The request body.
    pub body: String,
}

/// Name of the error a cancelled render reports (Remotion's renderers use it too).
pub const CANCELLED_ERROR: &str = "CancelledError";

/// What Remotion's `costs.disclaimer` says, in substance.
const COST_DISCLAIMER: &str = "Estimated cost of the Lambda invocations at the region's list prices, without the free \
                               tier, discounts, S3 or data transfer.";

/// The webhook of an ended job; `None` while it has not ended, or when its end is the webhook
/// being invalid (nothing can be sent then, as Remotion refuses such a render outright).
pub fn build(job: &RenderJob, expected_bucket_owner: &str) -> Option<Payload> {
    let webhook = job.spec.webhook.as_ref()?;
    let status = job.status.as_ref()?;
    let phase = status.phase.filter(|p| p.is_terminal())?;
    let (reason, message) = end_reason(status)?;
    if reason == Reason::InvalidWebhook {
        return None;
    }
    let render_id = render_id(job).unwrap_or_default();
    let custom_data = webhook.custom_data.clone().unwrap_or(Value::Null);
    let kind = match phase {
        RenderPhase::Succeeded => WebhookType::Success,
        RenderPhase::Failed if reason == Reason::Stalled => WebhookType::Timeout,
        _ => WebhookType::Error,
    };
    let mut entries: Vec<(&str, Value)> = vec![
        ("type", json!(kind.as_str())),
        ("renderId", json!(render_id)),
        ("expectedBucketOwner", json!(expected_bucket_owner)),
        ("bucketName", json!(status.bucket_name.clone().unwrap_or_default())),
        ("customData", custom_data),
    ];
    match kind {
        WebhookType::Success => {
            // Remotion leaves out what it does not know (`undefined`), it never sends null.
            let url = status.output.as_ref().and_then(|o| o.url.clone());
            if let Some(url) = &url {
                entries.push(("outputUrl", json!(url)));
            }
            entries.push(("lambdaErrors", Value::Array(status.errors.iter().map(lambda_error).collect())));
            if let Some(url) = url {
                entries.push(("outputFile", json!(url)));
            }
            if let Some(ms) = time_to_finish(status) {
                entries.push(("timeToFinish", json!(ms)));
            }
            entries.push(("costs", costs(status)));
        }
        WebhookType::Error => {
            let name = if phase == RenderPhase::Cancelled { CANCELLED_ERROR } else { reason.as_str() };
            entries.push(("errors", json!([{"message": message, "name": name, "stack": ""}])));
        }
        WebhookType::Timeout => {}
    }
    Some(Payload { kind, body: json_text::object(&entries) })
}

/// The job's render id: recorded at launch, else the one its UID gives (a job that ended
/// before launch).
pub fn render_id(job: &RenderJob) -> Option<String> {
    job.status
        .as_ref()
        .and_then(|s| s.render_id.clone())
        .or_else(|| job.metadata.uid.as_deref().and_then(|uid| RenderId::from_uid(uid).ok()).map(|id| id.to_string()))
}

/// The reason and message the job ended with (its `Failed` condition, else `Ready`).
pub fn end_reason(status: &RenderJobStatus) -> Option<(Reason, String)> {
    let condition = match status.phase? {
        RenderPhase::Succeeded => find_condition(&status.conditions, condition_type::SUCCEEDED),
        _ => find_condition(&status.conditions, condition_type::FAILED),
    }
    .or_else(|| find_condition(&status.conditions, condition_type::READY))?;
    Some((condition.reason.parse().ok()?, condition.message.clone()))
}

/// Milliseconds from launch to end, when the job was launched.
fn time_to_finish(status: &RenderJobStatus) -> Option<i64> {
    let (started, completed) = (status.started_at.as_ref()?, status.completed_at.as_ref()?);
    Some((completed.0.as_millisecond() - started.0.as_millisecond()).max(0))
}

/// Remotion's `AfterRenderCost`.
fn costs(status: &RenderJobStatus) -> Value {
    let accrued = status.cost.as_ref().map_or("0", |c| c.accrued_usd.as_str());
    json!({
        "estimatedCost": accrued.parse::<f64>().unwrap_or(0.0),
        "estimatedDisplayCost": format!("${accrued}"),
        "currency": "USD",
        "disclaimer": COST_DISCLAIMER,
    })
}

/// A non-fatal error of the render in Remotion's `EnhancedErrorInfo` shape.
fn lambda_error(entry: &RenderErrorEntry) -> Value {
    let attempt = entry.attempt.unwrap_or(1);
    json!({
        "s3Location": "",
        "explanation": null,
        "type": "renderer",
        "message": entry.message,
        "name": "Error",
        "stack": "",
        "frame": null,
        "chunk": entry.chunk,
        "isFatal": false,
        "attempt": attempt,
        "willRetry": entry.retried,
        "totalAttempts": attempt,
        "tmpDir": null,
    })
}

/// The AWS account of a Lambda function ARN (`arn:aws:lambda:<region>:<account>:function:<name>`).
pub fn account_of_arn(arn: &str) -> Option<&str> {
    arn.split(':').nth(4).filter(|a| a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
    use remotion_crds::render_job::{RenderCost, RenderOutput, WebhookSpec};

    fn time(s: &str) -> Time {
        Time(s.parse().expect("a time"))
    }

    fn condition(type_: &str, status: &str, reason: &str, message: &str) -> Condition {
        Condition {
            type_: type_.into(),
            status: status.into(),
            reason: reason.into(),
            message: message.into(),
            observed_generation: Some(1),
            last_transition_time: time("2026-12-02T10:01:00Z"),
        }
    }

    fn ended(phase: RenderPhase, reason: &str, message: &str) -> RenderJob {
        let mut job = RenderJob::new("intro", crate::controllers::render_job::references::tests::spec());
        job.metadata.uid = Some("0b6f7f49-8f5e-4c61-9d7e-1d2f3a4b5c6d".into());
        job.spec.webhook = Some(WebhookSpec {
            url: "https://example.com/hook".into(),
            secret_ref: None,
            custom_data: Some(json!({"id": 42, "ratio": 1.0})),
        });
        let succeeded = phase == RenderPhase::Succeeded;
        job.status = Some(RenderJobStatus {
            phase: Some(phase),
            render_id: Some("0b6f7f498f5e4c619d7e1d2f3a4b5c6d".into()),
            bucket_name: Some("remotionlambda-useast1-abc".into()),
            started_at: Some(time("2026-12-02T10:00:00Z")),
            completed_at: Some(time("2026-12-02T10:00:46.5Z")),
            cost: Some(RenderCost { accrued_usd: "0.00428".into(), ..RenderCost::default() }),
            output: succeeded.then(|| RenderOutput {
                url: Some("https://s3.example/out.mp4?X-Amz-Signature=1".into()),
                s3_uri: "s3://remotionlambda-useast1-abc/renders/x/out.mp4".into(),
                ..RenderOutput::default()
            }),
            conditions: vec![
                condition("Succeeded", if succeeded { "True" } else { "False" }, reason, message),
                condition("Failed", if succeeded { "False" } else { "True" }, reason, message),
            ],
            errors: vec![RenderErrorEntry {
                chunk: Some(3),
                attempt: Some(1),
                retried: true,
                message: "Network: reset".into(),
                ..RenderErrorEntry::default()
            }],
            ..RenderJobStatus::default()
        });
        job
    }

    #[test]
    fn a_success_carries_remotions_fields_in_remotions_order() {
        let payload = build(&ended(RenderPhase::Succeeded, "Succeeded", "rendered 300 frames"), "123456789012")
            .expect("a webhook");
        assert_eq!(payload.kind, WebhookType::Success);
        assert_eq!(
            payload.body,
            concat!(
                r#"{"type":"success","renderId":"0b6f7f498f5e4c619d7e1d2f3a4b5c6d","expectedBucketOwner":"123456789012","#,
                r#""bucketName":"remotionlambda-useast1-abc","customData":{"id":42,"ratio":1},"#,
                r#""outputUrl":"https://s3.example/out.mp4?X-Amz-Signature=1","lambdaErrors":[{"#,
                r#""attempt":1,"chunk":3,"explanation":null,"frame":null,"isFatal":false,"message":"Network: reset","#,
                r#""name":"Error","s3Location":"","stack":"","tmpDir":null,"totalAttempts":1,"type":"renderer","willRetry":true}],"#,
                r#""outputFile":"https://s3.example/out.mp4?X-Amz-Signature=1","timeToFinish":46500,"#,
                r#""costs":{"currency":"USD","disclaimer":""#
            )
            .to_owned()
                + COST_DISCLAIMER
                + r#"","estimatedCost":0.00428,"estimatedDisplayCost":"$0.00428"}}"#
        );
    }

    #[test]
    fn a_stall_is_remotions_timeout_and_carries_nothing_else() {
        let payload = build(&ended(RenderPhase::Failed, "Stalled", "no progress"), "").expect("a webhook");
        assert_eq!(payload.kind, WebhookType::Timeout);
        let body: Value = serde_json::from_str(&payload.body).unwrap();
        let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["bucketName", "customData", "expectedBucketOwner", "renderId", "type"]);
    }

    #[test]
    fn failures_and_cancels_are_errors_naming_what_happened() {
        let failed = build(&ended(RenderPhase::Failed, "DelayRenderTimeout", "delayRender() timed out"), "").unwrap();
        assert_eq!(failed.kind, WebhookType::Error);
        let body: Value = serde_json::from_str(&failed.body).unwrap();
        assert_eq!(
            body["errors"],
            json!([{"message": "delayRender() timed out", "name": "DelayRenderTimeout", "stack": ""}])
        );

        let cancelled = build(&ended(RenderPhase::Cancelled, "Cancelled", "the render was cancelled"), "").unwrap();
        let body: Value = serde_json::from_str(&cancelled.body).unwrap();
        assert_eq!(cancelled.kind, WebhookType::Error);
        assert_eq!(body["errors"][0]["name"], "CancelledError");
        assert_eq!(body["customData"], json!({"id": 42, "ratio": 1}));
    }

    #[test]
    fn nothing_is_sent_before_the_end_nor_for_an_invalid_webhook() {
        let mut running = ended(RenderPhase::Succeeded, "Succeeded", "");
        running.status.as_mut().unwrap().phase = Some(RenderPhase::Rendering);
        assert_eq!(build(&running, ""), None);
        assert_eq!(build(&ended(RenderPhase::Failed, "InvalidWebhook", "customData too large"), ""), None);
        let mut without = ended(RenderPhase::Succeeded, "Succeeded", "");
        without.spec.webhook = None;
        assert_eq!(build(&without, ""), None);
    }

    #[test]
    fn the_account_comes_from_the_function_arn() {
        assert_eq!(account_of_arn("arn:aws:lambda:us-east-1:123456789012:function:remotion"), Some("123456789012"));
        assert_eq!(account_of_arn("not-an-arn"), None);
    }
}
