//! Before any chunk runs: the composition resolved in the orchestrator's own browser, the
//! encoding completed from its defaults and checked, the output's key chosen and found free,
//! and the frames split into chunks.

use std::time::Duration;

use remotion_protocol::chunking::{self, CostProfile, FrameSelection};
use remotion_protocol::keys::{self, RenderId, SiteFolder};
use remotion_protocol::payload::{CompositionMetadata, LaunchRequest, SerializedProps};
use remotion_protocol::progress::{ResolvedRender, Stage};

use super::cancel::unless_cancelled;
use super::continuation::Planned;
use super::progress_writer::{ProgressWriter, now_ms};
use super::{elapsed_ms, output, profile};
use crate::capture::browser::{Browser, BrowserOptions};
use crate::capture::compositions::{encoding_defaults, overridden, resolve_composition};
use crate::capture::page::ResolvedComposition;
use crate::capture::site::open_site;
use crate::encode::audio::AudioSettings;
use crate::encode::video::check_frames;
use crate::encode::{Container, ImageKind, muxer, output_muxer};
use crate::error::RenderError;
use crate::props::read_payload_props;
use crate::storage;

/// Resolves the composition (calculateMetadata may be slow or fetch data) and plans the chunks:
/// equal predicted cost per chunk when the site's profile is known. The profile as read.
pub(super) async fn plan(
    request: &LaunchRequest,
    id: &RenderId,
    s3: &aws_sdk_s3::Client,
    progress: &ProgressWriter,
    signal: &tokio::sync::watch::Receiver<bool>,
    site: &SiteFolder,
) -> Result<(Planned, Option<CostProfile>), RenderError> {
    let bucket = request.bucket.as_str();
    crate::render::check_tabs(request.renderer.concurrency_per_lambda)?;
    let started = std::time::Instant::now();
    progress.stage(Stage::Evaluating).await?;
    let composition = overridden(unless_cancelled(signal, evaluate(request, s3)).await?, &request.overrides);
    let encoding = request
        .encoding
        .clone()
        .with_composition_defaults(&encoding_defaults(&composition), request.codec_chosen)
        .map_err(|e| RenderError::InvalidInput(e.to_string()))?;
    let output_key = match encoding.image_sequence {
        Some(_) => {
            // The frames are the render's own files: they go nowhere else.
            if let Some(audio_key) = &request.output.separate_audio_key {
                output::check_separate_audio(audio_key, &encoding, "")?;
            }
            if request.output.bucket.is_some() || request.output.store.is_some() {
                return Err(RenderError::InvalidInput(
                    "an image sequence is written under the render's folder of its bucket: remove output.bucketRef \
                     and output.store"
                        .into(),
                ));
            }
            keys::sequence_frames(id)
        }
        None => {
            check_encoding(&encoding)?;
            let separate = request.output.separate_audio_key.is_some();
            let (extension, _) = output::output_format(&encoding, separate)?;
            let key = output::output_key(request, id, composition.default_out_name.as_deref(), extension)?;
            if let Some(audio_key) = &request.output.separate_audio_key {
                output::check_separate_audio(audio_key, &encoding, &key)?;
            }
            let destination = output::Destination::of(&request.output, bucket, s3)?;
            unless_cancelled(signal, destination.check_free(&request.output, &key, id)).await?;
            if let Some(audio_key) = &request.output.separate_audio_key {
                unless_cancelled(signal, destination.check_free(&request.output, audio_key, id)).await?;
            }
            key
        }
    };
    let metadata = composition.metadata();
    let selection = select_frames(request, &metadata)?;
    {
        let mut state = progress.lock();
        state.doc.timings.evaluating_ms = elapsed_ms(started);
        state.doc.resolved = Some(ResolvedRender {
            // An image sequence has no codec.
            codec: encoding.image_sequence.is_none().then_some(encoding.codec),
            pixel_format: encoding.pixel_format,
            output_key: output_key.clone(),
            width: metadata.width,
            height: metadata.height,
            fps: metadata.fps,
            duration_in_frames: metadata.duration_in_frames,
            still_frame: None,
        });
    }

    let profile_key =
        keys::optimization(site, &composition.id).map_err(|e| RenderError::InvalidInput(e.to_string()))?;
    // The profile measures the composition at its own size, rate and length.
    let previous_profile = match request.overrides.is_empty() {
        true => profile::read(s3, bucket, &profile_key).await,
        false => None,
    };
    let spans = match &previous_profile {
        Some(p) if p.duration_in_frames == composition.duration_in_frames => {
            chunking::plan_balanced(selection, request.chunking, p)
        }
        _ => chunking::plan_uniform(selection, request.chunking),
    }
    .map_err(|e| RenderError::InvalidInput(e.to_string()))?;
    {
        let mut state = progress.lock();
        state.doc.frames_total = selection.count();
        state.doc.chunks_total = spans.len() as u64;
    }
    let resolved_props = offload(
        s3,
        bucket,
        &keys::resolved_props(id),
        composition.serialized_resolved_props_with_custom_schema.clone(),
    )
    .await?;
    progress.stage(Stage::Rendering).await?;
    let planned = Planned {
        composition: metadata,
        encoding,
        output_key,
        resolved_props,
        spans,
        rendering_started_at_ms: now_ms(),
    };
    Ok((planned, previous_profile))
}

