//! Capacity benchmark of the operator (run on demand, not a test): RenderJobs of several
//! namespaces queued for one Lambda function of a few slots, against the API server stand-in,
//! SeaweedFS and the Lambda emulator running the scripted fake function, with the real
//! `remotion-operator` binary as a process watching every namespace (the stand-ins are this
//! benchmark's own, so nothing else is in scope).
//!
//! ```text
//! bash bench/capacity.sh [--scenario fairness|scale] [--jobs N] [--shares 30,15,5] [--slots 4]
//!     [--steps S] [--steps-jitter J] [--interval-ms MS] [--complete N] [--fake-processes N]
//!     [--create-concurrency 32] [--operator-concurrency 4] [--launch-concurrency 16]
//!     [--progress-writes-per-second 25] [--video] [--timeout-s T] [--fake-binary PATH]
//!     [--dump-jobs FILE.jsonl]
//! ```
//!
//! Each namespace (one per `--shares` weight; the jobs are split in these proportions and their
//! creation interleaved) has a LambdaBucket, a RemotionSite and a RenderFunction naming the same
//! Lambda function with `maxConcurrentInvocations: --slots`, so they share its slots. Every job
//! runs the fake's `succeed` script: `--steps` progress documents `--interval-ms` apart (job i
//! gets `steps - jitter + (7 i mod (2 jitter + 1))` steps). The jobs are stills unless `--video`:
//! a still wants one slot, which is what the fake uses (one process), while a video of unknown
//! length may be given every free slot, which the fake leaves idle.
//!
//! **fairness** (default 50 jobs, 30/15/5, 6 steps × 500 ms): the fake is *not* detached and
//! runs exactly `--slots` processes, and the emulator runs one invocation per process, so a
//! launch holds a process for its whole script, as an orchestrator holds its slot. All jobs are
//! created at once and followed until every one has ended. Reported: makespan against the ideal
//! (scripted work ÷ slots, target ≤ 1.15×); the most renders launched and not ended at once
//! (≤ slots); launches queued inside the emulator (the fake received the launch more than 1 s
//! after the watch saw its `startedAt`: the operator launched beyond the free processes);
//! fairness across namespaces (below); slot free → next launch.
//!
//! **scale** (default 10,000 jobs, 2 steps × 500 ms): the fake is detached (`--fake-processes`
//! processes play any number of renders), so only the operator bounds how many run. All jobs
//! are created with `--create-concurrency` creates at a time. New jobs get a burst of status
//! writes (Queued, then their positions as the others arrive); the queue counts as settled at
//! the first second when every job has a status and the jobs not launched got at most the
//! operator's progress write budget (`--progress-writes-per-second`) of writes per second over
//! the 5 s before. The run goes on until `--complete` renders have ended after that (or all),
//! and the steady figures are taken over that window. Reported: the operator's RSS (VmHWM, and
//! the median VmRSS in the window; target < 200 MiB) and CPU (creating, settling, window), slot
//! free → next launch (target p99 < 1 s, in the window; also from the last create on), status
//! writes per second (those of waiting jobs apart), the slots busy on average while settling
//! and in the window, the most renders running at once as the fake saw them (≤ slots), and
//! the phases at the end (the rest Queued).
//!
//! Slot free → next launch: a slot frees when a render ends; the time is the fake's final
//! progress document (`updatedAtMs`), or, second figure, when the benchmark's watch saw the
//! job's terminal status (the operator releases the slot right after writing it). The next
//! launch is the time the fake received it (its `renders/<id>/fake-launches/<nanos>` marker).
//! With one slot per render and jobs waiting, the i-th slot freed is taken by the i-th launch
//! after the first free, so they are paired in order (a video can hold several slots: pairs
//! are then approximate). The first figure includes how long the operator takes to notice the
//! end: it reads a progress document at most every 1.5 s (its poll interval).
//!
//! Fairness across namespaces: for namespace k with n_k jobs, C_k is the mean over its jobs of
//! the time from the first create to the job's end seen by the watch, and x_k = C_k / n_k, the
//! wait per job it asked for. Jain's index J = (Σ x_k)² / (K · Σ x_k²) over the K namespaces is
//! 1 when every namespace waits the same per job asked for and falls towards 1/K as one
//! namespace is served ahead of the others. Dividing by n_k is what makes round-robin fair: a
//! namespace that asks for 30 renders should finish later than one that asks for 5, but the
//! one with 5 should not wait as long as the one with 30, as it does in a first-come queue when
//! their creations interleave (every namespace's mean completion is then about half the
//! makespan). For reference the report gives J of an ideal round-robin and of a first-come
//! queue, simulated for the same jobs and slots without any overhead (for 30/15/5 jobs of
//! equal length: 0.915 and 0.657); the target is ≥ 0.9.
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
use remotion_crds::RenderJob;
use remotion_crds::render_job::RenderPhase;
use remotion_protocol::keys::{self, RenderId};
use remotion_protocol::progress::Stage;
use remotion_tests::TestEnv;
use serde_json::{Value, json};
use support::{
    Observed, OperatorProcess, ProcessUse, Sample, Track, apply_infrastructure, clock_ticks, controller_figures,
    distribution, fake_binary, fake_launches, high_water_kib, http_get, job_key, loadavg, mib, most_at_once,
    most_at_once_weighted, ms, peak_rates, percentile, proc_sample, sorted, spawn_fakes, spawn_sampler,
    standin_seconds, standin_ticks, unix_now, upload_site_archive, wait_ready, watch_jobs,
};

const LABEL: &str = "capacity";

/// A launch the fake received this long after the watch saw the job launched waited in the
/// emulator for a free process (it normally takes tens of milliseconds).
const QUEUED_IN_EMULATOR: f64 = 1.0;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scenario {
    Fairness,
    Scale,
}

#[derive(Clone, Debug)]
struct Args {
    scenario: Scenario,
    jobs: usize,
    /// Relative number of jobs of each namespace.
    shares: Vec<u32>,
    slots: u32,
    steps: u64,
    steps_jitter: u64,
    interval_ms: u64,
    /// Scale: renders to see end after every job was created.
    complete: usize,
    fake_processes: usize,
    create_concurrency: usize,
    operator_concurrency: u16,
    launch_concurrency: u16,
    progress_writes_per_second: u16,
    video: bool,
    timeout: Duration,
    fake_binary: Option<PathBuf>,
    /// Where to write every job's timeline (JSON lines), for a closer look.
    dump_jobs: Option<PathBuf>,
}

