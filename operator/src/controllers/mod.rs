//! Starts the controllers: waits until the CRDs are served (instead of crash looping), then
//! runs one kube `Controller` per kind with bounded concurrency until shutdown.
//!
//! # Writing a controller (the pattern `lambda_bucket.rs` follows)
//!
//! ```text
//! pub const CONTROLLER: &str = "lambdabucket";                    // metrics label
//! pub const FIELD_MANAGER: &str = "remotion-operator/lambdabucket";
//!
//! pub async fn run(ctx: Arc<Context>, settings: Settings, shutdown: CancellationToken) {
//!     Controller::new(settings.api::<K>(&ctx.client), watcher::Config::default().any_semantic())
//!         .with_config(settings.controller_config())
//!         .graceful_shutdown_on(shutdown_signal(shutdown))
//!         .run(reconcile, error_policy, ctx)
//!         .for_each(log_result(CONTROLLER))
//!         .await;
//! }
//! async fn reconcile(obj: Arc<K>, ctx: Arc<Context>) -> Result<Action, Error> {
//!     let _timer = ctx.metrics.reconcile_started(CONTROLLER);
//!     let result = apply(&obj, &ctx).await;               // the real work
//!     // on Err: ctx.metrics.reconcile_failed(CONTROLLER, e.kind()), write Ready=False/Unknown
//!     // with reason e.kind() via reconcile::apply_status, Warning Event when e.is_terminal()
//!     // on Ok: ctx.backoffs.reset(&*obj)
//!     result
//! }
//! fn error_policy(obj: Arc<K>, error: &Error, ctx: Arc<Context>) -> Action {
//!     ctx.backoffs.after_error(&*obj, error)
//! }
//! ```

pub mod aws_tags;
pub mod lambda_bucket;
pub mod remotion_site;
pub mod render_function;
pub mod render_job;

use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use kube::api::{Api, ListParams};
use kube::runtime::controller::{self, Action};
use kube::runtime::reflector::ObjectRef;
use kube::{Client, Resource};
use remotion_crds::{LambdaBucket, RemotionSite, RenderFunction, RenderJob};
use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;

use self::render_function::lambda::{FunctionApiFactory, SdkFunctions};
use crate::aws::{AwsFactory, SecretSource};
use crate::events::Events;
use crate::http::Readiness;
use crate::metrics::Metrics;
use crate::reconcile::abandon::CleanupDeadlines;
use crate::reconcile::guard::InvalidObjects;
use crate::reconcile::{Backoffs, Error};
use crate::tenancy::TenancyPolicy;

/// What every reconcile gets.
pub struct Context {
    /// Kubernetes client.
    pub client: Client,
    /// AWS clients per `AwsAccess` (and the Secret/ConfigMap source).
    pub aws: AwsFactory,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// The shared Event recorder.
    pub events: Events,
    /// Retry delays after failures, per object.
    pub backoffs: Backoffs,
    /// Lambda control plane and `info` of RenderFunctions (replaceable in tests).
    pub functions: Arc<dyn FunctionApiFactory>,
    /// Objects reported as unreadable (see [`crate::reconcile::guard`]).
    pub invalid_objects: InvalidObjects,
    /// How long a deleted object's failing cleanup is retried (see [`crate::reconcile::abandon`]).
    pub cleanup_deadlines: CleanupDeadlines,
}

impl Context {
    /// A context with production defaults and the secure default tenancy policy (see
    /// [`Context::with_tenancy`]); `instance` is the Event reporting instance (pod name).
    pub fn new(
        client: Client,
        secrets: Arc<dyn SecretSource>,
        metrics: Arc<Metrics>,
        instance: Option<String>,
    ) -> Self {
        Self {
            events: Events::new(client.clone(), instance),
            client,
            aws: AwsFactory::new(secrets, Arc::new(TenancyPolicy::default_secure())),
            metrics,
            backoffs: Backoffs::default(),
            functions: Arc::new(SdkFunctions),
            invalid_objects: InvalidObjects::default(),
            cleanup_deadlines: CleanupDeadlines::default(),
        }
    }

