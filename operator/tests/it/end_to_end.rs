//! End to end: every controller of the operator and the real render function, through the real
//! API server, SeaweedFS and the Lambda emulator. A RenderJob applied to the API server becomes a
//! video in the bucket, rendered by Chromium and FFmpeg in function processes, with its status
//! followed to the end — or stopped on cancel, or failed with a clear condition.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::common::{Operator, eventually, test_secrets};
use anyhow::{Context as _, Result, bail, ensure};
use aws_sdk_s3::primitives::ByteStream;
use kube::Client;
use kube::api::{Api, Patch, PatchParams, PostParams};
use remotion_crds::remotion_site::RemotionSite;
use remotion_crds::render_function::RenderFunction;
use remotion_crds::render_job::{RenderJob, RenderPhase};
use remotion_tests::TestEnv;
use remotion_tests::process::Spawned;
use serde_json::{Value, json};

pub(crate) const PROPS: &str = r##"{"titleText":"End to end","titleColor":"#33ccff"}"##;

/// The render function binary of this workspace (built by `cargo test --workspace` beside the
/// operator's binaries).
pub(crate) fn render_function_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).expect("target profile folder");
    let binary = profile_dir.join("remotion-function");
    assert!(
        binary.is_file(),
        "{} is missing: build it with `cargo build -p remotion-function` (cargo test --workspace does)",
        binary.display()
    );
    binary
}

pub(crate) fn fixture_bundle() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/remotion-project/build");
    assert!(dir.join("index.html").is_file(), "{} is missing: run scripts/install-deps.sh", dir.display());
    dir
}

/// One test's world: a namespace, a bucket with the bundle archive, `processes` render function
/// processes under `function_name`, the operator's controllers, and a Ready bucket, function
/// and site made by those controllers.
pub(crate) struct World {
    client: Client,
    pub(crate) namespace: String,
    pub(crate) bucket: String,
    function_name: String,
    processes: usize,
    pub(crate) jobs: Api<RenderJob>,
    operator: Option<Operator>,
    /// The Secrets the operator reads (the API server stand-in has no core types).
    pub(crate) secrets: std::sync::Arc<remotion_operator::aws::StaticSecrets>,
    functions: Vec<Spawned>,
    /// The S3 and Lambda endpoints the operator and the function processes are given.
    endpoints: Endpoints,
}

/// Where the operator and the render function reach S3 and Lambda.
#[derive(Clone, Debug)]
pub(crate) struct Endpoints {
    pub(crate) s3: String,
    pub(crate) lambda: String,
}

impl World {
    pub(crate) async fn new(prefix: &str, function_name: &str, processes: usize) -> Result<Self> {
        let env = TestEnv::get();
        let endpoints = Endpoints { s3: env.s3().endpoint.clone(), lambda: env.lambda().endpoint.clone() };
        Self::with_endpoints(prefix, function_name, processes, endpoints).await
    }

    /// Like [`World::new`], with the operator and the function processes reaching S3 and
    /// Lambda at `endpoints` (e.g. a proxy in front of the stand-ins).
    pub(crate) async fn with_endpoints(
        prefix: &str,
        function_name: &str,
        processes: usize,
        endpoints: Endpoints,
    ) -> Result<Self> {
        let env = TestEnv::get();
        let client = env.kube_client().await?;
        let namespace = env.unique_name(prefix);
        let bucket = env.s3().create_test_bucket(prefix).await?;
        let s3 = env.s3().client().await;

        // The site's archive, as a CI pipeline would publish it.
        let archive = tempfile::tempdir()?.keep().join("site.tar.gz");
        let status =
            Command::new("tar").arg("-C").arg(fixture_bundle()).args(["-czf"]).arg(&archive).arg(".").status()?;
        ensure!(status.success(), "packing the fixture bundle");
        s3.put_object()
            .bucket(&bucket)
            .key("uploads/site.tar.gz")
            .body(ByteStream::from_path(&archive).await?)
            .send()
            .await?;

        let functions = spawn_functions(&endpoints, function_name, processes, 2048)?;
        let secrets = test_secrets(&namespace);
        let operator = Operator::start(client.clone(), secrets.clone(), &namespace).await?;
        let world = Self {
            secrets,
            jobs: Api::namespaced(client.clone(), &namespace),
            client,
            namespace,
            bucket,
            function_name: function_name.to_owned(),
            processes,
            operator: Some(operator),
            functions,
            endpoints,
        };
        world.infrastructure().await?;
        Ok(world)
    }

