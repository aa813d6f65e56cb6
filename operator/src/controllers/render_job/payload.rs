//! Step 4: the `launch` payload of a render, from the job's spec and what its references
//! resolved to.

use remotion_crds::render_job::RenderJobSpec;
use remotion_protocol::keys::{self, RenderId};
use remotion_protocol::payload::{
    Chunking, EncodingSettings, LaunchRequest, OutputTarget, PROTOCOL_VERSION, RendererConfig, S3Prefix,
    SerializedProps, SiteLocation,
};

use super::references::Resolved;

/// Most chunks of one render in flight at once when the spec does not say: Remotion Lambda's
/// cap of 200 functions per render, well inside an account's default concurrency of 1,000.
pub const DEFAULT_MAX_CONCURRENCY: u32 = 200;

/// A spec the payload cannot express.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LaunchError {
    /// A number in the spec is out of the payload's range (the CRD schema prevents this).
    #[error("spec.{field} is {value}, outside the range the render function accepts")]
    OutOfRange {
        /// Field.
        field: &'static str,
        /// Value.
        value: i64,
    },
}

fn unsigned<T: TryFrom<i64>>(field: &'static str, value: i64) -> Result<T, LaunchError> {
    T::try_from(value).map_err(|_| LaunchError::OutOfRange { field, value })
}

/// Object key of the output: `spec.output.key`, else `renders/<id>/out.<ext>`.
pub fn output_key(spec: &RenderJobSpec, id: &RenderId) -> String {
    if let Some(key) = spec.output.as_ref().and_then(|o| o.key.clone()) {
        return key;
    }
    match (&spec.still, spec.effective_codec()) {
        (Some(still), _) => keys::default_output(id, still.image_format.extension()),
        (None, Some(codec)) => keys::default_output(id, codec.extension()),
        (None, None) => keys::default_output(id, "bin"),
    }
}

/// The encoding settings of the spec (defaults left to the function).
pub fn encoding(spec: &RenderJobSpec) -> Result<EncodingSettings, LaunchError> {
    Ok(EncodingSettings {
        codec: spec.codec.unwrap_or_default(),
        audio_codec: spec.audio_codec,
        audio_bitrate: spec.audio_bitrate.clone(),
        image_format: spec.image_format,
        jpeg_quality: spec.jpeg_quality.map(|q| unsigned("jpegQuality", i64::from(q))).transpose()?,
        crf: spec.crf.map(|c| unsigned("crf", i64::from(c))).transpose()?,
        pixel_format: spec.pixel_format,
        x264_preset: spec.x264_preset,
        muted: spec.muted,
        scale: spec.scale,
        every_nth_frame: spec.every_nth_frame.map(|n| unsigned("everyNthFrame", i64::from(n))).transpose()?,
    })
}

