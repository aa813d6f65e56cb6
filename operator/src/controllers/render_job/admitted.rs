//! The fast lane: jobs a slot has just been freed for are launched here, not through the
//! launching controller's queue.
//!
//! The launching controller also pays every new job its first visit (references, props, the
//! first `Queued` status). kube's scheduler does not order its queue, so after a burst of
//! 10,000 jobs a freed slot waited behind thousands of first visits (slot free → next launch:
//! p50 4.2 s, p99 165 s; the slots sat idle 38 % of the time). Here an admitted job waits only
//! for other admitted jobs.
//!
//! The jobs next in line get their finalizer here before their turn, so that a freed slot
//! waits for one write (the launch record), not two, at an API server busy with thousands of
//! queued jobs.
//!
//! A job may still be reconciled by the controller at the same moment (its periodic recheck):
//! the launch record's resourceVersion precondition lets only one of the two launch it. A launch
//! that fails here goes back to the controller, whose error policy retries it with backoff.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::reflector::ObjectRef;
use remotion_crds::RenderJob;
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;

use super::launched;
use super::{JobContext, LAUNCH_CONTROLLER, reconcile_launch};
use crate::reconcile::guard::DeserializeGuard;
use crate::reconcile::{FINALIZER, has_finalizer, is_deleting, span};
use serde_json::json;

type JobRef = ObjectRef<DeserializeGuard<RenderJob>>;

/// Launches the jobs `admitted` names, `concurrency` at a time, until `shutdown`; a job whose
/// launch failed is sent to `retry` (the launching controller).
pub async fn launch_admitted(
    mut admitted: mpsc::UnboundedReceiver<JobRef>,
    retry: mpsc::UnboundedSender<JobRef>,
    ctx: Arc<JobContext>,
    concurrency: usize,
    shutdown: CancellationToken,
) {
    let permits = Arc::new(Semaphore::new(concurrency.max(1)));
    // A job triggered again while its launch runs needs no second one.
    let running: Arc<Mutex<HashSet<JobRef>>> = Arc::default();
    loop {
        let next = tokio::select! {
            _ = shutdown.cancelled() => return,
            next = admitted.recv() => next,
        };
        let Some(job_ref) = next else { return };
        let Some(guarded) = ctx.jobs.get(&job_ref) else { continue };
        let Ok(job) = &guarded.0 else { continue };
        if !running.lock().unwrap_or_else(|e| e.into_inner()).insert(job_ref.clone()) {
            continue;
        }
        let permit = tokio::select! {
            _ = shutdown.cancelled() => return,
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => return,
            },
        };
        let (job, ctx, running, retry) = (Arc::new(job.clone()), ctx.clone(), running.clone(), retry.clone());
        // The launch runs in a reconcile span of its own (this lane is no controller's),
        // marked as the admitted lane.
        let span = span::reconcile_span(LAUNCH_CONTROLLER, &*job);
        span.record("reconcile.lane", span::ADMITTED_LANE);
        tokio::spawn(async move {
            if let Err(error) = span::run_in(span, reconcile_launch(job, ctx)).await {
                tracing::warn!(job = %job_ref, error = %error.report(), "launching an admitted job failed; retrying");
                let _ = retry.send(job_ref.clone());
            }
            running.lock().unwrap_or_else(|e| e.into_inner()).remove(&job_ref);
            drop(permit);
        });
    }
}

/// How long adding a finalizer ahead of a job's turn may take (the launch adds it otherwise).
const ARM_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Adds the finalizer to the jobs `next_in_line` names, one at a time, until `shutdown`. A
/// failure is only logged: the launch adds the finalizer itself when it is still missing.
pub async fn arm_next_in_line(
    mut next_in_line: mpsc::UnboundedReceiver<JobRef>,
    ctx: Arc<JobContext>,
    shutdown: CancellationToken,
) {
    loop {
        let next = tokio::select! {
            _ = shutdown.cancelled() => return,
            next = next_in_line.recv() => next,
        };
        let Some(job_ref) = next else { return };
        let Some(guarded) = ctx.jobs.get(&job_ref) else { continue };
        let Ok(job) = &guarded.0 else { continue };
        if has_finalizer(job) || is_deleting(job) || launched(job) {
            continue;
        }
        let api: Api<RenderJob> = Api::namespaced(ctx.shared.client.clone(), &job.namespace().unwrap_or_default());
        // Only onto the job as cached: a job changed since (its launch under way, say) is left
        // alone, as a write now would make its launch record's precondition fail.
        let mut finalizers = job.finalizers().to_vec();
        finalizers.push(FINALIZER.to_owned());
        let patch = json!({"metadata": {"resourceVersion": job.resource_version(), "finalizers": finalizers}});
        let (name, params, patch) = (job.name_any(), PatchParams::default(), Patch::Merge(&patch));
        match tokio::time::timeout(ARM_TIMEOUT, api.patch(&name, &params, &patch)).await {
            Ok(Ok(_)) => {}
            Ok(Err(error)) => tracing::debug!(job = %job_ref, %error, "finalizer ahead of the launch not added"),
            Err(_) => tracing::debug!(job = %job_ref, "finalizer ahead of the launch timed out"),
        }
    }
}
