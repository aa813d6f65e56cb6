//! A RenderJob's composition overrides and defaults from `kubectl apply` to the output, on the
//! real API server, SeaweedFS and the render function on the Lambda emulator: a job that leaves
//! the codec, pixel format and output key to the fixture's `Defaults` composition (its
//! `calculateMetadata` declares vp9, yuv444p and `recap`) and forces its rate and length gets
//! exactly that, shown in `status.resolved` and measured with ffprobe; a still of frame -1 is
//! the last frame; and `delayRenderTimeoutSeconds` reaches the page (a `calculateMetadata` that
//! takes 12 s fails a job that allows 8 s, and not one that allows the default 30). The same
//! timeout bounds loading the site, as in Remotion, and the page's own delayRender() timeout
//! is 2 s shorter: 8 s leaves a starved CI machine 8 s to load the bundle and the page 6 s.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use remotion_crds::render_job::RenderPhase;
use remotion_protocol::media::{Codec, PixelFormat};
use remotion_tests::TestEnv;
use serde_json::json;

use crate::end_to_end::{Endpoints, World, condition};

/// `entries` of the first video stream of `path`, as ffprobe's CSV.
fn probe(path: &std::path::Path, entries: &str) -> Result<String> {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-count_frames", "-show_entries", entries, "-of", "csv=p=0"])
        .arg(path)
        .output()?;
    ensure!(out.status.success(), "ffprobe: {}", String::from_utf8_lossy(&out.stderr));
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

#[tokio::test]
async fn defaults_overrides_a_last_frame_and_the_delay_render_timeout_reach_the_output() -> Result<()> {
    let started = Instant::now();
    let env = TestEnv::get();
    let endpoints = Endpoints { s3: env.s3().endpoint.clone(), lambda: env.lambda().endpoint.clone() };
    let world = World::with_endpoints("e2e-defaults", "test-fn-01", 2, endpoints).await?;
    world
        .create_job(
            "defaults",
            json!({"composition": "Defaults", "forceFps": 15, "forceDurationInFrames": 15, "framesPerLambda": 8}),
        )
        .await?;
    world.create_job("last", json!({"composition": "Defaults", "still": {"frame": -1, "imageFormat": "png"}})).await?;
    let slow = json!({"metadataDelayMs": 12000});
    world
        .create_job(
            "impatient",
            json!({"composition": "Defaults", "inputProps": slow, "delayRenderTimeoutSeconds": 8,
                   "still": {"frame": 0, "imageFormat": "png"}}),
        )
        .await?;
    world.create_job("patient", json!({"composition": "Defaults", "inputProps": slow, "still": {"frame": 0}})).await?;

    let job = world.wait_phase("defaults", RenderPhase::Succeeded, Duration::from_secs(300)).await?;
    let status = job.status.clone().context("status")?;
    let id = status.render_id.clone().context("render id")?;
    let resolved = status.resolved.clone().context("status.resolved")?;
    assert_eq!((resolved.codec, resolved.pixel_format), (Some(Codec::Vp9), Some(PixelFormat::Yuv444p)));
    assert_eq!(resolved.output_key, format!("renders/{id}/recap.webm"));
    assert_eq!((resolved.width, resolved.height, resolved.fps, resolved.duration_in_frames), (160, 90, 15.0, 15));
    let output = status.output.clone().context("output")?;
    assert_eq!(output.s3_uri, format!("s3://{}/renders/{id}/recap.webm", world.bucket));
    let dir = tempfile::tempdir()?;
    let video = dir.path().join("recap.webm");
    let url = output.url.context("output url")?;
    ensure!(Command::new("curl").args(["-sf", "-o"]).arg(&video).arg(&url).status()?.success(), "fetching {url}");
    assert_eq!(
        probe(&video, "stream=codec_name,width,height,pix_fmt,r_frame_rate,nb_read_frames")?,
        "vp9,160,90,yuv444p,15/1,15"
    );

    let job = world.wait_phase("last", RenderPhase::Succeeded, Duration::from_secs(180)).await?;
    let status = job.status.clone().context("status")?;
    let resolved = status.resolved.context("status.resolved")?;
    assert_eq!(resolved.still_frame, Some(29), "frame -1 of 30 frames");
    let id = status.render_id.context("render id")?;
    assert_eq!(resolved.output_key, format!("renders/{id}/recap.png"), "stills take defaultOutName too");

    let job = world.wait_phase("impatient", RenderPhase::Failed, Duration::from_secs(180)).await?;
    let (_, reason, message) = condition(&job, "Failed").context("Failed condition")?;
    assert_eq!(reason, "DelayRenderTimeout", "{message}");
    world.wait_phase("patient", RenderPhase::Succeeded, Duration::from_secs(180)).await?;
    eprintln!("defaults, last frame and delayRender timeout: {:.1} s", started.elapsed().as_secs_f64());
    world.stop().await
}
