//! Rendering a range of frames to a video: tabs capture frames concurrently while the encoder
//! consumes them in order on its own thread, with a bounded queue between the two so capture
//! and encoding overlap on different cores without unbounded memory.
//!
//! With audio, each tab also collects the frame's media assets (`remotion_collectAssets`, as
//! Remotion does beside every screenshot) and the encoder thread mixes them, in frame order,
//! into a spool file. Whether a render has audio at all is only known at the end, so the video
//! is written as before and, when something was heard, remuxed once with the encoded audio
//! (a packet copy of the video); a silent composition costs nothing extra.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use remotion_protocol::chunking::FrameSelection;
use remotion_protocol::payload::{MAX_CONCURRENCY_PER_LAMBDA, RenderRequest, SiteLocation};
use tokio::sync::mpsc;

use crate::assets::artifacts::{self, Artifact, ArtifactSet};
use crate::assets::cache::AssetCache;
use crate::assets::collected::{self, RenderAsset};
use crate::capture::browser::Browser;
use crate::capture::compositions::resolve_composition;
use crate::capture::page::{Capture, RemotionTab, ResolvedComposition, TabSetup};
use crate::capture::site::Site;
use crate::capture::warm_page::PageKey;
use crate::encode::audio::encoder::AudioTarget;
use crate::encode::audio::mix::Mixer;
use crate::encode::audio::{AudioSettings, samples_of_frames};
use crate::encode::delivery::Delivery;
use crate::encode::video::{GIF_FRAMES, VideoEncoder, VideoSettings, check_frames};
use crate::encode::{Container, ImageKind, fps_rational, stitch, working_file};
use crate::error::RenderError;

pub mod images;

pub use images::ImageSink;

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
    pub codec: remotion_protocol::media::Codec,
    /// Constant rate factor; default the codec's.
    pub crf: Option<u8>,
    /// x264/x265 preset.
    pub preset: String,
    /// Pixel format; default the codec's.
    pub pixel_format: Option<remotion_protocol::media::PixelFormat>,
    /// JPEG quality of the captured frames.
    pub jpeg_quality: u8,
    /// delayRender timeout.
    pub timeout: Duration,
    /// Container of the output.
    pub container: Container,
    /// The audio's encoding; `None`: muted (no audio stream). Chunks carry lossless audio
    /// whatever the setting; the output's codec applies when they are joined.
    pub audio: Option<AudioSettings>,
    /// Render only the frames whose number is a multiple of this (GIF only, like Remotion);
    /// the output plays at fps / n.
    pub every_nth_frame: u32,
    /// Format of the captured frames: JPEG, or PNG (lossless, transparent background).
    pub image_format: ImageKind,
    /// Output scale: the page renders at this device scale factor and the video is the
    /// composition's size times it (Remotion's `scale`); 1 = the composition's size.
    pub scale: f64,
    /// Bit rates, colour space, ProRes profile, GIF loops and an enforced audio track.
    pub delivery: Delivery,
}

impl VideoRequest {
    /// The key of the page that renders this request's frames of `composition` for the render
    /// `render_id` from `site`: every field of the request but the frames (see [`PageKey::new`]).
    pub fn page_key(&self, render_id: &str, site: &SiteLocation, composition: &ResolvedComposition) -> PageKey {
        PageKey::new(render_id, site, composition, &VideoRequest { frames: None, ..self.clone() })
    }
}

/// What a chunk renders: the render request's frames, encoding and tabs, lossless audio.
pub fn chunk_video(request: &RenderRequest, serialized_props: String) -> Result<VideoRequest, RenderError> {
    check_tabs(request.concurrency_per_lambda)?;
    Ok(VideoRequest {
        composition: request.composition.id.clone(),
        serialized_props,
        frames: Some((request.frames.start, request.frames.end)),
        concurrency: request.tabs() as usize,
        codec: request.encoding.codec,
        crf: request.encoding.crf,
        preset: request.encoding.x264_preset.map_or("medium", |p| p.as_str()).to_owned(),
        pixel_format: request.encoding.pixel_format,
        jpeg_quality: request.encoding.jpeg_quality.unwrap_or(80),
        timeout: Duration::from_millis(request.timeout_ms),
        container: Container::Chunk,
        audio: AudioSettings::from_encoding(&request.encoding)?,
        every_nth_frame: request.encoding.every_nth_frame.unwrap_or(1),
        image_format: ImageKind::of(request.encoding.image_format),
        scale: request.encoding.scale.unwrap_or(1.0),
        delivery: Delivery::from_encoding(&request.encoding)?,
    })
}

