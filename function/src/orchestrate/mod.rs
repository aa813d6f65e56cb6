//! The orchestrator (the `launch` action): one render from start to finish. It resolves the
//! composition, plans chunks (balanced by the site's cost profile when one exists), runs the
//! chunks on invocations of the render function as far as the render's share of the function's
//! capacity allows and on its own invocation as well, joins the chunks without re-encoding,
//! uploads the output and keeps `renders/<id>/progress.json` current throughout, cost included.
//!
//! * [`scheduler`]: every chunk run to completion, on invocations made by [`invoke`] and in
//!   this process by [`local`], cut off at the [`deadline`] a hung chunk misses.
//! * [`chunk`]: one chunk rendered in this process (a `render` invocation's work).
//! * [`allotment`]: the render's share of the function's capacity, as the operator changes it.
//! * [`progress_writer`]: the progress document, kept and written while the render goes on.
//! * [`chunk_reports`]: the frames of chunks still rendering, as their renderers report them.
//! * [`output`]: the chunks joined into the output, uploaded, removed.
//! * [`profile`]: the site's per-frame cost profile the chunks are planned by.
//! * [`cancel`]: a render stopped when its cancel object appears.
//! * [`still`]: a launched still, rendered by the orchestrator itself.

pub mod allotment;
pub mod cancel;
pub mod chunk;
pub mod chunk_reports;
pub mod deadline;
pub mod invoke;
pub mod local;
pub mod output;
pub mod profile;
pub mod progress_writer;
pub mod scheduler;
pub mod still;

use std::sync::Arc;
use std::time::{Duration, Instant};

use remotion_protocol::chunking::{self, FrameSelection};
use remotion_protocol::keys::{self, RenderId, SiteName};
use remotion_protocol::media::DELETE_AFTER_TAG;
use remotion_protocol::payload::Privacy;
use remotion_protocol::payload::{
    FrameSpan, LaunchRequest, LaunchResponse, PROTOCOL_VERSION, RenderRequest, SerializedProps,
};
use remotion_protocol::pricing::FunctionShape;
use remotion_protocol::progress::{FatalError, MAX_EXPENSIVE_RANGES, OutputInfo, Stage};

use self::allotment::AllotmentWatch;
use self::cancel::{CancelWatch, unless_cancelled};
use self::invoke::{ChunkInvoker, LambdaInvoker};
use self::local::LocalInvoker;
use self::progress_writer::{ProgressWriter, now_ms};
use self::scheduler::{ChunkDone, Lanes, Limits, ScheduleError};
use crate::capture::browser::{Browser, BrowserOptions};
use crate::capture::compositions::resolve_composition;
use crate::capture::page::ResolvedComposition;
use crate::capture::site::open_site;
use crate::encode::audio::{AudioSettings, samples_of_frames};
use crate::encode::video::check_frames;
use crate::encode::{Container, ImageKind, fps_rational, muxer};
use crate::error::RenderError;
use crate::props::read_payload_props;
use crate::storage::{self, UploadOptions};

/// Runs a render through the render function named in the request.
pub async fn launch(request: LaunchRequest) -> Result<LaunchResponse, RenderError> {
    let invoker = LambdaInvoker::from_env(&request.renderer.function_name).await;
    launch_with(request, Arc::new(invoker)).await
}

/// Runs a render with remote chunks executed by `invoker`.
pub async fn launch_with<I: ChunkInvoker>(
    request: LaunchRequest,
    invoker: Arc<I>,
) -> Result<LaunchResponse, RenderError> {
    let id = RenderId::new(request.render_id.clone()).map_err(|e| RenderError::InvalidInput(e.to_string()))?;
    let s3 = storage::client().await;
    let bucket = request.bucket.clone();
    let progress_key = keys::progress(&id);
    let response = LaunchResponse {
        render_id: id.as_str().to_owned(),
        progress_key: progress_key.clone(),
        output_key: request.output.key.clone(),
    };
    // Exactly one render per id: a repeated launch (a retried event, a restarted operator)
    // finds the progress document and leaves the running render alone. The check is cheap and
    // answers most repeats; two launches at the same moment both pass it, and the conditional
    // create of the document below lets only one of them through.
    if storage::exists(&s3, &bucket, &progress_key).await? {
        tracing::info!(render = id.as_str(), "already launched; not starting it again");
        return Ok(response);
    }
    let shape = FunctionShape {
        region: request.renderer.region.clone(),
        architecture: request.renderer.architecture,
        memory_mb: request.renderer.memory_mb,
        disk_mb: request.renderer.disk_mb,
    };
    let progress = ProgressWriter::new(id.as_str(), shape, s3.clone(), &bucket, &progress_key);
    if !progress.create().await? {
        tracing::info!(
            render = id.as_str(),
            "launched at the same moment by another invocation; leaving it to that one"
        );
        return Ok(response);
    }
    let heartbeat = progress.heartbeat();
    let polls = progress.clone();
    let watch = CancelWatch::start(s3.clone(), bucket.clone(), keys::cancel(&id), move || {
        polls.lock().s3.read_requests += 1;
    });

    let result = render(&request, &id, &s3, &progress, &watch, invoker).await;

    // Stop the periodic writer before the final document so nothing older lands after it.
    heartbeat.stop().await;
    drop(watch);
    let outcome = match &result {
        Ok(()) => Stage::Done,
        Err(RenderError::Cancelled) => Stage::Cancelled,
        Err(_) => Stage::Failed,
    };
    if outcome != Stage::Done {
        // Leave no chunk objects behind (they are only useful to this render).
        if let Err(e) = output::delete_chunks(&s3, &bucket, &id).await {
            tracing::warn!("could not delete the chunks of a stopped render: {e}");
        }
    }
    {
        let mut state = progress.lock();
        state.doc.stage = outcome;
        if let Err(e) = &result {
            state.doc.fatal = Some(FatalError { kind: e.kind(), message: e.to_string() });
        }
    }
    progress.write().await?;
    result.map(|()| response)
}

