//! Many renders at once on a function of limited capacity: the RenderJob controller admits a
//! render only when a slot of its function is free, queues the others (phase `Queued`) by
//! priority, then round-robin across namespaces, then age, and launches the next one when a
//! slot frees. Against the API server, SeaweedFS and cargo-lambda running the scripted fake
//! function in its detached mode (it plays many renders at once, as Lambda would), so that
//! only the operator limits how many run.

use std::time::{Duration, Instant};

use crate::common::{eventually, test_secrets_in};
use crate::job_world::{JobOperator, World, tuning};
use anyhow::{Result, ensure};
use k8s_openapi::api::events::v1::Event;
use kube::ResourceExt;
use kube::api::{Api, ListParams, Patch, PatchParams};
use remotion_crds::RenderJob;
use remotion_crds::render_job::RenderPhase;
use remotion_operator::controllers::Settings;
use remotion_tests::lambda_front::{Refusal, refuse_next};
use serde_json::{Value, json};

const LONG_WAIT: Duration = Duration::from_secs(120);
const DETACHED: &[(&str, &str)] = &[("FAKE_LAUNCH_DETACH", "1")];

fn phase(job: &RenderJob) -> RenderPhase {
    job.status.as_ref().and_then(|s| s.phase).unwrap_or_default()
}

fn launched(job: &RenderJob) -> bool {
    job.status.as_ref().is_some_and(|s| s.started_at.is_some())
}

fn slots(job: &RenderJob) -> i32 {
    job.status.as_ref().and_then(|s| s.invocation_slots).unwrap_or(0)
}

/// A label that only this test's jobs carry, so that a controller watching every namespace
/// handles them alone.
fn test_label(world: &World) -> (String, Value) {
    let value = world.namespace.clone();
    (format!("remotion-operator.io/test={value}"), json!({"remotion-operator.io/test": value}))
}

/// Watches jobs by listing them every 100 ms: the order in which they launched (first seen
/// launched), and the most slots seen held at once by launched, unfinished jobs.
struct Observer {
    order: Vec<String>,
    most_slots_at_once: i32,
    most_running_at_once: usize,
    seen_queued_with_position: bool,
}