    /// Adds the RenderFunction `name` over `processes` more function processes serving
    /// `function_name` with `memory_mb`; returns their logs.
    pub(crate) async fn add_function(
        &mut self,
        name: &str,
        function_name: &str,
        processes: usize,
        memory_mb: i32,
    ) -> Result<Vec<PathBuf>> {
        let spawned = spawn_functions(&self.endpoints, function_name, processes, memory_mb)?;
        let logs = spawned.iter().map(|f| f.log.clone()).collect();
        self.functions.extend(spawned);
        let mut function = Self::access(&self.endpoints.lambda);
        function["management"] = json!("Existing");
        function["functionName"] = json!(function_name);
        function["memorySizeMb"] = json!(memory_mb);
        function["diskSizeMb"] = json!(2048);
        function["timeoutSeconds"] = json!(300);
        function["maxConcurrentInvocations"] = json!(processes);
        self.apply(&json!({"apiVersion": "remotion-operator.io/v1alpha1", "kind": "RenderFunction",
                           "metadata": {"name": name}, "spec": function}))
            .await?;
        let functions: Api<RenderFunction> = Api::namespaced(self.client.clone(), &self.namespace);
        eventually(&format!("RenderFunction {name} is Ready"), Duration::from_secs(120), || async {
            let status = functions.get(name).await?.status.unwrap_or_default();
            Ok(status.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True").then_some(()))
        })
        .await
        .map(|()| logs)
    }

    pub(crate) fn access(endpoint: &str) -> Value {
        json!({"region": "us-east-1", "endpoint": endpoint,
               "credentials": {"secretRef": {"name": crate::common::CREDENTIALS_SECRET}}})
    }

    /// Applies the bucket, the function and the site, and waits until the operator has made
    /// them Ready (the site with its compositions listed by the real function).
    async fn infrastructure(&self) -> Result<()> {
        let mut bucket = Self::access(&self.endpoints.s3);
        bucket["bucketName"] = json!(self.bucket);
        let mut function = Self::access(&self.endpoints.lambda);
        function["management"] = json!("Existing");
        function["functionName"] = json!(self.function_name);
        function["memorySizeMb"] = json!(2048);
        function["diskSizeMb"] = json!(2048);
        function["timeoutSeconds"] = json!(300);
        // The emulator runs one invocation per process and queues the rest.
        function["maxConcurrentInvocations"] = json!(self.processes);
        let objects = [
            json!({"apiVersion": "remotion-operator.io/v1alpha1", "kind": "LambdaBucket",
                   "metadata": {"name": "bucket"}, "spec": bucket}),
            json!({"apiVersion": "remotion-operator.io/v1alpha1", "kind": "RenderFunction",
                   "metadata": {"name": "renderer"}, "spec": function}),
            json!({"apiVersion": "remotion-operator.io/v1alpha1", "kind": "RemotionSite",
                   "metadata": {"name": "fixture"},
                   "spec": {"bucketRef": {"name": "bucket"}, "functionRef": {"name": "renderer"},
                            "source": {"s3": {"bucket": self.bucket, "key": "uploads/site.tar.gz"}}}}),
        ];
        for object in objects {
            self.apply(&object).await?;
        }
        let sites: Api<RemotionSite> = Api::namespaced(self.client.clone(), &self.namespace);
        eventually("the site is Ready with its compositions", Duration::from_secs(180), || async {
            let site = sites.get("fixture").await?;
            let status = site.status.unwrap_or_default();
            let ready = status.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True");
            Ok((ready && !status.compositions.is_empty()).then_some(()))
        })
        .await
    }

    pub(crate) async fn apply(&self, object: &Value) -> Result<()> {
        let kind = object["kind"].as_str().context("kind")?;
        let name = object["metadata"]["name"].as_str().context("name")?;
        let resource = kube::discovery::ApiResource {
            group: "remotion-operator.io".into(),
            version: "v1alpha1".into(),
            api_version: "remotion-operator.io/v1alpha1".into(),
            kind: kind.into(),
            plural: format!("{}s", kind.to_lowercase()),
        };
        let api: Api<kube::api::DynamicObject> = Api::namespaced_with(self.client.clone(), &self.namespace, &resource);
        api.patch(name, &PatchParams::apply("end-to-end-test").force(), &Patch::Apply(object)).await?;
        Ok(())
    }

    pub(crate) async fn create_job(&self, name: &str, spec: Value) -> Result<RenderJob> {
        let mut spec = spec;
        spec["siteRef"] = json!({"name": "fixture"});
        spec["functionRef"] = json!({"name": "renderer"});
        let job = serde_json::from_value(json!({"apiVersion": "remotion-operator.io/v1alpha1", "kind": "RenderJob",
            "metadata": {"name": name}, "spec": spec}))?;
        Ok(self.jobs.create(&PostParams::default(), &job).await?)
    }

    pub(crate) async fn wait_phase(&self, name: &str, phase: RenderPhase, timeout: Duration) -> Result<RenderJob> {
        eventually(&format!("{name} reaches {phase:?}"), timeout, || async {
            let job = self.jobs.get(name).await?;
            let now = job.status.as_ref().and_then(|s| s.phase);
            if now == Some(phase) {
                return Ok(Some(job));
            }
            if now.is_some_and(|p| p.is_terminal()) {
                bail!("{name} ended {now:?} instead: {:?}", job.status);
            }
            Ok(None)
        })
        .await
    }

    /// `kubectl wait --for=condition=<condition>` on a job, as a user would run it.
    fn kubectl_wait(&self, name: &str, condition: &str) -> Result<()> {
        let env = TestEnv::get();
        let out = Command::new("kubectl")
            .env("KUBECONFIG", &env.kube().kubeconfig)
            .args(["wait", &format!("--for=condition={condition}"), "--timeout=300s", "-n", &self.namespace])
            .arg(format!("renderjob/{name}"))
            .output()
            .context("running kubectl")?;
        ensure!(
            out.status.success(),
            "kubectl wait --for=condition={condition} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(())
    }

    pub(crate) async fn keys(&self, prefix: &str) -> Result<Vec<String>> {
        let s3 = TestEnv::get().s3().client().await;
        let out = s3.list_objects_v2().bucket(&self.bucket).prefix(prefix).send().await?;
        Ok(out.contents().iter().filter_map(|o| o.key().map(str::to_owned)).collect())
    }

    /// The logs of the world's render function processes (stdout and stderr).
    pub(crate) fn function_logs(&self) -> Vec<PathBuf> {
        self.functions.iter().map(|f| f.log.clone()).collect()
    }

    pub(crate) async fn stop(mut self) -> Result<()> {
        if let Some(operator) = self.operator.take() {
            operator.stop().await?;
        }
        for f in &mut self.functions {
            f.check_alive("render function")?;
        }
        Ok(())
    }
}

/// `processes` render function processes serving `function_name` with `memory_mb`, reaching
/// S3 and Lambda at `endpoints`.
fn spawn_functions(
    endpoints: &Endpoints,
    function_name: &str,
    processes: usize,
    memory_mb: i32,
) -> Result<Vec<Spawned>> {
    let vars = [
        ("AWS_ACCESS_KEY_ID", remotion_tests::s3::ACCESS_KEY),
        ("AWS_SECRET_ACCESS_KEY", remotion_tests::s3::SECRET_KEY),
        ("AWS_REGION", remotion_tests::s3::REGION),
        ("AWS_ENDPOINT_URL_S3", endpoints.s3.as_str()),
        ("AWS_ENDPOINT_URL_LAMBDA", endpoints.lambda.as_str()),
    ];
    let binary = render_function_binary();
    let memory = u32::try_from(memory_mb)?;
    (0..processes).map(|_| TestEnv::get().spawn_function(&binary, function_name, memory, &vars)).collect()
}

pub(crate) fn condition(job: &RenderJob, type_: &str) -> Option<(String, String, String)> {
    job.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
}

pub(crate) fn probe(path: &Path) -> Result<(String, u64, u64, u64, f64)> {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-count_frames", "-show_entries"])
        .args(["stream=codec_name,nb_read_frames,width,height:format=duration", "-of", "json"])
        .arg(path)
        .output()?;
    let v: Value = serde_json::from_slice(&out.stdout)?;
    let s = &v["streams"][0];
    Ok((
        s["codec_name"].as_str().unwrap_or_default().to_owned(),
        s["nb_read_frames"].as_str().and_then(|n| n.parse().ok()).unwrap_or(0),
        s["width"].as_u64().unwrap_or(0),
        s["height"].as_u64().unwrap_or(0),
        v["format"]["duration"].as_str().and_then(|d| d.parse().ok()).unwrap_or(0.0),
    ))
}

/// Frame `n` of a video as raw RGB24.
pub(crate) fn frame_rgb(video: &Path, n: u64) -> Result<Vec<u8>> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(video)
        .args(["-vf", &format!("select=eq(n\\,{n})"), "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        .output()?;
    ensure!(out.status.success() && !out.stdout.is_empty(), "extracting frame {n} of {}", video.display());
    Ok(out.stdout)
}

pub(crate) fn psnr(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len());
    let mse = a.iter().zip(b).map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2)).sum::<f64>() / a.len() as f64;
    10.0 * (255.0f64 * 255.0 / mse.max(1e-9)).log10()
}

