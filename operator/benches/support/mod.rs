//! What the operator's benchmarks share (`many_jobs.rs`, `capacity.rs`): the fake function and
//! the operator binary as processes, the bucket/function/site a render needs, a watch of the
//! RenderJobs, samples of a process's memory and CPU, the fake's launch markers, and the
//! formatting of the figures.

// The operator tests' helpers (`http_get` for /ready and /metrics); the rest is theirs.
#[path = "../../tests/it/common.rs"]
#[allow(dead_code)]
mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result, bail};
pub use common::http_get;
use flate2::Compression;
use flate2::write::GzEncoder;
use futures::{StreamExt, TryStreamExt};
use kube::api::{Api, PostParams};
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use remotion_crds::common::find_condition;
use remotion_crds::render_job::RenderPhase;
use remotion_crds::{LambdaBucket, RemotionSite, RenderFunction, RenderJob};
use remotion_tests::TestEnv;
use remotion_tests::process::{Spawned, free_port, spawn_logged, tail};
use serde_json::{Value, json};

/// The function name the fake serves (one the emulator routes).
pub const FUNCTION_NAME: &str = "remotion-render";

/// The fake function binary: `path` when given, else next to the running bench binary's profile
/// folder (`target/release/examples/`, built by `cargo build --release --example …`).
pub fn fake_binary(path: Option<&Path>) -> Result<PathBuf> {
    if let Some(path) = path {
        return Ok(path.to_path_buf());
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

/// Starts `count` processes of the fake function serving [`FUNCTION_NAME`]; `detached`: each
/// plays any number of renders at once (`FAKE_LAUNCH_DETACH=1`), else one render per process
/// for the whole of its script, as the emulator runs one invocation per process.
pub fn spawn_fakes(env: &'static TestEnv, binary: &Path, count: usize, detached: bool) -> Result<Vec<Spawned>> {
    let s3_endpoint = env.s3().endpoint.clone();
    let mut vars = vec![
        ("AWS_ENDPOINT_URL_S3", s3_endpoint.as_str()),
        ("AWS_ACCESS_KEY_ID", remotion_tests::s3::ACCESS_KEY),
        ("AWS_SECRET_ACCESS_KEY", remotion_tests::s3::SECRET_KEY),
        ("AWS_REGION", remotion_tests::s3::REGION),
    ];
    if detached {
        vars.push(("FAKE_LAUNCH_DETACH", "1"));
    }
    (0..count).map(|_| env.spawn_function(binary, FUNCTION_NAME, 2048, &vars)).collect()
}

pub fn unix_now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

/// The `remotion-operator` binary, running as a process of its own.
pub struct OperatorProcess {
    pub process: Spawned,
    pub pid: u32,
    /// Its /ready and /metrics.
    pub http: SocketAddr,
    pub log: PathBuf,
}

impl OperatorProcess {
    /// Starts the operator (watching `namespace`, or every namespace when `None`) with `args`
    /// added, and waits until it is ready. Credentials: the harness's S3 identity in its
    /// environment, so that the resources need no Secret (the stand-in has no core types);
    /// the tenancy policy lets every namespace use it and the stand-ins on loopback.
    pub async fn start(env: &'static TestEnv, namespace: Option<&str>, args: &[String]) -> Result<Self> {
        let http: SocketAddr = format!("127.0.0.1:{}", free_port()?).parse()?;
        let policy = env.run_dir().join("tenancy.yaml");
        std::fs::write(&policy, "operatorIdentity: ['*']\nnetwork: {allowedPrivateNetworks: [127.0.0.0/8]}\n")?;
        let mut command = Command::new(env!("CARGO_BIN_EXE_remotion-operator"));
        command.arg("--tenancy-policy").arg(&policy);
        if let Some(namespace) = namespace {
            command.args(["--namespace", namespace]);
        }
        command
            .args(["--http-addr", &http.to_string(), "--log-format", "json"])
            .args(args)
            .env("KUBECONFIG", &env.kube().kubeconfig)
            .env("AWS_ACCESS_KEY_ID", remotion_tests::s3::ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", remotion_tests::s3::SECRET_KEY)
            .env("AWS_REGION", remotion_tests::s3::REGION)
            .env("RUST_LOG", std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()));
        let log = env.run_dir().join("operator.log");
        let mut process = spawn_logged(env.reaper(), command, &log)?;
        let pid = process.pid();
        let started = Instant::now();
        loop {
            process.check_alive("remotion-operator")?;
            if matches!(http_get(http, "/ready").await, Ok((200, _))) {
                break;
            }
            if started.elapsed() > Duration::from_secs(60) {
                bail!("the operator was not ready within 60 s:\n{}", tail(&log, 20));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(Self { process, pid, http, log })
    }

    /// Stops it with SIGTERM and waits up to 30 s for it to drain (the reaper kills it anyway
    /// when the benchmark exits).
    pub async fn stop(&mut self) -> Result<()> {
        let _ = Command::new("kill").arg(self.pid.to_string()).status();
        let stop = Instant::now();
        while self.process.child.try_wait()?.is_none() && stop.elapsed() < Duration::from_secs(30) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(())
    }
}

/// Uploads the fixture bundle as `archives/site.tar.gz` of `bucket`, the source of the
/// RemotionSite of [`apply_infrastructure`].
pub async fn upload_site_archive(s3: &aws_sdk_s3::Client, bucket: &str) -> Result<()> {
    let archive = tar_gz_dir(&remotion_tests::paths::repo_root().join("tests/fixtures/remotion-project/build"))?;
    s3.put_object().bucket(bucket).key("archives/site.tar.gz").body(archive.into()).send().await?;
    Ok(())
}

/// Applies the LambdaBucket `bucket` (adopting `bucket`), the RenderFunction `renderer`
/// (`Existing`, the fake; `function_extra` merged into its spec) and the RemotionSite `site`
/// (the archive in the bucket) in `namespace`. Credentials: the operator's environment.
pub async fn apply_infrastructure(
    client: &Client,
    namespace: &str,
    bucket: &str,
    s3_endpoint: &str,
    lambda_endpoint: &str,
    function_extra: &Value,
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
    let mut function_spec = json!({"region": remotion_tests::s3::REGION, "endpoint": lambda_endpoint,
        "management": "Existing", "functionName": FUNCTION_NAME, "memorySizeMb": 2048, "diskSizeMb": 2048,
        "timeoutSeconds": 300});
    if let (Some(spec), Some(extra)) = (function_spec.as_object_mut(), function_extra.as_object()) {
        spec.extend(extra.clone());
    }
    let functions: Api<RenderFunction> = Api::namespaced(client.clone(), namespace);
    functions
        .create(
            &pp,
            &serde_json::from_value(json!({
                "apiVersion": "remotion-operator.io/v1alpha1", "kind": "RenderFunction",
                "metadata": {"name": "renderer"}, "spec": function_spec}))?,
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

/// Waits until the operator made the bucket, the function and the site of `namespace` Ready.
pub async fn wait_ready(client: &Client, namespace: &str, operator_log: &Path) -> Result<()> {
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
            bail!("{namespace} not Ready within 180 s: {states:?}\noperator log:\n{}", tail(operator_log, 20));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The key of a job in [`Observed::jobs`].
pub fn job_key(namespace: &str, name: &str) -> String {
    format!("{namespace}/{name}")
}

/// What the watch saw of one job (times in seconds since the epoch).
#[derive(Clone, Debug, Default)]
pub struct Track {
    pub uid: String,
    pub create_sent: Option<f64>,
    pub applied: Option<f64>,
    /// First seen in phase `Queued`.
    pub queued_seen: Option<f64>,
    pub started_seen: Option<f64>,
    pub ended_seen: Option<f64>,
    pub phase: Option<RenderPhase>,
    /// `status.invocationSlots` last seen.
    pub slots: Option<i32>,
    /// When `status.invocationSlots` was seen to change, and to what (a render's share grows).
    pub slot_changes: Vec<(f64, i32)>,
    pub last_status: Option<Value>,
    pub writes: Vec<f64>,
}

#[derive(Default)]
pub struct Observed {
    /// By [`job_key`].
    pub jobs: HashMap<String, Track>,
    /// Every status write seen (time).
    pub writes: Vec<f64>,
    /// The status writes of jobs not launched (yet): `Pending` and `Queued` messages.
    pub waiting_writes: Vec<f64>,
}

/// Follows every RenderJob `jobs` lists: status writes, phases, start, end.
pub async fn watch_jobs(
    jobs: Api<RenderJob>,
    observed: Arc<Mutex<Observed>>,
    synced: tokio::sync::oneshot::Sender<()>,
    label: &'static str,
) {
    let mut synced = Some(synced);
    let mut stream = watcher(jobs, watcher::Config::default()).boxed();
    loop {
        let event = match stream.try_next().await {
            Ok(Some(event)) => event,
            Ok(None) => return,
            Err(e) => {
                eprintln!("{label}: watch error (the watcher retries): {e}");
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
        let key = job_key(&job.namespace().unwrap_or_default(), &job.name_any());
        let mut seen = observed.lock().unwrap();
        let track = seen.jobs.entry(key).or_default();
        if track.uid.is_empty() {
            track.uid = job.uid().unwrap_or_default();
        }
        let changed = track.last_status.as_ref() != Some(&status);
        let first_sight = track.last_status.is_none();
        if !changed {
            continue;
        }
        let job_status = job.status.as_ref();
        let launched = job_status.is_some_and(|s| s.started_at.is_some());
        if launched && track.started_seen.is_none() {
            track.started_seen = Some(now);
        }
        track.phase = job_status.and_then(|s| s.phase);
        if let Some(slots) = job_status.and_then(|s| s.invocation_slots)
            && track.slots != Some(slots)
        {
            track.slots = Some(slots);
            track.slot_changes.push((now, slots));
        }
        if track.phase == Some(RenderPhase::Queued) && track.queued_seen.is_none() {
            track.queued_seen = Some(now);
        }
        if track.phase.is_some_and(RenderPhase::is_terminal) && track.ended_seen.is_none() {
            track.ended_seen = Some(now);
        }
        // The object as created has no status; every later change of it is a status write.
        let is_write = !(first_sight && job.status.is_none());
        track.last_status = Some(status);
        if is_write {
            track.writes.push(now);
            seen.writes.push(now);
            if !launched {
                seen.waiting_writes.push(now);
            }
        }
    }
}

/// One sample of the operator process and the machine.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    pub at: f64,
    pub rss_kib: u64,
    pub cpu_ticks: u64,
    pub machine_busy: u64,
    pub machine_total: u64,
}

pub fn proc_sample(pid: u32) -> Result<Sample> {
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

/// Samples of a process, shared with the task taking them.
pub type Samples = Arc<Mutex<Vec<Sample>>>;

/// Samples `pid` every second into the returned list until the process is gone or the task
/// is aborted.
pub fn spawn_sampler(pid: u32) -> Result<(Samples, tokio::task::JoinHandle<()>)> {
    let samples = Arc::new(Mutex::new(vec![proc_sample(pid)?]));
    let task = {
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
    Ok((samples, task))
}

/// A process's use of the machine between two of its samples.
#[derive(Clone, Copy, Debug)]
pub struct ProcessUse {
    pub cpu_seconds: f64,
    /// Mean cores.
    pub cores: f64,
    /// Most cores over 5 s.
    pub peak_cores: f64,
    /// Percent of the machine busy (every process).
    pub machine_busy: f64,
    pub peak_rss_kib: u64,
    pub last: Sample,
}

impl ProcessUse {
    /// Over the samples taken from `from` to `to` (`fallback` when there are none).
    pub fn between(samples: &[Sample], from: f64, to: f64, fallback: Sample) -> Self {
        let ticks = clock_ticks();
        let during: Vec<&Sample> = samples.iter().filter(|s| s.at >= from && s.at <= to).collect();
        let first = during.first().copied().copied().unwrap_or(fallback);
        let last = during.last().copied().copied().unwrap_or(fallback);
        let cpu_seconds = (last.cpu_ticks - first.cpu_ticks) as f64 / ticks;
        let cores = cpu_seconds / (last.at - first.at).max(0.001);
        let peak_cores = during
            .windows(6)
            .map(|w| (w[5].cpu_ticks - w[0].cpu_ticks) as f64 / ticks / (w[5].at - w[0].at).max(0.001))
            .fold(0.0, f64::max);
        let machine_busy = (last.machine_busy - first.machine_busy) as f64
            / (last.machine_total - first.machine_total).max(1) as f64
            * 100.0;
        let peak_rss_kib = during.iter().map(|s| s.rss_kib).max().unwrap_or(0);
        Self { cpu_seconds, cores, peak_cores, machine_busy, peak_rss_kib, last }
    }
}

/// CPU ticks (utime + stime) of the stand-in processes of this run by program name: those
/// whose command line or working directory is under `run_dir`, and `extra` (the fakes).
pub fn standin_ticks(run_dir: &Path, extra: &[u32]) -> HashMap<String, u64> {
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

/// CPU-seconds of each stand-in program between two [`standin_ticks`], the busiest first (the
/// operator left out: it has its own figures).
pub fn standin_seconds(before: &HashMap<String, u64>, after: &HashMap<String, u64>) -> Vec<(String, f64)> {
    let mut used: Vec<(String, f64)> = after
        .iter()
        .map(|(name, after)| {
            let used = after - before.get(name).copied().unwrap_or(0).min(*after);
            (name.clone(), used as f64 / clock_ticks())
        })
        .filter(|(name, _)| name != "remotion-operator")
        .collect();
    used.sort_by(|a, b| b.1.total_cmp(&a.1));
    used
}

pub fn proc_status_kib(status: &str, field: &str) -> Option<u64> {
    status.lines().find_map(|l| l.strip_prefix(field)).and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// `VmHWM` of `pid`: the most memory it ever held resident.
pub fn high_water_kib(pid: u32) -> Result<u64> {
    Ok(proc_status_kib(&std::fs::read_to_string(format!("/proc/{pid}/status"))?, "VmHWM:").unwrap_or(0))
}

pub fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// `fake-launches` markers per render id: the times (s since the epoch) the fake received them.
pub async fn fake_launches(s3: &aws_sdk_s3::Client, bucket: &str) -> Result<HashMap<String, Vec<f64>>> {
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
pub fn tar_gz_dir(dir: &Path) -> Result<Vec<u8>> {
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
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub fn sorted(mut values: Vec<f64>) -> Vec<f64> {
    values.sort_by(f64::total_cmp);
    values
}

pub fn ms(seconds: f64) -> String {
    if seconds.is_nan() { "–".into() } else { format!("{:.0} ms", seconds * 1000.0) }
}

pub fn mib(kib: f64) -> String {
    if kib.is_nan() { "–".into() } else { format!("{:.1} MiB", kib / 1024.0) }
}

/// p50 / p90 / p99 / max of sorted values.
pub fn distribution(values: &[f64]) -> String {
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
pub fn metric(metrics: &str, series: &str) -> f64 {
    metrics.lines().find_map(|l| l.strip_prefix(series)?.trim().parse().ok()).unwrap_or(0.0)
}

/// "reconciles / failed / mean duration" of one controller from the operator's metrics
/// (the RenderJob's launching and following controllers are `renderjob-launch` and `renderjob`).
pub fn controller_figures(metrics: &str, label: &str) -> String {
    let reconciles = metric(metrics, &format!("remotion_operator_reconciles_total{{controller=\"{label}\"}} "));
    let failures: u64 = metrics
        .lines()
        .filter(|l| l.starts_with(&format!("remotion_operator_reconcile_failures_total{{controller=\"{label}\"")))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    let mean = metric(metrics, &format!("remotion_operator_reconcile_duration_seconds_sum{{controller=\"{label}\"}} "))
        / metric(metrics, &format!("remotion_operator_reconcile_duration_seconds_count{{controller=\"{label}\"}} "));
    format!("{reconciles:.0} / {failures} / {}", ms(mean))
}

/// The most intervals open at once, and when that was first reached.
pub fn most_at_once(intervals: &[(f64, f64)]) -> (i64, f64) {
    let weighted: Vec<(f64, f64, i64)> = intervals.iter().map(|(a, b)| (*a, *b, 1)).collect();
    most_at_once_weighted(&weighted)
}

/// The largest sum of the weights of the intervals `(start, end, weight)` open at once, and
/// when that was first reached.
pub fn most_at_once_weighted(intervals: &[(f64, f64, i64)]) -> (i64, f64) {
    let mut edges: Vec<(f64, i64)> = intervals.iter().flat_map(|(a, b, w)| [(*a, *w), (*b, -*w)]).collect();
    // An interval ending at the instant another starts does not overlap it.
    edges.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let (mut open, mut most, mut at) = (0i64, 0i64, f64::NAN);
    for (time, delta) in &edges {
        open += delta;
        if open > most {
            (most, at) = (open, *time);
        }
    }
    (most, at)
}

/// The most events (e.g. status writes) in one calendar second, and the most per second
/// averaged over 5 s.
pub fn peak_rates(times: &[f64]) -> (usize, f64) {
    let mut per_second: HashMap<i64, usize> = HashMap::new();
    for t in times {
        *per_second.entry(t.floor() as i64).or_default() += 1;
    }
    let peak_1s = per_second.values().copied().max().unwrap_or(0);
    let peak_5s =
        per_second.keys().map(|s| (*s..s + 5).filter_map(|k| per_second.get(&k)).sum::<usize>()).max().unwrap_or(0)
            as f64
            / 5.0;
    (peak_1s, peak_5s)
}

/// A benchmark's `main`: starts the stand-ins (outside the runtime: they start threads of their
/// own), runs `run` on a two-worker runtime, prints its markdown table, or says where the logs
/// are when it failed. `label` prefixes what goes to stderr.
pub fn bench_main<F, Fut>(label: &str, run: F) -> Result<()>
where
    F: FnOnce(&'static TestEnv) -> Fut,
    Fut: std::future::Future<Output = Result<String>>,
{
    let env = TestEnv::get();
    eprintln!("{label}: starting the stand-ins");
    env.kube();
    env.s3();
    env.lambda();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let report = runtime.block_on(run(env));
    runtime.shutdown_timeout(std::time::Duration::from_secs(5));
    match report {
        Ok(table) => {
            println!("{table}");
            Ok(())
        }
        Err(e) => {
            eprintln!("{label}: failed: {e:#}");
            eprintln!("{label}: logs in {} (set REMOTION_KEEP_TEST_RUN=1 to keep them)", env.run_dir().display());
            Err(e)
        }
    }
}
