//! The function's Lambda entry point: one JSON payload per invocation, tagged by `type`,
//! dispatched to the actions. Errors carry the protocol kind as Lambda's `errorType`.

use std::time::{Duration, Instant};

use lambda_runtime::{Diagnostic, LambdaEvent};
use remotion_protocol::chunking::FrameSelection;
use remotion_protocol::payload::{
    ChunkPhases, CompositionsRequest, CompositionsResponse, PROTOCOL_VERSION, Payload, RenderRequest, RenderResponse,
    StillRequest, StillResponse,
};
use serde_json::Value;

use crate::capture::browser::{Browser, BrowserOptions};
use crate::capture::compositions::list_compositions;
use crate::capture::page::ResolvedComposition;
use crate::capture::site::open_site;
use crate::capture::still::{StillRequest as LocalStill, render_still};
use crate::capture::warm_page::WarmPage;
use crate::error::RenderError;
use crate::orchestrate::cancel::{CancelWatch, unless_cancelled};
use crate::orchestrate::chunk_reports::Publisher;
use crate::orchestrate::still::capture_of;
use crate::props::read_payload_props;
use crate::render::{chunk_video, render_frames_keeping};
use crate::{orchestrate, storage, versions};

/// Runs the Lambda runtime loop until the process is stopped.
pub async fn run() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::run(lambda_runtime::service_fn(|event: LambdaEvent<Value>| async move {
        handle(event.payload)
            .await
            .map_err(|e| Diagnostic { error_type: e.kind().as_str().into(), error_message: e.to_string() })
    }))
    .await
}

/// Handles one payload.
pub async fn handle(payload: Value) -> Result<Value, RenderError> {
    let payload: Payload = serde_json::from_value(payload)
        .map_err(|e| RenderError::InvalidInput(format!("the payload is not a render-function payload: {e}")))?;
    if let Some(version) = payload.protocol_version()
        && version != PROTOCOL_VERSION
    {
        return Err(RenderError::ProtocolMismatch { payload: version, function: PROTOCOL_VERSION });
    }
    let to_value = |v: Result<Value, serde_json::Error>| v.map_err(|e| RenderError::Encoding(e.to_string()));
    match payload {
        Payload::Info => {
            let info = versions::info().await.map_err(|e| RenderError::BrowserLaunch(e.to_string()))?;
            to_value(serde_json::to_value(info))
        }
        Payload::Compositions(request) => to_value(serde_json::to_value(compositions(&request).await?)),
        Payload::Still(request) => to_value(serde_json::to_value(still(&request).await?)),
        Payload::Render(request) => to_value(serde_json::to_value(render_chunk(&request).await?)),
        Payload::Launch(request) => to_value(serde_json::to_value(orchestrate::launch(request).await?)),
    }
}

async fn compositions(request: &CompositionsRequest) -> Result<CompositionsResponse, RenderError> {
    let s3 = storage::client().await;
    let bucket = request.site.s3.as_ref().map(|p| p.bucket.as_str());
    let props = read_payload_props(&request.input_props, bucket, &s3).await?;
    let (site, _server) = open_site(&request.site, &s3).await?;
    let browser = Browser::warm(&BrowserOptions::detect()?).await?;
    let result = list_compositions(&browser, &site, &props, Duration::from_millis(request.timeout_ms)).await;
    browser.release().await;
    Ok(CompositionsResponse { compositions: result? })
}

async fn still(request: &StillRequest) -> Result<StillResponse, RenderError> {
    let started = Instant::now();
    let s3 = storage::client().await;
    let props = read_payload_props(&request.input_props, Some(&request.bucket), &s3).await?;
    let (site, _server) = open_site(&request.site, &s3).await?;
    let local = LocalStill {
        composition: request.composition.clone(),
        serialized_props: props,
        frame: request.frame,
        format: capture_of(request.image_format, request.jpeg_quality),
        scale: request.scale.unwrap_or(1.0),
        timeout: Duration::from_millis(request.timeout_ms),
    };
    let browser = Browser::warm(&BrowserOptions::detect()?).await?;
    let result = render_still(&browser, &site, &local).await;
    browser.release().await;
    let image = result?.image;
    let size_bytes = image.len() as u64;
    let content_type = request.image_format.content_type();
    storage::put(&s3, &request.bucket, &request.output.key, image, content_type).await?;
    Ok(StillResponse {
        key: request.output.key.clone(),
        size_bytes,
        content_type: content_type.to_owned(),
        duration_ms: remotion_protocol::pricing::billed_milliseconds_from_duration(started.elapsed()),
    })
}

