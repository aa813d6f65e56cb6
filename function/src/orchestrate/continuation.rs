//! Renders longer than the function's timeout. Lambda stops an invocation at its timeout (15
//! minutes at most), and Remotion's own orchestrator dies there with the render. Ours hands
//! the render over before its deadline: it stops starting chunks, stops the chunk it renders
//! itself, writes where the render stands to `renders/<id>/continuation.json`
//! ([`ContinuationState`]) and invokes its own function with a `continue` payload
//! ([`ContinueRequest`]), then returns. The continuation takes the render over from the state:
//! the finished chunks stay finished, the remote chunks still running are followed
//! ([`super::follow`]) rather than invoked again, the progress document goes on with its
//! sequence and its cost, and the render ends in whichever invocation finishes its last chunk
//! (or hands over again first if too little time is left to join the chunks).
//!
//! * [`Budget`]: when an invocation hands over, and whether it still has time to finish.
//! * [`ContinuationState`]: what the next invocation needs, and nothing it could not reuse.
//! * [`take_over`]: a continuation's claim on the render (exactly one per number).
//! * [`Continuer`]: the `Event` invocation of the function itself.

use std::time::{Duration, SystemTime};

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use remotion_protocol::keys::{self, RenderId};
use remotion_protocol::payload::{
    CompositionMetadata, ContinueRequest, EncodingSettings, ErrorKind, FrameSpan, LaunchRequest, Payload,
    SerializedProps,
};
use serde::{Deserialize, Serialize};
// Tokio's clock, as the scheduler's: its hand-over time is one of these.
use tokio::time::Instant;

use super::progress_writer::SavedProgress;
use super::scheduler::{ChunkDone, Standing};
use crate::error::RenderError;
use crate::storage;

/// Idle hand-overs in a row (no chunk finished, none running remotely) before a render is given
/// up: its chunks do not fit in an invocation of the orchestrator and no renderer has one, and
/// handing over again would go on for ever, billing each time.
pub const MAX_IDLE_HANDOVERS: u32 = 3;

/// Sends of the continuation's event before the hand-over is given up.
const INVOKE_ATTEMPTS: u32 = 4;

/// Time left for the hand-over itself, before the deadline: the larger of 10 s and a tenth of
/// the timeout (stopping the local chunk, the last progress document, the state, the event, each
/// a request to a store that may be slow), but never more than half of the timeout, so that a
/// short timeout still leaves each invocation half of it to work in.
pub fn margin(timeout: Duration) -> Duration {
    Duration::from_secs(10).max(timeout / 10).min(timeout / 2)
}

/// When this invocation of the orchestrator must hand the render over, and how long a fresh
/// invocation has until its own hand-over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// The hand-over time.
    pub hand_over_at: Instant,
    /// A fresh invocation's time from its start to its hand-over.
    pub window: Duration,
}

impl Budget {
    /// The budget of an invocation that started at `started` (`wall_started` on the system
    /// clock) with Lambda's `deadline` (none outside Lambda), of a function whose timeout is
    /// `timeout`. The deadline is the earlier of Lambda's and the start plus the timeout: in
    /// Lambda the two agree (the renderer is the orchestrator's own function), and where the
    /// runtime's deadline is not the function's, the timeout the render was launched with
    /// still bounds each invocation. A deadline already past when the invocation starts is
    /// none Lambda would give (emulators send a placeholder): the timeout alone counts then.
    pub fn new(started: Instant, wall_started: SystemTime, deadline: Option<SystemTime>, timeout: Duration) -> Self {
        let left = deadline.and_then(|d| d.duration_since(wall_started).ok()).map_or(timeout, |left| left.min(timeout));
        let margin = margin(timeout);
        Self { hand_over_at: started + left.saturating_sub(margin), window: timeout.saturating_sub(margin) }
    }

    /// Time left before the hand-over.
    pub fn remaining(&self) -> Duration {
        self.hand_over_at.saturating_duration_since(Instant::now())
    }

    /// Whether to hand over before joining the chunks, `finishing` being what that should take:
    /// only when it does not fit in the time left and a fresh invocation would have clearly
    /// more (a quarter of its window, 5 s at least), so that an invocation that just started
    /// never hands over for this (a join too long for any invocation is tried all the same).
    pub fn hand_over_before_finishing(&self, remaining: Duration, finishing: Duration) -> bool {
        let gain = (self.window / 4).max(Duration::from_secs(5));
        finishing > remaining && remaining + gain < self.window
    }
}

