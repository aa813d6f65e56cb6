//! The orchestrator (the `launch` action): one render from start to finish. It resolves the
//! composition, plans chunks (balanced by the site's cost profile when one exists), runs the
//! chunks on invocations of the render function as far as the render's share of the function's
//! capacity allows and on its own invocation as well, joins the chunks without re-encoding,
//! uploads the output and keeps `renders/<id>/progress.json` current throughout, cost included.
//! A render longer than the function's timeout goes on in continuations of the orchestrator
//! (the `continue` action), each taking over where the previous one stopped.
//!
//! * [`scheduler`]: every chunk run to completion, on invocations made by [`invoke`] and in
//!   this process by [`local`], cut off at the [`deadline`] a hung chunk misses.
//! * [`continuation`]: the hand-over to a new invocation before this one's deadline, and the
//!   take-over by it; [`follow`]: the chunks it finds running, followed to their end.
//! * [`chunk`]: one chunk rendered in this process (a `render` invocation's work).
//! * [`allotment`]: the render's share of the function's capacity, as the operator changes it.
//! * [`progress_writer`]: the progress document, kept and written while the render goes on.
//! * [`chunk_reports`]: the frames of chunks still rendering, as their renderers report them.
//! * [`output`]: the chunks joined into the output, uploaded, removed.
//! * [`sequence`]: an image sequence's frames checked and archived instead of joined.
//! * [`profile`]: the site's per-frame cost profile the chunks are planned by.
//! * [`cancel`]: a render stopped when its cancel object appears.
//! * [`still`]: a launched still, rendered by the orchestrator itself.

pub mod allotment;
mod backoff;
pub mod cancel;
pub mod chunk;
pub mod chunk_reports;
pub mod continuation;
pub mod deadline;
pub mod follow;
pub mod invoke;
pub mod local;
pub mod output;
mod planning;
pub mod profile;
pub mod progress_writer;
pub mod scheduler;
pub mod sequence;
pub mod still;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use remotion_protocol::chunking::CostProfile;
use remotion_protocol::keys::{self, RenderId};
use remotion_protocol::payload::{FrameSpan, LaunchRequest, LaunchResponse, PROTOCOL_VERSION, RenderRequest};
use remotion_protocol::pricing::FunctionShape;
use remotion_protocol::progress::{FatalError, MAX_EXPENSIVE_RANGES, OutputInfo, ProgressDocument, Stage};
// Tokio's clock, as the scheduler's.
use tokio::time::Instant;

use self::allotment::AllotmentWatch;
use self::cancel::{CancelWatch, unless_cancelled};
use self::continuation::{Budget, ContinuationState, Continuer, TakeOver};
use self::follow::S3Follower;
use self::invoke::{ChunkInvoker, LambdaInvoker};
use self::local::LocalInvoker;
use self::planning::{plan, select_frames};
use self::progress_writer::{ProgressWriter, now_ms};
use self::scheduler::{ChunkDone, Lanes, Limits, Plan, ScheduleError, Scheduled, Standing, Stop};
use crate::assets::artifacts;
use crate::encode::audio::samples_of_frames;
use crate::encode::fps_rational;
use crate::error::RenderError;
use crate::storage;

/// What the orchestrator knows of the invocation it runs in.
#[derive(Clone, Debug, Default)]
pub struct Invocation {
    /// Lambda's deadline of this invocation (none outside Lambda).
    pub deadline: Option<SystemTime>,
    /// The function this runs as (`AWS_LAMBDA_FUNCTION_NAME`), which continuations are invoked
    /// on; when unknown, the renderer function (the orchestrator's own, as the operator
    /// deploys it).
    pub function_name: Option<String>,
    /// Since when Lambda bills this invocation: the invocation's arrival, earlier by the
    /// process's init for the first invocation of a cold process (a container image's init is
    /// billed with its first invocation). The orchestrator's own cost counts from here; none: from
    /// when the orchestrator starts.
    pub billed_since: Option<std::time::Instant>,
}

