//! Scale benchmark of the operator (run on demand, not a test): many RenderJobs live at once
//! against the API server stand-in, rendered by the scripted fake function.
//!
//! ```text
//! bash bench/operator-scale.sh [--jobs 1000] [--fake-processes 4] [--steps 40] [--interval-ms 1000]
//!     [--create-concurrency 32] [--create-rate JOBS_PER_S] [--operator-concurrency 4]
//!     [--launch-concurrency 16] [--progress-writes-per-second 25] [--timeout-s 900] [--fake-binary PATH]
//! ```
//!
//! It starts the stand-ins of `remotion-tests` (API server with the CRDs, SeaweedFS, the Lambda
//! emulator), `--fake-processes` processes of the `fake-launch-function` test double (`operator/tests/doubles/`) in detached mode
//! (each `launch` answers at once and plays its script in the background, as AWS answers an
//! Event invocation with 202), and the real `remotion-operator` binary as a process of its own,
//! watching one namespace. It applies a LambdaBucket (adopting a bucket), a RenderFunction
//! (`Existing`, the fake) and a RemotionSite (the fixture bundle as a .tar.gz in S3), waits
//! until the operator made them Ready, then creates `--jobs` RenderJobs (script `succeed`:
//! `--steps` progress documents `--interval-ms` apart) with bounded concurrency and follows
//! them with a watch until every one has ended.
//!
//! Measured:
//! - apply → launch: from the moment the create call returned to the moment the fake function
//!   received the `launch` invocation (the `renders/<id>/fake-launches/<nanos>` object it
//!   leaves; same machine clock). This covers the operator's watch, queue, reference checks,
//!   the status write recording the launch, and the Invoke call. Also apply → `startedAt`
//!   seen by this benchmark's watch (`startedAt` itself has one-second resolution);
//! - status writes: MODIFIED watch events of RenderJobs whose status changed (per second, and
//!   per job, where the design allows at most one every 2 s);
//! - the operator's RSS (`VmRSS` sampled every second, `VmHWM`) and CPU (`utime + stime`);
//! - how long until every job ended, and whether all Succeeded.
//!
//! A markdown table goes to stdout, progress to stderr. Everything started is stopped when
//! the benchmark exits (the harness's reaper).

// A poisoned lock or a broken pipe ends the benchmark: its figures would be wrong.
#![allow(clippy::unwrap_used)]

// The operator tests' helpers (`http_get` for /ready and /metrics); the rest is theirs.
#[path = "../tests/it/common.rs"]
#[allow(dead_code)]
mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result, bail};
use common::http_get;
use flate2::Compression;
use flate2::write::GzEncoder;
use futures::{StreamExt, TryStreamExt};
use kube::api::{Api, PostParams};
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use remotion_crds::common::find_condition;
use remotion_crds::render_job::RenderPhase;
use remotion_crds::{LambdaBucket, RemotionSite, RenderFunction, RenderJob};
use remotion_protocol::keys::RenderId;
use remotion_tests::TestEnv;
use remotion_tests::process::{Spawned, free_port, spawn_logged, tail};
use serde_json::{Value, json};

/// The function name the fake serves (one the emulator routes).
const FUNCTION_NAME: &str = "remotion-render";

#[derive(Clone, Debug)]
struct Args {
    jobs: usize,
    fake_processes: usize,
    steps: u64,
    interval_ms: u64,
    create_concurrency: usize,
    operator_concurrency: u16,
    progress_writes_per_second: u16,
    launch_concurrency: u16,
    /// Creates per second (`None`: as fast as `create_concurrency` allows, one burst).
    create_rate: Option<f64>,
    timeout: Duration,
    fake_binary: Option<PathBuf>,
}

impl Args {
    fn parse() -> Result<Self> {
        let mut args = Args {
            jobs: 1000,
            fake_processes: 4,
            steps: 40,
            interval_ms: 1000,
            create_concurrency: 32,
            operator_concurrency: 4,
            progress_writes_per_second: remotion_operator::controllers::DEFAULT_PROGRESS_WRITES_PER_SECOND,
            launch_concurrency: remotion_operator::controllers::DEFAULT_LAUNCH_CONCURRENCY,
            create_rate: None,
            timeout: Duration::from_secs(900),
            fake_binary: None,
        };
        let mut it = std::env::args().skip(1);
        while let Some(flag) = it.next() {
            let (name, inline) = match flag.split_once('=') {
                Some((n, v)) => (n.to_owned(), Some(v.to_owned())),
                None => (flag.clone(), None),
            };
            let mut value = || -> Result<String> {
                match &inline {
                    Some(v) => Ok(v.clone()),
                    None => it.next().with_context(|| format!("{name} needs a value")),
                }
            };
            match name.as_str() {
                "--jobs" => args.jobs = value()?.parse()?,
                "--fake-processes" => args.fake_processes = value()?.parse()?,
                "--steps" => args.steps = value()?.parse()?,
                "--interval-ms" => args.interval_ms = value()?.parse()?,
                "--create-concurrency" => args.create_concurrency = value()?.parse()?,
                "--operator-concurrency" => args.operator_concurrency = value()?.parse()?,
                "--progress-writes-per-second" => args.progress_writes_per_second = value()?.parse()?,
                "--launch-concurrency" => args.launch_concurrency = value()?.parse()?,
                "--create-rate" => args.create_rate = Some(value()?.parse()?),
                "--timeout-s" => args.timeout = Duration::from_secs(value()?.parse()?),
                "--fake-binary" => args.fake_binary = Some(PathBuf::from(value()?)),
                // cargo bench passes --bench; libtest's other flags mean nothing here.
                "--bench" => {}
                other if other.starts_with("--") => eprintln!("many_jobs: ignoring {other}"),
                other => bail!("unexpected argument {other}"),
            }
        }
        anyhow::ensure!(args.jobs > 0 && args.fake_processes > 0 && args.create_concurrency > 0);
        Ok(args)
    }
}

