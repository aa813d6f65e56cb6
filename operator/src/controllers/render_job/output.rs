//! The output of a finished render, with the URL the status shows: a public object URL, or a
//! presigned one that expires.

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use remotion_crds::RenderJob;
use remotion_crds::render_job::{Privacy, RenderObject, RenderOutput, limits};
use remotion_protocol::progress::{OutputObject, ProgressDocument};

use super::follow::Followed;
use super::{JobContext, bucket, destination};
use crate::reconcile::Error;

/// The output a document names, with its URL (`None` while it names none). An image
/// sequence's folder has no URL (each frame is an object of its own); its archive has one.
pub async fn output_of(
    job: &RenderJob,
    ctx: &JobContext,
    namespace: &str,
    doc: &ProgressDocument,
    followed: &Followed,
) -> Result<Option<RenderOutput>, Error> {
    let Some(info) = &doc.output else {
        return Ok(None);
    };
    let (url, url_expires_at) = match info.frames {
        Some(_) => (None, None),
        None => {
            let (url, expires) = url_of(job, ctx, namespace, followed, &info.bucket, &info.key).await?;
            (Some(url), expires)
        }
    };
    let archive = object_of(job, ctx, namespace, followed, &info.bucket, info.archive.as_ref()).await?;
    let separate_audio = object_of(job, ctx, namespace, followed, &info.bucket, info.separate_audio.as_ref()).await?;
    Ok(Some(RenderOutput {
        url,
        url_expires_at,
        s3_uri: format!("s3://{}/{}", info.bucket, info.key),
        size_bytes: i64::try_from(info.size_bytes).unwrap_or(i64::MAX),
        content_type: info.content_type.clone(),
        frames: info.frames.map(|f| i64::try_from(f).unwrap_or(i64::MAX)),
        sequence_pattern: info.sequence_pattern.clone(),
        archive,
        separate_audio,
    }))
}

/// One more object of the output (an archive, the separate audio), with its URL.
async fn object_of(
    job: &RenderJob,
    ctx: &JobContext,
    namespace: &str,
    followed: &Followed,
    bucket_name: &str,
    object: Option<&OutputObject>,
) -> Result<Option<Box<RenderObject>>, Error> {
    let Some(object) = object else {
        return Ok(None);
    };
    let (url, url_expires_at) = url_of(job, ctx, namespace, followed, bucket_name, &object.key).await?;
    Ok(Some(Box::new(RenderObject {
        url: Some(url),
        url_expires_at,
        s3_uri: format!("s3://{bucket_name}/{}", object.key),
        size_bytes: i64::try_from(object.size_bytes).unwrap_or(i64::MAX),
        content_type: object.content_type.clone(),
    })))
}

/// The URL of one object of the output: public, or presigned for the job's `presignSeconds`.
/// A store of the job's own is signed for with its own keys, at its own endpoint; another
/// LambdaBucket with its clients, under its URL.
async fn url_of(
    job: &RenderJob,
    ctx: &JobContext,
    namespace: &str,
    followed: &Followed,
    bucket_name: &str,
    key: &str,
) -> Result<(String, Option<Time>), Error> {
    let spec = job.spec.output.clone().unwrap_or_default();
    let (store_clients, bucket_url) = match (&spec.store, &spec.bucket_ref) {
        (Some(store), _) => (Some(destination::clients(ctx, namespace, store, destination::Purpose::Use).await?), None),
        (None, Some(other)) => {
            let (clients, url) =
                destination::other_bucket_clients(ctx, namespace, &other.name, destination::Purpose::Use).await?;
            (Some(clients), url)
        }
        (None, None) => (None, followed.bucket_url.clone()),
    };
    Ok(match spec.privacy {
        Privacy::Public => {
            let base = match &spec.store {
                Some(store) => destination::public_base(store),
                None => bucket_url.unwrap_or_else(|| format!("https://{bucket_name}.s3.amazonaws.com")),
            };
            (bucket::public_url(&base, key), None)
        }
        Privacy::Private | Privacy::NoAcl => {
            let seconds = spec.presign_seconds.unwrap_or(limits::DEFAULT_PRESIGN_SECONDS);
            let wanted = Duration::from_secs(u64::try_from(seconds).unwrap_or(3600));
            let (s3, credentials) = match &store_clients {
                Some(clients) => (&clients.s3, clients.credentials.as_ref()),
                None => (&followed.s3, followed.credentials.as_ref()),
            };
            let (url, expires) = bucket::presigned_get(s3, credentials, bucket_name, key, wanted).await?;
            (url, k8s_openapi::jiff::Timestamp::try_from(expires).ok().map(Time))
        }
    })
}
