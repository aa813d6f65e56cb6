//! Splitting a render into chunks, and the per-frame cost profile that balances them.
//!
//! Baseline: Remotion Lambda's planner (about 75–150 chunks of ≥ 20 frames). With a cost
//! profile of earlier renders of the same site and composition, chunk boundaries are moved so
//! that every chunk has the same predicted cost ("chunk optimization"): a render ends when its
//! slowest chunk ends, so equal-cost chunks finish together.

use serde::{Deserialize, Serialize};

use crate::payload::{Chunking, FrameSpan};

/// Most segments a profile keeps, whatever the composition's length (bounded document size).
pub const MAX_PROFILE_SEGMENTS: usize = 1000;

/// A chunking request that cannot be satisfied.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ChunkingError {
    /// Nothing to render.
    #[error("the frame range {start}-{end} selects no frames")]
    NoFrames {
        /// First frame asked for.
        start: u64,
        /// Last frame asked for.
        end: u64,
    },
    /// Both chunking knobs were given.
    #[error("set framesPerLambda or concurrency, not both")]
    BothKnobs,
    /// A knob is zero.
    #[error("framesPerLambda and concurrency must be at least 1")]
    Zero,
}

/// Frames per chunk like Remotion Lambda: explicit, from a chunk count, or planned.
pub fn frames_per_chunk(frame_count: u64, chunking: Chunking) -> Result<u64, ChunkingError> {
    match (chunking.frames_per_lambda, chunking.concurrency) {
        (Some(_), Some(_)) => Err(ChunkingError::BothKnobs),
        (Some(0), None) | (None, Some(0)) => Err(ChunkingError::Zero),
        (Some(fpl), None) => Ok(u64::from(fpl).min(frame_count.max(1))),
        (None, Some(chunks)) => Ok(frame_count.div_ceil(u64::from(chunks)).max(1)),
        (None, None) => {
            // Remotion: c = interpolate(n, [0, 18000], [75, 150], clamp right),
            // f = max(n / c, 20), framesPerLambda = ceil(n / ceil(n / f)), at least min(5, n).
            let n = frame_count as f64;
            let c = 75.0 + 75.0 * (n.min(18_000.0) / 18_000.0);
            let f = (n / c).max(20.0);
            let chunks = (n / f).ceil().max(1.0);
            let fpl = (n / chunks).ceil() as u64;
            Ok(fpl.max(frame_count.min(5)).max(1))
        }
    }
}

/// The frames a render covers: `[start, end]` of the composition, every `nth` frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameSelection {
    /// First frame.
    pub start: u64,
    /// Last frame (inclusive).
    pub end: u64,
    /// Step.
    pub every_nth_frame: u64,
}

impl FrameSelection {
    /// The frames Remotion renders of `start..=end` with `everyNthFrame` n: those whose
    /// composition frame number is a multiple of n (Remotion's `getFramesToRender` filters
    /// `frame % n === 0` on absolute frame numbers, so the first one is `start` rounded up to a
    /// multiple of n). Selects nothing (`count() == 0`) when no such frame is in the range.
    pub fn every_nth(start: u64, end: u64, every_nth_frame: u64) -> Self {
        let n = every_nth_frame.max(1);
        Self { start: start.div_ceil(n) * n, end, every_nth_frame: n }
    }

    /// Number of frames selected.
    pub fn count(&self) -> u64 {
        if self.end < self.start { 0 } else { (self.end - self.start) / self.every_nth_frame.max(1) + 1 }
    }

    /// The composition frame of the `i`-th selected frame.
    pub fn frame(&self, i: u64) -> u64 {
        self.start + i * self.every_nth_frame.max(1)
    }
}

/// Chunks of `fpl` selected frames each (the last one may be shorter), like Remotion.
pub fn plan_uniform(selection: FrameSelection, chunking: Chunking) -> Result<Vec<FrameSpan>, ChunkingError> {
    let n = selection.count();
    if n == 0 {
        return Err(ChunkingError::NoFrames { start: selection.start, end: selection.end });
    }
    let fpl = frames_per_chunk(n, chunking)?;
    let spans = (0..n.div_ceil(fpl))
        .map(|i| {
            let first = i * fpl;
            let last = ((i + 1) * fpl).min(n) - 1;
            FrameSpan { start: selection.frame(first), end: selection.frame(last) }
        })
        .collect();
    Ok(spans)
}