/// Renders one chunk (frames resolved by the orchestrator) into an MPEG-TS file in the bucket,
/// with its per-frame timings beside it.
async fn render_chunk(request: &RenderRequest) -> Result<RenderResponse, RenderError> {
    let started = Instant::now();
    let mut phases = ChunkPhases::default();
    let mut phase = Instant::now();
    let lap = |phase: &mut Instant| {
        let ms = remotion_protocol::pricing::billed_milliseconds_from_duration(phase.elapsed());
        *phase = Instant::now();
        ms
    };
    let s3 = storage::client().await;
    let props = read_payload_props(&request.input_props, Some(&request.bucket), &s3).await?;
    let resolved = read_payload_props(&request.resolved_props, Some(&request.bucket), &s3).await?;
    let composition = ResolvedComposition::from_metadata(&request.composition, resolved);
    let video = chunk_video(request, props)?;
    let dir = tempfile::tempdir().map_err(|e| RenderError::io("creating the chunk folder", e))?;
    let out = dir.path().join(format!("chunk.{}", request.encoding.codec.chunk_extension()));
    // Stop within 2 s when the render is cancelled (closing the browser ends the capture).
    let id = remotion_protocol::keys::RenderId::new(request.render_id.clone())
        .map_err(|e| RenderError::InvalidInput(e.to_string()))?;
    let watch = CancelWatch::start(s3.clone(), request.bucket.clone(), remotion_protocol::keys::cancel(&id), || {});
    phases.prepare_ms = lap(&mut phase);
    // The previous chunk of this render may have left its page loaded in this process.
    let key = video.page_key(&request.render_id, &request.site, &composition);
    let (mut browser, warm) = Browser::warm_with_page(&BrowserOptions::detect()?, Some(&key)).await?;
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
        None => match open_site(&request.site, &s3).await {
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
    let result = unless_cancelled(
        &watch.signal(),
        render_frames_keeping(&browser, &site, composition, &video, &out, on_progress, reuse),
    )
    .await;
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
    drop(watch);
    phases.release_ms = lap(&mut phase);
    let summary = result?;
    phases.page_ms = remotion_protocol::pricing::billed_milliseconds_from_duration(summary.pages_ready);
    phases.frames_ms = rendering_ms.saturating_sub(phases.page_ms);
    let bytes = std::fs::read(&out).map_err(|e| RenderError::io("reading the chunk", e))?;
    let size_bytes = bytes.len() as u64;
    let chunk_type = match request.encoding.codec.chunk_extension() {
        "ts" => "video/mp2t",
        "wav" => "audio/wav",
        _ => "video/x-matroska",
    };
    storage::put(&s3, &request.bucket, &request.chunk_key, bytes, chunk_type).await?;
    let timings = serde_json::json!({
        "chunk": request.chunk,
        "frames": request.frames,
        "frameMilliseconds": summary.frame_milliseconds,
    });
    storage::put(&s3, &request.bucket, &request.timings_key, timings.to_string().into_bytes(), "application/json")
        .await?;
    phases.upload_ms = lap(&mut phase);
    tracing::info!(chunk = request.chunk, frames = summary.frames, ?phases, "chunk rendered");
    Ok(RenderResponse {
        chunk: request.chunk,
        attempt: request.attempt,
        key: request.chunk_key.clone(),
        size_bytes,
        frames: summary.frames,
        frame_milliseconds: summary.frame_milliseconds,
        duration_ms: remotion_protocol::pricing::billed_milliseconds_from_duration(started.elapsed()),
        phases,
        progress_writes,
    })
}
