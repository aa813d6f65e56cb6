//! Chunks invoked by an earlier invocation of the orchestrator, followed to their end. An
//! orchestrator that hands a render over to its continuation leaves its remote chunks running:
//! their invocations are Lambda's, not its own, and go on after it returns. Their answers are
//! lost with it, but not their results: a renderer uploads its chunk and then the chunk's
//! timings (`renders/<id>/timings/<index>.json`), so timings in the bucket mean the chunk is
//! there, whole. The continuation polls for them instead of invoking the chunk again, and the
//! scheduler cuts a followed chunk off at the deadline it was given when it started, as it
//! would have cut off its invocation.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use remotion_protocol::payload::{ChunkPhases, ErrorKind, FrameSpan, RenderRequest, RenderResponse};
use serde::Deserialize;

use super::invoke::{Invoked, Outcome};
use crate::storage;

/// How often a followed chunk's timings are looked for: a chunk is seen done at most this late
/// (and billed as running until then).
pub const POLL_INTERVAL: Duration = Duration::from_secs(2);

/// Waits for chunks already invoked (a trait so the scheduler can be tested without S3).
pub trait ChunkFollower: Send + Sync + 'static {
    /// Waits for the invocation of `request`, started at `started_at_ms` (ms since the Unix
    /// epoch) by an earlier invocation of the orchestrator, to leave its chunk in the bucket;
    /// the answer it would have given. It never fails on its own: the caller's deadline ends a
    /// chunk that never comes.
    fn follow(&self, request: RenderRequest, started_at_ms: u64) -> impl Future<Output = Invoked> + Send;
}

/// Follows chunks through the objects their renderers write to the bucket.
#[derive(Clone)]
pub struct S3Follower {
    s3: aws_sdk_s3::Client,
    on_request: Arc<dyn Fn() + Send + Sync>,
    interval: Duration,
}

impl S3Follower {
    /// Follows chunks in the bucket through `s3`; `on_request` is called for each request made
    /// (cost accounting).
    pub fn new(s3: aws_sdk_s3::Client, on_request: impl Fn() + Send + Sync + 'static) -> Self {
        Self { s3, on_request: Arc::new(on_request), interval: POLL_INTERVAL }
    }

    #[cfg(test)]
    fn every(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// The chunk's answer if its renderer has finished it: `None` while its timings are not
    /// there (or not its own), or its chunk object is not.
    async fn look(&self, request: &RenderRequest, started_at_ms: u64) -> Option<RenderResponse> {
        (self.on_request)();
        let timings = match storage::get(&self.s3, &request.bucket, &request.timings_key).await {
            Ok(Some(bytes)) => bytes,
            Ok(None) => return None,
            Err(e) => {
                tracing::debug!(chunk = request.chunk, "could not look for the chunk's timings: {e}");
                return None;
            }
        };
        let timings = match parse_timings(request, &timings) {
            Ok(timings) => timings,
            Err(e) => {
                tracing::warn!(chunk = request.chunk, "{e}; still waiting for the chunk");
                return None;
            }
        };
        (self.on_request)();
        let size_bytes = match storage::size(&self.s3, &request.bucket, &request.chunk_key).await {
            Ok(Some(size)) => size,
            Ok(None) => {
                tracing::warn!(chunk = request.chunk, "timings without their chunk; still waiting for the chunk");
                return None;
            }
            Err(e) => {
                tracing::debug!(chunk = request.chunk, "could not look for the chunk: {e}");
                return None;
            }
        };
        let now = super::progress_writer::now_ms();
        Some(answer(request, timings, size_bytes, now.saturating_sub(started_at_ms)))
    }
}

impl ChunkFollower for S3Follower {
    async fn follow(&self, request: RenderRequest, started_at_ms: u64) -> Invoked {
        let mut tick = tokio::time::interval(self.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Some(answer) = self.look(&request, started_at_ms).await {
                tracing::info!(chunk = request.chunk, attempt = request.attempt, "a followed chunk finished");
                // The invocation ran from its start until about now: the scheduler bills the
                // time since the chunk started (at most one poll late, never short).
                return Invoked { outcome: Outcome::Rendered(answer), billed_milliseconds: None };
            }
        }
    }
}

/// Why timings found in the bucket are not the followed chunk's.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TimingsError {
    /// Not a timings object.
    #[error("the chunk's timings object is not readable: {0}")]
    Unreadable(String),
    /// Another chunk's, or other frames'.
    #[error(
        "the timings at the chunk's key are of chunk {chunk}, frames {frames}; expected chunk {want_chunk}, frames {want_frames}"
    )]
    Mismatch {
        /// Chunk they name.
        chunk: u32,
        /// Frames they name.
        frames: FrameSpan,
        /// The followed chunk.
        want_chunk: u32,
        /// Its frames.
        want_frames: FrameSpan,
    },
}

