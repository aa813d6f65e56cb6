//! Progress while chunks render: renderers report their frames as they go, so the progress
//! document's frame counts move before any chunk has finished, only ever forward, and end
//! exact; the chunks' progress objects are gone afterwards.

use std::time::{Duration, Instant};

use remotion_protocol::payload::PROTOCOL_VERSION;
use remotion_protocol::progress::{ProgressDocument, Stage};
use remotion_tests::TestEnv;
use serde_json::json;

use crate::common::{self, bundle, probe_video, upload_dir};

async fn progress(s3: &aws_sdk_s3::Client, bucket: &str, id: &str) -> Option<ProgressDocument> {
    let object = s3.get_object().bucket(bucket).key(format!("renders/{id}/progress.json")).send().await.ok()?;
    let bytes = object.body.collect().await.ok()?.into_bytes();
    Some(serde_json::from_slice(&bytes).expect("a progress document"))
}

async fn keys_under(s3: &aws_sdk_s3::Client, bucket: &str, prefix: &str) -> Vec<String> {
    let out = s3.list_objects_v2().bucket(bucket).prefix(prefix).send().await.unwrap();
    out.contents().iter().filter_map(|o| o.key().map(str::to_owned)).collect()
}

#[tokio::test]
async fn frames_rendered_moves_while_slow_chunks_render_and_ends_exact() {
    let env = TestEnv::get();
    let (orchestrator, renderer) = ("test-fn-56", "test-fn-57");
    let s3 = env.s3().client().await;
    let bucket = env.s3().create_test_bucket("chunk-progress").await.unwrap();
    upload_dir(&s3, &bucket, &bundle("build-errors"), "sites/errors/").await;
    let mut processes = common::spawn_functions(orchestrator, 1);
    processes.extend(common::spawn_functions(renderer, 2));
    // SlowData holds every frame ~0.5 s: two chunks of 15 frames take several seconds each.
    let id = "slowchunks";
    let payload = json!({
        "type": "launch", "protocolVersion": PROTOCOL_VERSION, "renderId": id, "bucket": bucket,
        "site": {"serveUrl": "private", "s3": {"bucket": bucket, "prefix": "sites/errors/"}},
        "siteNamespace": "tests", "siteName": "errors", "composition": "SlowData",
        "inputProps": {"type": "inline", "serialized": "{}"},
        "encoding": {"codec": "h264", "x264Preset": "veryfast"},
        "frameRange": {"start": 0, "end": 29},
        "chunking": {"framesPerLambda": 15},
        "maxRetries": 1, "timeoutMs": 30000,
        "output": {"key": format!("renders/{id}/out.mp4")},
        "renderer": {"functionName": renderer, "region": "us-east-1", "memoryMb": 2048, "diskMb": 2048,
                     "architecture": "x86_64", "timeoutSeconds": 120, "maxConcurrency": 2},
    });
    let lambda = env.lambda().client();
    let launch = tokio::spawn(async move { remotion_tests::lambda::invoke(&lambda, orchestrator, &payload).await });

    let mut seen: Vec<ProgressDocument> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        assert!(Instant::now() < deadline, "the render did not finish; last progress: {:?}", seen.last());
        if let Some(doc) = progress(&s3, &bucket, id).await
            && seen.last().is_none_or(|last| last.sequence != doc.sequence)
        {
            if let Some(last) = seen.last() {
                assert!(doc.sequence > last.sequence, "documents arrive in order");
                assert!(
                    doc.frames_rendered >= last.frames_rendered && doc.frames_encoded >= last.frames_encoded,
                    "frame counts went back: {}/{} after {}/{}",
                    doc.frames_rendered,
                    doc.frames_encoded,
                    last.frames_rendered,
                    last.frames_encoded
                );
                assert!(doc.percent() >= last.percent(), "percent went back");
            }
            let terminal = doc.stage.is_terminal();
            seen.push(doc);
            if terminal {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let answer = launch.await.unwrap().unwrap();
    assert!(answer.is_ok(), "{answer:?}");

    let moving: Vec<(u64, u64)> = seen
        .iter()
        .filter(|d| d.stage == Stage::Rendering && d.chunks_done == 0)
        .map(|d| (d.frames_rendered, d.frames_encoded))
        .collect();
    assert!(
        moving.iter().any(|&(rendered, _)| rendered > 0 && rendered < 30),
        "frames were counted before any chunk finished: {moving:?}"
    );
    let done = seen.last().unwrap();
    assert_eq!(done.stage, Stage::Done, "{done:?}");
    assert_eq!(
        (done.frames_total, done.frames_rendered, done.frames_encoded, done.chunks_total, done.chunks_done),
        (30, 30, 30, 2, 2)
    );
    assert!(keys_under(&s3, &bucket, &format!("renders/{id}/chunk-progress/")).await.is_empty());
    assert!(keys_under(&s3, &bucket, &format!("renders/{id}/chunks/")).await.is_empty());

    let dir = tempfile::tempdir().unwrap();
    let video = dir.path().join("out.mp4");
    let object = s3.get_object().bucket(&bucket).key(format!("renders/{id}/out.mp4")).send().await.unwrap();
    std::fs::write(&video, object.body.collect().await.unwrap().into_bytes()).unwrap();
    assert_eq!(probe_video(&video).1, 30);
    eprintln!("documents seen while no chunk had finished (rendered, encoded): {moving:?}");
    for p in &mut processes {
        p.check_alive("render function").unwrap();
    }
}
