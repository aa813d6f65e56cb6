//! A hostile tenant's RenderJobs, on real components: props nested too deep, Secrets not
//! labelled for props, output keys outside the job's folders, a launch record from a stale
//! read. Each ends in a clear condition, and the recording proxies show that nothing of the
//! victim's was written and no refused job was launched. The admin's policy and the wire
//! checks are [`super::hostile_tenant`]'s.

use std::time::Duration;

use anyhow::{Context as _, Result};
use aws_sdk_s3::primitives::ByteStream;
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use remotion_crds::common::{INPUT_PROPS_SECRET_LABEL, find_condition};
use remotion_crds::render_job::RenderPhase;
use remotion_crds::{LambdaBucket, RenderFunction, RenderJob};
use remotion_operator::aws::{ObjectData, StaticSecrets};
use remotion_operator::controllers::Settings;
use remotion_operator::controllers::render_job::Tuning;
use remotion_operator::reconcile::guard::DeserializeGuard;
use remotion_operator::reconcile::status::{Precondition, apply_status_when};
use remotion_operator::reconcile::{apply_status, apply_status_unchanged, readable::MAX_OBJECT_DEPTH};
use remotion_protocol::keys::{self, RenderId};
use remotion_tests::TestEnv;
use remotion_tests::recording_proxy::{Recorded, RecordingProxy};
use serde_json::{Value, json};

use crate::common::{eventually, test_secrets};
use crate::hostile_tenant::{WAIT, assert_none_sent, listed, nested, policy};
use crate::job_world::{FIXTURES, JobOperator, World, condition, tuning};

/// Points `world`'s LambdaBucket and RenderFunction at this test's proxies, and keeps them
/// Ready for their new generation (the fixtures' manager applies their status again, as it
/// was, with the generation the references' check compares).
async fn route_through(world: &World, s3: &RecordingProxy, lambda: &RecordingProxy) -> Result<()> {
    let kinds = [
        (ApiResource::erase::<LambdaBucket>(&()), "bucket", &s3.endpoint),
        (ApiResource::erase::<RenderFunction>(&()), "renderer", &lambda.endpoint),
    ];
    for (kind, name, endpoint) in kinds {
        let api: Api<DynamicObject> = Api::namespaced_with(world.client.clone(), &world.namespace, &kind);
        let patch = json!({"spec": {"endpoint": endpoint}});
        let patched = api.patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await?;
        let generation = json!(patched.metadata.generation.context("a generation")?);
        let mut status = patched.data.get("status").cloned().context("the fixture's status")?;
        status["observedGeneration"] = generation.clone();
        for condition in status["conditions"].as_array_mut().into_iter().flatten() {
            condition["observedGeneration"] = generation.clone();
        }
        let applied = json!({"apiVersion": kind.api_version, "kind": kind.kind, "status": status});
        api.patch_status(name, &PatchParams::apply(FIXTURES).force(), &Patch::Apply(&applied)).await?;
    }
    Ok(())
}

/// The proxies of a job test: S3 and Lambda as the attacker's operator reaches them.
async fn job_proxies(world: &World) -> Result<(RecordingProxy, RecordingProxy)> {
    let env = TestEnv::get();
    let s3 = RecordingProxy::s3(&env.s3().endpoint).await?;
    let lambda = RecordingProxy::lambda(&env.lambda().endpoint).await?;
    route_through(world, &s3, &lambda).await?;
    Ok((s3, lambda))
}

/// The render id of job `name`.
async fn render_id(world: &World, name: &str) -> Result<RenderId> {
    Ok(RenderId::from_uid(&world.jobs.get(name).await?.uid().context("a uid")?)?)
}

/// The invocations whose payload names render `id`.
fn invocations_of(lambda: &RecordingProxy, id: &RenderId) -> Vec<Recorded> {
    lambda.invocations().into_iter().filter(|r| r.payload_text().contains(id.as_str())).collect()
}

/// A job controller under the policy of these tests.
async fn job_operator(world: &World, secrets: std::sync::Arc<StaticSecrets>, tuning: Tuning) -> JobOperator {
    let settings = Settings::new(Some(world.namespace.clone()), 4);
    JobOperator::start_with_policy(&world.client, settings, tuning, secrets, policy("victim")).await
}

