//! Flags → `RenderJobSpec`. Only fields the RenderJob has are set; combinations the spec
//! forbids (a crf for gif, x264Preset without h264, …) are refused by the API server with its
//! validation message, which the plugin prints as is. What the server cannot judge (the frame
//! range's syntax, milliseconds that are no whole seconds) is checked here.

use anyhow::{Context as _, Result, bail, ensure};
use remotion_crds::render_job::RenderJobSpec;
use remotion_protocol::media::StillImageFormat;
use serde_json::{Map, Value, json};

use crate::args::{JobArgs, VideoArgs};
use crate::{env_file, props};

/// What a job renders, and with which function.
#[derive(Clone, Copy, Debug)]
pub struct Target<'a> {
    pub site: &'a str,
    pub function: &'a str,
    pub composition: &'a str,
}

/// The spec of a video render.
pub fn video(target: Target<'_>, job: &JobArgs, video: &VideoArgs) -> Result<RenderJobSpec> {
    let mut spec = common(target, job)?;
    set(&mut spec, "codec", video.codec);
    set(&mut spec, "audioCodec", video.audio_codec);
    set(&mut spec, "audioBitrate", video.audio_bitrate.as_deref());
    set(&mut spec, "sampleRate", video.sample_rate);
    if video.muted {
        spec.insert("muted".into(), json!(true));
    }
    set(&mut spec, "crf", video.crf);
    set(&mut spec, "pixelFormat", video.pixel_format);
    set(&mut spec, "imageFormat", video.image_format);
    set(&mut spec, "x264Preset", video.x264_preset);
    if let Some(frames) = &video.frames {
        let (start, end) = frame_range(frames)?;
        spec.insert("frameRange".into(), json!({"start": start, "end": end}));
    }
    set(&mut spec, "everyNthFrame", video.every_nth_frame);
    set(&mut spec, "framesPerLambda", video.frames_per_lambda);
    set(&mut spec, "concurrency", video.concurrency);
    set(&mut spec, "concurrencyPerLambda", video.concurrency_per_lambda);
    set(&mut spec, "videoBitrate", video.video_bitrate.as_deref());
    set(&mut spec, "encodingMaxRate", video.max_rate.as_deref());
    set(&mut spec, "encodingBufferSize", video.buffer_size.as_deref());
    set(&mut spec, "colorSpace", video.color_space);
    set(&mut spec, "proResProfile", video.prores_profile);
    set(&mut spec, "numberOfGifLoops", video.number_of_gif_loops);
    set(&mut spec, "enforceAudioTrack", video.enforce_audio_track.then_some(true));
    set(&mut spec, "gopSize", video.gop_size);
    set(&mut spec, "preferLossless", video.prefer_lossless.then_some(true));
    if video.sequence || video.image_sequence_pattern.is_some() || video.sequence_archive {
        let mut sequence = Map::new();
        set(&mut sequence, "pattern", video.image_sequence_pattern.as_deref());
        set(&mut sequence, "archive", video.sequence_archive.then_some(true));
        spec.insert("imageSequence".into(), Value::Object(sequence));
    }
    if let Some(key) = &video.separate_audio_to {
        let output = spec.entry("output").or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(output) = output {
            output.insert("separateAudioTo".into(), json!(key));
        }
    }
    typed(spec)
}

/// The spec of a still.
pub fn still(
    target: Target<'_>,
    job: &JobArgs,
    frame: i64,
    image_format: Option<StillImageFormat>,
) -> Result<RenderJobSpec> {
    ensure!(frame >= 0, "--frame must be 0 or more (0 is the first frame)");
    let mut spec = common(target, job)?;
    spec.insert("still".into(), json!({"frame": frame, "imageFormat": image_format.unwrap_or_default()}));
    typed(spec)
}

