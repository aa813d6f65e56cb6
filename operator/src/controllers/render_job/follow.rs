//! Following a launched render: read `renders/<id>/progress.json` at most once per poll
//! interval, keep the heartbeat, write the cancel signal when asked, and turn what was observed
//! into the status through the [`super::verdict`] step.

use std::time::{Duration, Instant};

use kube::Resource;
use kube::api::Api;
use kube::runtime::controller::Action;
use remotion_crds::render_job::RenderPhase;
use remotion_crds::{Reason, RenderFunction, RenderJob};
use remotion_protocol::keys::{self, RenderId};
use remotion_protocol::payload::Allotment;
use remotion_protocol::progress::{ProgressDocument, RemoteLane, Stage};

use super::admission::Shrink;
use super::cancel::request_cancel;
use super::output::output_of;
use super::stall::{self, StallPolicy};
use super::status::Verdict;
use super::verdict::{self, Limits, Observed};
use super::write::write_status;
use super::{Fetched, JobContext, admission, bucket, now, now_ms, status};
use crate::reconcile::{Error, add_finalizer, has_finalizer};

/// Where a launched job's files are and how long its function may run.
pub struct Followed {
    /// Client of the render's bucket.
    pub s3: aws_sdk_s3::Client,
    /// The credentials it signs with.
    pub credentials: Option<aws_sdk_s3::config::SharedCredentialsProvider>,
    /// The render's bucket.
    pub bucket: String,
    /// Base URL of the bucket, for public outputs.
    pub bucket_url: Option<String>,
    /// The function's timeout.
    pub function_timeout: Duration,
    /// The RenderFunction whose capacity the render holds (its chunks'), when it still exists.
    pub function: Option<RenderFunction>,
}

/// Why a launched job's render is located.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// Following it: the credentials must be there now.
    Follow,
    /// Stopping a deleted job's render: credentials whose Secret just went still serve.
    Cleanup,
}

/// The bucket and function timeout of a launched job.
pub async fn locate(
    job: &RenderJob,
    ctx: &JobContext,
    namespace: &str,
    bucket: String,
    purpose: Purpose,
) -> Result<Followed, Error> {
    let fetched = Fetched::get(ctx, namespace, job).await?;
    let Some(lambda_bucket) = fetched.bucket else {
        return Err(Error::new(
            Reason::BucketNotFound,
            format!(
                "the LambdaBucket of RemotionSite {} is gone: cannot read the render's progress",
                job.spec.site_ref.name
            ),
        ));
    };
    let aws = &ctx.shared.aws;
    let clients = match purpose {
        Purpose::Follow => aws.clients(namespace, &lambda_bucket.spec.aws).await?,
        Purpose::Cleanup => aws.clients_for_cleanup(namespace, &lambda_bucket.spec.aws).await?,
    };
    let function_timeout = fetched
        .function
        .as_ref()
        .map(|f| f.status.as_ref().and_then(|s| s.timeout_seconds).unwrap_or(f.spec.timeout_seconds))
        .unwrap_or(remotion_crds::render_function::limits::DEFAULT_TIMEOUT_SECONDS);
    Ok(Followed {
        s3: clients.s3,
        credentials: clients.credentials,
        bucket,
        bucket_url: lambda_bucket.status.and_then(|s| s.url),
        function_timeout: Duration::from_secs(u64::try_from(function_timeout).unwrap_or(900)),
        function: fetched.renderer.or(fetched.function),
    })
}

