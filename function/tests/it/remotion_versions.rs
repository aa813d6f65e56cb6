//! The Remotion releases the renderer is tested with: the declared range is what CI renders,
//! the oldest release's bundle renders through Lambda exactly as that release's own CLI does
//! (the main fixture, the newest release, is rendered by every other test).

use std::path::{Path, PathBuf};
use std::process::Command;

use remotion_function::capture::browser::{Browser, BrowserOptions};
use remotion_function::capture::compositions::list_compositions;
use remotion_function::capture::site::Site;
use remotion_function::error::RenderError;
use remotion_protocol::payload::{ErrorKind, LaunchResponse, PROTOCOL_VERSION, StillResponse};
use remotion_protocol::progress::{ProgressDocument, Stage};
use remotion_protocol::remotion_version::{NEWEST_TESTED, OLDEST_TESTED, RemotionVersion};
use remotion_tests::TestEnv;
use serde_json::json;

use crate::common::{self, decode_png, differing_pixels, probe_video, psnr, upload_dir, video_frame};

const FUNCTION: &str = "test-fn-34";
const PROPS: &str = r##"{"titleText":"Oldest","titleColor":"#33ccff"}"##;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures")
}

/// The `remotion` release a fixture project's `package.json` pins.
fn pinned_release(project: &Path) -> RemotionVersion {
    let text = std::fs::read_to_string(project.join("package.json")).unwrap();
    let manifest: serde_json::Value = serde_json::from_str(&text).unwrap();
    let pinned = manifest["dependencies"]["remotion"].as_str().expect("remotion pinned");
    pinned.parse().unwrap_or_else(|e| panic!("{}: {e}", project.display()))
}

/// The project of the oldest release under test, its bundle built by
/// `tests/fixtures/remotion-versions/build.sh`.
fn oldest_project() -> PathBuf {
    let project = fixtures().join(format!("remotion-versions/{OLDEST_TESTED}"));
    assert!(
        project.join("build/index.html").is_file(),
        "{} has no bundle: run `bash tests/fixtures/remotion-versions/build.sh` (scripts/install-deps.sh does)",
        project.display()
    );
    project
}

/// A still by `npx remotion still` of `project`'s own Remotion release.
fn own_cli_still(project: &Path, composition: &str, frame: u64, out: &Path) -> Vec<u8> {
    let output = Command::new("npx")
        .current_dir(project)
        .args(["--no-install", "remotion", "still", "build", composition])
        .arg(out)
        .arg(format!("--frame={frame}"))
        .arg(format!("--props={PROPS}"))
        .args(["--browser-executable=/usr/bin/chromium", "--log=error"])
        .output()
        .expect("running npx remotion still");
    assert!(output.status.success(), "npx remotion still failed: {}", String::from_utf8_lossy(&output.stderr));
    std::fs::read(out).unwrap()
}

#[test]
fn the_declared_range_is_the_releases_ci_renders() {
    let mut releases = vec![pinned_release(&fixtures().join("remotion-project"))];
    for entry in std::fs::read_dir(fixtures().join("remotion-versions")).unwrap() {
        let dir = entry.unwrap().path();
        if dir.join("package.json").is_file() {
            let release = pinned_release(&dir);
            assert_eq!(dir.file_name().unwrap().to_string_lossy(), release.to_string(), "folder named by its release");
            releases.push(release);
        }
    }
    releases.sort();
    assert!(releases.len() >= 2, "at least two releases rendered: {releases:?}");
    assert_eq!((releases[0], *releases.last().unwrap()), (OLDEST_TESTED, NEWEST_TESTED), "{releases:?}");
}

