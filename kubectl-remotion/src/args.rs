//! The command line. Flags of `render` and `still` carry the names of `npx remotion lambda
//! render` and `still` (the mapping to the RenderJob spec is in [`crate::spec`]).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use remotion_crds::render_job::{LogLevel, OpenGlRenderer, Privacy};
use remotion_protocol::media::{
    AudioCodec, Codec, ColorSpace, DeleteAfter, PixelFormat, ProResProfile, StillImageFormat, VideoImageFormat,
    X264Preset,
};
use serde::de::DeserializeOwned;

/// Render Remotion videos with remotion-operator, from kubectl.
#[derive(Debug, Parser)]
#[command(name = "kubectl-remotion", bin_name = "kubectl remotion", version)]
#[command(about = "Render Remotion videos and stills on remotion-operator, follow them, fetch the output")]
pub struct Cli {
    #[command(flatten)]
    pub kube: KubeArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Which cluster and namespace, as kubectl takes them.
#[derive(Debug, Args)]
pub struct KubeArgs {
    /// Namespace (default: the kubeconfig context's namespace, else `default`).
    #[arg(short = 'n', long, global = true)]
    pub namespace: Option<String>,
    /// Kubeconfig context to use (default: the current context).
    #[arg(long, global = true)]
    pub context: Option<String>,
    /// Path of the kubeconfig file (default: `$KUBECONFIG`, else `~/.kube/config`).
    #[arg(long, global = true, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Render a video: create a RenderJob, show its progress, download the output.
    Render(Box<RenderArgs>),
    /// Render one frame as an image: create a RenderJob with `still`, download the image.
    Still(Box<StillArgs>),
    /// List the RemotionSites of the namespace and their compositions.
    Sites(SitesArgs),
    /// Cancel a render and wait until it has stopped.
    Cancel(CancelArgs),
    /// Show a RenderJob's conditions, its errors and its Events.
    Logs(LogsArgs),
}

/// `render SITE COMPOSITION [OUTPUT]`.
#[derive(Debug, Args)]
pub struct RenderArgs {
    /// The RemotionSite to render from (`kubectl remotion sites` lists them).
    pub site: String,
    /// Id of the composition.
    pub composition: String,
    /// Where to save the output (Remotion's output-location argument; same as `--out`).
    #[arg(conflicts_with_all = ["out", "no_download"])]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub job: JobArgs,
    #[command(flatten)]
    pub video: VideoArgs,
}

/// `still SITE COMPOSITION [OUTPUT]`.
#[derive(Debug, Args)]
pub struct StillArgs {
    /// The RemotionSite to render from.
    pub site: String,
    /// Id of the composition.
    pub composition: String,
    /// Where to save the image (Remotion's output-location argument; same as `--out`).
    #[arg(conflicts_with_all = ["out", "no_download"])]
    pub output: Option<PathBuf>,
    /// Frame to render (0 = first).
    #[arg(long, default_value_t = 0)]
    pub frame: i64,
    /// Image format: png (default), jpeg, webp or pdf.
    #[arg(long, value_parser = serde_name::<StillImageFormat>)]
    pub image_format: Option<StillImageFormat>,
    #[command(flatten)]
    pub job: JobArgs,
}

/// Flags `render` and `still` share.
#[derive(Debug, Args)]
pub struct JobArgs {
    /// Input props: inline JSON (`'{"title":"Hi"}'`) or the path of a JSON file.
    #[arg(long, value_name = "JSON|FILE")]
    pub props: Option<String>,
    /// The RenderFunction to render with (default: the site's functionRef, else the only one
    /// in the namespace).
    #[arg(long, alias = "function-name", value_name = "NAME")]
    pub function: Option<String>,
    /// Name of the RenderJob (default: generated from the composition).
    #[arg(long)]
    pub name: Option<String>,
    /// Scale factor of the output size, e.g. 0.5 or 2.
    #[arg(long)]
    pub scale: Option<f64>,
    /// JPEG quality (0–100) of captured frames or of a JPEG still.
    #[arg(long, alias = "quality", value_name = "0-100")]
    pub jpeg_quality: Option<i32>,
    /// `private` (default: the output URL is presigned), `public` (the bucket must allow it) or
    /// `no-acl` (as private: written without an ACL, for buckets whose ACLs are disabled).
    #[arg(long, value_parser = privacy)]
    pub privacy: Option<Privacy>,
    /// Object key of the output in the bucket (default: `renders/<renderId>/out.<ext>`).
    #[arg(long, value_name = "KEY")]
    pub out_name: Option<String>,
    /// Validity of the presigned output URL, in seconds (max 604800).
    #[arg(long, value_name = "SECONDS")]
    pub presign_seconds: Option<i32>,
    /// Retries of a failed chunk (0–10).
    #[arg(long)]
    pub max_retries: Option<i32>,
    /// How long a `delayRender()` may block, in milliseconds (as Remotion's `--timeout`;
    /// rounded up to whole seconds).
    #[arg(long, value_name = "MS")]
    pub timeout: Option<u64>,
    /// Delete the render's files from the bucket after 1-day, 3-days, 7-days or 30-days.
    #[arg(long, value_parser = serde_name::<DeleteAfter>)]
    pub delete_after: Option<DeleteAfter>,
    /// Order among renders waiting for their function (higher first, -1000–1000).
    #[arg(long, allow_negative_numbers = true)]
    pub priority: Option<i32>,
    /// Environment variables of the page (`process.env`), from a dotenv file of `NAME=value`
    /// lines, as Remotion's `--env-file`.
    #[arg(long, value_name = "FILE")]
    pub env_file: Option<PathBuf>,
    /// Chromium's OpenGL renderer: swangle (the default on Lambda), angle, egl, swiftshader,
    /// vulkan or angle-egl.
    #[arg(long, value_parser = serde_name::<OpenGlRenderer>)]
    pub gl: Option<OpenGlRenderer>,
    /// The page's User-Agent.
    #[arg(long, value_name = "AGENT")]
    pub user_agent: Option<String>,
    /// Accept invalid (e.g. self-signed) certificates of what the page loads.
    #[arg(long)]
    pub ignore_certificate_errors: bool,
    /// Turn off CORS and the other web security checks of the page.
    #[arg(long)]
    pub disable_web_security: bool,
    /// The render's log level: error, warn, info (default) or verbose (the page's console goes
    /// to the function's log).
    #[arg(long = "log", value_parser = serde_name::<LogLevel>)]
    pub log_level: Option<LogLevel>,
    /// Budget of @remotion/media's decoded-media cache, bytes (mediaCacheSizeInBytes).
    #[arg(long, value_name = "BYTES")]
    pub media_cache_size_in_bytes: Option<i64>,
    /// Memory the <OffthreadVideo> frame server keeps decoders in, bytes
    /// (offthreadVideoCacheSizeInBytes).
    #[arg(long = "offthreadvideo-cache-size-in-bytes", value_name = "BYTES")]
    pub offthread_video_cache_size_in_bytes: Option<i64>,
    /// <OffthreadVideo> frames decoded at once (offthreadVideoThreads).
    #[arg(long = "offthreadvideo-video-threads", value_name = "N")]
    pub offthread_video_threads: Option<i32>,
    /// Where to save the output (default: `out/<job name>.<ext>`).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Leave the output in the bucket: print its URL, download nothing.
    #[arg(long, conflicts_with = "out")]
    pub no_download: bool,
}

/// Flags of a video render.
#[derive(Debug, Args)]
pub struct VideoArgs {
    /// h264 (default), h265, vp8, vp9, prores, gif, mp3, aac or wav.
    #[arg(long, value_parser = serde_name::<Codec>)]
    pub codec: Option<Codec>,
    /// aac, mp3, opus or pcm-16 (must fit the codec).
    #[arg(long, value_parser = serde_name::<AudioCodec>)]
    pub audio_codec: Option<AudioCodec>,
    /// Audio bitrate, e.g. 320k.
    #[arg(long)]
    pub audio_bitrate: Option<String>,
    /// Sample rate of the audio, Hz (default: the composition's, else 48000).
    #[arg(long)]
    pub sample_rate: Option<i32>,
    /// Render without audio.
    #[arg(long)]
    pub muted: bool,
    /// Constant rate factor (h264/h265 0–51, vp8 4–63, vp9 0–63).
    #[arg(long)]
    pub crf: Option<i32>,
    /// Pixel format, e.g. yuv420p or yuva420p.
    #[arg(long, value_parser = serde_name::<PixelFormat>)]
    pub pixel_format: Option<PixelFormat>,
    /// Format of the captured frames: jpeg, png or none (audio-only codecs).
    #[arg(long, value_parser = serde_name::<VideoImageFormat>)]
    pub image_format: Option<VideoImageFormat>,
    /// libx264 preset (h264 only), e.g. veryfast.
    #[arg(long, value_parser = serde_name::<X264Preset>)]
    pub x264_preset: Option<X264Preset>,
    /// Frames to render: `A-B` (inclusive), `A-` (to the end) or `N` (one frame).
    #[arg(long, value_name = "RANGE")]
    pub frames: Option<String>,
    /// Render every nth frame only (gif).
    #[arg(long)]
    pub every_nth_frame: Option<i32>,
    /// Frames per chunk (one chunk = one Lambda invocation).
    #[arg(long, conflicts_with = "concurrency")]
    pub frames_per_lambda: Option<i32>,
    /// Number of chunks to split the render into.
    #[arg(long)]
    pub concurrency: Option<i32>,
    /// Browser tabs capturing each chunk's frames at once (1–16).
    #[arg(long)]
    pub concurrency_per_lambda: Option<i32>,
    /// Object key of a file holding the audio alone, e.g. outputs/ns/intro.aac (its extension
    /// the audio codec's); the video then has no audio track.
    #[arg(long)]
    pub separate_audio_to: Option<String>,
    /// Target video bit rate, e.g. 4M or 800k, instead of a CRF (h264, h265, vp8, vp9).
    #[arg(long)]
    pub video_bitrate: Option<String>,
    /// Peak video bit rate, e.g. 5M (needs --buffer-size).
    #[arg(long)]
    pub max_rate: Option<String>,
    /// Rate-control buffer size, e.g. 10M.
    #[arg(long)]
    pub buffer_size: Option<String>,
    /// default, bt601, bt709 or bt2020-ncl.
    #[arg(long, value_parser = serde_name::<ColorSpace>)]
    pub color_space: Option<ColorSpace>,
    /// 4444-xq, 4444, hq, standard, light or proxy (prores only).
    #[arg(long, value_parser = serde_name::<ProResProfile>)]
    pub prores_profile: Option<ProResProfile>,
    /// Times a GIF plays again after its first play (unset: forever; 0: once).
    #[arg(long)]
    pub number_of_gif_loops: Option<i32>,
    /// A silent audio track when nothing is heard.
    #[arg(long)]
    pub enforce_audio_track: bool,
    /// Most frames between two keyframes (gopSize; h264, h265, vp8, vp9).
    #[arg(long = "gop", value_name = "FRAMES")]
    pub gop_size: Option<i32>,
    /// Lossless (pcm-16) audio when --audio-codec is unset (preferLossless; prores or wav).
    #[arg(long)]
    pub prefer_lossless: bool,
    /// Every frame as an image file instead of a video (imageSequence).
    #[arg(long)]
    pub sequence: bool,
    /// Name of each frame file, with [frame] and [ext] (implies --sequence).
    #[arg(long, value_name = "PATTERN")]
    pub image_sequence_pattern: Option<String>,
    /// Also one ZIP of every frame, downloaded instead of the frames (implies --sequence).
    #[arg(long)]
    pub sequence_archive: bool,
}

/// `sites [SITE]`.
#[derive(Debug, Args)]
pub struct SitesArgs {
    /// Show only this site.
    pub site: Option<String>,
}

/// `cancel JOB`.
#[derive(Debug, Args)]
pub struct CancelArgs {
    /// The RenderJob to cancel.
    pub job: String,
    /// How long to wait for the render to stop, in seconds.
    #[arg(long, default_value_t = 120, value_name = "SECONDS")]
    pub wait_timeout: u64,
    /// Ask for the cancel and return without waiting.
    #[arg(long)]
    pub no_wait: bool,
}

/// `logs JOB`.
#[derive(Debug, Args)]
pub struct LogsArgs {
    /// The RenderJob.
    pub job: String,
}

/// A value named as in the resource's YAML (the enums' serde names, which are Remotion's).
/// serde's message lists the names it accepts.
fn serde_name<T: DeserializeOwned>(value: &str) -> Result<T, String> {
    serde_json::from_value(serde_json::Value::String(value.to_owned())).map_err(|e| e.to_string())
}

/// `--privacy`: Remotion's three values.
fn privacy(value: &str) -> Result<Privacy, String> {
    serde_name(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enum_flags_take_remotions_names_and_list_them_when_wrong() {
        assert_eq!(serde_name::<Codec>("vp9"), Ok(Codec::Vp9));
        assert_eq!(serde_name::<AudioCodec>("pcm-16"), Ok(AudioCodec::Pcm16));
        assert_eq!(serde_name::<DeleteAfter>("7-days"), Ok(DeleteAfter::SevenDays));
        let wrong = serde_name::<Codec>("h266").unwrap_err();
        assert!(wrong.contains("h266") && wrong.contains("h264") && wrong.contains("prores"), "{wrong}");
    }

    #[test]
    fn privacy_takes_remotions_three_values() {
        assert_eq!(privacy("public"), Ok(Privacy::Public));
        assert_eq!(privacy("no-acl"), Ok(Privacy::NoAcl));
        assert!(privacy("open").is_err());
    }

    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn frames_per_lambda_and_concurrency_exclude_each_other() {
        let parsed = Cli::try_parse_from([
            "kubectl-remotion",
            "render",
            "site",
            "Intro",
            "--frames-per-lambda",
            "10",
            "--concurrency",
            "3",
        ]);
        let error = parsed.unwrap_err().to_string();
        assert!(error.contains("--frames-per-lambda") && error.contains("--concurrency"), "{error}");
    }

    #[test]
    fn one_place_for_the_output() {
        for flags in [["out.mp4", "--out", "other.mp4"], ["out.mp4", "--no-download", "--muted"]] {
            let argv = ["kubectl-remotion", "render", "site", "Intro"].into_iter().chain(flags);
            let error = Cli::try_parse_from(argv).unwrap_err().to_string();
            assert!(error.contains("cannot be used with"), "{flags:?}: {error}");
        }
    }

    #[test]
    fn kubectl_flags_go_before_or_after_the_command() {
        let cli = Cli::try_parse_from(["kubectl-remotion", "-n", "videos", "sites", "--context", "prod"]).unwrap();
        assert_eq!(cli.kube.namespace.as_deref(), Some("videos"));
        assert_eq!(cli.kube.context.as_deref(), Some("prod"));
    }
}
