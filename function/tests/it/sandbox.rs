//! The function inside Lambda's emulated sandbox (read-only root, `/tmp` only, no `/dev/shm`,
//! uid 993, memory and CPU of its size; see `remotion_tests::sandbox`), on the machine's
//! filesystem and on the function image's own (its Debian packages, its `ENV`): a chunk renders
//! within its memory, and the figures a Lambda user sizes a function by are printed.

use std::time::Instant;

use remotion_function::capture::browser::{Browser, BrowserOptions};
use remotion_function::capture::compositions::resolve_composition;
use remotion_function::capture::site::Site;
use remotion_protocol::payload::{PROTOCOL_VERSION, RenderResponse};
use remotion_tests::TestEnv;
use remotion_tests::sandbox::{FunctionImage, FunctionSize};

use crate::common::{bundle, decode_png, differing_pixels, remotion_still, upload_dir};

const PROPS: &str = r##"{"titleText":"Sandboxed","titleColor":"#ffcc00"}"##;

/// What one cold chunk cost, and where it ran.
struct ColdChunk {
    bucket: String,
    peak_mib: u64,
    limit_mib: u64,
    to_first_frame_ms: u64,
    answer: RenderResponse,
}

/// Starts one function process (cold) with `spawn`, renders 30 frames of the fixture in it and
/// measures it.
async fn cold_chunk(
    function: &str,
    spawn: impl FnOnce(&[(&str, &str)]) -> remotion_tests::process::Spawned,
) -> ColdChunk {
    assert!(
        remotion_tests::sandbox::enabled(),
        "this test measures the function inside the sandbox; unset REMOTION_TEST_SANDBOX"
    );
    let env = TestEnv::get();
    let s3 = env.s3().client().await;
    let bucket = env.s3().create_test_bucket("sandbox").await.unwrap();
    upload_dir(&s3, &bucket, &bundle("build"), "sites/fixture/").await;
    let props = PROPS;
    let site = Site::open(bundle("build").to_str().unwrap()).await.unwrap();
    let browser = Browser::launch(&BrowserOptions::detect().unwrap()).await.unwrap();
    let resolved =
        resolve_composition(&browser, &site, "Intro", props, std::time::Duration::from_secs(30)).await.unwrap();
    browser.close().await;

    let s3_endpoint = env.s3().endpoint.clone();
    let vars = [
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testingsecret"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ENDPOINT_URL_S3", s3_endpoint.as_str()),
    ];
    // From here on the clock runs as on a cold Lambda: process start, then the first invocation.
    let started = Instant::now();
    let mut process = spawn(&vars);
    let request = serde_json::json!({
        "type": "render", "protocolVersion": PROTOCOL_VERSION, "renderId": "sbx", "bucket": bucket,
        "site": {"serveUrl": "private", "s3": {"bucket": bucket, "prefix": "sites/fixture/"}},
        "composition": resolved.metadata(),
        "inputProps": {"type": "inline", "serialized": props},
        "resolvedProps": {"type": "inline", "serialized": resolved.serialized_resolved_props_with_custom_schema},
        "encoding": {"codec": "h264"},
        "chunk": 0, "frames": {"start": 0, "end": 29}, "attempt": 1, "timeoutMs": 30000,
        "chunkKey": "renders/sbx/chunks/000000.ts",
        "timingsKey": "renders/sbx/timings/000000.json",
    });
    let lambda = env.lambda().client();
    let answer = remotion_tests::lambda::invoke(&lambda, function, &request).await.unwrap();
    let answered = started.elapsed();
    let log = std::fs::read_to_string(&process.log).unwrap_or_default();
    let answer: RenderResponse = serde_json::from_value(answer.unwrap_or_else(|e| panic!("{e}\n{log}"))).unwrap();
    assert_eq!(answer.frames, 30);
    let chunk = s3.get_object().bucket(&bucket).key(&answer.key).send().await.unwrap();
    assert_eq!(chunk.content_length(), Some(answer.size_bytes as i64));

    process.check_alive("sandboxed render function").unwrap();
    let confinement = process.confinement.as_ref().expect("the function ran in the sandbox");
    let peak = confinement.peak_memory_bytes().unwrap();
    assert!(!confinement.oom_killed().unwrap(), "nothing was killed for memory");
    assert!(peak < confinement.limit_bytes(), "peak {peak} within the limit");
    // The first frame was done when everything after it had not started yet.
    let first_frame_ms = u64::from(answer.frame_milliseconds[0]);
    let after_first =
        answer.phases.frames_ms.saturating_sub(first_frame_ms) + answer.phases.release_ms + answer.phases.upload_ms;
    let to_first_frame_ms = (answered.as_millis() as u64).saturating_sub(after_first);
    ColdChunk { bucket, peak_mib: peak >> 20, limit_mib: confinement.limit_bytes() >> 20, to_first_frame_ms, answer }
}