/// Refuses a tab count outside 1–[`MAX_CONCURRENCY_PER_LAMBDA`].
pub fn check_tabs(concurrency_per_lambda: u32) -> Result<(), RenderError> {
    if (1..=MAX_CONCURRENCY_PER_LAMBDA).contains(&concurrency_per_lambda) {
        return Ok(());
    }
    Err(RenderError::InvalidInput(format!(
        "concurrencyPerLambda {concurrency_per_lambda} is outside 1–{MAX_CONCURRENCY_PER_LAMBDA}: each tab is a \
         renderer process of its own, use fewer tabs and more chunks"
    )))
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
    /// Time until every tab was ready for its first frame (the fixed cost of a render).
    pub pages_ready: Duration,
    /// The files the frames emitted with `<Artifact>`, in frame order.
    pub artifacts: Vec<Artifact>,
    /// Tabs that captured the frames.
    pub tabs: usize,
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
    let (summary, main_tab) =
        render_frames_keeping(browser, site, composition, request, out, on_progress, None).await?;
    if let Some(tab) = main_tab {
        tab.close().await;
    }
    Ok(summary)
}

/// [`render_frames`], with the main tab taken from an earlier render of the same page (the
/// caller vouches for that: same site, composition, props and every page option, see
/// [`crate::capture::warm_page`]) and handed back after a successful render for the next one.
pub async fn render_frames_keeping(
    browser: &Browser,
    site: &Site,
    composition: ResolvedComposition,
    request: &VideoRequest,
    out: &Path,
    on_progress: impl Fn(Progress) + Send + Sync + 'static,
    reuse: Option<RemotionTab>,
) -> Result<(VideoSummary, Option<RemotionTab>), RenderError> {
    render_into(browser, site, composition, request, Frames::Video(out), on_progress, reuse).await
}

/// [`render_frames_keeping`] for an image sequence: each frame goes to `sink` as it is
/// captured, nothing is encoded (the request's codec, audio and encoding options are unused;
/// `every_nth_frame` selects the frames, as Remotion's `renderFrames`).
pub async fn render_images_keeping(
    browser: &Browser,
    site: &Site,
    composition: ResolvedComposition,
    request: &VideoRequest,
    sink: Arc<dyn ImageSink>,
    on_progress: impl Fn(Progress) + Send + Sync + 'static,
    reuse: Option<RemotionTab>,
) -> Result<(VideoSummary, Option<RemotionTab>), RenderError> {
    let request = VideoRequest { audio: None, ..request.clone() };
    render_into(browser, site, composition, &request, Frames::Images(sink), on_progress, reuse).await
}

/// Where captured frames go.
enum Frames<'a> {
    /// Encoded into a video file.
    Video(&'a Path),
    /// Each stored as an image.
    Images(Arc<dyn ImageSink>),
}