/// Fields every render has.
fn common(target: Target<'_>, job: &JobArgs) -> Result<Map<String, Value>> {
    let mut spec = Map::new();
    spec.insert("siteRef".into(), json!({"name": target.site}));
    spec.insert("functionRef".into(), json!({"name": target.function}));
    spec.insert("composition".into(), json!(target.composition));
    if let Some(arg) = &job.props {
        spec.insert("inputProps".into(), props::read(arg)?);
    }
    set(&mut spec, "scale", job.scale);
    set(&mut spec, "jpegQuality", job.jpeg_quality);
    set(&mut spec, "maxRetries", job.max_retries);
    if let Some(ms) = job.timeout {
        spec.insert("delayRenderTimeoutSeconds".into(), json!(timeout_seconds(ms)?));
    }
    set(&mut spec, "deleteAfter", job.delete_after);
    set(&mut spec, "priority", job.priority);
    if let Some(path) = &job.env_file {
        spec.insert("envVariables".into(), json!(env_file::read(path)?));
    }
    let mut chromium = Map::new();
    set(&mut chromium, "gl", job.gl);
    set(&mut chromium, "userAgent", job.user_agent.as_deref());
    set(&mut chromium, "ignoreCertificateErrors", job.ignore_certificate_errors.then_some(true));
    set(&mut chromium, "disableWebSecurity", job.disable_web_security.then_some(true));
    if !chromium.is_empty() {
        spec.insert("chromiumOptions".into(), Value::Object(chromium));
    }
    set(&mut spec, "logLevel", job.log_level);
    set(&mut spec, "mediaCacheSizeInBytes", job.media_cache_size_in_bytes);
    set(&mut spec, "offthreadVideoCacheSizeInBytes", job.offthread_video_cache_size_in_bytes);
    set(&mut spec, "offthreadVideoThreads", job.offthread_video_threads);
    let mut output = Map::new();
    set(&mut output, "key", job.out_name.as_deref());
    set(&mut output, "privacy", job.privacy);
    set(&mut output, "presignSeconds", job.presign_seconds);
    if !output.is_empty() {
        spec.insert("output".into(), Value::Object(output));
    }
    Ok(spec)
}

fn set<T: serde::Serialize>(spec: &mut Map<String, Value>, field: &str, value: Option<T>) {
    if let Some(value) = value {
        spec.insert(field.into(), json!(value));
    }
}

/// The spec as the resource's type: defaults filled in, and anything the type cannot hold
/// refused here rather than by the server.
fn typed(spec: Map<String, Value>) -> Result<RenderJobSpec> {
    serde_json::from_value(Value::Object(spec)).context("the flags do not make a RenderJob spec")
}

/// `--frames`: `A-B` (inclusive), `A-` (to the composition's end) or `N` (just frame N), as
/// Remotion's CLI reads it.
pub fn frame_range(arg: &str) -> Result<(i64, Option<i64>)> {
    let number = |s: &str| -> Result<i64> {
        s.trim()
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .with_context(|| format!("--frames {arg:?}: {s:?} is not a frame number; use A-B (e.g. 0-59), A- or N"))
    };
    let (start, end) = match arg.split_once('-') {
        None => {
            let n = number(arg)?;
            (n, Some(n))
        }
        Some((start, "")) => (number(start)?, None),
        Some((start, end)) => (number(start)?, Some(number(end)?)),
    };
    if let Some(end) = end {
        ensure!(start <= end, "--frames {arg}: the first frame ({start}) is after the last ({end})");
    }
    Ok((start, end))
}

/// Remotion's `--timeout` is in milliseconds; the RenderJob counts whole seconds (1–900), so
/// the value is rounded up: a `delayRender()` never gets less time than asked for.
pub fn timeout_seconds(ms: u64) -> Result<i32> {
    let seconds = ms.div_ceil(1000);
    if !(1..=900).contains(&seconds) {
        bail!("--timeout {ms}: a delayRender() timeout is 1–900000 ms (1 s to 15 min)");
    }
    i32::try_from(seconds).context("--timeout")
}

