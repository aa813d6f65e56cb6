//! Rendering a range of frames to a video: tabs capture frames concurrently while the encoder
//! consumes them in order on its own thread, with a bounded queue between the two so capture
//! and encoding overlap on different cores without unbounded memory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::browser::Browser;
use crate::encode::{Container, ImageKind, VideoEncoder, VideoSettings};
use crate::error::RenderError;
use crate::page::{Capture, RemotionTab, ResolvedComposition, TabSetup};
use crate::still::{Site, resolve_composition};

/// Frames queued between capture and encoding, per tab (bounds memory: JPEG frames are small).
const QUEUE_PER_TAB: usize = 4;

/// A video render request.
#[derive(Clone, Debug)]
pub struct VideoRequest {
    /// Composition id.
    pub composition: String,
    /// Serialized input props.
    pub serialized_props: String,
    /// First and last frame (inclusive); default the whole composition.
    pub frames: Option<(u64, u64)>,
    /// Tabs capturing in parallel.
    pub concurrency: usize,
    /// Codec.
    pub codec: remotion_crds::media::Codec,
    /// Constant rate factor; default the codec's.
    pub crf: Option<u8>,
    /// x264/x265 preset.
    pub preset: String,
    /// Pixel format; default the codec's.
    pub pixel_format: Option<remotion_crds::media::PixelFormat>,
    /// JPEG quality of the captured frames.
    pub jpeg_quality: u8,
    /// delayRender timeout.
    pub timeout: Duration,
    /// Container of the output.
    pub container: Container,
}

/// Progress callbacks receive this.
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    /// Frames captured.
    pub rendered: u64,
    /// Frames encoded.
    pub encoded: u64,
    /// Frames in all.
    pub total: u64,
}

/// What a render did.
#[derive(Clone, Debug)]
pub struct VideoSummary {
    /// The composition rendered.
    pub composition: ResolvedComposition,
    /// Frames encoded.
    pub frames: u64,
    /// Wall time.
    pub elapsed: Duration,
    /// Capture + encode time of each frame, ms, in frame order.
    pub frame_milliseconds: Vec<u32>,
}

/// Renders frames of a composition to `out`, resolving the composition first.
pub async fn render_video(
    browser: &Browser,
    site: &Site,
    request: &VideoRequest,
    out: &Path,
    on_progress: impl Fn(Progress) + Send + Sync + 'static,
) -> Result<VideoSummary, RenderError> {
    let composition =
        resolve_composition(browser, site, &request.composition, &request.serialized_props, request.timeout).await?;
    render_frames(browser, site, composition, request, out, on_progress).await
}

