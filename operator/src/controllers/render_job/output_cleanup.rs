//! `spec.output.deleteWithJob`: a finished job keeps its finalizer while it holds an output,
//! and its deletion deletes the output object first, wherever it went (the site's bucket or
//! the job's own store). A failed delete is retried with backoff and reported by a Warning
//! Event (`OutputDeleteFailed`) each time; an object already gone counts as deleted. Only
//! credentials that are gone for good (a namespace being deleted) end the retries, after the
//! cleanup deadline, with a `CleanupAbandoned` Event naming the object left.
//!
//! An image sequence's output is a folder (`renders/<id>/frames/`): its frames are listed and
//! deleted 1,000 a call. Only the folder of the job's own render id (derived from its uid, which
//! no status patch changes) is emptied that way, so a status pointing elsewhere deletes at most
//! one object, never a whole prefix.

use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use kube::api::Api;
use kube::runtime::controller::Action;
use remotion_crds::{Reason, RenderJob};
use remotion_protocol::keys::{self, RenderId};

use super::follow::{Purpose, locate};
use super::{JobContext, destination};
use crate::aws::sdk_error;
use crate::reconcile::{Error, abandon, remove_finalizer};
use crate::tenancy::foreign;

/// The output object a job must delete with itself: its bucket and key, from the status.
pub fn held_output(job: &RenderJob) -> Option<(String, String)> {
    if !job.spec.output.as_ref().is_some_and(|o| o.delete_with_job) {
        return None;
    }
    let uri = job.status.as_ref()?.output.as_ref()?.s3_uri.clone();
    let (bucket, key) = uri.strip_prefix("s3://")?.split_once('/')?;
    Some((bucket.to_owned(), key.to_owned()))
}

/// Deletes a deleted job's output, then lets the job go.
pub async fn on_delete(
    api: &Api<RenderJob>,
    job: &RenderJob,
    ctx: &JobContext,
    namespace: &str,
    bucket: &str,
    key: &str,
) -> Result<Action, Error> {
    match delete(job, ctx, namespace, bucket, key).await {
        Ok(()) => {
            let note = format!("deleted the output s3://{bucket}/{key} with the job (output.deleteWithJob)");
            ctx.shared.events.normal(job, Reason::Deleted, "DeleteOutput", note).await;
        }
        Err(error) if abandon::is_due(job, &error, &ctx.shared.cleanup_deadlines) => {
            return abandon::give_up(api, job, &ctx.shared, &error).await;
        }
        Err(error) => {
            let note = format!("could not delete the output s3://{bucket}/{key}; retrying: {}", error.report());
            ctx.shared.events.warning(job, Reason::OutputDeleteFailed, "DeleteOutput", note).await;
            return Err(error);
        }
    }
    remove_finalizer(api, job).await?;
    Ok(Action::await_change())
}

async fn delete(job: &RenderJob, ctx: &JobContext, namespace: &str, bucket: &str, key: &str) -> Result<(), Error> {
    let located = match (destination::store_of(job), destination::bucket_ref_of(job)) {
        (Some(store), _) => Ok(destination::clients(ctx, namespace, store, destination::Purpose::Cleanup).await?.s3),
        (None, Some(other)) => destination::other_bucket_clients(ctx, namespace, other, destination::Purpose::Cleanup)
            .await
            .map(|(clients, _)| clients.s3),
        (None, None) => locate(job, ctx, namespace, bucket.to_owned(), Purpose::Cleanup).await.map(|f| f.s3),
    };
    let s3 = match located {
        Ok(s3) => s3,
        // The LambdaBucket is gone, and with it (or its AWS bucket kept on purpose) the
        // operator's way to the object: nothing the job can still delete.
        Err(error) if error.reason() == Reason::BucketNotFound => {
            tracing::info!(%bucket, %key, "deleted job: its bucket is gone, its output with it or kept by it");
            return Ok(());
        }
        Err(error) => return Err(error),
    };
    // The objects written beside the output (its separate audio, an archive) go with it, the
    // output last: until it is gone the job holds its finalizer, so a retry finds them again.
    for key in companions(job, bucket).iter().map(String::as_str).chain([key]) {
        if is_own_sequence_folder(job, key) {
            delete_folder(&s3, bucket, key).await?;
            continue;
        }
        match s3.delete_object().bucket(bucket).key(key).send().await {
            Ok(_) => {}
            // DeleteObject of a missing key succeeds in S3; a store that answers 404 says the same.
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => {}
            Err(e) => return Err(sdk_error(Reason::OutputDeleteFailed, &format!("deleting s3://{bucket}/{key}"), &e)),
        }
    }
    Ok(())
}

/// Whether `key` is the frames folder of the job's own image sequence.
fn is_own_sequence_folder(job: &RenderJob, key: &str) -> bool {
    let is_sequence = job.status.as_ref().and_then(|s| s.output.as_ref()).is_some_and(|o| o.frames.is_some());
    let own = job.metadata.uid.as_deref().and_then(|uid| RenderId::from_uid(uid).ok());
    is_sequence && own.is_some_and(|id| keys::sequence_frames(&id) == key)
}