/// The whole `launch` request.
pub fn request(
    spec: &RenderJobSpec,
    id: &RenderId,
    resolved: &Resolved,
    input_props: SerializedProps,
) -> Result<LaunchRequest, LaunchError> {
    let chunking = Chunking {
        frames_per_lambda: spec.frames_per_lambda.map(|v| unsigned("framesPerLambda", i64::from(v))).transpose()?,
        concurrency: spec.concurrency.map(|v| unsigned("concurrency", i64::from(v))).transpose()?,
    };
    let output = spec.output.clone().unwrap_or_default();
    let function = &resolved.function;
    Ok(LaunchRequest {
        protocol_version: PROTOCOL_VERSION,
        render_id: id.to_string(),
        bucket: resolved.bucket.name.clone(),
        site: SiteLocation {
            serve_url: resolved.serve_url.clone(),
            // The function serves the page from the bucket with its own credentials, so the
            // site never needs to be public.
            s3: Some(S3Prefix { bucket: resolved.bucket.name.clone(), prefix: keys::site_prefix(&resolved.site) }),
        },
        site_namespace: resolved.site.namespace().to_owned(),
        site_name: resolved.site.name().to_string(),
        composition: spec.composition.clone(),
        input_props,
        encoding: encoding(spec)?,
        frame_range: spec.frame_range.map(Into::into),
        still: spec.still.as_ref().map(Into::into),
        chunking,
        max_retries: unsigned("maxRetries", i64::from(spec.max_retries))?,
        timeout_ms: unsigned::<u64>("timeoutSeconds", i64::from(spec.timeout_seconds))? * 1000,
        output: OutputTarget { key: output_key(spec, id), privacy: output.privacy, delete_after: spec.delete_after },
        renderer: RendererConfig {
            function_name: function.name.clone(),
            region: function.aws.region.clone(),
            memory_mb: i64::from(function.memory_mb),
            disk_mb: i64::from(function.disk_mb),
            architecture: function.architecture,
            timeout_seconds: unsigned("function timeoutSeconds", i64::from(function.timeout_seconds))?,
            max_concurrency: chunking
                .concurrency
                .unwrap_or(DEFAULT_MAX_CONCURRENCY)
                .min(function.max_concurrent_invocations.unwrap_or(u32::MAX))
                .max(1),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::render_job::references::{Found, resolve, tests as fixtures};
    use remotion_crds::render_job::{FrameRange, OutputSpec, Privacy, StillOptions};
    use remotion_protocol::media::{Codec, DeleteAfter, StillImageFormat};

    fn resolved() -> Resolved {
        let (s, f, b) = (fixtures::site(&[("Intro", 300)]), fixtures::function(), fixtures::bucket());
        resolve(&fixtures::spec(), Found { site: Some(&s), function: Some(&f), bucket: Some(&b) }).unwrap()
    }

    #[test]
    fn the_function_caps_the_invocations_in_flight() {
        let id = RenderId::new("r1").unwrap();
        let mut resolved = resolved();
        let uncapped = request(&fixtures::spec(), &id, &resolved, SerializedProps::empty()).unwrap();
        assert_eq!(uncapped.renderer.max_concurrency, DEFAULT_MAX_CONCURRENCY);
        resolved.function.max_concurrent_invocations = Some(5);
        let capped = request(&fixtures::spec(), &id, &resolved, SerializedProps::empty()).unwrap();
        assert_eq!(capped.renderer.max_concurrency, 5);
        let mut few_chunks = fixtures::spec();
        few_chunks.concurrency = Some(3);
        few_chunks.frames_per_lambda = None;
        assert_eq!(request(&few_chunks, &id, &resolved, SerializedProps::empty()).unwrap().renderer.max_concurrency, 3);
    }

    #[test]
    fn request_carries_spec_site_function_and_bucket() {
        let id = RenderId::new("r1").unwrap();
        let mut spec = fixtures::spec();
        spec.codec = Some(Codec::Vp9);
        spec.crf = Some(30);
        spec.frame_range = Some(FrameRange { start: 10, end: Some(99) });
        spec.concurrency = Some(7);
        spec.max_retries = 3;
        spec.timeout_seconds = 45;
        spec.delete_after = Some(DeleteAfter::SevenDays);
        let req = request(&spec, &id, &resolved(), SerializedProps::empty()).unwrap();
        assert_eq!(req.protocol_version, PROTOCOL_VERSION);
        assert_eq!(req.render_id, "r1");
        assert_eq!(req.bucket, "bkt");
        assert_eq!(req.site.serve_url, "http://s3/bkt/sites/team-a/my-site/index.html");
        assert_eq!(req.site.s3, Some(S3Prefix { bucket: "bkt".into(), prefix: "sites/team-a/my-site/".into() }));
        assert_eq!(req.site_namespace, "team-a");
        assert_eq!(req.site_name, "my-site");
        assert_eq!(req.composition, "Intro");
        assert_eq!(req.encoding.codec, Codec::Vp9);
        assert_eq!(req.encoding.crf, Some(30));
        assert_eq!(req.frame_range, Some(remotion_protocol::payload::FrameRange { start: 10, end: Some(99) }));
        assert_eq!(req.chunking, Chunking { frames_per_lambda: None, concurrency: Some(7) });
        assert_eq!(req.max_retries, 3);
        assert_eq!(req.timeout_ms, 45_000);
        assert_eq!(req.output.key, "renders/r1/out.webm");
        assert_eq!(req.output.privacy, Privacy::Private);
        assert_eq!(req.output.delete_after, Some(DeleteAfter::SevenDays));
        assert_eq!(req.renderer.function_name, "remotion-render");
        assert_eq!(req.renderer.memory_mb, 2048);
        assert_eq!(req.renderer.timeout_seconds, 120);
        assert_eq!(req.renderer.max_concurrency, 7);
        // The payload is what the function parses.
        let json = serde_json::to_value(remotion_protocol::payload::Payload::Launch(req)).unwrap();
        assert_eq!(json["type"], "launch");
        assert_eq!(json["renderId"], "r1");
    }

    #[test]
    fn output_key_defaults_by_codec_and_honours_the_spec() {
        let id = RenderId::new("r1").unwrap();
        let mut spec = fixtures::spec();
        assert_eq!(output_key(&spec, &id), "renders/r1/out.mp4");
        spec.codec = Some(Codec::Gif);
        assert_eq!(output_key(&spec, &id), "renders/r1/out.gif");
        spec.output = Some(OutputSpec { key: Some("videos/final.gif".into()), ..Default::default() });
        assert_eq!(output_key(&spec, &id), "videos/final.gif");
        let mut still = fixtures::spec();
        still.still = Some(StillOptions { frame: 0, image_format: StillImageFormat::Jpeg });
        assert_eq!(output_key(&still, &id), "renders/r1/out.jpeg");
        let launched = request(&still, &id, &resolved(), SerializedProps::empty()).unwrap();
        assert_eq!(
            launched.still,
            still.still.as_ref().map(Into::into),
            "a still is launched like a video, with its options"
        );
        assert_eq!(launched.output.key, "renders/r1/out.jpeg");
    }

    #[test]
    fn default_concurrency_cap_applies_without_a_chunk_count() {
        let id = RenderId::new("r1").unwrap();
        let req = request(&fixtures::spec(), &id, &resolved(), SerializedProps::empty()).unwrap();
        assert_eq!(req.renderer.max_concurrency, DEFAULT_MAX_CONCURRENCY);
        assert_eq!(req.chunking, Chunking::default());
    }
}
