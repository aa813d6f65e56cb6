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
use crate::media::{
    AudioCodec, Codec, ColorSpace, PixelFormat, ProResProfile, StillImageFormat, VideoImageFormat, X264Preset,
};
use crate::page::PageSettings;

mod chunk;
mod composition;
mod output;
mod sequence;

pub use chunk::{ChunkPhases, ChunkProgress, FrameSpan, MAX_CONCURRENCY_PER_LAMBDA, RenderRequest, RenderResponse};
pub use composition::{
    CompositionMetadata, CompositionOverrides, CompositionsRequest, CompositionsResponse, EncodingDefaults,
    UnsupportedDefault,
};
pub use output::{OutputTarget, Privacy};
pub use sequence::{DEFAULT_PATTERN, ImageSequence, MAX_PATTERN_LENGTH, SequenceError, SequenceTarget, check_pattern};

/// Version of this protocol. Bump on any incompatible change of a payload or response.
///
/// 2: `launch` names the site's namespace (`siteNamespace`), whose folder holds the site's cost
/// profiles; a function of version 1 would ignore it and share profiles across namespaces.
///
/// 3: Remotion's second wave of render options (page environment, browser options, delivery
/// encoding); a function of version 2 would ignore them and render something else than asked.
///
/// 4: Remotion's composition overrides and defaults: `launch` may leave the codec and the output
/// key to the composition's `calculateMetadata` defaults (`codecChosen`, `output.key` absent),
/// carries `overrides` (`forceWidth`, …) and a still's frame may count from the end; a function
/// of version 3 would render h264 to a key nobody follows, at the composition's own size.
///
/// 5: where the output goes (`output.bucket`, `output.store`) and how it is written
/// (`overwrite`, `downloadBehavior`, `storageClass`, `metadata`), and image sequences
/// (`encoding.imageSequence`, a chunk's `sequence`): a function of version 4 would write the
/// output to the render's bucket, replacing what is at the key, without the headers asked for,
/// or render a video nobody asked for instead of the frames.
///
/// 6: `output.separateAudioKey`: a function of version 5 would keep the audio in the output
/// and write no audio file.
///
/// 7: `encoding.sampleRate` (and the composition's `defaultSampleRate`): a function of version 6
/// would write 48 kHz audio whatever the job asked for.
///
/// 8: `encoding.gopSize`, `encoding.preferLossless` and the media limits of the page settings
/// (`mediaCacheSizeInBytes`, `offthreadVideoCacheSizeInBytes`, `offthreadVideoThreads`): a
/// function of version 7 would let the encoder place keyframes, compress the audio and size
/// its caches itself.
pub const PROTOCOL_VERSION: u32 = 8;

/// Serialized props above this size (bytes) go to S3 instead of the payload. Lambda takes 256 KB
/// for async invocations; like Remotion we leave room for the rest of the payload.
pub const INLINE_PROPS_LIMIT_BYTES: usize = 200_000 - 6_024;

/// The deepest nesting of input props the operator accepts (objects and arrays, the props
/// object itself counting 1). Deeper props are refused with `InvalidInputProps`: serde_json, and
/// with it the operator's watch, stops at 128 levels.
pub const MAX_PROPS_DEPTH: usize = 64;

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
    /// Frame to render: 0 is the first, a negative frame counts from the end (-1 is the last).
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
    /// Sample rate of the output's audio, Hz (Remotion's `sampleRate`; default: the
    /// composition's `defaultSampleRate`, else 48,000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample_rate: Option<u32>,
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
    /// Target video bit rate, e.g. `4M` (Remotion's `videoBitrate`; instead of a CRF).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video_bitrate: Option<String>,
    /// Peak video bit rate, e.g. `5M` (Remotion's `encodingMaxRate`, FFmpeg's `-maxrate`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding_max_rate: Option<String>,
    /// Rate-control buffer, e.g. `10M` (Remotion's `encodingBufferSize`, FFmpeg's `-bufsize`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding_buffer_size: Option<String>,
    /// Colour space of the video (default: BT.709, see the function's `encode::delivery`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color_space: Option<ColorSpace>,
    /// ProRes profile (prores only; default: HQ, or 4444 for 4:4:4 pixel formats).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pro_res_profile: Option<ProResProfile>,
    /// Times a GIF loops after its first play (gif only): none loops forever, 0 plays once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number_of_gif_loops: Option<u32>,
    /// A silent audio track when nothing is heard (Remotion's `enforceAudioTrack`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub enforce_audio_track: bool,
    /// Most frames between two keyframes (Remotion's `gopSize`, FFmpeg's `-g`; unset: the
    /// encoder's own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gop_size: Option<u32>,
    /// Lossless audio (pcm-16) when `audioCodec` is unset (Remotion's `preferLossless`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub prefer_lossless: bool,
    /// Every frame as an image file instead of a video (Remotion's `--sequence`): no codec,
    /// no audio; the frames go under `renders/<id>/frames/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_sequence: Option<ImageSequence>,
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
    /// Tabs each chunk invocation captures with (Remotion's `concurrencyPerLambda`), at most
    /// [`MAX_CONCURRENCY_PER_LAMBDA`].
    #[serde(default = "chunk::one_tab", skip_serializing_if = "is_one")]
    pub concurrency_per_lambda: u32,
}

