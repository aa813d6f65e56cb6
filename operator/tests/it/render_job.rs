//! RenderJob controller against the real API server stand-in, SeaweedFS and cargo-lambda
//! running a scripted fake of the render function (see [`crate::job_world`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::{eventually, test_secrets};
use crate::job_world::{FIXTURES, JobOperator, WAIT, World, condition, tuning};
use anyhow::{Context as _, Result};
use futures::TryStreamExt;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Resource, ResourceExt};
use remotion_crds::common::find_condition;
use remotion_crds::render_job::RenderPhase;
use remotion_crds::{RemotionSite, RenderJob};
use remotion_operator::aws::ObjectData;
use remotion_operator::controllers::Settings;
use remotion_operator::controllers::render_job::{self, Tuning};
use remotion_operator::reconcile::kstatus::{self, Standing};
use remotion_protocol::keys::{self, RenderId};
use remotion_tests::TestEnv;
use serde_json::{Value, json};

#[tokio::test]
async fn progress_cost_and_output_reach_the_status() -> Result<()> {
    let world = World::new("rj-success", "test-fn-40", &["succeed", "fail"], 60).await?;
    let operator = JobOperator::start(&world.client, &world.namespace, tuning()).await;
    world.create_job("video", "succeed", json!({"steps": 12, "intervalMs": 400})).await?;

    // While rendering: a percentage between 0 and 100 shows in the printer column's field.
    let rendering = eventually("progress under way", WAIT, || async {
        let job = world.jobs.get("video").await?;
        let display = job.status.as_ref().and_then(|s| s.progress.as_ref()).and_then(|p| p.display.clone());
        Ok(display.filter(|d| d != "0%" && d != "100%").map(|_| job))
    })
    .await?;
    let status = rendering.status.clone().unwrap();
    assert_eq!(status.phase, Some(RenderPhase::Rendering));
    assert_eq!(status.render_id, Some(RenderId::from_uid(&rendering.uid().unwrap())?.to_string()));
    assert_eq!(status.bucket_name.as_deref(), Some(world.bucket.as_str()));
    assert_eq!(condition(&rendering, "Progressing").0, "True");
    assert_eq!(condition(&rendering, "Succeeded").0, "Unknown");

    let done = world.wait_phase("video", RenderPhase::Succeeded).await?;
    let status = done.status.clone().unwrap();
    let progress = status.progress.clone().unwrap();
    assert_eq!((progress.percent, progress.display.as_deref(), progress.stage.as_str()), (100, Some("100%"), "done"));
    assert_eq!((progress.chunks_done, progress.chunks_total, progress.frames_total), (12, 12, 120));
    let cost = status.cost.clone().unwrap();
    assert_eq!(cost.invocations, 13);
    assert_eq!(cost.billed_milliseconds, 12 * 1500);
    assert!(cost.accrued_usd.parse::<f64>()? > 0.0, "{cost:?}");
    assert_eq!(cost.accrued_usd.split('.').nth(1).map(str::len), Some(5), "{cost:?}");
    assert!(cost.estimated_total_usd.is_some());
    let output = status.output.clone().unwrap();
    let id = status.render_id.clone().unwrap();
    assert_eq!(output.s3_uri, format!("s3://{}/renders/{id}/out.mp4", world.bucket));
    assert_eq!(output.content_type, "video/mp4");
    assert!(output.size_bytes > 0);
    assert!(output.url_expires_at.is_some());
    // The presigned URL serves the output without credentials.
    let url = output.url.clone().unwrap();
    assert!(url.contains("X-Amz-Signature"), "{url}");
    let fetched = fetch(&url).await?;
    assert_eq!(fetched.len() as i64, output.size_bytes);
    assert!(status.started_at.is_some() && status.completed_at.is_some());
    for (type_, want) in [("Ready", "True"), ("Succeeded", "True"), ("Failed", "False"), ("Progressing", "False")] {
        assert_eq!(condition(&done, type_).0, want, "{type_}");
    }
    assert_eq!(status.observed_generation, done.metadata.generation);
    // As Flux and kpt read it (kstatus): done, with neither Reconciling nor Stalled left.
    assert_eq!(
        kstatus::compute(done.metadata.generation, status.observed_generation, &status.conditions),
        Standing::Current
    );
    assert!(find_condition(&status.conditions, "Reconciling").is_none(), "{:?}", status.conditions);
    assert_eq!(world.launches(&done).await?, 1);
    let events = world.events("video").await?;
    for reason in ["Launched", "Succeeded"] {
        assert!(events.iter().any(|(t, r)| t == "Normal" && r == reason), "{reason} in {events:?}");
    }
    // The operator owns the status under its field manager.
    let managers: Vec<String> = done.meta().managed_fields.iter().flatten().filter_map(|m| m.manager.clone()).collect();
    assert!(managers.contains(&render_job::FIELD_MANAGER.to_owned()), "{managers:?}");
    // Terminal: once the finalizer is released (the last write), no more writes.
    let settled = eventually("finalizer released", WAIT, || async {
        let job = world.jobs.get("video").await?;
        Ok(job.finalizers().is_empty().then_some(job))
    })
    .await?;
    let rv = settled.resource_version();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(world.jobs.get("video").await?.resource_version(), rv);
    let metrics = operator.metrics.encode();
    assert!(metrics.contains("remotion_operator_render_cost_usd_total"), "{metrics}");
    operator.stop().await
}