/// Everything between the first and the final progress document.
async fn render<I: ChunkInvoker>(
    request: &LaunchRequest,
    id: &RenderId,
    s3: &aws_sdk_s3::Client,
    progress: &ProgressWriter,
    watch: &CancelWatch,
    invoker: Arc<I>,
) -> Result<(), RenderError> {
    if let Some(options) = &request.still {
        let output = self::still::render(request, options, s3, progress, watch).await?;
        progress.lock().doc.output = Some(output);
        return Ok(());
    }
    let signal = watch.signal();
    let bucket = request.bucket.as_str();
    // Refuse what cannot be encoded before any chunk runs.
    muxer(request.encoding.codec, Container::Output)?;
    check_frames(request.encoding.pixel_format, ImageKind::of(request.encoding.image_format))?;
    let audio = AudioSettings::from_encoding(&request.encoding)?;
    if request.encoding.codec.is_audio_only() && audio.is_none() {
        return Err(RenderError::InvalidInput(format!(
            "{} renders are audio only: they cannot be muted",
            request.encoding.codec.as_str()
        )));
    }

    // 1. Resolve the composition once (calculateMetadata may be slow or fetch data).
    let started = Instant::now();
    progress.stage(Stage::Evaluating).await?;
    let composition = unless_cancelled(&signal, evaluate(request, s3)).await?;
    let selection = select_frames(request, &composition)?;
    progress.lock().doc.timings.evaluating_ms = elapsed_ms(started);

    // 2. Plan: equal predicted cost per chunk when the site's profile is known.
    let site = SiteName::new(request.site_name.clone()).map_err(|e| RenderError::InvalidInput(e.to_string()))?;
    let profile_key =
        keys::optimization(&site, &composition.id).map_err(|e| RenderError::InvalidInput(e.to_string()))?;
    let previous_profile = profile::read(s3, bucket, &profile_key).await;
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

    // 3. Render every chunk.
    let resolved_props = offload(
        s3,
        bucket,
        &keys::resolved_props(id),
        composition.serialized_resolved_props_with_custom_schema.clone(),
    )
    .await?;
    let rendering = Instant::now();
    progress.stage(Stage::Rendering).await?;
    let metadata = composition.metadata();
    let extension = request.encoding.codec.chunk_extension();
    let chunk_request = |index: u32, frames: FrameSpan, attempt: u32| RenderRequest {
        protocol_version: PROTOCOL_VERSION,
        render_id: id.as_str().to_owned(),
        bucket: request.bucket.clone(),
        site: request.site.clone(),
        composition: metadata.clone(),
        input_props: request.input_props.clone(),
        resolved_props: resolved_props.clone(),
        encoding: request.encoding.clone(),
        chunk: index,
        frames,
        attempt,
        timeout_ms: request.timeout_ms,
        chunk_key: keys::chunk(id, index, extension),
        timings_key: keys::timings(id, index),
        progress_key: Some(keys::chunk_progress(id, index)),
    };
    let limits = Limits {
        max_retries: request.max_retries,
        function_timeout: Duration::from_secs(u64::from(request.renderer.timeout_seconds)),
    };
    let polls = progress.clone();
    let allotment = AllotmentWatch::start(
        s3.clone(),
        request.bucket.clone(),
        keys::allotment(id),
        request.renderer.max_concurrency,
        move || polls.lock().s3.read_requests += 1,
    );
    let local = Arc::new(LocalInvoker::new(s3.clone(), signal.clone()));
    let lanes = Lanes { remote: invoker, remote_cap: allotment.cap(), local: Some(local.clone()) };
    let every_nth = request.encoding.every_nth_frame.unwrap_or(1);
    let mut done: Vec<ChunkDone> = Vec::with_capacity(spans.len());
    let frames_total = selection.count();
    let scheduled = scheduler::run_chunks(
        lanes,
        scheduler::Plan { spans: &spans, every_nth_frame: every_nth },
        limits,
        chunk_request,
        progress,
        signal.clone(),
        |chunk| {
            done.push(chunk);
            // Extrapolate the total from what the finished chunks cost (running chunks' frames
            // are not billed yet).
            let mut state = progress.lock();
            let finished = state.chunks.finished();
            if finished > 0 {
                let share = rust_decimal::Decimal::from(frames_total) / rust_decimal::Decimal::from(finished);
                state.doc.estimated_total_usd = Some(state.doc.accrued_usd * share);
            }
        },
    )
    .await;
    drop(allotment);
    // A chunk this process was rendering when the chunks stopped winds down first, so that it
    // uploads nothing after the chunks are removed.
    local.idle().await;
    match scheduled {
        Ok(()) => {}
        Err(ScheduleError::Cancelled) => return Err(RenderError::Cancelled),
        Err(ScheduleError::ChunkFailed { kind, message, index, span, attempt }) => {
            return Err(RenderError::Chunk { kind, index, start: span.start, end: span.end, attempt, message });
        }
    }
    progress.lock().doc.timings.rendering_ms = elapsed_ms(rendering);

    // 4. Join the chunks in frame order.
    let stitching = Instant::now();
    progress.stage(Stage::Stitching).await?;
    done.sort_by_key(|c| c.index);
    let chunk_keys: Vec<String> = done.iter().map(|c| c.answer.key.clone()).collect();
    let dir = tempfile::tempdir().map_err(|e| RenderError::io("creating a folder for the chunks", e))?;
    let files = unless_cancelled(&signal, output::download_chunks(s3, bucket, &chunk_keys, dir.path())).await?;
    progress.lock().s3.read_requests += chunk_keys.len() as u64;
    let out = dir.path().join(format!("out.{}", request.encoding.codec.extension()));
    // Audio-only outputs have no frames to count: their length is the frames' samples.
    let expected = match request.encoding.codec.is_audio_only() {
        true => output::Expected::Samples(samples_of_frames(
            selection.start,
            selection.frame(frames_total - 1),
            fps_rational(composition.fps),
        )),
        false => output::Expected::Frames(frames_total),
    };
    unless_cancelled(&signal, output::stitch(files.clone(), out.clone(), &request.encoding, expected)).await?;
    for file in &files {
        let _ = std::fs::remove_file(file);
    }
    progress.lock().doc.timings.stitching_ms = elapsed_ms(stitching);

    // 5. Upload the output.
    let uploading = Instant::now();
    progress.stage(Stage::Uploading).await?;
    let options = UploadOptions {
        content_type: request.encoding.codec.content_type().to_owned(),
        public_read: request.output.privacy == Privacy::Public,
        tagging: request.output.delete_after.map(|d| format!("{DELETE_AFTER_TAG}={}", d.as_str())),
    };
    let size_bytes = unless_cancelled(&signal, output::upload(s3, bucket, &request.output.key, &out, &options)).await?;
    progress.lock().s3.write_requests += size_bytes.div_ceil(16 * 1024 * 1024).max(1) + 1;
    progress.lock().doc.timings.uploading_ms = elapsed_ms(uploading);

    // 6. Learn from this render, record the output, tidy up.
    let measured =
        profile::measure(&composition.id, composition.duration_in_frames, &done, u64::from(every_nth), now_ms());
    if let Err(e) = profile::update(s3, bucket, &profile_key, previous_profile, measured).await {
        tracing::warn!("could not update the cost profile: {e}");
    }
    if let Err(e) = output::delete_chunks(s3, bucket, id).await {
        tracing::warn!("could not delete the chunks: {e}");
    }
    let mut state = progress.lock();
    state.doc.most_expensive_frame_ranges = profile::most_expensive(&done, MAX_EXPENSIVE_RANGES);
    state.doc.output = Some(OutputInfo {
        bucket: request.bucket.clone(),
        key: request.output.key.clone(),
        size_bytes,
        content_type: options.content_type,
    });
    Ok(())
}

/// Resolves the composition in a browser of the orchestrator's own.
async fn evaluate(request: &LaunchRequest, s3: &aws_sdk_s3::Client) -> Result<ResolvedComposition, RenderError> {
    let props = read_payload_props(&request.input_props, Some(&request.bucket), s3).await?;
    let (site, _server) = open_site(&request.site, s3).await?;
    let browser = Browser::warm(&BrowserOptions::detect()?).await?;
    let timeout = Duration::from_millis(request.timeout_ms);
    let resolved = resolve_composition(&browser, &site, &request.composition, &props, timeout).await;
    browser.release().await;
    resolved
}

/// The frames the request selects, checked against the composition.
fn select_frames(request: &LaunchRequest, composition: &ResolvedComposition) -> Result<FrameSelection, RenderError> {
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

fn elapsed_ms(since: Instant) -> u64 {
    remotion_protocol::pricing::billed_milliseconds_from_duration(since.elapsed())
}
