//! The operator owns each render function's capacity: a render is launched only when a slot
//! of its function is free, with a share of the free slots for its chunks; the others wait in
//! phase `Queued` in the order [`plan`] gives.
//!
//! Everything is derived from the RenderJobs in the controller's cache, so a restarted or newly
//! elected operator picks up where the last one stopped: a launched job holds the slots its
//! status records (`invocationSlots`), a `Queued` job waits. Two things only live in memory:
//! renders admitted but not yet seen launched in the cache (reserved, so two reconciles cannot
//! both take the last slot), and renders just ended (released before the cache says so, so the
//! next job starts at once).
//!
//! A function is identified by its region and name (and endpoint), not by the RenderFunction
//! that names it: RenderFunctions of several namespaces naming one Lambda function share its
//! capacity, round-robin. The capacity and per-namespace limit are those of the RenderFunction
//! of the job being placed; RenderFunctions naming one function should agree on them.

pub mod message;
pub mod plan;
pub mod share;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use kube::ResourceExt;
use kube::runtime::reflector::{ObjectRef, Store};
use remotion_crds::render_function::CapacitySource;
use remotion_crds::render_job::{RenderJobSpec, RenderPhase};
use remotion_crds::{Reason, RenderFunction, RenderJob};
use remotion_protocol::chunking::{self, FrameSelection};
use remotion_protocol::payload::Chunking;
use remotion_protocol::progress::RemoteLane;
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

use self::message::wait_message;
use self::plan::{Candidate, Limits, Occupant, Place, Plan};
use super::cache::References;
use crate::reconcile::guard::DeserializeGuard;
use crate::reconcile::has_finalizer;

/// How often the queues are looked at even when nothing woke them (a job that vanished
/// without the operator seeing it end still frees its slots within this time).
const SWEEP_EVERY: Duration = Duration::from_secs(1);
/// How long an admission is reserved without the cache showing the job launched (a launch
/// that failed before its status write gives its slots back after this).
const RESERVATION_TTL: Duration = Duration::from_secs(120);

/// One Lambda function, as capacity is counted.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FunctionKey(String);

impl FunctionKey {
    /// The key of a RenderFunction's Lambda function, once it has one.
    pub fn of(function: &RenderFunction) -> Option<Self> {
        let name = function.status.as_ref()?.function_name.as_deref()?;
        let aws = &function.spec.aws;
        Some(Self(format!("{}|{}|{name}", aws.endpoint.as_deref().unwrap_or(""), aws.region)))
    }
}

/// The limits a RenderFunction sets: `spec.maxConcurrentInvocations` at once, else the
/// capacity its status reports.
pub fn limits_of(function: &RenderFunction) -> Limits {
    let spec = &function.spec;
    let capacity = spec
        .max_concurrent_invocations
        .or_else(|| function.status.as_ref().and_then(|s| s.capacity))
        .and_then(|c| u32::try_from(c).ok());
    let per_namespace = spec.max_renders_per_namespace.and_then(|n| u32::try_from(n).ok());
    Limits { capacity, per_namespace }
}

/// Where the capacity in [`limits_of`] comes from, for messages.
pub(super) fn capacity_source(function: &RenderFunction) -> Option<CapacitySource> {
    match function.spec.max_concurrent_invocations {
        Some(_) => Some(CapacitySource::MaxConcurrentInvocations),
        None => function.status.as_ref().and_then(|s| s.capacity_source),
    }
}

