//! Frames of chunks still rendering. A renderer rewrites a small object
//! (`renders/<id>/chunk-progress/<chunk>.json`) with the frames it has rendered and encoded so
//! far, at most once a second; the orchestrator reads the objects of the chunks running at
//! the time on each progress tick (as many reads as chunks in flight, however many chunks the
//! render has), so `framesRendered` moves while chunks render instead of jumping when they
//! finish — Remotion's renderers stream the same counts to their launch function.
//!
//! Each chunk's frames count once: while it is unfinished, the most any of its attempts
//! reported (a retry starts again from zero; the count does not go back), and once it is
//! finished, the frames of the answer that finished it.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use remotion_protocol::payload::ChunkProgress;

use crate::render::Progress;
use crate::storage;

/// Longest wait between a renderer's progress writes (also the shortest: no write while the
/// counts have not moved).
pub const PUBLISH_INTERVAL: Duration = Duration::from_secs(1);

/// A renderer's writer of its chunk's progress object; stops when dropped.
pub struct Publisher {
    counts: Arc<[AtomicU64; 2]>,
    writes: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Publisher {
    /// Starts writing the progress of `chunk` (attempt `attempt`, `total` frames) to
    /// `s3://bucket/key` once a second while it changes. A failed write is logged and the next
    /// one tried a second later: progress is never worth failing a chunk for.
    pub fn start(s3: aws_sdk_s3::Client, bucket: String, key: String, chunk: u32, attempt: u32, total: u64) -> Self {
        let counts: Arc<[AtomicU64; 2]> = Arc::new([AtomicU64::new(0), AtomicU64::new(0)]);
        let writes = Arc::new(AtomicU64::new(0));
        let (seen, written) = (counts.clone(), writes.clone());
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(PUBLISH_INTERVAL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            let mut last = (0, 0);
            loop {
                tick.tick().await;
                let now = (seen[0].load(Ordering::Relaxed), seen[1].load(Ordering::Relaxed));
                if now == last {
                    continue;
                }
                let progress = ChunkProgress { chunk, attempt, rendered: now.0, encoded: now.1, total };
                let body = serde_json::to_vec(&progress).expect("progress serializes");
                written.fetch_add(1, Ordering::Relaxed);
                match tokio::time::timeout(
                    PUBLISH_INTERVAL * 5,
                    storage::put(&s3, &bucket, &key, body, "application/json"),
                )
                .await
                {
                    Ok(Ok(())) => last = now,
                    Ok(Err(e)) => tracing::warn!("could not write the chunk's progress: {e}"),
                    Err(_) => tracing::warn!("writing the chunk's progress timed out"),
                }
            }
        });
        Self { counts, writes, task }
    }

    /// The render's progress callback, feeding this publisher.
    pub fn callback(&self) -> impl Fn(Progress) + Send + Sync + 'static {
        let counts = self.counts.clone();
        move |p: Progress| {
            counts[0].fetch_max(p.rendered, Ordering::Relaxed);
            counts[1].fetch_max(p.encoded, Ordering::Relaxed);
        }
    }

    /// Stops writing; the number of writes made.
    pub fn stop(self) -> u64 {
        self.task.abort();
        self.writes.load(Ordering::Relaxed)
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Debug)]
struct Unfinished {
    frames: u64,
    rendered: u64,
    encoded: u64,
    /// Where the running attempt writes its progress; `None` between attempts.
    key: Option<String>,
}

/// The orchestrator's frame counts across chunks.
#[derive(Debug, Default)]
pub struct ChunkFrames {
    done_rendered: u64,
    done_encoded: u64,
    unfinished: HashMap<u32, Unfinished>,
}

impl ChunkFrames {
    /// An attempt of chunk `index` (`frames` frames) started, writing its progress to `key`.
    pub fn started(&mut self, index: u32, frames: u64, key: Option<String>) {
        let entry = self.unfinished.entry(index).or_insert(Unfinished { frames, rendered: 0, encoded: 0, key: None });
        entry.key = key;
    }

