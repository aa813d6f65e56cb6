//! RenderJob controller: checks the job's references, persists its render id, launches the
//! render exactly once, follows `renders/<id>/progress.json` into the status (at most one
//! write every 2 s per job), records the output, and ends the job Succeeded, Failed or
//! Cancelled.
//!
//! A finalizer, added before the launch and removed when the job ends, turns the deletion of
//! a rendering job into a cancel of its render; with `output.deleteWithJob` it stays until the
//! deleted job's output is deleted ([`output_cleanup`]).
//!
//! Exactly once: the launch is recorded in the status (`startedAt`, phase Rendering) before
//! the invocation is sent, and a job whose status records a launch is never launched again —
//! a restarted operator follows the progress document instead. A launch that never produces a
//! document ends Failed (`Stalled`) after the function's timeout and a margin.
//!
//! Two kube controllers share this module's context: one launches jobs that have not
//! launched yet, the other follows launched ones. With hundreds of renders live, the
//! followers' polls keep a controller's queue full all the time, and kube's scheduler does
//! not order its queue: in one controller a new job waited behind the polls (47 s median
//! from apply to launch at 1,000 jobs). Each controller ignores the other's jobs; the status
//! write that records a launch is the watch event that hands a job to the follower.
//!
//! The pipeline, one file a step (the pure ones unit-tested on their own):
//! 1. [`references`] (dereference, validate): the site, function and bucket are usable, or
//!    why not;
//! 2. [`props`]: the input props, read, checked and placed inline or in the bucket;
//! 3. [`estimate`] and [`payload`] (decide): the cost estimate and the `launch` payload;
//! 4. [`launch`] (apply): the launch recorded, then sent by [`invoke`];
//! 5. [`follow`]: the progress document read and judged by [`verdict`] (with [`stall`]);
//!    [`output`] gives the output its URL; [`cancel`] writes the cancel signal;
//! 6. [`status`] and [`write`](mod@write): the status a verdict stands for, written at most once per
//!    [`throttle`] interval, with Events;
//! 7. [`memory`]: what is remembered of each render between reconciles;
//! 8. [`webhook`]: once the job ended, its `spec.webhook` sent (Remotion's payload and
//!    signature), retried and recorded in `status.webhook`, apart from the reconcile.
//!
//! Between 2 and 4, [`admission`] decides whether the function has a slot for the render now,
//! and how many for its chunks; a job that must wait is `Queued`, and a freed slot launches
//! the next one at once, through the [`admitted`] fast lane.

pub mod admission;
pub mod admitted;
pub mod bucket;
pub mod cache;
pub mod cancel;
pub mod destination;
pub mod estimate;
pub mod follow;
pub mod invoke;
pub mod launch;
pub mod memory;
pub mod output;
pub mod output_cleanup;
pub mod payload;
pub mod preflight;
pub mod profiles;
pub mod props;
pub mod references;
pub mod stall;
pub mod status;
pub mod throttle;
pub mod ttl;
pub mod verdict;
pub mod webhook;
pub mod write;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::Resource;
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::controller::{self, Action};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{Controller, WatchStreamExt, watcher};
use remotion_crds::render_job::RenderPhase;
use remotion_crds::{LambdaBucket, RemotionSite, RenderFunction, RenderJob};
use remotion_protocol::keys::RenderId;
use tokio_util::sync::CancellationToken;

use self::memory::Memory;
use self::references::Found;
use self::throttle::STATUS_WRITE_INTERVAL;
use super::{Context, Settings, log_result, shutdown_signal};
use crate::reconcile::guard::{self, DeserializeGuard, HasContext};
use crate::reconcile::shell;
use crate::reconcile::{Error, is_deleting, remove_finalizer};

/// Metrics label of the controller following launched jobs.
pub const CONTROLLER: &str = "renderjob";
/// Metrics label of the controller launching new jobs.
pub const LAUNCH_CONTROLLER: &str = "renderjob-launch";
/// Field manager of the status both controllers write (they own the same fields).
pub const FIELD_MANAGER: &str = "remotion-operator/renderjob";

