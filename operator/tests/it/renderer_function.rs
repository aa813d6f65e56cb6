//! A RenderJob whose chunks render on a RenderFunction of their own (`rendererFunctionRef`, a
//! small orchestrator with large renderers), end to end on the real API server, SeaweedFS and
//! the render function on the Lambda emulator.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use remotion_crds::render_job::RenderPhase;
use remotion_tests::TestEnv;
use serde_json::json;

use crate::end_to_end::{Endpoints, World};

#[tokio::test]
async fn chunks_render_on_the_renderer_function_with_every_slot_of_it() -> Result<()> {
    let started = Instant::now();
    let env = TestEnv::get();
    let endpoints = Endpoints { s3: env.s3().endpoint.clone(), lambda: env.lambda().endpoint.clone() };
    // The world's own RenderFunction ("renderer") orchestrates; "big" renders the chunks.
    let mut world = World::with_endpoints("e2e-split", "test-fn-55", 1, endpoints).await?;
    let renderer_logs = world.add_function("big", "test-fn-58", 2, 2048).await?;
    world
        .create_job(
            "split",
            json!({"composition": "Tiny", "frameRange": {"start": 0, "end": 29}, "framesPerLambda": 15,
                   "rendererFunctionRef": {"name": "big"}}),
        )
        .await?;
    let job = world.wait_phase("split", RenderPhase::Succeeded, Duration::from_secs(300)).await?;
    let status = job.status.context("status")?;
    assert_eq!(status.invocation_slots, Some(2), "both of the renderer's slots are the chunks'");
    let url = status.output.context("output")?.url.context("output url")?;
    let dir = tempfile::tempdir()?;
    let video = dir.path().join("out.mp4");
    ensure!(Command::new("curl").args(["-sf", "-o"]).arg(&video).arg(&url).status()?.success(), "fetching {url}");
    let (codec, frames, ..) = crate::end_to_end::probe(&video)?;
    assert_eq!((codec.as_str(), frames), ("h264", 30));
    let rendered_by_renderers: usize = renderer_logs
        .iter()
        .map(|log| std::fs::read_to_string(log).unwrap_or_default().matches("chunk rendered").count())
        .sum();
    assert!(rendered_by_renderers >= 1, "the renderer function's processes rendered chunks");
    world.stop().await?;
    eprintln!("split render in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}