/// As many chunks as the uniform plan, with boundaries moved so that every chunk has about
/// the same predicted cost under `profile`.
pub fn plan_balanced(
    selection: FrameSelection,
    chunking: Chunking,
    profile: &CostProfile,
) -> Result<Vec<FrameSpan>, ChunkingError> {
    let uniform = plan_uniform(selection, chunking)?;
    let n = selection.count();
    let chunks = uniform.len() as u64;
    // An explicit framesPerLambda is a promise about chunk length: keep it.
    if chunks <= 1 || chunking.frames_per_lambda.is_some() {
        return Ok(uniform);
    }
    let costs: Vec<f64> = (0..n).map(|i| profile.frame_ms(selection.frame(i))).collect();
    let total: f64 = costs.iter().sum();
    if total <= 0.0 {
        return Ok(uniform);
    }
    let target = total / chunks as f64;
    let mut spans = Vec::with_capacity(chunks as usize);
    let mut first = 0u64;
    let mut acc = 0.0;
    for (i, cost) in costs.iter().enumerate() {
        let i = i as u64;
        acc += cost;
        let chunks_left = chunks - spans.len() as u64;
        let frames_left_after = n - i - 1;
        // Cut when this chunk has its share, as long as every later chunk still gets a frame.
        let must_cut = frames_left_after == chunks_left - 1;
        if chunks_left > 1 && (acc >= target || must_cut) {
            spans.push(FrameSpan { start: selection.frame(first), end: selection.frame(i) });
            first = i + 1;
            acc = 0.0;
        }
    }
    spans.push(FrameSpan { start: selection.frame(first), end: selection.frame(n - 1) });
    Ok(spans)
}

/// `optimization/<site>/<composition>.json`: billed milliseconds per frame, by segment, learnt
/// from earlier renders of the same site and composition.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CostProfile {
    /// Composition id.
    pub composition: String,
    /// Length of the composition when measured, frames.
    pub duration_in_frames: u64,
    /// Frames per segment.
    pub segment_frames: u64,
    /// Mean billed ms per frame in each segment; `None` where nothing was measured.
    pub segment_ms: Vec<Option<f64>>,
    /// Mean fixed ms per chunk (browser start, page load, upload).
    pub chunk_overhead_ms: f64,
    /// Renders merged into the profile.
    pub samples: u32,
    /// When last updated, ms since the Unix epoch.
    pub updated_at_ms: u64,
}

impl CostProfile {
    /// A profile from one render's per-frame timings (`(frame, ms)`) and chunk overhead.
    pub fn from_timings(
        composition: impl Into<String>,
        duration_in_frames: u64,
        timings: impl IntoIterator<Item = (u64, f64)>,
        chunk_overhead_ms: f64,
        updated_at_ms: u64,
    ) -> Self {
        let segment_frames = duration_in_frames.div_ceil(MAX_PROFILE_SEGMENTS as u64).max(1);
        let segments = duration_in_frames.div_ceil(segment_frames).max(1) as usize;
        let mut sums = vec![(0.0f64, 0u32); segments];
        for (frame, ms) in timings {
            if let Some(slot) = sums.get_mut((frame / segment_frames) as usize) {
                slot.0 += ms;
                slot.1 += 1;
            }
        }
        Self {
            composition: composition.into(),
            duration_in_frames,
            segment_frames,
            segment_ms: sums.into_iter().map(|(s, c)| (c > 0).then(|| s / f64::from(c))).collect(),
            chunk_overhead_ms,
            samples: 1,
            updated_at_ms,
        }
    }

