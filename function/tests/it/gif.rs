//! Animated GIF output from real renders of the fixture: the CLI's `--codec gif` and a launch
//! whose chunks are joined into one GIF with one palette. Frame count, rate, loop and colours
//! are checked against ffprobe/ffmpeg and against our PNG stills of the same frames.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use remotion_function::capture::browser::{Browser, BrowserOptions};
use remotion_function::capture::page::Capture;
use remotion_function::capture::site::Site;
use remotion_function::capture::still::{StillRequest, render_still};
use remotion_protocol::payload::PROTOCOL_VERSION;
use remotion_protocol::progress::{ProgressDocument, Stage};
use remotion_tests::TestEnv;
use serde_json::json;

use crate::common::{self, bucket_and_functions, bundle, probe_video, video_frame};

const PROPS: &str = r##"{"titleText":"Animated","titleColor":"#ffcc00"}"##;

/// Mean absolute difference per colour channel of two RGBA8 images, 0–255.
fn mean_abs_error(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len(), "images differ in size");
    let sum: u64 = a
        .chunks_exact(4)
        .zip(b.chunks_exact(4))
        .map(|(x, y)| (0..3).map(|c| u64::from(x[c].abs_diff(y[c]))).sum::<u64>())
        .sum();
    sum as f64 / (a.len() / 4 * 3) as f64
}

/// Our PNG still of `frame` of Intro at `scale` (byte-identical to Remotion's own, see
/// tests/still.rs).
async fn still(browser: &Browser, site: &Site, frame: u64, scale: f64) -> Vec<u8> {
    let request = StillRequest {
        composition: "Intro".into(),
        serialized_props: PROPS.into(),
        frame,
        format: Capture::Png,
        scale,
        timeout: Duration::from_secs(30),
    };
    common::decode_png(&render_still(browser, site, &request).await.unwrap().image).2
}

/// Images in a GIF, and those that carry a local colour table (walking the GIF's blocks).
fn images_and_local_palettes(gif: &[u8]) -> (usize, Vec<usize>) {
    assert!(gif.starts_with(b"GIF89a"));
    let skip_sub_blocks = |mut at: usize| {
        while gif[at] != 0 {
            at += 1 + usize::from(gif[at]);
        }
        at + 1
    };
    let packed = gif[10];
    assert!(packed & 0x80 != 0, "a global colour table");
    let global = &gif[13..13 + (3 << ((packed & 7) + 1))];
    let mut at = 13 + global.len();
    let (mut images, mut others) = (0, Vec::new());
    loop {
        match gif[at] {
            0x21 => at = skip_sub_blocks(at + 2),
            0x2C => {
                let packed = gif[at + 9];
                at += 10;
                if packed & 0x80 != 0 {
                    others.push(images);
                    at += 3 << ((packed & 7) + 1);
                }
                images += 1;
                at = skip_sub_blocks(at + 1);
            }
            0x3B => return (images, others),
            other => panic!("unexpected GIF block 0x{other:02x} at {at}"),
        }
    }
}

/// The loop count of a GIF's NETSCAPE2.0 extension (0 = forever), if it has one.
fn loop_count(gif: &[u8]) -> Option<u16> {
    let at = gif.windows(11).position(|w| w == b"NETSCAPE2.0")?;
    let block = &gif[at + 11..at + 16];
    assert_eq!((block[0], block[1], block[4]), (3, 1, 0), "a well-formed loop sub-block");
    Some(u16::from_le_bytes([block[2], block[3]]))
}

/// Frame `index` of the GIF is composition frame `frame`: the closest of `frame` and its
/// neighbours `frame ± step`, and close in colour. Returns the mean absolute error.
async fn assert_gif_frame(
    gif: &Path,
    (index, frame, step, scale): (u64, u64, u64, f64),
    browser: &Browser,
    site: &Site,
) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let shown = video_frame(gif, index, dir.path());
    let exact = mean_abs_error(&shown, &still(browser, site, frame, scale).await);
    // Bound: JPEG q80 capture costs ~1 level per channel, 255 colours for a drifting full-screen
    // gradient ~2–3 more, and Sierra dithering adds zero-mean noise of ±1 palette step that
    // does not cancel in an absolute error. Measured 1.5–3.7 on this composition; a wrong or
    // shifted frame, a wrong colour space (BT.709 vs 601) or a per-frame palette gone wrong is
    // well above 8.
    assert!(exact < 8.0, "GIF frame {index} vs still of frame {frame}: mean abs error {exact:.2}");
    for neighbour in [frame.checked_sub(step), Some(frame + step)].into_iter().flatten() {
        let other = mean_abs_error(&shown, &still(browser, site, neighbour, scale).await);
        assert!(exact < other, "GIF frame {index} is frame {frame} ({exact:.2}), not {neighbour} ({other:.2})");
    }
    exact
}

