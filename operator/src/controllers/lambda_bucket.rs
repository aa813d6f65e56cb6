//! LambdaBucket controller: finds, adopts or creates the region's bucket, blocks public
//! access, installs expiry rules, and on deletion keeps or removes the bucket by
//! `deletionPolicy`.

mod s3;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::{Controller, watcher};
use kube::{Resource, ResourceExt};
use remotion_crds::common::condition_type::READY;
use remotion_crds::common::find_condition;
use remotion_crds::lambda_bucket::{DeletionPolicy, bucket_name_for_region, is_auto_bucket_of_region};
use remotion_crds::{LambdaBucket, LambdaBucketStatus};
use tokio_util::sync::CancellationToken;

use self::s3::{
    BucketState, auto_buckets, bucket_state, create_bucket, empty_and_delete, ensure_expiry, ensure_public_access,
};
pub use self::s3::{Setting, unsupported_by_store};
use super::guard::{self, DeserializeGuard};
use super::{Context, Settings, error_policy, log_result, shutdown_signal};
use crate::aws::AwsClients;
use crate::conditions::{self, Desired, Status};
use crate::reconcile::{Error, add_finalizer, apply_status, has_finalizer, is_deleting, remove_finalizer};

/// Metrics label of this controller.
pub const CONTROLLER: &str = "lambdabucket";
/// Field manager of the status this controller writes.
pub const FIELD_MANAGER: &str = "remotion-operator/lambdabucket";
/// Drift check: how often a Ready bucket is looked at again.
pub const RESYNC: Duration = Duration::from_secs(600);

/// Runs the controller until `shutdown`.
pub async fn run(ctx: Arc<Context>, settings: Settings, shutdown: CancellationToken) {
    Controller::new(
        settings.api::<DeserializeGuard<LambdaBucket>>(&ctx.client),
        watcher::Config::default().any_semantic(),
    )
    .with_config(settings.controller_config())
    .graceful_shutdown_on(shutdown_signal(shutdown))
    .run(guard::reconcile(CONTROLLER, reconcile), guard::error_policy(error_policy::<LambdaBucket>), ctx)
    .for_each(log_result(CONTROLLER))
    .await;
}

/// One reconcile: the work, then metrics, conditions and Events for its outcome.
pub async fn reconcile(bucket: Arc<LambdaBucket>, ctx: Arc<Context>) -> Result<Action, Error> {
    let _timer = ctx.metrics.reconcile_started(CONTROLLER);
    let namespace = bucket.namespace().unwrap_or_default();
    let api: Api<LambdaBucket> = Api::namespaced(ctx.client.clone(), &namespace);
    let result =
        if is_deleting(&*bucket) { cleanup(&api, &bucket, &ctx).await } else { apply(&api, &bucket, &ctx).await };
    match result {
        Ok(action) => {
            ctx.backoffs.reset(&*bucket);
            Ok(action)
        }
        Err(error) => {
            ctx.metrics.reconcile_failed(CONTROLLER, error.kind());
            report_error(&api, &bucket, &ctx, &error).await;
            Err(error)
        }
    }
}

/// The status fields this controller owns, taken from the live status (other managers'
/// conditions left out, so applying it never takes them over).
fn owned_status(live: &LambdaBucket) -> LambdaBucketStatus {
    let status = live.status.clone().unwrap_or_default();
    LambdaBucketStatus { conditions: status.conditions.into_iter().filter(|c| c.type_ == READY).collect(), ..status }
}

fn set_ready(status: &mut LambdaBucketStatus, live: &LambdaBucket, state: Status, reason: &str, message: String) {
    let generation = live.meta().generation;
    conditions::set(
        &mut status.conditions,
        Desired { type_: READY, status: state, reason, message },
        generation,
        Time(k8s_openapi::jiff::Timestamp::now()),
    );
    status.observed_generation = generation;
}

