//! Running every chunk to completion on two lanes: remote invocations of the render function,
//! in a window bounded by the render's share of the function's capacity (which may change, and
//! may be 0) that backs off when Lambda throttles; and the orchestrator's own process, one
//! chunk at a time, taking whatever the remote lane cannot start now. Failed chunks are
//! retried with backoff on either lane, deadlines cut off hung chunks, and everything stops on
//! cancellation or on a failure that retrying cannot fix. An invocation that brought no
//! answer from the function (Lambda's or a gateway's 5xx, a dropped connection) is tried
//! again on a budget of its own ([`UNANSWERED_RETRIES`]) before it counts as a failed attempt:
//! it says nothing of the chunk.
//!
//! A render longer than the function's timeout runs in several invocations of the orchestrator.
//! At its hand-over time an invocation stops and says where the chunks stand ([`Standing`]);
//! the next one starts from there, following the remote chunks still running (their
//! invocations outlive the orchestrator's) instead of invoking them again.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use remotion_protocol::payload::{ErrorKind, FrameSpan, RenderRequest, RenderResponse};
use remotion_protocol::progress::{ProgressError, RemoteLane};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::task::JoinSet;
// Tokio's clock, so that tests can run hours of backoff in paused time.
use tokio::time::Instant;

pub use self::standing::{InFlight, Queued, Standing};
use super::backoff::backoff;
use super::cancel::cancelled;
use super::deadline::Deadlines;
use super::follow::{self, ChunkFollower};
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
pub struct Lanes<R, L, F> {
    /// Invokes the render function.
    pub remote: Arc<R>,
    /// Remote chunks in flight at once, at most; it may change while the chunks run (a smaller
    /// value starts fewer, it never stops a running chunk) and may be 0.
    pub remote_cap: watch::Receiver<u32>,
    /// Renders in this process, one chunk at a time. Without it the remote lane keeps at least
    /// one chunk in flight whatever its cap, or nothing would run.
    pub local: Option<Arc<L>>,
    /// Follows the remote chunks an earlier invocation of the orchestrator left running
    /// ([`Standing::in_flight`]).
    pub follow: Arc<F>,
}

/// The lane a chunk ran on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Lane {
    /// An invocation of the render function of its own.
    Remote,
    /// The orchestrator's own process.
    Local,
}

/// The chunks of a render, and where they stand as this invocation of the orchestrator starts.
#[derive(Clone, Debug)]
pub struct Plan<'a> {
    /// Frames of each chunk, by index.
    pub spans: &'a [FrameSpan],
    /// Step between selected frames.
    pub every_nth_frame: u32,
    /// The chunks not finished yet.
    pub standing: Standing,
    /// The chunks earlier invocations finished: their times teach the deadlines.
    pub finished: &'a [ChunkDone],
}

/// A chunk that finished.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
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

/// What ends the chunks before they are all done.
#[derive(Clone, Debug)]
pub struct Stop {
    /// Turns true when the render is cancelled.
    pub cancel: watch::Receiver<bool>,
    /// When this invocation hands the render over to the next (none: the chunks run to the end).
    pub hand_over_at: Option<Instant>,
}

/// How the chunks ended, short of a failure.
#[derive(Debug, PartialEq, Eq)]
pub enum Scheduled {
    /// Every chunk finished.
    Finished,
    /// The hand-over time came first: where the unfinished chunks stand.
    HandedOver(Standing),
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

/// Invocations of one chunk in a row that may bring no answer from the function before the
/// attempt counts as failed. With [`backoff`] they span about 20 s: an outage longer than that
/// is a failure of the attempt (and the local lane meanwhile takes the chunk if it is free).
pub const UNANSWERED_RETRIES: u32 = 5;

#[derive(Clone, Copy, Debug)]
struct Pending {
    index: u32,
    attempt: u32,
    throttles: u32,
    /// Invocations of this attempt in a row that brought no answer.
    unanswered: u32,
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
enum Runner<R, L, F> {
    Remote(Arc<R>),
    Local(Arc<L>),
    /// A remote chunk invoked by an earlier invocation of the orchestrator, at this time (ms
    /// since the Unix epoch).
    Follow(Arc<F>, u64),
}

impl<R: ChunkInvoker, L: ChunkInvoker, F: ChunkFollower> Runner<R, L, F> {
    fn lane(&self) -> Lane {
        match self {
            Self::Remote(_) | Self::Follow(..) => Lane::Remote,
            Self::Local(_) => Lane::Local,
        }
    }