/// What joining the chunks and uploading the output should take: a fixed part, the chunks'
/// bytes downloaded and the output's uploaded (at a pessimistic 25 MB/s), and the audio
/// encoded once for the whole output (at a pessimistic 20 s of audio per second).
pub fn finishing_estimate(chunk_bytes: u64, output_seconds: f64) -> Duration {
    const BYTES_PER_SECOND: f64 = 25_000_000.0;
    const AUDIO_SPEED: f64 = 20.0;
    let transfer = 2.0 * chunk_bytes as f64 / BYTES_PER_SECOND;
    Duration::from_secs(5) + Duration::from_secs_f64(transfer + output_seconds.max(0.0) / AUDIO_SPEED)
}

/// The render as planned by the invocation that evaluated it: continuations neither open a
/// browser to resolve the composition again nor plan the chunks again (a cost profile updated
/// in between would move the chunks' frames).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Planned {
    /// The composition, resolved (and overridden by the request's `force*`).
    pub composition: CompositionMetadata,
    /// The encoding in effect: the request's, with what it left unset taken from the
    /// composition's defaults.
    pub encoding: EncodingSettings,
    /// Key of the output: the request's, or the one named after the composition.
    pub output_key: String,
    /// Its resolved props as the chunks receive them (offloaded to the bucket when large).
    pub resolved_props: SerializedProps,
    /// Frames of each chunk, by index.
    pub spans: Vec<FrameSpan>,
    /// When the first chunk started, ms since the Unix epoch.
    pub rendering_started_at_ms: u64,
}

/// `renders/<id>/continuation.json`: where a render stands when an invocation hands it over.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContinuationState {
    /// The continuation that takes over from this state (1 for the launch's first).
    pub next: u32,
    /// Idle hand-overs in a row, this one included (see [`idle_handovers`]).
    pub idle_handovers: u32,
    /// The render as planned.
    pub planned: Planned,
    /// Finished chunks, in completion order, with what joining them and learning the cost
    /// profile from them takes.
    pub done: Vec<ChunkDone>,
    /// The chunks not finished: waiting (their next attempts) and running remotely.
    pub standing: Standing,
    /// The progress document and the usage behind its cost.
    pub progress: SavedProgress,
}

/// Why a render could not go on past an invocation.
#[derive(Debug, thiserror::Error)]
pub enum ContinuationError {
    /// Invocations keep handing over without finishing any chunk.
    #[error(
        "no chunk finished in {0} invocations in a row, and no renderer had one: a chunk takes longer than \
         an invocation has (the function's timeout less the hand-over margin); use fewer frames per chunk \
         or a longer timeout"
    )]
    Stuck(u32),
    /// The continuation's event was not accepted.
    #[error("invoking {function} to go on with the render: {message}")]
    Invoke {
        /// The function invoked.
        function: String,
        /// What Lambda said.
        message: String,
    },
    /// The state is not one this function can go on from (written by another version of it).
    #[error("the state at {key} is not readable: {source}")]
    Unreadable {
        /// Its key.
        key: String,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
}

impl From<ContinuationError> for RenderError {
    fn from(e: ContinuationError) -> Self {
        let kind = match &e {
            ContinuationError::Stuck(_) => ErrorKind::InvalidPayload,
            ContinuationError::Invoke { .. } => ErrorKind::Invocation,
            ContinuationError::Unreadable { .. } => ErrorKind::Internal,
        };
        RenderError::Continuation { kind, message: e.to_string() }
    }
}

/// The next hand-over's idle count, `before` being the last one's: none once this invocation
/// finished a chunk; the same while chunks run remotely (each ends by its deadline, and
/// retrying one is bounded, so they cannot keep a render going for ever; with a short
/// timeout a remote chunk may well outlast several invocations of the orchestrator); one more
/// when neither, and an error once [`MAX_IDLE_HANDOVERS`] are reached.
pub fn idle_handovers(before: u32, finished_here: usize, running_remotely: usize) -> Result<u32, ContinuationError> {
    if finished_here > 0 {
        return Ok(0);
    }
    if running_remotely > 0 {
        return Ok(before);
    }
    let idle = before + 1;
    if idle >= MAX_IDLE_HANDOVERS { Err(ContinuationError::Stuck(idle)) } else { Ok(idle) }
}