/// Slots a job's chunks could use at most: its chunk count (1 for a still), from the
/// composition's length when the site lists it; unknown is "as many as it can get".
pub fn wanted_slots(spec: &RenderJobSpec, duration_in_frames: Option<i64>) -> u32 {
    if spec.still.is_some() {
        return 1;
    }
    let Some(frames) = duration_in_frames.and_then(|d| u64::try_from(d).ok()).filter(|&d| d > 0) else {
        return u32::MAX;
    };
    let last = frames - 1;
    let (start, end) = match spec.frame_range {
        Some(range) => {
            (u64::try_from(range.start).unwrap_or(0), range.end.and_then(|e| u64::try_from(e).ok()).unwrap_or(last))
        }
        None => (0, last),
    };
    let every_nth = spec.every_nth_frame.and_then(|n| u64::try_from(n).ok()).unwrap_or(1);
    let chunking = Chunking {
        frames_per_lambda: spec.frames_per_lambda.and_then(|v| u32::try_from(v).ok()),
        concurrency: spec.concurrency.and_then(|v| u32::try_from(v).ok()),
    };
    match chunking::plan_uniform(FrameSelection::every_nth(start, end.min(last), every_nth), chunking) {
        Ok(spans) => u32::try_from(spans.len()).unwrap_or(u32::MAX).max(1),
        Err(_) => u32::MAX,
    }
}

/// The chunk invocations `slots` of the job's capacity function allow: on its own function
/// the orchestrator holds one slot (and renders chunks itself), on a separate renderer
/// function (`rendererFunctionRef`) every slot is a chunk's.
pub fn chunk_slots(spec: &RenderJobSpec, slots: u32) -> u32 {
    match spec.renderer_function_ref {
        Some(_) => slots,
        None => slots.saturating_sub(1),
    }
}

/// The RenderFunction whose capacity a job's render is placed on: the one its chunks run on.
pub fn capacity_function_name(spec: &RenderJobSpec) -> &str {
    &spec.renderer_function_ref.as_ref().unwrap_or(&spec.function_ref).name
}

/// A running render's share, grown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Growth {
    /// The slots it holds now (its orchestrator included).
    pub slots: u32,
    /// Grown just now: its orchestrator is yet to be told.
    pub grew: bool,
}

/// A running render asked to give slots back to renders waiting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shrink {
    /// Its orchestrator is to be told its smaller share (the allotment written), then
    /// [`Admission::told`] called.
    Tell {
        /// The share to keep, its orchestrator included.
        slots: u32,
    },
    /// Told; its slots stay taken until its orchestrator shows that it keeps within the
    /// share.
    Draining {
        /// The share to keep.
        slots: u32,
    },
    /// Its orchestrator keeps within the share: the status is to record it, which frees the
    /// rest ([`Admission::gave_back`]).
    Done {
        /// The share kept.
        slots: u32,
    },
}

/// A share a running render is to shrink to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Shrinking {
    slots: u32,
    /// The allotment says so: the share can no longer be taken back, only complied with.
    told: bool,
}

/// What a job is told.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Launch with this many slots (its orchestrator included); `None`: the capacity is unknown
    /// and the render keeps its own cap.
    Admit {
        /// Slots given.
        slots: Option<u32>,
    },
    /// Wait in phase `Queued`.
    Wait {
        /// `Queued` or `NamespaceLimit`.
        reason: Reason,
        /// What it waits for, and its position.
        message: String,
    },
}

struct Reservation {
    key: FunctionKey,
    namespace: String,
    slots: u32,
    at: Instant,
}

#[derive(Default)]
struct State {
    /// Per function, per namespace: the tick of its last admission (round-robin).
    served: HashMap<FunctionKey, HashMap<String, u64>>,
    /// Admitted, not yet launched in the cache; by UID.
    reserved: HashMap<String, Reservation>,
    /// Ended, possibly not yet in the cache; by UID.
    released: HashSet<String>,
    /// The slots each placed job's chunks could use; by UID.
    wanted: HashMap<String, u32>,
    /// Running renders to give slots back to renders waiting; by UID.
    shrinking: HashMap<String, Shrinking>,
    /// Renders that gave slots back, possibly not yet recorded in the cache: the share they
    /// keep and when they gave; by UID.
    shrunk: HashMap<String, (u32, Instant)>,
    /// Jobs near the front of a queue sent to get their finalizer before their turn; by UID.
    armed: HashSet<String>,
    /// Bumped by every admission, growth and release: a plan made since is still right.
    generation: u64,
    /// The last plan of each function, with the generation and time it was made.
    plans: HashMap<FunctionKey, CachedPlan>,
}

