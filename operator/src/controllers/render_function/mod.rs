//! RenderFunction controller. `Managed`: creates or updates the Lambda function (image,
//! memory, disk, timeout, architecture, role, environment), turns off Lambda's retries of
//! async invocations, waits until it is Active with its last update Successful. Both modes
//! then invoke `info`, record the versions, and refuse a function speaking another protocol
//! (`ProtocolMismatch`). `Existing` changes nothing in AWS.
//!
//! A Managed function is created tagged with its owner (`<clusterId>/<namespace>/<name>`) and
//! only updated while that tag names this RenderFunction (`OwnedByAnother` otherwise); its
//! default name ends with a digest of the owner, so that namespaces never share a function by
//! default. An Existing function is only invoked: ownership does not apply to it.
//!
//! The pipeline, one file a step:
//! 1. [`deploy`]: for a Managed function, the next deployment step (create, update code, update
//!    configuration, wait) decided from what Lambda reports, then taken;
//! 2. [`lambda`]: the Lambda control plane and the `info` invocation, behind a trait tests
//!    replace;
//! 3. [`status`]: what `info` says, judged (protocol, shape) and recorded in the status.

pub mod deploy;
pub mod lambda;
pub mod status;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::{Controller, watcher};
use remotion_crds::render_function::{CapacitySource, FunctionManagement, OWNER_DIGEST_CHARS};
use remotion_crds::{Reason, RenderFunction, RenderFunctionStatus};
use tokio_util::sync::CancellationToken;

use self::deploy::Deployment;
use self::lambda::{FunctionApi, FunctionCapacity};
use super::{Context, Settings, aws_tags, error_policy, log_result, shutdown_signal};
use crate::controllers::lambda_bucket::owner::Owner;
use crate::reconcile::conditions::Status;
use crate::reconcile::guard::{self, DeserializeGuard};
use crate::reconcile::shell;
use crate::reconcile::{Error, apply_status};

/// Metrics label of this controller.
pub const CONTROLLER: &str = "renderfunction";
/// Field manager of the status this controller writes.
pub const FIELD_MANAGER: &str = "remotion-operator/renderfunction";
/// Drift check of a Ready function.
pub const RESYNC: Duration = Duration::from_secs(600);
/// How often to look while Lambda deploys.
pub const DEPLOY_POLL: Duration = Duration::from_secs(5);
/// The function version a default function name is derived from: the operator's own
/// (operator and function are released together from one workspace).
pub const FUNCTION_VERSION: &str = env!("CARGO_PKG_VERSION");

crate::ready_resource!(RenderFunction, RenderFunctionStatus, CONTROLLER, FIELD_MANAGER);

/// Runs the controller until `shutdown`.
pub async fn run(ctx: Arc<Context>, settings: Settings, shutdown: CancellationToken) {
    Controller::new(
        settings.api::<DeserializeGuard<RenderFunction>>(&ctx.client),
        watcher::Config::default().any_semantic(),
    )
    .with_config(settings.controller_config())
    .graceful_shutdown_on(shutdown_signal(shutdown))
    .run(guard::reconcile(CONTROLLER, reconcile), guard::error_policy(error_policy::<RenderFunction>), ctx)
    .for_each(log_result(CONTROLLER))
    .await;
}

/// One reconcile of a RenderFunction (no finalizer: deleting it leaves the Lambda function).
pub async fn reconcile(function: Arc<RenderFunction>, ctx: Arc<Context>) -> Result<Action, Error> {
    let api: Api<RenderFunction> = shell::api_of(&ctx, &*function);
    shell::reconcile(&api, &*function, &ctx, apply(&api, &function, &ctx)).await
}

