//! `<OffthreadVideo>` through our `/proxy` frame server, on the fixture's `OffthreadClip`
//! (public/clip.mp4, tools/make_clip.py: 60 frames at 30 fps, frame n in its own colour with n
//! in eight black/white blocks along the bottom): stills match Remotion's own, a video shows
//! the clip's frame at N/fps in frame N, and a missing source fails the frame at once with an
//! error naming the source and the frame.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use remotion_function::RenderError;
use remotion_function::capture::browser::{Browser, BrowserOptions};
use remotion_function::capture::compositions::resolve_composition;
use remotion_function::capture::page::Capture;
use remotion_function::capture::site::Site;
use remotion_function::capture::still::{StillRequest, render_still};
use remotion_function::capture::warm_page::WarmPage;
use remotion_function::encode::audio::AudioSettings;
use remotion_function::encode::{Container, ImageKind};
use remotion_function::render::{VideoRequest, render_frames_keeping, render_video};
use remotion_protocol::media::Codec;

use crate::common::{self, bundle, decode_png, differing_pixels, psnr, remotion_still};

const COMPOSITION: &str = "OffthreadClip";
const TIMEOUT: Duration = Duration::from_secs(30);
const WIDTH: usize = 320;

fn still(frame: u64, props: &str) -> StillRequest {
    StillRequest {
        composition: COMPOSITION.into(),
        serialized_props: props.into(),
        frame,
        format: Capture::Png,
        scale: 1.0,
        timeout: TIMEOUT,
    }
}

/// The clip frame an RGBA picture of the composition shows (the blocks along the bottom).
fn shown(rgba: &[u8]) -> u64 {
    let row = 150 * WIDTH * 4;
    (0..8).fold(0, |n, bit| (n << 1) | u64::from(rgba[row + (bit * 40 + 20) * 4] > 128))
}

/// Every frame of a video as RGBA8 pictures (one ffmpeg run).
fn video_frames(video: &Path) -> Vec<Vec<u8>> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(video)
        .args(["-f", "rawvideo", "-pix_fmt", "rgba", "-"])
        .output()
        .expect("running ffmpeg");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    out.stdout.chunks_exact(WIDTH * 180 * 4).map(<[u8]>::to_vec).collect()
}

