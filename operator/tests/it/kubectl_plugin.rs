//! The `kubectl remotion` plugin (`kubectl-remotion/`), run as a user runs it: the built binary
//! as a subprocess, with a kubeconfig pointing at the stand-in API server and no terminal.
//!
//! Most tests use the RenderJob controller with the scripted fake function of
//! [`crate::job_world`] (seconds per render); one renders a real video and still with the real
//! function and every controller, like `end_to_end.rs`.

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, SystemTime};

use crate::common::{Operator, eventually, test_secrets};
use crate::job_world::{JobOperator, WAIT, World, tuning};
use anyhow::{Context as _, Result, ensure};
use aws_sdk_s3::primitives::ByteStream;
use kube::api::{Api, Patch, PatchParams};
use remotion_crds::RemotionSite;
use remotion_crds::render_job::{RenderJob, RenderPhase};
use remotion_tests::TestEnv;
use serde_json::{Value, json};
use tokio::process::{Child, Command};

/// Longest a plugin command may take in these tests.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(300);

/// The plugin binary beside this test binary (`target/<profile>/kubectl-remotion`), built first
/// when missing or older than its sources (`cargo test --workspace` builds it; `cargo test -p
/// remotion-operator` alone does not).
fn plugin_binary() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let exe = std::env::current_exe().expect("test binary path");
            let profile_dir = exe.parent().and_then(Path::parent).expect("target profile folder");
            let binary = profile_dir.join("kubectl-remotion");
            let sources = Path::new(env!("CARGO_MANIFEST_DIR")).join("../kubectl-remotion/src");
            if modified(&binary).is_none_or(|built| newest(&sources).is_some_and(|source| source > built)) {
                let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
                let mut build = std::process::Command::new(cargo);
                build.args(["build", "-p", "kubectl-remotion"]);
                if profile_dir.file_name().is_some_and(|p| p == "release") {
                    build.arg("--release");
                }
                let status = build.status().expect("running cargo build -p kubectl-remotion");
                assert!(status.success(), "cargo build -p kubectl-remotion failed");
            }
            assert!(binary.is_file(), "{} is missing after building it", binary.display());
            binary
        })
        .clone()
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

fn newest(dir: &Path) -> Option<SystemTime> {
    std::fs::read_dir(dir).ok()?.flatten().filter_map(|e| modified(&e.path())).max()
}

/// The plugin pointed at the stand-in API server and one namespace, run in a folder of its own
/// (where `out/` lands).
struct Plugin {
    namespace: String,
    dir: tempfile::TempDir,
}

impl Plugin {
    fn new(namespace: &str) -> Result<Self> {
        Ok(Self { namespace: namespace.to_owned(), dir: tempfile::tempdir()? })
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(plugin_binary());
        command
            .arg("--kubeconfig")
            .arg(&TestEnv::get().kube().kubeconfig)
            .args(["-n", &self.namespace])
            .args(args)
            .current_dir(self.dir.path())
            .env_remove("KUBECONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        command
    }

    async fn run(&self, args: &[&str]) -> Result<Run> {
        Run::wait(self.command(args).spawn()?).await
    }
}

/// A finished plugin command.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    async fn wait(child: Child) -> Result<Self> {
        let output: Output = tokio::time::timeout(COMMAND_TIMEOUT, child.wait_with_output())
            .await
            .context("the plugin did not finish in time")??;
        Ok(Self {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        })
    }

    /// The job the command created (`Created renderjob/<name> …` on stderr).
    fn created(&self) -> Result<String> {
        let rest =
            self.stderr.split("Created renderjob/").nth(1).with_context(|| format!("no job created:\n{self}"))?;
        Ok(rest.split_whitespace().next().unwrap_or_default().to_owned())
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit {:?}\n--- stdout\n{}--- stderr\n{}", self.code, self.stdout, self.stderr)
    }
}

/// Waits until the only job of the namespace is rendering; returns its name.
async fn rendering_job(world: &World) -> Result<String> {
    eventually("a job is rendering", WAIT, || async {
        let jobs = world.jobs.list(&Default::default()).await?.items;
        Ok(jobs
            .into_iter()
            .find(|j| j.status.as_ref().and_then(|s| s.progress.as_ref()).is_some_and(|p| p.percent > 0))
            .and_then(|j| j.metadata.name))
    })
    .await
}

