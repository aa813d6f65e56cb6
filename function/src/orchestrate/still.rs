//! A launched still: one frame as an image, rendered by the orchestrator itself. A single
//! frame does not pay for a second cold start, so no chunk is invoked; the render still goes
//! through the progress document (stages, cost, output) so it is followed like a video.

use std::time::{Duration, Instant};

use remotion_protocol::keys::RenderId;
use remotion_protocol::media::{DELETE_AFTER_TAG, StillImageFormat};
use remotion_protocol::payload::LaunchRequest;
use remotion_protocol::payload::Privacy;
use remotion_protocol::payload::StillOptions;
use remotion_protocol::progress::{OutputInfo, ResolvedRender, Stage};

use super::cancel::{CancelWatch, unless_cancelled};
use super::output;
use super::progress_writer::ProgressWriter;
use crate::assets::artifacts;
use crate::capture::browser::{Browser, BrowserOptions};
use crate::capture::compositions::{overridden, resolve_composition};
use crate::capture::page::Capture;
use crate::capture::site::open_site;
use crate::capture::still::{StillRequest, render_resolved_still, still_frame};
use crate::error::RenderError;
use crate::props::read_payload_props;

/// JPEG quality when the request names none (Remotion's default).
const DEFAULT_JPEG_QUALITY: u8 = 80;

/// How the request's image format is captured.
pub fn capture_of(format: StillImageFormat, jpeg_quality: Option<u8>) -> Capture {
    match format {
        StillImageFormat::Png => Capture::Png,
        StillImageFormat::Jpeg => Capture::Jpeg(jpeg_quality.unwrap_or(DEFAULT_JPEG_QUALITY)),
        StillImageFormat::Webp => Capture::Webp,
        StillImageFormat::Pdf => Capture::Pdf,
    }
}

/// Renders the still, uploads it to the output key and returns what the final progress
/// document records about it.
pub async fn render(
    request: &LaunchRequest,
    options: &StillOptions,
    s3: &aws_sdk_s3::Client,
    progress: &ProgressWriter,
    watch: &CancelWatch,
) -> Result<OutputInfo, RenderError> {
    let signal = watch.signal();
    let id = RenderId::new(request.render_id.clone()).map_err(|e| RenderError::InvalidInput(e.to_string()))?;
    {
        let mut state = progress.lock();
        state.doc.frames_total = 1;
        state.doc.chunks_total = 1;
    }

    let evaluating = Instant::now();
    progress.stage(Stage::Evaluating).await?;
    let props = read_payload_props(&request.input_props, Some(&request.bucket), s3).await?;
    let (site, _server) = open_site(&request.site, s3).await?;
    let browser = Browser::warm(&BrowserOptions::detect()?.for_page(&request.page)).await?;
    let timeout = Duration::from_millis(request.timeout_ms);
    let resolving = resolve_composition(&browser, &site, &request.composition, &props, timeout);
    let composition = match unless_cancelled(&signal, resolving).await {
        Ok(composition) => overridden(composition, &request.overrides),
        Err(e) => {
            browser.release().await;
            return Err(e);
        }
    };
    // Where it goes and which frame it shows are known now; a job that asked for neither a
    // key nor a frame inside the composition ends here, before anything is captured.
    let placed = still_frame(options.frame, &composition).and_then(|frame| {
        let name = composition.default_out_name.as_deref();
        Ok((frame, output::output_key(request, &id, name, options.image_format.extension())?))
    });
    let (frame, key) = match placed {
        Ok(placed) => placed,
        Err(e) => {
            browser.release().await;
            return Err(e);
        }
    };
    {
        let mut state = progress.lock();
        state.doc.timings.evaluating_ms = elapsed_ms(evaluating);
        state.doc.resolved = Some(ResolvedRender {
            codec: None,
            pixel_format: None,
            output_key: key.clone(),
            width: composition.width,
            height: composition.height,
            fps: composition.fps,
            duration_in_frames: composition.duration_in_frames,
            still_frame: Some(frame),
        });
    }

    let rendering = Instant::now();
    progress.stage(Stage::Rendering).await?;
    let still = StillRequest {
        composition: request.composition.clone(),
        serialized_props: props,
        frame,
        format: capture_of(options.image_format, request.encoding.jpeg_quality),
        scale: request.encoding.scale.unwrap_or(1.0),
        timeout,
    };
    let rendered = unless_cancelled(&signal, render_resolved_still(&browser, &site, &still, composition)).await;
    browser.release().await;
    let crate::capture::still::Still { image, artifacts, .. } = rendered?;
    {
        let mut state = progress.lock();
        state.doc.timings.rendering_ms = elapsed_ms(rendering);
        state.doc.frames_rendered = 1;
        state.doc.frames_encoded = 1;
        state.doc.chunks_done = 1;
    }

    let uploading = Instant::now();
    progress.stage(Stage::Uploading).await?;
    let dir = tempfile::tempdir().map_err(|e| RenderError::io("creating a folder for the still", e))?;
    let file = dir.path().join(format!("still.{}", options.image_format.extension()));
    tokio::fs::write(&file, &image).await.map_err(|e| RenderError::io(format!("writing {}", file.display()), e))?;
    let destination = output::Destination::of(&request.output, &request.bucket, s3)?;
    let upload = destination.upload_options(&request.output, options.image_format.content_type(), &id)?;
    let size_bytes = unless_cancelled(&signal, destination.upload(&key, &file, &upload)).await?;
    let public_read = request.output.privacy == Privacy::Public;
    let tagging = request.output.delete_after.map(|d| format!("{DELETE_AFTER_TAG}={}", d.as_str()));
    let saving = artifacts::upload(s3, &request.bucket, &id, artifacts, public_read, tagging);
    let saved = unless_cancelled(&signal, saving).await?;
    {
        let mut state = progress.lock();
        state.s3.write_requests += 1 + saved.len() as u64;
        state.doc.timings.uploading_ms = elapsed_ms(uploading);
        state.doc.artifacts = saved;
    }
    Ok(OutputInfo {
        bucket: destination.bucket,
        key,
        size_bytes,
        content_type: upload.content_type,
        ..Default::default()
    })
}

fn elapsed_ms(since: Instant) -> u64 {
    remotion_protocol::pricing::billed_milliseconds_from_duration(since.elapsed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_formats_capture_as_remotion_does() {
        assert!(matches!(capture_of(StillImageFormat::Png, Some(50)), Capture::Png));
        assert!(matches!(capture_of(StillImageFormat::Jpeg, None), Capture::Jpeg(80)));
        assert!(matches!(capture_of(StillImageFormat::Jpeg, Some(95)), Capture::Jpeg(95)));
        assert!(matches!(capture_of(StillImageFormat::Webp, None), Capture::Webp));
        assert!(matches!(capture_of(StillImageFormat::Pdf, Some(95)), Capture::Pdf));
    }
}
