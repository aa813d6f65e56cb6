//! Step 3: what a render will cost, estimated before launch from the per-frame cost profile
//! that earlier renders of the same site and composition left in
//! `optimization/<site>/<composition>.json`.

use remotion_crds::render_job::RenderJobSpec;
use remotion_protocol::chunking::{self, CostProfile, FrameSelection};
use remotion_protocol::money::Usd;
use remotion_protocol::payload::Chunking;
use remotion_protocol::pricing::{self, EstimateInput, FunctionShape};

use super::references::{FunctionTarget, Resolved};

/// Why no estimate can be given (never a reason to hold a render back).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EstimateError {
    /// The frames to render are not known (no frame range end, the site lists no length).
    #[error("the number of frames is unknown")]
    UnknownLength,
    /// Planning failed (e.g. an empty frame range).
    #[error(transparent)]
    Chunking(#[from] chunking::ChunkingError),
    /// The region has no prices.
    #[error(transparent)]
    Price(#[from] pricing::PriceError),
}

/// The frames a spec selects, given the composition's length when known.
pub(super) fn selection(
    spec: &RenderJobSpec,
    duration_in_frames: Option<u64>,
) -> Result<FrameSelection, EstimateError> {
    let every_nth_frame = spec.every_nth_frame.map_or(1, |n| u64::try_from(n).unwrap_or(1));
    let start = spec.frame_range.map_or(0, |r| u64::try_from(r.start).unwrap_or(0));
    let end = match spec.frame_range.and_then(|r| r.end) {
        Some(end) => u64::try_from(end).unwrap_or(0),
        None => duration_in_frames.filter(|d| *d > 0).ok_or(EstimateError::UnknownLength)? - 1,
    };
    // Remotion's rule: frames whose absolute number is a multiple of n (the function plans
    // with the same selection, so the estimate covers exactly the frames that will render).
    Ok(FrameSelection::every_nth(start, end, every_nth_frame))
}

/// Estimated total cost of a video render under `profile`: each chunk's predicted frame time
/// plus its fixed overhead, and the orchestrator, which waits about as long as one chunk runs.
pub fn before_launch(spec: &RenderJobSpec, resolved: &Resolved, profile: &CostProfile) -> Result<Usd, EstimateError> {
    // The site's listing is for its current bundle; the profile's length is the fallback.
    let duration = resolved
        .composition
        .as_ref()
        .and_then(|c| u64::try_from(c.duration_in_frames).ok())
        .or(Some(profile.duration_in_frames));
    let selection = selection(spec, duration)?;
    let chunking = Chunking {
        frames_per_lambda: spec.frames_per_lambda.and_then(|v| u32::try_from(v).ok()),
        concurrency: spec.concurrency.and_then(|v| u32::try_from(v).ok()),
    };
    let chunks = chunking::plan_uniform(selection, chunking)?.len() as u64;
    let frames = selection.count();
    let frames_ms = profile.selection_ms(selection);
    let overhead_ms = profile.chunk_overhead_ms.max(0.0);
    let orchestrator_ms = (frames_ms / chunks as f64 + overhead_ms).ceil() as u64;
    let shape = |function: &FunctionTarget| FunctionShape {
        region: function.aws.region.clone(),
        architecture: function.architecture,
        memory_mb: i64::from(function.memory_mb),
        disk_mb: i64::from(function.disk_mb),
    };
    // A separate renderer function prices the chunks at its size, the orchestrator's time at
    // the orchestrator's (its request is priced with the chunks': requests cost the same).
    let own_orchestrator = resolved.renderer.is_some();
    let input = EstimateInput {
        shape: shape(resolved.chunk_function()),
        frames,
        per_frame_milliseconds: if frames == 0 { 0.0 } else { frames_ms / frames as f64 },
        chunks,
        per_chunk_overhead_milliseconds: overhead_ms.ceil() as u64,
        orchestrator_milliseconds: if own_orchestrator { 0 } else { orchestrator_ms },
    };
    let mut total = pricing::estimate(&input)?.total;
    if own_orchestrator {
        let usage = pricing::LambdaUsage { invocations: 0, billed_milliseconds: orchestrator_ms };
        total += pricing::cost(&shape(&resolved.function), usage, pricing::S3Usage::default())?.total;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::render_job::references::{Found, resolve, tests as fixtures};
    use remotion_crds::render_job::FrameRange;
    use remotion_protocol::lambda::Architecture;
    use remotion_protocol::pricing::{LambdaUsage, S3Usage, cost};

    fn resolved(frames: i64) -> Resolved {
        let (s, f, b) = (fixtures::site(&[("Intro", frames)]), fixtures::function(), fixtures::bucket());
        resolve(&fixtures::spec(), Found { site: Some(&s), function: Some(&f), renderer: None, bucket: Some(&b) })
            .unwrap()
    }

    fn flat_profile(frames: u64, ms: f64, overhead: f64) -> CostProfile {
        CostProfile::from_timings("Intro", frames, (0..frames).map(|f| (f, ms)), overhead, 1)
    }

    #[test]
    fn estimate_sums_chunks_overheads_and_the_orchestrator() {
        // 300 frames at 100 ms in 15 chunks (Remotion's plan) with 500 ms overhead each; the
        // orchestrator waits one chunk: 20 × 100 + 500 = 2500 ms.
        let profile = flat_profile(300, 100.0, 500.0);
        let got = before_launch(&fixtures::spec(), &resolved(300), &profile).unwrap();
        let shape = FunctionShape {
            region: "us-east-1".into(),
            architecture: Architecture::Arm64,
            memory_mb: 2048,
            disk_mb: 10240,
        };
        let usage = LambdaUsage { invocations: 16, billed_milliseconds: 30_000 + 15 * 500 + 2_500 };
        assert_eq!(got, cost(&shape, usage, S3Usage::default()).unwrap().total);
    }

    #[test]
    fn frame_range_narrows_the_estimate() {
        let profile = flat_profile(300, 100.0, 0.0);
        let whole = before_launch(&fixtures::spec(), &resolved(300), &profile).unwrap();
        let mut spec = fixtures::spec();
        spec.frame_range = Some(FrameRange { start: 0, end: Some(29) });
        let part = before_launch(&spec, &resolved(300), &profile).unwrap();
        assert!(part < whole, "{part} < {whole}");
        assert!(part > Usd::ZERO);
    }

    #[test]
    fn every_nth_frame_counts_the_frames_remotion_selects() {
        // Frames 1–10 every 3rd: Remotion renders 3, 6, 9 (absolute multiples), not 1, 4, 7, 10.
        let mut spec = fixtures::spec();
        spec.frame_range = Some(FrameRange { start: 1, end: Some(10) });
        spec.every_nth_frame = Some(3);
        let selected = selection(&spec, Some(300)).unwrap();
        assert_eq!((selected.count(), selected.frame(0)), (3, 3));
        // Costed per selected frame: three frames at 100 ms, no overhead.
        let three_frames = before_launch(&spec, &resolved(300), &flat_profile(300, 100.0, 0.0)).unwrap();
        spec.frame_range = Some(FrameRange { start: 3, end: Some(9) });
        let same = before_launch(&spec, &resolved(300), &flat_profile(300, 100.0, 0.0)).unwrap();
        assert_eq!(three_frames, same);
    }

    #[test]
    fn unknown_regions_give_no_estimate() {
        let mut r = resolved(300);
        r.function.aws.region = "xx-nowhere-1".into();
        let err = before_launch(&fixtures::spec(), &r, &flat_profile(300, 100.0, 0.0)).unwrap_err();
        assert!(matches!(err, EstimateError::Price(_)), "{err:?}");
    }
}
