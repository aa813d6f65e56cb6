//! Step 3: the site's compositions, listed by the render function, summarised for the status.

use remotion_crds::Reason;
use remotion_crds::remotion_site::CompositionSummary;
use remotion_protocol::keys::{self, SiteFolder};
use remotion_protocol::payload::{
    CompositionMetadata, CompositionsRequest, CompositionsResponse, PROTOCOL_VERSION, Payload, S3Prefix,
    SerializedProps, SiteLocation,
};

use super::SiteSettings;
use super::references::{ReadyBucket, ReadyFunction};
use crate::aws::{InvokeError, invoke_json};
use crate::reconcile::Error;

/// Most compositions kept in the status (the schema's bound).
const MAX_COMPOSITIONS: usize = 1000;

pub async fn list(
    function: &ReadyFunction,
    bucket: &ReadyBucket,
    folder: &SiteFolder,
    serve_url: &str,
    settings: &SiteSettings,
) -> Result<Vec<CompositionSummary>, Error> {
    let request = Payload::Compositions(CompositionsRequest {
        protocol_version: PROTOCOL_VERSION,
        site: SiteLocation {
            serve_url: serve_url.to_owned(),
            s3: Some(S3Prefix { bucket: bucket.name.clone(), prefix: keys::site_prefix(folder) }),
        },
        input_props: SerializedProps::empty(),
        timeout_ms: settings.compositions_timeout.as_millis().min(u128::from(u64::MAX)) as u64,
    });
    let payload = serde_json::to_value(&request)
        .map_err(|e| Error::caused_by(Reason::InternalError, "serializing the compositions request", e))?;
    let answer = invoke_json(&function.clients.lambda_invoke, &function.name, &payload, settings.compositions_timeout)
        .await
        .map_err(|e: InvokeError| Error::caused_by(Reason::CompositionsUnavailable, e.to_string(), e))?
        .map_err(|reported| {
            Error::new(
                Reason::CompositionsFailed,
                format!(
                    "{} could not list the compositions: {}: {}",
                    function.name, reported.error_type, reported.error_message
                ),
            )
        })?;
    let response: CompositionsResponse = serde_json::from_value(answer).map_err(|e| {
        Error::new(
            Reason::CompositionsUnavailable,
            format!("{} answered compositions with an unexpected shape: {e}", function.name),
        )
    })?;
    Ok(response.compositions.into_iter().take(MAX_COMPOSITIONS).map(summary).collect())
}

fn summary(c: CompositionMetadata) -> CompositionSummary {
    CompositionSummary {
        id: c.id,
        width: i32::try_from(c.width).unwrap_or(i32::MAX),
        height: i32::try_from(c.height).unwrap_or(i32::MAX),
        fps: c.fps,
        duration_in_frames: i64::try_from(c.duration_in_frames).unwrap_or(i64::MAX),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compositions_are_summarised_for_the_status() {
        let c = CompositionMetadata {
            id: "Intro".into(),
            width: 1920,
            height: 1080,
            fps: 30.0,
            duration_in_frames: 150,
            default_codec: None,
            default_out_name: None,
        };
        assert_eq!(
            summary(c),
            CompositionSummary { id: "Intro".into(), width: 1920, height: 1080, fps: 30.0, duration_in_frames: 150 }
        );
    }
}
