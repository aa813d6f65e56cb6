//! Remotion's keyframe, lossless-audio and media-limit options from `kubectl apply` to the
//! output: `gopSize` places the video's keyframes, `preferLossless` makes an h264 render's
//! audio PCM in a Matroska file, and the media limits reach the page (`mediaCacheSizeInBytes`, which the `Emits`
//! fixture reports back in an artifact) and the function's `<OffthreadVideo>` frame server
//! (`offthreadVideoThreads`, `offthreadVideoCacheSizeInBytes`, in its log).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, ensure};
use remotion_crds::render_job::{RenderJob, RenderPhase};
use remotion_tests::TestEnv;
use serde_json::{Value, json};

use crate::end_to_end::{Endpoints, World};

/// ffprobe's JSON answer for `entries` of the first stream of `kind` of `path`.
fn ffprobe(path: &Path, kind: &str, entries: &str) -> Result<Value> {
    let output = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", &format!("{kind}:0"), "-show_entries", entries, "-of", "json"])
        .arg(path)
        .output()?;
    ensure!(output.status.success(), "ffprobe {}: {}", path.display(), String::from_utf8_lossy(&output.stderr));
    Ok(serde_json::from_slice(&output.stdout)?)
}

/// `text` without its terminal colour codes (`ESC [ … m`).
fn without_colours(text: &str) -> String {
    let mut plain = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            chars.by_ref().find(|&c| c == 'm');
        } else {
            plain.push(c);
        }
    }
    plain
}

/// The bytes of the job's output.
async fn output(world: &World, job: &RenderJob) -> Result<Vec<u8>> {
    let status = job.status.as_ref().context("status")?;
    let uri = &status.output.as_ref().context("output")?.s3_uri;
    let key = uri.strip_prefix(&format!("s3://{}/", world.bucket)).context("in the render's bucket")?;
    let s3 = TestEnv::get().s3().client().await;
    Ok(s3.get_object().bucket(&world.bucket).key(key).send().await?.body.collect().await?.into_bytes().to_vec())
}

#[tokio::test]
async fn keyframes_lossless_audio_and_media_limits_reach_the_output() -> Result<()> {
    let started = Instant::now();
    let env = TestEnv::get();
    let endpoints = Endpoints { s3: env.s3().endpoint.clone(), lambda: env.lambda().endpoint.clone() };
    let world = World::with_endpoints("e2e-media-options", "test-fn-00", 1, endpoints).await?;
    let dir = tempfile::tempdir()?;

    // A 20-frame h264 Emits with keyframes at most 5 frames apart and the media limits set.
    let props = json!({"textAt": 2, "binaryAt": 3, "thumbnailAt": null, "duplicateAt": null, "pageProbeAt": 1});
    let video = json!({"composition": "Emits", "inputProps": props, "codec": "h264", "gopSize": 5,
                       "mediaCacheSizeInBytes": 600_000_000u64, "offthreadVideoThreads": 1,
                       "offthreadVideoCacheSizeInBytes": 50_000_000u64});
    world.create_job("keyframes", video).await?;
    // A silent 10-frame h264 whose enforced audio track is lossless: PCM, in Matroska.
    let lossless = json!({"composition": "Tiny", "codec": "h264", "frameRange": {"start": 0, "end": 9},
                          "enforceAudioTrack": true, "preferLossless": true});
    world.create_job("lossless", lossless).await?;

    let job = world.wait_phase("keyframes", RenderPhase::Succeeded, Duration::from_secs(240)).await?;
    let mp4 = dir.path().join("keyframes.mp4");
    std::fs::write(&mp4, output(&world, &job).await?)?;
    let frames = ffprobe(&mp4, "v", "frame=key_frame")?;
    let keyframes: Vec<usize> = frames["frames"]
        .as_array()
        .context("frames")?
        .iter()
        .enumerate()
        .filter(|(_, f)| f["key_frame"] == 1)
        .map(|(n, _)| n)
        .collect();
    let gaps = keyframes.windows(2).map(|w| w[1] - w[0]).chain([20 - keyframes.last().copied().unwrap_or(0)]);
    ensure!(keyframes.len() >= 4 && gaps.max() <= Some(5), "keyframes at most 5 frames apart: {keyframes:?}");

    // The page saw the job's mediaCacheSizeInBytes (Emits' page.json, an artifact in the status).
    let status = job.status.clone().context("status")?;
    let probe = status.artifacts.iter().find(|a| a.filename == "page.json").context("page.json is listed")?;
    let s3 = env.s3().client().await;
    let body = s3.get_object().bucket(&world.bucket).key(&probe.key).send().await?.body.collect().await?;
    let page: Value = serde_json::from_slice(&body.into_bytes())?;
    assert_eq!(page, json!({"mediaCacheSizeInBytes": 600_000_000u64}));
    // <Artifact downloadBehavior>: data.bin downloads under the name the composition gave it.
    let data = status.artifacts.iter().find(|a| a.filename == "data.bin").context("data.bin is listed")?;
    let head = s3.head_object().bucket(&world.bucket).key(&data.key).send().await?;
    assert_eq!(
        head.content_disposition(),
        Some("attachment; filename=\"donn_es.bin\"; filename*=UTF-8''donn%C3%A9es.bin")
    );
    // The frame server took the OffthreadVideo limits.
    let log: String = world.function_logs().iter().map(|p| std::fs::read_to_string(p).unwrap_or_default()).collect();
    let log = without_colours(&log);
    let limited = log
        .lines()
        .any(|l| l.contains("OffthreadVideo limits") && l.contains("threads=1") && l.contains("cache_bytes=50000000"));
    ensure!(limited, "the function applied the job's OffthreadVideo limits:\n{log}");

    let job = world.wait_phase("lossless", RenderPhase::Succeeded, Duration::from_secs(240)).await?;
    let status = job.status.clone().context("status")?;
    let out = status.output.clone().context("output")?;
    let id = status.render_id.clone().context("render id")?;
    assert_eq!(out.s3_uri, format!("s3://{}/renders/{id}/out.mkv", world.bucket));
    assert_eq!(out.content_type, "video/x-matroska");
    let mkv = dir.path().join("lossless.mkv");
    std::fs::write(&mkv, output(&world, &job).await?)?;
    let audio = ffprobe(&mkv, "a", "stream=codec_name,sample_rate")?;
    assert_eq!(audio["streams"][0]["codec_name"], "pcm_s16le", "{audio}");
    assert_eq!(ffprobe(&mkv, "v", "stream=codec_name")?["streams"][0]["codec_name"], "h264");
    eprintln!(
        "keyframes, lossless audio and media limits through the operator: {:.1} s",
        started.elapsed().as_secs_f64()
    );
    world.stop().await
}
