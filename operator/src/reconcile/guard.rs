//! One object the operator cannot read must not stall a watch.
//!
//! Without a guard, a single object that does not deserialize (a CRD upgraded before the
//! operator adds an enum value, a hand-edited status, a schema the types no longer match)
//! fails the whole watch list and no object of that kind is reconciled any more. Every
//! controller therefore watches `DeserializeGuard<K>`: valid objects go to the reconcile as
//! before; an invalid one is reported once per generation — a Warning Event and a `Ready=False`
//! condition with reason `InvalidObject` naming what could not be read — and left alone until
//! it changes.

use std::collections::HashSet;
use std::fmt::Debug;
use std::future::Future;
use std::sync::{Arc, Mutex};

use futures::FutureExt;
use futures::future::BoxFuture;
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};
use remotion_crds::Reason;
use serde::de::DeserializeOwned;
use serde_json::json;

pub use super::readable::{DeserializeGuard, InvalidObject, Unreadable};

use crate::controllers::Context;
use crate::reconcile::{Error, span};

/// Condition reason and Event reason for an object the operator cannot read.
pub const INVALID_OBJECT: Reason = Reason::InvalidObject;
/// Field manager of the condition written for an invalid object (the controller's own
/// manager cannot apply without the fields it owns, which it cannot read).
pub const FIELD_MANAGER: &str = "remotion-operator/invalid-object";

/// Objects reported as invalid, by UID and generation, so a report is written once and the
/// status write it causes does not trigger another.
#[derive(Debug, Default)]
pub struct InvalidObjects {
    reported: Mutex<HashSet<(String, i64)>>,
}

impl InvalidObjects {
    /// Whether `(uid, generation)` is new (and marks it reported).
    fn first_report(&self, uid: String, generation: i64) -> bool {
        self.reported.lock().unwrap_or_else(|e| e.into_inner()).insert((uid, generation))
    }

    /// Forgets an object that became readable again, so a later breakage is reported.
    fn forget(&self, uid: &str) {
        self.reported.lock().unwrap_or_else(|e| e.into_inner()).retain(|(u, _)| u != uid);
    }
}

/// A context that carries the shared one.
pub trait HasContext: Send + Sync + 'static {
    /// The shared context.
    fn context(&self) -> &Context;
}

impl HasContext for Context {
    fn context(&self) -> &Context {
        self
    }
}

/// Wraps `reconcile` of `K` into a reconcile of `DeserializeGuard<K>`.
pub fn reconcile<K, C, F, Fut>(
    controller: &'static str,
    reconcile: F,
) -> impl Fn(Arc<DeserializeGuard<K>>, Arc<C>) -> BoxFuture<'static, Result<Action, Error>>
where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope> + Clone + DeserializeOwned + Debug + Send + Sync,
    K: 'static,
    C: HasContext,
    F: Fn(Arc<K>, Arc<C>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<Action, Error>> + Send + 'static,
{
    move |object: Arc<DeserializeGuard<K>>, ctx: Arc<C>| {
        let reconcile = reconcile.clone();
        // Every reconcile, of a valid object or not, runs in the span naming the object.
        let span = span::reconcile_span(controller, &*object);
        span::run_in(span, async move {
            match &object.0 {
                Ok(valid) => {
                    if let Some(uid) = valid.uid() {
                        ctx.context().invalid_objects.forget(&uid);
                    }
                    reconcile(Arc::new(valid.clone()), ctx).await
                }
                Err(invalid) => {
                    report::<K>(ctx.context(), controller, &object, invalid).await;
                    Ok(Action::await_change())
                }
            }
        })
        .boxed()
    }
}

/// Wraps the error policy of `K` (only valid objects fail a reconcile).
pub fn error_policy<K, C>(
    policy: fn(Arc<K>, &Error, Arc<C>) -> Action,
) -> impl Fn(Arc<DeserializeGuard<K>>, &Error, Arc<C>) -> Action
where
    K: Clone,
{
    move |object, error, ctx| match &object.0 {
        Ok(valid) => policy(Arc::new(valid.clone()), error, ctx),
        Err(_) => Action::await_change(),
    }
}

/// The message telling the user what to do about an object that does not read.
pub fn message(kind: &str, invalid: &InvalidObject) -> String {
    match invalid.cause {
        Unreadable::Schema => format!(
            "remotion-operator {} cannot read this {kind}: {}. The object does not match the schema this \
             operator version knows (were the CRDs upgraded without the operator?): upgrade the operator to \
             the CRDs' version, or correct the object",
            env!("CARGO_PKG_VERSION"),
            invalid.error
        ),
        Unreadable::TooDeep { depth } => format!(
            "remotion-operator cannot read this {kind}: it is nested {depth} levels deep, and the operator \
             reads objects nested at most {} levels (a RenderJob's inputProps may nest {} levels); flatten \
             the deepest value, or move the data into a file the composition fetches",
            super::readable::MAX_OBJECT_DEPTH,
            remotion_protocol::payload::MAX_PROPS_DEPTH,
        ),
    }
}

async fn report<K>(ctx: &Context, controller: &str, object: &DeserializeGuard<K>, invalid: &InvalidObject)
where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope> + Clone + DeserializeOwned + Debug,
{
    let generation = object.meta().generation.unwrap_or_default();
    if !ctx.invalid_objects.first_report(object.uid().unwrap_or_default(), generation) {
        return;
    }
    let kind = K::kind(&());
    let message = message(&kind, invalid);
    tracing::warn!(controller, name = object.name_any(), namespace = object.namespace(), "{message}");
    ctx.metrics.reconcile_failed(controller, INVALID_OBJECT);
    ctx.events.warning(object, INVALID_OBJECT, "Reconcile", message.clone()).await;

    // Only the Ready entry of the conditions list-map, under a manager of its own: the
    // controller's other status fields stay as they are.
    let patch = json!({
        "apiVersion": K::api_version(&()),
        "kind": kind,
        "status": {"conditions": [{
            "type": remotion_crds::common::condition_type::READY,
            "status": "False",
            "reason": INVALID_OBJECT.as_str(),
            "message": message,
            "observedGeneration": generation,
            "lastTransitionTime": Time(k8s_openapi::jiff::Timestamp::now()),
        }]},
    });
    let api: Api<DeserializeGuard<K>> = Api::namespaced(ctx.client.clone(), &object.namespace().unwrap_or_default());
    let params = PatchParams::apply(FIELD_MANAGER).force();
    if let Err(error) = api.patch_status(&object.name_any(), &params, &Patch::Apply(&patch)).await {
        tracing::warn!(%error, name = object.name_any(), "could not write the InvalidObject condition");
    }
}
