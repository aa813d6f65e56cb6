//! Step 4: the `launch` payload of a render, from the job's spec and what its references
//! resolved to.

use remotion_crds::render_job::RenderJobSpec;
use remotion_protocol::keys::{self, RenderId};
use remotion_protocol::page::PageSettings;
use remotion_protocol::payload::{
    Chunking, CompositionOverrides, EncodingSettings, LaunchRequest, OrchestratorConfig, OutputTarget,
    PROTOCOL_VERSION, RendererConfig, S3Prefix, SerializedProps, SiteLocation,
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

/// Object key of the output when the spec names one. Otherwise the function names it once it
/// knows the composition's `defaultOutName` and the codec in effect (which `calculateMetadata`
/// may choose), and reports it in the progress document.
pub fn output_key(spec: &RenderJobSpec) -> Option<String> {
    spec.output.as_ref().and_then(|o| o.key.clone())
}

/// Remotion's `forceWidth`, `forceHeight`, `forceFps` and `forceDurationInFrames` of the spec.
pub fn overrides(spec: &RenderJobSpec) -> Result<CompositionOverrides, LaunchError> {
    Ok(CompositionOverrides {
        width: spec.force_width.map(|v| unsigned("forceWidth", i64::from(v))).transpose()?,
        height: spec.force_height.map(|v| unsigned("forceHeight", i64::from(v))).transpose()?,
        fps: spec.force_fps,
        duration_in_frames: spec.force_duration_in_frames.map(|v| unsigned("forceDurationInFrames", v)).transpose()?,
    })
}

/// The encoding settings of the spec (defaults left to the function, which knows the
/// composition's: `codec` here is only the codec of compositions that declare none).
pub fn encoding(spec: &RenderJobSpec) -> Result<EncodingSettings, LaunchError> {
    Ok(EncodingSettings {
        codec: spec.codec.unwrap_or_default(),
        audio_codec: spec.audio_codec,
        audio_bitrate: spec.audio_bitrate.clone(),
        sample_rate: spec.sample_rate.map(|r| unsigned("sampleRate", i64::from(r))).transpose()?,
        image_format: spec.image_format,
        jpeg_quality: spec.jpeg_quality.map(|q| unsigned("jpegQuality", i64::from(q))).transpose()?,
        crf: spec.crf.map(|c| unsigned("crf", i64::from(c))).transpose()?,
        pixel_format: spec.pixel_format,
        x264_preset: spec.x264_preset,
        muted: spec.muted,
        scale: spec.scale,
        every_nth_frame: spec.every_nth_frame.map(|n| unsigned("everyNthFrame", i64::from(n))).transpose()?,
        video_bitrate: spec.video_bitrate.clone(),
        encoding_max_rate: spec.encoding_max_rate.clone(),
        encoding_buffer_size: spec.encoding_buffer_size.clone(),
        color_space: spec.color_space,
        pro_res_profile: spec.pro_res_profile,
        number_of_gif_loops: spec
            .number_of_gif_loops
            .map(|n| unsigned("numberOfGifLoops", i64::from(n)))
            .transpose()?,
        enforce_audio_track: spec.enforce_audio_track,
        gop_size: spec.gop_size.map(|g| unsigned("gopSize", i64::from(g))).transpose()?,
        prefer_lossless: spec.prefer_lossless,
        image_sequence: spec.image_sequence.as_ref().map(Into::into),
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
    let function = resolved.chunk_function();
    let orchestrator = resolved.renderer.as_ref().map(|_| OrchestratorConfig {
        function_name: resolved.function.name.clone(),
        memory_mb: i64::from(resolved.function.memory_mb),
        disk_mb: i64::from(resolved.function.disk_mb),
        architecture: resolved.function.architecture,
    });
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
        codec_chosen: spec.codec.is_some(),
        overrides: overrides(spec)?,
        frame_range: spec.frame_range.map(Into::into),
        still: spec.still.as_ref().map(Into::into),
        chunking,
        max_retries: unsigned("maxRetries", i64::from(spec.max_retries))?,
        timeout_ms: unsigned::<u64>("delayRenderTimeoutSeconds", i64::from(spec.delay_render_timeout_seconds))? * 1000,
        // A store's bucket and keys are added by the launch, which reads its Secret: a bucket
        // without them would be written with the function's own role.
        output: OutputTarget {
            key: output_key(spec),
            privacy: output.privacy,
            delete_after: spec.delete_after,
            bucket: None,
            store: None,
            overwrite: output.overwrite,
            download_behavior: output.download_behavior.clone(),
            storage_class: output.storage_class,
            metadata: output.metadata.clone(),
            separate_audio_key: output.separate_audio_to.clone(),
        },
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
            concurrency_per_lambda: spec
                .concurrency_per_lambda
                .map(|v| unsigned("concurrencyPerLambda", i64::from(v)))
                .transpose()?
                .unwrap_or(1),
        },
        orchestrator,
        page: page_settings(spec)?,
    })
}