#[tokio::test]
async fn a_render_job_becomes_a_frame_exact_video_and_kubectl_wait_sees_it() -> Result<()> {
    let world = World::new("e2e-video", "test-fn-20", 3).await?;
    let props: Value = serde_json::from_str(PROPS)?;
    world
        .create_job(
            "intro",
            json!({"composition": "Intro", "inputProps": props, "codec": "h264", "x264Preset": "veryfast",
                   "frameRange": {"start": 0, "end": 59}, "framesPerLambda": 20}),
        )
        .await?;
    let kubectl = {
        let (namespace, kubeconfig) = (world.namespace.clone(), TestEnv::get().kube().kubeconfig.clone());
        tokio::task::spawn_blocking(move || {
            Command::new("kubectl")
                .env("KUBECONFIG", kubeconfig)
                .args(["wait", "--for=condition=Succeeded", "--timeout=300s", "-n", &namespace, "renderjob/intro"])
                .output()
        })
    };
    let job = world.wait_phase("intro", RenderPhase::Succeeded, Duration::from_secs(300)).await?;
    let waited = kubectl.await??;
    ensure!(waited.status.success(), "kubectl wait: {}", String::from_utf8_lossy(&waited.stderr));

    let status = job.status.clone().context("status")?;
    assert_eq!(condition(&job, "Succeeded").map(|c| c.0).as_deref(), Some("True"));
    assert_eq!(condition(&job, "Ready").map(|c| c.0).as_deref(), Some("True"));
    let progress = status.progress.clone().context("progress")?;
    assert_eq!((progress.percent, progress.chunks_done, progress.chunks_total), (100, 3, 3));
    let cost = status.cost.clone().context("cost")?;
    // The orchestrator, and the chunks it did not render itself (it holds one of the three slots
    // and renders chunks too).
    assert!((2..=4).contains(&cost.invocations), "3 chunks and the orchestrator: {cost:?}");
    assert!(cost.accrued_usd.parse::<f64>().is_ok_and(|c| c > 0.0), "{cost:?}");

    // The output, fetched through the URL in the status like a user would.
    let output = status.output.clone().context("output")?;
    let url = output.url.clone().context("output url")?;
    let dir = tempfile::tempdir()?;
    let video = dir.path().join("intro.mp4");
    let fetched = Command::new("curl").args(["-sf", "-o"]).arg(&video).arg(&url).status()?;
    ensure!(fetched.success(), "downloading {url}");
    let (codec, frames, width, height, duration) = probe(&video)?;
    assert_eq!((codec.as_str(), frames, width, height), ("h264", 60, 1920, 1080));
    assert!((duration - 2.0).abs() < 0.05, "60 frames at 30 fps: {duration} s");
    assert_eq!(output.size_bytes, std::fs::metadata(&video)?.len() as i64);

    // The same frames as the local command-line render of the same bundle and props.
    let local = dir.path().join("local.mp4");
    let rendered = Command::new(render_function_binary())
        .args(["render", "--composition", "Intro", "--frames", "0-59", "--x264-preset", "veryfast", "--props", PROPS])
        .arg("--serve-url")
        .arg(fixture_bundle())
        .arg("--out")
        .arg(&local)
        .output()?;
    ensure!(rendered.status.success(), "local render: {}", String::from_utf8_lossy(&rendered.stderr));
    for n in [0u64, 19, 20, 45, 59] {
        let score = psnr(&frame_rgb(&video, n)?, &frame_rgb(&local, n)?);
        assert!(score > 40.0, "frame {n} of the Lambda render matches the local render: {score:.1} dB");
    }
    assert!(world.keys(&format!("renders/{}/chunks/", status.render_id.unwrap_or_default())).await?.is_empty());
    world.stop().await
}

