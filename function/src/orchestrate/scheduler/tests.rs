//! The scheduler against fake invokers for both lanes, in paused time.

use std::sync::atomic::Ordering;

use remotion_protocol::lambda::Architecture;
use remotion_protocol::payload::SerializedProps;
use remotion_protocol::pricing::FunctionShape;

use super::*;

mod fake_invoker;

use self::fake_invoker::{Busy, FakeInvoker, Script};

fn progress() -> ProgressWriter {
    // A client that is never used for a request: the scheduler only updates the document.
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .build();
    let shape = FunctionShape {
        region: "us-east-1".into(),
        architecture: Architecture::X86_64,
        memory_mb: 2048,
        disk_mb: 2048,
    };
    ProgressWriter::new(
        "r",
        shape,
        aws_sdk_s3::Client::from_conf(config),
        "b",
        "renders/r/progress.json",
        std::time::Instant::now(),
    )
}

fn request(index: u32, frames: FrameSpan, attempt: u32) -> RenderRequest {
    serde_json::from_value(serde_json::json!({
        "protocolVersion": 1, "renderId": "r", "bucket": "b",
        "site": {"serveUrl": "http://x/index.html"},
        "composition": {"id": "C", "width": 64, "height": 64, "fps": 30.0, "durationInFrames": 100},
        "inputProps": SerializedProps::empty(), "resolvedProps": SerializedProps::empty(),
        "encoding": {"codec": "h264"}, "chunk": index, "frames": frames, "attempt": attempt,
        "timeoutMs": 1000, "chunkKey": format!("renders/r/chunks/{index:06}.ts"),
        "timingsKey": format!("renders/r/timings/{index:06}.json"),
    }))
    .unwrap()
}

fn spans(chunks: u64, frames_each: u64) -> Vec<FrameSpan> {
    (0..chunks).map(|i| FrameSpan { start: i * frames_each, end: (i + 1) * frames_each - 1 }).collect()
}

/// A remote cap and the limits of a run.
struct Setup {
    cap: u32,
    limits: Limits,
}

/// Runs the chunks on the remote lane only.
async fn run(
    invoker: Arc<FakeInvoker>,
    spans: &[FrameSpan],
    setup: Setup,
    cancel: watch::Receiver<bool>,
) -> (Result<(), ScheduleError>, Vec<u32>, ProgressWriter) {
    let (_keep, cap) = watch::channel(setup.cap);
    let lanes = Lanes {
        remote: invoker.clone(),
        remote_cap: cap,
        local: None::<Arc<FakeInvoker>>,
        follow: FakeInvoker::new(&[]),
    };
    let (result, done, progress) = run_lanes(lanes, spans, setup.limits, cancel).await;
    let result = result.map(|scheduled| assert_eq!(scheduled, Scheduled::Finished));
    (result, done.iter().map(|c| c.0).collect(), progress)
}

/// Runs every chunk on `lanes`, with no hand-over; the chunks done with their lanes, in
/// completion order.
async fn run_lanes(
    lanes: FakeLanes,
    spans: &[FrameSpan],
    limits: Limits,
    cancel: watch::Receiver<bool>,
) -> (Result<Scheduled, ScheduleError>, Vec<(u32, Lane)>, ProgressWriter) {
    let standing = Standing::fresh(spans.len() as u32);
    let stop = Stop { cancel, hand_over_at: None };
    let (result, done, progress) = run_from(lanes, spans, limits, standing, stop).await;
    (result, done.iter().map(|c| (c.index, c.lane)).collect(), progress)
}

/// Runs the chunks of `standing` on `lanes` until `stop`; the chunks done, in completion
/// order.
async fn run_from(
    lanes: FakeLanes,
    spans: &[FrameSpan],
    limits: Limits,
    standing: Standing,
    stop: Stop,
) -> (Result<Scheduled, ScheduleError>, Vec<ChunkDone>, ProgressWriter) {
    let progress = progress();
    let mut done = Vec::new();
    let plan = Plan { spans, every_nth_frame: 1, standing, finished: &[] };
    let result = run_chunks(lanes, plan, limits, request, &progress, stop, |c| {
        assert_eq!(c.answer.key, format!("renders/r/chunks/{:06}.ts", c.index), "one key per chunk, either lane");
        done.push(c)
    })
    .await;
    (result, done, progress)
}