impl Args {
    fn parse() -> Result<Self> {
        let raw: Vec<String> = std::env::args().skip(1).collect();
        // The scenario first: the other defaults depend on it.
        let mut scenario = Scenario::Fairness;
        for (i, flag) in raw.iter().enumerate() {
            let value = match flag.split_once('=') {
                Some(("--scenario", v)) => Some(v.to_owned()),
                None if flag == "--scenario" => raw.get(i + 1).cloned(),
                _ => None,
            };
            if let Some(value) = value {
                scenario = match value.as_str() {
                    "fairness" => Scenario::Fairness,
                    "scale" => Scenario::Scale,
                    other => bail!("--scenario is fairness or scale, not {other}"),
                };
            }
        }
        let fairness = scenario == Scenario::Fairness;
        let mut args = Args {
            scenario,
            jobs: if fairness { 50 } else { 10_000 },
            shares: vec![30, 15, 5],
            slots: 4,
            steps: if fairness { 6 } else { 2 },
            steps_jitter: 0,
            interval_ms: 500,
            complete: 200,
            fake_processes: 0,
            create_concurrency: 32,
            operator_concurrency: 4,
            launch_concurrency: remotion_operator::controllers::DEFAULT_LAUNCH_CONCURRENCY,
            progress_writes_per_second: remotion_operator::controllers::DEFAULT_PROGRESS_WRITES_PER_SECOND,
            video: false,
            timeout: Duration::from_secs(if fairness { 900 } else { 1800 }),
            fake_binary: None,
            dump_jobs: None,
        };
        let mut it = raw.into_iter();
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
                "--scenario" => {
                    value()?;
                }
                "--jobs" => args.jobs = value()?.parse()?,
                "--shares" => {
                    args.shares = value()?.split(',').map(|s| s.trim().parse()).collect::<Result<_, _>>()?;
                }
                "--slots" => args.slots = value()?.parse()?,
                "--steps" => args.steps = value()?.parse()?,
                "--steps-jitter" => args.steps_jitter = value()?.parse()?,
                "--interval-ms" => args.interval_ms = value()?.parse()?,
                "--complete" => args.complete = value()?.parse()?,
                "--fake-processes" => args.fake_processes = value()?.parse()?,
                "--create-concurrency" => args.create_concurrency = value()?.parse()?,
                "--operator-concurrency" => args.operator_concurrency = value()?.parse()?,
                "--launch-concurrency" => args.launch_concurrency = value()?.parse()?,
                "--progress-writes-per-second" => args.progress_writes_per_second = value()?.parse()?,
                "--video" => args.video = true,
                "--timeout-s" => args.timeout = Duration::from_secs(value()?.parse()?),
                "--fake-binary" => args.fake_binary = Some(PathBuf::from(value()?)),
                "--dump-jobs" => args.dump_jobs = Some(PathBuf::from(value()?)),
                // cargo bench passes --bench; libtest's other flags mean nothing here.
                "--bench" => {}
                other if other.starts_with("--") => eprintln!("{LABEL}: ignoring {other}"),
                other => bail!("unexpected argument {other}"),
            }
        }
        if args.fake_processes == 0 {
            // Fairness: one process per slot, so that the emulator itself holds no more renders
            // than the function's capacity. Scale: detached processes play any number.
            args.fake_processes = if fairness { args.slots as usize } else { 2 };
        }
        anyhow::ensure!(args.jobs > 0 && args.slots > 0 && args.create_concurrency > 0 && args.steps > 0);
        anyhow::ensure!(!args.shares.is_empty() && args.shares.iter().all(|s| *s > 0), "--shares: positive weights");
        anyhow::ensure!(args.shares.len() <= 26, "--shares: at most 26 namespaces");
        Ok(args)
    }

    fn detached(&self) -> bool {
        self.scenario == Scenario::Scale
    }

    /// Steps of job `i`'s script.
    fn steps_of(&self, i: usize) -> u64 {
        let jitter = self.steps_jitter.min(self.steps - 1);
        self.steps - jitter + (7 * i as u64) % (2 * jitter + 1)
    }
}

/// The jobs of each namespace: `jobs` split in proportion to `shares`, by largest remainder.
fn split(jobs: usize, shares: &[u32]) -> Vec<usize> {
    let total: u64 = shares.iter().map(|s| u64::from(*s)).sum();
    let exact: Vec<f64> = shares.iter().map(|s| jobs as f64 * f64::from(*s) / total as f64).collect();
    let mut counts: Vec<usize> = exact.iter().map(|e| e.floor() as usize).collect();
    let mut order: Vec<usize> = (0..shares.len()).collect();
    order.sort_by(|a, b| (exact[*b] - exact[*b].floor()).total_cmp(&(exact[*a] - exact[*a].floor())));
    for k in order.into_iter().cycle().take(jobs - counts.iter().sum::<usize>()) {
        counts[k] += 1;
    }
    counts
}

/// The namespace index of each job in creation order: each namespace's jobs spread evenly
/// over the sequence (30/15/5 gives a b a c a b a …), so no namespace is created first.
fn interleave(counts: &[usize]) -> Vec<usize> {
    let mut slots: Vec<(f64, usize)> =
        counts.iter().enumerate().flat_map(|(k, n)| (0..*n).map(move |j| ((j as f64 + 0.5) / *n as f64, k))).collect();
    slots.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    slots.into_iter().map(|(_, k)| k).collect()
}

fn letter(k: usize) -> char {
    char::from(b'a' + k as u8)
}

/// Jain's index of `xs`: (Σx)² / (n Σx²).
fn jain(xs: &[f64]) -> f64 {
    let sum: f64 = xs.iter().sum();
    let squares: f64 = xs.iter().map(|x| x * x).sum();
    sum * sum / (xs.len() as f64 * squares)
}

