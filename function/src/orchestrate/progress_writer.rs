//! The render's progress document: kept in memory by the orchestrator, written to
//! `renders/<id>/progress.json` on every stage change and at least every 2 s, with the cost
//! accrued so far. A continuation of the orchestrator goes on from the document and the usage
//! its predecessor saved ([`SavedProgress`]): the sequence keeps rising and the cost keeps
//! every invocation.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use futures::StreamExt;
use remotion_protocol::payload::ChunkProgress;
use remotion_protocol::pricing::{FunctionShape, LambdaUsage, S3Usage};
use remotion_protocol::progress::{ProgressDocument, ProgressError, Stage};
use serde::{Deserialize, Serialize};

use super::chunk_reports::ChunkFrames;
use crate::error::RenderError;
use crate::storage;

/// How often the document is written while nothing else triggers a write (a heartbeat the
/// operator's stall detection relies on).
pub const WRITE_INTERVAL: Duration = Duration::from_millis(1500);

/// Chunk progress objects read at once on a tick.
const CHUNK_PROGRESS_READS: usize = 32;

/// Longest a tick waits for chunk progress before it writes the document (which must go out
/// at least every 2 s: [`WRITE_INTERVAL`] plus this stays below).
const CHUNK_PROGRESS_BUDGET: Duration = Duration::from_millis(400);

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// The document and the usage behind its cost.
#[derive(Debug)]
pub struct State {
    /// The document as it will next be written.
    pub doc: ProgressDocument,
    /// Renderer invocations and their billed time.
    pub renderers: LambdaUsage,
    /// The orchestrator's earlier invocations (those a continuation took over from) and their
    /// billed time; the running one is added at each snapshot.
    pub orchestrators: LambdaUsage,
    /// S3 requests made for this render.
    pub s3: S3Usage,
    /// Frames of finished and running chunks, behind the document's frame counts.
    pub chunks: ChunkFrames,
}

/// What a continuation of the orchestrator needs to go on with the progress document: the
/// document as last written (its sequence, counts, errors and timings) and the usage behind
/// its cost, the handing-over invocation's own time included.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SavedProgress {
    /// The document as last written.
    pub doc: ProgressDocument,
    /// Renderer invocations so far.
    pub renderers: LambdaUsage,
    /// The orchestrator's invocations so far, the one that saved this included.
    pub orchestrators: LambdaUsage,
    /// S3 requests so far.
    pub s3: S3Usage,
}

impl State {
    /// Brings the document's frame counts up to the chunks' (never down: a document that
    /// showed more frames stays ahead until the chunks catch up).
    pub fn count_frames(&mut self) {
        self.doc.frames_rendered = self.doc.frames_rendered.max(self.chunks.rendered());
        self.doc.frames_encoded = self.doc.frames_encoded.max(self.chunks.encoded());
    }
}

/// Shared progress of one render.
#[derive(Clone)]
pub struct ProgressWriter {
    state: Arc<Mutex<State>>,
    shape: FunctionShape,
    /// The orchestrator's own function, when it is not the renderers' (a small orchestrator
    /// with large renderers): its time is priced at its own memory and storage.
    orchestrator_shape: Option<FunctionShape>,
    started: Instant,
    s3: aws_sdk_s3::Client,
    bucket: String,
    key: String,
    /// Writes go out one at a time, so the store sees documents in sequence order.
    writing: Arc<tokio::sync::Mutex<()>>,
}

impl ProgressWriter {
    /// Progress of a render that starts now.
    pub fn new(
        render_id: &str,
        shape: FunctionShape,
        s3: aws_sdk_s3::Client,
        bucket: impl Into<String>,
        key: impl Into<String>,
        billed_since: Instant,
    ) -> Self {
        let mut doc = ProgressDocument::new(render_id, now_ms());
        doc.stage = Stage::Launched;
        let saved = SavedProgress {
            doc,
            renderers: LambdaUsage::default(),
            orchestrators: LambdaUsage::default(),
            s3: S3Usage::default(),
        };
        Self::resume(saved, shape, s3, bucket, key, billed_since)
    }