fn main() -> Result<()> {
    let args = Args::parse()?;
    let env = TestEnv::get();
    // Start the stand-ins outside the runtime (they start on threads of their own).
    eprintln!("many_jobs: starting the stand-ins");
    env.kube();
    env.s3();
    env.lambda();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let report = runtime.block_on(run(env, &args));
    runtime.shutdown_timeout(Duration::from_secs(5));
    match report {
        Ok(table) => {
            println!("{table}");
            Ok(())
        }
        Err(e) => {
            eprintln!("many_jobs: failed: {e:#}");
            eprintln!("many_jobs: logs in {} (set REMOTION_KEEP_TEST_RUN=1 to keep them)", env.run_dir().display());
            Err(e)
        }
    }
}

/// The fake function binary: `--fake-binary`, else next to this bench binary's profile
/// folder (`target/release/examples/`, built by `cargo build --release --example …`).
fn fake_binary(args: &Args) -> Result<PathBuf> {
    if let Some(path) = &args.fake_binary {
        return Ok(path.clone());
    }
    let exe = std::env::current_exe()?;
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).context("bench binary folder")?;
    let path = profile_dir.join("examples").join("fake-launch-function");
    anyhow::ensure!(
        path.exists(),
        "{} is missing: cargo build --release -p remotion-operator --example fake-launch-function",
        path.display()
    );
    Ok(path)
}

fn unix_now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

/// What the watch saw of one job (times in seconds since the epoch).
#[derive(Clone, Debug, Default)]
struct Track {
    uid: String,
    create_sent: Option<f64>,
    applied: Option<f64>,
    started_seen: Option<f64>,
    ended_seen: Option<f64>,
    phase: Option<RenderPhase>,
    last_status: Option<Value>,
    writes: Vec<f64>,
}

#[derive(Default)]
struct Observed {
    jobs: HashMap<String, Track>,
    /// Every status write seen (time).
    writes: Vec<f64>,
}

/// One sample of the operator process and the machine.
#[derive(Clone, Copy, Debug)]
struct Sample {
    at: f64,
    rss_kib: u64,
    cpu_ticks: u64,
    machine_busy: u64,
    machine_total: u64,
}

fn proc_sample(pid: u32) -> Result<Sample> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let rss_kib = proc_status_kib(&status, "VmRSS:").unwrap_or(0);
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).context("/proc/pid/stat")?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let cpu_ticks = fields[11].parse::<u64>()? + fields[12].parse::<u64>()?;
    let machine = std::fs::read_to_string("/proc/stat")?;
    let cpu: Vec<u64> = machine
        .lines()
        .next()
        .context("/proc/stat")?
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    let machine_total: u64 = cpu.iter().take(8).sum();
    let idle = cpu.get(3).copied().unwrap_or(0) + cpu.get(4).copied().unwrap_or(0);
    Ok(Sample { at: unix_now(), rss_kib, cpu_ticks, machine_busy: machine_total - idle, machine_total })
}

/// CPU ticks (utime + stime) of the stand-in processes of this run by program name: those
/// whose command line or working directory is under `run_dir`, and `extra` (the fakes).
fn standin_ticks(run_dir: &Path, extra: &[u32]) -> HashMap<String, u64> {
    let run_dir = run_dir.to_string_lossy().into_owned();
    let mut ticks = HashMap::new();
    let Ok(entries) = std::fs::read_dir("/proc") else { return ticks };
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).map(|p| p.to_string_lossy().into_owned());
        let ours = extra.contains(&pid)
            || (cmdline.contains(&run_dir) && !cmdline.starts_with("bash"))
            || cwd.is_ok_and(|c| c.starts_with(&run_dir));
        if !ours || pid == std::process::id() {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        let Some((_, rest)) = stat.rsplit_once(')') else { continue };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let used = fields.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
            + fields.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        let program = cmdline.split_whitespace().next().unwrap_or("?");
        let name = Path::new(program).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        *ticks.entry(name).or_default() += used;
    }
    ticks
}

fn proc_status_kib(status: &str, field: &str) -> Option<u64> {
    status.lines().find_map(|l| l.strip_prefix(field)).and_then(|v| v.split_whitespace().next()?.parse().ok())
}

fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

