//! The two halves of a render, each on its own, for `bench/render-vs-remotion.sh` (a benchmark
//! helper, not a product interface). Their CPU-seconds per frame are the floor a pipelined
//! render can approach: it cannot do less work than capturing plus encoding.
//!
//!   render_floor capture --serve-url DIR --composition ID --frames A-B --concurrency N [--keep DIR]
//!       Seeks and screenshots every frame exactly as `remotion-function render` does (same
//!       tabs, same page protocol, JPEG at the same quality) and decodes the base64, but
//!       encodes nothing. `--keep` writes the screenshots and their size and rate for `encode`.
//!       `--shot`, `--format`, `--optimize-for-speed` and `--browser` try other capture paths
//!       on the same seek (issue #18); compare kept frames to see whether pixels change.
//!       `--trace FILE` records Chromium's own trace of the frames (the first tab's browser).
//!   render_floor encode --frames-dir DIR --out FILE [--crf 18] [--x264-preset medium]
//!       Encodes kept screenshots with the render's encoder (JPEG decode, colour conversion,
//!       libx264), read into memory first so disk reads are not counted.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use base64::Engine;
use chromiumoxide::cdp::browser_protocol::dom::Rgba;
use chromiumoxide::cdp::browser_protocol::emulation::SetDefaultBackgroundColorOverrideParams;
use chromiumoxide::cdp::browser_protocol::page::{CaptureScreenshotFormat, CaptureScreenshotParams, Viewport};
use chromiumoxide::page::Page;
use clap::{Parser, Subcommand, ValueEnum};
use remotion_function::capture::browser::{Browser, BrowserOptions};
use remotion_function::capture::compositions::resolve_composition;
use remotion_function::capture::page::{Capture, RemotionTab, TabSetup};
use remotion_function::capture::site::Site;
use remotion_function::encode::video::{VideoEncoder, VideoSettings};
use remotion_function::encode::{Container, ImageKind};
use remotion_protocol::media::Codec;
use serde::{Deserialize, Serialize};

mod trace;

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    command: Floor,
}

#[derive(Subcommand)]
enum Floor {
    /// Screenshots only.
    Capture {
        #[arg(long)]
        serve_url: String,
        #[arg(long)]
        composition: String,
        /// `A-B`, inclusive.
        #[arg(long)]
        frames: String,
        #[arg(long, default_value_t = 1)]
        concurrency: usize,
        #[arg(long, default_value_t = 80)]
        jpeg_quality: u8,
        /// Keep the screenshots here (for `encode`).
        #[arg(long)]
        keep: Option<PathBuf>,
        /// Write Chromium's trace of the frames here (`trace.rs`).
        #[arg(long)]
        trace: Option<PathBuf>,
        #[command(flatten)]
        path: CapturePath,
    },
    /// Encoding only, of kept screenshots.
    Encode {
        #[arg(long)]
        frames_dir: PathBuf,
        #[arg(long, default_value_t = 18)]
        crf: u8,
        #[arg(long, default_value = "medium")]
        x264_preset: String,
        #[arg(long)]
        out: PathBuf,
    },
}

/// How each frame is captured once the tab has seeked to it.
#[derive(clap::Args, Clone)]
struct CapturePath {
    /// `renderer`: the renderer's capture, in the browser as the renderer sets it up (frames
    /// drawn on demand by a headless shell, else drawn by the browser);
    /// `remotion`: the renderer's capture in a browser that draws its own frames (background
    /// set, tab activated, `Page.captureScreenshot`), as Remotion's renderer captures;
    /// `direct`: the screenshot command alone, the background set once per tab;
    /// `begin-frame`: the renderer's capture in a browser under begin-frame control (frames
    /// drawn on demand, the screenshot taken by the frame that draws), which needs a headless
    /// shell; the renderer's choice where it runs one.
    #[arg(long, value_enum, default_value_t = Shot::Renderer)]
    shot: Shot,
    /// The last one given wins (the benchmark adds `--format png` to a variant's own).
    #[arg(long, value_enum, default_value_t = Format::Jpeg, overrides_with = "format")]
    format: Format,
    /// Chromium's faster, larger encoding of the screenshot (`direct`; the renderer's own
    /// capture always asks for it).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    optimize_for_speed: bool,
    /// The Chromium executable (default: the one the renderer finds).
    #[arg(long)]
    browser: Option<PathBuf>,
}

