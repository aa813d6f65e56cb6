//! `RenderJob`: one render of a composition, like a batch Job.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::core::Rule;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use schemars::{Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

use crate::common::{KeyRef, LocalObjectRef};
use remotion_protocol::media::{
    AudioCodec, Codec, DeleteAfter, PixelFormat, StillImageFormat, VideoImageFormat, X264Preset,
};
pub use remotion_protocol::payload::Privacy;

/// Limits of the spec.
pub mod limits {
    /// Most retries of one chunk.
    pub const MAX_RETRIES: i32 = 10;
    /// Most chunks of one render. Remotion stops at 200; the orchestrator is built for more.
    pub const MAX_CONCURRENCY: i32 = 100_000;
    /// Longest presigned output URL SigV4 allows: 7 days.
    pub const MAX_PRESIGN_SECONDS: i32 = 604_800;
    /// Default validity of a presigned output URL.
    pub const DEFAULT_PRESIGN_SECONDS: i32 = 3600;
    /// Default delayRender timeout, seconds (Remotion's 30 s).
    pub const DEFAULT_TIMEOUT_SECONDS: i32 = 30;
    /// Default retries of a failed chunk.
    pub const DEFAULT_MAX_RETRIES: i32 = 1;
}

/// One render of a composition with input props: launched, followed and reported.
///
/// The spec is immutable except `cancel`, `priority` and `ttlSecondsAfterFinished`; render
/// again by creating a new RenderJob.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[kube(
    group = "remotion-operator.io",
    version = "v1alpha1",
    kind = "RenderJob",
    namespaced,
    status = "RenderJobStatus",
    shortname = "rj",
    category = "remotion",
    doc = "One render of a Remotion composition on Lambda",
    printcolumn(name = "Composition", type_ = "string", json_path = ".spec.composition"),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(name = "Progress", type_ = "string", json_path = ".status.progress.display"),
    printcolumn(name = "Cost", type_ = "string", json_path = ".status.cost.accruedUsd"),
    printcolumn(name = "Output", type_ = "string", json_path = ".status.output.s3Uri", priority = 1),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = spec_immutable_rule())]
#[x_kube(validation = Rule::new("!(has(self.framesPerLambda) && has(self.concurrency))").message("set framesPerLambda or concurrency, not both"))]
#[x_kube(validation = Rule::new("!(has(self.inputProps) && has(self.inputPropsFrom))").message("set inputProps or inputPropsFrom, not both"))]
#[x_kube(validation = Rule::new("!has(self.still) || !(has(self.codec) || has(self.imageFormat) || has(self.crf) || has(self.pixelFormat) || has(self.x264Preset) || has(self.audioCodec) || has(self.audioBitrate) || has(self.frameRange) || has(self.everyNthFrame) || has(self.framesPerLambda) || has(self.concurrency))").message("a still renders one image: remove codec, imageFormat, crf, pixelFormat, x264Preset, audioCodec, audioBitrate, frameRange, everyNthFrame, framesPerLambda and concurrency (the still's own imageFormat and frame apply)"))]
#[x_kube(validation = Rule::new("!has(self.imageFormat) || (self.imageFormat == 'none') == (has(self.codec) && self.codec in ['mp3', 'aac', 'wav'])").message("imageFormat 'none' goes with the audio-only codecs (mp3, aac, wav) and only with them"))]
#[x_kube(validation = audio_codec_rule())]
#[x_kube(validation = crf_rule())]
#[x_kube(validation = pixel_format_rule())]
#[x_kube(validation = Rule::new("!has(self.pixelFormat) || !(self.pixelFormat in ['yuva420p', 'yuva444p10le']) || (has(self.imageFormat) && self.imageFormat == 'png')").message("pixelFormat yuva420p and yuva444p10le are for transparent video, which needs PNG frames: set imageFormat png"))]
#[x_kube(validation = Rule::new("!has(self.x264Preset) || !has(self.codec) || self.codec == 'h264'").message("x264Preset applies to codec h264 only"))]
#[x_kube(validation = Rule::new("!has(self.everyNthFrame) || self.everyNthFrame == 1 || (has(self.codec) && self.codec == 'gif')").message("everyNthFrame above 1 is only for codec gif"))]
#[x_kube(validation = Rule::new("!has(self.jpegQuality) || (has(self.still) ? self.still.imageFormat == 'jpeg' : (!has(self.imageFormat) || self.imageFormat == 'jpeg'))").message("jpegQuality applies to JPEG frames or stills only"))]
#[x_kube(validation = Rule::new("!has(self.audioBitrate) || !has(self.codec) || self.codec != 'gif'").message("gif has no audio: remove audioBitrate"))]
pub struct RenderJobSpec {
    /// The RemotionSite to render from.
    pub site_ref: LocalObjectRef,