async fn render_into(
    browser: &Browser,
    site: &Site,
    composition: ResolvedComposition,
    request: &VideoRequest,
    output: Frames<'_>,
    on_progress: impl Fn(Progress) + Send + Sync + 'static,
    mut reuse: Option<RemotionTab>,
) -> Result<(VideoSummary, Option<RemotionTab>), RenderError> {
    let started = Instant::now();
    let images = matches!(output, Frames::Images(_));
    let last = composition.duration_in_frames.saturating_sub(1);
    let (first, end) = request.frames.unwrap_or((0, last));
    if first > end || end > last {
        return Err(RenderError::InvalidInput(format!(
            "frames {first}-{end} are out of range: {} has frames 0–{last}",
            composition.id
        )));
    }
    let step = u64::from(request.every_nth_frame.max(1));
    if step > 1 && request.codec != remotion_protocol::media::Codec::Gif && !images {
        return Err(RenderError::InvalidInput(format!(
            "everyNthFrame {step} is only for gif renders (Remotion's rule), not {}: remove it or render a gif",
            request.codec.as_str()
        )));
    }
    if !images {
        check_frames(request.pixel_format, request.image_format)?;
        request.delivery.check(request.codec, request.crf, request.pixel_format)?;
    }
    if request.codec.is_audio_only() && request.audio.is_none() && !images {
        return Err(RenderError::InvalidInput(format!(
            "{} renders are audio only: they cannot be muted",
            request.codec.as_str()
        )));
    }
    let selection = FrameSelection::every_nth(first, end, step);
    let total = selection.count();
    if total == 0 {
        return Err(RenderError::InvalidInput(format!(
            "no frame of {first}–{end} is a multiple of everyNthFrame {step}: widen the frame range"
        )));
    }
    let tabs = request.concurrency.clamp(1, total as usize);
    // Serves the frames of the composition's <OffthreadVideo>s; a reused tab's init script
    // names the same server (it belongs to the site the tab was kept with).
    let frames = site.frame_server().await?;
    frames.set_limits(browser.page_settings());

    // Open every tab before any frame is captured, each starting at a different frame.
    let mut opened = Vec::with_capacity(tabs);
    for i in 0..tabs {
        if i == 0
            && let Some(tab) = reuse.take()
        {
            // Its bundle is loaded and in this composition's mode: `remotion_setFrame` moves it
            // to any frame, exactly as it moves a fresh tab from its initial frame.
            opened.push(tab);
            continue;
        }
        let setup = TabSetup {
            width: composition.width,
            height: composition.height,
            scale: request.scale,
            timeout: request.timeout,
            initial_frame: selection.frame(i as u64),
            is_main_tab: i == 0,
            serialized_input_props: request.serialized_props.clone(),
            env_variables: browser.page_settings().serialized_env_variables(),
            log_level: browser.page_settings().log_level,
            media_cache_size_in_bytes: browser.page_settings().media_cache_size_in_bytes,
            audio_enabled: request.audio.is_some(),
            video_enabled: images || !request.codec.is_audio_only(),
            frame_server_port: frames.port(),
        };
        let mut tab = RemotionTab::open(browser.new_tab().await?, &site.url, &setup).await?;
        // The tab renders its initial frame as it switches to the composition.
        if let Err(e) = tab.set_composition(&composition).await {
            tab.close().await;
            for tab in opened {
                tab.close().await;
            }
            return Err(frames.explain(e.at_frame(setup.initial_frame)));
        }
        opened.push(tab);
    }
    let pages_ready = started.elapsed();

    let settings = VideoSettings {
        width: scaled(composition.width, request.scale)?,
        height: scaled(composition.height, request.scale)?,
        fps: composition.fps / step as f64,
        codec: request.codec,
        crf: request.crf,
        preset: request.preset.clone(),
        pixel_format: request.pixel_format,
        container: request.container,
        audio: request.audio.map(|a| a.codec),
        delivery: request.delivery,
    };
    let (tx, rx) = mpsc::channel::<Captured>(QUEUE_PER_TAB * tabs);
    let rendered = Arc::new(AtomicU64::new(0));
    let on_progress = Arc::new(on_progress);
    let audio = match request.audio {
        Some(settings) => Some(AudioJob {
            settings,
            cache: site.assets()?,
            target: match request.container {
                Container::Output => AudioTarget::Output(settings),
                Container::Chunk => AudioTarget::Chunk,
            },
        }),
        None => None,
    };
    let cache = audio.as_ref().map(|a| a.cache.clone());
    let encoder = match &output {
        Frames::Video(out) => spawn_encoder(
            out.to_path_buf(),
            settings,
            request.image_format,
            audio,
            selection,
            rx,
            rendered.clone(),
            on_progress.clone(),
        ),
        Frames::Images(sink) => images::spawn_sink(sink.clone(), selection, rx, rendered.clone(), on_progress.clone()),
    };

    // Tabs take the lowest frame not yet taken, like Remotion's frame pool.
    let next = Arc::new(AtomicU64::new(0));
    let emitted = Arc::new(std::sync::Mutex::new(ArtifactSet::default()));
    let mut capturers = Vec::with_capacity(tabs);
    for (i, tab) in opened.into_iter().enumerate() {
        let (next, tx, rendered, cache) = (next.clone(), tx.clone(), rendered.clone(), cache.clone());
        let (emitted, composition_id) = (emitted.clone(), composition.id.clone());
        // Audio-only renders take no screenshots (Remotion's imageFormat 'none').
        let format = (images || !request.codec.is_audio_only()).then_some(match request.image_format {
            ImageKind::Jpeg => Capture::Jpeg(request.jpeg_quality),
            ImageKind::Png => Capture::Png,
        });
        capturers.push(tokio::spawn(async move {
            let result = async {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    if index >= total {
                        return Ok(());
                    }
                    let frame = selection.frame(index);
                    let t = Instant::now();
                    tab.seek(frame, 1).await?;
                    // Beside the screenshot, like Remotion (the page clears them as it answers).
                    let (image, page_assets) = tokio::join!(shoot(&tab, format), tab.collect_assets());
                    let (image, page_assets) = match (image, page_assets) {
                        (Ok(image), Ok(page_assets)) => (image, page_assets),
                        (Err(e), _) | (_, Err(e)) => return Err(e.at_frame(frame)),
                    };
                    let thumbnail = format.is_some().then_some(image.as_slice());
                    for artifact in artifacts::parse(&page_assets, thumbnail).map_err(|e| e.at_frame(frame))? {
                        let mut emitted = emitted.lock().expect("artifact set lock");
                        emitted.add(artifact, Some(&composition_id))?;
                    }
                    let assets = match &cache {
                        Some(cache) => {
                            let assets = collected::parse(page_assets).map_err(|e| e.at_frame(frame))?;
                            for asset in &assets {
                                if let RenderAsset::Media(media) = asset {
                                    cache.prefetch(&media.src);
                                }
                            }
                            assets
                        }
                        None => Vec::new(),
                    };
                    rendered.fetch_add(1, Ordering::Relaxed);
                    if tx.send(Captured { frame, image, assets, time: t.elapsed() }).await.is_err() {
                        // The encoder stopped: its error is reported instead.
                        return Ok(());
                    }
                }
            }
            .await;
            // The main tab of a render that went well may serve the next render of the page.
            if i == 0 && result.is_ok() {
                return (Some(tab), result);
            }
            tab.close().await;
            (None, result)
        }));
    }
    drop(tx);

    let mut capture_error = None;
    let mut main_tab = None;
    for capturer in capturers {
        match capturer.await {
            Ok((tab, Ok(()))) => main_tab = main_tab.or(tab),
            Ok((_, Err(e))) => capture_error = capture_error.or(Some(e)),
            Err(e) => capture_error = capture_error.or(Some(RenderError::Browser(format!("capture task failed: {e}")))),
        }
    }
    let encoded = encoder.await.map_err(|e| RenderError::Encoding(format!("encoder thread failed: {e}"))).flatten();
    match capture_error.map_or(encoded, Err) {
        Ok((frames, frame_milliseconds)) => {
            let artifacts = std::mem::take(&mut *emitted.lock().expect("artifact set lock")).into_sorted();
            let summary = VideoSummary {
                composition,
                frames,
                elapsed: started.elapsed(),
                frame_milliseconds,
                pages_ready,
                tabs,
                artifacts,
            };
            Ok((summary, main_tab))
        }
        Err(e) => {
            if let Some(tab) = main_tab {
                tab.close().await;
            }
            if let Frames::Video(out) = output {
                let _ = std::fs::remove_file(out);
            }
            // A frame the page failed because its <OffthreadVideo> source could not be shown.
            Err(frames.explain(e))
        }
    }
}