/// A plain HTTP GET (the stand-in's presigned URLs are http).
async fn fetch(url: &str) -> Result<Vec<u8>> {
    let rest = url.strip_prefix("http://").context("http URL")?;
    let (host, path) = rest.split_once('/').context("URL with a path")?;
    let mut stream = tokio::net::TcpStream::connect(host).await?;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream.write_all(format!("GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes()).await?;
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut raw)).await??;
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").context("HTTP response")?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    anyhow::ensure!(head.starts_with("HTTP/1.1 200"), "GET {url}: {head}");
    Ok(raw[split + 4..].to_vec())
}

#[tokio::test]
async fn status_writes_are_throttled_to_one_every_two_seconds() -> Result<()> {
    let world = World::new("rj-throttle", "test-fn-41", &["succeed"], 60).await?;
    let operator = JobOperator::start(&world.client, &world.namespace, tuning()).await;
    // A progress document every 150 ms for about 6 s.
    world.create_job("busy", "succeed", json!({"steps": 40, "intervalMs": 150})).await?;

    // Status writes only: the finalizer's metadata patches (before the launch, after the end)
    // move the resourceVersion too but write no status.
    let writes = Arc::new(std::sync::Mutex::new(Vec::<(Instant, String)>::new()));
    let recorder = writes.clone();
    let watch = watcher(world.jobs.clone(), watcher::Config::default().fields("metadata.name=busy"))
        .applied_objects()
        .try_for_each(move |job| {
            let mut seen = recorder.lock().unwrap();
            let status = serde_json::to_string(&job.status).unwrap_or_default();
            if seen.last().map(|(_, s)| s.as_str()) != Some(status.as_str()) {
                seen.push((Instant::now(), status));
            }
            futures::future::ready(Ok(()))
        });
    let watch = tokio::spawn(watch);
    let done = world.wait_phase("busy", RenderPhase::Succeeded).await?;
    watch.abort();

    let writes = writes.lock().unwrap().clone();
    // The first entry is the object as created; every later one is a status write.
    let times: Vec<Instant> = writes.iter().skip(1).map(|(t, _)| *t).collect();
    assert!(times.len() >= 3, "the render showed progress at all: {writes:?}");
    let gaps: Vec<Duration> = times.windows(2).map(|w| w[1] - w[0]).collect();
    // 2 s apart, less the jitter of watch delivery; the last write, the end, does not wait (it
    // frees the render's slots for the next job).
    let (_end, progress) = gaps.split_last().expect("several writes");
    assert!(progress.iter().all(|g| *g >= Duration::from_millis(1700)), "gaps {gaps:?}");
    assert_eq!(done.status.unwrap().progress.unwrap().chunks_done, 40);
    operator.stop().await
}