/// A chunk's timings object, as [`super::chunk::render`] writes it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Timings {
    chunk: u32,
    frames: FrameSpan,
    frame_milliseconds: Vec<u32>,
    /// The files the chunk's frames emitted, already saved (absent before artifacts existed).
    #[serde(default)]
    artifacts: Vec<remotion_protocol::progress::ArtifactInfo>,
    /// Absent from renderers that predate it: one.
    #[serde(default = "one_tab")]
    tabs: u32,
}

fn one_tab() -> u32 {
    1
}

/// The timings of the chunk `request` renders.
pub fn parse_timings(request: &RenderRequest, bytes: &[u8]) -> Result<Timings, TimingsError> {
    let timings: Timings = serde_json::from_slice(bytes).map_err(|e| TimingsError::Unreadable(e.to_string()))?;
    if timings.chunk != request.chunk || timings.frames != request.frames {
        return Err(TimingsError::Mismatch {
            chunk: timings.chunk,
            frames: timings.frames,
            want_chunk: request.chunk,
            want_frames: request.frames,
        });
    }
    Ok(timings)
}

/// The answer a followed chunk's renderer gave to no one, rebuilt from what it left: its frame
/// count is its timings' (the scheduler checks it against the chunk's frames, as it checks an
/// answer). What only the answer held is estimated: its duration is the time since it
/// started, and its progress writes one per second of its frames (its publisher writes at most
/// once a second while its counts move).
pub fn answer(request: &RenderRequest, timings: Timings, size_bytes: u64, ran_ms: u64) -> RenderResponse {
    let frames_ms: u64 = timings.frame_milliseconds.iter().map(|&ms| u64::from(ms)).sum();
    RenderResponse {
        chunk: request.chunk,
        attempt: request.attempt,
        key: request.chunk_key.clone(),
        size_bytes,
        frames: timings.frame_milliseconds.len() as u64,
        frame_milliseconds: timings.frame_milliseconds,
        duration_ms: ran_ms,
        phases: ChunkPhases::default(),
        progress_writes: frames_ms / 1000,
        artifacts: timings.artifacts,
        tabs: timings.tabs,
    }
}

