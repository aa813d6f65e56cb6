//! Running every chunk to completion: bounded concurrency that backs off when Lambda
//! throttles, retries of failed chunks with backoff, deadlines that cut off hung chunks, and a
//! stop on cancellation or on a failure that retrying cannot fix.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use remotion_protocol::payload::{ErrorKind, FrameSpan, RenderRequest, RenderResponse};
use remotion_protocol::progress::ProgressError;
use tokio::sync::watch;
use tokio::task::JoinSet;
// Tokio's clock, so that tests can run hours of backoff in paused time.
use tokio::time::Instant;

use super::cancel::cancelled;
use super::deadline::Deadlines;
use super::invoke::{ChunkInvoker, Invoked, Outcome};
use super::progress_writer::{ProgressWriter, now_ms};

/// Limits of one render's chunk invocations.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Chunks running at once, at most.
    pub max_concurrency: u32,
    /// Retries of a failed chunk (Remotion's `maxRetries`: 1 means two attempts).
    pub max_retries: u32,
    /// The render function's timeout (Lambda stops a chunk there).
    pub function_timeout: Duration,
}

/// The chunks of a render.
#[derive(Clone, Copy, Debug)]
pub struct Plan<'a> {
    /// Frames of each chunk, by index.
    pub spans: &'a [FrameSpan],
    /// Step between selected frames.
    pub every_nth_frame: u32,
}

/// A chunk that finished.
#[derive(Debug)]
pub struct ChunkDone {
    /// Chunk index.
    pub index: u32,
    /// Its frames.
    pub span: FrameSpan,
    /// The renderer's answer.
    pub answer: RenderResponse,
    /// Wall time of the successful invocation.
    pub wall: Duration,
}

/// Why the chunks did not all finish.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    /// A chunk failed for good.
    #[error("chunk {index} (frames {}–{}) failed on attempt {attempt}: {message}", span.start, span.end)]
    ChunkFailed {
        /// Chunk index.
        index: u32,
        /// Its frames.
        span: FrameSpan,
        /// Attempt that failed last.
        attempt: u32,
        /// Error kind.
        kind: ErrorKind,
        /// Message.
        message: String,
    },
    /// The render was cancelled.
    #[error("the render was cancelled")]
    Cancelled,
}

#[derive(Clone, Copy, Debug)]
struct Pending {
    index: u32,
    attempt: u32,
    throttles: u32,
    not_before: Instant,
}

struct Finished {
    index: u32,
    attempt: u32,
    throttles: u32,
    invoked: Invoked,
    wall: Duration,
}