#[tokio::test]
async fn live_renders_share_the_progress_write_budget() -> Result<()> {
    // Detached: the one fake process plays all four renders at once.
    let world =
        World::with_function_env("rj-budget", "test-fn-56", &["succeed"], 60, &[("FAKE_LAUNCH_DETACH", "1")]).await?;
    // Four renders sharing one progress write per second: each job's progress is written at
    // most every 4 s (the base interval alone would allow one every 2 s).
    let settings = Settings { progress_writes_per_second: 1, ..Settings::new(Some(world.namespace.clone()), 4) };
    let operator = JobOperator::start_with(&world.client, settings, tuning(), test_secrets(&world.namespace)).await;

    let writes = Arc::new(std::sync::Mutex::new(Vec::<(Instant, String, String, Option<RenderPhase>)>::new()));
    let recorder = writes.clone();
    let watch = watcher(world.jobs.clone(), watcher::Config::default()).applied_objects().try_for_each(move |job| {
        let phase = job.status.as_ref().and_then(|s| s.phase);
        recorder.lock().unwrap().push((
            Instant::now(),
            job.name_any(),
            job.resource_version().unwrap_or_default(),
            phase,
        ));
        futures::future::ready(Ok(()))
    });
    let watch = tokio::spawn(watch);
    let names = ["a", "b", "c", "d"];
    for name in names {
        // A progress document every 250 ms for about 12 s.
        world.create_job(name, "succeed", json!({"steps": 48, "intervalMs": 250})).await?;
    }
    for name in names {
        let done = world.wait_phase(name, RenderPhase::Succeeded).await?;
        assert_eq!(done.status.unwrap().progress.unwrap().chunks_done, 48, "{name}");
    }
    watch.abort();

    let writes = writes.lock().unwrap().clone();
    let mut progress_gaps = Vec::new();
    for name in names {
        let mut seen: Vec<&(Instant, String, String, Option<RenderPhase>)> =
            writes.iter().filter(|w| w.1 == name).collect();
        seen.dedup_by(|a, b| a.2 == b.2);
        let first_rendering = seen.iter().find(|w| w.3 == Some(RenderPhase::Rendering)).map(|w| w.0).unwrap();
        // Progress writes: Rendering after Rendering, once the budget had a first look at the
        // live renders (it is shared out once a second).
        for pair in seen.windows(2) {
            let (before, after) = (pair[0], pair[1]);
            if before.3 == Some(RenderPhase::Rendering)
                && after.3 == Some(RenderPhase::Rendering)
                && before.0 > first_rendering + Duration::from_millis(1500)
            {
                progress_gaps.push(after.0 - before.0);
            }
        }
    }
    assert!(progress_gaps.len() >= 4, "the renders showed progress while live: {progress_gaps:?}");
    // 4 s apart, less the jitter of watch delivery.
    assert!(progress_gaps.iter().all(|g| *g >= Duration::from_millis(3600)), "gaps {progress_gaps:?}");
    operator.stop().await
}

#[tokio::test]
async fn a_restarted_operator_follows_the_render_instead_of_launching_again() -> Result<()> {
    let world = World::new("rj-restart", "test-fn-42", &["succeed"], 60).await?;
    let operator = JobOperator::start(&world.client, &world.namespace, tuning()).await;
    let created = world.create_job("resume", "succeed", json!({"steps": 24, "intervalMs": 500})).await?;
    eventually("render under way", WAIT, || async {
        let job = world.jobs.get("resume").await?;
        Ok(job.status.as_ref().and_then(|s| s.progress.as_ref()).filter(|p| p.chunks_done >= 2).map(|_| ()))
    })
    .await?;
    operator.stop().await?;
    let frozen = world.jobs.get("resume").await?.status.unwrap().progress.unwrap().chunks_done;
    tokio::time::sleep(Duration::from_secs(2)).await;

    let operator = JobOperator::start(&world.client, &world.namespace, tuning()).await;
    let done = world.wait_phase("resume", RenderPhase::Succeeded).await?;
    let status = done.status.clone().unwrap();
    assert!(status.progress.unwrap().chunks_done > frozen);
    assert!(status.output.is_some());
    assert_eq!(world.launches(&created).await?, 1, "exactly one launch across both operators");
    operator.stop().await
}

