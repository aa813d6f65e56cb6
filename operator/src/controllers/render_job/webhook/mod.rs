//! Webhooks: when a job with `spec.webhook` ends, the operator POSTs Remotion Lambda's webhook
//! to it — the same body, headers and signature, so receivers written for Remotion (with
//! `validateWebhookSignature()` or `expressWebhook()`) accept it unchanged. The operator sends
//! it, not the render function, so it fires whatever the end: success, failure, a stall
//! (Remotion's `timeout`), a cancel, or a function that died.
//!
//! Exactly once as far as the operator can tell: every attempt is recorded in `status.webhook`
//! before the next is planned, so a restarted operator or a new leader never sends a delivered
//! webhook again and resumes the retries where they stood. (An attempt that a crash cuts off
//! before its record is written is made again: at least once in that window.)
//!
//! Nothing waits for a receiver in the reconcile loop: an attempt runs in a task of its own
//! (at most [`MAX_DELIVERIES_AT_ONCE`] at a time), and the reconcile only says when to look
//! again. A webhook that fails never holds up the job's end, its TTL or its deletion.
//!
//! The pieces:
//! - [`payload`] builds the body and `X-Remotion-Status` for an ended job;
//! - [`json_text`] writes the body as JavaScript writes JSON (what the signature covers);
//! - [`signature`] computes `X-Remotion-Signature`;
//! - [`guard`] decides which addresses a webhook may reach;
//! - [`delivery`] makes one attempt;
//! - [`schedule`] plans the attempts, the backoff, and the status after each;
//! - [`record`] writes the status and condition, and the Events.

pub mod delivery;
pub mod guard;
pub mod json_text;
pub mod payload;
pub mod record;
pub mod schedule;
pub mod signature;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use kube::api::Api;
use remotion_crds::RenderJob;
use remotion_crds::common::KeyRef;
use remotion_crds::render_job::{MAX_WEBHOOK_CUSTOM_DATA_BYTES, WebhookDeliveryStatus, WebhookSpec};
use tokio::sync::Semaphore;

use self::delivery::Sender;
use self::guard::AddressGuard;
use self::payload::Payload;
use self::schedule::{Attempt, Next};
use super::JobContext;
use crate::aws::SecretSource;
use crate::events::Events;

/// Webhook requests in flight at once, over all jobs.
pub const MAX_DELIVERIES_AT_ONCE: usize = 16;

/// How soon a job is looked at again when its attempt is still running or must wait for a
/// free sending slot (the status write at the end of an attempt wakes it sooner).
const BUSY_RECHECK: Duration = Duration::from_secs(1);

/// Why a job's webhook cannot be used at all (the job fails before launch, as Remotion
/// refuses such a render).
pub fn invalid(spec: &WebhookSpec) -> Option<String> {
    let size = spec.custom_data.as_ref().map_or(0, |data| json_text::to_text(data).len());
    (size > MAX_WEBHOOK_CUSTOM_DATA_BYTES).then(|| {
        format!(
            "webhook.customData is {size} bytes serialized, over Remotion's limit of {MAX_WEBHOOK_CUSTOM_DATA_BYTES}: \
             keep it small (an id) and put larger data into inputProps"
        )
    })
}

/// What this process remembers of a delivery.
#[derive(Default)]
struct Tracked {
    /// An attempt is running.
    in_flight: bool,
    /// The status of its last attempt here (the watch cache may not have it yet).
    latest: Option<WebhookDeliveryStatus>,
}

/// The webhook sender of the RenderJob controllers.
pub struct Webhooks {
    sender: Arc<Sender>,
    permits: Arc<Semaphore>,
    tracked: Arc<Mutex<HashMap<String, Tracked>>>,
}

impl Webhooks {
    /// A sender calling only what `guard` allows.
    pub fn new(guard: AddressGuard) -> reqwest::Result<Self> {
        Ok(Self {
            sender: Arc::new(Sender::new(guard)?),
            permits: Arc::new(Semaphore::new(MAX_DELIVERIES_AT_ONCE)),
            tracked: Arc::default(),
        })
    }