#[tokio::test]
async fn an_unknown_composition_fails_with_a_clear_condition() -> Result<()> {
    let world = World::new("e2e-unknown", "test-fn-21", 1).await?;
    world.create_job("nope", json!({"composition": "DoesNotExist", "codec": "h264"})).await?;
    let blocking = {
        let (namespace, kubeconfig) = (world.namespace.clone(), TestEnv::get().kube().kubeconfig.clone());
        tokio::task::spawn_blocking(move || {
            Command::new("kubectl")
                .env("KUBECONFIG", kubeconfig)
                .args(["wait", "--for=condition=Failed", "--timeout=120s", "-n", &namespace, "renderjob/nope"])
                .output()
        })
    };
    let job = world.wait_phase("nope", RenderPhase::Failed, Duration::from_secs(120)).await?;
    let waited = blocking.await??;
    ensure!(
        waited.status.success(),
        "kubectl wait --for=condition=Failed: {}",
        String::from_utf8_lossy(&waited.stderr)
    );
    let (status, reason, message) = condition(&job, "Failed").context("a Failed condition")?;
    assert_eq!(status, "True");
    assert!(message.contains("DoesNotExist") && message.contains("Intro"), "{reason}: {message}");
    assert_eq!(condition(&job, "Ready").map(|c| c.0).as_deref(), Some("False"));
    world.kubectl_wait("nope", "Failed")?;
    world.stop().await
}