#[tokio::test]
async fn cancel_writes_the_signal_and_ends_cancelled() -> Result<()> {
    let world = World::new("rj-cancel", "test-fn-43", &["succeed"], 60).await?;
    let operator = JobOperator::start(&world.client, &world.namespace, tuning()).await;
    let job = world.create_job("stop-me", "succeed", json!({"steps": 100, "intervalMs": 500})).await?;
    eventually("render under way", WAIT, || async {
        let job = world.jobs.get("stop-me").await?;
        Ok(job.status.as_ref().and_then(|s| s.progress.as_ref()).filter(|p| p.chunks_done >= 1).map(|_| ()))
    })
    .await?;
    world.jobs.patch("stop-me", &PatchParams::default(), &Patch::Merge(json!({"spec": {"cancel": true}}))).await?;
    let cancelled = world.wait_phase("stop-me", RenderPhase::Cancelled).await?;
    // The function confirmed it (its last document says cancelled).
    assert_eq!(cancelled.status.as_ref().unwrap().progress.as_ref().unwrap().stage, "cancelled");
    let (status, reason, _) = condition(&cancelled, "Failed");
    assert_eq!((status.as_str(), reason.as_str()), ("True", "Cancelled"));
    assert_eq!(condition(&cancelled, "Succeeded").0, "False");
    let id = RenderId::from_uid(&job.uid().unwrap())?;
    let s3 = TestEnv::get().s3().client().await;
    assert!(s3.head_object().bucket(&world.bucket).key(keys::cancel(&id)).send().await.is_ok());
    assert!(cancelled.status.unwrap().cost.is_some());
    let events = world.events("stop-me").await?;
    assert!(events.iter().any(|(_, r)| r == "CancelRequested"), "{events:?}");
    operator.stop().await
}

#[tokio::test]
async fn deleting_a_rendering_job_cancels_its_render() -> Result<()> {
    let world = World::new("rj-delete", "test-fn-57", &["succeed"], 60).await?;
    let operator = JobOperator::start(&world.client, &world.namespace, tuning()).await;
    let job = world.create_job("drop-me", "succeed", json!({"steps": 100, "intervalMs": 500})).await?;
    let id = RenderId::from_uid(&job.uid().unwrap())?;
    let rendering = eventually("render under way", WAIT, || async {
        let job = world.jobs.get("drop-me").await?;
        Ok(job.status.as_ref().and_then(|s| s.progress.as_ref()).filter(|p| p.chunks_done >= 1).map(|_| job.clone()))
    })
    .await?;
    // The finalizer was in place before the launch.
    assert_eq!(rendering.finalizers(), [remotion_operator::reconcile::FINALIZER.to_owned()]);

    world.jobs.delete("drop-me", &Default::default()).await?;
    eventually("the job is gone", WAIT, || async { Ok(world.jobs.get_opt("drop-me").await?.is_none().then_some(())) })
        .await?;
    // The render was told to stop, and stopped: its last document says cancelled.
    let s3 = TestEnv::get().s3().client().await;
    assert!(s3.head_object().bucket(&world.bucket).key(keys::cancel(&id)).send().await.is_ok());
    let stage = eventually("the function confirms", WAIT, || async {
        let object = s3.get_object().bucket(&world.bucket).key(keys::progress(&id)).send().await?;
        let doc: serde_json::Value = serde_json::from_slice(&object.body.collect().await?.into_bytes())?;
        Ok((doc["stage"] == "cancelled").then_some(doc["stage"].clone()))
    })
    .await?;
    assert_eq!(stage, "cancelled");
    let events = world.events("drop-me").await?;
    assert!(events.iter().any(|(_, r)| r == "CancelRequested"), "{events:?}");

    // A finished job keeps no finalizer: deleting it needs no operator.
    world.create_job("quick", "succeed", json!({"steps": 2, "intervalMs": 100})).await?;
    world.wait_phase("quick", RenderPhase::Succeeded).await?;
    let finished = eventually("finalizer released", WAIT, || async {
        let job = world.jobs.get("quick").await?;
        Ok(job.finalizers().is_empty().then_some(job))
    })
    .await?;
    assert_eq!(finished.status.unwrap().phase, Some(RenderPhase::Succeeded));
    operator.stop().await
}

