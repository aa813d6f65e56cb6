//! End to end under injected faults: the operator and the render function reach S3 and Lambda
//! through fault proxies (`remotion_tests::fault_proxy`) that answer as AWS does when it
//! throttles or fails, hold answers, and drop connections before and after the call ran.
//! Renders complete with every frame in place and every billed invocation counted; a fault
//! that cannot be retried away ends the job with a condition naming the call that failed.
//!
//! The faults are switched on once the bucket, function and site are Ready, so they hit the
//! render itself: the launch, the chunk invocations, and every S3 request of the operator and
//! of the function processes.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, ensure};
use remotion_crds::render_job::{RenderJob, RenderPhase};
use remotion_tests::TestEnv;
use remotion_tests::fault_proxy::{Fault, FaultPlan, Rule};
use remotion_tests::recording_proxy::{Recorded, RecordingProxy};
use serde_json::{Value, json};

use crate::end_to_end::{
    Endpoints, PROPS, World, condition, fixture_bundle, frame_rgb, probe, psnr, render_function_binary,
};

/// Frames 0–59 of `Intro` in chunks of 10: six chunks, so that some run remotely whatever the
/// orchestrator renders itself.
const FRAMES: u64 = 60;

fn video_spec() -> Result<Value> {
    let props: Value = serde_json::from_str(PROPS)?;
    Ok(json!({"composition": "Intro", "inputProps": props, "codec": "h264", "x264Preset": "veryfast",
              "frameRange": {"start": 0, "end": FRAMES - 1}, "framesPerLambda": 10}))
}

/// A world whose operator and function processes reach S3 and Lambda through proxies of
/// this test's own.
struct FaultyWorld {
    world: World,
    s3: RecordingProxy,
    lambda: RecordingProxy,
}

impl FaultyWorld {
    async fn new(prefix: &str, function_name: &str, processes: usize) -> Result<Self> {
        let env = TestEnv::get();
        let s3 = RecordingProxy::s3(&env.s3().endpoint).await?;
        let lambda = RecordingProxy::lambda(&env.lambda().endpoint).await?;
        let endpoints = Endpoints { s3: s3.endpoint.clone(), lambda: lambda.endpoint.clone() };
        let world = World::with_endpoints(prefix, function_name, processes, endpoints).await?;
        Ok(Self { world, s3, lambda })
    }

    /// The invocations of the render whose payload is of `payload_type`.
    fn invocations(&self, payload_type: &str) -> Vec<Recorded> {
        self.lambda.invocations().into_iter().filter(|r| r.payload_type().as_deref() == Some(payload_type)).collect()
    }

    /// Checks the job's invocation count against what reached the function: every chunk
    /// invocation that ran and the orchestrator's are counted; an invocation whose fate the
    /// orchestrator could not know (no answer, or a gateway's bare 5xx) is counted as billed.
    fn check_accounting(&self, job: &RenderJob) -> Result<()> {
        let cost = job.status.as_ref().and_then(|s| s.cost.clone()).context("cost")?;
        let renders = self.invocations("render");
        let ran = renders.iter().filter(|r| r.reached_upstream()).count() as i64;
        let unknown = renders
            .iter()
            .filter(|r| !r.reached_upstream() && r.fault.is_some_and(Fault::fate_unknown_to_caller))
            .count() as i64;
        let launches = self.invocations("launch");
        let orchestrators = 1 + self.invocations("continue").iter().filter(|r| r.reached_upstream()).count() as i64;
        let shown: Vec<String> = renders.iter().chain(&launches).map(ToString::to_string).collect();
        ensure!(
            (orchestrators + ran..=orchestrators + ran + unknown).contains(&cost.invocations),
            "{} invocations counted; {orchestrators} orchestrator runs and {ran} chunk invocations ran, \
             {unknown} more of unknown fate:\n{}",
            cost.invocations,
            shown.join("\n")
        );
        ensure!(cost.accrued_usd.parse::<f64>().is_ok_and(|c| c > 0.0), "{cost:?}");
        Ok(())
    }

