//! The shell every infrastructure controller (LambdaBucket, RenderFunction, RemotionSite) runs
//! its own steps in. It owns what they would otherwise each repeat:
//!
//! - the reconcile timer and the failure metric, labelled with the error's reason;
//! - the per-object backoff, reset after a success;
//! - the `Ready` condition: `Unknown`/`Reconciling` on the first visit, and after a failure
//!   `False` (terminal) or `Unknown` with "(retrying)" (transient), with the message chain;
//!   beside it kstatus's `Reconciling` or `Stalled` ([`super::kstatus`]);
//! - a Warning Event for a terminal failure;
//! - the operator's finalizer around cleanup, through `kube::runtime::finalizer`.
//!
//! A controller implements [`ReadyResource`] for its kind and passes its steps to [`reconcile`].

use std::fmt::Debug;
use std::future::Future;
use std::sync::Arc;

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::finalizer::{self, Event};
use kube::{Resource, ResourceExt};
use remotion_crds::Reason;
use remotion_crds::common::condition_type::{READY, RECONCILING, REMOTION_VERSION, STALLED};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::abandon::{self, Leftovers};
use super::conditions::{self, Desired, Status};
use super::kstatus;
use super::{Error, FINALIZER, apply_status};
use crate::controllers::Context;

/// A kind whose controller owns the `Ready` condition of its status.
pub trait ReadyResource:
    Resource<DynamicType = (), Scope = NamespaceResourceScope>
    + Clone
    + DeserializeOwned
    + Serialize
    + Debug
    + Send
    + Sync
    + 'static
{
    /// Metrics label of the controller, e.g. `lambdabucket`.
    const CONTROLLER: &'static str;
    /// Field manager of the status the controller writes.
    const FIELD_MANAGER: &'static str;
    /// The status.
    type Status: Serialize + Default;

    /// The live status (the default when there is none).
    fn live_status(&self) -> Self::Status;
    /// The conditions of a status.
    fn conditions_mut(status: &mut Self::Status) -> &mut Vec<Condition>;
    /// Records the generation a status was written for.
    fn set_observed_generation(status: &mut Self::Status, generation: Option<i64>);
}

/// Implements [`ReadyResource`] for a kind whose status has `conditions` and
/// `observed_generation` fields: `ready_resource!(Kind, KindStatus, CONTROLLER, FIELD_MANAGER)`.
#[macro_export]
macro_rules! ready_resource {
    ($kind:ty, $status:ty, $controller:expr, $field_manager:expr) => {
        impl $crate::reconcile::shell::ReadyResource for $kind {
            const CONTROLLER: &'static str = $controller;
            const FIELD_MANAGER: &'static str = $field_manager;
            type Status = $status;

            fn live_status(&self) -> $status {
                self.status.clone().unwrap_or_default()
            }
            fn conditions_mut(
                status: &mut $status,
            ) -> &mut Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition> {
                &mut status.conditions
            }
            fn set_observed_generation(status: &mut $status, generation: Option<i64>) {
                status.observed_generation = generation;
            }
        }
    };
}

/// Condition types the controllers write with their own field manager.
const OWNED_CONDITIONS: [&str; 4] = [READY, RECONCILING, STALLED, REMOTION_VERSION];

/// The status fields the controller owns, from the live status: other managers' conditions
/// left out, so that applying it never takes them over.
pub fn owned_status<K: ReadyResource>(live: &K) -> K::Status {
    let mut status = live.live_status();
    K::conditions_mut(&mut status).retain(|c| OWNED_CONDITIONS.contains(&c.type_.as_str()));
    status
}

/// Sets `Ready`, kstatus's `Reconciling`/`Stalled` to match, and the observed generation in
/// `status`.
pub fn set_ready<K: ReadyResource>(status: &mut K::Status, live: &K, state: Status, reason: Reason, message: String) {
    let generation = live.meta().generation;
    let now = Time(k8s_openapi::jiff::Timestamp::now());
    let conditions = K::conditions_mut(status);
    kstatus::set(conditions, kstatus::Standing::of_ready(state, reason), reason, &message, generation, &now);
    conditions::set(conditions, Desired { type_: READY, status: state, reason, message }, generation, now);
    K::set_observed_generation(status, generation);
}

/// Whether the live object's `Ready` is `True`.
pub fn is_ready<K: ReadyResource>(live: &K) -> bool {
    K::conditions_mut(&mut live.live_status()).iter().any(|c| c.type_ == READY && c.status == "True")
}

/// First visit (no `Ready` yet): says at once that the controller is on it, for kstatus and
/// `helm --wait`. Returns the object as it is now.
pub async fn announce_first_visit<K: ReadyResource>(api: &Api<K>, live: K, message: &str) -> Result<K, Error> {
    let mut status = owned_status(&live);
    if K::conditions_mut(&mut status).iter().any(|c| c.type_ == READY) {
        return Ok(live);
    }
    set_ready(&mut status, &live, Status::Unknown, Reason::Reconciling, message.to_owned());
    Ok(apply_status(api, &live, K::FIELD_MANAGER, &status).await?.unwrap_or(live))
}

