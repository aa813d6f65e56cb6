//! The RenderJob's status: what the operator reports of a render.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::KubeSchema;
use remotion_protocol::media::{Codec, PixelFormat};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Lifecycle phase of a RenderJob (for printer columns; conditions are authoritative).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub enum RenderPhase {
    /// Accepted, not launched yet (waiting for its site, function, bucket or props).
    #[default]
    Pending,
    /// Ready to launch, waiting for a slot of its function's capacity (the `Ready` condition
    /// gives its position).
    Queued,
    /// Launched; chunks are rendering or being stitched.
    Rendering,
    /// The output is in the bucket.
    Succeeded,
    /// Ended without output.
    Failed,
    /// Cancelled on request.
    Cancelled,
}

impl RenderPhase {
    /// Every phase, in lifecycle order.
    pub const ALL: [RenderPhase; 6] =
        [Self::Pending, Self::Queued, Self::Rendering, Self::Succeeded, Self::Failed, Self::Cancelled];

    /// The phase is final: nothing more will happen.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Cancelled)
    }
}

/// Observed state of a RenderJob.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct RenderJobStatus {
    /// The generation of the spec this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`, `Progressing`, `Succeeded` and `Failed`.
    #[serde(default)]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,
    /// Id of the render in the bucket (`renders/<renderId>/`), derived from the UID and
    /// recorded before launch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub render_id: Option<String>,
    /// Bucket the render writes to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket_name: Option<String>,
    /// Phase, for humans and printer columns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<RenderPhase>,
    /// How far the render is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<RenderProgress>,
    /// What it costs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<RenderCost>,
    /// What the render turned out to be once the function resolved its composition: the
    /// codec and output key the spec may leave to the composition's defaults, and the size,
    /// frame rate and length it renders at (the `force*` overrides applied).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved: Option<ResolvedRender>,
    /// The result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<RenderOutput>,
    /// The files the composition emitted with `<Artifact>`, saved beside the output at
    /// `renders/<renderId>/artifacts/<filename>`, in frame order (the first 100; the progress
    /// document in the bucket lists them all).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100))]
    pub artifacts: Vec<RenderArtifact>,
    /// Invocations of the render function this render may hold at once (its orchestrator and
    /// its chunks in flight): its share of the function's capacity, given at launch and
    /// changed as other renders start and end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invocation_slots: Option<i32>,
    /// When the render was launched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Time>,
    /// When it reached a terminal phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<Time>,
    /// The last errors (at most 10; chunk errors that were retried included).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 10))]
    pub errors: Vec<RenderErrorEntry>,
    /// The delivery of `spec.webhook` once the job ended (written by the operator's webhook
    /// sender under a field manager of its own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<WebhookDeliveryStatus>,
}

/// How the webhook of an ended job was delivered. Recorded after every attempt, so that a
/// restarted operator (or a new leader) neither sends a delivered webhook again nor starts
/// its retries over.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookDeliveryStatus {
    /// Where it stands: absent while attempts remain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<WebhookOutcome>,
    /// When the receiver accepted it (a 2xx answer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered: Option<Time>,
    /// Requests made so far (at most 3: the first and two retries, as in Remotion).
    #[serde(default)]
    #[schemars(range(min = 0))]
    pub attempts: i32,
    /// When the last request was made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_attempt_at: Option<Time>,
    /// HTTP status of the last answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_status_code: Option<i32>,
    /// Why the last attempt failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub last_error: Option<String>,
}

/// The end of a webhook's delivery.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum WebhookOutcome {
    /// The receiver answered 2xx.
    Delivered,
    /// Every attempt failed (an error answer, a timeout, no connection, a missing secret).
    Failed,
    /// The URL was refused: its address is link-local, loopback or private and the cluster
    /// admin does not allow private networks. Nothing was sent.
    Refused,
}