async fn run(env: &'static TestEnv, args: &Args) -> Result<String> {
    let load_before = loadavg();
    let client = env.kube_client().await?;
    let namespace = env.unique_name("bench");
    let s3_endpoint = env.s3().endpoint.clone();
    let lambda_endpoint = env.lambda().endpoint.clone();

    // The fake function, detached: one process holds many renders.
    let fake = fake_binary(args)?;
    let mut fakes: Vec<Spawned> = Vec::new();
    for _ in 0..args.fake_processes {
        fakes.push(env.spawn_function(
            &fake,
            FUNCTION_NAME,
            2048,
            &[
                ("FAKE_LAUNCH_DETACH", "1"),
                ("AWS_ENDPOINT_URL_S3", s3_endpoint.as_str()),
                ("AWS_ACCESS_KEY_ID", remotion_tests::s3::ACCESS_KEY),
                ("AWS_SECRET_ACCESS_KEY", remotion_tests::s3::SECRET_KEY),
                ("AWS_REGION", remotion_tests::s3::REGION),
            ],
        )?);
    }

    // The bucket, with the fixture bundle as a .tar.gz for the site.
    let bucket = env.s3().create_test_bucket("bench").await?;
    let s3 = env.s3().client().await;
    let archive = tar_gz_dir(&remotion_tests::paths::repo_root().join("tests/fixtures/remotion-project/build"))?;
    s3.put_object().bucket(&bucket).key("archives/site.tar.gz").body(archive.into()).send().await?;

    // The operator, as a process of its own.
    let http: SocketAddr = format!("127.0.0.1:{}", free_port()?).parse()?;
    let mut command = Command::new(env!("CARGO_BIN_EXE_remotion-operator"));
    command
        .args(["--namespace", &namespace, "--http-addr", &http.to_string(), "--log-format", "json"])
        .args(["--concurrency", &args.operator_concurrency.to_string()])
        .args(["--progress-writes-per-second", &args.progress_writes_per_second.to_string()])
        .args(["--launch-concurrency", &args.launch_concurrency.to_string()])
        .env("KUBECONFIG", &env.kube().kubeconfig)
        .env("AWS_ACCESS_KEY_ID", remotion_tests::s3::ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", remotion_tests::s3::SECRET_KEY)
        .env("AWS_REGION", remotion_tests::s3::REGION)
        .env("RUST_LOG", std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()));
    let operator_log = env.run_dir().join("operator.log");
    let mut operator = spawn_logged(env.reaper(), command, &operator_log)?;
    let pid = operator.pid();
    let started = Instant::now();
    loop {
        operator.check_alive("remotion-operator")?;
        if matches!(http_get(http, "/ready").await, Ok((200, _))) {
            break;
        }
        if started.elapsed() > Duration::from_secs(60) {
            bail!("the operator was not ready within 60 s:\n{}", tail(&operator_log, 20));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("many_jobs: operator pid {pid} ready; namespace {namespace}, bucket {bucket}");

    apply_infrastructure(&client, &namespace, &bucket, &s3_endpoint, &lambda_endpoint).await?;
    wait_ready(&client, &namespace, &operator_log).await?;
    let idle = proc_sample(pid)?;
    eprintln!("many_jobs: bucket, function and site Ready; operator RSS {} MiB idle", idle.rss_kib / 1024);

    // Watch the jobs before creating any.
    let jobs: Api<RenderJob> = Api::namespaced(client.clone(), &namespace);
    let observed = Arc::new(Mutex::new(Observed::default()));
    let (synced_tx, synced_rx) = tokio::sync::oneshot::channel();
    let watch = tokio::spawn(watch_jobs(jobs.clone(), observed.clone(), synced_tx));
    synced_rx.await.context("the watch ended before its first list")?;

    // Sample the operator every second.
    let samples = Arc::new(Mutex::new(vec![proc_sample(pid)?]));
    let sampler = {
        let samples = samples.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                match proc_sample(pid) {
                    Ok(s) => samples.lock().unwrap().push(s),
                    Err(_) => return,
                }
            }
        })
    };

    // Create the jobs as fast as the API server takes them.
    // Round trips of a client like the operator's: one API GET and one S3 HEAD every 500 ms.
    let probes = Arc::new(Mutex::new(Vec::<(f64, f64, f64)>::new()));
    let prober = {
        let (probes, sites, s3, bucket) =
            (probes.clone(), Api::<RemotionSite>::namespaced(client.clone(), &namespace), s3.clone(), bucket.clone());
        tokio::spawn(async move {
            loop {
                let a = Instant::now();
                let api_ok = sites.get("site").await.is_ok();
                let api = a.elapsed().as_secs_f64();
                let b = Instant::now();
                let s3_ok = s3.head_object().bucket(&bucket).key("archives/site.tar.gz").send().await.is_ok();
                let s3_time = b.elapsed().as_secs_f64();
                if api_ok && s3_ok {
                    probes.lock().unwrap().push((unix_now(), api, s3_time));
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        })
    };
    let fake_pids: Vec<u32> = fakes.iter().map(Spawned::pid).collect();
    let standins_before = standin_ticks(env.run_dir(), &fake_pids);
    let t_start = unix_now();
    let props = json!({"steps": args.steps, "intervalMs": args.interval_ms});
    let create_errors = Arc::new(Mutex::new(Vec::<String>::new()));
    let create_rate = args.create_rate;
    let creations = futures::stream::iter(0..args.jobs)
        .map(|i| {
            let (jobs, observed, props, errors) =
                (jobs.clone(), observed.clone(), props.clone(), create_errors.clone());
            async move {
                // Paced creates: job i is sent i / rate seconds after the start, so that the
                // latency of a launch is measured under a steady load rather than in a burst.
                if let Some(rate) = create_rate {
                    let due = t_start + i as f64 / rate;
                    let wait = due - unix_now();
                    if wait > 0.0 {
                        tokio::time::sleep(Duration::from_secs_f64(wait)).await;
                    }
                }
                let name = format!("job-{i:05}");
                let job: RenderJob = serde_json::from_value(json!({
                    "apiVersion": "remotion-operator.io/v1alpha1", "kind": "RenderJob",
                    "metadata": {"name": name},
                    "spec": {"siteRef": {"name": "site"}, "functionRef": {"name": "renderer"}, "composition": "succeed",
                        "inputProps": props, "output": {"privacy": "private", "presignSeconds": 600}}}))
                .expect("a valid RenderJob");
                for attempt in 1..=5 {
                    let sent = unix_now();
                    match jobs.create(&PostParams::default(), &job).await {
                        Ok(created) => {
                            let applied = unix_now();
                            let mut seen = observed.lock().unwrap();
                            let track = seen.jobs.entry(name.clone()).or_default();
                            track.uid = created.uid().unwrap_or_default();
                            track.create_sent = Some(sent);
                            track.applied = Some(applied);
                            return;
                        }
                        Err(e) => {
                            errors.lock().unwrap().push(format!("{name} attempt {attempt}: {e}"));
                            tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
                        }
                    }
                }
            }
        })
        .buffer_unordered(args.create_concurrency)
        .collect::<Vec<()>>();
    let progress = tokio::spawn(report_progress(observed.clone(), samples.clone(), args.jobs, t_start));
    creations.await;
    let t_created = unix_now();
    eprintln!("many_jobs: {} RenderJobs created in {:.1} s", args.jobs, t_created - t_start);

    // Until every job has ended.
    let deadline = Instant::now() + args.timeout;
    loop {
        let ended = observed.lock().unwrap().jobs.values().filter(|t| t.ended_seen.is_some()).count();
        if ended >= args.jobs {
            break;
        }
        if Instant::now() > deadline {
            eprintln!("many_jobs: timed out with {ended}/{} jobs ended", args.jobs);
            break;
        }
        operator.check_alive("remotion-operator")?;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let t_end = unix_now();
    let standins_after = standin_ticks(env.run_dir(), &fake_pids);
    progress.abort();
    sampler.abort();
    prober.abort();
    let last = proc_sample(pid)?;
    samples.lock().unwrap().push(last);
    let hwm_kib = proc_status_kib(&std::fs::read_to_string(format!("/proc/{pid}/status"))?, "VmHWM:").unwrap_or(0);
    let metrics = http_get(http, "/metrics").await.map(|(_, body)| body).unwrap_or_default();
    watch.abort();
    let launches = fake_launches(&s3, &bucket).await?;
    let load_after = loadavg();

    // Stop the operator gracefully (the reaper stops the rest when this process exits).
    let _ = Command::new("kill").arg(pid.to_string()).status();
    let stop = Instant::now();
    while operator.child.try_wait()?.is_none() && stop.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for fake in &mut fakes {
        let _ = fake.check_alive("fake function");
    }

    let observed = observed.lock().unwrap();
    let samples = samples.lock().unwrap().clone();
    let errors = create_errors.lock().unwrap().clone();
    let probes = probes.lock().unwrap().clone();
    let mut standins: Vec<(String, f64)> = standins_after
        .iter()
        .map(|(name, after)| {
            let used = after - standins_before.get(name).copied().unwrap_or(0).min(*after);
            (name.clone(), used as f64 / clock_ticks())
        })
        .filter(|(name, _)| name != "remotion-operator")
        .collect();
    standins.sort_by(|a, b| b.1.total_cmp(&a.1));
    Ok(Report {
        args,
        observed: &observed,
        samples: &samples,
        idle,
        hwm_kib,
        launches: &launches,
        metrics: &metrics,
        create_errors: &errors,
        t_start,
        t_created,
        t_end,
        load_before,
        load_after,
        probes: &probes,
        standins: &standins,
    }
    .render())
}

/// Applies the LambdaBucket (adopting `bucket`), the RenderFunction (`Existing`, the fake)
/// and the RemotionSite (the archive in the bucket). Credentials: the operator's environment.
async fn apply_infrastructure(
    client: &Client,
    namespace: &str,
    bucket: &str,
    s3_endpoint: &str,
    lambda_endpoint: &str,
) -> Result<()> {
    let pp = PostParams::default();
    let buckets: Api<LambdaBucket> = Api::namespaced(client.clone(), namespace);
    buckets
        .create(
            &pp,
            &serde_json::from_value(json!({
                "apiVersion": "remotion-operator.io/v1alpha1", "kind": "LambdaBucket",
                "metadata": {"name": "bucket"},
                "spec": {"region": remotion_tests::s3::REGION, "endpoint": s3_endpoint, "bucketName": bucket}}))?,
        )
        .await?;
    let functions: Api<RenderFunction> = Api::namespaced(client.clone(), namespace);
    functions
        .create(
            &pp,
            &serde_json::from_value(json!({
                "apiVersion": "remotion-operator.io/v1alpha1", "kind": "RenderFunction",
                "metadata": {"name": "renderer"},
                "spec": {"region": remotion_tests::s3::REGION, "endpoint": lambda_endpoint, "management": "Existing",
                    "functionName": FUNCTION_NAME, "memorySizeMb": 2048, "diskSizeMb": 2048, "timeoutSeconds": 300}}))?,
        )
        .await?;
    let sites: Api<RemotionSite> = Api::namespaced(client.clone(), namespace);
    sites
        .create(
            &pp,
            &serde_json::from_value(json!({
                "apiVersion": "remotion-operator.io/v1alpha1", "kind": "RemotionSite",
                "metadata": {"name": "site"},
                "spec": {"bucketRef": {"name": "bucket"}, "siteName": "bench",
                    "source": {"s3": {"bucket": bucket, "key": "archives/site.tar.gz"}}}}))?,
        )
        .await?;
    Ok(())
}

/// Waits until the operator made the bucket, the function and the site Ready.
async fn wait_ready(client: &Client, namespace: &str, operator_log: &Path) -> Result<()> {
    let buckets: Api<LambdaBucket> = Api::namespaced(client.clone(), namespace);
    let functions: Api<RenderFunction> = Api::namespaced(client.clone(), namespace);
    let sites: Api<RemotionSite> = Api::namespaced(client.clone(), namespace);
    let ready = |conditions: Option<&Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition>>| {
        conditions.and_then(|c| find_condition(c, "Ready")).map(|c| (c.status == "True", format!("{c:?}")))
    };
    let started = Instant::now();
    loop {
        let b = buckets.get("bucket").await?;
        let f = functions.get("renderer").await?;
        let s = sites.get("site").await?;
        let states = [
            ("LambdaBucket", ready(b.status.as_ref().map(|s| &s.conditions))),
            ("RenderFunction", ready(f.status.as_ref().map(|s| &s.conditions))),
            ("RemotionSite", ready(s.status.as_ref().map(|s| &s.conditions))),
        ];
        if states.iter().all(|(_, r)| r.as_ref().is_some_and(|(ok, _)| *ok)) {
            return Ok(());
        }
        if started.elapsed() > Duration::from_secs(180) {
            bail!("not Ready within 180 s: {states:?}\noperator log:\n{}", tail(operator_log, 20));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Follows every RenderJob of the namespace: status writes, startedAt, end.
async fn watch_jobs(jobs: Api<RenderJob>, observed: Arc<Mutex<Observed>>, synced: tokio::sync::oneshot::Sender<()>) {
    let mut synced = Some(synced);
    let mut stream = watcher(jobs, watcher::Config::default()).boxed();
    loop {
        let event = match stream.try_next().await {
            Ok(Some(event)) => event,
            Ok(None) => return,
            Err(e) => {
                eprintln!("many_jobs: watch error (the watcher retries): {e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        let job = match event {
            watcher::Event::InitDone => {
                if let Some(tx) = synced.take() {
                    let _ = tx.send(());
                }
                continue;
            }
            watcher::Event::Apply(job) | watcher::Event::InitApply(job) => job,
            _ => continue,
        };
        let now = unix_now();
        let status = serde_json::to_value(&job.status).unwrap_or(Value::Null);
        let mut seen = observed.lock().unwrap();
        let track = seen.jobs.entry(job.name_any()).or_default();
        if track.uid.is_empty() {
            track.uid = job.uid().unwrap_or_default();
        }
        let changed = track.last_status.as_ref() != Some(&status);
        let first_sight = track.last_status.is_none();
        if !changed {
            continue;
        }
        let job_status = job.status.as_ref();
        if job_status.is_some_and(|s| s.started_at.is_some()) && track.started_seen.is_none() {
            track.started_seen = Some(now);
        }
        track.phase = job_status.and_then(|s| s.phase);
        if track.phase.is_some_and(RenderPhase::is_terminal) && track.ended_seen.is_none() {
            track.ended_seen = Some(now);
        }
        // The object as created has no status; every later change of it is a status write.
        let is_write = !(first_sight && job.status.is_none());
        track.last_status = Some(status);
        if is_write {
            track.writes.push(now);
            seen.writes.push(now);
        }
    }
}

/// A line on stderr every 5 s.
async fn report_progress(observed: Arc<Mutex<Observed>>, samples: Arc<Mutex<Vec<Sample>>>, total: usize, t0: f64) {
    let ticks = clock_ticks();
    loop {
        tokio::time::sleep(Duration::from_secs(5)).await;
        let now = unix_now();
        let (created, launched, ended, recent) = {
            let seen = observed.lock().unwrap();
            let created = seen.jobs.values().filter(|t| t.applied.is_some()).count();
            let launched = seen.jobs.values().filter(|t| t.started_seen.is_some()).count();
            let ended = seen.jobs.values().filter(|t| t.ended_seen.is_some()).count();
            let recent = seen.writes.iter().rev().take_while(|t| **t > now - 5.0).count();
            (created, launched, ended, recent)
        };
        let (rss, cores) = {
            let s = samples.lock().unwrap();
            match (s.last(), s.iter().rev().nth(5)) {
                (Some(a), Some(b)) => {
                    (a.rss_kib / 1024, (a.cpu_ticks - b.cpu_ticks) as f64 / ticks / (a.at - b.at).max(0.001))
                }
                _ => (0, 0.0),
            }
        };
        eprintln!(
            "many_jobs: {:5.0} s  created {created}/{total}  launched {launched}  ended {ended}  status writes {:.0}/s  operator RSS {rss} MiB, {cores:.2} cores  load {}",
            now - t0,
            recent as f64 / 5.0,
            loadavg()
        );
    }
}

/// `fake-launches` markers per render id: the times (s since the epoch) the fake received them.
async fn fake_launches(s3: &aws_sdk_s3::Client, bucket: &str) -> Result<HashMap<String, Vec<f64>>> {
    let mut found: HashMap<String, Vec<f64>> = HashMap::new();
    let mut pages = s3.list_objects_v2().bucket(bucket).prefix("renders/").into_paginator().send();
    while let Some(page) = pages.next().await {
        for object in page?.contents() {
            let Some(key) = object.key() else { continue };
            let parts: Vec<&str> = key.split('/').collect();
            if let ["renders", id, "fake-launches", nanos] = parts.as_slice()
                && let Ok(nanos) = nanos.parse::<u128>()
            {
                found.entry((*id).to_owned()).or_default().push(nanos as f64 / 1e9);
            }
        }
    }
    Ok(found)
}

/// `tar czf` of `dir`'s files at the archive's top level.
fn tar_gz_dir(dir: &Path) -> Result<Vec<u8>> {
    anyhow::ensure!(
        dir.join("index.html").exists(),
        "{} is missing: bash tests/fixtures/remotion-project/build.sh",
        dir.display()
    );
    let mut builder = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::fast()));
    builder.append_dir_all(".", dir)?;
    Ok(builder.into_inner()?.finish()?)
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn sorted(mut values: Vec<f64>) -> Vec<f64> {
    values.sort_by(f64::total_cmp);
    values
}

fn ms(seconds: f64) -> String {
    if seconds.is_nan() { "–".into() } else { format!("{:.0} ms", seconds * 1000.0) }
}

fn distribution(values: &[f64]) -> String {
    format!(
        "{} / {} / {} / {} (n={})",
        ms(percentile(values, 0.50)),
        ms(percentile(values, 0.90)),
        ms(percentile(values, 0.99)),
        ms(values.last().copied().unwrap_or(f64::NAN)),
        values.len()
    )
}

/// A counter of the operator's metrics with exactly these labels, 0 when absent.
fn metric(metrics: &str, series: &str) -> f64 {
    metrics.lines().find_map(|l| l.strip_prefix(series)?.trim().parse().ok()).unwrap_or(0.0)
}

struct Report<'a> {
    args: &'a Args,
    observed: &'a Observed,
    samples: &'a [Sample],
    idle: Sample,
    hwm_kib: u64,
    launches: &'a HashMap<String, Vec<f64>>,
    metrics: &'a str,
    create_errors: &'a [String],
    t_start: f64,
    t_created: f64,
    t_end: f64,
    load_before: String,
    load_after: String,
    /// (time, API GET seconds, S3 HEAD seconds).
    probes: &'a [(f64, f64, f64)],
    /// CPU-seconds of each stand-in program during the run.
    standins: &'a [(String, f64)],
}

impl Report<'_> {
    fn render(&self) -> String {
        let args = self.args;
        let jobs: Vec<&Track> = self.observed.jobs.values().filter(|t| t.applied.is_some()).collect();
        let ticks = clock_ticks();

        // apply → launch.
        let mut to_launch = Vec::new();
        let mut launch_counts = HashMap::<usize, usize>::new();
        let mut intervals = Vec::new();
        for t in &jobs {
            let Ok(id) = RenderId::from_uid(&t.uid) else { continue };
            let received = self.launches.get(id.as_str());
            *launch_counts.entry(received.map_or(0, Vec::len)).or_default() += 1;
            if let (Some(applied), Some(first)) =
                (t.applied, received.and_then(|r| r.iter().copied().min_by(f64::total_cmp)))
            {
                to_launch.push(first - applied);
                if let Some(end) = t.ended_seen {
                    intervals.push((first, end));
                }
            }
        }
        let to_launch = sorted(to_launch);
        let to_started = sorted(jobs.iter().filter_map(|t| Some(t.started_seen? - t.applied?)).collect());
        let create_latency = sorted(jobs.iter().filter_map(|t| Some(t.applied? - t.create_sent?)).collect());
        let mut exactly_once: Vec<(usize, usize)> = launch_counts.into_iter().collect();
        exactly_once.sort();

        // Rendering at once: launched (fake received) and not yet seen ended.
        let mut edges: Vec<(f64, i64)> = intervals.iter().flat_map(|(a, b)| [(*a, 1), (*b, -1)]).collect();
        edges.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let (mut live, mut peak_live, mut peak_live_at) = (0i64, 0i64, 0.0);
        for (at, delta) in &edges {
            live += delta;
            if live > peak_live {
                (peak_live, peak_live_at) = (live, *at);
            }
        }
        // Existing and not ended at once (what the API server holds live).
        let mut edges: Vec<(f64, i64)> =
            jobs.iter().flat_map(|t| [(t.applied.unwrap_or(0.0), 1), (t.ended_seen.unwrap_or(f64::MAX), -1)]).collect();
        edges.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let mut open = 0i64;
        let peak_open = edges
            .iter()
            .map(|(_, d)| {
                open += d;
                open
            })
            .max()
            .unwrap_or(0);

        // Outcome.
        let succeeded = jobs.iter().filter(|t| t.phase == Some(RenderPhase::Succeeded)).count();
        let failed = jobs.iter().filter(|t| t.phase.is_some_and(RenderPhase::is_terminal)).count() - succeeded;
        let last_end = jobs.iter().filter_map(|t| t.ended_seen).fold(f64::NAN, f64::max);
        let run_seconds = self.t_end - self.t_start;

        // Status writes.
        let writes = &self.observed.writes;
        let window = (self.t_start, if last_end.is_nan() { self.t_end } else { last_end });
        let in_window = writes.iter().filter(|w| **w >= window.0 && **w <= window.1).count();
        let mut per_second: HashMap<i64, usize> = HashMap::new();
        for w in writes {
            *per_second.entry(w.floor() as i64).or_default() += 1;
        }
        let peak_per_second = per_second.values().copied().max().unwrap_or(0);
        let peak_5s = {
            let mut secs: Vec<(i64, usize)> = per_second.iter().map(|(k, v)| (*k, *v)).collect();
            secs.sort();
            secs.iter()
                .map(|(s, _)| {
                    per_second.iter().filter(|(k, _)| **k >= *s && **k < s + 5).map(|(_, v)| v).sum::<usize>()
                })
                .max()
                .unwrap_or(0) as f64
                / 5.0
        };
        let per_job: Vec<f64> = jobs.iter().map(|t| t.writes.len() as f64).collect();
        let per_job_rate = sorted(
            jobs.iter()
                .filter_map(|t| {
                    let span = t.ended_seen? - t.started_seen?;
                    (span > 0.0).then(|| t.writes.len().saturating_sub(1) as f64 / span)
                })
                .collect(),
        );
        let gaps =
            sorted(jobs.iter().flat_map(|t| t.writes.windows(2).map(|w| w[1] - w[0]).collect::<Vec<_>>()).collect());
        let short_gaps = gaps.iter().filter(|g| **g < 1.5).count();

        // Operator process.
        let during: Vec<&Sample> = self.samples.iter().filter(|s| s.at >= self.t_start).collect();
        let first = during.first().copied().copied().unwrap_or(self.idle);
        let last = during.last().copied().copied().unwrap_or(self.idle);
        let cpu_seconds = (last.cpu_ticks - first.cpu_ticks) as f64 / ticks;
        let cores = cpu_seconds / (last.at - first.at).max(0.001);
        let peak_cores = during
            .windows(6)
            .map(|w| (w[5].cpu_ticks - w[0].cpu_ticks) as f64 / ticks / (w[5].at - w[0].at).max(0.001))
            .fold(0.0, f64::max);
        let machine_busy = (last.machine_busy - first.machine_busy) as f64
            / (last.machine_total - first.machine_total).max(1) as f64
            * 100.0;
        let peak_rss = during.iter().map(|s| s.rss_kib).max().unwrap_or(0);
        // Steady state: while at least 90 % of the peak number of renders were live.
        let steady: Vec<f64> = sorted(
            during
                .iter()
                .filter(|s| {
                    let live = intervals.iter().filter(|(a, b)| *a <= s.at && s.at <= *b).count() as f64;
                    live >= 0.9 * peak_live as f64 && peak_live > 0
                })
                .map(|s| s.rss_kib as f64)
                .collect(),
        );
        let mib = |kib: f64| format!("{:.1} MiB", kib / 1024.0);

        // Launching and following are two controllers (labels `renderjob-launch`, `renderjob`).
        let per_controller = |label: &str| {
            let reconciles =
                metric(self.metrics, &format!("remotion_operator_reconciles_total{{controller=\"{label}\"}} "));
            let failures: u64 = self
                .metrics
                .lines()
                .filter(|l| {
                    l.starts_with(&format!("remotion_operator_reconcile_failures_total{{controller=\"{label}\""))
                })
                .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
                .sum();
            let mean = metric(
                self.metrics,
                &format!("remotion_operator_reconcile_duration_seconds_sum{{controller=\"{label}\"}} "),
            ) / metric(
                self.metrics,
                &format!("remotion_operator_reconcile_duration_seconds_count{{controller=\"{label}\"}} "),
            );
            format!("{reconciles:.0} / {failures} / {}", ms(mean))
        };
        let launch_times = sorted(
            jobs.iter()
                .filter_map(|t| {
                    let id = RenderId::from_uid(&t.uid).ok()?;
                    self.launches.get(id.as_str())?.iter().copied().min_by(f64::total_cmp)
                })
                .collect(),
        );

        let mut out = String::new();
        let mut row = |what: &str, value: String| out.push_str(&format!("| {what} | {value} |\n"));
        row(
            "setup",
            format!(
                "{} RenderJobs, fake `succeed` {} steps × {} ms; {} fake processes (detached); operator --concurrency {} --launch-concurrency {} --progress-writes-per-second {}; creates {} at a time{}",
                args.jobs,
                args.steps,
                args.interval_ms,
                args.fake_processes,
                args.operator_concurrency,
                args.launch_concurrency,
                args.progress_writes_per_second,
                args.create_concurrency,
                args.create_rate.map(|r| format!(", paced at {r}/s")).unwrap_or_default()
            ),
        );
        row("machine load (1/5/15 min) before → after", format!("{} → {}", self.load_before, self.load_after));
        row("machine CPU busy during the run (2 cores)", format!("{machine_busy:.0} %"));
        row(
            "stand-ins' CPU-seconds during the run",
            self.standins.iter().map(|(n, s)| format!("{n} {s:.0}")).collect::<Vec<_>>().join(", "),
        );
        let during_probes: Vec<&(f64, f64, f64)> =
            self.probes.iter().filter(|p| p.0 >= self.t_start && p.0 <= self.t_end).collect();
        let api_rtt = sorted(during_probes.iter().map(|p| p.1).collect());
        let s3_rtt = sorted(during_probes.iter().map(|p| p.2).collect());
        row(
            "probe round trips during the run: API GET p50 / p99; S3 HEAD p50 / p99",
            format!(
                "{} / {}; {} / {}",
                ms(percentile(&api_rtt, 0.5)),
                ms(percentile(&api_rtt, 0.99)),
                ms(percentile(&s3_rtt, 0.5)),
                ms(percentile(&s3_rtt, 0.99))
            ),
        );
        row(
            "creates: all in / latency p50, p99",
            format!(
                "{:.1} s / {}, {}{}",
                self.t_created - self.t_start,
                ms(percentile(&create_latency, 0.5)),
                ms(percentile(&create_latency, 0.99)),
                if self.create_errors.is_empty() {
                    String::new()
                } else {
                    format!("; {} failed attempts, e.g. {}", self.create_errors.len(), self.create_errors[0])
                }
            ),
        );
        row("**apply → launch received by the function** p50 / p90 / p99 / max", distribution(&to_launch));
        row("apply → `startedAt` seen by a watch p50 / p90 / p99 / max", distribution(&to_started));
        row(
            "launches per render (count: renders)",
            exactly_once.iter().map(|(c, n)| format!("{c}: {n}")).collect::<Vec<_>>().join(", "),
        );
        row(
            "launches received: first / last (from first create)",
            format!(
                "+{:.1} s / +{:.1} s",
                launch_times.first().map_or(f64::NAN, |t| t - self.t_start),
                launch_times.last().map_or(f64::NAN, |t| t - self.t_start)
            ),
        );
        row(
            "renders live at once (launched, not ended) / RenderJobs open at once",
            format!("{peak_live} (at +{:.0} s) / {peak_open}", peak_live_at - self.t_start),
        );
        row(
            "**status writes**: total / avg rate / peak 1 s / peak 5 s avg",
            format!(
                "{} / {:.0}/s / {peak_per_second}/s / {peak_5s:.0}/s",
                writes.len(),
                in_window as f64 / (window.1 - window.0).max(0.001)
            ),
        );
        row(
            "status writes per job: mean / max; per rendering second p50 / max",
            format!(
                "{:.1} / {:.0}; {:.2}/s / {:.2}/s",
                per_job.iter().sum::<f64>() / per_job.len().max(1) as f64,
                per_job.iter().copied().fold(0.0, f64::max),
                percentile(&per_job_rate, 0.5),
                per_job_rate.last().copied().unwrap_or(f64::NAN)
            ),
        );
        row(
            "gaps between one job's writes: min / p1 / p50; < 1.5 s",
            format!(
                "{} / {} / {}; {short_gaps} of {}",
                ms(gaps.first().copied().unwrap_or(f64::NAN)),
                ms(percentile(&gaps, 0.01)),
                ms(percentile(&gaps, 0.5)),
                gaps.len()
            ),
        );
        row(
            "**operator RSS**: idle / steady (median while ≥ 90 % of peak live) / peak sampled / VmHWM / end",
            format!(
                "{} / {} / {} / {} / {}",
                mib(self.idle.rss_kib as f64),
                mib(percentile(&steady, 0.5)),
                mib(peak_rss as f64),
                mib(self.hwm_kib as f64),
                mib(last.rss_kib as f64)
            ),
        );
        row(
            "**operator CPU**: CPU-seconds / avg cores / peak 5 s cores",
            format!("{cpu_seconds:.1} s / {cores:.2} / {peak_cores:.2}"),
        );
        row("launch reconciles / failed / mean duration (operator metrics)", per_controller("renderjob-launch"));
        row("follow reconciles / failed / mean duration (operator metrics)", per_controller("renderjob"));
        row(
            "**all ended** (from first create) / Succeeded / Failed / not ended",
            format!(
                "{} / {succeeded} / {failed} / {}",
                if last_end.is_nan() { "–".to_owned() } else { format!("{:.1} s", last_end - self.t_start) },
                args.jobs - succeeded - failed
            ),
        );
        row("run length (first create → end of wait)", format!("{run_seconds:.1} s"));
        format!("| measure | value |\n|---|---|\n{out}")
    }
}