#[tokio::test]
async fn render_shows_progress_then_a_summary_and_downloads_the_output() -> Result<()> {
    let world = World::new("kp-render", "test-fn-30", &["succeed"], 60).await?;
    let operator = JobOperator::start(&world.client, &world.namespace, tuning()).await;
    let plugin = Plugin::new(&world.namespace)?;
    // No --function: the namespace's only RenderFunction. No --out: out/<job>.<ext>, as Remotion.
    let run = plugin.run(&["render", "site", "succeed", "--props", r#"{"steps": 6, "intervalMs": 300}"#]).await?;
    ensure!(run.code == Some(0), "{run}");
    let name = run.created()?;
    assert!(name.starts_with("succeed-"), "a generated name: {name}");
    let job = world.jobs.get(&name).await?;
    let status = job.status.clone().context("status")?;
    let output = status.output.clone().context("output")?;

    // Progress without a terminal: plain lines on stderr; the summary on stdout.
    assert!(run.stderr.contains("] Rendering ") && run.stderr.contains("frames "), "{run}");
    assert!(run.stdout.starts_with(&format!("Done: renderjob/{name} succeeded in ")), "{run}");
    let cost = status.cost.context("cost")?;
    assert!(run.stdout.contains(&format!("Cost:    ${}", cost.accrued_usd)), "{run}");
    assert!(run.stdout.contains(&output.s3_uri) && run.stdout.contains("URL:     http"), "{run}");
    let saved = plugin.dir.path().join("out").join(format!("{name}.mp4"));
    assert!(run.stdout.contains(&format!("Saved:   out/{name}.mp4")), "{run}");
    assert_eq!(std::fs::metadata(&saved)?.len() as i64, output.size_bytes);
    assert!(!saved.with_extension("mp4.part").exists());

    // The flags reached the spec.
    assert_eq!(job.spec.input_props, Some(json!({"steps": 6, "intervalMs": 300})));
    assert_eq!(job.spec.function_ref.name, "renderer");
    operator.stop().await
}

#[tokio::test]
async fn a_failed_render_exits_non_zero_with_the_reason_and_logs_tells_the_story() -> Result<()> {
    let world = World::new("kp-fail", "test-fn-31", &["fail"], 60).await?;
    let operator = JobOperator::start(&world.client, &world.namespace, tuning()).await;
    let plugin = Plugin::new(&world.namespace)?;
    let out = plugin.dir.path().join("never.mp4");
    let run = plugin
        .run(&[
            "render",
            "site",
            "fail",
            "--name",
            "broken",
            "--out",
            out.to_str().context("path")?,
            "--props",
            r#"{"steps": 4, "intervalMs": 200}"#,
        ])
        .await?;
    ensure!(run.code == Some(1), "{run}");
    let job = world.jobs.get("broken").await?;
    let status = job.status.clone().context("status")?;
    assert_eq!(status.phase, Some(RenderPhase::Failed));
    let (_, reason, message) = crate::job_world::condition(&job, "Failed");
    assert!(run.stderr.contains(&format!("renderjob/broken Failed ({reason}): {message}")), "{run}");
    assert!(!status.errors.is_empty() && run.stderr.contains("Recent errors (newest first):"), "{run}");
    assert!(run.stderr.contains(&status.errors[0].message), "{run}");
    assert!(!out.exists(), "nothing downloaded");

    // logs: the conditions, the errors and the Events about the job, oldest first.
    let events = world.events("broken").await?;
    ensure!(!events.is_empty(), "the operator wrote Events about the job");
    let logs = plugin.run(&["logs", "broken"]).await?;
    ensure!(logs.code == Some(0), "{logs}");
    assert!(logs.stdout.starts_with("RenderJob broken (fail of site site, function renderer): Failed"), "{logs}");
    let failed = logs.stdout.lines().find(|l| l.starts_with("  Failed ")).with_context(|| format!("{logs}"))?;
    assert_eq!(failed.split_whitespace().take(3).collect::<Vec<_>>(), ["Failed", "True", reason.as_str()], "{logs}");
    assert!(logs.stdout.contains(&status.errors[0].message), "{logs}");
    let listed = logs.stdout.split("Events:\n").nth(1).context("an Events section")?;
    for (type_, reason) in &events {
        assert!(listed.contains(type_.as_str()) && listed.contains(reason.as_str()), "{reason}: {logs}");
    }
    operator.stop().await
}

#[tokio::test]
async fn sites_lists_the_compositions_and_cancel_stops_a_render() -> Result<()> {
    let world = World::new("kp-cancel", "test-fn-32", &["succeed", "Other"], 60).await?;
    let operator = JobOperator::start(&world.client, &world.namespace, tuning()).await;
    let plugin = Plugin::new(&world.namespace)?;

    let sites = plugin.run(&["sites"]).await?;
    ensure!(sites.code == Some(0), "{sites}");
    let rows: Vec<&str> = sites.stdout.lines().collect();
    assert!(rows[0].starts_with("SITE  ") && rows[0].ends_with("DURATION"), "{sites}");
    for id in ["succeed", "Other"] {
        let row = rows.iter().find(|r| r.contains(id)).with_context(|| format!("{id} listed: {sites}"))?;
        let cells: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(cells, ["site", "True", id, "640", "360", "30", "300", "10.0", "s"], "{sites}");
    }

    // A long render in the background, cancelled from another command.
    let render =
        plugin.command(&["render", "site", "succeed", "--props", r#"{"steps": 100, "intervalMs": 400}"#]).spawn()?;
    let name = rendering_job(&world).await?;
    let cancel = plugin.run(&["cancel", &name]).await?;
    ensure!(cancel.code == Some(0), "{cancel}");
    assert!(cancel.stdout.starts_with(&format!("renderjob/{name} cancelled; cost $")), "{cancel}");
    let job = world.jobs.get(&name).await?;
    assert!(job.spec.cancel);
    assert_eq!(job.status.and_then(|s| s.phase), Some(RenderPhase::Cancelled));
    // The render command saw its job end without output.
    let rendered = Run::wait(render).await?;
    ensure!(rendered.code == Some(1) && rendered.stderr.contains(&format!("renderjob/{name} Cancelled")), "{rendered}");
    // Cancelling again: nothing to do.
    let again = plugin.run(&["cancel", &name]).await?;
    ensure!(again.code == Some(0) && again.stdout.contains("already ended (Cancelled)"), "{again}");
    operator.stop().await
}

#[tokio::test]
async fn ctrl_c_without_a_terminal_leaves_the_render_running() -> Result<()> {
    let world = World::new("kp-sigint", "test-fn-33", &["succeed"], 60).await?;
    let operator = JobOperator::start(&world.client, &world.namespace, tuning()).await;
    let plugin = Plugin::new(&world.namespace)?;
    let render =
        plugin.command(&["render", "site", "succeed", "--props", r#"{"steps": 100, "intervalMs": 400}"#]).spawn()?;
    let pid = render.id().context("pid")?;
    let name = rendering_job(&world).await?;
    let status = Command::new("kill").args(["-INT", &pid.to_string()]).status().await?;
    ensure!(status.success(), "kill -INT {pid}");
    let run = Run::wait(render).await?;
    ensure!(run.code == Some(130), "{run}");
    assert!(run.stderr.contains(&format!("renderjob/{name} keeps rendering (not cancelled)")), "{run}");
    assert!(run.stderr.contains(&format!("kubectl get rj {name} -n {} -w", world.namespace)), "{run}");
    let job = world.jobs.get(&name).await?;
    assert!(!job.spec.cancel, "not cancelled");
    assert_eq!(job.status.and_then(|s| s.phase), Some(RenderPhase::Rendering));
    world.jobs.patch(&name, &PatchParams::default(), &Patch::Merge(json!({"spec": {"cancel": true}}))).await?;
    world.wait_phase(&name, RenderPhase::Cancelled).await?;
    operator.stop().await
}

#[tokio::test]
async fn bad_flags_and_combinations_exit_non_zero_with_a_message() -> Result<()> {
    let world = World::new("kp-flags", "test-fn-34", &["succeed"], 60).await?;
    let plugin = Plugin::new(&world.namespace)?;
    // Refused by the command line: exit 2, with the accepted values.
    let run = plugin.run(&["render", "site", "succeed", "--codec", "h266"]).await?;
    ensure!(run.code == Some(2) && run.stderr.contains("h266") && run.stderr.contains("vp9"), "{run}");
    let run = plugin.run(&["render", "site", "succeed", "--frames-per-lambda", "5", "--concurrency", "2"]).await?;
    ensure!(run.code == Some(2) && run.stderr.contains("cannot be used with"), "{run}");
    // Refused before anything is created: exit 1 and why.
    let run = plugin.run(&["render", "site", "succeed", "--frames", "20-10"]).await?;
    ensure!(run.code == Some(1) && run.stderr.contains("is after the last"), "{run}");
    let run = plugin.run(&["render", "site", "Missing"]).await?;
    ensure!(run.code == Some(1) && run.stderr.contains("has no composition \"Missing\"; it has: succeed"), "{run}");
    let run = plugin.run(&["render", "nosite", "succeed"]).await?;
    ensure!(run.code == Some(1) && run.stderr.contains("there is no RemotionSite nosite"), "{run}");
    // Refused by the API server's validation rules, in its words.
    let run = plugin.run(&["render", "site", "succeed", "--codec", "vp8", "--x264-preset", "veryfast"]).await?;
    ensure!(run.code == Some(1) && run.stderr.contains("x264Preset applies to codec h264 only"), "{run}");
    ensure!(world.jobs.list(&Default::default()).await?.items.is_empty(), "no job was created");
    Ok(())
}

/// With the real function: a video and a still of the fixture bundle, rendered and downloaded.
#[tokio::test]
async fn real_render_and_still_of_the_fixture_are_downloaded() -> Result<()> {
    let env = TestEnv::get();
    let client = env.kube_client().await?;
    let namespace = env.unique_name("kp-real");
    let bucket = env.s3().create_test_bucket("kp-real").await?;
    let function_name = "test-fn-35";

    let bundle = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/remotion-project/build");
    ensure!(bundle.join("index.html").is_file(), "{} is missing: run scripts/install-deps.sh", bundle.display());
    let archive = tempfile::tempdir()?;
    let archive = archive.path().join("site.tar.gz");
    let packed = Command::new("tar").arg("-C").arg(&bundle).arg("-czf").arg(&archive).arg(".").status().await?;
    ensure!(packed.success(), "packing the fixture bundle");
    let s3 = env.s3().client().await;
    s3.put_object()
        .bucket(&bucket)
        .key("uploads/site.tar.gz")
        .body(ByteStream::from_path(&archive).await?)
        .send()
        .await?;

    let function_binary = plugin_binary().with_file_name("remotion-function");
    ensure!(function_binary.is_file(), "{} is missing: cargo build -p remotion-function", function_binary.display());
    let (s3_endpoint, lambda_endpoint) = (env.s3().endpoint.clone(), env.lambda().endpoint.clone());
    let vars = [
        ("AWS_ACCESS_KEY_ID", remotion_tests::s3::ACCESS_KEY),
        ("AWS_SECRET_ACCESS_KEY", remotion_tests::s3::SECRET_KEY),
        ("AWS_REGION", remotion_tests::s3::REGION),
        ("AWS_ENDPOINT_URL_S3", s3_endpoint.as_str()),
        ("AWS_ENDPOINT_URL_LAMBDA", lambda_endpoint.as_str()),
    ];
    let _functions =
        (0..2).map(|_| env.spawn_function(&function_binary, function_name, 2048, &vars)).collect::<Result<Vec<_>>>()?;
    let operator = Operator::start(client.clone(), test_secrets(&namespace), &namespace).await?;

    let access = |endpoint: &str| {
        json!({"region": "us-east-1", "endpoint": endpoint,
               "credentials": {"secretRef": {"name": crate::common::CREDENTIALS_SECRET}}})
    };
    let mut bucket_spec = access(&s3_endpoint);
    bucket_spec["bucketName"] = json!(bucket);
    let mut function_spec = access(&lambda_endpoint);
    for (field, value) in [
        ("management", json!("Existing")),
        ("functionName", json!(function_name)),
        ("memorySizeMb", json!(2048)),
        ("diskSizeMb", json!(2048)),
        ("timeoutSeconds", json!(300)),
        ("maxConcurrentInvocations", json!(2)),
    ] {
        function_spec[field] = value;
    }
    let objects = [
        ("LambdaBucket", "bucket", bucket_spec),
        ("RenderFunction", "renderer", function_spec),
        (
            "RemotionSite",
            "fixture",
            json!({"bucketRef": {"name": "bucket"}, "functionRef": {"name": "renderer"},
            "source": {"s3": {"bucket": bucket, "key": "uploads/site.tar.gz"}}}),
        ),
    ];
    for (kind, name, spec) in objects {
        let resource = kube::discovery::ApiResource {
            group: "remotion-operator.io".into(),
            version: "v1alpha1".into(),
            api_version: "remotion-operator.io/v1alpha1".into(),
            kind: kind.into(),
            plural: format!("{}s", kind.to_lowercase()),
        };
        let api: Api<kube::api::DynamicObject> = Api::namespaced_with(client.clone(), &namespace, &resource);
        let object = json!({"apiVersion": "remotion-operator.io/v1alpha1", "kind": kind, "metadata": {"name": name}, "spec": spec});
        api.patch(name, &PatchParams::apply("kubectl-plugin-test").force(), &Patch::Apply(&object)).await?;
    }
    let sites: Api<RemotionSite> = Api::namespaced(client.clone(), &namespace);
    eventually("the site lists its compositions", Duration::from_secs(180), || async {
        Ok(sites.get("fixture").await?.status.is_some_and(|s| !s.compositions.is_empty()).then_some(()))
    })
    .await?;

    let plugin = Plugin::new(&namespace)?;
    let listed = plugin.run(&["sites", "fixture"]).await?;
    ensure!(listed.code == Some(0), "{listed}");
    let intro =
        listed.stdout.lines().find(|l| l.contains(" Intro ")).with_context(|| format!("Intro listed: {listed}"))?;
    assert_eq!(
        intro.split_whitespace().take(7).collect::<Vec<_>>(),
        ["fixture", "True", "Intro", "1920", "1080", "30", "300"]
    );

    let video = plugin
        .run(&[
            "render",
            "fixture",
            "Intro",
            "intro.mp4",
            "--frames",
            "0-29",
            "--x264-preset",
            "veryfast",
            "--frames-per-lambda",
            "15",
            "--props",
            r#"{"titleText":"kubectl remotion"}"#,
            "--name",
            "intro",
        ])
        .await?;
    ensure!(video.code == Some(0), "{video}");
    let jobs: Api<RenderJob> = Api::namespaced(client.clone(), &namespace);
    let status = jobs.get("intro").await?.status.context("status")?;
    let progress = status.progress.context("progress")?;
    assert_eq!((progress.frames_total, progress.chunks_total), (30, 2));
    let output = status.output.context("output")?;
    let saved = plugin.dir.path().join("intro.mp4");
    let bytes = std::fs::read(&saved)?;
    assert_eq!(bytes.len() as i64, output.size_bytes);
    assert_eq!(&bytes[4..8], b"ftyp", "an MP4 file");
    assert!(
        video.stdout.contains("Frames:  30 in 2 chunk(s)") && video.stdout.contains("Saved:   intro.mp4"),
        "{video}"
    );

    let still = plugin
        .run(&["still", "fixture", "Intro", "--frame", "20", "--image-format", "jpeg", "--name", "poster"])
        .await?;
    ensure!(still.code == Some(0), "{still}");
    let image = std::fs::read(plugin.dir.path().join("out/poster.jpeg"))?;
    assert_eq!(&image[..3], &[0xff, 0xd8, 0xff], "a JPEG file");
    let output = jobs.get("poster").await?.status.and_then(|s| s.output).context("output")?;
    assert_eq!((image.len() as i64, output.content_type.as_str()), (output.size_bytes, "image/jpeg"));
    operator.stop().await
}

/// The props flag reads files too (relative to where the plugin runs).
#[tokio::test]
async fn props_from_a_file_reach_the_job() -> Result<()> {
    let world = World::new("kp-props", "test-fn-37", &["succeed"], 60).await?;
    let operator = JobOperator::start(&world.client, &world.namespace, tuning()).await;
    let plugin = Plugin::new(&world.namespace)?;
    std::fs::write(plugin.dir.path().join("props.json"), r#"{"steps": 2, "intervalMs": 100, "title": "from a file"}"#)?;
    let run =
        plugin.run(&["render", "site", "succeed", "--props", "props.json", "--name", "filed", "--no-download"]).await?;
    ensure!(run.code == Some(0) && !run.stdout.contains("Saved:"), "{run}");
    let job = world.jobs.get("filed").await?;
    assert_eq!(job.spec.input_props.as_ref().and_then(|p| p.get("title")), Some(&Value::from("from a file")));
    assert!(!plugin.dir.path().join("out").exists(), "--no-download");
    operator.stop().await
}

/// On a terminal (a pseudo-terminal from `script`), Ctrl-C asks before cancelling; `y` cancels
/// the render, waits until it has stopped and exits 130. The progress shows as a redrawn bar.
#[tokio::test]
async fn ctrl_c_on_a_terminal_asks_and_yes_cancels() -> Result<()> {
    use std::sync::{Arc, Mutex};
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    let world = World::new("kp-tty", "test-fn-38", &["succeed"], 60).await?;
    let operator = JobOperator::start(&world.client, &world.namespace, tuning()).await;
    let plugin = Plugin::new(&world.namespace)?;
    let kubeconfig = TestEnv::get().kube().kubeconfig.to_string_lossy().into_owned();
    let line = [
        plugin_binary().to_string_lossy().as_ref(),
        "--kubeconfig",
        &kubeconfig,
        "-n",
        &world.namespace,
        "render",
        "site",
        "succeed",
        "--props",
        r#"{"steps": 100, "intervalMs": 400}"#,
    ]
    .map(remotion_tests::process::shell_quote)
    .join(" ");
    // script: the plugin's stdin, stdout and stderr are a terminal; what is typed into script's
    // stdin is typed on it (Ctrl-C included), and -e passes the plugin's exit status on.
    let mut terminal = Command::new("script")
        .args(["-q", "-e", "-f", "-c", &line, "/dev/null"])
        .current_dir(plugin.dir.path())
        .env_remove("KUBECONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let mut keyboard = terminal.stdin.take().context("stdin")?;
    let screen = Arc::new(Mutex::new(String::new()));
    let reader = {
        let (screen, mut stdout) = (screen.clone(), terminal.stdout.take().context("stdout")?);
        tokio::spawn(async move {
            let mut buffer = [0u8; 4096];
            while let Ok(n @ 1..) = stdout.read(&mut buffer).await {
                screen.lock().unwrap().push_str(&String::from_utf8_lossy(&buffer[..n]));
            }
        })
    };
    let shows = |text: &'static str| {
        let screen = screen.clone();
        async move { Ok(screen.lock().unwrap().contains(text).then_some(())) }
    };

    let name = rendering_job(&world).await?;
    eventually("the bar is drawn", WAIT, || shows("Rendering [")).await?;
    keyboard.write_all(b"\x03").await?;
    eventually("the question is asked", WAIT, || shows("Cancel the render? [y/N]")).await?;
    keyboard.write_all(b"y\n").await?;
    let status = tokio::time::timeout(COMMAND_TIMEOUT, terminal.wait()).await??;
    reader.await?;
    let screen = screen.lock().unwrap().clone();
    ensure!(status.code() == Some(130), "exit {status:?}:\n{screen}");
    assert!(screen.contains(&format!("Cancelling renderjob/{name}")), "{screen}");
    assert!(screen.contains(&format!("renderjob/{name} cancelled; cost $")), "{screen}");
    let job = world.jobs.get(&name).await?;
    assert!(job.spec.cancel);
    assert_eq!(job.status.and_then(|s| s.phase), Some(RenderPhase::Cancelled));
    drop(keyboard);
    operator.stop().await
}
