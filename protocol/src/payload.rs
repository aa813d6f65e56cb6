//! The render function's protocol: one JSON payload per invocation, tagged by `type`.
//!
//! The operator calls `info`, `compositions`, `still` and `launch`; `launch` (the orchestrator)
//! calls `render` once per chunk, and `continue` on its own function when a render outlasts
//! the function's timeout. Every request but `info` carries `protocolVersion`; the
//! function refuses a payload of another version, and the operator refuses to launch on a
//! function whose `info` reports another version.

use serde::{Deserialize, Serialize};

use crate::keys::{KeyError, SiteFolder, SiteName};
use crate::lambda::Architecture;
use crate::media::{AudioCodec, Codec, DeleteAfter, PixelFormat, StillImageFormat, VideoImageFormat, X264Preset};

/// Version of this protocol. Bump on any incompatible change of a payload or response.
///
/// 2: `launch` names the site's namespace (`siteNamespace`), whose folder holds the site's cost
/// profiles; a function of version 1 would ignore it and share profiles across namespaces.
pub const PROTOCOL_VERSION: u32 = 2;

/// Serialized props above this size (bytes) go to S3 instead of the payload. Lambda takes 256 KB
/// for async invocations; like Remotion we leave room for the rest of the payload.
pub const INLINE_PROPS_LIMIT_BYTES: usize = 200_000 - 6_024;

/// The deepest nesting of input props the operator accepts (objects and arrays, the props
/// object itself counting 1). Deeper props are refused with `InvalidInputProps`: serde_json, and
/// with it the operator's watch, stops at 128 levels.
pub const MAX_PROPS_DEPTH: usize = 64;

/// Who may read an output.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Privacy {
    /// Readable with credentials or a presigned URL.
    #[default]
    Private,
    /// Readable by anyone with the URL.
    Public,
}

/// An inclusive range of frames (the wire form of a RenderJob's `frameRange`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FrameRange {
    /// First frame.
    pub start: i64,
    /// Last frame (inclusive). Default: the composition's last frame.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<i64>,
}

/// Render a single frame as an image (the wire form of a RenderJob's `still`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StillOptions {
    /// Frame to render (0 = first).
    #[serde(default)]
    pub frame: i64,
    /// Image format.
    #[serde(default)]
    pub image_format: StillImageFormat,
}

/// The payload of one invocation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Payload {
    /// Versions of the function.
    Info,
    /// The compositions of a site.
    Compositions(CompositionsRequest),
    /// Orchestrate a whole render.
    Launch(LaunchRequest),
    /// Go on with a render whose orchestrator neared its timeout.
    Continue(ContinueRequest),
    /// Render and encode one chunk.
    Render(RenderRequest),
    /// Render one frame as an image.
    Still(StillRequest),
}

impl Payload {
    /// The protocol version the payload was written for (`None` for `info`, which any
    /// version answers).
    pub fn protocol_version(&self) -> Option<u32> {
        match self {
            Self::Info => None,
            Self::Compositions(r) => Some(r.protocol_version),
            Self::Launch(r) => Some(r.protocol_version),
            Self::Continue(r) => Some(r.launch.protocol_version),
            Self::Render(r) => Some(r.protocol_version),
            Self::Still(r) => Some(r.protocol_version),
        }
    }

    /// The `type` tag.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Compositions(_) => "compositions",
            Self::Launch(_) => "launch",
            Self::Continue(_) => "continue",
            Self::Render(_) => "render",
            Self::Still(_) => "still",
        }
    }
}

/// Where a site is served from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SiteLocation {
    /// URL of the site's `index.html`.
    pub serve_url: String,
    /// When set, the site's files are read from this bucket and prefix with the function's
    /// credentials and served to the page under `serve_url`: the bucket never needs to be public.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3: Option<S3Prefix>,
}

/// A folder in a bucket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct S3Prefix {
    /// Bucket.
    pub bucket: String,
    /// Key prefix, ending in `/`.
    pub prefix: String,
}

/// Props serialized as the page expects them (`window.remotion_inputProps` is a string),
/// inline or offloaded to the bucket when large.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum SerializedProps {
    /// The serialized JSON, in the payload.
    Inline {
        /// Serialized JSON object.
        serialized: String,
    },
    /// The serialized JSON, in an object of the render's bucket.
    Bucket {
        /// Object key.
        key: String,
    },
}

impl SerializedProps {
    /// Empty props (`{}`).
    pub fn empty() -> Self {
        Self::Inline { serialized: "{}".into() }
    }