#[tokio::test]
async fn props_nested_too_deep_fail_their_job_only() -> Result<()> {
    let world = World::new("evil-props", "test-fn-60", &["succeed"], 60).await?;
    let (s3, lambda) = job_proxies(&world).await?;
    let operator = job_operator(&world, test_secrets(&world.namespace), tuning()).await;

    // Deeper than serde_json reads: the API server takes it; the operator's watch must not
    // break. Sent as bytes (a typed client could not read the answer).
    let guarded: Api<DeserializeGuard<RenderJob>> = Api::namespaced(world.client.clone(), &world.namespace);
    let deep = json!({"apiVersion": "remotion-operator.io/v1alpha1", "kind": "RenderJob", "metadata": {"name": "abyss"},
        "spec": {"siteRef": {"name": "site"}, "functionRef": {"name": "renderer"}, "composition": "succeed",
                 "inputProps": nested(200)}});
    let path = format!("/apis/remotion-operator.io/v1alpha1/namespaces/{}/renderjobs", world.namespace);
    let request = kube::core::Request::new(path).create(&PostParams::default(), serde_json::to_vec(&deep)?)?;
    world.client.request_text(request).await?;
    // Deeper than the props limit, within what the operator reads.
    world.create_job("deep", "succeed", nested(70)).await?;
    world.create_job("fine", "succeed", json!({"steps": 2, "intervalMs": 100})).await?;

    world.wait_phase("fine", RenderPhase::Succeeded).await?;
    let deep = world.wait_phase("deep", RenderPhase::Failed).await?;
    let (_, reason, message) = condition(&deep, "Ready");
    assert_eq!(reason, "InvalidInputProps", "{message}");
    assert!(message.contains("nest 70 levels deep; at most 64"), "{message}");

    // Reported on the job itself: a Warning Event (its Ready condition is written too, but
    // the object is too deep for a test client to read it back).
    eventually("the abyss reported", WAIT, || async {
        let events = world.events("abyss").await?;
        Ok(events.iter().any(|(kind, reason)| kind == "Warning" && reason == "InvalidObject").then_some(()))
    })
    .await?;
    let object = guarded.get("abyss").await?;
    let invalid = object.0.as_ref().expect_err("too deep to read");
    assert!(invalid.error.contains(&format!("more than the {MAX_OBJECT_DEPTH}")), "{}", invalid.error);
    // Never launched, and nothing written for either: not an invocation naming their renders,
    // not a write into their folders.
    let id = RenderId::from_uid(&object.uid().unwrap())?;
    let progress = env_head(&world.bucket, &keys::progress(&id)).await;
    assert!(!progress, "the abyss was launched");
    for id in [id, render_id(&world, "deep").await?] {
        assert_none_sent(&format!("render {id} was refused"), &invocations_of(&lambda, &id));
        assert_none_sent(&format!("render {id} was refused"), &s3.writes_to(&world.bucket, &keys::render_prefix(&id)));
    }
    // Positive control: the neighbour's launch went through the proxy, as did the reads of its
    // progress; and nothing else was invoked.
    let fine = render_id(&world, "fine").await?;
    assert!(!invocations_of(&lambda, &fine).is_empty(), "fine's launch not recorded:{}", listed(&lambda.recorded()));
    assert_eq!(lambda.invocations().len(), invocations_of(&lambda, &fine).len(), "{}", listed(&lambda.recorded()));
    assert!(s3.requests_to(&world.bucket).iter().any(|r| r.key.as_deref() == Some(keys::progress(&fine).as_str())));
    operator.stop().await
}

async fn env_head(bucket: &str, key: &str) -> bool {
    TestEnv::get().s3().client().await.head_object().bucket(bucket).key(key).send().await.is_ok()
}