/// A plan kept for the jobs it tells to wait: with thousands queued, each of their rechecks
/// would otherwise plan the whole queue again.
struct CachedPlan {
    generation: u64,
    made: Instant,
    plan: Plan,
}

/// How long a plan answers "wait" for the jobs in it (jobs queued since are not in it; a
/// vanished job's slots are found by the sweep within a second anyway).
const PLAN_REUSE: Duration = Duration::from_secs(1);

/// The renders of one function: who holds slots and who waits.
struct Group<'a> {
    occupants: Vec<Occupant<'a>>,
    candidates: Vec<Candidate<'a>>,
    /// The RenderFunction of the first waiting job, for the sweep's limits.
    function: Option<Arc<RenderFunction>>,
}

/// The capacity bookkeeping shared by the launching and following controllers.
pub struct Admission {
    state: Mutex<State>,
    trigger: mpsc::UnboundedSender<ObjectRef<DeserializeGuard<RenderJob>>>,
    arm: mpsc::UnboundedSender<ObjectRef<DeserializeGuard<RenderJob>>>,
    wake: Notify,
}

/// The jobs [`Admission`] hands on: those a slot is free for, to launch now, and those next
/// in line, to get their finalizer before their turn (so that their launch is one write to
/// the API server, not two, when a slot frees).
pub struct Handed {
    /// Admitted: launch now.
    pub admitted: mpsc::UnboundedReceiver<ObjectRef<DeserializeGuard<RenderJob>>>,
    /// Next in line, without the finalizer yet.
    pub next_in_line: mpsc::UnboundedReceiver<ObjectRef<DeserializeGuard<RenderJob>>>,
}

/// A job's state as far as capacity is concerned.
enum Standing {
    Occupant(u32),
    Candidate,
    Neither,
}

fn standing(job: &RenderJob, released: &HashSet<String>) -> Standing {
    let Some(status) = job.status.as_ref() else { return Standing::Neither };
    let phase = status.phase.unwrap_or_default();
    if phase.is_terminal() || released.contains(job.uid().as_deref().unwrap_or_default()) {
        return Standing::Neither;
    }
    if status.started_at.is_some() && status.render_id.is_some() {
        let slots = status.invocation_slots.and_then(|s| u32::try_from(s).ok()).unwrap_or(1);
        return Standing::Occupant(slots);
    }
    if phase == RenderPhase::Queued && !job.spec.cancel && job.metadata.deletion_timestamp.is_none() {
        return Standing::Candidate;
    }
    Standing::Neither
}

fn created_ms(job: &RenderJob) -> i64 {
    job.metadata.creation_timestamp.as_ref().map_or(0, |t| t.0.as_millisecond())
}