#[tokio::test]
async fn cancel_mid_render_ends_cancelled_with_the_chunks_stopped() -> Result<()> {
    let world = World::new("e2e-cancel", "test-fn-22", 3).await?;
    // Long chunks of a small composition: far longer than the test waits.
    world
        .create_job(
            "long",
            json!({"composition": "Tiny", "codec": "h264", "frameRange": {"start": 0, "end": 2999},
                   "framesPerLambda": 1000}),
        )
        .await?;
    eventually("the render is under way", Duration::from_secs(180), || async {
        let job = world.jobs.get("long").await?;
        let stage = job.status.and_then(|s| s.progress).map(|p| p.stage);
        Ok((stage.as_deref() == Some("rendering")).then_some(()))
    })
    .await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    world.jobs.patch("long", &PatchParams::default(), &Patch::Merge(json!({"spec": {"cancel": true}}))).await?;
    let job = world.wait_phase("long", RenderPhase::Cancelled, Duration::from_secs(60)).await?;
    let status = job.status.context("status")?;
    assert!(status.output.is_none() || status.output.as_ref().is_some_and(|o| o.url.is_none()));
    let id = status.render_id.context("render id")?;
    eventually("the chunk objects are gone", Duration::from_secs(20), || async {
        Ok(world.keys(&format!("renders/{id}/chunks/")).await?.is_empty().then_some(()))
    })
    .await?;
    // The renderers stopped: both answer at once instead of rendering on.
    let lambda = TestEnv::get().lambda().client();
    let started = std::time::Instant::now();
    let info = json!({"type": "info"});
    let (a, b) = tokio::join!(
        remotion_tests::lambda::invoke(&lambda, &world.function_name, &info),
        remotion_tests::lambda::invoke(&lambda, &world.function_name, &info)
    );
    ensure!(a?.is_ok() && b?.is_ok(), "info after cancel");
    assert!(started.elapsed() < Duration::from_secs(10), "renderers still busy: {:?}", started.elapsed());
    world.stop().await
}