/// Writes `Ready` with `state`, `reason` and `message`, keeping the rest of the owned status.
pub async fn write_ready<K: ReadyResource>(
    api: &Api<K>,
    live: &K,
    state: Status,
    reason: Reason,
    message: String,
) -> Result<(), Error> {
    let mut status = owned_status(live);
    set_ready(&mut status, live, state, reason, message);
    apply_status(api, live, K::FIELD_MANAGER, &status).await?;
    Ok(())
}

/// An `Api` for the object's namespace.
pub fn api_of<K: ReadyResource>(ctx: &Context, object: &K) -> Api<K> {
    Api::namespaced(ctx.client.clone(), &object.namespace().unwrap_or_default())
}

/// Runs `work` for `object` under `controller`'s name, for any kind: timed, its failure counted
/// by reason, the object's backoff reset after a success, a Warning Event for a terminal
/// failure.
pub async fn timed<K, Fut>(controller: &str, object: &K, ctx: &Context, work: Fut) -> Result<Action, Error>
where
    K: Resource<DynamicType = ()>,
    Fut: Future<Output = Result<Action, Error>>,
{
    let _timer = ctx.metrics.reconcile_started(controller);
    let result = work.await;
    match &result {
        Ok(_) => ctx.backoffs.reset(object),
        Err(error) => {
            ctx.metrics.reconcile_failed(controller, error.reason());
            if error.is_terminal() {
                ctx.events.warning(object, error.reason(), "Reconcile", error.report()).await;
            }
        }
    }
    result
}

/// Runs one reconcile of `object` (reached through `api`): [`timed`], and a failure also written
/// into `Ready`.
pub async fn reconcile<K, Fut>(api: &Api<K>, object: &K, ctx: &Context, work: Fut) -> Result<Action, Error>
where
    K: ReadyResource,
    Fut: Future<Output = Result<Action, Error>>,
{
    let result = timed(K::CONTROLLER, object, ctx, work).await;
    if let Err(error) = &result {
        write_error(api, object, error).await;
    }
    result
}

/// [`reconcile`] of a kind with a finalizer ([`with_finalizer`]): the cleanup of a deleted
/// object that keeps failing is also given up after a bounded time ([`abandon`]).
pub async fn reconcile_finalized<K, Fut>(api: &Api<K>, object: &K, ctx: &Context, work: Fut) -> Result<Action, Error>
where
    K: ReadyResource + Leftovers,
    Fut: Future<Output = Result<Action, Error>>,
{
    let result = timed(K::CONTROLLER, object, ctx, work).await;
    if let Err(error) = &result {
        if abandon::is_due(object, error, &ctx.cleanup_deadlines) {
            return abandon::give_up(api, object, ctx, error).await;
        }
        // A terminal failure is otherwise looked at again only after a long while: a cleanup
        // must be back when it is due.
        if let Some(due_in) = abandon::due_in(object, error, &ctx.cleanup_deadlines)
            && error.is_terminal()
        {
            return Ok(Action::requeue(due_in));
        }
        write_error(api, object, error).await;
    }
    result
}

/// Runs `apply` while the object lives and `cleanup` once it is being deleted, under the
/// operator's finalizer (added before the first `apply`, removed after `cleanup` succeeds).
pub async fn with_finalizer<K, A, AF, C, CF>(api: &Api<K>, object: &K, apply: A, cleanup: C) -> Result<Action, Error>
where
    K: ReadyResource,
    A: FnOnce(Arc<K>) -> AF,
    AF: Future<Output = Result<Action, Error>>,
    C: FnOnce(Arc<K>) -> CF,
    CF: Future<Output = Result<Action, Error>>,
{
    let outcome = finalizer::finalizer(api, FINALIZER, Arc::new(object.clone()), |event| async move {
        match event {
            Event::Apply(live) => apply(live).await,
            Event::Cleanup(live) => cleanup(live).await,
        }
    })
    .await;
    outcome.map_err(|error| match error {
        finalizer::Error::ApplyFailed(error) | finalizer::Error::CleanupFailed(error) => error,
        finalizer::Error::AddFinalizer(error) | finalizer::Error::RemoveFinalizer(error) => Error::Kube(error),
        other @ (finalizer::Error::UnnamedObject | finalizer::Error::InvalidFinalizer) => {
            Error::caused_by(Reason::InternalError, "managing the finalizer", other)
        }
    })
}

/// Writes the error into `Ready`: False when terminal, Unknown while retried. Nothing is written
/// into an object being deleted.
async fn write_error<K: ReadyResource>(api: &Api<K>, object: &K, error: &Error) {
    let message = error.report();
    if object.meta().deletion_timestamp.is_some() {
        return;
    }
    // Re-read: the object passed in may predate this reconcile's own writes.
    let live = match api.get_opt(&object.name_any()).await {
        Ok(Some(live)) => live,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(controller = K::CONTROLLER, error = %e, "reading the object to report an error failed");
            return;
        }
    };
    let (state, message) =
        if error.is_terminal() { (Status::False, message) } else { (Status::Unknown, format!("{message} (retrying)")) };
    if let Err(e) = write_ready(api, &live, state, error.reason(), message).await {
        tracing::warn!(controller = K::CONTROLLER, error = %e.report(), "writing the error condition failed");
    }
}
