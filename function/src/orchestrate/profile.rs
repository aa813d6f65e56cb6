//! The per-frame cost profile of a site's composition
//! (`optimization/<namespace>/<site>/<composition>.json`): read before planning so chunks have
//! equal predicted cost, updated after every render.

use remotion_protocol::chunking::CostProfile;
use remotion_protocol::progress::FrameRangeCost;

use super::scheduler::ChunkDone;
use crate::error::RenderError;
use crate::storage;

/// The stored profile, if any. An unreadable profile is ignored (planning falls back to
/// Remotion's uniform chunks) rather than failing the render.
pub async fn read(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Option<CostProfile> {
    match storage::get(s3, bucket, key).await {
        Ok(Some(bytes)) => serde_json::from_slice(&bytes)
            .inspect_err(|e| tracing::warn!("ignoring the cost profile s3://{bucket}/{key}: {e}"))
            .ok(),
        Ok(None) => None,
        Err(e) => {
            tracing::warn!("could not read the cost profile: {e}");
            None
        }
    }
}

/// A profile measured by this render: each frame's time, and the fixed time per chunk.
pub fn measure(
    composition: &str,
    duration_in_frames: u64,
    done: &[ChunkDone],
    every_nth: u64,
    now_ms: u64,
) -> CostProfile {
    let timings = done.iter().flat_map(|chunk| {
        chunk
            .answer
            .frame_milliseconds
            .iter()
            .enumerate()
            .map(move |(i, &ms)| (chunk.span.start + i as u64 * every_nth.max(1), f64::from(ms)))
    });
    let overhead: f64 = done
        .iter()
        .map(|c| {
            let frames: u64 = c.answer.frame_milliseconds.iter().map(|&m| u64::from(m)).sum();
            (c.answer.duration_ms as f64 - frames as f64).max(0.0)
        })
        .sum::<f64>()
        / done.len().max(1) as f64;
    CostProfile::from_timings(composition, duration_in_frames, timings, overhead, now_ms)
}

/// Merges `measured` into the stored profile and writes it.
pub async fn update(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    previous: Option<CostProfile>,
    measured: CostProfile,
) -> Result<(), RenderError> {
    let merged = match previous {
        Some(mut p) => {
            p.merge(&measured);
            p
        }
        None => measured,
    };
    let body = serde_json::to_vec(&merged).map_err(|e| RenderError::Encoding(format!("cost profile: {e}")))?;
    storage::put(s3, bucket, key, body, "application/json").await
}

/// The chunks that took longest, most expensive first.
pub fn most_expensive(done: &[ChunkDone], limit: usize) -> Vec<FrameRangeCost> {
    let mut ranges: Vec<FrameRangeCost> = done
        .iter()
        .map(|c| FrameRangeCost {
            frames: c.span,
            milliseconds: c.answer.frame_milliseconds.iter().map(|&m| u64::from(m)).sum(),
        })
        .collect();
    ranges.sort_by(|a, b| b.milliseconds.cmp(&a.milliseconds).then(a.frames.start.cmp(&b.frames.start)));
    ranges.truncate(limit);
    ranges
}