/// Per namespace: the mean completion time of its jobs divided by their number (the x_k of
/// the fairness index), from `(namespace, completion)` pairs.
fn wait_per_job(namespaces: usize, completions: &[(usize, f64)]) -> Vec<f64> {
    (0..namespaces)
        .map(|k| {
            let mine: Vec<f64> = completions.iter().filter(|(n, _)| *n == k).map(|(_, c)| *c).collect();
            mine.iter().sum::<f64>() / mine.len().max(1) as f64 / mine.len().max(1) as f64
        })
        .collect()
}

/// Completion times of `jobs` (namespace, duration; in creation order, all present at time 0)
/// on `slots` slots without any overhead: `round_robin` picks as the operator's plan does
/// (the namespace with the fewest running, then the one served longest ago, then its oldest
/// job), else the oldest job first.
fn simulate(jobs: &[(usize, f64)], slots: usize, round_robin: bool) -> Vec<(usize, f64)> {
    let namespaces = jobs.iter().map(|(k, _)| k + 1).max().unwrap_or(0);
    let mut lanes: Vec<std::collections::VecDeque<usize>> = vec![Default::default(); namespaces];
    for (i, (k, _)) in jobs.iter().enumerate() {
        lanes[*k].push_back(i);
    }
    let mut fifo: std::collections::VecDeque<usize> = (0..jobs.len()).collect();
    let (mut running, mut served) = (vec![0usize; namespaces], vec![0u64; namespaces]);
    let (mut tick, mut now) = (0u64, 0.0);
    let mut live: Vec<(f64, usize)> = Vec::new();
    let mut done = Vec::with_capacity(jobs.len());
    loop {
        while live.len() < slots {
            let next = if round_robin {
                let lane = (0..namespaces)
                    .filter(|k| !lanes[*k].is_empty())
                    .min_by_key(|k| (running[*k], served[*k], lanes[*k].front().copied(), *k));
                lane.and_then(|k| lanes[k].pop_front())
            } else {
                fifo.pop_front()
            };
            let Some(i) = next else { break };
            let k = jobs[i].0;
            running[k] += 1;
            tick += 1;
            served[k] = tick;
            live.push((now + jobs[i].1, i));
        }
        // Renders ending at once free their slots oldest first (equal durations tie often; a
        // fixed order keeps the reference reproducible).
        let Some(first) =
            live.iter().enumerate().min_by(|a, b| a.1.0.total_cmp(&b.1.0).then(a.1.1.cmp(&b.1.1))).map(|(at, _)| at)
        else {
            return done;
        };
        let (end, i) = live.swap_remove(first);
        now = end;
        running[jobs[i].0] -= 1;
        done.push((jobs[i].0, end));
    }
}

fn main() -> Result<()> {
    let args = Args::parse()?;
    support::bench_main(LABEL, |env| async move { run(env, &args).await })
}

/// A job as created.
struct Planned {
    key: String,
    namespace: usize,
    name: String,
    steps: u64,
}

/// What a render left in S3: when the fake received its launch(es), and its last progress
/// document's stage and time.
#[derive(Clone, Debug, Default)]
struct Played {
    launches: Vec<f64>,
    final_doc: Option<(Stage, f64)>,
}

