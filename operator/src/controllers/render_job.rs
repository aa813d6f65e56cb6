//! RenderJob controller: checks the job's references, persists its render id, launches the
//! render exactly once, follows `renders/<id>/progress.json` into the status (at most one
//! write every 2 s per job), records the output, and ends the job Succeeded, Failed or
//! Cancelled. The decisions are the pure steps of [`crate::job`]; this module does the I/O.
//!
//! A finalizer, added before the launch and removed when the job ends, turns the deletion of
//! a rendering job into a cancel of its render.
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

mod bucket;
mod cache;
mod invoke;
mod profiles;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::Api;
use kube::runtime::controller::{self, Action};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{Controller, watcher};
use kube::{Resource, ResourceExt};
use remotion_crds::keys::{self, RenderId};
use remotion_crds::money::Usd;
use remotion_crds::progress::{ProgressDocument, Stage};
use remotion_crds::protocol::Payload;
use remotion_crds::render_job::{Privacy, RenderJobStatus, RenderOutput, RenderPhase, limits};
use remotion_crds::{LambdaBucket, RemotionSite, RenderFunction, RenderJob};
use tokio_util::sync::CancellationToken;

use self::invoke::{LaunchOutcome, Launches};
use super::guard::{self, DeserializeGuard, HasContext};
use super::{Context, Settings, log_result, shutdown_signal};
use crate::job::references::{Blocked, Found};
use crate::job::stall::{self, Heartbeat, StallPolicy};
use crate::job::status::{self, Verdict};
use crate::job::throttle::{self, STATUS_WRITE_INTERVAL, WriteThrottle};
use crate::job::{estimate, launch, props};
use crate::reconcile::{Error, add_finalizer, apply_status, has_finalizer, is_deleting, remove_finalizer};

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
    /// Minimum time between two status writes of one job.
    pub write_interval: Duration,
    /// Silence tolerated beyond the function's timeout before a render counts as stalled.
    pub stall_margin: Duration,
    /// How long the function has to confirm a cancellation before the job is marked
    /// Cancelled anyway.
    pub cancel_confirm_timeout: Duration,
    /// After this long without an answer, a launch counts as accepted (the emulator answers
    /// Event invocations only when the run ends).
    pub launch_response_timeout: Duration,
    /// How often a job waiting for its references is looked at again (the watches on sites,
    /// functions and buckets requeue it at once when they change).
    pub waiting_recheck: Duration,
}

impl Default for Tuning {
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_millis(1500),
            write_interval: STATUS_WRITE_INTERVAL,
            stall_margin: Duration::from_secs(60),
            cancel_confirm_timeout: Duration::from_secs(30),
            launch_response_timeout: Duration::from_secs(10),
            waiting_recheck: Duration::from_secs(60),
        }
    }
}

/// What the controller remembers between reconciles (lost on restart by design: everything
/// needed to resume is in the status and the bucket).
#[derive(Debug)]
struct Memory {
    throttle: WriteThrottle<String>,
    heartbeats: HashMap<String, Heartbeat>,
    cancel_requested: HashMap<String, Instant>,
    /// Accrued cost already added to the metric, per render.
    accrued: HashMap<String, Usd>,
    /// When each followed render's progress document was last read.
    last_poll: HashMap<String, Instant>,
}

impl Memory {
    /// Keeps only what concerns the renders in `live`: a job that vanished without this
    /// process seeing it end (its finalizer removed by hand, a missed deletion) leaves nothing
    /// behind.
    fn retain_renders(&mut self, live: &HashSet<String>) {
        self.throttle.retain(|id| live.contains(id));
        self.heartbeats.retain(|id, _| live.contains(id));
        self.cancel_requested.retain(|id, _| live.contains(id));
        self.accrued.retain(|id, _| live.contains(id));
        self.last_poll.retain(|id, _| live.contains(id));
    }

    /// Renders remembered in any part of the memory.
    #[cfg(test)]
    fn remembered(&self) -> usize {
        self.throttle.len()
            + self.heartbeats.len()
            + self.cancel_requested.len()
            + self.accrued.len()
            + self.last_poll.len()
    }
}

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