/// What a continuation found when it came to take a render over.
#[derive(Debug)]
pub enum TakeOver {
    /// The render is this continuation's to go on with.
    Mine(Box<ContinuationState>),
    /// Nothing to do (said why): no state (the render ended, or was never handed over), the
    /// state names another continuation (a late or repeated event), or another delivery of the
    /// same event claimed it first.
    NotMine(&'static str),
}

/// Whether a state read from the bucket is continuation `number`'s to take.
pub fn is_for(state: &ContinuationState, number: u32) -> bool {
    state.next == number
}

/// Reads the render's state and claims it for continuation `number`: of two deliveries of its
/// event, the conditional create of the claim lets one through.
pub async fn take_over(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    id: &RenderId,
    number: u32,
) -> Result<TakeOver, RenderError> {
    let key = keys::continuation(id);
    let Some(bytes) = storage::get(s3, bucket, &key).await? else {
        return Ok(TakeOver::NotMine("the render has no state to go on from (it ended, or was never handed over)"));
    };
    let state: ContinuationState =
        serde_json::from_slice(&bytes).map_err(|source| ContinuationError::Unreadable { key: key.clone(), source })?;
    if !is_for(&state, number) {
        return Ok(TakeOver::NotMine("the state is another continuation's (this event came late or twice)"));
    }
    let claim = keys::continuation_claim(id, number);
    let token = format!("{:032x}", rand::random::<u128>());
    match storage::create(s3, bucket, &claim, Vec::new(), "application/octet-stream", &token).await? {
        storage::Created::Mine => Ok(TakeOver::Mine(Box::new(state))),
        storage::Created::Theirs => {
            Ok(TakeOver::NotMine("another delivery of this continuation claimed the render first"))
        }
    }
}

/// Writes the state for the next invocation.
pub async fn save(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    id: &RenderId,
    state: &ContinuationState,
) -> Result<(), RenderError> {
    let body = serde_json::to_vec(state).map_err(|e| RenderError::Encoding(format!("continuation state: {e}")))?;
    storage::put(s3, bucket, &keys::continuation(id), body, "application/json").await
}

/// Removes the state and the claims of an ended render (a continuation event that still comes
/// finds nothing to take over).
pub async fn remove(s3: &aws_sdk_s3::Client, bucket: &str, id: &RenderId) -> Result<(), RenderError> {
    let mut keys = storage::list_keys(s3, bucket, &keys::continuation_claims_prefix(id)).await?;
    keys.push(keys::continuation(id));
    storage::delete_keys(s3, bucket, &keys).await
}

/// Invokes the function itself, asynchronously, with a `continue` payload.
#[derive(Clone, Debug)]
pub struct Continuer {
    client: aws_sdk_lambda::Client,
    function_name: String,
}

impl Continuer {
    /// Invokes `function_name` (the orchestrator's own function), with the client chunks are
    /// invoked with.
    pub async fn from_env(function_name: &str) -> Self {
        Self { client: super::invoke::lambda_client().await, function_name: function_name.to_owned() }
    }

