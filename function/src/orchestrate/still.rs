//! A launched still: one frame as an image, rendered by the orchestrator itself. A single
//! frame does not pay for a second cold start, so no chunk is invoked; the render still goes
//! through the progress document (stages, cost, output) so it is followed like a video.

use std::time::{Duration, Instant};

use remotion_protocol::media::{DELETE_AFTER_TAG, StillImageFormat};
use remotion_protocol::payload::LaunchRequest;
use remotion_protocol::payload::{Privacy, StillOptions};
use remotion_protocol::progress::{OutputInfo, Stage};

use super::cancel::{CancelWatch, unless_cancelled};
use super::output;
use super::progress_writer::ProgressWriter;
use crate::capture::browser::{Browser, BrowserOptions};
use crate::capture::page::Capture;
use crate::capture::site::open_site;
use crate::capture::still::{StillRequest, render_still};
use crate::error::RenderError;
use crate::props::read_payload_props;
use crate::storage::UploadOptions;

/// JPEG quality when the request names none (Remotion's default).
const DEFAULT_JPEG_QUALITY: u8 = 80;

/// How the request's image format is captured.
pub fn capture_of(format: StillImageFormat, jpeg_quality: Option<u8>) -> Capture {
    match format {
        StillImageFormat::Png => Capture::Png,
        StillImageFormat::Jpeg => Capture::Jpeg(jpeg_quality.unwrap_or(DEFAULT_JPEG_QUALITY)),
        StillImageFormat::Webp => Capture::Webp,
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
    let frame = u64::try_from(options.frame)
        .map_err(|_| RenderError::InvalidInput(format!("still frame {} is negative", options.frame)))?;
    {
        let mut state = progress.lock();
        state.doc.frames_total = 1;
        state.doc.chunks_total = 1;
    }

    let evaluating = Instant::now();
    progress.stage(Stage::Evaluating).await?;
    let props = read_payload_props(&request.input_props, Some(&request.bucket), s3).await?;
    let (site, _server) = open_site(&request.site, s3).await?;
    let browser = Browser::warm(&BrowserOptions::detect()?).await?;
    progress.lock().doc.timings.evaluating_ms = elapsed_ms(evaluating);

    let rendering = Instant::now();
    progress.stage(Stage::Rendering).await?;
    let still = StillRequest {
        composition: request.composition.clone(),
        serialized_props: props,
        frame,
        format: capture_of(options.image_format, request.encoding.jpeg_quality),
        scale: request.encoding.scale.unwrap_or(1.0),
        timeout: Duration::from_millis(request.timeout_ms),
    };
    let rendered = unless_cancelled(&signal, render_still(&browser, &site, &still)).await;
    browser.release().await;
    let image = rendered?.image;
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
    let upload = UploadOptions {
        content_type: options.image_format.content_type().to_owned(),
        public_read: request.output.privacy == Privacy::Public,
        tagging: request.output.delete_after.map(|d| format!("{DELETE_AFTER_TAG}={}", d.as_str())),
    };
    let size_bytes =
        unless_cancelled(&signal, output::upload(s3, &request.bucket, &request.output.key, &file, &upload)).await?;
    {
        let mut state = progress.lock();
        state.s3.write_requests += 1;
        state.doc.timings.uploading_ms = elapsed_ms(uploading);
    }
    Ok(OutputInfo {
        bucket: request.bucket.clone(),
        key: request.output.key.clone(),
        size_bytes,
        content_type: upload.content_type,
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
    }
}
