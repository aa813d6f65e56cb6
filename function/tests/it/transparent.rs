//! Transparent video: PNG frames captured over a transparent background, encoded with an
//! alpha plane (ProRes 4444 yuva444p10le, VP8/VP9 yuva420p), from the CLI and from a launch
//! with the settings of `config/samples/renderjob-webm.yaml`. The fixture's `LowerThird` is
//! transparent except for a #ff3366 bar at x 40–600, y 220–320 (from frame 10 on).

use std::path::Path;
use std::process::Command;

use remotion_protocol::payload::PROTOCOL_VERSION;
use remotion_protocol::progress::Stage;
use remotion_tests::TestEnv;
use serde_json::json;

use crate::common::{self, bucket_and_functions, bundle, decode_png, probe_video};

/// A pixel inside the bar, left of the text.
const OPAQUE: (u32, u32) = (100, 270);
/// A pixel above the bar.
const TRANSPARENT: (u32, u32) = (320, 60);

fn ffprobe(path: &Path, entries: &str) -> String {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-show_entries", entries, "-of", "csv=p=0"])
        .arg(path)
        .output()
        .expect("ffprobe runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Frame `n` of a video decoded with its alpha (`decoder`: libvpx for VP8/VP9, whose alpha
/// FFmpeg's own decoders ignore) as RGBA8 pixels: width and pixels.
fn rgba_frame(video: &Path, n: u64, decoder: Option<&str>, dir: &Path) -> (u32, Vec<u8>) {
    let png = dir.join(format!("alpha-{n}.png"));
    let mut command = Command::new("ffmpeg");
    command.args(["-v", "error", "-y"]);
    if let Some(decoder) = decoder {
        command.args(["-c:v", decoder]);
    }
    let status = command
        .arg("-i")
        .arg(video)
        .args(["-vf", &format!("select=eq(n\\,{n})"), "-frames:v", "1", "-pix_fmt", "rgba"])
        .arg(&png)
        .status()
        .expect("running ffmpeg");
    assert!(status.success(), "extracting frame {n}");
    let (width, _, pixels) = decode_png(&std::fs::read(&png).unwrap());
    (width, pixels)
}

fn pixel(frame: &(u32, Vec<u8>), (x, y): (u32, u32)) -> [u8; 4] {
    let i = ((y * frame.0 + x) * 4) as usize;
    frame.1[i..i + 4].try_into().unwrap()
}

/// The bar is opaque #ff3366 and the rest transparent, in frame `n`. `exact_alpha`: the codec
/// stores alpha losslessly (ProRes); VP8/VP9 code it like a picture, a level or two off.
fn assert_transparency(video: &Path, n: u64, decoder: Option<&str>, exact_alpha: bool) {
    let dir = tempfile::tempdir().unwrap();
    let frame = rgba_frame(video, n, decoder, dir.path());
    let [r, g, b, a] = pixel(&frame, OPAQUE);
    let [.., clear] = pixel(&frame, TRANSPARENT);
    if exact_alpha {
        assert_eq!((a, clear), (255, 0), "frame {n}: bar and background alpha");
    } else {
        assert!(a >= 253 && clear <= 2, "frame {n}: bar alpha {a}, background alpha {clear}");
    }
    // #ff3366 through YUV and back: within a few levels (VP8 measured 7 below in red, at any
    // crf; a wrong matrix, BT.601 read as BT.709 or back, is 17–25 off).
    let close = |got: u8, want: u8| got.abs_diff(want) <= 9;
    assert!(close(r, 0xff) && close(g, 0x33) && close(b, 0x66), "frame {n}: bar colour {r},{g},{b}");
}

fn cli_render(codec: &str, pixel_format: &str, image_format: &str, out: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_remotion-function"))
        .args(["render", "--serve-url", bundle("build").to_str().unwrap(), "--composition", "LowerThird"])
        .args(["--props", r#"{"name":"Bob"}"#, "--frames", "8-19", "--codec", codec])
        .args(["--pixel-format", pixel_format, "--image-format", image_format, "--out"])
        .arg(out)
        .output()
        .unwrap()
}

#[test]
fn prores_4444_keeps_the_alpha_of_png_frames() {
    let dir = tempfile::tempdir().unwrap();
    let video = dir.path().join("overlay.mov");
    let output = cli_render("prores", "yuva444p10le", "png", &video);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    // FFmpeg's ProRes decoder reports 4444 as 12-bit; what matters is the alpha plane.
    assert_eq!(ffprobe(&video, "stream=codec_name,profile,pix_fmt"), "prores,4444,yuva444p12le");
    assert_eq!(probe_video(&video).1, 12);
    // Video frame 4 is composition frame 12: the bar has arrived.
    assert_transparency(&video, 4, None, true);
}

#[test]
fn vp8_and_vp9_keep_the_alpha_of_png_frames() {
    for (codec, decoder) in [("vp9", "libvpx-vp9"), ("vp8", "libvpx")] {
        let dir = tempfile::tempdir().unwrap();
        let video = dir.path().join("overlay.webm");
        let output = cli_render(codec, "yuva420p", "png", &video);
        assert!(output.status.success(), "{codec}: {}", String::from_utf8_lossy(&output.stderr));
        // FFmpeg's demuxer reports the alpha as the track's AlphaMode tag.
        assert_eq!(ffprobe(&video, "stream=codec_name:stream_tags=alpha_mode"), format!("{codec},1"));
        assert_eq!(probe_video(&video).1, 12, "{codec}");
        assert_transparency(&video, 4, Some(decoder), false);
    }
}

#[test]
fn an_alpha_pixel_format_with_jpeg_frames_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let output = cli_render("vp9", "yuva420p", "jpeg", &dir.path().join("x.webm"));
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("set imageFormat png"), "{stderr}");
}

#[tokio::test]
async fn the_transparent_webm_sample_renders_in_chunks_with_its_alpha() {
    let env = TestEnv::get();
    let (orchestrator, renderer) = ("test-fn-59", "test-fn-60");
    let (s3, bucket, mut processes) = bucket_and_functions("launch-alpha", orchestrator, 1).await;
    processes.extend(common::spawn_functions(renderer, 2));
    let id = "overlay";
    // config/samples/renderjob-webm.yaml's settings: vp9, PNG frames, yuva420p, crf 30, opus,
    // 40 frames per chunk (LowerThird's 60 frames: 2 chunks).
    let payload = json!({
        "type": "launch", "protocolVersion": PROTOCOL_VERSION, "renderId": id, "bucket": bucket,
        "site": {"serveUrl": "private", "s3": {"bucket": bucket, "prefix": "sites/fixture/"}},
        "siteNamespace": "tests", "siteName": "fixture", "composition": "LowerThird",
        "inputProps": {"type": "inline", "serialized": r#"{"name":"Bob"}"#},
        "encoding": {"codec": "vp9", "imageFormat": "png", "pixelFormat": "yuva420p", "crf": 30, "audioCodec": "opus"},
        "chunking": {"framesPerLambda": 40},
        "maxRetries": 1, "timeoutMs": 60000,
        "output": {"key": format!("renders/{id}/out.webm")},
        "renderer": {"functionName": renderer, "region": "us-east-1", "memoryMb": 2048, "diskMb": 2048,
                     "architecture": "x86_64", "timeoutSeconds": 300, "maxConcurrency": 2},
    });
    let answer = remotion_tests::lambda::invoke(&env.lambda().client(), orchestrator, &payload).await.unwrap();
    answer.expect("the launch succeeds");
    let object = s3.get_object().bucket(&bucket).key(format!("renders/{id}/progress.json")).send().await.unwrap();
    let done: remotion_protocol::progress::ProgressDocument =
        serde_json::from_slice(&object.body.collect().await.unwrap().into_bytes()).unwrap();
    assert_eq!(done.stage, Stage::Done, "{done:?}");
    assert_eq!((done.frames_total, done.chunks_total), (60, 2));

    let dir = tempfile::tempdir().unwrap();
    let video = dir.path().join("out.webm");
    let object = s3.get_object().bucket(&bucket).key(format!("renders/{id}/out.webm")).send().await.unwrap();
    std::fs::write(&video, object.body.collect().await.unwrap().into_bytes()).unwrap();
    assert_eq!(ffprobe(&video, "stream=codec_name:stream_tags=alpha_mode"), "vp9,1");
    assert_eq!(probe_video(&video).1, 60);
    // Frames of both chunks (0–39, 40–59) keep their alpha through the join.
    for frame in [20, 39, 40, 59] {
        assert_transparency(&video, frame, Some("libvpx-vp9"), false);
    }
    for p in &mut processes {
        p.check_alive("render function").unwrap();
    }
}
