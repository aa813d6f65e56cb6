//! Checks that refuse, before anything is paid, a render its function cannot finish: memory too
//! small for the composition's frames, ephemeral storage (`/tmp`) too small for the output the
//! orchestrator writes there, or chunks predicted (from earlier renders of the composition) to
//! outlast the function's timeout. Each refuses only what is certain to fail: the estimates are
//! lower bounds, or predictions with a wide margin, so a render that fits is never refused.

use remotion_crds::Reason;
use remotion_crds::remotion_site::CompositionSummary;
use remotion_crds::render_job::RenderJobSpec;
use remotion_protocol::chunking::{self, CostProfile};
use remotion_protocol::media::Codec;
use remotion_protocol::payload::Chunking;

use super::references::{Blocked, FunctionTarget};

/// Memory a renderer needs whatever the frame size, MiB: the runtime, Chromium's browser and
/// renderer, FFmpeg.
const BASE_MEMORY_MIB: u64 = 512;

/// Memory each captured pixel costs, bytes: Chromium's raster tiles and screenshot, the decoded
/// frame, its YUV conversion and the encoder's look-ahead. Measured in Lambda's emulated
/// sandbox at 2048 MB: a 1920×1080 chunk peaks at 503–829 MiB (Chromium included), i.e. at
/// most 512 MiB plus about 150 bytes per pixel.
const MEMORY_BYTES_PER_PIXEL: u64 = 150;

/// The smallest ProRes data rate, bits per pixel and frame: the `proxy` profile (45 Mbit/s at
/// 1920×1080, 29.97 fps, is 0.72) rounded down. Every other profile writes more.
const PRORES_MIN_BITS_PER_PIXEL: f64 = 0.6;

/// WAV as the function writes it: 16-bit stereo, per sample per second.
const WAV_BYTES_PER_SAMPLE: f64 = 2.0 * 2.0;

/// The function's sample rate when neither the job nor the composition names one, Hz.
const DEFAULT_SAMPLE_RATE: f64 = 48_000.0;

/// A chunk predicted to take this many times the function's timeout is refused: predictions
/// from a cost profile vary by a few tens of percent between renders, so only chunks far past
/// the timeout are certain to be cut off every time.
const CHUNK_TIME_MARGIN: f64 = 1.25;

/// Refuses a video whose chunks, as the function will plan them, are predicted by the
/// composition's cost `profile` to outlast the function's timeout: each would be cut off and
/// retried until the render fails, every attempt billed.
pub fn check_chunk_time(
    spec: &RenderJobSpec,
    duration_in_frames: Option<u64>,
    function: &FunctionTarget,
    profile: &CostProfile,
    function_ref: &str,
) -> Result<(), Blocked> {
    if spec.still.is_some() {
        return Ok(());
    }
    let duration = duration_in_frames.or(Some(profile.duration_in_frames));
    let Ok(selection) = super::estimate::selection(spec, duration) else { return Ok(()) };
    let knobs = Chunking {
        frames_per_lambda: spec.frames_per_lambda.and_then(|v| u32::try_from(v).ok()),
        concurrency: spec.concurrency.and_then(|v| u32::try_from(v).ok()),
    };
    let (Ok(spans), Ok(frames_per_chunk)) =
        (chunking::plan_uniform(selection, knobs), chunking::frames_per_chunk(selection.count(), knobs))
    else {
        return Ok(());
    };
    // The orchestrator balances chunks to equal predicted cost: each takes the mean.
    let chunk_ms = profile.selection_ms(selection) / spans.len() as f64 + profile.chunk_overhead_ms.max(0.0);
    let timeout_ms = f64::from(function.timeout_seconds.max(1)) * 1000.0;
    if chunk_ms <= timeout_ms * CHUNK_TIME_MARGIN {
        return Ok(());
    }
    // Frames that fit in 80 % of the timeout at the predicted rate, overhead first.
    let frame_ms = (chunk_ms - profile.chunk_overhead_ms.max(0.0)).max(1.0) / frames_per_chunk as f64;
    let fitting = ((timeout_ms * 0.8 - profile.chunk_overhead_ms.max(0.0)) / frame_ms).floor().max(1.0) as u64;
    Err(Blocked::Invalid {
        reason: Reason::FunctionTooSmall,
        message: format!(
            "chunks of {frames_per_chunk} frames are predicted to take {:.0} s each (from {} earlier render(s) of \
             {}), past the {} s timeout of RenderFunction {function_ref}: every chunk would be cut off and retried \
             until the render fails; set framesPerLambda to at most {fitting}, or raise the function's \
             timeoutSeconds",
            chunk_ms / 1000.0,
            profile.samples,
            spec.composition,
            function.timeout_seconds,
        ),
    })
}