#[tokio::test]
async fn an_operator_restarted_mid_render_follows_it_without_launching_again() -> Result<()> {
    let mut world = World::new("e2e-restart", "test-fn-23", 3).await?;
    world
        .create_job(
            "restart",
            json!({"composition": "Intro", "codec": "h264", "x264Preset": "veryfast",
                   "frameRange": {"start": 0, "end": 59}, "framesPerLambda": 20}),
        )
        .await?;
    eventually("the render is under way", Duration::from_secs(180), || async {
        let job = world.jobs.get("restart").await?;
        let stage = job.status.and_then(|s| s.progress).map(|p| p.stage);
        Ok((stage.as_deref() == Some("rendering")).then_some(()))
    })
    .await?;
    world.operator.take().context("operator")?.stop().await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    world.operator =
        Some(Operator::start(world.client.clone(), test_secrets(&world.namespace), &world.namespace).await?);
    let job = world.wait_phase("restart", RenderPhase::Succeeded, Duration::from_secs(300)).await?;
    assert_eq!(job.status.and_then(|s| s.progress).map(|p| p.frames_rendered), Some(60));
    // The function logs a repeated launch; there must be none.
    for f in &world.functions {
        let log = std::fs::read_to_string(&f.log).unwrap_or_default();
        assert!(!log.contains("already launched"), "the restarted operator launched again:\n{log}");
    }
    world.stop().await
}