    /// Props that fit inline, or `None` when they must be offloaded to the bucket.
    pub fn inline_if_small(serialized: String) -> Result<Self, String> {
        if serialized.len() <= INLINE_PROPS_LIMIT_BYTES { Ok(Self::Inline { serialized }) } else { Err(serialized) }
    }
}

/// Request of `compositions`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CompositionsRequest {
    /// Protocol version of the caller.
    pub protocol_version: u32,
    /// The site.
    pub site: SiteLocation,
    /// Props to resolve metadata with.
    pub input_props: SerializedProps,
    /// delayRender timeout, ms.
    pub timeout_ms: u64,
}

/// Metadata of a composition, resolved for given props (`calculateMetadata` applied).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CompositionMetadata {
    /// Composition id.
    pub id: String,
    /// Width, px.
    pub width: u32,
    /// Height, px.
    pub height: u32,
    /// Frames per second.
    pub fps: f64,
    /// Length, frames.
    pub duration_in_frames: u64,
    /// The composition's default codec, if it names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_codec: Option<String>,
    /// The composition's default output name, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_out_name: Option<String>,
}

/// Response of `compositions`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CompositionsResponse {
    /// Every composition of the site.
    pub compositions: Vec<CompositionMetadata>,
}

/// Encoding settings of a video render, as requested (defaults resolved by the function).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EncodingSettings {
    /// Codec.
    pub codec: Codec,
    /// Audio codec (default: the codec's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio_codec: Option<AudioCodec>,
    /// Audio bitrate, e.g. `320k`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio_bitrate: Option<String>,
    /// Frame capture format.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_format: Option<VideoImageFormat>,
    /// JPEG quality of captured frames.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jpeg_quality: Option<u8>,
    /// CRF.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crf: Option<u8>,
    /// Pixel format.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pixel_format: Option<PixelFormat>,
    /// x264 preset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x264_preset: Option<X264Preset>,
    /// No audio.
    #[serde(default)]
    pub muted: bool,
    /// Output scale factor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<f64>,
    /// Render every nth frame.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every_nth_frame: Option<u32>,
}

/// How to split a render into chunks (at most one of the two; neither = planned).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Chunking {
    /// Frames per chunk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frames_per_lambda: Option<u32>,
    /// Number of chunks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<u32>,
}

/// The function that renders chunks, and what it costs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RendererConfig {
    /// Function name to invoke for chunks (usually the orchestrator's own).
    pub function_name: String,
    /// Region (for prices).
    pub region: String,
    /// Memory, MB.
    pub memory_mb: i64,
    /// Ephemeral storage, MB.
    pub disk_mb: i64,
    /// Architecture.
    pub architecture: Architecture,
    /// Timeout of one invocation, s: a chunk running longer is cut off and retried.
    pub timeout_seconds: u32,
    /// Chunk invocations this render may keep in flight at once: its share of the function's
    /// capacity, given by the operator. The orchestrator renders chunks in its own process too,
    /// so 0 is valid: every chunk is then rendered by the orchestrator itself. The operator may
    /// change the share while the render runs through the render's [`Allotment`].
    pub max_concurrency: u32,
}

/// `renders/<id>/allotment.json`: the render's current share of the function's capacity,
/// written by the operator when it re-divides capacity between running renders, and read by
/// the orchestrator while chunks remain. Absent: the launch request's `maxConcurrency` holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Allotment {
    /// Chunk invocations the render may keep in flight from now on (its orchestrator's own
    /// invocation not counted).
    pub chunk_slots: u32,
}

/// Where the output goes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutputTarget {
    /// Object key in the render's bucket.
    pub key: String,
    /// Who may read it.
    #[serde(default)]
    pub privacy: Privacy,
    /// Expiry tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_after: Option<DeleteAfter>,
}

/// Request of `launch`: orchestrate a whole render.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LaunchRequest {
    /// Protocol version of the caller.
    pub protocol_version: u32,
    /// The render's id (folder under `renders/`).
    pub render_id: String,
    /// The render's bucket.
    pub bucket: String,
    /// The site.
    pub site: SiteLocation,
    /// Namespace of the site: with [`Self::site_name`], the folder of its cost profiles
    /// ([`crate::keys::optimization`]).
    pub site_namespace: String,
    /// Site name.
    pub site_name: String,
    /// Composition id.
    pub composition: String,
    /// Input props.
    pub input_props: SerializedProps,
    /// Encoding settings.
    pub encoding: EncodingSettings,
    /// Frames to render (default: all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frame_range: Option<FrameRange>,
    /// Render this one frame as an image instead of a video. The orchestrator renders it
    /// itself (one browser, no chunk invocations) and reports it through the same progress
    /// document, so a still RenderJob is followed exactly like a video.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub still: Option<StillOptions>,
    /// Chunking.
    #[serde(default)]
    pub chunking: Chunking,
    /// Retries of a failed or hung chunk.
    pub max_retries: u32,
    /// delayRender timeout, ms.
    pub timeout_ms: u64,
    /// The output.
    pub output: OutputTarget,
    /// The renderer function.
    pub renderer: RendererConfig,
}