impl Admission {
    /// The bookkeeping, and the stream of jobs to reconcile again because a slot is theirs.
    pub fn new() -> (Arc<Self>, Handed) {
        let (trigger, admitted) = mpsc::unbounded_channel();
        let (arm, next_in_line) = mpsc::unbounded_channel();
        (
            Arc::new(Self { state: Mutex::default(), trigger, arm, wake: Notify::new() }),
            Handed { admitted, next_in_line },
        )
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Places `job`, which is ready to launch on `function`, and reserves its slots when it is
    /// admitted. Other jobs the same plan admits are reconciled again.
    pub fn decide(
        &self,
        jobs: &Store<DeserializeGuard<RenderJob>>,
        references: &References,
        job: &RenderJob,
        function: &RenderFunction,
        wanted: u32,
    ) -> Decision {
        let limits = limits_of(function);
        let uid = job.uid().unwrap_or_default();
        let namespace = job.namespace().unwrap_or_default();
        let Some(key) = FunctionKey::of(function) else {
            return Decision::Admit { slots: None };
        };
        let mut state = self.lock();
        if let Some(reservation) = state.reserved.get(&uid) {
            // Admitted already; its launch did not get as far as the status write.
            return Decision::Admit { slots: Some(reservation.slots) };
        }
        state.wanted.insert(uid.clone(), wanted);
        if let Some(cached) = state.plans.get(&key)
            && cached.generation == state.generation
            && cached.made.elapsed() < PLAN_REUSE
            && let Some(Place::Wait { reason, position }) = cached.plan.places.get(&uid).copied()
        {
            return Decision::Wait {
                reason,
                message: wait_message(function, &namespace, limits, &cached.plan, reason, position),
            };
        }
        let snapshot = jobs.state();
        let mut groups = groups(&snapshot, references, &state, Some(&key));
        let group =
            groups.remove(&key).unwrap_or(Group { occupants: Vec::new(), candidates: Vec::new(), function: None });
        let mut candidates = group.candidates;
        if !candidates.iter().any(|c| c.uid == uid) {
            candidates.push(Candidate {
                uid: &uid,
                name: job.metadata.name.as_deref().unwrap_or_default(),
                namespace: &namespace,
                priority: job.spec.priority,
                created_ms: created_ms(job),
                wanted,
            });
        }
        let served = state.served.get(&key).cloned().unwrap_or_default();
        let plan = plan::plan(limits, &group.occupants, &candidates, &served);
        self.trigger_admitted(&plan, &snapshot, Some(&uid));
        let place = plan.places.get(&uid).copied().unwrap_or(Place::Admit { slots: 1 });
        let decision = match place {
            Place::Admit { slots } => {
                state.generation += 1;
                let tick = served.values().copied().max().unwrap_or(0) + 1;
                state.served.entry(key.clone()).or_default().insert(namespace.clone(), tick);
                if limits.capacity.is_some() {
                    state.reserved.insert(uid, Reservation { key: key.clone(), namespace, slots, at: Instant::now() });
                }
                Decision::Admit { slots: limits.capacity.map(|_| slots) }
            }
            Place::Wait { reason, position } => {
                Decision::Wait { reason, message: wait_message(function, &namespace, limits, &plan, reason, position) }
            }
        };
        let generation = state.generation;
        state.plans.insert(key, CachedPlan { generation, made: Instant::now(), plan });
        decision
    }

    /// More slots for a running render whose chunks could use them, when its function has
    /// slots free and no render waits for them. Shares only grow: a render keeps what it was
    /// given until it ends, so a job that arrives later waits at most until one render ends.
    /// Returns the slots the job's status should record when they differ from it: a growth
    /// just decided (`grew`), or one decided earlier that the status does not show yet.
    pub fn grow(
        &self,
        jobs: &Store<DeserializeGuard<RenderJob>>,
        references: &References,
        job: &RenderJob,
        function: &RenderFunction,
        usable: u32,
    ) -> Option<Growth> {
        let limits = limits_of(function);
        let capacity = limits.capacity?;
        let key = FunctionKey::of(function)?;
        let uid = job.uid()?;
        let recorded = job.status.as_ref()?.invocation_slots.and_then(|s| u32::try_from(s).ok())?;
        let mut state = self.lock();
        let held = recorded.max(state.reserved.get(&uid).map_or(0, |r| r.slots));
        let unrecorded = (held > recorded).then_some(Growth { slots: held, grew: false });
        if usable <= held || state.shrinking.contains_key(&uid) || state.shrunk.contains_key(&uid) {
            return unrecorded;
        }
        let snapshot = jobs.state();
        let groups = groups(&snapshot, references, &state, Some(&key));
        let (in_use, waiting) = groups
            .get(&key)
            .map_or((0, false), |g| (g.occupants.iter().map(|o| o.slots).sum::<u32>(), !g.candidates.is_empty()));
        let free = capacity.saturating_sub(in_use);
        if waiting || free == 0 {
            return unrecorded;
        }
        let slots = held + free.min(usable - held);
        let namespace = job.namespace().unwrap_or_default();
        state.reserved.insert(uid, Reservation { key, namespace, slots, at: Instant::now() });
        state.generation += 1;
        Some(Growth { slots, grew: true })
    }

    /// Where a running render stands in giving slots back, given what its orchestrator last
    /// reported of its remote lane (`None` until it renders chunks, or from an orchestrator
    /// that does not report it, whose share then never shrinks). `recorded` is the share its
    /// status shows.
    pub fn shrink(&self, job: &RenderJob, recorded: u32, lane: Option<RemoteLane>) -> Option<Shrink> {
        let uid = job.uid()?;
        let mut state = self.lock();
        let shrinking = *state.shrinking.get(&uid)?;
        if shrinking.slots >= recorded {
            state.shrinking.remove(&uid);
            return None;
        }
        if !shrinking.told {
            // An orchestrator that cannot say when it complies is left its share.
            return lane.is_some().then_some(Shrink::Tell { slots: shrinking.slots });
        }
        if !lane.is_some_and(|lane| lane.within(chunk_slots(&job.spec, shrinking.slots))) {
            return Some(Shrink::Draining { slots: shrinking.slots });
        }
        // Given back once the status records it ([`Admission::gave_back`]), so that the shares
        // the statuses show never add up to more than the function has.
        Some(Shrink::Done { slots: shrinking.slots })
    }

    /// The status of `uid` records the smaller share `slots`: the rest is free from now on,
    /// whatever the cache says yet.
    pub fn gave_back(&self, uid: &str, slots: u32) {
        let mut state = self.lock();
        state.shrinking.remove(uid);
        // A growth not yet in the cache is superseded.
        state.reserved.remove(uid);
        state.shrunk.insert(uid.to_owned(), (slots, Instant::now()));
        state.generation += 1;
        drop(state);
        self.wake.notify_one();
    }

    /// Sends an admitted job whose launch could not be recorded (it changed since it was read)
    /// back to the fast lane after `delay`, by when the cache has the change: the lane has no
    /// requeue of its own, and the job would otherwise hold its reserved slot until its next
    /// recheck.
    pub fn launch_again(&self, job: &RenderJob, delay: Duration) {
        let uid = job.uid().unwrap_or_default();
        if !self.lock().reserved.contains_key(&uid) {
            return;
        }
        let job_ref = ObjectRef::<DeserializeGuard<RenderJob>>::new(&job.name_any())
            .within(job.namespace().as_deref().unwrap_or_default());
        let trigger = self.trigger.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let _ = trigger.send(job_ref);
        });
    }

    /// The orchestrator of `uid` has been told its smaller share.
    pub fn told(&self, uid: &str) {
        if let Some(shrinking) = self.lock().shrinking.get_mut(uid) {
            shrinking.told = true;
        }
    }

    /// A job ended or was deleted: its slots are free now, whatever the cache says yet.
    pub fn release(&self, uid: &str) {
        let mut state = self.lock();
        state.reserved.remove(uid);
        state.wanted.remove(uid);
        state.shrinking.remove(uid);
        state.shrunk.remove(uid);
        state.released.insert(uid.to_owned());
        state.generation += 1;
        drop(state);
        self.wake.notify_one();
    }

    /// Looks at every queue every second, or at once when a slot frees, and reconciles the jobs
    /// a slot is now free for.
    pub async fn run(
        self: Arc<Self>,
        jobs: Store<DeserializeGuard<RenderJob>>,
        references: Arc<References>,
        shutdown: CancellationToken,
    ) {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(SWEEP_EVERY) => {}
            }
            self.sweep(&jobs, &references);
        }
    }

    /// One look at every queue.
    pub fn sweep(&self, jobs: &Store<DeserializeGuard<RenderJob>>, references: &References) {
        let snapshot = jobs.state();
        let mut state = self.lock();
        prune(&mut state, &snapshot);
        let groups = groups(&snapshot, references, &state, None);
        // Shares are decided afresh on each look, except those an orchestrator was told.
        let mut shrinking: HashMap<String, Shrinking> =
            state.shrinking.iter().filter(|(_, s)| s.told).map(|(uid, s)| (uid.clone(), *s)).collect();
        let mut next_in_line: HashSet<String> = HashSet::new();
        for (key, group) in &groups {
            let Some(function) = &group.function else { continue };
            if group.candidates.is_empty() {
                continue;
            }
            let served = state.served.get(key).cloned().unwrap_or_default();
            let limits = limits_of(function);
            let plan = plan::plan(limits, &group.occupants, &group.candidates, &served);
            self.trigger_admitted(&plan, &snapshot, None);
            if let Some(capacity) = limits.capacity {
                next_in_line.extend(
                    plan.places
                        .iter()
                        .filter(|(uid, place)| {
                            matches!(place, Place::Wait { reason: Reason::Queued, position } if *position <= capacity)
                                && !state.armed.contains(*uid)
                        })
                        .map(|(uid, _)| uid.clone()),
                );
            }
            if let Some(capacity) = limits.capacity
                && plan.admitted().next().is_none()
            {
                let waiting: Vec<i32> = group
                    .candidates
                    .iter()
                    .filter(|c| matches!(plan.places.get(c.uid), Some(Place::Wait { reason: Reason::Queued, .. })))
                    .map(|c| c.priority)
                    .collect();
                for (uid, slots) in share::shares_to_give_back(capacity, &group.occupants, &waiting) {
                    shrinking.entry(uid.to_owned()).or_insert(Shrinking { slots, told: false });
                }
            }
        }
        drop(groups);
        state.shrinking = shrinking;
        if !next_in_line.is_empty() {
            self.arm_next_in_line(&snapshot, &next_in_line);
            state.armed.extend(next_in_line);
        }
    }

    /// Hands on the jobs of `uids` that have no finalizer yet.
    fn arm_next_in_line(&self, snapshot: &[Arc<DeserializeGuard<RenderJob>>], uids: &HashSet<String>) {
        for guarded in snapshot {
            if let Ok(job) = &guarded.0
                && !has_finalizer(job)
                && job.metadata.uid.as_ref().is_some_and(|uid| uids.contains(uid))
            {
                let _ = self.arm.send(ObjectRef::from_obj(&**guarded));
            }
        }
    }

    fn trigger_admitted(&self, plan: &Plan, snapshot: &[Arc<DeserializeGuard<RenderJob>>], except: Option<&str>) {
        let admitted: HashSet<&str> = plan.admitted().map(|(uid, _)| uid).filter(|uid| Some(*uid) != except).collect();
        if admitted.is_empty() {
            return;
        }
        for guarded in snapshot {
            if let Ok(job) = &guarded.0
                && job.uid().is_some_and(|uid| admitted.contains(uid.as_str()))
            {
                let _ = self.trigger.send(ObjectRef::from_obj(&**guarded));
            }
        }
    }
}

