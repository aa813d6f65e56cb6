//! The `remotion-function` binary: the render function as a command-line tool
//! (`compositions`, `still`, `render`) and, with no command under AWS Lambda, the function's
//! runtime ([`crate::lambda`]). A stop signal ends a command cleanly: its browser closed, a
//! video's partial output removed.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use remotion_protocol::media::{AudioCodec, Codec, ColorSpace, PixelFormat, ProResProfile};
use remotion_protocol::payload::CompositionOverrides;

use crate::capture::browser::{Browser, BrowserOptions};
use crate::capture::compositions::{list_compositions, overridden, resolve_composition};
use crate::capture::page::Capture;
use crate::capture::page::ResolvedComposition;
use crate::capture::site::Site;
use crate::capture::still::{StillRequest, render_resolved_still, still_frame};
use crate::encode::audio::AudioSettings;
use crate::encode::delivery::{Delivery, MAX_GOP_SIZE, RateControl};
use crate::encode::{Container, ImageKind};
use crate::props::read_props;
use crate::render::{Progress, VideoRequest, render_frames};

#[derive(Parser)]
#[command(name = "remotion-function", version, about = "Render Remotion bundles with headless Chromium and FFmpeg")]
struct Cli {
    /// Without a command, the binary is the Lambda function (AWS_LAMBDA_RUNTIME_API must be set).
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Print the site's compositions (metadata resolved for the props) as JSON.
    Compositions {
        #[command(flatten)]
        site: SiteArgs,
    },
    /// Render one frame as an image.
    Still {
        #[command(flatten)]
        site: SiteArgs,
        /// Composition id.
        #[arg(long)]
        composition: String,
        /// Frame to render; negative counts from the end (-1 is the last frame).
        #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
        frame: i64,
        /// Remotion's composition overrides.
        #[command(flatten)]
        overrides: OverrideArgs,
        /// Image format.
        #[arg(long, value_enum, default_value_t = StillFormat::Png)]
        image_format: StillFormat,
        /// JPEG quality (0–100).
        #[arg(long, default_value_t = 80, value_parser = clap::value_parser!(u8).range(0..=100))]
        jpeg_quality: u8,
        /// Output scale factor.
        #[arg(long, default_value_t = 1.0)]
        scale: f64,
        /// Where to write the image.
        #[arg(long)]
        out: PathBuf,
    },
    /// Render frames of a composition to a video file.
    Render {
        #[command(flatten)]
        site: SiteArgs,
        /// Composition id.
        #[arg(long)]
        composition: String,
        /// Remotion's composition overrides.
        #[command(flatten)]
        overrides: OverrideArgs,
        /// Codec; the output's container follows it (mp4, webm, mov, gif; mp3, aac and wav are
        /// audio only).
        #[arg(long, value_enum, default_value_t = VideoCodec::H264)]
        codec: VideoCodec,
        /// Frames to render, `A-B` (inclusive) or `N`; default all.
        #[arg(long, value_parser = parse_frames)]
        frames: Option<(u64, u64)>,
        /// Tabs capturing in parallel.
        #[arg(long, default_value_t = 1)]
        concurrency: usize,
        /// Constant rate factor; default the codec's (h264 18, h265 23, vp8 9, vp9 28).
        #[arg(long, value_parser = clap::value_parser!(u8).range(0..=63))]
        crf: Option<u8>,
        /// x264/x265 preset.
        #[arg(long, default_value = "medium")]
        x264_preset: String,
        /// JPEG quality of captured frames.
        #[arg(long, default_value_t = 80, value_parser = clap::value_parser!(u8).range(0..=100))]
        jpeg_quality: u8,
        /// Render only frames whose number is a multiple of N (gif only, like Remotion); the
        /// output plays at fps / N.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1000))]
        every_nth_frame: u32,
        /// Format of the captured frames: jpeg (faster) or png (lossless, transparent background).
        #[arg(long, value_enum, default_value_t = FrameFormat::Jpeg)]
        image_format: FrameFormat,
        /// Output scale: the video is the composition's size times this (e.g. 0.5).
        #[arg(long, default_value_t = 1.0)]
        scale: f64,
        /// Pixel format (FFmpeg's name); default the codec's. yuva420p (vp8, vp9) and
        /// yuva444p10le (prores) keep transparency, with --image-format png.
        #[arg(long, value_parser = parse_pixel_format)]
        pixel_format: Option<PixelFormat>,
        /// Leave the audio out (no audio stream).
        #[arg(long)]
        muted: bool,
        /// Audio codec; default the codec's (aac for h264, h265 and prores, opus for vp8 and vp9).
        #[arg(long, value_enum)]
        audio_codec: Option<AudioCodecArg>,
        /// Audio bitrate, e.g. 320k (the default) or 128000.
        #[arg(long)]
        audio_bitrate: Option<String>,
        /// Sample rate of the audio, Hz (default 48000; opus takes 8000, 12000, 16000, 24000
        /// or 48000).
        #[arg(long)]
        sample_rate: Option<u32>,
        /// Lossless audio (pcm-16) when --audio-codec is unset: prores and wav (an MP4 or
        /// WebM cannot carry it here).
        #[arg(long)]
        prefer_lossless: bool,
        /// Remotion's delivery options (bit rates, colour space, ProRes profile, GIF loops,
        /// enforced audio track), under Remotion's CLI flag names.
        #[command(flatten)]
        delivery: DeliveryArgs,
        /// Where to write the video.
        #[arg(long)]
        out: PathBuf,
    },
}

