//! `RenderJob`: one render of a composition, like a batch Job.

use kube::core::Rule;
use kube::{CustomResource, KubeSchema};
use schemars::{Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::common::{KeyRef, LocalObjectRef};
pub use output::OutputStoreSpec;
use remotion_protocol::media::{
    AudioCodec, Codec, ColorSpace, DeleteAfter, PixelFormat, ProResProfile, StillImageFormat, VideoImageFormat,
    X264Preset,
};
pub use remotion_protocol::output::{DownloadBehavior, DownloadType, StorageClass};
pub use remotion_protocol::page::{ChromiumOptions, LogLevel, OpenGlRenderer};
pub use remotion_protocol::payload::Privacy;

mod codec_rules;
mod delivery;
mod output;
mod overrides;
mod page;
mod sequence;
mod status;

use codec_rules::{CEL_CODEC, audio_codec_rule, crf_rule, pixel_format_rule};
pub use sequence::ImageSequenceSpec;
pub use status::{
    RenderArtifact, RenderCost, RenderErrorEntry, RenderJobStatus, RenderObject, RenderOutput, RenderPhase,
    RenderProgress, ResolvedRender, WebhookDeliveryStatus, WebhookOutcome,
};

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
    pub const DEFAULT_DELAY_RENDER_TIMEOUT_SECONDS: i32 = 30;
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
#[x_kube(validation = Rule::new("!has(self.still) || !(has(self.codec) || has(self.imageFormat) || has(self.crf) || has(self.pixelFormat) || has(self.x264Preset) || has(self.audioCodec) || has(self.audioBitrate) || has(self.frameRange) || has(self.everyNthFrame) || has(self.framesPerLambda) || has(self.concurrency) || has(self.concurrencyPerLambda))").message("a still renders one image: remove codec, imageFormat, crf, pixelFormat, x264Preset, audioCodec, audioBitrate, frameRange, everyNthFrame, framesPerLambda, concurrency and concurrencyPerLambda (the still's own imageFormat and frame apply)"))]
#[x_kube(validation = Rule::new("!has(self.imageFormat) || (self.imageFormat == 'none') == (has(self.codec) && self.codec in ['mp3', 'aac', 'wav'])").message("imageFormat 'none' goes with the audio-only codecs (mp3, aac, wav) and only with them"))]
#[x_kube(validation = audio_codec_rule())]
#[x_kube(validation = crf_rule())]
#[x_kube(validation = pixel_format_rule())]
#[x_kube(validation = Rule::new("!has(self.pixelFormat) || !(self.pixelFormat in ['yuva420p', 'yuva444p10le']) || (has(self.imageFormat) && self.imageFormat == 'png')").message("pixelFormat yuva420p and yuva444p10le are for transparent video, which needs PNG frames: set imageFormat png"))]
#[x_kube(validation = Rule::new("!has(self.x264Preset) || !has(self.codec) || self.codec == 'h264'").message("x264Preset applies to codec h264 only"))]
#[x_kube(validation = Rule::new("!has(self.everyNthFrame) || self.everyNthFrame == 1 || (has(self.codec) && self.codec == 'gif') || has(self.imageSequence)").message("everyNthFrame above 1 is only for codec gif or an imageSequence"))]
#[x_kube(validation = Rule::new("!has(self.jpegQuality) || (has(self.still) ? self.still.imageFormat == 'jpeg' : (!has(self.imageFormat) || self.imageFormat == 'jpeg'))").message("jpegQuality applies to JPEG frames or stills only"))]
#[x_kube(validation = Rule::new("!has(self.audioBitrate) || !has(self.codec) || self.codec != 'gif'").message("gif has no audio: remove audioBitrate"))]
#[x_kube(validation = delivery::still_rule())]
#[x_kube(validation = delivery::crf_or_bitrate_rule())]
#[x_kube(validation = delivery::max_rate_needs_buffer_rule())]
#[x_kube(validation = delivery::bitrate_codec_rule())]
#[x_kube(validation = delivery::libvpx_max_rate_rule())]
#[x_kube(validation = delivery::color_space_rule())]
#[x_kube(validation = delivery::pro_res_profile_rule())]
#[x_kube(validation = delivery::gif_loops_rule())]
#[x_kube(validation = delivery::enforce_audio_track_rule())]
#[x_kube(validation = delivery::gif_sample_rate_rule())]
#[x_kube(validation = delivery::opus_sample_rate_rule())]
#[x_kube(validation = delivery::gop_size_rule())]
#[x_kube(validation = delivery::prefer_lossless_codec_rule())]
#[x_kube(validation = delivery::prefer_lossless_audio_codec_rule())]
#[x_kube(validation = sequence::video_options_rule())]
#[x_kube(validation = sequence::output_key_rule())]
#[x_kube(validation = output::separate_audio_rule())]
#[x_kube(validation = output::separate_audio_extension_rule())]
#[x_kube(validation = overrides::even_width_rule())]
#[x_kube(validation = overrides::even_height_rule())]
pub struct RenderJobSpec {
    /// The RemotionSite to render from.
    pub site_ref: LocalObjectRef,

    /// The RenderFunction to render with: it runs the render's orchestrator and, unless
    /// `rendererFunctionRef` is set, its chunks.
    pub function_ref: LocalObjectRef,

    /// A RenderFunction of the same namespace and region whose Lambda function renders the
    /// chunks (Remotion's `rendererFunctionName`): a small orchestrator, large renderers. The
    /// render queues for this function's capacity; the orchestrator's function must be
    /// allowed to invoke it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renderer_function_ref: Option<LocalObjectRef>,

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

    /// Output codec. Default: the composition's `defaultCodec` (from `calculateMetadata`),
    /// else h264. Options checked against the codec (crf, pixelFormat, audioCodec, …) are
    /// checked against h264 when it is unset: name the codec to use them with another one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub codec: Option<Codec>,

    /// Format of the captured frames. Default: the composition's `defaultVideoImageFormat`,
    /// else jpeg (none for audio-only codecs).
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

    /// Pixel format of the encoded video. Default: the composition's `defaultPixelFormat`, else
    /// yuv420p (yuv422p10le for prores).
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

    /// Sample rate of the audio, Hz (Remotion's `sampleRate`). Default: the composition's
    /// `defaultSampleRate` (from `calculateMetadata`), else 48000. The audio is mixed at 48 kHz
    /// and resampled once to this rate; opus takes 8000, 12000, 16000, 24000 or 48000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 8000, max = 192000))]
    pub sample_rate: Option<i32>,

    /// Render without audio.
    #[serde(default)]
    pub muted: bool,

    /// Target video bit rate, e.g. `4M` or `800k` (h264, h265, vp8, vp9): the encoder aims at
    /// this rate instead of a constant quality. Excludes `crf`, as in Remotion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9]+(\.[0-9]+)?[kKMG]?$"), length(max = 32))]
    pub video_bitrate: Option<String>,

    /// Peak video bit rate, e.g. `5M` (FFmpeg's `-maxrate`); needs `encodingBufferSize`, and
    /// with vp8/vp9 `videoBitrate` too. With a CRF it caps the constant quality.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9]+(\.[0-9]+)?[kKMG]?$"), length(max = 32))]
    pub encoding_max_rate: Option<String>,

    /// Size of the rate-control buffer, e.g. `10M` (FFmpeg's `-bufsize`): over how many bits
    /// `encodingMaxRate` is enforced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9]+(\.[0-9]+)?[kKMG]?$"), length(max = 32))]
    pub encoding_buffer_size: Option<String>,

    /// Colour space of the video: `bt709` (BT.709 matrix, limited range, tagged BT.709; what
    /// the function does when unset, Remotion 5's default), `bt2020-ncl` (BT.2020 matrix,
    /// tagged bt2020nc/bt2020/arib-std-b67 as Remotion does), or `default`/`bt601` (Remotion
    /// 4's default: BT.601 matrix, limited range, untagged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color_space: Option<ColorSpace>,

    /// ProRes profile (codec prores only). Default: the composition's `defaultProResProfile`,
    /// else `hq`, or `4444` for the 4:4:4 pixel formats (whose alpha only 4444 keeps).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pro_res_profile: Option<ProResProfile>,

    /// How often a GIF plays again after its first play (codec gif only): unset loops forever,
    /// `0` plays once, `1` plays twice, and so on (Remotion's `numberOfGifLoops`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 65535))]
    pub number_of_gif_loops: Option<i32>,

    /// Give the output a silent audio track when nothing in the composition is heard (for
    /// players and pipelines that expect one). `muted` wins over it, as in Remotion.
    #[serde(default)]
    pub enforce_audio_track: bool,

    /// Most frames between two keyframes (Remotion's `gopSize`, FFmpeg's `-g`): smaller
    /// seeks faster and streams start sooner, at some size. h264, h265, vp8 and vp9 only;
    /// each chunk starts on a keyframe anyway. Unset: the encoder decides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 36000))]
    pub gop_size: Option<i32>,

    /// Lossless audio when `audioCodec` is unset (Remotion's `preferLossless`): pcm-16. MP4
    /// and WebM cannot carry it, so an h264, h265, vp8 or vp9 output becomes Matroska
    /// (`.mkv`, `video/x-matroska`), as in Remotion; prores keeps QuickTime.
    #[serde(default)]
    pub prefer_lossless: bool,

    /// Render every frame as an image file under `renders/<renderId>/frames/` instead of a
    /// video (Remotion's `--sequence`, with `imageSequencePattern`), optionally with one ZIP
    /// archive of them beside the folder. Frames are in `imageFormat` (jpeg or png);
    /// `everyNthFrame` selects which. No codec, audio or video encoding options apply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_sequence: Option<ImageSequenceSpec>,

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

    /// Tabs each chunk's invocation captures frames with at once (Remotion's
    /// `concurrencyPerLambda`; default 1). Each tab is a renderer process of its own: more
    /// tabs pay off on functions with several vCPUs (memory above 3,538 MB) and need memory
    /// to match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 16))]
    pub concurrency_per_lambda: Option<i32>,

    /// Retries of a failed or hung chunk, or of a still whose attempt failed (0–10).
    #[serde(default = "default_max_retries")]
    #[schemars(range(min = 0, max = 10))]
    pub max_retries: i32,

    /// How long one `delayRender()` may block the page, in seconds (Remotion's
    /// `timeoutInMilliseconds` / 1000; default 30). Not the Lambda function's timeout, which is
    /// the RenderFunction's `timeoutSeconds`. Called `timeoutSeconds` before v1alpha1 settled.
    #[serde(default = "default_delay_render_timeout_seconds")]
    #[schemars(range(min = 1, max = 900))]
    pub delay_render_timeout_seconds: i32,

    /// Render at this width instead of the composition's, in pixels (Remotion's `forceWidth`):
    /// the page is laid out at it, after `calculateMetadata`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 16384))]
    pub force_width: Option<i32>,

    /// Render at this height instead of the composition's, in pixels (Remotion's `forceHeight`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 16384))]
    pub force_height: Option<i32>,

    /// Render at this frame rate instead of the composition's (Remotion's `forceFps`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1.0, max = 1000.0))]
    pub force_fps: Option<f64>,

    /// Render this many frames instead of the composition's length (Remotion's
    /// `forceDurationInFrames`); `frameRange` and a still's `frame` count within it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 10000000))]
    pub force_duration_in_frames: Option<i64>,

    /// Where the output goes and who may read it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<OutputSpec>,

    /// Expire the render's files from the bucket after this long (needs expiry on the bucket).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_after: Option<DeleteAfter>,

    /// Environment variables of the page: what `process.env` holds while it renders
    /// (Remotion's `envVariables`; `NODE_ENV` stays `production`). At most 64, names of 1–128
    /// characters, values of at most 1024: they travel in every invocation's payload.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "page::env_variables_schema")]
    #[x_kube(validation = page::env_names_rule())]
    pub env_variables: BTreeMap<String, String>,

    /// Options of the browser the page runs in (Remotion's `chromiumOptions`): `gl` (default
    /// `swangle`, Remotion's on Lambda), `ignoreCertificateErrors`, `disableWebSecurity`,
    /// `userAgent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chromium_options: Option<ChromiumOptions>,

    /// How much the render logs (Remotion's `logLevel`): `error`, `warn`, `info` (default) or
    /// `verbose`, which also puts the page's console messages into the function's log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_level: Option<LogLevel>,

    /// The budget, in bytes, of the decoded media `<Video>` and `<Audio>` of `@remotion/media`
    /// keep (Remotion's `mediaCacheSizeInBytes`, the page's `remotion_mediaCacheSizeInBytes`).
    /// Unset: theirs, half the memory the page reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub media_cache_size_in_bytes: Option<i64>,

    /// The memory, in bytes, the function's `<OffthreadVideo>` frame server keeps decoders
    /// and their frames in between requests (Remotion's `offthreadVideoCacheSizeInBytes`).
    /// Less decodes again more often; more needs the RenderFunction's memory. Unset: four
    /// decoders.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub offthread_video_cache_size_in_bytes: Option<i64>,

    /// How many `<OffthreadVideo>` frames are decoded at once (Remotion's
    /// `offthreadVideoThreads`). Unset: one per tab asking (`concurrencyPerLambda`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 64))]
    pub offthread_video_threads: Option<i32>,

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

    /// An HTTP endpoint told when the job ends (succeeded, failed, timed out or cancelled),
    /// with Remotion's webhook payload, headers and signature (`renderMediaOnLambda()`'s
    /// `webhook` option): receivers written for Remotion Lambda accept it as is. Sent by the
    /// operator, so it fires even when the render function dies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<WebhookSpec>,
}

/// Remotion's `webhook` option: where the end of a render is announced, signed with which
/// secret, with which custom data.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookSpec {
    /// The endpoint the POST goes to: an `http://` or `https://` URL. Redirects are not
    /// followed, and addresses outside the public internet are refused unless the cluster
    /// admin allows private networks.
    #[schemars(length(min = 1, max = 2048))]
    #[x_kube(validation = Rule::new(WEBHOOK_URL_RULE).message(WEBHOOK_URL_MESSAGE))]
    pub url: String,
    /// The key of a Secret in the job's namespace holding the HMAC-SHA512 key the body is
    /// signed with (Remotion's `secret`). Absent: unsigned, `X-Remotion-Signature:
    /// NO_SECRET_PROVIDED` (Remotion's `secret: null`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<KeyRef>,
    /// Any JSON object, passed on to the receiver as `customData`; at most 1024 bytes
    /// serialized, as in Remotion (a larger one fails the job before launch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "custom_data_schema")]
    pub custom_data: Option<serde_json::Value>,
}

