//! One chunk rendered in this process: what a `render` invocation does, and what the
//! orchestrator does with the chunks it renders itself. Either way the chunk lands at the key
//! its request names, with its timings beside it, so that who rendered it makes no difference
//! to the stitch.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use futures::future::BoxFuture;
use remotion_protocol::chunking::FrameSelection;
use remotion_protocol::keys::RenderId;
use remotion_protocol::media::DELETE_AFTER_TAG;
use remotion_protocol::payload::{ChunkPhases, Privacy, RenderRequest, RenderResponse, SequenceTarget};

use super::chunk_reports::Publisher;
use crate::assets::artifacts;
use crate::capture::browser::{Browser, BrowserOptions};
use crate::capture::page::ResolvedComposition;
use crate::capture::site::open_site;
use crate::capture::warm_page::WarmPage;
use crate::error::RenderError;
use crate::props::read_payload_props;
use crate::render::{ImageSink, chunk_video, render_frames_keeping, render_images_keeping};
use crate::storage::{self, UploadOptions};

/// Renders one chunk (frames resolved by the orchestrator) into a chunk file in the bucket,
/// with its per-frame timings beside it. When `stop` resolves the capture ends within moments
/// (the browser is released, which closes the tabs) and the chunk fails as cancelled, with
/// nothing uploaded.
pub async fn render(
    request: &RenderRequest,
    s3: &aws_sdk_s3::Client,
    stop: impl Future<Output = ()> + Send,
) -> Result<RenderResponse, RenderError> {
    let started = Instant::now();
    let mut phases = ChunkPhases::default();
    let mut phase = Instant::now();
    let lap = |phase: &mut Instant| {
        let ms = remotion_protocol::pricing::billed_milliseconds_from_duration(phase.elapsed());
        *phase = Instant::now();
        ms
    };
    let props = read_payload_props(&request.input_props, Some(&request.bucket), s3).await?;
    let resolved = read_payload_props(&request.resolved_props, Some(&request.bucket), s3).await?;
    let composition = ResolvedComposition::from_metadata(&request.composition, resolved);
    let video = chunk_video(request, props)?;
    let dir = tempfile::tempdir().map_err(|e| RenderError::io("creating the chunk folder", e))?;
    let out = dir.path().join(format!("chunk.{}", request.encoding.codec.chunk_extension()));
    phases.prepare_ms = lap(&mut phase);
    // The previous chunk of this render may have left its page loaded in this process.
    let key = video.page_key(&request.render_id, &request.site, &composition);
    let options = BrowserOptions::for_invocation(&request.page, video.scale)?;
    let (mut browser, warm) = Browser::warm_with_page(&options, Some(&key)).await?;
    let every_nth = u64::from(request.encoding.every_nth_frame.unwrap_or(1));
    let selection = FrameSelection::every_nth(request.frames.start, request.frames.end, every_nth);
    let warm = match warm {
        // `remotion_setFrame` to the frame a page shows changes nothing on it, so what a page
        // registers per frame (its audio assets) would not be registered again, unlike on a
        // fresh page: such a chunk (a one-frame chunk run again) gets a fresh page.
        Some(page) if page.frame == selection.frame(0) => {
            page.close().await;
            None
        }
        other => other,
    };
    phases.browser_ms = lap(&mut phase);
    let (site, server, reuse) = match warm {
        Some(page) => (page.site, page.server, Some(page.tab)),
        None => match open_site(&request.site, s3).await {
            Ok((site, server)) => (site, server, None),
            Err(e) => {
                browser.release().await;
                return Err(e);
            }
        },
    };
    phases.page_reused = reuse.is_some();
    phases.site_ms = lap(&mut phase);
    // The orchestrator reads the frames done so far while the chunk renders.
    let publisher = request.progress_key.as_ref().map(|key| {
        let frames = request.frames.len(request.encoding.every_nth_frame.unwrap_or(1));
        Publisher::start(s3.clone(), request.bucket.clone(), key.clone(), request.chunk, request.attempt, frames)
    });
    let report = publisher.as_ref().map(Publisher::callback);
    let on_progress = move |p| {
        if let Some(report) = &report {
            report(p);
        }
    };
    // An image sequence's frames go straight to the bucket; a video is encoded into `out`.
    let sink = request.sequence.as_ref().map(|target| BucketFrames::new(s3, &request.bucket, target));
    let rendering = async {
        match &sink {
            Some(sink) => {
                let sink: Arc<dyn ImageSink> = sink.clone();
                render_images_keeping(&browser, &site, composition, &video, sink, on_progress, reuse).await
            }
            None => render_frames_keeping(&browser, &site, composition, &video, &out, on_progress, reuse).await,
        }
    };
    let result = tokio::select! {
        biased;
        () = stop => Err(RenderError::Cancelled),
        result = rendering => result,
    };
    let progress_writes = publisher.map_or(0, Publisher::stop);
    let rendering_ms = lap(&mut phase);
    let result = result.map(|(summary, tab)| {
        if let Some(tab) = tab {
            let frame = selection.frame(selection.count().saturating_sub(1));
            browser.keep_page(WarmPage { key, site, server, tab, frame });
        }
        summary
    });
    browser.release().await;
    phases.release_ms = lap(&mut phase);
    let summary = result?;
    phases.page_ms = remotion_protocol::pricing::billed_milliseconds_from_duration(summary.pages_ready);
    phases.frames_ms = rendering_ms.saturating_sub(phases.page_ms);
    let (key, size_bytes) = match (&sink, &request.sequence) {
        (Some(sink), Some(target)) => (target.prefix.clone(), sink.bytes.load(Ordering::Relaxed)),
        _ => {
            let bytes = std::fs::read(&out).map_err(|e| RenderError::io("reading the chunk", e))?;
            let size_bytes = bytes.len() as u64;
            let chunk_type = match request.encoding.codec.chunk_extension() {
                "ts" => "video/mp2t",
                "wav" => "audio/wav",
                _ => "video/x-matroska",
            };
            storage::put(s3, &request.bucket, &request.chunk_key, bytes, chunk_type).await?;
            (request.chunk_key.clone(), size_bytes)
        }
    };
    // The frames' artifacts go beside the render now; the orchestrator lists them all.
    let id = RenderId::new(request.render_id.clone()).map_err(|e| RenderError::InvalidInput(e.to_string()))?;
    let public_read = request.output.privacy == Privacy::Public;
    let tagging = request.output.delete_after.map(|d| format!("{DELETE_AFTER_TAG}={}", d.as_str()));
    let saved = artifacts::upload(s3, &request.bucket, &id, summary.artifacts, public_read, tagging).await?;
    // The timings are written last: a followed chunk is rebuilt from them, artifacts included.
    let timings = serde_json::json!({
        "chunk": request.chunk,
        "frames": request.frames,
        "frameMilliseconds": summary.frame_milliseconds,
        "artifacts": saved,
        "tabs": summary.tabs,
    });
    storage::put(s3, &request.bucket, &request.timings_key, timings.to_string().into_bytes(), "application/json")
        .await?;
    phases.upload_ms = lap(&mut phase);
    tracing::info!(chunk = request.chunk, frames = summary.frames, ?phases, "chunk rendered");
    Ok(RenderResponse {
        chunk: request.chunk,
        attempt: request.attempt,
        key,
        size_bytes,
        frames: summary.frames,
        frame_milliseconds: summary.frame_milliseconds,
        duration_ms: remotion_protocol::pricing::billed_milliseconds_from_duration(started.elapsed()),
        phases,
        progress_writes,
        artifacts: saved,
        tabs: u32::try_from(summary.tabs).unwrap_or(u32::MAX),
    })
}

