//! The function binary as a Lambda function under the Lambda emulator, reading a site from a
//! private SeaweedFS bucket (signatures checked: no public access) and writing stills to it.

use aws_sdk_s3::primitives::ByteStream;
use remotion_protocol::payload::{CompositionsResponse, FunctionError, InfoResponse, PROTOCOL_VERSION, StillResponse};
use remotion_tests::TestEnv;
use serde_json::{Value, json};

use crate::common::{self, bucket_and_functions, bundle};

const FUNCTION: &str = "test-fn-01";

async fn invoke(client: &aws_sdk_lambda::Client, payload: Value) -> Result<Value, FunctionError> {
    remotion_tests::lambda::invoke(client, FUNCTION, &payload)
        .await
        .expect("the emulator answered")
        .map_err(|e| serde_json::from_value(e).expect("an error body"))
}

#[tokio::test]
async fn the_function_answers_info_compositions_and_stills_from_a_private_bucket() {
    let env = TestEnv::get();
    let (s3, bucket, mut processes) = bucket_and_functions("lambda-site", FUNCTION, 1).await;
    let endpoint = env.s3().endpoint.clone();
    let lambda = env.lambda().client();

    let info: InfoResponse = serde_json::from_value(invoke(&lambda, json!({"type": "info"})).await.unwrap()).unwrap();
    assert_eq!(info.protocol_version, PROTOCOL_VERSION);
    assert_eq!(info.memory_size_mb, Some(2048));

    let site = json!({
        "serveUrl": format!("{endpoint}/{bucket}/sites/fixture/index.html"),
        "s3": {"bucket": bucket, "prefix": "sites/fixture/"}
    });
    let answer = invoke(
        &lambda,
        json!({"type": "compositions", "protocolVersion": PROTOCOL_VERSION, "site": site,
               "inputProps": {"type": "inline", "serialized": "{}"}, "timeoutMs": 30000}),
    )
    .await
    .unwrap();
    let compositions: CompositionsResponse = serde_json::from_value(answer).unwrap();
    assert!(compositions.compositions.iter().any(|c| c.id == "Intro" && c.width == 1920));

    // Large props travel through the bucket.
    s3.put_object()
        .bucket(&bucket)
        .key("renders/r1/input-props.json")
        .body(ByteStream::from_static(br##"{"titleText":"From the bucket","titleColor":"#ffcc00"}"##))
        .send()
        .await
        .unwrap();
    let answer = invoke(
        &lambda,
        json!({"type": "still", "protocolVersion": PROTOCOL_VERSION, "renderId": "r1", "bucket": bucket, "site": site,
               "composition": "Intro", "inputProps": {"type": "bucket", "key": "renders/r1/input-props.json"},
               "frame": 95, "imageFormat": "png", "timeoutMs": 30000,
               "output": {"key": "renders/r1/out.png"}}),
    )
    .await
    .unwrap();
    let still: StillResponse = serde_json::from_value(answer).unwrap();
    assert_eq!(still.key, "renders/r1/out.png");
    assert_eq!(still.content_type, "image/png");
    let object = s3.get_object().bucket(&bucket).key("renders/r1/out.png").send().await.unwrap();
    assert_eq!(object.content_type(), Some("image/png"));
    let png = object.body.collect().await.unwrap().into_bytes();
    assert_eq!(png.len() as u64, still.size_bytes);
    let (w, h, _) = common::decode_png(&png);
    assert_eq!((w, h), (1920, 1080));
    // The still ran in the Chromium the compositions invocation launched, kept warm, in a
    // browser context of its own (see `capture::browser`).
    let log = std::fs::read_to_string(&processes[0].log).unwrap_or_default();
    let launches = log.matches("launching Chromium").count();
    assert_eq!(launches, 1, "one Chromium for both invocations that load the site:\n{log}");
    assert!(log.contains("reusing the warm browser, in a new browser context"), "{log}");

    // Errors arrive typed.
    let mismatch = invoke(
        &lambda,
        json!({"type": "compositions", "protocolVersion": 99, "site": site,
        "inputProps": {"type": "inline", "serialized": "{}"}, "timeoutMs": 30000}),
    )
    .await
    .unwrap_err();
    assert_eq!(mismatch.error_type, "ProtocolMismatch", "{mismatch:?}");
    let missing = invoke(
        &lambda,
        json!({"type": "compositions", "protocolVersion": PROTOCOL_VERSION,
        "site": {"serveUrl": "x", "s3": {"bucket": bucket, "prefix": "sites/nothing-here/"}},
        "inputProps": {"type": "inline", "serialized": "{}"}, "timeoutMs": 30000}),
    )
    .await
    .unwrap_err();
    assert_eq!(missing.error_type, "SiteUnavailable", "{missing:?}");
    let garbage = invoke(&lambda, json!({"type": "explode"})).await.unwrap_err();
    assert_eq!(garbage.error_type, "InvalidPayload", "{garbage:?}");
    processes[0].check_alive("render function").unwrap();
}

#[tokio::test]
async fn chunks_rendered_by_two_function_processes_stitch_into_the_whole_video() {
    use remotion_function::capture::browser::{Browser, BrowserOptions};
    use remotion_function::capture::compositions::resolve_composition;
    use remotion_function::capture::site::Site;
    use remotion_protocol::payload::RenderResponse;

    let env = TestEnv::get();
    let function = "test-fn-02";
    let (s3, bucket, mut processes) = bucket_and_functions("lambda-chunks", function, 2).await;
    // The orchestrator resolves the composition once; do the same locally.
    let props = r##"{"titleText":"Chunked","titleColor":"#ffcc00"}"##;
    let site = Site::open(bundle("build").to_str().unwrap()).await.unwrap();
    let browser = Browser::launch(&BrowserOptions::detect().unwrap()).await.unwrap();
    let resolved =
        resolve_composition(&browser, &site, "Intro", props, std::time::Duration::from_secs(30)).await.unwrap();

    let lambda = env.lambda().client();
    let request = |chunk: u32, start: u64, end: u64| {
        json!({
            "type": "render", "protocolVersion": PROTOCOL_VERSION, "renderId": "r2", "bucket": bucket,
            "site": {"serveUrl": "private", "s3": {"bucket": bucket, "prefix": "sites/fixture/"}},
            "composition": resolved.metadata(),
            "inputProps": {"type": "inline", "serialized": props},
            "resolvedProps": {"type": "inline", "serialized": resolved.serialized_resolved_props_with_custom_schema},
            "encoding": {"codec": "h264", "x264Preset": "veryfast"},
            "chunk": chunk, "frames": {"start": start, "end": end}, "attempt": 1, "timeoutMs": 30000,
            "chunkKey": format!("renders/r2/chunks/{chunk:06}.ts"),
            "timingsKey": format!("renders/r2/timings/{chunk:06}.json"),
        })
    };
    let (first, second) = (request(0, 0, 9), request(1, 10, 19));
    let (a, b) = tokio::join!(
        remotion_tests::lambda::invoke(&lambda, function, &first),
        remotion_tests::lambda::invoke(&lambda, function, &second)
    );
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for answer in [a, b] {
        let answer: RenderResponse = serde_json::from_value(answer.unwrap().unwrap()).unwrap();
        assert_eq!(answer.frames, 10);
        assert_eq!(answer.frame_milliseconds.len(), 10);
        let object = s3.get_object().bucket(&bucket).key(&answer.key).send().await.unwrap();
        let path = dir.path().join(format!("{:06}.ts", answer.chunk));
        std::fs::write(&path, object.body.collect().await.unwrap().into_bytes()).unwrap();
        files.push((answer.chunk, path));
        let timings =
            s3.get_object().bucket(&bucket).key(format!("renders/r2/timings/{:06}.json", answer.chunk)).send().await;
        assert!(timings.is_ok(), "timings written");
    }
    files.sort();
    let files: Vec<_> = files.into_iter().map(|(_, p)| p).collect();
    let out = dir.path().join("out.mp4");
    assert_eq!(
        remotion_function::encode::stitch::concat_video(&files, &out, remotion_protocol::media::Codec::H264).unwrap(),
        20
    );

    // The joined video is frames 0–19, in order: frame 15 of the video is composition frame 15.
    let probe = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-count_frames",
            "-show_entries",
            "stream=nb_read_frames,codec_name:format=duration",
            "-of",
            "csv=p=0",
        ])
        .arg(&out)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&probe.stdout);
    assert!(text.contains("h264,20"), "{text}");
    let duration: f64 = text.lines().last().unwrap().trim().parse().unwrap();
    assert!((duration - 20.0 / 30.0).abs() < 0.02, "{duration}");
    let still = remotion_function::capture::still::render_still(
        &browser,
        &site,
        &remotion_function::capture::still::StillRequest {
            composition: "Intro".into(),
            serialized_props: props.into(),
            frame: 15,
            format: remotion_function::capture::page::Capture::Png,
            scale: 1.0,
            timeout: std::time::Duration::from_secs(30),
        },
    )
    .await
    .unwrap();
    browser.close().await;
    let video = common::video_frame(&out, 15, dir.path());
    let (_, _, reference) = common::decode_png(&still.image);
    let psnr = common::psnr(&video, &reference);
    assert!(psnr > 35.0, "frame 15 of the stitched video matches the still: {psnr:.1} dB");
    for p in &mut processes {
        p.check_alive("render function").unwrap();
    }
}