#[derive(ValueEnum, Clone, Copy, PartialEq, Eq)]
enum Shot {
    Renderer,
    Remotion,
    Direct,
    BeginFrame,
}

#[derive(ValueEnum, Clone, Copy, PartialEq, Eq)]
enum Format {
    Jpeg,
    Png,
    Webp,
}

impl Format {
    fn extension(self) -> &'static str {
        match self {
            Self::Jpeg => "jpeg",
            Self::Png => "png",
            Self::Webp => "webp",
        }
    }
}

/// What `encode` needs to know about kept screenshots.
#[derive(Serialize, Deserialize)]
struct Kept {
    width: u32,
    height: u32,
    fps: f64,
    frames: u64,
}

#[tokio::main]
async fn main() -> Result<()> {
    match Cli::parse().command {
        Floor::Capture { serve_url, composition, frames, concurrency, jpeg_quality, keep, trace, path } => {
            let (first, last) = frames
                .split_once('-')
                .and_then(|(a, b)| Some((a.parse::<u64>().ok()?, b.parse::<u64>().ok()?)))
                .filter(|(a, b)| a <= b)
                .with_context(|| format!("--frames {frames:?}: expected A-B with A <= B"))?;
            let outputs = Outputs { frames: keep.as_deref(), trace: trace.as_deref() };
            capture(&serve_url, &composition, (first, last), concurrency, jpeg_quality, outputs, path).await
        }
        Floor::Encode { frames_dir, crf, x264_preset, out } => encode(&frames_dir, crf, x264_preset, &out),
    }
}

async fn capture(
    serve_url: &str,
    id: &str,
    (first, last): (u64, u64),
    concurrency: usize,
    jpeg_quality: u8,
    Outputs { frames: keep, trace }: Outputs<'_>,
    path: CapturePath,
) -> Result<()> {
    let timeout = Duration::from_secs(30);
    let site = Site::open(serve_url).await?;
    let mut options = BrowserOptions::detect()?;
    if let Some(executable) = &path.browser {
        options.executable = executable.clone();
    }
    match path.shot {
        Shot::Renderer => options = options.drawing_on_demand_for(1.0),
        Shot::BeginFrame => options.begin_frame_control = true,
        Shot::Remotion | Shot::Direct => options.begin_frame_control = false,
    }
    let browser = Browser::launch(&options).await?;
    let composition = resolve_composition(&browser, &site, id, "{}", timeout).await?;
    if let Some(dir) = keep {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let kept = Kept {
            width: composition.width,
            height: composition.height,
            fps: composition.fps,
            frames: last - first + 1,
        };
        std::fs::write(dir.join("frames.json"), serde_json::to_vec(&kept)?)?;
    }
    let mut recording = None;
    let started = Instant::now();
    let next = Arc::new(AtomicU64::new(first));
    let mut tabs = Vec::new();
    for i in 0..concurrency.max(1) {
        let setup = TabSetup {
            width: composition.width,
            height: composition.height,
            scale: 1.0,
            timeout,
            initial_frame: first + i as u64,
            is_main_tab: i == 0,
            serialized_input_props: "{}".into(),
            env_variables: "{}".into(),
            log_level: remotion_protocol::page::LogLevel::default(),
            media_cache_size_in_bytes: None,
            audio_enabled: false,
            video_enabled: true,
            frame_server_port: site.frame_server().await?.port(),
        };
        let new_tab = browser.new_tab().await?;
        let page = new_tab.page.clone();
        let mut tab = RemotionTab::open(new_tab, &site.url, &setup).await?;
        tab.set_composition(&composition).await?;
        let shooter =
            Shooter { page, path: path.clone(), jpeg_quality, width: composition.width, height: composition.height };
        shooter.prepare().await?;
        if trace.is_some() && recording.is_none() {
            recording = Some(trace::Recording::start(&shooter.page).await?);
        }
        let (next, keep) = (next.clone(), keep.map(Path::to_path_buf));
        tabs.push(tokio::spawn(async move {
            loop {
                let frame = next.fetch_add(1, Ordering::Relaxed);
                if frame > last {
                    return Ok::<_, anyhow::Error>(tab);
                }
                tab.seek(frame, 1).await?;
                let image = match shooter.path.shot {
                    Shot::Renderer | Shot::Remotion | Shot::BeginFrame => {
                        tab.capture(shooter.remotion_capture()).await?
                    }
                    Shot::Direct => shooter.shoot().await?,
                };
                if let Some(dir) = &keep {
                    let name = format!("{:06}.{}", frame - first, shooter.path.format.extension());
                    std::fs::write(dir.join(name), &image)?;
                }
            }
        }));
    }
    let mut finished = Vec::new();
    for tab in tabs {
        finished.push(tab.await??);
    }
    eprintln!("captured {} frames in {:.1} s", last - first + 1, started.elapsed().as_secs_f64());
    if let (Some(recording), Some(out)) = (recording, trace) {
        let events = recording.finish(out).await?;
        eprintln!("wrote {events} trace events to {}", out.display());
    }
    for tab in finished {
        tab.close().await;
    }
    browser.close().await;
    Ok(())
}