fn report(what: &str, chunk: &ColdChunk) {
    let mean_frame_ms = chunk.answer.frame_milliseconds.iter().map(|&m| u64::from(m)).sum::<u64>() / 30;
    eprintln!(
        "{what}: peak memory {} MiB of {} MiB; process start to first frame {} ms (browser {} ms, \
         page {} ms); mean frame {mean_frame_ms} ms",
        chunk.peak_mib,
        chunk.limit_mib,
        chunk.to_first_frame_ms,
        chunk.answer.phases.browser_ms,
        chunk.answer.phases.page_ms,
    );
}

#[tokio::test]
async fn a_cold_chunk_renders_in_lambdas_sandbox_within_2048_mb() {
    let env = TestEnv::get();
    let binary = std::path::Path::new(env!("CARGO_BIN_EXE_remotion-function"));
    let size = FunctionSize { memory_mb: 2048, disk_mb: 512, limit_cpu: true };
    let chunk =
        cold_chunk("test-fn-44", |vars| env.spawn_sized_function(binary, "test-fn-44", &size, vars).unwrap()).await;
    report("sandbox, machine's filesystem, 2048 MB", &chunk);
}

#[tokio::test]
async fn a_cold_chunk_renders_from_the_function_images_filesystem() {
    let env = TestEnv::get();
    let image = FunctionImage::prepare().unwrap();
    let binary = std::path::Path::new(env!("CARGO_BIN_EXE_remotion-function"));
    let size = FunctionSize { memory_mb: 2048, disk_mb: 512, limit_cpu: true };
    let chunk =
        cold_chunk("test-fn-45", |vars| env.spawn_image_function(&image, binary, "test-fn-45", &size, vars).unwrap())
            .await;
    report("sandbox, the image's filesystem, 2048 MB", &chunk);

    // The image's browser, as Lambda runs it, draws Remotion's pixels.
    let request = serde_json::json!({
        "type": "still", "protocolVersion": PROTOCOL_VERSION, "renderId": "sbx-still", "bucket": chunk.bucket,
        "site": {"serveUrl": "private", "s3": {"bucket": chunk.bucket, "prefix": "sites/fixture/"}},
        "composition": "Intro", "inputProps": {"type": "inline", "serialized": PROPS},
        "frame": 60, "imageFormat": "png", "timeoutMs": 30000, "output": {"key": "renders/sbx-still/out.png"},
    });
    let answer = remotion_tests::lambda::invoke(&env.lambda().client(), "test-fn-45", &request).await.unwrap();
    answer.unwrap_or_else(|e| panic!("the still failed: {e}"));
    let s3 = env.s3().client().await;
    let object = s3.get_object().bucket(&chunk.bucket).key("renders/sbx-still/out.png").send().await.unwrap();
    let png = object.body.collect().await.unwrap().into_bytes();
    let dir = tempfile::tempdir().unwrap();
    let reference = dir.path().join("remotion.png");
    remotion_still("build", "Intro", 60, PROPS, &reference);
    let (_, _, ours) = decode_png(&png);
    let (_, _, theirs) = decode_png(&std::fs::read(&reference).unwrap());
    assert_eq!(differing_pixels(&ours, &theirs), 0, "frame 60 from the image differs from Remotion's still");
    eprintln!(
        "function image filesystem: {} MiB (without the {} MiB binary)",
        image.size_bytes().unwrap() >> 20,
        std::fs::metadata(binary).unwrap().len() >> 20
    );
}