fn limits(max_concurrency: u32, max_retries: u32) -> Setup {
    Setup { cap: max_concurrency, limits: Limits { max_retries, function_timeout: Duration::from_secs(60) } }
}

/// Lanes of fakes: remote, local and follower.
type FakeLanes = Lanes<FakeInvoker, FakeInvoker, FakeInvoker>;

/// Both lanes, sharing the record of running chunks; every invocation takes 20 ms.
fn two_lanes(
    remote_script: &[((u32, u32), Script)],
    local_script: &[((u32, u32), Script)],
    cap: watch::Receiver<u32>,
) -> (FakeLanes, Arc<FakeInvoker>, Arc<FakeInvoker>, Arc<Busy>) {
    two_lanes_timed(remote_script, local_script, cap, Duration::from_millis(20))
}

/// Both lanes, local chunks taking `local_delay`.
fn two_lanes_timed(
    remote_script: &[((u32, u32), Script)],
    local_script: &[((u32, u32), Script)],
    cap: watch::Receiver<u32>,
    local_delay: Duration,
) -> (FakeLanes, Arc<FakeInvoker>, Arc<FakeInvoker>, Arc<Busy>) {
    let busy = Arc::new(Busy::default());
    let remote = FakeInvoker::sharing(remote_script, busy.clone(), Duration::from_millis(20));
    let local = FakeInvoker::sharing(local_script, busy.clone(), local_delay);
    let follow = FakeInvoker::sharing(&[], busy.clone(), Duration::from_millis(20));
    let lanes = Lanes { remote: remote.clone(), remote_cap: cap, local: Some(local.clone()), follow };
    (lanes, remote, local, busy)
}

/// Every chunk of `0..chunks` finished exactly once.
fn each_once(done: &[(u32, Lane)], chunks: u32) {
    let mut indices: Vec<u32> = done.iter().map(|d| d.0).collect();
    indices.sort();
    assert_eq!(indices, (0..chunks).collect::<Vec<_>>(), "each chunk completed exactly once");
}

#[tokio::test(start_paused = true)]
async fn every_chunk_runs_once_within_the_concurrency_bound() {
    let invoker = FakeInvoker::new(&[]);
    let (_keep, cancel) = watch::channel(false);
    let (result, mut done, progress) = run(invoker.clone(), &spans(50, 4), limits(7, 1), cancel).await;
    result.unwrap();
    done.sort();
    assert_eq!(done, (0..50).collect::<Vec<_>>());
    assert!(invoker.max_in_flight.load(Ordering::SeqCst) <= 7);
    assert_eq!(invoker.max_in_flight.load(Ordering::SeqCst), 7);
    let state = progress.lock();
    assert_eq!((state.doc.chunks_done, state.doc.frames_rendered, state.doc.retries), (50, 200, 0));
    assert_eq!(state.renderers.invocations, 50);
}

#[tokio::test(start_paused = true)]
async fn throttling_is_waited_out_and_never_fails_the_render() {
    let script: Vec<_> = (1..=6).map(|n| ((2, n), Script::Throttle)).collect();
    let invoker = FakeInvoker::new(&script);
    let (_keep, cancel) = watch::channel(false);
    let (result, done, progress) = run(invoker.clone(), &spans(4, 5), limits(4, 0), cancel).await;
    result.unwrap();
    assert_eq!(done.len(), 4);
    assert_eq!(invoker.calls.lock().unwrap()[&2], 7);
    let state = progress.lock();
    assert_eq!(state.doc.error_count, 0, "throttles are not errors");
    assert_eq!(state.renderers.invocations, 4, "throttled invocations did not run and are not billed");
}

