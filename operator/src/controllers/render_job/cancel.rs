//! Stopping a render: the cancel signal (`renders/<id>/cancel`) written once when
//! `spec.cancel` is set, and when a job is deleted before it ended — deleting a RenderJob stops
//! paying for it, as deleting a Job stops its Pods. The render's files stay (the bucket's
//! expiry rules remove them).

use std::time::Instant;

use kube::api::Api;
use kube::runtime::controller::Action;
use remotion_crds::{Reason, RenderJob};
use remotion_protocol::keys::{self, RenderId};

use super::follow::{Followed, Purpose, locate};
use super::{JobContext, bucket, launched};
use crate::reconcile::{Error, abandon, remove_finalizer};

/// A job deleted before it ended: a launched render is told to stop, then the finalizer goes.
pub async fn on_delete(
    api: &Api<RenderJob>,
    job: &RenderJob,
    ctx: &JobContext,
    namespace: &str,
) -> Result<Action, Error> {
    if let Some(status) = job.status.as_ref().filter(|_| launched(job))
        && let (Some(id_text), Some(bucket)) = (&status.render_id, &status.bucket_name)
    {
        let id = RenderId::new(id_text.clone())
            .map_err(|e| Error::caused_by(Reason::InvalidRenderId, "cancelling the deleted job's render", e))?;
        let signalled = match locate(job, ctx, namespace, bucket.clone(), Purpose::Cleanup).await {
            Ok(followed) => request_cancel(job, ctx, &followed, &id).await,
            Err(error) => Err(error),
        };
        match signalled {
            Ok(()) => {}
            // The bucket (and with it the render's files) is gone: nothing to signal in.
            Err(error) if error.reason() == Reason::BucketNotFound => {
                tracing::info!(render_id = %id, "deleted job: its bucket is gone, no cancel signal written")
            }
            // The credentials went first (a namespace being deleted): not forever.
            Err(error) if abandon::is_due(job, &error, &ctx.shared.cleanup_deadlines) => {
                ctx.memory.forget(id_text);
                return abandon::give_up(api, job, &ctx.shared, &error).await;
            }
            // Terminal failures are otherwise looked at again only after a long while.
            Err(error) if error.is_terminal() => {
                let due_in = abandon::due_in(job, &error, &ctx.shared.cleanup_deadlines);
                return due_in.map(Action::requeue).ok_or(error);
            }
            Err(error) => return Err(error),
        }
        ctx.memory.forget(id_text);
    }
    remove_finalizer(api, job).await?;
    Ok(Action::await_change())
}

/// Writes the cancel signal once per process (the PUT is idempotent, so a restart repeats it
/// harmlessly).
pub async fn request_cancel(
    job: &RenderJob,
    ctx: &JobContext,
    followed: &Followed,
    id: &RenderId,
) -> Result<(), Error> {
    let id_text = id.to_string();
    if ctx.memory.of(&id_text).cancel_requested.is_some() {
        return Ok(());
    }
    bucket::put(&followed.s3, &followed.bucket, &keys::cancel(id), Vec::new(), "text/plain", job.spec.delete_after)
        .await?;
    ctx.memory.update(&id_text, |m| m.cancel_requested = Some(Instant::now()));
    ctx.shared.events.normal(job, Reason::CancelRequested, "Cancel", format!("wrote {}", keys::cancel(id))).await;
    Ok(())
}