/// The scenario that used to deadlock: more renders at once than the function has processes.
/// Each orchestrator held a process while its chunk invocations queued behind the others'.
#[tokio::test]
async fn five_renders_at_once_on_three_processes_all_succeed() -> Result<()> {
    let world = World::new("e2e-five", "test-fn-26", 3).await?;
    let props: Value = serde_json::from_str(PROPS)?;
    let video = json!({"composition": "Intro", "inputProps": props, "codec": "h264", "x264Preset": "veryfast",
                       "frameRange": {"start": 0, "end": 29}, "framesPerLambda": 10});
    let still = json!({"composition": "Intro", "inputProps": props, "still": {"frame": 20, "imageFormat": "jpeg"}});
    let names = ["video-a", "still-a", "video-b", "video-c", "still-b"];
    for name in names {
        world.create_job(name, if name.starts_with("video") { video.clone() } else { still.clone() }).await?;
    }
    for name in names {
        let job = world.wait_phase(name, RenderPhase::Succeeded, Duration::from_secs(420)).await?;
        let status = job.status.context("status")?;
        let slots = status.invocation_slots.context("invocation slots")?;
        ensure!((1..=3).contains(&slots), "{name} held {slots} slots of 3");
        let progress = status.progress.context("progress")?;
        let frames = if name.starts_with("video") { 30 } else { 1 };
        ensure!(progress.frames_total == frames && progress.frames_rendered == frames, "{name}: {progress:?}");
        // Chunks cut off or retried for any other reason are what this test is for. A Chromium
        // that crashes (the single-process mode the image once ran did, starved of CPU) has
        // its chunk retried, which is the behaviour wanted, not a deadlock.
        let unexpected: Vec<_> = status.errors.iter().filter(|e| !is_browser_crash(&e.message)).collect();
        ensure!(unexpected.is_empty(), "{name} had errors (chunks cut off or retried): {:?}", status.errors);
        if !status.errors.is_empty() {
            eprintln!("{name}: a chunk was retried after its Chromium crashed: {:?}", status.errors);
        }
    }
    world.stop().await
}

/// A chunk error that says its browser went away under it (`capture::browser`).
fn is_browser_crash(message: &str) -> bool {
    message.starts_with("BrowserCrashed") && message.contains("connection to Chromium was lost")
}

#[tokio::test]
async fn a_still_render_job_becomes_the_same_image_as_the_local_still() -> Result<()> {
    let world = World::new("e2e-still", "test-fn-24", 1).await?;
    let props: Value = serde_json::from_str(PROPS)?;
    world
        .create_job(
            "poster",
            json!({"composition": "Intro", "inputProps": props,
                                     "still": {"frame": 95, "imageFormat": "png"}}),
        )
        .await?;
    let job = world.wait_phase("poster", RenderPhase::Succeeded, Duration::from_secs(180)).await?;
    world.kubectl_wait("poster", "Succeeded")?;
    let status = job.status.clone().context("status")?;
    let progress = status.progress.clone().context("progress")?;
    assert_eq!((progress.percent, progress.frames_rendered, progress.frames_total), (100, 1, 1));
    let cost = status.cost.clone().context("cost")?;
    assert_eq!(cost.invocations, 1, "the orchestrator renders a still itself: {cost:?}");
    assert!(cost.accrued_usd.parse::<f64>().is_ok_and(|c| c > 0.0), "{cost:?}");
    let output = status.output.clone().context("output")?;
    assert_eq!(output.content_type, "image/png");
    assert!(output.s3_uri.ends_with(".png"), "{}", output.s3_uri);

    // Fetched through the status URL, byte for byte what the local CLI renders.
    let url = output.url.clone().context("output url")?;
    let dir = tempfile::tempdir()?;
    let fetched_path = dir.path().join("poster.png");
    let fetched = Command::new("curl").args(["-sf", "-o"]).arg(&fetched_path).arg(&url).status()?;
    ensure!(fetched.success(), "downloading {url}");
    let local_path = dir.path().join("local.png");
    let rendered = Command::new(render_function_binary())
        .args(["still", "--composition", "Intro", "--frame", "95", "--image-format", "png", "--props", PROPS])
        .arg("--serve-url")
        .arg(fixture_bundle())
        .arg("--out")
        .arg(&local_path)
        .output()?;
    ensure!(rendered.status.success(), "local still: {}", String::from_utf8_lossy(&rendered.stderr));
    let (remote, local) = (image::open(&fetched_path)?.to_rgba8(), image::open(&local_path)?.to_rgba8());
    assert_eq!(remote.dimensions(), (1920, 1080));
    assert!(remote.as_raw() == local.as_raw(), "the RenderJob's still differs from the local still of frame 95");
    assert_eq!(output.size_bytes, std::fs::metadata(&fetched_path)?.len() as i64);
    world.stop().await
}
