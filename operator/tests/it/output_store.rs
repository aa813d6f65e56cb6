//! Where the output goes, end to end (Remotion's `outName.s3OutputProvider`, `outName.bucketName`,
//! `overwrite`, `downloadBehavior`, `storageClass`, `metadata`, and `output.deleteWithJob`): a
//! RenderJob writes its video to a second S3-compatible store that only the keys of the job's
//! Secret open, with the headers asked for, checked on that store itself; a second job to the
//! same key fails `OutputExists`; deleting the first job deletes its video there. Then a job
//! writes to another LambdaBucket of its namespace, and its deletion deletes that video too.

use std::process::Command;
use std::time::Duration;

use crate::common::eventually;
use crate::end_to_end::{World, probe};
use anyhow::{Context as _, Result, ensure};
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, DeleteParams, ListParams};
use remotion_crds::render_job::RenderPhase;
use remotion_operator::aws::ObjectData;
use remotion_protocol::output::RENDER_ID_METADATA;
use remotion_tests::TestEnv;
use remotion_tests::s3::S3Store;
use serde_json::json;

/// The keys of the tenant's own store: the test identity of the shared store does not open it.
const STORE_ACCESS_KEY: &str = "tenantstorekey";
const STORE_SECRET_KEY: &str = "tenant-store-secret-8c1f";