/// One look at a launched render.
pub async fn follow(api: &Api<RenderJob>, job: &RenderJob, ctx: &JobContext, namespace: &str) -> Result<Action, Error> {
    let current = job.status.clone().unwrap_or_default();
    let generation = job.meta().generation;
    let id_text = current.render_id.clone().unwrap_or_default();
    let id = RenderId::new(id_text.clone()).map_err(|e| Error::caused_by(Reason::InvalidRenderId, "following", e))?;
    let remembered = ctx.memory.of(&id_text);
    // Each status write wakes the job again: unless a cancel waits to be signalled, read the
    // progress no more often than the poll interval (at hundreds of live jobs these extra
    // reconciles doubled the load on the API server and S3).
    let cancel_pending = job.spec.cancel && remembered.cancel_requested.is_none();
    let poll_every = remembered.poll_every.unwrap_or(ctx.tuning.poll_interval);
    if !cancel_pending {
        if let Some(last) = remembered.last_poll
            && let Some(wait) = poll_every.checked_sub(last.elapsed())
            && !wait.is_zero()
        {
            return Ok(Action::requeue(wait));
        }
        ctx.memory.update(&id_text, |m| m.last_poll = Some(Instant::now()));
    }
    // Jobs launched by an operator version without the finalizer get it now.
    if !has_finalizer(job) {
        add_finalizer(api, job).await?;
    }
    let bucket = current.bucket_name.clone().unwrap_or_default();
    let followed = locate(job, ctx, namespace, bucket, Purpose::Follow).await?;
    if job.spec.cancel {
        request_cancel(job, ctx, &followed, &id).await?;
    }
    let doc = bucket::progress(&followed.s3, &followed.bucket, &keys::progress(&id)).await?;
    let now_ms = now_ms();
    let previous = ctx.memory.of(&id_text).heartbeat;
    if let Some(doc) = &doc
        && stall::is_stale(previous, doc)
    {
        // An older document than one already seen (a stale read): nothing new.
        return Ok(Action::requeue(ctx.tuning.poll_interval));
    }
    let heartbeat = doc.as_ref().map(|d| stall::observe(previous, d, now_ms));
    let poll_every = poll_interval(&ctx.tuning, doc.as_ref(), now_ms);
    let remembered = ctx.memory.update(&id_text, |m| {
        if heartbeat.is_some() {
            m.heartbeat = heartbeat;
        }
        m.poll_every = Some(poll_every);
        m.clone()
    });

    let policy = StallPolicy { function_timeout: followed.function_timeout, margin: ctx.tuning.stall_margin };
    let launched_at_ms = current.started_at.as_ref().map(status::ms_from_time).unwrap_or(now_ms);
    let output = match doc.as_ref() {
        Some(d) if d.stage == Stage::Done => output_of(job, ctx, namespace, d, &followed).await?,
        _ => None,
    };
    let observed = Observed {
        doc: doc.as_ref(),
        output,
        cancel_overdue: remembered.cancel_requested.is_some_and(|at| at.elapsed() > ctx.tuning.cancel_confirm_timeout),
        silence: stall::silent_for(policy, launched_at_ms, doc.as_ref(), heartbeat, now_ms),
        launch: remembered.launch.as_ref(),
        started_at: current.started_at.clone().unwrap_or_else(now),
    };
    let limits = Limits { stall: policy, cancel_confirm_timeout: ctx.tuning.cancel_confirm_timeout };
    let reshared = match doc.as_ref() {
        Some(doc) if !job.spec.cancel => match shrink(job, ctx, &followed, &id, doc).await? {
            Some(slots) => Some(slots),
            None => grow(job, ctx, &followed, &id, doc).await?,
        },
        _ => None,
    };
    let verdict = verdict::verdict(observed, limits);
    if let Verdict::Ended { reason: Reason::Stalled, .. } = &verdict {
        // A launch Lambda delivers late, or an orchestrator that lost touch, stops at once
        // instead of rendering for a job that has ended.
        bucket::put(
            &followed.s3,
            &followed.bucket,
            &keys::cancel(&id),
            Vec::new(),
            "text/plain",
            job.spec.delete_after,
        )
        .await?;
    }
    let mut desired = status::desired(&current, &verdict, generation, &now());
    if let Some(slots) = reshared {
        desired.invocation_slots = i32::try_from(slots).ok();
    }
    let terminal = desired.phase.is_some_and(RenderPhase::is_terminal);
    match write_status(api, job, ctx, &desired).await? {
        // Held back: keep polling meanwhile, so that the end of the render (a phase change,
        // never held back) is seen within a poll interval even when the budget stretches
        // the write interval far beyond it.
        Some(wait) => Ok(Action::requeue(wait.min(poll_every))),
        None if terminal => {
            ctx.memory.forget(&id_text);
            Ok(Action::await_change())
        }
        None => Ok(Action::requeue(poll_every)),
    }
}

