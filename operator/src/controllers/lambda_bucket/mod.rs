//! LambdaBucket controller: finds, adopts or creates the region's bucket, records itself as
//! the bucket's owner, blocks public access, installs expiry rules, and on deletion keeps or
//! removes the bucket by `deletionPolicy`.
//!
//! The pipeline, one file a step:
//! 1. [`resolve`]: which bucket (the spec's, the one recorded before, or the region's single
//!    auto-named bucket no other resource owns), created when missing;
//! 2. [`ownership`]: the bucket taken (its owner tag, [`owner`]), or refused with
//!    `OwnedByAnother` when another resource owns it;
//! 3. [`s3`]: the bucket's settings made to match the spec (public access, expiry rules);
//! 4. [`status`]: the status and `Ready` message that say what was found;
//! 5. [`cleanup`]: on deletion, the bucket removed (only one this resource created) or kept.

pub mod account;
pub mod cleanup;
pub mod owner;
pub mod ownership;
pub mod resolve;
pub mod s3;
pub mod status;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::{Controller, watcher};
use remotion_crds::{LambdaBucket, LambdaBucketStatus, Reason};
use tokio_util::sync::CancellationToken;

use self::owner::Owner;
use self::resolve::Found;
pub use self::s3::{Setting, unsupported_by_store};
use super::{Context, Settings, aws_tags, error_policy, log_result, shutdown_signal};
use crate::reconcile::conditions::Status;
use crate::reconcile::guard::{self, DeserializeGuard};
use crate::reconcile::shell;
use crate::reconcile::{Error, apply_status};

/// Metrics label of this controller.
pub const CONTROLLER: &str = "lambdabucket";
/// Field manager of the status this controller writes.
pub const FIELD_MANAGER: &str = "remotion-operator/lambdabucket";
/// Drift check: how often a Ready bucket is looked at again.
pub const RESYNC: Duration = Duration::from_secs(600);

crate::ready_resource!(LambdaBucket, LambdaBucketStatus, CONTROLLER, FIELD_MANAGER);

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

/// One reconcile: `apply` while the bucket lives, [`cleanup::cleanup`] once it is deleted.
pub async fn reconcile(bucket: Arc<LambdaBucket>, ctx: Arc<Context>) -> Result<Action, Error> {
    let api: Api<LambdaBucket> = shell::api_of(&ctx, &*bucket);
    let work =
        shell::with_finalizer(&api, &*bucket, |live| apply(&api, live, &ctx), |live| cleanup::cleanup(live, &ctx));
    shell::reconcile_finalized(&api, &*bucket, &ctx, work).await
}

async fn apply(api: &Api<LambdaBucket>, live: Arc<LambdaBucket>, ctx: &Context) -> Result<Action, Error> {
    let live = shell::announce_first_visit(api, (*live).clone(), "Looking for the bucket").await?;
    let spec = &live.spec;
    let clients = ctx.aws.clients(&live.namespace().unwrap_or_default(), &spec.aws).await?;

    let owner = Owner::of(&ctx.aws.policy().cluster_id, &live);
    let custom_endpoint = spec.aws.endpoint.is_some();

    let (name, found) = resolve::bucket(&clients, &live, &owner).await?;
    // Before anything is written to the bucket or said about it: is it ours to use?
    let tags = aws_tags::wanted(&ctx.aws.policy().cluster_id, &live, &spec.tags);
    let previous_tag_keys = live.status.as_ref().map(|s| s.tag_keys.as_slice()).unwrap_or_default();
    let created = found == Found::Created;
    let owned = ownership::take(&clients.s3, &name, &owner, created, custom_endpoint, &tags, previous_tag_keys).await?;
    match found {
        Found::Created => {
            ctx.events.normal(&live, Reason::Created, "CreateBucket", format!("Created bucket {name}")).await
        }
        Found::Adopted if live.status.as_ref().and_then(|s| s.bucket_name.as_ref()) != Some(&name) => {
            ctx.events.normal(&live, Reason::Adopted, "AdoptBucket", format!("Adopted existing bucket {name}")).await
        }
        Found::Adopted | Found::Existing => {}
    }

    if spec.public_outputs
        && let Some(message) = account::public_outputs(&clients, custom_endpoint).await?.blocked_message()
    {
        return Err(Error::new(Reason::PublicOutputsBlocked, message));
    }
    let public = s3::ensure_public_access(&clients.s3, &name, spec.public_outputs, custom_endpoint).await?;
    let expiry_enabled = spec.expiry.as_ref().is_some_and(|e| e.enabled);
    let expiry = s3::ensure_expiry(&clients.s3, &name, expiry_enabled, custom_endpoint).await?;

    let mut status = shell::owned_status(&live);
    status.bucket_name = Some(name.clone());
    status.tag_keys = match owned {
        Setting::Unsupported => Vec::new(),
        Setting::Applied | Setting::Unchanged => aws_tags::spec_keys(&spec.tags),
    };
    status.region = Some(spec.aws.region.clone());
    status.url = Some(status::bucket_url(clients.endpoint.as_deref(), &clients.region, &name));
    status.external_id = ctx.aws.grant(&live.namespace().unwrap_or_default(), &spec.aws)?.external_id().map(Into::into);
    let message = status::ready_message(&name, owned, public, expiry, expiry_enabled);
    shell::set_ready(&mut status, &live, Status::True, Reason::Available, message);
    apply_status(api, &live, FIELD_MANAGER, &status).await?;
    Ok(Action::requeue(RESYNC))
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
    use kube::Resource;

    use super::*;

    #[test]
    fn the_owned_status_keeps_only_the_controllers_conditions() {
        let mut bucket =
            LambdaBucket::new("b", serde_json::from_value(serde_json::json!({"region": "eu-west-1"})).unwrap());
        let condition = |type_: &str| Condition {
            type_: type_.into(),
            status: "True".into(),
            reason: "R".into(),
            message: String::new(),
            observed_generation: None,
            last_transition_time: k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                k8s_openapi::jiff::Timestamp::UNIX_EPOCH,
            ),
        };
        bucket.status = Some(LambdaBucketStatus {
            bucket_name: Some("n".into()),
            conditions: vec![condition("Ready"), condition("SomeoneElses"), condition("Stalled")],
            ..Default::default()
        });
        let owned = shell::owned_status(&bucket);
        assert_eq!(owned.bucket_name.as_deref(), Some("n"));
        assert_eq!(owned.conditions.iter().map(|c| c.type_.as_str()).collect::<Vec<_>>(), ["Ready", "Stalled"]);
        assert!(bucket.meta().name.is_some());
    }
}