    async fn invoke(self, payload: RenderRequest) -> Invoked {
        match self {
            Self::Remote(remote) => remote.invoke(payload).await,
            Self::Local(local) => local.invoke(payload).await,
            Self::Follow(follow, started_at_ms) => follow.follow(payload, started_at_ms).await,
        }
    }
}

struct Finished {
    index: u32,
    attempt: u32,
    throttles: u32,
    unanswered: u32,
    lane: Lane,
    invoked: Invoked,
    wall: Duration,
}

/// A chunk running now.
#[derive(Clone, Copy, Debug)]
struct Running {
    lane: Lane,
    attempt: u32,
    /// When its invocation began (a followed chunk's: in an earlier invocation).
    at: Instant,
    /// How long it may run from then.
    deadline: Duration,
}

/// Why the loop over the chunks ended.
enum Exit {
    Finished,
    HandOver,
    Failed(ScheduleError),
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

/// Runs the chunks of `plan` on `lanes`, calling `on_done` for each finished chunk (in
/// completion order), until they are all done or `stop` says to stop. `request` builds the
/// payload of chunk `index` at `attempt`; it is the same whichever lane runs the chunk, so a
/// chunk lands at one key.
pub async fn run_chunks<R: ChunkInvoker, L: ChunkInvoker, F: ChunkFollower>(
    lanes: Lanes<R, L, F>,
    plan: Plan<'_>,
    limits: Limits,
    request: impl Fn(u32, FrameSpan, u32) -> RenderRequest,
    progress: &ProgressWriter,
    stop: Stop,
    mut on_done: impl FnMut(ChunkDone),
) -> Result<Scheduled, ScheduleError> {
    let Lanes { remote, mut remote_cap, local, follow } = lanes;
    let Plan { spans, every_nth_frame, standing, finished: earlier } = plan;
    let Stop { cancel, hand_over_at } = stop;
    let frames_of = |index: u32| spans[index as usize].len(every_nth_frame);
    let mut window = Window::new(*remote_cap.borrow_and_update(), local.is_none());
    let mut cap_open = true;
    let mut last_throttle_cut: Option<Instant> = None;
    let mut deadlines = Deadlines::new(limits.function_timeout);
    for chunk in earlier {
        deadlines.record(chunk.answer.frames, chunk.wall, frame_ms_sum(&chunk.answer));
    }
    let now = Instant::now();
    let mut queue: VecDeque<Pending> = standing
        .pending
        .iter()
        .map(|q| Pending {
            index: q.index,
            attempt: q.attempt,
            throttles: 0,
            unanswered: 0,
            not_before: now,
            remote_not_before: now,
        })
        .collect();
    let mut running: JoinSet<Finished> = JoinSet::new();
    // What runs, by chunk: its lane, and when it started (to bill the remote chunks still
    // running at a stop, and to hand them over).
    let mut started: HashMap<u32, Running> = HashMap::new();
    let mut remote_running = 0usize;
    let mut local_running = false;

    // Starts a chunk on `runner`, begun at `at`, cut off `deadline` after it.
    let start = |runner: Runner<R, L, F>,
                 pending: Pending,
                 at: Instant,
                 deadline: Duration,
                 running: &mut JoinSet<Finished>| {
        let span = spans[pending.index as usize];
        let payload = request(pending.index, span, pending.attempt);
        progress.lock().chunks.started(pending.index, span.len(every_nth_frame), payload.progress_key.clone());
        let function_timeout = limits.function_timeout;
        let lane = runner.lane();
        let followed = matches!(runner, Runner::Follow(..));
        // A chunk followed past its deadline (this invocation started late) is looked for once
        // before it is given up.
        let cut_off =
            if followed { (at + deadline).max(Instant::now() + follow::POLL_INTERVAL) } else { at + deadline };
        running.spawn(async move {
            let invoked = tokio::time::timeout_at(cut_off, runner.invoke(payload)).await;
            let invoked = invoked.unwrap_or_else(|_| Invoked {
                outcome: match followed {
                    true => follow::missed(deadline),
                    false => Outcome::Failed {
                        kind: ErrorKind::Invocation,
                        message: format!(
                            "no answer within its deadline of {} s; cut off and retried",
                            deadline.as_secs()
                        ),
                    },
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
                unanswered: pending.unanswered,
                lane,
                invoked,
                wall: at.elapsed(),
            }
        });
    };

    // The remote chunks an earlier invocation left running are followed, not invoked again;
    // each holds a slot of the remote window until it ends, as its invocation holds one of the
    // function's.
    for flight in &standing.in_flight {
        let since = Duration::from_millis(now_ms().saturating_sub(flight.started_at_ms));
        let at = now.checked_sub(since).unwrap_or(now);
        let deadline = Duration::from_millis(flight.deadline_at_ms.saturating_sub(flight.started_at_ms));
        let pending = Pending {
            index: flight.index,
            attempt: flight.attempt,
            throttles: 0,
            unanswered: 0,
            not_before: now,
            remote_not_before: now,
        };
        started.insert(flight.index, Running { lane: Lane::Remote, attempt: flight.attempt, at, deadline });
        start(Runner::Follow(follow.clone(), flight.started_at_ms), pending, at, deadline, &mut running);
        remote_running += 1;
    }

    let exit = loop {
        window.set_cap(*remote_cap.borrow_and_update());
        let now = Instant::now();
        if hand_over_at.is_some_and(|at| now >= at) {
            break Exit::HandOver;
        }
        // Start what the lanes allow, ready chunks first (retries wait for their backoff). The
        // remote lane fills its window first; the local lane takes the next chunk, which may be
        // one that the remote lane would only start after its throttle backoff.
        while remote_running < window.open {
            let Some(position) = queue.iter().position(|p| p.ready(Lane::Remote, now)) else { break };
            let pending = queue.remove(position).expect("position is in the queue");
            let deadline = deadlines.for_chunk(frames_of(pending.index));
            started.insert(pending.index, Running { lane: Lane::Remote, attempt: pending.attempt, at: now, deadline });
            start(Runner::Remote(remote.clone()), pending, now, deadline, &mut running);
            remote_running += 1;
        }
        // The local lane takes a chunk only if it should finish before the hand-over: a local
        // chunk stops with this invocation and would be rendered again from its first frame.
        // (Remote chunks run on past the hand-over.) Until chunks have finished there is no
        // telling, and it takes one.
        let fits_locally = |p: &Pending, from: Instant| {
            hand_over_at.is_none_or(|end| deadlines.predict(frames_of(p.index)).is_none_or(|d| from + d <= end))
        };
        if !local_running
            && let Some(local) = &local
            && let Some(position) = queue.iter().position(|p| p.ready(Lane::Local, now) && fits_locally(p, now))
        {
            let pending = queue.remove(position).expect("position is in the queue");
            let deadline = deadlines.for_chunk(frames_of(pending.index));
            started.insert(pending.index, Running { lane: Lane::Local, attempt: pending.attempt, at: now, deadline });
            start(Runner::Local(local.clone()), pending, now, deadline, &mut running);
            local_running = true;
        }
        // What the operator waits to see before it gives slots taken from this render to
        // another.
        let lane = RemoteLane { cap: window.max as u32, running: remote_running as u32 };
        progress.lock().doc.remote_lane = Some(lane);
        if running.is_empty() && queue.is_empty() {
            break Exit::Finished;
        }
        // The next time a lane with room could start a waiting chunk.
        let remote_next =
            (remote_running < window.open).then(|| queue.iter().map(|p| p.ready_at(Lane::Remote)).min()).flatten();
        let local_next = (local.is_some() && !local_running)
            .then(|| {
                queue
                    .iter()
                    .filter(|p| fits_locally(p, p.ready_at(Lane::Local).max(now)))
                    .map(|p| p.ready_at(Lane::Local))
                    .min()
            })
            .flatten();
        let next_ready = remote_next.into_iter().chain(local_next).min();

        let finished = tokio::select! {
            biased;
            () = cancelled(cancel.clone()) => break Exit::Failed(ScheduleError::Cancelled),
            Some(joined) = running.join_next(), if !running.is_empty() => joined,
            () = tokio::time::sleep_until(hand_over_at.unwrap_or(now)), if hand_over_at.is_some() => continue,
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
                break Exit::Failed(ScheduleError::ChunkFailed {
                    index: u32::MAX,
                    span: FrameSpan { start: 0, end: 0 },
                    attempt: 0,
                    kind: ErrorKind::Internal,
                    message: format!("a chunk task failed: {e}"),
                });
            }
        };
        let lane = finished.lane;
        started.remove(&finished.index);
        match lane {
            Lane::Remote => remote_running -= 1,
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
                    deadlines.record(answer.frames, finished.wall, frame_ms_sum(&answer));
                    bill(progress);
                    {
                        let mut state = progress.lock();
                        // The renderer wrote its chunk, its timings, its progress and its artifacts.
                        state.s3.write_requests += 2 + answer.progress_writes + answer.artifacts.len() as u64;
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
                    unanswered: finished.unanswered,
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
            Outcome::Unreachable(message) => {
                // Billed only when the function may have run (no answer at all, or a gateway's);
                // Lambda's own error answer means it did not.
                if lane == Lane::Remote
                    && let Some(ms) = finished.invoked.billed_milliseconds
                {
                    progress.lock().renderers.record(ms);
                }
                let unanswered = finished.unanswered + 1;
                if unanswered <= UNANSWERED_RETRIES {
                    progress.error(ProgressError {
                        kind: ErrorKind::Invocation,
                        message: format!("{message}; invoking it again"),
                        chunk: Some(finished.index),
                        frames: Some(span),
                        attempt: Some(finished.attempt),
                        will_retry: true,
                        at_ms: now_ms(),
                    });
                    // Only the remote lane waits: the local lane may take the chunk now.
                    let now = Instant::now();
                    queue.push_front(Pending {
                        index: finished.index,
                        attempt: finished.attempt,
                        throttles: finished.throttles,
                        unanswered,
                        not_before: now,
                        remote_not_before: now + backoff(unanswered, Duration::from_secs(8)),
                    });
                    continue;
                }
                (ErrorKind::Invocation, format!("{message} (no answer {unanswered} times in a row)"))
            }
            Outcome::Failed { kind, message } => {
                bill(progress);
                if kind == ErrorKind::Cancelled {
                    // The renderer saw the cancel object before our own poll did: the render
                    // was cancelled, no chunk failed.
                    break Exit::Failed(ScheduleError::Cancelled);
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
            break Exit::Failed(ScheduleError::ChunkFailed {
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
            unanswered: 0,
            not_before,
            remote_not_before: not_before,
        });
    };

    // Stop what still runs: the local chunk, when its invocation is dropped; the tasks waiting
    // for remote chunks (whose invocations run on in Lambda). Waiting for the aborted tasks makes
    // sure every local chunk has been told to stop before the caller goes on.
    let handed_over = match exit {
        Exit::Finished => return Ok(Scheduled::Finished),
        Exit::HandOver => Ok(hand_over(&started, &queue)),
        Exit::Failed(e) => {
            // Remote chunks still running are abandoned: renderers stop on the cancel object, a
            // failed render's leftovers are cleaned up by the caller. Count the time they ran.
            let mut state = progress.lock();
            for chunk in started.values().filter(|c| c.lane == Lane::Remote) {
                let ms = remotion_protocol::pricing::billed_milliseconds_from_duration(chunk.at.elapsed());
                state.renderers.record(ms);
            }
            Err(e)
        }
    };
    running.abort_all();
    while running.join_next().await.is_some() {}
    handed_over.map(Scheduled::HandedOver)
}

/// Where the chunks stand when this invocation hands over: remote chunks run on in Lambda, to
/// be followed by the next invocation (and billed when they are seen to end, from when they
/// started); the local chunk stops with this invocation and goes first in the next, at the same
/// attempt (it did not fail); the waiting chunks wait on, their backoff forgotten (the hand-over
/// is a pause of its own).
fn hand_over(started: &HashMap<u32, Running>, queue: &VecDeque<Pending>) -> Standing {
    let now = Instant::now();
    let wall_now = now_ms();
    let mut standing = Standing::default();
    let mut chunks: Vec<(&u32, &Running)> = started.iter().collect();
    chunks.sort_by_key(|(index, _)| **index);
    for (&index, chunk) in chunks {
        match chunk.lane {
            Lane::Remote => {
                let started_at_ms = wall_now.saturating_sub(now.duration_since(chunk.at).as_millis() as u64);
                standing.in_flight.push(InFlight {
                    index,
                    attempt: chunk.attempt,
                    started_at_ms,
                    deadline_at_ms: started_at_ms + chunk.deadline.as_millis() as u64,
                });
            }
            Lane::Local => standing.pending.push(Queued { index, attempt: chunk.attempt }),
        }
    }
    standing.pending.extend(queue.iter().map(|p| Queued { index: p.index, attempt: p.attempt }));
    standing
}

fn frame_ms_sum(answer: &RenderResponse) -> u64 {
    answer.frame_milliseconds.iter().map(|&m| u64::from(m)).sum()
}

mod standing;
#[cfg(test)]
mod tests;