/// Where a capture's by-products go.
struct Outputs<'a> {
    /// The screenshots, for `encode`.
    frames: Option<&'a Path>,
    /// Chromium's trace.
    trace: Option<&'a Path>,
}

/// Captures a tab's frames along one of the tried paths.
struct Shooter {
    page: Page,
    path: CapturePath,
    jpeg_quality: u8,
    width: u32,
    height: u32,
}

impl Shooter {
    fn remotion_capture(&self) -> Capture {
        match self.path.format {
            Format::Jpeg => Capture::Jpeg(self.jpeg_quality),
            Format::Png => Capture::Png,
            Format::Webp => Capture::Webp,
        }
    }

    /// What the renderer does before every screenshot, done once: JPEG frames on a black
    /// body, the others on a transparent page.
    async fn prepare(&self) -> Result<()> {
        if self.path.shot != Shot::Direct {
            return Ok(());
        }
        let background = if self.path.format == Format::Jpeg { "black" } else { "transparent" };
        self.page.evaluate(format!("document.body.style.background = '{background}'")).await?;
        if self.path.format != Format::Jpeg {
            let clear = Rgba { r: 0, g: 0, b: 0, a: Some(0.0) };
            self.page.execute(SetDefaultBackgroundColorOverrideParams { color: Some(clear) }).await?;
        }
        Ok(())
    }

    fn quality(&self) -> Option<i64> {
        (self.path.format == Format::Jpeg).then_some(i64::from(self.jpeg_quality))
    }

    async fn shoot(&self) -> Result<Vec<u8>> {
        let format = match self.path.format {
            Format::Jpeg => CaptureScreenshotFormat::Jpeg,
            Format::Png => CaptureScreenshotFormat::Png,
            Format::Webp => CaptureScreenshotFormat::Webp,
        };
        let clip =
            Viewport { x: 0.0, y: 0.0, width: f64::from(self.width), height: f64::from(self.height), scale: 1.0 };
        let shot = CaptureScreenshotParams {
            format: Some(format),
            quality: self.quality(),
            clip: Some(clip),
            from_surface: Some(true),
            capture_beyond_viewport: Some(true),
            optimize_for_speed: Some(self.path.optimize_for_speed),
        };
        let data = self.page.execute(shot).await?.result.data;
        Ok(base64::engine::general_purpose::STANDARD.decode(AsRef::<str>::as_ref(&data))?)
    }
}

fn encode(dir: &Path, crf: u8, preset: String, out: &Path) -> Result<()> {
    let kept: Kept = serde_json::from_slice(
        &std::fs::read(dir.join("frames.json")).with_context(|| format!("{} has no kept frames", dir.display()))?,
    )?;
    let images = (0..kept.frames)
        .map(|i| std::fs::read(dir.join(format!("{i:06}.jpeg"))).with_context(|| format!("frame {i}")))
        .collect::<Result<Vec<_>>>()?;
    if images.is_empty() {
        bail!("no frames to encode");
    }
    let settings = VideoSettings {
        width: kept.width,
        height: kept.height,
        fps: kept.fps,
        codec: Codec::H264,
        crf: Some(crf),
        preset,
        pixel_format: None,
        container: Container::Output,
        audio: None,
        delivery: Default::default(),
    };
    let started = Instant::now();
    let mut encoder = VideoEncoder::create(out, &settings, ImageKind::Jpeg)?;
    for image in &images {
        encoder.push_image(image)?;
    }
    let frames = encoder.finish()?;
    eprintln!("encoded {frames} frames in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}
