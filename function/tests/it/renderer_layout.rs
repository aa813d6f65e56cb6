//! How a render's chunks are laid out on renderers: Remotion's `concurrencyPerLambda` (tabs per
//! chunk invocation) through a launch whose chunks run on a renderer function of their own.

use std::path::Path;
use std::process::Command;

use remotion_protocol::keys::{self, RenderId};
use remotion_protocol::payload::PROTOCOL_VERSION;
use remotion_protocol::progress::{ProgressDocument, Stage};
use remotion_tests::TestEnv;
use serde_json::{Value, json};

use crate::common::{self, bucket_and_functions};

async fn object(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Vec<u8> {
    let object = s3.get_object().bucket(bucket).key(key).send().await.unwrap();
    object.body.collect().await.unwrap().into_bytes().to_vec()
}

/// The MD5 of every decoded frame, in order.
fn frame_hashes(video: &Path) -> Vec<String> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(video)
        .args(["-map", "0:v", "-f", "framemd5", "-"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.rsplit(',').next().unwrap().trim().to_owned())
        .collect()
}

/// Two chunks rendered with three tabs each on a renderer function other than the
/// orchestrator's give the very frames one tab gives; each chunk reports the tabs it ran.
#[tokio::test]
async fn chunks_captured_by_several_tabs_give_the_frames_of_one_tab() {
    let env = TestEnv::get();
    let (orchestrator, renderer) = ("test-fn-47", "test-fn-48");
    let (s3, bucket, mut processes) = bucket_and_functions("tabs", orchestrator, 1).await;
    processes.extend(common::spawn_functions(renderer, 2));
    let launch = |id: &str, tabs: Option<u32>| {
        let mut renderer = json!({"functionName": renderer, "region": "us-east-1", "memoryMb": 2048,
            "diskMb": 2048, "architecture": "x86_64", "timeoutSeconds": 300, "maxConcurrency": 2});
        if let Some(tabs) = tabs {
            renderer["concurrencyPerLambda"] = json!(tabs);
        }
        json!({
            "type": "launch", "protocolVersion": PROTOCOL_VERSION, "renderId": id, "bucket": bucket,
            "site": {"serveUrl": "private", "s3": {"bucket": bucket, "prefix": "sites/fixture/"}},
            "siteNamespace": "tests", "siteName": id, "composition": "Tiny",
            "inputProps": {"type": "inline", "serialized": "{}"},
            "encoding": {"codec": "h264"}, "frameRange": {"start": 0, "end": 29}, "chunking": {"framesPerLambda": 15},
            "maxRetries": 1, "timeoutMs": 30000, "output": {"key": format!("renders/{id}/out.mp4")},
            "renderer": renderer,
        })
    };
    let dir = tempfile::tempdir().unwrap();
    let mut outputs = Vec::new();
    for (id, tabs) in [("tabs3", Some(3)), ("tabs1", None)] {
        let answer = remotion_tests::lambda::invoke(&env.lambda().client(), orchestrator, &launch(id, tabs)).await;
        answer.unwrap().unwrap_or_else(|e| panic!("the launch with {tabs:?} tabs succeeds: {e:?}"));
        let done: ProgressDocument =
            serde_json::from_slice(&object(&s3, &bucket, &format!("renders/{id}/progress.json")).await).unwrap();
        assert_eq!((done.stage, done.chunks_total, done.chunks_rendered_locally), (Stage::Done, 2, 0), "{done:?}");
        let render = RenderId::new(id.to_owned()).unwrap();
        // Chunks of 15 frames both times (a chunk boundary changes the encoder's decisions): each
        // launch names a site of its own, so neither is re-planned by the other's measured costs.
        for chunk in 0..2 {
            let timings: Value =
                serde_json::from_slice(&object(&s3, &bucket, &keys::timings(&render, chunk)).await).unwrap();
            assert_eq!(timings["tabs"], json!(tabs.unwrap_or(1)), "chunk {chunk} of {id}: {timings}");
            assert_eq!(timings["frameMilliseconds"].as_array().unwrap().len(), 15);
        }
        let out = dir.path().join(format!("{id}.mp4"));
        std::fs::write(&out, object(&s3, &bucket, &done.output.expect("an output").key).await).unwrap();
        outputs.push(frame_hashes(&out));
    }
    assert_eq!(outputs[0].len(), 30);
    assert_eq!(outputs[0], outputs[1], "three tabs per chunk render the frames one tab renders");

    let too_many = remotion_tests::lambda::invoke(&env.lambda().client(), orchestrator, &launch("tabs17", Some(17)))
        .await
        .unwrap()
        .expect_err("17 tabs are refused");
    assert_eq!(too_many["errorType"], "InvalidPayload", "{too_many}");
    assert!(too_many["errorMessage"].as_str().unwrap().contains("concurrencyPerLambda 17"), "{too_many}");
    for p in &mut processes {
        p.check_alive("render function").unwrap();
    }
}
