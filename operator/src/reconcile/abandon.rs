//! Deletion never hangs: a finalizer whose cleanup keeps failing is removed after a bounded
//! time, with a Warning Event naming what may be left in AWS.
//!
//! The common case is a namespace being deleted: its credentials Secret may go before the
//! resources that use it, and then no cleanup can ever succeed; without a bound the namespace
//! stays `Terminating` forever. Errors that no retry can fix (credentials missing, refused by
//! the tenancy policy) are given up on soon; others (AWS throttling or an outage) get an hour.

use std::time::Duration;

use kube::api::Api;
use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};
use remotion_crds::{LambdaBucket, Reason, RemotionSite, RenderJob};
use serde::de::DeserializeOwned;

use super::{Error, has_finalizer, remove_finalizer};
use crate::controllers::Context;

/// How long a failing cleanup is retried before the finalizer is removed anyway.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CleanupDeadlines {
    /// For failures no retry can fix (credentials gone or refused).
    pub hopeless: Duration,
    /// For any other failure.
    pub retried: Duration,
}

impl Default for CleanupDeadlines {
    fn default() -> Self {
        Self { hopeless: Duration::from_secs(300), retried: Duration::from_secs(3600) }
    }
}

impl CleanupDeadlines {
    /// How long cleanup may fail with `error` before it is given up.
    pub fn for_error(&self, error: &Error) -> Duration {
        match error.reason() {
            Reason::InvalidCredentials
            | Reason::CredentialsUnavailable
            | Reason::IdentityNotAllowed
            | Reason::EndpointNotAllowed => self.hopeless,
            _ => self.retried,
        }
    }
}

/// What a resource may leave in AWS when its cleanup is given up, for the Warning Event.
pub trait Leftovers {
    /// The AWS objects, in words (`None`: nothing known).
    fn leftovers(&self) -> Option<String>;
}

impl Leftovers for LambdaBucket {
    fn leftovers(&self) -> Option<String> {
        let name = self.status.as_ref()?.bucket_name.clone()?;
        Some(format!("S3 bucket {name} (region {})", self.spec.aws.region))
    }
}

impl Leftovers for RemotionSite {
    fn leftovers(&self) -> Option<String> {
        let url = self.status.as_ref()?.serve_url.clone()?;
        Some(format!("the site's files of {}", url.trim_end_matches("index.html")))
    }
}

impl Leftovers for RenderJob {
    fn leftovers(&self) -> Option<String> {
        let status = self.status.as_ref()?;
        if let Some((bucket, key)) = crate::controllers::render_job::output_cleanup::held_output(self) {
            return Some(format!("the output s3://{bucket}/{key} (output.deleteWithJob)"));
        }
        let (id, bucket) = (status.render_id.as_ref()?, status.bucket_name.as_ref()?);
        Some(format!("the render s3://{bucket}/renders/{id}/ (no cancel signal was written: it may run to its end)"))
    }
}

/// How long `object` has been waiting to be deleted (`None` when it is not).
pub fn deleting_for<K: Resource>(object: &K) -> Option<Duration> {
    let since = object.meta().deletion_timestamp.as_ref()?.0;
    let elapsed = k8s_openapi::jiff::Timestamp::now().duration_since(since);
    Some(Duration::try_from(elapsed).unwrap_or_default())
}

/// Whether the cleanup of `object`, failing with `error`, has been tried long enough.
pub fn is_due<K: Resource>(object: &K, error: &Error, deadlines: &CleanupDeadlines) -> bool {
    has_finalizer(object) && deleting_for(object).is_some_and(|waited| waited >= deadlines.for_error(error))
}

/// How long until the cleanup of `object`, failing with `error`, is due to be given up
/// (`None` when it is not being deleted under the operator's finalizer).
pub fn due_in<K: Resource>(object: &K, error: &Error, deadlines: &CleanupDeadlines) -> Option<Duration> {
    let waited = deleting_for(object).filter(|_| has_finalizer(object))?;
    Some(deadlines.for_error(error).saturating_sub(waited).max(Duration::from_secs(1)))
}

/// Gives up the cleanup of `object`: a Warning Event naming what may be left, then the
/// finalizer removed so that the deletion completes.
pub async fn give_up<K>(api: &Api<K>, object: &K, ctx: &Context, error: &Error) -> Result<Action, Error>
where
    K: Resource<DynamicType = ()> + Leftovers + Clone + DeserializeOwned + std::fmt::Debug,
{
    let waited = deleting_for(object).unwrap_or_default().as_secs() / 60;
    let left = object.leftovers().map(|l| format!("; it may have left {l}: delete it by hand")).unwrap_or_default();
    let note = format!("gave up cleaning up after {waited} min: {}{left}", error.report());
    tracing::warn!(name = object.name_any(), namespace = object.namespace(), "{note}");
    ctx.events.warning(object, Reason::CleanupAbandoned, "Cleanup", note).await;
    remove_finalizer(api, object).await?;
    Ok(Action::await_change())
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    use super::*;
    use crate::reconcile::FINALIZER;

    fn deleting(minutes_ago: i64) -> LambdaBucket {
        let mut bucket: LambdaBucket = serde_json::from_value(serde_json::json!({
            "apiVersion": "remotion-operator.io/v1alpha1", "kind": "LambdaBucket",
            "metadata": {"name": "b", "finalizers": [FINALIZER]},
            "spec": {"region": "eu-west-1"}, "status": {"bucketName": "remotionlambda-euwest1-abc"}}))
        .unwrap();
        let since = k8s_openapi::jiff::Timestamp::now() - k8s_openapi::jiff::SignedDuration::from_mins(minutes_ago);
        bucket.metadata.deletion_timestamp = Some(Time(since));
        bucket
    }

    #[test]
    fn hopeless_failures_are_given_up_sooner_than_others() {
        let deadlines = CleanupDeadlines::default();
        let gone = Error::new(Reason::InvalidCredentials, "the credentials Secret ns/aws does not exist");
        let throttled = Error::new(Reason::S3Error, "SlowDown");
        assert!(!is_due(&deleting(1), &gone, &deadlines));
        assert!(is_due(&deleting(6), &gone, &deadlines));
        assert!(!is_due(&deleting(6), &throttled, &deadlines));
        assert!(is_due(&deleting(61), &throttled, &deadlines));
        let mut alive = deleting(100);
        alive.metadata.deletion_timestamp = None;
        assert!(!is_due(&alive, &gone, &deadlines));
        assert_eq!(due_in(&alive, &gone, &deadlines), None);
        let due = due_in(&deleting(2), &gone, &deadlines).unwrap();
        assert!(due > Duration::from_secs(170) && due <= Duration::from_secs(180), "{due:?}");
    }

    #[test]
    fn leftovers_name_the_aws_object() {
        assert_eq!(deleting(0).leftovers().as_deref(), Some("S3 bucket remotionlambda-euwest1-abc (region eu-west-1)"));
    }
}
