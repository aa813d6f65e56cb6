//! Renders longer than the function's timeout: the orchestrator hands the render over to
//! continuations of itself before its deadline, each going on where the previous one stopped,
//! and the operator, following only the progress document, sees one render that never stops
//! moving, whose cost counts every invocation, and that ends once.

use std::time::{Duration, Instant};

use remotion_function::capture::browser::{Browser, BrowserOptions};
use remotion_function::capture::site::Site;
use remotion_function::orchestrate::continuation::margin;
use remotion_protocol::payload::{ErrorKind, LaunchResponse, PROTOCOL_VERSION};
use remotion_protocol::progress::{ProgressDocument, Stage};
use remotion_tests::TestEnv;
use serde_json::{Value, json};

use crate::common::{self, bucket_and_functions, bundle, probe_video, psnr, video_frame};

const PROPS: &str = r##"{"titleText":"Continued","titleColor":"#ff9933"}"##;

async fn progress(s3: &aws_sdk_s3::Client, bucket: &str, id: &str) -> Option<ProgressDocument> {
    let object = s3.get_object().bucket(bucket).key(format!("renders/{id}/progress.json")).send().await.ok()?;
    let bytes = object.body.collect().await.ok()?.into_bytes();
    Some(serde_json::from_slice(&bytes).expect("a progress document"))
}

async fn keys_under(s3: &aws_sdk_s3::Client, bucket: &str, prefix: &str) -> Vec<String> {
    let out = s3.list_objects_v2().bucket(bucket).prefix(prefix).send().await.unwrap();
    out.contents().iter().filter_map(|o| o.key().map(str::to_owned)).collect()
}

/// Every document the operator could have seen, in order, each with when it was first seen.
struct Followed {
    seen: Vec<(Instant, ProgressDocument)>,
}

