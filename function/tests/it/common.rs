//! Shared helpers of the function's integration tests: the fixture bundles and Remotion's own
//! renderer as the reference.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use aws_sdk_s3::primitives::ByteStream;
use remotion_function::capture::site::content_type;
use remotion_tests::TestEnv;

/// The fixture project (`tests/fixtures/remotion-project`).
pub fn fixture_project() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/remotion-project")
}

/// A bundle of the fixture (`build` or `build-errors`), which `scripts/install-deps.sh` makes.
pub fn bundle(name: &str) -> PathBuf {
    let dir = fixture_project().join(name);
    assert!(
        dir.join("index.html").is_file(),
        "{} is missing: run `bash tests/fixtures/remotion-project/build.sh` (scripts/install-deps.sh does)",
        dir.display()
    );
    dir
}

/// Renders a still with Remotion's own CLI (`npx remotion still`) for comparison.
pub fn remotion_still(bundle: &str, composition: &str, frame: u64, props: &str, out: &Path) {
    let output = Command::new("npx")
        .current_dir(fixture_project())
        .args(["--no-install", "remotion", "still", bundle, composition])
        .arg(out)
        .arg(format!("--frame={frame}"))
        .arg(format!("--props={props}"))
        .args(["--browser-executable=/usr/bin/chromium", "--log=error"])
        .output()
        .expect("running npx remotion still");
    assert!(
        output.status.success(),
        "npx remotion still failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Decodes a PNG to RGBA8 pixels.
pub fn decode_png(bytes: &[u8]) -> (u32, u32, Vec<u8>) {
    let image = image::load_from_memory_with_format(bytes, image::ImageFormat::Png).expect("a PNG").to_rgba8();
    (image.width(), image.height(), image.into_raw())
}

/// Number of pixels that differ between two RGBA8 images of the same size.
pub fn differing_pixels(a: &[u8], b: &[u8]) -> usize {
    assert_eq!(a.len(), b.len(), "images differ in size");
    a.chunks_exact(4).zip(b.chunks_exact(4)).filter(|(x, y)| x != y).count()
}

pub async fn upload_dir(s3: &aws_sdk_s3::Client, bucket: &str, root: &Path, prefix: &str) {
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let key = format!("{prefix}{}", path.strip_prefix(root).unwrap().to_string_lossy());
            s3.put_object()
                .bucket(bucket)
                .key(&key)
                .content_type(content_type(&key))
                .body(ByteStream::from_path(&path).await.unwrap())
                .send()
                .await
                .unwrap();
        }
    }
}

/// A bucket holding the fixture bundle under `sites/fixture/`, and `processes` render-function
/// processes serving `function` with credentials for it.
pub async fn bucket_and_functions(
    prefix: &str,
    function: &str,
    processes: usize,
) -> (aws_sdk_s3::Client, String, Vec<remotion_tests::process::Spawned>) {
    let env = TestEnv::get();
    let s3 = env.s3().client().await;
    let bucket = env.s3().create_test_bucket(prefix).await.unwrap();
    upload_dir(&s3, &bucket, &bundle("build"), "sites/fixture/").await;
    (s3, bucket, spawn_functions(function, processes))
}

/// `processes` render-function processes serving `function` on the emulator, with credentials
/// for the test store; they invoke each other (a launch's renderers) through the emulator.
pub fn spawn_functions(function: &str, processes: usize) -> Vec<remotion_tests::process::Spawned> {
    let env = TestEnv::get();
    let s3_endpoint = env.s3().endpoint.clone();
    let lambda_endpoint = env.lambda().endpoint.clone();
    let binary = Path::new(env!("CARGO_BIN_EXE_remotion-function"));
    let vars = [
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testingsecret"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ENDPOINT_URL_S3", s3_endpoint.as_str()),
        ("AWS_ENDPOINT_URL_LAMBDA", lambda_endpoint.as_str()),
    ];
    (0..processes).map(|_| env.spawn_function(binary, function, 2048, &vars).unwrap()).collect()
}

/// Codec, frame count, width, height and duration of a video (ffprobe).
pub fn probe_video(path: &Path) -> (String, u64, u32, u32, f64) {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-count_frames",
            "-show_entries",
            "stream=codec_name,nb_read_frames,width,height:format=duration",
            "-of",
            "json",
        ])
        .arg(path)
        .output()
        .expect("running ffprobe");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("ffprobe's JSON");
    let s = &v["streams"][0];
    (
        s["codec_name"].as_str().unwrap_or_default().to_owned(),
        s["nb_read_frames"].as_str().and_then(|n| n.parse().ok()).unwrap_or(0),
        s["width"].as_u64().unwrap_or(0) as u32,
        s["height"].as_u64().unwrap_or(0) as u32,
        v["format"]["duration"].as_str().and_then(|d| d.parse().ok()).unwrap_or(0.0),
    )
}

/// Frame `n` (0-based, in presentation order) of a video as RGBA8 pixels.
pub fn video_frame(video: &Path, n: u64, dir: &Path) -> Vec<u8> {
    let png = dir.join(format!("frame-{n}.png"));
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i"])
        .arg(video)
        .args(["-vf", &format!("select=eq(n\\,{n})"), "-frames:v", "1"])
        .arg(&png)
        .status()
        .expect("running ffmpeg");
    assert!(status.success(), "extracting frame {n}");
    decode_png(&std::fs::read(&png).unwrap()).2
}

