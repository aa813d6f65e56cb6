//! An image sequence RenderJob through the real API server, operator and render function: the
//! status names the frames' folder, their count and names, and an archive whose presigned URL
//! serves a ZIP of exactly the frames in the folder; with `output.deleteWithJob`, deleting the
//! job deletes the folder's frames and the archive.

use std::io::Read;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context as _, Result, ensure};
use kube::api::DeleteParams;
use remotion_crds::render_job::RenderPhase;
use remotion_tests::TestEnv;
use serde_json::json;

use crate::common::eventually;
use crate::end_to_end::{Endpoints, World};

#[tokio::test]
async fn an_image_sequence_job_reports_its_frames_and_a_downloadable_archive() -> Result<()> {
    let env = TestEnv::get();
    let endpoints = Endpoints { s3: env.s3().endpoint.clone(), lambda: env.lambda().endpoint.clone() };
    let world = World::with_endpoints("e2e-sequence", "test-fn-19", 1, endpoints).await?;
    world
        .create_job(
            "frames",
            json!({"composition": "Tiny", "imageFormat": "png", "frameRange": {"start": 0, "end": 11},
                   "concurrency": 2, "imageSequence": {"archive": true}, "output": {"deleteWithJob": true}}),
        )
        .await?;
    let job = world.wait_phase("frames", RenderPhase::Succeeded, Duration::from_secs(180)).await?;
    let status = job.status.clone().context("status")?;
    let id = status.render_id.clone().context("render id")?;
    let folder = format!("renders/{id}/frames/");
    let resolved = status.resolved.clone().context("resolved")?;
    assert_eq!((resolved.codec, resolved.output_key.as_str()), (None, folder.as_str()));
    let output = status.output.clone().context("output")?;
    assert_eq!(output.s3_uri, format!("s3://{}/{folder}", world.bucket));
    assert_eq!((output.url.as_deref(), output.frames), (None, Some(12)), "a folder has no URL");
    assert_eq!(
        (output.sequence_pattern.as_deref(), output.content_type.as_str()),
        (Some("element-[frame].png"), "image/png")
    );

    // 0–11: two digits, as Remotion pads to the last frame's.
    let names: Vec<String> = (0..12).map(|f| format!("element-{f:02}.png")).collect();
    let mut keys = world.keys(&folder).await?;
    keys.sort();
    assert_eq!(keys, names.iter().map(|n| format!("{folder}{n}")).collect::<Vec<_>>());

    let archive = output.archive.clone().context("archive")?;
    assert_eq!(archive.s3_uri, format!("s3://{}/renders/{id}/frames.zip", world.bucket));
    let url = archive.url.clone().context("archive url")?;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("frames.zip");
    let fetched = Command::new("curl").args(["-sf", "-o"]).arg(&path).arg(&url).status()?;
    ensure!(fetched.success(), "downloading {url}");
    assert_eq!(std::fs::metadata(&path)?.len() as i64, archive.size_bytes);
    let mut zip = zip::ZipArchive::new(std::fs::File::open(&path)?)?;
    let mut listed = Vec::new();
    let mut total = 0i64;
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i)?;
        listed.push(entry.name()?.to_string());
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes)?;
        let image = image::load_from_memory(&bytes)?;
        assert_eq!((image.width(), image.height()), (64, 64), "{}", listed[i]);
        total += bytes.len() as i64;
    }
    assert_eq!(listed, names, "the archive holds exactly the frames, in order");
    assert_eq!(total, output.size_bytes, "the output's size is its frames'");

    world.jobs.delete("frames", &DeleteParams::default()).await?;
    let archive_key = format!("renders/{id}/frames.zip");
    eventually("the job, its frames and its archive are gone", Duration::from_secs(60), || async {
        let job_gone = world.jobs.get_opt("frames").await?.is_none();
        let frames_left = world.keys(&folder).await?.len();
        let archive_left = world.keys(&archive_key).await?.len();
        Ok((job_gone && frames_left == 0 && archive_left == 0).then_some(()))
    })
    .await?;
    assert_eq!(world.keys(&format!("renders/{id}/progress.json")).await?.len(), 1, "the render's record stays");
    world.stop().await
}