async fn apply(api: &Api<LambdaBucket>, bucket: &LambdaBucket, ctx: &Context) -> Result<Action, Error> {
    let mut live = bucket.clone();
    // First visit: say at once that we are on it (kstatus, Helm --wait).
    if find_condition(&owned_status(&live).conditions, READY).is_none() {
        let mut status = owned_status(&live);
        set_ready(&mut status, &live, Status::Unknown, "Reconciling", "Looking for the bucket".into());
        if let Some(updated) = apply_status(api, &live, FIELD_MANAGER, &status).await? {
            live = updated;
        }
    }
    live = add_finalizer(api, &live).await?;

    let spec = &live.spec;
    let namespace = live.namespace().unwrap_or_default();
    let clients = ctx.aws.clients(&namespace, &spec.aws).await?;
    let (name, found) = resolve_bucket(&clients, &live).await?;
    if found == Found::Created {
        ctx.events.normal(&live, "Created", "CreateBucket", format!("Created bucket {name}")).await;
    } else if found == Found::Adopted && live.status.as_ref().and_then(|s| s.bucket_name.as_ref()) != Some(&name) {
        ctx.events.normal(&live, "Adopted", "AdoptBucket", format!("Adopted existing bucket {name}")).await;
    }

    let custom_endpoint = spec.aws.endpoint.is_some();
    let public = ensure_public_access(&clients.s3, &name, spec.public_outputs, custom_endpoint).await?;
    let expiry_enabled = spec.expiry.as_ref().is_some_and(|e| e.enabled);
    let expiry = ensure_expiry(&clients.s3, &name, expiry_enabled, custom_endpoint).await?;

    let mut status = owned_status(&live);
    status.bucket_name = Some(name.clone());
    status.region = Some(spec.aws.region.clone());
    status.url = Some(bucket_url(&clients, &name));
    set_ready(&mut status, &live, Status::True, "Available", ready_message(&name, public, expiry, expiry_enabled));
    apply_status(api, &live, FIELD_MANAGER, &status).await?;
    Ok(Action::requeue(RESYNC))
}

/// How the bucket was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Found {
    /// Named in the spec, or recorded in the status earlier, and present.
    Existing,
    /// An auto-named bucket of the region, found by listing.
    Adopted,
    /// Created now.
    Created,
}

/// The bucket to use: the spec's name (created if missing), the one recorded in the status,
/// or the region's single auto-named bucket (created if there is none).
async fn resolve_bucket(clients: &AwsClients, live: &LambdaBucket) -> Result<(String, Found), Error> {
    let region = &live.spec.aws.region;
    if let Some(name) = &live.spec.bucket_name {
        return match bucket_state(&clients.s3, name).await? {
            BucketState::Exists => Ok((name.clone(), Found::Existing)),
            BucketState::Missing => {
                create_bucket(&clients.s3, name, region).await?;
                Ok((name.clone(), Found::Created))
            }
            BucketState::Forbidden => Err(forbidden(name)),
        };
    }
    // Keep the bucket chosen before, even if more auto-named buckets appeared since.
    let recorded =
        live.status.as_ref().and_then(|s| s.bucket_name.clone()).filter(|n| is_auto_bucket_of_region(n, region));
    if let Some(name) = recorded {
        match bucket_state(&clients.s3, &name).await? {
            BucketState::Exists => return Ok((name, Found::Existing)),
            BucketState::Forbidden => return Err(forbidden(&name)),
            BucketState::Missing => {} // deleted by hand: look again
        }
    }
    let candidates = auto_buckets(&clients.s3, region).await?;
    match candidates.as_slice() {
        [] => {
            let name = bucket_name_for_region(region, &random_suffix())
                .map_err(|e| Error::terminal("InternalError", e.to_string()))?;
            create_bucket(&clients.s3, &name, region).await?;
            Ok((name, Found::Created))
        }
        [single] => Ok((single.clone(), Found::Adopted)),
        several => Err(Error::terminal(
            "MultipleBuckets",
            format!(
                "found {} buckets for region {region}: {}; set spec.bucketName to the one to use",
                several.len(),
                several.join(", ")
            ),
        )),
    }
}