impl Observer {
    async fn run(apis: &[Api<RenderJob>], total: usize, timeout: Duration) -> Result<Self> {
        let mut observer = Observer {
            order: Vec::new(),
            most_slots_at_once: 0,
            most_running_at_once: 0,
            seen_queued_with_position: false,
        };
        let started = Instant::now();
        loop {
            let mut jobs = Vec::new();
            for api in apis {
                jobs.extend(api.list(&ListParams::default()).await?.items);
            }
            let held: i32 = jobs.iter().filter(|j| launched(j) && !phase(j).is_terminal()).map(slots).sum();
            observer.most_slots_at_once = observer.most_slots_at_once.max(held);
            let running = jobs.iter().filter(|j| launched(j) && !phase(j).is_terminal()).count();
            observer.most_running_at_once = observer.most_running_at_once.max(running);
            for job in &jobs {
                let name = format!("{}/{}", job.namespace().unwrap_or_default(), job.name_any());
                if launched(job) && !observer.order.contains(&name) {
                    observer.order.push(name);
                }
                let message = job
                    .status
                    .as_ref()
                    .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready").map(|c| c.message.clone()));
                if phase(job) == RenderPhase::Queued && message.is_some_and(|m| m.contains("position")) {
                    observer.seen_queued_with_position = true;
                }
            }
            let succeeded = jobs.iter().filter(|j| phase(j) == RenderPhase::Succeeded).count();
            if succeeded == total {
                return Ok(observer);
            }
            let failed: Vec<_> =
                jobs.iter().filter(|j| phase(j) == RenderPhase::Failed).map(|j| j.name_any()).collect();
            ensure!(failed.is_empty(), "jobs ended without succeeding: {failed:?}");
            if started.elapsed() > timeout {
                let states: Vec<String> = jobs
                    .iter()
                    .map(|j| {
                        let ready = j.status.as_ref().and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"));
                        let (reason, message) =
                            ready.map_or((String::new(), String::new()), |c| (c.reason.clone(), c.message.clone()));
                        format!("{} {:?} {reason}: {message}", j.name_any(), phase(j))
                    })
                    .collect();
                anyhow::bail!("only {succeeded} of {total} jobs succeeded within {timeout:?}: {states:#?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

#[tokio::test]
async fn renders_wait_for_their_function_capacity_and_all_succeed() -> Result<()> {
    let capacity = json!({"maxConcurrentInvocations": 2});
    let world = World::build("queue-cap", "test-fn-03", &["succeed"], 60, DETACHED, capacity).await?;
    let operator = JobOperator::start(&world.client, &world.namespace, tuning()).await;
    for i in 0..6 {
        world.create_job(&format!("video-{i}"), "succeed", json!({"steps": 6, "intervalMs": 250})).await?;
    }
    let observer = Observer::run(std::slice::from_ref(&world.jobs), 6, LONG_WAIT).await?;
    ensure!(observer.most_slots_at_once <= 2, "renders held {} slots of 2 at once", observer.most_slots_at_once);
    ensure!(observer.most_slots_at_once >= 1);
    ensure!(observer.seen_queued_with_position, "no job was seen Queued with its position");
    // Each render was told its share: one slot (its orchestrator) when six wait for two slots.
    for job in world.jobs.list(&ListParams::default()).await?.items {
        ensure!((1..=2).contains(&slots(&job)), "{} holds {} slots", job.name_any(), slots(&job));
    }
    let events: Api<Event> = Api::namespaced(world.client.clone(), &world.namespace);
    let queued_events = events
        .list(&ListParams::default())
        .await?
        .items
        .iter()
        .filter(|e| e.reason.as_deref() == Some("Queued"))
        .count();
    ensure!(queued_events >= 1, "no Queued Event");
    operator.stop().await
}

#[tokio::test]
async fn priority_goes_first_then_namespaces_take_turns() -> Result<()> {
    let capacity = json!({"maxConcurrentInvocations": 1});
    let team_a = World::build("queue-prio-a", "test-fn-04", &["succeed"], 60, DETACHED, capacity.clone()).await?;
    let team_b = team_a.neighbour("queue-prio-b", "test-fn-04", &["succeed"], capacity).await?;
    let (selector, labels) = test_label(&team_a);
    let settings = Settings { job_selector: Some(selector), ..Settings::new(None, 4) };
    let secrets = test_secrets_in(&[&team_a.namespace, &team_b.namespace]);
    let operator = JobOperator::start_with(&team_a.client, settings, tuning(), secrets).await;

    // One render holds the only slot until it is cancelled, while the others queue up.
    let holder = json!({"steps": 10_000, "intervalMs": 200});
    team_a.create_job_with("holder", "succeed", holder, json!({}), labels.clone()).await?;
    team_a.wait_phase("holder", RenderPhase::Rendering).await?;
    let short = json!({"steps": 3, "intervalMs": 150});
    for i in 0..4 {
        team_a.create_job_with(&format!("a-{i}"), "succeed", short.clone(), json!({}), labels.clone()).await?;
    }
    team_b.create_job_with("b-0", "succeed", short.clone(), json!({}), labels.clone()).await?;
    team_a.create_job_with("urgent", "succeed", short, json!({"priority": 10}), labels).await?;
    for (world, name) in [(&team_a, "a-0"), (&team_a, "a-3"), (&team_b, "b-0"), (&team_a, "urgent")] {
        world.wait_phase(name, RenderPhase::Queued).await?;
    }
    team_a.jobs.patch("holder", &PatchParams::default(), &Patch::Merge(json!({"spec": {"cancel": true}}))).await?;
    team_a.wait_phase("holder", RenderPhase::Cancelled).await?;

    let apis = [team_a.jobs.clone(), team_b.jobs.clone()];
    let observer = Observer::run(&apis, 6, LONG_WAIT).await?;
    ensure!(observer.most_slots_at_once <= 1, "{} slots held at once", observer.most_slots_at_once);
    let order: Vec<&str> =
        observer.order.iter().map(|n| n.rsplit('/').next().unwrap_or_default()).filter(|n| *n != "holder").collect();
    // The higher priority first; then the namespace not served yet; then team A's, oldest first.
    ensure!(order == ["urgent", "b-0", "a-0", "a-1", "a-2", "a-3"], "launch order {order:?}");
    operator.stop().await
}

#[tokio::test]
async fn twenty_jobs_of_one_namespace_delay_another_namespace_by_one_render_at_most() -> Result<()> {
    let capacity = json!({"maxConcurrentInvocations": 1});
    let team_a = World::build("queue-flood-a", "test-fn-05", &["succeed"], 60, DETACHED, capacity.clone()).await?;
    let team_b = team_a.neighbour("queue-flood-b", "test-fn-05", &["succeed"], capacity).await?;
    let (selector, labels) = test_label(&team_a);
    let settings = Settings { job_selector: Some(selector), ..Settings::new(None, 4) };
    let secrets = test_secrets_in(&[&team_a.namespace, &team_b.namespace]);
    let operator = JobOperator::start_with(&team_a.client, settings, tuning(), secrets).await;

    let short = json!({"steps": 2, "intervalMs": 150});
    for i in 0..20 {
        team_a.create_job_with(&format!("a-{i:02}"), "succeed", short.clone(), json!({}), labels.clone()).await?;
    }
    team_a.wait_phase("a-19", RenderPhase::Queued).await?;
    team_b.create_job_with("b-0", "succeed", short, json!({}), labels).await?;
    eventually("b-0 queued or launched", Duration::from_secs(60), || async {
        let job = team_b.jobs.get("b-0").await?;
        Ok((phase(&job) != RenderPhase::Pending).then_some(()))
    })
    .await?;
    // Which of team A's jobs had launched when team B's job was accepted.
    let launched_before: Vec<String> = team_a
        .jobs
        .list(&ListParams::default())
        .await?
        .items
        .iter()
        .filter(|j| launched(j))
        .map(|j| j.name_any())
        .collect();

    let apis = [team_a.jobs.clone(), team_b.jobs.clone()];
    let observer = Observer::run(&apis, 21, LONG_WAIT).await?;
    let b_at = observer.order.iter().position(|n| n.ends_with("/b-0")).unwrap_or(usize::MAX);
    let a_between = observer.order[..b_at.min(observer.order.len())]
        .iter()
        .filter(|n| !launched_before.iter().any(|l| n.ends_with(&format!("/{l}"))))
        .count();
    ensure!(a_between <= 1, "{a_between} of team A's renders launched while team B's job waited: {:?}", observer.order);
    operator.stop().await
}

#[tokio::test]
async fn a_launch_refused_twice_is_retried_and_renders_once() -> Result<()> {
    let world = World::new("queue-retry", "test-fn-06", &["succeed"], 60).await?;
    refuse_next("test-fn-06", &[Refusal::Throttled, Refusal::ServiceError]);
    let operator = JobOperator::start(&world.client, &world.namespace, tuning()).await;
    let job = world.create_job("video", "succeed", json!({"steps": 3, "intervalMs": 200})).await?;
    world.wait_phase("video", RenderPhase::Succeeded).await?;
    ensure!(world.launches(&job).await? == 1, "the render was launched {} times", world.launches(&job).await?);
    operator.stop().await
}

#[tokio::test]
async fn a_running_render_grows_into_slots_nobody_waits_for() -> Result<()> {
    let capacity = json!({"maxConcurrentInvocations": 4});
    let world = World::build("queue-grow", "test-fn-07", &["succeed"], 60, DETACHED, capacity).await?;
    let operator = JobOperator::start(&world.client, &world.namespace, tuning()).await;
    // A render holds the whole function while three queue; when it ends they split it.
    world.create_job("holder", "succeed", json!({"steps": 10_000, "intervalMs": 200})).await?;
    world.wait_phase("holder", RenderPhase::Rendering).await?;
    world.create_job("long", "succeed", json!({"steps": 40, "intervalMs": 250})).await?;
    for name in ["short", "shorter"] {
        world.create_job(name, "succeed", json!({"steps": 2, "intervalMs": 250})).await?;
    }
    for name in ["long", "short", "shorter"] {
        world.wait_phase(name, RenderPhase::Queued).await?;
    }
    world.jobs.patch("holder", &PatchParams::default(), &Patch::Merge(json!({"spec": {"cancel": true}}))).await?;
    let long = world.wait_phase("long", RenderPhase::Rendering).await?;
    let first_share = slots(&long);
    ensure!(first_share <= 2, "long was given {first_share} of 4 slots beside two other renders");
    world.wait_phase("shorter", RenderPhase::Succeeded).await?;
    world.wait_phase("short", RenderPhase::Succeeded).await?;
    // Then the long render takes the freed slots, and its orchestrator is told so.
    let grown = eventually("long grown to four slots", Duration::from_secs(30), || async {
        let job = world.jobs.get("long").await?;
        Ok((slots(&job) == 4).then_some(job))
    })
    .await?;
    let id = grown.status.as_ref().and_then(|s| s.render_id.clone()).unwrap_or_default();
    let key = remotion_protocol::keys::allotment(&remotion_protocol::keys::RenderId::new(id)?);
    let s3 = remotion_tests::TestEnv::get().s3().client().await;
    let body = s3.get_object().bucket(&world.bucket).key(&key).send().await?.body.collect().await?.into_bytes();
    let allotment: remotion_protocol::payload::Allotment = serde_json::from_slice(&body)?;
    ensure!(allotment.chunk_slots == 3, "{key}: {allotment:?}");
    world.wait_phase("long", RenderPhase::Succeeded).await?;
    operator.stop().await
}

#[tokio::test]
async fn a_running_render_gives_slots_back_to_a_job_that_arrives() -> Result<()> {
    let capacity = json!({"maxConcurrentInvocations": 4});
    let world = World::build("queue-shrink", "test-fn-64", &["succeed"], 60, DETACHED, capacity).await?;
    let operator = JobOperator::start(&world.client, &world.namespace, tuning()).await;
    // A long render alone takes the whole function.
    world.create_job("holder", "succeed", json!({"steps": 10_000, "intervalMs": 200})).await?;
    let holder = world.wait_phase("holder", RenderPhase::Rendering).await?;
    ensure!(slots(&holder) == 4, "a lone render holds {} of 4 slots", slots(&holder));
    let id = holder.status.as_ref().and_then(|s| s.render_id.clone()).unwrap_or_default();
    // A job that arrives starts beside it, long before it ends: it gives back half.
    let arrived = Instant::now();
    world.create_job("late", "succeed", json!({"steps": 6, "intervalMs": 250})).await?;
    let late = world.wait_phase("late", RenderPhase::Rendering).await?;
    let waited = arrived.elapsed();
    let holder = world.jobs.get("holder").await?;
    ensure!(phase(&holder) == RenderPhase::Rendering, "the holder ended: {:?}", holder.status);
    ensure!((slots(&holder), slots(&late)) == (2, 2), "shares {} and {}", slots(&holder), slots(&late));
    ensure!(waited < Duration::from_secs(20), "the late job waited {waited:?}");
    // Its orchestrator was told, and showed it kept within the share before the slots moved.
    let key = remotion_protocol::keys::allotment(&remotion_protocol::keys::RenderId::new(id.clone())?);
    let s3 = remotion_tests::TestEnv::get().s3().client().await;
    let body = s3.get_object().bucket(&world.bucket).key(&key).send().await?.body.collect().await?.into_bytes();
    let allotment: remotion_protocol::payload::Allotment = serde_json::from_slice(&body)?;
    ensure!(allotment.chunk_slots == 1, "{key}: {allotment:?}");
    let progress = remotion_protocol::keys::progress(&remotion_protocol::keys::RenderId::new(id)?);
    let body = s3.get_object().bucket(&world.bucket).key(&progress).send().await?.body.collect().await?.into_bytes();
    let doc: remotion_protocol::progress::ProgressDocument = serde_json::from_slice(&body)?;
    ensure!(doc.remote_lane.is_some_and(|lane| lane.within(1)), "{:?}", doc.remote_lane);
    world.wait_phase("late", RenderPhase::Succeeded).await?;
    world.jobs.patch("holder", &PatchParams::default(), &Patch::Merge(json!({"spec": {"cancel": true}}))).await?;
    world.wait_phase("holder", RenderPhase::Cancelled).await?;
    ensure!(world.launches(&late).await? == 1, "the late render was launched more than once");
    operator.stop().await
}

#[tokio::test]
async fn the_next_in_line_gets_its_finalizer_before_its_turn() -> Result<()> {
    let capacity = json!({"maxConcurrentInvocations": 1});
    let world = World::build("queue-arm", "test-fn-65", &["succeed"], 60, DETACHED, capacity).await?;
    let operator = JobOperator::start(&world.client, &world.namespace, tuning()).await;
    world.create_job("holder", "succeed", json!({"steps": 10_000, "intervalMs": 200})).await?;
    world.wait_phase("holder", RenderPhase::Rendering).await?;
    for name in ["first", "second", "third"] {
        world.create_job(name, "succeed", json!({"steps": 2, "intervalMs": 100})).await?;
        world.wait_phase(name, RenderPhase::Queued).await?;
    }
    let finalized = |job: &RenderJob| job.finalizers().iter().any(|f| f == remotion_operator::reconcile::FINALIZER);
    // One slot: only the job at position 1 is armed, while it still waits.
    let first = eventually("the first in line with the finalizer", Duration::from_secs(30), || async {
        let job = world.jobs.get("first").await?;
        Ok(finalized(&job).then_some(job))
    })
    .await?;
    ensure!(phase(&first) == RenderPhase::Queued && !launched(&first), "{:?}", first.status);
    for name in ["second", "third"] {
        let job = world.jobs.get(name).await?;
        ensure!(!finalized(&job), "{name} has the finalizer at its place in the queue");
    }
    // Deleting an armed job that never launched completes (the finalizer goes with nothing to
    // cancel), and the next in line is armed in its place.
    world.jobs.delete("first", &Default::default()).await?;
    eventually("the armed job deleted", Duration::from_secs(30), || async {
        Ok(world.jobs.get_opt("first").await?.is_none().then_some(()))
    })
    .await?;
    eventually("the second armed", Duration::from_secs(30), || async {
        Ok(finalized(&world.jobs.get("second").await?).then_some(()))
    })
    .await?;
    world.jobs.patch("holder", &PatchParams::default(), &Patch::Merge(json!({"spec": {"cancel": true}}))).await?;
    for name in ["second", "third"] {
        let job = world.wait_phase(name, RenderPhase::Succeeded).await?;
        ensure!(world.launches(&job).await? == 1, "{name} was launched more than once");
    }
    operator.stop().await
}

#[tokio::test]
async fn a_namespace_runs_at_most_its_limit_of_renders() -> Result<()> {
    let function = json!({"maxConcurrentInvocations": 4, "maxRendersPerNamespace": 1});
    let world = World::build("queue-limit", "test-fn-08", &["succeed"], 60, DETACHED, function).await?;
    let operator = JobOperator::start(&world.client, &world.namespace, tuning()).await;
    for i in 0..3 {
        world.create_job(&format!("video-{i}"), "succeed", json!({"steps": 4, "intervalMs": 250})).await?;
    }
    let waiting = eventually("a job waiting for its namespace's turn", Duration::from_secs(60), || async {
        let jobs = world.jobs.list(&ListParams::default()).await?.items;
        Ok(jobs.into_iter().find(|j| {
            j.status
                .as_ref()
                .is_some_and(|s| s.conditions.iter().any(|c| c.type_ == "Ready" && c.reason == "NamespaceLimit"))
        }))
    })
    .await?;
    let message = waiting
        .status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"))
        .map(|c| c.message.clone());
    ensure!(message.as_deref().is_some_and(|m| m.contains("maxRendersPerNamespace")), "{message:?}");
    let observer = Observer::run(std::slice::from_ref(&world.jobs), 3, LONG_WAIT).await?;
    // Four slots, but one render of this namespace at a time.
    ensure!(observer.most_running_at_once == 1, "{} renders ran at once", observer.most_running_at_once);
    ensure!(observer.order.len() == 3);
    operator.stop().await
}
