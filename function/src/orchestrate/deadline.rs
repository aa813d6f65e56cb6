//! How long a chunk may run before it is cut off and retried elsewhere.
//!
//! Lambda stops an invocation at the function's timeout, so that is the outer bound. Once a
//! few chunks have finished, a chunk taking far longer than its peers predict is hung (a crashed
//! sandbox, a lost connection): waiting for the full timeout (up to 15 minutes) would stall
//! the whole render, so it is cut off at a multiple of the prediction instead.

use std::time::Duration;

/// Chunks that must have finished before predictions are trusted.
const MIN_SAMPLES: usize = 3;
/// A chunk may take this many times its prediction.
const SLACK: f64 = 4.0;
/// Never cut off sooner than this (browser start and page load vary a lot).
const FLOOR: Duration = Duration::from_secs(20);
/// Allowance beyond Lambda's own timeout for the answer to arrive.
const TIMEOUT_MARGIN: Duration = Duration::from_secs(5);

/// Learns chunk durations as chunks finish and predicts deadlines.
#[derive(Clone, Debug)]
pub struct Deadlines {
    function_timeout: Duration,
    /// Per-frame time of each finished chunk, ms.
    per_frame_ms: Vec<f64>,
    /// Time of each finished chunk outside its frames (browser start, page load, upload), ms.
    overhead_ms: Vec<f64>,
}

impl Deadlines {
    /// Deadlines for a function that Lambda stops after `function_timeout`.
    pub fn new(function_timeout: Duration) -> Self {
        Self { function_timeout, per_frame_ms: Vec::new(), overhead_ms: Vec::new() }
    }

    /// Records a finished chunk: its wall time and the sum of its frames' times.
    pub fn record(&mut self, frames: u64, wall: Duration, frame_ms_sum: u64) {
        if frames == 0 {
            return;
        }
        let wall_ms = wall.as_secs_f64() * 1000.0;
        self.per_frame_ms.push(frame_ms_sum as f64 / frames as f64);
        self.overhead_ms.push((wall_ms - frame_ms_sum as f64).max(0.0));
        // Bounded memory on renders of 10,000+ chunks: keep a window of the latest samples.
        if self.per_frame_ms.len() > 256 {
            self.per_frame_ms.drain(..128);
            self.overhead_ms.drain(..128);
        }
    }

    /// The deadline of a chunk of `frames` frames.
    pub fn for_chunk(&self, frames: u64) -> Duration {
        let outer = self.function_timeout + TIMEOUT_MARGIN;
        match self.predict(frames) {
            Some(predicted) => predicted.mul_f64(SLACK).clamp(FLOOR, outer),
            None => outer,
        }
    }

    /// How long a chunk of `frames` frames should take (a slow chunk's time: the upper quartile
    /// of its peers', without the slack of a deadline); `None` until enough have finished.
    pub fn predict(&self, frames: u64) -> Option<Duration> {
        if self.per_frame_ms.len() < MIN_SAMPLES {
            return None;
        }
        let predicted_ms = upper_quartile(&self.overhead_ms) + upper_quartile(&self.per_frame_ms) * frames as f64;
        Some(Duration::from_secs_f64(predicted_ms / 1000.0))
    }
}

fn upper_quartile(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[(sorted.len() * 3 / 4).min(sorted.len() - 1)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_function_timeout_bounds_chunks_until_peers_have_finished() {
        let mut d = Deadlines::new(Duration::from_secs(900));
        assert_eq!(d.for_chunk(20), Duration::from_secs(905));
        d.record(20, Duration::from_secs(12), 10_000);
        d.record(20, Duration::from_secs(11), 9_000);
        assert_eq!(d.for_chunk(20), Duration::from_secs(905), "two samples are not enough");
        d.record(20, Duration::from_secs(13), 11_000);
        // overhead ≈ 2 s, 0.5–0.55 s/frame → ≈ 13 s predicted → 52 s deadline.
        let deadline = d.for_chunk(20);
        assert!(deadline > Duration::from_secs(40) && deadline < Duration::from_secs(60), "{deadline:?}");
        assert!(d.for_chunk(1) >= FLOOR);
        let predicted = d.predict(20).unwrap();
        assert!(predicted > Duration::from_secs(10) && predicted < Duration::from_secs(15), "{predicted:?}");
        assert_eq!(Deadlines::new(Duration::from_secs(900)).predict(20), None, "nothing to predict from");
        assert_eq!(d.for_chunk(100_000), Duration::from_secs(905));
    }

    #[test]
    fn samples_stay_bounded() {
        let mut d = Deadlines::new(Duration::from_secs(60));
        for _ in 0..10_000 {
            d.record(1, Duration::from_millis(500), 400);
        }
        assert!(d.per_frame_ms.len() <= 256);
    }
}