    /// The RenderFunction to render with.
    pub function_ref: LocalObjectRef,

    /// Id of the composition to render.
    #[schemars(length(min = 1, max = 256))]
    pub composition: String,

    /// Input props (any JSON object), merged over the composition's default props.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "input_props_schema")]
    pub input_props: Option<serde_json::Value>,

    /// Input props read from a ConfigMap or Secret key holding a JSON object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_props_from: Option<InputPropsSource>,

    /// Render one frame as an image instead of a video.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub still: Option<StillOptions>,

    /// Output codec. Default: h264 (or the composition's default codec).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub codec: Option<Codec>,

    /// Format of the captured frames. Default: jpeg (none for audio-only codecs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_format: Option<VideoImageFormat>,

    /// JPEG quality of captured frames or a JPEG still (0–100, default 80).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 100))]
    pub jpeg_quality: Option<i32>,

    /// Constant rate factor (h264/h265 0–51, vp8 4–63, vp9 0–63). Default: Remotion's per codec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 63))]
    pub crf: Option<i32>,

    /// Pixel format of the encoded video. Default: yuv420p (yuv422p10le for prores).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pixel_format: Option<PixelFormat>,

    /// libx264 preset (h264 only). Default: medium.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x264_preset: Option<X264Preset>,

    /// Audio codec. Default: the codec's default (aac for mp4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio_codec: Option<AudioCodec>,

    /// Audio bitrate, e.g. `320k` (the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[1-9][0-9]{0,3}k$"))]
    pub audio_bitrate: Option<String>,

    /// Render without audio.
    #[serde(default)]
    pub muted: bool,

    /// Frames to render (inclusive). Default: the whole composition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frame_range: Option<FrameRange>,

    /// Render every nth frame only (gif).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1000))]
    pub every_nth_frame: Option<i32>,

    /// Scale factor of the output size (e.g. 0.5 or 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.01, max = 16.0))]
    pub scale: Option<f64>,

    /// Frames per chunk (one chunk = one renderer invocation). Excludes `concurrency`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub frames_per_lambda: Option<i32>,

    /// Number of chunks to split the render into. Excludes `framesPerLambda`. Default: planned
    /// from the frame count (and from measured per-frame costs when known).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100000))]
    pub concurrency: Option<i32>,

    /// Retries of a failed or hung chunk (0–10).
    #[serde(default = "default_max_retries")]
    #[schemars(range(min = 0, max = 10))]
    pub max_retries: i32,

    /// How long a `delayRender()` may block, in seconds (Remotion's timeoutInMilliseconds / 1000).
    #[serde(default = "default_timeout_seconds")]
    #[schemars(range(min = 1, max = 900))]
    pub timeout_seconds: i32,

    /// Where the output goes and who may read it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<OutputSpec>,

    /// Expire the render's files from the bucket after this long (needs expiry on the bucket).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_after: Option<DeleteAfter>,

    /// Set to true to cancel the render. May change after creation.
    #[serde(default)]
    pub cancel: bool,

    /// Order among renders waiting for their function's capacity (phase `Queued`): higher
    /// first, then round-robin across namespaces, then oldest first. May change while the
    /// job waits; no effect once it is launched.
    #[serde(default)]
    #[schemars(range(min = -1000, max = 1000))]
    pub priority: i32,