/// Timings of the RenderJob controller.
#[derive(Clone, Debug)]
pub struct Tuning {
    /// How often a rendering job's progress document is read.
    pub poll_interval: Duration,
    /// How often it is read once the render is near its end (every chunk done, stitching,
    /// uploading): the sooner its end is seen, the sooner its slots go to the next job. Only
    /// the few renders in their last seconds are read this often, so the extra GETs are few.
    pub final_poll_interval: Duration,
    /// Minimum time between two status writes of one job.
    pub write_interval: Duration,
    /// Silence tolerated beyond the function's timeout before a render counts as stalled.
    pub stall_margin: Duration,
    /// How long the function has to confirm a cancellation before the job is marked
    /// Cancelled anyway.
    pub cancel_confirm_timeout: Duration,
    /// How often a job waiting for its references is looked at again (the watches on sites,
    /// functions and buckets requeue it at once when they change).
    pub waiting_recheck: Duration,
    /// How often a queued job is looked at again at least, to refresh its position (a freed
    /// slot reconciles the next job at once; this only keeps the message current). Stretched
    /// with the number of queued jobs to stay within the status write budget.
    pub queued_recheck: Duration,
}

impl Default for Tuning {
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_millis(1500),
            final_poll_interval: Duration::from_millis(100),
            write_interval: STATUS_WRITE_INTERVAL,
            stall_margin: Duration::from_secs(60),
            cancel_confirm_timeout: Duration::from_secs(30),
            waiting_recheck: Duration::from_secs(60),
            queued_recheck: Duration::from_secs(60),
        }
    }
}

/// Watch events buffered for the slower of the two controllers sharing the RenderJob watch
/// (each takes events as fast as it can queue them; the buffer only absorbs bursts).
const SHARED_EVENT_BUFFER: usize = 1024;

/// What the cache keeps of a RenderJob: everything but the field managers' records, except the
/// one of this controller's status writes (which tells [`apply_status`](crate::reconcile::apply_status)
/// which fields it owns, and of which only as much is kept as it reads) and kubectl's copy of
/// the last applied spec. Those records made up about half of a cached job.
fn trim_cached_job(job: &mut DeserializeGuard<RenderJob>) {
    let meta = job.meta_mut();
    if let Some(entries) = meta.managed_fields.as_mut() {
        entries.retain(|entry| entry.manager.as_deref() == Some(FIELD_MANAGER));
        entries.iter_mut().for_each(crate::reconcile::status::shrink_owned_fields);
    }
    if let Some(annotations) = meta.annotations.as_mut() {
        annotations.remove(LAST_APPLIED);
    }
}

/// The annotation in which `kubectl apply` keeps a second copy of the spec.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// How often memory of vanished jobs is dropped.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// Render ids of the jobs in the cache (from the status, or the UID before the launch).
fn render_ids(jobs: &Store<DeserializeGuard<RenderJob>>) -> HashSet<String> {
    jobs.state()
        .iter()
        .filter_map(|guarded| guarded.0.as_ref().ok())
        .filter_map(|job| {
            job.status
                .as_ref()
                .and_then(|s| s.render_id.clone())
                .or_else(|| RenderId::from_uid(&job.uid()?).ok().map(|id| id.to_string()))
        })
        .collect()
}

/// The controller's context: the shared one plus what it remembers of each render.
pub struct JobContext {
    shared: Arc<Context>,
    tuning: Tuning,
    memory: Memory,
    jobs: Store<DeserializeGuard<RenderJob>>,
    references: Arc<cache::References>,
    admission: Arc<admission::Admission>,
    profiles: profiles::Profiles,
    /// Budget of progress-only status writes per second over all live renders.
    progress_writes_per_second: u16,
    /// The gap between two progress writes of one job now, ms (it stretches with the number
    /// of live renders).
    progress_interval_ms: AtomicU64,
    /// Jobs in phase `Queued` at the last count.
    queued: AtomicU64,
    /// How long a finished job is kept when it does not say ([`ttl`]).
    finished_job_ttl: Option<Duration>,
    /// The webhooks of ended jobs.
    webhooks: webhook::Webhooks,
}

impl HasContext for JobContext {
    fn context(&self) -> &Context {
        &self.shared
    }
}

/// Runs the controllers until `shutdown`, with default timings.
pub async fn run(ctx: Arc<Context>, settings: Settings, shutdown: CancellationToken) {
    run_with(ctx, settings, Tuning::default(), shutdown).await;
}