async fn run(env: &'static TestEnv, args: &Args) -> Result<String> {
    let load_before = loadavg();
    let client = env.kube_client().await?;
    let s3_endpoint = env.s3().endpoint.clone();
    let lambda_endpoint = env.lambda().endpoint.clone();
    let s3 = env.s3().client().await;

    let fakes = spawn_fakes(env, &fake_binary(args.fake_binary.as_deref())?, args.fake_processes, args.detached())?;
    let operator_args = [
        "--concurrency".to_owned(),
        args.operator_concurrency.to_string(),
        "--progress-writes-per-second".to_owned(),
        args.progress_writes_per_second.to_string(),
        "--launch-concurrency".to_owned(),
        args.launch_concurrency.to_string(),
    ];
    // Every namespace: that is how the operator runs for many teams (`--namespace` unset).
    let mut operator = OperatorProcess::start(env, None, &operator_args).await?;
    let (pid, http) = (operator.pid, operator.http);
    eprintln!("{LABEL}: operator pid {pid} ready, watching every namespace");

    // One namespace per share, each with its own bucket, site and RenderFunction; the
    // RenderFunctions name one Lambda function and so share its slots.
    let capacity = json!({"maxConcurrentInvocations": args.slots});
    let mut namespaces = Vec::new();
    let mut buckets = Vec::new();
    for k in 0..args.shares.len() {
        let namespace = env.unique_name(&format!("team-{}", letter(k)));
        let bucket = env.s3().create_test_bucket(&format!("capacity-{}", letter(k))).await?;
        upload_site_archive(&s3, &bucket).await?;
        apply_infrastructure(&client, &namespace, &bucket, &s3_endpoint, &lambda_endpoint, &capacity).await?;
        namespaces.push(namespace);
        buckets.push(bucket);
    }
    for namespace in &namespaces {
        wait_ready(&client, namespace, &operator.log).await?;
    }
    let idle = proc_sample(pid)?;
    eprintln!(
        "{LABEL}: {} namespaces Ready ({}); operator RSS {} MiB idle",
        namespaces.len(),
        namespaces.join(", "),
        idle.rss_kib / 1024
    );

    // The jobs, in creation order.
    let counts = split(args.jobs, &args.shares);
    let planned: Vec<Planned> = interleave(&counts)
        .into_iter()
        .enumerate()
        .map(|(i, k)| {
            let name = format!("job-{i:05}");
            Planned { key: job_key(&namespaces[k], &name), namespace: k, name, steps: args.steps_of(i) }
        })
        .collect();

    // Watch every namespace's jobs before creating any.
    let observed = Arc::new(Mutex::new(Observed::default()));
    let (synced_tx, synced_rx) = tokio::sync::oneshot::channel();
    let watch = tokio::spawn(watch_jobs(Api::all(client.clone()), observed.clone(), synced_tx, LABEL));
    synced_rx.await.context("the watch ended before its first list")?;
    let (samples, sampler) = spawn_sampler(pid)?;
    let fake_pids: Vec<u32> = fakes.iter().map(|f| f.pid()).collect();
    let standins_before = standin_ticks(env.run_dir(), &fake_pids);

    let t_start = unix_now();
    let create_errors = Arc::new(Mutex::new(Vec::<String>::new()));
    let progress = tokio::spawn(report_progress(observed.clone(), samples.clone(), args.jobs, t_start));
    futures::stream::iter(&planned)
        .map(|job| {
            let (api, observed, errors) = (
                Api::<RenderJob>::namespaced(client.clone(), &namespaces[job.namespace]),
                observed.clone(),
                create_errors.clone(),
            );
            let mut spec = json!({"siteRef": {"name": "site"}, "functionRef": {"name": "renderer"},
                "composition": "succeed", "inputProps": {"steps": job.steps, "intervalMs": args.interval_ms},
                "output": {"privacy": "private", "presignSeconds": 600}});
            if !args.video {
                spec["still"] = json!({"frame": 0, "imageFormat": "png"});
            }
            let manifest = json!({"apiVersion": "remotion-operator.io/v1alpha1", "kind": "RenderJob",
                "metadata": {"name": job.name}, "spec": spec});
            async move {
                let resource: RenderJob = serde_json::from_value(manifest).expect("a valid RenderJob");
                for attempt in 1..=5 {
                    let sent = unix_now();
                    match api.create(&PostParams::default(), &resource).await {
                        Ok(created) => {
                            let applied = unix_now();
                            let mut seen = observed.lock().unwrap();
                            let track = seen.jobs.entry(job.key.clone()).or_default();
                            track.uid = created.uid().unwrap_or_default();
                            track.create_sent = Some(sent);
                            track.applied = Some(applied);
                            return;
                        }
                        Err(e) => {
                            errors.lock().unwrap().push(format!("{} attempt {attempt}: {e}", job.key));
                            tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
                        }
                    }
                }
            }
        })
        .buffer_unordered(args.create_concurrency)
        .collect::<Vec<()>>()
        .await;
    let t_created = unix_now();
    let ended_at_created = observed.lock().unwrap().jobs.values().filter(|t| t.ended_seen.is_some()).count();
    eprintln!(
        "{LABEL}: {} RenderJobs created in {:.1} s ({ended_at_created} ended meanwhile)",
        args.jobs,
        t_created - t_start
    );

    // Fairness: until every job has ended. Scale: until `complete` have ended since the queue
    // settled (see `Report::settled`), or all.
    let deadline = Instant::now() + args.timeout;
    loop {
        let (ended, ended_since_settled) = {
            let seen = observed.lock().unwrap();
            let settled =
                settled_at(&seen, t_created, args.progress_writes_per_second, unix_now()).unwrap_or(f64::INFINITY);
            let ended = seen.jobs.values().filter_map(|t| t.ended_seen);
            (ended.clone().count(), ended.filter(|e| *e >= settled).count())
        };
        let done = match args.scenario {
            Scenario::Fairness => ended >= args.jobs,
            Scenario::Scale => ended >= args.jobs || ended_since_settled >= args.complete,
        };
        if done {
            break;
        }
        if Instant::now() > deadline {
            eprintln!(
                "{LABEL}: timed out with {ended}/{} jobs ended ({ended_since_settled} since the queue settled)",
                args.jobs
            );
            break;
        }
        operator.process.check_alive("remotion-operator")?;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let t_end = unix_now();
    let standins_after = standin_ticks(env.run_dir(), &fake_pids);
    progress.abort();
    sampler.abort();
    samples.lock().unwrap().push(proc_sample(pid)?);
    let hwm_kib = high_water_kib(pid)?;
    let metrics = http_get(http, "/metrics").await.map(|(_, body)| body).unwrap_or_default();
    watch.abort();
    let load_after = loadavg();

    // What the fake did: launches received, and the last document of every launched render.
    let mut played: HashMap<String, Played> = HashMap::new();
    for bucket in &buckets {
        for (id, launches) in fake_launches(&s3, bucket).await? {
            played.entry(id).or_default().launches = launches;
        }
    }
    let launched: Vec<(String, String)> = {
        let seen = observed.lock().unwrap();
        planned
            .iter()
            .filter_map(|job| {
                let id = RenderId::from_uid(&seen.jobs.get(&job.key)?.uid).ok()?;
                played.contains_key(id.as_str()).then(|| (id.to_string(), buckets[job.namespace].clone()))
            })
            .collect()
    };
    let final_docs: Vec<(String, Option<(Stage, f64)>)> = futures::stream::iter(launched)
        .map(|(id, bucket)| {
            let s3 = s3.clone();
            async move {
                let doc = final_document(&s3, &bucket, &id).await;
                (id, doc)
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    for (id, doc) in final_docs {
        played.entry(id).or_default().final_doc = doc;
    }

    // Stop the operator gracefully (the reaper stops the rest when this process exits).
    operator.stop().await?;

    let observed = observed.lock().unwrap();
    if let Some(path) = &args.dump_jobs {
        dump_jobs(path, &planned, &observed, &played, t_start)?;
        eprintln!("{LABEL}: job timelines in {}", path.display());
    }
    let samples = samples.lock().unwrap().clone();
    let errors = create_errors.lock().unwrap().clone();
    let standins = standin_seconds(&standins_before, &standins_after);
    Ok(Report {
        args,
        namespaces: &namespaces,
        counts: &counts,
        planned: &planned,
        observed: &observed,
        played: &played,
        samples: &samples,
        idle,
        hwm_kib,
        metrics: &metrics,
        create_errors: &errors,
        t_start,
        t_created,
        t_end,
        load_before,
        load_after,
        standins: &standins,
    }
    .render())
}

/// When the queue settled after the last create (`since`): the first whole second from which
/// every job created has a status and the jobs not launched got at most `budget` status
/// writes per second over the 5 s before; `None` until then (by `now`). New jobs get a burst
/// of writes (Queued, then their positions as the others arrive); the steady figures are
/// taken after it. Later waves of rechecks may exceed the budget again: they are measured,
/// not waited out.
fn settled_at(observed: &Observed, since: f64, budget: u16, now: f64) -> Option<f64> {
    let mut all_statused = since;
    for track in observed.jobs.values().filter(|t| t.applied.is_some()) {
        all_statused = all_statused.max(*track.writes.first()?);
    }
    // The watch appends writes in the order it sees them: sorted.
    let writes = &observed.waiting_writes;
    let allowed = 5 * usize::from(budget);
    let mut second = all_statused.max(since + 5.0).ceil();
    while second <= now {
        let count = writes.partition_point(|w| *w < second) - writes.partition_point(|w| *w < second - 5.0);
        if count <= allowed {
            return Some(second);
        }
        second += 1.0;
    }
    None
}

/// The mean number of `intervals` open over `from`–`to`: the slots busy on average.
fn occupancy(intervals: &[(f64, f64)], from: f64, to: f64) -> f64 {
    let busy: f64 = intervals.iter().map(|(a, b)| (b.min(to) - a.max(from)).max(0.0)).sum();
    busy / (to - from).max(0.001)
}

/// Writes one JSON line per job: its times in seconds from the first create (what the watch
/// saw, what the fake received and wrote last) and the times of its status writes.
fn dump_jobs(
    path: &std::path::Path,
    planned: &[Planned],
    observed: &Observed,
    played: &HashMap<String, Played>,
    t0: f64,
) -> Result<()> {
    let rel = |t: Option<f64>| t.map(|t| ((t - t0) * 1000.0).round() / 1000.0);
    let mut out = String::new();
    for job in planned {
        let Some(track) = observed.jobs.get(&job.key) else { continue };
        let play = RenderId::from_uid(&track.uid).ok().and_then(|id| played.get(id.as_str()));
        let line = json!({
            "job": job.key, "namespace": letter(job.namespace).to_string(), "steps": job.steps,
            "created": rel(track.applied), "queuedSeen": rel(track.queued_seen),
            "startedSeen": rel(track.started_seen), "endedSeen": rel(track.ended_seen),
            "phase": track.phase.map(|p| format!("{p:?}")), "slots": track.slots,
            "launches": play.map(|p| p.launches.iter().map(|l| rel(Some(*l))).collect::<Vec<_>>()),
            "finalDoc": play.and_then(|p| p.final_doc).map(|(stage, at)| json!([stage.as_str(), rel(Some(at))])),
            "writes": track.writes.iter().map(|w| rel(Some(*w))).collect::<Vec<_>>(),
        });
        out.push_str(&line.to_string());
        out.push('\n');
    }
    std::fs::write(path, out).with_context(|| format!("writing {}", path.display()))
}

/// The stage and time (s since the epoch) of a render's progress document as it is now.
async fn final_document(s3: &aws_sdk_s3::Client, bucket: &str, id: &str) -> Option<(Stage, f64)> {
    let key = keys::progress(&RenderId::new(id.to_owned()).ok()?);
    let body = s3.get_object().bucket(bucket).key(key).send().await.ok()?.body.collect().await.ok()?.into_bytes();
    let doc: Value = serde_json::from_slice(&body).ok()?;
    let stage: Stage = serde_json::from_value(doc.get("stage")?.clone()).ok()?;
    let at = doc.get("updatedAtMs")?.as_u64()? as f64 / 1000.0;
    Some((stage, at))
}

/// A line on stderr every 5 s.
async fn report_progress(observed: Arc<Mutex<Observed>>, samples: Arc<Mutex<Vec<Sample>>>, total: usize, t0: f64) {
    let ticks = clock_ticks();
    loop {
        tokio::time::sleep(Duration::from_secs(5)).await;
        let now = unix_now();
        let (created, queued, running, ended, recent) = {
            let seen = observed.lock().unwrap();
            let jobs = seen.jobs.values();
            let created = jobs.clone().filter(|t| t.applied.is_some()).count();
            let queued = jobs.clone().filter(|t| t.phase == Some(RenderPhase::Queued)).count();
            let running = jobs.clone().filter(|t| t.started_seen.is_some() && t.ended_seen.is_none()).count();
            let ended = jobs.filter(|t| t.ended_seen.is_some()).count();
            let recent = seen.writes.iter().rev().take_while(|t| **t > now - 5.0).count();
            (created, queued, running, ended, recent)
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
            "{LABEL}: {:5.0} s  created {created}/{total}  queued {queued}  running {running}  ended {ended}  status writes {:.0}/s  operator RSS {rss} MiB, {cores:.2} cores  load {}",
            now - t0,
            recent as f64 / 5.0,
            loadavg()
        );
    }
}

struct Report<'a> {
    args: &'a Args,
    namespaces: &'a [String],
    counts: &'a [usize],
    planned: &'a [Planned],
    observed: &'a Observed,
    /// By render id.
    played: &'a HashMap<String, Played>,
    samples: &'a [Sample],
    idle: Sample,
    hwm_kib: u64,
    metrics: &'a str,
    create_errors: &'a [String],
    t_start: f64,
    t_created: f64,
    t_end: f64,
    load_before: String,
    load_after: String,
    /// CPU-seconds of each stand-in program during the run.
    standins: &'a [(String, f64)],
}

/// One job as the report sees it.
struct Seen<'a> {
    planned: &'a Planned,
    track: &'a Track,
    played: Option<&'a Played>,
}

impl Seen<'_> {
    fn first_launch(&self) -> Option<f64> {
        self.played?.launches.iter().copied().min_by(f64::total_cmp)
    }

    /// When the fake wrote its last document, if the render ended there.
    fn final_doc(&self) -> Option<f64> {
        let (stage, at) = self.played?.final_doc?;
        stage.is_terminal().then_some(at)
    }
}

/// Slot free → next launch: (free, latency) pairing the i-th free (sorted) with the i-th launch
/// (sorted) after the first free, the launches before it having taken the free slots at the
/// start.
fn free_to_launch(frees: &[f64], launches: &[f64]) -> Vec<(f64, f64)> {
    let Some(first_free) = frees.first() else { return Vec::new() };
    let initial = launches.iter().filter(|l| **l < *first_free).count();
    frees.iter().zip(&launches[initial..]).map(|(free, launch)| (*free, launch - free)).collect()
}

/// The sorted latencies of the pairs whose slot freed from `since` on.
fn latencies(pairs: &[(f64, f64)], since: f64) -> Vec<f64> {
    sorted(pairs.iter().filter(|(free, _)| *free >= since).map(|(_, gap)| *gap).collect())
}

fn verdict(ok: bool) -> &'static str {
    if ok { "✓" } else { "✗" }
}