/// The video of a render with audio, moved aside while the audio is muxed in.
const VIDEO_ONLY: &str = "video";

/// Removes what a render stopped half-way (a signal, a dropped future) left of `out`: the
/// partial output and its working files. A render that fails on its own cleans up itself.
pub fn remove_partial_output(out: &Path) {
    for path in [out.to_path_buf(), working_file(out, VIDEO_ONLY), working_file(out, GIF_FRAMES)] {
        let _ = std::fs::remove_file(path);
    }
}

/// A side of the output: the composition's times the scale, in whole pixels.
fn scaled(side: u32, scale: f64) -> Result<u32, RenderError> {
    let pixels = (f64::from(side) * scale).round();
    if !scale.is_finite() || scale <= 0.0 || !(1.0..=16_384.0).contains(&pixels) {
        return Err(RenderError::InvalidInput(format!(
            "scale {scale} makes a side of {side} px {pixels} px: use a scale above 0 that keeps sides within 1–16384 px"
        )));
    }
    Ok(pixels as u32)
}

/// A frame's screenshot; none (empty) for audio-only renders.
async fn shoot(tab: &RemotionTab, format: Option<Capture>) -> Result<Vec<u8>, RenderError> {
    match format {
        Some(format) => tab.capture(format).await,
        None => Ok(Vec::new()),
    }
}

