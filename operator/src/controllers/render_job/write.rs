//! Writing a job's status: only when it says something new, at most once per write interval
//! per job, with an Event for each phase change and new waiting reason, and the accrued cost
//! added to the cost metric.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use kube::ResourceExt;
use kube::api::Api;
use remotion_crds::common::{condition_type, find_condition};
use remotion_crds::render_job::{RenderJobStatus, RenderPhase};
use remotion_crds::{Reason, RenderJob};
use remotion_protocol::keys::RenderId;
use remotion_protocol::money::Usd;

use super::{FIELD_MANAGER, JobContext, status, throttle};
use crate::reconcile::status::{Precondition, apply_status_when};
use crate::reconcile::{Error, apply_status_unchanged};

/// Writes `desired` when it says something new, at most once per write interval per job
/// (the launch record, which must precede the invocation, is [`record_launch`]). A phase
/// change waits for the base interval only, not for the share of the write budget that
/// stretches progress writes when many renders are live; the end of a render and a smaller
/// share of the function (both free slots for renders waiting) do not wait. Returns how long
/// to wait before the next write is allowed, when this one was held back.
pub async fn write_status(
    api: &Api<RenderJob>,
    job: &RenderJob,
    ctx: &JobContext,
    desired: &RenderJobStatus,
) -> Result<Option<Duration>, Error> {
    write_status_when(api, job, ctx, desired, Precondition::None).await
}

/// [`write_status`] for a job not launched yet, as read: refused when the job changed since,
/// so that a status decided before a launch (`Queued` with a position, a wait, a failure)
/// never overwrites the launch another writer recorded meanwhile (the fast lane and the
/// launching controller may hold the same job at once). A refused write asks to be tried
/// again after [`AFTER_CONFLICT`], once the cache has the change.
pub async fn write_unlaunched_status(
    api: &Api<RenderJob>,
    job: &RenderJob,
    ctx: &JobContext,
    desired: &RenderJobStatus,
) -> Result<Option<Duration>, Error> {
    match write_status_when(api, job, ctx, desired, Precondition::Unchanged).await {
        Err(error) if error.reason() == Reason::Conflict => Ok(Some(AFTER_CONFLICT)),
        other => other,
    }
}

/// How long a write refused for a change waits before it is decided again.
pub const AFTER_CONFLICT: Duration = Duration::from_millis(250);

async fn write_status_when(
    api: &Api<RenderJob>,
    job: &RenderJob,
    ctx: &JobContext,
    desired: &RenderJobStatus,
    precondition: Precondition,
) -> Result<Option<Duration>, Error> {
    let current = job.status.clone().unwrap_or_default();
    if !status::differs(&current, desired) {
        return Ok(None);
    }
    // Keyed by render id, the key the memory forgets when the job ends (the UID has dashes).
    let uid = job.uid().unwrap_or_default();
    let key = RenderId::from_uid(&uid).map(|id| id.to_string()).unwrap_or_else(|_| uid.clone());
    let interval = if current.phase == desired.phase {
        Duration::from_millis(ctx.progress_interval_ms.load(Ordering::Relaxed))
    } else {
        ctx.tuning.write_interval
    };
    // The end of a render is written at once: it frees the render's slots for the next job, and
    // it happens once per job, so it cannot flood anything.
    let ends =
        desired.phase.is_some_and(RenderPhase::is_terminal) && !current.phase.is_some_and(RenderPhase::is_terminal);
    // So is a smaller share of the function (a render giving slots back to renders waiting).
    let gives_back = match (current.invocation_slots, desired.invocation_slots) {
        (Some(held), Some(kept)) => u32::try_from(kept).ok().filter(|_| kept < held),
        _ => None,
    };
    let wait = throttle::wait(ctx.memory.of(&key).last_write, Instant::now(), interval);
    if !ends && gives_back.is_none() && !wait.is_zero() {
        return Ok(Some(wait));
    }
    apply_status_when(api, job, FIELD_MANAGER, desired, precondition).await?;
    ctx.memory.update(&key, |m| m.last_write = Some(Instant::now()));
    if desired.phase.is_some_and(RenderPhase::is_terminal) {
        // Its slots are free from now on: the next queued job need not wait for the cache.
        ctx.admission.release(&uid);
    } else if let Some(kept) = gives_back {
        ctx.admission.gave_back(&uid, kept);
    }
    announce(job, ctx, &current, desired).await;
    Ok(None)
}