    /// Progress of a render that an earlier invocation of the orchestrator saved, going on in
    /// this invocation, whose time counts from `billed_since`.
    pub fn resume(
        saved: SavedProgress,
        shape: FunctionShape,
        s3: aws_sdk_s3::Client,
        bucket: impl Into<String>,
        key: impl Into<String>,
        billed_since: Instant,
    ) -> Self {
        Self {
            state: Arc::new(Mutex::new(State {
                doc: saved.doc,
                renderers: saved.renderers,
                orchestrators: saved.orchestrators,
                s3: saved.s3,
                chunks: ChunkFrames::default(),
            })),
            shape,
            orchestrator_shape: None,
            started: billed_since,
            s3,
            bucket: bucket.into(),
            key: key.into(),
            writing: Arc::default(),
        }
    }

    /// Prices the orchestrator's invocations as `shape` instead of as the renderers'.
    #[must_use]
    pub fn pricing_orchestrator_as(mut self, shape: Option<FunctionShape>) -> Self {
        self.orchestrator_shape = shape.filter(|s| *s != self.shape);
        self
    }

    /// The document as last written and the usage so far, this invocation's time included up
    /// to now, for a continuation to go on from. Write the document first: the continuation's
    /// first write follows the last one written here.
    pub fn saved(&self) -> SavedProgress {
        let orchestrator_ms = remotion_protocol::pricing::billed_milliseconds_from_duration(self.started.elapsed());
        let state = self.lock();
        let mut orchestrators = state.orchestrators;
        orchestrators.record(orchestrator_ms);
        SavedProgress { doc: state.doc.clone(), renderers: state.renderers, orchestrators, s3: state.s3 }
    }

    /// The state, for an update. Keep the guard short: writers and the scheduler share it.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records an error in the document.
    pub fn error(&self, error: ProgressError) {
        self.lock().doc.push_error(error);
    }

    /// Moves to `stage` and writes the document.
    pub async fn stage(&self, stage: Stage) -> Result<(), RenderError> {
        self.lock().doc.stage = stage;
        self.write().await
    }

    /// A snapshot of the document with its cost brought up to date (the orchestrator's running
    /// invocation counts from its start until now, its earlier ones as they were billed).
    pub fn snapshot(&self) -> ProgressDocument {
        let orchestrator_ms = remotion_protocol::pricing::billed_milliseconds_from_duration(self.started.elapsed());
        let mut state = self.lock();
        let mut orchestrators = state.orchestrators;
        orchestrators.record(orchestrator_ms);
        let mut lambda = state.renderers;
        lambda.invocations += orchestrators.invocations;
        lambda.billed_milliseconds += orchestrators.billed_milliseconds;
        state.doc.invocations = lambda.invocations;
        state.doc.billed_milliseconds = lambda.billed_milliseconds;
        let cost = match &self.orchestrator_shape {
            None => remotion_protocol::pricing::cost(&self.shape, lambda, state.s3).map(|c| c.total),
            Some(orchestrator) => {
                remotion_protocol::pricing::cost(&self.shape, state.renderers, state.s3).and_then(|renderers| {
                    let own = remotion_protocol::pricing::cost(orchestrator, orchestrators, S3Usage::default())?;
                    Ok(renderers.total + own.total)
                })
            }
        };
        // A region without prices keeps the cost at zero; the operator reports "price unknown".
        if let Ok(total) = cost {
            state.doc.accrued_usd = total;
        }
        state.doc.sequence += 1;
        state.doc.updated_at_ms = now_ms().max(state.doc.updated_at_ms);
        state.s3.write_requests += 1; // the write this snapshot is for
        state.doc.clone()
    }

    /// Writes the document now.
    pub async fn write(&self) -> Result<(), RenderError> {
        let _one_at_a_time = self.writing.lock().await;
        let doc = self.snapshot();
        let body = serde_json::to_vec(&doc).map_err(|e| RenderError::Encoding(format!("progress document: {e}")))?;
        storage::put(&self.s3, &self.bucket, &self.key, body, "application/json").await
    }