/// Runs a render through the render function named in the request: from its start, or as
/// continuation `continuation` of it.
pub async fn launch(
    request: LaunchRequest,
    continuation: Option<u32>,
    invocation: Invocation,
) -> Result<LaunchResponse, RenderError> {
    let invoker = LambdaInvoker::from_env(&request.renderer.function_name).await;
    launch_with(request, continuation, invocation, Arc::new(invoker)).await
}

/// Runs a render with remote chunks executed by `invoker`.
pub async fn launch_with<I: ChunkInvoker>(
    request: LaunchRequest,
    continuation: Option<u32>,
    invocation: Invocation,
    invoker: Arc<I>,
) -> Result<LaunchResponse, RenderError> {
    let timeout = Duration::from_secs(u64::from(request.renderer.timeout_seconds));
    let budget = Budget::new(Instant::now(), SystemTime::now(), invocation.deadline, timeout);
    let billed_since = invocation.billed_since.unwrap_or_else(std::time::Instant::now);
    let id = RenderId::new(request.render_id.clone()).map_err(|e| RenderError::InvalidInput(e.to_string()))?;
    let s3 = storage::client().await;
    let bucket = request.bucket.clone();
    let progress_key = keys::progress(&id);
    let response = LaunchResponse {
        render_id: id.as_str().to_owned(),
        progress_key: progress_key.clone(),
        output_key: request.output.key.clone().unwrap_or_default(),
    };
    let shape = FunctionShape {
        region: request.renderer.region.clone(),
        architecture: request.renderer.architecture,
        memory_mb: request.renderer.memory_mb,
        disk_mb: request.renderer.disk_mb,
    };
    let orchestrator_shape = request.orchestrator.as_ref().map(|o| FunctionShape {
        region: request.renderer.region.clone(),
        architecture: o.architecture,
        memory_mb: o.memory_mb,
        disk_mb: o.disk_mb,
    });
    let (progress, inherited) = match continuation {
        None => {
            // Exactly one render per id: a repeated launch (a retried event, a restarted
            // operator) finds the progress document and leaves the running render alone. The
            // check is cheap and answers most repeats; two launches at the same moment both
            // pass it, and the conditional create of the document below lets only one of them
            // through.
            if storage::exists(&s3, &bucket, &progress_key).await? {
                tracing::info!(render = id.as_str(), "already launched; not starting it again");
                return Ok(response);
            }
            let progress = ProgressWriter::new(id.as_str(), shape, s3.clone(), &bucket, &progress_key, billed_since)
                .pricing_orchestrator_as(orchestrator_shape);
            if !progress.create().await? {
                tracing::info!(
                    render = id.as_str(),
                    "launched at the same moment by another invocation; leaving it to that one"
                );
                return Ok(response);
            }
            (progress, None)
        }
        // A continuation finds the progress document there, of course: it proves itself by the
        // state its predecessor left, which names it.
        Some(number) => match continuation::take_over(&s3, &bucket, &id, number).await {
            Ok(TakeOver::Mine(state)) => {
                let mut saved = state.progress.clone();
                saved.doc.continuations = u64::from(number);
                // The state read and the claim.
                saved.s3.read_requests += 1;
                saved.s3.write_requests += 1;
                let progress = ProgressWriter::resume(saved, shape, s3.clone(), &bucket, &progress_key, billed_since)
                    .pricing_orchestrator_as(orchestrator_shape);
                // At once: the operator sees the render go on within moments of the hand-over.
                progress.write().await?;
                tracing::info!(render = id.as_str(), continuation = number, "took the render over");
                (progress, Some(*state))
            }
            Ok(TakeOver::NotMine(why)) => {
                tracing::info!(render = id.as_str(), continuation = number, "{why}: nothing to do");
                return Ok(response);
            }
            Err(e) => {
                give_up(&s3, &bucket, &id, &e).await;
                return Err(e);
            }
        },
    };
    tracing::info!(render = id.as_str(), hands_over_in = ?budget.remaining(), "rendering");
    let heartbeat = progress.heartbeat();
    let polls = progress.clone();
    let watch = CancelWatch::start(s3.clone(), bucket.clone(), keys::cancel(&id), move || {
        polls.lock().s3.read_requests += 1;
    });

    let run = Run { request: &request, id: &id, s3: &s3, progress: &progress, watch: &watch, budget };
    let result = render(&run, invoker, inherited).await;

    // Stop the periodic writer before the final document so nothing older lands after it.
    heartbeat.stop().await;
    drop(watch);
    let result = match result {
        Ok(Ended::Finished) => Ok(()),
        Ok(Ended::HandedOver(state)) => {
            let function = invocation
                .function_name
                .as_deref()
                .or(request.orchestrator.as_ref().map(|o| o.function_name.as_str()))
                .unwrap_or(&request.renderer.function_name);
            match hand_over(&request, &id, &s3, &progress, *state, function).await {
                Ok(()) => return Ok(resolved_response(&progress, response)),
                Err(e) => Err(e),
            }
        }
        Err(e) => Err(e),
    };
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
        if request.encoding.image_sequence.is_some()
            && let Err(e) = sequence::delete_frames(&s3, &bucket, &id).await
        {
            tracing::warn!("could not delete the frames of a stopped image sequence: {e}");
        }
    }
    if continuation.is_some() {
        progress.lock().s3.write_requests += 1;
        if let Err(e) = continuation::remove(&s3, &bucket, &id).await {
            tracing::warn!("could not remove the render's continuation state: {e}");
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
    result.map(|()| resolved_response(&progress, response))
}

/// The response with the output key the render resolved, once it has.
fn resolved_response(progress: &ProgressWriter, response: LaunchResponse) -> LaunchResponse {
    match progress.lock().doc.resolved.as_ref() {
        Some(resolved) => LaunchResponse { output_key: resolved.output_key.clone(), ..response },
        None => response,
    }
}

/// Hands the render over to continuation `state.next`: the last document of this invocation,
/// then the state (with this invocation's time in its cost), then the event. The
/// continuation's first document follows this invocation's last, which is written before the
/// continuation can exist. The render's remote chunks run on meanwhile.
async fn hand_over(
    request: &LaunchRequest,
    id: &RenderId,
    s3: &aws_sdk_s3::Client,
    progress: &ProgressWriter,
    mut state: ContinuationState,
    function: &str,
) -> Result<(), RenderError> {
    progress.write().await?;
    // The state's own write, counted before it is saved.
    progress.lock().s3.write_requests += 1;
    state.progress = progress.saved();
    continuation::save(s3, &request.bucket, id, &state).await?;
    let continuer = Continuer::from_env(function).await;
    if let Err(e) = continuer.invoke(request, state.next).await {
        // Nobody will go on with the render. Without its state, an event that got through
        // after all finds nothing to take over.
        if let Err(e) = continuation::remove(s3, &request.bucket, id).await {
            tracing::warn!("could not remove the state of a render that could not be handed over: {e}");
        }
        return Err(e.into());
    }
    tracing::info!(
        render = id.as_str(),
        continuation = state.next,
        pending = state.standing.pending.len(),
        in_flight = state.standing.in_flight.len(),
        done = state.done.len(),
        "handed the render over"
    );
    Ok(())
}

/// Ends a render that a continuation cannot take over (its state unreadable, the store
/// failing): its progress document, as last written, says so, one sequence on. Nobody else
/// would: its predecessor has returned.
async fn give_up(s3: &aws_sdk_s3::Client, bucket: &str, id: &RenderId, error: &RenderError) {
    let key = keys::progress(id);
    let doc = match storage::get(s3, bucket, &key).await {
        Ok(Some(bytes)) => serde_json::from_slice::<ProgressDocument>(&bytes).ok(),
        _ => None,
    };
    let Some(mut doc) = doc.filter(|d| !d.stage.is_terminal()) else {
        tracing::warn!(render = id.as_str(), "could not go on with the render, and could not say so: {error}");
        return;
    };
    doc.stage = Stage::Failed;
    doc.fatal = Some(FatalError { kind: error.kind(), message: error.to_string() });
    doc.sequence += 1;
    doc.updated_at_ms = now_ms().max(doc.updated_at_ms);
    let written = match serde_json::to_vec(&doc) {
        Ok(body) => storage::put(s3, bucket, &key, body, "application/json").await,
        Err(e) => Err(RenderError::Encoding(e.to_string())),
    };
    if let Err(e) = written {
        tracing::warn!(render = id.as_str(), "could not record that the render failed ({error}): {e}");
    }
    if let Err(e) = output::delete_chunks(s3, bucket, id).await {
        tracing::warn!("could not delete the chunks of a failed render: {e}");
    }
}

/// One invocation's share of a render: what it runs with.
struct Run<'a> {
    request: &'a LaunchRequest,
    id: &'a RenderId,
    s3: &'a aws_sdk_s3::Client,
    progress: &'a ProgressWriter,
    watch: &'a CancelWatch,
    budget: Budget,
}