/// How soon a render's progress is read again: often once its end is near, else at the poll
/// interval. Polling at the interval alone made a short render hold its slots for up to a
/// whole interval past its end (1.5 s on renders of a few seconds, where it was measured).
///
/// Near means: stitching or uploading, every chunk done, or the frames still to render
/// predicted (at the rate so far) to be done within one poll interval of `now_ms`.
pub fn poll_interval(tuning: &super::Tuning, doc: Option<&ProgressDocument>, now_ms: u64) -> Duration {
    let usual = tuning.poll_interval;
    let near_end = doc.is_some_and(|d| match d.stage {
        Stage::Stitching | Stage::Uploading => true,
        Stage::Rendering if d.chunks_total > 0 && d.chunks_done >= d.chunks_total => true,
        Stage::Rendering => predicted_end_ms(d).is_some_and(|end| end <= now_ms.saturating_add(super::millis(usual))),
        _ => false,
    });
    if near_end { tuning.final_poll_interval.min(usual) } else { usual }
}

/// When the render's frames will all be rendered, at the rate since its orchestrator started
/// (evaluation included, so the prediction errs late).
fn predicted_end_ms(doc: &ProgressDocument) -> Option<u64> {
    let elapsed = doc.updated_at_ms.checked_sub(doc.started_at_ms)?;
    if doc.frames_rendered == 0 || doc.frames_total < doc.frames_rendered {
        return None;
    }
    let left = doc.frames_total - doc.frames_rendered;
    let per_frame = elapsed as f64 / doc.frames_rendered as f64;
    Some(doc.updated_at_ms.saturating_add((left as f64 * per_frame) as u64))
}

/// Gives a rendering job more slots when its function has some free and nobody waits for them,
/// up to one per chunk it has left (its orchestrator renders one itself): the new share goes to
/// the orchestrator through the render's allotment. Returns the slots its status should show.
async fn grow(
    job: &RenderJob,
    ctx: &JobContext,
    followed: &Followed,
    id: &RenderId,
    doc: &ProgressDocument,
) -> Result<Option<u32>, Error> {
    let Some(function) = &followed.function else { return Ok(None) };
    if doc.stage != Stage::Rendering {
        return Ok(None);
    }
    let usable = u32::try_from(doc.chunks_total.saturating_sub(doc.chunks_done)).unwrap_or(u32::MAX);
    let Some(growth) = ctx.admission.grow(&ctx.jobs, &ctx.references, job, function, usable) else {
        return Ok(None);
    };
    if growth.grew {
        tell(job, followed, id, growth.slots).await?;
        tracing::info!(render_id = %id, slots = growth.slots, "share of the function's capacity grown");
    }
    let slots = growth.slots;
    Ok(Some(slots))
}

/// Gives slots of a rendering job back when renders wait for its function: its orchestrator is
/// told the smaller share through the allotment, and the slots count as free only once its
/// progress shows that it keeps within the share (it has read the smaller cap and no more of
/// its chunk invocations run). Returns the share its status should record then.
async fn shrink(
    job: &RenderJob,
    ctx: &JobContext,
    followed: &Followed,
    id: &RenderId,
    doc: &ProgressDocument,
) -> Result<Option<u32>, Error> {
    let Some(recorded) = job.status.as_ref().and_then(|s| s.invocation_slots).and_then(|s| u32::try_from(s).ok())
    else {
        return Ok(None);
    };
    // Past rendering, no chunk starts again whatever cap the orchestrator last read.
    let lane = doc.remote_lane.map(|lane| match doc.stage {
        Stage::Rendering => lane,
        _ => RemoteLane { cap: 0, ..lane },
    });
    match ctx.admission.shrink(job, recorded, lane) {
        None | Some(Shrink::Draining { .. }) => Ok(None),
        Some(Shrink::Tell { slots }) => {
            tell(job, followed, id, slots).await?;
            ctx.admission.told(job.metadata.uid.as_deref().unwrap_or_default());
            tracing::info!(render_id = %id, from = recorded, to = slots, "giving slots back to renders waiting");
            Ok(None)
        }
        Some(Shrink::Done { slots }) => {
            tracing::info!(render_id = %id, from = recorded, to = slots, "slots given back to renders waiting");
            Ok(Some(slots))
        }
    }
}