    /// The output, fetched through the status URL with the faults off: every frame there, and
    /// the frames on both sides of each chunk boundary the same as the local render's.
    async fn check_output(&self, job: &RenderJob) -> Result<()> {
        self.s3.set_faults(FaultPlan::none());
        let status = job.status.clone().context("status")?;
        let progress = status.progress.clone().context("progress")?;
        ensure!(
            progress.frames_rendered == FRAMES as i64 && progress.chunks_done == progress.chunks_total,
            "{progress:?}"
        );
        let url = status.output.and_then(|o| o.url).context("output url")?;
        let dir = tempfile::tempdir()?;
        let video = dir.path().join("out.mp4");
        // Not a blocking command: the proxies it goes through run on this test's runtime.
        let fetched = tokio::process::Command::new("curl").args(["-sf", "-o"]).arg(&video).arg(&url).status().await?;
        ensure!(fetched.success(), "downloading {url}");
        let (codec, frames, ..) = probe(&video)?;
        ensure!((codec.as_str(), frames) == ("h264", FRAMES), "{codec}, {frames} frames");
        let reference = tokio::task::spawn_blocking(reference_render).await??;
        for n in [0, 9, 10, 29, 30, 49, 50, FRAMES - 1] {
            let score = psnr(&frame_rgb(&video, n)?, &frame_rgb(reference, n)?);
            ensure!(score > 40.0, "frame {n} differs from the local render's: {score:.1} dB");
        }
        // Nothing left behind: the chunks are removed once joined.
        let id = status.render_id.unwrap_or_default();
        ensure!(self.world.keys(&format!("renders/{id}/chunks/")).await?.is_empty(), "chunks left behind");
        Ok(())
    }
}

/// The local command-line render of the same frames, made once for every test.
fn reference_render() -> Result<&'static PathBuf> {
    static REFERENCE: OnceLock<std::result::Result<PathBuf, String>> = OnceLock::new();
    REFERENCE
        .get_or_init(|| {
            let render = || -> Result<PathBuf> {
                let out = tempfile::tempdir()?.keep().join("reference.mp4");
                let rendered = Command::new(render_function_binary())
                    .args(["render", "--composition", "Intro", "--x264-preset", "veryfast", "--props", PROPS])
                    .arg("--frames")
                    .arg(format!("0-{}", FRAMES - 1))
                    .arg("--serve-url")
                    .arg(fixture_bundle())
                    .arg("--out")
                    .arg(&out)
                    .output()?;
                ensure!(rendered.status.success(), "local render: {}", String::from_utf8_lossy(&rendered.stderr));
                Ok(out)
            };
            render().map_err(|e| format!("{e:#}"))
        })
        .as_ref()
        .map_err(|e| anyhow::anyhow!("{e}"))
}