/// The function a launch runs on when it is not the renderer (Remotion's `functionName` beside
/// `rendererFunctionName`): its invocations are priced at its own size. Same region as the
/// renderer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrchestratorConfig {
    /// Function name.
    pub function_name: String,
    /// Memory, MB.
    pub memory_mb: i64,
    /// Ephemeral storage, MB.
    pub disk_mb: i64,
    /// Architecture.
    pub architecture: Architecture,
}

fn is_one(tabs: &u32) -> bool {
    *tabs == 1
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
    /// Encoding settings. What the job left unset the function fills from the composition's
    /// `calculateMetadata` defaults, then Remotion's (see [`EncodingDefaults`]).
    pub encoding: EncodingSettings,
    /// The job named `encoding.codec`. When it did not, the composition's `defaultCodec` replaces
    /// it, and `encoding.codec` (h264) is only the codec of compositions that declare none.
    #[serde(default)]
    pub codec_chosen: bool,
    /// Size, frame rate and length the composition is rendered with instead of its own.
    #[serde(default, skip_serializing_if = "CompositionOverrides::is_empty")]
    pub overrides: CompositionOverrides,
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
    /// Retries of a failed or hung chunk, or of a still whose attempt failed.
    pub max_retries: u32,
    /// delayRender timeout, ms.
    pub timeout_ms: u64,
    /// The output.
    pub output: OutputTarget,
    /// The renderer function.
    pub renderer: RendererConfig,
    /// The orchestrator's own function, when chunks render on another (absent: the renderer
    /// is the orchestrator's own function).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub orchestrator: Option<OrchestratorConfig>,
    /// The page's environment, the browser's options and the log level (all renders' pages:
    /// the orchestrator's, every chunk's, a still's).
    #[serde(default, skip_serializing_if = "PageSettings::is_default")]
    pub page: PageSettings,
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
/// and follows the progress document, whose `resolved` says the same).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LaunchResponse {
    /// The render id.
    pub render_id: String,
    /// Key of the progress document.
    pub progress_key: String,
    /// Key of the output: the request's, or the one the function named once it resolved the
    /// composition. Empty when the invocation answered before anything was resolved (a repeated
    /// launch of a render the request left the key to): the progress document's
    /// `resolved.outputKey` says it then.
    pub output_key: String,
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
    /// Frame to render: 0 is the first, a negative frame counts from the end (-1 is the last).
    pub frame: i64,
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
    /// Size, frame rate and length the composition is rendered with instead of its own.
    #[serde(default, skip_serializing_if = "CompositionOverrides::is_empty")]
    pub overrides: CompositionOverrides,
    /// Where the image goes: a key of the render's bucket, replaced if taken. The other output
    /// options (another store, headers, metadata, `overwrite`) are `launch`'s: this payload
    /// refuses them.
    pub output: OutputTarget,
    /// The page's environment, the browser's options and the log level.
    #[serde(default, skip_serializing_if = "PageSettings::is_default")]
    pub page: PageSettings,
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
    /// An object is already at the output's key and the render may not replace it
    /// (`overwrite: false`).
    OutputExists,
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
            Self::OutputExists => "OutputExists",
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
}