/// Refuses what cannot be encoded before any chunk runs.
fn check_encoding(encoding: &remotion_protocol::payload::EncodingSettings) -> Result<(), RenderError> {
    muxer(encoding.codec, Container::Output)?;
    let audio = AudioSettings::from_encoding(encoding)?;
    output_muxer(encoding.codec, audio.map(|a| a.codec))?;
    check_frames(encoding.pixel_format, ImageKind::of(encoding.image_format))?;
    if encoding.codec.is_audio_only() && audio.is_none() {
        return Err(RenderError::InvalidInput(format!(
            "{} renders are audio only: they cannot be muted",
            encoding.codec.as_str()
        )));
    }
    Ok(())
}

/// Resolves the composition in a browser of the orchestrator's own.
async fn evaluate(request: &LaunchRequest, s3: &aws_sdk_s3::Client) -> Result<ResolvedComposition, RenderError> {
    let props = read_payload_props(&request.input_props, Some(&request.bucket), s3).await?;
    let (site, _server) = open_site(&request.site, s3).await?;
    // The browser its chunks draw with, so that the chunks it renders itself find it warm.
    let scale = request.encoding.scale.unwrap_or(1.0);
    let browser = Browser::warm(&BrowserOptions::for_invocation(&request.page, scale)?).await?;
    let timeout = Duration::from_millis(request.timeout_ms);
    let resolved = resolve_composition(&browser, &site, &request.composition, &props, timeout).await;
    browser.release().await;
    resolved
}

/// The frames the request selects, checked against the composition.
pub(super) fn select_frames(
    request: &LaunchRequest,
    composition: &CompositionMetadata,
) -> Result<FrameSelection, RenderError> {
    let last = composition.duration_in_frames.saturating_sub(1);
    let (start, end) = match request.frame_range {
        Some(range) => (range.start.max(0) as u64, range.end.map_or(last, |e| e.max(0) as u64)),
        None => (0, last),
    };
    if composition.duration_in_frames == 0 || start > end || end > last {
        return Err(RenderError::InvalidInput(format!(
            "frames {start}–{end} are out of range: {} has frames 0–{last}",
            composition.id
        )));
    }
    let every_nth = u64::from(request.encoding.every_nth_frame.unwrap_or(1));
    let selection = FrameSelection::every_nth(start, end, every_nth);
    if selection.count() == 0 {
        return Err(RenderError::InvalidInput(format!(
            "no frame of {start}–{end} is a multiple of everyNthFrame {every_nth} (Remotion renders those only): \
             widen the frame range"
        )));
    }
    Ok(selection)
}

/// Props that fit go inline in every chunk's payload; larger ones are written once to the
/// bucket and referenced by key.
async fn offload(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    serialized: String,
) -> Result<SerializedProps, RenderError> {
    match SerializedProps::inline_if_small(serialized) {
        Ok(inline) => Ok(inline),
        Err(serialized) => {
            storage::put(s3, bucket, key, serialized.into_bytes(), "application/json").await?;
            Ok(SerializedProps::Bucket { key: key.to_owned() })
        }
    }
}