#[tokio::test]
async fn a_job_reads_only_secrets_labelled_for_props() -> Result<()> {
    let world = World::new("evil-secret", "test-fn-61", &["succeed"], 60).await?;
    let secrets = test_secrets(&world.namespace);
    let props = br#"{"steps": 1, "intervalMs": 100}"#.to_vec();
    let data = || [("props.json".to_owned(), props.clone())].into();
    secrets.put_secret(
        &world.namespace,
        "db-password",
        ObjectData { resource_version: "1".into(), data: data(), ..Default::default() },
    );
    let quick = Tuning { waiting_recheck: Duration::from_secs(1), ..tuning() };
    let (_s3, lambda) = job_proxies(&world).await?;
    let operator = job_operator(&world, secrets.clone(), quick).await;

    let from_secret =
        json!({"inputProps": null, "inputPropsFrom": {"secretKeyRef": {"name": "db-password", "key": "props.json"}}});
    world.create_job_with("leak", "succeed", Value::Null, from_secret, json!({})).await?;
    let waiting = eventually("leak waits for a label", WAIT, || async {
        let job = world.jobs.get("leak").await?;
        let ready = job.status.as_ref().and_then(|s| find_condition(&s.conditions, "Ready")).cloned();
        Ok(ready.filter(|c| c.reason == "InputPropsNotAllowed"))
    })
    .await?;
    assert!(
        waiting.message.contains(&format!("kubectl label secret db-password {INPUT_PROPS_SECRET_LABEL}=true")),
        "{}",
        waiting.message
    );
    assert_eq!(world.jobs.get("leak").await?.status.and_then(|s| s.phase), Some(RenderPhase::Pending));
    // The Secret's content went nowhere: nothing was invoked.
    assert_none_sent("the Secret is not labelled", &lambda.invocations());

    // The namespace's admin labels it: now it may be read.
    let labels = [(INPUT_PROPS_SECRET_LABEL.to_owned(), "true".to_owned())].into();
    secrets.put_secret(
        &world.namespace,
        "db-password",
        ObjectData { resource_version: "2".into(), data: data(), labels },
    );
    world.wait_phase("leak", RenderPhase::Succeeded).await?;
    // Positive control: once allowed, the launch went out through the proxy.
    let id = render_id(&world, "leak").await?;
    assert!(!invocations_of(&lambda, &id).is_empty(), "leak's launch not recorded:{}", listed(&lambda.recorded()));
    operator.stop().await
}

#[tokio::test]
async fn output_keys_stay_in_the_jobs_folders() -> Result<()> {
    let world = World::new("evil-out", "test-fn-62", &["succeed"], 60).await?;
    let (s3, lambda) = job_proxies(&world).await?;
    let operator = job_operator(&world, test_secrets(&world.namespace), tuning()).await;
    let env = TestEnv::get();
    // A victim's render whose cancel signal and output the attacker targets.
    let victim = "renders/victimrender/";
    env.s3()
        .client()
        .await
        .put_object()
        .bucket(&world.bucket)
        .key(format!("{victim}out.mp4"))
        .body(ByteStream::from_static(b"victim's video"))
        .send()
        .await?;
    let output = |key: &str| json!({"output": {"key": key, "privacy": "private"}});
    let props = json!({"steps": 1, "intervalMs": 100});
    let refused = [
        ("other-ns", "outputs/some-other-team/stolen.mp4".to_owned()),
        ("victims-output", format!("{victim}out.mp4")),
        ("victims-cancel", format!("{victim}cancel")),
        ("bucket-root", "final.mp4".to_owned()),
    ];
    for (name, key) in &refused {
        world.create_job_with(name, "succeed", props.clone(), output(key), json!({})).await?;
    }
    let mine = format!("outputs/{}/videos/mine.mp4", world.namespace);
    world.create_job_with("mine", "succeed", props.clone(), output(&mine), json!({})).await?;

    for (name, key) in &refused {
        let job = world.wait_phase(name, RenderPhase::Failed).await?;
        let (_, reason, message) = condition(&job, "Ready");
        assert_eq!(reason, "OutputKeyNotAllowed", "{name}: {message}");
        assert!(message.contains(&format!("\"outputs/{}/\"", world.namespace)), "{message}");
        assert_eq!(world.launches(&job).await?, 0, "{name} launched");
        if key.starts_with("outputs/") || key == "final.mp4" {
            assert!(!env_head(&world.bucket, key).await, "{name} wrote {key}");
        }
    }
    let body =
        env.s3().client().await.get_object().bucket(&world.bucket).key(format!("{victim}out.mp4")).send().await?;
    assert_eq!(body.body.collect().await?.into_bytes().as_ref(), b"victim's video");
    assert!(!env_head(&world.bucket, &format!("{victim}cancel")).await);

    let job = world.wait_phase("mine", RenderPhase::Succeeded).await?;
    assert_eq!(job.status.and_then(|s| s.output).map(|o| o.s3_uri), Some(format!("s3://{}/{mine}", world.bucket)));

    // On the wire: no write into the victim's render (output, cancel signal, anything), the
    // other team's outputs or the bucket's root, and no launch of a refused job.
    for prefix in [victim, "outputs/some-other-team/", "final.mp4"] {
        assert_none_sent(&format!("{prefix} is not the attacker's"), &s3.writes_to(&world.bucket, prefix));
    }
    for (name, _) in &refused {
        let id = render_id(&world, name).await?;
        assert_none_sent(&format!("{name} was refused"), &invocations_of(&lambda, &id));
        assert_none_sent(&format!("{name} was refused"), &s3.writes_to(&world.bucket, &keys::render_prefix(&id)));
    }
    // Positive control: the one allowed job's launch and progress reads went through the proxies.
    let id = render_id(&world, "mine").await?;
    assert!(!invocations_of(&lambda, &id).is_empty(), "mine's launch not recorded:{}", listed(&lambda.recorded()));
    assert_eq!(lambda.invocations().len(), invocations_of(&lambda, &id).len(), "{}", listed(&lambda.recorded()));
    assert!(s3.requests_to(&world.bucket).iter().any(|r| r.key.as_deref() == Some(keys::progress(&id).as_str())));
    operator.stop().await
}