/// A captured frame on its way to the encoder.
struct Captured {
    frame: u64,
    image: Vec<u8>,
    assets: Vec<RenderAsset>,
    time: Duration,
}

/// The audio side of a render.
struct AudioJob {
    settings: AudioSettings,
    cache: Arc<AssetCache>,
    target: AudioTarget,
}

/// The encoder thread: reorders captured frames, encodes them in frame order and mixes their
/// audio; with anything heard, muxes the audio in at the end.
#[allow(clippy::too_many_arguments)]
fn spawn_encoder(
    out: PathBuf,
    settings: VideoSettings,
    image_format: ImageKind,
    audio: Option<AudioJob>,
    selection: FrameSelection,
    mut rx: mpsc::Receiver<Captured>,
    rendered: Arc<AtomicU64>,
    on_progress: Arc<impl Fn(Progress) + Send + Sync + 'static>,
) -> tokio::task::JoinHandle<Result<(u64, Vec<u32>), RenderError>> {
    let runtime = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        let mut encoder = VideoEncoder::create(&out, &settings, image_format)?;
        let total = selection.count();
        let mut mixer = audio.as_ref().map(|a| Mixer::new(fps_rational(settings.fps), a.cache.clone(), runtime));
        let mut pending: BTreeMap<u64, Captured> = BTreeMap::new();
        let mut index = 0;
        let mut want = selection.frame(0);
        let mut timings = Vec::with_capacity(total as usize);
        while let Some(captured) = rx.blocking_recv() {
            pending.insert(captured.frame, captured);
            while let Some(captured) = pending.remove(&want) {
                let t = Instant::now();
                encoder.push_image(&captured.image)?;
                if let Some(mixer) = &mut mixer {
                    mixer.add_frame(want, &captured.assets)?;
                }
                timings.push((captured.time + t.elapsed()).as_millis().min(u128::from(u32::MAX)) as u32);
                index += 1;
                want = selection.frame(index);
                on_progress(Progress { rendered: rendered.load(Ordering::Relaxed), encoded: index, total });
            }
        }
        if index != total {
            // Capture stopped early; the caller reports why.
            return Err(RenderError::Encoding(format!("only {index} of {total} frames arrived")));
        }
        let frames = encoder.finish()?;
        if settings.codec.is_audio_only() {
            // No picture: the mix of exactly these frames (silence if nothing was heard).
            let (Some(mixer), Some(audio)) = (mixer, audio) else {
                return Err(RenderError::InvalidInput("audio-only renders cannot be muted".into()));
            };
            let (first, last) = (selection.frame(0), selection.frame(total - 1));
            let samples = samples_of_frames(first, last, fps_rational(settings.fps));
            let mut mixed = mixer.finish()?;
            stitch::write_audio(mixed.as_mut(), samples, &out, settings.codec, settings.container, audio.target)?;
            return Ok((frames, timings));
        }
        // A chunk leaves an enforced track to the stitch, which joins silent chunks as silence.
        let enforce = settings.delivery.enforce_audio_track && settings.container == Container::Output;
        let mixed = match &mixer {
            Some(_) if enforce => mixer.map(Mixer::finish_enforced).transpose()?,
            Some(_) => mixer.map(Mixer::finish).transpose()?.flatten(),
            None => None,
        };
        if let (Some(mut mixed), Some(audio)) = (mixed, audio) {
            let video_only = working_file(&out, VIDEO_ONLY);
            std::fs::rename(&out, &video_only).map_err(|e| RenderError::io("moving the video aside", e))?;
            let muxed =
                stitch::mux_audio(&video_only, &mut mixed, &out, settings.codec, settings.container, audio.target);
            let _ = std::fs::remove_file(&video_only);
            let joined = muxed?;
            tracing::debug!(
                frames = joined.frames,
                samples = joined.audio_samples,
                codec = audio.settings.codec.as_str(),
                "audio muxed"
            );
        }
        Ok((frames, timings))
    })
}