#[tokio::test]
async fn a_silent_render_is_failed_as_stalled_with_its_cost_so_far() -> Result<()> {
    // Function timeout 2 s + margin 2 s: silence beyond 4 s is a stall.
    let world = World::new("rj-stall", "test-fn-44", &["stall"], 2).await?;
    let operator = JobOperator::start(&world.client, &world.namespace, tuning()).await;
    world.create_job("frozen", "stall", json!({})).await?;
    let failed = world.wait_phase("frozen", RenderPhase::Failed).await?;
    let (status, reason, message) = condition(&failed, "Failed");
    assert_eq!((status.as_str(), reason.as_str()), ("True", "Stalled"));
    assert!(message.contains("has not changed"), "{message}");
    assert_eq!(condition(&failed, "Ready").0, "False");
    let cost = failed.status.as_ref().unwrap().cost.clone().unwrap();
    assert_eq!(cost.invocations, 1, "{cost:?}");
    let failed_id = failed.status.as_ref().unwrap().render_id.clone().unwrap();
    assert!(failed.status.unwrap().completed_at.is_some());
    let events = world.events("frozen").await?;
    assert!(events.iter().any(|(t, r)| t == "Warning" && r == "Stalled"), "{events:?}");
    // Whatever still runs for it (a late launch, a lost orchestrator) is told to stop.
    let id = RenderId::new(failed_id)?;
    let s3 = TestEnv::get().s3().client().await;
    s3.head_object().bucket(&world.bucket).key(keys::cancel(&id)).send().await.context("the cancel signal")?;
    operator.stop().await
}

#[tokio::test]
async fn an_unknown_composition_fails_at_once_and_names_the_ones_that_exist() -> Result<()> {
    let world = World::new("rj-unknown", "test-fn-45", &["succeed", "fail"], 60).await?;
    let operator = JobOperator::start(&world.client, &world.namespace, tuning()).await;
    let job = world.create_job("typo", "Succeed", json!({})).await?;
    let failed = world.wait_phase("typo", RenderPhase::Failed).await?;
    let (status, reason, message) = condition(&failed, "Failed");
    assert_eq!((status.as_str(), reason.as_str()), ("True", "CompositionNotFound"));
    assert!(message.contains("succeed, fail"), "{message}");
    // kstatus calls it failed at once, instead of waiting for a timeout.
    let status = failed.status.clone().unwrap_or_default();
    let standing = kstatus::compute(failed.metadata.generation, status.observed_generation, &status.conditions);
    assert_eq!(standing, Standing::Stalled);
    let stalled = find_condition(&status.conditions, "Stalled").unwrap();
    assert_eq!((stalled.reason.as_str(), stalled.message.as_str()), ("CompositionNotFound", message.as_str()));
    assert_eq!(world.launches(&job).await?, 0);
    assert!(failed.status.unwrap().render_id.is_none(), "nothing was launched");
    operator.stop().await
}

