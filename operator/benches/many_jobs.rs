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

// What the benchmarks share; each uses a part of it.
#[allow(dead_code)]
mod support;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use futures::StreamExt;
use kube::ResourceExt;
use kube::api::{Api, PostParams};
use remotion_crds::render_job::RenderPhase;
use remotion_crds::{RemotionSite, RenderJob};
use remotion_protocol::keys::RenderId;
use remotion_tests::TestEnv;
use serde_json::json;
use support::{
    Observed, OperatorProcess, ProcessUse, Sample, Track, apply_infrastructure, clock_ticks, controller_figures,
    distribution, fake_binary, fake_launches, high_water_kib, http_get, job_key, loadavg, mib, most_at_once, ms,
    peak_rates, percentile, proc_sample, sorted, spawn_fakes, spawn_sampler, standin_seconds, standin_ticks, unix_now,
    upload_site_archive, wait_ready, watch_jobs,
};

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
    support::bench_main("many_jobs", |env| async move { run(env, &args).await })
}

async fn run(env: &'static TestEnv, args: &Args) -> Result<String> {
    let load_before = loadavg();
    let client = env.kube_client().await?;
    let namespace = env.unique_name("bench");
    let s3_endpoint = env.s3().endpoint.clone();
    let lambda_endpoint = env.lambda().endpoint.clone();

    // The fake function, detached: one process holds many renders.
    let mut fakes = spawn_fakes(env, &fake_binary(args.fake_binary.as_deref())?, args.fake_processes, true)?;

    // The bucket, with the fixture bundle as a .tar.gz for the site.
    let bucket = env.s3().create_test_bucket("bench").await?;
    let s3 = env.s3().client().await;
    upload_site_archive(&s3, &bucket).await?;

    // The operator, as a process of its own.
    let operator_args = [
        "--concurrency".to_owned(),
        args.operator_concurrency.to_string(),
        "--progress-writes-per-second".to_owned(),
        args.progress_writes_per_second.to_string(),
        "--launch-concurrency".to_owned(),
        args.launch_concurrency.to_string(),
    ];
    let mut operator = OperatorProcess::start(env, Some(&namespace), &operator_args).await?;
    let (pid, http) = (operator.pid, operator.http);
    eprintln!("many_jobs: operator pid {pid} ready; namespace {namespace}, bucket {bucket}");

    apply_infrastructure(&client, &namespace, &bucket, &s3_endpoint, &lambda_endpoint, &json!({})).await?;
    wait_ready(&client, &namespace, &operator.log).await?;
    let idle = proc_sample(pid)?;
    eprintln!("many_jobs: bucket, function and site Ready; operator RSS {} MiB idle", idle.rss_kib / 1024);

    // Watch the jobs before creating any.
    let jobs: Api<RenderJob> = Api::namespaced(client.clone(), &namespace);
    let observed = Arc::new(Mutex::new(Observed::default()));
    let (synced_tx, synced_rx) = tokio::sync::oneshot::channel();
    let watch = tokio::spawn(watch_jobs(jobs.clone(), observed.clone(), synced_tx, "many_jobs"));
    synced_rx.await.context("the watch ended before its first list")?;

    // Sample the operator every second.
    let (samples, sampler) = spawn_sampler(pid)?;

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
    let fake_pids: Vec<u32> = fakes.iter().map(|f| f.pid()).collect();
    let standins_before = standin_ticks(env.run_dir(), &fake_pids);
    let t_start = unix_now();
    let props = json!({"steps": args.steps, "intervalMs": args.interval_ms});
    let create_errors = Arc::new(Mutex::new(Vec::<String>::new()));
    let create_rate = args.create_rate;
    let creations = futures::stream::iter(0..args.jobs)
        .map(|i| {
            let (jobs, observed, props, errors, namespace) =
                (jobs.clone(), observed.clone(), props.clone(), create_errors.clone(), namespace.clone());
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
                            let track = seen.jobs.entry(job_key(&namespace, &name)).or_default();
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
        operator.process.check_alive("remotion-operator")?;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let t_end = unix_now();
    let standins_after = standin_ticks(env.run_dir(), &fake_pids);
    progress.abort();
    sampler.abort();
    prober.abort();
    let last = proc_sample(pid)?;
    samples.lock().unwrap().push(last);
    let hwm_kib = high_water_kib(pid)?;
    let metrics = http_get(http, "/metrics").await.map(|(_, body)| body).unwrap_or_default();
    watch.abort();
    let launches = fake_launches(&s3, &bucket).await?;
    let load_after = loadavg();

    // Stop the operator gracefully (the reaper stops the rest when this process exits).
    operator.stop().await?;
    for fake in &mut fakes {
        let _ = fake.check_alive("fake function");
    }

    let observed = observed.lock().unwrap();
    let samples = samples.lock().unwrap().clone();
    let errors = create_errors.lock().unwrap().clone();
    let probes = probes.lock().unwrap().clone();
    let standins = standin_seconds(&standins_before, &standins_after);
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
        let (peak_live, peak_live_at) = most_at_once(&intervals);
        // Existing and not ended at once (what the API server holds live).
        let open: Vec<(f64, f64)> =
            jobs.iter().map(|t| (t.applied.unwrap_or(0.0), t.ended_seen.unwrap_or(f64::MAX))).collect();
        let (peak_open, _) = most_at_once(&open);

        // Outcome.
        let succeeded = jobs.iter().filter(|t| t.phase == Some(RenderPhase::Succeeded)).count();
        let failed = jobs.iter().filter(|t| t.phase.is_some_and(RenderPhase::is_terminal)).count() - succeeded;
        let last_end = jobs.iter().filter_map(|t| t.ended_seen).fold(f64::NAN, f64::max);
        let run_seconds = self.t_end - self.t_start;

        // Status writes.
        let writes = &self.observed.writes;
        let window = (self.t_start, if last_end.is_nan() { self.t_end } else { last_end });
        let in_window = writes.iter().filter(|w| **w >= window.0 && **w <= window.1).count();
        let (peak_per_second, peak_5s) = peak_rates(writes);
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
        let ProcessUse { cpu_seconds, cores, peak_cores, machine_busy, peak_rss_kib: peak_rss, last } =
            ProcessUse::between(self.samples, self.t_start, f64::INFINITY, self.idle);
        // Steady state: while at least 90 % of the peak number of renders were live.
        let steady: Vec<f64> = sorted(
            self.samples
                .iter()
                .filter(|s| s.at >= self.t_start)
                .filter(|s| {
                    let live = intervals.iter().filter(|(a, b)| *a <= s.at && s.at <= *b).count() as f64;
                    live >= 0.9 * peak_live as f64 && peak_live > 0
                })
                .map(|s| s.rss_kib as f64)
                .collect(),
        );

        // Launching and following are two controllers (labels `renderjob-launch`, `renderjob`).
        let per_controller = |label: &str| controller_figures(self.metrics, label);
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