/// How an invocation's share of a render ended, short of a failure.
enum Ended {
    /// The render is done.
    Finished,
    /// The render goes on in the next invocation, from this state.
    HandedOver(Box<ContinuationState>),
}

/// Everything between the first and the final progress document (or this invocation's share
/// of it: from `inherited`, the state an earlier one handed over, to a hand-over of its own).
async fn render<I: ChunkInvoker>(
    run: &Run<'_>,
    invoker: Arc<I>,
    inherited: Option<ContinuationState>,
) -> Result<Ended, RenderError> {
    let Run { request, id, s3, progress, watch, budget } = *run;
    if let Some(options) = &request.still {
        // One frame: it never outlasts an invocation.
        let output = self::still::render(request, options, s3, progress, watch).await?;
        progress.lock().doc.output = Some(output);
        return Ok(Ended::Finished);
    }
    let signal = watch.signal();
    let bucket = request.bucket.as_str();
    // The site's folder keys its cost profiles: `optimization/<namespace>/<siteName>/`.
    let site = request.site_folder().map_err(|e| RenderError::InvalidInput(e.to_string()))?;

    // 1–2. Resolve the composition and plan the chunks, once for the whole render: a
    // continuation goes on with the plan it inherits.
    // The cost profile as read for planning; a continuation reads it again at the end.
    let mut profile_at_plan: Option<Option<CostProfile>> = None;
    let (planned, standing, earlier, idle_before, next) = match inherited {
        // Its own progress was restored before this invocation began rendering.
        Some(ContinuationState { next, idle_handovers, planned, done, standing, progress: _ }) => {
            (planned, standing, done, idle_handovers, next + 1)
        }
        None => {
            let (planned, profile) = plan(request, id, s3, progress, &signal, &site).await?;
            profile_at_plan = Some(profile);
            let chunks = planned.spans.len() as u32;
            (planned, Standing::fresh(chunks), Vec::new(), 0, 1)
        }
    };
    let composition = &planned.composition;
    // From here on the request is the render as resolved: with the encoding the composition's
    // defaults completed.
    let resolved_request = LaunchRequest { encoding: planned.encoding.clone(), ..request.clone() };
    let request = &resolved_request;
    let output_key = planned.output_key.clone();
    let selection = select_frames(request, composition)?;
    let frames_total = selection.count();
    let last = selection.frame(frames_total - 1);
    let sequence = sequence::target(request, id, last)?;
    let profile_key =
        keys::optimization(&site, &composition.id).map_err(|e| RenderError::InvalidInput(e.to_string()))?;
    {
        let mut state = progress.lock();
        for chunk in &earlier {
            state.chunks.done(chunk.index, chunk.answer.frames);
        }
        state.count_frames();
    }

    // 3. Render every chunk, or as many as this invocation has time for.
    let extension = request.encoding.codec.chunk_extension();
    let chunk_request = |index: u32, frames: FrameSpan, attempt: u32| RenderRequest {
        protocol_version: PROTOCOL_VERSION,
        render_id: id.as_str().to_owned(),
        bucket: request.bucket.clone(),
        site: request.site.clone(),
        composition: composition.clone(),
        input_props: request.input_props.clone(),
        resolved_props: planned.resolved_props.clone(),
        encoding: request.encoding.clone(),
        chunk: index,
        frames,
        attempt,
        timeout_ms: request.timeout_ms,
        chunk_key: keys::chunk(id, index, extension),
        timings_key: keys::timings(id, index),
        progress_key: Some(keys::chunk_progress(id, index)),
        page: request.page.clone(),
        sequence: sequence.clone(),
        output: request.output.clone(),
        concurrency_per_lambda: request.renderer.concurrency_per_lambda,
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
    let polls = progress.clone();
    let follow = Arc::new(S3Follower::new(s3.clone(), move || polls.lock().s3.read_requests += 1));
    let lanes = Lanes { remote: invoker, remote_cap: allotment.cap(), local: Some(local.clone()), follow };
    let every_nth = request.encoding.every_nth_frame.unwrap_or(1);
    let mut finished_here: Vec<ChunkDone> = Vec::with_capacity(standing.pending.len() + standing.in_flight.len());
    let scheduled = scheduler::run_chunks(
        lanes,
        Plan { spans: &planned.spans, every_nth_frame: every_nth, standing, finished: &earlier },
        limits,
        chunk_request,
        progress,
        Stop { cancel: signal.clone(), hand_over_at: Some(budget.hand_over_at) },
        |chunk| {
            finished_here.push(chunk);
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
    // uploads nothing after the chunks are removed (or after the render is handed over).
    local.idle().await;
    let finished_count = finished_here.len();
    let mut done = earlier;
    done.extend(finished_here);
    match scheduled {
        Ok(Scheduled::Finished) => {}
        Ok(Scheduled::HandedOver(standing)) => {
            let running_remotely = standing.in_flight.len();
            let idle_handovers = continuation::idle_handovers(idle_before, finished_count, running_remotely)?;
            let state = ContinuationState { next, idle_handovers, planned, done, standing, progress: progress.saved() };
            return Ok(Ended::HandedOver(Box::new(state)));
        }
        Err(ScheduleError::Cancelled) => return Err(RenderError::Cancelled),
        Err(ScheduleError::ChunkFailed { kind, message, index, span, attempt }) => {
            return Err(RenderError::Chunk { kind, index, start: span.start, end: span.end, attempt, message });
        }
    }
    progress.lock().doc.timings.rendering_ms = now_ms().saturating_sub(planned.rendering_started_at_ms);
    // Every chunk saved its frames' artifacts; two chunks emitting one filename fail the render
    // before anything is joined, as Remotion fails on the second.
    let emitted = artifacts::merge(done.iter().map(|c| c.answer.artifacts.clone()), &composition.id)?;
    progress.lock().doc.artifacts = emitted;

    // The join and the upload happen in one invocation: in this one if it has time for them,
    // else in a fresh one.
    let output_seconds = (last - selection.start + 1) as f64 / composition.fps.max(1.0);
    let chunk_bytes: u64 = done.iter().map(|c| c.answer.size_bytes).sum();
    let finishing = continuation::finishing_estimate(chunk_bytes, output_seconds);
    let remaining = budget.remaining();
    if budget.hand_over_before_finishing(remaining, finishing) {
        tracing::info!(
            render = id.as_str(),
            ?finishing,
            ?remaining,
            "every chunk is done; a fresh invocation joins them"
        );
        let idle_handovers = continuation::idle_handovers(idle_before, finished_count, 0)?;
        let standing = Standing::default();
        let state = ContinuationState { next, idle_handovers, planned, done, standing, progress: progress.saved() };
        return Ok(Ended::HandedOver(Box::new(state)));
    }

    let output_info = match &sequence {
        // The frames are in their folder already: nothing to join.
        Some(target) => {
            let finishing = std::time::Instant::now();
            progress.stage(Stage::Uploading).await?;
            let info =
                unless_cancelled(&signal, sequence::finish(s3, request, id, target, selection, chunk_bytes)).await?;
            {
                let mut state = progress.lock();
                // The listing, the frames read back and the archive's parts.
                let archive = info.archive.as_ref().map_or(0, |a| a.size_bytes.div_ceil(16 * 1024 * 1024).max(1) + 1);
                state.s3.read_requests += frames_total.div_ceil(1000) + if archive > 0 { frames_total } else { 0 };
                // Each chunk was counted one write for its chunk file; it wrote a PUT per frame.
                state.s3.write_requests += archive + frames_total.saturating_sub(done.len() as u64);
                state.doc.timings.uploading_ms = elapsed_ms(finishing);
            }
            info
        }
        None => {
            // 4. Join the chunks in frame order.
            let stitching = std::time::Instant::now();
            progress.stage(Stage::Stitching).await?;
            done.sort_by_key(|c| c.index);
            let chunk_keys: Vec<String> = done.iter().map(|c| c.answer.key.clone()).collect();
            let dir = tempfile::tempdir().map_err(|e| RenderError::io("creating a folder for the chunks", e))?;
            let files = unless_cancelled(&signal, output::download_chunks(s3, bucket, &chunk_keys, dir.path())).await?;
            progress.lock().s3.read_requests += chunk_keys.len() as u64;
            let separate = request.output.separate_audio_key.is_some();
            let (extension, content_type) = output::output_format(&request.encoding, separate)?;
            let out = dir.path().join(format!("out.{extension}"));
            // Audio-only outputs have no frames to count: their length is the frames' samples.
            let expected = match request.encoding.codec.is_audio_only() {
                true => {
                    output::Expected::Samples(samples_of_frames(selection.start, last, fps_rational(composition.fps)))
                }
                false => output::Expected::Frames(frames_total),
            };
            let separate_audio = request.output.separate_audio_key.as_ref().map(|_| dir.path().join("separate-audio"));
            let stitched =
                output::stitch(files.clone(), out.clone(), separate_audio.clone(), &request.encoding, expected);
            unless_cancelled(&signal, stitched).await?;
            for file in &files {
                let _ = std::fs::remove_file(file);
            }
            progress.lock().doc.timings.stitching_ms = elapsed_ms(stitching);

            // 5. Upload the output.
            let uploading = std::time::Instant::now();
            progress.stage(Stage::Uploading).await?;
            let destination = output::Destination::of(&request.output, bucket, s3)?;
            let options = destination.upload_options(&request.output, content_type, id)?;
            let size_bytes = unless_cancelled(&signal, destination.upload(&output_key, &out, &options)).await?;
            progress.lock().s3.write_requests += size_bytes.div_ceil(16 * 1024 * 1024).max(1) + 1;
            let separate_audio = match (&request.output.separate_audio_key, &separate_audio) {
                (Some(key), Some(file)) => {
                    let uploaded = output::upload_separate_audio(&destination, request, id, key, file);
                    let object = unless_cancelled(&signal, uploaded).await?;
                    progress.lock().s3.write_requests += object.size_bytes.div_ceil(16 * 1024 * 1024).max(1) + 1;
                    Some(object)
                }
                _ => None,
            };
            progress.lock().doc.timings.uploading_ms = elapsed_ms(uploading);
            OutputInfo {
                bucket: destination.bucket,
                key: output_key,
                size_bytes,
                content_type: options.content_type,
                separate_audio,
                ..Default::default()
            }
        }
    };

    // 6. Learn from this render, record the output, tidy up.
    let previous_profile = match profile_at_plan {
        Some(profile) => profile,
        None => profile::read(s3, bucket, &profile_key).await,
    };
    // A render at a forced size, rate or length measures another composition than the profile's.
    if request.overrides.is_empty() {
        let measured =
            profile::measure(&composition.id, composition.duration_in_frames, &done, u64::from(every_nth), now_ms());
        if let Err(e) = profile::update(s3, bucket, &profile_key, previous_profile, measured).await {
            tracing::warn!("could not update the cost profile: {e}");
        }
    }
    if let Err(e) = output::delete_chunks(s3, bucket, id).await {
        tracing::warn!("could not delete the chunks: {e}");
    }
    let mut state = progress.lock();
    state.doc.most_expensive_frame_ranges = profile::most_expensive(&done, MAX_EXPENSIVE_RANGES);
    state.doc.output = Some(output_info);
    Ok(Ended::Finished)
}

pub(super) fn elapsed_ms(since: std::time::Instant) -> u64 {
    remotion_protocol::pricing::billed_milliseconds_from_duration(since.elapsed())
}