/// A function certainly too small for the job (here: frames of 5120×2880 need 2.6 GB, the
/// function has 2 GB) is refused before anything is launched or paid, naming what to change.
#[tokio::test]
async fn a_function_too_small_for_the_frames_fails_the_job_before_launch() -> Result<()> {
    let world = World::new("rj-too-small", "test-fn-51", &["succeed"], 60).await?;
    let operator = JobOperator::start(&world.client, &world.namespace, tuning()).await;
    let job = world.create_job_with("huge", "succeed", json!({}), json!({"scale": 8}), json!({})).await?;
    let failed = world.wait_phase("huge", RenderPhase::Failed).await?;
    let (status, reason, message) = condition(&failed, "Failed");
    assert_eq!((status.as_str(), reason.as_str()), ("True", "FunctionTooSmall"));
    assert!(message.contains("5120×2880") && message.contains("memorySizeMb"), "{message}");
    assert_eq!(world.launches(&job).await?, 0);
    assert!(failed.status.unwrap().render_id.is_none(), "nothing was launched");
    // The same job at scale 1 fits the same function.
    world.create_job_with("fits", "succeed", json!({}), json!({"scale": 1}), json!({})).await?;
    world.wait_phase("fits", RenderPhase::Succeeded).await?;
    operator.stop().await
}

/// `ttlSecondsAfterFinished`, as on a Job: a finished job goes after its own TTL, or the
/// operator's default; one without either stays; the TTL may change after the job ended.
#[tokio::test]
async fn finished_jobs_are_deleted_after_their_ttl() -> Result<()> {
    let world = World::new("rj-ttl", "test-fn-36", &["succeed"], 60).await?;
    let settings =
        Settings { finished_job_ttl: Some(Duration::from_secs(3)), ..Settings::new(Some(world.namespace.clone()), 4) };
    let operator = JobOperator::start_with(&world.client, settings, tuning(), test_secrets(&world.namespace)).await;
    // They fail at once (no such composition): finished without a render.
    let own = json!({"ttlSecondsAfterFinished": 1});
    world.create_job_with("own-ttl", "Missing", json!({}), own, json!({})).await?;
    world.create_job("default-ttl", "Missing", json!({})).await?;
    let long = json!({"ttlSecondsAfterFinished": 3600});
    world.create_job_with("kept", "Missing", json!({}), long, json!({})).await?;
    world.wait_phase("kept", RenderPhase::Failed).await?;
    let gone = |name: &'static str| {
        let jobs = world.jobs.clone();
        async move {
            eventually(&format!("{name} deleted"), WAIT, || async {
                Ok(jobs.get_opt(name).await?.is_none().then_some(()))
            })
            .await
        }
    };
    let started = Instant::now();
    gone("own-ttl").await?;
    gone("default-ttl").await?;
    assert!(started.elapsed() < Duration::from_secs(30), "took {:?}", started.elapsed());
    assert!(world.jobs.get_opt("kept").await?.is_some(), "a job with an hour to live was deleted");

    // Lowering the TTL of a finished job applies it.
    let patch = json!({"spec": {"ttlSecondsAfterFinished": 0}});
    world.jobs.patch("kept", &PatchParams::default(), &Patch::Merge(&patch)).await?;
    gone("kept").await?;
    operator.stop().await
}

#[tokio::test]
async fn a_failed_render_reports_its_fatal_error_chunk_errors_and_cost() -> Result<()> {
    let world = World::new("rj-fail", "test-fn-46", &["succeed", "fail"], 60).await?;
    let operator = JobOperator::start(&world.client, &world.namespace, tuning()).await;
    world.create_job("broken", "fail", json!({"steps": 6, "intervalMs": 300})).await?;
    let failed = world.wait_phase("broken", RenderPhase::Failed).await?;
    let (status, reason, message) = condition(&failed, "Failed");
    assert_eq!((status.as_str(), reason.as_str()), ("True", "PageError"));
    assert!(message.contains("scripted failure at frame 42"), "{message}");
    assert_eq!(condition(&failed, "Succeeded").0, "False");
    let s = failed.status.unwrap();
    assert_eq!(s.errors.len(), 1);
    assert_eq!(s.errors[0].chunk, Some(0));
    assert_eq!(s.errors[0].frames.as_deref(), Some("0-9"));
    assert!(s.errors[0].retried);
    assert!(s.errors[0].message.starts_with("BrowserCrashed: "));
    assert_eq!(s.cost.unwrap().invocations, 4);
    assert!(s.output.is_none());
    let events = world.events("broken").await?;
    assert!(events.iter().any(|(t, r)| t == "Warning" && r == "PageError"), "{events:?}");
    operator.stop().await
}

