//! RenderFunction controller. `Managed`: creates or updates the Lambda function (image,
//! memory, disk, timeout, architecture, role, environment), turns off Lambda's retries of
//! async invocations, waits until it is Active with its last update Successful. Both modes
//! then invoke `info`, record the versions, and refuse a function speaking another protocol
//! (`ProtocolMismatch`). `Existing` changes nothing in AWS.

pub mod lambda;

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
use remotion_crds::protocol::{InfoResponse, PROTOCOL_VERSION};
use remotion_crds::render_function::FunctionManagement;
use remotion_crds::{RenderFunction, RenderFunctionStatus};
use tokio_util::sync::CancellationToken;

use self::lambda::{DeployedFunction, FunctionApi, InfoOutcome, Lifecycle, WantedFunction};
use super::guard::{self, DeserializeGuard};
use super::{Context, Settings, error_policy, log_result, shutdown_signal};
use crate::conditions::{self, Desired, Status};
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

/// One reconcile: the work, then metrics, conditions and Events for its outcome.
pub async fn reconcile(function: Arc<RenderFunction>, ctx: Arc<Context>) -> Result<Action, Error> {
    let _timer = ctx.metrics.reconcile_started(CONTROLLER);
    let namespace = function.namespace().unwrap_or_default();
    let api: Api<RenderFunction> = Api::namespaced(ctx.client.clone(), &namespace);
    match apply(&api, &function, &ctx).await {
        Ok(action) => {
            ctx.backoffs.reset(&*function);
            Ok(action)
        }
        Err(error) => {
            ctx.metrics.reconcile_failed(CONTROLLER, error.kind());
            report_error(&api, &function, &ctx, &error).await;
            Err(error)
        }
    }
}

/// The status fields this controller owns, from the live status.
fn owned_status(live: &RenderFunction) -> RenderFunctionStatus {
    let status = live.status.clone().unwrap_or_default();
    RenderFunctionStatus { conditions: status.conditions.into_iter().filter(|c| c.type_ == READY).collect(), ..status }
}

fn set_ready(status: &mut RenderFunctionStatus, live: &RenderFunction, state: Status, reason: &str, message: String) {
    let generation = live.meta().generation;
    conditions::set(
        &mut status.conditions,
        Desired { type_: READY, status: state, reason, message },
        generation,
        Time(k8s_openapi::jiff::Timestamp::now()),
    );
    status.observed_generation = generation;
}

async fn apply(api: &Api<RenderFunction>, function: &RenderFunction, ctx: &Context) -> Result<Action, Error> {
    let mut live = function.clone();
    if find_condition(&owned_status(&live).conditions, READY).is_none() {
        let mut status = owned_status(&live);
        set_ready(&mut status, &live, Status::Unknown, "Reconciling", "Checking the function".into());
        if let Some(updated) = apply_status(api, &live, FIELD_MANAGER, &status).await? {
            live = updated;
        }
    }
    let namespace = live.namespace().unwrap_or_default();
    let lambda = ctx.functions.for_access(&ctx.aws, &namespace, &live.spec.aws).await?;
    let name = live.spec.effective_function_name(FUNCTION_VERSION);

    let deployed = match live.spec.management {
        FunctionManagement::Managed => match deploy(&*lambda, &live, &name, ctx).await? {
            Deployment::Ready(deployed) => Some(deployed),
            Deployment::InProgress(message) => {
                let mut status = owned_status(&live);
                status.function_name = Some(name);
                set_ready(&mut status, &live, Status::Unknown, "Deploying", message);
                apply_status(api, &live, FIELD_MANAGER, &status).await?;
                return Ok(Action::requeue(DEPLOY_POLL));
            }
        },
        // An Existing function is verified through `info` alone: no control-plane permission
        // is needed, and Lambda-compatible runtimes that serve only Invoke work too. Memory and
        // architecture come from `info`; disk and timeout are the spec's declared values.
        FunctionManagement::Existing => None,
    };

    let info = match lambda.info(&name).await? {
        InfoOutcome::Info(info) => info,
        InfoOutcome::Failed(error) => {
            return Err(Error::transient(
                "InfoFailed",
                format!("{name} failed to answer info: {}: {}", error.error_type, error.error_message),
            ));
        }
        InfoOutcome::Unexpected(answer) => {
            return Err(Error::terminal(
                "NotARenderFunction",
                format!(
                    "{name} answered info with something that is not a render function's answer ({answer}); point spec.functionName at the render function"
                ),
            ));
        }
    };

    let mut status = owned_status(&live);
    record(&mut status, &live, &name, deployed.as_ref(), &info);
    if info.protocol_version != PROTOCOL_VERSION {
        let error = Error::terminal(
            "ProtocolMismatch",
            format!(
                "function {name} (version {}) speaks protocol {}, this operator speaks protocol {PROTOCOL_VERSION}; deploy the render function released with this operator",
                info.function_version, info.protocol_version
            ),
        );
        set_ready(&mut status, &live, Status::False, error.kind(), error.to_string());
        apply_status(api, &live, FIELD_MANAGER, &status).await?;
        return Err(error);
    }
    let was_ready = find_condition(&owned_status(&live).conditions, READY).is_some_and(|c| c.status == "True");
    set_ready(
        &mut status,
        &live,
        Status::True,
        "Available",
        format!("Function {name} version {} is ready (protocol {})", info.function_version, info.protocol_version),
    );
    apply_status(api, &live, FIELD_MANAGER, &status).await?;
    if !was_ready {
        ctx.events
            .normal(
                &live,
                "Ready",
                "VerifyFunction",
                format!("Function {name} version {} answers info", info.function_version),
            )
            .await;
    }
    Ok(Action::requeue(RESYNC))
}