/// Most bytes of `webhook.customData`, serialized (Remotion's limit).
pub const MAX_WEBHOOK_CUSTOM_DATA_BYTES: usize = 1024;

/// An absolute http(s) URL with a host, no spaces.
const WEBHOOK_URL_RULE: &str = "self.matches('^https?://[^\\\\s/?#@]+([/?#]\\\\S*)?$')";
const WEBHOOK_URL_MESSAGE: &str = "webhook.url must be an absolute http:// or https:// URL with a host and no credentials, e.g. https://example.com/webhook";

/// Any JSON object, kept as given (the receiver decides its shape).
fn custom_data_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true,
        "description": "Any JSON object, passed on to the receiver as customData; at most 1024 bytes serialized, as in Remotion (a larger one fails the job before launch)."
    })
}

fn default_max_retries() -> i32 {
    limits::DEFAULT_MAX_RETRIES
}
fn default_delay_render_timeout_seconds() -> i32 {
    limits::DEFAULT_DELAY_RENDER_TIMEOUT_SECONDS
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
    "videoBitrate",
    "encodingMaxRate",
    "encodingBufferSize",
    "colorSpace",
    "proResProfile",
    "numberOfGifLoops",
    "enforceAudioTrack",
    "imageSequence",
    "frameRange",
    "everyNthFrame",
    "scale",
    "framesPerLambda",
    "concurrency",
    "maxRetries",
    "delayRenderTimeoutSeconds",
    "forceWidth",
    "forceHeight",
    "forceFps",
    "forceDurationInFrames",
    "output",
    "deleteAfter",
    "envVariables",
    "chromiumOptions",
    "logLevel",
    "webhook",
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
    /// Frame to render: 0 is the first; a negative frame counts from the end, -1 being the
    /// last (as Remotion's `frame`).
    #[serde(default)]
    #[schemars(range(min = -10000000, max = 10000000))]
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
#[x_kube(validation = Rule::new("!has(self.bucketRef) || !has(self.store)").message("output.bucketRef and output.store exclude each other: the output goes to one place"))]
#[x_kube(validation = Rule::new("!has(self.separateAudioTo) || !has(self.key) || self.separateAudioTo != self.key").message("output.separateAudioTo and output.key name the same object: give the audio a key of its own"))]
pub struct OutputSpec {
    /// Object key of the output. Default: `renders/<renderId>/<name>.<ext>`, where the name
    /// is the composition's `defaultOutName` (from `calculateMetadata`), else `out`, and the
    /// extension the codec's (or the still's image format's). A custom key must
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
    /// Another LambdaBucket of the job's namespace to write the output to (Remotion's
    /// `outName.bucketName`), instead of the site's: Ready, in the render's region, allowing
    /// public outputs when `privacy` is public. A LambdaBucket, not a bucket name: a name would
    /// let a namespace write into any bucket the function's role reaches. The key rules above
    /// apply in it too; the render's other files stay in the site's bucket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket_ref: Option<LocalObjectRef>,
    /// A store of the job's own, written with the keys of a Secret (Remotion's
    /// `outName.s3OutputProvider`). The key rules above do not apply there (only the CRD's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store: Option<OutputStoreSpec>,
    /// Replace an object already at the key. Default `false`, Remotion's: the render fails
    /// (`OutputExists`) before rendering when the key is taken, and the upload itself is
    /// conditional (`If-None-Match: *`), so two renders never replace each other's output.
    #[serde(default)]
    pub overwrite: bool,
    /// Remotion's `downloadBehavior`: `{type: play-in-browser}` (default) or `{type: download,
    /// fileName}`, the object's `Content-Disposition` (`attachment; filename="…"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = output::download_rule())]
    pub download_behavior: Option<DownloadBehavior>,
    /// S3 storage class of the object (Remotion's `storageClass`). Default: the bucket's
    /// (`STANDARD`). An archived class (`GLACIER`, `DEEP_ARCHIVE`) cannot be downloaded through
    /// the status URL until restored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class: Option<StorageClass>,
    /// User metadata of the object (`x-amz-meta-<key>`, Remotion's `metadata`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "output::metadata_schema")]
    #[x_kube(validation = output::metadata_keys_rule())]
    #[x_kube(validation = output::metadata_size_rule())]
    pub metadata: BTreeMap<String, String>,
    /// Delete the output object (wherever it went; an image sequence's frames and archive)
    /// when the RenderJob is deleted. The job keeps its finalizer until the object is gone; a
    /// failed delete is retried and reported (`OutputDeleteFailed`), an object already gone
    /// counts as deleted. Default `false`: the output outlives the job (the bucket's expiry
    /// rules remove it).
    #[serde(default)]
    pub delete_with_job: bool,
    /// Remotion's `separateAudioTo`: the object key of a file holding the render's audio
    /// alone, in the audio codec's own format (`.aac` raw ADTS, `.mp3`, `.opus` in Ogg, `.wav`
    /// for pcm-16; the extension must match), written beside the output in the same bucket or
    /// store with the same privacy, storage class and metadata. The output then has no audio
    /// track. A render with nothing audible gets a silent file of the video's length, as in
    /// Remotion. The key rules of `key` apply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[^/].*[^/]$|^[^/]$"), length(min = 1, max = 1024))]
    #[x_kube(validation = Rule::new("!self.startsWith('sites/') && !self.startsWith('optimization/')").message("output.separateAudioTo may not be under sites/ or optimization/: those folders hold the bucket's sites and cost profiles"))]
    #[x_kube(validation = Rule::new("!self.split('/').exists(s, s == '' || s == '.' || s == '..')").message("output.separateAudioTo may not have empty, '.' or '..' segments"))]
    pub separate_audio_to: Option<String>,
}