/// Lambda answers an Event invocation as soon as it is queued, so a function that fails before
/// its first progress document is heard of only through its silence: the job ends `Stalled`
/// once the function's timeout and the margin have passed.
#[tokio::test]
async fn a_launch_that_fails_before_any_progress_stalls_the_job() -> Result<()> {
    let world = World::new("rj-crash", "test-fn-47", &["crash"], 2).await?;
    let operator = JobOperator::start(&world.client, &world.namespace, tuning()).await;
    world.create_job("refused", "crash", json!({})).await?;
    let failed = world.wait_phase("refused", RenderPhase::Failed).await?;
    let (status, reason, message) = condition(&failed, "Failed");
    assert_eq!((status.as_str(), reason.as_str()), ("True", "Stalled"));
    assert!(message.contains("wrote no progress document"), "{message}");
    operator.stop().await
}

#[tokio::test]
async fn a_job_waits_for_its_site_and_goes_on_when_it_is_ready() -> Result<()> {
    let world = World::new("rj-wait", "test-fn-48", &["succeed"], 60).await?;
    // The site loses its Ready condition (as while it is being synced).
    let sites: Api<RemotionSite> = Api::namespaced(world.client.clone(), &world.namespace);
    let not_ready = json!([{"type": "Ready", "status": "False", "reason": "Syncing", "message": "uploading",
        "lastTransitionTime": "2026-01-01T00:00:00Z", "observedGeneration": 1}]);
    let apply = |conditions: Value| Patch::Apply(world.site_status(&["succeed"], conditions));
    sites.patch_status("site", &PatchParams::apply(FIXTURES).force(), &apply(not_ready)).await?;
    let operator = JobOperator::start(&world.client, &world.namespace, tuning()).await;
    let job = world.create_job("patient", "succeed", json!({"steps": 3, "intervalMs": 200})).await?;
    let pending = eventually("job waiting", WAIT, || async {
        let job = world.jobs.get("patient").await?;
        let waiting = job
            .status
            .as_ref()
            .and_then(|s| find_condition(&s.conditions, "Ready"))
            .is_some_and(|c| c.reason == "SiteNotReady");
        Ok(waiting.then_some(job))
    })
    .await?;
    assert_eq!(pending.status.as_ref().unwrap().phase, Some(RenderPhase::Pending));
    assert!(condition(&pending, "Ready").2.contains("Syncing"));
    assert_eq!(world.launches(&job).await?, 0);

    let ready = json!([{"type": "Ready", "status": "True", "reason": "Fixture", "message": "",
        "lastTransitionTime": "2026-01-01T00:00:00Z", "observedGeneration": 1}]);
    let started = Instant::now();
    sites.patch_status("site", &PatchParams::apply(FIXTURES).force(), &apply(ready)).await?;
    world.wait_phase("patient", RenderPhase::Succeeded).await?;
    // The watch on sites requeued it, not the 60 s re-check.
    assert!(started.elapsed() < Duration::from_secs(30), "{:?}", started.elapsed());
    operator.stop().await
}

