//! The `launch` orchestrator under the Lambda emulator: one process orchestrates, others render
//! chunks, SeaweedFS holds the private site, the chunks and the output. The output must be the
//! whole composition, frame-exact, whatever happens to the chunks on the way.

use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use aws_sdk_s3::primitives::ByteStream;
use remotion_function::capture::browser::{Browser, BrowserOptions};
use remotion_function::capture::site::Site;
use remotion_function::storage::{self, Created};
use remotion_protocol::payload::{LaunchResponse, PROTOCOL_VERSION};
use remotion_protocol::progress::{ProgressDocument, Stage};
use remotion_tests::TestEnv;
use serde_json::{Value, json};

use crate::common::{self, bucket_and_functions, bundle, probe_video, psnr, video_frame};

const PROPS: &str = r##"{"titleText":"Launched","titleColor":"#33ccff"}"##;

struct Render<'a> {
    id: &'a str,
    bucket: &'a str,
    composition: &'a str,
    frames: (u64, u64),
    frames_per_lambda: u32,
    renderer: &'a str,
    max_concurrency: u32,
    timeout_seconds: u32,
    max_retries: u32,
}

impl Render<'_> {
    fn payload(&self) -> Value {
        json!({
            "type": "launch", "protocolVersion": PROTOCOL_VERSION, "renderId": self.id, "bucket": self.bucket,
            "site": {"serveUrl": "private", "s3": {"bucket": self.bucket, "prefix": "sites/fixture/"}},
            "siteNamespace": "tests", "siteName": "fixture", "composition": self.composition,
            "inputProps": {"type": "inline", "serialized": PROPS},
            "encoding": {"codec": "h264", "x264Preset": "veryfast"},
            "frameRange": {"start": self.frames.0, "end": self.frames.1},
            "chunking": {"framesPerLambda": self.frames_per_lambda},
            "maxRetries": self.max_retries, "timeoutMs": 30000,
            "output": {"key": format!("renders/{}/out.mp4", self.id)},
            "renderer": {"functionName": self.renderer, "region": "us-east-1", "memoryMb": 2048, "diskMb": 2048,
                         "architecture": "x86_64", "timeoutSeconds": self.timeout_seconds,
                         "maxConcurrency": self.max_concurrency},
        })
    }
}

async fn progress(s3: &aws_sdk_s3::Client, bucket: &str, id: &str) -> Option<ProgressDocument> {
    let object = s3.get_object().bucket(bucket).key(format!("renders/{id}/progress.json")).send().await.ok()?;
    let bytes = object.body.collect().await.ok()?.into_bytes();
    Some(serde_json::from_slice(&bytes).expect("a progress document"))
}