    /// Delete the RenderJob this many seconds after it finished (Succeeded, Failed or
    /// Cancelled), as a Job's `ttlSecondsAfterFinished`; its output stays in the bucket. Unset:
    /// the operator's default (`--finished-job-ttl-seconds`, Helm value `renderJobs.ttlSecondsAfterFinished`), else kept until deleted.
    /// May change after creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub ttl_seconds_after_finished: Option<i32>,
}

fn default_max_retries() -> i32 {
    limits::DEFAULT_MAX_RETRIES
}
fn default_timeout_seconds() -> i32 {
    limits::DEFAULT_TIMEOUT_SECONDS
}

/// Any JSON object, kept as given (the composition decides its shape).
fn input_props_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true,
        "description": "Input props (any JSON object), merged over the composition's default props."
    })
}

/// Fields of the spec that never change. Everything but `cancel`, `priority` and
/// `ttlSecondsAfterFinished`.
const IMMUTABLE_SPEC_FIELDS: &[&str] = &[
    "siteRef",
    "functionRef",
    "composition",
    "inputProps",
    "inputPropsFrom",
    "still",
    "codec",
    "imageFormat",
    "jpegQuality",
    "crf",
    "pixelFormat",
    "x264Preset",
    "audioCodec",
    "audioBitrate",
    "muted",
    "frameRange",
    "everyNthFrame",
    "scale",
    "framesPerLambda",
    "concurrency",
    "maxRetries",
    "timeoutSeconds",
    "output",
    "deleteAfter",
];

/// The spec is immutable except `cancel`, `priority` and `ttlSecondsAfterFinished`: every other
/// field keeps its presence and value.
fn spec_immutable_rule() -> Rule {
    let clauses: Vec<String> = IMMUTABLE_SPEC_FIELDS
        .iter()
        .map(|f| format!("has(self.{f}) == has(oldSelf.{f}) && (!has(self.{f}) || self.{f} == oldSelf.{f})"))
        .collect();
    Rule::new(clauses.join(" && "))
        .message("a RenderJob's spec is immutable except cancel, priority and ttlSecondsAfterFinished: create a new RenderJob to render again")
}

/// The codec in effect in CEL (h264 when the spec names none).
const CEL_CODEC: &str = "(has(self.codec) ? self.codec : 'h264')";

/// `audioCodec` must be one the codec's container takes (table: `Codec::audio_codecs`).
fn audio_codec_rule() -> Rule {
    let table = cel_codec_table(|c| c.audio_codecs().iter().map(|a| a.as_str()).collect());
    Rule::new(format!("!has(self.audioCodec) || self.audioCodec in {table}[{CEL_CODEC}]")).message(
        "audioCodec does not fit the codec: h264 takes aac, mp3 or pcm-16; h265 and prores take aac or pcm-16; \
         vp8 and vp9 take opus or pcm-16; gif has no audio; mp3 takes mp3, aac takes aac and wav takes pcm-16",
    )
}

/// `crf` only for CRF-controlled codecs and within their range (table: `Codec::crf_range`).
fn crf_rule() -> Rule {
    let ranges: Vec<String> = remotion_protocol::media::Codec::ALL
        .iter()
        .filter_map(|c| c.crf_range().map(|(lo, hi)| format!("'{}': [{lo}, {hi}]", c.as_str())))
        .collect();
    let table = format!("{{{}}}", ranges.join(", "));
    Rule::new(format!(
        "!has(self.crf) || ({CEL_CODEC} in {table} && self.crf >= {table}[{CEL_CODEC}][0] && self.crf <= {table}[{CEL_CODEC}][1])"
    ))
    .message("crf is for h264/h265 (0–51), vp8 (4–63) and vp9 (0–63) only")
}