/// Refuses the job when its function is certainly too small for it.
pub fn check(
    spec: &RenderJobSpec,
    composition: Option<&CompositionSummary>,
    function: &FunctionTarget,
    function_ref: &str,
) -> Result<(), Blocked> {
    let Some(composition) = composition else {
        // Unknown size: the function finds out itself.
        return Ok(());
    };
    let scale = spec.scale.unwrap_or(1.0);
    let pixels = captured_pixels(composition, scale);
    let needed_mib = minimum_memory_mib(pixels);
    let memory_mib = u64::try_from(function.memory_mb).unwrap_or(0);
    if memory_mib < needed_mib {
        return Err(Blocked::Invalid {
            reason: Reason::FunctionTooSmall,
            message: format!(
                "RenderFunction {function_ref} has {memory_mib} MB of memory, but frames of {}×{} (composition {} \
                 at scale {scale}) need at least {needed_mib} MB; raise memorySizeMb (2048 is Remotion's \
                 recommendation) or lower scale",
                scaled(composition.width, scale),
                scaled(composition.height, scale),
                composition.id,
            ),
        });
    }
    if spec.still.is_none()
        && let Some(output_bytes) = minimum_output_bytes(spec, composition, pixels)
    {
        let disk_bytes = u64::try_from(function.disk_mb).unwrap_or(0) * 1024 * 1024;
        if output_bytes > disk_bytes {
            return Err(Blocked::Invalid {
                reason: Reason::FunctionTooSmall,
                message: format!(
                    "the {} output of this render is at least {} MB, more than the {} MB of ephemeral storage \
                     (/tmp) of RenderFunction {function_ref}, where the output is assembled; raise diskSizeMb \
                     (up to 10240), render fewer frames (frameRange), or pick a smaller codec",
                    spec.codec.unwrap_or_default().as_str(),
                    output_bytes.div_ceil(1024 * 1024),
                    function.disk_mb,
                ),
            });
        }
    }
    Ok(())
}

fn scaled(length: i32, scale: f64) -> u64 {
    (f64::from(length.max(0)) * scale).round() as u64
}

fn captured_pixels(composition: &CompositionSummary, scale: f64) -> u64 {
    scaled(composition.width, scale) * scaled(composition.height, scale)
}

/// Memory below which a renderer of frames of `pixels` runs out, MiB.
fn minimum_memory_mib(pixels: u64) -> u64 {
    BASE_MEMORY_MIB + (pixels * MEMORY_BYTES_PER_PIXEL).div_ceil(1024 * 1024)
}

/// A lower bound of the output's size, bytes, for the codecs whose size does not depend on the
/// picture (None for the others: h264 of a still picture is tiny).
fn minimum_output_bytes(spec: &RenderJobSpec, composition: &CompositionSummary, pixels: u64) -> Option<u64> {
    let frames = selected_frames(spec, composition);
    let fps = composition.fps / f64::from(spec.every_nth_frame.unwrap_or(1).max(1));
    match spec.codec.unwrap_or_default() {
        Codec::Prores => Some((frames as f64 * pixels as f64 * PRORES_MIN_BITS_PER_PIXEL / 8.0) as u64),
        Codec::Wav if fps > 0.0 => {
            // A composition's defaultSampleRate is not known here: 48 kHz, or the job's rate.
            let rate = spec.sample_rate.map_or(DEFAULT_SAMPLE_RATE, f64::from);
            Some((frames as f64 / fps * rate * WAV_BYTES_PER_SAMPLE) as u64)
        }
        _ => None,
    }
}