#[tokio::test]
async fn large_props_are_offloaded_and_props_from_a_config_map_are_checked() -> Result<()> {
    let world = World::new("rj-props", "test-fn-49", &["succeed"], 60).await?;
    let secrets = test_secrets(&world.namespace);
    secrets.put_config_map(
        &world.namespace,
        "props",
        ObjectData {
            resource_version: "1".into(),
            data: [
                ("good.json".to_owned(), br#"{"steps": 2, "intervalMs": 100}"#.to_vec()),
                ("bad.json".to_owned(), b"[1, 2]".to_vec()),
            ]
            .into(),
            ..Default::default()
        },
    );
    let operator = JobOperator::start_with_secrets(&world.client, &world.namespace, tuning(), secrets).await;

    // Props over the inline limit go to renders/<id>/input-props.json before the launch.
    let big = json!({"steps": 2, "intervalMs": 100, "padding": "x".repeat(250_000)});
    let job = world.create_job("big", "succeed", big.clone()).await?;
    world.wait_phase("big", RenderPhase::Succeeded).await?;
    let id = RenderId::from_uid(&job.uid().unwrap())?;
    let stored = TestEnv::get()
        .s3()
        .client()
        .await
        .get_object()
        .bucket(&world.bucket)
        .key(keys::input_props(&id))
        .send()
        .await?;
    let stored: Value = serde_json::from_slice(&stored.body.collect().await?.into_bytes())?;
    assert_eq!(stored, big);

    for (name, key) in [("from-good", "good.json"), ("from-bad", "bad.json")] {
        let job: RenderJob = serde_json::from_value(json!({
            "apiVersion": "remotion-operator.io/v1alpha1", "kind": "RenderJob", "metadata": {"name": name},
            "spec": {"siteRef": {"name": "site"}, "functionRef": {"name": "renderer"}, "composition": "succeed",
                "inputPropsFrom": {"configMapKeyRef": {"name": "props", "key": key}}}}))?;
        world.jobs.create(&PostParams::default(), &job).await?;
    }
    let good = world.wait_phase("from-good", RenderPhase::Succeeded).await?;
    assert_eq!(good.status.unwrap().progress.unwrap().chunks_total, 2, "the ConfigMap's props reached the function");
    let bad = world.wait_phase("from-bad", RenderPhase::Failed).await?;
    let (_, reason, message) = condition(&bad, "Failed");
    assert_eq!(reason, "InvalidInputProps");
    assert!(message.contains("ConfigMap props key bad.json must be a JSON object, found an array"), "{message}");
    assert_eq!(world.launches(&bad).await?, 0);
    operator.stop().await
}

#[tokio::test]
async fn cancels_end_the_job_even_when_the_function_never_confirms() -> Result<()> {
    let world = World::new("rj-cancel-quiet", "test-fn-50", &["succeed"], 60).await?;
    let operator = JobOperator::start(
        &world.client,
        &world.namespace,
        Tuning { cancel_confirm_timeout: Duration::from_secs(3), ..tuning() },
    )
    .await;
    // Cancelled before it could launch: nothing is rendered.
    let early: RenderJob = serde_json::from_value(json!({
        "apiVersion": "remotion-operator.io/v1alpha1", "kind": "RenderJob", "metadata": {"name": "early"},
        "spec": {"siteRef": {"name": "site"}, "functionRef": {"name": "renderer"}, "composition": "succeed", "cancel": true}}))?;
    let early = world.jobs.create(&PostParams::default(), &early).await?;

    world.create_job("deaf", "succeed", json!({"steps": 60, "intervalMs": 250, "ignoreCancel": true})).await?;
    eventually("render under way", WAIT, || async {
        let job = world.jobs.get("deaf").await?;
        Ok(job.status.as_ref().and_then(|s| s.progress.as_ref()).filter(|p| p.chunks_done >= 1).map(|_| ()))
    })
    .await?;
    world.jobs.patch("deaf", &PatchParams::default(), &Patch::Merge(json!({"spec": {"cancel": true}}))).await?;
    let cancelled = world.wait_phase("deaf", RenderPhase::Cancelled).await?;
    let (status, reason, message) = condition(&cancelled, "Failed");
    assert_eq!((status.as_str(), reason.as_str()), ("True", "CancelUnconfirmed"));
    assert!(message.contains("did not confirm"), "{message}");

    let early = world.wait_phase("early", RenderPhase::Cancelled).await.map(|_| early)?;
    assert_eq!(world.launches(&early).await?, 0);
    operator.stop().await
}
