//! A launched still: one frame as an image, rendered by the orchestrator itself. A single
//! frame does not pay for a second cold start, so no chunk is invoked; the render still goes
//! through the progress document (stages, cost, output) so it is followed like a video.

use std::time::{Duration, Instant};

use remotion_protocol::keys::RenderId;
use remotion_protocol::media::{DELETE_AFTER_TAG, StillImageFormat};
use remotion_protocol::payload::LaunchRequest;
use remotion_protocol::payload::Privacy;
use remotion_protocol::payload::StillOptions;
use remotion_protocol::progress::{OutputInfo, ProgressError, ResolvedRender, Stage};

use super::cancel::{CancelWatch, unless_cancelled};
use super::output;
use super::progress_writer::{ProgressWriter, now_ms};
use crate::assets::artifacts;
use crate::capture::browser::{Browser, BrowserOptions};
use crate::capture::compositions::{overridden, resolve_composition};
use crate::capture::page::Capture;
use crate::capture::site::{Site, open_site};
use crate::capture::still::{StillRequest, render_resolved_still, still_frame};
use crate::error::RenderError;
use crate::props::read_payload_props;

/// Longest pause before a still is rendered again (the pause doubles from 1 s).
const RETRY_BACKOFF_CAP: Duration = Duration::from_secs(8);

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
    let timeout = Duration::from_millis(request.timeout_ms);
    // A browser that crashed or a network that failed is tried again in this invocation, up
    // to `maxRetries` times, as Remotion retries a still; the errors stay in the document.
    let mut attempt = 1;
    let (still, key, rendering) = loop {
        let tried = capture(request, options, &id, &site, &props, timeout, progress, watch).await;
        match tried {
            Err(e) if tried_again(&e, attempt, request.max_retries, *signal.borrow()) => {
                tracing::warn!(attempt, error = %e, "the still failed; rendering it again");
                progress.error(ProgressError {
                    kind: e.kind(),
                    message: e.to_string(),
                    chunk: None,
                    frames: None,
                    attempt: Some(attempt),
                    will_retry: true,
                    at_ms: now_ms(),
                });
                progress.lock().doc.retries += 1;
                // As a chunk's retry does: a network or a store that just failed gets a moment.
                tokio::time::sleep(super::backoff::backoff(attempt, RETRY_BACKOFF_CAP)).await;
                attempt += 1;
            }
            other => break other?,
        }
    };
    progress.lock().doc.timings.evaluating_ms =
        remotion_protocol::pricing::billed_milliseconds_from_duration(rendering.duration_since(evaluating));
    let crate::capture::still::Still { image, artifacts, .. } = still;
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

/// One attempt at the still: the composition resolved in a warm browser, its frame and output
/// key placed (recorded in the document), and the frame captured. Returns it with its key and
/// when its rendering started.
#[allow(clippy::too_many_arguments)]
async fn capture(
    request: &LaunchRequest,
    options: &StillOptions,
    id: &RenderId,
    site: &Site,
    props: &str,
    timeout: Duration,
    progress: &ProgressWriter,
    watch: &CancelWatch,
) -> Result<(crate::capture::still::Still, String, Instant), RenderError> {
    let signal = watch.signal();
    let scale = request.encoding.scale.unwrap_or(1.0);
    let browser = Browser::warm(&BrowserOptions::for_invocation(&request.page, scale)?).await?;
    let resolving = resolve_composition(&browser, site, &request.composition, props, timeout);
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
        Ok((frame, output::output_key(request, id, name, options.image_format.extension())?))
    });
    let (frame, key) = match placed {
        Ok(placed) => placed,
        Err(e) => {
            browser.release().await;
            return Err(e);
        }
    };
    progress.lock().doc.resolved = Some(ResolvedRender {
        codec: None,
        pixel_format: None,
        output_key: key.clone(),
        width: composition.width,
        height: composition.height,
        fps: composition.fps,
        duration_in_frames: composition.duration_in_frames,
        still_frame: Some(frame),
    });

    let rendering = Instant::now();
    if let Err(e) = progress.stage(Stage::Rendering).await {
        browser.release().await;
        return Err(e);
    }
    let still = StillRequest {
        composition: request.composition.clone(),
        serialized_props: props.to_owned(),
        frame,
        format: capture_of(options.image_format, request.encoding.jpeg_quality),
        scale: request.encoding.scale.unwrap_or(1.0),
        timeout,
    };
    let rendered = unless_cancelled(&signal, render_resolved_still(&browser, site, &still, composition)).await;
    browser.release().await;
    Ok((rendered?, key, rendering))
}

/// Whether a still that failed with `error` on `attempt` (1 = first) is rendered again: a
/// retriable kind (a crashed browser, the network…), within `max_retries`, not cancelled.
fn tried_again(error: &RenderError, attempt: u32, max_retries: u32, cancelled: bool) -> bool {
    error.kind().is_retriable() && attempt <= max_retries && !cancelled
}

fn elapsed_ms(since: Instant) -> u64 {
    remotion_protocol::pricing::billed_milliseconds_from_duration(since.elapsed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_crashed_browser_is_tried_again_within_max_retries_and_a_bad_composition_is_not() {
        let crashed = RenderError::Browser("the DevTools connection to Chromium was lost".into());
        assert!(tried_again(&crashed, 1, 1, false));
        assert!(!tried_again(&crashed, 2, 1, false), "max_retries 1: two attempts in all");
        assert!(!tried_again(&crashed, 1, 0, false));
        assert!(!tried_again(&crashed, 1, 1, true), "cancelled");
        assert!(!tried_again(&RenderError::InvalidInput("frame 40 of 30".into()), 1, 3, false));
    }

    #[test]
    fn image_formats_capture_as_remotion_does() {
        assert!(matches!(capture_of(StillImageFormat::Png, Some(50)), Capture::Png));
        assert!(matches!(capture_of(StillImageFormat::Jpeg, None), Capture::Jpeg(80)));
        assert!(matches!(capture_of(StillImageFormat::Jpeg, Some(95)), Capture::Jpeg(95)));
        assert!(matches!(capture_of(StillImageFormat::Webp, None), Capture::Webp));
        assert!(matches!(capture_of(StillImageFormat::Pdf, Some(95)), Capture::Pdf));
    }
}