#[tokio::test(start_paused = true)]
async fn retriable_failures_are_retried_up_to_max_retries() {
    let invoker = FakeInvoker::new(&[((1, 1), Script::Fail(ErrorKind::BrowserCrashed))]);
    let (_keep, cancel) = watch::channel(false);
    let (result, done, progress) = run(invoker.clone(), &spans(3, 5), limits(2, 1), cancel).await;
    result.unwrap();
    assert_eq!(done.len(), 3);
    {
        let state = progress.lock();
        assert_eq!((state.doc.retries, state.doc.error_count), (1, 1));
        assert!(state.doc.errors[0].will_retry);
        assert_eq!(state.doc.errors[0].chunk, Some(1));
    }

    let twice = [((0, 1), Script::Fail(ErrorKind::Network)), ((0, 2), Script::Fail(ErrorKind::Network))];
    let (_keep, cancel) = watch::channel(false);
    let (result, _, _) = run(FakeInvoker::new(&twice), &spans(3, 5), limits(2, 1), cancel).await;
    match result {
        Err(ScheduleError::ChunkFailed { index: 0, attempt: 2, kind: ErrorKind::Network, .. }) => {}
        other => panic!("expected chunk 0 to fail on attempt 2, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn an_unanswered_invocation_is_invoked_again_without_using_up_a_retry() {
    // Chunk 1 goes unanswered as often as the budget allows, then renders: still attempt 1.
    let script: Vec<_> = (1..=UNANSWERED_RETRIES).map(|n| ((1, n), Script::Unanswered)).collect();
    let invoker = FakeInvoker::new(&script);
    let (_keep, cancel) = watch::channel(false);
    let (result, done, progress) = run(invoker.clone(), &spans(3, 5), limits(2, 0), cancel).await;
    result.unwrap();
    assert_eq!(done.len(), 3);
    assert_eq!(invoker.calls.lock().unwrap()[&1], UNANSWERED_RETRIES + 1);
    {
        let state = progress.lock();
        assert_eq!(state.doc.retries, 0, "no retry of the chunk was used");
        assert_eq!(state.doc.error_count, u64::from(UNANSWERED_RETRIES), "each shows, as retried");
        assert!(state.doc.errors.iter().all(|e| e.will_retry && e.attempt == Some(1)));
        assert_eq!(state.renderers.invocations, 3, "Lambda's own refusals ran nothing and are not billed");
    }

    // Once more in a row, and the attempt has failed (no retries left: the render fails).
    let script: Vec<_> = (1..=UNANSWERED_RETRIES + 1).map(|n| ((1, n), Script::Unanswered)).collect();
    let (_keep, cancel) = watch::channel(false);
    let (result, _, _) = run(FakeInvoker::new(&script), &spans(3, 5), limits(2, 0), cancel).await;
    match result {
        Err(ScheduleError::ChunkFailed { index: 1, attempt: 1, kind: ErrorKind::Invocation, message, .. }) => {
            assert!(message.contains("no answer 6 times in a row"), "{message}");
        }
        other => panic!("expected chunk 1 to fail on attempt 1, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn an_error_of_the_input_is_not_retried() {
    let invoker = FakeInvoker::new(&[((2, 1), Script::Fail(ErrorKind::PageError))]);
    let (_keep, cancel) = watch::channel(false);
    let (result, _, progress) = run(invoker.clone(), &spans(6, 5), limits(1, 3), cancel).await;
    assert!(matches!(result, Err(ScheduleError::ChunkFailed { index: 2, attempt: 1, .. })), "{result:?}");
    assert_eq!(invoker.calls.lock().unwrap().get(&3), None, "no chunk started after the failure");
    assert!(!progress.lock().doc.errors[0].will_retry);
}

#[tokio::test(start_paused = true)]
async fn a_hung_chunk_is_cut_off_at_its_deadline_and_retried() {
    let invoker = FakeInvoker::new(&[((0, 1), Script::Hang)]);
    let (_keep, cancel) = watch::channel(false);
    let limits = Setup { cap: 2, limits: Limits { max_retries: 1, function_timeout: Duration::from_secs(30) } };
    let (result, done, progress) = run(invoker.clone(), &spans(2, 5), limits, cancel).await;
    result.unwrap();
    assert_eq!(done.len(), 2);
    let state = progress.lock();
    assert_eq!(state.doc.retries, 1);
    assert!(state.doc.errors[0].message.contains("deadline"), "{:?}", state.doc.errors);
    // The cut-off invocation is billed for the function's whole timeout.
    assert!(state.renderers.billed_milliseconds >= 30_000);
}

#[tokio::test(start_paused = true)]
async fn cancellation_stops_the_chunks() {
    let script: Vec<_> = (0..10).map(|i| ((i, 1), Script::Hang)).collect();
    let invoker = FakeInvoker::new(&script);
    let (cancel_tx, cancel) = watch::channel(false);
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(3)).await;
        cancel_tx.send(true).unwrap();
    });
    let (result, done, _) = run(invoker, &spans(10, 5), limits(4, 1), cancel).await;
    assert!(matches!(result, Err(ScheduleError::Cancelled)));
    assert!(done.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_renderer_that_saw_the_cancel_first_cancels_the_render() {
    // The renderer polls the cancel object too and may notice it before the launch does.
    let invoker = FakeInvoker::new(&[((1, 1), Script::Fail(ErrorKind::Cancelled))]);
    let (_keep, cancel) = watch::channel(false);
    let (result, _, progress) = run(invoker, &spans(3, 5), limits(3, 2), cancel).await;
    assert!(matches!(result, Err(ScheduleError::Cancelled)), "{result:?}");
    assert_eq!(progress.lock().doc.error_count, 0, "a cancel is not a chunk error");
}

#[tokio::test(start_paused = true)]
async fn with_no_remote_slots_the_orchestrator_renders_every_chunk_itself() {
    let (_keep, cap) = watch::channel(0);
    let (lanes, remote, local, busy) = two_lanes(&[], &[], cap);
    let (_keep, cancel) = watch::channel(false);
    let (result, done, progress) = run_lanes(lanes, &spans(5, 4), limits(0, 1).limits, cancel).await;
    assert_eq!(result.unwrap(), Scheduled::Finished);
    each_once(&done, 5);
    assert!(done.iter().all(|d| d.1 == Lane::Local), "{done:?}");
    assert_eq!(remote.calls(), 0, "no remote invocation at all");
    assert_eq!(local.max_in_flight.load(Ordering::SeqCst), 1, "one local chunk at a time");
    assert!(busy.overlaps.lock().unwrap().is_empty());
    let state = progress.lock();
    assert_eq!((state.doc.chunks_done, state.doc.chunks_rendered_locally, state.doc.frames_rendered), (5, 5, 20));
    assert_eq!(state.renderers.invocations, 0, "local chunks are the orchestrator's time, not invocations");
    assert_eq!(state.renderers.billed_milliseconds, 0);
}

#[tokio::test(start_paused = true)]
async fn a_throttled_remote_lane_leaves_its_chunks_to_the_local_lane_without_doubling_any() {
    // Chunk 0 is throttled on the remote lane; the local lane, done with chunk 1 at the same
    // moment, takes it at once instead of leaving it to wait out its backoff.
    let script: Vec<_> = (1..=10).map(|n| ((0, n), Script::Throttle)).collect();
    let (_keep, cap) = watch::channel(1);
    let (lanes, remote, local, _busy) = two_lanes(&script, &[], cap);
    let (_keep, cancel) = watch::channel(false);
    let t = Instant::now();
    let (result, done, _) = run_lanes(lanes, &spans(2, 5), limits(1, 0).limits, cancel).await;
    assert_eq!(result.unwrap(), Scheduled::Finished);
    assert_eq!(done, vec![(1, Lane::Local), (0, Lane::Local)]);
    assert_eq!(t.elapsed(), Duration::from_millis(40), "no backoff waited");
    assert_eq!((remote.calls(), local.calls()), (1, 2));

    // Every chunk is throttled three times on the remote lane before it may run there (7 s
    // of backoff); a local chunk takes 3 s, so both lanes finish some.
    let script: Vec<_> = (0..8).flat_map(|i| (1..=3).map(move |n| ((i, n), Script::Throttle))).collect();
    let (_keep, cap) = watch::channel(3);
    let (lanes, remote, local, busy) = two_lanes_timed(&script, &[], cap, Duration::from_secs(3));
    let (_keep, cancel) = watch::channel(false);
    let (result, done, progress) = run_lanes(lanes, &spans(8, 5), limits(3, 0).limits, cancel).await;
    assert_eq!(result.unwrap(), Scheduled::Finished);
    each_once(&done, 8);
    assert!(busy.overlaps.lock().unwrap().is_empty(), "a chunk ran on both lanes at once");
    let (remote_done, local_done) = (remote.rendered.lock().unwrap().clone(), local.rendered.lock().unwrap().clone());
    assert!(local_done.len() >= 2, "the local lane took chunks while the remote one waited: {local_done:?}");
    assert!(!remote_done.is_empty(), "the remote lane finished some once its throttling passed");
    assert_eq!(remote_done.len() + local_done.len(), 8, "remote {remote_done:?}, local {local_done:?}");
    assert!(remote_done.iter().all(|i| !local_done.contains(i)), "remote {remote_done:?}, local {local_done:?}");
    assert!(remote.max_in_flight.load(Ordering::SeqCst) <= 3);
    let state = progress.lock();
    assert_eq!(state.doc.error_count, 0, "throttles are not errors");
    assert_eq!(state.doc.chunks_rendered_locally, local_done.len() as u64);
    assert_eq!(state.renderers.invocations, remote_done.len() as u64, "only remote chunks that ran are billed");
    assert_eq!(state.doc.chunks_done, 8);
}

#[tokio::test(start_paused = true)]
async fn the_remote_cap_holds_with_the_local_lane_beside_it() {
    let (_keep, cap) = watch::channel(3);
    let (lanes, remote, local, busy) = two_lanes(&[], &[], cap);
    let (_keep, cancel) = watch::channel(false);
    let (result, done, progress) = run_lanes(lanes, &spans(30, 4), limits(3, 0).limits, cancel).await;
    assert_eq!(result.unwrap(), Scheduled::Finished);
    each_once(&done, 30);
    assert_eq!(remote.max_in_flight.load(Ordering::SeqCst), 3, "the cap is reached and never passed");
    assert_eq!(local.max_in_flight.load(Ordering::SeqCst), 1);
    let local_done = local.rendered.lock().unwrap().len();
    // Equally fast lanes: the local one renders about a quarter of the chunks.
    assert!((5..=10).contains(&local_done), "{local_done} chunks rendered locally");
    assert!(busy.overlaps.lock().unwrap().is_empty());
    let state = progress.lock();
    assert_eq!((state.doc.chunks_done, state.doc.chunks_rendered_locally), (30, local_done as u64));
    assert_eq!(state.renderers.invocations, 30 - local_done as u64);
}

#[tokio::test(start_paused = true)]
async fn a_local_failure_is_retried_like_a_remote_one() {
    let (_keep, cap) = watch::channel(0);
    let (lanes, _remote, local, _busy) = two_lanes(&[], &[((1, 1), Script::Fail(ErrorKind::BrowserCrashed))], cap);
    let (_keep, cancel) = watch::channel(false);
    let (result, done, progress) = run_lanes(lanes, &spans(3, 5), limits(0, 1).limits, cancel).await;
    assert_eq!(result.unwrap(), Scheduled::Finished);
    each_once(&done, 3);
    assert_eq!(local.calls.lock().unwrap()[&1], 2);
    {
        let state = progress.lock();
        assert_eq!((state.doc.retries, state.doc.error_count, state.doc.chunks_rendered_locally), (1, 1, 3));
        assert!(state.doc.errors[0].will_retry);
        assert_eq!((state.doc.errors[0].chunk, state.doc.errors[0].attempt), (Some(1), Some(1)));
        assert_eq!(state.renderers.invocations, 0, "a failed local chunk bills nothing of its own either");
    }

    // A failure retrying cannot fix ends the render, as on the remote lane.
    let (_keep, cap) = watch::channel(0);
    let (lanes, ..) = two_lanes(&[], &[((0, 1), Script::Fail(ErrorKind::PageError))], cap);
    let (_keep, cancel) = watch::channel(false);
    let (result, _, _) = run_lanes(lanes, &spans(3, 5), limits(0, 3).limits, cancel).await;
    assert!(matches!(result, Err(ScheduleError::ChunkFailed { index: 0, attempt: 1, .. })), "{result:?}");
}

#[tokio::test(start_paused = true)]
async fn a_hung_local_chunk_is_cut_off_and_retried_without_billing_the_function_timeout() {
    let (_keep, cap) = watch::channel(0);
    let (lanes, _remote, local, _busy) = two_lanes(&[], &[((0, 1), Script::Hang)], cap);
    let (_keep, cancel) = watch::channel(false);
    let limits = Limits { max_retries: 1, function_timeout: Duration::from_secs(30) };
    let (result, done, progress) = run_lanes(lanes, &spans(2, 5), limits, cancel).await;
    assert_eq!(result.unwrap(), Scheduled::Finished);
    each_once(&done, 2);
    assert_eq!(local.calls.lock().unwrap()[&0], 2);
    let state = progress.lock();
    assert!(state.doc.errors[0].message.contains("deadline"), "{:?}", state.doc.errors);
    assert_eq!(state.renderers.billed_milliseconds, 0);
}

#[tokio::test(start_paused = true)]
async fn the_remote_window_follows_the_cap_as_it_changes() {
    let (cap_tx, cap) = watch::channel(2);
    let (lanes, remote, local, busy) = two_lanes(&[], &[], cap);
    let t0 = Instant::now();
    // Chunks take 20 ms: each phase below sees many start. The changes fall between the
    // moments chunks end, so that no start coincides with one.
    tokio::spawn(async move {
        tokio::time::sleep_until(t0 + Duration::from_millis(205)).await;
        cap_tx.send(6).unwrap();
        tokio::time::sleep_until(t0 + Duration::from_millis(407)).await;
        cap_tx.send(1).unwrap();
        tokio::time::sleep_until(t0 + Duration::from_millis(611)).await;
        cap_tx.send(0).unwrap();
        // Held until the render ends: a gone sender would just freeze the cap.
        std::future::pending::<()>().await;
    });
    let (_keep, cancel) = watch::channel(false);
    let (result, done, progress) = run_lanes(lanes, &spans(200, 2), limits(2, 0).limits, cancel).await;
    assert_eq!(result.unwrap(), Scheduled::Finished);
    each_once(&done, 200);
    assert!(busy.overlaps.lock().unwrap().is_empty());
    let starts = remote.starts.lock().unwrap().clone();
    let phase = |from: u64, to: u64| -> Vec<u32> {
        let (from, to) = (t0 + Duration::from_millis(from), t0 + Duration::from_millis(to));
        starts.iter().filter(|(t, _)| *t >= from && *t < to).map(|s| s.1).collect()
    };
    let most = |v: &[u32]| v.iter().copied().max().unwrap_or(0);
    let first = phase(0, 205);
    assert_eq!(most(&first), 2, "cap 2: {first:?}");
    let grown = phase(205, 407);
    assert_eq!(most(&grown), 6, "cap 6: {grown:?}");
    // Running chunks are never stopped: after the cut, the window only starts fewer.
    let shrunk = phase(407, 611);
    assert!(!shrunk.is_empty() && shrunk.iter().all(|&n| n == 1), "cap 1: {shrunk:?}");
    assert!(phase(611, 3_600_000).is_empty(), "cap 0: nothing started remotely");
    let (remote_done, local_done) = (remote.rendered.lock().unwrap().len(), local.rendered.lock().unwrap().len());
    assert_eq!((remote.calls() + local.calls(), remote_done + local_done), (200, 200), "no chunk ran twice");
    assert_eq!(remote_done, starts.len());
    let state = progress.lock();
    assert_eq!(state.doc.error_count, 0, "no chunk was cut off by the changes");
    assert_eq!((state.doc.chunks_done, state.doc.chunks_rendered_locally), (200, local_done as u64));
}

/// Lanes whose invocations take `remote_delay` and `local_delay`, following with `follow`.
fn slow_lanes(
    cap: watch::Receiver<u32>,
    remote_delay: Duration,
    local_delay: Duration,
    follow: &[((u32, u32), Script)],
) -> (FakeLanes, [Arc<FakeInvoker>; 3], Arc<Busy>) {
    let busy = Arc::new(Busy::default());
    let remote = FakeInvoker::sharing(&[], busy.clone(), remote_delay);
    let local = FakeInvoker::sharing(&[], busy.clone(), local_delay);
    let follower = FakeInvoker::sharing(follow, busy.clone(), Duration::from_millis(20));
    let lanes = Lanes { remote: remote.clone(), remote_cap: cap, local: Some(local.clone()), follow: follower.clone() };
    (lanes, [remote, local, follower], busy)
}

#[tokio::test(start_paused = true)]
async fn at_the_hand_over_remote_chunks_are_left_running_and_the_local_one_goes_back_to_wait() {
    let (_keep, cap) = watch::channel(2);
    let (lanes, [remote, local, _], busy) = slow_lanes(cap, Duration::from_secs(3), Duration::from_secs(3), &[]);
    let (_keep, cancel) = watch::channel(false);
    let t = Instant::now();
    let stop = Stop { cancel, hand_over_at: Some(t + Duration::from_secs(2)) };
    let (result, done, progress) = run_from(lanes, &spans(10, 5), limits(2, 1).limits, Standing::fresh(10), stop).await;
    assert_eq!(t.elapsed(), Duration::from_secs(2), "handed over on time");
    let Ok(Scheduled::HandedOver(standing)) = result else { panic!("{result:?}") };
    assert!(done.is_empty());
    assert_eq!(standing.in_flight.iter().map(|f| (f.index, f.attempt)).collect::<Vec<_>>(), [(0, 1), (1, 1)]);
    for flight in &standing.in_flight {
        // The deadline it was given at its start (the function's timeout and a margin, as
        // nothing has finished yet), kept as a moment.
        assert_eq!(flight.deadline_at_ms - flight.started_at_ms, 65_000);
        assert!(flight.started_at_ms <= now_ms());
    }
    let pending: Vec<(u32, u32)> = standing.pending.iter().map(|q| (q.index, q.attempt)).collect();
    assert_eq!(pending, [(2, 1), (3, 1), (4, 1), (5, 1), (6, 1), (7, 1), (8, 1), (9, 1)], "the local chunk first");
    assert_eq!((remote.calls(), local.calls()), (2, 1));
    assert!(busy.chunks.lock().unwrap().is_empty(), "the local chunk stopped");
    let state = progress.lock();
    assert_eq!(state.renderers.invocations, 0, "running chunks are billed by whoever sees them end");
    assert_eq!((state.doc.error_count, state.doc.retries), (0, 0), "a hand-over fails nothing");
}

#[tokio::test(start_paused = true)]
async fn the_local_lane_starts_no_chunk_it_cannot_finish_before_the_hand_over() {
    let (_keep, cap) = watch::channel(0);
    let (lanes, [remote, local, _], _) = slow_lanes(cap, Duration::from_secs(3), Duration::from_secs(3), &[]);
    let (_keep, cancel) = watch::channel(false);
    let t = Instant::now();
    let stop = Stop { cancel, hand_over_at: Some(t + Duration::from_secs(10)) };
    let (result, done, _) = run_from(lanes, &spans(5, 5), limits(0, 1).limits, Standing::fresh(5), stop).await;
    // Three chunks of 3 s end at 9 s: a fourth would end after the hand-over at 10 s.
    let Ok(Scheduled::HandedOver(standing)) = result else { panic!("{result:?}") };
    assert_eq!(done.iter().map(|d| d.index).collect::<Vec<_>>(), [0, 1, 2]);
    assert_eq!((remote.calls(), local.calls()), (0, 3), "no chunk started only to be stopped");
    assert_eq!(
        standing,
        Standing { pending: vec![Queued { index: 3, attempt: 1 }, Queued { index: 4, attempt: 1 }], in_flight: vec![] }
    );
    assert_eq!(t.elapsed(), Duration::from_secs(10));
}

#[tokio::test(start_paused = true)]
async fn a_continuation_follows_chunks_in_flight_instead_of_invoking_them_again() {
    let now = now_ms();
    let standing = Standing {
        pending: vec![Queued { index: 3, attempt: 1 }, Queued { index: 4, attempt: 2 }],
        in_flight: vec![
            // Finishes while followed.
            InFlight { index: 0, attempt: 1, started_at_ms: now - 5_000, deadline_at_ms: now + 60_000 },
            // Its deadline passed during the hand-over: looked for once, then retried.
            InFlight { index: 1, attempt: 2, started_at_ms: now - 70_000, deadline_at_ms: now - 5_000 },
            // Never finishes: cut off at its deadline, then retried.
            InFlight { index: 2, attempt: 1, started_at_ms: now - 1_000, deadline_at_ms: now + 10_000 },
        ],
    };
    let follow = [((1, 1), Script::Hang), ((2, 1), Script::Hang)];
    let (_keep, cap) = watch::channel(2);
    let (lanes, [remote, local, follower], busy) =
        slow_lanes(cap, Duration::from_millis(20), Duration::from_millis(20), &follow);
    let (_keep, cancel) = watch::channel(false);
    let t = Instant::now();
    let stop = Stop { cancel, hand_over_at: None };
    let (result, done, progress) = run_from(lanes, &spans(5, 5), limits(2, 2).limits, standing, stop).await;
    assert_eq!(result.unwrap(), Scheduled::Finished);
    let mut finished: Vec<(u32, u32)> = done.iter().map(|d| (d.index, d.answer.attempt)).collect();
    finished.sort();
    assert_eq!(finished, [(0, 1), (1, 3), (2, 2), (3, 1), (4, 2)]);
    let mut followed = follower.followed.lock().unwrap().clone();
    followed.sort();
    assert_eq!(followed, [(0, 1, now - 5_000), (1, 2, now - 70_000), (2, 1, now - 1_000)]);
    let invoked = |i: &FakeInvoker, chunk| i.calls.lock().unwrap().get(&chunk).copied().unwrap_or(0);
    assert_eq!(invoked(&remote, 0) + invoked(&local, 0), 0, "the followed chunk that finished ran once");
    assert_eq!(invoked(&remote, 1) + invoked(&local, 1), 1);
    assert_eq!(invoked(&remote, 2) + invoked(&local, 2), 1);
    assert!(busy.overlaps.lock().unwrap().is_empty(), "no chunk was invoked while it was followed");
    // Chunk 0 counts from its start, in the earlier invocation.
    let zero = done.iter().find(|d| d.index == 0).unwrap();
    assert_eq!(zero.lane, Lane::Remote);
    assert!(zero.wall >= Duration::from_secs(5), "{:?}", zero.wall);
    assert!(t.elapsed() >= Duration::from_secs(10), "chunk 2 was waited for until its deadline");
    assert!(t.elapsed() < Duration::from_secs(20), "{:?}", t.elapsed());
    let state = progress.lock();
    assert_eq!((state.doc.chunks_done, state.doc.retries, state.doc.error_count), (5, 2, 2));
    let missed: Vec<_> = state.doc.errors.iter().map(|e| (e.chunk, e.attempt, e.will_retry)).collect();
    assert_eq!(missed, [(Some(1), Some(2), true), (Some(2), Some(1), true)], "chunk 1 given up first");
    assert!(state.doc.errors.iter().all(|e| e.message.contains("handed over")), "{:?}", state.doc.errors);
    // Chunk 0 from its start (5 s), the two that never came for the function's timeout.
    assert!(state.renderers.billed_milliseconds >= 5_000 + 2 * 60_000, "{:?}", state.renderers);
}

#[tokio::test(start_paused = true)]
async fn the_remote_lane_is_reported_as_it_runs_and_a_smaller_cap_once_obeyed() {
    let (cap_tx, cap) = watch::channel(4);
    let (lanes, remote, _local, _busy) = two_lanes(&[], &[], cap);
    let progress = progress();
    let t0 = Instant::now();
    // What the document says of the lane beside what really runs, sampled every millisecond.
    let sampler = {
        let (progress, remote) = (progress.clone(), remote.clone());
        tokio::spawn(async move {
            let mut samples = Vec::new();
            loop {
                tokio::time::sleep(Duration::from_millis(1)).await;
                let lane = progress.lock().doc.remote_lane;
                samples.push((Instant::now(), lane, remote.in_flight.load(Ordering::SeqCst)));
                if t0.elapsed() > Duration::from_secs(2) {
                    return samples;
                }
            }
        })
    };
    tokio::spawn(async move {
        tokio::time::sleep_until(t0 + Duration::from_millis(105)).await;
        cap_tx.send(1).unwrap();
        std::future::pending::<()>().await;
    });
    let (_keep, cancel) = watch::channel(false);
    let spans = spans(100, 2);
    let plan = Plan { spans: &spans, every_nth_frame: 1, standing: Standing::fresh(100), finished: &[] };
    let stop = Stop { cancel, hand_over_at: None };
    let result = run_chunks(lanes, plan, limits(4, 0).limits, request, &progress, stop, |_| {}).await;
    assert_eq!(result.unwrap(), Scheduled::Finished);
    let samples = sampler.await.unwrap();
    let lanes: Vec<_> = samples.iter().filter_map(|(at, lane, actual)| lane.map(|l| (*at, l, *actual))).collect();
    assert!(lanes.iter().any(|(_, l, _)| *l == RemoteLane { cap: 4, running: 4 }), "the full window is shown");
    // The report may lag an invocation's end, never its start.
    for (at, lane, actual) in &lanes {
        assert!(*actual <= lane.running, "{actual} running at {:?}, reported {lane:?}", *at - t0);
    }
    // From the first report within one chunk slot on, no more than one remote chunk ever runs.
    let complied = lanes.iter().find(|(_, l, _)| l.within(1)).map(|(at, ..)| *at).expect("the cap of 1 was obeyed");
    assert!(complied >= t0 + Duration::from_millis(105), "obeyed before it was given: {:?}", complied - t0);
    let later_starts = remote.starts.lock().unwrap().iter().filter(|(t, _)| *t >= complied).map(|s| s.1).max();
    assert!(later_starts.unwrap_or(0) <= 1, "{later_starts:?} in flight after the report");
    assert!(lanes.iter().filter(|(t, ..)| *t >= complied).all(|(_, _, actual)| *actual <= 1));
    assert_eq!(progress.lock().doc.remote_lane, Some(RemoteLane { cap: 1, running: 0 }), "the last report");
}