#[tokio::test]
async fn a_launch_record_written_from_a_stale_read_is_refused() -> Result<()> {
    let env = TestEnv::get();
    let client: Client = env.kube_client().await?;
    let namespace = env.unique_name("stale");
    let jobs: Api<RenderJob> = Api::namespaced(client.clone(), &namespace);
    let job: RenderJob = serde_json::from_value(json!({
        "apiVersion": "remotion-operator.io/v1alpha1", "kind": "RenderJob", "metadata": {"name": "twice"},
        "spec": {"siteRef": {"name": "s"}, "functionRef": {"name": "f"}, "composition": "Intro"}}))?;
    let read = jobs.create(&PostParams::default(), &job).await?;
    // Another writer (a previous leader recording the launch) changes the job after this read.
    let other = json!({"apiVersion": "remotion-operator.io/v1alpha1", "kind": "RenderJob",
        "status": {"renderId": "first", "phase": "Rendering"}});
    jobs.patch_status("twice", &PatchParams::apply("previous-leader").force(), &Patch::Apply(&other)).await?;

    let second = json!({"renderId": "second", "phase": "Rendering"});
    let refused = apply_status_unchanged(&jobs, &read, "remotion-operator/renderjob", &second).await;
    assert!(matches!(&refused, Err(kube::Error::Api(status)) if status.code == 409), "{refused:?}");
    assert_eq!(jobs.get("twice").await?.status.and_then(|s| s.render_id).as_deref(), Some("first"));
    // From a fresh read, the write goes through.
    let fresh = jobs.get("twice").await?;
    apply_status_unchanged(&jobs, &fresh, "remotion-operator/renderjob", &second).await?;
    Ok(())
}

#[tokio::test]
async fn a_queued_status_decided_before_a_launch_never_overwrites_it() -> Result<()> {
    let env = TestEnv::get();
    let client: Client = env.kube_client().await?;
    let namespace = env.unique_name("stale-queue");
    let jobs: Api<RenderJob> = Api::namespaced(client.clone(), &namespace);
    let job: RenderJob = serde_json::from_value(json!({
        "apiVersion": "remotion-operator.io/v1alpha1", "kind": "RenderJob", "metadata": {"name": "raced"},
        "spec": {"siteRef": {"name": "s"}, "functionRef": {"name": "f"}, "composition": "Intro"}}))?;
    let manager = "remotion-operator/renderjob";
    jobs.create(&PostParams::default(), &job).await?;
    let queued = json!({"phase": "Queued"});
    apply_status(&jobs, &jobs.get("raced").await?, manager, &queued).await?;
    // The launching controller reads the job to refresh its place in the queue; meanwhile the
    // fast lane records its launch (same field manager).
    let read = jobs.get("raced").await?;
    let launch = json!({"phase": "Rendering", "renderId": "r1", "startedAt": "2026-12-03T00:00:00Z"});
    apply_status_unchanged(&jobs, &read, manager, &launch).await?;
    let position = json!({"phase": "Queued", "invocationSlots": 1});
    let refused = apply_status_when(&jobs, &read, manager, &position, Precondition::Unchanged).await;
    assert!(matches!(&refused, Err(kube::Error::Api(status)) if status.code == 409), "{refused:?}");
    let status = jobs.get("raced").await?.status.unwrap_or_default();
    assert_eq!((status.render_id.as_deref(), status.started_at.is_some()), (Some("r1"), true), "{status:?}");
    // Unguarded, the same stale write takes the launch away: the fields the manager applied
    // before and leaves out now are removed. This is what the precondition prevents.
    apply_status(&jobs, &read, manager, &position).await?;
    let status = jobs.get("raced").await?.status.unwrap_or_default();
    assert_eq!((status.render_id, status.started_at), (None, None));
    Ok(())
}