/// Runs the launching and the following controller until `shutdown`.
pub async fn run_with(ctx: Arc<Context>, settings: Settings, tuning: Tuning, shutdown: CancellationToken) {
    let client = &ctx.client;
    let job_watch = || match &settings.job_selector {
        Some(selector) => watcher::Config::default().any_semantic().labels(selector),
        None => watcher::Config::default().any_semantic(),
    };
    // One watch and one cache of RenderJobs for both controllers: with 10,000 jobs present, a
    // cache each doubled the operator's memory.
    let (jobs, writer) = reflector::store_shared::<DeserializeGuard<RenderJob>>(SHARED_EVENT_BUFFER);
    let subscribe = || writer.subscribe().expect("a shared store hands out subscriptions");
    let launcher = Controller::<DeserializeGuard<RenderJob>>::for_shared_stream(subscribe(), jobs.clone());
    let follower = Controller::<DeserializeGuard<RenderJob>>::for_shared_stream(subscribe(), jobs.clone());
    let job_stream = watcher(settings.api::<DeserializeGuard<RenderJob>>(client), job_watch())
        .default_backoff()
        .modify(trim_cached_job)
        .reflect_shared(writer)
        .for_each(|_| futures::future::ready(()));
    let job_stream_task = tokio::spawn(job_stream);
    let waiting = jobs.clone();
    let (by_site, by_function, by_bucket) = (waiting.clone(), waiting.clone(), waiting);
    let (admission, handed) = admission::Admission::new();
    let (retry, mut retries) = tokio::sync::mpsc::unbounded_channel();
    let references = Arc::new(cache::References::start(client, &settings));
    let guard = webhook::guard::AddressGuard { allow_private_networks: settings.webhook_allow_private_networks };
    // Only fails when no TLS backend can start: then nothing HTTPS works in this process.
    let webhooks = webhook::Webhooks::new(guard).expect("the webhook HTTP client builds");
    let job_ctx = Arc::new(JobContext {
        shared: ctx.clone(),
        memory: Memory::default(),
        progress_writes_per_second: settings.progress_writes_per_second,
        progress_interval_ms: AtomicU64::new(millis(tuning.write_interval)),
        queued: AtomicU64::new(0),
        finished_job_ttl: settings.finished_job_ttl,
        tuning,
        jobs: jobs.clone(),
        references: references.clone(),
        admission: admission.clone(),
        profiles: profiles::Profiles::default(),
        webhooks,
    });
    let metrics_task = tokio::spawn(publish_phase_counts(job_ctx.clone(), shutdown.clone()));
    let admission_task = tokio::spawn(admission.run(jobs, references, shutdown.clone()));
    let admitted_task = tokio::spawn(admitted::launch_admitted(
        handed.admitted,
        retry,
        job_ctx.clone(),
        usize::from(settings.launch_concurrency),
        shutdown.clone(),
    ));
    let arming_task = tokio::spawn(admitted::arm_next_in_line(handed.next_in_line, job_ctx.clone(), shutdown.clone()));
    let launching = launcher
        .with_config(controller::Config::default().concurrency(settings.launch_concurrency))
        // An admitted job whose launch failed in the fast lane: retried with the error policy.
        .reconcile_on(futures::stream::poll_fn(move |cx| retries.poll_recv(cx)))
        // A job waiting for its site, function or bucket goes on as soon as they change.
        .watches(
            settings.api::<DeserializeGuard<RemotionSite>>(client),
            watcher::Config::default().any_semantic(),
            move |site| waiting_jobs(&by_site, site.namespace(), |job| job.spec.site_ref.name == site.name_any()),
        )
        .watches(
            settings.api::<DeserializeGuard<RenderFunction>>(client),
            watcher::Config::default().any_semantic(),
            move |f| {
                waiting_jobs(&by_function, f.namespace(), |job| {
                    let name = f.name_any();
                    job.spec.function_ref.name == name
                        || job.spec.renderer_function_ref.as_ref().is_some_and(|r| r.name == name)
                })
            },
        )
        // Which jobs a bucket concerns goes through their sites: requeue the namespace's waiting jobs.
        .watches(
            settings.api::<DeserializeGuard<LambdaBucket>>(client),
            watcher::Config::default().any_semantic(),
            move |b| waiting_jobs(&by_bucket, b.namespace(), |_| true),
        )
        .graceful_shutdown_on(shutdown_signal(shutdown.clone()))
        .run(guard::reconcile(LAUNCH_CONTROLLER, reconcile_launch), guard::error_policy(error_policy), job_ctx.clone())
        .for_each(log_result(LAUNCH_CONTROLLER));
    let following = follower
        .with_config(settings.controller_config())
        .graceful_shutdown_on(shutdown_signal(shutdown))
        .run(guard::reconcile(CONTROLLER, reconcile_follow), guard::error_policy(error_policy), job_ctx)
        .for_each(log_result(CONTROLLER));
    futures::join!(launching, following);
    job_stream_task.abort();
    metrics_task.abort();
    admission_task.abort();
    admitted_task.abort();
    arming_task.abort();
}