fn forbidden(name: &str) -> Error {
    Error::terminal(
        "BucketNotAccessible",
        format!(
            "bucket {name} exists but these credentials may not use it (another account's bucket, or missing s3:ListBucket); choose another spec.bucketName or fix the IAM policy"
        ),
    )
}

/// 10 characters of `[a-z0-9]`.
fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    (0..10).map(|_| ALPHABET[rand::random_range(0..ALPHABET.len())] as char).collect()
}

/// Base URL of the bucket: path-style under a custom endpoint, virtual-hosted on AWS.
fn bucket_url(clients: &AwsClients, name: &str) -> String {
    match &clients.endpoint {
        Some(endpoint) => format!("{}/{name}", endpoint.trim_end_matches('/')),
        None => format!("https://{name}.s3.{}.amazonaws.com", clients.region),
    }
}

/// The Ready message: stable across reconciles (how the bucket was found goes to an Event),
/// plus what an S3-compatible store could not do.
fn ready_message(name: &str, public: Setting, expiry: Setting, expiry_enabled: bool) -> String {
    let mut message = format!("Bucket {name} is ready");
    if public == Setting::Unsupported {
        message.push_str(
            "; the S3-compatible store does not support PublicAccessBlock (access is whatever the store enforces)",
        );
    }
    if expiry_enabled && expiry == Setting::Unsupported {
        message.push_str("; the S3-compatible store does not support lifecycle rules, so deleteAfter has no effect");
    }
    message
}

/// Deletion: remove the bucket (Delete) or leave it (Retain), then drop the finalizer.
async fn cleanup(api: &Api<LambdaBucket>, bucket: &LambdaBucket, ctx: &Context) -> Result<Action, Error> {
    if !has_finalizer(bucket) {
        return Ok(Action::await_change());
    }
    let name = bucket.status.as_ref().and_then(|s| s.bucket_name.clone()).or_else(|| bucket.spec.bucket_name.clone());
    match (bucket.spec.deletion_policy, name) {
        (DeletionPolicy::Delete, Some(name)) => {
            let namespace = bucket.namespace().unwrap_or_default();
            let clients = ctx.aws.clients(&namespace, &bucket.spec.aws).await?;
            let objects = empty_and_delete(&clients.s3, &name).await?;
            ctx.events
                .normal(bucket, "Deleted", "DeleteBucket", format!("Deleted bucket {name} and its {objects} objects"))
                .await;
        }
        (DeletionPolicy::Retain, Some(name)) => {
            ctx.events
                .normal(bucket, "Retained", "RetainBucket", format!("Kept bucket {name} (deletionPolicy: Retain)"))
                .await;
        }
        // No bucket was ever chosen: nothing to keep or remove.
        (_, None) => {}
    }
    remove_finalizer(api, bucket).await?;
    Ok(Action::await_change())
}

/// Writes the error into the `Ready` condition (False when terminal, Unknown while retried)
/// and publishes a Warning Event for terminal errors.
async fn report_error(api: &Api<LambdaBucket>, bucket: &LambdaBucket, ctx: &Context, error: &Error) {
    if error.is_terminal() {
        ctx.events.warning(bucket, error.kind(), "Reconcile", error.to_string()).await;
    }
    if is_deleting(bucket) {
        return;
    }
    // Re-read: the object passed in may predate this reconcile's own writes.
    let live = match api.get_opt(&bucket.name_any()).await {
        Ok(Some(live)) => live,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(error = %e, "reading the LambdaBucket to report an error failed");
            return;
        }
    };
    let mut status = owned_status(&live);
    let (state, message) = if error.is_terminal() {
        (Status::False, error.to_string())
    } else {
        (Status::Unknown, format!("{error} (retrying)"))
    };
    set_ready(&mut status, &live, state, error.kind(), message);
    if let Err(e) = apply_status(api, &live, FIELD_MANAGER, &status).await {
        tracing::warn!(error = %e, "writing the error condition failed");
    }
}