/// Polls the progress document until it is terminal, checking that it only moves forward;
/// returns every distinct document seen.
async fn follow(s3: aws_sdk_s3::Client, bucket: String, id: String) -> Vec<ProgressDocument> {
    let mut seen: Vec<ProgressDocument> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(600);
    while Instant::now() < deadline {
        if let Some(doc) = progress(&s3, &bucket, &id).await {
            let terminal = doc.stage.is_terminal();
            match seen.last() {
                Some(last) if last.sequence == doc.sequence => {}
                Some(last) => {
                    assert!(
                        doc.sequence > last.sequence,
                        "sequence went back: {} after {}",
                        doc.sequence,
                        last.sequence
                    );
                    assert!(
                        doc.percent() >= last.percent(),
                        "percent went back: {} after {}",
                        doc.percent(),
                        last.percent()
                    );
                    assert!(doc.chunks_done >= last.chunks_done && doc.accrued_usd >= last.accrued_usd);
                    seen.push(doc);
                }
                None => seen.push(doc),
            }
            if terminal {
                return seen;
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("the render did not finish within 10 minutes; last progress: {:?}", seen.last());
}

async fn download(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, path: &Path) -> u64 {
    let object = s3.get_object().bucket(bucket).key(key).send().await.expect("the output exists");
    assert_eq!(object.content_type(), Some("video/mp4"));
    let bytes = object.body.collect().await.unwrap().into_bytes();
    std::fs::write(path, &bytes).unwrap();
    bytes.len() as u64
}

async fn keys_under(s3: &aws_sdk_s3::Client, bucket: &str, prefix: &str) -> Vec<String> {
    let out = s3.list_objects_v2().bucket(bucket).prefix(prefix).send().await.unwrap();
    out.contents().iter().filter_map(|o| o.key().map(str::to_owned)).collect()
}

#[tokio::test]
async fn launch_renders_300_frames_in_chunks_into_a_frame_exact_video() {
    let env = TestEnv::get();
    let (orchestrator, renderer) = ("test-fn-20", "test-fn-21");
    let (s3, bucket, mut processes) = bucket_and_functions("launch-full", orchestrator, 1).await;
    let renderers = common::spawn_functions(renderer, 2);
    processes.extend(renderers);
    let render = Render {
        id: "full300",
        bucket: &bucket,
        composition: "Intro",
        frames: (0, 299),
        frames_per_lambda: 75,
        renderer,
        max_concurrency: 2,
        timeout_seconds: 300,
        max_retries: 2,
    };
    let lambda = env.lambda().client();
    let follower = tokio::spawn(follow(s3.clone(), bucket.clone(), render.id.into()));
    let started = Instant::now();
    let answer = remotion_tests::lambda::invoke(&lambda, orchestrator, &render.payload()).await.unwrap();
    let response: LaunchResponse = serde_json::from_value(answer.expect("the launch succeeds")).unwrap();
    let wall = started.elapsed();
    let seen = follower.await.unwrap();
    let done = seen.last().unwrap().clone();
    assert_eq!(done.stage, Stage::Done, "{done:?}");
    assert!(seen.len() >= 4, "progress was written along the way: {} documents", seen.len());
    assert!(seen.iter().any(|d| d.stage == Stage::Rendering));
    assert_eq!((done.frames_total, done.frames_rendered, done.chunks_total, done.chunks_done), (300, 300, 4, 4));
    // The orchestrator renders chunks too (one from the start: 2 remote slots for 4 chunks),
    // within its own invocation. A chunk retried after a crash changes who renders what (its
    // retry may take the slot the orchestrator would have filled): then local rendering is
    // not required here (`with_no_remote_slots_the_orchestrator_renders_every_chunk_itself`
    // covers it on its own).
    assert!(done.chunks_rendered_locally >= 1 || done.retries > 0, "{done:?}");
    assert_eq!(done.invocations, 1 + 4 - done.chunks_rendered_locally, "the orchestrator and the remote chunks");
    assert!(done.billed_milliseconds > 0 && done.accrued_usd > "0".parse().unwrap(), "{done:?}");
    assert_eq!(done.most_expensive_frame_ranges.len(), 4);
    let output = done.output.clone().expect("the output is recorded");
    assert_eq!(output.key, response.output_key);

    // The output: every frame once, in order.
    let dir = tempfile::tempdir().unwrap();
    let video = dir.path().join("out.mp4");
    assert_eq!(download(&s3, &bucket, &output.key, &video).await, output.size_bytes);
    let (codec, frames, width, height, duration) = probe_video(&video);
    assert_eq!((codec.as_str(), frames, width, height), ("h264", 300, 1920, 1080));
    assert!((duration - 10.0).abs() < 0.05, "300 frames at 30 fps last 10 s, got {duration}");
    // Intro plays nothing: audio was enabled, but no chunk heard anything, so no audio stream.
    let streams = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-show_entries", "stream=codec_type", "-of", "csv=p=0"])
        .arg(&video)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&streams.stdout).trim(), "video");
    let site = Site::open(bundle("build").to_str().unwrap()).await.unwrap();
    let browser = Browser::launch(&BrowserOptions::detect().unwrap()).await.unwrap();
    for frame in [74u64, 75, 299] {
        let score =
            psnr(&video_frame(&video, frame, dir.path()), &common::still(&browser, &site, "Intro", PROPS, frame).await);
        assert!(score > 35.0, "video frame {frame} is composition frame {frame}: {score:.1} dB");
    }
    // Past a chunk boundary, frame 95 is 95 and not a neighbour (nothing dropped or repeated).
    let at_95 = video_frame(&video, 95, dir.path());
    let scores: Vec<f64> = {
        let mut s = Vec::new();
        for frame in [94u64, 95, 96] {
            s.push(psnr(&at_95, &common::still(&browser, &site, "Intro", PROPS, frame).await));
        }
        s
    };
    browser.close().await;
    assert!(scores[1] > scores[0] + 3.0 && scores[1] > scores[2] + 3.0, "frame 95 not 94 or 96: {scores:?}");

    // Chunks are gone, the cost profile is learnt.
    assert!(keys_under(&s3, &bucket, "renders/full300/chunks/").await.is_empty());
    assert_eq!(keys_under(&s3, &bucket, "optimization/tests/fixture/Intro.json").await.len(), 1);

    // Launching the same render again does not render it again.
    let again = remotion_tests::lambda::invoke(&lambda, orchestrator, &render.payload()).await.unwrap();
    let again: LaunchResponse = serde_json::from_value(again.expect("a repeated launch is answered")).unwrap();
    assert_eq!(again, response);
    assert_eq!(progress(&s3, &bucket, "full300").await.unwrap().sequence, done.sequence);
    for p in &mut processes {
        p.check_alive("render function").unwrap();
    }
    eprintln!("launch of 300 frames in 4 chunks on 2 renderer processes: {:.1} s", wall.as_secs_f64());
}

#[tokio::test]
async fn a_renderer_killed_mid_chunk_is_cut_off_and_its_chunk_rendered_again() {
    let env = TestEnv::get();
    let (orchestrator, renderer) = ("test-fn-22", "test-fn-23");
    let (s3, bucket, _orchestrators) = bucket_and_functions("launch-kill", orchestrator, 1).await;
    let mut renderers = common::spawn_functions(renderer, 2);
    let render = Render {
        id: "killed",
        bucket: &bucket,
        composition: "Intro",
        frames: (0, 59),
        frames_per_lambda: 15,
        renderer,
        max_concurrency: 2,
        timeout_seconds: 15,
        max_retries: 3,
    };
    let lambda = env.lambda().client();
    let payload = render.payload();
    let launch = tokio::spawn(async move { remotion_tests::lambda::invoke(&lambda, orchestrator, &payload).await });
    // Kill one renderer while both are busy with a chunk.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let doc = progress(&s3, &bucket, "killed").await;
        if doc.as_ref().is_some_and(|d| d.stage == Stage::Rendering) {
            break;
        }
        assert!(Instant::now() < deadline, "rendering did not start: {doc:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    renderers[0].child.kill().unwrap();
    let answer = launch.await.unwrap().unwrap();
    assert!(answer.is_ok(), "the render survives a lost renderer: {answer:?}");
    // The launch answers when the render is done, or when it hands the render over to a
    // continuation (a 15 s timeout leaves each invocation 7.5 s): the document tells the end.
    let done = follow(s3.clone(), bucket.clone(), "killed".into()).await.last().unwrap().clone();
    assert_eq!(done.stage, Stage::Done, "{done:?}");
    assert!(done.retries >= 1, "{done:?}");
    assert!(done.errors.iter().any(|e| e.will_retry && e.message.contains("deadline")), "{:?}", done.errors);
    assert_eq!(done.frames_rendered, 60);

    let dir = tempfile::tempdir().unwrap();
    let video = dir.path().join("out.mp4");
    download(&s3, &bucket, &done.output.unwrap().key, &video).await;
    let (_, frames, ..) = probe_video(&video);
    assert_eq!(frames, 60);
    let site = Site::open(bundle("build").to_str().unwrap()).await.unwrap();
    let browser = Browser::launch(&BrowserOptions::detect().unwrap()).await.unwrap();
    for frame in [7u64, 22, 37, 52] {
        let score =
            psnr(&video_frame(&video, frame, dir.path()), &common::still(&browser, &site, "Intro", PROPS, frame).await);
        assert!(score > 35.0, "frame {frame} of every chunk is right: {score:.1} dB");
    }
    browser.close().await;
    renderers[1].check_alive("the surviving renderer").unwrap();
}

#[tokio::test]
async fn cancel_stops_the_orchestrator_and_the_renderers_within_seconds() {
    let env = TestEnv::get();
    let (orchestrator, renderer) = ("test-fn-24", "test-fn-25");
    let (s3, bucket, _orchestrators) = bucket_and_functions("launch-cancel", orchestrator, 1).await;
    let mut renderers = common::spawn_functions(renderer, 2);
    // Three long chunks of a small composition: each would take far longer than the test waits.
    let render = Render {
        id: "cancelled",
        bucket: &bucket,
        composition: "Tiny",
        frames: (0, 2999),
        frames_per_lambda: 1000,
        renderer,
        max_concurrency: 2,
        timeout_seconds: 300,
        max_retries: 1,
    };
    let lambda = env.lambda().client();
    let payload = render.payload();
    let launch = {
        let lambda = lambda.clone();
        let payload = payload.clone();
        tokio::spawn(async move { remotion_tests::lambda::invoke(&lambda, orchestrator, &payload).await })
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let doc = progress(&s3, &bucket, "cancelled").await;
        if doc.as_ref().is_some_and(|d| d.stage == Stage::Rendering) {
            break;
        }
        assert!(Instant::now() < deadline, "rendering did not start: {doc:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    s3.put_object()
        .bucket(&bucket)
        .key("renders/cancelled/cancel")
        .body(ByteStream::from_static(b""))
        .send()
        .await
        .unwrap();
    let cancelled_at = Instant::now();
    loop {
        let doc = progress(&s3, &bucket, "cancelled").await.unwrap();
        if doc.stage == Stage::Cancelled {
            break;
        }
        assert!(doc.stage != Stage::Done, "the render finished instead of stopping");
        assert!(cancelled_at.elapsed() < Duration::from_secs(10), "not cancelled after 10 s: {doc:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let stopped_in = cancelled_at.elapsed();
    assert!(stopped_in < Duration::from_secs(4), "the orchestrator stopped in {stopped_in:?}");
    let answer = launch.await.unwrap().unwrap();
    let error = answer.expect_err("a cancelled launch reports it");
    assert_eq!(error["errorType"], "Cancelled", "{error}");
    let done = progress(&s3, &bucket, "cancelled").await.unwrap();
    assert!(done.chunks_done < 3 && done.output.is_none(), "{done:?}");
    assert!(keys_under(&s3, &bucket, "renders/cancelled/chunks/").await.is_empty(), "no chunk left behind");

    // Both renderers stopped their chunks: they are free to answer at once.
    let info = json!({"type": "info"});
    let t = Instant::now();
    let (a, b) = tokio::join!(
        remotion_tests::lambda::invoke(&lambda, renderer, &info),
        remotion_tests::lambda::invoke(&lambda, renderer, &info)
    );
    assert!(a.unwrap().is_ok() && b.unwrap().is_ok());
    assert!(t.elapsed() < Duration::from_secs(8), "renderers were still busy for {:?}", t.elapsed());

    // A repeated launch of a cancelled render does not start it again.
    let again = remotion_tests::lambda::invoke(&lambda, orchestrator, &payload).await.unwrap();
    assert!(again.is_ok());
    assert_eq!(progress(&s3, &bucket, "cancelled").await.unwrap().sequence, done.sequence);
    for r in &mut renderers {
        r.check_alive("renderer").unwrap();
    }
}

/// The output of a render of `Intro` (`frames` frames from frame 0) is every frame once, in
/// order, checked at `at` (chunk boundaries).
async fn check_intro(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, frames: u64, at: &[u64]) {
    let dir = tempfile::tempdir().unwrap();
    let video = dir.path().join("out.mp4");
    download(s3, bucket, key, &video).await;
    let (codec, counted, width, height, _) = probe_video(&video);
    assert_eq!((codec.as_str(), counted, width, height), ("h264", frames, 1920, 1080));
    let site = Site::open(bundle("build").to_str().unwrap()).await.unwrap();
    let browser = Browser::launch(&BrowserOptions::detect().unwrap()).await.unwrap();
    for &frame in at {
        let score =
            psnr(&video_frame(&video, frame, dir.path()), &common::still(&browser, &site, "Intro", PROPS, frame).await);
        assert!(score > 35.0, "video frame {frame} is composition frame {frame}: {score:.1} dB");
    }
    browser.close().await;
}

#[tokio::test]
async fn with_no_remote_slots_the_orchestrator_renders_every_chunk_itself() {
    let env = TestEnv::get();
    // No process serves the renderer: an invocation of it would never be answered.
    let (orchestrator, renderer) = ("test-fn-26", "test-fn-27");
    let (s3, bucket, mut processes) = bucket_and_functions("launch-local", orchestrator, 1).await;
    let render = Render {
        id: "local90",
        bucket: &bucket,
        composition: "Intro",
        frames: (0, 89),
        frames_per_lambda: 30,
        renderer,
        max_concurrency: 0,
        timeout_seconds: 300,
        max_retries: 1,
    };
    let lambda = env.lambda().client();
    let follower = tokio::spawn(follow(s3.clone(), bucket.clone(), render.id.into()));
    // The process idles a while before its first event, which Lambda would not bill.
    let idle = Duration::from_secs(3);
    tokio::time::sleep(idle).await;
    let invoked = Instant::now();
    let answer = remotion_tests::lambda::invoke(&lambda, orchestrator, &render.payload()).await.unwrap();
    let took = invoked.elapsed();
    let response: LaunchResponse = serde_json::from_value(answer.expect("the launch succeeds")).unwrap();
    let done = follower.await.unwrap().last().unwrap().clone();
    assert_eq!(done.stage, Stage::Done, "{done:?}");
    assert_eq!(
        (done.frames_total, done.frames_rendered, done.chunks_total, done.chunks_done, done.chunks_rendered_locally),
        (90, 90, 3, 3, 3)
    );
    assert_eq!(done.invocations, 1, "the orchestrator's own invocation only");
    assert!(done.billed_milliseconds > 0 && done.accrued_usd > "0".parse().unwrap(), "{done:?}");
    // Billed: the invocation and the process's own start-up (its init), not its idle wait.
    let billed = Duration::from_millis(done.billed_milliseconds);
    assert!(billed <= took + idle / 2, "{billed:?} billed for an invocation of {took:?} after {idle:?} idle");
    assert_eq!(done.output.as_ref().map(|o| o.key.as_str()), Some(response.output_key.as_str()));
    check_intro(&s3, &bucket, &response.output_key, 90, &[29, 30, 59, 60, 89]).await;
    assert!(keys_under(&s3, &bucket, "renders/local90/chunks/").await.is_empty());
    processes[0].check_alive("the orchestrator").unwrap();
}

#[tokio::test]
async fn a_render_takes_the_remote_slots_its_allotment_gives() {
    let env = TestEnv::get();
    let (orchestrator, renderer) = ("test-fn-32", "test-fn-33");
    let (s3, bucket, mut processes) = bucket_and_functions("launch-allotted", orchestrator, 1).await;
    processes.extend(common::spawn_functions(renderer, 2));
    let render = Render {
        id: "allotted",
        bucket: &bucket,
        composition: "Intro",
        frames: (0, 59),
        frames_per_lambda: 15,
        renderer,
        max_concurrency: 0,
        // Generous: under a loaded CI machine 60 frames have taken over 100 s, and a render that
        // outlasts its invocation goes on in a continuation, which this test is not about.
        timeout_seconds: 300,
        max_retries: 1,
    };
    // The operator gave the render two slots after building its launch request.
    s3.put_object()
        .bucket(&bucket)
        .key("renders/allotted/allotment.json")
        .body(ByteStream::from_static(br#"{"chunkSlots": 2}"#))
        .send()
        .await
        .unwrap();
    let lambda = env.lambda().client();
    let follower = tokio::spawn(follow(s3.clone(), bucket.clone(), render.id.into()));
    let answer = remotion_tests::lambda::invoke(&lambda, orchestrator, &render.payload()).await.unwrap();
    let response: LaunchResponse = serde_json::from_value(answer.expect("the launch succeeds")).unwrap();
    let done = follower.await.unwrap().last().unwrap().clone();
    assert_eq!((done.stage, done.chunks_done, done.frames_rendered), (Stage::Done, 4, 60), "{done:?}");
    assert!(done.chunks_rendered_locally < 4, "the renderers took chunks: {done:?}");
    // One orchestrator and the remote chunks; under load an invocation that waited past the
    // orchestrator's patience may still run after the orchestrator took its chunk (the chunk's
    // key is written once either way), a crashed chunk is invoked again, and a continuation is
    // an invocation of the orchestrator.
    let remote = 4 - done.chunks_rendered_locally;
    let most = 1 + 4 + done.retries + done.continuations;
    assert!((1 + remote..=most).contains(&done.invocations), "{done:?}");
    check_intro(&s3, &bucket, &response.output_key, 60, &[14, 15, 44, 45]).await;
    for p in &mut processes {
        p.check_alive("render function").unwrap();
    }
}

#[tokio::test]
async fn conditional_creates_of_one_key_let_exactly_one_caller_through() {
    let env = TestEnv::get();
    let s3 = env.s3().client().await;
    let bucket = env.s3().create_test_bucket("create-once").await.unwrap();
    for round in 0..5 {
        let key = format!("renders/r{round}/progress.json");
        let racing = (0..8).map(|i| {
            let (s3, bucket, key) = (s3.clone(), bucket.clone(), key.clone());
            tokio::spawn(async move {
                storage::create(&s3, &bucket, &key, format!("{i}").into_bytes(), "application/json", &format!("c{i}"))
                    .await
            })
        });
        let mut winners = Vec::new();
        for (i, created) in futures::future::join_all(racing).await.into_iter().enumerate() {
            match created.unwrap() {
                Ok(Created::Mine) => winners.push(i),
                Ok(Created::Theirs) => {}
                Err(e) => panic!("round {round}: creator {i} failed: {e}"),
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: exactly one creator wins: {winners:?}");
        let body = storage::get(&s3, &bucket, &key).await.unwrap().unwrap();
        assert_eq!(String::from_utf8(body).unwrap(), winners[0].to_string());
        // The winner's write sent again (its first answer lost) is still the winner's.
        let create = |creator: String| {
            let (s3, bucket, key) = (s3.clone(), bucket.clone(), key.clone());
            async move { storage::create(&s3, &bucket, &key, b"x".to_vec(), "application/json", &creator).await }
        };
        assert_eq!(create(format!("c{}", winners[0])).await.unwrap(), Created::Mine);
        assert_eq!(create(format!("c{}", (winners[0] + 1) % 8)).await.unwrap(), Created::Theirs);
        let body = storage::get(&s3, &bucket, &key).await.unwrap().unwrap();
        assert_eq!(String::from_utf8(body).unwrap(), winners[0].to_string(), "nothing overwrote the first write");
    }
}

#[tokio::test]
async fn two_launches_of_one_render_at_once_render_it_once() {
    let env = TestEnv::get();
    let (orchestrator, renderer) = ("test-fn-28", "test-fn-29");
    // Two orchestrator processes: the two launches run at the same time.
    let (s3, bucket, mut processes) = bucket_and_functions("launch-twice", orchestrator, 2).await;
    processes.extend(common::spawn_functions(renderer, 2));
    let render = Render {
        id: "twice",
        bucket: &bucket,
        composition: "Intro",
        frames: (0, 59),
        frames_per_lambda: 15,
        renderer,
        max_concurrency: 2,
        timeout_seconds: 300,
        max_retries: 1,
    };
    let lambda = env.lambda().client();
    let launch = || {
        let (lambda, payload) = (lambda.clone(), render.payload());
        tokio::spawn(async move {
            let answer = remotion_tests::lambda::invoke(&lambda, orchestrator, &payload).await.unwrap();
            (answer, SystemTime::now())
        })
    };
    // A second writer of the document would send its sequence back: `follow` checks it never does.
    let follower = tokio::spawn(follow(s3.clone(), bucket.clone(), render.id.into()));
    let (first, second) = (launch(), launch());
    let ((first, first_at), (second, second_at)) = (first.await.unwrap(), second.await.unwrap());
    let first: LaunchResponse = serde_json::from_value(first.expect("the first launch is answered")).unwrap();
    let second: LaunchResponse = serde_json::from_value(second.expect("the second launch is answered")).unwrap();
    assert_eq!(first, second);
    let done = follower.await.unwrap().last().unwrap().clone();
    assert_eq!((done.stage, done.chunks_done, done.frames_rendered), (Stage::Done, 4, 60), "{done:?}");
    assert_eq!(done.invocations, 1 + 4 - done.chunks_rendered_locally, "one orchestrator and its remote chunks");
    let epoch_ms = |t: SystemTime| t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_millis() as u64;
    let answered_early = epoch_ms(first_at.min(second_at));
    assert!(
        answered_early < done.updated_at_ms,
        "one launch answered before the render ended, without rendering: {answered_early} vs {}",
        done.updated_at_ms
    );

    // Exactly one orchestrator stood aside, and says why.
    let stood_aside: Vec<String> = processes[..2]
        .iter()
        .map(|p| std::fs::read_to_string(&p.log).unwrap_or_default())
        .filter_map(|log| {
            ["launched at the same moment by another invocation", "already launched; not starting it again"]
                .into_iter()
                .find(|line| log.contains(line))
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(stood_aside.len(), 1, "{stood_aside:?}");
    eprintln!("the second launch stood aside: {}", stood_aside[0]);
    check_intro(&s3, &bucket, &first.output_key, 60, &[14, 15, 44, 45]).await;
    for p in &mut processes {
        p.check_alive("render function").unwrap();
    }
}
