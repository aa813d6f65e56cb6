//! Running every chunk to completion on two lanes: remote invocations of the render function,
//! in a window bounded by the render's share of the function's capacity (which may change, and
//! may be 0) that backs off when Lambda throttles; and the orchestrator's own process, one
//! chunk at a time, taking whatever the remote lane cannot start now. Failed chunks are
//! retried with backoff on either lane, deadlines cut off hung chunks, and everything stops on
//! cancellation or on a failure that retrying cannot fix.

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

/// Limits of one render's chunks.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Retries of a failed chunk (Remotion's `maxRetries`: 1 means two attempts).
    pub max_retries: u32,
    /// The render function's timeout (Lambda stops a chunk there).
    pub function_timeout: Duration,
}

/// Where chunks run.
pub struct Lanes<R, L> {
    /// Invokes the render function.
    pub remote: Arc<R>,
    /// Remote chunks in flight at once, at most; it may change while the chunks run (a smaller
    /// value starts fewer, it never stops a running chunk) and may be 0.
    pub remote_cap: watch::Receiver<u32>,
    /// Renders in this process, one chunk at a time. Without it the remote lane keeps at least
    /// one chunk in flight whatever its cap, or nothing would run.
    pub local: Option<Arc<L>>,
}

/// The lane a chunk ran on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lane {
    /// An invocation of the render function of its own.
    Remote,
    /// The orchestrator's own process.
    Local,
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
    /// Where it was rendered.
    pub lane: Lane,
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
    /// Backoff after a failure: neither lane starts the chunk before.
    not_before: Instant,
    /// Backoff after Lambda throttled it: only the remote lane waits for this.
    remote_not_before: Instant,
}

impl Pending {
    fn ready(&self, lane: Lane, now: Instant) -> bool {
        match lane {
            Lane::Remote => self.not_before.max(self.remote_not_before) <= now,
            Lane::Local => self.not_before <= now,
        }
    }

    fn ready_at(&self, lane: Lane) -> Instant {
        match lane {
            Lane::Remote => self.not_before.max(self.remote_not_before),
            Lane::Local => self.not_before,
        }
    }
}

/// A lane's invoker, for one chunk.
enum Runner<R, L> {
    Remote(Arc<R>),
    Local(Arc<L>),
}

impl<R: ChunkInvoker, L: ChunkInvoker> Runner<R, L> {
    fn lane(&self) -> Lane {
        match self {
            Self::Remote(_) => Lane::Remote,
            Self::Local(_) => Lane::Local,
        }
    }

    async fn invoke(self, payload: RenderRequest) -> Invoked {
        match self {
            Self::Remote(remote) => remote.invoke(payload).await,
            Self::Local(local) => local.invoke(payload).await,
        }
    }
}

struct Finished {
    index: u32,
    attempt: u32,
    throttles: u32,
    lane: Lane,
    invoked: Invoked,
    wall: Duration,
}

/// The remote window: the cap it may reach and how far it is open now.
struct Window {
    /// The cap, as last read.
    max: usize,
    /// Remote chunks that may be in flight now (below `max` for a while after throttling).
    open: usize,
    /// At least one remote chunk whatever the cap (no local lane to run chunks otherwise).
    at_least_one: bool,
}

impl Window {
    fn new(cap: u32, at_least_one: bool) -> Self {
        let max = Self::effective(cap, at_least_one);
        Self { max, open: max, at_least_one }
    }

    fn effective(cap: u32, at_least_one: bool) -> usize {
        let cap = cap as usize;
        if at_least_one { cap.max(1) } else { cap }
    }

    /// The cap as read now: a window that was fully open opens to a new cap; one still
    /// narrowed by throttling stays narrowed (and recovers towards the cap as chunks succeed).
    /// The same cap again changes nothing.
    fn set_cap(&mut self, cap: u32) {
        let max = Self::effective(cap, self.at_least_one);
        self.open = if self.open >= self.max { max } else { self.open.min(max) };
        self.max = max;
    }

    fn throttled(&mut self, remote_running: usize) {
        self.open = (remote_running / 2).max(1).min(self.max);
    }

    fn succeeded(&mut self) {
        self.open = (self.open + 1).min(self.max);
    }
}