/// Runs `spans` as chunks through `invoker`, calling `on_done` for each finished chunk (in
/// completion order). `request` builds the payload of chunk `index` at `attempt`.
pub async fn run_chunks<I: ChunkInvoker>(
    invoker: Arc<I>,
    plan: Plan<'_>,
    limits: Limits,
    request: impl Fn(u32, FrameSpan, u32) -> RenderRequest,
    progress: &ProgressWriter,
    cancel: watch::Receiver<bool>,
    mut on_done: impl FnMut(ChunkDone),
) -> Result<(), ScheduleError> {
    let Plan { spans, every_nth_frame } = plan;
    let max_window = limits.max_concurrency.max(1) as usize;
    let mut window = max_window;
    let mut last_throttle_cut: Option<Instant> = None;
    let mut deadlines = Deadlines::new(limits.function_timeout);
    let now = Instant::now();
    let mut queue: VecDeque<Pending> =
        (0..spans.len() as u32).map(|index| Pending { index, attempt: 1, throttles: 0, not_before: now }).collect();
    let mut running: JoinSet<Finished> = JoinSet::new();
    let mut started_at: HashMap<u32, Instant> = HashMap::new();

    let result = loop {
        // Start what the window allows, ready chunks first (retries wait for their backoff).
        let now = Instant::now();
        while running.len() < window {
            let Some(position) = queue.iter().position(|p| p.not_before <= now) else { break };
            let pending = queue.remove(position).expect("position is in the queue");
            let span = spans[pending.index as usize];
            let payload = request(pending.index, span, pending.attempt);
            progress.lock().chunks.started(pending.index, span.len(every_nth_frame), payload.progress_key.clone());
            let deadline = deadlines.for_chunk(span.len(every_nth_frame));
            let invoker = invoker.clone();
            let function_timeout = limits.function_timeout;
            started_at.insert(pending.index, Instant::now());
            running.spawn(async move {
                let t = Instant::now();
                let invoked = match tokio::time::timeout(deadline, invoker.invoke(payload)).await {
                    Ok(invoked) => invoked,
                    // Lambda keeps running (and billing) a hung invocation until the function's
                    // timeout: count all of it rather than under-report the cost.
                    Err(_) => Invoked {
                        outcome: Outcome::Failed {
                            kind: ErrorKind::Invocation,
                            message: format!(
                                "no answer within its deadline of {} s; cut off and retried",
                                deadline.as_secs()
                            ),
                        },
                        billed_milliseconds: Some(function_timeout.as_millis() as u64),
                    },
                };
                Finished {
                    index: pending.index,
                    attempt: pending.attempt,
                    throttles: pending.throttles,
                    invoked,
                    wall: t.elapsed(),
                }
            });
        }
        if running.is_empty() && queue.is_empty() {
            break Ok(());
        }
        let next_ready = (running.len() < window).then(|| queue.iter().map(|p| p.not_before).min()).flatten();

        let finished = tokio::select! {
            biased;
            () = cancelled(cancel.clone()) => break Err(ScheduleError::Cancelled),
            Some(joined) = running.join_next(), if !running.is_empty() => joined,
            () = tokio::time::sleep_until(next_ready.unwrap_or(now)), if next_ready.is_some() => continue,
        };
        let finished = match finished {
            Ok(f) => f,
            Err(e) => {
                break Err(ScheduleError::ChunkFailed {
                    index: u32::MAX,
                    span: FrameSpan { start: 0, end: 0 },
                    attempt: 0,
                    kind: ErrorKind::Internal,
                    message: format!("a chunk task failed: {e}"),
                });
            }
        };
        started_at.remove(&finished.index);
        // Until it is found finished below, this attempt's progress is read no more.
        progress.lock().chunks.stopped(finished.index);
        let span = spans[finished.index as usize];
        let billed = finished.invoked.billed_milliseconds;
        let wall_ms = remotion_protocol::pricing::billed_milliseconds_from_duration(finished.wall);
        let failure = match finished.invoked.outcome {
            Outcome::Rendered(answer) => {
                let expected = span.len(every_nth_frame);
                if answer.frames == expected && answer.chunk == finished.index {
                    let frame_ms_sum: u64 = answer.frame_milliseconds.iter().map(|&m| u64::from(m)).sum();
                    deadlines.record(answer.frames, finished.wall, frame_ms_sum);
                    {
                        let mut state = progress.lock();
                        state.renderers.record(billed.unwrap_or(wall_ms));
                        // The renderer wrote its chunk, its timings and its progress.
                        state.s3.write_requests += 2 + answer.progress_writes;
                        state.doc.chunks_done += 1;
                        state.chunks.done(finished.index, answer.frames);
                        state.count_frames();
                    }
                    window = (window + 1).min(max_window);
                    on_done(ChunkDone { index: finished.index, span, answer, wall: finished.wall });
                    continue;
                }
                // A chunk must hold exactly its frames, or the output would skip or repeat some.
                progress.lock().renderers.record(billed.unwrap_or(wall_ms));
                (
                    ErrorKind::Invocation,
                    format!(
                        "the renderer answered for chunk {} with {} frames; expected chunk {} with {expected}",
                        answer.chunk, answer.frames, finished.index
                    ),
                )
            }
            Outcome::Throttled(message) => {
                // Not a failure: wait and try again, and run fewer chunks at once for a while.
                if last_throttle_cut.is_none_or(|t| t.elapsed() > Duration::from_secs(1)) {
                    window = (running.len() / 2).max(1);
                    last_throttle_cut = Some(Instant::now());
                }
                let throttles = finished.throttles + 1;
                tracing::info!(chunk = finished.index, throttles, window, "throttled: {message}");
                queue.push_front(Pending {
                    index: finished.index,
                    attempt: finished.attempt,
                    throttles,
                    not_before: Instant::now() + backoff(throttles, Duration::from_secs(30)),
                });
                continue;
            }
            Outcome::Failed { kind, message } => {
                progress.lock().renderers.record(billed.unwrap_or(wall_ms));
                if kind == ErrorKind::Cancelled {
                    // The renderer saw the cancel object before our own poll did: the render
                    // was cancelled, no chunk failed.
                    break Err(ScheduleError::Cancelled);
                }
                (kind, message)
            }
        };
        let (kind, message) = failure;
        let will_retry = kind.is_retriable() && finished.attempt <= limits.max_retries;
        progress.error(ProgressError {
            kind,
            message: message.clone(),
            chunk: Some(finished.index),
            frames: Some(span),
            attempt: Some(finished.attempt),
            will_retry,
            at_ms: now_ms(),
        });
        if !will_retry {
            break Err(ScheduleError::ChunkFailed {
                index: finished.index,
                span,
                attempt: finished.attempt,
                kind,
                message,
            });
        }
        progress.lock().doc.retries += 1;
        queue.push_front(Pending {
            index: finished.index,
            attempt: finished.attempt + 1,
            throttles: 0,
            not_before: Instant::now() + backoff(finished.attempt, Duration::from_secs(8)),
        });
    };

    // Chunks still running are abandoned (renderers stop on the cancel object; a failed
    // render's leftovers are cleaned up by the caller). Count the time they ran so far.
    if !running.is_empty() {
        running.abort_all();
        let mut state = progress.lock();
        for t in started_at.values() {
            state.renderers.record(remotion_protocol::pricing::billed_milliseconds_from_duration(t.elapsed()));
        }
    }
    result
}