    /// The running attempt of chunk `index` ended without finishing it (failed, throttled,
    /// cut off): what its attempts reported still counts, nothing more is read.
    pub fn stopped(&mut self, index: u32) {
        if let Some(entry) = self.unfinished.get_mut(&index) {
            entry.key = None;
        }
    }

    /// What a renderer reported for chunk `index` (ignored once the chunk is finished, and when
    /// the object is another chunk's).
    pub fn observe(&mut self, index: u32, progress: &ChunkProgress) {
        if progress.chunk != index {
            return;
        }
        if let Some(entry) = self.unfinished.get_mut(&index) {
            entry.rendered = entry.rendered.max(progress.rendered.min(entry.frames));
            entry.encoded = entry.encoded.max(progress.encoded.min(entry.frames));
        }
    }

    /// Chunk `index` finished with `frames` frames (all of its frames: the scheduler checks).
    pub fn done(&mut self, index: u32, frames: u64) {
        self.unfinished.remove(&index);
        self.done_rendered += frames;
        self.done_encoded += frames;
    }

    /// The progress objects of the running attempts.
    pub fn running(&self) -> Vec<(u32, String)> {
        self.unfinished.iter().filter_map(|(&i, u)| u.key.clone().map(|k| (i, k))).collect()
    }

    /// Frames captured: finished chunks' and the reported frames of unfinished ones.
    pub fn rendered(&self) -> u64 {
        self.done_rendered + self.unfinished.values().map(|u| u.rendered).sum::<u64>()
    }

    /// Frames encoded, likewise.
    pub fn encoded(&self) -> u64 {
        self.done_encoded + self.unfinished.values().map(|u| u.encoded).sum::<u64>()
    }

    /// Frames of finished chunks only (what the invocations billed so far paid for).
    pub fn finished(&self) -> u64 {
        self.done_rendered
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(chunk: u32, attempt: u32, rendered: u64, encoded: u64) -> ChunkProgress {
        ChunkProgress { chunk, attempt, rendered, encoded, total: 10 }
    }

    #[test]
    fn a_retried_chunk_counts_once_and_never_goes_back() {
        let mut frames = ChunkFrames::default();
        frames.started(0, 10, Some("k0".into()));
        frames.started(1, 10, Some("k1".into()));
        frames.observe(0, &report(0, 1, 6, 4));
        frames.observe(1, &report(1, 1, 3, 2));
        assert_eq!((frames.rendered(), frames.encoded()), (9, 6));
        // Chunk 0's first attempt fails; its retry reports fewer frames, then more.
        frames.stopped(0);
        assert_eq!(frames.running(), vec![(1, "k1".to_owned())], "only running attempts are read");
        frames.started(0, 10, Some("k0".into()));
        frames.observe(0, &report(0, 2, 2, 1));
        assert_eq!((frames.rendered(), frames.encoded()), (9, 6), "the retry's smaller count does not lower it");
        frames.observe(0, &report(0, 2, 8, 7));
        assert_eq!((frames.rendered(), frames.encoded()), (11, 9));
        // Finished: the answer's count replaces the reports, once.
        frames.done(0, 10);
        frames.observe(0, &report(0, 2, 10, 10));
        assert_eq!((frames.rendered(), frames.encoded(), frames.finished()), (13, 12, 10));
        frames.done(1, 10);
        assert_eq!((frames.rendered(), frames.encoded(), frames.finished()), (20, 20, 20));
        assert!(frames.running().is_empty());
    }

    #[test]
    fn reports_beyond_the_chunk_or_of_another_chunk_are_ignored() {
        let mut frames = ChunkFrames::default();
        frames.started(3, 5, Some("k3".into()));
        frames.observe(3, &report(3, 1, 50, 50));
        assert_eq!(frames.rendered(), 5, "a chunk counts at most its frames");
        frames.observe(4, &report(4, 1, 2, 2));
        frames.observe(3, &report(9, 1, 2, 2));
        assert_eq!(frames.rendered(), 5);
    }
}
