//! Compositions and stills of the fixture bundle through real Chromium, compared pixel by pixel
//! with Remotion's own renderer; and the page's failure modes as typed errors.

use std::time::Duration;

use remotion_function::RenderError;
use remotion_function::capture::browser::{Browser, BrowserOptions};
use remotion_function::capture::compositions::list_compositions;
use remotion_function::capture::page::Capture;
use remotion_function::capture::site::Site;
use remotion_function::capture::still::{StillRequest, render_still};

use crate::common::{bundle, decode_png, differing_pixels, remotion_still};

const TIMEOUT: Duration = Duration::from_secs(30);

fn still(composition: &str, frame: u64, props: &str, format: Capture) -> StillRequest {
    StillRequest {
        composition: composition.into(),
        serialized_props: props.into(),
        frame,
        format,
        scale: 1.0,
        timeout: TIMEOUT,
    }
}

#[tokio::test]
async fn lists_the_fixture_compositions_with_resolved_metadata() {
    let site = Site::open(bundle("build").to_str().unwrap()).await.unwrap();
    let browser = Browser::launch(&BrowserOptions::detect().unwrap()).await.unwrap();
    let compositions = list_compositions(&browser, &site, "{}", TIMEOUT).await;
    browser.close().await;
    let compositions = compositions.unwrap();
    let by_id = |id: &str| compositions.iter().find(|c| c.id == id).unwrap_or_else(|| panic!("{id} missing"));
    let intro = by_id("Intro");
    assert_eq!((intro.width, intro.height, intro.fps, intro.duration_in_frames), (1920, 1080, 30.0, 300));
    let tiny = by_id("Tiny");
    assert_eq!((tiny.width, tiny.height, tiny.duration_in_frames), (64, 64, 10_000));
    assert!(compositions.iter().any(|c| c.id == "Still" && c.width == 1280 && c.height == 720));
    assert!(compositions.iter().any(|c| c.id == "WithAudio"));
}