fn selected_frames(spec: &RenderJobSpec, composition: &CompositionSummary) -> u64 {
    let last = composition.duration_in_frames.max(1) - 1;
    let (start, end) = match spec.frame_range {
        Some(range) => (range.start, range.end.unwrap_or(last)),
        None => (0, last),
    };
    let every = i64::from(spec.every_nth_frame.unwrap_or(1).max(1));
    u64::try_from((end - start + 1).max(0) / every).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use remotion_crds::render_function::Architecture;
    use remotion_crds::render_job::FrameRange;

    use super::*;
    use crate::controllers::render_job::references::tests as fixtures;

    fn composition(width: i32, height: i32, frames: i64) -> CompositionSummary {
        CompositionSummary { id: "Intro".into(), width, height, fps: 30.0, duration_in_frames: frames }
    }

    fn function(memory_mb: i32, disk_mb: i32) -> FunctionTarget {
        FunctionTarget {
            name: "f".into(),
            aws: fixtures::access(),
            memory_mb,
            disk_mb,
            timeout_seconds: 900,
            architecture: Architecture::X86_64,
            max_concurrent_invocations: None,
        }
    }

    fn spec(codec: Codec) -> RenderJobSpec {
        RenderJobSpec { codec: Some(codec), ..fixtures::spec() }
    }

    #[test]
    fn memory_follows_the_pixels_captured() {
        assert_eq!(minimum_memory_mib(1920 * 1080), 809);
        let hd = composition(1920, 1080, 300);
        assert!(check(&spec(Codec::H264), Some(&hd), &function(2048, 10240), "rf").is_ok());
        assert!(check(&spec(Codec::H264), Some(&hd), &function(1024, 10240), "rf").is_ok());
        let refused = check(&spec(Codec::H264), Some(&hd), &function(512, 10240), "rf").unwrap_err();
        assert_eq!(refused.reason(), Reason::FunctionTooSmall);
        assert!(refused.message().contains("1920×1080") && refused.message().contains("809"), "{refused:?}");
        // Scale 2 captures four times the pixels: 4K needs more than 1.5 GB.
        let mut big = spec(Codec::H264);
        big.scale = Some(2.0);
        let refused = check(&big, Some(&hd), &function(1536, 10240), "rf").unwrap_err();
        assert!(refused.message().contains("3840×2160"), "{refused:?}");
        assert!(check(&big, Some(&hd), &function(2048, 10240), "rf").is_ok());
    }

    #[test]
    fn prores_and_wav_outputs_must_fit_in_tmp() {
        // 10 minutes of 4K ProRes is over 10 GB even as proxy.
        let long_4k = composition(3840, 2160, 18_000);
        let refused = check(&spec(Codec::Prores), Some(&long_4k), &function(4096, 10240), "rf").unwrap_err();
        assert_eq!(refused.reason(), Reason::FunctionTooSmall);
        assert!(refused.message().contains("diskSizeMb"), "{refused:?}");
        // A frame range that fits is fine; h264 is never refused for its size.
        let mut short = spec(Codec::Prores);
        short.frame_range = Some(FrameRange { start: 0, end: Some(299) });
        assert!(check(&short, Some(&long_4k), &function(4096, 10240), "rf").is_ok());
        assert!(check(&spec(Codec::H264), Some(&long_4k), &function(4096, 512), "rf").is_ok());
        // An hour of WAV is 660 MB.
        let hour = composition(1920, 1080, 108_000);
        assert!(check(&spec(Codec::Wav), Some(&hour), &function(2048, 512), "rf").is_err());
        assert!(check(&spec(Codec::Wav), Some(&hour), &function(2048, 1024), "rf").is_ok());
        // At 16 kHz it is a third of that.
        let narrow = RenderJobSpec { sample_rate: Some(16_000), ..spec(Codec::Wav) };
        assert!(check(&narrow, Some(&hour), &function(2048, 512), "rf").is_ok());
    }

    fn flat_profile(frames: u64, ms: f64, overhead: f64) -> CostProfile {
        CostProfile::from_timings("Intro", frames, (0..frames).map(|f| (f, ms)), overhead, 3)
    }

    #[test]
    fn chunks_predicted_far_past_the_timeout_are_refused_with_a_size_that_fits() {
        // 300 frames at 2 s each, Remotion's plan of 20 frames per chunk: 41 s per chunk.
        let profile = flat_profile(300, 2_000.0, 1_000.0);
        let mut short = function(2048, 10240);
        short.timeout_seconds = 30;
        let refused = check_chunk_time(&spec(Codec::H264), Some(300), &short, &profile, "rf").unwrap_err();
        assert_eq!(refused.reason(), Reason::FunctionTooSmall);
        // 80 % of 30 s, less the 1 s overhead, at 2 s a frame: 11 frames.
        assert!(refused.message().contains("at most 11") && refused.message().contains("41 s"), "{refused:?}");
        // What it suggests fits; within the margin is left to run.
        let mut fitted = spec(Codec::H264);
        fitted.frames_per_lambda = Some(11);
        assert!(check_chunk_time(&fitted, Some(300), &short, &profile, "rf").is_ok());
        short.timeout_seconds = 35;
        assert!(check_chunk_time(&spec(Codec::H264), Some(300), &short, &profile, "rf").is_ok(), "41 s ≤ 1.25 × 35 s");
        // The default timeout, a still, and a render of a few frames are never refused.
        assert!(check_chunk_time(&spec(Codec::H264), Some(300), &function(2048, 10240), &profile, "rf").is_ok());
        let mut still = spec(Codec::H264);
        still.still = Some(serde_json::from_value(serde_json::json!({"frame": 3})).unwrap());
        short.timeout_seconds = 1;
        assert!(check_chunk_time(&still, Some(300), &short, &profile, "rf").is_ok());
    }

    #[test]
    fn an_unknown_composition_is_left_to_the_function() {
        assert!(check(&spec(Codec::Prores), None, &function(512, 512), "rf").is_ok());
    }
}