/// Remotion's delivery options, as its CLI names them.
#[derive(clap::Args)]
struct DeliveryArgs {
    /// Target video bit rate, e.g. 4M or 800k, instead of a CRF (h264, h265, vp8, vp9).
    #[arg(long)]
    video_bitrate: Option<String>,
    /// Peak video bit rate, e.g. 5M (FFmpeg's -maxrate); needs --buffer-size.
    #[arg(long)]
    max_rate: Option<String>,
    /// Rate-control buffer, e.g. 10M (FFmpeg's -bufsize).
    #[arg(long)]
    buffer_size: Option<String>,
    /// Colour space: bt709 (unset: the same), bt2020-ncl, or default/bt601 (BT.601, untagged).
    #[arg(long, value_parser = parse_remotion_name::<ColorSpace>)]
    color_space: Option<ColorSpace>,
    /// ProRes profile: 4444-xq, 4444, hq (default), standard, light or proxy.
    #[arg(long, value_parser = parse_remotion_name::<ProResProfile>)]
    prores_profile: Option<ProResProfile>,
    /// Times a GIF plays again after its first play; unset: forever, 0: played once.
    #[arg(long, value_parser = clap::value_parser!(u32).range(0..=65535))]
    number_of_gif_loops: Option<u32>,
    /// A silent audio track when nothing is heard.
    #[arg(long)]
    enforce_audio_track: bool,
    /// Most frames between two keyframes (FFmpeg's -g; h264, h265, vp8, vp9).
    #[arg(long = "gop", value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_GOP_SIZE)))]
    gop_size: Option<u32>,
}

impl DeliveryArgs {
    fn delivery(&self) -> Result<Delivery> {
        Ok(Delivery {
            rate: RateControl::parse(
                self.video_bitrate.as_deref(),
                self.max_rate.as_deref(),
                self.buffer_size.as_deref(),
            )?,
            color_space: self.color_space,
            pro_res_profile: self.prores_profile,
            number_of_gif_loops: self.number_of_gif_loops.map(u16::try_from).transpose()?,
            enforce_audio_track: self.enforce_audio_track,
            gop_size: self.gop_size,
        })
    }
}

/// An option value under Remotion's name (`bt2020-ncl`, `4444-xq`, …).
fn parse_remotion_name<T: serde::de::DeserializeOwned>(s: &str) -> Result<T, String> {
    serde_json::from_value(serde_json::Value::String(s.to_owned()))
        .map_err(|_| format!("{s:?} is not one of Remotion's values for this option"))
}

/// Remotion's composition overrides (`forceWidth`, `forceHeight`, `forceFps`,
/// `forceDurationInFrames`), under its CLI's flag names.
#[derive(clap::Args)]
struct OverrideArgs {
    /// Width of the composition, px, instead of what it declares.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=16384))]
    width: Option<u32>,
    /// Height of the composition, px.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=16384))]
    height: Option<u32>,
    /// Frames per second (1–1000).
    #[arg(long)]
    fps: Option<f64>,
    /// Length of the composition, frames (frame ranges and a still's frame count within it).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    duration: Option<u64>,
}