/// The controller's context: the shared one plus its own memory.
pub struct JobContext {
    shared: Arc<Context>,
    tuning: Tuning,
    launches: Launches,
    memory: Mutex<Memory>,
    jobs: Store<DeserializeGuard<RenderJob>>,
    references: cache::References,
    profiles: profiles::Profiles,
    /// Budget of progress-only status writes per second over all live renders.
    progress_writes_per_second: u16,
}

impl HasContext for JobContext {
    fn context(&self) -> &Context {
        &self.shared
    }
}

impl JobContext {
    fn memory(&self) -> std::sync::MutexGuard<'_, Memory> {
        self.memory.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Runs the controllers until `shutdown`, with default timings.
pub async fn run(ctx: Arc<Context>, settings: Settings, shutdown: CancellationToken) {
    run_with(ctx, settings, Tuning::default(), shutdown).await;
}

/// Runs the launching and the following controller until `shutdown`.
pub async fn run_with(ctx: Arc<Context>, settings: Settings, tuning: Tuning, shutdown: CancellationToken) {
    let client = &ctx.client;
    let launcher =
        Controller::new(settings.api::<DeserializeGuard<RenderJob>>(client), watcher::Config::default().any_semantic());
    let follower =
        Controller::new(settings.api::<DeserializeGuard<RenderJob>>(client), watcher::Config::default().any_semantic());
    let jobs = follower.store();
    let waiting = launcher.store();
    let (by_site, by_function, by_bucket) = (waiting.clone(), waiting.clone(), waiting);
    let job_ctx = Arc::new(JobContext {
        shared: ctx.clone(),
        memory: Mutex::new(Memory {
            throttle: WriteThrottle::new(tuning.write_interval),
            heartbeats: HashMap::new(),
            cancel_requested: HashMap::new(),
            accrued: HashMap::new(),
            last_poll: HashMap::new(),
        }),
        progress_writes_per_second: settings.progress_writes_per_second,
        tuning,
        launches: Launches::default(),
        jobs,
        references: cache::References::start(client, &settings),
        profiles: profiles::Profiles::default(),
    });
    let metrics_task = tokio::spawn(publish_phase_counts(job_ctx.clone(), shutdown.clone()));
    let launching = launcher
        .with_config(controller::Config::default().concurrency(settings.launch_concurrency))
        // A job waiting for its site, function or bucket goes on as soon as they change.
        .watches(
            settings.api::<DeserializeGuard<RemotionSite>>(client),
            watcher::Config::default().any_semantic(),
            move |site| waiting_jobs(&by_site, site.namespace(), |job| job.spec.site_ref.name == site.name_any()),
        )
        .watches(
            settings.api::<DeserializeGuard<RenderFunction>>(client),
            watcher::Config::default().any_semantic(),
            move |f| waiting_jobs(&by_function, f.namespace(), |job| job.spec.function_ref.name == f.name_any()),
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
    metrics_task.abort();
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
    let phases = [
        RenderPhase::Pending,
        RenderPhase::Rendering,
        RenderPhase::Succeeded,
        RenderPhase::Failed,
        RenderPhase::Cancelled,
    ];
    let mut last_prune = Instant::now();
    loop {
        if last_prune.elapsed() >= PRUNE_EVERY {
            let live = render_ids(&ctx.jobs);
            ctx.memory().retain_renders(&live);
            ctx.launches.retain(|id| live.contains(id));
            last_prune = Instant::now();
        }
        // One pass over the cache, counted per phase.
        let mut counts = [0usize; 5];
        for job in ctx.jobs.state().iter().filter_map(|guarded| guarded.0.as_ref().ok()) {
            let phase = phase_of(job).unwrap_or_default();
            if let Some(slot) = phases.iter().position(|p| *p == phase) {
                counts[slot] += 1;
            }
        }
        for (phase, count) in phases.into_iter().zip(counts) {
            ctx.shared.metrics.set_renders_in_phase(phase, i64::try_from(count).unwrap_or(i64::MAX));
            if phase == RenderPhase::Rendering {
                let interval =
                    throttle::progress_interval(ctx.tuning.write_interval, count, ctx.progress_writes_per_second);
                ctx.memory().throttle.set_interval(interval);
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

/// One reconcile: the work, then metrics and a Warning Event for failures.
async fn reconcile(job: Arc<RenderJob>, ctx: Arc<JobContext>, role: Role) -> Result<Action, Error> {
    let _timer = ctx.shared.metrics.reconcile_started(role.controller());
    let result = apply(&job, &ctx, role).await;
    match &result {
        Ok(_) => ctx.shared.backoffs.reset(&*job),
        Err(error) => {
            ctx.shared.metrics.reconcile_failed(role.controller(), error.kind());
            if error.is_terminal() {
                ctx.shared.events.warning(&*job, error.kind(), "Reconcile", error.to_string()).await;
            }
        }
    }
    result
}

/// The references of a job, fetched.
struct Fetched {
    site: Option<RemotionSite>,
    function: Option<RenderFunction>,
    bucket: Option<LambdaBucket>,
}

impl Fetched {
    async fn get(ctx: &JobContext, namespace: &str, job: &RenderJob) -> Result<Self, Error> {
        let (client, refs) = (&ctx.shared.client, &ctx.references);
        let site = refs.site(client, namespace, &job.spec.site_ref.name).await?;
        let function = refs.function(client, namespace, &job.spec.function_ref.name).await?;
        let bucket = match &site {
            Some(site) => refs.bucket(client, namespace, &site.spec.bucket_ref.name).await?,
            None => None,
        };
        Ok(Self { site, function, bucket })
    }

    fn found(&self) -> Found<'_> {
        Found { site: self.site.as_ref(), function: self.function.as_ref(), bucket: self.bucket.as_ref() }
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
            forget(ctx, &id);
        }
        // Nothing runs any more: a finished job must not need the operator to be deleted
        // (an uninstalled operator would otherwise hold up the namespace's deletion).
        remove_finalizer(&api, job).await?;
        return Ok(Action::await_change());
    }
    if is_deleting(job) {
        return on_delete(&api, job, ctx, &namespace).await;
    }
    match role {
        Role::Follow => follow(&api, job, ctx, &namespace).await,
        Role::Launch => prepare_and_launch(&api, job, ctx, &namespace).await,
    }
}

/// A job deleted before it ended: a launched render is told to stop (the cancel signal), so
/// deleting a RenderJob stops paying for it, as deleting a Job stops its Pods. The render's
/// files stay (the bucket's expiry rules remove them).
async fn on_delete(api: &Api<RenderJob>, job: &RenderJob, ctx: &JobContext, namespace: &str) -> Result<Action, Error> {
    if let Some(status) = job.status.as_ref().filter(|_| launched(job))
        && let (Some(id_text), Some(bucket)) = (&status.render_id, &status.bucket_name)
    {
        let id = RenderId::new(id_text.clone()).map_err(|e| Error::terminal("InvalidRenderId", e.to_string()))?;
        match locate(job, ctx, namespace, bucket.clone()).await {
            Ok(followed) => request_cancel(job, ctx, &followed, &id).await?,
            // The bucket (and with it the render's files) is gone: nothing to signal in.
            Err(error) if error.kind() == "BucketNotFound" => {
                tracing::info!(render_id = %id, "deleted job: its bucket is gone, no cancel signal written")
            }
            Err(error) => return Err(error),
        }
        forget(ctx, id_text);
    }
    remove_finalizer(api, job).await?;
    Ok(Action::await_change())
}

fn forget(ctx: &JobContext, id: &str) {
    ctx.launches.forget(id);
    let mut memory = ctx.memory();
    memory.throttle.forget(&id.to_owned());
    memory.heartbeats.remove(id);
    memory.cancel_requested.remove(id);
    memory.accrued.remove(id);
    memory.last_poll.remove(id);
}

/// Writes `desired` when it says something new, at most once per write interval per job
/// (`force` for the launch record, which must precede the invocation). A phase change waits
/// for the base interval only, not for the share of the write budget that stretches progress
/// writes when many renders are live. Returns how long to wait before the next write is
/// allowed, when this one was held back.
async fn write_status(
    api: &Api<RenderJob>,
    job: &RenderJob,
    ctx: &JobContext,
    desired: &RenderJobStatus,
    force: bool,
) -> Result<Option<Duration>, Error> {
    let current = job.status.clone().unwrap_or_default();
    if !status::differs(&current, desired) {
        return Ok(None);
    }
    // Keyed by render id, the key `forget` removes when the job ends (the UID has dashes).
    let uid = job.uid().unwrap_or_default();
    let key = RenderId::from_uid(&uid).map(|id| id.to_string()).unwrap_or(uid);
    let wait = {
        let memory = ctx.memory();
        if current.phase == desired.phase {
            memory.throttle.wait_for(&key, Instant::now())
        } else {
            memory.throttle.wait_with(&key, Instant::now(), ctx.tuning.write_interval)
        }
    };
    if !force && !wait.is_zero() {
        return Ok(Some(wait));
    }
    apply_status(api, job, FIELD_MANAGER, desired).await?;
    ctx.memory().throttle.wrote(key, Instant::now());
    announce(job, ctx, &current, desired).await;
    Ok(None)
}

/// Events for phase changes and new waiting reasons; the accrued-cost metric.
async fn announce(job: &RenderJob, ctx: &JobContext, before: &RenderJobStatus, after: &RenderJobStatus) {
    let events = &ctx.shared.events;
    let reason_of = |s: &RenderJobStatus| {
        remotion_crds::common::find_condition(&s.conditions, remotion_crds::common::condition_type::READY)
            .map(|c| (c.reason.clone(), c.message.clone()))
            .unwrap_or_default()
    };
    let (reason, message) = reason_of(after);
    let phase_changed = before.phase != after.phase;
    match after.phase.unwrap_or_default() {
        RenderPhase::Pending if reason_of(before).0 != reason => events.normal(job, &reason, "Wait", message).await,
        RenderPhase::Rendering if phase_changed => events.normal(job, "Launched", "Launch", message).await,
        RenderPhase::Succeeded if phase_changed => {
            let output = after.output.as_ref().map(|o| o.s3_uri.clone()).unwrap_or_default();
            let cost = after.cost.as_ref().map(|c| c.accrued_usd.clone()).unwrap_or_default();
            events.normal(job, "Succeeded", "Render", format!("rendered {output} for ${cost}")).await;
        }
        RenderPhase::Failed if phase_changed => events.warning(job, &reason, "Render", message).await,
        RenderPhase::Cancelled if phase_changed => events.normal(job, "Cancelled", "Cancel", message).await,
        _ => {}
    }
    if let (Some(id), Some(cost)) = (&after.render_id, &after.cost) {
        let accrued: Usd = cost.accrued_usd.parse().unwrap_or(Usd::ZERO);
        let mut memory = ctx.memory();
        let known = memory.accrued.entry(id.clone()).or_insert_with(|| {
            // First sight in this process: count only what accrues from now on.
            before.cost.as_ref().and_then(|c| c.accrued_usd.parse().ok()).unwrap_or(Usd::ZERO)
        });
        if accrued > *known {
            let delta = accrued.amount() - known.amount();
            ctx.shared.metrics.add_render_cost_usd(delta.try_into().unwrap_or(0.0));
            *known = accrued;
        }
    }
}

/// Ends a job before launch (invalid spec, cancelled).
async fn end_before_launch(
    api: &Api<RenderJob>,
    job: &RenderJob,
    ctx: &JobContext,
    phase: RenderPhase,
    reason: &str,
    message: String,
) -> Result<Action, Error> {
    let current = job.status.clone().unwrap_or_default();
    let verdict = Verdict::Ended { phase, reason, message, doc: None };
    let desired = status::desired(&current, &verdict, job.meta().generation, &now());
    match write_status(api, job, ctx, &desired, false).await? {
        Some(wait) => Ok(Action::requeue(wait)),
        None => Ok(Action::await_change()),
    }
}

async fn prepare_and_launch(
    api: &Api<RenderJob>,
    job: &RenderJob,
    ctx: &JobContext,
    namespace: &str,
) -> Result<Action, Error> {
    let generation = job.meta().generation;
    let current = job.status.clone().unwrap_or_default();
    if job.spec.cancel {
        let message = "cancelled before launch: nothing was rendered".to_owned();
        return end_before_launch(api, job, ctx, RenderPhase::Cancelled, "Cancelled", message).await;
    }
    let fetched = Fetched::get(ctx, namespace, job).await?;
    let resolved = match crate::job::references::resolve(&job.spec, fetched.found()) {
        Ok(resolved) => resolved,
        Err(Blocked::Invalid { reason, message }) => {
            return end_before_launch(api, job, ctx, RenderPhase::Failed, reason, message).await;
        }
        Err(Blocked::Waiting { reason, message }) => {
            let verdict = Verdict::Waiting { reason, message, estimate: None };
            let desired = status::desired(&current, &verdict, generation, &now());
            let wait = write_status(api, job, ctx, &desired, false).await?;
            return Ok(Action::requeue(wait.unwrap_or(ctx.tuning.waiting_recheck)));
        }
    };
    let id =
        RenderId::from_uid(&job.uid().unwrap_or_default()).map_err(|e| Error::terminal("InvalidUid", e.to_string()))?;
    if ctx.launches.outcome(id.as_str()).is_some() {
        // Launched by this process already; the cache has not caught up with the status
        // write that recorded it yet.
        return Ok(Action::requeue(ctx.tuning.poll_interval));
    }

    // Props: read and checked before anything is written, so a bad ConfigMap fails cleanly.
    let serialized = match read_props(job, ctx, namespace).await {
        Ok(serialized) => serialized,
        Err(PropsProblem::Missing(message)) => {
            let verdict = Verdict::Waiting { reason: "InputPropsNotFound", message, estimate: None };
            let desired = status::desired(&current, &verdict, generation, &now());
            let wait = write_status(api, job, ctx, &desired, false).await?;
            return Ok(Action::requeue(wait.unwrap_or(ctx.tuning.waiting_recheck)));
        }
        Err(PropsProblem::Invalid(message)) => {
            return end_before_launch(api, job, ctx, RenderPhase::Failed, "InvalidInputProps", message).await;
        }
        Err(PropsProblem::Api(error)) => return Err(error),
    };
    let placed = props::place(serialized, &id);
    let request = match launch::request(&job.spec, &id, &resolved, placed.payload.clone()) {
        Ok(request) => request,
        Err(e) => {
            return end_before_launch(api, job, ctx, RenderPhase::Failed, "InvalidSpec", e.to_string()).await;
        }
    };

    let bucket_clients = ctx.shared.aws.clients(namespace, &resolved.bucket.aws).await?;
    let function_clients = ctx.shared.aws.clients(namespace, &resolved.function.aws).await?;
    let s3 = &bucket_clients.s3;
    let bucket_name = &resolved.bucket.name;

    let estimate = match keys::optimization(&resolved.site_name, &job.spec.composition) {
        Ok(key) => ctx
            .profiles
            .get(s3, bucket_name, &key)
            .await
            .and_then(|profile| estimate::before_launch(&job.spec, &resolved, &profile).ok()),
        Err(_) => None,
    };
    if let Some((key, body)) = &placed.upload {
        bucket::put(s3, bucket_name, key, body.clone().into_bytes(), "application/json", job.spec.delete_after).await?;
    }
    if job.spec.delete_after.is_some() && !resolved.bucket.expiry_enabled {
        let message = format!(
            "deleteAfter is set but LambdaBucket {} has no expiry rules (spec.expiry.enabled): the render's files will stay",
            fetched.bucket.as_ref().map(|b| b.name_any()).unwrap_or_default()
        );
        ctx.shared.events.warning(job, "ExpiryDisabled", "Launch", message).await;
    }

    // The finalizer first: a job deleted from now on still gets its render cancelled.
    if !has_finalizer(job) {
        add_finalizer(api, job).await?;
    }
    // Record the launch before sending it: a restarted operator must never launch twice.
    let mut record = current.clone();
    record.render_id = Some(id.to_string());
    record.bucket_name = Some(bucket_name.clone());
    let verdict = Verdict::Launched { started_at: now(), estimate };
    let desired = status::desired(&record, &verdict, generation, &now());
    write_status(api, job, ctx, &desired, true).await?;

    ctx.launches
        .spawn(
            function_clients.lambda_invoke.clone(),
            resolved.function.name.clone(),
            id.to_string(),
            &Payload::Launch(request),
            ctx.tuning.launch_response_timeout,
        )
        .map_err(|e| Error::terminal("InvalidPayload", e.to_string()))?;
    tracing::info!(render_id = %id, function = resolved.function.name, "launched");
    Ok(Action::requeue(ctx.tuning.poll_interval))
}

enum PropsProblem {
    Missing(String),
    Invalid(String),
    Api(Error),
}

/// The job's props, serialized (a JSON object).
async fn read_props(job: &RenderJob, ctx: &JobContext, namespace: &str) -> Result<String, PropsProblem> {
    let origin = props::origin(&job.spec);
    let invalid = |e: props::PropsError| PropsProblem::Invalid(e.to_string());
    let secrets = ctx.shared.aws.secrets();
    let (found, key) = match &origin {
        props::PropsOrigin::Defaults => return Ok("{}".to_owned()),
        props::PropsOrigin::Inline => {
            let value = job.spec.input_props.clone().unwrap_or_default();
            return props::serialize(&value, &origin).map_err(invalid);
        }
        props::PropsOrigin::ConfigMap { name, key } => (secrets.config_map(namespace, name).await, key),
        props::PropsOrigin::Secret { name, key } => (secrets.secret(namespace, name).await, key),
    };
    let data = found
        .map_err(|e| PropsProblem::Api(Error::Kube(e)))?
        .ok_or_else(|| PropsProblem::Missing(format!("waiting for {origin} to exist")))?;
    let bytes = data.data.get(key).ok_or_else(|| PropsProblem::Missing(format!("waiting for {origin} to exist")))?;
    let text = std::str::from_utf8(bytes).map_err(|_| PropsProblem::Invalid(format!("{origin} is not UTF-8 text")))?;
    props::from_text(text, &origin).map_err(invalid)
}

/// Where a launched job's files are and how long its function may run.
struct Followed {
    s3: aws_sdk_s3::Client,
    bucket: String,
    bucket_url: Option<String>,
    function_timeout: Duration,
}

async fn locate(job: &RenderJob, ctx: &JobContext, namespace: &str, bucket: String) -> Result<Followed, Error> {
    let fetched = Fetched::get(ctx, namespace, job).await?;
    let Some(lambda_bucket) = fetched.bucket else {
        return Err(Error::transient(
            "BucketNotFound",
            format!(
                "the LambdaBucket of RemotionSite {} is gone: cannot read the render's progress",
                job.spec.site_ref.name
            ),
        ));
    };
    let clients = ctx.shared.aws.clients(namespace, &lambda_bucket.spec.aws).await?;
    let function_timeout = fetched
        .function
        .as_ref()
        .map(|f| f.status.as_ref().and_then(|s| s.timeout_seconds).unwrap_or(f.spec.timeout_seconds))
        .unwrap_or(remotion_crds::render_function::limits::DEFAULT_TIMEOUT_SECONDS);
    Ok(Followed {
        s3: clients.s3,
        bucket,
        bucket_url: lambda_bucket.status.and_then(|s| s.url),
        function_timeout: Duration::from_secs(u64::try_from(function_timeout).unwrap_or(900)),
    })
}

async fn follow(api: &Api<RenderJob>, job: &RenderJob, ctx: &JobContext, namespace: &str) -> Result<Action, Error> {
    let current = job.status.clone().unwrap_or_default();
    let generation = job.meta().generation;
    let id_text = current.render_id.clone().unwrap_or_default();
    let id = RenderId::new(id_text.clone()).map_err(|e| Error::terminal("InvalidRenderId", e.to_string()))?;
    let bucket_name = current.bucket_name.clone().unwrap_or_default();
    // Each status write wakes the job again: unless a cancel waits to be signalled, read the
    // progress no more often than the poll interval (at hundreds of live jobs these extra
    // reconciles doubled the load on the API server and S3).
    let cancel_pending = job.spec.cancel && !ctx.memory().cancel_requested.contains_key(&id_text);
    if !cancel_pending {
        let mut memory = ctx.memory();
        if let Some(last) = memory.last_poll.get(&id_text)
            && let Some(wait) = ctx.tuning.poll_interval.checked_sub(last.elapsed())
            && !wait.is_zero()
        {
            return Ok(Action::requeue(wait));
        }
        memory.last_poll.insert(id_text.clone(), Instant::now());
    }
    // Jobs launched by an operator version without the finalizer get it now.
    if !has_finalizer(job) {
        add_finalizer(api, job).await?;
    }
    let followed = locate(job, ctx, namespace, bucket_name).await?;
    let s3 = &followed.s3;

    if job.spec.cancel {
        request_cancel(job, ctx, &followed, &id).await?;
    }
    let doc = bucket::progress(s3, &followed.bucket, &keys::progress(&id)).await?;
    let now_ms = now_ms();
    let heartbeat = {
        let mut memory = ctx.memory();
        let previous = memory.heartbeats.get(&id_text).copied();
        if let Some(doc) = &doc
            && stall::is_stale(previous, doc)
        {
            // An older document than one already seen (a stale read): nothing new.
            return Ok(Action::requeue(ctx.tuning.poll_interval));
        }
        let heartbeat = doc.as_ref().map(|d| stall::observe(previous, d, now_ms));
        if let Some(h) = heartbeat {
            memory.heartbeats.insert(id_text.clone(), h);
        }
        heartbeat
    };

    let policy = StallPolicy { function_timeout: followed.function_timeout, margin: ctx.tuning.stall_margin };
    let launched_at_ms = current.started_at.as_ref().map(status::ms_from_time).unwrap_or(now_ms);
    let cancel_overdue =
        ctx.memory().cancel_requested.get(&id_text).is_some_and(|at| at.elapsed() > ctx.tuning.cancel_confirm_timeout);
    let output = match doc.as_ref() {
        Some(d) if d.stage == Stage::Done => output_of(job, d, &followed).await?,
        _ => None,
    };

    let verdict = match &doc {
        Some(d) if d.stage.is_terminal() => Verdict::Progress { doc: d, output },
        _ if cancel_overdue => Verdict::Ended {
            phase: RenderPhase::Cancelled,
            reason: "CancelUnconfirmed",
            message: format!(
                "cancelled; the function did not confirm within {} s and may run until its timeout ({} s)",
                ctx.tuning.cancel_confirm_timeout.as_secs(),
                followed.function_timeout.as_secs()
            ),
            doc: doc.as_ref(),
        },
        _ => match stall::silent_for(policy, launched_at_ms, doc.as_ref(), heartbeat, now_ms) {
            Some(silence) => stalled(ctx, &id_text, doc.as_ref(), silence, policy),
            None => match &doc {
                Some(d) => Verdict::Progress { doc: d, output: None },
                None => match ctx.launches.outcome(&id_text) {
                    Some(LaunchOutcome::Refused { kind, message }) => Verdict::Ended {
                        phase: RenderPhase::Failed,
                        reason: leak_reason(&kind),
                        message: format!("the function refused the launch: {message}"),
                        doc: None,
                    },
                    _ => {
                        Verdict::Launched { started_at: current.started_at.clone().unwrap_or_else(now), estimate: None }
                    }
                },
            },
        },
    };
    let desired = status::desired(&current, &verdict, generation, &now());
    let terminal = desired.phase.is_some_and(RenderPhase::is_terminal);
    match write_status(api, job, ctx, &desired, false).await? {
        // Held back: keep polling meanwhile, so that the end of the render (a phase change,
        // never held back) is seen within a poll interval even when the budget stretches
        // the write interval far beyond it.
        Some(wait) => Ok(Action::requeue(wait.min(ctx.tuning.poll_interval))),
        None if terminal => {
            forget(ctx, &id_text);
            Ok(Action::await_change())
        }
        None => Ok(Action::requeue(ctx.tuning.poll_interval)),
    }
}

/// Condition reasons must be `'static` in the verdict; error kinds of refused launches come
/// from a fixed set (the protocol's kinds and `LaunchFailed`).
fn leak_reason(kind: &str) -> &'static str {
    use remotion_crds::protocol::ErrorKind;
    if kind == "LaunchFailed" { "LaunchFailed" } else { ErrorKind::parse(kind).as_str() }
}

fn stalled<'a>(
    ctx: &JobContext,
    id: &str,
    doc: Option<&'a ProgressDocument>,
    silence: Duration,
    policy: StallPolicy,
) -> Verdict<'a> {
    let launches = ctx.launches.outcome(id);
    let what = match doc {
        Some(d) => format!(
            "its progress document has not changed for {} s (last stage {})",
            silence.as_secs(),
            d.stage.as_str()
        ),
        None => format!("the function wrote no progress document in the {} s since launch", silence.as_secs()),
    };
    let hint = match launches {
        Some(LaunchOutcome::InFlight) => "; the launch invocation is still unanswered",
        _ => "",
    };
    Verdict::Ended {
        phase: RenderPhase::Failed,
        reason: "Stalled",
        message: format!(
            "the render stalled: {what}, longer than the function timeout ({} s) plus {} s{hint}; see the function's logs",
            policy.function_timeout.as_secs(),
            policy.margin.as_secs()
        ),
        doc,
    }
}

/// Writes the cancel signal once per process (the PUT is idempotent, so a restart repeats it
/// harmlessly).
async fn request_cancel(job: &RenderJob, ctx: &JobContext, followed: &Followed, id: &RenderId) -> Result<(), Error> {
    let id_text = id.to_string();
    if ctx.memory().cancel_requested.contains_key(&id_text) {
        return Ok(());
    }
    bucket::put(&followed.s3, &followed.bucket, &keys::cancel(id), Vec::new(), "text/plain", job.spec.delete_after)
        .await?;
    ctx.memory().cancel_requested.insert(id_text, Instant::now());
    ctx.shared.events.normal(job, "CancelRequested", "Cancel", format!("wrote {}", keys::cancel(id))).await;
    Ok(())
}

/// The output of a finished render, with its URL.
async fn output_of(
    job: &RenderJob,
    doc: &ProgressDocument,
    followed: &Followed,
) -> Result<Option<RenderOutput>, Error> {
    let Some(info) = &doc.output else {
        return Ok(None);
    };
    let spec = job.spec.output.clone().unwrap_or_default();
    let (url, url_expires_at) = match spec.privacy {
        Privacy::Public => {
            let base =
                followed.bucket_url.clone().unwrap_or_else(|| format!("https://{}.s3.amazonaws.com", info.bucket));
            (bucket::public_url(&base, &info.key), None)
        }
        Privacy::Private => {
            let seconds = spec.presign_seconds.unwrap_or(limits::DEFAULT_PRESIGN_SECONDS);
            let valid_for = Duration::from_secs(u64::try_from(seconds).unwrap_or(3600));
            let url = bucket::presigned_get(&followed.s3, &info.bucket, &info.key, valid_for).await?;
            let expires = k8s_openapi::jiff::Timestamp::now()
                .checked_add(k8s_openapi::jiff::SignedDuration::from_secs(i64::from(seconds)))
                .ok()
                .map(Time);
            (url, expires)
        }
    };
    Ok(Some(RenderOutput {
        url: Some(url),
        url_expires_at,
        s3_uri: format!("s3://{}/{}", info.bucket, info.key),
        size_bytes: i64::try_from(info.size_bytes).unwrap_or(i64::MAX),
        content_type: info.content_type.clone(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_of_vanished_renders_is_dropped() {
        let mut memory = Memory {
            throttle: WriteThrottle::new(STATUS_WRITE_INTERVAL),
            heartbeats: HashMap::new(),
            cancel_requested: HashMap::new(),
            accrued: HashMap::new(),
            last_poll: HashMap::new(),
        };
        for id in ["kept", "vanished"] {
            memory.throttle.wrote(id.to_owned(), Instant::now());
            memory.cancel_requested.insert(id.to_owned(), Instant::now());
            memory.accrued.insert(id.to_owned(), Usd::ZERO);
            memory.last_poll.insert(id.to_owned(), Instant::now());
        }
        assert_eq!(memory.remembered(), 8);
        memory.retain_renders(&HashSet::from(["kept".to_owned()]));
        assert_eq!(memory.remembered(), 4);
        assert!(memory.last_poll.contains_key("kept") && !memory.accrued.contains_key("vanished"));
    }
}