/// Records a launch in the status, only if nobody changed the job since `job` was read: the
/// record is what stops a second launch, so two writers (a leader change in the middle of a
/// reconcile) must not both succeed. `Ok(false)`: the job changed; read it again.
pub async fn record_launch(
    api: &Api<RenderJob>,
    job: &RenderJob,
    ctx: &JobContext,
    desired: &RenderJobStatus,
) -> Result<bool, Error> {
    match apply_status_unchanged(api, job, FIELD_MANAGER, desired).await {
        Ok(_) => {}
        Err(kube::Error::Api(status)) if status.code == 409 => return Ok(false),
        Err(error) => return Err(error.into()),
    }
    let uid = job.uid().unwrap_or_default();
    let key = RenderId::from_uid(&uid).map(|id| id.to_string()).unwrap_or(uid);
    ctx.memory.update(&key, |m| m.last_write = Some(Instant::now()));
    announce(job, ctx, &job.status.clone().unwrap_or_default(), desired).await;
    Ok(true)
}

/// The reason of a status's `Ready` condition.
fn ready_reason(status: &RenderJobStatus) -> Option<(Reason, String)> {
    let ready = find_condition(&status.conditions, condition_type::READY)?;
    Some((ready.reason.parse().ok()?, ready.message.clone()))
}

/// Events for phase changes and new waiting reasons; the end, duration and accrued-cost
/// metrics.
async fn announce(job: &RenderJob, ctx: &JobContext, before: &RenderJobStatus, after: &RenderJobStatus) {
    let events = &ctx.shared.events;
    let Some((reason, message)) = ready_reason(after) else { return };
    let phase_changed = before.phase != after.phase;
    // Once per render: only the write that makes the status terminal gets here with a
    // non-terminal `before` (later writes and other replicas see it terminal already).
    if let Some(end) = after.phase.filter(|p| p.is_terminal())
        && !before.phase.is_some_and(RenderPhase::is_terminal)
    {
        // Launched renders only: a job cancelled or refused before launch has no duration.
        let duration = match (&after.started_at, &after.completed_at) {
            (Some(started), Some(completed)) => Duration::try_from(completed.0.duration_since(started.0)).ok(),
            _ => None,
        };
        ctx.shared.metrics.render_ended(end, reason, duration);
    }
    match after.phase.unwrap_or_default() {
        RenderPhase::Pending if ready_reason(before).map(|(r, _)| r) != Some(reason) => {
            events.normal(job, reason, "Wait", message).await
        }
        // Once on entering the queue: the position in its message changes too often for Events.
        RenderPhase::Queued if phase_changed => events.normal(job, reason, "Queue", message).await,
        RenderPhase::Rendering if phase_changed => events.normal(job, Reason::Launched, "Launch", message).await,
        RenderPhase::Succeeded if phase_changed => {
            let output = after.output.as_ref().map(|o| o.s3_uri.clone()).unwrap_or_default();
            let cost = after.cost.as_ref().map(|c| c.accrued_usd.clone()).unwrap_or_default();
            events.normal(job, Reason::Succeeded, "Render", format!("rendered {output} for ${cost}")).await;
        }
        RenderPhase::Failed if phase_changed => events.warning(job, reason, "Render", message).await,
        RenderPhase::Cancelled if phase_changed => events.normal(job, Reason::Cancelled, "Cancel", message).await,
        _ => {}
    }
    if let (Some(id), Some(cost)) = (&after.render_id, &after.cost) {
        let accrued: Usd = cost.accrued_usd.parse().unwrap_or(Usd::ZERO);
        // First sight in this process: count only what accrues from now on.
        let before_cost = || before.cost.as_ref().and_then(|c| c.accrued_usd.parse().ok()).unwrap_or(Usd::ZERO);
        let delta = ctx.memory.update(id, |m| {
            let known = m.accrued.get_or_insert_with(before_cost);
            (accrued > *known).then(|| {
                let delta = accrued.amount() - known.amount();
                *known = accrued;
                delta
            })
        });
        if let Some(delta) = delta {
            ctx.shared.metrics.add_render_cost_usd(delta.try_into().unwrap_or(0.0));
        }
    }
}