/// PSNR of two RGBA8 images over their colour channels, dB.
pub fn psnr(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len(), "images differ in size");
    let mse: f64 = a
        .chunks_exact(4)
        .zip(b.chunks_exact(4))
        .flat_map(|(x, y)| (0..3).map(move |c| (f64::from(x[c]) - f64::from(y[c])).powi(2)))
        .sum::<f64>()
        / (a.len() / 4 * 3) as f64;
    10.0 * (255.0f64 * 255.0 / mse.max(1e-9)).log10()
}

/// Lets the tests that use this process's warm browser take turns, each starting with none.
/// `Browser::warm` keeps one browser (with the page it kept) per process, for the next
/// invocation: two tests using it at once would take each other's browser and page.
pub async fn warm_browser() -> tokio::sync::MutexGuard<'static, ()> {
    static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let turn = TURN.lock().await;
    remotion_function::capture::browser::discard_warm();
    turn
}

/// Runs the calling test alone in a process of its own: for a test that counts what its
/// process did, which the other tests of this binary would add to. `test` is its path,
/// `concat!(module_path!(), "::name")`. In this process: runs the binary again with only that
/// test, asserts that it ran and passed and returns false (the caller returns). In that
/// process: returns true (the caller goes on with the test).
pub fn in_own_process(test: &str) -> bool {
    const ALONE: &str = "REMOTION_FUNCTION_TEST_ALONE";
    // The test's path in this binary: its module path without the crate's name.
    let test = test.split_once("::").map_or(test, |(_, test)| test);
    if std::env::var(ALONE).is_ok_and(|alone| alone == test) {
        return true;
    }
    let output = Command::new(std::env::current_exe().expect("the test binary's path"))
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(ALONE, test)
        .output()
        .expect("running the test binary again");
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(
        output.status.success() && stdout.contains("test result: ok. 1 passed"),
        "{test}, alone in a process of its own, failed:\n{stdout}{stderr}"
    );
    false
}

/// Measures on decoded audio (48 kHz samples as `f64`), shared by the audio tests.
pub mod signal {
    /// The sample rate every test decodes to.
    pub const RATE: f64 = 48_000.0;

    /// Amplitude of the `frequency` component of `x` (Goertzel).
    pub fn amplitude(x: &[f64], frequency: f64) -> f64 {
        let w = 2.0 * std::f64::consts::PI * frequency / RATE;
        let c = 2.0 * w.cos();
        let (mut s1, mut s2) = (0.0, 0.0);
        for v in x {
            let s0 = v + c * s1 - s2;
            s2 = s1;
            s1 = s0;
        }
        (s1 * s1 + s2 * s2 - c * s1 * s2).max(0.0).sqrt() * 2.0 / x.len() as f64
    }

    /// Root mean square.
    pub fn rms(x: &[f64]) -> f64 {
        (x.iter().map(|v| v * v).sum::<f64>() / x.len().max(1) as f64).sqrt()
    }

    /// Samples `from..to` seconds.
    pub fn window(x: &[f64], from: f64, to: f64) -> &[f64] {
        &x[((from * RATE) as usize).min(x.len())..((to * RATE) as usize).min(x.len())]
    }
}

/// Our still of `frame` of `composition` with `props` (already shown byte-identical to
/// Remotion's own) as RGBA8: the reference a rendered video's frames are compared with.
pub async fn still(
    browser: &remotion_function::capture::browser::Browser,
    site: &remotion_function::capture::site::Site,
    composition: &str,
    props: &str,
    frame: u64,
) -> Vec<u8> {
    use remotion_function::capture::page::Capture;
    use remotion_function::capture::still::{StillRequest, render_still};
    let request = StillRequest {
        composition: composition.into(),
        serialized_props: props.into(),
        frame,
        format: Capture::Png,
        scale: 1.0,
        timeout: std::time::Duration::from_secs(30),
    };
    decode_png(&render_still(browser, site, &request).await.unwrap().image).2
}

/// A `launch` payload of `composition` on the fixture bundle, with `extra` merged over it.
pub fn launch_payload(
    bucket: &str,
    renderer: &str,
    id: &str,
    composition: &str,
    extra: serde_json::Value,
) -> serde_json::Value {
    let mut payload = serde_json::json!({
        "type": "launch", "protocolVersion": remotion_protocol::payload::PROTOCOL_VERSION, "renderId": id, "bucket": bucket,
        "site": {"serveUrl": "private", "s3": {"bucket": bucket, "prefix": "sites/fixture/"}},
        "siteNamespace": "tests", "siteName": "fixture", "composition": composition,
        "inputProps": {"type": "inline", "serialized": "{}"},
        "encoding": {"codec": "h264"}, "chunking": {"concurrency": 2},
        "maxRetries": 1, "timeoutMs": 30000, "output": {},
        "renderer": {"functionName": renderer, "region": "us-east-1", "memoryMb": 2048, "diskMb": 2048,
                     "architecture": "x86_64", "timeoutSeconds": 300, "maxConcurrency": 2},
    });
    let (Some(base), Some(extra)) = (payload.as_object_mut(), extra.as_object()) else { unreachable!() };
    for (field, value) in extra {
        base.insert(field.clone(), value.clone());
    }
    payload
}
