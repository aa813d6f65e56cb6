//! Video renders of the fixture: the file is what ffprobe says it should be, and frame N of the
//! video is frame N of the composition (compared with our PNG still of the same frame).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use remotion_function::RenderError;
use remotion_function::capture::browser::{Browser, BrowserOptions};
use remotion_function::capture::page::Capture;
use remotion_function::capture::site::Site;
use remotion_function::capture::still::{StillRequest, render_still};
use remotion_function::encode::Container;
use remotion_function::render::{VideoRequest, render_video};

use crate::common::{bundle, decode_png, psnr, video_frame};

const PROPS: &str = r##"{"titleText":"Custom Title","titleColor":"#ffcc00"}"##;

fn request(frames: (u64, u64), concurrency: usize) -> VideoRequest {
    VideoRequest {
        composition: "Intro".into(),
        serialized_props: PROPS.into(),
        frames: Some(frames),
        concurrency,
        codec: remotion_protocol::media::Codec::H264,
        crf: Some(18),
        preset: "veryfast".into(),
        pixel_format: None,
        jpeg_quality: 80,
        timeout: Duration::from_secs(30),
        container: Container::Output,
        audio: None,
        every_nth_frame: 1,
        image_format: remotion_function::encode::ImageKind::Jpeg,
        scale: 1.0,
        delivery: Default::default(),
    }
}

fn ffprobe(path: &Path, entries: &str) -> String {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-count_frames", "-show_entries", entries, "-of", "csv=p=0"])
        .arg(path)
        .output()
        .expect("ffprobe runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[tokio::test]
async fn a_video_has_the_right_frames_in_the_right_order() {
    let site = Site::open(bundle("build").to_str().unwrap()).await.unwrap();
    let browser = Browser::launch(&BrowserOptions::detect().unwrap()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let video = dir.path().join("intro.mp4");
    // Two tabs capture out of order; the encoder must still write frames in order.
    let summary = render_video(&browser, &site, &request((90, 101), 2), &video, |_| {}).await.unwrap();
    assert_eq!(summary.frames, 12);
    assert_eq!(summary.frame_milliseconds.len(), 12);
    assert_eq!(
        ffprobe(&video, "stream=codec_name,width,height,pix_fmt,r_frame_rate,nb_read_frames"),
        "h264,1920,1080,yuv420p,30/1,12"
    );
    assert_eq!(ffprobe(&video, "stream=color_space,color_range"), "tv,bt709");
    let duration: f64 = ffprobe(&video, "format=duration").parse().unwrap();
    assert!((duration - 0.4).abs() < 0.01, "12 frames at 30 fps last 0.4 s, got {duration}");

    // Video frame 5 is composition frame 95: it matches our still of 95 best.
    let mut scores = Vec::new();
    for frame in [94u64, 95, 96] {
        let still = StillRequest {
            composition: "Intro".into(),
            serialized_props: PROPS.into(),
            frame,
            format: Capture::Png,
            scale: 1.0,
            timeout: Duration::from_secs(30),
        };
        let png = render_still(&browser, &site, &still).await.unwrap();
        scores.push(psnr(&decode_png(&png.image).2, &video_frame(&video, 5, dir.path())));
    }
    browser.close().await;
    let [before, exact, after] = scores[..] else { unreachable!() };
    assert!(exact > 35.0, "frame 95 is encoded faithfully: {exact:.1} dB");
    assert!(exact > before + 3.0 && exact > after + 3.0, "frame 95 not 94 or 96: {scores:?}");
}

#[tokio::test]
async fn frames_outside_the_composition_are_refused_and_nothing_is_written() {
    let site = Site::open(bundle("build").to_str().unwrap()).await.unwrap();
    let browser = Browser::launch(&BrowserOptions::detect().unwrap()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let video = dir.path().join("out.mp4");
    let result = render_video(&browser, &site, &request((290, 300), 1), &video, |_| {}).await;
    browser.close().await;
    assert!(matches!(result, Err(RenderError::InvalidInput(ref m)) if m.contains("0–299")), "{:?}", result.err());
    assert!(!video.exists());
}

#[tokio::test]
async fn a_failing_frame_fails_the_render_without_output() {
    let site = Site::open(bundle("build-errors").to_str().unwrap()).await.unwrap();
    let browser = Browser::launch(&BrowserOptions::detect().unwrap()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let video = dir.path().join("out.mp4");
    let mut req = request((0, 9), 1);
    req.composition = "Throws".into();
    req.serialized_props = "{}".into();
    let result = render_video(&browser, &site, &req, &video, |_| {}).await;
    browser.close().await;
    match result {
        Err(RenderError::Page { frame, message, .. }) => {
            assert_eq!(frame, Some(5));
            assert!(message.contains("thrown at frame 5"), "{message}");
        }
        other => panic!("expected a page error at frame 5, got {:?}", other.err()),
    }
    assert!(!video.exists(), "no partial output is left behind");
}

#[test]
fn a_cli_render_stopped_by_a_signal_leaves_no_browser_and_no_output() {
    use remotion_tests::process::spawn_logged;
    // The binary's reaper stops the CLI's process group when the test binary exits, should an
    // assertion fail with it still running.
    let env = remotion_tests::env::TestEnv::get();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("stopped.mp4");
    let log = env.run_dir().join("stopped-cli.log");
    let mut command = Command::new(env!("CARGO_BIN_EXE_remotion-function"));
    command
        .args(["render", "--serve-url", bundle("build").to_str().unwrap(), "--composition", "Intro"])
        .args(["--props", PROPS, "--frames", "0-299", "--x264-preset", "veryfast", "--out"])
        .arg(&out);
    let mut cli = spawn_logged(env.reaper(), command, &log).unwrap();
    let pid = cli.pid().to_string();
    remotion_tests::process::wait_until("the render's first frames", Duration::from_secs(60), || {
        cli.check_alive("the render")?;
        Ok(std::fs::read_to_string(&log)?.contains("rendered "))
    })
    .unwrap();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());

    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = cli.child.try_wait().unwrap() {
            break status;
        }
        assert!(started.elapsed() < Duration::from_secs(15), "the render did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(status.code(), Some(143), "a shell's code for SIGTERM: {text}");
    assert!(text.contains("stopped by SIGTERM"), "{text}");
    // Chromium ran in the CLI's process group: nothing of it is left.
    remotion_tests::process::wait_until("the browser to be gone", Duration::from_secs(5), || {
        Ok(!Command::new("kill").args(["-0", "--", &format!("-{pid}")]).status()?.success())
    })
    .unwrap();
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(left.is_empty(), "no partial output or working files: {left:?}");
}