    /// Mean over measured segments (the guess for unmeasured frames).
    fn mean_ms(&self) -> f64 {
        let (sum, count) = self.segment_ms.iter().flatten().fold((0.0, 0u32), |(s, c), v| (s + v, c + 1));
        if count == 0 { 0.0 } else { sum / f64::from(count) }
    }

    /// Predicted billed ms of one frame.
    pub fn frame_ms(&self, frame: u64) -> f64 {
        let segment = (frame / self.segment_frames.max(1)) as usize;
        self.segment_ms.get(segment).copied().flatten().unwrap_or_else(|| self.mean_ms())
    }

    /// Predicted billed ms of a whole selection, chunk overheads excluded.
    pub fn selection_ms(&self, selection: FrameSelection) -> f64 {
        (0..selection.count()).map(|i| self.frame_ms(selection.frame(i))).sum()
    }

    /// Merges a newer measurement: a moving average that weights the newest render by 1/2, so
    /// the profile follows changes of the site without forgetting at once. A profile of a
    /// different length is replaced.
    pub fn merge(&mut self, newer: &CostProfile) {
        if newer.duration_in_frames != self.duration_in_frames || newer.segment_ms.len() != self.segment_ms.len() {
            *self = newer.clone();
            return;
        }
        for (old, new) in self.segment_ms.iter_mut().zip(&newer.segment_ms) {
            *old = match (*old, *new) {
                (Some(o), Some(n)) => Some((o + n) / 2.0),
                (o, n) => n.or(o),
            };
        }
        self.chunk_overhead_ms = (self.chunk_overhead_ms + newer.chunk_overhead_ms) / 2.0;
        self.samples = self.samples.saturating_add(1);
        self.updated_at_ms = newer.updated_at_ms;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(n: u64) -> FrameSelection {
        FrameSelection { start: 0, end: n - 1, every_nth_frame: 1 }
    }

    #[test]
    fn planner_matches_remotion_examples() {
        // (frames, frames per lambda, chunks) from Remotion Lambda's planner.
        for (n, fpl, chunks) in
            [(30, 15, 2), (300, 20, 15), (1800, 22, 82), (9000, 80, 113), (18000, 120, 150), (54000, 360, 150)]
        {
            assert_eq!(frames_per_chunk(n, Chunking::default()).unwrap(), fpl, "n={n}");
            assert_eq!(plan_uniform(all(n), Chunking::default()).unwrap().len(), chunks, "n={n}");
        }
        assert_eq!(frames_per_chunk(3, Chunking::default()).unwrap(), 3);
    }

    #[test]
    fn uniform_plans_cover_every_frame_once() {
        let sel = FrameSelection { start: 10, end: 309, every_nth_frame: 1 };
        let spans = plan_uniform(sel, Chunking { concurrency: Some(7), frames_per_lambda: None }).unwrap();
        assert_eq!(spans.len(), 7);
        assert_eq!(spans[0].start, 10);
        assert_eq!(spans.last().unwrap().end, 309);
        for w in spans.windows(2) {
            assert_eq!(w[0].end + 1, w[1].start);
        }
        let gif = FrameSelection { start: 0, end: 99, every_nth_frame: 3 };
        let spans = plan_uniform(gif, Chunking { frames_per_lambda: Some(10), concurrency: None }).unwrap();
        let covered: u64 = spans.iter().map(|s| s.len(3)).sum();
        assert_eq!(covered, gif.count());
        assert_eq!(spans[1].start, 30);
    }

    #[test]
    fn every_nth_frame_selects_multiples_of_n_like_remotion() {
        // Remotion: frames of the range whose number % n == 0.
        let remotion = |start: u64, end: u64, n: u64| (start..=end).filter(|f| f % n == 0).collect::<Vec<u64>>();
        for (start, end, n) in [(0, 59, 2), (1, 59, 2), (5, 100, 3), (7, 7, 7), (8, 13, 7), (0, 299, 1), (3, 4, 5)] {
            let sel = FrameSelection::every_nth(start, end, n);
            let ours: Vec<u64> = (0..sel.count()).map(|i| sel.frame(i)).collect();
            assert_eq!(ours, remotion(start, end, n), "{start}-{end} every {n}");
        }
    }

    #[test]
    fn ten_thousand_single_frame_chunks() {
        let spans = plan_uniform(all(10_000), Chunking { frames_per_lambda: Some(1), concurrency: None }).unwrap();
        assert_eq!(spans.len(), 10_000);
        assert!(spans.iter().enumerate().all(|(i, s)| s.start == i as u64 && s.end == i as u64));
    }

    #[test]
    fn bad_requests_are_errors() {
        assert_eq!(
            plan_uniform(FrameSelection { start: 5, end: 4, every_nth_frame: 1 }, Chunking::default()),
            Err(ChunkingError::NoFrames { start: 5, end: 4 })
        );
        assert_eq!(
            frames_per_chunk(10, Chunking { frames_per_lambda: Some(1), concurrency: Some(1) }),
            Err(ChunkingError::BothKnobs)
        );
        assert_eq!(
            frames_per_chunk(10, Chunking { frames_per_lambda: Some(0), concurrency: None }),
            Err(ChunkingError::Zero)
        );
    }

    #[test]
    fn balanced_plans_equalise_predicted_cost() {
        // The second half of the composition is 9× as expensive per frame as the first.
        let timings = (0..300u64).map(|f| (f, if f < 150 { 100.0 } else { 900.0 }));
        let profile = CostProfile::from_timings("Intro", 300, timings, 500.0, 1);
        let chunking = Chunking { concurrency: Some(10), frames_per_lambda: None };
        let spans = plan_balanced(all(300), chunking, &profile).unwrap();
        assert_eq!(spans.len(), 10);
        assert_eq!(spans[0].start, 0);
        assert_eq!(spans.last().unwrap().end, 299);
        for w in spans.windows(2) {
            assert_eq!(w[0].end + 1, w[1].start);
        }
        let cost = |s: &FrameSpan| (s.start..=s.end).map(|f| profile.frame_ms(f)).sum::<f64>();
        let costs: Vec<f64> = spans.iter().map(cost).collect();
        let max = costs.iter().cloned().fold(0.0, f64::max);
        let uniform_max = plan_uniform(all(300), chunking).unwrap().iter().map(cost).fold(0.0, f64::max);
        assert!(max < uniform_max * 0.7, "balanced max {max} vs uniform {uniform_max}");
        // Cheap frames get long chunks, expensive frames short ones.
        assert!(spans[0].len(1) > spans[9].len(1));
    }

    #[test]
    fn balanced_plans_keep_every_chunk_non_empty() {
        // All the cost in the last frame: every chunk must still get at least one frame.
        let timings = (0..20u64).map(|f| (f, if f == 19 { 1e6 } else { 0.0 }));
        let profile = CostProfile::from_timings("X", 20, timings, 0.0, 1);
        let spans =
            plan_balanced(all(20), Chunking { concurrency: Some(5), frames_per_lambda: None }, &profile).unwrap();
        assert_eq!(spans.len(), 5);
        assert!(spans.iter().all(|s| !s.is_empty()));
        assert_eq!(spans.last().unwrap().end, 19);
    }

    #[test]
    fn profiles_are_bounded_and_merge() {
        let long = CostProfile::from_timings("L", 1_000_000, (0..1_000_000u64).step_by(97).map(|f| (f, 50.0)), 0.0, 1);
        assert!(long.segment_ms.len() <= MAX_PROFILE_SEGMENTS);
        assert!((long.frame_ms(999_999) - 50.0).abs() < 1e-9);

        let mut a = CostProfile::from_timings("A", 10, (0..10).map(|f| (f, 100.0)), 400.0, 1);
        let b = CostProfile::from_timings("A", 10, (0..10).map(|f| (f, 200.0)), 600.0, 2);
        a.merge(&b);
        assert_eq!(a.frame_ms(3), 150.0);
        assert_eq!(a.chunk_overhead_ms, 500.0);
        assert_eq!(a.samples, 2);
        assert_eq!(a.selection_ms(all(10)), 1500.0);
    }
}