impl LaunchRequest {
    /// The site's folder, which keys its cost profiles.
    pub fn site_folder(&self) -> Result<SiteFolder, KeyError> {
        SiteFolder::new(self.site_namespace.clone(), SiteName::new(self.site_name.clone())?)
    }
}

/// Request of `continue`: the orchestrator's own continuation of a render, never sent by the
/// operator. An orchestrator nearing its function's timeout writes the render's state to
/// `renders/<id>/continuation.json` ([`crate::keys::continuation`]) and invokes its own
/// function with the render's launch request as continuation `number` (1, 2, …), which takes
/// the render over from that state instead of starting it. The number must be the one the
/// state names next, so that a repeated event of a continuation does nothing.
///
/// A payload of its own rather than a field of [`LaunchRequest`]: launch requests are built
/// field by field by the operator, which has no business with continuations.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContinueRequest {
    /// Which continuation this is (1 for the first).
    pub number: u32,
    /// The render's launch request, as the operator sent it.
    pub launch: LaunchRequest,
}

/// Response of `launch` (when invoked synchronously; the operator invokes it asynchronously
/// and follows the progress document).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LaunchResponse {
    /// The render id.
    pub render_id: String,
    /// Key of the progress document.
    pub progress_key: String,
    /// Key of the output.
    pub output_key: String,
}

/// Request of `render`: one chunk.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RenderRequest {
    /// Protocol version of the caller.
    pub protocol_version: u32,
    /// The render's id.
    pub render_id: String,
    /// The render's bucket.
    pub bucket: String,
    /// The site.
    pub site: SiteLocation,
    /// The composition, resolved by the orchestrator.
    pub composition: CompositionMetadata,
    /// Input props as given.
    pub input_props: SerializedProps,
    /// Props resolved by `calculateMetadata` (what `setBundleMode` receives).
    pub resolved_props: SerializedProps,
    /// Encoding settings.
    pub encoding: EncodingSettings,
    /// Chunk index.
    pub chunk: u32,
    /// First and last frame of the chunk (inclusive).
    pub frames: FrameSpan,
    /// 1 for the first try.
    pub attempt: u32,
    /// delayRender timeout, ms.
    pub timeout_ms: u64,
    /// Key to upload the chunk to.
    pub chunk_key: String,
    /// Key to upload per-frame timings to.
    pub timings_key: String,
    /// Key the renderer rewrites with its [`ChunkProgress`] while it renders (at most once a
    /// second); none: it does not report progress before it answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress_key: Option<String>,
}

/// What a renderer has done of its chunk so far (the object at
/// [`RenderRequest::progress_key`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChunkProgress {
    /// Chunk index.
    pub chunk: u32,
    /// The attempt that wrote it.
    pub attempt: u32,
    /// Frames captured so far.
    pub rendered: u64,
    /// Frames encoded so far.
    pub encoded: u64,
    /// Frames of the chunk.
    pub total: u64,
}

/// An inclusive span of frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FrameSpan {
    /// First frame.
    pub start: u64,
    /// Last frame (inclusive).
    pub end: u64,
}

impl FrameSpan {
    /// Frames in the span (taking every `nth` frame).
    pub fn len(&self, every_nth_frame: u32) -> u64 {
        if self.end < self.start {
            return 0;
        }
        (self.end - self.start) / u64::from(every_nth_frame.max(1)) + 1
    }

    /// Never true for a valid span (kept for clippy's `len_without_is_empty`).
    pub fn is_empty(&self) -> bool {
        self.end < self.start
    }
}

impl std::fmt::Display for FrameSpan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.start, self.end)
    }
}

/// Response of `render`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RenderResponse {
    /// Chunk index.
    pub chunk: u32,
    /// Attempt that produced it.
    pub attempt: u32,
    /// Key of the uploaded chunk.
    pub key: String,
    /// Its size.
    pub size_bytes: u64,
    /// Frames rendered.
    pub frames: u64,
    /// Capture + encode time of each frame, ms, in frame order.
    pub frame_milliseconds: Vec<u32>,
    /// Wall time of the invocation, ms (billed duration when no REPORT line is available).
    pub duration_ms: u64,
    /// Where the invocation's time went (absent from renderers that predate it).
    #[serde(default)]
    pub phases: ChunkPhases,
    /// Writes of the chunk's progress object (S3 requests the render is charged for).
    #[serde(default)]
    pub progress_writes: u64,
}