    /// The same context under the admin's tenancy `policy`.
    #[must_use]
    pub fn with_tenancy(mut self, policy: TenancyPolicy) -> Self {
        self.aws = AwsFactory::new(self.aws.secrets().clone(), Arc::new(policy));
        self
    }
}

/// Scope and parallelism of the controllers.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Watch only this namespace (`None`: all).
    pub namespace: Option<String>,
    /// Reconciles at once, per controller.
    pub concurrency: u16,
    /// Launches of RenderJobs at once (their own controller; a launch mostly waits for the
    /// API server and S3, so more run at once than other reconciles).
    pub launch_concurrency: u16,
    /// Budget of progress-only RenderJob status writes per second, shared by every live
    /// render (phase changes are not counted and never wait).
    pub progress_writes_per_second: u16,
    /// Handle only RenderJobs matching this label selector (`None`: all in scope), so that
    /// several controllers can share one API server without meeting: the tests of renders
    /// from several namespaces use it.
    pub job_selector: Option<String>,
    /// Limits of RemotionSite syncs, derived from the scratch volume, and how many run at once.
    pub site: remotion_site::SiteSettings,
    /// How long a finished RenderJob is kept when it sets no `ttlSecondsAfterFinished`
    /// (`None`: until someone deletes it).
    pub finished_job_ttl: Option<std::time::Duration>,
    /// RenderJob webhooks may go to loopback, private, shared and unique-local addresses
    /// (never to link-local ones, where the instance metadata service lives).
    pub webhook_allow_private_networks: bool,
}

impl Settings {
    /// Settings for `namespace` (`None`: all) with the default budgets.
    pub fn new(namespace: Option<String>, concurrency: u16) -> Self {
        Self {
            namespace,
            concurrency,
            launch_concurrency: DEFAULT_LAUNCH_CONCURRENCY,
            progress_writes_per_second: DEFAULT_PROGRESS_WRITES_PER_SECOND,
            job_selector: None,
            site: remotion_site::SiteSettings::default(),
            finished_job_ttl: None,
            webhook_allow_private_networks: false,
        }
    }
}

/// Default of [`Settings::launch_concurrency`].
pub const DEFAULT_LAUNCH_CONCURRENCY: u16 = 16;

/// Default of [`Settings::progress_writes_per_second`]: kube-controller-manager's own client
/// budget is 20 requests/s; a little more, since these are small status patches.
pub const DEFAULT_PROGRESS_WRITES_PER_SECOND: u16 = 25;

impl Settings {
    /// An `Api` for `K` in the watched scope.
    pub fn api<K>(&self, client: &Client) -> Api<K>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
    {
        match &self.namespace {
            Some(namespace) => Api::namespaced(client.clone(), namespace),
            None => Api::all(client.clone()),
        }
    }

    /// The kube controller configuration (bounded concurrency).
    pub fn controller_config(&self) -> controller::Config {
        controller::Config::default().concurrency(self.concurrency)
    }
}

/// Why the controllers could not run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Shutdown was requested before the CRDs were served.
    #[error("shut down while waiting for the CRDs")]
    ShutDownWhileWaiting,
}

/// Waits for the CRDs, marks `readiness` and runs every controller until `shutdown`.
pub async fn run(
    ctx: Arc<Context>,
    settings: Settings,
    readiness: Readiness,
    shutdown: CancellationToken,
) -> Result<(), RunError> {
    wait_for_crds(&ctx.client, &settings, &shutdown).await?;
    tracing::info!(namespace = ?settings.namespace, concurrency = settings.concurrency, "starting controllers");
    // Each controller runs until shutdown; add new controllers to this join.
    let controllers = futures::future::join_all([
        lambda_bucket::run(ctx.clone(), settings.clone(), shutdown.clone()).boxed(),
        render_function::run(ctx.clone(), settings.clone(), shutdown.clone()).boxed(),
        render_job::run(ctx.clone(), settings.clone(), shutdown.clone()).boxed(),
        remotion_site::run(ctx.clone(), settings.clone(), shutdown.clone()).boxed(),
    ]);
    readiness.set(true);
    // A kube Controller asked to stop before its first list completed waits for a store that
    // never fills; after the grace period the remaining controllers are dropped (which
    // cancels their reconciles) so the process still exits before Kubernetes kills it.
    let grace = async {
        shutdown.cancelled().await;
        tokio::time::sleep(SHUTDOWN_GRACE).await;
    };
    tokio::select! {
        _ = controllers => tracing::info!("controllers stopped"),
        _ = grace => tracing::warn!(grace = ?SHUTDOWN_GRACE, "controllers did not stop in time after shutdown; dropped them"),
    }
    readiness.set(false);
    Ok(())
}