/// Renders frames of an already resolved composition to `out` (what a chunk renderer does
/// with the metadata the orchestrator resolved once).
pub async fn render_frames(
    browser: &Browser,
    site: &Site,
    composition: ResolvedComposition,
    request: &VideoRequest,
    out: &Path,
    on_progress: impl Fn(Progress) + Send + Sync + 'static,
) -> Result<VideoSummary, RenderError> {
    let started = Instant::now();
    let last = composition.duration_in_frames.saturating_sub(1);
    let (first, end) = request.frames.unwrap_or((0, last));
    if first > end || end > last {
        return Err(RenderError::InvalidInput(format!(
            "frames {first}-{end} are out of range: {} has frames 0–{last}",
            composition.id
        )));
    }
    let total = end - first + 1;
    let tabs = request.concurrency.clamp(1, total as usize);

    // Open every tab before any frame is captured, each starting at a different frame.
    let mut opened = Vec::with_capacity(tabs);
    for i in 0..tabs {
        let setup = TabSetup {
            width: composition.width,
            height: composition.height,
            scale: 1.0,
            timeout: request.timeout,
            initial_frame: first + i as u64,
            is_main_tab: i == 0,
            serialized_input_props: request.serialized_props.clone(),
            env_variables: "{}".into(),
            audio_enabled: false,
            video_enabled: true,
        };
        let mut tab = RemotionTab::open(browser, &site.url, &setup).await?;
        tab.set_composition(&composition).await?;
        opened.push(tab);
    }

    let settings = VideoSettings {
        width: composition.width,
        height: composition.height,
        fps: composition.fps,
        codec: request.codec,
        crf: request.crf,
        preset: request.preset.clone(),
        pixel_format: request.pixel_format,
        container: request.container,
    };
    let (tx, rx) = mpsc::channel::<(u64, Vec<u8>, Duration)>(QUEUE_PER_TAB * tabs);
    let rendered = Arc::new(AtomicU64::new(0));
    let on_progress = Arc::new(on_progress);
    let encoder = spawn_encoder(out.to_path_buf(), settings, first, total, rx, rendered.clone(), on_progress.clone());

    // Tabs take the lowest frame not yet taken, like Remotion's frame pool.
    let next = Arc::new(AtomicU64::new(first));
    let mut capturers = Vec::with_capacity(tabs);
    for tab in opened {
        let (next, tx, rendered) = (next.clone(), tx.clone(), rendered.clone());
        let quality = request.jpeg_quality;
        capturers.push(tokio::spawn(async move {
            let result = async {
                loop {
                    let frame = next.fetch_add(1, Ordering::Relaxed);
                    if frame > end {
                        return Ok(());
                    }
                    let t = Instant::now();
                    tab.seek(frame, 1).await?;
                    let image = tab.capture(Capture::Jpeg(quality)).await.map_err(|e| e.at_frame(frame))?;
                    rendered.fetch_add(1, Ordering::Relaxed);
                    if tx.send((frame, image, t.elapsed())).await.is_err() {
                        // The encoder stopped: its error is reported instead.
                        return Ok(());
                    }
                }
            }
            .await;
            tab.close().await;
            result
        }));
    }
    drop(tx);

    let mut capture_error = None;
    for capturer in capturers {
        match capturer.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => capture_error = capture_error.or(Some(e)),
            Err(e) => capture_error = capture_error.or(Some(RenderError::Browser(format!("capture task failed: {e}")))),
        }
    }
    let encoded = encoder.await.map_err(|e| RenderError::Encoding(format!("encoder thread failed: {e}")))?;
    if let Some(e) = capture_error {
        let _ = std::fs::remove_file(out);
        return Err(e);
    }
    let (frames, frame_milliseconds) = encoded.inspect_err(|_| {
        let _ = std::fs::remove_file(out);
    })?;
    Ok(VideoSummary { composition, frames, elapsed: started.elapsed(), frame_milliseconds })
}

/// The encoder thread: reorders captured frames and encodes them in frame order.
fn spawn_encoder(
    out: PathBuf,
    settings: VideoSettings,
    first: u64,
    total: u64,
    mut rx: mpsc::Receiver<(u64, Vec<u8>, Duration)>,
    rendered: Arc<AtomicU64>,
    on_progress: Arc<impl Fn(Progress) + Send + Sync + 'static>,
) -> tokio::task::JoinHandle<Result<(u64, Vec<u32>), RenderError>> {
    tokio::task::spawn_blocking(move || {
        let mut encoder = VideoEncoder::create(&out, &settings, ImageKind::Jpeg)?;
        let mut pending: BTreeMap<u64, (Vec<u8>, Duration)> = BTreeMap::new();
        let mut want = first;
        let mut timings = Vec::with_capacity(total as usize);
        while let Some((frame, image, capture_time)) = rx.blocking_recv() {
            pending.insert(frame, (image, capture_time));
            while let Some((image, capture_time)) = pending.remove(&want) {
                let t = Instant::now();
                encoder.push_image(&image)?;
                timings.push((capture_time + t.elapsed()).as_millis().min(u128::from(u32::MAX)) as u32);
                want += 1;
                on_progress(Progress { rendered: rendered.load(Ordering::Relaxed), encoded: want - first, total });
            }
        }
        if want - first != total {
            // Capture stopped early; the caller reports why.
            return Err(RenderError::Encoding(format!("only {} of {total} frames arrived", want - first)));
        }
        Ok((encoder.finish()?, timings))
    })
}