/// A throttle storm: the launch is refused three times, then every chunk invocation for 8 s
/// from the first. The render completes, the throttled calls cost nothing, and the chunks that
/// ran remotely after the storm are counted.
#[tokio::test]
async fn a_render_completes_through_a_throttle_storm() -> Result<()> {
    let started = Instant::now();
    let faulty = FaultyWorld::new("faults-storm", "test-fn-13", 3).await?;
    faulty.lambda.set_faults(
        FaultPlan::seeded(13)
            .rule(Rule::every(&[Fault::Throttle]).on("Invoke").payload_type("launch").limit(3))
            .rule(Rule::every(&[Fault::Throttle]).on("Invoke").payload_type("render").storm(Duration::from_secs(8))),
    );
    let rendering = Instant::now();
    faulty.world.create_job("storm", video_spec()?).await?;
    let job = faulty.world.wait_phase("storm", RenderPhase::Succeeded, Duration::from_secs(400)).await?;
    let rendering = rendering.elapsed();

    let launches = faulty.invocations("launch");
    ensure!(
        launches.iter().filter(|r| r.fault == Some(Fault::Throttle)).count() == 3
            && launches.iter().filter(|r| r.reached_upstream()).count() == 1,
        "the launch: three throttled, then one accepted: {launches:#?}"
    );
    let throttled = faulty.invocations("render").iter().filter(|r| r.fault == Some(Fault::Throttle)).count();
    ensure!(throttled > 0, "the storm throttled no chunk: {:#?}", faulty.invocations("render"));
    // Throttling is not a failure of the chunk: no chunk used up a retry.
    let status = job.status.clone().context("status")?;
    ensure!(status.errors.is_empty(), "throttled chunks were counted as failures: {:?}", status.errors);
    faulty.check_accounting(&job)?;
    // The chunks are billed as the proxy measured them (the REPORT line of their log tail);
    // the rest is the orchestrator's own time, within the time since the world started.
    let chunks_ms: u64 = faulty.invocations("render").iter().filter_map(|r| r.billed_milliseconds).sum();
    let billed = status.cost.as_ref().context("cost")?.billed_milliseconds as u64;
    ensure!(
        billed >= chunks_ms && billed - chunks_ms <= started.elapsed().as_millis() as u64,
        "{billed} ms billed: {chunks_ms} ms of chunks, the rest more than the render's {rendering:?}"
    );
    // And the whole bill, the orchestrator's runs included, as the proxy measured it.
    let proxy_ms: u64 = ["launch", "render", "continue"]
        .iter()
        .flat_map(|t| faulty.invocations(t))
        .filter_map(|r| r.billed_milliseconds)
        .sum();
    ensure!(
        billed.abs_diff(proxy_ms) as f64 <= proxy_ms as f64 * 0.01,
        "{billed} ms billed in the status; the proxy measured {proxy_ms} ms"
    );
    faulty.check_output(&job).await?;
    eprintln!(
        "storm: proxy billed {proxy_ms} ms; {throttled} chunk invocations throttled; {billed} ms billed, {chunks_ms} ms of them chunks; {:?}",
        started.elapsed()
    );
    faulty.world.stop().await
}

/// About 5 % of every request of the render fails, with every kind of fault of its service:
/// S3 (the operator's and the function's requests) and Lambda (the launch and the chunk
/// invocations). The render completes frame-exact and every billed invocation is counted.
#[tokio::test]
async fn a_render_completes_under_random_faults_of_every_kind() -> Result<()> {
    let started = Instant::now();
    let faulty = FaultyWorld::new("faults-random", "test-fn-14", 3).await?;
    let slow = Duration::from_millis(1500);
    faulty.s3.set_faults(FaultPlan::seeded(14).rule(Rule::random(0.05, &Fault::s3_mix(slow))));
    let invocations = Fault::lambda_mix(slow);
    let mut plan = FaultPlan::seeded(15)
        // The launch's first delivery is dropped after it ran: the retried launch must not
        // start the render a second time.
        .rule(Rule::every(&[Fault::DropAfter]).on("Invoke").payload_type("launch").limit(1))
        .rule(Rule::random(0.05, &invocations).on("Invoke").payload_type("launch"))
        .rule(Rule::random(0.05, &invocations).on("Invoke").payload_type("render"));
    // And each kind once on the first chunk invocations, whatever the draw. The orchestrator
    // renders chunks itself too, so fewer chunk invocations may reach the function than there
    // are kinds: the lost answer, which the checks below are about, goes first.
    for fault in invocations.iter().rev() {
        plan = plan.rule(Rule::every(&[*fault]).on("Invoke").payload_type("render").limit(1));
    }
    faulty.lambda.set_faults(plan);
    faulty.world.create_job("random", video_spec()?).await?;
    let job = faulty.world.wait_phase("random", RenderPhase::Succeeded, Duration::from_secs(400)).await?;

    let s3_faults = faulty.s3.faults_injected();
    let lambda_faults = faulty.lambda.faults_injected();
    ensure!(s3_faults.values().sum::<u64>() >= 5, "too few S3 faults to mean anything: {s3_faults:?}");
    ensure!(lambda_faults.get("drop-after").is_some_and(|n| *n >= 2), "{lambda_faults:?}");
    // The launch ran twice (its first answer lost); the render started once.
    let launches = faulty.invocations("launch");
    ensure!(launches.iter().filter(|r| r.reached_upstream()).count() >= 2, "{launches:#?}");
    let id = job.status.as_ref().and_then(|s| s.render_id.clone()).context("render id")?;
    let doc = TestEnv::get()
        .s3()
        .client()
        .await
        .get_object()
        .bucket(&faulty.world.bucket)
        .key(format!("renders/{id}/progress.json"))
        .send()
        .await?;
    let doc: Value = serde_json::from_slice(&doc.body.collect().await?.into_bytes())?;
    ensure!(doc["continuations"].as_u64().unwrap_or(0) == 0, "{doc}");
    faulty.check_accounting(&job)?;
    faulty.check_output(&job).await?;
    eprintln!("random faults: S3 {s3_faults:?}, Lambda {lambda_faults:?}; {:?}", started.elapsed());
    faulty.world.stop().await
}