/// Progress of a render.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct RenderProgress {
    /// Overall progress, 0–100.
    #[schemars(range(min = 0, max = 100))]
    pub percent: i32,
    /// `percent` as text, e.g. `42%` (printer column).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
    /// Frames captured so far.
    pub frames_rendered: i64,
    /// Frames to capture in all.
    pub frames_total: i64,
    /// Chunks finished.
    pub chunks_done: i64,
    /// Chunks planned.
    pub chunks_total: i64,
    /// What the render is doing (see the progress document's stages).
    pub stage: String,
}

/// Cost of a render in US dollars, as exact decimal strings.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct RenderCost {
    /// Accrued so far, e.g. `0.00813`.
    pub accrued_usd: String,
    /// Estimated total (before launch from the cost profile, then from progress).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimated_total_usd: Option<String>,
    /// Billed Lambda milliseconds so far.
    pub billed_milliseconds: i64,
    /// Lambda invocations so far.
    pub invocations: i64,
}

/// A render as the function resolved it (`calculateMetadata`, its defaults and the overrides).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResolvedRender {
    /// The codec in effect: the spec's, else the composition's `defaultCodec`, else h264
    /// (none for a still).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub codec: Option<Codec>,
    /// The pixel format in effect, when the spec or the composition names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pixel_format: Option<PixelFormat>,
    /// Object key the output is written to.
    pub output_key: String,
    /// Width in pixels (before `scale`).
    pub width: i64,
    /// Height in pixels (before `scale`).
    pub height: i64,
    /// Frames per second.
    pub fps: f64,
    /// Length of the composition in frames.
    pub duration_in_frames: i64,
    /// The frame a still shows (a negative `still.frame` counted from the end).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub still_frame: Option<i64>,
}

/// The output of a finished render.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct RenderOutput {
    /// HTTPS URL: the public object URL, or a presigned URL for private outputs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// When a presigned `url` stops working.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url_expires_at: Option<Time>,
    /// `s3://bucket/key` of the output; of an image sequence, its frames' folder (ending in
    /// `/`, no `url`).
    pub s3_uri: String,
    /// Size in bytes (of all frames of an image sequence).
    pub size_bytes: i64,
    /// Content-Type of the output (of each frame of an image sequence).
    pub content_type: String,
    /// Frame files of an image sequence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frames: Option<i64>,
    /// How an image sequence's frame files are named, e.g. `element-[frame].jpeg` (`[frame]`
    /// zero-padded to the digits of the last frame).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence_pattern: Option<String>,
    /// The ZIP archive of an image sequence's frames (`imageSequence.archive`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    // Boxed: verdicts carry the output by value, and most outputs have no archive.
    pub archive: Option<Box<RenderObject>>,
    /// The render's audio as a file of its own (`output.separateAudioTo`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub separate_audio: Option<Box<RenderObject>>,
}

/// One more object a render produced beside its output, with its URL.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct RenderObject {
    /// HTTPS URL: the public object URL, or a presigned URL for private outputs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// When a presigned `url` stops working.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url_expires_at: Option<Time>,
    /// `s3://bucket/key` of the object.
    pub s3_uri: String,
    /// Size in bytes.
    pub size_bytes: i64,
    /// Content-Type.
    pub content_type: String,
}

/// A file the composition emitted with `<Artifact>`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct RenderArtifact {
    /// The filename the composition gave it.
    #[schemars(length(max = 512))]
    pub filename: String,
    /// Its object key in the render's bucket.
    #[schemars(length(max = 1024))]
    pub key: String,
    /// Size in bytes.
    pub size_bytes: i64,
    /// Content-Type (by the filename's extension).
    pub content_type: String,
    /// The frame that emitted it.
    pub frame: i64,
}

/// One error met during a render.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct RenderErrorEntry {
    /// Chunk index, if the error belongs to a chunk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chunk: Option<i64>,
    /// Frames concerned, e.g. `40-59`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frames: Option<String>,
    /// Attempt number (1 = first try).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<i32>,
    /// Whether the chunk was retried after this error.
    #[serde(default)]
    pub retried: bool,
    /// What happened.
    #[schemars(length(max = 4096))]
    pub message: String,
}