/// How long running reconciles may take to finish after shutdown is requested (below the
/// Pod's default 30 s termination grace period).
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);

/// How often to look for the CRDs while they are not served.
const CRD_POLL: Duration = Duration::from_secs(2);
/// Bound on each discovery call.
const CRD_CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Waits until every kind of the operator can be listed in the watched scope.
pub async fn wait_for_crds(client: &Client, settings: &Settings, shutdown: &CancellationToken) -> Result<(), RunError> {
    let mut logged = false;
    loop {
        let missing = missing_kinds(client, settings).await;
        if missing.is_empty() {
            return Ok(());
        }
        if !logged {
            tracing::warn!(?missing, "waiting for the CRDs to be installed and served");
            logged = true;
        }
        tokio::select! {
            _ = shutdown.cancelled() => return Err(RunError::ShutDownWhileWaiting),
            _ = tokio::time::sleep(CRD_POLL) => {}
        }
    }
}

async fn missing_kinds(client: &Client, settings: &Settings) -> Vec<String> {
    let mut missing = Vec::new();
    for (kind, served) in [
        ("LambdaBucket", is_served(settings.api::<LambdaBucket>(client)).await),
        ("RenderFunction", is_served(settings.api::<RenderFunction>(client)).await),
        ("RemotionSite", is_served(settings.api::<RemotionSite>(client)).await),
        ("RenderJob", is_served(settings.api::<RenderJob>(client)).await),
    ] {
        if !served {
            missing.push(kind.to_owned());
        }
    }
    missing
}

async fn is_served<K: Resource + Clone + DeserializeOwned + std::fmt::Debug>(api: Api<K>) -> bool {
    matches!(
        tokio::time::timeout(CRD_CALL_TIMEOUT, api.list_metadata(&ListParams::default().limit(1))).await,
        Ok(Ok(_))
    )
}

/// A future that resolves on shutdown, in the shape `Controller::graceful_shutdown_on` takes.
pub fn shutdown_signal(shutdown: CancellationToken) -> impl std::future::Future<Output = ()> + Send + Sync + 'static {
    let (tx, rx) = futures::channel::oneshot::channel::<()>();
    tokio::spawn(async move {
        shutdown.cancelled().await;
        let _ = tx.send(());
    });
    async move {
        let _ = rx.await;
    }
}

/// One item of the stream `Controller::run` returns.
pub type ReconcileOutcome<K, E1, E2> = Result<(ObjectRef<K>, Action), controller::Error<E1, E2>>;

/// Logs the outcome of each reconcile (the stream `Controller::run` returns).
pub fn log_result<K, E1, E2>(
    controller: &'static str,
) -> impl FnMut(ReconcileOutcome<K, E1, E2>) -> futures::future::Ready<()>
where
    K: Resource,
    E1: std::error::Error,
    E2: std::error::Error,
{
    move |result| {
        match result {
            Ok((object, _)) => tracing::debug!(controller, %object, "reconciled"),
            Err(controller::Error::ReconcilerFailed(error, object)) => {
                tracing::warn!(controller, %object, %error, "reconcile failed")
            }
            Err(error) => tracing::warn!(controller, %error, "controller error"),
        }
        futures::future::ready(())
    }
}

/// The default error policy: backoff per object (slow re-check for terminal errors).
pub fn error_policy<K: Resource>(object: Arc<K>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.backoffs.after_error(&*object, error)
}