impl Report<'_> {
    fn render(&self) -> String {
        let args = self.args;
        let jobs: Vec<Seen<'_>> = self
            .planned
            .iter()
            .filter_map(|planned| {
                let track = self.observed.jobs.get(&planned.key)?;
                let played = RenderId::from_uid(&track.uid).ok().and_then(|id| self.played.get(id.as_str()));
                Some(Seen { planned, track, played })
            })
            .collect();
        let fairness = args.scenario == Scenario::Fairness;
        // Scale measures the queue full and settled: every job created, and the first status
        // writes of the new jobs (Queued, then their positions as the rest arrive) done.
        let settled = if fairness { self.t_start } else { self.settled() };
        let window = (settled, self.t_end);

        // Outcome and phases at the end.
        let succeeded = jobs.iter().filter(|j| j.track.phase == Some(RenderPhase::Succeeded)).count();
        let ended = jobs.iter().filter(|j| j.track.ended_seen.is_some()).count();
        let mut phases: HashMap<String, usize> = HashMap::new();
        for job in &jobs {
            let phase = job.track.phase.map_or("(no status)".to_owned(), |p| format!("{p:?}"));
            *phases.entry(phase).or_default() += 1;
        }
        let mut phases: Vec<(String, usize)> = phases.into_iter().collect();
        phases.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
        let launched_not_ended =
            jobs.iter().filter(|j| j.track.started_seen.is_some() && j.track.ended_seen.is_none()).count();
        let never_queued =
            jobs.iter().filter(|j| j.track.queued_seen.is_none() && j.track.started_seen.is_none()).count();

        // At once: launched and not ended as the watch saw it, the slots they held, and
        // renders playing as the fake saw them (launch received → last document).
        let watched: Vec<(f64, f64, i64)> = jobs
            .iter()
            .filter_map(|j| Some((j.track.started_seen?, j.track.ended_seen.unwrap_or(f64::MAX), 1)))
            .collect();
        // Slots held: each share from when the watch saw it until it grew or the job ended.
        let held_slots: Vec<(f64, f64, i64)> = jobs
            .iter()
            .filter(|j| j.track.started_seen.is_some())
            .flat_map(|j| {
                let end = j.track.ended_seen.unwrap_or(f64::MAX);
                let changes = &j.track.slot_changes;
                changes.iter().enumerate().map(move |(i, (from, slots))| {
                    let to = changes.get(i + 1).map_or(end, |next| next.0);
                    (*from, to.min(end), i64::from(*slots))
                })
            })
            .collect();
        let (most_launched, _) = most_at_once_weighted(&watched);
        let (most_slots, _) = most_at_once_weighted(&held_slots);
        let playing: Vec<(f64, f64)> =
            jobs.iter().filter_map(|j| Some((j.first_launch()?, j.final_doc().unwrap_or(f64::MAX)))).collect();
        let (most_playing, _) = most_at_once(&playing);
        // Slots busy on average: held as the watch saw it, playing as the fake did.
        let held: Vec<(f64, f64)> = watched.iter().map(|(a, b, _)| (*a, b.min(self.t_end))).collect();
        let played: Vec<(f64, f64)> = playing.iter().map(|(a, b)| (*a, b.min(self.t_end))).collect();
        let busy =
            |from: f64, to: f64| format!("{:.2} / {:.2}", occupancy(&held, from, to), occupancy(&played, from, to));
        let slots_given: Vec<i64> = jobs.iter().filter_map(|j| j.track.slots.map(i64::from)).collect();
        let most_given = slots_given.iter().copied().max().unwrap_or(0);

        // Launches: exactly once, and how long after the watch saw the job launched.
        let mut launch_counts: HashMap<usize, usize> = HashMap::new();
        for job in jobs.iter().filter(|j| j.track.started_seen.is_some() || j.played.is_some()) {
            *launch_counts.entry(job.played.map_or(0, |p| p.launches.len())).or_default() += 1;
        }
        let mut launch_counts: Vec<(usize, usize)> = launch_counts.into_iter().collect();
        launch_counts.sort();
        let dispatch = sorted(jobs.iter().filter_map(|j| Some(j.first_launch()? - j.track.started_seen?)).collect());
        let queued_in_emulator = dispatch.iter().filter(|d| **d > QUEUED_IN_EMULATOR).count();

        // Slot free → next launch.
        let launches = sorted(jobs.iter().filter_map(Seen::first_launch).collect());
        let doc_frees = sorted(jobs.iter().filter_map(Seen::final_doc).collect());
        let seen_frees =
            sorted(jobs.iter().filter(|j| j.played.is_some()).filter_map(|j| j.track.ended_seen).collect());
        let doc_pairs = free_to_launch(&doc_frees, &launches);
        let (from_doc, window_from_doc) = (latencies(&doc_pairs, 0.0), latencies(&doc_pairs, window.0));
        let from_created = latencies(&doc_pairs, self.t_created);
        // A launch before the slot it took was free: more renders than slots.
        let early_doc = from_doc.iter().filter(|g| **g < 0.0).count();
        let from_seen = latencies(&free_to_launch(&seen_frees, &launches), 0.0);
        let noticed = sorted(jobs.iter().filter_map(|j| Some(j.track.ended_seen? - j.final_doc()?)).collect());

        // Status writes.
        let in_window = |times: &[f64]| times.iter().filter(|t| **t >= window.0 && **t <= window.1).count();
        let window_seconds = (window.1 - window.0).max(0.001);
        let writes = &self.observed.writes;
        let (peak_1s, peak_5s) = peak_rates(writes);

        // Operator process.
        let whole = ProcessUse::between(self.samples, self.t_start, f64::INFINITY, self.idle);
        let steady_use = ProcessUse::between(self.samples, window.0, window.1, self.idle);
        let creating = ProcessUse::between(self.samples, self.t_start, self.t_created, self.idle);
        let settling = ProcessUse::between(self.samples, self.t_created, settled, self.idle);
        let steady_rss = sorted(
            self.samples.iter().filter(|s| s.at >= window.0 && s.at <= window.1).map(|s| s.rss_kib as f64).collect(),
        );

        let mut out = String::new();
        let mut row = |what: &str, value: String| out.push_str(&format!("| {what} | {value} |\n"));
        let shares: Vec<String> = self.counts.iter().enumerate().map(|(k, n)| format!("{}:{n}", letter(k))).collect();
        row(
            "setup",
            format!(
                "scenario {}: {} RenderJobs ({}) in {} namespaces sharing one function of {} slots (`maxConcurrentInvocations`); {}; fake `succeed` {} steps{} × {} ms; {} fake processes ({}); operator watching every namespace, --concurrency {} --launch-concurrency {} --progress-writes-per-second {}; creates {} at a time",
                if fairness { "fairness" } else { "scale" },
                args.jobs,
                shares.join(" "),
                self.namespaces.len(),
                args.slots,
                if args.video { "videos" } else { "stills (one slot each)" },
                args.steps,
                if args.steps_jitter > 0 { format!(" ± {}", args.steps_jitter) } else { String::new() },
                args.interval_ms,
                args.fake_processes,
                if args.detached() { "detached: any number of renders each" } else { "one render each" },
                args.operator_concurrency,
                args.launch_concurrency,
                args.progress_writes_per_second,
                args.create_concurrency,
            ),
        );
        row("machine load (1/5/15 min) before → after", format!("{} → {}", self.load_before, self.load_after));
        row("machine CPU busy during the run (2 cores)", format!("{:.0} %", whole.machine_busy));
        row(
            "stand-ins' CPU-seconds during the run",
            self.standins.iter().map(|(n, s)| format!("{n} {s:.0}")).collect::<Vec<_>>().join(", "),
        );
        row(
            "creates: all in",
            format!(
                "{:.1} s{}",
                self.t_created - self.t_start,
                if self.create_errors.is_empty() {
                    String::new()
                } else {
                    format!("; {} failed attempts, e.g. {}", self.create_errors.len(), self.create_errors[0])
                }
            ),
        );
        row(
            "ended / Succeeded / not ended; phases at the end",
            format!(
                "{ended} / {succeeded} / {}; {}",
                jobs.len() - ended,
                phases.iter().map(|(p, n)| format!("{p} {n}")).collect::<Vec<_>>().join(", ")
            ),
        );
        if fairness {
            self.fairness_rows(&jobs, &mut row);
        } else {
            row(
                &format!(
                    "queue settled (every job has a status; waiting jobs' writes ≤ {}/s over 5 s); the window starts there",
                    args.progress_writes_per_second
                ),
                format!(
                    "{:.1} s after the last create; window {window_seconds:.1} s{}",
                    settled - self.t_created,
                    if settled >= self.t_end { " (never settled: the steady figures are empty)" } else { "" }
                ),
            );
            let rest = jobs.len() - ended - launched_not_ended;
            let queued = jobs.iter().filter(|j| j.track.phase == Some(RenderPhase::Queued)).count();
            row(
                "**the rest Queued** at the end (not launched: Queued / all) ; never seen Queued before launch",
                format!("{queued} / {rest} {}; {never_queued}", verdict(queued == rest)),
            );
            let in_window_ended = jobs.iter().filter(|j| j.track.ended_seen.is_some_and(|e| e >= window.0)).count();
            let scripted = args.steps as f64 * args.interval_ms as f64 / 1000.0;
            row(
                "renders ended in the window: count / per second (ideal: slots ÷ scripted time)",
                format!(
                    "{in_window_ended} in {window_seconds:.1} s / {:.2}/s ({:.2}/s)",
                    in_window_ended as f64 / window_seconds,
                    f64::from(args.slots) / scripted
                ),
            );
            let mut per_namespace = vec![0usize; self.namespaces.len()];
            for job in jobs.iter().filter(|j| j.first_launch().is_some_and(|l| l >= window.0)) {
                per_namespace[job.planned.namespace] += 1;
            }
            row(
                "launches per namespace in the window (round-robin: equal while each has jobs)",
                per_namespace
                    .iter()
                    .enumerate()
                    .map(|(k, n)| format!("{}: {n}", letter(k)))
                    .collect::<Vec<_>>()
                    .join(", "),
            );
        }
        row(
            &format!(
                "**most renders at once** (≤ {}): launched and not ended (watch) / slots held (watch) / playing (fake)",
                args.slots
            ),
            format!(
                "{most_launched} / {most_slots} / {most_playing} {}; most slots given one render: {most_given}",
                verdict(
                    most_launched <= i64::from(args.slots)
                        && most_slots <= i64::from(args.slots)
                        && most_playing <= i64::from(args.slots)
                )
            ),
        );
        let last_end = jobs.iter().filter_map(|j| j.track.ended_seen).fold(self.t_start, f64::max);
        row(
            &format!(
                "slots busy on average of {}: held (launched → end seen) / playing (fake: launch → last document){}",
                args.slots,
                if fairness { "" } else { " — while settling; in the window" }
            ),
            if fairness {
                busy(self.t_start, last_end)
            } else {
                format!("{}; {}", busy(self.t_created, settled), busy(settled, self.t_end))
            },
        );
        row(
            "launches per render (count: renders)",
            launch_counts.iter().map(|(c, n)| format!("{c}: {n}")).collect::<Vec<_>>().join(", "),
        );
        row(
            &format!(
                "`startedAt` seen → launch received by the fake p50 / p90 / p99 / max; **queued in the emulator** (> {QUEUED_IN_EMULATOR:.0} s)"
            ),
            format!("{}; {queued_in_emulator} {}", distribution(&dispatch), verdict(queued_in_emulator == 0)),
        );
        row(
            &format!(
                "**slot free (fake's last document) → next launch** p50 / p90 / p99 / max{}",
                if fairness { "" } else { " (target p99 < 1 s)" }
            ),
            format!(
                "{}{}{}",
                distribution(if fairness { &from_doc } else { &window_from_doc }),
                if fairness {
                    String::new()
                } else {
                    format!(" {}", verdict(percentile(&window_from_doc, 0.99) < 1.0))
                },
                if early_doc > 0 { format!("; {early_doc} launches before their slot freed") } else { String::new() }
            ),
        );
        if !fairness {
            row("… from the last create on (settling included)", distribution(&from_created));
            row("… over the whole run (creates included)", distribution(&from_doc));
        }
        row("slot free (terminal status seen by the watch) → next launch", distribution(&from_seen));
        row("fake's last document → terminal status seen (the operator noticing the end)", distribution(&noticed));
        // Why noticing may take longer than the operator's poll interval: the gap between a
        // job's terminal status write and its write before (a per-job write interval applied
        // to the phase change shows as a floor).
        let terminal_gaps = sorted(
            jobs.iter()
                .filter(|j| j.track.ended_seen.is_some())
                .filter_map(|j| Some(j.track.writes.last()? - j.track.writes.iter().rev().nth(1)?))
                .collect(),
        );
        row(
            "terminal status write after the job's previous write: min / p50 / max",
            format!(
                "{} / {} / {}",
                ms(terminal_gaps.first().copied().unwrap_or(f64::NAN)),
                ms(percentile(&terminal_gaps, 0.5)),
                ms(terminal_gaps.last().copied().unwrap_or(f64::NAN))
            ),
        );
        let waiting_writes = in_window(&self.observed.waiting_writes);
        let waiting_in_window: Vec<f64> =
            self.observed.waiting_writes.iter().copied().filter(|w| *w >= window.0 && *w <= window.1).collect();
        let (_, waiting_peak_5s) = peak_rates(&waiting_in_window);
        row(
            "**status writes** in the window: total / per second / of waiting jobs per second (peak 5 s); whole run: total, peak 1 s, peak 5 s avg",
            format!(
                "{} / {:.1}/s / {:.1}/s ({waiting_peak_5s:.0}/s); {}, {peak_1s}/s, {peak_5s:.0}/s",
                in_window(writes),
                in_window(writes) as f64 / window_seconds,
                waiting_writes as f64 / window_seconds,
                writes.len()
            ),
        );
        row(
            "**operator RSS**: idle / steady (median in the window) / peak sampled / VmHWM / end",
            format!(
                "{} / {} / {} / {} / {} {}",
                mib(self.idle.rss_kib as f64),
                mib(percentile(&steady_rss, 0.5)),
                mib(whole.peak_rss_kib as f64),
                mib(self.hwm_kib as f64),
                mib(whole.last.rss_kib as f64),
                verdict((self.hwm_kib as f64) < 200.0 * 1024.0)
            ),
        );
        row(
            "**operator CPU**: CPU-seconds / avg cores / peak 5 s cores — while creating; settling; in the window",
            format!(
                "{:.1} s / {:.2} / {:.2}; {:.1} s / {:.2} / {:.2}; {:.1} s / {:.2} / {:.2}",
                creating.cpu_seconds,
                creating.cores,
                creating.peak_cores,
                settling.cpu_seconds,
                settling.cores,
                settling.peak_cores,
                steady_use.cpu_seconds,
                steady_use.cores,
                steady_use.peak_cores
            ),
        );
        row(
            "launch reconciles / failed / mean duration (operator metrics)",
            controller_figures(self.metrics, "renderjob-launch"),
        );
        row(
            "follow reconciles / failed / mean duration (operator metrics)",
            controller_figures(self.metrics, "renderjob"),
        );
        row("run length (first create → end of wait)", format!("{:.1} s", self.t_end - self.t_start));
        format!("| measure | value |\n|---|---|\n{out}")
    }

    /// When the queue settled ([`settled_at`]); the end of the run if it did not.
    fn settled(&self) -> f64 {
        settled_at(self.observed, self.t_created, self.args.progress_writes_per_second, self.t_end)
            .unwrap_or(self.t_end)
    }

    /// Makespan, fairness across namespaces and launch order.
    fn fairness_rows(&self, jobs: &[Seen<'_>], row: &mut impl FnMut(&str, String)) {
        let args = self.args;
        let slots = f64::from(args.slots);
        let interval = args.interval_ms as f64 / 1000.0;
        let scripted: Vec<(usize, f64)> =
            self.planned.iter().map(|p| (p.namespace, p.steps as f64 * interval)).collect();
        let ideal = scripted.iter().map(|(_, d)| d).sum::<f64>() / slots;
        let last_end = jobs.iter().filter_map(|j| j.track.ended_seen).fold(f64::NAN, f64::max);
        let makespan = last_end - self.t_start;
        let played = jobs.iter().filter_map(|j| Some(j.final_doc()? - j.first_launch()?)).sum::<f64>() / slots;
        row(
            "**makespan** (first create → last end seen) / ideal (scripted work ÷ slots) / ratio (target ≤ 1.15)",
            format!(
                "{makespan:.1} s / {ideal:.1} s / {:.2} {}; ideal from the fake's own play time (launch → last document): {played:.1} s",
                makespan / ideal,
                verdict(makespan / ideal <= 1.15)
            ),
        );

        // Fairness: see the module comment for the formula.
        let completions: Vec<(usize, f64)> =
            jobs.iter().filter_map(|j| Some((j.planned.namespace, j.track.ended_seen? - self.t_start))).collect();
        let x = wait_per_job(self.namespaces.len(), &completions);
        let index = jain(&x);
        let reference = |round_robin| {
            jain(&wait_per_job(self.namespaces.len(), &simulate(&scripted, args.slots as usize, round_robin)))
        };
        row(
            "**fairness**: Jain's index over namespaces of mean completion ÷ jobs (target ≥ 0.9); simulated ideal round-robin / first-come",
            format!("{index:.3} {}; {:.3} / {:.3}", verdict(index >= 0.9), reference(true), reference(false)),
        );
        let per_namespace: Vec<String> = (0..self.namespaces.len())
            .map(|k| {
                let mine: Vec<f64> = completions.iter().filter(|(n, _)| *n == k).map(|(_, c)| *c).collect();
                let mean = mine.iter().sum::<f64>() / mine.len().max(1) as f64;
                let last = mine.iter().copied().fold(f64::NAN, f64::max);
                format!("{}: {} jobs, mean {mean:.1} s, last {last:.1} s, x {:.3}", letter(k), self.counts[k], x[k])
            })
            .collect();
        row("per namespace: jobs, completion mean / last (from first create), mean ÷ jobs", per_namespace.join("; "));
        let mut order: Vec<(f64, usize)> =
            jobs.iter().filter_map(|j| Some((j.first_launch()?, j.planned.namespace))).collect();
        order.sort_by(|a, b| a.0.total_cmp(&b.0));
        row("launch order by namespace", format!("`{}`", order.iter().map(|(_, k)| letter(*k)).collect::<String>()));
    }
}