/// The prefix of a generated job name (`metadata.generateName`): the composition id as a
/// DNS label, e.g. `MyVideo_2` → `myvideo-2-`.
pub fn generate_name(composition: &str) -> String {
    let mut name = String::new();
    for c in composition.chars() {
        if c.is_ascii_alphanumeric() {
            name.push(c.to_ascii_lowercase());
        } else if !name.is_empty() && !name.ends_with('-') {
            name.push('-');
        }
    }
    // The server appends 5 characters; names stay well under 63.
    name.truncate(40);
    let name = name.trim_end_matches('-');
    if name.is_empty() { "render-".to_owned() } else { format!("{name}-") }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::{Cli, Command};
    use clap::Parser;
    use remotion_crds::render_job::{FrameRange, Privacy};
    use remotion_protocol::media::{AudioCodec, Codec, DeleteAfter, PixelFormat, X264Preset};

    const TARGET: Target<'static> = Target { site: "site", function: "renderer", composition: "Intro" };

    fn render_spec(flags: &[&str]) -> Result<RenderJobSpec> {
        let argv = ["kubectl-remotion", "render", "site", "Intro"].iter().chain(flags);
        match Cli::try_parse_from(argv)?.command {
            Command::Render(args) => video(TARGET, &args.job, &args.video),
            other => panic!("parsed as {other:?}"),
        }
    }

    fn still_spec(flags: &[&str]) -> Result<RenderJobSpec> {
        let argv = ["kubectl-remotion", "still", "site", "Intro"].iter().chain(flags);
        match Cli::try_parse_from(argv)?.command {
            Command::Still(args) => still(TARGET, &args.job, args.frame, args.image_format),
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn remotion_flags_become_the_render_job_fields() {
        let spec = render_spec(&[
            "--props",
            r#"{"titleText":"Hi"}"#,
            "--codec",
            "h264",
            "--audio-codec",
            "mp3",
            "--audio-bitrate",
            "192k",
            "--sample-rate",
            "44100",
            "--crf",
            "20",
            "--pixel-format",
            "yuv444p",
            "--x264-preset",
            "veryfast",
            "--frames",
            "0-59",
            "--frames-per-lambda",
            "20",
            "--scale",
            "0.5",
            "--jpeg-quality",
            "90",
            "--max-retries",
            "3",
            "--timeout",
            "45000",
            "--privacy",
            "public",
            "--out-name",
            "outputs/ns/intro.mp4",
            "--presign-seconds",
            "600",
            "--delete-after",
            "7-days",
            "--priority",
            "-5",
        ])
        .unwrap();
        assert_eq!((spec.site_ref.name.as_str(), spec.function_ref.name.as_str()), ("site", "renderer"));
        assert_eq!(spec.composition, "Intro");
        assert_eq!(spec.input_props, Some(serde_json::json!({"titleText": "Hi"})));
        assert_eq!(spec.codec, Some(Codec::H264));
        assert_eq!(spec.audio_codec, Some(AudioCodec::Mp3));
        assert_eq!(spec.audio_bitrate.as_deref(), Some("192k"));
        assert_eq!(spec.sample_rate, Some(44_100));
        assert_eq!(
            (spec.crf, spec.pixel_format, spec.x264_preset),
            (Some(20), Some(PixelFormat::Yuv444p), Some(X264Preset::Veryfast))
        );
        assert_eq!(spec.frame_range, Some(FrameRange { start: 0, end: Some(59) }));
        assert_eq!((spec.frames_per_lambda, spec.concurrency), (Some(20), None));
        assert_eq!((spec.scale, spec.jpeg_quality, spec.max_retries), (Some(0.5), Some(90), 3));
        assert_eq!(spec.delay_render_timeout_seconds, 45);
        let output = spec.output.unwrap();
        assert_eq!(output.key.as_deref(), Some("outputs/ns/intro.mp4"));
        assert_eq!((output.privacy, output.presign_seconds), (Privacy::Public, Some(600)));
        assert_eq!((spec.delete_after, spec.priority), (Some(DeleteAfter::SevenDays), -5));
        assert!(spec.still.is_none() && !spec.muted && !spec.cancel);
    }

    #[test]
    fn delivery_flags_become_the_delivery_fields() {
        use remotion_protocol::media::{ColorSpace, ProResProfile};
        let spec = render_spec(&[
            "--video-bitrate",
            "4M",
            "--max-rate",
            "5M",
            "--buffer-size",
            "10M",
            "--color-space",
            "bt2020-ncl",
            "--enforce-audio-track",
            "--gop",
            "60",
            "--media-cache-size-in-bytes",
            "600000000",
            "--offthreadvideo-cache-size-in-bytes",
            "300000000",
            "--offthreadvideo-video-threads",
            "1",
        ])
        .unwrap();
        assert_eq!(spec.gop_size, Some(60));
        assert_eq!(
            (spec.media_cache_size_in_bytes, spec.offthread_video_cache_size_in_bytes, spec.offthread_video_threads),
            (Some(600_000_000), Some(300_000_000), Some(1))
        );
        assert_eq!(
            (spec.video_bitrate.as_deref(), spec.encoding_max_rate.as_deref(), spec.encoding_buffer_size.as_deref()),
            (Some("4M"), Some("5M"), Some("10M"))
        );
        assert_eq!((spec.color_space, spec.enforce_audio_track), (Some(ColorSpace::Bt2020Ncl), true));
        let prores = render_spec(&["--codec", "prores", "--prores-profile", "4444-xq", "--prefer-lossless"]).unwrap();
        assert_eq!((prores.pro_res_profile, prores.prefer_lossless), (Some(ProResProfile::P4444Xq), true));
        let gif = render_spec(&["--codec", "gif", "--number-of-gif-loops", "0"]).unwrap();
        assert_eq!(gif.number_of_gif_loops, Some(0));
        assert!(render_spec(&["--color-space", "srgb"]).is_err(), "Remotion's names only");
        let plain = render_spec(&[]).unwrap();
        assert!(plain.video_bitrate.is_none() && plain.color_space.is_none() && !plain.enforce_audio_track);
        assert!(plain.gop_size.is_none() && !plain.prefer_lossless && plain.offthread_video_threads.is_none());
    }

    #[test]
    fn sequence_flags_become_the_image_sequence() {
        use remotion_crds::render_job::ImageSequenceSpec;
        let plain = render_spec(&["--sequence", "--image-format", "png"]).unwrap();
        assert_eq!(plain.image_sequence, Some(ImageSequenceSpec::default()));
        let named = render_spec(&["--image-sequence-pattern", "f_[frame].[ext]", "--sequence-archive"]).unwrap();
        let expected = ImageSequenceSpec { pattern: Some("f_[frame].[ext]".into()), archive: true };
        assert_eq!(named.image_sequence, Some(expected));
        assert_eq!(render_spec(&[]).unwrap().image_sequence, None);
    }

    #[test]
    fn no_flags_leave_every_default_to_the_operator() {
        let spec = render_spec(&[]).unwrap();
        assert_eq!((spec.codec, spec.frame_range, spec.output, spec.input_props), (None, None, None, None));
        assert_eq!((spec.max_retries, spec.delay_render_timeout_seconds), (1, 30), "the CRD's defaults");
        let muted =
            render_spec(&["--muted", "--concurrency", "4", "--codec", "gif", "--every-nth-frame", "2"]).unwrap();
        assert!(muted.muted);
        assert_eq!((muted.concurrency, muted.every_nth_frame, muted.codec), (Some(4), Some(2), Some(Codec::Gif)));
        assert_eq!(muted.concurrency_per_lambda, None);
        let tabs = render_spec(&["--concurrency-per-lambda", "3"]).unwrap();
        assert_eq!(tabs.concurrency_per_lambda, Some(3));
        let separate =
            render_spec(&["--out-name", "outputs/ns/v.mp4", "--separate-audio-to", "outputs/ns/v.aac"]).unwrap();
        let output = separate.output.unwrap();
        assert_eq!(
            (output.key.as_deref(), output.separate_audio_to.as_deref()),
            (Some("outputs/ns/v.mp4"), Some("outputs/ns/v.aac"))
        );
    }

    #[test]
    fn page_and_browser_flags_become_the_page_environment() {
        let dir = tempfile::tempdir().unwrap();
        let env_file = dir.path().join(".env");
        std::fs::write(&env_file, "API_URL=https://api.example.com\n# comment\nGREETING='hi there'\n").unwrap();
        let env_arg = env_file.to_str().unwrap();
        let flags = ["--env-file", env_arg, "--gl", "angle-egl", "--user-agent", "RenderBot/1", "--log", "verbose"];
        let spec =
            render_spec(&[&flags[..], &["--ignore-certificate-errors", "--disable-web-security"]].concat()).unwrap();
        assert_eq!(spec.env_variables.get("GREETING").map(String::as_str), Some("hi there"));
        assert_eq!(spec.env_variables.len(), 2);
        let chromium = spec.chromium_options.unwrap();
        assert_eq!(chromium.gl, Some(remotion_crds::render_job::OpenGlRenderer::AngleEgl));
        assert_eq!(chromium.user_agent.as_deref(), Some("RenderBot/1"));
        assert!(chromium.ignore_certificate_errors && chromium.disable_web_security);
        assert_eq!(spec.log_level, Some(remotion_crds::render_job::LogLevel::Verbose));
        let still = still_spec(&["--log", "warn", "--gl", "swangle"]).unwrap();
        assert_eq!(still.log_level, Some(remotion_crds::render_job::LogLevel::Warn));
        assert!(still.env_variables.is_empty());
        assert!(still_spec(&["--log", "trace"]).unwrap_err().to_string().contains("verbose"));
    }

    #[test]
    fn a_still_names_its_frame_and_format() {
        let spec = still_spec(&["--frame", "95", "--image-format", "jpeg", "--jpeg-quality", "70"]).unwrap();
        let still = spec.still.unwrap();
        assert_eq!((still.frame, still.image_format, spec.jpeg_quality), (95, StillImageFormat::Jpeg, Some(70)));
        assert_eq!(spec.codec, None);
        assert_eq!(still_spec(&[]).unwrap().still.unwrap().image_format, StillImageFormat::Png);
    }

    #[test]
    fn still_takes_no_video_flags() {
        let error = still_spec(&["--codec", "h264"]).unwrap_err().to_string();
        assert!(error.contains("--codec"), "{error}");
    }

    #[test]
    fn frame_ranges_read_like_remotions() {
        assert_eq!(frame_range("0-59").unwrap(), (0, Some(59)));
        assert_eq!(frame_range("30-").unwrap(), (30, None));
        assert_eq!(frame_range("12").unwrap(), (12, Some(12)));
        for bad in ["59-0", "a-b", "-5", "1-2-3", ""] {
            let message = format!("{:#}", frame_range(bad).unwrap_err());
            assert!(message.contains("--frames"), "{bad}: {message}");
        }
        assert!(format!("{:#}", render_spec(&["--frames", "10-5"]).unwrap_err()).contains("after the last"));
    }

    #[test]
    fn timeouts_are_milliseconds_rounded_up_to_seconds() {
        assert_eq!(timeout_seconds(30_000).unwrap(), 30);
        assert_eq!(timeout_seconds(1).unwrap(), 1);
        assert_eq!(timeout_seconds(1_500).unwrap(), 2);
        assert!(timeout_seconds(0).is_err());
        assert!(format!("{:#}", timeout_seconds(900_001).unwrap_err()).contains("1–900000 ms"));
    }

    #[test]
    fn bad_values_are_refused_with_the_accepted_ones() {
        let error = render_spec(&["--codec", "h266"]).unwrap_err().to_string();
        assert!(error.contains("h266") && error.contains("vp9"), "{error}");
        let error = render_spec(&["--privacy", "everyone"]).unwrap_err().to_string();
        assert!(error.contains("no-acl"), "{error}");
        let error = render_spec(&["--bucket-name", "x"]).unwrap_err().to_string();
        assert!(error.contains("--bucket-name"), "{error}");
        let error = format!("{:#}", render_spec(&["--props", "[]"]).unwrap_err());
        assert!(error.contains("JSON object"), "{error}");
    }

    #[test]
    fn generated_names_are_dns_labels() {
        assert_eq!(generate_name("Intro"), "intro-");
        assert_eq!(generate_name("My_Video 2"), "my-video-2-");
        assert_eq!(generate_name("__"), "render-");
        assert!(generate_name(&"A".repeat(100)).len() <= 41);
    }
}