/// Deletes every object under `prefix`, 1,000 a call (DeleteObjects' limit), listing from the
/// start each round since deleted keys drop out of the listing.
async fn delete_folder(s3: &aws_sdk_s3::Client, bucket: &str, prefix: &str) -> Result<(), Error> {
    let failed = |action: &str| format!("{action} s3://{bucket}/{prefix}");
    loop {
        let page = s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .max_keys(1000)
            .send()
            .await
            .map_err(|e| sdk_error(Reason::OutputDeleteFailed, &failed("listing"), &e))?;
        let objects = page
            .contents()
            .iter()
            .filter_map(|o| o.key())
            .map(|k| ObjectIdentifier::builder().key(k).build())
            .collect::<Result<Vec<_>, _>>()?;
        if objects.is_empty() {
            return Ok(());
        }
        let delete = Delete::builder().set_objects(Some(objects)).quiet(true).build()?;
        let out = s3
            .delete_objects()
            .bucket(bucket)
            .delete(delete)
            .send()
            .await
            .map_err(|e| sdk_error(Reason::OutputDeleteFailed, &failed("deleting the frames of"), &e))?;
        if let Some(error) = out.errors().first() {
            let what = format!(
                "deleting s3://{bucket}/{}: {}",
                foreign::one_line(error.key().unwrap_or(prefix), foreign::MAX_MESSAGE_CHARS),
                foreign::one_line(error.message().or(error.code()).unwrap_or("failed"), foreign::MAX_MESSAGE_CHARS)
            );
            return Err(Error::new(Reason::OutputDeleteFailed, what));
        }
    }
}

/// Keys of the objects the status lists beside the output, in the output's bucket.
fn companions(job: &RenderJob, bucket: &str) -> Vec<String> {
    let Some(output) = job.status.as_ref().and_then(|s| s.output.as_ref()) else {
        return Vec::new();
    };
    [&output.separate_audio, &output.archive]
        .into_iter()
        .flatten()
        .filter_map(|object| object.s3_uri.strip_prefix("s3://")?.split_once('/'))
        .filter(|(in_bucket, _)| *in_bucket == bucket)
        .map(|(_, key)| key.to_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(delete_with_job: bool, uri: Option<&str>) -> RenderJob {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "remotion-operator.io/v1alpha1", "kind": "RenderJob",
            "metadata": {"name": "j", "namespace": "n"},
            "spec": {"siteRef": {"name": "s"}, "functionRef": {"name": "f"}, "composition": "C",
                     "output": {"deleteWithJob": delete_with_job}},
            "status": uri.map(|u| serde_json::json!({"output": {"s3Uri": u, "sizeBytes": 1, "contentType": "video/mp4"}})),
        }))
        .unwrap()
    }

    #[test]
    fn only_a_job_that_asks_holds_its_output() {
        let uri = Some("s3://videos/renders/r1/out.mp4");
        assert_eq!(held_output(&job(true, uri)), Some(("videos".into(), "renders/r1/out.mp4".into())));
        assert_eq!(held_output(&job(false, uri)), None);
        assert_eq!(held_output(&job(true, None)), None);
    }

    #[test]
    fn the_objects_beside_the_output_go_with_it() {
        let mut with_audio = job(true, Some("s3://videos/out/v.mp4"));
        let output = with_audio.status.as_mut().and_then(|s| s.output.as_mut()).unwrap();
        let object = |uri: &str| {
            Some(Box::new(remotion_crds::render_job::RenderObject { s3_uri: uri.into(), ..Default::default() }))
        };
        output.separate_audio = object("s3://videos/out/v.aac");
        output.archive = object("s3://elsewhere/out/frames.zip");
        assert_eq!(companions(&with_audio, "videos"), vec!["out/v.aac".to_owned()]);
        assert!(companions(&job(true, Some("s3://videos/out/v.mp4")), "videos").is_empty());
    }

    #[test]
    fn only_the_jobs_own_frames_folder_is_emptied() {
        let uid = "6f1e2d3c-0000-4000-8000-00000000abcd";
        let own = "renders/6f1e2d3c00004000800000000000abcd/frames/";
        let mut sequence = job(true, Some(&format!("s3://videos/{own}")));
        sequence.metadata.uid = Some(uid.into());
        sequence.status.as_mut().and_then(|s| s.output.as_mut()).unwrap().frames = Some(12);
        assert!(is_own_sequence_folder(&sequence, own));
        assert!(!is_own_sequence_folder(&sequence, "renders/"), "a patched status empties no other prefix");
        assert!(!is_own_sequence_folder(&sequence, "renders/0000/frames/"));
        let mut video = job(true, Some(&format!("s3://videos/{own}")));
        video.metadata.uid = Some(uid.into());
        assert!(!is_own_sequence_folder(&video, own), "only a sequence's output is a folder");
    }
}