/// Runs `spans` as chunks on `lanes`, calling `on_done` for each finished chunk (in completion
/// order). `request` builds the payload of chunk `index` at `attempt`; it is the same whichever
/// lane runs the chunk, so a chunk lands at one key.
pub async fn run_chunks<R: ChunkInvoker, L: ChunkInvoker>(
    lanes: Lanes<R, L>,
    plan: Plan<'_>,
    limits: Limits,
    request: impl Fn(u32, FrameSpan, u32) -> RenderRequest,
    progress: &ProgressWriter,
    cancel: watch::Receiver<bool>,
    mut on_done: impl FnMut(ChunkDone),
) -> Result<(), ScheduleError> {
    let Lanes { remote, mut remote_cap, local } = lanes;
    let Plan { spans, every_nth_frame } = plan;
    let mut window = Window::new(*remote_cap.borrow_and_update(), local.is_none());
    let mut cap_open = true;
    let mut last_throttle_cut: Option<Instant> = None;
    let mut deadlines = Deadlines::new(limits.function_timeout);
    let now = Instant::now();
    let mut queue: VecDeque<Pending> = (0..spans.len() as u32)
        .map(|index| Pending { index, attempt: 1, throttles: 0, not_before: now, remote_not_before: now })
        .collect();
    let mut running: JoinSet<Finished> = JoinSet::new();
    let mut remote_running = 0usize;
    let mut local_running = false;
    // When each remote chunk started, to bill the time of those still running at a stop.
    let mut started_at: HashMap<u32, Instant> = HashMap::new();

    let result = loop {
        window.set_cap(*remote_cap.borrow_and_update());
        // Start what the lanes allow, ready chunks first (retries wait for their backoff). The
        // remote lane fills its window first; the local lane takes the next chunk, which may be
        // one that the remote lane would only start after its throttle backoff.
        let now = Instant::now();
        let start = |runner: Runner<R, L>, pending: Pending, running: &mut JoinSet<Finished>| {
            let span = spans[pending.index as usize];
            let payload = request(pending.index, span, pending.attempt);
            progress.lock().chunks.started(pending.index, span.len(every_nth_frame), payload.progress_key.clone());
            let deadline = deadlines.for_chunk(span.len(every_nth_frame));
            let function_timeout = limits.function_timeout;
            let lane = runner.lane();
            running.spawn(async move {
                let t = Instant::now();
                let invoked = tokio::time::timeout(deadline, runner.invoke(payload)).await;
                let invoked = invoked.unwrap_or_else(|_| Invoked {
                    outcome: Outcome::Failed {
                        kind: ErrorKind::Invocation,
                        message: format!(
                            "no answer within its deadline of {} s; cut off and retried",
                            deadline.as_secs()
                        ),
                    },
                    // Lambda keeps running (and billing) a hung invocation until the function's
                    // timeout: count all of it rather than under-report the cost. A local chunk
                    // stops when cut off, within the orchestrator's own billed time.
                    billed_milliseconds: (lane == Lane::Remote).then_some(function_timeout.as_millis() as u64),
                });
                Finished {
                    index: pending.index,
                    attempt: pending.attempt,
                    throttles: pending.throttles,
                    lane,
                    invoked,
                    wall: t.elapsed(),
                }
            });
        };
        while remote_running < window.open {
            let Some(position) = queue.iter().position(|p| p.ready(Lane::Remote, now)) else { break };
            let pending = queue.remove(position).expect("position is in the queue");
            started_at.insert(pending.index, Instant::now());
            start(Runner::Remote(remote.clone()), pending, &mut running);
            remote_running += 1;
        }
        if !local_running
            && let Some(local) = &local
            && let Some(position) = queue.iter().position(|p| p.ready(Lane::Local, now))
        {
            let pending = queue.remove(position).expect("position is in the queue");
            start(Runner::Local(local.clone()), pending, &mut running);
            local_running = true;
        }
        if running.is_empty() && queue.is_empty() {
            break Ok(());
        }
        // The next time a lane with room could start a waiting chunk.
        let remote_next =
            (remote_running < window.open).then(|| queue.iter().map(|p| p.ready_at(Lane::Remote)).min()).flatten();
        let local_next =
            (local.is_some() && !local_running).then(|| queue.iter().map(|p| p.ready_at(Lane::Local)).min()).flatten();
        let next_ready = remote_next.into_iter().chain(local_next).min();

        let finished = tokio::select! {
            biased;
            () = cancelled(cancel.clone()) => break Err(ScheduleError::Cancelled),
            Some(joined) = running.join_next(), if !running.is_empty() => joined,
            changed = remote_cap.changed(), if cap_open => {
                // The cap's sender gone: the cap stays as it is.
                cap_open = changed.is_ok();
                continue;
            }
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
        let lane = finished.lane;
        match lane {
            Lane::Remote => {
                remote_running -= 1;
                started_at.remove(&finished.index);
            }
            Lane::Local => local_running = false,
        }
        // Until it is found finished below, this attempt's progress is read no more.
        progress.lock().chunks.stopped(finished.index);
        let span = spans[finished.index as usize];
        let wall_ms = remotion_protocol::pricing::billed_milliseconds_from_duration(finished.wall);
        // A remote chunk is an invocation billed of its own; a local one is the orchestrator's
        // time, which the progress document bills already.
        let bill = |progress: &ProgressWriter| {
            if lane == Lane::Remote {
                progress.lock().renderers.record(finished.invoked.billed_milliseconds.unwrap_or(wall_ms));
            }
        };
        let failure = match finished.invoked.outcome {
            Outcome::Rendered(answer) => {
                let expected = span.len(every_nth_frame);
                if answer.frames == expected && answer.chunk == finished.index {
                    let frame_ms_sum: u64 = answer.frame_milliseconds.iter().map(|&m| u64::from(m)).sum();
                    deadlines.record(answer.frames, finished.wall, frame_ms_sum);
                    bill(progress);
                    {
                        let mut state = progress.lock();
                        // The renderer wrote its chunk, its timings and its progress.
                        state.s3.write_requests += 2 + answer.progress_writes;
                        state.doc.chunks_done += 1;
                        if lane == Lane::Local {
                            state.doc.chunks_rendered_locally += 1;
                        }
                        state.chunks.done(finished.index, answer.frames);
                        state.count_frames();
                    }
                    if lane == Lane::Remote {
                        window.succeeded();
                    }
                    on_done(ChunkDone { index: finished.index, span, answer, wall: finished.wall, lane });
                    continue;
                }
                // A chunk must hold exactly its frames, or the output would skip or repeat some.
                bill(progress);
                (
                    ErrorKind::Invocation,
                    format!(
                        "the renderer answered for chunk {} with {} frames; expected chunk {} with {expected}",
                        answer.chunk, answer.frames, finished.index
                    ),
                )
            }
            Outcome::Throttled(message) => {
                // Not a failure: wait and try again, and run fewer remote chunks at once for a
                // while. Meanwhile the local lane may take the chunk.
                let throttles = finished.throttles + 1;
                let until = Instant::now() + backoff(throttles, Duration::from_secs(30));
                let mut pending = Pending {
                    index: finished.index,
                    attempt: finished.attempt,
                    throttles,
                    not_before: Instant::now(),
                    remote_not_before: Instant::now(),
                };
                match lane {
                    Lane::Remote => {
                        if last_throttle_cut.is_none_or(|t| t.elapsed() > Duration::from_secs(1)) {
                            window.throttled(remote_running);
                            last_throttle_cut = Some(Instant::now());
                        }
                        pending.remote_not_before = until;
                    }
                    Lane::Local => pending.not_before = until,
                }
                tracing::info!(chunk = finished.index, throttles, window = window.open, "throttled: {message}");
                queue.push_front(pending);
                continue;
            }
            Outcome::Failed { kind, message } => {
                bill(progress);
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
        let not_before = Instant::now() + backoff(finished.attempt, Duration::from_secs(8));
        queue.push_front(Pending {
            index: finished.index,
            attempt: finished.attempt + 1,
            throttles: 0,
            not_before,
            remote_not_before: not_before,
        });
    };

    // Chunks still running are abandoned (renderers stop on the cancel object, a local chunk
    // when its invocation is dropped; a failed render's leftovers are cleaned up by the
    // caller). Count the time the remote ones ran so far. Waiting for the aborted tasks makes
    // sure every local chunk has been told to stop before the caller goes on.
    if !running.is_empty() {
        running.abort_all();
        {
            let mut state = progress.lock();
            for t in started_at.values() {
                state.renderers.record(remotion_protocol::pricing::billed_milliseconds_from_duration(t.elapsed()));
            }
        }
        while running.join_next().await.is_some() {}
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
    use std::collections::HashSet;
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

    /// Chunks running on any lane, shared by the fakes of one run: a chunk must never run on
    /// two at once.
    #[derive(Default)]
    struct Busy {
        chunks: Mutex<HashSet<u32>>,
        overlaps: Mutex<Vec<u32>>,
    }

    struct FakeInvoker {
        script: Mutex<HashMap<(u32, u32), Script>>,
        calls: Mutex<HashMap<u32, u32>>,
        in_flight: AtomicU32,
        max_in_flight: AtomicU32,
        /// Chunks this invoker rendered, in the order it did.
        rendered: Mutex<Vec<u32>>,
        /// Time of each start and the invocations in flight with it.
        starts: Mutex<Vec<(Instant, u32)>>,
        busy: Arc<Busy>,
        /// How long each invocation takes.
        delay: Duration,
    }

    impl FakeInvoker {
        fn new(script: &[((u32, u32), Script)]) -> Arc<Self> {
            Self::sharing(script, Arc::default(), Duration::from_millis(20))
        }

        fn sharing(script: &[((u32, u32), Script)], busy: Arc<Busy>, delay: Duration) -> Arc<Self> {
            Arc::new(Self {
                script: Mutex::new(script.iter().copied().collect()),
                calls: Mutex::default(),
                in_flight: AtomicU32::new(0),
                max_in_flight: AtomicU32::new(0),
                rendered: Mutex::default(),
                starts: Mutex::default(),
                busy,
                delay,
            })
        }

        fn calls(&self) -> u32 {
            self.calls.lock().unwrap().values().sum()
        }
    }

    /// Leaves the shared record of running chunks when the invocation ends or is dropped.
    struct Running<'a>(&'a Busy, u32);

    impl Drop for Running<'_> {
        fn drop(&mut self) {
            self.0.chunks.lock().unwrap().remove(&self.1);
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
            if !self.busy.chunks.lock().unwrap().insert(request.chunk) {
                self.busy.overlaps.lock().unwrap().push(request.chunk);
            }
            let _running = Running(&self.busy, request.chunk);
            let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            self.max_in_flight.fetch_max(now, Ordering::SeqCst);
            self.starts.lock().unwrap().push((Instant::now(), now));
            let step = self.script.lock().unwrap().get(&(request.chunk, n)).copied();
            tokio::time::sleep(self.delay).await;
            let outcome = match step {
                Some(Script::Throttle) => Outcome::Throttled("Rate Exceeded".into()),
                Some(Script::Fail(kind)) => Outcome::Failed { kind, message: format!("scripted {kind:?}") },
                Some(Script::Hang) => std::future::pending().await,
                None => {
                    self.rendered.lock().unwrap().push(request.chunk);
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

    /// A remote cap and the limits of a run.
    struct Setup {
        cap: u32,
        limits: Limits,
    }

    /// Runs the chunks on the remote lane only.
    async fn run(
        invoker: Arc<FakeInvoker>,
        spans: &[FrameSpan],
        setup: Setup,
        cancel: watch::Receiver<bool>,
    ) -> (Result<(), ScheduleError>, Vec<u32>, ProgressWriter) {
        let (_keep, cap) = watch::channel(setup.cap);
        let lanes = Lanes { remote: invoker, remote_cap: cap, local: None::<Arc<FakeInvoker>> };
        let (result, done, progress) = run_lanes(lanes, spans, setup.limits, cancel).await;
        (result, done.iter().map(|c| c.0).collect(), progress)
    }

    /// Runs the chunks on `lanes`; the chunks done with their lanes, in completion order.
    async fn run_lanes(
        lanes: Lanes<FakeInvoker, FakeInvoker>,
        spans: &[FrameSpan],
        limits: Limits,
        cancel: watch::Receiver<bool>,
    ) -> (Result<(), ScheduleError>, Vec<(u32, Lane)>, ProgressWriter) {
        let progress = progress();
        let mut done = Vec::new();
        let result = run_chunks(lanes, Plan { spans, every_nth_frame: 1 }, limits, request, &progress, cancel, |c| {
            assert_eq!(c.answer.key, format!("renders/r/chunks/{:06}.ts", c.index), "one key per chunk, either lane");
            done.push((c.index, c.lane))
        })
        .await;
        (result, done, progress)
    }

    fn limits(max_concurrency: u32, max_retries: u32) -> Setup {
        Setup { cap: max_concurrency, limits: Limits { max_retries, function_timeout: Duration::from_secs(60) } }
    }

    /// Both lanes, sharing the record of running chunks; every invocation takes 20 ms.
    fn two_lanes(
        remote_script: &[((u32, u32), Script)],
        local_script: &[((u32, u32), Script)],
        cap: watch::Receiver<u32>,
    ) -> (Lanes<FakeInvoker, FakeInvoker>, Arc<FakeInvoker>, Arc<FakeInvoker>, Arc<Busy>) {
        two_lanes_timed(remote_script, local_script, cap, Duration::from_millis(20))
    }

    /// Both lanes, local chunks taking `local_delay`.
    fn two_lanes_timed(
        remote_script: &[((u32, u32), Script)],
        local_script: &[((u32, u32), Script)],
        cap: watch::Receiver<u32>,
        local_delay: Duration,
    ) -> (Lanes<FakeInvoker, FakeInvoker>, Arc<FakeInvoker>, Arc<FakeInvoker>, Arc<Busy>) {
        let busy = Arc::new(Busy::default());
        let remote = FakeInvoker::sharing(remote_script, busy.clone(), Duration::from_millis(20));
        let local = FakeInvoker::sharing(local_script, busy.clone(), local_delay);
        let lanes = Lanes { remote: remote.clone(), remote_cap: cap, local: Some(local.clone()) };
        (lanes, remote, local, busy)
    }

    /// Every chunk of `0..chunks` finished exactly once.
    fn each_once(done: &[(u32, Lane)], chunks: u32) {
        let mut indices: Vec<u32> = done.iter().map(|d| d.0).collect();
        indices.sort();
        assert_eq!(indices, (0..chunks).collect::<Vec<_>>(), "each chunk completed exactly once");
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
        let limits = Setup { cap: 2, limits: Limits { max_retries: 1, function_timeout: Duration::from_secs(30) } };
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

    #[tokio::test(start_paused = true)]
    async fn with_no_remote_slots_the_orchestrator_renders_every_chunk_itself() {
        let (_keep, cap) = watch::channel(0);
        let (lanes, remote, local, busy) = two_lanes(&[], &[], cap);
        let (_keep, cancel) = watch::channel(false);
        let (result, done, progress) = run_lanes(lanes, &spans(5, 4), limits(0, 1).limits, cancel).await;
        result.unwrap();
        each_once(&done, 5);
        assert!(done.iter().all(|d| d.1 == Lane::Local), "{done:?}");
        assert_eq!(remote.calls(), 0, "no remote invocation at all");
        assert_eq!(local.max_in_flight.load(Ordering::SeqCst), 1, "one local chunk at a time");
        assert!(busy.overlaps.lock().unwrap().is_empty());
        let state = progress.lock();
        assert_eq!((state.doc.chunks_done, state.doc.chunks_rendered_locally, state.doc.frames_rendered), (5, 5, 20));
        assert_eq!(state.renderers.invocations, 0, "local chunks are the orchestrator's time, not invocations");
        assert_eq!(state.renderers.billed_milliseconds, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_throttled_remote_lane_leaves_its_chunks_to_the_local_lane_without_doubling_any() {
        // Chunk 0 is throttled on the remote lane; the local lane, done with chunk 1 at the same
        // moment, takes it at once instead of leaving it to wait out its backoff.
        let script: Vec<_> = (1..=10).map(|n| ((0, n), Script::Throttle)).collect();
        let (_keep, cap) = watch::channel(1);
        let (lanes, remote, local, _busy) = two_lanes(&script, &[], cap);
        let (_keep, cancel) = watch::channel(false);
        let t = Instant::now();
        let (result, done, _) = run_lanes(lanes, &spans(2, 5), limits(1, 0).limits, cancel).await;
        result.unwrap();
        assert_eq!(done, vec![(1, Lane::Local), (0, Lane::Local)]);
        assert_eq!(t.elapsed(), Duration::from_millis(40), "no backoff waited");
        assert_eq!((remote.calls(), local.calls()), (1, 2));

        // Every chunk is throttled three times on the remote lane before it may run there (7 s
        // of backoff); a local chunk takes 3 s, so both lanes finish some.
        let script: Vec<_> = (0..8).flat_map(|i| (1..=3).map(move |n| ((i, n), Script::Throttle))).collect();
        let (_keep, cap) = watch::channel(3);
        let (lanes, remote, local, busy) = two_lanes_timed(&script, &[], cap, Duration::from_secs(3));
        let (_keep, cancel) = watch::channel(false);
        let (result, done, progress) = run_lanes(lanes, &spans(8, 5), limits(3, 0).limits, cancel).await;
        result.unwrap();
        each_once(&done, 8);
        assert!(busy.overlaps.lock().unwrap().is_empty(), "a chunk ran on both lanes at once");
        let (remote_done, local_done) =
            (remote.rendered.lock().unwrap().clone(), local.rendered.lock().unwrap().clone());
        assert!(local_done.len() >= 2, "the local lane took chunks while the remote one waited: {local_done:?}");
        assert!(!remote_done.is_empty(), "the remote lane finished some once its throttling passed");
        assert_eq!(remote_done.len() + local_done.len(), 8, "remote {remote_done:?}, local {local_done:?}");
        assert!(remote_done.iter().all(|i| !local_done.contains(i)), "remote {remote_done:?}, local {local_done:?}");
        assert!(remote.max_in_flight.load(Ordering::SeqCst) <= 3);
        let state = progress.lock();
        assert_eq!(state.doc.error_count, 0, "throttles are not errors");
        assert_eq!(state.doc.chunks_rendered_locally, local_done.len() as u64);
        assert_eq!(state.renderers.invocations, remote_done.len() as u64, "only remote chunks that ran are billed");
        assert_eq!(state.doc.chunks_done, 8);
    }

    #[tokio::test(start_paused = true)]
    async fn the_remote_cap_holds_with_the_local_lane_beside_it() {
        let (_keep, cap) = watch::channel(3);
        let (lanes, remote, local, busy) = two_lanes(&[], &[], cap);
        let (_keep, cancel) = watch::channel(false);
        let (result, done, progress) = run_lanes(lanes, &spans(30, 4), limits(3, 0).limits, cancel).await;
        result.unwrap();
        each_once(&done, 30);
        assert_eq!(remote.max_in_flight.load(Ordering::SeqCst), 3, "the cap is reached and never passed");
        assert_eq!(local.max_in_flight.load(Ordering::SeqCst), 1);
        let local_done = local.rendered.lock().unwrap().len();
        // Equally fast lanes: the local one renders about a quarter of the chunks.
        assert!((5..=10).contains(&local_done), "{local_done} chunks rendered locally");
        assert!(busy.overlaps.lock().unwrap().is_empty());
        let state = progress.lock();
        assert_eq!((state.doc.chunks_done, state.doc.chunks_rendered_locally), (30, local_done as u64));
        assert_eq!(state.renderers.invocations, 30 - local_done as u64);
    }

    #[tokio::test(start_paused = true)]
    async fn a_local_failure_is_retried_like_a_remote_one() {
        let (_keep, cap) = watch::channel(0);
        let (lanes, _remote, local, _busy) = two_lanes(&[], &[((1, 1), Script::Fail(ErrorKind::BrowserCrashed))], cap);
        let (_keep, cancel) = watch::channel(false);
        let (result, done, progress) = run_lanes(lanes, &spans(3, 5), limits(0, 1).limits, cancel).await;
        result.unwrap();
        each_once(&done, 3);
        assert_eq!(local.calls.lock().unwrap()[&1], 2);
        {
            let state = progress.lock();
            assert_eq!((state.doc.retries, state.doc.error_count, state.doc.chunks_rendered_locally), (1, 1, 3));
            assert!(state.doc.errors[0].will_retry);
            assert_eq!((state.doc.errors[0].chunk, state.doc.errors[0].attempt), (Some(1), Some(1)));
            assert_eq!(state.renderers.invocations, 0, "a failed local chunk bills nothing of its own either");
        }

        // A failure retrying cannot fix ends the render, as on the remote lane.
        let (_keep, cap) = watch::channel(0);
        let (lanes, ..) = two_lanes(&[], &[((0, 1), Script::Fail(ErrorKind::PageError))], cap);
        let (_keep, cancel) = watch::channel(false);
        let (result, _, _) = run_lanes(lanes, &spans(3, 5), limits(0, 3).limits, cancel).await;
        assert!(matches!(result, Err(ScheduleError::ChunkFailed { index: 0, attempt: 1, .. })), "{result:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_hung_local_chunk_is_cut_off_and_retried_without_billing_the_function_timeout() {
        let (_keep, cap) = watch::channel(0);
        let (lanes, _remote, local, _busy) = two_lanes(&[], &[((0, 1), Script::Hang)], cap);
        let (_keep, cancel) = watch::channel(false);
        let limits = Limits { max_retries: 1, function_timeout: Duration::from_secs(30) };
        let (result, done, progress) = run_lanes(lanes, &spans(2, 5), limits, cancel).await;
        result.unwrap();
        each_once(&done, 2);
        assert_eq!(local.calls.lock().unwrap()[&0], 2);
        let state = progress.lock();
        assert!(state.doc.errors[0].message.contains("deadline"), "{:?}", state.doc.errors);
        assert_eq!(state.renderers.billed_milliseconds, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn the_remote_window_follows_the_cap_as_it_changes() {
        let (cap_tx, cap) = watch::channel(2);
        let (lanes, remote, local, busy) = two_lanes(&[], &[], cap);
        let t0 = Instant::now();
        // Chunks take 20 ms: each phase below sees many start. The changes fall between the
        // moments chunks end, so that no start coincides with one.
        tokio::spawn(async move {
            tokio::time::sleep_until(t0 + Duration::from_millis(205)).await;
            cap_tx.send(6).unwrap();
            tokio::time::sleep_until(t0 + Duration::from_millis(407)).await;
            cap_tx.send(1).unwrap();
            tokio::time::sleep_until(t0 + Duration::from_millis(611)).await;
            cap_tx.send(0).unwrap();
            // Held until the render ends: a gone sender would just freeze the cap.
            std::future::pending::<()>().await;
        });
        let (_keep, cancel) = watch::channel(false);
        let (result, done, progress) = run_lanes(lanes, &spans(200, 2), limits(2, 0).limits, cancel).await;
        result.unwrap();
        each_once(&done, 200);
        assert!(busy.overlaps.lock().unwrap().is_empty());
        let starts = remote.starts.lock().unwrap().clone();
        let phase = |from: u64, to: u64| -> Vec<u32> {
            let (from, to) = (t0 + Duration::from_millis(from), t0 + Duration::from_millis(to));
            starts.iter().filter(|(t, _)| *t >= from && *t < to).map(|s| s.1).collect()
        };
        let most = |v: &[u32]| v.iter().copied().max().unwrap_or(0);
        let first = phase(0, 205);
        assert_eq!(most(&first), 2, "cap 2: {first:?}");
        let grown = phase(205, 407);
        assert_eq!(most(&grown), 6, "cap 6: {grown:?}");
        // Running chunks are never stopped: after the cut, the window only starts fewer.
        let shrunk = phase(407, 611);
        assert!(!shrunk.is_empty() && shrunk.iter().all(|&n| n == 1), "cap 1: {shrunk:?}");
        assert!(phase(611, 3_600_000).is_empty(), "cap 0: nothing started remotely");
        let (remote_done, local_done) = (remote.rendered.lock().unwrap().len(), local.rendered.lock().unwrap().len());
        assert_eq!((remote.calls() + local.calls(), remote_done + local_done), (200, 200), "no chunk ran twice");
        assert_eq!(remote_done, starts.len());
        let state = progress.lock();
        assert_eq!(state.doc.error_count, 0, "no chunk was cut off by the changes");
        assert_eq!((state.doc.chunks_done, state.doc.chunks_rendered_locally), (200, local_done as u64));
    }
}