/// Exponential backoff from 1 s, capped, with up to 25 % jitter so that chunks throttled
/// together do not come back together.
fn backoff(times: u32, cap: Duration) -> Duration {
    let base = Duration::from_secs(1).saturating_mul(1u32 << times.saturating_sub(1).min(16)).min(cap);
    let jitter = rand::random::<f64>() * 0.25;
    base.mul_f64(1.0 + jitter)
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicU32, Ordering};

    use remotion_protocol::lambda::Architecture;
    use remotion_protocol::payload::SerializedProps;
    use remotion_protocol::pricing::FunctionShape;

    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        assert!(backoff(1, Duration::from_secs(30)) >= Duration::from_secs(1));
        assert!(backoff(1, Duration::from_secs(30)) <= Duration::from_millis(1250));
        assert!(backoff(3, Duration::from_secs(30)) >= Duration::from_secs(4));
        assert!(backoff(40, Duration::from_secs(30)) <= Duration::from_millis(37_500));
    }

    /// What the fake renderer does on the n-th invocation of a chunk (1-based); afterwards it renders.
    #[derive(Clone, Copy)]
    enum Script {
        Throttle,
        Fail(ErrorKind),
        Hang,
    }

    struct FakeInvoker {
        script: Mutex<HashMap<(u32, u32), Script>>,
        calls: Mutex<HashMap<u32, u32>>,
        in_flight: AtomicU32,
        max_in_flight: AtomicU32,
    }

    impl FakeInvoker {
        fn new(script: &[((u32, u32), Script)]) -> Arc<Self> {
            Arc::new(Self {
                script: Mutex::new(script.iter().copied().collect()),
                calls: Mutex::default(),
                in_flight: AtomicU32::new(0),
                max_in_flight: AtomicU32::new(0),
            })
        }
    }

    impl ChunkInvoker for FakeInvoker {
        async fn invoke(&self, request: RenderRequest) -> Invoked {
            let n = {
                let mut calls = self.calls.lock().unwrap();
                let n = calls.entry(request.chunk).or_default();
                *n += 1;
                *n
            };
            let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            self.max_in_flight.fetch_max(now, Ordering::SeqCst);
            let step = self.script.lock().unwrap().get(&(request.chunk, n)).copied();
            tokio::time::sleep(Duration::from_millis(20)).await;
            let outcome = match step {
                Some(Script::Throttle) => Outcome::Throttled("Rate Exceeded".into()),
                Some(Script::Fail(kind)) => Outcome::Failed { kind, message: format!("scripted {kind:?}") },
                Some(Script::Hang) => std::future::pending().await,
                None => {
                    let frames = request.frames.len(1);
                    Outcome::Rendered(RenderResponse {
                        chunk: request.chunk,
                        attempt: request.attempt,
                        key: request.chunk_key.clone(),
                        size_bytes: 10,
                        frames,
                        frame_milliseconds: vec![5; frames as usize],
                        duration_ms: 100,
                        phases: Default::default(),
                        progress_writes: 0,
                    })
                }
            };
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            Invoked { outcome, billed_milliseconds: Some(100) }
        }
    }

    fn progress() -> ProgressWriter {
        // A client that is never used for a request: the scheduler only updates the document.
        let config = aws_sdk_s3::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .build();
        let shape = FunctionShape {
            region: "us-east-1".into(),
            architecture: Architecture::X86_64,
            memory_mb: 2048,
            disk_mb: 2048,
        };
        ProgressWriter::new("r", shape, aws_sdk_s3::Client::from_conf(config), "b", "renders/r/progress.json")
    }

    fn request(index: u32, frames: FrameSpan, attempt: u32) -> RenderRequest {
        serde_json::from_value(serde_json::json!({
            "protocolVersion": 1, "renderId": "r", "bucket": "b",
            "site": {"serveUrl": "http://x/index.html"},
            "composition": {"id": "C", "width": 64, "height": 64, "fps": 30.0, "durationInFrames": 100},
            "inputProps": SerializedProps::empty(), "resolvedProps": SerializedProps::empty(),
            "encoding": {"codec": "h264"}, "chunk": index, "frames": frames, "attempt": attempt,
            "timeoutMs": 1000, "chunkKey": format!("renders/r/chunks/{index:06}.ts"),
            "timingsKey": format!("renders/r/timings/{index:06}.json"),
        }))
        .unwrap()
    }

    fn spans(chunks: u64, frames_each: u64) -> Vec<FrameSpan> {
        (0..chunks).map(|i| FrameSpan { start: i * frames_each, end: (i + 1) * frames_each - 1 }).collect()
    }

    async fn run(
        invoker: Arc<FakeInvoker>,
        spans: &[FrameSpan],
        limits: Limits,
        cancel: watch::Receiver<bool>,
    ) -> (Result<(), ScheduleError>, Vec<u32>, ProgressWriter) {
        let progress = progress();
        let mut done = Vec::new();
        let result = run_chunks(invoker, Plan { spans, every_nth_frame: 1 }, limits, request, &progress, cancel, |c| {
            done.push(c.index)
        })
        .await;
        (result, done, progress)
    }

    fn limits(max_concurrency: u32, max_retries: u32) -> Limits {
        Limits { max_concurrency, max_retries, function_timeout: Duration::from_secs(60) }
    }

    #[tokio::test(start_paused = true)]
    async fn every_chunk_runs_once_within_the_concurrency_bound() {
        let invoker = FakeInvoker::new(&[]);
        let (_keep, cancel) = watch::channel(false);
        let (result, mut done, progress) = run(invoker.clone(), &spans(50, 4), limits(7, 1), cancel).await;
        result.unwrap();
        done.sort();
        assert_eq!(done, (0..50).collect::<Vec<_>>());
        assert!(invoker.max_in_flight.load(Ordering::SeqCst) <= 7);
        assert_eq!(invoker.max_in_flight.load(Ordering::SeqCst), 7);
        let state = progress.lock();
        assert_eq!((state.doc.chunks_done, state.doc.frames_rendered, state.doc.retries), (50, 200, 0));
        assert_eq!(state.renderers.invocations, 50);
    }

    #[tokio::test(start_paused = true)]
    async fn throttling_is_waited_out_and_never_fails_the_render() {
        let script: Vec<_> = (1..=6).map(|n| ((2, n), Script::Throttle)).collect();
        let invoker = FakeInvoker::new(&script);
        let (_keep, cancel) = watch::channel(false);
        let (result, done, progress) = run(invoker.clone(), &spans(4, 5), limits(4, 0), cancel).await;
        result.unwrap();
        assert_eq!(done.len(), 4);
        assert_eq!(invoker.calls.lock().unwrap()[&2], 7);
        let state = progress.lock();
        assert_eq!(state.doc.error_count, 0, "throttles are not errors");
        assert_eq!(state.renderers.invocations, 4, "throttled invocations did not run and are not billed");
    }

    #[tokio::test(start_paused = true)]
    async fn retriable_failures_are_retried_up_to_max_retries() {
        let invoker = FakeInvoker::new(&[((1, 1), Script::Fail(ErrorKind::BrowserCrashed))]);
        let (_keep, cancel) = watch::channel(false);
        let (result, done, progress) = run(invoker.clone(), &spans(3, 5), limits(2, 1), cancel).await;
        result.unwrap();
        assert_eq!(done.len(), 3);
        {
            let state = progress.lock();
            assert_eq!((state.doc.retries, state.doc.error_count), (1, 1));
            assert!(state.doc.errors[0].will_retry);
            assert_eq!(state.doc.errors[0].chunk, Some(1));
        }

        let twice = [((0, 1), Script::Fail(ErrorKind::Network)), ((0, 2), Script::Fail(ErrorKind::Network))];
        let (_keep, cancel) = watch::channel(false);
        let (result, _, _) = run(FakeInvoker::new(&twice), &spans(3, 5), limits(2, 1), cancel).await;
        match result {
            Err(ScheduleError::ChunkFailed { index: 0, attempt: 2, kind: ErrorKind::Network, .. }) => {}
            other => panic!("expected chunk 0 to fail on attempt 2, got {other:?}"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_error_of_the_input_is_not_retried() {
        let invoker = FakeInvoker::new(&[((2, 1), Script::Fail(ErrorKind::PageError))]);
        let (_keep, cancel) = watch::channel(false);
        let (result, _, progress) = run(invoker.clone(), &spans(6, 5), limits(1, 3), cancel).await;
        assert!(matches!(result, Err(ScheduleError::ChunkFailed { index: 2, attempt: 1, .. })), "{result:?}");
        assert_eq!(invoker.calls.lock().unwrap().get(&3), None, "no chunk started after the failure");
        assert!(!progress.lock().doc.errors[0].will_retry);
    }

    #[tokio::test(start_paused = true)]
    async fn a_hung_chunk_is_cut_off_at_its_deadline_and_retried() {
        let invoker = FakeInvoker::new(&[((0, 1), Script::Hang)]);
        let (_keep, cancel) = watch::channel(false);
        let limits = Limits { max_concurrency: 2, max_retries: 1, function_timeout: Duration::from_secs(30) };
        let (result, done, progress) = run(invoker.clone(), &spans(2, 5), limits, cancel).await;
        result.unwrap();
        assert_eq!(done.len(), 2);
        let state = progress.lock();
        assert_eq!(state.doc.retries, 1);
        assert!(state.doc.errors[0].message.contains("deadline"), "{:?}", state.doc.errors);
        // The cut-off invocation is billed for the function's whole timeout.
        assert!(state.renderers.billed_milliseconds >= 30_000);
    }

    #[tokio::test(start_paused = true)]
    async fn cancellation_stops_the_chunks() {
        let script: Vec<_> = (0..10).map(|i| ((i, 1), Script::Hang)).collect();
        let invoker = FakeInvoker::new(&script);
        let (cancel_tx, cancel) = watch::channel(false);
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(3)).await;
            cancel_tx.send(true).unwrap();
        });
        let (result, done, _) = run(invoker, &spans(10, 5), limits(4, 1), cancel).await;
        assert!(matches!(result, Err(ScheduleError::Cancelled)));
        assert!(done.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_renderer_that_saw_the_cancel_first_cancels_the_render() {
        // The renderer polls the cancel object too and may notice it before the launch does.
        let invoker = FakeInvoker::new(&[((1, 1), Script::Fail(ErrorKind::Cancelled))]);
        let (_keep, cancel) = watch::channel(false);
        let (result, _, progress) = run(invoker, &spans(3, 5), limits(3, 2), cancel).await;
        assert!(matches!(result, Err(ScheduleError::Cancelled)), "{result:?}");
        assert_eq!(progress.lock().doc.error_count, 0, "a cancel is not a chunk error");
    }
}