impl OverrideArgs {
    fn overrides(&self) -> Result<CompositionOverrides> {
        if let Some(fps) = self.fps
            && !(1.0..=1000.0).contains(&fps)
        {
            anyhow::bail!("--fps {fps} is outside 1–1000");
        }
        Ok(CompositionOverrides {
            width: self.width,
            height: self.height,
            fps: self.fps,
            duration_in_frames: self.duration,
        })
    }
}

/// `id` of the site resolved for the props, with `overrides` applied.
async fn resolved(
    browser: &Browser,
    site: &Site,
    id: &str,
    props: &str,
    timeout: Duration,
    overrides: &CompositionOverrides,
) -> Result<ResolvedComposition> {
    let composition = resolve_composition(browser, site, id, props, timeout).await?;
    Ok(overridden(composition, overrides))
}

/// The site, its props and the page timeout: what every command needs.
#[derive(clap::Args)]
struct SiteArgs {
    /// http(s) URL of the site, or a local bundle folder (`npx remotion bundle` output).
    #[arg(long)]
    serve_url: String,
    /// Input props: JSON text or a JSON file.
    #[arg(long)]
    props: Option<String>,
    /// delayRender timeout, ms.
    #[arg(long, default_value_t = 30_000)]
    timeout_ms: u64,
}

impl SiteArgs {
    /// The serialized props, the site opened, and a browser.
    async fn open(&self) -> Result<(String, Site, Browser)> {
        self.open_with(BrowserOptions::detect()?).await
    }

    /// [`SiteArgs::open`] with a browser launched with `options`.
    async fn open_with(&self, options: BrowserOptions) -> Result<(String, Site, Browser)> {
        let props = read_props(self.props.as_deref())?;
        let site = Site::open(&self.serve_url).await?;
        let browser = Browser::launch(&options).await?;
        Ok((props, site, browser))
    }

    fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum VideoCodec {
    H264,
    H265,
    Vp8,
    Vp9,
    Prores,
    Gif,
    Mp3,
    Aac,
    Wav,
}

#[derive(Clone, Copy, ValueEnum)]
enum FrameFormat {
    Jpeg,
    Png,
}

impl From<VideoCodec> for Codec {
    fn from(codec: VideoCodec) -> Self {
        match codec {
            VideoCodec::H264 => Codec::H264,
            VideoCodec::H265 => Codec::H265,
            VideoCodec::Vp8 => Codec::Vp8,
            VideoCodec::Vp9 => Codec::Vp9,
            VideoCodec::Prores => Codec::Prores,
            VideoCodec::Gif => Codec::Gif,
            VideoCodec::Mp3 => Codec::Mp3,
            VideoCodec::Aac => Codec::Aac,
            VideoCodec::Wav => Codec::Wav,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum AudioCodecArg {
    Aac,
    Mp3,
    Opus,
    #[value(name = "pcm-16")]
    Pcm16,
}

impl From<AudioCodecArg> for AudioCodec {
    fn from(codec: AudioCodecArg) -> Self {
        match codec {
            AudioCodecArg::Aac => AudioCodec::Aac,
            AudioCodecArg::Mp3 => AudioCodec::Mp3,
            AudioCodecArg::Opus => AudioCodec::Opus,
            AudioCodecArg::Pcm16 => AudioCodec::Pcm16,
        }
    }
}

/// A pixel format by FFmpeg's name.
fn parse_pixel_format(s: &str) -> Result<PixelFormat, String> {
    serde_json::from_value(serde_json::Value::String(s.to_owned())).map_err(|_| {
        format!("{s:?} is not a pixel format: use yuv420p, yuva420p, yuv422p, yuv444p, yuv420p10le, yuv422p10le, yuv444p10le or yuva444p10le")
    })
}

/// `A-B` or `N`.
fn parse_frames(s: &str) -> Result<(u64, u64), String> {
    let parse = |n: &str| n.trim().parse::<u64>().map_err(|_| format!("{s:?} is not a frame range like 0-99"));
    match s.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (parse(a)?, parse(b)?);
            if a > b { Err(format!("frame range {s:?} ends before it starts")) } else { Ok((a, b)) }
        }
        None => parse(s).map(|n| (n, n)),
    }
}

/// Progress on stderr: a line that rewrites itself on a terminal, a line per 10% otherwise.
fn progress_printer() -> impl Fn(Progress) + Send + Sync + 'static {
    use std::io::IsTerminal;
    let terminal = std::io::stderr().is_terminal();
    let last_decile = std::sync::atomic::AtomicU64::new(u64::MAX);
    move |p: Progress| {
        let percent = p.encoded * 100 / p.total.max(1);
        if terminal {
            let filled = (percent / 4) as usize;
            eprint!(
                "\r[{}{}] {percent:>3}%  {}/{} frames",
                "#".repeat(filled),
                " ".repeat(25 - filled),
                p.encoded,
                p.total
            );
            if p.encoded == p.total {
                eprintln!();
            }
        } else if last_decile.swap(percent / 10, std::sync::atomic::Ordering::Relaxed) != percent / 10 {
            eprintln!("rendered {}/{} frames ({percent}%)", p.encoded, p.total);
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum StillFormat {
    Png,
    Jpeg,
    Webp,
    Pdf,
}

/// Creates the folder an output file goes into.
fn prepare_output(out: &std::path::Path) -> Result<()> {
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    Ok(())
}

async fn run(cli: Cli, process_started: std::time::Instant) -> Result<()> {
    let Some(command) = cli.command else {
        if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_none() {
            anyhow::bail!("no command given and AWS_LAMBDA_RUNTIME_API is not set: see --help");
        }
        return crate::lambda::run(process_started).await.map_err(|e| anyhow::anyhow!("lambda runtime: {e}"));
    };
    match command {
        Command::Compositions { site } => {
            let (props, opened, browser) = site.open().await?;
            let result = list_compositions(&browser, &opened, &props, site.timeout()).await;
            browser.close().await;
            println!("{}", serde_json::to_string_pretty(&result?)?);
        }
        Command::Still { site, composition, frame, overrides, image_format, jpeg_quality, scale, out } => {
            let started = Instant::now();
            let overrides = overrides.overrides()?;
            prepare_output(&out)?;
            let (props, opened, browser) = site.open().await?;
            let resolved = match resolved(&browser, &opened, &composition, &props, site.timeout(), &overrides).await {
                Ok(resolved) => resolved,
                Err(e) => {
                    browser.close().await;
                    return Err(e);
                }
            };
            let index = match still_frame(frame, &resolved) {
                Ok(index) => index,
                Err(e) => {
                    browser.close().await;
                    return Err(e.into());
                }
            };
            let request = StillRequest {
                composition,
                serialized_props: props,
                frame: index,
                format: match image_format {
                    StillFormat::Png => Capture::Png,
                    StillFormat::Jpeg => Capture::Jpeg(jpeg_quality),
                    StillFormat::Webp => Capture::Webp,
                    StillFormat::Pdf => Capture::Pdf,
                },
                scale,
                timeout: site.timeout(),
            };
            let result = render_resolved_still(&browser, &opened, &request, resolved).await;
            browser.close().await;
            let still = result?;
            std::fs::write(&out, &still.image).with_context(|| format!("writing {}", out.display()))?;
            eprintln!(
                "{} frame {} ({}x{}) → {} ({} bytes) in {:.2} s",
                still.composition.id,
                index,
                still.composition.width,
                still.composition.height,
                out.display(),
                still.image.len(),
                started.elapsed().as_secs_f64()
            );
        }
        Command::Render {
            site,
            composition,
            overrides,
            codec,
            frames,
            concurrency,
            crf,
            x264_preset,
            jpeg_quality,
            every_nth_frame,
            image_format,
            pixel_format,
            scale,
            muted,
            audio_codec,
            audio_bitrate,
            sample_rate,
            prefer_lossless,
            delivery,
            out,
        } => {
            let delivery = delivery.delivery()?;
            let overrides = overrides.overrides()?;
            prepare_output(&out)?;
            let audio = AudioSettings::preferring(
                codec.into(),
                audio_codec.map(Into::into),
                prefer_lossless,
                audio_bitrate.as_deref(),
                sample_rate,
                muted,
            )?;
            let codec_in_effect: remotion_protocol::media::Codec = codec.into();
            let audio_codec = audio.map(|a| a.codec);
            if codec_in_effect.is_matroska_with(audio_codec) && out.extension().is_none_or(|e| e != "mkv") {
                anyhow::bail!(
                    "{} video with pcm-16 audio is written as Matroska (MP4 and WebM cannot carry PCM): \
                     name --out ….mkv",
                    codec_in_effect.as_str()
                );
            }
            let options = BrowserOptions::detect()?.drawing_on_demand_for(scale);
            let (props, opened, browser) = site.open_with(options).await?;
            let request = VideoRequest {
                composition,
                serialized_props: props,
                frames,
                concurrency,
                codec: codec.into(),
                crf,
                preset: x264_preset,
                pixel_format,
                jpeg_quality,
                timeout: site.timeout(),
                container: Container::Output,
                audio,
                every_nth_frame,
                scale,
                image_format: match image_format {
                    FrameFormat::Jpeg => ImageKind::Jpeg,
                    FrameFormat::Png => ImageKind::Png,
                },
                delivery,
            };
            let result = match resolved(
                &browser,
                &opened,
                &request.composition,
                &request.serialized_props,
                request.timeout,
                &overrides,
            )
            .await
            {
                Ok(composition) => render_frames(&browser, &opened, composition, &request, &out, progress_printer())
                    .await
                    .map_err(Into::into),
                Err(e) => Err(e),
            };
            browser.close().await;
            let summary = result?;
            let seconds = summary.elapsed.as_secs_f64();
            eprintln!(
                "{}: {} frames ({}x{}, {} fps) → {} in {seconds:.1} s ({:.1} frames/s)",
                summary.composition.id,
                summary.frames,
                summary.composition.width,
                summary.composition.height,
                summary.composition.fps,
                out.display(),
                summary.frames as f64 / seconds
            );
        }
    }
    Ok(())
}

/// Runs the binary with the process's arguments; the exit code to end the process with.
pub fn main() -> ExitCode {
    let process_started = std::time::Instant::now();
    // Under Lambda the log is the function's CloudWatch record (launches, retries, reuse of
    // the warm browser): keep info there; a terminal user of the CLI wants warnings only.
    let default_filter = if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() {
        "info,chromiumoxide=error"
    } else {
        "warn,chromiumoxide=error"
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| default_filter.into()),
        )
        .init();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let output = match &cli.command {
        // A still is written whole at the end, so a stop leaves nothing of it (and an older
        // file of that name stays); a video is written as it renders.
        Some(Command::Render { out, .. }) => Some(out.clone()),
        _ => None,
    };
    // Ctrl-C or a SIGTERM (a CI timeout, `kill`, a container stopping) drops the command: its
    // browser is killed with it (chromiumoxide kills the process on drop), where exiting on the
    // signal's default action would leave Chromium running without its parent.
    let outcome = runtime.block_on(async {
        tokio::select! {
            result = run(cli, process_started) => Ok(result),
            signal = stop_signal() => Err(signal),
        }
    });
    match outcome {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
        Err((name, code)) => {
            crate::capture::browser::discard_warm();
            // The encoder thread may still hold the output: let it see its input end first.
            runtime.shutdown_timeout(Duration::from_secs(2));
            if let Some(out) = output {
                crate::render::remove_partial_output(&out);
            }
            eprintln!("stopped by {name}: the render was abandoned, its browser closed and no output written");
            ExitCode::from(code)
        }
    }
}

/// The first SIGINT or SIGTERM, with the exit code a shell gives a process that signal ends
/// (128 + its number).
async fn stop_signal() -> (&'static str, u8) {
    use tokio::signal::unix::{SignalKind, signal};
    match (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) {
        (Ok(mut interrupt), Ok(mut terminate)) => tokio::select! {
            _ = interrupt.recv() => ("SIGINT", 130),
            _ = terminate.recv() => ("SIGTERM", 143),
        },
        // Without handlers the signals keep their default action.
        _ => std::future::pending().await,
    }
}
