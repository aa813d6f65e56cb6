//! A RenderJob's page environment and browser (`envVariables`, `chromiumOptions`, `logLevel`)
//! from `kubectl apply` to the page: the operator puts them into the launch, the function
//! launches its browser and sets up the page with them, and a verbose render's page console
//! reaches the function's log. (What the page then sees of each is checked in the function's
//! own tests, `function/tests/it/page_environment.rs`.)

use std::time::Duration;

use anyhow::Result;
use remotion_crds::render_job::RenderPhase;
use remotion_tests::TestEnv;
use serde_json::json;

use crate::end_to_end::{Endpoints, World};

#[tokio::test]
async fn a_verbose_still_with_browser_options_logs_the_pages_console() -> Result<()> {
    let env = TestEnv::get();
    let endpoints = Endpoints { s3: env.s3().endpoint.clone(), lambda: env.lambda().endpoint.clone() };
    let world = World::with_endpoints("e2e-page-env", "test-fn-17", 1, endpoints).await?;
    let agent = "RenderJobBot/1.0 (page-environment test)";
    world
        .create_job(
            "verbose-still",
            json!({"composition": "Intro", "still": {"frame": 30, "imageFormat": "png"},
                   "envVariables": {"GREETING": "hello from the RenderJob"},
                   "chromiumOptions": {"gl": "swangle", "userAgent": agent},
                   "logLevel": "verbose"}),
        )
        .await?;
    world.wait_phase("verbose-still", RenderPhase::Succeeded, Duration::from_secs(180)).await?;

    let log: String = world.function_logs().iter().map(|p| std::fs::read_to_string(p).unwrap_or_default()).collect();
    let launched_with_options = log.lines().any(|l| {
        l.contains("launching Chromium")
            && l.contains(&format!("user-agent={agent}"))
            && l.contains("use-angle=swiftshader")
    });
    assert!(launched_with_options, "the function launched Chromium with the job's chromiumOptions:\n{log}");
    assert!(
        log.contains("[browser] verbose [delayRender()]"),
        "the verbose job's page console (Remotion's own verbose messages) is in the function log:\n{log}"
    );
    world.stop().await
}
