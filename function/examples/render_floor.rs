//! The two halves of a render, each on its own, for `bench/render-vs-remotion.sh` (a benchmark
//! helper, not a product interface). Their CPU-seconds per frame are the floor a pipelined
//! render can approach: it cannot do less work than capturing plus encoding.
//!
//!   render_floor capture --serve-url DIR --composition ID --frames A-B --concurrency N [--keep DIR]
//!       Seeks and screenshots every frame exactly as `remotion-function render` does (same
//!       tabs, same page protocol, JPEG at the same quality) and decodes the base64, but
//!       encodes nothing. `--keep` writes the screenshots and their size and rate for `encode`.
//!   render_floor encode --frames-dir DIR --out FILE [--crf 18] [--x264-preset medium]
//!       Encodes kept screenshots with the render's encoder (JPEG decode, colour conversion,
//!       libx264), read into memory first so disk reads are not counted.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use remotion_function::capture::browser::{Browser, BrowserOptions};
use remotion_function::capture::compositions::resolve_composition;
use remotion_function::capture::page::{Capture, RemotionTab, TabSetup};
use remotion_function::capture::site::Site;
use remotion_function::encode::video::{VideoEncoder, VideoSettings};
use remotion_function::encode::{Container, ImageKind};
use remotion_protocol::media::Codec;
use serde::{Deserialize, Serialize};

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
        Floor::Capture { serve_url, composition, frames, concurrency, jpeg_quality, keep } => {
            let (first, last) = frames
                .split_once('-')
                .and_then(|(a, b)| Some((a.parse::<u64>().ok()?, b.parse::<u64>().ok()?)))
                .filter(|(a, b)| a <= b)
                .with_context(|| format!("--frames {frames:?}: expected A-B with A <= B"))?;
            capture(&serve_url, &composition, (first, last), concurrency, jpeg_quality, keep.as_deref()).await
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
    keep: Option<&Path>,
) -> Result<()> {
    let timeout = Duration::from_secs(30);
    let site = Site::open(serve_url).await?;
    let browser = Browser::launch(&BrowserOptions::detect()?).await?;
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
        let mut tab = RemotionTab::open(browser.new_tab().await?, &site.url, &setup).await?;
        tab.set_composition(&composition).await?;
        let (next, keep) = (next.clone(), keep.map(Path::to_path_buf));
        tabs.push(tokio::spawn(async move {
            loop {
                let frame = next.fetch_add(1, Ordering::Relaxed);
                if frame > last {
                    tab.close().await;
                    return Ok::<_, anyhow::Error>(());
                }
                tab.seek(frame, 1).await?;
                let image = tab.capture(Capture::Jpeg(jpeg_quality)).await?;
                if let Some(dir) = &keep {
                    std::fs::write(dir.join(format!("{:06}.jpeg", frame - first)), &image)?;
                }
            }
        }));
    }
    for tab in tabs {
        tab.await??;
    }
    eprintln!("captured {} frames in {:.1} s", last - first + 1, started.elapsed().as_secs_f64());
    browser.close().await;
    Ok(())
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