/// An image sequence's frames, each written to its key in the render's bucket as it is
/// captured (a frame written again by a retried chunk replaces itself).
struct BucketFrames {
    s3: aws_sdk_s3::Client,
    bucket: String,
    target: SequenceTarget,
    options: UploadOptions,
    /// Bytes written so far.
    bytes: AtomicU64,
}

impl BucketFrames {
    fn new(s3: &aws_sdk_s3::Client, bucket: &str, target: &SequenceTarget) -> Arc<Self> {
        let options = UploadOptions {
            content_type: target.content_type().to_owned(),
            public_read: target.privacy == Privacy::Public,
            tagging: target.delete_after.map(|d| format!("{DELETE_AFTER_TAG}={}", d.as_str())),
            ..UploadOptions::default()
        };
        Arc::new(Self {
            s3: s3.clone(),
            bucket: bucket.to_owned(),
            target: target.clone(),
            options,
            bytes: AtomicU64::new(0),
        })
    }
}

impl ImageSink for BucketFrames {
    fn put(&self, frame: u64, image: Vec<u8>) -> BoxFuture<'static, Result<(), RenderError>> {
        let (s3, bucket, key, options) =
            (self.s3.clone(), self.bucket.clone(), self.target.key(frame), self.options.clone());
        let size = image.len() as u64;
        self.bytes.fetch_add(size, Ordering::Relaxed);
        Box::pin(async move { storage::put_with(&s3, &bucket, &key, image, &options).await })
    }
}