#[tokio::test]
async fn an_output_goes_to_the_jobs_own_store_or_bucket_with_its_headers_and_goes_with_the_job() -> Result<()> {
    let world = World::new("e2e-store", "test-fn-02", 1).await?;
    let env = TestEnv::get();
    let dir = env.run_dir().join(format!("s3-store-{}", world.namespace));
    let store = tokio::task::spawn_blocking(move || {
        S3Store::start_with_identity(env.reaper(), &dir, STORE_ACCESS_KEY, STORE_SECRET_KEY)
    })
    .await??;
    let own = store.client_as(STORE_ACCESS_KEY, STORE_SECRET_KEY);
    own.create_bucket().bucket("tenant-videos").send().await?;
    world.secrets.put_secret(
        &world.namespace,
        "store-keys",
        ObjectData {
            resource_version: "1".into(),
            data: [
                ("AWS_ACCESS_KEY_ID".to_owned(), STORE_ACCESS_KEY.as_bytes().to_vec()),
                ("AWS_SECRET_ACCESS_KEY".to_owned(), STORE_SECRET_KEY.as_bytes().to_vec()),
            ]
            .into(),
            ..Default::default()
        },
    );
    let key = "videos/tiny.mp4";
    let output = json!({
        "key": key,
        "store": {"endpoint": store.endpoint, "bucket": "tenant-videos", "secretRef": {"name": "store-keys"}},
        "downloadBehavior": {"type": "download", "fileName": "Grüße \"tiny\".mp4"},
        "storageClass": "STANDARD_IA",
        "metadata": {"project": "p-1", "team": "a"},
        "deleteWithJob": true,
        "separateAudioTo": "videos/tiny.aac",
    });
    // At 44.1 kHz (sampleRate), which the separate audio file shows.
    let spec = json!({"composition": "Tiny", "codec": "h264", "frameRange": {"start": 0, "end": 9}, "sampleRate": 44100,
                      "output": output});
    world.create_job("first", spec.clone()).await?;
    let job = world.wait_phase("first", RenderPhase::Succeeded, Duration::from_secs(240)).await?;
    let status = job.status.clone().context("status")?;
    let id = status.render_id.clone().context("render id")?;
    let out = status.output.clone().context("output")?;
    assert_eq!(out.s3_uri, format!("s3://tenant-videos/{key}"));

    // On the store itself: the object, its headers, its class and metadata.
    let head = own.head_object().bucket("tenant-videos").key(key).send().await?;
    assert_eq!(head.content_type(), Some("video/mp4"));
    assert_eq!(
        head.content_disposition(),
        Some(r#"attachment; filename="Gr__e \"tiny\".mp4"; filename*=UTF-8''Gr%C3%BC%C3%9Fe%20%22tiny%22.mp4"#)
    );
    assert_eq!(head.storage_class().map(|c| c.as_str()), Some("STANDARD_IA"));
    let metadata = head.metadata().cloned().unwrap_or_default();
    assert_eq!(metadata.get("project").map(String::as_str), Some("p-1"));
    assert_eq!(metadata.get("team").map(String::as_str), Some("a"));
    assert_eq!(metadata.get(RENDER_ID_METADATA), Some(&id));
    assert_eq!(head.content_length(), Some(out.size_bytes));

    // The status URL is signed with the store's keys, at the store: it downloads the video.
    let dir = tempfile::tempdir()?;
    let video = dir.path().join("tiny.mp4");
    let url = out.url.clone().context("output url")?;
    ensure!(url.starts_with(&store.endpoint), "{url} is not the store's");
    let fetched = Command::new("curl").args(["-sf", "-o"]).arg(&video).arg(&url).status()?;
    ensure!(fetched.success(), "downloading {url}");
    let (codec, frames, width, height, _) = probe(&video)?;
    assert_eq!((codec.as_str(), frames, width, height), ("h264", 10, 64, 64));
    assert_eq!(ffprobe(&video, &["-select_streams", "a", "-show_entries", "stream=codec_name"])?, "", "no audio track");

    // separateAudioTo: Tiny is silent, so the file is 10 frames of silence, written beside the
    // video with its class and metadata but not its download name.
    let audio = out.separate_audio.clone().context("the separate audio in the status")?;
    assert_eq!(audio.s3_uri, "s3://tenant-videos/videos/tiny.aac");
    let head = own.head_object().bucket("tenant-videos").key("videos/tiny.aac").send().await?;
    assert_eq!((head.content_type(), head.content_disposition()), (Some("audio/aac"), None));
    assert_eq!(head.storage_class().map(|c| c.as_str()), Some("STANDARD_IA"));
    assert_eq!(head.metadata().and_then(|m| m.get("project")).map(String::as_str), Some("p-1"));
    assert_eq!(head.content_length(), Some(audio.size_bytes));
    let aac = dir.path().join("tiny.aac");
    let audio_url = audio.url.clone().context("separate audio url")?;
    let fetched = Command::new("curl").args(["-sf", "-o"]).arg(&aac).arg(&audio_url).status()?;
    ensure!(fetched.success(), "downloading {audio_url}");
    let shown = ffprobe(&aac, &["-select_streams", "a", "-show_entries", "stream=codec_name,sample_rate,channels"])?;
    assert_eq!(shown, "aac,44100,2");

    // Nothing at the key in the render's bucket; the store's keys are nowhere in it, nor in the
    // status or the job's Events.
    assert!(world.keys("videos/").await?.is_empty(), "the output went to the render's bucket too");
    let shared = env.s3().client().await;
    for object in world.keys(&format!("renders/{id}/")).await? {
        let body = shared.get_object().bucket(&world.bucket).key(&object).send().await?.body.collect().await?;
        let text = String::from_utf8_lossy(&body.into_bytes()).into_owned();
        ensure!(!text.contains(STORE_SECRET_KEY), "{object} holds the store's secret key");
    }
    ensure!(!serde_json::to_string(&job)?.contains(STORE_SECRET_KEY), "the job holds the store's secret key");
    let events: Api<Event> = Api::namespaced(env.kube_client().await?, &world.namespace);
    let events = serde_json::to_string(&events.list(&ListParams::default()).await?.items)?;
    ensure!(!events.contains(STORE_SECRET_KEY), "an Event holds the store's secret key");

    // overwrite: false (the default) refuses the taken key, naming it, before rendering.
    world.create_job("second", spec).await?;
    let second = world.wait_phase("second", RenderPhase::Failed, Duration::from_secs(180)).await?;
    let failed = second.status.as_ref().and_then(|s| s.conditions.iter().find(|c| c.type_ == "Failed")).cloned();
    let failed = failed.context("a Failed condition")?;
    assert_eq!(failed.reason, "OutputExists", "{failed:?}");
    assert!(failed.message.contains(&format!("s3://tenant-videos/{key}")), "{}", failed.message);
    let still_first = own.head_object().bucket("tenant-videos").key(key).send().await?;
    assert_eq!(still_first.metadata().and_then(|m| m.get(RENDER_ID_METADATA)), Some(&id), "the first video stays");

    // deleteWithJob: deleting the job deletes its video from the store before the job goes.
    world.jobs.delete("first", &DeleteParams::default()).await?;
    eventually("the first job and its video are gone", Duration::from_secs(60), || async {
        let job_gone = world.jobs.get_opt("first").await?.is_none();
        let object = own.head_object().bucket("tenant-videos").key(key).send().await;
        let object_gone = object.is_err_and(|e| e.raw_response().is_some_and(|r| r.status().as_u16() == 404));
        let audio = own.head_object().bucket("tenant-videos").key("videos/tiny.aac").send().await;
        let audio_gone = audio.is_err_and(|e| e.raw_response().is_some_and(|r| r.status().as_u16() == 404));
        Ok((job_gone && object_gone && audio_gone).then_some(()))
    })
    .await?;

    // output.bucketRef: another LambdaBucket of the namespace, written with the function's own
    // role; the render's other files stay in the site's bucket.
    let archive = env.s3().create_test_bucket("e2e-archive").await?;
    let mut spec = World::access(&env.s3().endpoint);
    spec["bucketName"] = json!(archive);
    world
        .apply(&json!({"apiVersion": "remotion-operator.io/v1alpha1", "kind": "LambdaBucket",
                       "metadata": {"name": "archive"}, "spec": spec}))
        .await?;
    // Remotion's privacy no-acl: written without an ACL, its URL presigned as a private one's.
    let output = json!({"bucketRef": {"name": "archive"}, "metadata": {"kind": "archive"}, "deleteWithJob": true,
                        "privacy": "no-acl"});
    world
        .create_job(
            "archived",
            json!({"composition": "Tiny", "codec": "h264", "frameRange": {"start": 0, "end": 9},
                                       "output": output}),
        )
        .await?;
    let job = world.wait_phase("archived", RenderPhase::Succeeded, Duration::from_secs(240)).await?;
    let status = job.status.clone().context("status")?;
    let id = status.render_id.clone().context("render id")?;
    let key = format!("renders/{id}/out.mp4");
    assert_eq!(status.output.as_ref().map(|o| o.s3_uri.clone()), Some(format!("s3://{archive}/{key}")));
    let head = shared.head_object().bucket(&archive).key(&key).send().await?;
    assert_eq!(head.metadata().and_then(|m| m.get("kind")).map(String::as_str), Some("archive"));
    assert!(!world.keys(&key).await?.contains(&key), "the output went to the site's bucket too");
    assert!(world.keys(&format!("renders/{id}/progress.json")).await?.len() == 1, "the progress stays in the site's");
    let presigned = status.output.as_ref().is_some_and(|o| o.url_expires_at.is_some());
    ensure!(presigned, "a no-acl output's URL is presigned: {:?}", status.output);
    let url = status.output.and_then(|o| o.url).context("output url")?;
    let video = dir.path().join("archived.mp4");
    let fetched = Command::new("curl").args(["-sf", "-o"]).arg(&video).arg(&url).status()?;
    ensure!(fetched.success(), "downloading {url}");
    assert_eq!(probe(&video)?.1, 10);
    world.jobs.delete("archived", &DeleteParams::default()).await?;
    eventually("the archived job and its video are gone", Duration::from_secs(60), || async {
        let job_gone = world.jobs.get_opt("archived").await?.is_none();
        let object = shared.head_object().bucket(&archive).key(&key).send().await;
        let object_gone = object.is_err_and(|e| e.raw_response().is_some_and(|r| r.status().as_u16() == 404));
        Ok((job_gone && object_gone).then_some(()))
    })
    .await?;
    world.stop().await
}

/// ffprobe's `csv=p=0` answer for `args` on `path`, trimmed.
fn ffprobe(path: &std::path::Path, args: &[&str]) -> Result<String> {
    let output =
        Command::new("ffprobe").args(["-v", "error"]).args(args).args(["-of", "csv=p=0"]).arg(path).output()?;
    ensure!(output.status.success(), "ffprobe {}: {}", path.display(), String::from_utf8_lossy(&output.stderr));
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}