    /// Writes the first document, unless the render already has one: `false` when another
    /// launch of the same render created it first (that launch renders, this one must not).
    pub async fn create(&self) -> Result<bool, RenderError> {
        let _one_at_a_time = self.writing.lock().await;
        let doc = self.snapshot();
        let body = serde_json::to_vec(&doc).map_err(|e| RenderError::Encoding(format!("progress document: {e}")))?;
        let launch = format!("{:032x}", rand::random::<u128>());
        let created = storage::create(&self.s3, &self.bucket, &self.key, body, "application/json", &launch).await?;
        Ok(created == storage::Created::Mine)
    }

    /// Reads the progress objects of the chunks running now and counts their frames; reads
    /// that have not answered within `budget` are left for the next tick, so that a slow
    /// store never holds up the document itself.
    pub async fn read_chunk_progress(&self, budget: Duration) {
        let running = self.lock().chunks.running();
        if running.is_empty() {
            return;
        }
        let (s3, bucket) = (&self.s3, self.bucket.as_str());
        let answered: Vec<Option<(u32, ChunkProgress)>> = futures::stream::iter(running)
            .map(|(index, key)| async move {
                // Not there yet (the renderer writes after a second) or unreadable: no news.
                match storage::get(s3, bucket, &key).await {
                    Ok(Some(bytes)) => serde_json::from_slice(&bytes).ok().map(|p| (index, p)),
                    Ok(None) => None,
                    Err(e) => {
                        tracing::debug!("could not read the progress of chunk {index}: {e}");
                        None
                    }
                }
            })
            .buffer_unordered(CHUNK_PROGRESS_READS)
            .take_until(tokio::time::sleep(budget))
            .collect()
            .await;
        let mut state = self.lock();
        state.s3.read_requests += answered.len() as u64;
        for (index, progress) in answered.iter().flatten() {
            state.chunks.observe(*index, progress);
        }
        state.count_frames();
    }

    /// Writes the document every [`WRITE_INTERVAL`] until the returned guard is dropped.
    /// A failed periodic write is logged and retried on the next tick; the render goes on.
    pub fn heartbeat(&self) -> Heartbeat {
        let progress = self.clone();
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(WRITE_INTERVAL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tokio::select! {
                    _ = &mut stopped => return,
                    _ = tick.tick() => {}
                }
                progress.read_chunk_progress(CHUNK_PROGRESS_BUDGET).await;
                if let Err(e) = progress.write().await {
                    tracing::warn!("could not write the progress document: {e}");
                }
            }
        });
        Heartbeat { stop: Some(stop), task }
    }

    /// Time since the render started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }
}

/// The periodic writer. Stop it before the final write: a write still in flight could
/// otherwise land after the final document.
pub struct Heartbeat {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Heartbeat {
    /// Stops the periodic writes, waiting for one in flight to finish.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use remotion_protocol::lambda::Architecture;

    use super::*;

    /// The function shape the tests price with.
    fn shape() -> FunctionShape {
        FunctionShape { region: "us-east-1".into(), architecture: Architecture::X86_64, memory_mb: 2048, disk_mb: 2048 }
    }

    /// A client for writers whose tests never reach the store.
    fn offline_client() -> aws_sdk_s3::Client {
        let config = aws_sdk_s3::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .build();
        aws_sdk_s3::Client::from_conf(config)
    }