#[tokio::test]
async fn stills_are_pixel_identical_to_remotion() {
    let build = bundle("build");
    let site = Site::open(build.to_str().unwrap()).await.unwrap();
    let browser = Browser::launch(&BrowserOptions::detect().unwrap()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let props = r##"{"titleText":"Custom Title","titleColor":"#ffcc00"}"##;
    let cases = [("Intro", 0, props), ("Intro", 95, props), ("Intro", 299, "{}"), ("Still", 0, props)];
    let mut failures = Vec::new();
    for (composition, frame, props) in cases {
        let ours = render_still(&browser, &site, &still(composition, frame, props, Capture::Png)).await.unwrap();
        let reference = dir.path().join(format!("{composition}-{frame}.png"));
        remotion_still("build", composition, frame, props, &reference);
        let (w1, h1, a) = decode_png(&ours.image);
        let (w2, h2, b) = decode_png(&std::fs::read(&reference).unwrap());
        assert_eq!((w1, h1), (w2, h2), "{composition} frame {frame}: size");
        let diff = differing_pixels(&a, &b);
        if diff != 0 {
            failures.push(format!("{composition} frame {frame}: {diff} pixels differ from Remotion's"));
        }
    }
    // A different frame must differ (the comparison can fail).
    let f94 = render_still(&browser, &site, &still("Intro", 94, props, Capture::Png)).await.unwrap();
    let (_, _, a94) = decode_png(&f94.image);
    let (_, _, b95) = decode_png(&std::fs::read(dir.path().join("Intro-95.png")).unwrap());
    assert!(differing_pixels(&a94, &b95) > 0, "frame 94 must not equal frame 95");
    browser.close().await;
    assert!(failures.is_empty(), "{failures:#?}");
}

#[tokio::test]
async fn calculate_metadata_sees_the_input_props() {
    let site = Site::open(bundle("build").to_str().unwrap()).await.unwrap();
    let browser = Browser::launch(&BrowserOptions::detect().unwrap()).await.unwrap();
    let jpeg = render_still(&browser, &site, &still("Still", 0, r#"{"titleText":"hello"}"#, Capture::Jpeg(90))).await;
    browser.close().await;
    let jpeg = jpeg.unwrap();
    assert_eq!(&jpeg.image[..3], &[0xFF, 0xD8, 0xFF], "a JPEG");
    assert_eq!((jpeg.composition.width, jpeg.composition.height), (1280, 720));
    assert!(jpeg.composition.serialized_resolved_props_with_custom_schema.contains("HELLO"));
}

async fn still_error(bundle_name: &str, composition: &str, frame: u64, timeout: Duration) -> RenderError {
    let site = Site::open(bundle(bundle_name).to_str().unwrap()).await.unwrap();
    let browser = Browser::launch(&BrowserOptions::detect().unwrap()).await.unwrap();
    let mut request = still(composition, frame, "{}", Capture::Png);
    request.timeout = timeout;
    let result = render_still(&browser, &site, &request).await;
    browser.close().await;
    match result {
        Ok(_) => panic!("{composition} frame {frame} rendered, but must fail"),
        Err(e) => e,
    }
}

#[tokio::test]
async fn a_never_cleared_delay_render_times_out_with_its_label() {
    match still_error("build-errors", "NeverReady", 0, Duration::from_secs(4)).await {
        RenderError::DelayRenderTimeout { composition, message, .. } => {
            assert_eq!(composition.as_deref(), Some("NeverReady"));
            assert!(message.contains("This handle is never cleared"), "{message}");
        }
        other => panic!("expected a delayRender timeout, got {other:?}"),
    }
}

#[tokio::test]
async fn a_thrown_exception_names_the_frame_and_message() {
    match still_error("build-errors", "Throws", 5, TIMEOUT).await {
        RenderError::Page { composition, frame, message } => {
            assert_eq!(composition.as_deref(), Some("Throws"));
            assert_eq!(frame, Some(5));
            assert!(message.contains("thrown at frame 5"), "{message}");
        }
        other => panic!("expected a page error, got {other:?}"),
    }
}

#[tokio::test]
async fn cancel_render_is_a_page_error_at_its_frame() {
    match still_error("build-errors", "Cancels", 3, TIMEOUT).await {
        RenderError::Page { frame, message, .. } => {
            assert_eq!(frame, Some(3));
            assert!(message.contains("cancelled at frame 3"), "{message}");
        }
        other => panic!("expected a page error, got {other:?}"),
    }
}

#[tokio::test]
async fn unknown_compositions_list_what_exists() {
    match still_error("build", "Outro", 0, TIMEOUT).await {
        RenderError::CompositionNotFound { id, available } => {
            assert_eq!(id, "Outro");
            assert!(available.contains(&"Intro".to_owned()), "{available:?}");
        }
        other => panic!("expected CompositionNotFound, got {other:?}"),
    }
}

#[tokio::test]
async fn frames_beyond_the_end_are_refused() {
    let e = still_error("build", "Intro", 300, TIMEOUT).await;
    assert!(matches!(e, RenderError::InvalidInput(ref m) if m.contains("0–299")), "{e:?}");
}

#[tokio::test]
async fn a_folder_that_is_not_a_bundle_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("index.html"), "<html><body><h1>Hello</h1></body></html>").unwrap();
    let site = Site::open(dir.path().to_str().unwrap()).await.unwrap();
    let browser = Browser::launch(&BrowserOptions::detect().unwrap()).await.unwrap();
    let result = list_compositions(&browser, &site, "{}", TIMEOUT).await;
    browser.close().await;
    match result {
        Err(RenderError::NotRemotion { snippet, .. }) => assert!(snippet.contains("Hello"), "{snippet}"),
        other => panic!("expected NotRemotion, got {other:?}"),
    }
}

/// One DevTools command may take at most 30 s in chromiumoxide, whatever the page's own
/// delayRender timeout says. A calculateMetadata that takes 33 s under a 60 s timeout is a
/// valid page: the still must render, not fail as a browser error.
#[tokio::test]
async fn a_page_wait_longer_than_one_devtools_command_may_take_is_awaited() {
    let site = Site::open(bundle("build").to_str().unwrap()).await.unwrap();
    let browser = Browser::launch(&BrowserOptions::detect().unwrap()).await.unwrap();
    let props = r#"{"defaultCodec":null,"defaultOutName":null,"defaultPixelFormat":null,"metadataDelayMs":33000}"#;
    let request = StillRequest { timeout: Duration::from_secs(60), ..still("Defaults", 0, props, Capture::Png) };
    let started = std::time::Instant::now();
    let result = render_still(&browser, &site, &request).await;
    browser.close().await;
    let image = result.unwrap().image;
    assert!(started.elapsed() >= Duration::from_secs(33), "calculateMetadata's wait was awaited");
    let (width, height, _) = decode_png(&image);
    assert!(width > 0 && height > 0);
}