    /// Forgets the deliveries of jobs that are gone (keyed by render id).
    pub fn retain(&self, live: &HashSet<String>) {
        self.lock().retain(|id, tracked| tracked.in_flight || live.contains(id));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Tracked>> {
        self.tracked.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Moves the webhook of an ended job on: starts the attempt that is due, and says when to
    /// look at the job again (`None`: nothing more to do).
    pub async fn drive(&self, job: &RenderJob, ctx: &JobContext, namespace: &str) -> Option<Duration> {
        let spec = job.spec.webhook.as_ref()?;
        let payload = payload::build(job, &expected_bucket_owner(job, ctx, namespace).await)?;
        let key = payload::render_id(job)?;
        let cached = job.status.as_ref().and_then(|s| s.webhook.as_ref());
        let latest = {
            let mut tracked = self.lock();
            let entry = tracked.entry(key.clone()).or_default();
            if entry.in_flight {
                return Some(BUSY_RECHECK);
            }
            schedule::later(cached, entry.latest.as_ref()).cloned()
        };
        match schedule::next(latest.as_ref(), Timestamp::now()) {
            Next::Done => {
                if cached.is_some_and(|c| c.outcome.is_some()) {
                    self.lock().remove(&key);
                }
                return None;
            }
            Next::AttemptIn(wait) if !wait.is_zero() => return Some(wait),
            Next::AttemptIn(_) => {}
        }
        let Ok(permit) = self.permits.clone().try_acquire_owned() else { return Some(BUSY_RECHECK) };
        self.lock().entry(key.clone()).or_default().in_flight = true;
        let attempt = AttemptTask {
            sender: self.sender.clone(),
            tracked: self.tracked.clone(),
            secrets: ctx.shared.aws.secrets().clone(),
            events: ctx.shared.events.clone(),
            client: ctx.shared.client.clone(),
            job: job.clone(),
            namespace: namespace.to_owned(),
            url: spec.url.clone(),
            secret_ref: spec.secret_ref.clone(),
            payload,
            key,
            before: latest,
        };
        tokio::spawn(async move {
            attempt.run().await;
            drop(permit);
        });
        // The status write at the end of the attempt wakes the job; this is the fallback.
        Some(schedule::ATTEMPT_TIMEOUT + BUSY_RECHECK)
    }
}

/// The AWS account of the job's render function (Remotion's `expectedBucketOwner`), from its
/// ARN; empty when unknown.
async fn expected_bucket_owner(job: &RenderJob, ctx: &JobContext, namespace: &str) -> String {
    let function = ctx.references.function(&ctx.shared.client, namespace, &job.spec.function_ref.name).await;
    let arn = function.ok().flatten().and_then(|f| f.status).and_then(|s| s.function_arn);
    arn.as_deref().and_then(payload::account_of_arn).unwrap_or_default().to_owned()
}

/// One attempt, run apart from the reconcile.
struct AttemptTask {
    sender: Arc<Sender>,
    tracked: Arc<Mutex<HashMap<String, Tracked>>>,
    secrets: Arc<dyn SecretSource>,
    events: Events,
    client: kube::Client,
    job: RenderJob,
    namespace: String,
    url: String,
    secret_ref: Option<KeyRef>,
    payload: Payload,
    key: String,
    before: Option<WebhookDeliveryStatus>,
}

impl AttemptTask {
    async fn run(self) {
        let attempt = match self.secret().await {
            Ok(secret) => self.sender.send(&self.url, &self.payload, secret.as_deref()).await,
            Err(error) => Attempt::Failed { code: None, error },
        };
        let now = Timestamp::now();
        let delivery = schedule::record(self.before.as_ref(), &attempt, now);
        {
            let mut tracked = self.tracked.lock().unwrap_or_else(|e| e.into_inner());
            let entry = tracked.entry(self.key.clone()).or_default();
            entry.latest = Some(delivery.clone());
            entry.in_flight = false;
        }
        let host = url::Url::parse(&self.url).ok().and_then(|u| u.host_str().map(str::to_owned)).unwrap_or_default();
        tracing::info!(
            job = %self.job.name_any(), namespace = %self.namespace, attempt = delivery.attempts,
            outcome = ?delivery.outcome, error = ?delivery.last_error, "webhook attempt"
        );
        // The record is what keeps a restarted operator from sending again: retried a few
        // times; this process remembers the delivery meanwhile either way.
        let api: Api<RenderJob> = Api::namespaced(self.client.clone(), &self.namespace);
        for wait in [Duration::ZERO, Duration::from_millis(500), Duration::from_secs(2)] {
            tokio::time::sleep(wait).await;
            match record::write(&api, &self.job, &delivery, &host, Time(now)).await {
                Ok(()) => break,
                Err(error) => tracing::warn!(job = %self.job.name_any(), %error, "recording a webhook attempt"),
            }
        }
        record::announce(&self.events, &self.job, &delivery, &host).await;
    }

    /// The HMAC key, when the webhook names one.
    async fn secret(&self) -> Result<Option<Vec<u8>>, String> {
        let Some(KeyRef { name, key }) = &self.secret_ref else { return Ok(None) };
        let namespace = &self.namespace;
        match self.secrets.secret(namespace, name).await {
            Ok(Some(secret)) => match secret.data.get(key) {
                Some(value) => Ok(Some(value.clone())),
                None => Err(format!("Secret {namespace}/{name} has no key {key:?} (webhook.secretRef)")),
            },
            Ok(None) => Err(format!("Secret {namespace}/{name} does not exist (webhook.secretRef)")),
            Err(error) => Err(format!("reading Secret {namespace}/{name}: {error}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn custom_data_over_remotions_kilobyte_is_refused() {
        let spec = |data| WebhookSpec { url: "https://example.com".into(), secret_ref: None, custom_data: Some(data) };
        assert_eq!(invalid(&spec(json!({"id": 42}))), None);
        // {"k":"…"} is 8 bytes plus the string.
        assert_eq!(invalid(&spec(json!({"k": "x".repeat(1016)}))), None);
        let message = invalid(&spec(json!({"k": "x".repeat(1017)}))).expect("too large");
        assert!(message.contains("1025 bytes") && message.contains("inputProps"), "{message}");
    }
}