/// Where a chunk invocation's time went, ms: everything but `frames_ms` is the fixed cost a
/// chunk pays whatever its length.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChunkPhases {
    /// S3 client, props, the cancel watch.
    pub prepare_ms: u64,
    /// Leasing the browser (kept warm, or launched) with this invocation's context, and
    /// checking a page kept from the previous chunk.
    pub browser_ms: u64,
    /// Opening the site (the local server over the bucket prefix), unless a kept page's is used.
    pub site_ms: u64,
    /// The page ready for the first frame: tab, globals, navigation, bundle load and
    /// `setBundleMode` (nothing for a kept page).
    pub page_ms: u64,
    /// From the page being ready to the last frame encoded and the file finished.
    pub frames_ms: u64,
    /// Handing the browser back for the next invocation.
    pub release_ms: u64,
    /// Uploading the chunk and its timings.
    pub upload_ms: u64,
    /// Whether a page kept loaded from the previous chunk of the same render was used.
    #[serde(default)]
    pub page_reused: bool,
}

/// Request of `still`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StillRequest {
    /// Protocol version of the caller.
    pub protocol_version: u32,
    /// The render's id.
    pub render_id: String,
    /// The render's bucket.
    pub bucket: String,
    /// The site.
    pub site: SiteLocation,
    /// Composition id.
    pub composition: String,
    /// Input props.
    pub input_props: SerializedProps,
    /// Frame to render.
    pub frame: u64,
    /// Image format.
    pub image_format: StillImageFormat,
    /// JPEG quality.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jpeg_quality: Option<u8>,
    /// Scale factor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<f64>,
    /// delayRender timeout, ms.
    pub timeout_ms: u64,
    /// Where the image goes.
    pub output: OutputTarget,
}

/// Response of `still`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StillResponse {
    /// Key of the image.
    pub key: String,
    /// Its size.
    pub size_bytes: u64,
    /// Its Content-Type.
    pub content_type: String,
    /// Wall time of the invocation, ms.
    pub duration_ms: u64,
}

/// Response of `info`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InfoResponse {
    /// Version of the function's code.
    pub function_version: String,
    /// Protocol version it speaks.
    pub protocol_version: u32,
    /// Chromium version.
    pub chromium_version: String,
    /// FFmpeg library version.
    pub ffmpeg_version: String,
    /// Memory of the running function, MB (from the Lambda environment).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_size_mb: Option<i32>,
    /// Architecture of the running function.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub architecture: Option<Architecture>,
}

/// Kinds of errors the function reports (the Lambda `errorType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ErrorKind {
    /// The payload was written for another protocol version.
    ProtocolMismatch,
    /// The payload is malformed or asks for something impossible.
    InvalidPayload,
    /// The site could not be loaded or is not a Remotion bundle.
    SiteUnavailable,
    /// The composition does not exist in the site.
    CompositionNotFound,
    /// A `delayRender()` was not cleared in time.
    DelayRenderTimeout,
    /// The page threw, or called `cancelRender()`.
    PageError,
    /// The browser crashed or its connection broke.
    BrowserCrashed,
    /// A network error reaching the site or S3.
    Network,
    /// S3 answered with an error.
    Storage,
    /// Encoding or stitching failed.
    Encoding,
    /// A chunk invocation failed in Lambda (throttled, timed out, crashed).
    Invocation,
    /// The render was cancelled.
    Cancelled,
    /// Any other failure.
    Internal,
}

impl ErrorKind {
    /// Whether a retry of the same work may succeed (Remotion retries only an allow-list of
    /// "flaky" errors; we retry everything that is not a property of the input).
    pub fn is_retriable(self) -> bool {
        matches!(self, Self::BrowserCrashed | Self::Network | Self::Storage | Self::Invocation | Self::Internal)
    }

    /// The name used as Lambda `errorType` and as Kubernetes Event reason.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ProtocolMismatch => "ProtocolMismatch",
            Self::InvalidPayload => "InvalidPayload",
            Self::SiteUnavailable => "SiteUnavailable",
            Self::CompositionNotFound => "CompositionNotFound",
            Self::DelayRenderTimeout => "DelayRenderTimeout",
            Self::PageError => "PageError",
            Self::BrowserCrashed => "BrowserCrashed",
            Self::Network => "Network",
            Self::Storage => "Storage",
            Self::Encoding => "Encoding",
            Self::Invocation => "Invocation",
            Self::Cancelled => "Cancelled",
            Self::Internal => "Internal",
        }
    }

    /// Parses an `errorType` (unknown types are `Internal`).
    pub fn parse(error_type: &str) -> Self {
        serde_json::from_value(serde_json::Value::String(error_type.to_owned())).unwrap_or(Self::Internal)
    }
}