    /// Sends continuation `number` of `launch`. An `Event` invocation: Lambda queues it and
    /// answers at once, and runs it when this invocation's slot (or another) is free. A refused
    /// send (throttled, Lambda's own error, the network) is sent again with a short backoff;
    /// the margin before the deadline leaves time for a few.
    pub async fn invoke(&self, launch: &LaunchRequest, number: u32) -> Result<(), ContinuationError> {
        let payload = Payload::Continue(ContinueRequest { number, launch: launch.clone() });
        let body = serde_json::to_vec(&payload).map_err(|e| ContinuationError::Invoke {
            function: self.function_name.clone(),
            message: format!("serializing the payload: {e}"),
        })?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let sent = self
                .client
                .invoke()
                .function_name(&self.function_name)
                .invocation_type(InvocationType::Event)
                .payload(Blob::new(body.clone()))
                .send()
                .await;
            let message = match sent {
                Ok(out) if out.status_code() == 202 => return Ok(()),
                Ok(out) => format!("answered {} instead of 202 Accepted", out.status_code()),
                Err(e) => aws_sdk_lambda::error::DisplayErrorContext(&e).to_string(),
            };
            if attempt >= INVOKE_ATTEMPTS {
                return Err(ContinuationError::Invoke { function: self.function_name.clone(), message });
            }
            tracing::warn!(attempt, "the continuation's event was refused ({message}); sending it again");
            tokio::time::sleep(Duration::from_millis(500) * attempt).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use remotion_protocol::payload::{ChunkPhases, RenderResponse};
    use remotion_protocol::pricing::LambdaUsage;
    use remotion_protocol::progress::{ProgressDocument, Stage};

    use super::*;
    use crate::orchestrate::scheduler::{InFlight, Lane, Queued};

    #[test]
    fn the_margin_leaves_time_to_hand_over_and_half_the_timeout_to_work() {
        assert_eq!(margin(Duration::from_secs(900)), Duration::from_secs(90));
        assert_eq!(margin(Duration::from_secs(120)), Duration::from_secs(12));
        assert_eq!(margin(Duration::from_secs(30)), Duration::from_secs(10));
        assert_eq!(margin(Duration::from_secs(12)), Duration::from_secs(6));
    }

    #[tokio::test(start_paused = true)]
    async fn the_hand_over_comes_a_margin_before_the_earlier_deadline() {
        let (now, wall) = (Instant::now(), SystemTime::now());
        let timeout = Duration::from_secs(300);
        // In Lambda: its deadline, less the margin.
        let lambda = Budget::new(now, wall, Some(wall + Duration::from_secs(280)), timeout);
        assert_eq!(lambda.hand_over_at, now + Duration::from_secs(280 - 30));
        assert_eq!(lambda.window, Duration::from_secs(270));
        // Outside Lambda, or under a runtime whose deadline is not the function's: the timeout.
        let alone = Budget::new(now, wall, None, timeout);
        assert_eq!(alone.hand_over_at, now + Duration::from_secs(270));
        let emulated = Budget::new(now, wall, Some(wall + Duration::from_secs(3600)), timeout);
        assert_eq!(emulated, alone);
        // A deadline within the margin: hand over at once.
        let late = Budget::new(now, wall, Some(wall + Duration::from_secs(5)), timeout);
        assert_eq!(late.hand_over_at, now);
        assert_eq!(late.remaining(), Duration::ZERO);
        // A deadline past before the start is a placeholder (cargo-lambda sends 600000, ten
        // minutes after the epoch), not Lambda's.
        let placeholder = Budget::new(now, wall, Some(SystemTime::UNIX_EPOCH + Duration::from_secs(600)), timeout);
        assert_eq!(placeholder, alone);
        tokio::time::advance(Duration::from_secs(100)).await;
        assert_eq!(alone.remaining(), Duration::from_secs(170));
    }

    #[test]
    fn an_invocation_hands_over_before_joining_only_when_the_next_would_have_more_time() {
        let budget = Budget { hand_over_at: Instant::now(), window: Duration::from_secs(270) };
        let s = Duration::from_secs;
        assert!(!budget.hand_over_before_finishing(s(100), s(40)), "it fits");
        assert!(budget.hand_over_before_finishing(s(30), s(40)), "it does not, and a fresh one has 270 s");
        assert!(!budget.hand_over_before_finishing(s(265), s(400)), "a fresh invocation joins whatever it takes");
        assert!(!budget.hand_over_before_finishing(s(210), s(400)), "the next would not have clearly more");
        assert!(budget.hand_over_before_finishing(s(200), s(400)));
        // A short window still gains at least 5 s.
        let short = Budget { hand_over_at: Instant::now(), window: s(16) };
        assert!(!short.hand_over_before_finishing(s(12), s(14)));
        assert!(short.hand_over_before_finishing(s(10), s(14)));
    }

    #[test]
    fn finishing_takes_longer_for_larger_and_longer_outputs() {
        assert_eq!(finishing_estimate(0, 0.0), Duration::from_secs(5));
        assert_eq!(finishing_estimate(250_000_000, 0.0), Duration::from_secs(25));
        assert_eq!(finishing_estimate(0, 3600.0), Duration::from_secs(5 + 180));
    }

    #[test]
    fn only_handing_over_idle_again_and_again_gives_the_render_up() {
        assert_eq!(idle_handovers(0, 0, 0).unwrap(), 1);
        assert_eq!(idle_handovers(1, 0, 0).unwrap(), 2);
        assert_eq!(idle_handovers(2, 3, 0).unwrap(), 0, "a chunk finished: not idle");
        assert_eq!(idle_handovers(2, 0, 1).unwrap(), 2, "a renderer has a chunk: waiting is not idling");
        assert_eq!(idle_handovers(2, 1, 1).unwrap(), 0);
        let stuck = idle_handovers(MAX_IDLE_HANDOVERS - 1, 0, 0).unwrap_err();
        assert!(matches!(stuck, ContinuationError::Stuck(MAX_IDLE_HANDOVERS)));
        let error = RenderError::from(stuck);
        assert_eq!(error.kind(), ErrorKind::InvalidPayload, "the chunking does not fit the timeout");
        assert!(error.to_string().contains("fewer frames per chunk"), "{error}");
    }

    fn state() -> ContinuationState {
        let mut doc = ProgressDocument::new("r", 1_000);
        (doc.stage, doc.sequence, doc.frames_total, doc.chunks_total, doc.chunks_done) =
            (Stage::Rendering, 41, 40, 4, 1);
        ContinuationState {
            next: 2,
            idle_handovers: 1,
            planned: Planned {
                composition: CompositionMetadata {
                    id: "Intro".into(),
                    width: 1920,
                    height: 1080,
                    fps: 30.0,
                    duration_in_frames: 300,
                    default_codec: None,
                    default_out_name: None,
                },
                encoding: EncodingSettings::default(),
                output_key: "renders/r/out.mp4".into(),
                resolved_props: SerializedProps::Bucket { key: "renders/r/resolved-props.json".into() },
                spans: (0..4).map(|i| FrameSpan { start: i * 10, end: i * 10 + 9 }).collect(),
                rendering_started_at_ms: 2_000,
            },
            done: vec![ChunkDone {
                index: 1,
                span: FrameSpan { start: 10, end: 19 },
                answer: RenderResponse {
                    chunk: 1,
                    attempt: 2,
                    key: "renders/r/chunks/000001.mkv".into(),
                    size_bytes: 1234,
                    frames: 10,
                    frame_milliseconds: vec![40; 10],
                    duration_ms: 2_500,
                    phases: ChunkPhases { page_reused: true, frames_ms: 400, ..ChunkPhases::default() },
                    progress_writes: 2,
                    artifacts: Vec::new(),
                    tabs: 1,
                },
                wall: Duration::from_millis(2_612),
                lane: Lane::Local,
            }],
            standing: Standing {
                pending: vec![Queued { index: 0, attempt: 1 }, Queued { index: 3, attempt: 3 }],
                in_flight: vec![InFlight { index: 2, attempt: 1, started_at_ms: 5_000, deadline_at_ms: 70_000 }],
            },
            progress: SavedProgress {
                doc,
                renderers: LambdaUsage { invocations: 3, billed_milliseconds: 7_000 },
                orchestrators: LambdaUsage { invocations: 2, billed_milliseconds: 40_000 },
                s3: Default::default(),
            },
        }
    }

    #[test]
    fn the_state_comes_back_as_it_was_written() {
        let state = state();
        let json = serde_json::to_vec(&state).unwrap();
        let back: ContinuationState = serde_json::from_slice(&json).unwrap();
        assert_eq!(back, state);
        let value: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(value["next"], 2);
        assert_eq!(value["standing"]["inFlight"][0]["deadlineAtMs"], 70_000);
        assert_eq!(value["progress"]["doc"]["sequence"], 41);
        assert!(serde_json::from_slice::<ContinuationState>(br#"{"next": 2}"#).is_err(), "nothing is made up");
    }

    #[test]
    fn a_state_is_taken_by_the_continuation_it_names_only() {
        let state = state();
        assert!(is_for(&state, 2));
        assert!(!is_for(&state, 1), "an earlier continuation's event, delivered again");
        assert!(!is_for(&state, 3));
    }
}