/// Drops reservations the cache has caught up with (or that outlived a failed launch or status
/// write), and
/// releases of jobs the cache shows ended or gone.
fn prune(state: &mut State, snapshot: &[Arc<DeserializeGuard<RenderJob>>]) {
    // UID → the slots the cache shows (a launch, or a growth, is caught up with once they reach
    // the reservation's); an ended job's reservation goes whatever it held.
    let mut launched_or_ended = HashMap::new();
    let mut present = HashSet::new();
    for job in snapshot.iter().filter_map(|g| g.0.as_ref().ok()) {
        let Some(uid) = job.uid() else { continue };
        let status = job.status.as_ref();
        let ended = status.and_then(|s| s.phase).is_some_and(RenderPhase::is_terminal);
        let launched = status.is_some_and(|s| s.started_at.is_some() && s.render_id.is_some());
        let slots = status.and_then(|s| s.invocation_slots).and_then(|s| u32::try_from(s).ok()).unwrap_or(0);
        if ended {
            launched_or_ended.insert(uid.clone(), u32::MAX);
        } else if launched {
            launched_or_ended.insert(uid.clone(), slots);
        }
        if !ended {
            present.insert(uid);
        }
    }
    state.reserved.retain(|uid, r| {
        let caught_up = launched_or_ended.get(uid).is_some_and(|&slots| slots >= r.slots);
        !caught_up && r.at.elapsed() < RESERVATION_TTL
    });
    // A smaller share is caught up with once the cache shows it (or the job ended).
    state.shrunk.retain(|uid, (kept, at)| {
        let caught_up = launched_or_ended.get(uid).is_none_or(|&slots| slots <= *kept || slots == u32::MAX);
        !caught_up && at.elapsed() < RESERVATION_TTL
    });
    state.shrinking.retain(|uid, _| present.contains(uid));
    state.armed.retain(|uid| present.contains(uid));
    state.released.retain(|uid| present.contains(uid));
    state.wanted.retain(|uid, _| present.contains(uid));
}