#[tokio::test]
async fn the_cli_renders_every_nth_frame_into_a_looping_gif() {
    let dir = tempfile::tempdir().unwrap();
    let gif = dir.path().join("intro.gif");
    // Frames 1–60 every 2nd: Remotion keeps frames whose number is a multiple of 2, i.e. 2, 4,
    // …, 60 (30 frames), at 30 / 2 = 15 fps.
    let started = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_remotion-function"))
        .args(["render", "--serve-url", bundle("build").to_str().unwrap(), "--composition", "Intro"])
        .args(["--props", PROPS, "--codec", "gif", "--frames", "1-60", "--every-nth-frame", "2", "--out"])
        .arg(&gif)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let wall = started.elapsed();
    let (codec, frames, width, height, duration) = probe_video(&gif);
    assert_eq!((codec.as_str(), frames, width, height), ("gif", 30, 1920, 1080));
    assert!((duration - 2.0).abs() < 0.03, "30 frames at 15 fps last 2 s, got {duration}");
    let bytes = std::fs::read(&gif).unwrap();
    // One palette: FFmpeg's encoder gives the first image a table of just the colours it uses
    // (smaller to store); every other image uses the global one.
    assert_eq!(images_and_local_palettes(&bytes), (30, vec![0]));
    assert_eq!(loop_count(&bytes), Some(0), "loops forever, Remotion's default");
    assert!(!dir.path().join(".intro.gif.frames.mkv").exists(), "the kept screenshots are removed");

    let site = Site::open(bundle("build").to_str().unwrap()).await.unwrap();
    let browser = Browser::launch(&BrowserOptions::detect().unwrap()).await.unwrap();
    let mut errors = Vec::new();
    for (index, frame) in [(0u64, 2u64), (14, 30), (29, 60)] {
        errors.push(assert_gif_frame(&gif, (index, frame, 2, 1.0), &browser, &site).await);
    }
    browser.close().await;
    eprintln!(
        "CLI gif: 30 frames 1920x1080 in {:.1} s, {} bytes, mean abs errors {errors:.2?}",
        wall.as_secs_f64(),
        bytes.len()
    );
}