#[tokio::test]
async fn the_oldest_tested_release_renders_through_lambda_as_its_own_cli_does() {
    let env = TestEnv::get();
    let project = oldest_project();
    let s3 = env.s3().client().await;
    let bucket = env.s3().create_test_bucket("oldest-release").await.unwrap();
    upload_dir(&s3, &bucket, &project.join("build"), "sites/oldest/").await;
    let mut processes = common::spawn_functions(FUNCTION, 2);
    let lambda = env.lambda().client();
    let site = json!({"serveUrl": "private", "s3": {"bucket": bucket, "prefix": "sites/oldest/"}});
    let dir = tempfile::tempdir().unwrap();

    // Stills, one of them sized and re-propped by an async calculateMetadata: the same pixels
    // as the release's own renderer.
    for (composition, frame) in [("Intro", 60u64), ("Still", 0)] {
        let id = format!("still-{}", composition.to_lowercase());
        let key = format!("renders/{id}/out.png");
        let payload = json!({"type": "still", "protocolVersion": PROTOCOL_VERSION, "renderId": id,
                "bucket": bucket, "site": site, "composition": composition,
                "inputProps": {"type": "inline", "serialized": PROPS},
                "frame": frame, "imageFormat": "png", "timeoutMs": 30000, "output": {"key": key}});
        // A retriable failure (the browser not answering in time on a loaded machine) is tried
        // again, as the operator retries it; anything else fails the test.
        let mut answer = remotion_tests::lambda::invoke(&lambda, FUNCTION, &payload).await.unwrap();
        if let Err(error) = &answer
            && ErrorKind::parse(error["errorType"].as_str().unwrap_or_default()).is_retriable()
        {
            eprintln!("{composition}: retrying after {error}");
            answer = remotion_tests::lambda::invoke(&lambda, FUNCTION, &payload).await.unwrap();
        }
        let still: StillResponse = serde_json::from_value(answer.expect("a still")).unwrap();
        let ours = s3.get_object().bucket(&bucket).key(&still.key).send().await.unwrap();
        let ours = decode_png(&ours.body.collect().await.unwrap().into_bytes());
        let theirs = decode_png(&own_cli_still(&project, composition, frame, &dir.path().join("theirs.png")));
        assert_eq!((ours.0, ours.1), (theirs.0, theirs.1), "{composition}: size");
        let differing = differing_pixels(&ours.2, &theirs.2);
        assert_eq!(
            differing, 0,
            "{composition} frame {frame}: {differing} pixels differ from Remotion {OLDEST_TESTED}"
        );
    }

    // A video in two chunks, stitched: every frame once, in order.
    let id = "oldest";
    let launch = json!({
        "type": "launch", "protocolVersion": PROTOCOL_VERSION, "renderId": id, "bucket": bucket,
        "site": site, "siteNamespace": "tests", "siteName": "oldest", "composition": "Intro",
        "inputProps": {"type": "inline", "serialized": PROPS},
        "encoding": {"codec": "h264", "x264Preset": "veryfast"},
        "frameRange": {"start": 0, "end": 59},
        "chunking": {"framesPerLambda": 30},
        "maxRetries": 2, "timeoutMs": 30000,
        "output": {"key": format!("renders/{id}/out.mp4")},
        "renderer": {"functionName": FUNCTION, "region": "us-east-1", "memoryMb": 2048, "diskMb": 2048,
                     "architecture": "x86_64", "timeoutSeconds": 300, "maxConcurrency": 1},
    });
    let answer = remotion_tests::lambda::invoke(&lambda, FUNCTION, &launch).await.unwrap();
    let response: LaunchResponse = serde_json::from_value(answer.expect("the launch answers")).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    let done = loop {
        let object = s3.get_object().bucket(&bucket).key(format!("renders/{id}/progress.json")).send().await;
        if let Ok(object) = object {
            let doc: ProgressDocument =
                serde_json::from_slice(&object.body.collect().await.unwrap().into_bytes()).unwrap();
            if doc.stage.is_terminal() {
                break doc;
            }
        }
        assert!(std::time::Instant::now() < deadline, "the render did not end within 5 minutes");
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    };
    assert_eq!(done.stage, Stage::Done, "{:?}", done.errors);
    let video = dir.path().join("out.mp4");
    let object = s3.get_object().bucket(&bucket).key(&response.output_key).send().await.unwrap();
    std::fs::write(&video, object.body.collect().await.unwrap().into_bytes()).unwrap();
    let (codec, frames, width, height, _) = probe_video(&video);
    assert_eq!((codec.as_str(), frames, width, height), ("h264", 60, 1920, 1080));
    for frame in [0u64, 29, 30, 59] {
        let theirs = own_cli_still(&project, "Intro", frame, &dir.path().join(format!("{frame}.png")));
        let score = psnr(&video_frame(&video, frame, dir.path()), &decode_png(&theirs).2);
        assert!(score > 35.0, "video frame {frame} is Remotion {OLDEST_TESTED}'s frame {frame}: {score:.1} dB");
    }
    for p in &mut processes {
        p.check_alive("render function").unwrap();
    }
}

#[tokio::test]
async fn a_bundle_of_another_page_protocol_is_refused_naming_its_release() {
    // The oldest release's bundle, as a release before 4.0.147 would have made it (page
    // protocol 10): Remotion itself refuses such a site ("Incompatible site"), and so do we.
    let bundle = oldest_project().join("build");
    let copy = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(&bundle).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, copy.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    let script = copy.path().join("bundle.js");
    let text = std::fs::read_to_string(&script).unwrap();
    assert_eq!(text.matches("window.siteVersion = \"11\"").count(), 1);
    std::fs::write(&script, text.replace("window.siteVersion = \"11\"", "window.siteVersion = \"10\"")).unwrap();

    let site = Site::open(copy.path().to_str().unwrap()).await.unwrap();
    let browser = Browser::launch(&BrowserOptions::detect().unwrap()).await.unwrap();
    let result = list_compositions(&browser, &site, "{}", std::time::Duration::from_secs(30)).await;
    browser.close().await;
    let message = match result {
        Err(error @ RenderError::IncompatibleSite(_)) => error.to_string(),
        other => panic!("expected IncompatibleSite, got {other:?}"),
    };
    for text in ["incompatible site", "(Remotion 4.0.150)", "page protocol \"10\"", "page protocol \"11\""] {
        assert!(message.contains(text), "{message:?} should contain {text:?}");
    }
}