#[tokio::test]
async fn stills_match_remotions_frame_by_frame() {
    let site = Site::open(bundle("build").to_str().unwrap()).await.unwrap();
    let browser = Browser::launch(&BrowserOptions::detect().unwrap()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    // Around the clip's keyframes (every 15 frames) and its ends; 1, 15 and 30 have both
    // neighbours here.
    let frames = [0u64, 1, 2, 14, 15, 16, 29, 30, 31, 59];
    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    for frame in frames {
        let image = render_still(&browser, &site, &still(frame, "{}")).await;
        let reference = dir.path().join(format!("{frame}.png"));
        remotion_still("build", COMPOSITION, frame, "{}", &reference);
        ours.push(decode_png(&image.unwrap().image).2);
        theirs.push(decode_png(&std::fs::read(&reference).unwrap()).2);
    }
    browser.close().await;

    let mut report = Vec::new();
    for (i, frame) in frames.iter().enumerate() {
        assert_eq!(shown(&ours[i]), *frame, "our still of frame {frame} shows another clip frame");
        let (score, differing) = (psnr(&ours[i], &theirs[i]), differing_pixels(&ours[i], &theirs[i]));
        report.push(format!("frame {frame}: {differing} pixels differ, {score:.1} dB"));
        assert!(differing == 0 || score >= 40.0, "frame {frame} differs from Remotion's: {report:?}");
        for neighbour in [frame.wrapping_sub(1), frame + 1] {
            if let Some(j) = frames.iter().position(|f| *f == neighbour) {
                let other = psnr(&ours[i], &theirs[j]);
                assert!(
                    other < score,
                    "our frame {frame} matches Remotion's {neighbour} ({other:.1} dB) as well as {frame}"
                );
            }
        }
    }
    eprintln!("{}", report.join("\n"));
}

fn clip_video(frames: (u64, u64), concurrency: usize) -> VideoRequest {
    VideoRequest {
        composition: COMPOSITION.into(),
        serialized_props: "{}".into(),
        frames: Some(frames),
        concurrency,
        codec: Codec::H264,
        crf: Some(18),
        preset: "veryfast".into(),
        pixel_format: None,
        jpeg_quality: 80,
        timeout: TIMEOUT,
        container: Container::Output,
        // With audio: <OffthreadVideo> also registers its source as an audio asset (the clip has
        // no audio stream, so the video gets none).
        audio: AudioSettings::for_codec(Codec::H264, None, None, None, false).unwrap(),
        every_nth_frame: 1,
        image_format: ImageKind::Jpeg,
        scale: 1.0,
        delivery: Default::default(),
    }
}

#[tokio::test]
async fn a_video_shows_the_clip_frame_of_each_frame() {
    let site = Site::open(bundle("build").to_str().unwrap()).await.unwrap();
    let browser = Browser::launch(&BrowserOptions::detect().unwrap()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let video = dir.path().join("clip.mp4");
    // Two tabs, each asking for its own frames in order: a decoder each, no seeking.
    let summary = render_video(&browser, &site, &clip_video((0, 59), 2), &video, |_| {}).await;
    browser.close().await;
    let summary = summary.unwrap();
    assert_eq!(summary.frames, 60);
    let pictures = video_frames(&video);
    assert_eq!(pictures.len(), 60);
    for (n, picture) in pictures.iter().enumerate() {
        // Composition frame n is time n/30 s: clip frame n.
        assert_eq!(shown(picture), n as u64, "video frame {n}");
    }
    let mean = summary.frame_milliseconds.iter().map(|&ms| f64::from(ms)).sum::<f64>() / 60.0;
    eprintln!("rendered 60 OffthreadVideo frames (320x180, 2 tabs): {mean:.1} ms a frame (capture + encode)");
    assert!(site.frame_server().await.unwrap().decoders().idle() <= 2);
}

#[tokio::test]
async fn a_missing_source_fails_the_frame_naming_the_source() {
    let site = Site::open(bundle("build").to_str().unwrap()).await.unwrap();
    let browser = Browser::launch(&BrowserOptions::detect().unwrap()).await.unwrap();
    let props = r#"{"src":"missing.mp4"}"#;

    let started = Instant::now();
    let still = render_still(&browser, &site, &still(7, props)).await;
    let still_took = started.elapsed();

    let dir = tempfile::tempdir().unwrap();
    let video = dir.path().join("missing.mp4");
    let mut request = clip_video((3, 9), 1);
    request.serialized_props = props.into();
    let started = Instant::now();
    let rendered = render_video(&browser, &site, &request, &video, |_| {}).await;
    let video_took = started.elapsed();
    browser.close().await;

    for (what, result, took) in [("still", still.map(|_| ()), still_took), ("video", rendered.map(|_| ()), video_took)]
    {
        let error = result.err().unwrap_or_else(|| panic!("the {what} of a missing source rendered"));
        let message = error.to_string();
        match &error {
            RenderError::VideoSource { src, frame, .. } => {
                assert!(src.ends_with("/missing.mp4"), "{what}: {src}");
                assert_eq!(*frame, Some(if what == "still" { 7 } else { 3 }), "{what}: {message}");
            }
            other => panic!("{what}: not a VideoSource error: {other:?}"),
        }
        assert!(message.contains("missing.mp4") && message.contains("404"), "{what}: {message}");
        assert!(!error.kind().is_retriable(), "{what}: a missing file is not retried");
        // Failed at once, not at the page's delayRender timeout.
        assert!(took < TIMEOUT / 3, "{what} took {took:?} to fail");
        eprintln!("{what}: {message} ({took:?})");
    }
    assert!(!video.exists(), "no partial output is left");
}

/// A chunk's page kept for the next chunk (warm_page) goes on getting its frames: the frame
/// server lives with the kept site, on the port the page's init script names.
#[tokio::test]
async fn a_kept_page_is_served_its_frames_in_the_next_chunk() {
    let _turn = common::warm_browser().await;
    let mut options = BrowserOptions::detect().unwrap();
    options.in_lambda = false;
    let dir = tempfile::tempdir().unwrap();
    let location = remotion_protocol::payload::SiteLocation {
        serve_url: bundle("build").to_string_lossy().into_owned(),
        s3: None,
    };
    let (first, second) = (clip_video((0, 9), 1), clip_video((20, 29), 1));

    let (mut browser, kept) = Browser::warm_with_page(&options, None).await.unwrap();
    assert!(kept.is_none());
    let site = Site::open(bundle("build").to_str().unwrap()).await.unwrap();
    let composition = resolve_composition(&browser, &site, COMPOSITION, "{}", TIMEOUT).await.unwrap();
    let key = first.page_key("offthread", &location, &composition);
    let port = site.frame_server().await.unwrap().port();
    let a = dir.path().join("a.mp4");
    let (_, tab) = render_frames_keeping(&browser, &site, composition.clone(), &first, &a, |_| {}, None).await.unwrap();
    browser.keep_page(WarmPage { key: key.clone(), site, server: None, tab: tab.expect("the main tab"), frame: 9 });
    browser.release().await;

    let (browser, kept) = Browser::warm_with_page(&options, Some(&key)).await.unwrap();
    let page = kept.expect("the page is handed over");
    assert_eq!(page.site.frame_server().await.unwrap().port(), port, "the same frame server");
    let b = dir.path().join("b.mp4");
    let result = render_frames_keeping(&browser, &page.site, composition, &second, &b, |_| {}, Some(page.tab)).await;
    // End the warm browser: no Chromium outlives the test.
    browser.close().await;
    result.unwrap();
    let shown_a: Vec<u64> = video_frames(&a).iter().map(|p| shown(p)).collect();
    let shown_b: Vec<u64> = video_frames(&b).iter().map(|p| shown(p)).collect();
    assert_eq!(shown_a, (0..10).collect::<Vec<_>>());
    assert_eq!(shown_b, (20..30).collect::<Vec<_>>());
}

/// The Lambda paths, from a private bucket: the page's sources come from the function's own
/// site server (with the function's credentials), and the second chunk of the render reuses
/// the first one's page in the same process, frame server included.
#[tokio::test]
async fn lambda_chunks_and_stills_show_the_clip_from_a_private_bucket() {
    use remotion_protocol::payload::{PROTOCOL_VERSION, RenderResponse, StillResponse};
    use serde_json::json;

    let function = "test-fn-39";
    let env = remotion_tests::TestEnv::get();
    let (s3, bucket, mut processes) = common::bucket_and_functions("offthread", function, 1).await;
    let lambda = env.lambda().client();
    let site = Site::open(bundle("build").to_str().unwrap()).await.unwrap();
    let browser = Browser::launch(&BrowserOptions::detect().unwrap()).await.unwrap();
    let composition = resolve_composition(&browser, &site, COMPOSITION, "{}", TIMEOUT).await;
    browser.close().await;
    let composition = composition.unwrap();
    let private = json!({"serveUrl": "private", "s3": {"bucket": bucket, "prefix": "sites/fixture/"}});
    let dir = tempfile::tempdir().unwrap();
    let invoke = |payload: serde_json::Value| {
        let lambda = lambda.clone();
        async move { remotion_tests::lambda::invoke(&lambda, function, &payload).await.unwrap().expect("it renders") }
    };

    for (chunk, (start, end)) in [(0u32, (10u64, 19u64)), (1, (20, 29))] {
        let payload = json!({
            "type": "render", "protocolVersion": PROTOCOL_VERSION, "renderId": "offthread1", "bucket": bucket,
            "site": private, "composition": composition.metadata(),
            "inputProps": {"type": "inline", "serialized": "{}"},
            "resolvedProps": {"type": "inline", "serialized": composition.serialized_resolved_props_with_custom_schema},
            "encoding": {"codec": "h264", "x264Preset": "veryfast"},
            "chunk": chunk, "frames": {"start": start, "end": end}, "attempt": 1, "timeoutMs": 30000,
            "chunkKey": format!("renders/offthread1/chunks/{chunk:06}.ts"),
            "timingsKey": format!("renders/offthread1/timings/{chunk:06}.json"),
        });
        let response: RenderResponse = serde_json::from_value(invoke(payload).await).unwrap();
        assert_eq!(response.phases.page_reused, chunk == 1, "chunk {chunk}: {:?}", response.phases);
        let object = s3.get_object().bucket(&bucket).key(&response.key).send().await.unwrap();
        let path = dir.path().join(format!("{chunk}.ts"));
        std::fs::write(&path, object.body.collect().await.unwrap().into_bytes()).unwrap();
        let shown: Vec<u64> = video_frames(&path).iter().map(|p| shown(p)).collect();
        assert_eq!(shown, (start..=end).collect::<Vec<_>>(), "chunk {chunk}");
    }

    let payload = json!({
        "type": "still", "protocolVersion": PROTOCOL_VERSION, "renderId": "offthread2", "bucket": bucket,
        "site": private, "composition": COMPOSITION, "inputProps": {"type": "inline", "serialized": "{}"},
        "frame": 42, "imageFormat": "png", "timeoutMs": 30000, "output": {"key": "renders/offthread2/out.png"},
    });
    let still: StillResponse = serde_json::from_value(invoke(payload).await).unwrap();
    let object = s3.get_object().bucket(&bucket).key(&still.key).send().await.unwrap();
    let png = object.body.collect().await.unwrap().into_bytes();
    assert_eq!(shown(&decode_png(&png).2), 42);
    processes[0].check_alive("render function").unwrap();
}