/// S3 refuses every upload of the output: the store's retries exhausted, the job fails with a
/// condition naming the upload, and the chunk objects are cleaned up.
#[tokio::test]
async fn an_output_upload_that_keeps_failing_ends_the_job_naming_the_upload() -> Result<()> {
    let faulty = FaultyWorld::new("faults-upload", "test-fn-15", 2).await?;
    faulty.s3.set_faults(
        FaultPlan::none()
            .rule(Rule::every(&[Fault::SlowDown, Fault::InternalError]).on("PutObject").key_contains("/out.")),
    );
    let mut spec = video_spec()?;
    spec["frameRange"] = json!({"start": 0, "end": 19});
    faulty.world.create_job("upload", spec).await?;
    let job = faulty.world.wait_phase("upload", RenderPhase::Failed, Duration::from_secs(300)).await?;
    let (status, reason, message) = condition(&job, "Failed").context("a Failed condition")?;
    ensure!(status == "True", "{reason}: {message}");
    let output_key = job.status.as_ref().and_then(|s| s.render_id.clone()).map(|id| format!("renders/{id}/out.mp4"));
    let output_key = output_key.context("render id")?;
    ensure!(
        message.contains(&output_key) && (message.contains("SlowDown") || message.contains("InternalError")),
        "the condition names the upload and S3's answer: {reason}: {message}"
    );
    let refused = faulty.s3.recorded().iter().filter(|r| r.fault.is_some()).count();
    ensure!(refused >= 2, "the upload was retried before giving up: {refused} attempts");
    faulty.world.stop().await
}

/// Lambda throttles every delivery of the launch: after the operator's retries the job fails,
/// naming the launch and Lambda's answer.
#[tokio::test]
async fn a_launch_throttled_past_its_retries_ends_the_job_naming_the_launch() -> Result<()> {
    let faulty = FaultyWorld::new("faults-launch", "test-fn-16", 1).await?;
    faulty
        .lambda
        .set_faults(FaultPlan::none().rule(Rule::every(&[Fault::Throttle]).on("Invoke").payload_type("launch")));
    faulty.world.create_job("launch", video_spec()?).await?;
    let job = faulty.world.wait_phase("launch", RenderPhase::Failed, Duration::from_secs(120)).await?;
    let (_, reason, message) = condition(&job, "Failed").context("a Failed condition")?;
    ensure!(
        reason == "LaunchFailed" && message.contains("launch") && message.contains("TooManyRequestsException"),
        "{reason}: {message}"
    );
    let launches = faulty.invocations("launch");
    ensure!(launches.len() > 1 && launches.iter().all(|r| !r.reached_upstream()), "{launches:#?}");
    faulty.world.stop().await
}