/// `pixelFormat` must be one the codec can encode (table: `Codec::pixel_formats`).
fn pixel_format_rule() -> Rule {
    let table = cel_codec_table(|c| c.pixel_formats().iter().map(|p| p.as_str()).collect());
    Rule::new(format!("!has(self.pixelFormat) || self.pixelFormat in {table}[{CEL_CODEC}]")).message(
        "pixelFormat does not fit the codec: yuva420p needs vp8/vp9, yuva444p10le needs prores, \
         10-bit needs h264/h265/prores; gif and audio codecs take none",
    )
}

/// A CEL map literal from codec name to a list of names.
fn cel_codec_table(values: impl Fn(Codec) -> Vec<&'static str>) -> String {
    let entries: Vec<String> = Codec::ALL
        .iter()
        .map(|c| {
            let list: Vec<String> = values(*c).iter().map(|v| format!("'{v}'")).collect();
            format!("'{}': [{}]", c.as_str(), list.join(", "))
        })
        .collect();
    format!("{{{}}}", entries.join(", "))
}

/// Where input props come from when not inline.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.configMapKeyRef) != has(self.secretKeyRef)").message("inputPropsFrom needs exactly one of configMapKeyRef or secretKeyRef"))]
pub struct InputPropsSource {
    /// A ConfigMap key holding a JSON object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map_key_ref: Option<KeyRef>,
    /// A Secret key holding a JSON object. The Secret must carry the label
    /// `remotion-operator.io/input-props: "true"`: only Secrets labelled for it become props.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_key_ref: Option<KeyRef>,
}

/// Render a single frame as an image.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct StillOptions {
    /// Frame to render (0 = first).
    #[serde(default)]
    #[schemars(range(min = 0))]
    pub frame: i64,
    /// Image format.
    #[serde(default)]
    pub image_format: StillImageFormat,
}

/// An inclusive range of frames.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.end) || self.start <= self.end").message("frameRange.start must not be after frameRange.end"))]
pub struct FrameRange {
    /// First frame.
    #[schemars(range(min = 0))]
    pub start: i64,
    /// Last frame (inclusive). Default: the composition's last frame.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub end: Option<i64>,
}

impl From<FrameRange> for remotion_protocol::payload::FrameRange {
    fn from(range: FrameRange) -> Self {
        Self { start: range.start, end: range.end }
    }
}

impl From<&StillOptions> for remotion_protocol::payload::StillOptions {
    fn from(still: &StillOptions) -> Self {
        Self { frame: still.frame, image_format: still.image_format }
    }
}

/// Where the output is written and who may read it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct OutputSpec {
    /// Object key of the output. Default: `renders/<renderId>/out.<ext>`. A custom key must
    /// start with `renders/<renderId>/` or a prefix the cluster admin allows for the namespace
    /// (by default `outputs/<namespace>/`), and never reaches into the operator's `sites/` or
    /// `optimization/` folders.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[^/].*[^/]$|^[^/]$"), length(min = 1, max = 1024))]
    #[x_kube(validation = Rule::new("!self.startsWith('sites/') && !self.startsWith('optimization/')").message("output.key may not be under sites/ or optimization/: those folders hold the bucket's sites and cost profiles"))]
    #[x_kube(validation = Rule::new("!self.split('/').exists(s, s == '' || s == '.' || s == '..')").message("output.key may not have empty, '.' or '..' segments"))]
    pub key: Option<String>,
    /// `private` (default): the status URL is presigned. `public`: a public object URL (the
    /// bucket must allow public outputs).
    #[serde(default)]
    pub privacy: Privacy,
    /// Validity of the presigned URL of a private output, seconds (max 7 days).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 604800))]
    pub presign_seconds: Option<i32>,
}

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
    /// The result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<RenderOutput>,
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
    /// `s3://bucket/key` of the output.
    pub s3_uri: String,
    /// Size in bytes.
    pub size_bytes: i64,
    /// Content-Type of the output.
    pub content_type: String,
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

impl RenderJobSpec {
    /// The codec in effect (h264 when none is given; stills have none).
    pub fn effective_codec(&self) -> Option<Codec> {
        if self.still.is_some() { None } else { Some(self.codec.unwrap_or_default()) }
    }
}