/// Copies what the function and its `info` say into the status.
fn record(
    status: &mut RenderFunctionStatus,
    live: &RenderFunction,
    name: &str,
    deployed: Option<&DeployedFunction>,
    info: &InfoResponse,
) {
    let spec = &live.spec;
    status.function_name = Some(name.to_owned());
    status.function_arn = deployed.and_then(|d| d.arn.clone());
    status.version = Some(info.function_version.clone());
    status.protocol_version = Some(i64::from(info.protocol_version));
    status.chromium_version = Some(info.chromium_version.clone());
    status.ffmpeg_version = Some(info.ffmpeg_version.clone());
    status.memory_size_mb = deployed.and_then(|d| d.memory_mb).or(info.memory_size_mb).or(Some(spec.memory_size_mb));
    status.disk_size_mb = deployed.and_then(|d| d.disk_mb).or(Some(spec.disk_size_mb));
    status.timeout_seconds = deployed.and_then(|d| d.timeout_seconds).or(Some(spec.timeout_seconds));
    status.architecture = deployed.and_then(|d| d.architecture).or(info.architecture).or(Some(spec.architecture));
}

/// Where a managed deployment stands.
enum Deployment {
    /// Active and up to date.
    Ready(DeployedFunction),
    /// Lambda is still working; the message says on what.
    InProgress(String),
}

/// Creates or updates the function to match the spec, one step per reconcile (Lambda refuses
/// a second update while one is in progress).
async fn deploy(
    lambda: &dyn FunctionApi,
    live: &RenderFunction,
    name: &str,
    ctx: &Context,
) -> Result<Deployment, Error> {
    let spec = &live.spec;
    let (Some(image), Some(role)) = (spec.image.clone(), spec.role_arn.clone()) else {
        return Err(Error::terminal("InvalidFunctionSpec", "a Managed function needs spec.image and spec.roleArn"));
    };
    let wanted = WantedFunction {
        name: name.to_owned(),
        image,
        role,
        memory_mb: spec.memory_size_mb,
        disk_mb: spec.disk_size_mb,
        timeout_seconds: spec.timeout_seconds,
        architecture: spec.architecture,
        env: spec.env.clone(),
    };
    let Some(deployed) = lambda.get(name).await? else {
        lambda.create(&wanted).await?;
        lambda.disable_async_retries(name).await?;
        ctx.events.normal(live, "Created", "CreateFunction", format!("Created Lambda function {name}")).await;
        return Ok(Deployment::InProgress(format!("Creating function {name}")));
    };
    match deployed.lifecycle {
        Lifecycle::Pending => return Ok(Deployment::InProgress(format!("Lambda is deploying {name}"))),
        Lifecycle::Failed if !wanted.code_differs(&deployed) && !wanted.configuration_differs(&deployed) => {
            return Err(Error::terminal(
                "DeploymentFailed",
                format!(
                    "Lambda could not deploy {name}: {}; fix the image or role and change the spec",
                    deployed.failure.as_deref().unwrap_or("no reason given")
                ),
            ));
        }
        Lifecycle::Active | Lifecycle::Inactive | Lifecycle::Failed => {}
    }
    if wanted.code_differs(&deployed) {
        lambda.update_code(&wanted).await?;
        ctx.events.normal(live, "Updated", "UpdateFunctionCode", format!("Deploying {} to {name}", wanted.image)).await;
        return Ok(Deployment::InProgress(format!("Updating the code of {name}")));
    }
    if wanted.configuration_differs(&deployed) {
        lambda.update_configuration(&wanted).await?;
        ctx.events
            .normal(live, "Updated", "UpdateFunctionConfiguration", format!("Updating the configuration of {name}"))
            .await;
        return Ok(Deployment::InProgress(format!("Updating the configuration of {name}")));
    }
    // Idempotent; repeated on each pass so a retry policy changed by hand is put back.
    lambda.disable_async_retries(name).await?;
    Ok(Deployment::Ready(deployed))
}

/// Writes the error into `Ready` and publishes a Warning Event for terminal errors.
async fn report_error(api: &Api<RenderFunction>, function: &RenderFunction, ctx: &Context, error: &Error) {
    if error.is_terminal() {
        ctx.events.warning(function, error.kind(), "Reconcile", error.to_string()).await;
    }
    let live = match api.get_opt(&function.name_any()).await {
        Ok(Some(live)) => live,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(error = %e, "reading the RenderFunction to report an error failed");
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