/// Writes the render's allotment: its orchestrator's remote lane follows it within a poll.
async fn tell(job: &RenderJob, followed: &Followed, id: &RenderId, slots: u32) -> Result<(), Error> {
    let allotment = Allotment { chunk_slots: admission::chunk_slots(&job.spec, slots) };
    let body = serde_json::to_vec(&allotment)
        .map_err(|e| Error::caused_by(Reason::InternalError, "serializing the allotment", e))?;
    let key = keys::allotment(id);
    bucket::put(&followed.s3, &followed.bucket, &key, body, "application/json", job.spec.delete_after).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::render_job::Tuning;

    fn doc(stage: Stage, chunks_done: u64, chunks_total: u64) -> ProgressDocument {
        ProgressDocument { stage, chunks_done, chunks_total, ..ProgressDocument::default() }
    }

    /// `rendered` of 100 frames after `elapsed_ms` of the orchestrator, written at t = 100 s.
    fn rendering(rendered: u64, elapsed_ms: u64) -> ProgressDocument {
        ProgressDocument {
            stage: Stage::Rendering,
            frames_total: 100,
            frames_rendered: rendered,
            chunks_total: 4,
            chunks_done: 1,
            started_at_ms: 100_000 - elapsed_ms,
            updated_at_ms: 100_000,
            ..ProgressDocument::default()
        }
    }

    #[test]
    fn the_end_of_a_render_is_looked_for_more_often() {
        let tuning = Tuning::default();
        let (usual, near_end) = (tuning.poll_interval, tuning.final_poll_interval);
        assert!(near_end < usual);
        let now = 100_000;
        assert_eq!(poll_interval(&tuning, None, now), usual);
        assert_eq!(poll_interval(&tuning, Some(&doc(Stage::Evaluating, 0, 0)), now), usual);
        assert_eq!(poll_interval(&tuning, Some(&doc(Stage::Rendering, 3, 4)), now), usual);
        assert_eq!(poll_interval(&tuning, Some(&doc(Stage::Rendering, 4, 4)), now), near_end);
        assert_eq!(poll_interval(&tuning, Some(&doc(Stage::Stitching, 4, 4)), now), near_end);
        assert_eq!(poll_interval(&tuning, Some(&doc(Stage::Uploading, 4, 4)), now), near_end);
        // Never slower than the usual interval, whatever the two are set to.
        let odd = Tuning { final_poll_interval: usual * 2, ..Tuning::default() };
        assert_eq!(poll_interval(&odd, Some(&doc(Stage::Stitching, 1, 1)), now), usual);
    }

    #[test]
    fn a_render_predicted_to_end_within_a_poll_is_looked_at_often() {
        let tuning = Tuning::default();
        let (usual, near_end) = (tuning.poll_interval, tuning.final_poll_interval);
        // 90 frames in 9 s: the last 10 take about 1 s, within the 1.5 s interval.
        assert_eq!(poll_interval(&tuning, Some(&rendering(90, 9_000)), 100_000), near_end);
        // 50 frames in 5 s: 5 s to go.
        assert_eq!(poll_interval(&tuning, Some(&rendering(50, 5_000)), 100_000), usual);
        // ... but the same document read 4 s later predicts the end within the interval.
        assert_eq!(poll_interval(&tuning, Some(&rendering(50, 5_000)), 104_000), near_end);
        // Nothing rendered yet: no rate, no prediction.
        assert_eq!(poll_interval(&tuning, Some(&rendering(0, 5_000)), 100_000), usual);
    }
}
