//! `spec.output.deleteWithJob`: a finished job keeps its finalizer while it holds an output,
//! and its deletion deletes the output object first, wherever it went (the site's bucket or
//! the job's own store). A failed delete is retried with backoff and reported by a Warning
//! Event (`OutputDeleteFailed`) each time; an object already gone counts as deleted. Only
//! credentials that are gone for good (a namespace being deleted) end the retries, after the
//! cleanup deadline, with a `CleanupAbandoned` Event naming the object left.

use kube::api::Api;
use kube::runtime::controller::Action;
use remotion_crds::{Reason, RenderJob};

use super::follow::{Purpose, locate};
use super::{JobContext, destination};
use crate::aws::sdk_error;
use crate::reconcile::{Error, abandon, remove_finalizer};

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
        match s3.delete_object().bucket(bucket).key(key).send().await {
            Ok(_) => {}
            // DeleteObject of a missing key succeeds in S3; a store that answers 404 says the same.
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => {}
            Err(e) => return Err(sdk_error(Reason::OutputDeleteFailed, &format!("deleting s3://{bucket}/{key}"), &e)),
        }
    }
    Ok(())
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
}