/// Jobs of `namespace` that have not launched yet and match `filter`.
fn waiting_jobs(
    jobs: &Store<DeserializeGuard<RenderJob>>,
    namespace: Option<String>,
    filter: impl Fn(&RenderJob) -> bool,
) -> Vec<ObjectRef<DeserializeGuard<RenderJob>>> {
    jobs.state()
        .iter()
        .filter(|guarded| {
            guarded
                .0
                .as_ref()
                .is_ok_and(|job| job.namespace() == namespace && !launched(job) && !is_terminal(job) && filter(job))
        })
        .map(|job| ObjectRef::from_obj(&**job))
        .collect()
}

fn phase_of(job: &RenderJob) -> Option<RenderPhase> {
    job.status.as_ref().and_then(|s| s.phase)
}

fn is_terminal(job: &RenderJob) -> bool {
    phase_of(job).is_some_and(RenderPhase::is_terminal)
}

/// The status records a launch (`startedAt` is written before the invocation is sent).
fn launched(job: &RenderJob) -> bool {
    job.status.as_ref().is_some_and(|s| s.started_at.is_some() && s.render_id.is_some())
}

/// Keeps `renders{phase}` up to date from the controller's cache, and each job's share of the
/// progress write budget; drops the memory of vanished jobs.
async fn publish_phase_counts(ctx: Arc<JobContext>, shutdown: CancellationToken) {
    let phases = RenderPhase::ALL;
    let mut last_prune = Instant::now();
    loop {
        if last_prune.elapsed() >= PRUNE_EVERY {
            let live = render_ids(&ctx.jobs);
            ctx.memory.retain(&live);
            ctx.webhooks.retain(&live);
            last_prune = Instant::now();
        }
        // One pass over the cache, counted per phase.
        let mut counts = [0usize; RenderPhase::ALL.len()];
        for job in ctx.jobs.state().iter().filter_map(|guarded| guarded.0.as_ref().ok()) {
            let phase = phase_of(job).unwrap_or_default();
            if let Some(slot) = phases.iter().position(|p| *p == phase) {
                counts[slot] += 1;
            }
        }
        for (phase, count) in phases.into_iter().zip(counts) {
            ctx.shared.metrics.set_renders_in_phase(phase, i64::try_from(count).unwrap_or(i64::MAX));
            if phase == RenderPhase::Queued {
                ctx.queued.store(count as u64, Ordering::Relaxed);
            }
            if phase == RenderPhase::Rendering {
                let interval =
                    throttle::progress_interval(ctx.tuning.write_interval, count, ctx.progress_writes_per_second);
                ctx.progress_interval_ms.store(millis(interval), Ordering::Relaxed);
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            // Once a second: the budget's share per job follows the number of live renders
            // closely (counting a thousand cached jobs takes microseconds).
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

fn error_policy(job: Arc<RenderJob>, error: &Error, ctx: Arc<JobContext>) -> Action {
    ctx.shared.backoffs.after_error(&*job, error)
}

fn now() -> Time {
    Time(k8s_openapi::jiff::Timestamp::now())
}

fn now_ms() -> u64 {
    status::ms_from_time(&now())
}

/// Which part of a job's life a controller handles.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    /// Jobs not launched yet: references, props, the launch.
    Launch,
    /// Launched jobs: progress, output, cancel, stall.
    Follow,
}

impl Role {
    fn controller(self) -> &'static str {
        match self {
            Self::Launch => LAUNCH_CONTROLLER,
            Self::Follow => CONTROLLER,
        }
    }
}

/// One reconcile of the launching controller.
pub async fn reconcile_launch(job: Arc<RenderJob>, ctx: Arc<JobContext>) -> Result<Action, Error> {
    reconcile(job, ctx, Role::Launch).await
}

/// One reconcile of the following controller.
pub async fn reconcile_follow(job: Arc<RenderJob>, ctx: Arc<JobContext>) -> Result<Action, Error> {
    reconcile(job, ctx, Role::Follow).await
}

/// One reconcile, in the shell's [`timed`](crate::reconcile::shell::timed) (no `Ready` written
/// on failure: a job's conditions are its render's, written by the steps themselves).
async fn reconcile(job: Arc<RenderJob>, ctx: Arc<JobContext>, role: Role) -> Result<Action, Error> {
    shell::timed(role.controller(), &*job, &ctx.shared, apply(&job, &ctx, role)).await
}

/// The references of a job, fetched.
struct Fetched {
    site: Option<RemotionSite>,
    function: Option<RenderFunction>,
    renderer: Option<RenderFunction>,
    bucket: Option<LambdaBucket>,
}

impl Fetched {
    async fn get(ctx: &JobContext, namespace: &str, job: &RenderJob) -> Result<Self, Error> {
        let (client, refs) = (&ctx.shared.client, &ctx.references);
        let site = refs.site(client, namespace, &job.spec.site_ref.name).await?;
        let function = refs.function(client, namespace, &job.spec.function_ref.name).await?;
        let renderer = match &job.spec.renderer_function_ref {
            Some(reference) => refs.function(client, namespace, &reference.name).await?,
            None => None,
        };
        let bucket = match &site {
            Some(site) => refs.bucket(client, namespace, &site.spec.bucket_ref.name).await?,
            None => None,
        };
        Ok(Self { site, function, renderer, bucket })
    }

    fn found(&self) -> Found<'_> {
        Found {
            site: self.site.as_ref(),
            function: self.function.as_ref(),
            renderer: self.renderer.as_ref(),
            bucket: self.bucket.as_ref(),
        }
    }
}

async fn apply(job: &RenderJob, ctx: &JobContext, role: Role) -> Result<Action, Error> {
    // Each job belongs to one controller at a time: the launcher until the status records a
    // launch, the follower after. The status write of a launch wakes the follower.
    let mine = match role {
        Role::Launch => !launched(job),
        Role::Follow => launched(job),
    };
    if !mine {
        return Ok(Action::await_change());
    }
    let namespace = job.namespace().unwrap_or_default();
    let api: Api<RenderJob> = Api::namespaced(ctx.shared.client.clone(), &namespace);
    if is_terminal(job) {
        // Jobs that ended before launch have no render id in their status but were throttled
        // under the one their UID gives.
        let id = job
            .status
            .as_ref()
            .and_then(|s| s.render_id.clone())
            .or_else(|| RenderId::from_uid(&job.uid().unwrap_or_default()).ok().map(|id| id.to_string()));
        if let Some(id) = id {
            ctx.memory.forget(&id);
        }
        ctx.admission.release(&job.uid().unwrap_or_default());
        // A job that deletes its output with itself keeps the finalizer for it; any other
        // finished job must not need the operator to be deleted (an uninstalled operator
        // would otherwise hold up the namespace's deletion).
        match output_cleanup::held_output(job) {
            Some((bucket, key)) if is_deleting(job) => {
                return output_cleanup::on_delete(&api, job, ctx, &namespace, &bucket, &key).await;
            }
            Some(_) => {}
            None => remove_finalizer(&api, job).await?,
        }
        if is_deleting(job) {
            return Ok(Action::await_change());
        }
        // The webhook's attempts run apart; they never hold up the TTL (an attempt under way
        // finishes even if the job is deleted meanwhile).
        let Some(webhook_recheck) = ctx.webhooks.drive(job, ctx, &namespace).await else {
            return ttl::collect(&api, job, ctx.finished_job_ttl).await;
        };
        return match ttl::due_in(job, ctx.finished_job_ttl, k8s_openapi::jiff::Timestamp::now()) {
            Some(due) if due.is_zero() => ttl::collect(&api, job, ctx.finished_job_ttl).await,
            Some(due) => Ok(Action::requeue(due.min(webhook_recheck))),
            None => Ok(Action::requeue(webhook_recheck)),
        };
    }
    if is_deleting(job) {
        return cancel::on_delete(&api, job, ctx, &namespace).await;
    }
    match role {
        Role::Follow => follow::follow(&api, job, ctx, &namespace).await,
        Role::Launch => launch::prepare_and_launch(&api, job, ctx, &namespace).await,
    }
}

/// A duration in whole milliseconds (saturating).
fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