/// The page's environment, browser options, log level and media limits of the spec
/// (Remotion's `envVariables`, `chromiumOptions`, `logLevel`, `mediaCacheSizeInBytes`,
/// `offthreadVideoCacheSizeInBytes`, `offthreadVideoThreads`; unset ones keep Remotion's
/// defaults, which the function applies).
pub fn page_settings(spec: &RenderJobSpec) -> Result<PageSettings, LaunchError> {
    Ok(PageSettings {
        env_variables: spec.env_variables.clone(),
        chromium_options: spec.chromium_options.clone().unwrap_or_default(),
        log_level: spec.log_level.unwrap_or_default(),
        media_cache_size_in_bytes: spec
            .media_cache_size_in_bytes
            .map(|b| unsigned("mediaCacheSizeInBytes", b))
            .transpose()?,
        offthread_video_cache_size_in_bytes: spec
            .offthread_video_cache_size_in_bytes
            .map(|b| unsigned("offthreadVideoCacheSizeInBytes", b))
            .transpose()?,
        offthread_video_threads: spec
            .offthread_video_threads
            .map(|t| unsigned("offthreadVideoThreads", i64::from(t)))
            .transpose()?,
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
        resolve(&fixtures::spec(), Found { site: Some(&s), function: Some(&f), renderer: None, bucket: Some(&b) })
            .unwrap()
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
    fn a_renderer_function_gets_the_chunks_and_every_slot() {
        let (s, b) = (fixtures::site(&[("Intro", 300)]), fixtures::bucket());
        let (small, big) = fixtures::small_orchestrator_and_renderer();
        let mut spec = fixtures::spec();
        spec.renderer_function_ref = Some(remotion_crds::LocalObjectRef::new("big"));
        let found = Found { site: Some(&s), function: Some(&small), renderer: Some(&big), bucket: Some(&b) };
        let req =
            request(&spec, &RenderId::new("r1").unwrap(), &resolve(&spec, found).unwrap(), SerializedProps::empty())
                .unwrap();
        assert_eq!((req.renderer.function_name.as_str(), req.renderer.memory_mb), ("remotion-render-big", 4096));
        let orchestrator = req.orchestrator.expect("the orchestrator's own function is named");
        assert_eq!((orchestrator.function_name.as_str(), orchestrator.memory_mb), ("remotion-render", 512));
        assert_eq!(crate::controllers::render_job::admission::chunk_slots(&spec, 3), 3);
        assert_eq!(crate::controllers::render_job::admission::chunk_slots(&fixtures::spec(), 3), 2);
        assert!(
            request(&fixtures::spec(), &RenderId::new("r2").unwrap(), &resolved(), SerializedProps::empty())
                .unwrap()
                .orchestrator
                .is_none()
        );
    }

    #[test]
    fn tabs_per_chunk_reach_the_renderer_config() {
        let id = RenderId::new("r1").unwrap();
        let mut spec = fixtures::spec();
        spec.concurrency_per_lambda = Some(4);
        let req = request(&spec, &id, &resolved(), SerializedProps::empty()).unwrap();
        let json = serde_json::to_value(remotion_protocol::payload::Payload::Launch(req)).unwrap();
        assert_eq!(json["renderer"]["concurrencyPerLambda"], 4);
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
        spec.delay_render_timeout_seconds = 45;
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
        assert_eq!((req.encoding.codec, req.codec_chosen), (Codec::Vp9, true));
        assert_eq!(req.encoding.crf, Some(30));
        assert_eq!(req.frame_range, Some(remotion_protocol::payload::FrameRange { start: 10, end: Some(99) }));
        assert_eq!(req.chunking, Chunking { frames_per_lambda: None, concurrency: Some(7) });
        assert_eq!(req.max_retries, 3);
        assert_eq!(req.timeout_ms, 45_000);
        assert_eq!(req.output.key, None, "the function names it: the composition may have a defaultOutName");
        assert_eq!(req.output.privacy, Privacy::Private);
        assert_eq!(req.output.delete_after, Some(DeleteAfter::SevenDays));
        assert_eq!(req.renderer.function_name, "remotion-render");
        assert_eq!(req.renderer.memory_mb, 2048);
        assert_eq!(req.renderer.timeout_seconds, 120);
        assert_eq!(req.renderer.max_concurrency, 7);
        assert_eq!(req.renderer.concurrency_per_lambda, 1, "one tab per chunk unless asked, as in Remotion");
        // The payload is what the function parses.
        let json = serde_json::to_value(remotion_protocol::payload::Payload::Launch(req)).unwrap();
        assert_eq!(json["type"], "launch");
        assert_eq!(json["renderId"], "r1");
    }

    #[test]
    fn unset_codec_and_output_key_are_left_to_the_composition() {
        let id = RenderId::new("r1").unwrap();
        let mut spec = fixtures::spec();
        let plain = request(&spec, &id, &resolved(), SerializedProps::empty()).unwrap();
        assert_eq!((plain.codec_chosen, plain.output.key.clone()), (false, None));
        let json = serde_json::to_value(&plain).unwrap();
        assert_eq!((&json["codecChosen"], json["output"].get("key")), (&serde_json::json!(false), None));
        spec.output = Some(OutputSpec { key: Some("videos/final.gif".into()), ..Default::default() });
        assert_eq!(output_key(&spec).as_deref(), Some("videos/final.gif"));
        let mut still = fixtures::spec();
        still.still = Some(StillOptions { frame: -1, image_format: StillImageFormat::Jpeg });
        let launched = request(&still, &id, &resolved(), SerializedProps::empty()).unwrap();
        assert_eq!(
            launched.still,
            still.still.as_ref().map(Into::into),
            "a still is launched like a video, with its options"
        );
        assert_eq!(launched.still.map(|s| s.frame), Some(-1), "the last frame: the function counts from the end");
    }

    #[test]
    fn overrides_reach_the_function_under_remotions_names() {
        let id = RenderId::new("r1").unwrap();
        let mut spec = fixtures::spec();
        let plain = serde_json::to_value(request(&spec, &id, &resolved(), SerializedProps::empty()).unwrap()).unwrap();
        assert!(plain.get("overrides").is_none(), "nothing forced, nothing sent: {plain}");
        (spec.force_width, spec.force_height, spec.force_fps, spec.force_duration_in_frames) =
            (Some(320), Some(240), Some(12.5), Some(48));
        let json = serde_json::to_value(request(&spec, &id, &resolved(), SerializedProps::empty()).unwrap()).unwrap();
        assert_eq!(
            json["overrides"],
            serde_json::json!({"width": 320, "height": 240, "fps": 12.5, "durationInFrames": 48})
        );
    }

    #[test]
    fn delivery_options_reach_the_function_under_remotions_names() {
        use remotion_protocol::media::{ColorSpace, ProResProfile};
        let id = RenderId::new("r1").unwrap();
        let mut spec = fixtures::spec();
        spec.codec = Some(Codec::H264);
        spec.video_bitrate = Some("4M".into());
        spec.encoding_max_rate = Some("5M".into());
        spec.encoding_buffer_size = Some("10M".into());
        spec.color_space = Some(ColorSpace::Bt2020Ncl);
        spec.enforce_audio_track = true;
        spec.sample_rate = Some(44_100);
        spec.gop_size = Some(48);
        spec.prefer_lossless = true;
        spec.media_cache_size_in_bytes = Some(600_000_000);
        spec.offthread_video_cache_size_in_bytes = Some(0);
        spec.offthread_video_threads = Some(1);
        let json = serde_json::to_value(request(&spec, &id, &resolved(), SerializedProps::empty()).unwrap()).unwrap();
        let encoding = &json["encoding"];
        assert_eq!(encoding["sampleRate"], 44_100);
        assert_eq!(
            (&encoding["gopSize"], &encoding["preferLossless"]),
            (&serde_json::json!(48), &serde_json::json!(true))
        );
        assert_eq!(
            json["page"],
            serde_json::json!({"mediaCacheSizeInBytes": 600_000_000u64, "offthreadVideoCacheSizeInBytes": 0,
                               "offthreadVideoThreads": 1})
        );
        assert_eq!(
            (&encoding["videoBitrate"], &encoding["encodingMaxRate"], &encoding["encodingBufferSize"]),
            (&serde_json::json!("4M"), &serde_json::json!("5M"), &serde_json::json!("10M"))
        );
        assert_eq!(
            (&encoding["colorSpace"], &encoding["enforceAudioTrack"]),
            (&serde_json::json!("bt2020-ncl"), &serde_json::json!(true))
        );
        let mut gif = fixtures::spec();
        gif.codec = Some(Codec::Gif);
        gif.number_of_gif_loops = Some(0);
        let req = request(&gif, &id, &resolved(), SerializedProps::empty()).unwrap();
        assert_eq!(req.encoding.number_of_gif_loops, Some(0), "0 (play once) is not dropped as unset");
        let mut prores = fixtures::spec();
        prores.codec = Some(Codec::Prores);
        prores.pro_res_profile = Some(ProResProfile::P4444Xq);
        let json = serde_json::to_value(request(&prores, &id, &resolved(), SerializedProps::empty()).unwrap()).unwrap();
        assert_eq!(json["encoding"]["proResProfile"], "4444-xq");
        // Unset options stay off the wire: the function applies Remotion's defaults.
        let plain =
            serde_json::to_value(request(&fixtures::spec(), &id, &resolved(), SerializedProps::empty()).unwrap())
                .unwrap();
        for field in [
            "videoBitrate",
            "colorSpace",
            "proResProfile",
            "numberOfGifLoops",
            "enforceAudioTrack",
            "sampleRate",
            "gopSize",
            "preferLossless",
        ] {
            assert!(plain["encoding"].get(field).is_none(), "{field}");
        }
    }

    #[test]
    fn page_settings_reach_the_function_under_remotions_names() {
        let id = RenderId::new("r1").unwrap();
        let plain = request(&fixtures::spec(), &id, &resolved(), SerializedProps::empty()).unwrap();
        let json = serde_json::to_value(&plain).unwrap();
        assert!(json.get("page").is_none(), "defaults are left out of the payload: {json}");
        let spec: RenderJobSpec = serde_json::from_value(serde_json::json!({
            "siteRef": {"name": "site"}, "functionRef": {"name": "fn"}, "composition": "Intro",
            "envVariables": {"API_URL": "https://api.example.com"},
            "chromiumOptions": {"gl": "angle", "userAgent": "render-bot/1", "ignoreCertificateErrors": true},
            "logLevel": "verbose",
        }))
        .unwrap();
        let json = serde_json::to_value(request(&spec, &id, &resolved(), SerializedProps::empty()).unwrap()).unwrap();
        assert_eq!(
            json["page"],
            serde_json::json!({
                "envVariables": {"API_URL": "https://api.example.com"},
                "chromiumOptions": {"gl": "angle", "userAgent": "render-bot/1", "ignoreCertificateErrors": true},
                "logLevel": "verbose",
            })
        );
    }

    #[test]
    fn default_concurrency_cap_applies_without_a_chunk_count() {
        let id = RenderId::new("r1").unwrap();
        let req = request(&fixtures::spec(), &id, &resolved(), SerializedProps::empty()).unwrap();
        assert_eq!(req.renderer.max_concurrency, DEFAULT_MAX_CONCURRENCY);
        assert_eq!(req.chunking, Chunking::default());
    }
}
