//! The frames of an image sequence, each handed to a sink (the bucket) as it is captured
//! instead of being encoded: a few uploads in flight at once, so a chunk's memory holds the
//! capture queue and those uploads, never the whole chunk.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use futures::StreamExt;
use futures::future::BoxFuture;
use remotion_protocol::chunking::FrameSelection;
use tokio::sync::mpsc;

use super::{Captured, Progress};
use crate::error::RenderError;

/// Frames uploading at once per render (enough to hide S3's latency behind one tab's
/// captures, few enough to keep memory at a handful of frames).
const UPLOADS: usize = 8;

/// Where the frames of an image sequence go.
pub trait ImageSink: Send + Sync + 'static {
    /// Stores the image of `frame` (under a name that depends on the frame alone, so that a
    /// frame stored again replaces itself).
    fn put(&self, frame: u64, image: Vec<u8>) -> BoxFuture<'static, Result<(), RenderError>>;
}

/// The consumer of captured frames for an image sequence: stores each in `sink`; answers the
/// frames stored and their capture + store times, ms, in frame order.
pub(super) fn spawn_sink(
    sink: Arc<dyn ImageSink>,
    selection: FrameSelection,
    mut rx: mpsc::Receiver<Captured>,
    rendered: Arc<AtomicU64>,
    on_progress: Arc<impl Fn(Progress) + Send + Sync + 'static>,
) -> tokio::task::JoinHandle<Result<(u64, Vec<u32>), RenderError>> {
    tokio::spawn(async move {
        let total = selection.count();
        let captured = futures::stream::poll_fn(move |cx| rx.poll_recv(cx));
        let mut stored = captured
            .map(|captured| {
                let started = Instant::now();
                let put = sink.put(captured.frame, captured.image);
                async move { put.await.map(|()| (captured.frame, captured.time + started.elapsed())) }
            })
            .buffer_unordered(UPLOADS);
        let mut timings = BTreeMap::new();
        while let Some(result) = stored.next().await {
            let (frame, time) = result?;
            timings.insert(frame, time.as_millis().min(u128::from(u32::MAX)) as u32);
            let encoded = timings.len() as u64;
            on_progress(Progress { rendered: rendered.load(Ordering::Relaxed), encoded, total });
        }
        let stored = timings.len() as u64;
        if stored != total {
            // Capture stopped early; the caller reports why.
            return Err(RenderError::Storage(format!("only {stored} of {total} frames were stored")));
        }
        Ok((stored, timings.into_values().collect()))
    })
}