/// The body of a failed invocation, as the Lambda runtime reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionError {
    /// Kind of error.
    pub error_type: String,
    /// What happened.
    pub error_message: String,
}

impl FunctionError {
    /// The parsed kind.
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::parse(&self.error_type)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn payloads_are_tagged_by_type() {
        assert_eq!(serde_json::to_value(Payload::Info).unwrap(), json!({"type": "info"}));
        let p: Payload = serde_json::from_value(json!({
            "type": "compositions",
            "protocolVersion": 1,
            "site": {"serveUrl": "http://127.0.0.1/sites/s/index.html"},
            "inputProps": {"type": "inline", "serialized": "{}"},
            "timeoutMs": 30000
        }))
        .unwrap();
        assert_eq!(p.kind(), "compositions");
        assert_eq!(p.protocol_version(), Some(1));
        assert!(serde_json::from_value::<Payload>(json!({"type": "explode"})).is_err());
    }

    #[test]
    fn large_props_are_not_inlined() {
        assert!(matches!(SerializedProps::inline_if_small("{}".into()), Ok(SerializedProps::Inline { .. })));
        let big = format!("{{\"a\":\"{}\"}}", "x".repeat(INLINE_PROPS_LIMIT_BYTES));
        assert!(SerializedProps::inline_if_small(big).is_err());
    }

    #[test]
    fn error_kinds_round_trip_and_classify() {
        for kind in [ErrorKind::PageError, ErrorKind::BrowserCrashed, ErrorKind::Cancelled] {
            assert_eq!(ErrorKind::parse(kind.as_str()), kind);
        }
        assert_eq!(ErrorKind::parse("Runtime.ExitError"), ErrorKind::Internal);
        assert!(ErrorKind::BrowserCrashed.is_retriable());
        assert!(!ErrorKind::DelayRenderTimeout.is_retriable());
        assert!(!ErrorKind::CompositionNotFound.is_retriable());
    }

    #[test]
    fn an_allotment_is_its_chunk_slots() {
        let allotment: Allotment = serde_json::from_value(json!({"chunkSlots": 0})).unwrap();
        assert_eq!(allotment, Allotment { chunk_slots: 0 });
        assert_eq!(serde_json::to_value(Allotment { chunk_slots: 7 }).unwrap(), json!({"chunkSlots": 7}));
    }

    #[test]
    fn a_continuation_carries_the_launch_request_and_its_number() {
        let launch = json!({
            "protocolVersion": 1, "renderId": "r", "bucket": "b",
            "site": {"serveUrl": "http://x/index.html"}, "siteNamespace": "n", "siteName": "s", "composition": "C",
            "inputProps": {"type": "inline", "serialized": "{}"}, "encoding": {"codec": "h264"},
            "maxRetries": 1, "timeoutMs": 30000, "output": {"key": "renders/r/out.mp4"},
            "renderer": {"functionName": "f", "region": "us-east-1", "memoryMb": 2048, "diskMb": 2048,
                         "architecture": "x86_64", "timeoutSeconds": 60, "maxConcurrency": 2},
        });
        let request: LaunchRequest = serde_json::from_value(launch.clone()).unwrap();
        let payload = Payload::Continue(ContinueRequest { number: 2, launch: request.clone() });
        let json = serde_json::to_value(&payload).unwrap();
        assert_eq!((&json["type"], &json["number"]), (&json!("continue"), &json!(2)));
        assert_eq!(serde_json::from_value::<LaunchRequest>(json["launch"].clone()).unwrap(), request);
        // The launch request as the operator wrote it is taken as it is.
        let written: Payload =
            serde_json::from_value(json!({"type": "continue", "number": 2, "launch": launch})).unwrap();
        assert_eq!(written, payload);
        let back: Payload = serde_json::from_value(json).unwrap();
        assert_eq!(back, payload);
        assert_eq!((back.kind(), back.protocol_version()), ("continue", Some(1)));
        assert_eq!(request.site_folder().unwrap().to_string(), "n/s");
    }

    #[test]
    fn frame_spans_count_every_nth() {
        let s = FrameSpan { start: 0, end: 19 };
        assert_eq!(s.len(1), 20);
        assert_eq!(s.len(3), 7);
        assert_eq!(s.to_string(), "0-19");
    }
}