#[tokio::test]
async fn a_gif_render_before_its_frames_is_refused_clearly() {
    // Every 7th frame of 1–6 selects nothing.
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_remotion-function"))
        .args(["render", "--serve-url", bundle("build").to_str().unwrap(), "--composition", "Tiny"])
        .args(["--codec", "gif", "--frames", "1-6", "--every-nth-frame", "7", "--out"])
        .arg(dir.path().join("none.gif"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("multiple of everyNthFrame 7"), "{stderr}");
    // everyNthFrame is for GIFs only, as in Remotion.
    let output = Command::new(env!("CARGO_BIN_EXE_remotion-function"))
        .args(["render", "--serve-url", bundle("build").to_str().unwrap(), "--composition", "Tiny"])
        .args(["--codec", "h264", "--frames", "0-9", "--every-nth-frame", "2", "--out"])
        .arg(dir.path().join("x.mp4"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("only for gif"), "{stderr}");
}

async fn progress(s3: &aws_sdk_s3::Client, bucket: &str, id: &str) -> Option<ProgressDocument> {
    let object = s3.get_object().bucket(bucket).key(format!("renders/{id}/progress.json")).send().await.ok()?;
    let bytes = object.body.collect().await.ok()?.into_bytes();
    Some(serde_json::from_slice(&bytes).expect("a progress document"))
}

#[tokio::test]
async fn the_gif_sample_renders_in_chunks_into_one_gif_with_one_palette() {
    let env = TestEnv::get();
    let (orchestrator, renderer) = ("test-fn-55", "test-fn-58");
    let (s3, bucket, mut processes) = bucket_and_functions("launch-gif", orchestrator, 1).await;
    processes.extend(common::spawn_functions(renderer, 2));
    let id = "gifsample";
    // config/samples/renderjob-gif.yaml: Intro frames 0–59, every 2nd frame, 4 chunks, scale 0.5.
    let payload = json!({
        "type": "launch", "protocolVersion": PROTOCOL_VERSION, "renderId": id, "bucket": bucket,
        "site": {"serveUrl": "private", "s3": {"bucket": bucket, "prefix": "sites/fixture/"}},
        "siteNamespace": "tests", "siteName": "fixture", "composition": "Intro",
        "inputProps": {"type": "inline", "serialized": PROPS},
        "encoding": {"codec": "gif", "everyNthFrame": 2, "scale": 0.5},
        "frameRange": {"start": 0, "end": 59},
        "chunking": {"concurrency": 4},
        "maxRetries": 1, "timeoutMs": 30000,
        "output": {"key": format!("renders/{id}/out.gif")},
        "renderer": {"functionName": renderer, "region": "us-east-1", "memoryMb": 2048, "diskMb": 2048,
                     "architecture": "x86_64", "timeoutSeconds": 300, "maxConcurrency": 2},
    });
    let started = Instant::now();
    let answer = remotion_tests::lambda::invoke(&env.lambda().client(), orchestrator, &payload).await.unwrap();
    answer.expect("the launch succeeds");
    let wall = started.elapsed();
    let done = progress(&s3, &bucket, id).await.unwrap();
    assert_eq!(done.stage, Stage::Done, "{done:?}");
    assert_eq!((done.frames_total, done.frames_rendered, done.chunks_total), (30, 30, 4));
    let output = done.output.clone().expect("the output is recorded");
    assert_eq!(output.content_type, "image/gif");

    let dir = tempfile::tempdir().unwrap();
    let gif = dir.path().join("out.gif");
    let object = s3.get_object().bucket(&bucket).key(&output.key).send().await.unwrap();
    assert_eq!(object.content_type(), Some("image/gif"));
    let bytes = object.body.collect().await.unwrap().into_bytes();
    std::fs::write(&gif, &bytes).unwrap();
    assert_eq!(bytes.len() as u64, output.size_bytes);
    let (codec, frames, width, height, duration) = probe_video(&gif);
    assert_eq!((codec.as_str(), frames, width, height), ("gif", 30, 960, 540));
    assert!((duration - 2.0).abs() < 0.03, "30 frames at 15 fps last 2 s, got {duration}");
    assert_eq!(loop_count(&bytes), Some(0));
    // One palette over every chunk (the first image's local table: see the CLI test).
    assert_eq!(images_and_local_palettes(&bytes), (30, vec![0]));

    // 30 frames in 4 chunks of 8, 8, 8, 6: GIF frames 7 and 8 (composition frames 14 and 16)
    // are on both sides of the first join, 29 is the last frame (58).
    let site = Site::open(bundle("build").to_str().unwrap()).await.unwrap();
    let browser = Browser::launch(&BrowserOptions::detect().unwrap()).await.unwrap();
    let mut errors = Vec::new();
    for (index, frame) in [(7u64, 14u64), (8, 16), (29, 58)] {
        errors.push(assert_gif_frame(&gif, (index, frame, 2, 0.5), &browser, &site).await);
    }
    browser.close().await;
    assert!(keys_under(&s3, &bucket, &format!("renders/{id}/chunks/")).await.is_empty());
    for p in &mut processes {
        p.check_alive("render function").unwrap();
    }
    eprintln!(
        "gif sample: 30 frames 960x540 in 4 chunks, {:.1} s wall, stitch {} ms, {} bytes, mean abs errors {errors:.2?}",
        wall.as_secs_f64(),
        done.timings.stitching_ms,
        bytes.len()
    );
}

async fn keys_under(s3: &aws_sdk_s3::Client, bucket: &str, prefix: &str) -> Vec<String> {
    let out = s3.list_objects_v2().bucket(bucket).prefix(prefix).send().await.unwrap();
    out.contents().iter().filter_map(|o| o.key().map(str::to_owned)).collect()
}