impl Followed {
    /// Polls the progress document as the operator does (more often), until it is terminal,
    /// checking that it only moves forward and is never terminal before the end.
    async fn follow(s3: aws_sdk_s3::Client, bucket: String, id: String) -> Self {
        let mut seen: Vec<(Instant, ProgressDocument)> = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(600);
        while Instant::now() < deadline {
            if let Some(doc) = progress(&s3, &bucket, &id).await {
                let new = match seen.last() {
                    Some((_, last)) if last.sequence == doc.sequence => false,
                    Some((_, last)) => {
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
                        assert!(doc.frames_rendered >= last.frames_rendered, "frames went back");
                        assert!(doc.chunks_done >= last.chunks_done, "chunks went back");
                        assert!(doc.continuations >= last.continuations, "continuations went back");
                        assert!(
                            doc.accrued_usd >= last.accrued_usd && doc.billed_milliseconds >= last.billed_milliseconds,
                            "cost went back: {} after {}",
                            doc.accrued_usd,
                            last.accrued_usd
                        );
                        true
                    }
                    None => true,
                };
                if new {
                    let terminal = doc.stage.is_terminal();
                    seen.push((Instant::now(), doc));
                    if terminal {
                        return Self { seen };
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("the render did not finish within 10 minutes; last progress: {:?}", seen.last());
    }

    fn last(&self) -> &ProgressDocument {
        &self.seen.last().expect("a document").1
    }

    /// The longest time between two documents.
    fn longest_silence(&self) -> Duration {
        self.seen.windows(2).map(|w| w[1].0 - w[0].0).max().unwrap_or_default()
    }
}

/// The launch request (no `type`: it is a `launch` payload's body and a `continue` payload's
/// `launch`) of 300 frames of a 1080p composition in chunks of 20 frames, on a function whose
/// timeout is `timeout`, with one remote chunk at a time beside the orchestrator's own.
fn launch_request(id: &str, bucket: &str, renderer: &str, timeout: Duration) -> Value {
    json!({
        "protocolVersion": PROTOCOL_VERSION, "renderId": id, "bucket": bucket,
        "site": {"serveUrl": "private", "s3": {"bucket": bucket, "prefix": "sites/fixture/"}},
        "siteNamespace": "tests", "siteName": "fixture", "composition": "Intro",
        "inputProps": {"type": "inline", "serialized": PROPS},
        "encoding": {"codec": "h264", "x264Preset": "veryfast"},
        "frameRange": {"start": 0, "end": 299},
        "chunking": {"framesPerLambda": 20},
        "maxRetries": 2, "timeoutMs": 30000,
        "output": {"key": format!("renders/{id}/out.mp4")},
        "renderer": {"functionName": renderer, "region": "us-east-1", "memoryMb": 2048, "diskMb": 2048,
                     "architecture": "x86_64", "timeoutSeconds": timeout.as_secs(), "maxConcurrency": 1},
    })
}

/// The `launch` payload of a launch request.
fn launch_payload(request: &Value) -> Value {
    let mut payload = request.clone();
    payload["type"] = json!("launch");
    payload
}

#[tokio::test]
async fn a_render_three_times_as_long_as_the_function_timeout_completes_in_continuations() {
    let env = TestEnv::get();
    let (orchestrator, renderer) = ("test-fn-40", "test-fn-41");
    let (s3, bucket, mut processes) = bucket_and_functions("continued", orchestrator, 1).await;
    processes.extend(common::spawn_functions(renderer, 1));
    // 300 frames of a 1080p composition take 30–60 s on the two lanes (one renderer, and the
    // orchestrator itself) of a 2-core machine: two to three times a 20 s timeout, of which each
    // invocation of the orchestrator works 10 s before it hands over.
    let timeout = Duration::from_secs(20);
    let id = "continued";
    let launch = launch_request(id, &bucket, renderer, timeout);
    let payload = launch_payload(&launch);
    let lambda = env.lambda().client();
    let follower = tokio::spawn(Followed::follow(s3.clone(), bucket.clone(), id.into()));
    let started = Instant::now();
    let answer = remotion_tests::lambda::invoke(&lambda, orchestrator, &payload).await.unwrap();
    let answered = started.elapsed();
    let response: LaunchResponse = serde_json::from_value(answer.expect("the launch hands over")).unwrap();
    let followed = follower.await.unwrap();
    let wall = started.elapsed();
    let done = followed.last().clone();
    eprintln!(
        "rendered in {:.1} s with {} continuations; the launch answered after {:.1} s; \
         {} documents, the longest silence {:.1} s; {} of {} chunks rendered by the orchestrators",
        wall.as_secs_f64(),
        done.continuations,
        answered.as_secs_f64(),
        followed.seen.len(),
        followed.longest_silence().as_secs_f64(),
        done.chunks_rendered_locally,
        done.chunks_done,
    );

    // One render, ended once, by the last continuation.
    assert_eq!(done.stage, Stage::Done, "{done:?}");
    assert!(done.continuations >= 2, "the render outlasted two invocations: {done:?}");
    // Its hand-over is about 10 s in; the render goes on for at least one more invocation.
    assert!(
        answered < wall.saturating_sub(timeout / 2),
        "the first invocation returned at its hand-over ({answered:?}), long before the render ended ({wall:?})"
    );
    // The operator never waits long for a sign of life, hand-overs included (a document every
    // 1.5 s while an invocation runs).
    let silence = followed.longest_silence();
    assert!(silence < Duration::from_secs(6), "{silence:?} without a new document");
    let mut continuations: Vec<u64> = followed.seen.iter().map(|(_, d)| d.continuations).collect();
    continuations.dedup();
    assert_eq!(continuations, (0..=done.continuations).collect::<Vec<_>>(), "each continuation wrote documents");

    // Every chunk once; nothing went wrong on the way.
    assert_eq!(
        (done.frames_total, done.frames_rendered, done.frames_encoded, done.chunks_total, done.chunks_done),
        (300, 300, 300, 15, 15),
        "{done:?}"
    );
    // On a loaded machine a 20-frame chunk may outlast its renderer's 20 s timeout: Lambda cuts
    // it off and the render retries it, which is the behaviour under test too. Anything else
    // going wrong is a failure.
    assert!(
        done.errors.iter().all(|e| e.kind == ErrorKind::Invocation && e.will_retry && e.message.contains("deadline")),
        "only cut-off chunks, each retried: {:?}",
        done.errors
    );
    assert_eq!(done.retries, done.error_count, "{:?}", done.errors);
    // The cost counts every invocation: each orchestrator, the remote chunks, none twice (a
    // chunk cut off and retried counts both attempts).
    let at_least = 1 + done.continuations + (done.chunks_done - done.chunks_rendered_locally);
    assert!(
        (at_least..=at_least + done.retries).contains(&done.invocations),
        "{} invocations, {at_least} without retries: {done:?}",
        done.invocations
    );
    let handing_over = timeout - margin(timeout);
    let orchestrators_at_least = handing_over.saturating_sub(Duration::from_secs(2)).as_millis() as u64;
    assert!(
        done.billed_milliseconds >= done.continuations * orchestrators_at_least,
        "each invocation that handed over worked about {handing_over:?}: {} ms billed in all",
        done.billed_milliseconds
    );
    assert!(done.accrued_usd > "0".parse().unwrap());
    let output = done.output.clone().expect("the output is recorded");
    assert_eq!(output.key, response.output_key);

    // The render's state and its chunks are gone; the render is not run again by a repeated
    // event of a continuation, nor by a repeated launch.
    assert!(keys_under(&s3, &bucket, &format!("renders/{id}/continuation")).await.is_empty());
    assert!(keys_under(&s3, &bucket, &format!("renders/{id}/chunks/")).await.is_empty());
    for again in [json!({"type": "continue", "number": 1, "launch": launch}), payload] {
        let answer = remotion_tests::lambda::invoke(&lambda, orchestrator, &again).await.unwrap();
        assert!(answer.is_ok(), "{answer:?}");
    }
    assert_eq!(progress(&s3, &bucket, id).await.unwrap(), done, "nothing wrote the document again");
    let log = std::fs::read_to_string(&processes[0].log).unwrap();
    assert_eq!(log.matches("handed the render over").count() as u64, done.continuations, "one hand-over each");
    assert_eq!(log.matches("took the render over").count() as u64, done.continuations);

    // The output: every frame once, in order, across chunks finished in different invocations.
    let dir = tempfile::tempdir().unwrap();
    let video = dir.path().join("out.mp4");
    let object = s3.get_object().bucket(&bucket).key(&output.key).send().await.unwrap();
    std::fs::write(&video, object.body.collect().await.unwrap().into_bytes()).unwrap();
    let (codec, frames, width, height, _) = probe_video(&video);
    assert_eq!((codec.as_str(), frames, width, height), ("h264", 300, 1920, 1080));
    let site = Site::open(bundle("build").to_str().unwrap()).await.unwrap();
    let browser = Browser::launch(&BrowserOptions::detect().unwrap()).await.unwrap();
    for frame in [0u64, 99, 100, 199, 200, 299] {
        let score =
            psnr(&video_frame(&video, frame, dir.path()), &common::still(&browser, &site, "Intro", PROPS, frame).await);
        assert!(score > 35.0, "video frame {frame} is composition frame {frame}: {score:.1} dB");
    }
    // Past a chunk boundary, frame 160 is 160 and not a neighbour (nothing dropped or repeated).
    let at_160 = video_frame(&video, 160, dir.path());
    let mut scores = Vec::new();
    for frame in [159u64, 160, 161] {
        scores.push(psnr(&at_160, &common::still(&browser, &site, "Intro", PROPS, frame).await));
    }
    browser.close().await;
    assert!(scores[1] > scores[0] + 3.0 && scores[1] > scores[2] + 3.0, "frame 160 not 159 or 161: {scores:?}");
    for p in &mut processes {
        p.check_alive("render function").unwrap();
    }
}

#[tokio::test]
async fn a_cancel_stops_a_render_in_a_continuation_within_seconds() {
    let env = TestEnv::get();
    let (orchestrator, renderer) = ("test-fn-42", "test-fn-43");
    let (s3, bucket, mut processes) = bucket_and_functions("continued-cancel", orchestrator, 1).await;
    processes.extend(common::spawn_functions(renderer, 1));
    let id = "contcancel";
    let launch = launch_payload(&launch_request(id, &bucket, renderer, Duration::from_secs(20)));
    let lambda = env.lambda().client();
    let answer = remotion_tests::lambda::invoke(&lambda, orchestrator, &launch).await.unwrap();
    assert!(answer.is_ok(), "the launch hands over: {answer:?}");
    // The first continuation has the render, and a remote chunk is running.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let doc = progress(&s3, &bucket, id).await.unwrap();
        if doc.continuations >= 1 && doc.stage == Stage::Rendering && doc.frames_rendered > 0 {
            break;
        }
        assert!(!doc.stage.is_terminal() && Instant::now() < deadline, "no continuation took over: {doc:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    s3.put_object().bucket(&bucket).key(format!("renders/{id}/cancel")).send().await.unwrap();
    let cancelled_at = Instant::now();
    let done = loop {
        let doc = progress(&s3, &bucket, id).await.unwrap();
        if doc.stage.is_terminal() {
            break doc;
        }
        assert!(cancelled_at.elapsed() < Duration::from_secs(10), "not cancelled after 10 s: {doc:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let stopped_in = cancelled_at.elapsed();
    assert_eq!(done.stage, Stage::Cancelled, "{done:?}");
    assert!(stopped_in < Duration::from_secs(4), "the continuation stopped in {stopped_in:?}");
    assert!(done.continuations >= 1 && done.output.is_none() && done.chunks_done < 15, "{done:?}");
    assert!(keys_under(&s3, &bucket, &format!("renders/{id}/chunks/")).await.is_empty(), "no chunk left behind");
    assert!(keys_under(&s3, &bucket, &format!("renders/{id}/continuation")).await.is_empty(), "no state left");

    // Nothing goes on: no later document, and the renderer stopped its chunk.
    let t = Instant::now();
    let info = remotion_tests::lambda::invoke(&lambda, renderer, &json!({"type": "info"})).await.unwrap();
    assert!(info.is_ok() && t.elapsed() < Duration::from_secs(8), "the renderer was busy for {:?}", t.elapsed());
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(progress(&s3, &bucket, id).await.unwrap(), done, "nothing wrote the document after the end");
    for p in &mut processes {
        p.check_alive("render function").unwrap();
    }
    eprintln!("cancelled in continuation {} after {:.1} s", done.continuations, stopped_in.as_secs_f64());
}