#[cfg(test)]
mod tests {
    use remotion_protocol::payload::{CompositionMetadata, RenderRequest, S3Prefix};
    use serde_json::{Value, json};

    use super::*;

    fn composition(width: u32, resolved_props: &str) -> ResolvedComposition {
        let metadata = CompositionMetadata {
            id: "Intro".into(),
            width,
            height: 1080,
            fps: 30.0,
            duration_in_frames: 300,
            default_codec: None,
            default_out_name: None,
        };
        ResolvedComposition::from_metadata(&metadata, resolved_props.into())
    }

    /// A chunk's video request: frames 0–9 and h264 unless `changes` say otherwise.
    fn request(props: &str, changes: Value) -> VideoRequest {
        let mut payload = json!({
            "protocolVersion": 1, "renderId": "r1", "bucket": "b",
            "site": {"serveUrl": "private", "s3": {"bucket": "b", "prefix": "sites/a/"}},
            "composition": {"id": "Intro", "width": 1920, "height": 1080, "fps": 30.0, "durationInFrames": 300},
            "inputProps": {"type": "inline", "serialized": props},
            "resolvedProps": {"type": "inline", "serialized": props},
            "encoding": {"codec": "h264"}, "chunk": 0, "frames": {"start": 0, "end": 9}, "attempt": 1,
            "timeoutMs": 30000, "chunkKey": "renders/r1/chunks/000000.ts", "timingsKey": "renders/r1/timings/000000.json",
        });
        merge(&mut payload, changes);
        let request: RenderRequest = serde_json::from_value(payload).unwrap();
        chunk_video(&request, props.to_owned()).unwrap()
    }

    fn merge(into: &mut Value, changes: Value) {
        match (into, changes) {
            (Value::Object(into), Value::Object(changes)) => {
                for (k, v) in changes {
                    merge(into.entry(k).or_insert(Value::Null), v);
                }
            }
            (into, changes) => *into = changes,
        }
    }

    fn site(prefix: &str) -> SiteLocation {
        SiteLocation { serve_url: "private".into(), s3: Some(S3Prefix { bucket: "b".into(), prefix: prefix.into() }) }
    }

    #[test]
    fn chunks_of_one_render_share_a_key_and_anything_else_does_not() {
        let intro = composition(1920, "{}");
        let base = request("{}", json!({})).page_key("r1", &site("sites/a/"), &intro);
        let later = json!({"chunk": 7, "frames": {"start": 150, "end": 199}, "attempt": 2});
        assert_eq!(
            request("{}", later).page_key("r1", &site("sites/a/"), &intro),
            base,
            "other frames of the same render: the same page"
        );

        let differs = |key: PageKey, what: &str| assert_ne!(key, base, "{what} must change the key");
        differs(request("{}", json!({})).page_key("r2", &site("sites/a/"), &intro), "render id");
        differs(request("{}", json!({})).page_key("r1", &site("sites/b/"), &intro), "site");
        let (narrower, other_resolved) = (composition(1280, "{}"), composition(1920, "{\"a\":1}"));
        differs(request("{}", json!({})).page_key("r1", &site("sites/a/"), &narrower), "width");
        differs(request("{}", json!({})).page_key("r1", &site("sites/a/"), &other_resolved), "resolved props");
        differs(request("{\"a\":1}", json!({})).page_key("r1", &site("sites/a/"), &intro), "input props");
        for (what, changes) in [
            ("timeout", json!({"timeoutMs": 31000})),
            ("jpeg quality", json!({"encoding": {"jpegQuality": 90}})),
            ("capture format", json!({"encoding": {"imageFormat": "png"}})),
            ("audio", json!({"encoding": {"muted": true}})),
        ] {
            differs(request("{}", changes).page_key("r1", &site("sites/a/"), &intro), what);
        }
    }
}