async fn apply(api: &Api<RenderFunction>, function: &RenderFunction, ctx: &Context) -> Result<Action, Error> {
    let live = shell::announce_first_visit(api, function.clone(), "Checking the function").await?;
    let lambda = ctx.functions.for_access(&ctx.aws, &live.namespace().unwrap_or_default(), &live.spec.aws).await?;
    let owner = Owner::of(&ctx.aws.policy().cluster_id, &live);
    let name = live.spec.effective_function_name(FUNCTION_VERSION, &owner.digest(OWNER_DIGEST_CHARS));

    let deployed = match live.spec.management {
        FunctionManagement::Managed => match deploy::deploy(&*lambda, &live, &name, &owner, ctx).await? {
            Deployment::Ready(deployed) => Some(deployed),
            Deployment::InProgress(message) => {
                let mut status = shell::owned_status(&live);
                status.function_name = Some(name);
                // A function being created carries the spec's tags already; until they are
                // known to be settled, every key that may be on it is remembered.
                let mut keys = status.tag_keys.clone();
                keys.extend(aws_tags::spec_keys(&live.spec.tags));
                keys.sort();
                keys.dedup();
                status.tag_keys = keys;
                shell::set_ready(&mut status, &live, Status::Unknown, Reason::Deploying, message);
                apply_status(api, &live, FIELD_MANAGER, &status).await?;
                return Ok(Action::requeue(DEPLOY_POLL));
            }
        },
        // An Existing function is verified through `info` alone: no control-plane permission
        // is needed, and Lambda-compatible runtimes that serve only Invoke work too. Memory and
        // architecture come from `info`; disk and timeout are the spec's declared values.
        FunctionManagement::Existing => None,
    };

    let info = status::info(lambda.info(&name).await?, &name)?;
    let mut status = shell::owned_status(&live);
    status.external_id =
        ctx.aws.grant(&live.namespace().unwrap_or_default(), &live.spec.aws)?.external_id().map(Into::into);
    status::record(&mut status, &live.spec, &name, deployed.as_ref(), &info);
    status.tag_keys = match live.spec.management {
        FunctionManagement::Managed => aws_tags::spec_keys(&live.spec.tags),
        FunctionManagement::Existing => Vec::new(),
    };
    if let Err(mismatch) = status::speaks_our_protocol(&name, &info) {
        shell::set_ready(&mut status, &live, Status::False, mismatch.reason(), mismatch.report());
        apply_status(api, &live, FIELD_MANAGER, &status).await?;
        return Err(mismatch);
    }
    let was_ready = shell::is_ready(&live);
    let message =
        format!("Function {name} version {} is ready (protocol {})", info.function_version, info.protocol_version);
    shell::set_ready(&mut status, &live, Status::True, Reason::Available, message);
    apply_status(api, &live, FIELD_MANAGER, &status).await?;
    if !was_ready {
        let note = format!("Function {name} version {} answers info", info.function_version);
        ctx.events.normal(&live, Reason::Ready, "VerifyFunction", note).await;
    }
    // After Ready: a slow or missing control plane (an endpoint serving Invoke only) must not
    // hold the function back; renders are not queued until the capacity is known.
    let had_capacity = live.status.as_ref().is_some_and(|s| s.capacity.is_some());
    let before = (status.capacity, status.capacity_source);
    match capacity(&*lambda, &live, &name).await {
        Ok(found) => {
            status.capacity = Some(found.invocations);
            status.capacity_source = Some(found.source);
        }
        Err(error) => {
            status.capacity = None;
            status.capacity_source = None;
            if had_capacity || !was_ready {
                let note = format!(
                    "could not read the capacity of function {name} ({}): renders on it are not queued and may \
                     exceed it; set spec.maxConcurrentInvocations",
                    error.report()
                );
                ctx.events.warning(&live, Reason::CapacityUnknown, "ReadCapacity", note).await;
            }
        }
    }
    if (status.capacity, status.capacity_source) != before {
        apply_status(api, &live, FIELD_MANAGER, &status).await?;
    }
    Ok(Action::requeue(RESYNC))
}

/// How long reading the capacity may take (two small control-plane reads).
const CAPACITY_TIMEOUT: Duration = Duration::from_secs(10);

/// The function's capacity: the spec's, else what Lambda reports.
async fn capacity(lambda: &dyn FunctionApi, function: &RenderFunction, name: &str) -> Result<FunctionCapacity, Error> {
    match function.spec.max_concurrent_invocations {
        Some(invocations) => Ok(FunctionCapacity { invocations, source: CapacitySource::MaxConcurrentInvocations }),
        None => tokio::time::timeout(CAPACITY_TIMEOUT, lambda.capacity(name)).await.unwrap_or_else(|_| {
            Err(Error::new(
                Reason::LambdaError,
                format!(
                    "GetFunctionConcurrency/GetAccountSettings did not answer within {} s",
                    CAPACITY_TIMEOUT.as_secs()
                ),
            ))
        }),
    }
}

#[cfg(test)]
mod tests {
    use kube::Resource;

    use super::*;

    #[test]
    fn the_function_version_is_the_workspace_version() {
        assert_eq!(FUNCTION_VERSION, env!("CARGO_PKG_VERSION"));
        let function =
            RenderFunction::new("f", serde_json::from_value(serde_json::json!({"region": "eu-west-1"})).unwrap());
        assert!(!shell::is_ready(&function));
        assert!(function.meta().name.is_some());
    }
}
