//! The output of a finished render, with the URL the status shows: a public object URL, or a
//! presigned one that expires.

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use remotion_crds::RenderJob;
use remotion_crds::render_job::{Privacy, RenderOutput, limits};
use remotion_protocol::progress::ProgressDocument;

use super::bucket;
use super::follow::Followed;
use crate::reconcile::Error;

/// The output a document names, with its URL (`None` while it names none).
pub async fn output_of(
    job: &RenderJob,
    doc: &ProgressDocument,
    followed: &Followed,
) -> Result<Option<RenderOutput>, Error> {
    let Some(info) = &doc.output else {
        return Ok(None);
    };
    let spec = job.spec.output.clone().unwrap_or_default();
    let (url, url_expires_at) = match spec.privacy {
        Privacy::Public => {
            let base =
                followed.bucket_url.clone().unwrap_or_else(|| format!("https://{}.s3.amazonaws.com", info.bucket));
            (bucket::public_url(&base, &info.key), None)
        }
        Privacy::Private => {
            let seconds = spec.presign_seconds.unwrap_or(limits::DEFAULT_PRESIGN_SECONDS);
            let wanted = Duration::from_secs(u64::try_from(seconds).unwrap_or(3600));
            let (url, expires) =
                bucket::presigned_get(&followed.s3, followed.credentials.as_ref(), &info.bucket, &info.key, wanted)
                    .await?;
            (url, k8s_openapi::jiff::Timestamp::try_from(expires).ok().map(Time))
        }
    };
    Ok(Some(RenderOutput {
        url: Some(url),
        url_expires_at,
        s3_uri: format!("s3://{}/{}", info.bucket, info.key),
        size_bytes: i64::try_from(info.size_bytes).unwrap_or(i64::MAX),
        content_type: info.content_type.clone(),
    }))
}