/// The failure of a followed chunk whose deadline passed: what the scheduler records.
pub fn missed(deadline: Duration) -> Outcome {
    Outcome::Failed {
        kind: ErrorKind::Invocation,
        message: format!(
            "invoked before the orchestrator handed over, it left no chunk within its deadline of {} s; retried",
            deadline.as_secs()
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicU64, Ordering};

    use remotion_protocol::payload::SerializedProps;

    use super::*;

    fn request(chunk: u32, frames: FrameSpan) -> RenderRequest {
        serde_json::from_value(serde_json::json!({
            "protocolVersion": 1, "renderId": "r", "bucket": "b",
            "site": {"serveUrl": "http://x/index.html"},
            "composition": {"id": "C", "width": 64, "height": 64, "fps": 30.0, "durationInFrames": 100},
            "inputProps": SerializedProps::empty(), "resolvedProps": SerializedProps::empty(),
            "encoding": {"codec": "h264"}, "chunk": chunk, "frames": frames, "attempt": 2,
            "timeoutMs": 1000, "chunkKey": format!("renders/r/chunks/{chunk:06}.ts"),
            "timingsKey": format!("renders/r/timings/{chunk:06}.json"),
        }))
        .unwrap()
    }

    #[test]
    fn timings_rebuild_the_answer_of_their_own_chunk_only() {
        let frames = FrameSpan { start: 10, end: 14 };
        let req = request(2, frames);
        let bytes =
            br#"{"chunk": 2, "frames": {"start": 10, "end": 14}, "frameMilliseconds": [400, 500, 600, 700, 800]}"#;
        let answer = answer(&req, parse_timings(&req, bytes).unwrap(), 12_345, 9_000);
        assert_eq!((answer.chunk, answer.attempt, answer.frames, answer.size_bytes), (2, 2, 5, 12_345));
        assert_eq!(answer.key, "renders/r/chunks/000002.ts");
        assert_eq!(answer.frame_milliseconds, vec![400, 500, 600, 700, 800]);
        assert_eq!((answer.duration_ms, answer.progress_writes), (9_000, 3));

        let other = br#"{"chunk": 3, "frames": {"start": 15, "end": 19}, "frameMilliseconds": [1]}"#;
        assert!(matches!(parse_timings(&req, other), Err(TimingsError::Mismatch { chunk: 3, .. })));
        assert!(matches!(parse_timings(&req, b"<html>"), Err(TimingsError::Unreadable(_))));
    }

    /// A store answering GETs and HEADs of `objects` (key → body), 404 for anything else,
    /// counting requests.
    async fn store(objects: Arc<Mutex<Vec<(String, String)>>>, requests: Arc<AtomicU64>) -> aws_sdk_s3::Client {
        let answer = move |_: &str, path: &str| {
            let found = objects.lock().unwrap().iter().find(|(k, _)| path == format!("/b/{k}")).cloned();
            match found {
                Some((_, body)) => (200, body),
                None => (404, "<Error><Code>NoSuchKey</Code><Message>none</Message></Error>".to_owned()),
            }
        };
        crate::storage::test_store(answer, requests).await
    }

    #[tokio::test]
    async fn a_followed_chunk_is_done_when_its_timings_and_chunk_are_in_the_bucket() {
        let objects = Arc::new(Mutex::new(Vec::new()));
        let requests = Arc::new(AtomicU64::new(0));
        let s3 = store(objects.clone(), requests.clone()).await;
        let counted = Arc::new(AtomicU64::new(0));
        let count = counted.clone();
        let follower = S3Follower::new(s3, move || {
            count.fetch_add(1, Ordering::SeqCst);
        })
        .every(Duration::from_millis(50));
        let req = request(4, FrameSpan { start: 0, end: 2 });
        let started_at_ms = crate::orchestrate::progress_writer::now_ms() - 3_000;
        let following = tokio::spawn({
            let (follower, req) = (follower.clone(), req.clone());
            async move { follower.follow(req, started_at_ms).await }
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!following.is_finished(), "nothing in the bucket: still following");
        // Timings without the chunk (not possible from a renderer, which uploads the chunk
        // first) are not taken for a finished chunk.
        objects.lock().unwrap().push((
            "renders/r/timings/000004.json".into(),
            r#"{"chunk": 4, "frames": {"start": 0, "end": 2}, "frameMilliseconds": [5, 6, 7]}"#.into(),
        ));
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!following.is_finished(), "timings without their chunk: still following");
        objects.lock().unwrap().push(("renders/r/chunks/000004.ts".into(), "x".repeat(4096)));
        let invoked = tokio::time::timeout(Duration::from_secs(5), following).await.unwrap().unwrap();
        let Outcome::Rendered(answer) = invoked.outcome else { panic!("{:?}", invoked.outcome) };
        assert_eq!((answer.chunk, answer.frames, answer.size_bytes), (4, 3, 4096));
        assert!(answer.duration_ms >= 3_000, "ran since it started: {} ms", answer.duration_ms);
        assert_eq!(invoked.billed_milliseconds, None, "billed by the scheduler, from the chunk's start");
        let (made, counted) = (requests.load(Ordering::SeqCst), counted.load(Ordering::SeqCst));
        assert!(made >= 8, "{made} requests");
        assert_eq!(counted, made, "every request is counted");
    }

    #[tokio::test]
    async fn a_chunk_that_never_lands_is_followed_until_the_caller_gives_up() {
        let objects = Arc::new(Mutex::new(Vec::new()));
        let requests = Arc::new(AtomicU64::new(0));
        let s3 = store(objects.clone(), requests.clone()).await;
        // Another chunk's timings at a neighbouring key change nothing.
        objects.lock().unwrap().push((
            "renders/r/timings/000005.json".into(),
            r#"{"chunk": 5, "frames": {"start": 3, "end": 5}, "frameMilliseconds": [5, 6, 7]}"#.into(),
        ));
        let follower = S3Follower::new(s3, || {}).every(Duration::from_millis(50));
        let req = request(4, FrameSpan { start: 0, end: 2 });
        let followed = tokio::time::timeout(Duration::from_secs(1), follower.follow(req, 0)).await;
        assert!(followed.is_err(), "no answer without the chunk: the deadline decides");
        assert!(requests.load(Ordering::SeqCst) >= 10, "it kept looking");
    }
}