/// A RenderFunction with the key of its Lambda function.
type KeyedFunction = (FunctionKey, Arc<RenderFunction>);

/// The occupants and candidates of every function (or of `only`).
fn groups<'a>(
    snapshot: &'a [Arc<DeserializeGuard<RenderJob>>],
    references: &References,
    state: &'a State,
    only: Option<&FunctionKey>,
) -> HashMap<FunctionKey, Group<'a>> {
    // Each RenderFunction looked up once per pass, by (namespace, name).
    let mut functions: HashMap<(String, String), Option<KeyedFunction>> = HashMap::new();
    let mut groups: HashMap<FunctionKey, Group<'a>> = HashMap::new();
    let mut seen_launched = HashSet::new();
    for job in snapshot.iter().filter_map(|g| g.0.as_ref().ok()) {
        let standing = standing(job, &state.released);
        if matches!(standing, Standing::Neither) {
            continue;
        }
        let namespace = job.metadata.namespace.as_deref().unwrap_or_default();
        let name = capacity_function_name(&job.spec);
        let lookup = (namespace.to_owned(), name.to_owned());
        let found = functions
            .entry(lookup)
            .or_insert_with(|| {
                let function = references.cached_function(namespace, name)?;
                Some((FunctionKey::of(&function)?, function))
            })
            .clone();
        let Some((key, function)) = found else { continue };
        if only.is_some_and(|only| *only != key) {
            continue;
        }
        let group = groups.entry(key).or_insert_with(|| Group {
            occupants: Vec::new(),
            candidates: Vec::new(),
            function: None,
        });
        let uid = job.metadata.uid.as_deref().unwrap_or_default();
        match standing {
            Standing::Occupant(slots) => {
                seen_launched.insert(uid);
                // A share just grown or shrunk may not be in the cache yet.
                let grown = state.reserved.get(uid).map_or(0, |r| r.slots);
                let kept = state.shrunk.get(uid).map_or(u32::MAX, |(kept, _)| *kept);
                group.occupants.push(Occupant {
                    uid,
                    namespace,
                    slots: slots.max(grown).min(kept),
                    priority: Some(job.spec.priority),
                });
            }
            Standing::Candidate => {
                if state.reserved.contains_key(uid) {
                    continue;
                }
                group.function.get_or_insert(function);
                let wanted = state.wanted.get(uid).copied().unwrap_or(u32::MAX);
                group.candidates.push(Candidate {
                    uid,
                    name: job.metadata.name.as_deref().unwrap_or_default(),
                    namespace,
                    priority: job.spec.priority,
                    created_ms: created_ms(job),
                    wanted,
                });
            }
            Standing::Neither => {}
        }
    }
    for (uid, reservation) in &state.reserved {
        if seen_launched.contains(uid.as_str()) || only.is_some_and(|only| *only != reservation.key) {
            continue;
        }
        let group = groups.entry(reservation.key.clone()).or_insert_with(|| Group {
            occupants: Vec::new(),
            candidates: Vec::new(),
            function: None,
        });
        group.occupants.push(Occupant {
            uid,
            namespace: &reservation.namespace,
            slots: reservation.slots,
            priority: None,
        });
    }
    groups
}