    /// A store that accepts connections and never answers.
    async fn silent_store() -> (aws_sdk_s3::Client, tokio::task::JoinHandle<()>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                held.push(stream);
            }
        });
        let config = aws_sdk_s3::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .endpoint_url(format!("http://127.0.0.1:{port}"))
            .force_path_style(true)
            .credentials_provider(aws_sdk_s3::config::Credentials::new("k", "s", None, None, "test"))
            .build();
        (aws_sdk_s3::Client::from_conf(config), task)
    }

    #[tokio::test]
    async fn chunk_progress_reads_never_hold_up_the_document() {
        let (s3, _store) = silent_store().await;
        let shape = shape();
        let progress = ProgressWriter::new("r", shape, s3, "b", "renders/r/progress.json", Instant::now());
        for index in 0..3 {
            progress.lock().chunks.started(index, 10, Some(format!("renders/r/chunk-progress/{index:06}.json")));
        }
        let t = Instant::now();
        tokio::time::timeout(Duration::from_secs(5), progress.read_chunk_progress(Duration::from_millis(300)))
            .await
            .expect("the reads are cut off at their budget, not left to the store");
        assert!(t.elapsed() < Duration::from_secs(2), "cut off after {:?}", t.elapsed());
        let state = progress.lock();
        assert_eq!((state.doc.frames_rendered, state.s3.read_requests), (0, 0), "nothing answered, nothing counted");
    }

    #[test]
    fn a_continuation_goes_on_with_the_document_and_counts_every_invocation() {
        let shape = shape();
        let s3 = offline_client();
        let first = ProgressWriter::new("r", shape.clone(), s3.clone(), "b", "renders/r/progress.json", Instant::now());
        first.lock().renderers.record(5_000);
        first.lock().doc.chunks_done = 1;
        let written = first.snapshot();
        assert_eq!((written.sequence, written.invocations), (1, 2), "one renderer, the orchestrator");
        std::thread::sleep(Duration::from_millis(30));
        let saved = first.saved();
        assert_eq!(saved.doc, written, "the document as last written");
        assert_eq!(saved.orchestrators.invocations, 1);
        assert!(saved.orchestrators.billed_milliseconds >= 30, "{:?}", saved.orchestrators);

        let second = ProgressWriter::resume(saved.clone(), shape, s3, "b", "renders/r/progress.json", Instant::now());
        let next = second.snapshot();
        assert_eq!(next.sequence, written.sequence + 1, "the sequence goes on");
        assert_eq!(next.chunks_done, 1);
        assert_eq!(next.invocations, 3, "the renderer and both invocations of the orchestrator");
        assert!(next.billed_milliseconds >= 5_000 + saved.orchestrators.billed_milliseconds);
        assert!(next.accrued_usd > written.accrued_usd, "{} after {}", next.accrued_usd, written.accrued_usd);
        assert_eq!(second.saved().orchestrators.invocations, 2);
    }

    #[test]
    fn a_small_orchestrator_is_priced_at_its_own_size() {
        use remotion_protocol::pricing::{LambdaUsage, cost};
        // The orchestrator ran 4 s before this invocation; the renderers 20 s.
        let saved = |writer: &ProgressWriter| {
            let mut saved = writer.saved();
            saved.orchestrators = LambdaUsage { invocations: 1, billed_milliseconds: 4_000 };
            saved.renderers = LambdaUsage { invocations: 2, billed_milliseconds: 20_000 };
            saved
        };
        let at = |orchestrator: Option<FunctionShape>| {
            let writer = ProgressWriter::new("r", shape(), offline_client(), "b", "k", Instant::now());
            ProgressWriter::resume(saved(&writer), shape(), offline_client(), "b", "k", Instant::now())
                .pricing_orchestrator_as(orchestrator)
                .snapshot()
        };
        let small = FunctionShape { memory_mb: 512, ..shape() };
        let (same, split) = (at(None), at(Some(small.clone())));
        assert_eq!((same.billed_milliseconds / 1000, same.invocations), (split.billed_milliseconds / 1000, 4));
        let renderers = cost(&shape(), LambdaUsage { invocations: 2, billed_milliseconds: 20_000 }, S3Usage::default());
        let orchestrator = cost(&small, LambdaUsage { invocations: 2, billed_milliseconds: 4_000 }, S3Usage::default());
        let floor = renderers.unwrap().total + orchestrator.unwrap().total;
        assert!(split.accrued_usd >= floor && split.accrued_usd < same.accrued_usd, "{split:?} vs {same:?}");
        assert_eq!(at(Some(shape())).accrued_usd, same.accrued_usd, "a shape like the renderers' changes nothing");
    }

    #[test]
    fn a_cold_orchestrator_counts_its_process_init() {
        let shape = shape();
        // The process started 1.5 s before its first invocation arrived.
        let process_started = Instant::now().checked_sub(Duration::from_millis(1_500)).unwrap();
        let cold = ProgressWriter::new("r", shape, offline_client(), "b", "k", process_started);
        let written = cold.snapshot();
        assert_eq!(written.invocations, 1);
        assert!(written.billed_milliseconds >= 1_500, "init billed: {}", written.billed_milliseconds);
        assert!(cold.saved().orchestrators.billed_milliseconds >= 1_500);
    }
}
