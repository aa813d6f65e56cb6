//! Recording a webhook's delivery: `status.webhook` and the `WebhookDelivered` condition,
//! written by server-side apply under a field manager of their own (the render's status
//! writer owns the rest of the status and never drops these), and an Event per attempt.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use remotion_crds::common::{condition_type, find_condition};
use remotion_crds::render_job::{WebhookDeliveryStatus, WebhookOutcome};
use remotion_crds::{Reason, RenderJob};
use serde_json::json;

use super::schedule::MAX_ATTEMPTS;
use crate::events::Events;
use crate::reconcile::conditions::{self, Desired, Status};

/// Field manager of `status.webhook` and the `WebhookDelivered` condition.
pub const FIELD_MANAGER: &str = "remotion-operator/renderjob-webhook";

/// The condition a delivery stands for: its status, reason and message.
pub fn standing(delivery: &WebhookDeliveryStatus, host: &str) -> (Status, Reason, String) {
    let error = delivery.last_error.as_deref().unwrap_or("no error recorded");
    match delivery.outcome {
        Some(WebhookOutcome::Delivered) => {
            let code = delivery.last_status_code.unwrap_or_default();
            let attempts = delivery.attempts;
            let message = format!("delivered to {host} (HTTP {code}) on attempt {attempts} of {MAX_ATTEMPTS}");
            (Status::True, Reason::WebhookDelivered, message)
        }
        Some(WebhookOutcome::Failed) => {
            let message = format!(
                "not delivered to {host} after {} attempts, the last: {error}. The job itself is unaffected",
                delivery.attempts
            );
            (Status::False, Reason::WebhookFailed, message)
        }
        Some(WebhookOutcome::Refused) => {
            (Status::False, Reason::WebhookRefused, format!("not sent: {error}. The job itself is unaffected"))
        }
        None => {
            let message =
                format!("attempt {} of {MAX_ATTEMPTS} to {host} failed: {error}; retrying", delivery.attempts);
            (Status::Unknown, Reason::WebhookRetrying, message)
        }
    }
}

/// The `WebhookDelivered` condition for `delivery`, keeping the job's transition time when its
/// status does not change.
pub fn condition(job: &RenderJob, delivery: &WebhookDeliveryStatus, host: &str, now: Time) -> Option<Condition> {
    let (status, reason, message) = standing(delivery, host);
    let mut conditions: Vec<Condition> = job
        .status
        .as_ref()
        .and_then(|s| find_condition(&s.conditions, condition_type::WEBHOOK_DELIVERED))
        .cloned()
        .into_iter()
        .collect();
    let desired = Desired { type_: condition_type::WEBHOOK_DELIVERED, status, reason, message };
    conditions::set(&mut conditions, desired, job.metadata.generation, now);
    conditions.pop()
}

/// Writes `delivery` into the job's status; a job deleted meanwhile (its TTL passed) is fine.
pub async fn write(
    api: &Api<RenderJob>,
    job: &RenderJob,
    delivery: &WebhookDeliveryStatus,
    host: &str,
    now: Time,
) -> Result<(), kube::Error> {
    let patch = json!({
        "apiVersion": "remotion-operator.io/v1alpha1",
        "kind": "RenderJob",
        "status": {"webhook": delivery, "conditions": condition(job, delivery, host, now).into_iter().collect::<Vec<_>>()},
    });
    let params = PatchParams::apply(FIELD_MANAGER).force();
    match api.patch_status(&job.name_any(), &params, &Patch::Apply(&patch)).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        Err(error) => Err(error),
    }
}

/// The Event of an attempt: Normal when delivered, Warning otherwise.
pub async fn announce(events: &Events, job: &RenderJob, delivery: &WebhookDeliveryStatus, host: &str) {
    let (status, reason, message) = standing(delivery, host);
    match status {
        Status::True => events.normal(job, reason, "Webhook", message).await,
        Status::False | Status::Unknown => events.warning(job, reason, "Webhook", message).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery(outcome: Option<WebhookOutcome>, attempts: i32, error: Option<&str>) -> WebhookDeliveryStatus {
        WebhookDeliveryStatus {
            outcome,
            attempts,
            last_status_code: Some(if outcome == Some(WebhookOutcome::Delivered) { 200 } else { 500 }),
            last_error: error.map(str::to_owned),
            ..WebhookDeliveryStatus::default()
        }
    }

    #[test]
    fn the_condition_says_where_the_delivery_stands() {
        let (status, reason, message) = standing(&delivery(Some(WebhookOutcome::Delivered), 3, None), "hooks.example");
        assert_eq!((status, reason), (Status::True, Reason::WebhookDelivered));
        assert_eq!(message, "delivered to hooks.example (HTTP 200) on attempt 3 of 3");
        let (status, reason, message) = standing(&delivery(None, 1, Some("answered HTTP 500")), "h");
        assert_eq!((status, reason), (Status::Unknown, Reason::WebhookRetrying));
        assert!(message.contains("attempt 1 of 3") && message.contains("HTTP 500"), "{message}");
        let (status, reason, message) = standing(&delivery(Some(WebhookOutcome::Failed), 3, Some("no answer")), "h");
        assert_eq!((status, reason), (Status::False, Reason::WebhookFailed));
        assert!(message.contains("unaffected"), "{message}");
        let refused = delivery(Some(WebhookOutcome::Refused), 0, Some("169.254.169.254 is a link-local address"));
        let (status, reason, message) = standing(&refused, "169.254.169.254");
        assert_eq!((status, reason), (Status::False, Reason::WebhookRefused));
        assert!(message.starts_with("not sent: 169.254.169.254 is a link-local"), "{message}");
    }
}
